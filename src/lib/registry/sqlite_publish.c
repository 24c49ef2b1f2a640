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

enum fsec_err sq_publish_get(void *p, const char *model, struct fsec_published_rec *rec,
			     char **bundle)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_PUBLISH_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		read_published(s, rec);
		if (bundle != NULL) {
			const unsigned char *b = sqlite3_column_text(s, 7);

			*bundle = strdup(b != NULL ? (const char *)b : "");
			if (*bundle == NULL)
				rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		}
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no release published for model %s", model);
	} else {
		rc = sq_err(be, r, "reading a published release");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
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
