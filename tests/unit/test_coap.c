/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsecd's CoAP resources (coap.c) without a fleet: the option parser's
 * boundaries, the resource list /.well-known/core is made from, the route
 * table's decisions and the format checks (fsec_coap_prepare), and the
 * translation of a route's answer (fsec_coap_finish). The whole path through
 * fleetsecd is tests/integration/coaps_est.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coap_int.h"
#include "fleetsec/coap.h"

static struct fsec_est_peer peer_of(enum fsec_est_peer_kind k)
{
	struct fsec_est_peer p = {.kind = k};

	snprintf(p.id, sizeof(p.id), "SN-1");
	snprintf(p.reason, sizeof(p.reason), "device SN-1 is revoked");
	return p;
}

static void uint_option_bounds(void **state)
{
	const unsigned char v[3] = {0x01, 0x1f, 0x00};
	int n = -5;

	(void)state;
	assert_true(fsec_coap_uint_option(v, 0, &n)); /* empty: 0 (RFC 7252 3.2) */
	assert_int_equal(n, 0);
	assert_true(fsec_coap_uint_option(v + 1, 1, &n));
	assert_int_equal(n, 0x1f);
	assert_true(fsec_coap_uint_option(v, 2, &n)); /* 287 */
	assert_int_equal(n, FSEC_COAP_CF_PKIX_CERT);
	n = 7;
	assert_false(fsec_coap_uint_option(v, 3, &n)); /* 3 bytes: malformed */
	assert_int_equal(n, 7);                        /* and not written */
}

static void body_cap_text(void **state)
{
	char buf[16];

	(void)state;
	/* The listener's message names the cap by this string. */
	snprintf(buf, sizeof(buf), "%u", (unsigned)FSEC_COAP_BODY_MAX);
	assert_string_equal(buf, FSEC_COAP_BODY_MAX_STR);
}

/* The handshake's verdict comes from the route table: a peer is admitted
 * if some route beyond the anonymous ones takes its kind. */
static void admitted_at_handshake(void **state)
{
	struct fsec_est_peer p = peer_of(FSEC_EST_PEER_DEVICE);

	(void)state;
	assert_true(fsec_route_peer_admitted(&p));
	p.kind = FSEC_EST_PEER_BOOTSTRAP;
	assert_true(fsec_route_peer_admitted(&p));
	p.kind = FSEC_EST_PEER_REFUSED; /* revoked, unknown */
	assert_false(fsec_route_peer_admitted(&p));
	p.superseded = true; /* may still ask for the resend of its renewal */
	assert_true(fsec_route_peer_admitted(&p));
	p.superseded = false;
	p.bad_bootstrap = true; /* reaches simpleenroll, to be refused and logged */
	assert_true(fsec_route_peer_admitted(&p));
	p = peer_of(FSEC_EST_PEER_NONE);
	assert_false(fsec_route_peer_admitted(&p));
}

static void resources_for_discovery(void **state)
{
	size_t n = 0;
	const struct fsec_coap_resource *r = fsec_coap_resources(&n);
	bool crts = false;

	(void)state;
	assert_int_equal(n, 10);
	for (size_t i = 0; i < n; i++) {
		assert_true(r[i].path[0] != '/'); /* libcoap's names have no leading '/' */
		if (strcmp(r[i].path, ".well-known/est/crts") == 0)
			crts = strcmp(r[i].rt, "\"ace.est.crts\"") == 0;
	}
	assert_true(crts);
}

/* prepare's verdict on q from a peer of kind k: the CoAP code of a refusal,
 * or 0 when the request goes to its route. */
static unsigned verdict(enum fsec_est_peer_kind k, unsigned method, const char *path, int cf,
			int accept, size_t len)
{
	static const unsigned char body[FSEC_COAP_BODY_MAX + 1];
	struct fsec_est_peer p = peer_of(k);
	struct fsec_coap_request q = {.method = method, .path = path, .content_format = cf,
				      .accept = accept, .body = body, .len = len};
	struct fsec_coap_prep pr;
	struct fsec_coap_answer a;
	unsigned code;

	assert_int_equal(fsec_coap_prepare(&q, &p, &pr, &a), FSEC_OK);
	code = pr.go ? 0 : a.code;
	if (!pr.go)
		assert_true(a.reason[0] != '\0');
	fsec_coap_prep_cleanup(&pr);
	fsec_coap_answer_cleanup(&a);
	return code;
}

#define NONE FSEC_COAP_CF_NONE
#define GET FSEC_COAP_GET
#define POST FSEC_COAP_POST

static void prepare_decisions(void **state)
{
	(void)state;
	/* EST for a bootstrap certificate. */
	assert_int_equal(verdict(FSEC_EST_PEER_BOOTSTRAP, GET, "/.well-known/est/crts", NONE, NONE, 0), 0);
	assert_int_equal(verdict(FSEC_EST_PEER_BOOTSTRAP, POST, "/.well-known/est/sen", 286, 287, 200), 0);
	/* Formats: 4.15, 4.06, 4.13 (boundary: the cap passes, one more not). */
	assert_int_equal(verdict(FSEC_EST_PEER_BOOTSTRAP, POST, "/.well-known/est/sen", 0, NONE, 200),
			 FSEC_COAP_CODE(4, 15));
	assert_int_equal(verdict(FSEC_EST_PEER_BOOTSTRAP, POST, "/.well-known/est/sen", NONE, NONE, 200),
			 FSEC_COAP_CODE(4, 15));
	assert_int_equal(verdict(FSEC_EST_PEER_BOOTSTRAP, GET, "/.well-known/est/crts", NONE, 50, 0),
			 FSEC_COAP_CODE(4, 6));
	assert_int_equal(verdict(FSEC_EST_PEER_BOOTSTRAP, POST, "/.well-known/est/sen", 286, NONE,
				 FSEC_COAP_BODY_MAX),
			 0);
	assert_int_equal(verdict(FSEC_EST_PEER_BOOTSTRAP, POST, "/.well-known/est/sen", 286, NONE,
				 FSEC_COAP_BODY_MAX + 1),
			 FSEC_COAP_CODE(4, 13));
	/* The route table: method, peer kind, paths outside the CoAP table. */
	assert_int_equal(verdict(FSEC_EST_PEER_BOOTSTRAP, GET, "/.well-known/est/sen", NONE, NONE, 0),
			 FSEC_COAP_CODE(4, 5));
	assert_int_equal(verdict(FSEC_EST_PEER_BOOTSTRAP, GET, "/v1/update", NONE, NONE, 0),
			 FSEC_COAP_CODE(4, 3));
	assert_int_equal(verdict(FSEC_EST_PEER_REFUSED, GET, "/v1/update", NONE, NONE, 0),
			 FSEC_COAP_CODE(4, 3));
	assert_int_equal(verdict(FSEC_EST_PEER_DEVICE, GET, "/v1/update", NONE, NONE, 0), 0);
	assert_int_equal(verdict(FSEC_EST_PEER_DEVICE, GET, "/.well-known/est/simpleenroll", NONE,
				 NONE, 0),
			 FSEC_COAP_CODE(4, 4));
	/* The fleet CRL, for the agent's check of the server (any peer). */
	assert_int_equal(verdict(FSEC_EST_PEER_BOOTSTRAP, GET, "/crl", NONE, NONE, 0), 0);
	/* The device's encryption key: PEM as text/plain (0), nothing else. */
	assert_int_equal(verdict(FSEC_EST_PEER_DEVICE, POST, "/v1/enc-key", 0, NONE, 10), 0);
	assert_int_equal(verdict(FSEC_EST_PEER_DEVICE, POST, "/v1/enc-key", 50, NONE, 10),
			 FSEC_COAP_CODE(4, 15));
	assert_int_equal(verdict(FSEC_EST_PEER_DEVICE, GET, "/v1/firmware/ab", NONE, NONE, 0), 0);
	assert_int_equal(verdict(FSEC_EST_PEER_DEVICE, GET, "/v1/update", NONE, NONE, 3),
			 FSEC_COAP_CODE(4, 0));
}

/* finish on a route answer with status and body, for a request of kind k
 * to path; the answer's code. */
static unsigned finished(const char *path, unsigned method, int accept, int status,
			 const char *body, struct fsec_coap_answer *a)
{
	struct fsec_est_peer p = peer_of(FSEC_EST_PEER_DEVICE);
	struct fsec_coap_request q = {.method = method, .path = path, .content_format = 286,
				      .accept = accept, .body = (const unsigned char *)"x",
				      .len = method == POST ? 1 : 0};
	struct fsec_coap_prep pr;
	struct fsec_reply r = {.status = status, .retry_after = 30};

	assert_int_equal(fsec_coap_prepare(&q, &p, &pr, a), FSEC_OK);
	assert_true(pr.go);
	snprintf(r.reason, sizeof(r.reason), "why");
	if (body != NULL) {
		r.body = strdup(body);
		r.len = strlen(body);
	}
	(void)fsec_coap_finish(&pr, method, &r, a);
	fsec_reply_cleanup(&r);
	fsec_coap_prep_cleanup(&pr);
	return a->code;
}

static void finish_translations(void **state)
{
	struct fsec_coap_answer a = {0};

	(void)state;
	/* csrattrs: base64 in, DER out (285). "MAA=" is SEQUENCE {}. */
	assert_int_equal(finished("/.well-known/est/att", GET, NONE, 200, "MAA=\r\n", &a),
			 FSEC_COAP_CODE(2, 5));
	assert_int_equal(a.content_format, FSEC_COAP_CF_CSRATTRS);
	assert_int_equal(a.len, 2);
	assert_memory_equal(a.body, "\x30\x00", 2);
	fsec_coap_answer_cleanup(&a);
	/* Waiting for approval: 5.03 with Max-Age. */
	assert_int_equal(finished("/.well-known/est/sen", POST, NONE, 202, NULL, &a),
			 FSEC_COAP_CODE(5, 3));
	assert_int_equal(a.max_age, 30);
	fsec_coap_answer_cleanup(&a);
	/* A refusal keeps its reason; 429 stays 4.29. */
	assert_int_equal(finished("/.well-known/est/sren", POST, NONE, 429, NULL, &a),
			 FSEC_COAP_CODE(4, 29));
	assert_string_equal(a.reason, "why");
	fsec_coap_answer_cleanup(&a);
	/* An answer that is not what the route promised: 5.00, nothing sent. */
	assert_int_equal(finished("/.well-known/est/crts", GET, 287, 200, "not base64!", &a),
			 FSEC_COAP_CODE(5, 0));
	assert_int_equal(a.content_format, NONE);
	fsec_coap_answer_cleanup(&a);
	/* A body under the firmware prefix (an image's wrapped key): octets. */
	assert_int_equal(finished("/v1/firmware/ab", GET, NONE, 200, "bytes", &a),
			 FSEC_COAP_CODE(2, 5));
	assert_int_equal(a.content_format, FSEC_COAP_CF_OCTETS);
	assert_int_equal(a.len, 5);
	fsec_coap_answer_cleanup(&a);
	/* The CRL: the route's bytes, as octets. */
	assert_int_equal(finished("/crl", GET, NONE, 200, "crl!", &a), FSEC_COAP_CODE(2, 5));
	assert_int_equal(a.content_format, FSEC_COAP_CF_OCTETS);
	fsec_coap_answer_cleanup(&a);
	/* Nothing published: 2.05, no payload. */
	assert_int_equal(finished("/v1/update", GET, NONE, 204, NULL, &a), FSEC_COAP_CODE(2, 5));
	assert_null(a.body);
	fsec_coap_answer_cleanup(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uint_option_bounds),
		cmocka_unit_test(body_cap_text),
		cmocka_unit_test(admitted_at_handshake),
		cmocka_unit_test(resources_for_discovery),
		cmocka_unit_test(prepare_decisions),
		cmocka_unit_test(finish_translations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
