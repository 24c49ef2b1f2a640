/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "agentcfg_int.h"
#include "fleetsec/agentcfg.h"
#include "testutil.h"

#define BASE                                                                                  \
	"# fleetsec-agent\n"                                                                  \
	"server = https://updates.example:8443\n"                                             \
	"ca = /etc/fleetsec/ca.pem\n"                                                         \
	"key = handle:0x81000001   # a TPM key\n"                                              \
	"cert = /etc/fleetsec/device.pem\n"                                                   \
	"firmware_key = /etc/fleetsec/fw.pub\n"                                               \
	"firmware_key = /etc/fleetsec/fw-next.pub\n"                                          \
	"release_root = /etc/fleetsec/root.pub\n"                                             \
	"model = thermostat-v2\n"                                                             \
	"slot_a = /dev/mmcblk0p2\n"                                                           \
	"slot_b = /dev/mmcblk0p3\n"                                                           \
	"boot_backend = uboot\n"                                                              \
	"boot_env = /etc/fw_env.config\n"                                                     \
	"state_dir = /var/lib/fleetsec\n"

static enum fsec_err parse(const char *text, struct fsec_agentcfg *c)
{
	return fsec_agentcfg_parse((const unsigned char *)text, strlen(text), c);
}

/* Each test gets a fresh configuration in *state. */
static int setup(void **state)
{
	struct fsec_agentcfg *c = NULL;

	if (fsec_agentcfg_new(&c) != FSEC_OK)
		return -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	fsec_agentcfg_free(*state);
	return 0;
}

static void parses_and_defaults(void **state)
{
	struct fsec_agentcfg *c = *state;

	assert_int_equal(parse(BASE "\n\n   \nlow_speed_time = 10\r\n", c), FSEC_OK);
	assert_string_equal(c->server, "https://updates.example:8443");
	assert_string_equal(c->key, "handle:0x81000001");
	assert_int_equal(c->nfirmware_keys, 2);
	assert_string_equal(c->firmware_keys[1], "/etc/fleetsec/fw-next.pub");
	assert_int_equal(c->nrelease_roots, 1);
	assert_string_equal(c->manifest_url, "/v1/update");
	assert_string_equal(c->server_crl, "https://updates.example:8443/crl");
	assert_string_equal(c->counter, "file:/var/lib/fleetsec/counter");
	assert_string_equal(c->boot_env, "/etc/fw_env.config");
	assert_int_equal(c->low_speed_time, 10);
	assert_int_equal(c->low_speed_limit, 1024);
	assert_int_equal(c->chunk_retries, 3);
}

/* server_crl: a path on the server, an https URL, or off; never http. */
static void server_crl(void **state)
{
	struct fsec_agentcfg *c = *state;

	assert_int_equal(parse(BASE "server_crl = off\n", c), FSEC_OK);
	assert_string_equal(c->server_crl, "");
	assert_int_equal(parse(BASE "server_crl = /pki/fleet.crl\n", c), FSEC_OK);
	assert_string_equal(c->server_crl, "https://updates.example:8443/pki/fleet.crl");
	assert_int_equal(parse(BASE "server_crl = https://crl.example/fleet.crl\n", c), FSEC_OK);
	assert_string_equal(c->server_crl, "https://crl.example/fleet.crl");
	assert_int_equal(parse(BASE "server_crl = http://crl.example/fleet.crl\n", c),
			 FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "server_crl"));
	/* A refused configuration leaves the last good one. */
	assert_string_equal(c->server_crl, "https://crl.example/fleet.crl");
}

static void refusals(void **state)
{
	const char *const bad[][2] = {
		{BASE "model = other\n", "line 15: model given twice"},
		{BASE "colour = blue\n", "unknown key 'colour'"},
		{BASE "just words\n", "expected key = value"},
		{BASE "chunk_retries = many\n", "chunk_retries must be a number"},
		{BASE "low_speed_time = 99999\n", "low_speed_time must be a number"},
		{BASE "counter =\n", "has no value"},
		{"server = https://x\n", "missing ca"},
		{BASE "firmware_key = a\nfirmware_key = b\nfirmware_key = c\n", "at most 4"},
	};
	struct fsec_agentcfg *c = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i][0], c) != FSEC_ERR_PARSE)
			fail_msg("accepted: %s", bad[i][1]);
		if (strstr(fsec_err_detail(), bad[i][1]) == NULL)
			fail_msg("expected '%s', got '%s'", bad[i][1], fsec_err_detail());
	}
}

static void refuses_insecure_or_inconsistent(void **state)
{
	struct fsec_agentcfg *c = *state;
	char *text = NULL, *p;

	/* Plain http, identical slots, an unknown boot backend, a bad model. */
	text = strdup(BASE);
	p = strstr(text, "https");
	memmove(p + 4, p + 5, strlen(p + 5) + 1);
	assert_int_equal(parse(text, c), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "https://"));
	free(text);
	assert_int_equal(parse("slot_b = /dev/mmcblk0p2\n" BASE, c), FSEC_ERR_PARSE);
	text = strdup(BASE);
	strstr(text, "slot_b = /dev/mmcblk0p3")[22] = '2';
	assert_int_equal(parse(text, c), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "must differ"));
	free(text);
	text = strdup(BASE);
	memcpy(strstr(text, "uboot"), "uboo!", 5);
	assert_int_equal(parse(text, c), FSEC_ERR_PARSE);
	free(text);
	{
		char big[FSEC_AGENTCFG_MAX + 2];

		memset(big, '#', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(parse(big, c), FSEC_ERR_TOO_LARGE);
	}
	assert_int_equal(fsec_agentcfg_parse((const unsigned char *)"a\0b", 3, c), FSEC_ERR_PARSE);
	/* A bootloader's environment has no default; the file backend's does. */
	text = strdup(BASE);
	memcpy(strstr(text, "boot_env ="), "#oot_env =", 10);
	assert_int_equal(parse(text, c), FSEC_ERR_PARSE);
	assert_non_null(strstr(fsec_err_detail(), "boot_env is required with the uboot backend"));
	memcpy(strstr(text, "uboot"), "file\n", 5);
	assert_int_equal(parse(text, c), FSEC_OK);
	assert_string_equal(c->boot_env, "/var/lib/fleetsec/bootenv");
	free(text);
}

/* A failed parse leaves the configuration as it was; the getters read it. */
static void failure_keeps_and_getters(void **state)
{
	struct fsec_agentcfg *c = *state;

	assert_int_equal(parse(BASE "tcti = device:/dev/tpmrm0\n", c), FSEC_OK);
	assert_int_equal(parse(BASE "key = /other.key\n", c), FSEC_ERR_PARSE);
	assert_string_equal(fsec_agentcfg_get_key(c), "handle:0x81000001");
	assert_string_equal(fsec_agentcfg_get_cert(c), "/etc/fleetsec/device.pem");
	assert_string_equal(fsec_agentcfg_get_tcti(c), "device:/dev/tpmrm0");
	assert_string_equal(fsec_agentcfg_get_state_dir(c), "/var/lib/fleetsec");
	fsec_agentcfg_free(NULL);
}

static void loads_a_file(void **state)
{
	struct fsec_agentcfg *c = *state;
	char *dir = tu_mkdtemp(), *path = tu_path(dir, "agent.conf"),
	     *missing = tu_path(dir, "none.conf");

	tu_write(path, BASE, strlen(BASE));
	assert_int_equal(fsec_agentcfg_load(c, path), FSEC_OK);
	assert_string_equal(fsec_agentcfg_get_state_dir(c), "/var/lib/fleetsec");
	assert_int_not_equal(fsec_agentcfg_load(c, missing), FSEC_OK);
	assert_string_equal(fsec_agentcfg_get_key(c), "handle:0x81000001");
	tu_rmtree(dir);
	free(missing);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(parses_and_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(server_crl, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_insecure_or_inconsistent, setup, teardown),
		cmocka_unit_test_setup_teardown(failure_keeps_and_getters, setup, teardown),
		cmocka_unit_test_setup_teardown(loads_a_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
