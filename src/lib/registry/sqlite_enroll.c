/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite registry's enrollment records: manufacturer CAs and their
 * allowed serials, spent bootstrap credentials, and requests waiting for the
 * operator.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err_int.h"
#include "sqlite_int.h"

enum fsec_err sq_enroll_ca_add(void *p, const struct fsec_enroll_ca_rec *rec,
			       const char *pem)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_ENROLL_CA_ADD, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, rec->fingerprint, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rec->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, pem, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, rec->added_at != 0 ? rec->added_at : (int64_t)time(NULL));
	return sq_run(be, s, "adding a manufacturer CA");
}

static int row_enroll_ca(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_enroll_ca_rec r;
	const unsigned char *pem = sqlite3_column_text(s, 3);

	memset(&r, 0, sizeof(r));
	sq_text(s, 0, r.fingerprint, sizeof(r.fingerprint));
	sq_text(s, 1, r.subject, sizeof(r.subject));
	r.added_at = sqlite3_column_int64(s, 2);
	return ((fsec_enroll_ca_cb)cb)(&r, pem != NULL ? (const char *)pem : "", ctx);
}

static int row_pattern(sqlite3_stmt *s, void *cb, void *ctx)
{
	const unsigned char *t = sqlite3_column_text(s, 0), *m = sqlite3_column_text(s, 1);

	return ((fsec_enroll_pattern_cb)cb)(t != NULL ? (const char *)t : "",
					    m != NULL ? (const char *)m : "", ctx);
}

static const struct sq_listing list_enroll_cas = {ST_ENROLL_CA_LIST, "listing manufacturer CAs",
						  false, row_enroll_ca};
static const struct sq_listing list_patterns = {ST_ENROLL_ALLOW_LIST, "listing allowed serials",
						false, row_pattern};

enum fsec_err sq_enroll_ca_list(void *p, fsec_enroll_ca_cb cb, void *ctx)
{
	return sq_list(p, &list_enroll_cas, NULL, 0, (void *)cb, ctx);
}

/* The model pattern is allowed as for ca_fp, into model (cap
 * FSEC_MODEL_MAX + 1). Errors: NOTFOUND, DB. */
static enum fsec_err allow_model(struct sqlite_be *be, const char *ca_fp, const char *pattern,
				 char *model)
{
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_ENROLL_ALLOW_MODEL, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, ca_fp, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, pattern, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		sq_text(s, 0, model, FSEC_MODEL_MAX + 1);
	else if (r == SQLITE_DONE)
		rc = FSEC_ERR_NOTFOUND;
	else
		rc = sq_err(be, r, "reading an allowed pattern");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_enroll_allow_add(void *p, const char *ca_fp, const char *pattern,
				  const char *model, bool replace)
{
	struct sqlite_be *be = p;
	char had[FSEC_MODEL_MAX + 1];
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_ENROLL_ALLOW_ADD, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, ca_fp, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, pattern, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
	sqlite3_bind_int(s, 5, replace);
	if ((rc = sq_run(be, s, "allowing serials")) != FSEC_OK || sqlite3_changes(be->db) != 0)
		return rc;
	/* Nothing changed: the pattern is there under some model. The same
	 * one is a no-op; another would re-model devices not yet enrolled
	 * without anyone saying so. */
	if ((rc = allow_model(be, ca_fp, pattern, had)) != FSEC_OK)
		return rc == FSEC_ERR_NOTFOUND ? fsec_seterr(FSEC_ERR_DB, "allowing serials: "
							     "pattern vanished")
					       : rc;
	if (strcmp(had, model) == 0)
		return FSEC_OK;
	return fsec_seterr(FSEC_ERR_EXISTS,
			   "pattern '%s' is already allowed as model '%s' (--replace changes it)",
			   pattern, had[0] != '\0' ? had : "(none)");
}

enum fsec_err sq_enroll_remove(void *p, const char *ca_fp, const char *pattern)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int n;

	if ((rc = sq_stmt(be, ST_ENROLL_ALLOW_DELETE, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, ca_fp, -1, SQLITE_STATIC);
	if (pattern != NULL)
		sqlite3_bind_text(s, 2, pattern, -1, SQLITE_STATIC);
	if ((rc = sq_run(be, s, "removing allowed serials")) != FSEC_OK)
		return rc;
	n = sqlite3_changes(be->db);
	if (pattern != NULL)
		return n != 0 ? FSEC_OK
			      : fsec_seterr(FSEC_ERR_NOTFOUND, "pattern '%s' is not allowed for "
							       "this manufacturer CA", pattern);
	if ((rc = sq_stmt(be, ST_ENROLL_CA_DELETE, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, ca_fp, -1, SQLITE_STATIC);
	if ((rc = sq_run(be, s, "removing a manufacturer CA")) != FSEC_OK)
		return rc;
	return sqlite3_changes(be->db) != 0
		       ? FSEC_OK
		       : fsec_seterr(FSEC_ERR_NOTFOUND, "manufacturer CA is not trusted for "
							"enrollment");
}

enum fsec_err sq_enroll_allow_list(void *p, const char *ca_fp, fsec_enroll_pattern_cb cb,
				   void *ctx)
{
	return sq_list(p, &list_patterns, &ca_fp, 1, (void *)cb, ctx);
}

enum fsec_err sq_bootstrap_spend(void *p, const char *fp, const char *use,
				 const char *device_id, int64_t at, const char *ca_fp)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_BOOTSTRAP_SPEND, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, fp, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, use, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, at);
	sqlite3_bind_text(s, 5, ca_fp, -1, SQLITE_STATIC);
	return sq_run(be, s, "spending a bootstrap credential");
}

enum fsec_err sq_bootstrap_spent(void *p, const char *fp, const char *use,
				 char device_id[FSEC_DEVID_MAX + 1])
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_BOOTSTRAP_SPENT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, fp, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, use, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		sq_text(s, 0, device_id, FSEC_DEVID_MAX + 1);
	else if (r == SQLITE_DONE)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "bootstrap credential not spent");
	else
		rc = sq_err(be, r, "reading a spent bootstrap credential");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_pending_put(void *p, const struct fsec_enroll_pending_rec *rec)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_PENDING_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, rec->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rec->bootstrap_fp, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, rec->spki_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, rec->model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, rec->requested_at != 0 ? rec->requested_at : (int64_t)time(NULL));
	return sq_run(be, s, "recording a pending enrollment");
}

static void read_pending(sqlite3_stmt *s, struct fsec_enroll_pending_rec *r)
{
	memset(r, 0, sizeof(*r));
	sq_text(s, 0, r->device_id, sizeof(r->device_id));
	sq_text(s, 1, r->bootstrap_fp, sizeof(r->bootstrap_fp));
	sq_text(s, 2, r->spki_sha256, sizeof(r->spki_sha256));
	sq_text(s, 3, r->model, sizeof(r->model));
	r->requested_at = sqlite3_column_int64(s, 4);
	r->approved_at = sqlite3_column_int64(s, 5);
	sq_text(s, 6, r->approved_by, sizeof(r->approved_by));
}

enum fsec_err sq_pending_get(void *p, const char *id, struct fsec_enroll_pending_rec *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_PENDING_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		read_pending(s, out);
	else if (r == SQLITE_DONE)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no enrollment request from %s", id);
	else
		rc = sq_err(be, r, "reading a pending enrollment");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_pending_approve(void *p, const char *id, const char *key_prefix,
				 const char *by, int64_t at)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_PENDING_APPROVE, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, at);
	sqlite3_bind_text(s, 4, key_prefix, -1, SQLITE_STATIC);
	if ((rc = sq_run(be, s, "approving an enrollment")) == FSEC_OK && sqlite3_changes(be->db) == 0)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND,
				 "no enrollment request from %s is waiting with key %.16s...", id,
				 key_prefix);
	return rc;
}

enum fsec_err sq_pending_delete(void *p, const char *id)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_PENDING_DELETE, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	return sq_run(be, s, "forgetting a pending enrollment");
}

static int row_pending(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_enroll_pending_rec r;

	read_pending(s, &r);
	return ((fsec_enroll_pending_cb)cb)(&r, ctx);
}

static const struct sq_listing list_pending = {ST_PENDING_LIST, "listing pending enrollments",
					       false, row_pending};

enum fsec_err sq_pending_list(void *p, fsec_enroll_pending_cb cb, void *ctx)
{
	return sq_list(p, &list_pending, NULL, 0, (void *)cb, ctx);
}

static int row_bootstrap(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_bootstrap_rec b;

	memset(&b, 0, sizeof(b));
	sq_text(s, 0, b.fingerprint, sizeof(b.fingerprint));
	sq_text(s, 1, b.use, sizeof(b.use));
	sq_text(s, 2, b.device_id, sizeof(b.device_id));
	b.at = sqlite3_column_int64(s, 3);
	return ((fsec_bootstrap_cb)cb)(&b, ctx);
}

static const struct sq_listing list_bootstrap = {ST_BOOTSTRAP_LIST,
						 "listing spent bootstrap credentials", false,
						 row_bootstrap};

enum fsec_err sq_bootstrap_list(void *p, fsec_bootstrap_cb cb, void *ctx)
{
	return sq_list(p, &list_bootstrap, NULL, 0, (void *)cb, ctx);
}
