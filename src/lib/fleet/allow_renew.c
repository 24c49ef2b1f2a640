/* SPDX-License-Identifier: Apache-2.0 */
/* An early renewal the operator allows (fleet.h, fsec_fleet_allow_renew):
 * the one way past fleetsecd's renewal schedule and daily limit. */
#include <string.h>
#include <time.h>

#include "err_int.h"
#include "fleetsec/fleet.h"
#include "fleetsec/registry.h"

FSEC_API enum fsec_err fsec_fleet_allow_renew(struct fsec_fleet *f, const char *id,
					      const char *actor)
{
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct fsec_device_rec dev;
	enum fsec_err rc = FSEC_ERR_DB;

	fsec_clearerr();
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		return rc;
	if ((rc = fsec_registry_device_get(reg, id, &dev)) != FSEC_OK)
		goto out;
	/* A revoked device renews nothing: an allowance would only wait to
	 * surprise whoever re-activates it. */
	if (dev.status != FSEC_DEVICE_ACTIVE) {
		rc = fsec_seterr(FSEC_ERR_POLICY, "device %s is revoked", id);
		goto out;
	}
	if ((rc = fsec_registry_renew_allow_put(reg, id, actor, (int64_t)time(NULL))) != FSEC_OK ||
	    (rc = fsec_registry_event_addf(reg, actor, "renew-allow", id,
					   "one renewal allowed before it is due")) != FSEC_OK)
		goto out;
	rc = fsec_registry_commit(reg);
out:
	if (rc != FSEC_OK)
		fsec_registry_rollback(reg);
	return rc;
}
