/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's parsed configuration, inside update/ only: the public API
 * (agentcfg.h) keeps it opaque, so its 25 KiB of fixed buffers are never
 * copied across it and can change without an ABI break.
 */
#ifndef FLEETSEC_AGENTCFG_INT_H
#define FLEETSEC_AGENTCFG_INT_H

#include <stddef.h>

#include "fleetsec/agentcfg.h"
#include "fleetsec/common.h"

struct fsec_agentcfg {
	char server[FSEC_AGENTCFG_VALUE_MAX + 1];
	char manifest_url[FSEC_AGENTCFG_VALUE_MAX + 1];
	char roots_url[FSEC_AGENTCFG_VALUE_MAX + 1];
	/* As written, then resolved: the CRL's absolute https URL, or "" for
	 * off (no revocation check of the server). */
	char server_crl[FSEC_AGENTCFG_VALUE_MAX + 1];
	char ca[FSEC_AGENTCFG_VALUE_MAX + 1];
	char key[FSEC_AGENTCFG_VALUE_MAX + 1];
	char cert[FSEC_AGENTCFG_VALUE_MAX + 1];
	char bootstrap_key[FSEC_AGENTCFG_VALUE_MAX + 1];  /* for enroll */
	char bootstrap_cert[FSEC_AGENTCFG_VALUE_MAX + 1];
	char tpm_owner_auth[FSEC_AGENTCFG_VALUE_MAX + 1]; /* file with the TPM owner password */
	char tpm_parent[FSEC_AGENTCFG_VALUE_MAX + 1];     /* persistent storage key, 0x81... */
	char tcti[FSEC_AGENTCFG_VALUE_MAX + 1];           /* "": keys in files; else a TPM */
	/* The device's firmware decryption key (a path, a TSS2 blob, or a
	 * handle: a key URI), and where the image key comes from: "image"
	 * (its ENC TLV, MCUboot's per-product key) or "server" (GET
	 * /v1/firmware/SHA256/key, wrapped for this device). */
	char decrypt_key[FSEC_AGENTCFG_VALUE_MAX + 1];
	char key_delivery[16];
	size_t nfirmware_keys, nrelease_roots;
	char firmware_keys[FSEC_AGENTCFG_KEYS_MAX][FSEC_AGENTCFG_VALUE_MAX + 1];
	char release_roots[FSEC_AGENTCFG_KEYS_MAX][FSEC_AGENTCFG_VALUE_MAX + 1];
	char model[FSEC_MODEL_MAX + 1];
	char slot_a[FSEC_AGENTCFG_VALUE_MAX + 1];
	char slot_b[FSEC_AGENTCFG_VALUE_MAX + 1];
	char boot_backend[16];
	char boot_env[FSEC_AGENTCFG_VALUE_MAX + 1];
	char state_dir[FSEC_AGENTCFG_VALUE_MAX + 1];
	char debug_state[FSEC_AGENTCFG_VALUE_MAX + 1];     /* file saying jtag = / uart = */
	char debug_state_cmd[FSEC_AGENTCFG_VALUE_MAX + 1]; /* or a command printing it */
	char reboot_cmd[FSEC_AGENTCFG_VALUE_MAX + 1];      /* after an install or a rejection */
	char health_cmd[FSEC_AGENTCFG_VALUE_MAX + 1];      /* a trial's mark-good */
	unsigned long health_timeout;                      /* seconds health_cmd has */
	char counter[FSEC_AGENTCFG_VALUE_MAX + 8];
	unsigned long low_speed_limit, low_speed_time, chunk_retries;
	char max_silence[32];      /* as written: a duration */
	int64_t max_silence_secs;  /* parsed: past it without a fresh signed answer, frozen */
};

#endif
