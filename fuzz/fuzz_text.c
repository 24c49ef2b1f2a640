/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the core text grammars (fleetsec/text.h) and the
 * Range header (fsec_http_range): RFC 3339 times under each flag, support
 * dates, durations, bounded numbers, hex. They read signed manifests,
 * configuration files, command-line flags and HTTP headers.
 *
 * Input: 8 bytes of parameters (a size or a bound), then the text. Each
 * parser gets the same text. Properties checked, besides the error contract
 * (fuzz_check.h) and "outputs written only on success":
 * - a time that parses formats and parses back to the same instant, and
 *   under FSEC_TIME_CANONICAL the text is exactly what the formatter writes
 *   (one spelling per instant);
 * - a duration is in [1, FSEC_DURATION_MAX] and "<N>s" parses back to it;
 * - a number is within its bounds, reads back from its own decimal (or hex)
 *   spelling, and fsec_parse_ulong agrees with fsec_parse_u64;
 * - hex decodes iff it is valid, and re-encodes to its lowercase self;
 * - a satisfiable range lies inside the file and "bytes=A-B" reads back.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fleetsec/devapi.h"
#include "fleetsec/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sentinel for "outputs written only on success". */
#define UNTOUCHED64 0x5a5a5a5a5a5a5a5aULL

static void check_time(const char *s)
{
	static const unsigned flags[] = {0, FSEC_TIME_CANONICAL, FSEC_TIME_DATE_END,
	                                 FSEC_TIME_CANONICAL | FSEC_TIME_DATE_END};
	int64_t plain = (int64_t)UNTOUCHED64;
	enum fsec_err plain_rc = FSEC_ERR_PARSE;

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		int64_t t = (int64_t)UNTOUCHED64, back = 0;
		char buf[FSEC_TIME_LEN];
		enum fsec_err rc;

		fsec_clearerr();
		rc = fsec_time_parse(s, flags[i], &t);
		fuzz_check_detail(rc);
		if (rc != FSEC_OK) {
			if (rc != FSEC_ERR_PARSE || t != (int64_t)UNTOUCHED64)
				abort();
			continue;
		}
		if (flags[i] == 0) {
			plain_rc = rc;
			plain = t;
		}
		/* Every flag only narrows or adds the bare date: where the
		 * plain grammar also reads the text, they agree. */
		if (plain_rc == FSEC_OK && t != plain)
			abort();
		/* Years 0000-9999 with an offset may leave the formatter's
		 * range; it writes "?" then. */
		if (strcmp(fsec_time_format(t, buf), "?") == 0)
			continue;
		if (fsec_time_parse(buf, FSEC_TIME_CANONICAL, &back) != FSEC_OK || back != t)
			abort();
		if ((flags[i] & FSEC_TIME_CANONICAL) && strlen(s) != 10 && strcmp(buf, s) != 0)
			abort(); /* a second spelling of one instant */
		if ((flags[i] & FSEC_TIME_DATE_END) && strlen(s) == 10 &&
		    (t % 86400 + 86400) % 86400 != 86399)
			abort();
	}
}

static void check_date(const char *s)
{
	int64_t t = (int64_t)UNTOUCHED64, u = 0;
	enum fsec_err rc;

	fsec_clearerr();
	rc = fsec_date_parse(s, &t);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK) {
		if (rc != FSEC_ERR_INVAL || t != (int64_t)UNTOUCHED64)
			abort();
		return;
	}
	if (t < 0 || fsec_time_parse(s, FSEC_TIME_DATE_END, &u) != FSEC_OK || u != t)
		abort();
}

static void check_duration(const char *s)
{
	int64_t d = (int64_t)UNTOUCHED64, back = 0;
	char buf[32];
	enum fsec_err rc;

	fsec_clearerr();
	rc = fsec_duration_parse(s, &d);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK) {
		if (rc != FSEC_ERR_INVAL || d != (int64_t)UNTOUCHED64)
			abort();
		return;
	}
	if (d < 1 || d > FSEC_DURATION_MAX)
		abort();
	snprintf(buf, sizeof(buf), "%" PRId64 "s", d);
	if (fsec_duration_parse(buf, &back) != FSEC_OK || back != d)
		abort();
}

static void check_numbers(const char *s, uint64_t p)
{
	/* Bounds from the parameters: a narrow window somewhere, or all. */
	uint64_t lo = p & 1 ? p >> 33 : 0, hi = p & 1 ? lo + (p >> 1 & 0xffffffu) : UINT64_MAX;
	unsigned long ul = (unsigned long)UNTOUCHED64;
	char buf[32];

	for (unsigned flags = 0; flags <= FSEC_NUM_HEX; flags++) {
		uint64_t v = UNTOUCHED64, all = 0, back = 0;
		enum fsec_err rc;

		fsec_clearerr();
		rc = fsec_parse_u64(s, lo, hi, flags, &v);
		fuzz_check_detail(rc);
		if (rc != FSEC_OK) {
			if ((rc != FSEC_ERR_PARSE && rc != FSEC_ERR_OVERFLOW) || v != UNTOUCHED64)
				abort();
			continue;
		}
		if (v < lo || v > hi)
			abort();
		if (fsec_parse_u64(s, 0, UINT64_MAX, flags, &all) != FSEC_OK || all != v)
			abort();
		if ((flags & FSEC_NUM_HEX) && (s[1] == 'x' || s[1] == 'X'))
			snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
		else
			snprintf(buf, sizeof(buf), "%" PRIu64, v);
		if (fsec_parse_u64(buf, lo, hi, flags, &back) != FSEC_OK || back != v)
			abort();
		/* With the hex flag a decimal has no leading zero: its
		 * spelling is the only one. */
		if ((flags & FSEC_NUM_HEX) && s[1] != 'x' && s[1] != 'X' && strcmp(buf, s) != 0)
			abort();
	}
	if (hi <= (uint64_t)(unsigned long)-1) {
		uint64_t v = 0;
		bool ok = fsec_parse_ulong(s, (unsigned long)lo, (unsigned long)hi, &ul);

		if (ok != (fsec_parse_u64(s, lo, hi, 0, &v) == FSEC_OK) || (ok && ul != v) ||
		    (!ok && ul != (unsigned long)UNTOUCHED64))
			abort();
	}
}

static void check_hex(const char *s)
{
	size_t len = strlen(s), n = len / 2;
	unsigned char *bin = malloc(n + 1);
	char *again = malloc(2 * n + 1);

	if (bin == NULL || again == NULL)
		goto out;
	for (unsigned flags = 0; flags <= FSEC_HEX_LOWER; flags++) {
		bool valid = fsec_hex_valid(s, n, flags);
		enum fsec_err rc;

		memset(bin, 0x5a, n + 1);
		fsec_clearerr();
		rc = fsec_hex_decode(s, bin, n, flags);
		fuzz_check_detail(rc);
		if (valid != (rc == FSEC_OK) || (rc != FSEC_OK && rc != FSEC_ERR_PARSE))
			abort();
		if (bin[n] != 0x5a)
			abort(); /* wrote past n bytes */
		if (rc != FSEC_OK)
			continue;
		if (len % 2 != 0)
			abort();
		fsec_hex(bin, n, again);
		for (size_t i = 0; i < len; i++)
			if (again[i] != (s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]))
				abort();
	}
	/* A wrong n never validates a string of another length. */
	if (n > 0 && fsec_hex_valid(s, n - 1, 0))
		abort();
out:
	free(bin);
	free(again);
}

static void check_range(const char *s, uint64_t p)
{
	/* Sizes near 2^64 as well as small ones, and the edge at 0. */
	uint64_t file = p & 2 ? p % (1u << 20) : p, off = UNTOUCHED64, len = UNTOUCHED64, o2 = 0,
	         l2 = 0;
	char buf[64];
	enum fsec_err rc = fsec_http_range(s, file, &off, &len);

	if (rc != FSEC_OK) {
		if ((rc != FSEC_ERR_PARSE && rc != FSEC_ERR_NOTFOUND) || off != UNTOUCHED64 ||
		    len != UNTOUCHED64)
			abort();
		return;
	}
	if (len == 0 || off >= file || len > file - off)
		abort();
	snprintf(buf, sizeof(buf), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
	if (fsec_http_range(buf, file, &o2, &l2) != FSEC_OK || o2 != off || l2 != len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t p;
	char *s;

	if (size < 8)
		return 0;
	memcpy(&p, data, 8);
	/* The text ends at the first NUL, as every C caller's string does. */
	if ((s = malloc(size - 8 + 1)) == NULL)
		return 0;
	memcpy(s, data + 8, size - 8);
	s[size - 8] = '\0';
	check_time(s);
	check_date(s);
	check_duration(s);
	check_numbers(s, p);
	check_hex(s);
	check_range(s, p);
	free(s);
	return 0;
}
