/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: building endpoint replies. */
#ifndef FLEETSEC_REPLY_INT_H
#define FLEETSEC_REPLY_INT_H

#include "fleetsec/reply.h"

/* Make r a refusal: status, a one-line reason as text/plain, no body. */
void fsec_reply_error(struct fsec_reply *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
