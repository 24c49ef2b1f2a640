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
#include "fleetsec/names.h"
#include "fleetsec/release.h"
#include "release_int.h"

#define TYPE_DELEGATION "application/vnd.fleetsec.delegation+json"
#define TYPE_RELEASE "application/vnd.fleetsec.release+json"
#define VERSION_DELEGATION "fleetsec.delegation.v1"
#define VERSION_RELEASE "fleetsec.release.v1"
#define TYPE_TIMESTAMP "application/vnd.fleetsec.timestamp+json"
#define VERSION_TIMESTAMP "fleetsec.timestamp.v1"
#define TYPE_ROOT "application/vnd.fleetsec.root+json"
#define VERSION_ROOT "fleetsec.root.v1"
#define TYPE_TAMPER "application/vnd.fleetsec.tamper+json"
#define VERSION_TAMPER "fleetsec.tamper.v1"
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

static void keys_free(struct trusted_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		EVP_PKEY_free(keys[i].key);
		keys[i].key = NULL;
	}
}

static void delegation_cleanup(struct delegation *d)
{
	keys_free(d->keys, d->nkeys);
	memset(d, 0, sizeof(*d));
}

/* A signed payload's JSON: a closed object (known) whose "_type" is type.
 * On success *out is the caller's. */
static enum fsec_err payload_open(const unsigned char *buf, size_t len, const char *what,
				  const char *const *known, const char *type, json_t **out)
{
	json_t *j = load_json(buf, len, what);
	const char *t;
	enum fsec_err rc;

	if (j == NULL)
		return FSEC_ERR_PARSE;
	if ((rc = fsec_json_only_keys(j, what, known)) != FSEC_OK ||
	    (rc = fsec_json_get_str(j, what, "_type", 0, 1, 64, &t)) != FSEC_OK) {
		json_decref(j);
		return rc;
	}
	if (strcmp(t, type) != 0) {
		json_decref(j);
		return fsec_seterr(FSEC_ERR_PARSE, "%s._type: expected %s", what, type);
	}
	*out = j;
	return FSEC_OK;
}

/* A closed list of 1..FSEC_RELEASE_MAX_KEYS signing keys ("keys" of a
 * delegation or a root document): each decoded, its keyid recomputed. On
 * success out[0..*n) own their keys; on failure nothing is left owned. */
static enum fsec_err keys_parse(json_t *keys, const char *what, struct trusted_key *out, size_t *n)
{
	static const char *const key_known[] = {"keyid", "public_key", NULL};
	enum fsec_err rc = FSEC_ERR_PARSE;
	size_t i, have = 0;
	json_t *k;

	if (!json_is_array(keys) || json_array_size(keys) == 0 ||
	    json_array_size(keys) > FSEC_RELEASE_MAX_KEYS)
		return fsec_seterr(rc, "%s.keys: must hold 1-%d keys", what, FSEC_RELEASE_MAX_KEYS);
	json_array_foreach(keys, i, k) {
		char where[48], kid[FSEC_SHA256_HEX_LEN];
		unsigned char der[SPKI_MAX];
		const unsigned char *p = der;
		const char *id, *pub;
		size_t dlen = 0;

		snprintf(where, sizeof(where), "%s.keys[%zu]", what, i);
		if ((rc = fsec_json_only_keys(k, where, key_known)) != FSEC_OK ||
		    (rc = fsec_json_get_str(k, where, "keyid", 0, 1, 64, &id)) != FSEC_OK ||
		    (rc = fsec_json_get_str(k, where, "public_key", 0, 1, SPKI_MAX * 2, &pub)) !=
		        FSEC_OK)
			goto fail;
		rc = FSEC_ERR_PARSE;
		if (fsec_b64_decode(pub, strlen(pub), der, sizeof(der), &dlen) &&
		    (out[i].key = d2i_PUBKEY(NULL, &p, (long)dlen)) != NULL)
			have++; /* owned from here, whatever follows */
		if (have != i + 1 || p != der + dlen) {
			fsec_seterr(rc, "%s.public_key: not a base64 DER public key", where);
			goto fail;
		}
		if (fsec_key_check_signing(out[i].key) != FSEC_OK) {
			fsec_seterr(rc, "%s.public_key: %s", where, fsec_err_detail());
			goto fail;
		}
		/* The keyid is derived, never trusted: a mismatch is an error. */
		if (fsec_key_id(out[i].key, kid) != FSEC_OK || strcmp(kid, id) != 0) {
			fsec_seterr(rc, "%s.keyid: does not match the public key", where);
			goto fail;
		}
		memcpy(out[i].keyid, kid, sizeof(kid));
	}
	*n = have;
	return FSEC_OK;
fail:
	keys_free(out, have);
	return rc;
}

static enum fsec_err delegation_parse(const unsigned char *buf, size_t len, struct delegation *d)
{
	static const char *const known[] = {"_type", "sequence", "expires", "keys", NULL};
	json_t *j = NULL;
	enum fsec_err rc;

	memset(d, 0, sizeof(*d));
	if ((rc = payload_open(buf, len, "delegation", known, VERSION_DELEGATION, &j)) != FSEC_OK)
		return rc;
	if ((rc = fsec_json_get_uint(j, "delegation", "sequence", 0, 0, JSON_UINT_MAX,
	                             &d->sequence)) == FSEC_OK &&
	    (rc = fsec_json_get_time(j, "delegation", "expires", 0, FSEC_TIME_CANONICAL,
	                             &d->expires)) == FSEC_OK)
		rc = keys_parse(json_object_get(j, "keys"), "delegation", d->keys, &d->nkeys);
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

/* A DSSE envelope of payload signed by each of keys (1..FSEC_RELEASE_MAX_KEYS),
 * as a JSON object. */
static enum fsec_err envelope_make_n(const char *type, const unsigned char *payload, size_t plen,
				     EVP_PKEY *const *keys, size_t nkeys, json_t **out)
{
	unsigned char *msg = NULL, *sig = NULL;
	char *b64p = NULL, *b64s = NULL, kid[FSEC_SHA256_HEX_LEN];
	size_t mlen = 0, slen = 0;
	enum fsec_err rc = FSEC_ERR_NOMEM;
	json_t *env = NULL, *sigs = json_array();

	msg = pae(type, payload, plen, &mlen);
	if (msg == NULL || sigs == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nkeys; i++) {
		if ((rc = fsec_key_id(keys[i], kid)) != FSEC_OK ||
		    (rc = fsec_key_sign(keys[i], msg, mlen, &sig, &slen)) != FSEC_OK)
			goto out;
		b64s = fsec_b64_encode(sig, slen);
		OPENSSL_free(sig);
		sig = NULL;
		if (b64s == NULL || json_array_append_new(sigs, json_pack("{s:s, s:s}", "keyid", kid,
									   "sig", b64s)) != 0) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
		free(b64s);
		b64s = NULL;
	}
	b64p = fsec_b64_encode(payload, plen);
	env = b64p != NULL ? json_pack("{s:s, s:s, s:O}", "payloadType", type, "payload", b64p,
				       "signatures", sigs)
			   : NULL;
	if (env == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = env;
	rc = FSEC_OK;
out:
	free(msg);
	OPENSSL_free(sig);
	free(b64p);
	free(b64s);
	json_decref(sigs);
	return rc;
}

/* A DSSE envelope of payload signed by key, as a JSON object. */
static enum fsec_err envelope_make(const char *type, const unsigned char *payload, size_t plen,
				   EVP_PKEY *key, json_t **out)
{
	return envelope_make_n(type, payload, plen, &key, 1, out);
}

static enum fsec_err dump(json_t *j, char **out)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "cannot encode JSON");
	*out = s;
	return FSEC_OK;
}

/* The "keys" list naming keys (1..FSEC_RELEASE_MAX_KEYS signing keys). */
static enum fsec_err keys_json(EVP_PKEY *const *keys, size_t n, json_t **out)
{
	json_t *arr = NULL;
	enum fsec_err rc = FSEC_ERR_INVAL;

	if (n == 0 || n > FSEC_RELEASE_MAX_KEYS)
		return fsec_seterr(rc, "name 1-%d keys", FSEC_RELEASE_MAX_KEYS);
	for (size_t i = 0; i < n; i++)
		if ((rc = fsec_key_check_signing(keys[i])) != FSEC_OK)
			return rc;
	if ((arr = json_array()) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
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
	*out = arr;
	arr = NULL;
	rc = FSEC_OK;
out:
	json_decref(arr);
	return rc;
}

FSEC_API enum fsec_err fsec_release_delegate(EVP_PKEY *root, EVP_PKEY *const *keys, size_t n,
					     uint64_t sequence, int64_t expires, char **json)
{
	json_t *payload = NULL, *arr = NULL, *env = NULL;
	char *body = NULL, when[32];
	enum fsec_err rc;

	fsec_clearerr();
	if (sequence > (uint64_t)JSON_UINT_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "delegate with a sequence below 2^53");
	if ((rc = keys_json(keys, n, &arr)) != FSEC_OK)
		return rc;
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

FSEC_API enum fsec_err fsec_release_delegate_renew(EVP_PKEY *root, const char *current,
						   size_t len, uint64_t sequence, int64_t expires,
						   char **json, uint64_t *old_sequence,
						   uint64_t *new_sequence)
{
	struct trusted_key rk = {.key = root};
	struct envelope de = {0};
	struct delegation d = {0};
	EVP_PKEY *keys[FSEC_RELEASE_MAX_KEYS];
	char signer[FSEC_SHA256_HEX_LEN];
	json_t *j = NULL;
	enum fsec_err rc = FSEC_ERR_PARSE;

	fsec_clearerr();
	if (len > FSEC_RELEASE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "delegation is %zu bytes, the limit is %u", len,
				   FSEC_RELEASE_MAX);
	if ((rc = fsec_key_id(root, rk.keyid)) != FSEC_OK)
		return rc;
	if ((j = load_json((const unsigned char *)current, len, "delegation")) == NULL)
		return FSEC_ERR_PARSE;
	/* The root renews only what it signed: a delegation from another root
	 * (or a forged one) would be laundered into a valid one here. */
	if ((rc = envelope_parse(j, TYPE_DELEGATION, "delegation", &de)) != FSEC_OK ||
	    (rc = envelope_verify(&de, TYPE_DELEGATION, &rk, 1, "delegation", signer)) != FSEC_OK ||
	    (rc = delegation_parse(de.payload, de.payload_len, &d)) != FSEC_OK)
		goto out;
	if (sequence == 0) {
		sequence = (uint64_t)time(NULL);
		if (sequence <= d.sequence)
			sequence = d.sequence + 1; /* below 2^53 + 1: checked by the signer */
	}
	if (sequence <= d.sequence) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "sequence: %llu is not above the current delegation's "
						 "(%llu)",
				 (unsigned long long)sequence, (unsigned long long)d.sequence);
		goto out;
	}
	if (expires <= (int64_t)time(NULL)) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "the new expiry is in the past");
		goto out;
	}
	for (size_t i = 0; i < d.nkeys; i++)
		keys[i] = d.keys[i].key;
	if ((rc = fsec_release_delegate(root, keys, d.nkeys, sequence, expires, json)) != FSEC_OK)
		goto out;
	if (old_sequence != NULL)
		*old_sequence = d.sequence;
	if (new_sequence != NULL)
		*new_sequence = sequence;
out:
	delegation_cleanup(&d);
	envelope_cleanup(&de);
	json_decref(j);
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

FSEC_API enum fsec_err fsec_release_delegation_peek(const char *delegation, size_t len,
						    uint64_t *sequence, int64_t *expires)
{
	struct envelope de = {0};
	struct delegation d = {0};
	json_t *j = NULL;
	enum fsec_err rc = FSEC_ERR_PARSE;

	fsec_clearerr();
	if (len > FSEC_RELEASE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "delegation is %zu bytes, the limit is %u", len,
				   FSEC_RELEASE_MAX);
	if ((j = load_json((const unsigned char *)delegation, len, "delegation")) == NULL)
		return rc;
	if ((rc = envelope_parse(j, TYPE_DELEGATION, "delegation", &de)) == FSEC_OK &&
	    (rc = delegation_parse(de.payload, de.payload_len, &d)) == FSEC_OK) {
		*sequence = d.sequence;
		*expires = d.expires;
	}
	delegation_cleanup(&d);
	envelope_cleanup(&de);
	json_decref(j);
	return rc;
}

/* ---- release-root rotation (TUF's root role) ---- */

struct root_doc {
	uint64_t version;
	uint64_t threshold;
	size_t nkeys;
	struct trusted_key keys[FSEC_RELEASE_MAX_KEYS];
};

struct fsec_release_trust {
	struct root_doc cur;              /* version 1: the pinned keys */
	EVP_PKEY *view[FSEC_RELEASE_MAX_KEYS];
	char *doc;                        /* the accepted envelope (JSON); NULL at version 1 */
	unsigned char *payload;           /* its payload, to tell a fork from history */
	size_t payload_len;
	/* The keys of every root followed through (owned, oldest first),
	 * then view's: what signed anything this trust has accepted. */
	EVP_PKEY **all;
	size_t npast, nall;
};

static void root_cleanup(struct root_doc *r)
{
	keys_free(r->keys, r->nkeys);
	memset(r, 0, sizeof(*r));
}

static enum fsec_err root_parse(const unsigned char *buf, size_t len, struct root_doc *r)
{
	static const char *const known[] = {"_type", "version", "threshold", "keys", NULL};
	json_t *j = NULL;
	enum fsec_err rc;

	memset(r, 0, sizeof(*r));
	if ((rc = payload_open(buf, len, "root", known, VERSION_ROOT, &j)) != FSEC_OK)
		return rc;
	/* Version 1 is the key pinned at manufacture: a document starts at 2. */
	if ((rc = fsec_json_get_uint(j, "root", "version", 0, 2, JSON_UINT_MAX, &r->version)) ==
	        FSEC_OK &&
	    (rc = fsec_json_get_uint(j, "root", "threshold", 0, 1, FSEC_RELEASE_MAX_KEYS,
	                             &r->threshold)) == FSEC_OK &&
	    (rc = keys_parse(json_object_get(j, "keys"), "root", r->keys, &r->nkeys)) == FSEC_OK &&
	    r->threshold > r->nkeys)
		rc = fsec_seterr(FSEC_ERR_PARSE, "root.threshold: %llu, above the %zu keys it names",
				 (unsigned long long)r->threshold, r->nkeys);
	if (rc != FSEC_OK)
		root_cleanup(r);
	json_decref(j);
	return rc;
}

/* How many distinct keys of keys[] made a signature over e that verifies. */
static size_t envelope_count(const struct envelope *e, const char *type,
			     const struct trusted_key *keys, size_t nkeys, bool *named)
{
	size_t len = 0, good = 0;
	unsigned char *msg = pae(type, e->payload, e->payload_len, &len);

	*named = false;
	if (msg == NULL)
		return 0;
	for (size_t k = 0; k < nkeys; k++)
		for (size_t i = 0; i < e->nsigs; i++) {
			if (strcmp(e->sigs[i].keyid, keys[k].keyid) != 0)
				continue;
			*named = true;
			if (fsec_key_verify(keys[k].key, msg, len, e->sigs[i].sig, e->sigs[i].len) ==
			    FSEC_OK) {
				good++;
				break; /* a key counts once, however often it signed */
			}
		}
	free(msg);
	return good;
}

/* The signatures of a root document: at least threshold of the keys of
 * signer (the previous root), and at least its own threshold of its own
 * keys, so that nobody is made a root without holding the key. */
static enum fsec_err root_signed(const struct envelope *e, const struct root_doc *signer,
				 const struct root_doc *r)
{
	bool named = false;

	if (envelope_count(e, TYPE_ROOT, signer->keys, signer->nkeys, &named) < signer->threshold)
		return fsec_seterr(FSEC_ERR_VERIFY, "%s: root version %llu is not signed by the "
						    "trusted root (version %llu)",
				   named ? "bad signature" : "unknown key",
				   (unsigned long long)r->version,
				   (unsigned long long)signer->version);
	if (envelope_count(e, TYPE_ROOT, r->keys, r->nkeys, &named) < r->threshold)
		return fsec_seterr(FSEC_ERR_VERIFY, "%s: root version %llu is not signed by its own "
						    "keys",
				   named ? "bad signature" : "unknown key",
				   (unsigned long long)r->version);
	return FSEC_OK;
}

static enum fsec_err root_from_keys(EVP_PKEY *const *keys, size_t n, struct root_doc *r)
{
	enum fsec_err rc;

	memset(r, 0, sizeof(*r));
	if (n == 0 || n > FSEC_RELEASE_MAX_KEYS)
		return fsec_seterr(FSEC_ERR_INVAL, "1-%d release root keys are required",
				   FSEC_RELEASE_MAX_KEYS);
	r->version = 1;
	r->threshold = 1;
	for (size_t i = 0; i < n; i++) {
		if ((rc = fsec_key_check_signing(keys[i])) != FSEC_OK ||
		    (rc = fsec_key_id(keys[i], r->keys[i].keyid)) != FSEC_OK) {
			root_cleanup(r);
			return rc;
		}
		EVP_PKEY_up_ref(keys[i]);
		r->keys[r->nkeys++].key = keys[i];
	}
	return FSEC_OK;
}

/* An envelope holding a root document whose own keys sign it: what the
 * trust was last moved to (a stored document), or the tip of a chain. */
static enum fsec_err root_open(json_t *env, const char *what, struct envelope *e,
			       struct root_doc *r)
{
	enum fsec_err rc;

	if ((rc = envelope_parse(env, TYPE_ROOT, what, e)) != FSEC_OK)
		return rc;
	if ((rc = root_parse(e->payload, e->payload_len, r)) != FSEC_OK)
		envelope_cleanup(e);
	return rc;
}

FSEC_API enum fsec_err fsec_release_root_sign(const struct fsec_release_root_opts *o, char **json)
{
	struct root_doc prev = {0}, next = {0};
	struct envelope pe = {0};
	EVP_PKEY *signers[2 * FSEC_RELEASE_MAX_KEYS];
	json_t *pj = NULL, *arr = NULL, *payload = NULL, *env = NULL;
	char *body = NULL;
	size_t n = 0;
	enum fsec_err rc;

	fsec_clearerr();
	if (o->nold == 0 || o->nold > FSEC_RELEASE_MAX_KEYS || o->nnew == 0 ||
	    o->nnew > FSEC_RELEASE_MAX_KEYS)
		return fsec_seterr(FSEC_ERR_INVAL, "1-%d old and 1-%d new root keys are required",
				   FSEC_RELEASE_MAX_KEYS, FSEC_RELEASE_MAX_KEYS);
	if ((rc = root_from_keys(o->old, o->nold, &next)) != FSEC_OK)
		return rc;
	root_cleanup(&next);
	if (o->previous != NULL) {
		bool named = false;

		/* The previous document must be the one the old keys hold: its
		 * own keys signed it, and they are the keys signing now. */
		if (o->previous_len > FSEC_RELEASE_MAX) {
			rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "previous root larger than %u bytes",
					 FSEC_RELEASE_MAX);
			goto out;
		}
		if ((pj = load_json((const unsigned char *)o->previous, o->previous_len, "root")) ==
		    NULL) {
			rc = FSEC_ERR_PARSE;
			goto out;
		}
		if ((rc = root_open(pj, "root", &pe, &prev)) != FSEC_OK)
			goto out;
		rc = FSEC_ERR_VERIFY;
		if (envelope_count(&pe, TYPE_ROOT, prev.keys, prev.nkeys, &named) < prev.threshold) {
			fsec_seterr(rc, "bad signature: the previous root is not signed by its own keys");
			goto out;
		}
		for (size_t i = 0; i < o->nold; i++) {
			char kid[FSEC_SHA256_HEX_LEN];
			bool found = false;

			if ((rc = fsec_key_id(o->old[i], kid)) != FSEC_OK)
				goto out;
			for (size_t k = 0; k < prev.nkeys; k++)
				found |= strcmp(prev.keys[k].keyid, kid) == 0;
			if (!found) {
				rc = fsec_seterr(FSEC_ERR_VERIFY, "unknown key: root key %.16s... is not "
								  "a key of root version %llu",
						 kid, (unsigned long long)prev.version);
				goto out;
			}
		}
		if (o->nold < prev.threshold) {
			rc = fsec_seterr(FSEC_ERR_VERIFY, "root version %llu needs %llu of its keys",
					 (unsigned long long)prev.version,
					 (unsigned long long)prev.threshold);
			goto out;
		}
	} else {
		prev.version = 1;
	}
	if (prev.version >= (uint64_t)JSON_UINT_MAX) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "root version at its maximum");
		goto out;
	}
	if ((rc = keys_json(o->new_keys, o->nnew, &arr)) != FSEC_OK)
		goto out;
	payload = json_pack("{s:s, s:I, s:i, s:O}", "_type", VERSION_ROOT, "version",
			    (json_int_t)(prev.version + 1), "threshold", 1, "keys", arr);
	body = payload != NULL ? json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (body == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* Signed by the old root (devices follow it) and the new (it holds
	 * its key): TUF's rule for a root rotation. */
	for (size_t i = 0; i < o->nold; i++)
		signers[n++] = o->old[i];
	for (size_t i = 0; i < o->nnew; i++)
		signers[n++] = o->new_keys[i];
	if ((rc = envelope_make_n(TYPE_ROOT, (unsigned char *)body, strlen(body), signers, n,
				  &env)) == FSEC_OK)
		rc = dump(env, json);
	if (rc == FSEC_OK && o->version != NULL)
		*o->version = prev.version + 1;
out:
	free(body);
	json_decref(payload);
	json_decref(arr);
	json_decref(env);
	json_decref(pj);
	envelope_cleanup(&pe);
	root_cleanup(&prev);
	return rc;
}

FSEC_API void fsec_release_trust_free(struct fsec_release_trust *t)
{
	if (t == NULL)
		return;
	root_cleanup(&t->cur);
	for (size_t i = 0; i < t->npast; i++)
		EVP_PKEY_free(t->all[i]);
	free(t->all);
	free(t->doc);
	free(t->payload);
	free(t);
}

/* Append the keys of r (up-referenced) to *past. At most
 * FSEC_RELEASE_ROOT_CHAIN_MAX roots of FSEC_RELEASE_MAX_KEYS keys each are
 * ever followed, so the count cannot overflow. */
static enum fsec_err past_add(EVP_PKEY ***past, size_t *n, const struct root_doc *r)
{
	EVP_PKEY **grown = realloc(*past, (*n + r->nkeys + FSEC_RELEASE_MAX_KEYS) * sizeof(**past));

	if (grown == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	*past = grown;
	for (size_t k = 0; k < r->nkeys; k++) {
		EVP_PKEY_up_ref(r->keys[k].key);
		grown[(*n)++] = r->keys[k].key;
	}
	return FSEC_OK;
}

static void past_free(EVP_PKEY **past, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(past[i]);
	free(past);
}

/* t->all's tail: the current keys after the past ones (borrowed). The
 * array always has FSEC_RELEASE_MAX_KEYS slots beyond the past (past_add). */
static enum fsec_err trust_all(struct fsec_release_trust *t)
{
	if (t->all == NULL &&
	    (t->all = calloc(FSEC_RELEASE_MAX_KEYS, sizeof(*t->all))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < t->cur.nkeys; i++)
		t->all[t->npast + i] = t->view[i];
	t->nall = t->npast + t->cur.nkeys;
	return FSEC_OK;
}

/* Make r (and its envelope) t's trust; takes r's keys. */
static enum fsec_err trust_set(struct fsec_release_trust *t, struct root_doc *r, json_t *env,
			       const struct envelope *e)
{
	char *doc = env != NULL ? json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	unsigned char *payload = e != NULL ? malloc(e->payload_len + 1) : NULL;

	if ((env != NULL && doc == NULL) || (e != NULL && payload == NULL)) {
		free(doc);
		free(payload);
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	if (e != NULL)
		memcpy(payload, e->payload, e->payload_len);
	root_cleanup(&t->cur);
	free(t->doc);
	free(t->payload);
	t->cur = *r;
	memset(r, 0, sizeof(*r));
	t->doc = doc;
	t->payload = payload;
	t->payload_len = e != NULL ? e->payload_len : 0;
	for (size_t i = 0; i < t->cur.nkeys; i++)
		t->view[i] = t->cur.keys[i].key;
	return trust_all(t);
}

FSEC_API enum fsec_err fsec_release_trust_new(EVP_PKEY *const *pinned, size_t npinned,
					      const unsigned char *stored, size_t len,
					      struct fsec_release_trust **out)
{
	struct fsec_release_trust *t = calloc(1, sizeof(*t));
	struct root_doc r = {0};
	struct envelope e = {0};
	json_t *j = NULL;
	enum fsec_err rc = FSEC_ERR_PARSE;
	bool named = false;

	fsec_clearerr();
	if (t == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = root_from_keys(pinned, npinned, &r)) != FSEC_OK ||
	    (rc = trust_set(t, &r, NULL, NULL)) != FSEC_OK)
		goto out;
	if (stored != NULL) {
		if (len > FSEC_RELEASE_MAX) {
			rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "stored root larger than %u bytes",
					 FSEC_RELEASE_MAX);
			goto out;
		}
		/* Accepted through the chain before and kept where only the agent
		 * writes: its own signatures guard against damage, not forgery. */
		if ((j = load_json(stored, len, "root")) == NULL) {
			rc = FSEC_ERR_PARSE;
			goto out;
		}
		if ((rc = root_open(j, "root", &e, &r)) != FSEC_OK)
			goto out;
		if (envelope_count(&e, TYPE_ROOT, r.keys, r.nkeys, &named) < r.threshold) {
			rc = fsec_seterr(FSEC_ERR_VERIFY, "bad signature: the stored root is not "
							  "signed by its own keys");
			goto out;
		}
		if ((rc = trust_set(t, &r, j, &e)) != FSEC_OK)
			goto out;
	}
	*out = t;
	t = NULL;
	rc = FSEC_OK;
out:
	root_cleanup(&r);
	envelope_cleanup(&e);
	json_decref(j);
	fsec_release_trust_free(t);
	return rc;
}

FSEC_API EVP_PKEY *const *fsec_release_trust_keys(const struct fsec_release_trust *t, size_t *n)
{
	*n = t->cur.nkeys;
	return t->view;
}

FSEC_API EVP_PKEY *const *fsec_release_trust_keys_all(const struct fsec_release_trust *t,
						      size_t *n)
{
	*n = t->nall;
	return t->all;
}

FSEC_API uint64_t fsec_release_trust_version(const struct fsec_release_trust *t)
{
	return t->cur.version;
}

FSEC_API const char *fsec_release_trust_doc(const struct fsec_release_trust *t)
{
	return t->doc;
}

FSEC_API enum fsec_err fsec_release_trust_update(struct fsec_release_trust *t,
						 const unsigned char *buf, size_t len,
						 bool *changed)
{
	static const char *const known[] = {"roots", NULL};
	struct root_doc cur = {0}, r = {0};
	struct envelope e = {0};
	json_t *j = NULL, *arr, *env, *tip = NULL;
	struct envelope tip_e = {0};
	uint64_t prev = 0, last;
	enum fsec_err rc = FSEC_ERR_PARSE;
	EVP_PKEY **past = NULL;
	size_t i, npast = 0;

	fsec_clearerr();
	if (len > FSEC_RELEASE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "roots are %zu bytes, the limit is %u", len,
				   FSEC_RELEASE_MAX);
	if ((j = load_json(buf, len, "roots")) == NULL)
		return rc;
	arr = json_object_get(j, "roots");
	if ((rc = fsec_json_only_keys(j, "roots", known)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_PARSE;
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > FSEC_RELEASE_ROOT_CHAIN_MAX) {
		fsec_seterr(rc, "roots.roots: must hold 1-%d root documents",
			    FSEC_RELEASE_ROOT_CHAIN_MAX);
		goto out;
	}
	/* The working copy: t changes only if the whole chain is accepted. */
	cur.version = t->cur.version;
	cur.threshold = t->cur.threshold;
	for (size_t k = 0; k < t->cur.nkeys; k++) {
		EVP_PKEY_up_ref(t->cur.keys[k].key);
		cur.keys[cur.nkeys++] = t->cur.keys[k];
	}
	json_array_foreach(arr, i, env) {
		char where[32];

		snprintf(where, sizeof(where), "roots[%zu]", i);
		if ((rc = root_open(env, where, &e, &r)) != FSEC_OK)
			goto out;
		rc = FSEC_ERR_VERIFY;
		/* One document per version, in order: a repeated or missing
		 * version is not a chain (a replay, or a gap to jump). */
		if (i > 0 && r.version != prev + 1) {
			fsec_seterr(rc, "sequence: root version %llu does not follow version %llu",
				    (unsigned long long)r.version, (unsigned long long)prev);
			goto out;
		}
		prev = r.version;
		if (r.version < t->cur.version) {
			/* History: already followed to reach the trusted root. */
		} else if (r.version == t->cur.version) {
			if (t->payload == NULL || t->payload_len != e.payload_len ||
			    CRYPTO_memcmp(t->payload, e.payload, e.payload_len) != 0) {
				fsec_seterr(rc, "fork: root version %llu is not the one this device "
						"accepted",
					    (unsigned long long)r.version);
				goto out;
			}
		} else {
			if (r.version != cur.version + 1) {
				fsec_seterr(rc, "sequence: root version %llu skips version %llu",
					    (unsigned long long)r.version,
					    (unsigned long long)(cur.version + 1));
				goto out;
			}
			if ((rc = root_signed(&e, &cur, &r)) != FSEC_OK ||
			    (rc = past_add(&past, &npast, &cur)) != FSEC_OK)
				goto out;
			root_cleanup(&cur);
			cur = r;
			memset(&r, 0, sizeof(r));
			tip = env;
			envelope_cleanup(&tip_e);
			tip_e = e;
			memset(&e, 0, sizeof(e));
		}
		root_cleanup(&r);
		envelope_cleanup(&e);
	}
	last = prev;
	rc = FSEC_ERR_VERIFY;
	if (last < t->cur.version) {
		fsec_seterr(rc, "rollback: the newest root served is version %llu, this device "
				"trusts version %llu",
			    (unsigned long long)last, (unsigned long long)t->cur.version);
		goto out;
	}
	if (tip != NULL) {
		/* The roots moved past join t's; past_add left room for the
		 * current keys after them. */
		EVP_PKEY **grown = realloc(t->all, (t->npast + npast + FSEC_RELEASE_MAX_KEYS) *
							   sizeof(*grown));

		if (grown == NULL) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
		t->all = grown;
		memcpy(t->all + t->npast, past, npast * sizeof(*past));
		t->npast += npast;
		if ((rc = trust_set(t, &cur, tip, &tip_e)) != FSEC_OK) {
			/* Out of memory before t changed: put its tail back. */
			t->npast -= npast;
			(void)trust_all(t);
			goto out;
		}
		free(past); /* its references are t->all's now */
		past = NULL;
		npast = 0;
	}
	*changed = tip != NULL;
	rc = FSEC_OK;
out:
	root_cleanup(&cur);
	root_cleanup(&r);
	envelope_cleanup(&e);
	envelope_cleanup(&tip_e);
	past_free(past, npast);
	json_decref(j);
	return rc;
}

FSEC_API enum fsec_err fsec_release_roots_append(const unsigned char *chain, size_t clen,
						 const unsigned char *doc, size_t dlen, char **out)
{
	json_t *c = NULL, *d = NULL, *arr;
	enum fsec_err rc = FSEC_ERR_PARSE;

	fsec_clearerr();
	if (clen > FSEC_RELEASE_MAX || dlen > FSEC_RELEASE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "input larger than %u bytes", FSEC_RELEASE_MAX);
	if ((d = load_json(doc, dlen, "root")) == NULL)
		return rc;
	if (chain != NULL) {
		if ((c = load_json(chain, clen, "roots")) == NULL)
			goto out;
	} else if ((c = json_pack("{s:[]}", "roots")) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	arr = json_object_get(c, "roots");
	if (!json_is_array(arr) || json_array_size(arr) >= FSEC_RELEASE_ROOT_CHAIN_MAX) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "roots: not a list with room for another root");
		goto out;
	}
	if (json_array_append(arr, d) != 0) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = dump(c, out);
out:
	json_decref(c);
	json_decref(d);
	return rc;
}

enum fsec_err fsec_release_check_root(const unsigned char *buf, size_t len)
{
	struct root_doc r;
	enum fsec_err rc = root_parse(buf, len, &r);

	if (rc == FSEC_OK)
		root_cleanup(&r);
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

/* ---- a device's tamper statement ---- */

static bool reason_ok(const char *r)
{
	size_t n = strnlen(r, FSEC_TAMPER_STATEMENT_REASON_MAX + 1);

	if (n == 0 || n > FSEC_TAMPER_STATEMENT_REASON_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (r[i] < 0x20 || r[i] > 0x7e)
			return false;
	return true;
}

FSEC_API bool fsec_tamper_statement_reason_valid(const char *r)
{
	return reason_ok(r);
}

FSEC_API enum fsec_err fsec_tamper_statement_sign(EVP_PKEY *key,
						  const struct fsec_tamper_statement *st,
						  char **json)
{
	char when[FSEC_TIME_LEN], *payload = NULL, *s = NULL;
	json_t *p = NULL, *env = NULL;
	enum fsec_err rc = FSEC_ERR_INVAL;

	if (!fsec_devid_valid(st->device) || !reason_ok(st->reason) || st->at <= 0)
		return fsec_seterr(rc, "tamper statement: a device ID, a time and a reason of "
				       "1-%d printable characters",
				   FSEC_TAMPER_STATEMENT_REASON_MAX);
	if ((rc = fsec_key_check_signing(key)) != FSEC_OK)
		return rc;
	rc = FSEC_ERR_NOMEM;
	if ((p = json_pack("{s:s, s:s, s:s, s:s}", "_type", VERSION_TAMPER, "device", st->device,
			   "time", fsec_time_format(st->at, when), "reason", st->reason)) == NULL ||
	    (payload = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		fsec_seterr(rc, "out of memory");
		goto out;
	}
	if ((rc = envelope_make(TYPE_TAMPER, (const unsigned char *)payload, strlen(payload), key,
				&env)) != FSEC_OK)
		goto out;
	if ((s = json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "cannot encode JSON");
		goto out;
	}
	*json = s;
	rc = FSEC_OK;
out:
	free(payload);
	json_decref(p);
	json_decref(env);
	return rc;
}

/* A tamper statement's payload, read once its signature has verified. */
static enum fsec_err tamper_payload(const unsigned char *buf, size_t len,
				    struct fsec_tamper_statement *out)
{
	static const char *const known[] = {"_type", "device", "time", "reason", NULL};
	struct fsec_tamper_statement st;
	json_t *p = NULL;
	enum fsec_err rc;

	memset(&st, 0, sizeof(st));
	if ((rc = payload_open(buf, len, "tamper statement", known, VERSION_TAMPER, &p)) !=
		    FSEC_OK ||
	    (rc = fsec_json_copy_str(p, "tamper statement", "device", 0, 1, st.device,
				     sizeof(st.device))) != FSEC_OK ||
	    (rc = fsec_json_copy_str(p, "tamper statement", "reason", 0, 1, st.reason,
				     sizeof(st.reason))) != FSEC_OK ||
	    (rc = fsec_json_get_time(p, "tamper statement", "time", 0, FSEC_TIME_CANONICAL,
				     &st.at)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_PARSE;
	if (!fsec_devid_valid(st.device) || !reason_ok(st.reason)) {
		fsec_seterr(rc, "tamper statement: a bad device ID or reason");
		goto out;
	}
	*out = st;
	rc = FSEC_OK;
out:
	json_decref(p);
	return rc;
}

enum fsec_err fsec_release_check_tamper(const unsigned char *buf, size_t len)
{
	struct fsec_tamper_statement st;

	return tamper_payload(buf, len, &st);
}

FSEC_API enum fsec_err fsec_tamper_statement_open(const unsigned char *buf, size_t len,
						  EVP_PKEY *key, struct fsec_tamper_statement *out)
{
	struct trusted_key tk = {.key = key};
	struct envelope e = {0};
	char signer[FSEC_SHA256_HEX_LEN];
	json_t *j = NULL;
	enum fsec_err rc = FSEC_ERR_VERIFY;

	/* Checked before anything is parsed: the size is the sender's. */
	if (len > FSEC_TAMPER_STATEMENT_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "tamper statement over %d bytes",
				   FSEC_TAMPER_STATEMENT_MAX);
	if ((rc = fsec_key_id(key, tk.keyid)) != FSEC_OK)
		return rc;
	if ((j = load_json(buf, len, "tamper statement")) == NULL)
		return FSEC_ERR_PARSE;
	/* The signature first: nothing the payload says is read unsigned. */
	if ((rc = envelope_parse(j, TYPE_TAMPER, "tamper statement", &e)) == FSEC_OK &&
	    (rc = envelope_verify(&e, TYPE_TAMPER, &tk, 1, "tamper statement", signer)) == FSEC_OK)
		rc = tamper_payload(e.payload, e.payload_len, out);
	envelope_cleanup(&e);
	json_decref(j);
	return rc;
}
