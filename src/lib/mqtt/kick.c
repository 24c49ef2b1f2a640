/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A kick on a broker's control topic (docs/MQTT.md): one QoS 1 publish of
 * "kick DEVICE-ID" by a role client, over MQTT 5 so that the broker's
 * verdict comes back in the PUBACK's reason code (3.1.1 acknowledges a
 * refused publish like an accepted one). libmosquitto, the client library
 * of the broker the plugin runs in, speaks the protocol; its connect is
 * asynchronous so that a silent broker costs the timeout, not TCP's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/x509.h>

#include "err_int.h"
#include "fleetsec/identity.h"
#include "fleetsec/mqtt.h"
#include "fleetsec/names.h"
#include "pem_int.h"
#include "text_int.h"

enum kick_state { K_CONNECTING, K_CONNECTED, K_SENT, K_DONE, K_FAILED };

struct kick {
	enum kick_state state;
	int mid;
	enum fsec_err rc;
	char why[256];
	char tls_error[160]; /* libmosquitto's last error log line: OpenSSL's reason */
};

/* The first failure is the one reported: "what: detail". */
static void fail(struct kick *k, enum fsec_err rc, const char *what, const char *detail)
{
	if (k->state == K_FAILED)
		return;
	k->state = K_FAILED;
	k->rc = rc;
	snprintf(k->why, sizeof(k->why), "%s: %s", what, detail);
}

static void on_connect(struct mosquitto *m, void *arg, int rc, int flags,
		       const mosquitto_property *props)
{
	struct kick *k = arg;

	(void)m;
	(void)flags;
	(void)props;
	if (rc != 0)
		fail(k, FSEC_ERR_PERM, "the broker refused the connection",
		     mosquitto_reason_string(rc));
	else
		k->state = K_CONNECTED;
}

static void on_publish(struct mosquitto *m, void *arg, int mid, int reason,
		       const mosquitto_property *props)
{
	struct kick *k = arg;

	(void)m;
	(void)props;
	if (k->state != K_SENT || mid != k->mid)
		return;
	if (reason >= 0x80)
		fail(k, FSEC_ERR_PERM, "the broker refused the kick",
		     mosquitto_reason_string(reason));
	else
		k->state = K_DONE;
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc, const mosquitto_property *props)
{
	struct kick *k = arg;

	(void)m;
	(void)props;
	if (k->state != K_DONE)
		fail(k, FSEC_ERR_NET, "the broker closed the connection",
		     mosquitto_reason_string(rc));
}

static void on_log(struct mosquitto *m, void *arg, int level, const char *line)
{
	struct kick *k = arg;

	(void)m;
	if (level == MOSQ_LOG_ERR && line != NULL)
		fsec_text_clean(line, k->tls_error, sizeof(k->tls_error));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ROLE:NAME, the client ID the plugin admits a role certificate under. */
static enum fsec_err client_id_of(const char *cert_path, char *out, size_t cap)
{
	char role[FSEC_ROLE_MAX], name[FSEC_ROLE_NAME_MAX + 1];
	X509 *cert = NULL;
	enum fsec_err rc;

	if ((rc = fsec_pem_cert_read(cert_path, &cert)) != FSEC_OK)
		return rc;
	rc = fsec_identity_role_from_cert(cert, role, name);
	X509_free(cert);
	if (rc == FSEC_OK && !fsec_role_mqtt_client(role))
		rc = FSEC_ERR_POLICY;
	if (rc != FSEC_OK)
		return fsec_seterr(rc == FSEC_ERR_NOTFOUND ? FSEC_ERR_POLICY : rc,
				   "%.120s: not a backend or operator certificate (ca client-cert "
				   "--role backend|operator)",
				   cert_path);
	snprintf(out, cap, "%s:%s", role, name);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_mqtt_kick(const struct fsec_mqtt_kick_opts *o, const char *device_id)
{
	char client_id[FSEC_ROLE_MAX + FSEC_ROLE_NAME_MAX + 2], payload[FSEC_DEVID_MAX + 8];
	struct kick k = {.state = K_CONNECTING, .rc = FSEC_OK};
	struct mosquitto *m = NULL;
	int64_t deadline;
	enum fsec_err rc;
	int r, len;

	if (!fsec_devid_valid(device_id))
		return fsec_seterr(FSEC_ERR_INVAL, "'%.80s' is not a device ID", device_id);
	if ((rc = fsec_mqtt_control_topic_check(o->topic)) != FSEC_OK)
		return rc;
	if (o->port < 1 || o->port > 65535 || o->timeout_ms < 1)
		return fsec_seterr(FSEC_ERR_INVAL, "broker port %d or timeout %d ms out of range",
				   o->port, o->timeout_ms);
	if ((rc = client_id_of(o->cert, client_id, sizeof(client_id))) != FSEC_OK)
		return rc;
	len = snprintf(payload, sizeof(payload), "kick %s", device_id);
	mosquitto_lib_init();
	if ((m = mosquitto_new(client_id, true, &k)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	mosquitto_connect_v5_callback_set(m, on_connect);
	mosquitto_publish_v5_callback_set(m, on_publish);
	mosquitto_disconnect_v5_callback_set(m, on_disconnect);
	mosquitto_log_callback_set(m, on_log);
	/* The broker's name is checked against its certificate (libmosquitto
	 * does unless told it is insecure); TLS 1.2 at least. */
	if (mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5) != MOSQ_ERR_SUCCESS ||
	    (r = mosquitto_tls_set(m, o->cafile, NULL, o->cert, o->key, NULL)) != MOSQ_ERR_SUCCESS ||
	    (r = mosquitto_tls_opts_set(m, 1, "tlsv1.2", NULL)) != MOSQ_ERR_SUCCESS) {
		rc = fsec_seterr(FSEC_ERR_IO, "the CA, certificate or key file cannot be used (%s, %s)",
				 o->cafile, o->cert);
		goto out;
	}
	deadline = now_ms() + o->timeout_ms;
	r = mosquitto_connect_async(m, o->host, o->port, 30);
	if (r != MOSQ_ERR_SUCCESS) {
		/* On loopback the handshake may already be over, OpenSSL's
		 * reason in libmosquitto's log. */
		rc = fsec_seterr(r == MOSQ_ERR_TLS ? FSEC_ERR_VERIFY : FSEC_ERR_NET,
				 "cannot connect to %.100s:%d: %s", o->host, o->port,
				 k.tls_error[0] != '\0' ? k.tls_error
				 : r == MOSQ_ERR_ERRNO	 ? strerror(errno)
							 : mosquitto_strerror(r));
		goto out;
	}
	while (k.state != K_DONE && k.state != K_FAILED) {
		if (now_ms() > deadline) {
			fail(&k, FSEC_ERR_NET, "no answer from the broker", "timed out");
			break;
		}
		if (k.state == K_CONNECTED) {
			r = mosquitto_publish_v5(m, &k.mid, o->topic, len, payload, 1, false, NULL);
			if (r != MOSQ_ERR_SUCCESS) {
				fail(&k, FSEC_ERR_NET, "publishing the kick", mosquitto_strerror(r));
				break;
			}
			k.state = K_SENT;
		}
		r = mosquitto_loop(m, 100, 1);
		if (r != MOSQ_ERR_SUCCESS && k.state != K_DONE)
			fail(&k, r == MOSQ_ERR_TLS ? FSEC_ERR_VERIFY : FSEC_ERR_NET, "connection",
			     k.tls_error[0] != '\0' ? k.tls_error
			     : r == MOSQ_ERR_ERRNO  ? strerror(errno)
						    : mosquitto_strerror(r));
	}
	if (k.state == K_DONE) {
		(void)mosquitto_disconnect_v5(m, MQTT_RC_NORMAL_DISCONNECTION, NULL);
		(void)mosquitto_loop(m, 100, 1);
		rc = FSEC_OK;
	} else {
		rc = fsec_seterr(k.rc, "broker %.100s:%d: %s", o->host, o->port, k.why);
	}
out:
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	return rc;
}
