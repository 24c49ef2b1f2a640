/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the EST body decoder: the base64 (with line breaks)
 * that anyone reaching /.well-known/est/simpleenroll can send, before the
 * CSR parser (fuzz_csr) sees a byte. Property checked besides the
 * sanitizers: whatever decodes, re-encodes (with and without line breaks)
 * to something that decodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64_int.h"
#include "fleetsec/csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *der = NULL, *again = NULL, *flat_der = NULL;
	size_t len = 0, alen = 0, flen = 0, elen = 0;
	char *lines, *flat;

	if (!fsec_b64_decode_lines(data, size, FSEC_CSR_MAX, &der, &len))
		return 0;
	if (len > FSEC_CSR_MAX)
		abort();
	lines = fsec_b64_encode_lines(der, len, &elen);
	flat = fsec_b64_encode(der, len);
	if (lines == NULL || flat == NULL || elen != strlen(lines))
		abort();
	if (!fsec_b64_decode_lines((const unsigned char *)lines, elen, FSEC_CSR_MAX, &again, &alen) ||
	    alen != len || memcmp(again, der, len) != 0)
		abort();
	flat_der = malloc(len + 3);
	if (flat_der == NULL || !fsec_b64_decode(flat, strlen(flat), flat_der, len + 3, &flen) ||
	    flen != len || memcmp(flat_der, der, len) != 0)
		abort();
	free(flat_der);
	free(again);
	free(flat);
	free(lines);
	free(der);
	return 0;
}
