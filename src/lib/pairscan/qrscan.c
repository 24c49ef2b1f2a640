/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a pairing code from an image (pairscan.h): libpng decodes the
 * image, zbar finds the code. Everything about the image is capped before
 * a pixel is decoded. */
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <zbar.h>

#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/pairing.h"
#include "fleetsec/pairscan.h"

FSEC_API enum fsec_err fsec_qr_image_decode(const unsigned char *img, size_t len, char **text)
{
	png_image pi;
	unsigned char *pix = NULL;
	zbar_image_scanner_t *sc = NULL;
	zbar_image_t *zi = NULL;
	const zbar_symbol_t *sym;
	const char *data = NULL;
	unsigned dlen = 0;
	int nsym = 0;
	enum fsec_err rc = FSEC_ERR_PARSE;

	fsec_clearerr();
	*text = NULL;
	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	if (len > FSEC_QR_IMAGE_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "image over %u bytes", FSEC_QR_IMAGE_MAX);
	if (len < 8 || png_sig_cmp(img, 0, 8) != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "image is not a PNG");
	if (png_image_begin_read_from_memory(&pi, img, len) == 0) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "image: malformed PNG (%.100s)", pi.message);
		goto out;
	}
	if (pi.width == 0 || pi.height == 0 || pi.width > FSEC_QR_IMAGE_SIDE_MAX ||
	    pi.height > FSEC_QR_IMAGE_SIDE_MAX) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "image is %ux%u pixels; at most %ux%u",
				 pi.width, pi.height, FSEC_QR_IMAGE_SIDE_MAX,
				 FSEC_QR_IMAGE_SIDE_MAX);
		goto out;
	}
	/* 8-bit grey, what zbar's "Y800" takes: at most 16 MiB by the caps. */
	pi.format = PNG_FORMAT_GRAY;
	if ((pix = malloc(PNG_IMAGE_SIZE(pi))) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (png_image_finish_read(&pi, NULL, pix, 0, NULL) == 0) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "image: malformed PNG (%.100s)", pi.message);
		goto out;
	}
	if ((sc = zbar_image_scanner_create()) == NULL || (zi = zbar_image_create()) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* QR codes only: a barcode on the same label is not a pairing code. */
	zbar_image_scanner_set_config(sc, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
	zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
	zbar_image_set_format(zi, zbar_fourcc('Y', '8', '0', '0'));
	zbar_image_set_size(zi, pi.width, pi.height);
	zbar_image_set_data(zi, pix, (unsigned long)pi.width * pi.height, NULL);
	if ((nsym = zbar_scan_image(sc, zi)) < 0) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "image: the QR decoder failed");
		goto out;
	}
	for (sym = zbar_image_first_symbol(zi); sym != NULL; sym = zbar_symbol_next(sym)) {
		if (zbar_symbol_get_type(sym) != ZBAR_QRCODE)
			continue;
		if (data != NULL) {
			rc = fsec_seterr(FSEC_ERR_PARSE, "image holds more than one QR code");
			goto out;
		}
		data = zbar_symbol_get_data(sym);
		dlen = zbar_symbol_get_data_length(sym);
	}
	if (data == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "image: no QR code found");
		goto out;
	}
	if (dlen > FSEC_PAIR_URI_MAX || memchr(data, '\0', dlen) != NULL) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "image: the QR code holds over %d bytes or a "
						     "NUL", FSEC_PAIR_URI_MAX);
		goto out;
	}
	if ((*text = malloc((size_t)dlen + 1)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*text, data, dlen);
	(*text)[dlen] = '\0';
	rc = FSEC_OK;
out:
	if (zi != NULL)
		zbar_image_destroy(zi);
	if (sc != NULL)
		zbar_image_scanner_destroy(sc);
	png_image_free(&pi);
	free(pix);
	(void)nsym;
	return rc;
}

FSEC_API enum fsec_err fsec_qr_image_read(const char *path, char **text)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;

	*text = NULL;
	if ((rc = fsec_file_read(path, FSEC_QR_IMAGE_MAX, &buf, &len)) != FSEC_OK)
		return rc;
	rc = fsec_qr_image_decode(buf, len, text);
	free(buf);
	return rc;
}
