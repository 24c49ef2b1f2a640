/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "fleetsec/csr.h"
#include "testutil.h"

static enum fsec_err parse(const unsigned char *buf, size_t len)
{
	X509_REQ *req = NULL;
	enum fsec_err rc = fsec_csr_parse(buf, len, &req);

	/* The output is written only on success. */
	if (rc == FSEC_OK)
		assert_non_null(req);
	else
		assert_null(req);
	X509_REQ_free(req);
	/* Errors are one line. */
	assert_null(strchr(fsec_err_detail(), '\n'));
	return rc;
}

static enum fsec_err parse_kind(const char *kind, int pem)
{
	EVP_PKEY *k = tu_key(kind);
	X509_REQ *req = tu_csr(k, "dev");
	size_t len;
	unsigned char *buf = pem ? tu_csr_pem(req, &len) : tu_csr_der(req, &len);
	enum fsec_err rc = parse(buf, len);

	free(buf);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	return rc;
}

static void accepts_strong_keys(void **state)
{
	(void)state;
	assert_int_equal(parse_kind("p256", 1), FSEC_OK);
	assert_int_equal(parse_kind("p256", 0), FSEC_OK);
	assert_int_equal(parse_kind("p384", 1), FSEC_OK);
	assert_int_equal(parse_kind("ed25519", 1), FSEC_OK);
	assert_int_equal(parse_kind("rsa2048", 0), FSEC_OK);
}

static void refuses_weak_keys(void **state)
{
	(void)state;
	assert_int_equal(parse_kind("rsa1024", 1), FSEC_ERR_POLICY);
	assert_non_null(strstr(fsec_err_detail(), "1024"));
	assert_int_equal(parse_kind("secp256k1", 1), FSEC_ERR_POLICY);
	assert_non_null(strstr(fsec_err_detail(), "secp256k1"));
	assert_int_equal(parse_kind("ed448", 0), FSEC_ERR_POLICY);
}

static void refuses_bad_signature(void **state)
{
	EVP_PKEY *k = tu_key("p256");
	X509_REQ *req = tu_csr(k, "dev");
	size_t len;
	unsigned char *der = tu_csr_der(req, &len);

	(void)state;
	/* The DER ends with the signature BIT STRING; flipping a bit in the
	 * middle of the signature's r value keeps the encoding valid. */
	der[len - 40] ^= 0x01;
	assert_int_equal(parse(der, len), FSEC_ERR_VERIFY);
	assert_non_null(strstr(fsec_err_detail(), "self-signature"));
	free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
}

static void refuses_signature_by_other_key(void **state)
{
	EVP_PKEY *k = tu_key("p256"), *other = tu_key("p256");
	X509_REQ *req = X509_REQ_new();
	size_t len;
	unsigned char *der;

	(void)state;
	/* The request carries k but is signed by other: no proof of possession. */
	assert_true(X509_REQ_set_pubkey(req, k));
	assert_true(X509_REQ_sign(req, other, EVP_sha256()) > 0);
	der = tu_csr_der(req, &len);
	assert_int_equal(parse(der, len), FSEC_ERR_VERIFY);
	free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void refuses_malformed(void **state)
{
	static const unsigned char garbage[] = "this is not a certificate request at all";
	EVP_PKEY *k = tu_key("p256");
	X509_REQ *req = tu_csr(k, "dev");
	size_t dlen, plen;
	unsigned char *der = tu_csr_der(req, &dlen), *pem = tu_csr_pem(req, &plen);
	unsigned char *big, *trail;

	(void)state;
	assert_int_equal(parse(garbage, sizeof(garbage) - 1), FSEC_ERR_PARSE);
	assert_int_equal(parse(garbage, 0), FSEC_ERR_PARSE);
	assert_int_equal(parse(der, dlen / 2), FSEC_ERR_PARSE);  /* truncated DER */
	assert_int_equal(parse(pem, plen / 2), FSEC_ERR_PARSE);  /* truncated PEM */
	assert_int_equal(parse(der, dlen - 1), FSEC_ERR_PARSE);  /* one byte short */

	trail = malloc(dlen + 1);
	memcpy(trail, der, dlen);
	trail[dlen] = 0;
	assert_int_equal(parse(trail, dlen + 1), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "trailing"));
	free(trail);

	/* Oversized: refused on size alone, before any parsing. */
	big = malloc(FSEC_CSR_MAX + 1);
	memset(big, '\n', FSEC_CSR_MAX + 1);
	memcpy(big, pem, plen);
	assert_int_equal(parse(big, FSEC_CSR_MAX + 1), FSEC_ERR_TOO_LARGE);
	/* At the cap, a PEM followed by blank lines is still read. */
	assert_int_equal(parse(big, FSEC_CSR_MAX), FSEC_OK);
	free(big);
	free(der);
	free(pem);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
}

static void refuses_pem_of_other_type(void **state)
{
	EVP_PKEY *k = tu_key("p256");
	BIO *mem = BIO_new(BIO_s_mem());
	char *data;
	long n;

	(void)state;
	assert_true(PEM_write_bio_PrivateKey(mem, k, NULL, NULL, 0, NULL, NULL));
	n = BIO_get_mem_data(mem, &data);
	assert_int_equal(parse((unsigned char *)data, (size_t)n), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "PRIVATE KEY"));
	/* The key itself is never echoed into the message. */
	assert_null(strstr(fsec_err_detail(), "MII"));
	BIO_free(mem);
	EVP_PKEY_free(k);
}

static void refuses_second_pem_block(void **state)
{
	EVP_PKEY *k = tu_key("p256"), *weak = tu_key("rsa1024");
	X509_REQ *a = tu_csr(k, "a"), *b = tu_csr(weak, "b");
	size_t la, lb;
	unsigned char *pa = tu_csr_pem(a, &la), *pb = tu_csr_pem(b, &lb);
	unsigned char *both = malloc(la + lb + 8);

	(void)state;
	memcpy(both, pa, la);
	memcpy(both + la, "\n\t \n", 4);
	assert_int_equal(parse(both, la + 4), FSEC_OK); /* white space is fine */
	memcpy(both + la, pb, lb);
	assert_int_equal(parse(both, la + lb), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "trailing"));
	memcpy(both + la, "garbage", 7);
	assert_int_equal(parse(both, la + 7), FSEC_ERR_PARSE);
	free(both);
	free(pa);
	free(pb);
	X509_REQ_free(a);
	X509_REQ_free(b);
	EVP_PKEY_free(k);
	EVP_PKEY_free(weak);
}

static void der_with_pem_marker_in_subject(void **state)
{
	EVP_PKEY *k = tu_key("p256");
	X509_REQ *req = tu_csr(k, "-----BEGIN x");
	size_t len;
	unsigned char *der = tu_csr_der(req, &len);

	(void)state;
	assert_int_equal(parse(der, len), FSEC_OK);
	free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
}

static void errors_never_carry_control_characters(void **state)
{
	static const char evil[] = "-----BEGIN \x1b[31mRED\xe2\x80\xa8\xc2\x85-----\nAAAA\n"
				   "-----END \x1b[31mRED\xe2\x80\xa8\xc2\x85-----\n";

	(void)state;
	assert_int_equal(parse((const unsigned char *)evil, sizeof(evil) - 1), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "RED"));
	for (const unsigned char *p = (const unsigned char *)fsec_err_detail(); *p; p++) {
		assert_true(*p >= 0x20 && *p != 0x7f);
		assert_false(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f);
		assert_false(p[0] == 0xe2 && p[1] == 0x80 && p[2] == 0xa8);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts_strong_keys),
		cmocka_unit_test(refuses_weak_keys),
		cmocka_unit_test(refuses_bad_signature),
		cmocka_unit_test(refuses_signature_by_other_key),
		cmocka_unit_test(refuses_malformed),
		cmocka_unit_test(refuses_pem_of_other_type),
		cmocka_unit_test(refuses_second_pem_block),
		cmocka_unit_test(der_with_pem_marker_in_subject),
		cmocka_unit_test(errors_never_carry_control_characters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
