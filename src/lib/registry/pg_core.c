/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PostgreSQL registry backend (libpq): connecting, transactions,
 * queries and the operations table. The record families are in pg_ops.c,
 * the schema and statements in pg_schema.c.
 *
 * Concurrency. The SQLite backend relies on one writer at a time: BEGIN
 * IMMEDIATE takes the database's write lock, so every read-check-write in
 * a transaction (the key already enrolled by another device? this serial
 * free? this allowance still there?) sees no concurrent writer. Several
 * fleetsecd on one PostgreSQL registry must keep that guarantee, so a
 * transaction here starts with a transaction-scoped advisory lock, one for
 * the whole registry: writers queue on it as they do on SQLite's lock (up to
 * the busy timeout, as lock_timeout), and it is released by COMMIT or
 * ROLLBACK, or by the server when the session dies. Readers outside a
 * transaction are not blocked, as with SQLite's WAL. Isolation stays READ
 * COMMITTED: each statement of a transaction that holds the lock sees every
 * transaction committed before, which is what a serial order needs.
 * Narrowing the lock to rows (SELECT ... FOR UPDATE per device) would let
 * enrollments of different devices proceed in parallel; that is later work,
 * and needs each read-check-write reviewed. Single statements outside a
 * transaction are atomic on their own: the counters' and upserts' ON
 * CONFLICT takes a row lock, and the uniqueness of serials, fingerprints
 * and spent credentials is the schema's (a conflict is FSEC_ERR_EXISTS, as
 * on SQLite).
 *
 * An error inside a transaction aborts the whole transaction on PostgreSQL,
 * where SQLite only fails the statement: a caller may go on after a refused
 * write (a serial taken: draw another). So inside a transaction each write
 * runs under its own savepoint, undone alone when it fails.
 *
 * Connection strings are libpq's: a postgresql:// URL, and the PG*
 * variables and service file for what it leaves out. A password is refused
 * in the URL (fleet.json holds it, and command lines show it): libpq reads
 * one from PGPASSFILE or ~/.pgpass.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "pg_int.h"

/* The registry-wide writer lock (see above) and the migration lock. */
#define WRITER_LOCK "7310275126133461104"
#define BUSY_TIMEOUT_MS 30000

void pgp_s(struct pgp *p, const char *s)
{
	if (p->n < PG_MAXP)
		p->v[p->n++] = s;
}

void pgp_opt(struct pgp *p, const char *s) { pgp_s(p, s != NULL && s[0] != '\0' ? s : NULL); }

void pgp_i(struct pgp *p, int64_t v)
{
	if (p->n >= PG_MAXP)
		return;
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", (long long)v);
	p->v[p->n] = p->num[p->n];
	p->n++;
}

/* The first line of a libpq message, for a one-line error. */
static const char *first_line(const char *m, char *buf, size_t cap)
{
	size_t n = m != NULL ? strcspn(m, "\n") : 0;

	if (n >= cap)
		n = cap - 1;
	if (n > 0)
		memcpy(buf, m, n);
	buf[n] = '\0';
	return buf;
}

static enum fsec_err result_err(struct pg_be *be, const PGresult *r, const char *what)
{
	const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char line[256];

	if (msg == NULL)
		msg = PQerrorMessage(be->c);
	first_line(msg, line, sizeof(line));
	if (PQstatus(be->c) != CONNECTION_OK)
		return fsec_seterr(FSEC_ERR_UNAVAILABLE,
				   "%s: the registry's PostgreSQL is unreachable (%s)", what, line);
	if (state != NULL && strncmp(state, "23", 2) == 0)
		return fsec_seterr(FSEC_ERR_EXISTS, "%s: %s", what, line);
	if (state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
			      strcmp(state, "55P03") == 0))
		return fsec_seterr(FSEC_ERR_BUSY, "registry is locked by another process (%s)", what);
	return fsec_seterr(FSEC_ERR_DB, "%s: %s", what, line);
}

/* Run a statement whose result is not needed; false if it failed. */
static bool simple(struct pg_be *be, const char *sql)
{
	PGresult *r = PQexec(be->c, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	PQclear(r);
	return ok;
}

/* The session's settings, on a new connection or after a reconnection. */
static bool settings(struct pg_be *be)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "SET lock_timeout = %d", be->lock_ms);
	/* A reader never writes, not even the schema (a standby could not). */
	return simple(be, sql) &&
	       (!be->readonly || simple(be, "SET default_transaction_read_only = on")) &&
	       /* The server's side of pg_connect's keepalives: a session whose
		* client vanished in silence holds its locks (the feed's lead of
		* the singleton jobs, a writer's transaction lock) until the
		* server's TCP gives up, by default after hours. Set per
		* session, as a statement (a pooler passes it; an options=
		* startup parameter it may refuse); Unix sockets ignore them. */
	       simple(be, "SET tcp_keepalives_idle = 5") &&
	       simple(be, "SET tcp_keepalives_interval = 2") &&
	       simple(be, "SET tcp_keepalives_count = 3") &&
	       simple(be, "SET tcp_user_timeout = 10000");
}

/* A lost connection (PostgreSQL restarted, a failover) is made again
 * outside a transaction, so that a long-running fleetsecd needs no restart;
 * inside one the transaction died with it, and its caller sees the error. */
static bool revive(struct pg_be *be)
{
	if (PQstatus(be->c) == CONNECTION_OK)
		return true;
	/* A listing's open cursor died with the connection: its caller must
	 * see the loss, not a cursor that no longer exists. */
	if (be->depth > 0 || be->pinned || be->cursors > 0)
		return false;
	PQreset(be->c);
	return PQstatus(be->c) == CONNECTION_OK && settings(be);
}

PGresult *pg_exec(struct pg_be *be, const char *sql, const struct pgp *p, const char *what,
		  enum fsec_err *rc)
{
	/* A write inside a transaction (see the top of this file). */
	bool guard = be->depth > 0 && p != NULL && strncmp(sql, "SELECT", 6) != 0;
	/* A read alone, a BEGIN or a listing's cursor, is tried once more on
	 * a new connection: the server restarted since the last statement,
	 * and nothing was done. */
	bool again = be->depth == 0 &&
		     (strncmp(sql, "SELECT", 6) == 0 || strncmp(sql, "BEGIN", 5) == 0 ||
		      strncmp(sql, "DECLARE", 7) == 0);
	PGresult *r;
	ExecStatusType st;

	if (!revive(be)) {
		*rc = result_err(be, NULL, what);
		return NULL;
	}
retry:
	if (guard && !simple(be, "SAVEPOINT stmt")) {
		*rc = result_err(be, NULL, what);
		return NULL;
	}
	/* Without parameters, PQexec: a schema step is several statements. */
	r = p == NULL ? PQexec(be->c, sql)
		      : PQexecParams(be->c, sql, p->n, NULL, p->v, NULL, NULL, 0);
	st = PQresultStatus(r);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		if (guard && !simple(be, "RELEASE SAVEPOINT stmt")) {
			*rc = result_err(be, NULL, what);
			PQclear(r);
			return NULL;
		}
		return r;
	}
	if (again && PQstatus(be->c) != CONNECTION_OK) {
		PQclear(r);
		again = false;
		if (revive(be))
			goto retry;
		r = NULL;
	}
	*rc = result_err(be, r, what);
	PQclear(r);
	if (guard)
		(void)simple(be, "ROLLBACK TO SAVEPOINT stmt; RELEASE SAVEPOINT stmt");
	return NULL;
}

enum fsec_err pg_run_n(struct pg_be *be, const char *sql, const struct pgp *p, const char *what,
		       uint64_t *changed)
{
	enum fsec_err rc = FSEC_OK;
	PGresult *r = pg_exec(be, sql, p, what, &rc);

	if (r == NULL)
		return rc;
	if (changed != NULL)
		*changed = strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return FSEC_OK;
}

enum fsec_err pg_run(struct pg_be *be, const char *sql, const struct pgp *p, const char *what)
{
	return pg_run_n(be, sql, p, what, NULL);
}

void pg_text(const PGresult *r, int row, int col, char *out, size_t cap)
{
	snprintf(out, cap, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

int64_t pg_i64(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool pg_null(const PGresult *r, int row, int col) { return PQgetisnull(r, row, col) != 0; }

/* The error of the row being read (pg_row_fail); per thread, like the error
 * detail: a registry handle is used by one thread at a time. */
static _Thread_local enum fsec_err row_err;

int pg_row_fail(enum fsec_err rc)
{
	row_err = rc;
	return 1;
}

enum fsec_err pg_list(struct pg_be *be, const char *sql, const struct pgp *p, const char *what,
		      pg_row_fn row, void *cb, void *ctx)
{
	static const struct pgp none = {0};
	enum fsec_err rc = FSEC_OK;
	PGresult *r = pg_exec(be, sql, p != NULL ? p : &none, what, &rc);

	if (r == NULL)
		return rc;
	row_err = FSEC_OK;
	for (int i = 0, n = PQntuples(r); i < n; i++)
		if (row(r, i, cb, ctx) != 0) {
			rc = row_err;
			break;
		}
	row_err = FSEC_OK;
	PQclear(r);
	return rc;
}

enum fsec_err pg_list_big(struct pg_be *be, const char *sql, const struct pgp *p,
			  const char *what, pg_row_fn row, void *cb, void *ctx)
{
	/* Rows held at once: a few MB of certificate PEMs at most, and few
	 * enough round trips (245 for a million rows) not to show. */
	enum { BATCH = 4096 };
	static const struct pgp none = {0};
	enum fsec_err rc = FSEC_OK;
	char name[32], fetch[64], close_sql[48], *decl;
	size_t len = strlen(sql) + 64;
	PGresult *r;
	bool done = false;

	/* A listing that a callback starts while this one is open gets a
	 * name of its own. */
	snprintf(name, sizeof(name), "fsec_list%u", be->cursors);
	if ((decl = malloc(len)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	snprintf(decl, len, "DECLARE %s NO SCROLL CURSOR WITH HOLD FOR %s", name, sql);
	r = pg_exec(be, decl, p != NULL ? p : &none, what, &rc);
	free(decl);
	if (r == NULL)
		return rc;
	PQclear(r);
	be->cursors++;
	snprintf(fetch, sizeof(fetch), "FETCH FORWARD %d FROM %s", (int)BATCH, name);
	row_err = FSEC_OK;
	while (!done) {
		int n;

		if ((r = pg_exec(be, fetch, NULL, what, &rc)) == NULL)
			break;
		n = PQntuples(r);
		done = n < BATCH;
		for (int i = 0; i < n; i++)
			if (row(r, i, cb, ctx) != 0) {
				rc = row_err;
				done = true;
				break;
			}
		PQclear(r);
	}
	row_err = FSEC_OK;
	be->cursors--;
	/* A lost connection took the cursor with it. */
	snprintf(close_sql, sizeof(close_sql), "CLOSE %s", name);
	if (PQstatus(be->c) == CONNECTION_OK)
		(void)simple(be, close_sql);
	return rc;
}

void pg_close(void *p)
{
	struct pg_be *be = p;

	if (be == NULL)
		return;
	PQfinish(be->c);
	free(be->location);
	free(be);
}

/* Server notices (NOTICE from DDL) would go to stderr by default. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Refuse a password in a connection string: it would sit in fleet.json
 * and on command lines. */
static enum fsec_err check_no_password(const char *location)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(location, &err);
	enum fsec_err rc = FSEC_OK;
	char line[200];

	if (opts == NULL) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "registry URL is malformed: %s",
				 first_line(err != NULL ? err : "out of memory", line, sizeof(line)));
		PQfreemem(err);
		return rc;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
			rc = fsec_seterr(FSEC_ERR_INVAL, "registry URL carries a password; give it in "
					 "~/.pgpass or the file PGPASSFILE names, never in the URL");
	PQconninfoFree(opts);
	return rc;
}

enum fsec_err pg_location_check(const char *location)
{
	if (strncmp(location, "postgresql://", 13) != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "registry URL '%.80s' does not start with "
				   "postgresql://", location);
	return check_no_password(location);
}

enum fsec_err pg_connect(const char *location, bool readonly, struct pg_be **out, char *where,
			 size_t cap)
{
	/*
	 * A connection whose peer vanishes without a FIN or RST (a partition,
	 * a server host that lost power) looks idle for ever: the change feed
	 * would wait on its socket and fleetsecd would serve a cache nothing
	 * invalidates any more, a revoked device included. Kernel keepalives
	 * (probe after 5 s idle, then every 2 s) and TCP_USER_TIMEOUT (10 s
	 * for unacknowledged data) make such a socket fail in about 15 s; the
	 * feed is then lost, fleetsecd answers 503 and reconnects (measured in
	 * tests/integration/pg_feed_partition.sh). They go before dbname so
	 * that the URL's own values, expanded from it, win. Unix sockets
	 * ignore them.
	 */
	static const char *const keys[] = {"keepalives",	  "keepalives_idle",
					   "keepalives_interval", "keepalives_count",
					   "tcp_user_timeout",	  "dbname",
					   "fallback_application_name", NULL};
	const char *vals[] = {"1", "5", "2", "3", "10000", location, "fleetsec", NULL};
	struct pg_be *be = NULL;
	enum fsec_err rc;
	char line[256];

	if ((rc = pg_location_check(location)) != FSEC_OK)
		return rc;
	if ((be = calloc(1, sizeof(*be))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	be->readonly = readonly;
	be->lock_ms = BUSY_TIMEOUT_MS;
	be->location = strdup(location);
	be->c = PQconnectdbParams(keys, vals, 1);
	if (be->c == NULL || be->location == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (PQstatus(be->c) != CONNECTION_OK) {
		rc = fsec_seterr(FSEC_ERR_DB, "cannot connect to the registry: %s",
				 first_line(PQerrorMessage(be->c), line, sizeof(line)));
		goto out;
	}
	PQsetNoticeProcessor(be->c, quiet, NULL);
	/* Named by what the server says it is, never by the string given. */
	snprintf(where, cap, "postgresql://%s%s%s/%s",
		 PQhost(be->c)[0] == '/' ? "" : PQhost(be->c), PQhost(be->c)[0] == '/' ? "" : ":",
		 PQhost(be->c)[0] == '/' ? "" : PQport(be->c), PQdb(be->c));
	if (!settings(be)) {
		rc = fsec_seterr(FSEC_ERR_DB, "%s: %s", where,
				 first_line(PQerrorMessage(be->c), line, sizeof(line)));
		goto out;
	}
	*out = be;
	return FSEC_OK;
out:
	pg_close(be);
	return rc;
}

static enum fsec_err pg_open(const char *location, unsigned flags, void **out)
{
	bool ro = (flags & FSEC_REGISTRY_READONLY) != 0;
	struct pg_be *be = NULL;
	enum fsec_err rc;
	char where[160];

	if ((rc = pg_connect(location, ro, &be, where, sizeof(where))) != FSEC_OK)
		return rc;
	/* A reader cannot upgrade: the schema must be this library's already. */
	rc = ro ? pg_schema_current(be, where)
		: pg_migrate(be, where, (flags & FSEC_REGISTRY_CREATE) != 0, true);
	if (rc != FSEC_OK) {
		pg_close(be);
		return rc;
	}
	*out = be;
	return FSEC_OK;
}

static enum fsec_err pg_begin(void *p)
{
	struct pg_be *be = p;
	char sql[48];
	enum fsec_err rc;

	if (be->depth == 0) {
		if ((rc = pg_run(be, be->readonly ? "BEGIN READ ONLY" : "BEGIN", NULL, "registry")) !=
		    FSEC_OK)
			return rc;
		/* The single writer (see the top of this file). */
		if (!be->readonly &&
		    (rc = pg_run(be, "SELECT pg_advisory_xact_lock(" WRITER_LOCK ")", NULL,
				 "registry")) != FSEC_OK) {
			PQclear(PQexec(be->c, "ROLLBACK"));
			return rc;
		}
	} else {
		snprintf(sql, sizeof(sql), "SAVEPOINT sp%u", be->depth);
		if ((rc = pg_run(be, sql, NULL, "registry")) != FSEC_OK)
			return rc;
	}
	be->depth++;
	return FSEC_OK;
}

static enum fsec_err pg_commit(void *p)
{
	struct pg_be *be = p;
	char sql[48];
	enum fsec_err rc;

	if (be->depth == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "commit without a transaction");
	if (be->depth == 1)
		snprintf(sql, sizeof(sql), "COMMIT");
	else
		snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT sp%u", be->depth - 1);
	rc = pg_run(be, sql, NULL, "registry");
	/* A failed COMMIT has ended the transaction all the same. */
	if (rc == FSEC_OK || be->depth == 1)
		be->depth--;
	if (rc == FSEC_OK && be->depth == 0 && PQtransactionStatus(be->c) != PQTRANS_IDLE)
		rc = fsec_seterr(FSEC_ERR_DB, "registry: the transaction did not commit");
	return rc;
}

static void pg_rollback(void *p)
{
	struct pg_be *be = p;
	char sql[96];

	if (be->depth == 0)
		return;
	if (be->depth == 1)
		snprintf(sql, sizeof(sql), "ROLLBACK");
	else
		snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT sp%u; RELEASE SAVEPOINT sp%u",
			 be->depth - 1, be->depth - 1);
	PQclear(PQexec(be->c, sql));
	be->depth--;
}

static void pg_busy_timeout(void *p, int ms)
{
	struct pg_be *be = p;
	char sql[48];

	be->lock_ms = ms < 0 ? 0 : ms;
	snprintf(sql, sizeof(sql), "SET lock_timeout = %d", be->lock_ms);
	PQclear(PQexec(be->c, sql));
}

static enum fsec_err counter(struct pg_be *be, int stmt, const char *name, uint64_t floor,
			     uint64_t *out, const char *what)
{
	struct pgp a = {0};
	enum fsec_err rc = FSEC_OK;
	PGresult *r;

	/* Outside a transaction two processes could use the same value. */
	if (be->depth == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "counter %s changed outside a transaction", name);
	pgp_s(&a, name);
	/* The caller keeps floor below INT64_MAX. */
	pgp_i(&a, (int64_t)floor);
	if ((r = pg_exec(be, pg_sql[stmt], &a, what, &rc)) == NULL)
		return rc;
	*out = (uint64_t)pg_i64(r, 0, 0);
	PQclear(r);
	return FSEC_OK;
}

static enum fsec_err pg_counter_next(void *p, const char *name, uint64_t floor, uint64_t *out)
{
	return counter(p, PS_COUNTER_NEXT, name, floor, out, "advancing a counter");
}

static enum fsec_err pg_counter_raise(void *p, const char *name, uint64_t floor, uint64_t *out)
{
	return counter(p, PS_COUNTER_RAISE, name, floor, out, "raising a counter");
}

static enum fsec_err pg_data_version(void *p, uint64_t *out)
{
	struct pg_be *be = p;
	enum fsec_err rc = FSEC_OK;
	PGresult *r = pg_exec(be, pg_sql[PS_DATA_VERSION], NULL, "reading the data version", &rc);

	if (r == NULL)
		return rc;
	*out = (uint64_t)pg_i64(r, 0, 0);
	PQclear(r);
	return FSEC_OK;
}

/* The references of the schema, as SQLite's foreign_key_check reads them:
 * child table and column, parent table and column. */
static const char *const references[][4] = {
	{"certificates", "device_id", "devices", "id"},
	{"device_state", "device_id", "devices", "id"},
	{"device_groups", "device_id", "devices", "id"},
	{"device_net", "device_id", "devices", "id"},
	{"renew_allow", "device_id", "devices", "id"},
	{"device_tamper", "device_id", "devices", "id"},
	{"enroll_allow", "ca_fingerprint", "enroll_cas", "fingerprint"},
};

/* PostgreSQL checks its own pages and enforces the references itself, but
 * a superuser can write around them (session_replication_role, a partial
 * restore), so the check is: this library's schema version, every table
 * readable, and no row referring to a missing one. */
static enum fsec_err pg_check(void *p, fsec_problem_cb cb, void *ctx)
{
	struct pg_be *be = p;
	char line[FSEC_DETAIL_MAX + 1], key[FSEC_DEVID_MAX + 1], sql[256];
	enum fsec_err rc;
	PGresult *r;

	if ((rc = pg_schema_current(be, "registry")) != FSEC_OK) {
		snprintf(line, sizeof(line), "schema: %s", fsec_err_detail());
		fsec_clearerr();
		cb(line, ctx);
		return FSEC_OK;
	}
	for (int i = 0; pg_tables[i] != NULL; i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", pg_tables[i]);
		if ((r = pg_exec(be, sql, NULL, "checking the registry", &rc)) == NULL) {
			snprintf(line, sizeof(line), "table %s: %s", pg_tables[i], fsec_err_detail());
			fsec_clearerr();
			if (cb(line, ctx) != 0)
				return FSEC_OK;
			continue;
		}
		PQclear(r);
	}
	for (size_t i = 0; i < sizeof(references) / sizeof(references[0]); i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT c.%s FROM %s c WHERE NOT EXISTS (SELECT 1 FROM %s p WHERE p.%s = c.%s)"
			 " ORDER BY 1 LIMIT 100",
			 references[i][1], references[i][0], references[i][2], references[i][3],
			 references[i][1]);
		if ((r = pg_exec(be, sql, NULL, "checking the registry's references", &rc)) == NULL)
			return rc;
		for (int row = 0, n = PQntuples(r); row < n; row++) {
			pg_text(r, row, 0, key, sizeof(key));
			snprintf(line, sizeof(line), "foreign key: %s row '%s' refers to a missing %s row",
				 references[i][0], key, references[i][2]);
			if (cb(line, ctx) != 0) {
				PQclear(r);
				return FSEC_OK;
			}
		}
		PQclear(r);
	}
	return FSEC_OK;
}

/* The online copy of SQLite's backup API has its PostgreSQL counterpart in
 * pg_dump (or a base backup); this backend does not write one itself. */
static enum fsec_err pg_snapshot(void *p, const char *path)
{
	(void)p;
	return fsec_seterr(FSEC_ERR_INVAL, "registry snapshot to %s: not available on PostgreSQL "
			   "(use pg_dump or pg_basebackup)", path);
}

const struct fsec_registry_ops fsec_registry_pg_ops = {
	.scheme = "postgresql",
	.whole_location = true,
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.device_get = pg_device_get,
	.device_put = pg_device_put,
	.device_list = pg_device_list,
	.cert_add = pg_cert_add,
	.cert_list = pg_cert_list,
	.cert_pem = pg_cert_pem,
	.current_pem_list = pg_current_pem_list,
	.cert_revoke = pg_cert_revoke,
	.server_cert_add = pg_server_cert_add,
	.server_cert_list = pg_server_cert_list,
	.server_cert_revoke = pg_server_cert_revoke,
	.event_add = pg_event_add,
	.event_list = pg_event_list,
	.counter_next = pg_counter_next,
	.device_net_set = pg_device_net_set,
	.device_net_list = pg_device_net_list,
	.device_net_one = pg_device_net_one,
	.event_list_after = pg_event_list_after,
	.enroll_ca_add = pg_enroll_ca_add,
	.enroll_ca_list = pg_enroll_ca_list,
	.enroll_allow_add = pg_enroll_allow_add,
	.enroll_remove = pg_enroll_remove,
	.enroll_allow_list = pg_enroll_allow_list,
	.bootstrap_spend = pg_bootstrap_spend,
	.bootstrap_spent = pg_bootstrap_spent,
	.data_version = pg_data_version,
	.busy_timeout = pg_busy_timeout,
	.pending_put = pg_pending_put,
	.pending_get = pg_pending_get,
	.pending_approve = pg_pending_approve,
	.pending_delete = pg_pending_delete,
	.pending_list = pg_pending_list,
	.publish_put = pg_publish_put,
	.publish_get = pg_publish_get,
	.publish_list = pg_publish_list,
	.baseline_get = pg_baseline_get,
	.baseline_keep = pg_baseline_keep,
	.baseline_bundle_put = pg_baseline_bundle_put,
	.served_get = pg_served_get,
	.served_put = pg_served_put,
	.timestamp_put = pg_timestamp_put,
	.timestamp_get = pg_timestamp_get,
	.group_set = pg_group_set,
	.group_get = pg_group_get,
	.model_stats = pg_model_stats,
	.model_state_list = pg_model_state_list,
	.model_tally = pg_model_tally,
	.rollout_eval_get = pg_rollout_eval_get,
	.rollout_eval_put = pg_rollout_eval_put,
	.model_counters = pg_model_counters,
	.product_get = pg_product_get,
	.product_put = pg_product_put,
	.product_list = pg_product_list,
	.devstate_get = pg_devstate_get,
	.devstate_put = pg_devstate_put,
	.devstate_list = pg_devstate_list,
	.device_state_list = pg_device_state_list,
	.bootstrap_list = pg_bootstrap_list,
	.check = pg_check,
	.snapshot = pg_snapshot,
	.counter_raise = pg_counter_raise,
	.refusal_add = pg_refusal_add,
	.refusal_list = pg_refusal_list,
	.refusal_changed = pg_refusal_changed,
	.renew_allow_put = pg_renew_allow_put,
	.renew_allow_get = pg_renew_allow_get,
	.renew_allow_take = pg_renew_allow_take,
	.tamper_put = pg_tamper_put,
	.tamper_get = pg_tamper_get,
	.tamper_list = pg_tamper_list,
	.enc_key_put = pg_enc_key_put,
	.enc_key_get = pg_enc_key_get,
	.inventory_list = pg_inventory_list,
	.device_find = pg_device_find,
	.event_query = pg_event_query,
	.pairing_put = pg_pairing_put,
	.pairing_get = pg_pairing_get,
	.pairing_of = pg_pairing_of,
	.pairing_spend = pg_pairing_spend,
	.feed_open = pg_feed_open,
	.feed_fd = pg_feed_fd,
	.feed_poll = pg_feed_poll,
	.feed_reconnect = pg_feed_reconnect,
	.feed_lead = pg_feed_lead,
	.feed_free = pg_feed_free,
};
