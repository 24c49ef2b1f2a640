/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Release manifests: which image is the current release for each model,
 * signed so that a device refuses a replayed, stale or foreign one.
 *
 * A signed release is a JSON "bundle" of two DSSE envelopes (payloadType,
 * base64 payload, signatures with keyid over the DSSE pre-authentication
 * encoding; nothing depends on JSON canonicalization):
 *
 *   { "delegation": DSSE(application/vnd.fleetsec.delegation+json),
 *     "manifest":   DSSE(application/vnd.fleetsec.release+json) }
 *
 * The delegation is signed by a root key pinned in the device and names the
 * online keys that may sign manifests, until when, with a sequence number
 * that lets a new delegation retire a compromised key. The manifest is
 * signed by one of those keys and carries its own sequence number (must
 * grow), an expiry (refuses frozen manifests), and per model: version,
 * security counter, size, SHA-256, URLs, chunk size with the SHA-256 of
 * every chunk, and optional rollout information. docs/RELEASE-FORMAT.md
 * describes every field. Keys are Ed25519 or ECDSA P-256; a keyid is the
 * lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo.
 */
#ifndef FLEETSEC_RELEASE_H
#define FLEETSEC_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "fleetsec/common.h"
#include "fleetsec/fwimage.h"

#define FSEC_RELEASE_MAX (4u * 1024u * 1024u) /* a bundle, bytes */
#define FSEC_RELEASE_MAX_MODELS 64
#define FSEC_RELEASE_MAX_URLS 8
#define FSEC_RELEASE_URL_MAX 2048
#define FSEC_RELEASE_MAX_KEYS 16
#define FSEC_RELEASE_MAX_CHUNKS 65536
#define FSEC_RELEASE_CHUNK_MIN 4096u
#define FSEC_RELEASE_CHUNK_MAX (64u * 1024u * 1024u)
/* 1 MiB: per-chunk costs (a Range request, syncs, the journal) stay small
 * beside the transfer, and a resume re-fetches at most this much. */
#define FSEC_RELEASE_CHUNK_DEFAULT (1024u * 1024u)
#define FSEC_MODEL_NAME_MAX 64

/* One model's release, as verified. Borrowed from its fsec_release. */
struct fsec_release_entry {
	char model[FSEC_MODEL_NAME_MAX + 1];
	struct fsec_fw_version version;
	uint32_t security_counter;
	uint64_t size;
	unsigned char sha256[32];
	uint32_t chunk_size;
	size_t nchunks;
	const unsigned char (*chunks)[32];
	size_t nurls;
	const char *const *urls;
	int rollout_percent; /* 0-100; 100 without rollout information */
};

struct fsec_release;

/* What a device knows when it checks a bundle. */
struct fsec_release_policy {
	EVP_PKEY *const *roots;        /* pinned root public keys */
	size_t nroots;
	const char *model;             /* this device's model (required) */
	uint64_t last_sequence;        /* highest manifest sequence accepted so far */
	uint64_t last_delegation;      /* highest delegation sequence accepted so far */
	int64_t now;                   /* UNIX time; 0 = time(NULL) */
};

/*
 * Verify a bundle (at most FSEC_RELEASE_MAX bytes) the way a device must,
 * in one call: the delegation is signed by a pinned root and not expired
 * and not older than last_delegation; the manifest is signed by a key the
 * delegation names, is not expired, every field is within bounds, and it
 * lists policy->model. Releases are ordered by (delegation sequence,
 * manifest sequence): under the same delegation the manifest sequence must
 * be above last_sequence; a newer delegation starts a new series, so that a
 * rotated-out key cannot have blocked updates with a huge sequence. The
 * device stores both sequences of what it accepts. On success *out
 * owns the parsed release (fsec_release_free).
 * Errors: TOO_LARGE, PARSE (malformed JSON or fields out of bounds), VERIFY
 * with the reason "unknown key", "bad signature", "expired", "sequence" or
 * "no release for model", INVAL, NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_verify(const unsigned char *buf, size_t len,
						    const struct fsec_release_policy *policy,
						    struct fsec_release **out) FSEC_NONNULL(3, 4);

/* NULL is a no-op. */
FSEC_API void fsec_release_free(struct fsec_release *r);

/* The verified entry for the policy's model (borrowed). */
FSEC_API const struct fsec_release_entry *fsec_release_entry(const struct fsec_release *r)
	FSEC_NONNULL(1);
FSEC_API uint64_t fsec_release_sequence(const struct fsec_release *r) FSEC_NONNULL(1);
FSEC_API uint64_t fsec_release_delegation_sequence(const struct fsec_release *r) FSEC_NONNULL(1);
FSEC_API int64_t fsec_release_expires(const struct fsec_release *r) FSEC_NONNULL(1);
FSEC_API int64_t fsec_release_issued(const struct fsec_release *r) FSEC_NONNULL(1);
/* The keyid that signed the manifest (hex, borrowed). */
FSEC_API const char *fsec_release_signer(const struct fsec_release *r) FSEC_NONNULL(1);

/*
 * Sign a delegation with the root key: keys may sign manifests until
 * expires; sequence must grow with each new delegation. *json is a
 * NUL-terminated DSSE envelope the caller frees with free().
 * Errors: INVAL, CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_delegate(EVP_PKEY *root, EVP_PKEY *const *keys,
						      size_t nkeys, uint64_t sequence,
						      int64_t expires, char **json)
	FSEC_NONNULL(1, 6);

/*
 * Renew a delegation with the root key that signed it: the same keys,
 * signed again with a higher sequence and a new expiry, so that devices
 * take it over current and refuse current from then on (sequence 0: the
 * current UNIX time, or current's + 1 if that is not above it). current is a
 * delegation envelope of at most FSEC_RELEASE_MAX bytes; root must be the
 * key whose signature it carries. *json is freed with free(); *old_sequence
 * and *new_sequence (each may be NULL) are current's and the new one's. Errors: TOO_LARGE, PARSE, VERIFY
 * ("unknown key"/"bad signature": root did not sign current), INVAL
 * (sequence not above current's, above 2^53, expiry in the past), CRYPTO,
 * NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_delegate_renew(EVP_PKEY *root, const char *current,
							    size_t len, uint64_t sequence,
							    int64_t expires, char **json,
							    uint64_t *old_sequence,
							    uint64_t *new_sequence)
	FSEC_NONNULL(1, 2, 6);

/*
 * The sequence and expiry of a delegation envelope (at most
 * FSEC_RELEASE_MAX bytes) read WITHOUT checking its signature: only for one
 * the caller holds as its own (the delegation it signs under). Fills them
 * only on success. Errors: TOO_LARGE, PARSE, NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_delegation_peek(const char *delegation, size_t len,
							     uint64_t *sequence, int64_t *expires)
	FSEC_NONNULL(1, 3, 4);

/*
 * Release-root rotation, TUF's root role in fleetsec's form
 * (docs/RELEASE-FORMAT.md, "Rotating the release root"). The key pinned in
 * devices is root version 1. A root document
 *
 *   DSSE(application/vnd.fleetsec.root+json,
 *        { "_type": "fleetsec.root.v1", "version": N, "threshold": 1, "keys": [...] })
 *
 * names the keys of version N and is signed by the keys of version N-1 and
 * by its own. Devices follow a chain of them, one version at a time, from
 * the root they trust, and verify delegations with the keys it leads to.
 */
#define FSEC_RELEASE_ROOT_CHAIN_MAX 64

struct fsec_release_root_opts {
	EVP_PKEY *const *old;       /* private keys of the current root (all of them) */
	size_t nold;
	EVP_PKEY *const *new_keys;  /* private keys of the new root: it signs too */
	size_t nnew;
	const char *previous;       /* the current root's document; NULL: it is the pinned
				     * version 1 */
	size_t previous_len;
	uint64_t *version;          /* out, may be NULL: the new document's version */
};

/*
 * Sign the next root document: version previous + 1 (2 without previous),
 * threshold 1, naming new_keys, signed by old and by new_keys. With
 * previous, the old keys must be keys of it. *json is freed with free().
 * Errors: INVAL, TOO_LARGE, PARSE (previous), VERIFY (an old key not in
 * previous, previous not signed by its keys), CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_root_sign(const struct fsec_release_root_opts *o,
						       char **json) FSEC_NONNULL(1, 2);

/*
 * What a device trusts as its release root: the pinned keys (version 1),
 * or the last root document it accepted through the chain (stored, at
 * most FSEC_RELEASE_MAX bytes, may be NULL; it must carry its own keys'
 * signatures, which catches damage). Errors: INVAL (no pinned key), PARSE,
 * TOO_LARGE, VERIFY, NOMEM. _free(NULL) is a no-op. Not thread-safe: one
 * trust per device.
 */
struct fsec_release_trust;
FSEC_API FSEC_WUR enum fsec_err fsec_release_trust_new(EVP_PKEY *const *pinned, size_t npinned,
						       const unsigned char *stored, size_t len,
						       struct fsec_release_trust **out)
	FSEC_NONNULL(1, 5);
FSEC_API void fsec_release_trust_free(struct fsec_release_trust *t);
/* The keys to verify delegations with (borrowed, for fsec_release_policy). */
FSEC_API EVP_PKEY *const *fsec_release_trust_keys(const struct fsec_release_trust *t, size_t *n)
	FSEC_NONNULL(1, 2);
/* The keys of every root t followed through (oldest first), then the
 * current ones (borrowed, valid until t changes): what a server that signs
 * again what it published under an older root verifies that with. A
 * device trusts only fsec_release_trust_keys. */
FSEC_API EVP_PKEY *const *fsec_release_trust_keys_all(const struct fsec_release_trust *t,
						      size_t *n) FSEC_NONNULL(1, 2);
FSEC_API uint64_t fsec_release_trust_version(const struct fsec_release_trust *t) FSEC_NONNULL(1);
/* The accepted root document to store (borrowed), NULL at version 1. */
FSEC_API const char *fsec_release_trust_doc(const struct fsec_release_trust *t) FSEC_NONNULL(1);

/*
 * Follow a served chain ({"roots": [DOC, ...]}, at most FSEC_RELEASE_MAX
 * bytes and FSEC_RELEASE_ROOT_CHAIN_MAX documents, oldest first) from t:
 * versions must follow each other one by one; those up to t's version are
 * history (the one equal to it must be the document t holds); each later
 * one must be version t + 1, then + 2..., each signed by the previous
 * root's keys and by its own. All or nothing: on any refusal t is
 * unchanged. *changed says whether t moved (then store
 * fsec_release_trust_doc). Errors: TOO_LARGE, PARSE, VERIFY ("unknown
 * key", "bad signature", "sequence" for a skipped or repeated version,
 * "fork", "rollback" when the newest served is below t), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_trust_update(struct fsec_release_trust *t,
							  const unsigned char *buf, size_t len,
							  bool *changed) FSEC_NONNULL(1, 2, 4);

/*
 * The chain with doc appended (chain may be NULL: a chain of doc alone),
 * unverified: the caller verifies the result with fsec_release_trust_update
 * from the pinned root. *out is freed with free(). Errors: TOO_LARGE,
 * PARSE, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_roots_append(const unsigned char *chain, size_t clen,
							  const unsigned char *doc, size_t dlen,
							  char **out) FSEC_NONNULL(3, 5);

/*
 * "Nothing new for this model": TUF's timestamp role in fleetsec's form. A
 * bundle of the same delegation and a DSSE envelope of its own payloadType
 * (application/vnd.fleetsec.timestamp+json, so that it can never be taken
 * for a manifest nor a manifest for it):
 *
 *   { "delegation": DSSE(delegation), "timestamp": DSSE(timestamp) }
 *
 * signed by an online key the delegation names, short-lived, naming the
 * model and the latest manifest sequence published for it (or none). The
 * update server answers with it when it has no manifest for a device, so
 * that silence is never mistaken for "no update": a device that sees
 * neither a fresh manifest nor a fresh timestamp for too long knows it is
 * frozen (docs/RELEASE-FORMAT.md).
 */
struct fsec_release_timestamp {
	char model[FSEC_MODEL_NAME_MAX + 1];
	bool has_latest;              /* false: nothing was ever published */
	uint64_t latest;              /* the latest manifest sequence published */
	int64_t issued, expires;      /* UNIX times */
	uint64_t delegation_sequence;
	char signer[FSEC_SHA256_HEX_LEN]; /* keyid, hex */
};

/* Which kind of bundle an answer holds (the envelope inside is still to be
 * verified: this only says which verifier to use). */
enum fsec_release_kind {
	FSEC_RELEASE_KIND_MANIFEST = 1,  /* "manifest": fsec_release_verify */
	FSEC_RELEASE_KIND_TIMESTAMP,     /* "timestamp": fsec_release_timestamp_verify */
};

/* Say which kind buf holds (at most FSEC_RELEASE_MAX bytes): a JSON object
 * with exactly one of "manifest" and "timestamp". Fills *out only on
 * success. Errors: TOO_LARGE, PARSE. Thread-safe. */
FSEC_API FSEC_WUR enum fsec_err fsec_release_kind(const unsigned char *buf, size_t len,
						  enum fsec_release_kind *out)
	FSEC_NONNULL(3);

/*
 * Verify a timestamp bundle exactly as fsec_release_verify verifies a
 * release: the delegation signed by a pinned root, not expired, not older
 * than last_delegation; the timestamp signed by a key it names, closed and
 * within bounds, not expired, for policy->model; and, under the same
 * delegation, its latest sequence not below last_sequence (nor "none" once
 * a manifest was accepted). Fills *out only on success.
 * Errors: TOO_LARGE, PARSE, VERIFY ("unknown key", "bad signature",
 * "expired", "sequence", "no release for model"), INVAL, NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_timestamp_verify(const unsigned char *buf,
							      size_t len,
							      const struct fsec_release_policy *policy,
							      struct fsec_release_timestamp *out)
	FSEC_NONNULL(3, 4);

struct fsec_release_timestamp_opts {
	const char *model;
	bool has_latest;         /* false: nothing is published for model */
	uint64_t latest;         /* the published manifest's sequence */
	int64_t expires;         /* UNIX time, in the future */
	const char *delegation;  /* the delegation envelope (JSON) naming the key */
	size_t delegation_len;
	int64_t now;             /* issued; 0 = time(NULL) */
};

/*
 * Sign a timestamp with key, an online key the delegation names (and has
 * not expired), and produce its bundle. *bundle is NUL-terminated JSON,
 * freed with free(). Errors: INVAL, TOO_LARGE, PARSE (the delegation),
 * VERIFY (key not named, delegation expired), CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_timestamp_sign(
	const struct fsec_release_timestamp_opts *o, EVP_PKEY *key, char **bundle)
	FSEC_NONNULL(1, 2, 3);

/* fleetsecd serves published images here, by their SHA-256 (lowercase hex). */
#define FSEC_RELEASE_FIRMWARE_PATH "/v1/firmware/"

struct fsec_release_create_opts {
	const char *model;
	const char *image;               /* path of a signed MCUboot image */
	const char *const *urls;         /* none: FSEC_RELEASE_FIRMWARE_PATH + sha256 */
	size_t nurls;
	uint32_t chunk_size;             /* 0 = FSEC_RELEASE_CHUNK_DEFAULT */
	int rollout_percent;             /* -1 = no rollout information */
	uint64_t sequence;
	int64_t expires;                 /* UNIX time */
	const char *base;                /* an unsigned manifest to add to, or NULL */
	size_t base_len;
};

/*
 * Describe an image as the release for a model: version and security
 * counter from its MCUboot header, size, SHA-256 and chunk hashes from one
 * streaming read. Writes an unsigned manifest (JSON) that replaces any entry
 * for the same model in base. *json is freed with free().
 * Errors: INVAL, PARSE (not an MCUboot image, bad base), IO, TOO_LARGE, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_create(const struct fsec_release_create_opts *o,
						    char **json) FSEC_NONNULL(1, 2);

/*
 * Sign an unsigned manifest with key, which the delegation must name, and
 * produce the bundle. The manifest is checked with the same rules devices
 * apply (except signatures, expiry and sequence history) first.
 * Errors: PARSE, VERIFY (key not in the delegation), CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_sign(const char *manifest, size_t mlen,
						  const char *delegation, size_t dlen,
						  EVP_PKEY *key, char **bundle) FSEC_NONNULL(5, 6);

/*
 * Refresh a signed release: the manifest of bundle (at most
 * FSEC_RELEASE_MAX bytes, verified by the caller), unchanged but for its
 * sequence, issued (now) and expires, signed again with key, which the
 * delegation must name, into a new bundle with that delegation. What it
 * lists (images, rollout) is what was signed before: devices that run the
 * image see nothing to install. *out is freed with free().
 * Errors: INVAL (sequence, expiry in the past), TOO_LARGE, PARSE, VERIFY
 * (key not in the delegation, delegation expired), CRYPTO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_refresh(const unsigned char *bundle, size_t len,
						     uint64_t sequence, int64_t expires,
						     const char *delegation, size_t dlen,
						     EVP_PKEY *key, char **out)
	FSEC_NONNULL(1, 5, 7, 8);

/*
 * The issued and expires times of the manifest in buf (at most
 * FSEC_RELEASE_MAX bytes), and, when delegation_expires is not NULL, its
 * delegation's expiry, read WITHOUT checking signatures: only for a bundle
 * verified before (a published one, whose expiry a status or an audit
 * shows). Fills them only on success. Errors: TOO_LARGE, PARSE, NOMEM.
 * Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_release_peek_times(const unsigned char *buf, size_t len,
							int64_t *issued, int64_t *expires,
							int64_t *delegation_expires)
	FSEC_NONNULL(1, 3, 4);

/*
 * A device's place in staged rollouts: SHA-256 of its ID, first four bytes
 * big-endian, mod 100. A release at P percent reaches the devices whose
 * bucket is below P, so raising P only adds devices. The agent and fleetsecd
 * both use this. Errors: CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_rollout_bucket(const char *id, unsigned *bucket)
	FSEC_NONNULL(1, 2);

/*
 * A device's tamper statement (issue 13): what fleetsec-agent tamper signs
 * with the device key it is about to destroy and POSTs to /v1/tamper, so
 * that the registry keeps signed evidence. A DSSE envelope of
 * application/vnd.fleetsec.tamper+json over
 *   {"_type": "fleetsec.tamper.v1", "device": ID, "time": RFC 3339,
 *    "reason": printable ASCII, 1-FSEC_TAMPER_STATEMENT_REASON_MAX bytes}
 * keyed by the SPKI SHA-256 of the device key (docs/RELEASE-FORMAT.md).
 */
#define FSEC_TAMPER_STATEMENT_REASON_MAX 128
#define FSEC_TAMPER_STATEMENT_MAX 8192
struct fsec_tamper_statement {
	char device[FSEC_DEVID_MAX + 1];
	int64_t at; /* UNIX seconds */
	char reason[FSEC_TAMPER_STATEMENT_REASON_MAX + 1];
};

/* Whether r is a reason a statement may give: 1-FSEC_TAMPER_STATEMENT_REASON_MAX
 * printable ASCII characters. Thread-safe. */
FSEC_API bool fsec_tamper_statement_reason_valid(const char *r) FSEC_NONNULL(1);

/* Sign st with key (ECDSA P-256 or Ed25519): *json is the envelope,
 * compact and NUL-terminated, freed with free(). Errors: INVAL (a bad
 * device ID or reason), POLICY (key type), CRYPTO, NOMEM. Thread-safe. */
FSEC_API FSEC_WUR enum fsec_err fsec_tamper_statement_sign(EVP_PKEY *key,
							   const struct fsec_tamper_statement *st,
							   char **json) FSEC_NONNULL(1, 2, 3);

/*
 * Open a tamper statement of at most FSEC_TAMPER_STATEMENT_MAX bytes: a
 * signature by key (the device's certificate key) must verify over it, and
 * its payload must be a closed statement as above. *out is written only on
 * success; whether the device, time and reason are acceptable is the
 * caller's decision. Errors: TOO_LARGE, PARSE, VERIFY ("unknown key": not
 * signed by key; "bad signature"), NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_tamper_statement_open(const unsigned char *buf, size_t len,
							   EVP_PKEY *key,
							   struct fsec_tamper_statement *out)
	FSEC_NONNULL(1, 3, 4);

/* fsec_duration_parse() ("30d", "12h", "45m", "90s") now lives in
 * fleetsec/text.h (included by common.h). */

#endif
