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
	/* The backend takes the whole location (a URL such as postgresql://...)
	 * rather than what follows "scheme:". */
	bool whole_location;
	enum fsec_err (*open)(const char *path, unsigned flags, void **be);
	void (*close)(void *be);
	enum fsec_err (*begin)(void *be);
	enum fsec_err (*commit)(void *be);
	void (*rollback)(void *be);
	enum fsec_err (*device_get)(void *be, const char *id, struct fsec_device_rec *out);
	enum fsec_err (*device_put)(void *be, const struct fsec_device_rec *rec);
	enum fsec_err (*device_list)(void *be, enum fsec_dev_status status, const char *model,
				     fsec_device_cb cb, void *ctx);
	enum fsec_err (*cert_add)(void *be, const struct fsec_cert_rec *rec, const char *pem);
	enum fsec_err (*cert_list)(void *be, const struct fsec_cert_filter *f, fsec_cert_cb cb,
				   void *ctx);
	enum fsec_err (*cert_pem)(void *be, const char *serial, char **pem);
	enum fsec_err (*current_pem_list)(void *be, fsec_current_pem_cb cb, void *ctx);
	enum fsec_err (*cert_revoke)(void *be, const char *serial, int64_t at, int reason);
	enum fsec_err (*server_cert_add)(void *be, const struct fsec_server_cert_rec *rec);
	enum fsec_err (*server_cert_list)(void *be, int64_t not_expired_at, bool revoked_only,
					  fsec_server_cert_cb cb, void *ctx);
	enum fsec_err (*server_cert_revoke)(void *be, const char *serial, int64_t at, int reason);
	enum fsec_err (*event_add)(void *be, const struct fsec_event_rec *ev);
	enum fsec_err (*event_list)(void *be, const char *device_id, fsec_event_cb cb, void *ctx);
	enum fsec_err (*counter_next)(void *be, const char *name, uint64_t floor, uint64_t *out);
	enum fsec_err (*device_net_set)(void *be, const char *id, const char *mac, const char *ip,
					int64_t now);
	enum fsec_err (*device_net_list)(void *be, fsec_device_net_cb cb, void *ctx);
	enum fsec_err (*device_net_one)(void *be, const char *id, fsec_device_net_cb cb, void *ctx);
	enum fsec_err (*event_list_after)(void *be, int64_t after, fsec_event_cb cb, void *ctx);
	enum fsec_err (*enroll_ca_add)(void *be, const struct fsec_enroll_ca_rec *rec,
				       const char *pem);
	enum fsec_err (*enroll_ca_list)(void *be, fsec_enroll_ca_cb cb, void *ctx);
	enum fsec_err (*enroll_allow_add)(void *be, const char *ca_fp, const char *pattern,
					  const char *model, bool replace);
	enum fsec_err (*enroll_remove)(void *be, const char *ca_fp, const char *pattern);
	enum fsec_err (*enroll_allow_list)(void *be, const char *ca_fp, fsec_enroll_pattern_cb cb,
					   void *ctx);
	enum fsec_err (*bootstrap_spend)(void *be, const char *fp, const char *use,
					 const char *device_id, int64_t at, const char *ca_fp);
	enum fsec_err (*bootstrap_spent)(void *be, const char *fp, const char *use,
					 char device_id[FSEC_DEVID_MAX + 1]);
	enum fsec_err (*data_version)(void *be, uint64_t *out);
	void (*busy_timeout)(void *be, int ms);
	enum fsec_err (*pending_put)(void *be, const struct fsec_enroll_pending_rec *rec);
	enum fsec_err (*pending_get)(void *be, const char *id, struct fsec_enroll_pending_rec *out);
	enum fsec_err (*pending_approve)(void *be, const char *id, const char *key_prefix,
					 const char *by, int64_t at);
	enum fsec_err (*pending_delete)(void *be, const char *id);
	enum fsec_err (*pending_list)(void *be, fsec_enroll_pending_cb cb, void *ctx);
	enum fsec_err (*publish_put)(void *be, const struct fsec_published_rec *rec,
				     const char *bundle);
	enum fsec_err (*publish_get)(void *be, const char *model, struct fsec_published_rec *rec,
				     char **bundle);
	enum fsec_err (*publish_list)(void *be, fsec_published_cb cb, void *ctx);
	enum fsec_err (*baseline_get)(void *be, const char *model, struct fsec_published_rec *rec,
				      char **bundle);
	enum fsec_err (*baseline_keep)(void *be, const char *model);
	enum fsec_err (*baseline_bundle_put)(void *be, const char *model, const char *sha256,
					    const char *bundle);
	enum fsec_err (*served_get)(void *be, const char *id, char sha[FSEC_SHA256_HEX_LEN],
				    int64_t *at);
	enum fsec_err (*served_put)(void *be, const char *id, const char *sha, int64_t at);
	enum fsec_err (*timestamp_put)(void *be, const struct fsec_timestamp_rec *rec,
				       const char *bundle);
	enum fsec_err (*timestamp_get)(void *be, const char *model, struct fsec_timestamp_rec *rec,
				       char **bundle);
	enum fsec_err (*group_set)(void *be, const char *id, const char *group);
	enum fsec_err (*group_get)(void *be, const char *id, char group[FSEC_GROUP_MAX + 1]);
	enum fsec_err (*model_stats)(void *be, const char *model, const char *group, int64_t since,
				     uint32_t counter, const char *image,
				     struct fsec_model_stats *out);
	enum fsec_err (*model_state_list)(void *be, const char *model, const char *failed_image,
					  fsec_model_state_cb cb, void *ctx);
	enum fsec_err (*model_tally)(void *be, const char *model, const char *version,
				     const char *image, int64_t since, fsec_bucket_fn bucket,
				     fsec_model_tally_cb cb, void *ctx);
	enum fsec_err (*rollout_eval_get)(void *be, const char *model,
					  struct fsec_rollout_eval_rec *out);
	enum fsec_err (*rollout_eval_put)(void *be, const char *model,
					  const struct fsec_rollout_eval_rec *rec);
	enum fsec_err (*model_counters)(void *be, const char *model, fsec_counter_count_cb cb,
					void *ctx);
	enum fsec_err (*product_get)(void *be, const char *model, struct fsec_product_rec *out);
	enum fsec_err (*product_put)(void *be, const struct fsec_product_rec *rec);
	enum fsec_err (*product_list)(void *be, fsec_product_cb cb, void *ctx);
	enum fsec_err (*devstate_get)(void *be, const char *id, struct fsec_devstate_rec *out);
	enum fsec_err (*devstate_put)(void *be, const struct fsec_devstate_rec *rec);
	enum fsec_err (*devstate_list)(void *be, fsec_devstate_cb cb, void *ctx);
	enum fsec_err (*device_state_list)(void *be, fsec_device_state_cb cb, void *ctx);
	enum fsec_err (*bootstrap_list)(void *be, fsec_bootstrap_cb cb, void *ctx);
	enum fsec_err (*check)(void *be, fsec_problem_cb cb, void *ctx);
	enum fsec_err (*snapshot)(void *be, const char *path);
	enum fsec_err (*counter_raise)(void *be, const char *name, uint64_t floor, uint64_t *out);
	enum fsec_err (*refusal_add)(void *be, const struct fsec_refusal_rec *rec, bool *created);
	enum fsec_err (*refusal_list)(void *be, const char *device_id, fsec_refusal_cb cb,
				      void *ctx);
	enum fsec_err (*refusal_changed)(void *be, int64_t after, fsec_refusal_cb cb, void *ctx);
	enum fsec_err (*renew_allow_put)(void *be, const char *id, const char *by, int64_t at);
	enum fsec_err (*renew_allow_get)(void *be, const char *id, char *granted_by);
	enum fsec_err (*renew_allow_take)(void *be, const char *id);
	enum fsec_err (*tamper_put)(void *be, const struct fsec_tamper_rec *rec,
				    const char *envelope);
	enum fsec_err (*tamper_get)(void *be, const char *id, struct fsec_tamper_rec *out);
	enum fsec_err (*tamper_list)(void *be, fsec_tamper_cb cb, void *ctx);
	enum fsec_err (*enc_key_put)(void *be, const char *id, const char *pem, int64_t at);
	enum fsec_err (*enc_key_get)(void *be, const char *id, char *pem);
	/* id non-NULL: only that device (inventory_get). */
	enum fsec_err (*inventory_list)(void *be, const struct fsec_inventory_query *q,
					const char *id, fsec_inventory_cb cb, void *ctx);
	/* The needle in each spelling the records use: as given (ID, IP),
	 * upper-case hex (serial), lower-case hex (fingerprint, SPKI), lower
	 * case (MAC); hex spellings are "" when the needle is not hex. */
	enum fsec_err (*device_find)(void *be, const char *id, const char *serial,
				     const char *hex, const char *mac, fsec_find_cb cb, void *ctx);
	enum fsec_err (*event_query)(void *be, const struct fsec_event_filter *f, fsec_event_cb cb,
				     void *ctx);
	/* Pairings (issue 18): put fails EXISTS unless the key is new or its
	 * pairing expired unused at rec->paired_at; spend and find as
	 * registry.h says. */
	enum fsec_err (*pairing_put)(void *be, const struct fsec_pairing_rec *rec);
	enum fsec_err (*pairing_get)(void *be, const char *key_sha256,
				     struct fsec_pairing_rec *out);
	enum fsec_err (*pairing_of)(void *be, const char *id, bool used, int64_t now,
				    struct fsec_pairing_rec *out);
	enum fsec_err (*pairing_spend)(void *be, const char *key_sha256, int64_t at);
	/* The change feed (registry.h). NULL on a backend whose processes see
	 * each other's commits through data_version (SQLite: one machine). */
	enum fsec_err (*feed_open)(void *be, void **feed);
	int (*feed_fd)(void *feed);
	enum fsec_err (*feed_poll)(void *feed, bool *changed);
	enum fsec_err (*feed_reconnect)(void *feed, bool *changed);
	enum fsec_err (*feed_lead)(void *feed, bool *leader);
	void (*feed_free)(void *feed);
};

extern const struct fsec_registry_ops fsec_registry_sqlite_ops;
extern const struct fsec_registry_ops fsec_registry_pg_ops;

#endif
