/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The anti-rollback counter (counter.h) behind a backend table, like the
 * boot environment's (bootctl.c): a backend reads and raises; the location's
 * scheme picks it.
 *
 * file: one line, "fleetsec-counter 1 <value> <check>\n", where check is the
 * value's bitwise complement in hex: a file torn or scribbled on does not
 * parse as some other counter. Writes go through fsec_file_write_atomic, so
 * a power cut leaves either the old line or the new one.
 *
 * tpm: a TPM 2.0 NV counter index and its base (keys/tpm.c says how).
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

struct fsec_counter;

/* A backend: set up from the location's argument, read, raise. raise must
 * keep counter.h's contract itself (never down, any cut leaves the old
 * value, the new one, or for the TPM one between). */
struct counter_ops {
	const char *scheme; /* the location's prefix, "file:" or "tpm:" */
	enum fsec_err (*setup)(struct fsec_counter *c, const char *arg);
	enum fsec_err (*read)(struct fsec_counter *c, uint32_t *value);
	enum fsec_err (*raise)(struct fsec_counter *c, uint32_t value);
};

struct fsec_counter {
	const struct counter_ops *ops;
	char *path;  /* file: the counter file */
	uint32_t nv; /* tpm: the NV index */
};

/* ---- file ---- */

static enum fsec_err file_setup(struct fsec_counter *c, const char *path)
{
	if (path[0] == '\0')
		return fsec_seterr(FSEC_ERR_INVAL, "empty counter path");
	if ((c->path = strdup(path)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	return FSEC_OK;
}

static enum fsec_err file_read(struct fsec_counter *c, uint32_t *value)
{
	unsigned char *buf = NULL;
	unsigned long v, check;
	size_t len = 0;
	char tail;
	enum fsec_err rc;

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

static enum fsec_err file_raise(struct fsec_counter *c, uint32_t value)
{
	char line[COUNTER_FILE_MAX];
	uint32_t cur = 0;
	enum fsec_err rc;
	int n;

	if ((rc = file_read(c, &cur)) != FSEC_OK)
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

/* ---- tpm ---- */

static enum fsec_err tpm_setup(struct fsec_counter *c, const char *index)
{
	if (!fsec_tpm_parse_handle(index, &c->nv))
		return fsec_seterr(FSEC_ERR_INVAL,
				   "counter 'tpm:%.56s': tpm:INDEX needs an NV index such as "
				   "tpm:0x01500100",
				   index);
	return FSEC_OK;
}

static enum fsec_err tpm_read(struct fsec_counter *c, uint32_t *value)
{
	return fsec_tpm_counter_read(c->nv, value);
}

static enum fsec_err tpm_raise(struct fsec_counter *c, uint32_t value)
{
	return fsec_tpm_counter_raise(c->nv, value);
}

static const struct counter_ops backends[] = {
	{"file:", file_setup, file_read, file_raise},
	{"tpm:", tpm_setup, tpm_read, tpm_raise},
};

/* ---- the interface ---- */

FSEC_API enum fsec_err fsec_counter_open(const char *location, struct fsec_counter **out)
{
	const struct counter_ops *ops = &backends[0];
	const char *arg = location;
	struct fsec_counter *c = NULL;
	enum fsec_err rc = FSEC_ERR_INVAL;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		size_t n = strlen(backends[i].scheme);

		if (strncmp(location, backends[i].scheme, n) == 0) {
			ops = &backends[i];
			arg = location + n;
			break;
		}
	}
	/* No scheme: a plain path is a file; anything else that looks like
	 * SCHEME:... is a backend this build does not know. */
	if (arg == location && strchr(location, ':') != NULL && location[0] != '/' &&
	    location[0] != '.')
		return fsec_seterr(FSEC_ERR_INVAL,
				   "unknown counter backend in '%.60s' (file:PATH or tpm:INDEX)",
				   location);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	c->ops = ops;
	if ((rc = ops->setup(c, arg)) != FSEC_OK)
		goto out;
	*out = c;
	c = NULL;
	rc = FSEC_OK;
out:
	fsec_counter_free(c);
	return rc;
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
	return c->ops->read(c, value);
}

FSEC_API enum fsec_err fsec_counter_raise(struct fsec_counter *c, uint32_t value)
{
	return c->ops->raise(c, value);
}
