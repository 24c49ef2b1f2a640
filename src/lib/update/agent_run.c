/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What fleetsec-agent runs (agentrun.h): the start-up order before each
 * command and the daemon's round. The order is the rule: a wipe is finished
 * before a missing TPM can stop anything, keys are touched only once the
 * keystore is open, and a cut enrollment is finished before the device's
 * credential is used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent_int.h"
#include "agentcfg_int.h"
#include "err_int.h"
#include "fleetsec/agentrun.h"
#include "fleetsec/key.h"
#include "fleetsec/names.h"
#include "fleetsec/pairing.h"
#include "fleetsec/tpm.h"

/* A reboot command returns only when it did not reboot (a test's
 * bootloader, or a failure): a minute is plenty. */
#define REBOOT_SECONDS 60

/* Every configured path fits what a wipe takes. */
_Static_assert(FSEC_AGENTCFG_VALUE_MAX <= FSEC_TAMPER_PATH_MAX,
	       "a configured key or certificate path must fit a tamper wipe");

static struct fsec_tamper_cfg tamper_cfg(const struct fsec_agentcfg *cfg)
{
	struct fsec_tamper_cfg tc = {.state_dir = cfg->state_dir, .key = cfg->key,
				     .bootstrap_key = cfg->bootstrap_key, .cert = cfg->cert};

	return tc;
}

FSEC_API enum fsec_err fsec_agent_start(const struct fsec_agentcfg *cfg, enum fsec_agent_cmd cmd,
					const char **step)
{
	struct fsec_tamper_cfg tc = tamper_cfg(cfg);
	enum fsec_err rc;

	/* 1. The TPM every TPM use of this process goes to. The tamper hook
	 * runs with nothing that could stop it: it reaches the TPM (to
	 * evict) on its own, and wipes files even without one. */
	*step = "tpm";
	rc = fsec_tpm_configure(cfg->tcti, cfg->tpm_owner_auth);
	if (cmd == FSEC_AGENT_CMD_TAMPER)
		return FSEC_OK;
	if (rc != FSEC_OK)
		return rc;
	/* 1b. Nobody else may write the agent's state (sequence records,
	 * journal, tamper record): it is read as the agent's own. */
	*step = "state_dir";
	if ((rc = fsec_agent_state_dir_check(cfg->state_dir)) != FSEC_OK)
		return rc;
	/* 2. A wipe a power cut interrupted is finished before the keystore,
	 * which a TPM that is gone would stop. */
	*step = "tamper";
	if ((rc = fsec_tamper_finish(&tc)) != FSEC_OK)
		return rc;
	/* 3. The keystore: every key below is made or loaded through it. */
	*step = "tcti";
	if (cfg->tcti[0] != '\0' &&
	    (rc = fsec_keystore_use_tpm(cfg->tcti, cfg->tpm_parent)) != FSEC_OK)
		return rc;
	/* 4. Re-provisioning (keygen, csr, enroll) is what a wiped device may
	 * do; keygen and csr need nothing more. */
	if (cmd == FSEC_AGENT_CMD_KEYGEN || cmd == FSEC_AGENT_CMD_CSR || cmd == FSEC_AGENT_CMD_PAIR)
		return FSEC_OK;
	/* 5. A wiped device is refused everything else. */
	*step = NULL;
	if (cmd != FSEC_AGENT_CMD_ENROLL && (rc = fsec_tamper_check(cfg->state_dir)) != FSEC_OK)
		return rc;
	/* 6. An enrollment or renewal cut between its writes is finished
	 * first: every command from here uses the device's key and
	 * certificate (enroll's retry reuses the pending key). */
	*step = "key";
	return fsec_estc_finish(cfg->key, cfg->cert);
}

FSEC_API enum fsec_err fsec_agent_tamper(const struct fsec_agentcfg *cfg, const char *reason,
					 struct fsec_tamper_result *out)
{
	struct fsec_tamper_cfg tc = tamper_cfg(cfg);
	char detail[FSEC_TAMPER_DETAIL_MAX];
	enum fsec_err rc;

	/* The device is marked first: a power cut during the report leaves
	 * it refused, and its next start finishes the wipe. A mark that
	 * cannot be written is reported by the wipe, which tries again. */
	if (fsec_tamper_mark(&tc) != FSEC_OK)
		fsec_clearerr();
	/* Then the report, while the key exists, and best effort: its
	 * failure only goes in the record. A TPM key needs the keystore,
	 * which the tamper hook does not otherwise open; if it cannot, the
	 * key does not load and the report says so. */
	if (cfg->tcti[0] != '\0' && fsec_keystore_use_tpm(cfg->tcti, cfg->tpm_parent) != FSEC_OK)
		fsec_clearerr();
	rc = fsec_agent_tamper_report(cfg, reason != NULL && reason[0] != '\0' ? reason :
				      FSEC_AGENT_TAMPER_REASON, (int64_t)time(NULL));
	snprintf(detail, sizeof(detail), "%s",
		 rc == FSEC_OK ? "fleetsecd recorded it"
			       : fsec_err_detail()[0] != '\0' ? fsec_err_detail() : fsec_strerror(rc));
	/* No key or certificate left to sign with is most likely a run after
	 * a wipe: what an earlier run recorded stands. */
	tc.report = rc == FSEC_OK ? "sent"
		    : cfg->server[0] == '\0' || rc == FSEC_ERR_NOTFOUND ? "not sent" : "failed";
	tc.report_detail = detail;
	tc.report_unless_earlier = rc == FSEC_ERR_NOTFOUND;
	fsec_clearerr();
	return fsec_tamper_wipe(&tc, out);
}

FSEC_API enum fsec_err fsec_agent_keygen(const struct fsec_agentcfg *cfg)
{
	EVP_PKEY *key = NULL;
	enum fsec_err rc;

	if ((rc = fsec_key_generate(FSEC_KEY_P256, &key)) == FSEC_OK &&
	    (rc = fsec_key_save_private(key, cfg->key)) == FSEC_OK)
		rc = fsec_tamper_clear(cfg->state_dir); /* a new identity begins */
	EVP_PKEY_free(key);
	return rc;
}

FSEC_API enum fsec_err fsec_agent_pair(const struct fsec_agentcfg *cfg, const char *serial,
				       struct fsec_agent_pairing *out)
{
	EVP_PKEY *key = NULL;
	char *uri = NULL;
	enum fsec_err rc;

	memset(out, 0, sizeof(*out));
	if (!fsec_devid_valid(serial))
		return fsec_seterr(FSEC_ERR_INVAL, "serial: 1-64 characters of A-Za-z0-9._-");
	/* First power-on: the key is made here, where keygen makes it, and
	 * never leaves; every later run shows the same key's code. */
	if (access(cfg->key, F_OK) != 0) {
		if ((rc = fsec_agent_keygen(cfg)) != FSEC_OK)
			return rc;
		out->key_made = true;
	}
	if ((rc = fsec_key_load_private(cfg->key, &key)) != FSEC_OK ||
	    (rc = fsec_key_spki_sha256(key, out->key_sha256)) != FSEC_OK ||
	    (rc = fsec_pair_uri_make(key, serial, &uri)) != FSEC_OK)
		goto out;
	if (strlen(uri) >= sizeof(out->uri)) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "pairing URI too long");
		goto out;
	}
	memcpy(out->uri, uri, strlen(uri) + 1);
out:
	free(uri);
	EVP_PKEY_free(key);
	return rc;
}

/* Enrollment by pairing: the paired key proves itself in the handshake
 * with a self-signed certificate made for this one request. */
static enum fsec_err enroll_paired(const struct fsec_agentcfg *cfg,
				   const struct fsec_estc_opts *o, char id[FSEC_DEVID_MAX + 1])
{
	char path[sizeof(cfg->state_dir) + 16];
	EVP_PKEY *key = NULL;
	enum fsec_err rc;

	if (access(cfg->key, F_OK) != 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND,
				   "%s: no device key; with no bootstrap credential configured the "
				   "device enrolls by pairing: run 'fleetsec-agent pair' first",
				   cfg->key);
	snprintf(path, sizeof(path), "%s/pairing.pem", cfg->state_dir);
	/* The key is let go before the enrollment loads it again: a TPM
	 * without a resource manager has few object slots. */
	if ((rc = fsec_key_load_private(cfg->key, &key)) == FSEC_OK)
		rc = fsec_pair_selfsigned(key, "fleetsec-pairing", path);
	EVP_PKEY_free(key);
	if (rc == FSEC_OK)
		rc = fsec_estc_enroll_paired(o, path, id);
	(void)unlink(path);
	return rc;
}

FSEC_API enum fsec_err fsec_agent_pending_key(const struct fsec_agentcfg *cfg,
					       char sha256[FSEC_SHA256_HEX_LEN], bool *have)
{
	char path[sizeof(cfg->key) + 8];
	EVP_PKEY *key = NULL;
	enum fsec_err rc;

	*have = false;
	sha256[0] = '\0';
	snprintf(path, sizeof(path), "%s.pending", cfg->key);
	if (access(path, F_OK) != 0)
		return FSEC_OK;
	if ((rc = fsec_key_load_private(path, &key)) == FSEC_OK &&
	    (rc = fsec_key_spki_sha256(key, sha256)) == FSEC_OK)
		*have = true;
	EVP_PKEY_free(key);
	return rc;
}

FSEC_API enum fsec_err fsec_agent_enroll(const struct fsec_agentcfg *cfg,
					 char id[FSEC_DEVID_MAX + 1], fsec_agent_wait_cb wait,
					 void *ctx)
{
	unsigned retry = 0;
	char roots[FSEC_AGENT_ROOTS_PATH_MAX];
	struct fsec_estc_opts o = {.server = cfg->server, .ca = cfg->ca, .ca_learned = roots,
				   .bootstrap_cert = cfg->bootstrap_cert,
				   .bootstrap_key = cfg->bootstrap_key, .key_out = cfg->key,
				   .cert_out = cfg->cert, .server_crl = cfg->server_crl,
				   .retry_after = &retry};
	char sha[FSEC_SHA256_HEX_LEN];
	bool have = false;
	enum fsec_err rc;

	fsec_agent_roots_path(cfg, roots);
	if (cfg->bootstrap_cert[0] == '\0' && cfg->bootstrap_key[0] == '\0') {
		if ((rc = enroll_paired(cfg, &o, id)) != FSEC_OK)
			return rc;
		return fsec_tamper_clear(cfg->state_dir);
	}
	if (cfg->bootstrap_cert[0] == '\0' || cfg->bootstrap_key[0] == '\0')
		return fsec_seterr(FSEC_ERR_INVAL,
				   "the configuration needs both bootstrap_cert and bootstrap_key "
				   "(or neither, to enroll by pairing)");
	while ((rc = fsec_estc_enroll(&o, id)) == FSEC_ERR_BUSY && wait != NULL) {
		char why[FSEC_AGENT_ROUND_ERROR_MAX];

		snprintf(why, sizeof(why), "%s", fsec_err_detail());
		if (fsec_agent_pending_key(cfg, sha, &have) != FSEC_OK || !have)
			snprintf(sha, sizeof(sha), "(unknown)");
		if (!wait(retry, sha, ctx))
			return fsec_seterr(FSEC_ERR_BUSY, "%s", why);
	}
	if (rc != FSEC_OK)
		return rc;
	return fsec_tamper_clear(cfg->state_dir);
}

FSEC_API enum fsec_err fsec_agent_renew(const struct fsec_agentcfg *cfg, bool force,
					struct fsec_estc_renewal *out)
{
	/* The bootstrap credential goes along for one case only: a
	 * certificate that expired while the device was off (fsec_estc_renew). */
	char roots[FSEC_AGENT_ROOTS_PATH_MAX];
	struct fsec_estc_opts o = {.server = cfg->server, .ca = cfg->ca, .ca_learned = roots,
				   .bootstrap_cert = cfg->bootstrap_cert,
				   .bootstrap_key = cfg->bootstrap_key, .key_out = cfg->key,
				   .cert_out = cfg->cert, .server_crl = cfg->server_crl};

	fsec_agent_roots_path(cfg, roots);
	return fsec_estc_renew(&o, force, out);
}

FSEC_API enum fsec_err fsec_agent_learn_roots(const struct fsec_agentcfg *cfg,
					      struct fsec_estc_trust *out)
{
	char roots[FSEC_AGENT_ROOTS_PATH_MAX];
	struct fsec_estc_opts o = {.server = cfg->server, .ca = cfg->ca, .ca_learned = roots,
				   .server_crl = cfg->server_crl};

	fsec_agent_roots_path(cfg, roots);
	/* Checked already (fsec_agent_start); missing, it is made as the
	 * tamper record makes it. */
	if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST)
		return fsec_seterr(FSEC_ERR_IO, "%.200s: %s", cfg->state_dir, strerror(errno));
	return fsec_estc_learn_roots(&o, out);
}

/* A step's error detail, kept past the next library call. */
static enum fsec_err keep(enum fsec_err rc, char buf[FSEC_AGENT_ROUND_ERROR_MAX])
{
	if (rc != FSEC_OK)
		snprintf(buf, FSEC_AGENT_ROUND_ERROR_MAX, "%s",
			 fsec_err_detail()[0] != '\0' ? fsec_err_detail() : fsec_strerror(rc));
	return rc;
}

FSEC_API enum fsec_err fsec_agent_reboot(const struct fsec_agentcfg *cfg, bool *ran)
{
	size_t len = 0;

	*ran = false;
	if (cfg->reboot_cmd[0] == '\0')
		return FSEC_OK;
	*ran = true;
	return fsec_agent_run_cmd("reboot_cmd", cfg->reboot_cmd, REBOOT_SECONDS, NULL, 0, &len);
}

/* A trial that has booted is settled before anything else is installed:
 * health_cmd decides, and without one this agent running its round is the
 * sign of health (what a mark-good service after boot says). *update is
 * what the report then says. */
static void settle_trial(const struct fsec_agentcfg *cfg, struct fsec_agent *a,
			 struct fsec_agent_round *out, const char **update)
{
	struct fsec_agent_status st;
	size_t len = 0;

	if ((out->trial_rc = keep(fsec_agent_status(a, &st), out->trial_error)) != FSEC_OK ||
	    st.update != FSEC_AGENT_UPDATE_TRIAL)
		return;
	if (cfg->health_cmd[0] != '\0' &&
	    fsec_agent_run_cmd("health_cmd", cfg->health_cmd, (int)cfg->health_timeout, NULL, 0,
			       &len) != FSEC_OK) {
		snprintf(out->trial_error, sizeof(out->trial_error), "%s", fsec_err_detail());
		out->trial_rc = keep(fsec_agent_reject(a), out->trial_error);
		out->rejected = out->trial_rc == FSEC_OK;
		*update = "failed";
		return;
	}
	out->trial_rc = keep(fsec_agent_confirm(a), out->trial_error);
	out->confirmed = out->trial_rc == FSEC_OK;
	if (out->confirmed)
		*update = "confirmed";
}

FSEC_API void fsec_agent_round(const struct fsec_agentcfg *cfg, struct fsec_agent_round *out)
{
	struct fsec_agent *a = NULL;
	const char *update = NULL;
	bool tty = false;

	memset(out, 0, sizeof(*out));
	/* The renewal first: a certificate that lapses strands the device,
	 * a late update does not. Its failure stops nothing below. */
	out->renew_rc = keep(fsec_agent_renew(cfg, false, &out->renewal), out->renew_error);
	/* Then the trust update of a root rollover, which must reach the
	 * device before the old root expires. */
	out->trust_rc = keep(fsec_agent_learn_roots(cfg, &out->trust), out->trust_error);
	/* The firmware encryption key, until fleetsecd took it: without it
	 * no encrypted release can be installed. */
	out->enc_key_rc = keep(fsec_agent_enc_key_sync(cfg, &out->enc_key_sent),
			       out->enc_key_error);
	/* A new agent each round: a renewal replaced the key it holds. */
	if ((out->update_rc = keep(fsec_agent_new(cfg, &a), out->update_error)) == FSEC_OK) {
		settle_trial(cfg, a, out, &update);
		/* A rejected trial reboots into the old slot before anything
		 * else is written beside it. */
		if (!out->rejected)
			out->update_rc = keep(fsec_agent_update(a, NULL, &tty, &out->check,
								&out->started),
					      out->update_error);
	}
	/* The report before the reboot, so that it tells what this round
	 * installed, confirmed or gave up. */
	if (a != NULL) {
		struct fsec_agent_status st;

		if (fsec_agent_status(a, &st) == FSEC_OK) {
			out->frozen = st.frozen;
			out->fresh_at = st.fresh_at;
		}
		out->report_tried = true;
		out->report_rc = keep(fsec_agent_report(a, update,
							out->rejected ? out->trial_error : NULL),
				      out->report_error);
	}
	fsec_agent_free(a);
	if (out->started || out->rejected)
		out->reboot_rc = keep(fsec_agent_reboot(cfg, &out->reboot_tried), out->reboot_error);
}
