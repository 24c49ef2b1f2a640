/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names: what a device ID is. The registry checks names without knowing
 * certificates, and identity.h (which carries the ID in a certificate)
 * includes this header, so both share the one rule.
 */
#ifndef FLEETSEC_NAMES_H
#define FLEETSEC_NAMES_H

#include <stdbool.h>

#include "fleetsec/common.h"

/* True if id is 1-64 characters of [A-Za-z0-9._-]. Thread-safe. */
FSEC_API bool fsec_devid_valid(const char *id);

/*
 * Validate id, recording a reason naming it if invalid.
 * Errors: INVAL. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_devid_check(const char *id);

#endif
