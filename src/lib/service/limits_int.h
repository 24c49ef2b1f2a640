/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to service/: fleetsecd's bounds on what one credential or one
 * source address can make it write (issue 14). A rate limiter over fixed
 * windows, and the class a refusal's reason is aggregated under.
 */
#ifndef FLEETSEC_LIMITS_INT_H
#define FLEETSEC_LIMITS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetsec/common.h"

/* The longest key (a device ID, an address) the limiter tells apart; a
 * longer one is cut, so keys equal in their first 63 bytes share a budget. */
#define FSEC_RL_KEY_MAX 63

struct fsec_ratelimit;

/*
 * A limiter allowing each key limit events per window seconds, over a
 * table of a fixed size (sets * 8 keys: memory does not grow with the
 * number of keys). Keys are hashed with a random seed, so a client cannot
 * choose keys that collide on purpose. A full set forgets its least recently
 * started window: a key forgotten so starts afresh. Not thread-safe.
 * Errors: NOMEM, INVAL (limit or window 0, sets 0 or not a power of 2),
 * CRYPTO (no random seed).
 */
enum fsec_err fsec_ratelimit_new(unsigned limit, unsigned window, size_t sets,
				 struct fsec_ratelimit **out);
void fsec_ratelimit_free(struct fsec_ratelimit *rl);

/* Count one event of key (NULL: "") at now. True if it is within the
 * budget; false if not, with *retry_after (may be NULL) the seconds until
 * the key's window ends (at least 1). */
bool fsec_ratelimit_take(struct fsec_ratelimit *rl, const char *key, int64_t now,
			 int *retry_after);

/* A new budget: limit per window from now on (keys already counted keep
 * their count). Ignored when limit or window is 0. */
void fsec_ratelimit_set(struct fsec_ratelimit *rl, unsigned limit, unsigned window);

/*
 * The class a refusal's reason is counted under, in out (cap bytes, at
 * least 2), so that refusals differing only in what varies from request to
 * request (serial numbers, device IDs with digits, times, a parser's detail
 * after the first ':') are one row. Reads at most len bytes of reason (NUL
 * ends it early). Bytes outside printable ASCII count as spaces; a word
 * holding a digit, or longer than 24 characters, becomes "#" (runs of them
 * one "#"); words are joined by one space, and the class is cut at a word
 * boundary to fit. Empty: "-". The class of a class is itself. Pure,
 * thread-safe.
 */
void fsec_refusal_class(const char *reason, size_t len, char *out, size_t cap);

#endif
