/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keys: generation, loading by URI or path, strength policy, fingerprints.
 *
 * A private key is always named by a string: a file path, or any URI an
 * OpenSSL store loader understands (file:, and with the right provider a TPM
 * or HSM handle). Nothing above this module knows where a key lives.
 */
#ifndef FLEETSEC_KEY_H
#define FLEETSEC_KEY_H

#include <stddef.h>

#include <openssl/evp.h>

#include "fleetsec/common.h"

enum fsec_key_algo {
	FSEC_KEY_P256 = 1,
	FSEC_KEY_P384,
	FSEC_KEY_ED25519,
};

/*
 * Parse "p256", "p384" or "ed25519". Errors: INVAL. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_algo_parse(const char *name, enum fsec_key_algo *out)
	FSEC_NONNULL(1, 2);

/* The canonical name of algo ("p256", ...), or "unknown". Thread-safe. */
FSEC_API const char *fsec_key_algo_name(enum fsec_key_algo algo);

/*
 * Generate a new private key. The caller owns *out (EVP_PKEY_free).
 * Errors: INVAL, CRYPTO. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_generate(enum fsec_key_algo algo, EVP_PKEY **out)
	FSEC_NONNULL(2);

/*
 * Keep keys in a TPM 2.0 from now on, through the tpm2 OpenSSL provider
 * (tpm2-openssl): tcti names the TPM ("device:/dev/tpmrm0",
 * "swtpm:host=127.0.0.1,port=2321"; NULL: the provider's default). Keys
 * generated afterwards (P-256 only) are made inside the TPM and save as
 * TSS2 key blobs, useless without that TPM; blobs and "handle:0x81..."
 * URIs load like any key. parent (NULL or "": the provider's default, a
 * primary key re-created under the owner hierarchy, which works only while
 * the owner password is empty) names a persistent storage key
 * ("0x81000001") to make new keys under; with it, neither making nor
 * loading a key needs the owner password. Process-wide: call once, before
 * any key is made or loaded. Errors: CRYPTO (provider missing), INVAL
 * (parent), NOMEM. Not thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_keystore_use_tpm(const char *tcti, const char *parent);

/*
 * Load the private key named by uri (a path, or an OpenSSL store URI). The
 * caller owns *out. Errors: NOTFOUND (nothing at uri, or no private key there),
 * CRYPTO. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_load_private(const char *uri, EVP_PKEY **out)
	FSEC_NONNULL(1, 2);

/*
 * Write key as an unencrypted PKCS#8 PEM file created 0600 and never
 * replacing an existing file; the PEM is cleansed from memory afterwards.
 * Errors: EXISTS, IO, CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_save_private(EVP_PKEY *key, const char *path)
	FSEC_NONNULL(1, 2);

/*
 * As fsec_key_save_private, but staged (see fileio.h) so the caller can
 * commit it together with other changes. The caller frees the stage.
 */
struct fsec_file_stage;
FSEC_API FSEC_WUR enum fsec_err fsec_key_stage_private(EVP_PKEY *key, const char *path,
						       struct fsec_file_stage **out)
	FSEC_NONNULL(1, 2, 3);

/*
 * As fsec_key_stage_private, but the commit replaces an existing file (by
 * rename: a reader sees the old key or the new one, never a mix). For a key
 * that is rotated in place, such as fleetsecd's on renewal.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_stage_private_replace(EVP_PKEY *key, const char *path,
							       struct fsec_file_stage **out)
	FSEC_NONNULL(1, 2, 3);

/*
 * Enforce fleetsec's key policy for device and CA keys: RSA of at least 2048
 * bits, EC on P-256 or P-384, or Ed25519. Anything else (smaller RSA, other
 * curves, DSA, Ed448, ...) is refused with a reason naming the key.
 * Errors: POLICY. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_check_strength(EVP_PKEY *key) FSEC_NONNULL(1);

/*
 * SHA-256 of the DER SubjectPublicKeyInfo, as lowercase hex in out.
 * This is the key's identity in the registry. Errors: CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_spki_sha256(EVP_PKEY *key,
						     char out[FSEC_SHA256_HEX_LEN])
	FSEC_NONNULL(1, 2);

/*
 * The key's DER SubjectPublicKeyInfo in canonical form (EC: named curve and
 * uncompressed point), as OpenSSL-allocated bytes the caller frees with
 * OPENSSL_free. Errors: CRYPTO, NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_spki_der(EVP_PKEY *key, unsigned char **der,
						  size_t *len) FSEC_NONNULL(1, 2, 3);

/*
 * Load a public key named by uri: a PEM/DER public key, a certificate, or a
 * private key (its public half). The caller owns *out.
 * Errors: NOTFOUND. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_load_public(const char *uri, EVP_PKEY **out)
	FSEC_NONNULL(1, 2);

/*
 * The public half of key as an SPKI PEM ("-----BEGIN PUBLIC KEY-----"), what
 * `fleetsec fw pubkey` prints and every --root/--key option reads. *pem is
 * NUL-terminated and the caller frees it with free(); *len excludes the NUL.
 * Errors: CRYPTO (the key cannot be encoded), NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_public_pem(EVP_PKEY *key, char **pem, size_t *len);

/*
 * Signing keys (firmware, releases) are Ed25519 or ECDSA P-256, the two
 * MCUboot verifies; anything else is refused with a reason naming it.
 * Errors: POLICY. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_check_signing(EVP_PKEY *key) FSEC_NONNULL(1);

/*
 * Sign msg: Ed25519 (PureEdDSA) or ECDSA P-256 with SHA-256, DER signature.
 * *sig is OpenSSL-allocated (OPENSSL_free).
 * Errors: POLICY (key type), CRYPTO, NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_sign(EVP_PKEY *key, const unsigned char *msg,
					      size_t len, unsigned char **sig, size_t *siglen)
	FSEC_NONNULL(1, 4, 5);

/*
 * Verify a signature made as fsec_key_sign does; keys outside
 * fsec_key_check_signing never verify. Errors: VERIFY. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_key_verify(EVP_PKEY *key, const unsigned char *msg,
						size_t len, const unsigned char *sig,
						size_t siglen) FSEC_NONNULL(1);

/* The lowercase hex SHA-256 of the key's canonical SPKI (a keyid).
 * Errors: CRYPTO, NOMEM. */
#define fsec_key_id fsec_key_spki_sha256

/* fsec_hex(), which wrote the lowercase hex of a key ID, now lives in
 * fleetsec/text.h (included by common.h). */

#endif
