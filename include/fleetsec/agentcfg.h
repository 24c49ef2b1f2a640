/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The update agent's configuration: `key = value` lines in the manner of
 * WireGuard's config files; `#` starts a comment, blank lines are ignored,
 * and a key given twice is an error except the repeatable ones.
 *
 *   server       = https://updates.example:8443     update server (https only)
 *   manifest_url = /v1/update                        path or URL of the release bundle
 *   roots_url    = /v1/roots                         path or URL of the chain of release-root
 *                                                    documents (a rotated release_root)
 *   server_crl   = /crl                              path or URL of the fleet CRL the server's
 *                                                    certificate is checked against; off: none
 *   ca           = /etc/fleetsec/ca.pem              CA that signs the server's certificate
 *   key          = /etc/fleetsec/device.key          device key: path or OpenSSL URI
 *   cert         = /etc/fleetsec/device.pem          device certificate (mutual TLS)
 *   firmware_key = /etc/fleetsec/fw.pub              pinned image key (repeatable, up to 4)
 *   release_root = /etc/fleetsec/release-root.pub    pinned release root (repeatable, up to 4)
 *   model        = thermostat-v2
 *   slot_a       = /dev/mmcblk0p2                    block device or file
 *   slot_b       = /dev/mmcblk0p3
 *   boot_backend = file                              file, uboot or grub
 *   boot_env     = /var/lib/fleetsec/bootenv         backend's environment (file backend)
 *   state_dir    = /var/lib/fleetsec                 journal, sequences, counter
 *   counter      = file:/var/lib/fleetsec/counter    anti-rollback counter (default in state_dir);
 *                  tpm:0x01500100                    or in TPM NV indices 0x01500100 and ..101
 *   low_speed_limit = 1024                           bytes/s below which a transfer ...
 *   low_speed_time  = 30                             ... for this many seconds is abandoned
 *   chunk_retries   = 3                              re-fetches of a chunk that fails its hash
 *   max_silence     = 7d                             frozen past this without a fresh signed
 *                                                    answer (manifest or "nothing new"): 1h-3650d
 *   tcti            = device:/dev/tpmrm0             keep the device key in this TPM 2.0
 *   tpm_owner_auth  = /etc/fleetsec/tpm-owner        the TPM owner password (NV counter, evict)
 *   tpm_parent      = 0x81000001                     make TPM keys under this persistent SRK
 *   debug_state     = /run/fleetsec/debug            debug-port lock state, reported to the
 *   debug_state_cmd = /usr/libexec/read-efuse        server: a file, or a command's output,
 *                                                    of "jtag = locked|unlocked" and
 *                                                    "uart = locked|unlocked" lines
 *   reboot_cmd      = systemctl reboot               run after an install (the daemon and
 *                                                    update) and after a rejected trial
 *   health_cmd      = /usr/libexec/app-healthy       after a trial boot, before the daemon
 *                                                    confirms: exit 0 confirms, else the
 *                                                    trial is rejected (mark-good)
 *   health_timeout  = 60                             seconds health_cmd has: 1-3600
 */
#ifndef FLEETSEC_AGENTCFG_H
#define FLEETSEC_AGENTCFG_H

#include <stddef.h>

#include "fleetsec/common.h"

#define FSEC_AGENTCFG_MAX (64u * 1024u)
#define FSEC_AGENTCFG_VALUE_MAX 1024
#define FSEC_AGENTCFG_KEYS_MAX 4

/* The parsed configuration: opaque (agentcfg_int.h inside the library). */
struct fsec_agentcfg;

/* An empty configuration, to parse or load into. The caller frees it with
 * fsec_agentcfg_free. Errors: NOMEM. Thread-safe. */
FSEC_API FSEC_WUR enum fsec_err fsec_agentcfg_new(struct fsec_agentcfg **out);

/* NULL is a no-op. */
FSEC_API void fsec_agentcfg_free(struct fsec_agentcfg *cfg);

/*
 * Parse a configuration of at most FSEC_AGENTCFG_MAX bytes into cfg. Required: server,
 * key, cert, ca, at least one firmware_key and release_root, model, slot_a,
 * slot_b, boot_backend, state_dir. Optional: bootstrap_key and
 * bootstrap_cert (the factory credential enroll uses). Defaults: manifest_url "/v1/update",
 * roots_url "/v1/roots", server_crl "/crl",
 * counter "file:STATE_DIR/counter", boot_env "STATE_DIR/bootenv",
 * low_speed_limit 1024, low_speed_time 30, chunk_retries 3, max_silence 7d,
 * health_timeout 60.
 * cfg is replaced only on success; on failure it keeps what it held.
 * Errors: TOO_LARGE, PARSE (with the line number and the key), NOMEM.
 * Thread-safe on distinct cfg.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_agentcfg_parse(const unsigned char *buf, size_t len,
						    struct fsec_agentcfg *cfg) FSEC_NONNULL(1, 3);

/* Read the file at path (at most FSEC_AGENTCFG_MAX bytes) and parse it into
 * cfg, as fsec_agentcfg_parse. Errors: as fsec_agentcfg_parse, plus IO and
 * NOTFOUND for the file. */
FSEC_API FSEC_WUR enum fsec_err fsec_agentcfg_load(struct fsec_agentcfg *cfg, const char *path)
	FSEC_NONNULL(1, 2);

/* Borrowed values of the keys of the same name, valid while cfg lives and
 * is not parsed into again: the device key (a path or an OpenSSL URI), the
 * device certificate, the TPM's TCTI ("" when keys live in files), and the
 * state directory. Thread-safe. */
FSEC_API const char *fsec_agentcfg_get_key(const struct fsec_agentcfg *cfg) FSEC_NONNULL(1);
FSEC_API const char *fsec_agentcfg_get_cert(const struct fsec_agentcfg *cfg) FSEC_NONNULL(1);
FSEC_API const char *fsec_agentcfg_get_tcti(const struct fsec_agentcfg *cfg) FSEC_NONNULL(1);
FSEC_API const char *fsec_agentcfg_get_state_dir(const struct fsec_agentcfg *cfg)
	FSEC_NONNULL(1);

#endif
