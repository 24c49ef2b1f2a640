/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batch revocation (fleet.h, fsec_fleet_revoke_batch): every device of a
 * model, a group, a list, or enrolled through a manufacturer CA, revoked in
 * one registry transaction with one CRL. The devices are collected first
 * and revoked after: a listing must not run while its rows change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err_int.h"
#include "fleet_int.h"
#include "fleetsec/fleet.h"
#include "fleetsec/names.h"

struct picked {
	struct {
		char id[FSEC_DEVID_MAX + 1];
		char model[FSEC_MODEL_MAX + 1];
	} *v;
	size_t n, cap;
	enum fsec_err rc;
};

static int pick(const char *id, const char *model, struct picked *p)
{
	if (p->n == p->cap) {
		size_t ncap, bytes;
		void *nv;

		if (fsec_mul_overflow(p->cap != 0 ? p->cap : 64, (size_t)2, &ncap) ||
		    fsec_mul_overflow(ncap, sizeof(*p->v), &bytes) ||
		    (nv = realloc(p->v, bytes)) == NULL) {
			p->rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory listing the devices");
			return 1;
		}
		p->v = nv;
		p->cap = ncap;
	}
	snprintf(p->v[p->n].id, sizeof(p->v[p->n].id), "%s", id);
	snprintf(p->v[p->n].model, sizeof(p->v[p->n].model), "%s", model);
	p->n++;
	return 0;
}

static int pick_inventory(const struct fsec_inventory_rec *r, void *arg)
{
	return pick(r->dev.id, r->dev.model, arg);
}

static int id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The devices sel names, in ID order. A listed ID must be a registered
 * device, listed once (and active, which revoking it checks): a typo or a
 * stale list fails the batch instead of revoking less than the operator
 * believes. */
static enum fsec_err select_devices(struct fsec_registry *reg,
				    const struct fsec_revoke_select *sel, struct picked *p)
{
	struct fsec_inventory_query q = {.status = FSEC_DEVICE_ACTIVE};
	struct fsec_device_rec dev;
	enum fsec_err rc;
	int given = (sel->model != NULL) + (sel->group != NULL) + (sel->ids != NULL) +
		    (sel->mfr_ca != NULL);

	if (given != 1)
		return fsec_seterr(FSEC_ERR_INVAL, "give exactly one of a model, a group, a list "
						   "of IDs or a manufacturer CA");
	if (sel->ids == NULL) {
		q.model = sel->model;
		q.group = sel->group;
		q.mfr_ca = sel->mfr_ca;
		if ((rc = fsec_registry_inventory_list(reg, &q, pick_inventory, p)) != FSEC_OK)
			return rc;
		if (p->rc != FSEC_OK)
			return p->rc;
		if (p->n == 0)
			return fsec_seterr(FSEC_ERR_NOTFOUND, "no active device matches");
		return FSEC_OK;
	}
	for (size_t i = 0; i < sel->n_ids; i++) {
		if ((rc = fsec_devid_check(sel->ids[i])) != FSEC_OK)
			return rc;
		if ((rc = fsec_registry_device_get(reg, sel->ids[i], &dev)) == FSEC_ERR_NOTFOUND)
			return fsec_seterr(rc, "device %s is not registered", sel->ids[i]);
		if (rc != FSEC_OK)
			return rc;
		/* A revoked one is refused by the revocation itself (EXISTS). */
		if (pick(dev.id, dev.model, p) != 0)
			return p->rc;
	}
	if (p->n == 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "the list names no device");
	qsort(p->v, p->n, sizeof(*p->v), id_cmp);
	for (size_t i = 1; i < p->n; i++)
		if (strcmp(p->v[i - 1].id, p->v[i].id) == 0)
			return fsec_seterr(FSEC_ERR_INVAL, "device %s is listed twice", p->v[i].id);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_fleet_revoke_batch(struct fsec_fleet *f,
					       const struct fsec_revoke_select *sel, int reason,
					       bool dry_run, const char *actor, fsec_revoke_cb cb,
					       void *ctx, size_t *count)
{
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct picked p = {0};
	time_t now = time(NULL);
	enum fsec_err rc;

	fsec_clearerr();
	if (strcmp(fsec_crl_reason_name(reason), "unknown") == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "unknown revocation reason %d", reason);
	/* A dry run needs no CA key: it signs nothing. */
	if ((!dry_run && (rc = fleet_load_ca(f)) != FSEC_OK) ||
	    (rc = fsec_registry_begin(reg)) != FSEC_OK)
		return rc;
	rc = select_devices(reg, sel, &p);
	for (size_t i = 0; rc == FSEC_OK && i < p.n; i++) {
		struct fsec_revoke_item it = {.id = p.v[i].id, .model = p.v[i].model,
					      .done = i + 1, .total = p.n};

		if ((rc = fleet_revoke_in_tx(f, it.id, reason, now, actor, &it.certificates)) ==
			    FSEC_OK &&
		    cb != NULL && cb(&it, ctx) != 0)
			rc = fsec_seterr(FSEC_ERR_PERM, "batch stopped at %s", it.id);
	}
	if (dry_run || rc != FSEC_OK)
		fsec_registry_rollback(reg);
	else
		rc = fleet_revocation_commit(f, rc);
	if (rc == FSEC_OK && count != NULL)
		*count = p.n;
	free(p.v);
	return rc;
}
