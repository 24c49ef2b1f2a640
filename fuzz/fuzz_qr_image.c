/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fsec_qr_image_decode: a photographed pairing code
 * (`fleetsec device pair --qr-image`), a PNG decoded by libpng and scanned
 * by zbar. Checks pairscan.h's contract: *text is set only on success, and
 * is then a NUL-terminated string of at most FSEC_PAIR_URI_MAX bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fleetsec/pairing.h"
#include "fleetsec/pairscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = (char *)1;
	enum fsec_err rc;

	/* Pixels cost time, not safety: small images find the bugs. */
	if (size > 65536)
		return 0;
	fsec_clearerr();
	rc = fsec_qr_image_decode(data, size, &text);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK) {
		if (text != NULL)
			abort(); /* cleared on failure */
		return 0;
	}
	if (text == NULL || strlen(text) > FSEC_PAIR_URI_MAX)
		abort();
	free(text);
	return 0;
}
