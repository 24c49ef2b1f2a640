/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fsec_fw_verify_mem: an MCUboot firmware image
 * (docs/MCUBOOT-FORMAT.md) comes from whoever built it, or from whoever
 * tampered with it on the way, and is parsed before anything is trusted.
 *
 * Each input is verified against two fixed trusted keys, the Ed25519 and the
 * P-256 key of the imgtool vectors (tests/vectors/mcuboot/), so that the
 * seed images reach the hash, key-match and signature steps, not only the
 * structure checks.
 *
 * Besides the sanitizers, it checks the contracts from common.h and
 * fwimage.h: a failure leaves a reason, that reason is a single
 * NUL-terminated line, and a success describes an image that fits the input
 * (the hashed region is header + payload + protected TLVs, at most
 * FSEC_FW_MAX_TLVS TLVs, all inside the TLV areas, a real hash length).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fleetsec/fwimage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Raw public key of tests/vectors/mcuboot/ed25519.pem (ed25519.pub.der
 * minus its 12-byte SPKI prefix). */
static const unsigned char ed25519_raw[32] = {
	0x92, 0xe4, 0xdc, 0x2a, 0x00, 0xfa, 0xc7, 0x34, 0xe6, 0x8a, 0xfa,
	0x97, 0xd8, 0x4f, 0xa3, 0x64, 0xb6, 0x4c, 0x22, 0x02, 0x63, 0xd5,
	0xdc, 0x16, 0xeb, 0x38, 0x03, 0x49, 0xf7, 0x75, 0xc3, 0xfd,
};

/* tests/vectors/mcuboot/p256.pub.der: the P-256 SubjectPublicKeyInfo. */
static const unsigned char p256_spki[91] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
	0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03,
	0x42, 0x00, 0x04, 0xbb, 0x4e, 0xfc, 0xd3, 0x47, 0xab, 0xc0, 0x41, 0x9f,
	0x20, 0x5f, 0x03, 0x6a, 0xdd, 0xe6, 0xb3, 0x01, 0x98, 0x46, 0x77, 0x3b,
	0x5b, 0x32, 0x9d, 0xa1, 0xb8, 0xca, 0x51, 0x53, 0x0b, 0x2a, 0x7d, 0x76,
	0x21, 0xb9, 0x1d, 0x70, 0x41, 0x19, 0x62, 0x3c, 0xbe, 0xc2, 0x55, 0x66,
	0x31, 0xcd, 0x83, 0x86, 0xbb, 0x24, 0xe8, 0xd8, 0x25, 0x44, 0x19, 0x4b,
	0xaf, 0xf4, 0x21, 0xa7, 0x24, 0xc3, 0x70,
};

/* Built once; kept for the life of the process (still reachable, so LSan
 * does not count them as leaks). */
static EVP_PKEY *ed_key, *p256_key;

static void load_keys(void)
{
	const unsigned char *p = p256_spki;

	if (ed_key != NULL)
		return;
	ed_key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, ed25519_raw,
					     sizeof(ed25519_raw));
	p256_key = d2i_PUBKEY(NULL, &p, (long)sizeof(p256_spki));
	if (ed_key == NULL || p256_key == NULL || p != p256_spki + sizeof(p256_spki))
		abort(); /* the harness itself is broken */
}

static void check_info(const struct fsec_fw_info *in, size_t size, uint16_t sig_type)
{
	if (in->tlv_end > size || in->file_size != size)
		abort(); /* the image must lie inside the input */
	if (in->hashed_len != (uint64_t)in->hdr_size + in->img_size + in->protect_tlv_size ||
	    in->hashed_len > in->tlv_end || in->hdr_size < FSEC_FW_HDR_LEN)
		abort(); /* hashed region: header + payload + protected TLVs */
	if (in->ntlv > FSEC_FW_MAX_TLVS || in->ndeps > FSEC_FW_MAX_DEPS)
		abort();
	if (in->hash_len != 32 && in->hash_len != 48 && in->hash_len != 64)
		abort();
	for (size_t i = 0; i < in->ntlv; i++) {
		const struct fsec_fw_tlv *t = &in->tlvs[i];

		/* Every TLV value lies in the TLV areas, past the payload. */
		if (t->offset < in->hashed_len - in->protect_tlv_size ||
		    t->offset > in->tlv_end || t->len > in->tlv_end - t->offset)
			abort();
	}
	if (in->sig_type != sig_type)
		abort(); /* a success names the signature TLV of the key's type */
}

static void verify_with(const uint8_t *data, size_t size, EVP_PKEY *key, uint16_t sig_type)
{
	struct fsec_fw_info info;
	enum fsec_err rc;

	fsec_clearerr();
	rc = fsec_fw_verify_mem(data, size, key, &info);
	fuzz_check_detail(rc);
	if (rc == FSEC_OK)
		check_info(&info, size, sig_type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	load_keys();
	verify_with(data, size, ed_key, FSEC_FW_TLV_ED25519);
	verify_with(data, size, p256_key, FSEC_FW_TLV_ECDSA_SIG);
	return 0;
}
