/* SPDX-License-Identifier: Apache-2.0 */
/* The default fleet home, which the CLI and fleetsecd share: the
 * environment's order, and the password database when HOME is unset. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleetsec/cmdline.h"
#include "testutil.h"

static char pw_home[4096];

static int setup(void **state)
{
	struct passwd *pw = getpwuid(getuid());

	(void)state;
	snprintf(pw_home, sizeof(pw_home), "%s/.fleetsec", pw != NULL ? pw->pw_dir : "/");
	unsetenv("FLEETSEC_HOME");
	unsetenv("HOME");
	return 0;
}

static void fleetsec_home_wins(void **state)
{
	char buf[256];

	(void)state;
	setenv("FLEETSEC_HOME", "/srv/fleet", 1);
	setenv("HOME", "/home/op", 1);
	assert_int_equal(fsec_home_default(buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, "/srv/fleet");
}

static void empty_fleetsec_home_is_unset(void **state)
{
	char buf[256];

	(void)state;
	setenv("FLEETSEC_HOME", "", 1);
	setenv("HOME", "/home/op", 1);
	assert_int_equal(fsec_home_default(buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, "/home/op/.fleetsec");
}

/* fleetsecd once used "./.fleetsec" here while the CLI used the password
 * database: started by systemd without HOME, it opened another registry. */
static void no_home_uses_the_password_database(void **state)
{
	char buf[4200];

	(void)state;
	assert_int_equal(fsec_home_default(buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, pw_home);
	setenv("HOME", "", 1);
	assert_int_equal(fsec_home_default(buf, sizeof(buf)), FSEC_OK);
	assert_string_equal(buf, pw_home);
}

static void too_long_is_refused(void **state)
{
	char buf[16] = "junk";

	(void)state;
	setenv("FLEETSEC_HOME", "/a/path/longer/than/the/buffer", 1);
	assert_int_equal(fsec_home_default(buf, sizeof(buf)), FSEC_ERR_TOO_LARGE);
	assert_string_equal(buf, "");
	unsetenv("FLEETSEC_HOME");
	setenv("HOME", "/home/exactly/8", 1); /* 15 bytes + "/.fleetsec" */
	assert_int_equal(fsec_home_default(buf, sizeof(buf)), FSEC_ERR_TOO_LARGE);
	assert_int_equal(fsec_home_default(buf, 0), FSEC_ERR_TOO_LARGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(fleetsec_home_wins, setup),
		cmocka_unit_test_setup(empty_fleetsec_home_is_unset, setup),
		cmocka_unit_test_setup(no_home_uses_the_password_database, setup),
		cmocka_unit_test_setup(too_long_is_refused, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
