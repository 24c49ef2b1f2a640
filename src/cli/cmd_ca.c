/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"

#define DAYS_MAX 36500

static int ca_init(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"name", required_argument, NULL, 'n'},
		{"algo", required_argument, NULL, 'a'},
		{"root-days", required_argument, NULL, 'r'},
		{"issuing-days", required_argument, NULL, 'i'},
		{"device-days", required_argument, NULL, 'd'},
		{"crl-days", required_argument, NULL, 'c'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_fleet_create_params p = {.actor = cli_actor()};
	struct cli_common c = {0};
	const char *home;
	enum fsec_err rc;
	long v;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'n': p.name = optarg; break;
		case 'a':
			if (strcmp(optarg, "p256") == 0)
				p.algo = FSEC_KEY_P256;
			else if (strcmp(optarg, "ed25519") == 0)
				p.algo = FSEC_KEY_ED25519;
			else
				return cli_usage_error(self, "--algo must be p256 or ed25519");
			break;
		case 'r':
		case 'i':
		case 'd':
		case 'c':
			if (!cli_int(self, "days", optarg, 1, DAYS_MAX, &v))
				return EXIT_USAGE;
			*(opt == 'r'   ? &p.root_days
			  : opt == 'i' ? &p.issuing_days
			  : opt == 'd' ? &p.device_days
				       : &p.crl_days) = (int)v;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (p.name == NULL)
		return cli_usage_error(self, "--name is required");
	home = cli_home(&c);
	rc = fsec_fleet_create(home, &p);
	if (rc != FSEC_OK)
		return cli_fail(home, rc);
	if (c.json)
		return cli_print_json(json_pack("{s:s, s:s, s:s}", "home", home, "name", p.name,
						"algo", p.algo == FSEC_KEY_ED25519 ? "ed25519" : "p256"));
	printf("fleet '%s' created in %s\n"
	       "  root CA:     %s/root.pem (key root.key: move it offline; issuance does not need it)\n"
	       "  issuing CA:  %s/issuing.pem\n"
	       "  registry:    %s/registry.db\n",
	       p.name, home, home, home, home);
	return 0;
}

static int ca_chain(int argc, char **argv, const struct cli_cmd *self)
{
	struct fsec_fleet *f = NULL;
	struct cli_common c = {0};
	char *pem = NULL;
	enum fsec_err rc;
	int status;

	if ((status = cli_common_only(argc, argv, self, &c, 0, "no arguments")) != CLI_GO_ON)
		return status;
	rc = fsec_fleet_open(cli_home(&c), &f);
	if (rc == FSEC_OK)
		rc = fsec_fleet_chain_pem(f, &pem);
	if (rc != FSEC_OK) {
		fsec_fleet_free(f);
		return cli_fail(cli_home(&c), rc);
	}
	if (c.json)
		status = cli_print_json(json_pack("{s:s, s:s}", "fleet", fsec_fleet_get_name(f),
						  "chain_pem", pem));
	else
		status = fputs(pem, stdout) < 0 ? EXIT_REFUSED : 0;
	free(pem);
	fsec_fleet_free(f);
	return status;
}

static int ca_server_cert(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"ip", required_argument, NULL, 'i'},
		{"crl-url", required_argument, NULL, 'c'},
		{"days", required_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},
		{"key-out", required_argument, NULL, 'k'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *ips[FSEC_SERVER_IPS_MAX];
	struct fsec_server_cert_spec spec = {.ips = ips};
	struct fsec_server_cert_opts o = {.spec = &spec, .actor = cli_actor()};
	struct fsec_issued_cert cert = {0};
	struct fsec_fleet *f = NULL;
	struct cli_common c = {0};
	char crl_url[300], exp[32];
	enum fsec_err rc;
	long v;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'i':
			if (spec.nips == FSEC_SERVER_IPS_MAX)
				return cli_usage_error(self, "at most %d --ip", FSEC_SERVER_IPS_MAX);
			ips[spec.nips++] = optarg;
			break;
		case 'c': spec.crl_url = optarg; break;
		case 'd':
			if (!cli_int(self, "days", optarg, 1, DAYS_MAX, &v))
				return EXIT_USAGE;
			spec.days = (int)v;
			break;
		case 'o': o.cert_out = optarg; break;
		case 'k': o.key_out = optarg; break;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one NAME");
	spec.name = argv[optind];
	/* By default the CRL is where fleetsecd serves it, at the name and
	 * fleetsecd's default port. */
	if (spec.crl_url == NULL && strlen(spec.name) < 256) {
		snprintf(crl_url, sizeof(crl_url), "https://%s:%d/crl", spec.name,
			 FSEC_SERVER_DEFAULT_PORT);
		spec.crl_url = crl_url;
	}
	rc = fsec_fleet_open(cli_home(&c), &f);
	if (rc == FSEC_OK)
		rc = fsec_fleet_server_cert(f, &o, &cert);
	fsec_fleet_free(f);
	if (rc != FSEC_OK)
		return cli_fail(spec.name, rc);
	cli_time(cert.not_after, exp, sizeof(exp));
	if (c.json)
		status = cli_print_json(json_pack("{s:s, s:s, s:s, s:s}", "name", spec.name, "serial",
						  cert.serial, "fingerprint", cert.fingerprint,
						  "not_after", exp));
	else
		printf("server certificate for %s issued (serial %s, expires %s)\n", spec.name,
		       cert.serial, exp);
	fsec_issued_cert_cleanup(&cert);
	return c.json ? status : 0;
}

static int crl(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"out", required_argument, NULL, 'o'},
		{"der", no_argument, NULL, 'd'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_fleet *f = NULL;
	struct cli_common c = {0};
	const char *out = NULL;
	unsigned char *data = NULL;
	X509_CRL *list = NULL;
	bool as_der = false;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;
	size_t len = 0;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'o')
			out = optarg;
		else if (opt == 'd')
			as_der = true;
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	rc = fsec_fleet_open(cli_home(&c), &f);
	if (rc == FSEC_OK)
		rc = fsec_fleet_crl(f, &list);
	if (rc != FSEC_OK) {
		status = cli_fail(cli_home(&c), rc);
		goto out;
	}
	if (fsec_crl_encode(list, as_der ? FSEC_CRL_DER : FSEC_CRL_PEM, &data, &len) != FSEC_OK) {
		fputs("fleetsec: cannot encode the CRL\n", stderr);
		goto out;
	}
	if ((status = cli_emit(out, data, len)) != 0)
		goto out;
	if (c.json && out != NULL) {
		status = cli_print_json(json_pack("{s:s, s:i}", "out", out, "revoked",
						  sk_X509_REVOKED_num(X509_CRL_get_REVOKED(list))));
		goto out;
	}
	status = 0;
out:
	free(data);
	X509_CRL_free(list);
	fsec_fleet_free(f);
	return status;
}

const struct cli_cmd cli_ca_cmds[] = {
	{"ca", "init", ca_init, "create the fleet's root and issuing CA and the registry",
	 "--name NAME [--algo p256|ed25519] [--root-days N] [--issuing-days N]\n"
	 "       [--device-days N] [--crl-days N] [--home DIR] [--json]\n\n"
	 "Creates a fleet home: a root CA and an issuing CA signed by it (ECDSA P-256\n"
	 "by default), a SQLite registry and an empty CRL. Keys are written 0600 and\n"
	 "never printed. The root key (root.key) is only needed here: move it offline.\n"
	 "An existing home is refused and left unchanged.\n\n"
	 "  --name NAME          fleet name (subject O of every certificate)\n"
	 "  --algo ALGO          p256 (default) or ed25519\n"
	 "  --root-days N        root CA validity (default 7300)\n"
	 "  --issuing-days N     issuing CA validity (default 3650)\n"
	 "  --device-days N      default device certificate validity (default 365)\n"
	 "  --crl-days N         CRL nextUpdate interval (default 7)\n"},
	{"ca", "chain", ca_chain, "print the issuing and root CA certificates (PEM)",
	 "[--home DIR] [--json]\n\n"
	 "Prints the issuing CA certificate, then the root CA certificate, as PEM.\n"},
	{"ca", "server-cert", ca_server_cert, "issue fleetsecd's TLS server certificate",
	 "NAME [--ip ADDR]... [--crl-url URL] [--days N] [--out FILE] [--key-out FILE]\n"
	 "       [--home DIR] [--json]\n\n"
	 "Generates an ECDSA P-256 key and issues it a TLS server certificate from the\n"
	 "fleet's issuing CA: CN and SAN DNS:NAME, each --ip as a SAN IP address, EKU\n"
	 "serverAuth and a CRL distribution point. Writes HOME/server.key (0600) and\n"
	 "HOME/server.pem (certificate, then the issuing CA), where fleetsecd looks by\n"
	 "default. Existing files are never overwritten: move them away to renew.\n\n"
	 "  --ip ADDR       an IPv4 or IPv6 address clients connect to (repeatable, max 8)\n"
	 "  --crl-url URL   CRL distribution point (default https://NAME:8443/crl)\n"
	 "  --days N        validity (default 398)\n"
	 "  --out FILE      certificate chain here instead of HOME/server.pem\n"
	 "  --key-out FILE  key here instead of HOME/server.key\n"},
	{"crl", NULL, crl, "sign and write the current CRL",
	 "[--out FILE] [--der] [--home DIR] [--json]\n\n"
	 "Signs a fresh X.509 v2 CRL (next CRL number) listing every revoked device\n"
	 "certificate that has not expired, or expired less than one CRL period ago,\n"
	 "with its reason code, stores it as HOME/crl.pem (unless a CRL with a higher\n"
	 "number is there already) and writes it to FILE (atomically) or standard output.\n\n"
	 "  --out FILE   write here instead of standard output\n"
	 "  --der        DER instead of PEM\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
