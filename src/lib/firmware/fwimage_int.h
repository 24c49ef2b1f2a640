/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: MCUboot images in a firmware slot (slot/slot_int.h). The device
 * verifies what it installed, and what it runs, where the bootloader will
 * read it: through the slot layer, never by reading the file or device
 * itself. The rules are those of fsec_fw_inspect and fsec_fw_verify
 * (fwimage.h); each byte of the image is read from the slot once.
 */
#ifndef FLEETSEC_FWIMAGE_INT_H
#define FLEETSEC_FWIMAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "fleetsec/fwimage.h"

struct fsec_slot;
struct fw_hasher;

/* What fwimage.c (reading, verifying) and fwimage_sign.c (signing) share. */

/* MCUboot's default max_sectors for the trailer's swap status area. */
#define FW_MAX_SECTORS 128u

/* The trailer's magic: 16 bytes for max_align 8, and for max_align > 8 the
 * u16le max_align followed by the 14-byte tail. */
extern const unsigned char fw_boot_magic8[16];
extern const unsigned char fw_boot_magic_tail[14];

/* MCUboot's fields are little-endian. */
static inline uint16_t fw_get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t fw_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static inline void fw_put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline void fw_put32(unsigned char *p, uint32_t v)
{
	fw_put16(p, (uint16_t)v);
	fw_put16(p + 2, (uint16_t)(v >> 16));
}

/* An image in a file (fd), in memory (fd -1, mem), or in a slot (fd -1,
 * slot): a slot is read through the slot layer only. With tail, only parts
 * of it are at hand (an image still being downloaded): mem holds its first
 * head_len bytes and tail its bytes from tail_off to size; a read of any
 * other byte is refused. */
struct fw_src {
	int fd;
	const unsigned char *mem;
	struct fsec_slot *slot;
	uint64_t size;
	const unsigned char *tail;
	uint64_t head_len, tail_off;
};

/* Open path as a regular file to read. Errors: IO. */
FSEC_WUR enum fsec_err fw_open_src(const char *path, struct fw_src *s);
/* Read exactly len bytes at off; running past the end is "truncated".
 * Errors: PARSE, IO. */
FSEC_WUR enum fsec_err fw_src_read(const struct fw_src *s, uint64_t off, void *buf, size_t len);
/* Feed bytes [off, end) in fixed-size chunks to h (if any) and to visit (if
 * any). Errors: those of the reads and of visit, NOMEM. */
FSEC_WUR enum fsec_err fw_stream(const struct fw_src *s, uint64_t off, uint64_t end,
				 struct fw_hasher *h,
				 enum fsec_err (*visit)(const unsigned char *p, size_t n,
							uint64_t at, void *arg),
				 void *arg);
/* The digest of a hash TLV type, and its length. */
const EVP_MD *fw_hash_md(uint16_t type);
size_t fw_hash_len_of(uint16_t type);
/* The signature TLV type a key produces, or 0 for unsupported keys. */
uint16_t fw_sig_type_of(EVP_PKEY *key);
/* The 8-byte version field of the header. */
void fw_put_version(unsigned char *p, const struct fsec_fw_version *v);

/* fsec_fw_inspect on s (any kind of source), also handing out the bytes of
 * both TLV areas (malloc'd, tlv_end - (hashed_len - protect_tlv_size)
 * bytes) in *areas. Errors: as fsec_fw_inspect. */
FSEC_WUR enum fsec_err fw_inspect_src(const struct fw_src *s, struct fsec_fw_info *out,
				      unsigned char **areas);

/* ---- encryption (fwimage_enc.c) ---- */

enum fw_enc_kind { FW_ENC_X25519 = 1, FW_ENC_P256, FW_ENC_RSA, FW_ENC_KEK };

struct fsec_fw_enc_key {
	enum fw_enc_kind kind;
	bool has_private;
	EVP_PKEY *pkey;        /* all but FW_ENC_KEK */
	unsigned char kek[32]; /* FW_ENC_KEK */
	size_t kek_len;
};

/* The length an ENC TLV of type must have for a keylen-byte AES key, or 0
 * for a type that is not an ENC TLV. */
size_t fw_enc_tlv_len(uint16_t type, unsigned keylen);

/*
 * Unwrap the keylen-byte image key from the ENC TLV value v (len checked by
 * the caller against fw_enc_tlv_len) into key. Errors: WRONG_KEY (k is not
 * of the TLV's kind), VERIFY ("hmac mismatch", "key unwrap failed", "ecdh
 * failed", "oaep failed"), CRYPTO, NOMEM.
 */
FSEC_WUR enum fsec_err fw_enc_unwrap(const struct fsec_fw_enc_key *k, uint16_t type,
				     const unsigned char *v, size_t len, unsigned keylen,
				     unsigned char *key);

/*
 * Wrap the keylen-byte image key for k into an ENC TLV value of type (from
 * fsec_fw_enc_key_tlv) at out (room for 260 bytes); kat_eph (may be NULL)
 * fixes the ephemeral key for known-answer tests. Errors: INVAL, CRYPTO.
 */
FSEC_WUR enum fsec_err fw_enc_wrap(const struct fsec_fw_enc_key *k, uint16_t type, unsigned keylen,
				   const unsigned char *key, const unsigned char *kat_eph,
				   unsigned char *out, size_t *out_len);

/* AES-CTR under key (16 or 32 bytes) from the all-zero counter block, as
 * MCUboot encrypts the body. NULL when OpenSSL fails. */
EVP_CIPHER_CTX *fw_enc_ctr_new(const unsigned char *key, unsigned keylen);

/* En/decrypt n bytes (in may equal out). Errors: CRYPTO. */
FSEC_WUR enum fsec_err fw_enc_ctr(EVP_CIPHER_CTX *c, const unsigned char *in, unsigned char *out,
				  size_t n);

/*
 * fsec_fw_inspect on the first len bytes of the slot (len 0 is no image).
 * len may be less than the slot's size; what follows is not looked at.
 * *out is written only on success. Errors: PARSE (malformed, or len larger
 * than the slot: "truncated"), TOO_LARGE, IO, NOMEM.
 */
FSEC_WUR enum fsec_err fsec_fw_inspect_slot(struct fsec_slot *slot, uint64_t len,
					    struct fsec_fw_info *out);

/*
 * fsec_fw_verify on the first len bytes of the slot against pub: structure,
 * hash, signature, and nothing but 0xff and the boot trailer between the
 * TLVs and len. *out is written only on success. Errors: as fsec_fw_verify
 * (WRONG_KEY when no signature names pub, so that a caller holding several
 * pinned keys tries the next), and PARSE when len is larger than the slot.
 */
FSEC_WUR enum fsec_err fsec_fw_verify_slot(struct fsec_slot *slot, uint64_t len, EVP_PKEY *pub,
					   struct fsec_fw_info *out);

#endif
