/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: the fleet.json parser, exposed for unit tests and fuzzing. */
#ifndef FLEETSEC_FLEET_INT_H
#define FLEETSEC_FLEET_INT_H

#include <stddef.h>

#include "fleetsec/ca.h"
#include "fleetsec/key.h"

#define FLEET_PATH_MAX 1024

struct fleet_config {
	char name[FSEC_FLEET_NAME_MAX + 1];
	enum fsec_key_algo algo;
	char root_cert[FLEET_PATH_MAX];
	char issuing_cert[FLEET_PATH_MAX];
	char issuing_key[FLEET_PATH_MAX]; /* path or OpenSSL store URI */
	char registry[FLEET_PATH_MAX];
	int device_days;
	int crl_days;
};

/* Parse fleet.json strictly: known keys only, each with the right type and
 * range, no duplicates. Errors: TOO_LARGE, PARSE. */
enum fsec_err fsec_fleet_config_parse(const unsigned char *buf, size_t len,
				      struct fleet_config *out);

#endif
