/* SPDX-License-Identifier: Apache-2.0 */
/* The registry's public operations (registry.h): argument checks,
 * then the backend's ops table (registry_int.h). No SQL here. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err_int.h"
#include "fleetsec/names.h"
#include "pg_int.h"
#include "registry_int.h"
#include "text_int.h"

struct fsec_registry {
	const struct fsec_registry_ops *ops;
	void *be;
};

static const struct fsec_registry_ops *const backends[] = {
	&fsec_registry_sqlite_ops,
	&fsec_registry_pg_ops,
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
			path = ops->whole_location ? location : location + slen + 1;
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

FSEC_API bool fsec_registry_location_is_pg(const char *location)
{
	return location != NULL && strncmp(location, "postgresql:", 11) == 0;
}

FSEC_API enum fsec_err fsec_registry_location_check(const char *location)
{
	if (location == NULL || location[0] == '\0')
		return fsec_seterr(FSEC_ERR_INVAL, "registry location is empty");
	if (fsec_registry_location_is_pg(location))
		return pg_location_check(location);
	if (strncmp(location, "sqlite:", 7) == 0)
		return FSEC_OK;
	return fsec_seterr(FSEC_ERR_INVAL, "registry location '%.80s': give sqlite:PATH or "
			   "postgresql://...", location);
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

FSEC_API enum fsec_err fsec_registry_device_list(struct fsec_registry *reg,
						 enum fsec_dev_status status,
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

FSEC_API enum fsec_err fsec_registry_current_pem_list(struct fsec_registry *reg,
						      fsec_current_pem_cb cb, void *ctx)
{
	return reg->ops->current_pem_list(reg->be, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_cert_revoke(struct fsec_registry *reg, const char *serial,
						 int64_t at, int reason)
{
	return reg->ops->cert_revoke(reg->be, serial, at, reason);
}

FSEC_API enum fsec_err fsec_registry_server_cert_add(struct fsec_registry *reg,
						     const struct fsec_server_cert_rec *rec)
{
	if (rec->serial[0] == '\0' || rec->name[0] == '\0' || rec->fingerprint[0] == '\0')
		return fsec_seterr(FSEC_ERR_INVAL, "a server certificate needs a serial, a name "
				   "and a fingerprint");
	return reg->ops->server_cert_add(reg->be, rec);
}

FSEC_API enum fsec_err fsec_registry_server_cert_list(struct fsec_registry *reg,
						      int64_t not_expired_at, bool revoked_only,
						      fsec_server_cert_cb cb, void *ctx)
{
	return reg->ops->server_cert_list(reg->be, not_expired_at, revoked_only, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_server_cert_revoke(struct fsec_registry *reg,
							const char *serial, int64_t at, int reason)
{
	return reg->ops->server_cert_revoke(reg->be, serial, at, reason);
}

FSEC_API enum fsec_err fsec_registry_event_add(struct fsec_registry *reg,
					       const struct fsec_event_rec *ev)
{
	return reg->ops->event_add(reg->be, ev);
}

FSEC_API enum fsec_err fsec_registry_event_addf(struct fsec_registry *reg, const char *actor,
						const char *action, const char *device,
						const char *fmt, ...)
{
	struct fsec_event_rec ev;
	va_list ap;

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.actor, sizeof(ev.actor), "%s", actor != NULL ? actor : "unknown");
	snprintf(ev.action, sizeof(ev.action), "%s", action);
	if (device != NULL && fsec_devid_valid(device))
		snprintf(ev.device_id, sizeof(ev.device_id), "%s", device);
	va_start(ap, fmt);
	vsnprintf(ev.detail, sizeof(ev.detail), fmt, ap);
	va_end(ap);
	return reg->ops->event_add(reg->be, &ev);
}

FSEC_API enum fsec_err fsec_registry_event_list(struct fsec_registry *reg, const char *device_id,
						fsec_event_cb cb, void *ctx)
{
	return reg->ops->event_list(reg->be, device_id, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_event_list_after(struct fsec_registry *reg, int64_t after,
						      fsec_event_cb cb, void *ctx)
{
	return reg->ops->event_list_after(reg->be, after, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_counter_next(struct fsec_registry *reg, const char *name,
						  uint64_t *out)
{
	return fsec_registry_counter_next_above(reg, name, 0, out);
}

FSEC_API enum fsec_err fsec_registry_counter_next_above(struct fsec_registry *reg,
							const char *name, uint64_t floor,
							uint64_t *out)
{
	if (name[0] == '\0' || strlen(name) > 64)
		return fsec_seterr(FSEC_ERR_INVAL, "bad counter name");
	/* SQLite stores signed 64-bit integers; the result is floor + 1 at most. */
	if (floor >= (uint64_t)INT64_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "counter %s: floor out of range", name);
	return reg->ops->counter_next(reg->be, name, floor, out);
}

/* A SHA-256 as 64 lowercase hex digits: the one spelling the records use. */
static bool hex64(const char *s)
{
	return fsec_hex_valid(s, 32, FSEC_HEX_LOWER);
}

FSEC_API enum fsec_err fsec_registry_enroll_ca_add(struct fsec_registry *reg,
						   const struct fsec_enroll_ca_rec *rec, const char *pem)
{
	if (!hex64(rec->fingerprint))
		return fsec_seterr(FSEC_ERR_INVAL, "bad CA fingerprint");
	return reg->ops->enroll_ca_add(reg->be, rec, pem);
}

FSEC_API enum fsec_err fsec_registry_enroll_ca_list(struct fsec_registry *reg,
						    fsec_enroll_ca_cb cb, void *ctx)
{
	return reg->ops->enroll_ca_list(reg->be, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_enroll_allow_add(struct fsec_registry *reg,
						      const char *ca_fingerprint, const char *pattern,
						      const char *model, bool replace)
{
	size_t n = strlen(pattern);

	if (!hex64(ca_fingerprint))
		return fsec_seterr(FSEC_ERR_INVAL, "bad CA fingerprint");
	if (n == 0 || n > FSEC_DEVID_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "serial pattern must be 1-%d characters",
				   FSEC_DEVID_MAX);
	if (model[0] != '\0' && fsec_model_check(model) != FSEC_OK)
		return FSEC_ERR_INVAL;
	return reg->ops->enroll_allow_add(reg->be, ca_fingerprint, pattern, model, replace);
}

FSEC_API enum fsec_err fsec_registry_enroll_remove(struct fsec_registry *reg,
						   const char *ca_fingerprint, const char *pattern)
{
	if (!hex64(ca_fingerprint))
		return fsec_seterr(FSEC_ERR_INVAL, "bad CA fingerprint");
	return reg->ops->enroll_remove(reg->be, ca_fingerprint, pattern);
}

FSEC_API enum fsec_err fsec_registry_enroll_allow_list(struct fsec_registry *reg,
						       const char *ca_fingerprint,
						       fsec_enroll_pattern_cb cb, void *ctx)
{
	return reg->ops->enroll_allow_list(reg->be, ca_fingerprint, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_bootstrap_spend(struct fsec_registry *reg,
						     const char *fingerprint, const char *use,
						     const char *device_id, int64_t at,
						     const char *ca_fingerprint)
{
	enum fsec_err rc = fsec_devid_check(device_id);

	if (rc != FSEC_OK)
		return rc;
	if (!hex64(fingerprint) || (strcmp(use, "enroll") != 0 && strcmp(use, "re-enroll") != 0) ||
	    (ca_fingerprint[0] != '\0' && !hex64(ca_fingerprint)))
		return fsec_seterr(FSEC_ERR_INVAL, "bad bootstrap use");
	return reg->ops->bootstrap_spend(reg->be, fingerprint, use, device_id, at,
					 ca_fingerprint);
}

FSEC_API enum fsec_err fsec_registry_bootstrap_spent(struct fsec_registry *reg,
						     const char *fingerprint, const char *use,
						     char device_id[FSEC_DEVID_MAX + 1])
{
	return reg->ops->bootstrap_spent(reg->be, fingerprint, use, device_id);
}

FSEC_API enum fsec_err fsec_registry_pending_put(struct fsec_registry *reg,
						 const struct fsec_enroll_pending_rec *rec)
{
	enum fsec_err rc = fsec_devid_check(rec->device_id);

	if (rc != FSEC_OK)
		return rc;
	if (!hex64(rec->bootstrap_fp) || !hex64(rec->spki_sha256))
		return fsec_seterr(FSEC_ERR_INVAL, "bad pending enrollment");
	return reg->ops->pending_put(reg->be, rec);
}

FSEC_API enum fsec_err fsec_registry_pending_get(struct fsec_registry *reg, const char *device_id,
						 struct fsec_enroll_pending_rec *out)
{
	enum fsec_err rc = fsec_devid_check(device_id);

	return rc != FSEC_OK ? rc : reg->ops->pending_get(reg->be, device_id, out);
}

FSEC_API enum fsec_err fsec_registry_pending_approve(struct fsec_registry *reg,
						     const char *device_id, const char *key_prefix,
						     const char *by, int64_t at)
{
	enum fsec_err rc = fsec_devid_check(device_id);
	size_t n = strlen(key_prefix);

	if (rc != FSEC_OK)
		return rc;
	/* Hex only: the prefix becomes a LIKE pattern, where % and _ mean
	 * something. */
	if (n < 16 || n > 64 || strspn(key_prefix, "0123456789abcdef") != n)
		return fsec_seterr(FSEC_ERR_INVAL, "key: 16 to 64 lowercase hex digits of the SHA-256 "
						   "that enroll pending shows");
	return reg->ops->pending_approve(reg->be, device_id, key_prefix, by, at);
}

FSEC_API enum fsec_err fsec_registry_pending_delete(struct fsec_registry *reg,
						    const char *device_id)
{
	enum fsec_err rc = fsec_devid_check(device_id);

	return rc != FSEC_OK ? rc : reg->ops->pending_delete(reg->be, device_id);
}

FSEC_API enum fsec_err fsec_registry_pending_list(struct fsec_registry *reg,
						  fsec_enroll_pending_cb cb, void *ctx)
{
	return reg->ops->pending_list(reg->be, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_set_busy_timeout(struct fsec_registry *reg, int ms)
{
	if (ms < 0 || ms > 600000)
		return fsec_seterr(FSEC_ERR_INVAL, "busy timeout must be 0-600000 ms");
	reg->ops->busy_timeout(reg->be, ms);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_registry_data_version(struct fsec_registry *reg, uint64_t *out)
{
	return reg->ops->data_version(reg->be, out);
}

FSEC_API enum fsec_err fsec_registry_publish_put(struct fsec_registry *reg,
						 const struct fsec_published_rec *rec,
						 const char *bundle)
{
	if (rec->model[0] == '\0' || !hex64(rec->sha256) || rec->percent < 0 || rec->percent > 100)
		return fsec_seterr(FSEC_ERR_INVAL, "bad published release");
	if (rec->group[0] != '\0' && !fsec_name_valid(rec->group, FSEC_GROUP_MAX))
		return fsec_seterr(FSEC_ERR_INVAL, "group: 1-%d characters of A-Z a-z 0-9 . _ -",
				   FSEC_GROUP_MAX);
	if (rec->state[0] != '\0' && strcmp(rec->state, "active") != 0 &&
	    strcmp(rec->state, "paused") != 0 && strcmp(rec->state, "aborted") != 0)
		return fsec_seterr(FSEC_ERR_INVAL, "rollout state '%s' unknown", rec->state);
	if (memchr(rec->phases, '\0', sizeof(rec->phases)) == NULL || rec->phase < 0)
		return fsec_seterr(FSEC_ERR_INVAL, "bad rollout phases");
	return reg->ops->publish_put(reg->be, rec, bundle);
}

FSEC_API enum fsec_err fsec_registry_baseline_get(struct fsec_registry *reg, const char *model,
						  struct fsec_published_rec *rec, char **bundle)
{
	return reg->ops->baseline_get(reg->be, model, rec, bundle);
}

FSEC_API enum fsec_err fsec_registry_baseline_keep(struct fsec_registry *reg, const char *model)
{
	return reg->ops->baseline_keep(reg->be, model);
}

FSEC_API enum fsec_err fsec_registry_baseline_bundle_put(struct fsec_registry *reg,
							 const char *model, const char *sha256,
							 const char *bundle)
{
	if (model == NULL || sha256 == NULL || bundle == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "a model, an image and a manifest are required");
	return reg->ops->baseline_bundle_put(reg->be, model, sha256, bundle);
}

FSEC_API enum fsec_err fsec_registry_served_get(struct fsec_registry *reg, const char *id,
						char sha[FSEC_SHA256_HEX_LEN], int64_t *at)
{
	enum fsec_err rc = fsec_devid_check(id);

	sha[0] = '\0';
	*at = 0;
	return rc != FSEC_OK ? rc : reg->ops->served_get(reg->be, id, sha, at);
}

FSEC_API enum fsec_err fsec_registry_served_put(struct fsec_registry *reg, const char *id,
						const char *sha, int64_t at)
{
	enum fsec_err rc = fsec_devid_check(id);

	if (rc != FSEC_OK)
		return rc;
	if (!hex64(sha))
		return fsec_seterr(FSEC_ERR_INVAL, "served image: not a SHA-256");
	return reg->ops->served_put(reg->be, id, sha, at);
}

FSEC_API enum fsec_err fsec_registry_group_set(struct fsec_registry *reg, const char *id,
					       const char *group)
{
	enum fsec_err rc = fsec_devid_check(id);

	if (rc != FSEC_OK)
		return rc;
	if (group[0] != '\0' && !fsec_name_valid(group, FSEC_GROUP_MAX))
		return fsec_seterr(FSEC_ERR_INVAL, "group: 1-%d characters of A-Z a-z 0-9 . _ -",
				   FSEC_GROUP_MAX);
	return reg->ops->group_set(reg->be, id, group);
}

FSEC_API enum fsec_err fsec_registry_group_get(struct fsec_registry *reg, const char *id,
					       char group[FSEC_GROUP_MAX + 1])
{
	enum fsec_err rc = fsec_devid_check(id);

	return rc != FSEC_OK ? rc : reg->ops->group_get(reg->be, id, group);
}

FSEC_API enum fsec_err fsec_registry_publish_list(struct fsec_registry *reg, fsec_published_cb cb,
						  void *ctx)
{
	return reg->ops->publish_list(reg->be, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_model_stats(struct fsec_registry *reg, const char *model,
						 const char *group, int64_t since,
						 uint32_t counter, const char *image,
						 struct fsec_model_stats *out)
{
	return reg->ops->model_stats(reg->be, model, group != NULL ? group : "", since, counter,
				     image != NULL ? image : "", out);
}

FSEC_API enum fsec_err fsec_registry_model_state_list(struct fsec_registry *reg,
						      const char *model, const char *failed_image,
						      fsec_model_state_cb cb, void *ctx)
{
	return reg->ops->model_state_list(reg->be, model, failed_image, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_model_tally(struct fsec_registry *reg, const char *model,
						 const char *version, const char *image,
						 int64_t since, fsec_bucket_fn bucket,
						 fsec_model_tally_cb cb, void *ctx)
{
	if (bucket == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "a tally needs a bucket function");
	return reg->ops->model_tally(reg->be, model, version, image, since, bucket, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_rollout_eval_get(struct fsec_registry *reg,
						      const char *model,
						      struct fsec_rollout_eval_rec *out)
{
	struct fsec_rollout_eval_rec r;
	enum fsec_err rc;

	memset(&r, 0, sizeof(r));
	if ((rc = reg->ops->rollout_eval_get(reg->be, model, &r)) == FSEC_OK)
		*out = r;
	return rc;
}

FSEC_API enum fsec_err fsec_registry_rollout_eval_put(struct fsec_registry *reg,
						      const char *model,
						      const struct fsec_rollout_eval_rec *rec)
{
	if (model == NULL || model[0] == '\0' || !hex64(rec->sha256))
		return fsec_seterr(FSEC_ERR_INVAL, "rollout evaluation: a model and an image "
						   "(SHA-256) are required");
	return reg->ops->rollout_eval_put(reg->be, model, rec);
}

FSEC_API enum fsec_err fsec_registry_model_counters(struct fsec_registry *reg, const char *model,
						    fsec_counter_count_cb cb, void *ctx)
{
	return reg->ops->model_counters(reg->be, model, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_publish_get(struct fsec_registry *reg, const char *model,
						 struct fsec_published_rec *rec, char **bundle)
{
	return reg->ops->publish_get(reg->be, model, rec, bundle);
}

FSEC_API enum fsec_err fsec_registry_timestamp_put(struct fsec_registry *reg,
						   const struct fsec_timestamp_rec *rec,
						   const char *bundle)
{
	if (rec->model[0] == '\0' || bundle == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "a timestamp needs a valid model and a bundle");
	return reg->ops->timestamp_put(reg->be, rec, bundle);
}

FSEC_API enum fsec_err fsec_registry_timestamp_get(struct fsec_registry *reg, const char *model,
						   struct fsec_timestamp_rec *rec, char **bundle)
{
	return reg->ops->timestamp_get(reg->be, model, rec, bundle);
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

FSEC_API enum fsec_err fsec_registry_device_net_one(struct fsec_registry *reg, const char *id,
						    fsec_device_net_cb cb, void *ctx)
{
	return reg->ops->device_net_one(reg->be, id, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_device_net_list(struct fsec_registry *reg,
						     fsec_device_net_cb cb, void *ctx)
{
	return reg->ops->device_net_list(reg->be, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_bootstrap_list(struct fsec_registry *reg,
						    fsec_bootstrap_cb cb, void *ctx)
{
	return reg->ops->bootstrap_list(reg->be, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_check(struct fsec_registry *reg, fsec_problem_cb cb,
					   void *ctx)
{
	return reg->ops->check(reg->be, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_snapshot(struct fsec_registry *reg, const char *path)
{
	if (path[0] == '\0')
		return fsec_seterr(FSEC_ERR_INVAL, "no path for the registry snapshot");
	return reg->ops->snapshot(reg->be, path);
}

FSEC_API enum fsec_err fsec_registry_counter_raise(struct fsec_registry *reg, const char *name,
						   uint64_t floor, uint64_t *out)
{
	if (name[0] == '\0' || strlen(name) > 64)
		return fsec_seterr(FSEC_ERR_INVAL, "bad counter name");
	/* SQLite stores signed 64-bit integers, and counter_next adds one. */
	if (floor >= (uint64_t)INT64_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "counter %s: floor out of range", name);
	return reg->ops->counter_raise(reg->be, name, floor, out);
}

/* ---- fleetsecd's bounds ---- */

/* Printable ASCII, 1 to cap - 1 characters. */
static bool printable_line(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == 0 || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

FSEC_API enum fsec_err fsec_registry_refusal_add(struct fsec_registry *reg,
						 const struct fsec_refusal_rec *rec, bool *created)
{
	/* At most 2^32 at a time: the backend's sum then cannot overflow
	 * before it saturates. */
	if (rec->count == 0 || rec->count > UINT32_MAX ||
	    !printable_line(rec->reason, sizeof(rec->reason)) ||
	    (rec->credential[0] != '\0' && !hex64(rec->credential)) ||
	    (rec->device_id[0] != '\0' && !fsec_devid_valid(rec->device_id)) ||
	    strnlen(rec->detail, sizeof(rec->detail)) >= sizeof(rec->detail) ||
	    strnlen(rec->source, sizeof(rec->source)) >= sizeof(rec->source) ||
	    rec->first_at > rec->last_at)
		return fsec_seterr(FSEC_ERR_INVAL, "bad refusal record");
	return reg->ops->refusal_add(reg->be, rec, created);
}

FSEC_API enum fsec_err fsec_registry_refusal_list(struct fsec_registry *reg,
						  const char *device_id, fsec_refusal_cb cb,
						  void *ctx)
{
	return reg->ops->refusal_list(reg->be, device_id, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_refusal_changed(struct fsec_registry *reg, int64_t after,
						     fsec_refusal_cb cb, void *ctx)
{
	return reg->ops->refusal_changed(reg->be, after, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_renew_allow_put(struct fsec_registry *reg, const char *id,
						     const char *by, int64_t at)
{
	struct fsec_device_rec dev;
	enum fsec_err rc = fsec_devid_check(id);

	if (rc != FSEC_OK || (rc = reg->ops->device_get(reg->be, id, &dev)) != FSEC_OK)
		return rc;
	return reg->ops->renew_allow_put(reg->be, id, by != NULL ? by : "unknown", at);
}

FSEC_API enum fsec_err fsec_registry_renew_allow_get(struct fsec_registry *reg, const char *id,
						     char *granted_by)
{
	enum fsec_err rc = fsec_devid_check(id);

	return rc != FSEC_OK ? rc : reg->ops->renew_allow_get(reg->be, id, granted_by);
}

FSEC_API enum fsec_err fsec_registry_renew_allow_take(struct fsec_registry *reg, const char *id)
{
	enum fsec_err rc = fsec_devid_check(id);

	return rc != FSEC_OK ? rc : reg->ops->renew_allow_take(reg->be, id);
}

/* ---- devices' firmware encryption keys ---- */

FSEC_API enum fsec_err fsec_registry_enc_key_put(struct fsec_registry *reg, const char *id,
						 const char *pem, int64_t at)
{
	struct fsec_device_rec dev;
	size_t n = strnlen(pem, FSEC_ENC_KEY_PEM_MAX + 1);
	enum fsec_err rc = fsec_devid_check(id);

	if (rc != FSEC_OK)
		return rc;
	if (n == 0 || n > FSEC_ENC_KEY_PEM_MAX || strncmp(pem, "-----BEGIN PUBLIC KEY-----", 26) != 0)
		return fsec_seterr(FSEC_ERR_INVAL, "an encryption key is an SPKI PEM of at most %u "
						   "bytes",
				   FSEC_ENC_KEY_PEM_MAX);
	if ((rc = reg->ops->device_get(reg->be, id, &dev)) != FSEC_OK)
		return rc;
	return reg->ops->enc_key_put(reg->be, id, pem, at);
}

FSEC_API enum fsec_err fsec_registry_enc_key_get(struct fsec_registry *reg, const char *id,
						 char *pem)
{
	enum fsec_err rc = fsec_devid_check(id);

	return rc != FSEC_OK ? rc : reg->ops->enc_key_get(reg->be, id, pem);
}

/* ---- tamper reports ---- */

#define TAMPER_ENVELOPE_MAX (64 * 1024)

FSEC_API enum fsec_err fsec_registry_tamper_put(struct fsec_registry *reg,
						const struct fsec_tamper_rec *rec,
						const char *envelope)
{
	struct fsec_device_rec dev;
	size_t n = strnlen(rec->serial, sizeof(rec->serial));
	enum fsec_err rc = fsec_devid_check(rec->device_id);

	if (rc != FSEC_OK)
		return rc;
	if (!printable_line(rec->reason, sizeof(rec->reason)) || n == 0 ||
	    n >= sizeof(rec->serial) || !fsec_hex_valid(rec->serial, n / 2, 0) ||
	    envelope[0] == '\0' || strnlen(envelope, TAMPER_ENVELOPE_MAX + 1) > TAMPER_ENVELOPE_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "bad tamper record for %s", rec->device_id);
	if ((rc = reg->ops->device_get(reg->be, rec->device_id, &dev)) != FSEC_OK)
		return rc;
	return reg->ops->tamper_put(reg->be, rec, envelope);
}

FSEC_API enum fsec_err fsec_registry_tamper_get(struct fsec_registry *reg, const char *id,
						struct fsec_tamper_rec *out)
{
	enum fsec_err rc = fsec_devid_check(id);

	return rc != FSEC_OK ? rc : reg->ops->tamper_get(reg->be, id, out);
}

FSEC_API enum fsec_err fsec_registry_tamper_list(struct fsec_registry *reg, fsec_tamper_cb cb,
						 void *ctx)
{
	return reg->ops->tamper_list(reg->be, cb, ctx);
}

/* ---- inventory ---- */

FSEC_API bool fsec_registry_fw_outdated(const struct fsec_product_rec *p,
				       const struct fsec_devstate_rec *s)
{
	/* Mirrored in SQL by the backend's inventory query (OUTDATED_SQL). */
	return p != NULL && s != NULL && p->release_counter >= 0 &&
	       (int64_t)s->security_counter < p->release_counter;
}

/* A filter value is a name the records could hold: printable, one line,
 * bounded, so that a typo is refused rather than matching nothing. */
static enum fsec_err query_name(const char *what, const char *v, size_t max)
{
	if (v == NULL)
		return FSEC_OK;
	if (v[0] == '\0' || strlen(v) > max || !printable_line(v, max + 1))
		return fsec_seterr(FSEC_ERR_INVAL, "%s '%.40s' is not a valid %s", what, v, what);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_registry_inventory_list(struct fsec_registry *reg,
						    const struct fsec_inventory_query *q,
						    fsec_inventory_cb cb, void *ctx)
{
	static const struct fsec_inventory_query all;
	enum fsec_err rc;

	if (q == NULL)
		q = &all;
	if (q->model != NULL && !fsec_model_valid(q->model))
		return fsec_seterr(FSEC_ERR_INVAL, "model '%.40s' is not a valid model", q->model);
	if (q->group != NULL && !fsec_name_valid(q->group, FSEC_GROUP_MAX))
		return fsec_seterr(FSEC_ERR_INVAL, "group '%.40s': a group is 1-%d characters of "
				   "A-Z a-z 0-9 . _ -", q->group, FSEC_GROUP_MAX);
	if ((rc = query_name("version", q->fw_version, FSEC_VERSION_MAX)) != FSEC_OK)
		return rc;
	if (q->mfr_ca != NULL && !hex64(q->mfr_ca))
		return fsec_seterr(FSEC_ERR_INVAL, "manufacturer CA '%.70s' is not a SHA-256 "
				   "fingerprint (64 lowercase hex digits)", q->mfr_ca);
	if (q->update_state != NULL && q->update_state[0] != '\0' &&
	    !fsec_update_state_valid(q->update_state))
		return fsec_seterr(FSEC_ERR_INVAL, "update state '%.40s' is not downloading, "
				   "installed, trial, confirmed, rolled_back or failed",
				   q->update_state);
	return reg->ops->inventory_list(reg->be, q, NULL, cb, ctx);
}

struct inv_one {
	struct fsec_inventory_rec *out;
	bool found;
};

static int inv_take(const struct fsec_inventory_rec *rec, void *arg)
{
	struct inv_one *o = arg;

	*o->out = *rec;
	o->found = true;
	return 1;
}

FSEC_API enum fsec_err fsec_registry_inventory_get(struct fsec_registry *reg, const char *id,
						   struct fsec_inventory_rec *out)
{
	static const struct fsec_inventory_query all;
	struct fsec_inventory_rec rec;
	struct inv_one o = {&rec, false};
	enum fsec_err rc = fsec_devid_check(id);

	if (rc != FSEC_OK)
		return rc;
	if ((rc = reg->ops->inventory_list(reg->be, &all, id, inv_take, &o)) != FSEC_OK)
		return rc;
	if (!o.found)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "device %s is not in the registry", id);
	*out = rec;
	return FSEC_OK;
}

FSEC_API const char *fsec_find_kind_name(enum fsec_find_kind k)
{
	switch (k) {
	case FSEC_FIND_ID: return "id";
	case FSEC_FIND_SERIAL: return "serial";
	case FSEC_FIND_FINGERPRINT: return "fingerprint";
	case FSEC_FIND_SPKI: return "spki";
	case FSEC_FIND_MAC: return "mac";
	case FSEC_FIND_IP: return "ip";
	}
	return "unknown";
}

#define FIND_MAX 128

FSEC_API enum fsec_err fsec_registry_device_find(struct fsec_registry *reg, const char *needle,
						 fsec_find_cb cb, void *ctx)
{
	/* The hex spellings drop the ':' separators openssl prints. */
	char upper[FIND_MAX + 1], lower[FIND_MAX + 1], mac[FIND_MAX + 1];
	size_t len = strlen(needle), n = 0;
	bool hex = true;

	if (len == 0 || len > FIND_MAX || !printable_line(needle, FIND_MAX + 1))
		return fsec_seterr(FSEC_ERR_INVAL, "'%.40s' is not a device ID, serial, fingerprint, "
				   "SPKI hash, MAC or IP address", needle);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)needle[i];

		mac[i] = (char)tolower(c);
		if (c == ':')
			continue;
		if (!isxdigit(c))
			hex = false;
		upper[n] = (char)toupper(c);
		lower[n] = (char)tolower(c);
		n++;
	}
	mac[len] = '\0';
	upper[n] = lower[n] = '\0';
	if (!hex || n == 0)
		upper[0] = lower[0] = '\0';
	/* A SHA-256 is 64 digits; anything else is no fingerprint or SPKI. */
	return reg->ops->device_find(reg->be, needle, upper, n == 64 ? lower : "", mac, cb, ctx);
}

FSEC_API enum fsec_err fsec_registry_event_query(struct fsec_registry *reg,
						 const struct fsec_event_filter *f,
						 fsec_event_cb cb, void *ctx)
{
	static const struct fsec_event_filter all;
	enum fsec_err rc;

	if (f == NULL)
		f = &all;
	if (f->device_id != NULL && (rc = fsec_devid_check(f->device_id)) != FSEC_OK)
		return rc;
	if ((rc = query_name("event kind", f->action, 31)) != FSEC_OK)
		return rc;
	if (f->after_seq < 0)
		return fsec_seterr(FSEC_ERR_INVAL, "event sequence %lld is negative",
				   (long long)f->after_seq);
	return reg->ops->event_query(reg->be, f, cb, ctx);
}

/* ---- pairings ---- */

static enum fsec_err key_hash_check(const char *h)
{
	size_t n = 0;

	for (; h[n] != '\0'; n++)
		if (!((h[n] >= '0' && h[n] <= '9') || (h[n] >= 'a' && h[n] <= 'f')))
			break;
	if (n != FSEC_SHA256_HEX_LEN - 1 || h[n] != '\0')
		return fsec_seterr(FSEC_ERR_INVAL, "a key hash is 64 lowercase hex digits");
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_registry_pairing_put(struct fsec_registry *reg,
						 const struct fsec_pairing_rec *rec)
{
	enum fsec_err rc;

	if ((rc = key_hash_check(rec->key_sha256)) != FSEC_OK ||
	    (rc = fsec_devid_check(rec->device_id)) != FSEC_OK ||
	    (rec->model[0] != '\0' && (rc = fsec_model_check(rec->model)) != FSEC_OK))
		return rc;
	if (rec->group[0] != '\0' && !fsec_name_valid(rec->group, FSEC_GROUP_MAX))
		return fsec_seterr(FSEC_ERR_INVAL, "group: 1-%d characters of A-Z a-z 0-9 . _ -",
				   FSEC_GROUP_MAX);
	if (rec->expires_at <= rec->paired_at)
		return fsec_seterr(FSEC_ERR_INVAL, "a pairing must expire after it is made");
	return reg->ops->pairing_put(reg->be, rec);
}

FSEC_API enum fsec_err fsec_registry_pairing_get(struct fsec_registry *reg,
						 const char *key_sha256,
						 struct fsec_pairing_rec *out)
{
	enum fsec_err rc = key_hash_check(key_sha256);

	return rc != FSEC_OK ? rc : reg->ops->pairing_get(reg->be, key_sha256, out);
}

FSEC_API enum fsec_err fsec_registry_pairing_of(struct fsec_registry *reg, const char *id,
						bool used, int64_t now, struct fsec_pairing_rec *out)
{
	enum fsec_err rc = fsec_devid_check(id);

	return rc != FSEC_OK ? rc : reg->ops->pairing_of(reg->be, id, used, now, out);
}

FSEC_API enum fsec_err fsec_registry_pairing_spend(struct fsec_registry *reg,
						   const char *key_sha256, int64_t at)
{
	enum fsec_err rc = key_hash_check(key_sha256);

	return rc != FSEC_OK ? rc : reg->ops->pairing_spend(reg->be, key_sha256, at);
}

struct fsec_registry_feed {
	const struct fsec_registry_ops *ops;
	void *feed;
};

FSEC_API enum fsec_err fsec_registry_feed_open(struct fsec_registry *reg,
					       struct fsec_registry_feed **out)
{
	struct fsec_registry_feed *f;
	enum fsec_err rc;

	*out = NULL;
	if (reg->ops->feed_open == NULL)
		return FSEC_OK;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	f->ops = reg->ops;
	if ((rc = reg->ops->feed_open(reg->be, &f->feed)) != FSEC_OK) {
		free(f);
		return rc;
	}
	*out = f;
	return FSEC_OK;
}

FSEC_API int fsec_registry_feed_fd(struct fsec_registry_feed *f)
{
	return f->ops->feed_fd(f->feed);
}

FSEC_API enum fsec_err fsec_registry_feed_poll(struct fsec_registry_feed *f, bool *changed)
{
	*changed = false;
	return f->ops->feed_poll(f->feed, changed);
}

FSEC_API enum fsec_err fsec_registry_feed_reconnect(struct fsec_registry_feed *f, bool *changed)
{
	*changed = false;
	return f->ops->feed_reconnect(f->feed, changed);
}

FSEC_API enum fsec_err fsec_registry_feed_lead(struct fsec_registry_feed *f, bool *leader)
{
	*leader = false;
	return f->ops->feed_lead(f->feed, leader);
}

FSEC_API void fsec_registry_feed_free(struct fsec_registry_feed *f)
{
	if (f == NULL)
		return;
	f->ops->feed_free(f->feed);
	free(f);
}
