/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsec_registry_migrate: a SQLite registry copied into an empty PostgreSQL
 * database, table by table, in one PostgreSQL transaction that also creates
 * the schema, so that a failed or refused copy leaves the target as empty
 * as it was. The source is opened read-only and read in one read
 * transaction (one committed state, even while fleetsecd writes). Before
 * the commit, every table's row count and a SHA-256 over its rows, in a
 * canonical text form and key order, are computed on both sides and must
 * agree.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err_int.h"
#include "pg_int.h"
#include "sqlite_int.h"

#define MAX_COLS 40

/* A table's columns, as the PostgreSQL schema lists them (without the
 * insertion-order column ord, which SQLite keeps as its rowid). */
struct cols {
	int n;
	char list[1024]; /* "a, b, c" */
	char order[256]; /* "1, 2, 3" */
};

static enum fsec_err table_cols(struct pg_be *be, const char *table, struct cols *c)
{
	struct pgp a = {0};
	enum fsec_err rc = FSEC_OK;
	PGresult *r;

	pgp_s(&a, table);
	r = pg_exec(be, "SELECT column_name FROM information_schema.columns WHERE table_name = $1"
			" AND table_schema = current_schema() AND column_name <> 'ord'"
			" ORDER BY ordinal_position",
		    &a, "reading the target's schema", &rc);
	if (r == NULL)
		return rc;
	memset(c, 0, sizeof(*c));
	c->n = PQntuples(r);
	for (int i = 0; i < c->n && i < MAX_COLS; i++) {
		size_t l = strlen(c->list), o = strlen(c->order);

		snprintf(c->list + l, sizeof(c->list) - l, "%s%s", i ? ", " : "", PQgetvalue(r, i, 0));
		snprintf(c->order + o, sizeof(c->order) - o, "%s%d", i ? ", " : "", i + 1);
	}
	PQclear(r);
	if (c->n == 0 || c->n > MAX_COLS || strlen(c->list) + 1 >= sizeof(c->list))
		return fsec_seterr(FSEC_ERR_DB, "registry migrate: table %s has %d columns", table,
				   c->n);
	return FSEC_OK;
}

/* One value into the digest: NULL and text told apart, fields and rows
 * delimited, so that no two different tables hash alike. */
static int digest_value(EVP_MD_CTX *md, const char *v, size_t len, bool last)
{
	static const unsigned char null_mark[] = {0x00, 'N'}, field = 0x1f, row = 0x1e;

	if (v == NULL ? !EVP_DigestUpdate(md, null_mark, sizeof(null_mark))
		      : !EVP_DigestUpdate(md, "T", 1) || !EVP_DigestUpdate(md, v, len))
		return -1;
	return EVP_DigestUpdate(md, last ? &row : &field, 1) ? 0 : -1;
}

static void hex(const unsigned char *d, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Rows and digest of table on the SQLite side. */
static enum fsec_err sqlite_digest(struct sqlite_be *src, const char *table, const struct cols *c,
				   uint64_t *rows, char sha[FSEC_SHA256_HEX_LEN])
{
	char sql[1600];
	sqlite3_stmt *s = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[32];
	unsigned dl = 0;
	enum fsec_err rc = FSEC_OK;
	int r;

	*rows = 0;
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", c->list, table, c->order);
	if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		rc = fsec_seterr(FSEC_ERR_CRYPTO, "registry migrate: SHA-256 unavailable");
		goto out;
	}
	if ((r = sqlite3_prepare_v2(src->db, sql, -1, &s, NULL)) != SQLITE_OK) {
		rc = sq_err(src, r, table);
		goto out;
	}
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		for (int i = 0; i < c->n; i++) {
			const char *v = (const char *)sqlite3_column_text(s, i);

			if (digest_value(md, v, v != NULL ? (size_t)sqlite3_column_bytes(s, i) : 0,
					 i == c->n - 1) != 0) {
				rc = fsec_seterr(FSEC_ERR_CRYPTO, "registry migrate: SHA-256 failed");
				goto out;
			}
		}
		(*rows)++;
	}
	if (r != SQLITE_DONE) {
		rc = sq_err(src, r, table);
		goto out;
	}
	if (!EVP_DigestFinal_ex(md, d, &dl)) {
		rc = fsec_seterr(FSEC_ERR_CRYPTO, "registry migrate: SHA-256 failed");
		goto out;
	}
	hex(d, dl, sha);
out:
	sqlite3_finalize(s);
	EVP_MD_CTX_free(md);
	return rc;
}

/* The same over the PostgreSQL copy, read back. */
static enum fsec_err pg_digest(struct pg_be *dst, const char *table, const struct cols *c,
			       uint64_t *rows, char sha[FSEC_SHA256_HEX_LEN])
{
	char sql[1600];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[32];
	unsigned dl = 0;
	enum fsec_err rc = FSEC_OK;
	PGresult *r = NULL;
	int n;

	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", c->list, table, c->order);
	if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		rc = fsec_seterr(FSEC_ERR_CRYPTO, "registry migrate: SHA-256 unavailable");
		goto out;
	}
	if ((r = pg_exec(dst, sql, NULL, table, &rc)) == NULL)
		goto out;
	n = PQntuples(r);
	for (int row = 0; row < n; row++)
		for (int i = 0; i < c->n; i++)
			if (digest_value(md, PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i),
					 (size_t)PQgetlength(r, row, i), i == c->n - 1) != 0) {
				rc = fsec_seterr(FSEC_ERR_CRYPTO, "registry migrate: SHA-256 failed");
				goto out;
			}
	*rows = (uint64_t)n;
	if (!EVP_DigestFinal_ex(md, d, &dl)) {
		rc = fsec_seterr(FSEC_ERR_CRYPTO, "registry migrate: SHA-256 failed");
		goto out;
	}
	hex(d, dl, sha);
out:
	PQclear(r);
	EVP_MD_CTX_free(md);
	return rc;
}

/* COPY's text format: backslash, tab, newline and carriage return escaped,
 * NULL as \N. */
static int put_escaped(PGconn *c, const char *v, size_t len)
{
	char buf[4096];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char e = v[i] == '\\' ? '\\' : v[i] == '\t' ? 't' : v[i] == '\n' ? 'n'
			 : v[i] == '\r' ? 'r' : 0;

		if (n + 2 > sizeof(buf)) {
			if (PQputCopyData(c, buf, (int)n) != 1)
				return -1;
			n = 0;
		}
		if (e != 0) {
			buf[n++] = '\\';
			buf[n++] = e;
		} else {
			buf[n++] = v[i];
		}
	}
	return n == 0 || PQputCopyData(c, buf, (int)n) == 1 ? 0 : -1;
}

static enum fsec_err copy_table(struct sqlite_be *src, struct pg_be *dst, const char *table,
				const struct cols *c)
{
	char sql[1600];
	sqlite3_stmt *s = NULL;
	enum fsec_err rc = FSEC_OK;
	PGresult *r;
	int sr;

	/* In rowid order: an identity column (ord) then keeps SQLite's order. */
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY rowid", c->list, table);
	if ((sr = sqlite3_prepare_v2(src->db, sql, -1, &s, NULL)) != SQLITE_OK)
		return sq_err(src, sr, table);
	snprintf(sql, sizeof(sql), "COPY %s(%s) FROM STDIN", table, c->list);
	r = PQexec(dst->c, sql);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		PQclear(r);
		sqlite3_finalize(s);
		return fsec_seterr(FSEC_ERR_DB, "registry migrate: copying %s: %s", table,
				   PQerrorMessage(dst->c));
	}
	PQclear(r);
	while ((sr = sqlite3_step(s)) == SQLITE_ROW) {
		for (int i = 0; i < c->n; i++) {
			const char *v = (const char *)sqlite3_column_text(s, i);
			int bad = v == NULL ? PQputCopyData(dst->c, "\\N", 2) != 1
					    : put_escaped(dst->c, v, (size_t)sqlite3_column_bytes(s, i));

			if (bad || PQputCopyData(dst->c, i == c->n - 1 ? "\n" : "\t", 1) != 1) {
				rc = fsec_seterr(FSEC_ERR_DB, "registry migrate: copying %s: %s", table,
						 PQerrorMessage(dst->c));
				break;
			}
		}
		if (rc != FSEC_OK)
			break;
	}
	if (rc == FSEC_OK && sr != SQLITE_DONE)
		rc = sq_err(src, sr, table);
	PQputCopyEnd(dst->c, rc == FSEC_OK ? NULL : "aborted");
	while ((r = PQgetResult(dst->c)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == FSEC_OK)
			rc = fsec_seterr(FSEC_ERR_DB, "registry migrate: copying %s: %s", table,
					 PQresultErrorMessage(r));
		PQclear(r);
	}
	sqlite3_finalize(s);
	return rc;
}

FSEC_API enum fsec_err fsec_registry_migrate(const char *from, const char *to,
					     struct fsec_migrate_report *out)
{
	struct sqlite_be *src = NULL;
	struct pg_be *dst = NULL;
	char where[160];
	enum fsec_err rc;
	PGresult *r;
	bool src_tx = false;

	memset(out, 0, sizeof(*out));
	if (strncmp(from, "sqlite:", 7) == 0)
		from += 7;
	if (!fsec_registry_location_is_pg(to))
		return fsec_seterr(FSEC_ERR_INVAL, "registry migrate: --to must be a postgresql:// URL");
	/* Read-only: the schema must be this library's, and nothing is written. */
	if ((rc = sq_open(from, FSEC_REGISTRY_READONLY, (void **)&src)) != FSEC_OK)
		return rc;
	if ((rc = pg_connect(to, false, &dst, where, sizeof(where))) != FSEC_OK)
		goto out;
	if ((r = pg_exec(dst, "SELECT count(*) FROM pg_class c JOIN pg_namespace s"
			      " ON s.oid = c.relnamespace WHERE s.nspname = current_schema()",
			 NULL, where, &rc)) == NULL)
		goto out;
	if (pg_i64(r, 0, 0) != 0) {
		PQclear(r);
		rc = fsec_seterr(FSEC_ERR_EXISTS, "registry migrate: %s is not empty (give a new, "
				 "empty database)", where);
		goto out;
	}
	PQclear(r);
	if ((rc = sq_exec(src, "BEGIN")) != FSEC_OK)
		goto out;
	src_tx = true;
	/* The schema and the rows in one transaction: all of it or nothing. */
	if ((rc = pg_run(dst, "BEGIN", NULL, where)) != FSEC_OK)
		goto out;
	dst->depth = 1;
	if ((rc = pg_migrate(dst, where, true, false)) != FSEC_OK)
		goto out;
	for (int t = 0; pg_tables[t] != NULL; t++) {
		struct fsec_migrate_table *mt = &out->tables[out->n];
		struct cols c;
		uint64_t n2 = 0;
		char sha2[FSEC_SHA256_HEX_LEN];

		if (out->n >= sizeof(out->tables) / sizeof(out->tables[0])) {
			rc = fsec_seterr(FSEC_ERR_OVERFLOW, "registry migrate: too many tables");
			goto out;
		}
		snprintf(mt->name, sizeof(mt->name), "%s", pg_tables[t]);
		if ((rc = table_cols(dst, pg_tables[t], &c)) != FSEC_OK ||
		    (rc = copy_table(src, dst, pg_tables[t], &c)) != FSEC_OK ||
		    (rc = sqlite_digest(src, pg_tables[t], &c, &mt->rows, mt->sha256)) != FSEC_OK ||
		    (rc = pg_digest(dst, pg_tables[t], &c, &n2, sha2)) != FSEC_OK)
			goto out;
		if (n2 != mt->rows || strcmp(sha2, mt->sha256) != 0) {
			rc = fsec_seterr(FSEC_ERR_VERIFY, "registry migrate: table %s differs after the "
					 "copy (%llu rows, SHA-256 %.16s... in the source; %llu, "
					 "%.16s... in the target)", pg_tables[t],
					 (unsigned long long)mt->rows, mt->sha256,
					 (unsigned long long)n2, sha2);
			goto out;
		}
		out->n++;
	}
	/* The identities continue after the copied values. */
	if ((rc = pg_run(dst, "SELECT setval(pg_get_serial_sequence('events', 'seq'),"
			      " coalesce((SELECT max(seq) FROM events), 1),"
			      " EXISTS (SELECT 1 FROM events));"
			      " SELECT setval('refusals_mark_seq',"
			      " GREATEST(coalesce((SELECT max(mark) FROM refusals), 1), 1),"
			      " EXISTS (SELECT 1 FROM refusals WHERE mark > 0))",
			 NULL, where)) != FSEC_OK)
		goto out;
	/* Deferred references are checked here. */
	rc = pg_run(dst, "COMMIT", NULL, where);
	dst->depth = 0;
out:
	if (dst != NULL && dst->depth > 0)
		PQclear(PQexec(dst->c, "ROLLBACK"));
	if (src_tx)
		(void)sq_exec(src, "ROLLBACK");
	pg_close(dst);
	sq_close(src);
	return rc;
}
