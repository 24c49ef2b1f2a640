/* SPDX-License-Identifier: Apache-2.0 */
/*
 * User-initiated pairing without trust on first use (issue 18): the device's
 * public key travels to the operator through a trusted channel (a QR code on
 * a label or a screen) as a Wi-Fi Easy Connect (DPP) bootstrapping URI,
 *
 *     DPP:V:2;I:<serial>;K:<base64 DER SubjectPublicKeyInfo>;;
 *
 * with the P-256 key in compressed form (docs/PAIRING.md). The device side
 * makes the URI and its QR code; the fleet side parses the URI strictly.
 */
#ifndef FLEETSEC_PAIRING_H
#define FLEETSEC_PAIRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "fleetsec/common.h"
#include "fleetsec/names.h"

/* The longest URI accepted: a P-256 key in either form (124 base64
 * characters uncompressed), a 64-character serial and the few other DPP
 * fields a phone or access point may add, with room to spare. */
#define FSEC_PAIR_URI_MAX 512

/* A parsed pairing URI. */
struct fsec_pair_uri {
	char serial[FSEC_DEVID_MAX + 1];        /* I: the device ID */
	unsigned version;                       /* V: 1-3 (0: absent) */
	char key_sha256[FSEC_SHA256_HEX_LEN];   /* fsec_key_spki_sha256 of K */
	EVP_PKEY *key;                          /* K: a valid P-256 point (owned) */
};

/*
 * The URI for key (P-256) and serial (a device ID), the key as a compressed
 * point. *uri is malloc'd. Errors: INVAL (serial, key type), CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_pair_uri_make(EVP_PKEY *key, const char *serial,
						   char **uri) FSEC_NONNULL(1, 2, 3);

/*
 * Parse len bytes of s as a pairing URI, strictly: "DPP:", fields of one
 * upper-case letter, ':', a value and ';', then a final ';'; at most
 * FSEC_PAIR_URI_MAX bytes; printable ASCII only; each field once; I: a
 * device ID and K: present; V: 1, 2 or 3; C: and M: as DPP defines them;
 * other letters (fields of later DPP versions) skipped if printable. K must
 * be canonical base64 of a DER SubjectPublicKeyInfo with nothing after it,
 * on P-256, whose point is on the curve. Fills out (free with
 * fsec_pair_uri_cleanup) only on success.
 * Errors: TOO_LARGE, PARSE, POLICY (not P-256), NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_pair_uri_parse(const char *s, size_t len,
						    struct fsec_pair_uri *out) FSEC_NONNULL(1, 3);

FSEC_API void fsec_pair_uri_cleanup(struct fsec_pair_uri *u);

/* What a QR code came out as: version 1-40 and modules per side. */
struct fsec_qr_info {
	int version;
	int width;
};

/*
 * text as a QR code (byte mode, error correction M, smallest version), drawn
 * on f with UTF-8 half blocks (two rows of modules a line, a quiet zone of
 * two modules), dark modules as spaces on a light background, so that a dark
 * terminal shows it the right way round. Errors: TOO_LARGE, NOMEM, IO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_qr_print(const char *text, FILE *f,
					      struct fsec_qr_info *info) FSEC_NONNULL(1, 2);

/* As fsec_qr_print, as a PNG (1-bit greyscale, scale pixels a module, quiet
 * zone of 4 modules) or an SVG (one path) written atomically to path.
 * Errors: TOO_LARGE, INVAL (scale 1-32), NOMEM, IO, CRYPTO. */
FSEC_API FSEC_WUR enum fsec_err fsec_qr_write_png(const char *text, const char *path,
						  unsigned scale, struct fsec_qr_info *info)
	FSEC_NONNULL(1, 2);
FSEC_API FSEC_WUR enum fsec_err fsec_qr_write_svg(const char *text, const char *path,
						  struct fsec_qr_info *info) FSEC_NONNULL(1, 2);

/* The PNG bytes fsec_qr_write_png would write, malloc'd (for benchmarks and
 * callers that print labels themselves). */
FSEC_API FSEC_WUR enum fsec_err fsec_qr_png(const char *text, unsigned scale, unsigned char **png,
					    size_t *len, struct fsec_qr_info *info)
	FSEC_NONNULL(1, 3, 4);

/*
 * A self-signed TLS client certificate for key, so that a device with no
 * other credential proves possession of its paired key in the handshake
 * (subject CN = serial, valid from an hour ago for 7 days, clientAuth), as
 * PEM written to path (0644). Errors: INVAL, CRYPTO, IO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_pair_selfsigned(EVP_PKEY *key, const char *serial,
						     const char *path) FSEC_NONNULL(1, 2, 3);

#endif
