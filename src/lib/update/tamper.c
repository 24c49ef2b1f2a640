/* SPDX-License-Identifier: Apache-2.0 */
/* Tamper response: wipe the device's secrets, record that it happened. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/tamper.h"
#include "tpm_int.h"

#define RECORD_MAX (64u * 1024u)

static enum fsec_err record_path(const char *state_dir, char *buf, size_t cap)
{
	if (state_dir == NULL || state_dir[0] == '\0')
		return fsec_seterr(FSEC_ERR_INVAL, "no state_dir for the tamper record");
	if ((size_t)snprintf(buf, cap, "%s/tamper.json", state_dir) >= cap)
		return fsec_seterr(FSEC_ERR_INVAL, "state_dir is too long");
	return FSEC_OK;
}

static enum fsec_err record_write(const char *path, const char *state, const char *when,
				  const struct fsec_tamper_result *r)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:[]}", "event", "tamper", "state", state, "time",
			      when, "wiped");
	char *text = NULL;
	enum fsec_err rc = FSEC_ERR_NOMEM;

	/* Whether fleetsecd heard of it: what an operator reading the
	 * record of a recovered device asks first. */
	if (j != NULL && r->report[0] != '\0' &&
	    (json_object_set_new(j, "report", json_string(r->report)) != 0 ||
	     json_object_set_new(j, "report_detail", json_string(r->report_detail)) != 0)) {
		json_decref(j);
		j = NULL;
	}

	for (unsigned i = 0; j != NULL && i < r->nwiped; i++)
		if (json_array_append_new(json_object_get(j, "wiped"), json_string(r->wiped[i])) != 0)
			goto out;
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL) {
		fsec_seterr(rc, "out of memory");
		goto out;
	}
	rc = fsec_file_write_atomic(path, text, strlen(text), 0600, 0);
out:
	free(text);
	json_decref(j);
	return rc;
}

/* What a tamper record says. */
struct record {
	char path[FSEC_TAMPER_PATH_MAX + 32];
	bool exists;
	char state[16]; /* begun, done, incomplete; "" if unreadable (unfinished) */
	char when[32];  /* the event's time, or "an unknown time" */
};

/* The report outcome a record holds, into items (a record without one, or
 * from an older agent, leaves them ""). */
static void record_report(json_t *j, struct fsec_tamper_result *items)
{
	json_t *v;

	if (json_is_string(v = json_object_get(j, "report")))
		snprintf(items->report, sizeof(items->report), "%s", json_string_value(v));
	if (json_is_string(v = json_object_get(j, "report_detail")))
		snprintf(items->report_detail, sizeof(items->report_detail), "%s",
			 json_string_value(v));
}

/* Read the record in state_dir; with items, also append what it lists as
 * already wiped (a second run keeps the first run's list). */
static enum fsec_err record_read(const char *state_dir, struct record *r,
				 struct fsec_tamper_result *items)
{
	unsigned char *buf = NULL;
	json_t *j = NULL, *v;
	size_t len = 0;
	enum fsec_err rc;

	memset(r, 0, sizeof(*r));
	snprintf(r->when, sizeof(r->when), "an unknown time");
	if ((rc = record_path(state_dir, r->path, sizeof(r->path))) != FSEC_OK)
		return rc;
	if (access(r->path, F_OK) != 0 && errno == ENOENT)
		return FSEC_OK;
	r->exists = true;
	if (fsec_file_read(r->path, RECORD_MAX, &buf, &len) == FSEC_OK &&
	    (j = json_loadb((const char *)buf, len, 0, NULL)) != NULL) {
		if (json_is_string(v = json_object_get(j, "state")))
			snprintf(r->state, sizeof(r->state), "%s", json_string_value(v));
		if (json_is_string(v = json_object_get(j, "time")) && json_string_length(v) > 0)
			snprintf(r->when, sizeof(r->when), "%s", json_string_value(v));
		if (items != NULL)
			record_report(j, items);
		if (items != NULL && json_is_array(v = json_object_get(j, "wiped"))) {
			size_t i;
			json_t *e;

			json_array_foreach(v, i, e)
				if (json_is_string(e) && items->nwiped < FSEC_TAMPER_ITEMS)
					snprintf(items->wiped[items->nwiped++], sizeof(items->wiped[0]),
						 "%s", json_string_value(e));
		}
	}
	json_decref(j);
	free(buf);
	return FSEC_OK;
}

/* Overwrite a regular file in place with zeros, sync it, unlink it, sync
 * its directory. *gone says whether there was anything to wipe. */
static enum fsec_err wipe_file(const char *path, bool *gone)
{
	static const unsigned char zeros[4096];
	char dir[4096];
	struct stat st;
	off_t left;
	int fd, dfd;

	*gone = false;
	/* Not through a symlink, never blocking on a FIFO, and only a file of
	 * the user that runs the hook: a key directory another user can
	 * write must not turn the wipe against some other file. */
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return FSEC_OK;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		int e = fd < 0 ? errno : EINVAL;

		if (fd >= 0)
			close(fd);
		return fsec_seterr(FSEC_ERR_IO, "cannot wipe %.200s: %s", path,
				   e == EINVAL ? "not a regular file of this user" : strerror(e));
	}
	for (left = st.st_size; left > 0;) {
		size_t n = left > (off_t)sizeof(zeros) ? sizeof(zeros) : (size_t)left;
		ssize_t w = write(fd, zeros, n);

		if (w <= 0) {
			int e = errno;

			close(fd);
			return fsec_seterr(FSEC_ERR_IO, "cannot overwrite %.200s: %s", path,
					   strerror(w < 0 ? e : EIO));
		}
		left -= w;
	}
	if (fsync(fd) != 0 || close(fd) != 0)
		return fsec_seterr(FSEC_ERR_IO, "cannot sync %.200s: %s", path, strerror(errno));
	if (unlink(path) != 0)
		return fsec_seterr(FSEC_ERR_IO, "cannot unlink %.200s: %s", path, strerror(errno));
	if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
		return fsec_seterr(FSEC_ERR_INVAL, "path too long");
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	*gone = true;
	return FSEC_OK;
}

static void note(struct fsec_tamper_result *r, const char *what, const char *where)
{
	if (r->nwiped < FSEC_TAMPER_ITEMS)
		snprintf(r->wiped[r->nwiped++], sizeof(r->wiped[0]), "%s %s", what, where);
}

/* A key named by a path is wiped as a file; handle:0x81... is evicted from
 * the TPM. Any other URI (pkcs11:...) is not ours to destroy. */
static enum fsec_err wipe_key(const char *uri, struct fsec_tamper_result *r)
{
	uint32_t handle;
	bool gone = false, evicted = false;
	enum fsec_err rc;

	if (uri == NULL || uri[0] == '\0')
		return FSEC_OK;
	if (strncmp(uri, "handle:", 7) == 0) {
		if (!fsec_tpm_parse_handle(uri + 7, &handle))
			return fsec_seterr(FSEC_ERR_INVAL, "cannot wipe key %.100s: bad handle", uri);
		if ((rc = fsec_tpm_evict(handle, &evicted)) == FSEC_OK && evicted)
			note(r, "evicted", uri);
		return rc;
	}
	if (strncmp(uri, "file:", 5) == 0)
		uri += 5;
	else if (strchr(uri, ':') != NULL && uri[0] != '/' && uri[0] != '.')
		return fsec_seterr(FSEC_ERR_INVAL, "cannot wipe key %.100s: not a file or TPM handle",
				   uri);
	if ((rc = wipe_file(uri, &gone)) == FSEC_OK && gone)
		note(r, "wiped", uri);
	return rc;
}

/* Write the record as begun into out->record, keeping an earlier run's time
 * (when), list and report outcome unless cfg brings a new outcome. out is
 * filled either way. */
static enum fsec_err mark(const struct fsec_tamper_cfg *cfg, struct fsec_tamper_result *out,
			  char when[32])
{
	time_t now = time(NULL);
	struct record prev;
	enum fsec_err rc;

	memset(out, 0, sizeof(*out));
	fsec_time_format((int64_t)now, when);
	/* A wipe run again (to finish one, or by a second switch) keeps the
	 * time of the event that started it, and what it wiped then. */
	if (record_read(cfg->state_dir, &prev, out) == FSEC_OK && prev.exists &&
	    strcmp(prev.when, "an unknown time") != 0)
		memcpy(when, prev.when, sizeof(prev.when));
	out->nearlier = out->nwiped;
	if (cfg->report != NULL && (!cfg->report_unless_earlier || out->report[0] == '\0')) {
		snprintf(out->report, sizeof(out->report), "%s", cfg->report);
		snprintf(out->report_detail, sizeof(out->report_detail), "%s",
			 cfg->report_detail != NULL ? cfg->report_detail : "");
	}
	if ((rc = record_path(cfg->state_dir, out->record, sizeof(out->record))) != FSEC_OK ||
	    (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST &&
	     (rc = fsec_seterr(FSEC_ERR_IO, "cannot create %.200s: %s", cfg->state_dir,
			       strerror(errno))) != FSEC_OK))
		return rc;
	return record_write(out->record, "begun", when, out);
}

FSEC_API enum fsec_err fsec_tamper_mark(const struct fsec_tamper_cfg *cfg)
{
	struct fsec_tamper_result out;
	char when[32];

	return mark(cfg, &out, when);
}

FSEC_API enum fsec_err fsec_tamper_wipe(const struct fsec_tamper_cfg *cfg,
					struct fsec_tamper_result *out)
{
	char when[32], pending[FSEC_TAMPER_PATH_MAX + 16];
	const char *keys[] = {cfg->key, pending, cfg->bootstrap_key};
	enum fsec_err rc, first = FSEC_OK;
	char detail[256] = "";
	bool gone;

	/* Marked before anything is destroyed: a cut mid-wipe still leaves a
	 * device that refuses to run, and the agent's next start finishes the
	 * job. But the secrets go even if the record cannot be written (a
	 * full or read-only file system): that error is reported last. */
	if ((rc = mark(cfg, out, when)) != FSEC_OK) {
		first = rc;
		snprintf(detail, sizeof(detail), "%s", fsec_err_detail());
	}
	/* A renewal in flight keeps its new key beside a key file. A name cut
	 * short would wipe some other file: refused, the rest still goes. */
	pending[0] = '\0';
	if (cfg->key != NULL && cfg->key[0] != '\0' && strncmp(cfg->key, "handle:", 7) != 0 &&
	    (size_t)snprintf(pending, sizeof(pending), "%s.pending", cfg->key) >= sizeof(pending)) {
		pending[0] = '\0';
		if (first == FSEC_OK) {
			first = FSEC_ERR_INVAL;
			snprintf(detail, sizeof(detail), "cannot wipe the pending key of %.100s...: "
							 "path too long",
				 cfg->key);
		}
	}
	/* Every secret is attempted even if one fails; the first error is
	 * the one reported. */
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((rc = wipe_key(keys[i], out)) != FSEC_OK && first == FSEC_OK) {
			first = rc;
			snprintf(detail, sizeof(detail), "%s", fsec_err_detail());
		}
	/* The certificate is public, but without its key it only misleads. */
	if (cfg->cert != NULL && cfg->cert[0] != '\0' && (rc = wipe_file(cfg->cert, &gone)) == FSEC_OK && gone)
		note(out, "removed", cfg->cert);
	if ((rc = record_write(out->record, first == FSEC_OK ? "done" : "incomplete", when, out)) !=
		    FSEC_OK &&
	    first == FSEC_OK)
		return rc;
	if (first != FSEC_OK)
		return fsec_seterr(first, "%s", detail);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_tamper_check(const char *state_dir)
{
	struct record r;
	enum fsec_err rc = record_read(state_dir, &r, NULL);

	if (rc != FSEC_OK || !r.exists)
		return rc;
	/* Whatever the record says, or if it is unreadable, the device stays
	 * refused: a damaged record must not undo a wipe. */
	return fsec_seterr(FSEC_ERR_POLICY,
			   "this device's secrets were wiped after a tamper event at %s (%s); "
			   "re-provision it",
			   r.when, r.path);
}

FSEC_API enum fsec_err fsec_tamper_finish(const struct fsec_tamper_cfg *cfg)
{
	struct fsec_tamper_result out;
	struct record r;
	enum fsec_err rc = record_read(cfg->state_dir, &r, NULL);

	if (rc != FSEC_OK || !r.exists || strcmp(r.state, "done") == 0)
		return rc;
	return fsec_tamper_wipe(cfg, &out);
}

FSEC_API enum fsec_err fsec_tamper_clear(const char *state_dir)
{
	struct record r;
	enum fsec_err rc = record_read(state_dir, &r, NULL);

	if (rc != FSEC_OK || !r.exists)
		return rc;
	if (strcmp(r.state, "done") != 0)
		return fsec_seterr(FSEC_ERR_POLICY,
				   "the wipe after the tamper event at %s did not finish (%s); run "
				   "fleetsec-agent tamper until it does",
				   r.when, r.path);
	if (unlink(r.path) != 0 && errno != ENOENT)
		return fsec_seterr(FSEC_ERR_IO, "cannot remove %s: %s", r.path, strerror(errno));
	return FSEC_OK;
}
