/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for a control-topic message (mqtt.h), which the broker
 * plugin reads from a role client: "kick DEVICE-ID". Contracts checked: an
 * accepted message names a valid device ID that appears in it verbatim
 * after "kick ", and the rest is at most one newline.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleetsec/mqtt.h"
#include "fleetsec/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[FSEC_DEVID_MAX + 1];
	size_t n;

	if (fsec_mqtt_control_parse(data, size, id) != FSEC_OK)
		return 0;
	n = strlen(id);
	if (!fsec_devid_valid(id) || size < 5 + n || memcmp(data, "kick ", 5) != 0 ||
	    memcmp(data + 5, id, n) != 0)
		abort();
	if (size != 5 + n && !(size == 6 + n && data[size - 1] == '\n'))
		abort();
	return 0;
}
