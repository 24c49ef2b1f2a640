/* SPDX-License-Identifier: Apache-2.0 */
/* What a fleetsecd endpoint answers, before it becomes HTTP. */
#ifndef FLEETSEC_REPLY_H
#define FLEETSEC_REPLY_H

#include <stddef.h>

#include "fleetsec/common.h"

#define FSEC_REPLY_REASON_MAX 256

struct fsec_reply {
	int status;                         /* HTTP status */
	char reason[FSEC_REPLY_REASON_MAX]; /* for errors and the log */
	char *body;                         /* malloc'd, may be NULL */
	size_t len;
	const char *content_type;
	int retry_after; /* seconds, for 202: come back then (RFC 7030 section 4.2.3) */
};

/* Free the body and clear r. NULL is a no-op. */
FSEC_API void fsec_reply_cleanup(struct fsec_reply *r);

#endif
