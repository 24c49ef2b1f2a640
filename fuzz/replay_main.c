/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replays fuzz inputs through a target's LLVMFuzzerTestOneInput without
 * libFuzzer, so that plain ctest under gcc (and the AsanUbsan build) runs
 * every corpus file, the regress-* ones included (SQLite's fuzzcheck).
 *
 * usage: fuzz_replay_<name> PATH...
 * Each PATH is a file, or a directory whose regular files are replayed in
 * name order. Each input is copied into a heap buffer of exactly its size,
 * as libFuzzer does, so that a read past its end is a sanitizer report. A
 * target's abort() or a sanitizer report ends the run; otherwise the exit
 * status is 0 only if at least one input was replayed and every one was
 * read whole and returned 0 or -1 (libFuzzer's two legal values).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as in libFuzzer: weak, so NULL when not defined. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* No input in the corpora comes near this; a bigger file is a mistake (a
 * stray image or archive), not a test. fuzz.sh fuzzes with -max_len=70000. */
#define REPLAY_MAX_INPUT (16u * 1024u * 1024u)

static int replay_file(const char *path)
{
	FILE *f = NULL;
	uint8_t *buf = NULL;
	struct stat st;
	size_t size, got;
	int ret = -1, rc;

	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "fuzz_replay: %s: not a regular file\n", path);
		goto out;
	}
	/* st_size is signed and attacker-sized in principle: bound it before
	 * it becomes an allocation size. */
	if (st.st_size < 0 || (uintmax_t)st.st_size > REPLAY_MAX_INPUT) {
		fprintf(stderr, "fuzz_replay: %s: %jd bytes, over the %u-byte cap\n", path,
			(intmax_t)st.st_size, REPLAY_MAX_INPUT);
		goto out;
	}
	size = (size_t)st.st_size;
	/* Exactly size bytes (malloc(0) for an empty input): ASan then sees
	 * any read past the end. */
	buf = malloc(size);
	if (buf == NULL && size != 0) {
		fprintf(stderr, "fuzz_replay: %s: out of memory\n", path);
		goto out;
	}
	got = size != 0 ? fread(buf, 1, size, f) : 0;
	/* The whole file and nothing more: a short read or a file that grew
	 * would replay something other than the corpus entry. */
	if (got != size || fgetc(f) != EOF || ferror(f)) {
		fprintf(stderr, "fuzz_replay: %s: read %zu of %zu bytes\n", path, got, size);
		goto out;
	}
	fclose(f);
	f = NULL;

	fprintf(stderr, "fuzz_replay: %s (%zu bytes)\n", path, size);
	rc = LLVMFuzzerTestOneInput(buf, size);
	if (rc != 0 && rc != -1) {
		fprintf(stderr, "fuzz_replay: %s: the target returned %d (only 0 or -1 are legal)\n",
			path, rc);
		goto out;
	}
	ret = 0;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	return ret;
}

static int skip_dot(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* Replays every entry of dir in name order; *count gets the number replayed.
 * Anything that is not a regular file is an error, so that nothing in a
 * corpus goes unreplayed without a word. */
static int replay_dir(const char *dir, unsigned long *count)
{
	struct dirent **ents = NULL;
	char path[PATH_MAX];
	int n, i, ret = -1, len;

	n = scandir(dir, &ents, skip_dot, alphasort);
	if (n < 0) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		len = snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (len < 0 || (size_t)len >= sizeof(path)) {
			fprintf(stderr, "fuzz_replay: %s/%s: path too long\n", dir, ents[i]->d_name);
			goto out;
		}
		if (replay_file(path) != 0)
			goto out;
		(*count)++;
	}
	ret = 0;
out:
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned long count = 0;
	struct stat st;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL && LLVMFuzzerInitialize(&argc, &argv) != 0) {
		fprintf(stderr, "fuzz_replay: LLVMFuzzerInitialize failed\n");
		return 1;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "fuzz_replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) != 0)
				return 1;
		} else {
			if (replay_file(argv[i]) != 0)
				return 1;
			count++;
		}
	}
	/* An empty corpus replays nothing and proves nothing. */
	if (count == 0) {
		fprintf(stderr, "fuzz_replay: no inputs in the paths given\n");
		return 1;
	}
	printf("fuzz_replay: %lu inputs replayed, all clean\n", count);
	return 0;
}
