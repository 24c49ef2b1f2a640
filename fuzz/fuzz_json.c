/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the JSON field walker (core/json.c, json_int.h),
 * which every JSON document from outside goes through (manifests, device
 * status, fleet configuration), over arbitrary bytes with a small schema:
 *   {"name": string 1-32, "count": integer 1-1000, "when": canonical time,
 *    "note": optional string, "items": optional array of strings 0-8}
 * Properties checked, besides the error contract (fuzz_check.h): every
 * failure is PARSE; outputs are written only on success; a string taken is
 * within its bounds with no NUL inside; an integer within its bounds; a
 * time is the canonical spelling of what was read; the path in a reason
 * names the field; the path builders never overrun.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fleetsec/text.h"
#include "json_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SENTINEL "untouched"

static void check(enum fsec_err rc, const char *field)
{
	fuzz_check_detail(rc);
	if (rc != FSEC_OK && rc != FSEC_ERR_PARSE)
		abort();
	/* A reason names the field by its path from the root. */
	if (rc != FSEC_OK && field != NULL && strstr(fsec_err_detail(), field) == NULL)
		abort();
}

static void check_str(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const known[] = {"name", "count", "when", "note", "items", NULL};
	char path[FSEC_JSON_PATH_MAX], name[33] = SENTINEL, tb[FSEC_TIME_LEN];
	const char *note = SENTINEL, *item;
	uint64_t count = 77;
	int64_t when = 77;
	json_t *j = NULL, *items;
	enum fsec_err rc;

	fsec_clearerr();
	rc = fsec_json_load(data, size, "doc", &j);
	check(rc, "doc");
	if (rc != FSEC_OK) {
		if (j != NULL)
			abort();
		return 0;
	}
	/* Each field is taken whatever only_keys said, as a parser that
	 * reported the first error would have reached it. */
	check(fsec_json_only_keys(j, "doc", known), "doc");

	fsec_clearerr();
	rc = fsec_json_copy_str(j, "doc", "name", 0, 1, name, sizeof(name));
	check(rc, "doc.name");
	if (rc == FSEC_OK)
		check_str(name, 1, sizeof(name) - 1);
	else if (strcmp(name, SENTINEL) != 0)
		abort();

	fsec_clearerr();
	rc = fsec_json_get_uint(j, "doc", "count", 0, 1, 1000, &count);
	check(rc, "doc.count");
	if (rc == FSEC_OK ? count < 1 || count > 1000 : count != 77)
		abort();

	fsec_clearerr();
	rc = fsec_json_get_time(j, "doc", "when", 0, FSEC_TIME_CANONICAL, &when);
	check(rc, "doc.when");
	if (rc == FSEC_OK) {
		const char *s = json_string_value(json_object_get(j, "when"));

		if (s == NULL || strcmp(fsec_time_format(when, tb), s) != 0)
			abort();
	} else if (when != 77) {
		abort();
	}

	fsec_clearerr();
	rc = fsec_json_get_str(j, "doc", "note", FSEC_JSON_OPTIONAL, 0, 64, &note);
	check(rc, "doc.note");
	/* Absent (optional) or refused: untouched. */
	if (rc != FSEC_OK || json_object_get(j, "note") == NULL) {
		if (strcmp(note, SENTINEL) != 0)
			abort();
	} else if (strlen(note) > 64) {
		abort();
	}

	items = json_object_get(j, "items");
	if (json_is_array(items)) {
		for (size_t i = 0; i < json_array_size(items) && i < 64; i++) {
			json_t *box = json_pack("{s:O}", "v", json_array_get(items, i));

			if (box == NULL)
				break;
			fsec_json_path_index(path, "doc.items", i);
			if (strlen(path) >= FSEC_JSON_PATH_MAX)
				abort();
			item = SENTINEL;
			fsec_clearerr();
			rc = fsec_json_get_str(box, path, "v", 0, 0, 8, &item);
			check(rc, path);
			if (rc == FSEC_OK)
				check_str(item, 0, 8);
			else if (strcmp(item, SENTINEL) != 0)
				abort();
			json_decref(box);
		}
	}
	/* A cut path stays a string within its buffer. */
	if (strlen(fsec_json_path_key(path, name, "k")) >= FSEC_JSON_PATH_MAX)
		abort();
	json_decref(j);
	return 0;
}
