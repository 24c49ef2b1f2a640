/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsecd's configuration file (servercfg.h), on the shared
 * `key = value` grammar. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "err_int.h"
#include "fleetsec/rollout.h"
#include "fleetsec/servercfg.h"
#include "fleetsec/text.h"
#include "fleetsec/srclimit.h"
#include "kvconf_int.h"

#define STRF(n)                                                                                 \
	{#n, FSEC_KV_STR, offsetof(struct fsec_servercfg, n),                                   \
	 sizeof(((struct fsec_servercfg *)0)->n), 0, 0, false}
#define NUMF(n, mx) {#n, FSEC_KV_NUM, offsetof(struct fsec_servercfg, n), 0, 0, mx, false}

static const struct fsec_kv_field fields[] = {
	STRF(listen), STRF(coaps), STRF(cert), STRF(key), STRF(admin), STRF(approval),
	NUMF(max_connections, 1000000), NUMF(timeout, 3600),
	STRF(crl_refresh), NUMF(crl_delay, 3600),
	NUMF(renew_after_percent, FSEC_RENEW_AFTER_MAX), NUMF(renewals_per_day, 1000),
	NUMF(refusals_per_minute, 100000), NUMF(reports_per_hour, 1000000),
	NUMF(max_per_source, 1000000), NUMF(rollout_tick, FSEC_ROLLOUT_EVAL_MAX_S),
	STRF(release_refresh), STRF(release_key), STRF(release_delegation), STRF(release_root),
	STRF(firmware_enc_key), STRF(mqtt_acl), STRF(enc_key_self_enroll),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

FSEC_API void fsec_servercfg_defaults(struct fsec_servercfg *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8443");
	snprintf(c->approval, sizeof(c->approval), "auto");
	c->max_connections = 1024;
	c->max_per_source = FSEC_SRCLIMIT_DEFAULT;
	c->timeout = 10;
	snprintf(c->crl_refresh, sizeof(c->crl_refresh), "0.5");
	c->crl_refresh_permille = 500;
	c->crl_delay = 1;
	c->renew_after_percent = 50;
	c->renewals_per_day = 4;
	c->refusals_per_minute = 10;
	c->reports_per_hour = 60;
	c->rollout_tick = FSEC_ROLLOUT_EVAL_TICK_S;
	snprintf(c->release_refresh, sizeof(c->release_refresh), "off");
	snprintf(c->enc_key_self_enroll, sizeof(c->enc_key_self_enroll), "on");
}

/* A share written "0.D", "0.DD" or "0.DDD", as thousandths in [10, 900]:
 * past nine tenths of its period a CRL would be re-signed too close to its
 * nextUpdate for a relying party that fetches it now and then. */
static bool parse_share(const char *s, unsigned *permille)
{
	size_t n = strlen(s);
	unsigned long v;

	if (n < 3 || n > 5 || s[0] != '0' || s[1] != '.' || !fsec_parse_ulong(s + 2, 0, 999, &v))
		return false;
	for (size_t i = n - 2; i < 3; i++)
		v *= 10;
	if (v < 10 || v > 900)
		return false;
	*permille = (unsigned)v;
	return true;
}

FSEC_API enum fsec_err fsec_servercfg_parse(const unsigned char *buf, size_t len,
					    struct fsec_servercfg *out)
{
	struct fsec_servercfg c;
	bool seen[NFIELDS] = {false};
	enum fsec_err rc;

	fsec_servercfg_defaults(&c);
	if ((rc = fsec_kv_parse(buf, len, FSEC_SERVERCFG_MAX, fields, NFIELDS, &c, seen)) != FSEC_OK)
		return rc;
	if (strcmp(c.approval, "auto") != 0 && strcmp(c.approval, "manual") != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "approval must be auto or manual");
	if (!parse_share(c.crl_refresh, &c.crl_refresh_permille))
		return fsec_seterr(FSEC_ERR_PARSE, "crl_refresh must be a share from 0.01 to 0.9 "
						   "(for example 0.5)");
	if (c.renewals_per_day == 0 || c.refusals_per_minute == 0 || c.reports_per_hour == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "renewals_per_day, refusals_per_minute and "
						   "reports_per_hour must be at least 1");
	if (c.max_connections == 0 || c.timeout == 0 || c.max_per_source == 0 ||
	    c.rollout_tick == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "max_connections, max_per_source, timeout and "
						   "rollout_tick must be at least 1");
	if (strcmp(c.release_refresh, "off") != 0 && strcmp(c.release_refresh, "auto") != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "release_refresh must be off or auto");
	if (strcmp(c.enc_key_self_enroll, "on") != 0 && strcmp(c.enc_key_self_enroll, "off") != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "enc_key_self_enroll must be on or off");
	/* auto signs with the online key: without it, nothing would be signed
	 * and manifests would lapse while the operator believes otherwise. */
	if (strcmp(c.release_refresh, "auto") == 0 &&
	    (c.release_key[0] == '\0' || c.release_delegation[0] == '\0' ||
	     c.release_root[0] == '\0'))
		return fsec_seterr(FSEC_ERR_PARSE, "release_refresh = auto needs release_key, "
						   "release_delegation and release_root");
	*out = c;
	return FSEC_OK;
}

FSEC_API const char *fsec_servercfg_restart_needed(const struct fsec_servercfg *was,
						   const struct fsec_servercfg *now)
{
	if (strcmp(was->listen, now->listen) != 0)
		return "listen";
	if (strcmp(was->coaps, now->coaps) != 0)
		return "coaps";
	if (strcmp(was->admin, now->admin) != 0)
		return "admin";
	if (was->max_connections != now->max_connections)
		return "max_connections";
	if (was->max_per_source != now->max_per_source)
		return "max_per_source";
	if (strcmp(was->release_refresh, now->release_refresh) != 0)
		return "release_refresh";
	if (strcmp(was->release_key, now->release_key) != 0)
		return "release_key";
	if (strcmp(was->release_delegation, now->release_delegation) != 0)
		return "release_delegation";
	if (strcmp(was->release_root, now->release_root) != 0)
		return "release_root";
	return NULL;
}
