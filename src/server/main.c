/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsecd: the fleet's HTTPS service. libevent's HTTP server over OpenSSL
 * bufferevents, one event loop; the work (TLS policy, who the peer is, what
 * it may reach and every answer: routes.h) is libfleetsec's. Every
 * connection is TLS: there is no plaintext listener.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "fleetsec/cmdline.h"
#include "fleetsec/emqx.h"
#include "fleetsec/est.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/metrics.h"
#include "fleetsec/publish.h"
#include "fleetsec/registry.h"
#include "fleetsec/rollout.h"
#include "fleetsec/routes.h"
#include "fleetsec/servercfg.h"
#include "fleetsec/srclimit.h"
#include "fleetsec/text.h"
#include "fleetsec/tls.h"

#include "coaps.h"

#define HEADERS_MAX 8192
#define TIMEOUT_S 10
/* On SIGTERM, in-flight requests get this long to finish. */
#define DRAIN_S 10
#define BUSY_MS 2000
/* The CRL timer looks at the wall clock at least this often, so that a
 * clock stepped forward (NTP at boot on a board without an RTC) is
 * noticed within a minute even though libevent's timers run on the
 * monotonic clock. */
#define CRL_CHECK_MAX_S 60
/* After a failed re-signing (the CLI holding the registry), try again. */
#define CRL_RETRY_S 5
/* A lost change feed is reconnected this often; a replica that does not
 * lead the singleton jobs tries to take the lead this often. */
#define FEED_RETRY_S 1
#define LEAD_TRY_S 2

struct flags;

struct server {
	const char *home;
	const struct flags *flags; /* the command line, re-applied on SIGHUP */
	struct fsec_servercfg cfg; /* the settings in use */
	struct fsec_fleet *fleet;
	struct fsec_est *est;
	SSL_CTX *tls;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct evconnlistener *listener;
	long active, max_conns; /* open TLS connections, and the cap */
	struct fsec_srclimit *per_source; /* open connections per address or /64 */
	bool paused;            /* listener disabled at the cap */
	bool draining;          /* SIGTERM: no new connections, finish the rest */
	struct timeval first;   /* handshake plus first request, then each request, at most */
	struct fsec_route_ctx *routes;
	struct fsec_emqx *emqx; /* POST /v1/emqx/authn and authz */
	struct coaps *coaps; /* NULL: no CoAPs listener */
	/* The CRL is re-signed here, never in a request: at crl_permille of
	 * its period, and crl_delay after a renewal superseded a certificate
	 * (one signature for all the renewals of that delay). */
	struct event *crl_timer;
	struct timeval crl_delay;
	unsigned crl_permille;
	bool crl_soon; /* the timer is set to crl_delay for a pending revocation */
	/* release_refresh = auto: manifests and timestamps signed again past
	 * half of their validity, checked as often as the CRL. */
	struct fsec_refresher *refresher;
	struct event *release_timer;
	/* Rollouts are evaluated here, never in a device's report. */
	struct event *rollout_timer;
	/* Several fleetsecd on one PostgreSQL registry (registry.h, the change
	 * feed): its notifications drop the peer cache; while it is down every
	 * device is told to come back (503), and feed_timer reconnects it. The
	 * CRL, release and rollout timers do their work only while this
	 * replica leads (lead_timer tries to take the lead). NULL on SQLite. */
	struct fsec_registry_feed *feed;
	struct event *feed_ev, *feed_timer, *lead_timer;
	bool leader;
	bool crl_owed; /* the leader heard of an event: check the CRL after crl_delay */
};

/* One accepted connection. Its SSL carries it (ex_data); the slot's free
 * callback ends it, whatever ended the connection (close, timeout, failed
 * handshake), and counts it down. */
struct conn {
	struct server *s;
	SSL *ssl;
	/* The inactivity timeout resets on every byte, so a client trickling
	 * one byte at a time would hold its slot for hours: the handshake and
	 * the first request, then each later request (from the end of the
	 * previous answer to the end of its own body), get this long in all. */
	struct event *deadline;
	/* Counts the connection against its source once the socket is known
	 * (evhttp sets it after tls_bev returns). */
	struct event *place;
	struct fsec_src *src; /* NULL: not counted (yet) */
};

static int conn_slot = -1;

static volatile sig_atomic_t quiet;

/* The request being handled: one event loop, one request at a time. Every
 * answer goes through log_request, which counts it here. */
static struct {
	struct fsec_metrics *metrics;
	enum fsec_endpoint ep;
	struct timespec t0;
} cur;

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void usage(FILE *fp)
{
	fputs("usage: fleetsecd [--home DIR] [--listen HOST:PORT] [--cert FILE] [--key KEY]\n\n"
	      "The fleet's mutual-TLS service: EST enrollment (RFC 7030) and the CRL.\n"
	      "Reads the same home and registry as the fleetsec CLI; with none of the\n"
	      "options it serves HOME/server.pem and HOME/server.key (made by\n"
	      "`fleetsec ca server-cert NAME`) on 127.0.0.1:8443.\n\n"
	      "  --home DIR          fleet home (default $FLEETSEC_HOME, else ~/.fleetsec)\n"
	      "  --config FILE       settings as key = value lines (default HOME/fleetsecd.conf\n"
	      "                      if it exists): listen, coaps, cert, key, admin, approval,\n"
	      "                      max_connections, max_per_source, timeout, crl_refresh\n"
	      "                      (re-sign the CRL this far into its period, default\n"
	      "                      0.5), crl_delay (seconds from a renewal to the CRL\n"
	      "                      that lists the certificate it replaced, default 1),\n"
	      "                      release_refresh (auto: sign published manifests and\n"
	      "                      timestamps again past half of their validity, with\n"
	      "                      release_key, release_delegation and release_root),\n"
	      "                      and the limits of fleetsecd(8); flags override them\n"
	      "  --listen HOST:PORT  address to listen on (default 127.0.0.1:8443;\n"
	      "                      IPv6 as [ADDR]:PORT)\n"
	      "  --coaps ADDR[:PORT] also serve CoAP over DTLS 1.2 on this UDP address\n"
	      "                      (port 5684 if none): EST-coaps (RFC 9148) and the\n"
	      "                      device API, same certificate, trust and policy as\n"
	      "                      HTTPS; the key must be a PEM file (default: off)\n"
	      "  --cert FILE         server certificate chain (default HOME/server.pem)\n"
	      "  --key KEY           server key, path or store URI (default HOME/server.key)\n"
	      "  --max-connections N open connections at most (default 1024); beyond\n"
	      "                      that, clients wait in the kernel's backlog\n"
	      "  --max-per-source N  open connections at most from one address, or one /64\n"
	      "                      for IPv6 (default 32); beyond that, a connection is\n"
	      "                      closed at once\n"
	      "  --timeout S         seconds a client may stall a handshake, request or\n"
	      "                      response before it is dropped (default 10); also the\n"
	      "                      most the handshake and first request, and then each\n"
	      "                      request, may take in all\n"
	      "  --admin ADDR:PORT   serve Prometheus metrics (GET /metrics, plain HTTP) on\n"
	      "                      this loopback address (default: off)\n"
	      "  --approval MODE     auto (default), or manual: an enrollment that passes\n"
	      "                      every check waits (202, Retry-After) until\n"
	      "                      `fleetsec enroll approve SERIAL`\n"
	      "  --quiet             no request log on standard error\n\n"
	      "Endpoints: GET /.well-known/est/cacerts and GET /crl need no client\n"
	      "certificate; POST /.well-known/est/simpleenroll needs a bootstrap certificate\n"
	      "from an allowed manufacturer CA (fleetsec enroll allow); simplereenroll and\n"
	      "csrattrs need a certificate. The device API needs the device's current\n"
	      "operational certificate: POST /v1/status (what it runs, update outcomes),\n"
	      "GET /v1/update (the release published for its\n"
	      "model, or 204) and GET /v1/firmware/SHA256 (the image, with Range).\n"
	      "SIGTERM or SIGINT stops accepting connections and lets requests in flight\n"
	      "finish (up to 10 s); a second signal stops at once. SIGHUP re-reads the\n"
	      "configuration, the server certificate and key and the trusted CAs for new\n"
	      "connections (a failed reload keeps the old ones). A client without a\n"
	      "certificate, or with a refused one, gets one answer per connection.\n",
	      fp);
}

/* Split HOST:PORT or [V6]:PORT into host and port buffers. */
static bool split_listen(const char *s, char *host, size_t hcap, unsigned *port)
{
	const char *colon, *h = s;
	size_t hlen;
	unsigned long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return false;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return false;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= hcap)
		return false;
	/* The one number grammar: strtoul took "host: 80" and "host:+80". */
	if (!fsec_parse_ulong(colon + 1, 1, 65535, &p))
		return false;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (unsigned)p;
	return true;
}

/* ---- per request ---- */

static SSL *request_ssl(struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;

	return bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
}

static void log_request(struct evhttp_request *req, const struct fsec_est_peer *peer, int status,
			const char *reason)
{
	char *addr = NULL;
	ev_uint16_t port = 0;
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	/* Every byte here came from outside (the URI, the certificate's ID,
	 * reasons that quote either): none may end the line or drive the
	 * operator's terminal, and the URI and ID may not forge the fields
	 * after them. */
	char a[64], uri[512], id[160], why[300];

	fsec_metrics_request(cur.metrics, cur.ep, status, since(&cur.t0));
	if (quiet)
		return;
	if (conn != NULL)
		evhttp_connection_get_peer(conn, &addr, &port);
	fprintf(stderr, "fleetsecd: %s %s %s peer=%s%s%s -> %d%s%s\n",
		fsec_text_log(addr != NULL ? addr : "?", FSEC_TEXT_FIELD, a, sizeof(a)),
		evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "GET",
		fsec_text_log(evhttp_request_get_uri(req), FSEC_TEXT_FIELD, uri, sizeof(uri)),
		fsec_text_log(peer->id[0] != '\0' ? peer->id : "-", FSEC_TEXT_FIELD, id, sizeof(id)),
		peer->kind == FSEC_EST_PEER_BOOTSTRAP ? "(bootstrap)"
		: peer->kind == FSEC_EST_PEER_PAIRED  ? "(paired)"
						      : "",
		peer->kind == FSEC_EST_PEER_REFUSED ? "(refused)" : "", status,
		reason != NULL && reason[0] != '\0' ? " " : "",
		fsec_text_log(reason != NULL ? reason : "", 0, why, sizeof(why)));
}

/* The image could not be handed over: an error instead. */
static void file_failed(struct fsec_reply *r)
{
	close(r->file_fd);
	r->has_file = false;
	r->accept_ranges = false;
	r->content_range[0] = '\0';
	r->status = 500;
	snprintf(r->reason, sizeof(r->reason), "cannot read the image");
}

/* The reply as HTTP. A file body is handed to libevent, which then owns
 * its descriptor. */
static void send_reply(struct evhttp_request *req, const struct fsec_est_peer *peer,
		       struct fsec_reply *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	int status = r->status != 0 ? r->status : 500;
	const char *phrase;

	/* evbuffer_add_file owns the descriptor once it succeeds. */
	if (r->has_file) {
		if (evbuffer_add_file(out, r->file_fd, (ev_off_t)r->file_off,
				      (ev_off_t)r->file_len) == 0)
			r->has_file = false;
		else
			file_failed(r);
		status = r->status;
	}
	phrase = status == 200	 ? "OK"
		 : status == 202 ? "Accepted"
		 : status == 204 ? "No Content"
		 : status == 206 ? "Partial Content"
		 : status == 400 ? "Bad Request"
		 : status == 401 ? "Unauthorized"
		 : status == 403 ? "Forbidden"
		 : status == 404 ? "Not Found"
		 : status == 405 ? "Method Not Allowed"
		 : status == 409 ? "Conflict"
		 : status == 413 ? "Payload Too Large"
		 : status == 416 ? "Range Not Satisfiable"
		 : status == 429 ? "Too Many Requests"
		 : status == 503 ? "Service Unavailable"
				 : "Internal Server Error";
	evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (r->accept_ranges)
		evhttp_add_header(h, "Accept-Ranges", "bytes");
	if (r->content_range[0] != '\0')
		evhttp_add_header(h, "Content-Range", r->content_range);
	if (status == 200 || status == 206) {
		evhttp_add_header(h, "Content-Type", r->content_type);
		if (strncmp(r->content_type, "application/pkcs7", 17) == 0 ||
		    strcmp(r->content_type, "application/csrattrs") == 0)
			evhttp_add_header(h, "Content-Transfer-Encoding", "base64");
		if (r->body != NULL)
			evbuffer_add(out, r->body, r->len);
	} else if (status == 204) {
		/* No body, by definition; the reason is only logged. */
	} else {
		if (r->retry_after > 0) {
			char ra[16];

			snprintf(ra, sizeof(ra), "%d", r->retry_after);
			evhttp_add_header(h, "Retry-After", ra);
		}
		/* The reason is for the device's operator: one line, plain text. */
		evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
		evbuffer_add_printf(out, "%s\n", r->reason[0] != '\0' ? r->reason : phrase);
	}
	log_request(req, peer, status, r->reason);
	evhttp_send_reply(req, status, phrase, NULL);
}

static void reply_status(struct evhttp_request *req, const struct fsec_est_peer *peer,
			 int status, const char *reason)
{
	struct fsec_reply r = {.status = status};

	snprintf(r.reason, sizeof(r.reason), "%s", reason);
	send_reply(req, peer, &r);
}

/* The answer ends the connection: evhttp closes it once the answer is
 * written, and reads nothing more from it (a pipelined request is
 * dropped unread). */
static void close_after(struct evhttp_request *req)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
}

/* The answer is written: the connection's next request gets its own
 * deadline, counted from now. */
static void request_done(struct evhttp_request *req, void *arg)
{
	struct conn *c = arg;

	(void)req;
	evtimer_add(c->deadline, &c->s->first);
}

/* The request's framing as evhttp parsed it, before anything reads it:
 * evhttp_find_header sees only the first of several headers of one name,
 * and evhttp took "+31" as a length, so every header is handed over. */
static bool framing_ok(struct evhttp_request *req, struct fsec_reply *refusal)
{
	struct fsec_route_framing f;
	struct evkeyval *kv;

	fsec_route_framing_init(&f, evhttp_request_get_uri(req));
	/* keyvalq_struct.h declares the list but not TAILQ_FOREACH. */
	for (kv = evhttp_request_get_input_headers(req)->tqh_first; kv != NULL;
	     kv = kv->next.tqe_next)
		fsec_route_framing_header(&f, kv->key, kv->value);
	return fsec_route_framing_ok(&f, refusal);
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct fsec_route_request q = {
		.method = cmd == EVHTTP_REQ_GET	   ? FSEC_ROUTE_GET
			  : cmd == EVHTTP_REQ_POST ? FSEC_ROUTE_POST
						   : FSEC_ROUTE_OTHER,
		.path = uri != NULL ? evhttp_uri_get_path(uri) : NULL,
		.range = evhttp_find_header(evhttp_request_get_input_headers(req), "Range"),
	};
	struct fsec_est_peer peer = {0};
	struct fsec_reply r = {0};
	SSL *ssl = request_ssl(req);
	struct conn *c = ssl != NULL ? SSL_get_ex_data(ssl, conn_slot) : NULL;
	enum fsec_err rc;

	clock_gettime(CLOCK_MONOTONIC, &cur.t0);
	cur.ep = fsec_route_endpoint(q.path);
	/* The request is in: while it is answered the inactivity timeout
	 * applies, and once the answer is written the next request's own
	 * deadline starts. */
	if (c != NULL) {
		evtimer_del(c->deadline);
		evhttp_request_set_on_complete_cb(req, request_done, c);
	}
	if (q.path == NULL || c == NULL) {
		close_after(req);
		reply_status(req, &peer, 400, "bad request");
		return;
	}
	/* Where this request ends is not certain: nothing after it on this
	 * connection may be read as a request. */
	if (!framing_ok(req, &r)) {
		close_after(req);
		send_reply(req, &peer, &r);
		fsec_reply_cleanup(&r);
		return;
	}
	/* Every request is checked on its own: a device revoked while its
	 * connection is open is refused at its next request. */
	if ((rc = fsec_est_peer(s->est, SSL_get0_peer_certificate(ssl),
				SSL_get_peer_cert_chain(ssl), &peer)) != FSEC_OK) {
		/* Unreachable (PostgreSQL down, the feed lost): no answer is
		 * better than one from a cache that may have missed a revocation. */
		if (rc == FSEC_ERR_UNAVAILABLE) {
			r.status = 503;
			r.retry_after = FSEC_ROUTE_UNAVAILABLE_RETRY_S;
			snprintf(r.reason, sizeof(r.reason), "the registry is unreachable; try again");
			close_after(req);
			send_reply(req, &peer, &r);
			return;
		}
		reply_status(req, &peer, 500, "the registry cannot be read");
		return;
	}
	/* Limits per source address (refusals) key on it. */
	if (evhttp_request_get_connection(req) != NULL) {
		char *addr = NULL;
		ev_uint16_t port = 0;

		evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
		q.source = addr;
	}
	/* A client with no certificate, one we refuse, or one no route is
	 * for (a backend's) may fetch the CA or the CRL, once: it cannot keep
	 * a connection slot by asking again. */
	if (!fsec_route_peer_admitted(&peer))
		close_after(req);
	/* evhttp capped the body at FSEC_EST_BODY_MAX. */
	if ((q.len = evbuffer_get_length(in)) > 0)
		q.body = evbuffer_pullup(in, (ev_ssize_t)q.len);
	if ((rc = fsec_route_handle(s->routes, &peer, &q, &r)) != FSEC_OK && rc != FSEC_ERR_BUSY) {
		char path[512], why[300];

		fprintf(stderr, "fleetsecd: %s: %s\n",
			fsec_text_log(q.path, FSEC_TEXT_FIELD, path, sizeof(path)),
			fsec_text_log(fsec_err_detail(), 0, why, sizeof(why)));
	}
	send_reply(req, &peer, &r);
	fsec_reply_cleanup(&r);
	/* A renewal revoked its old certificate: the CRL is re-signed after
	 * crl_delay, together with every other renewal until then. */
	if (fsec_fleet_crl_pending(s->fleet) && !s->crl_soon) {
		s->crl_soon = true;
		evtimer_add(s->crl_timer, &s->crl_delay);
	}
}

/* Re-sign the CRL if it is due (or a revocation is pending) and set the
 * timer for the next time. /crl meanwhile serves the published file, which
 * is valid: it is re-signed half-way (crl_refresh) through its period. */
static void crl_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct timeval tv = {.tv_sec = CRL_CHECK_MAX_S};
	int64_t due = 0, now;
	bool signed_now = false;

	(void)fd;
	(void)what;
	s->crl_soon = false;
	/* Only the leader signs (docs/SCALING.md: the replicas share the
	 * home's crl.pem). A renewal on another replica left its own handle
	 * pending; the leader hears of it as an event (crl_owed). */
	if (s->feed != NULL && !s->leader) {
		evtimer_add(s->crl_timer, &tv);
		return;
	}
	if (fsec_fleet_crl_refresh(s->fleet, s->crl_permille, s->crl_owed, &signed_now, &due) !=
	    FSEC_OK) {
		fprintf(stderr, "fleetsecd: cannot re-sign the CRL: %s\n", fsec_err_detail());
		tv.tv_sec = CRL_RETRY_S;
	} else {
		now = (int64_t)time(NULL);
		s->crl_owed = false;
		if (signed_now && !quiet)
			fputs("fleetsecd: CRL re-signed\n", stderr);
		if (due - now < CRL_CHECK_MAX_S)
			tv.tv_sec = due > now ? (time_t)(due - now) : 1;
	}
	evtimer_add(s->crl_timer, &tv);
}

/* Sign again what is due among the published manifests and timestamps. */
static void release_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct timeval tv = {.tv_sec = CRL_CHECK_MAX_S};
	unsigned n = 0;

	(void)fd;
	(void)what;
	if (s->feed != NULL && !s->leader) {
		evtimer_add(s->release_timer, &tv);
		return;
	}
	if (fsec_refresher_run(s->refresher, s->fleet, (int64_t)time(NULL), &n) != FSEC_OK) {
		fprintf(stderr, "fleetsecd: cannot refresh a release: %s\n", fsec_err_detail());
		tv.tv_sec = CRL_RETRY_S;
	} else if (n > 0 && !quiet) {
		fprintf(stderr, "fleetsecd: %u release statements signed again\n", n);
	}
	evtimer_add(s->release_timer, &tv);
}

/* Pause and advance the rollouts that are due (fsec_rollout_evaluate_all
 * spaces a large model's evaluations). */
static void rollout_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct timeval tv = {.tv_sec = (time_t)s->cfg.rollout_tick};
	unsigned n = 0, changed = 0;

	(void)fd;
	(void)what;
	if (s->feed != NULL && !s->leader) {
		evtimer_add(s->rollout_timer, &tv);
		return;
	}
	if (fsec_rollout_evaluate_all(fsec_fleet_get_registry(s->fleet), (int64_t)time(NULL),
				      "fleetsecd", &n, &changed) != FSEC_OK)
		fprintf(stderr, "fleetsecd: cannot evaluate a rollout: %s\n", fsec_err_detail());
	else if (changed > 0 && !quiet)
		fprintf(stderr, "fleetsecd: %u rollouts paused or advanced\n", changed);
	evtimer_add(s->rollout_timer, &tv);
}

static void feed_lost(struct server *s);

/* The timed jobs now, each timer then set again by its tick. */
static void run_jobs(struct server *s)
{
	evtimer_del(s->crl_timer);
	crl_tick(-1, 0, s);
	if (s->refresher != NULL) {
		evtimer_del(s->release_timer);
		release_tick(-1, 0, s);
	}
	evtimer_del(s->rollout_timer);
	rollout_tick(-1, 0, s);
}

/* A notification (or the feed's connection gone): another replica or the
 * CLI committed an event (revoke, tamper, enroll allow...). */
static void feed_read(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	bool changed = false;

	(void)fd;
	(void)what;
	if (fsec_registry_feed_poll(s->feed, &changed) != FSEC_OK) {
		feed_lost(s);
		return;
	}
	if (!changed)
		return;
	fsec_est_feed(s->est, FSEC_EST_FEED_EVENT);
	/* Another process may have revoked (a renewal on another replica
	 * supersedes a certificate): after crl_delay, with every other event
	 * until then, the leader re-signs the CRL if it misses a revocation. */
	if (s->leader && !s->crl_soon) {
		s->crl_owed = true;
		s->crl_soon = true;
		evtimer_add(s->crl_timer, &s->crl_delay);
	}
}

/* Listen on the feed's (new) socket. */
static bool feed_watch(struct server *s)
{
	if (s->feed_ev != NULL)
		event_free(s->feed_ev);
	s->feed_ev = event_new(s->base, fsec_registry_feed_fd(s->feed), EV_READ | EV_PERSIST,
			       feed_read, s);
	return s->feed_ev != NULL && event_add(s->feed_ev, NULL) == 0;
}

static void feed_lost(struct server *s)
{
	struct timeval tv = {.tv_sec = FEED_RETRY_S};
	char why[300];

	if (s->feed_ev != NULL) {
		event_free(s->feed_ev);
		s->feed_ev = NULL;
	}
	if (s->leader && !quiet)
		fputs("fleetsecd: no longer leading the singleton jobs\n", stderr);
	s->leader = false;
	fsec_est_feed(s->est, FSEC_EST_FEED_LOST);
	fprintf(stderr, "fleetsecd: registry: %s; answering 503 until it is back\n",
		fsec_text_log(fsec_err_detail(), 0, why, sizeof(why)));
	evtimer_add(s->feed_timer, &tv);
}

/* Reconnect the feed; the events it missed are read from the log. */
static void feed_retry(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct timeval tv = {.tv_sec = FEED_RETRY_S};
	bool changed = false;

	(void)fd;
	(void)what;
	if (fsec_registry_feed_reconnect(s->feed, &changed) != FSEC_OK || !feed_watch(s)) {
		evtimer_add(s->feed_timer, &tv);
		return;
	}
	/* The cache was dropped when the feed was lost: the next request
	 * reloads whatever the replayed events changed. */
	fsec_est_feed(s->est, FSEC_EST_FEED_EVENT);
	if (!quiet)
		fprintf(stderr, "fleetsecd: registry reachable again%s\n",
			changed ? " (missed events replayed)" : "");
}

/* Take the lead of the singleton jobs if no live replica holds it; on
 * taking it, run them at once. */
static void lead_try(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct timeval tv = {.tv_sec = LEAD_TRY_S};
	bool leader = false, changed = false;

	(void)fd;
	(void)what;
	evtimer_add(s->lead_timer, &tv);
	if (s->feed_ev == NULL || s->leader)
		return;
	if (fsec_registry_feed_lead(s->feed, &leader) != FSEC_OK ||
	    fsec_registry_feed_poll(s->feed, &changed) != FSEC_OK) {
		feed_lost(s);
		return;
	}
	if (changed)
		fsec_est_feed(s->est, FSEC_EST_FEED_EVENT);
	if (!leader)
		return;
	s->leader = true;
	if (!quiet)
		fprintf(stderr, "fleetsecd: leading the singleton jobs (pid %ld)\n", (long)getpid());
	/* Revocations committed while no one led (the old leader died before
	 * its crl_delay, or this replica's feed was down) may be on no CRL:
	 * check at once. */
	s->crl_owed = true;
	run_jobs(s);
}

static void conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		      void *argp)
{
	struct conn *c = ptr;
	struct server *s;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (c == NULL)
		return;
	s = c->s;
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->place != NULL)
		event_free(c->place);
	fsec_srclimit_release(s->per_source, c->src);
	free(c);
	s->active--;
	if (s->draining) {
		if (s->active == 0)
			event_base_loopexit(s->base, NULL);
		return;
	}
	if (s->paused && s->active < s->max_conns) {
		evconnlistener_enable(s->listener);
		s->paused = false;
	}
}

/* GET /metrics on the admin listener (plain HTTP, loopback only). */
static void admin_handle(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	char *text = NULL;
	size_t len = 0;

	(void)arg;
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, 404, "Not Found");
		return;
	}
	if (fsec_metrics_text(cur.metrics, &text, &len) != FSEC_OK) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4");
	evbuffer_add(evhttp_request_get_output_buffer(req), text, len);
	free(text);
	evhttp_send_reply(req, 200, "OK", NULL);
}

/* Only a loopback address literal: metrics are not for the network. */
static bool loopback(const char *host)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, &in6addr_loopback, 16) == 0;
}

/* Each accepted connection is wrapped in TLS before evhttp sees a byte. At
 * the cap, the listener stops accepting: further clients wait in the
 * kernel's backlog instead of exhausting descriptors and memory, and the
 * timeouts free the slots that slow clients hold. */
/* The first request did not arrive in time: end the connection. Shutting
 * the socket down lets evhttp see the end and free it the usual way. */
static void too_slow(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int sock = SSL_get_fd(c->ssl);

	(void)fd;
	(void)what;
	if (sock >= 0)
		shutdown(sock, SHUT_RDWR);
}

/* Count the new connection against its source, or end it: one address (or
 * /64) at its cap cannot take the slots every other device needs. Runs
 * from the event queue right after the accept, before the socket's first
 * read, so a refused client gets no handshake. */
static void place(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int sock = SSL_get_fd(c->ssl);

	(void)fd;
	(void)what;
	if (sock < 0)
		return;
	/* An answer leaves in more than one TLS record (its head, its body).
	 * With Nagle's algorithm the second waits for the client's ACK of the
	 * first, which Linux delays up to 40 ms: a client that keeps its
	 * connection (the agent's daemon, a backend) got about 22 answers a
	 * second (bench/bench_coaps.sh). Failure only costs that latency. */
	(void)setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	memset(&ss, 0, sizeof(ss));
	if (getpeername(sock, (struct sockaddr *)&ss, &len) == 0 &&
	    fsec_srclimit_acquire(c->s->per_source, (struct sockaddr *)&ss, len, &c->src))
		return;
	if (!quiet) {
		char host[64] = "?";

		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
				  sizeof(host));
		fprintf(stderr, "fleetsecd: %s: refused: too many connections from this source\n",
			host);
	}
	shutdown(sock, SHUT_RDWR);
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct server *s = arg;
	struct conn *c;
	struct bufferevent *bev;
	SSL *ssl;

	/* A manufacturer CA allowed since the last connection must be trusted
	 * by this handshake already. */
	if (fsec_est_refresh_tls(s->est, s->tls) != FSEC_OK)
		fprintf(stderr, "fleetsecd: registry: %s\n", fsec_err_detail());
	fsec_metrics_connection(cur.metrics);
	/* evhttp falls back to a plaintext bufferevent if this returns NULL;
	 * never let it: without memory, stop the process instead. */
	if ((ssl = SSL_new(s->tls)) == NULL || (c = calloc(1, sizeof(*c))) == NULL ||
	    (c->deadline = evtimer_new(base, too_slow, c)) == NULL ||
	    (c->place = event_new(base, -1, 0, place, c)) == NULL ||
	    SSL_set_ex_data(ssl, conn_slot, c) != 1) {
		fputs("fleetsecd: out of memory for a connection\n", stderr);
		abort();
	}
	c->s = s;
	c->ssl = ssl;
	evtimer_add(c->deadline, &s->first);
	event_active(c->place, EV_TIMEOUT, 1);
	if (++s->active >= s->max_conns && !s->paused && !s->draining) {
		evconnlistener_disable(s->listener);
		s->paused = true;
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		fputs("fleetsecd: out of memory for a TLS connection\n", stderr);
		abort();
	}
	return bev;
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct timeval grace = {.tv_sec = DRAIN_S};

	(void)fd;
	(void)what;
	/* A second signal means now. */
	if (s->draining) {
		fputs("fleetsecd: stopping now\n", stderr);
		event_base_loopbreak(s->base);
		return;
	}
	/* Closing the listening socket refuses new clients at once (they can
	 * go to another replica); requests in flight get DRAIN_S seconds. */
	s->draining = true;
	coaps_drain(s->coaps);
	evhttp_del_accept_socket(s->http, s->bound);
	s->bound = NULL;
	s->listener = NULL;
	fprintf(stderr, "fleetsecd: stopping: draining %ld connection%s\n", s->active,
		s->active == 1 ? "" : "s");
	if (s->active == 0)
		event_base_loopexit(s->base, NULL);
	else
		event_base_loopexit(s->base, &grace);
}

/* Command-line values; NULL or 0 when not given, so that they override the
 * configuration file only where given. */
struct flags {
	const char *home, *config, *listen, *coaps, *cert, *key, *admin, *approval;
	unsigned long max_conns, timeout, max_per_source;
};

/* A number flag in [1, max]; prints why and returns false otherwise. */
static bool number_flag(const char *name, const char *arg, unsigned long max, unsigned long *out)
{
	if (fsec_parse_ulong(arg, 1, max, out))
		return true;
	fprintf(stderr, "fleetsecd: --%s %s: a number from 1 to %lu\n", name, arg, max);
	return false;
}

static int parse_flags(int argc, char **argv, struct flags *fl)
{
	static const struct option longopts[] = {
		{"home", required_argument, NULL, 'H'},
		{"config", required_argument, NULL, 'C'},
		{"listen", required_argument, NULL, 'l'},
		{"coaps", required_argument, NULL, 'u'},
		{"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"admin", required_argument, NULL, 'a'},
		{"approval", required_argument, NULL, 'A'},
		{"max-connections", required_argument, NULL, 'm'},
		{"timeout", required_argument, NULL, 't'},
		{"max-per-source", required_argument, NULL, 'p'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H': fl->home = optarg; break;
		case 'C': fl->config = optarg; break;
		case 'l': fl->listen = optarg; break;
		case 'u': fl->coaps = optarg; break;
		case 'c': fl->cert = optarg; break;
		case 'k': fl->key = optarg; break;
		case 'a': fl->admin = optarg; break;
		case 'A': fl->approval = optarg; break;
		case 'q': quiet = 1; break;
		case 'm':
			if (!number_flag("max-connections", optarg, 1000000, &fl->max_conns))
				return FSEC_EXIT_USAGE;
			break;
		case 't':
			if (!number_flag("timeout", optarg, 3600, &fl->timeout))
				return FSEC_EXIT_USAGE;
			break;
		case 'p':
			if (!number_flag("max-per-source", optarg, 1000000, &fl->max_per_source))
				return FSEC_EXIT_USAGE;
			break;
		case 'h': usage(stdout); return FSEC_EXIT_OK;
		case 'V': puts("fleetsecd " FSEC_VERSION_STR); return FSEC_EXIT_OK;
		default: usage(stderr); return FSEC_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "fleetsecd: unexpected argument '%s'\n", argv[optind]);
		return FSEC_EXIT_USAGE;
	}
	return -1;
}

/* Copy a flag over the configuration's value if given; false names the
 * flag in why if it does not fit. */
static bool override(char *dst, size_t cap, const char *flag, const char *name, char *why,
		     size_t wcap)
{
	if (flag == NULL)
		return true;
	if (strlen(flag) >= cap) {
		snprintf(why, wcap, "--%s is too long", name);
		return false;
	}
	memcpy(dst, flag, strlen(flag) + 1);
	return true;
}

/* Defaults, then the configuration file (--config, or HOME/fleetsecd.conf if
 * there is one), then the flags. Returns -1 to go on, else an exit status
 * with the reason in why (one line, no "fleetsecd: " prefix). */
static int configure(const struct flags *fl, const char *home, struct fsec_servercfg *cfg,
		     char *why, size_t cap)
{
	char path[4200];
	const char *file = fl->config;
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;

	fsec_servercfg_defaults(cfg);
	snprintf(path, sizeof(path), "%s/fleetsecd.conf", home);
	if (file == NULL && access(path, F_OK) == 0)
		file = path;
	if (file != NULL) {
		rc = fsec_file_read(file, FSEC_SERVERCFG_MAX, &buf, &len);
		if (rc == FSEC_OK)
			rc = fsec_servercfg_parse(buf, len, cfg);
		free(buf);
		if (rc != FSEC_OK) {
			snprintf(why, cap, "%.300s: %.500s", file, fsec_err_detail());
			return FSEC_EXIT_REFUSED;
		}
	}
	if (!override(cfg->listen, sizeof(cfg->listen), fl->listen, "listen", why, cap) ||
	    !override(cfg->coaps, sizeof(cfg->coaps), fl->coaps, "coaps", why, cap) ||
	    !override(cfg->cert, sizeof(cfg->cert), fl->cert, "cert", why, cap) ||
	    !override(cfg->key, sizeof(cfg->key), fl->key, "key", why, cap) ||
	    !override(cfg->admin, sizeof(cfg->admin), fl->admin, "admin", why, cap) ||
	    !override(cfg->approval, sizeof(cfg->approval), fl->approval, "approval", why, cap))
		return FSEC_EXIT_USAGE;
	if (fl->max_conns != 0)
		cfg->max_connections = fl->max_conns;
	if (fl->timeout != 0)
		cfg->timeout = fl->timeout;
	/* crl_refresh and crl_delay come from the file only. */
	if (fl->max_per_source != 0)
		cfg->max_per_source = fl->max_per_source;
	if (strcmp(cfg->approval, "manual") != 0 && strcmp(cfg->approval, "auto") != 0) {
		snprintf(why, cap, "approval %s: use auto or manual", cfg->approval);
		return FSEC_EXIT_USAGE;
	}
	return -1;
}

/* The TLS context for cfg's certificate and key, trusting what the
 * registry trusts now. Errors: as fsec_tls_server_ctx. */
static enum fsec_err make_tls(struct server *s, const struct fsec_servercfg *cfg, SSL_CTX **out)
{
	char cert_buf[4096], key_buf[4096];
	struct fsec_tls_server_opts to = {0};
	enum fsec_err rc;

	snprintf(cert_buf, sizeof(cert_buf), "%s/server.pem", s->home);
	snprintf(key_buf, sizeof(key_buf), "%s/server.key", s->home);
	to.cert_chain = cfg->cert[0] != '\0' ? cfg->cert : cert_buf;
	to.key = cfg->key[0] != '\0' ? cfg->key : key_buf;
	to.trust = fsec_est_tls_store(s->est);
	to.client_cas = fsec_est_client_ca_names(s->est);
	/* A device paired by QR code (issue 18) has only a self-signed
	 * certificate; fsec_est_peer admits it to simpleenroll when its key
	 * is paired, and refuses it everything else. */
	to.allow_self_signed = true;
	rc = fsec_tls_server_ctx(&to, out);
	X509_STORE_free(to.trust);
	return rc;
}

/* What the running process takes from its settings beyond the listener:
 * enrollment approval, timeouts, the CRL schedule and the route limits. */
static void apply(struct server *s, const struct fsec_servercfg *cfg)
{
	fsec_est_set_manual_approval(s->est, strcmp(cfg->approval, "manual") == 0);
	s->crl_permille = cfg->crl_refresh_permille;
	s->crl_delay.tv_sec = (time_t)cfg->crl_delay;
	s->first.tv_sec = (time_t)cfg->timeout;
	s->first.tv_usec = 0;
	fsec_route_set_limits(s->routes, cfg);
}

/*
 * SIGHUP: read the configuration, the server certificate and key and the
 * trusted CAs again, and serve new connections with them; connections
 * already open finish on the context they started with (each SSL holds a
 * reference to its SSL_CTX). Anything wrong, and nothing changes: a
 * renewal that left a key and certificate that do not match must not take
 * the service down. What only a restart can change (the sockets and the
 * tables sized at start) is refused.
 */
/* The EMQX endpoints, answered by the topic policy at path ("": the
 * default one). */
static enum fsec_err start_acl(struct server *s, const char *path)
{
	struct fsec_mqtt_policy *acl = NULL;
	enum fsec_err rc;

	/* The error names the file (and the line). */
	if ((rc = fsec_mqtt_policy_load(path[0] != '\0' ? path : NULL, &acl)) != FSEC_OK)
		return rc;
	fsec_emqx_set_policy(s->emqx, acl);
	fsec_route_set_emqx(s->routes, fsec_emqx_authn, fsec_emqx_authz, s->emqx);
	return FSEC_OK;
}

static void on_reload(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct fsec_servercfg cfg;
	struct fsec_refresher *refresher = NULL;
	struct fsec_mqtt_policy *acl = NULL;
	SSL_CTX *tls = NULL;
	bool changed = false;
	const char *restart;
	char why[1200];
	struct timeval tv;

	(void)fd;
	(void)what;
	if (s->draining)
		return;
	if (configure(s->flags, s->home, &cfg, why, sizeof(why)) != -1)
		goto refused;
	if ((restart = fsec_servercfg_restart_needed(&s->cfg, &cfg)) != NULL) {
		snprintf(why, sizeof(why), "%s changes only with a restart", restart);
		goto refused;
	}
	/* The online key's files are read again: a renewed delegation put in
	 * place of release_delegation is served from now on. */
	if (s->refresher != NULL &&
	    fsec_refresher_new(s->fleet, cfg.release_key, cfg.release_delegation,
			       cfg.release_root, &refresher) != FSEC_OK) {
		snprintf(why, sizeof(why), "release_refresh = auto: %s", fsec_err_detail());
		goto refused;
	}
	if (fsec_est_refresh(s->est, &changed) != FSEC_OK || make_tls(s, &cfg, &tls) != FSEC_OK) {
		snprintf(why, sizeof(why), "%s", fsec_err_detail());
		fsec_refresher_free(refresher);
		goto refused;
	}
	if (fsec_mqtt_policy_load(cfg.mqtt_acl[0] != '\0' ? cfg.mqtt_acl : NULL, &acl) != FSEC_OK) {
		snprintf(why, sizeof(why), "mqtt_acl: %s", fsec_err_detail());
		fsec_refresher_free(refresher);
		SSL_CTX_free(tls);
		goto refused;
	}
	/* Last, as it takes effect at once: a refusal above leaves the old
	 * key, and so does one here (fsec_route_set_fw_key keeps it). */
	if (fsec_route_set_fw_key(s->routes, cfg.firmware_enc_key) != FSEC_OK) {
		snprintf(why, sizeof(why), "%s", fsec_err_detail());
		fsec_refresher_free(refresher);
		fsec_mqtt_policy_free(acl);
		SSL_CTX_free(tls);
		goto refused;
	}
	fsec_emqx_set_policy(s->emqx, acl);
	if (refresher != NULL) {
		fsec_refresher_free(s->refresher);
		s->refresher = refresher;
	}
	SSL_CTX_free(s->tls);
	s->tls = tls;
	coaps_set_tls(s->coaps, tls);
	apply(s, &cfg);
	s->cfg = cfg;
	tv = s->first;
	evhttp_set_timeout_tv(s->http, &tv);
	/* The CRL schedule may have changed: look again now. */
	run_jobs(s);
	fputs("fleetsecd: reloaded: configuration and server certificate\n", stderr);
	return;
refused:
	fprintf(stderr, "fleetsecd: reload refused, still serving the old settings: %s\n", why);
}

/* The CoAPs listener on cfg.coaps (ADDR, ADDR:PORT or [V6]:PORT), with the
 * HTTPS context's certificate, trust and suites, and the HTTPS caps. */
static bool start_coaps(struct server *s, const struct fsec_servercfg *cfg)
{
	char host[256], why[600];
	unsigned port = COAPS_DEFAULT_PORT;
	const char *v = cfg->coaps;
	struct coaps_opts o = {0};

	if (!split_listen(v, host, sizeof(host), &port)) {
		/* No port: the address alone, 5684. */
		size_t n = strlen(v);

		if (n >= 2 && v[0] == '[' && v[n - 1] == ']' && n - 2 < sizeof(host)) {
			memcpy(host, v + 1, n - 2);
			host[n - 2] = '\0';
		} else if (n > 0 && n < sizeof(host) && strchr(v, ':') == NULL && v[0] != '[') {
			memcpy(host, v, n + 1);
		} else {
			fprintf(stderr, "fleetsecd: coaps %s: expected ADDR[:PORT]\n", v);
			return false;
		}
		port = COAPS_DEFAULT_PORT;
	}
	o.host = host;
	o.port = port;
	o.tls = s->tls;
	o.est = s->est;
	o.routes = s->routes;
	o.max_sessions = cfg->max_connections;
	o.max_per_source = cfg->max_per_source;
	/* An idle DTLS session costs a slot, as an idle connection does; a
	 * device on a slow link gets the minute libcoap would give it at
	 * least. */
	o.idle_timeout = cfg->timeout > 60 ? cfg->timeout : 60;
	o.metrics = cur.metrics;
	o.quiet = quiet != 0;
	if (!coaps_start(&o, s->base, &s->coaps, why, sizeof(why))) {
		fprintf(stderr, "fleetsecd: %s\n", why);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct server s = {0};
	struct flags fl = {0};
	struct fsec_servercfg cfg;
	struct evhttp *admin_http = NULL;
	char admin_host[256];
	unsigned admin_port = 0;
	char host[256], home_buf[4096], why[1200];
	unsigned port = 0;
	struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL;
	struct timeval tv = {0};
	enum fsec_err rc;
	int status = FSEC_EXIT_REFUSED;

	if ((status = parse_flags(argc, argv, &fl)) != -1)
		return status;
	/* The same home as the CLI's when neither names one. */
	if (fl.home == NULL && fsec_home_default(home_buf, sizeof(home_buf)) != FSEC_OK) {
		fprintf(stderr, "fleetsecd: %s\n", fsec_err_detail());
		return FSEC_EXIT_REFUSED;
	}
	s.home = fl.home != NULL ? fl.home : home_buf;
	s.flags = &fl;
	if ((status = configure(&fl, s.home, &cfg, why, sizeof(why))) != -1) {
		fprintf(stderr, "fleetsecd: %s\n", why);
		return status;
	}
	status = FSEC_EXIT_REFUSED;
	if (!split_listen(cfg.listen, host, sizeof(host), &port)) {
		fprintf(stderr, "fleetsecd: listen %s: expected HOST:PORT\n", cfg.listen);
		return FSEC_EXIT_USAGE;
	}
	if (cfg.admin[0] != '\0' &&
	    (!split_listen(cfg.admin, admin_host, sizeof(admin_host), &admin_port) ||
	     !loopback(admin_host))) {
		fprintf(stderr, "fleetsecd: admin %s: expected a loopback ADDR:PORT\n", cfg.admin);
		return FSEC_EXIT_USAGE;
	}
	s.max_conns = (long)cfg.max_connections;
	tv.tv_sec = (time_t)cfg.timeout;
	conn_slot = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_gone);
	/* A broken pipe is a client gone, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);

	/* One thread serves everyone: a write waits at most this long for the
	 * CLI's transaction, then the client is told to come back (503). */
	if ((rc = fsec_fleet_open(s.home, &s.fleet)) != FSEC_OK ||
	    (rc = fsec_registry_set_busy_timeout(fsec_fleet_get_registry(s.fleet), BUSY_MS)) !=
		    FSEC_OK ||
	    (rc = fsec_est_new(s.fleet, &s.est)) != FSEC_OK ||
	    (rc = fsec_route_ctx_new(s.fleet, s.est, s.home, &s.routes)) != FSEC_OK ||
	    (rc = fsec_route_set_fw_key(s.routes, cfg.firmware_enc_key)) != FSEC_OK ||
	    (rc = fsec_emqx_new(s.est, fsec_fleet_get_registry(s.fleet), &s.emqx)) != FSEC_OK ||
	    (rc = start_acl(&s, cfg.mqtt_acl)) != FSEC_OK ||
	    (rc = fsec_srclimit_new(cfg.max_per_source, cfg.max_connections, &s.per_source)) !=
		    FSEC_OK) {
		fprintf(stderr, "fleetsecd: %s: %s\n", s.home, fsec_err_detail());
		goto out;
	}
	if (strcmp(cfg.release_refresh, "auto") == 0 &&
	    (rc = fsec_refresher_new(s.fleet, cfg.release_key, cfg.release_delegation,
				     cfg.release_root, &s.refresher)) != FSEC_OK) {
		fprintf(stderr, "fleetsecd: release_refresh = auto: %s\n", fsec_err_detail());
		goto out;
	}
	/* Renewals leave the CRL to crl_tick: never signed in a request. */
	fsec_fleet_set_crl_deferred(s.fleet, true);
	apply(&s, &cfg);
	s.cfg = cfg;
	if ((rc = make_tls(&s, &cfg, &s.tls)) != FSEC_OK) {
		fprintf(stderr, "fleetsecd: %s\n", fsec_err_detail());
		if (cfg.cert[0] == '\0')
			fputs("fleetsecd: make one with: fleetsec ca server-cert NAME\n", stderr);
		goto out;
	}
	if ((s.base = event_base_new()) == NULL || (s.http = evhttp_new(s.base)) == NULL) {
		fputs("fleetsecd: cannot start the event loop\n", stderr);
		goto out;
	}
	evhttp_set_bevcb(s.http, tls_bev, &s);
	evhttp_set_gencb(s.http, handle, &s);
	evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(s.http, HEADERS_MAX);
	evhttp_set_max_body_size(s.http, FSEC_EST_BODY_MAX);
	/* Slow clients (slowloris) lose their connection after this long
	 * without progress. */
	evhttp_set_timeout_tv(s.http, &tv);
	if ((s.bound = evhttp_bind_socket_with_handle(s.http, host, (ev_uint16_t)port)) == NULL) {
		fprintf(stderr, "fleetsecd: cannot listen on %s: %s\n", cfg.listen, strerror(errno));
		goto out;
	}
	s.listener = evhttp_bound_socket_get_listener(s.bound);
	if (fsec_metrics_new(&cur.metrics) != FSEC_OK) {
		fputs("fleetsecd: out of memory\n", stderr);
		goto out;
	}
	if (cfg.admin[0] != '\0') {
		if ((admin_http = evhttp_new(s.base)) == NULL ||
		    evhttp_bind_socket(admin_http, admin_host, (ev_uint16_t)admin_port) != 0) {
			fprintf(stderr, "fleetsecd: cannot listen on %s: %s\n", cfg.admin,
				strerror(errno));
			goto out;
		}
		evhttp_set_allowed_methods(admin_http, EVHTTP_REQ_GET);
		evhttp_set_timeout(admin_http, TIMEOUT_S);
		evhttp_set_gencb(admin_http, admin_handle, NULL);
	}
	if (cfg.coaps[0] != '\0' && !start_coaps(&s, &cfg))
		goto out;
	/* On PostgreSQL: the change feed, and the lead of the singleton jobs
	 * (taken here already when free, so that a lone replica ticks at once). */
	if ((rc = fsec_registry_feed_open(fsec_fleet_get_registry(s.fleet), &s.feed)) != FSEC_OK) {
		fprintf(stderr, "fleetsecd: %s\n", fsec_err_detail());
		goto out;
	}
	if (s.feed != NULL) {
		struct timeval lead_tv = {.tv_sec = LEAD_TRY_S};
		bool leader = false;

		if ((s.feed_timer = evtimer_new(s.base, feed_retry, &s)) == NULL ||
		    (s.lead_timer = evtimer_new(s.base, lead_try, &s)) == NULL || !feed_watch(&s) ||
		    (rc = fsec_registry_feed_lead(s.feed, &leader)) != FSEC_OK) {
			fprintf(stderr, "fleetsecd: registry feed: %s\n", fsec_err_detail());
			goto out;
		}
		s.leader = leader;
		if (leader && !quiet)
			fprintf(stderr, "fleetsecd: leading the singleton jobs (pid %ld)\n",
				(long)getpid());
		fsec_est_feed(s.est, FSEC_EST_FEED_EVENT);
		evtimer_add(s.lead_timer, &lead_tv);
	}
	/* The first tick, before the first request: a CRL that lapsed while
	 * fleetsecd was stopped is re-signed at once. */
	if ((s.crl_timer = evtimer_new(s.base, crl_tick, &s)) == NULL) {
		fputs("fleetsecd: out of memory\n", stderr);
		goto out;
	}
	crl_tick(-1, 0, &s);
	if (s.refresher != NULL) {
		if ((s.release_timer = evtimer_new(s.base, release_tick, &s)) == NULL) {
			fputs("fleetsecd: out of memory\n", stderr);
			goto out;
		}
		release_tick(-1, 0, &s);
	}
	if ((s.rollout_timer = evtimer_new(s.base, rollout_tick, &s)) == NULL) {
		fputs("fleetsecd: out of memory\n", stderr);
		goto out;
	}
	rollout_tick(-1, 0, &s);
	sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
	sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
	sighup = evsignal_new(s.base, SIGHUP, on_reload, &s);
	if (sigterm == NULL || sigint == NULL || sighup == NULL || event_add(sigterm, NULL) != 0 ||
	    event_add(sigint, NULL) != 0 || event_add(sighup, NULL) != 0) {
		fputs("fleetsecd: cannot install signal handlers\n", stderr);
		goto out;
	}
	fprintf(stderr, "fleetsecd: fleet '%s' listening on https://%s\n",
		fsec_fleet_get_name(s.fleet), cfg.listen);
	if (s.coaps != NULL)
		fprintf(stderr, "fleetsecd: and on coaps://%s\n", cfg.coaps);
	status = event_base_dispatch(s.base) == 0 ? FSEC_EXIT_OK : FSEC_EXIT_REFUSED;
out:
	if (s.feed_ev != NULL)
		event_free(s.feed_ev);
	if (s.feed_timer != NULL)
		event_free(s.feed_timer);
	if (s.lead_timer != NULL)
		event_free(s.lead_timer);
	fsec_registry_feed_free(s.feed);
	if (s.crl_timer != NULL)
		event_free(s.crl_timer);
	if (s.release_timer != NULL)
		event_free(s.release_timer);
	if (s.rollout_timer != NULL)
		event_free(s.rollout_timer);
	fsec_refresher_free(s.refresher);
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (sighup != NULL)
		event_free(sighup);
	coaps_free(s.coaps);
	if (s.http != NULL)
		evhttp_free(s.http);
	if (admin_http != NULL)
		evhttp_free(admin_http);
	fsec_metrics_free(cur.metrics);
	if (s.base != NULL)
		event_base_free(s.base);
	SSL_CTX_free(s.tls);
	fsec_route_ctx_free(s.routes);
	fsec_emqx_free(s.emqx);
	fsec_srclimit_free(s.per_source);
	fsec_est_free(s.est);
	fsec_fleet_free(s.fleet);
	return status;
}
