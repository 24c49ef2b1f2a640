/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pairing code as a QR code (pairing.h): libqrencode makes the module
 * matrix; this file draws it for a terminal, as SVG, or as PNG (libpng).
 */
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <qrencode.h>

#include "dynbuf_int.h"
#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/pairing.h"

#define QUIET_TERM 2 /* modules of quiet zone on a terminal (its own margin adds) */
#define QUIET_IMG 4  /* ISO/IEC 18004's quiet zone for printed codes */
#define SCALE_MAX 32

static enum fsec_err encode(const char *text, QRcode **out, struct fsec_qr_info *info)
{
	size_t n = strlen(text);

	/* Every caller's text is a pairing URI; the cap keeps a code readable. */
	if (n == 0 || n > FSEC_PAIR_URI_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "QR text: 1 to %d bytes", FSEC_PAIR_URI_MAX);
	if ((*out = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "QR encoding failed (out of memory)");
	if (info != NULL) {
		info->version = (*out)->version;
		info->width = (*out)->width;
	}
	return FSEC_OK;
}

static bool dark(const QRcode *q, int x, int y)
{
	return x >= 0 && y >= 0 && x < q->width && y < q->width &&
	       (q->data[(size_t)y * (size_t)q->width + (size_t)x] & 1) != 0;
}

FSEC_API enum fsec_err fsec_qr_print(const char *text, FILE *f, struct fsec_qr_info *info)
{
	/* Index: top module dark (1), bottom dark (2). Light is drawn, dark
	 * left blank, which reads correctly on a dark terminal background. */
	static const char *const cell[4] = {"\xe2\x96\x88", "\xe2\x96\x84", "\xe2\x96\x80", " "};
	QRcode *q = NULL;
	enum fsec_err rc = encode(text, &q, info);

	if (rc != FSEC_OK)
		return rc;
	for (int y = -QUIET_TERM; y < q->width + QUIET_TERM; y += 2) {
		for (int x = -QUIET_TERM; x < q->width + QUIET_TERM; x++)
			fputs(cell[(dark(q, x, y) ? 1 : 0) | (dark(q, x, y + 1) ? 2 : 0)], f);
		fputc('\n', f);
	}
	QRcode_free(q);
	if (ferror(f))
		return fsec_seterr(FSEC_ERR_IO, "cannot write the QR code");
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_qr_write_svg(const char *text, const char *path,
					 struct fsec_qr_info *info)
{
	struct fsec_dynbuf b;
	QRcode *q = NULL;
	int side;
	enum fsec_err rc = encode(text, &q, info);

	if (rc != FSEC_OK)
		return rc;
	fsec_dynbuf_init(&b, 1u << 20);
	side = q->width + 2 * QUIET_IMG;
	/* One path of unit squares: small, and crisp at any size. */
	rc = fsec_dynbuf_addf(&b,
				"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
				"shape-rendering=\"crispEdges\">\n"
				"<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n<path d=\"",
				side, side, side, side);
	for (int y = 0; rc == FSEC_OK && y < q->width; y++)
		for (int x = 0; rc == FSEC_OK && x < q->width; x++)
			if (dark(q, x, y))
				rc = fsec_dynbuf_addf(&b, "M%d %dh1v1h-1z", x + QUIET_IMG,
							y + QUIET_IMG);
	if (rc == FSEC_OK)
		rc = fsec_dynbuf_addf(&b, "\" fill=\"#000\"/>\n</svg>\n");
	if (rc == FSEC_OK)
		rc = fsec_file_write_atomic(path, fsec_dynbuf_ptr(&b), fsec_dynbuf_len(&b), 0644, 0);
	fsec_dynbuf_cleanup(&b);
	QRcode_free(q);
	return rc;
}

/* libpng writes through this into a dynbuf. */
static void png_to_buf(png_structp png, png_bytep data, size_t len)
{
	struct fsec_dynbuf *b = png_get_io_ptr(png);

	if (fsec_dynbuf_add(b, data, len) != FSEC_OK)
		png_error(png, "out of memory");
}

static void png_flush_none(png_structp png)
{
	(void)png;
}

/* Kept out of the function that calls setjmp, so nothing it changes needs
 * to be volatile. */
static bool png_rows(png_structp png, png_infop pi, const QRcode *q, unsigned scale,
		     png_bytep row, struct fsec_dynbuf *b)
{
	size_t side = ((size_t)q->width + 2 * QUIET_IMG) * scale;

	if (setjmp(png_jmpbuf(png)))
		return false;
	png_set_write_fn(png, b, png_to_buf, png_flush_none);
	png_set_IHDR(png, pi, (png_uint_32)side, (png_uint_32)side, 1, PNG_COLOR_TYPE_GRAY,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_set_compression_level(png, 9);
	png_write_info(png, pi);
	for (size_t py = 0; py < side; py++) {
		int y = (int)(py / scale) - QUIET_IMG;

		memset(row, 0xff, (side + 7) / 8);
		for (size_t px = 0; px < side; px++)
			if (dark(q, (int)(px / scale) - QUIET_IMG, y))
				row[px / 8] &= (png_byte) ~(0x80u >> (px % 8));
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	return true;
}

FSEC_API enum fsec_err fsec_qr_png(const char *text, unsigned scale, unsigned char **out,
				   size_t *len, struct fsec_qr_info *info)
{
	struct fsec_dynbuf b;
	png_structp png = NULL;
	png_infop pi = NULL;
	png_bytep row = NULL;
	QRcode *q = NULL;
	enum fsec_err rc;

	*out = NULL;
	*len = 0;
	if (scale < 1 || scale > SCALE_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "PNG scale: 1 to %d pixels a module", SCALE_MAX);
	if ((rc = encode(text, &q, info)) != FSEC_OK)
		return rc;
	fsec_dynbuf_init(&b, 4u << 20);
	rc = FSEC_ERR_NOMEM;
	/* At most (177 + 8) * 32 pixels a side: a row is under 1 KiB. */
	if ((row = malloc(((size_t)(q->width + 2 * QUIET_IMG) * scale + 7) / 8)) == NULL ||
	    (png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL)) == NULL ||
	    (pi = png_create_info_struct(png)) == NULL) {
		fsec_seterr(rc, "out of memory");
		goto out;
	}
	if (!png_rows(png, pi, q, scale, row, &b)) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "PNG encoding failed");
		goto out;
	}
	{
		char *data = NULL;

		if ((rc = fsec_dynbuf_take(&b, &data, len)) == FSEC_OK)
			*out = (unsigned char *)data;
		else
			fsec_seterr(rc, "PNG too large");
	}
out:
	png_destroy_write_struct(&png, &pi);
	fsec_dynbuf_cleanup(&b);
	free(row);
	QRcode_free(q);
	return rc;
}

FSEC_API enum fsec_err fsec_qr_write_png(const char *text, const char *path, unsigned scale,
					 struct fsec_qr_info *info)
{
	unsigned char *png = NULL;
	size_t len = 0;
	enum fsec_err rc = fsec_qr_png(text, scale, &png, &len, info);

	if (rc == FSEC_OK)
		rc = fsec_file_write_atomic(path, png, len, 0644, 0);
	free(png);
	return rc;
}
