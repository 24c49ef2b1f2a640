/* SPDX-License-Identifier: Apache-2.0 */
/* The `key = value` grammar shared by the agent's and fleetsecd's
 * configuration files (kvconf_int.h): one line at a time, errors naming
 * file and line. */
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "kvconf_int.h"
#include "text_int.h"

static enum fsec_err set_field(void *base, const struct fsec_kv_field *f, const char *value,
			       unsigned line, bool *seen)
{
	char *b = base;

	if (f->kind == FSEC_KV_LIST) {
		size_t *n = (size_t *)(b + f->count_offset);

		if (*n == f->max)
			return fsec_seterr(FSEC_ERR_PARSE, "line %u: at most %lu %s entries", line,
					   f->max, f->name);
		if (strlen(value) >= f->cap)
			return fsec_seterr(FSEC_ERR_PARSE, "line %u: %s is too long", line, f->name);
		memcpy(b + f->offset + *n * f->cap, value, strlen(value) + 1);
		(*n)++;
		*seen = true;
		return FSEC_OK;
	}
	if (*seen)
		return fsec_seterr(FSEC_ERR_PARSE, "line %u: %s given twice", line, f->name);
	*seen = true;
	if (f->kind == FSEC_KV_NUM) {
		if (!fsec_parse_ulong(value, 0, f->max, (unsigned long *)(b + f->offset)))
			return fsec_seterr(FSEC_ERR_PARSE, "line %u: %s must be a number from 0 to %lu",
					   line, f->name, f->max);
		return FSEC_OK;
	}
	if (strlen(value) >= f->cap)
		return fsec_seterr(FSEC_ERR_PARSE, "line %u: %s is too long (at most %zu)", line,
				   f->name, f->cap - 1);
	memcpy(b + f->offset, value, strlen(value) + 1);
	return FSEC_OK;
}

enum fsec_err fsec_kv_parse(const unsigned char *buf, size_t len, size_t maxlen,
			    const struct fsec_kv_field *fields, size_t n, void *base, bool *seen)
{
	enum fsec_err rc = FSEC_ERR_PARSE;
	char *text = NULL, *line, *next;
	unsigned lineno = 0;

	if (len > maxlen)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "configuration is larger than %zu bytes",
				   maxlen);
	if (memchr(buf, '\0', len) != NULL)
		return fsec_seterr(FSEC_ERR_PARSE, "configuration holds a NUL byte");
	if ((text = malloc(len + 1)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	memcpy(text, buf, len);
	text[len] = '\0';
	for (line = text; line != NULL; line = next) {
		char *nl = strchr(line, '\n'), *eq, *k, *v, *hash;
		size_t i;

		lineno++;
		next = nl != NULL ? nl + 1 : NULL;
		if (nl != NULL)
			*nl = '\0';
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		k = fsec_text_trim(line);
		if (*k == '\0')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			fsec_seterr(rc, "line %u: expected key = value", lineno);
			goto out;
		}
		*eq = '\0';
		k = fsec_text_trim(k);
		v = fsec_text_trim(eq + 1);
		for (i = 0; i < n; i++)
			if (strcmp(k, fields[i].name) == 0)
				break;
		if (i == n) {
			fsec_seterr(rc, "line %u: unknown key '%.40s'", lineno, k);
			goto out;
		}
		if (*v == '\0') {
			fsec_seterr(rc, "line %u: %s has no value", lineno, k);
			goto out;
		}
		if ((rc = set_field(base, &fields[i], v, lineno, &seen[i])) != FSEC_OK)
			goto out;
		rc = FSEC_ERR_PARSE;
	}
	for (size_t i = 0; i < n; i++)
		if (fields[i].required && !seen[i]) {
			fsec_seterr(rc, "missing %s", fields[i].name);
			goto out;
		}
	rc = FSEC_OK;
out:
	free(text);
	return rc;
}
