/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device update agent: check for a release, download it into the
 * inactive slot (resumably, chunk by verified chunk), verify the whole slot
 * as an MCUboot image, start a trial boot, and confirm it after reboot.
 *
 * State in state_dir, every file replaced atomically:
 *   sequences   the last accepted delegation and manifest sequence numbers
 *   fresh       when a fresh signed answer was last verified, and since
 *               when the agent has been asking (freeze by silence)
 *   journal     the download in progress: release hash, slot, chunks done
 * The anti-rollback counter and the boot environment live where the
 * configuration says.
 */
#ifndef FLEETSEC_AGENT_H
#define FLEETSEC_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "fleetsec/agentcfg.h"
#include "fleetsec/common.h"
#include "fleetsec/fwimage.h"

struct fsec_agent;

/* Where the device's update is, as its report tells the server. */
enum fsec_agent_update_state {
	FSEC_AGENT_UPDATE_NONE,        /* nothing in flight */
	FSEC_AGENT_UPDATE_DOWNLOADING, /* a download is under way (a journal exists) */
	FSEC_AGENT_UPDATE_INSTALLED,   /* written and set for a trial, not booted yet */
	FSEC_AGENT_UPDATE_TRIAL,       /* running the trial, not confirmed */
	FSEC_AGENT_UPDATE_ROLLED_BACK, /* the last trial failed; the old slot runs */
};

struct fsec_agent_status {
	char active_slot;                 /* 'a' or 'b', as the boot environment says */
	bool trial;                       /* a trial boot is pending confirmation */
	bool active_valid;                /* the active slot holds a valid signed image */
	struct fsec_fw_version active_version;
	uint32_t active_security_counter;
	uint32_t counter;                 /* stored anti-rollback counter */
	uint64_t last_sequence, last_delegation;
	uint64_t release_root_version;    /* 1: the pinned root; above: followed (GET /v1/roots) */
	bool rolled_back;                 /* the last trial failed and the bootloader fell back */
	bool downloading;                 /* a journal exists */
	uint64_t download_done;           /* bytes verified and written so far */
	/* Freeze by silence: when the device last verified a fresh signed
	 * answer (a manifest, or the server's signed "nothing new"), 0 if
	 * never, and whether that (or, never, its first check) is longer ago
	 * than max_silence: then it is frozen, by an attacker who withholds
	 * answers or by a fleet whose statements nobody re-signs. */
	int64_t fresh_at;
	bool frozen;
	/* What runs now, which is not the active slot while a trial waits
	 * for its first boot: until then the device runs the other one. */
	enum fsec_agent_update_state update;
	char running_slot;
	bool running_valid;
	struct fsec_fw_version running_version;
	bool pending_valid;               /* INSTALLED: the image waiting to boot */
	struct fsec_fw_version pending_version;
	char image[FSEC_SHA256_HEX_LEN];  /* SHA-256 of the image update is about; "" if NONE */
};

struct fsec_agent_check {
	bool applies;                     /* newer version, counter not below ours */
	char reason[160];                 /* why it does or does not apply */
	struct fsec_fw_version version;
	uint32_t security_counter;
	uint64_t size;
	uint64_t sequence, delegation;
};

/* Progress callback for update: bytes done of total. */
typedef void (*fsec_agent_progress_cb)(uint64_t done, uint64_t total, void *ctx);

/* Set up from a parsed configuration: loads the pinned keys and the TLS
 * client. Errors: NOTFOUND (keys), INVAL, NET, NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_new(const struct fsec_agentcfg *cfg,
					       struct fsec_agent **out);

/* NULL is a no-op. */
FSEC_API void fsec_agent_free(struct fsec_agent *a);

/*
 * Fetch and verify the release bundle (fsec_release_verify with the stored
 * sequences), record its sequences, and say whether it applies: its version
 * must be newer than the active slot's and its security counter not below
 * the stored counter. The server may instead answer with its signed
 * "nothing new" (fsec_release_timestamp_verify, the same checks): no update.
 * Either, verified, is recorded as fresh (fsec_agent_status: frozen). An
 * unsigned answer (204) is refused with VERIFY.
 * Errors: NET, VERIFY (the bundle's reason), PARSE, IO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_check(struct fsec_agent *a,
						 struct fsec_agent_check *out);

/*
 * Check, then download the release into the inactive slot with Range
 * requests, each chunk checked against the manifest before it is written
 * and recorded in the journal (so a restart re-fetches at most one chunk),
 * then verify the whole slot against the pinned firmware keys, and start a
 * trial boot of it. *started says whether an update was installed; chk
 * (may be NULL) receives the check, whose reason says why not.
 * Errors: as check, plus VERIFY (a chunk failed chunk_retries times, or the
 * slot does not verify), IO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_update(struct fsec_agent *a, fsec_agent_progress_cb cb,
						  void *ctx, struct fsec_agent_check *chk,
						  bool *started);

/*
 * After a reboot into a trial slot that passed its health check: verify the
 * slot again, raise the anti-rollback counter to its security counter, and
 * make the slot permanent. Errors: INVAL (no trial pending), VERIFY, IO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_confirm(struct fsec_agent *a);

/*
 * A trial slot that booted but failed its health check: give it up, so the
 * slot the device ran before boots next (after a reboot), and the release
 * stays marked as failed. Errors: INVAL (no trial pending), IO, PARSE.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_reject(struct fsec_agent *a);

/* Describe the device's update state. Errors: IO, PARSE. */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_status(struct fsec_agent *a,
						  struct fsec_agent_status *out);

/*
 * Report to the server (POST SERVER/v1/status): the running version and
 * slot (the old ones while a trial waits for its first boot), the
 * anti-rollback counter and the update state: update if given ("confirmed"
 * right after a confirm, "failed" when the health check refused a trial),
 * else what fsec_agent_status says (downloading, installed, trial,
 * rolled_back, or nothing), with the SHA-256 of the image it is about, the
 * pending version while one waits to boot, and reason (NULL: none).
 * Errors: NET (with the server's reason), VERIFY (no valid running image), IO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_report(struct fsec_agent *a, const char *update,
						  const char *reason);

#endif
