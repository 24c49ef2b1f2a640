/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PostgreSQL change feed (registry.h): a connection of its own that
 * LISTENs on the channel every event's NOTIFY goes to (PS_EVENT_ADD sends
 * it in the event's transaction), and that holds the session advisory lock
 * of the singleton jobs.
 *
 * Its socket goes into the caller's event loop; a readable socket is a
 * notification or a lost connection, told apart by PQconsumeInput. NOTIFY
 * is not durable: what was sent while the connection was down is lost, so
 * the feed remembers the sequence number of the last event it knew of, and
 * after a reconnection reads the log past it (LISTEN first, then the read:
 * nothing committed in between is missed).
 *
 * The lock is session-level on purpose: the server releases it when the
 * connection ends, so when the leading process dies (or loses its
 * connection) another one takes the lead at its next try. That is also why
 * neither LISTEN nor the lock survive a transaction-pooling pgbouncer: the
 * feed needs a session of its own (docs/SCALING.md).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err_int.h"
#include "pg_int.h"

/* The singleton jobs' lock; distinct from the writers' (pg_core.c). */
#define LEAD_LOCK "7310275126133461105"

struct pg_feed {
	struct pg_be *be;
	int64_t last_seq; /* the last event known of */
	bool leader;
};

/* LISTEN, then the log past last_seq: *changed if anything is there. */
static enum fsec_err subscribe(struct pg_feed *f, bool *changed)
{
	struct pgp a = {0};
	enum fsec_err rc;
	PGresult *r;
	int64_t seq;
	char name[64];

	/* Named in pg_stat_activity, so that an operator sees whose it is. */
	snprintf(name, sizeof(name), "SET application_name = 'fleetsec-feed %ld'", (long)getpid());
	if ((rc = pg_run(f->be, name, NULL, "naming the change feed")) != FSEC_OK ||
	    (rc = pg_run(f->be, "LISTEN " PG_EVENT_CHANNEL, NULL, "listening for events")) !=
		    FSEC_OK)
		return rc;
	pgp_i(&a, f->last_seq);
	if ((r = pg_exec(f->be, "SELECT coalesce(max(seq), $1::bigint) FROM events WHERE seq > $1",
			 &a, "reading the events missed", &rc)) == NULL)
		return rc;
	seq = pg_i64(r, 0, 0);
	PQclear(r);
	if (seq != f->last_seq)
		*changed = true;
	f->last_seq = seq;
	return FSEC_OK;
}

enum fsec_err pg_feed_open(void *p, void **out)
{
	struct pg_be *be = p;
	struct pg_feed *f = calloc(1, sizeof(*f));
	enum fsec_err rc;
	bool changed = false;
	char where[160];

	if (f == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	/* A reader: the feed's session writes nothing, so a standby would do. */
	if ((rc = pg_connect(be->location, true, &f->be, where, sizeof(where))) != FSEC_OK)
		goto fail;
	f->be->pinned = true;
	f->last_seq = -1;
	if ((rc = subscribe(f, &changed)) != FSEC_OK)
		goto fail;
	*out = f;
	return FSEC_OK;
fail:
	pg_feed_free(f);
	return rc;
}

int pg_feed_fd(void *p)
{
	struct pg_feed *f = p;

	return PQsocket(f->be->c);
}

static enum fsec_err lost(struct pg_feed *f)
{
	char line[200];
	size_t n;

	f->leader = false;
	snprintf(line, sizeof(line), "%s", PQerrorMessage(f->be->c));
	n = strcspn(line, "\n");
	line[n] = '\0';
	return fsec_seterr(FSEC_ERR_UNAVAILABLE, "the registry's change feed is lost (%s)", line);
}

enum fsec_err pg_feed_poll(void *p, bool *changed)
{
	struct pg_feed *f = p;
	PGnotify *n;

	if (PQconsumeInput(f->be->c) == 0 || PQstatus(f->be->c) != CONNECTION_OK)
		return lost(f);
	while ((n = PQnotifies(f->be->c)) != NULL) {
		int64_t seq = strtoll(n->extra, NULL, 10);

		if (seq > f->last_seq)
			f->last_seq = seq;
		*changed = true;
		PQfreemem(n);
	}
	return FSEC_OK;
}

enum fsec_err pg_feed_reconnect(void *p, bool *changed)
{
	struct pg_feed *f = p;

	f->leader = false;
	PQreset(f->be->c);
	if (PQstatus(f->be->c) != CONNECTION_OK)
		return lost(f);
	return subscribe(f, changed);
}

enum fsec_err pg_feed_lead(void *p, bool *leader)
{
	struct pg_feed *f = p;
	enum fsec_err rc = FSEC_OK;
	PGresult *r;

	if (PQstatus(f->be->c) != CONNECTION_OK)
		return lost(f);
	/* Held for the session: asked again, it would be taken twice. */
	if (!f->leader) {
		if ((r = pg_exec(f->be, "SELECT pg_try_advisory_lock(" LEAD_LOCK ")", NULL,
				 "taking the lead of the singleton jobs", &rc)) == NULL)
			return rc;
		f->leader = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
	}
	*leader = f->leader;
	return FSEC_OK;
}

void pg_feed_free(void *p)
{
	struct pg_feed *f = p;

	if (f == NULL)
		return;
	pg_close(f->be);
	free(f);
}
