/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fleet: the operator's home directory holding the fleet CA and the
 * registry, and the operations that change both together (issue, revoke,
 * CRL). Each operation is one registry transaction; the files it writes are
 * staged before the commit and renamed into place after it, so a failure at
 * any point leaves neither a registry row nor a file behind.
 *
 * Home layout (all written by fsec_fleet_create):
 *   fleet.json   configuration (name, algorithm, key locations, defaults)
 *   root.pem     root CA certificate      root.key     root CA key (0600)
 *   issuing.pem  issuing CA certificate   issuing.key  issuing CA key (0600)
 *   chain.pem    issuing + root           crl.pem      current CRL
 *   registry.db  SQLite registry (WAL)
 * After `ca rotate` (fsec_fleet_ca_rotate): issuing-N.pem/.key are the
 * current issuing CA, the earlier ones stay as previous CAs, chain.pem is
 * the current issuing CA, the root, then each previous one still in use,
 * and crl.pem holds one CRL per issuing CA in use, the current one first.
 * root.key is needed only by init and rotation, and may be moved offline.
 * issuing_key in fleet.json may be a path or an OpenSSL store URI.
 */
#ifndef FLEETSEC_FLEET_H
#define FLEETSEC_FLEET_H

#include <stdbool.h>

#include <openssl/x509.h>

#include "fleetsec/ca.h"
#include "fleetsec/key.h"
#include "fleetsec/registry.h"

#define FSEC_FLEET_CONFIG_MAX (64u * 1024u)

struct fsec_fleet;

struct fsec_fleet_create_params {
	const char *name;          /* fleet name, 1-64 printable characters */
	enum fsec_key_algo algo;   /* FSEC_KEY_P256 or FSEC_KEY_ED25519; 0 = P-256 */
	int root_days;             /* 0 = 7300 (devices live 15 years) */
	int issuing_days;          /* 0 = 3650 */
	int device_days;           /* 0 = 365 */
	int crl_days;              /* 0 = 7 */
	const char *actor;         /* who, for the event log */
	const char *registry;      /* NULL: SQLite in the home; or a postgresql:// URL
				    * (an empty database, no password in it), kept
				    * in fleet.json */
};

/*
 * Create a fleet home at path: root and issuing CA, registry, first CRL. The
 * home is built in a sibling temporary directory and renamed into place, so
 * it appears complete or not at all. An existing non-empty path is refused
 * and left untouched. Errors: EXISTS, INVAL, IO, CRYPTO, DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_create(const char *path,
						  const struct fsec_fleet_create_params *p);

/*
 * Open an existing home. The issuing key is loaded only when an operation
 * needs it, so read-only commands work with the key elsewhere.
 * Errors: NOTFOUND (no home), PARSE (bad fleet.json), DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_open(const char *path, struct fsec_fleet **out);

/* fsec_fleet_open with the registry read-only (FSEC_REGISTRY_READONLY): for
 * a process that must see the fleet but never change it, such as the MQTT
 * broker's plugin. Anything that writes fails with DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_open_readonly(const char *path,
							 struct fsec_fleet **out);

/*
 * fsec_fleet_open_readonly with the registry at location, a read-only
 * standby of the fleet's PostgreSQL registry (streaming replication),
 * instead of fleet.json's primary: for commands that only read (device
 * list, the audit, exports), so that they do not load the primary. Nothing
 * is created or migrated there (the schema must be this library's), and
 * anything that writes fails with DB. Errors: as fsec_fleet_open; INVAL
 * (location is not a postgresql:// URL, or the fleet is on SQLite).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_open_standby(const char *path, const char *location,
							struct fsec_fleet **out);

/* NULL is a no-op. */
FSEC_API void fsec_fleet_free(struct fsec_fleet *f);

/* Borrowed; valid while f lives. */
FSEC_API struct fsec_registry *fsec_fleet_get_registry(struct fsec_fleet *f);
/* The registry's location as fsec_registry_open takes it ("sqlite:" with the
 * home's path joined, or fleet.json's URL), malloc'd. Errors: NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_get_registry_location(const struct fsec_fleet *f,
								 char **out);
FSEC_API const char *fsec_fleet_get_name(const struct fsec_fleet *f);
FSEC_API const char *fsec_fleet_get_home(const struct fsec_fleet *f);

/* The fleet's CA certificates as PEM, a string the caller frees with
 * free(): the current issuing CA, the NewWithOld cross certificate of
 * each previous root (after `ca rollover`, newest first), the root, then
 * every previous issuing CA still in use (after `ca rotate`, until its
 * certificate expires), then each previous root still in use after its
 * OldWithNew cross certificate. A cross certificate comes before the
 * self-signed root of the same name, so that a chain builder holding only
 * the other root finds it first. What fleetsecd trusts for client
 * certificates and serves at /cacerts.
 * Errors: IO, NOMEM, PARSE. */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_chain_pem(struct fsec_fleet *f, char **out);

struct fsec_issue_opts {
	const char *id;              /* device ID */
	const char *model;           /* NULL: keep the registered model, or "" */
	int days;                    /* 0: the fleet's device_days */
	bool reissue;                /* allow replacing an active certificate */
	enum fsec_key_algo key_algo; /* with keygen; 0 = P-256 */
	const char *key_out;         /* with keygen: where the new key goes (0600) */
	const char *cert_out;        /* optional: the certificate as PEM */
	const char *provisioning;    /* how the device was provisioned, for the registry
				      * (NULL: factory-csr or factory-keygen) */
	const char *actor;           /* who, for the event log */
};

/*
 * Issue a device certificate from a parsed, verified CSR (fsec_csr_parse),
 * or, with csr == NULL, for a key generated here and written to
 * opts->key_out. Refuses:
 *  - an invalid ID (INVAL);
 *  - an ID already registered (active or revoked), unless opts->reissue
 *    (EXISTS);
 *  - a public key registered to any other device, or one revoked as
 *    compromised (POLICY): the hardcoded fleet-wide key failure;
 *  - a weak key (POLICY).
 * On reissue the previous certificate is revoked as superseded and the CRL
 * is regenerated (or marked pending: fsec_fleet_set_crl_deferred). Fills *out (release it with fsec_issued_cert_cleanup; may
 * be NULL) only on success. Errors: as above, plus BUSY, DB, IO, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_issue(struct fsec_fleet *f, X509_REQ *csr,
						 const struct fsec_issue_opts *opts,
						 struct fsec_issued_cert *out);

/* Short, so that a stolen server key is useful for a month at most even
 * unrevoked; fleetsecd's certificate is renewed in place (--renew). */
#define FSEC_SERVER_CERT_DAYS 30

struct fsec_server_cert_opts {
	/* days 0: FSEC_SERVER_CERT_DAYS. With renew, only days is used (may
	 * be NULL): the name, addresses and CRL URL come from cert_out. */
	const struct fsec_server_cert_spec *spec;
	const char *key_out;                      /* NULL: HOME/server.key */
	const char *cert_out;                     /* NULL: HOME/server.pem */
	const char *actor;
	bool renew;
	/* "backend" or "operator": a client certificate of that role for
	 * spec->name instead (fsec_ca_issue_role, issue 15), written to
	 * key_out and cert_out (both required); no renew. NULL: fleetsecd's. */
	const char *role;
};

/*
 * Issue fleetsecd's TLS server certificate (see fsec_ca_issue_server) for a
 * P-256 key generated here, record it in the registry (serial, name,
 * fingerprint, validity) and log the issuance. Writes the key (0600) and
 * the certificate followed by the issuing CA's: never over existing files,
 * or, with o->renew, replacing both, each by an atomic rename, with a new
 * key and the name, addresses and CRL URL of the certificate now at the
 * certificate path. Fills *out (may be NULL) on success.
 * With o->role, the same for a backend or operator client certificate,
 * recorded with its role and logged as client-cert; fsec_fleet_server_cert_revoke
 * revokes it, and the CRL lists it.
 * Errors: INVAL, EXISTS (an output exists), PARSE (renew: no usable
 * current certificate), IO, CRYPTO, DB, BUSY.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_server_cert(struct fsec_fleet *f,
						       const struct fsec_server_cert_opts *o,
						       struct fsec_issued_cert *out);

/* Visit every server certificate the fleet recorded, oldest first.
 * Errors: DB. */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_server_cert_list(struct fsec_fleet *f,
							    fsec_server_cert_cb cb, void *ctx);

/*
 * Revoke the server certificate with serial (hex, any case) with reason
 * (see fsec_crl_reason_parse), and sign and publish a CRL that lists it.
 * Errors: INVAL (not a serial), NOTFOUND (unknown, or already revoked),
 * BUSY, DB, IO, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_server_cert_revoke(struct fsec_fleet *f,
							      const char *serial, int reason,
							      const char *actor);

/*
 * Revoke every unexpired certificate of device id with reason (an RFC 5280
 * code, see fsec_crl_reason_parse), mark the device revoked and regenerate
 * the CRL. Errors: NOTFOUND, EXISTS (already revoked), BUSY, DB, IO, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_revoke(struct fsec_fleet *f, const char *id,
						  int reason, const char *actor);

/* Which devices a batch revocation takes: exactly one of model, group,
 * ids (n_ids of them) or mfr_ca (the SHA-256 of a manufacturer CA
 * certificate, as `enroll list` shows it: the devices that enrolled with a
 * bootstrap certificate it vouched for). Model, group and mfr_ca take the
 * active devices only; every ID in ids must be an active device. */
struct fsec_revoke_select {
	const char *model;
	const char *group;
	const char *const *ids;
	size_t n_ids;
	const char *mfr_ca;
};

/* One device a batch revocation revokes (or, in a dry run, would). */
struct fsec_revoke_item {
	const char *id;
	const char *model;
	size_t certificates; /* certificates revoked with it */
	size_t done, total;  /* this is the done-th of total (progress) */
};

/* Called once per device, in ID order; return 0 to go on, anything else
 * to abandon the whole batch (nothing is written). */
typedef int (*fsec_revoke_cb)(const struct fsec_revoke_item *it, void *ctx);

/*
 * Revoke every device sel selects with reason, as fsec_fleet_revoke does
 * one (certificates, status, one "revoke" event each), in ONE registry
 * transaction that signs and publishes ONE CRL: all of them or none. With
 * dry_run the same work is done and rolled back, so what cb is shown is
 * exactly what a real run would change; no CRL is signed and nothing is
 * written. *count (may be NULL) is how many devices. cb may be NULL.
 * Errors: INVAL (no selector or several, a bad name or ID), NOTFOUND
 * (nothing selected, or an ID in ids that is not registered), EXISTS (an ID
 * in ids already revoked), NOMEM, BUSY, DB, IO, CRYPTO, and PERM when cb
 * stopped the batch.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_revoke_batch(struct fsec_fleet *f,
							const struct fsec_revoke_select *sel,
							int reason, bool dry_run,
							const char *actor, fsec_revoke_cb cb,
							void *ctx, size_t *count);

/* fsec_fleet_enc_key_set's flags. The device's own enrolment (POST
 * /v1/enc-key) keeps a key already enrolled: a copy of the TLS key alone
 * must not let anyone swap in a key of theirs and be handed image keys. */
#define FSEC_FLEET_ENC_KEY_KEEP 0x1u
/* With KEEP: only the key the device holds already is accepted (a no-op);
 * any other is PERM, as is one for a device with none (self-enrolment
 * off: fleetsecd's enc_key_self_enroll). */
#define FSEC_FLEET_ENC_KEY_KNOWN 0x2u

/*
 * Enrol device id's firmware encryption key (issue 19): pub (P-256 or
 * X25519, a public key; the caller keeps it), which fleetsecd wraps each
 * encrypted release's image key to (GET /v1/firmware/SHA256/key). It must
 * be a second key, not the device's TLS key. Enrolling again replaces it,
 * unless flags has FSEC_FLEET_ENC_KEY_KEEP: then the same key again is a
 * no-op (*changed false), and another one EXISTS (PERM with
 * FSEC_FLEET_ENC_KEY_KNOWN, as is a first key). Logged ("enc-key") when
 * written. changed may be NULL. Errors: NOTFOUND, POLICY (revoked, or the
 * TLS key), EXISTS, PERM, INVAL (another key type), BUSY, DB, CRYPTO,
 * NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_enc_key_set(struct fsec_fleet *f, const char *id,
						       EVP_PKEY *pub, const char *actor,
						       unsigned flags, bool *changed)
	FSEC_NONNULL(1, 2, 3);

/*
 * Allow device id one renewal before it is due and past its daily limit
 * (fleetsecd refuses both otherwise): for a key that must be replaced now.
 * The allowance is used up by the device's next renewal, or refreshed by a
 * second call; it and its use are logged ("renew-allow", "renew-allowed").
 * The device must be active. Errors: NOTFOUND, POLICY (revoked), INVAL,
 * BUSY, DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_allow_renew(struct fsec_fleet *f, const char *id,
						       const char *actor);

/*
 * Record where device id is on the network (MAC, IPv4, for `net compile
 * --from-registry`) and its rollout group, with a "device-set" event naming
 * actor, in one registry transaction: all of it or nothing. NULL leaves a
 * field as it is, "" clears it; at least one must be given. A MAC or IP that
 * belongs to another device is refused.
 * Errors: INVAL (nothing to set, a bad MAC, IP or group name), NOTFOUND (no
 * such device), EXISTS (address held by another device), BUSY, DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_device_set(struct fsec_fleet *f, const char *id,
						      const char *mac, const char *ip,
						      const char *group, const char *actor);

/*
 * Sign a fresh CRL for each issuing CA in use, the current one first, all
 * with one CRL number, and return them (caller frees with
 * sk_X509_CRL_pop_free). Each lists the revoked certificates its CA issued
 * (and those of unknown issuer, on every one). Its CRL number is above
 * every number taken before (the registry's counter) and above the
 * published crl.pem's. It lists every revoked certificate that has not
 * expired, or expired less than one CRL period (crl_days) ago: RFC 5280
 * lets an entry go once a CRL issued after the certificate's expiry has
 * listed it, for any reason, since an expired certificate is refused
 * anyway. It becomes the home's crl.pem unless a CRL with a higher number
 * is there already (another process signed later): the file never goes
 * back to an older list, whatever order concurrent writers finish in
 * (flock on HOME/crl.pem.lock). Errors: BUSY, DB, IO, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_crl(struct fsec_fleet *f, STACK_OF(X509_CRL) **out);

/*
 * For a long-running server (fleetsecd): with deferred on, a revocation
 * through this handle (a renewal superseding a certificate, a revocation)
 * commits without signing the CRL, and fsec_fleet_crl_pending() turns true
 * until fsec_fleet_crl_refresh() or fsec_fleet_crl() publishes one. Many
 * renewals then cost one signature, off their request path. Off by default:
 * the CLI publishes before it returns. Not thread-safe.
 */
FSEC_API void fsec_fleet_set_crl_deferred(struct fsec_fleet *f, bool deferred);
FSEC_API bool fsec_fleet_crl_pending(const struct fsec_fleet *f);

/*
 * Keep the home's crl.pem valid: sign and publish a new CRL (fsec_fleet_crl)
 * when a deferred revocation is pending, when check is on and the registry
 * holds a revoked, unexpired certificate the file does not list (another
 * process revoked it; fleetsecd checks on each event), when the file is
 * missing or does not load, when it is not valid now (thisUpdate in the
 * future, nextUpdate past), or when now has passed permille thousandths
 * (1-999) of its period. *signed_out (may be NULL) says whether it signed;
 * *next_due (may be NULL) is when the published CRL is next due, as a UNIX
 * time (0: at once). Errors: INVAL (permille), BUSY, DB, IO, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_crl_refresh(struct fsec_fleet *f, unsigned permille,
						       bool check, bool *signed_out,
						       int64_t *next_due);

/* One of the fleet's CA certificates (fsec_fleet_ca_list). */
struct fsec_ca_info {
	const char *file;   /* as fleet.json names it (borrowed) */
	bool root;          /* the root CA; else an issuing CA */
	bool current;       /* the root, or the issuing CA that issues now */
	bool in_use;        /* not expired: a previous issuing CA still signs its CRL */
	char subject[256];  /* one line, as X509_NAME_oneline prints it */
	char serial[FSEC_SERIAL_HEX_LEN];
	char fingerprint[FSEC_SHA256_HEX_LEN]; /* SHA-256 of the DER, lowercase hex */
	int64_t not_before, not_after;
};
typedef int (*fsec_ca_info_cb)(const struct fsec_ca_info *ca, void *ctx);

/*
 * Visit the fleet's CA certificates: the root, the current issuing CA, then
 * each previous issuing CA (newest first). The callback returns 0 to go on.
 * Errors: IO, PARSE, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_ca_list(struct fsec_fleet *f, fsec_ca_info_cb cb,
						   void *ctx);

struct fsec_ca_rotate_params {
	const char *root_key; /* the root CA's key: a path or store URI, read once, never stored */
	int days;             /* the new issuing CA's validity; 0 = 3650 (clamped to the root's) */
	const char *actor;    /* who, for the event log */
};

/*
 * Rotate the issuing CA: a new key and issuing CA certificate signed by the
 * root (HOME/issuing-N.pem and issuing-N.key, 0600, N = 2, 3, ...), which
 * issues every certificate from then on. The outgoing CA becomes a
 * previous one (fleet.json "previous_issuing"), its files kept: until its
 * certificate expires it stays trusted for client certificates, in the
 * chain (chain.pem, /cacerts) and signs the CRL of what it issued (crl.pem
 * then holds one CRL per CA). A "ca-rotate" event is logged and the new CRL
 * set published. Files are staged first and fleet.json is replaced last;
 * a refusal writes nothing. Another handle on the home (fleetsecd) sees
 * the new fleet.json at its next operation. Fills *out with the new CA.
 * Errors: VERIFY (root_key is not the root certificate's key), POLICY
 * (8 previous CAs kept already), INVAL, EXISTS, IO, CRYPTO,
 * BUSY, DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_ca_rotate(struct fsec_fleet *f,
						     const struct fsec_ca_rotate_params *p,
						     struct fsec_ca_info *out);

struct fsec_ca_rollover_params {
	const char *root_key; /* the current root CA's key: a path or store URI, read once */
	int days;             /* the new root's validity; 0 = 7300 */
	int issuing_days;     /* the new issuing CA's; 0 = 3650 (clamped to the root's) */
	const char *actor;    /* who, for the event log */
};

/*
 * Roll the root over: a new root key and self-signed certificate
 * (HOME/root-N.key, 0600, and root-N.pem, N = 2, 3, ..., CN "FLEET Root CA
 * N"), the two cross certificates of RFC 4210 section 4.4 (HOME/cross-N-
 * new-with-old.pem: the new root's name and key signed by the old root;
 * cross-N-old-with-new.pem: the reverse), and a new issuing CA under the
 * new root, as fsec_fleet_ca_rotate makes (it issues from then on). The
 * old root, its cross certificates and its issuing CAs stay trusted until
 * they expire (fleet.json "previous_roots", "previous_issuing" with
 * "root"): in chain.pem and /cacerts, in fleetsecd's client trust, and
 * each issuing CA signs its CRL. A device pinning the old root builds
 * leaf -> issuing -> NewWithOld -> old root. The new root key is written
 * to the home: the operator takes it offline. A "ca-rollover" event is
 * logged. Files are staged first, fleet.json replaced last; a refusal
 * writes nothing. Fills *root_out and *issuing_out (file names valid until
 * the next operation on f).
 * Errors: VERIFY (root_key is not the root certificate's key), POLICY (4
 * previous roots or 8 previous issuing CAs kept already), INVAL, EXISTS,
 * IO, CRYPTO, BUSY, DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_ca_rollover(struct fsec_fleet *f,
						       const struct fsec_ca_rollover_params *p,
						       struct fsec_ca_info *root_out,
						       struct fsec_ca_info *issuing_out);

/* Largest document fsec_fleet_import reads. */
#define FSEC_IMPORT_MAX (64u * 1024u * 1024u)

struct fsec_import_counts {
	size_t devices, certificates, states;
};

/*
 * Import records as they are, for a registry migrated from another system
 * (or a record edited from `fleetsec device show --json`): a JSON object with
 * any of "devices", "certificates" and "states", each an array of objects
 * with the members `device show --json` prints (times as
 * YYYY-MM-DDTHH:MM:SSZ, "-" or UNIX seconds; a state names its device by
 * "id"; a certificate carries "device_id" and "certificate_pem"). A device is
 * inserted or replaced; a certificate is added (a serial or fingerprint seen
 * before is refused). No key or policy check is made: `fleetsec audit fleet`
 * is what judges imported records. Everything lands in one transaction with
 * an "import" event naming actor, or nothing does. Unknown members are
 * refused with their JSON path. Fills *out (may be NULL) on success.
 * Errors: TOO_LARGE, PARSE, EXISTS, NOTFOUND (a row names no device), INVAL,
 * BUSY, DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_import(struct fsec_fleet *f, const unsigned char *buf,
						  size_t len, const char *actor,
						  struct fsec_import_counts *out);


/* ---- pairing without TOFU (issue 18) ---- */

/* What `fleetsec device pair` asks for. */
struct fsec_pair_opts {
	const char *uri;      /* the pairing URI (pairing.h), as read */
	size_t uri_len;
	const char *model;    /* NULL: none */
	const char *group;    /* NULL: none */
	int64_t expires_in;   /* seconds: 60 to 30 days */
	const char *actor;    /* who pairs, for the registry's event */
};

#define FSEC_PAIR_EXPIRES_MIN 60
#define FSEC_PAIR_EXPIRES_MAX (30 * 86400)

/*
 * Record a single-use pairing of exactly the URI's key (its SPKI SHA-256
 * only; the key is not kept) for the URI's serial, valid expires_in
 * seconds, with a "pair" event naming the actor. Refused, with nothing
 * written: a URI fsec_pair_uri_parse refuses (PARSE, TOO_LARGE, POLICY);
 * a key any device's certificate carries (POLICY); a serial already
 * enrolled (EXISTS); a serial with another key's pairing waiting (EXISTS);
 * a key paired and unexpired or used (EXISTS). Fills *out on success (may be
 * NULL). Errors: also INVAL, DB, BUSY.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_fleet_pair(struct fsec_fleet *f,
						const struct fsec_pair_opts *o,
						struct fsec_pairing_rec *out) FSEC_NONNULL(1, 2);

#endif
