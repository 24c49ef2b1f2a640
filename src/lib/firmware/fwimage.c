/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MCUboot images. The layout and imgtool's exact choices are documented in
 * docs/MCUBOOT-FORMAT.md; section numbers below refer to it.
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

#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fwimage.h"
#include "fwimage_int.h"
#include "fleetsec/key.h"
#include "slot_int.h"

/* Streaming chunk: large enough for full-speed hashing, small enough that
 * verify stays within a few MiB of RSS. */
#define CHUNK (256u * 1024u)
/* Both TLV areas have u16 sizes. */
#define AREAS_MAX (2u * 65535u)

const unsigned char fw_boot_magic8[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
					  0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};
/* For max_align > 8 the magic is u16le(max_align) followed by this tail. */
const unsigned char fw_boot_magic_tail[14] = {0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d,
					      0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a};

/* ---- versions ---- */

/* One decimal component: "0" or no leading zero, at most max. */
static bool version_part(const char **s, uint32_t max, uint32_t *out)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return false;
	}
	*s = p;
	*out = (uint32_t)v;
	return true;
}

FSEC_API enum fsec_err fsec_fw_version_parse(const char *s, struct fsec_fw_version *out)
{
	uint32_t maj = 0, min = 0, rev = 0, build = 0;
	const char *p = s;

	if (!version_part(&p, 255, &maj))
		goto bad;
	if (*p == '.') {
		p++;
		if (!version_part(&p, 255, &min))
			goto bad;
		if (*p == '.') {
			p++;
			if (!version_part(&p, 65535, &rev))
				goto bad;
			if (*p == '+') {
				p++;
				if (!version_part(&p, UINT32_MAX, &build))
					goto bad;
			}
		}
	}
	if (*p != '\0')
		goto bad;
	out->major = (uint8_t)maj;
	out->minor = (uint8_t)min;
	out->revision = (uint16_t)rev;
	out->build = build;
	return FSEC_OK;
bad:
	return fsec_seterr(FSEC_ERR_INVAL,
			   "invalid version '%.40s': use MAJ.MIN.REV+BUILD (major, minor <= 255, "
			   "revision <= 65535, later parts optional)",
			   s);
}

FSEC_API const char *fsec_fw_version_str(const struct fsec_fw_version *v, char *buf, size_t cap)
{
	snprintf(buf, cap, "%u.%u.%u+%u", v->major, v->minor, v->revision, v->build);
	return buf;
}

FSEC_API int fsec_fw_version_cmp(const struct fsec_fw_version *a, const struct fsec_fw_version *b)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	if (a->revision != b->revision)
		return a->revision < b->revision ? -1 : 1;
	if (a->build != b->build)
		return a->build < b->build ? -1 : 1;
	return 0;
}

FSEC_API uint32_t fsec_fw_version_counter(const struct fsec_fw_version *v)
{
	return ((uint32_t)v->major << 24) + ((uint32_t)v->minor << 16) + v->revision;
}

FSEC_API enum fsec_err fsec_fw_deps_parse(const char *s, struct fsec_fw_dep *deps, size_t *n)
{
	const char *p = s;
	size_t count = 0;

	while (*p != '\0') {
		char ver[64];
		const char *close;
		uint32_t id;
		size_t vlen;

		if (count > 0) {
			if (*p++ != ',')
				goto bad;
			while (*p == ' ')
				p++;
		}
		if (*p++ != '(' || !version_part(&p, 255, &id) || *p++ != ',')
			goto bad;
		while (*p == ' ')
			p++;
		close = strchr(p, ')');
		if (close == NULL || (vlen = (size_t)(close - p)) >= sizeof(ver))
			goto bad;
		memcpy(ver, p, vlen);
		ver[vlen] = '\0';
		if (count == FSEC_FW_MAX_DEPS)
			return fsec_seterr(FSEC_ERR_INVAL, "at most %d dependencies", FSEC_FW_MAX_DEPS);
		if (fsec_fw_version_parse(ver, &deps[count].min_version) != FSEC_OK)
			goto bad;
		deps[count].image_id = (uint8_t)id;
		count++;
		p = close + 1;
	}
	if (count == 0)
		goto bad;
	*n = count;
	return FSEC_OK;
bad:
	return fsec_seterr(FSEC_ERR_INVAL,
			   "invalid dependency list '%.60s': use (ID,MAJ.MIN.REV+BUILD)[,(ID,...)]", s);
}

void fw_put_version(unsigned char *p, const struct fsec_fw_version *v)
{
	p[0] = v->major;
	p[1] = v->minor;
	fw_put16(p + 2, v->revision);
	fw_put32(p + 4, v->build);
}

static void get_version(const unsigned char *p, struct fsec_fw_version *v)
{
	v->major = p[0];
	v->minor = p[1];
	v->revision = fw_get16(p + 2);
	v->build = fw_get32(p + 4);
}

/* ---- reading an image: from a descriptor or from memory ---- */

/* Read exactly len bytes at off; running past the end is "truncated". */
enum fsec_err fw_src_read(const struct fw_src *s, uint64_t off, void *buf, size_t len)
{
	unsigned char *p = buf;

	/* Written so that it cannot overflow: off <= size is checked first. */
	if (off > s->size || len > s->size - off)
		return fsec_seterr(FSEC_ERR_PARSE, "truncated: needs %llu bytes, the image has %llu",
				   (unsigned long long)off + len, (unsigned long long)s->size);
	if (s->slot != NULL)
		return fsec_slot_read(s->slot, off, buf, len);
	if (s->tail != NULL) {
		/* Both bounds written so as not to overflow: off + len <= size
		 * was checked above. */
		if (off + len <= s->head_len)
			memcpy(buf, s->mem + off, len);
		else if (off >= s->tail_off)
			memcpy(buf, s->tail + (off - s->tail_off), len);
		else
			return fsec_seterr(FSEC_ERR_PARSE, "malformed: the TLVs are not where the "
							   "header puts them");
		return FSEC_OK;
	}
	if (s->fd < 0) {
		memcpy(buf, s->mem + off, len);
		return FSEC_OK;
	}
	while (len > 0) {
		ssize_t n = pread(s->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fsec_seterr(FSEC_ERR_IO, "read failed: %s", strerror(errno));
		if (n == 0)
			return fsec_seterr(FSEC_ERR_PARSE, "truncated: the file shrank while reading");
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return FSEC_OK;
}

static bool unprotected_type_allowed(uint16_t t)
{
	/* MCUboot's allow-list (image_validate.c): anything else in the
	 * unprotected area rejects the image. */
	return t == 0x01 || t == 0x02 || t == 0x03 || (t >= 0x10 && t <= 0x12) ||
	       (t >= 0x20 && t <= 0x25) || (t >= 0x30 && t <= 0x34);
}

size_t fw_hash_len_of(uint16_t type)
{
	return type == FSEC_FW_TLV_SHA256 ? 32 : type == FSEC_FW_TLV_SHA384 ? 48 : 64;
}

const EVP_MD *fw_hash_md(uint16_t type)
{
	return type == FSEC_FW_TLV_SHA256   ? EVP_sha256()
	       : type == FSEC_FW_TLV_SHA384 ? EVP_sha384()
					    : EVP_sha512();
}

/* Walk one TLV area (info header excluded) at file offset base. */
static enum fsec_err walk_area(const unsigned char *a, size_t len, uint64_t base, bool prot,
			       struct fsec_fw_info *info)
{
	size_t off = 0;

	while (off < len) {
		struct fsec_fw_tlv *t;
		uint16_t type, vlen;

		/* off < len, so len - off cannot underflow. */
		if (len - off < 4)
			return fsec_seterr(FSEC_ERR_PARSE, "malformed: TLV header at offset %llu runs "
							   "past the end of its area",
					   (unsigned long long)(base + off));
		type = fw_get16(a + off);
		vlen = fw_get16(a + off + 2);
		if (vlen > len - off - 4)
			return fsec_seterr(FSEC_ERR_PARSE,
					   "malformed: TLV 0x%02x at offset %llu has length %u, past "
					   "the end of its area",
					   type, (unsigned long long)(base + off), vlen);
		if (info->ntlv == FSEC_FW_MAX_TLVS)
			return fsec_seterr(FSEC_ERR_TOO_LARGE, "malformed: more than %d TLVs",
					   FSEC_FW_MAX_TLVS);
		t = &info->tlvs[info->ntlv++];
		t->type = type;
		t->len = vlen;
		t->offset = base + off + 4;
		t->protected_area = prot;
		off += 4 + (size_t)vlen;
	}
	return FSEC_OK;
}

/* The encryption flags and the ENC TLV must agree (section "encrypted
 * images" of docs/FW-ENCRYPTION.md): one flag at most, a key TLV when
 * flagged, and its exact length for the flag's key size, since the
 * unwrapping reads fixed offsets inside it. */
static enum fsec_err check_enc(struct fsec_fw_info *info)
{
	uint32_t f = info->flags & (FSEC_FW_F_ENCRYPTED_AES128 | FSEC_FW_F_ENCRYPTED_AES256);
	size_t want;

	if (f == (FSEC_FW_F_ENCRYPTED_AES128 | FSEC_FW_F_ENCRYPTED_AES256))
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: both the AES-128 and the AES-256 "
						   "encryption flags are set");
	if (f == 0)
		return FSEC_OK; /* an ENC TLV alone is ignored, as MCUboot does */
	info->enc_keylen = f == FSEC_FW_F_ENCRYPTED_AES128 ? 16 : 32;
	if (info->enc_type == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: flagged encrypted (AES-%u) but no "
						   "ENC TLV holds the key",
				   info->enc_keylen * 8);
	want = fw_enc_tlv_len(info->enc_type, info->enc_keylen);
	if (info->enc_len != want)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: %s TLV of %u bytes, AES-%u needs %zu",
				   fsec_fw_enc_tlv_name(info->enc_type), info->enc_len,
				   info->enc_keylen * 8, want);
	return FSEC_OK;
}

/* Interpret the TLVs walk_area collected. areas holds the file bytes from
 * areas_off on. */
static enum fsec_err check_tlvs(const unsigned char *areas, uint64_t areas_off,
				struct fsec_fw_info *info)
{
	bool seen_hash = false, seen_pure = false;

	for (size_t i = 0; i < info->ntlv; i++) {
		const struct fsec_fw_tlv *t = &info->tlvs[i];
		const unsigned char *v = areas + (t->offset - areas_off);

		if (t->protected_area) {
			/* Unknown protected TLVs are covered by the hash and
			 * ignored, as MCUboot does. */
			if (t->type == FSEC_FW_TLV_SEC_CNT) {
				if (t->len != 4 || info->has_security_counter)
					return fsec_seterr(FSEC_ERR_PARSE, "malformed: %s security counter TLV",
							   t->len != 4 ? "bad length of the" : "duplicated");
				info->has_security_counter = true;
				info->security_counter = fw_get32(v);
			} else if (t->type == FSEC_FW_TLV_DEPENDENCY) {
				if (t->len != 12)
					return fsec_seterr(FSEC_ERR_PARSE, "malformed: dependency TLV of %u bytes", t->len);
				if (info->ndeps == FSEC_FW_MAX_DEPS)
					return fsec_seterr(FSEC_ERR_TOO_LARGE, "malformed: more than %d dependencies",
							   FSEC_FW_MAX_DEPS);
				info->deps[info->ndeps].image_id = v[0];
				get_version(v + 4, &info->deps[info->ndeps].min_version);
				info->ndeps++;
			}
			continue;
		}
		if (!unprotected_type_allowed(t->type))
			return fsec_seterr(FSEC_ERR_PARSE,
					   "malformed: unknown TLV type 0x%02x in the unprotected area",
					   t->type);
		if (t->type >= FSEC_FW_TLV_SHA256 && t->type <= FSEC_FW_TLV_SHA512) {
			if (seen_hash)
				return fsec_seterr(FSEC_ERR_PARSE, "malformed: more than one hash TLV");
			if (t->len != fw_hash_len_of(t->type))
				return fsec_seterr(FSEC_ERR_PARSE, "malformed: hash TLV 0x%02x of %u bytes",
						   t->type, t->len);
			seen_hash = true;
			info->hash_type = t->type;
			info->hash_len = t->len;
			memcpy(info->hash, v, t->len);
		} else if (t->type == FSEC_FW_TLV_SIG_PURE) {
			if (seen_pure || t->len != 1 || v[0] != 1)
				return fsec_seterr(FSEC_ERR_PARSE, "malformed: bad SIG_PURE TLV");
			seen_pure = true;
			info->pure = true;
		} else if (fw_enc_tlv_len(t->type, 16) != 0) {
			/* One wrapped key: a second could make two readers of
			 * the same image decrypt it differently. */
			if (info->enc_type != 0)
				return fsec_seterr(FSEC_ERR_PARSE, "malformed: more than one ENC TLV");
			info->enc_type = t->type;
			info->enc_len = t->len;
			info->enc_offset = t->offset;
		}
	}
	if (!seen_hash)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: no hash TLV");
	return check_enc(info);
}

static void find_trailer(const struct fw_src *s, struct fsec_fw_info *info)
{
	unsigned char m[16];
	unsigned max_align = 0, magic_area;
	unsigned char ok;
	uint64_t at;

	info->image_ok = -1;
	if (s->size < info->tlv_end || s->size - info->tlv_end < 16 + 8 ||
	    fw_src_read(s, s->size - 16, m, sizeof(m)) != FSEC_OK)
		goto none;
	if (memcmp(m, fw_boot_magic8, 16) == 0)
		max_align = 8;
	else if (memcmp(m + 2, fw_boot_magic_tail, 14) == 0 && (fw_get16(m) == 16 || fw_get16(m) == 32))
		max_align = fw_get16(m);
	if (max_align == 0)
		goto none;
	magic_area = max_align > 16 ? max_align : 16;
	if (s->size - info->tlv_end < (uint64_t)magic_area + max_align)
		goto none;
	at = s->size - magic_area - max_align;
	if (fw_src_read(s, at, &ok, 1) != FSEC_OK)
		goto none;
	info->has_trailer = true;
	info->trailer_max_align = max_align;
	info->image_ok = ok == 0x01;
none:
	fsec_clearerr();
}

/* Structure checks (section 10.2 step 1). On success hdr holds the header
 * and *areas the file bytes [hashed_len - protect_tlv_size, tlv_end): the
 * very bytes that were checked, which verification hashes rather than
 * reading them again. */
static enum fsec_err parse(const struct fw_src *s, struct fsec_fw_info *info,
			   unsigned char hdr[FSEC_FW_HDR_LEN], unsigned char **areas)
{
	unsigned char tinfo[4], *buf = NULL;
	uint64_t off, uoff;
	uint16_t utot;
	enum fsec_err rc;

	memset(info, 0, sizeof(*info));
	info->file_size = s->size;
	if (s->size < FSEC_FW_HDR_LEN)
		return fsec_seterr(FSEC_ERR_PARSE, "truncated: %llu bytes is shorter than the header",
				   (unsigned long long)s->size);
	if ((rc = fw_src_read(s, 0, hdr, FSEC_FW_HDR_LEN)) != FSEC_OK)
		return rc;
	if (fw_get32(hdr) != FSEC_FW_MAGIC)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: bad magic 0x%08x (not an MCUboot image)",
				   fw_get32(hdr));
	info->load_addr = fw_get32(hdr + 4);
	info->hdr_size = fw_get16(hdr + 8);
	info->protect_tlv_size = fw_get16(hdr + 10);
	info->img_size = fw_get32(hdr + 12);
	info->flags = fw_get32(hdr + 16);
	get_version(hdr + 20, &info->version);
	if (info->hdr_size < FSEC_FW_HDR_LEN)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: header size %u is smaller than the "
						   "%u-byte header",
				   info->hdr_size, FSEC_FW_HDR_LEN);
	/* 16-bit plus 32-bit fields summed in 64 bits: no overflow possible. */
	off = (uint64_t)info->hdr_size + info->img_size;
	if ((rc = fw_src_read(s, off, tinfo, sizeof(tinfo))) != FSEC_OK)
		return rc;
	if (fw_get16(tinfo) == FSEC_FW_TLV_PROT_MAGIC) {
		if (fw_get16(tinfo + 2) != info->protect_tlv_size || info->protect_tlv_size < 4)
			return fsec_seterr(FSEC_ERR_PARSE,
					   "malformed: protected TLV area of %u bytes, header says %u",
					   fw_get16(tinfo + 2), info->protect_tlv_size);
	} else if (info->protect_tlv_size != 0) {
		return fsec_seterr(FSEC_ERR_PARSE,
				   "malformed: header announces %u bytes of protected TLVs, none found",
				   info->protect_tlv_size);
	}
	uoff = off + info->protect_tlv_size;
	if ((rc = fw_src_read(s, uoff, tinfo, sizeof(tinfo))) != FSEC_OK)
		return rc;
	if (fw_get16(tinfo) != FSEC_FW_TLV_MAGIC)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: no TLV area after the payload");
	utot = fw_get16(tinfo + 2);
	if (utot < 4)
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: TLV area size %u", utot);
	info->hashed_len = uoff;
	info->tlv_end = uoff + utot;
	/* Both areas, at most AREAS_MAX bytes: bounded however large the image. */
	buf = malloc((size_t)(info->tlv_end - off));
	if (buf == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = fw_src_read(s, off, buf, (size_t)(info->tlv_end - off))) != FSEC_OK)
		goto out;
	if (info->protect_tlv_size > 0 &&
	    (rc = walk_area(buf + 4, info->protect_tlv_size - 4u, off + 4, true, info)) != FSEC_OK)
		goto out;
	if ((rc = walk_area(buf + info->protect_tlv_size + 4, utot - 4u, uoff + 4, false, info)) !=
		    FSEC_OK ||
	    (rc = check_tlvs(buf, off, info)) != FSEC_OK)
		goto out;
	find_trailer(s, info);
	*areas = buf;
	buf = NULL;
out:
	free(buf);
	return rc;
}

/* ---- verification ---- */

struct fw_hasher {
	EVP_MD_CTX *md;
	unsigned char *keep; /* pure signatures: a copy of everything hashed */
	size_t kept;
};

static enum fsec_err feed(struct fw_hasher *h, const unsigned char *p, size_t n)
{
	if (!EVP_DigestUpdate(h->md, p, n))
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "hash failed");
	if (h->keep != NULL) {
		memcpy(h->keep + h->kept, p, n);
		h->kept += n;
	}
	return FSEC_OK;
}

/* Feed file bytes [off, end) in fixed-size chunks; visit (if any) sees
 * each chunk too. */
enum fsec_err fw_stream(const struct fw_src *s, uint64_t off, uint64_t end, struct fw_hasher *h,
		       enum fsec_err (*visit)(const unsigned char *p, size_t n, uint64_t at, void *arg),
		       void *arg)
{
	unsigned char *chunk = NULL;
	enum fsec_err rc = FSEC_OK;

	if (s->fd < 0 && s->slot == NULL) {
		if (h != NULL)
			rc = feed(h, s->mem + off, (size_t)(end - off));
		if (rc == FSEC_OK && visit != NULL)
			rc = visit(s->mem + off, (size_t)(end - off), off, arg);
		return rc;
	}
	chunk = malloc(CHUNK);
	if (chunk == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (s->fd >= 0)
		posix_fadvise(s->fd, (off_t)off, (off_t)(end - off), POSIX_FADV_SEQUENTIAL);
	while (rc == FSEC_OK && off < end) {
		size_t n = end - off > CHUNK ? CHUNK : (size_t)(end - off);

		rc = fw_src_read(s, off, chunk, n);
		if (rc == FSEC_OK && h != NULL)
			rc = feed(h, chunk, n);
		if (rc == FSEC_OK && visit != NULL)
			rc = visit(chunk, n, off, arg);
		off += n;
	}
	free(chunk);
	return rc;
}

/* What hashing does with the body besides hashing it: decrypt it first
 * (ctr), and write what was hashed to a stage (st), all of it or the body
 * alone (payload_only). */
struct body_pass {
	struct fw_hasher *h;
	EVP_CIPHER_CTX *ctr;
	struct fsec_file_stage *st;
	bool payload_only;
	uint64_t body_start;
	unsigned char *buf;
};

static enum fsec_err body_chunk(const unsigned char *p, size_t n, uint64_t at, void *arg)
{
	struct body_pass *b = arg;
	enum fsec_err rc = FSEC_OK;
	/* The header padding before body_start is never encrypted. */
	size_t pre = at >= b->body_start ? 0
		     : b->body_start - at > n ? n
					      : (size_t)(b->body_start - at);

	if (pre > 0 && ((rc = feed(b->h, p, pre)) != FSEC_OK ||
			(b->st != NULL && !b->payload_only &&
			 (rc = fsec_file_stage_write(b->st, p, pre)) != FSEC_OK)))
		return rc;
	for (size_t off = pre; rc == FSEC_OK && off < n;) {
		size_t m = n - off > CHUNK ? CHUNK : n - off;
		const unsigned char *q = p + off;

		if (b->ctr != NULL) {
			if ((rc = fw_enc_ctr(b->ctr, q, b->buf, m)) != FSEC_OK)
				break;
			q = b->buf;
		}
		if ((rc = feed(b->h, q, m)) == FSEC_OK && b->st != NULL)
			rc = fsec_file_stage_write(b->st, q, m);
		off += m;
	}
	return rc;
}

/* The hashed region is the header, the payload and the protected TLVs. The
 * header and the TLVs are taken from the bytes parse() checked, so a file
 * that changes under us cannot show one header and hash another. With a
 * body pass, the body is decrypted before it is hashed, as MCUboot does in
 * the secondary slot. */
static enum fsec_err hash_image(const struct fw_src *s, const struct fsec_fw_info *info,
				const unsigned char *hdr, const unsigned char *areas,
				unsigned char *digest, unsigned char *keep, struct body_pass *bp)
{
	struct fw_hasher h = {.md = EVP_MD_CTX_new(), .keep = keep};
	enum fsec_err rc = FSEC_ERR_CRYPTO;

	if (h.md == NULL || !EVP_DigestInit_ex(h.md, fw_hash_md(info->hash_type), NULL)) {
		fsec_seterr_ossl(rc, "hash set-up failed");
		goto out;
	}
	if (bp != NULL) {
		bp->h = &h;
		bp->body_start = info->hdr_size;
		if (bp->buf == NULL && (bp->ctr != NULL) && (bp->buf = malloc(CHUNK)) == NULL) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if ((rc = feed(&h, hdr, FSEC_FW_HDR_LEN)) != FSEC_OK ||
	    (bp != NULL && bp->st != NULL && !bp->payload_only &&
	     (rc = fsec_file_stage_write(bp->st, hdr, FSEC_FW_HDR_LEN)) != FSEC_OK) ||
	    (rc = fw_stream(s, FSEC_FW_HDR_LEN, info->hashed_len - info->protect_tlv_size,
			    bp != NULL ? NULL : &h, bp != NULL ? body_chunk : NULL, bp)) != FSEC_OK ||
	    (rc = feed(&h, areas, info->protect_tlv_size)) != FSEC_OK)
		goto out;
	if (!EVP_DigestFinal_ex(h.md, digest, NULL))
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "hash failed");
out:
	EVP_MD_CTX_free(h.md);
	if (bp != NULL)
		bp->h = NULL;
	return rc;
}

/* Everything after the TLVs must be erased flash (0xff), except the boot
 * trailer's magic and image_ok: nothing unsigned rides along into a slot. */
struct tail_rule {
	uint64_t magic_at, ok_at;
	bool trailer;
};

static enum fsec_err check_tail_chunk(const unsigned char *p, size_t n, uint64_t at, void *arg)
{
	const struct tail_rule *t = arg;

	for (size_t i = 0; i < n; i++) {
		uint64_t o = at + i;

		if (p[i] == 0xff || (t->trailer && (o >= t->magic_at || o == t->ok_at)))
			continue;
		return fsec_seterr(FSEC_ERR_PARSE, "malformed: unsigned data after the image at "
						   "offset %llu (only erased 0xff bytes and the boot "
						   "trailer may follow it)",
				   (unsigned long long)o);
	}
	return FSEC_OK;
}

static enum fsec_err check_tail(const struct fw_src *s, const struct fsec_fw_info *info)
{
	unsigned magic_area = info->trailer_max_align > 16 ? info->trailer_max_align : 16;
	struct tail_rule t = {.trailer = info->has_trailer,
			      .magic_at = s->size - 16,
			      .ok_at = s->size - magic_area - info->trailer_max_align};

	if (s->size <= info->tlv_end)
		return FSEC_OK;
	return fw_stream(s, info->tlv_end, s->size, NULL, check_tail_chunk, &t);
}

/* The signature TLV type a key produces, or 0 for unsupported keys. */
uint16_t fw_sig_type_of(EVP_PKEY *key)
{
	if (fsec_key_check_signing(key) != FSEC_OK)
		return 0;
	return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? FSEC_FW_TLV_ED25519
							     : FSEC_FW_TLV_ECDSA_SIG;
}

/* Ed25519 signs msg itself (PureEdDSA); ECDSA signs the SHA-256 digest the
 * caller already has (prehash), so verification never needs the image in
 * memory. */
static enum fsec_err sig_verify(EVP_PKEY *pub, const unsigned char *sig, size_t siglen,
				const unsigned char *msg, size_t msglen)
{
	EVP_PKEY_CTX *ctx;
	int ok;

	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_ED25519)
		return fsec_key_verify(pub, msg, msglen, sig, siglen);
	{
		/* imgtool --pad-sig appends zero bytes after the DER, which MCUboot
		 * ignores: verify the DER alone, and allow only zeros after it. */
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
		size_t der_len = (size_t)(p - sig);

		ECDSA_SIG_free(es);
		if (es == NULL) {
			ERR_clear_error();
			return fsec_seterr(FSEC_ERR_VERIFY, "signature is not DER");
		}
		for (size_t i = der_len; i < siglen; i++)
			if (sig[i] != 0)
				return fsec_seterr(FSEC_ERR_VERIFY, "bytes after the DER signature");
		siglen = der_len;
	}
	ctx = EVP_PKEY_CTX_new(pub, NULL);
	ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
	     EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
	     EVP_PKEY_verify(ctx, sig, siglen, msg, msglen) == 1;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return ok ? FSEC_OK : fsec_seterr(FSEC_ERR_VERIFY, "signature does not verify");
}

/* Every signature attributed to pub must verify over msg (the digest, or
 * the image for pure Ed25519); MCUboot lets the last one decide, which is
 * weaker. Errors: VERIFY ("unsigned", "bad signature"), WRONG_KEY. */
static enum fsec_err check_sigs(struct fsec_fw_info *info, const unsigned char *areas,
				uint64_t areas_off, EVP_PKEY *pub, const unsigned char *digest,
				const unsigned char *image)
{
	unsigned char *spki = NULL, keyhash[64];
	uint16_t want = fw_sig_type_of(pub);
	size_t spki_len = 0, matched = 0;
	bool any_sig = false;
	enum fsec_err rc = FSEC_ERR_VERIFY;

	if ((rc = fsec_key_spki_der(pub, &spki, &spki_len)) != FSEC_OK)
		goto out;
	if (!EVP_Digest(spki, spki_len, keyhash, NULL, fw_hash_md(info->hash_type), NULL)) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "hash failed");
		goto out;
	}
	for (size_t i = 0; i < info->ntlv; i++) {
		const struct fsec_fw_tlv *t = &info->tlvs[i], *prev = i > 0 ? t - 1 : NULL;
		const unsigned char *pv;
		bool names_key;

		if (t->protected_area ||
		    (t->type != FSEC_FW_TLV_ED25519 && t->type != FSEC_FW_TLV_ECDSA_SIG))
			continue;
		any_sig = true;
		if (t->type != want || prev == NULL || prev->protected_area)
			continue;
		pv = areas + (prev->offset - areas_off);
		names_key = (prev->type == FSEC_FW_TLV_KEYHASH && prev->len == info->hash_len &&
			     CRYPTO_memcmp(pv, keyhash, info->hash_len) == 0) ||
			    (prev->type == FSEC_FW_TLV_PUBKEY && prev->len == spki_len &&
			     CRYPTO_memcmp(pv, spki, spki_len) == 0);
		if (!names_key)
			continue;
		matched++;
		if (want == FSEC_FW_TLV_ECDSA_SIG && info->hash_type != FSEC_FW_TLV_SHA256) {
			rc = fsec_seterr(FSEC_ERR_VERIFY,
					 "bad signature: ECDSA P-256 needs a SHA-256 image hash");
			goto out;
		}
		rc = sig_verify(pub, areas + (t->offset - areas_off), t->len,
				info->pure && want == FSEC_FW_TLV_ED25519 ? image : digest,
				info->pure && want == FSEC_FW_TLV_ED25519 ? (size_t)info->hashed_len
									  : info->hash_len);
		if (rc != FSEC_OK) {
			fsec_seterr(rc, "bad signature: the signature by this key does not verify");
			goto out;
		}
		info->sig_type = t->type;
	}
	if (!any_sig) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "unsigned: the image carries no signature");
		goto out;
	}
	if (matched == 0) {
		rc = fsec_seterr(FSEC_ERR_WRONG_KEY, "wrong key: no signature by this key (key hash "
						  "does not match)");
		goto out;
	}
	rc = FSEC_OK;
out:
	OPENSSL_free(spki);
	return rc;
}

/* Copy file bytes to the stage: the decrypted image keeps its TLVs and
 * trailer as they are. */
static enum fsec_err stage_chunk(const unsigned char *p, size_t n, uint64_t at, void *arg)
{
	(void)at;
	return fsec_file_stage_write(arg, p, n);
}

/*
 * Verify (pub non-NULL) and/or decrypt (dk non-NULL) the image at s. With
 * st, what was hashed goes to st as well (the decrypted image, or its body
 * alone with payload_only); the caller commits st only on success.
 */
static enum fsec_err verify_src(const struct fw_src *s, EVP_PKEY *pub,
				const struct fsec_fw_enc_key *dk, struct fsec_file_stage *st,
				bool payload_only, struct fsec_fw_info *out)
{
	unsigned char hdr[FSEC_FW_HDR_LEN], *areas = NULL, *image = NULL;
	unsigned char digest[64], key[32];
	struct body_pass bp = {.st = st, .payload_only = payload_only};
	struct fsec_fw_info *info = NULL;
	enum fsec_err rc = FSEC_ERR_VERIFY;
	uint64_t areas_off;
	bool decrypt, hash_ok;

	if (pub != NULL && fw_sig_type_of(pub) == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "unsupported verification key (Ed25519 or P-256)");
	/* Filled privately and handed out only once everything verified:
	 * unauthenticated fields must not leak to a caller that skips rc. */
	info = malloc(sizeof(*info));
	if (info == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = parse(s, info, hdr, &areas)) != FSEC_OK)
		goto out;
	areas_off = info->hashed_len - info->protect_tlv_size;
	/* MCUboot decrypts only what the header flags as encrypted. */
	decrypt = dk != NULL && info->enc_keylen != 0;
	if (st != NULL && !decrypt) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "not encrypted: the header has no encryption flag");
		goto out;
	}
	if (decrypt) {
		if ((rc = fw_enc_unwrap(dk, info->enc_type, areas + (info->enc_offset - areas_off),
					info->enc_len, info->enc_keylen, key)) != FSEC_OK)
			goto out;
		bp.ctr = fw_enc_ctr_new(key, info->enc_keylen);
		OPENSSL_cleanse(key, sizeof(key));
		if (bp.ctr == NULL) {
			rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "AES-CTR set-up failed");
			goto out;
		}
	}
	if (info->pure) {
		if (info->hashed_len > FSEC_FW_PURE_MAX) {
			rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "pure-signed image larger than %u bytes",
					 FSEC_FW_PURE_MAX);
			goto out;
		}
		image = malloc((size_t)info->hashed_len);
		if (image == NULL) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if ((rc = hash_image(s, info, hdr, areas, digest, image,
			     decrypt || st != NULL ? &bp : NULL)) != FSEC_OK)
		goto out;
	hash_ok = CRYPTO_memcmp(digest, info->hash, info->hash_len) == 0;
	if (!hash_ok && info->enc_keylen != 0 && !decrypt && pub != NULL && !info->pure) {
		/* Without the key only the signature over the stated hash can
		 * be checked: say so, and whether it holds, but never accept. */
		rc = check_sigs(info, areas, areas_off, pub, info->hash, NULL);
		if (rc == FSEC_OK)
			rc = fsec_seterr(FSEC_ERR_VERIFY,
					 "encrypted (%s, AES-%u): the signature by this key over the "
					 "stated hash is valid, but the hash of the plaintext needs "
					 "the decryption key",
					 fsec_fw_enc_tlv_name(info->enc_type), info->enc_keylen * 8);
		goto out;
	}
	if (!hash_ok) {
		rc = decrypt ? fsec_seterr(FSEC_ERR_VERIFY, "hash mismatch: the decrypted image does "
							    "not match its hash (modified, or its body "
							    "was not encrypted)")
			     : info->enc_keylen != 0
				       ? fsec_seterr(FSEC_ERR_VERIFY, "hash mismatch: the image is "
								      "encrypted (%s); give the "
								      "decryption key",
						     fsec_fw_enc_tlv_name(info->enc_type))
				       : fsec_seterr(FSEC_ERR_VERIFY, "hash mismatch: the image was "
								      "modified");
		goto out;
	}
	if (pub != NULL && (rc = check_sigs(info, areas, areas_off, pub, digest, image)) != FSEC_OK)
		goto out;
	if ((rc = check_tail(s, info)) != FSEC_OK)
		goto out;
	if (st != NULL && !payload_only &&
	    ((rc = fsec_file_stage_write(st, areas, (size_t)(info->tlv_end - areas_off))) != FSEC_OK ||
	     (info->tlv_end < s->size &&
	      (rc = fw_stream(s, info->tlv_end, s->size, NULL, stage_chunk, st)) != FSEC_OK)))
		goto out;
	info->decrypted = decrypt;
	*out = *info;
	rc = FSEC_OK;
out:
	free(info);
	free(image);
	free(areas);
	free(bp.buf);
	EVP_CIPHER_CTX_free(bp.ctr);
	return rc;
}

enum fsec_err fw_open_src(const char *path, struct fw_src *s)
{
	s->mem = NULL;
	s->slot = NULL;
	s->tail = NULL;
	return fsec_file_open_regular(path, &s->fd, &s->size);
}

FSEC_API enum fsec_err fsec_fw_verify(const char *path, EVP_PKEY *pub, struct fsec_fw_info *out)
{
	struct fw_src s;
	enum fsec_err rc = FSEC_ERR_VERIFY;

	fsec_clearerr();
	if ((rc = fw_open_src(path, &s)) != FSEC_OK)
		return rc;
	rc = verify_src(&s, pub, NULL, NULL, false, out);
	close(s.fd);
	return rc;
}

FSEC_API enum fsec_err fsec_fw_verify_fd(int fd, uint64_t len, EVP_PKEY *pub,
					 struct fsec_fw_info *out)
{
	struct fw_src s = {.fd = fd, .mem = NULL, .slot = NULL, .size = len};

	fsec_clearerr();
	return verify_src(&s, pub, NULL, NULL, false, out);
}

FSEC_API enum fsec_err fsec_fw_verify_mem(const unsigned char *buf, size_t len, EVP_PKEY *pub,
					  struct fsec_fw_info *out)
{
	struct fw_src s = {.fd = -1, .mem = buf, .slot = NULL, .size = len};

	fsec_clearerr();
	return verify_src(&s, pub, NULL, NULL, false, out);
}

FSEC_API enum fsec_err fsec_fw_inspect_fd(int fd, uint64_t len, struct fsec_fw_info *out)
{
	unsigned char hdr[FSEC_FW_HDR_LEN], *areas = NULL;
	struct fw_src s = {.fd = fd, .mem = NULL, .slot = NULL, .size = len};
	enum fsec_err rc;

	fsec_clearerr();
	rc = parse(&s, out, hdr, &areas);
	free(areas);
	return rc;
}

enum fsec_err fw_inspect_src(const struct fw_src *s, struct fsec_fw_info *out,
			     unsigned char **areas)
{
	unsigned char hdr[FSEC_FW_HDR_LEN];

	return parse(s, out, hdr, areas);
}

/* A slot source of len bytes: the image need not fill the slot, but it may
 * not run past it. */
static enum fsec_err slot_src(struct fsec_slot *slot, uint64_t len, struct fw_src *s)
{
	s->fd = -1;
	s->mem = NULL;
	s->slot = slot;
	s->size = len;
	s->tail = NULL;
	if (len > fsec_slot_size(slot))
		return fsec_seterr(FSEC_ERR_PARSE, "truncated: needs %llu bytes, slot %s has %llu",
				   (unsigned long long)len, fsec_slot_path(slot),
				   (unsigned long long)fsec_slot_size(slot));
	return FSEC_OK;
}

enum fsec_err fsec_fw_verify_slot(struct fsec_slot *slot, uint64_t len, EVP_PKEY *pub,
				  struct fsec_fw_info *out)
{
	struct fw_src s;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = slot_src(slot, len, &s)) != FSEC_OK)
		return rc;
	return verify_src(&s, pub, NULL, NULL, false, out);
}

enum fsec_err fsec_fw_inspect_slot(struct fsec_slot *slot, uint64_t len, struct fsec_fw_info *out)
{
	unsigned char hdr[FSEC_FW_HDR_LEN], *areas = NULL;
	struct fw_src s;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = slot_src(slot, len, &s)) != FSEC_OK)
		return rc;
	rc = parse(&s, out, hdr, &areas);
	free(areas);
	return rc;
}

FSEC_API enum fsec_err fsec_fw_inspect(const char *path, struct fsec_fw_info *out)
{
	unsigned char hdr[FSEC_FW_HDR_LEN], *areas = NULL;
	struct fw_src s;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fw_open_src(path, &s)) != FSEC_OK)
		return rc;
	rc = parse(&s, out, hdr, &areas);
	free(areas);
	close(s.fd);
	return rc;
}

FSEC_API enum fsec_err fsec_fw_verify_decrypt(const char *path, EVP_PKEY *pub,
					      const struct fsec_fw_enc_key *dk,
					      struct fsec_fw_info *out)
{
	struct fw_src s;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fw_open_src(path, &s)) != FSEC_OK)
		return rc;
	rc = verify_src(&s, pub, dk, NULL, false, out);
	close(s.fd);
	return rc;
}

FSEC_API enum fsec_err fsec_fw_verify_decrypt_mem(const unsigned char *buf, size_t len,
						  EVP_PKEY *pub, const struct fsec_fw_enc_key *dk,
						  struct fsec_fw_info *out)
{
	struct fw_src s = {.fd = -1, .mem = buf, .slot = NULL, .size = len};

	fsec_clearerr();
	return verify_src(&s, pub, dk, NULL, false, out);
}

FSEC_API enum fsec_err fsec_fw_decrypt(const char *in_path, const char *out_path,
				       const struct fsec_fw_enc_key *dk, EVP_PKEY *pub,
				       bool payload_only, struct fsec_fw_info *out)
{
	struct fsec_file_stage *st = NULL;
	struct fsec_fw_info info;
	struct fw_src s = {.fd = -1};
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fw_open_src(in_path, &s)) != FSEC_OK)
		return rc;
	/* The plaintext is the vendor's secret: readable by the owner only. */
	if ((rc = fsec_file_stage_open(out_path, 0600, 0, &st)) != FSEC_OK)
		goto out;
	if ((rc = verify_src(&s, pub, dk, st, payload_only, &info)) != FSEC_OK ||
	    (rc = fsec_file_stage_commit(st)) != FSEC_OK)
		goto out;
	if (out != NULL)
		*out = info;
out:
	fsec_file_stage_free(st);
	close(s.fd);
	return rc;
}
