/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the one capped growable buffer, and the one capped array grower
 * (curl's dynbuf and its `toobig`).
 *
 * Every buffer that grows with outside input has a hard cap set when it is
 * made, so that a hostile input meets TOO_LARGE and never exhausts memory.
 * A dynbuf keeps a NUL after its bytes, so text can be used as a C string.
 * Errors are sticky: after a failed add, later adds do nothing and return
 * the same error, so a writer may add many pieces and check once at the end.
 * Not thread-safe (one buffer, one thread).
 */
#ifndef FLEETSEC_DYNBUF_INT_H
#define FLEETSEC_DYNBUF_INT_H

#include <stddef.h>
#include <string.h>

#include "fleetsec/common.h"

struct fsec_dynbuf {
	char *buf;         /* NULL until the first add */
	size_t len;        /* bytes held, not counting the NUL */
	size_t alloc;      /* bytes allocated */
	size_t max;        /* the cap on len */
	enum fsec_err err; /* the first failure, sticky */
};

/* An empty buffer that will refuse to hold more than max bytes. */
void fsec_dynbuf_init(struct fsec_dynbuf *d, size_t max);

/* Free the bytes and reset to empty (the cap is kept). NULL is a no-op. */
void fsec_dynbuf_cleanup(struct fsec_dynbuf *d);

/* Append len bytes. Errors: TOO_LARGE (past the cap), NOMEM; or the
 * earlier failure. On failure the bytes held so far are freed. */
FSEC_WUR enum fsec_err fsec_dynbuf_add(struct fsec_dynbuf *d, const void *mem, size_t len);

/* fsec_dynbuf_add for a hot loop (the privacy filter writes each member in
 * pieces): in place while the bytes and the NUL fit what is allocated
 * (never past the cap: alloc is at most max + 1), else fsec_dynbuf_add,
 * whose failure stays in the buffer (sticky). */
static inline void fsec_dynbuf_put(struct fsec_dynbuf *d, const void *mem, size_t len)
{
	if (d->err == FSEC_OK && d->buf != NULL && len < d->alloc - d->len) {
		memcpy(d->buf + d->len, mem, len);
		d->len += len;
		d->buf[d->len] = '\0';
		return;
	}
	if (fsec_dynbuf_add(d, mem, len) != FSEC_OK)
		return; /* the error stays in d */
}

/* Append a string. Errors: as fsec_dynbuf_add. */
FSEC_WUR enum fsec_err fsec_dynbuf_addstr(struct fsec_dynbuf *d, const char *s);

/* Append printf output. Errors: as fsec_dynbuf_add, and INVAL if the format
 * fails. */
enum fsec_err fsec_dynbuf_addf(struct fsec_dynbuf *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The bytes held ("" when empty; never NULL) and their count. */
const char *fsec_dynbuf_ptr(const struct fsec_dynbuf *d);
size_t fsec_dynbuf_len(const struct fsec_dynbuf *d);

/* Hand the bytes over: *out gets a NUL-terminated malloc'd copy the caller
 * frees (an empty string when empty), *len its length if len is not NULL,
 * and the buffer is empty again. Errors: the buffer's sticky error, NOMEM. */
FSEC_WUR enum fsec_err fsec_dynbuf_take(struct fsec_dynbuf *d, char **out, size_t *len);

/*
 * Make room in *arr (entries of elem bytes, *cap of them allocated) for
 * entry number n, that is n + 1 entries, doubling from 16 up to max
 * entries. Grows only when n == *cap, so appending costs amortised O(1)
 * rather than one realloc per entry. On failure *arr and *cap are
 * unchanged. Errors: TOO_LARGE (n >= max), OVERFLOW, NOMEM.
 */
FSEC_WUR enum fsec_err fsec_array_grow(void **arr, size_t *cap, size_t n, size_t elem, size_t max);

#endif
