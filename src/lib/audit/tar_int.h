/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to audit/: a tar walker that knows nothing of what it is walked
 * for. It reads a ustar/GNU/pax archive held in memory and hands each
 * regular file and symlink to a callback; the firmware scan
 * (audit_fw_scan.c) is its user.
 */
#ifndef FLEETSEC_TAR_INT_H
#define FLEETSEC_TAR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "fleetsec/common.h"

enum fsec_tar_kind { FSEC_TAR_FILE, FSEC_TAR_SYMLINK };

/* One member, valid during the callback only. */
struct fsec_tar_entry {
	enum fsec_tar_kind kind;
	const char *name;          /* normalised: "etc/passwd"; never empty for a file */
	const unsigned char *data; /* FSEC_TAR_FILE: size bytes inside the archive */
	uint64_t size;
	const char *link;          /* FSEC_TAR_SYMLINK: the target, as stored */
};

/* What to do with a member: anything but FSEC_OK stops the walk, and the
 * walk returns it. */
typedef enum fsec_err (*fsec_tar_cb)(const struct fsec_tar_entry *e, void *ctx);

/*
 * Walk the ustar/GNU/pax archive of len bytes at buf, calling cb on each
 * regular member and each symlink, in archive order. Member names are
 * normalised ("./etc/x" -> "etc/x"); a name that escapes the root ("../")
 * is refused. Errors: PARSE (a malformed, truncated or escaping archive),
 * TOO_LARGE (more than max_members members), NOMEM, or what cb returned.
 */
enum fsec_err fsec_tar_walk(const unsigned char *buf, size_t len, unsigned max_members,
			    fsec_tar_cb cb, void *ctx);

#endif
