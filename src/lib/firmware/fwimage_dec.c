/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decrypting an encrypted MCUboot image while it is downloaded
 * (fsec_fw_dec_*, docs/FW-ENCRYPTION.md "On the device"). The image key is
 * unwrapped before the body arrives, from the header and the TLV area
 * fetched first; the body is then decrypted piece by piece at any offset.
 * The AES-CTR counter is a function of the offset alone (MCUboot counts
 * 16-byte blocks from the body's start), so it is recomputed whenever a
 * piece does not follow the last one: a download resumed after a power cut
 * needs no stored cipher state, and none is kept.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "err_int.h"
#include "fleetsec/fwimage.h"
#include "fwimage_int.h"

struct fsec_fw_dec {
	EVP_CIPHER_CTX *ctr;
	uint64_t body_start, body_end; /* [hdr_size, hdr_size + img_size) */
	uint64_t next;                 /* the body offset the counter stands at */
	unsigned keylen;
	uint16_t enc_type;
};

FSEC_API enum fsec_err fsec_fw_dec_probe(const unsigned char *head, uint64_t image_len,
					 bool *encrypted, uint64_t *tail_off)
{
	uint64_t off;

	if (fw_get32(head) != FSEC_FW_MAGIC)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: bad magic 0x%08x (not an MCUboot image)",
				   fw_get32(head));
	/* 16 plus 32 bits summed in 64: no overflow. */
	off = (uint64_t)fw_get16(head + 8) + fw_get32(head + 12);
	/* The TLVs must lie in the image and near its end: the tail is held
	 * in memory, so its size is capped. */
	if (off > image_len || image_len - off > FSEC_FW_DEC_TAIL_MAX)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: the TLV area is not within the last "
						   "%u bytes of the %llu-byte image",
				   FSEC_FW_DEC_TAIL_MAX, (unsigned long long)image_len);
	*encrypted = (fw_get32(head + 16) &
		      (FSEC_FW_F_ENCRYPTED_AES128 | FSEC_FW_F_ENCRYPTED_AES256)) != 0;
	*tail_off = off;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_fw_dec_key_parse(const unsigned char *buf, size_t len,
					     uint16_t *type, const unsigned char **value,
					     size_t *value_len)
{
	uint16_t t, n;
	size_t want16, want32;

	if (len < 4)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed key: %zu bytes is shorter than a TLV",
				   len);
	t = fw_get16(buf);
	n = fw_get16(buf + 2);
	/* Exactly one TLV: the length field must account for every byte. */
	if (n != len - 4)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed key: TLV of %u bytes in %zu", n,
				   len - 4);
	want16 = fw_enc_tlv_len(t, 16);
	want32 = fw_enc_tlv_len(t, 32);
	if (want16 == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed key: TLV type 0x%02x is no ENC TLV", t);
	if (n != want16 && n != want32)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed key: %s TLV of %u bytes",
				   fsec_fw_enc_tlv_name(t), n);
	*type = t;
	*value = buf + 4;
	*value_len = n;
	return FSEC_OK;
}

FSEC_API void fsec_fw_dec_free(struct fsec_fw_dec *d)
{
	if (d == NULL)
		return;
	EVP_CIPHER_CTX_free(d->ctr);
	OPENSSL_clear_free(d, sizeof(*d));
}

FSEC_API enum fsec_err fsec_fw_dec_new(const unsigned char *head, const unsigned char *tail,
				       uint64_t tail_off, uint64_t image_len,
				       const struct fsec_fw_enc_key *dk,
				       const unsigned char *wrapped, size_t wrapped_len,
				       struct fsec_fw_dec **out)
{
	struct fw_src s = {.fd = -1,
			   .mem = head,
			   .size = image_len,
			   .tail = tail,
			   .head_len = FSEC_FW_HDR_LEN,
			   .tail_off = tail_off};
	struct fsec_fw_info *info = NULL;
	struct fsec_fw_dec *d = NULL;
	unsigned char *areas = NULL, key[32];
	const unsigned char *v;
	size_t vlen;
	uint16_t type;
	enum fsec_err rc = FSEC_ERR_VERIFY;

	if (tail_off > image_len || tail_off < FSEC_FW_HDR_LEN) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "tail offset %llu outside the image",
				 (unsigned long long)tail_off);
		goto out;
	}
	info = malloc(sizeof(*info));
	if (info == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fw_inspect_src(&s, info, &areas)) != FSEC_OK)
		goto out;
	if (info->enc_keylen == 0) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "not encrypted: the header has no encryption flag");
		goto out;
	}
	if (wrapped != NULL) {
		/* Delivered for this device: the image's own ENC TLV is not
		 * used, and the delivered key must be of the image's length. */
		if ((rc = fsec_fw_dec_key_parse(wrapped, wrapped_len, &type, &v, &vlen)) != FSEC_OK)
			goto out;
	} else {
		type = info->enc_type;
		v = areas + (info->enc_offset - (info->hashed_len - info->protect_tlv_size));
		vlen = info->enc_len;
	}
	if ((rc = fw_enc_unwrap(dk, type, v, vlen, info->enc_keylen, key)) != FSEC_OK)
		goto out;
	d = OPENSSL_zalloc(sizeof(*d));
	if (d == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	d->ctr = fw_enc_ctr_new(key, info->enc_keylen);
	if (d->ctr == NULL) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "AES-CTR set-up failed");
		goto out;
	}
	d->body_start = info->hdr_size;
	d->body_end = (uint64_t)info->hdr_size + info->img_size;
	d->keylen = info->enc_keylen;
	d->enc_type = type;
	*out = d;
	d = NULL;
	rc = FSEC_OK;
out:
	OPENSSL_cleanse(key, sizeof(key));
	fsec_fw_dec_free(d);
	free(areas);
	free(info);
	return rc;
}

/* Put the counter at body offset pos: block pos / 16, then pos % 16 bytes
 * of keystream thrown away. */
static enum fsec_err seek(struct fsec_fw_dec *d, uint64_t pos)
{
	unsigned char iv[16] = {0}, junk[16] = {0};
	uint64_t block = pos / 16;
	int outl;

	for (int i = 0; i < 8; i++)
		iv[15 - i] = (unsigned char)(block >> (8 * i));
	if (EVP_EncryptInit_ex(d->ctr, NULL, NULL, NULL, iv) != 1 ||
	    (pos % 16 != 0 && EVP_EncryptUpdate(d->ctr, junk, &outl, junk, (int)(pos % 16)) != 1))
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "AES-CTR seek failed");
	OPENSSL_cleanse(junk, sizeof(junk));
	d->next = pos;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_fw_dec_apply(struct fsec_fw_dec *d, uint64_t at, unsigned char *p,
					 size_t n)
{
	uint64_t lo, hi;
	enum fsec_err rc;

	/* Only the body is encrypted: clip [at, at + n) to it. at + n cannot
	 * wrap: it is an offset in an image of at most 2^32 + 2^16 bytes
	 * plus a slot-sized n. */
	lo = at > d->body_start ? at : d->body_start;
	hi = at + n < d->body_end ? at + n : d->body_end;
	if (lo >= hi)
		return FSEC_OK;
	if (lo - d->body_start != d->next && (rc = seek(d, lo - d->body_start)) != FSEC_OK)
		return rc;
	if ((rc = fw_enc_ctr(d->ctr, p + (lo - at), p + (lo - at), (size_t)(hi - lo))) != FSEC_OK)
		return rc;
	d->next = hi - d->body_start;
	return FSEC_OK;
}

FSEC_API uint16_t fsec_fw_dec_type(const struct fsec_fw_dec *d)
{
	return d->enc_type;
}

FSEC_API enum fsec_err fsec_fw_key_rewrap(const char *image_path,
					  const struct fsec_fw_enc_key *holder,
					  const struct fsec_fw_enc_key *device, unsigned char *out,
					  size_t *out_len)
{
	struct fsec_fw_info *info = NULL;
	struct fw_src s = {.fd = -1};
	unsigned char *areas = NULL, key[32], val[260];
	size_t vlen = sizeof(val);
	uint16_t type;
	enum fsec_err rc = FSEC_ERR_VERIFY;

	info = malloc(sizeof(*info));
	if (info == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fw_open_src(image_path, &s)) != FSEC_OK ||
	    (rc = fw_inspect_src(&s, info, &areas)) != FSEC_OK)
		goto out;
	if (info->enc_keylen == 0) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "not encrypted: the header has no encryption flag");
		goto out;
	}
	type = fsec_fw_enc_key_tlv(device, 256);
	if ((rc = fw_enc_unwrap(holder, info->enc_type,
				areas + (info->enc_offset - (info->hashed_len - info->protect_tlv_size)),
				info->enc_len, info->enc_keylen, key)) != FSEC_OK ||
	    (rc = fw_enc_wrap(device, type, info->enc_keylen, key, NULL, val, &vlen)) != FSEC_OK)
		goto out;
	/* fw_enc_wrap writes at most 260 bytes; the TLV adds 4. */
	fw_put16(out, type);
	fw_put16(out + 2, (uint16_t)vlen);
	memcpy(out + 4, val, vlen);
	*out_len = vlen + 4;
	rc = FSEC_OK;
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (s.fd >= 0)
		close(s.fd);
	free(areas);
	free(info);
	return rc;
}
