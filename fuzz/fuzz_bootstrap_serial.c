/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fsec_identity_bootstrap_serial: the subject of a
 * manufacturer's bootstrap certificate, whose serialNumber becomes a device
 * ID. The input is a DER X.509 Name (what the certificate carries), decoded
 * by OpenSSL as fleetsecd's TLS stack does, so every input reaches the reader
 * without the cost of a whole certificate.
 *
 * Besides the sanitizers, it checks identity.h's contract: out is written
 * only on success, a success is a valid device ID of at most 64 characters,
 * and a failure leaves a one-line reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fleetsec/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	X509_NAME *name;
	char out[FSEC_DEVID_MAX + 2];
	enum fsec_err rc;

	if (size > 65536)
		return 0;
	if ((name = d2i_X509_NAME(NULL, &p, (long)size)) == NULL)
		return 0;
	/* A sentinel byte past the buffer's declared size shows an overrun,
	 * and a marker in it shows whether a failing call wrote out. */
	memset(out, 'Z', sizeof(out));
	fsec_clearerr();
	rc = fsec_identity_bootstrap_serial(name, out);
	fuzz_check_detail(rc);
	if (out[FSEC_DEVID_MAX + 1] != 'Z')
		abort();
	if (rc == FSEC_OK) {
		if (!fsec_devid_valid(out) || strlen(out) > FSEC_DEVID_MAX)
			abort();
	} else if (out[0] != 'Z') {
		abort(); /* out parameters are written only on success */
	}
	X509_NAME_free(name);
	return 0;
}
