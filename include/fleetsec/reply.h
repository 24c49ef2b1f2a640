/* SPDX-License-Identifier: Apache-2.0 */
/* What a fleetsecd endpoint answers, before it becomes HTTP. */
#ifndef FLEETSEC_REPLY_H
#define FLEETSEC_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetsec/common.h"

#define FSEC_REPLY_REASON_MAX 256

struct fsec_reply {
	int status;                         /* HTTP status */
	char reason[FSEC_REPLY_REASON_MAX]; /* for errors and the log */
	char *body;                         /* malloc'd, may be NULL */
	size_t len;
	const char *content_type;
	int retry_after; /* seconds, for 202: come back then (RFC 7030 section 4.2.3) */
	/* A body too large to copy (GET /v1/firmware): file_len bytes of the
	 * open file file_fd from file_off, instead of body. The reply owns the
	 * descriptor while has_file is set; a sender that takes it over clears
	 * has_file. */
	bool has_file;
	int file_fd;
	uint64_t file_off, file_len;
	char content_range[96]; /* a Content-Range header to send, or "" */
	bool accept_ranges;     /* send Accept-Ranges: bytes */
};

/* Free the body, close a file body still owned, and clear r. NULL is a
 * no-op. */
FSEC_API void fsec_reply_cleanup(struct fsec_reply *r);

#endif
