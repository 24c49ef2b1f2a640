/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what the agent reads before it decrypts an image on
 * its way into the slot (issue 19, fwimage_dec.c), all of it unauthenticated
 * until the whole image is in place:
 * - the wrapped image key fleetsecd delivers (GET /v1/firmware/SHA256/key),
 *   one ENC TLV: fsec_fw_dec_key_parse, then its unwrapping;
 * - the image's header and TLV area fetched ahead of the body:
 *   fsec_fw_dec_probe and fsec_fw_dec_new over the parts only, then a
 *   decryption pass over the input at an offset that forces the counter to
 *   be recomputed.
 * The decryption key is tests/vectors/mcuboot-enc's P-256 key, so that its
 * images (and their ENC TLVs as delivered keys) reach the HMAC and AES
 * steps. Seeds (fuzz/corpus/fwkey): three of those images (imgtool 2.4.0's
 * ECIES-P256, AES-128 and -256, one with a flipped body byte), their ENC
 * TLVs cut out as delivered keys, and one such key truncated.
 * Contracts besides the sanitizers: a failure leaves a one-line
 * reason; a parsed key lies inside the input and has its type's length.
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

/* Built once; kept for the life of the process. */
static struct fsec_fw_enc_key *dk;

static void load_key(void)
{
	BIO *bio;
	EVP_PKEY *pk;

	if (dk != NULL)
		return;
	bio = BIO_new_mem_buf(fuzz_ec256_pem, -1);
	pk = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (pk == NULL || fsec_fw_enc_key_from_pkey(pk, true, &dk) != FSEC_OK)
		abort(); /* the harness itself is broken */
}

/* The input as a delivered key; with a key, also as the image's parts. */
static void as_key(const uint8_t *data, size_t size)
{
	const unsigned char *v = NULL;
	size_t vlen = 0;
	uint16_t type = 0;
	enum fsec_err rc;

	fsec_clearerr();
	rc = fsec_fw_dec_key_parse(data, size, &type, &v, &vlen);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK)
		return;
	if (v != data + 4 || vlen != size - 4 ||
	    (vlen != fw_enc_tlv_len(type, 16) && vlen != fw_enc_tlv_len(type, 32)))
		abort(); /* a parsed key is the whole input, of its type's length */
}

static void as_image(const uint8_t *data, size_t size)
{
	struct fsec_fw_dec *d = NULL;
	unsigned char *copy;
	uint64_t tail_off = 0;
	bool enc = false;
	enum fsec_err rc;

	if (size < FSEC_FW_HDR_LEN)
		return;
	fsec_clearerr();
	rc = fsec_fw_dec_probe(data, size, &enc, &tail_off);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK)
		return;
	if (tail_off > size || size - tail_off > FSEC_FW_DEC_TAIL_MAX)
		abort(); /* the tail must be inside the input, and capped */
	if (!enc || tail_off < FSEC_FW_HDR_LEN)
		return;
	fsec_clearerr();
	rc = fsec_fw_dec_new(data, data + tail_off, tail_off, size, dk, NULL, 0, &d);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK)
		return;
	copy = malloc(size);
	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	/* Out of order on purpose: the second half, then the first. */
	if (fsec_fw_dec_apply(d, size / 2, copy + size / 2, size - size / 2) != FSEC_OK ||
	    fsec_fw_dec_apply(d, 0, copy, size / 2) != FSEC_OK)
		abort(); /* AES-CTR over a key that unwrapped cannot fail */
	free(copy);
	fsec_fw_dec_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	load_key();
	as_key(data, size);
	as_image(data, size);
	return 0;
}
