/* SPDX-License-Identifier: Apache-2.0 */
/* Publishing a release to a model's devices (publish.h): the bundle
 * is verified as devices will verify it before fleetsecd may serve it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/key.h"
#include "fleetsec/product.h"
#include "fleetsec/publish.h"
#include "fleetsec/release.h"
#include "fleetsec/rollout.h"

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

/* Whether pub is offered to every device of its model now: then it is
 * the baseline a new candidate leaves in place. */
static enum fsec_err offered_to_all(struct fsec_registry *reg,
				    const struct fsec_published_rec *pub, bool *yes)
{
	struct fsec_rollout_status st;
	const char *last;
	enum fsec_err rc;
	int n = 0;

	*yes = false;
	if (strcmp(pub->state, "active") != 0 && pub->state[0] != '\0')
		return FSEC_OK;
	if (pub->phases[0] == '\0') {
		if (pub->percent < 100 || pub->group[0] != '\0')
			return FSEC_OK;
	} else {
		last = strrchr(pub->phases, ',');
		last = last != NULL ? last + 1 : pub->phases;
		if (fsec_rollout_phases_check(pub->phases, &n, NULL) != FSEC_OK ||
		    pub->phase + 1 < n || strcmp(last, "100%") != 0)
			return FSEC_OK;
	}
	if ((rc = fsec_rollout_status(reg, pub, &st)) != FSEC_OK)
		return rc;
	*yes = !st.paused;
	return FSEC_OK;
}

/* Keep the published release as the baseline if it went to every device
 * and is another image than sha (publishing the same image again only
 * changes its rollout). *kept gets its version, or "". */
static enum fsec_err keep_baseline(struct fsec_registry *reg, const char *model,
				   const char *sha, char kept[32])
{
	struct fsec_published_rec old;
	enum fsec_err rc = fsec_registry_publish_get(reg, model, &old, NULL);
	bool all = false;

	kept[0] = '\0';
	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
		return FSEC_OK;
	}
	if (rc != FSEC_OK || strcmp(old.sha256, sha) == 0 ||
	    (rc = offered_to_all(reg, &old, &all)) != FSEC_OK || !all)
		return rc;
	if ((rc = fsec_registry_baseline_keep(reg, model)) == FSEC_OK)
		memcpy(kept, old.version, 32);
	return rc;
}

/* The exposure asked for, checked against the manifest's signed one. */
static enum fsec_err check_exposure(const struct fsec_publish_opts *o, int signed_pct,
				    struct fsec_published_rec *rec)
{
	int max = -1;
	enum fsec_err rc;

	if (o->phases != NULL) {
		if (o->percent >= 0 || o->group != NULL)
			return fsec_seterr(FSEC_ERR_INVAL, "--phases replaces --percent and --group");
		if ((rc = fsec_rollout_phases_check(o->phases, NULL, &max)) != FSEC_OK)
			return rc;
		if (o->phases[0] == '\0')
			return fsec_seterr(FSEC_ERR_INVAL, "--phases: at least one phase");
		/* Devices apply the signed percent themselves: a phase the
		 * manifest would stop at is exposure on paper only. */
		if (signed_pct < 100)
			return fsec_seterr(FSEC_ERR_INVAL,
					   "--phases contradicts the manifest's signed rollout.percent"
					   " %d: devices stop there; sign it without --percent",
					   signed_pct);
		snprintf(rec->phases, sizeof(rec->phases), "%s", o->phases);
		rec->percent = 100;
		return FSEC_OK;
	}
	if (o->advance_after >= 0 || o->success_pct >= 0)
		return fsec_seterr(FSEC_ERR_INVAL, "--advance-after and --success-threshold need "
						   "--phases");
	if (signed_pct < 100 && o->percent >= 0 && o->percent != signed_pct)
		return fsec_seterr(FSEC_ERR_INVAL,
				   "--percent %d contradicts the manifest's signed rollout.percent %d",
				   o->percent, signed_pct);
	rec->percent = o->percent >= 0 ? o->percent : signed_pct;
	return FSEC_OK;
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
	struct fsec_product_rec prod;
	char dir[4096], path[4200], kept[32] = "";
	size_t blen = 0;
	uint64_t size = 0;
	enum fsec_err rc;
	bool in_tx = false;

	fsec_clearerr();
	memset(&rec, 0, sizeof(rec));
	if (o->advance_after < -1 || o->success_pct < -1 || o->success_pct > 100)
		return fsec_seterr(FSEC_ERR_INVAL, "--success-threshold must be 0-100%%");
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
	if ((rc = check_exposure(o, e->rollout_percent, &rec)) != FSEC_OK)
		goto out;
	snprintf(rec.state, sizeof(rec.state), "active");
	rec.advance_after = o->advance_after;
	rec.success_pct = o->success_pct;
	rec.published_at = (int64_t)time(NULL);
	rec.phase_at = rec.published_at;
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
	if ((rc = keep_baseline(reg, rec.model, rec.sha256, kept)) != FSEC_OK ||
	    (rc = fsec_registry_publish_put(reg, &rec, (const char *)bundle)) != FSEC_OK)
		goto out;
	if ((rc = fsec_registry_event_addf(reg, o->actor, "publish", NULL,
					   "model=%s version=%s counter=%u percent=%d max_failures=%d"
					   " max_failures_pct=%d group=%s sha256=%s delegation=%llu"
					   " phases=%s baseline=%s",
					   rec.model, rec.version, rec.security_counter, rec.percent,
					   rec.max_failures, rec.max_failures_pct, rec.group,
					   rec.sha256,
					   (unsigned long long)fsec_release_delegation_sequence(rel),
					   rec.phases[0] != '\0' ? rec.phases : "-",
					   kept[0] != '\0' ? kept : "-")) != FSEC_OK)
		goto out;
	/* The product's current release follows what is published, so that
	 * the audit judges devices against it without a second step. */
	rc = fsec_registry_product_get(reg, rec.model, &prod);
	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
	} else if (rc != FSEC_OK) {
		goto out;
	} else {
		struct fsec_product_update u = {.model = rec.model, .support_until = -1,
						.release_version = rec.version,
						.release_counter = rec.security_counter,
						.actor = o->actor};

		if ((rc = fsec_product_set(reg, &u)) != FSEC_OK)
			goto out;
	}
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

/* Verify the bundle published as pub, judged at its publication: an
 * expired manifest is still the latest, and the one a refresh replaces. */
static enum fsec_err verify_published(const char *bundle, const struct fsec_published_rec *pub,
				      const struct fsec_release_policy *pol,
				      struct fsec_release **rel)
{
	struct fsec_release_policy at = *pol;
	enum fsec_err rc;

	at.now = pub->published_at > 0 ? pub->published_at : 1;
	rc = fsec_release_verify((const unsigned char *)bundle, strlen(bundle), &at, rel);
	if (rc != FSEC_OK)
		rc = fsec_seterr(rc, "the release published for %s: %s", pol->model,
				 fsec_err_detail());
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
		if ((rc = verify_published(bundle, &pub, &pol, &rel)) != FSEC_OK)
			goto out;
		to.has_latest = true;
		to.latest = fsec_release_sequence(rel);
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

/* The candidate's manifest and sequence, the baseline's (base) or the
 * candidate's, verified as they were published. */
static enum fsec_err published_manifest(struct fsec_registry *reg, const char *model, bool base,
					const struct fsec_release_policy *pol,
					struct fsec_published_rec *pub, char **bundle,
					struct fsec_release **rel)
{
	enum fsec_err rc = base ? fsec_registry_baseline_get(reg, model, pub, bundle)
				: fsec_registry_publish_get(reg, model, pub, bundle);

	return rc != FSEC_OK ? rc : verify_published(*bundle, pub, pol, rel);
}

/* fsec_publish_refresh, with a sequence at least floor. */
static enum fsec_err refresh(struct fsec_fleet *f, const struct fsec_refresh_opts *o,
			     uint64_t floor, struct fsec_refresh_rec *out)
{
	struct fsec_release_policy pol = {
	    .roots = o->roots, .nroots = o->nroots, .model = o->model};
	struct fsec_timestamp_opts to = {.model = o->model, .key = o->key,
					 .delegation = o->delegation,
					 .delegation_len = o->delegation_len, .roots = o->roots,
					 .nroots = o->nroots, .actor = o->actor};
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct fsec_release *old = NULL, *fresh = NULL, *cand = NULL;
	struct fsec_published_rec pub, cpub;
	struct fsec_timestamp_rec ts;
	struct fsec_refresh_rec rec;
	struct fsec_refresh_opts co;
	char *bundle = NULL, *cbundle = NULL, *signed_rel = NULL, *signed_ts = NULL;
	enum fsec_err rc;
	bool in_tx = false;

	fsec_clearerr();
	memset(&rec, 0, sizeof(rec));
	if (o->model == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "a model is required");
	if ((rc = published_manifest(reg, o->model, o->baseline, &pol, &pub, &bundle, &old)) !=
	    FSEC_OK)
		goto out;
	rec.baseline = o->baseline;
	rec.old_sequence = fsec_release_sequence(old);
	/* Below 2^53 + 1: checked by the signer. */
	rec.sequence = rec.old_sequence + 1 > floor ? rec.old_sequence + 1 : floor;
	/* The sequence rule: the candidate's manifest stays above the
	 * baseline's. A device served the baseline takes the candidate when
	 * a phase reaches it, and the timestamp names the candidate's
	 * sequence to everyone; a baseline that caught up with it would make
	 * its devices refuse both. The candidate goes up first, so that a
	 * failure between the two leaves the rule standing. */
	if (o->baseline) {
		if ((rc = published_manifest(reg, o->model, false, &pol, &cpub, &cbundle, &cand)) !=
		    FSEC_OK)
			goto out;
		if (rec.sequence >= fsec_release_sequence(cand)) {
			co = *o;
			co.baseline = false;
			co.expires = fsec_release_expires(cand) > o->expires
					 ? fsec_release_expires(cand)
					 : o->expires;
			if ((rc = refresh(f, &co, rec.sequence + 1, NULL)) != FSEC_OK)
				goto out;
			rec.candidate_too = true;
		}
	}
	if ((rc = fsec_release_refresh((const unsigned char *)bundle, strlen(bundle), rec.sequence,
				       o->expires, o->delegation, o->delegation_len, o->key,
				       &signed_rel)) != FSEC_OK)
		goto out;
	/* Devices that hold the published manifest must take this one over
	 * it: the delegation is not older, and the sequence is above. */
	pol.last_sequence = rec.old_sequence;
	pol.last_delegation = fsec_release_delegation_sequence(old);
	if ((rc = fsec_release_verify((const unsigned char *)signed_rel, strlen(signed_rel), &pol,
				      &fresh)) != FSEC_OK) {
		rc = fsec_seterr(rc, "the refreshed release for %s: %s", o->model, fsec_err_detail());
		goto out;
	}
	snprintf(rec.model, sizeof(rec.model), "%s", o->model);
	snprintf(rec.version, sizeof(rec.version), "%s", pub.version);
	rec.expires = fsec_release_expires(fresh);
	rec.old_delegation = fsec_release_delegation_sequence(old);
	rec.delegation = fsec_release_delegation_sequence(fresh);
	/* A statement naming the old sequence would be refused by the devices
	 * that take the new manifest: it is signed again with it, same expiry.
	 * It names the candidate: a baseline's refresh leaves it as it is. */
	memset(&ts, 0, sizeof(ts));
	rc = o->baseline ? FSEC_ERR_NOTFOUND : fsec_registry_timestamp_get(reg, o->model, &ts, NULL);
	if (rc == FSEC_OK && ts.expires_at > (int64_t)time(NULL)) {
		to.expires = ts.expires_at;
		to.release = (const unsigned char *)signed_rel;
		to.release_len = strlen(signed_rel);
		to.bundle_out = &signed_ts;
		if ((rc = fsec_publish_timestamp(f, &to, &ts)) != FSEC_OK)
			goto out;
		rec.timestamp = true;
	} else if (rc == FSEC_OK || rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
	} else {
		goto out;
	}
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		goto out;
	in_tx = true;
	/* The same row but for the bundle: published_at, and with it the
	 * failures counted against the image and the pause, stay. */
	if ((rc = o->baseline ? fsec_registry_baseline_bundle_put(reg, o->model, pub.sha256,
								  signed_rel)
			      : fsec_registry_publish_put(reg, &pub, signed_rel)) != FSEC_OK ||
	    (rc = fsec_registry_event_addf(reg, o->actor, "refresh", NULL,
					   "model=%s%s sequence=%llu was=%llu expires=%lld signer=%.16s",
					   rec.model, o->baseline ? " baseline" : "",
					   (unsigned long long)rec.sequence,
					   (unsigned long long)rec.old_sequence,
					   (long long)rec.expires, fsec_release_signer(fresh))) !=
		FSEC_OK)
		goto out;
	/* The root key that renews a delegation is offline, with no home at
	 * hand: the renewal is recorded where it reaches the devices. */
	if (rec.delegation != rec.old_delegation &&
	    (rc = fsec_registry_event_addf(reg, o->actor, "delegation", NULL,
					   "model=%s sequence=%llu was=%llu", rec.model,
					   (unsigned long long)rec.delegation,
					   (unsigned long long)rec.old_delegation)) != FSEC_OK)
		goto out;
	if (rec.timestamp &&
	    ((rc = fsec_registry_timestamp_put(reg, &ts, signed_ts)) != FSEC_OK ||
	     (rc = fsec_registry_event_addf(reg, o->actor, "timestamp", NULL,
					    "model=%s latest=%lld expires=%lld", ts.model,
					    (long long)ts.latest, (long long)ts.expires_at)) !=
		 FSEC_OK))
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
	fsec_release_free(old);
	fsec_release_free(fresh);
	fsec_release_free(cand);
	free(bundle);
	free(cbundle);
	free(signed_rel);
	free(signed_ts);
	return rc;
}

FSEC_API enum fsec_err fsec_publish_refresh(struct fsec_fleet *f, const struct fsec_refresh_opts *o,
					    struct fsec_refresh_rec *out)
{
	return refresh(f, o, 0, out);
}

/* Past half of the validity from issued to expires. */
static bool half_gone(int64_t issued, int64_t expires, int64_t now)
{
	return expires <= issued || now - issued >= (expires - issued) / 2;
}

struct model_list {
	char (*names)[FSEC_MODEL_MAX + 1];
	size_t n, cap;
	enum fsec_err rc;
};

static int collect_model(const struct fsec_published_rec *rec, void *arg)
{
	struct model_list *ml = arg;

	if (ml->n == ml->cap) {
		/* Models are products: thousands at most, never near SIZE_MAX. */
		size_t cap = ml->cap > 0 ? ml->cap * 2 : 16;
		void *p = reallocarray(ml->names, cap, sizeof(*ml->names));

		if (p == NULL) {
			ml->rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			return 1;
		}
		ml->names = p;
		ml->cap = cap;
	}
	snprintf(ml->names[ml->n++], sizeof(ml->names[0]), "%s", rec->model);
	return 0;
}

/* The baseline's manifest, when it is due, judged as the candidate's:
 * devices outside the candidate's rollout (and all of them while it is
 * paused or aborted) are served it, and refuse it once it has expired. */
static enum fsec_err refresh_baseline(struct fsec_fleet *f, const struct fsec_refresh_opts *o,
				      const char *model, int64_t now, uint64_t dseq,
				      unsigned *count)
{
	struct fsec_release_policy pol = {.roots = o->roots, .nroots = o->nroots, .model = model};
	struct fsec_refresh_opts ro = *o;
	struct fsec_published_rec pub;
	struct fsec_release *rel = NULL;
	char *bundle = NULL;
	int64_t issued, expires;
	enum fsec_err rc = published_manifest(fsec_fleet_get_registry(f), model, true, &pol, &pub,
					      &bundle, &rel);

	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
		rc = FSEC_OK;
		goto out;
	}
	if (rc != FSEC_OK)
		goto out;
	issued = fsec_release_issued(rel);
	expires = fsec_release_expires(rel);
	if (!half_gone(issued, expires, now) && fsec_release_delegation_sequence(rel) >= dseq)
		goto out;
	ro.model = model;
	ro.baseline = true;
	ro.expires = now + (expires > issued ? expires - issued : 1);
	if ((rc = fsec_publish_refresh(f, &ro, NULL)) == FSEC_OK)
		(*count)++;
out:
	fsec_release_free(rel);
	free(bundle);
	return rc;
}

/* Refresh what is due for one published model: its timestamp first (it
 * names the published sequence), then its manifest (which signs the
 * timestamp again for the new one). */
static enum fsec_err refresh_model(struct fsec_fleet *f, const struct fsec_refresh_opts *o,
				   const char *model, int64_t now, unsigned *count)
{
	struct fsec_release_policy pol = {.roots = o->roots, .nroots = o->nroots, .model = model};
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct fsec_refresh_opts ro = *o;
	struct fsec_published_rec pub;
	struct fsec_timestamp_rec ts;
	struct fsec_release *rel = NULL;
	char *bundle = NULL;
	int64_t issued, expires, dexp;
	uint64_t dseq = 0;
	enum fsec_err rc;

	if ((rc = fsec_release_delegation_peek(o->delegation, o->delegation_len, &dseq, &dexp)) !=
	    FSEC_OK)
		return rc;
	if ((rc = fsec_registry_timestamp_get(reg, model, &ts, NULL)) == FSEC_OK &&
	    half_gone(ts.issued_at, ts.expires_at, now)) {
		struct fsec_timestamp_opts to = {.model = model, .key = o->key,
						 .delegation = o->delegation,
						 .delegation_len = o->delegation_len,
						 .roots = o->roots, .nroots = o->nroots,
						 .expires = now + (ts.expires_at - ts.issued_at),
						 .actor = o->actor};

		if ((rc = fsec_publish_timestamp(f, &to, NULL)) != FSEC_OK)
			goto out;
		(*count)++;
	} else if (rc != FSEC_OK && rc != FSEC_ERR_NOTFOUND) {
		goto out;
	}
	fsec_clearerr();
	if ((rc = published_manifest(reg, model, false, &pol, &pub, &bundle, &rel)) != FSEC_OK)
		goto out;
	issued = fsec_release_issued(rel);
	expires = fsec_release_expires(rel);
	/* A renewed delegation reaches devices only in what they are served:
	 * a manifest under an older one is due at once. */
	if (half_gone(issued, expires, now) || fsec_release_delegation_sequence(rel) < dseq) {
		ro.model = model;
		ro.expires = now + (expires > issued ? expires - issued : 1);
		if ((rc = fsec_publish_refresh(f, &ro, NULL)) != FSEC_OK)
			goto out;
		(*count)++;
	}
	rc = refresh_baseline(f, o, model, now, dseq, count);
out:
	fsec_release_free(rel);
	free(bundle);
	return rc;
}


FSEC_API enum fsec_err fsec_publish_refresh_due(struct fsec_fleet *f,
						const struct fsec_refresh_opts *o, int64_t now,
						unsigned *refreshed)
{
	struct model_list ml = {.rc = FSEC_OK};
	unsigned count = 0;
	enum fsec_err rc;

	fsec_clearerr();
	/* Listed first, signed after: no write while the listing is open. */
	if ((rc = fsec_registry_publish_list(fsec_fleet_get_registry(f), collect_model, &ml)) ==
	    FSEC_OK)
		rc = ml.rc;
	for (size_t i = 0; rc == FSEC_OK && i < ml.n; i++)
		rc = refresh_model(f, o, ml.names[i], now, &count);
	if (refreshed != NULL)
		*refreshed = count;
	free(ml.names);
	return rc;
}

struct fsec_refresher {
	EVP_PKEY *key, *root;
	char *delegation_path;
	unsigned char *delegation;
	size_t delegation_len;
	/* release_root followed along HOME/release-roots.json: the roots a
	 * device that pins release_root trusts once it has read the chain, so
	 * that a rotation needs no change of release_root and no restart. */
	struct fsec_release_trust *trust;
};

FSEC_API void fsec_refresher_free(struct fsec_refresher *r)
{
	if (r == NULL)
		return;
	EVP_PKEY_free(r->key);
	EVP_PKEY_free(r->root);
	free(r->delegation_path);
	free(r->delegation);
	fsec_release_trust_free(r->trust);
	free(r);
}

/* The trust of a device that pins r->root and has read the published
 * chain (none yet: the pinned root alone). */
static enum fsec_err refresher_follow(const struct fsec_refresher *r, const struct fsec_fleet *f,
				      struct fsec_release_trust **out)
{
	struct fsec_release_trust *t = NULL;
	EVP_PKEY *pinned[1] = {r->root};
	unsigned char *chain = NULL;
	size_t clen = 0;
	char path[4200];
	bool changed;
	enum fsec_err rc;

	if ((rc = fsec_publish_roots_path(f, path, sizeof(path))) != FSEC_OK ||
	    (rc = fsec_release_trust_new(pinned, 1, NULL, 0, &t)) != FSEC_OK)
		goto out;
	if (access(path, F_OK) == 0) {
		if ((rc = fsec_file_read(path, FSEC_RELEASE_MAX, &chain, &clen)) != FSEC_OK)
			goto out;
		if ((rc = fsec_release_trust_update(t, chain, clen, &changed)) != FSEC_OK) {
			rc = fsec_seterr(rc, "%s does not follow from release_root: %s", path,
					 fsec_err_detail());
			goto out;
		}
	} else if (errno != ENOENT) {
		rc = fsec_seterr(FSEC_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	*out = t;
	t = NULL;
out:
	fsec_release_trust_free(t);
	free(chain);
	return rc;
}

/* A statement signed and thrown away: the signer's own checks say whether
 * the delegation parses, names the key and is still valid, and the
 * devices' check whether a root of trust t signed it. */
static enum fsec_err refresher_check(const struct fsec_refresher *r, const unsigned char *deleg,
				     size_t deleg_len, const struct fsec_release_trust *t)
{
	struct fsec_release_timestamp_opts to = {.model = "check",
						 .expires = (int64_t)time(NULL) + 60,
						 .delegation = (const char *)deleg,
						 .delegation_len = deleg_len};
	struct fsec_release_policy pol = {.model = "check"};
	struct fsec_release_timestamp ts;
	char *probe = NULL;
	enum fsec_err rc;

	pol.roots = fsec_release_trust_keys(t, &pol.nroots);
	if ((rc = fsec_release_timestamp_sign(&to, r->key, &probe)) != FSEC_OK ||
	    (rc = fsec_release_timestamp_verify((const unsigned char *)probe, strlen(probe), &pol,
						&ts)) != FSEC_OK)
		rc = fsec_seterr(rc, "release_delegation %s (release root version %llu): %s",
				 r->delegation_path,
				 (unsigned long long)fsec_release_trust_version(t),
				 fsec_err_detail());
	free(probe);
	return rc;
}

FSEC_API enum fsec_err fsec_refresher_new(const struct fsec_fleet *f, const char *key,
					  const char *delegation, const char *root,
					  struct fsec_refresher **out)
{
	struct fsec_refresher *r = calloc(1, sizeof(*r));
	enum fsec_err rc;

	fsec_clearerr();
	if (r == NULL || (r->delegation_path = strdup(delegation)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fsec_key_load_private(key, &r->key)) != FSEC_OK) {
		rc = fsec_seterr(rc, "release_key %s: %s", key, fsec_err_detail());
		goto out;
	}
	if ((rc = fsec_key_load_public(root, &r->root)) != FSEC_OK) {
		rc = fsec_seterr(rc, "release_root %s: %s", root, fsec_err_detail());
		goto out;
	}
	if ((rc = fsec_file_read(delegation, FSEC_RELEASE_MAX, &r->delegation,
				 &r->delegation_len)) != FSEC_OK ||
	    (rc = refresher_follow(r, f, &r->trust)) != FSEC_OK ||
	    (rc = refresher_check(r, r->delegation, r->delegation_len, r->trust)) != FSEC_OK)
		goto out;
	*out = r;
	r = NULL;
out:
	fsec_refresher_free(r);
	return rc;
}

/* When the published chain has moved past r's roots, take the new roots
 * together with the delegation file as it is now (the operator puts one
 * from the new root in place): both or neither, so that r never signs
 * with a delegation its roots refuse. */
static enum fsec_err refresher_advance(struct fsec_refresher *r, const struct fsec_fleet *f)
{
	struct fsec_release_trust *t = NULL;
	unsigned char *deleg = NULL;
	size_t dlen = 0;
	enum fsec_err rc;

	if ((rc = refresher_follow(r, f, &t)) != FSEC_OK)
		goto out;
	if (fsec_release_trust_version(t) == fsec_release_trust_version(r->trust))
		goto out;
	if ((rc = fsec_file_read(r->delegation_path, FSEC_RELEASE_MAX, &deleg, &dlen)) != FSEC_OK ||
	    (rc = refresher_check(r, deleg, dlen, t)) != FSEC_OK)
		goto out;
	fsec_release_trust_free(r->trust);
	r->trust = t;
	t = NULL;
	free(r->delegation);
	r->delegation = deleg;
	r->delegation_len = dlen;
	deleg = NULL;
out:
	fsec_release_trust_free(t);
	free(deleg);
	return rc;
}

FSEC_API enum fsec_err fsec_refresher_run(struct fsec_refresher *r, struct fsec_fleet *f,
					  int64_t now, unsigned *refreshed)
{
	struct fsec_refresh_opts o = {.actor = "fleetsecd"};
	enum fsec_err rc;

	fsec_clearerr();
	if (refreshed != NULL)
		*refreshed = 0;
	if ((rc = refresher_advance(r, f)) != FSEC_OK)
		return rc;
	o.key = r->key;
	o.delegation = (const char *)r->delegation;
	o.delegation_len = r->delegation_len;
	/* What is published may be under a root the chain has moved past
	 * (signed again under the newest right here): read it with every key
	 * followed through. What r signs carries r's delegation, which
	 * refresher_check proved comes from the newest root. */
	o.roots = fsec_release_trust_keys_all(r->trust, &o.nroots);
	return fsec_publish_refresh_due(f, &o, now, refreshed);
}

FSEC_API enum fsec_err fsec_publish_roots_path(const struct fsec_fleet *f, char *buf, size_t cap)
{
	if ((size_t)snprintf(buf, cap, "%s/%s", fsec_fleet_get_home(f), FSEC_PUBLISH_ROOTS_FILE) >=
	    cap)
		return fsec_seterr(FSEC_ERR_INVAL, "home path too long");
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_publish_root(struct fsec_fleet *f, const struct fsec_root_publish_opts *o,
					 uint64_t *version)
{
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct fsec_release_trust *t = NULL;
	unsigned char *chain = NULL;
	char path[4200], *next = NULL;
	size_t clen = 0, nkeys = 0;
	struct stat st;
	bool changed = false, in_tx = false;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fsec_publish_roots_path(f, path, sizeof(path))) != FSEC_OK)
		return rc;
	/* The registry's write lock keeps two publishers from appending to
	 * the chain at once. */
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		return rc;
	in_tx = true;
	if (stat(path, &st) == 0) {
		if ((rc = fsec_file_read(path, FSEC_RELEASE_MAX, &chain, &clen)) != FSEC_OK)
			goto out;
	} else if (errno != ENOENT) {
		rc = fsec_seterr(FSEC_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* Served only if a device holding the pinned root would follow the
	 * whole chain to the new document. */
	if ((rc = fsec_release_roots_append(chain, clen, o->doc, o->doc_len, &next)) != FSEC_OK ||
	    (rc = fsec_release_trust_new(o->roots, o->nroots, NULL, 0, &t)) != FSEC_OK)
		goto out;
	if ((rc = fsec_release_trust_update(t, (const unsigned char *)next, strlen(next),
					    &changed)) != FSEC_OK) {
		rc = fsec_seterr(rc, "the root does not follow the published chain: %s",
				 fsec_err_detail());
		goto out;
	}
	(void)fsec_release_trust_keys(t, &nkeys);
	if ((rc = fsec_registry_event_addf(reg, o->actor, "release-root", NULL,
					   "version=%llu keys=%zu",
					   (unsigned long long)fsec_release_trust_version(t),
					   nkeys)) != FSEC_OK ||
	    (rc = fsec_file_write_atomic(path, next, strlen(next), 0644, 0)) != FSEC_OK)
		goto out;
	in_tx = false;
	if ((rc = fsec_registry_commit(reg)) != FSEC_OK) {
		fsec_registry_rollback(reg);
		goto out;
	}
	if (version != NULL)
		*version = fsec_release_trust_version(t);
out:
	if (in_tx)
		fsec_registry_rollback(reg);
	fsec_release_trust_free(t);
	free(chain);
	free(next);
	return rc;
}
