/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Release manifests: every refusal of the issue, plus delegation and key
 * rotation. Bundles for the negative cases are built here with an
 * independent DSSE implementation (OpenSSL directly), so a malformed but
 * correctly signed manifest reaches the content checks.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fleetsec/key.h"
#include "fleetsec/release.h"
#include "release_int.h"
#include "testutil.h"

#define T_DELEG "application/vnd.fleetsec.delegation+json"
#define T_REL "application/vnd.fleetsec.release+json"

static EVP_PKEY *root, *online, *other;
static char *image_path, *dir;

static char *b64(const unsigned char *in, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1);

	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

static void keyid(EVP_PKEY *k, char out[65])
{
	unsigned char *der = NULL, md[32];
	int n = i2d_PUBKEY(k, &der);

	EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A DSSE envelope, written independently of the library. */
static char *envelope(const char *type, const char *payload, EVP_PKEY *signer)
{
	char *pae = NULL, *p64, *s64, *out = NULL, kid[65];
	unsigned char sig[256];
	size_t slen = sizeof(sig);
	int n = asprintf(&pae, "DSSEv1 %zu %s %zu %s", strlen(type), type, strlen(payload), payload);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const EVP_MD *md = EVP_PKEY_get_base_id(signer) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();

	assert_true(n > 0);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, signer), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &slen, (unsigned char *)pae, (size_t)n), 1);
	EVP_MD_CTX_free(ctx);
	p64 = b64((const unsigned char *)payload, strlen(payload));
	s64 = b64(sig, slen);
	keyid(signer, kid);
	assert_true(asprintf(&out,
			     "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":"
			     "[{\"keyid\":\"%s\",\"sig\":\"%s\"}]}",
			     type, p64, kid, s64) > 0);
	free(pae);
	free(p64);
	free(s64);
	return out;
}

static void utc(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *delegation(EVP_PKEY *signer, EVP_PKEY *delegated, uint64_t seq, int64_t expires)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(delegated, &der);
	char kid[65], when[32], *pub = b64(der, (size_t)n), *payload = NULL, *env;

	keyid(delegated, kid);
	utc(expires, when);
	assert_true(asprintf(&payload,
			     "{\"_type\":\"fleetsec.delegation.v1\",\"sequence\":%llu,\"expires\":"
			     "\"%s\",\"keys\":[{\"keyid\":\"%s\",\"public_key\":\"%s\"}]}",
			     (unsigned long long)seq, when, kid, pub) > 0);
	env = envelope(T_DELEG, payload, signer);
	OPENSSL_free(der);
	free(pub);
	free(payload);
	return env;
}

/* An entry for a 5000-byte image in 4096-byte chunks (2 chunks). */
#define H64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ENTRY(model)                                                                          \
	"{\"model\":\"" model "\",\"version\":\"1.2.3+4\",\"security_counter\":7,"            \
	"\"size\":5000,\"sha256\":\"" H64 "\",\"urls\":[\"https://u.example/fw\"],"        \
	"\"chunk_size\":4096,\"chunks\":[\"" H64 "\",\"" H64 "\"]}"

static char *manifest(uint64_t seq, int64_t expires, const char *releases)
{
	char *m = NULL, when[32], now[32];

	utc(expires, when);
	utc(time(NULL), now);
	assert_true(asprintf(&m,
			     "{\"_type\":\"fleetsec.release.v1\",\"sequence\":%llu,\"issued\":\"%s\","
			     "\"expires\":\"%s\",\"releases\":[%s]}",
			     (unsigned long long)seq, now, when, releases) > 0);
	return m;
}

static char *bundle(const char *deleg, const char *mani, EVP_PKEY *signer)
{
	char *env = envelope(T_REL, mani, signer), *b = NULL;

	assert_true(asprintf(&b, "{\"delegation\":%s,\"manifest\":%s}", deleg, env) > 0);
	free(env);
	return b;
}

static enum fsec_err check(const char *b, uint64_t last_seq, uint64_t last_deleg, const char *model,
			   const char *why)
{
	struct fsec_release_policy pol = {.roots = &root, .nroots = 1, .model = model,
					  .last_sequence = last_seq, .last_delegation = last_deleg};
	struct fsec_release *r = NULL;
	enum fsec_err rc = fsec_release_verify((const unsigned char *)b, strlen(b), &pol, &r);

	if (rc == FSEC_OK)
		assert_non_null(r);
	else
		assert_null(r);
	if (why != NULL && strstr(fsec_err_detail(), why) == NULL)
		fail_msg("expected '%s', got '%s'", why, fsec_err_detail());
	assert_null(strchr(fsec_err_detail(), '\n'));
	fsec_release_free(r);
	return rc;
}

static char *standard_deleg(void)
{
	return delegation(root, online, 5, time(NULL) + 86400);
}

static void accepts_independent_dsse(void **state)
{
	char *d = standard_deleg(), *m = manifest(10, time(NULL) + 3600, ENTRY("cam")),
	     *b = bundle(d, m, online);
	struct fsec_release_policy pol = {.roots = &root, .nroots = 1, .model = "cam",
					  .last_sequence = 9};
	struct fsec_release *r = NULL;
	const struct fsec_release_entry *e;

	(void)state;
	assert_int_equal(fsec_release_verify((unsigned char *)b, strlen(b), &pol, &r), FSEC_OK);
	e = fsec_release_entry(r);
	assert_string_equal(e->model, "cam");
	assert_int_equal(e->security_counter, 7);
	assert_int_equal(e->size, 5000);
	assert_int_equal(e->nchunks, 2);
	assert_int_equal(e->chunk_size, 4096);
	assert_string_equal(e->urls[0], "https://u.example/fw");
	assert_int_equal(fsec_release_sequence(r), 10);
	assert_int_equal(fsec_release_delegation_sequence(r), 5);
	fsec_release_free(r);
	free(b);
	free(m);
	free(d);
}

static void refuses_bad_signature(void **state)
{
	char *d = standard_deleg(), *m = manifest(10, time(NULL) + 3600, ENTRY("cam")),
	     *b = bundle(d, m, online), *sig;

	(void)state;
	/* Flip one character of the manifest's signature. */
	sig = strstr(strstr(b, "\"manifest\""), "\"sig\":\"") + 7;
	*sig = *sig == 'A' ? 'B' : 'A';
	assert_int_equal(check(b, 0, 0, "cam", "bad signature"), FSEC_ERR_VERIFY);
	free(b);
	/* A payload changed after signing. */
	b = bundle(d, m, online);
	{
		char *p = strstr(strstr(b, "\"manifest\""), "\"payload\":\"") + 11 + 40;

		*p = *p == 'A' ? 'B' : 'A';
	}
	assert_int_not_equal(check(b, 0, 0, "cam", NULL), FSEC_OK);
	free(b);
	free(m);
	free(d);
}

static void refuses_unknown_keys(void **state)
{
	char *d = standard_deleg(), *m = manifest(10, time(NULL) + 3600, ENTRY("cam")), *b;

	(void)state;
	/* Manifest signed by a key the delegation does not name. */
	b = bundle(d, m, other);
	assert_int_equal(check(b, 0, 0, "cam", "unknown key"), FSEC_ERR_VERIFY);
	free(b);
	/* Delegation signed by a key that is not pinned. */
	free(d);
	d = delegation(other, online, 5, time(NULL) + 86400);
	b = bundle(d, m, online);
	assert_int_equal(check(b, 0, 0, "cam", "unknown key: the delegation"), FSEC_ERR_VERIFY);
	free(b);
	/* Manifest signed directly by the root: roots only delegate. */
	free(d);
	d = standard_deleg();
	b = bundle(d, m, root);
	assert_int_equal(check(b, 0, 0, "cam", "unknown key"), FSEC_ERR_VERIFY);
	free(b);
	free(m);
	free(d);
}

static void refuses_weak_delegated_key(void **state)
{
	EVP_PKEY *weak = tu_key("secp256k1");
	char *d = delegation(root, weak, 5, time(NULL) + 86400);
	char *m = manifest(10, time(NULL) + 3600, ENTRY("cam")), *b = bundle(d, m, online);
	char *out = NULL;

	(void)state;
	assert_int_equal(check(b, 0, 0, "cam", "Ed25519 or ECDSA P-256"), FSEC_ERR_PARSE);
	assert_int_equal(fsec_release_delegate(root, &weak, 1, 1, time(NULL) + 60, &out),
			 FSEC_ERR_POLICY);
	assert_null(out);
	free(b);
	free(m);
	free(d);
	EVP_PKEY_free(weak);
}

static void refuses_expired(void **state)
{
	char *d = standard_deleg(), *m = manifest(10, time(NULL) - 1, ENTRY("cam")),
	     *b = bundle(d, m, online);

	(void)state;
	assert_int_equal(check(b, 0, 0, "cam", "expired: the manifest"), FSEC_ERR_VERIFY);
	free(b);
	free(m);
	free(d);
	d = delegation(root, online, 5, time(NULL) - 1);
	m = manifest(10, time(NULL) + 3600, ENTRY("cam"));
	b = bundle(d, m, online);
	assert_int_equal(check(b, 0, 0, "cam", "expired: the delegation"), FSEC_ERR_VERIFY);
	free(b);
	free(m);
	free(d);
}

static void refuses_replayed_sequence(void **state)
{
	char *d = standard_deleg(), *m = manifest(10, time(NULL) + 3600, ENTRY("cam")),
	     *b = bundle(d, m, online);

	(void)state;
	/* The device last accepted delegation 5 (this one). */
	assert_int_equal(check(b, 9, 5, "cam", NULL), FSEC_OK);
	assert_int_equal(check(b, 10, 5, "cam", "not above"), FSEC_ERR_VERIFY);
	assert_int_equal(check(b, 11, 5, "cam", "not above"), FSEC_ERR_VERIFY);
	free(b);
	free(m);
	free(d);
}

/* A stolen online key signs sequence 2^53-1; devices accept it. After the
 * operator rotates to delegation 6, ordinary sequence numbers work again,
 * and the stolen key's manifests are refused. */
static void stolen_key_cannot_block_updates(void **state)
{
	char *d5 = standard_deleg(), *d6 = delegation(root, other, 6, time(NULL) + 86400);
	char *huge = manifest(9007199254740991ULL, time(NULL) + 3600, ENTRY("cam"));
	char *next = manifest(11, time(NULL) + 3600, ENTRY("cam"));
	char *evil = bundle(d5, huge, online), *fix = bundle(d6, next, other);

	(void)state;
	assert_int_equal(check(evil, 10, 5, "cam", NULL), FSEC_OK);
	/* Under delegation 5 nothing can follow it... */
	assert_int_equal(check(evil, 9007199254740991ULL, 5, "cam", "not above"), FSEC_ERR_VERIFY);
	/* ...but delegation 6 starts a new series. */
	assert_int_equal(check(fix, 9007199254740991ULL, 5, "cam", NULL), FSEC_OK);
	assert_int_equal(check(evil, 11, 6, "cam", "older"), FSEC_ERR_VERIFY);
	free(d5);
	free(d6);
	free(huge);
	free(next);
	free(evil);
	free(fix);
}

static void refuses_other_model(void **state)
{
	char *d = standard_deleg(), *m = manifest(10, time(NULL) + 3600, ENTRY("cam")),
	     *b = bundle(d, m, online);

	(void)state;
	assert_int_equal(check(b, 0, 0, "thermostat", "no release for model thermostat"),
			 FSEC_ERR_VERIFY);
	free(b);
	free(m);
	free(d);
}

/* Rotation: delegation 6 names a new key. Devices that saw it refuse
 * bundles still carrying delegation 5 (the old, maybe stolen, key). */
static void rotation_retires_old_key(void **state)
{
	char *d5 = standard_deleg(), *d6 = delegation(root, other, 6, time(NULL) + 86400);
	char *m = manifest(10, time(NULL) + 3600, ENTRY("cam"));
	char *old = bundle(d5, m, online), *new = bundle(d6, m, other);

	(void)state;
	assert_int_equal(check(new, 0, 5, "cam", NULL), FSEC_OK);
	assert_int_equal(check(old, 0, 6, "cam", "delegation 5 is older"), FSEC_ERR_VERIFY);
	/* The old key cannot sign under the new delegation. */
	free(old);
	old = bundle(d6, m, online);
	assert_int_equal(check(old, 0, 6, "cam", "unknown key"), FSEC_ERR_VERIFY);
	free(old);
	free(new);
	free(m);
	free(d5);
	free(d6);
}

static void refuses_malformed(void **state)
{
	const char *const bad_entries[][2] = {
		{"{\"model\":\"cam\"}", "must be a string"},
		{ENTRY("c a m"), "model"},
		{"{\"model\":\"cam\",\"version\":\"1.2.3+4\",\"security_counter\":7,\"size\":5000,"
		 "\"sha256\":\"" H64 "\",\"urls\":[\"https://u\"],\"chunk_size\":4096,"
		 "\"chunks\":[\"" H64 "\"]}",
		 "chunks"},
		{"{\"model\":\"cam\",\"version\":\"1.2.3+4\",\"security_counter\":7,\"size\":5000,"
		 "\"sha256\":\"" H64 "\",\"urls\":[\"http://u\"],\"chunk_size\":4096,"
		 "\"chunks\":[\"" H64 "\",\"" H64 "\"]}",
		 "https://"},
		{"{\"model\":\"cam\",\"version\":\"1.2.3+4\",\"security_counter\":7,\"size\":5000,"
		 "\"sha256\":\"" H64 "\",\"urls\":[\"https://u\"],\"chunk_size\":1024,"
		 "\"chunks\":[\"" H64 "\",\"" H64 "\"]}",
		 "chunk_size"},
		{"{\"model\":\"cam\",\"version\":\"1.2.3+4\",\"security_counter\":4294967296,"
		 "\"size\":5000,\"sha256\":\"" H64 "\",\"urls\":[\"https://u\"],\"chunk_size\":4096,"
		 "\"chunks\":[\"" H64 "\",\"" H64 "\"]}",
		 "security_counter"},
		{"{\"model\":\"cam\",\"version\":\"1.2.3+4\",\"security_counter\":7,\"size\":5000,"
		 "\"sha256\":\"" H64 "\",\"urls\":[\"https://u\"],\"chunk_size\":4096,"
		 "\"chunks\":[\"" H64 "\",\"" H64 "\"],\"extra\":true}",
		 "unknown field"},
		{ENTRY("cam") "," ENTRY("cam"), "listed twice"},
		{ENTRY("cam") "," ENTRY("plug") "," ENTRY("plug"), "model plug listed twice"},
	};
	char *d = standard_deleg();

	(void)state;
	for (size_t i = 0; i < sizeof(bad_entries) / sizeof(bad_entries[0]); i++) {
		char *m = manifest(10, time(NULL) + 3600, bad_entries[i][0]), *b = bundle(d, m, online);

		assert_int_equal(check(b, 0, 0, "cam", bad_entries[i][1]), FSEC_ERR_PARSE);
		free(b);
		free(m);
	}
	/* Not JSON at all, and JSON of the wrong shape. */
	assert_int_equal(check("{\"delegation\": [", 0, 0, "cam", "malformed JSON"), FSEC_ERR_PARSE);
	assert_int_equal(check("[]", 0, 0, "cam", "not a JSON object"), FSEC_ERR_PARSE);
	assert_int_equal(check("{\"delegation\":{},\"manifest\":{},\"x\":1}", 0, 0, "cam",
			       "unknown field"),
			 FSEC_ERR_PARSE);
	/* Dates that do not exist. */
	{
		char *m = manifest(10, time(NULL) + 3600, ENTRY("cam")), *p = strstr(m, "\"expires\":\"");
		char *b;

		memcpy(p + 11 + 5, "02-31", 5);
		b = bundle(d, m, online);
		assert_int_equal(check(b, 0, 0, "cam", "expires"), FSEC_ERR_PARSE);
		free(b);
		free(m);
	}
	free(d);
}

static void too_large(void **state)
{
	size_t n = FSEC_RELEASE_MAX + 1;
	char *big = malloc(n + 1);

	(void)state;
	memset(big, ' ', n);
	big[n] = '\0';
	assert_int_equal(check(big, 0, 0, "cam", "limit"), FSEC_ERR_TOO_LARGE);
	free(big);
}

/* The library's own create/sign round-trips through verify. */
static void create_sign_verify(void **state)
{
	const char *urls[] = {"https://a.example/fw.img", "/v1/firmware/x"};
	struct fsec_release_create_opts o = {.model = "cam", .image = image_path, .urls = urls,
					     .nurls = 2, .chunk_size = 4096, .rollout_percent = 50,
					     .sequence = 77, .expires = time(NULL) + 600};
	char *json = NULL, *deleg = NULL, *b = NULL, *m2 = NULL;
	struct fsec_release_policy pol = {.roots = &root, .nroots = 1, .model = "cam"};
	struct fsec_release *r = NULL;

	(void)state;
	assert_int_equal(fsec_release_create(&o, &json), FSEC_OK);
	/* Add a second model to the same manifest. */
	o.model = "plug";
	o.base = json;
	o.base_len = strlen(json);
	assert_int_equal(fsec_release_create(&o, &m2), FSEC_OK);
	assert_int_equal(fsec_release_delegate(root, &online, 1, 3, time(NULL) + 600, &deleg), FSEC_OK);
	assert_int_equal(fsec_release_sign(m2, strlen(m2), deleg, strlen(deleg), online, &b), FSEC_OK);
	assert_int_equal(fsec_release_verify((unsigned char *)b, strlen(b), &pol, &r), FSEC_OK);
	assert_int_equal(fsec_release_entry(r)->rollout_percent, 50);
	assert_int_equal(fsec_release_entry(r)->nurls, 2);
	fsec_release_free(r);
	r = NULL;
	pol.model = "plug";
	assert_int_equal(fsec_release_verify((unsigned char *)b, strlen(b), &pol, &r), FSEC_OK);
	fsec_release_free(r);
	free(b);
	b = NULL;
	/* Signing with a key the delegation does not name is refused up front. */
	assert_int_equal(fsec_release_sign(m2, strlen(m2), deleg, strlen(deleg), other, &b),
			 FSEC_ERR_VERIFY);
	assert_null(b);
	free(json);
	free(m2);
	free(deleg);
}

static void durations(void **state)
{
	int64_t s = 0;

	(void)state;
	assert_int_equal(fsec_duration_parse("30d", &s), FSEC_OK);
	assert_int_equal(s, 30 * 86400);
	assert_int_equal(fsec_duration_parse("90s", &s), FSEC_OK);
	assert_int_equal(s, 90);
	assert_int_equal(fsec_duration_parse("0d", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("-1d", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("12", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("99999999999d", &s), FSEC_ERR_INVAL);
}

/* ---- delegation renewal ---- */

static void renew_delegation(void **state)
{
	char *cur = standard_deleg(), *json = NULL;
	uint64_t was = 0, now_seq = 0;
	int64_t later = time(NULL) + 400 * 86400;
	char *b, *m;

	(void)state;
	/* Another root key: refused, nothing written. */
	assert_int_equal(fsec_release_delegate_renew(other, cur, strlen(cur), 9, later, &json, NULL,
						     NULL),
			 FSEC_ERR_VERIFY);
	assert_non_null(strstr(fsec_err_detail(), "unknown key"));
	assert_null(json);
	/* A sequence not above the current one (5), an expiry in the past. */
	assert_int_equal(fsec_release_delegate_renew(root, cur, strlen(cur), 5, later, &json, NULL,
						     NULL),
			 FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "5 is not above the current delegation's (5)"));
	assert_int_equal(fsec_release_delegate_renew(root, cur, strlen(cur), 9, time(NULL) - 1,
						     &json, NULL, NULL),
			 FSEC_ERR_INVAL);
	assert_null(json);
	/* Sequence 0: the current time, above 5. The same key signs under it,
	 * and a device that took it refuses the old delegation. */
	assert_int_equal(fsec_release_delegate_renew(root, cur, strlen(cur), 0, later, &json, &was,
						     &now_seq),
			 FSEC_OK);
	assert_int_equal(was, 5);
	assert_true(now_seq >= (uint64_t)time(NULL) - 5);
	m = manifest(1, time(NULL) + 3600, ENTRY("sensor"));
	b = bundle(json, m, online);
	assert_int_equal(check(b, 0, 5, "sensor", NULL), FSEC_OK);
	free(b);
	b = bundle(cur, m, online);
	assert_int_equal(check(b, 0, now_seq, "sensor", "older than the last accepted"),
			 FSEC_ERR_VERIFY);
	free(b);
	free(m);
	free(json);
	free(cur);
}

/* ---- release-root rotation ---- */

#define T_ROOT "application/vnd.fleetsec.root+json"

/* A root document, signed by each of signers: an independent DSSE writer
 * (envelope() above), its signatures merged. */
static char *root_doc(uint64_t version, unsigned threshold, EVP_PKEY *const *keys, size_t nkeys,
		      EVP_PKEY *const *signers, size_t nsigners)
{
	char *payload = NULL, *list = strdup(""), *sigs = strdup(""), *out = NULL, *p64 = NULL;

	for (size_t i = 0; i < nkeys; i++) {
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(keys[i], &der);
		char kid[65], *pub = b64(der, (size_t)n), *next = NULL;

		keyid(keys[i], kid);
		assert_true(asprintf(&next, "%s%s{\"keyid\":\"%s\",\"public_key\":\"%s\"}", list,
				     i > 0 ? "," : "", kid, pub) > 0);
		free(list);
		list = next;
		free(pub);
		OPENSSL_free(der);
	}
	assert_true(asprintf(&payload,
			     "{\"_type\":\"fleetsec.root.v1\",\"version\":%llu,\"threshold\":%u,"
			     "\"keys\":[%s]}",
			     (unsigned long long)version, threshold, list) > 0);
	for (size_t i = 0; i < nsigners; i++) {
		char *env = envelope(T_ROOT, payload, signers[i]), *sig, *next = NULL;

		/* envelope() writes one signature: take its object. */
		sig = strstr(env, "[{");
		sig[strlen(sig) - 2] = '\0';
		assert_true(asprintf(&next, "%s%s%s", sigs, i > 0 ? "," : "", sig + 1) > 0);
		if (p64 == NULL) {
			char *a = strstr(env, "\"payload\":\"") + 11;

			p64 = strndup(a, (size_t)(strchr(a, '"') - a));
		}
		free(sigs);
		sigs = next;
		free(env);
	}
	assert_true(asprintf(&out, "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":[%s]}",
			     T_ROOT, p64, sigs) > 0);
	free(payload);
	free(list);
	free(sigs);
	free(p64);
	return out;
}

static char *chain(const char *a, const char *b)
{
	char *c = NULL;

	assert_true(asprintf(&c, "{\"roots\":[%s%s%s]}", a, b != NULL ? "," : "",
			     b != NULL ? b : "") > 0);
	return c;
}

/* Follow c from the pinned root (or the stored document); the refusal,
 * if any, must name why and leave the trust where it was. */
static enum fsec_err follow(const char *stored, const char *c, const char *why,
			    uint64_t *version)
{
	struct fsec_release_trust *t = NULL;
	bool changed = false;
	uint64_t before;
	enum fsec_err rc;

	assert_int_equal(fsec_release_trust_new(&root, 1, (const unsigned char *)stored,
						stored != NULL ? strlen(stored) : 0, &t),
			 FSEC_OK);
	before = fsec_release_trust_version(t);
	rc = fsec_release_trust_update(t, (const unsigned char *)c, strlen(c), &changed);
	if (why != NULL && strstr(fsec_err_detail(), why) == NULL)
		fail_msg("expected '%s', got '%s'", why, fsec_err_detail());
	if (rc != FSEC_OK)
		assert_int_equal(fsec_release_trust_version(t), before);
	*version = fsec_release_trust_version(t);
	fsec_release_trust_free(t);
	return rc;
}

static void root_rotation(void **state)
{
	EVP_PKEY *r2 = tu_key("ed25519"), *r3 = tu_key("p256");
	EVP_PKEY *both2[] = {root, r2}, *both3[] = {r2, r3};
	char *d2 = root_doc(2, 1, &r2, 1, both2, 2), *d3 = root_doc(3, 1, &r3, 1, both3, 2);
	char *c = NULL, *bad = NULL, *deleg, *m, *b;
	struct fsec_release_trust *t = NULL;
	struct fsec_release_policy pol = {.model = "sensor"};
	struct fsec_release *r = NULL;
	uint64_t v = 0;
	bool changed = false;

	(void)state;
	/* The library follows an independently written chain, 1 -> 2 -> 3. */
	c = chain(d2, d3);
	assert_int_equal(follow(NULL, c, NULL, &v), FSEC_OK);
	assert_int_equal(v, 3);
	free(c);
	/* Signed by the old root only: the new keys' holder never signed. */
	bad = root_doc(2, 1, &r2, 1, &root, 1);
	c = chain(bad, NULL);
	assert_int_equal(follow(NULL, c, "not signed by its own keys", &v), FSEC_ERR_VERIFY);
	free(c);
	free(bad);
	/* Signed by the new key only (a stranger's root). */
	bad = root_doc(2, 1, &r2, 1, &r2, 1);
	c = chain(bad, NULL);
	assert_int_equal(follow(NULL, c, "unknown key: root version 2 is not signed by the trusted",
				&v),
			 FSEC_ERR_VERIFY);
	free(c);
	free(bad);
	/* All or nothing: a good 2 and a bad 3 leave the device on 1. */
	bad = root_doc(3, 1, &r3, 1, &r3, 1);
	c = chain(d2, bad);
	assert_int_equal(follow(NULL, c, "not signed by the trusted root (version 2)", &v),
			 FSEC_ERR_VERIFY);
	free(c);
	free(bad);
	/* A threshold above the keys it names, a version 1 document. */
	bad = root_doc(2, 2, &r2, 1, both2, 2);
	c = chain(bad, NULL);
	assert_int_equal(follow(NULL, c, "root.threshold", &v), FSEC_ERR_PARSE);
	free(c);
	free(bad);
	bad = root_doc(1, 1, &r2, 1, both2, 2);
	c = chain(bad, NULL);
	assert_int_equal(follow(NULL, c, "root.version", &v), FSEC_ERR_PARSE);
	free(c);
	free(bad);
	/* From a stored version 2: history is skipped, a different document
	 * at version 2 is a fork, a chain ending at 1... cannot exist (2 is the
	 * first), and one ending below is a rollback. */
	c = chain(d2, d3);
	assert_int_equal(follow(d2, c, NULL, &v), FSEC_OK);
	assert_int_equal(v, 3);
	free(c);
	bad = root_doc(2, 1, &r3, 1, (EVP_PKEY *[]){root, r3}, 2);
	c = chain(bad, d3);
	assert_int_equal(follow(d2, c, "fork: root version 2", &v), FSEC_ERR_VERIFY);
	free(c);
	free(bad);
	c = chain(d2, NULL);
	assert_int_equal(follow(d3, c, "rollback", &v), FSEC_ERR_VERIFY);
	assert_int_equal(v, 3);
	free(c);
	/* A damaged stored document is refused (its own key's signature, the
	 * last one). */
	{
		char *dam = strdup(d2), *sig = dam, *n;

		while ((n = strstr(sig + 1, "\"sig\":\"")) != NULL)
			sig = n;
		sig += 7;
		sig[0] = sig[0] == 'A' ? 'B' : 'A';
		assert_int_not_equal(fsec_release_trust_new(&root, 1, (const unsigned char *)dam,
							    strlen(dam), &t),
				     FSEC_OK);
		assert_null(t);
		free(dam);
	}
	/* After the rotation, delegations verify with the new root only. */
	c = chain(d2, NULL);
	assert_int_equal(fsec_release_trust_new(&root, 1, NULL, 0, &t), FSEC_OK);
	assert_int_equal(fsec_release_trust_update(t, (const unsigned char *)c, strlen(c), &changed),
			 FSEC_OK);
	assert_true(changed);
	assert_non_null(fsec_release_trust_doc(t));
	pol.roots = fsec_release_trust_keys(t, &pol.nroots);
	m = manifest(1, time(NULL) + 3600, ENTRY("sensor"));
	deleg = delegation(r2, online, 7, time(NULL) + 3600);
	b = bundle(deleg, m, online);
	assert_int_equal(fsec_release_verify((const unsigned char *)b, strlen(b), &pol, &r), FSEC_OK);
	fsec_release_free(r);
	r = NULL;
	free(b);
	free(deleg);
	deleg = delegation(root, online, 8, time(NULL) + 3600);
	b = bundle(deleg, m, online);
	assert_int_equal(fsec_release_verify((const unsigned char *)b, strlen(b), &pol, &r),
			 FSEC_ERR_VERIFY);
	assert_non_null(strstr(fsec_err_detail(), "unknown key"));
	free(b);
	free(deleg);
	free(m);
	free(c);
	fsec_release_trust_free(t);
	/* keys_all: every root followed through, oldest first, then the
	 * current one; a refused chain leaves it as it was. */
	{
		EVP_PKEY *const *all;
		size_t n = 0;

		assert_int_equal(fsec_release_trust_new(&root, 1, NULL, 0, &t), FSEC_OK);
		all = fsec_release_trust_keys_all(t, &n);
		assert_int_equal(n, 1);
		assert_ptr_equal(all[0], root);
		c = chain(d2, d3);
		assert_int_equal(fsec_release_trust_update(t, (const unsigned char *)c, strlen(c),
							   &changed),
				 FSEC_OK);
		free(c);
		all = fsec_release_trust_keys_all(t, &n);
		assert_int_equal(n, 3);
		assert_int_equal(EVP_PKEY_eq(all[0], root), 1);
		assert_int_equal(EVP_PKEY_eq(all[1], r2), 1);
		assert_int_equal(EVP_PKEY_eq(all[2], r3), 1);
		c = chain(d2, NULL);
		assert_int_equal(fsec_release_trust_update(t, (const unsigned char *)c, strlen(c),
							   &changed),
				 FSEC_ERR_VERIFY);
		free(c);
		(void)fsec_release_trust_keys_all(t, &n);
		assert_int_equal(n, 3);
		assert_int_equal(fsec_release_trust_version(t), 3);
		fsec_release_trust_free(t);
	}
	free(d2);
	free(d3);
	EVP_PKEY_free(r2);
	EVP_PKEY_free(r3);
}

/* root_sign: the library's documents are followed; a previous document
 * that its keys did not sign, or old keys not its own, are refused. */
static void root_sign(void **state)
{
	EVP_PKEY *r2 = tu_key("ed25519"), *r3 = tu_key("ed25519");
	struct fsec_release_root_opts o = {.old = &root, .nold = 1, .new_keys = &r2, .nnew = 1};
	char *d2 = NULL, *d3 = NULL, *c, *forged;
	uint64_t v = 0;

	(void)state;
	o.version = &v;
	assert_int_equal(fsec_release_root_sign(&o, &d2), FSEC_OK);
	assert_int_equal(v, 2);
	o.previous = d2;
	o.previous_len = strlen(d2);
	o.new_keys = &r3;
	assert_int_equal(fsec_release_root_sign(&o, &d3), FSEC_ERR_VERIFY); /* root is not v2's */
	assert_non_null(strstr(fsec_err_detail(), "unknown key"));
	assert_null(d3);
	o.old = &r2;
	assert_int_equal(fsec_release_root_sign(&o, &d3), FSEC_OK);
	assert_int_equal(v, 3);
	c = chain(d2, d3);
	assert_int_equal(follow(NULL, c, NULL, &v), FSEC_OK);
	assert_int_equal(v, 3);
	free(c);
	free(d3);
	d3 = NULL;
	/* A previous document its own keys did not sign. */
	forged = root_doc(2, 1, &r2, 1, &root, 1);
	o.previous = forged;
	o.previous_len = strlen(forged);
	assert_int_equal(fsec_release_root_sign(&o, &d3), FSEC_ERR_VERIFY);
	assert_non_null(strstr(fsec_err_detail(), "not signed by its own keys"));
	free(forged);
	free(d2);
	EVP_PKEY_free(r2);
	EVP_PKEY_free(r3);
}

static int setup(void **state)
{
	struct fsec_fw_sign_opts o = {.header_size = 32, .pad_header = true};
	char *payload_path;
	unsigned char payload[9000];

	(void)state;
	root = tu_key("ed25519");
	online = tu_key("p256");
	other = tu_key("ed25519");
	dir = tu_mkdtemp();
	payload_path = tu_path(dir, "payload.bin");
	image_path = tu_path(dir, "image.img");
	memset(payload, 0x42, sizeof(payload));
	tu_write(payload_path, payload, sizeof(payload));
	o.key = root;
	assert_int_equal(fsec_fw_version_parse("2.0.0", &o.version), FSEC_OK);
	assert_int_equal(fsec_fw_sign(payload_path, image_path, &o), FSEC_OK);
	free(payload_path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(root);
	EVP_PKEY_free(online);
	EVP_PKEY_free(other);
	tu_rmtree(dir);
	free(dir);
	free(image_path);
	return 0;
}

/* A device's tamper statement: signed and opened with the same key; a
 * statement opened with another key, bit-flipped or cut short, or with a
 * payload field the reader does not know, is refused and nothing written. */
static void tamper_statement(void **state)
{
	EVP_PKEY *dev = tu_key("p256"), *stranger = tu_key("p256");
	struct fsec_tamper_statement st = {.device = "SN-1", .at = 1795000000,
					   .reason = "case opened"},
				     got, untouched;
	char *env = NULL, *bad = NULL;
	size_t len;

	(void)state;
	assert_int_equal(fsec_tamper_statement_sign(dev, &st, &env), FSEC_OK);
	len = strlen(env);
	assert_int_equal(fsec_tamper_statement_open((unsigned char *)env, len, dev, &got), FSEC_OK);
	assert_string_equal(got.device, "SN-1");
	assert_string_equal(got.reason, "case opened");
	assert_int_equal(got.at, 1795000000);

	memset(&untouched, 0x5a, sizeof(untouched));
	got = untouched;
	assert_int_equal(fsec_tamper_statement_open((unsigned char *)env, len, stranger, &got),
			 FSEC_ERR_VERIFY);
	assert_non_null(strstr(fsec_err_detail(), "unknown key"));
	assert_memory_equal(&got, &untouched, sizeof(got));
	/* Every character of the signature's base64, flipped in turn, fails.
	 * The flip changes the top bit of the character's six: the last
	 * character before the padding carries only its top bits, so a flip
	 * of a low bit could decode to the same signature. */
	bad = strdup(env);
	assert_non_null(bad);
	for (char *p = strstr(bad, "\"sig\":\"") + 7; *p != '"' && *p != '='; p++) {
		static const char b64[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *at = strchr(b64, *p);
		char c = *p;

		assert_non_null(at);
		*p = b64[(at - b64) ^ 0x20];
		assert_int_not_equal(
			fsec_tamper_statement_open((unsigned char *)bad, len, dev, &got), FSEC_OK);
		*p = c;
	}
	assert_int_not_equal(fsec_tamper_statement_open((unsigned char *)env, len - 1, dev, &got),
			     FSEC_OK);
	assert_int_equal(fsec_tamper_statement_open((unsigned char *)env, 8193, dev, &got),
			 FSEC_ERR_TOO_LARGE);
	/* Refused before signing: a reason with a control character, a bad ID. */
	snprintf(st.reason, sizeof(st.reason), "line\nbreak");
	assert_int_equal(fsec_tamper_statement_sign(dev, &st, &bad), FSEC_ERR_INVAL);
	snprintf(st.reason, sizeof(st.reason), "ok");
	snprintf(st.device, sizeof(st.device), "bad id");
	assert_int_equal(fsec_tamper_statement_sign(dev, &st, &bad), FSEC_ERR_INVAL);
	assert_memory_equal(&got, &untouched, sizeof(got));
	/* The payload parser: closed, as every payload here is. */
	{
		static const char good[] = "{\"_type\":\"fleetsec.tamper.v1\",\"device\":\"SN-1\","
					   "\"time\":\"2026-12-05T16:32:06Z\",\"reason\":\"x\"}";
		static const char extra[] = "{\"_type\":\"fleetsec.tamper.v1\",\"device\":\"SN-1\","
					    "\"time\":\"2026-12-05T16:32:06Z\",\"reason\":\"x\","
					    "\"extra\":1}";

		assert_int_equal(fsec_release_check_tamper((const unsigned char *)good,
							   strlen(good)),
				 FSEC_OK);
		assert_int_equal(fsec_release_check_tamper((const unsigned char *)extra,
							   strlen(extra)),
				 FSEC_ERR_PARSE);
	}
	free(bad);
	free(env);
	EVP_PKEY_free(dev);
	EVP_PKEY_free(stranger);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts_independent_dsse),
		cmocka_unit_test(refuses_bad_signature),
		cmocka_unit_test(refuses_unknown_keys),
		cmocka_unit_test(refuses_weak_delegated_key),
		cmocka_unit_test(refuses_expired),
		cmocka_unit_test(refuses_replayed_sequence),
		cmocka_unit_test(stolen_key_cannot_block_updates),
		cmocka_unit_test(refuses_other_model),
		cmocka_unit_test(rotation_retires_old_key),
		cmocka_unit_test(refuses_malformed),
		cmocka_unit_test(too_large),
		cmocka_unit_test(create_sign_verify),
		cmocka_unit_test(durations),
		cmocka_unit_test(renew_delegation),
		cmocka_unit_test(root_rotation),
		cmocka_unit_test(root_sign),
		cmocka_unit_test(tamper_statement),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
