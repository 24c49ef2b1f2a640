/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: quoting outside text in one-line messages, and name rules. */
#ifndef FLEETSEC_TEXT_INT_H
#define FLEETSEC_TEXT_INT_H

#include <stdbool.h>
#include <stddef.h>

/* True if s is 1..max characters of [A-Za-z0-9._-]: the grammar of device
 * IDs (fsec_devid_valid), models and groups. */
bool fsec_name_valid(const char *s, size_t max);

/* s without its leading blanks (space, tab) and, cut in place, its trailing
 * ones and a CR: a line of a text file a person wrote, from either system. */
char *fsec_text_trim(char *s);

/* Copy s into buf (truncating to cap - 1 bytes), with control characters
 * replaced by '?': text from a hostile file must not be able to forge extra
 * lines in an error or a warning. Returns buf. */
static inline const char *fsec_text_clean(const char *s, char *buf, size_t cap)
{
	size_t i = 0;

	for (; s[i] != '\0' && i + 1 < cap; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

/* A DNS host name with at least two labels: letters, digits, '-' and '_',
 * labels of 1-63 characters, at most 253 in all. Names go into dnsmasq's
 * nftset=/NAME/ lines, where a single label ("com") or "." would match a
 * whole domain tree, and '/' or a newline would change the line. */
static inline int fsec_text_is_hostname(const char *s)
{
	size_t label = 0, n = 0, dots = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			dots++;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_') ||
		    ++label > 63)
			return 0;
	}
	return n > 0 && n <= 253 && label > 0 && dots > 0;
}

#endif
