/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Firmware slots (slot_int.h): a file or a block device behind MCUboot's
 * flash_area_* verbs. Every bound is checked here, once, in a form that
 * cannot wrap (off <= size first, then len <= size - off), so no caller can
 * write outside its slot whatever lengths a release or a server sends.
 * Each write, erase and sync asks core/fault.c whether to cut power there.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "err_int.h"
#include "fault_int.h"
#include "slot_int.h"

/* Erase writes this many 0xff bytes at a time; hashing reads this much. */
#define ERASE_BLOCK (64u * 1024u)
#define HASH_BLOCK (256u * 1024u)

struct fsec_slot {
	int fd;
	bool writable;
	uint64_t size;
	char *path;
};

enum fsec_err fsec_slot_open(const char *path, enum fsec_slot_mode mode,
				      struct fsec_slot **out)
{
	struct fsec_slot *s = NULL;
	struct stat st;
	uint64_t size = 0;
	enum fsec_err rc = FSEC_ERR_IO;
	int fd = open(path, (mode == FSEC_SLOT_WRITE ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return fsec_seterr(FSEC_ERR_IO, "slot %s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = fsec_seterr(FSEC_ERR_IO, "slot %s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
			rc = fsec_seterr(FSEC_ERR_IO, "slot %s: %s", path, strerror(errno));
			goto out;
		}
	} else {
		rc = fsec_seterr(FSEC_ERR_IO, "slot %s: not a file or block device", path);
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->path = strdup(path)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	s->fd = fd;
	s->writable = mode == FSEC_SLOT_WRITE;
	s->size = size;
	*out = s;
	s = NULL;
	fd = -1;
	rc = FSEC_OK;
out:
	if (s != NULL)
		free(s->path);
	free(s);
	if (fd >= 0)
		close(fd);
	return rc;
}

void fsec_slot_close(struct fsec_slot *s)
{
	if (s == NULL)
		return;
	close(s->fd);
	free(s->path);
	free(s);
}

uint64_t fsec_slot_size(const struct fsec_slot *s)
{
	return s->size;
}

const char *fsec_slot_path(const struct fsec_slot *s)
{
	return s->path;
}

/* [off, off + len) inside the slot. Written so that it cannot wrap: off is
 * checked against the size first, so size - off cannot underflow. */
static enum fsec_err check_range(const struct fsec_slot *s, uint64_t off, uint64_t len)
{
	if (off > s->size || len > s->size - off)
		return fsec_seterr(FSEC_ERR_INVAL,
				   "slot %s: %llu bytes at %llu are outside its %llu bytes", s->path,
				   (unsigned long long)len, (unsigned long long)off,
				   (unsigned long long)s->size);
	return FSEC_OK;
}

static enum fsec_err check_writable(const struct fsec_slot *s)
{
	if (!s->writable)
		return fsec_seterr(FSEC_ERR_INVAL, "slot %s is open for reading only", s->path);
	return FSEC_OK;
}

enum fsec_err fsec_slot_read(struct fsec_slot *s, uint64_t off, void *buf, size_t len)
{
	unsigned char *p = buf;
	enum fsec_err rc;

	if ((rc = check_range(s, off, len)) != FSEC_OK)
		return rc;
	while (len > 0) {
		ssize_t n = pread(s->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fsec_seterr(FSEC_ERR_IO, "slot %s: read failed: %s", s->path,
					   strerror(errno));
		/* A file slot can shrink under us; a short slot is no image. */
		if (n == 0)
			return fsec_seterr(FSEC_ERR_IO, "slot %s: short read", s->path);
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return FSEC_OK;
}

static enum fsec_err pwrite_all(struct fsec_slot *s, const unsigned char *p, size_t n,
				uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(s->fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return fsec_seterr(FSEC_ERR_IO, "slot %s: write failed: %s", s->path,
					   w == 0 ? "no progress" : strerror(errno));
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return FSEC_OK;
}

/* The power cut of a torn write or erase: what was written reaches storage,
 * the rest never does. */
static _Noreturn void die_torn(struct fsec_slot *s)
{
	if (fdatasync(s->fd) != 0)
		fsec_clearerr();
	fsec_fault_die();
#ifndef FSEC_FAULT_INJECTION
	abort(); /* unreachable: torn cuts exist only in test builds */
#endif
}

enum fsec_err fsec_slot_write(struct fsec_slot *s, uint64_t off, const void *buf,
				       size_t len)
{
	enum fsec_fault fault;
	enum fsec_err rc;

	if ((rc = check_writable(s)) != FSEC_OK || (rc = check_range(s, off, len)) != FSEC_OK)
		return rc;
	fault = fsec_fault_point("slot write");
	if (fault == FSEC_FAULT_TORN) {
		/* Half of it, as when power fails in the middle of a write. */
		if (pwrite_all(s, buf, len / 2, off) != FSEC_OK)
			fsec_clearerr();
		die_torn(s);
	}
	if ((rc = pwrite_all(s, buf, len, off)) != FSEC_OK)
		return rc;
	if (fault == FSEC_FAULT_AFTER) {
		if (fdatasync(s->fd) != 0)
			fsec_clearerr();
		fsec_fault_die();
	}
	return FSEC_OK;
}

/* Write 0xff over [off, end), a block at a time. */
static enum fsec_err fill_ff(struct fsec_slot *s, uint64_t off, uint64_t end)
{
	unsigned char *ff = malloc(ERASE_BLOCK);
	enum fsec_err rc = FSEC_OK;

	if (ff == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	memset(ff, 0xff, ERASE_BLOCK);
	while (rc == FSEC_OK && off < end) {
		size_t n = end - off < ERASE_BLOCK ? (size_t)(end - off) : ERASE_BLOCK;

		rc = pwrite_all(s, ff, n, off);
		off += n;
	}
	free(ff);
	return rc;
}

enum fsec_err fsec_slot_erase(struct fsec_slot *s, uint64_t off, uint64_t len)
{
	enum fsec_fault fault;
	enum fsec_err rc;

	if ((rc = check_writable(s)) != FSEC_OK || (rc = check_range(s, off, len)) != FSEC_OK)
		return rc;
	fault = fsec_fault_point("slot erase");
	if (fault == FSEC_FAULT_TORN) {
		/* The first half erased, the second still holds the old bytes. */
		if (fill_ff(s, off, off + len / 2) != FSEC_OK)
			fsec_clearerr();
		die_torn(s);
	}
	if ((rc = fill_ff(s, off, off + len)) != FSEC_OK)
		return rc;
	if (fault == FSEC_FAULT_AFTER) {
		if (fdatasync(s->fd) != 0)
			fsec_clearerr();
		fsec_fault_die();
	}
	return FSEC_OK;
}

enum fsec_err fsec_slot_sync(struct fsec_slot *s)
{
	enum fsec_fault fault;
	enum fsec_err rc;

	if ((rc = check_writable(s)) != FSEC_OK)
		return rc;
	/* A sync has no halves: a torn cut stops after it, like "after". */
	fault = fsec_fault_point("slot sync");
	if (fdatasync(s->fd) != 0)
		return fsec_seterr(FSEC_ERR_IO, "slot %s: sync failed: %s", s->path, strerror(errno));
	if (fault != FSEC_FAULT_NONE)
		fsec_fault_die();
	return FSEC_OK;
}

enum fsec_err fsec_slot_hash(struct fsec_slot *s, uint64_t off, uint64_t len,
				      unsigned char md[32])
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *buf = NULL, out[32];
	uint64_t end;
	enum fsec_err rc;

	if ((rc = check_range(s, off, len)) != FSEC_OK)
		return rc;
	rc = FSEC_ERR_CRYPTO;
	end = off + len; /* cannot wrap: checked above */
	if ((ctx = EVP_MD_CTX_new()) == NULL || (buf = malloc(HASH_BLOCK)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		fsec_seterr(rc, "SHA-256 failed");
		goto out;
	}
	while (off < end) {
		size_t n = end - off < HASH_BLOCK ? (size_t)(end - off) : HASH_BLOCK;

		if ((rc = fsec_slot_read(s, off, buf, n)) != FSEC_OK)
			goto out;
		rc = FSEC_ERR_CRYPTO;
		if (!EVP_DigestUpdate(ctx, buf, n)) {
			fsec_seterr(rc, "SHA-256 failed");
			goto out;
		}
		off += n;
	}
	if (!EVP_DigestFinal_ex(ctx, out, NULL)) {
		fsec_seterr(rc, "SHA-256 failed");
		goto out;
	}
	memcpy(md, out, sizeof(out));
	rc = FSEC_OK;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}
