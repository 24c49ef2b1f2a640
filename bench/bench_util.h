/* SPDX-License-Identifier: Apache-2.0 */
/* What every benchmark here needs: a clock, checked counts from argv, and a
 * temporary directory that is removed on every exit path. One benchmark is
 * one translation unit, so these are static. */
#ifndef FSEC_BENCH_UTIL_H
#define FSEC_BENCH_UTIL_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static char tmpdir[4096];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A decimal count in [1, max]; anything else is refused, never truncated. */
static unsigned long parse_count(const char *prog, const char *s, unsigned long max,
				 const char *name)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < 1 || v > max) {
		fprintf(stderr, "%s: %s must be an integer from 1 to %lu\n", prog, name, max);
		exit(2);
	}
	return v;
}

static inline int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline void rm_tmpdir(void)
{
	/* FTW_PHYS: never follow a link out of the temporary directory. */
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
