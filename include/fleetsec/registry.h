/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device registry: devices, every certificate ever issued, and an
 * append-only event log. Other modules reach storage only through this
 * interface; the SQLite backend is the embedded default, and a PostgreSQL
 * backend can implement the same operations (registry_int.h).
 *
 * Writes happen inside fsec_registry_begin()/commit(). Transactions nest: an
 * inner begin is a savepoint, so one step of a batch can be rolled back alone.
 * A registry handle is not thread-safe; open one per thread. Several
 * processes may use one registry at once: the outermost begin takes the write
 * lock, waiting up to the busy timeout.
 */
#ifndef FLEETSEC_REGISTRY_H
#define FLEETSEC_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "fleetsec/common.h"
#include "fleetsec/states.h"

#define FSEC_ACTOR_MAX 128
#define FSEC_DETAIL_MAX 256

/* Create the registry; fail with EXISTS if it is already there. */
#define FSEC_REGISTRY_CREATE 0x1u
/* Open for reading only, at the current schema (no upgrade): a process that
 * may read the registry but must not be able to change it (the MQTT broker,
 * running as its own user). SQLite: the files' read permission is enough,
 * because writers keep the WAL and its index in place (persistent WAL). */
#define FSEC_REGISTRY_READONLY 0x2u

struct fsec_registry;

struct fsec_device_rec {
	char id[FSEC_DEVID_MAX + 1];
	char model[FSEC_MODEL_MAX + 1];
	enum fsec_dev_status status;
	char serial[FSEC_SERIAL_HEX_LEN]; /* current certificate */
	char fingerprint[FSEC_SHA256_HEX_LEN];
	char spki_sha256[FSEC_SHA256_HEX_LEN];
	int64_t issued_at, expires_at;    /* of the current certificate */
	char provisioning[32];            /* "factory-csr", "factory-keygen", ... */
	int64_t created_at, updated_at;
};

struct fsec_cert_rec {
	char serial[FSEC_SERIAL_HEX_LEN];
	char device_id[FSEC_DEVID_MAX + 1];
	char fingerprint[FSEC_SHA256_HEX_LEN];
	char spki_sha256[FSEC_SHA256_HEX_LEN];
	int64_t not_before, not_after, issued_at;
	bool revoked;
	int64_t revoked_at;
	int reason; /* RFC 5280 CRLReason, when revoked */
	/* The issuing CA that signed it: SHA-256 fingerprint of that CA's
	 * certificate, lowercase hex; "" when not known (recorded before
	 * schema v13, or imported). */
	char issuer[FSEC_SHA256_HEX_LEN];
};

/* A certificate the fleet issued to a service of its own: fleetsecd's TLS
 * server certificate (role ""), or a backend or operator client's (role
 * "backend" or "operator", issue 15). */
struct fsec_server_cert_rec {
	char serial[FSEC_SERIAL_HEX_LEN];
	char name[256]; /* the CN: a DNS host name, or the client's name */
	char fingerprint[FSEC_SHA256_HEX_LEN];
	int64_t not_before, not_after, issued_at;
	bool revoked;
	int64_t revoked_at;
	int reason; /* RFC 5280 CRLReason, when revoked */
	char issuer[FSEC_SHA256_HEX_LEN]; /* as in struct fsec_cert_rec */
	char role[16];                     /* "" fleetsecd's; "backend", "operator" */
};

struct fsec_event_rec {
	int64_t seq, at;
	char actor[FSEC_ACTOR_MAX + 1];
	char action[32];
	char device_id[FSEC_DEVID_MAX + 1];
	char detail[FSEC_DETAIL_MAX + 1];
};

/* A product (device model): how long the vendor supports it, where to report
 * vulnerabilities, and its current release. Times are UNIX seconds, 0 =
 * unknown; release_counter is -1 when no release was recorded. */
#define FSEC_CONTACT_MAX 256
#define FSEC_VERSION_MAX 31
struct fsec_product_rec {
	char model[FSEC_MODEL_MAX + 1];
	char manufacturer[FSEC_MODEL_MAX + 1]; /* "" = unknown */
	int64_t support_until;
	char security_contact[FSEC_CONTACT_MAX + 1]; /* a URI: mailto:, https:, tel: */
	char release_version[FSEC_VERSION_MAX + 1];
	int64_t release_counter;
	int64_t release_at;
	int64_t updated_at;
};

/* What a device last reported about itself (fleetsecd's POST /v1/status).
 * Times are UNIX seconds, 0 = never. */
/* A device's own words on why an update failed (fsec_devstate_rec). */
#define FSEC_REASON_MAX 127

struct fsec_devstate_rec {
	char device_id[FSEC_DEVID_MAX + 1];
	int64_t first_seen, last_seen;
	char fw_version[FSEC_VERSION_MAX + 1];
	uint32_t security_counter;
	enum fsec_update_outcome update_outcome;
	int64_t update_at;       /* of the last update attempt */
	int64_t update_ok_at;    /* of the last successful update */
	enum fsec_debug_state debug_jtag; /* UNKNOWN: never reported */
	enum fsec_debug_state debug_uart;
	int64_t debug_at;        /* when the debug ports were last reported */
	int frozen;              /* last report: 1 frozen, 0 fresh, -1 not said */
	int64_t fresh_at;        /* when the device last saw a fresh signed statement; 0: never said */
	/* Its last report's update state ("downloading", "installed", "trial",
	 * "confirmed", "rolled_back", "failed"; "" none), the version waiting
	 * for its trial boot, and the image (SHA-256 hex) update_outcome is
	 * about ("": not said). */
	char update_state[16];
	char pending_version[FSEC_VERSION_MAX + 1];
	char outcome_image[FSEC_SHA256_HEX_LEN];
	/* Why that outcome failed, as the device said ("": not said). */
	char outcome_reason[FSEC_REASON_MAX + 1];
};

/* Which certificates fsec_registry_cert_list() visits; NULL/false/0 fields
 * do not filter. */
struct fsec_cert_filter {
	const char *device_id;
	const char *spki_sha256;
	bool revoked_only;
	int64_t not_expired_at; /* only certificates with not_after > this */
};

/* Where a device is on the network (net compile --from-registry). */
struct fsec_device_net {
	char id[FSEC_DEVID_MAX + 1];
	char model[FSEC_MODEL_MAX + 1];
	enum fsec_dev_status status;
	char mac[18]; /* "aa:bb:cc:dd:ee:ff" (lower case), or "" */
	char ip[16];  /* dotted IPv4, or "" */
	bool tampered; /* active, and its current certificate reported a tamper event */
};

/* Visitors return 0 to go on, anything else to stop the listing early. */
typedef int (*fsec_device_cb)(const struct fsec_device_rec *rec, void *ctx);
typedef int (*fsec_cert_cb)(const struct fsec_cert_rec *rec, void *ctx);
typedef int (*fsec_server_cert_cb)(const struct fsec_server_cert_rec *rec, void *ctx);
typedef int (*fsec_event_cb)(const struct fsec_event_rec *rec, void *ctx);
typedef int (*fsec_device_net_cb)(const struct fsec_device_net *rec, void *ctx);
typedef int (*fsec_product_cb)(const struct fsec_product_rec *rec, void *ctx);
typedef int (*fsec_devstate_cb)(const struct fsec_devstate_rec *rec, void *ctx);
/* A device with its reported state; state is NULL if it never reported. */
typedef int (*fsec_device_state_cb)(const struct fsec_device_rec *dev,
				    const struct fsec_devstate_rec *state, void *ctx);

/*
 * Open the registry at location: "sqlite:PATH", a plain PATH, or a libpq
 * URL "postgresql://[user@][host][:port]/dbname[?...]" (what it leaves out
 * comes from the PG* variables and the service file; a password only from
 * ~/.pgpass or PGPASSFILE, never the URL). With FSEC_REGISTRY_CREATE, create
 * it (and its schema) and fail if it exists; on PostgreSQL the database must
 * exist and be empty. Errors: EXISTS, NOTFOUND, DB (including a schema newer
 * than this library, a database that is not a registry, a refused
 * connection), INVAL (unknown scheme, a password in the URL), PARSE (a
 * malformed URL), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_open(const char *location, unsigned flags,
						   struct fsec_registry **out);

/* Whether location could be opened by fsec_registry_open, without opening
 * it: its scheme is known and, for PostgreSQL, the URL parses and holds no
 * password (fleet.json keeps it). Errors: INVAL, PARSE. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_location_check(const char *location);

/* What fsec_registry_migrate copied: each table's rows and the SHA-256 of
 * its rows (canonical text, key order), equal on both sides. */
struct fsec_migrate_table {
	char name[32];
	uint64_t rows;
	char sha256[FSEC_SHA256_HEX_LEN];
};
struct fsec_migrate_report {
	size_t n;
	struct fsec_migrate_table tables[32];
};

/*
 * Copy the SQLite registry at from ("sqlite:PATH" or PATH) into the empty
 * PostgreSQL database to (postgresql://...), schema and rows, in one
 * transaction, then compare each table's row count and content hash on
 * both sides before committing. The source is only read. A target that is
 * not empty is refused and left as it was; so is every failed copy.
 * Errors: EXISTS (target not empty), VERIFY (a table differs), DB, INVAL,
 * PARSE, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_migrate(const char *from, const char *to,
						      struct fsec_migrate_report *out);

/* Whether location names a PostgreSQL registry (postgresql://). */
FSEC_API bool fsec_registry_location_is_pg(const char *location);

/* Roll back any open transaction and close. NULL is a no-op. */
FSEC_API void fsec_registry_free(struct fsec_registry *reg);

/* Transactions (see above). Errors: BUSY (lock timeout), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_begin(struct fsec_registry *reg);
FSEC_API FSEC_WUR enum fsec_err fsec_registry_commit(struct fsec_registry *reg);
/* Undo the innermost open transaction. Safe to call when none is open. */
FSEC_API void fsec_registry_rollback(struct fsec_registry *reg);

/* Look a device up. Errors: NOTFOUND, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_device_get(struct fsec_registry *reg,
							 const char *id,
							 struct fsec_device_rec *out);

/* Insert or replace the device record with rec->id. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_device_put(struct fsec_registry *reg,
							 const struct fsec_device_rec *rec);

/* Visit devices ordered by ID, optionally only those with the given status
 * (0: any) and/or model (NULL: any). A stored status this library does not
 * know stops the listing (fail closed). Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_device_list(struct fsec_registry *reg,
							  enum fsec_dev_status status,
							  const char *model,
							  fsec_device_cb cb, void *ctx);

/* Record an issued certificate and its PEM. A serial or fingerprint seen
 * before is refused. Errors: EXISTS, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_cert_add(struct fsec_registry *reg,
						       const struct fsec_cert_rec *rec,
						       const char *pem);

/* Visit certificates matching filter, oldest first. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_cert_list(struct fsec_registry *reg,
							const struct fsec_cert_filter *filter,
							fsec_cert_cb cb, void *ctx);

/* The PEM of the certificate with serial, as a string the caller frees.
 * Errors: NOTFOUND, DB, NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_cert_pem(struct fsec_registry *reg,
						       const char *serial, char **pem);

/* Visit each active device's current certificate (the one devices.serial
 * names) as PEM, in device ID order: one pass for a fleet-wide look at the
 * keys, where a fsec_registry_cert_pem per device would be a round trip
 * each on a networked registry. Errors: DB. */
typedef int (*fsec_current_pem_cb)(const char *device_id, const char *pem, void *ctx);
FSEC_API FSEC_WUR enum fsec_err fsec_registry_current_pem_list(struct fsec_registry *reg,
							       fsec_current_pem_cb cb, void *ctx);

/* Mark a certificate revoked. Revocation happens once: an already revoked
 * certificate keeps its first date and reason, and an unknown serial is left
 * alone. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_cert_revoke(struct fsec_registry *reg,
							  const char *serial, int64_t at,
							  int reason);

/* Record an issued server certificate (rec's revocation fields are
 * ignored). A serial or fingerprint seen before is refused.
 * Errors: INVAL (a field that does not fit), EXISTS, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_server_cert_add(struct fsec_registry *reg,
							      const struct fsec_server_cert_rec *rec);

/* Visit server certificates with not_after > not_expired_at (INT64_MIN:
 * all), only revoked ones if revoked_only, oldest first. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_server_cert_list(struct fsec_registry *reg,
							       int64_t not_expired_at,
							       bool revoked_only,
							       fsec_server_cert_cb cb, void *ctx);

/* Mark a server certificate revoked at at with reason.
 * Errors: NOTFOUND (no such serial, or already revoked: the first date and
 * reason stay), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_server_cert_revoke(struct fsec_registry *reg,
								 const char *serial, int64_t at,
								 int reason);

/* Append to the event log (seq and, if 0, at are assigned). The log cannot be
 * changed or deleted through any interface. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_event_add(struct fsec_registry *reg,
							const struct fsec_event_rec *ev);

/* fsec_registry_event_add from parts: actor (NULL: "unknown"), action,
 * device (NULL or not a device ID: none) and a printf-style detail,
 * truncated to fit. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_event_addf(struct fsec_registry *reg,
							 const char *actor, const char *action,
							 const char *device, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* How long a write waits for another process's transaction before BUSY
 * (default 30 s, right for the CLI). A server answering many clients on one
 * thread wants a short wait and a 503 instead. Errors: INVAL. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_set_busy_timeout(struct fsec_registry *reg,
							       int ms);

/* Visit events in order, only those of device_id unless it is NULL.
 * Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_event_list(struct fsec_registry *reg,
							 const char *device_id, fsec_event_cb cb,
							 void *ctx);

/* Visit the events after sequence number after (0: all), in order; what a
 * follower reads on each poll. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_event_list_after(struct fsec_registry *reg,
							       int64_t after, fsec_event_cb cb,
							       void *ctx);

/* Increment the named counter (e.g. "crl_number") and return its new value;
 * counters start at 1. Must run inside a transaction. Errors: DB, INVAL. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_counter_next(struct fsec_registry *reg,
							   const char *name, uint64_t *out);

/* The same, but the new value is also above floor (below INT64_MAX): the
 * counter jumps to floor + 1 if it was lower. For a number that must stay
 * above one already published outside the registry (the CRL number of the
 * home's crl.pem, after a registry restored from an older backup).
 * Must run inside a transaction. Errors: DB, INVAL. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_counter_next_above(struct fsec_registry *reg,
								 const char *name, uint64_t floor,
								 uint64_t *out);

/* ---- enrollment (EST) ---- */

/* A manufacturer CA trusted to vouch for devices at enrollment only. */
struct fsec_enroll_ca_rec {
	char fingerprint[FSEC_SHA256_HEX_LEN]; /* SHA-256 of the DER certificate, lowercase hex */
	char subject[256];    /* one-line subject, for people */
	int64_t added_at;
};

typedef int (*fsec_enroll_ca_cb)(const struct fsec_enroll_ca_rec *rec, const char *pem,
				 void *ctx);
typedef int (*fsec_enroll_pattern_cb)(const char *pattern, const char *model, void *ctx);

/* Trust a manufacturer CA for enrollment (idempotent). Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_enroll_ca_add(struct fsec_registry *reg,
							    const struct fsec_enroll_ca_rec *rec,
							    const char *pem);

/* Visit the trusted manufacturer CAs. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_enroll_ca_list(struct fsec_registry *reg,
							     fsec_enroll_ca_cb cb, void *ctx);

/* Allow serials matching pattern (an exact serial or an fnmatch(3)
 * pattern) from the CA with ca_fingerprint to enrol, as devices of model
 * ("" if unknown). Adding a pattern again with the same model is a no-op;
 * with another model it is refused (EXISTS) unless replace, which changes
 * its model. Errors: INVAL, EXISTS, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_enroll_allow_add(struct fsec_registry *reg,
							       const char *ca_fingerprint,
							       const char *pattern,
							       const char *model, bool replace);

/* Take pattern off the CA's allowlist; pattern NULL: the CA itself and
 * every pattern it had (it no longer vouches for anyone). Devices already
 * enrolled keep their certificates. Errors: INVAL, NOTFOUND (no such
 * pattern, or CA), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_enroll_remove(struct fsec_registry *reg,
							    const char *ca_fingerprint,
							    const char *pattern);

/* Visit the patterns allowed for a CA, with their models. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_enroll_allow_list(struct fsec_registry *reg,
								const char *ca_fingerprint,
								fsec_enroll_pattern_cb cb,
								void *ctx);

/*
 * Spend a bootstrap certificate (by fingerprint) for one use: "enroll"
 * (first contact) or "re-enroll" (the operational certificate expired
 * while offline). Each use can be spent once; a second attempt is a replay.
 * ca_fingerprint names the manufacturer CA that vouched for it ("":
 * unknown). Errors: EXISTS (already spent), INVAL, DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_bootstrap_spend(struct fsec_registry *reg,
							      const char *fingerprint,
							      const char *use,
							      const char *device_id, int64_t at,
							      const char *ca_fingerprint);

/* The device a bootstrap credential was spent for, for one use.
 * Errors: NOTFOUND (not spent), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_bootstrap_spent(struct fsec_registry *reg,
							      const char *fingerprint,
							      const char *use,
							      char device_id[FSEC_DEVID_MAX + 1]);

/* An enrollment waiting for the operator (fleetsecd --approval manual). */
struct fsec_enroll_pending_rec {
	char device_id[FSEC_DEVID_MAX + 1];
	char bootstrap_fp[FSEC_SHA256_HEX_LEN];   /* the credential that asked */
	char spki_sha256[FSEC_SHA256_HEX_LEN];    /* the key it asked for */
	char model[FSEC_MODEL_MAX + 1];
	int64_t requested_at;
	int64_t approved_at;     /* 0: not yet */
	char approved_by[64];
};

typedef int (*fsec_enroll_pending_cb)(const struct fsec_enroll_pending_rec *rec, void *ctx);

/* Record (or refresh, if not yet approved) a pending enrollment.
 * Errors: INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_pending_put(struct fsec_registry *reg,
							  const struct fsec_enroll_pending_rec *rec);

/* The pending enrollment of device_id. Errors: NOTFOUND, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_pending_get(struct fsec_registry *reg,
							  const char *device_id,
							  struct fsec_enroll_pending_rec *out);

/* Approve it, if it waits for a key whose SPKI SHA-256 starts with
 * key_prefix (16-64 lowercase hex digits). Errors: NOTFOUND (none waiting
 * for that key), INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_pending_approve(struct fsec_registry *reg,
							      const char *device_id,
							      const char *key_prefix,
							      const char *by, int64_t at);

/* Forget the pending enrollment of device_id (it was served). Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_pending_delete(struct fsec_registry *reg,
							     const char *device_id);

/* Visit enrollments not yet approved, oldest first. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_pending_list(struct fsec_registry *reg,
							   fsec_enroll_pending_cb cb, void *ctx);

/*
 * A number that changes whenever another connection commits to the
 * registry: cheap enough to ask on every request, so that caches of
 * registry facts (revocation) are dropped the moment they may be stale.
 * Errors: DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_data_version(struct fsec_registry *reg,
							   uint64_t *out);

/* ---- published releases (what fleetsecd serves) ---- */

/* A group of devices a release can be limited to (canaries first). */
#define FSEC_GROUP_MAX 32
#define FSEC_PHASES_MAX 255 /* a rollout's phases, "1%,10%,canary,100%" */

/* Put device id in group ("" takes it out of its group). A group name is
 * 1-32 characters of A-Z a-z 0-9 . _ -. Errors: NOTFOUND, INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_group_set(struct fsec_registry *reg,
							const char *id, const char *group);

/* The group of device id, "" if none. Errors: INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_group_get(struct fsec_registry *reg,
							const char *id,
							char group[FSEC_GROUP_MAX + 1]);

struct fsec_published_rec {
	char model[FSEC_MODEL_MAX + 1];
	char sha256[FSEC_SHA256_HEX_LEN];      /* the image's, lowercase hex */
	char version[32];
	uint32_t security_counter;
	uint64_t size;
	int percent;          /* staged rollout: 0-100 */
	int64_t published_at;
	/* The rollout pauses once this many devices of the model report a
	 * failed update since publication (-1: no limit), or this percentage
	 * of the model's active devices (-1: no limit). */
	int max_failures, max_failures_pct;
	char group[FSEC_GROUP_MAX + 1]; /* "": every device; else only that group's */
	/* The operator's control (release pause|resume|abort): "active",
	 * "paused" or "aborted" ("" is read as "active"). */
	char state[8];
	/* Phases ("1%,10%,group,100%"; "": percent and group alone), the one
	 * in effect (0-based) and since when; it advances on its own after
	 * advance_after seconds (-1: never) once success_pct of its devices
	 * confirmed (-1: no threshold). */
	char phases[FSEC_PHASES_MAX + 1];
	int phase;
	int64_t phase_at;
	int64_t advance_after;
	int success_pct;
	/* Failures forgiven by the last resume: the limit counts above them. */
	uint64_t forgiven;
	bool baseline; /* read from the model's baseline (the release before) */
};

typedef int (*fsec_published_cb)(const struct fsec_published_rec *rec, void *ctx);

/* Visit the published releases ordered by model (without their bundles).
 * Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_publish_list(struct fsec_registry *reg,
							   fsec_published_cb cb, void *ctx);

/* A model's devices as their reports describe them (release status). */
struct fsec_model_stats {
	uint64_t devices;           /* active devices of the model */
	uint64_t reported;          /* of those, ever reported */
	uint64_t failures, successes; /* update outcomes about `image` (or, naming
				       * no image, reported since `since`) */
	uint64_t patched;           /* reported a security counter >= `counter` */
};

/* Per-counter counts for patch coverage: visit (counter, devices) pairs of
 * the model's reporting active devices, lowest counter first. */
typedef int (*fsec_counter_count_cb)(uint32_t counter, uint64_t devices, void *ctx);

/* Count the model's devices (only group's, if not ""): see struct
 * fsec_model_stats. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_model_stats(struct fsec_registry *reg,
							  const char *model, const char *group,
							  int64_t since, uint32_t counter,
							  const char *image,
							  struct fsec_model_stats *out);

/* One of a model's active devices, with its reported state (NULL if it
 * never reported) and its group ("" none). */
typedef int (*fsec_model_state_cb)(const struct fsec_device_rec *dev,
				   const struct fsec_devstate_rec *state, const char *group,
				   void *ctx);

/* Visit model's active devices ordered by ID, each with its state and
 * group, in one query served by the (model, status, id) index: the cost
 * is the model's devices, not the fleet's. failed_image not NULL: only
 * those whose last outcome about that image failed (failed or rolled
 * back; with no state, a failure outcome). Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_model_state_list(struct fsec_registry *reg,
							       const char *model,
							       const char *failed_image,
							       fsec_model_state_cb cb, void *ctx);

/* What a device's last report says about a release (fsec_rollout_tally's
 * columns): an outcome about its image, or a state about its version. */
enum fsec_tally_class {
	FSEC_TALLY_NONE = 0,
	FSEC_TALLY_DOWNLOADING,
	FSEC_TALLY_INSTALLED,
	FSEC_TALLY_TRIAL,
	FSEC_TALLY_CONFIRMED,
	FSEC_TALLY_FAILED,
	FSEC_TALLY_ROLLED_BACK,
};

/* A device's rollout bucket, 0-99 (fsec_rollout_bucket: the registry
 * knows no rollout rule, its caller gives it). */
typedef enum fsec_err (*fsec_bucket_fn)(const char *id, unsigned *bucket);

/* n of a model's active devices in rollout bucket (0-99), of group (""
 * none), whose report says cls, and which fsec_registry_model_stats
 * counts as failures (failure) or not. */
typedef int (*fsec_model_tally_cb)(unsigned bucket, const char *group,
				   enum fsec_tally_class cls, bool failure, uint64_t n,
				   void *ctx);

/* Count model's active devices by bucket (bucket(id), computed inside
 * the query), group, what they last reported about the release of version
 * and image, and whether fsec_registry_model_stats (with since and image)
 * counts them as failures, in one grouped query: at most 100 x groups x 14
 * rows, whatever the fleet's size. Not thread-safe on one registry.
 * Errors: DB, INVAL (no bucket function), CRYPTO (a bucket could not be
 * computed). */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_model_tally(struct fsec_registry *reg,
							  const char *model, const char *version,
							  const char *image, int64_t since,
							  fsec_bucket_fn bucket,
							  fsec_model_tally_cb cb, void *ctx);

/* A model's last rollout evaluation (fsec_rollout_evaluate_all): the
 * image it was about, when, and the active devices and failures (about
 * that image) it counted. */
struct fsec_rollout_eval_rec {
	char sha256[FSEC_SHA256_HEX_LEN];
	int64_t at;
	uint64_t devices, failures;
};

/* Model's last evaluation. Fills *out only on success. Errors: NOTFOUND
 * (none yet), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_rollout_eval_get(struct fsec_registry *reg,
							       const char *model,
							       struct fsec_rollout_eval_rec *out);

/* Record model's last evaluation, replacing the previous. Errors: INVAL
 * (no model, or not a SHA-256), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_rollout_eval_put(
	struct fsec_registry *reg, const char *model, const struct fsec_rollout_eval_rec *rec);

/* Visit the model's reported security counters with their device counts.
 * Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_model_counters(struct fsec_registry *reg,
							     const char *model,
							     fsec_counter_count_cb cb, void *ctx);

/* Make bundle (a signed release bundle, verified by the caller) the one
 * served to devices of rec->model, replacing the previous. Errors: INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_publish_put(struct fsec_registry *reg,
							  const struct fsec_published_rec *rec,
							  const char *bundle);

/* The release published for model; *bundle (may be NULL) is freed with
 * free(). Errors: NOTFOUND, DB, NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_publish_get(struct fsec_registry *reg,
							  const char *model,
							  struct fsec_published_rec *rec,
							  char **bundle);

/* The model's baseline: the release every device was offered before the
 * published one (a candidate) replaced it; rec->baseline is set. Errors:
 * NOTFOUND, DB, NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_baseline_get(struct fsec_registry *reg,
							   const char *model,
							   struct fsec_published_rec *rec,
							   char **bundle);

/* Keep the model's published release as its baseline (replacing the
 * previous baseline). Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_baseline_keep(struct fsec_registry *reg,
							    const char *model);

/* Replace the manifest of the model's baseline, when it is still image
 * sha256 (a refresh: same image, later expiry, next sequence). Errors:
 * NOTFOUND (no such baseline now), INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_baseline_bundle_put(struct fsec_registry *reg,
								  const char *model,
								  const char *sha256,
								  const char *bundle);

/* The candidate image device id was last served (GET /v1/update), ""
 * if none, and since when (*at, 0 if none). Errors: INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_served_get(struct fsec_registry *reg,
							 const char *id,
							 char sha[FSEC_SHA256_HEX_LEN],
							 int64_t *at);

/* Record that device id was served the image sha at. Errors: INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_served_put(struct fsec_registry *reg,
							 const char *id, const char *sha,
							 int64_t at);

/* A model's signed "nothing new" statement (release.h, timestamp), what
 * fleetsecd serves a device it has no manifest for. */
struct fsec_timestamp_rec {
	char model[FSEC_MODEL_MAX + 1];
	int64_t latest;       /* the manifest sequence it names; -1: none */
	int64_t issued_at, expires_at;
};

/* Make bundle (a signed timestamp bundle, verified by the caller) the one
 * served for rec->model, replacing the previous. Errors: INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_timestamp_put(struct fsec_registry *reg,
							    const struct fsec_timestamp_rec *rec,
							    const char *bundle);

/* The timestamp stored for model; *bundle (may be NULL) is freed with
 * free(). Errors: NOTFOUND, DB, NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_timestamp_get(struct fsec_registry *reg,
							    const char *model,
							    struct fsec_timestamp_rec *rec,
							    char **bundle);

/* Look a product up by model. Errors: NOTFOUND, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_product_get(struct fsec_registry *reg,
							  const char *model,
							  struct fsec_product_rec *out);

/* Insert or replace the product rec->model. Errors: INVAL (empty model), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_product_put(struct fsec_registry *reg,
							  const struct fsec_product_rec *rec);

/* Visit products ordered by model. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_product_list(struct fsec_registry *reg,
							   fsec_product_cb cb, void *ctx);

/* A device's reported state. Errors: NOTFOUND (never reported), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_devstate_get(struct fsec_registry *reg,
							   const char *id,
							   struct fsec_devstate_rec *out);

/* Insert or replace the state of rec->device_id, which must be a registered
 * device. Errors: INVAL, EXISTS (no such device), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_devstate_put(struct fsec_registry *reg,
							   const struct fsec_devstate_rec *rec);

/* Visit every reported state ordered by device ID (the order of
 * fsec_registry_device_list, so the two can be merged). Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_devstate_list(struct fsec_registry *reg,
							    fsec_devstate_cb cb, void *ctx);

/* Visit every device ordered by ID together with its reported state, in one
 * pass (what a fleet audit reads). Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_device_state_list(struct fsec_registry *reg,
								fsec_device_state_cb cb,
								void *ctx);

/*
 * Record a device's MAC and/or IPv4 address. NULL leaves a field as it is,
 * "" clears it. The MAC is stored in lower case. A MAC or IP held by another
 * device is refused. Errors: NOTFOUND (no such device), EXISTS, INVAL (bad
 * MAC or IP), DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_device_net_set(struct fsec_registry *reg,
							     const char *id, const char *mac,
							     const char *ip);

/* Visit device id's address record, if it has one (cb is not called
 * otherwise). Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_device_net_one(struct fsec_registry *reg,
							     const char *id,
							     fsec_device_net_cb cb, void *ctx);

/* Visit the devices that have an address recorded, ordered by ID.
 * Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_device_net_list(struct fsec_registry *reg,
							      fsec_device_net_cb cb, void *ctx);

/* ---- devices' firmware encryption keys (issue 19) ---- */

/* A device's encryption key as stored: an SPKI PEM (P-256 or X25519). */
#define FSEC_ENC_KEY_PEM_MAX 512

/*
 * Enrol (or replace) device id's firmware encryption key, the public key
 * fleetsecd wraps image keys to (GET /v1/firmware/SHA256/key): a second key,
 * not its TLS key. pem is an SPKI PEM of at most FSEC_ENC_KEY_PEM_MAX bytes;
 * its type is the caller's to check. Errors: INVAL, NOTFOUND (no such
 * device), DB, BUSY.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_enc_key_put(struct fsec_registry *reg,
							  const char *id, const char *pem,
							  int64_t at) FSEC_NONNULL(1, 2, 3);

/* Device id's enrolled encryption key into pem (FSEC_ENC_KEY_PEM_MAX + 1
 * bytes). Errors: INVAL, NOTFOUND (none enrolled), DB, BUSY. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_enc_key_get(struct fsec_registry *reg,
							  const char *id, char *pem)
	FSEC_NONNULL(1, 2, 3);

/* ---- tamper reports (issue 13) ---- */

#define FSEC_TAMPER_REASON_MAX 128

/* A device's last tamper report, as fleetsecd verified it. */
struct fsec_tamper_rec {
	char device_id[FSEC_DEVID_MAX + 1];
	int64_t at;          /* the event's time, as the device signed it */
	int64_t received_at; /* when fleetsecd recorded it */
	char reason[FSEC_TAMPER_REASON_MAX + 1];
	char serial[FSEC_SERIAL_HEX_LEN]; /* the certificate it came through */
	/* Read only: the device is active and that certificate is still its
	 * current one. A revocation or a new certificate (re-provisioning)
	 * ends the mark; the report stays as history. */
	bool current;
};

typedef int (*fsec_tamper_cb)(const struct fsec_tamper_rec *rec, void *ctx);

/* Record rec (rec->current is ignored) with the signed envelope it came in
 * as evidence, replacing the device's earlier report. The caller verified
 * it and adds the event, in one transaction. Errors: INVAL (bad ID, reason
 * not printable ASCII, serial not hex, envelope empty or over 64 KiB),
 * NOTFOUND (no such device), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_tamper_put(struct fsec_registry *reg,
							 const struct fsec_tamper_rec *rec,
							 const char *envelope) FSEC_NONNULL(1, 2, 3);

/* Device id's last tamper report. Errors: NOTFOUND (none), INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_tamper_get(struct fsec_registry *reg,
							 const char *id,
							 struct fsec_tamper_rec *out)
	FSEC_NONNULL(1, 2, 3);

/* Visit every device's last tamper report, by device ID. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_tamper_list(struct fsec_registry *reg,
							  fsec_tamper_cb cb, void *ctx)
	FSEC_NONNULL(1, 2);

/* ---- inventory: device show, list, find and export ---- */

/* One device with everything the registry holds about it beside its
 * certificates and events: its reported state, group and addresses. */
struct fsec_inventory_rec {
	struct fsec_device_rec dev;
	bool reported;                   /* false: never reported, state is all zero */
	struct fsec_devstate_rec state;
	char group[FSEC_GROUP_MAX + 1];  /* "": none */
	char mac[18];                    /* "": none */
	char ip[16];                     /* "": none */
	bool outdated;                   /* fsec_registry_fw_outdated() */
};

/* Which devices fsec_registry_inventory_list() visits: every field set
 * narrows the listing (AND); zero/NULL/false fields do not filter. */
struct fsec_inventory_query {
	enum fsec_dev_status status;  /* 0: any */
	const char *model, *group;    /* NULL: any */
	const char *fw_version;       /* the reported version; NULL: any */
	bool by_seen_before, by_seen_after;
	int64_t seen_before, seen_after; /* last report strictly before/after; never-reported
					  * devices match neither */
	bool by_expires_before;
	int64_t expires_before;       /* current certificate's not_after <= this (a device
				       * without one never matches) */
	bool outdated;                /* only devices behind their product's release */
	const char *update_state;     /* the update state last reported
				       * (fsec_update_state_valid), "" none; NULL: any */
	bool by_outcome;
	enum fsec_update_outcome outcome; /* last reported update outcome (NONE: none
					   * reported, including never reported) */
	const char *mfr_ca;           /* enrolled with a bootstrap credential this
				       * manufacturer CA (SHA-256 hex) vouched for */
};

typedef int (*fsec_inventory_cb)(const struct fsec_inventory_rec *rec, void *ctx);

/*
 * The one rule for "behind the product's current release" (the audit's
 * FLEET-FW-OUTDATED and `device list --outdated`): the device reported, its
 * product records a release, and the reported security counter is below the
 * release's. p or s NULL: not outdated. The backend's query applies the same
 * rule (tests/unit/test_inventory.c checks the two agree). Thread-safe.
 */
FSEC_API bool fsec_registry_fw_outdated(const struct fsec_product_rec *p,
					const struct fsec_devstate_rec *s);

/* Visit the devices q selects (NULL: all), ordered by ID, filtered by the
 * backend (never loaded whole). Errors: INVAL (a bad model, group,
 * version or update state), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_inventory_list(struct fsec_registry *reg,
							     const struct fsec_inventory_query *q,
							     fsec_inventory_cb cb, void *ctx);

/* One device's inventory record. Errors: NOTFOUND, INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_inventory_get(struct fsec_registry *reg,
							    const char *id,
							    struct fsec_inventory_rec *out);

/* What a fsec_registry_device_find() needle matched. */
enum fsec_find_kind {
	FSEC_FIND_ID = 1,
	FSEC_FIND_SERIAL,      /* any certificate's serial (hex, any case, ':' allowed) */
	FSEC_FIND_FINGERPRINT, /* any certificate's SHA-256 (hex, any case, ':' allowed) */
	FSEC_FIND_SPKI,        /* any certificate's SPKI SHA-256 */
	FSEC_FIND_MAC,
	FSEC_FIND_IP,
};

/* "id", "serial", "fingerprint", "spki", "mac", "ip"; never NULL. */
FSEC_API const char *fsec_find_kind_name(enum fsec_find_kind k);

typedef int (*fsec_find_cb)(enum fsec_find_kind kind, const char *device_id, void *ctx);

/* Visit every (kind, device) the needle names: a device ID, the serial,
 * fingerprint or SPKI SHA-256 of any certificate ever issued, a MAC or an
 * IPv4 address; one device may be visited under several kinds. Visits
 * nothing if nothing matches. Errors: INVAL (empty or over 128 bytes), DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_device_find(struct fsec_registry *reg,
							  const char *needle, fsec_find_cb cb,
							  void *ctx);

/* Which events fsec_registry_event_query() visits; zero/NULL fields do not
 * filter. */
struct fsec_event_filter {
	const char *device_id;
	const char *action;
	int64_t since;      /* at >= since; 0: any */
	int64_t after_seq;  /* seq > after_seq (following the log); 0: any */
	unsigned last;      /* only the last N of those, still in order; 0: all */
};

/* Visit the events f selects in order (seq ascending). Errors: INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_event_query(struct fsec_registry *reg,
							  const struct fsec_event_filter *f,
							  fsec_event_cb cb, void *ctx);

/* ---- fleetsecd's bounds: refusals aggregated, early renewals allowed ---- */

/* The longest reason class and source address a refusal row keeps. */
#define FSEC_REFUSAL_KEY_MAX 96
#define FSEC_SOURCE_MAX 63

/*
 * Refused requests, one row per (credential, reason class) rather than one
 * event per request: a credential that is refused again and again grows a
 * count, not the registry.
 */
struct fsec_refusal_rec {
	char credential[FSEC_SHA256_HEX_LEN];  /* the client certificate's SHA-256; "": none */
	char reason[FSEC_REFUSAL_KEY_MAX + 1]; /* "OP STATUS CLASS" (the key, with credential) */
	char device_id[FSEC_DEVID_MAX + 1];    /* the ID the credential names; "": none */
	char detail[FSEC_DETAIL_MAX + 1];      /* the latest refusal's whole reason */
	char source[FSEC_SOURCE_MAX + 1];      /* the latest refusal's address; "": unknown */
	uint64_t count;                        /* refusals counted */
	int64_t first_at, last_at;
	int64_t mark; /* read only: rises with every add to any row (0: before v17) */
};

typedef int (*fsec_refusal_cb)(const struct fsec_refusal_rec *rec, void *ctx);

/* Count rec->count more refusals of (rec->credential, rec->reason): a new
 * row starts at rec->first_at, an existing one keeps its first time and takes
 * rec's last time, detail, source and device. *created (may be NULL) says
 * whether the row is new: the first refusal of that credential and reason.
 * Errors: INVAL (count 0, an empty or unprintable reason, a credential that
 * is not 64 lowercase hex digits), DB, BUSY. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_refusal_add(struct fsec_registry *reg,
							  const struct fsec_refusal_rec *rec,
							  bool *created);

/* Visit the refusal rows, latest first (device_id non-NULL: only those
 * naming it). Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_refusal_list(struct fsec_registry *reg,
							   const char *device_id,
							   fsec_refusal_cb cb, void *ctx);

/* Visit the refusal rows added to since mark after (a row's mark is that of
 * its last add: 0 lists every row), in the order of those adds: how
 * `fleetsec events --follow` sees a count grow. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_refusal_changed(struct fsec_registry *reg,
							      int64_t after,
							      fsec_refusal_cb cb, void *ctx);

/* Allow device id one renewal before it is due (key compromise: the
 * operator wants the key replaced now), granted by by at at. A second grant
 * before the first is used refreshes it. Errors: NOTFOUND (no such device),
 * INVAL, DB, BUSY. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_renew_allow_put(struct fsec_registry *reg,
							      const char *id, const char *by,
							      int64_t at);

/* Whether device id holds an early-renewal allowance; *granted_by (cap
 * FSEC_ACTOR_MAX + 1, may be NULL) names who granted it.
 * Errors: NOTFOUND (none), INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_renew_allow_get(struct fsec_registry *reg,
							      const char *id, char *granted_by);

/* Use up device id's allowance (inside the renewal's transaction: it is
 * spent exactly when the certificate is issued). Errors: NOTFOUND (none, or
 * another request used it), INVAL, DB, BUSY. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_renew_allow_take(struct fsec_registry *reg,
							       const char *id);

/* ---- inspection: what the CLI shows and the tests check, on any backend ---- */

/* A bootstrap credential spent at enrollment (fsec_registry_bootstrap_spend). */
struct fsec_bootstrap_rec {
	char fingerprint[FSEC_SHA256_HEX_LEN]; /* SHA-256 of the bootstrap certificate */
	char use[16];                          /* "enroll" or "re-enroll" */
	char device_id[FSEC_DEVID_MAX + 1];
	int64_t at;
};

typedef int (*fsec_bootstrap_cb)(const struct fsec_bootstrap_rec *rec, void *ctx);

/* Visit every spent bootstrap credential, oldest first. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_bootstrap_list(struct fsec_registry *reg,
							     fsec_bootstrap_cb cb, void *ctx);

/* A problem the backend's own check found, as one line. */
typedef int (*fsec_problem_cb)(const char *problem, void *ctx);

/*
 * Run the backend's own consistency check (SQLite: integrity_check and
 * foreign_key_check) and visit each problem it finds; none means the
 * registry is sound. Errors: DB (the check could not run).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_check(struct fsec_registry *reg,
						    fsec_problem_cb cb, void *ctx);

/* ---- backup and restore ---- */

/*
 * Write a consistent copy of the whole registry to path, a new file (0600)
 * that must not exist, while other processes may be writing: the backend's
 * online copy (SQLite: the backup API inside one read transaction), never a
 * copy of the files underneath. The copy is one self-contained file, fsync'd
 * before return; on failure nothing is left at path.
 * Errors: EXISTS (path exists), IO, BUSY, DB, NOMEM. Not thread-safe on reg.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_snapshot(struct fsec_registry *reg,
						       const char *path);

/*
 * Raise the named counter to at least floor (below INT64_MAX), never
 * lowering it, and return its value; the next fsec_registry_counter_next
 * returns more. For a restored registry, whose counters may be behind what
 * the original went on to hand out. Must run inside a transaction.
 * Errors: INVAL, DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_counter_raise(struct fsec_registry *reg,
							    const char *name, uint64_t floor,
							    uint64_t *out);


/* ---- pairings (issue 18): a device's key, paired by an operator ---- */

/* A single-use pairing for exactly one key, known only by its hash. */
struct fsec_pairing_rec {
	char key_sha256[FSEC_SHA256_HEX_LEN]; /* fsec_key_spki_sha256 of the paired key */
	char device_id[FSEC_DEVID_MAX + 1];   /* the serial the device enrols as */
	char model[FSEC_MODEL_MAX + 1];       /* "" : none */
	char group[FSEC_GROUP_MAX + 1];       /* "" : none */
	char paired_by[FSEC_ACTOR_MAX + 1];
	int64_t paired_at, expires_at;
	int64_t used_at; /* 0: not used */
};

/* Record rec (used_at ignored). A key paired before may be paired again
 * only when that pairing expired unused. Errors: EXISTS (the key is paired
 * and unexpired, or its pairing was used), INVAL, DB, BUSY. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_pairing_put(struct fsec_registry *reg,
							  const struct fsec_pairing_rec *rec);

/* The pairing of key_sha256. Errors: NOTFOUND, INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_pairing_get(struct fsec_registry *reg,
							  const char *key_sha256,
							  struct fsec_pairing_rec *out);

/* A pairing of device id: with used, the one that enrolled it; without, one
 * still waiting at now (unused, unexpired). Errors: NOTFOUND, INVAL, DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_pairing_of(struct fsec_registry *reg,
							 const char *id, bool used, int64_t now,
							 struct fsec_pairing_rec *out);

/* Spend the pairing of key_sha256 at at, in the enrollment's transaction:
 * only if unused and unexpired at at, so that two enrollments racing with
 * one pairing issue once. Errors: NOTFOUND (none, used or expired), INVAL,
 * DB, BUSY. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_pairing_spend(struct fsec_registry *reg,
							    const char *key_sha256, int64_t at);

/* ---- the change feed (several fleetsecd on one PostgreSQL registry) ---- */

/*
 * Every event logged (revoke, tamper, enroll-allow, ...) is announced, in
 * its own transaction, to the processes that listen: on PostgreSQL a NOTIFY
 * on a dedicated connection, so a replica drops its cached peer checks the
 * moment another replica or the CLI commits, without asking the registry
 * at every request. A notification is not durable: after a reconnection,
 * the events logged since the last one heard are read from the log
 * (replayed) instead.
 *
 * fsec_registry_feed_open gives *out NULL on a backend without one
 * (SQLite: fsec_registry_data_version serves). Otherwise, wait for
 * fsec_registry_feed_fd to be readable, then fsec_registry_feed_poll:
 * *changed when an event arrived. UNAVAILABLE from poll or reconnect: the
 * connection is lost, nothing cached may be trusted until
 * fsec_registry_feed_reconnect succeeds (*changed: events were missed).
 * fsec_registry_feed_lead takes (or keeps) the lead of the singleton jobs:
 * a session advisory lock on the feed's connection, so at most one process
 * leads, and the lead passes on when its holder dies; notifications that
 * arrive meanwhile wait for the next fsec_registry_feed_poll, which the
 * caller makes after it. Errors: UNAVAILABLE, DB, NOMEM.
 */
struct fsec_registry_feed;
FSEC_API FSEC_WUR enum fsec_err fsec_registry_feed_open(struct fsec_registry *reg,
							struct fsec_registry_feed **out);
FSEC_API int fsec_registry_feed_fd(struct fsec_registry_feed *f);
FSEC_API FSEC_WUR enum fsec_err fsec_registry_feed_poll(struct fsec_registry_feed *f,
							bool *changed);
FSEC_API FSEC_WUR enum fsec_err fsec_registry_feed_reconnect(struct fsec_registry_feed *f,
							     bool *changed);
FSEC_API FSEC_WUR enum fsec_err fsec_registry_feed_lead(struct fsec_registry_feed *f,
							bool *leader);
FSEC_API void fsec_registry_feed_free(struct fsec_registry_feed *f);

#endif
