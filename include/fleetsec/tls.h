/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TLS policy of fleetsec's servers, in one place: TLS 1.3 preferred,
 * TLS 1.2 only with ECDHE and AEAD suites (AES-GCM, ChaCha20-Poly1305, and
 * AES-128-CCM for constrained devices), no compression, no renegotiation,
 * client certificates requested and verified when sent.
 */
#ifndef FLEETSEC_TLS_H
#define FLEETSEC_TLS_H

#include <openssl/ssl.h>

#include "fleetsec/common.h"

/* The suites offered, in order of preference (OpenSSL names). */
#define FSEC_TLS12_CIPHERS                                                             \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"                 \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-CCM"
#define FSEC_TLS13_SUITES                                                              \
	"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:"  \
	"TLS_AES_128_CCM_SHA256"

struct fsec_tls_server_opts {
	const char *cert_chain;          /* PEM: server certificate, then its chain */
	const char *key;                 /* path or OpenSSL store URI */
	X509_STORE *trust;               /* anchors for client certificates (referenced) */
	STACK_OF(X509_NAME) *client_cas; /* sent in CertificateRequest (taken) */
	/* Let a client whose certificate is self-signed, alone, finish the
	 * handshake (it still proves its key): the application decides, per
	 * request, whether that key was paired (issue 18). */
	bool allow_self_signed;
};

/*
 * A server SSL_CTX with the policy above. A client that sends no
 * certificate still completes the handshake (the application decides per
 * request); one that sends a certificate that does not verify does not.
 * The server key must be ECDSA P-256 (every device TLS stack has it).
 * Errors: NOTFOUND/IO (files), PARSE, POLICY (key type), CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_tls_server_ctx(const struct fsec_tls_server_opts *o,
						    SSL_CTX **out);

#endif
