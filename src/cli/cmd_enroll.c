/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fleetsec/est.h"
#include "fleetsec/fileio.h"

/* Enough for a factory batch; larger lists go in several calls. */
#define SERIALS_MAX 100000

static int enroll_allow(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"manufacturer-ca", required_argument, NULL, 'm'},
		{"serials", required_argument, NULL, 's'},
		{"pattern", required_argument, NULL, 'p'},
		{"model", required_argument, NULL, 'M'},
		{"replace", no_argument, NULL, 'r'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_strv p = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *ca = NULL, *serials = NULL, *model = NULL;
	unsigned char *buf = NULL;
	bool replace = false;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'r')
			replace = true;
		else if (opt == 'm')
			ca = optarg;
		else if (opt == 's')
			serials = optarg;
		else if (opt == 'M')
			model = optarg;
		else if (opt == 'p' && !cli_strv_push(&p, optarg)) {
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
	/* A pattern admits devices nobody listed; without a model they get no
	 * release and no network class. */
	if (p.n != 0 && model == NULL) {
		cli_usage_error(self, "--pattern needs --model M");
		goto out;
	}
	if (model != NULL && (status = cli_model(model)) != 0)
		goto out;
	if (serials != NULL && (status = cli_read_ids(serials, SERIALS_MAX, &buf, &p)) != 0)
		goto out;
	status = EXIT_REFUSED;
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK ||
	    (rc = fsec_est_allow(f, ca, p.v, p.n, model, replace, cli_actor())) != FSEC_OK) {
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

struct removed_print {
	json_t *arr; /* --json */
	bool dry_run;
	size_t n;
};

static int print_removed(const char *pattern, const char *model, void *arg)
{
	struct removed_print *rp = arg;

	rp->n++;
	if (rp->arr != NULL)
		return json_array_append_new(rp->arr, json_pack("{s:s, s:s}", "pattern", pattern,
								"model", model)) != 0;
	return printf("%s %s (model %s)\n", rp->dry_run ? "would remove" : "removed", pattern,
		      model[0] != '\0' ? model : "-") < 0;
}

/* enroll remove (patterns given) and enroll disallow (none: the whole CA). */
static int remove_common(int argc, char **argv, const struct cli_cmd *self, bool whole_ca)
{
	static const struct option longopts[] = {
		{"manufacturer-ca", required_argument, NULL, 'm'},
		{"pattern", required_argument, NULL, 'p'},
		{"dry-run", no_argument, NULL, 'n'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct removed_print rp = {0};
	struct cli_strv p = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *ca = NULL;
	char fp[FSEC_SHA256_HEX_LEN];
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'm')
			ca = optarg;
		else if (opt == 'n')
			rp.dry_run = true;
		else if (opt == 'p' && (whole_ca || !cli_strv_push(&p, optarg))) {
			status = whole_ca ? cli_usage_error(self, "disallow takes no --pattern "
								  "(enroll remove does)")
					  : cli_fail("enroll remove", FSEC_ERR_NOMEM);
			goto out;
		}
	}
	if (opt < 0)
		goto out;
	if (optind != argc) {
		status = cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (ca == NULL || (!whole_ca && p.n == 0)) {
		status = cli_usage_error(self, whole_ca ? "--manufacturer-ca FILE is required"
							: "--manufacturer-ca FILE and --pattern P are "
							  "required");
		goto out;
	}
	if (c.json && (rp.arr = json_array()) == NULL) {
		status = cli_fail(self->verb, FSEC_ERR_NOMEM);
		goto out;
	}
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK ||
	    (rc = fsec_est_remove(f, ca, p.v, p.n, rp.dry_run, cli_actor(), print_removed, &rp,
				  fp)) != FSEC_OK) {
		status = cli_fail(ca, rc);
		goto out;
	}
	if (c.json) {
		status = cli_print_json(json_pack("{s:s, s:b, s:b, s:O}", "manufacturer_ca", fp,
						  "dry_run", rp.dry_run, "ca_removed", whole_ca,
						  "removed", rp.arr));
	} else if (whole_ca) {
		status = printf("%s manufacturer CA %s (%zu pattern%s)%s\n",
				rp.dry_run ? "would stop trusting" : "no longer trusting", fp, rp.n,
				rp.n == 1 ? "" : "s", rp.dry_run ? "; nothing written" : "") < 0;
	} else {
		status = rp.dry_run ? puts("nothing written") < 0 : 0;
	}
out:
	json_decref(rp.arr);
	fsec_fleet_free(f);
	free(p.v);
	return status;
}

static int enroll_remove(int argc, char **argv, const struct cli_cmd *self)
{
	return remove_common(argc, argv, self, false);
}

static int enroll_disallow(int argc, char **argv, const struct cli_cmd *self)
{
	return remove_common(argc, argv, self, true);
}

static int enroll_reject(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_enroll_pending_rec p;
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	bool dry_run = false;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		if (opt == 'n')
			dry_run = true;
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one SERIAL");
	rc = fsec_fleet_open(cli_home(&c), &f);
	if (rc == FSEC_OK)
		rc = fsec_est_reject(f, argv[optind], dry_run, cli_actor(), &p);
	fsec_fleet_free(f);
	if (rc != FSEC_OK)
		return cli_fail(argv[optind], rc);
	if (c.json)
		return cli_print_json(json_pack("{s:s, s:b, s:b, s:s, s:s}", "id", p.device_id,
						"dry_run", dry_run, "rejected", !dry_run,
						"key_sha256", p.spki_sha256, "bootstrap_sha256",
						p.bootstrap_fp));
	printf("%s the enrollment of %s (key %s); its bootstrap certificate %s%s\n",
	       dry_run ? "would reject" : "rejected", p.device_id, p.spki_sha256,
	       dry_run ? "would be spent" : "is spent", dry_run ? "; nothing written" : "");
	return 0;
}

const struct cli_cmd cli_enroll_cmds[] = {
	{"enroll", "allow", enroll_allow, "allow devices of a manufacturer CA to enrol (EST)",
	 "--manufacturer-ca FILE (--serials FILE | --pattern PATTERN)... [--model M]\n"
	 "       [--replace] [--home DIR] [--json]\n\n"
	 "Trusts the manufacturer CA in FILE for enrollment only (never for the fleet's\n"
	 "mutual TLS) and allows the listed device serials to enrol through fleetsecd's\n"
	 "/.well-known/est/simpleenroll with their bootstrap certificate. A stolen\n"
	 "bootstrap credential alone cannot enrol an ID that is not listed, and each\n"
	 "bootstrap certificate enrols once.\n\n"
	 "  --manufacturer-ca FILE  the manufacturer's CA certificate (PEM)\n"
	 "  --serials FILE          one serial per line (# comments, blank lines skipped)\n"
	 "  --pattern PATTERN       a serial or an fnmatch pattern such as 'SN-00*'\n"
	 "                          (repeatable)\n"
	 "  --model M               the devices' model: which published release they get;\n"
	 "                          required with --pattern\n"
	 "  --replace               change the model of a serial or pattern already\n"
	 "                          allowed (without it, a different model is refused)\n"},
	{"enroll", "remove", enroll_remove, "take serials or patterns off the allowlist",
	 "--manufacturer-ca FILE --pattern PATTERN... [--dry-run] [--home DIR] [--json]\n\n"
	 "Takes each PATTERN (a serial or a pattern, exactly as 'enroll list' shows it)\n"
	 "off the allowlist of the manufacturer CA in FILE, in one transaction: a pattern\n"
	 "that is not there refuses them all. Devices already enrolled keep their\n"
	 "certificates (see 'device revoke'). --dry-run prints what would go and writes\n"
	 "nothing. JSON: {manufacturer_ca, dry_run, ca_removed, removed: [{pattern, model}]}.\n"},
	{"enroll", "disallow", enroll_disallow, "stop trusting a manufacturer CA for enrollment",
	 "--manufacturer-ca FILE [--dry-run] [--home DIR] [--json]\n\n"
	 "Stops trusting the manufacturer CA in FILE for enrollment, with every serial\n"
	 "and pattern it had: its bootstrap certificates enrol nothing any more.\n"
	 "fleetsecd picks the change up at its next request. Devices it enrolled keep\n"
	 "their certificates: revoke them with 'device revoke --manufacturer-ca SHA256'.\n"
	 "--dry-run prints what would go and writes nothing. JSON as 'enroll remove'.\n"},
	{"enroll", "reject", enroll_reject, "reject a waiting enrollment",
	 "SERIAL [--dry-run] [--home DIR] [--json]\n\n"
	 "Rejects the enrollment SERIAL is waiting for (fleetsecd --approval manual):\n"
	 "the request is forgotten and the bootstrap certificate that made it is spent,\n"
	 "so the same credential asking again is refused as a replay. Logged as\n"
	 "'enroll-reject'. --dry-run prints what would change and writes nothing.\n"
	 "JSON: {id, dry_run, rejected, key_sha256, bootstrap_sha256}.\n"},
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
