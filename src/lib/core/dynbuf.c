/* SPDX-License-Identifier: Apache-2.0 */
/* The one capped growable buffer and array grower (dynbuf_int.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf_int.h"
#include "err_int.h"

void fsec_dynbuf_init(struct fsec_dynbuf *d, size_t max)
{
	memset(d, 0, sizeof(*d));
	/* One byte is always kept for the NUL, so len + 1 never wraps. */
	d->max = max < SIZE_MAX ? max : SIZE_MAX - 1;
}

void fsec_dynbuf_cleanup(struct fsec_dynbuf *d)
{
	if (d == NULL)
		return;
	free(d->buf);
	fsec_dynbuf_init(d, d->max);
}

/* Record the first failure and drop what was held: a half-built text must
 * never be mistaken for the whole one. */
static enum fsec_err fail(struct fsec_dynbuf *d, enum fsec_err rc)
{
	free(d->buf);
	d->buf = NULL;
	d->len = d->alloc = 0;
	d->err = rc;
	return rc;
}

/* Room for len more bytes and a NUL. */
static enum fsec_err reserve(struct fsec_dynbuf *d, size_t len)
{
	size_t need, ncap;
	char *g;

	if (d->err != FSEC_OK)
		return d->err;
	/* len is the caller's and may be anything: compare without adding. */
	if (len > d->max || d->len > d->max - len)
		return fail(d, fsec_seterr(FSEC_ERR_TOO_LARGE, "more than %zu bytes", d->max));
	need = d->len + len + 1; /* d->len + len <= max < SIZE_MAX */
	if (need <= d->alloc)
		return FSEC_OK;
	ncap = d->alloc == 0 ? 256 : d->alloc;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	/* Never allocate past the cap's worth. */
	if (ncap > d->max + 1)
		ncap = d->max + 1; /* >= need, since need <= max + 1 */
	if ((g = realloc(d->buf, ncap)) == NULL)
		return fail(d, fsec_seterr(FSEC_ERR_NOMEM, "out of memory"));
	d->buf = g;
	d->alloc = ncap;
	return FSEC_OK;
}

enum fsec_err fsec_dynbuf_add(struct fsec_dynbuf *d, const void *mem, size_t len)
{
	enum fsec_err rc = reserve(d, len);

	if (rc != FSEC_OK)
		return rc;
	if (len > 0)
		memcpy(d->buf + d->len, mem, len);
	d->len += len;
	d->buf[d->len] = '\0';
	return FSEC_OK;
}

enum fsec_err fsec_dynbuf_addstr(struct fsec_dynbuf *d, const char *s)
{
	return fsec_dynbuf_add(d, s, strlen(s));
}

enum fsec_err fsec_dynbuf_addf(struct fsec_dynbuf *d, const char *fmt, ...)
{
	va_list ap;
	enum fsec_err rc;
	int n;

	if (d->err != FSEC_OK)
		return d->err;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return fail(d, fsec_seterr(FSEC_ERR_INVAL, "output format failed"));
	if ((rc = reserve(d, (size_t)n)) != FSEC_OK)
		return rc;
	va_start(ap, fmt);
	vsnprintf(d->buf + d->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	d->len += (size_t)n;
	return FSEC_OK;
}

const char *fsec_dynbuf_ptr(const struct fsec_dynbuf *d)
{
	return d->buf != NULL ? d->buf : "";
}

size_t fsec_dynbuf_len(const struct fsec_dynbuf *d)
{
	return d->len;
}

enum fsec_err fsec_dynbuf_take(struct fsec_dynbuf *d, char **out, size_t *len)
{
	char *s;

	if (d->err != FSEC_OK)
		return d->err;
	s = d->buf != NULL ? d->buf : strdup("");
	if (s == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (len != NULL)
		*len = d->len;
	*out = s;
	d->buf = NULL;
	fsec_dynbuf_cleanup(d);
	return FSEC_OK;
}

enum fsec_err fsec_array_grow(void **arr, size_t *cap, size_t n, size_t elem, size_t max)
{
	size_t ncap, bytes;
	void *g;

	if (n < *cap)
		return FSEC_OK;
	if (n >= max)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "more than %zu entries", max);
	ncap = *cap == 0 ? 16 : *cap > max / 2 ? max : *cap * 2;
	if (ncap > max)
		ncap = max;
	if (ncap <= n)
		ncap = n + 1; /* n < max, so n + 1 <= max */
	if (fsec_mul_overflow(ncap, elem, &bytes))
		return fsec_seterr(FSEC_ERR_OVERFLOW, "size overflow");
	if ((g = realloc(*arr, bytes)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	*arr = g;
	*cap = ncap;
	return FSEC_OK;
}
