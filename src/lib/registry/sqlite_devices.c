/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite registry's devices, their certificates and the event log;
 * a device's network addresses and its rollout group.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err_int.h"
#include "sqlite_int.h"

enum fsec_err sq_dev_status(sqlite3_stmt *s, int col, const char *row, enum fsec_dev_status *out)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	if (fsec_dev_status_parse((const char *)t, out) != FSEC_OK)
		return fsec_seterr(FSEC_ERR_DB, "registry: device %.64s has status \"%.40s\", "
				   "unknown to this library", row, t != NULL ? (const char *)t : "");
	return FSEC_OK;
}

enum fsec_err sq_read_device(sqlite3_stmt *s, struct fsec_device_rec *d)
{
	memset(d, 0, sizeof(*d));
	sq_text(s, 0, d->id, sizeof(d->id));
	sq_text(s, 1, d->model, sizeof(d->model));
	sq_text(s, 3, d->serial, sizeof(d->serial));
	sq_text(s, 4, d->fingerprint, sizeof(d->fingerprint));
	sq_text(s, 5, d->spki_sha256, sizeof(d->spki_sha256));
	d->issued_at = sqlite3_column_int64(s, 6);
	d->expires_at = sqlite3_column_int64(s, 7);
	sq_text(s, 8, d->provisioning, sizeof(d->provisioning));
	d->created_at = sqlite3_column_int64(s, 9);
	d->updated_at = sqlite3_column_int64(s, 10);
	return sq_dev_status(s, 2, d->id, &d->status);
}

static void read_cert(sqlite3_stmt *s, struct fsec_cert_rec *c)
{
	memset(c, 0, sizeof(*c));
	sq_text(s, 0, c->serial, sizeof(c->serial));
	sq_text(s, 1, c->device_id, sizeof(c->device_id));
	sq_text(s, 2, c->fingerprint, sizeof(c->fingerprint));
	sq_text(s, 3, c->spki_sha256, sizeof(c->spki_sha256));
	c->not_before = sqlite3_column_int64(s, 4);
	c->not_after = sqlite3_column_int64(s, 5);
	c->issued_at = sqlite3_column_int64(s, 6);
	c->revoked = sqlite3_column_int(s, 7) != 0;
	c->revoked_at = sqlite3_column_int64(s, 8);
	c->reason = sqlite3_column_int(s, 9);
	sq_text(s, 10, c->issuer, sizeof(c->issuer));
}

void sq_read_event(sqlite3_stmt *s, struct fsec_event_rec *e)
{
	memset(e, 0, sizeof(*e));
	e->seq = sqlite3_column_int64(s, 0);
	e->at = sqlite3_column_int64(s, 1);
	sq_text(s, 2, e->actor, sizeof(e->actor));
	sq_text(s, 3, e->action, sizeof(e->action));
	sq_text(s, 4, e->device_id, sizeof(e->device_id));
	sq_text(s, 5, e->detail, sizeof(e->detail));
}

enum fsec_err sq_device_get(void *p, const char *id, struct fsec_device_rec *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_DEVICE_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		rc = sq_read_device(s, out);
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "device %s is not in the registry", id);
	} else {
		rc = sq_err(be, r, "reading a device");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_device_put(void *p, const struct fsec_device_rec *d)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if (d->status != FSEC_DEVICE_ACTIVE && d->status != FSEC_DEVICE_REVOKED)
		return fsec_seterr(FSEC_ERR_INVAL, "device %.64s: no such status (%d)", d->id,
				   (int)d->status);
	if ((rc = sq_stmt(be, ST_DEVICE_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, d->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, d->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, fsec_dev_status_name(d->status), -1, SQLITE_STATIC);
	sq_bind_opt(s, 4, d->serial);
	sq_bind_opt(s, 5, d->fingerprint);
	sq_bind_opt(s, 6, d->spki_sha256);
	sqlite3_bind_int64(s, 7, d->issued_at);
	sqlite3_bind_int64(s, 8, d->expires_at);
	sqlite3_bind_text(s, 9, d->provisioning, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 10, d->created_at);
	sqlite3_bind_int64(s, 11, d->updated_at);
	return sq_run(be, s, "writing a device");
}

static int row_device(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_device_rec r;
	enum fsec_err rc = sq_read_device(s, &r);

	if (rc != FSEC_OK)
		return sq_row_fail(rc);
	return ((fsec_device_cb)cb)(&r, ctx);
}

static int row_cert(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_cert_rec r;

	read_cert(s, &r);
	return ((fsec_cert_cb)cb)(&r, ctx);
}

static int row_current_pem(sqlite3_stmt *s, void *cb, void *ctx)
{
	const char *id = (const char *)sqlite3_column_text(s, 0);
	const char *pem = (const char *)sqlite3_column_text(s, 1);

	return ((fsec_current_pem_cb)cb)(id != NULL ? id : "", pem != NULL ? pem : "", ctx);
}

static int row_event(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_event_rec r;

	sq_read_event(s, &r);
	return ((fsec_event_cb)cb)(&r, ctx);
}

static int row_device_net(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_device_net r;
	enum fsec_err rc;

	sq_text(s, 0, r.id, sizeof(r.id));
	sq_text(s, 1, r.model, sizeof(r.model));
	sq_text(s, 3, r.mac, sizeof(r.mac));
	sq_text(s, 4, r.ip, sizeof(r.ip));
	r.tampered = sqlite3_column_int(s, 5) != 0;
	if ((rc = sq_dev_status(s, 2, r.id, &r.status)) != FSEC_OK)
		return sq_row_fail(rc);
	return ((fsec_device_net_cb)cb)(&r, ctx);
}

static const struct sq_listing list_devices = {ST_DEVICE_LIST, "listing devices", true, row_device};
/* The statement is chosen by filter (sq_cert_list): stmt is its first. */
static const struct sq_listing list_certs = {ST_CERT_LIST, "listing certificates", false, row_cert};
static const struct sq_listing list_events = {ST_EVENT_LIST, "listing events", true, row_event};
static const struct sq_listing list_device_net = {ST_DEVICE_NET_LIST, "listing device addresses",
						  false, row_device_net};
static const struct sq_listing list_events_after = {ST_EVENT_LIST_AFTER, "listing events", false,
						    row_event};
static const struct sq_listing one_device_net = {ST_DEVICE_NET_ONE, "reading a device's address",
						 false, row_device_net};

enum fsec_err sq_device_list(void *p, enum fsec_dev_status status, const char *model,
			     fsec_device_cb cb, void *ctx)
{
	/* 0 is "any status": bound as NULL, like a NULL model. */
	const char *const keys[] = {status != 0 ? fsec_dev_status_name(status) : NULL, model};

	return sq_list(p, &list_devices, keys, 2, (void *)cb, ctx);
}

enum fsec_err sq_cert_add(void *p, const struct fsec_cert_rec *c, const char *pem)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_CERT_ADD, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, c->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, c->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, c->fingerprint, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, c->spki_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, c->not_before);
	sqlite3_bind_int64(s, 6, c->not_after);
	sqlite3_bind_int64(s, 7, c->issued_at);
	sqlite3_bind_text(s, 8, pem, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, c->issuer, -1, SQLITE_STATIC);
	return sq_run(be, s, "recording a certificate");
}

enum fsec_err sq_cert_list(void *p, const struct fsec_cert_filter *f, fsec_cert_cb cb,
			   void *ctx)
{
	struct sqlite_be *be = p;
	unsigned mask = 0;
	enum fsec_err rc;
	sqlite3_stmt *s, *own;

	if (f->device_id != NULL && f->device_id[0] != '\0')
		mask |= CERT_BY_DEVICE;
	if (f->spki_sha256 != NULL && f->spki_sha256[0] != '\0')
		mask |= CERT_BY_SPKI;
	if (f->revoked_only)
		mask |= CERT_BY_REVOKED;
	if ((rc = sq_stmt_listing(be, ST_CERT_LIST + (int)mask, &s, &own)) != FSEC_OK)
		return rc;
	if (mask & CERT_BY_DEVICE)
		sqlite3_bind_text(s, 1, f->device_id, -1, SQLITE_STATIC);
	if (mask & CERT_BY_SPKI)
		sqlite3_bind_text(s, 2, f->spki_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, f->not_expired_at);
	rc = sq_rows(be, s, &list_certs, (void *)cb, ctx);
	sqlite3_finalize(own);
	return rc;
}

static const struct sq_listing list_current_pems = {
	ST_CURRENT_PEM_LIST, "listing the devices' current certificates", false, row_current_pem};

enum fsec_err sq_current_pem_list(void *p, fsec_current_pem_cb cb, void *ctx)
{
	return sq_list(p, &list_current_pems, NULL, 0, (void *)cb, ctx);
}

enum fsec_err sq_cert_pem(void *p, const char *serial, char **pem)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_CERT_PEM, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		char *copy = strdup(t != NULL ? t : "");

		rc = copy != NULL ? FSEC_OK : fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		if (copy != NULL)
			*pem = copy;
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no certificate with serial %.40s", serial);
	} else {
		rc = sq_err(be, r, "reading a certificate");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_cert_revoke(void *p, const char *serial, int64_t at, int reason)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_CERT_REVOKE, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, at);
	sqlite3_bind_int(s, 3, reason);
	return sq_run(be, s, "revoking a certificate");
}

enum fsec_err sq_server_cert_add(void *p, const struct fsec_server_cert_rec *c)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_SERVER_CERT_ADD, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, c->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, c->fingerprint, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, c->not_before);
	sqlite3_bind_int64(s, 5, c->not_after);
	sqlite3_bind_int64(s, 6, c->issued_at);
	sqlite3_bind_text(s, 7, c->issuer, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, c->role, -1, SQLITE_STATIC);
	return sq_run(be, s, "recording a server certificate");
}

static int row_server_cert(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_server_cert_rec r;

	memset(&r, 0, sizeof(r));
	sq_text(s, 0, r.serial, sizeof(r.serial));
	sq_text(s, 1, r.name, sizeof(r.name));
	sq_text(s, 2, r.fingerprint, sizeof(r.fingerprint));
	r.not_before = sqlite3_column_int64(s, 3);
	r.not_after = sqlite3_column_int64(s, 4);
	r.issued_at = sqlite3_column_int64(s, 5);
	r.revoked = sqlite3_column_int(s, 6) != 0;
	r.revoked_at = sqlite3_column_int64(s, 7);
	r.reason = sqlite3_column_int(s, 8);
	sq_text(s, 9, r.issuer, sizeof(r.issuer));
	sq_text(s, 10, r.role, sizeof(r.role));
	return ((fsec_server_cert_cb)cb)(&r, ctx);
}

static const struct sq_listing list_server_certs = {ST_SERVER_CERT_LIST,
						    "listing server certificates", false,
						    row_server_cert};

enum fsec_err sq_server_cert_list(void *p, int64_t not_expired_at, bool revoked_only,
				  fsec_server_cert_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s, *own;

	if ((rc = sq_stmt_listing(be, ST_SERVER_CERT_LIST, &s, &own)) != FSEC_OK)
		return rc;
	sqlite3_bind_int64(s, 1, not_expired_at);
	sqlite3_bind_int(s, 2, revoked_only ? 1 : 0);
	rc = sq_rows(be, s, &list_server_certs, (void *)cb, ctx);
	sqlite3_finalize(own);
	return rc;
}

enum fsec_err sq_server_cert_revoke(void *p, const char *serial, int64_t at, int reason)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_SERVER_CERT_REVOKE, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, at);
	sqlite3_bind_int(s, 3, reason);
	if ((rc = sq_run(be, s, "revoking a server certificate")) != FSEC_OK)
		return rc;
	/* Nothing updated: no such serial, or revoked already. */
	if (sqlite3_changes(be->db) == 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "no unrevoked server certificate with serial "
				   "%.40s", serial);
	return FSEC_OK;
}

enum fsec_err sq_event_add(void *p, const struct fsec_event_rec *e)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_EVENT_ADD, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_int64(s, 1, e->at != 0 ? e->at : (int64_t)time(NULL));
	sqlite3_bind_text(s, 2, e->actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, e->action, -1, SQLITE_STATIC);
	sq_bind_opt(s, 4, e->device_id);
	sqlite3_bind_text(s, 5, e->detail, -1, SQLITE_STATIC);
	return sq_run(be, s, "appending an event");
}

enum fsec_err sq_event_list(void *p, const char *device_id, fsec_event_cb cb, void *ctx)
{
	return sq_list(p, &list_events, &device_id, 1, (void *)cb, ctx);
}

/* Prepared per call: it runs once per command. */
enum fsec_err sq_device_net_set(void *p, const char *id, const char *mac, const char *ip,
				int64_t now)
{
	struct sqlite_be *be = p;
	sqlite3_stmt *s = NULL;
	enum fsec_err rc;
	int r;

	/* NULL keeps the stored value; "" clears it. */
	r = sqlite3_prepare_v2(be->db,
			       "INSERT INTO device_net(device_id, mac, ip, updated_at)"
			       " SELECT id, nullif(?2, ''), nullif(?3, ''), ?4 FROM devices WHERE id = ?1"
			       " ON CONFLICT(device_id) DO UPDATE SET"
			       " mac = CASE WHEN ?2 IS NULL THEN mac ELSE nullif(?2, '') END,"
			       " ip = CASE WHEN ?3 IS NULL THEN ip ELSE nullif(?3, '') END,"
			       " updated_at = ?4",
			       -1, &s, NULL);
	if (r != SQLITE_OK)
		return sq_err(be, r, "preparing a registry query");
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (mac != NULL)
		sqlite3_bind_text(s, 2, mac, -1, SQLITE_STATIC);
	if (ip != NULL)
		sqlite3_bind_text(s, 3, ip, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	r = sqlite3_step(s);
	if (r != SQLITE_DONE)
		rc = (r & 0xff) == SQLITE_CONSTRAINT
			     ? fsec_seterr(FSEC_ERR_EXISTS, "device %s: MAC or IP already belongs to "
							    "another device", id)
			     : sq_err(be, r, "writing a device's address");
	else if (sqlite3_changes(be->db) == 0)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "device %s is not in the registry", id);
	else
		rc = FSEC_OK;
	sqlite3_finalize(s);
	return rc;
}

enum fsec_err sq_device_net_list(void *p, fsec_device_net_cb cb, void *ctx)
{
	return sq_list(p, &list_device_net, NULL, 0, (void *)cb, ctx);
}

enum fsec_err sq_device_net_one(void *p, const char *id, fsec_device_net_cb cb, void *ctx)
{
	return sq_list(p, &one_device_net, &id, 1, (void *)cb, ctx);
}

enum fsec_err sq_event_list_after(void *p, int64_t after, fsec_event_cb cb, void *ctx)
{
	char num[24];
	const char *key = num;

	snprintf(num, sizeof(num), "%lld", (long long)after);
	return sq_list(p, &list_events_after, &key, 1, (void *)cb, ctx);
}

enum fsec_err sq_group_set(void *p, const char *id, const char *group)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, group[0] != '\0' ? ST_GROUP_SET : ST_GROUP_CLEAR, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (group[0] != '\0')
		sqlite3_bind_text(s, 2, group, -1, SQLITE_STATIC);
	if ((rc = sq_run(be, s, "setting a device's group")) == FSEC_OK && group[0] != '\0' &&
	    sqlite3_changes(be->db) == 0)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "device %s is not in the registry", id);
	return rc;
}

enum fsec_err sq_group_get(void *p, const char *id, char group[FSEC_GROUP_MAX + 1])
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_GROUP_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	group[0] = '\0';
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		sq_text(s, 0, group, FSEC_GROUP_MAX + 1);
	else if (r != SQLITE_DONE)
		rc = sq_err(be, r, "reading a device's group");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}
