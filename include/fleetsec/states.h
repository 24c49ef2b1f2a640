/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The states a fleet record or a device report can be in. Inside the
 * library they are enums; their text ("active", "success", "locked", ...)
 * exists only at the edges: the registry's stored columns, JSON and CLI
 * output, and parsed input. Both sides of the fleet (the registry and the
 * device agent) use them, so they live in core/.
 */
#ifndef FLEETSEC_STATES_H
#define FLEETSEC_STATES_H

#include <stdbool.h>

#include "fleetsec/common.h"

/* A registered device's status. 0 is no status: "any" in a filter.
 * (struct fsec_device_status, in devapi.h, is a device's report, hence the
 * shorter tag here.) */
enum fsec_dev_status {
	FSEC_DEVICE_ACTIVE = 1,
	FSEC_DEVICE_REVOKED,
};

/* The outcome of a device's last update attempt; NONE: none reported. */
enum fsec_update_outcome {
	FSEC_UPDATE_NONE = 0,
	FSEC_UPDATE_SUCCESS,
	FSEC_UPDATE_FAILURE,
};

/* A debug port (JTAG, UART) as a device reports it; UNKNOWN: never said. */
enum fsec_debug_state {
	FSEC_DEBUG_UNKNOWN = 0,
	FSEC_DEBUG_LOCKED,
	FSEC_DEBUG_UNLOCKED,
};

/*
 * The text of a state, as stored and printed: "active"/"revoked";
 * ""/"success"/"failure"; ""/"locked"/"unlocked". Never NULL: a value
 * outside the enum gives "invalid". Thread-safe.
 */
FSEC_API const char *fsec_dev_status_name(enum fsec_dev_status s);
FSEC_API const char *fsec_update_outcome_name(enum fsec_update_outcome o);
FSEC_API const char *fsec_debug_state_name(enum fsec_debug_state s);

/*
 * The state named by text, exactly one of the names above; the empty name
 * of NONE/UNKNOWN is accepted too (it is what the registry stores for
 * "never reported"; callers that require a value check for it). Anything
 * else, or NULL: PARSE, naming the text. *out is set only on success.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_dev_status_parse(const char *text,
						      enum fsec_dev_status *out);
FSEC_API FSEC_WUR enum fsec_err fsec_update_outcome_parse(const char *text,
							  enum fsec_update_outcome *out);
FSEC_API FSEC_WUR enum fsec_err fsec_debug_state_parse(const char *text,
						       enum fsec_debug_state *out);

/*
 * Whether name is an update state a device reports (what its update is
 * doing now): "downloading", "installed", "trial", "confirmed",
 * "rolled_back" or "failed". The registry stores "" for none; that is not
 * a state here. NULL: false. Thread-safe.
 */
FSEC_API bool fsec_update_state_valid(const char *name);

#endif
