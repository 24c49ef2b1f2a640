/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fsec_pair_uri_parse: the pairing URI an operator
 * pastes or a QR code carries (issue 18), outside input to `fleetsec device
 * pair`. Besides the sanitizers it checks pairing.h's contract: out is
 * filled only on success; a success has a valid device ID, a P-256 key and
 * its hash; and the URI fleetsec makes for that key and serial parses back
 * to the same key (the compressed form round-trips).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fleetsec/key.h"
#include "fleetsec/pairing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsec_pair_uri u, back;
	char *again = NULL;
	enum fsec_err rc;

	if (size > 4096)
		return 0;
	memset(&u, 'Z', sizeof(u));
	fsec_clearerr();
	rc = fsec_pair_uri_parse((const char *)data, size, &u);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK) {
		if (u.serial[0] != 'Z')
			abort(); /* out is written only on success */
		return 0;
	}
	if (size > FSEC_PAIR_URI_MAX || !fsec_devid_valid(u.serial) || u.key == NULL ||
	    strlen(u.key_sha256) != FSEC_SHA256_HEX_LEN - 1)
		abort();
	if (fsec_pair_uri_make(u.key, u.serial, &again) != FSEC_OK)
		abort();
	if (fsec_pair_uri_parse(again, strlen(again), &back) != FSEC_OK ||
	    strcmp(back.key_sha256, u.key_sha256) != 0 || strcmp(back.serial, u.serial) != 0)
		abort();
	fuzz_check_detail(FSEC_OK);
	fsec_pair_uri_cleanup(&back);
	fsec_pair_uri_cleanup(&u);
	free(again);
	return 0;
}
