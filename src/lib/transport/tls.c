/* SPDX-License-Identifier: Apache-2.0 */
/* The TLS policy of fleetsec's servers (tls.h), in one place. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "err_int.h"
#include "fleetsec/key.h"
#include "fleetsec/tls.h"

/* Only what P-256 devices and modern peers need; X25519 first for speed. */
#define GROUPS "X25519:P-256:P-384"

/* A lone self-signed client certificate passes the chain check, and
 * nothing else does: any other error still fails the handshake. */
static int self_signed_ok(int ok, X509_STORE_CTX *ctx)
{
	if (ok)
		return 1;
	return X509_STORE_CTX_get_error(ctx) == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT &&
	       X509_STORE_CTX_get_error_depth(ctx) == 0;
}

FSEC_API enum fsec_err fsec_tls_server_ctx(const struct fsec_tls_server_opts *o, SSL_CTX **out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *key = NULL;
	enum fsec_err rc = FSEC_ERR_CRYPTO;

	if (ctx == NULL) {
		sk_X509_NAME_pop_free(o->client_cas, X509_NAME_free);
		fsec_seterr_ossl(rc, "cannot create a TLS context");
		goto out;
	}
	SSL_CTX_set_client_CA_list(ctx, o->client_cas);
	/* No TLS 1.0/1.1; no compression (CRIME); no renegotiation of any kind
	 * (a client-driven CPU sink; OpenSSL 3 refuses client-initiated
	 * renegotiation unless allowed); the server's order decides. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, FSEC_TLS12_CIPHERS) ||
	    !SSL_CTX_set_ciphersuites(ctx, FSEC_TLS13_SUITES) ||
	    !SSL_CTX_set1_groups_list(ctx, GROUPS)) {
		fsec_seterr_ossl(rc, "cannot apply the TLS policy");
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_chain) != 1) {
		rc = fsec_seterr_ossl(FSEC_ERR_PARSE, "%s: cannot load the server certificate chain",
				      o->cert_chain);
		goto out;
	}
	if ((rc = fsec_key_load_private(o->key, &key)) != FSEC_OK)
		goto out;
	if (!EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_bits(key) != 256) {
		rc = fsec_seterr(FSEC_ERR_POLICY, "server key must be ECDSA P-256");
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		rc = fsec_seterr_ossl(FSEC_ERR_POLICY, "server key does not match %s", o->cert_chain);
		goto out;
	}
	rc = FSEC_ERR_CRYPTO;
	SSL_CTX_set_cert_store(ctx, o->trust);
	X509_STORE_up_ref(o->trust);
	/* Request, verify if sent, but let certificate-less clients through:
	 * /cacerts and /crl are public, and each request is authorised on its
	 * own (revocation must bite mid-connection too). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, o->allow_self_signed ? self_signed_ok : NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	/* No resumption: every connection is a full handshake with the
	 * client's certificate, and no ticket key lives in the server's memory
	 * to decrypt recorded sessions with. It also spares each handshake the
	 * two NewSessionTicket messages TLS 1.3 would send. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!SSL_CTX_set_num_tickets(ctx, 0) ||
	    !SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"fleetsecd", 9)) {
		fsec_seterr_ossl(rc, "cannot set the session policy");
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	*out = ctx;
	ctx = NULL;
	rc = FSEC_OK;
out:
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return rc;
}
