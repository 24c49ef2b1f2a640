/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsec device show|list|find|export and fleetsec events: the inventory
 * and the event log as the registry holds them. The registry selects
 * (fsec_registry_inventory_list, _device_find, _event_query); this file
 * parses options and prints. */
/* fopencookie needs _GNU_SOURCE, which the build defines. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/text.h"

#define SHOW_EVENTS 10
#define EVENTS_MAX 100000
#define FOLLOW_MS 200

/* A write that failed: one line, exit status 1. */
static int io_fail(const char *what, const char *why)
{
	fprintf(stderr, "fleetsec: %s: write failed: %s\n", what, why);
	return EXIT_REFUSED;
}

/* A time as the options take it: RFC 3339, or a duration ("7d") before now. */
static bool parse_when(const char *s, int64_t now, int64_t *out)
{
	int64_t d;

	if (fsec_duration_parse(s, &d) == FSEC_OK) {
		*out = now - d;
		return true;
	}
	return fsec_time_parse(s, 0, out) == FSEC_OK;
}

/* ---- one device as flat columns: list --json, export (JSON and CSV) ---- */

/* C_STATUS, C_OUTCOME and C_DEBUG are enums, printed by their names. */
enum col_type { C_STR, C_TIME, C_INT, C_BOOL, C_STATUS, C_OUTCOME, C_DEBUG };

struct col {
	const char *name;
	enum col_type type;
	size_t off; /* into struct fsec_inventory_rec */
};

#define COL(name, type, member) {name, type, offsetof(struct fsec_inventory_rec, member)}
/* id to updated_at keep the names and order device list --json always had. */
static const struct col cols[] = {
	COL("id", C_STR, dev.id),
	COL("model", C_STR, dev.model),
	COL("status", C_STATUS, dev.status),
	COL("serial", C_STR, dev.serial),
	COL("fingerprint_sha256", C_STR, dev.fingerprint),
	COL("spki_sha256", C_STR, dev.spki_sha256),
	COL("issued_at", C_TIME, dev.issued_at),
	COL("expires_at", C_TIME, dev.expires_at),
	COL("provisioning", C_STR, dev.provisioning),
	COL("updated_at", C_TIME, dev.updated_at),
	COL("created_at", C_TIME, dev.created_at),
	COL("group", C_STR, group),
	COL("mac", C_STR, mac),
	COL("ip", C_STR, ip),
	COL("first_seen", C_TIME, state.first_seen),
	COL("last_seen", C_TIME, state.last_seen),
	COL("fw_version", C_STR, state.fw_version),
	COL("security_counter", C_INT, state.security_counter),
	COL("update_state", C_STR, state.update_state),
	COL("pending_version", C_STR, state.pending_version),
	COL("update_outcome", C_OUTCOME, state.update_outcome),
	COL("update_at", C_TIME, state.update_at),
	COL("update_ok_at", C_TIME, state.update_ok_at),
	COL("debug_jtag", C_DEBUG, state.debug_jtag),
	COL("debug_uart", C_DEBUG, state.debug_uart),
	COL("debug_at", C_TIME, state.debug_at),
	COL("outdated", C_BOOL, outdated),
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

/* Column i of r as text ("" for a time never set or a state never
 * reported); the enums by their names. */
static const char *col_text(const struct fsec_inventory_rec *r, size_t i, char *buf, size_t cap)
{
	const void *p = (const char *)r + cols[i].off;

	switch (cols[i].type) {
	case C_STATUS:
		return fsec_dev_status_name(*(const enum fsec_dev_status *)p);
	case C_OUTCOME:
		return fsec_update_outcome_name(*(const enum fsec_update_outcome *)p);
	case C_DEBUG:
		return fsec_debug_state_name(*(const enum fsec_debug_state *)p);
	case C_STR:
		return p;
	case C_TIME:
		return *(const int64_t *)p == 0 ? "" : cli_time(*(const int64_t *)p, buf, cap);
	case C_INT:
		if (!r->reported)
			return "";
		snprintf(buf, cap, "%u", *(const uint32_t *)p);
		return buf;
	case C_BOOL:
		return *(const bool *)p ? "true" : "false";
	}
	return "";
}

/* JSON: times never set and a never-reported counter are null. */
static json_t *row_json(const struct fsec_inventory_rec *r)
{
	json_t *o = json_object();
	char buf[32];

	for (size_t i = 0; o != NULL && i < NCOLS; i++) {
		const char *t = col_text(r, i, buf, sizeof(buf));
		json_t *v;

		if (cols[i].type == C_BOOL)
			v = json_boolean(r->outdated);
		else if (cols[i].type == C_INT)
			v = r->reported ? json_integer(r->state.security_counter) : json_null();
		else if (cols[i].type == C_TIME && t[0] == '\0')
			v = json_null();
		else
			v = json_string(t);
		if (v == NULL || json_object_set_new(o, cols[i].name, v) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

/* RFC 4180: a field with a comma, quote, CR or LF is quoted, quotes doubled. */
static int csv_field(FILE *fp, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL)
		return fputs(s, fp) < 0 ? -1 : 0;
	if (fputc('"', fp) == EOF)
		return -1;
	for (; *s != '\0'; s++)
		if ((*s == '"' && fputc('"', fp) == EOF) || fputc(*s, fp) == EOF)
			return -1;
	return fputc('"', fp) == EOF ? -1 : 0;
}

/* ---- device show ---- */

static int cert_to_json(const struct fsec_cert_rec *r, void *arg)
{
	char t1[32], t2[32], t3[32];
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "serial", r->serial,
			      "fingerprint_sha256", r->fingerprint, "spki_sha256", r->spki_sha256,
			      "not_before", cli_time(r->not_before, t1, sizeof(t1)), "not_after",
			      cli_time(r->not_after, t2, sizeof(t2)), "issued_at",
			      cli_time(r->issued_at, t3, sizeof(t3)), "status",
			      r->revoked ? "revoked"
			      : r->not_after <= (int64_t)time(NULL) ? "expired"
								   : "valid");

	if (o != NULL && r->revoked) {
		json_object_set_new(o, "revoked_at", json_string(cli_time(r->revoked_at, t3, sizeof(t3))));
		json_object_set_new(o, "reason", json_string(fsec_crl_reason_name(r->reason)));
	}
	return o == NULL || json_array_append_new(arg, o) != 0;
}

static json_t *event_json(const struct fsec_event_rec *e)
{
	char t[32];

	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "seq", (json_int_t)e->seq, "at",
			 cli_time(e->at, t, sizeof(t)), "actor", e->actor, "kind", e->action,
			 "action", e->action, "device", e->device_id, "detail", e->detail);
}

static int event_to_json(const struct fsec_event_rec *e, void *arg)
{
	json_t *o = event_json(e);

	return o == NULL || json_array_append_new(arg, o) != 0;
}

/* device show --json: what it always had (the device's members, created_at,
 * group, state, certificates, events), plus network, tamper and
 * state.outdated. */
static json_t *show_json(const struct fsec_inventory_rec *r, const struct fsec_tamper_rec *tr,
			  json_t *certs, json_t *events)
{
	json_t *j = row_json(r), *keep = json_object(), *v;
	static const char *const kept[] = {"id", "model", "status", "serial",
					   "fingerprint_sha256", "spki_sha256", "issued_at",
					   "expires_at", "provisioning", "updated_at",
					   "created_at", "group"};
	char t[5][32];

	if (j == NULL || keep == NULL)
		goto fail;
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		v = json_object_get(j, kept[i]);
		/* Times were "-" when unset here: keep that. */
		json_object_set_new(keep, kept[i], json_is_null(v) ? json_string("-") : json_incref(v));
	}
	json_object_set_new(keep, "network",
			    json_pack("{s:s?, s:s?}", "mac", r->mac[0] != '\0' ? r->mac : NULL, "ip",
				      r->ip[0] != '\0' ? r->ip : NULL));
	/* null: no tamper report ever; otherwise the last one, and whether it
	 * still marks the device (its certificate is still the current one). */
	if (tr == NULL) {
		json_object_set_new(keep, "tamper", json_null());
	} else {
		char ta[32], tr_at[32];

		json_object_set_new(keep, "tamper",
				    json_pack("{s:b, s:s, s:s, s:s, s:s}", "tampered", tr->current,
					      "at", cli_time(tr->at, ta, sizeof(ta)), "received_at",
					      cli_time(tr->received_at, tr_at, sizeof(tr_at)),
					      "reason", tr->reason, "serial", tr->serial));
	}
	if (!r->reported) {
		json_object_set_new(keep, "state", json_null());
	} else {
		const struct fsec_devstate_rec *st = &r->state;

		json_object_set_new(
			keep, "state",
			json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s}",
				  "first_seen", cli_time(st->first_seen, t[0], sizeof(t[0])),
				  "last_seen", cli_time(st->last_seen, t[1], sizeof(t[1])),
				  "fw_version", st->fw_version, "security_counter",
				  (json_int_t)st->security_counter, "update_outcome",
				  fsec_update_outcome_name(st->update_outcome), "update_at",
				  cli_time(st->update_at, t[2], sizeof(t[2])), "update_ok_at",
				  cli_time(st->update_ok_at, t[3], sizeof(t[3])), "debug_jtag",
				  fsec_debug_state_name(st->debug_jtag), "debug_uart",
				  fsec_debug_state_name(st->debug_uart), "debug_at",
				  cli_time(st->debug_at, t[4], sizeof(t[4])), "outdated", r->outdated,
				  "update_state", st->update_state, "pending_version",
				  st->pending_version));
	}
	json_object_set(keep, "certificates", certs);
	json_object_set(keep, "events", events);
	json_decref(j);
	return keep;
fail:
	json_decref(j);
	json_decref(keep);
	return NULL;
}

static const char *orn(const char *s, const char *none)
{
	return s != NULL && s[0] != '\0' ? s : none;
}

static void print_show(const struct fsec_inventory_rec *r, const struct fsec_tamper_rec *tr,
		       json_t *j)
{
	static const char *const keys[] = {"id", "model", "group", "status", "serial",
					   "fingerprint_sha256", "spki_sha256", "issued_at",
					   "expires_at", "provisioning", "created_at", "updated_at"};
	const struct fsec_devstate_rec *st = &r->state;
	char t[32];
	size_t i;
	json_t *e;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		printf("%-20s %s\n", keys[i], orn(json_string_value(json_object_get(j, keys[i])), "-"));
	printf("%-20s %s\n", "mac", orn(r->mac, "-"));
	printf("%-20s %s\n", "ip", orn(r->ip, "-"));
	if (!r->reported) {
		printf("%-20s %s\n", "last_seen", "never reported");
	} else {
		printf("%-20s %s\n", "last_seen", cli_time(st->last_seen, t, sizeof(t)));
		printf("%-20s %s\n", "first_seen", cli_time(st->first_seen, t, sizeof(t)));
		printf("%-20s %s (security counter %u)%s\n", "fw_version", orn(st->fw_version, "-"),
		       st->security_counter, r->outdated ? ", behind the product's release" : "");
		printf("%-20s %s", "update_state", orn(st->update_state, "none reported"));
		if (st->pending_version[0] != '\0')
			printf(" (%s pending)", st->pending_version);
		putchar('\n');
		printf("%-20s %s", "update_outcome",
		       orn(fsec_update_outcome_name(st->update_outcome), "none reported"));
		if (st->update_at != 0)
			printf(" at %s", cli_time(st->update_at, t, sizeof(t)));
		putchar('\n');
		printf("%-20s jtag %s, uart %s\n", "debug_ports",
		       orn(fsec_debug_state_name(st->debug_jtag), "unreported"),
		       orn(fsec_debug_state_name(st->debug_uart), "unreported"));
	}
	if (tr == NULL)
		printf("%-20s %s\n", "tamper", "not recorded");
	else
		printf("%-20s %s at %s: %s (certificate %s%s)\n", "tamper",
		       tr->current ? "TAMPERED" : "reported", cli_time(tr->at, t, sizeof(t)),
		       tr->reason, tr->serial,
		       tr->current ? "" : ", no longer current: revoked or re-provisioned");
	printf("certificates:\n");
	json_array_foreach(json_object_get(j, "certificates"), i, e) {
		printf("  %s  %s .. %s  %s", json_string_value(json_object_get(e, "serial")),
		       json_string_value(json_object_get(e, "not_before")),
		       json_string_value(json_object_get(e, "not_after")),
		       json_string_value(json_object_get(e, "status")));
		if (json_object_get(e, "reason") != NULL)
			printf(" (%s)", json_string_value(json_object_get(e, "reason")));
		putchar('\n');
	}
	printf("events:\n");
	json_array_foreach(json_object_get(j, "events"), i, e)
		printf("  %s  %-16s %s  %s\n", json_string_value(json_object_get(e, "at")),
		       json_string_value(json_object_get(e, "kind")),
		       json_string_value(json_object_get(e, "actor")),
		       json_string_value(json_object_get(e, "detail")));
}

static int device_show(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"events", required_argument, NULL, 'e'},
		CLI_STANDBY_LONGOPT,
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	struct fsec_registry *reg;
	struct fsec_inventory_rec r;
	struct fsec_tamper_rec tr;
	bool tampered = false;
	struct fsec_event_filter ef = {.last = SHOW_EVENTS};
	json_t *j = NULL, *certs = NULL, *events = NULL;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;
	long n;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'e') {
			if (!cli_int(self, "--events", optarg, 0, EVENTS_MAX, &n))
				return EXIT_USAGE;
			ef.last = (unsigned)n;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one device ID");
	if ((status = cli_open_fleet(&c, &f)) != 0)
		return status;
	reg = fsec_fleet_get_registry(f);
	ef.device_id = argv[optind];
	certs = json_array();
	events = json_array();
	if (certs == NULL || events == NULL)
		rc = FSEC_ERR_NOMEM;
	else if ((rc = fsec_registry_inventory_get(reg, argv[optind], &r)) == FSEC_OK &&
		 (rc = fsec_registry_cert_list(reg, &(struct fsec_cert_filter){.device_id = r.dev.id},
					       cert_to_json, certs)) == FSEC_OK)
		rc = fsec_registry_event_query(reg, &ef, event_to_json, events);
	if (rc == FSEC_OK) {
		rc = fsec_registry_tamper_get(reg, r.dev.id, &tr);
		tampered = rc == FSEC_OK;
		if (rc == FSEC_ERR_NOTFOUND)
			rc = FSEC_OK;
	}
	if (rc == FSEC_OK && (j = show_json(&r, tampered ? &tr : NULL, certs, events)) == NULL)
		rc = FSEC_ERR_NOMEM;
	if (rc != FSEC_OK) {
		status = cli_fail(argv[optind], rc);
		goto out;
	}
	if (c.json) {
		status = cli_print_json(j);
		j = NULL;
		goto out;
	}
	print_show(&r, tampered ? &tr : NULL, j);
	status = fflush(stdout) == 0 ? 0 : EXIT_REFUSED;
out:
	json_decref(j);
	json_decref(certs);
	json_decref(events);
	fsec_fleet_free(f);
	return status;
}

/* ---- device list and export ---- */

enum out_format { OUT_TABLE, OUT_JSON, OUT_CSV };

struct list_ctx {
	enum out_format fmt;
	FILE *fp;
	size_t n;
	bool failed;
};

/* The header (table, CSV) or the opening bracket (JSON), written with the
 * first row or after an empty listing, so that a refused query writes
 * nothing. */
static int list_head(struct list_ctx *lc)
{
	int w = 0;

	if (lc->fmt == OUT_TABLE)
		w = fprintf(lc->fp, "%-24s %-16s %-8s %-12s %-12s %-20s %s\n", "ID", "MODEL",
			    "STATUS", "GROUP", "VERSION", "LAST SEEN", "EXPIRES");
	else if (lc->fmt == OUT_JSON)
		w = fputc('[', lc->fp) == EOF ? -1 : 0;
	else
		for (size_t i = 0; i < NCOLS && w >= 0; i++)
			w = fprintf(lc->fp, "%s%s", i > 0 ? "," : "", cols[i].name);
	if (lc->fmt == OUT_CSV && w >= 0)
		w = fputs("\r\n", lc->fp);
	return w < 0 ? -1 : 0;
}

static int list_one(const struct fsec_inventory_rec *r, void *arg)
{
	struct list_ctx *lc = arg;
	char t[32], buf[32];
	char *s;

	if (lc->n == 0 && list_head(lc) != 0)
		goto fail;
	if (lc->fmt == OUT_TABLE) {
		if (fprintf(lc->fp, "%-24s %-16s %-8s %-12s %-12s %-20s %s\n", r->dev.id,
			    orn(r->dev.model, "-"), fsec_dev_status_name(r->dev.status),
			    orn(r->group, "-"), r->reported ? orn(r->state.fw_version, "-") : "-",
			    r->reported ? cli_time(r->state.last_seen, t, sizeof(t)) : "never",
			    cli_time(r->dev.expires_at, buf, sizeof(buf))) < 0)
			goto fail;
	} else if (lc->fmt == OUT_JSON) {
		json_t *o = row_json(r);

		s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (s == NULL || fprintf(lc->fp, "%s%s", lc->n == 0 ? "\n" : ",\n", s) < 0) {
			free(s);
			goto fail;
		}
		free(s);
	} else {
		for (size_t i = 0; i < NCOLS; i++)
			if ((i > 0 && fputc(',', lc->fp) == EOF) ||
			    csv_field(lc->fp, col_text(r, i, buf, sizeof(buf))) != 0)
				goto fail;
		if (fputs("\r\n", lc->fp) < 0)
			goto fail;
	}
	lc->n++;
	return 0;
fail:
	lc->failed = true;
	return 1;
}

/* Write the listing q selects to fp: a table, a JSON array, or CSV with a
 * header line. Returns 0, or the exit status after saying why. */
static int write_listing(struct fsec_registry *reg, const struct fsec_inventory_query *q,
			 enum out_format fmt, FILE *fp, const char *what)
{
	struct list_ctx lc = {.fmt = fmt, .fp = fp};
	enum fsec_err rc = fsec_registry_inventory_list(reg, q, list_one, &lc);

	if (rc != FSEC_OK && !lc.failed)
		return cli_fail(what, rc);
	if (!lc.failed && lc.n == 0 && list_head(&lc) != 0)
		lc.failed = true;
	if (lc.failed || (fmt == OUT_JSON && fputs(lc.n == 0 ? "]\n" : "\n]\n", fp) < 0) ||
	    fflush(fp) != 0)
		return io_fail(what, strerror(errno));
	return 0;
}

static int device_list(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"status", required_argument, NULL, 's'},
		{"model", required_argument, NULL, 'm'},
		{"group", required_argument, NULL, 'g'},
		{"version", required_argument, NULL, 'v'},
		{"seen-before", required_argument, NULL, 'b'},
		{"seen-after", required_argument, NULL, 'a'},
		{"expiring-within", required_argument, NULL, 'x'},
		{"outdated", no_argument, NULL, 'o'},
		{"state", required_argument, NULL, 't'},
		{"outcome", required_argument, NULL, 'u'},
		CLI_STANDBY_LONGOPT,
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_inventory_query q = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	int64_t now = (int64_t)time(NULL), d;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 's':
			if (fsec_dev_status_parse(optarg, &q.status) != FSEC_OK || q.status == 0)
				return cli_usage_error(self, "--status must be active or revoked");
			break;
		case 'm': q.model = optarg; break;
		case 'g': q.group = optarg; break;
		case 'v': q.fw_version = optarg; break;
		case 'o': q.outdated = true; break;
		case 'b':
		case 'a':
			if (!parse_when(optarg, now, opt == 'b' ? &q.seen_before : &q.seen_after))
				return cli_usage_error(self, "--seen-%s: '%.40s' is not an RFC 3339 time "
						       "or a duration like 7d",
						       opt == 'b' ? "before" : "after", optarg);
			if (opt == 'b')
				q.by_seen_before = true;
			else
				q.by_seen_after = true;
			break;
		case 'x':
			if (fsec_duration_parse(optarg, &d) != FSEC_OK)
				return cli_usage_error(self, "--expiring-within: '%.40s' is not a "
						       "duration like 30d", optarg);
			q.by_expires_before = true;
			q.expires_before = now + d;
			break;
		case 't':
			/* "none": no update state reported (or never reported). */
			q.update_state = strcmp(optarg, "none") == 0 ? "" : optarg;
			if (q.update_state[0] != '\0' && !fsec_update_state_valid(q.update_state))
				return cli_usage_error(self, "--state must be downloading, installed, "
						       "trial, confirmed, rolled_back, failed or "
						       "none, not '%.40s'", optarg);
			break;
		case 'u':
			/* "none": no update outcome reported (or never reported). */
			if (strcmp(optarg, "none") == 0) {
				q.outcome = FSEC_UPDATE_NONE;
			} else if (fsec_update_outcome_parse(optarg, &q.outcome) != FSEC_OK ||
				   q.outcome == FSEC_UPDATE_NONE) {
				return cli_usage_error(self, "--outcome must be success, failure or "
						       "none, not '%.40s'", optarg);
			}
			q.by_outcome = true;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (q.model != NULL && (status = cli_model(q.model)) != 0)
		return status;
	if ((status = cli_open_fleet(&c, &f)) != 0)
		return status;
	status = write_listing(fsec_fleet_get_registry(f), &q, c.json ? OUT_JSON : OUT_TABLE,
			       stdout, "device list");
	fsec_fleet_free(f);
	return status;
}

/* --out: rows go through a stdio stream straight into a staged file, so
 * the export is never held whole in memory and is renamed into place only
 * when complete (a reader never sees half of one). */
static ssize_t stage_write(void *cookie, const char *buf, size_t len)
{
	if (fsec_file_stage_write(cookie, buf, len) != FSEC_OK) {
		errno = EIO;
		return -1;
	}
	return (ssize_t)len;
}

static int device_export(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"format", required_argument, NULL, 'f'},
		{"out", required_argument, NULL, 'o'},
		CLI_STANDBY_LONGOPT,
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	struct fsec_file_stage *st = NULL;
	const char *format = NULL, *out = NULL;
	enum out_format fmt;
	FILE *fp = NULL;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'f')
			format = optarg;
		else if (opt == 'o')
			out = optarg;
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (format == NULL)
		return cli_usage_error(self, "--format json|csv is required");
	if (strcmp(format, "json") == 0)
		fmt = OUT_JSON;
	else if (strcmp(format, "csv") == 0)
		fmt = OUT_CSV;
	else
		return cli_usage_error(self, "--format must be json or csv, not '%.40s'", format);
	if ((status = cli_open_fleet(&c, &f)) != 0)
		return status;
	if (out == NULL) {
		status = write_listing(fsec_fleet_get_registry(f), NULL, fmt, stdout, cli_home(&c));
		goto done;
	}
	if ((rc = fsec_file_stage_open(out, 0644, 0, &st)) != FSEC_OK) {
		status = cli_fail(out, rc);
		goto done;
	}
	fp = fopencookie(st, "w", (cookie_io_functions_t){.write = stage_write});
	if (fp == NULL) {
		status = cli_fail(out, FSEC_ERR_NOMEM);
		goto done;
	}
	status = write_listing(fsec_fleet_get_registry(f), NULL, fmt, fp, out);
	if (fclose(fp) != 0 && status == 0)
		status = io_fail(out, strerror(errno));
	if (status == 0 && (rc = fsec_file_stage_commit(st)) != FSEC_OK)
		status = cli_fail(out, rc);
	if (status == 0 && c.json)
		status = cli_print_json(json_pack("{s:s, s:s}", "out", out, "format", format));
	else if (status == 0)
		fprintf(stderr, "exported the inventory to %s\n", out);
done:
	fsec_file_stage_free(st);
	fsec_fleet_free(f);
	return status;
}

/* ---- device find ---- */

struct find_ctx {
	struct fsec_registry *reg;
	json_t *arr; /* --json */
	size_t n;
	enum fsec_err rc;
};

static int find_one(enum fsec_find_kind kind, const char *id, void *arg)
{
	struct find_ctx *fc = arg;

	fc->n++;
	if (fc->arr != NULL)
		return json_array_append_new(fc->arr, json_pack("{s:s, s:s}", "id", id, "kind",
								 fsec_find_kind_name(kind))) != 0;
	printf("%-24s %s\n", id, fsec_find_kind_name(kind));
	return 0;
}

static int device_find(int argc, char **argv, const struct cli_cmd *self)
{
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	struct find_ctx fc = {0};
	enum fsec_err rc;
	int status;

	status = cli_common_only(argc, argv, self, &c, 1,
				 "exactly one SERIAL, FINGERPRINT, SPKI, MAC or IP");
	if (status != CLI_GO_ON)
		return status;
	if (c.json && (fc.arr = json_array()) == NULL)
		return cli_fail("device find", FSEC_ERR_NOMEM);
	if ((status = cli_open_fleet(&c, &f)) != 0) {
		json_decref(fc.arr);
		return status;
	}
	rc = fsec_registry_device_find(fsec_fleet_get_registry(f), argv[optind], find_one, &fc);
	fsec_fleet_free(f);
	if (rc != FSEC_OK) {
		json_decref(fc.arr);
		return cli_fail(argv[optind], rc);
	}
	if (fc.n == 0) {
		json_decref(fc.arr);
		fprintf(stderr, "fleetsec: %.128s: no device has this ID, certificate serial, "
			"fingerprint, SPKI SHA-256, MAC or IP\n", argv[optind]);
		return EXIT_REFUSED;
	}
	return c.json ? cli_print_json(fc.arr) : 0;
}

/* ---- events ---- */

static volatile sig_atomic_t stop_following;

static void on_stop(int sig)
{
	(void)sig;
	stop_following = 1;
}

struct event_out {
	bool json;   /* --json */
	bool lines;  /* --follow --json: one object per line */
	json_t *arr; /* --json without --follow */
	int64_t last_seq;
	int64_t last_mark; /* the refusal rows seen (fsec_registry_refusal_changed) */
	const struct fsec_event_filter *ef;
	bool failed; /* stdout could not be written */
};

static int print_event(const struct fsec_event_rec *e, void *arg)
{
	struct event_out *eo = arg;
	char t[32];

	eo->last_seq = e->seq;
	if (eo->arr != NULL)
		return event_to_json(e, eo->arr);
	if (eo->lines) {
		json_t *o = event_json(e);
		char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

		json_decref(o);
		if (s == NULL || printf("%s\n", s) < 0)
			eo->failed = true;
		free(s);
	} else if (printf("%-6lld %s  %-16s %-24s %s  %s\n", (long long)e->seq,
			  cli_time(e->at, t, sizeof(t)), e->action, orn(e->device_id, "-"),
			  e->actor, e->detail) < 0) {
		eo->failed = true;
	}
	return eo->failed;
}

/* A refusal row that counted repeats: its first refusal is an
 * enroll-refused event already, the repeats are this one line (with the
 * count) instead of one event each, so that a flood cannot grow the log.
 * With --follow a row comes again each time its count grew. */
static int print_repeats(const struct fsec_refusal_rec *r, void *arg)
{
	struct event_out *eo = arg;
	const struct fsec_event_filter *ef = eo->ef;

	if (r->mark > eo->last_mark)
		eo->last_mark = r->mark;
	if (r->count < 2 || (ef->action != NULL && strcmp(ef->action, "enroll-refused") != 0) ||
	    (ef->device_id != NULL && strcmp(ef->device_id, r->device_id) != 0) ||
	    (ef->since > 0 && r->last_at < ef->since))
		return 0;
	if (cli_refusal_out(r, eo->arr, eo->lines) != 0)
		eo->failed = true;
	return eo->failed;
}

/* Wait up to FOLLOW_MS for a signal or for the reader of stdout to go
 * away (a pipe whose reader closed polls as an error). True: go on. */
static bool follow_wait(void)
{
	struct pollfd pfd = {.fd = STDOUT_FILENO, .events = 0};
	int r = poll(&pfd, 1, FOLLOW_MS);

	if (stop_following)
		return false;
	return !(r > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)));
}

static int events_cmd(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"device", required_argument, NULL, 'd'},
		{"kind", required_argument, NULL, 'k'},
		{"since", required_argument, NULL, 's'},
		{"follow", no_argument, NULL, 'f'},
		CLI_STANDBY_LONGOPT,
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_event_filter ef = {0};
	struct event_out eo = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	struct fsec_registry *reg;
	struct fsec_device_rec dev;
	struct sigaction sa;
	bool follow = false;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'd': ef.device_id = optarg; break;
		case 'k': ef.action = optarg; break;
		case 'f': follow = true; break;
		case 's':
			if (!parse_when(optarg, (int64_t)time(NULL), &ef.since) || ef.since <= 0)
				return cli_usage_error(self, "--since: '%.40s' is not an RFC 3339 time "
						       "or a duration like 7d", optarg);
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if ((status = cli_open_fleet(&c, &f)) != 0)
		return status;
	reg = fsec_fleet_get_registry(f);
	/* An unknown device is refused, not shown as an empty log. */
	if (ef.device_id != NULL &&
	    (rc = fsec_registry_device_get(reg, ef.device_id, &dev)) != FSEC_OK) {
		status = cli_fail(ef.device_id, rc);
		goto out;
	}
	eo.json = c.json;
	eo.lines = c.json && follow;
	eo.ef = &ef;
	if (c.json && !follow && (eo.arr = json_array()) == NULL) {
		status = cli_fail("events", FSEC_ERR_NOMEM);
		goto out;
	}
	if (follow) {
		/* A closed stdout is a write error, not a fatal signal. */
		signal(SIGPIPE, SIG_IGN);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	status = 0;
	do {
		ef.after_seq = eo.last_seq;
		rc = fsec_registry_event_query(reg, &ef, print_event, &eo);
		if (rc == FSEC_OK && !eo.failed)
			rc = fsec_registry_refusal_changed(reg, eo.last_mark, print_repeats, &eo);
		if (rc != FSEC_OK) {
			status = cli_fail(cli_home(&c), rc);
			goto out;
		}
		if (eo.failed || fflush(stdout) != 0)
			break;
	} while (follow && follow_wait());
	if (eo.arr != NULL) {
		status = cli_print_json(eo.arr);
		eo.arr = NULL;
	} else if (eo.failed && !follow) {
		status = io_fail("stdout", strerror(errno));
	}
out:
	json_decref(eo.arr);
	fsec_fleet_free(f);
	return status;
}

const struct cli_cmd cli_inventory_cmds[] = {
	{"device", "show", device_show, "show everything the registry holds about a device",
	 "ID [--events N] [--registry-readonly URL] [--home DIR] [--json]\n\n"
	 "Prints the device's record (model, group, status, current certificate,\n"
	 "provisioning), its MAC and IP, what it last reported (last seen, firmware\n"
	 "version and security counter, whether that is behind its product's\n"
	 "release, its update state and pending version, the last update's outcome,\n"
	 "the debug ports), its tamper state (this registry keeps none, and says so),\n"
	 "every certificate it was issued with its validity and revocation, and its\n"
	 "last N events (default 10, 0: all).\n"
	 "JSON members: id, model, status, serial, fingerprint_sha256, spki_sha256,\n"
	 "issued_at, expires_at, provisioning, updated_at, created_at, group (\"\" if\n"
	 "none), network {mac, ip} (null if none), tamper (null: not recorded),\n"
	 "state (null if it never reported: first_seen, last_seen, fw_version,\n"
	 "security_counter, update_outcome, update_at, update_ok_at, debug_jtag,\n"
	 "debug_uart, debug_at, outdated, update_state, pending_version), certificates\n"
	 "[serial, fingerprint_sha256, spki_sha256, not_before, not_after, issued_at,\n"
	 "status valid|expired|revoked, revoked_at, reason] and events [seq, at, actor,\n"
	 "kind, action, device, detail].\n" CLI_STANDBY_USAGE},
	{"device", "list", device_list, "list devices, filtered",
	 "[--status active|revoked] [--model M] [--group G] [--version V]\n"
	 "       [--seen-before T] [--seen-after T] [--expiring-within D] [--outdated]\n"
	 "       [--state S] [--outcome success|failure|none] [--registry-readonly URL]\n"
	 "       [--home DIR] [--json]\n\n"
	 "Lists the devices the filters select, all of them (AND), ordered by ID; the\n"
	 "registry does the filtering. T is an RFC 3339 time or a duration before now\n"
	 "(7d, 12h, 30m, 90s); D a duration.\n"
	 "  --group G           in rollout group G\n"
	 "  --version V         last reported firmware version V\n"
	 "  --seen-before T     last report before T (never-reported devices do not match)\n"
	 "  --seen-after T      last report after T\n"
	 "  --expiring-within D current certificate expires within D (or has expired)\n"
	 "  --outdated          reported a security counter below its product's release\n"
	 "                      (the rule of audit's FLEET-FW-OUTDATED)\n"
	 "  --state S           last reported update state S: downloading, installed,\n"
	 "                      trial, confirmed, rolled_back, failed; none: none reported\n"
	 "  --outcome O         last update outcome O: success, failure; none: none reported\n"
	 "JSON: an array of objects with the members of 'device export'.\n" CLI_STANDBY_USAGE},
	{"device", "find", device_find, "find devices by serial, fingerprint, SPKI, MAC or IP",
	 "SERIAL|FINGERPRINT|SPKI|MAC|IP [--home DIR] [--json]\n\n"
	 "Finds the devices the value names: a device ID, the serial, SHA-256\n"
	 "fingerprint or SPKI SHA-256 of any certificate ever issued (hex in either\n"
	 "case, ':' separators allowed, as openssl prints them), a MAC or an IPv4\n"
	 "address. Prints each device with the kind that matched (id, serial,\n"
	 "fingerprint, spki, mac, ip). Exit status 1 if nothing matches.\n"
	 "JSON: an array of {id, kind}.\n"},
	{"device", "export", device_export, "export the whole inventory as JSON or CSV",
	 "--format json|csv [--out FILE] [--registry-readonly URL] [--home DIR] [--json]\n\n"
	 "Writes every device, one row or object each, to stdout or, atomically, to\n"
	 "FILE. Columns (CSV header, JSON members): id, model, status, serial,\n"
	 "fingerprint_sha256, spki_sha256, issued_at, expires_at, provisioning,\n"
	 "updated_at, created_at, group, mac, ip, first_seen, last_seen, fw_version,\n"
	 "security_counter, update_state, pending_version, update_outcome, update_at,\n"
	 "update_ok_at, debug_jtag, debug_uart, debug_at, outdated. CSV follows RFC\n"
	 "4180 (CRLF line ends, a field with a comma, quote or line break quoted,\n"
	 "quotes doubled); an unset value is empty. JSON is an array; an unset time or\n"
	 "counter is null.\n"
	 "--json prints {out, format} after writing FILE.\n" CLI_STANDBY_USAGE},
	{"events", NULL, events_cmd, "show the event log, or follow it",
	 "[--device ID] [--kind K] [--since T] [--follow] [--registry-readonly URL]\n"
	 "       [--home DIR] [--json]\n\n"
	 "Prints the event log in order: sequence number, time, kind (issue, revoke,\n"
	 "device-set, enroll-refused, enroll-approve, renew-allowed, ...), device,\n"
	 "who, and the detail. --device and --kind keep that device's or kind's\n"
	 "events, --since those at or after T (RFC 3339, or a duration before now\n"
	 "such as 7d). Every refused enrollment or renewal is shown: the first one\n"
	 "of each credential and reason is an enroll-refused event with its reason,\n"
	 "source and credential; its repeats are counted in the registry, not\n"
	 "logged one by one (a flood cannot grow the log), and shown after the\n"
	 "events as one enroll-refused line with no sequence number and the count:\n"
	 "\"(xN since FIRST, last from SOURCE)\", at the time of the last one.\n"
	 "--follow prints new events as they are written (checking every 200 ms),\n"
	 "and that line again each time its count grows, until interrupted (SIGINT,\n"
	 "SIGTERM) or stdout is closed; exit status 0.\n"
	 "JSON members: seq, at, actor, kind, action (the same), device (\"\" if\n"
	 "none), detail; a repeats line has seq null and count, first, last,\n"
	 "credential, reason and source. An array, or with --follow one object per\n"
	 "line.\n" CLI_STANDBY_USAGE},
	{NULL, NULL, NULL, NULL, NULL},
};
