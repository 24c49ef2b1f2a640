/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleetsec/registry.h"
#include "testutil.h"

struct fixture {
	char *dir, *db;
	struct fsec_registry *reg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->dir = tu_mkdtemp();
	f->db = tu_registry(f->dir);
	assert_int_equal(fsec_registry_open(f->db, FSEC_REGISTRY_CREATE, &f->reg), FSEC_OK);
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

static struct fsec_device_rec device(const char *id, const char *model, const char *status)
{
	struct fsec_device_rec d;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.model, sizeof(d.model), "%s", model);
	assert_int_equal(fsec_dev_status_parse(status, &d.status), FSEC_OK);
	snprintf(d.provisioning, sizeof(d.provisioning), "factory-csr");
	d.created_at = d.updated_at = 1000;
	return d;
}

static struct fsec_cert_rec cert(const char *serial, const char *dev, const char *fp,
				 const char *spki)
{
	struct fsec_cert_rec c;

	memset(&c, 0, sizeof(c));
	snprintf(c.serial, sizeof(c.serial), "%s", serial);
	snprintf(c.device_id, sizeof(c.device_id), "%s", dev);
	snprintf(c.fingerprint, sizeof(c.fingerprint), "%s", fp);
	snprintf(c.spki_sha256, sizeof(c.spki_sha256), "%s", spki);
	c.not_before = 1000;
	c.not_after = 4000000000;
	c.issued_at = 1000;
	return c;
}

static int count_dev(const struct fsec_device_rec *d, void *arg)
{
	(void)d;
	(*(int *)arg)++;
	return 0;
}

static int count_cert(const struct fsec_cert_rec *c, void *arg)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

static void create_refuses_existing(void **state)
{
	struct fixture *f = *state;
	struct fsec_registry *again = NULL;

	assert_int_equal(fsec_registry_open(f->db, FSEC_REGISTRY_CREATE, &again), FSEC_ERR_EXISTS);
	assert_null(again);
	assert_int_equal(fsec_registry_open("/nonexistent/dir/r.db", 0, &again), FSEC_ERR_NOTFOUND);
	assert_int_equal(fsec_registry_open("postgres:whatever", 0, &again), FSEC_ERR_INVAL);
}

/* A registry from a newer fleetsec, or a database that is no registry, is
 * refused rather than "upgraded", and left as it was. */
static void refuses_unknown_schema(void **state)
{
	struct fixture *f = *state;
	struct fsec_registry *again = NULL;
	char *other = tu_pg() ? tu_registry(f->dir) : tu_path(f->dir, "other.db");

	fsec_registry_free(f->reg);
	f->reg = NULL;
	assert_int_equal(tu_sql(f->db, tu_pg() ? "UPDATE fsec_schema SET version = 9999"
					       : "PRAGMA user_version = 9999"),
			 0);
	assert_int_equal(fsec_registry_open(f->db, 0, &again), FSEC_ERR_DB);
	assert_non_null(strstr(fsec_err_detail(), "schema version 9999"));
	assert_null(again);
	/* Nor by a reader. */
	assert_int_equal(fsec_registry_open(f->db, FSEC_REGISTRY_READONLY, &again), FSEC_ERR_DB);
	assert_non_null(strstr(fsec_err_detail(), "schema version 9999"));
	if (tu_pg()) {
		/* Another application's database, opened or created on. */
		assert_int_equal(tu_sql(other, "CREATE TABLE theirs(a int); INSERT INTO theirs VALUES (7)"),
				 0);
		assert_int_equal(fsec_registry_open(other, 0, &again), FSEC_ERR_DB);
		assert_non_null(strstr(fsec_err_detail(), "is not a fleetsec registry"));
		assert_int_equal(fsec_registry_open(other, FSEC_REGISTRY_CREATE, &again), FSEC_ERR_DB);
		assert_non_null(strstr(fsec_err_detail(), "is not a fleetsec registry"));
		assert_int_equal(fsec_registry_open(other, FSEC_REGISTRY_READONLY, &again),
				 FSEC_ERR_DB);
		assert_non_null(strstr(fsec_err_detail(), "is not a fleetsec registry"));
		/* Nothing was created beside their table. */
		assert_int_equal(tu_sql(other, "DO $$BEGIN IF (SELECT count(*) FROM pg_tables WHERE"
					       " schemaname = 'public') <> 1 THEN RAISE 'changed';"
					       " END IF; END$$"),
				 0);
	} else {
		assert_int_equal(tu_sql(other, "PRAGMA user_version = 0"), 0);
		assert_int_equal(fsec_registry_open(other, 0, &again), FSEC_ERR_DB);
		assert_non_null(strstr(fsec_err_detail(), "schema version 0"));
	}
	assert_null(again);
	free(other);
}

/* PostgreSQL locations: a password in the URL is refused before any
 * connection (it would be kept in fleet.json and shown by ps), and so is a
 * malformed URL, each naming the reason. */
static void pg_locations(void **state)
{
	struct fsec_registry *reg = NULL;

	(void)state;
	assert_int_equal(fsec_registry_open("postgresql://fleet:s3cret@localhost/db", 0, &reg),
			 FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "password"));
	assert_non_null(strstr(fsec_err_detail(), "pgpass"));
	assert_null(strstr(fsec_err_detail(), "s3cret"));
	assert_int_equal(fsec_registry_open("postgresql:///db?password=s3cret", 0, &reg),
			 FSEC_ERR_INVAL);
	assert_null(strstr(fsec_err_detail(), "s3cret"));
	assert_int_equal(fsec_registry_open("postgresql://[::1/db", 0, &reg), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "malformed"));
	assert_int_equal(fsec_registry_open("postgresql:///db?nosuchoption=1", 0, &reg),
			 FSEC_ERR_PARSE);
	assert_int_equal(fsec_registry_location_check("postgresql://h/db"), FSEC_OK);
	assert_int_equal(fsec_registry_location_check("postgresql://u:p@h/db"), FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_location_check("mysql://h/db"), FSEC_ERR_INVAL);
	assert_null(reg);
}

static void devices_roundtrip_and_filter(void **state)
{
	struct fixture *f = *state;
	struct fsec_device_rec d = device("a", "cam", "active"), got;
	int n = 0;

	assert_int_equal(fsec_registry_begin(f->reg), FSEC_OK);
	assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	d = device("b", "cam", "revoked");
	assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	d = device("c", "plug", "active");
	assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	assert_int_equal(fsec_registry_commit(f->reg), FSEC_OK);

	assert_int_equal(fsec_registry_device_get(f->reg, "b", &got), FSEC_OK);
	assert_string_equal(got.model, "cam");
	assert_int_equal(got.status, FSEC_DEVICE_REVOKED);
	assert_int_equal(fsec_registry_device_get(f->reg, "zz", &got), FSEC_ERR_NOTFOUND);
	assert_int_equal(fsec_registry_device_get(f->reg, "bad id", &got), FSEC_ERR_INVAL);

	assert_int_equal(fsec_registry_device_list(f->reg, 0, NULL, count_dev, &n), FSEC_OK);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(fsec_registry_device_list(f->reg, FSEC_DEVICE_ACTIVE, NULL, count_dev, &n), FSEC_OK);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(fsec_registry_device_list(f->reg, FSEC_DEVICE_ACTIVE, "cam", count_dev, &n), FSEC_OK);
	assert_int_equal(n, 1);
}

/* Listings that grow with the fleet come a batch at a time on PostgreSQL
 * (pg_list_big, 4,096 rows a batch): more rows than a batch arrive whole
 * and in order; a callback may list again and write while one is open; a
 * callback that stops leaves nothing open that a later listing trips on. */
#define MANY 5000

struct walk {
	struct fsec_registry *reg;
	int n, nested, stop_at;
	char last[FSEC_DEVID_MAX + 1];
	bool ordered;
};

static int walk_dev(const struct fsec_device_rec *d, void *arg)
{
	struct walk *w = arg;

	w->ordered = w->ordered && strcmp(w->last, d->id) < 0;
	snprintf(w->last, sizeof(w->last), "%s", d->id);
	if (++w->n == 2500 && w->reg != NULL) {
		struct fsec_device_rec extra = device("zz-extra", "plug", "active");
		int inner = 0;

		assert_int_equal(fsec_registry_device_list(w->reg, 0, "plug", count_dev, &inner),
				 FSEC_OK);
		w->nested = inner;
		assert_int_equal(fsec_registry_begin(w->reg), FSEC_OK);
		assert_int_equal(fsec_registry_device_put(w->reg, &extra), FSEC_OK);
		assert_int_equal(fsec_registry_commit(w->reg), FSEC_OK);
	}
	return w->stop_at != 0 && w->n == w->stop_at;
}

static int walk_pem(const char *id, const char *pem, void *arg)
{
	struct walk *w = arg;

	w->ordered = w->ordered && strcmp(w->last, id) < 0 && strcmp(pem, "PEM-OF-DEV") == 0;
	snprintf(w->last, sizeof(w->last), "%s", id);
	w->n++;
	return 0;
}

static void large_listings_in_batches(void **state)
{
	struct fixture *f = *state;
	struct walk w = {.reg = f->reg, .ordered = true};
	char id[32], serial[32], fp[32];

	assert_int_equal(fsec_registry_begin(f->reg), FSEC_OK);
	for (int i = 0; i < MANY; i++) {
		struct fsec_device_rec d;
		struct fsec_cert_rec c;

		snprintf(id, sizeof(id), "dev-%05d", i);
		snprintf(serial, sizeof(serial), "%08X", i + 1);
		snprintf(fp, sizeof(fp), "fp%d", i);
		d = device(id, i % 3 == 0 ? "plug" : "cam", i % 100 == 7 ? "revoked" : "active");
		snprintf(d.serial, sizeof(d.serial), "%s", serial);
		c = cert(serial, id, fp, fp);
		assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
		assert_int_equal(fsec_registry_cert_add(f->reg, &c, "PEM-OF-DEV"), FSEC_OK);
	}
	assert_int_equal(fsec_registry_commit(f->reg), FSEC_OK);

	assert_int_equal(fsec_registry_device_list(f->reg, 0, NULL, walk_dev, &w), FSEC_OK);
	assert_true(w.ordered);
	/* Every device, the one added mid-listing aside (SQLite may show it). */
	assert_in_range(w.n, MANY, MANY + 1);
	assert_int_equal(w.nested, (MANY + 2) / 3); /* i % 3 == 0 */

	memset(&w, 0, sizeof(w));
	w.stop_at = 4200;
	assert_int_equal(fsec_registry_device_list(f->reg, 0, NULL, walk_dev, &w), FSEC_OK);
	assert_int_equal(w.n, 4200);
	memset(&w, 0, sizeof(w));
	w.ordered = true;
	assert_int_equal(fsec_registry_current_pem_list(f->reg, walk_pem, &w), FSEC_OK);
	assert_true(w.ordered);
	assert_int_equal(w.n, MANY - MANY / 100);

	/* Inside a transaction (revoke_batch lists in one): a listing sees
	 * the transaction's own writes, one stopped early is closed, and the
	 * transaction commits as if no listing had been made. */
	{
		struct fsec_device_rec d = device("aaa-first", "cam", "active"), got;

		assert_int_equal(fsec_registry_begin(f->reg), FSEC_OK);
		assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
		memset(&w, 0, sizeof(w));
		w.stop_at = 4200;
		assert_int_equal(fsec_registry_device_list(f->reg, 0, NULL, walk_dev, &w), FSEC_OK);
		assert_int_equal(w.n, 4200);
		memset(&w, 0, sizeof(w));
		w.ordered = true;
		assert_int_equal(fsec_registry_device_list(f->reg, 0, NULL, walk_dev, &w), FSEC_OK);
		assert_true(w.ordered);
		assert_int_equal(w.n, MANY + 2); /* zz-extra and aaa-first */
		assert_int_equal(fsec_registry_commit(f->reg), FSEC_OK);
		assert_int_equal(fsec_registry_device_get(f->reg, "aaa-first", &got), FSEC_OK);
	}
}

static void status_is_constrained(void **state)
{
	struct fixture *f = *state;
	struct fsec_device_rec d = device("a", "", "active");

	/* A status out of the enum (no text names it) is never stored. */
	d.status = (enum fsec_dev_status)42;
	assert_int_equal(fsec_registry_begin(f->reg), FSEC_OK);
	assert_int_not_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	fsec_registry_rollback(f->reg);
	/* An allowlist's model obeys the name rule ("" is none). */
	assert_int_equal(fsec_registry_enroll_allow_add(f->reg, "00000000000000000000000000000000"
							 "00000000000000000000000000000000",
							 "SN-*", "a\033b", false),
			 FSEC_ERR_INVAL);
}

/* A certificate listing whose callback lists the same certificates again
 * (a statement SQLite caches): the outer listing goes on where it was. */
struct nested_certs {
	struct fsec_registry *reg;
	int outer, inner;
};

static int nested_cert(const struct fsec_cert_rec *c, void *arg)
{
	struct nested_certs *n = arg;

	(void)c;
	assert_int_equal(fsec_registry_cert_list(n->reg,
						 &(struct fsec_cert_filter){.spki_sha256 = "k1"},
						 count_cert, &n->inner),
			 FSEC_OK);
	return ++n->outer == 10; /* a listing started over would not stop */
}

static void certificates_unique(void **state)
{
	struct fixture *f = *state;
	struct fsec_device_rec d = device("a", "", "active");
	struct fsec_cert_rec c = cert("0A", "a", "f1", "k1");
	struct nested_certs nc = {.reg = f->reg};
	int n = 0;

	assert_int_equal(fsec_registry_begin(f->reg), FSEC_OK);
	assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	assert_int_equal(fsec_registry_cert_add(f->reg, &c, "PEM"), FSEC_OK);
	/* Same serial, different certificate: refused. */
	c = cert("0A", "a", "f2", "k1");
	assert_int_equal(fsec_registry_cert_add(f->reg, &c, "PEM"), FSEC_ERR_EXISTS);
	/* Same fingerprint, different serial: refused. */
	c = cert("0B", "a", "f1", "k1");
	assert_int_equal(fsec_registry_cert_add(f->reg, &c, "PEM"), FSEC_ERR_EXISTS);
	c = cert("0C", "a", "f3", "k1");
	assert_int_equal(fsec_registry_cert_add(f->reg, &c, "PEM"), FSEC_OK);
	assert_int_equal(fsec_registry_commit(f->reg), FSEC_OK);

	assert_int_equal(fsec_registry_cert_list(f->reg,
						 &(struct fsec_cert_filter){.spki_sha256 = "k1"},
						 count_cert, &n),
			 FSEC_OK);
	assert_int_equal(n, 2);
	assert_int_equal(fsec_registry_cert_list(f->reg,
						 &(struct fsec_cert_filter){.spki_sha256 = "k1"},
						 nested_cert, &nc),
			 FSEC_OK);
	assert_int_equal(nc.outer, 2);
	assert_int_equal(nc.inner, 4);
}

static void revocation_is_once(void **state)
{
	struct fixture *f = *state;
	struct fsec_device_rec d = device("a", "", "active");
	struct fsec_cert_rec c = cert("0A", "a", "f1", "k1");
	struct fsec_cert_filter rev = {.revoked_only = true};
	int n = 0;

	assert_int_equal(fsec_registry_begin(f->reg), FSEC_OK);
	assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	assert_int_equal(fsec_registry_cert_add(f->reg, &c, "PEM"), FSEC_OK);
	assert_int_equal(fsec_registry_cert_revoke(f->reg, "0A", 5000, 1), FSEC_OK);
	assert_int_equal(fsec_registry_cert_revoke(f->reg, "0A", 6000, 4), FSEC_OK);
	assert_int_equal(fsec_registry_commit(f->reg), FSEC_OK);
	assert_int_equal(fsec_registry_cert_list(f->reg, &rev, count_cert, &n), FSEC_OK);
	assert_int_equal(n, 1);
}

static int grab_cert(const struct fsec_cert_rec *r, void *arg)
{
	/* Stop after the first row. */
	*(struct fsec_cert_rec *)arg = *r;
	return 1;
}

static void first_revocation_wins(void **state)
{
	struct fixture *f = *state;
	struct fsec_cert_rec got;

	revocation_is_once(state);
	assert_int_equal(fsec_registry_cert_list(f->reg, &(struct fsec_cert_filter){.revoked_only = true},
						 grab_cert, &got),
			 FSEC_OK);
	assert_true(got.revoked);
	assert_int_equal(got.revoked_at, 5000);
	assert_int_equal(got.reason, 1);
}

static void nested_rollback_keeps_outer(void **state)
{
	struct fixture *f = *state;
	struct fsec_device_rec d = device("outer", "", "active"), got;

	assert_int_equal(fsec_registry_begin(f->reg), FSEC_OK);
	assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	assert_int_equal(fsec_registry_begin(f->reg), FSEC_OK);
	d = device("inner", "", "active");
	assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	fsec_registry_rollback(f->reg);
	assert_int_equal(fsec_registry_commit(f->reg), FSEC_OK);
	assert_int_equal(fsec_registry_device_get(f->reg, "outer", &got), FSEC_OK);
	assert_int_equal(fsec_registry_device_get(f->reg, "inner", &got), FSEC_ERR_NOTFOUND);
}

static void counters(void **state)
{
	struct fixture *f = *state;
	uint64_t v = 0;

	assert_int_equal(fsec_registry_counter_next(f->reg, "crl_number", &v), FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_begin(f->reg), FSEC_OK);
	assert_int_equal(fsec_registry_counter_next(f->reg, "crl_number", &v), FSEC_OK);
	assert_int_equal(v, 1);
	assert_int_equal(fsec_registry_counter_next(f->reg, "crl_number", &v), FSEC_OK);
	assert_int_equal(v, 2);
	/* A floor above the counter lifts it; one below does not lower it. */
	assert_int_equal(fsec_registry_counter_next_above(f->reg, "crl_number", 40, &v), FSEC_OK);
	assert_int_equal(v, 41);
	assert_int_equal(fsec_registry_counter_next_above(f->reg, "crl_number", 7, &v), FSEC_OK);
	assert_int_equal(v, 42);
	assert_int_equal(fsec_registry_counter_next_above(f->reg, "fresh", 9, &v), FSEC_OK);
	assert_int_equal(v, 10);
	assert_int_equal(fsec_registry_counter_next_above(f->reg, "crl_number", (uint64_t)INT64_MAX,
							  &v),
			 FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_commit(f->reg), FSEC_OK);
}

static int count_event(const struct fsec_event_rec *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

/* The append-only rules hold even for someone with direct SQL access. */
static void history_cannot_be_rewritten(void **state)
{
	struct fixture *f = *state;
	struct fsec_event_rec ev = {.actor = "t", .action = "issue", .device_id = "a"};
	struct fsec_device_rec d = device("a", "", "active");
	struct fsec_cert_rec c = cert("0A", "a", "f1", "k1");
	int n = 0;

	assert_int_equal(fsec_registry_begin(f->reg), FSEC_OK);
	assert_int_equal(fsec_registry_event_add(f->reg, &ev), FSEC_OK);
	assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	assert_int_equal(fsec_registry_cert_add(f->reg, &c, "PEM"), FSEC_OK);
	assert_int_equal(fsec_registry_commit(f->reg), FSEC_OK);

	assert_int_not_equal(tu_sql(f->db, "UPDATE events SET actor = 'x'"), 0);
	assert_int_not_equal(tu_sql(f->db, "DELETE FROM events"), 0);
	assert_int_not_equal(tu_sql(f->db, "DELETE FROM certificates"), 0);
	if (tu_pg()) {
		assert_int_not_equal(tu_sql(f->db, "TRUNCATE events"), 0);
		assert_int_not_equal(tu_sql(f->db, "TRUNCATE certificates CASCADE"), 0);
	}
	assert_int_equal(fsec_registry_event_list(f->reg, "a", count_event, &n), FSEC_OK);
	assert_int_equal(n, 1);
}

static int grab_server_cert(const struct fsec_server_cert_rec *r, void *arg)
{
	struct fsec_server_cert_rec *v = arg;

	/* Collects up to two rows. */
	if (v[0].serial[0] == '\0')
		v[0] = *r;
	else
		v[1] = *r;
	return 0;
}

/* Server certificates: recorded once, listed (all, or revoked and not yet
 * expired, as the CRL wants), revoked once, never deleted. */
static void server_certs(void **state)
{
	struct fixture *f = *state;
	struct fsec_server_cert_rec a = {.serial = "0A", .name = "fleet.example",
					 .fingerprint = "f1", .not_before = 100,
					 .not_after = 1000, .issued_at = 100};
	struct fsec_server_cert_rec b = a, got[2];

	snprintf(b.serial, sizeof(b.serial), "0B");
	snprintf(b.fingerprint, sizeof(b.fingerprint), "f2");
	snprintf(b.role, sizeof(b.role), "backend");
	b.not_after = 2000;
	assert_int_equal(fsec_registry_server_cert_add(f->reg, &a), FSEC_OK);
	assert_int_equal(fsec_registry_server_cert_add(f->reg, &b), FSEC_OK);
	assert_int_equal(fsec_registry_server_cert_add(f->reg, &a), FSEC_ERR_EXISTS);
	memset(got, 0, sizeof(got));
	assert_int_equal(fsec_registry_server_cert_list(f->reg, INT64_MIN, false, grab_server_cert,
							got),
			 FSEC_OK);
	assert_string_equal(got[0].serial, "0A");
	assert_string_equal(got[1].serial, "0B");
	assert_string_equal(got[1].name, "fleet.example");
	assert_false(got[1].revoked);
	/* The role (schema v19) round-trips: "" is fleetsecd's own. */
	assert_string_equal(got[0].role, "");
	assert_string_equal(got[1].role, "backend");

	assert_int_equal(fsec_registry_server_cert_revoke(f->reg, "0A", 500, 1), FSEC_OK);
	assert_int_equal(fsec_registry_server_cert_revoke(f->reg, "0A", 600, 4), FSEC_ERR_NOTFOUND);
	assert_int_equal(fsec_registry_server_cert_revoke(f->reg, "0C", 600, 1), FSEC_ERR_NOTFOUND);
	assert_int_equal(fsec_registry_server_cert_revoke(f->reg, "0B", 700, 0), FSEC_OK);
	/* Revoked and not_after past 1500: only 0B. */
	memset(got, 0, sizeof(got));
	assert_int_equal(fsec_registry_server_cert_list(f->reg, 1500, true, grab_server_cert, got),
			 FSEC_OK);
	assert_string_equal(got[0].serial, "0B");
	assert_string_equal(got[1].serial, "");
	memset(got, 0, sizeof(got));
	assert_int_equal(fsec_registry_server_cert_list(f->reg, 0, true, grab_server_cert, got),
			 FSEC_OK);
	assert_true(got[0].revoked);
	assert_int_equal(got[0].revoked_at, 500);
	assert_int_equal(got[0].reason, 1);

	assert_int_not_equal(tu_sql(f->db, "DELETE FROM server_certs"), 0);
}

static int collect_problem(const char *problem, void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 512 - strlen(out), "%s\n", problem);
	return 0;
}

/* The backend's own check: silent on a sound registry, and it names a row
 * whose device is missing (written behind the registry's back). */
static void check_finds_orphans(void **state)
{
	struct fixture *f = *state;
	struct fsec_device_rec d = device("a", "m", "active");
	char problems[512] = "";

	assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	assert_int_equal(fsec_registry_check(f->reg, collect_problem, problems), FSEC_OK);
	assert_string_equal(problems, "");
	/* Written around the references' enforcement, as a hand edit or a
	 * damaged restore could. */
	assert_int_equal(tu_sql(f->db, tu_pg() ? "SET session_replication_role = replica;"
						 "INSERT INTO device_groups(device_id, grp)"
						 " VALUES ('ghost', 'g')"
					       : "PRAGMA foreign_keys = OFF;"
						 "INSERT INTO device_groups(device_id, grp)"
						 " VALUES ('ghost', 'g')"),
			 0);
	assert_int_equal(fsec_registry_check(f->reg, collect_problem, problems), FSEC_OK);
	assert_non_null(strstr(problems, "foreign key: device_groups row"));
	assert_non_null(strstr(problems, "missing devices row"));
}

struct spent_seen {
	int n;
	char last[128];
};

static int spent_one(const struct fsec_bootstrap_rec *b, void *arg)
{
	struct spent_seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%.8s %s %s %lld", b->fingerprint, b->use,
		 b->device_id, (long long)b->at);
	return 0;
}

static void bootstrap_list_shows_spent(void **state)
{
	struct fixture *f = *state;
	struct spent_seen s = {0};
	char fp[65];

	memset(fp, 'b', 64);
	fp[64] = '\0';
	assert_int_equal(fsec_registry_bootstrap_list(f->reg, spent_one, &s), FSEC_OK);
	assert_int_equal(s.n, 0);
	assert_int_equal(fsec_registry_bootstrap_spend(f->reg, fp, "enroll", "dev-1", 100, ""), FSEC_OK);
	assert_int_equal(fsec_registry_bootstrap_spend(f->reg, fp, "re-enroll", "dev-1", 200, ""),
			 FSEC_OK);
	assert_int_equal(fsec_registry_bootstrap_list(f->reg, spent_one, &s), FSEC_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.last, "bbbbbbbb re-enroll dev-1 200");
}

/* Devices' firmware encryption keys (issue 19), on either backend: kept per
 * device, replaced by a second enrolment, refused for an unknown device or
 * for something that is not an SPKI PEM. */
static void enc_keys(void **state)
{
	struct fixture *f = *state;
	struct fsec_device_rec d = device("a", "cam", "active");
	const char *k1 = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
	const char *k2 = "-----BEGIN PUBLIC KEY-----\nBBBB\n-----END PUBLIC KEY-----\n";
	char pem[FSEC_ENC_KEY_PEM_MAX + 1];

	assert_int_equal(fsec_registry_begin(f->reg), FSEC_OK);
	assert_int_equal(fsec_registry_device_put(f->reg, &d), FSEC_OK);
	assert_int_equal(fsec_registry_commit(f->reg), FSEC_OK);
	assert_int_equal(fsec_registry_enc_key_get(f->reg, "a", pem), FSEC_ERR_NOTFOUND);
	assert_int_equal(fsec_registry_enc_key_put(f->reg, "a", k1, 10), FSEC_OK);
	assert_int_equal(fsec_registry_enc_key_get(f->reg, "a", pem), FSEC_OK);
	assert_string_equal(pem, k1);
	assert_int_equal(fsec_registry_enc_key_put(f->reg, "a", k2, 20), FSEC_OK);
	assert_int_equal(fsec_registry_enc_key_get(f->reg, "a", pem), FSEC_OK);
	assert_string_equal(pem, k2);
	assert_int_equal(fsec_registry_enc_key_put(f->reg, "nobody", k1, 10), FSEC_ERR_NOTFOUND);
	assert_int_equal(fsec_registry_enc_key_put(f->reg, "a", "not a key", 10), FSEC_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(create_refuses_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_unknown_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(devices_roundtrip_and_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(status_is_constrained, setup, teardown),
		cmocka_unit_test_setup_teardown(large_listings_in_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(certificates_unique, setup, teardown),
		cmocka_unit_test_setup_teardown(first_revocation_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(nested_rollback_keeps_outer, setup, teardown),
		cmocka_unit_test_setup_teardown(counters, setup, teardown),
		cmocka_unit_test_setup_teardown(history_cannot_be_rewritten, setup, teardown),
		cmocka_unit_test_setup_teardown(server_certs, setup, teardown),
		cmocka_unit_test_setup_teardown(check_finds_orphans, setup, teardown),
		cmocka_unit_test_setup_teardown(bootstrap_list_shows_spent, setup, teardown),
		cmocka_unit_test_setup_teardown(enc_keys, setup, teardown),
		cmocka_unit_test(pg_locations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
