/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite registry's published releases: the bundle each model's
 * devices are served, and its rollout limits.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err_int.h"
#include "sqlite_int.h"

enum fsec_err sq_publish_put(void *p, const struct fsec_published_rec *rec,
			     const char *bundle)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_PUBLISH_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, rec->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rec->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, rec->version, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, rec->security_counter);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)rec->size);
	sqlite3_bind_int(s, 6, rec->percent);
	sqlite3_bind_text(s, 7, bundle, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, rec->published_at != 0 ? rec->published_at : (int64_t)time(NULL));
	sqlite3_bind_int(s, 9, rec->max_failures);
	sqlite3_bind_int(s, 10, rec->max_failures_pct);
	sqlite3_bind_text(s, 11, rec->group, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 12, rec->state[0] != '\0' ? rec->state : "active", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 13, rec->phases, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 14, rec->phase);
	sqlite3_bind_int64(s, 15, rec->phase_at);
	sqlite3_bind_int64(s, 16, rec->advance_after);
	sqlite3_bind_int(s, 17, rec->success_pct);
	sqlite3_bind_int64(s, 18, (sqlite3_int64)rec->forgiven);
	return sq_run(be, s, "publishing a release");
}

/* Columns as ST_PUBLISH_GET and ST_PUBLISH_LIST select them. */
static void read_published(sqlite3_stmt *s, struct fsec_published_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	sq_text(s, 0, rec->model, sizeof(rec->model));
	sq_text(s, 1, rec->sha256, sizeof(rec->sha256));
	sq_text(s, 2, rec->version, sizeof(rec->version));
	rec->security_counter = (uint32_t)sqlite3_column_int64(s, 3);
	rec->size = (uint64_t)sqlite3_column_int64(s, 4);
	rec->percent = sqlite3_column_int(s, 5);
	rec->published_at = sqlite3_column_int64(s, 6);
	rec->max_failures = sqlite3_column_int(s, 8);
	rec->max_failures_pct = sqlite3_column_int(s, 9);
	sq_text(s, 10, rec->group, sizeof(rec->group));
	sq_text(s, 11, rec->state, sizeof(rec->state));
	sq_text(s, 12, rec->phases, sizeof(rec->phases));
	rec->phase = sqlite3_column_int(s, 13);
	rec->phase_at = sqlite3_column_int64(s, 14);
	rec->advance_after = sqlite3_column_int64(s, 15);
	rec->success_pct = sqlite3_column_int(s, 16);
	rec->forgiven = (uint64_t)sqlite3_column_int64(s, 17);
}

static int row_published(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_published_rec r;

	read_published(s, &r);
	return ((fsec_published_cb)cb)(&r, ctx);
}

static const struct sq_listing list_published = {ST_PUBLISH_LIST, "listing published releases",
						  false, row_published};

enum fsec_err sq_publish_list(void *p, fsec_published_cb cb, void *ctx)
{
	return sq_list(p, &list_published, NULL, 0, (void *)cb, ctx);
}

/* The published release (ST_PUBLISH_GET) or the baseline (ST_BASELINE_GET). */
static enum fsec_err get_release(struct sqlite_be *be, int which, const char *model,
				 struct fsec_published_rec *rec, char **bundle)
{
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, which, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		read_published(s, rec);
		rec->baseline = which == ST_BASELINE_GET;
		if (bundle != NULL) {
			const unsigned char *b = sqlite3_column_text(s, 7);

			*bundle = strdup(b != NULL ? (const char *)b : "");
			if (*bundle == NULL)
				rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		}
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no %s for model %s",
				 which == ST_BASELINE_GET ? "baseline" : "release published", model);
	} else {
		rc = sq_err(be, r, "reading a published release");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_publish_get(void *p, const char *model, struct fsec_published_rec *rec,
			     char **bundle)
{
	return get_release(p, ST_PUBLISH_GET, model, rec, bundle);
}

enum fsec_err sq_baseline_get(void *p, const char *model, struct fsec_published_rec *rec,
			      char **bundle)
{
	return get_release(p, ST_BASELINE_GET, model, rec, bundle);
}

enum fsec_err sq_baseline_keep(void *p, const char *model)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_BASELINE_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
	return sq_run(be, s, "keeping a baseline");
}

enum fsec_err sq_baseline_bundle_put(void *p, const char *model, const char *sha256,
				     const char *bundle)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_BASELINE_BUNDLE_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, bundle, -1, SQLITE_STATIC);
	if ((rc = sq_run(be, s, "storing a baseline's manifest")) != FSEC_OK)
		return rc;
	/* Another publish replaced the baseline since it was read. */
	if (sqlite3_changes(be->db) == 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "the baseline of %s changed meanwhile", model);
	return FSEC_OK;
}

enum fsec_err sq_timestamp_put(void *p, const struct fsec_timestamp_rec *rec, const char *bundle)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_TIMESTAMP_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, rec->model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, rec->latest);
	sqlite3_bind_int64(s, 3, rec->issued_at);
	sqlite3_bind_int64(s, 4, rec->expires_at);
	sqlite3_bind_text(s, 5, bundle, -1, SQLITE_STATIC);
	return sq_run(be, s, "storing a timestamp");
}

enum fsec_err sq_timestamp_get(void *p, const char *model, struct fsec_timestamp_rec *rec,
			       char **bundle)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_TIMESTAMP_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		memset(rec, 0, sizeof(*rec));
		sq_text(s, 0, rec->model, sizeof(rec->model));
		rec->latest = sqlite3_column_int64(s, 1);
		rec->issued_at = sqlite3_column_int64(s, 2);
		rec->expires_at = sqlite3_column_int64(s, 3);
		if (bundle != NULL) {
			const unsigned char *b = sqlite3_column_text(s, 4);

			*bundle = strdup(b != NULL ? (const char *)b : "");
			if (*bundle == NULL)
				rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		}
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no timestamp stored for model %s", model);
	} else {
		rc = sq_err(be, r, "reading a timestamp");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_served_get(void *p, const char *id, char sha[FSEC_SHA256_HEX_LEN],
			    int64_t *at)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_SERVED_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		sq_text(s, 0, sha, FSEC_SHA256_HEX_LEN);
		*at = sqlite3_column_int64(s, 1);
	}
	else if (r != SQLITE_DONE)
		rc = sq_err(be, r, "reading a served image");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_served_put(void *p, const char *id, const char *sha, int64_t at)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_SERVED_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, at);
	return sq_run(be, s, "recording a served image");
}
