/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device's anti-rollback counter: the highest security counter it has
 * confirmed. It only ever goes up. Backends: a file, replaced atomically and
 * fsync'd ("file:PATH" or a plain path); a TPM NV index comes later behind
 * the same interface.
 */
#ifndef FLEETSEC_COUNTER_H
#define FLEETSEC_COUNTER_H

#include <stdint.h>

#include "fleetsec/common.h"

struct fsec_counter;

/*
 * Open the counter named by location. Nothing is created until the first
 * raise; a counter never written reads as 0.
 * Errors: INVAL (unknown scheme), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_counter_open(const char *location,
						  struct fsec_counter **out) FSEC_NONNULL(1, 2);

/* NULL is a no-op. */
FSEC_API void fsec_counter_free(struct fsec_counter *c);

/*
 * Read the counter. A damaged store is an error, never 0: failing closed
 * keeps a corrupted counter from re-opening the door to old images.
 * Errors: PARSE (damaged), IO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_counter_read(struct fsec_counter *c, uint32_t *value)
	FSEC_NONNULL(1, 2);

/*
 * Raise the counter to value, durably (it is on disk when this returns). A
 * value below the current one is refused; the same value is a no-op.
 * Errors: POLICY (would decrease), PARSE, IO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_counter_raise(struct fsec_counter *c, uint32_t value)
	FSEC_NONNULL(1);

#endif
