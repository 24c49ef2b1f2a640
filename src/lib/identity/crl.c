/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRL encoding, once: the CLI's `ca crl`, the home's crl.pem and fleetsecd's
 * GET /crl all go through fsec_crl_encode; fleetsecd keeps the DER it serves
 * in a cache that follows the file.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crl_int.h"
#include "err_int.h"
#include "fleetsec/ca.h"
#include "fleetsec/fileio.h"

/* A CRL naming every certificate of a large fleet stays well below this. */
#define CRL_MAX (16u * 1024u * 1024u)

FSEC_API enum fsec_err fsec_crl_encode(X509_CRL *crl, enum fsec_crl_form form, unsigned char **out,
				       size_t *len)
{
	BIO *mem = BIO_new(BIO_s_mem());
	unsigned char *buf = NULL;
	char *data = NULL;
	long n = 0;
	enum fsec_err rc = FSEC_ERR_CRYPTO;

	if (mem == NULL ||
	    !(form == FSEC_CRL_DER ? i2d_X509_CRL_bio(mem, crl) : PEM_write_bio_X509_CRL(mem, crl)) ||
	    (n = BIO_get_mem_data(mem, &data)) <= 0) {
		fsec_seterr_ossl(rc, "cannot encode the CRL");
		goto out;
	}
	/* One byte more for a NUL, so that the PEM form is also a string. */
	if ((buf = malloc((size_t)n + 1)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(buf, data, (size_t)n);
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	rc = FSEC_OK;
out:
	BIO_free(mem);
	return rc;
}

/* The PEM CRL at path as DER. */
static enum fsec_err load_der(const char *path, unsigned char **der, size_t *len)
{
	unsigned char *pem = NULL;
	size_t plen = 0;
	X509_CRL *crl = NULL;
	BIO *mem = NULL;
	enum fsec_err rc;

	if ((rc = fsec_file_read(path, CRL_MAX, &pem, &plen)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_PARSE;
	/* plen <= CRL_MAX: it fits the int BIO_new_mem_buf takes. */
	if ((mem = BIO_new_mem_buf(pem, (int)plen)) == NULL ||
	    (crl = PEM_read_bio_X509_CRL(mem, NULL, NULL, NULL)) == NULL) {
		fsec_seterr_ossl(rc, "%s: not a PEM CRL", path);
		goto out;
	}
	rc = fsec_crl_encode(crl, FSEC_CRL_DER, der, len);
out:
	X509_CRL_free(crl);
	BIO_free(mem);
	free(pem);
	return rc;
}

enum fsec_err fsec_crl_cache_get(struct fsec_crl_cache *c, const char *path,
				 const unsigned char **der, size_t *len)
{
	struct stat st;
	unsigned char *fresh = NULL;
	size_t n = 0;
	enum fsec_err rc;

	if (stat(path, &st) != 0)
		return fsec_seterr(FSEC_ERR_IO, "%s: cannot stat", path);
	if (c->der == NULL || st.st_ino != c->st.st_ino || st.st_size != c->st.st_size ||
	    st.st_mtim.tv_sec != c->st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != c->st.st_mtim.tv_nsec) {
		/* A file that changed and does not load is not answered with
		 * the old list: that one may lack a revocation. */
		if ((rc = load_der(path, &fresh, &n)) != FSEC_OK)
			return rc;
		free(c->der);
		c->der = fresh;
		c->len = n;
		c->st = st;
	}
	*der = c->der;
	*len = c->len;
	return FSEC_OK;
}

void fsec_crl_cache_cleanup(struct fsec_crl_cache *c)
{
	if (c == NULL)
		return;
	free(c->der);
	memset(c, 0, sizeof(*c));
}
