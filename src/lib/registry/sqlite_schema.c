/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite registry's schema and statements: the migrations that take
 * a registry from one version to the next, and the SQL of every prepared
 * statement the record families run.
 */

#include <stdio.h>

#include "err_int.h"
#include "sqlite_int.h"
#include "registry_cols.h"

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

/* v9 (issue 14): refused requests aggregated per (credential, reason class)
 * instead of one event each, and the operator's one-time allowances of an
 * early renewal. */
static const char schema_v9_bounds[] =
	"CREATE TABLE refusals(credential TEXT NOT NULL, reason TEXT NOT NULL,"
	" device_id TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
	" source TEXT NOT NULL DEFAULT '', count INTEGER NOT NULL CHECK(count > 0),"
	" first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,"
	" PRIMARY KEY(credential, reason)) STRICT;"
	"CREATE INDEX refusals_last ON refusals(last_at);"
	"CREATE TABLE renew_allow("
	" device_id TEXT PRIMARY KEY REFERENCES devices(id) DEFERRABLE INITIALLY DEFERRED,"
	" granted_by TEXT NOT NULL, granted_at INTEGER NOT NULL) STRICT;";
/* v10 (issue 14, freeze by silence): each model's signed "nothing new"
 * statement, served where nothing else is, and whether each device last
 * reported itself frozen, with when it last saw a fresh signed statement. */
static const char schema_v10_freshness[] =
	"CREATE TABLE timestamps(model TEXT PRIMARY KEY, latest INTEGER NOT NULL,"
	" issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, bundle TEXT NOT NULL) STRICT;"
	"ALTER TABLE device_state ADD COLUMN frozen INTEGER NOT NULL DEFAULT -1"
	" CHECK(frozen IN (-1, 0, 1));"
	"ALTER TABLE device_state ADD COLUMN fresh_at INTEGER NOT NULL DEFAULT 0;";

/* v11 (issue 14, a stolen server key): every server certificate the fleet
 * issued, so that one can be revoked and listed on the CRL. Like device
 * certificates, they are never deleted. */
static const char schema_v11_server_certs[] =
	"CREATE TABLE server_certs(serial TEXT PRIMARY KEY, name TEXT NOT NULL,"
	" fingerprint TEXT NOT NULL UNIQUE, not_before INTEGER NOT NULL,"
	" not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL,"
	" revoked_at INTEGER, reason INTEGER) STRICT;"
	"CREATE TRIGGER server_certs_no_delete BEFORE DELETE ON server_certs"
	" BEGIN SELECT RAISE(ABORT, 'issued certificates are never deleted'); END;";

/* v12 (issue 13): what a device's update is doing now (the state it last
 * reported and the version waiting for its trial boot), and which image
 * its last outcome was about, so that an outcome counts against that
 * release only. '' where an older agent said nothing. */
static const char schema_v12_update_state[] =
	"ALTER TABLE device_state ADD COLUMN update_state TEXT NOT NULL DEFAULT ''"
	" CHECK(update_state IN ('','downloading','installed','trial','confirmed',"
	"'rolled_back','failed'));"
	"ALTER TABLE device_state ADD COLUMN pending_version TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE device_state ADD COLUMN outcome_image TEXT NOT NULL DEFAULT '';";

/* v13 (issue 12, issuing CA rotation): which issuing CA signed each
 * certificate (the SHA-256 fingerprint of its certificate), so that each
 * CA's CRL lists its own. '' for a certificate recorded before, or
 * imported: such a revocation goes on every issuing CA's CRL. */
static const char schema_v13_issuer[] =
	"ALTER TABLE certificates ADD COLUMN issuer TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE server_certs ADD COLUMN issuer TEXT NOT NULL DEFAULT '';";

/* v14 (issue 13, rollouts): a model's baseline (the last release every
 * device was offered) beside its published candidate, which may now be
 * rolled out in phases (comma-separated "P%" or group names; phase is the
 * index in effect since phase_at), advance on its own (advance_after
 * seconds in a phase and success_pct of the phase's devices confirmed),
 * and be paused, resumed or aborted by the operator. forgiven is the
 * failure count at the last resume: the history is kept, the limit counts
 * from there. */
static const char schema_v14_rollouts[] =
	"CREATE TABLE baselines(model TEXT PRIMARY KEY, sha256 TEXT NOT NULL,"
	" version TEXT NOT NULL, security_counter INTEGER NOT NULL, size INTEGER NOT NULL,"
	" bundle TEXT NOT NULL, published_at INTEGER NOT NULL) STRICT;"
	"ALTER TABLE published ADD COLUMN state TEXT NOT NULL DEFAULT 'active'"
	" CHECK(state IN ('active','paused','aborted'));"
	"ALTER TABLE published ADD COLUMN phases TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE published ADD COLUMN phase INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE published ADD COLUMN phase_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE published ADD COLUMN advance_after INTEGER NOT NULL DEFAULT -1;"
	"ALTER TABLE published ADD COLUMN success_pct INTEGER NOT NULL DEFAULT -1;"
	"ALTER TABLE published ADD COLUMN forgiven INTEGER NOT NULL DEFAULT 0;"
	/* The candidate image each device was last served: a device that saw
	 * its manifest refuses the baseline's older one from then on. */
	"CREATE TABLE rollout_served(device_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL,"
	" at INTEGER NOT NULL) STRICT;"
	/* Why the device's last outcome failed, as it said (release status). */
	"ALTER TABLE device_state ADD COLUMN outcome_reason TEXT NOT NULL DEFAULT '';";

/* v15 (issue 13, batch revocation): which manufacturer CA vouched for each
 * bootstrap credential spent (the SHA-256 fingerprint of its certificate),
 * so that `device revoke --manufacturer-ca` finds the devices it enrolled.
 * '' for one spent before: such a device is not found that way. */
static const char schema_v15_spent_ca[] =
	"ALTER TABLE bootstrap_spent ADD COLUMN ca_fingerprint TEXT NOT NULL DEFAULT '';"
	"CREATE INDEX bootstrap_spent_ca ON bootstrap_spent(ca_fingerprint)"
	" WHERE ca_fingerprint != '';";

/* v16 (issue 13, tamper reaches the fleet): each device's last tamper
 * report, with the signed envelope kept as evidence and the certificate it
 * came through, so that the mark ends when that certificate stops being the
 * device's (revoked, or re-provisioned with a new one). (The 14th step on
 * this branch; other v14/v15 steps land before it on merge.) */
static const char schema_v16_tamper[] =
	"CREATE TABLE device_tamper("
	" device_id TEXT PRIMARY KEY REFERENCES devices(id) DEFERRABLE INITIALLY DEFERRED,"
	" at INTEGER NOT NULL, received_at INTEGER NOT NULL, reason TEXT NOT NULL,"
	" serial TEXT NOT NULL, envelope TEXT NOT NULL) STRICT;";

/* v17 (issue 13, rollouts at scale): a report no longer evaluates its
 * rollout; fleetsecd does, on a timer, and keeps each model's last
 * evaluation (the image it was about, when, how many devices and failures
 * it counted) for GET /v1/update to read instead of counting again, and
 * for the timer to space a large model's evaluations. The index serves the
 * per-model count and listing (model and status by equality, in ID order)
 * without visiting other models' rows, and the failed devices' index names
 * a release's failures without reading every state. A refusal row's mark is bumped on
 * every repeat, so `fleetsec events --follow` finds the rows that changed
 * since its last look. */
static const char schema_v17_rollout_eval[] =
	"CREATE INDEX devices_model_status ON devices(model, status, id);"
	"CREATE TABLE rollout_eval(model TEXT PRIMARY KEY, sha256 TEXT NOT NULL,"
	" at INTEGER NOT NULL, devices INTEGER NOT NULL, failures INTEGER NOT NULL) STRICT;"
	"ALTER TABLE refusals ADD COLUMN mark INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX refusals_mark ON refusals(mark);"
	/* The devices that failed an image, for release status to name
	 * without a pass over every state (ST_MODEL_FAILED_LIST). */
	"CREATE INDEX device_state_failed ON device_state(outcome_image, device_id)"
	" WHERE update_state IN ('failed','rolled_back')"
	" OR (update_state = '' AND update_outcome = 'failure');";

/* v18 (issue 18, pairing without TOFU): single-use pairings of a device
 * key, kept as the key's hash only, with who paired it, when, and until
 * when it may be used. */
static const char schema_v18_pairings[] =
	"CREATE TABLE pairings(key_sha256 TEXT PRIMARY KEY, device_id TEXT NOT NULL,"
	" model TEXT NOT NULL DEFAULT '', grp TEXT NOT NULL DEFAULT '',"
	" paired_by TEXT NOT NULL, paired_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
	" used_at INTEGER) STRICT;"
	"CREATE INDEX pairings_device ON pairings(device_id);";

/* v19 (issue 15, MQTT roles): the fleet's service certificates also hold
 * its backend and operator client certificates, marked by their role ('':
 * fleetsecd's TLS server certificate), so that one table, one revocation
 * and one CRL serve both. */
static const char schema_v19_client_roles[] =
	"ALTER TABLE server_certs ADD COLUMN role TEXT NOT NULL DEFAULT '';";

/* v20 (issue 19, per-device firmware key delivery): each device's
 * firmware encryption key, a second key beside its TLS key. */
static const char schema_v20_enc_keys[] =
	"CREATE TABLE device_enc_keys(device_id TEXT PRIMARY KEY"
	" REFERENCES devices(id) DEFERRABLE INITIALLY DEFERRED,"
	" pem TEXT NOT NULL, enrolled_at INTEGER NOT NULL) STRICT;";

static const char *const migrations[] = {
	schema_v1,	 schema_v2_enroll,  schema_v3_published,  schema_v4_pending,
	schema_v5_audit, schema_v6_rollout, schema_v7_device_net, schema_v8_debug,
	schema_v9_bounds, schema_v10_freshness, schema_v11_server_certs, schema_v12_update_state,
	schema_v13_issuer, schema_v14_rollouts, schema_v15_spent_ca, schema_v16_tamper,
	schema_v17_rollout_eval, schema_v18_pairings, schema_v19_client_roles, schema_v20_enc_keys,
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define CERT_COLS                                                                           \
	"serial, device_id, fingerprint, spki_sha256, not_before, not_after, issued_at, "      \
	"revoked_at IS NOT NULL, ifnull(revoked_at,0), ifnull(reason,0), issuer"

/* A tamper report marks the device while the certificate it came through is
 * still the device's, and the device active: a revocation or a new
 * certificate (re-provisioning) ends it. Over the alias d (devices). */
#define TAMPERED_SQL                                                                        \
	"(d.status = 'active' AND EXISTS (SELECT 1 FROM device_tamper t"                     \
	" WHERE t.device_id = d.id AND t.serial = d.serial))"
#define TAMPER_COLS                                                                         \
	"t.device_id, t.at, t.received_at, t.reason, t.serial,"                             \
	" (d.status = 'active' AND d.serial = t.serial)"

const char *const sq_stmt_sql[ST_CERT_LIST] = {
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
			" not_before, not_after, issued_at, pem, issuer)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_CERT_PEM] = "SELECT pem FROM certificates WHERE serial = ?1",
	[ST_CURRENT_PEM_LIST] = "SELECT d.id, c.pem FROM devices d JOIN certificates c"
				" ON c.serial = d.serial WHERE d.status = 'active' ORDER BY d.id",
	[ST_CERT_REVOKE] = "UPDATE certificates SET revoked_at = ?2, reason = ?3"
			   " WHERE serial = ?1 AND revoked_at IS NULL",
	[ST_EVENT_ADD] = "INSERT INTO events(at, actor, action, device_id, detail)"
			 " VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_EVENT_LIST] = "SELECT seq, at, actor, action, ifnull(device_id,''), detail FROM events"
			  " WHERE ?1 IS NULL OR device_id = ?1 ORDER BY seq",
	/* ?2 is a floor: the value returned is above both the stored one
	 * and the floor. */
	[ST_COUNTER_NEXT] = "INSERT INTO meta(name, value) VALUES (?1, max(?2, 0) + 1)"
			    " ON CONFLICT(name) DO UPDATE SET value = max(value, ?2) + 1"
			    " RETURNING value",
	[ST_PRODUCT_GET] = "SELECT " PRODUCT_COLS " FROM products WHERE model = ?1",
	[ST_PRODUCT_PUT] = "INSERT OR REPLACE INTO products(" PRODUCT_COLS ")"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_PRODUCT_LIST] = "SELECT " PRODUCT_COLS " FROM products ORDER BY model",
	[ST_STATE_GET] = "SELECT " STATE_COLS " FROM device_state WHERE device_id = ?1",
	[ST_STATE_PUT] = "INSERT OR REPLACE INTO device_state(" STATE_COLS ")"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
			 " ?16, ?17)",
	[ST_STATE_LIST] = "SELECT " STATE_COLS " FROM device_state ORDER BY device_id",
	/* Columns 0-10 are a device (sq_read_device), 11-27 its state; the
	 * state's device_id is NULL when the device never reported. */
	[ST_DEVICE_STATE_LIST] = "SELECT " DEVICE_STATE_COLS
				 " FROM devices LEFT JOIN device_state s ON s.device_id = devices.id"
				 " ORDER BY devices.id",
	/* As ST_DEVICE_STATE_LIST for one model's active devices (?1), with
	 * each one's group (column 28): devices_model_status gives them in ID
	 * order without reading other models' rows. */
	[ST_MODEL_STATE_LIST] = "SELECT " DEVICE_STATE_COLS ", ifnull(g.grp,'')"
				" FROM devices"
				" LEFT JOIN device_state s ON s.device_id = devices.id"
				" LEFT JOIN device_groups g ON g.device_id = devices.id"
				" WHERE devices.model = ?1 AND devices.status = 'active'"
				" ORDER BY devices.id",
	/* A rollout's tally in one grouped query (fsec_registry_model_tally):
	 * the model's active devices by bucket, group, what their last report
	 * says about the release (?2 its version, ?3 its image; the rules of
	 * fsec_rollout_tally: an outcome about the image, or a state about the
	 * version), and whether ST_MODEL_STATS counts it as a failure. */
	[ST_MODEL_TALLY] = "SELECT fsec_bucket(d.id), ifnull(g.grp,''),"
			   " CASE WHEN s.outcome_image = ?3 AND (s.update_state IN ('failed','rolled_back')"
			   "  OR (s.update_state = '' AND s.update_outcome = 'failure'))"
			   "  THEN CASE WHEN s.update_state = 'rolled_back' THEN 6 ELSE 5 END"
			   " WHEN s.pending_version = ?2 AND s.update_state = 'downloading' THEN 1"
			   " WHEN s.pending_version = ?2 AND s.update_state = 'installed' THEN 2"
			   " WHEN s.fw_version = ?2 AND s.update_state = 'trial' THEN 3"
			   " WHEN s.fw_version = ?2 AND (s.update_state = 'confirmed'"
			   "  OR s.update_outcome = 'success') THEN 4"
			   " ELSE 0 END, count(*),"
			   /* ST_MODEL_STATS's failure rule, ?4 the publication time. */
			   " ifnull(s.update_outcome = 'failure' AND (s.outcome_image = ?3"
			   "  OR (s.outcome_image = '' AND s.update_at >= CAST(?4 AS INTEGER))), 0)"
			   " FROM devices d LEFT JOIN device_state s ON s.device_id = d.id"
			   " LEFT JOIN device_groups g ON g.device_id = d.id"
			   " WHERE d.model = ?1 AND d.status = 'active' GROUP BY 1, 2, 3, 5",
	/* The devices of ST_MODEL_STATE_LIST whose last outcome about image
	 * ?2 failed (release status names them). */
	[ST_MODEL_FAILED_LIST] = "SELECT " DEVICE_STATE_COLS ", ifnull(g.grp,'')"
				 /* CROSS JOIN keeps the failed states outer: the
				  * other order visits every device of the model. */
				 " FROM device_state s INDEXED BY device_state_failed"
				 " CROSS JOIN devices ON devices.id = s.device_id"
				 " LEFT JOIN device_groups g ON g.device_id = devices.id"
				 " WHERE s.outcome_image = ?2 AND (s.update_state IN ('failed','rolled_back')"
				 " OR (s.update_state = '' AND s.update_outcome = 'failure'))"
				 " AND devices.model = ?1 AND devices.status = 'active'"
				 " ORDER BY s.device_id",
	[ST_EVAL_GET] = "SELECT sha256, at, devices, failures FROM rollout_eval WHERE model = ?1",
	[ST_EVAL_PUT] = "INSERT OR REPLACE INTO rollout_eval(model, sha256, at, devices, failures)"
			" VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_DEVICE_NET_LIST] = "SELECT d.id, d.model, d.status, ifnull(n.mac,''), ifnull(n.ip,''),"
			       " " TAMPERED_SQL
			       " FROM devices d JOIN device_net n ON n.device_id = d.id ORDER BY d.id",
	[ST_DEVICE_NET_ONE] = "SELECT d.id, d.model, d.status, ifnull(n.mac,''), ifnull(n.ip,''),"
			      " " TAMPERED_SQL
			      " FROM devices d JOIN device_net n ON n.device_id = d.id WHERE d.id = ?1",
	[ST_ENC_KEY_PUT] = "INSERT INTO device_enc_keys(device_id, pem, enrolled_at)"
			   " VALUES (?1, ?2, ?3) ON CONFLICT(device_id) DO UPDATE SET"
			   " pem = excluded.pem, enrolled_at = excluded.enrolled_at",
	[ST_ENC_KEY_GET] = "SELECT pem FROM device_enc_keys WHERE device_id = ?1",
	[ST_TAMPER_PUT] = "INSERT INTO device_tamper(device_id, at, received_at, reason, serial,"
			  " envelope) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(device_id) DO UPDATE"
			  " SET at = excluded.at, received_at = excluded.received_at,"
			  " reason = excluded.reason, serial = excluded.serial,"
			  " envelope = excluded.envelope",
	[ST_TAMPER_GET] = "SELECT " TAMPER_COLS " FROM device_tamper t"
			  " JOIN devices d ON d.id = t.device_id WHERE t.device_id = ?1",
	[ST_TAMPER_LIST] = "SELECT " TAMPER_COLS " FROM device_tamper t"
			   " JOIN devices d ON d.id = t.device_id ORDER BY t.device_id",
	[ST_EVENT_LIST_AFTER] = "SELECT seq, at, actor, action, ifnull(device_id,''), detail FROM events"
				" WHERE seq > CAST(?1 AS INTEGER) ORDER BY seq",
	[ST_ENROLL_CA_ADD] = "INSERT INTO enroll_cas(fingerprint, subject, pem, added_at)"
			     " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(fingerprint) DO NOTHING",
	[ST_ENROLL_CA_LIST] = "SELECT fingerprint, subject, added_at, pem FROM enroll_cas"
			      " ORDER BY added_at, fingerprint",
	/* An existing pattern changes model only when ?5 (replace) says so. */
	[ST_ENROLL_ALLOW_ADD] = "INSERT INTO enroll_allow(ca_fingerprint, pattern, model, added_at)"
				" VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET model = excluded.model"
				" WHERE ?5",
	[ST_ENROLL_ALLOW_MODEL] = "SELECT model FROM enroll_allow WHERE ca_fingerprint = ?1"
				  " AND pattern = ?2",
	[ST_ENROLL_ALLOW_DELETE] = "DELETE FROM enroll_allow WHERE ca_fingerprint = ?1"
				   " AND (?2 IS NULL OR pattern = ?2)",
	[ST_ENROLL_CA_DELETE] = "DELETE FROM enroll_cas WHERE fingerprint = ?1",
	[ST_ENROLL_ALLOW_LIST] = "SELECT pattern, model FROM enroll_allow WHERE ca_fingerprint = ?1"
				 " ORDER BY pattern",
	[ST_BOOTSTRAP_SPEND] = "INSERT INTO bootstrap_spent(fingerprint, use, device_id, at,"
			       " ca_fingerprint) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_BOOTSTRAP_SPENT] = "SELECT device_id FROM bootstrap_spent WHERE fingerprint = ?1"
			       " AND use = ?2",
	[ST_BOOTSTRAP_LIST] = "SELECT fingerprint, use, device_id, at FROM bootstrap_spent"
			      " ORDER BY at, device_id, use",
	[ST_DATA_VERSION] = "PRAGMA data_version",
	/* Every add takes the next mark (refusals_mark keeps max() cheap), so
	 * a follower finds the rows that grew since its last look. */
	[ST_REFUSAL_ADD] = "INSERT INTO refusals(credential, reason, device_id, detail, source,"
			   " count, first_at, last_at, mark) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
			   " (SELECT ifnull(max(mark), 0) + 1 FROM refusals))"
			   " ON CONFLICT(credential, reason) DO UPDATE SET"
			   /* Saturates: the caller adds at most 2^32 at a time. */
			   " count = CASE WHEN count > 9223372036854775807 - excluded.count"
			   " THEN 9223372036854775807 ELSE count + excluded.count END,"
			   " last_at = max(last_at, excluded.last_at), detail = excluded.detail,"
			   " source = excluded.source, device_id = excluded.device_id,"
			   " mark = excluded.mark"
			   /* A new row holds exactly the count added. */
			   " RETURNING count = ?6",
	[ST_REFUSAL_LIST] = "SELECT credential, reason, device_id, detail, source, count,"
			    " first_at, last_at, mark FROM refusals WHERE ?1 IS NULL OR device_id = ?1"
			    " ORDER BY last_at DESC, credential, reason",
	[ST_REFUSAL_CHANGED] = "SELECT credential, reason, device_id, detail, source, count,"
			       " first_at, last_at, mark FROM refusals"
			       " WHERE mark > CAST(?1 AS INTEGER) ORDER BY mark",
	[ST_RENEW_ALLOW_PUT] = "INSERT INTO renew_allow(device_id, granted_by, granted_at)"
			       " VALUES (?1, ?2, ?3) ON CONFLICT(device_id) DO UPDATE SET"
			       " granted_by = excluded.granted_by, granted_at = excluded.granted_at",
	[ST_RENEW_ALLOW_GET] = "SELECT granted_by FROM renew_allow WHERE device_id = ?1",
	[ST_RENEW_ALLOW_TAKE] = "DELETE FROM renew_allow WHERE device_id = ?1",
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
			   " max_failures_pct, grp, state, phases, phase, phase_at, advance_after,"
			   " success_pct, forgiven)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
			   " ?16, ?17, ?18)",
	[ST_PUBLISH_GET] = "SELECT model, sha256, version, security_counter, size, percent,"
			   " published_at, bundle, max_failures, max_failures_pct, grp, " PUB_ROLLOUT_COLS
			   " FROM published WHERE model = ?1",
	[ST_SERVED_GET] = "SELECT sha256, at FROM rollout_served WHERE device_id = ?1",
	[ST_SERVED_PUT] = "INSERT INTO rollout_served(device_id, sha256, at) VALUES (?1, ?2, ?3)"
			  " ON CONFLICT(device_id) DO UPDATE SET sha256 = excluded.sha256,"
			  " at = excluded.at",
	/* A baseline reads as a release for everyone with no rollout of its own. */
	[ST_BASELINE_GET] = "SELECT model, sha256, version, security_counter, size, 100,"
			    " published_at, bundle, -1, -1, '', 'active', '', 0, published_at, -1,"
			    " -1, 0 FROM baselines WHERE model = ?1",
	[ST_BASELINE_PUT] = "INSERT OR REPLACE INTO baselines(model, sha256, version,"
			    " security_counter, size, bundle, published_at)"
			    " SELECT model, sha256, version, security_counter, size, bundle,"
			    " published_at FROM published WHERE model = ?1",
	[ST_BASELINE_BUNDLE_PUT] = "UPDATE baselines SET bundle = ?3 WHERE model = ?1 AND sha256 = ?2",
	[ST_TIMESTAMP_PUT] = "INSERT OR REPLACE INTO timestamps(model, latest, issued_at,"
			     " expires_at, bundle) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_TIMESTAMP_GET] = "SELECT model, latest, issued_at, expires_at, bundle FROM timestamps"
			     " WHERE model = ?1",
	[ST_GROUP_SET] = "INSERT INTO device_groups(device_id, grp) SELECT id, ?2 FROM devices"
			 " WHERE id = ?1 ON CONFLICT(device_id) DO UPDATE SET grp = excluded.grp",
	[ST_GROUP_CLEAR] = "DELETE FROM device_groups WHERE device_id = ?1",
	[ST_GROUP_GET] = "SELECT grp FROM device_groups WHERE device_id = ?1",
	[ST_PUBLISH_LIST] = "SELECT model, sha256, version, security_counter, size, percent,"
			    " published_at, '', max_failures, max_failures_pct, grp, " PUB_ROLLOUT_COLS
			    " FROM published"
			    " ORDER BY model",
	/* An outcome counts against the release whose image it names (?5);
	 * one that names none (an agent older than v12) by its date. */
	[ST_MODEL_STATS] = "SELECT count(*), count(s.device_id),"
			   " count(*) FILTER (WHERE s.update_outcome = 'failure' AND (s.outcome_image = ?5"
			   "  OR (s.outcome_image = '' AND s.update_at >= ?2))),"
			   " count(*) FILTER (WHERE s.update_outcome = 'success' AND (s.outcome_image = ?5"
			   "  OR (s.outcome_image = '' AND s.update_at >= ?2))),"
			   " count(*) FILTER (WHERE s.security_counter >= ?3)"
			   " FROM devices d LEFT JOIN device_state s ON s.device_id = d.id"
			   " WHERE d.model = ?1 AND d.status = 'active' AND (?4 = '' OR EXISTS"
			   " (SELECT 1 FROM device_groups g WHERE g.device_id = d.id AND g.grp = ?4))",
	[ST_SERVER_CERT_ADD] = "INSERT INTO server_certs(serial, name, fingerprint, not_before,"
			       " not_after, issued_at, issuer, role)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_SERVER_CERT_LIST] = "SELECT serial, name, fingerprint, not_before, not_after, issued_at,"
				" revoked_at IS NOT NULL, ifnull(revoked_at,0), ifnull(reason,0), issuer, role"
				" FROM server_certs WHERE not_after > ?1"
				" AND (?2 = 0 OR revoked_at IS NOT NULL) ORDER BY issued_at, rowid",
	[ST_SERVER_CERT_REVOKE] = "UPDATE server_certs SET revoked_at = ?2, reason = ?3"
				  " WHERE serial = ?1 AND revoked_at IS NULL",
#define PAIRING_COLS \
	"key_sha256, device_id, model, grp, paired_by, paired_at, expires_at, ifnull(used_at, 0)"
	/* A key paired before is paired again only over a pairing that
	 * expired unused (?6 is now). */
	[ST_PAIRING_PUT] = "INSERT INTO pairings(key_sha256, device_id, model, grp, paired_by,"
			   " paired_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
			   " ON CONFLICT(key_sha256) DO UPDATE SET device_id = excluded.device_id,"
			   " model = excluded.model, grp = excluded.grp,"
			   " paired_by = excluded.paired_by, paired_at = excluded.paired_at,"
			   " expires_at = excluded.expires_at"
			   " WHERE pairings.used_at IS NULL AND pairings.expires_at <= excluded.paired_at",
	[ST_PAIRING_GET] = "SELECT " PAIRING_COLS " FROM pairings WHERE key_sha256 = ?1",
	[ST_PAIRING_USED_OF] = "SELECT " PAIRING_COLS " FROM pairings WHERE device_id = ?1"
			       " AND used_at IS NOT NULL ORDER BY used_at DESC LIMIT 1",
	[ST_PAIRING_WAITING_OF] = "SELECT " PAIRING_COLS " FROM pairings WHERE device_id = ?1"
				  " AND used_at IS NULL AND expires_at > ?2 LIMIT 1",
	[ST_PAIRING_SPEND] = "UPDATE pairings SET used_at = ?2 WHERE key_sha256 = ?1"
			     " AND used_at IS NULL AND expires_at > ?2",
	[ST_MODEL_COUNTERS] = "SELECT s.security_counter, count(*) FROM devices d"
			      " JOIN device_state s ON s.device_id = d.id"
			      " WHERE d.model = ?1 AND d.status = 'active'"
			      " GROUP BY s.security_counter ORDER BY s.security_counter",
};

/* The certificate listing for a CERT_BY_* mask; binds are always ?1 device,
 * ?2 SPKI, ?3 expiry bound. */
void sq_cert_list_sql(unsigned mask, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "SELECT " CERT_COLS " FROM certificates WHERE not_after > ?3%s%s%s"
		 " ORDER BY issued_at, rowid",
		 mask & CERT_BY_DEVICE ? " AND device_id = ?1" : "",
		 mask & CERT_BY_SPKI ? " AND spki_sha256 = ?2" : "",
		 mask & CERT_BY_REVOKED ? " AND revoked_at IS NOT NULL" : "");
}

static enum fsec_err schema_version(struct sqlite_be *be, const char *path, int *out)
{
	sqlite3_stmt *st = NULL;
	int r = sqlite3_prepare_v2(be->db, "PRAGMA user_version", -1, &st, NULL);
	enum fsec_err rc = FSEC_OK;

	if (r != SQLITE_OK || (r = sqlite3_step(st)) != SQLITE_ROW)
		rc = sq_err(be, r, path);
	else
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc;
}

/* A read-only reader cannot upgrade: the schema must be this library's. */
enum fsec_err sq_schema_current(struct sqlite_be *be, const char *path)
{
	enum fsec_err rc;
	int v = 0;

	if ((rc = schema_version(be, path, &v)) != FSEC_OK)
		return rc;
	if (v != SCHEMA_VERSION)
		return fsec_seterr(FSEC_ERR_DB,
				   "registry %s has schema version %d; this reader needs %d (open it "
				   "once with this fleetsec's CLI or fleetsecd to upgrade it)",
				   path, v, SCHEMA_VERSION);
	return FSEC_OK;
}

/* Bring the registry to SCHEMA_VERSION. Only a new file starts from 0; an
 * existing one at version 0 is not a registry. The version is read inside
 * the write transaction, so two processes opening an old registry at once
 * upgrade it once. */
enum fsec_err sq_migrate(struct sqlite_be *be, const char *path, bool create)
{
	enum fsec_err rc;
	char sql[40];
	int v = 0;

	if ((rc = schema_version(be, path, &v)) != FSEC_OK)
		return rc;
	if (v == SCHEMA_VERSION)
		return FSEC_OK;
	if ((rc = sq_exec(be, "BEGIN IMMEDIATE")) != FSEC_OK)
		return rc;
	if ((rc = schema_version(be, path, &v)) != FSEC_OK)
		goto out;
	if (v > SCHEMA_VERSION || (v == 0 && !create)) {
		rc = fsec_seterr(FSEC_ERR_DB, "registry %s has schema version %d; this fleetsec knows %d",
				 path, v, SCHEMA_VERSION);
		goto out;
	}
	for (; v < SCHEMA_VERSION; v++)
		if ((rc = sq_exec(be, migrations[v])) != FSEC_OK)
			goto out;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if ((rc = sq_exec(be, sql)) == FSEC_OK)
		rc = sq_exec(be, "COMMIT");
out:
	if (rc != FSEC_OK)
		sqlite3_exec(be->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}
