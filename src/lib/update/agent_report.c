/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's reports to the server (agent_int.h): what runs, the counter,
 * the slot, how the last update went, and the debug ports' lock state; and
 * the signed tamper report the tamper hook sends before it wipes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "agent_int.h"
#include "err_int.h"
#include "fleetsec/agentrun.h"
#include "fleetsec/fileio.h"
#include "fleetsec/states.h"
#include "fleetsec/identity.h"
#include "fleetsec/key.h"
#include "fleetsec/release.h"
#include "kvconf_int.h"
#include "pem_int.h"

/* A debug-state file or command output is a couple of short lines, and an
 * eFuse read takes milliseconds. */
#define DEBUG_STATE_MAX 4096
#define DEBUG_STATE_SECONDS 10

/* The debug ports' lock state, as the configured file or command says it:
 * "jtag = locked|unlocked" and "uart = locked|unlocked" lines. On real
 * hardware the source reads eFuse or OTP bits. Nothing configured: both
 * stay "" and the report leaves them out. */
struct debug_state {
	char jtag[12], uart[12];
};

static enum fsec_err read_debug_state(const struct fsec_agentcfg *cfg, struct debug_state *d)
{
	static const struct fsec_kv_field fields[] = {
		{"jtag", FSEC_KV_STR, offsetof(struct debug_state, jtag), 12, 0, 0, true},
		{"uart", FSEC_KV_STR, offsetof(struct debug_state, uart), 12, 0, 0, true},
	};
	const char *src = cfg->debug_state[0] != '\0' ? cfg->debug_state : cfg->debug_state_cmd;
	unsigned char buf[DEBUG_STATE_MAX + 1], *file = NULL;
	bool seen[2] = {false, false};
	enum fsec_debug_state js, us;
	size_t len = 0;
	enum fsec_err rc;

	memset(d, 0, sizeof(*d));
	if (src[0] == '\0')
		return FSEC_OK;
	if (cfg->debug_state[0] != '\0') {
		if ((rc = fsec_file_read(src, DEBUG_STATE_MAX, &file, &len)) != FSEC_OK)
			return fsec_seterr(rc, "debug_state %.200s: %s", src, fsec_err_detail());
		memcpy(buf, file, len);
		free(file);
	} else if ((rc = fsec_agent_run_cmd("debug_state_cmd", src, DEBUG_STATE_SECONDS, buf,
					      sizeof(buf), &len)) != FSEC_OK) {
		return rc;
	}
	if ((rc = fsec_kv_parse(buf, len, DEBUG_STATE_MAX, fields, 2, d, seen)) != FSEC_OK)
		return fsec_seterr(rc, "%s: %s", cfg->debug_state[0] != '\0' ? "debug_state" :
							 "debug_state_cmd", fsec_err_detail());
	/* The config's text is the edge: parsed, and "" (never said) refused. */
	if (fsec_debug_state_parse(d->jtag, &js) != FSEC_OK || js == FSEC_DEBUG_UNKNOWN ||
	    fsec_debug_state_parse(d->uart, &us) != FSEC_OK || us == FSEC_DEBUG_UNKNOWN)
		return fsec_seterr(FSEC_ERR_PARSE, "%s: jtag and uart must be locked or unlocked",
				   cfg->debug_state[0] != '\0' ? "debug_state" : "debug_state_cmd");
	return FSEC_OK;
}

/* The name a report gives each state; NONE says nothing. */
static const char *const update_names[] = {
	[FSEC_AGENT_UPDATE_NONE] = NULL,
	[FSEC_AGENT_UPDATE_DOWNLOADING] = "downloading",
	[FSEC_AGENT_UPDATE_INSTALLED] = "installed",
	[FSEC_AGENT_UPDATE_TRIAL] = "trial",
	[FSEC_AGENT_UPDATE_ROLLED_BACK] = "rolled_back",
};

FSEC_API enum fsec_err fsec_agent_report(struct fsec_agent *a, const char *update,
					 const char *reason)
{
	struct fsec_agent_status st;
	struct fsec_fw_version ver;
	struct debug_state dbg;
	struct seen seen;
	char dbg_err[256] = "";
	unsigned char *resp = NULL;
	char v[32], pv[32], url[FSEC_AGENTCFG_VALUE_MAX + 16], *body = NULL,
		fresh_at[FSEC_TIME_LEN];
	const char *image;
	size_t rlen = 0;
	bool have = false;
	json_t *j = NULL;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fsec_agent_status(a, &st)) != FSEC_OK ||
	    (rc = fsec_agent_load_seen(a, &seen)) != FSEC_OK)
		return rc;
	/* A broken debug-port source must not silence the report that says
	 * what runs and how the update went: it goes without the ports, and
	 * the error is returned afterwards. */
	if (read_debug_state(&a->cfg, &dbg) != FSEC_OK) {
		snprintf(dbg_err, sizeof(dbg_err), "%s", fsec_err_detail());
		memset(&dbg, 0, sizeof(dbg));
	}
	/* What runs: before a trial's first boot that is the old slot, not
	 * the image waiting in the other one. */
	if (st.running_valid)
		ver = st.running_version;
	else if ((rc = fsec_agent_load_installed(a, &ver, &have)) != FSEC_OK)
		return rc;
	if (!st.running_valid && !have)
		return fsec_seterr(FSEC_ERR_VERIFY, "no valid running image to report");
	/* Each outcome names its image, so that the server counts it against
	 * that release only (a device that fell back from one release says so
	 * every round, long after the next is out). A confirm has just ended
	 * the trial and its tag: the image is the release it installed. */
	image = st.image;
	if (update == NULL)
		update = update_names[st.update];
	else if (strcmp(update, "confirmed") == 0)
		image = seen.sha256;
	/* The operator reads it in release status beside the device. */
	if (reason == NULL && update != NULL && strcmp(update, "rolled_back") == 0)
		reason = "the trial boot was not confirmed: the bootloader fell back";
	fsec_fw_version_str(&ver, v, sizeof(v));
	if (st.pending_valid)
		fsec_fw_version_str(&st.pending_version, pv, sizeof(pv));
	if ((j = json_pack("{s:s, s:I, s:s%}", "version", v, "security_counter",
			   (json_int_t)st.counter, "slot", &st.running_slot, (size_t)1)) == NULL ||
	    (update != NULL && json_object_set_new(j, "update", json_string(update)) != 0) ||
	    (update != NULL && image[0] != '\0' &&
	     json_object_set_new(j, "image", json_string(image)) != 0) ||
	    (st.pending_valid && json_object_set_new(j, "pending", json_string(pv)) != 0) ||
	    (reason != NULL && json_object_set_new(j, "reason", json_string(reason)) != 0) ||
	    (dbg.jtag[0] != '\0' && (json_object_set_new(j, "jtag", json_string(dbg.jtag)) != 0 ||
				    json_object_set_new(j, "uart", json_string(dbg.uart)) != 0)) ||
	    /* Frozen or not, so that the fleet's audit sees a device nobody
	     * answers with signed statements any more. */
	    json_object_set_new(j, "freshness", json_string(st.frozen ? "frozen" : "fresh")) != 0 ||
	    (st.fresh_at > 0 &&
	     json_object_set_new(j, "fresh_at",
				 json_string(fsec_time_format(st.fresh_at, fresh_at))) != 0) ||
	    (body = json_dumps(j, JSON_COMPACT)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fsec_agent_url(a, "/v1/status", url, sizeof(url))) == FSEC_OK)
		rc = fsec_fetch_post(a->fetch, url, "application/json", body, strlen(body), 4096,
				     &resp, &rlen);
	if (rc == FSEC_OK && dbg_err[0] != '\0')
		rc = fsec_seterr(FSEC_ERR_IO, "reported without the debug-port state: %s", dbg_err);
out:
	free(resp);
	free(body);
	json_decref(j);
	return rc;
}

/* The tamper report is best effort and must not hold the wipe back: a
 * server that does not answer within this many seconds (connection, TLS,
 * the whole request) is given up on; each of the at most two requests (the
 * fleet CRL when server_crl is set, then the report) gets as long. */
#define TAMPER_REPORT_SECONDS 5

/* A key named by a path must be a regular file before it is opened: the
 * tamper hook must never block on a FIFO (or a device) put where the key
 * was, and the wipe refuses those anyway. A key the TPM holds (handle:) or
 * another URI is loaded as it is. NOTFOUND: nothing there (wiped). */
static enum fsec_err key_file_check(const char *uri)
{
	struct stat st;
	const char *path = uri;

	if (strncmp(uri, "file:", 5) == 0)
		path = uri + 5;
	else if (strchr(uri, ':') != NULL && uri[0] != '/' && uri[0] != '.')
		return FSEC_OK;
	if (lstat(path, &st) != 0)
		return fsec_seterr(errno == ENOENT ? FSEC_ERR_NOTFOUND : FSEC_ERR_IO,
				   "device key %.200s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fsec_seterr(FSEC_ERR_INVAL, "device key %.200s: not a regular file", path);
	return FSEC_OK;
}

/* The device ID in the certificate at path. */
static enum fsec_err cert_id(const char *path, char id[FSEC_DEVID_MAX + 1])
{
	X509 *cert = NULL;
	enum fsec_err rc;

	/* A certificate that is there but names no device is a failure, not
	 * the NOTFOUND of one already wiped. */
	if ((rc = fsec_pem_cert_read(path, &cert)) == FSEC_OK &&
	    (rc = fsec_identity_from_cert(cert, id)) == FSEC_ERR_NOTFOUND)
		rc = fsec_seterr(FSEC_ERR_PARSE, "device certificate %.200s: %s", path,
				 fsec_err_detail());
	if (rc == FSEC_ERR_NOTFOUND)
		rc = FSEC_ERR_IO;
	X509_free(cert);
	return rc;
}

enum fsec_err fsec_agent_tamper_report(const struct fsec_agentcfg *cfg, const char *reason,
				       int64_t now)
{
	struct fsec_fetch_opts fo = {.ca = cfg->ca, .cert = cfg->cert, .key = cfg->key,
				     .connect_timeout = TAMPER_REPORT_SECONDS,
				     .low_speed_time = TAMPER_REPORT_SECONDS,
				     .timeout = TAMPER_REPORT_SECONDS,
				     .server_crl = cfg->server_crl[0] != '\0' ? cfg->server_crl : NULL};
	struct fsec_tamper_statement st = {.at = now};
	char url[FSEC_AGENTCFG_VALUE_MAX + 16], *body = NULL;
	struct fsec_fetch *f = NULL;
	unsigned char *resp = NULL;
	EVP_PKEY *key = NULL;
	size_t rlen = 0;
	enum fsec_err rc;

	if (cfg->server[0] == '\0')
		return fsec_seterr(FSEC_ERR_INVAL, "no server configured");
	if ((size_t)snprintf(url, sizeof(url), "%s/v1/tamper", cfg->server) >= sizeof(url) ||
	    !fsec_fetch_url_ok(url))
		return fsec_seterr(FSEC_ERR_INVAL, "the server is not an https or coaps URL that fits");
	snprintf(st.reason, sizeof(st.reason), "%s", reason);
	/* Signed by the key about to go: the statement proves it came from
	 * this device, and the registry keeps it as evidence. */
	if ((rc = key_file_check(cfg->key)) != FSEC_OK ||
	    (rc = fsec_key_load_private(cfg->key, &key)) != FSEC_OK)
		goto out;
	/* Gone is NOTFOUND, as a key that is gone: a run after a wipe. */
	if (access(cfg->cert, F_OK) != 0) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no device certificate at %.200s", cfg->cert);
		goto out;
	}
	if ((rc = cert_id(cfg->cert, st.device)) != FSEC_OK ||
	    (rc = fsec_tamper_statement_sign(key, &st, &body)) != FSEC_OK)
		goto out;
	EVP_PKEY_free(key);
	key = NULL;
	if ((rc = fsec_fetch_new(&fo, &f)) == FSEC_OK)
		rc = fsec_fetch_post(f, url, "application/json", body, strlen(body), 4096, &resp,
				     &rlen);
	/* NOTFOUND says "nothing to sign with" to the caller; past the
	 * signature, a missing CA file or a 204 is a report not delivered. */
	if (rc == FSEC_ERR_NOTFOUND || rc == FSEC_ERR_BUSY)
		rc = fsec_seterr(FSEC_ERR_NET, "%s", fsec_err_detail());
out:
	free(resp);
	free(body);
	fsec_fetch_free(f);
	EVP_PKEY_free(key);
	return rc;
}

/* state_dir/enc-key.sent: one line, the SPKI SHA-256 of the encryption key
 * fleetsecd took, the device ID it took it for and the server: another
 * identity or fleet (a device re-provisioned with the same state_dir and
 * key) sends it again. */
#define ENC_KEY_SENT "enc-key.sent"

FSEC_API enum fsec_err fsec_agent_enc_key_sync(const struct fsec_agentcfg *cfg, bool *sent)
{
	char roots[FSEC_AGENT_ROOTS_PATH_MAX];
	struct fsec_fetch_opts fo = {.ca = cfg->ca, .ca_learned = roots, .cert = cfg->cert,
				     .key = cfg->key,
				     .server_crl = cfg->server_crl[0] != '\0' ? cfg->server_crl
									    : NULL};
	char spki[FSEC_SHA256_HEX_LEN], id[FSEC_DEVID_MAX + 1], *pem = NULL;
	char line[FSEC_SHA256_HEX_LEN + FSEC_DEVID_MAX + FSEC_AGENTCFG_VALUE_MAX + 4];
	char url[FSEC_AGENTCFG_VALUE_MAX + 16], path[FSEC_AGENTCFG_VALUE_MAX + 32];
	unsigned char *had = NULL, *resp = NULL;
	struct fsec_fetch *f = NULL;
	EVP_PKEY *key = NULL;
	size_t len = 0, rlen = 0;
	enum fsec_err rc;

	if (sent != NULL)
		*sent = false;
	if (strcmp(cfg->key_delivery, "server") != 0)
		return FSEC_OK;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, ENC_KEY_SENT) >=
		    sizeof(path) ||
	    (size_t)snprintf(url, sizeof(url), "%s/v1/enc-key", cfg->server) >= sizeof(url) ||
	    !fsec_fetch_url_ok(url))
		return fsec_seterr(FSEC_ERR_INVAL, "the server or state_dir is too long, or not https "
				   "or coaps");
	/* The public half only; with a TPM the private half never leaves it. */
	if ((rc = fsec_key_load_private(cfg->decrypt_key, &key)) != FSEC_OK) {
		/* Up to any '?': a pkcs11 URI's PIN is never shown. */
		rc = fsec_seterr(rc, "decrypt_key %.*s: %s",
				 (int)strcspn(cfg->decrypt_key, "?") > 200
					 ? 200
					 : (int)strcspn(cfg->decrypt_key, "?"),
				 cfg->decrypt_key, fsec_err_detail());
		goto out;
	}
	if ((rc = fsec_key_spki_sha256(key, spki)) != FSEC_OK ||
	    (rc = fsec_key_public_pem(key, &pem, &len)) != FSEC_OK ||
	    (rc = cert_id(cfg->cert, id)) != FSEC_OK)
		goto out;
	snprintf(line, sizeof(line), "%s %s %s\n", spki, id, cfg->server);
	rc = fsec_file_read(path, sizeof(line), &had, &rlen);
	if (rc == FSEC_OK && rlen == strlen(line) && memcmp(had, line, rlen) == 0)
		goto out; /* taken already */
	fsec_clearerr();
	free(had);
	had = NULL;
	rlen = 0;
	fsec_agent_roots_path(cfg, roots);
	if ((rc = fsec_fetch_new(&fo, &f)) != FSEC_OK ||
	    (rc = fsec_fetch_post(f, url, "application/x-pem-file", pem, len, 4096, &resp,
				  &rlen)) != FSEC_OK) {
		rc = fsec_seterr(FSEC_ERR_NET, "sending the firmware encryption key: %s",
				 fsec_err_detail());
		goto out;
	}
	if ((rc = fsec_file_write_atomic(path, line, strlen(line), 0600, 0)) != FSEC_OK)
		goto out;
	if (sent != NULL)
		*sent = true;
out:
	free(resp);
	free(had);
	free(pem);
	fsec_fetch_free(f);
	EVP_PKEY_free(key);
	return rc;
}
