/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PostgreSQL registry's record families: each operation of struct
 * fsec_registry_ops binds its values, runs its statement (pg_schema.c) and
 * reads the rows into the records registry.h defines, with the same
 * refusals as the SQLite backend (a state this library does not know is an
 * error, never a guess).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err_int.h"
#include "pg_int.h"

#define BE struct pg_be *be = p

static enum fsec_err dev_status(const PGresult *r, int i, int col, const char *row,
				enum fsec_dev_status *out)
{
	const char *t = PQgetvalue(r, i, col);

	if (fsec_dev_status_parse(t, out) != FSEC_OK)
		return fsec_seterr(FSEC_ERR_DB, "registry: device %.64s has status \"%.40s\", "
				   "unknown to this library", row, t);
	return FSEC_OK;
}

static enum fsec_err read_device(const PGresult *r, int i, struct fsec_device_rec *d)
{
	memset(d, 0, sizeof(*d));
	pg_text(r, i, 0, d->id, sizeof(d->id));
	pg_text(r, i, 1, d->model, sizeof(d->model));
	pg_text(r, i, 3, d->serial, sizeof(d->serial));
	pg_text(r, i, 4, d->fingerprint, sizeof(d->fingerprint));
	pg_text(r, i, 5, d->spki_sha256, sizeof(d->spki_sha256));
	d->issued_at = pg_i64(r, i, 6);
	d->expires_at = pg_i64(r, i, 7);
	pg_text(r, i, 8, d->provisioning, sizeof(d->provisioning));
	d->created_at = pg_i64(r, i, 9);
	d->updated_at = pg_i64(r, i, 10);
	return dev_status(r, i, 2, d->id, &d->status);
}

static enum fsec_err state_text(const PGresult *r, int i, int col,
				const struct fsec_devstate_rec *d, const char *what,
				enum fsec_update_outcome *outcome, enum fsec_debug_state *debug)
{
	const char *t = PQgetvalue(r, i, col);
	enum fsec_err rc = outcome != NULL ? fsec_update_outcome_parse(t, outcome)
					   : fsec_debug_state_parse(t, debug);

	if (rc != FSEC_OK)
		return fsec_seterr(FSEC_ERR_DB, "registry: device %.64s has %s \"%.40s\", "
				   "unknown to this library", d->device_id, what, t);
	return FSEC_OK;
}

static enum fsec_err read_state_at(const PGresult *r, int i, int c, struct fsec_devstate_rec *d)
{
	enum fsec_err rc;
	int64_t ctr;

	memset(d, 0, sizeof(*d));
	pg_text(r, i, c, d->device_id, sizeof(d->device_id));
	d->first_seen = pg_i64(r, i, c + 1);
	d->last_seen = pg_i64(r, i, c + 2);
	pg_text(r, i, c + 3, d->fw_version, sizeof(d->fw_version));
	ctr = pg_i64(r, i, c + 4);
	/* A stored value is still input: clamp rather than wrap. */
	d->security_counter = ctr < 0 ? 0 : ctr > UINT32_MAX ? UINT32_MAX : (uint32_t)ctr;
	d->update_at = pg_i64(r, i, c + 6);
	d->update_ok_at = pg_i64(r, i, c + 7);
	d->debug_at = pg_i64(r, i, c + 10);
	d->frozen = (int)pg_i64(r, i, c + 11);
	d->fresh_at = pg_i64(r, i, c + 12);
	if (d->frozen < -1 || d->frozen > 1)
		d->frozen = -1;
	pg_text(r, i, c + 13, d->update_state, sizeof(d->update_state));
	pg_text(r, i, c + 14, d->pending_version, sizeof(d->pending_version));
	pg_text(r, i, c + 15, d->outcome_image, sizeof(d->outcome_image));
	pg_text(r, i, c + 16, d->outcome_reason, sizeof(d->outcome_reason));
	if ((rc = state_text(r, i, c + 5, d, "update outcome", &d->update_outcome, NULL)) !=
		    FSEC_OK ||
	    (rc = state_text(r, i, c + 8, d, "debug_jtag", NULL, &d->debug_jtag)) != FSEC_OK ||
	    (rc = state_text(r, i, c + 9, d, "debug_uart", NULL, &d->debug_uart)) != FSEC_OK)
		return rc;
	return FSEC_OK;
}

/* Run stmt with a, expecting at most one row; NOTFOUND (with msg) when none.
 * On success *out holds the result, to PQclear. */
static enum fsec_err one(struct pg_be *be, int stmt, const struct pgp *a, const char *what,
			 const char *notfound, PGresult **out)
{
	enum fsec_err rc = FSEC_OK;
	PGresult *r = pg_exec(be, pg_sql[stmt], a, what, &rc);

	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return notfound != NULL ? fsec_seterr(FSEC_ERR_NOTFOUND, "%s", notfound)
					: FSEC_ERR_NOTFOUND;
	}
	*out = r;
	return FSEC_OK;
}

/* One key, one row. */
static struct pgp key1(const char *k)
{
	struct pgp a = {0};

	pgp_s(&a, k);
	return a;
}

static char *dup_col(const PGresult *r, int col, enum fsec_err *rc)
{
	char *s = strdup(PQgetvalue(r, 0, col));

	if (s == NULL)
		*rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	return s;
}

/* ---- devices, certificates, events ---- */

enum fsec_err pg_device_get(void *p, const char *id, struct fsec_device_rec *out)
{
	BE;
	struct pgp a = key1(id);
	char msg[128];
	PGresult *r = NULL;
	enum fsec_err rc;

	snprintf(msg, sizeof(msg), "device %s is not in the registry", id);
	if ((rc = one(be, PS_DEVICE_GET, &a, "reading a device", msg, &r)) != FSEC_OK)
		return rc;
	rc = read_device(r, 0, out);
	PQclear(r);
	return rc;
}

enum fsec_err pg_device_put(void *p, const struct fsec_device_rec *d)
{
	BE;
	struct pgp a = {0};

	if (d->status != FSEC_DEVICE_ACTIVE && d->status != FSEC_DEVICE_REVOKED)
		return fsec_seterr(FSEC_ERR_INVAL, "device %.64s: no such status (%d)", d->id,
				   (int)d->status);
	pgp_s(&a, d->id);
	pgp_s(&a, d->model);
	pgp_s(&a, fsec_dev_status_name(d->status));
	pgp_opt(&a, d->serial);
	pgp_opt(&a, d->fingerprint);
	pgp_opt(&a, d->spki_sha256);
	pgp_i(&a, d->issued_at);
	pgp_i(&a, d->expires_at);
	pgp_s(&a, d->provisioning);
	pgp_i(&a, d->created_at);
	pgp_i(&a, d->updated_at);
	return pg_run(be, pg_sql[PS_DEVICE_PUT], &a, "writing a device");
}

static int row_device(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_device_rec d;
	enum fsec_err rc = read_device(r, i, &d);

	if (rc != FSEC_OK)
		return pg_row_fail(rc);
	return ((fsec_device_cb)cb)(&d, ctx);
}

enum fsec_err pg_device_list(void *p, enum fsec_dev_status status, const char *model,
			     fsec_device_cb cb, void *ctx)
{
	struct pgp a = {0};

	/* 0 is "any status", bound as NULL like a NULL model. */
	pgp_opt(&a, status != 0 ? fsec_dev_status_name(status) : NULL);
	pgp_opt(&a, model);
	return pg_list_big(p, pg_sql[PS_DEVICE_LIST], &a, "listing devices", row_device,
			   (void *)cb, ctx);
}

enum fsec_err pg_cert_add(void *p, const struct fsec_cert_rec *c, const char *pem)
{
	struct pgp a = {0};

	pgp_s(&a, c->serial);
	pgp_s(&a, c->device_id);
	pgp_s(&a, c->fingerprint);
	pgp_s(&a, c->spki_sha256);
	pgp_i(&a, c->not_before);
	pgp_i(&a, c->not_after);
	pgp_i(&a, c->issued_at);
	pgp_s(&a, pem);
	pgp_s(&a, c->issuer);
	return pg_run(p, pg_sql[PS_CERT_ADD], &a, "recording a certificate");
}

static int row_cert(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_cert_rec c;

	memset(&c, 0, sizeof(c));
	pg_text(r, i, 0, c.serial, sizeof(c.serial));
	pg_text(r, i, 1, c.device_id, sizeof(c.device_id));
	pg_text(r, i, 2, c.fingerprint, sizeof(c.fingerprint));
	pg_text(r, i, 3, c.spki_sha256, sizeof(c.spki_sha256));
	c.not_before = pg_i64(r, i, 4);
	c.not_after = pg_i64(r, i, 5);
	c.issued_at = pg_i64(r, i, 6);
	c.revoked = pg_i64(r, i, 7) != 0;
	c.revoked_at = pg_i64(r, i, 8);
	c.reason = (int)pg_i64(r, i, 9);
	pg_text(r, i, 10, c.issuer, sizeof(c.issuer));
	return ((fsec_cert_cb)cb)(&c, ctx);
}

enum fsec_err pg_cert_list(void *p, const struct fsec_cert_filter *f, fsec_cert_cb cb, void *ctx)
{
	struct pgp a = {0};

	pgp_opt(&a, f->device_id);
	pgp_opt(&a, f->spki_sha256);
	pgp_i(&a, f->not_expired_at);
	pgp_i(&a, f->revoked_only ? 1 : 0);
	return pg_list(p, pg_cert_list_sql, &a, "listing certificates", row_cert, (void *)cb, ctx);
}

static int row_current_pem(const PGresult *r, int i, void *cb, void *ctx)
{
	return ((fsec_current_pem_cb)cb)(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), ctx);
}

enum fsec_err pg_current_pem_list(void *p, fsec_current_pem_cb cb, void *ctx)
{
	return pg_list_big(p, pg_sql[PS_CURRENT_PEM_LIST], NULL,
			   "listing the devices' current certificates", row_current_pem,
			   (void *)cb, ctx);
}

enum fsec_err pg_cert_pem(void *p, const char *serial, char **pem)
{
	BE;
	struct pgp a = key1(serial);
	char msg[96];
	PGresult *r = NULL;
	enum fsec_err rc;
	char *s;

	snprintf(msg, sizeof(msg), "no certificate with serial %.40s", serial);
	if ((rc = one(be, PS_CERT_PEM, &a, "reading a certificate", msg, &r)) != FSEC_OK)
		return rc;
	if ((s = dup_col(r, 0, &rc)) != NULL)
		*pem = s;
	PQclear(r);
	return rc;
}

enum fsec_err pg_cert_revoke(void *p, const char *serial, int64_t at, int reason)
{
	struct pgp a = {0};

	pgp_s(&a, serial);
	pgp_i(&a, at);
	pgp_i(&a, reason);
	return pg_run(p, pg_sql[PS_CERT_REVOKE], &a, "revoking a certificate");
}

enum fsec_err pg_server_cert_add(void *p, const struct fsec_server_cert_rec *c)
{
	struct pgp a = {0};

	pgp_s(&a, c->serial);
	pgp_s(&a, c->name);
	pgp_s(&a, c->fingerprint);
	pgp_i(&a, c->not_before);
	pgp_i(&a, c->not_after);
	pgp_i(&a, c->issued_at);
	pgp_s(&a, c->issuer);
	pgp_s(&a, c->role);
	return pg_run(p, pg_sql[PS_SERVER_CERT_ADD], &a, "recording a server certificate");
}

static int row_server_cert(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_server_cert_rec c;

	memset(&c, 0, sizeof(c));
	pg_text(r, i, 0, c.serial, sizeof(c.serial));
	pg_text(r, i, 1, c.name, sizeof(c.name));
	pg_text(r, i, 2, c.fingerprint, sizeof(c.fingerprint));
	c.not_before = pg_i64(r, i, 3);
	c.not_after = pg_i64(r, i, 4);
	c.issued_at = pg_i64(r, i, 5);
	c.revoked = pg_i64(r, i, 6) != 0;
	c.revoked_at = pg_i64(r, i, 7);
	c.reason = (int)pg_i64(r, i, 8);
	pg_text(r, i, 9, c.issuer, sizeof(c.issuer));
	pg_text(r, i, 10, c.role, sizeof(c.role));
	return ((fsec_server_cert_cb)cb)(&c, ctx);
}

enum fsec_err pg_server_cert_list(void *p, int64_t not_expired_at, bool revoked_only,
				  fsec_server_cert_cb cb, void *ctx)
{
	struct pgp a = {0};

	pgp_i(&a, not_expired_at);
	pgp_i(&a, revoked_only ? 1 : 0);
	return pg_list(p, pg_sql[PS_SERVER_CERT_LIST], &a, "listing server certificates",
		       row_server_cert, (void *)cb, ctx);
}

enum fsec_err pg_server_cert_revoke(void *p, const char *serial, int64_t at, int reason)
{
	struct pgp a = {0};
	uint64_t n = 0;
	enum fsec_err rc;

	pgp_s(&a, serial);
	pgp_i(&a, at);
	pgp_i(&a, reason);
	if ((rc = pg_run_n(p, pg_sql[PS_SERVER_CERT_REVOKE], &a, "revoking a server certificate",
			   &n)) != FSEC_OK)
		return rc;
	if (n == 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "no unrevoked server certificate with serial "
				   "%.40s", serial);
	return FSEC_OK;
}

enum fsec_err pg_event_add(void *p, const struct fsec_event_rec *e)
{
	struct pgp a = {0};

	pgp_i(&a, e->at != 0 ? e->at : (int64_t)time(NULL));
	pgp_s(&a, e->actor);
	pgp_s(&a, e->action);
	pgp_opt(&a, e->device_id);
	pgp_s(&a, e->detail);
	return pg_run(p, pg_sql[PS_EVENT_ADD], &a, "appending an event");
}

static int row_event(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_event_rec e;

	memset(&e, 0, sizeof(e));
	e.seq = pg_i64(r, i, 0);
	e.at = pg_i64(r, i, 1);
	pg_text(r, i, 2, e.actor, sizeof(e.actor));
	pg_text(r, i, 3, e.action, sizeof(e.action));
	pg_text(r, i, 4, e.device_id, sizeof(e.device_id));
	pg_text(r, i, 5, e.detail, sizeof(e.detail));
	return ((fsec_event_cb)cb)(&e, ctx);
}

enum fsec_err pg_event_list(void *p, const char *device_id, fsec_event_cb cb, void *ctx)
{
	struct pgp a = {0};

	pgp_opt(&a, device_id);
	return pg_list(p, pg_sql[PS_EVENT_LIST], &a, "listing events", row_event, (void *)cb, ctx);
}

enum fsec_err pg_event_list_after(void *p, int64_t after, fsec_event_cb cb, void *ctx)
{
	struct pgp a = {0};

	pgp_i(&a, after);
	return pg_list(p, pg_sql[PS_EVENT_LIST_AFTER], &a, "listing events", row_event,
		       (void *)cb, ctx);
}

enum fsec_err pg_device_net_set(void *p, const char *id, const char *mac, const char *ip,
				int64_t now)
{
	struct pgp a = {0};
	uint64_t n = 0;
	enum fsec_err rc;

	pgp_s(&a, id);
	pgp_s(&a, mac);
	pgp_s(&a, ip);
	pgp_i(&a, now);
	rc = pg_run_n(p, pg_sql[PS_DEVICE_NET_SET], &a, "writing a device's address", &n);
	if (rc == FSEC_ERR_EXISTS)
		return fsec_seterr(FSEC_ERR_EXISTS, "device %s: MAC or IP already belongs to "
				   "another device", id);
	if (rc == FSEC_OK && n == 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "device %s is not in the registry", id);
	return rc;
}

static int row_device_net(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_device_net d;
	enum fsec_err rc;

	memset(&d, 0, sizeof(d));
	pg_text(r, i, 0, d.id, sizeof(d.id));
	pg_text(r, i, 1, d.model, sizeof(d.model));
	pg_text(r, i, 3, d.mac, sizeof(d.mac));
	pg_text(r, i, 4, d.ip, sizeof(d.ip));
	d.tampered = pg_i64(r, i, 5) != 0;
	if ((rc = dev_status(r, i, 2, d.id, &d.status)) != FSEC_OK)
		return pg_row_fail(rc);
	return ((fsec_device_net_cb)cb)(&d, ctx);
}

enum fsec_err pg_device_net_list(void *p, fsec_device_net_cb cb, void *ctx)
{
	return pg_list(p, pg_sql[PS_DEVICE_NET_LIST], NULL, "listing device addresses",
		       row_device_net, (void *)cb, ctx);
}

enum fsec_err pg_device_net_one(void *p, const char *id, fsec_device_net_cb cb, void *ctx)
{
	struct pgp a = key1(id);

	return pg_list(p, pg_sql[PS_DEVICE_NET_ONE], &a, "reading a device's address",
		       row_device_net, (void *)cb, ctx);
}

enum fsec_err pg_group_set(void *p, const char *id, const char *group)
{
	struct pgp a = key1(id);
	uint64_t n = 0;
	enum fsec_err rc;

	if (group[0] == '\0')
		return pg_run(p, pg_sql[PS_GROUP_CLEAR], &a, "setting a device's group");
	pgp_s(&a, group);
	rc = pg_run_n(p, pg_sql[PS_GROUP_SET], &a, "setting a device's group", &n);
	if (rc == FSEC_OK && n == 0)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "device %s is not in the registry", id);
	return rc;
}

enum fsec_err pg_group_get(void *p, const char *id, char group[FSEC_GROUP_MAX + 1])
{
	BE;
	struct pgp a = key1(id);
	PGresult *r = NULL;
	enum fsec_err rc;

	group[0] = '\0';
	rc = one(be, PS_GROUP_GET, &a, "reading a device's group", NULL, &r);
	if (rc == FSEC_ERR_NOTFOUND)
		return FSEC_OK;
	if (rc != FSEC_OK)
		return rc;
	pg_text(r, 0, 0, group, FSEC_GROUP_MAX + 1);
	PQclear(r);
	return FSEC_OK;
}

/* ---- products, device states, rollout counts ---- */

static void read_product(const PGresult *r, int i, struct fsec_product_rec *p)
{
	memset(p, 0, sizeof(*p));
	pg_text(r, i, 0, p->model, sizeof(p->model));
	pg_text(r, i, 1, p->manufacturer, sizeof(p->manufacturer));
	p->support_until = pg_i64(r, i, 2);
	pg_text(r, i, 3, p->security_contact, sizeof(p->security_contact));
	pg_text(r, i, 4, p->release_version, sizeof(p->release_version));
	p->release_counter = pg_i64(r, i, 5);
	p->release_at = pg_i64(r, i, 6);
	p->updated_at = pg_i64(r, i, 7);
}

enum fsec_err pg_product_get(void *p, const char *model, struct fsec_product_rec *out)
{
	BE;
	struct pgp a = key1(model);
	char msg[128];
	PGresult *r = NULL;
	enum fsec_err rc;

	snprintf(msg, sizeof(msg), "no product for '%.80s' in the registry", model);
	if ((rc = one(be, PS_PRODUCT_GET, &a, "product", msg, &r)) != FSEC_OK)
		return rc;
	read_product(r, 0, out);
	PQclear(r);
	return FSEC_OK;
}

enum fsec_err pg_product_put(void *p, const struct fsec_product_rec *x)
{
	struct pgp a = {0};

	pgp_s(&a, x->model);
	pgp_s(&a, x->manufacturer);
	pgp_i(&a, x->support_until);
	pgp_s(&a, x->security_contact);
	pgp_s(&a, x->release_version);
	pgp_i(&a, x->release_counter);
	pgp_i(&a, x->release_at);
	pgp_i(&a, x->updated_at);
	return pg_run(p, pg_sql[PS_PRODUCT_PUT], &a, "writing a product");
}

static int row_product(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_product_rec x;

	read_product(r, i, &x);
	return ((fsec_product_cb)cb)(&x, ctx);
}

enum fsec_err pg_product_list(void *p, fsec_product_cb cb, void *ctx)
{
	return pg_list(p, pg_sql[PS_PRODUCT_LIST], NULL, "listing products", row_product,
		       (void *)cb, ctx);
}

enum fsec_err pg_devstate_get(void *p, const char *id, struct fsec_devstate_rec *out)
{
	BE;
	struct pgp a = key1(id);
	char msg[128];
	PGresult *r = NULL;
	enum fsec_err rc;

	snprintf(msg, sizeof(msg), "no reported state for '%.80s' in the registry", id);
	if ((rc = one(be, PS_STATE_GET, &a, "reported state", msg, &r)) != FSEC_OK)
		return rc;
	rc = read_state_at(r, 0, 0, out);
	PQclear(r);
	return rc;
}

enum fsec_err pg_devstate_put(void *p, const struct fsec_devstate_rec *x)
{
	struct pgp a = {0};

	if ((unsigned)x->update_outcome > FSEC_UPDATE_FAILURE ||
	    (unsigned)x->debug_jtag > FSEC_DEBUG_UNLOCKED ||
	    (unsigned)x->debug_uart > FSEC_DEBUG_UNLOCKED)
		return fsec_seterr(FSEC_ERR_INVAL, "state of %.64s: an update outcome or debug "
				   "state out of range", x->device_id);
	pgp_s(&a, x->device_id);
	pgp_i(&a, x->first_seen);
	pgp_i(&a, x->last_seen);
	pgp_s(&a, x->fw_version);
	pgp_i(&a, x->security_counter);
	pgp_s(&a, fsec_update_outcome_name(x->update_outcome));
	pgp_i(&a, x->update_at);
	pgp_i(&a, x->update_ok_at);
	pgp_s(&a, fsec_debug_state_name(x->debug_jtag));
	pgp_s(&a, fsec_debug_state_name(x->debug_uart));
	pgp_i(&a, x->debug_at);
	pgp_i(&a, x->frozen < 0 ? -1 : x->frozen > 0 ? 1 : 0);
	pgp_i(&a, x->fresh_at);
	pgp_s(&a, x->update_state);
	pgp_s(&a, x->pending_version);
	pgp_s(&a, x->outcome_image);
	pgp_s(&a, x->outcome_reason);
	return pg_run(p, pg_sql[PS_STATE_PUT], &a, "writing a device's state");
}

static int row_state(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_devstate_rec s;
	enum fsec_err rc = read_state_at(r, i, 0, &s);

	if (rc != FSEC_OK)
		return pg_row_fail(rc);
	return ((fsec_devstate_cb)cb)(&s, ctx);
}

enum fsec_err pg_devstate_list(void *p, fsec_devstate_cb cb, void *ctx)
{
	return pg_list_big(p, pg_sql[PS_STATE_LIST], NULL, "listing device states", row_state,
			   (void *)cb, ctx);
}

/* Columns 0-10 the device, 11-27 its state (NULL device_id: never
 * reported); *reported says which. */
static enum fsec_err read_dev_state(const PGresult *r, int i, struct fsec_device_rec *d,
				    struct fsec_devstate_rec *s, bool *reported)
{
	enum fsec_err rc;

	*reported = !pg_null(r, i, 11);
	if ((rc = read_device(r, i, d)) != FSEC_OK)
		return rc;
	return *reported ? read_state_at(r, i, 11, s) : FSEC_OK;
}

static int row_device_state(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_device_rec d;
	struct fsec_devstate_rec s;
	bool rep;
	enum fsec_err rc = read_dev_state(r, i, &d, &s, &rep);

	if (rc != FSEC_OK)
		return pg_row_fail(rc);
	return ((fsec_device_state_cb)cb)(&d, rep ? &s : NULL, ctx);
}

static int row_model_state(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_device_rec d;
	struct fsec_devstate_rec s;
	char group[FSEC_GROUP_MAX + 1];
	bool rep;
	enum fsec_err rc = read_dev_state(r, i, &d, &s, &rep);

	if (rc != FSEC_OK)
		return pg_row_fail(rc);
	pg_text(r, i, 28, group, sizeof(group));
	return ((fsec_model_state_cb)cb)(&d, rep ? &s : NULL, group, ctx);
}

enum fsec_err pg_device_state_list(void *p, fsec_device_state_cb cb, void *ctx)
{
	return pg_list_big(p, pg_sql[PS_DEVICE_STATE_LIST], NULL,
			   "listing devices with their state", row_device_state, (void *)cb, ctx);
}

enum fsec_err pg_model_state_list(void *p, const char *model, const char *failed_image,
				  fsec_model_state_cb cb, void *ctx)
{
	struct pgp a = key1(model);

	if (failed_image != NULL) {
		pgp_s(&a, failed_image);
		return pg_list_big(p, pg_sql[PS_MODEL_FAILED_LIST], &a,
				   "listing a model's failed devices", row_model_state,
				   (void *)cb, ctx);
	}
	return pg_list_big(p, pg_sql[PS_MODEL_STATE_LIST], &a,
			   "listing a model's devices with their state", row_model_state,
			   (void *)cb, ctx);
}

enum fsec_err pg_model_stats(void *p, const char *model, const char *group, int64_t since,
			     uint32_t counter, const char *image, struct fsec_model_stats *out)
{
	BE;
	struct pgp a = key1(model);
	PGresult *r = NULL;
	enum fsec_err rc;

	pgp_i(&a, since);
	pgp_i(&a, counter);
	pgp_s(&a, group);
	pgp_s(&a, image);
	if ((rc = one(be, PS_MODEL_STATS, &a, "counting a model's devices", NULL, &r)) != FSEC_OK)
		return rc == FSEC_ERR_NOTFOUND ? fsec_seterr(FSEC_ERR_DB, "counting a model's "
							     "devices: no row")
					       : rc;
	out->devices = (uint64_t)pg_i64(r, 0, 0);
	out->reported = (uint64_t)pg_i64(r, 0, 1);
	out->failures = (uint64_t)pg_i64(r, 0, 2);
	out->successes = (uint64_t)pg_i64(r, 0, 3);
	out->patched = (uint64_t)pg_i64(r, 0, 4);
	PQclear(r);
	return FSEC_OK;
}

static int row_counter(const PGresult *r, int i, void *cb, void *ctx)
{
	int64_t c = pg_i64(r, i, 0);

	return ((fsec_counter_count_cb)cb)(c < 0 ? 0 : c > UINT32_MAX ? UINT32_MAX : (uint32_t)c,
					   (uint64_t)pg_i64(r, i, 1), ctx);
}

enum fsec_err pg_model_counters(void *p, const char *model, fsec_counter_count_cb cb, void *ctx)
{
	struct pgp a = key1(model);

	return pg_list(p, pg_sql[PS_MODEL_COUNTERS], &a, "counting security counters",
		       row_counter, (void *)cb, ctx);
}

/* The tally's cells: (bucket, group, class, failure) and a count. */
struct tally_cell {
	unsigned bucket;
	char group[FSEC_GROUP_MAX + 1];
	int cls;
	bool failure;
	uint64_t n;
};

struct tally {
	struct tally_cell *v;
	size_t n, cap;
	fsec_bucket_fn bucket;
};

/* Each device's row into its cell. A bucket that cannot be computed is
 * refused, never counted somewhere else. */
static int row_tally(const PGresult *r, int i, void *cb, void *ctx)
{
	struct tally *t = ctx;
	char group[FSEC_GROUP_MAX + 1];
	int64_t cls = pg_i64(r, i, 2);
	bool failure = pg_i64(r, i, 3) != 0;
	unsigned b = 0;
	size_t k;

	(void)cb;
	if (t->bucket == NULL || t->bucket(PQgetvalue(r, i, 0), &b) != FSEC_OK || b > 99 ||
	    cls < 0 || cls > FSEC_TALLY_ROLLED_BACK)
		return pg_row_fail(fsec_seterr(FSEC_ERR_CRYPTO, "a device's rollout bucket could "
							     "not be computed"));
	pg_text(r, i, 1, group, sizeof(group));
	for (k = 0; k < t->n; k++)
		if (t->v[k].bucket == b && t->v[k].cls == (int)cls && t->v[k].failure == failure &&
		    strcmp(t->v[k].group, group) == 0)
			break;
	if (k == t->n) {
		if (t->n == t->cap) {
			size_t cap = t->cap != 0 ? t->cap * 2 : 64;
			struct tally_cell *v = reallocarray(t->v, cap, sizeof(*v));

			if (v == NULL)
				return pg_row_fail(fsec_seterr(FSEC_ERR_NOMEM, "out of memory"));
			t->v = v;
			t->cap = cap;
		}
		memset(&t->v[k], 0, sizeof(t->v[k]));
		t->v[k].bucket = b;
		t->v[k].cls = (int)cls;
		t->v[k].failure = failure;
		memcpy(t->v[k].group, group, sizeof(group));
		t->n++;
	}
	t->v[k].n++;
	return 0;
}

enum fsec_err pg_model_tally(void *p, const char *model, const char *version, const char *image,
			     int64_t since, fsec_bucket_fn bucket, fsec_model_tally_cb cb,
			     void *ctx)
{
	struct pgp a = key1(model);
	struct tally t = {NULL, 0, 0, bucket};
	enum fsec_err rc;

	pgp_s(&a, version);
	pgp_s(&a, image);
	pgp_i(&a, since);
	rc = pg_list(p, pg_sql[PS_MODEL_TALLY], &a, "counting a rollout", row_tally, NULL, &t);
	for (size_t k = 0; rc == FSEC_OK && k < t.n; k++)
		if (cb(t.v[k].bucket, t.v[k].group, (enum fsec_tally_class)t.v[k].cls,
		       t.v[k].failure, t.v[k].n, ctx) != 0)
			break;
	free(t.v);
	return rc;
}

enum fsec_err pg_rollout_eval_get(void *p, const char *model, struct fsec_rollout_eval_rec *out)
{
	BE;
	struct pgp a = key1(model);
	char msg[128];
	PGresult *r = NULL;
	enum fsec_err rc;
	int64_t n;

	snprintf(msg, sizeof(msg), "model %s: no rollout evaluation yet", model);
	if ((rc = one(be, PS_EVAL_GET, &a, "reading a rollout evaluation", msg, &r)) != FSEC_OK)
		return rc;
	pg_text(r, 0, 0, out->sha256, sizeof(out->sha256));
	out->at = pg_i64(r, 0, 1);
	/* Counts are never negative; a hand-edited one reads as 0. */
	n = pg_i64(r, 0, 2);
	out->devices = n < 0 ? 0 : (uint64_t)n;
	n = pg_i64(r, 0, 3);
	out->failures = n < 0 ? 0 : (uint64_t)n;
	PQclear(r);
	return FSEC_OK;
}

enum fsec_err pg_rollout_eval_put(void *p, const char *model,
				  const struct fsec_rollout_eval_rec *rec)
{
	struct pgp a = key1(model);

	pgp_s(&a, rec->sha256);
	pgp_i(&a, rec->at);
	pgp_i(&a, rec->devices > INT64_MAX ? INT64_MAX : (int64_t)rec->devices);
	pgp_i(&a, rec->failures > INT64_MAX ? INT64_MAX : (int64_t)rec->failures);
	return pg_run(p, pg_sql[PS_EVAL_PUT], &a, "recording a rollout evaluation");
}

/* ---- enrollment ---- */

enum fsec_err pg_enroll_ca_add(void *p, const struct fsec_enroll_ca_rec *rec, const char *pem)
{
	struct pgp a = {0};

	pgp_s(&a, rec->fingerprint);
	pgp_s(&a, rec->subject);
	pgp_s(&a, pem);
	pgp_i(&a, rec->added_at != 0 ? rec->added_at : (int64_t)time(NULL));
	return pg_run(p, pg_sql[PS_ENROLL_CA_ADD], &a, "adding a manufacturer CA");
}

static int row_enroll_ca(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_enroll_ca_rec c;

	memset(&c, 0, sizeof(c));
	pg_text(r, i, 0, c.fingerprint, sizeof(c.fingerprint));
	pg_text(r, i, 1, c.subject, sizeof(c.subject));
	c.added_at = pg_i64(r, i, 2);
	return ((fsec_enroll_ca_cb)cb)(&c, PQgetvalue(r, i, 3), ctx);
}

enum fsec_err pg_enroll_ca_list(void *p, fsec_enroll_ca_cb cb, void *ctx)
{
	return pg_list(p, pg_sql[PS_ENROLL_CA_LIST], NULL, "listing manufacturer CAs",
		       row_enroll_ca, (void *)cb, ctx);
}

enum fsec_err pg_enroll_allow_add(void *p, const char *ca_fp, const char *pattern,
				  const char *model, bool replace)
{
	BE;
	struct pgp a = {0};
	char had[FSEC_MODEL_MAX + 1];
	uint64_t n = 0;
	PGresult *r = NULL;
	enum fsec_err rc;

	pgp_s(&a, ca_fp);
	pgp_s(&a, pattern);
	pgp_s(&a, model);
	pgp_i(&a, (int64_t)time(NULL));
	pgp_i(&a, replace ? 1 : 0);
	if ((rc = pg_run_n(be, pg_sql[PS_ENROLL_ALLOW_ADD], &a, "allowing serials", &n)) !=
		    FSEC_OK ||
	    n != 0)
		return rc;
	/* Nothing changed: the pattern is there under some model. The same
	 * one is a no-op; another would re-model devices not yet enrolled
	 * without anyone saying so. */
	a.n = 2;
	if ((rc = one(be, PS_ENROLL_ALLOW_MODEL, &a, "reading an allowed pattern", NULL, &r)) !=
	    FSEC_OK)
		return rc == FSEC_ERR_NOTFOUND ? fsec_seterr(FSEC_ERR_DB, "allowing serials: "
							     "pattern vanished")
					       : rc;
	pg_text(r, 0, 0, had, sizeof(had));
	PQclear(r);
	if (strcmp(had, model) == 0)
		return FSEC_OK;
	return fsec_seterr(FSEC_ERR_EXISTS,
			   "pattern '%s' is already allowed as model '%s' (--replace changes it)",
			   pattern, had[0] != '\0' ? had : "(none)");
}

enum fsec_err pg_enroll_remove(void *p, const char *ca_fp, const char *pattern)
{
	struct pgp a = key1(ca_fp);
	uint64_t n = 0;
	enum fsec_err rc;

	pgp_s(&a, pattern);
	if ((rc = pg_run_n(p, pg_sql[PS_ENROLL_ALLOW_DELETE], &a, "removing allowed serials",
			   &n)) != FSEC_OK)
		return rc;
	if (pattern != NULL)
		return n != 0 ? FSEC_OK
			      : fsec_seterr(FSEC_ERR_NOTFOUND, "pattern '%s' is not allowed for "
							       "this manufacturer CA", pattern);
	a.n = 1;
	if ((rc = pg_run_n(p, pg_sql[PS_ENROLL_CA_DELETE], &a, "removing a manufacturer CA",
			   &n)) != FSEC_OK)
		return rc;
	return n != 0 ? FSEC_OK
		      : fsec_seterr(FSEC_ERR_NOTFOUND, "manufacturer CA is not trusted for "
						       "enrollment");
}

static int row_pattern(const PGresult *r, int i, void *cb, void *ctx)
{
	return ((fsec_enroll_pattern_cb)cb)(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), ctx);
}

enum fsec_err pg_enroll_allow_list(void *p, const char *ca_fp, fsec_enroll_pattern_cb cb,
				   void *ctx)
{
	struct pgp a = key1(ca_fp);

	return pg_list(p, pg_sql[PS_ENROLL_ALLOW_LIST], &a, "listing allowed serials", row_pattern,
		       (void *)cb, ctx);
}

enum fsec_err pg_bootstrap_spend(void *p, const char *fp, const char *use, const char *device_id,
				 int64_t at, const char *ca_fp)
{
	struct pgp a = {0};

	pgp_s(&a, fp);
	pgp_s(&a, use);
	pgp_s(&a, device_id);
	pgp_i(&a, at);
	pgp_s(&a, ca_fp);
	return pg_run(p, pg_sql[PS_BOOTSTRAP_SPEND], &a, "spending a bootstrap credential");
}

enum fsec_err pg_bootstrap_spent(void *p, const char *fp, const char *use,
				 char device_id[FSEC_DEVID_MAX + 1])
{
	BE;
	struct pgp a = key1(fp);
	PGresult *r = NULL;
	enum fsec_err rc;

	pgp_s(&a, use);
	if ((rc = one(be, PS_BOOTSTRAP_SPENT, &a, "reading a spent bootstrap credential",
		      "bootstrap credential not spent", &r)) != FSEC_OK)
		return rc;
	pg_text(r, 0, 0, device_id, FSEC_DEVID_MAX + 1);
	PQclear(r);
	return FSEC_OK;
}

static int row_bootstrap(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_bootstrap_rec b;

	memset(&b, 0, sizeof(b));
	pg_text(r, i, 0, b.fingerprint, sizeof(b.fingerprint));
	pg_text(r, i, 1, b.use, sizeof(b.use));
	pg_text(r, i, 2, b.device_id, sizeof(b.device_id));
	b.at = pg_i64(r, i, 3);
	return ((fsec_bootstrap_cb)cb)(&b, ctx);
}

enum fsec_err pg_bootstrap_list(void *p, fsec_bootstrap_cb cb, void *ctx)
{
	return pg_list_big(p, pg_sql[PS_BOOTSTRAP_LIST], NULL,
			   "listing spent bootstrap credentials", row_bootstrap, (void *)cb, ctx);
}

enum fsec_err pg_pending_put(void *p, const struct fsec_enroll_pending_rec *rec)
{
	struct pgp a = {0};

	pgp_s(&a, rec->device_id);
	pgp_s(&a, rec->bootstrap_fp);
	pgp_s(&a, rec->spki_sha256);
	pgp_s(&a, rec->model);
	pgp_i(&a, rec->requested_at != 0 ? rec->requested_at : (int64_t)time(NULL));
	return pg_run(p, pg_sql[PS_PENDING_PUT], &a, "recording a pending enrollment");
}

static void read_pending(const PGresult *r, int i, struct fsec_enroll_pending_rec *x)
{
	memset(x, 0, sizeof(*x));
	pg_text(r, i, 0, x->device_id, sizeof(x->device_id));
	pg_text(r, i, 1, x->bootstrap_fp, sizeof(x->bootstrap_fp));
	pg_text(r, i, 2, x->spki_sha256, sizeof(x->spki_sha256));
	pg_text(r, i, 3, x->model, sizeof(x->model));
	x->requested_at = pg_i64(r, i, 4);
	x->approved_at = pg_i64(r, i, 5);
	pg_text(r, i, 6, x->approved_by, sizeof(x->approved_by));
}

enum fsec_err pg_pending_get(void *p, const char *id, struct fsec_enroll_pending_rec *out)
{
	BE;
	struct pgp a = key1(id);
	char msg[128];
	PGresult *r = NULL;
	enum fsec_err rc;

	snprintf(msg, sizeof(msg), "no enrollment request from %s", id);
	if ((rc = one(be, PS_PENDING_GET, &a, "reading a pending enrollment", msg, &r)) != FSEC_OK)
		return rc;
	read_pending(r, 0, out);
	PQclear(r);
	return FSEC_OK;
}

enum fsec_err pg_pending_approve(void *p, const char *id, const char *key_prefix, const char *by,
				 int64_t at)
{
	struct pgp a = key1(id);
	uint64_t n = 0;
	enum fsec_err rc;

	pgp_s(&a, by);
	pgp_i(&a, at);
	pgp_s(&a, key_prefix);
	rc = pg_run_n(p, pg_sql[PS_PENDING_APPROVE], &a, "approving an enrollment", &n);
	if (rc == FSEC_OK && n == 0)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND,
				 "no enrollment request from %s is waiting with key %.16s...", id,
				 key_prefix);
	return rc;
}

enum fsec_err pg_pending_delete(void *p, const char *id)
{
	struct pgp a = key1(id);

	return pg_run(p, pg_sql[PS_PENDING_DELETE], &a, "forgetting a pending enrollment");
}

static int row_pending(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_enroll_pending_rec x;

	read_pending(r, i, &x);
	return ((fsec_enroll_pending_cb)cb)(&x, ctx);
}

enum fsec_err pg_pending_list(void *p, fsec_enroll_pending_cb cb, void *ctx)
{
	return pg_list(p, pg_sql[PS_PENDING_LIST], NULL, "listing pending enrollments",
		       row_pending, (void *)cb, ctx);
}

/* ---- releases ---- */

enum fsec_err pg_publish_put(void *p, const struct fsec_published_rec *rec, const char *bundle)
{
	struct pgp a = {0};

	pgp_s(&a, rec->model);
	pgp_s(&a, rec->sha256);
	pgp_s(&a, rec->version);
	pgp_i(&a, rec->security_counter);
	pgp_i(&a, (int64_t)rec->size);
	pgp_i(&a, rec->percent);
	pgp_s(&a, bundle);
	pgp_i(&a, rec->published_at != 0 ? rec->published_at : (int64_t)time(NULL));
	pgp_i(&a, rec->max_failures);
	pgp_i(&a, rec->max_failures_pct);
	pgp_s(&a, rec->group);
	pgp_s(&a, rec->state[0] != '\0' ? rec->state : "active");
	pgp_s(&a, rec->phases);
	pgp_i(&a, rec->phase);
	pgp_i(&a, rec->phase_at);
	pgp_i(&a, rec->advance_after);
	pgp_i(&a, rec->success_pct);
	pgp_i(&a, (int64_t)rec->forgiven);
	return pg_run(p, pg_sql[PS_PUBLISH_PUT], &a, "publishing a release");
}

static void read_published(const PGresult *r, int i, struct fsec_published_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	pg_text(r, i, 0, rec->model, sizeof(rec->model));
	pg_text(r, i, 1, rec->sha256, sizeof(rec->sha256));
	pg_text(r, i, 2, rec->version, sizeof(rec->version));
	rec->security_counter = (uint32_t)pg_i64(r, i, 3);
	rec->size = (uint64_t)pg_i64(r, i, 4);
	rec->percent = (int)pg_i64(r, i, 5);
	rec->published_at = pg_i64(r, i, 6);
	rec->max_failures = (int)pg_i64(r, i, 8);
	rec->max_failures_pct = (int)pg_i64(r, i, 9);
	pg_text(r, i, 10, rec->group, sizeof(rec->group));
	pg_text(r, i, 11, rec->state, sizeof(rec->state));
	pg_text(r, i, 12, rec->phases, sizeof(rec->phases));
	rec->phase = (int)pg_i64(r, i, 13);
	rec->phase_at = pg_i64(r, i, 14);
	rec->advance_after = pg_i64(r, i, 15);
	rec->success_pct = (int)pg_i64(r, i, 16);
	rec->forgiven = (uint64_t)pg_i64(r, i, 17);
}

static int row_published(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_published_rec x;

	read_published(r, i, &x);
	return ((fsec_published_cb)cb)(&x, ctx);
}

enum fsec_err pg_publish_list(void *p, fsec_published_cb cb, void *ctx)
{
	return pg_list(p, pg_sql[PS_PUBLISH_LIST], NULL, "listing published releases",
		       row_published, (void *)cb, ctx);
}

static enum fsec_err get_release(struct pg_be *be, int which, const char *model,
				 struct fsec_published_rec *rec, char **bundle)
{
	struct pgp a = key1(model);
	char msg[128];
	PGresult *r = NULL;
	enum fsec_err rc;

	snprintf(msg, sizeof(msg), "no %s for model %s",
		 which == PS_BASELINE_GET ? "baseline" : "release published", model);
	if ((rc = one(be, which, &a, "reading a published release", msg, &r)) != FSEC_OK)
		return rc;
	read_published(r, 0, rec);
	rec->baseline = which == PS_BASELINE_GET;
	if (bundle != NULL)
		*bundle = dup_col(r, 7, &rc);
	PQclear(r);
	return rc;
}

enum fsec_err pg_publish_get(void *p, const char *model, struct fsec_published_rec *rec,
			     char **bundle)
{
	return get_release(p, PS_PUBLISH_GET, model, rec, bundle);
}

enum fsec_err pg_baseline_get(void *p, const char *model, struct fsec_published_rec *rec,
			      char **bundle)
{
	return get_release(p, PS_BASELINE_GET, model, rec, bundle);
}

enum fsec_err pg_baseline_keep(void *p, const char *model)
{
	struct pgp a = key1(model);

	return pg_run(p, pg_sql[PS_BASELINE_PUT], &a, "keeping a baseline");
}

enum fsec_err pg_baseline_bundle_put(void *p, const char *model, const char *sha256,
				     const char *bundle)
{
	struct pgp a = key1(model);
	uint64_t n = 0;
	enum fsec_err rc;

	pgp_s(&a, sha256);
	pgp_s(&a, bundle);
	if ((rc = pg_run_n(p, pg_sql[PS_BASELINE_BUNDLE_PUT], &a, "storing a baseline's manifest",
			   &n)) != FSEC_OK)
		return rc;
	/* Another publish replaced the baseline since it was read. */
	if (n == 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "the baseline of %s changed meanwhile", model);
	return FSEC_OK;
}

enum fsec_err pg_timestamp_put(void *p, const struct fsec_timestamp_rec *rec, const char *bundle)
{
	struct pgp a = key1(rec->model);

	pgp_i(&a, rec->latest);
	pgp_i(&a, rec->issued_at);
	pgp_i(&a, rec->expires_at);
	pgp_s(&a, bundle);
	return pg_run(p, pg_sql[PS_TIMESTAMP_PUT], &a, "storing a timestamp");
}

enum fsec_err pg_timestamp_get(void *p, const char *model, struct fsec_timestamp_rec *rec,
			       char **bundle)
{
	BE;
	struct pgp a = key1(model);
	char msg[128];
	PGresult *r = NULL;
	enum fsec_err rc;

	snprintf(msg, sizeof(msg), "no timestamp stored for model %s", model);
	if ((rc = one(be, PS_TIMESTAMP_GET, &a, "reading a timestamp", msg, &r)) != FSEC_OK)
		return rc;
	memset(rec, 0, sizeof(*rec));
	pg_text(r, 0, 0, rec->model, sizeof(rec->model));
	rec->latest = pg_i64(r, 0, 1);
	rec->issued_at = pg_i64(r, 0, 2);
	rec->expires_at = pg_i64(r, 0, 3);
	if (bundle != NULL)
		*bundle = dup_col(r, 4, &rc);
	PQclear(r);
	return rc;
}

enum fsec_err pg_served_get(void *p, const char *id, char sha[FSEC_SHA256_HEX_LEN], int64_t *at)
{
	BE;
	struct pgp a = key1(id);
	PGresult *r = NULL;
	enum fsec_err rc = one(be, PS_SERVED_GET, &a, "reading a served image", NULL, &r);

	/* None served: sha and at are left as they were, as on SQLite. */
	if (rc == FSEC_ERR_NOTFOUND)
		return FSEC_OK;
	if (rc != FSEC_OK)
		return rc;
	pg_text(r, 0, 0, sha, FSEC_SHA256_HEX_LEN);
	*at = pg_i64(r, 0, 1);
	PQclear(r);
	return FSEC_OK;
}

enum fsec_err pg_served_put(void *p, const char *id, const char *sha, int64_t at)
{
	struct pgp a = key1(id);

	pgp_s(&a, sha);
	pgp_i(&a, at);
	return pg_run(p, pg_sql[PS_SERVED_PUT], &a, "recording a served image");
}

/* ---- refusals, renewal allowances, tamper reports ---- */

enum fsec_err pg_refusal_add(void *p, const struct fsec_refusal_rec *rec, bool *created)
{
	BE;
	struct pgp a = {0};
	PGresult *r = NULL;
	enum fsec_err rc;

	pgp_s(&a, rec->credential);
	pgp_s(&a, rec->reason);
	pgp_s(&a, rec->device_id);
	pgp_s(&a, rec->detail);
	pgp_s(&a, rec->source);
	pgp_i(&a, (int64_t)rec->count);
	pgp_i(&a, rec->first_at);
	pgp_i(&a, rec->last_at);
	if ((rc = one(be, PS_REFUSAL_ADD, &a, "counting a refusal", NULL, &r)) != FSEC_OK)
		return rc == FSEC_ERR_NOTFOUND ? fsec_seterr(FSEC_ERR_DB, "counting a refusal: "
							     "no row")
					       : rc;
	if (created != NULL)
		*created = pg_i64(r, 0, 0) != 0;
	PQclear(r);
	return FSEC_OK;
}

static int row_refusal(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_refusal_rec x;
	int64_t n = pg_i64(r, i, 5);

	memset(&x, 0, sizeof(x));
	pg_text(r, i, 0, x.credential, sizeof(x.credential));
	pg_text(r, i, 1, x.reason, sizeof(x.reason));
	pg_text(r, i, 2, x.device_id, sizeof(x.device_id));
	pg_text(r, i, 3, x.detail, sizeof(x.detail));
	pg_text(r, i, 4, x.source, sizeof(x.source));
	x.count = n > 0 ? (uint64_t)n : 0;
	x.first_at = pg_i64(r, i, 6);
	x.last_at = pg_i64(r, i, 7);
	x.mark = pg_i64(r, i, 8);
	return ((fsec_refusal_cb)cb)(&x, ctx);
}

enum fsec_err pg_refusal_list(void *p, const char *device_id, fsec_refusal_cb cb, void *ctx)
{
	struct pgp a = {0};

	pgp_opt(&a, device_id);
	return pg_list(p, pg_sql[PS_REFUSAL_LIST], &a, "listing refusals", row_refusal,
		       (void *)cb, ctx);
}

enum fsec_err pg_refusal_changed(void *p, int64_t after, fsec_refusal_cb cb, void *ctx)
{
	struct pgp a = {0};

	pgp_i(&a, after);
	return pg_list(p, pg_sql[PS_REFUSAL_CHANGED], &a, "listing refusals", row_refusal,
		       (void *)cb, ctx);
}

enum fsec_err pg_renew_allow_put(void *p, const char *id, const char *by, int64_t at)
{
	struct pgp a = key1(id);

	pgp_s(&a, by);
	pgp_i(&a, at);
	return pg_run(p, pg_sql[PS_RENEW_ALLOW_PUT], &a, "allowing an early renewal");
}

enum fsec_err pg_renew_allow_get(void *p, const char *id, char *granted_by)
{
	BE;
	struct pgp a = key1(id);
	char msg[128];
	PGresult *r = NULL;
	enum fsec_err rc;

	snprintf(msg, sizeof(msg), "device %s holds no early-renewal allowance", id);
	if ((rc = one(be, PS_RENEW_ALLOW_GET, &a, "reading an early-renewal allowance", msg,
		      &r)) != FSEC_OK)
		return rc;
	if (granted_by != NULL)
		pg_text(r, 0, 0, granted_by, FSEC_ACTOR_MAX + 1);
	PQclear(r);
	return FSEC_OK;
}

enum fsec_err pg_renew_allow_take(void *p, const char *id)
{
	struct pgp a = key1(id);
	uint64_t n = 0;
	enum fsec_err rc;

	if ((rc = pg_run_n(p, pg_sql[PS_RENEW_ALLOW_TAKE], &a, "using an early-renewal allowance",
			   &n)) != FSEC_OK)
		return rc;
	/* Nothing deleted: none was granted, or another request used it. */
	if (n == 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "device %s holds no early-renewal allowance",
				   id);
	return FSEC_OK;
}

/* ---- pairings (issue 18) ---- */

enum fsec_err pg_pairing_put(void *p, const struct fsec_pairing_rec *rec)
{
	struct pgp a = key1(rec->key_sha256);
	uint64_t n = 0;
	enum fsec_err rc;

	pgp_s(&a, rec->device_id);
	pgp_s(&a, rec->model);
	pgp_s(&a, rec->group);
	pgp_s(&a, rec->paired_by);
	pgp_i(&a, rec->paired_at);
	pgp_i(&a, rec->expires_at);
	if ((rc = pg_run_n(p, pg_sql[PS_PAIRING_PUT], &a, "recording a pairing", &n)) != FSEC_OK)
		return rc;
	/* Nothing written: the key's pairing is waiting, or was used. */
	if (n == 0)
		return fsec_seterr(FSEC_ERR_EXISTS, "this key is paired already (unexpired, or "
						    "used to enroll)");
	return FSEC_OK;
}

static enum fsec_err read_pairing(struct pg_be *be, int stmt, const struct pgp *a,
				  const char *what, struct fsec_pairing_rec *out)
{
	char msg[FSEC_DEVID_MAX + 32];
	PGresult *r = NULL;
	enum fsec_err rc;

	snprintf(msg, sizeof(msg), "no pairing for %s", what);
	if ((rc = one(be, stmt, a, "reading a pairing", msg, &r)) != FSEC_OK)
		return rc;
	memset(out, 0, sizeof(*out));
	pg_text(r, 0, 0, out->key_sha256, sizeof(out->key_sha256));
	pg_text(r, 0, 1, out->device_id, sizeof(out->device_id));
	pg_text(r, 0, 2, out->model, sizeof(out->model));
	pg_text(r, 0, 3, out->group, sizeof(out->group));
	pg_text(r, 0, 4, out->paired_by, sizeof(out->paired_by));
	out->paired_at = pg_i64(r, 0, 5);
	out->expires_at = pg_i64(r, 0, 6);
	out->used_at = pg_i64(r, 0, 7);
	PQclear(r);
	return FSEC_OK;
}

enum fsec_err pg_pairing_get(void *p, const char *key_sha256, struct fsec_pairing_rec *out)
{
	struct pgp a = key1(key_sha256);

	return read_pairing(p, PS_PAIRING_GET, &a, "this key", out);
}

enum fsec_err pg_pairing_of(void *p, const char *id, bool used, int64_t now,
			    struct fsec_pairing_rec *out)
{
	struct pgp a = key1(id);

	if (!used)
		pgp_i(&a, now);
	return read_pairing(p, used ? PS_PAIRING_USED_OF : PS_PAIRING_WAITING_OF, &a, id, out);
}

enum fsec_err pg_pairing_spend(void *p, const char *key_sha256, int64_t at)
{
	struct pgp a = key1(key_sha256);
	uint64_t n = 0;
	enum fsec_err rc;

	pgp_i(&a, at);
	if ((rc = pg_run_n(p, pg_sql[PS_PAIRING_SPEND], &a, "using a pairing", &n)) != FSEC_OK)
		return rc;
	/* Nothing changed: no pairing, or it was used or expired meanwhile. */
	if (n == 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "the pairing of this key is used, expired "
						      "or gone");
	return FSEC_OK;
}

enum fsec_err pg_tamper_put(void *p, const struct fsec_tamper_rec *rec, const char *envelope)
{
	struct pgp a = key1(rec->device_id);

	pgp_i(&a, rec->at);
	pgp_i(&a, rec->received_at);
	pgp_s(&a, rec->reason);
	pgp_s(&a, rec->serial);
	pgp_s(&a, envelope);
	return pg_run(p, pg_sql[PS_TAMPER_PUT], &a, "recording a tamper report");
}

static void read_tamper(const PGresult *r, int i, struct fsec_tamper_rec *x)
{
	memset(x, 0, sizeof(*x));
	pg_text(r, i, 0, x->device_id, sizeof(x->device_id));
	x->at = pg_i64(r, i, 1);
	x->received_at = pg_i64(r, i, 2);
	pg_text(r, i, 3, x->reason, sizeof(x->reason));
	pg_text(r, i, 4, x->serial, sizeof(x->serial));
	x->current = pg_i64(r, i, 5) != 0;
}

enum fsec_err pg_tamper_get(void *p, const char *id, struct fsec_tamper_rec *out)
{
	BE;
	struct pgp a = key1(id);
	char msg[128];
	PGresult *r = NULL;
	enum fsec_err rc;

	snprintf(msg, sizeof(msg), "no tamper report for '%.80s' in the registry", id);
	if ((rc = one(be, PS_TAMPER_GET, &a, "tamper report", msg, &r)) != FSEC_OK)
		return rc;
	read_tamper(r, 0, out);
	PQclear(r);
	return FSEC_OK;
}

static int row_tamper(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_tamper_rec x;

	read_tamper(r, i, &x);
	return ((fsec_tamper_cb)cb)(&x, ctx);
}

enum fsec_err pg_tamper_list(void *p, fsec_tamper_cb cb, void *ctx)
{
	return pg_list(p, pg_sql[PS_TAMPER_LIST], NULL, "listing tamper reports", row_tamper,
		       (void *)cb, ctx);
}

/* ---- inventory, find, event queries: SQL built from the filters given ---- */

/* Append clause and its parameter "$N" bound to v. */
static void add_p(char *sql, size_t cap, struct pgp *a, const char *clause, const char *v,
		  const char *cast)
{
	size_t len = strlen(sql);

	pgp_s(a, v);
	snprintf(sql + len, cap - len, "%s$%d%s", clause, a->n, cast);
}

static void add_i(char *sql, size_t cap, struct pgp *a, const char *clause, int64_t v)
{
	size_t len = strlen(sql);

	pgp_i(a, v);
	snprintf(sql + len, cap - len, "%s$%d::bigint", clause, a->n);
}

static void add_sql(char *sql, size_t cap, const char *text)
{
	size_t len = strlen(sql);

	snprintf(sql + len, cap - len, "%s", text);
}

static enum fsec_err built(const char *sql, size_t cap)
{
	return strlen(sql) + 1 >= cap ? fsec_seterr(FSEC_ERR_OVERFLOW, "registry: query too long")
				      : FSEC_OK;
}

static int row_inventory(const PGresult *r, int i, void *cb, void *ctx)
{
	struct fsec_inventory_rec x;
	enum fsec_err rc;

	memset(&x, 0, sizeof(x));
	if ((rc = read_dev_state(r, i, &x.dev, &x.state, &x.reported)) != FSEC_OK)
		return pg_row_fail(rc);
	pg_text(r, i, 28, x.group, sizeof(x.group));
	pg_text(r, i, 29, x.mac, sizeof(x.mac));
	pg_text(r, i, 30, x.ip, sizeof(x.ip));
	x.outdated = pg_i64(r, i, 31) != 0;
	return ((fsec_inventory_cb)cb)(&x, ctx);
}

enum fsec_err pg_inventory_list(void *p, const struct fsec_inventory_query *q, const char *id,
				fsec_inventory_cb cb, void *ctx)
{
	struct pgp a = {0};
	char sql[3072];
	enum fsec_err rc;

	snprintf(sql, sizeof(sql), "%s", pg_inventory_sql);
	if (id != NULL)
		add_p(sql, sizeof(sql), &a, " AND d.id = ", id, "");
	if (q->status != 0)
		add_p(sql, sizeof(sql), &a, " AND d.status = ", fsec_dev_status_name(q->status), "");
	if (q->model != NULL)
		add_p(sql, sizeof(sql), &a, " AND d.model = ", q->model, "");
	if (q->group != NULL)
		add_p(sql, sizeof(sql), &a, " AND g.grp = ", q->group, "");
	if (q->mfr_ca != NULL)
		add_p(sql, sizeof(sql), &a, " AND d.id IN (SELECT device_id FROM bootstrap_spent"
		      " WHERE ca_fingerprint = ", q->mfr_ca, ")");
	if (q->fw_version != NULL)
		add_p(sql, sizeof(sql), &a, " AND s.fw_version = ", q->fw_version, "");
	if (q->by_seen_before)
		add_i(sql, sizeof(sql), &a, " AND s.last_seen < ", q->seen_before);
	if (q->by_seen_after)
		add_i(sql, sizeof(sql), &a, " AND s.last_seen > ", q->seen_after);
	if (q->by_expires_before)
		add_i(sql, sizeof(sql), &a, " AND d.expires_at > 0 AND d.expires_at <= ",
		      q->expires_before);
	if (q->outdated)
		add_sql(sql, sizeof(sql), " AND s.device_id IS NOT NULL AND p.release_counter >= 0"
			" AND s.security_counter < p.release_counter");
	if (q->update_state != NULL)
		add_p(sql, sizeof(sql), &a, " AND coalesce(s.update_state,'') = ", q->update_state,
		      "::text");
	if (q->by_outcome)
		add_p(sql, sizeof(sql), &a, " AND coalesce(s.update_outcome,'') = ",
		      fsec_update_outcome_name(q->outcome), "::text");
	add_sql(sql, sizeof(sql), " ORDER BY d.id");
	if ((rc = built(sql, sizeof(sql))) != FSEC_OK)
		return rc;
	/* One device's row needs no cursor. */
	return (id != NULL ? pg_list : pg_list_big)(p, sql, &a, "listing the inventory",
						    row_inventory, (void *)cb, ctx);
}

static int row_find(const PGresult *r, int i, void *cb, void *ctx)
{
	return ((fsec_find_cb)cb)((enum fsec_find_kind)pg_i64(r, i, 0), PQgetvalue(r, i, 1), ctx);
}

enum fsec_err pg_device_find(void *p, const char *id, const char *serial, const char *hex,
			     const char *mac, fsec_find_cb cb, void *ctx)
{
	struct pgp a = {0};
	char sql[1024] = "";
	enum fsec_err rc;

	_Static_assert(FSEC_FIND_ID == 1 && FSEC_FIND_SERIAL == 2 && FSEC_FIND_FINGERPRINT == 3 &&
			       FSEC_FIND_SPKI == 4 && FSEC_FIND_MAC == 5 && FSEC_FIND_IP == 6,
		       "the kinds below are written as numbers");
	add_p(sql, sizeof(sql), &a, "SELECT 1, id FROM devices WHERE id = ", id, "");
	add_p(sql, sizeof(sql), &a, " UNION SELECT 6, device_id FROM device_net WHERE ip = ", id,
	      "");
	add_p(sql, sizeof(sql), &a, " UNION SELECT 5, device_id FROM device_net WHERE mac = ", mac,
	      "");
	if (serial[0] != '\0')
		add_p(sql, sizeof(sql), &a,
		      " UNION SELECT 2, device_id FROM certificates WHERE serial = ", serial, "");
	if (hex[0] != '\0') {
		add_p(sql, sizeof(sql), &a,
		      " UNION SELECT 3, device_id FROM certificates WHERE fingerprint = ", hex, "");
		add_p(sql, sizeof(sql), &a,
		      " UNION SELECT 4, device_id FROM certificates WHERE spki_sha256 = ", hex, "");
	}
	add_sql(sql, sizeof(sql), " ORDER BY 1, 2");
	if ((rc = built(sql, sizeof(sql))) != FSEC_OK)
		return rc;
	return pg_list(p, sql, &a, "finding a device", row_find, (void *)cb, ctx);
}

enum fsec_err pg_event_query(void *p, const struct fsec_event_filter *f, fsec_event_cb cb,
			     void *ctx)
{
	struct pgp a = {0};
	char sql[1024] = "";
	enum fsec_err rc;

	/* With last: the newest N, read back in order. */
	if (f->last != 0)
		add_sql(sql, sizeof(sql), "SELECT * FROM (");
	add_sql(sql, sizeof(sql), "SELECT seq, at, actor, action, coalesce(device_id,''), detail"
		" FROM events WHERE true");
	if (f->device_id != NULL)
		add_p(sql, sizeof(sql), &a, " AND device_id = ", f->device_id, "");
	if (f->action != NULL)
		add_p(sql, sizeof(sql), &a, " AND action = ", f->action, "");
	if (f->since != 0)
		add_i(sql, sizeof(sql), &a, " AND at >= ", f->since);
	if (f->after_seq != 0)
		add_i(sql, sizeof(sql), &a, " AND seq > ", f->after_seq);
	if (f->last != 0) {
		add_i(sql, sizeof(sql), &a, " ORDER BY seq DESC LIMIT ", (int64_t)f->last);
		add_sql(sql, sizeof(sql), ") AS e");
	}
	add_sql(sql, sizeof(sql), " ORDER BY seq");
	if ((rc = built(sql, sizeof(sql))) != FSEC_OK)
		return rc;
	return pg_list(p, sql, &a, "listing events", row_event, (void *)cb, ctx);
}

/* ---- devices' firmware encryption keys ---- */

enum fsec_err pg_enc_key_put(void *p, const char *id, const char *pem, int64_t at)
{
	struct pgp a = key1(id);

	pgp_s(&a, pem);
	pgp_i(&a, at);
	return pg_run(p, pg_sql[PS_ENC_KEY_PUT], &a, "enrolling an encryption key");
}

enum fsec_err pg_enc_key_get(void *p, const char *id, char *pem)
{
	BE;
	struct pgp a = key1(id);
	char msg[128];
	PGresult *r = NULL;
	enum fsec_err rc;

	snprintf(msg, sizeof(msg), "device %.80s has no encryption key enrolled", id);
	if ((rc = one(be, PS_ENC_KEY_GET, &a, "reading an encryption key", msg, &r)) != FSEC_OK)
		return rc;
	pg_text(r, 0, 0, pem, FSEC_ENC_KEY_PEM_MAX + 1);
	PQclear(r);
	return FSEC_OK;
}
