/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to registry/: the SQLite backend's handle, its prepared
 * statements, and the helpers its files share. sqlite_core.c opens the file
 * and runs transactions, sqlite_schema.c holds the schema and every statement,
 * and one file per record family (devices, fleet, enroll, publish) binds and
 * reads its rows. Nothing here is exported.
 */
#ifndef FLEETSEC_SQLITE_INT_H
#define FLEETSEC_SQLITE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "registry_int.h"

enum stmt_id {
	ST_DEVICE_GET,
	ST_DEVICE_PUT,
	ST_DEVICE_LIST,
	ST_CERT_ADD,
	ST_CERT_PEM,
	ST_CURRENT_PEM_LIST,
	ST_CERT_REVOKE,
	ST_EVENT_ADD,
	ST_EVENT_LIST,
	ST_COUNTER_NEXT,
	ST_ENROLL_CA_ADD,
	ST_ENROLL_CA_LIST,
	ST_ENROLL_ALLOW_ADD,
	ST_ENROLL_ALLOW_LIST,
	ST_ENROLL_ALLOW_MODEL,
	ST_ENROLL_ALLOW_DELETE,
	ST_ENROLL_CA_DELETE,
	ST_BOOTSTRAP_SPEND,
	ST_BOOTSTRAP_SPENT,
	ST_DATA_VERSION,
	ST_PENDING_PUT,
	ST_PENDING_GET,
	ST_PENDING_APPROVE,
	ST_PENDING_DELETE,
	ST_PENDING_LIST,
	ST_PUBLISH_PUT,
	ST_PUBLISH_GET,
	ST_PUBLISH_LIST,
	ST_BASELINE_GET,
	ST_BASELINE_PUT,
	ST_BASELINE_BUNDLE_PUT,
	ST_SERVED_GET,
	ST_SERVED_PUT,
	ST_TIMESTAMP_PUT,
	ST_TIMESTAMP_GET,
	ST_GROUP_SET,
	ST_GROUP_CLEAR,
	ST_GROUP_GET,
	ST_MODEL_STATS,
	ST_MODEL_COUNTERS,
	ST_PRODUCT_GET,
	ST_PRODUCT_PUT,
	ST_PRODUCT_LIST,
	ST_STATE_GET,
	ST_STATE_PUT,
	ST_STATE_LIST,
	ST_DEVICE_STATE_LIST,
	ST_DEVICE_NET_LIST,
	ST_BOOTSTRAP_LIST,
	ST_REFUSAL_ADD,
	ST_REFUSAL_LIST,
	ST_RENEW_ALLOW_PUT,
	ST_RENEW_ALLOW_GET,
	ST_RENEW_ALLOW_TAKE,
	ST_SERVER_CERT_ADD,
	ST_SERVER_CERT_LIST,
	ST_SERVER_CERT_REVOKE,
	ST_EVENT_LIST_AFTER,
	ST_DEVICE_NET_ONE,
	ST_TAMPER_PUT,
	ST_TAMPER_GET,
	ST_TAMPER_LIST,
	ST_ENC_KEY_PUT,
	ST_ENC_KEY_GET,
	ST_MODEL_STATE_LIST,
	ST_EVAL_GET,
	ST_EVAL_PUT,
	ST_REFUSAL_CHANGED,
	ST_MODEL_TALLY,
	ST_MODEL_FAILED_LIST,
	ST_PAIRING_PUT,
	ST_PAIRING_GET,
	ST_PAIRING_USED_OF,
	ST_PAIRING_WAITING_OF,
	ST_PAIRING_SPEND,
	/* Certificate listings, one statement per combination of filters
	 * (CERT_BY_* bits): a generic "?1 IS NULL OR col = ?1" cannot use an
	 * index, and a full scan for every issue would make issuance O(N^2). */
	ST_CERT_LIST,
	ST_COUNT = ST_CERT_LIST + 8
};

#define CERT_BY_DEVICE 0x1
#define CERT_BY_SPKI 0x2
#define CERT_BY_REVOKED 0x4

struct sqlite_be {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	unsigned depth; /* open transactions: 1 = BEGIN, more = savepoints */
	fsec_bucket_fn bucket; /* fsec_bucket() in SQL, during a tally only */
};

/* The SQL of each statement below ST_CERT_LIST (sqlite_schema.c). */
extern const char *const sq_stmt_sql[ST_CERT_LIST];
/* The certificate listing for a CERT_BY_* mask; binds are always ?1 device,
 * ?2 SPKI, ?3 expiry bound. */
void sq_cert_list_sql(unsigned mask, char *buf, size_t cap);
/* Bring the registry to the current schema version (sqlite_schema.c). */
enum fsec_err sq_migrate(struct sqlite_be *be, const char *path, bool create);
/* The schema must be this library's (a read-only reader cannot upgrade). */
enum fsec_err sq_schema_current(struct sqlite_be *be, const char *path);

/* Helpers (sqlite_core.c). */
enum fsec_err sq_err(struct sqlite_be *be, int src, const char *what);
enum fsec_err sq_exec(struct sqlite_be *be, const char *sql);
/* Statement id, prepared once per handle. */
enum fsec_err sq_stmt(struct sqlite_be *be, int id, sqlite3_stmt **out);
/* As sq_stmt, for a listing: when the cached statement is already being
 * stepped (a callback of the same listing lists again), a private copy in
 * *out and *own, which the caller finalizes after; *own is NULL otherwise. */
enum fsec_err sq_stmt_listing(struct sqlite_be *be, int id, sqlite3_stmt **out,
			      sqlite3_stmt **own);
/* Column col as text into out ("" for NULL). */
void sq_text(sqlite3_stmt *s, int col, char *out, size_t cap);
/* v, or NULL when v is NULL or "". */
void sq_bind_opt(sqlite3_stmt *s, int idx, const char *v);
/* Run a statement that returns no rows, then reset it. */
enum fsec_err sq_run(struct sqlite_be *be, sqlite3_stmt *s, const char *what);
/* Get one row by key into out with reader; NOTFOUND names what. */
enum fsec_err sq_get_one(struct sqlite_be *be, int id, const char *key, const char *what,
			 enum fsec_err (*reader)(sqlite3_stmt *, void *), void *out);

/*
 * A listing: its statement, what a failure calls it, whether an empty key
 * binds as NULL (sq_bind_opt) rather than as "", and the function that turns
 * one row into the record the caller's callback takes, then calls it (cb is
 * that callback, cast back to its type). A non-zero return stops the listing.
 * A row it cannot read (a stored state this library does not know) it
 * refuses with sq_row_fail(), which stops the listing with that error.
 */
struct sq_listing {
	int stmt;
	const char *what;
	bool empty_is_null;
	int (*row)(sqlite3_stmt *s, void *cb, void *ctx);
};

/* Run listing l with its keys bound to ?1..?nkeys, each row to cb. */
enum fsec_err sq_list(struct sqlite_be *be, const struct sq_listing *l, const char *const *keys,
		      size_t nkeys, void *cb, void *ctx);
/* The rows of s, already bound, each to l->row; s is reset after. */
enum fsec_err sq_rows(struct sqlite_be *be, sqlite3_stmt *s, const struct sq_listing *l, void *cb,
		      void *ctx);

/* Record rc (not OK) as the error of the row being read; returns non-zero,
 * for a row function to return. */
int sq_row_fail(enum fsec_err rc);

/* Row readers more than one family uses. A stored state text this library
 * does not know is refused (DB, naming it): fail closed, never guess. */
enum fsec_err sq_read_device(sqlite3_stmt *s, struct fsec_device_rec *d);
/* A state row whose columns start at c. */
enum fsec_err sq_read_state_at(sqlite3_stmt *s, int c, struct fsec_devstate_rec *d);
/* The stored text of column col as a state, or DB naming row and value. */
enum fsec_err sq_dev_status(sqlite3_stmt *s, int col, const char *row, enum fsec_dev_status *out);

/* The backend's operations (struct fsec_registry_ops), by the file that holds them. */

/* sqlite_core.c */
enum fsec_err sq_open(const char *path, unsigned flags, void **out);
void sq_close(void *p);
enum fsec_err sq_begin(void *p);
enum fsec_err sq_commit(void *p);
void sq_rollback(void *p);
enum fsec_err sq_counter_next(void *p, const char *name, uint64_t floor, uint64_t *out);
enum fsec_err sq_data_version(void *p, uint64_t *out);
void sq_busy_timeout(void *p, int ms);

/* sqlite_devices.c */
enum fsec_err sq_device_get(void *p, const char *id, struct fsec_device_rec *out);
enum fsec_err sq_device_put(void *p, const struct fsec_device_rec *d);
enum fsec_err sq_device_list(void *p, enum fsec_dev_status status, const char *model, fsec_device_cb cb,
			     void *ctx);
enum fsec_err sq_cert_add(void *p, const struct fsec_cert_rec *c, const char *pem);
enum fsec_err sq_cert_list(void *p, const struct fsec_cert_filter *f, fsec_cert_cb cb, void *ctx);
enum fsec_err sq_cert_pem(void *p, const char *serial, char **pem);
enum fsec_err sq_current_pem_list(void *p, fsec_current_pem_cb cb, void *ctx);
enum fsec_err sq_cert_revoke(void *p, const char *serial, int64_t at, int reason);
enum fsec_err sq_server_cert_add(void *p, const struct fsec_server_cert_rec *c);
enum fsec_err sq_server_cert_list(void *p, int64_t not_expired_at, bool revoked_only,
				  fsec_server_cert_cb cb, void *ctx);
enum fsec_err sq_server_cert_revoke(void *p, const char *serial, int64_t at, int reason);
enum fsec_err sq_event_add(void *p, const struct fsec_event_rec *e);
enum fsec_err sq_event_list(void *p, const char *device_id, fsec_event_cb cb, void *ctx);
enum fsec_err sq_device_net_set(void *p, const char *id, const char *mac, const char *ip,
				int64_t now);
enum fsec_err sq_device_net_list(void *p, fsec_device_net_cb cb, void *ctx);
enum fsec_err sq_event_list_after(void *p, int64_t after, fsec_event_cb cb, void *ctx);
enum fsec_err sq_device_net_one(void *p, const char *id, fsec_device_net_cb cb, void *ctx);
enum fsec_err sq_group_set(void *p, const char *id, const char *group);
enum fsec_err sq_group_get(void *p, const char *id, char group[FSEC_GROUP_MAX + 1]);

/* sqlite_fleet.c */
enum fsec_err sq_product_get(void *p, const char *model, struct fsec_product_rec *out);
enum fsec_err sq_product_put(void *p, const struct fsec_product_rec *r);
enum fsec_err sq_product_list(void *p, fsec_product_cb cb, void *ctx);
enum fsec_err sq_devstate_get(void *p, const char *id, struct fsec_devstate_rec *out);
enum fsec_err sq_devstate_put(void *p, const struct fsec_devstate_rec *r);
enum fsec_err sq_devstate_list(void *p, fsec_devstate_cb cb, void *ctx);
enum fsec_err sq_device_state_list(void *p, fsec_device_state_cb cb, void *ctx);
enum fsec_err sq_model_stats(void *p, const char *model, const char *group, int64_t since,
			     uint32_t counter, const char *image, struct fsec_model_stats *out);
enum fsec_err sq_model_state_list(void *p, const char *model, const char *failed_image,
				  fsec_model_state_cb cb, void *ctx);
enum fsec_err sq_model_tally(void *p, const char *model, const char *version, const char *image,
			     int64_t since, fsec_bucket_fn bucket, fsec_model_tally_cb cb,
			     void *ctx);
enum fsec_err sq_rollout_eval_get(void *p, const char *model, struct fsec_rollout_eval_rec *out);
enum fsec_err sq_rollout_eval_put(void *p, const char *model,
				  const struct fsec_rollout_eval_rec *rec);
enum fsec_err sq_model_counters(void *p, const char *model, fsec_counter_count_cb cb, void *ctx);

/* sqlite_enroll.c */
enum fsec_err sq_enroll_ca_add(void *p, const struct fsec_enroll_ca_rec *rec, const char *pem);
enum fsec_err sq_enroll_ca_list(void *p, fsec_enroll_ca_cb cb, void *ctx);
enum fsec_err sq_enroll_allow_add(void *p, const char *ca_fp, const char *pattern,
				  const char *model, bool replace);
enum fsec_err sq_enroll_remove(void *p, const char *ca_fp, const char *pattern);
enum fsec_err sq_enroll_allow_list(void *p, const char *ca_fp, fsec_enroll_pattern_cb cb,
				   void *ctx);
enum fsec_err sq_bootstrap_spend(void *p, const char *fp, const char *use, const char *device_id,
				 int64_t at, const char *ca_fp);
enum fsec_err sq_bootstrap_spent(void *p, const char *fp, const char *use,
				 char device_id[FSEC_DEVID_MAX + 1]);
enum fsec_err sq_pending_put(void *p, const struct fsec_enroll_pending_rec *rec);
enum fsec_err sq_pending_get(void *p, const char *id, struct fsec_enroll_pending_rec *out);
enum fsec_err sq_pending_approve(void *p, const char *id, const char *key_prefix, const char *by,
				 int64_t at);
enum fsec_err sq_pending_delete(void *p, const char *id);
enum fsec_err sq_pending_list(void *p, fsec_enroll_pending_cb cb, void *ctx);
enum fsec_err sq_bootstrap_list(void *p, fsec_bootstrap_cb cb, void *ctx);

/* sqlite_limits.c */
enum fsec_err sq_refusal_add(void *p, const struct fsec_refusal_rec *rec, bool *created);
enum fsec_err sq_refusal_list(void *p, const char *device_id, fsec_refusal_cb cb, void *ctx);
enum fsec_err sq_refusal_changed(void *p, int64_t after, fsec_refusal_cb cb, void *ctx);
enum fsec_err sq_renew_allow_put(void *p, const char *id, const char *by, int64_t at);
enum fsec_err sq_renew_allow_get(void *p, const char *id, char *granted_by);
enum fsec_err sq_renew_allow_take(void *p, const char *id);

/* sqlite_limits.c: pairings (issue 18) */
enum fsec_err sq_pairing_put(void *p, const struct fsec_pairing_rec *rec);
enum fsec_err sq_pairing_get(void *p, const char *key_sha256, struct fsec_pairing_rec *out);
enum fsec_err sq_pairing_of(void *p, const char *id, bool used, int64_t now,
			    struct fsec_pairing_rec *out);
enum fsec_err sq_pairing_spend(void *p, const char *key_sha256, int64_t at);

/* sqlite_limits.c: tamper reports */
enum fsec_err sq_tamper_put(void *p, const struct fsec_tamper_rec *rec, const char *envelope);
enum fsec_err sq_tamper_get(void *p, const char *id, struct fsec_tamper_rec *out);
enum fsec_err sq_enc_key_put(void *p, const char *id, const char *pem, int64_t at);
enum fsec_err sq_enc_key_get(void *p, const char *id, char *pem);
enum fsec_err sq_tamper_list(void *p, fsec_tamper_cb cb, void *ctx);

/* sqlite_inventory.c */
enum fsec_err sq_inventory_list(void *p, const struct fsec_inventory_query *q, const char *id,
				fsec_inventory_cb cb, void *ctx);
enum fsec_err sq_device_find(void *p, const char *id, const char *serial, const char *hex,
			     const char *mac, fsec_find_cb cb, void *ctx);
enum fsec_err sq_event_query(void *p, const struct fsec_event_filter *f, fsec_event_cb cb,
			     void *ctx);
/* An event row (seq, at, actor, action, device, detail) into e (sqlite_devices.c). */
void sq_read_event(sqlite3_stmt *s, struct fsec_event_rec *e);

/* sqlite_publish.c */
enum fsec_err sq_publish_put(void *p, const struct fsec_published_rec *rec, const char *bundle);
enum fsec_err sq_publish_get(void *p, const char *model, struct fsec_published_rec *rec,
			     char **bundle);
enum fsec_err sq_publish_list(void *p, fsec_published_cb cb, void *ctx);
enum fsec_err sq_baseline_get(void *p, const char *model, struct fsec_published_rec *rec,
			      char **bundle);
enum fsec_err sq_baseline_keep(void *p, const char *model);
enum fsec_err sq_baseline_bundle_put(void *p, const char *model, const char *sha256,
				     const char *bundle);
enum fsec_err sq_served_get(void *p, const char *id, char sha[FSEC_SHA256_HEX_LEN],
			    int64_t *at);
enum fsec_err sq_served_put(void *p, const char *id, const char *sha, int64_t at);
enum fsec_err sq_timestamp_put(void *p, const struct fsec_timestamp_rec *rec, const char *bundle);
enum fsec_err sq_timestamp_get(void *p, const char *model, struct fsec_timestamp_rec *rec,
			       char **bundle);

#endif
