/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Firmware images in the MCUboot format, byte-compatible with imgtool 2.4.0
 * (docs/MCUBOOT-FORMAT.md): a 32-byte header, the payload, a protected TLV
 * area (security counter, dependencies) covered by the hash, and an
 * unprotected area (hash, key hash or public key, signature); optionally
 * padded to a slot with MCUboot's boot trailer.
 *
 * Signing and verification stream: memory use does not depend on the image
 * size (except --pure Ed25519 images, which sign the image itself and are
 * capped at FSEC_FW_PURE_MAX).
 */
#ifndef FLEETSEC_FWIMAGE_H
#define FLEETSEC_FWIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "fleetsec/common.h"

#define FSEC_FW_MAGIC 0x96f3b83du
#define FSEC_FW_HDR_LEN 32u
#define FSEC_FW_TLV_PROT_MAGIC 0x6908u
#define FSEC_FW_TLV_MAGIC 0x6907u

/* TLV types (MCUboot image.h). */
#define FSEC_FW_TLV_KEYHASH 0x01
#define FSEC_FW_TLV_PUBKEY 0x02
#define FSEC_FW_TLV_SHA256 0x10
#define FSEC_FW_TLV_SHA384 0x11
#define FSEC_FW_TLV_SHA512 0x12
#define FSEC_FW_TLV_ECDSA_SIG 0x22
#define FSEC_FW_TLV_ED25519 0x24
#define FSEC_FW_TLV_SIG_PURE 0x25
#define FSEC_FW_TLV_DEPENDENCY 0x40
#define FSEC_FW_TLV_SEC_CNT 0x50
/* The wrapped image key of an encrypted image (docs/FW-ENCRYPTION.md), in
 * the unprotected area: RSA-OAEP, AES key wrap, ECIES-P256, ECIES-X25519
 * with HKDF/HMAC-SHA256, and with SHA-512. */
#define FSEC_FW_TLV_ENC_RSA2048 0x30
#define FSEC_FW_TLV_ENC_KW 0x31
#define FSEC_FW_TLV_ENC_EC256 0x32
#define FSEC_FW_TLV_ENC_X25519 0x33
#define FSEC_FW_TLV_ENC_X25519_SHA512 0x34

/* Header flags: the body is AES-CTR encrypted under a 128- or 256-bit key. */
#define FSEC_FW_F_ENCRYPTED_AES128 0x04u
#define FSEC_FW_F_ENCRYPTED_AES256 0x08u

/* A legitimate image has fewer than ten TLVs. */
#define FSEC_FW_MAX_TLVS 64
#define FSEC_FW_MAX_DEPS 8
/* Pure Ed25519 signs the whole image, which must then be held in memory. */
#define FSEC_FW_PURE_MAX (1u << 20)

struct fsec_fw_version {
	uint8_t major, minor;
	uint16_t revision;
	uint32_t build;
};

struct fsec_fw_dep {
	uint8_t image_id;
	struct fsec_fw_version min_version;
};

struct fsec_fw_tlv {
	uint16_t type, len;
	uint64_t offset; /* of the value, in the file */
	bool protected_area;
};

/* What an image says about itself; filled by fsec_fw_inspect/verify. */
struct fsec_fw_info {
	uint32_t load_addr, img_size, flags;
	uint16_t hdr_size, protect_tlv_size;
	struct fsec_fw_version version;
	bool has_security_counter;
	uint32_t security_counter;
	size_t ndeps;
	struct fsec_fw_dep deps[FSEC_FW_MAX_DEPS];
	uint16_t hash_type;      /* FSEC_FW_TLV_SHA256/384/512 */
	unsigned char hash[64];  /* the hash TLV's value */
	size_t hash_len;
	bool pure;               /* SIG_PURE present */
	uint64_t hashed_len;     /* hdr_size + img_size + protect_tlv_size */
	uint64_t tlv_end;        /* end of the unprotected TLV area */
	uint64_t file_size;
	size_t ntlv;
	struct fsec_fw_tlv tlvs[FSEC_FW_MAX_TLVS];
	/* Boot trailer at the end of the file, if one is there. */
	bool has_trailer;
	unsigned trailer_max_align;
	int image_ok;            /* 1 confirmed, 0 not; -1 without trailer */
	/* After a successful verify: the signature TLV that verified. */
	uint16_t sig_type;
	/* Encryption: the AES key length in bytes the header's flag names (16
	 * or 32; 0 when not flagged), and the ENC TLV (type 0 when none). */
	unsigned enc_keylen;
	uint16_t enc_type, enc_len;
	uint64_t enc_offset;
	/* After a successful verify: the body was decrypted before hashing
	 * (secondary-slot semantics); false when it was hashed as stored. */
	bool decrypted;
};

/*
 * Parse "MAJ.MIN.REV+BUILD" (later parts optional, no leading zeros, as
 * imgtool). Errors: INVAL (with a reason). Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_version_parse(const char *s, struct fsec_fw_version *out)
	FSEC_NONNULL(1, 2);

/* Format as "MAJ.MIN.REV+BUILD" into buf (at least 32 bytes). */
FSEC_API const char *fsec_fw_version_str(const struct fsec_fw_version *v, char *buf, size_t cap)
	FSEC_NONNULL(1, 2);

/* Order two versions (major, minor, revision, then build): <0, 0, >0. */
FSEC_API int fsec_fw_version_cmp(const struct fsec_fw_version *a, const struct fsec_fw_version *b)
	FSEC_NONNULL(1, 2);

/* imgtool's "--security-counter auto": (major<<24)+(minor<<16)+revision. */
FSEC_API uint32_t fsec_fw_version_counter(const struct fsec_fw_version *v) FSEC_NONNULL(1);

/*
 * Parse imgtool's dependency list "(ID,VERSION)[,(ID,VERSION)...]" into
 * deps (at most FSEC_FW_MAX_DEPS). Errors: INVAL. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_deps_parse(const char *s, struct fsec_fw_dep *deps,
						   size_t *n) FSEC_NONNULL(1, 2, 3);

/*
 * The key that wraps or unwraps an encrypted image's AES key: an X25519,
 * P-256 or RSA key (public to encrypt, private to decrypt), or a 128/256-bit
 * AES key-wrap KEK. Opaque; free with fsec_fw_enc_key_free.
 */
struct fsec_fw_enc_key;

/*
 * Load an encryption key from path: a PEM key (PKCS#8 or SPKI; X25519,
 * P-256 or RSA of at least 2048 bits), or a KEK file, the raw 16 or 32
 * bytes or their base64 (MCUboot's .b64 form). need_private refuses a
 * public key (decryption needs the private half). The KEK bytes are wiped
 * on free. Errors: IO, PARSE ("not a PEM key or a 16/32-byte KEK"), INVAL
 * (unsupported key type, or a public key where a private one is needed),
 * NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_enc_key_load(const char *path, bool need_private,
						     struct fsec_fw_enc_key **out)
	FSEC_NONNULL(1, 3);

/* A KEK from its raw bytes (16 or 32), for callers that hold it already.
 * Errors: INVAL, NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_enc_key_from_kek(const unsigned char *kek, size_t len,
							 struct fsec_fw_enc_key **out)
	FSEC_NONNULL(3);

/* An encryption key from pkey (P-256 or X25519; a key held in a TPM
 * through its provider too), which it takes over: freed with the result,
 * or left to the caller on error. has_private: pkey can unwrap.
 * Errors: INVAL (another type), NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_enc_key_from_pkey(EVP_PKEY *pkey, bool has_private,
							  struct fsec_fw_enc_key **out)
	FSEC_NONNULL(1, 3);

/* The ENC TLV type this key makes: 0x30/0x31/0x32/0x33, or 0x34 when
 * hmac_sha is 512 (X25519 only). 0 when the combination is invalid. */
FSEC_API uint16_t fsec_fw_enc_key_tlv(const struct fsec_fw_enc_key *k, unsigned hmac_sha)
	FSEC_NONNULL(1);

FSEC_API void fsec_fw_enc_key_free(struct fsec_fw_enc_key *k);

/* "ENC_X25519", "ENC_EC256"...: the name of an ENC TLV type (or "none"). */
FSEC_API const char *fsec_fw_enc_tlv_name(uint16_t type);

struct fsec_fw_sign_opts {
	EVP_PKEY *key;                /* Ed25519 or P-256; NULL: unsigned (hash only) */
	struct fsec_fw_version version;
	bool has_security_counter;
	uint32_t security_counter;
	uint16_t header_size;         /* >= 32 */
	bool pad_header;              /* prepend header_size bytes of 0xff */
	unsigned align;               /* flash write size: 1,2,4,8,16,32 (0 = 1) */
	uint32_t slot_size;           /* 0: no fit check (required with pad) */
	bool pad;                     /* pad to slot_size with the boot trailer */
	bool confirm;                 /* trailer image_ok = 1 (implies pad) */
	bool full_pubkey;             /* PUBKEY TLV instead of KEYHASH */
	unsigned sha;                 /* 0 (auto), 256 or 512 */
	bool pure;                    /* Ed25519 over the image itself */
	size_t ndeps;
	struct fsec_fw_dep deps[FSEC_FW_MAX_DEPS];
	/* Encryption, as imgtool -E: the body padded with zeros to a multiple
	 * of 16, AES-CTR encrypted under a fresh random key that enc wraps into
	 * the ENC TLV; the hash and signature cover the plaintext. */
	const struct fsec_fw_enc_key *enc; /* NULL: not encrypted */
	unsigned enc_keylen;          /* 128 (default when 0) or 256 */
	unsigned hmac_sha;            /* 0 (auto: 256) or 256; 512 for X25519 only */
	bool enc_clear;               /* imgtool --clear: flag and TLV, body in clear */
	bool save_enctlv;             /* size the trailer for MCUBOOT_SWAP_SAVE_ENCTLV */
	/* Known-answer tests only (NULL in real use): the image key (keylen
	 * bytes) and the ephemeral private key (X25519 raw 32 bytes, or the
	 * P-256 scalar, 32 bytes) instead of fresh random ones. */
	const unsigned char *kat_image_key;
	const unsigned char *kat_ephemeral;
};

/*
 * Sign the payload at in_path into an image at out_path, written atomically
 * (nothing at out_path on failure). With the same Ed25519 key, payload and
 * options the output is byte-identical to imgtool 2.4.0's.
 * Errors: INVAL (options, or payload not starting with header_size zero
 * bytes without pad_header), TOO_LARGE (does not fit the slot or u32 sizes),
 * IO, CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_sign(const char *in_path, const char *out_path,
					     const struct fsec_fw_sign_opts *opts)
	FSEC_NONNULL(1, 2, 3);

/*
 * Parse an image's header and TLVs, check every bound, and describe it,
 * without checking the hash or signature. Errors: PARSE (malformed, with the
 * reason), TOO_LARGE, IO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_inspect(const char *path, struct fsec_fw_info *out)
	FSEC_NONNULL(1, 2);

/*
 * Verify an image against a trusted public key (Ed25519 or P-256), with
 * MCUboot's rules: structure, then the hash over header, payload and
 * protected TLVs, then a signature whose preceding KEYHASH (or PUBKEY)
 * names pub, which must verify; and after the TLVs nothing but erased 0xff
 * bytes and the boot trailer (magic, image_ok), which is not signed. The
 * header and TLVs reported are the bytes that were hashed: each byte of the
 * file is read once, in fixed-size chunks. A caller that installs the image
 * must install it from the same descriptor it verified (fsec_fw_verify_fd).
 * *out is written only on success.
 * Errors: PARSE ("truncated", "malformed"...), VERIFY with the reason
 * "hash mismatch", "unsigned" or "bad signature", WRONG_KEY ("wrong key":
 * well-formed but with no signature by pub, so a caller holding several
 * trusted keys tries the next), IO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_verify(const char *path, EVP_PKEY *pub,
					       struct fsec_fw_info *out) FSEC_NONNULL(1, 2, 3);

/* fsec_fw_inspect on the first len bytes of an open descriptor (a slot). */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_inspect_fd(int fd, uint64_t len, struct fsec_fw_info *out)
	FSEC_NONNULL(3);

/* fsec_fw_verify on an image in memory (tests, fuzzing, small images). */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_verify_mem(const unsigned char *buf, size_t len,
						   EVP_PKEY *pub, struct fsec_fw_info *out)
	FSEC_NONNULL(3, 4);

/* fsec_fw_verify on the first len bytes at offset 0 of an open descriptor
 * (a slot: a block device or a file longer than the image). */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_verify_fd(int fd, uint64_t len, EVP_PKEY *pub,
						  struct fsec_fw_info *out) FSEC_NONNULL(3, 4);

/*
 * fsec_fw_verify with MCUboot's secondary-slot rule for encrypted images:
 * when the header is flagged encrypted, the image key is unwrapped from the
 * ENC TLV with dk and the body decrypted before it is hashed, so the hash
 * and signature are checked over the plaintext. dk NULL is fsec_fw_verify:
 * an encrypted image whose stored body does not match its hash is then
 * refused with VERIFY "encrypted: ..." once its signature over the stated
 * hash was checked. *out is written only on success (out->decrypted says
 * whether the body was decrypted).
 * Errors: those of fsec_fw_verify, PARSE (a flagged image with no ENC TLV,
 * an ENC TLV of the wrong length for the flag), WRONG_KEY (dk of another
 * type than the ENC TLV), VERIFY ("hmac mismatch", "key unwrap failed",
 * "ecdh failed", "oaep failed": the wrong key or a tampered ENC TLV).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_verify_decrypt(const char *path, EVP_PKEY *pub,
						       const struct fsec_fw_enc_key *dk,
						       struct fsec_fw_info *out)
	FSEC_NONNULL(1, 2, 4);

/* fsec_fw_verify_decrypt on an image in memory (tests, fuzzing). */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_verify_decrypt_mem(const unsigned char *buf, size_t len,
							   EVP_PKEY *pub,
							   const struct fsec_fw_enc_key *dk,
							   struct fsec_fw_info *out)
	FSEC_NONNULL(3, 5);

/*
 * Decrypt an encrypted image into out_path, atomically: the same file with
 * its body in clear (header, flag and TLVs unchanged: what MCUboot writes to
 * the primary slot), or with payload_only the img_size plaintext body bytes
 * alone. The plaintext's hash must match the image's hash TLV, and with pub
 * (may be NULL) a signature by pub must verify over it, before anything
 * appears at out_path. *out (may be NULL) as fsec_fw_verify_decrypt.
 * Errors: those of fsec_fw_verify_decrypt, INVAL (the image is not flagged
 * encrypted), IO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_decrypt(const char *in_path, const char *out_path,
						const struct fsec_fw_enc_key *dk, EVP_PKEY *pub,
						bool payload_only, struct fsec_fw_info *out)
	FSEC_NONNULL(1, 2, 3);

/* ---- decrypting while downloading (fwimage_dec.c) ---- */

/* The TLV area (and what follows it) of an image being decrypted on the fly
 * is held in memory: at most this many bytes. */
#define FSEC_FW_DEC_TAIL_MAX (1024u * 1024u)

/*
 * An image's streaming decryptor: the image key, and the AES-CTR state,
 * which is recomputed from the offset whenever the bytes fed do not follow
 * the last ones (a resumed download). Opaque; free with fsec_fw_dec_free,
 * which wipes it. Not thread-safe.
 */
struct fsec_fw_dec;

/*
 * From an image's first FSEC_FW_HDR_LEN bytes (head) and its length: whether
 * the header flags it encrypted, and where its TLV area starts (*tail_off).
 * Nothing here is verified yet: the header only tells what to fetch next.
 * Errors: PARSE (bad magic, or the TLVs not within the last
 * FSEC_FW_DEC_TAIL_MAX bytes of the image). Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_dec_probe(const unsigned char *head, uint64_t image_len,
						  bool *encrypted, uint64_t *tail_off)
	FSEC_NONNULL(1, 3, 4);

/*
 * A decryptor for the image_len-byte image whose first FSEC_FW_HDR_LEN bytes
 * are head and whose bytes [tail_off, image_len) are tail (tail_off from
 * fsec_fw_dec_probe). The header and TLVs are parsed as fsec_fw_inspect
 * does. The image key is unwrapped with dk from the image's ENC TLV, or,
 * when wrapped is not NULL, from wrapped: one ENC TLV (type, length, value;
 * fsec_fw_dec_key_parse) that fleetsecd wrapped for this device.
 * Nothing is authenticated here beyond the wrapping's own check (HMAC,
 * key-wrap IV): the hash and signature over the plaintext decide, once the
 * whole image is in place. Errors: PARSE, INVAL (not flagged encrypted),
 * WRONG_KEY, VERIFY (hmac mismatch, unwrap failed), CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_dec_new(const unsigned char *head,
						const unsigned char *tail, uint64_t tail_off,
						uint64_t image_len,
						const struct fsec_fw_enc_key *dk,
						const unsigned char *wrapped, size_t wrapped_len,
						struct fsec_fw_dec **out)
	FSEC_NONNULL(1, 2, 5, 8);

/*
 * Decrypt in place the n bytes p that sit at offset at of the image: the
 * part of them in the body is decrypted, the header and TLVs are left as
 * they are. Errors: CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_dec_apply(struct fsec_fw_dec *d, uint64_t at,
						  unsigned char *p, size_t n)
	FSEC_NONNULL(1);

/* The ENC TLV type the image key was unwrapped from. */
FSEC_API uint16_t fsec_fw_dec_type(const struct fsec_fw_dec *d) FSEC_NONNULL(1);

FSEC_API void fsec_fw_dec_free(struct fsec_fw_dec *d);

/* The largest wrapped key (one ENC TLV): 4 bytes of type and length, and
 * RSA-2048's 256-byte value. */
#define FSEC_FW_KEY_TLV_MAX 264u

/*
 * Parse a wrapped image key as fleetsecd delivers it (GET
 * /v1/firmware/SHA256/key): exactly one ENC TLV, little-endian type and
 * length as in the image, whose length fits its type (for a 128- or 256-bit
 * key). *value points into buf. Errors: PARSE. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_dec_key_parse(const unsigned char *buf, size_t len,
						      uint16_t *type,
						      const unsigned char **value,
						      size_t *value_len)
	FSEC_NONNULL(3, 4, 5);

/*
 * Per-device key delivery: unwrap the image key of the encrypted image at
 * image_path with holder (the key the release was encrypted to), and wrap
 * it again for device (its public encryption key; ECIES for P-256 and
 * X25519) into out, one ENC TLV of *out_len <= FSEC_FW_KEY_TLV_MAX bytes.
 * The image's signature is not checked here: the release manifest pins the
 * image's SHA-256. Errors: IO, PARSE, INVAL (not encrypted, or a device
 * key that cannot wrap), WRONG_KEY, VERIFY, CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fw_key_rewrap(const char *image_path,
						   const struct fsec_fw_enc_key *holder,
						   const struct fsec_fw_enc_key *device,
						   unsigned char *out, size_t *out_len)
	FSEC_NONNULL(1, 2, 3, 4, 5);

#endif
