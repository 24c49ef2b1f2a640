/* SPDX-License-Identifier: Apache-2.0 */
/* Publishing a release to a model's devices (publish.h): the bundle
 * is verified as devices will verify it before fleetsecd may serve it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/key.h"
#include "fleetsec/publish.h"
#include "fleetsec/release.h"

#define COPY_BUF (256u * 1024u)

/* Copy the image into a stage at dst, hashing what was copied. */
static enum fsec_err copy_hashed(const char *src, const char *dst, struct fsec_file_stage **st,
				 unsigned char md[32], uint64_t *size)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *buf = malloc(COPY_BUF);
	enum fsec_err rc;
	uint64_t done = 0;
	int fd = -1;

	if (ctx == NULL || buf == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fsec_file_open_regular(src, &fd, size)) != FSEC_OK ||
	    (rc = fsec_file_stage_open(dst, 0644, 0, st)) != FSEC_OK)
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf, COPY_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fsec_seterr(FSEC_ERR_IO, "%s: %s", src, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		done += (uint64_t)n;
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
			rc = fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
			goto out;
		}
		if ((rc = fsec_file_stage_write(*st, buf, (size_t)n)) != FSEC_OK)
			goto out;
	}
	*size = done;
	if (!EVP_DigestFinal_ex(ctx, md, NULL))
		rc = fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}

FSEC_API enum fsec_err fsec_publish(struct fsec_fleet *f, const struct fsec_publish_opts *o,
				    struct fsec_published_rec *out)
{
	struct fsec_release_policy pol = {
	    .roots = o->roots, .nroots = o->nroots, .model = o->model};
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct fsec_file_stage *st = NULL;
	struct fsec_release *rel = NULL;
	const struct fsec_release_entry *e;
	struct fsec_published_rec rec;
	unsigned char *bundle = NULL, md[32];
	char dir[4096], path[4200];
	size_t blen = 0;
	uint64_t size = 0;
	enum fsec_err rc;
	bool in_tx = false;

	fsec_clearerr();
	memset(&rec, 0, sizeof(rec));
	if (o->percent < -1 || o->percent > 100)
		return fsec_seterr(FSEC_ERR_INVAL, "--percent must be 0-100");
	if (o->max_failures == 0 || o->max_failures < -1 || o->max_failures_pct == 0 ||
	    o->max_failures_pct < -1 || o->max_failures_pct > 100)
		return fsec_seterr(FSEC_ERR_INVAL, "--max-failures must be N >= 1 or P%% of 1-100");
	if ((rc = fsec_file_read(o->bundle, FSEC_RELEASE_MAX, &bundle, &blen)) != FSEC_OK)
		return rc;
	if ((rc = fsec_release_verify(bundle, blen, &pol, &rel)) != FSEC_OK) {
		rc = fsec_seterr(rc, "%s: %s", o->bundle, fsec_err_detail());
		goto out;
	}
	e = fsec_release_entry(rel);
	fsec_hex(e->sha256, 32, rec.sha256);
	if ((size_t)snprintf(dir, sizeof(dir), "%s/firmware", fsec_fleet_get_home(f)) >=
		sizeof(dir) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, rec.sha256) >= sizeof(path)) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "home path too long");
		goto out;
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		rc = fsec_seterr(FSEC_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((rc = copy_hashed(o->image, path, &st, md, &size)) != FSEC_OK)
		goto out;
	if (size != e->size || CRYPTO_memcmp(md, e->sha256, 32) != 0) {
		rc =
		    fsec_seterr(FSEC_ERR_VERIFY, "%s is not the image the release describes for %s",
				o->image, o->model);
		goto out;
	}
	snprintf(rec.model, sizeof(rec.model), "%s", o->model);
	fsec_fw_version_str(&e->version, rec.version, sizeof(rec.version));
	rec.security_counter = e->security_counter;
	rec.size = e->size;
	rec.percent = o->percent < 0 ? 100 : o->percent;
	rec.max_failures = o->max_failures;
	rec.max_failures_pct = o->max_failures_pct;
	if (o->group != NULL &&
	    (size_t)snprintf(rec.group, sizeof(rec.group), "%s", o->group) >= sizeof(rec.group)) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "group name too long");
		goto out;
	}
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		goto out;
	in_tx = true;
	if ((rc = fsec_registry_publish_put(reg, &rec, (const char *)bundle)) != FSEC_OK)
		goto out;
	if ((rc = fsec_registry_event_addf(reg, o->actor, "publish", NULL,
					   "model=%s version=%s counter=%u percent=%d max_failures=%d"
					   " max_failures_pct=%d group=%s sha256=%s",
					   rec.model, rec.version, rec.security_counter, rec.percent,
					   rec.max_failures, rec.max_failures_pct, rec.group,
					   rec.sha256)) != FSEC_OK)
		goto out;
	/* The image lands before the row that points at it. */
	if ((rc = fsec_file_stage_commit(st)) != FSEC_OK)
		goto out;
	in_tx = false;
	if ((rc = fsec_registry_commit(reg)) != FSEC_OK) {
		fsec_registry_rollback(reg);
		goto out;
	}
	if (out != NULL)
		*out = rec;
out:
	if (in_tx)
		fsec_registry_rollback(reg);
	fsec_file_stage_free(st);
	fsec_release_free(rel);
	free(bundle);
	return rc;
}

FSEC_API enum fsec_err fsec_publish_timestamp(struct fsec_fleet *f,
					      const struct fsec_timestamp_opts *o,
					      struct fsec_timestamp_rec *out)
{
	struct fsec_release_policy pol = {
	    .roots = o->roots, .nroots = o->nroots, .model = o->model};
	struct fsec_release_timestamp_opts to = {.model = o->model, .expires = o->expires,
						 .delegation = o->delegation,
						 .delegation_len = o->delegation_len};
	struct fsec_registry *reg = f != NULL ? fsec_fleet_get_registry(f) : NULL;
	struct fsec_release_timestamp ts;
	struct fsec_published_rec pub;
	struct fsec_timestamp_rec rec;
	struct fsec_release *rel = NULL;
	char *bundle = NULL, *signed_ts = NULL;
	enum fsec_err rc;
	bool in_tx = false;

	fsec_clearerr();
	memset(&rec, 0, sizeof(rec));
	if (o->release != NULL) {
		rc = FSEC_OK;
		memset(&pub, 0, sizeof(pub));
		if ((bundle = strndup((const char *)o->release, o->release_len)) == NULL) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
	} else if (reg == NULL) {
		return fsec_seterr(FSEC_ERR_INVAL, "a fleet home or a release bundle is required");
	} else {
		rc = fsec_registry_publish_get(reg, o->model, &pub, &bundle);
	}
	if (rc == FSEC_OK) {
		/* The sequence is read from the bundle as devices read it. Judged
		 * at its publication: an expired manifest is still the latest. */
		pol.now = pub.published_at > 0 ? pub.published_at : 1;
		if ((rc = fsec_release_verify((const unsigned char *)bundle, strlen(bundle), &pol,
					      &rel)) != FSEC_OK) {
			rc = fsec_seterr(rc, "the release published for %s: %s", o->model,
					 fsec_err_detail());
			goto out;
		}
		to.has_latest = true;
		to.latest = fsec_release_sequence(rel);
		pol.now = 0;
	} else if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
	} else {
		goto out;
	}
	if ((rc = fsec_release_timestamp_sign(&to, o->key, &signed_ts)) != FSEC_OK)
		goto out;
	/* What devices will check, so that the server never serves a
	 * statement its devices would refuse (a key the pinned root did not
	 * delegate, a model name they do not carry). */
	if ((rc = fsec_release_timestamp_verify((const unsigned char *)signed_ts,
						strlen(signed_ts), &pol, &ts)) != FSEC_OK)
		goto out;
	snprintf(rec.model, sizeof(rec.model), "%s", o->model);
	rec.latest = ts.has_latest ? (int64_t)ts.latest : -1;
	rec.issued_at = ts.issued;
	rec.expires_at = ts.expires;
	if (o->bundle_out != NULL) {
		*o->bundle_out = signed_ts;
		signed_ts = NULL;
		if (out != NULL)
			*out = rec;
		goto out;
	}
	if (reg == NULL) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "no fleet home to store the timestamp in");
		goto out;
	}
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		goto out;
	in_tx = true;
	if ((rc = fsec_registry_timestamp_put(reg, &rec, signed_ts)) != FSEC_OK ||
	    (rc = fsec_registry_event_addf(reg, o->actor, "timestamp", NULL,
					   "model=%s latest=%lld expires=%lld signer=%.16s", rec.model,
					   (long long)rec.latest, (long long)rec.expires_at,
					   ts.signer)) != FSEC_OK)
		goto out;
	in_tx = false;
	if ((rc = fsec_registry_commit(reg)) != FSEC_OK) {
		fsec_registry_rollback(reg);
		goto out;
	}
	if (out != NULL)
		*out = rec;
out:
	if (in_tx)
		fsec_registry_rollback(reg);
	fsec_release_free(rel);
	free(bundle);
	free(signed_ts);
	return rc;
}
