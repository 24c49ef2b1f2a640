/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backup and restore of a fleet home (`fleetsec backup`, `fleetsec restore`).
 *
 * A backup is a POSIX ustar archive whose first member, MANIFEST, lists every
 * other member with its SHA-256 and size; the registry in it is an online
 * snapshot (fsec_registry_snapshot), consistent while fleetsecd writes. The
 * archive is either written as it is or, with a passphrase or recipient
 * certificates, wrapped in a CMS AuthEnvelopedData (RFC 5083, AES-256-GCM):
 * a passphrase is a password recipient (RFC 3211, PBKDF2), a certificate a
 * key-transport or key-agreement recipient. `openssl cms -decrypt` opens it.
 * Private keys are included only when asked, and then only encrypted.
 *
 * Restore checks everything (the CMS tag, then every member against the
 * manifest) before it writes anything, builds the home in a temporary
 * directory beside the target, and renames it into place: a failure leaves
 * nothing behind. The restored registry's CRL number is raised to a floor
 * taken from the clock (see fsec_backup_restore), so that a CRL published
 * from the restored home is numbered above any the original published.
 */
#ifndef FLEETSEC_BACKUP_H
#define FLEETSEC_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetsec/common.h"

/* The largest backup (the archive, before and after encryption) either side
 * holds in memory; a fleet home is far below it. */
#define FSEC_BACKUP_MAX (1024u * 1024u * 1024u)
/* The longest passphrase accepted, and the shortest. */
#define FSEC_BACKUP_PASS_MAX 1024u
#define FSEC_BACKUP_PASS_MIN 8u
/* PBKDF2 iterations for a passphrase (HMAC-SHA1, the PRF RFC 3211 and
 * OpenSSL's CMS use; the count is what makes guessing slow). */
#define FSEC_BACKUP_PBKDF2_ITER 600000

/* The most recipient certificates one backup is encrypted to. */
#define FSEC_BACKUP_RECIPIENTS_MAX 16u

struct fsec_backup_opts {
	bool with_keys;                  /* include private keys (needs encryption) */
	const unsigned char *passphrase; /* NULL: none; borrowed, not wiped here */
	size_t passphrase_len;
	const char *const *recipients; /* PEM certificate files to encrypt to */
	size_t n_recipients;
};

/*
 * Read a passphrase from the file at path: its bytes, less one trailing
 * newline ("\n" or "\r\n"), FSEC_BACKUP_PASS_MIN to FSEC_BACKUP_PASS_MAX of
 * them. The caller frees *out with OPENSSL_clear_free(*out, *len).
 * Errors: IO, TOO_LARGE, INVAL (too short), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_backup_passphrase_read(const char *path,
							    unsigned char **out, size_t *len);

struct fsec_backup_info {
	size_t files;       /* members besides MANIFEST */
	size_t keys_left_out; /* private keys not included (no with_keys) */
	bool keys;          /* private keys are included */
	bool encrypted;
	int64_t created;    /* when the backup was taken (UNIX seconds) */
	uint64_t crl_floor; /* restore: the CRL number the registry was raised to */
};

/*
 * Back up the fleet home at home into out, a new file (0600) that must not
 * exist. The registry is copied with the backend's online snapshot; the
 * other regular files at the top of the home and one directory level down
 * are read as they are, except temporary files (".tmp." in the name, or a
 * leading dot) and, without o->with_keys, private keys (a name ending in
 * ".key", or PEM "PRIVATE KEY" content). with_keys without a passphrase or
 * recipient is refused (INVAL) before anything is read. Fills *info (may be
 * NULL) on success.
 * Errors: INVAL, NOTFOUND (no home), EXISTS (out exists), PARSE (fleet.json),
 * TOO_LARGE, IO, DB, BUSY, CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_backup_create(const char *home, const char *out,
						   const struct fsec_backup_opts *o,
						   struct fsec_backup_info *info);

struct fsec_restore_opts {
	const unsigned char *passphrase; /* for a passphrase backup; borrowed */
	size_t passphrase_len;
	const char *key;  /* for a recipient backup: the recipient's private key
			   * (a path or an OpenSSL store URI, as keys are named) */
	const char *cert; /* optional: that key's certificate (PEM file), to pick
			   * its recipient */
	const char *actor; /* who, for the "restore" event */
};

/*
 * Restore the backup in file into home, which must not exist or be an empty
 * directory (EXISTS otherwise, checked first and again at the final rename).
 * An encrypted backup needs the passphrase or the recipient key; a wrong one,
 * or any altered byte, is VERIFY. Every member is checked against MANIFEST
 * (SHA-256, size, order, nothing more and nothing less) before a byte is
 * written. The restored registry's "crl_number" counter is raised to at
 * least the restore time in microseconds since 1970 (a home that counts one
 * per CRL, or one per second, cannot have reached it), and a "restore" event
 * is logged. Fills *info (may be NULL) on success.
 * Errors: EXISTS, INVAL, IO, TOO_LARGE, PARSE (not a backup), VERIFY, CRYPTO,
 * DB, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_backup_restore(const char *file, const char *home,
						    const struct fsec_restore_opts *o,
						    struct fsec_backup_info *info);

#endif
