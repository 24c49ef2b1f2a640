/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fsec_csr_parse: the CSR is the first thing a device
 * (or anyone reaching the EST endpoint) hands the fleet CA.
 *
 * Besides the sanitizers, it checks the contracts from common.h and csr.h:
 * the out parameter is written only on success, a failure leaves a reason,
 * and that reason is a single NUL-terminated line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fleetsec/csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A sentinel shows whether a failing call wrote *out anyway. */
	X509_REQ *const untouched = (X509_REQ *)&untouched;
	X509_REQ *req = untouched;
	enum fsec_err rc;

	fsec_clearerr();
	rc = fsec_csr_parse(data, size, &req);
	fuzz_check_detail(rc);
	if (rc == FSEC_OK) {
		if (req == NULL || req == untouched)
			abort();
		X509_REQ_free(req);
	} else {
		if (req != untouched)
			abort(); /* out parameters are written only on success */
	}
	return 0;
}
