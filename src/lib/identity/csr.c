/* SPDX-License-Identifier: Apache-2.0 */
/* Certificate signing requests (csr.h): creating them for a device
 * key, and parsing outside ones with their self-signature checked. */
#include <ctype.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
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

/* The DER inside a PEM "CERTIFICATE REQUEST", with nothing but white space
 * after it. The caller frees *der with OPENSSL_free. */
static enum fsec_err pem_to_der(const unsigned char *buf, size_t len, unsigned char **der,
				long *dlen)
{
	enum fsec_err rc = FSEC_ERR_PARSE;
	char *name = NULL, *header = NULL;
	BIO *bio;

	*der = NULL;
	/* len <= FSEC_CSR_MAX, checked by the caller, so it fits an int. */
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (!PEM_read_bio(bio, &name, &header, der, dlen)) {
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
	rc = FSEC_OK;
out:
	if (rc != FSEC_OK) {
		OPENSSL_free(*der);
		*der = NULL;
	}
	ERR_clear_error();
	OPENSSL_free(name);
	OPENSSL_free(header);
	BIO_free(bio);
	return rc;
}

static enum fsec_err decode_pem(const unsigned char *buf, size_t len, X509_REQ **out)
{
	unsigned char *der = NULL;
	long dlen = 0;
	enum fsec_err rc = pem_to_der(buf, len, &der, &dlen);

	if (rc == FSEC_OK)
		rc = decode_der(der, dlen, out);
	OPENSSL_free(der);
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

/* ---- the one-pass path (fsec_csr_parse_key) ---- */

/* One DER TLV at *p (before end) of the given tag and class, definite
 * length: its contents in *body and *blen, *p moved past it. */
static bool der_next(const unsigned char **p, const unsigned char *end, int tag, int cls,
		     const unsigned char **body, long *blen)
{
	const unsigned char *q = *p;
	long len = 0;
	int t = 0, c = 0, r;

	if (q >= end)
		return false;
	r = ASN1_get_object(&q, &len, &t, &c, end - q);
	/* 0x80: error or length past end; 0x21: indefinite length (BER). A
	 * SEQUENCE or [0] must be constructed, anything else primitive, as
	 * the full decoder requires (fuzz_csr found a primitive SEQUENCE). */
	if ((r & 0x80) != 0 || r == 0x21 || t != tag || c != cls ||
	    ((r & V_ASN1_CONSTRUCTED) != 0) != (tag == V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL))
		return false;
	*body = q;
	*blen = len;
	*p = q + len;
	return true;
}

static bool bytes_are(const unsigned char *b, long n, const unsigned char *want, size_t wn)
{
	return n >= 0 && (size_t)n == wn && memcmp(b, want, wn) == 0;
}

/* The algorithms the one-pass path knows, as DER AlgorithmIdentifier
 * contents; anything else takes fsec_csr_parse's path. */
static const unsigned char OID_EC_P256[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
					    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
					    0x07};
static const unsigned char OID_EC_P384[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
					    0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
					    0x00, 0x22};
static const unsigned char OID_ED25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
static const unsigned char OID_ECDSA_SHA256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
						 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char OID_ECDSA_SHA384[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
						 0xce, 0x3d, 0x04, 0x03, 0x03};

/* The parts of a request the one-pass path uses, pointing into its DER. */
struct csr_parts {
	const unsigned char *info; /* CertificationRequestInfo, as signed */
	long info_len;
	const unsigned char *key_alg, *point, *sig_alg, *sig;
	long key_alg_len, point_len, sig_alg_len, sig_len;
};

/* Walk the request's structure once. False: not one this path takes (the
 * full decoder then says what is wrong, if anything). */
static bool csr_split(const unsigned char *der, long len, struct csr_parts *cp)
{
	const unsigned char *end = der + len, *p = der, *b, *ie, *q, *n, *spki_end;
	long bl;
	X509_NAME *name;

	if (!der_next(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &b, &bl) || p != end)
		return false;
	p = b;
	cp->info = p;
	if (!der_next(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &b, &bl))
		return false;
	cp->info_len = p - cp->info;
	ie = p;
	q = b;
	/* version 1 (0) */
	if (!der_next(&q, ie, V_ASN1_INTEGER, V_ASN1_UNIVERSAL, &b, &bl) || bl != 1 || b[0] != 0)
		return false;
	/* The subject is decoded as the full decoder would (it names nothing
	 * here: the certificate's subject comes from the device ID), so that
	 * both paths accept the same requests. */
	n = q;
	if (!der_next(&q, ie, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &b, &bl))
		return false;
	name = d2i_X509_NAME(NULL, &n, q - n);
	X509_NAME_free(name);
	if (name == NULL || n != q)
		return false;
	/* SubjectPublicKeyInfo */
	if (!der_next(&q, ie, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &b, &bl))
		return false;
	spki_end = q;
	n = b;
	if (!der_next(&n, spki_end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &cp->key_alg,
		      &cp->key_alg_len) ||
	    !der_next(&n, spki_end, V_ASN1_BIT_STRING, V_ASN1_UNIVERSAL, &b, &bl) || n != spki_end ||
	    bl < 2 || b[0] != 0)
		return false;
	cp->point = b + 1;
	cp->point_len = bl - 1;
	/* attributes [0] IMPLICIT SET OF Attribute (optional in OpenSSL's
	 * template), each decoded as the full decoder would. */
	if (q < ie) {
		const unsigned char *ae;

		if (!der_next(&q, ie, 0, V_ASN1_CONTEXT_SPECIFIC, &b, &bl))
			return false;
		for (ae = b + bl, n = b; n < ae;) {
			X509_ATTRIBUTE *attr = d2i_X509_ATTRIBUTE(NULL, &n, ae - n);

			if (attr == NULL)
				return false;
			X509_ATTRIBUTE_free(attr);
		}
		if (n != ae)
			return false;
	}
	if (q != ie)
		return false;
	p = ie;
	if (!der_next(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &cp->sig_alg, &cp->sig_alg_len) ||
	    !der_next(&p, end, V_ASN1_BIT_STRING, V_ASN1_UNIVERSAL, &b, &bl) || p != end || bl < 2 ||
	    b[0] != 0)
		return false;
	cp->sig = b + 1;
	cp->sig_len = bl - 1;
	return true;
}

/* The public key from its parameters, with no decoder. NULL (and no
 * error set) when the algorithm is not one this path takes. */
static enum fsec_err key_from_parts(const struct csr_parts *cp, EVP_PKEY **out, bool *other)
{
	const char *group = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM params[3];
	enum fsec_err rc = FSEC_ERR_PARSE;

	*other = false;
	if (bytes_are(cp->key_alg, cp->key_alg_len, OID_ED25519, sizeof(OID_ED25519))) {
		if (cp->point_len != 32)
			return fsec_seterr(rc, "request has no usable public key");
		*out = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, cp->point, 32);
		if (*out == NULL)
			return fsec_seterr_ossl(rc, "request has no usable public key");
		return FSEC_OK;
	}
	if (bytes_are(cp->key_alg, cp->key_alg_len, OID_EC_P256, sizeof(OID_EC_P256)))
		group = "P-256";
	else if (bytes_are(cp->key_alg, cp->key_alg_len, OID_EC_P384, sizeof(OID_EC_P384)))
		group = "P-384";
	if (group == NULL) {
		*other = true;
		return FSEC_OK;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      (void *)cp->point, (size_t)cp->point_len);
	params[2] = OSSL_PARAM_construct_end();
	*out = NULL;
	/* fromdata decodes the point onto the curve: an off-curve point fails. */
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		fsec_seterr_ossl(rc, "request has no usable public key");
		goto out;
	}
	rc = FSEC_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

static enum fsec_err verify_parts(const struct csr_parts *cp, EVP_PKEY *pub)
{
	const EVP_MD *md = NULL;
	EVP_MD_CTX *ctx;
	bool known = true;
	int ok = 0;

	if (bytes_are(cp->sig_alg, cp->sig_alg_len, OID_ECDSA_SHA256, sizeof(OID_ECDSA_SHA256)))
		md = EVP_sha256();
	else if (bytes_are(cp->sig_alg, cp->sig_alg_len, OID_ECDSA_SHA384,
			   sizeof(OID_ECDSA_SHA384)))
		md = EVP_sha384();
	else if (!bytes_are(cp->sig_alg, cp->sig_alg_len, OID_ED25519, sizeof(OID_ED25519)))
		known = false;
	/* The signature algorithm must match the key's type, as the full
	 * verifier requires. */
	if (known && (md == NULL) != (EVP_PKEY_get_base_id(pub) == EVP_PKEY_ED25519))
		known = false;
	if (known && (ctx = EVP_MD_CTX_new()) != NULL) {
		ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub) == 1 &&
		     EVP_DigestVerify(ctx, cp->sig, (size_t)cp->sig_len, cp->info,
				      (size_t)cp->info_len) == 1;
		EVP_MD_CTX_free(ctx);
	}
	if (!ok)
		return fsec_seterr_ossl(FSEC_ERR_VERIFY,
					"self-signature does not verify (no proof of key possession)");
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_csr_parse_key(const unsigned char *buf, size_t len, EVP_PKEY **out)
{
	unsigned char *pem_der = NULL;
	const unsigned char *der = buf;
	long dlen = (long)len;
	struct csr_parts cp;
	EVP_PKEY *pub = NULL;
	X509_REQ *req = NULL;
	bool other = false;
	enum fsec_err rc;

	if (len > FSEC_CSR_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "request is %zu bytes, the limit is %u", len,
				   FSEC_CSR_MAX);
	if (len == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "empty input");
	if (buf[0] != 0x30) {
		if ((rc = pem_to_der(buf, len, &pem_der, &dlen)) != FSEC_OK)
			return rc;
		der = pem_der;
	}
	if (!csr_split(der, dlen, &cp) || (rc = key_from_parts(&cp, &pub, &other)) != FSEC_OK ||
	    other) {
		/* Not a shape this path takes: the full decoder decides, and
		 * says what is wrong. */
		ERR_clear_error();
		if ((rc = fsec_csr_parse(der, (size_t)dlen, &req)) != FSEC_OK)
			goto out;
		pub = X509_REQ_get0_pubkey(req);
		if (pub == NULL || !EVP_PKEY_up_ref(pub)) {
			pub = NULL;
			rc = fsec_seterr_ossl(FSEC_ERR_PARSE, "request has no usable public key");
			goto out;
		}
	} else if ((rc = fsec_key_check_strength(pub)) != FSEC_OK ||
		   (rc = verify_parts(&cp, pub)) != FSEC_OK) {
		goto out;
	}
	*out = pub;
	pub = NULL;
	rc = FSEC_OK;
out:
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
	OPENSSL_free(pem_der);
	return rc;
}
