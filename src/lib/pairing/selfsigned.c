/* SPDX-License-Identifier: Apache-2.0 */
/* The paired device's handshake credential (pairing.h). */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/pairing.h"

#define SELF_DAYS 7

static bool add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;
	bool ok;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return false;
	ok = X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok;
}

FSEC_API enum fsec_err fsec_pair_selfsigned(EVP_PKEY *key, const char *serial, const char *path)
{
	unsigned char sn[16];
	X509 *x = X509_new();
	X509_NAME *name = NULL;
	BIGNUM *bn = NULL;
	BIO *mem = NULL;
	char *pem = NULL;
	long n;
	enum fsec_err rc = FSEC_ERR_CRYPTO;

	fsec_clearerr();
	if (!fsec_devid_valid(serial)) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "serial is not a device ID");
		goto out;
	}
	if (x == NULL || RAND_bytes(sn, sizeof(sn)) != 1)
		goto fail;
	sn[0] &= 0x7f; /* positive */
	sn[0] |= 0x40; /* and of full length */
	/* An hour back: a device clock a little behind the server's must not
	 * make its own credential "not yet valid". */
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    (bn = BN_bin2bn(sn, sizeof(sn), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), (long)SELF_DAYS * 86400) == NULL ||
	    (name = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)serial, -1,
				       -1, 0) != 1 ||
	    X509_set_subject_name(x, name) != 1 || X509_set_issuer_name(x, name) != 1 ||
	    X509_set_pubkey(x, key) != 1 || !add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(x, NID_ext_key_usage, "clientAuth") || X509_sign(x, key, EVP_sha256()) <= 0)
		goto fail;
	if ((mem = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509(mem, x) != 1 ||
	    (n = BIO_get_mem_data(mem, &pem)) <= 0)
		goto fail;
	rc = fsec_file_write_atomic(path, pem, (size_t)n, 0644, 0);
	goto out;
fail:
	fsec_seterr_ossl(rc, "cannot make the self-signed pairing certificate");
out:
	ERR_clear_error();
	BIO_free(mem);
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	return rc;
}
