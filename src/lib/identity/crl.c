/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRL encoding, once: the CLI's `ca crl`, the home's crl.pem and fleetsecd's
 * GET /crl all go through fsec_crl_encode; the home's crl.pem is published
 * in CRL-number order by every writer (fsec_crl_publish); fleetsecd keeps
 * the DER it serves in a cache that follows the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crl_int.h"
#include "dynbuf_int.h"
#include "err_int.h"
#include "pem_int.h"
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

FSEC_API enum fsec_err fsec_crl_set_pem(STACK_OF(X509_CRL) *crls, unsigned char **out,
					size_t *len)
{
	struct fsec_dynbuf b;
	unsigned char *one = NULL;
	size_t n = 0;
	enum fsec_err rc = FSEC_OK;

	fsec_dynbuf_init(&b, CRL_MAX);
	for (int i = 0; rc == FSEC_OK && i < sk_X509_CRL_num(crls); i++) {
		if ((rc = fsec_crl_encode(sk_X509_CRL_value(crls, i), FSEC_CRL_PEM, &one, &n)) ==
		    FSEC_OK)
			rc = fsec_dynbuf_add(&b, one, n);
		free(one);
		one = NULL;
	}
	if (rc == FSEC_OK)
		rc = fsec_dynbuf_take(&b, (char **)out, len);
	fsec_dynbuf_cleanup(&b);
	return rc;
}

static enum fsec_err asn1_time(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (t == NULL) {
		*out = 0;
		return FSEC_OK;
	}
	if (!ASN1_TIME_to_tm(t, &tm))
		return fsec_seterr_ossl(FSEC_ERR_PARSE, "a CRL date does not decode");
	*out = (int64_t)timegm(&tm);
	return FSEC_OK;
}

enum fsec_err fsec_crl_info_get(const X509_CRL *crl, struct fsec_crl_info *out)
{
	struct fsec_crl_info info = {0};
	ASN1_INTEGER *num = NULL;
	int crit = 0;
	enum fsec_err rc = FSEC_ERR_PARSE;

	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	/* crit -1: no CRL number at all, which orders before any numbered
	 * list; anything else that did not decode is a broken CRL. */
	if (num == NULL && crit != -1) {
		fsec_seterr(rc, "the CRL number does not decode");
		goto out;
	}
	if (num != NULL && !ASN1_INTEGER_get_uint64(&info.number, num)) {
		fsec_seterr(rc, "the CRL number is not a 64-bit unsigned number");
		goto out;
	}
	if ((rc = asn1_time(X509_CRL_get0_lastUpdate(crl), &info.this_update)) != FSEC_OK ||
	    (rc = asn1_time(X509_CRL_get0_nextUpdate(crl), &info.next_update)) != FSEC_OK)
		goto out;
	*out = info;
	rc = FSEC_OK;
out:
	ASN1_INTEGER_free(num);
	return rc;
}

enum fsec_err fsec_crl_file_load(const char *path, STACK_OF(X509_CRL) **out)
{
	unsigned char *pem = NULL;
	size_t plen = 0;
	STACK_OF(X509_CRL) *crls = NULL;
	X509_CRL *crl = NULL;
	BIO *mem = NULL;
	enum fsec_err rc;

	if ((rc = fsec_file_read(path, CRL_MAX, &pem, &plen)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_PARSE;
	/* plen <= CRL_MAX: it fits the int BIO_new_mem_buf takes. */
	if ((mem = BIO_new_mem_buf(pem, (int)plen)) == NULL || (crls = sk_X509_CRL_new_null()) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	while ((crl = PEM_read_bio_X509_CRL(mem, NULL, NULL, NULL)) != NULL) {
		/* Capped: one list per issuing CA in use, never more. */
		if (sk_X509_CRL_num(crls) == FSEC_CRL_FILE_MAX) {
			fsec_seterr(rc, "%s: more than %d CRLs", path, FSEC_CRL_FILE_MAX);
			goto out;
		}
		if (!sk_X509_CRL_push(crls, crl)) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
		crl = NULL;
	}
	/* The loop ends at the end of the text, or at a block that does not
	 * parse: a damaged file, never a shorter set (which would drop one
	 * CA's revocations). */
	if (!fsec_pem_clean_end() || sk_X509_CRL_num(crls) == 0) {
		fsec_seterr_ossl(rc, "%s: not a PEM CRL", path);
		goto out;
	}
	*out = crls;
	crls = NULL;
	rc = FSEC_OK;
out:
	X509_CRL_free(crl);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	BIO_free(mem);
	free(pem);
	return rc;
}

/* What orders and dates a set of CRLs published together: the highest
 * number (a new set must be above every list there), and the window in
 * which every one of them is valid. */
static enum fsec_err set_info(STACK_OF(X509_CRL) *crls, struct fsec_crl_info *out)
{
	struct fsec_crl_info all = {0}, one;
	enum fsec_err rc;

	for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
		if ((rc = fsec_crl_info_get(sk_X509_CRL_value(crls, i), &one)) != FSEC_OK)
			return rc;
		if (i == 0 || one.number > all.number)
			all.number = one.number;
		if (i == 0 || one.this_update > all.this_update)
			all.this_update = one.this_update;
		if (i == 0 || one.next_update < all.next_update)
			all.next_update = one.next_update;
	}
	*out = all;
	return FSEC_OK;
}

enum fsec_err fsec_crl_set_lists(STACK_OF(X509_CRL) *crls, const char *serial, bool *listed)
{
	size_t n = strlen(serial);
	ASN1_INTEGER *sn = NULL;
	X509_REVOKED *entry;
	BIGNUM *bn = NULL;
	enum fsec_err rc = FSEC_OK;

	*listed = false;
	/* n <= 64: BN_hex2bn's int return compares without truncation. */
	if (n == 0 || n > 64 || BN_hex2bn(&bn, serial) != (int)n) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "certificate serial '%.40s' is not hex", serial);
		goto out;
	}
	if ((sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
		rc = fsec_seterr_ossl(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < sk_X509_CRL_num(crls) && !*listed; i++)
		*listed = X509_CRL_get0_by_serial(sk_X509_CRL_value(crls, i), &entry, sn) != 0;
out:
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	return rc;
}

enum fsec_err fsec_crl_file_info(const char *path, struct fsec_crl_info *out)
{
	STACK_OF(X509_CRL) *crls = NULL;
	enum fsec_err rc;

	if (access(path, F_OK) != 0 && errno == ENOENT)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "%s: no CRL", path);
	if ((rc = fsec_crl_file_load(path, &crls)) == FSEC_OK)
		rc = set_info(crls, out);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return rc;
}

enum fsec_err fsec_crl_publish(const char *path, STACK_OF(X509_CRL) *crls, bool *published)
{
	struct fsec_crl_info ours, there;
	unsigned char *pem = NULL;
	char *lock = NULL;
	size_t len = 0;
	int fd = -1;
	bool newer = true;
	enum fsec_err rc;

	if (sk_X509_CRL_num(crls) < 1 || sk_X509_CRL_num(crls) > FSEC_CRL_FILE_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "a CRL file holds 1-%d CRLs", FSEC_CRL_FILE_MAX);
	if ((rc = set_info(crls, &ours)) != FSEC_OK ||
	    (rc = fsec_crl_set_pem(crls, &pem, &len)) != FSEC_OK)
		goto out;
	if (asprintf(&lock, "%s.lock", path) < 0) {
		lock = NULL;
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = FSEC_ERR_IO;
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0) {
		fsec_seterr(rc, "%s: cannot open: %s", lock, strerror(errno));
		goto out;
	}
	/* Without the lock, two writers that each read an older file could
	 * rename in the wrong order; with it, read-compare-rename is one step. */
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			fsec_seterr(rc, "%s: cannot lock: %s", lock, strerror(errno));
			goto out;
		}
	}
	/* A file that is missing or does not load (hand-edited, truncated by
	 * a full disk) is replaced: it orders before any CRL. */
	if (fsec_crl_file_info(path, &there) == FSEC_OK)
		newer = ours.number > there.number;
	fsec_clearerr();
	if (newer && (rc = fsec_file_write_atomic(path, pem, len, 0644, 0)) != FSEC_OK)
		goto out;
	*published = newer;
	rc = FSEC_OK;
out:
	/* Closing the descriptor releases the lock, after the rename. */
	if (fd >= 0)
		close(fd);
	free(lock);
	free(pem);
	return rc;
}

/* What GET /crl serves of the CRL file at path, with its number and
 * dates: the DER of its one CRL, or, when several issuing CAs are in use,
 * the PEM of all of them (DER holds one). */
static enum fsec_err load_body(const char *path, unsigned char **body, size_t *len, bool *pem,
			       struct fsec_crl_info *info)
{
	STACK_OF(X509_CRL) *crls = NULL;
	enum fsec_err rc;

	if ((rc = fsec_crl_file_load(path, &crls)) == FSEC_OK && (rc = set_info(crls, info)) == FSEC_OK) {
		*pem = sk_X509_CRL_num(crls) > 1;
		rc = *pem ? fsec_crl_set_pem(crls, body, len)
			  : fsec_crl_encode(sk_X509_CRL_value(crls, 0), FSEC_CRL_DER, body, len);
	}
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return rc;
}

enum fsec_err fsec_crl_cache_get(struct fsec_crl_cache *c, const char *path,
				 const unsigned char **der, size_t *len,
				 struct fsec_crl_info *info)
{
	struct stat st;
	struct fsec_crl_info fi = {0};
	unsigned char *fresh = NULL;
	size_t n = 0;
	bool pem = false;
	enum fsec_err rc;

	if (stat(path, &st) != 0)
		return fsec_seterr(FSEC_ERR_IO, "%s: cannot stat", path);
	if (c->der == NULL || st.st_ino != c->st.st_ino || st.st_size != c->st.st_size ||
	    st.st_mtim.tv_sec != c->st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != c->st.st_mtim.tv_nsec) {
		/* A file that changed and does not load is not answered with
		 * the old list: that one may lack a revocation. */
		if ((rc = load_body(path, &fresh, &n, &pem, &fi)) != FSEC_OK)
			return rc;
		free(c->der);
		c->der = fresh;
		c->len = n;
		c->pem = pem;
		c->info = fi;
		c->st = st;
	}
	*der = c->der;
	*len = c->len;
	if (info != NULL)
		*info = c->info;
	return FSEC_OK;
}

void fsec_crl_cache_cleanup(struct fsec_crl_cache *c)
{
	if (c == NULL)
		return;
	free(c->der);
	memset(c, 0, sizeof(*c));
}
