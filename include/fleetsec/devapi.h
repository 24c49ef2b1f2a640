/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device API behind fleetsecd's /v1/ endpoints, without the HTTP: the
 * caller has already established, from the TLS client certificate, which
 * registered and active device is asking (fsec_est_peer).
 */
#ifndef FLEETSEC_DEVAPI_H
#define FLEETSEC_DEVAPI_H

#include <stdint.h>

#include "fleetsec/common.h"
#include "fleetsec/registry.h"
#include "fleetsec/reply.h"

/*
 * GET /v1/update for device id: the signed release bundle published for its
 * model (200, application/json), or 204 when nothing is published or the
 * device is outside the staged rollout (fsec_rollout_bucket).
 * Errors: DB, NOMEM, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_devapi_update(struct fsec_registry *reg, const char *id,
						   struct fsec_reply *r);

/*
 * An HTTP Range header (RFC 9110 section 14.2) for a representation of size
 * bytes, one range only: "bytes=A-B", "bytes=A-" or "bytes=-N". On FSEC_OK
 * *off and *len say what to send (206). NOTFOUND: unsatisfiable (416).
 * PARSE: not one byte range; serve the whole file (200), as RFC 9110 lets a
 * server ignore a Range it does not understand. hdr is at most 256 bytes.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_http_range(const char *hdr, uint64_t size, uint64_t *off,
						uint64_t *len);

#endif
