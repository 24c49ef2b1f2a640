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
 * about its image, beyond those forgiven by a resume, reached
 * max_failures, or max_failures_pct of the model's active devices (of its
 * group's, for a group release). Thread-safe.
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
	FSEC_ROLLOUT_PAUSED,       /* paused: by the operator, or itself (failures) */
	FSEC_ROLLOUT_OTHER_GROUP,  /* the release is for a group the device is not in */
	FSEC_ROLLOUT_NOT_YET,      /* outside the percent, or a later phase's */
	FSEC_ROLLOUT_ABORTED,      /* the operator withdrew it */
};

#define FSEC_ROLLOUT_PHASES_MAX 16

/*
 * Check a phase list ("1%,10%,50%,100%", or group names, or both; at most
 * FSEC_ROLLOUT_PHASES_MAX, percentages rising): *n (may be NULL) gets
 * how many, *max_percent (may be NULL) the highest percentage (-1: none).
 * Errors: INVAL (naming the phase and why).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_phases_check(const char *phases, int *n,
							  int *max_percent);

/*
 * The phase (0-based) in which device id, of the group given ("" none),
 * joins pub's rollout, or -1 if none does; for a release without phases
 * 0 when its percent and group take it. Errors: CRYPTO, INVAL (id).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_phase_of(const struct fsec_published_rec *pub,
						      const char *id, const char *group,
						      int *phase);

/* What fleetsecd serves one device of a model (fsec_rollout_pick). */
struct fsec_rollout_choice {
	bool have_candidate;                /* a release is published */
	struct fsec_published_rec candidate;
	enum fsec_rollout_offer offer;      /* the candidate's, for this device */
	struct fsec_rollout_status st;      /* the candidate's, when it has limits */
	bool serve;                         /* something is served: */
	struct fsec_published_rec served;   /* the candidate, or the baseline */
};

/*
 * What device id of model is served: the published release (the
 * candidate) when it is offered to the device; else the model's baseline,
 * if there is one and the device does not hold the candidate (was served
 * its manifest, runs it, waits to boot it, or reported an outcome about
 * it: it would refuse the baseline's older manifest, and gets the signed
 * "nothing new" instead); else nothing. Serving the candidate is recorded
 * (fsec_registry_served_put). *bundle (may be NULL) gets the served bundle (free()).
 * Errors: DB, INVAL, CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_pick(struct fsec_registry *reg, const char *model,
						  const char *id, struct fsec_rollout_choice *out,
						  char **bundle);

/*
 * Evaluate model's rollout at now (fleetsecd's timer, through
 * fsec_rollout_evaluate_all; never a device's request): pause an active
 * rollout that reached its failure limit, and advance its phases while
 * the phase in effect has lasted advance_after and its devices confirmed
 * success_pct. Each change is an event by actor. The count is recorded as
 * the model's last evaluation (fsec_registry_rollout_eval_put), which
 * GET /v1/update reads. The devices are counted outside the write
 * transaction; a rollout changed meanwhile (re-published, paused,
 * advanced) is left as it is, for the next evaluation. *changed (may be
 * NULL) says whether anything changed. Errors: DB, BUSY, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_evaluate(struct fsec_registry *reg,
						      const char *model, int64_t now,
						      const char *actor, bool *changed);

/* How often fleetsecd's timer runs fsec_rollout_evaluate_all (seconds),
 * and the spacing of one model's evaluations: a model of N devices at
 * most once per N / FSEC_ROLLOUT_EVAL_PER_S seconds, never less often
 * than every FSEC_ROLLOUT_EVAL_MAX_S. */
#define FSEC_ROLLOUT_EVAL_TICK_S 10
#define FSEC_ROLLOUT_EVAL_PER_S 10000
#define FSEC_ROLLOUT_EVAL_MAX_S 60

/* The least time between two evaluations of a model whose last one
 * counted devices: devices / FSEC_ROLLOUT_EVAL_PER_S, at most
 * FSEC_ROLLOUT_EVAL_MAX_S (0 for a small model: every tick). An
 * evaluation costs about 3 s per million devices (docs/BENCHMARKS.md), so
 * this keeps it to a few percent of fleetsecd's time whatever the fleet.
 * Thread-safe. */
FSEC_API int64_t fsec_rollout_eval_interval(uint64_t devices);

/*
 * Evaluate every active rollout that is due at now: one whose model was
 * never evaluated, whose release changed since, or whose last evaluation
 * is at least fsec_rollout_eval_interval old (or in the future: the clock
 * went back). *evaluated and *changed (may be NULL) get how many were
 * evaluated and how many changed. A model that fails (BUSY) does not keep
 * the others from their turn; the first error is returned.
 * Errors: DB, BUSY, NOMEM, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_evaluate_all(struct fsec_registry *reg,
							  int64_t now, const char *actor,
							  unsigned *evaluated, unsigned *changed);

/* The operator's actions on a model's published release. */
enum fsec_rollout_action {
	FSEC_ROLLOUT_PAUSE,
	FSEC_ROLLOUT_RESUME, /* the failures so far are kept and no longer pause it */
	FSEC_ROLLOUT_ABORT,  /* withdraw it: its devices fall back to the baseline */
	FSEC_ROLLOUT_ADVANCE, /* its next phase now */
};

/* A device that holds a release (fsec_rollout_pick's rule). */
typedef int (*fsec_rollout_device_cb)(const char *id, const struct fsec_devstate_rec *st,
				      void *ctx);

/*
 * Apply action to model's published release (only if its version is
 * version, when not NULL), with an event by actor; then visit (cb may be
 * NULL) the devices that already hold it. Errors: NOTFOUND (nothing
 * published, or not version), INVAL (the action does not apply: pausing
 * a paused or aborted rollout, resuming one not paused, aborting an
 * aborted one, advancing one in its last phase or aborted), DB, BUSY.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_act(struct fsec_registry *reg, const char *model,
						 const char *version,
						 enum fsec_rollout_action action,
						 const char *actor, fsec_rollout_device_cb cb,
						 void *ctx);

/* One phase's devices, by what they last reported about the release. */
struct fsec_phase_tally {
	uint64_t eligible, downloading, installed, trial, confirmed, failed, rolled_back;
};

/* A device that failed the release, with what it last reported. */
typedef int (*fsec_rollout_failed_cb)(const char *id, const struct fsec_devstate_rec *st,
				      void *ctx);

/*
 * Count pub's devices (its model's active ones) by the phase that takes
 * them (tally[i] for phase i; a release without phases has one) and by
 * their last report about pub's image or version; visit (cb may be NULL)
 * those that failed it. tally has FSEC_ROLLOUT_PHASES_MAX entries.
 * Errors: DB, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_tally(struct fsec_registry *reg,
						   const struct fsec_published_rec *pub,
						   struct fsec_phase_tally *tally,
						   fsec_rollout_failed_cb cb, void *ctx);

/*
 * Whether device id is offered pub now. In this order: a paused rollout
 * offers nothing; a group release only to its group's devices; a staged one
 * (percent) only to the devices whose fsec_rollout_bucket is below the
 * percent, so raising it only adds devices. Nothing is counted here: a
 * rollout paused by its failures is one fsec_rollout_evaluate paused, and
 * *st (may be NULL) gets, when the release has a failure limit, what its
 * last evaluation of this image counted (devices and failures; zero if
 * none yet), paused also if that count reached the limit. Fills *out only
 * on success.
 * Errors: DB, INVAL (id), CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_offer(struct fsec_registry *reg,
						   const struct fsec_published_rec *pub,
						   const char *id, enum fsec_rollout_offer *out,
						   struct fsec_rollout_status *st);

#endif
