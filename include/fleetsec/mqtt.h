/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker side of MQTT (issue 15): what a device may publish and
 * subscribe to (a topic policy), and the state a broker plugin keeps so that
 * only registered, active devices stay connected (fsec_mqtt_broker). The
 * Mosquitto plugin (src/mosquitto/) is a thin adapter over this: the rules
 * live here so that `fleetsec mqtt explain` and the broker decide alike.
 *
 * A policy file is lines of text:
 *
 *   # comment
 *   [all]                       rules for every device
 *   publish devices/%d/telemetry/#
 *   subscribe devices/%d/cmd/#
 *   [model thermo]              rules for devices of model thermo
 *   subscribe fleet/%m/broadcast
 *   [group lab]                 rules for devices in group lab
 *   publish devices/%d/debug/#
 *   [role backend]              rules for backend clients (ca client-cert)
 *   subscribe devices/+/telemetry/#
 *
 * %d is the device ID, %m its model and %g its group, each a whole topic
 * level. A rule whose placeholder has no value (a device with no group)
 * applies to nobody. Everything no rule allows is denied. So that no rule can
 * reach other devices' topics, a wildcard (+ or #) may appear only after a
 * %d level, and no rule may name a topic starting with '$' ($SYS, the
 * broker's $CONTROL topics).
 *
 * [role backend] and [role operator] sections apply to clients holding a
 * role certificate (identity.h), and only those sections do: a device gets
 * no role rule, a role client no device rule. A role rule takes no
 * placeholder and may have wildcards anywhere. The default policy adds
 * [role backend] subscribe devices/+/telemetry/# and devices/+/status, and
 * publish devices/+/cmd/#; operators get no topic by default (only the
 * control topic, fsec_mqtt_broker_set_control).
 */
#ifndef FLEETSEC_MQTT_H
#define FLEETSEC_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "fleetsec/common.h"
#include "fleetsec/identity.h"
#include "fleetsec/registry.h"

/* The largest policy file read, and the longest topic or filter judged
 * (MQTT allows 65535 bytes; no fleet topic needs more than this). */
#define FSEC_MQTT_POLICY_MAX (1024u * 1024u)
#define FSEC_MQTT_TOPIC_MAX 1024u
/* The longest rule text kept for an explanation. */
#define FSEC_MQTT_RULE_MAX 160u

enum fsec_mqtt_access {
	FSEC_MQTT_PUBLISH,   /* the device sends to a topic */
	FSEC_MQTT_SUBSCRIBE, /* the device subscribes to a filter */
	FSEC_MQTT_RECEIVE,   /* a message on a topic is delivered to the device */
};

/* "publish", "subscribe", "receive"; never NULL. */
FSEC_API const char *fsec_mqtt_access_name(enum fsec_mqtt_access a);

struct fsec_mqtt_policy;

/*
 * Parse a policy from text (len bytes; origin names it in errors, e.g. the
 * file name). Errors: PARSE ("ORIGIN:LINE: reason"), TOO_LARGE, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_policy_parse(const char *text, size_t len,
						       const char *origin,
						       struct fsec_mqtt_policy **out);

/* Read and parse the policy file at path; NULL: the default policy (publish
 * devices/%d/telemetry/# and devices/%d/status, subscribe devices/%d/cmd/#).
 * Errors: IO, and fsec_mqtt_policy_parse's. */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_policy_load(const char *path,
						      struct fsec_mqtt_policy **out);

/* NULL is a no-op. */
FSEC_API void fsec_mqtt_policy_free(struct fsec_mqtt_policy *p);

/* Who is asking: a device's ID, model ("" unknown) and group ("" none).
 * With any set, a NULL id, model or group stands for any one plain topic
 * level (a what-if check such as `fleetsec privacy check`, where the topic
 * names the device); the broker never sets it. A role client has role set
 * ("backend", "operator") and no id, model or group. */
struct fsec_mqtt_subject {
	const char *id, *model, *group;
	bool any;
	const char *role;
};

/* Why a decision was made: the rule that allowed it ("ORIGIN:LINE [section]
 * verb template"), or why nothing did. */
struct fsec_mqtt_why {
	char rule[FSEC_MQTT_RULE_MAX];
};

/*
 * May who do access on topic (a filter, for SUBSCRIBE)? A subscription is
 * allowed only if every topic the filter can match is allowed by one
 * subscribe rule; a delivered message only if a subscribe rule matches its
 * topic. Topics starting with '$' are always denied. why may be NULL.
 * Thread-safe for a policy no one frees.
 */
FSEC_API bool fsec_mqtt_decide(const struct fsec_mqtt_policy *p,
			       const struct fsec_mqtt_subject *who, enum fsec_mqtt_access access,
			       const char *topic, struct fsec_mqtt_why *why);

/* ---- the broker's sessions ---- */

struct fsec_mqtt_broker;

/*
 * A broker's view of one fleet: the home at home (its registry), and the
 * policy at policy (NULL: the default). Not thread-safe: one per broker
 * thread. Errors: those of fsec_fleet_open, fsec_est_new and
 * fsec_mqtt_policy_load.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_broker_new(const char *home, const char *policy,
						     struct fsec_mqtt_broker **out);
FSEC_API void fsec_mqtt_broker_free(struct fsec_mqtt_broker *b);

/* Read the policy file again (and the privacy policy, if one is set): on
 * failure the old ones stay (and the error says why). Errors: as
 * fsec_mqtt_policy_load and fsec_privacy_load. */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_broker_reload(struct fsec_mqtt_broker *b);

/*
 * A client connected as conn (any pointer that names the connection while
 * it lasts) with TLS client certificate cert (NULL: none) and MQTT client
 * ID client_id. Allowed only for a fleet device certificate that is its
 * device's current one, of an active device that has not reported tamper,
 * and whose client ID is its device ID; or for a role certificate
 * (identity.h) the registry recorded as issued, unrevoked and unexpired,
 * whose client ID is ROLE:NAME (device_id then receives ROLE:NAME, and the
 * policy's [role ROLE] rules apply to it): then *allowed is true and the
 * session is kept until fsec_mqtt_broker_gone(conn). Otherwise *allowed is
 * false and reason says why (a bootstrap certificate, a revoked, superseded
 * or unknown device, another device's client ID). device_id receives the
 * device ID when allowed (the broker makes it the username: the sessions
 * are found by it). A second call for the same conn (a broker
 * re-authenticating on reload) replaces its session, or ends it.
 * Errors: DB (the registry could not be read: refuse), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_broker_auth(struct fsec_mqtt_broker *b, const void *conn,
						      X509 *cert, const char *client_id,
						      bool *allowed, char *reason, size_t reason_len,
						      char device_id[FSEC_DEVID_MAX + 1]);

struct fsec_est;

/* Who a client certificate is to a broker (fsec_mqtt_admit). */
struct fsec_mqtt_admission {
	bool ok;          /* admitted */
	char reason[256]; /* why not, when !ok */
	char id[FSEC_DEVID_MAX + 1]; /* the device ID, or a role client's ROLE:NAME */
	char role[FSEC_ROLE_MAX];    /* "" for a device */
	char model[FSEC_MODEL_MAX + 1], group[FSEC_GROUP_MAX + 1]; /* a device's */
	int64_t not_after; /* the certificate's expiry */
};

/*
 * The one admission rule of every broker fleetsec serves (the Mosquitto
 * plugin's sessions, the EMQX endpoints): cert (NULL: none) must be a
 * current certificate of an active device that has not reported tamper,
 * with client_id its device ID; or a role certificate of an MQTT client's
 * role (fsec_role_mqtt_client) the registry recorded as issued, unrevoked
 * and unexpired, with client_id ROLE:NAME. out->ok says whether; reason
 * why not (a bootstrap certificate, a revoked, superseded or unknown
 * device, another device's client ID, a broker's certificate).
 * Errors: DB, UNAVAILABLE (the registry could not be read: refuse), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_admit(struct fsec_est *e, struct fsec_registry *reg,
						X509 *cert, const char *client_id,
						struct fsec_mqtt_admission *out);

/* What fsec_mqtt_broker_explain found. */
struct fsec_mqtt_explain {
	bool admitted; /* the broker would accept its current certificate */
	char refused[256]; /* why not, when !admitted */
	bool allow;    /* admitted, and the policy allows the access */
	struct fsec_mqtt_why why; /* the policy's rule, or why none allowed it */
	char model[FSEC_MODEL_MAX + 1], group[FSEC_GROUP_MAX + 1];
};

/*
 * What the broker would decide for device_id connecting with its current
 * certificate (and its ID as client ID), then doing access on topic: the
 * same check as fsec_mqtt_broker_auth (a revoked, tampered or otherwise
 * refused device is not admitted, and allowed nothing), and the same
 * policy decision as fsec_mqtt_broker_acl. Holds no session.
 * device_id may also be a role client's ROLE:NAME: admitted when the
 * registry holds an unrevoked, unexpired certificate of that role and
 * name, and judged by the policy's [role ROLE] rules (model and group "").
 * Errors: NOTFOUND (no such device or role), DB, NOMEM, PARSE (a stored
 * certificate that does not parse).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_broker_explain(struct fsec_mqtt_broker *b,
							 const char *device_id,
							 enum fsec_mqtt_access access,
							 const char *topic,
							 struct fsec_mqtt_explain *out);

/* The connection conn of device_id (what auth returned; NULL or "" if it
 * had none) ended. Its session still decides until the next poll frees it:
 * Mosquitto judges a connection's will right after telling the plugin it
 * ended. Unknown: a no-op. */
FSEC_API void fsec_mqtt_broker_gone(struct fsec_mqtt_broker *b, const void *conn,
				    const char *device_id);

/* May the session of conn, device_id's, do access on topic? A connection
 * without a session, or one whose device was refused since, may do
 * nothing. */
FSEC_API bool fsec_mqtt_broker_acl(struct fsec_mqtt_broker *b, const void *conn,
				   const char *device_id, enum fsec_mqtt_access access,
				   const char *topic, struct fsec_mqtt_why *why);

/* Called by fsec_mqtt_broker_poll for each session that must go: its
 * connection and device ID, and why. */
typedef void (*fsec_mqtt_kick_cb)(const void *conn, const char *device_id, const char *reason,
				  void *ctx);

/*
 * Catch up with the registry: for each event written since the last poll
 * that names a connected device (a revocation, a tamper report, a new
 * group), check that device's sessions again; an event that names no
 * device (a batch, a restore) checks every session. Each session that no
 * longer passes is marked refused (its ACL checks fail from now on) and
 * handed to kick. Once a minute, sessions whose certificate expired are
 * checked too (no event says so). Cheap when nothing happened: on SQLite
 * one read of the data version (which any write moves); on PostgreSQL a
 * read of the change feed's socket (registry.h), which only events wake. A device that is no
 * longer in the registry is refused. *kicked (may be NULL) counts the
 * sessions kicked.
 * Errors: DB: a session's check could not be made; every other session
 * was still checked and kicked, and that one is checked again next poll.
 * UNAVAILABLE: the change feed is lost (tried again at most once a
 * second); until it is back, new connections are refused, since a
 * revocation may be going by unheard, and sessions already connected are
 * not checked again (the events logged meanwhile are, once it is back).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_broker_poll(struct fsec_mqtt_broker *b,
						      fsec_mqtt_kick_cb kick, void *ctx,
						      size_t *kicked);

struct fsec_privacy_result;
struct fsec_privacy_stats;

/* Apply the privacy policy at path (privacy.h) to every message from now
 * on; fsec_mqtt_broker_reload reads it again. On failure nothing changes.
 * Errors: as fsec_privacy_load, NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_broker_set_privacy(struct fsec_mqtt_broker *b,
							     const char *path);

/*
 * A message from the session of conn, device_id's, on topic: what may be
 * delivered (fsec_privacy_filter with the session's model and group). With
 * no privacy policy set, or no block for the topic, res->verdict is PASS;
 * FILTERED gives the payload to deliver instead in *out (malloc'd, the
 * caller frees it); DROP (res->reason) delivers nothing. A connection
 * without a session is dropped. Counted in the broker's stats by model.
 * Errors: NOMEM (deliver nothing).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_broker_privacy(struct fsec_mqtt_broker *b,
							 const void *conn, const char *device_id,
							 const char *topic, const void *payload,
							 size_t len, bool retain, char **out,
							 size_t *out_len,
							 struct fsec_privacy_result *res);

/* The privacy counters (NULL until a privacy policy is set); borrowed. */
FSEC_API struct fsec_privacy_stats *fsec_mqtt_broker_privacy_stats(struct fsec_mqtt_broker *b);

/*
 * A retained message on topic was accepted, and the privacy policy gives
 * its copy expiry_s seconds (0: none, or a message that clears the copy).
 * Mosquitto 2.0.11 reads a message's expiry before plugins run, so the
 * plugin cannot set it: the broker object keeps the deadline (now +
 * expiry_s, in the caller's clock) and fsec_mqtt_broker_expire hands the
 * topic back once it passed, for the plugin to clear the retained copy. A
 * later retained message on the topic replaces the deadline.
 * Errors: NOMEM, TOO_LARGE (a million topics tracked): the caller must
 * refuse the message, since its copy could not be made to go.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_broker_retained(struct fsec_mqtt_broker *b,
							  const char *topic, uint32_t expiry_s,
							  int64_t now);

typedef void (*fsec_mqtt_expire_cb)(const char *topic, void *ctx);

/* Call expire for each retained topic whose deadline is at or before now,
 * and forget it. Returns how many. */
FSEC_API size_t fsec_mqtt_broker_expire(struct fsec_mqtt_broker *b, int64_t now,
					fsec_mqtt_expire_cb expire, void *ctx);

/* ---- the control topic ---- */

/* Every control topic lies here: Mosquitto 2.0 hands a plugin only
 * messages on $CONTROL/ topics (MOSQ_EVT_CONTROL), and keeps them from
 * subscribers. */
#define FSEC_MQTT_CONTROL_PREFIX "$CONTROL/"

/* Is topic a control topic: a topic name (no wildcard) under $CONTROL/,
 * at most FSEC_MQTT_TOPIC_MAX bytes? Errors: INVAL. Thread-safe. */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_control_topic_check(const char *topic);

/*
 * Make topic (fsec_mqtt_control_topic_check) the control topic: from now
 * on only role clients (backend, operator) may publish to it, and nobody
 * may subscribe to it or receive from it. Errors: INVAL, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_broker_set_control(struct fsec_mqtt_broker *b,
							     const char *topic);

/*
 * Parse a control message: "kick DEVICE-ID", optionally followed by one
 * newline, nothing else. device_id receives the ID.
 * Errors: PARSE. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_control_parse(const void *payload, size_t len,
							char device_id[FSEC_DEVID_MAX + 1]);

/*
 * A message on the control topic from the session of conn, user's (its
 * username): the device to disconnect, in device_id. Only a role client's
 * session (admitted, not refused since) may send one. The kick alone does
 * not keep the device out: a device still active in the registry may
 * reconnect (revoke it for that). Errors: PERM (not a role client), PARSE.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_broker_control(struct fsec_mqtt_broker *b,
							 const void *conn, const char *user,
							 const void *payload, size_t len,
							 char device_id[FSEC_DEVID_MAX + 1]);

/* The number of sessions held. */
FSEC_API size_t fsec_mqtt_broker_sessions(const struct fsec_mqtt_broker *b);

/* Where and as whom fsec_mqtt_kick publishes. */
struct fsec_mqtt_kick_opts {
	const char *host;   /* the broker, as its certificate names it */
	int port;           /* its TLS listener */
	const char *cafile; /* the CA file the broker's certificate verifies against */
	const char *crl;    /* NULL, or a CRL file the broker's certificate is checked on */
	const char *cert;   /* a backend or operator certificate (ca client-cert) */
	const char *key;    /* its key: a file or an OpenSSL store URI (a TPM key) */
	const char *topic;  /* the broker's control topic */
	int timeout_ms;     /* for the whole exchange */
};

/*
 * Ask one broker to disconnect every session of device_id now: connect as
 * the role client o->cert names (client ID ROLE:NAME, the one the plugin
 * admits it under), publish "kick DEVICE-ID" on o->topic at QoS 1 over
 * MQTT 5, and wait for the broker's acknowledgement. The broker's name is
 * checked against its certificate, and the certificate against o->crl.
 * Like the message, the call does not keep the device out: revoke it for
 * that. Mosquitto 2.0.11 acknowledges a kick its control handler refused
 * as accepted: PERM means its ACL check refused the publish. Errors: INVAL
 * (a bad ID, topic, port), POLICY (not a role certificate of an MQTT
 * client), IO (unusable CA or CRL file), CRYPTO (the certificate and key),
 * VERIFY (the broker's certificate), PERM (the broker refused the
 * connection or the publish), NET (refused, closed, or no answer within
 * the timeout), NOMEM. Not thread-safe: libmosquitto is set up once per
 * process (and ignores SIGPIPE from then on).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mqtt_kick(const struct fsec_mqtt_kick_opts *o,
					       const char *device_id);

#endif
