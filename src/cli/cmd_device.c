/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fleetsec/csr.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/pairing.h"
#include "fleetsec/pairscan.h"
#include "fleetsec/product.h"
#include "fleetsec/text.h"

#define DAYS_MAX 36500

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

	/* A factory batch is its own command line (cmd_batch.c). */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--batch") == 0 || strncmp(argv[i], "--batch=", 8) == 0)
			return cli_device_issue_batch(argc, argv, self);
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
	if ((status = cli_open_fleet(&c, &f)) != 0)
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

/* The most IDs --file may list: a fleet's worth. */
#define REVOKE_IDS_MAX 10000000

struct batch_out {
	bool dry_run;
	json_t *devices; /* --json */
	struct cli_progress progress;
};

static int batch_one(const struct fsec_revoke_item *it, void *arg)
{
	struct batch_out *bo = arg;

	if (bo->devices != NULL) {
		if (json_array_append_new(bo->devices,
					  json_pack("{s:s, s:s, s:I}", "id", it->id, "model",
						    it->model, "certificates",
						    (json_int_t)it->certificates)) != 0)
			return 1;
	} else if (printf("%s %s (%s, %zu certificate%s)\n",
			  bo->dry_run ? "would revoke" : "revoking", it->id,
			  it->model[0] != '\0' ? it->model : "no model", it->certificates,
			  it->certificates == 1 ? "" : "s") < 0) {
		return 1;
	}
	cli_progress_step(&bo->progress, it->done, it->total);
	return 0;
}

/* device revoke --model | --group | --file | --manufacturer-ca: all in one
 * transaction and one CRL, or (--dry-run) what that would revoke. */
static int revoke_batch(const struct cli_common *c, const struct fsec_revoke_select *sel,
			const char *reason_name, int reason, bool dry_run)
{
	struct batch_out bo = {.dry_run = dry_run};
	struct fsec_fleet *f = NULL;
	size_t n = 0;
	enum fsec_err rc;
	int status;

	if (c->json && (bo.devices = json_array()) == NULL)
		return cli_fail("device revoke", FSEC_ERR_NOMEM);
	cli_progress_init(&bo.progress, dry_run ? "checking" : "revoking", c->json);
	if ((status = cli_open_fleet(c, &f)) != 0) {
		json_decref(bo.devices);
		return status;
	}
	rc = fsec_fleet_revoke_batch(f, sel, reason, dry_run, cli_actor(), batch_one, &bo, &n);
	fsec_fleet_free(f);
	if (rc != FSEC_OK) {
		json_decref(bo.devices);
		return cli_fail("device revoke", rc);
	}
	if (c->json)
		return cli_print_json(json_pack("{s:b, s:s, s:I, s:o, s:s*}", "dry_run", dry_run,
						"reason", reason_name, "count", (json_int_t)n,
						"devices", bo.devices, "crl",
						dry_run ? NULL : "crl.pem"));
	if (dry_run)
		return printf("would revoke %zu device%s (%s) with one CRL; nothing written\n", n,
			      n == 1 ? "" : "s", reason_name) < 0;
	return printf("revoked %zu device%s (%s); one CRL updated in %s/crl.pem\n", n,
		      n == 1 ? "" : "s", reason_name, cli_home(c)) < 0;
}

static int device_revoke(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"reason", required_argument, NULL, 'r'},
		{"model", required_argument, NULL, 'm'},
		{"group", required_argument, NULL, 'g'},
		{"file", required_argument, NULL, 'f'},
		{"manufacturer-ca", required_argument, NULL, 'M'},
		{"dry-run", no_argument, NULL, 'n'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_revoke_select sel = {0};
	struct cli_strv ids = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *reason_name = "unspecified", *file = NULL;
	unsigned char *buf = NULL;
	bool dry_run = false;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED, reason = 0, batch;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'r': reason_name = optarg; break;
		case 'm': sel.model = optarg; break;
		case 'g': sel.group = optarg; break;
		case 'f': file = optarg; break;
		case 'M': sel.mfr_ca = optarg; break;
		case 'n': dry_run = true; break;
		}
	}
	if (opt < 0)
		return status;
	batch = (sel.model != NULL) + (sel.group != NULL) + (file != NULL) + (sel.mfr_ca != NULL);
	if (batch > 1)
		return cli_usage_error(self, "give one of --model, --group, --file and "
					     "--manufacturer-ca");
	if (batch == 1 && optind != argc)
		return cli_usage_error(self, "a device ID goes without --model, --group, --file or "
					     "--manufacturer-ca");
	if (batch == 0 && optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one device ID");
	if (batch == 0 && dry_run)
		return cli_usage_error(self, "--dry-run goes with a batch (--model, --group, --file "
					     "or --manufacturer-ca)");
	if (fsec_crl_reason_parse(reason_name, &reason) != FSEC_OK)
		return cli_usage_error(self, "%s", fsec_err_detail());
	if (sel.model != NULL && (status = cli_model(sel.model)) != 0)
		return status;
	if (batch == 1) {
		if (file != NULL) {
			if ((status = cli_read_ids(file, REVOKE_IDS_MAX, &buf, &ids)) != 0)
				goto out_batch;
			sel.ids = ids.v;
			sel.n_ids = ids.n;
			/* An empty list would select nothing; said as the library says it. */
			if (ids.n == 0) {
				fprintf(stderr, "fleetsec: %s: the list names no device\n", file);
				status = EXIT_REFUSED;
				goto out_batch;
			}
		}
		status = revoke_batch(&c, &sel, reason_name, reason, dry_run);
out_batch:
		free(ids.v);
		free(buf);
		return status;
	}
	if ((status = cli_open_fleet(&c, &f)) != 0)
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
	if ((status = cli_open_fleet(&c, &f)) != 0)
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
	if ((status = cli_open_fleet(&c, &f)) != 0)
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
	if ((status = cli_open_fleet(&c, &f)) != 0)
		return status;
	rc = fsec_fleet_device_set(f, argv[optind], mac, ip, group, cli_actor());
	status = rc == FSEC_OK ? 0 : cli_fail(argv[optind], rc);
	fsec_fleet_free(f);
	return status;
}

/* Enrol a device's firmware encryption key (issue 19). */
static int device_enc_key(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	char spki[FSEC_SHA256_HEX_LEN];
	EVP_PKEY *pub = NULL;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		;
	if (opt < 0)
		return status;
	if (optind + 2 != argc)
		return cli_usage_error(self, "expected a device ID and a public key file");
	if ((rc = fsec_key_load_public(argv[optind + 1], &pub)) != FSEC_OK)
		return cli_fail(argv[optind + 1], rc);
	if ((rc = fsec_key_spki_sha256(pub, spki)) != FSEC_OK) {
		status = cli_fail(argv[optind + 1], rc);
		goto out;
	}
	if ((status = cli_open_fleet(&c, &f)) != 0)
		goto out;
	if ((rc = fsec_fleet_enc_key_set(f, argv[optind], pub, cli_actor(), 0, NULL)) != FSEC_OK) {
		status = cli_fail(argv[optind], rc);
		goto out;
	}
	if (c.json)
		status = cli_print_json(
			json_pack("{s:s, s:s}", "device_id", argv[optind], "key_sha256", spki));
	else
		printf("%s: firmware encryption key %s enrolled\n", argv[optind], spki);
out:
	EVP_PKEY_free(pub);
	fsec_fleet_free(f);
	return status;
}

/* Pair a device by its pairing code (issue 18): the URI as text, or read
 * from a photographed QR code. */
static int device_pair(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"group", required_argument, NULL, 'g'},
		{"expires", required_argument, NULL, 'e'},
		{"qr-image", required_argument, NULL, 'q'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_pair_opts o = {.expires_in = 15 * 60, .actor = cli_actor()};
	struct fsec_pairing_rec rec;
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *image = NULL, *expires = NULL;
	char *text = NULL, t[32], t2[32];
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'm')
			o.model = optarg;
		else if (opt == 'g')
			o.group = optarg;
		else if (opt == 'e')
			expires = optarg;
		else if (opt == 'q')
			image = optarg;
	}
	if (opt < 0)
		return status;
	if (image != NULL ? optind != argc : optind + 1 != argc)
		return cli_usage_error(self, "give the pairing URI or --qr-image FILE (one of them)");
	if (expires != NULL && (fsec_duration_parse(expires, &o.expires_in) != FSEC_OK ||
				o.expires_in < FSEC_PAIR_EXPIRES_MIN ||
				o.expires_in > FSEC_PAIR_EXPIRES_MAX))
		return cli_usage_error(self, "--expires %s: a duration from 1m to 30d (e.g. 15m)",
				       expires);
	if (o.model != NULL && (status = cli_model(o.model)) != 0)
		return status;
	if (image != NULL) {
		if ((rc = fsec_qr_image_read(image, &text)) != FSEC_OK)
			return cli_fail(image, rc);
		o.uri = text;
	} else {
		o.uri = argv[optind];
	}
	o.uri_len = strlen(o.uri);
	if ((status = cli_open_fleet(&c, &f)) != 0)
		goto out;
	if ((rc = fsec_fleet_pair(f, &o, &rec)) != FSEC_OK) {
		status = cli_fail(image != NULL ? image : "device pair", rc);
		goto out;
	}
	if (c.json)
		status = cli_print_json(json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "device_id", rec.device_id,
			"key_sha256", rec.key_sha256, "model", rec.model, "group", rec.group,
			"paired_by", rec.paired_by, "paired_at", cli_time(rec.paired_at, t, sizeof(t)),
			"expires_at", cli_time(rec.expires_at, t2, sizeof(t2))));
	else
		printf("paired %s: key SHA-256 %s, single use, until %s\n", rec.device_id,
		       rec.key_sha256, cli_time(rec.expires_at, t, sizeof(t)));
out:
	fsec_fleet_free(f);
	free(text);
	return status;
}

const struct cli_cmd cli_device_cmds[] = {
	{"device", "issue", device_issue, "issue a device certificate from a CSR or a new key",
	 "ID (--csr FILE | --keygen --key-out FILE [--key-algo p256|p384|ed25519])\n"
	 "       [--model M] [--days N] [--out FILE] [--reissue] [--home DIR] [--json]\n"
	 "   or: fleetsec device issue --batch CSV|DIR (--out-dir DIR | --out-tar FILE|-)...\n"
	 "       [--model M] [--key-algo A] [--days N] [--jobs N] [--home DIR] [--json]\n\n"
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
	 "  --reissue       replace an active certificate\n\n"
	 "A factory batch (--batch) issues many devices, each item on its own: a\n"
	 "refused item (bad line, bad or weak CSR, unreadable file, a key shared with\n"
	 "another device or item, a device ID listed twice or registered with another\n"
	 "key) is reported with its line and reason and the batch goes on; the exit\n"
	 "status is 1 if any item was refused. CSV lines are id,model,csr_path (CSR\n"
	 "paths relative to the CSV) or id,model (the key is generated here); # and\n"
	 "blank lines are skipped. A directory holds CSRs named ID, ID.csr, ID.pem or\n"
	 "ID.der, all of model --model. Run the same command again after a cut (kill,\n"
	 "power loss): the registry says what is done, nothing is issued twice and\n"
	 "nothing skipped. Generated keys are written (0600, synced) to --out-dir\n"
	 "before their certificates are recorded, so keygen needs --out-dir; a key\n"
	 "file already there is reused. Output: ID.pem (and ID.key) in --out-dir,\n"
	 "and/or the same in a tar stream (--out-tar FILE, 0600, or - for stdout).\n"
	 "Progress: a bar with rate and ETA on a terminal; results are JSON lines on\n"
	 "stdout ({id, status: issued|refused|already-done, line|file, serial, reason,\n"
	 "done, total}, on stderr when the tar goes to stdout) with --json or when\n"
	 "stdout is not a terminal, ending with {summary: {total, issued, refused,\n"
	 "already_done, seconds, complete}}. Signing uses --jobs threads (default:\n"
	 "one per CPU); the registry is written by one, 512 items per transaction.\n\n"
	 "  --batch CSV|DIR the batch\n"
	 "  --out-dir DIR   certificates and keys (made 0700 if missing)\n"
	 "  --out-tar F|-   a ustar stream of the same, for a programming station\n"
	 "  --jobs N        signing threads\n"},
	{"device", "pair", device_pair, "pair a device by its QR code (no trust on first use)",
	 "URI [--model M] [--group G] [--expires 15m] [--home DIR] [--json]\n"
	 "   or: fleetsec device pair --qr-image FILE [--model M] [--group G] [--expires 15m]\n\n"
	 "Records a single-use pairing for exactly the key in the device's pairing code\n"
	 "(what 'fleetsec-agent pair' shows): a DPP URI 'DPP:V:2;I:<serial>;K:<key>;;'\n"
	 "(docs/PAIRING.md), given as text or read from a PNG photo or print of the QR\n"
	 "code (--qr-image, at most 8 MiB and 4096x4096 pixels). The device then enrolls\n"
	 "with 'fleetsec-agent enroll' as <serial>: fleetsecd admits its self-signed\n"
	 "certificate to simpleenroll only while the pairing is unused and unexpired, and\n"
	 "issues only for a CSR of that same key. Only the key's SHA-256 is stored. The\n"
	 "pairing is a 'pair' event naming who paired; its use is a 'pairing-used' event.\n"
	 "Refused: a malformed or oversized URI or image, a key that is not a valid P-256\n"
	 "point, a key already registered to a device, a serial already enrolled or with\n"
	 "another key's pairing waiting.\n\n"
	 "  --model M       the device's model once enrolled\n"
	 "  --group G       its rollout group once enrolled\n"
	 "  --expires D     how long the pairing may be used: 1m to 30d (default 15m)\n"
	 "  --qr-image FILE read the URI from the QR code in this PNG (zbar)\n"
	 "JSON: {device_id, key_sha256, model, group, paired_by, paired_at, expires_at}.\n"},
	{"device", "enc-key", device_enc_key, "enrol a device's firmware encryption key",
	 "ID PUB.pem [--home DIR] [--json]\n\n"
	 "Enrol the public key (P-256 or X25519) that fleetsecd wraps each encrypted\n"
	 "release's image key to when this device asks for it (GET\n"
	 "/v1/firmware/SHA256/key; docs/FW-ENCRYPTION.md, per-device delivery). It is\n"
	 "a second key, never the device's TLS key; the device keeps its private half,\n"
	 "in its TPM when it has one (the agent's decrypt_key). An agent with\n"
	 "key_delivery = server sends its own when it enrolls (POST /v1/enc-key), and\n"
	 "fleetsecd keeps that first key; this command enrols one for a device that\n"
	 "does not, and replaces one (a re-provisioned device). The device must be\n"
	 "active. JSON: {device_id, key_sha256}.\n"},
	{"device", "set", device_set, "record a device's addresses and rollout group",
	 "ID [--mac aa:bb:cc:dd:ee:ff] [--ip A.B.C.D] [--group G]\n\n"
	 "Record where the device is on the network, for 'fleetsec net compile\n"
	 "--from-registry', and its rollout group, for 'fleetsec release publish\n"
	 "--group G' (canaries first). An empty value clears a field. A MAC or IP that\n"
	 "belongs to another device is refused.\n"},
	{"device", "revoke", device_revoke, "revoke devices and regenerate the CRL",
	 "ID [--reason REASON] [--home DIR] [--json]\n"
	 "   or: fleetsec device revoke (--model M | --group G | --file IDS |\n"
	 "       --manufacturer-ca SHA256) [--reason REASON] [--dry-run] [--home DIR] [--json]\n\n"
	 "Marks the device revoked, revokes its certificates and regenerates the CRL.\n"
	 "REASON: unspecified (default), keyCompromise, affiliationChanged, superseded,\n"
	 "cessationOfOperation, privilegeWithdrawn.\n\n"
	 "A batch revokes every active device of model M, of group G, listed in IDS\n"
	 "(one ID per line, # comments; each must be an active device), or enrolled\n"
	 "with a bootstrap certificate of the manufacturer CA whose SHA-256 'enroll\n"
	 "list' shows. It runs in one registry transaction that publishes one CRL: all\n"
	 "of the devices or none. Each revocation is a 'revoke' event. It prints each\n"
	 "device as it goes; --dry-run does the same work and rolls it back, so it\n"
	 "prints exactly what would change and writes nothing (no CRL). JSON:\n"
	 "{dry_run, reason, count, devices: [{id, model, certificates}], crl}.\n"
	 "Progress: a bar on stderr when it is a terminal, else with --json one JSON\n"
	 "line per percent on stderr ({progress, done, total}).\n"},
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
