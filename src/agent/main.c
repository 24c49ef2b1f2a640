/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsec-agent: the device side of signed updates. Parses arguments,
 * calls libfleetsec, prints. Exit status: 0 success, 1 refused or failed,
 * 2 usage.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>

#include <jansson.h>

#include "fleetsec/agent.h"
#include "fleetsec/agentcfg.h"
#include "fleetsec/csr.h"
#include "fleetsec/estc.h"
#include "fleetsec/key.h"
#include "fleetsec/fileio.h"
#include "fleetsec/tamper.h"
#include "fleetsec/tpm.h"

#define DEFAULT_CONFIG "/etc/fleetsec/agent.conf"

static const char usage_text[] =
	"usage: fleetsec-agent [-c CONFIG] <command> [--json] [--force] [--interval S]\n"
	"                      [--subject CN]\n\n"
	"commands:\n"
	"  keygen    make the device key (in the TPM when tcti is set) at the key path\n"
	"  csr       print a CSR signed by the device key (--subject CN)\n"
	"  enroll    zero-touch enrollment (EST): generate the device key, get its\n"
	"            certificate from the server with the factory bootstrap credential\n"
	"  renew     renew the device certificate (EST simplereenroll, new key) once\n"
	"            two thirds of its lifetime have passed; --force: now\n"
	"  daemon    renew when due and install updates every --interval seconds\n"
	"            (default 3600, jittered), until SIGTERM\n"
	"  report    tell the server what runs here and how the last update went\n"
	"  check     fetch and verify the release manifest; say whether an update applies\n"
	"  update    download the update into the inactive slot (resumable), verify it,\n"
	"            and request a trial boot\n"
	"  confirm   after a healthy reboot: make the trial slot permanent and raise the\n"
	"            anti-rollback counter\n"
	"  status    active slot, pending trial, versions, counter, download progress\n"
	"  tamper    the tamper switch's hook: destroy the device's keys (wipe files,\n"
	"            evict TPM keys), record the event; the device stays refused\n"
	"            until it is re-provisioned (keygen or enroll)\n\n"
	"  -c, --config FILE   configuration (default " DEFAULT_CONFIG ")\n"
	"  --json              machine-readable output\n";

static bool progress_open; /* a progress line without its newline */

static int fail(const char *what, enum fsec_err rc)
{
	const char *why = fsec_err_detail();

	if (progress_open)
		fputc('\n', stderr);
	fprintf(stderr, "fleetsec-agent: %s: %s\n", what, why[0] != '\0' ? why : fsec_strerror(rc));
	return 1;
}

static void progress(uint64_t done, uint64_t total, void *ctx)
{
	bool *tty = ctx;

	if (*tty)
		fprintf(stderr, "\rdownloading: %llu / %llu bytes (%llu%%)", (unsigned long long)done,
			(unsigned long long)total,
			total != 0 ? (unsigned long long)(done * 100 / total) : 100ULL);
	progress_open = *tty && done != total;
	if (*tty && done == total)
		fputc('\n', stderr);
}

/* Print j (a new reference, which this takes) as one line; paths in it may
 * hold any bytes, so they go through the JSON encoder. */
static void print_json(json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_PRESERVE_ORDER) : NULL;

	puts(s != NULL ? s : "{}");
	free(s);
	json_decref(j);
}

static void print_check(const struct fsec_agent_check *c, bool json)
{
	char v[32];

	fsec_fw_version_str(&c->version, v, sizeof(v));
	if (json)
		print_json(json_pack("{s:b, s:s, s:s, s:I, s:I, s:I, s:I}", "applies", (int)c->applies,
				     "reason", c->reason, "version", v, "security_counter",
				     (json_int_t)c->security_counter, "size", (json_int_t)c->size,
				     "sequence", (json_int_t)c->sequence, "delegation_sequence",
				     (json_int_t)c->delegation));
	else
		printf("%s\n", c->reason);
}

static void print_update(const struct fsec_agent_check *c, bool started, bool json)
{
	if (json)
		print_json(json_pack("{s:b, s:s}", "installed", (int)started, "reason", c->reason));
	else if (started)
		printf("installed into the inactive slot; reboot to try it, then run "
		       "'fleetsec-agent confirm'\n");
	else
		printf("%s\n", c->reason);
	fflush(stdout);
}

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Sleep about secs (plus or minus a tenth, so that a fleet started together
 * drifts apart), waking early on SIGTERM/SIGINT. */
static void nap(unsigned long secs)
{
	unsigned char r = 0;
	struct timespec ts;
	unsigned long span = secs / 5 + 1;

	if (RAND_bytes(&r, 1) != 1)
		r = 128;
	ts.tv_sec = (time_t)(secs - secs / 10 + (unsigned long)r * span / 256);
	ts.tv_nsec = 0;
	while (!stopping && nanosleep(&ts, &ts) != 0)
		;
}

/*
 * daemon: renew the certificate when due and install updates, every
 * interval, until SIGTERM. Failures are reported and retried at the next
 * round: a daemon that exits on a network hiccup strands nobody, but one that
 * stops trying would.
 */
static int run_daemon(const struct fsec_agentcfg *cfg, unsigned long interval, bool json)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fprintf(stderr, "fleetsec-agent: daemon: every %lu s\n", interval);
	while (!stopping) {
		struct fsec_estc_opts o = {.server = cfg->server, .ca = cfg->ca,
					   .key_out = cfg->key, .cert_out = cfg->cert};
		struct fsec_agent_check c = {0};
		struct fsec_estc_renewal r;
		struct fsec_agent *a = NULL;
		bool started = false, tty = false;
		enum fsec_err rc;

		if ((rc = fsec_estc_renew(&o, false, &r)) != FSEC_OK)
			fail("renew", rc);
		else if (r.renewed)
			printf("renewed the certificate of %s\n", r.id);
		/* A new agent each round: a renewal replaced the key it holds. */
		if ((rc = fsec_agent_new(cfg, &a)) != FSEC_OK ||
		    (rc = fsec_agent_update(a, NULL, &tty, &c, &started)) != FSEC_OK)
			fail("update", rc);
		else
			print_update(&c, started, json);
		if (a != NULL && (rc = fsec_agent_report(a, NULL)) != FSEC_OK)
			fail("report", rc);
		fsec_agent_free(a);
		if (!stopping)
			nap(interval);
	}
	fputs("fleetsec-agent: daemon: stopping\n", stderr);
	return 0;
}

/* keygen: the device key, made where the keystore keeps keys, written
 * (0600, never over an existing key) to the configured key path. */
static int keygen(const struct fsec_agentcfg *cfg, bool json)
{
	EVP_PKEY *key = NULL;
	enum fsec_err rc;

	if ((rc = fsec_key_generate(FSEC_KEY_P256, &key)) == FSEC_OK &&
	    (rc = fsec_key_save_private(key, cfg->key)) == FSEC_OK)
		rc = fsec_tamper_clear(cfg->state_dir); /* a new identity begins */
	EVP_PKEY_free(key);
	if (rc != FSEC_OK)
		return fail("keygen", rc);
	if (json)
		print_json(json_pack("{s:s, s:b}", "key", cfg->key, "tpm", cfg->tcti[0] != '\0'));
	else
		printf("device key %s written to %s\n",
		       cfg->tcti[0] != '\0' ? "made in the TPM, its blob" : "made and", cfg->key);
	return 0;
}

/* csr: a request signed by the device key, where the key is. */
static int csr(const struct fsec_agentcfg *cfg, const char *subject)
{
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	enum fsec_err rc;
	int status = 1;

	if ((rc = fsec_key_load_private(cfg->key, &key)) != FSEC_OK ||
	    (rc = fsec_csr_make(key, NULL, subject, &req)) != FSEC_OK)
		status = fail("csr", rc);
	else if (PEM_write_X509_REQ(stdout, req) == 1)
		status = 0;
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return status;
}

/* tamper: the case-open hook. Destroys the secrets, records the event. */
static int tamper(const struct fsec_agentcfg *cfg, bool json)
{
	struct fsec_tamper_result r;
	enum fsec_err rc = fsec_tamper_wipe(cfg, &r);

	if (json) {
		json_t *items = json_array();

		for (unsigned i = 0; items != NULL && i < r.nwiped; i++)
			json_array_append_new(items, json_string(r.wiped[i]));
		print_json(json_pack("{s:b, s:s, s:o, s:i}", "wiped", rc == FSEC_OK, "record",
				     r.record, "items", items, "earlier", (int)r.nearlier));
	} else {
		for (unsigned i = 0; i < r.nwiped; i++)
			printf("%s%s\n", r.wiped[i], i < r.nearlier ? " (by an earlier run)" : "");
		if (rc == FSEC_OK)
			printf("device wiped; event recorded in %s; re-provision it to use it again\n",
			       r.record);
	}
	return rc == FSEC_OK ? 0 : fail("tamper", rc);
}

static int enroll(const struct fsec_agentcfg *cfg, bool json)
{
	struct fsec_estc_opts o = {.server = cfg->server, .ca = cfg->ca,
				   .bootstrap_cert = cfg->bootstrap_cert,
				   .bootstrap_key = cfg->bootstrap_key, .key_out = cfg->key,
				   .cert_out = cfg->cert};
	char id[FSEC_DEVID_MAX + 1];
	enum fsec_err rc;

	if (cfg->bootstrap_cert[0] == '\0' || cfg->bootstrap_key[0] == '\0') {
		fputs("fleetsec-agent: enroll: the configuration needs bootstrap_cert and "
		      "bootstrap_key\n",
		      stderr);
		return 1;
	}
	if ((rc = fsec_estc_enroll(&o, id)) != FSEC_OK ||
	    (rc = fsec_tamper_clear(cfg->state_dir)) != FSEC_OK)
		return fail("enroll", rc);
	if (json)
		print_json(json_pack("{s:b, s:s, s:s}", "enrolled", 1, "id", id, "cert", cfg->cert));
	else
		printf("enrolled as %s: certificate %s, key %s\n", id, cfg->cert, cfg->key);
	return 0;
}

static int renew(const struct fsec_agentcfg *cfg, bool force, bool json)
{
	struct fsec_estc_opts o = {.server = cfg->server, .ca = cfg->ca, .key_out = cfg->key,
				   .cert_out = cfg->cert};
	struct fsec_estc_renewal r;
	char due[32], exp[32];
	enum fsec_err rc;

	if ((rc = fsec_estc_renew(&o, force, &r)) != FSEC_OK)
		return fail("renew", rc);
	strftime(due, sizeof(due), "%Y-%m-%dT%H:%M:%SZ", gmtime(&(time_t){(time_t)r.due}));
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&(time_t){(time_t)r.expires}));
	if (json)
		print_json(json_pack("{s:b, s:s, s:s, s:s}", "renewed", (int)r.renewed, "id", r.id,
				     "due", due, "expires", exp));
	else if (r.renewed)
		printf("renewed the certificate of %s (the old one expires %s)\n", r.id, exp);
	else
		printf("not due: %s's certificate renews from %s (expires %s)\n", r.id, due, exp);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'J'},
		{"force", no_argument, NULL, 'f'},
		{"interval", required_argument, NULL, 'i'},
		{"subject", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = DEFAULT_CONFIG, *cmd, *subject = "fleetsec-device";
	struct fsec_agentcfg cfg;
	struct fsec_agent *a = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	bool json = false, force = false, tty = isatty(STDERR_FILENO);
	unsigned long interval = 3600;
	enum fsec_err rc;
	int opt, status = 1;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'J': json = true; break;
		case 'f': force = true; break;
		case 's': subject = optarg; break;
		case 'i':
			if (!fsec_parse_ulong(optarg, 1, 7UL * 86400, &interval)) {
				fprintf(stderr, "fleetsec-agent: --interval %s: 1 to 604800 seconds\n",
					optarg);
				return 2;
			}
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (optind + 1 != argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "check") != 0 && strcmp(cmd, "update") != 0 &&
	    strcmp(cmd, "confirm") != 0 && strcmp(cmd, "status") != 0 &&
	    strcmp(cmd, "enroll") != 0 && strcmp(cmd, "renew") != 0 && strcmp(cmd, "daemon") != 0 &&
	    strcmp(cmd, "report") != 0 && strcmp(cmd, "keygen") != 0 && strcmp(cmd, "csr") != 0 &&
	    strcmp(cmd, "tamper") != 0) {
		fprintf(stderr, "fleetsec-agent: unknown command '%s' (see --help)\n", cmd);
		return 2;
	}
	rc = fsec_file_read(config, FSEC_AGENTCFG_MAX, &buf, &len);
	if (rc == FSEC_OK)
		rc = fsec_agentcfg_parse(buf, len, &cfg);
	free(buf);
	if (rc != FSEC_OK)
		return fail(config, rc);
	/* The tamper hook first, with nothing that could stop it: it reaches
	 * the TPM (to evict) on its own, and wipes files even without one. */
	if ((rc = fsec_tpm_configure(cfg.tcti, cfg.tpm_owner_auth)) != FSEC_OK &&
	    strcmp(cmd, "tamper") != 0)
		return fail("tpm", rc);
	if (strcmp(cmd, "tamper") == 0)
		return tamper(&cfg, json);
	if ((rc = fsec_tamper_finish(&cfg)) != FSEC_OK)
		return fail("tamper", rc);
	/* The keystore next: every key below is made or loaded through it. */
	if (cfg.tcti[0] != '\0' && (rc = fsec_keystore_use_tpm(cfg.tcti, cfg.tpm_parent)) != FSEC_OK)
		return fail("tcti", rc);
	/* Re-provisioning (keygen, csr, enroll) is what a wiped device may do. */
	if (strcmp(cmd, "keygen") == 0)
		return keygen(&cfg, json);
	if (strcmp(cmd, "csr") == 0)
		return csr(&cfg, subject);
	if (strcmp(cmd, "enroll") != 0 && (rc = fsec_tamper_check(cfg.state_dir)) != FSEC_OK)
		return fail(cmd, rc);
	/* An enrollment or renewal cut between its writes is finished first:
	 * everything below uses the device's key and certificate. */
	if ((rc = fsec_estc_finish(cfg.key, cfg.cert)) != FSEC_OK)
		return fail("key", rc);
	/* Before fsec_agent_new: that loads the device key, which enroll makes. */
	if (strcmp(cmd, "enroll") == 0)
		return enroll(&cfg, json);
	if (strcmp(cmd, "renew") == 0)
		return renew(&cfg, force, json);
	if (strcmp(cmd, "daemon") == 0)
		return run_daemon(&cfg, interval, json);
	if ((rc = fsec_agent_new(&cfg, &a)) != FSEC_OK)
		return fail(config, rc);

	if (strcmp(cmd, "check") == 0) {
		struct fsec_agent_check c;

		if ((rc = fsec_agent_check(a, &c)) != FSEC_OK)
			goto failed;
		print_check(&c, json);
	} else if (strcmp(cmd, "update") == 0) {
		struct fsec_agent_check c = {0};
		bool started = false;

		if ((rc = fsec_agent_update(a, progress, &tty, &c, &started)) != FSEC_OK)
			goto failed;
		print_update(&c, started, json);
	} else if (strcmp(cmd, "confirm") == 0) {
		if ((rc = fsec_agent_confirm(a)) != FSEC_OK)
			goto failed;
		/* Best effort: the device is confirmed whether or not the server
		 * hears of it now; the daemon's next report tells it. */
		if (fsec_agent_report(a, "confirmed") != FSEC_OK)
			fprintf(stderr, "fleetsec-agent: report: %s\n", fsec_err_detail());
		if (json)
			print_json(json_pack("{s:b}", "confirmed", 1));
		else
			puts("confirmed: the running slot is now permanent");
	} else if (strcmp(cmd, "report") == 0) {
		if ((rc = fsec_agent_report(a, NULL)) != FSEC_OK)
			goto failed;
		if (json)
			print_json(json_pack("{s:b}", "reported", 1));
		else
			puts("reported to the server");
	} else {
		struct fsec_agent_status s;
		char v[32];

		if ((rc = fsec_agent_status(a, &s)) != FSEC_OK)
			goto failed;
		fsec_fw_version_str(&s.active_version, v, sizeof(v));
		if (json)
			print_json(json_pack("{s:s%, s:b, s:b, s:s, s:I, s:I, s:I, s:I, s:b, s:I}",
					     "active_slot", &s.active_slot, (size_t)1, "trial",
					     (int)s.trial, "active_valid", (int)s.active_valid,
					     "version", v, "security_counter",
					     (json_int_t)s.active_security_counter, "counter",
					     (json_int_t)s.counter, "last_sequence",
					     (json_int_t)s.last_sequence, "last_delegation",
					     (json_int_t)s.last_delegation, "downloading",
					     (int)s.downloading, "download_done",
					     (json_int_t)s.download_done));
		else
			printf("active slot   %c%s\nimage         %s\ncounter       %u\n"
			       "sequence      %llu (delegation %llu)\ndownload      %s\n",
			       s.active_slot, s.trial ? " (trial boot, not confirmed)" : "",
			       s.active_valid ? v : "no valid image", s.counter,
			       (unsigned long long)s.last_sequence, (unsigned long long)s.last_delegation,
			       s.downloading ? "in progress" : "none");
	}
	status = 0;
	goto out;
failed:
	status = fail(cmd, rc);
out:
	fsec_agent_free(a);
	return status;
}
