/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fsec_device_status_parse: the JSON any enrolled
 * device sends to POST /v1/status. Contracts checked: a reason on every
 * failure, a one-line NUL-terminated one, and on success fields within
 * their documented alphabets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fleetsec/devapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsec_device_status st;
	enum fsec_err rc;

	fsec_clearerr();
	rc = fsec_device_status_parse(data, size, &st);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK)
		return 0;
	if (st.version[0] == '\0' || (st.slot != 0 && st.slot != 'a' && st.slot != 'b') ||
	    strlen(st.reason) >= sizeof(st.reason) || strlen(st.update) >= sizeof(st.update))
		abort();
	for (const char *p = st.reason; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			abort();
	return 0;
}
