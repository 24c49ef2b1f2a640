/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsec net: compile the isolation policy and MUD files into nftables,
 * check a ruleset with nft, inspect a MUD file, explain a decision. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/mud.h"
#include "fleetsec/netinput.h"
#include "fleetsec/netpolicy.h"
#include "fleetsec/netsync.h"
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
		.id = d->id, .model = d->model, .status = d->status, .mac = d->mac, .ip = d->ip,
		.tampered = d->tampered};

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

/* nft's output: stdout (up to FSEC_NETSYNC_LISTING_MAX) and the first
 * 4 KiB of stderr. */
struct nft_run {
	char *out;
	size_t outlen, outcap;
	char err[4096];
	int status; /* exit status; -1: killed or not run */
};

/* Read what is ready on fd into the run; false at end of file. A stdout that
 * exceeds the cap is a failure (status stays -1); stderr past 4 KiB is
 * drained and dropped, so nft never blocks on a full pipe. */
static bool nft_read(int fd, bool is_out, struct nft_run *r, size_t *errlen, bool *toobig)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (is_out) {
		char *g;

		if ((size_t)n > FSEC_NETSYNC_LISTING_MAX - r->outlen) {
			*toobig = true;
			return true;
		}
		/* Doubling: a listing of a million devices is read in ~40 steps. */
		if (r->outlen + (size_t)n + 1 > r->outcap) {
			size_t ncap = r->outcap < 65536 ? 131072 : r->outcap * 2;

			if ((g = realloc(r->out, ncap)) == NULL) {
				*toobig = true;
				return true;
			}
			r->out = g;
			r->outcap = ncap;
		}
		memcpy(r->out + r->outlen, buf, (size_t)n);
		r->outlen += (size_t)n;
		r->out[r->outlen] = '\0';
	} else if (*errlen < sizeof(r->err) - 1) {
		size_t k = (size_t)n < sizeof(r->err) - 1 - *errlen ? (size_t)n
								   : sizeof(r->err) - 1 - *errlen;

		memcpy(r->err + *errlen, buf, k);
		*errlen += k;
		r->err[*errlen] = '\0';
	}
	return true;
}

/* Run nft with args, in (inlen bytes, may be NULL) on its standard input.
 * Returns false if nft could not be started (not installed); otherwise r
 * holds its status and output. */
static bool run_nft(char *const args[], const char *in, size_t inlen, struct nft_run *r)
{
	posix_spawn_file_actions_t fa;
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1}, wst = 0;
	size_t errlen = 0, off = 0;
	bool started = false, toobig = false, out_open = true, err_open = true;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (pipe2(pin, O_CLOEXEC) != 0 || pipe2(pout, O_CLOEXEC) != 0 || pipe2(perr, O_CLOEXEC) != 0)
		goto out;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pout[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, perr[1], STDERR_FILENO);
	started = posix_spawnp(&pid, "nft", &fa, NULL, args, environ) == 0;
	posix_spawn_file_actions_destroy(&fa);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	pin[0] = pout[1] = perr[1] = -1;
	if (!started)
		goto out;
	/* nft reads its whole input before it writes, but its output may be
	 * large: serve all three pipes until both outputs end. */
	if (in == NULL || inlen == 0) {
		close(pin[1]);
		pin[1] = -1;
	}
	while (out_open || err_open) {
		struct pollfd fds[3] = {{.fd = out_open ? pout[0] : -1, .events = POLLIN},
					{.fd = err_open ? perr[0] : -1, .events = POLLIN},
					{.fd = pin[1], .events = POLLOUT}};

		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
			ssize_t n = (fds[2].revents & POLLOUT) ? write(pin[1], in + off, inlen - off) : -1;

			if (n > 0)
				off += (size_t)n;
			if (n < 0 && errno != EINTR && errno != EAGAIN)
				off = inlen; /* nft went away: its status says why */
			if (off >= inlen) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
			out_open = nft_read(pout[0], true, r, &errlen, &toobig);
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
			err_open = nft_read(perr[0], false, r, &errlen, &toobig);
	}
	while (waitpid(pid, &wst, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(wst) && !toobig)
		r->status = WEXITSTATUS(wst);
out:
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	return started;
}

/* nft's first error line (it names file, line and column), for a one-line
 * message. */
static const char *nft_error_line(struct nft_run *r)
{
	char *line = strstr(r->err, "Error:");

	if (line == NULL)
		line = strstr(r->out != NULL ? r->out : "", "Error:");
	if (line == NULL)
		return r->status < 0 ? "nft was killed or its output too large" : "nft failed";
	line[strcspn(line, "\n")] = '\0';
	return line;
}

static int net_check(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	struct cli_common c = {0};
	char *args[] = {"nft", "-c", "-f", NULL, NULL};
	struct nft_run r;
	int opt, status = EXIT_REFUSED;

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
	if (!run_nft(args, NULL, 0, &r)) {
		fprintf(stderr, "fleetsec: %s: cannot run nft (install nftables)\n", argv[optind]);
		return EXIT_REFUSED;
	}
	if (r.status == 0) {
		status = 0;
		if (c.json)
			status = cli_print_json(
				json_pack("{s:s, s:b}", "ruleset", argv[optind], "valid", 1));
		else
			printf("%s: nft accepts the ruleset\n", argv[optind]);
	} else {
		fprintf(stderr, "fleetsec: %s: nft refuses the ruleset: %s\n", argv[optind],
			nft_error_line(&r));
	}
	free(r.out);
	return status;
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

/* ------------------------------------------------------------ net sync */

static volatile sig_atomic_t sync_stop;

static void sync_on_signal(int sig)
{
	(void)sig;
	sync_stop = 1;
}

struct sync_ctx {
	struct fsec_netsync *ns;
	struct fsec_registry *reg;
	enum fsec_err rc;
	int64_t seq;
	char (*ids)[FSEC_DEVID_MAX + 1]; /* devices the new events name */
	size_t nids, capids;
	bool found;
};

static int sync_event(const struct fsec_event_rec *e, void *arg)
{
	struct sync_ctx *x = arg;
	size_t i;

	x->seq = e->seq;
	if (x->ids == NULL || e->device_id[0] == '\0')
		return 0;
	for (i = 0; i < x->nids && strcmp(x->ids[i], e->device_id) != 0; i++)
		;
	if (i < x->nids)
		return 0;
	if (x->nids == x->capids) {
		size_t ncap = x->capids == 0 ? 16 : x->capids * 2;
		void *g = ncap > 1u << 20 ? NULL : realloc(x->ids, ncap * sizeof(*x->ids));

		if (g == NULL) {
			x->rc = FSEC_ERR_NOMEM;
			return 1;
		}
		x->ids = g;
		x->capids = ncap;
	}
	snprintf(x->ids[x->nids++], sizeof(*x->ids), "%s", e->device_id);
	return 0;
}

static int sync_device(const struct fsec_device_net *d, void *arg)
{
	struct sync_ctx *x = arg;
	struct fsec_netinput_device in = {
		.id = d->id, .model = d->model, .status = d->status, .mac = d->mac, .ip = d->ip,
		.tampered = d->tampered};

	x->found = true;
	x->rc = fsec_netsync_device(x->ns, &in, false);
	return x->rc != FSEC_OK;
}

/* Read the kernel's device maps into ns. Returns 0 or the exit status,
 * having printed the one-line reason. */
static int sync_read_kernel(struct fsec_netsync *ns)
{
	char *args[] = {"nft", "-j", "list", "table", "inet", "fleetsec", NULL};
	struct nft_run r;
	enum fsec_err rc;
	int status = EXIT_REFUSED;

	if (!run_nft(args, NULL, 0, &r)) {
		fputs("fleetsec: nft: cannot run nft (install nftables)\n", stderr);
		return EXIT_REFUSED;
	}
	if (r.status != 0) {
		if (strstr(r.err, "No such file or directory") != NULL)
			fputs("fleetsec: table inet fleetsec: not loaded (load the ruleset net compile "
			      "wrote with nft -f first)\n",
			      stderr);
		else
			fprintf(stderr, "fleetsec: table inet fleetsec: nft cannot list it: %s\n",
				nft_error_line(&r));
		goto out;
	}
	if ((rc = fsec_netsync_load(ns, r.out, r.outlen)) != FSEC_OK) {
		status = cli_fail("table inet fleetsec", rc);
		goto out;
	}
	status = 0;
out:
	free(r.out);
	return status;
}

/* Diff and apply one batch (or, dry, print it: as text, or into *batch for
 * --json). *st gets the counts. */
static int sync_apply(struct fsec_netsync *ns, bool dry, bool json, struct fsec_netsync_stats *st,
		      char **batch)
{
	char *args[] = {"nft", "-f", "-", NULL};
	char *script = NULL;
	size_t len = 0;
	struct nft_run r = {0};
	enum fsec_err rc;
	int status = EXIT_REFUSED;

	if ((rc = fsec_netsync_diff(ns, &script, &len, st)) != FSEC_OK) {
		status = cli_fail("table inet fleetsec", rc);
		goto out;
	}
	if (dry) {
		if (!json)
			fwrite(script, 1, len, stdout);
		else if (batch != NULL)
			*batch = script, script = NULL;
		status = 0;
		goto out;
	}
	if (len > 0) {
		if (!run_nft(args, script, len, &r)) {
			fputs("fleetsec: nft: cannot run nft (install nftables)\n", stderr);
			goto out;
		}
		if (r.status != 0) {
			fprintf(stderr, "fleetsec: table inet fleetsec: nft refused the change: %s\n",
				nft_error_line(&r));
			goto out;
		}
	}
	fsec_netsync_applied(ns);
	status = 0;
out:
	free(r.out);
	free(script);
	return status;
}

static void sync_line(json_t *j)
{
	if (j != NULL && json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0)
		putchar('\n');
	fflush(stdout);
	json_decref(j);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* CPU time used so far by this process and the children it waited for
 * (nft), in ms: on a shared machine the steadier measure of a change. */
static double cpu_ms(void)
{
	struct rusage self, kids;
	double ms = 0;

	if (getrusage(RUSAGE_SELF, &self) == 0 && getrusage(RUSAGE_CHILDREN, &kids) == 0)
		ms = (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
			      kids.ru_stime.tv_sec) * 1e3 +
		     (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
			      kids.ru_stime.tv_usec) / 1e3;
	return ms;
}

/* --follow: poll the event log every 200 ms; each new event names a device
 * whose addresses and status are read again and synced alone. */
static int sync_follow(struct sync_ctx *x, bool json)
{
	struct sigaction sa = {0};
	int status = 0;

	sa.sa_handler = sync_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!sync_stop && status == 0) {
		struct timespec nap = {0, 200 * 1000 * 1000}, t0;
		struct fsec_netsync_stats st;
		enum fsec_err rc;
		double c0;

		nanosleep(&nap, NULL);
		if (sync_stop)
			break;
		x->nids = 0;
		x->rc = FSEC_OK;
		if ((rc = fsec_registry_event_list_after(x->reg, x->seq, sync_event, x)) == FSEC_OK)
			rc = x->rc;
		if (rc != FSEC_OK)
			return cli_fail("registry", rc);
		if (x->nids == 0)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		c0 = cpu_ms();
		for (size_t i = 0; i < x->nids && rc == FSEC_OK; i++) {
			struct fsec_netinput_device gone = {.id = x->ids[i]};

			x->found = false;
			rc = fsec_registry_device_net_one(x->reg, x->ids[i], sync_device, x);
			if (rc == FSEC_OK)
				rc = x->rc;
			if (rc == FSEC_OK && !x->found)
				rc = fsec_netsync_device(x->ns, &gone, true);
		}
		if (rc != FSEC_OK)
			return cli_fail("registry", rc);
		/* nft refusing the batch means the kernel is not what sync thinks
		 * (someone changed the maps): read it again and compare it all,
		 * once, before giving up. */
		if (sync_apply(x->ns, false, json, &st, NULL) != 0) {
			fputs("fleetsec: warning: reading table inet fleetsec again\n", stderr);
			if ((status = sync_read_kernel(x->ns)) != 0 ||
			    (status = sync_apply(x->ns, false, json, &st, NULL)) != 0)
				break;
		}
		if (json) {
			json_t *ids = json_array();

			for (size_t i = 0; i < x->nids; i++)
				json_array_append_new(ids, json_string(x->ids[i]));
			sync_line(json_pack("{s:I, s:o, s:I, s:I, s:f, s:f}", "seq", (json_int_t)x->seq,
					    "devices", ids, "deleted", (json_int_t)st.deleted, "added",
					    (json_int_t)st.added, "applied_ms", ms_since(&t0), "cpu_ms",
					    cpu_ms() - c0));
		} else {
			printf("event %lld: %zu device(s), %zu element(s) deleted, %zu added "
			       "(%.1f ms)\n",
			       (long long)x->seq, x->nids, st.deleted, st.added, ms_since(&t0));
			fflush(stdout);
		}
	}
	return status;
}

static int net_sync(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		BUILD_LONGOPTS,
		{"follow", no_argument, NULL, 'f'},
		{"dry-run", no_argument, NULL, 'n'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct build_opts b = {0};
	struct sync_ctx x = {0};
	struct fsec_netpolicy *p = NULL;
	struct fsec_fleet *f = NULL;
	struct fsec_netsync_stats st;
	char *batch = NULL;
	bool follow = false, dry = false;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &b.c, &status)) > 0) {
		if (build_opt(opt, &b))
			continue;
		if (opt == 'f')
			follow = true;
		else if (opt == 'n')
			dry = true;
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one POLICY.json");
	if (follow && dry)
		return cli_usage_error(self, "--dry-run prints one batch: it goes without --follow");
	if (b.o.fleetsecd != NULL)
		return cli_usage_error(self, "--fleetsecd goes to net compile: the loaded ruleset "
					     "holds it");
	/* The event log's position first: a change made while the policy is
	 * being built is then seen again, never missed. */
	if ((rc = fsec_fleet_open(cli_home(&b.c), &f)) != FSEC_OK)
		return cli_fail(cli_home(&b.c), rc);
	x.reg = fsec_fleet_get_registry(f);
	if ((rc = fsec_registry_event_list_after(x.reg, 0, sync_event, &x)) != FSEC_OK) {
		status = cli_fail("registry", rc);
		goto out;
	}
	b.from_registry = true;
	if ((status = build_policy(argv[optind], &b, &p)) != 0)
		goto out;
	print_warnings(p);
	status = EXIT_REFUSED;
	if ((rc = fsec_netsync_new(p, &x.ns)) != FSEC_OK) {
		status = cli_fail(argv[optind], rc);
		goto out;
	}
	if ((status = sync_read_kernel(x.ns)) != 0 ||
	    (status = sync_apply(x.ns, dry, b.c.json, &st, &batch)) != 0)
		goto out;
	if (b.c.json) {
		json_t *j = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "dry_run", dry, "seq",
				      (json_int_t)x.seq, "devices", (json_int_t)st.devices,
				      "quarantined", (json_int_t)st.quarantined, "deleted",
				      (json_int_t)st.deleted, "added", (json_int_t)st.added);

		if (j != NULL && batch != NULL)
			json_object_set_new(j, "batch", json_string(batch));
		sync_line(j);
	} else
		fprintf(dry ? stderr : stdout,
			"%s: %zu device(s), %zu quarantined: %zu element(s) %sdeleted, %zu %sadded\n",
			dry ? "dry run" : "synced", st.devices, st.quarantined, st.deleted,
			dry ? "to be " : "", st.added, dry ? "to be " : "");
	fflush(stdout);
	if (follow) {
		/* From now on only the devices new events name are read. */
		x.capids = 0;
		x.ids = NULL;
		if ((x.ids = malloc(16 * sizeof(*x.ids))) == NULL) {
			status = cli_fail("net sync", FSEC_ERR_NOMEM);
			goto out;
		}
		x.capids = 16;
		status = sync_follow(&x, b.c.json);
	}
out:
	free(batch);
	free(x.ids);
	fsec_netsync_free(x.ns);
	fsec_netpolicy_free(p);
	fsec_fleet_free(f);
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
	{"net", "sync", net_sync, "keep a loaded ruleset's devices in step with the registry",
	 "POLICY.json [--follow] [--dry-run] [--json] [--mud-dir DIR] [--mud-signer CERT]\n"
	 "       [--skip-invalid] [--resolve]\n\n"
	 "Bring the device maps of the loaded table inet fleetsec in step with the policy's\n"
	 "devices and the registry's (as net compile --from-registry would place them:\n"
	 "active devices in their model's class, revoked ones in the quarantine class,\n"
	 "which reaches only the fleetsecd the ruleset was compiled with), by adding\n"
	 "and deleting map elements in one nft batch: the table is never reloaded. What\n"
	 "the kernel holds is read with nft -j list, so a restarted sync is correct.\n"
	 "The loaded table must have been compiled from the same POLICY.json. Needs nft\n"
	 "and CAP_NET_ADMIN.\n\n"
	 "  --follow    then poll the registry's event log every 200 ms and sync each\n"
	 "              device a new event names; ends on SIGTERM or SIGINT (exit 0)\n"
	 "  --dry-run   print the nft batch instead of applying it (not with --follow;\n"
	 "              with --json, as \"batch\")\n"
	 "  --json      one JSON object per line: the sync, then each followed change\n"
	 "              (seq, devices, deleted, added, applied_ms, and cpu_ms: the CPU\n"
	 "              time of sync and nft for it)\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
