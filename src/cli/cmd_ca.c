/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/identity.h"

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
		{"registry", required_argument, NULL, 'R'},
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
		case 'R': p.registry = optarg; break;
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
		return cli_print_json(json_pack("{s:s, s:s, s:s, s:s}", "home", home, "name", p.name,
						"algo", p.algo == FSEC_KEY_ED25519 ? "ed25519" : "p256",
						"registry",
						p.registry != NULL ? p.registry : "sqlite:registry.db"));
	printf("fleet '%s' created in %s\n"
	       "  root CA:     %s/root.pem (key root.key: move it offline; issuance does not need it)\n"
	       "  issuing CA:  %s/issuing.pem\n",
	       p.name, home, home, home);
	if (p.registry != NULL)
		printf("  registry:    %s\n", p.registry);
	else
		printf("  registry:    %s/registry.db\n", home);
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

struct server_list {
	json_t *arr; /* --json: the rows; NULL: print a table */
	int64_t now;
	bool nomem;
	bool clients; /* list the role (client) certificates, else fleetsecd's */
};

static const char *server_status(const struct fsec_server_cert_rec *c, int64_t now)
{
	return c->revoked ? "revoked" : c->not_after <= now ? "expired" : "valid";
}

static int print_server_cert(const struct fsec_server_cert_rec *c, void *arg)
{
	struct server_list *sl = arg;
	char exp[32], rev[32];

	if ((c->role[0] != '\0') != sl->clients)
		return 0;
	cli_time(c->not_after, exp, sizeof(exp));
	cli_time(c->revoked ? c->revoked_at : 0, rev, sizeof(rev));
	if (sl->arr == NULL) {
		if (sl->clients)
			printf("%-40s  %-9s  %-24s  %-20s  %s\n", c->serial, c->role, c->name, exp,
			       server_status(c, sl->now));
		else
			printf("%-40s  %-24s  %-20s  %s\n", c->serial, c->name, exp,
			       server_status(c, sl->now));
		return 0;
	}
	if (json_array_append_new(
		    sl->arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?}", "serial",
				       c->serial, "name", c->name, "fingerprint", c->fingerprint,
				       "not_after", exp, "status", server_status(c, sl->now),
				       "revoked_at", rev, "reason",
				       c->revoked ? fsec_crl_reason_name(c->reason) : NULL, "role",
				       sl->clients ? c->role : NULL)) != 0) {
		sl->nomem = true;
		return 1;
	}
	return 0;
}

static int server_cert_list(struct fsec_fleet *f, bool json, bool clients)
{
	struct server_list sl = {.now = (int64_t)time(NULL), .clients = clients};
	enum fsec_err rc;

	if (json && (sl.arr = json_array()) == NULL)
		return cli_fail("--list", FSEC_ERR_NOMEM);
	if (!json && clients)
		printf("%-40s  %-9s  %-24s  %-20s  %s\n", "SERIAL", "ROLE", "NAME", "EXPIRES",
		       "STATUS");
	else if (!json)
		printf("%-40s  %-24s  %-20s  %s\n", "SERIAL", "NAME", "EXPIRES", "STATUS");
	rc = fsec_fleet_server_cert_list(f, print_server_cert, &sl);
	if (rc == FSEC_OK && sl.nomem)
		rc = FSEC_ERR_NOMEM;
	if (rc != FSEC_OK) {
		json_decref(sl.arr);
		return cli_fail("--list", rc);
	}
	return json ? cli_print_json(sl.arr) : 0;
}

/* `--list` (revoke NULL) or `--revoke SERIAL` of server-cert (clients
 * false) or client-cert: one table, one revocation. Frees f. */
static int list_or_revoke(struct fsec_fleet *f, bool json, bool clients, const char *revoke,
			  int reason)
{
	enum fsec_err rc;
	int status;

	if (revoke == NULL) {
		status = server_cert_list(f, json, clients);
		fsec_fleet_free(f);
		return status;
	}
	rc = fsec_fleet_server_cert_revoke(f, revoke, reason, cli_actor());
	fsec_fleet_free(f);
	if (rc != FSEC_OK)
		return cli_fail(revoke, rc);
	if (json)
		return cli_print_json(json_pack("{s:s, s:s}", "revoked", revoke, "reason",
						fsec_crl_reason_name(reason)));
	printf("%s certificate %s revoked (%s); the CRL lists it%s\n", clients ? "client" : "server",
	       revoke, fsec_crl_reason_name(reason),
	       clients ? ", and brokers running the fleetsec plugin drop its sessions" : "");
	return 0;
}

static int ca_server_cert(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"ip", required_argument, NULL, 'i'},
		{"crl-url", required_argument, NULL, 'c'},
		{"days", required_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},
		{"key-out", required_argument, NULL, 'k'},
		{"list", no_argument, NULL, 'l'},
		{"revoke", required_argument, NULL, 'R'},
		{"reason", required_argument, NULL, 'r'},
		{"renew", no_argument, NULL, 'N'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *ips[FSEC_SERVER_IPS_MAX];
	struct fsec_server_cert_spec spec = {.ips = ips};
	struct fsec_server_cert_opts o = {.spec = &spec, .actor = cli_actor()};
	struct fsec_issued_cert cert = {0};
	struct fsec_fleet *f = NULL;
	struct cli_common c = {0};
	const char *revoke = NULL, *reason_name = NULL;
	char crl_url[300], exp[32];
	bool list = false, issue_opts = false;
	enum fsec_err rc;
	int reason = 0;
	long v;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'i':
			if (spec.nips == FSEC_SERVER_IPS_MAX)
				return cli_usage_error(self, "at most %d --ip", FSEC_SERVER_IPS_MAX);
			ips[spec.nips++] = optarg;
			issue_opts = true;
			break;
		case 'c':
			spec.crl_url = optarg;
			issue_opts = true;
			break;
		case 'd':
			if (!cli_int(self, "days", optarg, 1, DAYS_MAX, &v))
				return EXIT_USAGE;
			spec.days = (int)v;
			break;
		case 'o': o.cert_out = optarg; break;
		case 'k': o.key_out = optarg; break;
		case 'l': list = true; break;
		case 'R': revoke = optarg; break;
		case 'r': reason_name = optarg; break;
		case 'N': o.renew = true; break;
		}
	}
	if (opt < 0)
		return status;
	if ((list ? 1 : 0) + (revoke != NULL ? 1 : 0) + (o.renew ? 1 : 0) > 1)
		return cli_usage_error(self, "--list, --revoke and --renew exclude each other");
	if (reason_name != NULL && revoke == NULL)
		return cli_usage_error(self, "--reason goes with --revoke");
	if ((list || revoke != NULL) && (spec.days != 0 || o.cert_out != NULL || o.key_out != NULL))
		return cli_usage_error(self, "--list and --revoke issue nothing: no --days, --out "
				       "or --key-out");
	if (list || revoke != NULL || o.renew) {
		/* A renewal keeps the name and addresses of the current one. */
		if (issue_opts)
			return cli_usage_error(self, "--ip and --crl-url only go with a new NAME");
		if (optind != argc)
			return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	} else if (optind + 1 != argc) {
		return cli_usage_error(self, "expected exactly one NAME");
	}
	if (fsec_crl_reason_parse(reason_name != NULL ? reason_name : "keyCompromise", &reason) !=
	    FSEC_OK)
		return cli_usage_error(self, "%s", fsec_err_detail());
	if (!list && revoke == NULL && !o.renew) {
		spec.name = argv[optind];
		/* By default the CRL is where fleetsecd serves it, at the name
		 * and fleetsecd's default port. */
		if (spec.crl_url == NULL && strlen(spec.name) < 256) {
			snprintf(crl_url, sizeof(crl_url), "https://%s:%d/crl", spec.name,
				 FSEC_SERVER_DEFAULT_PORT);
			spec.crl_url = crl_url;
		}
	}
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK)
		return cli_fail(cli_home(&c), rc);
	if (list || revoke != NULL)
		return list_or_revoke(f, c.json, false, revoke, reason);
	rc = fsec_fleet_server_cert(f, &o, &cert);
	fsec_fleet_free(f);
	if (rc != FSEC_OK)
		return cli_fail(o.renew ? "--renew" : spec.name, rc);
	cli_time(cert.not_after, exp, sizeof(exp));
	if (c.json)
		status = cli_print_json(json_pack("{s:s?, s:s, s:s, s:s, s:b}", "name", spec.name,
						  "serial", cert.serial, "fingerprint",
						  cert.fingerprint, "not_after", exp, "renewed",
						  o.renew));
	else if (o.renew)
		printf("server certificate renewed (serial %s, expires %s): send fleetsecd SIGHUP "
		       "to use it\n", cert.serial, exp);
	else
		printf("server certificate for %s issued (serial %s, expires %s)\n", spec.name,
		       cert.serial, exp);
	fsec_issued_cert_cleanup(&cert);
	return c.json ? status : 0;
}

/* `ca client-cert`: a backend or operator client's certificate (issue 15),
 * kept in the same table as fleetsecd's and revoked the same way. */
static int ca_client_cert(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"role", required_argument, NULL, 'p'},
		{"days", required_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},
		{"key-out", required_argument, NULL, 'k'},
		{"list", no_argument, NULL, 'l'},
		{"revoke", required_argument, NULL, 'R'},
		{"reason", required_argument, NULL, 'r'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_server_cert_spec spec = {0};
	struct fsec_server_cert_opts o = {.spec = &spec, .actor = cli_actor()};
	struct fsec_issued_cert cert = {0};
	struct fsec_fleet *f = NULL;
	struct cli_common c = {0};
	const char *revoke = NULL, *reason_name = NULL;
	char exp[32], cert_out[FSEC_ROLE_NAME_MAX + 8], key_out[FSEC_ROLE_NAME_MAX + 8];
	bool list = false;
	enum fsec_err rc;
	int reason = 0;
	long v;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'p': o.role = optarg; break;
		case 'd':
			if (!cli_int(self, "days", optarg, 1, DAYS_MAX, &v))
				return EXIT_USAGE;
			spec.days = (int)v;
			break;
		case 'o': o.cert_out = optarg; break;
		case 'k': o.key_out = optarg; break;
		case 'l': list = true; break;
		case 'R': revoke = optarg; break;
		case 'r': reason_name = optarg; break;
		}
	}
	if (opt < 0)
		return status;
	if (list && revoke != NULL)
		return cli_usage_error(self, "--list and --revoke exclude each other");
	if (reason_name != NULL && revoke == NULL)
		return cli_usage_error(self, "--reason goes with --revoke");
	if (list || revoke != NULL) {
		if (o.role != NULL || spec.days != 0 || o.cert_out != NULL || o.key_out != NULL)
			return cli_usage_error(self, "--list and --revoke issue nothing: no --role, "
					       "--days, --out or --key-out");
		if (optind != argc)
			return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	} else {
		if (optind + 1 != argc)
			return cli_usage_error(self, "expected exactly one NAME");
		if (o.role == NULL || !fsec_role_valid(o.role))
			return cli_usage_error(self, "--role is backend, operator or broker");
		spec.name = argv[optind];
		if (strlen(spec.name) > FSEC_ROLE_NAME_MAX || !fsec_devid_valid(spec.name))
			return cli_usage_error(self, "NAME '%.40s' is not 1-%d characters of A-Z "
					       "a-z 0-9 . _ -", spec.name, FSEC_ROLE_NAME_MAX);
		/* By default NAME.pem and NAME.key here: the client's files
		 * belong to its host, not to the fleet home. */
		if (o.cert_out == NULL) {
			snprintf(cert_out, sizeof(cert_out), "%s.pem", spec.name);
			o.cert_out = cert_out;
		}
		if (o.key_out == NULL) {
			snprintf(key_out, sizeof(key_out), "%s.key", spec.name);
			o.key_out = key_out;
		}
	}
	if (fsec_crl_reason_parse(reason_name != NULL ? reason_name : "keyCompromise", &reason) !=
	    FSEC_OK)
		return cli_usage_error(self, "%s", fsec_err_detail());
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK)
		return cli_fail(cli_home(&c), rc);
	if (list || revoke != NULL)
		return list_or_revoke(f, c.json, true, revoke, reason);
	rc = fsec_fleet_server_cert(f, &o, &cert);
	fsec_fleet_free(f);
	if (rc != FSEC_OK)
		return cli_fail(spec.name, rc);
	cli_time(cert.not_after, exp, sizeof(exp));
	if (c.json)
		status = cli_print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name",
						  spec.name, "role", o.role, "serial", cert.serial,
						  "fingerprint", cert.fingerprint, "not_after", exp,
						  "cert", o.cert_out, "key", o.key_out));
	else
		printf("%s client certificate for %s issued (serial %s, expires %s): %s, key %s\n",
		       o.role, spec.name, cert.serial, exp, o.cert_out, o.key_out);
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
	STACK_OF(X509_CRL) *lists = NULL;
	bool as_der = false;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED, revoked = 0;
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
		rc = fsec_fleet_crl(f, &lists);
	if (rc != FSEC_OK) {
		status = cli_fail(cli_home(&c), rc);
		goto out;
	}
	/* After a rotation, one CRL per issuing CA: PEM holds them all, DER
	 * only one, so --der gives the current CA's. */
	if ((as_der ? fsec_crl_encode(sk_X509_CRL_value(lists, 0), FSEC_CRL_DER, &data, &len)
		    : fsec_crl_set_pem(lists, &data, &len)) != FSEC_OK) {
		fputs("fleetsec: cannot encode the CRL\n", stderr);
		goto out;
	}
	for (int i = 0; i < sk_X509_CRL_num(lists); i++)
		revoked += sk_X509_REVOKED_num(X509_CRL_get_REVOKED(sk_X509_CRL_value(lists, i)));
	if ((status = cli_emit(out, data, len)) != 0)
		goto out;
	if (c.json && out != NULL) {
		status = cli_print_json(json_pack("{s:s, s:i, s:i}", "out", out, "revoked", revoked,
						  "crls", sk_X509_CRL_num(lists)));
		goto out;
	}
	status = 0;
out:
	free(data);
	sk_X509_CRL_pop_free(lists, X509_CRL_free);
	fsec_fleet_free(f);
	return status;
}

static json_t *ca_json(const struct fsec_ca_info *ca)
{
	char nb[32], na[32];

	cli_time(ca->not_before, nb, sizeof(nb));
	cli_time(ca->not_after, na, sizeof(na));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "role",
			 ca->root ? "root" : "issuing", "status",
			 ca->current ? "current" : ca->in_use ? "previous" : "expired", "file",
			 ca->file, "subject", ca->subject, "serial", ca->serial, "fingerprint",
			 ca->fingerprint, "not_before", nb, "not_after", na);
}

static void ca_print(const struct fsec_ca_info *ca)
{
	char nb[32], na[32];

	cli_time(ca->not_before, nb, sizeof(nb));
	cli_time(ca->not_after, na, sizeof(na));
	printf("%s CA (%s): %s\n  subject:     %s\n  serial:      %s\n  sha256:      %s\n"
	       "  valid:       %s to %s\n",
	       ca->root ? "root" : "issuing",
	       ca->current ? "current" : ca->in_use ? "previous, still in use" : "expired",
	       ca->file, ca->subject, ca->serial, ca->fingerprint, nb, na);
}

struct ca_list {
	json_t *arr; /* --json: the rows; NULL: print */
	bool nomem;
};

static int ca_list_one(const struct fsec_ca_info *ca, void *arg)
{
	struct ca_list *cl = arg;

	if (cl->arr == NULL) {
		ca_print(ca);
		return 0;
	}
	if (json_array_append_new(cl->arr, ca_json(ca)) != 0) {
		cl->nomem = true;
		return 1;
	}
	return 0;
}

static int ca_show(int argc, char **argv, const struct cli_cmd *self)
{
	struct fsec_fleet *f = NULL;
	struct cli_common c = {0};
	struct ca_list cl = {0};
	enum fsec_err rc;
	int status;

	if ((status = cli_common_only(argc, argv, self, &c, 0, "no arguments")) != CLI_GO_ON)
		return status;
	if (c.json && (cl.arr = json_array()) == NULL)
		return cli_fail(cli_home(&c), FSEC_ERR_NOMEM);
	rc = fsec_fleet_open(cli_home(&c), &f);
	if (rc == FSEC_OK)
		rc = fsec_fleet_ca_list(f, ca_list_one, &cl);
	if (rc == FSEC_OK && cl.nomem)
		rc = FSEC_ERR_NOMEM;
	fsec_fleet_free(f);
	if (rc != FSEC_OK) {
		json_decref(cl.arr);
		return cli_fail(cli_home(&c), rc);
	}
	return c.json ? cli_print_json(cl.arr) : 0;
}

static int ca_rotate(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"root-key", required_argument, NULL, 'k'},
		{"days", required_argument, NULL, 'd'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_ca_rotate_params p = {.actor = cli_actor()};
	struct fsec_ca_info ca;
	struct fsec_fleet *f = NULL;
	struct cli_common c = {0};
	enum fsec_err rc;
	char exp[32];
	long v;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'k') {
			p.root_key = optarg;
		} else if (opt == 'd') {
			if (!cli_int(self, "days", optarg, 1, DAYS_MAX, &v))
				return EXIT_USAGE;
			p.days = (int)v;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (p.root_key == NULL)
		return cli_usage_error(self, "--root-key is required");
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK)
		return cli_fail(cli_home(&c), rc);
	/* ca.file points into f: f is freed after the output. */
	if ((rc = fsec_fleet_ca_rotate(f, &p, &ca)) != FSEC_OK) {
		fsec_fleet_free(f);
		return cli_fail("ca rotate", rc);
	}
	if (c.json) {
		status = cli_print_json(ca_json(&ca));
		fsec_fleet_free(f);
		return status;
	}
	cli_time(ca.not_after, exp, sizeof(exp));
	printf("issuing CA rotated: %s (serial %s, expires %s) issues from now on\n"
	       "  the previous issuing CA stays trusted and signs its own CRL until it expires;\n"
	       "  renew fleetsecd's certificate (ca server-cert --renew, then SIGHUP), and devices\n"
	       "  move to the new CA as they renew. Take %s offline again.\n",
	       ca.file, ca.serial, exp, p.root_key);
	fsec_fleet_free(f);
	return 0;
}

static int ca_rollover(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"root-key", required_argument, NULL, 'k'},
		{"days", required_argument, NULL, 'd'},
		{"issuing-days", required_argument, NULL, 'i'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_ca_rollover_params p = {.actor = cli_actor()};
	struct fsec_ca_info root, iss;
	struct fsec_fleet *f = NULL;
	struct cli_common c = {0};
	enum fsec_err rc;
	char exp[32], key[4096];
	long v;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'k') {
			p.root_key = optarg;
		} else if (opt == 'd' || opt == 'i') {
			if (!cli_int(self, opt == 'd' ? "days" : "issuing-days", optarg, 1, DAYS_MAX, &v))
				return EXIT_USAGE;
			*(opt == 'd' ? &p.days : &p.issuing_days) = (int)v;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (p.root_key == NULL)
		return cli_usage_error(self, "--root-key is required");
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK)
		return cli_fail(cli_home(&c), rc);
	/* root.file and iss.file point into f: f is freed after the output. */
	if ((rc = fsec_fleet_ca_rollover(f, &p, &root, &iss)) != FSEC_OK) {
		fsec_fleet_free(f);
		return cli_fail("ca rollover", rc);
	}
	/* The key sits next to the certificate: root-N.key for root-N.pem. */
	snprintf(key, sizeof(key), "%s/%.*s.key", fsec_fleet_get_home(f),
		 (int)(strlen(root.file) - strlen(".pem")), root.file);
	if (c.json) {
		status = cli_print_json(json_pack("{s:o, s:o, s:s}", "root", ca_json(&root),
						  "issuing", ca_json(&iss), "root_key", key));
		fsec_fleet_free(f);
		return status;
	}
	cli_time(root.not_after, exp, sizeof(exp));
	printf("root CA rolled over: %s (serial %s, expires %s) is the new root, cross-signed\n"
	       "  both ways with the previous one; %s under it issues from now on.\n"
	       "  The previous root and its issuing CAs stay trusted until they expire.\n"
	       "  Renew fleetsecd's certificate (ca server-cert --renew, then SIGHUP).\n"
	       "  Take the new root key %s offline now, and %s again.\n",
	       root.file, root.serial, exp, iss.file, key, p.root_key);
	fsec_fleet_free(f);
	return 0;
}

const struct cli_cmd cli_ca_cmds[] = {
	{"ca", "init", ca_init, "create the fleet's root and issuing CA and the registry",
	 "--name NAME [--algo p256|ed25519] [--root-days N] [--issuing-days N]\n"
	 "       [--device-days N] [--crl-days N] [--registry URL] [--home DIR] [--json]\n\n"
	 "Creates a fleet home: a root CA and an issuing CA signed by it (ECDSA P-256\n"
	 "by default), a SQLite registry and an empty CRL. Keys are written 0600 and\n"
	 "never printed. The root key (root.key) is only needed here: move it offline.\n"
	 "An existing home is refused and left unchanged.\n\n"
	 "With --registry postgresql://[USER@][HOST][:PORT]/DB the registry is that\n"
	 "PostgreSQL database instead (an existing, empty one; libpq's PG* variables\n"
	 "and service file fill in what the URL leaves out). A URL with a password is\n"
	 "refused: it would be kept in fleet.json and shown by ps; libpq reads the\n"
	 "password from ~/.pgpass or the file PGPASSFILE names.\n\n"
	 "  --name NAME          fleet name (subject O of every certificate)\n"
	 "  --algo ALGO          p256 (default) or ed25519\n"
	 "  --root-days N        root CA validity (default 7300)\n"
	 "  --issuing-days N     issuing CA validity (default 3650)\n"
	 "  --device-days N      default device certificate validity (default 365)\n"
	 "  --crl-days N         CRL nextUpdate interval (default 7)\n"
	 "  --registry URL       a PostgreSQL registry (postgresql://...) instead of SQLite\n"},
	{"ca", "chain", ca_chain, "print the issuing and root CA certificates (PEM)",
	 "[--home DIR] [--json]\n\n"
	 "Prints the issuing CA certificate, then the root CA certificate, then each\n"
	 "previous issuing CA still in use after a rotation, as PEM.\n"},
	{"ca", "show", ca_show, "list the fleet's CAs: root, current and previous issuing CAs",
	 "[--home DIR] [--json]\n\n"
	 "Lists the root CA, the current issuing CA and every previous one (newest\n"
	 "first) with its file, subject, serial, SHA-256 fingerprint, validity and\n"
	 "status: current, previous (still trusted and signing its CRL until it\n"
	 "expires) or expired. Rotations are in the event log (action ca-rotate).\n"},
	{"ca", "rotate", ca_rotate, "replace the issuing CA with a new one under the same root",
	 "--root-key ROOT.key [--days N] [--home DIR] [--json]\n\n"
	 "Makes a new issuing CA key and certificate signed by the fleet's root\n"
	 "(HOME/issuing-N.pem and issuing-N.key, 0600) and makes it current in\n"
	 "fleet.json: every certificate is issued by it from now on. The previous\n"
	 "issuing CA and its key are kept (fleet.json \"previous_issuing\"): until its\n"
	 "certificate expires, fleetsecd accepts the client certificates it issued,\n"
	 "chain.pem and /cacerts include it, and it signs a CRL of what it issued:\n"
	 "crl.pem then holds one CRL per issuing CA, the current one first, as PEM,\n"
	 "and GET /crl serves that PEM text (DER while there is one CA). Devices move\n"
	 "to the new CA when they renew. A running fleetsecd picks up the new CA at\n"
	 "its next connection; renew its certificate with ca server-cert --renew.\n"
	 "The root key is read once and never stored; a key that is not the root\n"
	 "certificate's is refused and nothing is written. Logged as ca-rotate.\n\n"
	 "  --root-key FILE  the root CA's private key (a path or OpenSSL store URI)\n"
	 "  --days N         the new issuing CA's validity (default 3650, at most the\n"
	 "                   root's)\n"},
	{"ca", "rollover", ca_rollover, "replace the root CA, cross-signed with the old one",
	 "--root-key ROOT.key [--days N] [--issuing-days N] [--home DIR] [--json]\n\n"
	 "Makes a new root key and self-signed certificate (HOME/root-N.key, 0600, and\n"
	 "root-N.pem, N = 2, 3, ...; CN \"NAME Root CA N\"), the two cross certificates\n"
	 "of RFC 4210 (HOME/cross-N-new-with-old.pem: the new root's name and key,\n"
	 "signed by the old root; cross-N-old-with-new.pem: the old root's, signed by\n"
	 "the new one) and a new issuing CA under the new root, as ca rotate does,\n"
	 "which issues every certificate from now on. The old root, its cross\n"
	 "certificates and its issuing CAs stay trusted until they expire (fleet.json\n"
	 "\"previous_roots\"): chain.pem and /cacerts carry them, fleetsecd accepts\n"
	 "both roots' devices, and each issuing CA signs its CRL. After ca server-cert\n"
	 "--renew, fleetsecd sends NewWithOld after its issuing CA, so a device that\n"
	 "pins the old root still verifies it. The old root key is read once and never\n"
	 "stored; a key that is not the current root's is refused and nothing is\n"
	 "written. The new root key is written to the home: take it offline.\n"
	 "Logged as ca-rollover.\n\n"
	 "  --root-key FILE   the current root CA's private key (a path or store URI)\n"
	 "  --days N          the new root's validity (default 7300)\n"
	 "  --issuing-days N  the new issuing CA's validity (default 3650, at most the\n"
	 "                    new root's)\n"},
	{"ca", "server-cert", ca_server_cert, "issue, renew, list or revoke fleetsecd's TLS certificate",
	 "NAME [--ip ADDR]... [--crl-url URL] [--days N] [--out FILE] [--key-out FILE]\n"
	 "       --renew [--days N] [--out FILE] [--key-out FILE]\n"
	 "       --list | --revoke SERIAL [--reason R]    [--home DIR] [--json]\n\n"
	 "Generates an ECDSA P-256 key and issues it a TLS server certificate from the\n"
	 "fleet's issuing CA: CN and SAN DNS:NAME, each --ip as a SAN IP address, EKU\n"
	 "serverAuth and a CRL distribution point. Writes HOME/server.key (0600) and\n"
	 "HOME/server.pem (certificate, then the issuing CA), where fleetsecd looks by\n"
	 "default, and records the certificate in the registry. Existing files are\n"
	 "never overwritten, except by --renew.\n\n"
	 "  --ip ADDR       an IPv4 or IPv6 address clients connect to (repeatable, max 8)\n"
	 "  --crl-url URL   CRL distribution point (default https://NAME:8443/crl)\n"
	 "  --days N        validity (default 30)\n"
	 "  --out FILE      certificate chain here instead of HOME/server.pem\n"
	 "  --key-out FILE  key here instead of HOME/server.key\n"
	 "  --renew         a new key and certificate for the name and addresses of the\n"
	 "                  current one, each file replaced atomically; then send\n"
	 "                  fleetsecd SIGHUP (systemctl reload fleetsecd)\n"
	 "  --list          every recorded server certificate: serial, name, expiry, status\n"
	 "  --revoke SERIAL revoke it and publish a CRL that lists it (HOME/crl.pem);\n"
	 "                  agents then refuse a server that presents it\n"
	 "  --reason R      RFC 5280 reason (default keyCompromise)\n"},
	{"ca", "client-cert", ca_client_cert,
	 "issue, list or revoke a backend, operator or broker client certificate (MQTT)",
	 "--role backend|operator|broker NAME [--days N] [--out FILE] [--key-out FILE]\n"
	 "       --list | --revoke SERIAL [--reason R]    [--home DIR] [--json]\n\n"
	 "Generates an ECDSA P-256 key and issues it a client certificate from the\n"
	 "fleet's issuing CA: CN=NAME, SAN URI urn:fleetsec:role:ROLE:NAME, EKU\n"
	 "clientAuth. The role URI is written only by this command: a device\n"
	 "certificate never carries one, whatever its CSR asks. The fleetsec Mosquitto\n"
	 "plugin admits the certificate as MQTT username and client ID ROLE:NAME and\n"
	 "applies the policy file's [role ROLE] section (docs/MQTT.md). A broker\n"
	 "certificate is for an EMQX cluster calling fleetsecd's /v1/emqx/authn and\n"
	 "/v1/emqx/authz (docs/SCALING.md), never for an MQTT client. Writes NAME.key\n"
	 "(0600) and NAME.pem (certificate, then the issuing CA) in the current\n"
	 "directory, never over existing files, and records the certificate in the\n"
	 "registry. Logged as client-cert.\n\n"
	 "  --role ROLE     backend (wider topic rules), operator, or broker (EMQX)\n"
	 "  --days N        validity (default 30)\n"
	 "  --out FILE      certificate chain here instead of NAME.pem\n"
	 "  --key-out FILE  key here instead of NAME.key\n"
	 "  --list          every recorded client certificate: serial, role, name,\n"
	 "                  expiry, status\n"
	 "  --revoke SERIAL revoke it and publish a CRL that lists it; brokers running\n"
	 "                  the plugin drop its sessions and refuse it\n"
	 "  --reason R      RFC 5280 reason (default keyCompromise)\n"},
	{"crl", NULL, crl, "sign and write the current CRL",
	 "[--out FILE] [--der] [--home DIR] [--json]\n\n"
	 "Signs a fresh X.509 v2 CRL (next CRL number) listing every revoked device and\n"
	 "certificate that has not expired, or expired less than one CRL period ago,\n"
	 "with its reason code, stores it as HOME/crl.pem (unless a CRL with a higher\n"
	 "number is there already) and writes it to FILE (atomically) or standard output.\n"
	 "After ca rotate, one CRL per issuing CA in use, all with the same number, each\n"
	 "listing what its CA issued, the current CA's first, as one PEM text.\n\n"
	 "  --out FILE   write here instead of standard output\n"
	 "  --der        DER instead of PEM (DER holds one CRL: the current CA's)\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
