/* SPDX-License-Identifier: Apache-2.0 */
/* EMQX's HTTP authentication and authorization, answered from the fleet
 * (emqx.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "err_int.h"
#include "json_int.h"
#include "b64_int.h"
#include "reply_int.h"
#include "fleetsec/emqx.h"
#include "fleetsec/est.h"

struct fsec_emqx {
	struct fsec_est *e;
	struct fsec_registry *reg;
	struct fsec_mqtt_policy *policy;
};

FSEC_API enum fsec_err fsec_emqx_new(struct fsec_est *e, struct fsec_registry *reg,
				     struct fsec_emqx **out)
{
	struct fsec_emqx *x = calloc(1, sizeof(*x));
	enum fsec_err rc;

	if (x == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = fsec_mqtt_policy_load(NULL, &x->policy)) != FSEC_OK) {
		free(x);
		return rc;
	}
	x->e = e;
	x->reg = reg;
	*out = x;
	return FSEC_OK;
}

FSEC_API void fsec_emqx_free(struct fsec_emqx *x)
{
	if (x == NULL)
		return;
	fsec_mqtt_policy_free(x->policy);
	free(x);
}

FSEC_API void fsec_emqx_set_policy(struct fsec_emqx *x, struct fsec_mqtt_policy *p)
{
	fsec_mqtt_policy_free(x->policy);
	x->policy = p;
}

/* The largest certificate taken: a fleet certificate is under 1 KiB. */
#define CERT_DER_MAX 8192

/*
 * The username as EMQX writes it with peer_cert_as_username = pem: the
 * client certificate's DER in base64, one line, no armour
 * (emqx_channel:set_peercert_infos, base64:encode of the DER; its manual
 * calls it PEM). Strict: nothing around it, and the DER is one certificate
 * to its last byte.
 */
static enum fsec_err parse_cert(const char *s, X509 **out)
{
	unsigned char *der = malloc(CERT_DER_MAX);
	const unsigned char *p = der;
	size_t len = 0;
	X509 *c = NULL;
	enum fsec_err rc = FSEC_ERR_PARSE;

	if (der == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (!fsec_b64_decode(s, strlen(s), der, CERT_DER_MAX, &len)) {
		fsec_seterr(rc, "emqx.username: not a certificate in base64 (set "
				"mqtt.peer_cert_as_username = pem)");
		goto out;
	}
	if ((c = d2i_X509(NULL, &p, (long)len)) == NULL || p != der + len) {
		fsec_seterr_ossl(rc, "emqx.username: not one DER certificate");
		goto out;
	}
	*out = c;
	c = NULL;
	rc = FSEC_OK;
out:
	X509_free(c);
	free(der);
	return rc;
}

FSEC_API enum fsec_err fsec_emqx_request_parse(const void *body, size_t len, bool authz,
					       struct fsec_emqx_request *out)
{
	/* What EMQX's templates can carry; only some are read. */
	static const char *const known[] = {
		"username", "clientid", "cert_common_name", "cert_subject", "peerhost",
		"proto_name", "mountpoint", "action", "topic", "qos", "retain", "password",
		"zone", NULL};
	struct fsec_emqx_request q;
	const char *b64 = NULL, *action = NULL;
	json_t *j = NULL;
	enum fsec_err rc;

	memset(&q, 0, sizeof(q));
	if ((rc = fsec_json_load(body, len, "emqx", &j)) != FSEC_OK ||
	    (rc = fsec_json_only_keys(j, "emqx", known)) != FSEC_OK ||
	    (rc = fsec_json_get_str(j, "emqx", "username", 0, 1, CERT_DER_MAX * 2, &b64)) !=
		    FSEC_OK ||
	    (rc = fsec_json_copy_str(j, "emqx", "clientid", 0, 1, q.clientid,
				     sizeof(q.clientid))) != FSEC_OK)
		goto out;
	if (authz) {
		if ((rc = fsec_json_get_str(j, "emqx", "action", 0, 1, 16, &action)) != FSEC_OK ||
		    (rc = fsec_json_copy_str(j, "emqx", "topic", 0, 1, q.topic,
					     sizeof(q.topic))) != FSEC_OK)
			goto out;
		if (strcmp(action, "publish") == 0) {
			q.action = FSEC_MQTT_PUBLISH;
		} else if (strcmp(action, "subscribe") == 0) {
			q.action = FSEC_MQTT_SUBSCRIBE;
		} else {
			rc = fsec_seterr(FSEC_ERR_PARSE, "emqx.action: must be publish or subscribe");
			goto out;
		}
		q.has_action = true;
	} else if ((rc = fsec_json_copy_str(j, "emqx", "cert_common_name", 0, 0, q.cn,
					    sizeof(q.cn))) != FSEC_OK) {
		goto out;
	}
	if ((rc = parse_cert(b64, &q.cert)) != FSEC_OK)
		goto out;
	*out = q;
out:
	json_decref(j);
	return rc;
}

/* A verdict as EMQX reads it. */
static enum fsec_err verdict(struct fsec_reply *r, bool allow, int64_t expire_at,
			     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum fsec_err verdict(struct fsec_reply *r, bool allow, int64_t expire_at,
			     const char *fmt, ...)
{
	char body[128];
	va_list ap;
	int n;

	memset(r, 0, sizeof(*r));
	if (!allow)
		n = snprintf(body, sizeof(body), "{\"result\":\"deny\"}");
	else if (expire_at > 0)
		n = snprintf(body, sizeof(body),
			     "{\"result\":\"allow\",\"is_superuser\":false,\"expire_at\":%" PRId64
			     "}",
			     expire_at);
	else
		n = snprintf(body, sizeof(body), "{\"result\":\"allow\",\"is_superuser\":false}");
	if (n < 0 || (size_t)n >= sizeof(body) || (r->body = strdup(body)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	r->len = (size_t)n;
	r->status = 200;
	r->content_type = "application/json";
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	return FSEC_OK;
}

/* Parse and admit: *done with a deny written when the request or the
 * client is refused, or the registry cannot answer. */
static enum fsec_err admit(const struct fsec_emqx *x, const void *body, size_t len, bool authz, struct fsec_emqx_request *q,
			   struct fsec_mqtt_admission *a, struct fsec_reply *r, bool *done)
{
	enum fsec_err rc;

	*done = true;
	if ((rc = fsec_emqx_request_parse(body, len, authz, q)) != FSEC_OK) {
		if (rc == FSEC_ERR_NOMEM)
			return rc;
		rc = verdict(r, false, 0, "deny: %s", fsec_err_detail());
		fsec_clearerr();
		return rc;
	}
	if ((rc = fsec_mqtt_admit(x->e, x->reg, q->cert, q->clientid, a)) != FSEC_OK) {
		if (rc == FSEC_ERR_NOMEM)
			return rc;
		rc = verdict(r, false, 0, "deny: the registry cannot be read: %s",
			     fsec_err_detail());
		fsec_clearerr();
		return rc;
	}
	if (!a->ok)
		return verdict(r, false, 0, "deny: %s", a->reason);
	*done = false;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_emqx_authn(void *arg, const void *body, size_t len,
				       struct fsec_reply *r)
{
	const struct fsec_emqx *x = arg;
	struct fsec_emqx_request q;
	struct fsec_mqtt_admission a;
	const char *name;
	enum fsec_err rc;
	bool done;

	memset(&q, 0, sizeof(q));
	if ((rc = admit(x, body, len, false, &q, &a, r, &done)) != FSEC_OK || done)
		goto out;
	/* The CN EMQX read from the handshake must be this certificate's: a
	 * device's ID, or a role certificate's NAME (after "ROLE:"). */
	name = a.role[0] != '\0' ? a.id + strlen(a.role) + 1 : a.id;
	if (strcmp(q.cn, name) != 0) {
		rc = verdict(r, false, 0,
			     "deny: %s: cert_common_name '%.64s' is not the certificate's CN (is "
			     "this a TLS listener with peer_cert_as_username = pem?)",
			     a.id, q.cn);
		goto out;
	}
	rc = verdict(r, true, a.not_after > (int64_t)time(NULL) ? a.not_after : 0, "allow: %s",
		     a.id);
out:
	X509_free(q.cert);
	return rc;
}

FSEC_API enum fsec_err fsec_emqx_authz(void *arg, const void *body, size_t len,
				       struct fsec_reply *r)
{
	const struct fsec_emqx *x = arg;
	struct fsec_emqx_request q;
	struct fsec_mqtt_admission a;
	struct fsec_mqtt_subject who = {0};
	struct fsec_mqtt_why why;
	enum fsec_err rc;
	bool done, ok;

	memset(&q, 0, sizeof(q));
	if ((rc = admit(x, body, len, true, &q, &a, r, &done)) != FSEC_OK || done)
		goto out;
	if (a.role[0] != '\0') {
		who.role = a.role;
	} else {
		who.id = a.id;
		who.model = a.model;
		who.group = a.group;
	}
	ok = fsec_mqtt_decide(x->policy, &who, q.action, q.topic, &why);
	rc = verdict(r, ok, 0, "%s: %s %s %.200s: %s", ok ? "allow" : "deny", a.id,
		     fsec_mqtt_access_name(q.action), q.topic, why.rule);
out:
	X509_free(q.cert);
	return rc;
}
