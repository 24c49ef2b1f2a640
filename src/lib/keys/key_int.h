/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: canonical SubjectPublicKeyInfo, and TPM keys made usable. */
#ifndef FLEETSEC_KEY_INT_H
#define FLEETSEC_KEY_INT_H

#include <stdbool.h>

#include <openssl/x509.h>

#include "fleetsec/common.h"

/*
 * Fill dst with key's SubjectPublicKeyInfo in canonical form: an EC key as
 * id-ecPublicKey with its named curve and the uncompressed point, Ed25519 as
 * its raw key; other types through X509_PUBKEY_set. On OpenSSL 3.0 this costs
 * ~4 us where the encoder (i2d_PUBKEY, X509_PUBKEY_set) costs 60-180 us.
 * dst's cached EVP_PKEY is not set. Errors: CRYPTO, NOMEM.
 */
enum fsec_err fsec_key_spki_fill(EVP_PKEY *key, X509_PUBKEY *dst);

/* Whether key lives in a TPM (the tpm2 provider's). */
bool fsec_key_is_tpm(const EVP_PKEY *key);

/*
 * A key any OpenSSL caller (libssl, X509_REQ_sign) signs with, whose every
 * signature is made inside the TPM by tpm (key_tpm.c says why). *out holds a
 * reference to tpm. Errors: INVAL (not EC), CRYPTO, NOMEM.
 */
enum fsec_err fsec_key_tpm_wrap(EVP_PKEY *tpm, EVP_PKEY **out);

/* The TPM key inside a wrapped key (not a new reference); NULL for any
 * other key. */
EVP_PKEY *fsec_key_tpm_inner(const EVP_PKEY *key);

#endif
