/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: the ustar archive inside a backup, and its MANIFEST. */
#ifndef FLEETSEC_BACKUP_INT_H
#define FLEETSEC_BACKUP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetsec/common.h"

#define BK_TAR_BLOCK 512u
/* A member name: the ustar name field (100 bytes with its NUL), no prefix. */
#define BK_NAME_MAX 99u

/* True if name may be a member: 1 to BK_NAME_MAX bytes of [A-Za-z0-9._-],
 * at most one '/', no part empty or starting with '.' (so never "." or
 * ".." and never a hidden file). */
bool bk_name_ok(const char *name);

/* An archive being written into a buffer allocated once at its final size
 * (bk_tar_size), so that no copy of a private key is left behind in a
 * buffer that was grown and freed. */
struct bk_out {
	unsigned char *buf;
	size_t len, cap;
};

/* The archive bytes one member of len bytes takes (header and padding), added
 * to *total. Errors: OVERFLOW. */
FSEC_WUR enum fsec_err bk_tar_size(size_t len, size_t *total);

/* Append one ustar member (regular file, uid and gid 0) to the archive.
 * Errors: INVAL (bad name), TOO_LARGE (past the buffer's room). */
FSEC_WUR enum fsec_err bk_tar_add(struct bk_out *tar, const char *name, unsigned mode,
				  int64_t mtime, const unsigned char *data, size_t len);

/* Append the end of the archive (two zero blocks, which bk_tar_size does
 * not count). Errors: TOO_LARGE. */
FSEC_WUR enum fsec_err bk_tar_finish(struct bk_out *tar);

/* One member, pointing into the archive. */
struct bk_member {
	char name[BK_NAME_MAX + 1];
	unsigned mode;
	const unsigned char *data;
	size_t len;
};

/*
 * Read the member at *off of the archive buf (len bytes), strictly: a valid
 * header checksum, "ustar\0" "00", a regular file, a name that bk_name_ok
 * accepts and no prefix, octal fields of digits only, the data inside the
 * buffer. Advances *off past the member's padding. Returns FSEC_OK with
 * *end = false and *m filled, or FSEC_OK with *end = true at the end of the
 * archive (a zero block; everything after it must be zero too).
 * Errors: PARSE.
 */
FSEC_WUR enum fsec_err bk_tar_next(const unsigned char *buf, size_t len, size_t *off,
				   struct bk_member *m, bool *end);

/* MANIFEST, parsed: what the archive must hold, in ascending name order. */
struct bk_man_entry {
	char name[BK_NAME_MAX + 1];
	unsigned char sha[32];
	size_t len;
};

struct bk_manifest {
	struct bk_man_entry *v; /* free() it */
	size_t n, cap;
	int64_t created;
	bool keys;
};

/*
 * Every member of the opened archive buf (len bytes) against its manifest,
 * before restore writes anything: MANIFEST comes first, and the members
 * after it are exactly its entries, in order, each of its size and SHA-256.
 * Fills *m and *members (m->n entries pointing into buf; free() it). On
 * error, *m may hold entries to free and *members is untouched.
 * Errors: PARSE (not a backup archive), VERIFY (a member missing, extra or
 * altered), NOMEM, CRYPTO.
 */
FSEC_WUR enum fsec_err bk_verify_archive(const unsigned char *buf, size_t len,
					 struct bk_manifest *m, struct bk_member **members);

#endif
