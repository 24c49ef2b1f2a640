/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whether a release applies (agent_int.h): fetch the bundle, verify it with
 * the stored sequences, record them, and decide against the running image,
 * the installed record, the anti-rollback counter, a pending or failed
 * trial, and the staged rollout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "agent_int.h"
#include "err_int.h"
#include "pem_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/identity.h"
#include "fleetsec/key.h"

/* A staged rollout takes percent P of the fleet: the devices whose bucket,
 * a hash of the device ID, is below P. Raising P only adds devices. */
enum fsec_err fsec_agent_rollout_bucket(const char *cert_path, unsigned *bucket)
{
	char id[FSEC_DEVID_MAX + 1];
	X509 *cert = NULL;
	enum fsec_err rc;

	/* The reader's reason starts with the path. */
	if ((rc = fsec_pem_cert_read(cert_path, &cert)) != FSEC_OK)
		return fsec_seterr(rc, "device certificate %s", fsec_err_detail());
	if ((rc = fsec_identity_from_cert(cert, id)) != FSEC_OK) {
		rc = fsec_seterr(rc, "device certificate %s: %s", cert_path, fsec_err_detail());
		goto out;
	}
	rc = fsec_rollout_bucket(id, bucket);
out:
	ERR_clear_error();
	X509_free(cert);
	return rc;
}

enum fsec_err fsec_agent_url(const struct fsec_agent *a, const char *target, char *buf,
			     size_t cap)
{
	int n = target[0] == '/' ? snprintf(buf, cap, "%s%s", a->cfg.server, target)
				 : snprintf(buf, cap, "%s", target);

	if (n < 0 || (size_t)n >= cap)
		return fsec_seterr(FSEC_ERR_INVAL, "URL too long");
	if (!fsec_fetch_url_ok(buf))
		return fsec_seterr(FSEC_ERR_INVAL, "refusing a URL that is neither https nor coaps");
	return FSEC_OK;
}

/* Start the silence clock at the first check, and mark a fresh signed
 * answer (at now) when fresh. */
static enum fsec_err note_fresh(struct fsec_agent *a, bool fresh, int64_t now)
{
	struct fresh f;
	enum fsec_err rc = fsec_agent_load_fresh(a, &f);

	if (rc != FSEC_OK || (!fresh && f.since != 0))
		return rc;
	if (f.since == 0)
		f.since = now;
	if (fresh)
		f.fresh_at = now;
	return fsec_agent_store_fresh(a, &f);
}

/* Verify the server's answer (buf, of kind) against the trusted release
 * root and the stored sequences: a timestamp into c->ts, a release into
 * c->rel. */
static enum fsec_err verify_answer(const struct fsec_agent *a, const unsigned char *buf,
				   size_t len, enum fsec_release_kind kind, const struct seen *seen,
				   struct checked *c)
{
	struct fsec_release_policy pol = {.model = a->cfg.model,
					  .last_delegation = seen->delegation};

	pol.roots = fsec_release_trust_keys(a->trust, &pol.nroots);
	if (kind == FSEC_RELEASE_KIND_TIMESTAMP) {
		pol.last_sequence = seen->sequence;
		return fsec_release_timestamp_verify(buf, len, &pol, &c->ts);
	}
	pol.last_sequence = seen->sequence > 0 ? seen->sequence - 1 : 0;
	return fsec_release_verify(buf, len, &pol, &c->rel);
}

/* The release root may have been rotated: follow the server's chain of
 * root documents (roots_url) from the root this device trusts, and keep
 * where it leads. *moved says whether it moved. A server with no chain
 * (204), or that cannot be reached, leaves the trust as it is (the answer
 * that sent us here stays refused); a chain that does not follow from our
 * root is refused with its reason. */
static enum fsec_err follow_roots(struct fsec_agent *a, bool *moved)
{
	unsigned char *buf = NULL;
	char url[FSEC_AGENTCFG_VALUE_MAX * 2 + 8];
	size_t len = 0;
	enum fsec_err rc;

	*moved = false;
	if ((rc = fsec_agent_url(a, a->cfg.roots_url, url, sizeof(url))) != FSEC_OK)
		return rc;
	if (fsec_fetch_get(a->fetch, url, FSEC_RELEASE_MAX, &buf, &len) != FSEC_OK)
		return FSEC_OK;
	if ((rc = fsec_release_trust_update(a->trust, buf, len, moved)) != FSEC_OK)
		rc = fsec_seterr(rc, "release root: %s", fsec_err_detail());
	else if (*moved)
		rc = fsec_agent_store_trust(a);
	free(buf);
	return rc;
}

/* Fetch and verify the server's answer. The stored manifest sequence may
 * be met again (a resumed download, a repeated check), but then it must be
 * the very release accepted before: one sequence, one release. */
enum fsec_err fsec_agent_fetch_release(struct fsec_agent *a, struct checked *c)
{
	const struct fsec_release_entry *e;
	enum fsec_release_kind kind;
	struct seen seen;
	unsigned char *buf = NULL;
	char url[FSEC_AGENTCFG_VALUE_MAX * 2 + 8], why[256];
	int64_t now = (int64_t)time(NULL);
	size_t len = 0;
	bool moved = false;
	enum fsec_err rc = FSEC_ERR_VERIFY, frc;

	memset(c, 0, sizeof(*c));
	if ((rc = fsec_agent_load_seen(a, &seen)) != FSEC_OK ||
	    (rc = note_fresh(a, false, now)) != FSEC_OK ||
	    (rc = fsec_agent_url(a, a->cfg.manifest_url, url, sizeof(url))) != FSEC_OK)
		goto out;
	rc = fsec_fetch_get(a->fetch, url, FSEC_RELEASE_MAX, &buf, &len);
	/* Silence is no answer: anyone between the device and the signer can
	 * say 204 for ever. Only a signed statement says that nothing is new. */
	if (rc == FSEC_ERR_NOTFOUND) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "unsigned answer: the server has no release for "
						  "this device but sent no signed statement that "
						  "nothing is new (fleetsec release timestamp)");
		goto out;
	}
	if (rc != FSEC_OK || (rc = fsec_release_kind(buf, len, &kind)) != FSEC_OK)
		goto out;
	rc = verify_answer(a, buf, len, kind, &seen, c);
	/* Refused: perhaps signed under a rotated root this device has not
	 * followed yet. Asked only then: the root changes once in years. */
	if (rc == FSEC_ERR_VERIFY) {
		snprintf(why, sizeof(why), "%s", fsec_err_detail());
		if ((frc = follow_roots(a, &moved)) != FSEC_OK) {
			rc = frc;
			goto out;
		}
		if (moved)
			rc = verify_answer(a, buf, len, kind, &seen, c);
		else
			fsec_seterr(rc, "%s", why);
	}
	if (rc != FSEC_OK)
		goto out;
	if (kind == FSEC_RELEASE_KIND_TIMESTAMP) {
		rc = note_fresh(a, true, now);
		goto out;
	}
	e = fsec_release_entry(c->rel);
	c->now.delegation = fsec_release_delegation_sequence(c->rel);
	c->now.sequence = fsec_release_sequence(c->rel);
	fsec_hex(e->sha256, 32, c->now.sha256);
	if (c->now.delegation == seen.delegation && c->now.sequence == seen.sequence &&
	    strcmp(c->now.sha256, seen.sha256) != 0) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "sequence: manifest %llu was already accepted for "
						  "another image",
				 (unsigned long long)seen.sequence);
		goto out;
	}
	/* Remember the highest release accepted, installed or not, so that a
	 * server cannot go back to an older one (withholding a newer release,
	 * or flipping between two to keep restarting the download). */
	if ((c->now.delegation != seen.delegation || c->now.sequence != seen.sequence) &&
	    (rc = fsec_agent_store_seen(a, &c->now)) != FSEC_OK)
		goto out;
	if ((rc = note_fresh(a, true, now)) != FSEC_OK)
		goto out;
	rc = FSEC_OK;
out:
	if (rc != FSEC_OK) {
		fsec_release_free(c->rel);
		c->rel = NULL;
	}
	free(buf);
	return rc;
}

enum fsec_err fsec_agent_decide(struct fsec_agent *a, const struct checked *c,
			       struct fsec_agent_check *out)
{
	const struct fsec_release_entry *e = fsec_release_entry(c->rel);
	struct fsec_boot_state bs;
	struct fsec_fw_info cur;
	struct fsec_fw_version floor;
	uint32_t counter = 0;
	char v1[32], v2[32];
	bool cur_valid, have_floor;
	enum fsec_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = fsec_bootctl_read(a->boot, &bs)) != FSEC_OK ||
	    (rc = fsec_counter_read(a->counter, &counter)) != FSEC_OK)
		return rc;
	cur_valid = fsec_agent_verify_slot(a, bs.slot, 0, &cur) == FSEC_OK;
	fsec_clearerr();
	/* A permanent, valid slot is what the device runs: record it (this is
	 * also how a factory image gets its record, on the first check). */
	if (cur_valid && !bs.upgrade_available &&
	    (rc = fsec_agent_raise_installed(a, &cur.version)) != FSEC_OK)
		return rc;
	if ((rc = fsec_agent_load_installed(a, &floor, &have_floor)) != FSEC_OK)
		return rc;
	if (cur_valid && (!have_floor || fsec_fw_version_cmp(&cur.version, &floor) > 0)) {
		floor = cur.version;
		have_floor = true;
	}
	out->version = e->version;
	out->security_counter = e->security_counter;
	out->size = e->size;
	out->sequence = c->now.sequence;
	out->delegation = c->now.delegation;
	fsec_fw_version_str(&e->version, v1, sizeof(v1));
	if (have_floor)
		fsec_fw_version_str(&floor, v2, sizeof(v2));
	if (e->security_counter < counter)
		snprintf(out->reason, sizeof(out->reason),
			 "rollback refused: security counter %u is below the device's %u",
			 e->security_counter, counter);
	else if (!have_floor)
		snprintf(out->reason, sizeof(out->reason),
			 "no update: the running image does not verify and no installed version "
			 "is recorded");
	else if (fsec_fw_version_cmp(&e->version, &floor) <= 0)
		snprintf(out->reason, sizeof(out->reason),
			 "no update: release %s is not newer than the installed %s", v1, v2);
	else if (bs.upgrade_available)
		snprintf(out->reason, sizeof(out->reason),
			 "a trial boot is pending: confirm it or let it fall back first");
	else if ((int)a->rollout_bucket >= e->rollout_percent)
		snprintf(out->reason, sizeof(out->reason),
			 "not yet: release %s is rolled out to %d%% of the fleet, not this device",
			 v1, e->rollout_percent);
	else if (strcmp(bs.trial_tag, c->now.sha256) == 0)
		/* The boot environment remembers this image's trial, and confirm
		 * would have cleared it: the trial failed and the bootloader fell
		 * back. Retrying would only loop, whatever manifest carries it. */
		snprintf(out->reason, sizeof(out->reason),
			 "no update: release %s failed its trial boot; waiting for a newer one", v1);
	else {
		out->applies = true;
		snprintf(out->reason, sizeof(out->reason), "update %s -> %s available", v2, v1);
	}
	return FSEC_OK;
}

/* fleetsecd answers with a signed "nothing new" when it has no release for
 * this device (nothing published, or outside a staged rollout): an answer,
 * not a failure. */
bool fsec_agent_nothing_new(const struct checked *c, struct fsec_agent_check *out)
{
	char until[FSEC_TIME_LEN];

	if (c->rel != NULL)
		return false;
	memset(out, 0, sizeof(*out));
	fsec_time_format(c->ts.expires, until);
	if (c->ts.has_latest)
		snprintf(out->reason, sizeof(out->reason),
			 "no update: the server has no release for this device (signed: nothing "
			 "newer than manifest %llu, until %s)",
			 (unsigned long long)c->ts.latest, until);
	else
		snprintf(out->reason, sizeof(out->reason),
			 "no update: the server has no release for this device (signed: nothing "
			 "published, until %s)",
			 until);
	return true;
}

FSEC_API enum fsec_err fsec_agent_check(struct fsec_agent *a, struct fsec_agent_check *out)
{
	struct checked c;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fsec_agent_fetch_release(a, &c)) != FSEC_OK)
		return rc;
	if (fsec_agent_nothing_new(&c, out))
		return FSEC_OK;
	rc = fsec_agent_decide(a, &c, out);
	fsec_release_free(c.rel);
	return rc;
}
