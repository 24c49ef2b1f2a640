/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_fwverify FLEETSEC_BIN [MiB] [RUNS]: firmware image verification
 * throughput and peak memory (issue 3).
 *
 * In a temporary directory ($TMPDIR or /tmp), writes a MiB-sized random
 * payload, makes an Ed25519 key with `fleetsec fw keygen` / `fw pubkey` and
 * signs the payload with `fleetsec fw sign --header-size 0x200 --pad-header`
 * (none of this is timed). Then, with the page cache warm (each command is run
 * once untimed first), it alternates `sha256sum IMAGE` and
 * `fleetsec fw verify --key PUB IMAGE`, RUNS times each. Each run is one
 * process, timed end to end with CLOCK_MONOTONIC (spawn to reap, so process
 * start-up and dynamic linking are included for both), and its peak RSS is
 * the ru_maxrss that wait4 returns for it.
 *
 * The throughput of both is the image size over the wall time. It prints the
 * median of each, the ratio verify / sha256sum (the issue asks for >= 90%),
 * and the median and max peak RSS of each (the issue asks for < 4 MiB). As a
 * baseline for the RSS, it also runs `fleetsec --version` and
 * `sha256sum --version`: the same binaries and shared libraries, but no
 * hashing and no image, so the difference is what verification itself adds.
 *
 * ru_maxrss caveat: Linux carries the RSS high-water mark of the process that
 * called exec into the child's ru_maxrss, so a child can never report less
 * than this program's own peak RSS. It is printed ("floor") and kept small:
 * this program links only libc and uses 64 KiB buffers.
 *
 * Output is line-oriented so run.sh and people can grep it.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB_DEFAULT 256UL
#define MIB_MAX 4000UL /* MCUboot's image size is a u32 */
#define RUNS_DEFAULT 5UL
#define RUNS_MAX 1000UL
#define IO_BUF (64u * 1024u)
#include "bench_util.h"

extern char **environ;

static char errlog[sizeof(tmpdir) + 16];

struct result {
	double seconds;
	long maxrss_kib;
};

/* Copy the children's stderr log to our stderr (after a failure). */
static void show_errlog(void)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(errlog, "r");

	if (f == NULL)
		return;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

/*
 * Run argv (PATH lookup when argv[0] has no slash) with stdout on /dev/null
 * and stderr appended to errlog; wait for it. Exits unless it exits 0.
 * Fills *r with the wall time from spawn to reap and the child's ru_maxrss.
 */
static void run(char *const argv[], struct result *r)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	double t0, t1;
	pid_t pid, w;
	int status, err;

	if (posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, errlog,
					     O_WRONLY | O_CREAT | O_APPEND, 0600) != 0) {
		fprintf(stderr, "bench_fwverify: posix_spawn_file_actions failed\n");
		exit(1);
	}
	t0 = now_s();
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	if (err != 0) {
		fprintf(stderr, "bench_fwverify: cannot run %s: %s\n", argv[0], strerror(err));
		exit(1);
	}
	do
		w = wait4(pid, &status, 0, &ru);
	while (w < 0 && errno == EINTR);
	t1 = now_s();
	posix_spawn_file_actions_destroy(&fa);
	if (w != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench_fwverify: %s", argv[0]);
		for (int i = 1; argv[i] != NULL; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, " failed (status 0x%x); its stderr:\n", (unsigned)status);
		show_errlog();
		exit(1);
	}
	if (r != NULL) {
		r->seconds = t1 - t0;
		r->maxrss_kib = ru.ru_maxrss; /* KiB on Linux */
	}
}

/* A payload of mib MiB from getrandom(), written to path. */
static void write_payload(const char *path, unsigned long mib)
{
	static unsigned char buf[IO_BUF];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		fprintf(stderr, "bench_fwverify: cannot create %s: %s\n", path, strerror(errno));
		exit(1);
	}
	for (unsigned long left = mib * (1024UL * 1024UL / IO_BUF); left > 0; left--) {
		size_t got = 0;

		while (got < sizeof(buf)) {
			ssize_t n = getrandom(buf + got, sizeof(buf) - got, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				fprintf(stderr, "bench_fwverify: getrandom: %s\n", strerror(errno));
				exit(1);
			}
			got += (size_t)n;
		}
		for (size_t off = 0; off < sizeof(buf);) {
			ssize_t n = write(fd, buf + off, sizeof(buf) - off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				fprintf(stderr, "bench_fwverify: write %s: %s\n", path, strerror(errno));
				exit(1);
			}
			off += (size_t)n;
		}
	}
	if (close(fd) != 0) {
		fprintf(stderr, "bench_fwverify: close %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* Median (mean of the middle two for an even n); sorts v. */
static double median_d(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double median_l(long *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_long);
	return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

static long max_l(const long *v, size_t n)
{
	long m = v[0];

	for (size_t i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

struct summary {
	double mibps_median, mibps_min, mibps_max;
	double rss_median;
	long rss_max;
};

/* Summarise runs of a command over an image of mib MiB. */
static void summarise(const struct result *r, size_t n, double mib, struct summary *s)
{
	double *tp = malloc(n * sizeof(*tp));
	long *rss = malloc(n * sizeof(*rss));

	if (tp == NULL || rss == NULL) {
		fprintf(stderr, "bench_fwverify: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		tp[i] = mib / r[i].seconds;
		rss[i] = r[i].maxrss_kib;
	}
	s->mibps_median = median_d(tp, n);
	s->mibps_min = tp[0];
	s->mibps_max = tp[n - 1];
	s->rss_median = median_l(rss, n);
	s->rss_max = max_l(rss, n);
	free(tp);
	free(rss);
}

/* Median and max ru_maxrss over runs of argv (no timing report). */
static void rss_baseline(char *const argv[], size_t runs, double *median, long *max)
{
	long *rss = malloc(runs * sizeof(*rss));
	struct result r;

	if (rss == NULL) {
		fprintf(stderr, "bench_fwverify: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < runs; i++) {
		run(argv, &r);
		rss[i] = r.maxrss_kib;
	}
	*median = median_l(rss, runs);
	*max = max_l(rss, runs);
	free(rss);
}

int main(int argc, char **argv)
{
	unsigned long mib = MIB_DEFAULT, runs = RUNS_DEFAULT;
	const char *tmpbase = getenv("TMPDIR");
	char payload[sizeof(tmpdir) + 16], image[sizeof(tmpdir) + 16];
	char key[sizeof(tmpdir) + 16], pub[sizeof(tmpdir) + 16];
	char *fleetsec;
	struct result *sha, *ver;
	struct summary ss, sv;
	struct rusage self;
	struct stat st;
	double t0, image_mib, ver_med, sha_med;
	long ver_max, sha_max;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: bench_fwverify FLEETSEC_BIN [MiB] [RUNS]\n");
		return 2;
	}
	fleetsec = argv[1];
	if (argc > 2)
		mib = parse_count("bench_fwverify", argv[2], MIB_MAX, "MiB");
	if (argc > 3)
		runs = parse_count("bench_fwverify", argv[3], RUNS_MAX, "RUNS");
	if (strchr(fleetsec, '/') == NULL) {
		fprintf(stderr, "bench_fwverify: give FLEETSEC_BIN as a path (e.g. ./fleetsec)\n");
		return 2;
	}
	if (tmpbase == NULL || tmpbase[0] == '\0')
		tmpbase = "/tmp";
	if ((size_t)snprintf(tmpdir, sizeof(tmpdir), "%s/fsec-bench-XXXXXX", tmpbase) >=
		    sizeof(tmpdir) ||
	    mkdtemp(tmpdir) == NULL) {
		fprintf(stderr, "bench_fwverify: cannot create a temporary directory in %s\n",
			tmpbase);
		tmpdir[0] = '\0';
		return 1;
	}
	atexit(rm_tmpdir);
	snprintf(errlog, sizeof(errlog), "%s/stderr.log", tmpdir);
	snprintf(payload, sizeof(payload), "%s/payload.bin", tmpdir);
	snprintf(image, sizeof(image), "%s/image.bin", tmpdir);
	snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
	snprintf(pub, sizeof(pub), "%s/pub.pem", tmpdir);

	sha = calloc(runs, sizeof(*sha));
	ver = calloc(runs, sizeof(*ver));
	if (sha == NULL || ver == NULL) {
		fprintf(stderr, "bench_fwverify: out of memory\n");
		return 1;
	}

	{
		char *keygen[] = {fleetsec, "fw", "keygen", "--algo", "ed25519", "--out", key, NULL};
		char *pubkey[] = {fleetsec, "fw", "pubkey", key, "--out", pub, NULL};
		char *sign[] = {fleetsec, "fw",	   "sign",	   "--key",	  key,
				"--version", "1.0.0", "--header-size", "0x200", "--pad-header",
				payload,     image,   NULL};

		t0 = now_s();
		write_payload(payload, mib);
		run(keygen, NULL);
		run(pubkey, NULL);
		run(sign, NULL);
	}
	/* The payload is not needed any more; keep only the image cached. */
	remove(payload);
	if (stat(image, &st) != 0) {
		fprintf(stderr, "bench_fwverify: %s: %s\n", image, strerror(errno));
		return 1;
	}
	image_mib = (double)st.st_size / (1024.0 * 1024.0);
	printf("setup: %lu MiB random payload, Ed25519 key, signed with --header-size 0x200 "
	       "--pad-header into a %lld-byte image in %.2f s (untimed)\n",
	       mib, (long long)st.st_size, now_s() - t0);

	{
		char *sha_argv[] = {"sha256sum", image, NULL};
		char *ver_argv[] = {fleetsec, "fw", "verify", "--key", pub, image, NULL};
		char *fv_argv[] = {fleetsec, "--version", NULL};
		char *sv_argv[] = {"sha256sum", "--version", NULL};

		/* Warm the page cache and both binaries' pages: untimed. */
		run(sha_argv, NULL);
		run(ver_argv, NULL);
		for (unsigned long i = 0; i < runs; i++) {
			run(sha_argv, &sha[i]);
			run(ver_argv, &ver[i]);
			printf("run %lu: sha256sum %.3f s %7.1f MiB/s rss %ld KiB | fw verify %.3f s "
			       "%7.1f MiB/s rss %ld KiB\n",
			       i + 1, sha[i].seconds, image_mib / sha[i].seconds, sha[i].maxrss_kib,
			       ver[i].seconds, image_mib / ver[i].seconds, ver[i].maxrss_kib);
			fflush(stdout);
		}
		rss_baseline(fv_argv, runs, &ver_med, &ver_max);
		rss_baseline(sv_argv, runs, &sha_med, &sha_max);
	}
	summarise(sha, runs, image_mib, &ss);
	summarise(ver, runs, image_mib, &sv);
	getrusage(RUSAGE_SELF, &self);

	printf("sha256sum: median %.1f MiB/s (min %.1f, max %.1f), peak RSS median %.0f KiB, "
	       "max %ld KiB\n",
	       ss.mibps_median, ss.mibps_min, ss.mibps_max, ss.rss_median, ss.rss_max);
	printf("fw verify: median %.1f MiB/s (min %.1f, max %.1f), peak RSS median %.0f KiB, "
	       "max %ld KiB\n",
	       sv.mibps_median, sv.mibps_min, sv.mibps_max, sv.rss_median, sv.rss_max);
	printf("baseline rss: fleetsec --version median %.0f KiB (max %ld); "
	       "sha256sum --version median %.0f KiB (max %ld)\n",
	       ver_med, ver_max, sha_med, sha_max);
	printf("  fw verify above fleetsec --version: %+.0f KiB (median); "
	       "sha256sum above sha256sum --version: %+.0f KiB\n",
	       sv.rss_median - ver_med, ss.rss_median - sha_med);
	printf("rss floor: this program's own peak RSS %ld KiB (a child's ru_maxrss is never "
	       "below it)\n",
	       self.ru_maxrss);
	printf("ratio: fw verify / sha256sum = %.1f%% of sha256sum's throughput (target >= 90%%)\n",
	       100.0 * sv.mibps_median / ss.mibps_median);
	printf("rss: fw verify max %ld KiB = %.2f MiB (target < 4 MiB: %s)\n", sv.rss_max,
	       (double)sv.rss_max / 1024.0, sv.rss_max < 4096 ? "met" : "NOT met");
	free(sha);
	free(ver);
	return 0;
}
