/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsec_mosquitto.so: a Mosquitto 2.0 plugin (plugin API version 5) that
 * makes the broker honour fleetsec identities (issue 15). Everything it
 * decides is libfleetsec's (mqtt.h); this file only moves Mosquitto's events
 * in and its answers out.
 *
 *   plugin /usr/lib/fleetsec/fleetsec_mosquitto.so
 *   plugin_opt_home /var/lib/fleetsec        the fleet home (read-only)
 *   plugin_opt_acl /etc/fleetsec/mqtt.acl    the topic policy (default:
 *                                            devices/%d/... only)
 *   plugin_opt_poll_ms 200                   how often the registry is read
 *   plugin_opt_privacy /etc/fleetsec/privacy.policy
 *                                            the privacy policy (privacy.h):
 *                                            each device message filtered
 *                                            before delivery or retention
 *   plugin_opt_privacy_metrics /var/lib/prometheus/node-exporter/fleetsec.prom
 *                                            its counters per model, in
 *                                            Prometheus' text format
 *   plugin_opt_control_topic $CONTROL/fleetsec/v1
 *                                            where role clients (backend,
 *                                            operator) publish "kick ID"
 *
 * Authentication is done here, never by use_identity_as_username: with that
 * option Mosquitto skips the plugin's authentication, so a revoked device
 * would still connect. The registry is read on the broker's tick; in
 * Mosquitto 2.0.11 ticks reach plugins only with per_listener_settings
 * false (the default), which `fleetsec mqtt config` keeps.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <openssl/x509.h>

#include "fleetsec/fileio.h"
#include "fleetsec/mqtt.h"
#include "fleetsec/privacy.h"

/* The project builds with hidden visibility; the broker finds these three
 * by name. */
#define PLUGIN_API __attribute__((visibility("default")))

#define POLL_MS_DEFAULT 200L
#define POLL_MS_MAX 60000L

struct plugin {
	mosquitto_plugin_id_t *id;
	struct fsec_mqtt_broker *broker;
	long poll_ms;
	struct timespec last_poll;
	const char *privacy;         /* the option's value; NULL: no filter */
	const char *control;         /* the control topic; NULL: none */
	char *metrics_path;          /* NULL: counters in the log only */
	struct timespec last_metrics;
};

PLUGIN_API int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for (int i = 0; i < supported_version_count; i++)
		if (supported_versions[i] == 5)
			return 5;
	return -1;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	struct plugin *pl = userdata;
	char reason[256], id[FSEC_DEVID_MAX + 1];
	const char *client_id = mosquitto_client_id(ed->client);
	X509 *cert = mosquitto_client_certificate(ed->client);
	bool allowed = false;
	enum fsec_err rc;

	(void)event;
	rc = fsec_mqtt_broker_auth(pl->broker, ed->client, cert, client_id, &allowed, reason,
				   sizeof(reason), id);
	X509_free(cert);
	if (rc != FSEC_OK) {
		mosquitto_log_printf(MOSQ_LOG_WARNING,
				     "fleetsec: refused client '%s': the registry could not be read: %s",
				     client_id != NULL ? client_id : "", fsec_err_detail());
		return MOSQ_ERR_AUTH;
	}
	if (!allowed) {
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "fleetsec: refused client '%s' from %s: %s",
				     client_id != NULL ? client_id : "",
				     mosquitto_client_address(ed->client), reason);
		return MOSQ_ERR_AUTH;
	}
	/* Topic rules and kicks find the session by the device ID. */
	if (mosquitto_set_username(ed->client, id) != MOSQ_ERR_SUCCESS) {
		fsec_mqtt_broker_gone(pl->broker, ed->client, id);
		return MOSQ_ERR_AUTH;
	}
	return MOSQ_ERR_SUCCESS;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ed = event_data;
	struct plugin *pl = userdata;
	enum fsec_mqtt_access access;

	(void)event;
	switch (ed->access) {
	case MOSQ_ACL_WRITE:
		access = FSEC_MQTT_PUBLISH;
		break;
	case MOSQ_ACL_SUBSCRIBE:
		access = FSEC_MQTT_SUBSCRIBE;
		break;
	case MOSQ_ACL_READ:
		access = FSEC_MQTT_RECEIVE;
		break;
	case MOSQ_ACL_UNSUBSCRIBE:
		/* Giving something up is always allowed. */
		return MOSQ_ERR_SUCCESS;
	default:
		return MOSQ_ERR_ACL_DENIED;
	}
	return fsec_mqtt_broker_acl(pl->broker, ed->client, mosquitto_client_username(ed->client),
				    access, ed->topic, NULL)
		       ? MOSQ_ERR_SUCCESS
		       : MOSQ_ERR_ACL_DENIED;
}

/* A message on the control topic (the topic policy let only a role client
 * publish it): the library reads it, the broker kicks. */
static int on_control(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_control *ed = event_data;
	struct plugin *pl = userdata;
	const char *user = mosquitto_client_username(ed->client);
	char id[FSEC_DEVID_MAX + 1];

	(void)event;
	if (fsec_mqtt_broker_control(pl->broker, ed->client, user, ed->payload, ed->payloadlen,
				     id) != FSEC_OK) {
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "fleetsec: control: refused: %s",
				     fsec_err_detail());
		return MOSQ_ERR_ACL_DENIED;
	}
	mosquitto_log_printf(MOSQ_LOG_NOTICE, "fleetsec: control: %s asked to disconnect %s", user,
			     id);
	mosquitto_kick_client_by_username(id, false);
	return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_disconnect *ed = event_data;
	struct plugin *pl = userdata;

	(void)event;
	fsec_mqtt_broker_gone(pl->broker, ed->client, mosquitto_client_username(ed->client));
	return MOSQ_ERR_SUCCESS;
}

static void kick(const void *conn, const char *device_id, const char *reason, void *ctx)
{
	(void)conn;
	(void)ctx;
	mosquitto_log_printf(MOSQ_LOG_NOTICE, "fleetsec: disconnecting %s: %s", device_id, reason);
	/* Every session of the device: its username is its ID. */
	mosquitto_kick_client_by_username(device_id, false);
}

static long ms_since(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000L + (b->tv_nsec - a->tv_nsec) / 1000000L;
}

static int64_t mono_s(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)now.tv_sec;
}

/*
 * Every message a client publishes, after the topic policy allowed it and
 * before the broker stores, retains or delivers it: the privacy filter's
 * verdict replaces the payload, or refuses the message.
 */
static int on_message(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_message *ed = event_data;
	struct plugin *pl = userdata;
	struct fsec_privacy_result res;
	const char *dev = mosquitto_client_username(ed->client);
	char *out = NULL, *copy;
	size_t out_len = 0;
	enum fsec_err rc;

	(void)event;
	rc = fsec_mqtt_broker_privacy(pl->broker, ed->client, dev, ed->topic, ed->payload,
				      ed->payloadlen, ed->retain, &out, &out_len, &res);
	if (rc != FSEC_OK) {
		mosquitto_log_printf(MOSQ_LOG_WARNING, "fleetsec: privacy: dropped a message from "
						       "%s on %s: %s",
				     dev != NULL ? dev : "", ed->topic, fsec_err_detail());
		return MOSQ_ERR_ACL_DENIED;
	}
	if (res.verdict == FSEC_PRIVACY_DROP) {
		mosquitto_log_printf(MOSQ_LOG_NOTICE,
				     "fleetsec: privacy: dropped a message from %s on %s: %s",
				     dev != NULL ? dev : "", ed->topic, res.reason);
		return MOSQ_ERR_ACL_DENIED;
	}
	if (res.verdict == FSEC_PRIVACY_FILTERED) {
		/* The broker frees the payload it holds when it differs from
		 * what it passed: the new one must come from its allocator. A
		 * NUL after it, as the broker keeps its own payloads. */
		copy = mosquitto_malloc(out_len + 1);
		if (copy == NULL) {
			free(out);
			return MOSQ_ERR_ACL_DENIED;
		}
		memcpy(copy, out, out_len);
		copy[out_len] = '\0';
		free(out);
		ed->payload = copy;
		ed->payloadlen = (uint32_t)out_len;
		if (res.removed > 0 || res.rounded > 0 || res.coarsened > 0)
			mosquitto_log_printf(MOSQ_LOG_DEBUG,
					     "fleetsec: privacy: %s on %s: %zu fields removed, %zu "
					     "rounded, %zu locations coarsened",
					     dev, ed->topic, res.removed, res.rounded, res.coarsened);
	}
	if (ed->retain &&
	    fsec_mqtt_broker_retained(pl->broker, ed->topic, res.expiry_s, mono_s()) != FSEC_OK) {
		/* A copy that could not be made to go is not kept at all. */
		mosquitto_log_printf(MOSQ_LOG_WARNING,
				     "fleetsec: privacy: dropped a retained message from %s on %s: %s",
				     dev != NULL ? dev : "", ed->topic, fsec_err_detail());
		return MOSQ_ERR_ACL_DENIED;
	}
	return MOSQ_ERR_SUCCESS;
}

/* A retained copy's time is up: an empty retained message removes it. */
static void expire(const char *topic, void *ctx)
{
	(void)ctx;
	mosquitto_log_printf(MOSQ_LOG_INFO, "fleetsec: privacy: retained message on %s expired",
			     topic);
	if (mosquitto_broker_publish(NULL, topic, 0, NULL, 0, true, NULL) != MOSQ_ERR_SUCCESS)
		mosquitto_log_printf(MOSQ_LOG_WARNING,
				     "fleetsec: privacy: could not clear the retained message on %s",
				     topic);
}

/* The counters, rewritten at most once a second when they changed. */
static void write_metrics(struct plugin *pl, const struct timespec *now)
{
	struct fsec_privacy_stats *st = fsec_mqtt_broker_privacy_stats(pl->broker);
	char *text = NULL;
	size_t len = 0;

	if (pl->metrics_path == NULL || st == NULL || !fsec_privacy_stats_changed(st) ||
	    ms_since(&pl->last_metrics, now) < 1000)
		return;
	pl->last_metrics = *now;
	if (fsec_privacy_stats_text(st, &text, &len) != FSEC_OK ||
	    fsec_file_write_atomic(pl->metrics_path, text, len, 0644, 0) != FSEC_OK)
		mosquitto_log_printf(MOSQ_LOG_WARNING, "fleetsec: privacy metrics %s: %s",
				     pl->metrics_path, fsec_err_detail());
	free(text);
}

static int on_tick(int event, void *event_data, void *userdata)
{
	struct plugin *pl = userdata;
	struct timespec now;
	size_t kicked = 0;

	(void)event;
	(void)event_data;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ms_since(&pl->last_poll, &now) < pl->poll_ms)
		return MOSQ_ERR_SUCCESS;
	pl->last_poll = now;
	if (fsec_mqtt_broker_poll(pl->broker, kick, pl, &kicked) != FSEC_OK)
		mosquitto_log_printf(MOSQ_LOG_WARNING,
				     "fleetsec: could not read the registry (will retry): %s",
				     fsec_err_detail());
	(void)fsec_mqtt_broker_expire(pl->broker, (int64_t)now.tv_sec, expire, pl);
	write_metrics(pl, &now);
	return MOSQ_ERR_SUCCESS;
}

static int on_reload(int event, void *event_data, void *userdata)
{
	struct plugin *pl = userdata;

	(void)event;
	(void)event_data;
	/* Mosquitto authenticates every client again after this, so a device
	 * revoked meanwhile goes now even without a tick. */
	if (fsec_mqtt_broker_reload(pl->broker) != FSEC_OK)
		mosquitto_log_printf(MOSQ_LOG_WARNING, "fleetsec: reload kept the old policy: %s",
				     fsec_err_detail());
	return MOSQ_ERR_SUCCESS;
}

static const char *opt(struct mosquitto_opt *opts, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(opts[i].key, key) == 0)
			return opts[i].value;
	return NULL;
}

PLUGIN_API int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
			  struct mosquitto_opt *opts, int opt_count)
{
	struct plugin *pl;
	const char *home = opt(opts, opt_count, "home");
	const char *acl = opt(opts, opt_count, "acl");
	const char *poll = opt(opts, opt_count, "poll_ms");
	const char *privacy = opt(opts, opt_count, "privacy");
	const char *metrics = opt(opts, opt_count, "privacy_metrics");
	const char *control = opt(opts, opt_count, "control_topic");
	unsigned long ms = POLL_MS_DEFAULT;

	for (int i = 0; i < opt_count; i++)
		if (strcmp(opts[i].key, "home") != 0 && strcmp(opts[i].key, "acl") != 0 &&
		    strcmp(opts[i].key, "poll_ms") != 0 && strcmp(opts[i].key, "privacy") != 0 &&
		    strcmp(opts[i].key, "privacy_metrics") != 0 &&
		    strcmp(opts[i].key, "control_topic") != 0) {
			mosquitto_log_printf(MOSQ_LOG_ERR, "fleetsec: unknown option plugin_opt_%s",
					     opts[i].key);
			return MOSQ_ERR_INVAL;
		}
	if (home == NULL) {
		mosquitto_log_printf(MOSQ_LOG_ERR, "fleetsec: plugin_opt_home (the fleet home) is "
						   "required");
		return MOSQ_ERR_INVAL;
	}
	if (poll != NULL && !fsec_parse_ulong(poll, 10, (unsigned long)POLL_MS_MAX, &ms)) {
		mosquitto_log_printf(MOSQ_LOG_ERR, "fleetsec: plugin_opt_poll_ms '%s': not 10-%ld",
				     poll, POLL_MS_MAX);
		return MOSQ_ERR_INVAL;
	}
	pl = calloc(1, sizeof(*pl));
	if (pl == NULL)
		return MOSQ_ERR_NOMEM;
	pl->id = identifier;
	pl->poll_ms = (long)ms;
	if (metrics != NULL && privacy == NULL) {
		mosquitto_log_printf(MOSQ_LOG_ERR, "fleetsec: plugin_opt_privacy_metrics without "
						   "plugin_opt_privacy");
		free(pl);
		return MOSQ_ERR_INVAL;
	}
	if (fsec_mqtt_broker_new(home, acl, &pl->broker) != FSEC_OK ||
	    (privacy != NULL && fsec_mqtt_broker_set_privacy(pl->broker, privacy) != FSEC_OK) ||
	    (control != NULL && fsec_mqtt_broker_set_control(pl->broker, control) != FSEC_OK) ||
	    (metrics != NULL && (pl->metrics_path = strdup(metrics)) == NULL)) {
		/* A privacy policy that does not parse stops the broker: running
		 * without it would forward what the operator meant to keep. */
		mosquitto_log_printf(MOSQ_LOG_ERR, "fleetsec: %s", fsec_err_detail());
		fsec_mqtt_broker_free(pl->broker);
		free(pl);
		return MOSQ_ERR_UNKNOWN;
	}
	pl->privacy = privacy;
	pl->control = control;
	if (mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, pl) ||
	    (control != NULL && mosquitto_callback_register(identifier, MOSQ_EVT_CONTROL, on_control,
							    control, pl)) ||
	    (privacy != NULL &&
	     mosquitto_callback_register(identifier, MOSQ_EVT_MESSAGE, on_message, NULL, pl)) ||
	    mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, pl) ||
	    mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, pl) ||
	    mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, NULL, pl) ||
	    mosquitto_callback_register(identifier, MOSQ_EVT_RELOAD, on_reload, NULL, pl)) {
		mosquitto_log_printf(MOSQ_LOG_ERR, "fleetsec: could not register callbacks");
		fsec_mqtt_broker_free(pl->broker);
		free(pl->metrics_path);
		free(pl);
		return MOSQ_ERR_UNKNOWN;
	}
	clock_gettime(CLOCK_MONOTONIC, &pl->last_poll);
	mosquitto_log_printf(MOSQ_LOG_INFO,
			     "fleetsec: fleet %s, policy %s, privacy %s, registry read every %ld ms",
			     home, acl != NULL ? acl : "(default)", privacy != NULL ? privacy : "(none)",
			     pl->poll_ms);
	*userdata = pl;
	return MOSQ_ERR_SUCCESS;
}

PLUGIN_API int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
	struct plugin *pl = userdata;

	(void)opts;
	(void)opt_count;
	if (pl == NULL)
		return MOSQ_ERR_SUCCESS;
	mosquitto_callback_unregister(pl->id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
	mosquitto_callback_unregister(pl->id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	mosquitto_callback_unregister(pl->id, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
	mosquitto_callback_unregister(pl->id, MOSQ_EVT_TICK, on_tick, NULL);
	mosquitto_callback_unregister(pl->id, MOSQ_EVT_RELOAD, on_reload, NULL);
	if (pl->privacy != NULL)
		mosquitto_callback_unregister(pl->id, MOSQ_EVT_MESSAGE, on_message, NULL);
	if (pl->control != NULL)
		mosquitto_callback_unregister(pl->id, MOSQ_EVT_CONTROL, on_control, pl->control);
	fsec_mqtt_broker_free(pl->broker);
	free(pl->metrics_path);
	free(pl);
	return MOSQ_ERR_SUCCESS;
}
