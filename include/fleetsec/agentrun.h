/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What fleetsec-agent runs, in the order that keeps a device safe. The
 * binary parses its arguments and prints; the order of the steps before a
 * command (TPM, tamper, keystore, pending enrollment) and the daemon's round
 * live here, where a unit test can see them.
 *
 * Use: fsec_agentcfg_load, then fsec_agent_start for the command, then the
 * command itself (fsec_agent_tamper, _keygen, _enroll, _renew, _round, or
 * fsec_agent_new and the agent.h calls for check, update, confirm, status
 * and report). The TPM and keystore settings are process-wide, so is this.
 */
#ifndef FLEETSEC_AGENTRUN_H
#define FLEETSEC_AGENTRUN_H

#include <stdbool.h>

#include "fleetsec/agent.h"
#include "fleetsec/agentcfg.h"
#include "fleetsec/common.h"
#include "fleetsec/estc.h"
#include "fleetsec/pairing.h"
#include "fleetsec/tamper.h"

/* The agent's commands, as far as their start-up differs. */
enum fsec_agent_cmd {
	FSEC_AGENT_CMD_TAMPER,  /* the tamper hook: nothing may stop it */
	FSEC_AGENT_CMD_KEYGEN,  /* re-provisioning: allowed on a wiped device */
	FSEC_AGENT_CMD_CSR,
	FSEC_AGENT_CMD_ENROLL,  /* re-provisioning with the bootstrap credential */
	FSEC_AGENT_CMD_RENEW,   /* the rest need the device's identity */
	FSEC_AGENT_CMD_TRUST,
	FSEC_AGENT_CMD_DAEMON,
	FSEC_AGENT_CMD_REPORT,
	FSEC_AGENT_CMD_CHECK,
	FSEC_AGENT_CMD_UPDATE,
	FSEC_AGENT_CMD_CONFIRM,
	FSEC_AGENT_CMD_STATUS,
	FSEC_AGENT_CMD_PAIR,    /* re-provisioning by QR pairing: as keygen */
};

/*
 * Bring the device up for cmd, in this order:
 *  1. name the TPM (tcti, tpm_owner_auth); for the tamper hook that is all,
 *     and a failure does not stop it: it wipes files even without a TPM;
 *  2. finish a wipe a power cut interrupted, before anything that could fail
 *     on a missing TPM;
 *  3. open the keystore (the TPM, when tcti is set): every key is made or
 *     loaded through it;
 *  4. keygen and csr stop here: re-provisioning is what a wiped device may do;
 *  5. refuse every other command but enroll on a wiped device;
 *  6. finish an enrollment or renewal cut between its writes, before
 *     anything loads the device's key and certificate.
 * On failure *step names the step for the message ("tpm", "tamper",
 * "tcti", "key"), or is NULL when the command itself is refused (a wiped
 * device). Errors: those of fsec_tpm_configure, fsec_tamper_finish,
 * fsec_keystore_use_tpm, fsec_tamper_check (POLICY), fsec_estc_finish.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_start(const struct fsec_agentcfg *cfg,
						 enum fsec_agent_cmd cmd, const char **step)
	FSEC_NONNULL(1, 3);

/* The reason a tamper report gives when the hook names none. */
#define FSEC_AGENT_TAMPER_REASON "tamper switch"

/*
 * tamper, after fsec_agent_start:
 *  0. fsec_tamper_mark: the device is refused from here on, and a power cut
 *     during the report leaves the wipe for its next start;
 *  1. best effort, a report to the server while the device key still
 *     exists: a tamper statement (release.h) with reason (NULL or "":
 *     FSEC_AGENT_TAMPER_REASON), signed by the device key, POSTed to
 *     /v1/tamper over mutual TLS, given up after a few seconds. Its failure
 *     (no server, unreachable, refused) does not stop the wipe;
 *  2. fsec_tamper_wipe of the configured device key, its pending renewal
 *     key, the bootstrap key and the device certificate, recorded in
 *     state_dir with the report's outcome (out->report: "sent", "failed",
 *     "not sent" when no server is configured; a run with no key left to
 *     sign with keeps what the first run recorded).
 * An attacker who cuts the power or the network first stops the report,
 * not the wipe that the next start finishes. out is filled either way.
 * Errors: as fsec_tamper_wipe (the report's are only recorded).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_tamper(const struct fsec_agentcfg *cfg,
						  const char *reason,
						  struct fsec_tamper_result *out)
	FSEC_NONNULL(1, 3);

/* keygen, after fsec_agent_start: a P-256 device key made where the
 * keystore keeps keys (the TPM when tcti is set), written 0600, never over
 * an existing key, to the configured key path; then the tamper record goes:
 * a new identity begins. Errors: EXISTS, IO, CRYPTO, POLICY (an unfinished
 * wipe). */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_keygen(const struct fsec_agentcfg *cfg)
	FSEC_NONNULL(1);

/* What pair made. */
struct fsec_agent_pairing {
	char uri[FSEC_PAIR_URI_MAX + 1];       /* the pairing URI (pairing.h) */
	char key_sha256[FSEC_SHA256_HEX_LEN];  /* the key's SPKI SHA-256 */
	bool key_made;                         /* the key was made now (first power-on) */
};

/* pair, after fsec_agent_start: the device key (made now, as keygen makes
 * it, if there is none yet: in the TPM when tcti is set) and its pairing
 * URI for serial. Errors: INVAL (serial), as fsec_agent_keygen, as
 * fsec_key_load_private, CRYPTO. */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_pair(const struct fsec_agentcfg *cfg,
						const char *serial,
						struct fsec_agent_pairing *out)
	FSEC_NONNULL(1, 2, 3);

/* Told that the server holds the enrollment for the operator's approval:
 * seconds until the agent asks again, and the SPKI SHA-256 of the key
 * waiting (what `fleetsec enroll approve --key` takes). Returns false to
 * stop waiting. */
typedef bool (*fsec_agent_wait_cb)(unsigned seconds, const char *key_sha256, void *ctx);

/* enroll, after fsec_agent_start: fsec_estc_enroll with the configured
 * bootstrap credential, then the tamper record goes. A request the server
 * holds for approval (202) is a wait, not a failure: wait (may be NULL: do
 * not wait) is told, and unless it says stop, the same request (the same
 * pending key) goes again after the server's Retry-After. With neither
 * bootstrap_cert nor bootstrap_key configured, the device enrolls by its
 * pairing instead (fsec_estc_enroll_paired: the key at the key path, which
 * `pair` made, and a self-signed certificate for it written to
 * state_dir/pairing.pem and removed after). Errors: INVAL (only one of
 * bootstrap_cert and bootstrap_key configured), NOTFOUND (paired
 * enrollment with no device key), as fsec_estc_enroll
 * (BUSY: stopped while waiting), POLICY. */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_enroll(const struct fsec_agentcfg *cfg,
						  char id[FSEC_DEVID_MAX + 1],
						  fsec_agent_wait_cb wait, void *ctx)
	FSEC_NONNULL(1, 2);

/* The SPKI SHA-256 (hex) of the key an unanswered enrollment or renewal
 * waits with (KEY.pending), for the operator who approves it by hand;
 * *have false when none waits. Errors: as fsec_key_load_private. */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_pending_key(const struct fsec_agentcfg *cfg,
						       char sha256[FSEC_SHA256_HEX_LEN],
						       bool *have) FSEC_NONNULL(1, 2, 3);

/*
 * With key_delivery = server (issue 19): send the public half of
 * decrypt_key (a file, or a key in the TPM) to fleetsecd (POST
 * /v1/enc-key), authenticated by the device certificate, unless
 * state_dir/enc-key.sent says this key was taken already; it is written
 * once fleetsecd took it. So the key is enrolled with the device: enroll
 * sends it, and every daemon round, and an update that needs the key, send
 * it until it was taken (a lost answer heals at the next round, and a
 * steady state costs no request).
 * fleetsecd keeps the first key a device sends; replacing it is the
 * operator's (`fleetsec device enc-key`). *sent (may be NULL): a request
 * was made and taken. Without key_delivery = server: FSEC_OK, nothing sent.
 * Errors: as fsec_key_load_private, NET (fleetsecd refused it: 409 another
 * key is enrolled, 400), IO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_enc_key_sync(const struct fsec_agentcfg *cfg,
							bool *sent) FSEC_NONNULL(1);

/* renew, after fsec_agent_start: fsec_estc_renew of the configured key and
 * certificate (when due, or now if force). Errors: as fsec_estc_renew. */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_renew(const struct fsec_agentcfg *cfg, bool force,
						 struct fsec_estc_renewal *out) FSEC_NONNULL(1, 3);

/* trust, after fsec_agent_start: fsec_estc_learn_roots into
 * state_dir/roots.pem, which every later connection and certificate check
 * trusts beside the configured ca. Errors: as fsec_estc_learn_roots. */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_learn_roots(const struct fsec_agentcfg *cfg,
						       struct fsec_estc_trust *out)
	FSEC_NONNULL(1, 2);

#define FSEC_AGENT_ROUND_ERROR_MAX 512

/* One daemon round: each step's outcome, and its error's detail. */
struct fsec_agent_round {
	enum fsec_err renew_rc;           /* renew when due */
	struct fsec_estc_renewal renewal; /* valid when renew_rc is FSEC_OK */
	enum fsec_err trust_rc;           /* the trust update (fsec_agent_learn_roots) */
	enum fsec_err enc_key_rc;         /* fsec_agent_enc_key_sync */
	bool enc_key_sent;
	struct fsec_estc_trust trust;     /* valid when trust_rc is FSEC_OK */
	enum fsec_err trial_rc;           /* a booted trial's health check and confirm */
	bool confirmed;                   /* it passed and is now permanent */
	bool rejected;                    /* it failed health_cmd and was given up */
	enum fsec_err update_rc;          /* check, download, trial boot */
	struct fsec_agent_check check;    /* valid when update_rc is FSEC_OK */
	bool started;                     /* an update was installed */
	bool frozen;                      /* past max_silence (fsec_agent_status) */
	int64_t fresh_at;                 /* its last fresh signed answer, 0: never */
	bool report_tried;                /* false when the agent could not be set up */
	enum fsec_err report_rc;
	bool reboot_tried;                /* reboot_cmd ran: after an install or a rejection */
	enum fsec_err reboot_rc;
	char renew_error[FSEC_AGENT_ROUND_ERROR_MAX];
	char trust_error[FSEC_AGENT_ROUND_ERROR_MAX];
	char enc_key_error[FSEC_AGENT_ROUND_ERROR_MAX];
	char trial_error[FSEC_AGENT_ROUND_ERROR_MAX]; /* why it failed, or was rejected */
	char update_error[FSEC_AGENT_ROUND_ERROR_MAX];
	char report_error[FSEC_AGENT_ROUND_ERROR_MAX];
	char reboot_error[FSEC_AGENT_ROUND_ERROR_MAX];
};

/*
 * reboot_cmd, if configured: what follows an install (update, the daemon)
 * so that the trial boots, and a rejected trial so that the old slot does.
 * Not configured: FSEC_OK, *ran false (the device's own boot scripts
 * reboot). Errors: IO (it failed or timed out; a real reboot never
 * returns).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_agent_reboot(const struct fsec_agentcfg *cfg, bool *ran)
	FSEC_NONNULL(1, 2);

/*
 * One round of the daemon, after fsec_agent_start(FSEC_AGENT_CMD_DAEMON):
 *  1. renew the certificate when due, then take the trust update of a
 *     root rollover (fsec_agent_learn_roots);
 *  2. with an agent set up afresh (a renewal replaced the key the last one
 *     held): a trial that has booted runs health_cmd (none configured: the
 *     agent running this round is the sign of health); success confirms it
 *     (reported "confirmed"), failure rejects it (reported "failed" with the
 *     reason) and reboots into the old slot;
 *  3. otherwise install an update if one applies;
 *  4. report to the server;
 *  5. after an install, reboot_cmd, so that the trial boots.
 * A failing step does not stop the next: a daemon that stops trying
 * strands the device, and the next round retries. Every outcome is in
 * *out. Not thread-safe (the agent's state files).
 */
FSEC_API void fsec_agent_round(const struct fsec_agentcfg *cfg, struct fsec_agent_round *out)
	FSEC_NONNULL(1, 2);

#endif
