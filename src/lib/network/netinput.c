/* SPDX-License-Identifier: Apache-2.0 */
/* The inputs of a policy compile: fleet devices, MUD files, their
 * signatures (fleetsec/netinput.h). */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fleetsec/netinput.h"

static const char *or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

FSEC_API enum fsec_err fsec_netinput_add_device(struct fsec_netpolicy *p,
						const struct fsec_netinput_device *d, bool *added)
{
	enum fsec_err rc;

	if (added != NULL)
		*added = false;
	/* Fail closed: a status this code does not know never grants access;
	 * a revoked or tampered device keeps the way to fleetsecd only
	 * (quarantine), which is how it is re-provisioned. */
	if (d->status == FSEC_DEVICE_REVOKED || (d->status == FSEC_DEVICE_ACTIVE && d->tampered))
		rc = fsec_netpolicy_add_quarantined(p, d->id, or_null(d->mac), or_null(d->ip));
	else if (d->status == FSEC_DEVICE_ACTIVE)
		rc = fsec_netpolicy_add_device(p, d->id, or_null(d->mac), or_null(d->ip), d->model);
	else
		return FSEC_OK;
	if (rc == FSEC_OK && added != NULL)
		*added = true;
	return rc;
}

/* Leave "" in out (if it has room for that) and say the path does not fit. */
static enum fsec_err too_long(char *out, size_t cap, const char *what)
{
	if (cap > 0)
		out[0] = '\0';
	return fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: path over %zu bytes", what,
			   cap > 0 ? cap - 1 : 0);
}

FSEC_API enum fsec_err fsec_netinput_mud_dir(const char *policy_path, char *out, size_t cap)
{
	char *copy = strdup(policy_path), *dir;
	enum fsec_err rc = FSEC_ERR_TOO_LARGE;
	size_t n;

	if (copy == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	/* dirname(3) may modify its argument: it works on the copy. */
	dir = dirname(copy);
	n = strlen(dir);
	if (n >= cap) {
		rc = too_long(out, cap, policy_path);
		goto out;
	}
	memcpy(out, dir, n + 1);
	rc = FSEC_OK;
out:
	free(copy);
	return rc;
}

FSEC_API enum fsec_err fsec_netinput_mud_sig_path(const char *mud_path, char *out, size_t cap)
{
	size_t n = strlen(mud_path);
	size_t stem = n > 5 && strcmp(mud_path + n - 5, ".json") == 0 ? n - 5 : n;

	/* stem + ".p7s" + NUL must fit, written so that it cannot wrap. */
	if (cap < 5 || stem > cap - 5)
		return too_long(out, cap, mud_path);
	memcpy(out, mud_path, stem);
	memcpy(out + stem, ".p7s", 5);
	return FSEC_OK;
}
