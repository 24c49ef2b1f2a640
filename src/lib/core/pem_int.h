/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the one reader and stager of PEM certificates.
 *
 * A certificate file is read with a cap, its first CERTIFICATE block parsed,
 * and a certificate is written back only as its own re-encoding, staged
 * beside its destination (fileio.h), so that stray text or a key pasted into
 * a file is never copied along. All functions are thread-safe; outputs are
 * written only on success, and a failure leaves a one-line reason naming the
 * file.
 */
#ifndef FLEETSEC_PEM_INT_H
#define FLEETSEC_PEM_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "fleetsec/common.h"
#include "fleetsec/fileio.h"

/* The largest certificate file read: a certificate with a long chain is a
 * few KiB; anything larger is not what the file should hold. */
#define FSEC_PEM_CERT_MAX (64u * 1024u)

/*
 * Parse the first PEM certificate in buf (len bytes; text before it and
 * other PEM blocks are skipped, as OpenSSL does). what names the input in the
 * reason. The caller frees *out with X509_free.
 * Errors: PARSE ("WHAT: not a PEM certificate", with OpenSSL's reason),
 * TOO_LARGE (len over FSEC_PEM_CERT_MAX).
 */
FSEC_WUR enum fsec_err fsec_pem_cert_parse(const void *buf, size_t len, const char *what,
                                           X509 **out);

/*
 * Read the regular file at path (at most FSEC_PEM_CERT_MAX bytes) and parse
 * its first certificate as fsec_pem_cert_parse does.
 * Errors: IO, TOO_LARGE, NOMEM ("PATH: why"), PARSE.
 */
FSEC_WUR enum fsec_err fsec_pem_cert_read(const char *path, X509 **out);

/* The PEM encoding of cert, or of a DER certificate, as a new NUL-terminated
 * string the caller frees. Errors: CRYPTO, NOMEM, TOO_LARGE (der_len). */
FSEC_WUR enum fsec_err fsec_pem_cert_encode(X509 *cert, char **out);
FSEC_WUR enum fsec_err fsec_pem_cert_encode_der(const unsigned char *der, size_t der_len,
                                                char **out);

/*
 * Stage the PEM encoding of cert (or of a DER certificate) at path, mode
 * 0644, with fsec_file_stage_new's flags (FSEC_FILE_NOCLOBBER). Nothing is
 * visible at path until fsec_file_stage_commit(*st).
 * Errors: as fsec_pem_cert_encode and fsec_file_stage_new.
 */
FSEC_WUR enum fsec_err fsec_pem_cert_stage(const char *path, X509 *cert, unsigned flags,
                                           struct fsec_file_stage **st);
FSEC_WUR enum fsec_err fsec_pem_cert_stage_der(const char *path, const unsigned char *der,
                                               size_t der_len, unsigned flags,
                                               struct fsec_file_stage **st);

/*
 * After a loop of PEM_read_bio_* calls ended (a NULL read): true when it
 * ended at the end of the text (no further BEGIN line), false when at a
 * block that did not parse, so that a damaged file is never taken for a
 * shorter list. The OpenSSL error queue is left for the caller's message
 * when false, cleared when true.
 */
bool fsec_pem_clean_end(void);

#endif
