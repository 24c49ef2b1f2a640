/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_qr N RUNS [OUT_PNG] (issue 18): the time to make a pairing label, so
 * that labels can be printed at line speed. For one pairing URI (a fresh
 * P-256 key, compressed): per code, in the same run,
 *   - baseline: libqrencode's encoding alone (QRcode_encodeString8bit), the
 *     floor any renderer on top of it pays;
 *   - fsec_qr_png: encoding and the PNG (what `fleetsec-agent pair --png`
 *     writes, without the file);
 *   - fsec_pair_uri_make: the URI from the key (encoding it compressed).
 * Each is timed over N codes, RUNS times; the median per code is printed,
 * with the PNG's size. OUT_PNG: where to write one PNG (for zbarimg and a
 * size comparison against the qrencode CLI, bench/bench_qr.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

#include "bench_util.h"
#include "fleetsec/key.h"
#include "fleetsec/pairing.h"

#define RUNS_MAX 101

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned long n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	unsigned long n, runs;
	double base[RUNS_MAX], png[RUNS_MAX], uri[RUNS_MAX];
	EVP_PKEY *key = NULL;
	char *text = NULL;
	unsigned char *img = NULL;
	size_t len = 0;
	struct fsec_qr_info qi = {0};

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: bench_qr N RUNS [OUT_PNG]\n");
		return 2;
	}
	n = parse_count(argv[0], argv[1], 10000000, "N");
	runs = parse_count(argv[0], argv[2], RUNS_MAX, "RUNS");
	if (fsec_key_generate(FSEC_KEY_P256, &key) != FSEC_OK ||
	    fsec_pair_uri_make(key, "SN-000001", &text) != FSEC_OK) {
		fprintf(stderr, "bench_qr: cannot make a pairing URI\n");
		return 1;
	}
	for (unsigned long r = 0; r < runs; r++) {
		double t0 = now_s();

		for (unsigned long i = 0; i < n; i++) {
			QRcode *q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);

			if (q == NULL)
				return 1;
			QRcode_free(q);
		}
		base[r] = (now_s() - t0) / (double)n;
		t0 = now_s();
		for (unsigned long i = 0; i < n; i++) {
			free(img);
			img = NULL;
			if (fsec_qr_png(text, 4, &img, &len, &qi) != FSEC_OK)
				return 1;
		}
		png[r] = (now_s() - t0) / (double)n;
		t0 = now_s();
		for (unsigned long i = 0; i < n; i++) {
			char *u = NULL;

			if (fsec_pair_uri_make(key, "SN-000001", &u) != FSEC_OK)
				return 1;
			free(u);
		}
		uri[r] = (now_s() - t0) / (double)n;
	}
	printf("uri          %zu characters: %s\n", strlen(text), text);
	printf("qr           version %d, %dx%d modules, error correction M\n", qi.version, qi.width,
	       qi.width);
	printf("baseline     libqrencode encode only: median %.1f us/code\n",
	       median(base, runs) * 1e6);
	printf("fsec_qr_png  encode + PNG (4 px/module, quiet zone 4): median %.1f us/code "
	       "(%.2fx the baseline), %zu bytes\n",
	       median(png, runs) * 1e6, median(png, runs) / median(base, runs), len);
	printf("uri_make     compressed SPKI + base64: median %.1f us/code\n",
	       median(uri, runs) * 1e6);
	printf("labels/s     %.0f per core (PNG)\n", 1.0 / median(png, runs));
	if (argc == 4) {
		FILE *f = fopen(argv[3], "wb");

		if (f == NULL || fwrite(img, 1, len, f) != len || fclose(f) != 0) {
			fprintf(stderr, "bench_qr: cannot write %s\n", argv[3]);
			return 1;
		}
		printf("written      %s\n", argv[3]);
	}
	free(img);
	free(text);
	EVP_PKEY_free(key);
	return 0;
}
