/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "file" boot backend: an environment file of `name=value` lines that
 * this module and fleetsec-bootsim share. Variables it does not own are kept
 * as they are, so the file can double as a wider environment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libuboot.h>

#include "err_int.h"
#include "fleetsec/bootctl.h"
#include "fleetsec/fileio.h"

#define ENV_MAX (64u * 1024u)
#define ENV_VARS_MAX 128
#define NAME_MAX_LEN 64
#define VALUE_MAX_LEN 1024

struct env {
	size_t n;
	struct {
		char name[NAME_MAX_LEN + 1];
		char value[VALUE_MAX_LEN + 1];
	} v[ENV_VARS_MAX];
};

struct fsec_bootctl;

/* A backend reads and writes the variables; the A/B logic is shared. */
struct boot_ops {
	const char *name;
	enum fsec_err (*load)(struct fsec_bootctl *b, struct env *e);
	enum fsec_err (*store)(struct fsec_bootctl *b, const struct env *e);
};

struct fsec_bootctl {
	const struct boot_ops *ops;
	char *path; /* file: the environment; uboot: fw_env.config; grub: grubenv */
};

/* The variables this module owns; the others backends keep untouched. */
static const char *const owned[] = {"fsec_slot", "upgrade_available", "bootcount", "bootlimit",
				    "fsec_trial"};

FSEC_API void fsec_bootctl_free(struct fsec_bootctl *b)
{
	if (b == NULL)
		return;
	free(b->path);
	free(b);
}

static enum fsec_err file_load(struct fsec_bootctl *b, struct env *e)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;
	char *line, *next;

	const char *path = b->path;

	memset(e, 0, sizeof(*e));
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return FSEC_OK;
	if ((rc = fsec_file_read(path, ENV_MAX, &buf, &len)) != FSEC_OK)
		return fsec_seterr(rc, "boot environment %s: %s", path, fsec_err_detail());
	rc = FSEC_ERR_PARSE;
	if (memchr(buf, '\0', len) != NULL) {
		fsec_seterr(rc, "boot environment %s: binary data", path);
		goto out;
	}
	for (line = (char *)buf; *line != '\0'; line = next) {
		char *nl = strchr(line, '\n'), *eq;
		size_t nlen;

		next = nl != NULL ? nl + 1 : line + strlen(line);
		if (nl != NULL)
			*nl = '\0';
		eq = strchr(line, '=');

		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (eq == NULL || (nlen = (size_t)(eq - line)) == 0 || nlen > NAME_MAX_LEN ||
		    strlen(eq + 1) > VALUE_MAX_LEN || e->n == ENV_VARS_MAX) {
			fsec_seterr(rc, "boot environment %s: bad line '%.40s'", path, line);
			goto out;
		}
		memcpy(e->v[e->n].name, line, nlen);
		e->v[e->n].name[nlen] = '\0';
		snprintf(e->v[e->n].value, sizeof(e->v[e->n].value), "%s", eq + 1);
		e->n++;
	}
	rc = FSEC_OK;
out:
	free(buf);
	return rc;
}

static const char *env_get(const struct env *e, const char *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (strcmp(e->v[i].name, name) == 0)
			return e->v[i].value;
	return NULL;
}

static enum fsec_err env_set(struct env *e, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->v[i].name, name) == 0)
			break;
	if (i == e->n) {
		if (e->n == ENV_VARS_MAX)
			return fsec_seterr(FSEC_ERR_TOO_LARGE, "boot environment is full");
		e->n++;
	}
	snprintf(e->v[i].name, sizeof(e->v[i].name), "%s", name);
	snprintf(e->v[i].value, sizeof(e->v[i].value), "%s", value);
	return FSEC_OK;
}

static enum fsec_err file_store(struct fsec_bootctl *b, const struct env *e)
{
	const size_t cap = ENV_VARS_MAX * (NAME_MAX_LEN + VALUE_MAX_LEN + 2) + 1;
	char *buf = malloc(cap);
	size_t off = 0;
	enum fsec_err rc;

	if (buf == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	/* Each entry is at most NAME_MAX_LEN + VALUE_MAX_LEN + 2 bytes, so the
	 * buffer sized for ENV_VARS_MAX of them cannot overflow. */
	for (size_t i = 0; i < e->n; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%s=%s\n", e->v[i].name, e->v[i].value);
	rc = fsec_file_write_atomic(b->path, buf, off, 0644, 0);
	free(buf);
	return rc;
}

/* ---- uboot: libubootenv, whose redundant environment makes each store
 * atomic on real flash ---- */

static enum fsec_err uboot_ctx(struct fsec_bootctl *b, struct uboot_ctx **out)
{
	struct uboot_ctx *ctx = NULL;

	if (libuboot_initialize(&ctx, NULL) < 0)
		return fsec_seterr(FSEC_ERR_NOMEM, "libubootenv initialisation failed");
	if (libuboot_read_config(ctx, b->path) < 0) {
		libuboot_exit(ctx);
		return fsec_seterr(FSEC_ERR_IO, "U-Boot environment: cannot read %s", b->path);
	}
	if (libuboot_open(ctx) < 0) {
		libuboot_exit(ctx);
		return fsec_seterr(FSEC_ERR_IO, "U-Boot environment described by %s cannot be opened",
				   b->path);
	}
	*out = ctx;
	return FSEC_OK;
}

static void uboot_done(struct uboot_ctx *ctx)
{
	libuboot_close(ctx);
	libuboot_exit(ctx);
}

static enum fsec_err uboot_load(struct fsec_bootctl *b, struct env *e)
{
	struct uboot_ctx *ctx = NULL;
	enum fsec_err rc = uboot_ctx(b, &ctx);

	memset(e, 0, sizeof(*e));
	for (size_t i = 0; rc == FSEC_OK && i < sizeof(owned) / sizeof(owned[0]); i++) {
		char *v = libuboot_get_env(ctx, owned[i]);

		if (v != NULL && strlen(v) > VALUE_MAX_LEN)
			rc = fsec_seterr(FSEC_ERR_PARSE, "U-Boot variable %s is too long", owned[i]);
		else if (v != NULL)
			rc = env_set(e, owned[i], v);
		free(v);
	}
	if (ctx != NULL)
		uboot_done(ctx);
	return rc;
}

static enum fsec_err uboot_store(struct fsec_bootctl *b, const struct env *e)
{
	struct uboot_ctx *ctx = NULL;
	enum fsec_err rc = uboot_ctx(b, &ctx);

	for (size_t i = 0; rc == FSEC_OK && i < e->n; i++)
		if (libuboot_set_env(ctx, e->v[i].name, e->v[i].value) < 0)
			rc = fsec_seterr(FSEC_ERR_IO, "U-Boot environment: cannot set %s", e->v[i].name);
	/* One store for all of them: the redundant copy flips atomically. */
	if (rc == FSEC_OK && libuboot_env_store(ctx) < 0)
		rc = fsec_seterr(FSEC_ERR_IO, "U-Boot environment: store failed");
	if (ctx != NULL)
		uboot_done(ctx);
	return rc;
}

/* ---- grub: the grubenv block, a 1 KiB file that grub.cfg reads with
 * load_env. It is written here (not with grub-editenv, which rewrites it
 * in place) through a temporary file and a rename, so a power cut leaves
 * the old block or the new one. ---- */

#define GRUB_ENV_SIZE 1024
#define GRUB_ENV_HEADER "# GRUB Environment Block\n"

static enum fsec_err grub_load(struct fsec_bootctl *b, struct env *e)
{
	unsigned char *buf = NULL;
	size_t len = 0, hl = sizeof(GRUB_ENV_HEADER) - 1;
	enum fsec_err rc;
	char *line, *next;

	memset(e, 0, sizeof(*e));
	if ((rc = fsec_file_read(b->path, GRUB_ENV_SIZE, &buf, &len)) != FSEC_OK)
		return fsec_seterr(rc, "grubenv %s: %s", b->path, fsec_err_detail());
	rc = FSEC_ERR_PARSE;
	if (len != GRUB_ENV_SIZE || memcmp(buf, GRUB_ENV_HEADER, hl) != 0 ||
	    memchr(buf, '\0', len) != NULL) {
		fsec_seterr(rc, "grubenv %s: not a GRUB environment block", b->path);
		goto out;
	}
	/* Lines starting with '#' are comments (grub-editenv adds one), and
	 * the '#' padding without a newline ends the block. */
	for (line = (char *)buf + hl; line != NULL; line = next) {
		char *nl = strchr(line, '\n'), *eq;

		if (nl == NULL)
			break;
		*nl = '\0';
		next = nl + 1;
		if (line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL) {
			fsec_seterr(rc, "grubenv %s: bad line", b->path);
			goto out;
		}
		*eq = '\0';
		for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
			if (strcmp(line, owned[i]) == 0 && strlen(eq + 1) <= VALUE_MAX_LEN &&
			    (rc = env_set(e, line, eq + 1)) != FSEC_OK)
				goto out;
		rc = FSEC_ERR_PARSE;
	}
	rc = FSEC_OK;
out:
	free(buf);
	return rc;
}

static enum fsec_err grub_store(struct fsec_bootctl *b, const struct env *e)
{
	char block[GRUB_ENV_SIZE + 1];
	unsigned char *old = NULL;
	size_t off, len = 0, hl = sizeof(GRUB_ENV_HEADER) - 1;
	enum fsec_err rc;

	/* Keep the variables that are not ours: start from the current block. */
	if ((rc = fsec_file_read(b->path, GRUB_ENV_SIZE, &old, &len)) != FSEC_OK)
		return fsec_seterr(rc, "grubenv %s: %s", b->path, fsec_err_detail());
	memcpy(block, GRUB_ENV_HEADER, hl);
	off = hl;
	if (len == GRUB_ENV_SIZE && memcmp(old, GRUB_ENV_HEADER, hl) == 0) {
		char *line = (char *)old + hl, *next;

		old[GRUB_ENV_SIZE - 1] = '\0';
		for (; *line != '\0'; line = next) {
			char *nl = strchr(line, '\n'), *eq = strchr(line, '=');
			bool ours = false;
			size_t n;

			if (nl == NULL)
				break; /* the padding */
			next = nl + 1;
			if (line[0] != '#' && (eq == NULL || eq > nl))
				break;
			for (size_t i = 0; line[0] != '#' && i < sizeof(owned) / sizeof(owned[0]); i++)
				ours |= (size_t)(eq - line) == strlen(owned[i]) &&
					memcmp(line, owned[i], strlen(owned[i])) == 0;
			n = (size_t)(next - line);
			if (!ours && n <= GRUB_ENV_SIZE - off) {
				memcpy(block + off, line, n);
				off += n;
			}
		}
	}
	free(old);
	for (size_t i = 0; i < e->n; i++) {
		int n = snprintf(block + off, sizeof(block) - off, "%s=%s\n", e->v[i].name,
				 e->v[i].value);

		if (n < 0 || (size_t)n >= GRUB_ENV_SIZE - off)
			return fsec_seterr(FSEC_ERR_TOO_LARGE, "grubenv %s is full", b->path);
		off += (size_t)n;
	}
	memset(block + off, '#', GRUB_ENV_SIZE - off);
	return fsec_file_write_atomic(b->path, block, GRUB_ENV_SIZE, 0644, 0);
}

static const struct boot_ops backends[] = {
	{"file", file_load, file_store},
	{"uboot", uboot_load, uboot_store},
	{"grub", grub_load, grub_store},
};

FSEC_API enum fsec_err fsec_bootctl_open(const char *backend, const char *env,
					 struct fsec_bootctl **out)
{
	const struct boot_ops *ops = NULL;
	struct fsec_bootctl *b;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backend, backends[i].name) == 0)
			ops = &backends[i];
	if (ops == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "unknown boot backend '%.32s' (file, uboot, grub)",
				   backend);
	if (env == NULL || env[0] == '\0')
		return fsec_seterr(FSEC_ERR_INVAL, "the %s boot backend needs an environment path",
				   backend);
	b = calloc(1, sizeof(*b));
	if (b == NULL || (b->path = strdup(env)) == NULL) {
		free(b);
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	b->ops = ops;
	*out = b;
	return FSEC_OK;
}

/* A small decimal, or the default when absent. */
static enum fsec_err get_uint(const struct env *e, const char *path, const char *name,
			      unsigned dflt, unsigned *out)
{
	const char *s = env_get(e, name);
	unsigned long v;

	if (s == NULL) {
		*out = dflt;
		return FSEC_OK;
	}
	if (!fsec_parse_ulong(s, 0, 1000000, &v))
		return fsec_seterr(FSEC_ERR_PARSE, "boot environment %s: %s=%.20s is not a number",
				   path, name, s);
	*out = (unsigned)v;
	return FSEC_OK;
}

static enum fsec_err state_of(const struct env *e, const char *path, struct fsec_boot_state *st)
{
	const char *slot = env_get(e, "fsec_slot");
	unsigned ua = 0;
	enum fsec_err rc;

	if (slot != NULL && strcmp(slot, "a") != 0 && strcmp(slot, "b") != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "boot environment %s: fsec_slot=%.20s (a or b)",
				   path, slot);
	st->slot = slot != NULL ? slot[0] : 'a';
	if ((rc = get_uint(e, path, "upgrade_available", 0, &ua)) != FSEC_OK ||
	    (rc = get_uint(e, path, "bootcount", 0, &st->bootcount)) != FSEC_OK ||
	    (rc = get_uint(e, path, "bootlimit", FSEC_BOOTLIMIT_DEFAULT, &st->bootlimit)) != FSEC_OK)
		return rc;
	st->upgrade_available = ua != 0;
	{
		const char *tag = env_get(e, "fsec_trial");

		/* "-" is what a cleared tag is stored as (some environments drop
		 * empty variables). */
		snprintf(st->trial_tag, sizeof(st->trial_tag), "%s",
			 tag != NULL && strcmp(tag, "-") != 0 ? tag : "");
	}
	return FSEC_OK;
}

/* Write slot/upgrade_available/bootcount together: one atomic write, so a
 * power cut leaves the old environment or the new one, never a mix. */
static enum fsec_err store_state(struct fsec_bootctl *b, struct env *e,
				 const struct fsec_boot_state *st)
{
	char count[16];
	enum fsec_err rc;

	snprintf(count, sizeof(count), "%u", st->bootcount);
	if ((rc = env_set(e, "fsec_slot", st->slot == 'b' ? "b" : "a")) != FSEC_OK ||
	    (rc = env_set(e, "upgrade_available", st->upgrade_available ? "1" : "0")) != FSEC_OK ||
	    (rc = env_set(e, "bootcount", count)) != FSEC_OK ||
	    (rc = env_set(e, "fsec_trial", st->trial_tag[0] != '\0' ? st->trial_tag : "-")) !=
		    FSEC_OK)
		return rc;
	return b->ops->store(b, e);
}

FSEC_API enum fsec_err fsec_bootctl_read(struct fsec_bootctl *b, struct fsec_boot_state *out)
{
	struct env *e = malloc(sizeof(*e));
	enum fsec_err rc;

	if (e == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	rc = b->ops->load(b, e);
	if (rc == FSEC_OK)
		rc = state_of(e, b->path, out);
	free(e);
	return rc;
}

/* Load, let change() edit the state, store. */
static enum fsec_err update(struct fsec_bootctl *b,
			    enum fsec_err (*change)(struct fsec_boot_state *st, void *arg), void *arg)
{
	struct env *e = malloc(sizeof(*e));
	struct fsec_boot_state st;
	enum fsec_err rc;

	if (e == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = b->ops->load(b, e)) == FSEC_OK && (rc = state_of(e, b->path, &st)) == FSEC_OK &&
	    (rc = change(&st, arg)) == FSEC_OK)
		rc = store_state(b, e, &st);
	free(e);
	return rc;
}

struct trial {
	char slot;
	const char *tag;
};

static enum fsec_err start_trial(struct fsec_boot_state *st, void *arg)
{
	const struct trial *t = arg;

	st->slot = t->slot;
	st->upgrade_available = true;
	st->bootcount = 0;
	snprintf(st->trial_tag, sizeof(st->trial_tag), "%s", t->tag != NULL ? t->tag : "");
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_bootctl_trial(struct fsec_bootctl *b, char slot, const char *tag)
{
	struct trial t = {slot, tag};

	if (slot != 'a' && slot != 'b')
		return fsec_seterr(FSEC_ERR_INVAL, "slot must be a or b");
	if (tag != NULL && (strlen(tag) >= sizeof(((struct fsec_boot_state *)0)->trial_tag) ||
			    strspn(tag, "0123456789abcdef") != strlen(tag)))
		return fsec_seterr(FSEC_ERR_INVAL, "trial tag must be at most 64 hex digits");
	return update(b, start_trial, &t);
}

static enum fsec_err end_trial(struct fsec_boot_state *st, void *arg)
{
	(void)arg;
	st->upgrade_available = false;
	st->bootcount = 0;
	st->trial_tag[0] = '\0';
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_bootctl_confirm(struct fsec_bootctl *b)
{
	return update(b, end_trial, NULL);
}

static enum fsec_err give_up_trial(struct fsec_boot_state *st, void *arg)
{
	(void)arg;
	st->slot = st->slot == 'a' ? 'b' : 'a';
	st->upgrade_available = false;
	st->bootcount = 0;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_bootctl_reject(struct fsec_bootctl *b)
{
	return update(b, give_up_trial, NULL);
}

struct boot_result {
	char slot;
	bool fell_back;
};

/* U-Boot: with upgrade_available set, bootcount++ on every boot; once it
 * exceeds bootlimit, altbootcmd boots the other slot and ends the trial. */
static enum fsec_err boot_once(struct fsec_boot_state *st, void *arg)
{
	struct boot_result *r = arg;

	r->fell_back = false;
	if (st->upgrade_available) {
		st->bootcount++;
		if (st->bootcount > st->bootlimit) {
			st->slot = st->slot == 'a' ? 'b' : 'a';
			st->upgrade_available = false;
			st->bootcount = 0;
			r->fell_back = true;
		}
	}
	r->slot = st->slot;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_bootctl_boot(struct fsec_bootctl *b, char *booted, bool *fell_back)
{
	struct boot_result r = {0};
	enum fsec_err rc = update(b, boot_once, &r);

	if (rc == FSEC_OK) {
		*booted = r.slot;
		*fell_back = r.fell_back;
	}
	return rc;
}
