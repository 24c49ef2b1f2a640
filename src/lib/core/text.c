/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one hex codec, number grammar, duration parser and RFC 3339 parser and
 * formatter (fleetsec/text.h). Everything here is arithmetic on characters:
 * no locale, no time zone, no strtol (which skips blanks and takes a sign),
 * no strptime (which takes "2026-2-3").
 */
#include <string.h>

#include "err_int.h"
#include "fleetsec/text.h"
#include "text_int.h"

/* ---- outside text in a log line ---- */

FSEC_API const char *fsec_text_log(const char *s, unsigned flags, char *buf, size_t cap)
{
	fsec_text_clean(s != NULL ? s : "-", buf, cap);
	for (unsigned char *p = (unsigned char *)buf; *p != '\0'; p++)
		if (*p >= 0x80 || (*p == ' ' && (flags & FSEC_TEXT_FIELD) != 0))
			*p = '?';
	return buf;
}

/* ---- hex ---- */

FSEC_API void fsec_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int hex_digit(char c, unsigned flags)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F' && !(flags & FSEC_HEX_LOWER))
		return c - 'A' + 10;
	return -1;
}

FSEC_API bool fsec_hex_valid(const char *s, size_t n, unsigned flags)
{
	/* 2 * n cannot wrap for any n that fits in memory, but a caller's n is
	 * not memory: check rather than trust. */
	if (n > SIZE_MAX / 2)
		return false;
	for (size_t i = 0; i < 2 * n; i++)
		if (s[i] == '\0' || hex_digit(s[i], flags) < 0)
			return false;
	return s[2 * n] == '\0';
}

FSEC_API enum fsec_err fsec_hex_decode(const char *s, unsigned char *out, size_t n, unsigned flags)
{
	if (!fsec_hex_valid(s, n, flags))
		return fsec_seterr(FSEC_ERR_PARSE, "not %zu %shex digits",
		                   n <= SIZE_MAX / 2 ? 2 * n : n,
		                   flags & FSEC_HEX_LOWER ? "lowercase " : "");
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)(hex_digit(s[2 * i], flags) << 4 |
		                         hex_digit(s[2 * i + 1], flags));
	return FSEC_OK;
}

/* ---- numbers ---- */

FSEC_API enum fsec_err fsec_parse_u64(const char *s, uint64_t min, uint64_t max, unsigned flags,
                                      uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	size_t i = 0;

	if ((flags & FSEC_NUM_HEX) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	} else if ((flags & FSEC_NUM_HEX) && s[0] == '0' && s[1] != '\0') {
		return fsec_seterr(FSEC_ERR_PARSE, "a leading 0 (octal?) is not a number here");
	}
	if (s[i] == '\0')
		return fsec_seterr(FSEC_ERR_PARSE, "not a number: empty");
	for (; s[i] != '\0'; i++) {
		int d = base == 16                   ? hex_digit(s[i], 0)
		        : s[i] >= '0' && s[i] <= '9' ? s[i] - '0'
		                                     : -1;

		if (d < 0)
			return fsec_seterr(FSEC_ERR_PARSE, "not a number: bad digit");
		/* Overflow is reported, never wrapped: "18446744073709551616"
		 * must not read as 0. */
		if (fsec_mul_overflow(v, (uint64_t)base, &v) ||
		    fsec_add_overflow(v, (uint64_t)d, &v))
			return fsec_seterr(FSEC_ERR_OVERFLOW, "number out of range");
	}
	if (v < min || v > max)
		return fsec_seterr(FSEC_ERR_OVERFLOW, "number out of range");
	*out = v;
	return FSEC_OK;
}

FSEC_API bool fsec_parse_ulong(const char *s, unsigned long min, unsigned long max,
                               unsigned long *out)
{
	uint64_t v;

	if (fsec_parse_u64(s, min, max, 0, &v) != FSEC_OK)
		return false;
	*out = (unsigned long)v;
	return true;
}

/* ---- durations ---- */

FSEC_API enum fsec_err fsec_duration_parse(const char *s, int64_t *seconds)
{
	char num[24];
	size_t n = strlen(s);
	int64_t unit;
	uint64_t v;

	if (n < 2 || n - 1 >= sizeof(num))
		goto bad;
	switch (s[n - 1]) {
	case 'd': unit = 86400; break;
	case 'h': unit = 3600; break;
	case 'm': unit = 60; break;
	case 's': unit = 1; break;
	default: goto bad;
	}
	memcpy(num, s, n - 1);
	num[n - 1] = '\0';
	if (fsec_parse_u64(num, 1, (uint64_t)(FSEC_DURATION_MAX / unit), 0, &v) != FSEC_OK)
		goto bad;
	*seconds = (int64_t)v * unit;
	return FSEC_OK;
bad:
	return fsec_seterr(FSEC_ERR_INVAL, "invalid duration '%.32s' (like 30d, 12h, 45m, 90s)", s);
}

/* ---- RFC 3339 times ---- */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil): exact, no time zone, any year. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

/* n decimal digits at s (n <= 4), or -1 if any is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "YYYY-MM-DD" at s, checked to exist. Reads stop at the first byte out
 * of shape, so a short string is never read past its NUL. */
static bool parse_date(const char *s, int *y, int *m, int *d)
{
	return (*y = digits(s, 4)) >= 0 && s[4] == '-' && (*m = digits(s + 5, 2)) >= 1 &&
	       *m <= 12 && s[7] == '-' && (*d = digits(s + 8, 2)) >= 1 &&
	       (unsigned)*d <= days_in_month(*y, (unsigned)*m);
}

FSEC_API enum fsec_err fsec_time_parse(const char *s, unsigned flags, int64_t *out)
{
	int y, mo, d, h, mi, sec, off = 0;
	size_t n = strlen(s), i = 19;
	int64_t t;

	/* Reading stops at the first byte that does not fit; the shorter
	 * forms are told apart by length first, so no read runs past the NUL. */
	if ((flags & FSEC_TIME_DATE_END) && n == 10) {
		if (!parse_date(s, &y, &mo, &d))
			goto bad;
		*out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + 86399;
		return FSEC_OK;
	}
	if (n < 20 || !parse_date(s, &y, &mo, &d) ||
	    (s[10] != 'T' && ((flags & FSEC_TIME_CANONICAL) || s[10] != 't')) || s[13] != ':' ||
	    s[16] != ':')
		goto bad;
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		goto bad;
	/* A leap second reads as :59, so in canonical form it would be a
	 * second spelling of an instant the formatter writes one way. */
	if (sec == 60 && (flags & FSEC_TIME_CANONICAL))
		goto bad;
	if (s[i] == '.' && !(flags & FSEC_TIME_CANONICAL)) {
		/* A fraction is at least one digit; it is truncated. */
		if (s[++i] < '0' || s[i] > '9')
			goto bad;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (s[i] == 'Z' || (s[i] == 'z' && !(flags & FSEC_TIME_CANONICAL))) {
		i++;
	} else if ((s[i] == '+' || s[i] == '-') && !(flags & FSEC_TIME_CANONICAL)) {
		int oh = n - i == 6 ? digits(s + i + 1, 2) : -1;
		int om = n - i == 6 && s[i + 3] == ':' ? digits(s + i + 4, 2) : -1;

		/* RFC 3339 allows offsets of hours 00-23 and minutes 00-59;
		 * "-00:00" (UTC, local offset unknown) is one of them. */
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			goto bad;
		off = (s[i] == '-' ? -1 : 1) * (oh * 60 + om) * 60;
		i += 6;
	} else {
		goto bad;
	}
	if (i != n)
		goto bad;
	t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
	    (sec == 60 ? 59 : sec) - off;
	/* A leap second is inserted at the end of a UTC day only: 23:59:60
	 * in the writer's zone is fine if it is 23:59:60 UTC. */
	if (sec == 60 && (t % 86400 + 86400) % 86400 != 86399)
		goto bad;
	*out = t;
	return FSEC_OK;
bad:
	return fsec_seterr(FSEC_ERR_PARSE,
	                   "'%.40s' is not an RFC 3339 time like 2026-01-31T12:00:00Z", s);
}

FSEC_API const char *fsec_time_format(int64_t t, char out[FSEC_TIME_LEN])
{
	/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: four-digit years. */
	static const int64_t lo = -62167219200LL, hi = 253402300799LL;
	int64_t days, y, rem;
	unsigned m, d;

	if (t < lo || t > hi) {
		memcpy(out, "?", 2);
		return out;
	}
	/* Floor division, so that times before 1970 land on the right day. */
	days = t / 86400 - (t % 86400 < 0);
	rem = t - days * 86400;
	civil_from_days(days, &y, &m, &d);
	out[0] = (char)('0' + y / 1000);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + d / 10);
	out[9] = (char)('0' + d % 10);
	out[10] = 'T';
	out[11] = (char)('0' + rem / 36000);
	out[12] = (char)('0' + rem / 3600 % 10);
	out[13] = ':';
	out[14] = (char)('0' + rem % 3600 / 600);
	out[15] = (char)('0' + rem % 3600 / 60 % 10);
	out[16] = ':';
	out[17] = (char)('0' + rem % 60 / 10);
	out[18] = (char)('0' + rem % 10);
	out[19] = 'Z';
	out[20] = '\0';
	return out;
}

FSEC_API enum fsec_err fsec_date_parse(const char *s, int64_t *out)
{
	int64_t t;
	int y, m, d;

	/* Before 1970 is no support date; the old reader refused it too. */
	if (fsec_time_parse(s, FSEC_TIME_DATE_END, &t) == FSEC_OK && t >= 0) {
		*out = t;
		return FSEC_OK;
	}
	/* The two messages operators know: a well-shaped day that does not
	 * exist, and anything else. */
	if (strlen(s) >= 10 && digits(s, 4) >= 0 && s[4] == '-' && digits(s + 5, 2) >= 0 &&
	    s[7] == '-' && digits(s + 8, 2) >= 0 && !parse_date(s, &y, &m, &d))
		return fsec_seterr(FSEC_ERR_INVAL, "'%.40s' is not a calendar date", s);
	return fsec_seterr(FSEC_ERR_INVAL,
	                   "'%.40s' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)", s);
}
