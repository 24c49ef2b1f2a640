/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signing MCUboot images (fwimage.h), byte-compatible with imgtool: the
 * header, the padded payload, the protected and unprotected TLVs and the
 * trailer, streamed from the input through the reader fwimage.c shares
 * (fwimage_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fwimage.h"
#include "fwimage_int.h"
#include "fleetsec/key.h"
#include "slot_int.h"

static unsigned char *tlv_put(unsigned char *p, uint16_t type, const void *v, uint16_t len)
{
	fw_put16(p, type);
	fw_put16(p + 2, len);
	memcpy(p + 4, v, len);
	return p + 4 + len;
}

/* Trailer size imgtool reserves (swap modes): section 8. An encrypted
 * image also reserves two key slots, 16 bytes each (the TLV itself with
 * save_enctlv), rounded up to max_align, as imgtool 2.4.0 does. */
static uint64_t trailer_size(unsigned align, unsigned max_align, size_t enc_slot)
{
	unsigned magic_area = max_align > 16 ? max_align : 16;
	uint64_t keys = enc_slot == 0 ? 0 : 2u * ((enc_slot + max_align - 1) / max_align * max_align);

	return (uint64_t)FW_MAX_SECTORS * 3 * align + 4u * max_align + magic_area + keys;
}

/* Bytes emitted are staged at a time through this buffer when encrypted. */
#define ENC_BUF (64u * 1024u)

struct signer {
	struct fsec_file_stage *st;
	EVP_MD_CTX *md;
	unsigned char *keep; /* pure: a copy of everything hashed */
	size_t kept;
	/* Encryption: the body [body_start, body_end) of the output is
	 * written encrypted, though hashed in clear; pos is the output
	 * offset emit() has reached. */
	EVP_CIPHER_CTX *ctr;
	uint64_t body_start, body_end, pos;
	unsigned char *buf;
};

/* Write to the output, encrypting what falls in the body. */
static enum fsec_err put_out(struct signer *sg, const unsigned char *p, size_t len)
{
	enum fsec_err rc = FSEC_OK;

	while (rc == FSEC_OK && len > 0) {
		size_t n = len > ENC_BUF ? ENC_BUF : len;
		uint64_t at = sg->pos;

		if (sg->ctr != NULL && at < sg->body_end && at + n > sg->body_start) {
			/* The header before the body is written in clear. */
			size_t pre = at < sg->body_start ? (size_t)(sg->body_start - at) : 0;
			size_t in = n - pre;

			if (at + n > sg->body_end)
				in = (size_t)(sg->body_end - (at + pre));
			memcpy(sg->buf, p, n);
			if ((rc = fw_enc_ctr(sg->ctr, sg->buf + pre, sg->buf + pre, in)) == FSEC_OK)
				rc = fsec_file_stage_write(sg->st, sg->buf, n);
		} else {
			rc = fsec_file_stage_write(sg->st, p, n);
		}
		sg->pos += n;
		p += n;
		len -= n;
	}
	return rc;
}

/* Append to the output and the hash (and, for pure, the kept copy). */
static enum fsec_err emit(struct signer *sg, const void *data, size_t len)
{
	enum fsec_err rc = put_out(sg, data, len);

	if (rc != FSEC_OK)
		return rc;
	if (!EVP_DigestUpdate(sg->md, data, len))
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "hash failed");
	if (sg->keep != NULL) {
		if (len > FSEC_FW_PURE_MAX - sg->kept)
			return fsec_seterr(FSEC_ERR_TOO_LARGE, "pure-signed image larger than %u bytes",
					   FSEC_FW_PURE_MAX);
		memcpy(sg->keep + sg->kept, data, len);
		sg->kept += len;
	}
	return FSEC_OK;
}

/* The signing side of sig_verify. */
/* len bytes of the erased value 0xff: hashed for header padding, not for
 * the filler before the boot trailer. */
static enum fsec_err fill_erased(struct signer *sg, uint64_t len, bool hashed)
{
	unsigned char ff[4096];
	enum fsec_err rc = FSEC_OK;

	memset(ff, 0xff, sizeof(ff));
	while (rc == FSEC_OK && len > 0) {
		size_t n = len > sizeof(ff) ? sizeof(ff) : (size_t)len;

		rc = hashed ? emit(sg, ff, n) : fsec_file_stage_write(sg->st, ff, n);
		len -= n;
	}
	return rc;
}

static enum fsec_err sign_msg(EVP_PKEY *key, const unsigned char *msg, size_t len,
			      unsigned char *sig, size_t *siglen)
{
	EVP_PKEY_CTX *ctx;
	int ok;

	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
		unsigned char *s = NULL;
		size_t n = 0;
		enum fsec_err rc = fsec_key_sign(key, msg, len, &s, &n);

		if (rc == FSEC_OK && n > *siglen)
			rc = fsec_seterr(FSEC_ERR_CRYPTO, "signature too long");
		if (rc == FSEC_OK) {
			memcpy(sig, s, n);
			*siglen = n;
		}
		OPENSSL_free(s);
		return rc;
	}
	ctx = EVP_PKEY_CTX_new(key, NULL);
	ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
	     EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
	     EVP_PKEY_sign(ctx, sig, siglen, msg, len) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok ? FSEC_OK : fsec_seterr_ossl(FSEC_ERR_CRYPTO, "signing failed");
}

static enum fsec_err check_sign_opts(const struct fsec_fw_sign_opts *o, unsigned *align,
				     uint16_t *hash_type)
{
	unsigned a = o->align != 0 ? o->align : 1;

	if (o->header_size < FSEC_FW_HDR_LEN)
		return fsec_seterr(FSEC_ERR_INVAL, "header size must be at least %u", FSEC_FW_HDR_LEN);
	if (a != 1 && a != 2 && a != 4 && a != 8 && a != 16 && a != 32)
		return fsec_seterr(FSEC_ERR_INVAL, "align must be 1, 2, 4, 8, 16 or 32");
	if ((o->pad || o->confirm) && o->slot_size == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "--pad and --confirm need --slot-size");
	if (o->sha != 0 && o->sha != 256 && o->sha != 512)
		return fsec_seterr(FSEC_ERR_INVAL, "sha must be 256 or 512");
	if (o->ndeps > FSEC_FW_MAX_DEPS)
		return fsec_seterr(FSEC_ERR_INVAL, "at most %d dependencies", FSEC_FW_MAX_DEPS);
	if (o->key != NULL && fw_sig_type_of(o->key) == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "signing key must be Ed25519 or ECDSA P-256");
	if (o->pure && (o->key == NULL || fw_sig_type_of(o->key) != FSEC_FW_TLV_ED25519))
		return fsec_seterr(FSEC_ERR_INVAL, "--pure needs an Ed25519 key");
	if (o->key != NULL && fw_sig_type_of(o->key) == FSEC_FW_TLV_ECDSA_SIG && o->sha == 512)
		return fsec_seterr(FSEC_ERR_INVAL, "an ECDSA P-256 key can only be used with --sha 256");
	if (o->enc != NULL) {
		if (o->enc_keylen != 0 && o->enc_keylen != 128 && o->enc_keylen != 256)
			return fsec_seterr(FSEC_ERR_INVAL, "encryption key length must be 128 or 256");
		if (o->hmac_sha != 0 && o->hmac_sha != 256 && o->hmac_sha != 512)
			return fsec_seterr(FSEC_ERR_INVAL, "hmac-sha must be 256 or 512");
		if (fsec_fw_enc_key_tlv(o->enc, o->hmac_sha) == 0)
			return fsec_seterr(FSEC_ERR_INVAL, "hmac-sha 512 needs an X25519 encryption key");
		if (o->pure)
			return fsec_seterr(FSEC_ERR_INVAL, "--pure images cannot be encrypted");
	} else if (o->enc_clear || o->enc_keylen != 0 || o->hmac_sha != 0 || o->save_enctlv) {
		return fsec_seterr(FSEC_ERR_INVAL, "encryption options need an encryption key");
	}
	*align = a;
	/* --pure implies SHA-512, as in imgtool. */
	*hash_type = o->pure || o->sha == 512 ? FSEC_FW_TLV_SHA512 : FSEC_FW_TLV_SHA256;
	return FSEC_OK;
}

/* The unprotected TLVs (section 5): hash, [SIG_PURE], [KEYHASH|PUBKEY, sig]. */
static enum fsec_err build_unprotected(const struct fsec_fw_sign_opts *o, uint16_t hash_type,
				       const unsigned char *digest, size_t dlen,
				       const unsigned char *image, size_t image_len,
				       unsigned char *out, size_t *out_len)
{
	unsigned char *p = out + 4, *spki = NULL, keyhash[64], sig[128];
	size_t spki_len = 0, siglen = sizeof(sig);
	enum fsec_err rc = FSEC_OK;

	p = tlv_put(p, hash_type, digest, (uint16_t)dlen);
	if (o->pure)
		p = tlv_put(p, FSEC_FW_TLV_SIG_PURE, "\x01", 1);
	if (o->key != NULL) {
		if ((rc = fsec_key_spki_der(o->key, &spki, &spki_len)) != FSEC_OK)
			return rc;
		if (spki_len > 512) {
			rc = fsec_seterr(FSEC_ERR_INVAL, "public key too large");
			goto out;
		}
		if (o->full_pubkey) {
			p = tlv_put(p, FSEC_FW_TLV_PUBKEY, spki, (uint16_t)spki_len);
		} else {
			if (!EVP_Digest(spki, spki_len, keyhash, NULL, fw_hash_md(hash_type), NULL)) {
				rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "hash failed");
				goto out;
			}
			p = tlv_put(p, FSEC_FW_TLV_KEYHASH, keyhash, (uint16_t)dlen);
		}
		if ((rc = sign_msg(o->key, o->pure ? image : digest, o->pure ? image_len : dlen, sig,
				   &siglen)) != FSEC_OK)
			goto out;
		p = tlv_put(p, fw_sig_type_of(o->key), sig, (uint16_t)siglen);
	}
	fw_put16(out, FSEC_FW_TLV_MAGIC);
	fw_put16(out + 2, (uint16_t)(p - out));
	*out_len = (size_t)(p - out);
out:
	OPENSSL_free(spki);
	return rc;
}

static enum fsec_err emit_chunk(const unsigned char *p, size_t n, uint64_t at, void *arg)
{
	(void)at;
	return emit(arg, p, n);
}

FSEC_API enum fsec_err fsec_fw_sign(const char *in_path, const char *out_path,
				    const struct fsec_fw_sign_opts *o)
{
	unsigned char hdr[FSEC_FW_HDR_LEN] = {0}, prot[4 + 8 + FSEC_FW_MAX_DEPS * 16];
	unsigned char unprot[1536], digest[64], image_key[32], enc_tlv[260];
	struct signer sg = {0};
	size_t enc_len = 0, zero_pad = 0;
	unsigned keylen = o->enc_keylen == 256 ? 32 : 16;
	uint16_t enc_type = 0;
	struct fw_src in = {.fd = -1};
	uint64_t img_size, payload_off, tlv_end;
	size_t prot_len = 0, unprot_len = 0, dlen, enc_slot = 0;
	unsigned align = 1, max_align;
	uint16_t hash_type = FSEC_FW_TLV_SHA256;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = check_sign_opts(o, &align, &hash_type)) != FSEC_OK)
		return rc;
	max_align = align > 8 ? align : 8;
	dlen = fw_hash_len_of(hash_type);
	if ((rc = fw_open_src(in_path, &in)) != FSEC_OK)
		return fsec_seterr(rc, "%s: %s", in_path, fsec_err_detail());

	/* Section 7 step 1: the header either goes in front of the payload, or
	 * over the zero bytes the payload was built to start with. */
	if (o->pad_header) {
		img_size = in.size;
		payload_off = 0;
	} else {
		unsigned char zeros[1024];

		if (in.size < o->header_size) {
			rc = fsec_seterr(FSEC_ERR_INVAL, "%s: shorter than the header size; use --pad-header",
					 in_path);
			goto out;
		}
		for (uint64_t off = 0; off < o->header_size; off += sizeof(zeros)) {
			size_t n = o->header_size - off > sizeof(zeros) ? sizeof(zeros)
									 : (size_t)(o->header_size - off);

			if ((rc = fw_src_read(&in, off, zeros, n)) != FSEC_OK)
				goto out;
			for (size_t i = 0; i < n; i++)
				if (zeros[i] != 0) {
					rc = fsec_seterr(FSEC_ERR_INVAL,
							 "%s: does not start with %u zero bytes for the "
							 "header; use --pad-header",
							 in_path, o->header_size);
					goto out;
				}
		}
		img_size = in.size - o->header_size;
		payload_off = FSEC_FW_HDR_LEN;
	}
	/* imgtool pads header and payload with zeros to whole AES blocks
	 * before it encrypts; the padding is part of the signed body. */
	if (o->enc != NULL) {
		zero_pad = (size_t)((16 - ((uint64_t)o->header_size + img_size) % 16) % 16);
		img_size += zero_pad;
	}
	if (img_size > UINT32_MAX) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: payload larger than 4 GiB", in_path);
		goto out;
	}

	/* Protected TLVs (section 4): security counter, then dependencies. */
	if (o->has_security_counter || o->ndeps > 0) {
		unsigned char *p = prot + 4, sc[4], dep[12];

		if (o->has_security_counter) {
			fw_put32(sc, o->security_counter);
			p = tlv_put(p, FSEC_FW_TLV_SEC_CNT, sc, 4);
		}
		for (size_t i = 0; i < o->ndeps; i++) {
			memset(dep, 0, sizeof(dep));
			dep[0] = o->deps[i].image_id;
			fw_put_version(dep + 4, &o->deps[i].min_version);
			p = tlv_put(p, FSEC_FW_TLV_DEPENDENCY, dep, sizeof(dep));
		}
		prot_len = (size_t)(p - prot);
		fw_put16(prot, FSEC_FW_TLV_PROT_MAGIC);
		fw_put16(prot + 2, (uint16_t)prot_len);
	}

	fw_put32(hdr, FSEC_FW_MAGIC);
	fw_put16(hdr + 8, o->header_size);
	fw_put16(hdr + 10, (uint16_t)prot_len);
	fw_put32(hdr + 12, (uint32_t)img_size);
	fw_put_version(hdr + 20, &o->version);
	if (o->enc != NULL) {
		enc_type = fsec_fw_enc_key_tlv(o->enc, o->hmac_sha);
		fw_put32(hdr + 16, keylen == 16 ? FSEC_FW_F_ENCRYPTED_AES128
						: FSEC_FW_F_ENCRYPTED_AES256);
		if (o->kat_image_key != NULL)
			memcpy(image_key, o->kat_image_key, keylen);
		else if (RAND_priv_bytes(image_key, (int)keylen) != 1) {
			rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "no randomness for the image key");
			goto out;
		}
		if ((rc = fw_enc_wrap(o->enc, enc_type, keylen, image_key, o->kat_ephemeral, enc_tlv,
				      &enc_len)) != FSEC_OK)
			goto out;
		/* --clear: flagged and carrying the key, but written in clear
		 * (for the primary slot at the factory), as imgtool does. */
		if (!o->enc_clear) {
			sg.ctr = fw_enc_ctr_new(image_key, keylen);
			sg.buf = malloc(ENC_BUF);
			if (sg.ctr == NULL || sg.buf == NULL) {
				rc = fsec_seterr(FSEC_ERR_NOMEM, "AES-CTR set-up failed");
				goto out;
			}
			sg.body_start = o->header_size;
			sg.body_end = (uint64_t)o->header_size + img_size;
		}
	}

	if ((rc = fsec_file_stage_open(out_path, 0644, 0, &sg.st)) != FSEC_OK)
		goto out;
	sg.md = EVP_MD_CTX_new();
	if (sg.md == NULL || !EVP_DigestInit_ex(sg.md, fw_hash_md(hash_type), NULL)) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "hash set-up failed");
		goto out;
	}
	if (o->pure && (sg.keep = malloc(FSEC_FW_PURE_MAX)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = emit(&sg, hdr, sizeof(hdr))) != FSEC_OK)
		goto out;
	/* The header padding is the erased value, 0xff, not zeros (section 2). */
	if (o->pad_header && (rc = fill_erased(&sg, o->header_size - FSEC_FW_HDR_LEN, true)) != FSEC_OK)
		goto out;
	if ((rc = fw_stream(&in, payload_off, in.size, NULL, emit_chunk, &sg)) != FSEC_OK ||
	    (zero_pad > 0 && (rc = emit(&sg, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", zero_pad)) != FSEC_OK) ||
	    (prot_len > 0 && (rc = emit(&sg, prot, prot_len)) != FSEC_OK))
		goto out;
	if (!EVP_DigestFinal_ex(sg.md, digest, NULL)) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "hash failed");
		goto out;
	}
	if ((rc = build_unprotected(o, hash_type, digest, dlen, sg.keep, sg.kept, unprot,
				    &unprot_len)) != FSEC_OK)
		goto out;
	/* The ENC TLV goes last, after the signature, outside the hash. */
	if (enc_len > 0) {
		tlv_put(unprot + unprot_len, enc_type, enc_tlv, (uint16_t)enc_len);
		unprot_len += 4 + enc_len;
		fw_put16(unprot + 2, (uint16_t)unprot_len);
	}
	if ((rc = fsec_file_stage_write(sg.st, unprot, unprot_len)) != FSEC_OK)
		goto out;

	tlv_end = (uint64_t)o->header_size + img_size + prot_len + unprot_len;
	enc_slot = o->enc == NULL ? 0 : o->save_enctlv ? enc_len : 16;
	if (o->slot_size != 0 && tlv_end + trailer_size(align, max_align, enc_slot) > o->slot_size) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE,
				 "Image size (0x%llx) + trailer (0x%llx) exceeds requested size 0x%x",
				 (unsigned long long)tlv_end,
				 (unsigned long long)trailer_size(align, max_align, enc_slot), o->slot_size);
		goto out;
	}
	if (o->pad || o->confirm) {
		unsigned magic_area = max_align > 16 ? max_align : 16;
		unsigned char magic[16];
		/* image_ok is the first byte of the unit below the magic area. */
		uint64_t ok_at = o->slot_size - magic_area - max_align;

		if (max_align == 8) {
			memcpy(magic, fw_boot_magic8, 16);
		} else {
			fw_put16(magic, (uint16_t)max_align);
			memcpy(magic + 2, fw_boot_magic_tail, 14);
		}
		if (o->confirm) {
			if ((rc = fill_erased(&sg, ok_at - tlv_end, false)) != FSEC_OK ||
			    (rc = fsec_file_stage_write(sg.st, "\x01", 1)) != FSEC_OK ||
			    (rc = fill_erased(&sg, o->slot_size - 16 - ok_at - 1, false)) != FSEC_OK)
				goto out;
		} else if ((rc = fill_erased(&sg, o->slot_size - 16 - tlv_end, false)) != FSEC_OK) {
			goto out;
		}
		if ((rc = fsec_file_stage_write(sg.st, magic, sizeof(magic))) != FSEC_OK)
			goto out;
	}
	rc = fsec_file_stage_commit(sg.st);
out:
	OPENSSL_cleanse(image_key, sizeof(image_key));
	free(sg.keep);
	free(sg.buf);
	EVP_CIPHER_CTX_free(sg.ctr);
	EVP_MD_CTX_free(sg.md);
	fsec_file_stage_free(sg.st);
	if (in.fd >= 0)
		close(in.fd);
	return rc;
}
