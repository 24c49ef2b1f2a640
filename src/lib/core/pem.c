/* SPDX-License-Identifier: Apache-2.0 */
/* The one reader and stager of PEM certificates (pem_int.h). */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "err_int.h"
#include "pem_int.h"

enum fsec_err fsec_pem_cert_parse(const void *buf, size_t len, const char *what, X509 **out)
{
	BIO *mem = NULL;
	X509 *cert = NULL;

	/* BIO_new_mem_buf takes an int: a longer buffer would be cut short
	 * silently, and no certificate is that long anyway. */
	if (len > FSEC_PEM_CERT_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: more than %u bytes", what,
		                   FSEC_PEM_CERT_MAX);
	if ((mem = BIO_new_mem_buf(buf, (int)len)) != NULL)
		cert = PEM_read_bio_X509(mem, NULL, NULL, NULL);
	BIO_free(mem);
	if (cert == NULL)
		return fsec_seterr_ossl(FSEC_ERR_PARSE, "%s: not a PEM certificate", what);
	ERR_clear_error();
	*out = cert;
	return FSEC_OK;
}

enum fsec_err fsec_pem_cert_read(const char *path, X509 **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;

	if ((rc = fsec_file_read(path, FSEC_PEM_CERT_MAX, &buf, &len)) != FSEC_OK)
		return fsec_seterr(rc, "%s: %s", path, fsec_err_detail());
	rc = fsec_pem_cert_parse(buf, len, path, out);
	free(buf);
	return rc;
}

/* The contents of a memory BIO as a new NUL-terminated string. */
static enum fsec_err bio_string(BIO *mem, char **out)
{
	char *data, *copy;
	long n = BIO_get_mem_data(mem, &data);

	copy = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (copy == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*out = copy;
	return FSEC_OK;
}

enum fsec_err fsec_pem_cert_encode(X509 *cert, char **out)
{
	BIO *mem = BIO_new(BIO_s_mem());
	enum fsec_err rc;

	if (mem == NULL || !PEM_write_bio_X509(mem, cert))
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot encode certificate");
	else
		rc = bio_string(mem, out);
	BIO_free(mem);
	return rc;
}

enum fsec_err fsec_pem_cert_encode_der(const unsigned char *der, size_t der_len, char **out)
{
	BIO *mem = NULL;
	enum fsec_err rc;

	/* PEM_write_bio takes a long. */
	if (der_len > INT32_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "certificate too large");
	mem = BIO_new(BIO_s_mem());
	if (mem == NULL || !PEM_write_bio(mem, PEM_STRING_X509, "", der, (long)der_len))
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot encode certificate");
	else
		rc = bio_string(mem, out);
	BIO_free(mem);
	return rc;
}

enum fsec_err fsec_pem_cert_stage(const char *path, X509 *cert, unsigned flags,
                                  struct fsec_file_stage **st)
{
	char *pem = NULL;
	enum fsec_err rc = fsec_pem_cert_encode(cert, &pem);

	if (rc == FSEC_OK)
		rc = fsec_file_stage_new(path, pem, strlen(pem), 0644, flags, st);
	free(pem);
	return rc;
}

enum fsec_err fsec_pem_cert_stage_der(const char *path, const unsigned char *der, size_t der_len,
                                      unsigned flags, struct fsec_file_stage **st)
{
	char *pem = NULL;
	enum fsec_err rc = fsec_pem_cert_encode_der(der, der_len, &pem);

	if (rc == FSEC_OK)
		rc = fsec_file_stage_new(path, pem, strlen(pem), 0644, flags, st);
	free(pem);
	return rc;
}

bool fsec_pem_clean_end(void)
{
	unsigned long e = ERR_peek_last_error();

	if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
		return false;
	ERR_clear_error();
	return true;
}
