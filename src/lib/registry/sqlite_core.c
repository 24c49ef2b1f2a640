/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite registry backend: WAL for concurrent readers, synchronous=FULL
 * because a CA must never forget a serial it handed out, and BEGIN IMMEDIATE
 * so that concurrent writers queue on the busy timeout instead of failing
 * mid-transaction on a lock upgrade. This file opens and closes the handle,
 * runs transactions, prepares statements, steps rows, and fills the
 * operations table; the record families live in sqlite_*.c.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err_int.h"
#include "fleetsec/fileio.h"
#include "sqlite_int.h"

#define BUSY_TIMEOUT_MS 30000

enum fsec_err sq_err(struct sqlite_be *be, int src, const char *what)
{
	int code = src & 0xff;

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		return fsec_seterr(FSEC_ERR_BUSY, "registry is locked by another process (%s)", what);
	if (code == SQLITE_CONSTRAINT)
		return fsec_seterr(FSEC_ERR_EXISTS, "%s: %s", what, sqlite3_errmsg(be->db));
	if (code == SQLITE_CANTOPEN)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "%s: %s", what, sqlite3_errstr(src));
	return fsec_seterr(FSEC_ERR_DB, "%s: %s", what,
			   be->db != NULL ? sqlite3_errmsg(be->db) : sqlite3_errstr(src));
}

enum fsec_err sq_exec(struct sqlite_be *be, const char *sql)
{
	int r = sqlite3_exec(be->db, sql, NULL, NULL, NULL);

	return r == SQLITE_OK ? FSEC_OK : sq_err(be, r, "registry");
}

/* Statements are prepared once per handle: issuing thousands of certificates
 * should not re-parse SQL for each. */
enum fsec_err sq_stmt(struct sqlite_be *be, int id, sqlite3_stmt **out)
{
	if (be->st[id] == NULL) {
		char buf[512];
		const char *sql = id < ST_CERT_LIST ? sq_stmt_sql[id] : buf;
		int r;

		if (id >= ST_CERT_LIST)
			sq_cert_list_sql((unsigned)(id - ST_CERT_LIST), buf, sizeof(buf));
		r = sqlite3_prepare_v3(be->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &be->st[id], NULL);

		if (r != SQLITE_OK)
			return sq_err(be, r, "preparing a registry query");
	}
	*out = be->st[id];
	return FSEC_OK;
}

void sq_text(sqlite3_stmt *s, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(out, cap, "%s", t != NULL ? (const char *)t : "");
}

void sq_bind_opt(sqlite3_stmt *s, int idx, const char *v)
{
	if (v != NULL && v[0] != '\0')
		sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, idx);
}

void sq_close(void *p)
{
	struct sqlite_be *be = p;

	if (be == NULL)
		return;
	if (be->depth > 0)
		sqlite3_exec(be->db, "ROLLBACK", NULL, NULL, NULL);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(be->st[i]);
	sqlite3_close_v2(be->db);
	free(be);
}

/* fsec_bucket(id): the device's rollout bucket, by the function the
 * caller of the tally gave (be->bucket; the registry knows no rollout
 * rule), NULL for a NULL id, no function or a failed digest (the tally
 * then refuses the row). */
static void sql_bucket(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct sqlite_be *be = sqlite3_user_data(ctx);
	const unsigned char *id = sqlite3_value_text(argv[0]);
	unsigned b = 0;

	(void)argc;
	if (id == NULL || be->bucket == NULL || be->bucket((const char *)id, &b) != FSEC_OK) {
		sqlite3_result_null(ctx);
		return;
	}
	sqlite3_result_int(ctx, (int)b);
}

enum fsec_err sq_open(const char *path, unsigned flags, void **out)
{
	bool ro = (flags & FSEC_REGISTRY_READONLY) != 0;
	int oflags = (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX |
		     SQLITE_OPEN_NOFOLLOW;
	int persist = 1;
	struct sqlite_be *be = calloc(1, sizeof(*be));
	enum fsec_err rc = FSEC_ERR_DB;
	int r;

	if (be == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (flags & FSEC_REGISTRY_CREATE) {
		if (access(path, F_OK) == 0) {
			rc = fsec_seterr(FSEC_ERR_EXISTS, "registry %s already exists", path);
			goto out;
		}
		oflags |= SQLITE_OPEN_CREATE;
	}
	r = sqlite3_open_v2(path, &be->db, oflags, NULL);
	if (r != SQLITE_OK) {
		rc = (r & 0xff) == SQLITE_CANTOPEN
			     ? fsec_seterr(FSEC_ERR_NOTFOUND, "cannot open registry %s", path)
			     : sq_err(be, r, path);
		goto out;
	}
	sqlite3_extended_result_codes(be->db, 1);
	sqlite3_busy_timeout(be->db, BUSY_TIMEOUT_MS);
	/* A rollout's tally groups a model's devices by their bucket inside
	 * the query, so that a million devices come back as a few hundred
	 * rows (ST_MODEL_TALLY). */
	r = sqlite3_create_function(be->db, "fsec_bucket", 1,
				    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, be,
				    sql_bucket, NULL, NULL);
	if (r != SQLITE_OK) {
		rc = sq_err(be, r, path);
		goto out;
	}
	if (ro) {
		if ((rc = sq_exec(be, "PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF;")) !=
			    FSEC_OK ||
		    (rc = sq_schema_current(be, path)) != FSEC_OK)
			goto out;
		*out = be;
		return FSEC_OK;
	}
	if ((rc = sq_exec(be, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
			   " PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF;")) != FSEC_OK)
		goto out;
	/* Keep the -wal and -shm files when the last writer closes: a reader
	 * that may not create files in the home (FSEC_REGISTRY_READONLY) can
	 * open the registry only while they exist. */
	if (sqlite3_file_control(be->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist) !=
	    SQLITE_OK) {
		rc = sq_err(be, SQLITE_ERROR, path);
		goto out;
	}
	if ((rc = sq_migrate(be, path, (flags & FSEC_REGISTRY_CREATE) != 0)) != FSEC_OK)
		goto out;
	*out = be;
	be = NULL;
	rc = FSEC_OK;
out:
	sq_close(be);
	return rc;
}

enum fsec_err sq_begin(void *p)
{
	struct sqlite_be *be = p;
	char sql[48];
	enum fsec_err rc;

	if (be->depth == 0)
		snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE");
	else
		snprintf(sql, sizeof(sql), "SAVEPOINT sp%u", be->depth);
	rc = sq_exec(be, sql);
	if (rc == FSEC_OK)
		be->depth++;
	return rc;
}

enum fsec_err sq_commit(void *p)
{
	struct sqlite_be *be = p;
	char sql[48];
	enum fsec_err rc;

	if (be->depth == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "commit without a transaction");
	if (be->depth == 1)
		snprintf(sql, sizeof(sql), "COMMIT");
	else
		snprintf(sql, sizeof(sql), "RELEASE sp%u", be->depth - 1);
	rc = sq_exec(be, sql);
	if (rc == FSEC_OK)
		be->depth--;
	return rc;
}

void sq_rollback(void *p)
{
	struct sqlite_be *be = p;
	char sql[64];

	if (be->depth == 0)
		return;
	if (be->depth == 1)
		snprintf(sql, sizeof(sql), "ROLLBACK");
	else
		snprintf(sql, sizeof(sql), "ROLLBACK TO sp%u; RELEASE sp%u", be->depth - 1,
			 be->depth - 1);
	sqlite3_exec(be->db, sql, NULL, NULL, NULL);
	be->depth--;
}

/* Run a statement that returns no rows, then reset it. */
enum fsec_err sq_run(struct sqlite_be *be, sqlite3_stmt *s, const char *what)
{
	int r = sqlite3_step(s);
	enum fsec_err rc = r == SQLITE_DONE ? FSEC_OK : sq_err(be, r, what);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

/* The one row loop every listing runs. */
/* The error of the row being read (sq_row_fail). Per thread, like the
 * error detail: a registry handle is used by one thread at a time. */
static _Thread_local enum fsec_err row_err;

int sq_row_fail(enum fsec_err rc)
{
	row_err = rc;
	return 1;
}

enum fsec_err sq_rows(struct sqlite_be *be, sqlite3_stmt *s, const struct sq_listing *l, void *cb,
		      void *ctx)
{
	enum fsec_err rc = FSEC_OK;
	int r;

	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		row_err = FSEC_OK;
		if (l->row(s, cb, ctx) != 0)
			break;
	}
	if (r == SQLITE_ROW && row_err != FSEC_OK)
		rc = row_err;
	else if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = sq_err(be, r, l->what);
	row_err = FSEC_OK;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_stmt_listing(struct sqlite_be *be, int id, sqlite3_stmt **out,
			      sqlite3_stmt **own)
{
	enum fsec_err rc;
	int r;

	*own = NULL;
	if ((rc = sq_stmt(be, id, out)) != FSEC_OK)
		return rc;
	/* A callback of this same listing lists again: binding and stepping
	 * the cached statement would reset it under the outer loop, which
	 * would start over from its first row. A statement of its own. */
	if (sqlite3_stmt_busy(*out)) {
		r = sqlite3_prepare_v3(be->db, sqlite3_sql(*out), -1, 0, own, NULL);
		if (r != SQLITE_OK)
			return sq_err(be, r, "preparing a registry query");
		*out = *own;
	}
	return FSEC_OK;
}

enum fsec_err sq_list(struct sqlite_be *be, const struct sq_listing *l, const char *const *keys,
		      size_t nkeys, void *cb, void *ctx)
{
	enum fsec_err rc;
	sqlite3_stmt *s, *own = NULL;

	if ((rc = sq_stmt_listing(be, l->stmt, &s, &own)) != FSEC_OK)
		return rc;
	for (size_t i = 0; i < nkeys; i++) {
		if (l->empty_is_null)
			sq_bind_opt(s, (int)i + 1, keys[i]);
		else
			sqlite3_bind_text(s, (int)i + 1, keys[i], -1, SQLITE_STATIC);
	}
	rc = sq_rows(be, s, l, cb, ctx);
	sqlite3_finalize(own);
	return rc;
}

/* Get one row by key into out with reader; NOTFOUND names what. */
enum fsec_err sq_get_one(struct sqlite_be *be, int id, const char *key, const char *what,
			 enum fsec_err (*reader)(sqlite3_stmt *, void *), void *out)
{
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, id, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		rc = reader(s, out);
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no %s for '%.80s' in the registry", what, key);
	} else {
		rc = sq_err(be, r, what);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_counter_next(void *p, const char *name, uint64_t floor, uint64_t *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	/* Outside a transaction two processes could read the same value. */
	if (be->depth == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "counter %s advanced outside a transaction", name);
	if ((rc = sq_stmt(be, ST_COUNTER_NEXT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	/* The caller keeps floor below INT64_MAX (fsec_registry_counter_next_above). */
	sqlite3_bind_int64(s, 2, (sqlite3_int64)floor);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(s, 0);
		rc = FSEC_OK;
	} else {
		rc = sq_err(be, r, "advancing a counter");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

void sq_busy_timeout(void *p, int ms)
{
	struct sqlite_be *be = p;

	sqlite3_busy_timeout(be->db, ms);
}

enum fsec_err sq_data_version(void *p, uint64_t *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_DATA_VERSION, &s)) != FSEC_OK)
		return rc;
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(s, 0);
	else
		rc = sq_err(be, r, "reading the data version");
	sqlite3_reset(s);
	return rc;
}

/* The problems of fsec_registry_check, and whether the caller stopped. */
struct check_visit {
	fsec_problem_cb cb;
	void *ctx;
	bool stopped;
};

/* integrity_check says "ok" alone when it finds nothing. */
static int row_integrity(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct check_visit *v = ctx;
	const unsigned char *t = sqlite3_column_text(s, 0);
	char line[FSEC_DETAIL_MAX + 1];

	(void)cb;
	if (t != NULL && strcmp((const char *)t, "ok") == 0)
		return 0;
	snprintf(line, sizeof(line), "integrity: %s", t != NULL ? (const char *)t : "?");
	return v->stopped = v->cb(line, v->ctx) != 0;
}

static int row_foreign_key(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct check_visit *v = ctx;
	char table[64], parent[64], line[FSEC_DETAIL_MAX + 1];

	(void)cb;
	sq_text(s, 0, table, sizeof(table));
	sq_text(s, 2, parent, sizeof(parent));
	snprintf(line, sizeof(line), "foreign key: %s row %lld refers to a missing %s row", table,
		 (long long)sqlite3_column_int64(s, 1), parent);
	return v->stopped = v->cb(line, v->ctx) != 0;
}

/* SQLite's own checks: the file's structure (integrity_check) and rows that
 * point at rows that are not there (foreign_key_check). Rare, so the two
 * statements are prepared for the call and not cached. */
static enum fsec_err sq_check(void *p, fsec_problem_cb cb, void *ctx)
{
	static const struct {
		const char *sql;
		struct sq_listing l;
	} checks[] = {
		{"PRAGMA integrity_check", {0, "checking the registry's integrity", false, row_integrity}},
		{"PRAGMA foreign_key_check",
		 {0, "checking the registry's foreign keys", false, row_foreign_key}},
	};
	struct sqlite_be *be = p;
	struct check_visit v = {cb, ctx, false};
	enum fsec_err rc = FSEC_OK;

	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]) && rc == FSEC_OK && !v.stopped;
	     i++) {
		sqlite3_stmt *s = NULL;
		int r = sqlite3_prepare_v2(be->db, checks[i].sql, -1, &s, NULL);

		rc = r == SQLITE_OK ? sq_rows(be, s, &checks[i].l, NULL, &v)
				    : sq_err(be, r, "preparing a registry check");
		sqlite3_finalize(s);
	}
	return rc;
}

/* The online copy: SQLite's backup API, never a copy of the files, which
 * would tear between the database and its WAL while fleetsecd commits. */
static enum fsec_err sq_snapshot(void *p, const char *path)
{
	struct sqlite_be *be = p;
	sqlite3 *dst = NULL;
	sqlite3_backup *b = NULL;
	enum fsec_err rc = FSEC_ERR_DB;
	bool created = false;
	int fd, r, rf;

	/* Created here, empty and 0600, so that the copy is never readable by
	 * others and never replaces a file. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fsec_seterr(errno == EEXIST ? FSEC_ERR_EXISTS : FSEC_ERR_IO,
				   "cannot create %s: %s", path, strerror(errno));
	created = true;
	close(fd);
	r = sqlite3_open_v2(path, &dst,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
	if (r != SQLITE_OK) {
		rc = fsec_seterr(FSEC_ERR_DB, "%s: %s", path, sqlite3_errstr(r));
		goto out;
	}
	if ((b = sqlite3_backup_init(dst, "main", be->db, "main")) == NULL) {
		rc = fsec_seterr(FSEC_ERR_DB, "registry snapshot: %s", sqlite3_errmsg(dst));
		goto out;
	}
	/* -1: every page in one step, read inside one read transaction of the
	 * source, so the copy is one committed state even while other processes
	 * commit (WAL readers do not block writers, nor writers them). */
	r = sqlite3_backup_step(b, -1);
	rf = sqlite3_backup_finish(b);
	if (r != SQLITE_DONE || rf != SQLITE_OK) {
		rc = sq_err(be, r != SQLITE_DONE ? r : rf, "registry snapshot");
		goto out;
	}
	/* The copy inherits WAL mode in its header; DELETE mode folds it into
	 * one self-contained file (opening it as a registry turns WAL back on). */
	if (sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = fsec_seterr(FSEC_ERR_DB, "registry snapshot: %s", sqlite3_errmsg(dst));
		goto out;
	}
	r = sqlite3_close(dst);
	dst = NULL;
	if (r != SQLITE_OK) {
		rc = fsec_seterr(FSEC_ERR_DB, "registry snapshot: %s", sqlite3_errstr(r));
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 || fsync(fd) != 0) {
		rc = fsec_seterr(FSEC_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	if ((rc = fsec_dir_sync_parent(path)) != FSEC_OK)
		goto out;
	created = false;
	rc = FSEC_OK;
out:
	sqlite3_close_v2(dst);
	if (created)
		unlink(path);
	return rc;
}

/* Rare (once per restore), so prepared here rather than kept per handle. */
static enum fsec_err sq_counter_raise(void *p, const char *name, uint64_t floor, uint64_t *out)
{
	static const char sql[] = "INSERT INTO meta(name, value) VALUES (?1, ?2)"
				  " ON CONFLICT(name) DO UPDATE SET value = max(value, ?2)"
				  " RETURNING value";
	struct sqlite_be *be = p;
	sqlite3_stmt *s = NULL;
	enum fsec_err rc;
	int r;

	if (be->depth == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "counter %s raised outside a transaction", name);
	r = sqlite3_prepare_v2(be->db, sql, -1, &s, NULL);
	if (r != SQLITE_OK)
		return sq_err(be, r, "raising a counter");
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	/* The caller keeps floor below INT64_MAX (fsec_registry_counter_raise). */
	sqlite3_bind_int64(s, 2, (sqlite3_int64)floor);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(s, 0);
		rc = FSEC_OK;
	} else {
		rc = sq_err(be, r, "raising a counter");
	}
	sqlite3_finalize(s);
	return rc;
}

const struct fsec_registry_ops fsec_registry_sqlite_ops = {
	.scheme = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.device_get = sq_device_get,
	.device_put = sq_device_put,
	.device_list = sq_device_list,
	.cert_add = sq_cert_add,
	.cert_list = sq_cert_list,
	.cert_pem = sq_cert_pem,
	.current_pem_list = sq_current_pem_list,
	.cert_revoke = sq_cert_revoke,
	.server_cert_add = sq_server_cert_add,
	.server_cert_list = sq_server_cert_list,
	.server_cert_revoke = sq_server_cert_revoke,
	.event_add = sq_event_add,
	.event_list = sq_event_list,
	.counter_next = sq_counter_next,
	.device_net_set = sq_device_net_set,
	.device_net_list = sq_device_net_list,
	.device_net_one = sq_device_net_one,
	.event_list_after = sq_event_list_after,
	.product_get = sq_product_get,
	.product_put = sq_product_put,
	.product_list = sq_product_list,
	.devstate_get = sq_devstate_get,
	.devstate_put = sq_devstate_put,
	.devstate_list = sq_devstate_list,
	.device_state_list = sq_device_state_list,
	.enroll_ca_add = sq_enroll_ca_add,
	.enroll_ca_list = sq_enroll_ca_list,
	.enroll_allow_add = sq_enroll_allow_add,
	.enroll_remove = sq_enroll_remove,
	.enroll_allow_list = sq_enroll_allow_list,
	.bootstrap_spend = sq_bootstrap_spend,
	.bootstrap_spent = sq_bootstrap_spent,
	.data_version = sq_data_version,
	.busy_timeout = sq_busy_timeout,
	.pending_put = sq_pending_put,
	.pending_get = sq_pending_get,
	.pending_approve = sq_pending_approve,
	.pending_delete = sq_pending_delete,
	.pending_list = sq_pending_list,
	.publish_put = sq_publish_put,
	.publish_get = sq_publish_get,
	.publish_list = sq_publish_list,
	.baseline_get = sq_baseline_get,
	.baseline_keep = sq_baseline_keep,
	.baseline_bundle_put = sq_baseline_bundle_put,
	.served_get = sq_served_get,
	.served_put = sq_served_put,
	.timestamp_put = sq_timestamp_put,
	.timestamp_get = sq_timestamp_get,
	.group_set = sq_group_set,
	.group_get = sq_group_get,
	.model_stats = sq_model_stats,
	.model_counters = sq_model_counters,
	.model_state_list = sq_model_state_list,
	.model_tally = sq_model_tally,
	.rollout_eval_get = sq_rollout_eval_get,
	.rollout_eval_put = sq_rollout_eval_put,
	.bootstrap_list = sq_bootstrap_list,
	.check = sq_check,
	.snapshot = sq_snapshot,
	.counter_raise = sq_counter_raise,
	.refusal_add = sq_refusal_add,
	.inventory_list = sq_inventory_list,
	.device_find = sq_device_find,
	.event_query = sq_event_query,
	.refusal_list = sq_refusal_list,
	.refusal_changed = sq_refusal_changed,
	.renew_allow_put = sq_renew_allow_put,
	.renew_allow_get = sq_renew_allow_get,
	.renew_allow_take = sq_renew_allow_take,
	.pairing_put = sq_pairing_put,
	.pairing_get = sq_pairing_get,
	.pairing_of = sq_pairing_of,
	.pairing_spend = sq_pairing_spend,
	.tamper_put = sq_tamper_put,
	.tamper_get = sq_tamper_get,
	.tamper_list = sq_tamper_list,
	.enc_key_put = sq_enc_key_put,
	.enc_key_get = sq_enc_key_get,
};
