/* SPDX-License-Identifier: Apache-2.0 */
/* The error contract every fuzz target checks (common.h): a reason is one
 * NUL-terminated line, and every failure gives one. */
#ifndef FSEC_FUZZ_CHECK_H
#define FSEC_FUZZ_CHECK_H

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "fleetsec/common.h"

/* Mirrors DETAIL_MAX in src/lib/err.c: the thread-local reason buffer. */
#define FUZZ_DETAIL_CAP 512

static inline void fuzz_check_detail(enum fsec_err rc)
{
	const char *d = fsec_err_detail();

	if (d == NULL || memchr(d, '\0', FUZZ_DETAIL_CAP) == NULL)
		abort(); /* not NUL-terminated within its buffer */
	if (strchr(d, '\n') != NULL || strchr(d, '\r') != NULL)
		abort(); /* errors must be one line */
	if (rc != FSEC_OK && d[0] == '\0')
		abort(); /* every refusal must say why */
	/* A success may leave entries on OpenSSL's per-thread error queue
	 * (its decoders push one for each format they try). Their strings
	 * outlive the input, libFuzzer then sees more mallocs than frees and
	 * runs a full leak scan after every such input: ten times slower. */
	ERR_clear_error();
}

#endif
