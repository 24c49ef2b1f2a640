/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the three programs (fleetsec, fleetsecd, fleetsec-agent) share at
 * their edge: one meaning for each exit status, and one answer to "where is
 * the fleet home" when no --home is given, so that the CLI and the server
 * always open the same registry.
 */
#ifndef FLEETSEC_CMDLINE_H
#define FLEETSEC_CMDLINE_H

#include <stddef.h>

#include "fleetsec/common.h"

/* Exit statuses, the same for every program (documented in each --help). */
#define FSEC_EXIT_OK 0      /* done */
#define FSEC_EXIT_REFUSED 1 /* refused or failed: the one stderr line says why */
#define FSEC_EXIT_USAGE 2   /* bad arguments or configuration values */
/* fleetsec-agent check/update only: no fresh signed answer from the update
 * server for longer than max_silence (freeze by silence). */
#define FSEC_EXIT_FROZEN 3

/* The file name of the home under the user's home directory. */
#define FSEC_HOME_DIRNAME ".fleetsec"

/*
 * The fleet home when no --home is given: $FLEETSEC_HOME if it is set and not
 * empty, else $HOME/.fleetsec; with HOME unset or empty, the home directory
 * the password database gives the real user, and "/" if it has none. Writes
 * the path to out (cap bytes, NUL included). Errors: TOO_LARGE (it does not
 * fit; out is then ""). Not thread-safe (getenv, getpwuid).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_home_default(char *out, size_t cap);

#endif
