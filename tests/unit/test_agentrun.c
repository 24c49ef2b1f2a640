/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's start-up order and daemon round (agentrun.h): each test fails
 * if a step moves, by what the step leaves on disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fleetsec/agentcfg.h"
#include "fleetsec/agentrun.h"
#include "fleetsec/fileio.h"
#include "testutil.h"

struct fx {
	char *dir, *key, *pending, *cert, *record;
	struct fsec_agentcfg *cfg;
};

/* A configuration in a scratch directory; extra lines are appended. */
static void configure(struct fx *f, const char *extra)
{
	char text[4096];
	int n = snprintf(text, sizeof(text),
			 "server = https://127.0.0.1:1\n"
			 "ca = %s/ca.pem\nkey = %s\ncert = %s\n"
			 "firmware_key = %s/fw.pub\nrelease_root = %s/root.pub\n"
			 "model = unit\nslot_a = %s/a\nslot_b = %s/b\nboot_backend = file\n"
			 "state_dir = %s/state\n%s",
			 f->dir, f->key, f->cert, f->dir, f->dir, f->dir, f->dir, f->dir, extra);

	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(fsec_agentcfg_parse((const unsigned char *)text, (size_t)n, f->cfg),
			 FSEC_OK);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char *sd;

	if (f == NULL || (f->dir = tu_mkdtemp()) == NULL ||
	    fsec_agentcfg_new(&f->cfg) != FSEC_OK)
		return -1;
	f->key = tu_path(f->dir, "device.key");
	f->pending = tu_path(f->dir, "device.key.pending");
	f->cert = tu_path(f->dir, "device.pem");
	sd = tu_path(f->dir, "state");
	f->record = tu_path(sd, "tamper.json");
	free(sd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fsec_agentcfg_free(f->cfg);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->key);
	free(f->pending);
	free(f->cert);
	free(f->record);
	free(f);
	return 0;
}

static void write_key(EVP_PKEY *k, const char *path)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fp);
}

/* A self-signed certificate for k: all fsec_estc_finish compares is the key. */
static void write_cert(EVP_PKEY *k, const char *path)
{
	X509 *x = X509_new();
	FILE *fp = fopen(path, "w");

	assert_non_null(x);
	assert_non_null(fp);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"SN-1", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(PEM_write_X509(fp, x), 1);
	fclose(fp);
	X509_free(x);
}

/* A tamper record as the wipe leaves it: "begun" after a power cut. */
static void write_record(struct fx *f, const char *st)
{
	char text[128], *sd = tu_path(f->dir, "state");
	int n = snprintf(text, sizeof(text),
			 "{\"event\":\"tamper\",\"state\":\"%s\",\"time\":"
			 "\"2025-01-01T00:00:00Z\",\"wiped\":[]}",
			 st);

	assert_int_equal(mkdir(sd, 0700), 0);
	tu_write(f->record, text, (size_t)n);
	free(sd);
}

/* An interrupted wipe is finished before the keystore is opened: with a TPM
 * that is gone, the keystore fails, and the key must already be wiped. */
static void wipe_finished_before_keystore(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = tu_key("p256");
	const char *step = NULL;

	configure(f, "tcti = device:/nonexistent/tpm0\n");
	write_key(k, f->key);
	write_record(f, "begun");
	assert_int_not_equal(fsec_agent_start(f->cfg, FSEC_AGENT_CMD_STATUS, &step), FSEC_OK);
	assert_non_null(step);
	assert_string_equal(step, "tcti");
	assert_false(tu_exists(f->key));
	EVP_PKEY_free(k);
}

/* The tamper hook runs when the TPM cannot be named (its owner password
 * file is gone); every other command is refused at that step. */
static void tamper_hook_goes_on_without_tpm(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = tu_key("p256");
	struct fsec_tamper_result r;
	const char *step = NULL;

	configure(f, "tpm_owner_auth = /nonexistent/owner\n");
	write_key(k, f->key);
	write_cert(k, f->cert);
	assert_int_not_equal(fsec_agent_start(f->cfg, FSEC_AGENT_CMD_KEYGEN, &step), FSEC_OK);
	assert_string_equal(step, "tpm");
	assert_int_not_equal(fsec_agent_start(f->cfg, FSEC_AGENT_CMD_REPORT, &step), FSEC_OK);
	assert_string_equal(step, "tpm");
	assert_true(tu_exists(f->key));
	assert_int_equal(fsec_agent_start(f->cfg, FSEC_AGENT_CMD_TAMPER, &step), FSEC_OK);
	assert_int_equal(fsec_agent_tamper(f->cfg, NULL, &r), FSEC_OK);
	assert_false(tu_exists(f->key));
	assert_true(tu_exists(f->record));
	/* Nothing listens on the configured server: the report failed, the
	 * wipe went on, and the record says so. */
	assert_string_equal(r.report, "failed");
	{
		unsigned char *rec = NULL;
		size_t len = 0;

		assert_int_equal(fsec_file_read(f->record, 65536, &rec, &len), FSEC_OK);
		assert_non_null(memmem(rec, len, "\"report\":\"failed\"", 17));
		free(rec);
	}
	EVP_PKEY_free(k);
}

/* A wiped device may re-provision (keygen, csr, enroll) and nothing else;
 * keygen's new key ends the refusal. */
static void wiped_device_only_reprovisions(void **state)
{
	static const enum fsec_agent_cmd refused[] = {
		FSEC_AGENT_CMD_RENEW,  FSEC_AGENT_CMD_DAEMON,  FSEC_AGENT_CMD_REPORT,
		FSEC_AGENT_CMD_CHECK,  FSEC_AGENT_CMD_UPDATE, FSEC_AGENT_CMD_CONFIRM,
		FSEC_AGENT_CMD_STATUS,
	};
	struct fx *f = *state;
	const char *step = "unset";

	configure(f, "");
	write_record(f, "done");
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(fsec_agent_start(f->cfg, refused[i], &step), FSEC_ERR_POLICY);
		assert_null(step);
		assert_non_null(strstr(fsec_err_detail(), "re-provision"));
	}
	assert_int_equal(fsec_agent_start(f->cfg, FSEC_AGENT_CMD_CSR, &step), FSEC_OK);
	assert_int_equal(fsec_agent_start(f->cfg, FSEC_AGENT_CMD_ENROLL, &step), FSEC_OK);
	assert_int_equal(fsec_agent_start(f->cfg, FSEC_AGENT_CMD_KEYGEN, &step), FSEC_OK);
	assert_int_equal(fsec_agent_keygen(f->cfg), FSEC_OK);
	assert_true(tu_exists(f->key));
	assert_false(tu_exists(f->record));
	assert_int_equal(fsec_agent_start(f->cfg, FSEC_AGENT_CMD_STATUS, &step), FSEC_OK);
	/* Never over an existing key. */
	assert_int_not_equal(fsec_agent_keygen(f->cfg), FSEC_OK);
}

/* An enrollment or renewal cut between its writes (the new certificate in
 * place, its key still pending) is finished before renew, report, the
 * daemon and the update commands use the device's credential. */
static void pending_enrollment_finished_first(void **state)
{
	static const enum fsec_agent_cmd cmds[] = {
		FSEC_AGENT_CMD_RENEW, FSEC_AGENT_CMD_REPORT, FSEC_AGENT_CMD_DAEMON,
		FSEC_AGENT_CMD_UPDATE, FSEC_AGENT_CMD_ENROLL,
	};
	struct fx *f = *state;
	const char *step = NULL;

	configure(f, "");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		EVP_PKEY *old = tu_key("p256"), *fresh = tu_key("p256"), *got = NULL;
		FILE *fp;

		unlink(f->key);
		write_key(old, f->key);
		write_key(fresh, f->pending);
		write_cert(fresh, f->cert);
		assert_int_equal(fsec_agent_start(f->cfg, cmds[i], &step), FSEC_OK);
		assert_false(tu_exists(f->pending));
		assert_non_null(fp = fopen(f->key, "r"));
		assert_non_null(got = PEM_read_PrivateKey(fp, NULL, NULL, NULL));
		fclose(fp);
		assert_int_equal(EVP_PKEY_eq(got, fresh), 1);
		EVP_PKEY_free(got);
		EVP_PKEY_free(fresh);
		EVP_PKEY_free(old);
	}
}

/* A failing step does not end the round: the renewal fails (no
 * certificate), and the update is still tried. */
static void round_goes_on_after_a_failure(void **state)
{
	struct fx *f = *state;
	struct fsec_agent_round r;

	configure(f, "");
	fsec_agent_round(f->cfg, &r);
	assert_int_not_equal(r.renew_rc, FSEC_OK);
	assert_true(r.renew_error[0] != '\0');
	assert_int_not_equal(r.update_rc, FSEC_OK);
	assert_true(r.update_error[0] != '\0');
	assert_string_not_equal(r.update_error, r.renew_error);
	/* No agent, so nothing to report with. */
	assert_false(r.report_tried);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(wipe_finished_before_keystore, setup, teardown),
		cmocka_unit_test_setup_teardown(tamper_hook_goes_on_without_tpm, setup, teardown),
		cmocka_unit_test_setup_teardown(wiped_device_only_reprovisions, setup, teardown),
		cmocka_unit_test_setup_teardown(pending_enrollment_finished_first, setup, teardown),
		cmocka_unit_test_setup_teardown(round_goes_on_after_a_failure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
