/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Firmware slots (src/lib/slot): every offset checked in a form that cannot
 * wrap, writes refused on a slot opened for reading, erase to 0xff, the
 * SHA-256 of a range, and the power cuts that each write, erase and sync
 * offers the harness (before, after, torn), run in a child process.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "slot_int.h"
#include "testutil.h"

#define SLOT_SIZE 8192

struct fixture {
	char *dir, *path;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	unsigned char erased[SLOT_SIZE];

	f->dir = tu_mkdtemp();
	f->path = tu_path(f->dir, "slot");
	memset(erased, 0xff, sizeof(erased));
	tu_write(f->path, erased, sizeof(erased));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tu_rmtree(f->dir);
	free(f->path);
	free(f->dir);
	free(f);
	return 0;
}

static void read_file(const char *path, unsigned char *buf, size_t len)
{
	FILE *fp = fopen(path, "rb");

	assert_non_null(fp);
	assert_int_equal(fread(buf, 1, len, fp), len);
	fclose(fp);
}

static void opens_files_and_refuses_the_rest(void **state)
{
	struct fixture *f = *state;
	struct fsec_slot *s = NULL;
	char *fifo = tu_path(f->dir, "fifo"), *missing = tu_path(f->dir, "missing");

	assert_int_equal(fsec_slot_open(f->path, FSEC_SLOT_READ, &s), FSEC_OK);
	assert_int_equal(fsec_slot_size(s), SLOT_SIZE);
	assert_string_equal(fsec_slot_path(s), f->path);
	fsec_slot_close(s);
	s = NULL;
	/* A directory or a FIFO is no slot; a missing one is not created. */
	assert_int_equal(fsec_slot_open(f->dir, FSEC_SLOT_READ, &s), FSEC_ERR_IO);
	assert_non_null(strstr(fsec_err_detail(), "not a file or block device"));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(fsec_slot_open(fifo, FSEC_SLOT_WRITE, &s), FSEC_ERR_IO);
	assert_int_equal(fsec_slot_open(missing, FSEC_SLOT_WRITE, &s), FSEC_ERR_IO);
	assert_non_null(strstr(fsec_err_detail(), "cannot open"));
	assert_false(tu_exists(missing));
	assert_null(s);
	fsec_slot_close(NULL);
	free(fifo);
	free(missing);
}

/* Every range outside the slot is refused before anything is read or
 * written, including ranges whose end would wrap around 2^64. */
static void ranges_outside_the_slot(void **state)
{
	struct fixture *f = *state;
	struct fsec_slot *s = NULL;
	unsigned char buf[16] = {0}, md[32];
	unsigned char file[SLOT_SIZE], erased[SLOT_SIZE];

	assert_int_equal(fsec_slot_open(f->path, FSEC_SLOT_WRITE, &s), FSEC_OK);
	/* The last bytes are in; one more is out. */
	assert_int_equal(fsec_slot_read(s, SLOT_SIZE - 16, buf, 16), FSEC_OK);
	assert_int_equal(fsec_slot_read(s, SLOT_SIZE - 15, buf, 16), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "outside its 8192 bytes"));
	assert_int_equal(fsec_slot_read(s, SLOT_SIZE + 1, buf, 0), FSEC_ERR_INVAL);
	assert_int_equal(fsec_slot_read(s, UINT64_MAX - 4, buf, 16), FSEC_ERR_INVAL);
	assert_int_equal(fsec_slot_write(s, SLOT_SIZE - 15, buf, 16), FSEC_ERR_INVAL);
	assert_int_equal(fsec_slot_write(s, UINT64_MAX - 4, buf, 16), FSEC_ERR_INVAL);
	assert_int_equal(fsec_slot_erase(s, 1, SLOT_SIZE), FSEC_ERR_INVAL);
	assert_int_equal(fsec_slot_erase(s, 16, UINT64_MAX - 8), FSEC_ERR_INVAL);
	assert_int_equal(fsec_slot_hash(s, SLOT_SIZE, 1, md), FSEC_ERR_INVAL);
	assert_int_equal(fsec_slot_hash(s, 8, UINT64_MAX, md), FSEC_ERR_INVAL);
	fsec_slot_close(s);
	/* None of them touched the slot, nor grew the file. */
	memset(erased, 0xff, sizeof(erased));
	read_file(f->path, file, sizeof(file));
	assert_memory_equal(file, erased, sizeof(erased));
	{
		struct stat st;

		assert_int_equal(stat(f->path, &st), 0);
		assert_int_equal(st.st_size, SLOT_SIZE);
	}
}

static void read_only_slots_refuse_changes(void **state)
{
	struct fixture *f = *state;
	struct fsec_slot *s = NULL;
	unsigned char buf[4] = {1, 2, 3, 4};

	assert_int_equal(fsec_slot_open(f->path, FSEC_SLOT_READ, &s), FSEC_OK);
	assert_int_equal(fsec_slot_write(s, 0, buf, sizeof(buf)), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "reading only"));
	assert_int_equal(fsec_slot_erase(s, 0, 4), FSEC_ERR_INVAL);
	assert_int_equal(fsec_slot_sync(s), FSEC_ERR_INVAL);
	fsec_slot_close(s);
}

static void write_erase_read_and_hash(void **state)
{
	struct fixture *f = *state;
	struct fsec_slot *s = NULL;
	unsigned char data[3000], back[3000], file[SLOT_SIZE], md[32], want[32];
	unsigned int wlen = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 13 + 1);
	assert_int_equal(fsec_slot_open(f->path, FSEC_SLOT_WRITE, &s), FSEC_OK);
	assert_int_equal(fsec_slot_write(s, 100, data, sizeof(data)), FSEC_OK);
	assert_int_equal(fsec_slot_sync(s), FSEC_OK);
	assert_int_equal(fsec_slot_read(s, 100, back, sizeof(back)), FSEC_OK);
	assert_memory_equal(back, data, sizeof(data));
	/* The SHA-256 of a range, as OpenSSL computes it over the same bytes. */
	read_file(f->path, file, sizeof(file));
	assert_int_equal(EVP_Digest(file + 50, 5000, want, &wlen, EVP_sha256(), NULL), 1);
	assert_int_equal(fsec_slot_hash(s, 50, 5000, md), FSEC_OK);
	assert_memory_equal(md, want, 32);
	/* Erase reads back as erased flash: 0xff, and only in its range. */
	assert_int_equal(fsec_slot_erase(s, 1000, 1000), FSEC_OK);
	assert_int_equal(fsec_slot_sync(s), FSEC_OK);
	read_file(f->path, file, sizeof(file));
	for (size_t i = 1000; i < 2000; i++)
		assert_int_equal(file[i], 0xff);
	assert_memory_equal(file + 100, data, 900);
	assert_memory_equal(file + 2000, data + 1900, 1100);
	fsec_slot_close(s);
}

/* ---- power cuts ---- */

/* The number of the last durable write traced so far by this process. */
static unsigned long last_point(const char *trace)
{
	char line[256];
	unsigned long n = 0;
	FILE *fp = fopen(trace, "r");

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL)
		n = strtoul(line, NULL, 10);
	fclose(fp);
	return n;
}

enum op { WRITE, ERASE, SYNC };

/* In a child: cut power at the next slot operation op, in mode; the parent
 * sees the slot as the cut left it. */
static void cut(struct fixture *f, enum op op, const char *mode)
{
	char *trace = tu_path(f->dir, "trace"), spec[64];
	struct fsec_slot *s = NULL;
	unsigned char data[4096];
	int status = 0;
	pid_t pid;

	memset(data, 'A', sizeof(data));
	/* Learn where this process's count of durable writes stands. */
	setenv("FSEC_FAULT_TRACE", trace, 1);
	assert_int_equal(fsec_slot_open(f->path, FSEC_SLOT_WRITE, &s), FSEC_OK);
	assert_int_equal(fsec_slot_sync(s), FSEC_OK);
	snprintf(spec, sizeof(spec), "%lu:%s", last_point(trace) + 1, mode);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		enum fsec_err rc = FSEC_OK;

		setenv("FSEC_FAULT", spec, 1);
		if (op == WRITE)
			rc = fsec_slot_write(s, 0, data, sizeof(data));
		else if (op == ERASE)
			rc = fsec_slot_erase(s, 0, 4096);
		else
			rc = fsec_slot_sync(s);
		_exit(rc == FSEC_OK ? 0 : 1); /* no cut happened */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 99); /* the cut */
	unsetenv("FSEC_FAULT_TRACE");
	fsec_slot_close(s);
	free(trace);
}

static void count(const unsigned char *p, size_t n, unsigned char c, size_t *k)
{
	*k = 0;
	for (size_t i = 0; i < n; i++)
		*k += p[i] == c;
}

static void every_write_erase_and_sync_is_a_cut_point(void **state)
{
	struct fixture *f = *state;
	unsigned char file[SLOT_SIZE], a[4096];
	size_t k;

	memset(a, 'A', sizeof(a));
#ifndef FSEC_FAULT_INJECTION
	skip();
#endif
	cut(f, WRITE, "before");
	read_file(f->path, file, sizeof(file));
	count(file, 4096, 'A', &k);
	assert_int_equal(k, 0);
	cut(f, WRITE, "torn"); /* half of it reached storage */
	read_file(f->path, file, sizeof(file));
	count(file, 4096, 'A', &k);
	assert_int_equal(k, 2048);
	assert_memory_equal(file, a, 2048);
	cut(f, WRITE, "after");
	read_file(f->path, file, sizeof(file));
	assert_memory_equal(file, a, 4096);
	count(file + 4096, SLOT_SIZE - 4096, 0xff, &k);
	assert_int_equal(k, SLOT_SIZE - 4096);
	/* An erase cut halfway leaves the second half as it was. */
	cut(f, ERASE, "torn");
	read_file(f->path, file, sizeof(file));
	count(file, 2048, 0xff, &k);
	assert_int_equal(k, 2048);
	assert_memory_equal(file + 2048, a, 2048);
	cut(f, ERASE, "before");
	read_file(f->path, file, sizeof(file));
	assert_memory_equal(file + 2048, a, 2048);
	cut(f, ERASE, "after");
	read_file(f->path, file, sizeof(file));
	count(file, 4096, 0xff, &k);
	assert_int_equal(k, 4096);
	cut(f, SYNC, "before");
	cut(f, SYNC, "torn");
	cut(f, SYNC, "after");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(opens_files_and_refuses_the_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(ranges_outside_the_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(read_only_slots_refuse_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(write_erase_read_and_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(every_write_erase_and_sync_is_a_cut_point, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
