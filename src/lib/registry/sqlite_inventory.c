/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite registry's inventory queries: devices with their state, group
 * and addresses, filtered in SQL (the CLI never loads the fleet to filter
 * it); finding a device by any identifier a record holds; and the event log
 * filtered and followed. Each statement is built from the filters given and
 * prepared per call (one call per command), so that an unused filter adds
 * no clause that would keep SQLite from an index.
 */

#include <stdio.h>
#include <string.h>

#include "err_int.h"
#include "sqlite_int.h"

/* The binds of a statement being built: a clause appends "?N" and its value. */
#define MAX_BINDS 12
struct binds {
	int n;
	enum { B_TEXT, B_INT } kind[MAX_BINDS];
	const char *text[MAX_BINDS];
	int64_t num[MAX_BINDS];
};

/* Append clause, then its parameter "?N" bound to text t. */
static void add_text(char *sql, size_t cap, struct binds *b, const char *clause, const char *t)
{
	size_t len = strlen(sql);

	b->kind[b->n] = B_TEXT;
	b->text[b->n] = t;
	b->n++;
	snprintf(sql + len, cap - len, "%s?%d", clause, b->n);
}

static void add_int(char *sql, size_t cap, struct binds *b, const char *clause, int64_t v)
{
	size_t len = strlen(sql);

	b->kind[b->n] = B_INT;
	b->num[b->n] = v;
	b->n++;
	snprintf(sql + len, cap - len, "%s?%d", clause, b->n);
}

static void add_sql(char *sql, size_t cap, const char *text)
{
	size_t len = strlen(sql);

	snprintf(sql + len, cap - len, "%s", text);
}

/* Prepare sql (which must have fit in cap) and bind b. */
static enum fsec_err prepare(struct sqlite_be *be, const char *sql, size_t cap,
                             const struct binds *b, sqlite3_stmt **out)
{
	sqlite3_stmt *s = NULL;
	int r;

	if (strlen(sql) + 1 >= cap)
		return fsec_seterr(FSEC_ERR_OVERFLOW, "registry: query too long");
	r = sqlite3_prepare_v2(be->db, sql, -1, &s, NULL);
	if (r != SQLITE_OK)
		return sq_err(be, r, "preparing a registry query");
	for (int i = 0; i < b->n; i++) {
		if (b->kind[i] == B_TEXT)
			sqlite3_bind_text(s, i + 1, b->text[i], -1, SQLITE_STATIC);
		else
			sqlite3_bind_int64(s, i + 1, b->num[i]);
	}
	*out = s;
	return FSEC_OK;
}

/* The rows of a statement prepared here, each to l->row; finalized after. */
static enum fsec_err run_rows(struct sqlite_be *be, sqlite3_stmt *s, const struct sq_listing *l,
                              void *cb, void *ctx)
{
	enum fsec_err rc = sq_rows(be, s, l, cb, ctx);

	sqlite3_finalize(s);
	return rc;
}

/*
 * fsec_registry_fw_outdated() in SQL, over the aliases s (device_state)
 * and p (products): reported, a release recorded, and a lower counter.
 */
#define OUTDATED_SQL                                                                               \
	"(s.device_id IS NOT NULL AND p.release_counter >= 0"                                      \
	" AND s.security_counter < p.release_counter)"

/* Columns 0-10 a device (sq_read_device), 11-27 its state (NULL device_id:
 * never reported), then group, MAC, IP and whether it is outdated. */
#define INVENTORY_SELECT                                                                           \
	"SELECT d.id, d.model, d.status, ifnull(d.serial,''), ifnull(d.fingerprint,''),"           \
	" ifnull(d.spki_sha256,''), ifnull(d.issued_at,0), ifnull(d.expires_at,0),"                \
	" d.provisioning, d.created_at, d.updated_at,"                                             \
	" s.device_id, ifnull(s.first_seen,0), ifnull(s.last_seen,0),"                             \
	" ifnull(s.fw_version,''), ifnull(s.security_counter,0), ifnull(s.update_outcome,''),"     \
	" ifnull(s.update_at,0), ifnull(s.update_ok_at,0), ifnull(s.debug_jtag,''),"               \
	" ifnull(s.debug_uart,''), ifnull(s.debug_at,0), ifnull(s.frozen,-1),"                     \
	" ifnull(s.fresh_at,0), ifnull(s.update_state,''), ifnull(s.pending_version,''),"          \
	" ifnull(s.outcome_image,''), ifnull(s.outcome_reason,''),"                                \
	" ifnull(g.grp,''), ifnull(n.mac,''), ifnull(n.ip,''), " OUTDATED_SQL                      \
	" FROM devices d LEFT JOIN device_state s ON s.device_id = d.id"                           \
	" LEFT JOIN device_groups g ON g.device_id = d.id"                                         \
	" LEFT JOIN device_net n ON n.device_id = d.id"                                            \
	" LEFT JOIN products p ON p.model = d.model WHERE 1"

static int row_inventory(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_inventory_rec r;
	enum fsec_err rc;

	memset(&r, 0, sizeof(r));
	if ((rc = sq_read_device(s, &r.dev)) != FSEC_OK)
		return sq_row_fail(rc);
	r.reported = sqlite3_column_type(s, 11) != SQLITE_NULL;
	if (r.reported && (rc = sq_read_state_at(s, 11, &r.state)) != FSEC_OK)
		return sq_row_fail(rc);
	sq_text(s, 28, r.group, sizeof(r.group));
	sq_text(s, 29, r.mac, sizeof(r.mac));
	sq_text(s, 30, r.ip, sizeof(r.ip));
	r.outdated = sqlite3_column_int(s, 31) != 0;
	return ((fsec_inventory_cb)cb)(&r, ctx);
}

static const struct sq_listing list_inventory = {0, "listing the inventory", false, row_inventory};

enum fsec_err sq_inventory_list(void *p, const struct fsec_inventory_query *q, const char *id,
                                fsec_inventory_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct binds b = {0};
	char sql[2048] = INVENTORY_SELECT;
	sqlite3_stmt *s = NULL;
	enum fsec_err rc;

	if (id != NULL)
		add_text(sql, sizeof(sql), &b, " AND d.id = ", id);
	if (q->status != 0)
		add_text(sql, sizeof(sql), &b, " AND d.status = ", fsec_dev_status_name(q->status));
	if (q->model != NULL)
		add_text(sql, sizeof(sql), &b, " AND d.model = ", q->model);
	if (q->group != NULL)
		add_text(sql, sizeof(sql), &b, " AND g.grp = ", q->group);
	if (q->mfr_ca != NULL) {
		add_text(sql, sizeof(sql), &b, " AND d.id IN (SELECT device_id FROM bootstrap_spent"
			 " WHERE ca_fingerprint = ", q->mfr_ca);
		add_sql(sql, sizeof(sql), ")");
	}
	if (q->fw_version != NULL)
		add_text(sql, sizeof(sql), &b, " AND s.fw_version = ", q->fw_version);
	if (q->by_seen_before)
		add_int(sql, sizeof(sql), &b, " AND s.last_seen < ", q->seen_before);
	if (q->by_seen_after)
		add_int(sql, sizeof(sql), &b, " AND s.last_seen > ", q->seen_after);
	if (q->by_expires_before)
		add_int(sql, sizeof(sql), &b,
		        " AND d.expires_at > 0 AND d.expires_at <= ", q->expires_before);
	if (q->outdated)
		add_sql(sql, sizeof(sql), " AND " OUTDATED_SQL);
	if (q->update_state != NULL)
		add_text(sql, sizeof(sql), &b,
		         " AND ifnull(s.update_state,'') = ", q->update_state);
	if (q->by_outcome)
		add_text(sql, sizeof(sql), &b, " AND ifnull(s.update_outcome,'') = ",
		         fsec_update_outcome_name(q->outcome));
	add_sql(sql, sizeof(sql), " ORDER BY d.id");
	if ((rc = prepare(be, sql, sizeof(sql), &b, &s)) != FSEC_OK)
		return rc;
	return run_rows(be, s, &list_inventory, (void *)cb, ctx);
}

static int row_find(sqlite3_stmt *s, void *cb, void *ctx)
{
	char id[FSEC_DEVID_MAX + 1];

	sq_text(s, 1, id, sizeof(id));
	return ((fsec_find_cb)cb)((enum fsec_find_kind)sqlite3_column_int(s, 0), id, ctx);
}

static const struct sq_listing list_find = {0, "finding a device", false, row_find};

/* Every branch is a lookup on a primary key, a UNIQUE column or an index;
 * the first column is the enum fsec_find_kind. */
enum fsec_err sq_device_find(void *p, const char *id, const char *serial, const char *hex,
                             const char *mac, fsec_find_cb cb, void *ctx)
{
	struct sqlite_be *be = p;
	struct binds b = {0};
	char sql[1024] = "";
	sqlite3_stmt *s = NULL;
	enum fsec_err rc;

	_Static_assert(FSEC_FIND_ID == 1 && FSEC_FIND_SERIAL == 2 && FSEC_FIND_FINGERPRINT == 3 &&
	                   FSEC_FIND_SPKI == 4 && FSEC_FIND_MAC == 5 && FSEC_FIND_IP == 6,
	               "the kinds below are written as numbers");
	add_text(sql, sizeof(sql), &b, "SELECT 1, id FROM devices WHERE id = ", id);
	add_text(sql, sizeof(sql), &b,
	         " UNION SELECT 6, device_id FROM device_net WHERE ip = ", id);
	add_text(sql, sizeof(sql), &b,
	         " UNION SELECT 5, device_id FROM device_net WHERE mac = ", mac);
	if (serial[0] != '\0')
		add_text(sql, sizeof(sql), &b,
		         " UNION SELECT 2, device_id FROM certificates WHERE serial = ", serial);
	if (hex[0] != '\0') {
		add_text(sql, sizeof(sql), &b,
		         " UNION SELECT 3, device_id FROM certificates WHERE fingerprint = ", hex);
		add_text(sql, sizeof(sql), &b,
		         " UNION SELECT 4, device_id FROM certificates WHERE spki_sha256 = ", hex);
	}
	add_sql(sql, sizeof(sql), " ORDER BY 1, 2");
	if ((rc = prepare(be, sql, sizeof(sql), &b, &s)) != FSEC_OK)
		return rc;
	return run_rows(be, s, &list_find, (void *)cb, ctx);
}

static int row_event(sqlite3_stmt *s, void *cb, void *ctx)
{
	struct fsec_event_rec r;

	sq_read_event(s, &r);
	return ((fsec_event_cb)cb)(&r, ctx);
}

static const struct sq_listing list_events = {0, "listing events", false, row_event};

enum fsec_err sq_event_query(void *p, const struct fsec_event_filter *f, fsec_event_cb cb,
                             void *ctx)
{
	struct sqlite_be *be = p;
	struct binds b = {0};
	char sql[1024] = "";
	sqlite3_stmt *s = NULL;
	enum fsec_err rc;

	/* With last: the newest N, read back in order. */
	if (f->last != 0)
		add_sql(sql, sizeof(sql), "SELECT * FROM (");
	add_sql(sql, sizeof(sql),
	        "SELECT seq, at, actor, action, ifnull(device_id,''), detail"
	        " FROM events WHERE 1");
	if (f->device_id != NULL)
		add_text(sql, sizeof(sql), &b, " AND device_id = ", f->device_id);
	if (f->action != NULL)
		add_text(sql, sizeof(sql), &b, " AND action = ", f->action);
	if (f->since != 0)
		add_int(sql, sizeof(sql), &b, " AND at >= ", f->since);
	if (f->after_seq != 0)
		add_int(sql, sizeof(sql), &b, " AND seq > ", f->after_seq);
	if (f->last != 0) {
		add_int(sql, sizeof(sql), &b, " ORDER BY seq DESC LIMIT ", (int64_t)f->last);
		add_sql(sql, sizeof(sql), ")");
	}
	add_sql(sql, sizeof(sql), " ORDER BY seq");
	if ((rc = prepare(be, sql, sizeof(sql), &b, &s)) != FSEC_OK)
		return rc;
	return run_rows(be, s, &list_events, (void *)cb, ctx);
}
