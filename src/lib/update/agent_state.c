/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's small state files (agent_int.h): one line each in state_dir,
 * replaced atomically (fsec_file_write_atomic), so that a power cut leaves
 * the old line or the new one; and the lock that keeps a second agent out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_int.h"
#include "err_int.h"
#include "fleetsec/fileio.h"

static enum fsec_err state_path(const struct fsec_agent *a, const char *name, char *buf,
				size_t cap)
{
	if ((size_t)snprintf(buf, cap, "%s/%s", a->cfg.state_dir, name) >= cap)
		return fsec_seterr(FSEC_ERR_INVAL, "state_dir is too long");
	return FSEC_OK;
}

/* Read a one-line state file; *missing when it does not exist. */
static enum fsec_err read_state(const struct fsec_agent *a, const char *name, char *line,
				size_t cap, bool *missing)
{
	char path[FSEC_AGENTCFG_VALUE_MAX + 32];
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;

	*missing = false;
	if ((rc = state_path(a, name, path, sizeof(path))) != FSEC_OK)
		return rc;
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		*missing = true;
		return FSEC_OK;
	}
	if ((rc = fsec_file_read(path, cap - 1, &buf, &len)) != FSEC_OK)
		return fsec_seterr(rc, "%s: %s", path, fsec_err_detail());
	memcpy(line, buf, len + 1);
	free(buf);
	return FSEC_OK;
}

static enum fsec_err write_state(const struct fsec_agent *a, const char *name, const char *line)
{
	char path[FSEC_AGENTCFG_VALUE_MAX + 32];
	enum fsec_err rc = state_path(a, name, path, sizeof(path));

	return rc != FSEC_OK ? rc : fsec_file_write_atomic(path, line, strlen(line), 0600, 0);
}

enum fsec_err fsec_agent_load_trust(struct fsec_agent *a, EVP_PKEY *const *pinned,
				    size_t npinned)
{
	char path[FSEC_AGENTCFG_VALUE_MAX + 32];
	unsigned char *doc = NULL;
	size_t len = 0;
	enum fsec_err rc;

	if ((rc = state_path(a, "release-root.json", path, sizeof(path))) != FSEC_OK)
		return rc;
	if (access(path, F_OK) == 0 || errno != ENOENT) {
		if ((rc = fsec_file_read(path, FSEC_RELEASE_MAX, &doc, &len)) != FSEC_OK)
			return fsec_seterr(rc, "%s: %s", path, fsec_err_detail());
	}
	rc = fsec_release_trust_new(pinned, npinned, doc, len, &a->trust);
	free(doc);
	if (rc != FSEC_OK)
		return fsec_seterr(rc, "%s: %s", path, fsec_err_detail());
	return FSEC_OK;
}

enum fsec_err fsec_agent_store_trust(const struct fsec_agent *a)
{
	const char *doc = fsec_release_trust_doc(a->trust);

	if (doc == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "no root document to store");
	return write_state(a, "release-root.json", doc);
}

enum fsec_err fsec_agent_load_seen(const struct fsec_agent *a, struct seen *s)
{
	char line[STATE_FILE_MAX];
	unsigned long long d, q;
	bool missing;
	enum fsec_err rc = read_state(a, "sequences", line, sizeof(line), &missing);

	memset(s, 0, sizeof(*s));
	if (rc != FSEC_OK || missing)
		return rc;
	if (sscanf(line, "fleetsec-sequences 1 %20llu %20llu %64[0-9a-f]\n", &d, &q, s->sha256) != 3 ||
	    strlen(s->sha256) != 64)
		return fsec_seterr(FSEC_ERR_PARSE, "%s/sequences is damaged", a->cfg.state_dir);
	s->delegation = d;
	s->sequence = q;
	return FSEC_OK;
}

enum fsec_err fsec_agent_store_seen(const struct fsec_agent *a, const struct seen *s)
{
	char line[STATE_FILE_MAX];

	snprintf(line, sizeof(line), "fleetsec-sequences 1 %llu %llu %s\n",
		 (unsigned long long)s->delegation, (unsigned long long)s->sequence, s->sha256);
	return write_state(a, "sequences", line);
}

enum fsec_err fsec_agent_load_fresh(const struct fsec_agent *a, struct fresh *f)
{
	char line[STATE_FILE_MAX];
	long long at, since;
	bool missing;
	enum fsec_err rc = read_state(a, "fresh", line, sizeof(line), &missing);

	memset(f, 0, sizeof(*f));
	if (rc != FSEC_OK || missing)
		return rc;
	if (sscanf(line, "fleetsec-fresh 1 %20lld %20lld\n", &at, &since) == 2 && at >= 0 &&
	    since >= 0) {
		f->fresh_at = at;
		f->since = since;
	}
	return FSEC_OK;
}

enum fsec_err fsec_agent_store_fresh(const struct fsec_agent *a, const struct fresh *f)
{
	char line[STATE_FILE_MAX];

	snprintf(line, sizeof(line), "fleetsec-fresh 1 %lld %lld\n", (long long)f->fresh_at,
		 (long long)f->since);
	return write_state(a, "fresh", line);
}

bool fsec_agent_past_silence(const struct fsec_agent *a, const struct fresh *f, int64_t now)
{
	int64_t last = f->fresh_at > f->since ? f->fresh_at : f->since;

	/* A clock set back is not silence; no check yet is not either. */
	return last > 0 && now > last && now - last > a->cfg.max_silence_secs;
}

/* The newest version this device has run as a permanent slot. Updates must
 * be newer than it even when the running image no longer verifies (the
 * pinned keys were rotated, or the slot was damaged): otherwise the version
 * check would fail open and accept any older image with the same counter. */
enum fsec_err fsec_agent_load_installed(const struct fsec_agent *a, struct fsec_fw_version *v,
					  bool *have)
{
	char line[STATE_FILE_MAX], ver[40];
	bool missing;
	enum fsec_err rc = read_state(a, "installed", line, sizeof(line), &missing);

	*have = false;
	if (rc != FSEC_OK || missing)
		return rc;
	if (sscanf(line, "fleetsec-installed 1 %39s\n", ver) != 1 ||
	    fsec_fw_version_parse(ver, v) != FSEC_OK)
		return fsec_seterr(FSEC_ERR_PARSE, "%s/installed is damaged", a->cfg.state_dir);
	*have = true;
	return FSEC_OK;
}

/* Raise the record to v; it never goes down. */
enum fsec_err fsec_agent_raise_installed(const struct fsec_agent *a,
					   const struct fsec_fw_version *v)
{
	struct fsec_fw_version cur;
	char line[STATE_FILE_MAX], ver[40];
	bool have;
	enum fsec_err rc = fsec_agent_load_installed(a, &cur, &have);

	if (rc != FSEC_OK || (have && fsec_fw_version_cmp(v, &cur) <= 0))
		return rc;
	snprintf(line, sizeof(line), "fleetsec-installed 1 %s\n",
		 fsec_fw_version_str(v, ver, sizeof(ver)));
	return write_state(a, "installed", line);
}

enum fsec_err fsec_agent_load_journal(const struct fsec_agent *a, struct journal *j,
					bool *missing)
{
	char line[STATE_FILE_MAX], slot[2];
	unsigned long cs;
	unsigned long long done;
	enum fsec_err rc = read_state(a, "journal", line, sizeof(line), missing);

	memset(j, 0, sizeof(*j));
	if (rc != FSEC_OK || *missing)
		return rc;
	/* A damaged journal only costs a fresh download: start over. */
	if (sscanf(line, "fleetsec-journal 1 %64[0-9a-f] %1[ab] %10lu %20llu\n", j->sha256, slot, &cs,
		   &done) != 4 ||
	    strlen(j->sha256) != 64 || cs == 0 || cs > FSEC_RELEASE_CHUNK_MAX) {
		*missing = true;
		return FSEC_OK;
	}
	j->slot = slot[0];
	j->chunk_size = (uint32_t)cs;
	j->chunks_done = done;
	return FSEC_OK;
}

enum fsec_err fsec_agent_store_journal(const struct fsec_agent *a, const struct journal *j)
{
	char line[STATE_FILE_MAX];

	snprintf(line, sizeof(line), "fleetsec-journal 1 %s %c %u %llu\n", j->sha256, j->slot,
		 j->chunk_size, (unsigned long long)j->chunks_done);
	return write_state(a, "journal", line);
}

void fsec_agent_drop_journal(const struct fsec_agent *a)
{
	char path[FSEC_AGENTCFG_VALUE_MAX + 32];

	if (state_path(a, "journal", path, sizeof(path)) == FSEC_OK && unlink(path) == 0 &&
	    fsec_dir_sync_parent(path) != FSEC_OK)
		fsec_clearerr();
}

/* Only one agent may change the device at a time: a second update or
 * confirm would interleave journal and slot writes. The lock dies with the
 * process, so a crash never leaves it held. */
enum fsec_err fsec_agent_lock(const struct fsec_agent *a, int *fd_out)
{
	char path[FSEC_AGENTCFG_VALUE_MAX + 32];
	enum fsec_err rc = state_path(a, "lock", path, sizeof(path));
	int fd;

	if (rc != FSEC_OK)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fsec_seterr(FSEC_ERR_IO, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return fsec_seterr(FSEC_ERR_BUSY, "another fleetsec-agent is updating this device");
	}
	*fd_out = fd;
	return FSEC_OK;
}

/* Whom the agent trusts with one path of its state. */
static enum fsec_err secure_path(const char *path, const struct stat *st, bool dir)
{
	uid_t me = geteuid();

	if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
		return fsec_seterr(FSEC_ERR_PERM, "%.200s: not a %s", path,
				   dir ? "directory" : "regular file");
	if (st->st_uid != me && st->st_uid != 0)
		return fsec_seterr(FSEC_ERR_PERM, "%.200s: owned by uid %lu, not by the agent (uid %lu) "
				   "or root", path, (unsigned long)st->st_uid, (unsigned long)me);
	/* Whoever may write here can reset the sequence records and the
	 * journal, so replay an old release or a half-written slot. */
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return fsec_seterr(FSEC_ERR_PERM, "%.200s: writable by %s (mode %04o); chmod go-w it",
				   path, (st->st_mode & S_IWOTH) != 0 ? "others" : "its group",
				   (unsigned)(st->st_mode & 07777));
	return FSEC_OK;
}

void fsec_agent_roots_path(const struct fsec_agentcfg *cfg, char buf[FSEC_AGENT_ROOTS_PATH_MAX])
{
	snprintf(buf, FSEC_AGENT_ROOTS_PATH_MAX, "%s/roots.pem", cfg->state_dir);
}

enum fsec_err fsec_agent_state_dir_check(const char *state_dir)
{
	static const char *const files[] = {"sequences", "installed", "journal", "lock",
					    "tamper.json", "counter", "bootenv",
					    "release-root.json", "roots.pem"};
	char path[FSEC_AGENTCFG_VALUE_MAX + 32];
	struct stat st;
	enum fsec_err rc;

	if (stat(state_dir, &st) != 0) {
		if (errno == ENOENT)
			return FSEC_OK;
		return fsec_seterr(FSEC_ERR_IO, "%.200s: %s", state_dir, strerror(errno));
	}
	if ((rc = secure_path(state_dir, &st, true)) != FSEC_OK)
		return rc;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, files[i]) >= sizeof(path))
			return fsec_seterr(FSEC_ERR_INVAL, "state_dir is too long");
		if (lstat(path, &st) != 0) {
			if (errno == ENOENT)
				continue;
			return fsec_seterr(FSEC_ERR_IO, "%.200s: %s", path, strerror(errno));
		}
		if ((rc = secure_path(path, &st, false)) != FSEC_OK)
			return rc;
	}
	return FSEC_OK;
}
