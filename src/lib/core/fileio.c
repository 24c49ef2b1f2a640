/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded reads and staged, durable writes (fileio.h): every file
 * fleetsec writes is written, fsync'd and renamed into place here. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err_int.h"
#include "fault_int.h"
#include "fleetsec/fileio.h"

struct fsec_file_stage {
	char *path;
	char *tmp; /* NULL once committed */
	int fd;    /* open until commit */
	unsigned flags;
};

FSEC_API enum fsec_err fsec_file_open_regular(const char *path, int *fd_out, uint64_t *size)
{
	struct stat st;
	int fd, flags;

	/* O_NONBLOCK so that opening a FIFO cannot hang us; cleared below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fsec_seterr(FSEC_ERR_IO, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fsec_seterr(FSEC_ERR_IO, "not a regular file");
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
		close(fd);
		return fsec_seterr(FSEC_ERR_IO, "cannot set up the file: %s", strerror(errno));
	}
	*fd_out = fd;
	*size = (uint64_t)st.st_size;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_file_read(const char *path, size_t max, unsigned char **buf,
				      size_t *len)
{
	enum fsec_err rc;
	unsigned char *data = NULL;
	uint64_t fsize = 0;
	size_t have = 0, cap;
	int fd;

	if ((rc = fsec_file_open_regular(path, &fd, &fsize)) != FSEC_OK)
		return rc;
	rc = FSEC_ERR_IO;
	if (fsize > max) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "file is %llu bytes, the limit is %zu",
				 (unsigned long long)fsize, max);
		goto out;
	}
	/* One spare byte detects a file that grew after fstat: its size, and so
	 * the cap check, would no longer hold. */
	cap = (size_t)fsize + 1;
	data = malloc(cap + 1);
	if (data == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	while (have < cap) {
		ssize_t n = read(fd, data + have, cap - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fsec_seterr(rc, "read failed: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have == cap) {
		fsec_seterr(rc, "file changed while being read");
		goto out;
	}
	data[have] = '\0';
	*buf = data;
	data = NULL;
	*len = have;
	rc = FSEC_OK;
out:
	free(data);
	close(fd);
	return rc;
}

static enum fsec_err sync_dir_of(const char *path)
{
	char *copy = strdup(path);
	enum fsec_err rc = FSEC_ERR_IO;
	int fd;

	if (copy == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fsec_seterr(rc, "cannot open directory of %s: %s", path, strerror(errno));
		goto out;
	}
	if (fsync(fd) != 0) {
		fsec_seterr(rc, "fsync of directory of %s failed: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);
	rc = FSEC_OK;
out:
	free(copy);
	return rc;
}

FSEC_API enum fsec_err fsec_dir_sync_parent(const char *path)
{
	return sync_dir_of(path);
}

static enum fsec_err write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fsec_seterr(FSEC_ERR_IO, "write failed: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_file_stage_open(const char *path, mode_t mode, unsigned flags,
					    struct fsec_file_stage **out)
{
	struct fsec_file_stage *st = NULL;
	enum fsec_err rc = FSEC_ERR_IO;
	size_t plen = strlen(path), tlen;

	if (plen == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "empty path");
	if ((flags & FSEC_FILE_NOCLOBBER) && access(path, F_OK) == 0)
		return fsec_seterr(FSEC_ERR_EXISTS, "%s already exists; refusing to replace it", path);
	if (fsec_add_overflow(plen, sizeof(".tmp.XXXXXX"), &tlen))
		return fsec_seterr(FSEC_ERR_OVERFLOW, "path too long");
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	st->fd = -1;
	st->flags = flags;
	st->path = strdup(path);
	st->tmp = malloc(tlen);
	if (st->path == NULL || st->tmp == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(st->tmp, tlen, "%s.tmp.XXXXXX", path);
	/* mkostemp creates with O_EXCL and mode 0600, so a secret is never
	 * readable by others even before the fchmod below. */
	st->fd = mkostemp(st->tmp, O_CLOEXEC);
	if (st->fd < 0) {
		fsec_seterr(rc, "cannot create temporary file for %s: %s", path, strerror(errno));
		free(st->tmp);
		st->tmp = NULL;
		goto out;
	}
	if (fchmod(st->fd, mode) != 0) {
		fsec_seterr(rc, "chmod of %s failed: %s", st->tmp, strerror(errno));
		goto out;
	}
	*out = st;
	st = NULL;
	rc = FSEC_OK;
out:
	fsec_file_stage_free(st);
	return rc;
}

FSEC_API enum fsec_err fsec_file_stage_write(struct fsec_file_stage *st, const void *data,
					     size_t len)
{
	if (st->fd < 0)
		return fsec_seterr(FSEC_ERR_INVAL, "stage for %s is closed", st->path);
	return write_all(st->fd, data, len);
}

FSEC_API enum fsec_err fsec_file_stage_new(const char *path, const void *data, size_t len,
					   mode_t mode, unsigned flags,
					   struct fsec_file_stage **out)
{
	struct fsec_file_stage *st = NULL;
	enum fsec_err rc = fsec_file_stage_open(path, mode, flags, &st);

	if (rc == FSEC_OK)
		rc = fsec_file_stage_write(st, data, len);
	if (rc != FSEC_OK) {
		fsec_file_stage_free(st);
		return rc;
	}
	*out = st;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_file_stage_commit(struct fsec_file_stage *st)
{
	enum fsec_fault fault;
	enum fsec_err rc;
	int r;

	if (st->tmp == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "stage for %s already committed", st->path);
	fault = fsec_fault_point(st->path);
	if (fault == FSEC_FAULT_TORN && st->fd >= 0) {
		/* Half the new contents reached the disk, the rename never did. */
		off_t end = lseek(st->fd, 0, SEEK_END);

		if (end > 0 && ftruncate(st->fd, end / 2) == 0)
			fsync(st->fd);
		fsec_fault_die();
	}
	/* Data reaches the disk before the name does, or a crash could leave
	 * the new name on an empty file. */
	if (st->fd >= 0) {
		int bad = fsync(st->fd);

		bad |= close(st->fd);
		st->fd = -1;
		if (bad != 0)
			return fsec_seterr(FSEC_ERR_IO, "cannot flush %s: %s", st->tmp, strerror(errno));
	}
	if (st->flags & FSEC_FILE_NOCLOBBER)
		r = renameat2(AT_FDCWD, st->tmp, AT_FDCWD, st->path, RENAME_NOREPLACE);
	else
		r = rename(st->tmp, st->path);
	if (r != 0) {
		if (errno == EEXIST)
			return fsec_seterr(FSEC_ERR_EXISTS, "%s already exists; refusing to replace it",
					   st->path);
		return fsec_seterr(FSEC_ERR_IO, "cannot rename into %s: %s", st->path, strerror(errno));
	}
	free(st->tmp);
	st->tmp = NULL;
	rc = sync_dir_of(st->path);
	if (fault == FSEC_FAULT_AFTER)
		fsec_fault_die();
	return rc;
}

FSEC_API void fsec_file_stage_free(struct fsec_file_stage *st)
{
	if (st == NULL)
		return;
	if (st->fd >= 0)
		close(st->fd);
	if (st->tmp != NULL)
		unlink(st->tmp);
	free(st->tmp);
	free(st->path);
	free(st);
}

FSEC_API enum fsec_err fsec_file_write_atomic(const char *path, const void *data, size_t len,
					      mode_t mode, unsigned flags)
{
	struct fsec_file_stage *st = NULL;
	enum fsec_err rc;

	rc = fsec_file_stage_new(path, data, len, mode, flags, &st);
	if (rc == FSEC_OK)
		rc = fsec_file_stage_commit(st);
	fsec_file_stage_free(st);
	return rc;
}
