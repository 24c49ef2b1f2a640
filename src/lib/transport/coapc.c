/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device's CoAPs client (coapc_int.h) on libcoap 3. libcoap carries
 * DTLS and retransmission. Block-wise transfer (RFC 7959) is done here, one
 * block per exchange, so that a firmware range is exactly the blocks that
 * hold it and a cut transfer resumes at its block (libcoap's own block mode
 * would fetch a body to its end).
 *
 * libcoap checks neither the server's name nor a CRL (libcoap #2047): the
 * session's SSL gets both in libcoap's set-up callback, with the device's
 * key (whatever fsec_key_load_private loaded, a TPM key included), its
 * chain and the pinned anchors, so the DTLS handshake refuses what the
 * HTTPS one refuses.
 */
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "coapc_int.h"
#include "err_int.h"
#include "fault_int.h"
#include "fleetsec/tls.h"

/* The block size asked for: SZX 6, 1024 bytes, the largest over UDP (RFC
 * 7959 section 2.2); libcoap's default MTU (1152) carries it with the
 * headers. A server may answer with smaller blocks, never larger. */
#define SZX_MAX 6u
#define BLOCK_NUM_MAX 0xFFFFFu /* a block number is 20 bits */

struct fsec_coapc {
	coap_context_t *ctx;
	coap_session_t *session; /* NULL before a request, and after a failure */
	coap_address_t dst;
	char host[256];
	bool host_ip;
	char *cert;
	EVP_PKEY *key; /* referenced */
	X509_STORE *trust;
	bool check_crl;
	coap_dtls_pki_t pki;
	/* The exchange in flight: its token, and what answered it. */
	uint8_t tok[8];
	size_t toklen;
	bool done, failed;
	char fail_why[200];
	/* The first error OpenSSL's verification of the server's chain met
	 * in this session (X509_V_OK: none): a failure it caused is VERIFY. */
	int verify_err;
	bool connected; /* the session's handshake completed */
	bool silent;    /* the last exchange's handshake got no answer at all */
	long stall; /* seconds an exchange may go unanswered */
	unsigned code;
	int cf;
	long max_age;
	bool has_b1, has_b2;
	unsigned b1, b2;
	unsigned char *payload;
	size_t plen;
};

/* libcoap's last warning (its log handler takes no argument): the reason a
 * handshake failed ("hostname mismatch", "certificate has expired"). */
static char last_warning[200];

static void on_log(coap_log_t level, const char *message)
{
	if (level > LOG_WARNING)
		return;
	/* libcoap indents and ends its lines: keep the words. */
	message += strspn(message, " ");
	snprintf(last_warning, sizeof(last_warning), "%.*s", (int)strcspn(message, "\r\n"),
		 message);
}

static struct fsec_coapc *of_session(const coap_session_t *s)
{
	return coap_get_app_data(coap_session_get_context(s));
}

static unsigned uint_option(const coap_pdu_t *pdu, coap_option_num_t num, bool *present)
{
	coap_opt_iterator_t it;
	coap_opt_t *o = coap_check_option(pdu, num, &it);

	*present = o != NULL;
	/* Block and Max-Age values are at most 4 bytes (RFC 7252 section 5.10). */
	return o != NULL && coap_opt_length(o) <= 4
		       ? coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o))
		       : 0;
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent,
				   const coap_pdu_t *received, const coap_mid_t mid)
{
	struct fsec_coapc *c = of_session(session);
	coap_bin_const_t tok = coap_pdu_get_token(received);
	const uint8_t *data = NULL;
	size_t len = 0;
	bool present;
	unsigned v;

	(void)sent;
	(void)mid;
	/* An answer to an earlier exchange (a retransmission's late twin) is
	 * not this one's. */
	if (c == NULL || c->done || c->failed || tok.length != c->toklen ||
	    memcmp(tok.s, c->tok, c->toklen) != 0)
		return COAP_RESPONSE_OK;
	c->code = (unsigned)coap_pdu_get_code(received);
	v = uint_option(received, COAP_OPTION_CONTENT_FORMAT, &present);
	c->cf = present ? (int)v : -1;
	v = uint_option(received, COAP_OPTION_MAXAGE, &present);
	c->max_age = present ? (long)v : -1;
	c->b1 = uint_option(received, COAP_OPTION_BLOCK1, &c->has_b1);
	c->b2 = uint_option(received, COAP_OPTION_BLOCK2, &c->has_b2);
	free(c->payload);
	c->payload = NULL;
	c->plen = 0;
	(void)coap_get_data(received, &len, &data);
	if ((c->payload = malloc(len + 1)) == NULL) {
		c->failed = true;
		snprintf(c->fail_why, sizeof(c->fail_why), "out of memory");
		return COAP_RESPONSE_OK;
	}
	if (len > 0)
		memcpy(c->payload, data, len);
	c->payload[len] = '\0';
	c->plen = len;
	c->done = true;
	return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent,
		    const coap_nack_reason_t reason, const coap_mid_t mid)
{
	struct fsec_coapc *c = of_session(session);
	coap_bin_const_t tok;

	(void)mid;
	if (c == NULL || c->done || c->failed || session != c->session)
		return;
	/* Only the exchange in flight fails (a handshake failure names none). */
	if (sent != NULL && reason != COAP_NACK_TLS_FAILED) {
		tok = coap_pdu_get_token(sent);
		if (tok.length != c->toklen || memcmp(tok.s, c->tok, c->toklen) != 0)
			return;
	}
	c->failed = true;
	snprintf(c->fail_why, sizeof(c->fail_why), "%s",
		 reason == COAP_NACK_TOO_MANY_RETRIES ? "no answer (retransmissions exhausted)"
		 : reason == COAP_NACK_RST	     ? "the server reset the exchange"
		 : reason == COAP_NACK_TLS_FAILED    ? "the DTLS handshake failed"
		 : reason == COAP_NACK_ICMP_ISSUE    ? "unreachable (ICMP)"
						     : "the request could not be sent");
}

static int on_event(coap_session_t *session, const coap_event_t event)
{
	struct fsec_coapc *c = of_session(session);

	if (c == NULL || session != c->session)
		return 0;
	if (event == COAP_EVENT_DTLS_CONNECTED)
		c->connected = true;
	if (!c->done && !c->failed &&
	    (event == COAP_EVENT_DTLS_CLOSED || event == COAP_EVENT_DTLS_ERROR)) {
		c->failed = true;
		/* Closed before it was up: the server refused the handshake
		 * (fleetsecd does for a device it does not admit). */
		snprintf(c->fail_why, sizeof(c->fail_why), "%s",
			 event == COAP_EVENT_DTLS_ERROR || !c->connected
				 ? "the DTLS handshake failed"
				 : "the server closed the DTLS session");
	}
	return 0;
}

/*
 * The new session's SSL, set up by libcoap with nothing loaded (no
 * certificate, key or CA file is given to it), gets what the handshake
 * needs: the device's chain and key, the pinned anchors (and the CRLs, if
 * any), and the server's name checked against its certificate's SAN, which
 * libcoap leaves to the application. libcoap 4.3.1 calls its
 * additional_tls_setup_call_back on servers only, and sends the
 * ClientHello as it makes the session: this runs right after, before any
 * answer is read, and everything set here is read later in the handshake
 * (the server's chain is verified on arrival, the client certificate sent
 * when asked for). The suites offered are libcoap's; fleetsecd picks from
 * its own ECDHE+AEAD list, and the Finished messages protect the choice.
 */
/*
 * The server's chain, as OpenSSL verified it against tls_setup's store,
 * name and CRL. This replaces libcoap's callback, whose only departures
 * from OpenSSL's verdict are the allow_* overrides (all off here): the
 * verdict stands, and its first error is kept to say why.
 */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	coap_session_t *session = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	struct fsec_coapc *c = session != NULL ? of_session(session) : NULL;

	if (!ok && c != NULL && c->verify_err == X509_V_OK)
		c->verify_err = X509_STORE_CTX_get_error(x);
	return ok;
}

static bool tls_setup(struct fsec_coapc *c, SSL *ssl)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

	if (c->key != NULL &&
	    (SSL_use_certificate_chain_file(ssl, c->cert) != 1 ||
	     SSL_use_PrivateKey(ssl, c->key) != 1 || SSL_check_private_key(ssl) != 1))
		return false;
	if (SSL_set1_verify_cert_store(ssl, c->trust) != 1)
		return false;
	if (c->host_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, c->host) != 1
		       : X509_VERIFY_PARAM_set1_host(vp, c->host, 0) != 1)
		return false;
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (c->check_crl)
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_CRL_CHECK);
	SSL_set_verify(ssl, SSL_VERIFY_PEER, verify_cb);
	SSL_set_verify_depth(ssl, 5);
	SSL_set_options(ssl, SSL_OP_NO_RENEGOTIATION);
	return true;
}

static enum fsec_err load_trust(const struct fsec_coapc_opts *o, X509_STORE **out)
{
	X509_STORE *st = X509_STORE_new();

	if (st == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (X509_STORE_load_file(st, o->ca) != 1) {
		X509_STORE_free(st);
		return fsec_seterr_ossl(FSEC_ERR_NOTFOUND, "%s: no CA certificates", o->ca);
	}
	if (o->ca_learned != NULL && access(o->ca_learned, F_OK) == 0 &&
	    X509_STORE_load_file(st, o->ca_learned) != 1) {
		X509_STORE_free(st);
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "%s: not certificates", o->ca_learned);
	}
	for (int i = 0; o->crls != NULL && i < sk_X509_CRL_num(o->crls); i++)
		if (X509_STORE_add_crl(st, sk_X509_CRL_value(o->crls, i)) != 1) {
			X509_STORE_free(st);
			return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot add the server CRL");
		}
	*out = st;
	return FSEC_OK;
}

enum fsec_err fsec_coapc_new(const struct fsec_coapc_opts *o, struct fsec_coapc **out)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
	struct addrinfo *ai = NULL;
	struct in6_addr a6;
	struct fsec_coapc *c;
	enum fsec_err rc = FSEC_ERR_NOMEM;

	if (o->ca == NULL || (o->cert == NULL) != (o->key == NULL))
		return fsec_seterr(FSEC_ERR_INVAL, "a CA file is required, and a key with its "
				   "certificate");
	if (o->host[0] == '\0' || strlen(o->host) >= sizeof(c->host))
		return fsec_seterr(FSEC_ERR_INVAL, "coaps: no host, or one too long");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return fsec_seterr(rc, "out of memory");
	snprintf(c->host, sizeof(c->host), "%s", o->host);
	c->host_ip = inet_pton(AF_INET, o->host, &a6) == 1 || inet_pton(AF_INET6, o->host, &a6) == 1;
	c->check_crl = o->crls != NULL && sk_X509_CRL_num(o->crls) > 0;
	if (o->key != NULL) {
		if ((c->cert = strdup(o->cert)) == NULL) {
			fsec_seterr(rc, "out of memory");
			goto fail;
		}
		EVP_PKEY_up_ref(o->key);
		c->key = o->key;
	}
	if ((rc = load_trust(o, &c->trust)) != FSEC_OK)
		goto fail;
	/* The name is resolved once, here; getaddrinfo has no timeout, so a
	 * device on CoAPs should name its server by address or a local name. */
	if (getaddrinfo(o->host, o->port, &hints, &ai) != 0 || ai == NULL ||
	    ai->ai_addrlen > sizeof(c->dst.addr)) {
		rc = fsec_seterr(FSEC_ERR_NET, "coaps: cannot resolve %.200s", o->host);
		goto fail;
	}
	coap_startup();
	coap_set_log_handler(on_log);
	coap_set_log_level(LOG_WARNING);
	if (!coap_dtls_is_supported()) {
		rc = fsec_seterr(FSEC_ERR_NET, "coaps: this libcoap has no DTLS");
		goto fail;
	}
	coap_address_init(&c->dst);
	memcpy(&c->dst.addr, ai->ai_addr, ai->ai_addrlen);
	c->dst.size = (socklen_t)ai->ai_addrlen;
	c->stall = o->stall > 0 ? o->stall : 30;
	c->pki = (coap_dtls_pki_t){
		.version = COAP_DTLS_PKI_SETUP_VERSION,
		.verify_peer_cert = 1,
		/* The anchors are tls_setup's store, not one CA file. */
		.check_common_ca = 0,
		.allow_self_signed = 0,
		.allow_expired_certs = 0,
		.cert_chain_validation = 1,
		.cert_chain_verify_depth = 4,
		/* tls_setup sets the CRL check when there are CRLs: libcoap's
		 * flag would demand one for every certificate. */
		.check_cert_revocation = 0,
		.client_sni = c->host_ip ? NULL : c->host,
		.pki_key.key_type = COAP_PKI_KEY_PEM,
	};
	freeaddrinfo(ai);
	*out = c;
	return FSEC_OK;
fail:
	if (ai != NULL)
		freeaddrinfo(ai);
	fsec_coapc_free(c);
	return rc;
}

/*
 * The session and its whole context go together. Releasing a failed
 * session alone is not enough: libcoap 4.3.1 keeps a request it could not
 * deliver (an ICMP error) queued with a reference to the session, and its
 * next retransmission would make the session a new SSL without tls_setup
 * and then write to it freed. A context made per session takes every such
 * request with it. c->session is cleared first: the DTLS_CLOSED event the
 * release raises is not the failure being reported.
 */
static void drop_session(struct fsec_coapc *c)
{
	coap_session_t *session = c->session;

	c->session = NULL;
	if (session != NULL)
		coap_session_release(session);
	if (c->ctx != NULL)
		coap_free_context(c->ctx);
	c->ctx = NULL;
}

void fsec_coapc_free(struct fsec_coapc *c)
{
	if (c == NULL)
		return;
	drop_session(c);
	X509_STORE_free(c->trust);
	EVP_PKEY_free(c->key);
	free(c->cert);
	free(c->payload);
	free(c);
}

static time_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* A Block option's value: NUM, M and SZX (RFC 7959 section 2.2). */
static unsigned block_value(unsigned num, bool more, unsigned szx)
{
	return num << 4 | (more ? 8u : 0u) | szx;
}

struct req {
	unsigned method;
	const char *path;
	int cf, accept;
	bool b1, b2;
	unsigned b1v, b2v;
	const unsigned char *data;
	size_t len;
};

static bool add_uint(coap_pdu_t *pdu, coap_option_num_t num, unsigned v)
{
	uint8_t b[4];

	return coap_add_option(pdu, num, coap_encode_var_safe(b, sizeof(b), v), b) != 0;
}

/* The request's PDU, its options in ascending order (RFC 7252 section 3.1). */
static coap_pdu_t *build(struct fsec_coapc *c, const struct req *q)
{
	coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, (coap_pdu_code_t)q->method,
					coap_new_message_id(c->session),
					coap_session_max_pdu_size(c->session));
	const char *p = q->path;

	if (pdu == NULL)
		return NULL;
	coap_session_new_token(c->session, &c->toklen, c->tok);
	if (!coap_add_token(pdu, c->toklen, c->tok))
		goto fail;
	while (*p == '/')
		p++;
	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (n > 255 || coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *)p) == 0)
			goto fail;
		p += n;
		while (*p == '/')
			p++;
	}
	if ((q->cf >= 0 && !add_uint(pdu, COAP_OPTION_CONTENT_FORMAT, (unsigned)q->cf)) ||
	    (q->accept >= 0 && !add_uint(pdu, COAP_OPTION_ACCEPT, (unsigned)q->accept)) ||
	    (q->b2 && !add_uint(pdu, COAP_OPTION_BLOCK2, q->b2v)) ||
	    (q->b1 && !add_uint(pdu, COAP_OPTION_BLOCK1, q->b1v)) ||
	    (q->len > 0 && !coap_add_data(pdu, q->len, q->data)))
		goto fail;
	return pdu;
fail:
	coap_delete_pdu(pdu);
	return NULL;
}

/* The DTLS session, started if there is none (its handshake runs with the
 * first exchange). */
static enum fsec_err open_session(struct fsec_coapc *c)
{
	coap_tls_library_t lib = COAP_TLS_LIBRARY_NOTLS;
	SSL *ssl;

	if (c->session != NULL)
		return FSEC_OK;
	last_warning[0] = '\0';
	c->verify_err = X509_V_OK;
	c->connected = false;
	if ((c->ctx = coap_new_context(NULL)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	coap_set_app_data(c->ctx, c);
	coap_register_response_handler(c->ctx, on_response);
	coap_register_nack_handler(c->ctx, on_nack);
	coap_register_event_handler(c->ctx, on_event);
	c->session = coap_new_client_session_pki(c->ctx, NULL, &c->dst, COAP_PROTO_DTLS, &c->pki);
	if (c->session == NULL) {
		drop_session(c);
		return fsec_seterr(FSEC_ERR_NET, "coaps %.200s: cannot start a DTLS session%s%s",
				   c->host, last_warning[0] != '\0' ? ": " : "", last_warning);
	}
	ssl = coap_session_get_tls(c->session, &lib);
	if (ssl == NULL || lib != COAP_TLS_LIBRARY_OPENSSL || !tls_setup(c, ssl)) {
		drop_session(c);
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "coaps %.200s: cannot set up DTLS with the "
					"device's certificate, key and anchors", c->host);
	}
	return FSEC_OK;
}

static enum fsec_err exchange_once(struct fsec_coapc *c, const struct req *q, time_t deadline);

/*
 * One exchange: q sent, its answer in c (code, options, payload), before
 * deadline. A failure drops the session: the next exchange shakes hands
 * again, with a server that may have restarted. A new session whose
 * handshake met silence is tried once more, from a new port: the server
 * may still hold a session for this address and port (one this device
 * left at a power cut, when the system hands the port out again), into
 * which libcoap 4.3.1 routes the new ClientHello, where OpenSSL drops it
 * (RFC 6347 section 4.2.8 asks for a new handshake; neither does one).
 */
static enum fsec_err exchange(struct fsec_coapc *c, const struct req *q, time_t deadline)
{
	/* A session whose handshake has not completed: send_blocks opens it
	 * before its first exchange. */
	bool fresh = c->session == NULL || !c->connected;
	enum fsec_err rc = exchange_once(c, q, deadline);

	if (rc == FSEC_ERR_NET && fresh && c->silent && deadline > now_mono())
		rc = exchange_once(c, q, deadline);
	return rc;
}

static enum fsec_err exchange_once(struct fsec_coapc *c, const struct req *q, time_t deadline)
{
	coap_pdu_t *pdu;
	enum fsec_err rc;
	int verr;

	c->silent = false;
	if ((rc = open_session(c)) != FSEC_OK)
		return rc;
	c->done = c->failed = false;
	c->fail_why[0] = '\0';
	last_warning[0] = '\0';
	/* An exchange unanswered for stall seconds fails, as a transfer
	 * below HTTPS's low-speed limit does; the whole request keeps its
	 * deadline. */
	if (deadline > now_mono() + c->stall)
		deadline = now_mono() + c->stall;
	if ((pdu = build(c, q)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "coaps: cannot build the request (too large?)");
	if (coap_send(c->session, pdu) == COAP_INVALID_MID) {
		drop_session(c);
		return fsec_seterr(FSEC_ERR_NET, "coaps %.200s: the request could not be sent",
				   c->host);
	}
	while (!c->done && !c->failed) {
		time_t left = deadline - now_mono();

		if (left <= 0)
			break;
		if (coap_io_process(c->ctx, left > 1 ? 1000 : (uint32_t)left * 1000) < 0) {
			c->failed = true;
			snprintf(c->fail_why, sizeof(c->fail_why), "I/O error");
		}
	}
	c->silent = !c->done && !c->failed && !c->connected;
	if (c->done)
		return FSEC_OK;
	verr = c->verify_err;
	drop_session(c);
	/* The server's certificate refused: as fetch.c says it over HTTPS. */
	if (verr == X509_V_ERR_CERT_REVOKED)
		return fsec_seterr(FSEC_ERR_VERIFY, "coaps %.200s: the server's certificate is "
				   "revoked (listed on the fleet's CRL): refusing the server", c->host);
	if (verr != X509_V_OK)
		return fsec_seterr(FSEC_ERR_VERIFY, "coaps %.200s: the server's certificate does not "
				   "verify: %s: refusing the server", c->host,
				   X509_verify_cert_error_string(verr));
	if (!c->failed)
		return fsec_seterr(FSEC_ERR_NET, "coaps %.200s: no answer in time", c->host);
	return fsec_seterr(FSEC_ERR_NET, "coaps %.200s: %s%s%s", c->host, c->fail_why,
			   last_warning[0] != '\0' ? ": " : "", last_warning);
}

/* The largest block this session carries, as an SZX: 1024 bytes unless its
 * PDUs are too small for that with the options beside it. */
static unsigned session_szx(const struct fsec_coapc *c)
{
	size_t max = coap_session_max_pdu_size(c->session);
	unsigned szx = SZX_MAX;

	while (szx > 0 && ((size_t)16 << szx) + 128 > max)
		szx--;
	return szx;
}

static void set_status(const struct fsec_coapc *c, struct fsec_coapc_status *st)
{
	size_t n = c->plen < sizeof(st->why) - 1 ? c->plen : sizeof(st->why) - 1;

	st->code = c->code;
	st->max_age = c->max_age;
	memcpy(st->why, c->payload != NULL ? (const char *)c->payload : "", n);
	st->why[n] = '\0';
	st->why[strcspn(st->why, "\r\n")] = '\0';
}

static bool is_success(unsigned code)
{
	return code >> 5 == 2;
}

/* Send q's payload in Block1 blocks (RFC 7959 section 2.5) when it is
 * larger than one; the last exchange's answer is the request's. */
static enum fsec_err send_blocks(struct fsec_coapc *c, const struct req *q, time_t deadline)
{
	size_t off = 0;
	unsigned szx;
	enum fsec_err rc;

	if ((rc = open_session(c)) != FSEC_OK)
		return rc;
	szx = session_szx(c);
	if (q->len <= ((size_t)16 << szx))
		return exchange(c, q, deadline);
	for (;;) {
		size_t bs = (size_t)16 << szx, num = off / bs;
		size_t n = q->len - off < bs ? q->len - off : bs;
		bool more = off + n < q->len;
		struct req one = *q;

		if (num > BLOCK_NUM_MAX)
			return fsec_seterr(FSEC_ERR_TOO_LARGE, "coaps: the request is too large");
		one.b1 = true;
		one.b1v = block_value((unsigned)num, more, szx);
		one.data = q->data + off;
		one.len = n;
		if ((rc = exchange(c, &one, deadline)) != FSEC_OK)
			return rc;
		if (!more || c->code != COAP_RESPONSE_CODE(231))
			return FSEC_OK;
		/* 2.31 Continue answers the block just sent, no other. */
		if (!c->has_b1 || (c->b1 >> 4) != num)
			return fsec_seterr(FSEC_ERR_NET, "coaps: 2.31 for another block than %zu", num);
		/* The server may ask for smaller blocks (RFC 7959 section
		 * 2.5): the next goes on from the same offset, in its size. */
		if (c->has_b1 && (c->b1 & 7u) < szx)
			szx = c->b1 & 7u;
		off += n;
	}
}

enum fsec_err fsec_coapc_request(struct fsec_coapc *c, unsigned method, const char *path,
				 int content_format, int accept, const unsigned char *data,
				 size_t len, size_t max, time_t deadline, unsigned char **buf,
				 size_t *blen, struct fsec_coapc_status *st)
{
	struct req q = {.method = method, .path = path, .cf = content_format, .accept = accept,
			.data = data, .len = len};
	unsigned char *body = NULL;
	size_t got = 0;
	unsigned num = 0, szx = SZX_MAX;
	enum fsec_err rc;

	*buf = NULL;
	*blen = 0;
	memset(st, 0, sizeof(*st));
	if ((rc = send_blocks(c, &q, deadline)) != FSEC_OK)
		return rc;
	set_status(c, st);
	if (!is_success(c->code))
		return FSEC_OK;
	if ((body = malloc(max + 1)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	for (;;) {
		if (c->has_b2 && (c->b2 >> 4) != num) {
			rc = fsec_seterr(FSEC_ERR_NET, "coaps: block %u came for block %u",
					 c->b2 >> 4, num);
			goto fail;
		}
		/* Every block but the last is whole, and all are of the size
		 * the first set: a body is never stitched from blocks that do
		 * not line up. */
		if (c->has_b2 && num == 0)
			szx = c->b2 & 7u;
		if (c->has_b2 && ((c->b2 & 7u) != szx || szx > SZX_MAX ||
				  ((c->b2 & 8u) && c->plen != ((size_t)16 << szx)))) {
			rc = fsec_seterr(FSEC_ERR_NET, "coaps: block %u is not a whole %zu-byte block",
					 num, (size_t)16 << (c->b2 & 7u));
			goto fail;
		}
		if (c->plen > max - got) {
			rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "response larger than %zu bytes", max);
			goto fail;
		}
		fsec_fault_net(c->plen);
		memcpy(body + got, c->payload, c->plen);
		got += c->plen;
		if (!c->has_b2 || !(c->b2 & 8u))
			break;
		if (++num > BLOCK_NUM_MAX) {
			rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "response larger than %zu bytes", max);
			goto fail;
		}
		/* The rest of the answer: the same request without its payload
		 * (RFC 7959 section 3.3), block by block in the server's size. */
		q = (struct req){.method = method, .path = path, .accept = accept, .cf = -1,
				 .b2 = true, .b2v = block_value(num, false, c->b2 & 7u)};
		if ((rc = exchange(c, &q, deadline)) != FSEC_OK)
			goto fail;
		set_status(c, st);
		if (!is_success(c->code)) {
			rc = fsec_seterr(FSEC_ERR_NET, "coaps: block %u refused: %u.%02u %s", num,
					 c->code >> 5, c->code & 31u, st->why);
			goto fail;
		}
	}
	body[got] = '\0';
	*buf = body;
	*blen = got;
	return FSEC_OK;
fail:
	free(body);
	return rc;
}

enum fsec_err fsec_coapc_range(struct fsec_coapc *c, const char *path, uint64_t off,
			       uint64_t len, time_t deadline,
			       enum fsec_err (*sink)(const unsigned char *p, size_t n, void *ctx),
			       void *ctx, struct fsec_coapc_status *st)
{
	uint64_t got = 0;
	unsigned szx = SZX_MAX;
	enum fsec_err rc;

	memset(st, 0, sizeof(*st));
	while (got < len) {
		uint64_t pos = off + got, bs = (uint64_t)16 << szx, num = pos / bs;
		size_t skip = (size_t)(pos % bs), take;
		struct req q = {.method = COAP_REQUEST_CODE_GET, .path = path, .cf = -1,
				.accept = -1, .b2 = true};

		if (num > BLOCK_NUM_MAX)
			return fsec_seterr(FSEC_ERR_TOO_LARGE, "coaps: offset %llu is past the "
					   "largest block number", (unsigned long long)pos);
		q.b2v = block_value((unsigned)num, false, szx);
		if ((rc = exchange(c, &q, deadline)) != FSEC_OK)
			return rc;
		set_status(c, st);
		if (c->code != COAP_RESPONSE_CODE(205))
			return fsec_seterr(FSEC_ERR_NET, "CoAP %u.%02u (expected 2.05)%s%s",
					   c->code >> 5, c->code & 31u, st->why[0] != '\0' ? ": " : "",
					   st->why);
		/* A body in one piece answers block 0 only. */
		if (!c->has_b2 && num != 0)
			return fsec_seterr(FSEC_ERR_NET, "coaps: the server ignored the block asked for");
		if (c->has_b2 && (c->b2 & 7u) < szx) {
			/* Smaller blocks than asked: ask again in their size. */
			szx = c->b2 & 7u;
			continue;
		}
		if (c->has_b2 && ((c->b2 >> 4) != num || (c->b2 & 7u) != szx))
			return fsec_seterr(FSEC_ERR_NET, "coaps: block %u came for block %llu",
					   c->b2 >> 4, (unsigned long long)num);
		if (c->plen <= skip)
			return fsec_seterr(FSEC_ERR_NET, "short read: %llu of %llu bytes",
					   (unsigned long long)got, (unsigned long long)len);
		take = c->plen - skip;
		if ((uint64_t)take > len - got)
			take = (size_t)(len - got);
		fsec_fault_net(take);
		if ((rc = sink(c->payload + skip, take, ctx)) != FSEC_OK)
			return rc;
		got += take;
		if (got < len && (!c->has_b2 || !(c->b2 & 8u)))
			return fsec_seterr(FSEC_ERR_NET, "short read: %llu of %llu bytes",
					   (unsigned long long)got, (unsigned long long)len);
	}
	return FSEC_OK;
}
