/* SPDX-License-Identifier: Apache-2.0 */
/* Keys (key.h): generation, loading by path or OpenSSL URI, strength
 * policy and fingerprints; private key bytes only pass through secure memory. */
#include <stdbool.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/x509.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/store.h>

#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/key.h"
#include "key_int.h"
#include "tpm_int.h"

FSEC_API enum fsec_err fsec_key_algo_parse(const char *name, enum fsec_key_algo *out)
{
	if (strcmp(name, "p256") == 0)
		*out = FSEC_KEY_P256;
	else if (strcmp(name, "p384") == 0)
		*out = FSEC_KEY_P384;
	else if (strcmp(name, "ed25519") == 0)
		*out = FSEC_KEY_ED25519;
	else
		return fsec_seterr(FSEC_ERR_INVAL, "unknown algorithm '%s' (p256, p384 or ed25519)", name);
	return FSEC_OK;
}

FSEC_API const char *fsec_key_algo_name(enum fsec_key_algo algo)
{
	switch (algo) {
	case FSEC_KEY_P256: return "p256";
	case FSEC_KEY_P384: return "p384";
	case FSEC_KEY_ED25519: return "ed25519";
	}
	return "unknown";
}

/* Where P-256 keys are made: NULL for software, "provider=tpm2" once
 * fsec_keystore_use_tpm has run. Process-wide, like the providers. */
static const char *gen_propq;

static OSSL_PROVIDER *prov_default, *prov_tpm2;
/* The persistent storage key new TPM keys are made under ("": the
 * provider's default, a primary re-created under the owner hierarchy). */
static char gen_parent[16];

/* A P-256 key inside the TPM, under gen_parent when one is set (what
 * genpkey's -pkeyopt parent: does). */
static EVP_PKEY *tpm_keygen(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", gen_propq);
	OSSL_PARAM params[3], *p = params;
	OSSL_PARAM *parent = NULL;
	EVP_PKEY *k = NULL;
	int found = 0;

	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string("group", (char *)"P-256", 0);
	if (gen_parent[0] != '\0') {
		if ((parent = OPENSSL_zalloc(2 * sizeof(*parent))) == NULL ||
		    !OSSL_PARAM_allocate_from_text(parent, EVP_PKEY_CTX_settable_params(ctx), "parent",
						   gen_parent, strlen(gen_parent), &found) ||
		    !found)
			goto out;
		*p++ = parent[0];
	}
	*p = OSSL_PARAM_construct_end();
	if (EVP_PKEY_CTX_set_params(ctx, params) <= 0 || EVP_PKEY_generate(ctx, &k) <= 0)
		k = NULL;
out:
	if (parent != NULL)
		OPENSSL_free(parent[0].data);
	OPENSSL_free(parent);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* Unloaded at exit, before OpenSSL's own cleanup (atexit runs in reverse),
 * so that the tpm2 provider closes its TPM session and frees it. */
static void unload_providers(void)
{
	OSSL_PROVIDER_unload(prov_tpm2);
	OSSL_PROVIDER_unload(prov_default);
	prov_tpm2 = prov_default = NULL;
}

FSEC_API enum fsec_err fsec_keystore_use_tpm(const char *tcti, const char *parent)
{
	/* The tpm2 provider reads its TCTI from the environment when it is
	 * loaded: OpenSSL 3.0 has no way to hand a provider a parameter. */
	enum fsec_err rc = fsec_tpm_set_tcti(tcti);

	if (rc != FSEC_OK)
		return rc;
	if (tcti != NULL && tcti[0] != '\0' && setenv("TPM2OPENSSL_TCTI", tcti, 1) != 0)
		return fsec_seterr(FSEC_ERR_NOMEM, "cannot set the TPM's TCTI");
	/* The TSS libraries print their own warnings on stderr, which would
	 * break the one-line error contract; the error detail says why. An
	 * operator's own TSS2_LOG wins. */
	if (setenv("TSS2_LOG", "all+none", 0) != 0)
		return fsec_seterr(FSEC_ERR_NOMEM, "cannot quiet the TSS libraries");
	/* Loading one provider by hand turns off the implicit default: load it
	 * too, and first, so that digests, key exchange and everything else
	 * that is not a TPM key's own operation comes from software (the TPM's
	 * implementations are slow and cannot duplicate their contexts, which
	 * TLS needs). */
	if (prov_default == NULL && (prov_default = OSSL_PROVIDER_load(NULL, "default")) == NULL)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot load the default provider");
	/* The provider's own failure says only "unknown error" when the TPM
	 * is not there: ask the TPM first. */
	if (prov_tpm2 == NULL && (rc = fsec_tpm_probe()) != FSEC_OK)
		return rc;
	if (prov_tpm2 == NULL && (prov_tpm2 = OSSL_PROVIDER_load(NULL, "tpm2")) == NULL)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot load the tpm2 provider "
							 "(tpm2-openssl) for TCTI '%.64s'",
					tcti != NULL ? tcti : "");
	/* The random generator stays in software: the provider's TPM-backed
	 * one is slow and not a DRBG that TLS libraries accept as seeded. This
	 * must happen before anything draws a random number. */
	if (!RAND_set_DRBG_type(NULL, "CTR-DRBG", "provider=default", NULL, NULL) ||
	    !RAND_set_seed_source_type(NULL, "SEED-SRC", "provider=default"))
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot keep the DRBG in software");
	gen_propq = "provider=tpm2";
	gen_parent[0] = '\0';
	if (parent != NULL && parent[0] != '\0') {
		uint32_t h;

		if (!fsec_tpm_parse_handle(parent, &h) || h >> 24 != 0x81)
			return fsec_seterr(FSEC_ERR_INVAL,
					   "tpm_parent '%.20s' is not a persistent handle (0x81...)",
					   parent);
		snprintf(gen_parent, sizeof(gen_parent), "0x%08x", (unsigned)h);
	}
	if (atexit(unload_providers) != 0)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_key_generate(enum fsec_key_algo algo, EVP_PKEY **out)
{
	EVP_PKEY *k = NULL;

	/* A TPM keystore makes P-256 keys only: what every TPM 2.0 has. */
	if (gen_propq != NULL && algo != FSEC_KEY_P256)
		return fsec_seterr(FSEC_ERR_INVAL, "the TPM keystore makes P-256 keys only");
	switch (algo) {
	case FSEC_KEY_P256:
		k = gen_propq != NULL ? tpm_keygen() : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case FSEC_KEY_P384: k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"); break;
	case FSEC_KEY_ED25519: k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); break;
	default: return fsec_seterr(FSEC_ERR_INVAL, "unknown key algorithm %d", (int)algo);
	}
	if (k == NULL)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "key generation failed");
	if (fsec_key_is_tpm(k)) {
		enum fsec_err rc = fsec_key_tpm_wrap(k, out);

		EVP_PKEY_free(k);
		return rc;
	}
	*out = k;
	return FSEC_OK;
}

/* A URI may carry a PIN (pkcs11:...?pin-value=...): messages show only the
 * part before any '?'. */
static int uri_shown_len(const char *uri)
{
	size_t n = strcspn(uri, "?");

	return n > 200 ? 200 : (int)n;
}

/* Whether the file at path starts as a TPM-wrapped key blob does. */
static bool is_tss2_blob(const char *path)
{
	static const char tag[] = "-----BEGIN TSS2 PRIVATE KEY-----";
	char head[sizeof(tag)] = "";
	uint64_t size = 0;
	bool yes;
	int fd;

	if (fsec_file_open_regular(path, &fd, &size) != FSEC_OK)
		return false;
	yes = read(fd, head, sizeof(tag) - 1) == (ssize_t)(sizeof(tag) - 1) &&
	      memcmp(head, tag, sizeof(tag) - 1) == 0;
	close(fd);
	return yes;
}

/* The first key in the store at uri: with want_private only a private key,
 * otherwise a public key, a certificate's, or a private key's public half. */
static enum fsec_err load_key(const char *uri, bool want_private, EVP_PKEY **out)
{
	enum fsec_err rc = FSEC_ERR_NOTFOUND;
	OSSL_STORE_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	int shown = uri_shown_len(uri);

	/* A plain path: say what is wrong with it, not that OSSL_STORE knows no
	 * such scheme. */
	if (strspn(uri, "abcdefghijklmnopqrstuvwxyz0123456789+.-") < 2 ||
	    uri[strspn(uri, "abcdefghijklmnopqrstuvwxyz0123456789+.-")] != ':') {
		if (access(uri, R_OK) != 0)
			return fsec_seterr(FSEC_ERR_NOTFOUND, "cannot open key %.*s: %s", shown, uri,
					   strerror(errno));
	}
	ctx = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
	if (ctx == NULL) {
		fsec_seterr_ossl(rc, "cannot open key %.*s", shown, uri);
		goto out;
	}
	/* A certificate or public key that happens to be where a private key
	 * is expected must not be mistaken for one. */
	if (want_private && OSSL_STORE_expect(ctx, OSSL_STORE_INFO_PKEY) != 1) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot load key %.*s", shown, uri);
		goto out;
	}
	while (k == NULL && !OSSL_STORE_eof(ctx)) {
		OSSL_STORE_INFO *info = OSSL_STORE_load(ctx);
		EVP_PKEY *p;

		if (info == NULL)
			continue;
		switch (OSSL_STORE_INFO_get_type(info)) {
		case OSSL_STORE_INFO_PKEY: k = OSSL_STORE_INFO_get1_PKEY(info); break;
		case OSSL_STORE_INFO_PUBKEY:
			if (!want_private)
				k = OSSL_STORE_INFO_get1_PUBKEY(info);
			break;
		case OSSL_STORE_INFO_CERT:
			p = X509_get0_pubkey(OSSL_STORE_INFO_get0_CERT(info));
			if (!want_private && p != NULL && EVP_PKEY_up_ref(p))
				k = p;
			break;
		default: break;
		}
		OSSL_STORE_INFO_free(info);
		if (OSSL_STORE_error(ctx))
			break;
	}
	if (k == NULL && is_tss2_blob(uri)) {
		fsec_seterr(rc, "cannot load TPM key blob %.*s: %s", shown, uri,
			    gen_propq == NULL ? "no TPM configured (tcti)"
					      : "this TPM did not make it, or its parent key is missing "
						"(tpm_parent)");
		goto out;
	}
	if (k == NULL) {
		fsec_seterr_ossl(rc, "no %s key found in %.*s", want_private ? "private" : "public",
				 shown, uri);
		goto out;
	}
	ERR_clear_error();
	if (want_private && fsec_key_is_tpm(k)) {
		rc = fsec_key_tpm_wrap(k, out);
		EVP_PKEY_free(k);
		goto out;
	}
	*out = k;
	rc = FSEC_OK;
out:
	OSSL_STORE_close(ctx);
	return rc;
}

FSEC_API enum fsec_err fsec_key_load_private(const char *uri, EVP_PKEY **out)
{
	return load_key(uri, true, out);
}

static enum fsec_err stage_private(EVP_PKEY *key, const char *path, unsigned flags,
				   struct fsec_file_stage **out)
{
	enum fsec_err rc = FSEC_ERR_CRYPTO;
	BIO *mem = BIO_new(BIO_s_secmem());
	char *pem = NULL;
	long n;

	EVP_PKEY *tpm = fsec_key_tpm_inner(key);
	size_t scheme = strspn(path, "abcdefghijklmnopqrstuvwxyz0123456789+.-");

	/* A new key goes to a file. A key named by a URI (handle:0x81000001,
	 * pkcs11:...) was put there by other means, and writing "handle:..."
	 * as a relative path would only strand the device with a stray file. */
	if (scheme >= 2 && path[scheme] == ':') {
		BIO_free(mem);
		return fsec_seterr(FSEC_ERR_INVAL,
				   "key %.100s is a URI: a new key is written to a file path "
				   "(for a TPM, a key blob), so keygen, enroll and renew need one",
				   path);
	}
	/* A TPM key saves as its TSS2 blob, wrapped by the TPM's own key. */
	if (mem == NULL ||
	    !PEM_write_bio_PrivateKey(mem, tpm != NULL ? tpm : key, NULL, NULL, 0, NULL, NULL)) {
		fsec_seterr_ossl(rc, "cannot encode private key");
		goto out;
	}
	n = BIO_get_mem_data(mem, &pem);
	if (n <= 0) {
		fsec_seterr(rc, "cannot encode private key");
		goto out;
	}
	rc = fsec_file_stage_new(path, pem, (size_t)n, 0600, flags, out);
out:
	/* BIO_s_secmem cleanses its buffer when freed. */
	BIO_free(mem);
	return rc;
}

FSEC_API enum fsec_err fsec_key_stage_private(EVP_PKEY *key, const char *path,
					      struct fsec_file_stage **out)
{
	return stage_private(key, path, FSEC_FILE_NOCLOBBER, out);
}

FSEC_API enum fsec_err fsec_key_stage_private_replace(EVP_PKEY *key, const char *path,
						      struct fsec_file_stage **out)
{
	return stage_private(key, path, 0, out);
}

FSEC_API enum fsec_err fsec_key_save_private(EVP_PKEY *key, const char *path)
{
	struct fsec_file_stage *st = NULL;
	enum fsec_err rc;

	rc = fsec_key_stage_private(key, path, &st);
	if (rc == FSEC_OK)
		rc = fsec_file_stage_commit(st);
	fsec_file_stage_free(st);
	return rc;
}

FSEC_API enum fsec_err fsec_key_check_strength(EVP_PKEY *key)
{
	int id = EVP_PKEY_get_base_id(key);

	if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
		int bits = EVP_PKEY_get_bits(key);

		if (bits < 2048)
			return fsec_seterr(FSEC_ERR_POLICY,
					   "weak key: RSA of %d bits (at least 2048 required)", bits);
		return FSEC_OK;
	}
	if (id == EVP_PKEY_EC) {
		char curve[64] = "";
		size_t clen = 0;

		if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve,
						    sizeof(curve), &clen)) {
			ERR_clear_error();
			return fsec_seterr(FSEC_ERR_POLICY,
					   "weak key: EC key with explicit or unknown curve parameters");
		}
		if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0 ||
		    strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0)
			return FSEC_OK;
		return fsec_seterr(FSEC_ERR_POLICY,
				   "weak key: curve %s not allowed (P-256, P-384 or Ed25519)", curve);
	}
	if (id == EVP_PKEY_ED25519)
		return FSEC_OK;
	return fsec_seterr(FSEC_ERR_POLICY,
			   "key type %s not allowed (RSA >= 2048, P-256, P-384 or Ed25519)",
			   OBJ_nid2sn(id) != NULL ? OBJ_nid2sn(id) : "unknown");
}

/* The uncompressed point of an EC key: the key's own encoding when it is
 * already uncompressed (the usual case, ~4 us), else rebuilt from x and y so
 * that one key has one SPKI whatever form a device sent it in. */
static enum fsec_err ec_point_uncompressed(EVP_PKEY *key, unsigned char **out, int *outlen)
{
	unsigned char buf[1 + 2 * 66];
	size_t len = 0, flen = ((size_t)EVP_PKEY_get_bits(key) + 7) / 8;
	BIGNUM *x = NULL, *y = NULL;
	enum fsec_err rc = FSEC_ERR_CRYPTO;

	/* flen <= 66 (P-521), so 1 + 2 * flen fits buf. */
	if (flen == 0 || flen > 66)
		return fsec_seterr(rc, "unexpected EC field size");
	/* Providers that do not encode the point (tpm2) still give x and y. */
	if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf,
					     sizeof(buf), &len))
		len = 0;
	if (!(len == 1 + 2 * flen && buf[0] == 0x04)) {
		if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
		    !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) ||
		    BN_bn2binpad(x, buf + 1, (int)flen) < 0 ||
		    BN_bn2binpad(y, buf + 1 + flen, (int)flen) < 0) {
			fsec_seterr_ossl(rc, "cannot read the EC public point");
			goto out;
		}
		buf[0] = 0x04;
		len = 1 + 2 * flen;
	}
	if ((*out = OPENSSL_memdup(buf, len)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	*outlen = (int)len;
	rc = FSEC_OK;
out:
	BN_free(x);
	BN_free(y);
	return rc;
}

enum fsec_err fsec_key_spki_fill(EVP_PKEY *key, X509_PUBKEY *dst)
{
	/* A TPM key's wrapper answers no parameter queries; its TPM key does. */
	EVP_PKEY *inner = fsec_key_tpm_inner(key);
	int id;

	if (inner != NULL)
		key = inner;
	id = EVP_PKEY_get_base_id(key);
	unsigned char *pt = NULL;
	int ptlen = 0;
	enum fsec_err rc;

	if (id == EVP_PKEY_EC) {
		char curve[64] = "";
		size_t clen = 0;
		int nid;

		if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve,
						    sizeof(curve), &clen) ||
		    ((nid = OBJ_sn2nid(curve)) == NID_undef && (nid = OBJ_ln2nid(curve)) == NID_undef &&
		     (nid = EC_curve_nist2nid(curve)) == NID_undef))
			return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "EC key without a named curve");
		if ((rc = ec_point_uncompressed(key, &pt, &ptlen)) != FSEC_OK)
			return rc;
		if (!X509_PUBKEY_set0_param(dst, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
					    V_ASN1_OBJECT, OBJ_nid2obj(nid), pt, ptlen)) {
			OPENSSL_free(pt);
			return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot build the public key info");
		}
		return FSEC_OK;
	}
	if (id == EVP_PKEY_ED25519) {
		unsigned char raw[32];
		size_t rlen = sizeof(raw);

		if (!EVP_PKEY_get_raw_public_key(key, raw, &rlen) || rlen != sizeof(raw) ||
		    (pt = OPENSSL_memdup(raw, rlen)) == NULL)
			return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot read the Ed25519 public key");
		if (!X509_PUBKEY_set0_param(dst, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL, pt,
					    (int)rlen)) {
			OPENSSL_free(pt);
			return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot build the public key info");
		}
		return FSEC_OK;
	}
	/* RSA and anything else: the generic (slow on 3.0) encoder. */
	{
		X509_PUBKEY *tmp = NULL;
		ASN1_OBJECT *obj;
		const unsigned char *k;
		int klen, ptype;
		const void *pval;
		X509_ALGOR *alg;
		void *pdup = NULL;

		if (!X509_PUBKEY_set(&tmp, key) || !X509_PUBKEY_get0_param(&obj, &k, &klen, &alg, tmp)) {
			X509_PUBKEY_free(tmp);
			return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot encode public key");
		}
		X509_ALGOR_get0(NULL, &ptype, &pval, alg);
		if (ptype == V_ASN1_OBJECT)
			pdup = OBJ_dup(pval);
		else if (ptype == V_ASN1_SEQUENCE || ptype == V_ASN1_NULL)
			pdup = ptype == V_ASN1_NULL ? NULL : ASN1_STRING_dup(pval);
		{
			ASN1_OBJECT *odup = OBJ_dup(obj);

			pt = OPENSSL_memdup(k, (size_t)klen);
			if (pt != NULL && odup != NULL &&
			    X509_PUBKEY_set0_param(dst, odup, ptype, pdup, pt, klen)) {
				rc = FSEC_OK;
			} else {
				/* set0 took nothing: free what was meant for it. */
				rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot copy public key info");
				OPENSSL_free(pt);
				ASN1_OBJECT_free(odup);
				if (ptype == V_ASN1_OBJECT)
					ASN1_OBJECT_free(pdup);
				else
					ASN1_STRING_free(pdup);
			}
		}
		X509_PUBKEY_free(tmp);
		return rc;
	}
}

FSEC_API enum fsec_err fsec_key_spki_der(EVP_PKEY *key, unsigned char **der, size_t *len)
{
	X509_PUBKEY *spki = X509_PUBKEY_new();
	unsigned char *enc = NULL;
	enum fsec_err rc;
	int n;

	if (spki == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = fsec_key_spki_fill(key, spki)) != FSEC_OK)
		goto out;
	if ((n = i2d_X509_PUBKEY(spki, &enc)) <= 0) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot encode public key");
		goto out;
	}
	*der = enc;
	*len = (size_t)n;
	rc = FSEC_OK;
out:
	X509_PUBKEY_free(spki);
	return rc;
}

FSEC_API enum fsec_err fsec_key_spki_sha256(EVP_PKEY *key, char out[FSEC_SHA256_HEX_LEN])
{
	unsigned char *der = NULL, md[32];
	size_t len = 0;
	enum fsec_err rc;

	/* Canonical form, so the same key sent compressed and uncompressed
	 * cannot pass for two keys. */
	if ((rc = fsec_key_spki_der(key, &der, &len)) != FSEC_OK)
		return rc;
	if (!EVP_Q_digest(NULL, "SHA256", NULL, der, len, md, NULL))
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "SHA-256 failed");
	else
		fsec_hex(md, sizeof(md), out);
	OPENSSL_free(der);
	return rc;
}

FSEC_API enum fsec_err fsec_key_load_public(const char *uri, EVP_PKEY **out)
{
	return load_key(uri, false, out);
}

FSEC_API enum fsec_err fsec_key_public_pem(EVP_PKEY *key, char **pem, size_t *len)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data = NULL, *copy = NULL;
	long n;
	enum fsec_err rc = FSEC_ERR_CRYPTO;

	if (mem == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!PEM_write_bio_PUBKEY(mem, key) || (n = BIO_get_mem_data(mem, &data)) <= 0) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot encode the public key");
		goto out;
	}
	if ((copy = malloc((size_t)n + 1)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*pem = copy;
	*len = (size_t)n;
	rc = FSEC_OK;
out:
	BIO_free(mem);
	return rc;
}

FSEC_API enum fsec_err fsec_key_check_signing(EVP_PKEY *key)
{
	char curve[32] = "";
	size_t clen = 0;
	int id = EVP_PKEY_get_base_id(key);

	if (id == EVP_PKEY_ED25519)
		return FSEC_OK;
	if (id == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve),
					   &clen) &&
	    strcmp(curve, "prime256v1") == 0)
		return FSEC_OK;
	ERR_clear_error();
	return fsec_seterr(FSEC_ERR_POLICY, "signing keys must be Ed25519 or ECDSA P-256, not %s%s%s",
			   OBJ_nid2sn(id) != NULL ? OBJ_nid2sn(id) : "this key type",
			   curve[0] != '\0' ? " " : "", curve);
}

/* EdDSA signs the message itself; ECDSA P-256 hashes it with SHA-256. */
static const EVP_MD *msg_md(EVP_PKEY *key)
{
	return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
}

FSEC_API enum fsec_err fsec_key_sign(EVP_PKEY *key, const unsigned char *msg, size_t len,
				     unsigned char **sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *buf = NULL;
	enum fsec_err rc = FSEC_ERR_CRYPTO;
	size_t n = 0;

	if ((rc = fsec_key_check_signing(key)) != FSEC_OK)
		return rc;
	rc = FSEC_ERR_CRYPTO;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, msg_md(key), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &n, msg, len) != 1 || (buf = OPENSSL_malloc(n)) == NULL ||
	    EVP_DigestSign(ctx, buf, &n, msg, len) != 1) {
		fsec_seterr_ossl(rc, "signing failed");
		OPENSSL_free(buf);
		goto out;
	}
	*sig = buf;
	*siglen = n;
	rc = FSEC_OK;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

FSEC_API enum fsec_err fsec_key_verify(EVP_PKEY *key, const unsigned char *msg, size_t len,
				       const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx;
	int ok;

	if (fsec_key_check_signing(key) != FSEC_OK)
		return fsec_seterr(FSEC_ERR_VERIFY, "%s", fsec_err_detail());
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, msg_md(key), NULL, key) == 1 &&
	     EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? FSEC_OK : fsec_seterr(FSEC_ERR_VERIFY, "signature does not verify");
}
