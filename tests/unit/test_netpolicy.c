/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "fleetsec/netpolicy.h"
#include "fleetsec/netsync.h"
#include "testutil.h"

/* A policy without MUD files: every decision below comes from it alone. */
#define POLICY                                                                                \
	"{\"version\": 1, \"zones\": {"                                                       \
	"\"iot\": [{\"name\": \"iot\", \"vlan\": 20, \"interface\": \"br-iot\","              \
	"  \"subnets\": [\"10.20.0.0/24\"], \"router\": \"10.20.0.1\"}],"                    \
	"\"lan\": {\"interface\": \"lan0\", \"subnets\": [\"192.168.1.0/24\"], \"router\": \"192.168.1.1\"}," \
	"\"wan\": {\"interface\": \"wan0\"},"                                                 \
	"\"mgmt\": {\"interface\": \"mgmt0\", \"subnets\": [\"10.99.0.0/24\"]}},"             \
	"\"classes\": ["                                                                      \
	" {\"name\": \"cam\", \"models\": [\"cam-v2\"], \"allow\": ["                         \
	"   {\"host\": \"203.0.113.10\", \"proto\": \"tcp\", \"port\": 443},"                 \
	"   {\"host\": \"198.51.100.0/24\", \"proto\": \"udp\", \"port\": \"5000-5010\"},"    \
	"   {\"host\": \"cloud.example.com\", \"proto\": \"tcp\", \"port\": 8883}]},"         \
	" {\"name\": \"hub\"}],"                                                             \
	"\"devices\": ["                                                                      \
	" {\"id\": \"cam-1\", \"mac\": \"02:00:00:00:00:01\", \"ip\": \"10.20.0.11\", \"class\": \"cam\"}," \
	" {\"id\": \"hub-1\", \"mac\": \"02:00:00:00:00:02\", \"ip\": \"10.20.0.12\", \"class\": \"hub\"}]," \
	"\"exceptions\": [{\"from\": \"hub\", \"to\": \"cam\", \"proto\": \"tcp\", \"port\": 554}]," \
	"\"management\": [{\"host\": \"10.99.0.10\", \"proto\": \"tcp\", \"port\": 22, \"classes\": [\"cam\"]}]}"

static struct fsec_netpolicy *load(const char *text)
{
	struct fsec_netpolicy *p = NULL;

	assert_int_equal(fsec_netpolicy_parse((const unsigned char *)text, strlen(text), &p), FSEC_OK);
	return p;
}

static void decisions(void **state)
{
	static const struct {
		const char *src, *dst, *proto;
		unsigned port;
		bool allow;
		const char *rule;
	} cases[] = {
		{"10.20.0.11", "203.0.113.10", "tcp", 443, true, "class cam: @ep4i"},
		{"cam-1", "198.51.100.7", "udp", 5005, true, "class cam: @ep4i"},
		{"10.20.0.11", "198.51.100.7", "udp", 5011, false, "drop_iot_to_wan"},
		{"10.20.0.11", "203.0.113.10", "tcp", 444, false, "drop_iot_to_wan"},
		{"10.20.0.11", "203.0.113.10", "udp", 443, false, "drop_iot_to_wan"},
		{"10.20.0.12", "203.0.113.10", "tcp", 443, false, "drop_iot_to_wan"},
		{"10.20.0.12", "10.20.0.11", "tcp", 554, true, "class hub: @pair"},
		{"10.20.0.11", "10.20.0.12", "tcp", 554, false, "drop_iot_to_iot"},
		{"02:00:00:00:00:02", "10.20.0.11", "tcp", 555, false, "drop_iot_to_iot"},
		{"10.20.0.11", "192.168.1.5", "tcp", 445, false, "drop_iot_to_lan"},
		{"10.20.0.11", "10.99.0.10", "tcp", 22, false, "drop_iot_to_mgmt"},
		{"10.20.0.11", "10.20.0.1", "udp", 67, true, "iot_to_router"},
		{"10.20.0.11", "10.20.0.1", "udp", 123, true, "iot_to_router"},
		{"10.20.0.11", "10.20.0.1", "tcp", 53, true, "iot_to_router"},
		{"10.20.0.11", "10.20.0.1", "tcp", 22, false, "drop_iot_to_router"},
		{"10.20.0.11", "8.8.8.8", "udp", 53, false, "drop_iot_foreign_dns"},
		{"10.20.0.99", "203.0.113.10", "tcp", 443, false, "drop_iot_unknown"},
		{"203.0.113.10", "10.20.0.11", "tcp", 443, false, "drop_wan_to_iot"},
		{"192.168.1.5", "10.20.0.11", "tcp", 22, false, "drop_lan_to_iot"},
		{"10.99.0.10", "10.20.0.11", "tcp", 22, true, "to_iot: @mgmt"},
		{"10.99.0.10", "10.20.0.12", "tcp", 22, false, "drop_mgmt_to_iot"},
		{"10.99.0.10", "10.20.0.11", "tcp", 23, false, "drop_mgmt_to_iot"},
		{"192.168.1.5", "203.0.113.10", "tcp", 443, true, "lan_to_wan"},
		{"203.0.113.10", "192.168.1.5", "tcp", 22, false, "drop_forward_other"},
		{"192.168.1.5", "10.99.0.10", "tcp", 22, false, "drop_forward_other"},
		/* The router's own addresses: input from IoT zones only is filtered. */
		{"10.20.0.11", "192.168.1.1", "tcp", 22, false, "drop_iot_to_router"},
		{"10.20.0.11", "192.168.1.1", "udp", 53, true, "iot_to_router"},
		{"192.168.1.5", "10.20.0.1", "tcp", 22, true, "input"},
	};
	struct fsec_netpolicy *p = load(POLICY);
	struct fsec_netpolicy_verdict v;

	(void)state;
	assert_int_equal(fsec_netpolicy_explain(p, "10.20.0.11", "1.1.1.1", "tcp", 1, &v),
			 FSEC_ERR_INVAL); /* not prepared */
	assert_int_equal(fsec_netpolicy_prepare(p, NULL), FSEC_OK);
	assert_int_equal(fsec_netpolicy_prepare(p, NULL), FSEC_ERR_INVAL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(fsec_netpolicy_explain(p, cases[i].src, cases[i].dst, cases[i].proto,
							cases[i].port, &v),
				 FSEC_OK);
		if (v.allow != cases[i].allow || strcmp(v.rule, cases[i].rule) != 0)
			fail_msg("case %zu (%s -> %s %s/%u): got %s %s (%s)", i, cases[i].src,
				 cases[i].dst, cases[i].proto, cases[i].port, v.allow ? "allow" : "deny",
				 v.rule, v.detail);
	}
	/* The DNS name is never an address: explain names it instead. */
	assert_int_equal(fsec_netpolicy_explain(p, "cam-1", "203.0.113.99", "tcp", 8883, &v), FSEC_OK);
	assert_false(v.allow);
	assert_non_null(strstr(v.detail, "cloud.example.com"));
	assert_int_equal(fsec_netpolicy_explain(p, "cam-1", "203.0.113.99", "icmp", 0, &v),
			 FSEC_ERR_PARSE);
	assert_int_equal(fsec_netpolicy_explain(p, "cam-1", "not-an-ip", "tcp", 1, &v),
			 FSEC_ERR_PARSE);
	fsec_netpolicy_free(p);
}

/* Every allowance explain reports is in the rendered ruleset, keyed the
 * same way; names never appear in rules. */
static void render_matches_model(void **state)
{
	struct fsec_netpolicy *p = load(POLICY);
	struct fsec_netpolicy_stats st;
	char *nft = NULL, *dm = NULL;
	size_t nlen = 0, dlen = 0;

	(void)state;
	assert_int_equal(fsec_netpolicy_render(p, &nft, &nlen, &dm, &dlen), FSEC_ERR_INVAL);
	assert_int_equal(fsec_netpolicy_prepare(p, NULL), FSEC_OK);
	assert_int_equal(fsec_netpolicy_render(p, &nft, &nlen, &dm, &dlen), FSEC_OK);
	assert_int_equal(strlen(nft), nlen);
	assert_non_null(strstr(nft, "add element inet fleetsec ep4i { 1 . 203.0.113.10 . tcp . 443 "
				    "comment \"cam\", 1 . 198.51.100.0/24 . udp . 5000-5010 "
				    "comment \"cam\" }"));
	assert_non_null(strstr(nft, "02:00:00:00:00:01 . 10.20.0.11 : 1"));
	assert_non_null(strstr(nft, "add element inet fleetsec pair { 2 . 1 . tcp . 554 "
				    "comment \"hub -> cam\" }"));
	/* no quarantine endpoint without opts.fleetsecd */
	assert_null(strstr(nft, "65535 . "));
	assert_non_null(strstr(nft, "10.20.0.11 : 1"));
	assert_non_null(strstr(nft, "10.99.0.10 . 1 . tcp . 22"));
	assert_null(strstr(nft, "10.99.0.10 . 2 . tcp . 22")); /* the grant names cam only */
	assert_non_null(strstr(nft, "add rule inet fleetsec dns_cam ip daddr @d4_cam_tcp_8883 tcp "
				    "dport 8883 accept"));
	assert_non_null(strstr(nft, "add element inet fleetsec dns_class { 1 : jump dns_cam }"));
	assert_non_null(strstr(dm, "nftset=/cloud.example.com/4#inet#fleetsec#d4_cam_tcp_8883\n"));
	/* the DNS set is declared, never flushed: a reload keeps what was learned */
	assert_null(strstr(nft, "flush set inet fleetsec d4_"));
	fsec_netpolicy_get_stats(p, &st);
	assert_int_equal(st.classes, 2);
	assert_int_equal(st.devices, 2);
	assert_int_equal(st.endpoints, 2);
	assert_int_equal(st.dns_names, 1);
	assert_int_equal(st.pairs, 1);
	free(nft);
	free(dm);
	fsec_netpolicy_free(p);
}

static void registry_devices(void **state)
{
	struct fsec_netpolicy *p = load(POLICY);
	struct fsec_netpolicy_verdict v;

	(void)state;
	assert_int_equal(fsec_netpolicy_add_device(p, "cam-2", "02:00:00:00:00:03", "10.20.0.13",
						   "cam-v2"),
			 FSEC_OK);
	assert_int_equal(fsec_netpolicy_add_device(p, "toaster", "02:00:00:00:00:04", NULL, "t-1"),
			 FSEC_OK);
	assert_int_equal(fsec_netpolicy_warning_count(p), 1);
	assert_non_null(strstr(fsec_netpolicy_warning_get(p, 0), "belongs to no class"));
	assert_int_equal(fsec_netpolicy_add_device(p, "x", NULL, NULL, "cam"), FSEC_ERR_INVAL);
	assert_int_equal(fsec_netpolicy_add_device(p, "x", "zz", NULL, "cam"), FSEC_ERR_PARSE);
	assert_int_equal(fsec_netpolicy_prepare(p, NULL), FSEC_OK);
	assert_int_equal(fsec_netpolicy_explain(p, "10.20.0.13", "203.0.113.10", "tcp", 443, &v),
			 FSEC_OK);
	assert_true(v.allow);
	assert_int_equal(fsec_netpolicy_add_device(p, "late", "02:00:00:00:00:09", NULL, "cam"),
			 FSEC_ERR_INVAL);
	fsec_netpolicy_free(p);
}

/* A revoked device is quarantined: fleetsecd only, in explain and in the
 * ruleset; a bad fleetsecd refuses the prepare. */
static void quarantine(void **state)
{
	struct fsec_netpolicy_opts o = {.fleetsecd = "10.99.0.5:8443"};
	struct fsec_netpolicy *p = load(POLICY);
	struct fsec_netpolicy_verdict v;
	char *nft = NULL, *dm = NULL;
	size_t nlen = 0, dlen = 0;

	(void)state;
	assert_int_equal(fsec_netpolicy_add_quarantined(p, "old", "02:00:00:00:00:07", "10.20.0.17"),
			 FSEC_OK);
	assert_int_equal(fsec_netpolicy_add_quarantined(p, "x", NULL, NULL), FSEC_ERR_INVAL);
	assert_int_equal(fsec_netpolicy_prepare(p, &o), FSEC_OK);
	assert_int_equal(fsec_netpolicy_explain(p, "old", "10.99.0.5", "tcp", 8443, &v), FSEC_OK);
	assert_true(v.allow);
	assert_string_equal(v.rule, "quarantine: @ep4i");
	assert_int_equal(fsec_netpolicy_explain(p, "old", "10.99.0.5", "tcp", 8444, &v), FSEC_OK);
	assert_false(v.allow);
	assert_string_equal(v.rule, "drop_quarantined");
	/* the camera class's endpoint is not the quarantined device's */
	assert_int_equal(fsec_netpolicy_explain(p, "old", "203.0.113.10", "tcp", 443, &v), FSEC_OK);
	assert_string_equal(v.rule, "drop_quarantined");
	/* nor may the management host reach it */
	assert_int_equal(fsec_netpolicy_explain(p, "10.99.0.10", "10.20.0.17", "tcp", 22, &v), FSEC_OK);
	assert_false(v.allow);
	assert_int_equal(fsec_netpolicy_render(p, &nft, &nlen, &dm, &dlen), FSEC_OK);
	assert_non_null(strstr(nft, "02:00:00:00:00:07 . 10.20.0.17 : 65535"));
	assert_non_null(strstr(nft, "10.20.0.17 : 65535"));
	assert_non_null(strstr(nft, "65535 . 10.99.0.5 . tcp . 8443 comment \"quarantine: fleetsecd\""));
	free(nft);
	free(dm);
	fsec_netpolicy_free(p);
	for (size_t i = 0; i < 4; i++) {
		static const char *const bad[] = {"10.99.0.5", "10.99.0.5:0", "x:1", "10.99.0.5:1a"};

		o.fleetsecd = bad[i];
		p = load(POLICY);
		assert_int_equal(fsec_netpolicy_prepare(p, &o), FSEC_ERR_PARSE);
		fsec_netpolicy_free(p);
	}
}

/* What nft -j list prints for a table whose class_macip4 map holds the
 * elements given (the other device maps as compiled from POLICY). */
static char *listing(const char *legend, const char *macip4)
{
	static const char fmt[] =
		"{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\"}},"
		" {\"table\": {\"family\": \"inet\", \"name\": \"fleetsec\"}},"
		" {\"set\": {\"family\": \"inet\", \"name\": \"classes\", \"table\": \"fleetsec\","
		"  \"type\": \"mark\", \"elem\": [%s]}},"
		" {\"map\": {\"family\": \"inet\", \"name\": \"class_macip4\", \"table\": \"fleetsec\","
		"  \"type\": [\"ether_addr\", \"ipv4_addr\"], \"map\": \"mark\", \"elem\": [%s]}},"
		" {\"map\": {\"name\": \"class_mac4\", \"table\": \"fleetsec\"}},"
		" {\"map\": {\"name\": \"class_mac\", \"table\": \"fleetsec\", \"elem\": ["
		"  [\"02:00:00:00:00:01\", 1], [\"02:00:00:00:00:02\", 2]]}},"
		" {\"map\": {\"name\": \"class_ip4\", \"table\": \"fleetsec\"}},"
		" {\"map\": {\"name\": \"dst_class\", \"table\": \"fleetsec\", \"elem\": ["
		"  [\"10.20.0.11\", 1], [\"10.20.0.12\", 2]]}}]}";
	size_t n = sizeof(fmt) + strlen(legend) + strlen(macip4);
	char *out = malloc(n);

	assert_non_null(out);
	snprintf(out, n, fmt, legend, macip4);
	return out;
}

#define LEGEND                                                                                \
	"{\"elem\": {\"val\": 1, \"comment\": \"cam\"}}, {\"elem\": {\"val\": 2, \"comment\": " \
	"\"hub\"}}, {\"elem\": {\"val\": 65535, \"comment\": \"quarantine\"}}"
#define MACIP(mac, ip, mark) "[{\"concat\": [\"" mac "\", \"" ip "\"]}, " #mark "]"

/* net sync's diff: what the kernel holds against the policy and the
 * registry's changes, as nft batches; and what it refuses to read. */
static void sync_diff(void **state)
{
	struct fsec_netpolicy *p = load(POLICY);
	struct fsec_netsync *ns = NULL;
	struct fsec_netsync_stats st;
	struct fsec_netinput_device dev = {.id = "cam-9", .model = "cam-v2",
					    .status = FSEC_DEVICE_ACTIVE,
					    .mac = "02:00:00:00:00:09", .ip = "10.20.0.19"};
	char *json, *script = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(fsec_netsync_new(p, &ns), FSEC_ERR_INVAL); /* not prepared */
	assert_int_equal(fsec_netpolicy_prepare(p, NULL), FSEC_OK);
	assert_int_equal(fsec_netsync_new(p, &ns), FSEC_OK);
	assert_int_equal(fsec_netsync_diff(ns, &script, &len, &st), FSEC_ERR_INVAL); /* not read */
	/* The kernel has hub-1 in the wrong class and a stale device. */
	json = listing(LEGEND, MACIP("02:00:00:00:00:01", "10.20.0.11", 1) ", "
			       MACIP("02:00:00:00:00:02", "10.20.0.12", 1) ", "
			       MACIP("02:00:00:00:00:05", "10.20.0.15", 1));
	assert_int_equal(fsec_netsync_load(ns, json, strlen(json)), FSEC_OK);
	free(json);
	assert_int_equal(fsec_netsync_diff(ns, &script, &len, &st), FSEC_OK);
	assert_string_equal(script, "delete element inet fleetsec class_macip4 { "
				    "02:00:00:00:00:02 . 10.20.0.12, 02:00:00:00:00:05 . 10.20.0.15 }\n"
				    "add element inet fleetsec class_macip4 { "
				    "02:00:00:00:00:02 . 10.20.0.12 : 2 }\n");
	assert_int_equal(st.deleted, 2);
	assert_int_equal(st.added, 1);
	assert_int_equal(st.devices, 2);
	free(script);
	fsec_netsync_applied(ns);
	assert_int_equal(fsec_netsync_diff(ns, &script, &len, &st), FSEC_OK);
	assert_string_equal(script, "");
	free(script);
	/* A registry device enters its class; revoked, it is quarantined;
	 * without an address it leaves. */
	assert_int_equal(fsec_netsync_device(ns, &dev, false), FSEC_OK);
	assert_int_equal(fsec_netsync_diff(ns, &script, &len, &st), FSEC_OK);
	assert_non_null(strstr(script, "add element inet fleetsec class_macip4 { 02:00:00:00:00:09 . "
				       "10.20.0.19 : 1 }\n"));
	assert_non_null(strstr(script, "add element inet fleetsec dst_class { 10.20.0.19 : 1 }\n"));
	assert_null(strstr(script, "delete"));
	free(script);
	fsec_netsync_applied(ns);
	dev.status = FSEC_DEVICE_REVOKED;
	assert_int_equal(fsec_netsync_device(ns, &dev, false), FSEC_OK);
	assert_int_equal(fsec_netsync_diff(ns, &script, &len, &st), FSEC_OK);
	assert_string_equal(script,
			    "delete element inet fleetsec class_macip4 { 02:00:00:00:00:09 . 10.20.0.19 }\n"
			    "delete element inet fleetsec class_mac { 02:00:00:00:00:09 }\n"
			    "delete element inet fleetsec dst_class { 10.20.0.19 }\n"
			    "add element inet fleetsec class_macip4 { 02:00:00:00:00:09 . 10.20.0.19 : 65535 }\n"
			    "add element inet fleetsec class_mac { 02:00:00:00:00:09 : 65535 }\n"
			    "add element inet fleetsec dst_class { 10.20.0.19 : 65535 }\n");
	assert_int_equal(st.quarantined, 1);
	free(script);
	fsec_netsync_applied(ns);
	/* An address change moves its keys. */
	dev.ip = "10.20.0.29";
	assert_int_equal(fsec_netsync_device(ns, &dev, false), FSEC_OK);
	assert_int_equal(fsec_netsync_diff(ns, &script, &len, &st), FSEC_OK);
	assert_non_null(strstr(script, "delete element inet fleetsec dst_class { 10.20.0.19 }\n"));
	assert_non_null(strstr(script, "add element inet fleetsec dst_class { 10.20.0.29 : 65535 }\n"));
	assert_null(strstr(script, "class_mac {")); /* the MAC's element is unchanged */
	free(script);
	fsec_netsync_applied(ns);
	assert_int_equal(fsec_netsync_device(ns, &dev, true), FSEC_OK);
	assert_int_equal(fsec_netsync_diff(ns, &script, &len, &st), FSEC_OK);
	assert_null(strstr(script, "add"));
	assert_non_null(strstr(script, "delete element inet fleetsec class_mac { 02:00:00:00:00:09 }"));
	free(script);
	/* Not applied (nft refused): the next diff says the same again. */
	assert_int_equal(fsec_netsync_diff(ns, &script, &len, &st), FSEC_OK);
	assert_non_null(strstr(script, "delete element inet fleetsec class_mac { 02:00:00:00:00:09 }"));
	free(script);
	/* Refusals: another policy's classes, a missing map, not nft's JSON. */
	json = listing("{\"elem\": {\"val\": 1, \"comment\": \"hub\"}}", "");
	assert_int_equal(fsec_netsync_load(ns, json, strlen(json)), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "class 1 is \"hub\", the policy's \"cam\""));
	free(json);
	json = listing("{\"elem\": {\"val\": 1, \"comment\": \"cam\"}}", "");
	assert_int_equal(fsec_netsync_load(ns, json, strlen(json)), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "1 classes and no quarantine, the policy 2"));
	free(json);
	assert_int_equal(fsec_netsync_load(ns, "{\"nftables\": []}", 16), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "no map class_macip4"));
	assert_int_equal(fsec_netsync_load(ns, "[1", 2), FSEC_ERR_PARSE);
	json = listing(LEGEND, "[\"02:00:00:00:00:01\", 1]");
	assert_int_equal(fsec_netsync_load(ns, json, strlen(json)), FSEC_ERR_PARSE);
	free(json);
	json = listing(LEGEND, MACIP("02:00:00:00:00:01", "10.20.0.11", 0));
	assert_int_equal(fsec_netsync_load(ns, json, strlen(json)), FSEC_ERR_PARSE);
	free(json);
	fsec_netsync_free(ns);
	fsec_netsync_free(NULL);
	fsec_netpolicy_free(p);
}

static void refusals(void **state)
{
	const char *const cases[][3] = {
		{"\"exceptions\"", "\"exeptions\"", "$: unknown member \"exeptions\""},
		{"\"02:00:00:00:00:01\"", "\"02:00:00:00:00\"", "$.devices[0]: \"02:00:00:00:00\" is not a MAC"},
		{"\"ip\": \"10.20.0.11\"", "\"ip\": \"10.20.0.256\"", "$.devices[0]: \"10.20.0.256\" is not an IPv4"},
		{"\"class\": \"hub\"}", "\"class\": \"fridge\"}", "$.devices[1]: class \"fridge\" is not defined"},
		{"{\"name\": \"hub\"}", "{\"name\": \"cam\"}", "class \"cam\" defined twice"},
		{"{\"name\": \"hub\"}", "{\"name\": \"Hub!\"}", "$.classes[1].name"},
		{"\"to\": \"cam\"", "\"to\": \"nobody\"", "$.exceptions[0]: names a class"},
		{"\"port\": 554", "\"port\": 65536", "$.exceptions[0].port"},
		{"\"10.20.0.0/24\"", "\"10.20.0.1/24\"", "$.zones.iot[0].subnets"},
		{"\"interface\": \"br-iot\"", "\"interface\": \"br\\\"iot\"", "$.zones.iot[0].interface"},
		{"\"version\": 1", "\"version\": 2", "$.version: must be 1"},
		{"\"subnets\": [\"192.168.1.0/24\"], ", "", "$.zones.lan.subnets: missing"},
		{"\"host\": \"10.99.0.10\"", "\"host\": \"mgmt.example\"", "$.management[0].host"},
	};
	struct fsec_netpolicy *p = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = tu_replace(POLICY, cases[i][0], cases[i][1]);

		if (fsec_netpolicy_parse((const unsigned char *)t, strlen(t), &p) != FSEC_ERR_PARSE)
			fail_msg("case %zu accepted", i);
		if (strstr(fsec_err_detail(), cases[i][2]) == NULL)
			fail_msg("case %zu: expected '%s', got '%s'", i, cases[i][2], fsec_err_detail());
		free(t);
	}
}

static void prepare_refusals(void **state)
{
	const char *const cases[][3] = {
		{"\"mac\": \"02:00:00:00:00:02\"", "\"mac\": \"02:00:00:00:00:01\"", "share a MAC"},
		{"\"ip\": \"10.20.0.12\"", "\"ip\": \"10.20.0.11\"", "share an IP"},
		{"\"ip\": \"10.20.0.12\"", "\"ip\": \"10.30.0.12\"", "in no IoT zone subnet"},
		{"\"port\": 443}", "\"port\": 53}", "DNS goes to the router"},
		{"\"port\": \"5000-5010\"", "\"port\": \"5010-5000\"", "$.classes[0].allow[1].port"},
		{"{\"name\": \"hub\"}", "{\"name\": \"hub\", \"mud\": \"no-such-file.json\"}",
		 "$.classes[1].mud"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = tu_replace(POLICY, cases[i][0], cases[i][1]);
		struct fsec_netpolicy *p = load(t);

		if (fsec_netpolicy_prepare(p, NULL) == FSEC_OK)
			fail_msg("case %zu accepted", i);
		if (strstr(fsec_err_detail(), cases[i][2]) == NULL)
			fail_msg("case %zu: expected '%s', got '%s'", i, cases[i][2], fsec_err_detail());
		fsec_netpolicy_free(p);
		free(t);
	}
}

static void setup_script(void **state)
{
	char *t = tu_replace(POLICY, "\"router\": \"10.20.0.1\"",
		       "\"router\": \"10.20.0.1\", \"bridge_ports\": [\"iotp1\", \"iotp2\"]");
	struct fsec_netpolicy *p = load(t);
	char *s = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(fsec_netpolicy_setup_script(p, &s, &len), FSEC_OK);
	assert_non_null(strstr(s, "bridge link set dev iotp1 isolated on\n"));
	assert_non_null(strstr(s, "bridge link set dev iotp2 isolated on\n"));
	assert_non_null(strstr(s, "net/ipv4/conf/br-iot/proxy_arp_pvlan=1"));
	assert_non_null(strstr(s, "net/ipv4/neigh/br-iot/proxy_delay=0"));
	assert_non_null(strstr(s, "net/ipv4/conf/br-iot/send_redirects=0"));
	free(s);
	free(t);
	fsec_netpolicy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decisions),     cmocka_unit_test(render_matches_model),
		cmocka_unit_test(registry_devices),
		cmocka_unit_test(quarantine), cmocka_unit_test(sync_diff),
		cmocka_unit_test(refusals),
		cmocka_unit_test(prepare_refusals), cmocka_unit_test(setup_script),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
