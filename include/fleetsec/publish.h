/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Publishing a release: the signed bundle a model's devices are served by
 * fleetsecd (GET /v1/update) and the image it describes (GET
 * /v1/firmware/SHA256, kept in HOME/firmware/ under its SHA-256). The
 * bundle is verified first the way devices will verify it, so the server
 * never hands out a release its devices would refuse.
 */
#ifndef FLEETSEC_PUBLISH_H
#define FLEETSEC_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "fleetsec/fleet.h"
#include "fleetsec/registry.h"
#include "fleetsec/rollout.h" /* fsec_rollout_paused, declared here before */

struct fsec_publish_opts {
	const char *model;
	const char *bundle;     /* path of a signed release bundle */
	const char *image;      /* path of the image it describes for model */
	EVP_PKEY *const *roots; /* the release root keys devices pin */
	size_t nroots;
	int percent;            /* staged rollout 0-100; -1 = 100 */
	int max_failures;       /* pause at this many failures (>= 1); -1: never */
	int max_failures_pct;   /* or this % (1-100) of the model's devices; -1: never */
	const char *group;      /* only devices of this group; NULL: all */
	/* Phases ("1%,10%,canary,100%", fsec_rollout_phases_check; NULL:
	 * none), instead of percent and group; the first is in effect. */
	const char *phases;
	int64_t advance_after;  /* seconds in a phase before it advances; -1: never */
	int success_pct;        /* of the phase's devices confirmed first; -1: any */
	const char *actor;
};

/*
 * Verify the bundle for model against roots (signatures, delegation, expiry,
 * model), check that image is what it describes (size and SHA-256, in one
 * streaming pass while copying it into HOME/firmware/), and make it the
 * model's published release. The manifest's signed rollout.percent is a
 * ceiling devices apply themselves: below 100 it is the exposure (percent
 * defaults to it), and a percent or phases that would differ are refused
 * (INVAL). The release it replaces becomes the model's baseline when it
 * was offered to every device (100%, no group, its last phase, not
 * paused or aborted); else the baseline stays. The product's current
 * release (product.h), if the product exists, becomes this one. Fills
 * *out (may be NULL) on success. Errors: VERIFY, PARSE, INVAL, IO,
 * TOO_LARGE, DB, BUSY.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_publish(struct fsec_fleet *f,
					     const struct fsec_publish_opts *o,
					     struct fsec_published_rec *out);

/* A model's "nothing new" statement (release.h, timestamp). */
struct fsec_timestamp_opts {
	const char *model;
	EVP_PKEY *key;             /* an online key the delegation names */
	const char *delegation;    /* its delegation envelope (JSON) */
	size_t delegation_len;
	EVP_PKEY *const *roots;    /* the release root keys devices pin */
	size_t nroots;
	int64_t expires;           /* UNIX time, in the future */
	const char *actor;
	/* Optional: the signed release bundle the devices are served (by a
	 * static server, not fleetsecd), whose sequence the statement names,
	 * instead of the one published in the registry. */
	const unsigned char *release;
	size_t release_len;
	/* Optional: hand the signed statement out here (free()) instead of
	 * storing it; with release given, f may then be NULL. */
	char **bundle_out;
};

/*
 * Sign, for o->model, the statement that nothing is newer than its
 * published manifest (its sequence, read from the published bundle
 * verified against roots; none when nothing is published), check it the
 * way devices will, and store it for fleetsecd to serve to every device of
 * the model it has no manifest for (nothing published, outside the
 * rollout, a paused rollout). The online key signs it here, where releases
 * are signed; fleetsecd holds no signing key. Re-run it before the previous
 * statement expires (a refresh, like a manifest's). Fills *out (may be
 * NULL) on success. Errors: VERIFY, PARSE, INVAL, TOO_LARGE, CRYPTO, DB,
 * BUSY, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_publish_timestamp(struct fsec_fleet *f,
						       const struct fsec_timestamp_opts *o,
						       struct fsec_timestamp_rec *out);

/* Refreshing a published release (release.h, fsec_release_refresh). */
struct fsec_refresh_opts {
	const char *model;
	EVP_PKEY *key;             /* an online key the delegation names */
	const char *delegation;    /* its delegation envelope (JSON) */
	size_t delegation_len;
	EVP_PKEY *const *roots;    /* the release root keys devices pin */
	size_t nroots;
	int64_t expires;           /* UNIX time, in the future */
	const char *actor;
	bool baseline;             /* the model's baseline, not its candidate */
};

struct fsec_refresh_rec {
	char model[FSEC_MODEL_MAX + 1];
	char version[32];          /* the release's firmware version */
	bool baseline;             /* the baseline's manifest was signed */
	bool candidate_too;        /* ...and the candidate's first (the sequence rule) */
	uint64_t old_sequence, sequence;
	uint64_t old_delegation, delegation; /* their delegations' sequences */
	int64_t expires;
	bool timestamp;            /* the model's timestamp was signed again too */
};

/*
 * Sign o->model's published manifest again with a new expiry and the next
 * sequence, with the online key under its delegation (no root key), check
 * it the way devices will (that they take it over the published one), and
 * serve it in its place in one transaction: the image, the rollout
 * (percent, group, limits) and its failure history since publication are
 * unchanged, so devices that run the image install nothing. A stored
 * timestamp that has not expired is signed again, with the same expiry,
 * to name the new sequence (devices refuse one naming an older manifest
 * than they hold). A delegation newer than the published manifest's (a
 * renewal, fleetsec release delegate --renew) is how the renewal reaches
 * devices: the registry's event log then records it ("delegation"). Fills
 * *out (may be NULL) on success.
 *
 * With o->baseline, the model's baseline (the release devices outside the
 * candidate's rollout are served) is signed again instead. The sequence
 * rule: the candidate's manifest stays above the baseline's, because a
 * device served the baseline takes the candidate when its phase comes and
 * the timestamp names the candidate's sequence. When the baseline's next
 * sequence would reach the candidate's, the candidate is refreshed first
 * (rec->candidate_too). The timestamp is left as it is. Errors: NOTFOUND
 * (nothing published for the model, or no baseline), VERIFY (key not in the delegation,
 * delegation expired, a manifest devices would refuse), INVAL, PARSE,
 * TOO_LARGE, CRYPTO, DB, BUSY, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_publish_refresh(struct fsec_fleet *f,
						     const struct fsec_refresh_opts *o,
						     struct fsec_refresh_rec *out);

/*
 * What fleetsecd does with release_refresh = auto: refresh (as
 * fsec_publish_refresh, o->model, o->expires and o->baseline ignored)
 * every published manifest, the candidate's and then the baseline's, that has passed half of its validity at now, or that carries a
 * delegation older than o's (a renewal), for as long again as it was valid, and sign every timestamp of a published model that has
 * passed half of its own again, for as long as it was valid. *refreshed
 * (may be NULL) counts what was signed. Stops at the first failure.
 * Errors: those of fsec_publish_refresh and fsec_publish_timestamp.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_publish_refresh_due(struct fsec_fleet *f,
							 const struct fsec_refresh_opts *o,
							 int64_t now, unsigned *refreshed);

/*
 * The online key material fleetsecd holds for release_refresh = auto: the
 * key, its delegation and the release root (the one devices pin), loaded
 * once. The root is followed along the published chain of root documents
 * (HOME/release-roots.json, fsec_publish_root) exactly as a device follows
 * it, so the delegation must come from the newest root. _new checks that
 * the delegation names the key, has not expired and is signed by that
 * root, so that a wrong file is refused at start (or at a reload, where
 * fleetsecd reads them again) rather than at the first refresh. Errors:
 * IO, PARSE, TOO_LARGE, VERIFY, INVAL, NOMEM. _free(NULL) is a no-op.
 */
struct fsec_refresher;
FSEC_API FSEC_WUR enum fsec_err fsec_refresher_new(const struct fsec_fleet *f, const char *key,
						   const char *delegation, const char *root,
						   struct fsec_refresher **out);
FSEC_API void fsec_refresher_free(struct fsec_refresher *r);

/* fsec_publish_refresh_due with r's key material, actor "fleetsecd".
 * When the chain has moved on since r was made (a release root rotation
 * published by the CLI), r first takes the new root with the delegation
 * file as it is now; until that file holds a delegation from the new
 * root, it refuses (VERIFY) and signs nothing. */
FSEC_API FSEC_WUR enum fsec_err fsec_refresher_run(struct fsec_refresher *r, struct fsec_fleet *f,
						   int64_t now, unsigned *refreshed);

/*
 * Rotating the release root (release.h, fsec_release_root_sign): the
 * chain of root documents fleetsecd serves devices on GET /v1/roots, kept
 * in HOME/release-roots.json ({"roots": [...]}, oldest first).
 */
#define FSEC_PUBLISH_ROOTS_FILE "release-roots.json"

struct fsec_root_publish_opts {
	const unsigned char *doc;  /* the next root document (JSON envelope) */
	size_t doc_len;
	EVP_PKEY *const *roots;    /* the release root keys devices pin (version 1) */
	size_t nroots;
	const char *actor;
};

/* The path of the home's chain file into buf. Errors: INVAL (too long). */
FSEC_API FSEC_WUR enum fsec_err fsec_publish_roots_path(const struct fsec_fleet *f, char *buf,
							size_t cap);

/*
 * Append o->doc to the published chain, if a device that pins o->roots
 * follows the whole chain to it (each version the next, signed by the one
 * before and by its own keys), atomically, with a "release-root" event.
 * *version (may be NULL) is the new root's version. Errors: VERIFY (it
 * does not follow: the reason says why), PARSE, TOO_LARGE, IO, DB, BUSY,
 * NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_publish_root(struct fsec_fleet *f,
						  const struct fsec_root_publish_opts *o,
						  uint64_t *version);

#endif
