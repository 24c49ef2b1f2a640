/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: SubjectPublicKeyInfo without OpenSSL 3.0's encoder framework. */
#ifndef FLEETSEC_KEY_INT_H
#define FLEETSEC_KEY_INT_H

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

#endif
