/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for a request of EMQX's HTTP authenticator or authorizer
 * (emqx.h), which fleetsecd reads from a broker: JSON whose username is a
 * DER certificate in base64. Each input is tried as both kinds (its first byte's low
 * bit says which is tried first). Contracts checked: an accepted request has
 * a certificate, a non-empty NUL-free client ID, and for authz an action of
 * publish or subscribe and a non-empty topic; a refused one leaves a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "err_int.h"
#include "fleetsec/emqx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const uint8_t *data, size_t size, bool authz)
{
	struct fsec_emqx_request q;

	if (fsec_emqx_request_parse(data, size, authz, &q) != FSEC_OK) {
		if (fsec_err_detail()[0] == '\0')
			abort();
		fsec_clearerr();
		return;
	}
	if (q.cert == NULL || q.clientid[0] == '\0' ||
	    strnlen(q.clientid, sizeof(q.clientid)) == sizeof(q.clientid))
		abort();
	if (authz && (!q.has_action || q.topic[0] == '\0' ||
		      (q.action != FSEC_MQTT_PUBLISH && q.action != FSEC_MQTT_SUBSCRIBE)))
		abort();
	X509_free(q.cert);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool first = size > 0 && (data[0] & 1) != 0;

	one(data, size, first);
	one(data, size, !first);
	return 0;
}
