/* SPDX-License-Identifier: Apache-2.0 */
/* The MQTT topic policy (mqtt.h): MQTT's matching rules ('+' one level, '#'
 * the rest, "a/#" matching "a"), subscriptions judged by every topic their
 * filter can reach, the placeholders, what the parser refuses, and the
 * default policy. */
#include <string.h>

#include "fleetsec/mqtt.h"
#include "testutil.h"

static const struct fsec_mqtt_subject dev1 = {.id = "dev-1", .model = "thermo", .group = "lab"};
static const struct fsec_mqtt_subject dev2 = {.id = "dev-2", .model = "cam", .group = ""};

static struct fsec_mqtt_policy *parse(const char *text)
{
	struct fsec_mqtt_policy *p = NULL;

	assert_int_equal(fsec_mqtt_policy_parse(text, strlen(text), "t.acl", &p), FSEC_OK);
	return p;
}

static bool pub(const struct fsec_mqtt_policy *p, const struct fsec_mqtt_subject *w,
		const char *t)
{
	return fsec_mqtt_decide(p, w, FSEC_MQTT_PUBLISH, t, NULL);
}

static bool sub(const struct fsec_mqtt_policy *p, const struct fsec_mqtt_subject *w,
		const char *t)
{
	return fsec_mqtt_decide(p, w, FSEC_MQTT_SUBSCRIBE, t, NULL);
}

static bool rcv(const struct fsec_mqtt_policy *p, const struct fsec_mqtt_subject *w,
		const char *t)
{
	return fsec_mqtt_decide(p, w, FSEC_MQTT_RECEIVE, t, NULL);
}

static void default_policy(void **state)
{
	struct fsec_mqtt_policy *p = NULL;
	struct fsec_mqtt_why why;

	(void)state;
	assert_int_equal(fsec_mqtt_policy_load(NULL, &p), FSEC_OK);
	assert_true(pub(p, &dev1, "devices/dev-1/telemetry"));
	assert_true(pub(p, &dev1, "devices/dev-1/telemetry/a/b"));
	assert_true(pub(p, &dev1, "devices/dev-1/status"));
	assert_false(pub(p, &dev1, "devices/dev-1/status/x"));
	assert_false(pub(p, &dev1, "devices/dev-2/telemetry"));
	assert_false(pub(p, &dev1, "devices/dev-1/cmd/x"));
	assert_false(pub(p, &dev1, "devices/dev-1"));
	assert_false(pub(p, &dev1, "devices/dev-1/telemetry/+"));
	assert_true(sub(p, &dev1, "devices/dev-1/cmd/#"));
	assert_true(sub(p, &dev1, "devices/dev-1/cmd/+/reboot"));
	assert_true(sub(p, &dev1, "devices/dev-1/cmd"));
	assert_false(sub(p, &dev1, "devices/+/cmd/#"));
	assert_false(sub(p, &dev1, "devices/dev-1/#"));
	assert_false(sub(p, &dev1, "devices/dev-1/+/x"));
	assert_false(sub(p, &dev1, "#"));
	assert_false(sub(p, &dev1, "+/dev-1/cmd/#"));
	assert_false(sub(p, &dev1, "$SYS/#"));
	assert_false(pub(p, &dev1, "devices/dev-10/telemetry"));
	assert_false(pub(p, &dev1, "devices/dev-/telemetry"));
	assert_false(sub(p, &dev1, "$share/g/devices/dev-1/cmd/#"));
	assert_false(sub(p, &dev1, "devices//cmd/#"));
	assert_true(rcv(p, &dev1, "devices/dev-1/cmd/x"));
	assert_false(rcv(p, &dev1, "devices/dev-2/cmd/x"));
	/* The "why" names the rule, or says nothing allowed it. */
	assert_true(fsec_mqtt_decide(p, &dev1, FSEC_MQTT_PUBLISH, "devices/dev-1/status", &why));
	assert_non_null(strstr(why.rule, "[all] publish devices/%d/status"));
	assert_false(fsec_mqtt_decide(p, &dev1, FSEC_MQTT_PUBLISH, "$CONTROL/x", &why));
	assert_non_null(strstr(why.rule, "'$'"));
	fsec_mqtt_policy_free(p);
}

static void sections_and_placeholders(void **state)
{
	struct fsec_mqtt_policy *p = parse("# a policy\n"
					   "[all]\n"
					   "  publish devices/%d/+/state   \n"
					   "[model thermo]\n"
					   "subscribe fleet/%m/broadcast\n"
					   "[group lab]\r\n"
					   "publish lab/%g/%d/#\r\n");

	(void)state;
	assert_true(pub(p, &dev1, "devices/dev-1/x/state"));
	assert_false(pub(p, &dev1, "devices/dev-1/x/y/state"));
	assert_true(sub(p, &dev1, "fleet/thermo/broadcast"));
	assert_false(sub(p, &dev2, "fleet/thermo/broadcast"));
	assert_false(sub(p, &dev2, "fleet/cam/broadcast"));
	assert_false(sub(p, &dev1, "fleet/+/broadcast"));
	assert_true(pub(p, &dev1, "lab/lab/dev-1"));
	assert_true(pub(p, &dev1, "lab/lab/dev-1/a"));
	/* An empty group is no group: the rule applies to nobody. */
	assert_false(pub(p, &dev2, "lab//dev-2"));
	assert_false(pub(p, &dev2, "lab/lab/dev-2"));
	fsec_mqtt_policy_free(p);
}

/* A subject whose values are not a single plain level never matches a
 * placeholder (the name rules forbid them; this must hold anyway). */
static void hostile_values(void **state)
{
	struct fsec_mqtt_policy *p = parse("[all]\npublish devices/%d/t\nsubscribe d/%d/#\n");
	struct fsec_mqtt_subject w = {.id = "a/b", .model = "m", .group = ""};
	struct fsec_mqtt_subject plus = {.id = "+", .model = "m", .group = ""};

	(void)state;
	assert_false(pub(p, &w, "devices/a/b/t"));
	assert_false(sub(p, &plus, "d/+/#"));
	assert_false(sub(p, &plus, "d/x/#"));
	fsec_mqtt_policy_free(p);
}

static void refused_policies(void **state)
{
	static const char *const bad[] = {
		"publish devices/%d/x\n",           /* before any section */
		"[all]\npublish devices/#\n",       /* wildcard before %d */
		"[all]\nsubscribe +/%d/x\n",        /* wildcard before %d */
		"[all]\nsubscribe fleet/%m/#\n",    /* wildcard with no %d */
		"[all]\npublish $SYS/%d\n",         /* the broker's topics */
		"[all]\npublish devices/%d/a#\n",   /* partial wildcard */
		"[all]\npublish devices/%d/#/x\n",  /* '#' not last */
		"[all]\npublish devices/x%d/y\n",   /* partial placeholder */
		"[all]\npublish devices/%x/y\n",    /* unknown placeholder */
		"[all]\nread devices/%d\n",         /* unknown verb */
		"[all]\npublish\n",                 /* no template */
		"[all]\npublish a b\n",             /* two templates */
		"[thing x]\n",                      /* unknown section */
		"[model]\n",                        /* no name */
		"[model bad/name]\n",               /* not a name */
		"[group\n",                         /* unclosed */
	};
	struct fsec_mqtt_policy *p = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fsec_mqtt_policy_parse(bad[i], strlen(bad[i]), "t.acl", &p),
				 FSEC_ERR_PARSE);
		assert_null(p);
		assert_non_null(strstr(fsec_err_detail(), "t.acl:"));
	}
	assert_int_equal(fsec_mqtt_policy_parse("[all]\0x", 7, "t.acl", &p), FSEC_ERR_PARSE);
	/* An empty policy parses, and denies everything. */
	p = parse("# nothing\n");
	assert_false(pub(p, &dev1, "devices/dev-1/status"));
	fsec_mqtt_policy_free(p);
}

static void long_topics(void **state)
{
	struct fsec_mqtt_policy *p = parse("[all]\npublish devices/%d/#\n");
	char t[FSEC_MQTT_TOPIC_MAX + 32];

	(void)state;
	memset(t, 'a', sizeof(t) - 1);
	t[sizeof(t) - 1] = '\0';
	memcpy(t, "devices/dev-1/", 14);
	assert_false(pub(p, &dev1, t));
	t[FSEC_MQTT_TOPIC_MAX] = '\0';
	assert_true(pub(p, &dev1, t));
	fsec_mqtt_policy_free(p);
}

/* [role] sections apply to role clients only, and role clients get only
 * their own role's rules; the default policy gives backends every
 * device's telemetry and status to read and commands to send. */
static void roles(void **state)
{
	static const struct fsec_mqtt_subject bk = {.role = "backend"};
	static const struct fsec_mqtt_subject op = {.role = "operator"};
	struct fsec_mqtt_policy *p = parse("[all]\npublish devices/%d/telemetry/#\n"
					   "[role operator]\nsubscribe devices/+/status\n"
					   "[role backend]\nsubscribe #\npublish devices/+/cmd/#\n");
	struct fsec_mqtt_policy *d = NULL;
	struct fsec_mqtt_why why;

	(void)state;
	assert_true(sub(p, &op, "devices/+/status"));
	assert_false(sub(p, &op, "devices/+/telemetry/#"));
	assert_false(pub(p, &op, "devices/dev-1/telemetry/x"));
	assert_true(sub(p, &bk, "#"));
	assert_true(rcv(p, &bk, "devices/dev-1/telemetry/x"));
	assert_false(sub(p, &bk, "$SYS/#"));
	assert_true(fsec_mqtt_decide(p, &bk, FSEC_MQTT_PUBLISH, "devices/dev-1/cmd/reboot", &why));
	assert_non_null(strstr(why.rule, "[role backend] publish devices/+/cmd/#"));
	/* A device gets no role rule. */
	assert_false(sub(p, &dev1, "devices/+/status"));
	assert_false(sub(p, &dev1, "#"));
	assert_false(pub(p, &dev1, "devices/dev-2/cmd/x"));
	fsec_mqtt_policy_free(p);

	assert_int_equal(fsec_mqtt_policy_load(NULL, &d), FSEC_OK);
	assert_true(sub(d, &bk, "devices/+/telemetry/#"));
	assert_true(sub(d, &bk, "devices/+/status"));
	assert_true(pub(d, &bk, "devices/dev-1/cmd/x"));
	assert_false(pub(d, &bk, "devices/dev-1/telemetry/x"));
	assert_false(sub(d, &op, "devices/+/status"));
	assert_false(sub(d, &dev1, "devices/+/telemetry/#"));
	fsec_mqtt_policy_free(d);
}

static void refused_roles(void **state)
{
	static const char *const bad[] = {
		"[role admin]\nsubscribe #\n",
		"[role]\nsubscribe #\n",
		"[role backend]\nsubscribe devices/%d/#\n",
		"[role operator]\npublish fleet/%m/x\n",
		"[role backend]\nsubscribe $SYS/#\n",
		"[role backend]\nsubscribe $CONTROL/fleetsec/v1\n",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fsec_mqtt_policy *p = NULL;

		assert_int_equal(fsec_mqtt_policy_parse(bad[i], strlen(bad[i]), "t.acl", &p),
				 FSEC_ERR_PARSE);
		assert_null(p);
		assert_non_null(strstr(fsec_err_detail(), "t.acl:"));
	}
}

static void control(void **state)
{
	static const char *const bad[] = {"", "kick", "kick ", "kick a b", "kick ../x",
					  "kick a\n\n", "KICK dev-1", "kick dev-1\r\n",
					  "stop dev-1"};
	char id[FSEC_DEVID_MAX + 1], big[200];

	(void)state;
	assert_int_equal(fsec_mqtt_control_parse("kick dev-1", 10, id), FSEC_OK);
	assert_string_equal(id, "dev-1");
	assert_int_equal(fsec_mqtt_control_parse("kick dev-2\n", 11, id), FSEC_OK);
	assert_string_equal(id, "dev-2");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(fsec_mqtt_control_parse(bad[i], strlen(bad[i]), id),
				 FSEC_ERR_PARSE);
	/* A NUL inside: "kick dev-1\0x" is not "kick dev-1". */
	assert_int_equal(fsec_mqtt_control_parse("kick dev-1\0x", 12, id), FSEC_ERR_PARSE);
	/* The longest ID passes; one more character does not. */
	memcpy(big, "kick ", 5);
	memset(big + 5, 'a', FSEC_DEVID_MAX + 1);
	assert_int_equal(fsec_mqtt_control_parse(big, 5 + FSEC_DEVID_MAX, id), FSEC_OK);
	assert_int_equal(strlen(id), FSEC_DEVID_MAX);
	assert_int_equal(fsec_mqtt_control_parse(big, 5 + FSEC_DEVID_MAX + 1, id),
			 FSEC_ERR_PARSE);
	assert_int_equal(fsec_mqtt_control_topic_check("$CONTROL/fleetsec/v1"), FSEC_OK);
	assert_int_equal(fsec_mqtt_control_topic_check("$CONTROL/"), FSEC_ERR_INVAL);
	assert_int_equal(fsec_mqtt_control_topic_check("fleetsec/control"), FSEC_ERR_INVAL);
	assert_int_equal(fsec_mqtt_control_topic_check("$CONTROL/+"), FSEC_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(default_policy),   cmocka_unit_test(sections_and_placeholders),
		cmocka_unit_test(hostile_values),   cmocka_unit_test(refused_policies),
		cmocka_unit_test(long_topics),      cmocka_unit_test(roles),
		cmocka_unit_test(refused_roles),    cmocka_unit_test(control),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
