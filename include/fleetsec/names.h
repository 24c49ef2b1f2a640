/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names: what a device ID and a model name are. The registry checks names
 * without knowing certificates, and identity.h (which carries the ID in a certificate)
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

/* True if model is 1-64 (FSEC_MODEL_MAX) characters of [A-Za-z0-9._-]: the
 * rule release manifests use, so that a device recorded with a model can
 * always be offered that model's releases. Thread-safe. */
FSEC_API bool fsec_model_valid(const char *model);

/*
 * Validate model, recording a one-line reason that names it (escaped) if
 * invalid. Errors: INVAL. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_model_check(const char *model);

#endif
