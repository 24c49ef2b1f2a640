/* SPDX-License-Identifier: Apache-2.0 */
/* The operator's half of pairing without TOFU (fleet.h, fsec_fleet_pair):
 * a key read from a trusted channel becomes a single-use, expiring
 * permission to enroll as one serial. */
#include <string.h>
#include <time.h>

#include "err_int.h"
#include "fleetsec/fleet.h"
#include "fleetsec/pairing.h"
#include "fleetsec/registry.h"
#include "fleetsec/text.h"

static int first_cert(const struct fsec_cert_rec *rec, void *arg)
{
	char *owner = arg;

	memcpy(owner, rec->device_id, FSEC_DEVID_MAX + 1);
	return 1;
}

FSEC_API enum fsec_err fsec_fleet_pair(struct fsec_fleet *f, const struct fsec_pair_opts *o,
				       struct fsec_pairing_rec *out)
{
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct fsec_pair_uri u;
	struct fsec_pairing_rec rec, other;
	struct fsec_device_rec dev;
	struct fsec_cert_filter cf = {0};
	char owner[FSEC_DEVID_MAX + 1] = "", when[FSEC_TIME_LEN];
	int64_t now = (int64_t)time(NULL);
	enum fsec_err rc;

	fsec_clearerr();
	if (o->uri == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "no pairing URI");
	if (o->expires_in < FSEC_PAIR_EXPIRES_MIN || o->expires_in > FSEC_PAIR_EXPIRES_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "a pairing expires in 1 minute to 30 days");
	if ((rc = fsec_pair_uri_parse(o->uri, o->uri_len, &u)) != FSEC_OK)
		return rc;
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.key_sha256, u.key_sha256, sizeof(rec.key_sha256));
	memcpy(rec.device_id, u.serial, sizeof(rec.device_id));
	fsec_pair_uri_cleanup(&u);
	if (o->model != NULL && (size_t)snprintf(rec.model, sizeof(rec.model), "%s", o->model) >=
					sizeof(rec.model))
		return fsec_seterr(FSEC_ERR_INVAL, "model: at most %d characters", FSEC_MODEL_MAX);
	if (o->group != NULL && (size_t)snprintf(rec.group, sizeof(rec.group), "%s", o->group) >=
					sizeof(rec.group))
		return fsec_seterr(FSEC_ERR_INVAL, "group: at most %d characters", FSEC_GROUP_MAX);
	snprintf(rec.paired_by, sizeof(rec.paired_by), "%s", o->actor != NULL ? o->actor : "unknown");
	rec.paired_at = now;
	rec.expires_at = now + o->expires_in;
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		return rc;
	/* A key that any certificate carries is another device's (or was):
	 * pairing it would hand that identity's key to a second ID. */
	cf.spki_sha256 = rec.key_sha256;
	if ((rc = fsec_registry_cert_list(reg, &cf, first_cert, owner)) != FSEC_OK)
		goto out;
	if (owner[0] != '\0') {
		rc = fsec_seterr(FSEC_ERR_POLICY, "this key is already registered to device %s",
				 owner);
		goto out;
	}
	rc = fsec_registry_device_get(reg, rec.device_id, &dev);
	if (rc == FSEC_OK) {
		rc = fsec_seterr(FSEC_ERR_EXISTS, "device %s is already enrolled", rec.device_id);
		goto out;
	}
	if (rc != FSEC_ERR_NOTFOUND)
		goto out;
	/* One key waits per serial: a second would let whichever device
	 * asks first take the ID. */
	rc = fsec_registry_pairing_of(reg, rec.device_id, false, now, &other);
	if (rc == FSEC_OK && strcmp(other.key_sha256, rec.key_sha256) != 0) {
		rc = fsec_seterr(FSEC_ERR_EXISTS, "device %s has a pairing for another key waiting "
						  "(until it expires)", rec.device_id);
		goto out;
	}
	if (rc != FSEC_OK && rc != FSEC_ERR_NOTFOUND)
		goto out;
	fsec_clearerr();
	if ((rc = fsec_registry_pairing_put(reg, &rec)) != FSEC_OK ||
	    (rc = fsec_registry_event_addf(reg, rec.paired_by, "pair", rec.device_id,
					   "key=%s expires=%s model=%s group=%s", rec.key_sha256,
					   fsec_time_format(rec.expires_at, when), rec.model,
					   rec.group)) != FSEC_OK ||
	    (rc = fsec_registry_commit(reg)) != FSEC_OK)
		goto out;
	if (out != NULL)
		*out = rec;
	return FSEC_OK;
out:
	fsec_registry_rollback(reg);
	return rc;
}
