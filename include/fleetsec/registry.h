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

#include "fleetsec/ca.h"
#include "fleetsec/common.h"
#include "fleetsec/identity.h"
#include "fleetsec/key.h"

#define FSEC_MODEL_MAX 64
#define FSEC_ACTOR_MAX 128
#define FSEC_DETAIL_MAX 256

/* Create the registry; fail with EXISTS if it is already there. */
#define FSEC_REGISTRY_CREATE 0x1u

struct fsec_registry;

struct fsec_device_rec {
	char id[FSEC_DEVID_MAX + 1];
	char model[FSEC_MODEL_MAX + 1];
	char status[16];                  /* "active" or "revoked" */
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
};

struct fsec_event_rec {
	int64_t seq, at;
	char actor[FSEC_ACTOR_MAX + 1];
	char action[32];
	char device_id[FSEC_DEVID_MAX + 1];
	char detail[FSEC_DETAIL_MAX + 1];
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
	char status[16];
	char mac[18]; /* "aa:bb:cc:dd:ee:ff" (lower case), or "" */
	char ip[16];  /* dotted IPv4, or "" */
};

/* Visitors return 0 to go on, anything else to stop the listing early. */
typedef int (*fsec_device_cb)(const struct fsec_device_rec *rec, void *ctx);
typedef int (*fsec_cert_cb)(const struct fsec_cert_rec *rec, void *ctx);
typedef int (*fsec_event_cb)(const struct fsec_event_rec *rec, void *ctx);
typedef int (*fsec_device_net_cb)(const struct fsec_device_net *rec, void *ctx);

/*
 * Open the registry at location: "sqlite:PATH" or a plain PATH. With
 * FSEC_REGISTRY_CREATE, create it (and its schema) and fail if it exists.
 * Errors: EXISTS, NOTFOUND, DB (including a schema newer than this library),
 * INVAL (unknown scheme), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_open(const char *location, unsigned flags,
						   struct fsec_registry **out);

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
 * and/or model (NULL: any). Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_device_list(struct fsec_registry *reg,
							  const char *status, const char *model,
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

/* Mark a certificate revoked. Revocation happens once: an already revoked
 * certificate keeps its first date and reason, and an unknown serial is left
 * alone. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_cert_revoke(struct fsec_registry *reg,
							  const char *serial, int64_t at,
							  int reason);

/* Append to the event log (seq and, if 0, at are assigned). The log cannot be
 * changed or deleted through any interface. Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_event_add(struct fsec_registry *reg,
							const struct fsec_event_rec *ev);

/* Visit events in order, only those of device_id unless it is NULL.
 * Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_event_list(struct fsec_registry *reg,
							 const char *device_id, fsec_event_cb cb,
							 void *ctx);

/* Increment the named counter (e.g. "crl_number") and return its new value;
 * counters start at 1. Must run inside a transaction. Errors: DB, INVAL. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_counter_next(struct fsec_registry *reg,
							   const char *name, uint64_t *out);

/*
 * Record a device's MAC and/or IPv4 address. NULL leaves a field as it is,
 * "" clears it. The MAC is stored in lower case. A MAC or IP held by another
 * device is refused. Errors: NOTFOUND (no such device), EXISTS, INVAL (bad
 * MAC or IP), DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_device_net_set(struct fsec_registry *reg,
							     const char *id, const char *mac,
							     const char *ip);

/* Visit the devices that have an address recorded, ordered by ID.
 * Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_registry_device_net_list(struct fsec_registry *reg,
							      fsec_device_net_cb cb, void *ctx);

#endif
