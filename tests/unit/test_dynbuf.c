/* SPDX-License-Identifier: Apache-2.0 */
/* The one capped growable buffer and array grower (core/dynbuf_int.h): the
 * cap exactly, one byte past it, sticky errors, and the hand-over. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf_int.h"
#include "testutil.h"

static void test_empty(void **state)
{
	struct fsec_dynbuf d;
	char *s = NULL;
	size_t n = 9;

	(void)state;
	fsec_dynbuf_init(&d, 10);
	assert_string_equal(fsec_dynbuf_ptr(&d), "");
	assert_int_equal(fsec_dynbuf_len(&d), 0);
	assert_int_equal(fsec_dynbuf_add(&d, "", 0), FSEC_OK);
	assert_int_equal(fsec_dynbuf_take(&d, &s, &n), FSEC_OK);
	assert_string_equal(s, "");
	assert_int_equal(n, 0);
	free(s);
	fsec_dynbuf_cleanup(&d);
	fsec_dynbuf_cleanup(NULL);
}

static void test_cap(void **state)
{
	struct fsec_dynbuf d;
	char *s = NULL;
	size_t n = 0;

	(void)state;
	fsec_dynbuf_init(&d, 10);
	assert_int_equal(fsec_dynbuf_addstr(&d, "01234"), FSEC_OK);
	assert_int_equal(fsec_dynbuf_addf(&d, "%d%s", 567, "89"), FSEC_OK);
	/* Exactly the cap, NUL-terminated. */
	assert_int_equal(fsec_dynbuf_len(&d), 10);
	assert_string_equal(fsec_dynbuf_ptr(&d), "0123456789");
	/* One byte past it: TOO_LARGE, and what was held is dropped. */
	assert_int_equal(fsec_dynbuf_add(&d, "x", 1), FSEC_ERR_TOO_LARGE);
	assert_int_equal(fsec_dynbuf_len(&d), 0);
	/* Sticky: later adds fail the same way, and take reports it. */
	assert_int_equal(fsec_dynbuf_addstr(&d, ""), FSEC_ERR_TOO_LARGE);
	assert_int_equal(fsec_dynbuf_addf(&d, "%s", "a"), FSEC_ERR_TOO_LARGE);
	assert_int_equal(fsec_dynbuf_take(&d, &s, &n), FSEC_ERR_TOO_LARGE);
	assert_null(s);
	fsec_dynbuf_cleanup(&d);
	/* cleanup clears the error and keeps the cap. */
	assert_int_equal(fsec_dynbuf_addstr(&d, "0123456789"), FSEC_OK);
	assert_int_equal(fsec_dynbuf_addf(&d, "%s", "a"), FSEC_ERR_TOO_LARGE);
	fsec_dynbuf_cleanup(&d);
	/* A length near SIZE_MAX cannot wrap the check. */
	assert_int_equal(fsec_dynbuf_add(&d, "x", SIZE_MAX), FSEC_ERR_TOO_LARGE);
	fsec_dynbuf_cleanup(&d);
	/* A cap of SIZE_MAX still leaves room for the NUL. */
	fsec_dynbuf_init(&d, SIZE_MAX);
	assert_int_equal(fsec_dynbuf_add(&d, "x", SIZE_MAX), FSEC_ERR_TOO_LARGE);
	fsec_dynbuf_cleanup(&d);
	fsec_dynbuf_init(&d, 0);
	assert_int_equal(fsec_dynbuf_add(&d, "", 0), FSEC_OK);
	assert_int_equal(fsec_dynbuf_add(&d, "x", 1), FSEC_ERR_TOO_LARGE);
	fsec_dynbuf_cleanup(&d);
}

static void test_grow(void **state)
{
	struct fsec_dynbuf d;
	char *s = NULL, line[32];
	size_t n = 0;

	(void)state;
	fsec_dynbuf_init(&d, 1 << 20);
	/* Many small adds, across several reallocations. */
	for (int i = 0; i < 10000; i++)
		assert_int_equal(fsec_dynbuf_addf(&d, "%04d\n", i % 10000), FSEC_OK);
	assert_int_equal(fsec_dynbuf_len(&d), 50000);
	assert_memory_equal(fsec_dynbuf_ptr(&d) + 49995, "9999\n", 5);
	/* Binary bytes, NUL included. */
	assert_int_equal(fsec_dynbuf_add(&d, "a\0b", 3), FSEC_OK);
	assert_int_equal(fsec_dynbuf_take(&d, &s, &n), FSEC_OK);
	assert_int_equal(n, 50003);
	assert_memory_equal(s + 50000, "a\0b", 4);
	free(s);
	/* After take, the buffer is empty and usable. */
	assert_int_equal(fsec_dynbuf_len(&d), 0);
	snprintf(line, sizeof(line), "again");
	assert_int_equal(fsec_dynbuf_addstr(&d, line), FSEC_OK);
	assert_string_equal(fsec_dynbuf_ptr(&d), "again");
	fsec_dynbuf_cleanup(&d);
}

static void test_array_grow(void **state)
{
	int *v = NULL;
	size_t cap = 0, n = 0, reallocs = 0;

	(void)state;
	/* Append up to the cap: every index fits, amortised growth. */
	for (n = 0; n < 100; n++) {
		size_t before = cap;

		assert_int_equal(fsec_array_grow((void **)&v, &cap, n, sizeof(*v), 100), FSEC_OK);
		assert_true(cap > n && cap <= 100);
		reallocs += cap != before;
		v[n] = (int)n;
	}
	assert_true(reallocs <= 4); /* 16, 32, 64, 100 */
	assert_int_equal(cap, 100);
	/* One past the cap: TOO_LARGE, and the array is untouched. */
	assert_int_equal(fsec_array_grow((void **)&v, &cap, 100, sizeof(*v), 100),
	                 FSEC_ERR_TOO_LARGE);
	assert_int_equal(cap, 100);
	assert_int_equal(v[99], 99);
	free(v);
	/* A size whose byte count would overflow. */
	v = NULL;
	cap = 0;
	assert_int_equal(fsec_array_grow((void **)&v, &cap, 0, SIZE_MAX / 4, SIZE_MAX),
	                 FSEC_ERR_OVERFLOW);
	assert_null(v);
	assert_int_equal(cap, 0);
	/* A cap of 0 admits nothing; a cap of 1 exactly one entry. */
	assert_int_equal(fsec_array_grow((void **)&v, &cap, 0, sizeof(*v), 0), FSEC_ERR_TOO_LARGE);
	assert_int_equal(fsec_array_grow((void **)&v, &cap, 0, sizeof(*v), 1), FSEC_OK);
	assert_int_equal(cap, 1);
	assert_int_equal(fsec_array_grow((void **)&v, &cap, 1, sizeof(*v), 1), FSEC_ERR_TOO_LARGE);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_grow),
	    cmocka_unit_test(test_array_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
