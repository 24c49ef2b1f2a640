/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: recording the one-line reason for a failure. */
#ifndef FLEETSEC_ERR_INT_H
#define FLEETSEC_ERR_INT_H

#include "fleetsec/common.h"

/* Record a reason and return rc, so that callers can write
 * `return fsec_seterr(FSEC_ERR_PARSE, "...")`. */
enum fsec_err fsec_seterr(enum fsec_err rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* As fsec_seterr, with OpenSSL's oldest queued error reason (the root
 * cause) appended. Drains
 * OpenSSL's error queue so that a stale entry never explains a later failure. */
enum fsec_err fsec_seterr_ossl(enum fsec_err rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Forget any recorded reason (start of a top-level operation). */
void fsec_clearerr(void);

/* Size arithmetic that cannot silently wrap. */
#define fsec_add_overflow(a, b, res) __builtin_add_overflow((a), (b), (res))
#define fsec_mul_overflow(a, b, res) __builtin_mul_overflow((a), (b), (res))

#endif
