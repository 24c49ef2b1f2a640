/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's report to the server (agent_int.h): what runs, the counter,
 * the slot, how the last update went, and the debug ports' lock state.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "agent_int.h"
#include "err_int.h"
#include "fleetsec/fileio.h"
#include "kvconf_int.h"

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
	} else {
		/* Under timeout(1): a hung probe must not stall the daemon's
		 * updates. The command is quoted for sh: ' becomes '\''. */
		char cmd[sizeof(cfg->debug_state_cmd) * 4 + 64], *o = cmd;
		FILE *p;
		int status;

		/* Its stderr is dropped: the agent's error is one line. */
		o += sprintf(o, "exec 2>/dev/null; exec timeout -k 2 %d /bin/sh -c '",
			     DEBUG_STATE_SECONDS);
		for (const char *c = src; *c != '\0'; c++)
			o += *c == '\'' ? sprintf(o, "'\\''") : sprintf(o, "%c", *c);
		strcpy(o, "'");
		if ((p = popen(cmd, "re")) == NULL)
			return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: cannot run it: %s",
					   strerror(errno));
		len = fread(buf, 1, sizeof(buf), p);
		status = pclose(p);
		if (len > DEBUG_STATE_MAX)
			return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: more than %d bytes of output",
					   DEBUG_STATE_MAX);
		if (status == -1)
			return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: cannot run it");
		/* timeout(1) exits 124 on its deadline, 137 when it had to kill. */
		if (!WIFEXITED(status) || WEXITSTATUS(status) == 124 || WEXITSTATUS(status) == 137)
			return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: no answer within %d s",
					   DEBUG_STATE_SECONDS);
		if (WEXITSTATUS(status) != 0)
			return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: it failed (exit status %d)",
					   WEXITSTATUS(status));
	}
	if ((rc = fsec_kv_parse(buf, len, DEBUG_STATE_MAX, fields, 2, d, seen)) != FSEC_OK)
		return fsec_seterr(rc, "%s: %s", cfg->debug_state[0] != '\0' ? "debug_state" :
							 "debug_state_cmd", fsec_err_detail());
	if ((strcmp(d->jtag, "locked") != 0 && strcmp(d->jtag, "unlocked") != 0) ||
	    (strcmp(d->uart, "locked") != 0 && strcmp(d->uart, "unlocked") != 0))
		return fsec_seterr(FSEC_ERR_PARSE, "%s: jtag and uart must be locked or unlocked",
				   cfg->debug_state[0] != '\0' ? "debug_state" : "debug_state_cmd");
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_agent_report(struct fsec_agent *a, const char *update)
{
	struct fsec_agent_status st;
	struct fsec_fw_version ver;
	struct debug_state dbg;
	char dbg_err[256] = "";
	unsigned char *resp = NULL;
	char v[32], url[FSEC_AGENTCFG_VALUE_MAX + 16], *body = NULL;
	size_t rlen = 0;
	bool have = false;
	json_t *j = NULL;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fsec_agent_status(a, &st)) != FSEC_OK)
		return rc;
	/* A broken debug-port source must not silence the report that says
	 * what runs and how the update went: it goes without the ports, and
	 * the error is returned afterwards. */
	if (read_debug_state(&a->cfg, &dbg) != FSEC_OK) {
		snprintf(dbg_err, sizeof(dbg_err), "%s", fsec_err_detail());
		memset(&dbg, 0, sizeof(dbg));
	}
	if (st.active_valid)
		ver = st.active_version;
	else if ((rc = fsec_agent_load_installed(a, &ver, &have)) != FSEC_OK)
		return rc;
	if (!st.active_valid && !have)
		return fsec_seterr(FSEC_ERR_VERIFY, "no valid running image to report");
	if (update == NULL)
		update = st.trial ? "installed" : st.rolled_back ? "rolled_back" : NULL;
	fsec_fw_version_str(&ver, v, sizeof(v));
	if ((j = json_pack("{s:s, s:I, s:s#}", "version", v, "security_counter",
			   (json_int_t)st.counter, "slot", &st.active_slot, (size_t)1)) == NULL ||
	    (update != NULL && json_object_set_new(j, "update", json_string(update)) != 0) ||
	    (dbg.jtag[0] != '\0' && (json_object_set_new(j, "jtag", json_string(dbg.jtag)) != 0 ||
				    json_object_set_new(j, "uart", json_string(dbg.uart)) != 0)) ||
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
