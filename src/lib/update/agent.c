/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The update agent (agent.h). Ordering is what makes it power-fail safe:
 * a chunk is verified, written and fdatasync'd before the journal says it
 * is there; the whole slot is verified before the trial boot is requested;
 * and the counter is raised only at confirmation, after the new image has
 * booted.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <jansson.h>

#include "agentcfg_int.h"
#include "err_int.h"
#include "fault_int.h"
#include "pem_int.h"
#include "fleetsec/agent.h"
#include "fleetsec/bootctl.h"
#include "fleetsec/counter.h"
#include "kvconf_int.h"
#include "fleetsec/tamper.h"
#include "fleetsec/fetch.h"
#include "fleetsec/fileio.h"
#include "fleetsec/identity.h"
#include "fleetsec/key.h"
#include "fleetsec/release.h"

#define STATE_FILE_MAX 512

/* A debug-state file or command output is a couple of short lines, and an
 * eFuse read takes milliseconds. */
#define DEBUG_STATE_MAX 4096
#define DEBUG_STATE_SECONDS 10
/* After the deadline's SIGTERM, how long a command has before SIGKILL (what
 * timeout -k 2 used to give it). */
#define DEBUG_STATE_KILL_SECONDS 2

struct fsec_agent {
	struct fsec_agentcfg cfg;
	struct fsec_fetch *fetch;
	struct fsec_counter *counter;
	struct fsec_bootctl *boot;
	EVP_PKEY *fw_keys[FSEC_AGENTCFG_KEYS_MAX];
	EVP_PKEY *roots[FSEC_AGENTCFG_KEYS_MAX];
	size_t nfw, nroots;
	unsigned rollout_bucket; /* 0-99, from the device ID: stable across releases */
};

/* The last release installed: its sequences and image hash. */
struct seen {
	uint64_t delegation, sequence;
	char sha256[65];
};

struct journal {
	char sha256[65];
	char slot;
	uint32_t chunk_size;
	uint64_t chunks_done;
};

FSEC_API void fsec_agent_free(struct fsec_agent *a)
{
	if (a == NULL)
		return;
	fsec_fetch_free(a->fetch);
	fsec_counter_free(a->counter);
	fsec_bootctl_free(a->boot);
	for (size_t i = 0; i < a->nfw; i++)
		EVP_PKEY_free(a->fw_keys[i]);
	for (size_t i = 0; i < a->nroots; i++)
		EVP_PKEY_free(a->roots[i]);
	free(a);
}

/* A staged rollout takes percent P of the fleet: the devices whose bucket,
 * a hash of the device ID, is below P. Raising P only adds devices. */
static enum fsec_err rollout_bucket(const char *cert_path, unsigned *bucket)
{
	char id[FSEC_DEVID_MAX + 1];
	X509 *cert = NULL;
	enum fsec_err rc;

	/* The reader's reason starts with the path. */
	if ((rc = fsec_pem_cert_read(cert_path, &cert)) != FSEC_OK)
		return fsec_seterr(rc, "device certificate %s", fsec_err_detail());
	if ((rc = fsec_identity_from_cert(cert, id)) != FSEC_OK) {
		rc = fsec_seterr(rc, "device certificate %s: %s", cert_path, fsec_err_detail());
		goto out;
	}
	rc = fsec_rollout_bucket(id, bucket);
out:
	ERR_clear_error();
	X509_free(cert);
	return rc;
}

FSEC_API enum fsec_err fsec_agent_new(const struct fsec_agentcfg *cfg, struct fsec_agent **out)
{
	struct fsec_fetch_opts fo = {.ca = cfg->ca, .cert = cfg->cert, .key = cfg->key,
				     .low_speed_limit = (long)cfg->low_speed_limit,
				     .low_speed_time = (long)cfg->low_speed_time};
	struct fsec_agent *a = calloc(1, sizeof(*a));
	enum fsec_err rc;

	if (a == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	/* A wiped device says so, rather than that its key is missing. */
	if ((rc = fsec_tamper_check(cfg->state_dir)) != FSEC_OK) {
		free(a);
		return rc;
	}
	a->cfg = *cfg;
	for (; a->nfw < cfg->nfirmware_keys; a->nfw++)
		if ((rc = fsec_key_load_public(cfg->firmware_keys[a->nfw], &a->fw_keys[a->nfw])) !=
		    FSEC_OK)
			goto fail;
	for (; a->nroots < cfg->nrelease_roots; a->nroots++)
		if ((rc = fsec_key_load_public(cfg->release_roots[a->nroots],
					       &a->roots[a->nroots])) != FSEC_OK)
			goto fail;
	if ((rc = rollout_bucket(cfg->cert, &a->rollout_bucket)) != FSEC_OK)
		goto fail;
	if ((rc = fsec_fetch_new(&fo, &a->fetch)) != FSEC_OK ||
	    (rc = fsec_counter_open(cfg->counter, &a->counter)) != FSEC_OK ||
	    (rc = fsec_bootctl_open(cfg->boot_backend, cfg->boot_env, &a->boot)) != FSEC_OK)
		goto fail;
	*out = a;
	return FSEC_OK;
fail:
	fsec_agent_free(a);
	return rc;
}

/* ---- small state files ---- */

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

static enum fsec_err load_seen(const struct fsec_agent *a, struct seen *s)
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

static enum fsec_err store_seen(const struct fsec_agent *a, const struct seen *s)
{
	char line[STATE_FILE_MAX];

	snprintf(line, sizeof(line), "fleetsec-sequences 1 %llu %llu %s\n",
		 (unsigned long long)s->delegation, (unsigned long long)s->sequence, s->sha256);
	return write_state(a, "sequences", line);
}

/* The newest version this device has run as a permanent slot. Updates must
 * be newer than it even when the running image no longer verifies (the
 * pinned keys were rotated, or the slot was damaged): otherwise the version
 * check would fail open and accept any older image with the same counter. */
static enum fsec_err load_installed(const struct fsec_agent *a, struct fsec_fw_version *v,
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
static enum fsec_err raise_installed(const struct fsec_agent *a, const struct fsec_fw_version *v)
{
	struct fsec_fw_version cur;
	char line[STATE_FILE_MAX], ver[40];
	bool have;
	enum fsec_err rc = load_installed(a, &cur, &have);

	if (rc != FSEC_OK || (have && fsec_fw_version_cmp(v, &cur) <= 0))
		return rc;
	snprintf(line, sizeof(line), "fleetsec-installed 1 %s\n",
		 fsec_fw_version_str(v, ver, sizeof(ver)));
	return write_state(a, "installed", line);
}

static enum fsec_err load_journal(const struct fsec_agent *a, struct journal *j, bool *missing)
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

static enum fsec_err store_journal(const struct fsec_agent *a, const struct journal *j)
{
	char line[STATE_FILE_MAX];

	snprintf(line, sizeof(line), "fleetsec-journal 1 %s %c %u %llu\n", j->sha256, j->slot,
		 j->chunk_size, (unsigned long long)j->chunks_done);
	return write_state(a, "journal", line);
}

static void drop_journal(const struct fsec_agent *a)
{
	char path[FSEC_AGENTCFG_VALUE_MAX + 32];

	if (state_path(a, "journal", path, sizeof(path)) == FSEC_OK && unlink(path) == 0 &&
	    fsec_dir_sync_parent(path) != FSEC_OK)
		fsec_clearerr();
}

/* Only one agent may change the device at a time: a second update or
 * confirm would interleave journal and slot writes. The lock dies with the
 * process, so a crash never leaves it held. */
static enum fsec_err lock_state(const struct fsec_agent *a, int *fd_out)
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

/* ---- slots ---- */

static const char *slot_path(const struct fsec_agent *a, char slot)
{
	return slot == 'b' ? a->cfg.slot_b : a->cfg.slot_a;
}

/* Open a slot (a file or a block device) and learn its size. */
static enum fsec_err open_slot(const char *path, int flags, int *fd, uint64_t *size)
{
	struct stat st;
	int f = open(path, flags | O_CLOEXEC | O_NOCTTY);

	if (f < 0)
		return fsec_seterr(FSEC_ERR_IO, "slot %s: cannot open: %s", path, strerror(errno));
	if (fstat(f, &st) != 0)
		goto bad;
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(f, BLKGETSIZE64, size) != 0)
			goto bad;
	} else {
		close(f);
		return fsec_seterr(FSEC_ERR_IO, "slot %s: not a file or block device", path);
	}
	*fd = f;
	return FSEC_OK;
bad:
	close(f);
	return fsec_seterr(FSEC_ERR_IO, "slot %s: %s", path, strerror(errno));
}

/* Verify the image in a slot against the pinned firmware keys. len 0: the
 * image's own length (whatever follows it in the slot is not ours). */
static enum fsec_err verify_slot(struct fsec_agent *a, char slot, uint64_t len,
				 struct fsec_fw_info *info)
{
	const char *path = slot_path(a, slot);
	enum fsec_err rc = FSEC_ERR_VERIFY;
	uint64_t size = 0;
	int fd = -1;

	if ((rc = open_slot(path, O_RDONLY, &fd, &size)) != FSEC_OK)
		return rc;
	if (len == 0) {
		if ((rc = fsec_fw_inspect_fd(fd, size, info)) != FSEC_OK)
			goto out;
		len = info->tlv_end;
	} else if (len > size) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "slot %s is smaller than the image", path);
		goto out;
	}
	for (size_t i = 0; i < a->nfw; i++) {
		rc = fsec_fw_verify_fd(fd, len, a->fw_keys[i], info);
		/* Only "wrong key" sends us to the next pinned key. */
		if (rc != FSEC_ERR_WRONG_KEY)
			break;
	}
	if (rc != FSEC_OK)
		rc = fsec_seterr(rc, "slot %s: %s", path, fsec_err_detail());
out:
	close(fd);
	return rc;
}

/* ---- check ---- */

static enum fsec_err bundle_url(const struct fsec_agent *a, const char *target, char *buf,
				size_t cap)
{
	int n = target[0] == '/' ? snprintf(buf, cap, "%s%s", a->cfg.server, target)
				 : snprintf(buf, cap, "%s", target);

	if (n < 0 || (size_t)n >= cap)
		return fsec_seterr(FSEC_ERR_INVAL, "URL too long");
	if (strncmp(buf, "https://", 8) != 0)
		return fsec_seterr(FSEC_ERR_INVAL, "refusing a non-https URL");
	return FSEC_OK;
}

struct checked {
	struct fsec_release *rel;
	struct seen now; /* the release just accepted */
};

/* Fetch and verify the bundle. The stored manifest sequence may be met
 * again (a resumed download, a repeated check), but then it must be the
 * very release accepted before: one sequence, one release. */
static enum fsec_err fetch_release(struct fsec_agent *a, struct checked *c)
{
	struct fsec_release_policy pol = {.roots = a->roots, .nroots = a->nroots,
					  .model = a->cfg.model};
	const struct fsec_release_entry *e;
	struct seen seen;
	unsigned char *buf = NULL;
	char url[FSEC_AGENTCFG_VALUE_MAX * 2 + 8];
	size_t len = 0;
	enum fsec_err rc = FSEC_ERR_VERIFY;

	memset(c, 0, sizeof(*c));
	if ((rc = load_seen(a, &seen)) != FSEC_OK ||
	    (rc = bundle_url(a, a->cfg.manifest_url, url, sizeof(url))) != FSEC_OK ||
	    (rc = fsec_fetch_get(a->fetch, url, FSEC_RELEASE_MAX, &buf, &len)) != FSEC_OK)
		goto out;
	pol.last_delegation = seen.delegation;
	pol.last_sequence = seen.sequence > 0 ? seen.sequence - 1 : 0;
	if ((rc = fsec_release_verify(buf, len, &pol, &c->rel)) != FSEC_OK)
		goto out;
	e = fsec_release_entry(c->rel);
	c->now.delegation = fsec_release_delegation_sequence(c->rel);
	c->now.sequence = fsec_release_sequence(c->rel);
	fsec_hex(e->sha256, 32, c->now.sha256);
	if (c->now.delegation == seen.delegation && c->now.sequence == seen.sequence &&
	    strcmp(c->now.sha256, seen.sha256) != 0) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "sequence: manifest %llu was already accepted for "
						  "another image",
				 (unsigned long long)seen.sequence);
		goto out;
	}
	/* Remember the highest release accepted, installed or not, so that a
	 * server cannot go back to an older one (withholding a newer release,
	 * or flipping between two to keep restarting the download). */
	if ((c->now.delegation != seen.delegation || c->now.sequence != seen.sequence) &&
	    (rc = store_seen(a, &c->now)) != FSEC_OK)
		goto out;
	rc = FSEC_OK;
out:
	if (rc != FSEC_OK) {
		fsec_release_free(c->rel);
		c->rel = NULL;
	}
	free(buf);
	return rc;
}

static enum fsec_err decide(struct fsec_agent *a, const struct checked *c,
			    struct fsec_agent_check *out)
{
	const struct fsec_release_entry *e = fsec_release_entry(c->rel);
	struct fsec_boot_state bs;
	struct fsec_fw_info cur;
	struct fsec_fw_version floor;
	uint32_t counter = 0;
	char v1[32], v2[32];
	bool cur_valid, have_floor;
	enum fsec_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = fsec_bootctl_read(a->boot, &bs)) != FSEC_OK ||
	    (rc = fsec_counter_read(a->counter, &counter)) != FSEC_OK)
		return rc;
	cur_valid = verify_slot(a, bs.slot, 0, &cur) == FSEC_OK;
	fsec_clearerr();
	/* A permanent, valid slot is what the device runs: record it (this is
	 * also how a factory image gets its record, on the first check). */
	if (cur_valid && !bs.upgrade_available && (rc = raise_installed(a, &cur.version)) != FSEC_OK)
		return rc;
	if ((rc = load_installed(a, &floor, &have_floor)) != FSEC_OK)
		return rc;
	if (cur_valid && (!have_floor || fsec_fw_version_cmp(&cur.version, &floor) > 0)) {
		floor = cur.version;
		have_floor = true;
	}
	out->version = e->version;
	out->security_counter = e->security_counter;
	out->size = e->size;
	out->sequence = c->now.sequence;
	out->delegation = c->now.delegation;
	fsec_fw_version_str(&e->version, v1, sizeof(v1));
	if (have_floor)
		fsec_fw_version_str(&floor, v2, sizeof(v2));
	if (e->security_counter < counter)
		snprintf(out->reason, sizeof(out->reason),
			 "rollback refused: security counter %u is below the device's %u",
			 e->security_counter, counter);
	else if (!have_floor)
		snprintf(out->reason, sizeof(out->reason),
			 "no update: the running image does not verify and no installed version "
			 "is recorded");
	else if (fsec_fw_version_cmp(&e->version, &floor) <= 0)
		snprintf(out->reason, sizeof(out->reason),
			 "no update: release %s is not newer than the installed %s", v1, v2);
	else if (bs.upgrade_available)
		snprintf(out->reason, sizeof(out->reason),
			 "a trial boot is pending: confirm it or let it fall back first");
	else if ((int)a->rollout_bucket >= e->rollout_percent)
		snprintf(out->reason, sizeof(out->reason),
			 "not yet: release %s is rolled out to %d%% of the fleet, not this device",
			 v1, e->rollout_percent);
	else if (strcmp(bs.trial_tag, c->now.sha256) == 0)
		/* The boot environment remembers this image's trial, and confirm
		 * would have cleared it: the trial failed and the bootloader fell
		 * back. Retrying would only loop, whatever manifest carries it. */
		snprintf(out->reason, sizeof(out->reason),
			 "no update: release %s failed its trial boot; waiting for a newer one", v1);
	else {
		out->applies = true;
		snprintf(out->reason, sizeof(out->reason), "update %s -> %s available", v2, v1);
	}
	return FSEC_OK;
}

/* fleetsecd answers 204 when nothing is published for this device (or it
 * is outside a staged rollout): an answer, not a failure. */
static bool nothing_published(enum fsec_err rc, struct fsec_agent_check *out)
{
	if (rc != FSEC_ERR_NOTFOUND)
		return false;
	memset(out, 0, sizeof(*out));
	snprintf(out->reason, sizeof(out->reason),
		 "no update: the server has no release for this device");
	fsec_clearerr();
	return true;
}

FSEC_API enum fsec_err fsec_agent_check(struct fsec_agent *a, struct fsec_agent_check *out)
{
	struct checked c;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fetch_release(a, &c)) != FSEC_OK)
		return nothing_published(rc, out) ? FSEC_OK : rc;
	rc = decide(a, &c, out);
	fsec_release_free(c.rel);
	return rc;
}

/* ---- update ---- */

static enum fsec_err pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return fsec_seterr(FSEC_ERR_IO, "slot write failed: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return FSEC_OK;
}

/*
 * Received bytes go straight into the slot and the chunk's hash: no chunk
 * buffer, so memory does not grow with the chunk size. Bytes that fail the
 * hash are harmless there: the slot is inactive, the journal does not count
 * them, and the retry or the next run overwrites them.
 */
struct chunk_sink {
	int fd;
	uint64_t off, end; /* next byte to write; the chunk's end */
	bool torn;         /* fault injection: cut at torn_at */
	uint64_t torn_at;
	EVP_MD_CTX *md;
};

static enum fsec_err chunk_sink(const unsigned char *p, size_t n, void *ctx)
{
	struct chunk_sink *c = ctx;
	enum fsec_err rc;

	/* fsec_fetch_range never delivers more than asked; this keeps a bug
	 * there from writing past the chunk. */
	if (n > c->end - c->off)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "chunk overflow");
	if (c->torn && n >= c->torn_at - c->off) {
		/* Only the part before torn_at reaches storage. */
		if (pwrite_all(c->fd, p, (size_t)(c->torn_at - c->off), c->off) == FSEC_OK)
			fdatasync(c->fd);
		fsec_fault_die();
	}
	if ((rc = pwrite_all(c->fd, p, n, c->off)) != FSEC_OK)
		return rc;
	if (!EVP_DigestUpdate(c->md, p, n))
		return fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
	c->off += n;
	return FSEC_OK;
}

/* After the image, the slot must read as erased flash: a previous image's
 * trailer (image_ok, say) left behind would otherwise speak for this one. */
static enum fsec_err erase_tail(int fd, uint64_t from, uint64_t to)
{
	unsigned char ff[65536];
	enum fsec_err rc = FSEC_OK;
	enum fsec_fault fault = fsec_fault_point("slot tail");

	memset(ff, 0xff, sizeof(ff));
	for (uint64_t off = from; rc == FSEC_OK && off < to; off += sizeof(ff)) {
		size_t n = to - off < sizeof(ff) ? (size_t)(to - off) : sizeof(ff);

		rc = pwrite_all(fd, ff, n, off);
		if (fault == FSEC_FAULT_TORN)
			fsec_fault_die();
	}
	if (rc == FSEC_OK && fdatasync(fd) != 0)
		rc = fsec_seterr(FSEC_ERR_IO, "slot sync failed: %s", strerror(errno));
	if (rc == FSEC_OK && fault == FSEC_FAULT_AFTER)
		fsec_fault_die();
	return rc;
}

/* SHA-256 of the first len bytes of the slot. */
static enum fsec_err hash_slot(int fd, uint64_t len, unsigned char md[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *buf = malloc(256 * 1024);
	enum fsec_err rc = FSEC_OK;

	if (ctx == NULL || buf == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (uint64_t off = 0; rc == FSEC_OK && off < len;) {
		size_t want = len - off < 256 * 1024 ? (size_t)(len - off) : 256 * 1024;
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = fsec_seterr(FSEC_ERR_IO, "slot read failed: %s",
					 n == 0 ? "short" : strerror(errno));
		else if (!EVP_DigestUpdate(ctx, buf, (size_t)n))
			rc = fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
		else
			off += (uint64_t)n;
	}
	if (rc == FSEC_OK && !EVP_DigestFinal_ex(ctx, md, NULL))
		rc = fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* Download chunks [j->chunks_done, nchunks) of e into fd. */
static enum fsec_err download(struct fsec_agent *a, const struct fsec_release_entry *e, int fd,
			      struct journal *j, fsec_agent_progress_cb cb, void *ctx)
{
	struct chunk_sink cs = {.fd = fd, .md = EVP_MD_CTX_new()};
	char url[FSEC_AGENTCFG_VALUE_MAX + FSEC_RELEASE_URL_MAX + 8];
	enum fsec_err rc = FSEC_OK;

	if (cs.md == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = bundle_url(a, e->urls[0], url, sizeof(url))) != FSEC_OK)
		goto out;
	for (uint64_t i = j->chunks_done; i < e->nchunks; i++) {
		uint64_t off = i * e->chunk_size;
		uint64_t n = e->size - off < e->chunk_size ? e->size - off : e->chunk_size;
		unsigned char md[32];
		unsigned long tries = 0;
		/* The chunk's slot write is one durable write for the harness:
		 * cut before it, after it, or torn halfway through it. */
		enum fsec_fault fault = fsec_fault_point("slot");

		cs.torn = fault == FSEC_FAULT_TORN;
		cs.torn_at = off + n / 2;
		for (;;) {
			cs.off = off;
			cs.end = off + n;
			if (!EVP_DigestInit_ex(cs.md, EVP_sha256(), NULL))
				rc = fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
			else
				rc = fsec_fetch_range(a->fetch, url, off, n, chunk_sink, &cs);
			if (rc == FSEC_OK && !EVP_DigestFinal_ex(cs.md, md, NULL))
				rc = fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
			if (rc == FSEC_OK && CRYPTO_memcmp(md, e->chunks[i], 32) != 0)
				rc = fsec_seterr(FSEC_ERR_VERIFY, "chunk %llu of %zu fails its hash",
						 (unsigned long long)i, e->nchunks);
			/* Hash failures are re-fetched; a wrong-size or hostile
			 * response is not retried. */
			if (rc != FSEC_ERR_VERIFY || ++tries > a->cfg.chunk_retries)
				break;
		}
		if (rc != FSEC_OK) {
			if (rc == FSEC_ERR_VERIFY)
				rc = fsec_seterr(rc, "%s (after %lu tries)", fsec_err_detail(), tries);
			goto out;
		}
		/* Data on disk before the journal says so. */
		if (fdatasync(fd) != 0) {
			rc = fsec_seterr(FSEC_ERR_IO, "slot sync failed: %s", strerror(errno));
			goto out;
		}
		if (fault == FSEC_FAULT_AFTER)
			fsec_fault_die();
		j->chunks_done = i + 1;
		if ((rc = store_journal(a, j)) != FSEC_OK)
			goto out;
		if (cb != NULL)
			cb(off + n, e->size, ctx);
	}
out:
	EVP_MD_CTX_free(cs.md);
	return rc;
}

FSEC_API enum fsec_err fsec_agent_update(struct fsec_agent *a, fsec_agent_progress_cb cb,
					 void *ctx, struct fsec_agent_check *chk_out, bool *started)
{
	struct fsec_agent_check chk;
	const struct fsec_release_entry *e;
	struct fsec_boot_state bs;
	struct fsec_fw_info info;
	struct journal j;
	struct checked c;
	bool missing = true;
	uint64_t slot_size = 0;
	enum fsec_err rc;
	char target;
	int fd = -1, lock = -1;

	fsec_clearerr();
	*started = false;
	if ((rc = lock_state(a, &lock)) != FSEC_OK)
		return rc;
	if ((rc = fetch_release(a, &c)) != FSEC_OK) {
		close(lock);
		if (!nothing_published(rc, &chk))
			return rc;
		if (chk_out != NULL)
			*chk_out = chk;
		return FSEC_OK;
	}
	if ((rc = decide(a, &c, &chk)) != FSEC_OK)
		goto out;
	if (chk_out != NULL)
		*chk_out = chk;
	if (!chk.applies) {
		/* Nothing to do; a journal left by an install that completed
		 * (or a release since withdrawn) has nothing to resume. */
		drop_journal(a);
		goto out;
	}
	e = fsec_release_entry(c.rel);
	if ((rc = fsec_bootctl_read(a->boot, &bs)) != FSEC_OK)
		goto out;
	target = bs.slot == 'a' ? 'b' : 'a';
	if ((rc = load_journal(a, &j, &missing)) != FSEC_OK)
		goto out;
	if (missing || strcmp(j.sha256, c.now.sha256) != 0 || j.slot != target ||
	    j.chunk_size != e->chunk_size || j.chunks_done > e->nchunks) {
		memset(&j, 0, sizeof(j));
		memcpy(j.sha256, c.now.sha256, sizeof(j.sha256));
		j.slot = target;
		j.chunk_size = e->chunk_size;
		if ((rc = store_journal(a, &j)) != FSEC_OK)
			goto out;
	}
	if ((rc = open_slot(slot_path(a, target), O_RDWR, &fd, &slot_size)) != FSEC_OK)
		goto out;
	if (e->size > slot_size) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "the release is %llu bytes, slot %c holds %llu",
				 (unsigned long long)e->size, target, (unsigned long long)slot_size);
		goto out;
	}
	if ((rc = download(a, e, fd, &j, cb, ctx)) != FSEC_OK)
		goto out;
	if ((rc = erase_tail(fd, e->size, slot_size)) != FSEC_OK)
		goto out;
	/* Chunks written by an earlier run were checked then, not now: the
	 * whole image must still be the one the manifest signed. */
	{
		unsigned char md[32];

		if ((rc = hash_slot(fd, e->size, md)) != FSEC_OK)
			goto out;
		if (CRYPTO_memcmp(md, e->sha256, 32) != 0) {
			rc = fsec_seterr(FSEC_ERR_VERIFY, "the slot does not hold the released image "
							  "(SHA-256 differs); it will be downloaded again");
			goto bad_image;
		}
	}
	close(fd);
	fd = -1;
	/* The whole slot as MCUboot will see it, against the pinned keys, and
	 * it must be the image the manifest describes. */
	if ((rc = verify_slot(a, target, e->size, &info)) != FSEC_OK)
		goto bad_image;
	if (fsec_fw_version_cmp(&info.version, &e->version) != 0 ||
	    (info.has_security_counter ? info.security_counter : 0) != e->security_counter) {
		rc = fsec_seterr(FSEC_ERR_VERIFY,
				 "the image's version or security counter differs from the manifest's");
		goto bad_image;
	}
	if ((rc = fsec_bootctl_trial(a->boot, target, c.now.sha256)) != FSEC_OK)
		goto out;
	drop_journal(a);
	*started = true;
	goto out;
bad_image:
	/* Nothing to resume into: the next attempt starts from scratch. */
	drop_journal(a);
out:
	if (fd >= 0)
		close(fd);
	close(lock);
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
	if ((rc = lock_state(a, &lock)) != FSEC_OK)
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
	if ((rc = verify_slot(a, bs.slot, 0, &info)) != FSEC_OK)
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
		rc = raise_installed(a, &info.version);
out:
	close(lock);
	return rc;
}

FSEC_API enum fsec_err fsec_agent_status(struct fsec_agent *a, struct fsec_agent_status *out)
{
	struct fsec_boot_state bs;
	struct fsec_fw_info info;
	struct journal j;
	struct seen seen;
	bool missing = true;
	enum fsec_err rc;

	fsec_clearerr();
	memset(out, 0, sizeof(*out));
	if ((rc = fsec_bootctl_read(a->boot, &bs)) != FSEC_OK ||
	    (rc = fsec_counter_read(a->counter, &out->counter)) != FSEC_OK ||
	    (rc = load_seen(a, &seen)) != FSEC_OK || (rc = load_journal(a, &j, &missing)) != FSEC_OK)
		return rc;
	out->active_slot = bs.slot;
	out->trial = bs.upgrade_available;
	/* confirm clears the trial's tag; one left without a pending trial is
	 * a trial the bootloader gave up on. */
	out->rolled_back = bs.trial_tag[0] != '\0' && !bs.upgrade_available;
	out->last_sequence = seen.sequence;
	out->last_delegation = seen.delegation;
	if (verify_slot(a, bs.slot, 0, &info) == FSEC_OK) {
		out->active_valid = true;
		out->active_version = info.version;
		out->active_security_counter = info.has_security_counter ? info.security_counter : 0;
	}
	fsec_clearerr();
	if (!missing) {
		out->downloading = true;
		out->download_done = j.chunks_done * j.chunk_size;
	}
	return FSEC_OK;
}

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
	else if ((rc = load_installed(a, &ver, &have)) != FSEC_OK)
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
	    (body = json_dumps(j, JSON_COMPACT)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = bundle_url(a, "/v1/status", url, sizeof(url))) == FSEC_OK)
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
