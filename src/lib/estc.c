/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "b64_int.h"
#include "err_int.h"
#include "fleetsec/ca.h"
#include "fleetsec/estc.h"
#include "fleetsec/fetch.h"
#include "fleetsec/fileio.h"
#include "fleetsec/key.h"

/* A certs-only response holding one certificate is a few KiB. */
#define RESPONSE_MAX (64u * 1024u)

/* DER PKCS#10 for key, signed by it, as base64 with line breaks. */
static enum fsec_err make_csr(EVP_PKEY *key, char **b64, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;
	enum fsec_err rc = FSEC_ERR_CRYPTO;
	int n;

	/* The server names the device after its bootstrap serial; the
	 * subject here is only a label. */
	if (req == NULL || name == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"fleetsec-device", -1, -1, 0) ||
	    !X509_REQ_set_version(req, X509_REQ_VERSION_1) || !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key) || X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
	    (n = i2d_X509_REQ(req, &der)) <= 0) {
		fsec_seterr_ossl(rc, "cannot make the CSR");
		goto out;
	}
	if ((*b64 = fsec_b64_encode_lines(der, (size_t)n, len)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = FSEC_OK;
out:
	OPENSSL_free(der);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

/* The one certificate in a base64 certs-only CMS. */
static enum fsec_err parse_response(const unsigned char *body, size_t len, X509 **out)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t dlen = 0;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *certs;
	enum fsec_err rc = FSEC_ERR_PARSE;

	if (!fsec_b64_decode_lines(body, len, RESPONSE_MAX, &der, &dlen))
		return fsec_seterr(rc, "the server's answer is not base64");
	p = der;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)dlen)) == NULL || p != der + dlen ||
	    !PKCS7_type_is_signed(p7) || p7->d.sign == NULL ||
	    (certs = p7->d.sign->cert) == NULL || sk_X509_num(certs) != 1) {
		fsec_seterr_ossl(rc, "the server's answer is not a certs-only CMS with one certificate");
		goto out;
	}
	*out = sk_X509_value(certs, 0);
	X509_up_ref(*out);
	rc = FSEC_OK;
out:
	PKCS7_free(p7);
	free(der);
	return rc;
}

/* The certificate must be for our key and chain to the pinned fleet CA. */
static enum fsec_err check_cert(X509 *cert, EVP_PKEY *key, const char *ca,
				char id[FSEC_DEVID_MAX + 1])
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	enum fsec_err rc = FSEC_ERR_VERIFY;

	if (st == NULL || ctx == NULL || X509_STORE_load_file(st, ca) != 1) {
		rc = fsec_seterr_ossl(FSEC_ERR_IO, "%s: cannot load the fleet CA", ca);
		goto out;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
		fsec_seterr(rc, "the certificate returned is not for this device's new key");
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, st, cert, NULL) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1 ||
	    X509_verify_cert(ctx) != 1) {
		fsec_seterr(rc, "the certificate returned does not verify against %s: %s", ca,
			    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	if ((rc = fsec_identity_from_cert(cert, id)) != FSEC_OK)
		goto out;
	rc = FSEC_OK;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return rc;
}

/*
 * The key this enrollment asks for. It is written (0600) before the request
 * is sent and kept beside the final key until the certificate arrives: if
 * the answer is lost, the next attempt asks with the same key, and the
 * server, seeing the bootstrap credential that enrolled this device and its
 * key, sends the certificate again instead of refusing a device that would
 * otherwise be stranded.
 */
static enum fsec_err pending_key(const char *path, EVP_PKEY **key)
{
	enum fsec_err rc;

	if (access(path, F_OK) == 0)
		return fsec_key_load_private(path, key);
	if ((rc = fsec_key_generate(FSEC_KEY_P256, key)) != FSEC_OK)
		return rc;
	if ((rc = fsec_key_save_private(*key, path)) != FSEC_OK) {
		EVP_PKEY_free(*key);
		*key = NULL;
	}
	return rc;
}

FSEC_API enum fsec_err fsec_estc_enroll(const struct fsec_estc_opts *o,
					char id[FSEC_DEVID_MAX + 1])
{
	struct fsec_fetch_opts fo = {.ca = o->ca, .cert = o->bootstrap_cert, .key = o->bootstrap_key};
	struct fsec_fetch *f = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	unsigned char *resp = NULL;
	char *csr = NULL, *pem = NULL, url[1024], pending[4096];
	size_t clen = 0, rlen = 0;
	enum fsec_err rc;

	fsec_clearerr();
	if ((size_t)snprintf(url, sizeof(url), "%s/.well-known/est/simpleenroll", o->server) >=
	    sizeof(url))
		return fsec_seterr(FSEC_ERR_INVAL, "server URL too long");
	if ((size_t)snprintf(pending, sizeof(pending), "%s.pending", o->key_out) >= sizeof(pending))
		return fsec_seterr(FSEC_ERR_INVAL, "key path too long");
	if ((rc = fsec_fetch_new(&fo, &f)) != FSEC_OK || (rc = pending_key(pending, &key)) != FSEC_OK ||
	    (rc = make_csr(key, &csr, &clen)) != FSEC_OK)
		goto out;
	if ((rc = fsec_fetch_post(f, url, "application/pkcs10", csr, clen, RESPONSE_MAX, &resp,
				  &rlen)) != FSEC_OK) {
		rc = fsec_seterr(rc, "enrollment refused: %s", fsec_err_detail());
		goto out;
	}
	if ((rc = parse_response(resp, rlen, &cert)) != FSEC_OK ||
	    (rc = check_cert(cert, key, o->ca, id)) != FSEC_OK || (rc = fsec_cert_pem(cert, &pem)) != FSEC_OK)
		goto out;
	/* The certificate lands first, then the pending key takes the key's
	 * place. A cut between the two leaves the pending key, so the next
	 * attempt asks with the same key and the server sends the certificate
	 * again. */
	if ((rc = fsec_file_write_atomic(o->cert_out, pem, strlen(pem), 0644, 0)) != FSEC_OK)
		goto out;
	if (rename(pending, o->key_out) != 0) {
		rc = fsec_seterr(FSEC_ERR_IO, "%s: %s", o->key_out, strerror(errno));
		goto out;
	}
	rc = fsec_dir_sync_parent(o->key_out);
out:
	fsec_fetch_free(f);
	EVP_PKEY_free(key);
	X509_free(cert);
	free(resp);
	free(csr);
	free(pem);
	return rc;
}
