/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: the payload parsers of release.c, exposed for fuzzing. In the
 * field they only ever see payloads whose signature has verified. */
#ifndef FLEETSEC_RELEASE_INT_H
#define FLEETSEC_RELEASE_INT_H

#include <stddef.h>

#include "fleetsec/common.h"

/* Check a manifest payload with every rule except signature, expiry and
 * sequence history. Errors: PARSE, NOMEM. */
enum fsec_err fsec_release_check_manifest(const unsigned char *buf, size_t len);

/* Check a timestamp ("nothing new") payload with every rule except
 * signature, expiry, model and sequence history. Errors: PARSE, NOMEM. */
enum fsec_err fsec_release_check_timestamp(const unsigned char *buf, size_t len);

/* Check a delegation payload (keys decoded, keyids recomputed).
 * Errors: PARSE, NOMEM. */
enum fsec_err fsec_release_check_delegation(const unsigned char *buf, size_t len);

/* Check a root document's payload (keys decoded, keyids recomputed,
 * threshold within them). Errors: PARSE, NOMEM. */
enum fsec_err fsec_release_check_root(const unsigned char *buf, size_t len);

/* Check a tamper statement's payload (device, time, reason).
 * Errors: PARSE, NOMEM. */
enum fsec_err fsec_release_check_tamper(const unsigned char *buf, size_t len);

#endif
