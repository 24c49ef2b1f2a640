/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the EST client's parser of what a server answers
 * (fsec_estc_parse_certs): a certs-only CMS in base64 with line breaks
 * (RFC 7030, over HTTPS) or in DER (RFC 9148, over CoAPs), the first input
 * byte choosing the encoding and how many certificates are wanted.
 * Properties checked besides the sanitizers: a success holds the number of
 * certificates asked for (or at least one), each of which encodes again;
 * every failure says why in one line.
 */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/x509.h>

#include "estc_int.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *certs = NULL;
	enum fsec_err rc;
	bool der;
	int want;

	if (size < 1)
		return 0;
	der = (data[0] & 1) != 0;
	want = (data[0] >> 1) & 3; /* 0: any number, else exactly that many */
	rc = fsec_estc_parse_certs(data + 1, size - 1, der, want, &certs);
	fuzz_check_detail(rc);
	if (rc == FSEC_OK) {
		int n = sk_X509_num(certs);

		if (n < 1 || (want != 0 && n != want))
			abort();
		for (int i = 0; i < n; i++)
			if (i2d_X509(sk_X509_value(certs, i), NULL) <= 0)
				abort();
		sk_X509_pop_free(certs, X509_free);
	} else if (rc != FSEC_ERR_PARSE) {
		abort();
	}
	return 0;
}
