/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the broker's privacy filter (privacy.h): the input is
 * a device's payload, filtered by a fixed policy. Contracts checked: only an
 * empty payload passes unjudged; a filtered payload is one JSON object whose
 * members are all allowed fields, with a location in range and a rounded
 * field a number; a dropped one has a reason and no output; and filtering
 * the output again changes nothing (the filter is idempotent).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fleetsec/privacy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy[] = "[model thermo]\n"
			     "topic devices/%d/telemetry/#\n"
			     "allow humidity fw nested\n"
			     "precision temp 0.5\n"
			     "precision battery 10\n"
			     "location lat lon 1200\n"
			     "retain expire 60\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fsec_privacy_policy *p;
	static const struct fsec_mqtt_subject who = {.id = "dev-1", .model = "thermo"};
	static const char *const allowed[] = {"humidity", "fw",  "nested", "temp",
					      "battery",  "lat", "lon"};
	struct fsec_privacy_result res, res2;
	char *out = NULL, *out2 = NULL;
	size_t len = 0, len2 = 0;
	json_t *o;
	const char *k;
	json_t *v;

	if (p == NULL && fsec_privacy_parse(policy, sizeof(policy) - 1, "fuzz", &p) != FSEC_OK)
		abort();
	if (fsec_privacy_filter(p, &who, "devices/dev-1/telemetry/x", data, size, size & 1, &out,
				&len, &res) != FSEC_OK)
		return 0; /* NOMEM */
	if (res.verdict == FSEC_PRIVACY_PASS) {
		if (size != 0 || out != NULL)
			abort();
		return 0;
	}
	if (res.verdict == FSEC_PRIVACY_DROP) {
		if (out != NULL || res.reason[0] == '\0')
			abort();
		return 0;
	}
	if (out == NULL || strlen(out) != len)
		abort();
	o = json_loadb(out, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o))
		abort();
	json_object_foreach(o, k, v)
	{
		bool ok = false;

		for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			ok |= strcmp(k, allowed[i]) == 0;
		if (!ok)
			abort();
		if ((strcmp(k, "lat") == 0 &&
		     !(json_is_real(v) && json_real_value(v) >= -90 && json_real_value(v) <= 90)) ||
		    (strcmp(k, "lon") == 0 && !(json_is_real(v) && json_real_value(v) >= -180 &&
						json_real_value(v) <= 180)) ||
		    ((strcmp(k, "temp") == 0 || strcmp(k, "battery") == 0) && !json_is_number(v)))
			abort();
	}
	if ((json_object_get(o, "lat") == NULL) != (json_object_get(o, "lon") == NULL))
		abort();
	json_decref(o);
	if (fsec_privacy_filter(p, &who, "devices/dev-1/telemetry/x", out, len, false, &out2,
				&len2, &res2) == FSEC_OK &&
	    (res2.verdict != FSEC_PRIVACY_FILTERED || len2 != len || memcmp(out, out2, len) != 0 ||
	     res2.removed != 0))
		abort();
	free(out2);
	free(out);
	return 0;
}
