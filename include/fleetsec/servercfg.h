/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsecd's configuration file (HOME/fleetsecd.conf, or --config FILE):
 * `key = value` lines as in the agent's; command-line flags override it.
 *
 *   listen          = 0.0.0.0:8443                 HOST:PORT or [V6]:PORT
 *   coaps           = 0.0.0.0:5684                 CoAP over DTLS (issue 17): ADDR[:PORT]
 *                                                  (port 5684 if none); "" (default): off
 *   cert            = /var/lib/fleetsec/server.pem server certificate chain
 *   key             = /var/lib/fleetsec/server.key path or OpenSSL store URI
 *   admin           = 127.0.0.1:9100               Prometheus metrics (loopback only)
 *   approval        = auto                         auto or manual (enrollment)
 *   max_connections = 1024
 *   max_per_source  = 32                           open connections per address (IPv6: /64)
 *   timeout         = 10                           seconds a client may stall
 *   crl_refresh     = 0.5                          re-sign the CRL this far into its
 *                                                  period (0.01-0.9)
 *   crl_delay       = 1                            seconds a revocation (a renewal)
 *                                                  waits before the CRL is re-signed,
 *                                                  once for all that came meanwhile
 *   renew_after_percent = 50    a renewal before this share of the certificate's
 *                               lifetime is refused (0-60; the agent renews
 *                               from 61%: two thirds less its jitter)
 *   renewals_per_day    = 4     certificates a device may get in 24 hours
 *   refusals_per_minute = 10    refused requests recorded per source address
 *   reports_per_hour    = 60    status reports stored per device
 *   rollout_tick        = 10    seconds between rollout evaluations (1-60;
 *                               fsec_rollout_evaluate_all: auto-pause and
 *                               auto-advance happen there, not at a report)
 *   release_refresh     = off   auto: sign again every published manifest, and
 *                               the timestamp of its model, past half of its
 *                               validity (needs the next three)
 *   release_key         =       the online key the delegation names
 *   release_delegation  =       the delegation (JSON) naming it
 *   release_root        =       the release root public key devices pin
 *   firmware_enc_key    =       the private key encrypted releases are made
 *                               for (fw sign --encrypt its public half);
 *                               unset: GET /v1/firmware/SHA256/key is 404
 *   enc_key_self_enroll = on    off: POST /v1/enc-key is 403, and only the
 *                               operator enrols devices' encryption keys
 *                               (the first key a device sends is trusted on
 *                               first use: devapi.h)
 *   mqtt_acl            =       the MQTT topic policy (mqtt.h) POST
 *                               /v1/emqx/authz decides by; unset: the default
 *                               policy, as the Mosquitto plugin's
 */
#ifndef FLEETSEC_SERVERCFG_H
#define FLEETSEC_SERVERCFG_H

#include <stddef.h>

#include "fleetsec/common.h"

#define FSEC_SERVERCFG_MAX (64u * 1024u)
#define FSEC_SERVERCFG_VALUE_MAX 1024

struct fsec_servercfg {
	char listen[300];
	char coaps[300];                           /* "": no CoAPs listener (issue 17) */
	char cert[FSEC_SERVERCFG_VALUE_MAX + 1];   /* "": HOME/server.pem */
	char key[FSEC_SERVERCFG_VALUE_MAX + 1];    /* "": HOME/server.key */
	char admin[300];                           /* "": no metrics listener */
	char approval[16];
	unsigned long max_connections, timeout;
	char crl_refresh[8];           /* as written: "0.5" */
	unsigned crl_refresh_permille; /* crl_refresh in thousandths, 10-900 */
	unsigned long crl_delay;       /* seconds, 0-3600 */
	unsigned long renew_after_percent, renewals_per_day, refusals_per_minute,
		reports_per_hour;
	unsigned long max_per_source; /* FSEC_SRCLIMIT_DEFAULT (srclimit.h) */
	unsigned long rollout_tick;   /* seconds, 1-60 (FSEC_ROLLOUT_EVAL_TICK_S) */
	char release_refresh[8];      /* "off" or "auto" */
	char release_key[FSEC_SERVERCFG_VALUE_MAX + 1];
	char release_delegation[FSEC_SERVERCFG_VALUE_MAX + 1];
	char release_root[FSEC_SERVERCFG_VALUE_MAX + 1];
	/* The private key encrypted releases are wrapped to (issue 19), which
	 * GET /v1/firmware/SHA256/key unwraps and wraps again per device. */
	char firmware_enc_key[FSEC_SERVERCFG_VALUE_MAX + 1];
	char enc_key_self_enroll[8]; /* "on" or "off" */
	/* The topic policy of the EMQX authorizer (issue 15); "": default. */
	char mqtt_acl[FSEC_SERVERCFG_VALUE_MAX + 1];
};

/* The most renew_after_percent may be: below the agent's earliest renewal
 * (fsec_estc_renew: two thirds of the lifetime less up to a twentieth), so
 * that an agent renewing on its own schedule is never refused. */
#define FSEC_RENEW_AFTER_MAX 60

/* Fill c with the defaults: listen 127.0.0.1:8443, approval auto,
 * max_connections 1024, max_per_source 32, timeout 10, crl_refresh 0.5, crl_delay 1,
 * renew_after_percent 50, renewals_per_day 4, refusals_per_minute 10,
 * reports_per_hour 60, rollout_tick 10, release_refresh off. */
FSEC_API void fsec_servercfg_defaults(struct fsec_servercfg *c);

/*
 * Parse a configuration of at most FSEC_SERVERCFG_MAX bytes over the
 * defaults. release_refresh = auto without release_key, release_delegation
 * and release_root is refused. Errors: TOO_LARGE, PARSE (with the line
 * number and the key).
 * Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_servercfg_parse(const unsigned char *buf, size_t len,
						     struct fsec_servercfg *out);

/*
 * The first setting that differs between a running server's configuration
 * (was) and a reloaded one (now) and that only a restart can change: the
 * sockets (listen, admin), the tables sized at start (max_connections,
 * max_per_source), and release_refresh with its key files (the refresher
 * holds the key it started with). NULL when a reload may apply now.
 * Thread-safe.
 */
FSEC_API const char *fsec_servercfg_restart_needed(const struct fsec_servercfg *was,
						   const struct fsec_servercfg *now);

#endif
