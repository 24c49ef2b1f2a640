/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encrypted MCUboot images against imgtool's own (tests/vectors/mcuboot-enc,
 * provenance in tests/vectors/README.md). Driven by that set's vectors.json:
 * - every positive decrypts to the exact payload (and its zero padding) and
 *   verifies over the plaintext; the --clear one verifies as stored;
 * - every negative is refused at the stage the vector names, with a one-line
 *   reason, and fsec_fw_decrypt leaves nothing behind;
 * - each imgtool command is re-run through fsec_fw_sign with the vector's
 *   randomness (image key, ephemeral key): the output is imgtool's file byte
 *   for byte when the signature is deterministic (Ed25519), and for ECDSA and
 *   RSA-signed vectors everything but the signature TLV is compared;
 * - the malformed layouts the issue lists, made from A01 by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "fleetsec/fileio.h"
#include "fleetsec/fwimage.h"
#include "fleetsec/key.h"
#include "fwimage_int.h"
#include "testutil.h"

#ifndef FSEC_ENC_VECTORS
#error "FSEC_ENC_VECTORS (the vector folder) must be defined by the build"
#endif

static json_t *root;
static char *scratch;

static char *vpath(const char *rel)
{
	size_t n = strlen(FSEC_ENC_VECTORS) + strlen(rel) + 2;
	char *p = malloc(n);

	assert_non_null(p);
	assert_int_equal(snprintf(p, n, "%s/%s", FSEC_ENC_VECTORS, rel), (int)n - 1);
	return p;
}

static unsigned char *slurp(const char *rel, size_t *len)
{
	char *p = vpath(rel);
	unsigned char *buf = NULL;

	if (fsec_file_read(p, 64u << 20, &buf, len) != FSEC_OK)
		fail_msg("cannot read %s: %s", p, fsec_err_detail());
	free(p);
	return buf;
}

static size_t unhex(const char *h, unsigned char *out, size_t cap)
{
	size_t n = strlen(h) / 2;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (unsigned char)v;
	}
	return n;
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	if (s == NULL)
		fail_msg("vector field %s missing", k);
	return s;
}

static int setup(void **state)
{
	char *p = vpath("vectors.json");
	json_error_t err;

	(void)state;
	root = json_load_file(p, 0, &err);
	free(p);
	if (root == NULL)
		return -1;
	scratch = tu_mkdtemp();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(root);
	tu_rmtree(scratch);
	free(scratch);
	return 0;
}

static EVP_PKEY *sign_pub(const json_t *v)
{
	char *p = vpath(jstr(v, "sign_pubkey"));
	EVP_PKEY *k = NULL;

	/* imgtool's RSA signatures are outside fleetsec's signing keys. */
	if (strstr(p, "rsa") == NULL && fsec_key_load_public(p, &k) != FSEC_OK)
		fail_msg("%s: %s", p, fsec_err_detail());
	free(p);
	return k;
}

static struct fsec_fw_enc_key *enc_key(const char *rel, bool priv)
{
	char *p = vpath(rel);
	struct fsec_fw_enc_key *k = NULL;

	if (fsec_fw_enc_key_load(p, priv, &k) != FSEC_OK)
		fail_msg("%s: %s", p, fsec_err_detail());
	free(p);
	return k;
}

/* The payload with imgtool's zero padding: the plaintext body. */
static unsigned char *plain_body(const json_t *v, size_t *len)
{
	size_t plen = 0, pad = (size_t)json_integer_value(json_object_get(v, "body_zero_pad"));
	unsigned char *p = slurp(jstr(v, "payload_file"), &plen), *b = calloc(1, plen + pad + 1);

	assert_non_null(b);
	memcpy(b, p, plen);
	free(p);
	*len = plen + pad;
	return b;
}

/*
 * The agent's path (fwimage_dec.c): the key unwrapped from the header and
 * the TLV area alone, from the image's ENC TLV and again from that TLV as a
 * delivered key; the body decrypted in pieces out of order (the counter
 * recomputed from each piece's offset) equals imgtool's plaintext.
 */
static void check_streamed(const json_t *v, const unsigned char *img, size_t len,
			   const struct fsec_fw_enc_key *dk, const unsigned char *body, size_t blen)
{
	size_t hdr = (size_t)img[8] | (size_t)img[9] << 8, cut[] = {0, 37, 1000, len};
	size_t order[] = {2, 0, 1}, enc_at, enc_len;
	uint16_t enc_type;
	struct fsec_fw_dec *d = NULL;
	struct fsec_fw_info info;
	uint64_t tail_off = 0;
	unsigned char *copy, tlv[FSEC_FW_KEY_TLV_MAX];
	bool enc = false;
	char *ip = vpath(jstr(v, "file"));

	assert_int_equal(fsec_fw_inspect(ip, &info), FSEC_OK);
	free(ip);
	enc_type = info.enc_type;
	enc_at = (size_t)info.enc_offset;
	enc_len = info.enc_len;
	assert_true(enc_len + 4 <= sizeof(tlv));
	tlv[0] = (unsigned char)enc_type;
	tlv[1] = (unsigned char)(enc_type >> 8);
	tlv[2] = (unsigned char)enc_len;
	tlv[3] = (unsigned char)(enc_len >> 8);
	memcpy(tlv + 4, img + enc_at, enc_len);
	assert_int_equal(fsec_fw_dec_probe(img, len, &enc, &tail_off), FSEC_OK);
	assert_true(enc);
	for (int wrapped = 0; wrapped < 2; wrapped++) {
		if (fsec_fw_dec_new(img, img + tail_off, tail_off, len, dk, wrapped ? tlv : NULL,
				    wrapped ? enc_len + 4 : 0, &d) != FSEC_OK)
			fail_msg("%s: dec_new: %s", jstr(v, "id"), fsec_err_detail());
		assert_int_equal(fsec_fw_dec_type(d), enc_type);
		copy = malloc(len);
		assert_non_null(copy);
		memcpy(copy, img, len);
		for (size_t i = 0; i < 3; i++) {
			size_t k = order[i];

			assert_int_equal(fsec_fw_dec_apply(d, cut[k], copy + cut[k], cut[k + 1] - cut[k]),
					 FSEC_OK);
		}
		assert_memory_equal(copy + hdr, body, blen);
		assert_memory_equal(copy, img, hdr); /* the header stays as it is */
		free(copy);
		fsec_fw_dec_free(d);
	}
}

static void check_positive(const json_t *v)
{
	size_t len = 0, blen = 0, olen = 0;
	unsigned char *img = slurp(jstr(v, "file"), &len), *body = plain_body(v, &blen), *out;
	unsigned char hash[64];
	EVP_PKEY *pub = sign_pub(v);
	struct fsec_fw_enc_key *dk = enc_key(jstr(v, "enc_key"), true);
	bool clear = strcmp(jstr(v, "mode"), "as_stored") == 0;
	struct fsec_fw_info info;
	char *op = tu_path(scratch, "plain.bin");
	enum fsec_err rc;

	if (pub != NULL) {
		rc = clear ? fsec_fw_verify_mem(img, len, pub, &info)
			   : fsec_fw_verify_decrypt_mem(img, len, pub, dk, &info);
		if (rc != FSEC_OK)
			fail_msg("%s: %s", jstr(v, "id"), fsec_err_detail());
		assert_int_equal(info.decrypted, !clear);
		assert_int_equal(info.hash_len, unhex(jstr(v, "image_hash"), hash, sizeof(hash)));
		assert_memory_equal(info.hash, hash, info.hash_len);
		assert_int_equal(info.enc_keylen * 8,
				 json_integer_value(json_object_get(v, "aes_keylen")));
		assert_int_equal(info.enc_type, strtol(jstr(v, "enc_tlv_type"), NULL, 16));
	}
	if (clear) {
		/* Decrypting a body that is already clear garbles it: refused
		 * on the hash, and nothing written. */
		rc = fsec_fw_decrypt(FSEC_ENC_VECTORS "/images/A07-ed25519-x25519-aes128-1k-clear.img",
				     op, dk, NULL, true, NULL);
		assert_int_equal(rc, FSEC_ERR_VERIFY);
		assert_false(tu_exists(op));
	} else {
		char *ip = vpath(jstr(v, "file"));

		rc = fsec_fw_decrypt(ip, op, dk, pub, true, NULL);
		if (rc != FSEC_OK)
			fail_msg("%s: decrypt: %s", jstr(v, "id"), fsec_err_detail());
		free(ip);
		check_streamed(v, img, len, dk, body, blen);
		assert_int_equal(fsec_file_read(op, 64u << 20, &out, &olen), FSEC_OK);
		assert_int_equal(olen, blen);
		assert_memory_equal(out, body, blen);
		free(out);
		unlink(op);
	}
	fsec_fw_enc_key_free(dk);
	EVP_PKEY_free(pub);
	free(op);
	free(img);
	free(body);
}

/* Each vector's expected first failing stage, as fleetsec words it. */
static const struct {
	const char *reason;
	enum fsec_err rc;
	const char *detail;
} reasons[] = {
	{"hmac_mismatch", FSEC_ERR_VERIFY, "hmac mismatch"},
	{"kw_unwrap_failed", FSEC_ERR_VERIFY, "key unwrap failed"},
	{"oaep_failed", FSEC_ERR_VERIFY, "oaep failed"},
	{"ecdh_failed", FSEC_ERR_VERIFY, "ecdh failed"},
	{"hash_mismatch", FSEC_ERR_VERIFY, "hash mismatch"},
	{"truncated", FSEC_ERR_PARSE, "truncated"},
};

static void check_negative(const json_t *v)
{
	const char *reason = jstr(json_object_get(v, "expect"), "reason");
	size_t len = 0, i;
	unsigned char *img = slurp(jstr(v, "file"), &len);
	EVP_PKEY *pub = sign_pub(v);
	struct fsec_fw_enc_key *dk = enc_key(jstr(v, "enc_key"), true);
	struct fsec_fw_info info;
	char *op = tu_path(scratch, "never.img"), *ip = vpath(jstr(v, "file"));
	enum fsec_err rc;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(reasons[i].reason, reason) == 0)
			break;
	if (i == sizeof(reasons) / sizeof(reasons[0]))
		fail_msg("%s: unknown expected reason %s", jstr(v, "id"), reason);
	if (pub != NULL) {
		rc = fsec_fw_verify_decrypt_mem(img, len, pub, dk, &info);
		if (rc != reasons[i].rc || strstr(fsec_err_detail(), reasons[i].detail) == NULL)
			fail_msg("%s: expected %s, got %d (%s)", jstr(v, "id"), reason, rc,
				 fsec_err_detail());
		assert_null(strchr(fsec_err_detail(), '\n'));
	}
	rc = fsec_fw_decrypt(ip, op, dk, NULL, false, NULL);
	if (rc != reasons[i].rc || strstr(fsec_err_detail(), reasons[i].detail) == NULL)
		fail_msg("%s: decrypt: expected %s, got %d (%s)", jstr(v, "id"), reason, rc,
			 fsec_err_detail());
	assert_false(tu_exists(op));
	fsec_fw_enc_key_free(dk);
	EVP_PKEY_free(pub);
	free(op);
	free(ip);
	free(img);
}

static void imgtool_vectors(void **state)
{
	size_t i, npos = 0, nneg = 0;
	json_t *v;

	(void)state;
	json_array_foreach(json_object_get(root, "vectors"), i, v) {
		if (strcmp(jstr(v, "kind"), "positive") == 0) {
			check_positive(v);
			npos++;
		} else {
			check_negative(v);
			nneg++;
		}
	}
	/* The set as copied: 10 positives, 12 negatives. */
	assert_int_equal(npos, 10);
	assert_int_equal(nneg, 12);
}

/* The imgtool command's options, mapped onto fsec_fw_sign's. */
static void opts_from_command(const char *cmd, struct fsec_fw_sign_opts *o, char **payload,
			      char **enc)
{
	char *copy = strdup(cmd), *tok, *prev = NULL, *next;
	uint64_t n;

	assert_non_null(copy);
	*payload = *enc = NULL;
	/* The commands are words separated by single spaces. */
	for (tok = copy; tok != NULL; prev = tok, tok = next) {
		next = strchr(tok, ' ');
		if (next != NULL)
			*next++ = '\0';
		if (prev != NULL && strcmp(prev, "-E") == 0) {
			*enc = strdup(tok);
		} else if (prev != NULL && strcmp(prev, "--encrypt-keylen") == 0) {
			o->enc_keylen = (unsigned)strtoul(tok, NULL, 10);
		} else if (prev != NULL && strcmp(prev, "--version") == 0) {
			assert_int_equal(fsec_fw_version_parse(tok, &o->version), FSEC_OK);
		} else if (prev != NULL && strcmp(prev, "--header-size") == 0) {
			n = strtoull(tok, NULL, 0);
			o->header_size = (uint16_t)n;
		} else if (prev != NULL && strcmp(prev, "--slot-size") == 0) {
			o->slot_size = (uint32_t)strtoull(tok, NULL, 0);
		} else if (strcmp(tok, "--pad-header") == 0) {
			o->pad_header = true;
		} else if (strcmp(tok, "--pad") == 0) {
			o->pad = true;
		} else if (strcmp(tok, "--confirm") == 0) {
			o->confirm = true;
		} else if (strcmp(tok, "--clear") == 0) {
			o->enc_clear = true;
		} else if (strcmp(tok, "--save-enctlv") == 0) {
			o->save_enctlv = true;
		} else if (strncmp(tok, "payloads/", 9) == 0) {
			*payload = strdup(tok);
		}
	}
	free(copy);
	assert_non_null(*payload);
	assert_non_null(*enc);
}

/* The TLV of type in an image (first match), or NULL. */
static const unsigned char *find_tlv(const unsigned char *img, size_t len, uint16_t type,
				     uint16_t *tlen)
{
	struct fsec_fw_info info;
	int fd;
	FILE *f = tmpfile();

	assert_non_null(f);
	assert_int_equal(fwrite(img, 1, len, f), len);
	fflush(f);
	fd = fileno(f);
	assert_int_equal(fsec_fw_inspect_fd(fd, len, &info), FSEC_OK);
	fclose(f);
	for (size_t i = 0; i < info.ntlv; i++)
		if (info.tlvs[i].type == type) {
			*tlen = info.tlvs[i].len;
			return img + info.tlvs[i].offset;
		}
	return NULL;
}

/* Re-run each positive's imgtool command with its randomness. */
static void sign_reproduces_imgtool(void **state)
{
	size_t i, exact = 0, partial = 0;
	json_t *v;

	(void)state;
	json_array_foreach(json_object_get(root, "vectors"), i, v) {
		const json_t *im = json_object_get(v, "intermediates");
		struct fsec_fw_sign_opts o = {0};
		unsigned char aes[32], eph[32], *want, *got;
		size_t wlen = 0, glen = 0, n;
		char *payload, *enc_pub, *in, *outp, *signp;
		const char *kw = NULL, *sk = jstr(v, "sign_key");
		struct fsec_fw_enc_key *ek;
		EVP_PKEY *key = NULL;
		uint16_t et = (uint16_t)strtol(jstr(v, "enc_tlv_type"), NULL, 16), l1, l2;
		const unsigned char *t1, *t2;
		enum fsec_err rc;

		if (strcmp(jstr(v, "kind"), "positive") != 0)
			continue;
		opts_from_command(jstr(v, "imgtool_command"), &o, &payload, &enc_pub);
		/* KW vectors: imgtool made them with X25519, then the ENC TLV
		 * was replaced by a key wrap under the vector's KEK. */
		if (et == FSEC_FW_TLV_ENC_KW) {
			kw = jstr(v, "enc_key");
			free(enc_pub);
			enc_pub = strdup(kw);
		}
		ek = enc_key(enc_pub, false);
		n = unhex(jstr(im, "aes_key_hex"), aes, sizeof(aes));
		assert_int_equal(n * 8, o.enc_keylen);
		o.kat_image_key = aes;
		if (json_object_get(im, "ephemeral_private_raw_hex") != NULL)
			unhex(jstr(im, "ephemeral_private_raw_hex"), eph, sizeof(eph));
		else if (json_object_get(im, "ephemeral_private_scalar_hex") != NULL)
			unhex(jstr(im, "ephemeral_private_scalar_hex"), eph, sizeof(eph));
		o.kat_ephemeral = eph;
		o.enc = ek;
		/* RSA signing is not fleetsec's: sign those with Ed25519 and
		 * compare everything but the signature. */
		signp = vpath(strstr(sk, "rsa") != NULL ? "keys/sign-ed25519.pem" : sk);
		assert_int_equal(fsec_key_load_private(signp, &key), FSEC_OK);
		o.key = key;
		in = vpath(payload);
		outp = tu_path(scratch, "ours.img");
		rc = fsec_fw_sign(in, outp, &o);
		if (rc != FSEC_OK)
			fail_msg("%s: sign: %s", jstr(v, "id"), fsec_err_detail());
		want = slurp(jstr(v, "file"), &wlen);
		assert_int_equal(fsec_file_read(outp, 64u << 20, &got, &glen), FSEC_OK);
		if (strstr(sk, "ed25519") != NULL) {
			if (glen != wlen || memcmp(got, want, wlen) != 0)
				fail_msg("%s: not byte-identical to imgtool's image", jstr(v, "id"));
			exact++;
		} else {
			/* Header and encrypted body, the hash, and the ENC TLV
			 * (RSA-OAEP's is randomized: checked by decrypting). */
			size_t body = (size_t)o.header_size +
				      (size_t)json_integer_value(json_object_get(
					      json_object_get(v, "header"), "img_size"));

			assert_memory_equal(got, want, body);
			t1 = find_tlv(got, glen, FSEC_FW_TLV_SHA256, &l1);
			t2 = find_tlv(want, wlen, FSEC_FW_TLV_SHA256, &l2);
			assert_non_null(t1);
			assert_non_null(t2);
			assert_int_equal(l1, l2);
			assert_memory_equal(t1, t2, l1);
			t1 = find_tlv(got, glen, et, &l1);
			t2 = find_tlv(want, wlen, et, &l2);
			assert_non_null(t1);
			assert_non_null(t2);
			assert_int_equal(l1, l2);
			if (et != FSEC_FW_TLV_ENC_RSA2048)
				assert_memory_equal(t1, t2, l1);
			partial++;
		}
		{
			/* Ours decrypts with the vector's private key. */
			struct fsec_fw_enc_key *dk = enc_key(jstr(v, "enc_key"), true);
			char *pp = tu_path(scratch, "ours.plain");

			if (o.enc_clear)
				assert_int_equal(fsec_fw_verify(outp, key, &(struct fsec_fw_info){0}),
						 FSEC_OK);
			else
				assert_int_equal(fsec_fw_decrypt(outp, pp, dk, key, true, NULL),
						 FSEC_OK);
			unlink(pp);
			free(pp);
			fsec_fw_enc_key_free(dk);
		}
		unlink(outp);
		free(got);
		free(want);
		free(outp);
		free(in);
		free(signp);
		free(payload);
		free(enc_pub);
		EVP_PKEY_free(key);
		fsec_fw_enc_key_free(ek);
	}
	/* 7 Ed25519-signed images byte for byte; A03, A04 (ECDSA) and A10
	 * (RSA) all but the signature. */
	assert_int_equal(exact, 7);
	assert_int_equal(partial, 3);
}

/* ---- malformed layouts, made from A01 ---- */

static EVP_PKEY *a01_pub;
static struct fsec_fw_enc_key *a01_dk;

/* A01's unprotected area starts at 4128 (hdr 32 + body 4096); TLV headers
 * (vectors.json "tlvs"): SHA256 at 4132, KEYHASH 4168, ED25519 4204, and
 * ENC_X25519 at 4272, its 80-byte value to 4356. */
#define A01_AREA 4128u
#define A01_KEYHASH 4168u
#define A01_ENC 4272u

static void expect_a01(unsigned char *b, size_t len, enum fsec_err want, const char *why)
{
	struct fsec_fw_info info;
	enum fsec_err rc = fsec_fw_verify_decrypt_mem(b, len, a01_pub, a01_dk, &info);

	if (rc != want || strstr(fsec_err_detail(), why) == NULL)
		fail_msg("expected %d '%s', got %d '%s'", want, why, rc, fsec_err_detail());
	assert_null(strchr(fsec_err_detail(), '\n'));
}

static void set16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void malformed(void **state)
{
	size_t len = 0;
	unsigned char *a = slurp("images/A01-ed25519-x25519-aes128-4k.img", &len), *b;
	char *p = vpath("keys/sign-ed25519.pub.pem");
	struct fsec_fw_enc_key *p256;

	(void)state;
	assert_int_equal(len, 4356);
	assert_int_equal(fsec_key_load_public(p, &a01_pub), FSEC_OK);
	free(p);
	a01_dk = enc_key("keys/enc-x25519.pem", true);
	b = malloc(len);
	assert_non_null(b);

	/* The original passes: each case below differs by its defect only. */
	memcpy(b, a, len);
	expect_a01(b, len, FSEC_OK, "");

	/* Flagged encrypted, the ENC TLV dropped (area shortened). */
	memcpy(b, a, len);
	set16(b + A01_AREA + 2, (unsigned)(A01_ENC - A01_AREA));
	expect_a01(b, A01_ENC, FSEC_ERR_PARSE, "flagged encrypted (AES-128) but no ENC TLV");

	/* Both AES flags. */
	memcpy(b, a, len);
	b[16] |= 0x0c;
	expect_a01(b, len, FSEC_ERR_PARSE, "both the AES-128 and the AES-256");

	/* The AES-256 flag on an 80-byte (AES-128) X25519 TLV. */
	memcpy(b, a, len);
	b[16] = 0x08;
	expect_a01(b, len, FSEC_ERR_PARSE, "ENC_X25519 TLV of 80 bytes, AES-256 needs 96");

	/* A wrong TLV length: 79, the area shortened to match. */
	memcpy(b, a, len);
	set16(b + A01_ENC + 2, 79);
	set16(b + A01_AREA + 2, (unsigned)(len - 1 - A01_AREA));
	expect_a01(b, len - 1, FSEC_ERR_PARSE, "ENC_X25519 TLV of 79 bytes");

	/* A TLV length running past its area. */
	memcpy(b, a, len);
	set16(b + A01_ENC + 2, 81);
	expect_a01(b, len, FSEC_ERR_PARSE, "past the end of its area");

	/* An unknown encryption TLV type. */
	memcpy(b, a, len);
	b[A01_ENC] = 0x35;
	expect_a01(b, len, FSEC_ERR_PARSE, "unknown TLV type 0x35");

	/* Two ENC TLVs: the KEYHASH retyped as an ENC_KW. */
	memcpy(b, a, len);
	b[A01_KEYHASH] = 0x31;
	expect_a01(b, len, FSEC_ERR_PARSE, "more than one ENC TLV");

	/* An ENC TLV of another kind, with a length right for neither. */
	memcpy(b, a, len);
	b[A01_ENC] = 0x32;
	expect_a01(b, len, FSEC_ERR_PARSE, "ENC_EC256 TLV of 80 bytes");

	/* The X25519 SHA-512 type on a SHA-256 TLV: wrong length for it. */
	memcpy(b, a, len);
	b[A01_ENC] = 0x34;
	expect_a01(b, len, FSEC_ERR_PARSE, "ENC_X25519_SHA512 TLV of 80 bytes, AES-128 needs 112");

	/* A key of the wrong type. */
	p256 = enc_key("keys/enc-ec256.pem", true);
	memcpy(b, a, len);
	assert_int_equal(fsec_fw_verify_decrypt_mem(b, len, a01_pub, p256,
						    &(struct fsec_fw_info){0}),
			 FSEC_ERR_WRONG_KEY);
	assert_non_null(strstr(fsec_err_detail(), "needs an X25519 key, this is a P-256 key"));
	fsec_fw_enc_key_free(p256);

	/* The encrypted flag cleared: hashed as stored, which fails. */
	memcpy(b, a, len);
	b[16] = 0;
	expect_a01(b, len, FSEC_ERR_VERIFY, "hash mismatch");

	/* Without the key: refused as encrypted, the signature checked. */
	memcpy(b, a, len);
	assert_int_equal(fsec_fw_verify_mem(b, len, a01_pub, &(struct fsec_fw_info){0}),
			 FSEC_ERR_VERIFY);
	assert_non_null(strstr(fsec_err_detail(), "encrypted (ENC_X25519, AES-128): the signature"));
	/* ... and a forged signature is reported as such, not as encrypted. */
	b[A01_ENC - 10] ^= 1;
	assert_int_equal(fsec_fw_verify_mem(b, len, a01_pub, &(struct fsec_fw_info){0}),
			 FSEC_ERR_VERIFY);
	assert_non_null(strstr(fsec_err_detail(), "bad signature"));

	free(b);
	free(a);
	EVP_PKEY_free(a01_pub);
	fsec_fw_enc_key_free(a01_dk);
}

static void key_files(void **state)
{
	struct fsec_fw_enc_key *k = NULL;
	char *p = tu_path(scratch, "kek");
	static const unsigned char raw[16] = {0xc3, 0x80, 0xe5, 0x63, 0xb7, 0x85, 0x1d, 0x38,
					      0x05, 0x8f, 0xb2, 0xbc, 0xa5, 0x34, 0xad, 0x90};

	(void)state;
	/* The .b64 and the .bin of a KEK are the same key. */
	k = enc_key("keys/enc-aes128kw.b64", true);
	assert_int_equal(k->kind, FW_ENC_KEK);
	assert_int_equal(k->kek_len, 16);
	assert_memory_equal(k->kek, raw, 16);
	fsec_fw_enc_key_free(k);
	k = enc_key("keys/enc-aes256kw.bin", true);
	assert_int_equal(k->kek_len, 32);
	fsec_fw_enc_key_free(k);
	/* A 24-byte file is neither a KEK nor a PEM key. */
	tu_write(p, "0123456789abcdef01234567", 24);
	assert_int_equal(fsec_fw_enc_key_load(p, true, &k), FSEC_ERR_PARSE);
	/* A signing key type is refused. */
	free(p);
	p = vpath("keys/sign-ed25519.pem");
	assert_int_equal(fsec_fw_enc_key_load(p, true, &k), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "unsupported encryption key type"));
	free(p);
	/* A public key where decryption needs the private one. */
	p = vpath("keys/enc-ec256.pub.pem");
	assert_int_equal(fsec_fw_enc_key_load(p, true, &k), FSEC_ERR_INVAL);
	free(p);
	/* HMAC-SHA-512 exists for X25519 only. */
	k = enc_key("keys/enc-ec256.pub.pem", false);
	assert_int_equal(fsec_fw_enc_key_tlv(k, 512), 0);
	assert_int_equal(fsec_fw_enc_key_tlv(k, 256), FSEC_FW_TLV_ENC_EC256);
	fsec_fw_enc_key_free(k);
	k = enc_key("keys/enc-x25519.pub.pem", false);
	assert_int_equal(fsec_fw_enc_key_tlv(k, 512), FSEC_FW_TLV_ENC_X25519_SHA512);
	fsec_fw_enc_key_free(k);
}

/* The ECIES steps against the vector's intermediates for A01: the unwrap
 * reproduces the image key from the TLV, and SHA-512 round-trips. */
static void x25519_sha512_roundtrip(void **state)
{
	struct fsec_fw_enc_key *pub = enc_key("keys/enc-x25519.pub.pem", false);
	struct fsec_fw_enc_key *priv = enc_key("keys/enc-x25519.pem", true);
	struct fsec_fw_enc_key *wrong = enc_key("keys/wrong-enc-x25519.pem", true);
	unsigned char key[32] = {1, 2, 3}, tlv[260], back[32];
	size_t n = 0;

	(void)state;
	for (unsigned kl = 16; kl <= 32; kl += 16) {
		assert_int_equal(fw_enc_wrap(pub, FSEC_FW_TLV_ENC_X25519_SHA512, kl, key, NULL, tlv,
					     &n),
				 FSEC_OK);
		assert_int_equal(n, fw_enc_tlv_len(FSEC_FW_TLV_ENC_X25519_SHA512, kl));
		assert_int_equal(fw_enc_unwrap(priv, FSEC_FW_TLV_ENC_X25519_SHA512, tlv, n, kl, back),
				 FSEC_OK);
		assert_memory_equal(back, key, kl);
		assert_int_equal(fw_enc_unwrap(wrong, FSEC_FW_TLV_ENC_X25519_SHA512, tlv, n, kl, back),
				 FSEC_ERR_VERIFY);
		/* The 64-byte tag is checked whole: its last byte too. */
		tlv[32 + 63] ^= 1;
		assert_int_equal(fw_enc_unwrap(priv, FSEC_FW_TLV_ENC_X25519_SHA512, tlv, n, kl, back),
				 FSEC_ERR_VERIFY);
	}
	/* Fresh ephemeral keys: any first byte of an X25519 public key is
	 * fine (a check meant for P-256 points once refused 0x02/0x03, one
	 * wrap in 128). 2000 wraps miss such a bias with p < 1e-6. */
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(fw_enc_wrap(pub, FSEC_FW_TLV_ENC_X25519, 16, key, NULL, tlv, &n),
				 FSEC_OK);
		assert_int_equal(fw_enc_unwrap(priv, FSEC_FW_TLV_ENC_X25519, tlv, n, 16, back),
				 FSEC_OK);
	}
	fsec_fw_enc_key_free(pub);
	fsec_fw_enc_key_free(priv);
	fsec_fw_enc_key_free(wrong);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(imgtool_vectors),
		cmocka_unit_test(sign_reproduces_imgtool),
		cmocka_unit_test(malformed),
		cmocka_unit_test(key_files),
		cmocka_unit_test(x25519_sha512_roundtrip),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
