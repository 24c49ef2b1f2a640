/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Factory batches (issue 18): many device certificates in one run, each item
 * succeeding or failing on its own, and a run cut at any point (SIGKILL,
 * power loss) resumed by running it again.
 *
 * The registry is the one source of truth for what is done. An item is
 * "already done" when its device is active with a current certificate for
 * the item's key; it is then reported, and its certificate (and key) written
 * out again, but nothing is issued. Keys generated here (keygen items) are
 * written durably (0600, fsync'd, renamed into place, directory fsync'd) to
 * the output directory BEFORE the transaction that records their
 * certificates commits; a keygen item whose key file already exists reuses
 * that key. So after a cut:
 *   - key written, certificate not recorded: the rerun issues for that key;
 *   - certificate recorded: its key is on disk, and the rerun reports the
 *     item done (the key file's public key matches the registered one);
 *   - a keygen item whose device is registered but whose key file is
 *     missing or holds another key is refused: that key is not ours.
 * Certificate files are rewritten on every run and so are not fsync'd.
 */
#ifndef FLEETSEC_BATCH_H
#define FLEETSEC_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "fleetsec/common.h"
#include "fleetsec/key.h"

struct fsec_fleet;

/* A batch CSV is at most this big (a million lines with paths). */
#define FSEC_BATCH_CSV_MAX (256u * 1024u * 1024u)

/*
 * One line of a batch CSV, as fsec_batch_csv_parse hands it over: the
 * strings are NUL-terminated and valid during the callback only. csr_path
 * is NULL for an "id,model" line (key generation). error is non-NULL for a
 * line that is not an item (wrong number of fields, an invalid ID or model,
 * an empty path); id is then NULL.
 */
struct fsec_batch_line {
	size_t line; /* 1-based */
	const char *id, *model, *csr_path;
	const char *error;
};

typedef int (*fsec_batch_line_cb)(const struct fsec_batch_line *l, void *ctx);

/*
 * Parse a batch CSV: one item per line, "id,model,csr_path" or "id,model";
 * blank lines and lines starting with '#' are skipped, as is a first line
 * that is exactly a header ("id,model" or "id,model,csr_path"). Fields are
 * not quoted and not trimmed (an ID or model cannot hold a comma, a space
 * or a quote; a path with a comma cannot be listed). CRLF line ends are
 * taken. An empty model means none. A line with a NUL byte is an error
 * line. cb is called for each item and error line in order; a non-zero
 * return stops the parse (INVAL). Errors: TOO_LARGE, INVAL.
 * Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_batch_csv_parse(const char *buf, size_t len,
						     fsec_batch_line_cb cb, void *ctx)
	FSEC_NONNULL(3);

/* One item to issue. csr_path NULL: generate a key (needs out_dir). */
struct fsec_batch_item {
	const char *where;    /* how reports name it: "LINE" or a file name */
	const char *id;
	const char *model;    /* NULL or "": none */
	const char *csr_path;
	const char *refused;  /* set by the caller: refuse with this reason */
};

enum fsec_batch_status {
	FSEC_BATCH_ISSUED,
	FSEC_BATCH_DONE,    /* already issued by an earlier run */
	FSEC_BATCH_REFUSED,
};

/* An item's outcome, handed to the callback in input order. */
struct fsec_batch_result {
	const struct fsec_batch_item *item;
	enum fsec_batch_status status;
	const char *reason;      /* REFUSED: why, one line */
	const char *serial;      /* ISSUED, DONE */
	const char *cert_pem;    /* ISSUED, DONE */
	const char *key_pem;     /* keygen items, ISSUED or DONE: the private key
				  * (for a tar stream); never log it */
	size_t key_pem_len;
	size_t done, total;      /* progress */
};

typedef int (*fsec_batch_cb)(const struct fsec_batch_result *r, void *ctx);

struct fsec_batch_opts {
	const char *out_dir;         /* ID.pem, and ID.key for keygen (0600); NULL: none */
	enum fsec_key_algo key_algo; /* keygen; 0 = P-256 */
	int days;                    /* 0: the fleet's device_days */
	unsigned threads;            /* signing threads; 0: one per online CPU */
	size_t chunk;                /* items per registry transaction; 0: 512 */
	bool want_key_pem;           /* hand keygen items' keys to the callback */
	const char *actor;
};

/*
 * Issue the items (see the top of this file for resuming). Parsing and
 * verifying CSRs, generating and writing keys, and signing run on
 * opts->threads threads; the registry is written by the calling thread, one
 * transaction per chunk of items. Refused items (opts refused, an unreadable
 * or bad CSR, a weak key, a key registered to another device or to an
 * earlier item, an ID registered with another key, an invalid model) never
 * stop the batch. cb sees every item, in order, after its chunk committed;
 * a non-zero return (it could not write its output) stops the batch after
 * that chunk (IO). Keygen items need opts->out_dir (INVAL).
 * Errors (the batch stops; what committed stays): INVAL, IO (the output
 * directory, the callback), DB, BUSY, CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_issue_batch(struct fsec_fleet *f,
						       const struct fsec_batch_item *items,
						       size_t n, const struct fsec_batch_opts *opts,
						       fsec_batch_cb cb, void *ctx)
	FSEC_NONNULL(1, 4, 5);

#endif
