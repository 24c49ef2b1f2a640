/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the firmware audit: what audit_fw_checks.c (the checks on one
 * file or link) and audit_fw_scan.c (the walk over a directory or a tar
 * archive, and the --across report) share.
 */
#ifndef FLEETSEC_AUDIT_FW_INT_H
#define FLEETSEC_AUDIT_FW_INT_H

#include <stddef.h>

#include "audit_int.h"

/* Private key digests, for --across: st->keys points to a key_list. */
struct key_seen {
	unsigned char digest[32];
	unsigned image;
	char path[160];
};

struct key_list {
	struct key_seen *v;
	size_t n, cap;
	unsigned image;
};

/* Subject for a finding: "IMAGE:path" in multi-image audits (into buf), else
 * path itself. */
const char *fsec_audit_fw_subject(const struct fw_state *st, const char *path, char *buf,
				  size_t cap);

#endif
