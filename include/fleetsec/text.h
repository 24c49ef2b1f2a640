/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text in and out: hex, RFC 3339 times, durations and bounded numbers.
 *
 * One grammar each, used by every module, the configuration files and all
 * three binaries (curl's strparse, wireguard-tools' one parse_port). The
 * parsers are strict: no sign, no blanks, no base guessing, no trailing
 * bytes; each takes its bounds from the caller. All functions here are pure
 * and thread-safe; the ones returning enum fsec_err leave a one-line reason
 * in fsec_err_detail() and write their outputs only on success.
 */
#ifndef FLEETSEC_TEXT_H
#define FLEETSEC_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetsec/common.h"

/* ---- hex ---- */

/* Write the lowercase hex of len bytes into out (2*len+1 bytes, NUL-ended).
 * Declared here; key.h includes this header for its old callers. */
FSEC_API void fsec_hex(const unsigned char *in, size_t len, char *out);

/* fsec_hex_decode and fsec_hex_valid flags: refuse A-F (digests and file
 * names are written lowercase, and one spelling per name is what makes a
 * file name or a registry key unique). */
#define FSEC_HEX_LOWER 0x1u

/* True if s is exactly 2*n hex digits (either case unless FSEC_HEX_LOWER),
 * nothing before or after. n == 0 accepts only "". */
FSEC_API bool fsec_hex_valid(const char *s, size_t n, unsigned flags);

/* Decode s, exactly 2*n hex digits, into out (n bytes). An odd length, a
 * wrong length or a non-hex character is PARSE; out is untouched then. */
FSEC_API FSEC_WUR enum fsec_err fsec_hex_decode(const char *s, unsigned char *out, size_t n,
                                                unsigned flags);

/* ---- numbers ---- */

/* fsec_parse_u64 flag: also accept "0x" or "0X" and hex digits (as imgtool
 * takes sizes). With it a decimal number may not start with 0 ("010" would
 * read as 8 to some, 10 to others), except "0" itself. */
#define FSEC_NUM_HEX 0x1u

/*
 * Parse s as an unsigned number in [min, max]: decimal digits only (no sign,
 * no blanks, no trailing bytes), or with FSEC_NUM_HEX a 0x-prefixed hex
 * number. Errors: PARSE (empty, not digits), OVERFLOW (out of [min, max],
 * including past UINT64_MAX).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_parse_u64(const char *s, uint64_t min, uint64_t max,
                                               unsigned flags, uint64_t *out);

/* Parse s as a decimal number in [min, max] with fsec_parse_u64's grammar
 * (digits only). False otherwise. */
FSEC_API bool fsec_parse_ulong(const char *s, unsigned long min, unsigned long max,
                               unsigned long *out);

/* ---- durations ---- */

/* The longest duration, about 100 years: keeps every later addition to a
 * UNIX time in range. */
#define FSEC_DURATION_MAX 3660000000LL

/* Parse "30d", "12h", "45m" or "90s" (a positive decimal number, one unit)
 * into seconds, at most FSEC_DURATION_MAX. Errors: INVAL. */
FSEC_API FSEC_WUR enum fsec_err fsec_duration_parse(const char *s, int64_t *seconds);

/* ---- outside text in a log line ---- */

/* fsec_text_log flag: the text is a field in the middle of a line (a URI, a
 * device ID), so a space, which would let it forge the fields after it, is
 * replaced too. */
#define FSEC_TEXT_FIELD 0x1u

/*
 * Copy s into buf (cap >= 1 bytes, truncated to cap - 1, NUL-ended) for a
 * log line: the library's one sanitiser (text_int.h's fsec_text_clean, the
 * rule every error message follows: control characters and DEL become '?'),
 * and, because a log is read on terminals that take C1 controls and by
 * tools that split on Unicode line separators, every byte from 0x80 up
 * becomes '?' as well. With FSEC_TEXT_FIELD, spaces too. s NULL is "-".
 * Returns buf. Thread-safe.
 */
FSEC_API const char *fsec_text_log(const char *s, unsigned flags, char *buf, size_t cap);

/* ---- RFC 3339 times ---- */

/* "YYYY-MM-DDTHH:MM:SSZ" plus NUL: what fsec_time_format writes. */
#define FSEC_TIME_LEN 21

/* fsec_time_parse flags. */
/* Only the canonical form fsec_time_format writes, "YYYY-MM-DDTHH:MM:SSZ",
 * and no leap second (it never writes :60): for signed documents, where one
 * spelling per time keeps them comparable. */
#define FSEC_TIME_CANONICAL 0x1u
/* Also accept a bare "YYYY-MM-DD", read as the last second of that day in
 * UTC (support "until" a date includes it). */
#define FSEC_TIME_DATE_END 0x2u

/*
 * Parse an RFC 3339 date-time (section 5.6) into UNIX seconds:
 * "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)", 'T' and 'Z' in either
 * case. The fraction is truncated. A leap second (SS = 60) is accepted only
 * where it can fall, at 23:59:60 UTC once the offset is applied, and reads
 * as 23:59:59 (UNIX time has no leap seconds). Dates must exist (no
 * February 30); years are 0000-9999. Errors: PARSE.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_time_parse(const char *s, unsigned flags, int64_t *out);

/* Write t as "YYYY-MM-DDTHH:MM:SSZ" into out and return out. A time outside
 * years 0000-9999 is written as "?". Never fails. */
FSEC_API const char *fsec_time_format(int64_t t, char out[FSEC_TIME_LEN]);

/*
 * Parse a date "YYYY-MM-DD" (the end of that day, UTC) or an RFC 3339 time,
 * from 1970 on, into UNIX seconds. The CLI's date flags.
 * Errors: INVAL. Declared here; product.h includes this header.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_date_parse(const char *s, int64_t *out);

#endif
