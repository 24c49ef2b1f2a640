/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsec net: compile the isolation policy and MUD files into nftables,
 * check a ruleset with nft, inspect a MUD file, explain a decision. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/mud.h"
#include "fleetsec/netinput.h"
#include "fleetsec/netpolicy.h"
#include "fleetsec/registry.h"

extern char **environ;

#define CERT_MAX (256u * 1024u)

struct build_opts {
	struct cli_common c;
	struct fsec_netpolicy_opts o;
	bool from_registry;
	char mud_dir[4096];
};

struct reg_ctx {
	struct fsec_netpolicy *p;
	enum fsec_err rc;
};

static int add_registry_device(const struct fsec_device_net *d, void *arg)
{
	struct reg_ctx *r = arg;
	struct fsec_netinput_device in = {
		.id = d->id, .model = d->model, .status = d->status, .mac = d->mac, .ip = d->ip};

	r->rc = fsec_netinput_add_device(r->p, &in, NULL);
	return r->rc != FSEC_OK;
}

/* Parse the policy, add registry devices if asked, and prepare it. */
static int build_policy(const char *path, struct build_opts *b, struct fsec_netpolicy **out)
{
	struct fsec_netpolicy *p = NULL;
	struct fsec_fleet *f = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;
	int status = EXIT_REFUSED;

	if ((rc = fsec_file_read(path, FSEC_NETPOLICY_MAX, &buf, &len)) != FSEC_OK ||
	    (rc = fsec_netpolicy_parse(buf, len, &p)) != FSEC_OK) {
		status = cli_fail(path, rc);
		goto out;
	}
	if (b->from_registry) {
		struct reg_ctx r = {.p = p, .rc = FSEC_OK};

		rc = fsec_fleet_open(cli_home(&b->c), &f);
		if (rc == FSEC_OK)
			rc = fsec_registry_device_net_list(fsec_fleet_get_registry(f),
							   add_registry_device, &r);
		if (rc == FSEC_OK)
			rc = r.rc;
		if (rc != FSEC_OK) {
			status = cli_fail(cli_home(&b->c), rc);
			goto out;
		}
	}
	if (b->o.mud_dir == NULL) {
		if ((rc = fsec_netinput_mud_dir(path, b->mud_dir, sizeof(b->mud_dir))) != FSEC_OK) {
			status = cli_fail(path, rc);
			goto out;
		}
		b->o.mud_dir = b->mud_dir;
	}
	if ((rc = fsec_netpolicy_prepare(p, &b->o)) != FSEC_OK) {
		status = cli_fail(path, rc);
		goto out;
	}
	*out = p;
	p = NULL;
	status = 0;
out:
	fsec_fleet_free(f);
	fsec_netpolicy_free(p);
	free(buf);
	return status;
}

static void print_warnings(const struct fsec_netpolicy *p)
{
	for (size_t i = 0; i < fsec_netpolicy_warning_count(p); i++)
		fprintf(stderr, "fleetsec: warning: %s\n", fsec_netpolicy_warning_get(p, i));
}

/* Options shared by compile and explain; returns 1 if opt was one of them. */
static int build_opt(int opt, struct build_opts *b)
{
	switch (opt) {
	case 'd': b->o.mud_dir = optarg; return 1;
	case 'r': b->o.resolve = true; return 1;
	case 'R': b->from_registry = true; return 1;
	case 'S': b->o.mud_signer = optarg; return 1;
	case 'I': b->o.mud_skip_invalid = true; return 1;
	case 'F': b->o.fleetsecd = optarg; return 1;
	default: return 0;
	}
}

#define BUILD_LONGOPTS                                                                        \
	{"mud-dir", required_argument, NULL, 'd'}, {"resolve", no_argument, NULL, 'r'},       \
		{"from-registry", no_argument, NULL, 'R'}, {"mud-signer", required_argument, NULL, 'S'}, \
		{"skip-invalid", no_argument, NULL, 'I'}, {"fleetsecd", required_argument, NULL, 'F'}

static int net_compile(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		BUILD_LONGOPTS,
		{"out", required_argument, NULL, 'o'},
		{"dnsmasq-out", required_argument, NULL, 'D'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct build_opts b = {0};
	struct fsec_netpolicy *p = NULL;
	struct fsec_file_stage *s1 = NULL, *s2 = NULL;
	const char *out = NULL, *dm_out = NULL;
	char *nft = NULL, *dm = NULL, dm_path[4200];
	size_t nlen = 0, dlen = 0;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &b.c, &status)) > 0) {
		if (build_opt(opt, &b))
			continue;
		if (opt == 'o')
			out = optarg;
		else if (opt == 'D')
			dm_out = optarg;
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one POLICY.json");
	if ((status = build_policy(argv[optind], &b, &p)) != 0)
		return status;
	status = EXIT_REFUSED;
	print_warnings(p);
	if ((rc = fsec_netpolicy_render(p, &nft, &nlen, &dm, &dlen)) != FSEC_OK) {
		status = cli_fail(argv[optind], rc);
		goto out;
	}
	if (dm_out == NULL && out != NULL) {
		snprintf(dm_path, sizeof(dm_path), "%s.dnsmasq.conf", out);
		dm_out = dm_path;
	}
	if (out == NULL) {
		if (dm_out == NULL && strstr(dm, "\nnftset=") != NULL)
			fputs("fleetsec: warning: the DNS-name sets need the dnsmasq lines: use --out "
			      "or --dnsmasq-out\n",
			      stderr);
		status = cli_emit(NULL, nft, nlen);
		if (status == 0 && dm_out != NULL)
			status = cli_emit(dm_out, dm, dlen);
		goto out;
	}
	/* Both files or neither: stage both, then commit. */
	if ((rc = fsec_file_stage_new(out, nft, nlen, 0644, 0, &s1)) != FSEC_OK ||
	    (rc = fsec_file_stage_new(dm_out, dm, dlen, 0644, 0, &s2)) != FSEC_OK ||
	    (rc = fsec_file_stage_commit(s1)) != FSEC_OK ||
	    (rc = fsec_file_stage_commit(s2)) != FSEC_OK) {
		status = cli_fail(out, rc);
		goto out;
	}
	status = 0;
	if (b.c.json) {
		struct fsec_netpolicy_stats st;
		json_t *w = json_array();

		fsec_netpolicy_get_stats(p, &st);
		for (size_t i = 0; i < fsec_netpolicy_warning_count(p); i++)
			json_array_append_new(w, json_string(fsec_netpolicy_warning_get(p, i)));
		status = cli_print_json(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "ruleset",
						  out, "dnsmasq", dm_out, "classes",
						  (json_int_t)st.classes, "devices",
						  (json_int_t)st.devices, "endpoints",
						  (json_int_t)st.endpoints, "dns_names",
						  (json_int_t)st.dns_names, "pairs", (json_int_t)st.pairs,
						  "warnings", w));
	}
out:
	fsec_file_stage_free(s1);
	fsec_file_stage_free(s2);
	free(nft);
	free(dm);
	fsec_netpolicy_free(p);
	return status;
}

static int net_check(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	struct cli_common c = {0};
	posix_spawn_file_actions_t fa;
	char *args[] = {"nft", "-c", "-f", NULL, NULL};
	char errbuf[4096] = "", *line;
	int opt, status = EXIT_REFUSED, pfd[2], wst = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		;
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one rules.nft");
	if (access(argv[optind], R_OK) != 0) {
		fprintf(stderr, "fleetsec: %s: %s\n", argv[optind], strerror(errno));
		return EXIT_REFUSED;
	}
	args[3] = argv[optind];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		fprintf(stderr, "fleetsec: %s: pipe: %s\n", argv[optind], strerror(errno));
		return EXIT_REFUSED;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDERR_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	if (posix_spawnp(&pid, "nft", &fa, NULL, args, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(pfd[0]);
		close(pfd[1]);
		fprintf(stderr, "fleetsec: %s: cannot run nft (install nftables)\n", argv[optind]);
		return EXIT_REFUSED;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	while ((n = read(pfd[0], errbuf + got, sizeof(errbuf) - 1 - got)) > 0)
		got += (size_t)n;
	errbuf[got] = '\0';
	/* Drain whatever does not fit, so nft never blocks on a full pipe. */
	while (n > 0 || (n < 0 && errno == EINTR)) {
		char sink[512];

		n = read(pfd[0], sink, sizeof(sink));
	}
	close(pfd[0]);
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(wst) && WEXITSTATUS(wst) == 0) {
		if (c.json)
			return cli_print_json(json_pack("{s:s, s:b}", "ruleset", argv[optind], "valid", 1));
		printf("%s: nft accepts the ruleset\n", argv[optind]);
		return 0;
	}
	/* One line: nft's first error line (it names file, line and column). */
	line = strstr(errbuf, "Error:");
	if (line != NULL) {
		while (line > errbuf && line[-1] != '\n')
			line--;
		line[strcspn(line, "\n")] = '\0';
	}
	fprintf(stderr, "fleetsec: %s: nft refuses the ruleset: %s\n", argv[optind],
		line != NULL ? line : "nft failed");
	return EXIT_REFUSED;
}

static void ace_line(const struct fsec_mud_ace *a, char *buf, size_t cap)
{
	char peer[320], ports[64] = "", l4[24];

	switch (a->peer) {
	case FSEC_MUD_PEER_ADDR: snprintf(peer, sizeof(peer), "addr:%s", a->addr); break;
	case FSEC_MUD_PEER_DNS: snprintf(peer, sizeof(peer), "dns:%s", a->dnsname); break;
	case FSEC_MUD_PEER_MATCH:
		snprintf(peer, sizeof(peer), "mud:%s%s%s", fsec_mud_match_name(a->match),
			 a->match_value[0] != '\0' ? "=" : "", a->match_value);
		break;
	default: snprintf(peer, sizeof(peer), "any"); break;
	}
	if (a->proto == 6 || a->proto == 17)
		snprintf(l4, sizeof(l4), "%s", a->proto == 6 ? "tcp" : "udp");
	else if (a->proto == 1 || a->proto == 58)
		snprintf(l4, sizeof(l4), "icmp");
	else if (a->proto >= 0)
		snprintf(l4, sizeof(l4), "proto-%d", a->proto);
	else if (a->family == 0)
		snprintf(l4, sizeof(l4), "eth-0x%04x", a->ethertype);
	else
		snprintf(l4, sizeof(l4), "ip");
	if (a->dport_lo != 0 || a->dport_hi != 65535)
		snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports), " dport %u%s%.0u",
			 a->dport_lo, a->dport_lo != a->dport_hi ? "-" : "",
			 a->dport_lo != a->dport_hi ? a->dport_hi : 0);
	if (a->sport_lo != 0 || a->sport_hi != 65535)
		snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports), " sport %u%s%.0u",
			 a->sport_lo, a->sport_lo != a->sport_hi ? "-" : "",
			 a->sport_lo != a->sport_hi ? a->sport_hi : 0);
	if (a->proto == 1 || a->proto == 58)
		snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports), " type %d code %d",
			 a->icmp_type, a->icmp_code);
	snprintf(buf, cap, "%-11s ipv%d %-40s %s%s initiated:%s", fsec_mud_dir_name(a->dir),
		 a->family, peer, l4, ports, fsec_mud_init_name(a->initiated));
}

static json_t *ace_json(const struct fsec_mud_ace *a)
{
	json_t *j = json_pack("{s:s, s:i, s:s}", "direction", fsec_mud_dir_name(a->dir), "family",
			      a->family, "path", a->path);

	if (a->peer == FSEC_MUD_PEER_ADDR)
		json_object_set_new(j, "address", json_string(a->addr));
	else if (a->peer == FSEC_MUD_PEER_DNS)
		json_object_set_new(j, "dnsname", json_string(a->dnsname));
	else if (a->peer == FSEC_MUD_PEER_MATCH)
		json_object_set_new(j, "mud_match",
				    json_pack("{s:s, s:s}", "kind", fsec_mud_match_name(a->match),
					      "value", a->match_value));
	if (a->proto >= 0)
		json_object_set_new(j, "protocol", json_integer(a->proto));
	if (a->family == 0)
		json_object_set_new(j, "ethertype", json_integer(a->ethertype));
	json_object_set_new(j, "dport", json_pack("[i,i]", a->dport_lo, a->dport_hi));
	json_object_set_new(j, "sport", json_pack("[i,i]", a->sport_lo, a->sport_hi));
	if (a->icmp_type >= 0)
		json_object_set_new(j, "icmp_type", json_integer(a->icmp_type));
	if (a->icmp_code >= 0)
		json_object_set_new(j, "icmp_code", json_integer(a->icmp_code));
	json_object_set_new(j, "initiated", json_string(fsec_mud_init_name(a->initiated)));
	return j;
}

static int verify_sig(const char *file, const unsigned char *buf, size_t len, const char *sig,
		      const char *signer)
{
	unsigned char *s = NULL, *pem = NULL;
	size_t slen = 0, plen = 0;
	char def[4200];
	enum fsec_err rc;
	const char *what;

	if (sig == NULL) {
		if ((rc = fsec_netinput_mud_sig_path(file, def, sizeof(def))) != FSEC_OK)
			return cli_fail(file, rc);
		sig = def;
	}
	what = sig;
	rc = fsec_file_read(sig, CERT_MAX, &s, &slen);
	if (rc == FSEC_OK) {
		what = signer;
		rc = fsec_file_read(signer, CERT_MAX, &pem, &plen);
	}
	if (rc == FSEC_OK) {
		what = file;
		rc = fsec_mud_verify(buf, len, s, slen, pem, plen);
	}
	free(s);
	free(pem);
	return rc == FSEC_OK ? 0 : cli_fail(what, rc);
}

static int net_mud(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"signer", required_argument, NULL, 's'},
		{"mud-signer", required_argument, NULL, 's'},
		{"sig", required_argument, NULL, 'p'},
		{"skip-invalid", no_argument, NULL, 'I'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_common c = {0};
	struct fsec_mud *m = NULL;
	const char *signer = NULL, *sig = NULL, *file;
	unsigned char *buf = NULL;
	unsigned flags = 0;
	size_t len = 0;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 's')
			signer = optarg;
		else if (opt == 'p')
			sig = optarg;
		else if (opt == 'I')
			flags |= FSEC_MUD_SKIP_INVALID;
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one MUD file");
	if (sig != NULL && signer == NULL)
		return cli_usage_error(self, "--sig goes with --signer CERT");
	file = argv[optind];
	if ((rc = fsec_file_read(file, FSEC_MUD_MAX, &buf, &len)) != FSEC_OK) {
		status = cli_fail(file, rc);
		goto out;
	}
	/* The signature is checked before anything of the file is believed. */
	if (signer != NULL && (status = verify_sig(file, buf, len, sig, signer)) != 0)
		goto out;
	if ((rc = fsec_mud_parse_flags(buf, len, flags, &m)) != FSEC_OK) {
		status = cli_fail(file, rc);
		goto out;
	}
	if (c.json) {
		json_t *aces = json_array(), *warns = json_array();

		for (size_t i = 0; i < fsec_mud_ace_count(m); i++)
			json_array_append_new(aces, ace_json(fsec_mud_ace_get(m, i)));
		for (size_t i = 0; i < fsec_mud_warning_count(m); i++)
			json_array_append_new(warns, json_string(fsec_mud_warning_get(m, i)));
		status = cli_print_json(json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o}", "mud_url", fsec_mud_url(m),
			"manufacturer", fsec_mud_manufacturer(m), "mfg_name", fsec_mud_mfg_name(m),
			"model_name", fsec_mud_model_name(m), "systeminfo", fsec_mud_systeminfo(m),
			"signature_verified", signer != NULL, "entries", aces, "warnings", warns));
		goto out;
	}
	printf("mud-url       %s\nmanufacturer  %s\nsysteminfo    %s\nsignature     %s\n",
	       fsec_mud_url(m), fsec_mud_manufacturer(m), fsec_mud_systeminfo(m),
	       signer != NULL ? "verified" : "not checked (use --signer CERT)");
	printf("entries (%zu):\n", fsec_mud_ace_count(m));
	for (size_t i = 0; i < fsec_mud_ace_count(m); i++) {
		char line[600];

		ace_line(fsec_mud_ace_get(m, i), line, sizeof(line));
		printf("  %s  %s\n", line, fsec_mud_ace_get(m, i)->path);
	}
	printf("warnings (%zu):\n", fsec_mud_warning_count(m));
	for (size_t i = 0; i < fsec_mud_warning_count(m); i++)
		printf("  %s\n", fsec_mud_warning_get(m, i));
	status = 0;
out:
	fsec_mud_free(m);
	free(buf);
	return status;
}

static int net_explain(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {BUILD_LONGOPTS, CLI_COMMON_LONGOPTS,
						 {NULL, 0, NULL, 0}};
	struct build_opts b = {0};
	struct fsec_netpolicy *p = NULL;
	struct fsec_netpolicy_verdict v;
	enum fsec_err rc;
	long port;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &b.c, &status)) > 0)
		build_opt(opt, &b);
	if (opt < 0)
		return status;
	if (optind + 5 != argc)
		return cli_usage_error(self, "expected POLICY.json SRC DST PROTO PORT");
	if (!cli_int(self, "PORT", argv[optind + 4], 0, 65535, &port))
		return EXIT_USAGE;
	if ((status = build_policy(argv[optind], &b, &p)) != 0)
		return status;
	rc = fsec_netpolicy_explain(p, argv[optind + 1], argv[optind + 2], argv[optind + 3],
				    (unsigned)port, &v);
	if (rc != FSEC_OK) {
		status = cli_fail(argv[optind], rc);
		goto out;
	}
	if (b.c.json)
		status = cli_print_json(json_pack("{s:s, s:s, s:s}", "verdict",
						  v.allow ? "allow" : "deny", "rule", v.rule,
						  "detail", v.detail));
	else
		printf("%s  %s  %s\n", v.allow ? "allow" : "deny", v.rule, v.detail);
out:
	fsec_netpolicy_free(p);
	return status;
}

static int net_setup(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {{"out", required_argument, NULL, 'o'},
						 CLI_COMMON_LONGOPTS,
						 {NULL, 0, NULL, 0}};
	struct cli_common c = {0};
	struct fsec_netpolicy *p = NULL;
	unsigned char *buf = NULL;
	const char *out = NULL;
	char *script = NULL;
	size_t len = 0, slen = 0;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		if (opt == 'o')
			out = optarg;
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one POLICY.json");
	if ((rc = fsec_file_read(argv[optind], FSEC_NETPOLICY_MAX, &buf, &len)) != FSEC_OK ||
	    (rc = fsec_netpolicy_parse(buf, len, &p)) != FSEC_OK ||
	    (rc = fsec_netpolicy_setup_script(p, &script, &slen)) != FSEC_OK) {
		status = cli_fail(argv[optind], rc);
		goto out;
	}
	status = cli_emit(out, script, slen);
out:
	free(script);
	free(buf);
	fsec_netpolicy_free(p);
	return status;
}

const struct cli_cmd cli_net_cmds[] = {
	{"net", "compile", net_compile, "compile the isolation policy and MUD files to nftables",
	 "POLICY.json [--mud-dir DIR] [--from-registry] [--resolve] [--out rules.nft]\n"
	 "       [--dnsmasq-out FILE] [--mud-signer CERT] [--skip-invalid]\n"
	 "       [--fleetsecd ADDR:PORT] [--json]\n\n"
	 "Compile the policy (docs/NETWORK-POLICY.md) and its classes' MUD files into one\n"
	 "nftables script for table inet fleetsec, loaded atomically with nft -f.\n"
	 "Warnings (MUD constructs not compiled, with their JSON paths) go to stderr.\n\n"
	 "  --mud-dir DIR       where the classes' MUD files are (default: the policy's directory)\n"
	 "  --from-registry     add the registry's devices that have a MAC/IP\n"
	 "                      (fleetsec device set ID --mac M --ip A); model selects the\n"
	 "                      class; revoked devices go to the quarantine class\n"
	 "  --fleetsecd ADDR:PORT  the one endpoint (IPv4, TCP) a quarantined device may\n"
	 "                      reach, to be re-provisioned (default: none)\n"
	 "  --resolve           resolve DNS names now instead of dnsmasq-filled sets\n"
	 "  --mud-signer CERT   every MUD file must carry a .p7s that verifies against CERT\n"
	 "                      (classes may name their own \"mud_signer\" instead)\n"
	 "  --skip-invalid      skip each invalid accept entry of a MUD file, naming it on\n"
	 "                      stderr, instead of refusing the file (an entry is skipped\n"
	 "                      whole, so this never allows more; an invalid deny entry\n"
	 "                      still refuses the file)\n"
	 "  --out FILE          write the ruleset to FILE (default: stdout) and the dnsmasq\n"
	 "                      lines to FILE.dnsmasq.conf\n"
	 "  --dnsmasq-out FILE  write the dnsmasq nftset= lines to FILE\n"},
	{"net", "check", net_check, "validate a ruleset with nft -c -f",
	 "rules.nft [--json]\n\nRun nft -c -f on the file (nothing is loaded). Needs nft and "
	 "CAP_NET_ADMIN.\n"},
	{"net", "mud", net_mud, "parse a MUD file, verify its signature, print what it allows",
	 "FILE [--signer CERT [--sig FILE.p7s]] [--skip-invalid] [--json]\n\n"
	 "Print the MUD file's entries (direction, peer, protocol, ports, who initiates)\n"
	 "and every warning with its JSON path. --signer (alias --mud-signer) verifies the\n"
	 "detached CMS signature (FILE with .json replaced by .p7s unless --sig) against\n"
	 "the PEM certificate(s) in CERT, which are trusted as they are. --skip-invalid\n"
	 "skips each invalid accept entry (named in the warnings) instead of refusing.\n"},
	{"net", "explain", net_explain, "say whether the policy allows a connection, and why",
	 "POLICY.json SRC DST PROTO PORT [--mud-dir DIR] [--from-registry] [--resolve]\n"
	 "       [--mud-signer CERT] [--skip-invalid] [--fleetsecd ADDR:PORT] [--json]\n\n"
	 "SRC is an IPv4 address, a MAC or a device ID; DST an IP address; PROTO tcp or udp.\n"
	 "Prints allow or deny, the deciding rule (for a deny, the ruleset's drop counter),\n"
	 "and where the allowance comes from. Replies to allowed connections always pass.\n"},
	{"net", "setup", net_setup, "print the router setup that isolates IoT bridge ports",
	 "POLICY.json [--out FILE]\n\n"
	 "Print a shell script that isolates each IoT zone's bridge_ports and makes the\n"
	 "router route (and so filter) device-to-device traffic on the same bridge.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
