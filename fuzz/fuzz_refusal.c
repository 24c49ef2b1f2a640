/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fsec_refusal_class: the key a refused request is
 * counted under, derived from a reason that carries what the client sent
 * (serials, device IDs, a parser's detail). The first byte picks the output
 * capacity. Contracts checked: the class is NUL-terminated within its
 * capacity, non-empty, printable ASCII with single spaces, holds no digit
 * and no ':', and is its own class (so stored keys are stable).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limits_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[128], again[128];
	size_t cap, n;

	if (size == 0)
		return 0;
	cap = 2 + data[0] % (sizeof(out) - 2);
	memset(out, 'X', sizeof(out));
	fsec_refusal_class((const char *)data + 1, size - 1, out, cap);
	if (memchr(out, '\0', cap) == NULL)
		abort();
	n = strlen(out);
	if (n == 0 || out[0] == ' ' || out[n - 1] == ' ')
		abort();
	for (size_t i = 0; i < n; i++) {
		if (out[i] < 0x20 || out[i] > 0x7e || (out[i] >= '0' && out[i] <= '9') ||
		    out[i] == ':' || (out[i] == ' ' && out[i + 1] == ' '))
			abort();
	}
	fsec_refusal_class(out, n, again, cap);
	if (strcmp(out, again) != 0)
		abort();
	return 0;
}
