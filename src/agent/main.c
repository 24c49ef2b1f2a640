/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsec-agent: the device side of signed updates. Parses arguments,
 * calls libfleetsec, prints. The order of what runs before a command and
 * the daemon's round are the library's (agentrun.h); each command here is a
 * row of the table below. Exit status: 0 success, 1 refused or failed,
 * 2 usage, 3 frozen (check and update: no fresh signed answer from the
 * server for longer than max_silence).
 */
#include <getopt.h>
#include <poll.h>
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
#include "fleetsec/agentrun.h"
#include "fleetsec/cmdline.h"
#include "fleetsec/csr.h"
#include "fleetsec/key.h"
#include "fleetsec/names.h"
#include "fleetsec/pairing.h"
#include "fleetsec/release.h"

#define DEFAULT_CONFIG "/etc/fleetsec/agent.conf"

/* What a command gets: the loaded configuration and the options. */
struct ctx {
	const struct fsec_agentcfg *cfg;
	const char *config; /* its path, for messages */
	const char *name;   /* the command's name */
	const char *subject;
	const char *reason; /* tamper: what the report to the server says */
	const char *serial, *png, *svg; /* pair */
	unsigned long interval;
	bool json, force, tty;
	bool once; /* daemon: one round, then exit with its status */
};

static bool progress_open; /* a progress line without its newline */

static int fail(const char *what, enum fsec_err rc)
{
	const char *why = fsec_err_detail();

	if (progress_open)
		fputc('\n', stderr);
	fprintf(stderr, "fleetsec-agent: %s: %s\n", what, why[0] != '\0' ? why : fsec_strerror(rc));
	return FSEC_EXIT_REFUSED;
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
		printf("installed into the inactive slot; it runs after a reboot, and is kept "
		       "once confirmed (the daemon, or 'fleetsec-agent confirm')\n");
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
/* Sleep secs, or until SIGTERM or SIGINT. The signals are blocked from the
 * check of stopping until ppoll unblocks them atomically: one that came
 * between the check and a plain nanosleep was lost, and the daemon slept on
 * for its whole interval (found by the three-year simulation). */
static void sleep_unless_stopped(unsigned long secs)
{
	struct timespec ts = {.tv_sec = (time_t)secs};
	sigset_t stop, old;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, &old);
	if (!stopping)
		(void)ppoll(NULL, 0, &ts, &old); /* a signal (EINTR) or the time */
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void nap(unsigned long secs)
{
	unsigned char r = 0;
	unsigned long span = secs / 5 + 1;

	if (RAND_bytes(&r, 1) != 1)
		r = 128;
	sleep_unless_stopped(secs - secs / 10 + (unsigned long)r * span / 256);
}

static void catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* Frozen: the one line says since when, and the exit status is its own,
 * whatever the check said, so that a supervisor can tell. */
static int frozen_status(const struct fsec_agent_status *s, int status)
{
	char when[FSEC_TIME_LEN];

	if (!s->frozen)
		return status;
	if (s->fresh_at > 0)
		fprintf(stderr, "fleetsec-agent: frozen: no fresh signed answer from the update "
				"server since %s (max_silence)\n",
			fsec_time_format(s->fresh_at, when));
	else
		fputs("fleetsec-agent: frozen: never a fresh signed answer from the update server "
		      "(max_silence)\n",
		      stderr);
	return FSEC_EXIT_FROZEN;
}

static void fail_round(const char *what, enum fsec_err rc, const char *why)
{
	fprintf(stderr, "fleetsec-agent: %s: %s\n", what, why[0] != '\0' ? why : fsec_strerror(rc));
}

/*
 * daemon: the library's round (renew when due, update, report) every
 * interval, until SIGTERM. Failures are printed and retried at the next
 * round. With --once, one round and its status: 0 when every step of it
 * succeeded, 1 when one failed, 3 when the device is frozen (a supervisor
 * or a test that owns the clock runs the rounds itself).
 */
static int cmd_daemon(const struct ctx *x)
{
	int status = FSEC_EXIT_OK;

	catch_stop();
	if (!x->once)
		fprintf(stderr, "fleetsec-agent: daemon: every %lu s\n", x->interval);
	while (!stopping) {
		struct fsec_agent_round r;

		status = FSEC_EXIT_OK;
		fsec_agent_round(x->cfg, &r);
		if (r.renew_rc != FSEC_OK)
			fail_round("renew", r.renew_rc, r.renew_error);
		else if (r.renewal.reenrolled)
			printf("re-enrolled %s with its bootstrap credential\n", r.renewal.id);
		else if (r.renewal.renewed)
			printf("renewed the certificate of %s\n", r.renewal.id);
		if (r.trust_rc != FSEC_OK)
			fail_round("trust", r.trust_rc, r.trust_error);
		else if (r.trust.learned > 0)
			printf("learned the fleet root %s (SHA-256 %s)\n", r.trust.subject,
			       r.trust.sha256);
		if (r.enc_key_rc != FSEC_OK)
			fail_round("enc-key", r.enc_key_rc, r.enc_key_error);
		else if (r.enc_key_sent)
			puts("sent the firmware encryption key");
		if (r.trial_rc != FSEC_OK)
			fail_round("confirm", r.trial_rc, r.trial_error);
		else if (r.confirmed)
			puts("confirmed the trial: the running slot is now permanent");
		else if (r.rejected)
			printf("rejected the trial (%s): the previous slot boots next\n",
			       r.trial_error);
		if (r.update_rc != FSEC_OK)
			fail_round("update", r.update_rc, r.update_error);
		else if (!r.rejected)
			print_update(&r.check, r.started, x->json);
		if (r.report_tried && r.report_rc != FSEC_OK)
			fail_round("report", r.report_rc, r.report_error);
		if (r.reboot_tried && r.reboot_rc != FSEC_OK)
			fail_round("reboot", r.reboot_rc, r.reboot_error);
		else if (r.reboot_tried)
			puts("reboot_cmd ran");
		if (r.renew_rc != FSEC_OK || r.trust_rc != FSEC_OK || r.enc_key_rc != FSEC_OK ||
		    r.trial_rc != FSEC_OK ||
		    r.update_rc != FSEC_OK || (r.report_tried && r.report_rc != FSEC_OK) ||
		    (r.reboot_tried && r.reboot_rc != FSEC_OK))
			status = FSEC_EXIT_REFUSED;
		if (r.frozen) {
			struct fsec_agent_status s = {.frozen = true, .fresh_at = r.fresh_at};

			status = frozen_status(&s, status);
		}
		fflush(stdout);
		if (x->once)
			return status;
		if (!stopping)
			nap(x->interval);
	}
	fputs("fleetsec-agent: daemon: stopping\n", stderr);
	return 0;
}

static int cmd_keygen(const struct ctx *x)
{
	const char *key = fsec_agentcfg_get_key(x->cfg);
	bool tpm = fsec_agentcfg_get_tcti(x->cfg)[0] != '\0';
	enum fsec_err rc = fsec_agent_keygen(x->cfg);

	if (rc != FSEC_OK)
		return fail("keygen", rc);
	if (x->json)
		print_json(json_pack("{s:s, s:b}", "key", key, "tpm", tpm));
	else
		printf("device key %s written to %s\n", tpm ? "made in the TPM, its blob" : "made and",
		       key);
	return 0;
}

/* csr: a request signed by the device key, where the key is. */
static int cmd_csr(const struct ctx *x)
{
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	enum fsec_err rc;
	int status = 1;

	if ((rc = fsec_key_load_private(fsec_agentcfg_get_key(x->cfg), &key)) != FSEC_OK ||
	    (rc = fsec_csr_make(key, NULL, x->subject, &req)) != FSEC_OK)
		status = fail("csr", rc);
	else if (PEM_write_X509_REQ(stdout, req) == 1)
		status = 0;
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return status;
}

/* tamper: the case-open hook. Destroys the secrets, records the event. */
static int cmd_tamper(const struct ctx *x)
{
	struct fsec_tamper_result r;
	const char *reason = x->reason;
	enum fsec_err rc;

	/* A hook with a bad --reason must still wipe and report: with the
	 * default reason, and a warning for whoever tests the hook. */
	if (reason != NULL && !fsec_tamper_statement_reason_valid(reason)) {
		fprintf(stderr, "fleetsec-agent: tamper: --reason is not 1-%d printable ASCII "
				"characters; reporting \"%s\"\n",
			FSEC_TAMPER_STATEMENT_REASON_MAX, FSEC_AGENT_TAMPER_REASON);
		reason = NULL;
	}
	rc = fsec_agent_tamper(x->cfg, reason, &r);

	if (x->json) {
		json_t *items = json_array();

		for (unsigned i = 0; items != NULL && i < r.nwiped; i++)
			json_array_append_new(items, json_string(r.wiped[i]));
		print_json(json_pack("{s:b, s:s, s:o, s:i, s:s, s:s}", "wiped", rc == FSEC_OK,
				     "record", r.record, "items", items, "earlier", (int)r.nearlier,
				     "report", r.report, "report_detail", r.report_detail));
	} else {
		/* The report first: it was made first, before anything went. */
		if (r.report[0] != '\0')
			printf("report to fleetsecd: %s (%s)\n", r.report, r.report_detail);
		for (unsigned i = 0; i < r.nwiped; i++)
			printf("%s%s\n", r.wiped[i], i < r.nearlier ? " (by an earlier run)" : "");
		if (rc == FSEC_OK)
			printf("device wiped; event recorded in %s; re-provision it to use it again\n",
			       r.record);
	}
	return rc == FSEC_OK ? 0 : fail("tamper", rc);
}

/* An enrollment held for the operator's approval: say which key to
 * approve, then wait as the server asked. */
static bool wait_for_approval(unsigned seconds, const char *key_sha256, void *arg)
{
	const struct ctx *x = arg;

	if (x->json)
		print_json(json_pack("{s:b, s:s, s:I}", "waiting", 1, "key_sha256", key_sha256,
				     "retry_in", (json_int_t)seconds));
	else
		fprintf(stderr, "fleetsec-agent: enroll: waiting for the operator's approval of key "
				"SHA-256 %s; asking again in %u s\n", key_sha256, seconds);
	fflush(stdout);
	sleep_unless_stopped(seconds);
	return !stopping;
}

static int cmd_enroll(const struct ctx *x)
{
	char id[FSEC_DEVID_MAX + 1];
	enum fsec_err rc;

	catch_stop();
	char why[FSEC_AGENT_ROUND_ERROR_MAX] = "";
	bool sent = false;

	rc = fsec_agent_enroll(x->cfg, id, wait_for_approval, (void *)x);

	if (rc != FSEC_OK)
		return fail("enroll", rc);
	/* The encryption key goes with the enrollment. Its failure does not
	 * undo the enrollment, which stands; the daemon sends the key again
	 * at each round until fleetsecd takes it. */
	if (fsec_agent_enc_key_sync(x->cfg, &sent) != FSEC_OK) {
		snprintf(why, sizeof(why), "%s", fsec_err_detail());
		fprintf(stderr, "fleetsec-agent: enroll: enrolled as %s, but the firmware encryption "
				"key was not sent: %s (the daemon sends it again)\n",
			id, why);
	}
	if (x->json)
		print_json(json_pack("{s:b, s:s, s:s, s:s}", "enrolled", 1, "id", id, "cert",
				     fsec_agentcfg_get_cert(x->cfg), "enc_key",
				     sent ? "sent" : why[0] != '\0' ? "failed" : "none"));
	else
		printf("enrolled as %s: certificate %s, key %s%s\n", id,
		       fsec_agentcfg_get_cert(x->cfg), fsec_agentcfg_get_key(x->cfg),
		       sent ? "; firmware encryption key sent" : "");
	return 0;
}

static int cmd_renew(const struct ctx *x)
{
	struct fsec_estc_renewal r;
	char due[32], exp[32];
	enum fsec_err rc;

	if ((rc = fsec_agent_renew(x->cfg, x->force, &r)) != FSEC_OK)
		return fail("renew", rc);
	fsec_time_format(r.due, due);
	fsec_time_format(r.expires, exp);
	if (x->json)
		print_json(json_pack("{s:b, s:b, s:s, s:s, s:s}", "renewed", (int)r.renewed,
				     "reenrolled", (int)r.reenrolled, "id", r.id, "due", due,
				     "expires", exp));
	else if (r.reenrolled)
		printf("re-enrolled %s with its bootstrap credential (the old certificate "
		       "expired %s)\n", r.id, exp);
	else if (r.renewed)
		printf("renewed the certificate of %s (the old one expires %s)\n", r.id, exp);
	else
		printf("not due: %s's certificate renews from %s (expires %s)\n", r.id, due, exp);
	return 0;
}

static int cmd_trust(const struct ctx *x)
{
	struct fsec_estc_trust t;
	enum fsec_err rc;

	if ((rc = fsec_agent_learn_roots(x->cfg, &t)) != FSEC_OK)
		return fail("trust", rc);
	if (x->json)
		print_json(json_pack("{s:i, s:i, s:s, s:s}", "offered", (int)t.offered, "learned",
				     (int)t.learned, "subject", t.subject, "sha256", t.sha256));
	else if (t.learned > 0)
		printf("learned the fleet root %s (SHA-256 %s), cross-signed by a root this "
		       "device trusts\n", t.subject, t.sha256);
	else
		printf("no new fleet root (%u offered, all trusted already or not vouched for)\n",
		       t.offered);
	return 0;
}

/* pair: the pairing code (issue 18), as a QR code on the terminal, in
 * files for a label, and as text. */
static int cmd_pair(const struct ctx *x)
{
	char host[FSEC_DEVID_MAX + 2] = "";
	struct fsec_agent_pairing p;
	struct fsec_qr_info qi = {0};
	const char *serial = x->serial;
	enum fsec_err rc;

	/* The hostname names a device that was given no serial. */
	if (serial == NULL) {
		if (gethostname(host, sizeof(host)) != 0 || memchr(host, '\0', sizeof(host)) == NULL ||
		    !fsec_devid_valid(host)) {
			fputs("fleetsec-agent: pair: give --serial ID (the hostname is not a device "
			      "ID)\n", stderr);
			return FSEC_EXIT_USAGE;
		}
		serial = host;
	}
	if ((rc = fsec_agent_pair(x->cfg, serial, &p)) != FSEC_OK)
		return fail("pair", rc);
	if (x->png != NULL && (rc = fsec_qr_write_png(p.uri, x->png, 4, &qi)) != FSEC_OK)
		return fail(x->png, rc);
	if (x->svg != NULL && (rc = fsec_qr_write_svg(p.uri, x->svg, &qi)) != FSEC_OK)
		return fail(x->svg, rc);
	if (x->json) {
		print_json(json_pack("{s:s, s:s, s:s, s:b, s:o, s:o}", "uri", p.uri, "serial", serial,
				     "key_sha256", p.key_sha256, "key_made", (int)p.key_made, "png",
				     x->png != NULL ? json_string(x->png) : json_null(), "svg",
				     x->svg != NULL ? json_string(x->svg) : json_null()));
		return 0;
	}
	if (p.key_made)
		fprintf(stderr, "fleetsec-agent: pair: made the device key %s\n",
			fsec_agentcfg_get_key(x->cfg));
	if ((rc = fsec_qr_print(p.uri, stdout, &qi)) != FSEC_OK)
		return fail("pair", rc);
	printf("%s\nkey SHA-256 %s\n", p.uri, p.key_sha256);
	return 0;
}

/* The commands that work on the update agent (fsec_agent_new): its failure
 * to set up is the configuration's. */
static int with_agent(const struct ctx *x, enum fsec_err (*fn)(const struct ctx *x,
							       struct fsec_agent *a))
{
	struct fsec_agent *a = NULL;
	enum fsec_err rc;
	int status;

	if ((rc = fsec_agent_new(x->cfg, &a)) != FSEC_OK)
		return fail(x->config, rc);
	status = (rc = fn(x, a)) == FSEC_OK ? 0 : fail(x->name, rc);
	fsec_agent_free(a);
	return status;
}

static enum fsec_err do_check(const struct ctx *x, struct fsec_agent *a)
{
	struct fsec_agent_check c;
	enum fsec_err rc = fsec_agent_check(a, &c);

	if (rc == FSEC_OK)
		print_check(&c, x->json);
	return rc;
}

static enum fsec_err do_update(const struct ctx *x, struct fsec_agent *a)
{
	struct fsec_agent_check c = {0};
	bool started = false, tty = x->tty;
	enum fsec_err rc = fsec_agent_update(a, progress, &tty, &c, &started);

	bool rebooted = false;

	if (rc != FSEC_OK)
		return rc;
	print_update(&c, started, x->json);
	/* reboot_cmd follows an install; a real reboot never comes back. */
	if (started && (rc = fsec_agent_reboot(x->cfg, &rebooted)) == FSEC_OK && rebooted &&
	    !x->json)
		puts("reboot_cmd ran");
	return rc;
}

static enum fsec_err do_confirm(const struct ctx *x, struct fsec_agent *a)
{
	enum fsec_err rc = fsec_agent_confirm(a);

	if (rc != FSEC_OK)
		return rc;
	/* Best effort: the device is confirmed whether or not the server
	 * hears of it now; the daemon's next report tells it. */
	if (fsec_agent_report(a, "confirmed", NULL) != FSEC_OK)
		fprintf(stderr, "fleetsec-agent: report: %s\n", fsec_err_detail());
	if (x->json)
		print_json(json_pack("{s:b}", "confirmed", 1));
	else
		puts("confirmed: the running slot is now permanent");
	return FSEC_OK;
}

static enum fsec_err do_report(const struct ctx *x, struct fsec_agent *a)
{
	enum fsec_err rc = fsec_agent_report(a, NULL, NULL);

	if (rc != FSEC_OK)
		return rc;
	if (x->json)
		print_json(json_pack("{s:b}", "reported", 1));
	else
		puts("reported to the server");
	return FSEC_OK;
}

static const char *const update_states[] = {
	[FSEC_AGENT_UPDATE_NONE] = "none",
	[FSEC_AGENT_UPDATE_DOWNLOADING] = "downloading",
	[FSEC_AGENT_UPDATE_INSTALLED] = "installed",
	[FSEC_AGENT_UPDATE_TRIAL] = "trial",
	[FSEC_AGENT_UPDATE_ROLLED_BACK] = "rolled_back",
};

static enum fsec_err do_status(const struct ctx *x, struct fsec_agent *a)
{
	struct fsec_agent_status s;
	char v[32], rv[32], pv[32], when[FSEC_TIME_LEN], key[FSEC_SHA256_HEX_LEN];
	bool waiting = false;
	enum fsec_err rc = fsec_agent_status(a, &s);

	if (rc != FSEC_OK || (rc = fsec_agent_pending_key(x->cfg, key, &waiting)) != FSEC_OK)
		return rc;
	fsec_fw_version_str(&s.active_version, v, sizeof(v));
	fsec_fw_version_str(&s.running_version, rv, sizeof(rv));
	fsec_fw_version_str(&s.pending_version, pv, sizeof(pv));
	if (x->json)
		print_json(json_pack("{s:s%, s:b, s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:s, s:o, "
				     "s:s, s:s%, s:o, s:o, s:o, s:o}",
				     "active_slot", &s.active_slot, (size_t)1, "trial", (int)s.trial,
				     "active_valid", (int)s.active_valid, "version", v,
				     "security_counter", (json_int_t)s.active_security_counter,
				     "counter", (json_int_t)s.counter, "last_sequence",
				     (json_int_t)s.last_sequence, "last_delegation",
				     (json_int_t)s.last_delegation, "release_root_version",
				     (json_int_t)s.release_root_version, "downloading", (int)s.downloading,
				     "download_done", (json_int_t)s.download_done, "freshness",
				     s.frozen ? "frozen" : "fresh", "fresh_at",
				     s.fresh_at > 0 ? json_string(fsec_time_format(s.fresh_at, when))
						    : json_null(),
				     "update", update_states[s.update], "running_slot",
				     &s.running_slot, (size_t)1, "running_version",
				     s.running_valid ? json_string(rv) : json_null(), "pending_version",
				     s.pending_valid ? json_string(pv) : json_null(), "image",
				     s.image[0] != '\0' ? json_string(s.image) : json_null(),
				     "pending_key_sha256", waiting ? json_string(key) : json_null()));
	else {
		printf("running       slot %c, %s\n", s.running_slot,
		       s.running_valid ? rv : "no valid image");
		if (s.pending_valid)
			printf("pending       %s in slot %c, waiting for its trial boot\n", pv,
			       s.active_slot);
		printf("active slot   %c%s\nimage         %s\nupdate        %s%s%s\n"
		       "counter       %u\nsequence      %llu (delegation %llu)\n"
		       "release root  version %llu\ndownload      %s\n"
		       "freshness     %s (last fresh signed answer: %s)\n",
		       s.active_slot, s.trial ? " (trial boot, not confirmed)" : "",
		       s.active_valid ? v : "no valid image", update_states[s.update],
		       s.image[0] != '\0' ? ", image SHA-256 " : "", s.image, s.counter,
		       (unsigned long long)s.last_sequence, (unsigned long long)s.last_delegation,
		       (unsigned long long)s.release_root_version,
		       s.downloading ? "in progress" : "none", s.frozen ? "FROZEN" : "fresh",
		       s.fresh_at > 0 ? fsec_time_format(s.fresh_at, when) : "never");
		if (waiting)
			printf("pending key   SHA-256 %s (a request waits for an answer)\n", key);
	}
	return FSEC_OK;
}

/* check and update: as with_agent, then frozen decides the status. */
static int with_freshness(const struct ctx *x,
			  enum fsec_err (*fn)(const struct ctx *x, struct fsec_agent *a))
{
	struct fsec_agent_status s;
	struct fsec_agent *a = NULL;
	enum fsec_err rc;
	int status;

	if ((rc = fsec_agent_new(x->cfg, &a)) != FSEC_OK)
		return fail(x->config, rc);
	status = (rc = fn(x, a)) == FSEC_OK ? 0 : fail(x->name, rc);
	if (fsec_agent_status(a, &s) == FSEC_OK)
		status = frozen_status(&s, status);
	fsec_agent_free(a);
	return status;
}

static int cmd_check(const struct ctx *x)
{
	return with_freshness(x, do_check);
}

static int cmd_update(const struct ctx *x)
{
	return with_freshness(x, do_update);
}

static int cmd_confirm(const struct ctx *x)
{
	return with_agent(x, do_confirm);
}

static int cmd_report(const struct ctx *x)
{
	return with_agent(x, do_report);
}

static int cmd_status(const struct ctx *x)
{
	char key[FSEC_SHA256_HEX_LEN];
	bool waiting = false;
	enum fsec_err rc;

	/* Before its first certificate there is no agent to ask: a device
	 * whose enrollment waits for approval still shows the key to approve. */
	if (access(fsec_agentcfg_get_cert(x->cfg), F_OK) != 0) {
		if ((rc = fsec_agent_pending_key(x->cfg, key, &waiting)) != FSEC_OK)
			return fail("status", rc);
		if (x->json)
			print_json(json_pack("{s:b, s:o}", "enrolled", 0, "pending_key_sha256",
					     waiting ? json_string(key) : json_null()));
		else if (waiting)
			printf("not enrolled: an enrollment waits with key SHA-256 %s\n", key);
		else
			puts("not enrolled");
		return 0;
	}
	return with_agent(x, do_status);
}

/* The whole dispatcher, and the usage text's list (wireguard-tools). */
static const struct command {
	const char *name;
	enum fsec_agent_cmd id; /* what runs before it: fsec_agent_start */
	int (*fn)(const struct ctx *x);
	const char *help;
} commands[] = {
	{"keygen", FSEC_AGENT_CMD_KEYGEN, cmd_keygen,
	 "make the device key (in the TPM when tcti is set) at the key path"},
	{"csr", FSEC_AGENT_CMD_CSR, cmd_csr, "print a CSR signed by the device key (--subject CN)"},
	{"pair", FSEC_AGENT_CMD_PAIR, cmd_pair,
	 "the pairing code of the device key (made now on first power-on, in\n"
	 "            the TPM when tcti is set): a QR code on the terminal and the\n"
	 "            DPP URI; --serial ID (default: the hostname), --png FILE and\n"
	 "            --svg FILE for a label; then 'enroll' with no bootstrap\n"
	 "            credential configured enrolls by this pairing"},
	{"enroll", FSEC_AGENT_CMD_ENROLL, cmd_enroll,
	 "zero-touch enrollment (EST): generate the device key, get its\n"
	 "            certificate from the server with the factory bootstrap credential;\n"
	 "            with none configured, enroll the paired key (see pair)"},
	{"renew", FSEC_AGENT_CMD_RENEW, cmd_renew,
	 "renew the device certificate (EST simplereenroll, new key) once\n"
	 "            two thirds of its lifetime have passed; --force: now"},
	{"trust", FSEC_AGENT_CMD_TRUST, cmd_trust,
	 "the trust update of a root rollover: learn a new fleet root from the\n"
	 "            server's cacerts when a root already trusted cross-signed it"},
	{"daemon", FSEC_AGENT_CMD_DAEMON, cmd_daemon,
	 "renew when due and install updates every --interval seconds\n"
	 "            (default 3600, jittered), until SIGTERM; --once: one round,\n"
	 "            then exit with its status (0, 1 a step failed, 3 frozen)"},
	{"report", FSEC_AGENT_CMD_REPORT, cmd_report,
	 "tell the server what runs here and how the last update went"},
	{"check", FSEC_AGENT_CMD_CHECK, cmd_check,
	 "fetch and verify the release manifest; say whether an update applies"},
	{"update", FSEC_AGENT_CMD_UPDATE, cmd_update,
	 "download the update into the inactive slot (resumable), verify it,\n"
	 "            and request a trial boot"},
	{"confirm", FSEC_AGENT_CMD_CONFIRM, cmd_confirm,
	 "after a healthy reboot: make the trial slot permanent and raise the\n"
	 "            anti-rollback counter"},
	{"status", FSEC_AGENT_CMD_STATUS, cmd_status,
	 "active slot, pending trial, versions, counter, download progress"},
	{"tamper", FSEC_AGENT_CMD_TAMPER, cmd_tamper,
	 "the tamper switch's hook: first a best-effort report to the server,\n"
	 "            signed by the device key (--reason TEXT; a few seconds at\n"
	 "            most), then destroy the device's keys (wipe files, evict TPM\n"
	 "            keys) and record the event and the report's outcome; the device\n"
	 "            stays refused until it is re-provisioned (keygen or enroll)"},
};

static void usage(FILE *f)
{
	fputs("usage: fleetsec-agent [-c CONFIG] <command> [--json] [--force] [--interval S]\n"
	      "                      [--once] [--subject CN] [--reason TEXT]\n"
	      "                      [--serial ID] [--png FILE] [--svg FILE]\n\n"
	      "commands:\n",
	      f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
	fputs("\n"
	      "  -c, --config FILE   configuration (default " DEFAULT_CONFIG ")\n"
	      "  --json              machine-readable output\n"
	      "  --version           print the version\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'J'},
		{"force", no_argument, NULL, 'f'},
		{"interval", required_argument, NULL, 'i'},
		{"once", no_argument, NULL, 'o'},
		{"subject", required_argument, NULL, 's'},
		{"reason", required_argument, NULL, 'r'},
		{"serial", required_argument, NULL, 'S'},
		{"png", required_argument, NULL, 'P'},
		{"svg", required_argument, NULL, 'G'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct ctx x = {.config = DEFAULT_CONFIG, .subject = "fleetsec-device", .interval = 3600,
			.tty = isatty(STDERR_FILENO)};
	const struct command *c = NULL;
	struct fsec_agentcfg *cfg = NULL;
	const char *step = NULL;
	enum fsec_err rc;
	int opt, status;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': x.config = optarg; break;
		case 'J': x.json = true; break;
		case 'f': x.force = true; break;
		case 'o': x.once = true; break;
		case 's': x.subject = optarg; break;
		case 'r': x.reason = optarg; break;
		case 'S': x.serial = optarg; break;
		case 'P': x.png = optarg; break;
		case 'G': x.svg = optarg; break;
		case 'i':
			if (!fsec_parse_ulong(optarg, 1, 7UL * 86400, &x.interval)) {
				fprintf(stderr, "fleetsec-agent: --interval %s: 1 to 604800 seconds\n",
					optarg);
				return FSEC_EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return FSEC_EXIT_OK;
		case 'V': puts("fleetsec-agent " FSEC_VERSION_STR); return FSEC_EXIT_OK;
		default: usage(stderr); return FSEC_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return FSEC_EXIT_USAGE;
	}
	x.name = argv[optind];
	for (size_t i = 0; c == NULL && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(x.name, commands[i].name) == 0)
			c = &commands[i];
	if (c == NULL) {
		fprintf(stderr, "fleetsec-agent: unknown command '%s' (see --help)\n", x.name);
		return FSEC_EXIT_USAGE;
	}
	if ((x.serial != NULL || x.png != NULL || x.svg != NULL) && c->id != FSEC_AGENT_CMD_PAIR) {
		fprintf(stderr, "fleetsec-agent: --serial, --png, --svg: only for pair, not %s\n",
			x.name);
		return FSEC_EXIT_USAGE;
	}
	if (x.serial != NULL && !fsec_devid_valid(x.serial)) {
		fprintf(stderr, "fleetsec-agent: --serial %.80s: 1-64 characters of A-Za-z0-9._-\n",
			x.serial);
		return FSEC_EXIT_USAGE;
	}
	if (x.once && c->id != FSEC_AGENT_CMD_DAEMON) {
		fprintf(stderr, "fleetsec-agent: --once: only for daemon, not %s\n", x.name);
		return FSEC_EXIT_USAGE;
	}
	if ((rc = fsec_agentcfg_new(&cfg)) != FSEC_OK ||
	    (rc = fsec_agentcfg_load(cfg, x.config)) != FSEC_OK) {
		status = fail(x.config, rc);
		goto out;
	}
	x.cfg = cfg;
	if ((rc = fsec_agent_start(cfg, c->id, &step)) != FSEC_OK) {
		status = fail(step != NULL ? step : x.name, rc);
		goto out;
	}
	status = c->fn(&x);
out:
	fsec_agentcfg_free(cfg);
	return status;
}
