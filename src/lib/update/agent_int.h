/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: the update agent (agent.h), split along its seams.
 *   agent.c         set-up, and the update, confirm and status sequences:
 *                   the order of steps that makes an update power-fail safe
 *   agent_state.c   the small state files in state_dir and the lock
 *   agent_slot.c    the firmware slots, through the slot layer only
 *   agent_decide.c  fetching the release and deciding whether it applies
 *   agent_report.c  the status report and the debug ports' state
 * None of these functions clears the error detail: the public calls do.
 */
#ifndef FLEETSEC_AGENT_INT_H
#define FLEETSEC_AGENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "agentcfg_int.h"
#include "fleetsec/agent.h"
#include "fleetsec/bootctl.h"
#include "fleetsec/counter.h"
#include "fleetsec/fetch.h"
#include "fleetsec/fwimage.h"
#include "fleetsec/release.h"

#define STATE_FILE_MAX 512

struct fsec_agent {
	struct fsec_agentcfg cfg;
	struct fsec_fetch *fetch;
	struct fsec_counter *counter;
	struct fsec_bootctl *boot;
	EVP_PKEY *fw_keys[FSEC_AGENTCFG_KEYS_MAX];
	/* The release root: the pinned keys, or the root followed from them
	 * (GET /v1/roots) and kept in state_dir/release-root.json. */
	struct fsec_release_trust *trust;
	size_t nfw;
	unsigned rollout_bucket; /* 0-99, from the device ID: stable across releases */
};

/* The last release installed: its sequences and image hash. */
struct seen {
	uint64_t delegation, sequence;
	char sha256[65];
};

/* The download in progress: which image, into which slot, how far. */
struct journal {
	char sha256[65];
	char slot;
	uint32_t chunk_size;
	uint64_t chunks_done;
};

/* When the device last heard a fresh signed answer (a manifest or a
 * "nothing new" timestamp), and since when it has been listening: a device
 * that never heard one counts its silence from its first check. */
struct fresh {
	int64_t fresh_at; /* 0: never */
	int64_t since;    /* 0: no check yet */
};

/* A release fetched and verified, and its sequences; or, when rel is NULL,
 * the server's signed statement that nothing is new (ts). */
struct checked {
	struct fsec_release *rel;
	struct seen now; /* the release just accepted */
	struct fsec_release_timestamp ts;
};

/* ---- agent_state.c: one-line files in state_dir, each replaced atomically ---- */

/* The sequences of the highest release accepted; all zero when none was.
 * Errors: PARSE (damaged), IO. */
FSEC_WUR enum fsec_err fsec_agent_load_seen(const struct fsec_agent *a, struct seen *s);
/* Replace them. Errors: IO. */
FSEC_WUR enum fsec_err fsec_agent_store_seen(const struct fsec_agent *a, const struct seen *s);

/* The release trust from the pinned keys and state_dir/release-root.json
 * (if there is one) into a->trust. Errors: PARSE, VERIFY (damaged), IO,
 * INVAL, NOMEM. */
FSEC_WUR enum fsec_err fsec_agent_load_trust(struct fsec_agent *a, EVP_PKEY *const *pinned,
					     size_t npinned);
/* Store a->trust's root document, atomically. Errors: IO. */
FSEC_WUR enum fsec_err fsec_agent_store_trust(const struct fsec_agent *a);

/* The freshness record; all zero when there is none. A damaged one reads
 * as none: its loss only restarts the silence clock at the next check.
 * Errors: IO. */
FSEC_WUR enum fsec_err fsec_agent_load_fresh(const struct fsec_agent *a, struct fresh *f);
/* Replace it. Errors: IO. */
FSEC_WUR enum fsec_err fsec_agent_store_fresh(const struct fsec_agent *a, const struct fresh *f);
/* Whether f, at now, is past max_silence. */
bool fsec_agent_past_silence(const struct fsec_agent *a, const struct fresh *f, int64_t now);

/* The newest version this device has run as a permanent slot; *have false
 * when none is recorded. Errors: PARSE (damaged), IO. */
FSEC_WUR enum fsec_err fsec_agent_load_installed(const struct fsec_agent *a,
						 struct fsec_fw_version *v, bool *have);
/* Raise that record to v; a lower or equal v leaves it. Errors: PARSE, IO. */
FSEC_WUR enum fsec_err fsec_agent_raise_installed(const struct fsec_agent *a,
						  const struct fsec_fw_version *v);

/* The journal; *missing when there is none or it is damaged (a damaged
 * journal only costs a fresh download). Errors: IO. */
FSEC_WUR enum fsec_err fsec_agent_load_journal(const struct fsec_agent *a, struct journal *j,
					       bool *missing);
/* Replace it. Errors: IO. */
FSEC_WUR enum fsec_err fsec_agent_store_journal(const struct fsec_agent *a,
						const struct journal *j);
/* Remove it, durably if possible; failing to is not an error (a stale
 * journal is checked against the release before it is used). */
void fsec_agent_drop_journal(const struct fsec_agent *a);

/* Take the device's update lock into *fd (close it to release). Errors:
 * BUSY (another agent holds it), IO, INVAL. */
FSEC_WUR enum fsec_err fsec_agent_lock(const struct fsec_agent *a, int *fd);

/*
 * Refuse a state directory that someone other than the agent could change,
 * as sshd refuses loose key permissions: state_dir, and each state file in
 * it that exists (sequences, installed, journal, lock, tamper.json, counter,
 * bootenv, release-root.json, roots.pem), must be owned by the agent's effective user or root and not be
 * writable by group or others; the directory must be a directory and the
 * files regular files (a symbolic link is refused: its target is not ours
 * to judge). A state_dir that does not exist yet passes (the agent creates
 * it 0700). Errors: PERM (naming the path and the reason), IO.
 */
FSEC_WUR enum fsec_err fsec_agent_state_dir_check(const char *state_dir);

/* state_dir/roots.pem: the fleet roots the device learned through trust
 * updates (fsec_estc_learn_roots), trusted beside the configured ca. A
 * state_dir always fits (FSEC_AGENTCFG_VALUE_MAX). */
#define FSEC_AGENT_ROOTS_PATH_MAX (FSEC_AGENTCFG_VALUE_MAX + 32)
void fsec_agent_roots_path(const struct fsec_agentcfg *cfg,
			   char buf[FSEC_AGENT_ROOTS_PATH_MAX]);

/* ---- agent_slot.c: the slots, through slot/ only ---- */

/* Verify the image in slot ('a' or 'b') against the pinned firmware keys.
 * len 0: the image's own length (whatever follows it in the slot is not
 * ours); otherwise exactly len bytes, which must fit the slot. *info is
 * written on success. Errors: VERIFY, PARSE, IO, NOMEM. */
FSEC_WUR enum fsec_err fsec_agent_verify_slot(struct fsec_agent *a, char slot, uint64_t len,
					      struct fsec_fw_info *info);

/* Whether e's image is encrypted, and if so its decryptor in *dec (NULL for
 * a plain image): the header (read back from slot target when the journal
 * counts chunk 0 there, which its hash checked; fetched otherwise, where
 * the download starts anyway) and the TLV area are read first, and the
 * image key unwrapped with cfg.decrypt_key, from the image's ENC TLV or, with
 * key_delivery = server, from the key fleetsecd wrapped for this device.
 * Run at the start of every attempt: the key is never stored. Errors:
 * VERIFY (encrypted, and no decrypt_key; the wrong key), PARSE, NET, and
 * those of fsec_fw_dec_new. */
FSEC_WUR enum fsec_err fsec_agent_prepare_dec(struct fsec_agent *a,
					      const struct fsec_release_entry *e, char target,
					      const struct journal *j, struct fsec_fw_dec **dec);

/* Download chunks [j->chunks_done, e->nchunks) of e into slot target, each
 * checked against the manifest, synced, then counted in the journal; then
 * erase the rest of the slot and sync. With dec, the chunks are checked as
 * served (ciphertext) and written decrypted. Errors: TOO_LARGE (the release
 * does not fit the slot), VERIFY (a chunk failed every retry), NET, IO. */
FSEC_WUR enum fsec_err fsec_agent_write_slot(struct fsec_agent *a,
					     const struct fsec_release_entry *e, char target,
					     struct fsec_fw_dec *dec, struct journal *j,
					     fsec_agent_progress_cb cb, void *ctx);

/* Whether slot target holds e's image: SHA-256 of its first e->size bytes,
 * encrypted again with dec first when there is one (the slot then holds
 * the plaintext of the bytes the manifest hashed).
 * Errors: VERIFY (it does not), IO, NOMEM, CRYPTO. */
FSEC_WUR enum fsec_err fsec_agent_slot_holds(struct fsec_agent *a, struct fsec_fw_dec *dec,
					     const struct fsec_release_entry *e, char target);

/* ---- agent_decide.c ---- */

/* The URL of target: relative to the server when it starts with '/'. Only
 * https is accepted. Errors: INVAL. */
FSEC_WUR enum fsec_err fsec_agent_url(const struct fsec_agent *a, const char *target, char *buf,
				      size_t cap);

/* Fetch and verify the server's answer: a release bundle (record its
 * sequences; c->rel is the caller's to free) or a signed "nothing new"
 * timestamp (c->rel NULL, c->ts filled). Either, verified, is recorded as
 * fresh. An unsigned answer (a 204) is refused. Errors: NET, VERIFY,
 * PARSE, IO. */
FSEC_WUR enum fsec_err fsec_agent_fetch_release(struct fsec_agent *a, struct checked *c);

/* Whether the release in c applies to this device, and why (out->reason).
 * Errors: IO, PARSE (boot environment, counter, state files). */
FSEC_WUR enum fsec_err fsec_agent_decide(struct fsec_agent *a, const struct checked *c,
					 struct fsec_agent_check *out);

/* c holds the server's signed "nothing new" (no release): fills out with
 * that reason and says true. */
bool fsec_agent_nothing_new(const struct checked *c, struct fsec_agent_check *out);

/* The device's staged-rollout bucket (0-99), from the device ID in its
 * certificate. Errors: PARSE, IO, NOMEM. */
FSEC_WUR enum fsec_err fsec_agent_rollout_bucket(const char *cert_path, unsigned *bucket);

/*
 * Run cmd, the configuration's name (for messages), a shell command line:
 * it goes to /bin/sh as one argv element, so nothing is quoted or built from
 * it. Its stdin is /dev/null and its stderr is dropped (the agent's error is
 * one line); its stdout lands in buf (cap bytes; *len == cap means it said
 * too much), or is read and dropped when buf is NULL. It gets seconds, then
 * its process group gets SIGTERM and, two seconds later, SIGKILL.
 * Errors: IO (cannot run, failed, killed, timed out, too much output).
 */
FSEC_WUR enum fsec_err fsec_agent_run_cmd(const char *name, const char *cmd, int seconds,
					  unsigned char *buf, size_t cap, size_t *len);

/* ---- agent_report.c: the tamper report ---- */

/*
 * Sign a tamper statement (release.h) dated now with reason, with the
 * device key, and POST it to the server's /v1/tamper over mutual TLS with
 * the device certificate, giving up after a few seconds. Needs only the
 * configuration: it runs before the wipe, where nothing may stop the wipe.
 * Errors: INVAL (no server), NOTFOUND (no key or certificate: already
 * wiped), NET (unreachable, timed out, or refused: the reason is the
 * server's), VERIFY, CRYPTO, NOMEM.
 */
FSEC_WUR enum fsec_err fsec_agent_tamper_report(const struct fsec_agentcfg *cfg,
						const char *reason, int64_t now);

#endif
