/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fsec_batch_csv_parse: a factory's batch file is
 * outside input. Besides the sanitizers it checks the contract of batch.h:
 * lines are reported in increasing order; an error line has no ID and a
 * one-line reason; an item has a valid device ID, an empty or valid model,
 * and a CSR path that is NULL or not empty; the parse itself never fails
 * below the size cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fleetsec/batch.h"
#include "fleetsec/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_line(const struct fsec_batch_line *l, void *ctx)
{
	size_t *last = ctx;

	if (l->line <= *last)
		abort();
	*last = l->line;
	if (l->error != NULL) {
		if (l->id != NULL || l->error[0] == '\0' || strchr(l->error, '\n') != NULL)
			abort();
		return 0;
	}
	if (l->id == NULL || l->model == NULL || fsec_devid_check(l->id) != FSEC_OK ||
	    (l->model[0] != '\0' && fsec_model_check(l->model) != FSEC_OK) ||
	    (l->csr_path != NULL && (l->csr_path[0] == '\0' || strchr(l->csr_path, '\n') != NULL)))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t last = 0;
	enum fsec_err rc;

	fsec_clearerr();
	rc = fsec_batch_csv_parse((const char *)data, size, check_line, &last);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK)
		abort(); /* the callback never stops it, and size is far below the cap */
	return 0;
}
