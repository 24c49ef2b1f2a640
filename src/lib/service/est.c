/* SPDX-License-Identifier: Apache-2.0 */
/* The EST server and enrollment policy (est.h): who the TLS peer is,
 * enrollment, renewal and the resend of a lost answer. */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "b64_int.h"
#include "err_int.h"
#include "limits_int.h"
#include "pem_int.h"
#include "reply_int.h"
#include "fleetsec/ca.h"
#include "fleetsec/csr.h"
#include "fleetsec/est.h"
#include "fleetsec/fileio.h"
#include "fleetsec/key.h"
#include "fleetsec/text.h"

/* Direct-mapped: a collision costs one re-check, never a wrong answer, since
 * entries are matched on the whole fingerprint. */
#define PEER_CACHE 1024
#define ACTOR "fleetsecd"

/* Whom the server trusts, rebuilt whenever the registry's manufacturer CAs
 * change, so that `fleetsec enroll allow` needs no restart. */
struct trust {
	X509_STORE *fleet_store; /* operational certificates */
	X509_STORE *mfr_store;   /* bootstrap certificates only */
	X509_STORE *tls_store;   /* both, for the handshake */
	STACK_OF(X509) *cas;     /* issuing, root, previous issuing: what cacerts returns */
	STACK_OF(X509) *mfr;
	bool damaged; /* a manufacturer CA in the registry did not load */
};

/* A source's refusals past its budget, held until its next write (one
 * (credential, reason) per source; others past the budget are not counted). */
#define HELD 256
struct held_refusal {
	char source[FSEC_SOURCE_MAX + 1];
	struct fsec_refusal_rec rec; /* count 0: nothing held */
};

struct fsec_est {
	struct fsec_fleet *f;
	struct fsec_registry *reg;
	struct trust t;
	uint64_t data_version;
	/* Driven by a change feed (fsec_est_feed): no data_version at each
	 * request; stale after a notification, refusing while the feed is down. */
	enum { FEED_NONE, FEED_UP, FEED_STALE, FEED_LOST } feed;
	bool manual;
	struct fsec_est_limits lim;
	struct fsec_ratelimit *refusal_rl; /* refusal writes per source per minute */
	struct held_refusal held[HELD];
	struct fsec_est_peer cache[PEER_CACHE];
};

/* /cacerts: the current issuing CA and root, up to 8 previous issuing
 * CAs, and up to 4 previous roots with their two cross certificates each
 * (fsec_fleet_chain_pem). */
#define FSEC_EST_CACERTS_MAX 22

/* A device told to come back after an approval asks again this soon. */
#define RETRY_AFTER_S 60

/* ---- helpers ---- */

static void cert_oneline(X509 *cert, char *buf, size_t cap)
{
	X509_NAME_oneline(X509_get_subject_name(cert), buf, (int)cap);
}

/* A pattern is a device ID, possibly with the fnmatch characters * ? [ ]. */
static enum fsec_err pattern_check(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > FSEC_DEVID_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "serial pattern '%s' must be 1-%d characters", p,
				   FSEC_DEVID_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '*' || c == '?' || c == '[' ||
		      c == ']'))
			return fsec_seterr(FSEC_ERR_INVAL,
					   "serial pattern '%s': use device ID characters and * ? [ ]",
					   p);
	}
	return FSEC_OK;
}

/* ---- allowlist (operator side) ---- */

/* A vendor root and the intermediates below it: at most this many
 * certificates in one --manufacturer-ca file. */
#define MFR_CHAIN_MAX 8

/* The certificates of a PEM text, in order (at most MFR_CHAIN_MAX). */
static enum fsec_err pem_certs(const void *buf, size_t len, const char *what,
			       STACK_OF(X509) **out)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *mem = len <= INT32_MAX ? BIO_new_mem_buf(buf, (int)len) : NULL;
	enum fsec_err rc = FSEC_ERR_NOMEM;
	X509 *c;

	if (certs == NULL || mem == NULL) {
		fsec_seterr(rc, "out of memory");
		goto out;
	}
	while ((c = PEM_read_bio_X509(mem, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(certs) == MFR_CHAIN_MAX || !sk_X509_push(certs, c)) {
			X509_free(c);
			rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: more than %d certificates", what,
					 MFR_CHAIN_MAX);
			goto out;
		}
	}
	ERR_clear_error();
	if (sk_X509_num(certs) == 0) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "%s: not a PEM certificate", what);
		goto out;
	}
	*out = certs;
	certs = NULL;
	rc = FSEC_OK;
out:
	sk_X509_pop_free(certs, X509_free);
	BIO_free(mem);
	return rc;
}

/*
 * A --manufacturer-ca file: one self-signed vendor root, and any
 * intermediates, each a CA that verifies up to that root. The root is what
 * the allowlist names (its fingerprint), and what chains end at.
 *
 * An intermediate alone is refused rather than trusted as an anchor:
 * OpenSSL trusts a non-self-signed anchor only with X509_V_FLAG_PARTIAL_CHAIN,
 * a flag of the whole store, and the handshake's store holds the fleet CAs
 * too; the vendor's root is public, so asking for it costs the operator one
 * file, and which devices of that vendor may enrol is the serial patterns'
 * job, not the anchor's.
 */
static enum fsec_err mfr_chain_check(const char *path, STACK_OF(X509) *certs, X509 **root_out)
{
	char subject[160];
	X509_STORE *st = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509 *root = NULL;
	enum fsec_err rc = FSEC_ERR_POLICY;

	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);

		cert_oneline(c, subject, sizeof(subject));
		/* Only a CA can vouch for devices; a leaf here is an operator
		 * mistake that would otherwise silently allow nothing. */
		if (X509_check_ca(c) == 0)
			return fsec_seterr(rc, "%s: %.100s: not a CA certificate", path, subject);
		if (X509_self_signed(c, 1) != 1)
			continue;
		if (root != NULL)
			return fsec_seterr(rc, "%s: more than one root CA; give one vendor root", path);
		root = c;
	}
	if (root == NULL) {
		cert_oneline(sk_X509_value(certs, 0), subject, sizeof(subject));
		return fsec_seterr(rc, "%s: %.100s is not self-signed: give the vendor's root CA "
				       "with its intermediates in one PEM file",
				   path, subject);
	}
	if ((st = X509_STORE_new()) == NULL || X509_STORE_add_cert(st, root) != 1 ||
	    (ctx = X509_STORE_CTX_new()) == NULL) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot build a trust store");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);

		if (c == root)
			continue;
		if (X509_STORE_CTX_init(ctx, st, c, certs) != 1 || X509_verify_cert(ctx) != 1) {
			cert_oneline(c, subject, sizeof(subject));
			rc = fsec_seterr(FSEC_ERR_VERIFY, "%s: %.100s does not chain to the root: %s",
					 path, subject,
					 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
			goto out;
		}
		X509_STORE_CTX_cleanup(ctx);
	}
	*root_out = root;
	rc = FSEC_OK;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return rc;
}

/* The manufacturer CA file at path: its certificates and, borrowed from
 * them, the root (mfr_chain_check). Errors: NOTFOUND, IO, PARSE, POLICY,
 * VERIFY, CRYPTO. */
static enum fsec_err read_mfr_ca(const char *path, STACK_OF(X509) **certs_out, X509 **root_out)
{
	STACK_OF(X509) *certs = NULL;
	unsigned char *file = NULL;
	size_t flen = 0;
	enum fsec_err rc;

	if ((rc = fsec_file_read(path, FSEC_PEM_CERT_MAX, &file, &flen)) != FSEC_OK) {
		fsec_seterr(rc, "%s: %s", path, fsec_err_detail());
		goto out;
	}
	if ((rc = pem_certs(file, flen, path, &certs)) != FSEC_OK ||
	    (rc = mfr_chain_check(path, certs, root_out)) != FSEC_OK)
		goto out;
	*certs_out = certs;
	certs = NULL;
out:
	sk_X509_pop_free(certs, X509_free);
	free(file);
	return rc;
}

FSEC_API enum fsec_err fsec_est_allow(struct fsec_fleet *f, const char *ca_pem,
				      const char *const *patterns, size_t n, const char *model,
				      bool replace, const char *actor)
{
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct fsec_enroll_ca_rec rec;
	STACK_OF(X509) *certs = NULL;
	char *pem = NULL, *one = NULL;
	X509 *cert = NULL;
	enum fsec_err rc;
	bool in_tx = false;

	fsec_clearerr();
	memset(&rec, 0, sizeof(rec));
	for (size_t i = 0; i < n; i++)
		if ((rc = pattern_check(patterns[i])) != FSEC_OK)
			return rc;
	if ((rc = read_mfr_ca(ca_pem, &certs, &cert)) != FSEC_OK)
		goto out;
	/* Stored as the root first, then its intermediates, each re-encoded
	 * (no stray text from the file). */
	for (int i = -1; i < sk_X509_num(certs); i++) {
		X509 *c = i < 0 ? cert : sk_X509_value(certs, i);
		size_t have = pem != NULL ? strlen(pem) : 0, add;
		char *grown;

		if (i >= 0 && c == cert)
			continue;
		if ((rc = fsec_cert_pem(c, &one)) != FSEC_OK)
			goto out;
		add = strlen(one);
		if ((grown = realloc(pem, have + add + 1)) == NULL) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
		pem = grown;
		memcpy(pem + have, one, add + 1);
		free(one);
		one = NULL;
	}
	if ((rc = fsec_cert_fingerprint(cert, rec.fingerprint)) != FSEC_OK)
		goto out;
	cert_oneline(cert, rec.subject, sizeof(rec.subject));
	rec.added_at = (int64_t)time(NULL);
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		goto out;
	in_tx = true;
	if ((rc = fsec_registry_enroll_ca_add(reg, &rec, pem)) != FSEC_OK)
		goto out;
	for (size_t i = 0; i < n; i++)
		if ((rc = fsec_registry_enroll_allow_add(reg, rec.fingerprint, patterns[i],
							 model != NULL ? model : "", replace)) !=
		    FSEC_OK)
			goto out;
	if ((rc = fsec_registry_event_addf(reg, actor, "enroll-allow", NULL,
					   "ca=%s patterns=%zu subject=%.100s", rec.fingerprint, n,
					   rec.subject)) != FSEC_OK)
		goto out;
	in_tx = false;
	if ((rc = fsec_registry_commit(reg)) != FSEC_OK)
		fsec_registry_rollback(reg);
out:
	if (in_tx)
		fsec_registry_rollback(reg);
	/* cert is the root, owned by certs. */
	sk_X509_pop_free(certs, X509_free);
	free(one);
	free(pem);
	return rc;
}

struct removed {
	fsec_enroll_pattern_cb cb;
	void *ctx;
	const char *only; /* NULL: every pattern */
	size_t n;         /* patterns removed */
};

static int removed_one(const char *pattern, const char *model, void *arg)
{
	struct removed *rm = arg;

	if (rm->only != NULL && strcmp(rm->only, pattern) != 0)
		return 0;
	rm->n++;
	return rm->cb != NULL ? rm->cb(pattern, model, rm->ctx) : 0;
}

FSEC_API enum fsec_err fsec_est_remove(struct fsec_fleet *f, const char *ca_pem,
				       const char *const *patterns, size_t n, bool dry_run,
				       const char *actor, fsec_enroll_pattern_cb cb, void *ctx,
				       char fingerprint[FSEC_SHA256_HEX_LEN])
{
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct removed rm = {.cb = cb, .ctx = ctx};
	STACK_OF(X509) *certs = NULL;
	char fp[FSEC_SHA256_HEX_LEN];
	X509 *root = NULL;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = read_mfr_ca(ca_pem, &certs, &root)) != FSEC_OK ||
	    (rc = fsec_cert_fingerprint(root, fp)) != FSEC_OK ||
	    (rc = fsec_registry_begin(reg)) != FSEC_OK)
		goto out;
	/* Each pattern is shown as it is taken off, inside the transaction:
	 * a dry run shows exactly what the real one removes. */
	for (size_t i = 0; rc == FSEC_OK && i < n; i++) {
		rm.only = patterns[i];
		if ((rc = fsec_registry_enroll_allow_list(reg, fp, removed_one, &rm)) == FSEC_OK)
			rc = fsec_registry_enroll_remove(reg, fp, patterns[i]);
	}
	if (rc == FSEC_OK && n == 0 &&
	    (rc = fsec_registry_enroll_allow_list(reg, fp, removed_one, &rm)) == FSEC_OK)
		rc = fsec_registry_enroll_remove(reg, fp, NULL);
	if (rc == FSEC_OK)
		rc = fsec_registry_event_addf(reg, actor, n == 0 ? "enroll-disallow" : "enroll-remove",
					      NULL, "ca=%s patterns=%zu%s%s", fp, rm.n,
					      n == 1 ? " pattern=" : "", n == 1 ? patterns[0] : "");
	if (rc != FSEC_OK || dry_run || (rc = fsec_registry_commit(reg)) != FSEC_OK)
		fsec_registry_rollback(reg);
	if (rc == FSEC_OK)
		memcpy(fingerprint, fp, sizeof(fp));
out:
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/* ---- server state ---- */

static enum fsec_err store_add(X509_STORE *st, X509 *cert)
{
	if (X509_STORE_add_cert(st, cert) != 1)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot build a trust store");
	return FSEC_OK;
}

/* A manufacturer CA: its root, then any intermediates (fsec_est_allow).
 * The intermediates go in the stores too, so that a device presenting its
 * leaf alone still verifies leaf -> intermediate -> root; a chain is
 * trusted only where it ends at the self-signed root. */
static int load_mfr_ca(const struct fsec_enroll_ca_rec *rec, const char *pem, void *arg)
{
	struct trust *t = arg;
	STACK_OF(X509) *certs = NULL;
	X509 *cert;
	bool bad = pem_certs(pem, strlen(pem), rec->subject, &certs) != FSEC_OK;

	while (!bad && (cert = sk_X509_shift(certs)) != NULL) {
		if (store_add(t->mfr_store, cert) != FSEC_OK ||
		    store_add(t->tls_store, cert) != FSEC_OK || !sk_X509_push(t->mfr, cert)) {
			X509_free(cert);
			bad = true;
		}
	}
	sk_X509_pop_free(certs, X509_free);
	if (bad) {
		/* Stopping here would silently drop every CA after this one. */
		t->damaged = true;
		return 1;
	}
	return 0;
}

/* A cross certificate (after `ca rollover`): the name of a self-signed
 * root in cas, issued by another root. Both roots are anchors already;
 * as an anchor too it would let chain building wander from one root to
 * the other and back. */
static bool is_cross(X509 *c, STACK_OF(X509) *cas)
{
	if (X509_self_signed(c, 0) == 1)
		return false;
	for (int i = 0; i < sk_X509_num(cas); i++) {
		X509 *r = sk_X509_value(cas, i);

		if (X509_self_signed(r, 0) == 1 &&
		    X509_NAME_cmp(X509_get_subject_name(r), X509_get_subject_name(c)) == 0)
			return true;
	}
	return false;
}

/* The fleet's CA certificates (fsec_fleet_chain_pem): the issuing CA, the
 * root, and any previous issuing CA or root still in use after a rotation
 * or rollover, whose devices keep connecting until they renew. All are
 * served at /cacerts; all but the cross certificates are anchors. */
static enum fsec_err load_fleet_cas(struct fsec_est *e, struct trust *t)
{
	char *pem = NULL;
	BIO *mem = NULL;
	X509 *cert;
	enum fsec_err rc = fsec_fleet_chain_pem(e->f, &pem);

	if (rc != FSEC_OK)
		return rc;
	rc = FSEC_ERR_PARSE;
	if ((mem = BIO_new_mem_buf(pem, -1)) == NULL)
		goto out;
	while ((cert = PEM_read_bio_X509(mem, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(t->cas, cert)) {
			X509_free(cert);
			goto out;
		}
	}
	ERR_clear_error();
	for (int i = 0; i < sk_X509_num(t->cas); i++) {
		cert = sk_X509_value(t->cas, i);
		if (!is_cross(cert, t->cas) &&
		    ((rc = store_add(t->fleet_store, cert)) != FSEC_OK ||
		     (rc = store_add(t->tls_store, cert)) != FSEC_OK))
			goto out;
	}
	rc = sk_X509_num(t->cas) >= 2 ? FSEC_OK
				       : fsec_seterr(FSEC_ERR_PARSE, "the fleet's CA chain is damaged");
out:
	BIO_free(mem);
	free(pem);
	return rc;
}

static void trust_free(struct trust *t)
{
	X509_STORE_free(t->fleet_store);
	X509_STORE_free(t->mfr_store);
	X509_STORE_free(t->tls_store);
	sk_X509_pop_free(t->cas, X509_free);
	sk_X509_pop_free(t->mfr, X509_free);
	memset(t, 0, sizeof(*t));
}

static enum fsec_err trust_load(struct fsec_est *e, struct trust *t)
{
	enum fsec_err rc;

	memset(t, 0, sizeof(*t));
	if ((t->fleet_store = X509_STORE_new()) == NULL || (t->mfr_store = X509_STORE_new()) == NULL ||
	    (t->tls_store = X509_STORE_new()) == NULL || (t->cas = sk_X509_new_null()) == NULL ||
	    (t->mfr = sk_X509_new_null()) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if ((rc = load_fleet_cas(e, t)) != FSEC_OK ||
	    (rc = fsec_registry_enroll_ca_list(e->reg, load_mfr_ca, t)) != FSEC_OK)
		goto fail;
	if (t->damaged) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "a manufacturer CA in the registry does not load");
		goto fail;
	}
	return FSEC_OK;
fail:
	trust_free(t);
	return rc;
}

static bool same_certs(STACK_OF(X509) *a, STACK_OF(X509) *b)
{
	if (sk_X509_num(a) != sk_X509_num(b))
		return false;
	for (int i = 0; i < sk_X509_num(a); i++)
		if (X509_cmp(sk_X509_value(a, i), sk_X509_value(b, i)) != 0)
			return false;
	return true;
}

FSEC_API enum fsec_err fsec_est_refresh(struct fsec_est *e, bool *trust_changed)
{
	struct trust t;
	uint64_t v = 0;
	enum fsec_err rc;

	*trust_changed = false;
	if (e->feed == FEED_LOST)
		return fsec_seterr(FSEC_ERR_UNAVAILABLE, "the registry's change feed is down: a "
				   "revocation may have been missed");
	if (e->feed == FEED_UP)
		return FSEC_OK;
	if (e->feed == FEED_NONE) {
		if ((rc = fsec_registry_data_version(e->reg, &v)) != FSEC_OK)
			return rc;
		if (v == e->data_version)
			return FSEC_OK;
	}
	/* Any commit by any process may have revoked someone. */
	memset(e->cache, 0, sizeof(e->cache));
	/* A failed reload is tried again at the next call: the version is
	 * recorded only once the trust matches it. */
	if ((rc = trust_load(e, &t)) != FSEC_OK)
		return rc;
	e->data_version = v;
	if (e->feed == FEED_STALE)
		e->feed = FEED_UP;
	/* A rotation (`fleetsec ca rotate` logs an event, so the version
	 * moved) changes the fleet's CAs. */
	if (same_certs(t.mfr, e->t.mfr) && same_certs(t.cas, e->t.cas)) {
		trust_free(&t);
		return FSEC_OK;
	}
	trust_free(&e->t);
	e->t = t;
	*trust_changed = true;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_est_new(struct fsec_fleet *f, struct fsec_est **out)
{
	struct fsec_est *e = calloc(1, sizeof(*e));
	enum fsec_err rc;

	if (e == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	e->f = f;
	e->reg = fsec_fleet_get_registry(f);
	e->lim = (struct fsec_est_limits){.renew_after_percent = 50, .renewals_per_day = 4,
					  .refusals_per_minute = 10};
	if ((rc = fsec_ratelimit_new(e->lim.refusals_per_minute, 60, 256, &e->refusal_rl)) !=
		    FSEC_OK ||
	    (rc = trust_load(e, &e->t)) != FSEC_OK ||
	    (rc = fsec_registry_data_version(e->reg, &e->data_version)) != FSEC_OK) {
		fsec_est_free(e);
		return rc;
	}
	*out = e;
	return FSEC_OK;
}

FSEC_API void fsec_est_free(struct fsec_est *e)
{
	if (e == NULL)
		return;
	trust_free(&e->t);
	fsec_ratelimit_free(e->refusal_rl);
	free(e);
}

FSEC_API void fsec_est_set_limits(struct fsec_est *e, const struct fsec_est_limits *l)
{
	e->lim = *l;
	if (e->lim.renew_after_percent > FSEC_RENEW_AFTER_MAX)
		e->lim.renew_after_percent = FSEC_RENEW_AFTER_MAX;
	if (e->lim.renewals_per_day == 0)
		e->lim.renewals_per_day = 1;
	if (e->lim.refusals_per_minute == 0)
		e->lim.refusals_per_minute = 1;
	fsec_ratelimit_set(e->refusal_rl, e->lim.refusals_per_minute, 60);
}

FSEC_API void fsec_est_set_manual_approval(struct fsec_est *e, bool manual)
{
	e->manual = manual;
}

FSEC_API enum fsec_err fsec_est_approve(struct fsec_fleet *f, const char *device_id,
					const char *key_sha256, const char *actor)
{
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		return rc;
	if ((rc = fsec_registry_pending_approve(reg, device_id, key_sha256,
						actor != NULL ? actor : "unknown",
						(int64_t)time(NULL))) != FSEC_OK ||
	    (rc = fsec_registry_event_addf(reg, actor, "enroll-approve", device_id, "key=%.64s",
					   key_sha256)) != FSEC_OK ||
	    (rc = fsec_registry_commit(reg)) != FSEC_OK)
		fsec_registry_rollback(reg);
	return rc;
}

FSEC_API enum fsec_err fsec_est_reject(struct fsec_fleet *f, const char *device_id, bool dry_run,
				       const char *actor, struct fsec_enroll_pending_rec *out)
{
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct fsec_enroll_pending_rec p;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		return rc;
	/* The credential that asked is spent, as an enrollment would spend
	 * it: the same bootstrap certificate asking again is then refused as
	 * a replay instead of waiting for the operator a second time. */
	if ((rc = fsec_registry_pending_get(reg, device_id, &p)) == FSEC_ERR_NOTFOUND)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no enrollment of %s is waiting", device_id);
	if (rc == FSEC_OK && p.approved_at != 0)
		rc = fsec_seterr(FSEC_ERR_EXISTS, "the enrollment of %s was approved already",
				 device_id);
	if (rc == FSEC_OK &&
	    (rc = fsec_registry_pending_delete(reg, device_id)) == FSEC_OK &&
	    (rc = fsec_registry_bootstrap_spend(reg, p.bootstrap_fp, "enroll", device_id,
						(int64_t)time(NULL), "")) == FSEC_OK)
		rc = fsec_registry_event_addf(reg, actor, "enroll-reject", device_id,
					      "key=%s bootstrap=%s", p.spki_sha256, p.bootstrap_fp);
	if (rc != FSEC_OK || dry_run || (rc = fsec_registry_commit(reg)) != FSEC_OK)
		fsec_registry_rollback(reg);
	if (rc == FSEC_OK)
		*out = p;
	return rc;
}

FSEC_API X509_STORE *fsec_est_tls_store(struct fsec_est *e)
{
	X509_STORE_up_ref(e->t.tls_store);
	return e->t.tls_store;
}

FSEC_API STACK_OF(X509_NAME) *fsec_est_client_ca_names(struct fsec_est *e)
{
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
	STACK_OF(X509) *lists[2] = {e->t.cas, e->t.mfr};

	for (int l = 0; names != NULL && l < 2; l++)
		for (int i = 0; i < sk_X509_num(lists[l]); i++) {
			X509_NAME *n = X509_NAME_dup(X509_get_subject_name(sk_X509_value(lists[l], i)));

			if (n == NULL || !sk_X509_NAME_push(names, n)) {
				X509_NAME_free(n);
				sk_X509_NAME_pop_free(names, X509_NAME_free);
				return NULL;
			}
		}
	return names;
}

FSEC_API enum fsec_err fsec_est_refresh_tls(struct fsec_est *e, SSL_CTX *ctx)
{
	STACK_OF(X509_NAME) *names;
	X509_STORE *st;
	bool changed = false;
	enum fsec_err rc = fsec_est_refresh(e, &changed);

	if (rc != FSEC_OK || !changed)
		return rc;
	if ((st = fsec_est_tls_store(e)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	SSL_CTX_set1_cert_store(ctx, st);
	X509_STORE_free(st);
	/* Without memory for the names, the old list stays: it only tells
	 * clients which certificate to pick. */
	if ((names = fsec_est_client_ca_names(e)) != NULL)
		SSL_CTX_set_client_CA_list(ctx, names);
	return FSEC_OK;
}

/* ---- peers ---- */

/* Verify cert (with the client's chain) up to an anchor in st for TLS client
 * use; on success copy the anchor's fingerprint if asked. */
static bool verify_with(X509_STORE *st, X509 *cert, STACK_OF(X509) *chain, char anchor_fp[65])
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = ctx != NULL && X509_STORE_CTX_init(ctx, st, cert, chain) == 1 &&
		  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) == 1 &&
		  X509_verify_cert(ctx) == 1;

	if (ok && anchor_fp != NULL) {
		STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(ctx);

		ok = fsec_cert_fingerprint(sk_X509_value(built, sk_X509_num(built) - 1), anchor_fp) ==
		     FSEC_OK;
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

static void refuse_peer(struct fsec_est_peer *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void refuse_peer(struct fsec_est_peer *p, const char *fmt, ...)
{
	va_list ap;

	p->kind = FSEC_EST_PEER_REFUSED;
	va_start(ap, fmt);
	vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
	va_end(ap);
}

/* What the registry says of one certificate of a device. */
struct cert_state {
	const char *serial;
	bool found, revoked;
	int reason;
};

static int find_cert(const struct fsec_cert_rec *rec, void *ctx)
{
	struct cert_state *st = ctx;

	if (strcmp(rec->serial, st->serial) != 0)
		return 0;
	st->found = true;
	st->revoked = rec->revoked;
	st->reason = rec->reason;
	return 1;
}

/* A device certificate that is current and active: a device, unless a
 * tamper report came through it. The device destroyed its key then, so
 * whoever uses the certificate since holds a copy: it is refused
 * everything, renewal included (a renewal would end the mark), until the
 * operator revokes or re-provisions the device. */
static enum fsec_err tampered(struct fsec_est *e, struct fsec_est_peer *p)
{
	struct fsec_tamper_rec t;
	char when[FSEC_TIME_LEN];
	enum fsec_err rc = fsec_registry_tamper_get(e->reg, p->id, &t);

	if (rc == FSEC_ERR_NOTFOUND || (rc == FSEC_OK && strcmp(t.serial, p->serial) != 0)) {
		fsec_clearerr();
		p->kind = FSEC_EST_PEER_DEVICE;
		return FSEC_OK;
	}
	if (rc != FSEC_OK)
		return rc;
	refuse_peer(p, "device %s reported a tamper event at %s through certificate %s; "
		       "re-provision it",
		    p->id, fsec_time_format(t.at, when), p->serial);
	return FSEC_OK;
}

FSEC_API void fsec_est_forget_peers(struct fsec_est *e)
{
	memset(e->cache, 0, sizeof(e->cache));
}

FSEC_API void fsec_est_feed(struct fsec_est *e, enum fsec_est_feed_state st)
{
	/* Nothing cached before or during an outage is kept. */
	memset(e->cache, 0, sizeof(e->cache));
	e->feed = st == FSEC_EST_FEED_LOST ? FEED_LOST : FEED_STALE;
}

/*
 * A self-signed certificate (issue 18): the TLS handshake proved the client
 * holds its key, so it stands for that key and nothing else. It is a peer
 * only when an operator paired exactly that key and the pairing is unused
 * and unexpired; its subject and serial say nothing.
 */
static enum fsec_err classify_self_signed(struct fsec_est *e, X509 *cert, STACK_OF(X509) *chain,
					  struct fsec_est_peer *p)
{
	struct fsec_pairing_rec pr;
	int64_t now = (int64_t)time(NULL);
	EVP_PKEY *key = X509_get0_pubkey(cert);
	enum fsec_err rc;

	if (sk_X509_num(chain) > 1 || key == NULL || X509_self_signed(cert, 1) != 1 ||
	    X509_cmp_time(X509_get0_notAfter(cert), NULL) <= 0 ||
	    X509_cmp_time(X509_get0_notBefore(cert), NULL) >= 0) {
		ERR_clear_error();
		refuse_peer(p, "client certificate is not from the fleet CA or a trusted manufacturer");
		return FSEC_OK;
	}
	if ((rc = fsec_key_spki_sha256(key, p->key_sha256)) != FSEC_OK)
		return rc;
	rc = fsec_registry_pairing_get(e->reg, p->key_sha256, &pr);
	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
		refuse_peer(p, "self-signed client certificate: key %.16s... is not paired",
			    p->key_sha256);
		return FSEC_OK;
	}
	if (rc != FSEC_OK)
		return rc;
	snprintf(p->id, sizeof(p->id), "%s", pr.device_id);
	if (pr.used_at != 0)
		refuse_peer(p, "self-signed client certificate: the pairing of %s was used already",
			    pr.device_id);
	else if (pr.expires_at <= now)
		refuse_peer(p, "self-signed client certificate: the pairing of %s expired",
			    pr.device_id);
	else
		p->kind = FSEC_EST_PEER_PAIRED;
	return FSEC_OK;
}

/* The registry's record of a role certificate, found by serial. */
struct role_find {
	const char *serial;
	struct fsec_server_cert_rec rec;
	bool found;
};

static int find_role_cert(const struct fsec_server_cert_rec *c, void *arg)
{
	struct role_find *rf = arg;

	if (strcmp(c->serial, rf->serial) != 0)
		return 0;
	rf->rec = *c;
	rf->found = true;
	return 1;
}

/*
 * A role certificate (role and name from fsec_identity_role_from_cert, its
 * chain verified to the fleet CA) is a peer when the registry recorded
 * exactly it (serial and SHA-256 fingerprint: one the fleet CA issued with
 * `ca client-cert`, and not a device certificate's twin) for that role and
 * name, unrevoked and unexpired.
 */
static enum fsec_err classify_role(struct fsec_est *e, X509 *cert, const char *role,
				   const char *name, struct fsec_est_peer *p)
{
	struct role_find rf = {.serial = p->serial};
	enum fsec_err rc;

	/* A serial longer than the fleet CA writes: not one it issued. */
	if (fsec_cert_serial_hex(cert, p->serial) != FSEC_OK) {
		fsec_clearerr();
		refuse_peer(p, "%s certificate of %s: not one the fleet issued", role, name);
		return FSEC_OK;
	}
	if ((rc = fsec_registry_server_cert_list(e->reg, (int64_t)time(NULL), false,
						 find_role_cert, &rf)) != FSEC_OK)
		return rc;
	if (!rf.found || strcmp(rf.rec.role, role) != 0 || strcmp(rf.rec.name, name) != 0 ||
	    CRYPTO_memcmp(rf.rec.fingerprint, p->fingerprint, sizeof(p->fingerprint)) != 0) {
		refuse_peer(p, "%s certificate %s of %s: not one the fleet issued (or expired)",
			    role, p->serial, name);
		return FSEC_OK;
	}
	if (rf.rec.revoked) {
		refuse_peer(p, "%s certificate %s of %s is revoked", role, p->serial, name);
		return FSEC_OK;
	}
	/* Role and name were checked: "operator:" and 32 characters fit. */
	snprintf(p->id, sizeof(p->id), "%s:%s", role, name);
	snprintf(p->role, sizeof(p->role), "%s", role);
	p->kind = FSEC_EST_PEER_ROLE;
	return FSEC_OK;
}

/* The uncached check. */
static enum fsec_err classify(struct fsec_est *e, X509 *cert, STACK_OF(X509) *chain,
			      struct fsec_est_peer *p)
{
	struct fsec_device_rec dev;
	struct tm tm;
	enum fsec_err rc;

	/* Cached answers are good until the certificate expires. */
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm))
		p->not_after = (int64_t)timegm(&tm);
	if (verify_with(e->t.fleet_store, cert, chain, NULL)) {
		char role[FSEC_ROLE_MAX], name[FSEC_ROLE_NAME_MAX + 1];

		/* One identity per certificate (identity.h): a role URI makes it
		 * a role client's, whatever else it says. */
		rc = fsec_identity_role_from_cert(cert, role, name);
		if (rc == FSEC_OK)
			return classify_role(e, cert, role, name, p);
		if (rc != FSEC_ERR_NOTFOUND) {
			refuse_peer(p, "a role certificate refused: %s", fsec_err_detail());
			fsec_clearerr();
			return FSEC_OK;
		}
		fsec_clearerr();
		if (fsec_identity_from_cert(cert, p->id) != FSEC_OK) {
			refuse_peer(p, "client certificate names no device: %s", fsec_err_detail());
			return FSEC_OK;
		}
		rc = fsec_registry_device_get(e->reg, p->id, &dev);
		if (rc == FSEC_ERR_NOTFOUND) {
			refuse_peer(p, "device %s is not registered", p->id);
			return FSEC_OK;
		}
		if (rc != FSEC_OK || (rc = fsec_cert_serial_hex(cert, p->serial)) != FSEC_OK)
			return rc;
		if (dev.status != FSEC_DEVICE_ACTIVE) {
			refuse_peer(p, "device %s is revoked", p->id);
		} else if (strcmp(dev.serial, p->serial) != 0) {
			struct cert_state st = {.serial = p->serial};
			struct fsec_cert_filter f = {.device_id = p->id};

			/* Only a certificate that a renewal or a reissue retired
			 * (unrevoked, or revoked as superseded) may reach the
			 * resend; one revoked for key compromise stays refused
			 * even after the device was given a new certificate. */
			if ((rc = fsec_registry_cert_list(e->reg, &f, find_cert, &st)) != FSEC_OK)
				return rc;
			if (!st.found || (st.revoked && st.reason != CRL_REASON_SUPERSEDED)) {
				refuse_peer(p, "certificate %s of device %s is revoked", p->serial,
					    p->id);
			} else {
				refuse_peer(p,
					    "certificate %s is no longer device %s's (superseded)",
					    p->serial, p->id);
				p->superseded = true;
			}
		} else if ((rc = tampered(e, p)) != FSEC_OK) {
			return rc;
		}
		return FSEC_OK;
	}
	if (verify_with(e->t.mfr_store, cert, chain, p->ca_fingerprint)) {
		/* Read strictly (identity.h): a serial cut at a NUL or at 64
		 * characters would enrol as another device's ID. */
		if (fsec_identity_bootstrap_serial(X509_get_subject_name(cert), p->id) != FSEC_OK) {
			p->id[0] = '\0';
			refuse_peer(p, "bootstrap certificate refused: %s", fsec_err_detail());
			p->bad_bootstrap = true;
			fsec_clearerr();
		} else {
			p->kind = FSEC_EST_PEER_BOOTSTRAP;
		}
		return FSEC_OK;
	}
	return classify_self_signed(e, cert, chain, p);
}

FSEC_API enum fsec_err fsec_est_peer(struct fsec_est *e, X509 *cert, STACK_OF(X509) *chain,
				     struct fsec_est_peer *out)
{
	struct fsec_est_peer p, *slot;
	unsigned char md[32];
	unsigned int mdlen = 0;
	bool changed;
	enum fsec_err rc;

	memset(&p, 0, sizeof(p));
	if (cert == NULL) {
		*out = p;
		return FSEC_OK;
	}
	if ((rc = fsec_est_refresh(e, &changed)) != FSEC_OK)
		return rc;
	if (!X509_digest(cert, EVP_sha256(), md, &mdlen) || mdlen != sizeof(md))
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot hash the client certificate");
	fsec_hex(md, sizeof(md), p.fingerprint);
	slot = &e->cache[(((size_t)md[0] << 8) | md[1]) % PEER_CACHE];
	if (slot->kind != FSEC_EST_PEER_NONE && strcmp(slot->fingerprint, p.fingerprint) == 0 &&
	    slot->not_after > (int64_t)time(NULL)) {
		*out = *slot;
		return FSEC_OK;
	}
	if ((rc = classify(e, cert, chain, &p)) != FSEC_OK)
		return rc;
	/* A pairing expires by the clock, not by a commit: a paired key is
	 * looked up again at every request. A refusal without the chain the
	 * client sent (a broker asking about a certificate) is not kept
	 * either: with its intermediates, the certificate's own TLS
	 * connection may well pass. */
	if (p.key_sha256[0] == '\0' && (chain != NULL || p.kind != FSEC_EST_PEER_REFUSED))
		*slot = p;
	*out = p;
	return FSEC_OK;
}

/* ---- replies ---- */

/* A certs-only CMS SignedData (no signers, RFC 5652 degenerate case) holding
 * certs, base64 with line breaks, as RFC 7030 section 4.1.3 returns it. */
static enum fsec_err certs_only(X509 *const *certs, size_t n, struct fsec_reply *r)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	enum fsec_err rc = FSEC_ERR_CRYPTO;
	int len = 0;

	if (p7 == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !PKCS7_content_new(p7, NID_pkcs7_data))
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!PKCS7_add_certificate(p7, certs[i]))
			goto out;
	if ((len = i2d_PKCS7(p7, &der)) <= 0)
		goto out;
	if ((r->body = fsec_b64_encode_lines(der, (size_t)len, &r->len)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	r->status = 200;
	r->content_type = "application/pkcs7-mime; smime-type=certs-only";
	rc = FSEC_OK;
out:
	if (rc == FSEC_ERR_CRYPTO)
		fsec_seterr_ossl(rc, "cannot encode the CMS response");
	OPENSSL_free(der);
	PKCS7_free(p7);
	return rc;
}

FSEC_API enum fsec_err fsec_est_cacerts(struct fsec_est *e, struct fsec_reply *r)
{
	X509 *certs[FSEC_EST_CACERTS_MAX];
	int n = sk_X509_num(e->t.cas);

	memset(r, 0, sizeof(*r));
	/* The fleet keeps at most 8 previous issuing CAs and 4 previous
	 * roots, so this never cuts. */
	if (n > FSEC_EST_CACERTS_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "more than %d CA certificates",
				   FSEC_EST_CACERTS_MAX);
	for (int i = 0; i < n; i++)
		certs[i] = sk_X509_value(e->t.cas, i);
	return certs_only(certs, (size_t)n, r);
}

FSEC_API enum fsec_err fsec_est_csrattrs(struct fsec_reply *r)
{
	/* CsrAttrs (RFC 7030 section 4.5.2) in DER: SEQUENCE {
	 *   OID ecdsa-with-SHA256 (1.2.840.10045.4.3.2),
	 *   Attribute { id-ecPublicKey (1.2.840.10045.2.1), SET { prime256v1 } } } */
	static const unsigned char der[] = {
		0x30, 0x21, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
		0x30, 0x15, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x31,
		0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
	};

	memset(r, 0, sizeof(*r));
	if ((r->body = fsec_b64_encode_lines(der, sizeof(der), &r->len)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	r->status = 200;
	r->content_type = "application/csrattrs";
	return FSEC_OK;
}

/* ---- enrollment ---- */

struct allow_match {
	const char *serial;
	bool found;
	char model[FSEC_MODEL_MAX + 1];
};

static int match_pattern(const char *pattern, const char *model, void *arg)
{
	struct allow_match *m = arg;

	m->found = fnmatch(pattern, m->serial, 0) == 0;
	if (m->found)
		snprintf(m->model, sizeof(m->model), "%s", model);
	return m->found;
}

/* What an allowed request will do. */
struct decision {
	const char *use; /* bootstrap: "enroll" or "re-enroll"; "pair"; NULL: a renewal */
	bool resend;     /* this credential already enrolled this device: a retry */
	bool early;      /* a renewal the operator allowed (uses the allowance up) */
	char model[FSEC_MODEL_MAX + 1];          /* from the allowlist; "": keep */
	char provisioning[FSEC_MODEL_MAX + 1];   /* recorded in the registry */
	char group[FSEC_GROUP_MAX + 1];          /* pairing: the device's group */
};

/* Whether the peer's bootstrap credential is the one that enrolled (or
 * re-enrolled) device id. */
static enum fsec_err enrolled_with(struct fsec_est *e, const struct fsec_est_peer *p,
				   const char *id, bool *yes)
{
	static const char *const uses[] = {"enroll", "re-enroll"};
	char owner[FSEC_DEVID_MAX + 1];
	enum fsec_err rc = FSEC_OK;

	*yes = false;
	for (size_t i = 0; i < 2 && !*yes; i++) {
		rc = fsec_registry_bootstrap_spent(e->reg, p->fingerprint, uses[i], owner);
		if (rc == FSEC_ERR_NOTFOUND)
			rc = FSEC_OK;
		else if (rc == FSEC_OK)
			*yes = strcmp(owner, id) == 0;
		else
			return rc;
	}
	fsec_clearerr();
	return rc;
}

/* The policy checks for a bootstrap peer before anything is spent. Sets r,
 * or d->use: "enroll" for a new device, "re-enroll" to recover one whose
 * certificate expired. */
static enum fsec_err bootstrap_policy(struct fsec_est *e, const struct fsec_est_peer *p,
				      struct fsec_reply *r, struct decision *d)
{
	struct allow_match m = {.serial = p->id};
	struct fsec_device_rec dev;
	bool same = false;
	enum fsec_err rc;

	if ((rc = fsec_registry_enroll_allow_list(e->reg, p->ca_fingerprint, match_pattern, &m)) !=
	    FSEC_OK)
		return rc;
	if (!m.found) {
		fsec_reply_error(r, 403, "serial %s is not on the enrollment allowlist", p->id);
		return FSEC_OK;
	}
	memcpy(d->model, m.model, sizeof(d->model));
	rc = fsec_registry_device_get(e->reg, p->id, &dev);
	if (rc == FSEC_ERR_NOTFOUND) {
		char owner[FSEC_DEVID_MAX + 1];

		/* A credential spent with no device behind it was rejected by
		 * the operator (enroll reject): it must not wait a second time. */
		if ((rc = fsec_registry_bootstrap_spent(e->reg, p->fingerprint, "enroll", owner)) ==
		    FSEC_OK) {
			fsec_reply_error(r, 403, "bootstrap certificate already used for %s "
						 "(enrolled or rejected)", owner);
			return FSEC_OK;
		}
		if (rc != FSEC_ERR_NOTFOUND)
			return rc;
		fsec_clearerr();
		d->use = "enroll";
		return FSEC_OK;
	}
	if (rc != FSEC_OK)
		return rc;
	if (dev.status != FSEC_DEVICE_ACTIVE) {
		fsec_reply_error(r, 403, "device %s is revoked", p->id);
		return FSEC_OK;
	}
	/* Only the credential that enrolled the device speaks for it again: a
	 * live device's lost answer is re-sent (if the CSR shows its key, which
	 * the caller checks), an expired one may re-enrol once. Any other
	 * credential for the same serial, from whatever allowlisted CA, cannot
	 * take the identity over. */
	if ((rc = enrolled_with(e, p, dev.id, &same)) != FSEC_OK)
		return rc;
	if (!same)
		fsec_reply_error(r, dev.expires_at > (int64_t)time(NULL) ? 409 : 403,
				 "device %s is already enrolled%s", p->id,
				 dev.expires_at > (int64_t)time(NULL)
					 ? "; renew with simplereenroll"
					 : ", and not with this bootstrap credential");
	else if (dev.expires_at > (int64_t)time(NULL))
		d->resend = true;
	else
		d->use = "re-enroll";
	return FSEC_OK;
}

/* The policy checks for a paired peer before anything is spent: a new
 * device only (a paired key never takes over a registered ID). */
static enum fsec_err pairing_policy(struct fsec_est *e, const struct fsec_est_peer *p,
				    struct fsec_reply *r, struct decision *d)
{
	struct fsec_pairing_rec pr;
	struct fsec_device_rec dev;
	enum fsec_err rc = fsec_registry_device_get(e->reg, p->id, &dev);

	if (rc == FSEC_OK) {
		fsec_reply_error(r, 409, "device %s is already enrolled", p->id);
		return FSEC_OK;
	}
	if (rc != FSEC_ERR_NOTFOUND)
		return rc;
	fsec_clearerr();
	if ((rc = fsec_registry_pairing_get(e->reg, p->key_sha256, &pr)) != FSEC_OK)
		return rc;
	memcpy(d->model, pr.model, sizeof(d->model));
	memcpy(d->group, pr.group, sizeof(d->group));
	snprintf(d->provisioning, sizeof(d->provisioning), "pairing");
	d->use = "pair";
	return FSEC_OK;
}

/* Inside the issuing transaction: the device is still what the request
 * assumed. A renewal needs the device active with the presented certificate
 * current; a first enrollment needs no device; a re-enrollment an active
 * device whose certificate has expired. Sets r otherwise. */
static enum fsec_err still_allowed(struct fsec_est *e, const struct fsec_est_peer *p,
				   const char *use, struct fsec_reply *r)
{
	struct fsec_device_rec dev;
	enum fsec_err rc = fsec_registry_device_get(e->reg, p->id, &dev);
	bool exists = rc == FSEC_OK;

	if (rc != FSEC_OK && rc != FSEC_ERR_NOTFOUND)
		return rc;
	fsec_clearerr();
	if (use == NULL) {
		if (!exists || dev.status != FSEC_DEVICE_ACTIVE || strcmp(dev.serial, p->serial) != 0)
			fsec_reply_error(r, 403, "device %s was revoked or renewed meanwhile", p->id);
	} else if (strcmp(use, "enroll") == 0 || strcmp(use, "pair") == 0) {
		if (exists)
			fsec_reply_error(r, 409, "device %s was enrolled meanwhile", p->id);
	} else if (!exists || dev.status != FSEC_DEVICE_ACTIVE ||
		   dev.expires_at > (int64_t)time(NULL)) {
		fsec_reply_error(r, 403, "device %s was revoked or re-enrolled meanwhile", p->id);
	}
	return FSEC_OK;
}

/* Issue for csr inside one transaction with the bootstrap spend, so that a
 * failure leaves the credential unspent and no certificate behind. */
static enum fsec_err issue(struct fsec_est *e, const struct fsec_est_peer *p, X509_REQ *csr,
			   const struct decision *d, struct fsec_reply *r)
{
	struct fsec_issue_opts o = {.id = p->id, .actor = ACTOR};
	const char *use = d->use;
	struct fsec_issued_cert cert = {0};
	const unsigned char *q;
	X509 *x = NULL;
	enum fsec_err rc;

	o.reissue = use == NULL || strcmp(use, "re-enroll") == 0;
	o.provisioning = d->provisioning;
	o.model = d->model[0] != '\0' ? d->model : NULL;
	if ((rc = fsec_registry_begin(e->reg)) != FSEC_OK)
		return rc;
	/* The checks so far read the registry before this transaction: decide
	 * again inside it, so that a revocation committed meanwhile wins and a
	 * revoked device is never re-activated by a renewal. */
	if ((rc = still_allowed(e, p, use, r)) != FSEC_OK || r->status != 0) {
		fsec_registry_rollback(e->reg);
		return rc;
	}
	/* The allowance is spent with the certificate it bought, or not at all. */
	if (d->early) {
		rc = fsec_registry_renew_allow_take(e->reg, p->id);
		if (rc == FSEC_ERR_NOTFOUND) {
			fsec_registry_rollback(e->reg);
			fsec_clearerr();
			fsec_reply_error(r, 403, "renewal of %s: its early-renewal allowance was used "
						 "meanwhile",
					 p->id);
			return FSEC_OK;
		}
		if (rc != FSEC_OK ||
		    (rc = fsec_registry_event_addf(e->reg, ACTOR, "renew-allowed", p->id,
						   "early-renewal allowance used by %s",
						   p->serial)) != FSEC_OK)
			goto fail;
	}
	if (use != NULL && strcmp(use, "pair") == 0) {
		/* Spent with the certificate or not at all; only while unused and
		 * unexpired now, so a replay racing this one issues nothing. */
		rc = fsec_registry_pairing_spend(e->reg, p->key_sha256, (int64_t)time(NULL));
		if (rc == FSEC_ERR_NOTFOUND) {
			fsec_registry_rollback(e->reg);
			fsec_clearerr();
			fsec_reply_error(r, 403, "the pairing of %s was used or expired meanwhile "
						 "(replay)", p->id);
			return FSEC_OK;
		}
		if (rc != FSEC_OK ||
		    (rc = fsec_registry_event_addf(e->reg, ACTOR, "pairing-used", p->id,
						   "key=%s", p->key_sha256)) != FSEC_OK)
			goto fail;
	} else if (use != NULL) {
		rc = fsec_registry_bootstrap_spend(e->reg, p->fingerprint, use, p->id,
						   (int64_t)time(NULL), p->ca_fingerprint);
		if (rc == FSEC_ERR_EXISTS) {
			fsec_registry_rollback(e->reg);
			fsec_reply_error(r, 403, "bootstrap certificate already used to %s (replay)", use);
			return FSEC_OK;
		}
		if (rc != FSEC_OK)
			goto fail;
	}
	rc = fsec_fleet_issue(e->f, csr, &o, &cert);
	if (rc == FSEC_OK && d->group[0] != '\0')
		rc = fsec_registry_group_set(e->reg, p->id, d->group);
	/* An approval is for one enrollment: a later one asks again. */
	if (rc == FSEC_OK && e->manual && use != NULL)
		rc = fsec_registry_pending_delete(e->reg, p->id);
	if (rc == FSEC_ERR_POLICY || rc == FSEC_ERR_EXISTS) {
		fsec_registry_rollback(e->reg);
		fsec_reply_error(r, 403, "%s", fsec_err_detail());
		return FSEC_OK;
	}
	if (rc != FSEC_OK || (rc = fsec_registry_commit(e->reg)) != FSEC_OK)
		goto fail;
	/* data_version sees other connections' commits, not this one's: the
	 * certificate this superseded must not stay cached as valid. */
	memset(e->cache, 0, sizeof(e->cache));
	q = cert.der;
	if ((x = d2i_X509(NULL, &q, (long)cert.der_len)) == NULL) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot decode the issued certificate");
	} else {
		rc = certs_only(&x, 1, r);
		snprintf(r->reason, sizeof(r->reason), "issued %s", cert.serial);
	}
	X509_free(x);
	fsec_issued_cert_cleanup(&cert);
	return rc;
fail:
	fsec_registry_rollback(e->reg);
	return rc;
}

/* The device's current certificate again, if csr is for its key. */
static enum fsec_err resend(struct fsec_est *e, const struct fsec_est_peer *p, X509_REQ *csr,
			    struct fsec_reply *r)
{
	struct fsec_device_rec dev;
	char spki[65], *pem = NULL;
	X509 *cur = NULL;
	enum fsec_err rc;

	if ((rc = fsec_registry_device_get(e->reg, p->id, &dev)) != FSEC_OK ||
	    (rc = fsec_key_spki_sha256(X509_REQ_get0_pubkey(csr), spki)) != FSEC_OK)
		return rc;
	if (strcmp(spki, dev.spki_sha256) != 0 || dev.status != FSEC_DEVICE_ACTIVE) {
		if (p->superseded)
			fsec_reply_error(r, 403, "%s", p->reason);
		else
			fsec_reply_error(r, 409, "device %s is already enrolled with another key; "
						 "renew with simplereenroll",
					 p->id);
		return FSEC_OK;
	}
	if ((rc = fsec_registry_cert_pem(e->reg, dev.serial, &pem)) == FSEC_OK &&
	    (rc = fsec_pem_cert_parse(pem, strlen(pem), "registry", &cur)) == FSEC_OK &&
	    (rc = certs_only(&cur, 1, r)) == FSEC_OK)
		snprintf(r->reason, sizeof(r->reason), "re-sent %s", dev.serial);
	X509_free(cur);
	free(pem);
	return rc;
}

/*
 * Manual approval: the first request that passes every check is recorded
 * and told to come back (202); once approved, the request with the approved
 * key goes through. Sets r unless the request may proceed.
 */
static enum fsec_err await_approval(struct fsec_est *e, const struct fsec_est_peer *p,
				    X509_REQ *csr, const struct decision *d, struct fsec_reply *r)
{
	struct fsec_enroll_pending_rec rec;
	char spki[65];
	enum fsec_err rc;

	if ((rc = fsec_key_spki_sha256(X509_REQ_get0_pubkey(csr), spki)) != FSEC_OK)
		return rc;
	rc = fsec_registry_pending_get(e->reg, p->id, &rec);
	if (rc != FSEC_OK && rc != FSEC_ERR_NOTFOUND)
		return rc;
	if (rc == FSEC_OK && rec.approved_at != 0) {
		if (strcmp(rec.spki_sha256, spki) == 0 && strcmp(rec.bootstrap_fp, p->fingerprint) == 0)
			return FSEC_OK;
		fsec_reply_error(r, 409, "the enrollment of %s was approved for another key", p->id);
		return FSEC_OK;
	}
	/* One credential per waiting request: a second one for the same serial
	 * (a cloned or overlapping credential) must not replace what the
	 * operator is looking at. */
	if (rc == FSEC_OK && strcmp(rec.bootstrap_fp, p->fingerprint) != 0) {
		fsec_reply_error(r, 403, "another bootstrap credential is already waiting as %s",
				 p->id);
		return FSEC_OK;
	}
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.device_id, sizeof(rec.device_id), "%s", p->id);
	memcpy(rec.bootstrap_fp, p->fingerprint, sizeof(rec.bootstrap_fp));
	memcpy(rec.spki_sha256, spki, sizeof(rec.spki_sha256));
	memcpy(rec.model, d->model, sizeof(rec.model));
	rec.requested_at = (int64_t)time(NULL);
	if ((rc = fsec_registry_pending_put(e->reg, &rec)) != FSEC_OK)
		return rc;
	fsec_reply_error(r, 202, "the enrollment of %s waits for the operator's approval", p->id);
	r->retry_after = RETRY_AFTER_S;
	return FSEC_OK;
}

/* ---- bounds: renewals and refusals (issue 14) ---- */

struct day_count {
	int64_t since, oldest;
	unsigned n;
};

static int count_recent(const struct fsec_cert_rec *rec, void *arg)
{
	struct day_count *dc = arg;

	if (rec->issued_at >= dc->since) {
		dc->n++;
		if (dc->oldest == 0 || rec->issued_at < dc->oldest)
			dc->oldest = rec->issued_at;
	}
	return 0;
}

/*
 * A renewal from the current certificate cur: refused before
 * renew_after_percent of its lifetime has passed (each renewal adds rows
 * that are never deleted, and a CRL entry), and past renewals_per_day,
 * unless the operator allowed one (key compromise), which d->early then
 * spends. Sets r when refused.
 */
static enum fsec_err renewal_policy(struct fsec_est *e, const struct fsec_est_peer *p, X509 *cur,
				    struct fsec_reply *r, struct decision *d)
{
	int64_t now = (int64_t)time(NULL), nb = 0, na = 0, due;
	struct day_count dc = {.since = now - 86400};
	struct fsec_cert_filter f = {.device_id = p->id, .not_expired_at = now - 86400};
	char t[FSEC_TIME_LEN];
	struct tm tm;
	enum fsec_err rc = fsec_registry_renew_allow_get(e->reg, p->id, NULL);

	if (rc == FSEC_OK) {
		d->early = true;
		return FSEC_OK;
	}
	if (rc != FSEC_ERR_NOTFOUND)
		return rc;
	fsec_clearerr();
	if (!ASN1_TIME_to_tm(X509_get0_notBefore(cur), &tm))
		return fsec_seterr(FSEC_ERR_PARSE, "the current certificate's validity is unreadable");
	nb = (int64_t)timegm(&tm);
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(cur), &tm))
		return fsec_seterr(FSEC_ERR_PARSE, "the current certificate's validity is unreadable");
	na = (int64_t)timegm(&tm);
	/* Lifetimes are at most a few thousand days: no overflow. */
	due = nb + (na > nb ? (na - nb) / 100 * (int64_t)e->lim.renew_after_percent : 0);
	if (now < due) {
		fsec_reply_error(r, 403,
				 "renewal not yet due: %s's certificate renews from %s (%u%% of its "
				 "lifetime); 'fleetsec device allow-renew %s' allows one now",
				 p->id, fsec_time_format(due, t), e->lim.renew_after_percent, p->id);
		return FSEC_OK;
	}
	if ((rc = fsec_registry_cert_list(e->reg, &f, count_recent, &dc)) != FSEC_OK)
		return rc;
	if (dc.n >= e->lim.renewals_per_day) {
		fsec_reply_error(r, 429,
				 "daily renewal limit reached: %s got %u certificates in 24 hours "
				 "(renewals_per_day = %u)",
				 p->id, dc.n, e->lim.renewals_per_day);
		r->retry_after = dc.oldest + 86400 - now < 1 ? 1 : (int)(dc.oldest + 86400 - now);
	}
	return FSEC_OK;
}

static size_t source_slot(const char *source)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *source != '\0'; source++)
		h = (h ^ (unsigned char)*source) * 0x100000001b3ull;
	return (size_t)(h % HELD);
}

/*
 * Add rec to the refusal rows, inside the caller's transaction. The first
 * refusal of a credential for a reason is also an "enroll-refused" event,
 * with its reason and source, so that `fleetsec events` (and --follow)
 * shows it; repeats only grow the row's count, so a flood from one
 * credential does not grow the log (issue 14).
 */
static enum fsec_err count_refusal(struct fsec_est *e, const struct fsec_refusal_rec *rec)
{
	bool first = false;
	enum fsec_err rc = fsec_registry_refusal_add(e->reg, rec, &first);

	if (rc != FSEC_OK || !first)
		return rc;
	return fsec_registry_event_addf(e->reg, ACTOR, "enroll-refused", rec->device_id,
					"%s; from %s; credential %s", rec->detail,
					rec->source[0] != '\0' ? rec->source : "unknown",
					rec->credential[0] != '\0' ? rec->credential : "none");
}

/*
 * Count refusal r of op in the registry: one row per (credential, reason
 * class), not one event per request, and at most refusals_per_minute writes
 * (each an fsynced commit) per source address. Past that, refusals of one
 * (credential, reason) are held here and added with the source's next write;
 * any others are not counted.
 */
static enum fsec_err record_refusal(struct fsec_est *e, const struct fsec_est_peer *p,
				    const char *op, const char *source, const struct fsec_reply *r)
{
	struct fsec_refusal_rec rec;
	int64_t now = (int64_t)time(NULL);
	struct held_refusal *h;
	size_t prefix;
	enum fsec_err rc;

	memset(&rec, 0, sizeof(rec));
	if (source == NULL)
		source = "";
	if (p->kind != FSEC_EST_PEER_NONE)
		memcpy(rec.credential, p->fingerprint, sizeof(rec.credential));
	if (fsec_devid_valid(p->id))
		snprintf(rec.device_id, sizeof(rec.device_id), "%s", p->id);
	/* "OP STATUS CLASS": the class fills what the prefix leaves. */
	prefix = (size_t)snprintf(rec.reason, sizeof(rec.reason), "%s %d ", op, r->status);
	if (prefix + 2 > sizeof(rec.reason))
		return fsec_seterr(FSEC_ERR_INVAL, "refusal key too long");
	fsec_refusal_class(r->reason, sizeof(r->reason), rec.reason + prefix,
			   sizeof(rec.reason) - prefix);
	snprintf(rec.detail, sizeof(rec.detail), "%s %d %.200s", op, r->status, r->reason);
	snprintf(rec.source, sizeof(rec.source), "%s", source);
	rec.count = 1;
	rec.first_at = rec.last_at = now;
	h = &e->held[source_slot(rec.source)];
	if (!fsec_ratelimit_take(e->refusal_rl, rec.source, now, NULL)) {
		/* A slot another source left over a minute ago is free again. */
		if (h->rec.count != 0 && strcmp(h->source, rec.source) != 0 &&
		    now - h->rec.last_at > 60)
			h->rec.count = 0;
		if (h->rec.count == 0) {
			memcpy(h->source, rec.source, sizeof(h->source));
			h->rec = rec;
		} else if (strcmp(h->source, rec.source) == 0 &&
			   strcmp(h->rec.credential, rec.credential) == 0 &&
			   strcmp(h->rec.reason, rec.reason) == 0 && h->rec.count < UINT32_MAX) {
			h->rec.count++;
			h->rec.last_at = now;
			memcpy(h->rec.detail, rec.detail, sizeof(rec.detail));
		}
		return FSEC_OK;
	}
	if ((rc = fsec_registry_begin(e->reg)) != FSEC_OK)
		return rc;
	if ((rc = count_refusal(e, &rec)) != FSEC_OK)
		goto fail;
	if (h->rec.count != 0 && strcmp(h->source, rec.source) == 0) {
		if ((rc = count_refusal(e, &h->rec)) != FSEC_OK)
			goto fail;
	}
	if ((rc = fsec_registry_commit(e->reg)) != FSEC_OK)
		goto fail;
	if (strcmp(h->source, rec.source) == 0)
		h->rec.count = 0;
	return FSEC_OK;
fail:
	fsec_registry_rollback(e->reg);
	return rc;
}

FSEC_API enum fsec_err fsec_est_enroll(struct fsec_est *e, const struct fsec_est_peer *p,
				       bool reenroll, const unsigned char *body, size_t len,
				       struct fsec_reply *r)
{
	return fsec_est_enroll_from(e, p, reenroll, NULL, body, len, r);
}

FSEC_API enum fsec_err fsec_est_enroll_from(struct fsec_est *e, const struct fsec_est_peer *p,
					    bool reenroll, const char *source,
					    const unsigned char *body, size_t len,
					    struct fsec_reply *r)
{
	const char *op = reenroll ? "simplereenroll" : "simpleenroll";
	struct decision d = {.provisioning = "est-bootstrap"};
	unsigned char *der = NULL;
	size_t dlen = 0;
	X509_REQ *csr = NULL;
	enum fsec_err rc = FSEC_OK;

	fsec_clearerr();
	memset(r, 0, sizeof(*r));
	/* A renewal from the certificate it superseded is a retry whose answer
	 * was lost: it may only have the current certificate again, and only
	 * with a CSR signed by the current key (resend checks). */
	if (reenroll && p->superseded)
		d.resend = true;
	if (p->kind == FSEC_EST_PEER_NONE)
		fsec_reply_error(r, 401, "%s needs a client certificate", op);
	else if (p->kind == FSEC_EST_PEER_REFUSED && !d.resend)
		fsec_reply_error(r, 403, "%s", p->reason);
	else if (reenroll && p->kind == FSEC_EST_PEER_PAIRED)
		fsec_reply_error(r, 403, "a paired key enrolls with simpleenroll only");
	else if (!reenroll && p->kind == FSEC_EST_PEER_PAIRED) {
		if ((rc = pairing_policy(e, p, r, &d)) != FSEC_OK)
			goto out;
	} else if (!reenroll && p->kind != FSEC_EST_PEER_BOOTSTRAP)
		fsec_reply_error(r, 403, "simpleenroll needs a bootstrap certificate; renew with "
				    "simplereenroll");
	else if (reenroll && p->kind != FSEC_EST_PEER_DEVICE && !d.resend)
		fsec_reply_error(r, 403, "simplereenroll needs the device's current certificate");
	else if (!reenroll && (rc = bootstrap_policy(e, p, r, &d)) != FSEC_OK)
		goto out;
	if (r->status != 0)
		goto refused;
	if (len > FSEC_EST_BODY_MAX) {
		fsec_reply_error(r, 413, "request body over %u bytes", FSEC_EST_BODY_MAX);
		goto refused;
	}
	if (!fsec_b64_decode_lines(body, len, FSEC_CSR_MAX, &der, &dlen)) {
		fsec_reply_error(r, 400, "body is not a base64 PKCS#10 request");
		goto refused;
	}
	if ((rc = fsec_csr_parse(der, dlen, &csr)) != FSEC_OK) {
		fsec_reply_error(r, rc == FSEC_ERR_POLICY ? 403 : 400, "CSR: %s", fsec_err_detail());
		rc = FSEC_OK;
		goto refused;
	}
	if (d.resend) {
		rc = resend(e, p, csr, r);
		goto done;
	}
	if (p->kind == FSEC_EST_PEER_PAIRED) {
		char spki[FSEC_SHA256_HEX_LEN];

		/* The handshake proved the paired key; the certificate must be
		 * for it too, or a man in the middle with the device's session
		 * could have his own key certified. */
		if ((rc = fsec_key_spki_sha256(X509_REQ_get0_pubkey(csr), spki)) != FSEC_OK)
			goto out;
		if (strcmp(spki, p->key_sha256) != 0) {
			fsec_reply_error(r, 403, "the CSR's key is not the paired key of %s", p->id);
			goto refused;
		}
	}
	if (reenroll) {
		/* RFC 7030 section 4.2.2: the subject must be the certificate's. */
		struct fsec_device_rec dev;
		char *pem = NULL;
		X509 *cur = NULL;

		if ((rc = fsec_registry_device_get(e->reg, p->id, &dev)) != FSEC_OK ||
		    (rc = fsec_registry_cert_pem(e->reg, dev.serial, &pem)) != FSEC_OK ||
		    (rc = fsec_pem_cert_parse(pem, strlen(pem), "registry", &cur)) != FSEC_OK) {
			free(pem);
			goto out;
		}
		/* A renewal keeps the record of how the device first got its
		 * identity. */
		snprintf(d.provisioning, sizeof(d.provisioning), "%s", dev.provisioning);
		if (X509_NAME_cmp(X509_REQ_get_subject_name(csr), X509_get_subject_name(cur)) != 0)
			fsec_reply_error(r, 400, "CSR subject differs from the certificate being renewed");
		else
			rc = renewal_policy(e, p, cur, r, &d);
		X509_free(cur);
		free(pem);
		if (rc != FSEC_OK)
			goto out;
		if (r->status != 0)
			goto refused;
	}
	if (e->manual && d.use != NULL && strcmp(d.use, "pair") != 0) {
		if ((rc = await_approval(e, p, csr, &d, r)) != FSEC_OK)
			goto out;
		if (r->status == 202)
			goto out;
		if (r->status != 0)
			goto refused;
	}
	rc = issue(e, p, csr, &d, r);
done:
	if (rc != FSEC_OK || r->status == 200)
		goto out;
refused:
	/* The record is evidence; a failure to write it must not be silent. */
	rc = record_refusal(e, p, op, source, r);
out:
	X509_REQ_free(csr);
	free(der);
	return rc;
}
