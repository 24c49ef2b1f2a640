/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: the home's CRL file: what it says (number, validity), its
 * ordered publication, and the copy fleetsecd serves, cached. */
#ifndef FLEETSEC_CRL_INT_H
#define FLEETSEC_CRL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <openssl/x509.h>

#include "fleetsec/common.h"

/* What orders and dates a CRL: its CRL number (0 when it has none) and
 * its thisUpdate and nextUpdate as UNIX times (next_update 0: none). */
struct fsec_crl_info {
	uint64_t number;
	int64_t this_update, next_update;
};

/* The number and dates of crl. Errors: PARSE (a number too large for 64
 * bits, or a date that does not decode). Thread-safe. */
FSEC_WUR enum fsec_err fsec_crl_info_get(const X509_CRL *crl, struct fsec_crl_info *out);

/* The number and dates of the PEM CRL at path (at most 16 MiB).
 * Errors: IO (NOTFOUND when there is no file), TOO_LARGE, PARSE. */
FSEC_WUR enum fsec_err fsec_crl_file_info(const char *path, struct fsec_crl_info *out);

/*
 * Publish crl as the PEM file at path, in order: under an exclusive flock(2)
 * on path + ".lock" (created 0644 if missing, never removed), the file there
 * is read again and replaced (durably: staged, fsync'd, renamed, directory
 * fsync'd) only when crl's CRL number is higher than its number, or when
 * there is no file or one that does not load. Otherwise nothing is written
 * and *published is false: a newer list is already there, and writing ours
 * would put an older CRL over it. Several processes (the CLI, several
 * fleetsecd) may publish at once. Errors: IO, CRYPTO, NOMEM, PARSE.
 */
FSEC_WUR enum fsec_err fsec_crl_publish(const char *path, X509_CRL *crl, bool *published);

/* The DER of a PEM CRL file, re-read only when the file changed: GET /crl
 * needs no certificate, so its cost must not be a parse per request.
 * Zero-initialised before first use. Not thread-safe. */
struct fsec_crl_cache {
	unsigned char *der;
	size_t len;
	struct fsec_crl_info info; /* of the cached CRL */
	struct stat st;            /* of the file der came from */
};

/* The DER of the CRL at path (PEM, at most 16 MiB), from the cache while
 * the file is unchanged (inode, size, modification time). *der is borrowed:
 * valid until the next call or fsec_crl_cache_cleanup. info (may be NULL)
 * gets its number and dates. A file that changed and does not load is an
 * error, never the old list.
 * Errors: IO, TOO_LARGE, PARSE, CRYPTO, NOMEM. */
FSEC_WUR enum fsec_err fsec_crl_cache_get(struct fsec_crl_cache *c, const char *path,
					  const unsigned char **der, size_t *len,
					  struct fsec_crl_info *info);

/* Free the cached CRL. NULL is a no-op. */
void fsec_crl_cache_cleanup(struct fsec_crl_cache *c);

#endif
