/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Boot control for A/B updates, with U-Boot's bootcount semantics:
 *
 *   fsec_slot          the slot the bootloader boots: "a" or "b"
 *   upgrade_available  1 while a new slot is on trial
 *   bootcount          boots since the trial began (the bootloader counts)
 *   bootlimit          trial boots allowed before falling back (default 3)
 *
 * The agent starts a trial (slot = new, upgrade_available = 1,
 * bootcount = 0) and, once the new image is healthy, confirms it
 * (upgrade_available = 0). On every boot with upgrade_available = 1 the
 * bootloader increments bootcount; past bootlimit it runs altbootcmd, which
 * switches back to the other slot and clears upgrade_available. Each change
 * is one atomic write of the environment, as U-Boot's redundant environment
 * gives on real hardware.
 *
 * Backends:
 *   "file"   an environment file of `name=value` lines (tests, demos,
 *            fleetsec-bootsim); env is its path;
 *   "uboot"  the U-Boot environment through libubootenv; env is the
 *            fw_env.config that describes it (redundant copies make each
 *            store atomic); U-Boot's bootcmd/altbootcmd implement the boot
 *            side;
 *   "grub"   grubenv through grub-editenv; env is the grubenv file, and
 *            grub.cfg implements the boot side with the same variables.
 */
#ifndef FLEETSEC_BOOTCTL_H
#define FLEETSEC_BOOTCTL_H

#include <stdbool.h>

#include "fleetsec/common.h"

#define FSEC_BOOTLIMIT_DEFAULT 3

struct fsec_bootctl;

struct fsec_boot_state {
	char slot;              /* 'a' or 'b' */
	bool upgrade_available;
	unsigned bootcount;
	unsigned bootlimit;
	/* What the last trial installed (fsec_trial), kept when the bootloader
	 * falls back and cleared by confirm: how the agent remembers a release
	 * that failed its trial. "" if none. */
	char trial_tag[FSEC_SHA256_HEX_LEN];
};

/*
 * Open a boot backend ("file", "uboot", "grub") on its environment (see
 * above). Unset variables read as slot a, no trial, bootlimit 3.
 * Errors: INVAL (unknown backend), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_bootctl_open(const char *backend, const char *env,
						  struct fsec_bootctl **out) FSEC_NONNULL(1, 3);

/* NULL is a no-op. */
FSEC_API void fsec_bootctl_free(struct fsec_bootctl *b);

/* Read the state. Errors: PARSE (damaged environment), IO. */
FSEC_API FSEC_WUR enum fsec_err fsec_bootctl_read(struct fsec_bootctl *b,
						  struct fsec_boot_state *out) FSEC_NONNULL(1, 2);

/* Start a trial of slot ('a' or 'b') in one atomic write, tagged with what
 * it installs (hex, at most 64 digits; NULL: none). Errors: INVAL, PARSE, IO. */
FSEC_API FSEC_WUR enum fsec_err fsec_bootctl_trial(struct fsec_bootctl *b, char slot,
						   const char *tag) FSEC_NONNULL(1);

/* Make the current slot permanent (ends the trial). Errors: PARSE, IO. */
FSEC_API FSEC_WUR enum fsec_err fsec_bootctl_confirm(struct fsec_bootctl *b) FSEC_NONNULL(1);

/* Give the trial up (its health check failed): the other slot boots next,
 * permanently, and the trial's tag stays, so the release it installed is
 * known to have failed (as after the bootloader's own fallback).
 * Errors: PARSE, IO. */
FSEC_API FSEC_WUR enum fsec_err fsec_bootctl_reject(struct fsec_bootctl *b) FSEC_NONNULL(1);

/*
 * The bootloader's side, for the simulated bootloader: count this boot if a
 * trial is on, fall back to the other slot past bootlimit, and say which
 * slot boots. Errors: PARSE, IO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_bootctl_boot(struct fsec_bootctl *b, char *booted,
						  bool *fell_back) FSEC_NONNULL(1, 2);

#endif
