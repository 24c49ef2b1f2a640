/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_report REGISTRY MODEL DEVICES RUNS INLINE_RUNS (issue 13): the cost
 * of one device report (POST /v1/status) in a registry of DEVICES devices
 * of MODEL (named dev-00000001 ...), driven by bench/bench_report.sh.
 *
 *  report  fsec_devapi_status, what fleetsecd runs for the request today
 *          (it only records the state);
 *  inline  the same, then fsec_rollout_evaluate of the model, what the
 *          handler did before the evaluation moved to fleetsecd's timer
 *          (it is also the cost of one timer evaluation);
 *  sqlite  the baseline: the same single-row upsert of the device's state
 *          through the sqlite3 API on its own connection (WAL, synchronous
 *          FULL, as the registry opens it), nothing else.
 *
 *  update  fsec_devapi_update, GET /v1/update's handler, for a release with
 *          a failure limit (it counted the model's failures before v17,
 *          it reads the last evaluation now), INLINE_RUNS times (RUNS if
 *          INLINE_RUNS is 0).
 *
 * report and sqlite run RUNS times each, alternately, on devices spread
 * over the model; inline INLINE_RUNS times (seconds each before; 0 skips
 * it, for a build whose report evaluates by itself). Prints
 * the median and the spread of each, in milliseconds.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "fleetsec/devapi.h"
#include "fleetsec/registry.h"
#include "fleetsec/reply.h"
#include "fleetsec/rollout.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static void print_ms(const char *what, double *v, unsigned long n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	printf("%s: median %.3f ms (min %.3f, max %.3f, %lu runs)\n", what, v[n / 2] * 1e3,
	       v[0] * 1e3, v[n - 1] * 1e3, n);
}

static void die(const char *what)
{
	fprintf(stderr, "bench_report: %s: %s\n", what, fsec_err_detail());
	exit(1);
}

int main(int argc, char **argv)
{
	struct fsec_registry *reg = NULL;
	struct fsec_published_rec pub;
	sqlite3 *db = NULL;
	sqlite3_stmt *up = NULL;
	unsigned long devices, runs, inline_runs;
	double *rep, *inl, *base, *upd;
	unsigned long nupd;
	char body[512], id[32];

	if (argc != 6) {
		fprintf(stderr, "usage: bench_report REGISTRY MODEL DEVICES RUNS INLINE_RUNS\n");
		return 2;
	}
	devices = parse_count(argv[0], argv[3], 100000000, "DEVICES");
	runs = parse_count(argv[0], argv[4], 100000, "RUNS");
	/* 0: the build measured evaluates inside the report already (before). */
	inline_runs = strcmp(argv[5], "0") == 0 ? 0
						: parse_count(argv[0], argv[5], 1000, "INLINE_RUNS");
	if (fsec_registry_open(argv[1], 0, &reg) != FSEC_OK)
		die("opening the registry");
	if (fsec_registry_publish_get(reg, argv[2], &pub, NULL) != FSEC_OK)
		die("reading the published release");
	/* A confirmed update of the published image: the kind of report the
	 * old handler evaluated the rollout for. */
	snprintf(body, sizeof(body),
		 "{\"version\": \"%s\", \"security_counter\": %u, \"update\": \"confirmed\","
		 " \"image\": \"%s\"}",
		 pub.version, (unsigned)pub.security_counter, pub.sha256);
	if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
			     " PRAGMA busy_timeout = 5000;", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO device_state(device_id, first_seen, last_seen,"
			       " fw_version, security_counter, update_outcome, update_at,"
			       " update_state, outcome_image) VALUES (?1, ?2, ?2, ?3, ?4, 'success',"
			       " ?2, 'confirmed', ?5) ON CONFLICT(device_id) DO UPDATE SET"
			       " last_seen = excluded.last_seen, fw_version = excluded.fw_version,"
			       " security_counter = excluded.security_counter,"
			       " update_outcome = excluded.update_outcome,"
			       " update_at = excluded.update_at, update_state = excluded.update_state,"
			       " outcome_image = excluded.outcome_image",
			       -1, &up, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_report: sqlite3: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	rep = calloc(runs, sizeof(*rep));
	base = calloc(runs, sizeof(*base));
	inl = calloc(inline_runs + 1, sizeof(*inl));
	nupd = inline_runs > 0 ? inline_runs : runs;
	upd = calloc(nupd, sizeof(*upd));
	if (rep == NULL || base == NULL || inl == NULL || upd == NULL)
		return 1;
	for (unsigned long i = 0; i < runs + inline_runs; i++) {
		/* Devices spread over the model, none reported twice in a row. */
		unsigned long k = 1 + (i * 7919 + 13) % devices;
		struct fsec_reply r;
		double t0;

		snprintf(id, sizeof(id), "dev-%08lu", k);
		t0 = now_s();
		if (fsec_devapi_status(reg, id, (const unsigned char *)body, strlen(body), &r) !=
			    FSEC_OK ||
		    r.status != 200)
			die("the report");
		if (i >= runs) {
			if (fsec_rollout_evaluate(reg, argv[2], (int64_t)time(NULL), "bench", NULL) !=
			    FSEC_OK)
				die("the evaluation");
			inl[i - runs] = now_s() - t0;
		} else {
			rep[i] = now_s() - t0;
		}
		fsec_reply_cleanup(&r);
		if (i >= runs)
			continue;
		snprintf(id, sizeof(id), "dev-%08lu", 1 + (i * 7919 + 5003) % devices);
		t0 = now_s();
		sqlite3_bind_text(up, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(up, 2, (sqlite3_int64)time(NULL));
		sqlite3_bind_text(up, 3, pub.version, -1, SQLITE_STATIC);
		sqlite3_bind_int64(up, 4, pub.security_counter);
		sqlite3_bind_text(up, 5, pub.sha256, -1, SQLITE_STATIC);
		if (sqlite3_step(up) != SQLITE_DONE) {
			fprintf(stderr, "bench_report: sqlite3: %s\n", sqlite3_errmsg(db));
			return 1;
		}
		sqlite3_reset(up);
		base[i] = now_s() - t0;
	}
	for (unsigned long i = 0; i < nupd; i++) {
		struct fsec_reply r;
		double t0;

		snprintf(id, sizeof(id), "dev-%08lu", 1 + (i * 7919 + 101) % devices);
		t0 = now_s();
		if (fsec_devapi_update(reg, id, &r) != FSEC_OK)
			die("the update check");
		upd[i] = now_s() - t0;
		fsec_reply_cleanup(&r);
	}
	print_ms(inline_runs > 0 ? "report (POST /v1/status)" : "report (POST /v1/status, before v17)",
		 rep, runs);
	print_ms("sqlite3 single-row upsert (baseline)", base, runs);
	if (inline_runs > 0)
		print_ms("report + inline evaluation (the handler before)", inl, inline_runs);
	print_ms("update check (GET /v1/update)", upd, nupd);
	sqlite3_finalize(up);
	sqlite3_close(db);
	fsec_registry_free(reg);
	free(rep);
	free(base);
	free(inl);
	free(upd);
	return 0;
}
