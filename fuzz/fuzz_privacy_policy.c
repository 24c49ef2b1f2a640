/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the privacy policy parser (privacy.h), the broker
 * plugin's reader of an operator's file. Contracts checked: a refused policy
 * leaves *out NULL with a reason naming the origin; a parsed one has blocks
 * whose fields are named once, a location cell within its bounds (under
 * 1200 m only when precise), rounding steps over 0, and the topics the
 * blocks match are never '$' topics.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleetsec/privacy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fsec_mqtt_subject who = {.id = "dev-1", .model = "thermo",
						     .group = "lab"};
	struct fsec_privacy_policy *p = NULL;

	if (fsec_privacy_parse((const char *)data, size, "fuzz.policy", &p) != FSEC_OK) {
		if (p != NULL || strncmp(fsec_err_detail(), "fuzz.policy", 11) != 0)
			abort();
		return 0;
	}
	for (size_t i = 0; i < fsec_privacy_count(p); i++) {
		const struct fsec_privacy_block *b = fsec_privacy_get(p, i);
		size_t lat = 0, lon = 0;

		if (b == NULL || b->topic[0] == '$' || b->nfields > FSEC_PRIVACY_FIELDS_MAX)
			abort();
		for (size_t j = 0; j < b->nfields; j++) {
			const struct fsec_privacy_field *f = &b->fields[j];

			for (size_t k = 0; k < j; k++)
				if (strcmp(f->name, b->fields[k].name) == 0)
					abort();
			if (f->kind == FSEC_PRIVACY_ROUND && !(f->step > 0))
				abort();
			lat += f->kind == FSEC_PRIVACY_LAT;
			lon += f->kind == FSEC_PRIVACY_LON;
		}
		if (lat != lon || lat > 1 || (lat == 1) != (b->cell_m != 0))
			abort();
		if (b->cell_m != 0 &&
		    (b->cell_m < FSEC_PRIVACY_CELL_MIN || b->cell_m > FSEC_PRIVACY_CELL_MAX ||
		     (b->cell_m < FSEC_PRIVACY_CELL_COARSE_MIN) != b->precise))
			abort();
	}
	if (fsec_privacy_match(p, &who, "$SYS/x") != NULL)
		abort();
	(void)fsec_privacy_match(p, &who, "devices/dev-1/telemetry/a");
	fsec_privacy_free(p);
	return 0;
}
