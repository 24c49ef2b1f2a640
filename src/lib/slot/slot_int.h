/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Firmware slots, after MCUboot's flash_area_* (flash_map_backend.h): the
 * one way firmware bytes reach storage. A slot is a regular file or a block
 * device of fixed size; reads and writes name an offset in it and never go
 * past its end. Erased means 0xff, as on NOR flash, so that an erased slot
 * and an MCUboot boot trailer read the same here as on a device.
 *
 * Power cuts: with FSEC_FAULT_INJECTION (test builds), each call to
 * fsec_slot_write, fsec_slot_erase and fsec_slot_sync is one durable write
 * for core/fault.c: the harness can stop the process before it, after it,
 * or torn (half of a write or erase reached storage, then synced). Callers
 * place no cut point of their own.
 *
 * A struct fsec_slot is used by one thread at a time; distinct slots are
 * independent.
 */
#ifndef FLEETSEC_SLOT_INT_H
#define FLEETSEC_SLOT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "fleetsec/common.h"

struct fsec_slot;

enum fsec_slot_mode {
	FSEC_SLOT_READ,  /* read and hash only */
	FSEC_SLOT_WRITE, /* also write, erase and sync */
};

/*
 * Open the slot at path, a regular file or a block device, and learn its
 * size (the file's length, or BLKGETSIZE64). Nothing is created, truncated
 * or written. *out is set only on success; close it with fsec_slot_close.
 * Errors: IO ("cannot open", "not a file or block device", fstat/ioctl
 * failing), NOMEM.
 */
FSEC_WUR enum fsec_err fsec_slot_open(const char *path, enum fsec_slot_mode mode,
				      struct fsec_slot **out);

/* Close the slot without syncing it (fsec_slot_sync is the caller's
 * decision). NULL is a no-op. */
void fsec_slot_close(struct fsec_slot *s);

/* The slot's size in bytes, as learnt at open. */
uint64_t fsec_slot_size(const struct fsec_slot *s);

/* The path it was opened with, for messages (borrowed). */
const char *fsec_slot_path(const struct fsec_slot *s);

/*
 * Read exactly len bytes at off into buf. [off, off + len) must lie inside
 * the slot. Errors: INVAL (outside the slot), IO (read error, or the slot
 * shrank: "short read").
 */
FSEC_WUR enum fsec_err fsec_slot_read(struct fsec_slot *s, uint64_t off, void *buf, size_t len);

/*
 * Write len bytes at off. They are on storage only after fsec_slot_sync.
 * [off, off + len) must lie inside the slot; the slot must be open for
 * writing. One power-cut point. Errors: INVAL (outside the slot, or opened
 * for reading), IO.
 */
FSEC_WUR enum fsec_err fsec_slot_write(struct fsec_slot *s, uint64_t off, const void *buf,
				       size_t len);

/*
 * Erase [off, off + len) to 0xff. Durable only after fsec_slot_sync. Same
 * bounds, mode and power-cut rules as fsec_slot_write. Errors: INVAL, IO.
 */
FSEC_WUR enum fsec_err fsec_slot_erase(struct fsec_slot *s, uint64_t off, uint64_t len);

/*
 * Make every write and erase so far durable (fdatasync). One power-cut
 * point. Errors: INVAL (opened for reading), IO.
 */
FSEC_WUR enum fsec_err fsec_slot_sync(struct fsec_slot *s);

/*
 * SHA-256 of [off, off + len) of the slot into md, read in fixed-size
 * blocks (memory does not grow with len). md is written only on success.
 * Errors: INVAL (outside the slot), IO, NOMEM, CRYPTO.
 */
FSEC_WUR enum fsec_err fsec_slot_hash(struct fsec_slot *s, uint64_t off, uint64_t len,
				      unsigned char md[32]);

#endif
