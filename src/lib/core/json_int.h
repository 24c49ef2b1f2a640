/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the one JSON field walker, with JSON-path errors.
 *
 * Every parser of a JSON document reads it the same way: load with duplicate
 * keys refused (two "version" members, one for each reader, is how parser
 * differentials start), refuse members it does not know (a field we do not
 * understand could be one the writer meant us to honour), then take each
 * field with its type and bounds checked. A failure names the field by its
 * path from the document's root: "manifest.releases[0].sha256: ...". The
 * root is the caller's word ("manifest", "status", "fleet.json: $").
 *
 * Every function returns PARSE with such a one-line reason (outside text is
 * cleaned of control characters), writes its output only on success, and is
 * thread-safe. Only folders that link jansson include this header.
 */
#ifndef FLEETSEC_JSON_INT_H
#define FLEETSEC_JSON_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fleetsec/common.h"

/* The longest path kept; a longer one is cut, never refused. */
#define FSEC_JSON_PATH_MAX 256

/* Field flags. */
#define FSEC_JSON_OPTIONAL 0x1u /* absent is fine: the output is left as it is */

/* path + "." + key, cut at FSEC_JSON_PATH_MAX - 1. Returns out. */
const char *fsec_json_path_key(char out[FSEC_JSON_PATH_MAX], const char *path, const char *key);
/* path + "[i]". Returns out. */
const char *fsec_json_path_index(char out[FSEC_JSON_PATH_MAX], const char *path, size_t i);

/* Parse len bytes as one JSON value, duplicate keys refused. The caller
 * json_decref()s *out. Reason: "PATH: malformed JSON at line L column C: why". */
FSEC_WUR enum fsec_err fsec_json_load(const void *buf, size_t len, const char *path, json_t **out);

/* o must be an object whose every key is in known (NULL-terminated).
 * Reasons: "PATH: not a JSON object", "PATH: unknown field \"KEY\"". */
FSEC_WUR enum fsec_err fsec_json_only_keys(const json_t *o, const char *path,
                                           const char *const *known);

/* The string member key of o: min..max bytes, no NUL inside. *out is
 * borrowed from o; o that is no object has no members. Reason: "PATH.KEY:
 * must be a string of MIN-MAX characters", led by "missing; " if absent. */
FSEC_WUR enum fsec_err fsec_json_get_str(const json_t *o, const char *path, const char *key,
                                         unsigned flags, size_t min, size_t max, const char **out);

/* As fsec_json_get_str, copied into out (cap bytes, so at most cap - 1). */
FSEC_WUR enum fsec_err fsec_json_copy_str(const json_t *o, const char *path, const char *key,
                                          unsigned flags, size_t min, char *out, size_t cap);

/* The integer member key of o, in [min, max] (a JSON number with a fraction
 * or exponent is refused). Reason: "PATH.KEY: must be an integer from MIN to
 * MAX". */
FSEC_WUR enum fsec_err fsec_json_get_uint(const json_t *o, const char *path, const char *key,
                                          unsigned flags, uint64_t min, uint64_t max,
                                          uint64_t *out);

/* The RFC 3339 time member key of o, read with fsec_time_parse(time_flags).
 * Reason: "PATH.KEY: not a UTC time like 2026-01-31T12:00:00Z". */
FSEC_WUR enum fsec_err fsec_json_get_time(const json_t *o, const char *path, const char *key,
                                          unsigned flags, unsigned time_flags, int64_t *out);

#endif
