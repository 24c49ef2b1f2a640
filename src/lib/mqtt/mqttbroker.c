/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A broker's sessions (mqtt.h). Authentication is fleetsecd's own peer check
 * (fsec_est_peer): one rule for who is a device, wherever it connects. A
 * session keeps the certificate it connected with, so that when the event
 * log says something happened to its device, the same check can be made
 * again and the connection dropped if it no longer passes. Sessions are
 * found by device ID, the username the broker gives the connection.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "err_int.h"
#include "pem_int.h"
#include "fleetsec/est.h"
#include "fleetsec/ca.h"
#include "fleetsec/fleet.h"
#include "fleetsec/identity.h"
#include "fleetsec/mqtt.h"
#include "fleetsec/names.h"
#include "fleetsec/privacy.h"
#include "fleetsec/registry.h"

/* Buckets of the session table: a power of two, doubled as it fills. */
#define BUCKETS_MIN 256u

struct session {
	const void *conn;
	char id[FSEC_DEVID_MAX + 1]; /* the device ID, or a role client's ROLE:NAME */
	char role[FSEC_ROLE_MAX];    /* "" for a device */
	char model[FSEC_MODEL_MAX + 1];
	char group[FSEC_GROUP_MAX + 1];
	X509 *cert;
	bool refused;  /* failed a re-check; denied everything until gone */
	bool recheck;  /* named by an event since the last poll */
	char *kick_why; /* refused, and the broker not told yet: why */
	bool gone;      /* disconnected: kept until the next poll (its will) */
	int64_t not_after; /* the certificate's expiry */
	struct session *next;
};

struct retained {
	char *topic;
	int64_t deadline;
};

struct fsec_mqtt_broker {
	struct fsec_fleet *fleet;
	struct fsec_registry *reg;
	struct fsec_est *est;
	char *policy_path;
	struct fsec_mqtt_policy *policy;
	char *control;                      /* the control topic; NULL: none */
	char *privacy_path;                 /* NULL: no privacy filter */
	struct fsec_privacy_policy *privacy;
	struct fsec_privacy_stats *stats;
	/* Retained copies the privacy policy gives an expiry: their topics and
	 * deadlines, in arrival order of their latest retained message. */
	struct retained *retained;
	size_t nretained, capretained;
	struct session **buckets;
	size_t nbuckets, n;
	int64_t cursor;          /* the last event read */
	uint64_t data_version;   /* the registry's, at the last whole poll */
	/* PostgreSQL's change feed (registry.h), NULL on SQLite: a poll then
	 * costs a read of a socket with nothing on it, not a query, and only
	 * events (what the poll looks for) wake it, not every write in the
	 * cluster. While it is lost, peer checks fail (fsec_est_feed) and it
	 * is reconnected at most once a second. */
	struct fsec_registry_feed *feed;
	bool feed_lost;
	int64_t feed_retry;
	/* The feed said something changed and no poll has read the log whole
	 * since: the notification is consumed, so this remembers it (as the
	 * data version does on SQLite, recorded only by a whole poll). */
	bool feed_pending;
	/* Re-checks owed: sessions marked (or all) by events already read,
	 * kept across a poll that failed half-way. */
	bool owe_all;
	size_t owed;
	size_t kicks_owed; /* sessions with kick_why */
	size_t gone;       /* sessions marked gone */
	int64_t expiry_scan; /* when sessions were last checked for expiry */
};

/* FNV-1a: IDs are short, and the broker's clients cannot choose them (they
 * come from certificates the fleet CA issued). */
static size_t hash_id(const char *id, size_t nbuckets)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 0x100000001b3ull;
	return (size_t)(h & (nbuckets - 1));
}

static void session_free(struct session *s)
{
	if (s == NULL)
		return;
	X509_free(s->cert);
	free(s->kick_why);
	free(s);
}

static int last_event(const struct fsec_event_rec *rec, void *ctx)
{
	*(int64_t *)ctx = rec->seq;
	return 0;
}

FSEC_API void fsec_mqtt_broker_free(struct fsec_mqtt_broker *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->nbuckets; i++) {
		struct session *s = b->buckets[i];

		while (s != NULL) {
			struct session *next = s->next;

			session_free(s);
			s = next;
		}
	}
	free(b->buckets);
	fsec_mqtt_policy_free(b->policy);
	free(b->policy_path);
	fsec_privacy_free(b->privacy);
	fsec_privacy_stats_free(b->stats);
	free(b->privacy_path);
	free(b->control);
	for (size_t i = 0; i < b->nretained; i++)
		free(b->retained[i].topic);
	free(b->retained);
	fsec_registry_feed_free(b->feed);
	fsec_est_free(b->est);
	fsec_fleet_free(b->fleet);
	free(b);
}

FSEC_API enum fsec_err fsec_mqtt_broker_new(const char *home, const char *policy,
					    struct fsec_mqtt_broker **out)
{
	struct fsec_mqtt_broker *b = calloc(1, sizeof(*b));
	struct fsec_event_filter last = {.last = 1};
	enum fsec_err rc;

	*out = NULL;
	if (b == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	b->nbuckets = BUCKETS_MIN;
	b->buckets = calloc(b->nbuckets, sizeof(*b->buckets));
	if (b->buckets == NULL || (policy != NULL && (b->policy_path = strdup(policy)) == NULL)) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if ((rc = fsec_mqtt_policy_load(policy, &b->policy)) != FSEC_OK ||
	    (rc = fsec_fleet_open_readonly(home, &b->fleet)) != FSEC_OK)
		goto fail;
	b->reg = fsec_fleet_get_registry(b->fleet);
	/* The poll follows the log from now: what happened before a session
	 * existed was judged when it connected. */
	if ((rc = fsec_est_new(b->fleet, &b->est)) != FSEC_OK ||
	    (rc = fsec_registry_event_query(b->reg, &last, last_event, &b->cursor)) != FSEC_OK ||
	    (rc = fsec_registry_data_version(b->reg, &b->data_version)) != FSEC_OK ||
	    (rc = fsec_registry_feed_open(b->reg, &b->feed)) != FSEC_OK)
		goto fail;
	if (b->feed != NULL)
		fsec_est_feed(b->est, FSEC_EST_FEED_EVENT);
	*out = b;
	return FSEC_OK;
fail:
	fsec_mqtt_broker_free(b);
	return rc;
}

FSEC_API enum fsec_err fsec_mqtt_broker_set_privacy(struct fsec_mqtt_broker *b, const char *path)
{
	struct fsec_privacy_policy *p = NULL;
	char *copy = NULL;
	enum fsec_err rc;

	if (b->stats == NULL && (rc = fsec_privacy_stats_new(&b->stats)) != FSEC_OK)
		return rc;
	if ((copy = strdup(path)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = fsec_privacy_load(path, &p)) != FSEC_OK) {
		free(copy);
		return rc;
	}
	fsec_privacy_free(b->privacy);
	free(b->privacy_path);
	b->privacy = p;
	b->privacy_path = copy;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_mqtt_broker_reload(struct fsec_mqtt_broker *b)
{
	struct fsec_mqtt_policy *p;
	struct fsec_privacy_policy *pv = NULL;
	enum fsec_err rc = fsec_mqtt_policy_load(b->policy_path, &p);

	if (rc != FSEC_OK)
		return rc;
	/* Both files or neither: a half-applied reload would be a policy
	 * nobody wrote. */
	if (b->privacy_path != NULL && (rc = fsec_privacy_load(b->privacy_path, &pv)) != FSEC_OK) {
		fsec_mqtt_policy_free(p);
		return rc;
	}
	fsec_mqtt_policy_free(b->policy);
	b->policy = p;
	if (b->privacy_path != NULL) {
		fsec_privacy_free(b->privacy);
		b->privacy = pv;
	}
	return FSEC_OK;
}

FSEC_API size_t fsec_mqtt_broker_sessions(const struct fsec_mqtt_broker *b)
{
	return b->n;
}

static struct session **find(struct fsec_mqtt_broker *b, const void *conn, const char *id)
{
	struct session **pp = &b->buckets[hash_id(id, b->nbuckets)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->conn == conn && strcmp((*pp)->id, id) == 0)
			return pp;
	return NULL;
}

static void unlink_session(struct fsec_mqtt_broker *b, struct session **pp)
{
	struct session *s = *pp;

	*pp = s->next;
	if (s->recheck)
		b->owed--;
	if (s->kick_why != NULL)
		b->kicks_owed--;
	if (s->gone)
		b->gone--;
	session_free(s);
	b->n--;
}

/* Double the table when it holds twice as many sessions as buckets, so that
 * a chain stays short whatever the fleet's size. A failed grow keeps the
 * old table: only slower. */
static void grow(struct fsec_mqtt_broker *b)
{
	size_t nb;
	struct session **nt;

	if (b->n < 2 * b->nbuckets || fsec_mul_overflow(b->nbuckets, (size_t)2, &nb))
		return;
	nt = calloc(nb, sizeof(*nt));
	if (nt == NULL)
		return;
	for (size_t i = 0; i < b->nbuckets; i++) {
		struct session *s = b->buckets[i];

		while (s != NULL) {
			struct session *next = s->next;
			size_t h = hash_id(s->id, nb);

			s->next = nt[h];
			nt[h] = s;
			s = next;
		}
	}
	free(b->buckets);
	b->buckets = nt;
	b->nbuckets = nb;
}

FSEC_API enum fsec_err fsec_mqtt_admit(struct fsec_est *e, struct fsec_registry *reg, X509 *cert,
				      const char *client_id, struct fsec_mqtt_admission *out)
{
	struct fsec_est_peer p;
	struct fsec_device_rec dev;
	enum fsec_err rc;

	memset(out, 0, sizeof(*out));
	if (cert == NULL) {
		snprintf(out->reason, sizeof(out->reason), "no client certificate");
		return FSEC_OK;
	}
	if ((rc = fsec_est_peer(e, cert, NULL, &p)) != FSEC_OK)
		return rc;
	switch (p.kind) {
	case FSEC_EST_PEER_DEVICE:
		break;
	case FSEC_EST_PEER_ROLE:
		if (!fsec_role_mqtt_client(p.role)) {
			snprintf(out->reason, sizeof(out->reason),
				 "a %s certificate (%s) is not an MQTT client's", p.role, p.id);
			return FSEC_OK;
		}
		if (client_id == NULL || strcmp(client_id, p.id) != 0) {
			snprintf(out->reason, sizeof(out->reason), "client ID '%.64s' is not %s",
				 client_id != NULL ? client_id : "", p.id);
			return FSEC_OK;
		}
		snprintf(out->id, sizeof(out->id), "%s", p.id);
		snprintf(out->role, sizeof(out->role), "%s", p.role);
		out->not_after = p.not_after;
		out->ok = true;
		return FSEC_OK;
	case FSEC_EST_PEER_BOOTSTRAP:
		snprintf(out->reason, sizeof(out->reason),
			 "a bootstrap (manufacturer) certificate of %s: enroll for a fleet "
			 "certificate first",
			 p.id);
		return FSEC_OK;
	case FSEC_EST_PEER_REFUSED:
		snprintf(out->reason, sizeof(out->reason), "%s", p.reason);
		return FSEC_OK;
	case FSEC_EST_PEER_PAIRED:
		snprintf(out->reason, sizeof(out->reason),
			 "a paired key of %s: enroll for a fleet certificate first", p.id);
		return FSEC_OK;
	default:
		snprintf(out->reason, sizeof(out->reason), "no client certificate");
		return FSEC_OK;
	}
	/* A device may only use its own session: with another's client ID it
	 * could take that device's session (and its queued messages) over. */
	if (client_id == NULL || strcmp(client_id, p.id) != 0) {
		snprintf(out->reason, sizeof(out->reason), "client ID '%.64s' is not device %s's ID",
			 client_id != NULL ? client_id : "", p.id);
		return FSEC_OK;
	}
	rc = fsec_registry_device_get(reg, p.id, &dev);
	if (rc == FSEC_OK)
		rc = fsec_registry_group_get(reg, p.id, out->group);
	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
		out->group[0] = '\0';
		snprintf(out->reason, sizeof(out->reason), "device %s is no longer in the registry",
			 p.id);
		return FSEC_OK;
	}
	if (rc != FSEC_OK)
		return rc;
	snprintf(out->id, sizeof(out->id), "%s", p.id);
	snprintf(out->model, sizeof(out->model), "%s", dev.model);
	out->not_after = p.not_after;
	out->ok = true;
	return FSEC_OK;
}

/* The check a session passes to connect and to stay (fsec_mqtt_admit),
 * written into s when it passes; *ok false with reason otherwise. */
static enum fsec_err check(struct fsec_mqtt_broker *b, X509 *cert, const char *client_id,
			   struct session *s, bool *ok, char *reason, size_t reason_len)
{
	struct fsec_mqtt_admission a;
	enum fsec_err rc;

	*ok = false;
	if ((rc = fsec_mqtt_admit(b->est, b->reg, cert, client_id, &a)) != FSEC_OK)
		return rc;
	if (!a.ok) {
		snprintf(reason, reason_len, "%s", a.reason);
		return FSEC_OK;
	}
	memcpy(s->id, a.id, sizeof(s->id));
	memcpy(s->role, a.role, sizeof(s->role));
	memcpy(s->model, a.model, sizeof(s->model));
	memcpy(s->group, a.group, sizeof(s->group));
	*ok = true;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_mqtt_broker_auth(struct fsec_mqtt_broker *b, const void *conn,
					     X509 *cert, const char *client_id, bool *allowed,
					     char *reason, size_t reason_len,
					     char device_id[FSEC_DEVID_MAX + 1])
{
	struct session *s = calloc(1, sizeof(*s)), **old;
	enum fsec_err rc;
	bool ok = false;

	*allowed = false;
	device_id[0] = '\0';
	if (s == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = check(b, cert, client_id, s, &ok, reason, reason_len)) != FSEC_OK || !ok) {
		session_free(s);
		/* A re-authentication (the broker's reload) that fails ends
		 * the session too: the broker disconnects it. */
		if (rc == FSEC_OK && client_id != NULL && (old = find(b, conn, client_id)) != NULL)
			unlink_session(b, old);
		return rc;
	}
	s->conn = conn;
	if (!X509_up_ref(cert)) {
		session_free(s);
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	s->cert = cert;
	{
		struct tm tm;

		s->not_after = ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) ? (int64_t)timegm(&tm)
									      : 0;
	}
	if ((old = find(b, conn, s->id)) != NULL)
		unlink_session(b, old);
	grow(b);
	{
		size_t h = hash_id(s->id, b->nbuckets);

		s->next = b->buckets[h];
		b->buckets[h] = s;
		b->n++;
	}
	memcpy(device_id, s->id, sizeof(s->id));
	*allowed = true;
	return FSEC_OK;
}

/* Is there an unrevoked, unexpired certificate of role and name? The
 * newest decides what the explanation says when there is none. */
struct role_any {
	const char *role, *name;
	bool found, usable;
	char serial[FSEC_SERIAL_HEX_LEN];
};

static int find_role_any(const struct fsec_server_cert_rec *c, void *arg)
{
	struct role_any *ra = arg;

	if (strcmp(c->role, ra->role) != 0 || strcmp(c->name, ra->name) != 0)
		return 0;
	ra->found = true;
	snprintf(ra->serial, sizeof(ra->serial), "%s", c->serial);
	if (!c->revoked) {
		ra->usable = true;
		return 1;
	}
	return 0;
}

/* fsec_mqtt_broker_explain for the role client ROLE:NAME: admitted with
 * any certificate of that role and name the registry holds unrevoked and
 * unexpired (check_role's test at connect), then judged by the policy's
 * [role ROLE] rules. */
static enum fsec_err explain_role(struct fsec_mqtt_broker *b, const char *client,
				  enum fsec_mqtt_access access, const char *topic,
				  struct fsec_mqtt_explain *out)
{
	const char *colon = strchr(client, ':');
	char role[FSEC_ROLE_MAX];
	struct role_any ra = {.role = role, .name = colon + 1};
	struct fsec_mqtt_subject who = {0};
	size_t rlen = (size_t)(colon - client);
	enum fsec_err rc;

	if (rlen >= sizeof(role))
		return fsec_seterr(FSEC_ERR_NOTFOUND, "'%.64s': no such role", client);
	memcpy(role, client, rlen);
	role[rlen] = '\0';
	if (!fsec_role_mqtt_client(role))
		return fsec_seterr(FSEC_ERR_NOTFOUND, "'%.64s': no such role (backend, operator)",
				   client);
	if ((rc = fsec_registry_server_cert_list(b->reg, (int64_t)time(NULL), false, find_role_any,
						 &ra)) != FSEC_OK)
		return rc;
	out->admitted = ra.usable;
	if (!ra.found)
		snprintf(out->refused, sizeof(out->refused),
			 "no unexpired %s certificate of %.32s (fleetsec ca client-cert)", role,
			 ra.name);
	else if (!ra.usable)
		snprintf(out->refused, sizeof(out->refused), "%s certificate %s of %.32s is revoked",
			 role, ra.serial, ra.name);
	who.role = role;
	out->allow = fsec_mqtt_decide(b->policy, &who, access, topic, &out->why) && ra.usable;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_mqtt_broker_explain(struct fsec_mqtt_broker *b, const char *device_id,
					       enum fsec_mqtt_access access, const char *topic,
					       struct fsec_mqtt_explain *out)
{
	struct fsec_device_rec dev;
	struct fsec_mqtt_subject who;
	struct session s;
	X509 *cert = NULL;
	char *pem = NULL;
	bool ok = false;
	enum fsec_err rc;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	/* ':' is in no device ID: ROLE:NAME is a role client's. */
	if (strchr(device_id, ':') != NULL)
		return explain_role(b, device_id, access, topic, out);
	if ((rc = fsec_registry_device_get(b->reg, device_id, &dev)) != FSEC_OK ||
	    (rc = fsec_registry_group_get(b->reg, dev.id, out->group)) != FSEC_OK)
		goto out;
	snprintf(out->model, sizeof(out->model), "%s", dev.model);
	/* The device connects with its current certificate and its own ID as
	 * the client ID: judge that as fsec_mqtt_broker_auth does. */
	if ((rc = fsec_registry_cert_pem(b->reg, dev.serial, &pem)) != FSEC_OK ||
	    (rc = fsec_pem_cert_parse(pem, strlen(pem), dev.serial, &cert)) != FSEC_OK ||
	    (rc = check(b, cert, dev.id, &s, &ok, out->refused, sizeof(out->refused))) != FSEC_OK)
		goto out;
	out->admitted = ok;
	memset(&who, 0, sizeof(who));
	who.id = dev.id;
	who.model = dev.model;
	who.group = out->group;
	out->allow = fsec_mqtt_decide(b->policy, &who, access, topic, &out->why);
	/* The policy's rule stays in why; a device refused at connect gets
	 * nothing whatever it says. */
	if (!ok)
		out->allow = false;
	else
		out->refused[0] = '\0';
out:
	X509_free(cert);
	free(pem);
	return rc;
}

FSEC_API void fsec_mqtt_broker_gone(struct fsec_mqtt_broker *b, const void *conn,
				    const char *device_id)
{
	struct session **pp;

	if (device_id == NULL || device_id[0] == '\0')
		return;
	/* Mosquitto checks the connection's will (ACL_CHECK, write) right after
	 * telling the plugin it disconnected: the session must still decide
	 * it, as itself. The next poll frees it. */
	if ((pp = find(b, conn, device_id)) != NULL && !(*pp)->gone) {
		(*pp)->gone = true;
		b->gone++;
	}
}

/* Free the sessions marked gone. */
static void sweep_gone(struct fsec_mqtt_broker *b)
{
	for (size_t i = 0; i < b->nbuckets && b->gone > 0; i++) {
		struct session **pp = &b->buckets[i];

		while (*pp != NULL) {
			if ((*pp)->gone)
				unlink_session(b, pp);
			else
				pp = &(*pp)->next;
		}
	}
}

/* Every minute, mark the sessions whose certificate expired since they
 * connected: no registry event says so, and fsec_est_peer refuses them. */
static void mark_expired(struct fsec_mqtt_broker *b, int64_t now)
{
	if (now - b->expiry_scan < 60)
		return;
	b->expiry_scan = now;
	for (size_t i = 0; i < b->nbuckets; i++)
		for (struct session *s = b->buckets[i]; s != NULL; s = s->next)
			if (!s->refused && !s->recheck && s->not_after <= now) {
				s->recheck = true;
				b->owed++;
			}
}

FSEC_API bool fsec_mqtt_broker_acl(struct fsec_mqtt_broker *b, const void *conn,
				   const char *device_id, enum fsec_mqtt_access access,
				   const char *topic, struct fsec_mqtt_why *why)
{
	struct session **pp = NULL;
	struct fsec_mqtt_subject who;

	if (device_id != NULL && device_id[0] != '\0')
		pp = find(b, conn, device_id);
	if (pp == NULL || (*pp)->refused) {
		if (why != NULL)
			snprintf(why->rule, sizeof(why->rule), "%s",
				 pp == NULL ? "no authenticated session: denied"
					    : "the device was refused since it connected: denied");
		return false;
	}
	memset(&who, 0, sizeof(who));
	if ((*pp)->role[0] != '\0') {
		who.role = (*pp)->role;
	} else {
		who.id = (*pp)->id;
		who.model = (*pp)->model;
		who.group = (*pp)->group;
	}
	if (b->control != NULL && strcmp(topic, b->control) == 0) {
		/* Kicks come from role clients only; nobody reads them. */
		bool ok = access == FSEC_MQTT_PUBLISH && who.role != NULL;

		if (why != NULL)
			snprintf(why->rule, sizeof(why->rule), "the control topic %s: %s",
				 ok ? "published by a role client" : "role clients publish only",
				 ok ? "allowed" : "denied");
		return ok;
	}
	/* A will is judged here after the connection ended, and Mosquitto
	 * publishes it without MOSQ_EVT_MESSAGE: the privacy filter would never
	 * see it, so a device's on a policed topic does not go out (a role
	 * client's passes, as its messages pass the filter). */
	if (access == FSEC_MQTT_PUBLISH && (*pp)->gone && b->privacy != NULL &&
	    (*pp)->role[0] == '\0' && fsec_privacy_match(b->privacy, &who, topic) != NULL) {
		if (why != NULL)
			snprintf(why->rule, sizeof(why->rule), "%s",
				 "a will on a topic with a privacy policy: denied");
		return false;
	}
	return fsec_mqtt_decide(b->policy, &who, access, topic, why);
}

FSEC_API enum fsec_err fsec_mqtt_broker_privacy(struct fsec_mqtt_broker *b, const void *conn,
						const char *device_id, const char *topic,
						const void *payload, size_t len, bool retain,
						char **out, size_t *out_len,
						struct fsec_privacy_result *res)
{
	struct session **pp = NULL;
	struct fsec_mqtt_subject who;
	enum fsec_err rc;

	*out = NULL;
	*out_len = 0;
	memset(res, 0, sizeof(*res));
	res->verdict = FSEC_PRIVACY_PASS;
	if (b->privacy == NULL)
		return FSEC_OK;
	if (device_id != NULL && device_id[0] != '\0')
		pp = find(b, conn, device_id);
	if (pp == NULL) {
		/* The topic policy let no one without a session publish. */
		res->verdict = FSEC_PRIVACY_DROP;
		snprintf(res->reason, sizeof(res->reason), "no authenticated session");
		return FSEC_OK;
	}
	/* The policy is per model: it says what devices collect. A backend's
	 * or operator's message (a command, a note) is no device's data, and
	 * an [all] block whose template names no device must not drop it. */
	if ((*pp)->role[0] != '\0')
		return FSEC_OK;
	memset(&who, 0, sizeof(who));
	who.id = (*pp)->id;
	who.model = (*pp)->model;
	who.group = (*pp)->group;
	rc = fsec_privacy_filter(b->privacy, &who, topic, payload, len, retain, out, out_len, res);
	/* A lost count (NOMEM) is not worth a lost message. */
	if (rc == FSEC_OK && fsec_privacy_stats_add(b->stats, who.model, res) != FSEC_OK)
		fsec_clearerr();
	return rc;
}

FSEC_API struct fsec_privacy_stats *fsec_mqtt_broker_privacy_stats(struct fsec_mqtt_broker *b)
{
	return b->stats;
}

/* A retained copy per topic at most, so the table is bounded by the topics
 * devices may publish to; the cap bounds a bug or a flood of topics. */
#define RETAINED_MAX 1000000u

FSEC_API enum fsec_err fsec_mqtt_broker_retained(struct fsec_mqtt_broker *b, const char *topic,
						 uint32_t expiry_s, int64_t now)
{
	size_t i;

	/* The table is scanned: a broker holds one entry per retained topic
	 * under an expiry, and this runs only for retained messages. */
	for (i = 0; i < b->nretained; i++)
		if (strcmp(b->retained[i].topic, topic) == 0)
			break;
	if (expiry_s == 0) {
		/* The newer retained message has no expiry (or clears it). */
		if (i < b->nretained) {
			free(b->retained[i].topic);
			b->retained[i] = b->retained[--b->nretained];
		}
		return FSEC_OK;
	}
	if (i == b->nretained) {
		char *t;

		if (b->nretained == RETAINED_MAX)
			return fsec_seterr(FSEC_ERR_TOO_LARGE, "over %u retained topics with an expiry",
					   RETAINED_MAX);
		if (b->nretained == b->capretained) {
			size_t cap = b->capretained == 0 ? 16 : b->capretained * 2;
			struct retained *nr = reallocarray(b->retained, cap, sizeof(*nr));

			if (nr == NULL)
				return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			b->retained = nr;
			b->capretained = cap;
		}
		if ((t = strdup(topic)) == NULL)
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		b->retained[b->nretained++].topic = t;
	}
	b->retained[i].deadline = now + (int64_t)expiry_s;
	return FSEC_OK;
}

FSEC_API size_t fsec_mqtt_broker_expire(struct fsec_mqtt_broker *b, int64_t now,
					fsec_mqtt_expire_cb expire, void *ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < b->nretained;) {
		if (b->retained[i].deadline > now) {
			i++;
			continue;
		}
		expire(b->retained[i].topic, ctx);
		free(b->retained[i].topic);
		b->retained[i] = b->retained[--b->nretained];
		n++;
	}
	return n;
}

/* Mark the sessions an event names; an event naming no device marks all. */
static int mark_event(const struct fsec_event_rec *rec, void *arg)
{
	struct fsec_mqtt_broker *b = arg;

	b->cursor = rec->seq;
	if (b->owe_all)
		return 0;
	if (rec->device_id[0] == '\0') {
		b->owe_all = true;
		return 0;
	}
	for (struct session *s = b->buckets[hash_id(rec->device_id, b->nbuckets)]; s != NULL;
	     s = s->next)
		if (strcmp(s->id, rec->device_id) == 0 && !s->recheck) {
			s->recheck = true;
			b->owed++;
		}
	return 0;
}

/* One session to drop, copied out of the table: the broker's kick ends the
 * connection at once and so calls fsec_mqtt_broker_gone, which frees the
 * session, from inside the callback. */
struct kick {
	const void *conn;
	char id[FSEC_DEVID_MAX + 1];
	char *why;
};

/* Hand every session owed a kick to kick(), outside the table walk. */
static enum fsec_err kick_owed(struct fsec_mqtt_broker *b, fsec_mqtt_kick_cb kick, void *ctx,
			       size_t *kicked)
{
	struct kick *k;
	size_t n = 0;

	if (b->kicks_owed == 0)
		return FSEC_OK;
	k = calloc(b->kicks_owed, sizeof(*k));
	if (k == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < b->nbuckets; i++)
		for (struct session *s = b->buckets[i]; s != NULL; s = s->next) {
			if (s->kick_why == NULL || n == b->kicks_owed)
				continue;
			k[n].conn = s->conn;
			memcpy(k[n].id, s->id, sizeof(k[n].id));
			k[n].why = s->kick_why;
			s->kick_why = NULL;
			n++;
		}
	b->kicks_owed = 0;
	for (size_t i = 0; i < n; i++) {
		if (kick != NULL)
			kick(k[i].conn, k[i].id, k[i].why, ctx);
		free(k[i].why);
	}
	free(k);
	*kicked += n;
	return FSEC_OK;
}

/* Has an event been logged since the last poll? From the change feed when
 * there is one (the events replayed after a reconnection count), else from
 * the registry's data version (*v, recorded once the poll is whole). */
static enum fsec_err events_since(struct fsec_mqtt_broker *b, uint64_t *v, bool *changed)
{
	int64_t now = (int64_t)time(NULL);
	enum fsec_err rc;

	*changed = true;
	if (b->feed == NULL) {
		if ((rc = fsec_registry_data_version(b->reg, v)) != FSEC_OK)
			return rc;
		*changed = *v != b->data_version;
		return FSEC_OK;
	}
	if (b->feed_lost) {
		if (now < b->feed_retry)
			return fsec_seterr(FSEC_ERR_UNAVAILABLE, "the registry's change feed is down");
		b->feed_retry = now + 1;
		if ((rc = fsec_registry_feed_reconnect(b->feed, changed)) != FSEC_OK)
			return rc;
		b->feed_lost = false;
		*changed = true;
	} else if ((rc = fsec_registry_feed_poll(b->feed, changed)) != FSEC_OK) {
		/* Nothing cached may be trusted until it is back: a
		 * revocation may be going by unheard. */
		b->feed_lost = true;
		b->feed_retry = now + 1;
		fsec_est_feed(b->est, FSEC_EST_FEED_LOST);
		return rc;
	}
	if (*changed) {
		fsec_est_feed(b->est, FSEC_EST_FEED_EVENT);
		b->feed_pending = true;
	}
	*changed = b->feed_pending;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_mqtt_broker_poll(struct fsec_mqtt_broker *b, fsec_mqtt_kick_cb kick,
					     void *ctx, size_t *kicked)
{
	uint64_t v = b->data_version;
	size_t nk = 0;
	bool changed;
	enum fsec_err rc;

	enum fsec_err first = FSEC_OK;

	if (kicked != NULL)
		*kicked = 0;
	sweep_gone(b);
	mark_expired(b, (int64_t)time(NULL));
	if ((rc = events_since(b, &v, &changed)) != FSEC_OK)
		return rc;
	if (!changed && !b->owe_all && b->owed == 0 && b->kicks_owed == 0)
		return FSEC_OK;
	if ((rc = fsec_registry_event_list_after(b->reg, b->cursor, mark_event, b)) != FSEC_OK)
		return rc;
	for (size_t i = 0; i < b->nbuckets; i++) {
		for (struct session *s = b->buckets[i]; s != NULL; s = s->next) {
			char reason[FSEC_REPLY_REASON_MAX];
			struct session fresh = {0};
			bool ok;

			if (!b->owe_all && !s->recheck)
				continue;
			/* A check that cannot be made leaves the session owed (it
			 * is tried again at the next poll), and never stops the
			 * others' checks and kicks. */
			if (!s->refused &&
			    (rc = check(b, s->cert, s->id, &fresh, &ok, reason, sizeof(reason))) !=
				    FSEC_OK) {
				if (first == FSEC_OK)
					first = rc;
				continue;
			}
			if (s->recheck) {
				s->recheck = false;
				b->owed--;
			}
			if (s->refused)
				continue;
			if (ok) {
				/* A new group or model takes effect now. */
				memcpy(s->model, fresh.model, sizeof(s->model));
				memcpy(s->group, fresh.group, sizeof(s->group));
				continue;
			}
			/* Refused from now on, even if the kick has to wait. */
			s->refused = true;
			if ((s->kick_why = strdup(reason)) == NULL)
				return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			b->kicks_owed++;
		}
	}
	if (first == FSEC_OK) {
		b->owe_all = false;
		b->owed = 0;
		b->data_version = v;
		b->feed_pending = false;
	}
	rc = kick_owed(b, kick, ctx, &nk);
	if (kicked != NULL)
		*kicked = nk;
	return first != FSEC_OK ? first : rc;
}

FSEC_API enum fsec_err fsec_mqtt_control_topic_check(const char *topic)
{
	size_t n = strlen(topic), plen = sizeof(FSEC_MQTT_CONTROL_PREFIX) - 1;

	if (strncmp(topic, FSEC_MQTT_CONTROL_PREFIX, plen) != 0 || n == plen ||
	    n > FSEC_MQTT_TOPIC_MAX || strpbrk(topic, "+#") != NULL)
		return fsec_seterr(FSEC_ERR_INVAL,
				   "control topic '%.80s' is not a topic name under %s", topic,
				   FSEC_MQTT_CONTROL_PREFIX);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_mqtt_broker_set_control(struct fsec_mqtt_broker *b, const char *topic)
{
	char *copy;
	enum fsec_err rc;

	if ((rc = fsec_mqtt_control_topic_check(topic)) != FSEC_OK)
		return rc;
	if ((copy = strdup(topic)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	free(b->control);
	b->control = copy;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_mqtt_control_parse(const void *payload, size_t len,
					       char device_id[FSEC_DEVID_MAX + 1])
{
	char buf[sizeof("kick ") + FSEC_DEVID_MAX + 2];
	size_t n = len;

	/* One line, with or without its newline; nothing else. */
	if (n > 0 && ((const char *)payload)[n - 1] == '\n')
		n--;
	if (n >= sizeof(buf) || n < 5 || memcmp(payload, "kick ", 5) != 0 ||
	    memchr(payload, '\0', n) != NULL)
		return fsec_seterr(FSEC_ERR_PARSE, "a control message is 'kick DEVICE-ID' (%zu bytes)",
				   len);
	memcpy(buf, (const char *)payload + 5, n - 5);
	buf[n - 5] = '\0';
	if (!fsec_devid_valid(buf))
		return fsec_seterr(FSEC_ERR_PARSE, "a control message names no valid device ID");
	memcpy(device_id, buf, n - 4);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_mqtt_broker_control(struct fsec_mqtt_broker *b, const void *conn,
						const char *user, const void *payload, size_t len,
						char device_id[FSEC_DEVID_MAX + 1])
{
	struct session **pp = NULL;

	if (user != NULL && user[0] != '\0')
		pp = find(b, conn, user);
	/* The topic policy let only role clients publish here; checked again
	 * because a kick is an administrative act. */
	if (pp == NULL || (*pp)->refused || (*pp)->role[0] == '\0')
		return fsec_seterr(FSEC_ERR_PERM, "control message from '%.80s': not a role client",
				   user != NULL ? user : "");
	return fsec_mqtt_control_parse(payload, len, device_id);
}
