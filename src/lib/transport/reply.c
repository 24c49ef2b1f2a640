/* SPDX-License-Identifier: Apache-2.0 */
/* A fleetsecd answer before it becomes HTTP (reply.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reply_int.h"

FSEC_API void fsec_reply_cleanup(struct fsec_reply *r)
{
	if (r == NULL)
		return;
	free(r->body);
	if (r->has_file)
		close(r->file_fd);
	memset(r, 0, sizeof(*r));
}

void fsec_reply_error(struct fsec_reply *r, int status, const char *fmt, ...)
{
	va_list ap;

	free(r->body);
	r->body = NULL;
	r->len = 0;
	if (r->has_file)
		close(r->file_fd);
	r->has_file = false;
	r->accept_ranges = false;
	r->content_range[0] = '\0';
	r->status = status;
	r->content_type = "text/plain";
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}
