/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fleetsec/fileio.h"
#include "testutil.h"

/* Number of entries in dir besides . and .. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void atomic_write_and_read(void **state)
{
	char *dir = tu_mkdtemp(), *p = tu_path(dir, "f");
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat st;

	(void)state;
	assert_int_equal(fsec_file_write_atomic(p, "hello", 5, 0640, 0), FSEC_OK);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(fsec_file_write_atomic(p, "bye", 3, 0640, 0), FSEC_OK);
	assert_int_equal(fsec_file_read(p, 100, &buf, &len), FSEC_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "bye", 4); /* NUL-terminated */
	free(buf);
	/* Only the file itself: no temporary left behind. */
	assert_int_equal(count_entries(dir), 1);
	tu_rmtree(dir);
	free(p);
	free(dir);
}

static void noclobber_refuses_existing(void **state)
{
	char *dir = tu_mkdtemp(), *p = tu_path(dir, "key");
	unsigned char *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(fsec_file_write_atomic(p, "one", 3, 0600, FSEC_FILE_NOCLOBBER), FSEC_OK);
	assert_int_equal(fsec_file_write_atomic(p, "two", 3, 0600, FSEC_FILE_NOCLOBBER),
			 FSEC_ERR_EXISTS);
	assert_int_equal(fsec_file_read(p, 100, &buf, &len), FSEC_OK);
	assert_memory_equal(buf, "one", 3);
	free(buf);
	assert_int_equal(count_entries(dir), 1);
	tu_rmtree(dir);
	free(p);
	free(dir);
}

static void noclobber_race_at_commit(void **state)
{
	char *dir = tu_mkdtemp(), *p = tu_path(dir, "key");
	struct fsec_file_stage *st = NULL;

	(void)state;
	assert_int_equal(fsec_file_stage_new(p, "new", 3, 0600, FSEC_FILE_NOCLOBBER, &st), FSEC_OK);
	tu_write(p, "old", 3); /* appears between stage and commit */
	assert_int_equal(fsec_file_stage_commit(st), FSEC_ERR_EXISTS);
	fsec_file_stage_free(st);
	assert_int_equal(count_entries(dir), 1);
	tu_rmtree(dir);
	free(p);
	free(dir);
}

static void uncommitted_stage_leaves_nothing(void **state)
{
	char *dir = tu_mkdtemp(), *p = tu_path(dir, "out");
	struct fsec_file_stage *st = NULL;

	(void)state;
	assert_int_equal(fsec_file_stage_new(p, "x", 1, 0644, 0, &st), FSEC_OK);
	assert_false(tu_exists(p));
	assert_int_equal(count_entries(dir), 1); /* the temporary */
	fsec_file_stage_free(st);
	assert_int_equal(count_entries(dir), 0);
	fsec_file_stage_free(NULL);
	tu_rmtree(dir);
	free(p);
	free(dir);
}

static void read_limits(void **state)
{
	char *dir = tu_mkdtemp(), *p = tu_path(dir, "f");
	unsigned char *buf = NULL;
	size_t len = 0;

	(void)state;
	tu_write(p, "0123456789", 10);
	assert_int_equal(fsec_file_read(p, 10, &buf, &len), FSEC_OK); /* exactly at the cap */
	free(buf);
	buf = NULL;
	assert_int_equal(fsec_file_read(p, 9, &buf, &len), FSEC_ERR_TOO_LARGE);
	assert_null(buf);
	assert_int_equal(fsec_file_read(dir, 100, &buf, &len), FSEC_ERR_IO); /* a directory */
	assert_non_null(strstr(fsec_err_detail(), "not a regular file"));
	assert_int_equal(fsec_file_read("/nonexistent/x", 100, &buf, &len), FSEC_ERR_IO);
	assert_null(buf);
	tu_rmtree(dir);
	free(p);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(atomic_write_and_read),
		cmocka_unit_test(noclobber_refuses_existing),
		cmocka_unit_test(noclobber_race_at_commit),
		cmocka_unit_test(uncommitted_stage_leaves_nothing),
		cmocka_unit_test(read_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
