/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsec device issue --batch FILE|DIR (issue 18): reading the batch,
 * refusing what the input itself rules out (malformed lines, a device ID
 * listed twice), and printing what libfleetsec's fsec_fleet_issue_batch
 * reports: a bar on a terminal, JSON lines otherwise, a summary at the end;
 * certificates and keys to --out-dir and/or a tar stream (--out-tar).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fleetsec/batch.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/names.h"

#define BATCH_ITEMS_MAX 10000000u
#define BATCH_DAYS_MAX 36500
#define BATCH_JOBS_MAX 256
#define TAR_BLOCK 512

/* What the command holds for one item beside the library's view of it. */
struct entry {
	size_t line;   /* CSV line; 0 for a directory's file */
	char *where;   /* the line number as text, or the file name */
	char *id, *model, *csr_path;
	char *refused; /* known from the input */
};

struct batch {
	struct entry *v;
	size_t n, cap;
	const char *base;    /* the CSV's directory, for relative CSR paths */
	bool from_dir;
	int err;             /* EXIT_* from the callback (out of memory) */
};

struct out {
	FILE *lines;         /* JSON lines; NULL: text */
	FILE *tar;           /* NULL: no tar */
	bool tty;            /* a bar on stderr */
	bool from_dir;
	const struct fsec_batch_item *items; /* parallel to entries */
	const struct entry *entries;
	size_t issued, refused, done;
	int64_t start_ms, last_ms;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct entry *batch_push(struct batch *b)
{
	if (b->n == b->cap) {
		size_t cap = b->cap != 0 ? b->cap * 2 : 1024;
		struct entry *v;

		if (b->n >= BATCH_ITEMS_MAX || (v = realloc(b->v, cap * sizeof(*v))) == NULL)
			return NULL;
		b->v = v;
		b->cap = cap;
	}
	memset(&b->v[b->n], 0, sizeof(b->v[0]));
	return &b->v[b->n++];
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].where);
		free(b->v[i].id);
		free(b->v[i].model);
		free(b->v[i].csr_path);
		free(b->v[i].refused);
	}
	free(b->v);
}

static int csv_line(const struct fsec_batch_line *l, void *arg)
{
	struct batch *b = arg;
	struct entry *e = batch_push(b);

	if (e == NULL)
		goto nomem;
	e->line = l->line;
	if (asprintf(&e->where, "%zu", l->line) < 0) {
		e->where = NULL;
		goto nomem;
	}
	if (l->error != NULL) {
		if ((e->refused = strdup(l->error)) == NULL)
			goto nomem;
		return 0;
	}
	if ((e->id = strdup(l->id)) == NULL || (e->model = strdup(l->model)) == NULL)
		goto nomem;
	if (l->csr_path != NULL &&
	    (l->csr_path[0] == '/' ? (e->csr_path = strdup(l->csr_path)) == NULL
				   : asprintf(&e->csr_path, "%s/%s", b->base, l->csr_path) < 0)) {
		e->csr_path = NULL;
		goto nomem;
	}
	return 0;
nomem:
	b->err = cli_fail("--batch", FSEC_ERR_NOMEM);
	return 1;
}

static int read_csv(const char *path, struct batch *b)
{
	unsigned char *buf = NULL;
	char *copy = strdup(path);
	size_t len = 0;
	enum fsec_err rc;
	int status = 0;

	if (copy == NULL)
		return cli_fail(path, FSEC_ERR_NOMEM);
	b->base = dirname(copy);
	rc = fsec_file_read(path, FSEC_BATCH_CSV_MAX, &buf, &len);
	if (rc == FSEC_OK)
		rc = fsec_batch_csv_parse((const char *)buf, len, csv_line, b);
	if (rc != FSEC_OK)
		status = b->err != 0 ? b->err : cli_fail(path, rc);
	else if (b->n == 0) {
		fprintf(stderr, "fleetsec: %s: the batch lists no device\n", path);
		status = EXIT_REFUSED;
	}
	free(buf);
	free(copy);
	return status;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->where, ((const struct entry *)b)->where);
}

/* A directory of CSRs, each named ID, ID.csr, ID.pem or ID.der. */
static int read_dir(const char *path, const char *model, struct batch *b)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int status = 0;

	if (d == NULL) {
		fprintf(stderr, "fleetsec: %s: %s\n", path, strerror(errno));
		return EXIT_REFUSED;
	}
	b->from_dir = true;
	while ((de = readdir(d)) != NULL) {
		const char *dot;
		struct entry *e;

		if (de->d_name[0] == '.')
			continue;
		if ((e = batch_push(b)) == NULL || (e->where = strdup(de->d_name)) == NULL ||
		    asprintf(&e->csr_path, "%s/%s", path, de->d_name) < 0) {
			if (e != NULL)
				e->csr_path = NULL;
			status = cli_fail(path, FSEC_ERR_NOMEM);
			break;
		}
		dot = strrchr(de->d_name, '.');
		if (dot != NULL && strcmp(dot, ".csr") != 0 && strcmp(dot, ".pem") != 0 &&
		    strcmp(dot, ".der") != 0)
			dot = NULL;
		e->id = strndup(de->d_name, dot != NULL ? (size_t)(dot - de->d_name)
							: strlen(de->d_name));
		e->model = strdup(model != NULL ? model : "");
		if (e->id == NULL || e->model == NULL) {
			status = cli_fail(path, FSEC_ERR_NOMEM);
			break;
		}
		if (fsec_devid_check(e->id) != FSEC_OK &&
		    (e->refused = strdup("the file name is not a device ID (ID, ID.csr, ID.pem or "
					 "ID.der)")) == NULL) {
			status = cli_fail(path, FSEC_ERR_NOMEM);
			break;
		}
	}
	closedir(d);
	if (status == 0 && b->n == 0) {
		fprintf(stderr, "fleetsec: %s: the directory holds no CSR\n", path);
		status = EXIT_REFUSED;
	}
	if (status == 0)
		qsort(b->v, b->n, sizeof(b->v[0]), by_name);
	return status;
}

/* Order of entries by ID, then position: equal IDs become neighbours. */
static int by_id(const void *a, const void *b)
{
	const struct entry *const *x = a, *const *y = b;
	int c = strcmp((*x)->id, (*y)->id);

	return c != 0 ? c : (*x < *y ? -1 : *x > *y);
}

/* The second and later items with one ID are refused, naming the first:
 * which of two lines is the device's is the factory's call, not ours. */
static int refuse_duplicates(struct batch *b)
{
	struct entry **s = calloc(b->n != 0 ? b->n : 1, sizeof(*s));
	size_t m = 0;

	if (s == NULL)
		return cli_fail("--batch", FSEC_ERR_NOMEM);
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].refused == NULL)
			s[m++] = &b->v[i];
	qsort(s, m, sizeof(*s), by_id);
	for (size_t i = 1; i < m; i++) {
		size_t first = i - 1;

		while (first > 0 && strcmp(s[first - 1]->id, s[i]->id) == 0)
			first--;
		if (strcmp(s[first]->id, s[i]->id) != 0)
			continue;
		if (asprintf(&s[i]->refused, "duplicate device ID %s (first at %s %s)", s[i]->id,
			     b->from_dir ? "file" : "line", s[first]->where) < 0) {
			s[i]->refused = NULL;
			free(s);
			return cli_fail("--batch", FSEC_ERR_NOMEM);
		}
	}
	free(s);
	return 0;
}

/* ---- tar (POSIX ustar), for --out-tar ---- */

static int tar_entry(FILE *tar, const char *name, unsigned mode, const void *data, size_t len)
{
	unsigned char h[TAR_BLOCK];
	static const unsigned char zero[TAR_BLOCK];
	unsigned sum = 0;

	if (strlen(name) >= 100)
		return -1;
	memset(h, 0, sizeof(h));
	memcpy(h, name, strlen(name));
	snprintf((char *)h + 100, 8, "%07o", mode);
	snprintf((char *)h + 108, 8, "%07o", 0u);
	snprintf((char *)h + 116, 8, "%07o", 0u);
	snprintf((char *)h + 124, 12, "%011lo", (unsigned long)len);
	snprintf((char *)h + 136, 12, "%011llo", (unsigned long long)time(NULL));
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	if (fwrite(h, 1, sizeof(h), tar) != sizeof(h) || fwrite(data, 1, len, tar) != len ||
	    (len % TAR_BLOCK != 0 &&
	     fwrite(zero, 1, TAR_BLOCK - len % TAR_BLOCK, tar) != TAR_BLOCK - len % TAR_BLOCK))
		return -1;
	return 0;
}

static int tar_end(FILE *tar)
{
	static const unsigned char zero[2 * TAR_BLOCK];

	return fwrite(zero, 1, sizeof(zero), tar) == sizeof(zero) && fflush(tar) == 0 ? 0 : -1;
}

/* ---- reporting ---- */

static void bar(struct out *o, size_t done, size_t total)
{
	int64_t t = mono_ms(), el = t - o->start_ms;
	double rate = el > 0 ? (double)done * 1000.0 / (double)el : 0;
	int pct = total != 0 ? (int)(done * 100.0 / (double)total) : 100;
	long eta = rate > 0 ? (long)((double)(total - done) / rate) : 0;
	int fill = pct * 30 / 100;

	if (done != total && t - o->last_ms < 100)
		return;
	o->last_ms = t;
	fprintf(stderr, "\rissuing [%.*s%*s] %zu/%zu %3d%% %.0f/s ETA %ld:%02ld ", fill,
		"##############################", 30 - fill, "", done, total, pct, rate, eta / 60,
		eta % 60);
	if (done == total)
		fputc('\n', stderr);
	fflush(stderr);
}

static const char *status_name(enum fsec_batch_status s)
{
	return s == FSEC_BATCH_ISSUED ? "issued" : s == FSEC_BATCH_DONE ? "already-done" : "refused";
}

static int on_result(const struct fsec_batch_result *r, void *arg)
{
	struct out *o = arg;
	const char *id = r->item->id != NULL ? r->item->id : "";

	if (r->status == FSEC_BATCH_ISSUED)
		o->issued++;
	else if (r->status == FSEC_BATCH_DONE)
		o->done++;
	else
		o->refused++;
	if (o->tar != NULL && r->status != FSEC_BATCH_REFUSED) {
		char name[FSEC_DEVID_MAX + 8];

		snprintf(name, sizeof(name), "%s.pem", id);
		if (tar_entry(o->tar, name, 0644, r->cert_pem, strlen(r->cert_pem)) != 0)
			return 1;
		snprintf(name, sizeof(name), "%s.key", id);
		if (r->key_pem != NULL &&
		    tar_entry(o->tar, name, 0600, r->key_pem, r->key_pem_len) != 0)
			return 1;
	}
	if (o->lines != NULL) {
		json_t *j = json_pack("{s:s, s:s, s:I, s:I}", "id", id, "status",
				      status_name(r->status), "done", (json_int_t)r->done, "total",
				      (json_int_t)r->total);
		char *s;
		int bad;

		if (j == NULL)
			return 1;
		if (o->from_dir)
			json_object_set_new(j, "file", json_string(r->item->where));
		else
			json_object_set_new(j, "line",
					    json_integer((json_int_t)o->entries[r->item - o->items].line));
		if (r->serial != NULL)
			json_object_set_new(j, "serial", json_string(r->serial));
		if (r->reason != NULL)
			json_object_set_new(j, "reason", json_string(r->reason));
		s = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		bad = s == NULL || fprintf(o->lines, "%s\n", s) < 0;
		free(s);
		if (bad)
			return 1;
	} else if (r->status == FSEC_BATCH_REFUSED) {
		if (o->tty)
			fputs("\r\033[K", stderr);
		fprintf(stderr, "fleetsec: %s %s: %s%s%s\n", o->from_dir ? "file" : "line",
			r->item->where, id, id[0] != '\0' ? ": " : "", r->reason);
	}
	if (o->tty)
		bar(o, r->done, r->total);
	return 0;
}

static int summary(struct out *o, size_t total, int status)
{
	double s = (double)(mono_ms() - o->start_ms) / 1000.0;

	if (o->lines != NULL) {
		char *txt;
		json_t *j = json_pack("{s:{s:I, s:I, s:I, s:I, s:f, s:b}}", "summary", "total",
				      (json_int_t)total, "issued", (json_int_t)o->issued,
				      "refused", (json_int_t)o->refused, "already_done",
				      (json_int_t)o->done, "seconds", s, "complete", status == 0 ||
				      o->issued + o->refused + o->done == total);

		if (j == NULL || (txt = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6))) == NULL) {
			json_decref(j);
			return EXIT_REFUSED;
		}
		json_decref(j);
		fprintf(o->lines, "%s\n", txt);
		free(txt);
	} else {
		fprintf(stderr, "issued %zu, refused %zu, already done %zu (of %zu) in %.1f s\n",
			o->issued, o->refused, o->done, total, s);
	}
	return 0;
}

/* --out-dir: made if missing (0700: keys go there); must be a directory. */
static int make_out_dir(const char *dir)
{
	struct stat sb;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "fleetsec: %s: %s\n", dir, strerror(errno));
		return EXIT_REFUSED;
	}
	if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "fleetsec: %s: not a directory\n", dir);
		return EXIT_REFUSED;
	}
	return 0;
}

int cli_device_issue_batch(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"batch", required_argument, NULL, 'b'},
		{"model", required_argument, NULL, 'm'},
		{"key-algo", required_argument, NULL, 'a'},
		{"days", required_argument, NULL, 'd'},
		{"out-dir", required_argument, NULL, 'o'},
		{"out-tar", required_argument, NULL, 't'},
		{"jobs", required_argument, NULL, 'j'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_batch_opts bo = {.actor = cli_actor()};
	struct fsec_batch_item *items = NULL;
	struct cli_common c = {0};
	struct batch b = {0};
	struct out o = {0};
	struct fsec_fleet *f = NULL;
	const char *input = NULL, *model = NULL, *tar_path = NULL;
	struct stat sb;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED, tar_fd = -1;
	long v;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'b': input = optarg; break;
		case 'm': model = optarg; break;
		case 'o': bo.out_dir = optarg; break;
		case 't': tar_path = optarg; break;
		case 'a':
			if (fsec_key_algo_parse(optarg, &bo.key_algo) != FSEC_OK)
				return cli_usage_error(self, "--key-algo must be p256, p384 or ed25519");
			break;
		case 'd':
			if (!cli_int(self, "--days", optarg, 1, BATCH_DAYS_MAX, &v))
				return EXIT_USAGE;
			bo.days = (int)v;
			break;
		case 'j':
			if (!cli_int(self, "--jobs", optarg, 1, BATCH_JOBS_MAX, &v))
				return EXIT_USAGE;
			bo.threads = (unsigned)v;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (input == NULL)
		return cli_usage_error(self, "--batch FILE is required here");
	if (optind != argc)
		return cli_usage_error(self, "a device ID goes without --batch");
	if (bo.out_dir == NULL && tar_path == NULL)
		return cli_usage_error(self, "--batch needs --out-dir DIR and/or --out-tar FILE|-");
	if (stat(input, &sb) != 0) {
		fprintf(stderr, "fleetsec: %s: %s\n", input, strerror(errno));
		return EXIT_REFUSED;
	}
	if (!S_ISDIR(sb.st_mode) && model != NULL)
		return cli_usage_error(self, "--model goes with a directory of CSRs (a CSV names "
					     "each line's model)");
	if (model != NULL && (status = cli_model(model)) != 0)
		return status;
	status = S_ISDIR(sb.st_mode) ? read_dir(input, model, &b) : read_csv(input, &b);
	if (status != 0 || (status = refuse_duplicates(&b)) != 0)
		goto out;
	/* Checked before anything is opened: the library says the same. */
	for (size_t i = 0; i < b.n && bo.out_dir == NULL; i++)
		if (b.v[i].csr_path == NULL && b.v[i].refused == NULL) {
			status = cli_usage_error(self, "key generation (%s %s) needs --out-dir: "
						       "each key is written there before its "
						       "certificate is recorded",
						 "line", b.v[i].where);
			goto out;
		}
	if ((items = calloc(b.n, sizeof(*items))) == NULL) {
		status = cli_fail(input, FSEC_ERR_NOMEM);
		goto out;
	}
	for (size_t i = 0; i < b.n; i++)
		items[i] = (struct fsec_batch_item){.where = b.v[i].where, .id = b.v[i].id,
						    .model = b.v[i].model,
						    .csr_path = b.v[i].csr_path,
						    .refused = b.v[i].refused};
	if (bo.out_dir != NULL && (status = make_out_dir(bo.out_dir)) != 0)
		goto out;
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK) {
		status = cli_fail(cli_home(&c), rc);
		goto out;
	}
	if (tar_path != NULL) {
		bo.want_key_pem = true;
		if (strcmp(tar_path, "-") == 0) {
			o.tar = stdout;
		} else if ((tar_fd = open(tar_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
				   0 ||
			   (o.tar = fdopen(tar_fd, "wb")) == NULL) {
			fprintf(stderr, "fleetsec: %s: %s\n", tar_path, strerror(errno));
			if (tar_fd >= 0)
				close(tar_fd);
			status = EXIT_REFUSED;
			goto out;
		}
	}
	o.from_dir = b.from_dir;
	o.items = items;
	o.entries = b.v;
	o.tty = isatty(STDERR_FILENO) == 1;
	/* Results are JSON lines unless a person reads them: with --json, or
	 * when stdout is not a terminal; on stderr when stdout is the tar. */
	if (c.json || isatty(STDOUT_FILENO) != 1)
		o.lines = o.tar == stdout ? stderr : stdout;
	if (o.lines == stderr && o.tty)
		o.tty = false; /* one reader, one format */
	o.start_ms = mono_ms();
	rc = fsec_fleet_issue_batch(f, items, b.n, &bo, on_result, &o);
	if (o.tar != NULL && tar_end(o.tar) != 0 && rc == FSEC_OK)
		rc = FSEC_ERR_IO;
	if (rc != FSEC_OK) {
		if (o.tty)
			fputc('\n', stderr);
		status = cli_fail("device issue --batch", rc);
		summary(&o, b.n, status);
		goto out;
	}
	status = summary(&o, b.n, 0);
	if (status == 0 && o.refused > 0)
		status = EXIT_REFUSED;
out:
	if (o.tar != NULL && o.tar != stdout && fclose(o.tar) != 0 && status == 0)
		status = EXIT_REFUSED;
	fsec_fleet_free(f);
	free(items);
	batch_free(&b);
	return status;
}
