/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Release manifests in DSSE envelopes (release.h, docs/RELEASE-FORMAT.md).
 * Everything read here may come from a hostile server: every size, count and
 * string is bounded, unknown keys are refused, and signatures are checked
 * over the exact payload bytes (DSSE's pre-authentication encoding), never
 * over re-serialized JSON.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "b64_int.h"
#include "err_int.h"
#include "json_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/key.h"
#include "fleetsec/release.h"
#include "release_int.h"

#define TYPE_DELEGATION "application/vnd.fleetsec.delegation+json"
#define TYPE_RELEASE "application/vnd.fleetsec.release+json"
#define VERSION_DELEGATION "fleetsec.delegation.v1"
#define VERSION_RELEASE "fleetsec.release.v1"
#define TYPE_TIMESTAMP "application/vnd.fleetsec.timestamp+json"
#define VERSION_TIMESTAMP "fleetsec.timestamp.v1"
#define SIG_B64_MAX 512
#define SPKI_MAX 512
/* JSON integers we accept fit in 2^53, so they survive any JSON tool. */
#define JSON_UINT_MAX 9007199254740991LL
#define SIZE_MAX_IMAGE (1ULL << 40)

struct fsec_release {
	uint64_t sequence, delegation_sequence;
	int64_t issued, expires;
	char signer[FSEC_SHA256_HEX_LEN];
	struct fsec_release_entry entry;
	bool have_entry;
	unsigned char (*chunks)[32];
	char **urls;
};

struct trusted_key {
	char keyid[FSEC_SHA256_HEX_LEN];
	EVP_PKEY *key; /* owned only in struct delegation */
};

struct delegation {
	uint64_t sequence;
	int64_t expires;
	size_t nkeys;
	struct trusted_key keys[FSEC_RELEASE_MAX_KEYS];
};

struct envelope {
	unsigned char *payload;
	size_t payload_len;
	size_t nsigs;
	struct {
		char keyid[FSEC_SHA256_HEX_LEN];
		unsigned char sig[SIG_B64_MAX];
		size_t len;
	} sigs[FSEC_RELEASE_MAX_KEYS];
};

/* DSSE v1 pre-authentication encoding:
 * "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
static unsigned char *pae(const char *type, const unsigned char *body, size_t blen, size_t *len)
{
	char head[256];
	int h = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ", strlen(type), type, blen);
	unsigned char *out;

	if (h < 0 || (size_t)h >= sizeof(head) || blen > SIZE_MAX - (size_t)h - 1)
		return NULL;
	out = malloc((size_t)h + blen + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, head, (size_t)h);
	memcpy(out + h, body, blen);
	*len = (size_t)h + blen;
	return out;
}

/* JSON is read through core's walker (json_int.h): duplicate keys and
 * unknown fields are refused, since a field we do not understand could be
 * one the signer meant us to honour. */
static json_t *load_json(const unsigned char *buf, size_t len, const char *what)
{
	json_t *j = NULL;

	return fsec_json_load(buf, len, what, &j) == FSEC_OK ? j : NULL;
}

/* ---- envelopes ---- */

static void envelope_cleanup(struct envelope *e)
{
	free(e->payload);
	memset(e, 0, sizeof(*e));
}

static enum fsec_err envelope_parse(json_t *env, const char *type, const char *what,
				    struct envelope *e)
{
	static const char *const known[] = {"payloadType", "payload", "signatures", NULL};
	static const char *const sig_known[] = {"keyid", "sig", NULL};
	json_t *sigs, *s;
	const char *pt, *payload;
	enum fsec_err rc;
	size_t i, plen;

	memset(e, 0, sizeof(*e));
	if ((rc = fsec_json_only_keys(env, what, known)) != FSEC_OK ||
	    (rc = fsec_json_get_str(env, what, "payloadType", 0, 1, 128, &pt)) != FSEC_OK ||
	    (rc = fsec_json_get_str(env, what, "payload", 0, 1, FSEC_RELEASE_MAX, &payload)) !=
	        FSEC_OK)
		return rc;
	if (strcmp(pt, type) != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "%s.payloadType: \"%.60s\", expected \"%s\"", what, pt,
				   type);
	plen = strlen(payload);
	e->payload = malloc(plen / 4 * 3 + 1);
	if (e->payload == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (!fsec_b64_decode(payload, plen, e->payload, plen / 4 * 3, &e->payload_len)) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "%s.payload: not valid base64", what);
		goto fail;
	}
	sigs = json_object_get(env, "signatures");
	if (!json_is_array(sigs) || json_array_size(sigs) == 0 ||
	    json_array_size(sigs) > FSEC_RELEASE_MAX_KEYS) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "%s.signatures: must hold 1-%d signatures", what,
				 FSEC_RELEASE_MAX_KEYS);
		goto fail;
	}
	json_array_foreach(sigs, i, s) {
		char where[64];
		const char *kid, *sig;

		snprintf(where, sizeof(where), "%s.signatures[%zu]", what, i);
		if ((rc = fsec_json_only_keys(s, where, sig_known)) != FSEC_OK ||
		    (rc = fsec_json_get_str(s, where, "keyid", 0, 1, 64, &kid)) != FSEC_OK ||
		    (rc = fsec_json_get_str(s, where, "sig", 0, 1, SIG_B64_MAX, &sig)) != FSEC_OK)
			goto fail;
		snprintf(e->sigs[i].keyid, sizeof(e->sigs[i].keyid), "%s", kid);
		if (!fsec_b64_decode(sig, strlen(sig), e->sigs[i].sig, sizeof(e->sigs[i].sig),
				&e->sigs[i].len)) {
			rc = fsec_seterr(FSEC_ERR_PARSE, "%s.sig: not valid base64", where);
			goto fail;
		}
		e->nsigs++;
	}
	return FSEC_OK;
fail:
	envelope_cleanup(e);
	return rc;
}

/* Accept the envelope if a signature by one of keys verifies over its PAE. */
static enum fsec_err envelope_verify(const struct envelope *e, const char *type,
				     const struct trusted_key *keys, size_t nkeys, const char *what,
				     char signer[FSEC_SHA256_HEX_LEN])
{
	size_t len = 0;
	unsigned char *msg = pae(type, e->payload, e->payload_len, &len);
	bool known = false;
	enum fsec_err rc = FSEC_ERR_VERIFY;

	if (msg == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < e->nsigs; i++)
		for (size_t k = 0; k < nkeys; k++) {
			if (strcmp(e->sigs[i].keyid, keys[k].keyid) != 0)
				continue;
			known = true;
			if (fsec_key_verify(keys[k].key, msg, len, e->sigs[i].sig, e->sigs[i].len) ==
			    FSEC_OK) {
				memcpy(signer, keys[k].keyid, FSEC_SHA256_HEX_LEN);
				rc = FSEC_OK;
				goto out;
			}
		}
	if (known)
		fsec_seterr(rc, "bad signature: the %s signature does not verify", what);
	else
		fsec_seterr(rc, "unknown key: the %s is not signed by a trusted key", what);
out:
	free(msg);
	return rc;
}

/* ---- delegation ---- */

static void delegation_cleanup(struct delegation *d)
{
	for (size_t i = 0; i < d->nkeys; i++)
		EVP_PKEY_free(d->keys[i].key);
	memset(d, 0, sizeof(*d));
}

static enum fsec_err delegation_parse(const unsigned char *buf, size_t len, struct delegation *d)
{
	static const char *const known[] = {"_type", "sequence", "expires", "keys", NULL};
	static const char *const key_known[] = {"keyid", "public_key", NULL};
	json_t *j = load_json(buf, len, "delegation"), *keys, *k;
	enum fsec_err rc = FSEC_ERR_PARSE;
	const char *type;
	size_t i;

	memset(d, 0, sizeof(*d));
	if (j == NULL)
		return rc;
	if ((rc = fsec_json_only_keys(j, "delegation", known)) != FSEC_OK ||
	    (rc = fsec_json_get_str(j, "delegation", "_type", 0, 1, 64, &type)) != FSEC_OK ||
	    (rc = fsec_json_get_uint(j, "delegation", "sequence", 0, 0, JSON_UINT_MAX,
	                             &d->sequence)) != FSEC_OK ||
	    (rc = fsec_json_get_time(j, "delegation", "expires", 0, FSEC_TIME_CANONICAL,
	                             &d->expires)) != FSEC_OK)
		goto out;
	if (strcmp(type, VERSION_DELEGATION) != 0) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "delegation._type: expected %s", VERSION_DELEGATION);
		goto out;
	}
	keys = json_object_get(j, "keys");
	if (!json_is_array(keys) || json_array_size(keys) == 0 ||
	    json_array_size(keys) > FSEC_RELEASE_MAX_KEYS) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "delegation.keys: must hold 1-%d keys",
				 FSEC_RELEASE_MAX_KEYS);
		goto out;
	}
	json_array_foreach(keys, i, k) {
		char where[48], kid[FSEC_SHA256_HEX_LEN];
		unsigned char der[SPKI_MAX];
		const unsigned char *p = der;
		const char *id, *pub;
		size_t dlen = 0;

		snprintf(where, sizeof(where), "delegation.keys[%zu]", i);
		if ((rc = fsec_json_only_keys(k, where, key_known)) != FSEC_OK ||
		    (rc = fsec_json_get_str(k, where, "keyid", 0, 1, 64, &id)) != FSEC_OK ||
		    (rc = fsec_json_get_str(k, where, "public_key", 0, 1, SPKI_MAX * 2, &pub)) !=
		        FSEC_OK)
			goto out;
		rc = FSEC_ERR_PARSE;
		if (fsec_b64_decode(pub, strlen(pub), der, sizeof(der), &dlen) &&
		    (d->keys[i].key = d2i_PUBKEY(NULL, &p, (long)dlen)) != NULL)
			d->nkeys++; /* owned by d from here, whatever follows */
		if (d->nkeys != i + 1 || p != der + dlen) {
			fsec_seterr(rc, "%s.public_key: not a base64 DER public key", where);
			goto out;
		}
		if (fsec_key_check_signing(d->keys[i].key) != FSEC_OK) {
			fsec_seterr(rc, "%s.public_key: %s", where, fsec_err_detail());
			goto out;
		}
		/* The keyid is derived, never trusted: a mismatch is an error. */
		if (fsec_key_id(d->keys[i].key, kid) != FSEC_OK || strcmp(kid, id) != 0) {
			fsec_seterr(rc, "%s.keyid: does not match the public key", where);
			goto out;
		}
		memcpy(d->keys[i].keyid, kid, sizeof(kid));
	}
	rc = FSEC_OK;
out:
	if (rc != FSEC_OK)
		delegation_cleanup(d);
	json_decref(j);
	return rc;
}

/* ---- manifest payload ---- */

static bool model_valid(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n > FSEC_MODEL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= 'a' && m[i] <= 'z') ||
		      (m[i] >= '0' && m[i] <= '9') || m[i] == '.' || m[i] == '_' || m[i] == '-'))
			return false;
	return true;
}

/* Parse one releases[] entry; if keep, fill r's entry (it is the model the
 * caller asked for). */
static enum fsec_err entry_parse(json_t *e, const char *where, bool keep, struct fsec_release *r)
{
	static const char *const known[] = {"model",   "version", "security_counter", "size",
	                                    "sha256",  "urls",    "chunk_size",       "chunks",
	                                    "rollout", NULL};
	struct fsec_release_entry *en = &r->entry;
	const char *model, *version, *sha;
	uint64_t sc, size, chunk;
	json_t *urls, *chunks, *rollout, *v;
	enum fsec_err rc;
	size_t i, want;

	if ((rc = fsec_json_only_keys(e, where, known)) != FSEC_OK ||
	    (rc = fsec_json_get_str(e, where, "model", 0, 1, FSEC_MODEL_NAME_MAX, &model)) !=
	        FSEC_OK ||
	    (rc = fsec_json_get_str(e, where, "version", 0, 1, 32, &version)) != FSEC_OK ||
	    (rc = fsec_json_get_uint(e, where, "security_counter", 0, 0, UINT32_MAX, &sc)) !=
	        FSEC_OK ||
	    (rc = fsec_json_get_uint(e, where, "size", 0, 0, SIZE_MAX_IMAGE, &size)) != FSEC_OK ||
	    (rc = fsec_json_get_str(e, where, "sha256", 0, 1, 64, &sha)) != FSEC_OK ||
	    (rc = fsec_json_get_uint(e, where, "chunk_size", 0, 0, FSEC_RELEASE_CHUNK_MAX,
	                             &chunk)) != FSEC_OK)
		return rc;
	if (!model_valid(model))
		return fsec_seterr(FSEC_ERR_PARSE, "%s.model: use 1-%d characters of A-Z a-z 0-9 . _ -",
				   where, FSEC_MODEL_NAME_MAX);
	if (keep) {
		snprintf(en->model, sizeof(en->model), "%s", model);
		en->security_counter = (uint32_t)sc;
		en->size = size;
		en->chunk_size = (uint32_t)chunk;
	}
	if (fsec_fw_version_parse(version, keep ? &en->version : &(struct fsec_fw_version){0}) !=
	    FSEC_OK)
		return fsec_seterr(FSEC_ERR_PARSE, "%s.version: not MAJ.MIN.REV+BUILD", where);
	if (fsec_hex_decode(sha, keep ? en->sha256 : (unsigned char[32]){0}, 32, FSEC_HEX_LOWER) !=
	    FSEC_OK)
		return fsec_seterr(FSEC_ERR_PARSE, "%s.sha256: not 64 lowercase hex digits", where);
	if (chunk < FSEC_RELEASE_CHUNK_MIN)
		return fsec_seterr(FSEC_ERR_PARSE, "%s.chunk_size: at least %u", where,
				   FSEC_RELEASE_CHUNK_MIN);
	if (size == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "%s.size: must not be 0", where);
	/* size and chunk are bounded above, so this cannot overflow. */
	want = (size_t)((size + chunk - 1) / chunk);
	chunks = json_object_get(e, "chunks");
	if (want > FSEC_RELEASE_MAX_CHUNKS || !json_is_array(chunks) || json_array_size(chunks) != want)
		return fsec_seterr(FSEC_ERR_PARSE, "%s.chunks: must list the SHA-256 of each of the "
						   "%zu chunks (at most %d)",
				   where, want, FSEC_RELEASE_MAX_CHUNKS);
	if (keep && r->have_entry)
		return fsec_seterr(FSEC_ERR_PARSE, "%s: model %s listed twice", where, model);
	if (keep && (r->chunks = malloc(want * sizeof(*r->chunks))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	json_array_foreach(chunks, i, v) {
		unsigned char scratch[32];

		if (!json_is_string(v) ||
		    fsec_hex_decode(json_string_value(v), keep ? r->chunks[i] : scratch, 32,
		                    FSEC_HEX_LOWER) != FSEC_OK)
			return fsec_seterr(FSEC_ERR_PARSE, "%s.chunks[%zu]: not 64 lowercase hex digits",
					   where, i);
	}
	urls = json_object_get(e, "urls");
	if (!json_is_array(urls) || json_array_size(urls) == 0 ||
	    json_array_size(urls) > FSEC_RELEASE_MAX_URLS)
		return fsec_seterr(FSEC_ERR_PARSE, "%s.urls: must hold 1-%d URLs", where,
				   FSEC_RELEASE_MAX_URLS);
	if (keep && (r->urls = calloc(json_array_size(urls), sizeof(char *))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	json_array_foreach(urls, i, v) {
		const char *u = json_is_string(v) ? json_string_value(v) : "";

		/* The image is signed, but fetching it must still not leak what a
		 * device runs: HTTPS, or a path on the update server itself. */
		if (!json_is_string(v) || json_string_length(v) > FSEC_RELEASE_URL_MAX ||
		    strlen(u) != json_string_length(v) ||
		    !(strncmp(u, "https://", 8) == 0 || (u[0] == '/' && u[1] != '/')))
			return fsec_seterr(FSEC_ERR_PARSE, "%s.urls[%zu]: must be an https:// URL or "
							   "a /path of at most %d characters",
					   where, i, FSEC_RELEASE_URL_MAX);
		if (keep && (r->urls[i] = strdup(u)) == NULL)
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		if (keep)
			en->nurls = i + 1;
	}
	rollout = json_object_get(e, "rollout");
	if (keep)
		en->rollout_percent = 100;
	if (rollout != NULL) {
		static const char *const rk[] = {"percent", NULL};
		uint64_t pct;

		if ((rc = fsec_json_only_keys(rollout, where, rk)) != FSEC_OK ||
		    (rc = fsec_json_get_uint(rollout, where, "percent", 0, 0, 100, &pct)) !=
		        FSEC_OK)
			return rc;
		if (keep)
			en->rollout_percent = (int)pct;
	}
	if (keep) {
		en->nchunks = want;
		en->chunks = (const unsigned char(*)[32])r->chunks;
		en->urls = (const char *const *)r->urls;
		r->have_entry = true;
	}
	return FSEC_OK;
}

/* Validate a manifest payload; with model, keep that model's entry. */
static enum fsec_err manifest_parse(const unsigned char *buf, size_t len, const char *model,
				    struct fsec_release *r)
{
	static const char *const known[] = {"_type",   "sequence", "issued",
	                                    "expires", "releases", NULL};
	json_t *j = load_json(buf, len, "manifest"), *rels, *e;
	enum fsec_err rc = FSEC_ERR_PARSE;
	const char *type;
	size_t i;

	if (j == NULL)
		return rc;
	if ((rc = fsec_json_only_keys(j, "manifest", known)) != FSEC_OK ||
	    (rc = fsec_json_get_str(j, "manifest", "_type", 0, 1, 64, &type)) != FSEC_OK ||
	    (rc = fsec_json_get_uint(j, "manifest", "sequence", 0, 0, JSON_UINT_MAX,
	                             &r->sequence)) != FSEC_OK ||
	    (rc = fsec_json_get_time(j, "manifest", "issued", 0, FSEC_TIME_CANONICAL, &r->issued)) !=
	        FSEC_OK ||
	    (rc = fsec_json_get_time(j, "manifest", "expires", 0, FSEC_TIME_CANONICAL,
	                             &r->expires)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_PARSE;
	if (strcmp(type, VERSION_RELEASE) != 0) {
		fsec_seterr(rc, "manifest._type: expected %s", VERSION_RELEASE);
		goto out;
	}
	rels = json_object_get(j, "releases");
	if (!json_is_array(rels) || json_array_size(rels) == 0 ||
	    json_array_size(rels) > FSEC_RELEASE_MAX_MODELS) {
		fsec_seterr(rc, "manifest.releases: must hold 1-%d entries", FSEC_RELEASE_MAX_MODELS);
		goto out;
	}
	json_array_foreach(rels, i, e) {
		char where[40];
		json_t *m = json_object_get(e, "model");
		bool keep = model != NULL && json_is_string(m) && strcmp(json_string_value(m), model) == 0;

		snprintf(where, sizeof(where), "manifest.releases[%zu]", i);
		if ((rc = entry_parse(e, where, keep, r)) != FSEC_OK)
			goto out;
		/* At most 64 entries: the quadratic check is cheap. */
		for (size_t k = 0; k < i; k++)
			if (strcmp(json_string_value(json_object_get(json_array_get(rels, k), "model")),
				   json_string_value(m)) == 0) {
				rc = fsec_seterr(FSEC_ERR_PARSE, "%s: model %s listed twice", where,
						 json_string_value(m));
				goto out;
			}
	}
	rc = FSEC_OK;
out:
	json_decref(j);
	return rc;
}

/* ---- verify ---- */

FSEC_API void fsec_release_free(struct fsec_release *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; r->urls != NULL && i < r->entry.nurls; i++)
		free(r->urls[i]);
	free(r->urls);
	free(r->chunks);
	free(r);
}

FSEC_API const struct fsec_release_entry *fsec_release_entry(const struct fsec_release *r)
{
	return r->have_entry ? &r->entry : NULL;
}

FSEC_API uint64_t fsec_release_sequence(const struct fsec_release *r)
{
	return r->sequence;
}

FSEC_API uint64_t fsec_release_delegation_sequence(const struct fsec_release *r)
{
	return r->delegation_sequence;
}

FSEC_API int64_t fsec_release_expires(const struct fsec_release *r)
{
	return r->expires;
}

FSEC_API int64_t fsec_release_issued(const struct fsec_release *r)
{
	return r->issued;
}

FSEC_API const char *fsec_release_signer(const struct fsec_release *r)
{
	return r->signer;
}

/* What both kinds of bundle share, checked the same way: the size, the
 * policy, exactly the delegation and one signed envelope (named key, of
 * payloadType type), the delegation signed by a pinned root, not expired
 * and not older than the last accepted, and the envelope signed by a key it
 * names. On success *d, *e and *j are the caller's to clean up, and signer
 * names the key that signed e. */
static enum fsec_err bundle_open(const unsigned char *buf, size_t len,
				 const struct fsec_release_policy *pol, int64_t now, const char *key,
				 const char *type, json_t **j, struct delegation *d,
				 struct envelope *e, char signer[FSEC_SHA256_HEX_LEN])
{
	const char *const known[] = {"delegation", key, NULL};
	struct trusted_key roots[FSEC_RELEASE_MAX_KEYS];
	struct envelope de = {0};
	enum fsec_err rc = FSEC_ERR_VERIFY;

	*j = NULL;
	memset(d, 0, sizeof(*d));
	memset(e, 0, sizeof(*e));
	if (len > FSEC_RELEASE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "release is %zu bytes, the limit is %u", len,
				   FSEC_RELEASE_MAX);
	if (pol->model == NULL || pol->nroots == 0 || pol->nroots > FSEC_RELEASE_MAX_KEYS)
		return fsec_seterr(FSEC_ERR_INVAL, "a model and 1-%d pinned keys are required",
				   FSEC_RELEASE_MAX_KEYS);
	for (size_t i = 0; i < pol->nroots; i++) {
		if ((rc = fsec_key_check_signing(pol->roots[i])) != FSEC_OK)
			return fsec_seterr(FSEC_ERR_INVAL, "pinned key: %s", fsec_err_detail());
		roots[i].key = pol->roots[i];
		if ((rc = fsec_key_id(pol->roots[i], roots[i].keyid)) != FSEC_OK)
			return rc;
	}
	if ((*j = load_json(buf, len, "release")) == NULL)
		return FSEC_ERR_PARSE;
	/* The payloadType is checked against the member it sits in, and the
	 * signature covers it (PAE): a manifest cannot pass for a statement
	 * that nothing is new, nor the other way round. */
	if ((rc = fsec_json_only_keys(*j, "release", known)) != FSEC_OK ||
	    (rc = envelope_parse(json_object_get(*j, "delegation"), TYPE_DELEGATION, "delegation",
	                         &de)) != FSEC_OK ||
	    (rc = envelope_parse(json_object_get(*j, key), type, key, e)) != FSEC_OK)
		goto out;
	/* Signatures before contents: nothing unauthenticated is interpreted
	 * beyond the envelope. */
	if ((rc = envelope_verify(&de, TYPE_DELEGATION, roots, pol->nroots, "delegation",
				  signer)) != FSEC_OK ||
	    (rc = delegation_parse(de.payload, de.payload_len, d)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_VERIFY;
	if (d->expires <= now) {
		fsec_seterr(rc, "expired: the delegation expired");
		goto out;
	}
	if (d->sequence < pol->last_delegation) {
		fsec_seterr(rc, "sequence: delegation %llu is older than the last accepted (%llu)",
			    (unsigned long long)d->sequence, (unsigned long long)pol->last_delegation);
		goto out;
	}
	rc = envelope_verify(e, type, d->keys, d->nkeys, key, signer);
out:
	envelope_cleanup(&de);
	if (rc != FSEC_OK) {
		delegation_cleanup(d);
		envelope_cleanup(e);
		json_decref(*j);
		*j = NULL;
	}
	return rc;
}

FSEC_API enum fsec_err fsec_release_verify(const unsigned char *buf, size_t len,
					   const struct fsec_release_policy *pol,
					   struct fsec_release **out)
{
	struct envelope me = {0};
	struct delegation d = {0};
	struct fsec_release *r = NULL;
	char signer[FSEC_SHA256_HEX_LEN];
	int64_t now = pol->now != 0 ? pol->now : (int64_t)time(NULL);
	enum fsec_err rc = FSEC_ERR_VERIFY;
	json_t *j = NULL;

	fsec_clearerr();
	if ((rc = bundle_open(buf, len, pol, now, "manifest", TYPE_RELEASE, &j, &d, &me, signer)) !=
	    FSEC_OK)
		return rc;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = manifest_parse(me.payload, me.payload_len, pol->model, r)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_VERIFY;
	if (r->expires <= now) {
		fsec_seterr(rc, "expired: the manifest expired (a frozen or stale release)");
		goto out;
	}
	/* Releases are ordered by (delegation sequence, manifest sequence): a
	 * newer delegation starts a new series, so a stolen key that signed a
	 * manifest with the largest sequence cannot block updates after the
	 * operator rotates it out. */
	if (d.sequence == pol->last_delegation && r->sequence <= pol->last_sequence) {
		fsec_seterr(rc, "sequence: manifest %llu is not above the last accepted (%llu)",
			    (unsigned long long)r->sequence, (unsigned long long)pol->last_sequence);
		goto out;
	}
	if (!r->have_entry) {
		fsec_seterr(rc, "no release for model %.64s in this manifest", pol->model);
		goto out;
	}
	memcpy(r->signer, signer, sizeof(signer));
	r->delegation_sequence = d.sequence;
	*out = r;
	r = NULL;
	rc = FSEC_OK;
out:
	fsec_release_free(r);
	delegation_cleanup(&d);
	envelope_cleanup(&me);
	json_decref(j);
	return rc;
}

/* ---- "nothing new": the timestamp statement ---- */

/* A timestamp payload, every field bounded and the object closed. */
static enum fsec_err timestamp_parse(const unsigned char *buf, size_t len,
				     struct fsec_release_timestamp *t)
{
	static const char *const known[] = {"_type", "model", "latest", "issued", "expires", NULL};
	json_t *j = load_json(buf, len, "timestamp"), *latest;
	enum fsec_err rc = FSEC_ERR_PARSE;
	const char *type, *model;

	memset(t, 0, sizeof(*t));
	if (j == NULL)
		return rc;
	if ((rc = fsec_json_only_keys(j, "timestamp", known)) != FSEC_OK ||
	    (rc = fsec_json_get_str(j, "timestamp", "_type", 0, 1, 64, &type)) != FSEC_OK ||
	    (rc = fsec_json_get_str(j, "timestamp", "model", 0, 1, FSEC_MODEL_NAME_MAX, &model)) !=
	        FSEC_OK ||
	    (rc = fsec_json_get_time(j, "timestamp", "issued", 0, FSEC_TIME_CANONICAL,
	                             &t->issued)) != FSEC_OK ||
	    (rc = fsec_json_get_time(j, "timestamp", "expires", 0, FSEC_TIME_CANONICAL,
	                             &t->expires)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_PARSE;
	if (strcmp(type, VERSION_TIMESTAMP) != 0) {
		fsec_seterr(rc, "timestamp._type: expected %s", VERSION_TIMESTAMP);
		goto out;
	}
	if (!model_valid(model)) {
		fsec_seterr(rc, "timestamp.model: use 1-%d characters of A-Z a-z 0-9 . _ -",
			    FSEC_MODEL_NAME_MAX);
		goto out;
	}
	snprintf(t->model, sizeof(t->model), "%s", model);
	/* Required, and null when nothing was ever published for the model:
	 * absent would leave a reader guessing which was meant. */
	latest = json_object_get(j, "latest");
	if (latest == NULL || (!json_is_null(latest) &&
	                       fsec_json_get_uint(j, "timestamp", "latest", 0, 0, JSON_UINT_MAX,
	                                          &t->latest) != FSEC_OK)) {
		fsec_seterr(rc, "timestamp.latest: an integer from 0 to %lld, or null",
			    JSON_UINT_MAX);
		goto out;
	}
	t->has_latest = !json_is_null(latest);
	if (t->issued > t->expires) {
		fsec_seterr(rc, "timestamp.issued: after its expiry");
		goto out;
	}
	rc = FSEC_OK;
out:
	json_decref(j);
	return rc;
}

FSEC_API enum fsec_err fsec_release_kind(const unsigned char *buf, size_t len,
					 enum fsec_release_kind *out)
{
	json_t *j = NULL;
	enum fsec_err rc = FSEC_ERR_PARSE;
	bool m, t;

	fsec_clearerr();
	if (len > FSEC_RELEASE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "release is %zu bytes, the limit is %u", len,
				   FSEC_RELEASE_MAX);
	if ((j = load_json(buf, len, "release")) == NULL)
		return rc;
	m = json_object_get(j, "manifest") != NULL;
	t = json_object_get(j, "timestamp") != NULL;
	if (!json_is_object(j) || m == t) {
		fsec_seterr(rc, "release: must hold a manifest or a timestamp, not %s",
			    m ? "both" : "neither");
		goto out;
	}
	*out = m ? FSEC_RELEASE_KIND_MANIFEST : FSEC_RELEASE_KIND_TIMESTAMP;
	rc = FSEC_OK;
out:
	json_decref(j);
	return rc;
}

FSEC_API enum fsec_err fsec_release_timestamp_verify(const unsigned char *buf, size_t len,
						     const struct fsec_release_policy *pol,
						     struct fsec_release_timestamp *out)
{
	struct fsec_release_timestamp t;
	struct envelope te = {0};
	struct delegation d = {0};
	char signer[FSEC_SHA256_HEX_LEN];
	int64_t now = pol->now != 0 ? pol->now : (int64_t)time(NULL);
	enum fsec_err rc = FSEC_ERR_VERIFY;
	json_t *j = NULL;

	fsec_clearerr();
	if ((rc = bundle_open(buf, len, pol, now, "timestamp", TYPE_TIMESTAMP, &j, &d, &te,
			      signer)) != FSEC_OK)
		return rc;
	if ((rc = timestamp_parse(te.payload, te.payload_len, &t)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_VERIFY;
	if (t.expires <= now) {
		fsec_seterr(rc, "expired: the timestamp expired (a frozen or stale answer)");
		goto out;
	}
	if (strcmp(t.model, pol->model) != 0) {
		fsec_seterr(rc, "no release for model %.64s: the timestamp is for model %s",
			    pol->model, t.model);
		goto out;
	}
	/* Under the same delegation, "the latest is N" must not go back
	 * behind what the device already accepted: that would be a replayed
	 * statement, or a server that lost a release. */
	if (d.sequence == pol->last_delegation &&
	    ((t.has_latest && t.latest < pol->last_sequence) ||
	     (!t.has_latest && pol->last_sequence > 0))) {
		fsec_seterr(rc, "sequence: the timestamp's latest manifest (%s%llu) is below the "
				"last accepted (%llu)",
			    t.has_latest ? "" : "none, ", (unsigned long long)t.latest,
			    (unsigned long long)pol->last_sequence);
		goto out;
	}
	memcpy(t.signer, signer, sizeof(signer));
	t.delegation_sequence = d.sequence;
	*out = t;
	rc = FSEC_OK;
out:
	delegation_cleanup(&d);
	envelope_cleanup(&te);
	json_decref(j);
	return rc;
}

/* ---- creating and signing ---- */

/* A DSSE envelope of payload signed by key, as a JSON object. */
static enum fsec_err envelope_make(const char *type, const unsigned char *payload, size_t plen,
				   EVP_PKEY *key, json_t **out)
{
	unsigned char *msg = NULL, *sig = NULL;
	char *b64p = NULL, *b64s = NULL, kid[FSEC_SHA256_HEX_LEN];
	size_t mlen = 0, slen = 0;
	enum fsec_err rc;
	json_t *env;

	if ((rc = fsec_key_id(key, kid)) != FSEC_OK)
		return rc;
	msg = pae(type, payload, plen, &mlen);
	if (msg == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = fsec_key_sign(key, msg, mlen, &sig, &slen)) != FSEC_OK)
		goto out;
	b64p = fsec_b64_encode(payload, plen);
	b64s = fsec_b64_encode(sig, slen);
	env = b64p != NULL && b64s != NULL
		      ? json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "payloadType", type, "payload", b64p,
				  "signatures", "keyid", kid, "sig", b64s)
		      : NULL;
	if (env == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = env;
out:
	free(msg);
	OPENSSL_free(sig);
	free(b64p);
	free(b64s);
	return rc;
}

static enum fsec_err dump(json_t *j, char **out)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "cannot encode JSON");
	*out = s;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_release_delegate(EVP_PKEY *root, EVP_PKEY *const *keys, size_t n,
					     uint64_t sequence, int64_t expires, char **json)
{
	json_t *payload = NULL, *arr = NULL, *env = NULL;
	char *body = NULL, when[32];
	enum fsec_err rc = FSEC_ERR_NOMEM;

	fsec_clearerr();
	if (n == 0 || n > FSEC_RELEASE_MAX_KEYS || sequence > (uint64_t)JSON_UINT_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "delegate 1-%d keys with a sequence below 2^53",
				   FSEC_RELEASE_MAX_KEYS);
	for (size_t i = 0; i < n; i++)
		if ((rc = fsec_key_check_signing(keys[i])) != FSEC_OK)
			return rc;
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++) {
		unsigned char *der = NULL;
		char kid[FSEC_SHA256_HEX_LEN], *b64;
		size_t dlen = 0;

		if ((rc = fsec_key_spki_der(keys[i], &der, &dlen)) != FSEC_OK ||
		    (rc = fsec_key_id(keys[i], kid)) != FSEC_OK) {
			OPENSSL_free(der);
			goto out;
		}
		b64 = fsec_b64_encode(der, dlen);
		OPENSSL_free(der);
		if (b64 == NULL ||
		    json_array_append_new(arr, json_pack("{s:s, s:s}", "keyid", kid, "public_key",
							  b64)) != 0) {
			free(b64);
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
		free(b64);
	}
	fsec_time_format(expires, when);
	payload = json_pack("{s:s, s:I, s:s, s:O}", "_type", VERSION_DELEGATION, "sequence",
			    (json_int_t)sequence, "expires", when, "keys", arr);
	body = payload != NULL ? json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (body == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = envelope_make(TYPE_DELEGATION, (unsigned char *)body, strlen(body), root, &env)) ==
	    FSEC_OK)
		rc = dump(env, json);
out:
	free(body);
	json_decref(payload);
	json_decref(arr);
	json_decref(env);
	return rc;
}

/* Size, SHA-256 and chunk hashes of a file in one streaming read. */
static enum fsec_err hash_image(const char *path, uint32_t chunk, json_t **chunks_out,
				uint64_t *size, char sha_hex[65])
{
	EVP_MD_CTX *whole = EVP_MD_CTX_new();
	unsigned char *buf = malloc(chunk), md[32];
	json_t *chunks = json_array();
	enum fsec_err rc = FSEC_ERR_IO;
	uint64_t total = 0, fsize = 0;
	int fd = -1;

	if (whole == NULL || buf == NULL || chunks == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fsec_file_open_regular(path, &fd, &fsize)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_IO;
	if (!EVP_DigestInit_ex(whole, EVP_sha256(), NULL))
		goto crypto;
	for (;;) {
		size_t have = 0;
		char hex[65];

		while (have < chunk) {
			ssize_t n = read(fd, buf + have, chunk - have);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				fsec_seterr(rc, "%s: read failed: %s", path, strerror(errno));
				goto out;
			}
			if (n == 0)
				break;
			have += (size_t)n;
		}
		if (have == 0)
			break;
		if (json_array_size(chunks) == FSEC_RELEASE_MAX_CHUNKS) {
			rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: more than %d chunks; use a larger "
							     "--chunk-size",
					 path, FSEC_RELEASE_MAX_CHUNKS);
			goto out;
		}
		if (!EVP_DigestUpdate(whole, buf, have) ||
		    !EVP_Digest(buf, have, md, NULL, EVP_sha256(), NULL))
			goto crypto;
		fsec_hex(md, sizeof(md), hex);
		json_array_append_new(chunks, json_string(hex));
		total += have;
		if (have < chunk)
			break;
	}
	if (total == 0) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "%s: empty file", path);
		goto out;
	}
	if (!EVP_DigestFinal_ex(whole, md, NULL))
		goto crypto;
	fsec_hex(md, sizeof(md), sha_hex);
	*size = total;
	*chunks_out = chunks;
	chunks = NULL;
	rc = FSEC_OK;
	goto out;
crypto:
	rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "SHA-256 failed");
out:
	if (fd >= 0)
		close(fd);
	json_decref(chunks);
	free(buf);
	EVP_MD_CTX_free(whole);
	return rc;
}

FSEC_API enum fsec_err fsec_release_create(const struct fsec_release_create_opts *o, char **json)
{
	struct fsec_fw_info info;
	struct fsec_release check = {0};
	json_t *m = NULL, *entry = NULL, *chunks = NULL, *urls = NULL, *rels;
	char sha[65], ver[32], issued[32], expires[32];
	uint32_t chunk = o->chunk_size != 0 ? o->chunk_size : FSEC_RELEASE_CHUNK_DEFAULT;
	uint64_t size = 0;
	enum fsec_err rc;

	fsec_clearerr();
	if (o->model == NULL || !model_valid(o->model))
		return fsec_seterr(FSEC_ERR_INVAL, "model must be 1-%d characters of A-Z a-z 0-9 . _ -",
				   FSEC_MODEL_NAME_MAX);
	if (o->nurls > FSEC_RELEASE_MAX_URLS)
		return fsec_seterr(FSEC_ERR_INVAL, "give at most %d URLs", FSEC_RELEASE_MAX_URLS);
	if (chunk < FSEC_RELEASE_CHUNK_MIN || chunk > FSEC_RELEASE_CHUNK_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "chunk size must be %u to %u bytes",
				   FSEC_RELEASE_CHUNK_MIN, FSEC_RELEASE_CHUNK_MAX);
	if (o->rollout_percent > 100 || o->sequence > (uint64_t)JSON_UINT_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "rollout percent 0-100, sequence below 2^53");
	if ((rc = fsec_fw_inspect(o->image, &info)) != FSEC_OK)
		return rc;
	if ((rc = hash_image(o->image, chunk, &chunks, &size, sha)) != FSEC_OK)
		return rc;
	urls = json_array();
	for (size_t i = 0; urls != NULL && i < o->nurls; i++)
		json_array_append_new(urls, json_string(o->urls[i]));
	/* Without a URL, the image is where fleetsecd serves published ones. */
	if (urls != NULL && o->nurls == 0) {
		char path[sizeof(FSEC_RELEASE_FIRMWARE_PATH) + 64];

		snprintf(path, sizeof(path), "%s%s", FSEC_RELEASE_FIRMWARE_PATH, sha);
		json_array_append_new(urls, json_string(path));
	}
	entry = json_pack("{s:s, s:s, s:I, s:I, s:s, s:O, s:I, s:O}", "model", o->model, "version",
			  fsec_fw_version_str(&info.version, ver, sizeof(ver)), "security_counter",
			  (json_int_t)(info.has_security_counter ? info.security_counter : 0), "size",
			  (json_int_t)size, "sha256", sha, "urls", urls, "chunk_size",
			  (json_int_t)chunk, "chunks", chunks);
	if (entry != NULL && o->rollout_percent >= 0)
		json_object_set_new(entry, "rollout", json_pack("{s:i}", "percent", o->rollout_percent));
	if (o->base != NULL) {
		size_t i;
		json_t *e;

		/* The base must itself be a valid manifest before we add to it. */
		if ((rc = manifest_parse((const unsigned char *)o->base, o->base_len, NULL, &check)) !=
		    FSEC_OK)
			goto out;
		m = load_json((const unsigned char *)o->base, o->base_len, "manifest");
		rels = json_object_get(m, "releases");
		json_array_foreach(rels, i, e)
			if (strcmp(json_string_value(json_object_get(e, "model")), o->model) == 0) {
				json_array_remove(rels, i);
				break;
			}
	} else {
		m = json_pack("{s:s, s:I, s:s, s:s, s:[]}", "_type", VERSION_RELEASE, "sequence",
			      (json_int_t)0, "issued", "", "expires", "", "releases");
	}
	if (m == NULL || entry == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	fsec_time_format((int64_t)time(NULL), issued);
	fsec_time_format(o->expires, expires);
	json_object_set_new(m, "sequence", json_integer((json_int_t)o->sequence));
	json_object_set_new(m, "issued", json_string(issued));
	json_object_set_new(m, "expires", json_string(expires));
	rels = json_object_get(m, "releases");
	if (json_array_size(rels) >= FSEC_RELEASE_MAX_MODELS) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "at most %d models in a manifest",
				 FSEC_RELEASE_MAX_MODELS);
		goto out;
	}
	json_array_append(rels, entry);
	if ((rc = dump(m, json)) != FSEC_OK)
		goto out;
	/* What we write must pass the checks devices apply (URL schemes,
	 * bounds), so a bad --url is refused here, not in the field. */
	memset(&check, 0, sizeof(check));
	if ((rc = manifest_parse((const unsigned char *)*json, strlen(*json), NULL, &check)) !=
	    FSEC_OK) {
		free(*json);
		*json = NULL;
	}
out:
	json_decref(m);
	json_decref(entry);
	json_decref(chunks);
	json_decref(urls);
	return rc;
}

/* The delegation a signer signs with: it parses, names key and has not
 * expired. On success *dj is the delegation envelope, the caller's. */
static enum fsec_err signing_delegation(const char *delegation, size_t dlen, EVP_PKEY *key,
					json_t **dj)
{
	struct envelope de = {0};
	struct delegation d = {0};
	char kid[FSEC_SHA256_HEX_LEN];
	json_t *j = NULL;
	enum fsec_err rc = FSEC_ERR_PARSE;
	bool named = false;

	if ((j = load_json((const unsigned char *)delegation, dlen, "delegation")) == NULL)
		return rc;
	if ((rc = envelope_parse(j, TYPE_DELEGATION, "delegation", &de)) != FSEC_OK ||
	    (rc = delegation_parse(de.payload, de.payload_len, &d)) != FSEC_OK ||
	    (rc = fsec_key_id(key, kid)) != FSEC_OK)
		goto out;
	for (size_t i = 0; i < d.nkeys; i++)
		named |= strcmp(d.keys[i].keyid, kid) == 0;
	rc = FSEC_ERR_VERIFY;
	if (!named) {
		fsec_seterr(rc, "unknown key: the delegation does not name key %.16s...", kid);
		goto out;
	}
	if (d.expires <= (int64_t)time(NULL)) {
		fsec_seterr(rc, "expired: the delegation has expired; sign a new one with the root key");
		goto out;
	}
	*dj = j;
	j = NULL;
	rc = FSEC_OK;
out:
	json_decref(j);
	delegation_cleanup(&d);
	envelope_cleanup(&de);
	return rc;
}

FSEC_API enum fsec_err fsec_release_sign(const char *manifest, size_t mlen, const char *delegation,
					 size_t dlen, EVP_PKEY *key, char **bundle)
{
	struct fsec_release check = {0};
	json_t *dj = NULL, *menv = NULL, *b = NULL;
	enum fsec_err rc;

	fsec_clearerr();
	if (mlen > FSEC_RELEASE_MAX || dlen > FSEC_RELEASE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "input larger than %u bytes", FSEC_RELEASE_MAX);
	if ((rc = manifest_parse((const unsigned char *)manifest, mlen, NULL, &check)) != FSEC_OK)
		return rc;
	if ((rc = signing_delegation(delegation, dlen, key, &dj)) != FSEC_OK)
		goto out;
	if ((rc = envelope_make(TYPE_RELEASE, (const unsigned char *)manifest, mlen, key, &menv)) !=
	    FSEC_OK)
		goto out;
	b = json_pack("{s:O, s:O}", "delegation", dj, "manifest", menv);
	rc = b != NULL ? dump(b, bundle) : fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	/* Never hand out a bundle every device would refuse for its size. */
	if (rc == FSEC_OK && strlen(*bundle) > FSEC_RELEASE_MAX) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE,
				 "the signed release would be %zu bytes, over the %u devices accept; use "
				 "a larger --chunk-size",
				 strlen(*bundle), FSEC_RELEASE_MAX);
		free(*bundle);
		*bundle = NULL;
	}
out:
	json_decref(b);
	json_decref(menv);
	json_decref(dj);
	return rc;
}

FSEC_API enum fsec_err fsec_release_refresh(const unsigned char *bundle, size_t len,
					    uint64_t sequence, int64_t expires,
					    const char *delegation, size_t dlen, EVP_PKEY *key,
					    char **out)
{
	struct envelope me = {0};
	json_t *j = NULL, *m = NULL;
	char issued[FSEC_TIME_LEN], until[FSEC_TIME_LEN], *manifest = NULL;
	int64_t now = (int64_t)time(NULL);
	enum fsec_err rc = FSEC_ERR_PARSE;

	fsec_clearerr();
	if (len > FSEC_RELEASE_MAX || dlen > FSEC_RELEASE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "input larger than %u bytes", FSEC_RELEASE_MAX);
	if (sequence > (uint64_t)JSON_UINT_MAX || expires <= now)
		return fsec_seterr(FSEC_ERR_INVAL, "a sequence below 2^53 and an expiry in the future");
	if ((j = load_json(bundle, len, "release")) == NULL)
		return rc;
	if ((rc = envelope_parse(json_object_get(j, "manifest"), TYPE_RELEASE, "manifest", &me)) !=
	    FSEC_OK)
		goto out;
	if ((m = load_json(me.payload, me.payload_len, "manifest")) == NULL) {
		rc = FSEC_ERR_PARSE;
		goto out;
	}
	/* Only the freshness fields change: the releases it lists, their
	 * images and rollout, are what was signed before. */
	fsec_time_format(now, issued);
	fsec_time_format(expires, until);
	if (json_object_set_new(m, "sequence", json_integer((json_int_t)sequence)) != 0 ||
	    json_object_set_new(m, "issued", json_string(issued)) != 0 ||
	    json_object_set_new(m, "expires", json_string(until)) != 0) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = dump(m, &manifest)) != FSEC_OK)
		goto out;
	rc = fsec_release_sign(manifest, strlen(manifest), delegation, dlen, key, out);
out:
	free(manifest);
	json_decref(m);
	json_decref(j);
	envelope_cleanup(&me);
	return rc;
}

FSEC_API enum fsec_err fsec_release_peek_times(const unsigned char *buf, size_t len,
					       int64_t *issued, int64_t *expires,
					       int64_t *delegation_expires)
{
	struct fsec_release r = {0};
	struct envelope me = {0}, de = {0};
	struct delegation d = {0};
	json_t *j = NULL;
	enum fsec_err rc = FSEC_ERR_PARSE;

	fsec_clearerr();
	if (len > FSEC_RELEASE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "release is %zu bytes, the limit is %u", len,
				   FSEC_RELEASE_MAX);
	if ((j = load_json(buf, len, "release")) == NULL)
		return rc;
	/* No model: no entry is kept, so r owns nothing to free. */
	if ((rc = envelope_parse(json_object_get(j, "manifest"), TYPE_RELEASE, "manifest", &me)) !=
		FSEC_OK ||
	    (rc = manifest_parse(me.payload, me.payload_len, NULL, &r)) != FSEC_OK)
		goto out;
	if (delegation_expires != NULL &&
	    ((rc = envelope_parse(json_object_get(j, "delegation"), TYPE_DELEGATION, "delegation",
				  &de)) != FSEC_OK ||
	     (rc = delegation_parse(de.payload, de.payload_len, &d)) != FSEC_OK))
		goto out;
	*issued = r.issued;
	*expires = r.expires;
	if (delegation_expires != NULL)
		*delegation_expires = d.expires;
out:
	delegation_cleanup(&d);
	envelope_cleanup(&de);
	envelope_cleanup(&me);
	json_decref(j);
	return rc;
}

FSEC_API enum fsec_err fsec_release_timestamp_sign(const struct fsec_release_timestamp_opts *o,
						   EVP_PKEY *key, char **bundle)
{
	json_t *dj = NULL, *payload = NULL, *tenv = NULL, *b = NULL;
	char issued[32], expires[32], *body = NULL;
	int64_t now = o->now != 0 ? o->now : (int64_t)time(NULL);
	enum fsec_err rc;

	fsec_clearerr();
	if (o->model == NULL || !model_valid(o->model))
		return fsec_seterr(FSEC_ERR_INVAL, "model must be 1-%d characters of A-Z a-z 0-9 . _ -",
				   FSEC_MODEL_NAME_MAX);
	if (o->latest > (uint64_t)JSON_UINT_MAX || o->expires <= now)
		return fsec_seterr(FSEC_ERR_INVAL, "a latest sequence below 2^53 and an expiry in "
						   "the future");
	if (o->delegation == NULL || o->delegation_len > FSEC_RELEASE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "delegation larger than %u bytes",
				   FSEC_RELEASE_MAX);
	if ((rc = signing_delegation(o->delegation, o->delegation_len, key, &dj)) != FSEC_OK)
		return rc;
	fsec_time_format(now, issued);
	fsec_time_format(o->expires, expires);
	payload = json_pack("{s:s, s:s, s:o, s:s, s:s}", "_type", VERSION_TIMESTAMP, "model",
			    o->model, "latest",
			    o->has_latest ? json_integer((json_int_t)o->latest) : json_null(),
			    "issued", issued, "expires", expires);
	body = payload != NULL ? json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (body == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = envelope_make(TYPE_TIMESTAMP, (unsigned char *)body, strlen(body), key, &tenv)) !=
	    FSEC_OK)
		goto out;
	b = json_pack("{s:O, s:O}", "delegation", dj, "timestamp", tenv);
	rc = b != NULL ? dump(b, bundle) : fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
out:
	free(body);
	json_decref(b);
	json_decref(tenv);
	json_decref(payload);
	json_decref(dj);
	return rc;
}

enum fsec_err fsec_release_check_manifest(const unsigned char *buf, size_t len)
{
	struct fsec_release r = {0};

	return manifest_parse(buf, len, NULL, &r);
}

enum fsec_err fsec_release_check_timestamp(const unsigned char *buf, size_t len)
{
	struct fsec_release_timestamp t;

	return timestamp_parse(buf, len, &t);
}

enum fsec_err fsec_release_check_delegation(const unsigned char *buf, size_t len)
{
	struct delegation d;
	enum fsec_err rc = delegation_parse(buf, len, &d);

	if (rc == FSEC_OK)
		delegation_cleanup(&d);
	return rc;
}

FSEC_API enum fsec_err fsec_rollout_bucket(const char *id, unsigned *bucket)
{
	unsigned char md[32];

	if (!EVP_Digest(id, strlen(id), md, NULL, EVP_sha256(), NULL))
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "SHA-256 failed");
	*bucket = (unsigned)((((uint32_t)md[0] << 24) | ((uint32_t)md[1] << 16) |
			      ((uint32_t)md[2] << 8) | md[3]) %
			     100);
	return FSEC_OK;
}
