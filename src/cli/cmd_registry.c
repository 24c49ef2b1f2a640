/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsec registry: look at the registry through its interface (so the
 * same commands, and the tests built on them, work on any backend): check
 * it, list its events and certificates, import records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"

struct problems {
	json_t *arr; /* --json */
	size_t n;
};

static int one_problem(const char *problem, void *arg)
{
	struct problems *p = arg;

	p->n++;
	if (p->arr != NULL)
		return json_array_append_new(p->arr, json_string(problem)) != 0;
	printf("%s\n", problem);
	return 0;
}

static int registry_check(int argc, char **argv, const struct cli_cmd *self)
{
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	struct problems p = {0};
	enum fsec_err rc;
	int status;

	if ((status = cli_common_only(argc, argv, self, &c, 0, "no arguments")) != CLI_GO_ON)
		return status;
	if (c.json && (p.arr = json_array()) == NULL)
		return cli_fail("registry check", FSEC_ERR_NOMEM);
	if ((status = cli_open_fleet(&c, &f)) != 0) {
		json_decref(p.arr);
		return status;
	}
	rc = fsec_registry_check(fsec_fleet_get_registry(f), one_problem, &p);
	fsec_fleet_free(f);
	if (rc != FSEC_OK) {
		json_decref(p.arr);
		return cli_fail(cli_home(&c), rc);
	}
	status = 0;
	if (c.json)
		status = cli_print_json(json_pack("{s:b, s:o}", "ok", p.n == 0, "problems", p.arr));
	else if (p.n == 0)
		printf("%s: the registry is sound\n", cli_home(&c));
	if (status == 0 && p.n != 0) {
		fprintf(stderr, "fleetsec: %s: the registry check found %zu problem%s\n",
			cli_home(&c), p.n, p.n == 1 ? "" : "s");
		status = EXIT_REFUSED;
	}
	return status;
}

struct event_print {
	const char *action; /* --action, or NULL */
	json_t *arr;        /* --json */
};

static int print_event(const struct fsec_event_rec *e, void *arg)
{
	struct event_print *ep = arg;
	char t[32];

	if (ep->action != NULL && strcmp(ep->action, e->action) != 0)
		return 0;
	cli_time(e->at, t, sizeof(t));
	if (ep->arr != NULL)
		return json_array_append_new(
			       ep->arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "seq",
						  (json_int_t)e->seq, "at", t, "actor", e->actor,
						  "action", e->action, "device", e->device_id,
						  "detail", e->detail)) != 0;
	printf("%-6lld %s  %-16s %-24s %s  %s\n", (long long)e->seq, t, e->action,
	       e->device_id[0] != '\0' ? e->device_id : "-", e->actor, e->detail);
	return 0;
}

/* A refusal row as an "enroll-refused" entry: the log's one line per
 * request became one line per (credential, reason), with its count. */
static int print_refusal(const struct fsec_refusal_rec *r, void *arg)
{
	struct event_print *ep = arg;

	if (ep->action != NULL && strcmp(ep->action, "enroll-refused") != 0)
		return 0;
	return cli_refusal_out(r, ep->arr, false);
}

static int registry_events(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"device", required_argument, NULL, 'd'},
		{"action", required_argument, NULL, 'a'},
		CLI_STANDBY_LONGOPT,
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct event_print ep = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *device = NULL;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'd')
			device = optarg;
		else if (opt == 'a')
			ep.action = optarg;
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (c.json && (ep.arr = json_array()) == NULL)
		return cli_fail("registry events", FSEC_ERR_NOMEM);
	if ((status = cli_open_fleet(&c, &f)) != 0) {
		json_decref(ep.arr);
		return status;
	}
	rc = fsec_registry_event_list(fsec_fleet_get_registry(f), device, print_event, &ep);
	if (rc == FSEC_OK)
		rc = fsec_registry_refusal_list(fsec_fleet_get_registry(f), device, print_refusal,
						&ep);
	fsec_fleet_free(f);
	if (rc != FSEC_OK) {
		json_decref(ep.arr);
		return cli_fail(cli_home(&c), rc);
	}
	return c.json ? cli_print_json(ep.arr) : 0;
}

static int print_cert(const struct fsec_cert_rec *r, void *arg)
{
	json_t *arr = arg, *o;
	char t1[32], t2[32], t3[32];

	cli_time(r->not_before, t1, sizeof(t1));
	cli_time(r->not_after, t2, sizeof(t2));
	if (arr == NULL) {
		printf("%-32s %-24s %s .. %s  %s%s%s\n", r->serial, r->device_id, t1, t2,
		       r->revoked ? "revoked" : "valid", r->revoked ? " " : "",
		       r->revoked ? fsec_crl_reason_name(r->reason) : "");
		return 0;
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "serial", r->serial, "device_id",
		      r->device_id, "fingerprint_sha256", r->fingerprint, "spki_sha256",
		      r->spki_sha256, "not_before", t1, "not_after", t2, "issued_at",
		      cli_time(r->issued_at, t3, sizeof(t3)), "status",
		      r->revoked ? "revoked" : "valid");
	if (o != NULL && r->revoked) {
		json_object_set_new(o, "revoked_at", json_string(cli_time(r->revoked_at, t3, sizeof(t3))));
		json_object_set_new(o, "reason", json_string(fsec_crl_reason_name(r->reason)));
	}
	return o == NULL || json_array_append_new(arr, o) != 0;
}

static int registry_certs(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"device", required_argument, NULL, 'd'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_cert_filter filter = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	json_t *arr = NULL;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		if (opt == 'd')
			filter.device_id = optarg;
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (c.json && (arr = json_array()) == NULL)
		return cli_fail("registry certs", FSEC_ERR_NOMEM);
	if ((status = cli_open_fleet(&c, &f)) != 0) {
		json_decref(arr);
		return status;
	}
	rc = fsec_registry_cert_list(fsec_fleet_get_registry(f), &filter, print_cert, arr);
	fsec_fleet_free(f);
	if (rc != FSEC_OK) {
		json_decref(arr);
		return cli_fail(cli_home(&c), rc);
	}
	return c.json ? cli_print_json(arr) : 0;
}

static int registry_import(int argc, char **argv, const struct cli_cmd *self)
{
	struct fsec_import_counts n = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;
	int status;

	status = cli_common_only(argc, argv, self, &c, 1, "exactly one FILE.json");
	if (status != CLI_GO_ON)
		return status;
	if ((rc = fsec_file_read(argv[optind], FSEC_IMPORT_MAX, &buf, &len)) != FSEC_OK)
		return cli_fail(argv[optind], rc);
	if ((status = cli_open_fleet(&c, &f)) != 0) {
		free(buf);
		return status;
	}
	rc = fsec_fleet_import(f, buf, len, cli_actor(), &n);
	fsec_fleet_free(f);
	free(buf);
	if (rc != FSEC_OK)
		return cli_fail(argv[optind], rc);
	if (c.json)
		return cli_print_json(json_pack("{s:I, s:I, s:I}", "devices", (json_int_t)n.devices,
						"certificates", (json_int_t)n.certificates,
						"states", (json_int_t)n.states));
	printf("imported %zu devices, %zu certificates, %zu states\n", n.devices, n.certificates,
	       n.states);
	return 0;
}

static int registry_migrate(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_migrate_report rep;
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *from = NULL, *to = NULL;
	char *loc = NULL;
	json_t *tables;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'f')
			from = optarg;
		else if (opt == 't')
			to = optarg;
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (from == NULL || to == NULL)
		return cli_usage_error(self, "--from FLEET_HOME and --to postgresql://... are required");
	/* The source read-only: nothing of it changes. */
	if ((rc = fsec_fleet_open_readonly(from, &f)) != FSEC_OK)
		return cli_fail(from, rc);
	rc = fsec_fleet_get_registry_location(f, &loc);
	fsec_fleet_free(f);
	if (rc != FSEC_OK)
		return cli_fail(from, rc);
	if (strncmp(loc, "sqlite:", 7) != 0) {
		free(loc);
		fprintf(stderr, "fleetsec: %s: its registry is not SQLite; nothing to migrate\n", from);
		return EXIT_FAILURE;
	}
	rc = fsec_registry_migrate(loc, to, &rep);
	free(loc);
	if (rc != FSEC_OK)
		return cli_fail(to, rc);
	if (c.json) {
		if ((tables = json_array()) == NULL)
			return cli_fail("registry migrate", FSEC_ERR_NOMEM);
		for (size_t i = 0; i < rep.n; i++)
			if (json_array_append_new(tables,
						  json_pack("{s:s, s:I, s:s}", "table", rep.tables[i].name,
							    "rows", (json_int_t)rep.tables[i].rows,
							    "sha256", rep.tables[i].sha256)) != 0) {
				json_decref(tables);
				return cli_fail("registry migrate", FSEC_ERR_NOMEM);
			}
		return cli_print_json(json_pack("{s:s, s:s, s:o}", "from", from, "to", to, "tables",
						tables));
	}
	for (size_t i = 0; i < rep.n; i++)
		printf("%-16s %10llu rows  sha256 %s\n", rep.tables[i].name,
		       (unsigned long long)rep.tables[i].rows, rep.tables[i].sha256);
	printf("copied %s's registry into %s; counts and hashes match. %s is unchanged: set\n"
	       "\"registry\" in its fleet.json to the URL to use the copy.\n",
	       from, to, from);
	return 0;
}

const struct cli_cmd cli_registry_cmds[] = {
	{"registry", "check", registry_check, "run the registry backend's integrity check",
	 "[--home DIR] [--json]\n\n"
	 "Runs the backend's own consistency check (SQLite: integrity_check and\n"
	 "foreign_key_check; PostgreSQL: the schema version, every table readable, and\n"
	 "no row referring to a missing one) and prints each problem found. Exit\n"
	 "status 1 if there is any. With --json: {\"ok\": true|false, \"problems\": [...]}.\n"},
	{"registry", "migrate", registry_migrate, "copy a SQLite fleet's registry into PostgreSQL",
	 "--from FLEET_HOME --to postgresql://... [--json]\n\n"
	 "Copies the SQLite registry of the fleet at FLEET_HOME into an empty PostgreSQL\n"
	 "database: the schema and every row, in one transaction. Before committing,\n"
	 "each table's row count and a SHA-256 over its rows (in key order) are\n"
	 "compared on both sides; any difference, or a target that is not empty, is\n"
	 "refused and leaves the target as it was. The source is only read: FLEET_HOME\n"
	 "and its fleet.json are unchanged (point \"registry\" at the URL to switch).\n"
	 "The URL follows libpq (PG* variables and service file fill in the rest); a\n"
	 "password in it is refused: use ~/.pgpass or PGPASSFILE. With --json:\n"
	 "{\"from\", \"to\", \"tables\": [{\"table\", \"rows\", \"sha256\"}...]}.\n"},
	{"registry", "events", registry_events, "list the event log",
	 "[--device ID] [--action ACTION] [--registry-readonly URL] [--home DIR] [--json]\n\n"
	 "Prints the append-only event log in order: sequence number, time, action\n"
	 "(issue, revoke, device-set, enroll-refused, import, ...), device, who, and\n"
	 "the detail. --device and --action keep only that device's or action's events.\n"
	 "Refused requests follow, latest first, one entry per credential and reason\n"
	 "(action enroll-refused) with how many were refused, since when, and the\n"
	 "latest one's detail and source address. (The first refusal of each is also\n"
	 "an enroll-refused event in the log itself: see 'fleetsec events'.)\n"
	 "JSON members: seq, at, actor, action, device (\"\" if none), detail; a refusal\n"
	 "entry has seq null and also count, first, last, credential (the client\n"
	 "certificate's SHA-256, \"\" if none), reason (the key it is counted under)\n"
	 "and source.\n" CLI_STANDBY_USAGE},
	{"registry", "certs", registry_certs, "list every certificate ever issued",
	 "[--device ID] [--home DIR] [--json]\n\n"
	 "Prints every certificate the registry holds (or only ID's), oldest first:\n"
	 "serial, device, validity, and whether it is revoked and why. JSON members:\n"
	 "serial, device_id, fingerprint_sha256, spki_sha256, not_before, not_after,\n"
	 "issued_at, status (valid or revoked), and revoked_at and reason if revoked.\n"},
	{"registry", "import", registry_import, "import devices, certificates and states as they are",
	 "FILE.json [--home DIR] [--json]\n\n"
	 "Imports records migrated from another system, or edited from 'fleetsec device\n"
	 "show --json': a JSON object with any of \"devices\", \"certificates\" and\n"
	 "\"states\", each an array of objects with the members 'device show --json' and\n"
	 "'registry certs --json' print (times as YYYY-MM-DDTHH:MM:SSZ, \"-\" or UNIX\n"
	 "seconds; a certificate also carries \"certificate_pem\", a state names its\n"
	 "device by \"id\"). A device is inserted or replaced; a certificate seen before\n"
	 "is refused. No key or policy check is made: run 'fleetsec audit fleet' on what\n"
	 "you imported. All of it lands in one transaction, logged as an \"import\"\n"
	 "event, or none of it does.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
