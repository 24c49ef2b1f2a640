/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsec backup and fleetsec restore: options in, libfleetsec's backup.h
 * does the work. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "fleetsec/backup.h"

/* The passphrase from --passphrase-file or the variable --passphrase-env
 * names: never from the command line, where ps(1) would show it. */
static int passphrase(const struct cli_cmd *self, const char *file, const char *env,
		      unsigned char **out, size_t *len)
{
	const char *v;
	enum fsec_err rc;

	if (file != NULL && env != NULL)
		return cli_usage_error(self, "give --passphrase-file or --passphrase-env, not both");
	if (file != NULL) {
		if ((rc = fsec_backup_passphrase_read(file, out, len)) != FSEC_OK)
			return cli_fail(file, rc);
		return 0;
	}
	if (env == NULL)
		return 0;
	if ((v = getenv(env)) == NULL || v[0] == '\0') {
		fprintf(stderr, "fleetsec: %s: the variable is not set\n", env);
		return EXIT_REFUSED;
	}
	*len = strlen(v);
	if ((*out = OPENSSL_memdup(v, *len)) == NULL) {
		fputs("fleetsec: out of memory\n", stderr);
		return EXIT_REFUSED;
	}
	return 0;
}

static int backup(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"out", required_argument, NULL, 'o'},
		{"with-keys", no_argument, NULL, 'k'},
		{"passphrase-file", required_argument, NULL, 'p'},
		{"passphrase-env", required_argument, NULL, 'e'},
		{"recipient", required_argument, NULL, 'r'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *recips[FSEC_BACKUP_RECIPIENTS_MAX];
	struct fsec_backup_opts o = {.recipients = recips};
	struct fsec_backup_info info;
	struct cli_common c = {0};
	const char *out = NULL, *pfile = NULL, *penv = NULL;
	unsigned char *pass = NULL;
	size_t plen = 0;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 'k': o.with_keys = true; break;
		case 'p': pfile = optarg; break;
		case 'e': penv = optarg; break;
		case 'r':
			if (o.n_recipients == FSEC_BACKUP_RECIPIENTS_MAX)
				return cli_usage_error(self, "at most %u --recipient",
						       FSEC_BACKUP_RECIPIENTS_MAX);
			recips[o.n_recipients++] = optarg;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (out == NULL)
		return cli_usage_error(self, "--out is required");
	if ((status = passphrase(self, pfile, penv, &pass, &plen)) != 0)
		return status;
	o.passphrase = pass;
	o.passphrase_len = plen;
	rc = fsec_backup_create(cli_home(&c), out, &o, &info);
	OPENSSL_clear_free(pass, plen);
	if (rc != FSEC_OK)
		return cli_fail(out, rc);
	if (c.json)
		return cli_print_json(json_pack("{s:s, s:I, s:b, s:I, s:b}", "out", out, "files",
						(json_int_t)info.files, "keys", info.keys,
						"keys_left_out", (json_int_t)info.keys_left_out,
						"encrypted", info.encrypted));
	printf("backup of %s written to %s: %zu files, %s, %s\n", cli_home(&c), out, info.files,
	       info.keys ? "private keys included" : "no private keys",
	       info.encrypted ? "encrypted" : "not encrypted");
	if (info.keys_left_out > 0)
		printf("%zu private key file%s left out: keep %s safe apart\n", info.keys_left_out,
		       info.keys_left_out == 1 ? "" : "s", info.keys_left_out == 1 ? "it" : "them");
	return 0;
}

static int restore(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"passphrase-file", required_argument, NULL, 'p'},
		{"passphrase-env", required_argument, NULL, 'e'},
		{"key", required_argument, NULL, 'k'},
		{"cert", required_argument, NULL, 'c'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_restore_opts o = {.actor = cli_actor()};
	struct fsec_backup_info info;
	struct cli_common c = {0};
	const char *pfile = NULL, *penv = NULL, *file;
	unsigned char *pass = NULL;
	size_t plen = 0;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'p': pfile = optarg; break;
		case 'e': penv = optarg; break;
		case 'k': o.key = optarg; break;
		case 'c': o.cert = optarg; break;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one backup FILE");
	file = argv[optind];
	if (o.cert != NULL && o.key == NULL)
		return cli_usage_error(self, "--cert goes with --key");
	if ((status = passphrase(self, pfile, penv, &pass, &plen)) != 0)
		return status;
	if (pass != NULL && o.key != NULL) {
		OPENSSL_clear_free(pass, plen);
		return cli_usage_error(self, "give a passphrase or --key, not both");
	}
	o.passphrase = pass;
	o.passphrase_len = plen;
	rc = fsec_backup_restore(file, cli_home(&c), &o, &info);
	OPENSSL_clear_free(pass, plen);
	if (rc != FSEC_OK)
		return cli_fail(file, rc);
	if (c.json)
		return cli_print_json(json_pack("{s:s, s:I, s:b, s:I, s:I}", "home", cli_home(&c),
						"files", (json_int_t)info.files, "keys", info.keys,
						"created", (json_int_t)info.created, "crl_number",
						(json_int_t)info.crl_floor));
	printf("restored %s from %s: %zu files, %s; CRL numbers continue above %llu\n",
	       cli_home(&c), file, info.files,
	       info.keys ? "private keys included" : "no private keys: copy them back before issuing",
	       (unsigned long long)info.crl_floor);
	return 0;
}

const struct cli_cmd cli_backup_cmds[] = {
	{"backup", NULL, backup, "back up a live fleet home into one file",
	 "--out FILE [--with-keys] [--passphrase-file F | --passphrase-env VAR]\n"
	 "       [--recipient CERT]... [--json]\n\n"
	 "Writes a consistent snapshot of the fleet home while fleetsecd may be\n"
	 "running: the registry through SQLite's online backup, fleet.json, the\n"
	 "certificates, the CRL and the other files of the home, as a ustar archive\n"
	 "whose MANIFEST lists each file's SHA-256. With a passphrase or recipients\n"
	 "the archive is sealed in CMS (AuthEnvelopedData, AES-256-GCM), which\n"
	 "'openssl cms -decrypt' opens. FILE is created 0600 and never overwritten.\n\n"
	 "  --with-keys            include the private keys (*.key, PEM private keys);\n"
	 "                         refused unless the backup is encrypted\n"
	 "  --passphrase-file F    encrypt with the passphrase in F (8 to 1024 bytes,\n"
	 "                         one trailing newline ignored); PBKDF2, RFC 3211\n"
	 "  --passphrase-env VAR   the same, from the environment variable VAR\n"
	 "  --recipient CERT       encrypt to CERT's public key (repeatable, up to 16)\n"},
	{"restore", NULL, restore, "restore a fleet home from a backup",
	 "FILE --home DIR [--passphrase-file F | --passphrase-env VAR |\n"
	 "       --key KEY [--cert CERT]] [--json]\n\n"
	 "Restores the backup FILE into DIR, which must not exist or be empty. The\n"
	 "envelope is opened and every file checked against MANIFEST before anything\n"
	 "is written; the home is built beside DIR and renamed into place, so a\n"
	 "failure leaves nothing. The restored registry's CRL number is raised to the\n"
	 "restore time in microseconds, above any CRL the original home published.\n\n"
	 "  --passphrase-file F    the backup's passphrase, from F\n"
	 "  --passphrase-env VAR   the same, from the environment variable VAR\n"
	 "  --key KEY              a recipient's private key (path or store URI)\n"
	 "  --cert CERT            that key's certificate, to pick its recipient\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
