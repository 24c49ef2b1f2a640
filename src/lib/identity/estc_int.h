/* SPDX-License-Identifier: Apache-2.0 */
/* The EST client's parser of the server's answers (estc.c), internal to
 * identity/ and to its fuzz target (fuzz/fuzz_estc_answer.c). */
#ifndef FLEETSEC_ESTC_INT_H
#define FLEETSEC_ESTC_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "fleetsec/common.h"

/* The most an EST answer may be (certificates of a chain, never more). */
#define FSEC_ESTC_ANSWER_MAX (64u * 1024u)

/*
 * The certificates in a certs-only CMS: base64 with line breaks (RFC 7030,
 * HTTPS) or DER (der_in: RFC 9148, CoAPs). Exactly want of them, or (want
 * 0) at least one; the caller frees *out with sk_X509_pop_free.
 * Errors: PARSE.
 */
enum fsec_err fsec_estc_parse_certs(const unsigned char *body, size_t len, bool der_in, int want,
				    STACK_OF(X509) **out);

#endif
