/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite registry's fleet facts: products, what each device reports
 * (its state), devices joined with their state, and the per-model counts a
 * rollout is judged on.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err_int.h"
#include "sqlite_int.h"

static void read_product(sqlite3_stmt *s, struct fsec_product_rec *p)
{
	memset(p, 0, sizeof(*p));
	sq_text(s, 0, p->model, sizeof(p->model));
	sq_text(s, 1, p->manufacturer, sizeof(p->manufacturer));
	p->support_until = sqlite3_column_int64(s, 2);
	sq_text(s, 3, p->security_contact, sizeof(p->security_contact));
	sq_text(s, 4, p->release_version, sizeof(p->release_version));
	p->release_counter = sqlite3_column_int64(s, 5);
	p->release_at = sqlite3_column_int64(s, 6);
	p->updated_at = sqlite3_column_int64(s, 7);
}

/* A state row whose columns start at c. */
/* Column col as an update outcome or debug state; DB naming the device, the
 * column and the value if this library does not know it. */
static enum fsec_err state_text(sqlite3_stmt *s, int col, const struct fsec_devstate_rec *d,
				const char *what, enum fsec_update_outcome *outcome,
				enum fsec_debug_state *debug)
{
	const char *t = (const char *)sqlite3_column_text(s, col);
	enum fsec_err rc = outcome != NULL ? fsec_update_outcome_parse(t, outcome)
					   : fsec_debug_state_parse(t, debug);

	if (rc != FSEC_OK)
		return fsec_seterr(FSEC_ERR_DB, "registry: device %.64s has %s \"%.40s\", "
				   "unknown to this library", d->device_id, what,
				   t != NULL ? t : "");
	return FSEC_OK;
}

enum fsec_err sq_read_state_at(sqlite3_stmt *s, int c, struct fsec_devstate_rec *d)
{
	enum fsec_err rc;
	int64_t ctr;

	memset(d, 0, sizeof(*d));
	sq_text(s, c, d->device_id, sizeof(d->device_id));
	d->first_seen = sqlite3_column_int64(s, c + 1);
	d->last_seen = sqlite3_column_int64(s, c + 2);
	sq_text(s, c + 3, d->fw_version, sizeof(d->fw_version));
	ctr = sqlite3_column_int64(s, c + 4);
	/* Stored values came through devstate_put, but a registry file is
	 * still input: clamp rather than wrap. */
	d->security_counter = ctr < 0 ? 0 : ctr > UINT32_MAX ? UINT32_MAX : (uint32_t)ctr;
	d->update_at = sqlite3_column_int64(s, c + 6);
	d->update_ok_at = sqlite3_column_int64(s, c + 7);
	d->debug_at = sqlite3_column_int64(s, c + 10);
	d->frozen = (int)sqlite3_column_int64(s, c + 11);
	d->fresh_at = sqlite3_column_int64(s, c + 12);
	if (d->frozen < -1 || d->frozen > 1)
		d->frozen = -1;
	sq_text(s, c + 13, d->update_state, sizeof(d->update_state));
	sq_text(s, c + 14, d->pending_version, sizeof(d->pending_version));
	sq_text(s, c + 15, d->outcome_image, sizeof(d->outcome_image));
	sq_text(s, c + 16, d->outcome_reason, sizeof(d->outcome_reason));
	if ((rc = state_text(s, c + 5, d, "update outcome", &d->update_outcome, NULL)) != FSEC_OK ||
	    (rc = state_text(s, c + 8, d, "debug_jtag", NULL, &d->debug_jtag)) != FSEC_OK ||
	    (rc = state_text(s, c + 9, d, "debug_uart", NULL, &d->debug_uart)) != FSEC_OK)
		return rc;
	return FSEC_OK;
}

static enum fsec_err read_state(sqlite3_stmt *s, struct fsec_devstate_rec *d)
{
	return sq_read_state_at(s, 0, d);
}

static enum fsec_err read_product_v(sqlite3_stmt *s, void *out)
{
	read_product(s, out);
	return FSEC_OK;
}

static enum fsec_err read_state_v(sqlite3_stmt *s, void *out) { return read_state(s, out); }

static int row_product(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_product_rec r;

	read_product(s, &r);
	return ((fsec_product_cb)cb)(&r, ctx);
}

static int row_state(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_devstate_rec r;
	enum fsec_err rc = read_state(s, &r);

	if (rc != FSEC_OK)
		return sq_row_fail(rc);
	return ((fsec_devstate_cb)cb)(&r, ctx);
}

/* Columns 0-10 are the device, 11-23 its state, NULL if it never reported. */
static int row_device_state(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_device_rec d;
	struct fsec_devstate_rec st;
	bool reported = sqlite3_column_type(s, 11) != SQLITE_NULL;
	enum fsec_err rc;

	if ((rc = sq_read_device(s, &d)) != FSEC_OK ||
	    (reported && (rc = sq_read_state_at(s, 11, &st)) != FSEC_OK))
		return sq_row_fail(rc);
	return ((fsec_device_state_cb)cb)(&d, reported ? &st : NULL, ctx);
}

/* As row_device_state, with the device's group in column 28 ("" none). */
static int row_model_state(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_device_rec d;
	struct fsec_devstate_rec st;
	char group[FSEC_GROUP_MAX + 1];
	bool reported = sqlite3_column_type(s, 11) != SQLITE_NULL;
	enum fsec_err rc;

	if ((rc = sq_read_device(s, &d)) != FSEC_OK ||
	    (reported && (rc = sq_read_state_at(s, 11, &st)) != FSEC_OK))
		return sq_row_fail(rc);
	sq_text(s, 28, group, sizeof(group));
	return ((fsec_model_state_cb)cb)(&d, reported ? &st : NULL, group, ctx);
}

static int row_counter(sqlite3_stmt *s, void *cb, void *ctx)
{
	int64_t c = sqlite3_column_int64(s, 0);

	return ((fsec_counter_count_cb)cb)(c < 0 ? 0 : c > UINT32_MAX ? UINT32_MAX : (uint32_t)c,
					   (uint64_t)sqlite3_column_int64(s, 1), ctx);
}

static const struct sq_listing list_products = {ST_PRODUCT_LIST, "listing products", false,
						 row_product};
static const struct sq_listing list_states = {ST_STATE_LIST, "listing device states", false,
					      row_state};
static const struct sq_listing list_device_states = {
	ST_DEVICE_STATE_LIST, "listing devices with their state", false, row_device_state};
static const struct sq_listing list_model_states = {
	ST_MODEL_STATE_LIST, "listing a model's devices with their state", false, row_model_state};
static const struct sq_listing list_model_failed = {
	ST_MODEL_FAILED_LIST, "listing a model's failed devices", false, row_model_state};

/* Bucket, group, class, count; a NULL bucket (a failed digest) or a class
 * out of range is refused, never counted somewhere else. */
static int row_tally(sqlite3_stmt *s, void *cb, void *ctx)
{
	char group[FSEC_GROUP_MAX + 1];
	int64_t b = sqlite3_column_int64(s, 0), cls = sqlite3_column_int64(s, 2);
	int64_t n = sqlite3_column_int64(s, 3);
	bool failure = sqlite3_column_int64(s, 4) != 0;

	if (sqlite3_column_type(s, 0) == SQLITE_NULL || b < 0 || b > 99 || cls < 0 ||
	    cls > FSEC_TALLY_ROLLED_BACK || n < 0)
		return sq_row_fail(fsec_seterr(FSEC_ERR_CRYPTO, "a device's rollout bucket "
								 "could not be computed"));
	sq_text(s, 1, group, sizeof(group));
	return ((fsec_model_tally_cb)cb)((unsigned)b, group, (enum fsec_tally_class)cls, failure,
					 (uint64_t)n, ctx);
}

static const struct sq_listing list_model_tally = {ST_MODEL_TALLY, "counting a rollout", false,
						   row_tally};
static const struct sq_listing list_counters = {ST_MODEL_COUNTERS, "counting security counters",
						false, row_counter};

enum fsec_err sq_product_get(void *p, const char *model, struct fsec_product_rec *out)
{
	return sq_get_one(p, ST_PRODUCT_GET, model, "product", read_product_v, out);
}

enum fsec_err sq_product_put(void *p, const struct fsec_product_rec *r)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_PRODUCT_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, r->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, r->manufacturer, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, r->support_until);
	sqlite3_bind_text(s, 4, r->security_contact, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, r->release_version, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, r->release_counter);
	sqlite3_bind_int64(s, 7, r->release_at);
	sqlite3_bind_int64(s, 8, r->updated_at);
	return sq_run(be, s, "writing a product");
}

enum fsec_err sq_product_list(void *p, fsec_product_cb cb, void *ctx)
{
	return sq_list(p, &list_products, NULL, 0, (void *)cb, ctx);
}

enum fsec_err sq_devstate_get(void *p, const char *id, struct fsec_devstate_rec *out)
{
	return sq_get_one(p, ST_STATE_GET, id, "reported state", read_state_v, out);
}

enum fsec_err sq_devstate_put(void *p, const struct fsec_devstate_rec *r)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	/* Only the states this library names are stored (the schema's CHECKs
	 * would refuse "invalid" too, less clearly). */
	if ((unsigned)r->update_outcome > FSEC_UPDATE_FAILURE ||
	    (unsigned)r->debug_jtag > FSEC_DEBUG_UNLOCKED || (unsigned)r->debug_uart > FSEC_DEBUG_UNLOCKED)
		return fsec_seterr(FSEC_ERR_INVAL, "state of %.64s: an update outcome or debug "
				   "state out of range", r->device_id);
	if ((rc = sq_stmt(be, ST_STATE_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, r->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, r->first_seen);
	sqlite3_bind_int64(s, 3, r->last_seen);
	sqlite3_bind_text(s, 4, r->fw_version, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, r->security_counter);
	sqlite3_bind_text(s, 6, fsec_update_outcome_name(r->update_outcome), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, r->update_at);
	sqlite3_bind_int64(s, 8, r->update_ok_at);
	sqlite3_bind_text(s, 9, fsec_debug_state_name(r->debug_jtag), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 10, fsec_debug_state_name(r->debug_uart), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 11, r->debug_at);
	sqlite3_bind_int(s, 12, r->frozen < 0 ? -1 : r->frozen > 0 ? 1 : 0);
	sqlite3_bind_int64(s, 13, r->fresh_at);
	sqlite3_bind_text(s, 14, r->update_state, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 15, r->pending_version, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 16, r->outcome_image, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 17, r->outcome_reason, -1, SQLITE_STATIC);
	return sq_run(be, s, "writing a device's state");
}

enum fsec_err sq_devstate_list(void *p, fsec_devstate_cb cb, void *ctx)
{
	return sq_list(p, &list_states, NULL, 0, (void *)cb, ctx);
}

enum fsec_err sq_device_state_list(void *p, fsec_device_state_cb cb, void *ctx)
{
	return sq_list(p, &list_device_states, NULL, 0, (void *)cb, ctx);
}

enum fsec_err sq_model_stats(void *p, const char *model, const char *group, int64_t since,
			     uint32_t counter, const char *image, struct fsec_model_stats *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_MODEL_STATS, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, since);
	sqlite3_bind_int64(s, 3, counter);
	sqlite3_bind_text(s, 4, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, image, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		out->devices = (uint64_t)sqlite3_column_int64(s, 0);
		out->reported = (uint64_t)sqlite3_column_int64(s, 1);
		out->failures = (uint64_t)sqlite3_column_int64(s, 2);
		out->successes = (uint64_t)sqlite3_column_int64(s, 3);
		out->patched = (uint64_t)sqlite3_column_int64(s, 4);
	} else {
		rc = sq_err(be, r, "counting a model's devices");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_model_counters(void *p, const char *model, fsec_counter_count_cb cb,
				void *ctx)
{
	return sq_list(p, &list_counters, &model, 1, (void *)cb, ctx);
}

enum fsec_err sq_model_state_list(void *p, const char *model, const char *failed_image,
				  fsec_model_state_cb cb, void *ctx)
{
	const char *const keys[] = {model, failed_image};

	if (failed_image != NULL)
		return sq_list(p, &list_model_failed, keys, 2, (void *)cb, ctx);
	return sq_list(p, &list_model_states, keys, 1, (void *)cb, ctx);
}

enum fsec_err sq_model_tally(void *p, const char *model, const char *version, const char *image,
			     int64_t since, fsec_bucket_fn bucket, fsec_model_tally_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	char at[24];
	const char *const keys[] = {model, version, image, at};
	enum fsec_err rc;

	snprintf(at, sizeof(at), "%lld", (long long)since);
	be->bucket = bucket;
	rc = sq_list(p, &list_model_tally, keys, 4, (void *)cb, ctx);
	be->bucket = NULL;
	return rc;
}

enum fsec_err sq_rollout_eval_get(void *p, const char *model, struct fsec_rollout_eval_rec *out)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;
	int r;

	if ((rc = sq_stmt(be, ST_EVAL_GET, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		sq_text(s, 0, out->sha256, sizeof(out->sha256));
		out->at = sqlite3_column_int64(s, 1);
		/* Counts are never negative; a hand-edited one reads as 0. */
		out->devices = (uint64_t)(sqlite3_column_int64(s, 2) < 0 ? 0
									  : sqlite3_column_int64(s, 2));
		out->failures = (uint64_t)(sqlite3_column_int64(s, 3) < 0 ? 0
									   : sqlite3_column_int64(s, 3));
	} else if (r == SQLITE_DONE) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "model %s: no rollout evaluation yet", model);
	} else {
		rc = sq_err(be, r, "reading a rollout evaluation");
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

enum fsec_err sq_rollout_eval_put(void *p, const char *model,
				  const struct fsec_rollout_eval_rec *rec)
{
	struct sqlite_be *be = p;
	enum fsec_err rc;
	sqlite3_stmt *s;

	if ((rc = sq_stmt(be, ST_EVAL_PUT, &s)) != FSEC_OK)
		return rc;
	sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rec->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, rec->at);
	sqlite3_bind_int64(s, 4, rec->devices > INT64_MAX ? INT64_MAX : (int64_t)rec->devices);
	sqlite3_bind_int64(s, 5, rec->failures > INT64_MAX ? INT64_MAX : (int64_t)rec->failures);
	return sq_run(be, s, "recording a rollout evaluation");
}
