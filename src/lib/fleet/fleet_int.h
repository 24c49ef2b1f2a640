/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: the fleet.json parser, exposed for unit tests and fuzzing. */
#ifndef FLEETSEC_FLEET_INT_H
#define FLEETSEC_FLEET_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "fleetsec/ca.h"
#include "fleetsec/key.h"

#define FLEET_PATH_MAX 1024
/* Issuing CAs kept after a rotation (fleet.json "previous_issuing"): each
 * still signs the CRL of what it issued until its certificate expires. */
#define FLEET_PREV_MAX 8

/* Roots kept after a rollover (fleet.json "previous_roots"): each stays a
 * trust anchor, with its cross certificates, until it expires. */
#define FLEET_ROOTS_MAX 4

struct fleet_prev_ca {
	char cert[FLEET_PATH_MAX];
	char key[FLEET_PATH_MAX]; /* path or OpenSSL store URI */
	char root[FLEET_PATH_MAX]; /* the root it chains to; "": root_cert */
};

struct fleet_prev_root {
	char cert[FLEET_PATH_MAX];
	char new_with_old[FLEET_PATH_MAX]; /* the next root, signed by this one */
	char old_with_new[FLEET_PATH_MAX]; /* this root, signed by the next one */
};

struct fleet_config {
	char name[FSEC_FLEET_NAME_MAX + 1];
	enum fsec_key_algo algo;
	char root_cert[FLEET_PATH_MAX];
	char issuing_cert[FLEET_PATH_MAX];
	char issuing_key[FLEET_PATH_MAX]; /* path or OpenSSL store URI */
	char registry[FLEET_PATH_MAX];
	int device_days;
	int crl_days;
	struct fleet_prev_ca prev[FLEET_PREV_MAX]; /* oldest first */
	size_t nprev;
	struct fleet_prev_root roots[FLEET_ROOTS_MAX]; /* oldest first */
	size_t nroots;
};

/* Parse fleet.json strictly: known keys only, each with the right type and
 * range, no duplicates. Errors: TOO_LARGE, PARSE. */
enum fsec_err fsec_fleet_config_parse(const unsigned char *buf, size_t len,
				      struct fleet_config *out);

/* Revocation's steps, shared by fsec_fleet_revoke and the batch
 * (revoke_batch.c), so that one device and a million are revoked alike. */
struct fsec_fleet;

/* Load the issuing CA (and sync fleet.json), before the transaction.
 * Errors: as fsec_fleet_open's, IO, CRYPTO. */
enum fsec_err fleet_load_ca(struct fsec_fleet *f);

/* Inside the caller's transaction: revoke device id's unexpired
 * certificates with reason, mark it revoked and log a "revoke" event;
 * *count says how many certificates. Errors: NOTFOUND, EXISTS (already
 * revoked), DB. */
enum fsec_err fleet_revoke_in_tx(struct fsec_fleet *f, const char *id, int reason, time_t now,
				const char *actor, size_t *count);

/* End a revocation transaction that has gone as rc says so far: sign one
 * CRL in it, commit, publish it (or roll back on any failure). */
enum fsec_err fleet_revocation_commit(struct fsec_fleet *f, enum fsec_err rc);

/* Issuance's steps, shared by fsec_fleet_issue and the batch
 * (issue_batch.c), so that one device and a factory line are issued alike. */
struct fsec_device_rec;
struct fsec_issued_cert;

/* The loaded issuing CA (after fleet_load_ca). */
struct fsec_ca *fleet_ca(struct fsec_fleet *f);

/* The fleet's default device validity (fleet.json device_days). */
int fleet_device_days(const struct fsec_fleet *f);

/* Inside the caller's transaction: POLICY if the key whose SPKI hash is
 * spki is registered to a device other than id, or was revoked as
 * compromised. Errors: that, DB. */
enum fsec_err fleet_key_check_in_tx(struct fsec_fleet *f, const char *id, const char *spki);

/* Inside the caller's transaction: record cert (pem) as device dev->id's
 * current certificate, update dev (the registered row when had, else a
 * zeroed one with its id set) and log an "issue" (or "reissue") event.
 * model NULL keeps dev's. Errors: DB. */
enum fsec_err fleet_record_issue(struct fsec_fleet *f, struct fsec_device_rec *dev, bool had,
				 const char *model, const char *spki,
				 const struct fsec_issued_cert *cert, const char *pem,
				 const char *provisioning, const char *actor, time_t now,
				 size_t superseded);

#endif
