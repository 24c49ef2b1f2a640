/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device's anti-rollback counter: the highest image security counter
 * it has confirmed (MCUboot's security counter, security_cnt.h). An update
 * whose security counter is below it is refused.
 *
 * The contract every backend keeps:
 *  - It never decreases. No call lowers it: fsec_counter_raise refuses a
 *    value below the current one (POLICY) and leaves the counter as it was.
 *  - It survives a power cut at any step. A cut during
 *    fsec_counter_raise(c, v) leaves a counter that reads as the old value,
 *    as v, or (tpm) as a value between them; never less than the old value,
 *    never more than v. Raising to v again finishes the job.
 *  - A damaged store is an error, never 0 (failing closed: a corrupted
 *    counter must not re-open the door to old images).
 *
 * What each backend guarantees beyond that (the location names it):
 *  - "file:PATH", or a plain path: one line in PATH holding the value and
 *    its complement, replaced atomically (a temporary file, fsync, rename,
 *    fsync of the directory), so a cut leaves the old line or the new one,
 *    and a torn or scribbled-on file reads as damaged. It keeps the
 *    contract against power cuts and accidents only: whoever can write PATH
 *    (root, or a re-flashed storage) can lower it.
 *  - "tpm:INDEX": a TPM 2.0 NV counter index, which the TPM itself only
 *    lets go up, one TPM2_NV_Increment at a time (so a cut leaves it
 *    between the old and the new value), with its starting value at
 *    INDEX + 1, written once and write-locked (keys/tpm.c). Lowering it
 *    means deleting both indices, which needs the owner hierarchy's
 *    authorization: with an owner password set, it holds against anyone
 *    who cannot read that password, and against re-flashed storage; not
 *    against root on the device (README.md says more).
 *
 * A struct fsec_counter is used by one thread at a time.
 */
#ifndef FLEETSEC_COUNTER_H
#define FLEETSEC_COUNTER_H

#include <stdint.h>

#include "fleetsec/common.h"

struct fsec_counter;

/*
 * Open the counter named by location ("file:PATH", a plain path, or
 * "tpm:INDEX"). Nothing is created and the TPM is not opened until the
 * first read or raise; a counter never written reads as 0.
 * Errors: INVAL (unknown scheme, empty path, bad NV index), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_counter_open(const char *location,
						  struct fsec_counter **out) FSEC_NONNULL(1, 2);

/* NULL is a no-op. */
FSEC_API void fsec_counter_free(struct fsec_counter *c);

/*
 * Read the counter into *value (written only on success). A damaged store
 * is an error, never 0. Errors: PARSE (damaged), IO (the file or the TPM),
 * POLICY (tpm: the index is not a counter index).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_counter_read(struct fsec_counter *c, uint32_t *value)
	FSEC_NONNULL(1, 2);

/*
 * Raise the counter to value, durably (it is on storage or in the TPM when
 * this returns). A value below the current one is refused and changes
 * nothing; the same value is a no-op. After a failure or a power cut, see
 * the contract above: call it again with the same value.
 * Errors: POLICY (would decrease; tpm: more than 65536 steps at once), PARSE
 * (damaged), IO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_counter_raise(struct fsec_counter *c, uint32_t value)
	FSEC_NONNULL(1);

#endif
