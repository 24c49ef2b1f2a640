/* SPDX-License-Identifier: Apache-2.0 */
/* fleet/rollout.c: a release's status (what release status prints) and who
 * is offered it (what GET /v1/update answers), from one set of rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleetsec/product.h"
#include "fleetsec/release.h"
#include "fleetsec/rollout.h"
#include "testutil.h"

struct fixture {
	char *dir;
	struct fsec_registry *reg;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char *db;

	fx->dir = tu_mkdtemp();
	db = tu_path(fx->dir, "registry.db");
	assert_int_equal(fsec_registry_open(db, FSEC_REGISTRY_CREATE, &fx->reg), FSEC_OK);
	free(db);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	fsec_registry_free(fx->reg);
	tu_rmtree(fx->dir);
	free(fx->dir);
	free(fx);
	return 0;
}

static void device(struct fixture *fx, const char *id, const char *model, const char *status)
{
	struct fsec_device_rec d;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.model, sizeof(d.model), "%s", model);
	assert_int_equal(fsec_dev_status_parse(status, &d.status), FSEC_OK);
	snprintf(d.provisioning, sizeof(d.provisioning), "test");
	assert_int_equal(fsec_registry_device_put(fx->reg, &d), FSEC_OK);
}

static void report(struct fixture *fx, const char *id, int64_t counter, const char *outcome,
		   int64_t at)
{
	struct fsec_device_report r = {.id = id, .version = "1.0.0", .security_counter = counter,
				       .at = at};

	if (outcome != NULL)
		assert_int_equal(fsec_update_outcome_parse(outcome, &r.update_outcome), FSEC_OK);
	assert_int_equal(fsec_device_report(fx->reg, &r), FSEC_OK);
}

static struct fsec_published_rec release(const char *model, int percent, int max_failures,
					 int max_failures_pct, const char *group, int64_t at)
{
	struct fsec_published_rec p;

	memset(&p, 0, sizeof(p));
	snprintf(p.model, sizeof(p.model), "%s", model);
	memset(p.sha256, 'a', 64);
	snprintf(p.version, sizeof(p.version), "2.0.0");
	p.security_counter = 5;
	p.size = 1;
	p.percent = percent;
	p.published_at = at;
	p.max_failures = max_failures;
	p.max_failures_pct = max_failures_pct;
	snprintf(p.group, sizeof(p.group), "%s", group);
	return p;
}

/* Publish pub (a stand-in manifest) and evaluate its model at now, as
 * fleetsecd's timer does. */
static void publish_and_evaluate(struct fixture *fx, struct fsec_published_rec *pub, int64_t now)
{
	assert_int_equal(fsec_registry_publish_put(fx->reg, pub, "{}"), FSEC_OK);
	assert_int_equal(fsec_rollout_evaluate(fx->reg, pub->model, now, "test", NULL), FSEC_OK);
	assert_int_equal(fsec_registry_publish_get(fx->reg, pub->model, pub, NULL), FSEC_OK);
}

/* The status counts the model's active devices, the outcomes reported since
 * publication, and the patched; failures pause it. GET /v1/update then
 * offers it to nobody, and says how many failures. */
static void failures_pause_the_rollout(void **state)
{
	struct fixture *fx = *state;
	int64_t now = time(NULL);
	struct fsec_published_rec pub = release("cam", 100, 2, -1, "", now - 100);
	struct fsec_rollout_status st;
	enum fsec_rollout_offer offer = FSEC_ROLLOUT_OFFERED;

	for (int i = 1; i <= 4; i++) {
		char id[16];

		snprintf(id, sizeof(id), "cam-%d", i);
		device(fx, id, "cam", "active");
	}
	device(fx, "cam-gone", "cam", "revoked");
	device(fx, "hub-1", "hub", "active");
	report(fx, "cam-1", 4, "failure", now - 50);
	report(fx, "cam-2", 5, "success", now - 50);
	report(fx, "cam-3", 4, "failure", now - 500); /* before publication */
	report(fx, "hub-1", 9, "failure", now - 50);  /* another model */
	assert_int_equal(fsec_rollout_status(fx->reg, &pub, &st), FSEC_OK);
	assert_int_equal(st.stats.devices, 4);
	assert_int_equal(st.stats.reported, 3);
	assert_int_equal(st.stats.failures, 1);
	assert_int_equal(st.stats.successes, 1);
	assert_int_equal(st.stats.patched, 1);
	assert_false(st.paused);
	publish_and_evaluate(fx, &pub, now);
	assert_int_equal(fsec_rollout_offer(fx->reg, &pub, "cam-4", &offer, NULL), FSEC_OK);
	assert_int_equal(offer, FSEC_ROLLOUT_OFFERED);

	report(fx, "cam-3", 4, "failure", now - 10);
	assert_int_equal(fsec_rollout_status(fx->reg, &pub, &st), FSEC_OK);
	assert_int_equal(st.stats.failures, 2);
	assert_true(st.paused);
	/* A check-in does not count: until the next evaluation it still
	 * reads the last one's single failure. */
	memset(&st, 0, sizeof(st));
	assert_int_equal(fsec_rollout_offer(fx->reg, &pub, "cam-4", &offer, &st), FSEC_OK);
	assert_int_equal(offer, FSEC_ROLLOUT_OFFERED);
	assert_int_equal(st.stats.failures, 1);
	publish_and_evaluate(fx, &pub, now);
	assert_string_equal(pub.state, "paused");
	memset(&st, 0, sizeof(st));
	assert_int_equal(fsec_rollout_offer(fx->reg, &pub, "cam-4", &offer, &st), FSEC_OK);
	assert_int_equal(offer, FSEC_ROLLOUT_PAUSED);
	assert_int_equal(st.stats.failures, 2);
	assert_true(st.paused);
	/* The evaluation's one grouped query counted what the status counts. */
	assert_int_equal(st.stats.devices, 4);
}

/* A group release reaches its group only; its failures are its group's. */
static void group_release_is_for_its_group(void **state)
{
	struct fixture *fx = *state;
	int64_t now = time(NULL);
	struct fsec_published_rec pub = release("cam", 100, 1, -1, "canary", now - 100);
	struct fsec_rollout_status st;
	enum fsec_rollout_offer offer;

	device(fx, "cam-1", "cam", "active");
	device(fx, "cam-2", "cam", "active");
	assert_int_equal(fsec_registry_group_set(fx->reg, "cam-1", "canary"), FSEC_OK);
	report(fx, "cam-2", 4, "failure", now - 10); /* not a canary: does not pause it */
	publish_and_evaluate(fx, &pub, now);
	assert_int_equal(fsec_rollout_offer(fx->reg, &pub, "cam-1", &offer, &st), FSEC_OK);
	assert_int_equal(offer, FSEC_ROLLOUT_OFFERED);
	assert_int_equal(st.stats.devices, 1);
	assert_int_equal(st.stats.failures, 0);
	assert_int_equal(fsec_rollout_offer(fx->reg, &pub, "cam-2", &offer, NULL), FSEC_OK);
	assert_int_equal(offer, FSEC_ROLLOUT_OTHER_GROUP);
	report(fx, "cam-1", 4, "failure", now - 5);
	publish_and_evaluate(fx, &pub, now);
	assert_int_equal(fsec_rollout_offer(fx->reg, &pub, "cam-1", &offer, NULL), FSEC_OK);
	assert_int_equal(offer, FSEC_ROLLOUT_PAUSED);
}

/* The spacing of one model's evaluations grows with its devices, one
 * second per 10,000, and never past a minute; a small model is evaluated
 * at every tick. */
static void eval_interval_by_size(void **state)
{
	(void)state;
	assert_int_equal(fsec_rollout_eval_interval(0), 0);
	assert_int_equal(fsec_rollout_eval_interval(9999), 0);
	assert_int_equal(fsec_rollout_eval_interval(10000), 1);
	assert_int_equal(fsec_rollout_eval_interval(100000), 10);
	assert_int_equal(fsec_rollout_eval_interval(599999), 59);
	assert_int_equal(fsec_rollout_eval_interval(600000), 60);
	assert_int_equal(fsec_rollout_eval_interval(1000000), 60);
	assert_int_equal(fsec_rollout_eval_interval(UINT64_MAX), 60);
}

/* evaluate_all evaluates an active rollout at once, then again only once
 * its model's interval has passed (or its release changed); the failure
 * limit pauses it there, never at the report. */
static void evaluate_all_spaces_a_model(void **state)
{
	struct fixture *fx = *state;
	int64_t now = time(NULL);
	struct fsec_published_rec pub = release("cam", 100, 1, -1, "", now - 100);
	struct fsec_rollout_eval_rec ev;
	unsigned n = 9, changed = 9;

	device(fx, "cam-1", "cam", "active");
	assert_int_equal(fsec_registry_publish_put(fx->reg, &pub, "{}"), FSEC_OK);
	assert_int_equal(fsec_rollout_evaluate_all(fx->reg, now, "test", &n, &changed), FSEC_OK);
	assert_int_equal(n, 1);
	assert_int_equal(changed, 0);
	assert_int_equal(fsec_registry_rollout_eval_get(fx->reg, "cam", &ev), FSEC_OK);
	assert_int_equal(ev.at, now);
	assert_int_equal(ev.devices, 1);
	/* A model "evaluated" with 200,000 devices waits 20 s. */
	ev.devices = 200000;
	assert_int_equal(fsec_registry_rollout_eval_put(fx->reg, "cam", &ev), FSEC_OK);
	report(fx, "cam-1", 4, "failure", now - 10);
	assert_int_equal(fsec_rollout_evaluate_all(fx->reg, now + 19, "test", &n, &changed),
			 FSEC_OK);
	assert_int_equal(n, 0);
	assert_int_equal(fsec_registry_publish_get(fx->reg, "cam", &pub, NULL), FSEC_OK);
	assert_string_equal(pub.state, "active");
	assert_int_equal(fsec_rollout_evaluate_all(fx->reg, now + 20, "test", &n, &changed),
			 FSEC_OK);
	assert_int_equal(n, 1);
	assert_int_equal(changed, 1);
	assert_int_equal(fsec_registry_publish_get(fx->reg, "cam", &pub, NULL), FSEC_OK);
	assert_string_equal(pub.state, "paused");
	/* Paused: nothing to evaluate. */
	assert_int_equal(fsec_rollout_evaluate_all(fx->reg, now + 100, "test", &n, &changed),
			 FSEC_OK);
	assert_int_equal(n, 0);
	/* Another image for the model is evaluated at once, whatever the
	 * last evaluation's age. */
	assert_int_equal(fsec_registry_rollout_eval_put(fx->reg, "cam", &ev), FSEC_OK);
	pub = release("cam", 100, -1, -1, "", now);
	memset(pub.sha256, 'b', 64);
	assert_int_equal(fsec_registry_publish_put(fx->reg, &pub, "{}"), FSEC_OK);
	assert_int_equal(fsec_rollout_evaluate_all(fx->reg, now + 1, "test", &n, NULL), FSEC_OK);
	assert_int_equal(n, 1);
	assert_int_equal(fsec_registry_rollout_eval_get(fx->reg, "cam", &ev), FSEC_OK);
	assert_int_equal(ev.sha256[0], 'b');
}

/* A staged release reaches the devices whose bucket is below its percent,
 * and with no failure limit nothing is counted. */
static void percent_stages_by_bucket(void **state)
{
	struct fixture *fx = *state;
	struct fsec_published_rec pub;
	struct fsec_rollout_status st;
	enum fsec_rollout_offer offer;
	unsigned bucket = 0;

	device(fx, "cam-1", "cam", "active");
	report(fx, "cam-1", 4, "failure", time(NULL));
	assert_int_equal(fsec_rollout_bucket("cam-1", &bucket), FSEC_OK);
	pub = release("cam", (int)bucket, -1, -1, "", 0);
	assert_int_equal(fsec_rollout_offer(fx->reg, &pub, "cam-1", &offer, &st), FSEC_OK);
	assert_int_equal(offer, FSEC_ROLLOUT_NOT_YET);
	assert_int_equal(st.stats.devices, 0); /* not counted: no limit */
	pub.percent = (int)bucket + 1;
	assert_int_equal(fsec_rollout_offer(fx->reg, &pub, "cam-1", &offer, NULL), FSEC_OK);
	assert_int_equal(offer, FSEC_ROLLOUT_OFFERED);
	pub.percent = 0;
	assert_int_equal(fsec_rollout_offer(fx->reg, &pub, "cam-1", &offer, NULL), FSEC_OK);
	assert_int_equal(offer, FSEC_ROLLOUT_NOT_YET);
}

static void paused_thresholds(void **state)
{
	struct fsec_published_rec pub = release("cam", 100, -1, 20, "", 0);
	struct fsec_model_stats st = {.devices = 10, .failures = 1};

	(void)state;
	assert_false(fsec_rollout_paused(&pub, &st));
	st.failures = 2;
	assert_true(fsec_rollout_paused(&pub, &st));
	/* An empty fleet pauses at the first failure, not never. */
	st = (struct fsec_model_stats){.devices = 0, .failures = 1};
	assert_true(fsec_rollout_paused(&pub, &st));
	pub.max_failures_pct = -1;
	assert_false(fsec_rollout_paused(&pub, &st)); /* no limit */
	pub.max_failures = 1;
	assert_true(fsec_rollout_paused(&pub, &st));
}

struct seen {
	int n;
	char models[4][FSEC_MODEL_MAX + 1];
	bool stop;
};

static int visit(const struct fsec_published_rec *pub, const struct fsec_rollout_status *st,
		 void *arg)
{
	struct seen *s = arg;

	(void)st;
	snprintf(s->models[s->n++], sizeof(s->models[0]), "%s", pub->model);
	return s->stop;
}

static int coverage(uint32_t counter, uint64_t devices, void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 64 - strlen(out), "%u:%llu ", counter,
		 (unsigned long long)devices);
	return 0;
}

static void list_and_coverage(void **state)
{
	struct fixture *fx = *state;
	struct fsec_published_rec a = release("cam", 100, -1, -1, "", 0);
	struct fsec_published_rec b = release("hub", 100, -1, -1, "", 0);
	struct seen s = {0};
	char cov[64] = "";

	assert_int_equal(fsec_registry_publish_put(fx->reg, &b, "{}"), FSEC_OK);
	assert_int_equal(fsec_registry_publish_put(fx->reg, &a, "{}"), FSEC_OK);
	assert_int_equal(fsec_rollout_list(fx->reg, NULL, visit, &s), FSEC_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.models[0], "cam");
	assert_string_equal(s.models[1], "hub");
	memset(&s, 0, sizeof(s));
	assert_int_equal(fsec_rollout_list(fx->reg, "hub", visit, &s), FSEC_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.models[0], "hub");
	memset(&s, 0, sizeof(s));
	assert_int_equal(fsec_rollout_list(fx->reg, "nosuch", visit, &s), FSEC_OK);
	assert_int_equal(s.n, 0);
	s.stop = true; /* a visitor's stop is not an error */
	assert_int_equal(fsec_rollout_list(fx->reg, NULL, visit, &s), FSEC_OK);
	assert_int_equal(s.n, 1);

	device(fx, "cam-1", "cam", "active");
	device(fx, "cam-2", "cam", "active");
	device(fx, "cam-3", "cam", "active");
	report(fx, "cam-1", 4, NULL, 0);
	report(fx, "cam-2", 5, NULL, 0);
	report(fx, "cam-3", 4, NULL, 0);
	assert_int_equal(fsec_rollout_coverage(fx->reg, "cam", coverage, cov), FSEC_OK);
	assert_string_equal(cov, "4:2 5:1 ");
}

/* Phases: percentages rising, group names, at most 16; a device joins in
 * the first phase that takes it. */
static void phases_parse_and_place(void **state)
{
	struct fsec_published_rec p = release("cam", 100, -1, -1, "", 1);
	char many[FSEC_PHASES_MAX + 1] = "";
	int n = 0, max = 0, phase = 9;
	unsigned bucket = 0;

	(void)state;
	assert_int_equal(fsec_rollout_phases_check("1%,10%,canary,100%", &n, &max), FSEC_OK);
	assert_int_equal(n, 4);
	assert_int_equal(max, 100);
	assert_int_equal(fsec_rollout_phases_check("canary", &n, &max), FSEC_OK);
	assert_int_equal(max, -1);
	assert_int_equal(fsec_rollout_phases_check("50%,10%", NULL, NULL), FSEC_ERR_INVAL);
	assert_int_equal(fsec_rollout_phases_check("10%,10%", NULL, NULL), FSEC_ERR_INVAL);
	assert_int_equal(fsec_rollout_phases_check("101%", NULL, NULL), FSEC_ERR_INVAL);
	assert_int_equal(fsec_rollout_phases_check("-1%", NULL, NULL), FSEC_ERR_INVAL);
	assert_int_equal(fsec_rollout_phases_check("a b", NULL, NULL), FSEC_ERR_INVAL);
	assert_int_equal(fsec_rollout_phases_check("a,,b", NULL, NULL), FSEC_ERR_INVAL);
	for (int i = 0; i < 17; i++)
		memcpy(many + (i == 0 ? 0 : 2 * i), i == 0 ? "g0" : ",g", 3);
	assert_int_equal(fsec_rollout_phases_check(many, NULL, NULL), FSEC_ERR_INVAL);
	/* cam-1's bucket decides the percent phases; a group phase takes its
	 * devices whatever their bucket. */
	assert_int_equal(fsec_rollout_bucket("cam-1", &bucket), FSEC_OK);
	snprintf(p.phases, sizeof(p.phases), "canary,%u%%,100%%", bucket + 1);
	assert_int_equal(fsec_rollout_phase_of(&p, "cam-1", "", &phase), FSEC_OK);
	assert_int_equal(phase, 1);
	assert_int_equal(fsec_rollout_phase_of(&p, "cam-1", "canary", &phase), FSEC_OK);
	assert_int_equal(phase, 0);
	snprintf(p.phases, sizeof(p.phases), "canary");
	assert_int_equal(fsec_rollout_phase_of(&p, "cam-1", "", &phase), FSEC_OK);
	assert_int_equal(phase, -1);
}

/* A failure's reason is kept with the outcome, and only printable ASCII
 * of at most FSEC_REASON_MAX characters is. */
static void failure_reason_kept(void **state)
{
	struct fixture *fx = *state;
	struct fsec_device_report r = {.id = "cam-1", .version = "1.0.0", .security_counter = 1,
				       .update_outcome = FSEC_UPDATE_FAILURE, .reason = "health"};
	struct fsec_devstate_rec st;
	char longer[FSEC_REASON_MAX + 2];

	device(fx, "cam-1", "cam", "active");
	r.reason = "bad\nline";
	assert_int_equal(fsec_device_report(fx->reg, &r), FSEC_ERR_INVAL);
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	r.reason = longer;
	assert_int_equal(fsec_device_report(fx->reg, &r), FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_devstate_get(fx->reg, "cam-1", &st), FSEC_ERR_NOTFOUND);
	longer[FSEC_REASON_MAX] = '\0';
	r.reason = longer;
	assert_int_equal(fsec_device_report(fx->reg, &r), FSEC_OK);
	assert_int_equal(fsec_registry_devstate_get(fx->reg, "cam-1", &st), FSEC_OK);
	assert_string_equal(st.outcome_reason, longer);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(failures_pause_the_rollout),
		T(group_release_is_for_its_group),
		T(percent_stages_by_bucket),
		cmocka_unit_test(paused_thresholds),
		cmocka_unit_test(eval_interval_by_size),
		T(evaluate_all_spaces_a_model),
		cmocka_unit_test(phases_parse_and_place),
		T(failure_reason_kept),
		T(list_and_coverage),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
