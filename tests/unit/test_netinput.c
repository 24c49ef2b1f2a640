/* SPDX-License-Identifier: Apache-2.0 */
/* network/netinput.c: which fleet devices enter a policy, and where MUD
 * files and their signatures are looked for. */
#include <stdlib.h>
#include <string.h>

#include "fleetsec/netinput.h"
#include "testutil.h"

#define POLICY                                                                                \
	"{\"version\": 1, \"zones\": {"                                                       \
	"\"iot\": [{\"name\": \"iot\", \"vlan\": 20, \"interface\": \"br-iot\","              \
	"  \"subnets\": [\"10.20.0.0/24\"], \"router\": \"10.20.0.1\"}],"                    \
	"\"wan\": {\"interface\": \"wan0\"}},"                                                \
	"\"classes\": [{\"name\": \"cam\", \"models\": [\"cam-v2\"], \"allow\": ["             \
	"   {\"host\": \"203.0.113.10\", \"proto\": \"tcp\", \"port\": 443}]}]}"

static struct fsec_netpolicy *load(void)
{
	struct fsec_netpolicy *p = NULL;

	assert_int_equal(fsec_netpolicy_parse((const unsigned char *)POLICY, strlen(POLICY), &p),
			 FSEC_OK);
	return p;
}

/* A revoked device keeps nothing of its class: it enters the quarantine
 * class, whose only endpoint is fleetsecd. An unknown status is left out,
 * so that its address meets the default deny. */
static void only_active_devices_enter(void **state)
{
	const struct fsec_netinput_device devs[] = {
		{"cam-1", "cam-v2", FSEC_DEVICE_ACTIVE, "02:00:00:00:00:01", "10.20.0.11", false},
		{"cam-2", "cam-v2", FSEC_DEVICE_REVOKED, "02:00:00:00:00:02", "10.20.0.12", false},
		{"cam-3", "cam-v2", (enum fsec_dev_status)7, "", "10.20.0.13", false},
		{"cam-4", "cam-v2", (enum fsec_dev_status)0, "", "10.20.0.14", false},
		{"cam-5", "cam", FSEC_DEVICE_ACTIVE, "", "10.20.0.15", false}, /* no MAC: "" is none */
		/* reported a tamper event: quarantined as cam-2 is */
		{"cam-6", "cam-v2", FSEC_DEVICE_ACTIVE, "", "10.20.0.16", true},
	};
	const bool want[] = {true, true, false, false, true, true};
	const struct fsec_netpolicy_opts o = {.fleetsecd = "203.0.113.10:8443"};
	struct fsec_netpolicy *p = load();
	struct fsec_netpolicy_verdict v;
	struct fsec_netpolicy_stats st;

	(void)state;
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		bool added = !want[i];

		assert_int_equal(fsec_netinput_add_device(p, &devs[i], &added), FSEC_OK);
		assert_int_equal(added, want[i]);
	}
	assert_int_equal(fsec_netpolicy_prepare(p, &o), FSEC_OK);
	fsec_netpolicy_get_stats(p, &st);
	assert_int_equal(st.devices, 4);
	assert_int_equal(fsec_netpolicy_explain(p, "10.20.0.11", "203.0.113.10", "tcp", 443, &v),
			 FSEC_OK);
	assert_true(v.allow);
	assert_int_equal(fsec_netpolicy_explain(p, "10.20.0.15", "203.0.113.10", "tcp", 443, &v),
			 FSEC_OK);
	assert_true(v.allow);
	/* the revoked camera: fleetsecd only */
	assert_int_equal(fsec_netpolicy_explain(p, "10.20.0.12", "203.0.113.10", "tcp", 443, &v),
			 FSEC_OK);
	assert_false(v.allow);
	assert_string_equal(v.rule, "drop_quarantined");
	assert_int_equal(fsec_netpolicy_explain(p, "10.20.0.12", "203.0.113.10", "tcp", 8443, &v),
			 FSEC_OK);
	assert_true(v.allow);
	/* the tampered camera: fleetsecd only, the same */
	assert_int_equal(fsec_netpolicy_explain(p, "10.20.0.16", "203.0.113.10", "tcp", 443, &v),
			 FSEC_OK);
	assert_false(v.allow);
	assert_string_equal(v.rule, "drop_quarantined");
	assert_int_equal(fsec_netpolicy_explain(p, "10.20.0.16", "203.0.113.10", "tcp", 8443, &v),
			 FSEC_OK);
	assert_true(v.allow);
	for (size_t i = 2; i <= 3; i++) {
		assert_int_equal(fsec_netpolicy_explain(p, devs[i].ip, "203.0.113.10", "tcp", 443,
							&v),
				 FSEC_OK);
		assert_false(v.allow);
		assert_string_equal(v.rule, "drop_iot_unknown");
	}
	fsec_netpolicy_free(p);
}

/* An active device with a bad address is refused, as by add_device. */
static void bad_active_device_is_refused(void **state)
{
	const struct fsec_netinput_device d = {"cam-1", "cam-v2", FSEC_DEVICE_ACTIVE, "zz", "", false};
	const struct fsec_netinput_device none = {"cam-1", "cam-v2", FSEC_DEVICE_ACTIVE, "", "", false};
	struct fsec_netpolicy *p = load();
	bool added = true;

	(void)state;
	assert_int_equal(fsec_netinput_add_device(p, &d, &added), FSEC_ERR_PARSE);
	assert_false(added);
	assert_int_equal(fsec_netinput_add_device(p, &none, NULL), FSEC_ERR_INVAL);
	fsec_netpolicy_free(p);
}

static void mud_dir_is_the_policy_directory(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(fsec_netinput_mud_dir("/etc/fleetsec/policy.json", buf, sizeof(buf)),
			 FSEC_OK);
	assert_string_equal(buf, "/etc/fleetsec");
	assert_int_equal(fsec_netinput_mud_dir("policy.json", buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, ".");
	assert_int_equal(fsec_netinput_mud_dir("net/policy.json", buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, "net");
	assert_int_equal(fsec_netinput_mud_dir("/policy.json", buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, "/");
	assert_int_equal(fsec_netinput_mud_dir("/a/directory/name/too/long/for/it/p.json", buf,
					       sizeof(buf)),
			 FSEC_ERR_TOO_LARGE);
	assert_string_equal(buf, "");
}

static void mud_signature_sits_beside(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(fsec_netinput_mud_sig_path("cam.json", buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, "cam.p7s");
	assert_int_equal(fsec_netinput_mud_sig_path("cam.mud", buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, "cam.mud.p7s");
	assert_int_equal(fsec_netinput_mud_sig_path(".json", buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, ".json.p7s"); /* no stem: not a .json file's name */
	/* Exactly full, and one over. */
	assert_int_equal(fsec_netinput_mud_sig_path("abcdefghijk.json", buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, "abcdefghijk.p7s");
	assert_int_equal(fsec_netinput_mud_sig_path("abcdefghijkl.json", buf, sizeof(buf)),
			 FSEC_ERR_TOO_LARGE);
	assert_string_equal(buf, "");
	assert_int_equal(fsec_netinput_mud_sig_path("a", buf, 4), FSEC_ERR_TOO_LARGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(only_active_devices_enter),
		cmocka_unit_test(bad_active_device_is_refused),
		cmocka_unit_test(mud_dir_is_the_policy_directory),
		cmocka_unit_test(mud_signature_sits_beside),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
