/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite registry's records of fleetsecd's bounds (issue 14): refused
 * requests aggregated per (credential, reason class), and the operator's
 * one-time allowances of an early renewal.
 */

#include <stdio.h>
#include <string.h>

#include "err_int.h"
#include "sqlite_int.h"

enum fsec_err sq_refusal_add(void *p, const struct fsec_refusal_rec *rec, bool *created)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	bool fresh;
	int r;

	if ((rc = sq_stmt(be, ST_REFUSAL_ADD, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, rec->credential, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rec->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, rec->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, rec->detail, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, rec->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)rec->count);
	sqlite3_bind_int64(s, 7, rec->first_at);
	sqlite3_bind_int64(s, 8, rec->last_at);
	r = sqlite3_step(s);
	fresh = r == SQLITE_ROW && sqlite3_column_int(s, 0) != 0;
	if (r == SQLITE_ROW)
		r = sqlite3_step(s);
	rc = r == SQLITE_DONE ? FSEC_OK : sq_err(be, r, "counting a refusal");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc == FSEC_OK && created != NULL)
		*created = fresh;
	return rc;
}

static int row_refusal(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_refusal_rec r;
	sqlite3_int64 n = sqlite3_column_int64(s, 5);

	memset(&r, 0, sizeof(r));
	sq_text(s, 0, r.credential, sizeof(r.credential));
	sq_text(s, 1, r.reason, sizeof(r.reason));
	sq_text(s, 2, r.device_id, sizeof(r.device_id));
	sq_text(s, 3, r.detail, sizeof(r.detail));
	sq_text(s, 4, r.source, sizeof(r.source));
	r.count = n > 0 ? (uint64_t)n : 0;
	r.first_at = sqlite3_column_int64(s, 6);
	r.last_at = sqlite3_column_int64(s, 7);
	r.mark = sqlite3_column_int64(s, 8);
	return ((fsec_refusal_cb)cb)(&r, ctx);
}

static const struct sq_listing list_refusals = {ST_REFUSAL_LIST, "listing refusals", true,
						row_refusal};

enum fsec_err sq_refusal_list(void *p, const char *device_id, fsec_refusal_cb cb, void *ctx)
{
	return sq_list(p, &list_refusals, &device_id, 1, (void *)cb, ctx);
}

static const struct sq_listing list_refusals_changed = {ST_REFUSAL_CHANGED, "listing refusals",
							false, row_refusal};

enum fsec_err sq_refusal_changed(void *p, int64_t after, fsec_refusal_cb cb, void *ctx)
{
	char key[24];
	const char *k = key;

	snprintf(key, sizeof(key), "%lld", (long long)after);
	return sq_list(p, &list_refusals_changed, &k, 1, (void *)cb, ctx);
}

enum fsec_err sq_renew_allow_put(void *p, const char *id, const char *by, int64_t at)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_RENEW_ALLOW_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, at);
	return sq_run(be, s, "allowing an early renewal");
}

enum fsec_err sq_renew_allow_get(void *p, const char *id, char *granted_by)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_RENEW_ALLOW_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		if (granted_by != NULL)
			sq_text(s, 0, granted_by, FSEC_ACTOR_MAX + 1);
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "device %s holds no early-renewal allowance", id);
	} else {
		rc = sq_err(be, r, "reading an early-renewal allowance");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_renew_allow_take(void *p, const char *id)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_RENEW_ALLOW_TAKE, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if ((rc = sq_run(be, s, "using an early-renewal allowance")) != FSEC_OK)
		return rc;
	/* Nothing deleted: none was granted, or another request used it. */
	if (sqlite3_changes(be->db) == 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "device %s holds no early-renewal allowance",
				   id);
	return FSEC_OK;
}

/* ---- pairings (issue 18) ---- */

enum fsec_err sq_pairing_put(void *p, const struct fsec_pairing_rec *rec)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_PAIRING_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, rec->key_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rec->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, rec->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, rec->group, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, rec->paired_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, rec->paired_at);
	sqlite3_bind_int64(s, 7, rec->expires_at);
	if ((rc = sq_run(be, s, "recording a pairing")) != FSEC_OK)
		return rc;
	/* Nothing written: the key's pairing is waiting, or was used. */
	if (sqlite3_changes(be->db) == 0)
		return fsec_seterr(FSEC_ERR_EXISTS, "this key is paired already (unexpired, or "
						    "used to enroll)");
	return FSEC_OK;
}

static enum fsec_err read_pairing(struct sqlite_be *be, sqlite3_stmt *s, const char *what,
				  struct fsec_pairing_rec *out)
{
	enum fsec_err rc = FSEC_OK;
	int r = sqlite3_step(s);

	if (r == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		sq_text(s, 0, out->key_sha256, sizeof(out->key_sha256));
		sq_text(s, 1, out->device_id, sizeof(out->device_id));
		sq_text(s, 2, out->model, sizeof(out->model));
		sq_text(s, 3, out->group, sizeof(out->group));
		sq_text(s, 4, out->paired_by, sizeof(out->paired_by));
		out->paired_at = sqlite3_column_int64(s, 5);
		out->expires_at = sqlite3_column_int64(s, 6);
		out->used_at = sqlite3_column_int64(s, 7);
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no pairing for %s", what);
	} else {
		rc = sq_err(be, r, "reading a pairing");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_pairing_get(void *p, const char *key_sha256, struct fsec_pairing_rec *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_PAIRING_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, key_sha256, -1, SQLITE_STATIC);
	return read_pairing(be, s, "this key", out);
}

enum fsec_err sq_pairing_of(void *p, const char *id, bool used, int64_t now,
			    struct fsec_pairing_rec *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, used ? ST_PAIRING_USED_OF : ST_PAIRING_WAITING_OF, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (!used)
		sqlite3_bind_int64(s, 2, now);
	return read_pairing(be, s, id, out);
}

enum fsec_err sq_pairing_spend(void *p, const char *key_sha256, int64_t at)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_PAIRING_SPEND, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, key_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, at);
	if ((rc = sq_run(be, s, "using a pairing")) != FSEC_OK)
		return rc;
	/* Nothing changed: no pairing, or it was used or expired meanwhile. */
	if (sqlite3_changes(be->db) == 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "the pairing of this key is used, expired "
						      "or gone");
	return FSEC_OK;
}

/* ---- tamper reports ---- */

enum fsec_err sq_tamper_put(void *p, const struct fsec_tamper_rec *rec, const char *envelope)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_TAMPER_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, rec->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, rec->at);
	sqlite3_bind_int64(s, 3, rec->received_at);
	sqlite3_bind_text(s, 4, rec->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, rec->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, envelope, -1, SQLITE_STATIC);
	return sq_run(be, s, "recording a tamper report");
}

static void read_tamper(sqlite3_stmt *s, struct fsec_tamper_rec *r)
{
	memset(r, 0, sizeof(*r));
	sq_text(s, 0, r->device_id, sizeof(r->device_id));
	r->at = sqlite3_column_int64(s, 1);
	r->received_at = sqlite3_column_int64(s, 2);
	sq_text(s, 3, r->reason, sizeof(r->reason));
	sq_text(s, 4, r->serial, sizeof(r->serial));
	r->current = sqlite3_column_int(s, 5) != 0;
}

static enum fsec_err get_tamper(sqlite3_stmt *s, void *out)
{
	read_tamper(s, out);
	return FSEC_OK;
}

enum fsec_err sq_tamper_get(void *p, const char *id, struct fsec_tamper_rec *out)
{
	return sq_get_one(p, ST_TAMPER_GET, id, "tamper report", get_tamper, out);
}

static int row_tamper(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_tamper_rec r;

	read_tamper(s, &r);
	return ((fsec_tamper_cb)cb)(&r, ctx);
}

static const struct sq_listing list_tamper = {ST_TAMPER_LIST, "listing tamper reports", false,
					      row_tamper};

enum fsec_err sq_tamper_list(void *p, fsec_tamper_cb cb, void *ctx)
{
	return sq_list(p, &list_tamper, NULL, 0, (void *)cb, ctx);
}

/* ---- devices' firmware encryption keys ---- */

enum fsec_err sq_enc_key_put(void *p, const char *id, const char *pem, int64_t at)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_ENC_KEY_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, pem, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, at);
	return sq_run(be, s, "enrolling an encryption key");
}

static enum fsec_err get_enc_key(sqlite3_stmt *s, void *out)
{
	sq_text(s, 0, out, FSEC_ENC_KEY_PEM_MAX + 1);
	return FSEC_OK;
}

enum fsec_err sq_enc_key_get(void *p, const char *id, char *pem)
{
	return sq_get_one(p, ST_ENC_KEY_GET, id, "encryption key", get_enc_key, pem);
}
