/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the core PEM certificate reader (core/pem.c,
 * fsec_pem_cert_parse), which reads every certificate file the binaries are
 * given and the agent's own certificate. Properties checked, besides the
 * error contract (fuzz_check.h): a failure is PARSE or TOO_LARGE and leaves
 * the output alone; a certificate read re-encodes (from the X509 and from
 * its DER) to PEM that reads back as the same certificate, and that PEM is
 * exactly one CERTIFICATE block with nothing around it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "pem_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char BEGIN[] = "-----BEGIN CERTIFICATE-----\n";
static const char END[] = "-----END CERTIFICATE-----\n";

/* pem is one CERTIFICATE block, nothing before or after, and reads back as
 * cert. */
static void check_pem(const char *pem, X509 *cert)
{
	size_t n = strlen(pem);
	X509 *back = NULL;

	if (n < sizeof(BEGIN) - 1 + sizeof(END) - 1 ||
	    strncmp(pem, BEGIN, sizeof(BEGIN) - 1) != 0 ||
	    strcmp(pem + n - (sizeof(END) - 1), END) != 0 || strstr(pem + 1, "-----BEGIN") != NULL)
		abort();
	if (fsec_pem_cert_parse(pem, n, "again", &back) != FSEC_OK || X509_cmp(back, cert) != 0)
		abort();
	X509_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509 *cert = (X509 *)&size, *const untouched = cert;
	unsigned char *der = NULL;
	char *pem = NULL, *pem2 = NULL;
	enum fsec_err rc;
	int n;

	fsec_clearerr();
	rc = fsec_pem_cert_parse(data, size, "input", &cert);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK) {
		if ((rc != FSEC_ERR_PARSE && rc != FSEC_ERR_TOO_LARGE) || cert != untouched)
			abort();
		/* The reason names the input. */
		if (strstr(fsec_err_detail(), "input") == NULL)
			abort();
		return 0;
	}
	if (size > FSEC_PEM_CERT_MAX)
		abort();
	if (fsec_pem_cert_encode(cert, &pem) != FSEC_OK)
		abort();
	check_pem(pem, cert);
	/* The DER path gives the same text. Re-encoding is what the stager
	 * writes, so stray text around the block never reaches a file. */
	if ((n = i2d_X509(cert, &der)) <= 0)
		abort();
	if (fsec_pem_cert_encode_der(der, (size_t)n, &pem2) != FSEC_OK || strcmp(pem, pem2) != 0)
		abort();
	OPENSSL_free(der);
	free(pem);
	free(pem2);
	X509_free(cert);
	return 0;
}
