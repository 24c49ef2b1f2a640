/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fleetsec/agentcfg.h"

enum kind { STR, KEYLIST, NUM };

struct field {
	const char *name;
	enum kind kind;
	size_t offset, cap; /* STR: the char array; KEYLIST: the array of arrays */
	size_t count_offset; /* KEYLIST: its counter */
	unsigned long max;   /* NUM */
	bool required;
};

#define STRF(n, req)                                                                       \
	{#n, STR, offsetof(struct fsec_agentcfg, n), sizeof(((struct fsec_agentcfg *)0)->n), 0, \
	 0, req}
#define NUMF(n, mx) {#n, NUM, offsetof(struct fsec_agentcfg, n), 0, 0, mx, false}

static const struct field fields[] = {
	STRF(server, true),
	STRF(manifest_url, false),
	STRF(ca, true),
	STRF(key, true),
	STRF(cert, true),
	STRF(bootstrap_key, false),
	STRF(bootstrap_cert, false),
	{"firmware_key", KEYLIST, offsetof(struct fsec_agentcfg, firmware_keys), 0,
	 offsetof(struct fsec_agentcfg, nfirmware_keys), 0, true},
	{"release_root", KEYLIST, offsetof(struct fsec_agentcfg, release_roots), 0,
	 offsetof(struct fsec_agentcfg, nrelease_roots), 0, true},
	STRF(model, true),
	STRF(slot_a, true),
	STRF(slot_b, true),
	STRF(boot_backend, true),
	STRF(boot_env, false),
	STRF(state_dir, true),
	STRF(counter, false),
	NUMF(low_speed_limit, 1UL << 30),
	NUMF(low_speed_time, 3600),
	NUMF(chunk_retries, 100),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static enum fsec_err set_field(struct fsec_agentcfg *c, const struct field *f, const char *value,
			       unsigned line, bool *seen)
{
	char *base = (char *)c;

	if (f->kind == KEYLIST) {
		size_t *n = (size_t *)(base + f->count_offset);
		char(*arr)[FSEC_AGENTCFG_VALUE_MAX + 1] = (void *)(base + f->offset);

		if (*n == FSEC_AGENTCFG_KEYS_MAX)
			return fsec_seterr(FSEC_ERR_PARSE, "line %u: at most %d %s entries", line,
					   FSEC_AGENTCFG_KEYS_MAX, f->name);
		if (strlen(value) > FSEC_AGENTCFG_VALUE_MAX)
			return fsec_seterr(FSEC_ERR_PARSE, "line %u: %s is too long", line, f->name);
		memcpy(arr[*n], value, strlen(value) + 1);
		(*n)++;
		*seen = true;
		return FSEC_OK;
	}
	if (*seen)
		return fsec_seterr(FSEC_ERR_PARSE, "line %u: %s given twice", line, f->name);
	*seen = true;
	if (f->kind == NUM) {
		char *end = NULL;
		unsigned long v;

		errno = 0;
		v = strtoul(value, &end, 10);
		if (value[0] < '0' || value[0] > '9' || errno != 0 || *end != '\0' || v > f->max)
			return fsec_seterr(FSEC_ERR_PARSE, "line %u: %s must be a number from 0 to %lu",
					   line, f->name, f->max);
		*(unsigned long *)(base + f->offset) = v;
		return FSEC_OK;
	}
	if (strlen(value) >= f->cap)
		return fsec_seterr(FSEC_ERR_PARSE, "line %u: %s is too long (at most %zu)", line,
				   f->name, f->cap - 1);
	memcpy(base + f->offset, value, strlen(value) + 1);
	return FSEC_OK;
}

/* Values the device must not take on trust, checked after parsing. */
static enum fsec_err check(struct fsec_agentcfg *c, const bool *seen)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].required && !seen[i])
			return fsec_seterr(FSEC_ERR_PARSE, "missing %s", fields[i].name);
	if (strncmp(c->server, "https://", 8) != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "server must be an https:// URL");
	if (strcmp(c->boot_backend, "file") != 0 && strcmp(c->boot_backend, "uboot") != 0 &&
	    strcmp(c->boot_backend, "grub") != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "boot_backend must be file, uboot or grub");
	if (strcmp(c->slot_a, c->slot_b) == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "slot_a and slot_b must differ");
	for (const char *p = c->model; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			return fsec_seterr(FSEC_ERR_PARSE, "model: use A-Z a-z 0-9 . _ -");
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_agentcfg_parse(const unsigned char *buf, size_t len,
					   struct fsec_agentcfg *out)
{
	struct fsec_agentcfg *c = NULL;
	bool seen[NFIELDS] = {false};
	enum fsec_err rc = FSEC_ERR_PARSE;
	char *text = NULL, *line, *next;
	unsigned lineno = 0;

	if (len > FSEC_AGENTCFG_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "configuration is larger than %u bytes",
				   FSEC_AGENTCFG_MAX);
	if (memchr(buf, '\0', len) != NULL)
		return fsec_seterr(FSEC_ERR_PARSE, "configuration holds a NUL byte");
	c = calloc(1, sizeof(*c));
	text = malloc(len + 1);
	if (c == NULL || text == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(text, buf, len);
	text[len] = '\0';
	c->low_speed_limit = 1024;
	c->low_speed_time = 30;
	c->chunk_retries = 3;
	for (line = text; line != NULL; line = next) {
		char *nl = strchr(line, '\n'), *eq, *k, *v, *hash;
		size_t i;

		lineno++;
		next = nl != NULL ? nl + 1 : NULL;
		if (nl != NULL)
			*nl = '\0';
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		k = trim(line);
		if (*k == '\0')
			continue;
		eq = strchr(k, '=');
		if (eq == NULL) {
			fsec_seterr(rc, "line %u: expected key = value", lineno);
			goto out;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		for (i = 0; i < NFIELDS; i++)
			if (strcmp(k, fields[i].name) == 0)
				break;
		if (i == NFIELDS) {
			fsec_seterr(rc, "line %u: unknown key '%.40s'", lineno, k);
			goto out;
		}
		if (*v == '\0') {
			fsec_seterr(rc, "line %u: %s has no value", lineno, k);
			goto out;
		}
		if ((rc = set_field(c, &fields[i], v, lineno, &seen[i])) != FSEC_OK)
			goto out;
		rc = FSEC_ERR_PARSE;
	}
	if ((rc = check(c, seen)) != FSEC_OK)
		goto out;
	if (c->manifest_url[0] == '\0')
		snprintf(c->manifest_url, sizeof(c->manifest_url), "/v1/update");
	if (c->counter[0] == '\0' &&
	    (size_t)snprintf(c->counter, sizeof(c->counter), "file:%s/counter", c->state_dir) >=
		    sizeof(c->counter)) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "state_dir is too long");
		goto out;
	}
	/* A bootloader's own environment has no sensible default: a trial
	 * written where the bootloader never looks would silently do nothing. */
	if (c->boot_env[0] == '\0' && strcmp(c->boot_backend, "file") != 0) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "boot_env is required with the %s backend",
				 c->boot_backend);
		goto out;
	}
	if (c->boot_env[0] == '\0' &&
	    (size_t)snprintf(c->boot_env, sizeof(c->boot_env), "%s/bootenv", c->state_dir) >=
		    sizeof(c->boot_env)) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "state_dir is too long");
		goto out;
	}
	*out = *c;
	rc = FSEC_OK;
out:
	free(text);
	free(c);
	return rc;
}
