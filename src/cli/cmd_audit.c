/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "fleetsec/audit.h"
#include "fleetsec/fleet.h"

#define DAYS_MAX 36500
#define DISABLE_MAX 64

/* The options every audit takes: output format and file, --fail-on and
 * --disable. */
struct audit_out {
	enum fsec_audit_format format;
	const char *out;
	int fail_on; /* -1: never fail on findings */
	const char *disable[DISABLE_MAX];
	size_t ndisable;
};

#define AUDIT_LONGOPTS                                                                      \
	{"sarif", no_argument, NULL, 'S'}, {"out", required_argument, NULL, 'o'},            \
		{"fail-on", required_argument, NULL, 'F'},                                    \
		{"disable", required_argument, NULL, 'D'}

/* Handle one of AUDIT_LONGOPTS. Returns 0, or an exit status. */
static int audit_opt(const struct cli_cmd *self, int opt, struct audit_out *ao)
{
	enum fsec_audit_sev sev;

	switch (opt) {
	case 'S': ao->format = FSEC_AUDIT_SARIF; return 0;
	case 'o': ao->out = optarg; return 0;
	case 'F':
		if (fsec_audit_sev_parse(optarg, &sev) != FSEC_OK)
			return cli_usage_error(self,
					       "--fail-on must be critical, high, medium, low or info");
		ao->fail_on = (int)sev;
		return 0;
	case 'D':
		if (ao->ndisable == DISABLE_MAX)
			return cli_usage_error(self, "at most %d --disable options", DISABLE_MAX);
		if (fsec_audit_check_find(optarg) == NULL)
			return cli_usage_error(self, "unknown check '%s' (see 'fleetsec audit checks')",
					       optarg);
		ao->disable[ao->ndisable++] = optarg;
		return 0;
	}
	return cli_usage_error(self, "unexpected option");
}

static int new_audit(const struct audit_out *ao, struct fsec_audit **a)
{
	enum fsec_err rc = fsec_audit_new(a);

	for (size_t i = 0; rc == FSEC_OK && i < ao->ndisable; i++)
		rc = fsec_audit_disable(*a, ao->disable[i]);
	return rc == FSEC_OK ? 0 : cli_fail("audit", rc);
}

/* Print or write the findings; the exit status follows --fail-on. */
static int finish(struct fsec_audit *a, const struct cli_common *c, const struct audit_out *ao)
{
	enum fsec_audit_format fmt = c->json && ao->format == FSEC_AUDIT_TABLE ? FSEC_AUDIT_JSON
									    : ao->format;
	char *text = NULL;
	size_t len = 0;
	enum fsec_err rc;
	int status;

	fsec_audit_sort(a);
	rc = fsec_audit_render(a, fmt, "0.1.0", &text, &len);
	if (rc != FSEC_OK)
		return cli_fail("audit", rc);
	status = cli_emit(ao->out, text, len);
	free(text);
	if (status != 0)
		return status;
	if (ao->fail_on >= 0 && fsec_audit_max_severity(a) >= ao->fail_on) {
		fprintf(stderr, "fleetsec: audit: findings at or above %s\n",
			fsec_audit_sev_name((enum fsec_audit_sev)ao->fail_on));
		return EXIT_REFUSED;
	}
	return 0;
}

/* One audit from start to exit status: a new audit with the --disable list,
 * run(arg) to fill it, then the report. what names the input in an error. */
static int run_audit(const struct audit_out *ao, const struct cli_common *c, const char *what,
		     enum fsec_err (*run)(const void *arg, struct fsec_audit *a), const void *arg)
{
	struct fsec_audit *a = NULL;
	enum fsec_err rc;
	int status;

	if ((status = new_audit(ao, &a)) != 0)
		return status;
	rc = run(arg, a);
	status = rc == FSEC_OK ? finish(a, c, ao) : cli_fail(what, rc);
	fsec_audit_free(a);
	return status;
}

struct fleet_args {
	struct fsec_fleet *f;
	const struct fsec_audit_fleet_opts *o;
};

static enum fsec_err run_fleet(const void *arg, struct fsec_audit *a)
{
	const struct fleet_args *x = arg;

	return fsec_audit_fleet(x->f, x->o, a);
}

/* Firmware and network audits both take the command's operands. */
struct operand_args {
	const char *const *v;
	size_t n;
	const void *o;
};

static enum fsec_err run_firmware(const void *arg, struct fsec_audit *a)
{
	const struct operand_args *x = arg;

	return fsec_audit_firmware(x->v, x->n, x->o, a);
}

static enum fsec_err run_network(const void *arg, struct fsec_audit *a)
{
	const struct operand_args *x = arg;

	return fsec_audit_network(x->v, x->n, x->o, a);
}

static enum fsec_err run_broker(const void *arg, struct fsec_audit *a)
{
	const struct operand_args *x = arg;

	return fsec_audit_broker(x->v, x->n, (int64_t)time(NULL), a);
}

static int audit_broker(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {AUDIT_LONGOPTS, CLI_COMMON_LONGOPTS,
						 {NULL, 0, NULL, 0}};
	struct audit_out ao = {.fail_on = -1};
	struct operand_args args = {0};
	struct cli_common c = {0};
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		if ((status = audit_opt(self, opt, &ao)) != 0)
			return status;
	if (opt < 0)
		return status;
	if (optind == argc)
		return cli_usage_error(self, "expected one or more mosquitto.conf files");
	args.v = (const char *const *)argv + optind;
	args.n = (size_t)(argc - optind);
	return run_audit(&ao, &c, "audit broker", run_broker, &args);
}

static int audit_checks(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	const struct fsec_audit_check *checks;
	struct cli_common c = {0};
	int opt, status = EXIT_REFUSED;
	size_t n;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		;
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	checks = fsec_audit_checks(&n);
	if (c.json) {
		json_t *list = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(
				list, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", checks[i].id, "area",
						fsec_audit_area_name(checks[i].area), "severity",
						fsec_audit_sev_name(checks[i].severity), "title",
						checks[i].title, "remediation", checks[i].remediation));
		return cli_print_json(list);
	}
	printf("%-22s  %-8s  %-8s  %s\n", "CHECK", "AREA", "SEVERITY", "WHAT");
	for (size_t i = 0; i < n; i++)
		printf("%-22s  %-8s  %-8s  %s\n", checks[i].id, fsec_audit_area_name(checks[i].area),
		       fsec_audit_sev_name(checks[i].severity), checks[i].title);
	return 0;
}

static int audit_fleet(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"expiry-days", required_argument, NULL, 'e'},
		{"ca-expiry-days", required_argument, NULL, 'c'},
		{"stale-days", required_argument, NULL, 's'},
		{"max-silence-days", required_argument, NULL, 'z'},
		AUDIT_LONGOPTS,
		CLI_STANDBY_LONGOPT,
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct audit_out ao = {.fail_on = -1};
	struct fsec_audit_fleet_opts o = {0};
	struct fleet_args args = {.o = &o};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	int opt, status = EXIT_REFUSED;
	long v;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'e':
		case 'c':
		case 's':
			if (!cli_int(self, opt == 'e' ? "--expiry-days" : opt == 'c' ? "--ca-expiry-days"
										      : "--stale-days",
				     optarg, 1, DAYS_MAX, &v))
				return EXIT_USAGE;
			*(opt == 'e' ? &o.expiry_days : opt == 'c' ? &o.ca_expiry_days : &o.stale_days) =
				(int)v;
			break;
		case 'z':
			if (!cli_int(self, "--max-silence-days", optarg, 1, DAYS_MAX, &v))
				return EXIT_USAGE;
			o.max_silence_days = (int)v;
			break;
		default:
			if ((status = audit_opt(self, opt, &ao)) != 0)
				return status;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if ((status = cli_open_fleet(&c, &f)) != 0)
		return status;
	args.f = f;
	status = run_audit(&ao, &c, "audit fleet", run_fleet, &args);
	fsec_fleet_free(f);
	return status;
}

static int audit_firmware(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"across", no_argument, NULL, 'A'},
		{"max-file-size", required_argument, NULL, 'm'},
		AUDIT_LONGOPTS,
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct audit_out ao = {.fail_on = -1};
	struct fsec_audit_fw_opts o = {0};
	struct operand_args args = {.o = &o};
	struct cli_common c = {0};
	bool across = false;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'A': across = true; break;
		case 'm':
			if (!cli_uint(self, "--max-file-size", optarg, 1, 1ull << 32, &o.file_max))
				return EXIT_USAGE;
			break;
		default:
			if ((status = audit_opt(self, opt, &ao)) != 0)
				return status;
		}
	}
	if (opt < 0)
		return status;
	if (optind == argc)
		return cli_usage_error(self, "expected a root filesystem directory or tar file");
	if (!across && argc - optind > 1)
		return cli_usage_error(self, "several images need --across");
	if (argc - optind > FSEC_AUDIT_FW_MAX_IMAGES)
		return cli_usage_error(self, "at most %d images", FSEC_AUDIT_FW_MAX_IMAGES);
	args.v = (const char *const *)argv + optind;
	args.n = (size_t)(argc - optind);
	return run_audit(&ao, &c, argv[optind], run_firmware, &args);
}

static int audit_network(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"ports", required_argument, NULL, 'p'},
		{"timeout-ms", required_argument, NULL, 't'},
		{"inflight", required_argument, NULL, 'i'},
		{"try-default-credentials", no_argument, NULL, 'C'},
		AUDIT_LONGOPTS,
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct audit_out ao = {.fail_on = -1};
	struct fsec_audit_net_opts o = {0};
	struct operand_args args = {.o = &o};
	struct cli_common c = {0};
	int opt, status = EXIT_REFUSED;
	long v;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'p': o.ports = optarg; break;
		case 'C': o.try_default_credentials = true; break;
		case 't':
			if (!cli_int(self, "--timeout-ms", optarg, 50, FSEC_AUDIT_NET_TIMEOUT_MAX_MS, &v))
				return EXIT_USAGE;
			o.timeout_ms = (int)v;
			break;
		case 'i':
			if (!cli_int(self, "--inflight", optarg, 1, FSEC_AUDIT_NET_MAX_INFLIGHT, &v))
				return EXIT_USAGE;
			o.inflight = (int)v;
			break;
		default:
			if ((status = audit_opt(self, opt, &ao)) != 0)
				return status;
		}
	}
	if (opt < 0)
		return status;
	if (optind == argc)
		return cli_usage_error(self, "expected one or more hosts or CIDR blocks");
	args.v = (const char *const *)argv + optind;
	args.n = (size_t)(argc - optind);
	return run_audit(&ao, &c, "audit network", run_network, &args);
}

#define AUDIT_OUT_HELP                                                                       \
	"Output: a table (default), --json, or --sarif (SARIF 2.1.0); --out FILE writes it\n" \
	"atomically instead of to stdout. --fail-on SEVERITY exits 1 when any finding is\n"   \
	"at or above it (critical, high, medium, low, info). --disable CHECK (repeatable)\n"  \
	"turns a check off; 'fleetsec audit checks' lists them.\n"

const struct cli_cmd cli_audit_cmds[] = {
	{"audit", "checks", audit_checks, "list the audit checks", "[--json]\n\n"
	 "Lists every check: ID, area, severity and what it finds. docs/AUDIT.md has the\n"
	 "remediation for each.\n"},
	{"audit", "fleet", audit_fleet, "audit the registry for common fleet failures",
	 "[--expiry-days N] [--ca-expiry-days N] [--stale-days N]\n"
	 "       [--max-silence-days N] [--json | --sarif] [--out FILE] [--fail-on SEVERITY] [--disable CHECK]\n"
	 "       [--registry-readonly URL]\n\n"
	 "Shared and weak keys (RSA < 2048, ROCA, other curves), certificates expiring\n"
	 "within N days (30; CA 180), revoked devices seen later, firmware below the\n"
	 "model's release, no check-in for N days (30), products past support end,\n"
	 "trust-on-first-use provisioning, devices that never reported, IDs that\n"
	 "collide across manufacturers, and frozen devices: those that report it, or\n"
	 "whose last fresh signed update answer is older than N days (7, the agents'\n"
	 "max_silence). And what lapses: the CRL, published release manifests and\n"
	 "their delegations, the server certificate and the issuing and root CAs:\n"
	 "medium within a quarter of their lifetime or 30 days, high within a tenth\n"
	 "or 2 days, critical once expired.\n\n" AUDIT_OUT_HELP CLI_STANDBY_USAGE},
	{"audit", "firmware", audit_firmware, "audit root filesystems (directory or tar)",
	 "PATH | --across PATH PATH...\n"
	 "       [--max-file-size BYTES] [--json | --sarif] [--out FILE] [--fail-on SEVERITY]\n"
	 "       [--disable CHECK]\n\n"
	 "Default and empty passwords (crypt(3)), private keys and SSH host keys,\n"
	 "telnet/ftp/tftp/http/ssh services, serial consoles, cleartext endpoints and\n"
	 "disabled TLS verification, and the lack of an update client. Never follows a\n"
	 "symlink; files over --max-file-size (16 MiB) are reported as skipped. With\n"
	 "--across, a key found in several images is reported as a fleet-wide key.\n\n"
	 AUDIT_OUT_HELP},
	{"audit", "network", audit_network, "probe given hosts for open management ports",
	 "TARGET... [--ports LIST] [--timeout-ms 1500] [--inflight 32]\n"
	 "       [--try-default-credentials] [--json | --sarif] [--out FILE] [--fail-on SEVERITY]\n"
	 "       [--disable CHECK]\n\n"
	 "Probes only the TARGETs given (addresses, CIDR blocks, host names; at most\n"
	 "4096 addresses in all) on LIST (default 21,22,23,80,1883,2323,5683/udp,7547,\n"
	 "8000,8080,8081,8888): TCP connect, banner, HTTP GET, MQTT CONNECT, CoAP GET.\n"
	 "Reports telnet, MQTT accepting anonymous clients, HTTP admin without TLS and\n"
	 "other cleartext services; with --try-default-credentials, also HTTP Basic,\n"
	 "telnet and MQTT logins that succeed with well-known defaults. Every connect\n"
	 "and read waits at most --timeout-ms; at most --inflight probes run at once.\n\n"
	 AUDIT_OUT_HELP},
	{"audit", "broker", audit_broker, "audit MQTT broker (Mosquitto) configurations",
	 "MOSQUITTO.CONF... [--json | --sarif] [--out FILE] [--fail-on SEVERITY]\n"
	 "       [--disable CHECK]\n\n"
	 "Reads each configuration as Mosquitto 2.0 does (listener blocks, the *.conf\n"
	 "files of include_dir) and reports listeners without TLS or without client\n"
	 "certificates, allow_anonymous true, use_identity_as_username (which skips\n"
	 "every plugin's authentication), no revocation check at all, a crlfile that\n"
	 "has expired or expires within 2 days (Mosquitto reads it only at start and\n"
	 "on SIGHUP), and the fleetsec plugin under per_listener_settings true.\n\n"
	 AUDIT_OUT_HELP},
	{NULL, NULL, NULL, NULL, NULL},
};
