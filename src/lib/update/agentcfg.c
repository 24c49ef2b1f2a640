/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's configuration file (agentcfg.h), on the shared
 * `key = value` grammar. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentcfg_int.h"
#include "err_int.h"
#include "fleetsec/fetch.h"
#include "fleetsec/fileio.h"
#include "fleetsec/names.h"
#include "kvconf_int.h"

#define STRF(n, req)                                                                       \
	{#n, FSEC_KV_STR, offsetof(struct fsec_agentcfg, n), sizeof(((struct fsec_agentcfg *)0)->n), \
	 0, 0, req}
#define NUMF(n, mx) {#n, FSEC_KV_NUM, offsetof(struct fsec_agentcfg, n), 0, 0, mx, false}
#define LISTF(n, arr, cnt)                                                                      \
	{#n, FSEC_KV_LIST, offsetof(struct fsec_agentcfg, arr), FSEC_AGENTCFG_VALUE_MAX + 1,          \
	 offsetof(struct fsec_agentcfg, cnt), FSEC_AGENTCFG_KEYS_MAX, true}

static const struct fsec_kv_field fields[] = {
	STRF(server, true),
	STRF(manifest_url, false),
	STRF(roots_url, false),
	STRF(server_crl, false),
	STRF(ca, true),
	STRF(key, true),
	STRF(cert, true),
	STRF(bootstrap_key, false),
	STRF(bootstrap_cert, false),
	STRF(tcti, false),
	STRF(tpm_owner_auth, false),
	STRF(tpm_parent, false),
	LISTF(firmware_key, firmware_keys, nfirmware_keys),
	STRF(decrypt_key, false),
	STRF(key_delivery, false),
	LISTF(release_root, release_roots, nrelease_roots),
	STRF(model, true),
	STRF(slot_a, true),
	STRF(slot_b, true),
	STRF(boot_backend, true),
	STRF(boot_env, false),
	STRF(state_dir, true),
	STRF(counter, false),
	STRF(debug_state, false),
	STRF(debug_state_cmd, false),
	STRF(reboot_cmd, false),
	STRF(health_cmd, false),
	NUMF(health_timeout, 3600),
	NUMF(low_speed_limit, 1UL << 30),
	NUMF(low_speed_time, 3600),
	NUMF(chunk_retries, 100),
	STRF(max_silence, false),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* Values the device must not take on trust, checked after parsing. */
static enum fsec_err check(struct fsec_agentcfg *c)
{
	if (!fsec_fetch_url_ok(c->server))
		return fsec_seterr(FSEC_ERR_PARSE, "server must be an https:// or coaps:// URL");
	if (strcmp(c->boot_backend, "file") != 0 && strcmp(c->boot_backend, "uboot") != 0 &&
	    strcmp(c->boot_backend, "grub") != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "boot_backend must be file, uboot or grub");
	if (c->tpm_parent[0] != '\0' && c->tcti[0] == '\0')
		return fsec_seterr(FSEC_ERR_PARSE, "tpm_parent needs tcti (the TPM that holds it)");
	if (c->debug_state[0] != '\0' && c->debug_state_cmd[0] != '\0')
		return fsec_seterr(FSEC_ERR_PARSE, "debug_state and debug_state_cmd: one or the other");
	if (c->key_delivery[0] == '\0')
		memcpy(c->key_delivery, "image", sizeof("image"));
	if (strcmp(c->key_delivery, "image") != 0 && strcmp(c->key_delivery, "server") != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "key_delivery must be image or server");
	if (strcmp(c->key_delivery, "server") == 0 && c->decrypt_key[0] == '\0')
		return fsec_seterr(FSEC_ERR_PARSE, "key_delivery = server needs decrypt_key");
	if (strcmp(c->slot_a, c->slot_b) == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "slot_a and slot_b must differ");
	if (c->health_timeout == 0)
		return fsec_seterr(FSEC_ERR_PARSE, "health_timeout: 1-3600 seconds");
	if (c->model[0] != '\0' && !fsec_model_valid(c->model))
		return fsec_seterr(FSEC_ERR_PARSE, "model: use A-Z a-z 0-9 . _ -");
	return FSEC_OK;
}

/* server_crl: default /crl on the server itself, "off", a path on the
 * server, or an https URL; resolved in place to a URL, or "" for off. */
static enum fsec_err resolve_crl(struct fsec_agentcfg *c)
{
	char url[sizeof(c->server_crl)];
	int n;

	if (strcmp(c->server_crl, "off") == 0) {
		c->server_crl[0] = '\0';
		return FSEC_OK;
	}
	if (c->server_crl[0] == '\0' || c->server_crl[0] == '/')
		n = snprintf(url, sizeof(url), "%s%s", c->server,
			     c->server_crl[0] != '\0' ? c->server_crl : "/crl");
	else
		n = snprintf(url, sizeof(url), "%s", c->server_crl);
	if (n < 0 || (size_t)n >= sizeof(url))
		return fsec_seterr(FSEC_ERR_PARSE, "server_crl: the URL is too long");
	if (!fsec_fetch_url_ok(url))
		return fsec_seterr(FSEC_ERR_PARSE, "server_crl: a path, an https:// or coaps:// URL, "
				   "or off");
	memcpy(c->server_crl, url, (size_t)n + 1);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_agentcfg_new(struct fsec_agentcfg **out)
{
	struct fsec_agentcfg *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	*out = c;
	return FSEC_OK;
}

FSEC_API void fsec_agentcfg_free(struct fsec_agentcfg *cfg)
{
	/* Paths only, no secrets (the owner password stays in its file). */
	free(cfg);
}

FSEC_API enum fsec_err fsec_agentcfg_parse(const unsigned char *buf, size_t len,
					   struct fsec_agentcfg *out)
{
	struct fsec_agentcfg *c = calloc(1, sizeof(*c));
	bool seen[NFIELDS] = {false};
	enum fsec_err rc;

	if (c == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	c->low_speed_limit = 1024;
	c->low_speed_time = 30;
	c->chunk_retries = 3;
	c->health_timeout = 60;
	if ((rc = fsec_kv_parse(buf, len, FSEC_AGENTCFG_MAX, fields, NFIELDS, c, seen)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_PARSE;
	if ((rc = check(c)) != FSEC_OK)
		goto out;
	/* A week: a device that has heard no fresh signed answer (manifest or
	 * "nothing new") for that long is frozen, by an attacker or by a
	 * fleet nobody re-signs for; either way someone must look. */
	c->max_silence_secs = 7 * 86400;
	if (c->max_silence[0] != '\0' &&
	    (fsec_duration_parse(c->max_silence, &c->max_silence_secs) != FSEC_OK ||
	     c->max_silence_secs < 3600 || c->max_silence_secs > 3650LL * 86400)) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "max_silence: a duration from 1h to 3650d, like 7d");
		goto out;
	}
	if (c->manifest_url[0] == '\0')
		snprintf(c->manifest_url, sizeof(c->manifest_url), "/v1/update");
	if (c->roots_url[0] == '\0')
		snprintf(c->roots_url, sizeof(c->roots_url), "/v1/roots");
	if ((rc = resolve_crl(c)) != FSEC_OK)
		goto out;
	if (c->counter[0] == '\0' &&
	    (size_t)snprintf(c->counter, sizeof(c->counter), "file:%s/counter", c->state_dir) >=
		    sizeof(c->counter)) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "state_dir is too long");
		goto out;
	}
	/* A bootloader's own environment has no sensible default: a trial
	 * written where the bootloader never looks would silently do nothing. */
	if (c->boot_env[0] == '\0' && strcmp(c->boot_backend, "file") != 0) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "boot_env is required with the %s backend",
				 c->boot_backend);
		goto out;
	}
	if (c->boot_env[0] == '\0' &&
	    (size_t)snprintf(c->boot_env, sizeof(c->boot_env), "%s/bootenv", c->state_dir) >=
		    sizeof(c->boot_env)) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "state_dir is too long");
		goto out;
	}
	*out = *c;
	rc = FSEC_OK;
out:
	free(c);
	return rc;
}

FSEC_API enum fsec_err fsec_agentcfg_load(struct fsec_agentcfg *cfg, const char *path)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc = fsec_file_read(path, FSEC_AGENTCFG_MAX, &buf, &len);

	if (rc == FSEC_OK)
		rc = fsec_agentcfg_parse(buf, len, cfg);
	free(buf);
	return rc;
}

FSEC_API const char *fsec_agentcfg_get_key(const struct fsec_agentcfg *cfg)
{
	return cfg->key;
}

FSEC_API const char *fsec_agentcfg_get_cert(const struct fsec_agentcfg *cfg)
{
	return cfg->cert;
}

FSEC_API const char *fsec_agentcfg_get_tcti(const struct fsec_agentcfg *cfg)
{
	return cfg->tcti;
}

FSEC_API const char *fsec_agentcfg_get_state_dir(const struct fsec_agentcfg *cfg)
{
	return cfg->state_dir;
}
