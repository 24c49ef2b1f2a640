/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fsec_http_range, which reads the Range header any
 * enrolled device sends to GET /v1/firmware/SHA256. Properties checked: a
 * satisfiable answer always lies inside the file and is never empty, and
 * nothing is read past the header's end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleetsec/devapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t file, off = 0, len = 0;
	char *hdr;
	enum fsec_err rc;

	if (size < 8)
		return 0;
	memcpy(&file, data, 8);
	/* Sizes near 2^64 as well as small ones, and the edge at 0. */
	if (data[0] & 1)
		file %= 1u << 20;
	if ((hdr = malloc(size - 8 + 1)) == NULL)
		return 0;
	memcpy(hdr, data + 8, size - 8);
	hdr[size - 8] = '\0';
	rc = fsec_http_range(hdr, file, &off, &len);
	if (rc == FSEC_OK && (len == 0 || off >= file || len > file - off))
		abort();
	if (rc != FSEC_OK && rc != FSEC_ERR_PARSE && rc != FSEC_ERR_NOTFOUND)
		abort();
	free(hdr);
	return 0;
}
