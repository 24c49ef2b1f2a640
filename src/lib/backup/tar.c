/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The POSIX ustar archive inside a backup: a writer and a strict reader for
 * the only members a backup holds (regular files with short names). The
 * audit's tar walker (audit/tar.c) reads any firmware tarball leniently;
 * this one refuses anything fleetsec would not have written.
 */
#include <stdio.h>
#include <string.h>

#include "backup_int.h"
#include "err_int.h"

/* ustar header field offsets and sizes (POSIX.1-1988). */
#define H_NAME 0
#define H_MODE 100
#define H_UID 108
#define H_GID 116
#define H_SIZE 124
#define H_MTIME 136
#define H_CHKSUM 148
#define H_TYPE 156
#define H_LINK 157
#define H_MAGIC 257
#define H_VERSION 263
#define H_PREFIX 345
/* 11 octal digits: the largest size or time a plain ustar field holds. */
#define OCT11_MAX 077777777777ull

bool bk_name_ok(const char *name)
{
	size_t n = strlen(name), slashes = 0;

	if (n == 0 || n > BK_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool start = i == 0 || name[i - 1] == '/';

		if (c == '/') {
			/* An empty part ("a//b", "/a", "a/") or a second level. */
			if (start || i + 1 == n || ++slashes > 1)
				return false;
			continue;
		}
		if (start && c == '.')
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static unsigned checksum(const unsigned char *h)
{
	unsigned sum = 0;

	for (size_t i = 0; i < BK_TAR_BLOCK; i++)
		sum += i >= H_CHKSUM && i < H_CHKSUM + 8 ? (unsigned)' ' : h[i];
	return sum;
}

/* Append n bytes (NULL: zeros). */
static enum fsec_err put(struct bk_out *tar, const void *data, size_t n)
{
	/* tar->len <= tar->cap always, so the subtraction cannot wrap. */
	if (n > tar->cap - tar->len)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "archive larger than planned");
	if (data != NULL)
		memcpy(tar->buf + tar->len, data, n);
	else
		memset(tar->buf + tar->len, 0, n);
	tar->len += n;
	return FSEC_OK;
}

enum fsec_err bk_tar_size(size_t len, size_t *total)
{
	size_t padded;

	if (fsec_add_overflow(len, (size_t)BK_TAR_BLOCK - 1, &padded) ||
	    fsec_add_overflow(*total, padded / BK_TAR_BLOCK * BK_TAR_BLOCK + BK_TAR_BLOCK, total))
		return fsec_seterr(FSEC_ERR_OVERFLOW, "archive size overflows");
	return FSEC_OK;
}

enum fsec_err bk_tar_add(struct bk_out *tar, const char *name, unsigned mode,
			 int64_t mtime, const unsigned char *data, size_t len)
{
	unsigned char h[BK_TAR_BLOCK];
	enum fsec_err rc;

	if (!bk_name_ok(name))
		return fsec_seterr(FSEC_ERR_INVAL, "'%.120s': a name a backup cannot hold", name);
	/* FSEC_BACKUP_MAX keeps every member far below 8 GiB; checked anyway,
	 * since the field would silently wrap. */
	if ((uint64_t)len > OCT11_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: too large for the archive", name);
	if (mtime < 0 || (uint64_t)mtime > OCT11_MAX)
		mtime = 0;
	memset(h, 0, sizeof(h));
	memcpy(h + H_NAME, name, strlen(name));
	snprintf((char *)h + H_MODE, 8, "%07o", mode & 0777u);
	snprintf((char *)h + H_UID, 8, "%07o", 0u);
	snprintf((char *)h + H_GID, 8, "%07o", 0u);
	snprintf((char *)h + H_SIZE, 12, "%011llo", (unsigned long long)len);
	snprintf((char *)h + H_MTIME, 12, "%011llo", (unsigned long long)mtime);
	h[H_TYPE] = '0';
	memcpy(h + H_MAGIC, "ustar", 6);
	memcpy(h + H_VERSION, "00", 2);
	snprintf((char *)h + H_CHKSUM, 8, "%06o", checksum(h));
	h[H_CHKSUM + 7] = ' ';
	if ((rc = put(tar, h, sizeof(h))) != FSEC_OK || (rc = put(tar, data, len)) != FSEC_OK ||
	    (rc = put(tar, NULL, (BK_TAR_BLOCK - len % BK_TAR_BLOCK) % BK_TAR_BLOCK)) != FSEC_OK)
		return rc;
	return FSEC_OK;
}

enum fsec_err bk_tar_finish(struct bk_out *tar)
{
	return put(tar, NULL, 2 * BK_TAR_BLOCK);
}

/* An octal field: digits, then only NULs or spaces to its end. */
static bool octal(const unsigned char *f, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		v = v * 8 + (uint64_t)(f[i] - '0');
		/* At most 11 digits fit a field, so v cannot wrap before this. */
		if (v > max)
			return false;
	}
	if (i == 0)
		return false;
	for (; i < n; i++)
		if (f[i] != '\0' && f[i] != ' ')
			return false;
	*out = v;
	return true;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

enum fsec_err bk_tar_next(const unsigned char *buf, size_t len, size_t *off,
			  struct bk_member *m, bool *end)
{
	const unsigned char *h;
	uint64_t size, mode, sum, padded;
	size_t at = *off;

	/* at <= len always (it only grows by checked amounts below). */
	if (len - at < BK_TAR_BLOCK)
		return fsec_seterr(FSEC_ERR_PARSE, "archive truncated at byte %zu", at);
	h = buf + at;
	if (all_zero(h, BK_TAR_BLOCK)) {
		/* The end: whatever follows must be padding. */
		if (!all_zero(h, len - at))
			return fsec_seterr(FSEC_ERR_PARSE, "data after the end of the archive");
		*end = true;
		return FSEC_OK;
	}
	if (!octal(h + H_CHKSUM, 8, 0777777, &sum) || sum != checksum(h))
		return fsec_seterr(FSEC_ERR_PARSE, "bad header checksum at byte %zu", at);
	if (memcmp(h + H_MAGIC, "ustar", 6) != 0 || memcmp(h + H_VERSION, "00", 2) != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "not a ustar header at byte %zu", at);
	if (h[H_TYPE] != '0' || h[H_LINK] != 0 || h[H_PREFIX] != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "not a plain file at byte %zu", at);
	/* The name field holds its NUL: at most BK_NAME_MAX bytes of name. */
	if (memchr(h + H_NAME, 0, BK_NAME_MAX + 1) == NULL)
		return fsec_seterr(FSEC_ERR_PARSE, "unterminated name at byte %zu", at);
	memcpy(m->name, h + H_NAME, BK_NAME_MAX + 1);
	if (!bk_name_ok(m->name))
		return fsec_seterr(FSEC_ERR_PARSE, "bad member name at byte %zu", at);
	if (!octal(h + H_MODE, 8, 0777, &mode) || !octal(h + H_SIZE, 12, OCT11_MAX, &size))
		return fsec_seterr(FSEC_ERR_PARSE, "%s: bad mode or size", m->name);
	at += BK_TAR_BLOCK;
	/* size <= OCT11_MAX: rounding it up cannot wrap a 64-bit value; it
	 * must fit what is left of the buffer. */
	padded = (size + BK_TAR_BLOCK - 1) / BK_TAR_BLOCK * BK_TAR_BLOCK;
	if (padded > (uint64_t)(len - at))
		return fsec_seterr(FSEC_ERR_PARSE, "%s: truncated", m->name);
	m->mode = (unsigned)mode;
	m->data = buf + at;
	m->len = (size_t)size;
	*off = at + (size_t)padded;
	*end = false;
	return FSEC_OK;
}
