/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to registry/: the PostgreSQL backend's handle and the helpers its
 * files share. pg_core.c connects, runs transactions and queries, pg_schema.c
 * holds the schema (the same steps as sqlite_schema.c, numbered alike) and
 * every statement, pg_ops.c binds and reads the record families' rows.
 * Nothing here is exported.
 */
#ifndef FLEETSEC_PG_INT_H
#define FLEETSEC_PG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "registry_int.h"

struct pg_be {
	PGconn *c;
	unsigned depth; /* open transactions: 1 = BEGIN, more = savepoints */
	bool readonly;
	int lock_ms;    /* lock_timeout, set again after a reconnection */
	char *location; /* for the change feed's own connection (pg_feed.c) */
	/* Session state (LISTEN, a session lock) that a silent reconnection
	 * would lose: the feed reconnects itself, and replays. */
	bool pinned;
	unsigned cursors; /* pg_list_big's open cursors, for their names */
};

/* Parameters of one query, all sent as text (PostgreSQL converts them to
 * the column's type; a cast in the SQL says which where it could not tell). */
#define PG_MAXP 20
struct pgp {
	int n;
	const char *v[PG_MAXP];
	char num[PG_MAXP][24];
};

void pgp_s(struct pgp *p, const char *s);   /* text; NULL is SQL NULL */
void pgp_opt(struct pgp *p, const char *s); /* NULL when s is NULL or "" */
void pgp_i(struct pgp *p, int64_t v);

/* Run sql with p; the result holds rows (or none) on success. NULL with the
 * error set (what names the operation) otherwise. */
PGresult *pg_exec(struct pg_be *be, const char *sql, const struct pgp *p, const char *what,
		  enum fsec_err *rc);
/* As pg_exec for a statement whose result is not needed. */
enum fsec_err pg_run(struct pg_be *be, const char *sql, const struct pgp *p, const char *what);
/* As pg_run, with the number of rows it changed. */
enum fsec_err pg_run_n(struct pg_be *be, const char *sql, const struct pgp *p, const char *what,
		       uint64_t *changed);

/* Columns of row 0 of a result (every reader gets one row at a time). */
void pg_text(const PGresult *r, int row, int col, char *out, size_t cap);
int64_t pg_i64(const PGresult *r, int row, int col);
bool pg_null(const PGresult *r, int row, int col);

/* A listing: each row of sql's result to row(), which returns non-zero to
 * stop; a row it refuses it names with pg_row_fail(). The whole result is
 * read before the first callback, so a callback may use the registry. */
typedef int (*pg_row_fn)(const PGresult *r, int row, void *cb, void *ctx);
enum fsec_err pg_list(struct pg_be *be, const char *sql, const struct pgp *p, const char *what,
		      pg_row_fn row, void *cb, void *ctx);
int pg_row_fail(enum fsec_err rc);
/* As pg_list, for a listing that grows with the fleet (every device, every
 * certificate): the rows come from a cursor a batch at a time, so that a
 * million devices never sit in this process's memory at once. The cursor
 * is WITH HOLD: outside a transaction the server keeps its result (a
 * snapshot, as pg_list's) while the callbacks use the registry in their
 * own transactions, as they may with pg_list. */
enum fsec_err pg_list_big(struct pg_be *be, const char *sql, const struct pgp *p,
			  const char *what, pg_row_fn row, void *cb, void *ctx);

/* The schema (pg_schema.c). */
enum fsec_err pg_migrate(struct pg_be *be, const char *where, bool create, bool own_tx);
enum fsec_err pg_schema_current(struct pg_be *be, const char *where);
int pg_schema_version(void);
/* The tables a registry holds, NULL-terminated, in an order that copying
 * them in keeps references valid (migration and checks). */
extern const char *const pg_tables[];

enum pg_stmt {
	PS_DEVICE_GET,
	PS_DEVICE_PUT,
	PS_DEVICE_LIST,
	PS_CERT_ADD,
	PS_CERT_PEM,
	PS_CURRENT_PEM_LIST,
	PS_CERT_REVOKE,
	PS_EVENT_ADD,
	PS_EVENT_LIST,
	PS_COUNTER_NEXT,
	PS_COUNTER_RAISE,
	PS_ENROLL_CA_ADD,
	PS_ENROLL_CA_LIST,
	PS_ENROLL_ALLOW_ADD,
	PS_ENROLL_ALLOW_LIST,
	PS_ENROLL_ALLOW_MODEL,
	PS_ENROLL_ALLOW_DELETE,
	PS_ENROLL_CA_DELETE,
	PS_BOOTSTRAP_SPEND,
	PS_BOOTSTRAP_SPENT,
	PS_BOOTSTRAP_LIST,
	PS_PENDING_PUT,
	PS_PENDING_GET,
	PS_PENDING_APPROVE,
	PS_PENDING_DELETE,
	PS_PENDING_LIST,
	PS_PUBLISH_PUT,
	PS_PUBLISH_GET,
	PS_PUBLISH_LIST,
	PS_BASELINE_GET,
	PS_BASELINE_PUT,
	PS_BASELINE_BUNDLE_PUT,
	PS_SERVED_GET,
	PS_SERVED_PUT,
	PS_TIMESTAMP_PUT,
	PS_TIMESTAMP_GET,
	PS_GROUP_SET,
	PS_GROUP_CLEAR,
	PS_GROUP_GET,
	PS_MODEL_STATS,
	PS_MODEL_COUNTERS,
	PS_PRODUCT_GET,
	PS_PRODUCT_PUT,
	PS_PRODUCT_LIST,
	PS_STATE_GET,
	PS_STATE_PUT,
	PS_STATE_LIST,
	PS_DEVICE_STATE_LIST,
	PS_MODEL_STATE_LIST,
	PS_MODEL_FAILED_LIST,
	PS_MODEL_TALLY,
	PS_EVAL_GET,
	PS_EVAL_PUT,
	PS_DEVICE_NET_SET,
	PS_DEVICE_NET_LIST,
	PS_DEVICE_NET_ONE,
	PS_REFUSAL_ADD,
	PS_REFUSAL_LIST,
	PS_REFUSAL_CHANGED,
	PS_RENEW_ALLOW_PUT,
	PS_RENEW_ALLOW_GET,
	PS_RENEW_ALLOW_TAKE,
	PS_PAIRING_PUT,
	PS_PAIRING_GET,
	PS_PAIRING_USED_OF,
	PS_PAIRING_WAITING_OF,
	PS_PAIRING_SPEND,
	PS_SERVER_CERT_ADD,
	PS_SERVER_CERT_LIST,
	PS_SERVER_CERT_REVOKE,
	PS_EVENT_LIST_AFTER,
	PS_TAMPER_PUT,
	PS_TAMPER_GET,
	PS_TAMPER_LIST,
	PS_ENC_KEY_PUT,
	PS_ENC_KEY_GET,
	PS_DATA_VERSION,
	PS_COUNT
};
extern const char *const pg_sql[PS_COUNT];
/* The certificate listing: $1 device or NULL, $2 SPKI or NULL, $3 expiry
 * bound, $4 revoked only (0/1). */
extern const char pg_cert_list_sql[];
/* The inventory's SELECT up to its WHERE (filters are appended). */
extern const char pg_inventory_sql[];

/* Connect to location (no schema step), naming the server in where. */
enum fsec_err pg_connect(const char *location, bool readonly, struct pg_be **out, char *where,
			 size_t cap);
void pg_close(void *be);

/* A location this backend accepts: a postgresql:// URL libpq can parse,
 * with no password in it (pg_core.c). */
enum fsec_err pg_location_check(const char *location);

/* The change feed (pg_feed.c): the channel every event's NOTIFY goes to. */
#define PG_EVENT_CHANNEL "fleetsec_event"
enum fsec_err pg_feed_open(void *be, void **feed);
int pg_feed_fd(void *feed);
enum fsec_err pg_feed_poll(void *feed, bool *changed);
enum fsec_err pg_feed_reconnect(void *feed, bool *changed);
enum fsec_err pg_feed_lead(void *feed, bool *leader);
void pg_feed_free(void *feed);

/* The operations of pg_ops.c, typed as struct fsec_registry_ops has them. */
#define PG_OP(name) extern __typeof__(*((struct fsec_registry_ops *)0)->name) pg_##name;
PG_OP(device_get)
PG_OP(device_put)
PG_OP(device_list)
PG_OP(cert_add)
PG_OP(cert_list)
PG_OP(cert_pem)
PG_OP(current_pem_list)
PG_OP(cert_revoke)
PG_OP(server_cert_add)
PG_OP(server_cert_list)
PG_OP(server_cert_revoke)
PG_OP(event_add)
PG_OP(event_list)
PG_OP(device_net_set)
PG_OP(device_net_list)
PG_OP(device_net_one)
PG_OP(event_list_after)
PG_OP(enroll_ca_add)
PG_OP(enroll_ca_list)
PG_OP(enroll_allow_add)
PG_OP(enroll_remove)
PG_OP(enroll_allow_list)
PG_OP(bootstrap_spend)
PG_OP(bootstrap_spent)
PG_OP(pending_put)
PG_OP(pending_get)
PG_OP(pending_approve)
PG_OP(pending_delete)
PG_OP(pending_list)
PG_OP(publish_put)
PG_OP(publish_get)
PG_OP(publish_list)
PG_OP(baseline_get)
PG_OP(baseline_keep)
PG_OP(baseline_bundle_put)
PG_OP(served_get)
PG_OP(served_put)
PG_OP(timestamp_put)
PG_OP(timestamp_get)
PG_OP(group_set)
PG_OP(group_get)
PG_OP(model_stats)
PG_OP(model_state_list)
PG_OP(model_tally)
PG_OP(rollout_eval_get)
PG_OP(rollout_eval_put)
PG_OP(model_counters)
PG_OP(product_get)
PG_OP(product_put)
PG_OP(product_list)
PG_OP(devstate_get)
PG_OP(devstate_put)
PG_OP(devstate_list)
PG_OP(device_state_list)
PG_OP(bootstrap_list)
PG_OP(refusal_add)
PG_OP(refusal_list)
PG_OP(refusal_changed)
PG_OP(renew_allow_put)
PG_OP(renew_allow_get)
PG_OP(renew_allow_take)
PG_OP(tamper_put)
PG_OP(tamper_get)
PG_OP(tamper_list)
PG_OP(enc_key_put)
PG_OP(enc_key_get)
PG_OP(inventory_list)
PG_OP(device_find)
PG_OP(event_query)
PG_OP(pairing_put)
PG_OP(pairing_get)
PG_OP(pairing_of)
PG_OP(pairing_spend)


#endif
