/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the MQTT topic policy (mqtt.h), the broker plugin's
 * parser of an operator's file: the input up to the first NUL byte is the
 * policy, the rest topics (one per line) judged for a fixed device under
 * every access, and for a backend role client. Contracts checked: a refused
 * policy leaves *out NULL with a reason naming the origin; no topic starting
 * with '$', and no topic name with a wildcard, is ever allowed to publish;
 * an allowed decision names a rule of the file, of a [role] section for the
 * role client and of no [role] section for the device.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleetsec/mqtt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fsec_mqtt_subject dev = {.id = "dev-1", .model = "thermo",
						     .group = "lab"};
	static const struct fsec_mqtt_subject backend = {.role = "backend"};
	static const struct fsec_mqtt_subject *const whos[] = {&dev, &backend};
	const uint8_t *nul = memchr(data, '\0', size);
	size_t plen = nul != NULL ? (size_t)(nul - data) : size;
	struct fsec_mqtt_policy *p = NULL;
	char *topics, *cur;

	if (fsec_mqtt_policy_parse((const char *)data, plen, "fuzz.acl", &p) != FSEC_OK) {
		if (p != NULL || strncmp(fsec_err_detail(), "fuzz.acl", 8) != 0)
			abort();
		return 0;
	}
	if (nul == NULL) {
		fsec_mqtt_policy_free(p);
		return 0;
	}
	topics = malloc(size - plen);
	if (topics == NULL)
		abort();
	memcpy(topics, nul + 1, size - plen - 1);
	topics[size - plen - 1] = '\0';
	for (cur = topics; cur != NULL;) {
		char *nl = strchr(cur, '\n');
		struct fsec_mqtt_why why;

		if (nl != NULL)
			*nl = '\0';
		for (size_t w = 0; w < 2; w++)
			for (int a = FSEC_MQTT_PUBLISH; a <= FSEC_MQTT_RECEIVE; a++) {
				bool allow = fsec_mqtt_decide(p, whos[w], (enum fsec_mqtt_access)a,
							      cur, &why);

				if (allow &&
				    (cur[0] == '$' || strncmp(why.rule, "fuzz.acl:", 9) != 0 ||
				     (strstr(why.rule, "[role ") != NULL) != (whos[w] == &backend)))
					abort();
				if (allow && a == FSEC_MQTT_PUBLISH && strpbrk(cur, "+#") != NULL)
					abort();
			}
		cur = nl != NULL ? nl + 1 : NULL;
	}
	free(topics);
	fsec_mqtt_policy_free(p);
	return 0;
}
