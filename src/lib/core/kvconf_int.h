/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: `key = value` configuration files in the manner of WireGuard's,
 * shared by the agent's and fleetsecd's configurations. `#` starts a
 * comment, blank lines are ignored, keys are looked up in a table that says
 * where each value goes, and a key given twice is an error unless it is a
 * list.
 */
#ifndef FLEETSEC_KVCONF_INT_H
#define FLEETSEC_KVCONF_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "fleetsec/common.h"

enum fsec_kv_kind {
	FSEC_KV_STR,  /* a char[cap] at offset */
	FSEC_KV_LIST, /* char[max][cap] at offset, its count (size_t) at count_offset */
	FSEC_KV_NUM,  /* an unsigned long at offset, 0..max */
};

struct fsec_kv_field {
	const char *name;
	enum fsec_kv_kind kind;
	size_t offset, cap, count_offset;
	unsigned long max;
	bool required;
};

/*
 * Parse at most maxlen bytes of buf into the struct at base, whose defaults
 * the caller has set, per fields. seen[i] says whether fields[i] was given.
 * Required fields that are missing are refused. Errors: TOO_LARGE, PARSE
 * (with the line number and the key), NOMEM.
 */
enum fsec_err fsec_kv_parse(const unsigned char *buf, size_t len, size_t maxlen,
			    const struct fsec_kv_field *fields, size_t n, void *base, bool *seen);

#endif
