/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded reads and atomic, durable writes.
 *
 * Every file fleetsec writes goes through a stage: the bytes are written to a
 * temporary file in the destination's directory and fsync'd, and only
 * fsec_file_stage_commit() renames it into place and fsyncs the directory. A
 * stage freed without commit removes its temporary file, so a command that
 * fails half-way leaves nothing behind. Callers that must also commit a
 * registry transaction stage their files first, commit the transaction, then
 * commit the stages.
 */
#ifndef FLEETSEC_FILEIO_H
#define FLEETSEC_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fleetsec/common.h"

/* Refuse to replace an existing destination (used for private keys). */
#define FSEC_FILE_NOCLOBBER 0x1u

struct fsec_file_stage;

/*
 * Open a regular file for reading and report its size. A FIFO, device or
 * directory is refused without blocking on it. The caller closes *fd.
 * Errors: IO. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_file_open_regular(const char *path, int *fd,
						       uint64_t *size);

/*
 * Read the whole regular file at path into a new buffer, refusing files over
 * max bytes. The buffer has a NUL byte after the data (not counted in *len) so
 * text parsers can use it directly; free it with free(), or with
 * OPENSSL_clear_free() if it held a secret.
 * Errors: IO (missing, unreadable, not a regular file), TOO_LARGE, NOMEM.
 * Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_file_read(const char *path, size_t max,
					       unsigned char **buf, size_t *len);

/*
 * Write len bytes to a new temporary file beside path, with the given mode.
 * Nothing is visible at path until fsec_file_stage_commit().
 * With FSEC_FILE_NOCLOBBER, fail now if path already exists (and again at
 * commit, atomically, if it appeared since).
 * Errors: IO, EXISTS, NOMEM. Thread-safe for distinct stages.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_file_stage_new(const char *path, const void *data,
						    size_t len, mode_t mode, unsigned flags,
						    struct fsec_file_stage **out);

/*
 * Open a stage to be written piece by piece (fsec_file_stage_write), for
 * output too large to hold in memory. Flags and errors as fsec_file_stage_new.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_file_stage_open(const char *path, mode_t mode,
						     unsigned flags, struct fsec_file_stage **out);

/* Append len bytes to an open stage. Errors: IO, INVAL (already committed). */
FSEC_API FSEC_WUR enum fsec_err fsec_file_stage_write(struct fsec_file_stage *st,
						      const void *data, size_t len);

/*
 * fsync the staged data, rename it into place and fsync the directory. After success
 * the stage holds nothing and freeing it removes nothing.
 * Errors: IO, EXISTS (NOCLOBBER and the destination appeared).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_file_stage_commit(struct fsec_file_stage *st);

/* Remove the temporary file if not committed, and free. NULL is a no-op. */
FSEC_API void fsec_file_stage_free(struct fsec_file_stage *st);

/* Stage and commit in one call. Errors: as stage_new and stage_commit. */
FSEC_API FSEC_WUR enum fsec_err fsec_file_write_atomic(const char *path, const void *data,
						       size_t len, mode_t mode, unsigned flags);

/* fsync the directory that holds path (after a rename or unlink in it). */
FSEC_API FSEC_WUR enum fsec_err fsec_dir_sync_parent(const char *path);

#endif
