/* SPDX-License-Identifier: Apache-2.0 */
/* The manufacturer CA (mfr.h) that issues IDevID-like bootstrap
 * certificates for zero-touch enrollment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "err_int.h"
#include "pem_int.h"
#include "fleetsec/ca.h"
#include "fleetsec/fileio.h"
#include "fleetsec/mfr.h"

#define CA_DAYS 9125

static enum fsec_err path_in(const char *dir, const char *name, char *buf, size_t cap)
{
	if ((size_t)snprintf(buf, cap, "%s/%s", dir, name) >= cap)
		return fsec_seterr(FSEC_ERR_INVAL, "%s: path too long", dir);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_mfr_create(const char *dir, const char *name)
{
	struct fsec_file_stage *key_st = NULL, *cert_st = NULL;
	char key_path[4096], cert_path[4096];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fsec_fleet_name_check(name)) != FSEC_OK ||
	    (rc = path_in(dir, "ca.key", key_path, sizeof(key_path))) != FSEC_OK ||
	    (rc = path_in(dir, "ca.pem", cert_path, sizeof(cert_path))) != FSEC_OK)
		return rc;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return fsec_seterr(FSEC_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
	/* NOCLOBBER on both files refuses a directory that already holds a CA. */
	if ((rc = fsec_key_generate(FSEC_KEY_P256, &key)) != FSEC_OK ||
	    (rc = fsec_ca_make_root(key, name, 1, CA_DAYS, &cert)) != FSEC_OK ||
	    (rc = fsec_key_stage_private(key, key_path, &key_st)) != FSEC_OK ||
	    (rc = fsec_pem_cert_stage(cert_path, cert, FSEC_FILE_NOCLOBBER, &cert_st)) != FSEC_OK ||
	    (rc = fsec_file_stage_commit(key_st)) != FSEC_OK)
		goto out;
	rc = fsec_file_stage_commit(cert_st);
out:
	fsec_file_stage_free(key_st);
	fsec_file_stage_free(cert_st);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* The CA's certificate, key and name (its subject O). */
static enum fsec_err load_mfr(const char *dir, struct fsec_ca **out)
{
	char key_path[4096], cert_path[4096], org[FSEC_FLEET_NAME_MAX + 1];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	enum fsec_err rc;

	if ((rc = path_in(dir, "ca.key", key_path, sizeof(key_path))) != FSEC_OK ||
	    (rc = path_in(dir, "ca.pem", cert_path, sizeof(cert_path))) != FSEC_OK)
		return rc;
	if (access(cert_path, F_OK) != 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "%s: no manufacturer CA here (run mfr init)",
				   dir);
	if ((rc = fsec_pem_cert_read(cert_path, &cert)) != FSEC_OK)
		return rc;
	rc = FSEC_ERR_PARSE;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_organizationName, org,
	                              sizeof(org)) <= 0) {
		rc = fsec_seterr_ossl(rc, "%s: not a manufacturer CA certificate", cert_path);
		goto out;
	}
	if ((rc = fsec_key_load_private(key_path, &key)) != FSEC_OK)
		goto out;
	rc = fsec_ca_new(cert, key, cert, org, out);
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

FSEC_API enum fsec_err fsec_mfr_issue(const char *dir, const struct fsec_mfr_issue_opts *o)
{
	struct fsec_file_stage *key_st = NULL, *cert_st = NULL;
	struct fsec_issued_cert cert = {0};
	unsigned char serial[FSEC_SERIAL_LEN];
	struct fsec_ca *ca = NULL;
	EVP_PKEY *key = NULL;
	char *pem = NULL;
	enum fsec_err rc;

	fsec_clearerr();
	if (o->key_out == NULL || o->cert_out == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "both a key and a certificate output are needed");
	if ((rc = load_mfr(dir, &ca)) != FSEC_OK ||
	    (rc = fsec_key_generate(o->key_algo != 0 ? o->key_algo : FSEC_KEY_P256, &key)) != FSEC_OK ||
	    (rc = fsec_ca_random_serial(serial)) != FSEC_OK ||
	    (rc = fsec_ca_issue_idevid(ca, key, o->serial, o->days != 0 ? o->days : FSEC_MFR_DEVICE_DAYS,
				       serial, &cert)) != FSEC_OK ||
	    (rc = fsec_issued_cert_pem(&cert, &pem)) != FSEC_OK ||
	    (rc = fsec_key_stage_private(key, o->key_out, &key_st)) != FSEC_OK ||
	    (rc = fsec_file_stage_new(o->cert_out, pem, strlen(pem), 0644, FSEC_FILE_NOCLOBBER,
				      &cert_st)) != FSEC_OK ||
	    (rc = fsec_file_stage_commit(key_st)) != FSEC_OK)
		goto out;
	rc = fsec_file_stage_commit(cert_st);
out:
	fsec_file_stage_free(key_st);
	fsec_file_stage_free(cert_st);
	fsec_issued_cert_cleanup(&cert);
	fsec_ca_free(ca);
	EVP_PKEY_free(key);
	free(pem);
	return rc;
}
