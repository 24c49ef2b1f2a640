/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The commands an agent configuration names (agent_int.h,
 * fsec_agent_run_cmd): debug_state_cmd, reboot_cmd and health_cmd. Each is
 * a hook on the device's own hardware or services, so a hung one must not
 * stall the daemon: every one runs under a deadline, in a process group of
 * its own that goes when it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_int.h"
#include "err_int.h"

/* After the deadline's SIGTERM, how long a command has before SIGKILL (what
 * timeout -k 2 used to give it). */
#define KILL_SECONDS 2

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

FSEC_WUR enum fsec_err fsec_agent_run_cmd(const char *name, const char *cmd, int seconds,
					   unsigned char *buf, size_t cap, size_t *len)
{
	char *argv[] = {"sh", "-c", (char *)cmd, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct timespec deadline;
	sigset_t none, dflt;
	unsigned char drop[512];
	int pfd[2] = {-1, -1}, status = -1, err;
	bool timed_out = false, too_much = false, reaped = false;
	pid_t pid = -1;

	*len = 0;
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return fsec_seterr(FSEC_ERR_IO, "%s: cannot run it: %s", name, strerror(errno));
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
		return fsec_seterr(FSEC_ERR_IO, "%s: cannot run it: %s", name, strerror(err));
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += seconds;
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
		/* Output nobody asked for is read and dropped, so that a
		 * chatty hook never blocks on a full pipe. */
		n = buf != NULL ? read(pfd[0], buf + *len, cap - *len)
				: read(pfd[0], drop, sizeof(drop));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf == NULL)
			continue;
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
		deadline.tv_sec += KILL_SECONDS;
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
		return fsec_seterr(FSEC_ERR_IO, "%s: more than %zu bytes of output", name,
				   cap - 1);
	if (timed_out)
		return fsec_seterr(FSEC_ERR_IO, "%s: no answer within %d s", name, seconds);
	if (status == -1)
		return fsec_seterr(FSEC_ERR_IO, "%s: cannot run it", name);
	if (WIFSIGNALED(status))
		return fsec_seterr(FSEC_ERR_IO, "%s: it failed (killed by signal %d)", name,
				   WTERMSIG(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fsec_seterr(FSEC_ERR_IO, "%s: it failed (exit status %d)", name,
				   WEXITSTATUS(status));
	return FSEC_OK;
}

