/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device-side state the update agent builds on: the anti-rollback
 * counter (monotonic, fail-closed on damage) and A/B boot control with
 * U-Boot's bootcount/bootlimit/altbootcmd semantics.
 */
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fleetsec/bootctl.h"
#include "fleetsec/counter.h"
#include "fleetsec/fileio.h"
#include "testutil.h"

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = tu_mkdtemp();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(dir);
	free(dir);
	return 0;
}

static void counter_only_goes_up(void **state)
{
	char *path = tu_path(dir, "counter");
	struct fsec_counter *c = NULL, *again = NULL;
	uint32_t v = 99;

	(void)state;
	assert_int_equal(fsec_counter_open(path, &c), FSEC_OK);
	assert_int_equal(fsec_counter_read(c, &v), FSEC_OK);
	assert_int_equal(v, 0); /* never written */
	assert_int_equal(fsec_counter_raise(c, 7), FSEC_OK);
	assert_int_equal(fsec_counter_raise(c, 7), FSEC_OK); /* same: no-op */
	assert_int_equal(fsec_counter_raise(c, 6), FSEC_ERR_POLICY);
	assert_non_null(strstr(fsec_err_detail(), "from 7 to 6"));
	assert_int_equal(fsec_counter_raise(c, 0xffffffffu), FSEC_OK);
	/* Durable: a fresh handle reads the same value. */
	assert_int_equal(fsec_counter_open(path, &again), FSEC_OK);
	assert_int_equal(fsec_counter_read(again, &v), FSEC_OK);
	assert_int_equal(v, 0xffffffffu);
	fsec_counter_free(again);
	fsec_counter_free(c);
	/* The TPM backend: an NV index in hex, checked before the TPM is
	 * reached (tests/integration/agent_update.sh runs it on swtpm). */
	assert_int_equal(fsec_counter_open("tpm:1500016", &c), FSEC_ERR_INVAL);
	assert_int_equal(fsec_counter_open("tpm:0x", &c), FSEC_ERR_INVAL);
	assert_int_equal(fsec_counter_open("tpm:0x123456789", &c), FSEC_ERR_INVAL);
	assert_int_equal(fsec_counter_open("nv:0x1500016", &c), FSEC_ERR_INVAL);
	assert_int_equal(fsec_counter_open("tpm:0x81000001", &c), FSEC_OK);
	assert_int_equal(fsec_counter_read(c, &v), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "outside 0x01000000"));
	fsec_counter_free(c);
	free(path);
}

/* The location picks the backend: "file:PATH" and a plain path (which may
 * hold a colon) are the same file; an empty path or an unknown scheme is
 * refused, and nothing is created by opening. */
static void counter_backend_by_location(void **state)
{
	char *path = tu_path(dir, "ctr:1"), *file = NULL;
	struct fsec_counter *c = NULL, *same = NULL;
	uint32_t v = 0;

	(void)state;
	assert_int_equal(fsec_counter_open("", &c), FSEC_ERR_INVAL);
	assert_int_equal(fsec_counter_open("file:", &c), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "empty counter path"));
	assert_int_equal(fsec_counter_open("flash:0x10", &c), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "unknown counter backend"));
	assert_null(c);
	assert_int_equal(fsec_counter_open(path, &c), FSEC_OK);
	assert_false(tu_exists(path));
	assert_int_equal(fsec_counter_raise(c, 3), FSEC_OK);
	file = malloc(strlen(path) + 6);
	snprintf(file, strlen(path) + 6, "file:%s", path);
	assert_int_equal(fsec_counter_open(file, &same), FSEC_OK);
	assert_int_equal(fsec_counter_read(same, &v), FSEC_OK);
	assert_int_equal(v, 3);
	fsec_counter_free(same);
	fsec_counter_free(c);
	free(file);
	free(path);
}

static void damaged_counter_fails_closed(void **state)
{
	const char *bad[] = {
		"",                                    /* truncated to nothing */
		"fleetsec-counter 1 7",                /* torn mid-line */
		"fleetsec-counter 1 7 fffffff9\n",     /* wrong check */
		"fleetsec-counter 1 8 fffffff8\nx",    /* trailing junk */
		"fleetsec-counter 2 7 fffffff8\n",     /* unknown format */
		"fleetsec-counter 1 4294967296 0\n",   /* out of range */
	};
	char *path = tu_path(dir, "counter");
	struct fsec_counter *c = NULL;
	uint32_t v;

	(void)state;
	assert_int_equal(fsec_counter_open(path, &c), FSEC_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_write(path, bad[i], strlen(bad[i]));
		if (fsec_counter_read(c, &v) != FSEC_ERR_PARSE)
			fail_msg("damaged counter '%s' was read", bad[i]);
		/* and a damaged counter cannot be "raised" over either */
		assert_int_equal(fsec_counter_raise(c, 100), FSEC_ERR_PARSE);
	}
	tu_write(path, "fleetsec-counter 1 7 fffffff8\n", 30);
	assert_int_equal(fsec_counter_read(c, &v), FSEC_OK);
	assert_int_equal(v, 7);
	fsec_counter_free(c);
	free(path);
}

static char boot(struct fsec_bootctl *b, bool *fell)
{
	char slot = 0;

	assert_int_equal(fsec_bootctl_boot(b, &slot, fell), FSEC_OK);
	return slot;
}

static void trial_boot_falls_back_after_bootlimit(void **state)
{
	char *env = tu_path(dir, "env");
	struct fsec_bootctl *b = NULL;
	struct fsec_boot_state st;
	bool fell;

	(void)state;
	assert_int_equal(fsec_bootctl_open("file", env, &b), FSEC_OK);
	assert_int_equal(fsec_bootctl_read(b, &st), FSEC_OK);
	assert_int_equal(st.slot, 'a');
	assert_false(st.upgrade_available);
	assert_int_equal(st.bootlimit, FSEC_BOOTLIMIT_DEFAULT);
	assert_int_equal(boot(b, &fell), 'a');
	/* A trial of b that never gets confirmed: 3 boots of b, then a. */
	assert_int_equal(fsec_bootctl_trial(b, 'b', NULL), FSEC_OK);
	for (int i = 0; i < FSEC_BOOTLIMIT_DEFAULT; i++) {
		assert_int_equal(boot(b, &fell), 'b');
		assert_false(fell);
	}
	assert_int_equal(boot(b, &fell), 'a');
	assert_true(fell);
	assert_int_equal(fsec_bootctl_read(b, &st), FSEC_OK);
	assert_false(st.upgrade_available);
	assert_int_equal(boot(b, &fell), 'a');
	assert_false(fell);
	fsec_bootctl_free(b);
	free(env);
}

static void confirmed_trial_stays(void **state)
{
	char *env = tu_path(dir, "env");
	struct fsec_bootctl *b = NULL;
	struct fsec_boot_state st;
	bool fell;

	(void)state;
	/* Foreign variables in the environment survive our writes. */
	tu_write(env, "bootcmd=run fsec_boot\nbootlimit=1\n", 34);
	assert_int_equal(fsec_bootctl_open("file", env, &b), FSEC_OK);
	assert_int_equal(fsec_bootctl_trial(b, 'b', NULL), FSEC_OK);
	assert_int_equal(boot(b, &fell), 'b');
	assert_int_equal(fsec_bootctl_confirm(b), FSEC_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(boot(b, &fell), 'b');
	assert_int_equal(fsec_bootctl_read(b, &st), FSEC_OK);
	assert_int_equal(st.bootlimit, 1);
	assert_int_equal(st.bootcount, 0);
	{
		unsigned char *buf = NULL;
		size_t len = 0;

		assert_int_equal(fsec_file_read(env, 4096, &buf, &len), FSEC_OK);
		assert_non_null(strstr((char *)buf, "bootcmd=run fsec_boot\n"));
		free(buf);
	}
	fsec_bootctl_free(b);
	free(env);
}

static void damaged_environment_refused(void **state)
{
	const char *bad[] = {"fsec_slot=c\n", "bootcount=-1\n", "bootcount=1x\n", "no equals\n",
			     "=value\n", "upgrade_available=99999999999\n"};
	char *env = tu_path(dir, "env");
	struct fsec_bootctl *b = NULL;
	struct fsec_boot_state st;

	(void)state;
	assert_int_equal(fsec_bootctl_open("file", env, &b), FSEC_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_write(env, bad[i], strlen(bad[i]));
		if (fsec_bootctl_read(b, &st) != FSEC_ERR_PARSE)
			fail_msg("environment '%s' accepted", bad[i]);
	}
	assert_int_equal(fsec_bootctl_trial(b, 'x', NULL), FSEC_ERR_INVAL);
	fsec_bootctl_free(b);
	assert_int_equal(fsec_bootctl_open("lilo", env, &b), FSEC_ERR_INVAL);
	free(env);
}

extern char **environ;

/* Run a shell command line (test set-up and independent checks, with the
 * backends' own tools in pipelines: the shell is the point here). */
static void sh(const char *fmt, ...)
{
	char cmd[1024];
	char *argv[] = {"sh", "-c", cmd, NULL};
	va_list ap;
	pid_t pid;
	int st = 0;

	va_start(ap, fmt);
	assert_true((size_t)vsnprintf(cmd, sizeof(cmd), fmt, ap) < sizeof(cmd));
	va_end(ap);
	assert_int_equal(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("command failed: %s", cmd);
}

/* The same trial and fallback through a real backend, checked with that
 * backend's own tool. */
static void trial_and_fallback(const char *backend, const char *env, const char *show)
{
	struct fsec_bootctl *b = NULL;
	bool fell;

	assert_int_equal(fsec_bootctl_open(backend, env, &b), FSEC_OK);
	assert_int_equal(fsec_bootctl_trial(b, 'b', NULL), FSEC_OK);
	sh("%s | grep -qx fsec_slot=b && %s | grep -qx upgrade_available=1 && "
	   "%s | grep -qx bootcount=0",
	   show, show, show);
	for (int i = 0; i < 3; i++)
		assert_int_equal(boot(b, &fell), 'b');
	assert_int_equal(boot(b, &fell), 'a');
	assert_true(fell);
	sh("%s | grep -qx fsec_slot=a && %s | grep -qx upgrade_available=0", show, show);
	/* Variables that are not ours are left alone. */
	sh("%s | grep -qx 'bootcmd=run fsec_boot'", show);
	fsec_bootctl_free(b);
}

static void uboot_backend(void **state)
{
	char *cfg = tu_path(dir, "fw_env.config"), *show = NULL;

	(void)state;
	/* A redundant U-Boot environment in two files, made by U-Boot's tool. */
	sh("cd %s && printf 'bootlimit=3\nbootcmd=run fsec_boot\n' >env.txt && "
	   "mkenvimage -r -s 0x4000 -o env1 env.txt && mkenvimage -r -s 0x4000 -o env2 env.txt && "
	   "printf '%%s 0x0 0x4000\n%%s 0x0 0x4000\n' %s/env1 %s/env2 >fw_env.config",
	   dir, dir, dir);
	assert_true(asprintf(&show, "fw_printenv -c %s 2>/dev/null", cfg) > 0);
	trial_and_fallback("uboot", cfg, show);
	free(show);
	free(cfg);
}

static void grub_backend(void **state)
{
	char *env = tu_path(dir, "grubenv"), *show = NULL;

	(void)state;
	sh("grub-editenv %s create && grub-editenv %s set 'bootcmd=run fsec_boot'", env, env);
	assert_true(asprintf(&show, "grub-editenv %s list", env) > 0);
	trial_and_fallback("grub", env, show);
	free(show);
	free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(counter_only_goes_up, setup, teardown),
		cmocka_unit_test_setup_teardown(counter_backend_by_location, setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_counter_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(trial_boot_falls_back_after_bootlimit, setup, teardown),
		cmocka_unit_test_setup_teardown(confirmed_trial_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_environment_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(uboot_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(grub_backend, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
