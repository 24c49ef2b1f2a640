/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's sessions follow revocations (mqtt.h, fsec_mqtt_broker_poll):
 * a session whose device is revoked by another process is kicked at the
 * next poll. On PostgreSQL the poll follows the change feed, whose
 * notification is consumed when read: a poll that reads it and then fails
 * to read the log (here the events table is renamed away for a moment)
 * must not forget it, and the next poll kicks. Run on both backends
 * (unit_broker, unit_broker_pg).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fleetsec/fleet.h"
#include "fleetsec/mqtt.h"
#include "testutil.h"

struct kicks {
	unsigned n;
	char last[FSEC_DEVID_MAX + 1];
};

static void on_kick(const void *conn, const char *device_id, const char *reason, void *ctx)
{
	struct kicks *k = ctx;

	(void)conn;
	(void)reason;
	k->n++;
	snprintf(k->last, sizeof(k->last), "%s", device_id);
}

static void test_revocation_kicks(void **state)
{
	struct fsec_fleet_create_params p = {.name = "Broker Unit", .actor = "test"};
	struct fsec_issue_opts o = {.id = "dev-1", .actor = "test"};
	struct fsec_issued_cert c = {0};
	struct fsec_fleet *f = NULL;
	struct fsec_mqtt_broker *b = NULL;
	struct kicks k = {0};
	char *dir = tu_mkdtemp(), *home = tu_path(dir, "home"), reason[256], id[FSEC_DEVID_MAX + 1];
	char *url = tu_registry(dir);
	EVP_PKEY *key = tu_key("p256");
	X509_REQ *req = tu_csr(key, "dev-1");
	const unsigned char *der;
	X509 *cert;
	bool allowed = false;
	size_t kicked = 0;
	int conn = 0;

	(void)state;
	p.registry = tu_pg() ? url : NULL;
	assert_int_equal(fsec_fleet_create(home, &p), FSEC_OK);
	assert_int_equal(fsec_fleet_open(home, &f), FSEC_OK);
	assert_int_equal(fsec_fleet_issue(f, req, &o, &c), FSEC_OK);
	der = c.der;
	assert_non_null(cert = d2i_X509(NULL, &der, (long)c.der_len));

	assert_int_equal(fsec_mqtt_broker_new(home, NULL, &b), FSEC_OK);
	assert_int_equal(fsec_mqtt_broker_auth(b, &conn, cert, "dev-1", &allowed, reason,
					       sizeof(reason), id),
			 FSEC_OK);
	assert_true(allowed);
	assert_int_equal(fsec_mqtt_broker_poll(b, on_kick, &k, &kicked), FSEC_OK);
	assert_int_equal(k.n, 0);

	assert_int_equal(fsec_fleet_revoke(f, "dev-1", 1, "test"), FSEC_OK);
	if (tu_pg()) {
		enum fsec_err rc = FSEC_OK;

		/* The poll reads the notification, then cannot read the log.
		 * The notification may take a moment to reach the feed's
		 * socket: polls before it find nothing and succeed. */
		assert_int_equal(tu_sql(url, "ALTER TABLE events RENAME TO events_away"), 0);
		for (int i = 0; i < 100 && rc == FSEC_OK; i++) {
			rc = fsec_mqtt_broker_poll(b, on_kick, &k, &kicked);
			if (rc == FSEC_OK)
				usleep(20000);
		}
		assert_int_not_equal(rc, FSEC_OK);
		assert_int_equal(k.n, 0);
		assert_int_equal(tu_sql(url, "ALTER TABLE events_away RENAME TO events"), 0);
	}
	/* Nothing new was logged since: the kick comes from what the poll
	 * owed. */
	assert_int_equal(fsec_mqtt_broker_poll(b, on_kick, &k, &kicked), FSEC_OK);
	assert_int_equal(k.n, 1);
	assert_int_equal(kicked, 1);
	assert_string_equal(k.last, "dev-1");

	fsec_mqtt_broker_free(b);
	X509_free(cert);
	fsec_issued_cert_cleanup(&c);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	fsec_fleet_free(f);
	tu_rmtree(dir);
	free(url);
	free(home);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_revocation_kicks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
