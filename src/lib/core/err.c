/* SPDX-License-Identifier: Apache-2.0 */
/* The error enum's names and the thread-local one-line detail
 * (common.h, err_int.h). Details are sanitised: no control characters. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "err_int.h"

#define DETAIL_MAX 512

static _Thread_local char detail[DETAIL_MAX];

FSEC_API const char *fsec_strerror(enum fsec_err rc)
{
	switch (rc) {
	case FSEC_OK: return "success";
	case FSEC_ERR_NOMEM: return "out of memory";
	case FSEC_ERR_INVAL: return "invalid argument";
	case FSEC_ERR_PARSE: return "malformed input";
	case FSEC_ERR_TOO_LARGE: return "input too large";
	case FSEC_ERR_OVERFLOW: return "size overflow";
	case FSEC_ERR_VERIFY: return "verification failed";
	case FSEC_ERR_CRYPTO: return "cryptographic operation failed";
	case FSEC_ERR_IO: return "I/O error";
	case FSEC_ERR_DB: return "registry error";
	case FSEC_ERR_NET: return "network error";
	case FSEC_ERR_PERM: return "permission denied";
	case FSEC_ERR_EXISTS: return "already exists";
	case FSEC_ERR_NOTFOUND: return "not found";
	case FSEC_ERR_POLICY: return "refused by policy";
	case FSEC_ERR_BUSY: return "registry busy";
	case FSEC_ERR_WRONG_KEY: return "not signed by this key";
	case FSEC_ERR_UNAVAILABLE: return "registry unreachable";
	}
	return "unknown error";
}

FSEC_API const char *fsec_err_detail(void)
{
	return detail;
}

void fsec_clearerr(void)
{
	detail[0] = '\0';
}

/* A reason often quotes outside text (a PEM label, a JSON key, a file name):
 * control characters in it could break the one-line promise or drive the
 * operator's terminal, so C0/C1 controls, DEL and the Unicode line and
 * paragraph separators become '?'. */
static void sanitize(void)
{
	unsigned char *p = (unsigned char *)detail;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			p[0] = p[1] = '?';
		else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
			p[0] = p[1] = p[2] = '?';
	}
}

/* Formatting goes through a scratch buffer so that a caller may pass the
 * current detail as an argument ("%s: %s", path, fsec_err_detail()). */
enum fsec_err fsec_seterr(enum fsec_err rc, const char *fmt, ...)
{
	char buf[DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	memcpy(detail, buf, sizeof(detail));
	sanitize();
	/* Whatever OpenSSL queued on the way here is not this reason's cause.
	 * Left queued, a later fsec_seterr_ossl() would blame it for an
	 * unrelated failure, and a long-lived thread would carry its strings. */
	ERR_clear_error();
	return rc;
}

enum fsec_err fsec_seterr_ossl(enum fsec_err rc, const char *fmt, ...)
{
	va_list ap;
	unsigned long e, first = 0;
	size_t n;

	char buf[DETAIL_MAX];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	memcpy(detail, buf, sizeof(detail));
	/* The oldest entry is the root cause; later ones only wrap it. */
	while ((e = ERR_get_error()) != 0)
		if (first == 0)
			first = e;
	n = strlen(detail);
	if (first != 0 && n < sizeof(detail) - 3) {
		const char *why = ERR_reason_error_string(first);

		snprintf(detail + n, sizeof(detail) - n, " (%s)",
			 why != NULL ? why : "unknown OpenSSL error");
	}
	sanitize();
	return rc;
}
