/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsecd's configuration file (servercfg.h), on the shared
 * `key = value` grammar. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "err_int.h"
#include "fleetsec/servercfg.h"
#include "fleetsec/srclimit.h"
#include "kvconf_int.h"

#define STRF(n)                                                                                 \
	{#n, FSEC_KV_STR, offsetof(struct fsec_servercfg, n),                                   \
	 sizeof(((struct fsec_servercfg *)0)->n), 0, 0, false}
#define NUMF(n, mx) {#n, FSEC_KV_NUM, offsetof(struct fsec_servercfg, n), 0, 0, mx, false}

static const struct fsec_kv_field fields[] = {
	STRF(listen), STRF(cert), STRF(key), STRF(admin), STRF(approval),
	NUMF(max_connections, 1000000), NUMF(timeout, 3600),
	NUMF(max_per_source, 1000000),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

FSEC_API void fsec_servercfg_defaults(struct fsec_servercfg *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8443");
	snprintf(c->approval, sizeof(c->approval), "auto");
	c->max_connections = 1024;
	c->timeout = 10;
	c->max_per_source = FSEC_SRCLIMIT_DEFAULT;
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
	if (c.max_connections == 0 || c.timeout == 0 || c.max_per_source == 0)
		return fsec_seterr(FSEC_ERR_PARSE,
				   "max_connections, max_per_source and timeout must be at least 1");
	*out = c;
	return FSEC_OK;
}
