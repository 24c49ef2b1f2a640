/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The update agent (agent.h). Ordering is what makes it power-fail safe:
 * a chunk is verified, written and synced before the journal says it is
 * there; the whole slot is verified before the trial boot is requested;
 * and the counter is raised only at confirmation, after the new image has
 * booted. This file holds that order; agent_int.h lists the files that
 * hold the steps.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_int.h"
#include "err_int.h"
#include "fleetsec/tamper.h"
#include "fleetsec/key.h"

FSEC_API void fsec_agent_free(struct fsec_agent *a)
{
	if (a == NULL)
		return;
	fsec_fetch_free(a->fetch);
	fsec_counter_free(a->counter);
	fsec_bootctl_free(a->boot);
	for (size_t i = 0; i < a->nfw; i++)
		EVP_PKEY_free(a->fw_keys[i]);
	fsec_release_trust_free(a->trust);
	free(a);
}

FSEC_API enum fsec_err fsec_agent_new(const struct fsec_agentcfg *cfg, struct fsec_agent **out)
{
	char roots[FSEC_AGENT_ROOTS_PATH_MAX];
	struct fsec_fetch_opts fo = {.ca = cfg->ca, .ca_learned = roots,
				     .cert = cfg->cert, .key = cfg->key,
				     .low_speed_limit = (long)cfg->low_speed_limit,
				     .low_speed_time = (long)cfg->low_speed_time,
				     .server_crl = cfg->server_crl[0] != '\0' ? cfg->server_crl : NULL};
	struct fsec_agent *a = calloc(1, sizeof(*a));
	EVP_PKEY *pinned[FSEC_AGENTCFG_KEYS_MAX];
	size_t npinned = 0;
	enum fsec_err rc;

	fsec_agent_roots_path(cfg, roots);
	if (a == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	/* A wiped device says so, rather than that its key is missing; a state
	 * directory others may write is refused before it is read. */
	if ((rc = fsec_agent_state_dir_check(cfg->state_dir)) != FSEC_OK ||
	    (rc = fsec_tamper_check(cfg->state_dir)) != FSEC_OK) {
		free(a);
		return rc;
	}
	a->cfg = *cfg;
	for (; a->nfw < cfg->nfirmware_keys; a->nfw++)
		if ((rc = fsec_key_load_public(cfg->firmware_keys[a->nfw], &a->fw_keys[a->nfw])) !=
		    FSEC_OK)
			goto fail;
	for (; npinned < cfg->nrelease_roots; npinned++)
		if ((rc = fsec_key_load_public(cfg->release_roots[npinned], &pinned[npinned])) !=
		    FSEC_OK)
			goto fail;
	if ((rc = fsec_agent_load_trust(a, pinned, npinned)) != FSEC_OK)
		goto fail;
	for (; npinned > 0; npinned--)
		EVP_PKEY_free(pinned[npinned - 1]);
	if ((rc = fsec_agent_rollout_bucket(cfg->cert, &a->rollout_bucket)) != FSEC_OK)
		goto fail;
	if ((rc = fsec_fetch_new(&fo, &a->fetch)) != FSEC_OK ||
	    (rc = fsec_counter_open(cfg->counter, &a->counter)) != FSEC_OK ||
	    (rc = fsec_bootctl_open(cfg->boot_backend, cfg->boot_env, &a->boot)) != FSEC_OK)
		goto fail;
	*out = a;
	return FSEC_OK;
fail:
	for (; npinned > 0; npinned--)
		EVP_PKEY_free(pinned[npinned - 1]);
	fsec_agent_free(a);
	return rc;
}

FSEC_API enum fsec_err fsec_agent_update(struct fsec_agent *a, fsec_agent_progress_cb cb,
					 void *ctx, struct fsec_agent_check *chk_out, bool *started)
{
	struct fsec_agent_check chk;
	const struct fsec_release_entry *e;
	struct fsec_fw_dec *dec = NULL;
	struct fsec_boot_state bs;
	struct fsec_fw_info info;
	struct journal j;
	struct checked c;
	bool missing = true;
	enum fsec_err rc;
	char target;
	int lock = -1;

	fsec_clearerr();
	*started = false;
	if ((rc = fsec_agent_lock(a, &lock)) != FSEC_OK)
		return rc;
	if ((rc = fsec_agent_fetch_release(a, &c)) != FSEC_OK) {
		close(lock);
		return rc;
	}
	if (fsec_agent_nothing_new(&c, &chk)) {
		close(lock);
		if (chk_out != NULL)
			*chk_out = chk;
		return FSEC_OK;
	}
	if ((rc = fsec_agent_decide(a, &c, &chk)) != FSEC_OK)
		goto out;
	if (chk_out != NULL)
		*chk_out = chk;
	if (!chk.applies) {
		/* Nothing to do; a journal left by an install that completed
		 * (or a release since withdrawn) has nothing to resume. */
		fsec_agent_drop_journal(a);
		goto out;
	}
	e = fsec_release_entry(c.rel);
	if ((rc = fsec_bootctl_read(a->boot, &bs)) != FSEC_OK)
		goto out;
	target = bs.slot == 'a' ? 'b' : 'a';
	if ((rc = fsec_agent_load_journal(a, &j, &missing)) != FSEC_OK)
		goto out;
	if (missing || strcmp(j.sha256, c.now.sha256) != 0 || j.slot != target ||
	    j.chunk_size != e->chunk_size || j.chunks_done > e->nchunks) {
		memset(&j, 0, sizeof(j));
		memcpy(j.sha256, c.now.sha256, sizeof(j.sha256));
		j.slot = target;
		j.chunk_size = e->chunk_size;
		if ((rc = fsec_agent_store_journal(a, &j)) != FSEC_OK)
			goto out;
	}
	/* An encrypted image's key is unwrapped again on every run: the
	 * journal holds no key and no cipher state. */
	if ((rc = fsec_agent_prepare_dec(a, e, target, &j, &dec)) != FSEC_OK ||
	    (rc = fsec_agent_write_slot(a, e, target, dec, &j, cb, ctx)) != FSEC_OK)
		goto out;
	/* Chunks written by an earlier run were checked then, not now: the
	 * whole image must still be the one the manifest signed. */
	if ((rc = fsec_agent_slot_holds(a, dec, e, target)) != FSEC_OK) {
		if (rc == FSEC_ERR_VERIFY)
			goto bad_image;
		goto out;
	}
	/* The whole slot as MCUboot will see it, against the pinned keys, and
	 * it must be the image the manifest describes. */
	if ((rc = fsec_agent_verify_slot(a, target, e->size, &info)) != FSEC_OK)
		goto bad_image;
	if (fsec_fw_version_cmp(&info.version, &e->version) != 0 ||
	    (info.has_security_counter ? info.security_counter : 0) != e->security_counter) {
		rc = fsec_seterr(FSEC_ERR_VERIFY,
				 "the image's version or security counter differs from the manifest's");
		goto bad_image;
	}
	if ((rc = fsec_bootctl_trial(a->boot, target, c.now.sha256)) != FSEC_OK)
		goto out;
	fsec_agent_drop_journal(a);
	*started = true;
	goto out;
bad_image:
	/* Nothing to resume into: the next attempt starts from scratch. */
	fsec_agent_drop_journal(a);
out:
	close(lock);
	fsec_fw_dec_free(dec);
	fsec_release_free(c.rel);
	return rc;
}

/* ---- confirm and status ---- */

FSEC_API enum fsec_err fsec_agent_confirm(struct fsec_agent *a)
{
	struct fsec_boot_state bs;
	struct fsec_fw_info info;
	enum fsec_err rc;
	int lock = -1;

	fsec_clearerr();
	if ((rc = fsec_agent_lock(a, &lock)) != FSEC_OK)
		return rc;
	if ((rc = fsec_bootctl_read(a->boot, &bs)) != FSEC_OK)
		goto out;
	if (!bs.upgrade_available) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "no trial boot to confirm (slot %c is permanent)",
				 bs.slot);
		goto out;
	}
	/* The bootloader counts each trial boot: bootcount 0 means the new slot
	 * has not booted yet, and making it permanent now would remove the
	 * only way back if it never does. */
	if (bs.bootcount == 0) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "slot %c has not booted yet: reboot into the trial "
						 "before confirming it",
				 bs.slot);
		goto out;
	}
	if ((rc = fsec_agent_verify_slot(a, bs.slot, 0, &info)) != FSEC_OK)
		goto out;
	/* Raise first: if power fails between the two, the next confirm
	 * raises again (a no-op) and then ends the trial. */
	if ((rc = fsec_counter_raise(a->counter, info.has_security_counter ? info.security_counter
									   : 0)) == FSEC_OK)
		rc = fsec_bootctl_confirm(a->boot);
	/* After the trial ends, not before: a record of a version the device
	 * then fell back from would block its reinstall. A cut here is healed
	 * by the next check. */
	if (rc == FSEC_OK)
		rc = fsec_agent_raise_installed(a, &info.version);
out:
	close(lock);
	return rc;
}

FSEC_API enum fsec_err fsec_agent_reject(struct fsec_agent *a)
{
	struct fsec_boot_state bs;
	enum fsec_err rc;
	int lock = -1;

	fsec_clearerr();
	if ((rc = fsec_agent_lock(a, &lock)) != FSEC_OK)
		return rc;
	if ((rc = fsec_bootctl_read(a->boot, &bs)) == FSEC_OK) {
		if (!bs.upgrade_available)
			rc = fsec_seterr(FSEC_ERR_INVAL, "no trial boot to reject (slot %c is "
							 "permanent)", bs.slot);
		else
			rc = fsec_bootctl_reject(a->boot);
	}
	close(lock);
	return rc;
}

FSEC_API enum fsec_err fsec_agent_status(struct fsec_agent *a, struct fsec_agent_status *out)
{
	struct fsec_boot_state bs;
	struct fsec_fw_info info;
	struct journal j;
	struct seen seen;
	struct fresh fr;
	bool missing = true;
	enum fsec_err rc;

	fsec_clearerr();
	memset(out, 0, sizeof(*out));
	if ((rc = fsec_agent_load_fresh(a, &fr)) != FSEC_OK)
		return rc;
	out->fresh_at = fr.fresh_at;
	out->frozen = fsec_agent_past_silence(a, &fr, (int64_t)time(NULL));
	if ((rc = fsec_bootctl_read(a->boot, &bs)) != FSEC_OK ||
	    (rc = fsec_counter_read(a->counter, &out->counter)) != FSEC_OK ||
	    (rc = fsec_agent_load_seen(a, &seen)) != FSEC_OK || (rc = fsec_agent_load_journal(a, &j, &missing)) != FSEC_OK)
		return rc;
	out->active_slot = bs.slot;
	out->trial = bs.upgrade_available;
	/* confirm clears the trial's tag; one left without a pending trial is
	 * a trial the bootloader gave up on. */
	out->rolled_back = bs.trial_tag[0] != '\0' && !bs.upgrade_available;
	out->last_sequence = seen.sequence;
	out->last_delegation = seen.delegation;
	out->release_root_version = fsec_release_trust_version(a->trust);
	if (fsec_agent_verify_slot(a, bs.slot, 0, &info) == FSEC_OK) {
		out->active_valid = true;
		out->active_version = info.version;
		out->active_security_counter = info.has_security_counter ? info.security_counter : 0;
	}
	fsec_clearerr();
	if (!missing) {
		out->downloading = true;
		out->download_done = j.chunks_done * j.chunk_size;
	}
	/* The bootloader counts a trial's boots: none yet means the device
	 * still runs the slot it had, and the trial's image is only pending. */
	out->running_slot = bs.slot;
	if (bs.upgrade_available && bs.bootcount == 0) {
		out->update = FSEC_AGENT_UPDATE_INSTALLED;
		out->running_slot = bs.slot == 'a' ? 'b' : 'a';
		out->pending_valid = out->active_valid;
		out->pending_version = out->active_version;
	} else if (bs.upgrade_available) {
		out->update = FSEC_AGENT_UPDATE_TRIAL;
	} else if (!missing) {
		out->update = FSEC_AGENT_UPDATE_DOWNLOADING;
	} else if (out->rolled_back) {
		out->update = FSEC_AGENT_UPDATE_ROLLED_BACK;
	}
	if (out->running_slot == bs.slot) {
		out->running_valid = out->active_valid;
		out->running_version = out->active_version;
	} else if (fsec_agent_verify_slot(a, out->running_slot, 0, &info) == FSEC_OK) {
		out->running_valid = true;
		out->running_version = info.version;
	}
	fsec_clearerr();
	if (out->update == FSEC_AGENT_UPDATE_DOWNLOADING)
		memcpy(out->image, j.sha256, sizeof(out->image));
	else if (out->update != FSEC_AGENT_UPDATE_NONE)
		memcpy(out->image, bs.trial_tag, sizeof(out->image));
	return FSEC_OK;
}
