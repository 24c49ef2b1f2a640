/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "err_int.h"
#include "registry_int.h"

struct fsec_registry {
	const struct fsec_registry_ops *ops;
	void *be;
};

static const struct fsec_registry_ops *const backends[] = {
	&fsec_registry_sqlite_ops,
};

FSEC_API enum fsec_err fsec_registry_open(const char *location, unsigned flags,
					  struct fsec_registry **out)
{
	const struct fsec_registry_ops *ops = NULL;
	const char *path = location;
	const char *colon = strchr(location, ':');
	struct fsec_registry *reg;
	enum fsec_err rc;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		size_t slen = strlen(backends[i]->scheme);

		if (strncmp(location, backends[i]->scheme, slen) == 0 && location[slen] == ':') {
			ops = backends[i];
			path = location + slen + 1;
		}
	}
	if (ops == NULL && colon != NULL && colon - location >= 2 &&
	    strspn(location, "abcdefghijklmnopqrstuvwxyz") == (size_t)(colon - location))
		return fsec_seterr(FSEC_ERR_INVAL, "unknown registry scheme in '%.80s'", location);
	if (ops == NULL)
		ops = &fsec_registry_sqlite_ops;
	reg = calloc(1, sizeof(*reg));
	if (reg == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	reg->ops = ops;
	rc = ops->open(path, flags, &reg->be);
	if (rc != FSEC_OK) {
		free(reg);
		return rc;
	}
	*out = reg;
	return FSEC_OK;
}

FSEC_API void fsec_registry_free(struct fsec_registry *reg)
{
	if (reg == NULL)
		return;
	reg->ops->close(reg->be);
	free(reg);
}

FSEC_API enum fsec_err fsec_registry_begin(struct fsec_registry *reg)
{
	return reg->ops->begin(reg->be);
}

FSEC_API enum fsec_err fsec_registry_commit(struct fsec_registry *reg)
{
	return reg->ops->commit(reg->be);
}

FSEC_API void fsec_registry_rollback(struct fsec_registry *reg)
{
	reg->ops->rollback(reg->be);
}

FSEC_API enum fsec_err fsec_registry_device_get(struct fsec_registry *reg, const char *id,
						struct fsec_device_rec *out)
{
	enum fsec_err rc = fsec_devid_check(id);

	return rc != FSEC_OK ? rc : reg->ops->device_get(reg->be, id, out);
}

FSEC_API enum fsec_err fsec_registry_device_put(struct fsec_registry *reg,
						const struct fsec_device_rec *rec)
{
	enum fsec_err rc = fsec_devid_check(rec->id);

	return rc != FSEC_OK ? rc : reg->ops->device_put(reg->be, rec);
}

FSEC_API enum fsec_err fsec_registry_device_list(struct fsec_registry *reg, const char *status,
						 const char *model, fsec_device_cb cb, void *ctx)
{
	return reg->ops->device_list(reg->be, status, model, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_cert_add(struct fsec_registry *reg,
					      const struct fsec_cert_rec *rec, const char *pem)
{
	enum fsec_err rc = fsec_devid_check(rec->device_id);

	return rc != FSEC_OK ? rc : reg->ops->cert_add(reg->be, rec, pem);
}

FSEC_API enum fsec_err fsec_registry_cert_list(struct fsec_registry *reg,
					       const struct fsec_cert_filter *filter,
					       fsec_cert_cb cb, void *ctx)
{
	static const struct fsec_cert_filter all;

	return reg->ops->cert_list(reg->be, filter != NULL ? filter : &all, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_cert_pem(struct fsec_registry *reg, const char *serial,
					      char **pem)
{
	return reg->ops->cert_pem(reg->be, serial, pem);
}

FSEC_API enum fsec_err fsec_registry_cert_revoke(struct fsec_registry *reg, const char *serial,
						 int64_t at, int reason)
{
	return reg->ops->cert_revoke(reg->be, serial, at, reason);
}

FSEC_API enum fsec_err fsec_registry_event_add(struct fsec_registry *reg,
					       const struct fsec_event_rec *ev)
{
	return reg->ops->event_add(reg->be, ev);
}

FSEC_API enum fsec_err fsec_registry_event_list(struct fsec_registry *reg, const char *device_id,
						fsec_event_cb cb, void *ctx)
{
	return reg->ops->event_list(reg->be, device_id, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_counter_next(struct fsec_registry *reg, const char *name,
						  uint64_t *out)
{
	if (name[0] == '\0' || strlen(name) > 64)
		return fsec_seterr(FSEC_ERR_INVAL, "bad counter name");
	return reg->ops->counter_next(reg->be, name, out);
}

FSEC_API enum fsec_err fsec_registry_device_net_set(struct fsec_registry *reg, const char *id,
						    const char *mac, const char *ip)
{
	enum fsec_err rc = fsec_devid_check(id);
	char lmac[18];
	unsigned char bin[4];

	if (rc != FSEC_OK)
		return rc;
	if (mac != NULL && mac[0] != '\0') {
		/* Canonical form, so that the UNIQUE constraint sees one spelling. */
		if (strlen(mac) != 17)
			return fsec_seterr(FSEC_ERR_INVAL, "'%.40s' is not a MAC address", mac);
		for (size_t i = 0; i < 17; i++) {
			bool colon = i % 3 == 2;

			if (colon ? mac[i] != ':' : !isxdigit((unsigned char)mac[i]))
				return fsec_seterr(FSEC_ERR_INVAL, "'%.40s' is not a MAC address", mac);
			lmac[i] = (char)tolower((unsigned char)mac[i]);
		}
		lmac[17] = '\0';
		mac = lmac;
	}
	if (ip != NULL && ip[0] != '\0' && (strlen(ip) > 15 || inet_pton(AF_INET, ip, bin) != 1))
		return fsec_seterr(FSEC_ERR_INVAL, "'%.40s' is not an IPv4 address", ip);
	return reg->ops->device_net_set(reg->be, id, mac, ip, (int64_t)time(NULL));
}

FSEC_API enum fsec_err fsec_registry_device_net_list(struct fsec_registry *reg,
						     fsec_device_net_cb cb, void *ctx)
{
	return reg->ops->device_net_list(reg->be, cb, ctx);
}
