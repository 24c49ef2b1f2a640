/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite registry backend: WAL for concurrent readers, synchronous=FULL
 * because a CA must never forget a serial it handed out, and BEGIN IMMEDIATE
 * so that concurrent writers queue on the busy timeout instead of failing
 * mid-transaction on a lock upgrade.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "err_int.h"
#include "registry_int.h"

#define BUSY_TIMEOUT_MS 30000

/*
 * The schema as a list of steps: migrations[i] takes a registry from version
 * i to i + 1, so a new fleetsec upgrades an old home in place, in one
 * transaction, and a new table is a new step, never an edit of an old one.
 */
static const char schema_v1[] =
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;"
	"CREATE TABLE devices("
	" id TEXT PRIMARY KEY, model TEXT NOT NULL DEFAULT '',"
	" status TEXT NOT NULL CHECK(status IN ('active','revoked')),"
	" serial TEXT, fingerprint TEXT, spki_sha256 TEXT,"
	" issued_at INTEGER, expires_at INTEGER, provisioning TEXT NOT NULL,"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;"
	"CREATE INDEX devices_model ON devices(model);"
	"CREATE INDEX devices_status ON devices(status);"
	"CREATE TABLE certificates("
	" serial TEXT PRIMARY KEY,"
	" device_id TEXT NOT NULL REFERENCES devices(id) DEFERRABLE INITIALLY DEFERRED,"
	" fingerprint TEXT NOT NULL UNIQUE, spki_sha256 TEXT NOT NULL,"
	" not_before INTEGER NOT NULL, not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL,"
	" revoked_at INTEGER, reason INTEGER, pem TEXT NOT NULL) STRICT;"
	"CREATE INDEX certificates_device ON certificates(device_id);"
	"CREATE INDEX certificates_spki ON certificates(spki_sha256);"
	"CREATE INDEX certificates_revoked ON certificates(not_after) WHERE revoked_at IS NOT NULL;"
	"CREATE TABLE events("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,"
	" action TEXT NOT NULL, device_id TEXT, detail TEXT NOT NULL DEFAULT '') STRICT;"
	"CREATE INDEX events_device ON events(device_id);"
	/* History is evidence: neither events nor issued certificates can be
	 * rewritten, whoever holds the handle. */
	"CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
	" BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"
	"CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
	" BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"
	"CREATE TRIGGER certificates_no_delete BEFORE DELETE ON certificates"
	" BEGIN SELECT RAISE(ABORT, 'issued certificates are never deleted'); END;";

/* Enrollment: manufacturer CAs trusted for bootstrap only, the serials each
 * may enrol, and every bootstrap use spent (replays hit the primary key). */
static const char schema_v2_enroll[] =
	"CREATE TABLE enroll_cas(fingerprint TEXT PRIMARY KEY, subject TEXT NOT NULL,"
	" pem TEXT NOT NULL, added_at INTEGER NOT NULL) STRICT;"
	"CREATE TABLE enroll_allow(ca_fingerprint TEXT NOT NULL REFERENCES enroll_cas(fingerprint),"
	" pattern TEXT NOT NULL, model TEXT NOT NULL DEFAULT '', added_at INTEGER NOT NULL,"
	" PRIMARY KEY(ca_fingerprint, pattern)) STRICT;"
	"CREATE TABLE bootstrap_spent(fingerprint TEXT NOT NULL,"
	" use TEXT NOT NULL CHECK(use IN ('enroll','re-enroll')), device_id TEXT NOT NULL,"
	" at INTEGER NOT NULL, PRIMARY KEY(fingerprint, use)) STRICT;"
	"CREATE TRIGGER bootstrap_spent_no_delete BEFORE DELETE ON bootstrap_spent"
	" BEGIN SELECT RAISE(ABORT, 'a spent bootstrap credential stays spent'); END;"
	"CREATE TRIGGER bootstrap_spent_no_update BEFORE UPDATE ON bootstrap_spent"
	" BEGIN SELECT RAISE(ABORT, 'a spent bootstrap credential stays spent'); END;";

/* The release bundle each model's devices are served, and its rollout. */
static const char schema_v3_published[] =
	"CREATE TABLE published(model TEXT PRIMARY KEY, sha256 TEXT NOT NULL,"
	" version TEXT NOT NULL, security_counter INTEGER NOT NULL, size INTEGER NOT NULL,"
	" percent INTEGER NOT NULL CHECK(percent BETWEEN 0 AND 100),"
	" bundle TEXT NOT NULL, published_at INTEGER NOT NULL) STRICT;";

/* Enrollments waiting for the operator (fleetsecd --approval manual). */
static const char schema_v4_pending[] =
	"CREATE TABLE enroll_pending(device_id TEXT PRIMARY KEY, bootstrap_fp TEXT NOT NULL,"
	" spki_sha256 TEXT NOT NULL, model TEXT NOT NULL, requested_at INTEGER NOT NULL,"
	" approved_at INTEGER, approved_by TEXT) STRICT;";

/* Audit facts (issue 7): products with their support end, disclosure contact
 * and current release, and each device's last reported state. A device's
 * state is a separate table so that status reports, the most frequent
 * write, touch neither the device row nor the append-only event log. */
static const char schema_v5_audit[] =
	"CREATE TABLE products("
	" model TEXT PRIMARY KEY, manufacturer TEXT NOT NULL DEFAULT '',"
	" support_until INTEGER NOT NULL DEFAULT 0, security_contact TEXT NOT NULL DEFAULT '',"
	" release_version TEXT NOT NULL DEFAULT '', release_counter INTEGER NOT NULL DEFAULT -1,"
	" release_at INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL) STRICT;"
	"CREATE TABLE device_state("
	" device_id TEXT PRIMARY KEY REFERENCES devices(id) DEFERRABLE INITIALLY DEFERRED,"
	" first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
	" fw_version TEXT NOT NULL DEFAULT '', security_counter INTEGER NOT NULL DEFAULT 0,"
	" update_outcome TEXT NOT NULL DEFAULT ''"
	"  CHECK(update_outcome IN ('','success','failure')),"
	" update_at INTEGER NOT NULL DEFAULT 0, update_ok_at INTEGER NOT NULL DEFAULT 0) STRICT;";

/* v6: a rollout pauses itself past a failure threshold, and may be limited
 * to a group of devices (canaries first). */
static const char schema_v6_rollout[] =
	"ALTER TABLE published ADD COLUMN max_failures INTEGER NOT NULL DEFAULT -1;"
	"ALTER TABLE published ADD COLUMN max_failures_pct INTEGER NOT NULL DEFAULT -1;"
	"ALTER TABLE published ADD COLUMN grp TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE device_groups("
	" device_id TEXT PRIMARY KEY REFERENCES devices(id) DEFERRABLE INITIALLY DEFERRED,"
	" grp TEXT NOT NULL) STRICT;";

/* v7: where each device sits on the network, for `net compile --from-registry`.
 * A MAC or an IP belongs to at most one device. */
static const char schema_v7_device_net[] =
	"CREATE TABLE device_net("
	" device_id TEXT PRIMARY KEY REFERENCES devices(id) DEFERRABLE INITIALLY DEFERRED,"
	" mac TEXT UNIQUE, ip TEXT UNIQUE, updated_at INTEGER NOT NULL) STRICT;";

/* v8: the debug ports' lock state each device reports (eFuse/OTP). */
static const char schema_v8_debug[] =
	"ALTER TABLE device_state ADD COLUMN debug_jtag TEXT NOT NULL DEFAULT ''"
	" CHECK(debug_jtag IN ('','locked','unlocked'));"
	"ALTER TABLE device_state ADD COLUMN debug_uart TEXT NOT NULL DEFAULT ''"
	" CHECK(debug_uart IN ('','locked','unlocked'));"
	"ALTER TABLE device_state ADD COLUMN debug_at INTEGER NOT NULL DEFAULT 0;";

static const char *const migrations[] = {
	schema_v1,	 schema_v2_enroll,  schema_v3_published,  schema_v4_pending,
	schema_v5_audit, schema_v6_rollout, schema_v7_device_net, schema_v8_debug,
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum stmt_id {
	ST_DEVICE_GET,
	ST_DEVICE_PUT,
	ST_DEVICE_LIST,
	ST_CERT_ADD,
	ST_CERT_PEM,
	ST_CERT_REVOKE,
	ST_EVENT_ADD,
	ST_EVENT_LIST,
	ST_COUNTER_NEXT,
	ST_ENROLL_CA_ADD,
	ST_ENROLL_CA_LIST,
	ST_ENROLL_ALLOW_ADD,
	ST_ENROLL_ALLOW_LIST,
	ST_BOOTSTRAP_SPEND,
	ST_BOOTSTRAP_SPENT,
	ST_DATA_VERSION,
	ST_PENDING_PUT,
	ST_PENDING_GET,
	ST_PENDING_APPROVE,
	ST_PENDING_DELETE,
	ST_PENDING_LIST,
	ST_PUBLISH_PUT,
	ST_PUBLISH_GET,
	ST_PUBLISH_LIST,
	ST_GROUP_SET,
	ST_GROUP_CLEAR,
	ST_GROUP_GET,
	ST_MODEL_STATS,
	ST_MODEL_COUNTERS,
	ST_PRODUCT_GET,
	ST_PRODUCT_PUT,
	ST_PRODUCT_LIST,
	ST_STATE_GET,
	ST_STATE_PUT,
	ST_STATE_LIST,
	ST_DEVICE_STATE_LIST,
	/* Certificate listings, one statement per combination of filters
	 * (CERT_BY_* bits): a generic "?1 IS NULL OR col = ?1" cannot use an
	 * index, and a full scan for every issue would make issuance O(N^2). */
	ST_CERT_LIST,
	ST_COUNT = ST_CERT_LIST + 8
};

#define CERT_BY_DEVICE 0x1
#define CERT_BY_SPKI 0x2
#define CERT_BY_REVOKED 0x4

#define DEVICE_COLS                                                                          \
	"id, model, status, ifnull(serial,''), ifnull(fingerprint,''), ifnull(spki_sha256,''), " \
	"ifnull(issued_at,0), ifnull(expires_at,0), provisioning, created_at, updated_at"
#define PENDING_COLS                                                                      \
	"device_id, bootstrap_fp, spki_sha256, model, requested_at, ifnull(approved_at, 0), " \
	"ifnull(approved_by, '')"
#define CERT_COLS                                                                           \
	"serial, device_id, fingerprint, spki_sha256, not_before, not_after, issued_at, "      \
	"revoked_at IS NOT NULL, ifnull(revoked_at,0), ifnull(reason,0)"

#define PRODUCT_COLS                                                                        \
	"model, manufacturer, support_until, security_contact, release_version, "             \
	"release_counter, release_at, updated_at"
#define STATE_COLS                                                                          \
	"device_id, first_seen, last_seen, fw_version, security_counter, update_outcome, "     \
	"update_at, update_ok_at, debug_jtag, debug_uart, debug_at"

static const char *const stmt_sql[ST_CERT_LIST] = {
	[ST_DEVICE_GET] = "SELECT " DEVICE_COLS " FROM devices WHERE id = ?1",
	[ST_DEVICE_PUT] = "INSERT INTO devices(id, model, status, serial, fingerprint, spki_sha256,"
			  " issued_at, expires_at, provisioning, created_at, updated_at)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
			  " ON CONFLICT(id) DO UPDATE SET model = excluded.model,"
			  " status = excluded.status, serial = excluded.serial,"
			  " fingerprint = excluded.fingerprint, spki_sha256 = excluded.spki_sha256,"
			  " issued_at = excluded.issued_at, expires_at = excluded.expires_at,"
			  " provisioning = excluded.provisioning, updated_at = excluded.updated_at",
	[ST_DEVICE_LIST] = "SELECT " DEVICE_COLS " FROM devices"
			   " WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR model = ?2)"
			   " ORDER BY id",
	[ST_CERT_ADD] = "INSERT INTO certificates(serial, device_id, fingerprint, spki_sha256,"
			" not_before, not_after, issued_at, pem) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_CERT_PEM] = "SELECT pem FROM certificates WHERE serial = ?1",
	[ST_CERT_REVOKE] = "UPDATE certificates SET revoked_at = ?2, reason = ?3"
			   " WHERE serial = ?1 AND revoked_at IS NULL",
	[ST_EVENT_ADD] = "INSERT INTO events(at, actor, action, device_id, detail)"
			 " VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_EVENT_LIST] = "SELECT seq, at, actor, action, ifnull(device_id,''), detail FROM events"
			  " WHERE ?1 IS NULL OR device_id = ?1 ORDER BY seq",
	[ST_COUNTER_NEXT] = "INSERT INTO meta(name, value) VALUES (?1, 1)"
			    " ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
	[ST_PRODUCT_GET] = "SELECT " PRODUCT_COLS " FROM products WHERE model = ?1",
	[ST_PRODUCT_PUT] = "INSERT OR REPLACE INTO products(" PRODUCT_COLS ")"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_PRODUCT_LIST] = "SELECT " PRODUCT_COLS " FROM products ORDER BY model",
	[ST_STATE_GET] = "SELECT " STATE_COLS " FROM device_state WHERE device_id = ?1",
	[ST_STATE_PUT] = "INSERT OR REPLACE INTO device_state(" STATE_COLS ")"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[ST_STATE_LIST] = "SELECT " STATE_COLS " FROM device_state ORDER BY device_id",
	/* Columns 0-10 are a device (read_device), 11-18 its state; the
	 * state's device_id is NULL when the device never reported. */
	[ST_DEVICE_STATE_LIST] = "SELECT " DEVICE_COLS ", s.device_id, ifnull(s.first_seen,0),"
				 " ifnull(s.last_seen,0), ifnull(s.fw_version,''),"
				 " ifnull(s.security_counter,0), ifnull(s.update_outcome,''),"
				 " ifnull(s.update_at,0), ifnull(s.update_ok_at,0),"
				 " ifnull(s.debug_jtag,''), ifnull(s.debug_uart,''), ifnull(s.debug_at,0)"
				 " FROM devices LEFT JOIN device_state s ON s.device_id = devices.id"
				 " ORDER BY devices.id",
	[ST_ENROLL_CA_ADD] = "INSERT INTO enroll_cas(fingerprint, subject, pem, added_at)"
			     " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(fingerprint) DO NOTHING",
	[ST_ENROLL_CA_LIST] = "SELECT fingerprint, subject, added_at, pem FROM enroll_cas"
			      " ORDER BY added_at, fingerprint",
	[ST_ENROLL_ALLOW_ADD] = "INSERT INTO enroll_allow(ca_fingerprint, pattern, model, added_at)"
				" VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET model = excluded.model",
	[ST_ENROLL_ALLOW_LIST] = "SELECT pattern, model FROM enroll_allow WHERE ca_fingerprint = ?1"
				 " ORDER BY pattern",
	[ST_BOOTSTRAP_SPEND] = "INSERT INTO bootstrap_spent(fingerprint, use, device_id, at)"
			       " VALUES (?1, ?2, ?3, ?4)",
	[ST_BOOTSTRAP_SPENT] = "SELECT device_id FROM bootstrap_spent WHERE fingerprint = ?1"
			       " AND use = ?2",
	[ST_DATA_VERSION] = "PRAGMA data_version",
	/* An approved request is not re-opened by the device asking again. */
	[ST_PENDING_PUT] = "INSERT INTO enroll_pending(device_id, bootstrap_fp, spki_sha256, model,"
			   " requested_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(device_id)"
			   " DO UPDATE SET bootstrap_fp = excluded.bootstrap_fp,"
			   " spki_sha256 = excluded.spki_sha256, model = excluded.model,"
			   " requested_at = excluded.requested_at WHERE approved_at IS NULL",
	[ST_PENDING_GET] = "SELECT " PENDING_COLS " FROM enroll_pending WHERE device_id = ?1",
	[ST_PENDING_APPROVE] = "UPDATE enroll_pending SET approved_at = ?3, approved_by = ?2"
			       " WHERE device_id = ?1 AND approved_at IS NULL"
			       " AND substr(spki_sha256, 1, length(?4)) = ?4",
	[ST_PENDING_DELETE] = "DELETE FROM enroll_pending WHERE device_id = ?1",
	[ST_PENDING_LIST] = "SELECT " PENDING_COLS " FROM enroll_pending"
			    " WHERE approved_at IS NULL ORDER BY requested_at, device_id",
	[ST_PUBLISH_PUT] = "INSERT OR REPLACE INTO published(model, sha256, version,"
			   " security_counter, size, percent, bundle, published_at, max_failures,"
			   " max_failures_pct, grp)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[ST_PUBLISH_GET] = "SELECT model, sha256, version, security_counter, size, percent,"
			   " published_at, bundle, max_failures, max_failures_pct, grp"
			   " FROM published WHERE model = ?1",
	[ST_GROUP_SET] = "INSERT INTO device_groups(device_id, grp) SELECT id, ?2 FROM devices"
			 " WHERE id = ?1 ON CONFLICT(device_id) DO UPDATE SET grp = excluded.grp",
	[ST_GROUP_CLEAR] = "DELETE FROM device_groups WHERE device_id = ?1",
	[ST_GROUP_GET] = "SELECT grp FROM device_groups WHERE device_id = ?1",
	[ST_PUBLISH_LIST] = "SELECT model, sha256, version, security_counter, size, percent,"
			    " published_at, '', max_failures, max_failures_pct, grp FROM published"
			    " ORDER BY model",
	[ST_MODEL_STATS] = "SELECT count(*), count(s.device_id),"
			   " count(*) FILTER (WHERE s.update_outcome = 'failure' AND s.update_at >= ?2),"
			   " count(*) FILTER (WHERE s.update_outcome = 'success' AND s.update_at >= ?2),"
			   " count(*) FILTER (WHERE s.security_counter >= ?3)"
			   " FROM devices d LEFT JOIN device_state s ON s.device_id = d.id"
			   " WHERE d.model = ?1 AND d.status = 'active' AND (?4 = '' OR EXISTS"
			   " (SELECT 1 FROM device_groups g WHERE g.device_id = d.id AND g.grp = ?4))",
	[ST_MODEL_COUNTERS] = "SELECT s.security_counter, count(*) FROM devices d"
			      " JOIN device_state s ON s.device_id = d.id"
			      " WHERE d.model = ?1 AND d.status = 'active'"
			      " GROUP BY s.security_counter ORDER BY s.security_counter",
};

struct sqlite_be {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	unsigned depth; /* open transactions: 1 = BEGIN, more = savepoints */
};

static enum fsec_err db_err(struct sqlite_be *be, int src, const char *what)
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

static enum fsec_err exec(struct sqlite_be *be, const char *sql)
{
	int r = sqlite3_exec(be->db, sql, NULL, NULL, NULL);

	return r == SQLITE_OK ? FSEC_OK : db_err(be, r, "registry");
}

/* The certificate listing for a CERT_BY_* mask; binds are always ?1 device,
 * ?2 SPKI, ?3 expiry bound. */
static void cert_list_sql(unsigned mask, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "SELECT " CERT_COLS " FROM certificates WHERE not_after > ?3%s%s%s"
		 " ORDER BY issued_at, rowid",
		 mask & CERT_BY_DEVICE ? " AND device_id = ?1" : "",
		 mask & CERT_BY_SPKI ? " AND spki_sha256 = ?2" : "",
		 mask & CERT_BY_REVOKED ? " AND revoked_at IS NOT NULL" : "");
}

/* Statements are prepared once per handle: issuing thousands of certificates
 * should not re-parse SQL for each. */
static enum fsec_err stmt(struct sqlite_be *be, int id, sqlite3_stmt **out)
{
	if (be->st[id] == NULL) {
		char buf[512];
		const char *sql = id < ST_CERT_LIST ? stmt_sql[id] : buf;
		int r;

		if (id >= ST_CERT_LIST)
			cert_list_sql((unsigned)(id - ST_CERT_LIST), buf, sizeof(buf));
		r = sqlite3_prepare_v3(be->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &be->st[id], NULL);

		if (r != SQLITE_OK)
			return db_err(be, r, "preparing a registry query");
	}
	*out = be->st[id];
	return FSEC_OK;
}

static void text(sqlite3_stmt *s, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(out, cap, "%s", t != NULL ? (const char *)t : "");
}

static void bind_opt(sqlite3_stmt *s, int idx, const char *v)
{
	if (v != NULL && v[0] != '\0')
		sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, idx);
}

static void be_close(void *p)
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

static enum fsec_err schema_version(struct sqlite_be *be, const char *path, int *out)
{
	sqlite3_stmt *st = NULL;
	int r = sqlite3_prepare_v2(be->db, "PRAGMA user_version", -1, &st, NULL);
	enum fsec_err rc = FSEC_OK;

	if (r != SQLITE_OK || (r = sqlite3_step(st)) != SQLITE_ROW)
		rc = db_err(be, r, path);
	else
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc;
}

/* Bring the registry to SCHEMA_VERSION. Only a new file starts from 0; an
 * existing one at version 0 is not a registry. The version is read inside
 * the write transaction, so two processes opening an old registry at once
 * upgrade it once. */
static enum fsec_err migrate(struct sqlite_be *be, const char *path, bool create)
{
	enum fsec_err rc;
	char sql[40];
	int v = 0;

	if ((rc = schema_version(be, path, &v)) != FSEC_OK)
		return rc;
	if (v == SCHEMA_VERSION)
		return FSEC_OK;
	if ((rc = exec(be, "BEGIN IMMEDIATE")) != FSEC_OK)
		return rc;
	if ((rc = schema_version(be, path, &v)) != FSEC_OK)
		goto out;
	if (v > SCHEMA_VERSION || (v == 0 && !create)) {
		rc = fsec_seterr(FSEC_ERR_DB, "registry %s has schema version %d; this fleetsec knows %d",
				 path, v, SCHEMA_VERSION);
		goto out;
	}
	for (; v < SCHEMA_VERSION; v++)
		if ((rc = exec(be, migrations[v])) != FSEC_OK)
			goto out;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if ((rc = exec(be, sql)) == FSEC_OK)
		rc = exec(be, "COMMIT");
out:
	if (rc != FSEC_OK)
		sqlite3_exec(be->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static enum fsec_err be_open(const char *path, unsigned flags, void **out)
{
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
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
			     : db_err(be, r, path);
		goto out;
	}
	sqlite3_extended_result_codes(be->db, 1);
	sqlite3_busy_timeout(be->db, BUSY_TIMEOUT_MS);
	if ((rc = exec(be, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
			   " PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF;")) != FSEC_OK)
		goto out;
	if ((rc = migrate(be, path, (flags & FSEC_REGISTRY_CREATE) != 0)) != FSEC_OK)
		goto out;
	*out = be;
	be = NULL;
	rc = FSEC_OK;
out:
	be_close(be);
	return rc;
}

static enum fsec_err be_begin(void *p)
{
	struct sqlite_be *be = p;
	char sql[48];
	enum fsec_err rc;

	if (be->depth == 0)
		snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE");
	else
		snprintf(sql, sizeof(sql), "SAVEPOINT sp%u", be->depth);
	rc = exec(be, sql);
	if (rc == FSEC_OK)
		be->depth++;
	return rc;
}

static enum fsec_err be_commit(void *p)
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
	rc = exec(be, sql);
	if (rc == FSEC_OK)
		be->depth--;
	return rc;
}

static void be_rollback(void *p)
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

static void read_device(sqlite3_stmt *s, struct fsec_device_rec *d)
{
	memset(d, 0, sizeof(*d));
	text(s, 0, d->id, sizeof(d->id));
	text(s, 1, d->model, sizeof(d->model));
	text(s, 2, d->status, sizeof(d->status));
	text(s, 3, d->serial, sizeof(d->serial));
	text(s, 4, d->fingerprint, sizeof(d->fingerprint));
	text(s, 5, d->spki_sha256, sizeof(d->spki_sha256));
	d->issued_at = sqlite3_column_int64(s, 6);
	d->expires_at = sqlite3_column_int64(s, 7);
	text(s, 8, d->provisioning, sizeof(d->provisioning));
	d->created_at = sqlite3_column_int64(s, 9);
	d->updated_at = sqlite3_column_int64(s, 10);
}

static void read_cert(sqlite3_stmt *s, struct fsec_cert_rec *c)
{
	memset(c, 0, sizeof(*c));
	text(s, 0, c->serial, sizeof(c->serial));
	text(s, 1, c->device_id, sizeof(c->device_id));
	text(s, 2, c->fingerprint, sizeof(c->fingerprint));
	text(s, 3, c->spki_sha256, sizeof(c->spki_sha256));
	c->not_before = sqlite3_column_int64(s, 4);
	c->not_after = sqlite3_column_int64(s, 5);
	c->issued_at = sqlite3_column_int64(s, 6);
	c->revoked = sqlite3_column_int(s, 7) != 0;
	c->revoked_at = sqlite3_column_int64(s, 8);
	c->reason = sqlite3_column_int(s, 9);
}

static void read_event(sqlite3_stmt *s, struct fsec_event_rec *e)
{
	memset(e, 0, sizeof(*e));
	e->seq = sqlite3_column_int64(s, 0);
	e->at = sqlite3_column_int64(s, 1);
	text(s, 2, e->actor, sizeof(e->actor));
	text(s, 3, e->action, sizeof(e->action));
	text(s, 4, e->device_id, sizeof(e->device_id));
	text(s, 5, e->detail, sizeof(e->detail));
}

/* Run a statement that returns no rows, then reset it. */
static enum fsec_err run(struct sqlite_be *be, sqlite3_stmt *s, const char *what)
{
	int r = sqlite3_step(s);
	enum fsec_err rc = r == SQLITE_DONE ? FSEC_OK : db_err(be, r, what);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

/* Step through rows, handing each to visit, which returns non-zero to stop. */
static enum fsec_err each_row(struct sqlite_be *be, sqlite3_stmt *s, const char *what,
			      int (*visit)(sqlite3_stmt *s, void *arg), void *arg)
{
	enum fsec_err rc = FSEC_OK;
	int r;

	while ((r = sqlite3_step(s)) == SQLITE_ROW)
		if (visit(s, arg) != 0)
			break;
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = db_err(be, r, what);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static enum fsec_err be_device_get(void *p, const char *id, struct fsec_device_rec *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = stmt(be, ST_DEVICE_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		read_device(s, out);
		rc = FSEC_OK;
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "device %s is not in the registry", id);
	} else {
		rc = db_err(be, r, "reading a device");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static enum fsec_err be_device_put(void *p, const struct fsec_device_rec *d)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_DEVICE_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, d->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, d->status, -1, SQLITE_STATIC);
	bind_opt(s, 4, d->serial);
	bind_opt(s, 5, d->fingerprint);
	bind_opt(s, 6, d->spki_sha256);
	sqlite3_bind_int64(s, 7, d->issued_at);
	sqlite3_bind_int64(s, 8, d->expires_at);
	sqlite3_bind_text(s, 9, d->provisioning, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 10, d->created_at);
	sqlite3_bind_int64(s, 11, d->updated_at);
	return run(be, s, "writing a device");
}

struct visit_ctx {
	void *cb;
	void *ctx;
};

static int visit_device(sqlite3_stmt *s, void *arg)
{
	struct visit_ctx *v = arg;
	struct fsec_device_rec d;

	read_device(s, &d);
	return ((fsec_device_cb)v->cb)(&d, v->ctx);
}

static int visit_cert(sqlite3_stmt *s, void *arg)
{
	struct visit_ctx *v = arg;
	struct fsec_cert_rec c;

	read_cert(s, &c);
	return ((fsec_cert_cb)v->cb)(&c, v->ctx);
}

static int visit_event(sqlite3_stmt *s, void *arg)
{
	struct visit_ctx *v = arg;
	struct fsec_event_rec e;

	read_event(s, &e);
	return ((fsec_event_cb)v->cb)(&e, v->ctx);
}

static enum fsec_err be_device_list(void *p, const char *status, const char *model,
				    fsec_device_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct visit_ctx v = {(void *)cb, ctx};
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_DEVICE_LIST, &s)) != FSEC_OK)
		return rc;
	bind_opt(s, 1, status);
	bind_opt(s, 2, model);
	return each_row(be, s, "listing devices", visit_device, &v);
}

static enum fsec_err be_cert_add(void *p, const struct fsec_cert_rec *c, const char *pem)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_CERT_ADD, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, c->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, c->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, c->fingerprint, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, c->spki_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, c->not_before);
	sqlite3_bind_int64(s, 6, c->not_after);
	sqlite3_bind_int64(s, 7, c->issued_at);
	sqlite3_bind_text(s, 8, pem, -1, SQLITE_STATIC);
	return run(be, s, "recording a certificate");
}

static enum fsec_err be_cert_list(void *p, const struct fsec_cert_filter *f, fsec_cert_cb cb,
				  void *ctx)
{
	struct sqlite_be *be = p;
	struct visit_ctx v = {(void *)cb, ctx};
	unsigned mask = 0;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if (f->device_id != NULL && f->device_id[0] != '\0')
		mask |= CERT_BY_DEVICE;
	if (f->spki_sha256 != NULL && f->spki_sha256[0] != '\0')
		mask |= CERT_BY_SPKI;
	if (f->revoked_only)
		mask |= CERT_BY_REVOKED;
	if ((rc = stmt(be, ST_CERT_LIST + (int)mask, &s)) != FSEC_OK)
		return rc;
	if (mask & CERT_BY_DEVICE)
		sqlite3_bind_text(s, 1, f->device_id, -1, SQLITE_STATIC);
	if (mask & CERT_BY_SPKI)
		sqlite3_bind_text(s, 2, f->spki_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, f->not_expired_at);
	return each_row(be, s, "listing certificates", visit_cert, &v);
}

static enum fsec_err be_cert_pem(void *p, const char *serial, char **pem)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = stmt(be, ST_CERT_PEM, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		char *copy = strdup(t != NULL ? t : "");

		rc = copy != NULL ? FSEC_OK : fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		if (copy != NULL)
			*pem = copy;
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no certificate with serial %.40s", serial);
	} else {
		rc = db_err(be, r, "reading a certificate");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static enum fsec_err be_cert_revoke(void *p, const char *serial, int64_t at, int reason)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_CERT_REVOKE, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, at);
	sqlite3_bind_int(s, 3, reason);
	return run(be, s, "revoking a certificate");
}

static enum fsec_err be_event_add(void *p, const struct fsec_event_rec *e)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_EVENT_ADD, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_int64(s, 1, e->at != 0 ? e->at : (int64_t)time(NULL));
	sqlite3_bind_text(s, 2, e->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, e->action, -1, SQLITE_STATIC);
	bind_opt(s, 4, e->device_id);
	sqlite3_bind_text(s, 5, e->detail, -1, SQLITE_STATIC);
	return run(be, s, "appending an event");
}

static enum fsec_err be_event_list(void *p, const char *device_id, fsec_event_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct visit_ctx v = {(void *)cb, ctx};
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_EVENT_LIST, &s)) != FSEC_OK)
		return rc;
	bind_opt(s, 1, device_id);
	return each_row(be, s, "listing events", visit_event, &v);
}

static enum fsec_err be_counter_next(void *p, const char *name, uint64_t *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	/* Outside a transaction two processes could read the same value. */
	if (be->depth == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "counter %s advanced outside a transaction", name);
	if ((rc = stmt(be, ST_COUNTER_NEXT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		*out = (uint64_t)sqlite3_column_int64(s, 0);
		rc = FSEC_OK;
	} else {
		rc = db_err(be, r, "advancing a counter");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static void read_product(sqlite3_stmt *s, struct fsec_product_rec *p)
{
	memset(p, 0, sizeof(*p));
	text(s, 0, p->model, sizeof(p->model));
	text(s, 1, p->manufacturer, sizeof(p->manufacturer));
	p->support_until = sqlite3_column_int64(s, 2);
	text(s, 3, p->security_contact, sizeof(p->security_contact));
	text(s, 4, p->release_version, sizeof(p->release_version));
	p->release_counter = sqlite3_column_int64(s, 5);
	p->release_at = sqlite3_column_int64(s, 6);
	p->updated_at = sqlite3_column_int64(s, 7);
}

/* A state row whose columns start at c. */
static void read_state_at(sqlite3_stmt *s, int c, struct fsec_devstate_rec *d)
{
	int64_t ctr;

	memset(d, 0, sizeof(*d));
	text(s, c, d->device_id, sizeof(d->device_id));
	d->first_seen = sqlite3_column_int64(s, c + 1);
	d->last_seen = sqlite3_column_int64(s, c + 2);
	text(s, c + 3, d->fw_version, sizeof(d->fw_version));
	ctr = sqlite3_column_int64(s, c + 4);
	/* Stored values came through devstate_put, but a registry file is
	 * still input: clamp rather than wrap. */
	d->security_counter = ctr < 0 ? 0 : ctr > UINT32_MAX ? UINT32_MAX : (uint32_t)ctr;
	text(s, c + 5, d->update_outcome, sizeof(d->update_outcome));
	d->update_at = sqlite3_column_int64(s, c + 6);
	d->update_ok_at = sqlite3_column_int64(s, c + 7);
	text(s, c + 8, d->debug_jtag, sizeof(d->debug_jtag));
	text(s, c + 9, d->debug_uart, sizeof(d->debug_uart));
	d->debug_at = sqlite3_column_int64(s, c + 10);
}

static void read_state(sqlite3_stmt *s, struct fsec_devstate_rec *d)
{
	read_state_at(s, 0, d);
}

/* Get one row by key into out with reader; NOTFOUND names what. */
static enum fsec_err get_one(struct sqlite_be *be, int id, const char *key, const char *what,
			     void (*reader)(sqlite3_stmt *, void *), void *out)
{
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = stmt(be, id, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		reader(s, out);
		rc = FSEC_OK;
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no %s for '%.80s' in the registry", what, key);
	} else {
		rc = db_err(be, r, what);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static void read_product_v(sqlite3_stmt *s, void *out) { read_product(s, out); }
static void read_state_v(sqlite3_stmt *s, void *out) { read_state(s, out); }

static enum fsec_err be_product_get(void *p, const char *model, struct fsec_product_rec *out)
{
	return get_one(p, ST_PRODUCT_GET, model, "product", read_product_v, out);
}

static enum fsec_err be_product_put(void *p, const struct fsec_product_rec *r)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_PRODUCT_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, r->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->manufacturer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, r->support_until);
	sqlite3_bind_text(s, 4, r->security_contact, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, r->release_version, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, r->release_counter);
	sqlite3_bind_int64(s, 7, r->release_at);
	sqlite3_bind_int64(s, 8, r->updated_at);
	return run(be, s, "writing a product");
}

static int visit_product(sqlite3_stmt *s, void *arg)
{
	struct visit_ctx *v = arg;
	struct fsec_product_rec r;

	read_product(s, &r);
	return ((fsec_product_cb)v->cb)(&r, v->ctx);
}

static enum fsec_err be_product_list(void *p, fsec_product_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct visit_ctx v = {(void *)cb, ctx};
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_PRODUCT_LIST, &s)) != FSEC_OK)
		return rc;
	return each_row(be, s, "listing products", visit_product, &v);
}

static enum fsec_err be_devstate_get(void *p, const char *id, struct fsec_devstate_rec *out)
{
	return get_one(p, ST_STATE_GET, id, "reported state", read_state_v, out);
}

static enum fsec_err be_devstate_put(void *p, const struct fsec_devstate_rec *r)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_STATE_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, r->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, r->first_seen);
	sqlite3_bind_int64(s, 3, r->last_seen);
	sqlite3_bind_text(s, 4, r->fw_version, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, r->security_counter);
	sqlite3_bind_text(s, 6, r->update_outcome, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, r->update_at);
	sqlite3_bind_int64(s, 8, r->update_ok_at);
	sqlite3_bind_text(s, 9, r->debug_jtag, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 10, r->debug_uart, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 11, r->debug_at);
	return run(be, s, "writing a device's state");
}

static int visit_state(sqlite3_stmt *s, void *arg)
{
	struct visit_ctx *v = arg;
	struct fsec_devstate_rec r;

	read_state(s, &r);
	return ((fsec_devstate_cb)v->cb)(&r, v->ctx);
}

static enum fsec_err be_devstate_list(void *p, fsec_devstate_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct visit_ctx v = {(void *)cb, ctx};
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_STATE_LIST, &s)) != FSEC_OK)
		return rc;
	return each_row(be, s, "listing device states", visit_state, &v);
}

static int visit_device_state(sqlite3_stmt *s, void *arg)
{
	struct visit_ctx *v = arg;
	struct fsec_device_rec d;
	struct fsec_devstate_rec st;
	bool reported = sqlite3_column_type(s, 11) != SQLITE_NULL;

	read_device(s, &d);
	if (reported)
		read_state_at(s, 11, &st);
	return ((fsec_device_state_cb)v->cb)(&d, reported ? &st : NULL, v->ctx);
}

static enum fsec_err be_device_state_list(void *p, fsec_device_state_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct visit_ctx v = {(void *)cb, ctx};
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_DEVICE_STATE_LIST, &s)) != FSEC_OK)
		return rc;
	return each_row(be, s, "listing devices with their state", visit_device_state, &v);
}

/* device_net statements are prepared per call: they run once per command. */
static enum fsec_err be_device_net_set(void *p, const char *id, const char *mac, const char *ip,
				       int64_t now)
{
	struct sqlite_be *be = p;
	sqlite3_stmt *s = NULL;
	enum fsec_err rc;
	int r;

	/* NULL keeps the stored value; "" clears it. */
	r = sqlite3_prepare_v2(be->db,
			       "INSERT INTO device_net(device_id, mac, ip, updated_at)"
			       " SELECT id, nullif(?2, ''), nullif(?3, ''), ?4 FROM devices WHERE id = ?1"
			       " ON CONFLICT(device_id) DO UPDATE SET"
			       " mac = CASE WHEN ?2 IS NULL THEN mac ELSE nullif(?2, '') END,"
			       " ip = CASE WHEN ?3 IS NULL THEN ip ELSE nullif(?3, '') END,"
			       " updated_at = ?4",
			       -1, &s, NULL);
	if (r != SQLITE_OK)
		return db_err(be, r, "preparing a registry query");
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (mac != NULL)
		sqlite3_bind_text(s, 2, mac, -1, SQLITE_STATIC);
	if (ip != NULL)
		sqlite3_bind_text(s, 3, ip, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	r = sqlite3_step(s);
	if (r != SQLITE_DONE)
		rc = (r & 0xff) == SQLITE_CONSTRAINT
			     ? fsec_seterr(FSEC_ERR_EXISTS, "device %s: MAC or IP already belongs to "
							    "another device", id)
			     : db_err(be, r, "writing a device's address");
	else if (sqlite3_changes(be->db) == 0)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "device %s is not in the registry", id);
	else
		rc = FSEC_OK;
	sqlite3_finalize(s);
	return rc;
}

static enum fsec_err be_device_net_list(void *p, fsec_device_net_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	sqlite3_stmt *s = NULL;
	enum fsec_err rc = FSEC_OK;
	int r;

	r = sqlite3_prepare_v2(be->db,
			       "SELECT d.id, d.model, d.status, ifnull(n.mac,''), ifnull(n.ip,'')"
			       " FROM devices d JOIN device_net n ON n.device_id = d.id ORDER BY d.id",
			       -1, &s, NULL);
	if (r != SQLITE_OK)
		return db_err(be, r, "preparing a registry query");
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		struct fsec_device_net rec;

		text(s, 0, rec.id, sizeof(rec.id));
		text(s, 1, rec.model, sizeof(rec.model));
		text(s, 2, rec.status, sizeof(rec.status));
		text(s, 3, rec.mac, sizeof(rec.mac));
		text(s, 4, rec.ip, sizeof(rec.ip));
		if (cb(&rec, ctx) != 0)
			break;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = db_err(be, r, "listing device addresses");
	sqlite3_finalize(s);
	return rc;
}

static enum fsec_err be_group_set(void *p, const char *id, const char *group)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, group[0] != '\0' ? ST_GROUP_SET : ST_GROUP_CLEAR, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (group[0] != '\0')
		sqlite3_bind_text(s, 2, group, -1, SQLITE_STATIC);
	if ((rc = run(be, s, "setting a device's group")) == FSEC_OK && group[0] != '\0' &&
	    sqlite3_changes(be->db) == 0)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "device %s is not in the registry", id);
	return rc;
}

static enum fsec_err be_group_get(void *p, const char *id, char group[FSEC_GROUP_MAX + 1])
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = stmt(be, ST_GROUP_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	group[0] = '\0';
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		text(s, 0, group, FSEC_GROUP_MAX + 1);
	else if (r != SQLITE_DONE)
		rc = db_err(be, r, "reading a device's group");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static enum fsec_err be_model_stats(void *p, const char *model, const char *group, int64_t since,
				    uint32_t counter, struct fsec_model_stats *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = stmt(be, ST_MODEL_STATS, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, since);
	sqlite3_bind_int64(s, 3, counter);
	sqlite3_bind_text(s, 4, group, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		out->devices = (uint64_t)sqlite3_column_int64(s, 0);
		out->reported = (uint64_t)sqlite3_column_int64(s, 1);
		out->failures = (uint64_t)sqlite3_column_int64(s, 2);
		out->successes = (uint64_t)sqlite3_column_int64(s, 3);
		out->patched = (uint64_t)sqlite3_column_int64(s, 4);
	} else {
		rc = db_err(be, r, "counting a model's devices");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static int visit_counter(sqlite3_stmt *s, void *arg)
{
	struct visit_ctx *v = arg;
	int64_t c = sqlite3_column_int64(s, 0);

	return ((fsec_counter_count_cb)v->cb)(c < 0 ? 0 : c > UINT32_MAX ? UINT32_MAX : (uint32_t)c,
					      (uint64_t)sqlite3_column_int64(s, 1), v->ctx);
}

static enum fsec_err be_model_counters(void *p, const char *model, fsec_counter_count_cb cb,
				       void *ctx)
{
	struct sqlite_be *be = p;
	struct visit_ctx v = {(void *)cb, ctx};
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_MODEL_COUNTERS, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
	return each_row(be, s, "counting security counters", visit_counter, &v);
}

static enum fsec_err be_enroll_ca_add(void *p, const struct fsec_enroll_ca_rec *rec,
				      const char *pem)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_ENROLL_CA_ADD, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, rec->fingerprint, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rec->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, pem, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, rec->added_at != 0 ? rec->added_at : (int64_t)time(NULL));
	return run(be, s, "adding a manufacturer CA");
}

static int visit_enroll_ca(sqlite3_stmt *s, void *arg)
{
	struct visit_ctx *v = arg;
	struct fsec_enroll_ca_rec r;
	const unsigned char *pem = sqlite3_column_text(s, 3);

	memset(&r, 0, sizeof(r));
	text(s, 0, r.fingerprint, sizeof(r.fingerprint));
	text(s, 1, r.subject, sizeof(r.subject));
	r.added_at = sqlite3_column_int64(s, 2);
	return ((fsec_enroll_ca_cb)v->cb)(&r, pem != NULL ? (const char *)pem : "", v->ctx);
}

static enum fsec_err be_enroll_ca_list(void *p, fsec_enroll_ca_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct visit_ctx v = {(void *)cb, ctx};
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_ENROLL_CA_LIST, &s)) != FSEC_OK)
		return rc;
	return each_row(be, s, "listing manufacturer CAs", visit_enroll_ca, &v);
}

static enum fsec_err be_enroll_allow_add(void *p, const char *ca_fp, const char *pattern,
					 const char *model)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_ENROLL_ALLOW_ADD, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, ca_fp, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, pattern, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
	return run(be, s, "allowing serials");
}

static int visit_pattern(sqlite3_stmt *s, void *arg)
{
	struct visit_ctx *v = arg;
	const unsigned char *t = sqlite3_column_text(s, 0), *m = sqlite3_column_text(s, 1);

	return ((fsec_enroll_pattern_cb)v->cb)(t != NULL ? (const char *)t : "",
					       m != NULL ? (const char *)m : "", v->ctx);
}

static enum fsec_err be_enroll_allow_list(void *p, const char *ca_fp, fsec_enroll_pattern_cb cb,
					  void *ctx)
{
	struct sqlite_be *be = p;
	struct visit_ctx v = {(void *)cb, ctx};
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_ENROLL_ALLOW_LIST, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, ca_fp, -1, SQLITE_STATIC);
	return each_row(be, s, "listing allowed serials", visit_pattern, &v);
}

static enum fsec_err be_bootstrap_spend(void *p, const char *fp, const char *use,
					const char *device_id, int64_t at)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_BOOTSTRAP_SPEND, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, fp, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, use, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, at);
	return run(be, s, "spending a bootstrap credential");
}

static enum fsec_err be_bootstrap_spent(void *p, const char *fp, const char *use,
					 char device_id[FSEC_DEVID_MAX + 1])
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = stmt(be, ST_BOOTSTRAP_SPENT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, fp, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, use, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		text(s, 0, device_id, FSEC_DEVID_MAX + 1);
	else if (r == SQLITE_DONE)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "bootstrap credential not spent");
	else
		rc = db_err(be, r, "reading a spent bootstrap credential");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static enum fsec_err be_pending_put(void *p, const struct fsec_enroll_pending_rec *rec)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_PENDING_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, rec->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rec->bootstrap_fp, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, rec->spki_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, rec->model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, rec->requested_at != 0 ? rec->requested_at : (int64_t)time(NULL));
	return run(be, s, "recording a pending enrollment");
}

static void read_pending(sqlite3_stmt *s, struct fsec_enroll_pending_rec *r)
{
	memset(r, 0, sizeof(*r));
	text(s, 0, r->device_id, sizeof(r->device_id));
	text(s, 1, r->bootstrap_fp, sizeof(r->bootstrap_fp));
	text(s, 2, r->spki_sha256, sizeof(r->spki_sha256));
	text(s, 3, r->model, sizeof(r->model));
	r->requested_at = sqlite3_column_int64(s, 4);
	r->approved_at = sqlite3_column_int64(s, 5);
	text(s, 6, r->approved_by, sizeof(r->approved_by));
}

static enum fsec_err be_pending_get(void *p, const char *id, struct fsec_enroll_pending_rec *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = stmt(be, ST_PENDING_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		read_pending(s, out);
	else if (r == SQLITE_DONE)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no enrollment request from %s", id);
	else
		rc = db_err(be, r, "reading a pending enrollment");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static enum fsec_err be_pending_approve(void *p, const char *id, const char *key_prefix,
					 const char *by, int64_t at)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_PENDING_APPROVE, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, at);
	sqlite3_bind_text(s, 4, key_prefix, -1, SQLITE_STATIC);
	if ((rc = run(be, s, "approving an enrollment")) == FSEC_OK && sqlite3_changes(be->db) == 0)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND,
				 "no enrollment request from %s is waiting with key %.16s...", id,
				 key_prefix);
	return rc;
}

static enum fsec_err be_pending_delete(void *p, const char *id)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_PENDING_DELETE, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	return run(be, s, "forgetting a pending enrollment");
}

static int visit_pending(sqlite3_stmt *s, void *arg)
{
	struct visit_ctx *v = arg;
	struct fsec_enroll_pending_rec r;

	read_pending(s, &r);
	return ((fsec_enroll_pending_cb)v->cb)(&r, v->ctx);
}

static enum fsec_err be_pending_list(void *p, fsec_enroll_pending_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct visit_ctx v = {(void *)cb, ctx};
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_PENDING_LIST, &s)) != FSEC_OK)
		return rc;
	return each_row(be, s, "listing pending enrollments", visit_pending, &v);
}

static void be_busy_timeout(void *p, int ms)
{
	struct sqlite_be *be = p;

	sqlite3_busy_timeout(be->db, ms);
}

static enum fsec_err be_data_version(void *p, uint64_t *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = stmt(be, ST_DATA_VERSION, &s)) != FSEC_OK)
		return rc;
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(s, 0);
	else
		rc = db_err(be, r, "reading the data version");
	sqlite3_reset(s);
	return rc;
}

static enum fsec_err be_publish_put(void *p, const struct fsec_published_rec *rec,
				    const char *bundle)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_PUBLISH_PUT, &s)) != FSEC_OK)
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
	return run(be, s, "publishing a release");
}

/* Columns as ST_PUBLISH_GET and ST_PUBLISH_LIST select them. */
static void read_published(sqlite3_stmt *s, struct fsec_published_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	text(s, 0, rec->model, sizeof(rec->model));
	text(s, 1, rec->sha256, sizeof(rec->sha256));
	text(s, 2, rec->version, sizeof(rec->version));
	rec->security_counter = (uint32_t)sqlite3_column_int64(s, 3);
	rec->size = (uint64_t)sqlite3_column_int64(s, 4);
	rec->percent = sqlite3_column_int(s, 5);
	rec->published_at = sqlite3_column_int64(s, 6);
	rec->max_failures = sqlite3_column_int(s, 8);
	rec->max_failures_pct = sqlite3_column_int(s, 9);
	text(s, 10, rec->group, sizeof(rec->group));
}

static int visit_published(sqlite3_stmt *s, void *arg)
{
	struct visit_ctx *v = arg;
	struct fsec_published_rec rec;

	read_published(s, &rec);
	return ((fsec_published_cb)v->cb)(&rec, v->ctx);
}

static enum fsec_err be_publish_list(void *p, fsec_published_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct visit_ctx v = {(void *)cb, ctx};
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = stmt(be, ST_PUBLISH_LIST, &s)) != FSEC_OK)
		return rc;
	return each_row(be, s, "listing published releases", visit_published, &v);
}

static enum fsec_err be_publish_get(void *p, const char *model, struct fsec_published_rec *rec,
				    char **bundle)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = stmt(be, ST_PUBLISH_GET, &s)) != FSEC_OK)
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
		rc = db_err(be, r, "reading a published release");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

/* Defined at the end of the file. */
static enum fsec_err be_bootstrap_list(void *p, fsec_bootstrap_cb cb, void *ctx);
static enum fsec_err be_check(void *p, fsec_problem_cb cb, void *ctx);

const struct fsec_registry_ops fsec_registry_sqlite_ops = {
	.scheme = "sqlite",
	.open = be_open,
	.close = be_close,
	.begin = be_begin,
	.commit = be_commit,
	.rollback = be_rollback,
	.device_get = be_device_get,
	.device_put = be_device_put,
	.device_list = be_device_list,
	.cert_add = be_cert_add,
	.cert_list = be_cert_list,
	.cert_pem = be_cert_pem,
	.cert_revoke = be_cert_revoke,
	.event_add = be_event_add,
	.event_list = be_event_list,
	.counter_next = be_counter_next,
	.device_net_set = be_device_net_set,
	.device_net_list = be_device_net_list,
	.product_get = be_product_get,
	.product_put = be_product_put,
	.product_list = be_product_list,
	.devstate_get = be_devstate_get,
	.devstate_put = be_devstate_put,
	.devstate_list = be_devstate_list,
	.device_state_list = be_device_state_list,
	.enroll_ca_add = be_enroll_ca_add,
	.enroll_ca_list = be_enroll_ca_list,
	.enroll_allow_add = be_enroll_allow_add,
	.enroll_allow_list = be_enroll_allow_list,
	.bootstrap_spend = be_bootstrap_spend,
	.bootstrap_spent = be_bootstrap_spent,
	.data_version = be_data_version,
	.busy_timeout = be_busy_timeout,
	.pending_put = be_pending_put,
	.pending_get = be_pending_get,
	.pending_approve = be_pending_approve,
	.pending_delete = be_pending_delete,
	.pending_list = be_pending_list,
	.publish_put = be_publish_put,
	.publish_get = be_publish_get,
	.publish_list = be_publish_list,
	.group_set = be_group_set,
	.group_get = be_group_get,
	.model_stats = be_model_stats,
	.model_counters = be_model_counters,
	.bootstrap_list = be_bootstrap_list,
	.check = be_check,
};

/* Prepare one statement for a rare, read-only listing (not cached). */
static enum fsec_err prepare_once(struct sqlite_be *be, const char *sql, sqlite3_stmt **out)
{
	int r = sqlite3_prepare_v2(be->db, sql, -1, out, NULL);

	return r == SQLITE_OK ? FSEC_OK : db_err(be, r, "preparing a registry query");
}

struct bootstrap_visit {
	fsec_bootstrap_cb cb;
	void *ctx;
};

static int visit_bootstrap(sqlite3_stmt *s, void *arg)
{
	struct bootstrap_visit *v = arg;
	struct fsec_bootstrap_rec b;

	memset(&b, 0, sizeof(b));
	text(s, 0, b.fingerprint, sizeof(b.fingerprint));
	text(s, 1, b.use, sizeof(b.use));
	text(s, 2, b.device_id, sizeof(b.device_id));
	b.at = sqlite3_column_int64(s, 3);
	return v->cb(&b, v->ctx);
}

static enum fsec_err be_bootstrap_list(void *p, fsec_bootstrap_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct bootstrap_visit v = {cb, ctx};
	sqlite3_stmt *s = NULL;
	enum fsec_err rc;

	if ((rc = prepare_once(be, "SELECT fingerprint, use, device_id, at FROM bootstrap_spent"
				   " ORDER BY at, device_id, use",
			       &s)) != FSEC_OK)
		return rc;
	rc = each_row(be, s, "listing spent bootstrap credentials", visit_bootstrap, &v);
	sqlite3_finalize(s);
	return rc;
}

struct check_visit {
	fsec_problem_cb cb;
	void *ctx;
	bool stopped;
};

/* integrity_check says "ok" alone when it finds nothing. */
static int visit_integrity(sqlite3_stmt *s, void *arg)
{
	struct check_visit *v = arg;
	const unsigned char *t = sqlite3_column_text(s, 0);
	char line[FSEC_DETAIL_MAX + 1];

	if (t != NULL && strcmp((const char *)t, "ok") == 0)
		return 0;
	snprintf(line, sizeof(line), "integrity: %s", t != NULL ? (const char *)t : "?");
	return v->stopped = v->cb(line, v->ctx) != 0;
}

static int visit_foreign_key(sqlite3_stmt *s, void *arg)
{
	struct check_visit *v = arg;
	char table[64], parent[64], line[FSEC_DETAIL_MAX + 1];

	text(s, 0, table, sizeof(table));
	text(s, 2, parent, sizeof(parent));
	snprintf(line, sizeof(line), "foreign key: %s row %lld refers to a missing %s row", table,
		 (long long)sqlite3_column_int64(s, 1), parent);
	return v->stopped = v->cb(line, v->ctx) != 0;
}

/* SQLite's own checks: the file's structure (integrity_check) and rows that
 * point at rows that are not there (foreign_key_check). */
static enum fsec_err be_check(void *p, fsec_problem_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct check_visit v = {cb, ctx, false};
	sqlite3_stmt *s = NULL;
	enum fsec_err rc;

	if ((rc = prepare_once(be, "PRAGMA integrity_check", &s)) != FSEC_OK)
		return rc;
	rc = each_row(be, s, "checking the registry's integrity", visit_integrity, &v);
	sqlite3_finalize(s);
	s = NULL;
	if (rc != FSEC_OK || v.stopped)
		return rc;
	if ((rc = prepare_once(be, "PRAGMA foreign_key_check", &s)) != FSEC_OK)
		return rc;
	rc = each_row(be, s, "checking the registry's foreign keys", visit_foreign_key, &v);
	sqlite3_finalize(s);
	return rc;
}
