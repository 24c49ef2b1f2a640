/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsecd's CoAP resources (coap.h): a table from each CoAP resource to
 * its route (routes.c), and the two translations between them. The route
 * table decides who may reach what; nothing here decides policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "b64_int.h"
#include "coap_int.h"
#include "err_int.h"
#include "reply_int.h"
#include "fleetsec/coap.h"
#include "fleetsec/release.h"

#define EST_HTTP "/.well-known/est/"
#define EST_COAP "/.well-known/est/"

/* What a resource answers with, and so which Accept values it can meet. */
enum out_kind {
	OUT_CERTS, /* a certs-only CMS: 281, or one certificate as 287 */
	OUT_ATT,   /* CSR attributes: 285 */
	OUT_JSON,  /* the device API: 50 */
	OUT_FILE,  /* the firmware: 42, from the route's open file; its wrapped
		    * key (GET /v1/firmware/SHA256/key), 42 from the body */
	OUT_RAW,   /* the CRL: 42, the route's bytes (DER, or PEM after a
		    * rotation); the registry has no CRL format */
};

struct res {
	struct fsec_coap_resource pub; /* path without the leading '/' */
	const char *route_path;        /* the HTTPS route that answers */
	enum out_kind out;
	int in_cf;   /* the Content-Format a POST must carry; NONE for a GET */
	bool prefix; /* pub.path is a prefix; the route is asked the whole path */
};

/* RFC 9148 section 4.1 names the resources and their rt values; ct lists
 * what each can answer, the default first. */
static const struct res table[] = {
	{{".well-known/est/crts", "\"ace.est.crts\"", "\"281 287\""}, EST_HTTP "cacerts", OUT_CERTS,
	 FSEC_COAP_CF_NONE, false},
	{{".well-known/est/sen", "\"ace.est.sen\"", "\"281 287\""}, EST_HTTP "simpleenroll",
	 OUT_CERTS, FSEC_COAP_CF_PKCS10, false},
	{{".well-known/est/sren", "\"ace.est.sren\"", "\"281 287\""}, EST_HTTP "simplereenroll",
	 OUT_CERTS, FSEC_COAP_CF_PKCS10, false},
	{{".well-known/est/att", "\"ace.est.att\"", "285"}, EST_HTTP "csrattrs", OUT_ATT,
	 FSEC_COAP_CF_NONE, false},
	{{"v1/status", NULL, "50"}, "/v1/status", OUT_JSON, FSEC_COAP_CF_JSON, false},
	{{"v1/update", NULL, "50"}, "/v1/update", OUT_JSON, FSEC_COAP_CF_NONE, false},
	{{"v1/roots", NULL, "50"}, "/v1/roots", OUT_JSON, FSEC_COAP_CF_NONE, false},
	{{"v1/tamper", NULL, "50"}, "/v1/tamper", OUT_JSON, FSEC_COAP_CF_JSON, false},
	/* The device's key PEM, as text (0): no Content-Format names PEM. */
	{{"v1/enc-key", NULL, "50"}, "/v1/enc-key", OUT_JSON, FSEC_COAP_CF_TEXT, false},
	/* The agent checks the server's certificate against it. */
	{{"crl", NULL, "42"}, "/crl", OUT_RAW, FSEC_COAP_CF_NONE, false},
	/* Prefixes last: fsec_coap_resources lists the exact ones only. */
	{{FSEC_RELEASE_FIRMWARE_PATH + 1, NULL, "42"}, NULL, OUT_FILE, FSEC_COAP_CF_NONE, true},
};
#define NTABLE (sizeof(table) / sizeof(table[0]))
#define NEXACT (NTABLE - 1)

FSEC_API const struct fsec_coap_resource *fsec_coap_resources(size_t *n)
{
	static struct fsec_coap_resource pub[NEXACT];

	/* The same constants every time: copying them again is harmless. */
	for (size_t i = 0; i < NEXACT; i++)
		pub[i] = table[i].pub;
	*n = NEXACT;
	return pub;
}

static const struct res *find(const char *path);

FSEC_API enum fsec_endpoint fsec_coap_endpoint(const char *path)
{
	const struct res *r = find(path);

	if (r == NULL)
		return FSEC_EP_OTHER;
	return fsec_route_endpoint(r->route_path != NULL ? r->route_path : path);
}

FSEC_API bool fsec_coap_uint_option(const unsigned char *v, size_t len, int *out)
{
	int n = 0;

	/* Content-Format and Accept are 0-2 bytes (RFC 7252 section 12.3):
	 * a longer value is malformed, never truncated. */
	if (len > 2 || (len > 0 && v == NULL))
		return false;
	for (size_t i = 0; i < len; i++)
		n = (n << 8) | v[i];
	*out = n;
	return true;
}

FSEC_API void fsec_coap_answer_cleanup(struct fsec_coap_answer *a)
{
	if (a == NULL)
		return;
	if (a->has_file)
		close(a->file_fd);
	free(a->body);
	memset(a, 0, sizeof(*a));
	a->content_format = FSEC_COAP_CF_NONE;
	a->max_age = -1;
}

static const struct res *find(const char *path)
{
	if (path == NULL || path[0] != '/')
		return NULL;
	for (size_t i = 0; i < NTABLE; i++)
		if (table[i].prefix ? strncmp(path + 1, table[i].pub.path,
					      strlen(table[i].pub.path)) == 0
				    : strcmp(path + 1, table[i].pub.path) == 0)
			return &table[i];
	return NULL;
}

/* The CoAP code of an HTTP status, by meaning (RFC 8075 section 7). */
static unsigned code_of(int status, unsigned method)
{
	static const struct {
		int http;
		unsigned coap;
	} map[] = {
		{400, FSEC_COAP_CODE(4, 0)},  {401, FSEC_COAP_CODE(4, 1)},
		{403, FSEC_COAP_CODE(4, 3)},  {404, FSEC_COAP_CODE(4, 4)},
		{405, FSEC_COAP_CODE(4, 5)},  {406, FSEC_COAP_CODE(4, 6)},
		{409, FSEC_COAP_CODE(4, 9)},  {412, FSEC_COAP_CODE(4, 12)},
		{413, FSEC_COAP_CODE(4, 13)}, {415, FSEC_COAP_CODE(4, 15)},
		{429, FSEC_COAP_CODE(4, 29)}, {501, FSEC_COAP_CODE(5, 1)},
		{502, FSEC_COAP_CODE(5, 2)},  {503, FSEC_COAP_CODE(5, 3)},
		{504, FSEC_COAP_CODE(5, 4)},
	};

	if (status >= 200 && status < 300 && status != 202)
		return method == FSEC_COAP_POST ? FSEC_COAP_CODE(2, 4) : FSEC_COAP_CODE(2, 5);
	/* 202: the enrollment waits for the operator; RFC 9148 section 5
	 * answers a delayed enrollment with 5.03 and Max-Age. */
	if (status == 202)
		return FSEC_COAP_CODE(5, 3);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].http == status)
			return map[i].coap;
	return status >= 400 && status < 500 ? FSEC_COAP_CODE(4, 0) : FSEC_COAP_CODE(5, 0);
}

/* An error answer: the code and the reason as the diagnostic payload
 * (RFC 7252 section 5.5.2: no Content-Format). */
static enum fsec_err diagnostic(struct fsec_coap_answer *a, unsigned code, const char *reason,
				int max_age)
{
	size_t n = strlen(reason);

	fsec_coap_answer_cleanup(a);
	a->code = code;
	a->max_age = max_age;
	snprintf(a->reason, sizeof(a->reason), "%s", reason);
	if (n == 0)
		return FSEC_OK;
	if ((a->body = malloc(n)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	memcpy(a->body, reason, n);
	a->len = n;
	return FSEC_OK;
}

/* One certificate of a certs-only CMS as DER (287): the only one, or, in a
 * set of several (crts: the issuing CAs and the root), the self-signed
 * root, the trust anchor RFC 9148 section 4.1.1 lets a client ask for
 * alone. Errors: CRYPTO. */
static enum fsec_err one_cert(const unsigned char *der, size_t len, unsigned char **out,
			      size_t *olen)
{
	const unsigned char *p = der;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *certs = NULL;
	X509 *pick = NULL;
	unsigned char *buf = NULL;
	int n = 0;
	enum fsec_err rc = FSEC_ERR_CRYPTO;

	if (len > (size_t)FSEC_EST_BODY_MAX || (p7 = d2i_PKCS7(NULL, &p, (long)len)) == NULL ||
	    !PKCS7_type_is_signed(p7) || p7->d.sign == NULL || (certs = p7->d.sign->cert) == NULL ||
	    sk_X509_num(certs) < 1)
		goto out;
	pick = sk_X509_value(certs, 0);
	for (int i = 0; sk_X509_num(certs) > 1 && i < sk_X509_num(certs); i++)
		if (X509_self_signed(sk_X509_value(certs, i), 0) == 1) {
			pick = sk_X509_value(certs, i);
			break;
		}
	if ((n = i2d_X509(pick, &buf)) <= 0)
		goto out;
	*out = buf;
	*olen = (size_t)n;
	buf = NULL;
	rc = FSEC_OK;
out:
	OPENSSL_free(buf);
	PKCS7_free(p7);
	if (rc != FSEC_OK)
		fsec_seterr_ossl(rc, "the answer holds no certificate");
	return rc;
}

/*
 * r (a 2xx answer of res's route) as CoAP content of format cf. The routes
 * answer EST in base64 (RFC 7030); EST-coaps carries DER. Errors: CRYPTO
 * (an answer that is not what the route promises), NOMEM.
 */
static enum fsec_err content(const struct res *res, int cf, const struct fsec_reply *r,
			     struct fsec_coap_answer *a)
{
	unsigned char *der = NULL;
	size_t dlen = 0;
	enum fsec_err rc = FSEC_ERR_CRYPTO;

	if (res->out == OUT_JSON || res->out == OUT_RAW || res->out == OUT_FILE) {
		if (r->len > 0) {
			if ((a->body = malloc(r->len)) == NULL)
				return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			memcpy(a->body, r->body, r->len);
			a->len = r->len;
			a->content_format = res->out == OUT_JSON ? FSEC_COAP_CF_JSON
								 : FSEC_COAP_CF_OCTETS;
		}
		return FSEC_OK;
	}
	if (r->body == NULL ||
	    !fsec_b64_decode_lines((const unsigned char *)r->body, r->len, FSEC_EST_BODY_MAX, &der,
				   &dlen))
		return fsec_seterr(FSEC_ERR_CRYPTO, "the route's answer is not base64");
	if (res->out == OUT_CERTS && cf == FSEC_COAP_CF_PKIX_CERT) {
		unsigned char *one = NULL;
		size_t olen = 0;

		if ((rc = one_cert(der, dlen, &one, &olen)) != FSEC_OK)
			goto out;
		/* The library's DER buffer goes back to the C heap the answer
		 * is freed from. */
		if ((a->body = malloc(olen)) == NULL) {
			OPENSSL_free(one);
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
		memcpy(a->body, one, olen);
		a->len = olen;
		OPENSSL_free(one);
	} else {
		a->body = der;
		a->len = dlen;
		der = NULL;
	}
	a->content_format = res->out == OUT_ATT ? FSEC_COAP_CF_CSRATTRS : cf;
	rc = FSEC_OK;
out:
	free(der);
	return rc;
}

/* The format to answer in: the Accept value if the resource can meet it,
 * else its default; false if it cannot (4.06). */
static bool answer_format(const struct res *res, int accept, int *cf)
{
	switch (res->out) {
	case OUT_CERTS:
		*cf = accept == FSEC_COAP_CF_NONE ? FSEC_COAP_CF_PKCS7_CERTS : accept;
		return *cf == FSEC_COAP_CF_PKCS7_CERTS || *cf == FSEC_COAP_CF_PKIX_CERT;
	case OUT_ATT: *cf = FSEC_COAP_CF_CSRATTRS; break;
	case OUT_JSON: *cf = FSEC_COAP_CF_JSON; break;
	case OUT_FILE:
	case OUT_RAW: *cf = FSEC_COAP_CF_OCTETS; break;
	}
	return accept == FSEC_COAP_CF_NONE || accept == *cf;
}

void fsec_coap_prep_cleanup(struct fsec_coap_prep *p)
{
	if (p == NULL)
		return;
	free(p->b64);
	memset(p, 0, sizeof(*p));
}

enum fsec_err fsec_coap_prepare(const struct fsec_coap_request *q,
				const struct fsec_est_peer *peer, struct fsec_coap_prep *p,
				struct fsec_coap_answer *a)
{
	const struct res *res = find(q->path);
	struct fsec_reply refusal = {0};
	enum fsec_endpoint ep;

	memset(p, 0, sizeof(*p));
	memset(a, 0, sizeof(*a));
	fsec_coap_answer_cleanup(a);
	p->res = res;
	p->cf = FSEC_COAP_CF_NONE;
	p->rq.method = q->method == FSEC_COAP_GET    ? FSEC_ROUTE_GET
		       : q->method == FSEC_COAP_POST ? FSEC_ROUTE_POST
						     : FSEC_ROUTE_OTHER;
	/* A path outside the CoAP table never reaches an HTTPS-only route. */
	p->rq.path = res == NULL ? NULL : res->prefix ? q->path : res->route_path;
	p->rq.source = q->source;
	/* Who the peer is comes first, from the one table. */
	if (!fsec_route_decide(p->rq.method, p->rq.path, peer, &ep, &refusal))
		return diagnostic(a, code_of(refusal.status, q->method), refusal.reason, -1);
	if (res->in_cf == FSEC_COAP_CF_NONE && q->len > 0)
		return diagnostic(a, FSEC_COAP_CODE(4, 0), "a GET carries no payload", -1);
	if (res->in_cf != FSEC_COAP_CF_NONE && q->content_format != res->in_cf)
		return diagnostic(a, FSEC_COAP_CODE(4, 15),
				  res->in_cf == FSEC_COAP_CF_PKCS10
					  ? "send the CSR as Content-Format 286 (application/pkcs10)"
				  : res->in_cf == FSEC_COAP_CF_TEXT
					  ? "send the PEM key as Content-Format 0 (text/plain)"
					  : "send JSON (Content-Format 50)",
				  -1);
	/* The cap the HTTPS body has, counted before base64. */
	if (q->len > FSEC_COAP_BODY_MAX)
		return diagnostic(a, FSEC_COAP_CODE(4, 13), "payload too large", -1);
	if (!answer_format(res, q->accept, &p->cf))
		return diagnostic(a, FSEC_COAP_CODE(4, 6),
				  "this resource cannot answer in that format", -1);
	if (res->in_cf == FSEC_COAP_CF_PKCS10) {
		/* The EST policy reads a base64 CSR (RFC 7030); an empty one
		 * is refused there, as over HTTPS. */
		if (q->len > 0 && (p->b64 = fsec_b64_encode(q->body, q->len)) == NULL) {
			(void)diagnostic(a, FSEC_COAP_CODE(5, 0), "internal error", -1);
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		}
		p->rq.body = (const unsigned char *)p->b64;
		p->rq.len = p->b64 != NULL ? strlen(p->b64) : 0;
	} else {
		p->rq.body = q->body;
		p->rq.len = q->len;
	}
	p->go = true;
	return FSEC_OK;
}

enum fsec_err fsec_coap_finish(const struct fsec_coap_prep *p, unsigned method,
			       struct fsec_reply *r, struct fsec_coap_answer *a)
{
	enum fsec_err rc;

	fsec_coap_answer_cleanup(a);
	if (r->status < 200 || r->status >= 300 || r->status == 202)
		return diagnostic(a, code_of(r->status, method),
				  r->reason[0] != '\0' ? r->reason : "refused",
				  r->retry_after > 0 ? r->retry_after : (r->status == 202 ? 1 : -1));
	a->code = code_of(r->status, method);
	if (r->status == 204)
		return FSEC_OK;
	if (r->has_file && ((const struct res *)p->res)->out == OUT_FILE) {
		a->has_file = true;
		a->file_fd = r->file_fd;
		a->file_off = r->file_off;
		a->file_len = r->file_len;
		a->content_format = FSEC_COAP_CF_OCTETS;
		r->has_file = false;
		return FSEC_OK;
	}
	/* A file body anywhere else is not what the route promised. Under the
	 * firmware prefix a body is the image's wrapped key. */
	if (r->has_file)
		rc = fsec_seterr(FSEC_ERR_INVAL, "a file answer where none belongs");
	else if ((rc = content(p->res, p->cf, r, a)) == FSEC_OK)
		return FSEC_OK;
	(void)diagnostic(a, FSEC_COAP_CODE(5, 0), "internal error", -1);
	return rc;
}

FSEC_API enum fsec_err fsec_coap_handle(struct fsec_route_ctx *c, const struct fsec_est_peer *peer,
					const struct fsec_coap_request *q,
					struct fsec_coap_answer *a)
{
	struct fsec_coap_prep p;
	struct fsec_reply r = {0};
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fsec_coap_prepare(q, peer, &p, a)) != FSEC_OK || !p.go)
		goto out;
	if ((rc = fsec_route_handle(c, peer, &p.rq, &r)) != FSEC_OK) {
		/* r holds fsec_route_handle's 500 or 503: sent as it is. */
		(void)fsec_coap_finish(&p, q->method, &r, a);
		goto out;
	}
	rc = fsec_coap_finish(&p, q->method, &r, a);
out:
	fsec_reply_cleanup(&r);
	fsec_coap_prep_cleanup(&p);
	return rc;
}
