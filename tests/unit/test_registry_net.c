/* SPDX-License-Identifier: Apache-2.0 */
/* The registry's device addresses (net compile --from-registry). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "fleetsec/registry.h"
#include "testutil.h"

static void put_device(struct fsec_registry *reg, const char *id, const char *model)
{
	struct fsec_device_rec d;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.model, sizeof(d.model), "%s", model);
	d.status = FSEC_DEVICE_ACTIVE;
	snprintf(d.provisioning, sizeof(d.provisioning), "factory-csr");
	d.created_at = d.updated_at = 1000;
	assert_int_equal(fsec_registry_device_put(reg, &d), FSEC_OK);
}

struct seen {
	char line[8][256];
	size_t n;
};

static int collect(const struct fsec_device_net *d, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8)
		snprintf(s->line[s->n++], sizeof(s->line[0]), "%s %s %s %s", d->id, d->model,
			 d->mac[0] != '\0' ? d->mac : "-", d->ip[0] != '\0' ? d->ip : "-");
	return 0;
}

/* Undo the migration steps from device_net (v7) on: v8 (debug ports),
 * v9 (refusals, renewal allowances), v10 (freshness), v11 (server
 * certificates), v12 (update state), v13 (certificate issuers), v14
 * (rollouts: baselines, phases, served images, failure reasons), v15
 * (the manufacturer CA of each spent credential), v16 (tamper reports) and
 * v17 (rollout evaluations, the per-model device index, refusal marks),
 * v18 (pairings), v19 (the role of a service certificate, in a table
 * this drops whole) and v20 (devices' encryption keys) follow it. */
static void downgrade(const char *db)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	char stmt[1600];
	int v;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(v, 20);
	snprintf(stmt, sizeof(stmt),
		 "DROP TABLE device_enc_keys;"
		 "DROP TABLE pairings;"
		 "DROP TABLE rollout_eval; DROP INDEX devices_model_status;"
		 "DROP INDEX device_state_failed;"
		 "DROP INDEX refusals_mark; ALTER TABLE refusals DROP COLUMN mark;"
		 "DROP TABLE device_tamper;"
		 "DROP INDEX bootstrap_spent_ca;"
		 "ALTER TABLE bootstrap_spent DROP COLUMN ca_fingerprint;"
		 "DROP TABLE baselines; DROP TABLE rollout_served;"
		 "ALTER TABLE device_state DROP COLUMN outcome_reason;"
		 "ALTER TABLE published DROP COLUMN state;"
		 "ALTER TABLE published DROP COLUMN phases;"
		 "ALTER TABLE published DROP COLUMN phase;"
		 "ALTER TABLE published DROP COLUMN phase_at;"
		 "ALTER TABLE published DROP COLUMN advance_after;"
		 "ALTER TABLE published DROP COLUMN success_pct;"
		 "ALTER TABLE published DROP COLUMN forgiven;"
		 "ALTER TABLE certificates DROP COLUMN issuer;"
		 "ALTER TABLE device_state DROP COLUMN update_state;"
		 "ALTER TABLE device_state DROP COLUMN pending_version;"
		 "ALTER TABLE device_state DROP COLUMN outcome_image;"
		 "DROP TABLE server_certs;"
		 "DROP TABLE refusals; DROP TABLE renew_allow;"
		 "ALTER TABLE device_state DROP COLUMN frozen;"
		 "ALTER TABLE device_state DROP COLUMN fresh_at;"
		 "DROP TABLE timestamps;"
		 "ALTER TABLE device_state DROP COLUMN debug_jtag;"
		 "ALTER TABLE device_state DROP COLUMN debug_uart;"
		 "ALTER TABLE device_state DROP COLUMN debug_at;"
		 "DROP TABLE device_net; PRAGMA user_version = 6;");
	assert_int_equal(sqlite3_exec(h, stmt, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static int last_event(const struct fsec_event_rec *e, void *arg)
{
	struct fsec_event_rec *last = arg;
	int64_t n = last->at + 1; /* .at counts the visits */

	*last = *e;
	last->at = n;
	return 0;
}

/* The events after a sequence number, in order (net sync --follow). */
static void events_after(void **state)
{
	char *dir = tu_mkdtemp(), *db = tu_registry(dir);
	struct fsec_registry *reg = NULL;
	struct fsec_event_rec last = {0};

	(void)state;
	assert_int_equal(fsec_registry_open(db, FSEC_REGISTRY_CREATE, &reg), FSEC_OK);
	put_device(reg, "cam-1", "camera-x");
	assert_int_equal(fsec_registry_event_addf(reg, "t", "issue", "cam-1", "a"), FSEC_OK);
	assert_int_equal(fsec_registry_event_addf(reg, "t", "revoke", "cam-1", "b"), FSEC_OK);
	assert_int_equal(fsec_registry_event_addf(reg, "t", "ca-init", NULL, "c"), FSEC_OK);
	assert_int_equal(fsec_registry_event_list_after(reg, 0, last_event, &last), FSEC_OK);
	assert_int_equal(last.at, 3);
	assert_string_equal(last.action, "ca-init");
	memset(&last, 0, sizeof(last));
	assert_int_equal(fsec_registry_event_list_after(reg, 1, last_event, &last), FSEC_OK);
	assert_int_equal(last.at, 2);
	memset(&last, 0, sizeof(last));
	assert_int_equal(fsec_registry_event_list_after(reg, 3, last_event, &last), FSEC_OK);
	assert_int_equal(last.at, 0);
	fsec_registry_free(reg);
	tu_rmtree(dir);
	free(db);
	free(dir);
}

static void set_list_refuse(void **state)
{
	char *dir = tu_mkdtemp(), *db = tu_registry(dir);
	struct fsec_registry *reg = NULL;
	struct seen s = {0};

	(void)state;
	assert_int_equal(fsec_registry_open(db, FSEC_REGISTRY_CREATE, &reg), FSEC_OK);
	put_device(reg, "cam-1", "camera-x");
	put_device(reg, "cam-2", "camera-x");
	put_device(reg, "hub-1", "hub");
	assert_int_equal(fsec_registry_device_net_set(reg, "cam-1", "02:AA:00:00:00:01", "10.0.0.1"),
			 FSEC_OK);
	assert_int_equal(fsec_registry_device_net_set(reg, "cam-2", NULL, "10.0.0.2"), FSEC_OK);
	/* NULL keeps a field; "" clears it. */
	assert_int_equal(fsec_registry_device_net_set(reg, "cam-2", "02:aa:00:00:00:02", NULL),
			 FSEC_OK);
	assert_int_equal(fsec_registry_device_net_set(reg, "cam-1", NULL, ""), FSEC_OK);
	/* A MAC or IP belongs to one device, whatever its spelling. */
	assert_int_equal(fsec_registry_device_net_set(reg, "hub-1", "02:aa:00:00:00:01", NULL),
			 FSEC_ERR_EXISTS);
	assert_int_equal(fsec_registry_device_net_set(reg, "hub-1", "02:AA:00:00:00:02", NULL),
			 FSEC_ERR_EXISTS);
	assert_int_equal(fsec_registry_device_net_set(reg, "hub-1", NULL, "10.0.0.2"),
			 FSEC_ERR_EXISTS);
	assert_int_equal(fsec_registry_device_net_set(reg, "nobody", NULL, "10.0.0.9"),
			 FSEC_ERR_NOTFOUND);
	assert_int_equal(fsec_registry_device_net_set(reg, "hub-1", "02:aa:00:00:00", NULL),
			 FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_device_net_set(reg, "hub-1", "02-aa-00-00-00-03", NULL),
			 FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_device_net_set(reg, "hub-1", NULL, "10.0.0.256"),
			 FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_device_net_set(reg, "hub-1", NULL, "::1"), FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_device_net_list(reg, collect, &s), FSEC_OK);
	assert_int_equal(s.n, 2); /* hub-1 has no address */
	assert_string_equal(s.line[0], "cam-1 camera-x 02:aa:00:00:00:01 -");
	assert_string_equal(s.line[1], "cam-2 camera-x 02:aa:00:00:00:02 10.0.0.2");
	/* One device's record (net sync --follow), or none. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(fsec_registry_device_net_one(reg, "cam-2", collect, &s), FSEC_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.line[0], "cam-2 camera-x 02:aa:00:00:00:02 10.0.0.2");
	assert_int_equal(fsec_registry_device_net_one(reg, "hub-1", collect, &s), FSEC_OK);
	assert_int_equal(fsec_registry_device_net_one(reg, "nobody", collect, &s), FSEC_OK);
	assert_int_equal(s.n, 1);
	fsec_registry_free(reg);
	tu_rmtree(dir);
	free(db);
	free(dir);
}

/* A registry made before the device_net step is upgraded in place. */
static void upgrades_v1(void **state)
{
	char *dir = tu_mkdtemp(), *db = tu_path(dir, "registry.db");
	struct fsec_registry *reg = NULL;

	(void)state;
	assert_int_equal(fsec_registry_open(db, FSEC_REGISTRY_CREATE, &reg), FSEC_OK);
	put_device(reg, "cam-1", "camera-x");
	fsec_registry_free(reg);
	downgrade(db);
	assert_int_equal(fsec_registry_open(db, 0, &reg), FSEC_OK);
	assert_int_equal(fsec_registry_device_net_set(reg, "cam-1", NULL, "10.0.0.1"), FSEC_OK);
	fsec_registry_free(reg);
	tu_rmtree(dir);
	free(db);
	free(dir);
}

/* Run sql on the registry file behind the library's back, with the schema's
 * CHECKs off: how a row this library does not know gets there (a newer
 * writer, a hand edit). */
/* sql run around the schema's CHECKs, as a hand edit could. */
static void raw_sql(const char *db, const char *sql)
{
	char stmt[768];

	snprintf(stmt, sizeof(stmt), "%s %s",
		 tu_pg() ? "ALTER TABLE devices DROP CONSTRAINT IF EXISTS devices_status_check;"
			   " ALTER TABLE device_state"
			   " DROP CONSTRAINT IF EXISTS device_state_update_outcome_check,"
			   " DROP CONSTRAINT IF EXISTS device_state_debug_jtag_check,"
			   " DROP CONSTRAINT IF EXISTS device_state_debug_uart_check;"
			 : "PRAGMA ignore_check_constraints = ON;",
		 sql);
	assert_int_equal(tu_sql(db, stmt), 0);
}

static int count_any(const void *rec, void *arg)
{
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

static int count_dev(const struct fsec_device_rec *d, void *arg) { return count_any(d, arg); }
static int count_net(const struct fsec_device_net *d, void *arg) { return count_any(d, arg); }
static int count_st(const struct fsec_devstate_rec *d, void *arg) { return count_any(d, arg); }
static int count_both(const struct fsec_device_rec *d, const struct fsec_devstate_rec *s,
		      void *arg)
{
	(void)s;
	return count_any(d, arg);
}

/* The states' names are the stored and printed text; anything else is
 * refused, and a value outside an enum is named "invalid", never NULL. */
static void state_names(void **state)
{
	enum fsec_dev_status ds = 0;
	enum fsec_update_outcome uo = FSEC_UPDATE_SUCCESS;
	enum fsec_debug_state dbg = FSEC_DEBUG_LOCKED;

	(void)state;
	assert_string_equal(fsec_dev_status_name(FSEC_DEVICE_ACTIVE), "active");
	assert_string_equal(fsec_dev_status_name(FSEC_DEVICE_REVOKED), "revoked");
	assert_string_equal(fsec_dev_status_name((enum fsec_dev_status)0), "invalid");
	assert_string_equal(fsec_dev_status_name((enum fsec_dev_status)9), "invalid");
	assert_string_equal(fsec_update_outcome_name(FSEC_UPDATE_NONE), "");
	assert_string_equal(fsec_update_outcome_name(FSEC_UPDATE_SUCCESS), "success");
	assert_string_equal(fsec_update_outcome_name(FSEC_UPDATE_FAILURE), "failure");
	assert_string_equal(fsec_update_outcome_name((enum fsec_update_outcome)-1), "invalid");
	assert_string_equal(fsec_debug_state_name(FSEC_DEBUG_UNKNOWN), "");
	assert_string_equal(fsec_debug_state_name(FSEC_DEBUG_LOCKED), "locked");
	assert_string_equal(fsec_debug_state_name(FSEC_DEBUG_UNLOCKED), "unlocked");
	assert_string_equal(fsec_debug_state_name((enum fsec_debug_state)3), "invalid");

	assert_int_equal(fsec_dev_status_parse("revoked", &ds), FSEC_OK);
	assert_int_equal(ds, FSEC_DEVICE_REVOKED);
	assert_int_equal(fsec_dev_status_parse("active", &ds), FSEC_OK);
	assert_int_equal(ds, FSEC_DEVICE_ACTIVE);
	assert_int_equal(fsec_dev_status_parse("Active", &ds), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "Active"));
	assert_int_equal(fsec_dev_status_parse("", &ds), FSEC_ERR_PARSE);
	assert_int_equal(fsec_dev_status_parse("invalid", &ds), FSEC_ERR_PARSE);
	assert_int_equal(fsec_dev_status_parse(NULL, &ds), FSEC_ERR_PARSE);
	assert_int_equal(ds, FSEC_DEVICE_ACTIVE); /* untouched on failure */

	assert_int_equal(fsec_update_outcome_parse("failure", &uo), FSEC_OK);
	assert_int_equal(uo, FSEC_UPDATE_FAILURE);
	assert_int_equal(fsec_update_outcome_parse("", &uo), FSEC_OK);
	assert_int_equal(uo, FSEC_UPDATE_NONE);
	assert_int_equal(fsec_update_outcome_parse("maybe", &uo), FSEC_ERR_PARSE);
	assert_int_equal(fsec_update_outcome_parse("success ", &uo), FSEC_ERR_PARSE);

	assert_int_equal(fsec_debug_state_parse("unlocked", &dbg), FSEC_OK);
	assert_int_equal(dbg, FSEC_DEBUG_UNLOCKED);
	assert_int_equal(fsec_debug_state_parse("", &dbg), FSEC_OK);
	assert_int_equal(dbg, FSEC_DEBUG_UNKNOWN);
	assert_int_equal(fsec_debug_state_parse("open", &dbg), FSEC_ERR_PARSE);
}

/* A stored state this library does not know is refused by the backend on
 * every read, naming the value (fail closed: a device of unknown status
 * must not pass for active or revoked), and a record with a state out of
 * the enum is never written. */
static void unknown_stored_state_refused(void **state)
{
	char *dir = tu_mkdtemp(), *db = tu_registry(dir);
	struct fsec_registry *reg = NULL;
	struct fsec_device_rec d;
	struct fsec_devstate_rec st = {.device_id = "cam-1", .first_seen = 1, .last_seen = 1,
				       .fw_version = "1.0.0"};
	int n = 0;

	(void)state;
	assert_int_equal(fsec_registry_open(db, FSEC_REGISTRY_CREATE, &reg), FSEC_OK);
	put_device(reg, "cam-1", "camera-x");
	assert_int_equal(fsec_registry_device_net_set(reg, "cam-1", NULL, "10.0.0.1"), FSEC_OK);
	assert_int_equal(fsec_registry_devstate_put(reg, &st), FSEC_OK);

	/* Out of the enum: refused before it reaches the table. */
	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "cam-2");
	assert_int_equal(fsec_registry_device_put(reg, &d), FSEC_ERR_INVAL);
	d.status = (enum fsec_dev_status)3;
	assert_int_equal(fsec_registry_device_put(reg, &d), FSEC_ERR_INVAL);
	st.update_outcome = (enum fsec_update_outcome)3;
	assert_int_equal(fsec_registry_devstate_put(reg, &st), FSEC_ERR_INVAL);
	st.update_outcome = FSEC_UPDATE_NONE;
	st.debug_uart = (enum fsec_debug_state)-1;
	assert_int_equal(fsec_registry_devstate_put(reg, &st), FSEC_ERR_INVAL);
	fsec_registry_free(reg);

	raw_sql(db, "UPDATE devices SET status = 'lost' WHERE id = 'cam-1';");
	assert_int_equal(fsec_registry_open(db, 0, &reg), FSEC_OK);
	assert_int_equal(fsec_registry_device_get(reg, "cam-1", &d), FSEC_ERR_DB);
	assert_non_null(strstr(fsec_err_detail(), "\"lost\""));
	assert_int_equal(fsec_registry_device_list(reg, 0, NULL, count_dev, &n), FSEC_ERR_DB);
	assert_non_null(strstr(fsec_err_detail(), "\"lost\""));
	assert_int_equal(fsec_registry_device_net_list(reg, count_net, &n), FSEC_ERR_DB);
	assert_non_null(strstr(fsec_err_detail(), "\"lost\""));
	assert_int_equal(fsec_registry_device_state_list(reg, count_both, &n), FSEC_ERR_DB);
	assert_int_equal(n, 0); /* no callback saw the row */
	fsec_registry_free(reg);

	raw_sql(db, "UPDATE devices SET status = 'active';"
		    "UPDATE device_state SET update_outcome = 'maybe';");
	assert_int_equal(fsec_registry_open(db, 0, &reg), FSEC_OK);
	assert_int_equal(fsec_registry_device_get(reg, "cam-1", &d), FSEC_OK);
	assert_int_equal(d.status, FSEC_DEVICE_ACTIVE);
	assert_int_equal(fsec_registry_devstate_get(reg, "cam-1", &st), FSEC_ERR_DB);
	assert_non_null(strstr(fsec_err_detail(), "\"maybe\""));
	assert_int_equal(fsec_registry_devstate_list(reg, count_st, &n), FSEC_ERR_DB);
	assert_int_equal(fsec_registry_device_state_list(reg, count_both, &n), FSEC_ERR_DB);
	assert_non_null(strstr(fsec_err_detail(), "\"maybe\""));
	fsec_registry_free(reg);

	raw_sql(db, "UPDATE device_state SET update_outcome = 'success', debug_jtag = 'open';");
	assert_int_equal(fsec_registry_open(db, 0, &reg), FSEC_OK);
	assert_int_equal(fsec_registry_devstate_get(reg, "cam-1", &st), FSEC_ERR_DB);
	assert_non_null(strstr(fsec_err_detail(), "\"open\""));
	assert_non_null(strstr(fsec_err_detail(), "debug_jtag"));
	fsec_registry_free(reg);

	raw_sql(db, "UPDATE device_state SET debug_jtag = 'locked', debug_uart = 'locked';");
	assert_int_equal(fsec_registry_open(db, 0, &reg), FSEC_OK);
	assert_int_equal(fsec_registry_devstate_get(reg, "cam-1", &st), FSEC_OK);
	assert_int_equal(st.update_outcome, FSEC_UPDATE_SUCCESS);
	assert_int_equal(st.debug_jtag, FSEC_DEBUG_LOCKED);
	assert_int_equal(fsec_registry_device_state_list(reg, count_both, &n), FSEC_OK);
	assert_int_equal(n, 1);
	fsec_registry_free(reg);
	tu_rmtree(dir);
	free(db);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_list_refuse),
		cmocka_unit_test(events_after),
		cmocka_unit_test(state_names),
		cmocka_unit_test(unknown_stored_state_refused),
	};
	/* SQLite's upgrade from v6, by hand-undoing its steps. */
	const struct CMUnitTest sqlite_only[] = {
		cmocka_unit_test(upgrades_v1),
	};

	if (!tu_pg() && cmocka_run_group_tests(sqlite_only, NULL, NULL) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
