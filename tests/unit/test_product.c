/* SPDX-License-Identifier: Apache-2.0 */
/* Products, device reports, security.txt, and the registry migration that
 * added them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "fleetsec/product.h"
#include "fleetsec/registry.h"
#include "testutil.h"

struct fixture {
	char *dir, *db;
	struct fsec_registry *reg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct fsec_device_rec d;

	f->dir = tu_mkdtemp();
	f->db = tu_path(f->dir, "registry.db");
	assert_int_equal(fsec_registry_open(f->db, FSEC_REGISTRY_CREATE, &f->reg), FSEC_OK);
	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "dev-1");
	snprintf(d.model, sizeof(d.model), "cam");
	d.status = FSEC_DEVICE_ACTIVE;
	snprintf(d.provisioning, sizeof(d.provisioning), "factory-csr");
	d.created_at = d.updated_at = 1000;
	assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fsec_registry_free(f->reg);
	tu_rmtree(f->dir);
	free(f->db);
	free(f->dir);
	free(f);
	return 0;
}

static void dates(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(fsec_date_parse("2030-01-31", &t), FSEC_OK);
	assert_int_equal(t, 1896134399); /* the end of that day, UTC */
	assert_int_equal(fsec_date_parse("2030-01-31T00:00:00Z", &t), FSEC_OK);
	assert_int_equal(t, 1896048000);
	assert_int_equal(fsec_date_parse("2030-1-31", &t), FSEC_ERR_INVAL);
	assert_int_equal(fsec_date_parse("2030-02-30", &t), FSEC_ERR_INVAL);
	assert_int_equal(fsec_date_parse("2028-02-29", &t), FSEC_OK);
	assert_int_equal(fsec_date_parse("31/01/2030", &t), FSEC_ERR_INVAL);
	assert_int_equal(fsec_date_parse("2030-01-31T00:00:00", &t), FSEC_ERR_INVAL);
	assert_int_equal(fsec_date_parse("", &t), FSEC_ERR_INVAL);
}

static void product_set_and_refusals(void **state)
{
	struct fixture *f = *state;
	struct fsec_product_update u = {.model = "cam", .support_until = 2000000000,
					.release_counter = -1,
					.security_contact = "mailto:psirt@example.com"};
	struct fsec_product_rec p;

	assert_int_equal(fsec_product_set(f->reg, &u), FSEC_OK);
	/* A partial update keeps the other fields. */
	u = (struct fsec_product_update){.model = "cam", .support_until = -1,
					 .release_version = "1.2.3", .release_counter = 4};
	assert_int_equal(fsec_product_set(f->reg, &u), FSEC_OK);
	assert_int_equal(fsec_registry_product_get(f->reg, "cam", &p), FSEC_OK);
	assert_int_equal(p.support_until, 2000000000);
	assert_string_equal(p.security_contact, "mailto:psirt@example.com");
	assert_string_equal(p.release_version, "1.2.3");
	assert_int_equal(p.release_counter, 4);

	u = (struct fsec_product_update){.model = "cam", .support_until = -1, .release_counter = -1,
					 .security_contact = "mailto:a@b\nContact: evil"};
	assert_int_equal(fsec_product_set(f->reg, &u), FSEC_ERR_INVAL);
	u.security_contact = "javascript:alert(1)";
	assert_int_equal(fsec_product_set(f->reg, &u), FSEC_ERR_INVAL);
	u = (struct fsec_product_update){.model = "cam", .support_until = -1,
					 .release_version = "1.0.0", .release_counter = -1};
	assert_int_equal(fsec_product_set(f->reg, &u), FSEC_ERR_INVAL);
	u = (struct fsec_product_update){.model = "c a m", .support_until = -1, .release_counter = -1};
	assert_int_equal(fsec_product_set(f->reg, &u), FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_product_get(f->reg, "c a m", &p), FSEC_ERR_NOTFOUND);
}

static void reports(void **state)
{
	struct fixture *f = *state;
	struct fsec_device_report r = {.id = "dev-1", .version = "1.0.0", .security_counter = 3,
				       .at = 5000};
	struct fsec_devstate_rec s;

	assert_int_equal(fsec_registry_devstate_get(f->reg, "dev-1", &s), FSEC_ERR_NOTFOUND);
	assert_int_equal(fsec_device_report(f->reg, &r), FSEC_OK);
	r = (struct fsec_device_report){.id = "dev-1", .version = "1.1.0", .security_counter = 4,
					.update_outcome = FSEC_UPDATE_SUCCESS, .at = 6000};
	assert_int_equal(fsec_device_report(f->reg, &r), FSEC_OK);
	/* A late (or replayed) older report does not move anything back. */
	r = (struct fsec_device_report){.id = "dev-1", .version = "1.0.0", .security_counter = 3,
					.update_outcome = FSEC_UPDATE_FAILURE, .at = 5500};
	assert_int_equal(fsec_device_report(f->reg, &r), FSEC_OK);
	assert_int_equal(fsec_registry_devstate_get(f->reg, "dev-1", &s), FSEC_OK);
	assert_int_equal(s.first_seen, 5000);
	assert_int_equal(s.last_seen, 6000);
	assert_string_equal(s.fw_version, "1.1.0");
	assert_int_equal(s.security_counter, 4);
	assert_int_equal(s.update_outcome, FSEC_UPDATE_SUCCESS);
	assert_int_equal(s.update_ok_at, 6000);

	r = (struct fsec_device_report){.id = "nobody", .version = "1.0.0", .security_counter = 1};
	assert_int_equal(fsec_device_report(f->reg, &r), FSEC_ERR_NOTFOUND);
	r.id = "dev-1";
	r.version = "one";
	assert_int_equal(fsec_device_report(f->reg, &r), FSEC_ERR_INVAL);
	r.version = "1.0.0";
	r.security_counter = (int64_t)UINT32_MAX + 1;
	assert_int_equal(fsec_device_report(f->reg, &r), FSEC_ERR_INVAL);
	r.security_counter = 1;
	r.update_outcome = (enum fsec_update_outcome)7; /* out of the enum */
	assert_int_equal(fsec_device_report(f->reg, &r), FSEC_ERR_INVAL);
	/* The update state, pending version and image are checked here, not
	 * only by the device API's parser. */
	r.update_outcome = FSEC_UPDATE_FAILURE;
	r.update_state = "exploded";
	assert_int_equal(fsec_device_report(f->reg, &r), FSEC_ERR_INVAL);
	r.update_state = "failed";
	r.pending = "next";
	assert_int_equal(fsec_device_report(f->reg, &r), FSEC_ERR_INVAL);
	r.pending = NULL;
	r.image = "ABCDEF";
	assert_int_equal(fsec_device_report(f->reg, &r), FSEC_ERR_INVAL);
	r.image = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12";
	r.at = 7000;
	assert_int_equal(fsec_device_report(f->reg, &r), FSEC_OK);
	assert_int_equal(fsec_registry_devstate_get(f->reg, "dev-1", &s), FSEC_OK);
	assert_string_equal(s.update_state, "failed");
	assert_string_equal(s.outcome_image, r.image);
}

static void security_txt(void **state)
{
	struct fixture *f = *state;
	struct fsec_sectxt_opts o = {.now = 1000000000, .expires = 1010000000};
	struct fsec_product_update u = {.support_until = -1, .release_counter = -1};
	char *txt = NULL;

	assert_int_equal(fsec_product_security_txt(f->reg, &o, &txt), FSEC_ERR_NOTFOUND);
	u.model = "cam";
	u.security_contact = "mailto:psirt@example.com";
	assert_int_equal(fsec_product_set(f->reg, &u), FSEC_OK);
	u.model = "plug";
	assert_int_equal(fsec_product_set(f->reg, &u), FSEC_OK);
	u.model = "hub";
	u.security_contact = "https://example.com/report";
	assert_int_equal(fsec_product_set(f->reg, &u), FSEC_OK);
	o.canonical = "https://example.com/.well-known/security.txt";
	assert_int_equal(fsec_product_security_txt(f->reg, &o, &txt), FSEC_OK);
	/* Contacts in model order, deduplicated; Expires in RFC 3339 UTC. */
	assert_string_equal(txt, "Contact: mailto:psirt@example.com\n"
				 "Contact: https://example.com/report\n"
				 "Expires: 2002-01-02T19:33:20Z\n"
				 "Canonical: https://example.com/.well-known/security.txt\n");
	free(txt);
	o.expires = 999;
	assert_int_equal(fsec_product_security_txt(f->reg, &o, &txt), FSEC_ERR_INVAL);
	o.expires = 1010000000;
	o.canonical = "http://example.com/security.txt";
	assert_int_equal(fsec_product_security_txt(f->reg, &o, &txt), FSEC_ERR_INVAL);
}

/* A registry created before products existed gains the tables on open. */
static void migrates_v1(void **state)
{
	struct fixture *f = *state;
	struct fsec_product_rec p;
	sqlite3 *db = NULL;
	int v = 0;
	sqlite3_stmt *st = NULL;
	char drop[32][96];
	size_t ndrop = 0;

	fsec_registry_free(f->reg);
	f->reg = NULL;
	/* Back to version 1: every table that step 1 did not create goes, so
	 * the test holds whatever other steps come after it. */
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT name FROM sqlite_master WHERE type = 'table' AND"
					    " name NOT IN ('meta', 'devices', 'certificates', 'events')"
					    " AND name NOT LIKE 'sqlite_%'",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && ndrop < 32)
		snprintf(drop[ndrop++], sizeof(drop[0]), "DROP TABLE \"%s\"",
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;
	for (size_t i = 0; i < ndrop; i++)
		assert_int_equal(sqlite3_exec(db, drop[i], NULL, NULL, NULL), SQLITE_OK);
	/* Step 17 indexed a table of step 1. */
	assert_int_equal(sqlite3_exec(db, "DROP INDEX devices_model_status", NULL, NULL, NULL),
			 SQLITE_OK);
	/* Step 13 added a column to a table of step 1. */
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE certificates DROP COLUMN issuer", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(fsec_registry_open(f->db, 0, &f->reg), FSEC_OK);
	assert_int_equal(fsec_registry_product_get(f->reg, "cam", &p), FSEC_ERR_NOTFOUND);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	assert_true(v >= 2);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
					    " AND name IN ('products', 'device_state')",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 2);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dates),
		cmocka_unit_test_setup_teardown(product_set_and_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(reports, setup, teardown),
		cmocka_unit_test_setup_teardown(security_txt, setup, teardown),
		cmocka_unit_test_setup_teardown(migrates_v1, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
