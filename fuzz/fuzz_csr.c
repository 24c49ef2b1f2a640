/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fsec_csr_parse: the CSR is the first thing a device
 * (or anyone reaching the EST endpoint) hands the fleet CA.
 *
 * Besides the sanitizers, it checks the contracts from common.h and csr.h:
 * the out parameter is written only on success, a failure leaves a reason,
 * and that reason is a single NUL-terminated line. It also holds the
 * one-pass fsec_csr_parse_key to the full parser: both accept the same
 * inputs, with the same key.
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

	EVP_PKEY *const key_untouched = (EVP_PKEY *)&key_untouched;
	EVP_PKEY *key = key_untouched;
	enum fsec_err krc;

	fsec_clearerr();
	rc = fsec_csr_parse(data, size, &req);
	fuzz_check_detail(rc);
	if (rc == FSEC_OK) {
		if (req == NULL || req == untouched)
			abort();
	} else {
		if (req != untouched)
			abort(); /* out parameters are written only on success */
	}
	fsec_clearerr();
	krc = fsec_csr_parse_key(data, size, &key);
	fuzz_check_detail(krc);
	if ((krc == FSEC_OK) != (rc == FSEC_OK))
		abort(); /* the one-pass path accepts exactly what the full parser does */
	if (krc == FSEC_OK) {
		if (key == NULL || key == key_untouched ||
		    EVP_PKEY_eq(key, X509_REQ_get0_pubkey(req)) != 1)
			abort();
		EVP_PKEY_free(key);
	} else if (key != key_untouched) {
		abort();
	}
	if (rc == FSEC_OK)
		X509_REQ_free(req);
	return 0;
}
