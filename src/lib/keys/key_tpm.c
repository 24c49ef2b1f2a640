/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TPM keys as keys every OpenSSL caller can sign with.
 *
 * The tpm2 provider's keys cannot be handed to libssl or X509_REQ_sign as
 * they are. OpenSSL 3.0 picks the signature implementation with the
 * caller's property query first (libcurl's SSL_CTX has none), finds the
 * default provider's ECDSA, and "exports" the TPM key to it: the export
 * succeeds with the public half only, so signing fails with "missing private
 * key" and the TPM's own ECDSA is never tried. Preferring the tpm2 provider
 * for everything (-propquery ?provider=tpm2) moves the TLS transcript
 * hashes into the TPM as well, where a handshake runs out of object slots
 * (TPM_RC_OBJECT_MEMORY) and each hash costs a bus round trip.
 *
 * So a TPM key is presented as a "foreign" EC key (OpenSSL's own mechanism
 * for keys whose operations live elsewhere): an EC_KEY holding only the
 * public point, with a method whose sign callback hands the digest to the
 * TPM key through the tpm2 provider. Everything else (hashing, key
 * exchange, verification, randomness) stays in software, and the TPM does
 * exactly one signature per handshake or CSR. The EC_KEY_METHOD API is
 * deprecated in OpenSSL 3 but is the documented route for such keys there.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "err_int.h"
#include "key_int.h"

static EC_KEY_METHOD *tpm_method;
static int tpm_index = -1;
static pthread_once_t tpm_once = PTHREAD_ONCE_INIT;

static void tpm_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	EVP_PKEY_free(ptr);
}

/* EC_KEY_dup (EVP_PKEY_dup, SSL_dup) copies ex_data pointers: take a
 * reference so each copy frees its own. */
static int tpm_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
		   long argl, void *argp)
{
	(void)to, (void)from, (void)idx, (void)argl, (void)argp;
	return *from_d == NULL || EVP_PKEY_up_ref(*from_d);
}

/* The hash the digest came from, by its length: TLS signs with SHA-256 on
 * P-256 but a peer may ask for SHA-384 or SHA-512. */
static const char *digest_for(int len)
{
	switch (len) {
	case 32: return "SHA256";
	case 48: return "SHA384";
	case 64: return "SHA512";
	default: return NULL;
	}
}

static int tpm_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
		    unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey)
{
	EVP_PKEY *tpm = EC_KEY_get_ex_data(eckey, tpm_index);
	const char *md = digest_for(dlen);
	EVP_PKEY_CTX *ctx = NULL;
	size_t len = (size_t)ECDSA_size(eckey);
	int ok = 0;

	(void)type, (void)kinv, (void)r;
	if (tpm == NULL || md == NULL)
		return 0;
	/* The property query makes this one fetch find the TPM's ECDSA. */
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, tpm, "?provider=tpm2");
	if (ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbyname(md)) == 1 &&
	    EVP_PKEY_sign(ctx, sig, &len, dgst, (size_t)dlen) == 1 && len <= UINT_MAX) {
		*siglen = (unsigned int)len;
		ok = 1;
	}
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static ECDSA_SIG *tpm_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
			       const BIGNUM *r, EC_KEY *eckey)
{
	int max = ECDSA_size(eckey);
	unsigned char *der = max > 0 ? OPENSSL_malloc((size_t)max) : NULL;
	const unsigned char *p = der;
	unsigned int len = 0;
	ECDSA_SIG *s = NULL;

	if (der != NULL && tpm_sign(0, dgst, dlen, der, &len, kinv, r, eckey) == 1)
		s = d2i_ECDSA_SIG(NULL, &p, (long)len);
	OPENSSL_free(der);
	return s;
}

static void tpm_init(void)
{
	tpm_index = EC_KEY_get_ex_new_index(0, NULL, NULL, tpm_dup, tpm_free);
	tpm_method = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	if (tpm_method == NULL)
		return;
	/* No sign_setup: a TPM makes its own nonce. */
	EC_KEY_METHOD_set_sign(tpm_method, tpm_sign, NULL, tpm_sign_sig);
}

bool fsec_key_is_tpm(const EVP_PKEY *key)
{
	const OSSL_PROVIDER *p = EVP_PKEY_get0_provider(key);

	return p != NULL && strcmp(OSSL_PROVIDER_get0_name(p), "tpm2") == 0;
}

EVP_PKEY *fsec_key_tpm_inner(const EVP_PKEY *key)
{
	const EC_KEY *ec;

	if (tpm_index < 0 || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    (ec = EVP_PKEY_get0_EC_KEY(key)) == NULL || EC_KEY_get_method(ec) != tpm_method)
		return NULL;
	return EC_KEY_get_ex_data(ec, tpm_index);
}

enum fsec_err fsec_key_tpm_wrap(EVP_PKEY *tpm, EVP_PKEY **out)
{
	enum fsec_err rc = FSEC_ERR_CRYPTO;
	unsigned char *spki = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL, *wrap = NULL;
	EC_KEY *ec = NULL;
	int n;

	if (pthread_once(&tpm_once, tpm_init) != 0 || tpm_method == NULL || tpm_index < 0)
		return fsec_seterr_ossl(FSEC_ERR_NOMEM, "cannot set up TPM signing");
	if (!EVP_PKEY_is_a(tpm, "EC"))
		return fsec_seterr(FSEC_ERR_INVAL, "the TPM key is not an EC key");
	/* The public half, re-read by the default provider as a legacy key. */
	if ((n = i2d_PUBKEY(tpm, &spki)) <= 0 || (p = spki, pub = d2i_PUBKEY(NULL, &p, n)) == NULL ||
	    (ec = EVP_PKEY_get1_EC_KEY(pub)) == NULL) {
		fsec_seterr_ossl(rc, "cannot read the TPM key's public half");
		goto out;
	}
	/* The method first: EVP_PKEY_assign decides then that the key is
	 * foreign and must never be handed to a provider. */
	if (EC_KEY_set_method(ec, tpm_method) != 1 || !EVP_PKEY_up_ref(tpm)) {
		fsec_seterr_ossl(rc, "cannot wrap the TPM key");
		goto out;
	}
	if (EC_KEY_set_ex_data(ec, tpm_index, tpm) != 1) {
		EVP_PKEY_free(tpm);
		fsec_seterr_ossl(rc, "cannot wrap the TPM key");
		goto out;
	}
	if ((wrap = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_EC_KEY(wrap, ec) != 1) {
		fsec_seterr_ossl(rc, "cannot wrap the TPM key");
		goto out;
	}
	ec = NULL;
	*out = wrap;
	wrap = NULL;
	rc = FSEC_OK;
out:
	EVP_PKEY_free(wrap);
	EC_KEY_free(ec);
	EVP_PKEY_free(pub);
	OPENSSL_free(spki);
	return rc;
}
