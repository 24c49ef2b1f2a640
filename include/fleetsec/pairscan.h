/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operator's side of QR pairing (issue 18): read a photographed or
 * rendered pairing code from an image (PNG), with the zbar library.
 */
#ifndef FLEETSEC_PAIRSCAN_H
#define FLEETSEC_PAIRSCAN_H

#include <stddef.h>

#include "fleetsec/common.h"

/* The caps on an image: the file, and each side in pixels. */
#define FSEC_QR_IMAGE_MAX (8u * 1024u * 1024u)
#define FSEC_QR_IMAGE_SIDE_MAX 4096u

/*
 * The text of the one QR code in the PNG of len bytes at img, as a
 * NUL-terminated malloc'd string of at most FSEC_PAIR_URI_MAX bytes with no
 * NUL inside. Refused: over the caps (TOO_LARGE, before any pixel is
 * decoded), not a PNG (PARSE), no QR code or more than one (NOTFOUND,
 * PARSE). Errors: also NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_qr_image_decode(const unsigned char *img, size_t len,
						     char **text) FSEC_NONNULL(1, 3);

/* As fsec_qr_image_decode, from the file at path (IO, NOTFOUND). */
FSEC_API FSEC_WUR enum fsec_err fsec_qr_image_read(const char *path, char **text)
	FSEC_NONNULL(1, 2);

#endif
