/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Open connections per source, for fleetsecd's listeners: one address (or,
 * for IPv6, one /64, which a single customer or attacker usually holds
 * whole) may hold at most a set number of connections, so that one source
 * cannot fill the server's global cap and keep every device out. No event
 * loop and no sockets here: the server hands in the peer's address.
 */
#ifndef FLEETSEC_SRCLIMIT_H
#define FLEETSEC_SRCLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "fleetsec/common.h"

/* The default cap per source: a thirty-second of the default global cap
 * (1024), and room for a site's devices behind one NAT address, which
 * connect for a request or two at a time. */
#define FSEC_SRCLIMIT_DEFAULT 32

struct fsec_srclimit;
/* One source's entry, held by each connection counted against it. */
struct fsec_src;

/*
 * A table for at most per_source open connections from each source; expect
 * (a sizing hint, at least 1) is the global cap. Errors: INVAL (per_source
 * 0), NOMEM. Not thread-safe: one per event loop.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_srclimit_new(unsigned long per_source, unsigned long expect,
						  struct fsec_srclimit **out);
/* NULL is a no-op. Connections still counted must not be released after. */
FSEC_API void fsec_srclimit_free(struct fsec_srclimit *l);

/*
 * Count one more connection from sa (AF_INET, or AF_INET6 keyed by its /64;
 * an IPv4-mapped IPv6 address counts as its IPv4 address). True with *src
 * set, to be handed to fsec_srclimit_release when the connection ends;
 * false if the source is at its cap, if sa is of another family or too
 * short (fail closed), or without memory: the caller then closes the
 * connection.
 */
FSEC_API FSEC_WUR bool fsec_srclimit_acquire(struct fsec_srclimit *l, const struct sockaddr *sa,
					     socklen_t len, struct fsec_src **src);
/* One connection from src ended; NULL is a no-op. */
FSEC_API void fsec_srclimit_release(struct fsec_srclimit *l, struct fsec_src *src);

/* Open connections counted for sa's source now (0 if none or not IP). */
FSEC_API unsigned long fsec_srclimit_count(const struct fsec_srclimit *l,
					   const struct sockaddr *sa, socklen_t len);

#endif
