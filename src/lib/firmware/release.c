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
#include "fleetsec/fileio.h"
#include "fleetsec/key.h"
#include "fleetsec/release.h"
#include "release_int.h"

#define TYPE_DELEGATION "application/vnd.fleetsec.delegation+json"
#define TYPE_RELEASE "application/vnd.fleetsec.release+json"
#define VERSION_DELEGATION "fleetsec.delegation.v1"
#define VERSION_RELEASE "fleetsec.release.v1"
#define SIG_B64_MAX 512
#define SPKI_MAX 512
/* JSON integers we accept fit in 2^53, so they survive any JSON tool. */
#define JSON_UINT_MAX 9007199254740991LL
#define SIZE_MAX_IMAGE (1ULL << 40)

struct fsec_release {
	uint64_t sequence, delegation_sequence;
	int64_t expires;
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

/* ---- small strict parsers ---- */

FSEC_API enum fsec_err fsec_duration_parse(const char *s, int64_t *seconds)
{
	char *end = NULL;
	long long v;
	int64_t unit;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		goto bad;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || end[0] == '\0' || end[1] != '\0')
		goto bad;
	switch (end[0]) {
	case 'd': unit = 86400; break;
	case 'h': unit = 3600; break;
	case 'm': unit = 60; break;
	case 's': unit = 1; break;
	default: goto bad;
	}
	/* At most about 100 years: keeps every later addition in range. */
	if (v < 1 || v > 3660000000LL / unit)
		goto bad;
	*seconds = v * unit;
	return FSEC_OK;
bad:
	return fsec_seterr(FSEC_ERR_INVAL, "invalid duration '%.32s' (like 30d, 12h, 45m, 90s)", s);
}

/* n decimal digits, already checked to be digits. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* RFC 3339 UTC with second precision: "YYYY-MM-DDTHH:MM:SSZ", and a real
 * date (2026-02-31 is refused by the round trip through timegm). */
static bool time_parse(const char *s, int64_t *out)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm tm = {0}, back;
	time_t t;

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return false;
	tm.tm_year = digits(s, 4) - 1900;
	tm.tm_mon = digits(s + 5, 2) - 1;
	tm.tm_mday = digits(s + 8, 2);
	tm.tm_hour = digits(s + 11, 2);
	tm.tm_min = digits(s + 14, 2);
	tm.tm_sec = digits(s + 17, 2);
	back = tm;
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_year != back.tm_year || tm.tm_mon != back.tm_mon ||
	    tm.tm_mday != back.tm_mday || tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min ||
	    tm.tm_sec != back.tm_sec)
		return false;
	*out = (int64_t)t;
	return true;
}

static void time_format(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool hex_decode(const char *s, unsigned char *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return false;
		out[i / 2] = (unsigned char)(i % 2 == 0 ? v << 4 : out[i / 2] | v);
	}
	return true;
}

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

/* Refuse keys not in known: a field we do not understand could be one the
 * signer meant us to honour. */
static enum fsec_err only_keys(json_t *o, const char *const *known, size_t n, const char *where)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return fsec_seterr(FSEC_ERR_PARSE, "%s: not a JSON object", where);
	json_object_foreach(o, k, v) {
		size_t i;

		for (i = 0; i < n; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		if (i == n)
			return fsec_seterr(FSEC_ERR_PARSE, "%s: unknown field \"%.40s\"", where, k);
	}
	return FSEC_OK;
}

static enum fsec_err get_uint(json_t *o, const char *key, long long max, const char *where,
			      uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return fsec_seterr(FSEC_ERR_PARSE, "%s.%s: must be an integer from 0 to %lld", where,
				   key, max);
	*out = (uint64_t)json_integer_value(v);
	return FSEC_OK;
}

static enum fsec_err get_str(json_t *o, const char *key, size_t max, const char *where,
			     const char **out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return fsec_seterr(FSEC_ERR_PARSE, "%s.%s: must be a string of 1-%zu characters",
				   where, key, max);
	*out = json_string_value(v);
	return FSEC_OK;
}

static enum fsec_err get_time(json_t *o, const char *key, const char *where, int64_t *out)
{
	const char *s;
	enum fsec_err rc = get_str(o, key, 32, where, &s);

	if (rc == FSEC_OK && !time_parse(s, out))
		rc = fsec_seterr(FSEC_ERR_PARSE, "%s.%s: not a UTC time like 2026-01-31T12:00:00Z",
				 where, key);
	return rc;
}

static json_t *load_json(const unsigned char *buf, size_t len, const char *what)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);

	if (j == NULL)
		fsec_seterr(FSEC_ERR_PARSE, "%s: malformed JSON at line %d column %d: %s", what,
			    jerr.line, jerr.column, jerr.text);
	return j;
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
	static const char *const known[] = {"payloadType", "payload", "signatures"};
	static const char *const sig_known[] = {"keyid", "sig"};
	json_t *sigs, *s;
	const char *pt, *payload;
	enum fsec_err rc;
	size_t i, plen;

	memset(e, 0, sizeof(*e));
	if ((rc = only_keys(env, known, 3, what)) != FSEC_OK ||
	    (rc = get_str(env, "payloadType", 128, what, &pt)) != FSEC_OK ||
	    (rc = get_str(env, "payload", FSEC_RELEASE_MAX, what, &payload)) != FSEC_OK)
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
		if ((rc = only_keys(s, sig_known, 2, where)) != FSEC_OK ||
		    (rc = get_str(s, "keyid", 64, where, &kid)) != FSEC_OK ||
		    (rc = get_str(s, "sig", SIG_B64_MAX, where, &sig)) != FSEC_OK)
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
	static const char *const known[] = {"_type", "sequence", "expires", "keys"};
	static const char *const key_known[] = {"keyid", "public_key"};
	json_t *j = load_json(buf, len, "delegation"), *keys, *k;
	enum fsec_err rc = FSEC_ERR_PARSE;
	const char *type;
	size_t i;

	memset(d, 0, sizeof(*d));
	if (j == NULL)
		return rc;
	if ((rc = only_keys(j, known, 4, "delegation")) != FSEC_OK ||
	    (rc = get_str(j, "_type", 64, "delegation", &type)) != FSEC_OK ||
	    (rc = get_uint(j, "sequence", JSON_UINT_MAX, "delegation", &d->sequence)) != FSEC_OK ||
	    (rc = get_time(j, "expires", "delegation", &d->expires)) != FSEC_OK)
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
		if ((rc = only_keys(k, key_known, 2, where)) != FSEC_OK ||
		    (rc = get_str(k, "keyid", 64, where, &id)) != FSEC_OK ||
		    (rc = get_str(k, "public_key", SPKI_MAX * 2, where, &pub)) != FSEC_OK)
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
	static const char *const known[] = {"model", "version", "security_counter", "size",
					    "sha256", "urls", "chunk_size", "chunks", "rollout"};
	struct fsec_release_entry *en = &r->entry;
	const char *model, *version, *sha;
	uint64_t sc, size, chunk;
	json_t *urls, *chunks, *rollout, *v;
	enum fsec_err rc;
	size_t i, want;

	if ((rc = only_keys(e, known, 9, where)) != FSEC_OK ||
	    (rc = get_str(e, "model", FSEC_MODEL_NAME_MAX, where, &model)) != FSEC_OK ||
	    (rc = get_str(e, "version", 32, where, &version)) != FSEC_OK ||
	    (rc = get_uint(e, "security_counter", UINT32_MAX, where, &sc)) != FSEC_OK ||
	    (rc = get_uint(e, "size", (long long)SIZE_MAX_IMAGE, where, &size)) != FSEC_OK ||
	    (rc = get_str(e, "sha256", 64, where, &sha)) != FSEC_OK ||
	    (rc = get_uint(e, "chunk_size", FSEC_RELEASE_CHUNK_MAX, where, &chunk)) != FSEC_OK)
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
	if (!hex_decode(sha, keep ? en->sha256 : (unsigned char[32]){0}, 32))
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
		    !hex_decode(json_string_value(v), keep ? r->chunks[i] : scratch, 32))
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
		static const char *const rk[] = {"percent"};
		uint64_t pct;

		if ((rc = only_keys(rollout, rk, 1, where)) != FSEC_OK ||
		    (rc = get_uint(rollout, "percent", 100, where, &pct)) != FSEC_OK)
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
	static const char *const known[] = {"_type", "sequence", "issued", "expires", "releases"};
	json_t *j = load_json(buf, len, "manifest"), *rels, *e;
	enum fsec_err rc = FSEC_ERR_PARSE;
	const char *type;
	int64_t issued;
	size_t i;

	if (j == NULL)
		return rc;
	if ((rc = only_keys(j, known, 5, "manifest")) != FSEC_OK ||
	    (rc = get_str(j, "_type", 64, "manifest", &type)) != FSEC_OK ||
	    (rc = get_uint(j, "sequence", JSON_UINT_MAX, "manifest", &r->sequence)) != FSEC_OK ||
	    (rc = get_time(j, "issued", "manifest", &issued)) != FSEC_OK ||
	    (rc = get_time(j, "expires", "manifest", &r->expires)) != FSEC_OK)
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

FSEC_API const char *fsec_release_signer(const struct fsec_release *r)
{
	return r->signer;
}

FSEC_API enum fsec_err fsec_release_verify(const unsigned char *buf, size_t len,
					   const struct fsec_release_policy *pol,
					   struct fsec_release **out)
{
	static const char *const known[] = {"delegation", "manifest"};
	struct trusted_key roots[FSEC_RELEASE_MAX_KEYS];
	struct envelope de = {0}, me = {0};
	struct delegation d = {0};
	struct fsec_release *r = NULL;
	char signer[FSEC_SHA256_HEX_LEN];
	int64_t now = pol->now != 0 ? pol->now : (int64_t)time(NULL);
	enum fsec_err rc = FSEC_ERR_VERIFY;
	json_t *j = NULL;

	fsec_clearerr();
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
	if ((j = load_json(buf, len, "release")) == NULL)
		return FSEC_ERR_PARSE;
	if ((rc = only_keys(j, known, 2, "release")) != FSEC_OK ||
	    (rc = envelope_parse(json_object_get(j, "delegation"), TYPE_DELEGATION, "delegation",
				 &de)) != FSEC_OK ||
	    (rc = envelope_parse(json_object_get(j, "manifest"), TYPE_RELEASE, "manifest", &me)) !=
		    FSEC_OK)
		goto out;
	/* Signatures before contents: nothing unauthenticated is interpreted
	 * beyond the envelope. */
	if ((rc = envelope_verify(&de, TYPE_DELEGATION, roots, pol->nroots, "delegation",
				  signer)) != FSEC_OK ||
	    (rc = delegation_parse(de.payload, de.payload_len, &d)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_VERIFY;
	if (d.expires <= now) {
		fsec_seterr(rc, "expired: the delegation expired");
		goto out;
	}
	if (d.sequence < pol->last_delegation) {
		fsec_seterr(rc, "sequence: delegation %llu is older than the last accepted (%llu)",
			    (unsigned long long)d.sequence, (unsigned long long)pol->last_delegation);
		goto out;
	}
	if ((rc = envelope_verify(&me, TYPE_RELEASE, d.keys, d.nkeys, "manifest", signer)) !=
	    FSEC_OK)
		goto out;
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
	envelope_cleanup(&de);
	envelope_cleanup(&me);
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
	time_format(expires, when);
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
	time_format((int64_t)time(NULL), issued);
	time_format(o->expires, expires);
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

FSEC_API enum fsec_err fsec_release_sign(const char *manifest, size_t mlen, const char *delegation,
					 size_t dlen, EVP_PKEY *key, char **bundle)
{
	struct fsec_release check = {0};
	struct envelope de = {0};
	struct delegation d = {0};
	char kid[FSEC_SHA256_HEX_LEN];
	json_t *dj = NULL, *menv = NULL, *b = NULL;
	enum fsec_err rc;
	bool named = false;

	fsec_clearerr();
	if (mlen > FSEC_RELEASE_MAX || dlen > FSEC_RELEASE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "input larger than %u bytes", FSEC_RELEASE_MAX);
	if ((rc = manifest_parse((const unsigned char *)manifest, mlen, NULL, &check)) != FSEC_OK)
		return rc;
	if ((dj = load_json((const unsigned char *)delegation, dlen, "delegation")) == NULL)
		return FSEC_ERR_PARSE;
	if ((rc = envelope_parse(dj, TYPE_DELEGATION, "delegation", &de)) != FSEC_OK ||
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
	delegation_cleanup(&d);
	envelope_cleanup(&de);
	return rc;
}

enum fsec_err fsec_release_check_manifest(const unsigned char *buf, size_t len)
{
	struct fsec_release r = {0};

	return manifest_parse(buf, len, NULL, &r);
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
