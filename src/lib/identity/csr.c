/* SPDX-License-Identifier: Apache-2.0 */
/* Certificate signing requests (csr.h): creating them for a device
 * key, and parsing outside ones with their self-signature checked. */
#include <ctype.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "err_int.h"
#include "fleetsec/csr.h"
#include "fleetsec/key.h"

/* Decode exactly one DER request occupying all of der[0..len). */
static enum fsec_err decode_der(const unsigned char *der, long len, X509_REQ **out)
{
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, len);

	if (req == NULL)
		return fsec_seterr_ossl(FSEC_ERR_PARSE, "not a valid PKCS#10 certificate request");
	if (p != der + len) {
		X509_REQ_free(req);
		return fsec_seterr(FSEC_ERR_PARSE, "trailing bytes after the certificate request");
	}
	*out = req;
	return FSEC_OK;
}

static enum fsec_err decode_pem(const unsigned char *buf, size_t len, X509_REQ **out)
{
	enum fsec_err rc = FSEC_ERR_PARSE;
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long dlen = 0;
	BIO *bio;

	/* len <= FSEC_CSR_MAX, checked by the caller, so it fits an int. */
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (!PEM_read_bio(bio, &name, &header, &der, &dlen)) {
		if (memmem(buf, len, "-----BEGIN ", 11) == NULL)
			fsec_seterr(rc, "not a valid certificate request (neither DER nor PEM)");
		else
			fsec_seterr_ossl(rc, "truncated or corrupt PEM");
		goto out;
	}
	if (strcmp(name, PEM_STRING_X509_REQ) != 0 && strcmp(name, PEM_STRING_X509_REQ_OLD) != 0) {
		fsec_seterr(rc, "PEM holds a %.40s, not a CERTIFICATE REQUEST", name);
		goto out;
	}
	/* Anything after the END line but white space would be a second
	 * object we silently ignore: a weak key hiding behind a good one. */
	{
		char rest[64];
		int n;

		while ((n = BIO_read(bio, rest, sizeof(rest))) > 0)
			for (int i = 0; i < n; i++)
				if (!isspace((unsigned char)rest[i])) {
					fsec_seterr(rc, "trailing data after the PEM certificate request");
					goto out;
				}
	}
	rc = decode_der(der, dlen, out);
out:
	ERR_clear_error();
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(bio);
	return rc;
}

FSEC_API enum fsec_err fsec_csr_parse(const unsigned char *buf, size_t len, X509_REQ **out)
{
	enum fsec_err rc = FSEC_ERR_VERIFY;
	X509_REQ *req = NULL;
	EVP_PKEY *pub;

	if (len > FSEC_CSR_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "request is %zu bytes, the limit is %u", len,
				   FSEC_CSR_MAX);
	if (len == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "empty input");
	/* DER is a SEQUENCE and starts with 0x30; PEM starts with its BEGIN
	 * line or explanatory text, never with '0'. Searching the buffer for
	 * "-----BEGIN" instead would misread a DER subject that contains it. */
	if (buf[0] == 0x30)
		rc = decode_der(buf, (long)len, &req);
	else
		rc = decode_pem(buf, len, &req);
	if (rc != FSEC_OK)
		return rc;

	rc = FSEC_ERR_VERIFY;
	pub = X509_REQ_get0_pubkey(req);
	if (pub == NULL) {
		rc = fsec_seterr_ossl(FSEC_ERR_PARSE, "request has no usable public key");
		goto out;
	}
	/* Strength first: verifying a signature under a 512-bit RSA key proves
	 * nothing, and the policy reason is the more useful one to report. */
	rc = fsec_key_check_strength(pub);
	if (rc != FSEC_OK)
		goto out;
	if (X509_REQ_verify(req, pub) != 1) {
		rc = fsec_seterr_ossl(FSEC_ERR_VERIFY,
				      "self-signature does not verify (no proof of key possession)");
		goto out;
	}
	*out = req;
	req = NULL;
	rc = FSEC_OK;
out:
	X509_REQ_free(req);
	return rc;
}

FSEC_API enum fsec_err fsec_csr_make(EVP_PKEY *key, const X509_NAME *subject, const char *cn,
				     X509_REQ **out)
{
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	enum fsec_err rc = FSEC_ERR_CRYPTO;
	/* Ed25519 signs the message itself: no digest to name. */
	const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();

	if (subject == NULL && cn == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "a CSR needs a subject");
	if ((req = X509_REQ_new()) == NULL || (subject == NULL && (name = X509_NAME_new()) == NULL) ||
	    (name != NULL && !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
							  (const unsigned char *)cn, -1, -1, 0)) ||
	    !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(req, subject != NULL ? subject : name) ||
	    !X509_REQ_set_pubkey(req, key) || X509_REQ_sign(req, key, md) <= 0) {
		fsec_seterr_ossl(rc, "cannot make the CSR");
		goto out;
	}
	*out = req;
	req = NULL;
	rc = FSEC_OK;
out:
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}
