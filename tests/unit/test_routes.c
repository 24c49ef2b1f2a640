/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsecd's route table: every peer kind against every route (and an
 * unknown path, and the wrong method), then the table with its handlers on
 * a real fleet: a superseded certificate gets the renewal re-send and is
 * refused everywhere else; /crl, firmware and a busy registry answer through
 * the same call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <time.h>

#include "crl_int.h"
#include "fleetsec/est.h"
#include "fleetsec/fleet.h"
#include "fleetsec/routes.h"
#include "fleetsec/servercfg.h"
#include "testutil.h"

#define EST "/.well-known/est/"
#define SUPERSEDED_REASON "certificate 01 is no longer device dev-1's (superseded)"
#define REVOKED_REASON "device dev-1 is revoked"

enum kind { NONE, BOOTSTRAP, DEVICE, SUPERSEDED, REVOKED, NKINDS };

static struct fsec_est_peer peer_of(enum kind k)
{
	struct fsec_est_peer p;

	memset(&p, 0, sizeof(p));
	switch (k) {
	case NONE: break;
	case BOOTSTRAP:
		p.kind = FSEC_EST_PEER_BOOTSTRAP;
		snprintf(p.id, sizeof(p.id), "%s", "SN-1"); /* test fixture: a short literal */
		break;
	case DEVICE:
		p.kind = FSEC_EST_PEER_DEVICE;
		snprintf(p.id, sizeof(p.id), "%s", "dev-1");
		break;
	case SUPERSEDED:
		p.kind = FSEC_EST_PEER_REFUSED;
		p.superseded = true;
		snprintf(p.id, sizeof(p.id), "%s", "dev-1");
		snprintf(p.reason, sizeof(p.reason), "%s", SUPERSEDED_REASON);
		break;
	case REVOKED:
	case NKINDS:
		p.kind = FSEC_EST_PEER_REFUSED;
		snprintf(p.id, sizeof(p.id), "%s", "dev-1");
		snprintf(p.reason, sizeof(p.reason), "%s", REVOKED_REASON);
		break;
	}
	return p;
}

/* What each peer kind gets for one request: 0 = its handler is reached,
 * else the refusal's status. */
struct row {
	enum fsec_route_method method;
	const char *path;
	enum fsec_endpoint ep;
	int want[NKINDS]; /* NONE, BOOTSTRAP, DEVICE, SUPERSEDED, REVOKED */
};

static const struct row rows[] = {
	{FSEC_ROUTE_GET, EST "cacerts", FSEC_EP_CACERTS, {0, 0, 0, 0, 0}},
	{FSEC_ROUTE_GET, "/crl", FSEC_EP_CRL, {0, 0, 0, 0, 0}},
	{FSEC_ROUTE_POST, "/crl", FSEC_EP_CRL, {405, 405, 405, 405, 405}},
	{FSEC_ROUTE_POST, EST "cacerts", FSEC_EP_CACERTS, {405, 405, 405, 405, 405}},
	{FSEC_ROUTE_POST, EST "simpleenroll", FSEC_EP_SIMPLEENROLL, {401, 0, 0, 403, 403}},
	{FSEC_ROUTE_GET, EST "simpleenroll", FSEC_EP_SIMPLEENROLL, {401, 405, 405, 403, 403}},
	/* The one door a superseded certificate has: the renewal re-send. */
	{FSEC_ROUTE_POST, EST "simplereenroll", FSEC_EP_SIMPLEREENROLL, {401, 0, 0, 0, 403}},
	{FSEC_ROUTE_GET, EST "simplereenroll", FSEC_EP_SIMPLEREENROLL, {401, 405, 405, 405, 403}},
	{FSEC_ROUTE_GET, EST "csrattrs", FSEC_EP_CSRATTRS, {401, 0, 0, 403, 403}},
	{FSEC_ROUTE_POST, EST "csrattrs", FSEC_EP_CSRATTRS, {401, 405, 405, 403, 403}},
	{FSEC_ROUTE_GET, "/v1/update", FSEC_EP_UPDATE, {401, 403, 0, 403, 403}},
	{FSEC_ROUTE_POST, "/v1/update", FSEC_EP_UPDATE, {401, 403, 405, 403, 403}},
	{FSEC_ROUTE_POST, "/v1/status", FSEC_EP_STATUS, {401, 403, 0, 403, 403}},
	{FSEC_ROUTE_GET, "/v1/status", FSEC_EP_STATUS, {401, 403, 405, 403, 403}},
	{FSEC_ROUTE_GET, "/v1/roots", FSEC_EP_ROOTS, {401, 403, 0, 403, 403}},
	{FSEC_ROUTE_POST, "/v1/roots", FSEC_EP_ROOTS, {401, 403, 405, 403, 403}},
	{FSEC_ROUTE_GET,
	 "/v1/firmware/0000000000000000000000000000000000000000000000000000000000000000",
	 FSEC_EP_FIRMWARE,
	 {401, 403, 0, 403, 403}},
	{FSEC_ROUTE_GET, "/v1/firmware/", FSEC_EP_FIRMWARE, {401, 403, 0, 403, 403}},
	{FSEC_ROUTE_GET, "/v1/nothing", FSEC_EP_OTHER, {401, 403, 404, 403, 403}},
	{FSEC_ROUTE_GET, "/", FSEC_EP_OTHER, {401, 403, 404, 403, 403}},
	{FSEC_ROUTE_GET, EST "simplereenroll/x", FSEC_EP_OTHER, {401, 403, 404, 403, 403}},
	{FSEC_ROUTE_OTHER, "/v1/update", FSEC_EP_UPDATE, {401, 403, 405, 403, 403}},
	{FSEC_ROUTE_OTHER, EST "simplereenroll", FSEC_EP_SIMPLEREENROLL, {401, 405, 405, 405, 403}},
};

/* The reason each refusal carries, unchanged from before the table. */
static void check_reason(enum kind k, const struct fsec_reply *r)
{
	switch (r->status) {
	case 401: assert_string_equal(r->reason, "a client certificate is required"); break;
	case 403:
		if (k == BOOTSTRAP)
			assert_string_equal(r->reason,
					    "the device API needs an operational certificate");
		else
			assert_string_equal(r->reason,
					    k == SUPERSEDED ? SUPERSEDED_REASON : REVOKED_REASON);
		break;
	case 404: assert_string_equal(r->reason, "no such endpoint"); break;
	case 405:
		assert_true(strcmp(r->reason, "use GET") == 0 || strcmp(r->reason, "use POST") == 0);
		break;
	default: fail_msg("unexpected refusal %d", r->status);
	}
}

static void peer_kind_by_route(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		for (int k = 0; k < NKINDS; k++) {
			struct fsec_est_peer p = peer_of((enum kind)k);
			struct fsec_reply r;
			enum fsec_endpoint ep = FSEC_EP_COUNT;
			bool reached = fsec_route_decide(rows[i].method, rows[i].path, &p, &ep, &r);

			if (reached != (rows[i].want[k] == 0) ||
			    (!reached && r.status != rows[i].want[k]))
				fail_msg("%s %s as kind %d: %s %d (%s), expected %d",
					 rows[i].method == FSEC_ROUTE_GET ? "GET" : "POST",
					 rows[i].path, k, reached ? "reached" : "refused", r.status,
					 r.reason, rows[i].want[k]);
			assert_int_equal(ep, rows[i].ep);
			assert_int_equal(fsec_route_endpoint(rows[i].path), rows[i].ep);
			if (!reached)
				check_reason((enum kind)k, &r);
			fsec_reply_cleanup(&r);
		}
}

static void peer_kinds_and_names(void **state)
{
	struct fsec_est_peer p = peer_of(SUPERSEDED);

	(void)state;
	assert_int_equal(fsec_route_peer_of(&p), FSEC_ROUTE_PEER_SUPERSEDED);
	p.superseded = false;
	assert_int_equal(fsec_route_peer_of(&p), FSEC_ROUTE_PEER_REFUSED);
	/* An unknown kind is refused, never a device. */
	p.kind = (enum fsec_est_peer_kind)42;
	assert_int_equal(fsec_route_peer_of(&p), FSEC_ROUTE_PEER_REFUSED);
	assert_int_equal(fsec_route_endpoint(NULL), FSEC_EP_OTHER);
	/* The metrics labels, from the same table. */
	assert_string_equal(fsec_route_endpoint_name(FSEC_EP_CACERTS), "cacerts");
	assert_string_equal(fsec_route_endpoint_name(FSEC_EP_CRL), "crl");
	assert_string_equal(fsec_route_endpoint_name(FSEC_EP_SIMPLEENROLL), "simpleenroll");
	assert_string_equal(fsec_route_endpoint_name(FSEC_EP_SIMPLEREENROLL), "simplereenroll");
	assert_string_equal(fsec_route_endpoint_name(FSEC_EP_CSRATTRS), "csrattrs");
	assert_string_equal(fsec_route_endpoint_name(FSEC_EP_UPDATE), "update");
	assert_string_equal(fsec_route_endpoint_name(FSEC_EP_FIRMWARE), "firmware");
	assert_string_equal(fsec_route_endpoint_name(FSEC_EP_STATUS), "status");
	assert_string_equal(fsec_route_endpoint_name(FSEC_EP_ROOTS), "roots");
	assert_string_equal(fsec_route_endpoint_name(FSEC_EP_OTHER), "other");
	assert_string_equal(fsec_route_endpoint_name(FSEC_EP_COUNT), "other");
}

/* ---- the table with its handlers, on a real fleet ---- */

struct fixture {
	char *dir, *home;
	struct fsec_fleet *f;
	struct fsec_est *e;
	struct fsec_route_ctx *c;
	X509 *cert;
	EVP_PKEY *key;
};

static X509 *der_cert(const struct fsec_issued_cert *c)
{
	const unsigned char *p = c->der;
	X509 *x = d2i_X509(NULL, &p, (long)c->der_len);

	assert_non_null(x);
	return x;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct fsec_fleet_create_params p = {.name = "Routes Unit", .actor = "test"};
	struct fsec_issue_opts o = {.id = "dev-1", .actor = "test"};
	struct fsec_issued_cert c = {0};
	X509_REQ *req;

	fx->key = tu_key("p256");
	req = tu_csr(fx->key, "dev-1");
	fx->dir = tu_mkdtemp();
	fx->home = tu_path(fx->dir, "home");
	assert_int_equal(fsec_fleet_create(fx->home, &p), FSEC_OK);
	assert_int_equal(fsec_fleet_open(fx->home, &fx->f), FSEC_OK);
	assert_int_equal(fsec_fleet_issue(fx->f, req, &o, &c), FSEC_OK);
	fx->cert = der_cert(&c);
	fsec_issued_cert_cleanup(&c);
	X509_REQ_free(req);
	assert_int_equal(fsec_est_new(fx->f, &fx->e), FSEC_OK);
	assert_int_equal(fsec_route_ctx_new(fx->f, fx->e, fx->home, &fx->c), FSEC_OK);
	/* These tests renew a certificate issued a moment ago. */
	fsec_est_set_limits(fx->e, &(struct fsec_est_limits){0, 100, 100});
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	fsec_route_ctx_free(fx->c);
	fsec_est_free(fx->e);
	fsec_fleet_free(fx->f);
	X509_free(fx->cert);
	EVP_PKEY_free(fx->key);
	tu_rmtree(fx->dir);
	free(fx->home);
	free(fx->dir);
	free(fx);
	return 0;
}

/* A base64 CSR for key with cert's subject, NUL-terminated. */
static char *b64_csr(X509 *cert, EVP_PKEY *key, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	unsigned char *der;
	char *b64;
	size_t n;

	assert_true(X509_REQ_set_subject_name(req, X509_get_subject_name(cert)));
	assert_true(X509_REQ_set_pubkey(req, key));
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	der = tu_csr_der(req, &n);
	b64 = malloc(n * 2 + 4);
	assert_true(EVP_EncodeBlock((unsigned char *)b64, der, (int)n) > 0);
	*len = strlen(b64);
	free(der);
	X509_REQ_free(req);
	return b64;
}

/* method path from cert (classified by fsec_est_peer), with body. */
static enum fsec_err call(struct fixture *fx, X509 *cert, enum fsec_route_method m,
			  const char *path, const char *body, size_t len, struct fsec_reply *r)
{
	struct fsec_est_peer peer;
	struct fsec_route_request q = {.method = m, .path = path,
				       .body = (const unsigned char *)body, .len = len};

	assert_int_equal(fsec_est_peer(fx->e, cert, NULL, &peer), FSEC_OK);
	return fsec_route_handle(fx->c, &peer, &q, r);
}

/* The certificate in a certs-only answer (base64 with line breaks). */
static X509 *answer_cert(const struct fsec_reply *r)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	unsigned char *der = malloc(r->len + 1);
	const unsigned char *p = der;
	PKCS7 *p7;
	X509 *x;
	int n = 0, m = 0;

	assert_int_equal(r->status, 200);
	EVP_DecodeInit(ctx);
	assert_true(EVP_DecodeUpdate(ctx, der, &n, (const unsigned char *)r->body, (int)r->len) >= 0);
	assert_int_equal(EVP_DecodeFinal(ctx, der + n, &m), 1);
	assert_non_null(p7 = d2i_PKCS7(NULL, &p, n + m));
	x = sk_X509_value(p7->d.sign->cert, 0);
	X509_up_ref(x);
	PKCS7_free(p7);
	EVP_ENCODE_CTX_free(ctx);
	free(der);
	return x;
}

/* A renewal whose answer was lost, retried through the route table with
 * the certificate it superseded: the current certificate again, and nothing
 * else for that certificate. */
static void superseded_reaches_resend_only(void **state)
{
	struct fixture *fx = *state;
	struct fsec_reply r1 = {0}, r2 = {0}, r = {0};
	EVP_PKEY *k2 = tu_key("p256");
	size_t len = 0;
	char *csr = b64_csr(fx->cert, k2, &len);
	X509 *c1, *c2;

	assert_int_equal(call(fx, fx->cert, FSEC_ROUTE_POST, EST "simplereenroll", csr, len, &r1),
			 FSEC_OK);
	c1 = answer_cert(&r1);
	/* The answer is lost; the retry comes from the old certificate. */
	assert_int_equal(call(fx, fx->cert, FSEC_ROUTE_POST, EST "simplereenroll", csr, len, &r2),
			 FSEC_OK);
	assert_int_equal(r2.status, 200);
	assert_non_null(strstr(r2.reason, "re-sent"));
	c2 = answer_cert(&r2);
	assert_int_equal(X509_cmp(c1, c2), 0);
	/* Everything else stays shut to the superseded certificate. */
	static const struct {
		enum fsec_route_method m;
		const char *path;
	} shut[] = {
		{FSEC_ROUTE_GET, "/v1/update"},
		{FSEC_ROUTE_POST, "/v1/status"},
		{FSEC_ROUTE_GET, "/v1/roots"},
		{FSEC_ROUTE_GET,
		 "/v1/firmware/0000000000000000000000000000000000000000000000000000000000000000"},
		{FSEC_ROUTE_POST, EST "simpleenroll"},
		{FSEC_ROUTE_GET, EST "csrattrs"},
	};
	for (size_t i = 0; i < sizeof(shut) / sizeof(shut[0]); i++) {
		assert_int_equal(call(fx, fx->cert, shut[i].m, shut[i].path, csr, len, &r), FSEC_OK);
		assert_int_equal(r.status, 403);
		assert_non_null(strstr(r.reason, "superseded"));
		fsec_reply_cleanup(&r);
	}
	/* The new certificate works where the old one does not. */
	assert_int_equal(call(fx, c2, FSEC_ROUTE_GET, "/v1/update", NULL, 0, &r), FSEC_OK);
	assert_int_equal(r.status, 204);
	fsec_reply_cleanup(&r);
	/* The re-send is for the current key's CSR only: the old key's own
	 * CSR (a thief holding the superseded key) gets nothing. */
	free(csr);
	csr = b64_csr(fx->cert, fx->key, &len);
	assert_int_equal(call(fx, fx->cert, FSEC_ROUTE_POST, EST "simplereenroll", csr, len, &r),
			 FSEC_OK);
	assert_int_equal(r.status, 403);
	fsec_reply_cleanup(&r);
	X509_free(c1);
	X509_free(c2);
	free(csr);
	fsec_reply_cleanup(&r1);
	fsec_reply_cleanup(&r2);
	EVP_PKEY_free(k2);
}

/* GET /crl answers the home's CRL as DER, and follows the file. */
static void crl_through_the_table(void **state)
{
	struct fixture *fx = *state;
	struct fsec_reply r = {0};
	X509_CRL *crl = NULL;
	const unsigned char *p;
	unsigned char *der = NULL;
	size_t len = 0;

	assert_int_equal(call(fx, NULL, FSEC_ROUTE_GET, "/crl", NULL, 0, &r), FSEC_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/pkix-crl");
	p = (const unsigned char *)r.body;
	assert_non_null(crl = d2i_X509_CRL(NULL, &p, (long)r.len));
	assert_true(X509_CRL_get_REVOKED(crl) == NULL ||
		    sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == 0);
	X509_CRL_free(crl);
	fsec_reply_cleanup(&r);
	/* A revocation rewrites crl.pem: the next answer lists it. */
	assert_int_equal(fsec_fleet_revoke(fx->f, "dev-1", 1, "test"), FSEC_OK);
	assert_int_equal(call(fx, NULL, FSEC_ROUTE_GET, "/crl", NULL, 0, &r), FSEC_OK);
	p = (const unsigned char *)r.body;
	assert_non_null(crl = d2i_X509_CRL(NULL, &p, (long)r.len));
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
	/* The one encoder: the same bytes. */
	assert_int_equal(fsec_crl_encode(crl, FSEC_CRL_DER, &der, &len), FSEC_OK);
	assert_int_equal(len, r.len);
	assert_memory_equal(der, r.body, len);
	free(der);
	X509_CRL_free(crl);
	fsec_reply_cleanup(&r);
	/* A CRL file that no longer loads is not answered with the old list. */
	{
		char *path = tu_path(fx->home, "crl.pem");

		tu_write(path, "garbage\n", 8);
		assert_int_equal(call(fx, NULL, FSEC_ROUTE_GET, "/crl", NULL, 0, &r), FSEC_OK);
		assert_int_equal(r.status, 500);
		assert_string_equal(r.reason, "the CRL is not available");
		assert_null(r.body);
		fsec_reply_cleanup(&r);
		free(path);
	}
}

/* An expired crl.pem, signed by the fleet's issuing CA with a CRL number of
 * 1000, as a home left alone past its nextUpdate would hold. */
static void write_expired_crl(struct fixture *fx)
{
	char *kp = tu_path(fx->home, "issuing.key"), *cp = tu_path(fx->home, "issuing.pem");
	char *path = tu_path(fx->home, "crl.pem");
	FILE *fp;
	EVP_PKEY *key;
	X509 *iss;
	X509_CRL *crl = X509_CRL_new();
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	ASN1_TIME *t = ASN1_TIME_new();
	time_t now = time(NULL);

	assert_non_null(fp = fopen(kp, "r"));
	assert_non_null(key = PEM_read_PrivateKey(fp, NULL, NULL, NULL));
	fclose(fp);
	assert_non_null(fp = fopen(cp, "r"));
	assert_non_null(iss = PEM_read_X509(fp, NULL, NULL, NULL));
	fclose(fp);
	assert_true(X509_CRL_set_version(crl, X509_CRL_VERSION_2));
	assert_true(X509_CRL_set_issuer_name(crl, X509_get_subject_name(iss)));
	assert_non_null(X509_time_adj_ex(t, -3, 0, &now));
	assert_true(X509_CRL_set1_lastUpdate(crl, t));
	assert_non_null(X509_time_adj_ex(t, -1, 0, &now));
	assert_true(X509_CRL_set1_nextUpdate(crl, t));
	assert_true(ASN1_INTEGER_set_uint64(num, 1000));
	assert_true(X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0));
	assert_true(X509_CRL_sign(crl, key, NULL) > 0);
	assert_non_null(fp = fopen(path, "w"));
	assert_true(PEM_write_X509_CRL(fp, crl));
	fclose(fp);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	X509_free(iss);
	EVP_PKEY_free(key);
	free(path);
	free(cp);
	free(kp);
}

/* GET /crl never serves a list that is not valid now: an expired one is
 * re-signed first, numbered above it, listing what the registry says. */
static void crl_expired_is_resigned(void **state)
{
	struct fixture *fx = *state;
	struct fsec_reply r = {0};
	X509_CRL *crl = NULL;
	const unsigned char *p;
	struct fsec_crl_info info;
	time_t now = time(NULL);

	assert_int_equal(fsec_fleet_revoke(fx->f, "dev-1", 1, "test"), FSEC_OK);
	/* Served once, so that the cache holds it before the file changes. */
	assert_int_equal(call(fx, NULL, FSEC_ROUTE_GET, "/crl", NULL, 0, &r), FSEC_OK);
	assert_int_equal(r.status, 200);
	fsec_reply_cleanup(&r);
	write_expired_crl(fx);
	assert_int_equal(call(fx, NULL, FSEC_ROUTE_GET, "/crl", NULL, 0, &r), FSEC_OK);
	assert_int_equal(r.status, 200);
	p = (const unsigned char *)r.body;
	assert_non_null(crl = d2i_X509_CRL(NULL, &p, (long)r.len));
	assert_int_equal(fsec_crl_info_get(crl, &info), FSEC_OK);
	assert_int_equal(info.number, 1001);
	assert_true(info.this_update <= (int64_t)now + 1 && info.next_update > (int64_t)now);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
	X509_CRL_free(crl);
	fsec_reply_cleanup(&r);
}

/* What only a restart may change is refused on reload, naming the key;
 * what a reload applies (limits, timeout, the CRL schedule) is not. */
static void servercfg_restart_needed(void **state)
{
	static const char *const restart[] = {"listen = 127.0.0.1:9443\n",
					       "admin = 127.0.0.1:9100\n",
					       "max_connections = 10\n",
					       "max_per_source = 7\n",
					       "release_key = k.pem\n",
					       "release_delegation = d.json\n",
					       "release_root = r.pub\n"};
	static const char *const names[] = {"listen", "admin", "max_connections",
					    "max_per_source", "release_key",
					    "release_delegation", "release_root"};
	static const char *const applied = "timeout = 3\ncrl_delay = 5\nrenewals_per_day = 9\n"
					   "reports_per_hour = 7\napproval = manual\n";
	struct fsec_servercfg was, now;

	(void)state;
	fsec_servercfg_defaults(&was);
	for (size_t i = 0; i < sizeof(restart) / sizeof(restart[0]); i++) {
		assert_int_equal(fsec_servercfg_parse((const unsigned char *)restart[i],
						      strlen(restart[i]), &now),
				 FSEC_OK);
		assert_string_equal(fsec_servercfg_restart_needed(&was, &now), names[i]);
	}
	assert_int_equal(fsec_servercfg_parse((const unsigned char *)applied, strlen(applied), &now),
			 FSEC_OK);
	assert_null(fsec_servercfg_restart_needed(&was, &now));
}

/* fleetsecd.conf's CRL settings: defaults, a share written 0.D to 0.DDD
 * within 0.01-0.9, a delay in seconds. */
static void servercfg_crl_settings(void **state)
{
	static const char *bad[] = {"crl_refresh = 0.95\n", "crl_refresh = 1\n",
				    "crl_refresh = 0.005\n", "crl_refresh = 0.\n",
				    "crl_refresh = .5\n", "crl_refresh = 0.5x\n",
				    "crl_refresh = half\n", "crl_refresh = 0.0\n",
				    "crl_delay = 3601\n", "crl_delay = -1\n",
				    /* The rollout timer: 1 to 60 seconds. */
				    "rollout_tick = 0\n", "rollout_tick = 61\n"};
	struct fsec_servercfg c;
	const char *good = "crl_refresh = 0.25\ncrl_delay = 0\n";

	(void)state;
	fsec_servercfg_defaults(&c);
	assert_int_equal(c.crl_refresh_permille, 500);
	assert_int_equal(c.crl_delay, 1);
	assert_int_equal(c.rollout_tick, 10);
	assert_int_equal(fsec_servercfg_parse((const unsigned char *)good, strlen(good), &c), FSEC_OK);
	assert_int_equal(c.crl_refresh_permille, 250);
	assert_int_equal(c.crl_delay, 0);
	good = "rollout_tick = 60\n";
	assert_int_equal(fsec_servercfg_parse((const unsigned char *)good, strlen(good), &c), FSEC_OK);
	assert_int_equal(c.rollout_tick, 60);
	good = "crl_refresh = 0.9\n";
	assert_int_equal(fsec_servercfg_parse((const unsigned char *)good, strlen(good), &c), FSEC_OK);
	assert_int_equal(c.crl_refresh_permille, 900);
	good = "crl_refresh = 0.015\n";
	assert_int_equal(fsec_servercfg_parse((const unsigned char *)good, strlen(good), &c), FSEC_OK);
	assert_int_equal(c.crl_refresh_permille, 15);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (fsec_servercfg_parse((const unsigned char *)bad[i], strlen(bad[i]), &c) !=
		    FSEC_ERR_PARSE)
			fail_msg("accepted: %s", bad[i]);
	/* Self-enrolment of encryption keys: on by default, on or off. */
	assert_string_equal(c.enc_key_self_enroll, "on");
	good = "enc_key_self_enroll = off\n";
	assert_int_equal(fsec_servercfg_parse((const unsigned char *)good, strlen(good), &c), FSEC_OK);
	assert_string_equal(c.enc_key_self_enroll, "off");
	good = "enc_key_self_enroll = maybe\n";
	assert_int_equal(fsec_servercfg_parse((const unsigned char *)good, strlen(good), &c),
			 FSEC_ERR_PARSE);
	assert_string_equal(fsec_err_detail(), "enc_key_self_enroll must be on or off");
}

/* Firmware: only the published image, and nothing published is 404. */
static void firmware_not_offered(void **state)
{
	struct fixture *fx = *state;
	struct fsec_reply r = {0};

	assert_int_equal(call(fx, fx->cert, FSEC_ROUTE_GET,
			      "/v1/firmware/0000000000000000000000000000000000000000000000000000000000000000",
			      NULL, 0, &r),
			 FSEC_OK);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.reason, "no such image");
	assert_false(r.has_file);
	fsec_reply_cleanup(&r);
	/* Not a SHA-256 name: never a path under the firmware directory. */
	assert_int_equal(call(fx, fx->cert, FSEC_ROUTE_GET, "/v1/firmware/../crl.pem", NULL, 0, &r),
			 FSEC_OK);
	assert_int_equal(r.status, 404);
	fsec_reply_cleanup(&r);
}

/* GET /v1/roots: 204 until the release root is rotated, then the chain
 * file's bytes; a chain that cannot be read is a 500, never an empty 200. */
static void roots_through_the_table(void **state)
{
	struct fixture *fx = *state;
	struct fsec_reply r = {0};
	char *path = tu_path(fx->home, "release-roots.json");
	static const char chain[] = "{\"roots\": []}\n";

	assert_int_equal(call(fx, fx->cert, FSEC_ROUTE_GET, "/v1/roots", NULL, 0, &r), FSEC_OK);
	assert_int_equal(r.status, 204);
	assert_null(r.body);
	fsec_reply_cleanup(&r);
	tu_write(path, chain, sizeof(chain) - 1);
	assert_int_equal(call(fx, fx->cert, FSEC_ROUTE_GET, "/v1/roots", NULL, 0, &r), FSEC_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/json");
	assert_int_equal(r.len, sizeof(chain) - 1);
	assert_memory_equal(r.body, chain, r.len);
	fsec_reply_cleanup(&r);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(call(fx, fx->cert, FSEC_ROUTE_GET, "/v1/roots", NULL, 0, &r), FSEC_OK);
	assert_int_equal(r.status, 500);
	assert_null(r.body);
	fsec_reply_cleanup(&r);
	assert_int_equal(rmdir(path), 0);
	free(path);
}

/* A manufacturer's certificate with an unusable serial reaches simpleenroll
 * (POST) and nothing else, where the EST server logs its refusal; everywhere
 * else it is refused as a revoked certificate is, with its own reason. */
static void bad_bootstrap_reaches_enroll_only(void **state)
{
	static const char reason[] = "bootstrap certificate refused: the serialNumber holds a NUL byte";

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fsec_est_peer p;
		struct fsec_reply r;
		enum fsec_endpoint ep = FSEC_EP_COUNT;
		bool enroll = strcmp(rows[i].path, EST "simpleenroll") == 0;
		int want = enroll ? (rows[i].method == FSEC_ROUTE_POST ? 0 : 405)
				  : rows[i].want[REVOKED];
		bool reached;

		memset(&p, 0, sizeof(p));
		p.kind = FSEC_EST_PEER_REFUSED;
		p.bad_bootstrap = true;
		snprintf(p.reason, sizeof(p.reason), "%s", reason);
		assert_int_equal(fsec_route_peer_of(&p), FSEC_ROUTE_PEER_BAD_BOOTSTRAP);
		reached = fsec_route_decide(rows[i].method, rows[i].path, &p, &ep, &r);
		if (reached != (want == 0) || (!reached && r.status != want))
			fail_msg("%s: %s %d, expected %d", rows[i].path, reached ? "reached" : "refused",
				 r.status, want);
		if (!reached && r.status == 403)
			assert_string_equal(r.reason, reason);
		fsec_reply_cleanup(&r);
	}
}

/* The request's framing: one Content-Length of plain digits, or one
 * Transfer-Encoding: chunked; never both, never two; a visible-ASCII target. */
static bool framing(const char *target, const char *const *hdrs)
{
	struct fsec_route_framing f;
	struct fsec_reply r;
	bool ok;

	fsec_route_framing_init(&f, target);
	for (; hdrs[0] != NULL; hdrs += 2)
		fsec_route_framing_header(&f, hdrs[0], hdrs[1]);
	ok = fsec_route_framing_ok(&f, &r);
	if (!ok) {
		assert_int_equal(r.status, 400);
		assert_true(r.reason[0] != '\0');
	}
	fsec_reply_cleanup(&r);
	return ok;
}

static void framing_strict(void **state)
{
	const char *none[] = {NULL};
	const char *cl[] = {"Content-Length", "31", "Host", "x", NULL};
	const char *cl0[] = {"content-length", "0", NULL};
	const char *te[] = {"Transfer-Encoding", "Chunked", NULL};
	const char *two[] = {"Content-Length", "31", "CONTENT-LENGTH", "31", NULL};
	const char *both[] = {"Content-Length", "31", "Transfer-Encoding", "chunked", NULL};
	const char *both2[] = {"transfer-encoding", "chunked", "content-length", "3", NULL};
	const char *tetwo[] = {"Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked", NULL};
	const char *tegz[] = {"Transfer-Encoding", "gzip, chunked", NULL};
	const char *bad[] = {"+31", " 31", "\t31", "0x1f", "", "31 ", "3 1", "31,31", "-1",
			     "12345678901234567890", NULL};

	(void)state;
	assert_true(framing("/crl", none));
	assert_true(framing("/crl", cl));
	assert_true(framing("/v1/status", cl0));
	assert_true(framing("/crl?a=%0d%0a", te));
	assert_true(framing("/crl", (const char *[]){"Content-Length", "1234567890123456789", NULL}));
	assert_false(framing("/crl", two));
	assert_false(framing("/crl", both));
	assert_false(framing("/crl", both2));
	assert_false(framing("/crl", tetwo));
	assert_false(framing("/crl", tegz));
	for (size_t i = 0; bad[i] != NULL; i++)
		assert_false(framing("/crl", (const char *[]){"Content-Length", bad[i], NULL}));
	assert_false(framing(NULL, none));
	assert_false(framing("", none));
	assert_false(framing("/crl\r", none));
	assert_false(framing("/crl\x1b[2K", none));
	assert_false(framing("/crl x", none));
	assert_false(framing("/crl\x7f", none));
	assert_false(framing("/cr\xc3\xa9", none));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(peer_kind_by_route),
		cmocka_unit_test(peer_kinds_and_names),
		cmocka_unit_test(bad_bootstrap_reaches_enroll_only),
		cmocka_unit_test(framing_strict),
		cmocka_unit_test_setup_teardown(superseded_reaches_resend_only, setup, teardown),
		cmocka_unit_test_setup_teardown(crl_through_the_table, setup, teardown),
		cmocka_unit_test_setup_teardown(crl_expired_is_resigned, setup, teardown),
		cmocka_unit_test(servercfg_crl_settings),
		cmocka_unit_test(servercfg_restart_needed),
		cmocka_unit_test_setup_teardown(firmware_not_offered, setup, teardown),
		cmocka_unit_test_setup_teardown(roots_through_the_table, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
