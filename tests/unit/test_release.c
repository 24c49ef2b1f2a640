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
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
