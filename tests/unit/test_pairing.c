/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pairing without TOFU (issue 18), the library's parts: the pairing URI (made
 * compressed, parsed strictly), its QR code read back from fleetsec's own
 * PNG by zbar, and the registry's single-use, expiring pairings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fleetsec/key.h"
#include "fleetsec/pairing.h"
#include "fleetsec/pairscan.h"
#include "fleetsec/registry.h"
#include "testutil.h"

static EVP_PKEY *p256(void)
{
	EVP_PKEY *k = NULL;

	assert_int_equal(fsec_key_generate(FSEC_KEY_P256, &k), FSEC_OK);
	return k;
}

static void uri_round_trip(void **state)
{
	EVP_PKEY *k = p256();
	struct fsec_pair_uri u;
	char *uri = NULL, want[FSEC_SHA256_HEX_LEN];

	(void)state;
	assert_int_equal(fsec_pair_uri_make(k, "SN-1", &uri), FSEC_OK);
	assert_true(strncmp(uri, "DPP:V:2;I:SN-1;K:", 17) == 0);
	/* 59-byte compressed SPKI: 80 base64 characters. */
	assert_int_equal(strlen(uri), strlen("DPP:V:2;I:SN-1;K:;;") + 80);
	assert_int_equal(fsec_pair_uri_parse(uri, strlen(uri), &u), FSEC_OK);
	assert_string_equal(u.serial, "SN-1");
	assert_int_equal(u.version, 2);
	assert_int_equal(fsec_key_spki_sha256(k, want), FSEC_OK);
	/* The hash is of the canonical form: the same as the CSR's key. */
	assert_string_equal(u.key_sha256, want);
	assert_int_equal(EVP_PKEY_eq(u.key, k), 1);
	fsec_pair_uri_cleanup(&u);
	free(uri);
	assert_int_equal(fsec_pair_uri_make(k, "bad serial", &uri), FSEC_ERR_INVAL);
	assert_null(uri);
	EVP_PKEY_free(k);
}

/* pattern with every "%s" replaced by key; malloc'd. */
static char *with_key(const char *pattern, const char *key)
{
	size_t cap = strlen(pattern) + 2 * strlen(key) + 1, n = 0;
	char *out = malloc(cap);

	assert_non_null(out);
	for (const char *p = pattern; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 's') {
			memcpy(out + n, key, strlen(key));
			n += strlen(key);
			p++;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return out;
}

static void uri_refusals(void **state)
{
	EVP_PKEY *k = p256();
	struct fsec_pair_uri u;
	char *uri = NULL, *key, buf[1024];
	static const char *const bad[] = {
		"", "DPP", "dpp:I:a;K:%s;;", "DPP:I:a;K:%s;", "DPP:I:a;K:%s;;;", "DPP:I:a;K:%s",
		"DPP:I:a;I:b;K:%s;;", "DPP:K:%s;;", "DPP:I:;K:%s;;", "DPP:I:a b;K:%s;;",
		"DPP:I:a;K:%s;K:%s;;", "DPP:V:4;I:a;K:%s;;", "DPP:V:22;I:a;K:%s;;",
		"DPP:M:01020304050;I:a;K:%s;;", "DPP:C:81/;I:a;K:%s;;", "DPP:C:81/1,;I:a;K:%s;;",
		"DPP:i:x;I:a;K:%s;;", "DPP:I:a;K:%s;;x", "DPP:I:a;K:;;", "DPP:I:a;K:AAAA;;",
		"DPP:I:a;K:%s=;;", "DPP:I:a;K: %s;;", "DPP:I:a;K:%sAAAA;;",
	};

	(void)state;
	assert_int_equal(fsec_pair_uri_make(k, "a", &uri), FSEC_OK);
	key = strstr(uri, ";K:") + 3;
	key[strlen(key) - 2] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *t = with_key(bad[i], key);

		memset(&u, 0, sizeof(u));
		assert_int_not_equal(fsec_pair_uri_parse(t, strlen(t), &u), FSEC_OK);
		assert_null(u.key);
		assert_true(fsec_err_detail()[0] != '\0');
		free(t);
	}
	/* Known and later DPP fields are read or skipped. */
	snprintf(buf, sizeof(buf), "DPP:C:81/1,115/36;M:0a0b0c0d0e0f;V:1;H:x;I:a;K:%s;;", key);
	assert_int_equal(fsec_pair_uri_parse(buf, strlen(buf), &u), FSEC_OK);
	fsec_pair_uri_cleanup(&u);
	/* A NUL inside the length is not printable. */
	snprintf(buf, sizeof(buf), "DPP:I:a;K:%s;;", key);
	buf[6] = '\0';
	assert_int_equal(fsec_pair_uri_parse(buf, strlen(key) + 12, &u), FSEC_ERR_PARSE);
	free(uri);
	EVP_PKEY_free(k);
}

static void qr_png_read_back(void **state)
{
	EVP_PKEY *k = p256();
	struct fsec_qr_info qi = {0};
	unsigned char *png = NULL;
	char *uri = NULL, *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(fsec_pair_uri_make(k, "SN-000001", &uri), FSEC_OK);
	assert_int_equal(fsec_qr_png(uri, 4, &png, &len, &qi), FSEC_OK);
	/* The compressed key keeps the code at version 6 (41 modules). */
	assert_int_equal(qi.version, 6);
	assert_int_equal(qi.width, 41);
	assert_int_equal(fsec_qr_image_decode(png, len, &text), FSEC_OK);
	assert_string_equal(text, uri);
	free(text);
	assert_int_equal(fsec_qr_image_decode(png, 30, &text), FSEC_ERR_PARSE);
	assert_null(text);
	free(png);
	assert_int_equal(fsec_qr_png(uri, 0, &png, &len, &qi), FSEC_ERR_INVAL);
	assert_null(png);
	free(uri);
	EVP_PKEY_free(k);
}

static void registry_pairings(void **state)
{
	char *dir = tu_mkdtemp(), *db = tu_path(dir, "r.db");
	struct fsec_registry *reg = NULL;
	struct fsec_pairing_rec r, got;

	(void)state;
	assert_int_equal(fsec_registry_open(db, FSEC_REGISTRY_CREATE, &reg), FSEC_OK);
	memset(&r, 0, sizeof(r));
	memset(r.key_sha256, 'a', 64);
	snprintf(r.device_id, sizeof(r.device_id), "SN-1");
	snprintf(r.paired_by, sizeof(r.paired_by), "tester");
	r.paired_at = 1000;
	r.expires_at = 1900;
	assert_int_equal(fsec_registry_pairing_put(reg, &r), FSEC_OK);
	/* Waiting: not paired again, by anyone. */
	assert_int_equal(fsec_registry_pairing_put(reg, &r), FSEC_ERR_EXISTS);
	assert_int_equal(fsec_registry_pairing_of(reg, "SN-1", false, 1500, &got), FSEC_OK);
	assert_int_equal(fsec_registry_pairing_of(reg, "SN-1", false, 1900, &got), FSEC_ERR_NOTFOUND);
	/* Expired: not spent; paired again over it, then spent once. */
	assert_int_equal(fsec_registry_pairing_spend(reg, r.key_sha256, 1900), FSEC_ERR_NOTFOUND);
	r.paired_at = 2000;
	r.expires_at = 2900;
	assert_int_equal(fsec_registry_pairing_put(reg, &r), FSEC_OK);
	assert_int_equal(fsec_registry_pairing_spend(reg, r.key_sha256, 2100), FSEC_OK);
	assert_int_equal(fsec_registry_pairing_spend(reg, r.key_sha256, 2101), FSEC_ERR_NOTFOUND);
	assert_int_equal(fsec_registry_pairing_get(reg, r.key_sha256, &got), FSEC_OK);
	assert_int_equal(got.used_at, 2100);
	assert_int_equal(fsec_registry_pairing_of(reg, "SN-1", true, 0, &got), FSEC_OK);
	/* Used: never paired again, even after its expiry. */
	r.paired_at = 5000;
	r.expires_at = 5900;
	assert_int_equal(fsec_registry_pairing_put(reg, &r), FSEC_ERR_EXISTS);
	/* Bad input. */
	r.key_sha256[0] = 'G';
	assert_int_equal(fsec_registry_pairing_put(reg, &r), FSEC_ERR_INVAL);
	r.key_sha256[0] = 'b';
	r.expires_at = r.paired_at;
	assert_int_equal(fsec_registry_pairing_put(reg, &r), FSEC_ERR_INVAL);
	fsec_registry_free(reg);
	tu_rmtree(dir);
	free(db);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uri_round_trip),
		cmocka_unit_test(uri_refusals),
		cmocka_unit_test(qr_png_read_back),
		cmocka_unit_test(registry_pairings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
