/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A kick on a broker's control topic (docs/MQTT.md): one QoS 1 publish of
 * "kick DEVICE-ID" by a role client, over MQTT 5 so that the broker's
 * verdict comes back in the PUBACK's reason code (3.1.1 acknowledges a
 * refused publish like an accepted one). libmosquitto, the client library
 * of the broker the plugin runs in, speaks the protocol; its connect is
 * asynchronous so that a silent broker costs the timeout, not TCP's.
 * The TLS context is ours, as fetch's and coapc's are: the key through
 * fsec_key_load_private (a file, or a TPM key by URI), the broker's name
 * and the fleet CRL checked by OpenSSL, and its first reason kept; given
 * to libmosquitto whole (MOSQ_OPT_SSL_CTX without its defaults).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "err_int.h"
#include "fleetsec/identity.h"
#include "fleetsec/key.h"
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
	int verify_err;      /* the first error OpenSSL found in the broker's chain */
	bool tcp_up;         /* the TCP connection was made: any failure now is TLS's or MQTT's */
	char tls_error[160]; /* libmosquitto's first error log line */
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
	/* A DISCONNECT's reason code, or libmosquitto's own error; before the
	 * CONNACK, OpenSSL's reason if it gave one (a TLS 1.3 broker refuses
	 * a client certificate after the client's handshake is done). */
	if (k->state != K_DONE)
		fail(k, FSEC_ERR_NET, "the broker closed the connection",
		     rc >= 0x80		       ? mosquitto_reason_string(rc)
		     : k->tls_error[0] != '\0' ? k->tls_error
						: mosquitto_strerror(rc));
}

static void on_log(struct mosquitto *m, void *arg, int level, const char *line)
{
	struct kick *k = arg;

	(void)m;
	if (level == MOSQ_LOG_ERR && line != NULL && k->tls_error[0] == '\0')
		fsec_text_clean(line, k->tls_error, sizeof(k->tls_error));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* OpenSSL's verdict on the broker's chain stands; its first error is kept
 * to say why (a wrong CA, another name, a revoked certificate). */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct kick *k = ssl != NULL ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;

	if (!ok && k != NULL && k->verify_err == X509_V_OK)
		k->verify_err = X509_STORE_CTX_get_error(x);
	return ok;
}

/* The client's TLS context: TLS 1.2 at least, the role's chain and key,
 * the CA file (and CRL, if any) as the only trust, the broker's host name
 * or address checked against its certificate. */
static enum fsec_err tls_ctx(const struct fsec_mqtt_kick_opts *o, struct kick *k, SSL_CTX **out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509_VERIFY_PARAM *vp = ctx != NULL ? SSL_CTX_get0_param(ctx) : NULL;
	unsigned char ip[16];
	EVP_PKEY *key = NULL;
	enum fsec_err rc;
	bool is_ip = inet_pton(AF_INET, o->host, ip) == 1 || inet_pton(AF_INET6, o->host, ip) == 1;

	if (ctx == NULL)
		return fsec_seterr_ossl(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = fsec_key_load_private(o->key, &key)) != FSEC_OK)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "%.120s and %.120s: not a certificate "
				      "and its key", o->cert, o->key);
		goto fail;
	}
	if (X509_STORE_load_file(SSL_CTX_get_cert_store(ctx), o->cafile) != 1) {
		rc = fsec_seterr_ossl(FSEC_ERR_IO, "%.120s: no CA certificates", o->cafile);
		goto fail;
	}
	if (o->crl != NULL) {
		if (X509_STORE_load_file(SSL_CTX_get_cert_store(ctx), o->crl) != 1) {
			rc = fsec_seterr_ossl(FSEC_ERR_IO, "%.120s: not a CRL", o->crl);
			goto fail;
		}
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_CRL_CHECK);
	}
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, o->host) != 1
		  : X509_VERIFY_PARAM_set1_host(vp, o->host, 0) != 1) {
		rc = fsec_seterr_ossl(FSEC_ERR_INVAL, "'%.100s': not a host name", o->host);
		goto fail;
	}
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	SSL_CTX_set_verify_depth(ctx, 5);
	SSL_CTX_set_app_data(ctx, k);
	EVP_PKEY_free(key);
	*out = ctx;
	return FSEC_OK;
fail:
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return rc;
}

/* libmosquitto 2.0.11 (Debian 12) takes a connection the peer refused for
 * one still being made (fixed in 2.0.15), and its loop spins until the
 * timeout: the socket's own error ends the wait. Only until the TCP
 * connection is up: a broker that closes it later (a refused client
 * certificate) is TLS's story, told by OpenSSL's reason. */
static void check_refused(struct kick *k, struct mosquitto *m)
{
	struct pollfd p = {.fd = mosquitto_socket(m), .events = POLLOUT};
	int err = 0;
	socklen_t len = sizeof(err);

	if (k->tcp_up || p.fd < 0 || poll(&p, 1, 0) != 1)
		return;
	if ((p.revents & (POLLERR | POLLHUP)) == 0) {
		k->tcp_up = (p.revents & POLLOUT) != 0;
		return;
	}
	/* Its failed TLS write may have taken the socket's error already. */
	if (getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = 0;
	fail(k, FSEC_ERR_NET, "cannot connect",
	     err != 0 ? strerror(err) : "the connection was refused or reset");
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

/* Why libmosquitto's call failed with r, errno fresh from it: OpenSSL's
 * verdict on the chain first, then libmosquitto's first logged error. */
static const char *reason(const struct kick *k, int r)
{
	if (k->verify_err != X509_V_OK)
		return X509_verify_cert_error_string(k->verify_err);
	if (k->tls_error[0] != '\0')
		return k->tls_error;
	return r == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(r);
}

FSEC_API enum fsec_err fsec_mqtt_kick(const struct fsec_mqtt_kick_opts *o, const char *device_id)
{
	/* Once per process, and never undone: libmosquitto's cleanup
	 * unloads OpenSSL's configuration modules for the whole process. */
	static bool lib_ready;
	char client_id[FSEC_ROLE_MAX + FSEC_ROLE_NAME_MAX + 2], payload[FSEC_DEVID_MAX + 8];
	struct kick k = {.state = K_CONNECTING, .rc = FSEC_OK, .verify_err = X509_V_OK};
	struct mosquitto *m = NULL;
	SSL_CTX *ctx = NULL;
	int64_t deadline;
	enum fsec_err rc;
	int r, len;
	bool v6;

	if (!fsec_devid_valid(device_id))
		return fsec_seterr(FSEC_ERR_INVAL, "'%.80s' is not a device ID", device_id);
	if ((rc = fsec_mqtt_control_topic_check(o->topic)) != FSEC_OK)
		return rc;
	if (o->port < 1 || o->port > 65535 || o->timeout_ms < 1)
		return fsec_seterr(FSEC_ERR_INVAL, "broker port %d or timeout %d ms out of range",
				   o->port, o->timeout_ms);
	if ((rc = client_id_of(o->cert, client_id, sizeof(client_id))) != FSEC_OK ||
	    (rc = tls_ctx(o, &k, &ctx)) != FSEC_OK)
		return rc;
	len = snprintf(payload, sizeof(payload), "kick %s", device_id);
	if (!lib_ready) {
		mosquitto_lib_init();
		lib_ready = true;
	}
	if ((m = mosquitto_new(client_id, true, &k)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	mosquitto_connect_v5_callback_set(m, on_connect);
	mosquitto_publish_v5_callback_set(m, on_publish);
	mosquitto_disconnect_v5_callback_set(m, on_disconnect);
	mosquitto_log_callback_set(m, on_log);
	if (mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5) != MOSQ_ERR_SUCCESS ||
	    mosquitto_int_option(m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0) != MOSQ_ERR_SUCCESS ||
	    mosquitto_void_option(m, MOSQ_OPT_SSL_CTX, ctx) != MOSQ_ERR_SUCCESS) {
		rc = fsec_seterr(FSEC_ERR_CRYPTO, "libmosquitto refused the TLS context");
		goto out;
	}
	deadline = now_ms() + o->timeout_ms;
	r = mosquitto_connect_async(m, o->host, o->port, 30);
	if (r != MOSQ_ERR_SUCCESS) {
		/* On loopback the handshake may already be over. */
		fail(&k, r == MOSQ_ERR_TLS ? FSEC_ERR_VERIFY : FSEC_ERR_NET, "cannot connect",
		     reason(&k, r));
	}
	while (k.state != K_DONE && k.state != K_FAILED) {
		if (now_ms() > deadline) {
			fail(&k, FSEC_ERR_NET, "no answer from the broker", "timed out");
			break;
		}
		if (k.state == K_CONNECTING)
			check_refused(&k, m);
		if (k.state == K_CONNECTED) {
			r = mosquitto_publish_v5(m, &k.mid, o->topic, len, payload, 1, false, NULL);
			if (r != MOSQ_ERR_SUCCESS) {
				fail(&k, FSEC_ERR_NET, "publishing the kick", mosquitto_strerror(r));
				break;
			}
			k.state = K_SENT;
		}
		if (k.state == K_FAILED)
			break;
		r = mosquitto_loop(m, 100, 1);
		if (r != MOSQ_ERR_SUCCESS && k.state != K_DONE)
			fail(&k, r == MOSQ_ERR_TLS ? FSEC_ERR_VERIFY : FSEC_ERR_NET, "connection",
			     reason(&k, r));
	}
	if (k.state == K_DONE) {
		(void)mosquitto_disconnect_v5(m, MQTT_RC_NORMAL_DISCONNECTION, NULL);
		(void)mosquitto_loop(m, 100, 1);
		rc = FSEC_OK;
	} else {
		/* A chain OpenSSL refused is named whatever ended the wait. */
		if (k.verify_err != X509_V_OK) {
			k.rc = FSEC_ERR_VERIFY;
			snprintf(k.why, sizeof(k.why), "the broker's certificate: %s",
				 X509_verify_cert_error_string(k.verify_err));
		}
		v6 = strchr(o->host, ':') != NULL;
		rc = fsec_seterr(k.rc, "broker %s%.100s%s:%d: %s", v6 ? "[" : "", o->host,
				 v6 ? "]" : "", o->port, k.why);
	}
out:
	mosquitto_destroy(m);
	SSL_CTX_free(ctx);
	return rc;
}
