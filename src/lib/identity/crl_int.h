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

/* The home's crl.pem holds one CRL per issuing CA in use: at most this
 * many (the current CA and fleet.json's previous ones). */
#define FSEC_CRL_FILE_MAX 9

/* What orders and dates a CRL: its CRL number (0 when it has none) and
 * its thisUpdate and nextUpdate as UNIX times (next_update 0: none). */
struct fsec_crl_info {
	uint64_t number;
	int64_t this_update, next_update;
};

/* The number and dates of crl. Errors: PARSE (a number too large for 64
 * bits, or a date that does not decode). Thread-safe. */
FSEC_WUR enum fsec_err fsec_crl_info_get(const X509_CRL *crl, struct fsec_crl_info *out);

/* The PEM CRLs at path, in order: one per issuing CA in use (at most
 * FSEC_CRL_FILE_MAX). Errors: IO, PARSE, TOO_LARGE, NOMEM. */
FSEC_WUR enum fsec_err fsec_crl_file_load(const char *path, STACK_OF(X509_CRL) **out);

/* *listed: whether one of crls lists the certificate whose serial is the
 * hex string serial. Serials are 128 random bits (ca.c), so one found on
 * any CA's list is that certificate. Errors: PARSE (serial), NOMEM. */
FSEC_WUR enum fsec_err fsec_crl_set_lists(STACK_OF(X509_CRL) *crls, const char *serial,
					  bool *listed);

/* The number and dates of the PEM CRLs at path (at most 16 MiB, at most
 * FSEC_CRL_FILE_MAX lists): the highest number, the latest thisUpdate and
 * the earliest nextUpdate, so that the file counts as current only while
 * every list in it is.
 * Errors: IO (NOTFOUND when there is no file), TOO_LARGE, PARSE. */
FSEC_WUR enum fsec_err fsec_crl_file_info(const char *path, struct fsec_crl_info *out);

/*
 * Publish crls (1 to FSEC_CRL_FILE_MAX lists, one per issuing CA, signed
 * together with one CRL number) as the PEM file at path, in order: under an
 * exclusive flock(2) on path + ".lock" (created 0644 if missing, never
 * removed), the file there is read again and replaced (durably: staged,
 * fsync'd, renamed, directory fsync'd) only when their CRL number is higher
 * than its number, or when
 * there is no file or one that does not load. Otherwise nothing is written
 * and *published is false: a newer list is already there, and writing ours
 * would put an older CRL over it. Several processes (the CLI, several
 * fleetsecd) may publish at once. Errors: IO, CRYPTO, NOMEM, PARSE.
 */
FSEC_WUR enum fsec_err fsec_crl_publish(const char *path, STACK_OF(X509_CRL) *crls,
					bool *published);

/* The DER of a PEM CRL file, re-read only when the file changed: GET /crl
 * needs no certificate, so its cost must not be a parse per request.
 * Zero-initialised before first use. Not thread-safe. */
struct fsec_crl_cache {
	unsigned char *der;
	size_t len;
	bool pem;                  /* der holds the PEM of several CRLs (see below) */
	struct fsec_crl_info info; /* of the cached CRL */
	struct stat st;            /* of the file der came from */
};

/* The DER of the CRL at path (PEM, at most 16 MiB), or, when the file holds
 * several (one per issuing CA in use), all of them as PEM, with c->pem set;
 * from the cache while
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
