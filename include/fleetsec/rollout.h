/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A published release's rollout, as the operator reads it (`fleetsec release
 * status`) and as fleetsecd applies it (GET /v1/update): which devices it is
 * for, what they reported since publication, whether it paused itself, and
 * whether one device is offered the release now. Both read these functions,
 * so the report and the server cannot disagree.
 */
#ifndef FLEETSEC_ROLLOUT_H
#define FLEETSEC_ROLLOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "fleetsec/common.h"
#include "fleetsec/registry.h"

/*
 * Whether a rollout has paused itself: the failures its devices reported
 * since publication reached max_failures, or max_failures_pct of the model's
 * active devices (of its group's, for a group release). Thread-safe.
 */
FSEC_API bool fsec_rollout_paused(const struct fsec_published_rec *pub,
				  const struct fsec_model_stats *st);

struct fsec_rollout_status {
	/* The devices the release is for: the model's active ones, only its
	 * group's if it has one, with the update outcomes they reported since
	 * publication and how many run at least its security counter. */
	struct fsec_model_stats stats;
	bool paused; /* fsec_rollout_paused */
};

/* The status of pub's rollout. Fills *out only on success. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_status(struct fsec_registry *reg,
						    const struct fsec_published_rec *pub,
						    struct fsec_rollout_status *out);

/* A visitor: 0 goes on, anything else stops the listing (not an error). */
typedef int (*fsec_rollout_cb)(const struct fsec_published_rec *pub,
			       const struct fsec_rollout_status *st, void *ctx);

/*
 * Visit every published release ordered by model (only model's, if not
 * NULL), each with its status. The visitor may call the registry (for
 * fsec_rollout_coverage). Errors: DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_list(struct fsec_registry *reg, const char *model,
						  fsec_rollout_cb cb, void *ctx);

/*
 * Patch coverage: visit (security counter, devices) for the model's active
 * devices that reported, lowest counter first. Errors: DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_coverage(struct fsec_registry *reg,
						      const char *model,
						      fsec_counter_count_cb cb, void *ctx);

/* What GET /v1/update tells one device about its model's release. */
enum fsec_rollout_offer {
	FSEC_ROLLOUT_OFFERED = 0,  /* it gets the release now */
	FSEC_ROLLOUT_PAUSED,       /* the rollout paused itself */
	FSEC_ROLLOUT_OTHER_GROUP,  /* the release is for a group the device is not in */
	FSEC_ROLLOUT_NOT_YET,      /* the device's bucket is not below the percent */
};

/*
 * Whether device id is offered pub now. In this order: a paused rollout
 * offers nothing; a group release only to its group's devices; a staged one
 * (percent) only to the devices whose fsec_rollout_bucket is below the
 * percent, so raising it only adds devices. *st (may be NULL) gets the
 * status when the release has a failure limit (counting costs a query; with
 * no limit it is zero and not paused). Fills *out only on success.
 * Errors: DB, INVAL (id), CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_offer(struct fsec_registry *reg,
						   const struct fsec_published_rec *pub,
						   const char *id, enum fsec_rollout_offer *out,
						   struct fsec_rollout_status *st);

#endif
