/* SPDX-License-Identifier: Apache-2.0 */
/* The registry's inventory queries (issue 13): filters at their boundaries,
 * the outdated rule in C and in the backend's SQL agreeing, finding a
 * device by every identifier and spelling, the event query, and the first
 * refusal of a credential and reason being told apart from repeats. */
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

#define HEX64(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
		 c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define FP_A HEX64("a")
#define SPKI_A HEX64("b")
#define FP_A2 HEX64("c")
#define SPKI_A2 HEX64("d")

static void add_device(struct fsec_registry *reg, const char *id, const char *model,
		       int64_t expires, const char *serial, const char *fp, const char *spki)
{
	struct fsec_device_rec d;
	struct fsec_cert_rec c;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.model, sizeof(d.model), "%s", model);
	d.status = FSEC_DEVICE_ACTIVE;
	snprintf(d.provisioning, sizeof(d.provisioning), "factory-csr");
	d.created_at = d.updated_at = 1000;
	d.expires_at = expires;
	if (serial != NULL) {
		snprintf(d.serial, sizeof(d.serial), "%s", serial);
		snprintf(d.fingerprint, sizeof(d.fingerprint), "%s", fp);
		snprintf(d.spki_sha256, sizeof(d.spki_sha256), "%s", spki);
		d.issued_at = 1000;
		memset(&c, 0, sizeof(c));
		snprintf(c.serial, sizeof(c.serial), "%s", serial);
		snprintf(c.device_id, sizeof(c.device_id), "%s", id);
		snprintf(c.fingerprint, sizeof(c.fingerprint), "%s", fp);
		snprintf(c.spki_sha256, sizeof(c.spki_sha256), "%s", spki);
		c.not_before = c.issued_at = 1000;
		c.not_after = expires;
		assert_int_equal(fsec_registry_cert_add(reg, &c, "PEM"), FSEC_OK);
	}
	assert_int_equal(fsec_registry_device_put(reg, &d), FSEC_OK);
}

static void report(struct fsec_registry *reg, const char *id, const char *version,
		   uint32_t counter, int64_t seen, enum fsec_update_outcome outcome)
{
	struct fsec_devstate_rec s;

	memset(&s, 0, sizeof(s));
	snprintf(s.device_id, sizeof(s.device_id), "%s", id);
	snprintf(s.fw_version, sizeof(s.fw_version), "%s", version);
	s.first_seen = s.last_seen = seen;
	s.security_counter = counter;
	s.update_outcome = outcome;
	s.update_at = outcome != FSEC_UPDATE_NONE ? seen : 0;
	s.frozen = -1;
	assert_int_equal(fsec_registry_devstate_put(reg, &s), FSEC_OK);
}

/* The device reported an image waiting for its trial boot. */
static void trial(struct fsec_registry *reg, const char *id)
{
	struct fsec_devstate_rec s;

	assert_int_equal(fsec_registry_devstate_get(reg, id, &s), FSEC_OK);
	snprintf(s.update_state, sizeof(s.update_state), "trial");
	snprintf(s.pending_version, sizeof(s.pending_version), "4.0.0");
	assert_int_equal(fsec_registry_devstate_put(reg, &s), FSEC_OK);
}

static void product(struct fsec_registry *reg, const char *model, int64_t counter)
{
	struct fsec_product_rec p;

	memset(&p, 0, sizeof(p));
	snprintf(p.model, sizeof(p.model), "%s", model);
	snprintf(p.release_version, sizeof(p.release_version), "%s", counter >= 0 ? "2.0.0" : "");
	p.release_counter = counter;
	p.updated_at = 1000;
	assert_int_equal(fsec_registry_product_put(reg, &p), FSEC_OK);
}

/*
 * thermo (release counter 2): t-old reports 1, t-eq 2, t-new 3, t-never
 * nothing. cam has a product without a release, hub no product at all.
 */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct fsec_registry *reg;

	f->dir = tu_mkdtemp();
	f->db = tu_registry(f->dir);
	assert_int_equal(fsec_registry_open(f->db, FSEC_REGISTRY_CREATE, &f->reg), FSEC_OK);
	reg = f->reg;
	assert_int_equal(fsec_registry_begin(reg), FSEC_OK);
	add_device(reg, "t-old", "thermo", 5000, "0A1B", FP_A, SPKI_A);
	add_device(reg, "t-eq", "thermo", 6000, NULL, NULL, NULL);
	add_device(reg, "t-new", "thermo", 7000, NULL, NULL, NULL);
	add_device(reg, "t-never", "thermo", 0, NULL, NULL, NULL);
	add_device(reg, "cam-1", "cam", 0, NULL, NULL, NULL);
	add_device(reg, "hub-1", "hub", 0, NULL, NULL, NULL);
	product(reg, "thermo", 2);
	product(reg, "cam", -1);
	report(reg, "t-old", "1.0.0", 1, 100, FSEC_UPDATE_FAILURE);
	report(reg, "t-eq", "2.0.0", 2, 200, FSEC_UPDATE_SUCCESS);
	report(reg, "t-new", "3.0.0", 3, 300, FSEC_UPDATE_NONE);
	trial(reg, "t-new");
	report(reg, "cam-1", "1.0.0", 0, 150, FSEC_UPDATE_NONE);
	report(reg, "hub-1", "1.0.0", 0, 250, FSEC_UPDATE_NONE);
	assert_int_equal(fsec_registry_group_set(reg, "t-old", "canary"), FSEC_OK);
	assert_int_equal(fsec_registry_group_set(reg, "t-new", "canary"), FSEC_OK);
	assert_int_equal(fsec_registry_commit(reg), FSEC_OK);
	assert_int_equal(fsec_registry_device_net_set(reg, "t-old", "AA:BB:CC:DD:EE:01", "10.0.0.1"),
			 FSEC_OK);
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

/* The IDs a listing visits, as "a,b,c". */
struct ids {
	char s[512];
};

static int collect(const struct fsec_inventory_rec *r, void *arg)
{
	struct ids *ids = arg;
	size_t len = strlen(ids->s);

	snprintf(ids->s + len, sizeof(ids->s) - len, "%s%s", len > 0 ? "," : "", r->dev.id);
	return 0;
}

static const char *list(struct fsec_registry *reg, const struct fsec_inventory_query *q,
			struct ids *ids)
{
	ids->s[0] = '\0';
	assert_int_equal(fsec_registry_inventory_list(reg, q, collect, ids), FSEC_OK);
	return ids->s;
}

static void filters(void **state)
{
	struct fixture *f = *state;
	struct ids ids;

	assert_string_equal(list(f->reg, NULL, &ids), "cam-1,hub-1,t-eq,t-never,t-new,t-old");
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.group = "canary"}, &ids),
			    "t-new,t-old");
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.fw_version = "1.0.0"}, &ids),
			    "cam-1,hub-1,t-old");
	/* Strict bounds on the last report; never-reported devices match neither. */
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.by_seen_before = true,
									  .seen_before = 200},
				 &ids),
			    "cam-1,t-old");
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.by_seen_after = true,
									  .seen_after = 200},
				 &ids),
			    "hub-1,t-new");
	/* Expiry bound inclusive; a device without an expiry (0) has none. */
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.by_expires_before = true,
									  .expires_before = 6000},
				 &ids),
			    "t-eq,t-old");
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.by_outcome = true,
									  .outcome = FSEC_UPDATE_NONE},
				 &ids),
			    "cam-1,hub-1,t-never,t-new");
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.by_outcome = true,
									  .outcome = FSEC_UPDATE_FAILURE},
				 &ids),
			    "t-old");
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.update_state = "trial"},
				 &ids),
			    "t-new");
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.update_state = ""}, &ids),
			    "cam-1,hub-1,t-eq,t-never,t-old");
	assert_int_equal(fsec_registry_inventory_list(
				 f->reg, &(struct fsec_inventory_query){.update_state = "sleeping"},
				 collect, &ids),
			 FSEC_ERR_INVAL);
	/* AND. */
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.group = "canary",
									  .by_seen_after = true,
									  .seen_after = 100},
				 &ids),
			    "t-new");
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.model = "cam",
									  .fw_version = "2.0.0"},
				 &ids),
			    "");
	/* A value no record could hold is refused, not an empty answer. */
	assert_int_equal(fsec_registry_inventory_list(
				 f->reg, &(struct fsec_inventory_query){.group = "no body"}, collect,
				 &ids),
			 FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_inventory_list(
				 f->reg, &(struct fsec_inventory_query){.fw_version = "1\n2"}, collect,
				 &ids),
			 FSEC_ERR_INVAL);
}

struct agree {
	struct fsec_registry *reg;
	unsigned n;
};

static int check_agrees(const struct fsec_inventory_rec *r, void *arg)
{
	struct agree *a = arg;
	struct fsec_product_rec p;
	struct fsec_devstate_rec s;
	bool have_p = fsec_registry_product_get(a->reg, r->dev.model, &p) == FSEC_OK;
	bool have_s = fsec_registry_devstate_get(a->reg, r->dev.id, &s) == FSEC_OK;

	assert_int_equal(have_s, r->reported);
	assert_int_equal(fsec_registry_fw_outdated(have_p ? &p : NULL, have_s ? &s : NULL),
			 r->outdated);
	a->n++;
	return 0;
}

/* The backend's --outdated and the C rule the audit uses are one rule. */
static void outdated_rule_agrees(void **state)
{
	struct fixture *f = *state;
	struct agree a = {f->reg, 0};
	struct ids ids;

	assert_int_equal(fsec_registry_inventory_list(f->reg, NULL, check_agrees, &a), FSEC_OK);
	assert_int_equal(a.n, 6);
	assert_string_equal(list(f->reg, &(struct fsec_inventory_query){.outdated = true}, &ids),
			    "t-old");
	assert_false(fsec_registry_fw_outdated(NULL, NULL));
}

static void get_one(void **state)
{
	struct fixture *f = *state;
	struct fsec_inventory_rec r;

	assert_int_equal(fsec_registry_inventory_get(f->reg, "t-old", &r), FSEC_OK);
	assert_string_equal(r.group, "canary");
	assert_string_equal(r.mac, "aa:bb:cc:dd:ee:01");
	assert_string_equal(r.ip, "10.0.0.1");
	assert_true(r.reported && r.outdated);
	assert_string_equal(r.state.fw_version, "1.0.0");
	assert_int_equal(fsec_registry_inventory_get(f->reg, "t-new", &r), FSEC_OK);
	assert_string_equal(r.state.update_state, "trial");
	assert_string_equal(r.state.pending_version, "4.0.0");
	assert_int_equal(fsec_registry_inventory_get(f->reg, "t-never", &r), FSEC_OK);
	assert_false(r.reported);
	assert_int_equal(r.group[0], '\0');
	assert_int_equal(fsec_registry_inventory_get(f->reg, "nope", &r), FSEC_ERR_NOTFOUND);
	assert_int_equal(fsec_registry_inventory_get(f->reg, "bad id", &r), FSEC_ERR_INVAL);
}

static int collect_find(enum fsec_find_kind kind, const char *id, void *arg)
{
	struct ids *ids = arg;
	size_t len = strlen(ids->s);

	snprintf(ids->s + len, sizeof(ids->s) - len, "%s%s:%s", len > 0 ? "," : "",
		 fsec_find_kind_name(kind), id);
	return 0;
}

static const char *find(struct fsec_registry *reg, const char *needle, struct ids *ids)
{
	ids->s[0] = '\0';
	assert_int_equal(fsec_registry_device_find(reg, needle, collect_find, ids), FSEC_OK);
	return ids->s;
}

static void find_every_kind(void **state)
{
	struct fixture *f = *state;
	struct fsec_cert_rec c;
	struct ids ids;
	char colons[3 * 32];

	assert_string_equal(find(f->reg, "t-old", &ids), "id:t-old");
	assert_string_equal(find(f->reg, "0A1B", &ids), "serial:t-old");
	assert_string_equal(find(f->reg, "0a:1b", &ids), "serial:t-old");
	assert_string_equal(find(f->reg, FP_A, &ids), "fingerprint:t-old");
	/* openssl's spelling: upper case, colons. */
	for (size_t i = 0; i < 32; i++)
		memcpy(colons + 3 * i, i < 31 ? "AA:" : "AA", 3); /* the last with its NUL */
	assert_string_equal(find(f->reg, colons, &ids), "fingerprint:t-old");
	assert_string_equal(find(f->reg, SPKI_A, &ids), "spki:t-old");
	assert_string_equal(find(f->reg, "AA:BB:CC:DD:EE:01", &ids), "mac:t-old");
	assert_string_equal(find(f->reg, "10.0.0.1", &ids), "ip:t-old");
	assert_string_equal(find(f->reg, "10.0.0.2", &ids), "");
	assert_string_equal(find(f->reg, HEX64("e"), &ids), "");
	/* A superseded certificate still names its device. */
	memset(&c, 0, sizeof(c));
	snprintf(c.serial, sizeof(c.serial), "0C0D");
	snprintf(c.device_id, sizeof(c.device_id), "t-old");
	snprintf(c.fingerprint, sizeof(c.fingerprint), "%s", FP_A2);
	snprintf(c.spki_sha256, sizeof(c.spki_sha256), "%s", SPKI_A2);
	c.not_before = c.issued_at = 900;
	c.not_after = 2000;
	assert_int_equal(fsec_registry_cert_add(f->reg, &c, "PEM"), FSEC_OK);
	assert_string_equal(find(f->reg, "0c0d", &ids), "serial:t-old");
	assert_string_equal(find(f->reg, SPKI_A2, &ids), "spki:t-old");
	ids.s[0] = '\0';
	assert_int_equal(fsec_registry_device_find(f->reg, "", collect_find, &ids), FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_device_find(f->reg, "a\nb", collect_find, &ids),
			 FSEC_ERR_INVAL);
}

static int collect_event(const struct fsec_event_rec *e, void *arg)
{
	struct ids *ids = arg;
	size_t len = strlen(ids->s);

	snprintf(ids->s + len, sizeof(ids->s) - len, "%s%lld", len > 0 ? "," : "",
		 (long long)e->seq);
	return 0;
}

static const char *events(struct fsec_registry *reg, const struct fsec_event_filter *ef,
			  struct ids *ids)
{
	ids->s[0] = '\0';
	assert_int_equal(fsec_registry_event_query(reg, ef, collect_event, ids), FSEC_OK);
	return ids->s;
}

static void event_query(void **state)
{
	struct fixture *f = *state;
	static const struct {
		int64_t at;
		const char *action, *device;
	} evs[] = {{100, "issue", "t-old"}, {200, "issue", "t-eq"},
		   {300, "device-set", "t-old"}, {400, "enroll-refused", NULL},
		   {500, "revoke", "t-old"}};
	struct fsec_event_rec e;
	struct ids ids;

	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		memset(&e, 0, sizeof(e));
		e.at = evs[i].at;
		snprintf(e.actor, sizeof(e.actor), "test");
		snprintf(e.action, sizeof(e.action), "%s", evs[i].action);
		snprintf(e.device_id, sizeof(e.device_id), "%s", evs[i].device ? evs[i].device : "");
		assert_int_equal(fsec_registry_event_add(f->reg, &e), FSEC_OK);
	}
	assert_string_equal(events(f->reg, NULL, &ids), "1,2,3,4,5");
	assert_string_equal(events(f->reg, &(struct fsec_event_filter){.device_id = "t-old"}, &ids),
			    "1,3,5");
	assert_string_equal(events(f->reg, &(struct fsec_event_filter){.action = "issue"}, &ids),
			    "1,2");
	assert_string_equal(events(f->reg, &(struct fsec_event_filter){.since = 300}, &ids), "3,4,5");
	assert_string_equal(events(f->reg, &(struct fsec_event_filter){.after_seq = 4}, &ids), "5");
	assert_string_equal(events(f->reg, &(struct fsec_event_filter){.after_seq = 5}, &ids), "");
	/* The newest N, still oldest first. */
	assert_string_equal(events(f->reg,
				   &(struct fsec_event_filter){.device_id = "t-old", .last = 2}, &ids),
			    "3,5");
	assert_string_equal(events(f->reg,
				   &(struct fsec_event_filter){.action = "issue", .since = 150,
							       .device_id = "t-eq"},
				   &ids),
			    "2");
	assert_int_equal(fsec_registry_event_query(
				 f->reg, &(struct fsec_event_filter){.device_id = "bad id"},
				 collect_event, &ids),
			 FSEC_ERR_INVAL);
	assert_int_equal(fsec_registry_event_query(
				 f->reg, &(struct fsec_event_filter){.after_seq = -1}, collect_event,
				 &ids),
			 FSEC_ERR_INVAL);
}

/* est.c logs a refusal as an event the first time only: the registry must
 * tell a new (credential, reason) row from a repeat. */
static void refusal_first(void **state)
{
	struct fixture *f = *state;
	struct fsec_refusal_rec r;
	bool created = false;

	memset(&r, 0, sizeof(r));
	snprintf(r.credential, sizeof(r.credential), "%s", FP_A);
	snprintf(r.reason, sizeof(r.reason), "simpleenroll 403 serial # is not allowed");
	r.count = 1;
	r.first_at = r.last_at = 100;
	assert_int_equal(fsec_registry_refusal_add(f->reg, &r, &created), FSEC_OK);
	assert_true(created);
	r.last_at = 200;
	assert_int_equal(fsec_registry_refusal_add(f->reg, &r, &created), FSEC_OK);
	assert_false(created);
	r.count = 5; /* a held batch is still a repeat */
	assert_int_equal(fsec_registry_refusal_add(f->reg, &r, &created), FSEC_OK);
	assert_false(created);
	snprintf(r.reason, sizeof(r.reason), "simpleenroll 403 another reason");
	assert_int_equal(fsec_registry_refusal_add(f->reg, &r, NULL), FSEC_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(filters, setup, teardown),
		cmocka_unit_test_setup_teardown(outdated_rule_agrees, setup, teardown),
		cmocka_unit_test_setup_teardown(get_one, setup, teardown),
		cmocka_unit_test_setup_teardown(find_every_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(event_query, setup, teardown),
		cmocka_unit_test_setup_teardown(refusal_first, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
