/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
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

FSEC_API enum fsec_err fsec_registry_product_get(struct fsec_registry *reg, const char *model,
						 struct fsec_product_rec *out)
{
	return reg->ops->product_get(reg->be, model, out);
}

FSEC_API enum fsec_err fsec_registry_product_put(struct fsec_registry *reg,
						 const struct fsec_product_rec *rec)
{
	if (rec->model[0] == '\0')
		return fsec_seterr(FSEC_ERR_INVAL, "a product needs a model name");
	return reg->ops->product_put(reg->be, rec);
}

FSEC_API enum fsec_err fsec_registry_product_list(struct fsec_registry *reg, fsec_product_cb cb,
						  void *ctx)
{
	return reg->ops->product_list(reg->be, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_devstate_get(struct fsec_registry *reg, const char *id,
						  struct fsec_devstate_rec *out)
{
	enum fsec_err rc = fsec_devid_check(id);

	return rc != FSEC_OK ? rc : reg->ops->devstate_get(reg->be, id, out);
}

FSEC_API enum fsec_err fsec_registry_devstate_put(struct fsec_registry *reg,
						  const struct fsec_devstate_rec *rec)
{
	enum fsec_err rc = fsec_devid_check(rec->device_id);

	return rc != FSEC_OK ? rc : reg->ops->devstate_put(reg->be, rec);
}

FSEC_API enum fsec_err fsec_registry_devstate_list(struct fsec_registry *reg,
						   fsec_devstate_cb cb, void *ctx)
{
	return reg->ops->devstate_list(reg->be, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_device_state_list(struct fsec_registry *reg,
						       fsec_device_state_cb cb, void *ctx)
{
	return reg->ops->device_state_list(reg->be, cb, ctx);
}
