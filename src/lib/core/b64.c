/* SPDX-License-Identifier: Apache-2.0 */
/* Base64 (RFC 4648) through OpenSSL's EVP encoder, with the size checks
 * and strictness (no stray characters, whole groups only) EST bodies need. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "b64_int.h"

bool fsec_b64_decode(const char *s, size_t slen, unsigned char *out, size_t cap, size_t *len)
{
	size_t pad = 0;
	int n;

	/* Checked before decoding: EVP_DecodeBlock writes slen / 4 * 3 bytes. */
	if (slen == 0 || slen % 4 != 0 || slen / 4 * 3 > cap || slen > INT32_MAX)
		return false;
	for (size_t i = 0; i < slen; i++) {
		char c = s[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '+' || c == '/';

		if (c == '=' && i >= slen - 2 && (i == slen - 1 || s[slen - 1] == '='))
			pad++;
		else if (!ok)
			return false;
	}
	n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)slen);
	if (n < 0 || (size_t)n < pad)
		return false;
	*len = (size_t)n - pad;
	return true;
}

bool fsec_b64_decode_lines(const unsigned char *s, size_t slen, size_t cap, unsigned char **out,
			   size_t *len)
{
	char *packed;
	unsigned char *buf = NULL;
	size_t n = 0, dcap;

	/* Bound before allocating: cap decoded bytes are at most 4/3 as many
	 * characters, plus line breaks, which a hostile body need not have. */
	if (slen > cap / 3 * 4 * 2 + 8)
		return false;
	if ((packed = malloc(slen + 1)) == NULL)
		return false;
	for (size_t i = 0; i < slen; i++)
		if (s[i] != '\r' && s[i] != '\n' && s[i] != ' ' && s[i] != '\t')
			packed[n++] = (char)s[i];
	dcap = n / 4 * 3;
	if (dcap > cap + 2 || (buf = malloc(dcap > 0 ? dcap : 1)) == NULL ||
	    !fsec_b64_decode(packed, n, buf, dcap, len) || *len > cap) {
		free(buf);
		free(packed);
		return false;
	}
	free(packed);
	*out = buf;
	return true;
}

char *fsec_b64_encode(const unsigned char *in, size_t len)
{
	size_t olen;
	char *out;

	if (len > (size_t)INT32_MAX / 2)
		return NULL;
	olen = (len + 2) / 3 * 4 + 1;
	out = malloc(olen);
	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

char *fsec_b64_encode_lines(const unsigned char *in, size_t len, size_t *olen)
{
	char *flat = fsec_b64_encode(in, len), *out;
	size_t n, lines, k = 0;

	if (flat == NULL)
		return NULL;
	n = strlen(flat);
	lines = (n + 63) / 64;
	if ((out = malloc(n + 2 * lines + 1)) == NULL) {
		free(flat);
		return NULL;
	}
	for (size_t i = 0; i < n; i += 64) {
		size_t m = n - i < 64 ? n - i : 64;

		memcpy(out + k, flat + i, m);
		k += m;
		out[k++] = '\r';
		out[k++] = '\n';
	}
	out[k] = '\0';
	*olen = k;
	free(flat);
	return out;
}
