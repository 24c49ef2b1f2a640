/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tar walker: POSIX ustar with the GNU long-name ('L', 'K') and pax ('x')
 * extensions that image build systems emit, handing each regular file and
 * symlink to a callback. It knows nothing of what it walks for (the firmware
 * audit is its user). It only reads from memory and never touches the file
 * system, so a member name like "../../etc/passwd" or an absolute link
 * cannot reach outside the image; such names are still refused, because a
 * root filesystem has none.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "tar_int.h"

#define BLOCK 512u
#define NAME_MAX_LEN 4095u
/* Long names and pax headers are small; anything bigger is not a name. */
#define EXT_MAX (64u * 1024u)

struct pending {
	char name[NAME_MAX_LEN + 1];
	char link[NAME_MAX_LEN + 1];
	bool has_name, has_link, has_size;
	uint64_t size;
};

/* An octal field (NUL/space padded), or GNU base-256 when the top bit of the
 * first byte is set. */
static bool field_num(const unsigned char *f, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		/* Base-256: a negative number (0xff lead) is never a size. */
		if (f[0] == 0xff)
			return false;
		v = f[0] & 0x7f;
		for (i = 1; i < n; i++) {
			/* v * 256 + byte must stay below 2^63 */
			if (v > (UINT64_MAX >> 9))
				return false;
			v = (v << 8) | f[i];
		}
		*out = v;
		return true;
	}
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > (UINT64_MAX >> 4))
			return false; /* the next digit would overflow */
		v = v * 8 + (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return false;
	*out = v;
	return true;
}

static bool checksum_ok(const unsigned char *h)
{
	uint64_t want;
	unsigned long usum = 0;
	long ssum = 0;

	if (!field_num(h + 148, 8, &want))
		return false;
	for (size_t i = 0; i < BLOCK; i++) {
		unsigned char c = i >= 148 && i < 156 ? ' ' : h[i];

		usum += c;
		ssum += (signed char)c;
	}
	/* Some old tars summed signed chars; both are accepted. */
	return want == usum || (ssum >= 0 && want == (uint64_t)ssum);
}

/* Normalise a member name into out: no leading "/" or "./", no empty or "."
 * components, no trailing "/". Refuses "..". Returns false if refused. */
static bool normalise(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	while (*in != '\0') {
		size_t n;

		while (*in == '/')
			in++;
		n = strcspn(in, "/");
		if (n == 0)
			break;
		if (n == 2 && in[0] == '.' && in[1] == '.')
			return false;
		if (!(n == 1 && in[0] == '.')) {
			if (o + n + 2 > cap)
				return false;
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, in, n);
			o += n;
		}
		in += n;
	}
	out[o] = '\0';
	return true;
}

/* A bounded copy of a fixed-size, maybe unterminated field. */
static void field_str(const unsigned char *f, size_t n, char *out, size_t cap)
{
	size_t len = strnlen((const char *)f, n);

	if (len >= cap)
		len = cap - 1;
	memcpy(out, f, len);
	out[len] = '\0';
}

/* pax records: "LEN key=value\n", LEN counting the whole record. */
static enum fsec_err parse_pax(const unsigned char *d, size_t len, struct pending *p)
{
	size_t off = 0;

	while (off < len) {
		uint64_t rlen = 0;
		size_t i = off, klen;
		const unsigned char *rec, *eq, *val;

		while (i < len && d[i] >= '0' && d[i] <= '9' && i - off < 8)
			rlen = rlen * 10 + (uint64_t)(d[i++] - '0');
		/* The record must hold its length, a space, "k=" and a newline,
		 * and fit in what is left. */
		if (i == off || i >= len || d[i] != ' ' || rlen < (uint64_t)(i - off) + 4 ||
		    rlen > len - off)
			return fsec_seterr(FSEC_ERR_PARSE, "malformed pax header record");
		rec = d + i + 1;
		val = d + off + rlen - 1; /* the newline */
		if (*val != '\n' || (eq = memchr(rec, '=', (size_t)(val - rec))) == NULL)
			return fsec_seterr(FSEC_ERR_PARSE, "malformed pax header record");
		klen = (size_t)(eq - rec);
		size_t vlen = (size_t)(val - (eq + 1));

		if (klen == 4 && memcmp(rec, "path", 4) == 0) {
			if (vlen > NAME_MAX_LEN || memchr(eq + 1, '\0', vlen) != NULL)
				return fsec_seterr(FSEC_ERR_PARSE, "pax path too long or with NUL");
			memcpy(p->name, eq + 1, vlen);
			p->name[vlen] = '\0';
			p->has_name = true;
		} else if (klen == 8 && memcmp(rec, "linkpath", 8) == 0) {
			if (vlen > NAME_MAX_LEN || memchr(eq + 1, '\0', vlen) != NULL)
				return fsec_seterr(FSEC_ERR_PARSE, "pax linkpath too long or with NUL");
			memcpy(p->link, eq + 1, vlen);
			p->link[vlen] = '\0';
			p->has_link = true;
		} else if (klen == 4 && memcmp(rec, "size", 4) == 0) {
			uint64_t v = 0;

			if (vlen == 0 || vlen > 19)
				return fsec_seterr(FSEC_ERR_PARSE, "bad pax size");
			for (size_t k = 0; k < vlen; k++) {
				if (eq[1 + k] < '0' || eq[1 + k] > '9')
					return fsec_seterr(FSEC_ERR_PARSE, "bad pax size");
				v = v * 10 + (uint64_t)(eq[1 + k] - '0');
			}
			p->size = v;
			p->has_size = true;
		}
		off += (size_t)rlen;
	}
	return FSEC_OK;
}

enum fsec_err fsec_tar_walk(const unsigned char *buf, size_t len, unsigned max_members,
			    fsec_tar_cb cb, void *ctx)
{
	static const unsigned char zero[BLOCK];
	struct pending *p = NULL;
	char raw[NAME_MAX_LEN + 1], name[NAME_MAX_LEN + 1];
	enum fsec_err rc = FSEC_ERR_PARSE;
	size_t off = 0, members = 0;
	bool ended = false;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	while (len - off >= BLOCK) {
		const unsigned char *h = buf + off;
		uint64_t size, padded;
		char type = (char)h[156];
		const unsigned char *data;

		if (memcmp(h, zero, BLOCK) == 0) {
			ended = true;
			break;
		}
		if (!checksum_ok(h) || !field_num(h + 124, 12, &size)) {
			fsec_seterr(rc, "bad tar header at offset %zu", off);
			goto out;
		}
		if (p->has_size)
			size = p->size;
		off += BLOCK;
		/* The member's data, padded to a block, must be inside the
		 * archive; computed so that nothing can wrap. */
		padded = size > UINT64_MAX - BLOCK ? UINT64_MAX : (size + BLOCK - 1) / BLOCK * BLOCK;
		if (padded > len - off) {
			fsec_seterr(rc, "tar member at offset %zu runs past the end", off - BLOCK);
			goto out;
		}
		data = buf + off;
		off += (size_t)padded;
		if (++members > max_members) {
			rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "more than %u members in the archive",
					 max_members);
			goto out;
		}
		if (type == 'L' || type == 'K') {
			char *dst = type == 'L' ? p->name : p->link;

			if (size == 0 || size > NAME_MAX_LEN + 1) {
				fsec_seterr(rc, "GNU long name of %llu bytes", (unsigned long long)size);
				goto out;
			}
			memcpy(dst, data, (size_t)size);
			dst[size - 1 < NAME_MAX_LEN ? size - 1 : NAME_MAX_LEN] = '\0';
			dst[strnlen(dst, (size_t)size)] = '\0';
			if (type == 'L')
				p->has_name = true;
			else
				p->has_link = true;
			continue;
		}
		if (type == 'x') {
			if (size > EXT_MAX) {
				fsec_seterr(rc, "pax header of %llu bytes", (unsigned long long)size);
				goto out;
			}
			if (parse_pax(data, (size_t)size, p) != FSEC_OK)
				goto out;
			continue;
		}
		if (type == 'g')
			continue; /* global pax defaults: nothing the audit needs */
		if (p->has_name) {
			snprintf(raw, sizeof(raw), "%s", p->name);
		} else {
			char pre[156], nm[101];

			field_str(h + 345, 155, pre, sizeof(pre));
			field_str(h, 100, nm, sizeof(nm));
			if (memcmp(h + 257, "ustar", 5) == 0 && pre[0] != '\0')
				snprintf(raw, sizeof(raw), "%s/%s", pre, nm);
			else
				snprintf(raw, sizeof(raw), "%s", nm);
		}
		if (!normalise(raw, name, sizeof(name))) {
			fsec_seterr(rc, "tar member '%.80s' escapes the root", raw);
			goto out;
		}
		if ((type == '0' || type == '\0' || type == '7') && name[0] != '\0') {
			struct fsec_tar_entry e = {
				.kind = FSEC_TAR_FILE, .name = name, .data = data, .size = size};
			enum fsec_err frc = cb(&e, ctx);

			if (frc != FSEC_OK) {
				rc = frc;
				goto out;
			}
		} else if (type == '2') {
			char target[NAME_MAX_LEN + 1];
			struct fsec_tar_entry e = {.kind = FSEC_TAR_SYMLINK, .name = name, .link = target};
			enum fsec_err lrc;

			if (p->has_link)
				snprintf(target, sizeof(target), "%s", p->link);
			else
				field_str(h + 157, 100, target, sizeof(target));
			if ((lrc = cb(&e, ctx)) != FSEC_OK) {
				rc = lrc;
				goto out;
			}
		}
		memset(p, 0, sizeof(*p));
	}
	/* A long name or pax header must be followed by its member. */
	if ((!ended && off != len) || p->has_name || p->has_link || p->has_size) {
		fsec_seterr(rc, "truncated tar archive");
		goto out;
	}
	rc = FSEC_OK;
out:
	free(p);
	return rc;
}
