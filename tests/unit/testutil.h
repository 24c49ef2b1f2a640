/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the unit tests: temporary directories and CSRs made with
 * OpenSSL directly, so that tests do not depend on the code under test to
 * build their inputs. */
#ifndef FSEC_TESTUTIL_H
#define FSEC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* A fresh directory under $TMPDIR; free with tu_rmtree + free. */
char *tu_mkdtemp(void);
/* Remove a directory tree (test scratch only). */
void tu_rmtree(const char *dir);
/* dir + "/" + name, malloc'd. */
char *tu_path(const char *dir, const char *name);
/* True if path exists. */
int tu_exists(const char *path);

/* Keys: "p256", "p384", "ed25519", "ed448", "secp256k1", "rsa1024", "rsa2048". */
EVP_PKEY *tu_key(const char *kind);
/* A CSR for key with subject CN=cn, signed by key. */
X509_REQ *tu_csr(EVP_PKEY *key, const char *cn);
/* DER or PEM encoding of req, malloc'd. */
unsigned char *tu_csr_der(X509_REQ *req, size_t *len);
unsigned char *tu_csr_pem(X509_REQ *req, size_t *len);

/* Write data to path (test setup only). */
void tu_write(const char *path, const void *data, size_t len);

/* text with the first occurrence of from replaced by to; malloc'd. Fails the
 * test if from does not occur. */
char *tu_replace(const char *text, const char *from, const char *to);

/*
 * The registry under test. With FSEC_TEST_PG=1 in the environment (ctest's
 * *_pg variants, run inside tests/unit/pg_run.sh, which starts a private
 * PostgreSQL and exports PGHOST, PGPORT and PGUSER), each call creates a
 * fresh empty database and returns its postgresql:/// URL; otherwise
 * dir/registry.db. malloc'd.
 */
int tu_pg(void);
char *tu_registry(const char *dir);
/* Run sql (several statements allowed) directly on the registry at
 * location, bypassing the library, as someone with database access would;
 * returns 0 when it succeeded. */
int tu_sql(const char *location, const char *sql);

#endif
