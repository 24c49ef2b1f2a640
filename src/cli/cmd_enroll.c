/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fleetsec/est.h"
#include "fleetsec/fileio.h"

/* Enough for a factory batch; larger lists go in several calls. */
#define SERIALS_MAX 100000
#define SERIALS_FILE_MAX (8u * 1024u * 1024u)

struct patterns {
	const char **v;
	size_t n, cap;
};

static bool push(struct patterns *p, const char *s)
{
	if (p->n == p->cap) {
		size_t ncap = p->cap != 0 ? p->cap * 2 : 64;
		const char **nv = realloc(p->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return false;
		p->v = nv;
		p->cap = ncap;
	}
	p->v[p->n++] = s;
	return true;
}

/* One serial per line; blank lines and # comments skipped. Each must be a
 * device ID: a typo here would otherwise allow nothing, silently. The
 * strings point into *buf, which the caller frees. */
static int read_serials(const char *path, unsigned char **buf, struct patterns *p)
{
	size_t len = 0, lineno = 0;
	char *s, *save = NULL, *line;
	enum fsec_err rc = fsec_file_read(path, SERIALS_FILE_MAX, buf, &len);

	if (rc != FSEC_OK)
		return cli_fail(path, rc);
	s = (char *)*buf;
	if (memchr(s, '\0', len) != NULL) {
		fprintf(stderr, "fleetsec: %s: not a text file\n", path);
		return EXIT_REFUSED;
	}
	for (line = s; line != NULL; line = save) {
		char *end;

		lineno++;
		save = strchr(line, '\n');
		if (save != NULL)
			*save++ = '\0';
		end = line + strlen(line);
		while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		if (!fsec_devid_valid(line)) {
			fprintf(stderr, "fleetsec: %s:%zu: '%.64s' is not a valid serial\n", path,
				lineno, line);
			return EXIT_REFUSED;
		}
		if (p->n >= SERIALS_MAX || !push(p, line)) {
			fprintf(stderr, "fleetsec: %s: more than %d serials\n", path, SERIALS_MAX);
			return EXIT_REFUSED;
		}
	}
	return 0;
}

static int enroll_allow(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"manufacturer-ca", required_argument, NULL, 'm'},
		{"serials", required_argument, NULL, 's'},
		{"pattern", required_argument, NULL, 'p'},
		{"model", required_argument, NULL, 'M'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct patterns p = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *ca = NULL, *serials = NULL, *model = NULL;
	unsigned char *buf = NULL;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'm')
			ca = optarg;
		else if (opt == 's')
			serials = optarg;
		else if (opt == 'M')
			model = optarg;
		else if (opt == 'p' && !push(&p, optarg)) {
			fputs("fleetsec: out of memory\n", stderr);
			goto out;
		}
	}
	if (opt < 0)
		goto out;
	status = EXIT_USAGE;
	if (optind != argc) {
		cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (ca == NULL || (serials == NULL && p.n == 0)) {
		cli_usage_error(self, "--manufacturer-ca and --serials FILE or --pattern are required");
		goto out;
	}
	if (model != NULL && (status = cli_model(model)) != 0)
		goto out;
	if (serials != NULL && (status = read_serials(serials, &buf, &p)) != 0)
		goto out;
	status = EXIT_REFUSED;
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK ||
	    (rc = fsec_est_allow(f, ca, p.v, p.n, model, cli_actor())) != FSEC_OK) {
		status = cli_fail(ca, rc);
		goto out;
	}
	if (c.json)
		status = cli_print_json(json_pack("{s:s, s:I}", "manufacturer_ca", ca, "allowed",
						  (json_int_t)p.n));
	else
		status = printf("allowed %zu serial%s or pattern%s from %s to enrol\n", p.n,
				p.n == 1 ? "" : "s", p.n == 1 ? "" : "s", ca) < 0;
out:
	fsec_fleet_free(f);
	free(p.v);
	free(buf);
	return status;
}

struct pending_print {
	json_t *arr;
	size_t n;
};

static int print_pending(const struct fsec_enroll_pending_rec *r, void *arg)
{
	struct pending_print *pp = arg;
	char at[32];

	cli_time(r->requested_at, at, sizeof(at));
	pp->n++;
	if (pp->arr != NULL)
		return json_array_append_new(pp->arr,
					     json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", r->device_id,
						       "model", r->model, "requested_at", at,
						       "key_sha256", r->spki_sha256, "bootstrap_sha256",
						       r->bootstrap_fp)) != 0;
	printf("%-24s %-16s %s  key %s\n", r->device_id, r->model[0] != '\0' ? r->model : "-", at,
	       r->spki_sha256);
	return 0;
}

static int enroll_pending(int argc, char **argv, const struct cli_cmd *self)
{
	struct pending_print pp = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	enum fsec_err rc;
	int status;

	if ((status = cli_common_only(argc, argv, self, &c, 0, "no arguments")) != CLI_GO_ON)
		return status;
	if (c.json && (pp.arr = json_array()) == NULL)
		return cli_fail("enroll pending", FSEC_ERR_NOMEM);
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK ||
	    (rc = fsec_registry_pending_list(fsec_fleet_get_registry(f), print_pending, &pp)) !=
		    FSEC_OK) {
		json_decref(pp.arr);
		fsec_fleet_free(f);
		return cli_fail(cli_home(&c), rc);
	}
	fsec_fleet_free(f);
	if (c.json)
		return cli_print_json(pp.arr);
	if (pp.n == 0)
		puts("no enrollment is waiting for approval");
	return 0;
}

static int enroll_approve(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"key", required_argument, NULL, 'k'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *key = NULL;
	int opt;
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	enum fsec_err rc;
	int status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		if (opt == 'k')
			key = optarg;
	if (opt < 0)
		return status;
	if (optind + 1 != argc || key == NULL)
		return cli_usage_error(self, "expected SERIAL and --key SHA256");
	rc = fsec_fleet_open(cli_home(&c), &f);
	if (rc == FSEC_OK)
		rc = fsec_est_approve(f, argv[optind], key, cli_actor());
	fsec_fleet_free(f);
	if (rc != FSEC_OK)
		return cli_fail(argv[optind], rc);
	if (c.json)
		return cli_print_json(json_pack("{s:s, s:b}", "id", argv[optind], "approved", 1));
	printf("approved: %s gets its certificate at its next request\n", argv[optind]);
	return 0;
}

struct ca_print {
	struct fsec_registry *reg;
	json_t *arr;      /* --json */
	json_t *patterns; /* the current CA's, with --json */
	enum fsec_err rc;
	size_t n;
};

static int print_pattern(const char *pattern, const char *model, void *arg)
{
	struct ca_print *cp = arg;

	if (cp->patterns != NULL)
		return json_array_append_new(cp->patterns, json_pack("{s:s, s:s}", "pattern", pattern,
								     "model", model)) != 0;
	printf("  %-32s %s\n", pattern, model[0] != '\0' ? model : "-");
	return 0;
}

static int print_ca(const struct fsec_enroll_ca_rec *r, const char *pem, void *arg)
{
	struct ca_print *cp = arg;
	char t[32];

	(void)pem;
	cp->n++;
	cli_time(r->added_at, t, sizeof(t));
	cp->patterns = NULL;
	if (cp->arr != NULL) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:[]}", "fingerprint_sha256", r->fingerprint,
				      "subject", r->subject, "added_at", t, "patterns");

		if (o == NULL || json_array_append_new(cp->arr, o) != 0) {
			cp->rc = FSEC_ERR_NOMEM;
			return 1;
		}
		cp->patterns = json_object_get(o, "patterns");
	} else {
		printf("%s  %s (added %s)\n", r->fingerprint, r->subject, t);
	}
	cp->rc = fsec_registry_enroll_allow_list(cp->reg, r->fingerprint, print_pattern, cp);
	return cp->rc != FSEC_OK;
}

static int enroll_list(int argc, char **argv, const struct cli_cmd *self)
{
	struct ca_print cp = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	enum fsec_err rc;
	int status;

	if ((status = cli_common_only(argc, argv, self, &c, 0, "no arguments")) != CLI_GO_ON)
		return status;
	if (c.json && (cp.arr = json_array()) == NULL)
		return cli_fail("enroll list", FSEC_ERR_NOMEM);
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) == FSEC_OK) {
		cp.reg = fsec_fleet_get_registry(f);
		if ((rc = fsec_registry_enroll_ca_list(cp.reg, print_ca, &cp)) == FSEC_OK)
			rc = cp.rc;
	}
	fsec_fleet_free(f);
	if (rc != FSEC_OK) {
		json_decref(cp.arr);
		return cli_fail(cli_home(&c), rc);
	}
	if (c.json)
		return cli_print_json(cp.arr);
	if (cp.n == 0)
		puts("no manufacturer CA is trusted for enrollment");
	return 0;
}

struct spent_print {
	json_t *arr; /* --json */
	size_t n;
};

static int print_spent(const struct fsec_bootstrap_rec *b, void *arg)
{
	struct spent_print *sp = arg;
	char t[32];

	sp->n++;
	cli_time(b->at, t, sizeof(t));
	if (sp->arr != NULL)
		return json_array_append_new(sp->arr,
					     json_pack("{s:s, s:s, s:s, s:s}", "bootstrap_sha256",
						       b->fingerprint, "use", b->use, "id",
						       b->device_id, "at", t)) != 0;
	printf("%s  %-9s %-24s %s\n", t, b->use, b->device_id, b->fingerprint);
	return 0;
}

static int enroll_spent(int argc, char **argv, const struct cli_cmd *self)
{
	struct spent_print sp = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	enum fsec_err rc;
	int status;

	if ((status = cli_common_only(argc, argv, self, &c, 0, "no arguments")) != CLI_GO_ON)
		return status;
	if (c.json && (sp.arr = json_array()) == NULL)
		return cli_fail("enroll spent", FSEC_ERR_NOMEM);
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) == FSEC_OK)
		rc = fsec_registry_bootstrap_list(fsec_fleet_get_registry(f), print_spent, &sp);
	fsec_fleet_free(f);
	if (rc != FSEC_OK) {
		json_decref(sp.arr);
		return cli_fail(cli_home(&c), rc);
	}
	if (c.json)
		return cli_print_json(sp.arr);
	if (sp.n == 0)
		puts("no bootstrap credential has been used");
	return 0;
}

const struct cli_cmd cli_enroll_cmds[] = {
	{"enroll", "allow", enroll_allow, "allow devices of a manufacturer CA to enrol (EST)",
	 "--manufacturer-ca FILE (--serials FILE | --pattern PATTERN)... [--model M]\n"
	 "       [--home DIR] [--json]\n\n"
	 "Trusts the manufacturer CA in FILE for enrollment only (never for the fleet's\n"
	 "mutual TLS) and allows the listed device serials to enrol through fleetsecd's\n"
	 "/.well-known/est/simpleenroll with their bootstrap certificate. A stolen\n"
	 "bootstrap credential alone cannot enrol an ID that is not listed, and each\n"
	 "bootstrap certificate enrols once.\n\n"
	 "  --manufacturer-ca FILE  the manufacturer's CA certificate (PEM)\n"
	 "  --serials FILE          one serial per line (# comments, blank lines skipped)\n"
	 "  --pattern PATTERN       a serial or an fnmatch pattern such as 'SN-00*'\n"
	 "                          (repeatable)\n"
	 "  --model M               the devices' model: which published release they get\n"},
	{"enroll", "pending", enroll_pending, "list enrollments waiting for approval",
	 "[--home DIR] [--json]\n\n"
	 "With fleetsecd --approval manual, an enrollment that passes every check waits\n"
	 "for the operator. Lists those not yet approved: serial, model, when, key.\n"},
	{"enroll", "approve", enroll_approve, "approve a waiting enrollment",
	 "SERIAL --key SHA256 [--home DIR] [--json]\n\n"
	 "Approves the enrollment SERIAL is waiting for, for the key you checked: SHA256\n"
	 "is the key's SHA-256 as 'enroll pending' shows it (at least its first 16 hex\n"
	 "digits). Only a request with that key then gets the certificate, so a key\n"
	 "swapped in after you looked is not approved.\n"},
	{"enroll", "list", enroll_list, "list the manufacturer CAs trusted for enrollment",
	 "[--home DIR] [--json]\n\n"
	 "Prints each manufacturer CA 'enroll allow' trusted (SHA-256 of the certificate,\n"
	 "subject, when) and the serials or patterns it may enrol, with their model.\n"
	 "JSON: [{fingerprint_sha256, subject, added_at, patterns: [{pattern, model}]}].\n"},
	{"enroll", "spent", enroll_spent, "list the bootstrap credentials used",
	 "[--home DIR] [--json]\n\n"
	 "Each bootstrap certificate enrols once and re-enrols once. Prints every use\n"
	 "recorded, oldest first: when, the use (enroll or re-enroll), the device and\n"
	 "the SHA-256 of the bootstrap certificate. JSON members: bootstrap_sha256, use,\n"
	 "id, at.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
