/* SPDX-License-Identifier: Apache-2.0 */
/* The one hex codec, number grammar, duration parser and RFC 3339 parser and
 * formatter (fleetsec/text.h), at their boundaries. */
#include <stdint.h>
#include <string.h>

#include "fleetsec/text.h"
#include "testutil.h"

/* ---- outside text in a log line ---- */

static void test_text_log(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(fsec_text_log("/crl\r\n\x1b[2K x\x7f\xc2\x9b", 0, buf, sizeof(buf)),
			    "/crl???[2K x???");
	assert_string_equal(fsec_text_log("/a b", FSEC_TEXT_FIELD, buf, sizeof(buf)), "/a?b");
	assert_string_equal(fsec_text_log(NULL, 0, buf, sizeof(buf)), "-");
	assert_string_equal(fsec_text_log("abcdef", 0, buf, 4), "abc");
}

/* ---- hex ---- */

static void test_hex_encode(void **state)
{
	const unsigned char in[] = {0x00, 0x01, 0xab, 0xff};
	char out[9];

	(void)state;
	fsec_hex(in, sizeof(in), out);
	assert_string_equal(out, "0001abff");
	fsec_hex(in, 0, out);
	assert_string_equal(out, "");
}

static void test_hex_decode(void **state)
{
	unsigned char out[4] = {0}, keep[4] = {9, 9, 9, 9};

	(void)state;
	assert_int_equal(fsec_hex_decode("0001abff", out, 4, 0), FSEC_OK);
	assert_memory_equal(out, ((unsigned char[]){0x00, 0x01, 0xab, 0xff}), 4);
	/* Uppercase: either case by default, refused with FSEC_HEX_LOWER. */
	assert_int_equal(fsec_hex_decode("0001ABFF", out, 4, 0), FSEC_OK);
	assert_memory_equal(out, ((unsigned char[]){0x00, 0x01, 0xab, 0xff}), 4);
	memcpy(out, keep, 4);
	assert_int_equal(fsec_hex_decode("0001ABFF", out, 4, FSEC_HEX_LOWER), FSEC_ERR_PARSE);
	assert_memory_equal(out, keep, 4); /* untouched on failure */
	assert_int_equal(fsec_hex_decode("0001abff", out, 4, FSEC_HEX_LOWER), FSEC_OK);
	/* Odd length, short, long, bad digits, empty. */
	assert_int_equal(fsec_hex_decode("0001abf", out, 4, 0), FSEC_ERR_PARSE);
	assert_int_equal(fsec_hex_decode("0001ab", out, 4, 0), FSEC_ERR_PARSE);
	assert_int_equal(fsec_hex_decode("0001abff0", out, 4, 0), FSEC_ERR_PARSE);
	assert_int_equal(fsec_hex_decode("0001abfg", out, 4, 0), FSEC_ERR_PARSE);
	assert_int_equal(fsec_hex_decode("0001 bff", out, 4, 0), FSEC_ERR_PARSE);
	assert_int_equal(fsec_hex_decode("+001abff", out, 4, 0), FSEC_ERR_PARSE);
	assert_int_equal(fsec_hex_decode("", out, 4, 0), FSEC_ERR_PARSE);
	assert_int_equal(fsec_hex_decode("", out, 0, 0), FSEC_OK);
	assert_int_equal(fsec_hex_decode("00", out, 0, 0), FSEC_ERR_PARSE);
	/* A byte count whose digit count would wrap is refused, not read. */
	assert_false(fsec_hex_valid("00", SIZE_MAX / 2 + 1, 0));
}

static void test_hex_valid(void **state)
{
	char sha[65];

	(void)state;
	memset(sha, 'a', 64);
	sha[64] = '\0';
	assert_true(fsec_hex_valid(sha, 32, FSEC_HEX_LOWER));
	sha[63] = 'A';
	assert_false(fsec_hex_valid(sha, 32, FSEC_HEX_LOWER));
	assert_true(fsec_hex_valid(sha, 32, 0));
	sha[63] = '\0';
	assert_false(fsec_hex_valid(sha, 32, 0));
	assert_false(fsec_hex_valid("../etc/passwd", 32, 0));
}

/* ---- numbers ---- */

static void test_parse_u64(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(fsec_parse_u64("0", 0, 10, 0, &v), FSEC_OK);
	assert_int_equal(v, 0);
	assert_int_equal(fsec_parse_u64("10", 0, 10, 0, &v), FSEC_OK);
	assert_int_equal(v, 10);
	assert_int_equal(fsec_parse_u64("18446744073709551615", 0, UINT64_MAX, 0, &v), FSEC_OK);
	assert_true(v == UINT64_MAX);
	/* Overflow: one past the maximum never wraps to 0. */
	v = 7;
	assert_int_equal(fsec_parse_u64("18446744073709551616", 0, UINT64_MAX, 0, &v),
	                 FSEC_ERR_OVERFLOW);
	assert_int_equal(fsec_parse_u64("99999999999999999999999", 0, UINT64_MAX, 0, &v),
	                 FSEC_ERR_OVERFLOW);
	assert_int_equal(v, 7);
	/* Bounds. */
	assert_int_equal(fsec_parse_u64("11", 0, 10, 0, &v), FSEC_ERR_OVERFLOW);
	assert_int_equal(fsec_parse_u64("0", 1, 10, 0, &v), FSEC_ERR_OVERFLOW);
	/* Empty, sign, blanks, bad digits, trailing bytes. */
	assert_int_equal(fsec_parse_u64("", 0, 10, 0, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64("+5", 0, 10, 0, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64("-0", 0, 10, 0, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64(" 5", 0, 10, 0, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64("\t5", 0, 10, 0, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64("5 ", 0, 10, 0, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64("5x", 0, 10, 0, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64("0x5", 0, 10, 0, &v), FSEC_ERR_PARSE);
	assert_int_equal(v, 7);
	/* Leading zeros are decimal without FSEC_NUM_HEX (config files). */
	assert_int_equal(fsec_parse_u64("010", 0, 100, 0, &v), FSEC_OK);
	assert_int_equal(v, 10);
}

static void test_parse_u64_hex(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(fsec_parse_u64("0x10", 0, 100, FSEC_NUM_HEX, &v), FSEC_OK);
	assert_int_equal(v, 16);
	assert_int_equal(fsec_parse_u64("0XfF", 0, 1000, FSEC_NUM_HEX, &v), FSEC_OK);
	assert_int_equal(v, 255);
	assert_int_equal(fsec_parse_u64("0xffffffffffffffff", 0, UINT64_MAX, FSEC_NUM_HEX, &v),
	                 FSEC_OK);
	assert_true(v == UINT64_MAX);
	assert_int_equal(fsec_parse_u64("0x10000000000000000", 0, UINT64_MAX, FSEC_NUM_HEX, &v),
	                 FSEC_ERR_OVERFLOW);
	assert_int_equal(fsec_parse_u64("12", 0, 100, FSEC_NUM_HEX, &v), FSEC_OK);
	assert_int_equal(v, 12);
	assert_int_equal(fsec_parse_u64("0", 0, 100, FSEC_NUM_HEX, &v), FSEC_OK);
	assert_int_equal(v, 0);
	/* No octal, no bare prefix, no sign after the prefix. */
	assert_int_equal(fsec_parse_u64("010", 0, 100, FSEC_NUM_HEX, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64("0x", 0, 100, FSEC_NUM_HEX, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64("0x+1", 0, 100, FSEC_NUM_HEX, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64("0x 1", 0, 100, FSEC_NUM_HEX, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64("0xg", 0, 100, FSEC_NUM_HEX, &v), FSEC_ERR_PARSE);
	assert_int_equal(fsec_parse_u64("0x65", 0, 100, FSEC_NUM_HEX, &v), FSEC_ERR_OVERFLOW);
}

static void test_parse_ulong(void **state)
{
	unsigned long v = 3;

	(void)state;
	assert_true(fsec_parse_ulong("604800", 1, 604800, &v));
	assert_int_equal(v, 604800);
	assert_false(fsec_parse_ulong("604801", 1, 604800, &v));
	assert_false(fsec_parse_ulong("0", 1, 10, &v));
	assert_false(fsec_parse_ulong("+1", 1, 10, &v));
	assert_false(fsec_parse_ulong(" 1", 1, 10, &v));
	assert_false(fsec_parse_ulong("", 0, 10, &v));
	assert_int_equal(v, 604800);
}

/* ---- durations ---- */

static void test_duration(void **state)
{
	int64_t s = 0;

	(void)state;
	assert_int_equal(fsec_duration_parse("30d", &s), FSEC_OK);
	assert_int_equal(s, 30 * 86400);
	assert_int_equal(fsec_duration_parse("12h", &s), FSEC_OK);
	assert_int_equal(s, 12 * 3600);
	assert_int_equal(fsec_duration_parse("15m", &s), FSEC_OK);
	assert_int_equal(s, 900);
	assert_int_equal(fsec_duration_parse("1s", &s), FSEC_OK);
	assert_int_equal(s, 1);
	/* The maximum and one past it, for each unit. */
	assert_int_equal(fsec_duration_parse("3660000000s", &s), FSEC_OK);
	assert_int_equal(s, FSEC_DURATION_MAX);
	assert_int_equal(fsec_duration_parse("3660000001s", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("42361d", &s), FSEC_OK);
	assert_int_equal(fsec_duration_parse("42362d", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("99999999999999999999d", &s), FSEC_ERR_INVAL);
	/* Zero, empty, no unit, no number, sign, blanks, two units, bad unit. */
	s = 5;
	assert_int_equal(fsec_duration_parse("0d", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("30", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("d", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("+30d", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("-30d", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse(" 30d", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("30 d", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("30dd", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("30w", &s), FSEC_ERR_INVAL);
	assert_int_equal(fsec_duration_parse("30D", &s), FSEC_ERR_INVAL);
	assert_int_equal(s, 5);
}

/* ---- RFC 3339 ---- */

static void test_time_parse(void **state)
{
	int64_t t = 0;

	(void)state;
	assert_int_equal(fsec_time_parse("1970-01-01T00:00:00Z", 0, &t), FSEC_OK);
	assert_int_equal(t, 0);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00Z", 0, &t), FSEC_OK);
	assert_int_equal(t, 1769860800);
	/* Lowercase t and z, fractions (truncated). */
	assert_int_equal(fsec_time_parse("2026-01-31t12:00:00.999z", 0, &t), FSEC_OK);
	assert_int_equal(t, 1769860800);
	/* Offsets: the same instant three ways; -00:00 is UTC. */
	assert_int_equal(fsec_time_parse("2026-01-31T13:30:00+01:30", 0, &t), FSEC_OK);
	assert_int_equal(t, 1769860800);
	assert_int_equal(fsec_time_parse("2026-01-31T00:00:00-12:00", 0, &t), FSEC_OK);
	assert_int_equal(t, 1769860800);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00-00:00", 0, &t), FSEC_OK);
	assert_int_equal(t, 1769860800);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00+24:00", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00+01:60", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00+0100", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00+01", 0, &t), FSEC_ERR_PARSE);
	/* Leap seconds: only at 23:59:60 UTC, read as :59. */
	assert_int_equal(fsec_time_parse("2016-12-31T23:59:60Z", 0, &t), FSEC_OK);
	assert_int_equal(t, 1483228799);
	assert_int_equal(fsec_time_parse("2016-12-31T15:59:60-08:00", 0, &t), FSEC_OK);
	assert_int_equal(t, 1483228799);
	assert_int_equal(fsec_time_parse("2016-12-31T12:00:60Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2016-12-31T23:59:60+01:00", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2016-12-31T23:59:61Z", 0, &t), FSEC_ERR_PARSE);
	/* Calendar: leap years, month ends. */
	assert_int_equal(fsec_time_parse("2024-02-29T00:00:00Z", 0, &t), FSEC_OK);
	assert_int_equal(fsec_time_parse("2000-02-29T00:00:00Z", 0, &t), FSEC_OK);
	assert_int_equal(fsec_time_parse("1900-02-29T00:00:00Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-02-29T00:00:00Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-04-31T00:00:00Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-13-01T00:00:00Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-00-01T00:00:00Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-00T00:00:00Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-01T24:00:00Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-01T00:60:00Z", 0, &t), FSEC_ERR_PARSE);
	/* The extremes of four-digit years. */
	assert_int_equal(fsec_time_parse("9999-12-31T23:59:59Z", 0, &t), FSEC_OK);
	assert_int_equal(t, 253402300799LL);
	assert_int_equal(fsec_time_parse("0000-01-01T00:00:00Z", 0, &t), FSEC_OK);
	assert_int_equal(t, -62167219200LL);
	/* Shape: short fields, blanks, missing zone, trailing bytes, empty. */
	t = 42;
	assert_int_equal(fsec_time_parse("2026-1-31T12:00:00Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-31 12:00:00Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00Z ", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00.Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("+026-01-31T12:00:00Z", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-31", 0, &t), FSEC_ERR_PARSE);
	assert_int_equal(t, 42);
}

static void test_time_parse_flags(void **state)
{
	int64_t t = 0;

	(void)state;
	/* Canonical: exactly the form the formatter writes. */
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00Z", FSEC_TIME_CANONICAL, &t), FSEC_OK);
	assert_int_equal(fsec_time_parse("2026-01-31t12:00:00Z", FSEC_TIME_CANONICAL, &t),
	                 FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00z", FSEC_TIME_CANONICAL, &t),
	                 FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00.5Z", FSEC_TIME_CANONICAL, &t),
	                 FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-31T12:00:00+00:00", FSEC_TIME_CANONICAL, &t),
	                 FSEC_ERR_PARSE);
	/* A leap second is not canonical: 23:59:60Z would be a second spelling
	 * of 23:59:59Z, and two strings must not mean one instant in a signed
	 * document. Outside the flag it still reads as :59. */
	t = 7;
	assert_int_equal(fsec_time_parse("2016-12-31T23:59:60Z", FSEC_TIME_CANONICAL, &t),
	                 FSEC_ERR_PARSE);
	assert_int_equal(t, 7);
	assert_int_equal(fsec_time_parse("2016-12-31T23:59:59Z", FSEC_TIME_CANONICAL, &t), FSEC_OK);
	assert_int_equal(t, 1483228799);
	assert_int_equal(fsec_time_parse("2016-12-31T23:59:60Z", 0, &t), FSEC_OK);
	assert_int_equal(t, 1483228799);
	/* A bare date: the day's last second, only with FSEC_TIME_DATE_END. */
	assert_int_equal(fsec_time_parse("2026-01-31", FSEC_TIME_DATE_END, &t), FSEC_OK);
	assert_int_equal(t, 1769903999);
	assert_int_equal(fsec_time_parse("2026-02-30", FSEC_TIME_DATE_END, &t), FSEC_ERR_PARSE);
	assert_int_equal(fsec_time_parse("2026-01-3", FSEC_TIME_DATE_END, &t), FSEC_ERR_PARSE);
}

static void test_time_format(void **state)
{
	char buf[FSEC_TIME_LEN];
	int64_t t = 0;

	(void)state;
	assert_string_equal(fsec_time_format(0, buf), "1970-01-01T00:00:00Z");
	assert_string_equal(fsec_time_format(1769860800, buf), "2026-01-31T12:00:00Z");
	assert_string_equal(fsec_time_format(951782400, buf), "2000-02-29T00:00:00Z");
	assert_string_equal(fsec_time_format(-1, buf), "1969-12-31T23:59:59Z");
	assert_string_equal(fsec_time_format(253402300799LL, buf), "9999-12-31T23:59:59Z");
	assert_string_equal(fsec_time_format(-62167219200LL, buf), "0000-01-01T00:00:00Z");
	assert_string_equal(fsec_time_format(253402300800LL, buf), "?");
	assert_string_equal(fsec_time_format(-62167219201LL, buf), "?");
	assert_string_equal(fsec_time_format(INT64_MAX, buf), "?");
	assert_string_equal(fsec_time_format(INT64_MIN, buf), "?");
	/* Round trips over a spread of times, both sides of 1970. */
	for (int64_t x = -62167219200LL; x < 253402300799LL; x += 86400LL * 3659 + 3601) {
		assert_int_equal(fsec_time_parse(fsec_time_format(x, buf), FSEC_TIME_CANONICAL, &t),
		                 FSEC_OK);
		assert_int_equal(t, x);
	}
}

static void test_date_parse(void **state)
{
	int64_t t = 0;

	(void)state;
	assert_int_equal(fsec_date_parse("2026-01-31", &t), FSEC_OK);
	assert_int_equal(t, 1769903999);
	assert_int_equal(fsec_date_parse("2026-01-31T12:00:00Z", &t), FSEC_OK);
	assert_int_equal(t, 1769860800);
	assert_int_equal(fsec_date_parse("2026-01-31T13:00:00+01:00", &t), FSEC_OK);
	assert_int_equal(t, 1769860800);
	assert_int_equal(fsec_date_parse("2030-02-30", &t), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "not a calendar date"));
	assert_int_equal(fsec_date_parse("2026-2-3", &t), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "is not a date"));
	assert_int_equal(fsec_date_parse("1969-12-31", &t), FSEC_ERR_INVAL);
	assert_int_equal(fsec_date_parse("", &t), FSEC_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_log),
		cmocka_unit_test(test_hex_encode),       cmocka_unit_test(test_hex_decode),
	    cmocka_unit_test(test_hex_valid),        cmocka_unit_test(test_parse_u64),
	    cmocka_unit_test(test_parse_u64_hex),    cmocka_unit_test(test_parse_ulong),
	    cmocka_unit_test(test_duration),         cmocka_unit_test(test_time_parse),
	    cmocka_unit_test(test_time_parse_flags), cmocka_unit_test(test_time_format),
	    cmocka_unit_test(test_date_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
