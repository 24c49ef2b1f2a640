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

/* Undo the migration steps from device_net (v7) on: v8 (debug ports) is
 * the last one. */
static void downgrade(const char *db)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	char stmt[320];
	int v;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(v, 8);
	snprintf(stmt, sizeof(stmt),
		 "ALTER TABLE device_state DROP COLUMN debug_jtag;"
		 "ALTER TABLE device_state DROP COLUMN debug_uart;"
		 "ALTER TABLE device_state DROP COLUMN debug_at;"
		 "DROP TABLE device_net; PRAGMA user_version = %d;",
		 v - 2);
	assert_int_equal(sqlite3_exec(h, stmt, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static void set_list_refuse(void **state)
{
	char *dir = tu_mkdtemp(), *db = tu_path(dir, "registry.db");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_list_refuse),
		cmocka_unit_test(upgrades_v1),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
