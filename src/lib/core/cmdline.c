/* SPDX-License-Identifier: Apache-2.0 */
/* The edge the programs share: see fleetsec/cmdline.h. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "err_int.h"
#include "fleetsec/cmdline.h"

FSEC_API enum fsec_err fsec_home_default(char *out, size_t cap)
{
	const char *env = getenv("FLEETSEC_HOME"), *home = getenv("HOME");
	int n;

	if (cap == 0)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "no room for the fleet home");
	out[0] = '\0';
	if (env != NULL && env[0] != '\0') {
		n = snprintf(out, cap, "%s", env);
	} else {
		/* A daemon started without HOME (systemd, cron) finds the
		 * same home as its user's shell: the password database's. */
		if (home == NULL || home[0] == '\0') {
			struct passwd *pw = getpwuid(getuid());

			home = pw != NULL && pw->pw_dir != NULL ? pw->pw_dir : "/";
		}
		n = snprintf(out, cap, "%s/" FSEC_HOME_DIRNAME, home);
	}
	if (n < 0 || (size_t)n >= cap) {
		out[0] = '\0';
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "the fleet home's path is over %zu bytes",
				   cap - 1);
	}
	return FSEC_OK;
}
