/* SPDX-License-Identifier: Apache-2.0 */
/* The one JSON field walker (json_int.h). */
#include <stdio.h>
#include <string.h>

#include "err_int.h"
#include "fleetsec/text.h"
#include "json_int.h"
#include "text_int.h"

const char *fsec_json_path_key(char out[FSEC_JSON_PATH_MAX], const char *path, const char *key)
{
	snprintf(out, FSEC_JSON_PATH_MAX, "%s.%s", path, key);
	return out;
}

const char *fsec_json_path_index(char out[FSEC_JSON_PATH_MAX], const char *path, size_t i)
{
	snprintf(out, FSEC_JSON_PATH_MAX, "%s[%zu]", path, i);
	return out;
}

enum fsec_err fsec_json_load(const void *buf, size_t len, const char *path, json_t **out)
{
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	char why[sizeof(jerr.text)];

	if (j == NULL)
		return fsec_seterr(FSEC_ERR_PARSE, "%s: malformed JSON at line %d column %d: %s",
		                   path, jerr.line, jerr.column,
		                   fsec_text_clean(jerr.text, why, sizeof(why)));
	*out = j;
	return FSEC_OK;
}

enum fsec_err fsec_json_only_keys(const json_t *o, const char *path, const char *const *known)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return fsec_seterr(FSEC_ERR_PARSE, "%s: not a JSON object", path);
	json_object_foreach((json_t *)o, k, v)
	{
		size_t i;
		char kb[48];

		for (i = 0; known[i] != NULL; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		if (known[i] == NULL)
			return fsec_seterr(FSEC_ERR_PARSE, "%s: unknown field \"%.40s\"", path,
			                   fsec_text_clean(k, kb, sizeof(kb)));
	}
	return FSEC_OK;
}

/* The reason's lead for a field that is not there ("missing; must be ..."),
 * so that the message says both what is wrong and what is wanted. */
static const char *lead(const json_t *v)
{
	return v == NULL ? "missing; " : "";
}

enum fsec_err fsec_json_get_str(const json_t *o, const char *path, const char *key, unsigned flags,
                                size_t min, size_t max, const char **out)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL && (flags & FSEC_JSON_OPTIONAL))
		return FSEC_OK;
	/* A NUL inside would let C code and the JSON disagree on the value. */
	if (!json_is_string(v) || json_string_length(v) < min || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return fsec_seterr(FSEC_ERR_PARSE,
		                   "%s.%s: %smust be a string of %zu-%zu characters", path, key,
		                   lead(v), min, max);
	*out = json_string_value(v);
	return FSEC_OK;
}

enum fsec_err fsec_json_copy_str(const json_t *o, const char *path, const char *key, unsigned flags,
                                 size_t min, char *out, size_t cap)
{
	const char *s = NULL;
	enum fsec_err rc;

	if (cap == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "%s.%s: no room", path, key);
	if ((rc = fsec_json_get_str(o, path, key, flags, min, cap - 1, &s)) == FSEC_OK && s != NULL)
		memcpy(out, s, strlen(s) + 1);
	return rc;
}

enum fsec_err fsec_json_get_uint(const json_t *o, const char *path, const char *key, unsigned flags,
                                 uint64_t min, uint64_t max, uint64_t *out)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL && (flags & FSEC_JSON_OPTIONAL))
		return FSEC_OK;
	/* json_int_t is signed: a negative value is out of range, never a huge
	 * unsigned one. */
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max)
		return fsec_seterr(FSEC_ERR_PARSE, "%s.%s: %smust be an integer from %llu to %llu",
		                   path, key, lead(v), (unsigned long long)min,
		                   (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return FSEC_OK;
}

enum fsec_err fsec_json_get_time(const json_t *o, const char *path, const char *key, unsigned flags,
                                 unsigned time_flags, int64_t *out)
{
	const char *s = NULL;
	enum fsec_err rc = fsec_json_get_str(o, path, key, flags, 1, 40, &s);

	if (rc != FSEC_OK || s == NULL)
		return rc;
	if (fsec_time_parse(s, time_flags, out) != FSEC_OK)
		return fsec_seterr(FSEC_ERR_PARSE,
		                   "%s.%s: not a UTC time like 2026-01-31T12:00:00Z", path, key);
	return FSEC_OK;
}
