/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's report to the server (agent_int.h): what runs, the counter,
 * the slot, how the last update went, and the debug ports' lock state.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent_int.h"
#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/states.h"
#include "kvconf_int.h"

/* A debug-state file or command output is a couple of short lines, and an
 * eFuse read takes milliseconds. */
#define DEBUG_STATE_MAX 4096
#define DEBUG_STATE_SECONDS 10
/* After the deadline's SIGTERM, how long a command has before SIGKILL (what
 * timeout -k 2 used to give it). */
#define DEBUG_STATE_KILL_SECONDS 2

/* The debug ports' lock state, as the configured file or command says it:
 * "jtag = locked|unlocked" and "uart = locked|unlocked" lines. On real
 * hardware the source reads eFuse or OTP bits. Nothing configured: both
 * stay "" and the report leaves them out. */
struct debug_state {
	char jtag[12], uart[12];
};

/* Milliseconds from now until deadline (CLOCK_MONOTONIC), 0 once past. */
static int ms_until(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms <= 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

/* Reap pid before deadline; false if it is still running then. */
static bool reap_by(pid_t pid, int *status, const struct timespec *deadline)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR) {
			*status = -1;
			return true;
		}
		if (ms_until(deadline) == 0)
			return false;
		nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000}, NULL);
	}
}

/*
 * Run debug_state_cmd and read its standard output into buf (cap bytes;
 * *len == cap means it said too much). The value is a shell command line
 * (the manual's "a command", and configurations use quotes, pipes and ';'),
 * so it goes to /bin/sh as one argv element: nothing is quoted or built
 * from it. A hung probe must not stall the daemon's updates: it gets
 * DEBUG_STATE_SECONDS, then its process group gets SIGTERM and, after
 * DEBUG_STATE_KILL_SECONDS, SIGKILL. Its stderr is dropped (the agent's
 * error is one line) and its stdin is /dev/null.
 */
static enum fsec_err run_debug_cmd(const char *cmd, unsigned char *buf, size_t cap, size_t *len)
{
	char *argv[] = {"sh", "-c", (char *)cmd, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct timespec deadline;
	sigset_t none, dflt;
	int pfd[2] = {-1, -1}, status = -1, err;
	bool timed_out = false, too_much = false, reaped = false;
	pid_t pid = -1;

	*len = 0;
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: cannot run it: %s", strerror(errno));
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	/* Its own process group, so that the deadline reaches what it started. */
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	err = posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	if (err == 0)
		err = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (err == 0)
		err = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	if (err == 0)
		err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
							      POSIX_SPAWN_SETSIGDEF);
	if (err == 0)
		err = posix_spawnattr_setpgroup(&attr, 0);
	if (err == 0)
		err = posix_spawnattr_setsigmask(&attr, &none);
	if (err == 0)
		err = posix_spawnattr_setsigdefault(&attr, &dflt);
	if (err == 0)
		err = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (err != 0) {
		close(pfd[0]);
		return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: cannot run it: %s", strerror(err));
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += DEBUG_STATE_SECONDS;
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		int left = ms_until(&deadline), r;
		ssize_t n;

		if (left == 0) {
			timed_out = true;
			break;
		}
		if ((r = poll(&p, 1, left)) <= 0) {
			if (r < 0 && errno != EINTR)
				break;
			continue;
		}
		n = read(pfd[0], buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*len += (size_t)n;
		if (*len == cap) {
			too_much = true;
			break;
		}
	}
	close(pfd[0]);
	if (!too_much && !timed_out)
		reaped = reap_by(pid, &status, &deadline);
	if (!reaped && !too_much) {
		timed_out = true;
		kill(-pid, SIGTERM);
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += DEBUG_STATE_KILL_SECONDS;
		reaped = reap_by(pid, &status, &deadline);
	}
	if (!reaped) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	/* What the shell left in the background ("cmd &") would outlive it:
	 * the group goes too. An empty group makes this a harmless ESRCH. */
	kill(-pid, SIGKILL);
	if (too_much)
		return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: more than %d bytes of output",
				   DEBUG_STATE_MAX);
	if (timed_out)
		return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: no answer within %d s",
				   DEBUG_STATE_SECONDS);
	if (status == -1)
		return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: cannot run it");
	if (WIFSIGNALED(status))
		return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: it failed (killed by signal %d)",
				   WTERMSIG(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fsec_seterr(FSEC_ERR_IO, "debug_state_cmd: it failed (exit status %d)",
				   WEXITSTATUS(status));
	return FSEC_OK;
}

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
	} else if ((rc = run_debug_cmd(src, buf, sizeof(buf), &len)) != FSEC_OK) {
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

FSEC_API enum fsec_err fsec_agent_report(struct fsec_agent *a, const char *update)
{
	struct fsec_agent_status st;
	struct fsec_fw_version ver;
	struct debug_state dbg;
	char dbg_err[256] = "";
	unsigned char *resp = NULL;
	char v[32], url[FSEC_AGENTCFG_VALUE_MAX + 16], *body = NULL, fresh_at[FSEC_TIME_LEN];
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
	if ((j = json_pack("{s:s, s:I, s:s%}", "version", v, "security_counter",
			   (json_int_t)st.counter, "slot", &st.active_slot, (size_t)1)) == NULL ||
	    (update != NULL && json_object_set_new(j, "update", json_string(update)) != 0) ||
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
