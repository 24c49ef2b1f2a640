/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fleetsec/mfr.h"

#define DAYS_MAX 36500

static int mfr_init(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"name", required_argument, NULL, 'n'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_common c = {0};
	const char *dir = NULL, *name = NULL;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'd')
			dir = optarg;
		else if (opt == 'n')
			name = optarg;
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (dir == NULL || name == NULL)
		return cli_usage_error(self, "--dir and --name are required");
	if ((rc = fsec_mfr_create(dir, name)) != FSEC_OK)
		return cli_fail(dir, rc);
	if (c.json)
		return cli_print_json(json_pack("{s:s, s:s, s:s+}", "dir", dir, "name", name,
						"ca", dir, "/ca.pem"));
	printf("manufacturer CA '%s' created: %s/ca.pem (key ca.key)\n", name, dir);
	return 0;
}

static int mfr_issue(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"keygen", no_argument, NULL, 'g'},
		{"key-out", required_argument, NULL, 'k'},
		{"key-algo", required_argument, NULL, 'a'},
		{"days", required_argument, NULL, 'D'},
		{"out", required_argument, NULL, 'o'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_mfr_issue_opts o = {0};
	struct cli_common c = {0};
	const char *dir = NULL;
	enum fsec_err rc;
	int opt, status;
	long v;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'g': break; /* the key is always generated; accepted as device issue takes it */
		case 'k': o.key_out = optarg; break;
		case 'o': o.cert_out = optarg; break;
		case 'a':
			if (fsec_key_algo_parse(optarg, &o.key_algo) != FSEC_OK)
				return cli_usage_error(self, "--key-algo must be p256, p384 or ed25519");
			break;
		case 'D':
			if (!cli_int(self, "--days", optarg, 1, DAYS_MAX, &v))
				return EXIT_USAGE;
			o.days = (int)v;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one SERIAL");
	if (dir == NULL || o.key_out == NULL || o.cert_out == NULL)
		return cli_usage_error(self, "--dir, --key-out and --out are required");
	o.serial = argv[optind];
	if ((rc = fsec_mfr_issue(dir, &o)) != FSEC_OK)
		return cli_fail(o.serial, rc);
	if (c.json)
		return cli_print_json(json_pack("{s:s, s:s, s:s}", "serial", o.serial, "key_out",
						o.key_out, "cert_out", o.cert_out));
	fprintf(stderr, "bootstrap certificate for %s written to %s (key %s)\n", o.serial,
		o.cert_out, o.key_out);
	return 0;
}

const struct cli_cmd cli_mfr_cmds[] = {
	{"mfr", "init", mfr_init, "create a manufacturer CA for bootstrap certificates",
	 "--dir DIR --name NAME [--json]\n\n"
	 "Creates a small manufacturer CA in DIR (ca.pem, ca.key 0600), standing in for\n"
	 "a chip vendor's: it issues the bootstrap (IDevID-like) certificates devices\n"
	 "leave the factory with. The fleet trusts it for enrollment only\n"
	 "(fleetsec enroll allow). A directory that already holds a CA is refused.\n"},
	{"mfr", "issue", mfr_issue, "issue a device's bootstrap certificate and key",
	 "SERIAL --dir DIR --key-out FILE --out FILE [--keygen] [--key-algo ALGO]\n"
	 "       [--days N] [--json]\n\n"
	 "Generates a device key (P-256 by default) and issues it a bootstrap\n"
	 "certificate with SERIAL as the subject's serialNumber and CN: the ID the\n"
	 "device will enrol as. Existing files are never overwritten.\n\n"
	 "  --key-out FILE   the device key (0600)\n"
	 "  --out FILE       the bootstrap certificate (PEM)\n"
	 "  --key-algo ALGO  p256 (default), p384 or ed25519\n"
	 "  --days N         validity (default 7300)\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
