/* SPDX-License-Identifier: Apache-2.0 */
/*
 * EMQX's HTTP authentication and authorization, answered from the fleet
 * (issue 15, "Clustered brokers"). Mosquitto does not cluster; an EMQX
 * cluster can ask an HTTP service whether a client may connect and whether
 * it may publish or subscribe. fleetsecd answers those requests at
 * POST /v1/emqx/authn and POST /v1/emqx/authz (routes.h) with the same
 * admission rule as the Mosquitto plugin (fsec_mqtt_admit) and the same
 * topic policy file (mqtt.h). The deployment, with EMQX's configuration, is
 * in docs/SCALING.md.
 *
 * The shapes are EMQX 5's, as its documentation gives them:
 * - https://docs.emqx.com/en/emqx/latest/access-control/authn/http.html:
 *   the answer is 200 with a JSON body {"result": "allow" | "deny" |
 *   "ignore", "is_superuser": bool}, and from 5.8 an optional "expire_at"
 *   (Unix seconds) after which the client is disconnected; a 204 allows, a
 *   4xx or 5xx is taken as "ignore";
 * - https://docs.emqx.com/en/emqx/latest/access-control/authz/http.html:
 *   200 with {"result": "allow" | "deny"}, 204 allows; anything else is
 *   "ignore", which EMQX's authorization.no_match (default allow) decides;
 * - mqtt.peer_cert_as_username = pem (EMQX 5's configuration manual,
 *   broker:mqtt, values disabled | cn | dn | crt | pem | md5) makes the MQTT
 *   username the client certificate. The manual calls it PEM; EMQX's code
 *   (emqx_channel:set_peercert_infos) writes base64:encode of the DER, one
 *   line without the BEGIN and END lines, and that is what is read here. So
 *   ${username} in a body template is the certificate the TLS handshake
 *   verified, and ${cert_common_name} its CN.
 *
 * Request bodies (JSON, the templates docs/SCALING.md gives):
 *   authn: {"username": BASE64-DER, "clientid": ID, "cert_common_name": CN}
 *   authz: {"username": BASE64-DER, "clientid": ID, "action": "publish" |
 *           "subscribe", "topic": TOPIC}
 * Other members EMQX can send (peerhost, cert_subject, proto_name,
 * mountpoint, qos, retain, password, zone) are allowed and not read; a
 * member not on that list is refused, as in every fleetsec JSON parser.
 *
 * Every refusal these functions make is an explicit 200 "deny", never an
 * error status: EMQX takes an error as "ignore", and "ignore" lets the next
 * authenticator, or an authorizer's no_match = allow, decide, which would
 * fail open. That includes a request that does not parse and a registry
 * that cannot be read here. The reason goes to the reply's reason
 * (fleetsecd's log), never to EMQX. A request fleetsecd answers before it
 * reaches them (a body over the HTTP layer's cap, 413; a registry that
 * cannot classify the broker's own certificate, 503; a connection over
 * max_per_source) is an error status all the same: EMQX must be configured
 * to deny what is ignored (no_match = deny, fleetsecd its last
 * authenticator; docs/SCALING.md).
 */
#ifndef FLEETSEC_EMQX_H
#define FLEETSEC_EMQX_H

#include <stdbool.h>
#include <stddef.h>

#include "fleetsec/common.h"
#include "fleetsec/mqtt.h"
#include "fleetsec/reply.h"

struct fsec_est;
struct fsec_registry;

/* One request, parsed: what EMQX sent, bounded. */
struct fsec_emqx_request {
	X509 *cert;                    /* the username's certificate; caller frees */
	char clientid[FSEC_MQTT_TOPIC_MAX + 1];
	char cn[FSEC_DEVID_MAX + 1];   /* cert_common_name ("" absent) */
	bool has_action;
	enum fsec_mqtt_access action;  /* publish or subscribe */
	char topic[FSEC_MQTT_TOPIC_MAX + 1];
};

/*
 * Parse a request body (len bytes) as EMQX sends it: authz says which of
 * the two (authz needs action and topic; authn needs cert_common_name).
 * username must be one DER certificate in base64 and nothing else. On success the
 * caller X509_free()s out->cert. Errors: PARSE (a one-line reason naming the
 * member), NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_emqx_request_parse(const void *body, size_t len, bool authz,
							struct fsec_emqx_request *out);

struct fsec_emqx;

/* What the two endpoints answer from: e and reg (borrowed: they must
 * outlive it) and the default topic policy until fsec_emqx_set_policy.
 * Errors: NOMEM, and those of fsec_mqtt_policy_load. */
FSEC_API FSEC_WUR enum fsec_err fsec_emqx_new(struct fsec_est *e, struct fsec_registry *reg,
					      struct fsec_emqx **out);
/* NULL is a no-op. */
FSEC_API void fsec_emqx_free(struct fsec_emqx *x);

/* Decide by policy from now on (fleetsecd's mqtt_acl, read again on
 * SIGHUP): x takes p (not NULL) and frees the one it had. */
FSEC_API void fsec_emqx_set_policy(struct fsec_emqx *x, struct fsec_mqtt_policy *p);

/*
 * The two endpoints, shaped as routes.h's fsec_route_body_fn: arg is a
 * struct fsec_emqx, body len bytes.
 *
 * POST /v1/emqx/authn: may this client connect? Allowed when the
 * certificate passes fsec_mqtt_admit with the request's client ID and
 * cert_common_name is the certificate's CN. The CN is a second look, not
 * the binding: it denies a listener without TLS (no CN) and a username
 * holding a certificate of another name than the handshake's, but a name
 * is all it compares. What binds the username to the handshake is EMQX's
 * peer_cert_as_username = pem, which docs/SCALING.md requires. The allow
 * carries is_superuser false and expire_at, the certificate's notAfter.
 * Errors: NOMEM only (every refusal is a reply).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_emqx_authn(void *arg, const void *body, size_t len,
						struct fsec_reply *r);

/*
 * POST /v1/emqx/authz: may this client publish to, or subscribe to, the
 * topic? The client is admitted again (a revocation applies to its next
 * publish, whatever EMQX cached of its connect), then policy decides, as
 * fsec_mqtt_decide does for the Mosquitto plugin. Errors: NOMEM only.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_emqx_authz(void *arg, const void *body, size_t len,
						struct fsec_reply *r);

#endif
