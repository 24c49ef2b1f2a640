/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsecd's route table and its handlers: what each kind of peer may
 * reach, and the library call that answers. No HTTP here: fleetsecd turns
 * the request into a struct fsec_route_request and the struct fsec_reply
 * into a response.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crl_int.h"
#include "err_int.h"
#include "limits_int.h"
#include "reply_int.h"
#include "fleetsec/devapi.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fwimage.h"
#include "fleetsec/publish.h"
#include "fleetsec/release.h"
#include "fleetsec/routes.h"

#define EST "/.well-known/est/"
#define HOME_PATH_MAX 4096

struct fsec_route_ctx {
	struct fsec_fleet *f;
	struct fsec_est *e;
	char fw_dir[HOME_PATH_MAX + 16];
	char crl_path[HOME_PATH_MAX + 16];
	char roots_path[HOME_PATH_MAX + 32];
	struct fsec_crl_cache crl;
	struct fsec_ratelimit *reports; /* status reports stored per device per hour */
	struct fsec_fw_enc_key *fw_holder; /* firmware_enc_key; NULL: no key delivery */
	/* The EMQX endpoints' answers (mqtt/emqx.h, a folder above this one):
	 * handed in by fleetsecd; NULL: not served. */
	fsec_route_body_fn emqx_authn, emqx_authz;
	void *emqx_arg;
	bool enc_key_off; /* enc_key_self_enroll = off */
};

typedef enum fsec_err (*route_fn)(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
				  const struct fsec_route_request *q, struct fsec_reply *r);

struct route {
	enum fsec_route_method method;
	const char *path;
	bool prefix;    /* path is a prefix; the rest is the handler's argument */
	unsigned peers; /* enum fsec_route_peer bits admitted */
	enum fsec_endpoint ep;
	const char *name; /* the metrics label */
	route_fn fn;
};

/* ---- handlers ---- */

static enum fsec_err h_cacerts(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
			       const struct fsec_route_request *q, struct fsec_reply *r)
{
	(void)peer;
	(void)q;
	return fsec_est_cacerts(c->e, r);
}

static bool valid_now(const struct fsec_crl_info *i, int64_t now)
{
	return i->this_update <= now && now < i->next_update;
}

/* GET /crl: the home's CRL (fleetsecd and the CLI keep it current), as
 * DER; while several issuing CAs are in use (after `fleetsec ca rotate`),
 * every CA's CRL as one PEM text, since DER holds one. */
static enum fsec_err h_crl(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
			   const struct fsec_route_request *q, struct fsec_reply *r)
{
	const unsigned char *der = NULL;
	struct fsec_crl_info info = {0};
	size_t len = 0;

	(void)peer;
	(void)q;
	memset(r, 0, sizeof(*r));
	if (fsec_crl_cache_get(&c->crl, c->crl_path, &der, &len, &info) != FSEC_OK) {
		fsec_clearerr();
		fsec_reply_error(r, 500, "the CRL is not available");
		return FSEC_OK;
	}
	/* A list that is not valid now (the server was stopped past its
	 * nextUpdate, the clock jumped) is refused by every relying party:
	 * sign one before answering. Rare, and once per CRL period at most. */
	if (!valid_now(&info, (int64_t)time(NULL))) {
		if (fsec_fleet_crl_refresh(c->f, 500, false, NULL, NULL) != FSEC_OK ||
		    fsec_crl_cache_get(&c->crl, c->crl_path, &der, &len, &info) != FSEC_OK ||
		    !valid_now(&info, (int64_t)time(NULL))) {
			fsec_clearerr();
			fsec_reply_error(r, 503, "the CRL is being re-signed; try again");
			r->retry_after = 1;
			return FSEC_OK;
		}
	}
	/* The cache keeps its own copy: it outlives this reply. */
	if ((r->body = malloc(len)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	memcpy(r->body, der, len);
	r->len = len;
	r->status = 200;
	r->content_type = c->crl.pem ? "application/x-pem-file" : "application/pkix-crl";
	return FSEC_OK;
}

static enum fsec_err h_enroll(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
			      const struct fsec_route_request *q, struct fsec_reply *r)
{
	return fsec_est_enroll_from(c->e, peer, false, q->source, q->body, q->len, r);
}

static enum fsec_err h_reenroll(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
				const struct fsec_route_request *q, struct fsec_reply *r)
{
	return fsec_est_enroll_from(c->e, peer, true, q->source, q->body, q->len, r);
}

static enum fsec_err h_csrattrs(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
				const struct fsec_route_request *q, struct fsec_reply *r)
{
	(void)c;
	(void)peer;
	(void)q;
	return fsec_est_csrattrs(r);
}

static enum fsec_err h_status(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
			      const struct fsec_route_request *q, struct fsec_reply *r)
{
	int retry = 0;

	/* Each stored report is an fsynced commit: one device gets a bounded
	 * share of the disk, whatever it sends. */
	if (!fsec_ratelimit_take(c->reports, peer->id, (int64_t)time(NULL), &retry)) {
		memset(r, 0, sizeof(*r));
		fsec_reply_error(r, 429, "device %s sent too many status reports; try again later",
				 peer->id);
		r->retry_after = retry;
		return FSEC_OK;
	}
	return fsec_devapi_status(fsec_fleet_get_registry(c->f), peer->id, q->body, q->len, r);
}

static enum fsec_err h_tamper(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
			      const struct fsec_route_request *q, struct fsec_reply *r)
{
	int retry = 0;
	enum fsec_err rc;

	/* A stored report is a commit, as a status report is: the same share. */
	if (!fsec_ratelimit_take(c->reports, peer->id, (int64_t)time(NULL), &retry)) {
		memset(r, 0, sizeof(*r));
		fsec_reply_error(r, 429, "device %s sent too many reports; try again later",
				 peer->id);
		r->retry_after = retry;
		return FSEC_OK;
	}
	rc = fsec_devapi_tamper(fsec_fleet_get_registry(c->f), peer->id, peer->serial, q->body,
				q->len, (int64_t)time(NULL), r);

	/* From now on the certificate is refused (fsec_est_peer): not from a
	 * cached answer given before. */
	if (rc == FSEC_OK && r->status == 200)
		fsec_est_forget_peers(c->e);
	return rc;
}

static enum fsec_err h_update(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
			      const struct fsec_route_request *q, struct fsec_reply *r)
{
	(void)q;
	return fsec_devapi_update(fsec_fleet_get_registry(c->f), peer->id, r);
}

/* GET /v1/firmware/SHA256, and GET /v1/firmware/SHA256/key: the image, or
 * its key wrapped for this device (issue 19); both under the firmware
 * route's peers and metrics. */
static enum fsec_err h_firmware(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
				const struct fsec_route_request *q, struct fsec_reply *r)
{
	const char *arg = q->path + strlen(FSEC_RELEASE_FIRMWARE_PATH);
	char sha[65];

	if (strlen(arg) == 64 + 4 && strcmp(arg + 64, "/key") == 0) {
		memcpy(sha, arg, 64);
		sha[64] = '\0';
		return fsec_devapi_firmware_key(fsec_fleet_get_registry(c->f), c->fw_dir,
						c->fw_holder, peer->id, sha, r);
	}
	return fsec_devapi_firmware(fsec_fleet_get_registry(c->f), c->fw_dir, peer->id, arg,
				    q->range, r);
}

/* GET /v1/roots: the chain of release-root documents (fleetsec release
 * root-publish). Read per
 * request: it changes once in years, and a device asks only when a
 * delegation is signed by a root it does not know. 204 (nothing) while the
 * release root was never rotated. */
static enum fsec_err h_roots(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
			     const struct fsec_route_request *q, struct fsec_reply *r)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat st;

	(void)peer;
	(void)q;
	memset(r, 0, sizeof(*r));
	if (stat(c->roots_path, &st) != 0 && errno == ENOENT) {
		fsec_reply_error(r, 204, "the release root was never rotated");
		return FSEC_OK;
	}
	if (fsec_file_read(c->roots_path, FSEC_RELEASE_MAX, &buf, &len) != FSEC_OK) {
		fsec_reply_error(r, 500, "the release roots are not available: %s",
				 fsec_err_detail());
		fsec_clearerr();
		return FSEC_OK;
	}
	r->body = (char *)buf;
	r->len = len;
	r->status = 200;
	r->content_type = "application/json";
	return FSEC_OK;
}

/* POST /v1/enc-key: the device's firmware encryption key (issue 19). */
static enum fsec_err h_enc_key(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
			       const struct fsec_route_request *q, struct fsec_reply *r)
{
	return fsec_devapi_enc_key(c->f, peer->id, q->body, q->len, c->enc_key_off, r);
}

/* POST /v1/emqx/authn and /v1/emqx/authz (mqtt/emqx.h): an EMQX cluster
 * asks, with a broker's certificate. */
static enum fsec_err body_hook(fsec_route_body_fn fn, void *arg,
			       const struct fsec_route_request *q, struct fsec_reply *r)
{
	if (fn == NULL) {
		memset(r, 0, sizeof(*r));
		fsec_reply_error(r, 404, "no such endpoint");
		return FSEC_OK;
	}
	return fn(arg, q->body, q->len, r);
}

static enum fsec_err h_emqx_authn(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
				  const struct fsec_route_request *q, struct fsec_reply *r)
{
	(void)peer;
	return body_hook(c->emqx_authn, c->emqx_arg, q, r);
}

static enum fsec_err h_emqx_authz(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
				  const struct fsec_route_request *q, struct fsec_reply *r)
{
	(void)peer;
	return body_hook(c->emqx_authz, c->emqx_arg, q, r);
}

/* ---- the table ---- */

#define P_EST (FSEC_ROUTE_PEER_BOOTSTRAP | FSEC_ROUTE_PEER_DEVICE)

/* The one list of fleetsecd's endpoints. A superseded certificate reaches
 * simplereenroll only, where fsec_est_enroll may re-send the current
 * certificate and nothing else (a renewal whose answer was lost); it is
 * refused everywhere else, as revoked and unknown certificates are. A
 * manufacturer's certificate with an unusable serial reaches simpleenroll
 * only, where fsec_est_enroll refuses it and logs why (enroll-refused). */
static const struct route routes[] = {
	{FSEC_ROUTE_GET, EST "cacerts", false, FSEC_ROUTE_PEER_ANY, FSEC_EP_CACERTS, "cacerts",
	 h_cacerts},
	{FSEC_ROUTE_GET, "/crl", false, FSEC_ROUTE_PEER_ANY, FSEC_EP_CRL, "crl", h_crl},
	{FSEC_ROUTE_POST, EST "simpleenroll", false,
	 P_EST | FSEC_ROUTE_PEER_BAD_BOOTSTRAP | FSEC_ROUTE_PEER_PAIRED,
	 FSEC_EP_SIMPLEENROLL, "simpleenroll", h_enroll},
	{FSEC_ROUTE_POST, EST "simplereenroll", false, P_EST | FSEC_ROUTE_PEER_SUPERSEDED,
	 FSEC_EP_SIMPLEREENROLL, "simplereenroll", h_reenroll},
	{FSEC_ROUTE_GET, EST "csrattrs", false, P_EST, FSEC_EP_CSRATTRS, "csrattrs", h_csrattrs},
	{FSEC_ROUTE_GET, "/v1/update", false, FSEC_ROUTE_PEER_DEVICE, FSEC_EP_UPDATE, "update",
	 h_update},
	{FSEC_ROUTE_GET, FSEC_RELEASE_FIRMWARE_PATH, true, FSEC_ROUTE_PEER_DEVICE, FSEC_EP_FIRMWARE,
	 "firmware", h_firmware},
	{FSEC_ROUTE_POST, "/v1/status", false, FSEC_ROUTE_PEER_DEVICE, FSEC_EP_STATUS, "status",
	 h_status},
	{FSEC_ROUTE_POST, "/v1/tamper", false, FSEC_ROUTE_PEER_DEVICE, FSEC_EP_TAMPER, "tamper",
	 h_tamper},
	{FSEC_ROUTE_GET, "/v1/roots", false, FSEC_ROUTE_PEER_DEVICE, FSEC_EP_ROOTS, "roots",
	 h_roots},
	{FSEC_ROUTE_POST, "/v1/enc-key", false, FSEC_ROUTE_PEER_DEVICE, FSEC_EP_ENC_KEY,
	 "enc_key", h_enc_key},
	{FSEC_ROUTE_POST, "/v1/emqx/authn", false, FSEC_ROUTE_PEER_BROKER, FSEC_EP_EMQX_AUTHN,
	 "emqx_authn", h_emqx_authn},
	{FSEC_ROUTE_POST, "/v1/emqx/authz", false, FSEC_ROUTE_PEER_BROKER, FSEC_EP_EMQX_AUTHZ,
	 "emqx_authz", h_emqx_authz},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static const struct route *find(const char *path)
{
	if (path == NULL)
		return NULL;
	for (size_t i = 0; i < NROUTES; i++) {
		size_t n = strlen(routes[i].path);

		if (routes[i].prefix ? strncmp(path, routes[i].path, n) == 0
				     : strcmp(path, routes[i].path) == 0)
			return &routes[i];
	}
	return NULL;
}

FSEC_API enum fsec_route_peer fsec_route_peer_of(const struct fsec_est_peer *peer)
{
	switch (peer->kind) {
	case FSEC_EST_PEER_NONE: return FSEC_ROUTE_PEER_NONE;
	case FSEC_EST_PEER_DEVICE: return FSEC_ROUTE_PEER_DEVICE;
	case FSEC_EST_PEER_BOOTSTRAP: return FSEC_ROUTE_PEER_BOOTSTRAP;
	case FSEC_EST_PEER_PAIRED: return FSEC_ROUTE_PEER_PAIRED;
	case FSEC_EST_PEER_ROLE:
		return strcmp(peer->role, "broker") == 0 ? FSEC_ROUTE_PEER_BROKER
							 : FSEC_ROUTE_PEER_ROLE;
	case FSEC_EST_PEER_REFUSED: break;
	}
	/* Fail closed: any kind not named above is a refused peer. */
	if (peer->superseded)
		return FSEC_ROUTE_PEER_SUPERSEDED;
	return peer->bad_bootstrap ? FSEC_ROUTE_PEER_BAD_BOOTSTRAP : FSEC_ROUTE_PEER_REFUSED;
}

FSEC_API bool fsec_route_peer_admitted(const struct fsec_est_peer *peer)
{
	unsigned kind = (unsigned)fsec_route_peer_of(peer);

	for (size_t i = 0; i < NROUTES; i++)
		if (routes[i].peers != FSEC_ROUTE_PEER_ANY && (routes[i].peers & kind) != 0)
			return true;
	return false;
}

FSEC_API enum fsec_endpoint fsec_route_endpoint(const char *path)
{
	const struct route *rt = find(path);

	return rt != NULL ? rt->ep : FSEC_EP_OTHER;
}

FSEC_API const char *fsec_route_endpoint_name(enum fsec_endpoint ep)
{
	for (size_t i = 0; i < NROUTES; i++)
		if (routes[i].ep == ep)
			return routes[i].name;
	return "other";
}

/* Who the peer is comes before what it asks for: a peer that may not use
 * the path, or any path (no certificate, a refused one), learns nothing
 * about which paths exist. */
static void refuse(const struct fsec_est_peer *peer, unsigned kind, struct fsec_reply *r)
{
	if (kind == FSEC_ROUTE_PEER_NONE)
		fsec_reply_error(r, 401, "a client certificate is required");
	else if (kind == FSEC_ROUTE_PEER_SUPERSEDED || kind == FSEC_ROUTE_PEER_REFUSED ||
		 kind == FSEC_ROUTE_PEER_BAD_BOOTSTRAP)
		fsec_reply_error(r, 403, "%s", peer->reason);
	else if (kind == FSEC_ROUTE_PEER_BOOTSTRAP)
		/* A bootstrap credential is for enrolling, nothing else. */
		fsec_reply_error(r, 403, "the device API needs an operational certificate");
	else if (kind == FSEC_ROUTE_PEER_PAIRED)
		/* A paired key is for its one enrollment, nothing else. */
		fsec_reply_error(r, 403, "a paired key may only enroll (simpleenroll)");
	else if (kind == FSEC_ROUTE_PEER_ROLE)
		fsec_reply_error(r, 403, "a %s certificate is an MQTT client's: nothing here",
				 peer->role);
	else if (kind == FSEC_ROUTE_PEER_BROKER)
		fsec_reply_error(r, 403, "a broker certificate is for /v1/emqx/authn and authz only");
	else
		fsec_reply_error(r, 404, "no such endpoint");
}

FSEC_API bool fsec_route_decide(enum fsec_route_method method, const char *path,
				const struct fsec_est_peer *peer, enum fsec_endpoint *ep,
				struct fsec_reply *refusal)
{
	const struct route *rt = find(path);
	unsigned kind = (unsigned)fsec_route_peer_of(peer);

	memset(refusal, 0, sizeof(*refusal));
	*ep = rt != NULL ? rt->ep : FSEC_EP_OTHER;
	if (rt == NULL || (rt->peers & kind) == 0) {
		refuse(peer, kind, refusal);
		return false;
	}
	if (method != rt->method) {
		fsec_reply_error(refusal, 405, "use %s", rt->method == FSEC_ROUTE_GET ? "GET" : "POST");
		return false;
	}
	return true;
}

/* ---- the request's framing ---- */

static bool name_is(const char *name, const char *want)
{
	for (; *want != '\0'; name++, want++) {
		char c = *name;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != *want)
			return false;
	}
	return *name == '\0';
}

static void framing_refuse(struct fsec_route_framing *f, const char *why)
{
	if (f->why == NULL)
		f->why = why;
}

FSEC_API void fsec_route_framing_init(struct fsec_route_framing *f, const char *target)
{
	const unsigned char *p = (const unsigned char *)target;

	memset(f, 0, sizeof(*f));
	if (p == NULL || *p == '\0') {
		framing_refuse(f, "bad request target");
		return;
	}
	/* Visible ASCII only: what a client percent-encodes never reaches a
	 * handler or the log raw. */
	for (; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f) {
			framing_refuse(f, "bad request target");
			return;
		}
}

FSEC_API void fsec_route_framing_header(struct fsec_route_framing *f, const char *name,
					const char *value)
{
	if (name == NULL)
		return;
	if (name_is(name, "content-length")) {
		size_t n = 0;

		/* Counted before the value is looked at: a second header
		 * is refused whatever the first one said. */
		f->content_lengths++;
		if (value == NULL || value[0] == '\0')
			framing_refuse(f, "bad Content-Length");
		else
			for (; value[n] != '\0'; n++)
				/* 19 digits: below 2^63, whatever reads it next. */
				if (value[n] < '0' || value[n] > '9' || n >= 19) {
					framing_refuse(f, "bad Content-Length");
					break;
				}
	} else if (name_is(name, "transfer-encoding")) {
		f->transfer_encodings++;
		if (value == NULL || !name_is(value, "chunked"))
			framing_refuse(f, "unsupported Transfer-Encoding");
	}
}

FSEC_API bool fsec_route_framing_ok(const struct fsec_route_framing *f,
				    struct fsec_reply *refusal)
{
	const char *why = f->why;

	memset(refusal, 0, sizeof(*refusal));
	if (why == NULL && f->content_lengths > 1)
		why = "more than one Content-Length";
	if (why == NULL && f->transfer_encodings > 1)
		why = "more than one Transfer-Encoding";
	if (why == NULL && f->content_lengths > 0 && f->transfer_encodings > 0)
		why = "both Content-Length and Transfer-Encoding";
	if (why == NULL)
		return true;
	fsec_reply_error(refusal, 400, "%s", why);
	return false;
}

FSEC_API enum fsec_err fsec_route_ctx_new(struct fsec_fleet *f, struct fsec_est *e,
					  const char *home, struct fsec_route_ctx **out)
{
	struct fsec_route_ctx *c = NULL;
	enum fsec_err rc;

	if (strlen(home) > HOME_PATH_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "home path too long");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	/* 1,024 sets of 8: a fleet's active devices, a few hundred KiB. */
	if ((rc = fsec_ratelimit_new(60, 3600, 1024, &c->reports)) != FSEC_OK) {
		free(c);
		return rc;
	}

	c->f = f;
	c->e = e;
	snprintf(c->fw_dir, sizeof(c->fw_dir), "%s/firmware", home);
	snprintf(c->crl_path, sizeof(c->crl_path), "%s/crl.pem", home);
	snprintf(c->roots_path, sizeof(c->roots_path), "%s/%s", home, FSEC_PUBLISH_ROOTS_FILE);
	*out = c;
	return FSEC_OK;
}

FSEC_API void fsec_route_ctx_free(struct fsec_route_ctx *c)
{
	if (c == NULL)
		return;
	fsec_crl_cache_cleanup(&c->crl);
	fsec_ratelimit_free(c->reports);
	fsec_fw_enc_key_free(c->fw_holder);
	free(c);
}

FSEC_API void fsec_route_set_emqx(struct fsec_route_ctx *c, fsec_route_body_fn authn,
				  fsec_route_body_fn authz, void *arg)
{
	c->emqx_authn = authn;
	c->emqx_authz = authz;
	c->emqx_arg = arg;
}

FSEC_API void fsec_route_set_limits(struct fsec_route_ctx *c, const struct fsec_servercfg *cfg)
{
	struct fsec_est_limits l = {
		.renew_after_percent = (unsigned)cfg->renew_after_percent,
		.renewals_per_day = (unsigned)cfg->renewals_per_day,
		.refusals_per_minute = (unsigned)cfg->refusals_per_minute,
	};

	fsec_est_set_limits(c->e, &l);
	fsec_ratelimit_set(c->reports, (unsigned)cfg->reports_per_hour, 3600);
	c->enc_key_off = strcmp(cfg->enc_key_self_enroll, "off") == 0;
}

FSEC_API enum fsec_err fsec_route_handle(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
					 const struct fsec_route_request *q, struct fsec_reply *r)
{
	const struct route *rt = find(q->path);
	struct fsec_route_request body = *q;
	enum fsec_endpoint ep;
	enum fsec_err rc;

	fsec_clearerr();
	if (!fsec_route_decide(q->method, q->path, peer, &ep, r))
		return FSEC_OK;
	/* Handlers read (body, len) without a NULL check. */
	if (body.body == NULL) {
		body.body = (const unsigned char *)"";
		body.len = 0;
	}
	if ((rc = rt->fn(c, peer, &body, r)) == FSEC_OK)
		return FSEC_OK;
	/* Whatever the handler had started is not sent. */
	fsec_reply_cleanup(r);
	if (rc == FSEC_ERR_BUSY) {
		fsec_reply_error(r, 503, "the registry is busy; try again");
		r->retry_after = 1;
	} else if (rc == FSEC_ERR_UNAVAILABLE) {
		/* No answer rather than one from a registry it cannot read. */
		fsec_reply_error(r, 503, "the registry is unreachable; try again");
		r->retry_after = FSEC_ROUTE_UNAVAILABLE_RETRY_S;
	} else {
		fsec_reply_error(r, 500, "internal error");
	}
	return rc;
}

FSEC_API enum fsec_err fsec_route_set_fw_key(struct fsec_route_ctx *c, const char *path)
{
	struct fsec_fw_enc_key *k = NULL;
	enum fsec_err rc;

	if (path[0] != '\0' && (rc = fsec_fw_enc_key_load(path, true, &k)) != FSEC_OK)
		return fsec_seterr(rc, "firmware_enc_key %s: %s", path, fsec_err_detail());
	fsec_fw_enc_key_free(c->fw_holder);
	c->fw_holder = k;
	return FSEC_OK;
}
