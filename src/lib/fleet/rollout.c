/* SPDX-License-Identifier: Apache-2.0 */
/* A release's rollout: its status, and who is offered it (fleetsec/rollout.h). */
#include <string.h>

#include "err_int.h"
#include "fleetsec/release.h"
#include "fleetsec/rollout.h"

FSEC_API bool fsec_rollout_paused(const struct fsec_published_rec *pub,
				  const struct fsec_model_stats *st)
{
	/* At least one device in the denominator: a percentage of an empty
	 * fleet pauses at the first failure, not never. */
	uint64_t base = st->devices > 0 ? st->devices : 1;

	return (pub->max_failures >= 0 && st->failures >= (uint64_t)pub->max_failures) ||
	       (pub->max_failures_pct >= 0 &&
		st->failures * 100 >= (uint64_t)pub->max_failures_pct * base);
}

FSEC_API enum fsec_err fsec_rollout_status(struct fsec_registry *reg,
					   const struct fsec_published_rec *pub,
					   struct fsec_rollout_status *out)
{
	struct fsec_rollout_status s;
	enum fsec_err rc;

	memset(&s, 0, sizeof(s));
	/* A canary release counts its canaries only: a device it was never
	 * offered to can neither pause it nor count as patched by it. */
	if ((rc = fsec_registry_model_stats(reg, pub->model, pub->group, pub->published_at,
					    pub->security_counter, pub->sha256, &s.stats)) != FSEC_OK)
		return rc;
	s.paused = fsec_rollout_paused(pub, &s.stats);
	*out = s;
	return FSEC_OK;
}

struct list_ctx {
	struct fsec_registry *reg;
	const char *model;
	fsec_rollout_cb cb;
	void *ctx;
	enum fsec_err rc;
};

static int list_one(const struct fsec_published_rec *pub, void *arg)
{
	struct list_ctx *lc = arg;
	struct fsec_rollout_status st;

	if (lc->model != NULL && strcmp(lc->model, pub->model) != 0)
		return 0;
	if ((lc->rc = fsec_rollout_status(lc->reg, pub, &st)) != FSEC_OK)
		return 1;
	return lc->cb(pub, &st, lc->ctx);
}

FSEC_API enum fsec_err fsec_rollout_list(struct fsec_registry *reg, const char *model,
					 fsec_rollout_cb cb, void *ctx)
{
	struct list_ctx lc = {.reg = reg, .model = model, .cb = cb, .ctx = ctx, .rc = FSEC_OK};
	enum fsec_err rc = fsec_registry_publish_list(reg, list_one, &lc);

	return rc != FSEC_OK ? rc : lc.rc;
}

FSEC_API enum fsec_err fsec_rollout_coverage(struct fsec_registry *reg, const char *model,
					     fsec_counter_count_cb cb, void *ctx)
{
	return fsec_registry_model_counters(reg, model, cb, ctx);
}

FSEC_API enum fsec_err fsec_rollout_offer(struct fsec_registry *reg,
					  const struct fsec_published_rec *pub, const char *id,
					  enum fsec_rollout_offer *out, struct fsec_rollout_status *st)
{
	struct fsec_rollout_status s;
	enum fsec_rollout_offer offer;
	char group[FSEC_GROUP_MAX + 1] = "";
	unsigned bucket = 0;
	enum fsec_err rc;

	memset(&s, 0, sizeof(s));
	if ((rc = fsec_rollout_bucket(id, &bucket)) != FSEC_OK)
		return rc;
	/* Counting costs a query on every check-in: only when it can pause. */
	if ((pub->max_failures >= 0 || pub->max_failures_pct >= 0) &&
	    (rc = fsec_rollout_status(reg, pub, &s)) != FSEC_OK)
		return rc;
	if (!s.paused && pub->group[0] != '\0' &&
	    (rc = fsec_registry_group_get(reg, id, group)) != FSEC_OK)
		return rc;
	if (s.paused)
		offer = FSEC_ROLLOUT_PAUSED;
	else if (pub->group[0] != '\0' && strcmp(group, pub->group) != 0)
		offer = FSEC_ROLLOUT_OTHER_GROUP;
	/* The manifest carries its own rollout too, which the agent applies;
	 * this one lets the operator stage a release without re-signing it. */
	else if ((int)bucket >= pub->percent)
		offer = FSEC_ROLLOUT_NOT_YET;
	else
		offer = FSEC_ROLLOUT_OFFERED;
	*out = offer;
	if (st != NULL)
		*st = s;
	return FSEC_OK;
}
