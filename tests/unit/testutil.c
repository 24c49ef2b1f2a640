/* SPDX-License-Identifier: Apache-2.0 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/pem.h>
#include <sqlite3.h>

#include "testutil.h"

char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *p = NULL;

	assert_true(asprintf(&p, "%s/fsec-test-XXXXXX", base != NULL ? base : "/tmp") > 0);
	assert_non_null(mkdtemp(p));
	return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tu_rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *name)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

int tu_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

EVP_PKEY *tu_key(const char *kind)
{
	EVP_PKEY *k = NULL;

	if (strcmp(kind, "p256") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(kind, "p384") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	else if (strcmp(kind, "secp256k1") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	else if (strcmp(kind, "ed25519") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else if (strcmp(kind, "ed448") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	else if (strcmp(kind, "rsa1024") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	else if (strcmp(kind, "rsa2048") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(k);
	return k;
}

X509_REQ *tu_csr(EVP_PKEY *key, const char *cn)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_REQ_get_subject_name(req);
	int id = EVP_PKEY_get_base_id(key);
	const EVP_MD *md = (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? NULL : EVP_sha256();

	assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
					       -1, -1, 0));
	assert_true(X509_REQ_set_pubkey(req, key));
	assert_true(X509_REQ_sign(req, key, md) > 0);
	return req;
}

unsigned char *tu_csr_der(X509_REQ *req, size_t *len)
{
	unsigned char *der = NULL, *copy;
	int n = i2d_X509_REQ(req, &der);

	assert_true(n > 0);
	copy = malloc((size_t)n);
	memcpy(copy, der, (size_t)n);
	OPENSSL_free(der);
	*len = (size_t)n;
	return copy;
}

unsigned char *tu_csr_pem(X509_REQ *req, size_t *len)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data;
	unsigned char *copy;
	long n;

	assert_true(PEM_write_bio_X509_REQ(mem, req));
	n = BIO_get_mem_data(mem, &data);
	copy = malloc((size_t)n + 1);
	memcpy(copy, data, (size_t)n);
	copy[n] = 0;
	*len = (size_t)n;
	BIO_free(mem);
	return copy;
}

void tu_write(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

char *tu_replace(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	char *out;

	assert_non_null(at);
	out = malloc(strlen(text) - strlen(from) + strlen(to) + 1);
	assert_non_null(out);
	memcpy(out, text, (size_t)(at - text));
	memcpy(out + (at - text), to, strlen(to));
	memcpy(out + (at - text) + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
	return out;
}

int tu_pg(void)
{
	const char *v = getenv("FSEC_TEST_PG");

	return v != NULL && strcmp(v, "1") == 0;
}

/* A connection to dbname on the test's cluster (PG* variables). */
static PGconn *pg_connect(const char *dbname)
{
	const char *const keys[] = {"dbname", NULL};
	const char *const vals[] = {dbname, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 0);

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("PostgreSQL: %s", PQerrorMessage(c));
	return c;
}

char *tu_registry(const char *dir)
{
	static unsigned seq;
	char *url = NULL, sql[128];
	PGconn *c;
	PGresult *r;

	if (!tu_pg())
		return tu_path(dir, "registry.db");
	snprintf(sql, sizeof(sql), "CREATE DATABASE fsec_unit_%ld_%u", (long)getpid(), ++seq);
	c = pg_connect("postgres");
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	assert_true(asprintf(&url, "postgresql:///fsec_unit_%ld_%u", (long)getpid(), seq) > 0);
	return url;
}

int tu_sql(const char *location, const char *sql)
{
	if (strncmp(location, "postgresql:///", 14) == 0) {
		PGconn *c = pg_connect(location + 14);
		PGresult *r = PQexec(c, sql);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

		PQclear(r);
		PQfinish(c);
		return ok ? 0 : -1;
	} else {
		sqlite3 *h = NULL;
		int r;

		assert_int_equal(sqlite3_open(location, &h), SQLITE_OK);
		sqlite3_busy_timeout(h, 5000);
		r = sqlite3_exec(h, sql, NULL, NULL, NULL);
		sqlite3_close(h);
		return r == SQLITE_OK ? 0 : -1;
	}
}
