/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Firmware audit: the scan. fsec_audit_firmware() walks each image, a
 * directory (never following a symlink) or a tar archive read from a
 * private mapping, hands every regular file and symlink to the checks of
 * audit_fw_checks.c, and with several images reports the private keys they
 * share.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_fw_int.h"
#include "err_int.h"
#include "tar_int.h"

#define DIR_DEPTH_MAX 64

/* ---- the directory walker ---- */

struct walk {
	struct fsec_audit *a;
	struct fw_state *st;
	uint64_t file_max;
	unsigned char *buf;
	size_t cap;
	size_t files;
};

static enum fsec_err skipped(struct walk *w, const char *path, const char *why)
{
	char sbuf[FSEC_AUDIT_SUBJECT_MAX + 1];

	return fsec_audit_add(w->a, "FW-SKIPPED",
			      fsec_audit_fw_subject(w->st, path, sbuf, sizeof(sbuf)), 0, "%s", why);
}

static enum fsec_err scan_file(struct walk *w, int dfd, const char *name, const char *path)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	enum fsec_err rc = FSEC_OK;
	struct stat sb;
	size_t got = 0;

	if (fd < 0)
		return skipped(w, path, "cannot be opened");
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return FSEC_OK; /* replaced by something else since the listing */
	}
	if ((uint64_t)sb.st_size > w->file_max) {
		close(fd);
		return skipped(w, path, "larger than the file size limit");
	}
	if ((size_t)sb.st_size + 1 > w->cap) {
		size_t ncap = (size_t)sb.st_size + 1 < 65536 ? 65536 : (size_t)sb.st_size + 1;
		unsigned char *nb = realloc(w->buf, ncap);

		if (nb == NULL) {
			close(fd);
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		}
		w->buf = nb;
		w->cap = ncap;
	}
	/* The size is a hint: a file that grows while read is cut at it. */
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, w->buf + got, (size_t)sb.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	rc = fsec_audit_fw_file(w->a, w->st, path, w->buf, got);
	return rc;
}

static enum fsec_err walk_dir(struct walk *w, int dfd, char *path, size_t plen, size_t pcap,
			      int depth)
{
	enum fsec_err rc = FSEC_OK;
	struct dirent *de;
	DIR *d;

	if (depth > DIR_DEPTH_MAX) {
		close(dfd);
		return skipped(w, path, "directory nested too deep");
	}
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return skipped(w, path, "directory cannot be read");
	}
	while (rc == FSEC_OK && (de = readdir(d)) != NULL) {
		size_t nlen = strlen(de->d_name);
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (plen + nlen + 2 > pcap) {
			rc = skipped(w, path, "path too long below here");
			continue;
		}
		if (++w->files > FSEC_AUDIT_FW_MAX_FILES) {
			rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "more than %u files in the image",
					 FSEC_AUDIT_FW_MAX_FILES);
			break;
		}
		snprintf(path + plen, pcap - plen, "%s%s", plen > 0 ? "/" : "", de->d_name);
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = skipped(w, path, "cannot be examined");
		} else if (S_ISLNK(sb.st_mode)) {
			char target[512];
			ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);

			if (n >= 0) {
				target[n] = '\0';
				rc = fsec_audit_fw_link(w->a, w->st, path, target);
			}
		} else if (S_ISDIR(sb.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0)
				rc = skipped(w, path, "directory cannot be opened");
			else
				rc = walk_dir(w, sub, path,
					      plen + nlen + (plen > 0 ? 1 : 0), pcap, depth + 1);
		} else if (S_ISREG(sb.st_mode)) {
			rc = scan_file(w, dirfd(d), de->d_name, path);
		}
		path[plen] = '\0';
	}
	closedir(d);
	return rc;
}

/* A tar archive's members to the checks (fsec_tar_walk's callback). */
struct tar_scan {
	struct fsec_audit *a;
	struct fw_state *st;
	uint64_t file_max;
};

static enum fsec_err tar_skipped(struct fsec_audit *a, struct fw_state *st, const char *path)
{
	char sbuf[FSEC_AUDIT_SUBJECT_MAX + 1];

	if (st->image != NULL)
		snprintf(sbuf, sizeof(sbuf), "%.200s:%.300s", st->image, path);
	else
		snprintf(sbuf, sizeof(sbuf), "%.500s", path);
	return fsec_audit_add(a, "FW-SKIPPED", sbuf, 0, "%s", "larger than the file size limit");
}

static enum fsec_err tar_member(const struct fsec_tar_entry *e, void *ctx)
{
	struct tar_scan *ts = ctx;

	if (e->kind == FSEC_TAR_SYMLINK)
		return fsec_audit_fw_link(ts->a, ts->st, e->name, e->link);
	return e->size > ts->file_max
		       ? tar_skipped(ts->a, ts->st, e->name)
		       : fsec_audit_fw_file(ts->a, ts->st, e->name, e->data, (size_t)e->size);
}

enum fsec_err fsec_audit_fw_tar(struct fsec_audit *a, struct fw_state *st,
				const unsigned char *buf, size_t len, uint64_t file_max)
{
	struct tar_scan ts = {.a = a, .st = st, .file_max = file_max};

	return fsec_tar_walk(buf, len, FSEC_AUDIT_FW_MAX_FILES, tar_member, &ts);
}

static enum fsec_err scan_tar(struct walk *w, int fd, const char *image)
{
	enum fsec_err rc;
	struct stat sb;
	void *map;

	if (fstat(fd, &sb) != 0)
		return fsec_seterr(FSEC_ERR_IO, "%s: %s", image, strerror(errno));
	if (sb.st_size == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "%s: empty file, not a tar archive", image);
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return fsec_seterr(FSEC_ERR_IO, "%s: %s", image, strerror(errno));
	rc = fsec_audit_fw_tar(w->a, w->st, map, (size_t)sb.st_size, w->file_max);
	munmap(map, (size_t)sb.st_size);
	if (rc == FSEC_ERR_PARSE)
		return fsec_seterr(rc, "%s: %s", image, fsec_err_detail());
	return rc;
}

static enum fsec_err scan_image(struct walk *w, const char *image)
{
	int fd = open(image, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	char path[4096] = "";
	struct stat sb;
	enum fsec_err rc;

	if (fd < 0)
		return fsec_seterr(FSEC_ERR_IO, "%s: %s", image, strerror(errno));
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return fsec_seterr(FSEC_ERR_IO, "%s: %s", image, strerror(errno));
	}
	if (S_ISDIR(sb.st_mode))
		return walk_dir(w, fd, path, 0, sizeof(path), 0);
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return fsec_seterr(FSEC_ERR_IO, "%s: neither a directory nor a tar file", image);
	}
	rc = scan_tar(w, fd, image);
	close(fd);
	return rc;
}

static int cmp_key(const void *pa, const void *pb)
{
	const struct key_seen *x = pa, *y = pb;
	int c = memcmp(x->digest, y->digest, 32);

	return c != 0 ? c : (x->image > y->image) - (x->image < y->image);
}

/* Keys found in more than one image: one finding per key, naming where. */
static enum fsec_err report_shared(struct fsec_audit *a, struct key_list *kl)
{
	enum fsec_err rc = FSEC_OK;

	if (kl->n > 1)
		qsort(kl->v, kl->n, sizeof(kl->v[0]), cmp_key);
	for (size_t i = 0; i < kl->n && rc == FSEC_OK;) {
		size_t j = i + 1, images = 1;
		char where[FSEC_AUDIT_EVIDENCE_MAX] = "";
		size_t wl = 0;

		while (j < kl->n && memcmp(kl->v[j].digest, kl->v[i].digest, 32) == 0) {
			images += kl->v[j].image != kl->v[j - 1].image;
			j++;
		}
		if (images > 1) {
			for (size_t k = i + 1; k < j && wl + 2 < sizeof(where); k++) {
				int n = snprintf(where + wl, sizeof(where) - wl, "%s%s",
						 wl > 0 ? ", " : "", kl->v[k].path);

				if (n < 0)
					break;
				wl += (size_t)n < sizeof(where) - wl ? (size_t)n : sizeof(where) - wl - 1;
			}
			rc = fsec_audit_add(a, "FW-KEY-SHARED", kl->v[i].path, 0,
					    "same key in %zu images, also at %s", images, where);
		}
		i = j;
	}
	return rc;
}

FSEC_API enum fsec_err fsec_audit_firmware(const char *const *paths, size_t npaths,
					   const struct fsec_audit_fw_opts *o,
					   struct fsec_audit *a)
{
	struct key_list kl = {0};
	struct walk w = {.a = a};
	enum fsec_err rc = FSEC_ERR_INVAL;

	fsec_clearerr();
	w.file_max = o != NULL && o->file_max != 0 ? o->file_max : FSEC_AUDIT_FW_FILE_MAX_DEFAULT;
	if (npaths == 0 || npaths > FSEC_AUDIT_FW_MAX_IMAGES)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "give 1 to %d images",
				   FSEC_AUDIT_FW_MAX_IMAGES);
	for (size_t i = 0; i < npaths; i++) {
		struct fw_state st = {.image = npaths > 1 ? paths[i] : NULL, .keys = &kl};

		kl.image = (unsigned)i;
		w.st = &st;
		w.files = 0;
		if ((rc = scan_image(&w, paths[i])) != FSEC_OK)
			goto out;
		if (!st.update_client &&
		    (rc = fsec_audit_add(a, "FW-NO-UPDATE", npaths > 1 ? paths[i] : "/", 0, "%s",
					 "no known update client (fleetsec-agent, rauc, swupdate, "
					 "mender, ...) in bin/ or sbin/")) != FSEC_OK)
			goto out;
	}
	rc = npaths > 1 ? report_shared(a, &kl) : FSEC_OK;
out:
	free(kl.v);
	free(w.buf);
	return rc;
}
