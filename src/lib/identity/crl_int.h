/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: the CRL fleetsecd serves, cached. */
#ifndef FLEETSEC_CRL_INT_H
#define FLEETSEC_CRL_INT_H

#include <stddef.h>
#include <sys/stat.h>

#include "fleetsec/common.h"

/* The DER of a PEM CRL file, re-read only when the file changed: GET /crl
 * needs no certificate, so its cost must not be a parse per request.
 * Zero-initialised before first use. Not thread-safe. */
struct fsec_crl_cache {
	unsigned char *der;
	size_t len;
	struct stat st; /* of the file der came from */
};

/* The DER of the CRL at path (PEM, at most 16 MiB), from the cache while
 * the file is unchanged (inode, size, modification time). *der is borrowed:
 * valid until the next call or fsec_crl_cache_cleanup. A file that changed
 * and does not load is an error, never the old list.
 * Errors: IO, TOO_LARGE, PARSE, CRYPTO, NOMEM. */
FSEC_WUR enum fsec_err fsec_crl_cache_get(struct fsec_crl_cache *c, const char *path,
					  const unsigned char **der, size_t *len);

/* Free the cached CRL. NULL is a no-op. */
void fsec_crl_cache_cleanup(struct fsec_crl_cache *c);

#endif
