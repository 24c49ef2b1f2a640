/* SPDX-License-Identifier: Apache-2.0 */
/* The factory batch CSV (batch.h): "id,model,csr_path" or "id,model" per
 * line. Outside input (a factory's export), so every line is checked here
 * and a bad one becomes an error line, never a stop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fleetsec/batch.h"
#include "fleetsec/names.h"

/* A path is at most PATH_MAX (4096); with an ID and a model, a line. */
#define LINE_MAX_BYTES 4300
#define FIELDS_MAX 3

static int bad(fsec_batch_line_cb cb, void *ctx, size_t line, const char *why)
{
	struct fsec_batch_line l = {.line = line, .error = why};

	return cb(&l, ctx);
}

/* One line (no line end) at s[0..n): an item or an error line. */
static int one_line(char *s, size_t n, size_t line, fsec_batch_line_cb cb, void *ctx)
{
	char *field[FIELDS_MAX];
	size_t nf = 0;
	char why[96];
	struct fsec_batch_line l = {.line = line};

	if (memchr(s, '\0', n) != NULL)
		return bad(cb, ctx, line, "the line holds a NUL byte");
	s[n] = '\0';
	field[nf++] = s;
	for (char *p = s; *p != '\0'; p++) {
		if (*p != ',')
			continue;
		if (nf == FIELDS_MAX) {
			nf++;
			break;
		}
		*p = '\0';
		field[nf++] = p + 1;
	}
	if (nf < 2 || nf > FIELDS_MAX)
		return bad(cb, ctx, line, "expected id,model,csr_path or id,model");
	if (fsec_devid_check(field[0]) != FSEC_OK)
		return bad(cb, ctx, line,
			   "invalid device ID (1-64 characters of A-Z a-z 0-9 . _ -)");
	if (field[1][0] != '\0' && fsec_model_check(field[1]) != FSEC_OK) {
		snprintf(why, sizeof(why), "invalid model (1-%d characters of A-Z a-z 0-9 . _ -)",
			 FSEC_MODEL_MAX);
		return bad(cb, ctx, line, why);
	}
	if (nf == 3 && field[2][0] == '\0')
		return bad(cb, ctx, line, "empty CSR path (leave the field out for key generation)");
	l.id = field[0];
	l.model = field[1];
	l.csr_path = nf == 3 ? field[2] : NULL;
	return cb(&l, ctx);
}

FSEC_API enum fsec_err fsec_batch_csv_parse(const char *buf, size_t len, fsec_batch_line_cb cb,
					    void *ctx)
{
	char *scratch;
	size_t line = 0, pos = 0;
	enum fsec_err rc = FSEC_OK;

	if (len > FSEC_BATCH_CSV_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "the batch is %zu bytes, the limit is %u",
				   len, FSEC_BATCH_CSV_MAX);
	if ((scratch = malloc(LINE_MAX_BYTES + 1)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;
		const char *s = buf + pos;
		int stop;

		pos += n + (nl != NULL);
		line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n == 0 || s[0] == '#')
			continue;
		if (line == 1 && ((n == 8 && memcmp(s, "id,model", 8) == 0) ||
				  (n == 17 && memcmp(s, "id,model,csr_path", 17) == 0)))
			continue;
		if (n > LINE_MAX_BYTES) {
			stop = bad(cb, ctx, line, "line too long");
		} else {
			memcpy(scratch, s, n);
			stop = one_line(scratch, n, line, cb, ctx);
		}
		if (stop != 0) {
			rc = fsec_seterr(FSEC_ERR_INVAL, "batch stopped at line %zu", line);
			break;
		}
	}
	free(scratch);
	return rc;
}
