/* SPDX-License-Identifier: Apache-2.0 */
/* A release's rollout: its status, and who is offered it (fleetsec/rollout.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err_int.h"
#include "fleetsec/release.h"
#include "fleetsec/rollout.h"
#include "text_int.h"

FSEC_API bool fsec_rollout_paused(const struct fsec_published_rec *pub,
				  const struct fsec_model_stats *st)
{
	/* At least one device in the denominator: a percentage of an empty
	 * fleet pauses at the first failure, not never. */
	uint64_t base = st->devices > 0 ? st->devices : 1;
	/* A resume keeps the history but forgives what it had seen. */
	uint64_t failures = st->failures > pub->forgiven ? st->failures - pub->forgiven : 0;

	return (pub->max_failures >= 0 && failures >= (uint64_t)pub->max_failures) ||
	       (pub->max_failures_pct >= 0 &&
		failures * 100 >= (uint64_t)pub->max_failures_pct * base);
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

/* Phase i of a list (a token of at most FSEC_GROUP_MAX characters) into
 * tok; false past the last. */
static bool phase_token(const char *phases, int i, char tok[FSEC_GROUP_MAX + 2])
{
	const char *p = phases;
	size_t n;

	for (; i > 0; i--) {
		if ((p = strchr(p, ',')) == NULL)
			return false;
		p++;
	}
	n = strcspn(p, ",");
	if (n > FSEC_GROUP_MAX + 1)
		n = FSEC_GROUP_MAX + 1;
	memcpy(tok, p, n);
	tok[n] = '\0';
	return true;
}

/* A token "P%" as P (0-100), else -1. */
static int token_percent(const char *tok)
{
	size_t n = strlen(tok);
	int v = 0;

	if (n < 2 || n > 4 || tok[n - 1] != '%')
		return -1;
	for (size_t i = 0; i + 1 < n; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return -1;
		v = v * 10 + (tok[i] - '0');
	}
	return v <= 100 ? v : -1;
}

FSEC_API enum fsec_err fsec_rollout_phases_check(const char *phases, int *n, int *max_percent)
{
	char tok[FSEC_GROUP_MAX + 2];
	int i, last = -1;

	if (strlen(phases) > FSEC_PHASES_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "phases: at most %d characters", FSEC_PHASES_MAX);
	for (i = 0; phase_token(phases, i, tok); i++) {
		int pct = token_percent(tok);

		if (i >= FSEC_ROLLOUT_PHASES_MAX)
			return fsec_seterr(FSEC_ERR_INVAL, "phases: at most %d",
					   FSEC_ROLLOUT_PHASES_MAX);
		if (pct < 0 && strchr(tok, '%') != NULL)
			return fsec_seterr(FSEC_ERR_INVAL, "phase %d '%s': a percentage is 0%%-100%%",
					   i + 1, tok);
		if (pct < 0 && !fsec_name_valid(tok, FSEC_GROUP_MAX))
			return fsec_seterr(FSEC_ERR_INVAL,
					   "phase %d '%s': P%% or a group name (1-%d characters "
					   "of A-Z a-z 0-9 . _ -)",
					   i + 1, tok, FSEC_GROUP_MAX);
		/* A phase only adds devices: a smaller percentage would add none. */
		if (pct >= 0 && pct <= last)
			return fsec_seterr(FSEC_ERR_INVAL,
					   "phase %d '%s': percentages must rise (after %d%%)", i + 1,
					   tok, last);
		if (pct >= 0)
			last = pct;
	}
	if (n != NULL)
		*n = i;
	if (max_percent != NULL)
		*max_percent = last;
	return FSEC_OK;
}

/* The phase of a device in bucket, of group (fsec_rollout_phase_of). */
static void phase_of_bucket(const struct fsec_published_rec *pub, unsigned bucket,
			    const char *group, int *phase)
{
	char tok[FSEC_GROUP_MAX + 2];

	*phase = -1;
	if (pub->phases[0] == '\0') {
		if ((pub->group[0] == '\0' || strcmp(group, pub->group) == 0) &&
		    (int)bucket < pub->percent)
			*phase = 0;
		return;
	}
	for (int i = 0; phase_token(pub->phases, i, tok); i++) {
		int pct = token_percent(tok);

		if ((pct >= 0 && (int)bucket < pct) || (pct < 0 && strcmp(tok, group) == 0)) {
			*phase = i;
			break;
		}
	}
}

FSEC_API enum fsec_err fsec_rollout_phase_of(const struct fsec_published_rec *pub,
					     const char *id, const char *group, int *phase)
{
	unsigned bucket = 0;
	enum fsec_err rc;

	if ((rc = fsec_rollout_bucket(id, &bucket)) != FSEC_OK)
		return rc;
	phase_of_bucket(pub, bucket, group, phase);
	return FSEC_OK;
}

static bool uses_groups(const struct fsec_published_rec *pub)
{
	char tok[FSEC_GROUP_MAX + 2];

	if (pub->group[0] != '\0')
		return true;
	for (int i = 0; phase_token(pub->phases, i, tok); i++)
		if (token_percent(tok) < 0)
			return true;
	return false;
}

/* The status pub's last evaluation found, if it was about pub's image
 * (else zero and not paused: a new release has not been evaluated yet). */
static enum fsec_err last_evaluation(struct fsec_registry *reg,
				     const struct fsec_published_rec *pub,
				     struct fsec_rollout_status *s)
{
	struct fsec_rollout_eval_rec ev;
	enum fsec_err rc = fsec_registry_rollout_eval_get(reg, pub->model, &ev);

	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
		return FSEC_OK;
	}
	if (rc != FSEC_OK)
		return rc;
	if (strcmp(ev.sha256, pub->sha256) == 0) {
		s->stats.devices = ev.devices;
		s->stats.failures = ev.failures;
		s->paused = fsec_rollout_paused(pub, &s->stats);
	}
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_rollout_offer(struct fsec_registry *reg,
					  const struct fsec_published_rec *pub, const char *id,
					  enum fsec_rollout_offer *out, struct fsec_rollout_status *st)
{
	struct fsec_rollout_status s;
	enum fsec_rollout_offer offer;
	char group[FSEC_GROUP_MAX + 1] = "";
	int phase = -1;
	enum fsec_err rc;

	memset(&s, 0, sizeof(s));
	/* A check-in never counts the model's devices (seconds at a million):
	 * it reads what fleetsecd's last evaluation counted, and that
	 * evaluation is what pauses the rollout (fsec_rollout_evaluate_all). */
	if ((pub->max_failures >= 0 || pub->max_failures_pct >= 0) &&
	    (rc = last_evaluation(reg, pub, &s)) != FSEC_OK)
		return rc;
	if (strcmp(pub->state, "paused") == 0)
		s.paused = true;
	if (uses_groups(pub) && (rc = fsec_registry_group_get(reg, id, group)) != FSEC_OK)
		return rc;
	if ((rc = fsec_rollout_phase_of(pub, id, group, &phase)) != FSEC_OK)
		return rc;
	if (strcmp(pub->state, "aborted") == 0)
		offer = FSEC_ROLLOUT_ABORTED;
	else if (s.paused)
		offer = FSEC_ROLLOUT_PAUSED;
	else if (pub->phases[0] == '\0' && pub->group[0] != '\0' &&
		 strcmp(group, pub->group) != 0)
		offer = FSEC_ROLLOUT_OTHER_GROUP;
	/* The manifest carries its own rollout too, which the agent applies;
	 * publish refuses an exposure the manifest's would contradict. */
	else if (phase < 0 || phase > pub->phase)
		offer = FSEC_ROLLOUT_NOT_YET;
	else
		offer = FSEC_ROLLOUT_OFFERED;
	*out = offer;
	if (st != NULL)
		*st = s;
	return FSEC_OK;
}

/* Whether a device holds pub: it was served its manifest (served, the
 * image), runs it, waits to boot it, or reported an outcome about it (st
 * may be NULL: it never reported). */
static bool holds(const struct fsec_published_rec *pub, const char *served,
		  const struct fsec_devstate_rec *st)
{
	return strcmp(served, pub->sha256) == 0 ||
	       (st != NULL && (strcmp(st->fw_version, pub->version) == 0 ||
			       strcmp(st->pending_version, pub->version) == 0 ||
			       strcmp(st->outcome_image, pub->sha256) == 0));
}

FSEC_API enum fsec_err fsec_rollout_pick(struct fsec_registry *reg, const char *model,
					 const char *id, struct fsec_rollout_choice *out,
					 char **bundle)
{
	struct fsec_rollout_choice c;
	struct fsec_devstate_rec st;
	char *cb = NULL, served[FSEC_SHA256_HEX_LEN];
	int64_t served_at = 0;
	enum fsec_err rc;
	bool held = false;

	memset(&c, 0, sizeof(c));
	if (bundle != NULL)
		*bundle = NULL;
	rc = fsec_registry_publish_get(reg, model, &c.candidate, bundle != NULL ? &cb : NULL);
	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
		*out = c;
		return FSEC_OK;
	}
	if (rc != FSEC_OK)
		return rc;
	c.have_candidate = true;
	if ((rc = fsec_rollout_offer(reg, &c.candidate, id, &c.offer, &c.st)) != FSEC_OK)
		goto out;
	if ((rc = fsec_registry_served_get(reg, id, served, &served_at)) != FSEC_OK)
		goto out;
	if (c.offer == FSEC_ROLLOUT_OFFERED) {
		/* Remembered once per image: from now on the device refuses
		 * the baseline's older manifest. */
		if (strcmp(served, c.candidate.sha256) != 0 &&
		    (rc = fsec_registry_served_put(reg, id, c.candidate.sha256,
						   (int64_t)time(NULL))) != FSEC_OK)
			goto out;
	} else {
		rc = fsec_registry_devstate_get(reg, id, &st);
		if (rc == FSEC_ERR_NOTFOUND) {
			fsec_clearerr();
			held = holds(&c.candidate, served, NULL);
		} else if (rc != FSEC_OK) {
			goto out;
		} else {
			held = holds(&c.candidate, served, &st);
		}
		rc = FSEC_OK;
	}
	if (c.offer == FSEC_ROLLOUT_OFFERED) {
		c.serve = true;
		c.served = c.candidate;
		if (bundle != NULL) {
			*bundle = cb;
			cb = NULL;
		}
	} else if (!held) {
		rc = fsec_registry_baseline_get(reg, model, &c.served, bundle);
		if (rc == FSEC_ERR_NOTFOUND) {
			fsec_clearerr();
			rc = FSEC_OK;
		} else if (rc == FSEC_OK) {
			/* The candidate's own image is not a fallback from it; and a
			 * device served another candidate since the baseline was
			 * published saw a newer manifest than the baseline's. */
			c.serve = strcmp(c.served.sha256, c.candidate.sha256) != 0 &&
				  (served[0] == '\0' || strcmp(served, c.served.sha256) == 0 ||
				   served_at < c.served.published_at);
			if (!c.serve && bundle != NULL) {
				free(*bundle);
				*bundle = NULL;
			}
		}
	}
	if (rc == FSEC_OK)
		*out = c;
out:
	free(cb);
	return rc;
}

/* Counting a model's active devices by phase and state. */
struct tally_ctx {
	const struct fsec_published_rec *pub;
	struct fsec_phase_tally *tally;
	struct fsec_model_stats *stats; /* NULL: not wanted */
	fsec_rollout_failed_cb cb;
	void *ctx;
	enum fsec_err rc;
};

static int tally_group(unsigned bucket, const char *group, enum fsec_tally_class cls,
		       bool failure, uint64_t n, void *arg)
{
	struct tally_ctx *t = arg;
	struct fsec_phase_tally *ph;
	int phase = -1;

	/* fsec_rollout_status's devices and failures: the model's, or its
	 * group's for a group release, whatever their phase. */
	if (t->stats != NULL && (t->pub->group[0] == '\0' || strcmp(group, t->pub->group) == 0)) {
		t->stats->devices += n;
		t->stats->failures += failure ? n : 0;
	}
	phase_of_bucket(t->pub, bucket, group, &phase);
	if (phase < 0)
		return 0;
	ph = &t->tally[phase];
	ph->eligible += n;
	switch (cls) {
	case FSEC_TALLY_DOWNLOADING: ph->downloading += n; break;
	case FSEC_TALLY_INSTALLED: ph->installed += n; break;
	case FSEC_TALLY_TRIAL: ph->trial += n; break;
	case FSEC_TALLY_CONFIRMED: ph->confirmed += n; break;
	case FSEC_TALLY_FAILED: ph->failed += n; break;
	case FSEC_TALLY_ROLLED_BACK: ph->rolled_back += n; break;
	case FSEC_TALLY_NONE: break;
	}
	return 0;
}

/* A device whose last outcome about the image failed, if a phase takes it. */
static int tally_failed(const struct fsec_device_rec *dev, const struct fsec_devstate_rec *st,
			const char *group, void *arg)
{
	struct tally_ctx *t = arg;
	int phase = -1;

	if (st == NULL)
		return 0;
	if ((t->rc = fsec_rollout_phase_of(t->pub, dev->id, group, &phase)) != FSEC_OK)
		return 1;
	return phase >= 0 ? t->cb(dev->id, st, t->ctx) : 0;
}

/* pub's tally and (stats not NULL) the devices and failures of its
 * status, from one grouped query: the devices come back as (bucket,
 * group, state, failure) counts, and a phase takes a whole bucket or
 * group. */
static enum fsec_err count_rollout(struct fsec_registry *reg, const struct fsec_published_rec *pub,
				   struct fsec_phase_tally *tally, struct fsec_model_stats *stats)
{
	struct tally_ctx t = {.pub = pub, .tally = tally, .stats = stats};

	memset(tally, 0, sizeof(*tally) * FSEC_ROLLOUT_PHASES_MAX);
	if (stats != NULL)
		memset(stats, 0, sizeof(*stats));
	return fsec_registry_model_tally(reg, pub->model, pub->version, pub->sha256,
					 pub->published_at, fsec_rollout_bucket, tally_group, &t);
}

FSEC_API enum fsec_err fsec_rollout_tally(struct fsec_registry *reg,
					  const struct fsec_published_rec *pub,
					  struct fsec_phase_tally *tally, fsec_rollout_failed_cb cb,
					  void *ctx)
{
	struct tally_ctx t = {.pub = pub, .tally = tally, .cb = cb, .ctx = ctx};
	enum fsec_err rc;

	if ((rc = count_rollout(reg, pub, tally, NULL)) != FSEC_OK)
		return rc;
	if (cb == NULL)
		return FSEC_OK;
	rc = fsec_registry_model_state_list(reg, pub->model, pub->sha256, tally_failed, &t);
	return rc != FSEC_OK ? rc : t.rc;
}

/* How many phases pub may advance at now, by its tally: while the phase in
 * effect has lasted advance_after and the devices of the phases so far
 * confirmed success_pct. One tally serves every step, since advancing
 * changes no device's report. */
static int phases_due(const struct fsec_published_rec *pub,
		      const struct fsec_phase_tally tally[FSEC_ROLLOUT_PHASES_MAX], int64_t now)
{
	uint64_t eligible = 0, confirmed = 0;
	int n = 0, phase = pub->phase, steps = 0;
	int64_t since = pub->phase_at;

	if (pub->phases[0] == '\0' || pub->advance_after < 0 ||
	    fsec_rollout_phases_check(pub->phases, &n, NULL) != FSEC_OK || phase < 0)
		return 0;
	while (phase + 1 < n && now - since >= pub->advance_after) {
		if (pub->success_pct >= 0) {
			eligible = confirmed = 0;
			for (int i = 0; i <= phase; i++) {
				eligible += tally[i].eligible;
				confirmed += tally[i].confirmed;
			}
			if (confirmed * 100 < (uint64_t)pub->success_pct * eligible)
				break;
		}
		phase++;
		since = now;
		steps++;
	}
	return steps;
}

/* Whether two reads of a model's release are the same rollout in the same
 * place: what was judged outside the transaction still holds inside it. */
static bool same_rollout(const struct fsec_published_rec *a, const struct fsec_published_rec *b)
{
	return strcmp(a->sha256, b->sha256) == 0 && strcmp(a->state, b->state) == 0 &&
	       a->phase == b->phase && a->phase_at == b->phase_at &&
	       a->forgiven == b->forgiven && a->published_at == b->published_at;
}

FSEC_API enum fsec_err fsec_rollout_evaluate(struct fsec_registry *reg, const char *model,
					     int64_t now, const char *actor, bool *changed)
{
	struct fsec_phase_tally tally[FSEC_ROLLOUT_PHASES_MAX];
	struct fsec_published_rec pub, cur;
	struct fsec_rollout_status st;
	struct fsec_rollout_eval_rec ev;
	char *bundle = NULL;
	enum fsec_err rc;
	int steps = 0;
	bool dirty = false;

	if (changed != NULL)
		*changed = false;
	/* The counting is done outside the write transaction: a read does
	 * not hold the registry's write lock, so reports (and the CLI) go on
	 * meanwhile at a large model. The transaction then applies it only
	 * if the rollout is still where it was judged. */
	rc = fsec_registry_publish_get(reg, model, &pub, NULL);
	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
		return FSEC_OK;
	}
	if (rc != FSEC_OK || strcmp(pub.state, "active") != 0)
		return rc;
	/* One query counts both what the failure limit and what the phases
	 * judge. */
	memset(&st, 0, sizeof(st));
	if ((rc = count_rollout(reg, &pub, tally, &st.stats)) != FSEC_OK)
		return rc;
	st.paused = fsec_rollout_paused(&pub, &st.stats);
	if (!st.paused)
		steps = phases_due(&pub, tally, now);
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		return rc;
	rc = fsec_registry_publish_get(reg, model, &cur, &bundle);
	if (rc == FSEC_ERR_NOTFOUND || (rc == FSEC_OK && !same_rollout(&pub, &cur))) {
		/* Re-published, paused or advanced meanwhile: the next
		 * evaluation judges what is there now. */
		fsec_clearerr();
		rc = FSEC_OK;
		goto out;
	}
	if (rc != FSEC_OK)
		goto out;
	if (st.paused) {
		snprintf(cur.state, sizeof(cur.state), "paused");
		dirty = true;
		if ((rc = fsec_registry_event_addf(reg, actor, "rollout-pause", NULL,
						   "model=%s version=%s failures=%llu automatic=1",
						   cur.model, cur.version,
						   (unsigned long long)st.stats.failures)) != FSEC_OK)
			goto out;
	}
	for (; steps > 0; steps--) {
		cur.phase++;
		cur.phase_at = now;
		dirty = true;
		if ((rc = fsec_registry_event_addf(reg, actor, "rollout-advance", NULL,
						   "model=%s version=%s phase=%d automatic=1",
						   cur.model, cur.version, cur.phase + 1)) != FSEC_OK)
			goto out;
	}
	memset(&ev, 0, sizeof(ev));
	snprintf(ev.sha256, sizeof(ev.sha256), "%s", cur.sha256);
	ev.at = now;
	ev.devices = st.stats.devices;
	ev.failures = st.stats.failures;
	if ((rc = fsec_registry_rollout_eval_put(reg, model, &ev)) != FSEC_OK)
		goto out;
	if (dirty && (rc = fsec_registry_publish_put(reg, &cur, bundle)) != FSEC_OK)
		goto out;
	if ((rc = fsec_registry_commit(reg)) != FSEC_OK)
		goto out;
	if (changed != NULL)
		*changed = dirty;
	free(bundle);
	return FSEC_OK;
out:
	fsec_registry_rollback(reg);
	free(bundle);
	return rc;
}

FSEC_API int64_t fsec_rollout_eval_interval(uint64_t devices)
{
	uint64_t s = devices / FSEC_ROLLOUT_EVAL_PER_S;

	return s > FSEC_ROLLOUT_EVAL_MAX_S ? FSEC_ROLLOUT_EVAL_MAX_S : (int64_t)s;
}

/* The active rollouts, collected before any is evaluated: an evaluation
 * writes, and the listing's statement must be done by then. */
struct due_list {
	struct due {
		char model[FSEC_MODEL_MAX + 1];
		char sha256[FSEC_SHA256_HEX_LEN];
	} *v;
	size_t n, cap;
	enum fsec_err rc;
};

static int due_one(const struct fsec_published_rec *pub, void *arg)
{
	struct due_list *d = arg;

	if (strcmp(pub->state, "active") != 0)
		return 0;
	if (d->n == d->cap) {
		size_t cap = d->cap > 0 ? d->cap * 2 : 16;
		struct due *v;

		/* One row per model: the cap only guards the multiplication. */
		if (cap > SIZE_MAX / sizeof(*v) ||
		    (v = realloc(d->v, cap * sizeof(*v))) == NULL) {
			d->rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			return 1;
		}
		d->v = v;
		d->cap = cap;
	}
	snprintf(d->v[d->n].model, sizeof(d->v[d->n].model), "%s", pub->model);
	snprintf(d->v[d->n].sha256, sizeof(d->v[d->n].sha256), "%s", pub->sha256);
	d->n++;
	return 0;
}

FSEC_API enum fsec_err fsec_rollout_evaluate_all(struct fsec_registry *reg, int64_t now,
						 const char *actor, unsigned *evaluated,
						 unsigned *changed)
{
	struct due_list d = {.rc = FSEC_OK};
	enum fsec_err rc, first = FSEC_OK;
	unsigned ne = 0, nc = 0;

	if ((rc = fsec_registry_publish_list(reg, due_one, &d)) == FSEC_OK)
		rc = d.rc;
	if (rc != FSEC_OK) {
		free(d.v);
		return rc;
	}
	for (size_t i = 0; i < d.n; i++) {
		struct fsec_rollout_eval_rec ev;
		bool moved = false;

		rc = fsec_registry_rollout_eval_get(reg, d.v[i].model, &ev);
		if (rc == FSEC_OK && strcmp(ev.sha256, d.v[i].sha256) == 0 && now >= ev.at &&
		    now - ev.at < fsec_rollout_eval_interval(ev.devices))
			continue;
		if (rc == FSEC_ERR_NOTFOUND)
			fsec_clearerr();
		else if (rc != FSEC_OK)
			goto next;
		rc = fsec_rollout_evaluate(reg, d.v[i].model, now, actor, &moved);
		if (rc == FSEC_OK) {
			ne++;
			nc += moved ? 1 : 0;
		}
	next:
		/* One model's failure (the CLI holding the registry) does not
		 * keep the others from being evaluated. */
		if (rc != FSEC_OK && first == FSEC_OK)
			first = rc;
	}
	free(d.v);
	if (evaluated != NULL)
		*evaluated = ne;
	if (changed != NULL)
		*changed = nc;
	return first;
}

struct held_ctx {
	struct fsec_registry *reg;
	enum fsec_err rc;
	const struct fsec_published_rec *pub;
	fsec_rollout_device_cb cb;
	void *ctx;
};

static int held_one(const struct fsec_device_rec *dev, const struct fsec_devstate_rec *st,
		    void *arg)
{
	struct held_ctx *h = arg;
	struct fsec_devstate_rec none;
	char served[FSEC_SHA256_HEX_LEN];
	int64_t at = 0;

	if (strcmp(dev->model, h->pub->model) != 0)
		return 0;
	if ((h->rc = fsec_registry_served_get(h->reg, dev->id, served, &at)) != FSEC_OK)
		return 1;
	if (!holds(h->pub, served, st))
		return 0;
	if (st == NULL) {
		memset(&none, 0, sizeof(none));
		st = &none;
	}
	return h->cb(dev->id, st, h->ctx);
}

FSEC_API enum fsec_err fsec_rollout_act(struct fsec_registry *reg, const char *model,
					const char *version, enum fsec_rollout_action action,
					const char *actor, fsec_rollout_device_cb cb, void *ctx)
{
	static const char *const names[] = {"rollout-pause", "rollout-resume", "rollout-abort",
					    "rollout-advance"};
	struct fsec_published_rec pub;
	struct fsec_rollout_status st;
	char *bundle = NULL;
	enum fsec_err rc;
	bool paused;
	int n = 1;

	fsec_clearerr();
	if ((unsigned)action > FSEC_ROLLOUT_ADVANCE)
		return fsec_seterr(FSEC_ERR_INVAL, "unknown rollout action");
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		return rc;
	if ((rc = fsec_registry_publish_get(reg, model, &pub, &bundle)) != FSEC_OK)
		goto out;
	if (version != NULL && strcmp(version, pub.version) != 0) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "model %s: release %s is not the one published "
						    "(%s)",
				 model, version, pub.version);
		goto out;
	}
	if ((rc = fsec_rollout_status(reg, &pub, &st)) != FSEC_OK)
		goto out;
	paused = strcmp(pub.state, "paused") == 0 || st.paused;
	if (strcmp(pub.state, "aborted") == 0) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "model %s: the rollout of %s was aborted", model,
				 pub.version);
		goto out;
	}
	if (action == FSEC_ROLLOUT_PAUSE && paused) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "model %s: the rollout of %s is already paused",
				 model, pub.version);
		goto out;
	}
	if (action == FSEC_ROLLOUT_RESUME && !paused) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "model %s: the rollout of %s is not paused", model,
				 pub.version);
		goto out;
	}
	if (pub.phases[0] != '\0' && (rc = fsec_rollout_phases_check(pub.phases, &n, NULL)) !=
	    FSEC_OK)
		goto out;
	if (action == FSEC_ROLLOUT_ADVANCE && pub.phase + 1 >= n) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "model %s: the rollout of %s is in its last phase",
				 model, pub.version);
		goto out;
	}
	if (action == FSEC_ROLLOUT_ADVANCE) {
		pub.phase++;
		pub.phase_at = (int64_t)time(NULL);
	} else {
		snprintf(pub.state, sizeof(pub.state), "%s",
			 action == FSEC_ROLLOUT_PAUSE    ? "paused"
			 : action == FSEC_ROLLOUT_RESUME ? "active"
							 : "aborted");
	}
	/* The failures stay on record; only those after the resume count. */
	if (action == FSEC_ROLLOUT_RESUME)
		pub.forgiven = st.stats.failures;
	if ((rc = fsec_registry_publish_put(reg, &pub, bundle)) != FSEC_OK ||
	    (rc = fsec_registry_event_addf(reg, actor, names[action], NULL,
					   "model=%s version=%s failures=%llu phase=%d", model,
					   pub.version, (unsigned long long)st.stats.failures,
					   pub.phase + 1)) != FSEC_OK ||
	    (rc = fsec_registry_commit(reg)) != FSEC_OK)
		goto out;
	if (cb != NULL) {
		struct held_ctx h = {.reg = reg, .pub = &pub, .cb = cb, .ctx = ctx};

		if ((rc = fsec_registry_device_state_list(reg, held_one, &h)) == FSEC_OK)
			rc = h.rc;
	}
	free(bundle);
	return rc;
out:
	fsec_registry_rollback(reg);
	free(bundle);
	return rc;
}
