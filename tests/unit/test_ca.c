/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "fleetsec/ca.h"
#include "fleetsec/identity.h"
#include "testutil.h"

struct pki {
	EVP_PKEY *root_key, *iss_key;
	X509 *root, *iss;
	struct fsec_ca *ca;
};

static void pki_make(struct pki *p, const char *algo)
{
	p->root_key = tu_key(algo);
	p->iss_key = tu_key(algo);
	assert_int_equal(fsec_ca_make_root(p->root_key, "Test Fleet", 1, 3650, &p->root), FSEC_OK);
	assert_int_equal(fsec_ca_make_issuing(p->root_key, p->root, p->iss_key, "Test Fleet", 1, 1825,
					      &p->iss),
			 FSEC_OK);
	assert_int_equal(fsec_ca_new(p->iss, p->iss_key, p->root, "Test Fleet", &p->ca), FSEC_OK);
}

static void pki_free(struct pki *p)
{
	fsec_ca_free(p->ca);
	X509_free(p->root);
	X509_free(p->iss);
	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->iss_key);
}

/* Decode the issued DER with OpenSSL, checking the facts reported beside it. */
static X509 *der_to_x509(const struct fsec_issued_cert *ic)
{
	const unsigned char *p = ic->der;
	X509 *cert = d2i_X509(NULL, &p, (long)ic->der_len);
	char serial[FSEC_SERIAL_HEX_LEN], fp[65];

	assert_non_null(cert);
	assert_ptr_equal(p, ic->der + ic->der_len);
	assert_int_equal(fsec_cert_serial_hex(cert, serial), FSEC_OK);
	assert_string_equal(serial, ic->serial);
	assert_int_equal(fsec_cert_fingerprint(cert, fp), FSEC_OK);
	assert_string_equal(fp, ic->fingerprint);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert), (time_t)ic->not_after), 0);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert), (time_t)ic->not_before), 0);
	return cert;
}

static X509 *issue(struct pki *p, EVP_PKEY *pub, const char *id)
{
	unsigned char serial[FSEC_SERIAL_LEN];
	struct fsec_issued_cert ic = {0};
	X509 *cert;

	assert_int_equal(fsec_ca_random_serial(serial), FSEC_OK);
	assert_int_equal(fsec_ca_issue_device(p->ca, pub, id, 365, serial, &ic), FSEC_OK);
	cert = der_to_x509(&ic);
	fsec_issued_cert_cleanup(&ic);
	return cert;
}

/* Verify cert against the root with OpenSSL's own path validation. */
static int chain_ok(struct pki *p, X509 *cert, X509_CRL *crl)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int ok;

	X509_STORE_add_cert(store, p->root);
	sk_X509_push(untrusted, p->iss);
	if (crl != NULL) {
		X509_STORE_add_crl(store, crl);
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	}
	X509_STORE_CTX_init(ctx, store, cert, untrusted);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	return ok == 1;
}

static void device_profile(void **state)
{
	const char *algos[] = {"p256", "ed25519"};

	(void)state;
	for (size_t a = 0; a < 2; a++) {
		struct pki p = {0};
		EVP_PKEY *dev = tu_key("p256");
		X509 *cert;
		const ASN1_INTEGER *sn;
		BIGNUM *bn;
		char id[FSEC_DEVID_MAX + 1];

		pki_make(&p, algos[a]);
		cert = issue(&p, dev, "sensor-42");
		assert_true(chain_ok(&p, cert, NULL));
		assert_int_equal(X509_get_version(cert), X509_VERSION_3);

		sn = X509_get0_serialNumber(cert);
		bn = ASN1_INTEGER_to_BN(sn, NULL);
		assert_false(BN_is_negative(bn));
		assert_true(BN_num_bits(bn) >= 64);
		BN_free(bn);

		assert_true(X509_get_extension_flags(cert) & EXFLAG_BCONS);
		assert_false(X509_check_ca(cert));
		assert_int_equal(X509_get_key_usage(cert), KU_DIGITAL_SIGNATURE);
		assert_int_equal(X509_get_extended_key_usage(cert), XKU_SSL_CLIENT);
		assert_non_null(X509_get0_subject_key_id(cert));
		assert_non_null(X509_get0_authority_key_id(cert));
		assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert),
						       X509_get0_subject_key_id(p.iss)),
				 0);
		assert_int_equal(fsec_identity_from_cert(cert, id), FSEC_OK);
		assert_string_equal(id, "sensor-42");
		assert_int_equal(X509_NAME_get_index_by_NID(X509_get_subject_name(cert),
							    NID_organizationName, -1) >= 0,
				 1);
		X509_free(cert);
		EVP_PKEY_free(dev);
		pki_free(&p);
	}
}

static void ca_profiles(void **state)
{
	struct pki p = {0};

	(void)state;
	pki_make(&p, "p256");
	assert_true(X509_check_ca(p.root));
	assert_true(X509_check_ca(p.iss));
	assert_int_equal(X509_get_pathlen(p.iss), 0);
	assert_true(X509_get_key_usage(p.iss) & KU_KEY_CERT_SIGN);
	assert_true(X509_get_key_usage(p.iss) & KU_CRL_SIGN);
	/* A mismatched key cannot be used as the issuing key. */
	{
		EVP_PKEY *other = tu_key("p256");
		struct fsec_ca *ca = NULL;

		assert_int_equal(fsec_ca_new(p.iss, other, p.root, "Test Fleet", &ca), FSEC_ERR_VERIFY);
		assert_null(ca);
		EVP_PKEY_free(other);
	}
	pki_free(&p);
}

static void serials_are_unique(void **state)
{
	unsigned char a[FSEC_SERIAL_LEN], b[FSEC_SERIAL_LEN];

	(void)state;
	assert_int_equal(fsec_ca_random_serial(a), FSEC_OK);
	assert_int_equal(fsec_ca_random_serial(b), FSEC_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_true((a[0] & 0x80) == 0 && a[0] != 0);
}

static void validity_is_clamped_to_issuer(void **state)
{
	struct pki p = {0};
	EVP_PKEY *dev = tu_key("p256");
	unsigned char serial[FSEC_SERIAL_LEN];
	struct fsec_issued_cert ic = {0};
	X509 *cert;

	(void)state;
	pki_make(&p, "p256");
	assert_int_equal(fsec_ca_random_serial(serial), FSEC_OK);
	assert_int_equal(fsec_ca_issue_device(p.ca, dev, "d", 36000, serial, &ic), FSEC_OK);
	cert = der_to_x509(&ic);
	fsec_issued_cert_cleanup(&ic);
	assert_true(ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(p.iss)) <= 0);
	X509_free(cert);
	assert_int_equal(fsec_ca_issue_device(p.ca, dev, "d", 0, serial, &ic), FSEC_ERR_INVAL);
	assert_int_equal(fsec_ca_issue_device(p.ca, dev, "bad id", 30, serial, &ic),
			 FSEC_ERR_INVAL);
	assert_null(ic.der);
	EVP_PKEY_free(dev);
	pki_free(&p);
}

static void device_ids(void **state)
{
	char longest[FSEC_DEVID_MAX + 2];

	(void)state;
	memset(longest, 'a', FSEC_DEVID_MAX);
	longest[FSEC_DEVID_MAX] = '\0';
	assert_true(fsec_devid_valid(longest));
	longest[FSEC_DEVID_MAX] = 'a';
	longest[FSEC_DEVID_MAX + 1] = '\0';
	assert_false(fsec_devid_valid(longest));
	assert_true(fsec_devid_valid("A.b_c-9"));
	assert_false(fsec_devid_valid(""));
	assert_false(fsec_devid_valid("a,URI:evil"));
	assert_false(fsec_devid_valid("a b"));
	assert_false(fsec_devid_valid("a/b"));
	assert_false(fsec_devid_valid("caf\xc3\xa9"));
	assert_int_equal(fsec_devid_check("x y"), FSEC_ERR_INVAL);
}

static void identity_refuses_mismatch(void **state)
{
	struct pki p = {0};
	EVP_PKEY *dev = tu_key("p256");
	X509 *cert;
	X509_NAME *name;
	char id[FSEC_DEVID_MAX + 1];

	(void)state;
	pki_make(&p, "p256");
	cert = issue(&p, dev, "real-id");
	/* Rewrite the subject CN: the SAN and CN now disagree. */
	name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"other-id", -1,
				   -1, 0);
	X509_set_subject_name(cert, name);
	X509_NAME_free(name);
	assert_int_equal(fsec_identity_from_cert(cert, id), FSEC_ERR_VERIFY);
	/* A certificate without a device URI (the issuing CA's) has no ID. */
	assert_int_equal(fsec_identity_from_cert(p.iss, id), FSEC_ERR_NOTFOUND);
	X509_free(cert);
	EVP_PKEY_free(dev);
	pki_free(&p);
}

/* Add SAN URI uri to cert (beside whatever SAN it has). */
static void add_uri(X509 *cert, const char *uri)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (sans == NULL)
		sans = GENERAL_NAMES_new();
	assert_true(ASN1_STRING_set(s, uri, -1));
	GENERAL_NAME_set0_value(gn, GEN_URI, s);
	sk_GENERAL_NAME_push(sans, gn);
	assert_true(X509_add1_ext_i2d(cert, NID_subject_alt_name, sans, 0, X509V3_ADD_REPLACE));
	GENERAL_NAMES_free(sans);
}

/* A role certificate names its role and name, and is no device; a device
 * certificate is no role; one carrying both is refused by the role
 * reader. */
static void role_profile(void **state)
{
	struct pki p = {0};
	EVP_PKEY *k = tu_key("p256");
	unsigned char serial[FSEC_SERIAL_LEN];
	struct fsec_issued_cert ic = {0};
	char role[FSEC_ROLE_MAX], name[FSEC_ROLE_NAME_MAX + 1], id[FSEC_DEVID_MAX + 1];
	X509 *cert, *dev;

	(void)state;
	pki_make(&p, "p256");
	assert_int_equal(fsec_ca_random_serial(serial), FSEC_OK);
	assert_int_equal(fsec_ca_issue_role(p.ca, k, "backend", "bk-1", 30, serial, &ic), FSEC_OK);
	cert = der_to_x509(&ic);
	fsec_issued_cert_cleanup(&ic);
	assert_true(chain_ok(&p, cert, NULL));
	assert_int_equal(X509_get_extended_key_usage(cert), XKU_SSL_CLIENT);
	assert_int_equal(fsec_identity_role_from_cert(cert, role, name), FSEC_OK);
	assert_string_equal(role, "backend");
	assert_string_equal(name, "bk-1");
	assert_int_equal(fsec_identity_from_cert(cert, id), FSEC_ERR_NOTFOUND);
	/* Refused at issue: an unknown role, a name that is no device-ID-like
	 * name or is too long. */
	assert_int_equal(fsec_ca_issue_role(p.ca, k, "admin", "x", 30, serial, &ic), FSEC_ERR_INVAL);
	assert_int_equal(fsec_ca_issue_role(p.ca, k, "backend", "a,URI:x", 30, serial, &ic),
			 FSEC_ERR_INVAL);
	assert_int_equal(fsec_ca_issue_role(p.ca, k, "backend", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
					    30, serial, &ic),
			 FSEC_ERR_INVAL);
	/* A device certificate has no role. */
	dev = issue(&p, k, "dev-1");
	assert_int_equal(fsec_identity_role_from_cert(dev, role, name), FSEC_ERR_NOTFOUND);
	/* Both URIs: refused as a role. */
	add_uri(dev, "urn:fleetsec:role:backend:dev-1");
	assert_int_equal(fsec_identity_role_from_cert(dev, role, name), FSEC_ERR_PARSE);
	/* Two role URIs, an unknown role, a CN that disagrees. */
	add_uri(cert, "urn:fleetsec:role:operator:bk-1");
	assert_int_equal(fsec_identity_role_from_cert(cert, role, name), FSEC_ERR_PARSE);
	X509_free(cert);
	X509_free(dev);
	dev = issue(&p, k, "dev-2");
	X509_EXTENSION_free(X509_delete_ext(dev, X509_get_ext_by_NID(dev, NID_subject_alt_name, -1)));
	add_uri(dev, "urn:fleetsec:role:root:dev-2");
	assert_int_equal(fsec_identity_role_from_cert(dev, role, name), FSEC_ERR_PARSE);
	X509_free(dev);
	dev = issue(&p, k, "dev-3");
	X509_EXTENSION_free(X509_delete_ext(dev, X509_get_ext_by_NID(dev, NID_subject_alt_name, -1)));
	add_uri(dev, "urn:fleetsec:role:operator:op-9");
	assert_int_equal(fsec_identity_role_from_cert(dev, role, name), FSEC_ERR_VERIFY);
	X509_free(dev);
	EVP_PKEY_free(k);
	pki_free(&p);
}

static void crl_lists_revoked_with_reason(void **state)
{
	struct pki p = {0};
	EVP_PKEY *dev = tu_key("p256");
	X509 *a, *b;
	X509_CRL *crl = NULL;
	struct fsec_crl_entry e = {.revoked_at = 1700000000, .reason = 1};
	X509_REVOKED *rev = NULL;
	ASN1_ENUMERATED *reason;
	ASN1_INTEGER *num;

	(void)state;
	pki_make(&p, "p256");
	a = issue(&p, dev, "a");
	b = issue(&p, dev, "b");
	assert_int_equal(fsec_cert_serial_hex(a, e.serial), FSEC_OK);
	assert_int_equal(fsec_ca_make_crl(p.ca, &e, 1, 7, 7, &crl), FSEC_OK);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(p.iss)), 1);
	assert_int_equal(X509_CRL_get0_by_cert(crl, &rev, a), 1);
	reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
	assert_int_equal(ASN1_ENUMERATED_get(reason), 1);
	ASN1_ENUMERATED_free(reason);
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	assert_int_equal(ASN1_INTEGER_get(num), 7);
	ASN1_INTEGER_free(num);
	assert_false(chain_ok(&p, a, crl));
	assert_true(chain_ok(&p, b, crl));

	{
		struct fsec_crl_entry bad = {.serial = "XYZ"};
		X509_CRL *c2 = NULL;

		assert_int_equal(fsec_ca_make_crl(p.ca, &bad, 1, 8, 7, &c2), FSEC_ERR_INVAL);
		assert_null(c2);
	}
	X509_CRL_free(crl);
	X509_free(a);
	X509_free(b);
	EVP_PKEY_free(dev);
	pki_free(&p);
}

static void reason_names(void **state)
{
	int code = -1;

	(void)state;
	assert_int_equal(fsec_crl_reason_parse("keyCompromise", &code), FSEC_OK);
	assert_int_equal(code, 1);
	assert_int_equal(fsec_crl_reason_parse("cessationOfOperation", &code), FSEC_OK);
	assert_int_equal(code, 5);
	assert_int_equal(fsec_crl_reason_parse("certificateHold", &code), FSEC_ERR_INVAL);
	assert_string_equal(fsec_crl_reason_name(4), "superseded");
}

/* A subject with the given serialNumber values (type, bytes, length) and a CN. */
static X509_NAME *sn_name(int n, const int *types, const char *const *vals, const int *lens)
{
	X509_NAME *name = X509_NAME_new();

	assert_non_null(name);
	for (int i = 0; i < n; i++)
		assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_serialNumber, types[i],
							    (const unsigned char *)vals[i], lens[i],
							    -1, 0),
				 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
						    (const unsigned char *)"SN-77", -1, -1, 0),
			 1);
	return name;
}

/* Expect the reader's answer on one serialNumber, and that a refusal leaves
 * out untouched. */
static void sn_one(int type, const char *val, int len, enum fsec_err want, const char *id)
{
	X509_NAME *name = sn_name(1, &type, &val, &len);
	char out[FSEC_DEVID_MAX + 1] = "untouched";

	assert_int_equal(fsec_identity_bootstrap_serial(name, out), want);
	assert_string_equal(out, want == FSEC_OK ? id : "untouched");
	X509_NAME_free(name);
}

static void bootstrap_serials(void **state)
{
	char max[FSEC_DEVID_MAX + 2];
	static const unsigned char bmp[] = {0, 'S', 0, 'N', 0, '-', 0, '7'};
	X509_NAME *name;
	char out[FSEC_DEVID_MAX + 1] = "untouched";

	(void)state;
	sn_one(V_ASN1_PRINTABLESTRING, "SN-77", 5, FSEC_OK, "SN-77");
	sn_one(V_ASN1_UTF8STRING, "SN_77.a", 7, FSEC_OK, "SN_77.a");
	/* No truncation at a NUL: "SN-77\0-evil" is not SN-77. */
	sn_one(V_ASN1_PRINTABLESTRING, "SN-77\0-evil", 11, FSEC_ERR_PARSE, NULL);
	assert_non_null(strstr(fsec_err_detail(), "NUL"));
	sn_one(V_ASN1_UTF8STRING, "SN-77\0", 6, FSEC_ERR_PARSE, NULL);
	/* 64 characters enrol; 65 (and 73) are refused, never cut to 64. */
	memset(max, 'A', sizeof(max) - 1);
	max[FSEC_DEVID_MAX] = '\0';
	sn_one(V_ASN1_PRINTABLESTRING, max, FSEC_DEVID_MAX, FSEC_OK, max);
	max[FSEC_DEVID_MAX] = 'A';
	sn_one(V_ASN1_PRINTABLESTRING, max, FSEC_DEVID_MAX + 1, FSEC_ERR_PARSE, NULL);
	assert_non_null(strstr(fsec_err_detail(), "65 bytes"));
	sn_one(V_ASN1_PRINTABLESTRING, "", 0, FSEC_ERR_PARSE, NULL);
	/* Other string types, whatever they hold. */
	sn_one(V_ASN1_IA5STRING, "SN-77", 5, FSEC_ERR_PARSE, NULL);
	sn_one(V_ASN1_IA5STRING, "SN-77\x1b[2J", 9, FSEC_ERR_PARSE, NULL);
	assert_non_null(strstr(fsec_err_detail(), "IA5STRING"));
	sn_one(V_ASN1_BMPSTRING, (const char *)bmp, (int)sizeof(bmp), FSEC_ERR_PARSE, NULL);
	assert_non_null(strstr(fsec_err_detail(), "BMPSTRING"));
	sn_one(V_ASN1_T61STRING, "SN-77", 5, FSEC_ERR_PARSE, NULL);
	/* Characters outside the device ID rule, control characters included. */
	sn_one(V_ASN1_UTF8STRING, "SN-77\n-> 200", 12, FSEC_ERR_PARSE, NULL);
	sn_one(V_ASN1_PRINTABLESTRING, "SN 77", 5, FSEC_ERR_PARSE, NULL);
	sn_one(V_ASN1_UTF8STRING, "SN-\xc3\xa9", 5, FSEC_ERR_PARSE, NULL);
	/* None, and two (the same value twice too). */
	name = sn_name(0, NULL, NULL, NULL);
	assert_int_equal(fsec_identity_bootstrap_serial(name, out), FSEC_ERR_NOTFOUND);
	X509_NAME_free(name);
	{
		const int types[2] = {V_ASN1_PRINTABLESTRING, V_ASN1_PRINTABLESTRING};
		const char *const vals[2] = {"SN-77", "SN-78"};
		const int lens[2] = {5, 5};
		const char *const same[2] = {"SN-77", "SN-77"};

		name = sn_name(2, types, vals, lens);
		assert_int_equal(fsec_identity_bootstrap_serial(name, out), FSEC_ERR_PARSE);
		assert_non_null(strstr(fsec_err_detail(), "2 serialNumber"));
		X509_NAME_free(name);
		name = sn_name(2, types, same, lens);
		assert_int_equal(fsec_identity_bootstrap_serial(name, out), FSEC_ERR_PARSE);
		X509_NAME_free(name);
	}
	assert_string_equal(out, "untouched");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(device_profile),
		cmocka_unit_test(ca_profiles),
		cmocka_unit_test(serials_are_unique),
		cmocka_unit_test(validity_is_clamped_to_issuer),
		cmocka_unit_test(device_ids),
		cmocka_unit_test(identity_refuses_mismatch),
		cmocka_unit_test(role_profile),
		cmocka_unit_test(bootstrap_serials),
		cmocka_unit_test(crl_lists_revoked_with_reason),
		cmocka_unit_test(reason_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
