/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for encrypted MCUboot images (docs/FW-ENCRYPTION.md):
 * the encryption flags, the ENC TLV's layout and length, and the unwrapping
 * of the image key (ECIES-X25519, ECIES-P256, AES key wrap) run on bytes an
 * attacker controls before anything is authenticated.
 *
 * Each input is verified with the signing key of tests/vectors/mcuboot-enc
 * (Ed25519) and decrypted with that set's X25519 and P-256 private keys and
 * its 128-bit KEK, so that the seeds (imgtool's images from that set) reach
 * the HMAC, key-unwrap, decryption and hash steps. Contracts checked besides
 * the sanitizers: a failure leaves a one-line reason; a success describes an
 * image inside the input whose ENC TLV has the exact length for its flag.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fuzz_enc_vectors.h"
#include "fleetsec/fwimage.h"
#include "fwimage_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* vectors.json keys: sign-ed25519 public_raw_hex, enc-x25519
 * private_raw_hex, enc-ec256 private_scalar_hex, enc-aes128kw hex. */
static const unsigned char sign_raw[32] = {
	0x18, 0x35, 0x98, 0x28, 0xa2, 0x1f, 0xf5, 0xb8, 0x7b, 0x68, 0x5c, 0x81, 0xb1, 0x52, 0x20, 0x1a,
	0x72, 0x89, 0x97, 0xf3, 0xa8, 0x08, 0x2c, 0x28, 0x1c, 0xdf, 0x8a, 0x72, 0x12, 0xcf, 0x4b, 0x4f,
};
static const unsigned char x25519_raw[32] = {
	0xd3, 0xc9, 0x42, 0xac, 0x51, 0x24, 0xe5, 0x0c, 0xfc, 0xd9, 0xdd, 0x31, 0xab, 0x18, 0x45, 0x09,
	0xe0, 0x54, 0x5f, 0xcb, 0x69, 0x57, 0x90, 0x6f, 0x02, 0xf9, 0x0e, 0x1a, 0xfe, 0xa3, 0x6d, 0xd0,
};
static const unsigned char kek128[16] = {
	0xc3, 0x80, 0xe5, 0x63, 0xb7, 0x85, 0x1d, 0x38, 0x05, 0x8f, 0xb2, 0xbc, 0xa5, 0x34, 0xad, 0x90,
};
/* Built once; kept for the life of the process. */
static EVP_PKEY *sign_key;
static struct fsec_fw_enc_key *dks[3];

static void load_keys(void)
{
	static struct fsec_fw_enc_key x, p;
	BIO *bio;

	if (sign_key != NULL)
		return;
	sign_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, sign_raw, sizeof(sign_raw));
	x.kind = FW_ENC_X25519;
	x.has_private = true;
	x.pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, x25519_raw, 32);
	bio = BIO_new_mem_buf(fuzz_ec256_pem, -1);
	p.kind = FW_ENC_P256;
	p.has_private = true;
	p.pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (sign_key == NULL || x.pkey == NULL || p.pkey == NULL ||
	    fsec_fw_enc_key_from_kek(kek128, sizeof(kek128), &dks[2]) != FSEC_OK)
		abort(); /* the harness itself is broken */
	dks[0] = &x;
	dks[1] = &p;
}

static void check_info(const struct fsec_fw_info *in, size_t size)
{
	if (in->tlv_end > size || in->file_size != size || in->ntlv > FSEC_FW_MAX_TLVS)
		abort();
	if (in->decrypted && (in->enc_keylen != 16 && in->enc_keylen != 32))
		abort(); /* decrypted only what a flag named */
	if (in->enc_keylen != 0 &&
	    (in->enc_len != fw_enc_tlv_len(in->enc_type, in->enc_keylen) || in->enc_len == 0 ||
	     in->enc_offset + in->enc_len > in->tlv_end))
		abort(); /* the ENC TLV was length-checked and lies in the area */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsec_fw_info info;
	enum fsec_err rc;

	load_keys();
	for (size_t i = 0; i < 3; i++) {
		fsec_clearerr();
		rc = fsec_fw_verify_decrypt_mem(data, size, sign_key, dks[i], &info);
		fuzz_check_detail(rc);
		if (rc == FSEC_OK)
			check_info(&info, size);
	}
	return 0;
}
