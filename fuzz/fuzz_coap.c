/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fleetsecd's CoAP resources (coap.c): what a CoAPs
 * client controls (the method, the Uri-Path, the Content-Format and Accept
 * option values, the payload) on its way to the route table
 * (fsec_coap_prepare), and the translation of a route's answer back into
 * CoAP (fsec_coap_finish: base64, certs-only CMS, status codes), with the
 * input's tail as the answer's body. Input layout: byte 0 method, byte 1
 * peer kind, bytes 2-3 and 4-5 the Content-Format and Accept option values
 * (their lengths from byte 6), byte 7 the answer's status, then the path up
 * to a newline, then the payload. Properties checked: an accepted request
 * names a route, carries at most FSEC_COAP_BODY_MAX bytes and answers in a
 * format its resource offers; every answer has a CoAP code of class 2, 4 or
 * 5, and a refusal says why. No set-up: nothing here touches the registry.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coap_int.h"
#include "fleetsec/coap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = {200, 202, 204, 400, 401, 403, 404, 409, 413, 429, 500, 503};
	struct fsec_coap_request q = {0};
	struct fsec_est_peer peer = {0};
	struct fsec_coap_prep p;
	struct fsec_coap_answer a = {0};
	struct fsec_reply r = {0};
	char path[300];
	const uint8_t *nl, *rest;
	size_t plen, rlen;
	int cf = 0, acc = 0;
	unsigned cls;

	if (size < 8)
		return 0;
	/* The option parser alone: 0-2 bytes are a value, 3 or more refused. */
	if (!fsec_coap_uint_option(data + 2, data[6] & 3, &cf) != ((data[6] & 3) > 2))
		abort();
	if (!fsec_coap_uint_option(data + 4, (data[6] >> 2) & 1 ? 2 : 0, &acc))
		abort();
	q.method = data[0] & 7;
	q.content_format = (data[6] & 3) > 2 ? FSEC_COAP_CF_NONE : cf;
	q.accept = (data[6] >> 2) & 1 ? acc : FSEC_COAP_CF_NONE;
	peer.kind = (enum fsec_est_peer_kind)(data[1] % 5);
	peer.superseded = (data[1] & 0x80) != 0;
	snprintf(peer.reason, sizeof(peer.reason), "fuzz refusal");
	snprintf(peer.id, sizeof(peer.id), "SN-FUZZ");
	rest = data + 8;
	rlen = size - 8;
	nl = memchr(rest, '\n', rlen);
	plen = nl != NULL ? (size_t)(nl - rest) : rlen;
	if (plen >= sizeof(path))
		plen = sizeof(path) - 1;
	memcpy(path, rest, plen);
	path[plen] = '\0';
	q.path = path;
	if (nl != NULL) {
		q.body = nl + 1;
		q.len = rlen - (size_t)(nl + 1 - rest);
	}
	if (fsec_coap_prepare(&q, &peer, &p, &a) == FSEC_OK && p.go) {
		if (p.rq.path == NULL || q.len > FSEC_COAP_BODY_MAX)
			abort();
		/* The route's answer: the payload again, as its body. */
		r.status = statuses[data[7] % (sizeof(statuses) / sizeof(statuses[0]))];
		snprintf(r.reason, sizeof(r.reason), "fuzz reason");
		if (q.len > 0 && (r.body = malloc(q.len)) != NULL) {
			memcpy(r.body, q.body, q.len);
			r.len = q.len;
		}
		(void)fsec_coap_finish(&p, q.method, &r, &a);
		if (a.code >> 5 == 2 && a.content_format != FSEC_COAP_CF_NONE &&
		    a.content_format != p.cf)
			abort();
		fsec_reply_cleanup(&r);
	}
	fsec_coap_prep_cleanup(&p);
	cls = a.code >> 5;
	if (cls != 2 && cls != 4 && cls != 5)
		abort();
	if (cls != 2 && a.reason[0] == '\0')
		abort();
	fsec_coap_answer_cleanup(&a);
	return 0;
}
