/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encrypted MCUboot images (docs/FW-ENCRYPTION.md): the keys that wrap an
 * image's AES key, and the wrapping itself. MCUboot's format, as imgtool
 * 2.4.0 writes it:
 * - the body is AES-CTR (128 or 256) from an all-zero counter block;
 * - the image key travels in one ENC TLV in the unprotected area, wrapped by
 *   RSA-OAEP (SHA-256, MGF1-SHA-256), RFC 3394 AES key wrap, or ECIES:
 *   ephemeral ECDH (P-256 or X25519), HKDF (no salt, info
 *   "MCUBoot_ECIES_v1", L = keylen + hash length) giving an AES-CTR key for
 *   the image key and an HMAC key for a tag over the encrypted image key.
 *   The TLV is ephemeral public key || tag || encrypted key.
 * Nothing outside the unwrapped key's own integrity check (HMAC, key-wrap
 * IV, OAEP padding) protects the TLV: the hash over the plaintext is what
 * finally decides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fwimage.h"
#include "fwimage_int.h"
#include "key_int.h"

/* A PEM key or a KEK file is small; anything larger is not one. */
#define KEYFILE_MAX (64u * 1024u)
#define ECIES_INFO "MCUBoot_ECIES_v1"
#define P256_POINT_LEN 65u
#define X25519_LEN 32u

/* ---- keys ---- */

FSEC_API void fsec_fw_enc_key_free(struct fsec_fw_enc_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	OPENSSL_clear_free(k, sizeof(*k));
}

FSEC_API enum fsec_err fsec_fw_enc_key_from_kek(const unsigned char *kek, size_t len,
						struct fsec_fw_enc_key **out)
{
	struct fsec_fw_enc_key *k;

	if (kek == NULL || (len != 16 && len != 32))
		return fsec_seterr(FSEC_ERR_INVAL, "a key-wrap KEK is 16 or 32 bytes, not %zu", len);
	k = OPENSSL_zalloc(sizeof(*k));
	if (k == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	k->kind = FW_ENC_KEK;
	k->has_private = true;
	memcpy(k->kek, kek, len);
	k->kek_len = len;
	*out = k;
	return FSEC_OK;
}

/* Never prompt for a passphrase: an encrypted PEM is refused. */
static int no_pass(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

static bool b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

/* MCUboot keeps KEKs as base64 text (enc-aes128kw.b64): decode one that
 * gives exactly 16 or 32 bytes. */
static bool kek_from_b64(const unsigned char *buf, size_t len, unsigned char *kek, size_t *kek_len)
{
	unsigned char tmp[64];
	size_t n = len, pad = 0;
	int dec;

	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	/* 16 bytes are 24 characters, 32 are 44: nothing else can be a KEK. */
	if (n != 24 && n != 44)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!b64_char(buf[i]) || (buf[i] == '=' && i < n - 2))
			return false;
	dec = EVP_DecodeBlock(tmp, buf, (int)n);
	if (dec < 0)
		return false;
	pad = (buf[n - 1] == '=') + (buf[n - 2] == '=');
	if ((size_t)dec < pad || ((size_t)dec - pad != 16 && (size_t)dec - pad != 32)) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		return false;
	}
	*kek_len = (size_t)dec - pad;
	memcpy(kek, tmp, *kek_len);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return true;
}

static enum fsec_err classify(EVP_PKEY *pkey, enum fw_enc_kind *kind)
{
	char group[32];
	size_t glen = 0;
	int id = EVP_PKEY_get_base_id(pkey);

	/* A key held by a provider (a TPM) has no legacy id: name its type. */
	if (id <= 0)
		id = EVP_PKEY_is_a(pkey, "EC")       ? EVP_PKEY_EC
		     : EVP_PKEY_is_a(pkey, "X25519") ? EVP_PKEY_X25519
						     : id;
	switch (id) {
	case EVP_PKEY_X25519:
		*kind = FW_ENC_X25519;
		return FSEC_OK;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), &glen) != 1 ||
		    strcmp(group, "prime256v1") != 0) {
			ERR_clear_error();
			return fsec_seterr(FSEC_ERR_INVAL, "unsupported encryption key: an EC key "
							   "must be on P-256");
		}
		*kind = FW_ENC_P256;
		return FSEC_OK;
	case EVP_PKEY_RSA:
		/* ENC_RSA2048 is 256 bytes: exactly a 2048-bit modulus. */
		if (EVP_PKEY_get_bits(pkey) != 2048)
			return fsec_seterr(FSEC_ERR_INVAL, "unsupported encryption key: RSA must be "
							   "2048 bits (ENC_RSA2048), not %d",
					   EVP_PKEY_get_bits(pkey));
		*kind = FW_ENC_RSA;
		return FSEC_OK;
	default:
		return fsec_seterr(FSEC_ERR_INVAL, "unsupported encryption key type %s (X25519, "
						   "P-256, RSA-2048 or an AES KEK)",
				   OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
	}
}

FSEC_API enum fsec_err fsec_fw_enc_key_from_pkey(EVP_PKEY *pkey, bool has_private,
						 struct fsec_fw_enc_key **out)
{
	struct fsec_fw_enc_key *k = OPENSSL_zalloc(sizeof(*k));
	/* The keystore hands a TPM key out wrapped for libssl's signing; the
	 * key exchange needs the provider's own key inside. */
	EVP_PKEY *inner = fsec_key_tpm_inner(pkey);
	enum fsec_err rc;

	if (k == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = classify(inner != NULL ? inner : pkey, &k->kind)) != FSEC_OK) {
		OPENSSL_free(k);
		return rc;
	}
	if (k->kind == FW_ENC_RSA) {
		OPENSSL_free(k);
		return fsec_seterr(FSEC_ERR_INVAL, "an RSA key cannot take a delivered image key "
						   "(P-256 or X25519)");
	}
	if (inner != NULL) {
		if (!EVP_PKEY_up_ref(inner)) {
			OPENSSL_free(k);
			return fsec_seterr(FSEC_ERR_CRYPTO, "key reference failed");
		}
		EVP_PKEY_free(pkey);
		pkey = inner;
	}
	k->has_private = has_private;
	k->pkey = pkey;
	*out = k;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_fw_enc_key_load(const char *path, bool need_private,
					    struct fsec_fw_enc_key **out)
{
	struct fsec_fw_enc_key *k = NULL;
	unsigned char *buf = NULL, kek[32];
	size_t len = 0, kek_len = 0;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	bool priv = false;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fsec_file_read(path, KEYFILE_MAX, &buf, &len)) != FSEC_OK)
		return rc;
	/* No PEM key is 16 or 32 bytes long: such a file is a raw KEK. */
	if (kek_from_b64(buf, len, kek, &kek_len) ||
	    ((len == 16 || len == 32) && (memcpy(kek, buf, len), kek_len = len, true))) {
		rc = fsec_fw_enc_key_from_kek(kek, kek_len, &k);
		OPENSSL_cleanse(kek, sizeof(kek));
		goto done;
	}
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto done;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_pass, NULL);
	priv = pkey != NULL;
	if (pkey == NULL && !need_private) {
		ERR_clear_error();
		(void)BIO_reset(bio);
		pkey = PEM_read_bio_PUBKEY(bio, NULL, no_pass, NULL);
	}
	ERR_clear_error();
	if (pkey == NULL) {
		rc = need_private && strstr((const char *)buf, "PUBLIC KEY-----") != NULL
			     ? fsec_seterr(FSEC_ERR_INVAL, "a public key; decryption needs the "
							   "private key")
			     : fsec_seterr(FSEC_ERR_PARSE, "not a PEM key (X25519, P-256, RSA-2048) "
							   "nor a 16/32-byte AES KEK (raw or base64)");
		goto done;
	}
	k = OPENSSL_zalloc(sizeof(*k));
	if (k == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto done;
	}
	if ((rc = classify(pkey, &k->kind)) != FSEC_OK)
		goto done;
	k->has_private = priv;
	k->pkey = pkey;
	pkey = NULL;
	rc = FSEC_OK;
done:
	if (rc == FSEC_OK) {
		*out = k;
		k = NULL;
	}
	fsec_fw_enc_key_free(k);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	OPENSSL_clear_free(buf, len);
	return rc;
}

FSEC_API uint16_t fsec_fw_enc_key_tlv(const struct fsec_fw_enc_key *k, unsigned hmac_sha)
{
	if (hmac_sha != 0 && hmac_sha != 256 && hmac_sha != 512)
		return 0;
	switch (k->kind) {
	case FW_ENC_X25519:
		return hmac_sha == 512 ? FSEC_FW_TLV_ENC_X25519_SHA512 : FSEC_FW_TLV_ENC_X25519;
	case FW_ENC_P256:
		return hmac_sha == 512 ? 0 : FSEC_FW_TLV_ENC_EC256;
	case FW_ENC_RSA:
		return hmac_sha == 512 ? 0 : FSEC_FW_TLV_ENC_RSA2048;
	case FW_ENC_KEK:
		return hmac_sha == 512 ? 0 : FSEC_FW_TLV_ENC_KW;
	}
	return 0;
}

FSEC_API const char *fsec_fw_enc_tlv_name(uint16_t type)
{
	switch (type) {
	case FSEC_FW_TLV_ENC_RSA2048: return "ENC_RSA2048";
	case FSEC_FW_TLV_ENC_KW: return "ENC_KW";
	case FSEC_FW_TLV_ENC_EC256: return "ENC_EC256";
	case FSEC_FW_TLV_ENC_X25519: return "ENC_X25519";
	case FSEC_FW_TLV_ENC_X25519_SHA512: return "ENC_X25519_SHA512";
	default: return "none";
	}
}

size_t fw_enc_tlv_len(uint16_t type, unsigned keylen)
{
	switch (type) {
	case FSEC_FW_TLV_ENC_RSA2048: return 256;
	case FSEC_FW_TLV_ENC_KW: return keylen + 8u;
	case FSEC_FW_TLV_ENC_EC256: return P256_POINT_LEN + 32u + keylen;
	case FSEC_FW_TLV_ENC_X25519: return X25519_LEN + 32u + keylen;
	case FSEC_FW_TLV_ENC_X25519_SHA512: return X25519_LEN + 64u + keylen;
	default: return 0;
	}
}

/* ---- AES-CTR ---- */

EVP_CIPHER_CTX *fw_enc_ctr_new(const unsigned char *key, unsigned keylen)
{
	static const unsigned char zero_iv[16];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

	if (c == NULL || EVP_EncryptInit_ex(c, keylen == 32 ? EVP_aes_256_ctr() : EVP_aes_128_ctr(),
					    NULL, key, zero_iv) != 1) {
		EVP_CIPHER_CTX_free(c);
		return NULL;
	}
	return c;
}

enum fsec_err fw_enc_ctr(EVP_CIPHER_CTX *c, const unsigned char *in, unsigned char *out, size_t n)
{
	/* EVP takes int lengths: feed at most 1 GiB at a time. */
	while (n > 0) {
		int step = n > (1u << 30) ? (1 << 30) : (int)n, outl = 0;

		if (EVP_EncryptUpdate(c, out, &outl, in, step) != 1 || outl != step)
			return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "AES-CTR failed");
		in += step;
		out += step;
		n -= (size_t)step;
	}
	return FSEC_OK;
}

/* ---- ECIES ---- */

/* okm = HKDF(md, salt none, ikm = secret, info "MCUBoot_ECIES_v1"). */
static enum fsec_err hkdf(const char *md, const unsigned char *secret, size_t slen,
			  unsigned char *okm, size_t olen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[4];
	int ok;

	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)ECIES_INFO,
						 sizeof(ECIES_INFO) - 1);
	p[3] = OSSL_PARAM_construct_end();
	ok = kc != NULL && EVP_KDF_derive(kc, okm, olen, p) == 1;
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	return ok ? FSEC_OK : fsec_seterr_ossl(FSEC_ERR_CRYPTO, "HKDF failed");
}

static enum fsec_err hmac(const char *md, const unsigned char *key, size_t klen,
			  const unsigned char *msg, size_t mlen, unsigned char *tag, size_t tlen)
{
	size_t outl = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, key, klen, msg, mlen, tag, tlen, &outl) == NULL ||
	    outl != tlen)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "HMAC failed");
	return FSEC_OK;
}

/* The peer's public key from its TLV encoding: raw X25519, or an
 * uncompressed P-256 point, which fromdata checks is on the curve. */
static EVP_PKEY *peer_key(enum fw_enc_kind kind, const unsigned char *v)
{
	EVP_PKEY_CTX *c;
	EVP_PKEY *pk = NULL;
	OSSL_PARAM p[3];

	if (kind == FW_ENC_X25519)
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, v, X25519_LEN);
	if (v[0] != 0x04)
		return NULL; /* MCUboot takes the uncompressed form only */
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)v, P256_POINT_LEN);
	p[2] = OSSL_PARAM_construct_end();
	c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
	    EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, p) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(c);
	return pk;
}

static enum fsec_err ecdh(EVP_PKEY *priv, EVP_PKEY *peer, unsigned char *secret, size_t *slen)
{
	/* The key exchange of the provider that holds the key (a TPM's:
	 * tpm2-openssl does ECDH inside the TPM), not the default one, which
	 * would get the public half only and fail. */
	const OSSL_PROVIDER *prov = EVP_PKEY_get0_provider(priv);
	char propq[80];
	EVP_PKEY_CTX *c;
	int ok;

	snprintf(propq, sizeof(propq), "?provider=%s",
		 prov != NULL ? OSSL_PROVIDER_get0_name(prov) : "default");
	c = EVP_PKEY_CTX_new_from_pkey(NULL, priv, propq);
	ok = c != NULL && EVP_PKEY_derive_init(c) == 1 &&
		 EVP_PKEY_derive_set_peer_ex(c, peer, 1) == 1 &&
		 EVP_PKEY_derive(c, secret, slen) == 1 && *slen == 32;

	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return ok ? FSEC_OK : fsec_seterr(FSEC_ERR_VERIFY, "ecdh failed: the ephemeral key in the "
							   "ENC TLV is not a valid point");
}

static size_t tag_len_of(uint16_t type)
{
	return type == FSEC_FW_TLV_ENC_X25519_SHA512 ? 64 : 32;
}

static const char *md_of(uint16_t type)
{
	return type == FSEC_FW_TLV_ENC_X25519_SHA512 ? "SHA512" : "SHA256";
}

/* AES-CTR of n <= 32 bytes under a fresh zero counter: the image key. */
static enum fsec_err ctr_once(const unsigned char *key, unsigned keylen, const unsigned char *in,
			      unsigned char *out, size_t n)
{
	EVP_CIPHER_CTX *c = fw_enc_ctr_new(key, keylen);
	enum fsec_err rc = c == NULL ? fsec_seterr_ossl(FSEC_ERR_CRYPTO, "AES-CTR set-up failed")
				     : fw_enc_ctr(c, in, out, n);

	EVP_CIPHER_CTX_free(c);
	return rc;
}

static enum fsec_err ecies_unwrap(const struct fsec_fw_enc_key *k, uint16_t type,
				  const unsigned char *v, unsigned keylen, unsigned char *key)
{
	size_t plen = k->kind == FW_ENC_X25519 ? X25519_LEN : P256_POINT_LEN, tlen = tag_len_of(type);
	unsigned char secret[32], okm[32 + 64], tag[64];
	size_t slen = sizeof(secret);
	EVP_PKEY *peer = peer_key(k->kind, v);
	enum fsec_err rc = FSEC_ERR_VERIFY;

	ERR_clear_error();
	if (peer == NULL) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "ecdh failed: the ephemeral key in the ENC TLV is "
						  "not a valid point");
		goto out;
	}
	if ((rc = ecdh(k->pkey, peer, secret, &slen)) != FSEC_OK ||
	    (rc = hkdf(md_of(type), secret, slen, okm, keylen + tlen)) != FSEC_OK ||
	    (rc = hmac(md_of(type), okm + keylen, tlen, v + plen + tlen, keylen, tag, tlen)) !=
		    FSEC_OK)
		goto out;
	if (CRYPTO_memcmp(tag, v + plen, tlen) != 0) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "hmac mismatch: the ENC TLV was not made for this "
						  "key, or was modified");
		goto out;
	}
	rc = ctr_once(okm, keylen, v + plen + tlen, key, keylen);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(okm, sizeof(okm));
	EVP_PKEY_free(peer);
	return rc;
}

/* A fresh ephemeral key of the recipient's kind, or the known-answer one:
 * X25519 from its 32 raw bytes, P-256 from its scalar (the public point
 * computed here, since OpenSSL 3.0 does not derive it on import). */
static EVP_PKEY *ephemeral(enum fw_enc_kind kind, const unsigned char *kat)
{
	EC_GROUP *g = NULL;
	EC_POINT *pt = NULL;
	BIGNUM *d = NULL;
	OSSL_PARAM_BLD *b = NULL;
	OSSL_PARAM *p = NULL;
	EVP_PKEY_CTX *c = NULL;
	EVP_PKEY *pk = NULL;
	unsigned char pub[P256_POINT_LEN];

	if (kind == FW_ENC_X25519)
		return kat != NULL ? EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, kat, 32)
				   : EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	if (kat == NULL)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	pt = g != NULL ? EC_POINT_new(g) : NULL;
	d = BN_bin2bn(kat, 32, NULL);
	if (pt == NULL || d == NULL || EC_POINT_mul(g, pt, d, NULL, NULL, NULL) != 1 ||
	    EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub), NULL) !=
		    sizeof(pub))
		goto out;
	b = OSSL_PARAM_BLD_new();
	if (b == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) != 1 ||
	    (p = OSSL_PARAM_BLD_to_param(b)) == NULL)
		goto out;
	c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
	    EVP_PKEY_fromdata(c, &pk, EVP_PKEY_KEYPAIR, p) != 1)
		pk = NULL;
out:
	EVP_PKEY_CTX_free(c);
	OSSL_PARAM_free(p);
	OSSL_PARAM_BLD_free(b);
	BN_clear_free(d);
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	return pk;
}

static enum fsec_err ecies_wrap(const struct fsec_fw_enc_key *k, uint16_t type, unsigned keylen,
				const unsigned char *key, const unsigned char *kat,
				unsigned char *out, size_t *out_len)
{
	size_t plen = k->kind == FW_ENC_X25519 ? X25519_LEN : P256_POINT_LEN, tlen = tag_len_of(type);
	unsigned char secret[32], okm[32 + 64];
	size_t slen = sizeof(secret), got = plen;
	EVP_PKEY *eph = ephemeral(k->kind, kat);
	enum fsec_err rc = FSEC_ERR_CRYPTO;
	int ok;

	if (eph == NULL) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "ephemeral key generation failed");
		goto out;
	}
	ok = k->kind == FW_ENC_X25519
		     ? EVP_PKEY_get_raw_public_key(eph, out, &got) == 1
		     : EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_PUB_KEY, out, plen,
						       &got) == 1;
	if (!ok || got != plen || (k->kind == FW_ENC_P256 && out[0] != 0x04)) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "ephemeral public key encoding failed");
		goto out;
	}
	if ((rc = ecdh(eph, k->pkey, secret, &slen)) != FSEC_OK) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "ECDH with the encryption key failed");
		goto out;
	}
	if ((rc = hkdf(md_of(type), secret, slen, okm, keylen + tlen)) != FSEC_OK ||
	    (rc = ctr_once(okm, keylen, key, out + plen + tlen, keylen)) != FSEC_OK ||
	    (rc = hmac(md_of(type), okm + keylen, tlen, out + plen + tlen, keylen, out + plen,
		       tlen)) != FSEC_OK)
		goto out;
	*out_len = plen + tlen + keylen;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(okm, sizeof(okm));
	EVP_PKEY_free(eph);
	return rc;
}

/* ---- RSA-OAEP and AES key wrap ---- */

static int oaep_setup(EVP_PKEY_CTX *c)
{
	return EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
	       EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) == 1 &&
	       EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) == 1;
}

static enum fsec_err oaep_unwrap(EVP_PKEY *pk, const unsigned char *v, unsigned keylen,
				 unsigned char *key)
{
	unsigned char buf[256];
	size_t n = sizeof(buf);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
	int ok = c != NULL && EVP_PKEY_decrypt_init(c) == 1 && oaep_setup(c) &&
		 EVP_PKEY_decrypt(c, buf, &n, v, 256) == 1 && n == keylen;

	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	if (ok)
		memcpy(key, buf, keylen);
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok ? FSEC_OK : fsec_seterr(FSEC_ERR_VERIFY, "oaep failed: the ENC TLV was not made "
							   "for this key, or was modified");
}

static enum fsec_err kw(const struct fsec_fw_enc_key *k, bool wrap, const unsigned char *in,
			size_t inlen, unsigned char *out, size_t *outlen)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	const EVP_CIPHER *ciph = k->kek_len == 32 ? EVP_aes_256_wrap() : EVP_aes_128_wrap();
	int n1 = 0, n2 = 0, ok;

	if (c != NULL)
		EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ok = c != NULL && EVP_CipherInit_ex(c, ciph, NULL, k->kek, NULL, wrap ? 1 : 0) == 1 &&
	     EVP_CipherUpdate(c, out, &n1, in, (int)inlen) == 1 && n1 > 0 &&
	     EVP_CipherFinal_ex(c, out + n1, &n2) == 1;
	EVP_CIPHER_CTX_free(c);
	ERR_clear_error();
	if (!ok)
		return wrap ? fsec_seterr(FSEC_ERR_CRYPTO, "AES key wrap failed")
			    : fsec_seterr(FSEC_ERR_VERIFY, "key unwrap failed: the ENC_KW TLV was "
							   "not made with this KEK, or was modified");
	*outlen = (size_t)n1 + (size_t)n2;
	return FSEC_OK;
}

/* ---- dispatch ---- */

static enum fw_enc_kind kind_of(uint16_t type)
{
	switch (type) {
	case FSEC_FW_TLV_ENC_RSA2048: return FW_ENC_RSA;
	case FSEC_FW_TLV_ENC_KW: return FW_ENC_KEK;
	case FSEC_FW_TLV_ENC_EC256: return FW_ENC_P256;
	default: return FW_ENC_X25519;
	}
}

static const char *kind_name(enum fw_enc_kind k)
{
	return k == FW_ENC_RSA ? "an RSA-2048 key" : k == FW_ENC_KEK ? "an AES KEK"
					     : k == FW_ENC_P256 ? "a P-256 key" : "an X25519 key";
}

enum fsec_err fw_enc_unwrap(const struct fsec_fw_enc_key *k, uint16_t type, const unsigned char *v,
			    size_t len, unsigned keylen, unsigned char *key)
{
	unsigned char buf[40];
	size_t n = 0;
	enum fsec_err rc;

	/* The parser checked len; checked again since this is what bounds
	 * every read of v below. */
	if (len != fw_enc_tlv_len(type, keylen) || len == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: %s TLV of %zu bytes",
				   fsec_fw_enc_tlv_name(type), len);
	if (k->kind != kind_of(type))
		return fsec_seterr(FSEC_ERR_WRONG_KEY, "wrong key type: the image's %s needs %s, "
						       "this is %s",
				   fsec_fw_enc_tlv_name(type), kind_name(kind_of(type)),
				   kind_name(k->kind));
	if (!k->has_private)
		return fsec_seterr(FSEC_ERR_INVAL, "decryption needs the private key");
	switch (k->kind) {
	case FW_ENC_RSA:
		return oaep_unwrap(k->pkey, v, keylen, key);
	case FW_ENC_KEK:
		rc = kw(k, false, v, len, buf, &n);
		if (rc == FSEC_OK && n != keylen)
			rc = fsec_seterr(FSEC_ERR_VERIFY, "key unwrap failed: wrong key length");
		if (rc == FSEC_OK)
			memcpy(key, buf, keylen);
		OPENSSL_cleanse(buf, sizeof(buf));
		return rc;
	default:
		return ecies_unwrap(k, type, v, keylen, key);
	}
}

enum fsec_err fw_enc_wrap(const struct fsec_fw_enc_key *k, uint16_t type, unsigned keylen,
			  const unsigned char *key, const unsigned char *kat_eph, unsigned char *out,
			  size_t *out_len)
{
	EVP_PKEY_CTX *c;
	size_t n = 256;
	int ok;

	if (type == 0 || k->kind != kind_of(type) || (keylen != 16 && keylen != 32))
		return fsec_seterr(FSEC_ERR_INVAL, "this encryption key cannot make %s",
				   fsec_fw_enc_tlv_name(type));
	switch (k->kind) {
	case FW_ENC_RSA:
		c = EVP_PKEY_CTX_new(k->pkey, NULL);
		ok = c != NULL && EVP_PKEY_encrypt_init(c) == 1 && oaep_setup(c) &&
		     EVP_PKEY_encrypt(c, out, &n, key, keylen) == 1 && n == 256;
		EVP_PKEY_CTX_free(c);
		if (!ok)
			return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "RSA-OAEP failed");
		*out_len = n;
		return FSEC_OK;
	case FW_ENC_KEK:
		return kw(k, true, key, keylen, out, out_len);
	default:
		return ecies_wrap(k, type, keylen, key, kat_eph, out, out_len);
	}
}
