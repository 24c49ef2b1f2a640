/* SPDX-License-Identifier: Apache-2.0 */
/* The one JSON field walker (core/json_int.h): types, bounds, unknown and
 * duplicate keys, and the JSON path each refusal names. */
#include <stdint.h>
#include <string.h>

#include "json_int.h"
#include "testutil.h"

static json_t *load(const char *s)
{
	json_t *j = NULL;

	assert_int_equal(fsec_json_load(s, strlen(s), "doc", &j), FSEC_OK);
	return j;
}

static void assert_detail(const char *want)
{
	if (strstr(fsec_err_detail(), want) == NULL)
		fail_msg("detail '%s' lacks '%s'", fsec_err_detail(), want);
}

static void test_load(void **state)
{
	json_t *j = NULL;

	(void)state;
	assert_int_equal(fsec_json_load("{\"a\":1,\"a\":2}", 13, "doc", &j), FSEC_ERR_PARSE);
	assert_detail("doc: malformed JSON at line 1");
	assert_int_equal(fsec_json_load("{", 1, "doc", &j), FSEC_ERR_PARSE);
	assert_int_equal(fsec_json_load("", 0, "doc", &j), FSEC_ERR_PARSE);
	assert_null(j);
	j = load("[1]");
	json_decref(j);
}

static void test_only_keys(void **state)
{
	static const char *const known[] = {"a", "b", NULL};
	json_t *j = load("{\"a\":1,\"b\":2}"), *k = load("{\"a\":1,\"c\\u0001\\n\":2}");
	json_t *arr = load("[]");

	(void)state;
	assert_int_equal(fsec_json_only_keys(j, "doc", known), FSEC_OK);
	assert_int_equal(fsec_json_only_keys(k, "doc.x[2]", known), FSEC_ERR_PARSE);
	/* The key is quoted with its control characters made harmless. */
	assert_detail("doc.x[2]: unknown field \"c??\"");
	assert_int_equal(fsec_json_only_keys(arr, "doc", known), FSEC_ERR_PARSE);
	assert_detail("doc: not a JSON object");
	json_decref(j);
	json_decref(k);
	json_decref(arr);
}

static void test_str(void **state)
{
	json_t *j = load("{\"s\":\"abc\",\"e\":\"\",\"n\":5}");
	const char *s = "keep";
	char buf[4] = "xyz";

	(void)state;
	assert_int_equal(fsec_json_get_str(j, "doc", "s", 0, 1, 3, &s), FSEC_OK);
	assert_string_equal(s, "abc");
	/* max exactly, one over, min. */
	s = "keep";
	assert_int_equal(fsec_json_get_str(j, "doc", "s", 0, 1, 2, &s), FSEC_ERR_PARSE);
	assert_detail("doc.s: must be a string of 1-2 characters");
	assert_int_equal(fsec_json_get_str(j, "doc", "e", 0, 1, 8, &s), FSEC_ERR_PARSE);
	assert_int_equal(fsec_json_get_str(j, "doc", "n", 0, 1, 8, &s), FSEC_ERR_PARSE);
	/* An embedded NUL is refused (the loader refuses \u0000 already; a
	 * document built in memory can still hold one). */
	json_object_set_new(j, "z", json_stringn("a\0b", 3));
	assert_int_equal(fsec_json_get_str(j, "doc", "z", 0, 1, 8, &s), FSEC_ERR_PARSE);
	/* Missing: refused and said so, unless optional. */
	assert_int_equal(fsec_json_get_str(j, "doc", "m", 0, 1, 8, &s), FSEC_ERR_PARSE);
	assert_detail("doc.m: missing; must be a string of 1-8 characters");
	assert_int_equal(fsec_json_get_str(j, "doc", "m", FSEC_JSON_OPTIONAL, 1, 8, &s), FSEC_OK);
	assert_string_equal(s, "keep");
	/* Copy: cap - 1 characters at most. */
	assert_int_equal(fsec_json_copy_str(j, "doc", "s", 0, 1, buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, "abc");
	assert_int_equal(fsec_json_copy_str(j, "doc", "s", 0, 1, buf, 3), FSEC_ERR_PARSE);
	assert_string_equal(buf, "abc");
	json_decref(j);
}

static void test_uint(void **state)
{
	json_t *j = load("{\"z\":0,\"m\":9007199254740991,\"neg\":-1,\"f\":1.0,\"s\":\"1\","
	                 "\"big\":9223372036854775807}");
	uint64_t v = 7;

	(void)state;
	assert_int_equal(fsec_json_get_uint(j, "doc", "z", 0, 0, 10, &v), FSEC_OK);
	assert_int_equal(v, 0);
	assert_int_equal(fsec_json_get_uint(j, "doc", "m", 0, 0, 9007199254740991ULL, &v), FSEC_OK);
	assert_true(v == 9007199254740991ULL);
	assert_int_equal(fsec_json_get_uint(j, "doc", "m", 0, 0, 9007199254740990ULL, &v),
	                 FSEC_ERR_PARSE);
	assert_detail("doc.m: must be an integer from 0 to 9007199254740990");
	assert_int_equal(fsec_json_get_uint(j, "doc", "z", 0, 1, 10, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_json_get_uint(j, "doc", "neg", 0, 0, UINT64_MAX, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_json_get_uint(j, "doc", "f", 0, 0, 10, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_json_get_uint(j, "doc", "s", 0, 0, 10, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_json_get_uint(j, "doc", "big", 0, 0, UINT64_MAX, &v), FSEC_OK);
	assert_true(v == 9223372036854775807ULL);
	v = 7;
	assert_int_equal(fsec_json_get_uint(j, "doc", "nope", 0, 0, 10, &v), FSEC_ERR_PARSE);
	assert_detail("doc.nope: missing; must be an integer");
	assert_int_equal(fsec_json_get_uint(j, "doc", "nope", FSEC_JSON_OPTIONAL, 0, 10, &v),
	                 FSEC_OK);
	assert_int_equal(v, 7);
	json_decref(j);
}

static void test_time(void **state)
{
	json_t *j = load("{\"t\":\"2026-01-31T12:00:00Z\",\"o\":\"2026-01-31T13:00:00+01:00\","
	                 "\"bad\":\"2026-02-30T00:00:00Z\"}");
	int64_t t = 0;

	(void)state;
	assert_int_equal(fsec_json_get_time(j, "doc", "t", 0, FSEC_TIME_CANONICAL, &t), FSEC_OK);
	assert_int_equal(t, 1769860800);
	assert_int_equal(fsec_json_get_time(j, "doc", "o", 0, 0, &t), FSEC_OK);
	assert_int_equal(t, 1769860800);
	assert_int_equal(fsec_json_get_time(j, "doc", "o", 0, FSEC_TIME_CANONICAL, &t),
	                 FSEC_ERR_PARSE);
	assert_detail("doc.o: not a UTC time");
	assert_int_equal(fsec_json_get_time(j, "doc", "bad", 0, 0, &t), FSEC_ERR_PARSE);
	json_decref(j);
}

static void test_paths(void **state)
{
	char p[FSEC_JSON_PATH_MAX], q[FSEC_JSON_PATH_MAX], longkey[400];

	(void)state;
	assert_string_equal(fsec_json_path_key(p, "manifest", "releases"), "manifest.releases");
	assert_string_equal(fsec_json_path_index(q, p, 3), "manifest.releases[3]");
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	/* A long path is cut, never overrun. */
	assert_int_equal(strlen(fsec_json_path_key(p, "doc", longkey)), FSEC_JSON_PATH_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load), cmocka_unit_test(test_only_keys),
	    cmocka_unit_test(test_str),  cmocka_unit_test(test_uint),
	    cmocka_unit_test(test_time), cmocka_unit_test(test_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
