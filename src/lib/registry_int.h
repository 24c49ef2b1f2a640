/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the backend interface behind registry.h. A backend fills a
 * struct fsec_registry_ops; registry.c validates arguments and dispatches, so
 * a backend may assume its inputs are well-formed.
 */
#ifndef FLEETSEC_REGISTRY_INT_H
#define FLEETSEC_REGISTRY_INT_H

#include "fleetsec/registry.h"

struct fsec_registry_ops {
	const char *scheme;
	enum fsec_err (*open)(const char *path, unsigned flags, void **be);
	void (*close)(void *be);
	enum fsec_err (*begin)(void *be);
	enum fsec_err (*commit)(void *be);
	void (*rollback)(void *be);
	enum fsec_err (*device_get)(void *be, const char *id, struct fsec_device_rec *out);
	enum fsec_err (*device_put)(void *be, const struct fsec_device_rec *rec);
	enum fsec_err (*device_list)(void *be, const char *status, const char *model,
				     fsec_device_cb cb, void *ctx);
	enum fsec_err (*cert_add)(void *be, const struct fsec_cert_rec *rec, const char *pem);
	enum fsec_err (*cert_list)(void *be, const struct fsec_cert_filter *f, fsec_cert_cb cb,
				   void *ctx);
	enum fsec_err (*cert_pem)(void *be, const char *serial, char **pem);
	enum fsec_err (*cert_revoke)(void *be, const char *serial, int64_t at, int reason);
	enum fsec_err (*event_add)(void *be, const struct fsec_event_rec *ev);
	enum fsec_err (*event_list)(void *be, const char *device_id, fsec_event_cb cb, void *ctx);
	enum fsec_err (*counter_next)(void *be, const char *name, uint64_t *out);
	enum fsec_err (*device_net_set)(void *be, const char *id, const char *mac, const char *ip,
					int64_t now);
	enum fsec_err (*device_net_list)(void *be, fsec_device_net_cb cb, void *ctx);
};

extern const struct fsec_registry_ops fsec_registry_sqlite_ops;

#endif
