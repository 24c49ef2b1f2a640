/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: base64 (RFC 4648) over OpenSSL's EVP block coder. */
#ifndef FLEETSEC_B64_INT_H
#define FLEETSEC_B64_INT_H

#include <stdbool.h>
#include <stddef.h>

/* Strict standard base64 (with padding, no whitespace) of at most cap
 * decoded bytes into out. False if malformed or too long. */
bool fsec_b64_decode(const char *s, size_t slen, unsigned char *out, size_t cap, size_t *len);

/*
 * MIME-style base64 as EST bodies carry it (RFC 7030 section 4: line breaks
 * allowed): whitespace is dropped, the rest decoded strictly. *out is
 * malloc'd (at most cap bytes). False if malformed, too long or out of memory.
 */
bool fsec_b64_decode_lines(const unsigned char *s, size_t slen, size_t cap, unsigned char **out,
			   size_t *len);

/* Base64 without line breaks, NUL-terminated, malloc'd; NULL if too long or
 * out of memory. */
char *fsec_b64_encode(const unsigned char *in, size_t len);

/* As fsec_b64_encode, with a CRLF after every 64 characters and at the end,
 * as MIME (and EST responses) expect. *olen excludes the NUL. */
char *fsec_b64_encode_lines(const unsigned char *in, size_t len, size_t *olen);

#endif
