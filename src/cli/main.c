/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_cmd *const areas[] = {
	cli_ca_cmds,  cli_device_cmds, cli_inventory_cmds, cli_fw_cmds,      cli_release_cmds, cli_mfr_cmds,
	cli_enroll_cmds, cli_product_cmds, cli_audit_cmds, cli_net_cmds, cli_registry_cmds,
	cli_backup_cmds, cli_mqtt_cmds, cli_privacy_cmds,
};

#define FOR_EACH_CMD(c)                                                                  \
	for (size_t a_ = 0; a_ < sizeof(areas) / sizeof(areas[0]); a_++)               \
		for (const struct cli_cmd *c = areas[a_]; c->area != NULL; c++)

static void overview(FILE *fp)
{
	fputs("usage: fleetsec [--home DIR] <command> [options]\n\n"
	      "fleetsec secures an IoT fleet: a fleet CA, a device registry, certificates\n"
	      "and revocation, zero-touch enrollment (EST, with fleetsecd), signed MCUboot\n"
	      "firmware images and releases, network isolation (MUD to nftables) and an\n"
	      "audit of the common failures.\n\n"
	      "commands:\n",
	      fp);
	FOR_EACH_CMD(c) {
		char name[48];

		snprintf(name, sizeof(name), "%s%s%s", c->area, c->verb != NULL ? " " : "",
			 c->verb != NULL ? c->verb : "");
		fprintf(fp, "  %-21s %s\n", name, c->summary);
	}
	fputs("\nEvery command takes --home DIR (default: $FLEETSEC_HOME, else ~/.fleetsec),\n"
	      "--json for machine-readable output, and --help.\n"
	      "Exit status: 0 success, 1 refused or failed, 2 usage error.\n",
	      fp);
}

/* If area names an area, list its verbs: on stdout with exit 0 for --help,
 * else on stderr with a usage status. Returns false for an unknown area. */
static bool area_help(const char *area, const char *next, int *status)
{
	bool help = next != NULL && (strcmp(next, "--help") == 0 || strcmp(next, "-h") == 0);
	FILE *fp = help ? stdout : stderr;
	bool known = false;

	FOR_EACH_CMD(c) {
		if (strcmp(c->area, area) != 0 || c->verb == NULL)
			continue;
		if (!known)
			fprintf(fp, "usage: fleetsec %s <verb> [options]\n\nverbs:\n", area);
		known = true;
		fprintf(fp, "  %-10s %s\n", c->verb, c->summary);
	}
	if (known && !help && next != NULL)
		fprintf(stderr, "fleetsec: unknown verb '%s' for '%s'\n", next, area);
	*status = help ? 0 : EXIT_USAGE;
	return known;
}

int main(int argc, char **argv)
{
	const char *home = NULL;
	int i = 1, status;

	/* A global --home before the command is passed on to it. */
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			overview(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			puts("fleetsec " FSEC_VERSION_STR);
			return 0;
		}
		if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
			home = argv[i + 1];
			i += 2;
			continue;
		}
		if (strncmp(argv[i], "--home=", 7) == 0) {
			home = argv[i] + 7;
			i++;
			continue;
		}
		fprintf(stderr, "fleetsec: unknown option '%s' (see 'fleetsec --help')\n", argv[i]);
		return EXIT_USAGE;
	}
	if (i >= argc) {
		overview(stderr);
		return EXIT_USAGE;
	}
	FOR_EACH_CMD(c) {
		char **sub;
		int n, shift;

		if (strcmp(c->area, argv[i]) != 0)
			continue;
		if (c->verb != NULL && (i + 1 >= argc || strcmp(c->verb, argv[i + 1]) != 0))
			continue;
		shift = c->verb != NULL ? i + 1 : i;
		/* The command sees argv[0] = its name, then its own arguments, and
		 * a global --home re-inserted so getopt handles it uniformly. */
		sub = argv + shift;
		n = argc - shift;
		if (home != NULL) {
			static char *with_home[512];

			if (n + 2 > (int)(sizeof(with_home) / sizeof(with_home[0]))) {
				fputs("fleetsec: too many arguments\n", stderr);
				return EXIT_USAGE;
			}
			with_home[0] = sub[0];
			with_home[1] = "--home";
			with_home[2] = (char *)home;
			memcpy(with_home + 3, sub + 1, (size_t)(n - 1) * sizeof(char *));
			sub = with_home;
			n += 2;
		}
		optind = 0;
		return c->fn(n, sub, c);
	}
	/* An area alone, with --help, or with an unknown verb: list its verbs. */
	if (area_help(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &status))
		return status;
	fprintf(stderr, "fleetsec: unknown command '%s' (see 'fleetsec --help')\n", argv[i]);
	return EXIT_USAGE;
}
