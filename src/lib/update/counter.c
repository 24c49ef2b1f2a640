/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monotonic counter: in the TPM ("tpm:INDEX", tpm.c), or in a file.
 * The file holds one line,
 * "fleetsec-counter 1 <value> <check>\n", where check is the value's bitwise
 * complement in hex: a file torn or scribbled on does not parse as some
 * other counter. Writes go through fsec_file_write_atomic, so a power cut
 * leaves either the old line or the new one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err_int.h"
#include "fleetsec/counter.h"
#include "fleetsec/fileio.h"
#include "tpm_int.h"

#define COUNTER_FILE_MAX 64

struct fsec_counter {
	char *path;    /* NULL: in the TPM */
	uint32_t nv;   /* the TPM's NV index */
};

FSEC_API enum fsec_err fsec_counter_open(const char *location, struct fsec_counter **out)
{
	const char *path = location;
	struct fsec_counter *c;
	uint32_t nv = 0;

	if (strncmp(location, "tpm:", 4) == 0) {
		if (!fsec_tpm_parse_handle(location + 4, &nv))
			return fsec_seterr(FSEC_ERR_INVAL,
					   "counter '%.60s': tpm:INDEX needs an NV index such as "
					   "tpm:0x01500100",
					   location);
		path = NULL;
	} else if (strncmp(location, "file:", 5) == 0)
		path = location + 5;
	else if (strchr(location, ':') != NULL && location[0] != '/' && location[0] != '.')
		return fsec_seterr(FSEC_ERR_INVAL,
				   "unknown counter backend in '%.60s' (file:PATH or tpm:INDEX)",
				   location);
	if (path != NULL && path[0] == '\0')
		return fsec_seterr(FSEC_ERR_INVAL, "empty counter path");
	c = calloc(1, sizeof(*c));
	if (c != NULL)
		c->nv = nv;
	if (c == NULL || (path != NULL && (c->path = strdup(path)) == NULL)) {
		free(c);
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	*out = c;
	return FSEC_OK;
}

FSEC_API void fsec_counter_free(struct fsec_counter *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c);
}

FSEC_API enum fsec_err fsec_counter_read(struct fsec_counter *c, uint32_t *value)
{
	unsigned char *buf = NULL;
	unsigned long v, check;
	size_t len = 0;
	char tail;
	enum fsec_err rc;

	if (c->path == NULL)
		return fsec_tpm_counter_read(c->nv, value);
	/* Never written yet: the counter starts at 0. */
	if (access(c->path, F_OK) != 0 && errno == ENOENT) {
		*value = 0;
		return FSEC_OK;
	}
	rc = fsec_file_read(c->path, COUNTER_FILE_MAX, &buf, &len);
	if (rc != FSEC_OK)
		return fsec_seterr(rc, "counter %s: %s", c->path, fsec_err_detail());
	/* The buffer is NUL-terminated by fsec_file_read; %c catches trailing
	 * junk after the newline. */
	if (sscanf((const char *)buf, "fleetsec-counter 1 %10lu %8lx\n%c", &v, &check, &tail) != 2 ||
	    v > UINT32_MAX || check != (~v & 0xffffffffUL) || buf[len - 1] != '\n') {
		free(buf);
		return fsec_seterr(FSEC_ERR_PARSE,
				   "counter %s is damaged; refusing to guess (restore it or re-provision)",
				   c->path);
	}
	free(buf);
	*value = (uint32_t)v;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_counter_raise(struct fsec_counter *c, uint32_t value)
{
	char line[COUNTER_FILE_MAX];
	uint32_t cur = 0;
	enum fsec_err rc;
	int n;

	if (c->path == NULL)
		return fsec_tpm_counter_raise(c->nv, value);
	if ((rc = fsec_counter_read(c, &cur)) != FSEC_OK)
		return rc;
	if (value < cur)
		return fsec_seterr(FSEC_ERR_POLICY, "counter would go down from %u to %u", cur, value);
	if (value == cur && cur != 0)
		return FSEC_OK;
	n = snprintf(line, sizeof(line), "fleetsec-counter 1 %u %08x\n", value, ~value);
	if (n < 0 || (size_t)n >= sizeof(line))
		return fsec_seterr(FSEC_ERR_INVAL, "counter line too long");
	return fsec_file_write_atomic(c->path, line, (size_t)n, 0600, 0);
}
