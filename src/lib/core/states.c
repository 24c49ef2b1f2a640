/* SPDX-License-Identifier: Apache-2.0 */
/* The states' names: the one table between each enum and its text
 * (fleetsec/states.h). */
#include <string.h>

#include "err_int.h"
#include "fleetsec/states.h"

static const char *const dev_status_names[] = {
	[FSEC_DEVICE_ACTIVE] = "active",
	[FSEC_DEVICE_REVOKED] = "revoked",
};

static const char *const update_outcome_names[] = {
	[FSEC_UPDATE_NONE] = "",
	[FSEC_UPDATE_SUCCESS] = "success",
	[FSEC_UPDATE_FAILURE] = "failure",
};

static const char *const debug_state_names[] = {
	[FSEC_DEBUG_UNKNOWN] = "",
	[FSEC_DEBUG_LOCKED] = "locked",
	[FSEC_DEBUG_UNLOCKED] = "unlocked",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The name at index v of names; "invalid" for an index outside the table or
 * a hole in it (a cast int, a corrupted record). */
static const char *name_of(const char *const *names, size_t n, int v)
{
	if (v < 0 || (size_t)v >= n || names[v] == NULL)
		return "invalid";
	return names[v];
}

/* The index whose name is text; PARSE (naming what) for anything else. */
static enum fsec_err parse_of(const char *const *names, size_t n, const char *what,
			      const char *text, int *out)
{
	if (text != NULL) {
		for (size_t i = 0; i < n; i++) {
			if (names[i] != NULL && strcmp(names[i], text) == 0) {
				*out = (int)i;
				return FSEC_OK;
			}
		}
	}
	return fsec_seterr(FSEC_ERR_PARSE, "%s \"%.40s\": unknown", what,
			   text != NULL ? text : "(none)");
}

FSEC_API const char *fsec_dev_status_name(enum fsec_dev_status s)
{
	return name_of(dev_status_names, COUNT(dev_status_names), (int)s);
}

FSEC_API const char *fsec_update_outcome_name(enum fsec_update_outcome o)
{
	return name_of(update_outcome_names, COUNT(update_outcome_names), (int)o);
}

FSEC_API const char *fsec_debug_state_name(enum fsec_debug_state s)
{
	return name_of(debug_state_names, COUNT(debug_state_names), (int)s);
}

FSEC_API enum fsec_err fsec_dev_status_parse(const char *text, enum fsec_dev_status *out)
{
	int v = 0;
	enum fsec_err rc = parse_of(dev_status_names, COUNT(dev_status_names), "device status",
				    text, &v);

	if (rc == FSEC_OK)
		*out = (enum fsec_dev_status)v;
	return rc;
}

FSEC_API enum fsec_err fsec_update_outcome_parse(const char *text, enum fsec_update_outcome *out)
{
	int v = 0;
	enum fsec_err rc = parse_of(update_outcome_names, COUNT(update_outcome_names),
				    "update outcome", text, &v);

	if (rc == FSEC_OK)
		*out = (enum fsec_update_outcome)v;
	return rc;
}

FSEC_API enum fsec_err fsec_debug_state_parse(const char *text, enum fsec_debug_state *out)
{
	int v = 0;
	enum fsec_err rc = parse_of(debug_state_names, COUNT(debug_state_names), "debug state",
				    text, &v);

	if (rc == FSEC_OK)
		*out = (enum fsec_debug_state)v;
	return rc;
}

FSEC_API bool fsec_update_state_valid(const char *name)
{
	/* The registry's CHECK constraint on device_state.update_state (v12)
	 * lists the same names. */
	static const char *const names[] = {"downloading", "installed", "trial",
					    "confirmed",   "rolled_back", "failed"};

	for (size_t i = 0; name != NULL && i < COUNT(names); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}
