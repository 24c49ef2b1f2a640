/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: fsec_coap_handle's two halves, without the route context, so
 * that the fuzz target reaches every check a CoAPs client can drive. */
#ifndef FLEETSEC_COAP_INT_H
#define FLEETSEC_COAP_INT_H

#include <stdbool.h>

#include "fleetsec/coap.h"

struct fsec_coap_prep {
	bool go;                        /* false: a holds the refusal */
	const void *res;                /* the resource (coap.c's table) */
	struct fsec_route_request rq;   /* what the route table is asked */
	char *b64;                      /* rq.body when it is the CSR in base64 */
	int cf;                         /* the format to answer in */
};

/*
 * The route table's decision and the request's formats: on FSEC_OK, either
 * p->go with p->rq ready for fsec_route_handle, or a refusal in a. Errors:
 * NOMEM (a holds 5.00). p is always initialised: fsec_coap_prep_cleanup it.
 */
enum fsec_err fsec_coap_prepare(const struct fsec_coap_request *q,
				const struct fsec_est_peer *peer, struct fsec_coap_prep *p,
				struct fsec_coap_answer *a);
/* r (the route's answer to p->rq) as CoAP in a; a file body (the
 * firmware) moves from r to a. Errors: CRYPTO (an answer that is not what
 * its route promises), INVAL (a file body on another resource), NOMEM; a
 * then holds 5.00. */
enum fsec_err fsec_coap_finish(const struct fsec_coap_prep *p, unsigned method,
			       struct fsec_reply *r, struct fsec_coap_answer *a);
void fsec_coap_prep_cleanup(struct fsec_coap_prep *p);

#endif
