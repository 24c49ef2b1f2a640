/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: quoting outside text in one-line messages. */
#ifndef FLEETSEC_TEXT_INT_H
#define FLEETSEC_TEXT_INT_H

#include <stddef.h>

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

#endif
