/* SPDX-License-Identifier: Apache-2.0 */
/* The one PEM certificate reader and stager (core/pem_int.h): good input,
 * and every kind of bad input a certificate file can hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fleetsec/fileio.h"
#include "pem_int.h"
#include "testutil.h"

/* A self-signed P-256 certificate made with OpenSSL directly. */
static X509 *make_cert(void)
{
	EVP_PKEY *key = tu_key("p256");
	X509 *c = X509_new();
	X509_NAME *n = X509_NAME_new();

	assert_non_null(c);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"pem-test", -1, -1,
	                           0);
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 7);
	X509_set_subject_name(c, n);
	X509_set_issuer_name(c, n);
	X509_gmtime_adj(X509_getm_notBefore(c), 0);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	X509_set_pubkey(c, key);
	assert_true(X509_sign(c, key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	EVP_PKEY_free(key);
	return c;
}

static char *pem_of(X509 *c)
{
	char *pem = NULL;

	assert_int_equal(fsec_pem_cert_encode(c, &pem), FSEC_OK);
	return pem;
}

static void test_parse_good(void **state)
{
	X509 *c = make_cert(), *back = NULL;
	char *pem = pem_of(c), *text = NULL;

	(void)state;
	assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE-----\n"));
	assert_int_equal(fsec_pem_cert_parse(pem, strlen(pem), "t", &back), FSEC_OK);
	assert_int_equal(X509_cmp(c, back), 0);
	X509_free(back);
	/* Text before the block is skipped; the first certificate is read. */
	assert_true(asprintf(&text, "subject=CN=pem-test\n%s%s", pem, pem) > 0);
	back = NULL;
	assert_int_equal(fsec_pem_cert_parse(text, strlen(text), "t", &back), FSEC_OK);
	assert_int_equal(X509_cmp(c, back), 0);
	X509_free(back);
	free(text);
	free(pem);
	X509_free(c);
}

static void test_parse_bad(void **state)
{
	X509 *c = make_cert(), *out = (X509 *)(uintptr_t)1;
	char *pem = pem_of(c), *bad;
	unsigned char *der = NULL;
	int dlen = i2d_X509(c, &der);
	EVP_PKEY *key = tu_key("p256");
	BIO *kb = BIO_new(BIO_s_mem());
	char *kpem;
	long klen;
	static char big[FSEC_PEM_CERT_MAX + 1];

	(void)state;
	/* Empty, and not PEM at all. */
	assert_int_equal(fsec_pem_cert_parse("", 0, "empty.pem", &out), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "empty.pem: not a PEM certificate"));
	assert_int_equal(fsec_pem_cert_parse("hello\n", 6, "t", &out), FSEC_ERR_PARSE);
	/* DER where PEM is expected. */
	assert_true(dlen > 0);
	assert_int_equal(fsec_pem_cert_parse(der, (size_t)dlen, "t", &out), FSEC_ERR_PARSE);
	/* Truncated: the END line cut off, and half the body gone. */
	assert_int_equal(fsec_pem_cert_parse(pem, strlen(pem) - 30, "t", &out), FSEC_ERR_PARSE);
	assert_int_equal(fsec_pem_cert_parse(pem, strlen(pem) / 2, "t", &out), FSEC_ERR_PARSE);
	/* A changed base64 character: the outer SEQUENCE tag is gone. */
	bad = strdup(pem);
	assert_int_equal(bad[28], 'M');
	bad[28] = 'A';
	assert_int_equal(fsec_pem_cert_parse(bad, strlen(bad), "t", &out), FSEC_ERR_PARSE);
	free(bad);
	/* Not base64 at all. */
	bad = strdup(pem);
	bad[80] = '*';
	assert_int_equal(fsec_pem_cert_parse(bad, strlen(bad), "t", &out), FSEC_ERR_PARSE);
	free(bad);
	/* Another PEM type: a private key is never read as a certificate. */
	assert_true(PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) == 1);
	klen = BIO_get_mem_data(kb, &kpem);
	assert_int_equal(fsec_pem_cert_parse(kpem, (size_t)klen, "t", &out), FSEC_ERR_PARSE);
	/* The right label round a body that is not a certificate. */
	{
		/* A memory BIO's data is not NUL-terminated: copy it first. */
		char *ktext = strndup(kpem, (size_t)klen), *b2;

		bad =
		    tu_replace(ktext, "-----BEGIN PRIVATE KEY-----", "-----BEGIN CERTIFICATE-----");
		b2 = tu_replace(bad, "-----END PRIVATE KEY-----", "-----END CERTIFICATE-----");
		assert_int_equal(fsec_pem_cert_parse(b2, strlen(b2), "t", &out), FSEC_ERR_PARSE);
		free(b2);
		free(ktext);
	}
	free(bad);
	/* Over the cap: refused before any parsing. */
	memset(big, 'A', sizeof(big));
	assert_int_equal(fsec_pem_cert_parse(big, sizeof(big), "t", &out), FSEC_ERR_TOO_LARGE);
	/* Nothing was written on any failure. */
	assert_ptr_equal(out, (X509 *)(uintptr_t)1);
	BIO_free(kb);
	EVP_PKEY_free(key);
	OPENSSL_free(der);
	free(pem);
	X509_free(c);
}

static void test_read(void **state)
{
	char *dir = tu_mkdtemp(), *good = tu_path(dir, "good.pem"),
	     *junk = tu_path(dir, "junk.pem");
	char *large = tu_path(dir, "large.pem"), *missing = tu_path(dir, "missing.pem");
	X509 *c = make_cert(), *back = NULL;
	char *pem = pem_of(c), *fill = calloc(1, FSEC_PEM_CERT_MAX + 2);

	(void)state;
	tu_write(good, pem, strlen(pem));
	assert_int_equal(fsec_pem_cert_read(good, &back), FSEC_OK);
	assert_int_equal(X509_cmp(c, back), 0);
	X509_free(back);
	back = NULL;
	tu_write(junk, "-----BEGIN CERTIFICATE-----\n", 28);
	assert_int_equal(fsec_pem_cert_read(junk, &back), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "junk.pem: not a PEM certificate"));
	/* A file over the cap is refused by size, before it is parsed. */
	memset(fill, '\n', FSEC_PEM_CERT_MAX + 1);
	tu_write(large, fill, FSEC_PEM_CERT_MAX + 1);
	assert_int_equal(fsec_pem_cert_read(large, &back), FSEC_ERR_TOO_LARGE);
	assert_non_null(strstr(fsec_err_detail(), "large.pem: "));
	assert_int_equal(fsec_pem_cert_read(missing, &back), FSEC_ERR_IO);
	assert_non_null(strstr(fsec_err_detail(), "missing.pem: "));
	/* A directory is no certificate file (and is not blocked on). */
	assert_int_equal(fsec_pem_cert_read(dir, &back), FSEC_ERR_IO);
	assert_null(back);
	free(fill);
	free(pem);
	X509_free(c);
	tu_rmtree(dir);
	free(good);
	free(junk);
	free(large);
	free(missing);
	free(dir);
}

static void test_stage(void **state)
{
	char *dir = tu_mkdtemp(), *a = tu_path(dir, "a.pem"), *b = tu_path(dir, "b.pem");
	struct fsec_file_stage *st = NULL;
	X509 *c = make_cert(), *back = NULL;
	unsigned char *der = NULL;
	int dlen = i2d_X509(c, &der);
	char *pem = pem_of(c), *der_pem = NULL;

	(void)state;
	/* Nothing is visible before commit; the file is the re-encoding. */
	assert_int_equal(fsec_pem_cert_stage(a, c, FSEC_FILE_NOCLOBBER, &st), FSEC_OK);
	assert_false(tu_exists(a));
	assert_int_equal(fsec_file_stage_commit(st), FSEC_OK);
	fsec_file_stage_free(st);
	st = NULL;
	assert_int_equal(fsec_pem_cert_read(a, &back), FSEC_OK);
	assert_int_equal(X509_cmp(c, back), 0);
	X509_free(back);
	/* NOCLOBBER refuses an existing file; without it, it is replaced. */
	assert_int_equal(fsec_pem_cert_stage(a, c, FSEC_FILE_NOCLOBBER, &st), FSEC_ERR_EXISTS);
	assert_null(st);
	assert_int_equal(fsec_pem_cert_stage(a, c, 0, &st), FSEC_OK);
	fsec_file_stage_free(st); /* freed uncommitted: the old file stays */
	st = NULL;
	assert_true(tu_exists(a));
	/* DER in, the same PEM out. */
	assert_int_equal(fsec_pem_cert_encode_der(der, (size_t)dlen, &der_pem), FSEC_OK);
	assert_string_equal(der_pem, pem);
	assert_int_equal(fsec_pem_cert_stage_der(b, der, (size_t)dlen, 0, &st), FSEC_OK);
	assert_int_equal(fsec_file_stage_commit(st), FSEC_OK);
	fsec_file_stage_free(st);
	back = NULL;
	assert_int_equal(fsec_pem_cert_read(b, &back), FSEC_OK);
	assert_int_equal(X509_cmp(c, back), 0);
	X509_free(back);
	free(der_pem);
	free(pem);
	OPENSSL_free(der);
	X509_free(c);
	tu_rmtree(dir);
	free(a);
	free(b);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_read),
	    cmocka_unit_test(test_stage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
