/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fleetsec/csr.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/product.h"

#define DAYS_MAX 36500

/* Open the fleet named by the common options, or print why not. */
static int open_fleet(const struct cli_common *c, struct fsec_fleet **f)
{
	enum fsec_err rc = fsec_fleet_open(cli_home(c), f);

	return rc == FSEC_OK ? 0 : cli_fail(cli_home(c), rc);
}

static int load_csr(const char *path, X509_REQ **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;

	rc = fsec_file_read(path, FSEC_CSR_MAX, &buf, &len);
	if (rc == FSEC_OK)
		rc = fsec_csr_parse(buf, len, out);
	free(buf);
	return rc == FSEC_OK ? 0 : cli_fail(path, rc);
}

static int device_issue(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"csr", required_argument, NULL, 'c'},
		{"keygen", no_argument, NULL, 'g'},
		{"key-out", required_argument, NULL, 'k'},
		{"key-algo", required_argument, NULL, 'a'},
		{"model", required_argument, NULL, 'm'},
		{"days", required_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},
		{"reissue", no_argument, NULL, 'r'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_issue_opts o = {.actor = cli_actor()};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *csr_path = NULL;
	X509_REQ *csr = NULL;
	struct fsec_issued_cert cert = {0};
	char *pem = NULL;
	bool keygen = false;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;
	long v;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'c': csr_path = optarg; break;
		case 'g': keygen = true; break;
		case 'k': o.key_out = optarg; break;
		case 'm': o.model = optarg; break;
		case 'o': o.cert_out = optarg; break;
		case 'r': o.reissue = true; break;
		case 'a':
			if (fsec_key_algo_parse(optarg, &o.key_algo) != FSEC_OK)
				return cli_usage_error(self, "--key-algo must be p256, p384 or ed25519");
			break;
		case 'd':
			if (!cli_int(self, "--days", optarg, 1, DAYS_MAX, &v))
				return EXIT_USAGE;
			o.days = (int)v;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one device ID");
	o.id = argv[optind];
	if ((csr_path == NULL) == !keygen)
		return cli_usage_error(self, "give either --csr FILE or --keygen --key-out FILE");
	if (keygen && o.key_out == NULL)
		return cli_usage_error(self, "--keygen needs --key-out FILE");
	if (!keygen && o.key_out != NULL)
		return cli_usage_error(self, "--key-out goes with --keygen");
	if (o.model != NULL && (status = cli_model(o.model)) != 0)
		return status;
	if (csr_path != NULL && (status = load_csr(csr_path, &csr)) != 0)
		return status;
	if ((status = open_fleet(&c, &f)) != 0)
		goto out;
	rc = fsec_fleet_issue(f, csr, &o, &cert);
	if (rc != FSEC_OK) {
		status = cli_fail(o.id, rc);
		goto out;
	}
	rc = fsec_issued_cert_pem(&cert, &pem);
	if (rc != FSEC_OK) {
		status = cli_fail(o.id, rc);
		goto out;
	}
	status = 0;
	if (c.json) {
		char t1[32], t2[32];

		status = cli_print_json(json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s*, s:s*, s:s}", "id", o.id, "serial", cert.serial,
			"fingerprint_sha256", cert.fingerprint, "not_before",
			cli_time(cert.not_before, t1, sizeof(t1)), "not_after",
			cli_time(cert.not_after, t2, sizeof(t2)), "cert_out", o.cert_out, "key_out",
			o.key_out, "certificate_pem", pem));
	} else if (o.cert_out == NULL) {
		if (fputs(pem, stdout) < 0)
			status = EXIT_REFUSED;
	} else {
		fprintf(stderr, "issued certificate for %s to %s (serial %s)\n", o.id, o.cert_out,
			cert.serial);
	}
out:
	free(pem);
	fsec_issued_cert_cleanup(&cert);
	X509_REQ_free(csr);
	fsec_fleet_free(f);
	return status;
}

static int device_revoke(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"reason", required_argument, NULL, 'r'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *reason_name = "unspecified";
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED, reason = 0;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		if (opt == 'r')
			reason_name = optarg;
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one device ID");
	if (fsec_crl_reason_parse(reason_name, &reason) != FSEC_OK)
		return cli_usage_error(self, "%s", fsec_err_detail());
	if ((status = open_fleet(&c, &f)) != 0)
		return status;
	rc = fsec_fleet_revoke(f, argv[optind], reason, cli_actor());
	if (rc != FSEC_OK)
		status = cli_fail(argv[optind], rc);
	else if (c.json)
		status = cli_print_json(json_pack("{s:s, s:s, s:s}", "id", argv[optind], "status",
						  "revoked", "reason", reason_name));
	else
		printf("revoked %s (%s); CRL updated in %s/crl.pem\n", argv[optind], reason_name,
		       cli_home(&c));
	fsec_fleet_free(f);
	return status;
}

static int device_allow_renew(int argc, char **argv, const struct cli_cmd *self)
{
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	enum fsec_err rc;
	int status;

	if ((status = cli_common_only(argc, argv, self, &c, 1, "expected exactly one device ID")) !=
	    CLI_GO_ON)
		return status;
	if ((status = open_fleet(&c, &f)) != 0)
		return status;
	rc = fsec_fleet_allow_renew(f, argv[optind], cli_actor());
	if (rc != FSEC_OK)
		status = cli_fail(argv[optind], rc);
	else if (c.json)
		status = cli_print_json(json_pack("{s:s, s:b}", "id", argv[optind], "renew_allowed", 1));
	else
		printf("%s may renew once now, before it is due\n", argv[optind]);
	fsec_fleet_free(f);
	return status;
}

static int device_report(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"version", required_argument, NULL, 'v'},
		{"security-counter", required_argument, NULL, 's'},
		{"update", required_argument, NULL, 'u'},
		{"at", required_argument, NULL, 'a'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_device_report r = {.security_counter = -1};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *outcome = NULL;
	int opt, status = EXIT_REFUSED;
	enum fsec_err rc;
	uint64_t v;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'v': r.version = optarg; break;
		case 'u': outcome = optarg; break;
		case 's':
			if (!cli_uint(self, "--security-counter", optarg, 0, UINT32_MAX, &v))
				return EXIT_USAGE;
			r.security_counter = (int64_t)v;
			break;
		case 'a':
			if (fsec_date_parse(optarg, &r.at) != FSEC_OK)
				return cli_usage_error(self, "--at must be YYYY-MM-DDTHH:MM:SSZ, not '%s'",
						       optarg);
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one device ID");
	if (r.version == NULL || r.security_counter < 0)
		return cli_usage_error(self, "--version and --security-counter are required");
	r.id = argv[optind];
	if ((status = open_fleet(&c, &f)) != 0)
		return status;
	/* Refused where the library refused it before it took an enum: after
	 * the fleet opened, with the same message and exit status. */
	if (outcome != NULL && (fsec_update_outcome_parse(outcome, &r.update_outcome) != FSEC_OK ||
				r.update_outcome == FSEC_UPDATE_NONE)) {
		fprintf(stderr, "fleetsec: %s: update outcome '%.20s' is not success or failure\n",
			r.id, outcome);
		fsec_fleet_free(f);
		return EXIT_REFUSED;
	}
	rc = fsec_device_report(fsec_fleet_get_registry(f), &r);
	status = rc == FSEC_OK ? 0 : cli_fail(r.id, rc);
	fsec_fleet_free(f);
	return status;
}

/* Record where a device is on the network, for net compile --from-registry. */
static int device_set(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"mac", required_argument, NULL, 'm'},
		{"ip", required_argument, NULL, 'i'},
		{"group", required_argument, NULL, 'g'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *mac = NULL, *ip = NULL, *group = NULL;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'm')
			mac = optarg;
		else if (opt == 'i')
			ip = optarg;
		else if (opt == 'g')
			group = optarg;
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one device ID");
	if (mac == NULL && ip == NULL && group == NULL)
		return cli_usage_error(self, "give --mac, --ip and/or --group");
	if ((status = open_fleet(&c, &f)) != 0)
		return status;
	rc = fsec_fleet_device_set(f, argv[optind], mac, ip, group, cli_actor());
	status = rc == FSEC_OK ? 0 : cli_fail(argv[optind], rc);
	fsec_fleet_free(f);
	return status;
}

const struct cli_cmd cli_device_cmds[] = {
	{"device", "issue", device_issue, "issue a device certificate from a CSR or a new key",
	 "ID (--csr FILE | --keygen --key-out FILE [--key-algo p256|p384|ed25519])\n"
	 "       [--model M] [--days N] [--out FILE] [--reissue] [--home DIR] [--json]\n\n"
	 "Issues a device certificate: subject CN=ID and O=fleet, SAN URI\n"
	 "urn:fleetsec:device:ID, clientAuth. With --csr the CSR's self-signature must\n"
	 "verify (proof of possession). Refused: weak keys (RSA < 2048, curves other\n"
	 "than P-256/P-384, anything but Ed25519 otherwise), a public key registered to\n"
	 "another device (a fleet-wide key), and an ID that already has an active\n"
	 "certificate unless --reissue is given (the old one is then revoked as\n"
	 "superseded). Device IDs are 1-64 characters of A-Z a-z 0-9 . _ -\n\n"
	 "  --csr FILE      device-generated PKCS#10 request (PEM or DER, at most 64 KiB)\n"
	 "  --keygen        generate the key here (factory injection); needs --key-out\n"
	 "  --key-out FILE  where the new private key goes (0600, never overwritten)\n"
	 "  --key-algo A    key type for --keygen: p256 (default), p384 or ed25519\n"
	 "  --model M       device model\n"
	 "  --days N        validity (default: the fleet's, 365)\n"
	 "  --out FILE      write the certificate here (atomically) instead of stdout\n"
	 "  --reissue       replace an active certificate\n"},
	{"device", "set", device_set, "record a device's addresses and rollout group",
	 "ID [--mac aa:bb:cc:dd:ee:ff] [--ip A.B.C.D] [--group G]\n\n"
	 "Record where the device is on the network, for 'fleetsec net compile\n"
	 "--from-registry', and its rollout group, for 'fleetsec release publish\n"
	 "--group G' (canaries first). An empty value clears a field. A MAC or IP that\n"
	 "belongs to another device is refused.\n"},
	{"device", "revoke", device_revoke, "revoke a device and regenerate the CRL",
	 "ID [--reason REASON] [--home DIR] [--json]\n\n"
	 "Marks the device revoked, revokes its certificates and regenerates the CRL.\n"
	 "REASON: unspecified (default), keyCompromise, affiliationChanged, superseded,\n"
	 "cessationOfOperation, privilegeWithdrawn.\n"},
	{"device", "allow-renew", device_allow_renew,
	 "allow a device one renewal before it is due (key compromise)",
	 "ID [--home DIR] [--json]\n\n"
	 "fleetsecd refuses a renewal before renew_after_percent of the certificate's\n"
	 "lifetime and past renewals_per_day (fleetsecd.conf). This lets device ID\n"
	 "renew once regardless, for a key that must be replaced now: the next renewal\n"
	 "uses the allowance up. Both are logged (renew-allow, renew-allowed).\n"},
	{"device", "report", device_report, "record a device's status report (tests, demos)",
	 "ID --version V --security-counter N [--update success|failure] [--at TIME]\n"
	 "       [--home DIR]\n\n"
	 "Records what a device reports at check-in, as the fleet service does for\n"
	 "POST /v1/status: its firmware version and security counter and, with\n"
	 "--update, the outcome of its last update. TIME is YYYY-MM-DDTHH:MM:SSZ\n"
	 "(default now); an older report never moves 'last seen' back.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
