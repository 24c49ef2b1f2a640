/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsecd's CoAPs listener (coaps.h). libcoap owns the UDP socket, the
 * DTLS sessions and Block1/Block2; this file gives it the HTTPS policy:
 *  - each new DTLS session is set up from fleetsecd's HTTPS SSL_CTX (its
 *    certificate chain and key, its trust stores, its ECDHE AEAD suites), in
 *    libcoap's additional_tls_setup_call_back;
 *  - the client certificate is checked against the registry at the
 *    handshake, in libcoap's CN callback (which sees each certificate of the
 *    verified chain), and refused there unless the route table admits it;
 *  - every request is checked again (fsec_est_peer on the session's
 *    certificate) and answered by the library (fsec_coap_handle), so a
 *    revocation applies to the next request; the session of a peer the
 *    table no longer admits is closed after that answer.
 * libcoap's epoll descriptor (which includes its retransmission timer) is
 * one libevent event: each time it is readable, coap_io_process runs once
 * without waiting.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <coap3/coap.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "coaps.h"
#include "fleetsec/coap.h"
#include "fleetsec/release.h"
#include "fleetsec/srclimit.h"
#include "fleetsec/text.h"
#include "fleetsec/tls.h"

/* Sessions closed after their answer, per turn of the loop: more refused
 * requests in one turn wait for the next request, or the idle timeout. */
#define DOOMED_MAX 64

struct coaps {
	coap_context_t *ctx;
	struct event *io;
	SSL_CTX *tls; /* referenced */
	struct fsec_est *est;
	struct fsec_route_ctx *routes;
	struct fsec_srclimit *per_source;
	coap_dtls_pki_t pki;
	/* The stand-in certificate and key libcoap loads (stand_in), PEM. */
	char *si_cert, *si_key;
	size_t si_cert_len, si_key_len;
	/* The chain above the certificate being verified, collected from the
	 * CN callback's deeper calls (OpenSSL verifies from the root down). */
	STACK_OF(X509) *hs_chain;
	const coap_session_t *hs_session;
	coap_session_t *doomed[DOOMED_MAX];
	size_t ndoomed;
	struct fsec_metrics *metrics;
	bool quiet;
	bool draining; /* coaps_drain: no new sessions */
	/* Every struct sess alive: libcoap 4.3.1 does not raise
	 * SERVER_SESSION_DEL for every session it frees (one still open
	 * when the context goes, among others), so coaps_free frees what is
	 * left. */
	struct sess *live;
};

/* What fleetsecd keeps per DTLS session (libcoap's session app data), from
 * the handshake check to libcoap's SERVER_SESSION_DEL: the per-source
 * count, and the Block1 upload being assembled. */
struct sess {
	struct fsec_src *src;
	unsigned char *body; /* FSEC_COAP_BODY_MAX bytes once an upload comes in blocks */
	size_t len;
	char path[256]; /* the upload's resource */
	unsigned next_block; /* the firmware block after the last one answered */
	/* The image this session downloads, open since its route last
	 * answered (at block fw_block): the blocks of the same 64 that follow
	 * are read from it after the per-request peer check alone (see
	 * fw_cached). -1: none. */
	int fw_fd;
	uint64_t fw_off, fw_len;
	unsigned fw_block;
	char fw_path[256];
	char fw_peer[FSEC_DEVID_MAX + 1]; /* the device it was answered to */
	struct sess *prev, *next; /* in coaps.live */
};

/* Blocks per route check of a download: 64 KiB in 1,024-byte blocks, the
 * chunk an HTTPS device asks for with one Range request. */
#define FW_BLOCKS_PER_CHECK 64u

static void sess_free(struct coaps *c, struct sess *ss)
{
	if (ss == NULL)
		return;
	if (ss->prev != NULL)
		ss->prev->next = ss->next;
	else
		c->live = ss->next;
	if (ss->next != NULL)
		ss->next->prev = ss->prev;
	fsec_srclimit_release(c->per_source, ss->src);
	if (ss->fw_fd >= 0)
		close(ss->fw_fd);
	free(ss->body);
	free(ss);
}

/* ---- DTLS set-up and the handshake check ---- */

/* A memory BIO's contents as a NUL-terminated copy. */
static char *bio_text(BIO *b, size_t *len)
{
	char *p = NULL, *out;
	long n = BIO_get_mem_data(b, &p);

	if (n <= 0 || (out = malloc((size_t)n + 1)) == NULL)
		return NULL;
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n + 1; /* libcoap counts the NUL (coap_dtls.h) */
	return out;
}

/*
 * libcoap 4.3.1 loads a server certificate and key of its own into each
 * DTLS session, from PEM, before tls_setup replaces them with the HTTPS
 * context's objects; a key it cannot read as PEM (a TPM key) would stop it.
 * It gets a stand-in: a P-256 key made at start and a certificate that key
 * signs itself. Neither reaches the wire: a session whose tls_setup fails
 * gets no handshake.
 */
static bool stand_in(struct coaps *c)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
	X509_NAME *n = x != NULL ? X509_get_subject_name(x) : NULL;
	bool ok = k != NULL && x != NULL && bc != NULL && bk != NULL && n != NULL &&
		  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					     (const unsigned char *)"fleetsecd stand-in", -1, -1,
					     0) == 1 &&
		  X509_set_issuer_name(x, n) == 1 &&
		  ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
		  X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL &&
		  X509_gmtime_adj(X509_getm_notAfter(x), 60) != NULL && X509_set_pubkey(x, k) == 1 &&
		  X509_sign(x, k, EVP_sha256()) > 0 && PEM_write_bio_X509(bc, x) == 1 &&
		  PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL) == 1 &&
		  (c->si_cert = bio_text(bc, &c->si_cert_len)) != NULL &&
		  (c->si_key = bio_text(bk, &c->si_key_len)) != NULL;

	BIO_free(bc);
	BIO_free(bk);
	X509_free(x);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return ok;
}

static void addr_text(const coap_session_t *session, char *buf, size_t cap)
{
	const coap_address_t *a = coap_session_get_addr_remote(session);

	snprintf(buf, cap, "?");
	if (a == NULL)
		return;
	if (a->addr.sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &a->addr.sin.sin_addr, buf, (socklen_t)cap);
	else if (a->addr.sa.sa_family == AF_INET6)
		inet_ntop(AF_INET6, &a->addr.sin6.sin6_addr, buf, (socklen_t)cap);
}

static void log_refusal(struct coaps *c, const coap_session_t *session, const char *why)
{
	char a[64], ab[64], w[300];

	if (c->quiet)
		return;
	addr_text(session, a, sizeof(a));
	fprintf(stderr, "fleetsecd: %s coaps handshake refused: %s\n",
		fsec_text_log(a, FSEC_TEXT_FIELD, ab, sizeof(ab)),
		fsec_text_log(why, 0, w, sizeof(w)));
}

/* The HTTPS context's key, chain, trust and suites on a new DTLS session.
 * libcoap has loaded the PEM files already; this replaces them with the
 * very objects HTTPS serves, so the two listeners never disagree. */
static int tls_setup(void *tls_session, coap_dtls_pki_t *setup)
{
	SSL *ssl = tls_session;
	struct coaps *c = setup->cn_call_back_arg;
	STACK_OF(X509) *chain = NULL;
	STACK_OF(X509_NAME) *names = NULL;

	if (c->draining) {
		log_refusal(c, SSL_get_app_data(ssl), "fleetsecd is stopping");
		return 0;
	}
	/* As for an HTTPS connection: a manufacturer CA allowed since the last
	 * session is trusted by this handshake already. */
	if (fsec_est_refresh_tls(c->est, c->tls) != FSEC_OK && !c->quiet)
		fprintf(stderr, "fleetsecd: registry: %s\n", fsec_err_detail());
	/* The stand-in goes whatever its key type: SSL_use_cert_and_key
	 * replaces only the slot of the new key's type. */
	SSL_certs_clear(ssl);
	if (!SSL_CTX_get0_chain_certs(c->tls, &chain) ||
	    SSL_use_cert_and_key(ssl, SSL_CTX_get0_certificate(c->tls),
				 SSL_CTX_get0_privatekey(c->tls), chain, 1) != 1 ||
	    SSL_set1_verify_cert_store(ssl, SSL_CTX_get_cert_store(c->tls)) != 1 ||
	    SSL_set_cipher_list(ssl, FSEC_TLS12_CIPHERS) != 1 ||
	    SSL_set_min_proto_version(ssl, DTLS1_2_VERSION) != 1)
		return 0;
	if ((names = SSL_dup_CA_list(SSL_CTX_get_client_CA_list(c->tls))) != NULL)
		SSL_set_client_CA_list(ssl, names);
	/* No renegotiation: the certificate checked at the handshake is the
	 * session's for its whole life. */
	SSL_set_options(ssl, SSL_OP_NO_RENEGOTIATION);
	return 1;
}


/*
 * libcoap's CN callback, once per certificate of a chain OpenSSL verified
 * (validated), root first. At the device's own certificate (depth 0): the
 * registry's verdict through fsec_est_peer with the chain collected, then
 * the route table's (fsec_route_peer_admitted), then the per-source cap.
 */
static int cn_check(const char *cn, const uint8_t *der, size_t len, coap_session_t *session,
		    unsigned depth, int validated, void *arg)
{
	struct coaps *c = arg;
	const unsigned char *p = der;
	X509 *x = NULL;
	struct fsec_est_peer peer = {0};
	const coap_address_t *ra;
	struct sess *ss = NULL;
	int ok = 0;

	(void)cn;
	if (c->hs_session != session) {
		sk_X509_pop_free(c->hs_chain, X509_free);
		c->hs_chain = NULL;
		c->hs_session = session;
	}
	if (!validated || len > (size_t)FSEC_EST_BODY_MAX ||
	    (x = d2i_X509(NULL, &p, (long)len)) == NULL)
		goto out;
	if (depth > 0) {
		if ((c->hs_chain == NULL && (c->hs_chain = sk_X509_new_null()) == NULL) ||
		    !sk_X509_push(c->hs_chain, x))
			goto out;
		x = NULL;
		ok = 1;
		goto out;
	}
	if (fsec_est_peer(c->est, x, c->hs_chain, &peer) != FSEC_OK) {
		log_refusal(c, session, "the registry cannot be read");
		goto done;
	}
	if (!fsec_route_peer_admitted(&peer)) {
		log_refusal(c, session, peer.reason[0] != '\0' ? peer.reason : "not admitted");
		goto done;
	}
	/* Counted once per session: the callback's session keeps its entry
	 * until libcoap deletes the session (on_event). */
	if (coap_session_get_app_data(session) == NULL) {
		ra = coap_session_get_addr_remote(session);
		if ((ss = calloc(1, sizeof(*ss))) == NULL)
			goto done;
		ss->fw_fd = -1;
		if (ra == NULL || !fsec_srclimit_acquire(c->per_source, &ra->addr.sa,
							 ra->size, &ss->src)) {
			free(ss);
			log_refusal(c, session, "too many sessions from this source");
			goto done;
		}
		coap_session_set_app_data(session, ss);
		if ((ss->next = c->live) != NULL)
			ss->next->prev = ss;
		c->live = ss;
	}
	ok = 1;
done:
	sk_X509_pop_free(c->hs_chain, X509_free);
	c->hs_chain = NULL;
	c->hs_session = NULL;
out:
	X509_free(x);
	return ok;
}

static int on_event(coap_session_t *session, const coap_event_t event)
{
	struct coaps *c = coap_get_app_data(coap_session_get_context(session));

	if (event == COAP_EVENT_SERVER_SESSION_DEL && c != NULL) {
		sess_free(c, coap_session_get_app_data(session));
		coap_session_set_app_data(session, NULL);
		if (c->hs_session == session) {
			sk_X509_pop_free(c->hs_chain, X509_free);
			c->hs_chain = NULL;
			c->hs_session = NULL;
		}
	}
	return 0;
}

/* ---- requests ---- */

static int option_uint(const coap_pdu_t *pdu, coap_option_num_t num, int *out)
{
	coap_opt_iterator_t it;
	coap_opt_t *o = coap_check_option(pdu, num, &it);

	*out = FSEC_COAP_CF_NONE;
	if (o == NULL)
		return 1;
	return fsec_coap_uint_option(coap_opt_value(o), coap_opt_length(o), out);
}

static void free_body(coap_session_t *session, void *body)
{
	(void)session;
	free(body);
}

/*
 * One Block2 block of the firmware (RFC 7959 section 2.4), answered here:
 * the block the request names (block 0 when it names none), in the size it
 * asks for or the largest this session carries, with M and Size2. Not
 * libcoap's coap_add_data_large_response, which would keep the whole
 * answer and serve every later block of the session itself, without
 * calling handle(): a device revoked during its download would then get
 * the rest of the image. Here every block is a request that handle()
 * checks against the registry first, as HTTPS checks each Range request.
 * A block past the end is 4.02 (no such block); 0 and the reason when the
 * block cannot be read.
 */
static unsigned send_block(coap_session_t *session, const coap_pdu_t *request,
			   coap_pdu_t *response, const struct fsec_coap_answer *a, unsigned *num)
{
	unsigned char data[1024], opt[4];
	coap_block_b_t blk = {0};
	unsigned szx = 6;
	uint64_t off, n, bs;
	bool more;

	coap_opt_iterator_t it;

	*num = 0;
	if (coap_get_block_b(session, request, COAP_OPTION_BLOCK2, &blk)) {
		*num = blk.num;
		if (blk.szx < szx)
			szx = blk.szx;
	} else if (coap_check_option(request, COAP_OPTION_BLOCK2, &it) != NULL) {
		/* A Block2 option libcoap cannot read (a number past 20 bits,
		 * szx 7 over UDP) asks for no block there is. */
		return FSEC_COAP_CODE(4, 2);
	}
	/* A block and the options must fit the session's PDU. */
	while (szx > 0 && ((size_t)16 << szx) + 64 > coap_session_max_pdu_size(session))
		szx--;
	bs = (uint64_t)16 << szx;
	off = (uint64_t)*num * bs;
	if (off >= a->file_len)
		return FSEC_COAP_CODE(4, 2);
	n = a->file_len - off < bs ? a->file_len - off : bs;
	more = off + n < a->file_len;
	if (a->file_off > UINT64_MAX - off || pread(a->file_fd, data, (size_t)n,
						    (off_t)(a->file_off + off)) != (ssize_t)n)
		return FSEC_COAP_CODE(5, 0);
	if (coap_add_option(response, COAP_OPTION_CONTENT_FORMAT,
			    coap_encode_var_safe(opt, sizeof(opt), FSEC_COAP_CF_OCTETS), opt) == 0 ||
	    coap_add_option(response, COAP_OPTION_BLOCK2,
			    coap_encode_var_safe(opt, sizeof(opt),
						 *num << 4 | (more ? 8u : 0u) | szx),
			    opt) == 0 ||
	    coap_add_option(response, COAP_OPTION_SIZE2,
			    coap_encode_var_safe(opt, sizeof(opt),
						 a->file_len > UINT32_MAX ? UINT32_MAX
									  : (unsigned)a->file_len),
			    opt) == 0 ||
	    !coap_add_data(response, (size_t)n, data))
		return FSEC_COAP_CODE(5, 0);
	return FSEC_COAP_CODE(2, 5);
}

static const char *method_name(unsigned m)
{
	return m == FSEC_COAP_GET ? "GET" : m == FSEC_COAP_POST ? "POST" : "OTHER";
}

/* Each answer is counted, then logged (unless quiet). */
static void log_request(struct coaps *c, const char *addr, unsigned method, const char *path,
			unsigned block,
			const struct fsec_est_peer *peer, const struct fsec_coap_answer *a,
			const struct timespec *t0, bool no_line)
{
	char ab[64], pb[512], id[160], why[300], blk[32] = "";
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	fsec_metrics_coap_request(c->metrics, fsec_coap_endpoint(path), a->code,
				  (double)(t1.tv_sec - t0->tv_sec) +
					  (double)(t1.tv_nsec - t0->tv_nsec) / 1e9);
	if (c->quiet || no_line)
		return;
	if (block > 0)
		snprintf(blk, sizeof(blk), " (from block %u)", block);
	/* A request that starts at a later block (a device resuming its
	 * download on a new session) says from which. */
	fprintf(stderr, "fleetsecd: %s coaps %s %s peer=%s%s%s -> %u.%02u%s%s%s\n",
		fsec_text_log(addr, FSEC_TEXT_FIELD, ab, sizeof(ab)), method_name(method),
		fsec_text_log(path, FSEC_TEXT_FIELD, pb, sizeof(pb)),
		fsec_text_log(peer->id[0] != '\0' ? peer->id : "-", FSEC_TEXT_FIELD, id, sizeof(id)),
		peer->kind == FSEC_EST_PEER_BOOTSTRAP ? "(bootstrap)" : "",
		peer->kind == FSEC_EST_PEER_REFUSED ? "(refused)" : "", a->code >> 5, a->code & 31,
		a->reason[0] != '\0' ? " " : "", fsec_text_log(a->reason, 0, why, sizeof(why)),
		blk);
}

enum body_state { BODY_WHOLE, BODY_MORE, BODY_TOO_LARGE, BODY_GAP, BODY_NOMEM };

/*
 * One block of a request body (libcoap hands each Block1 block over as it
 * comes: no COAP_BLOCK_SINGLE_BODY, since libcoap 4.3.1 would buffer a body
 * of up to a GiB, sized by the client's Size1, before any handler sees it).
 * Blocks are kept per session, in order, up to FSEC_COAP_BODY_MAX bytes:
 * the first byte past the cap refuses the upload. BODY_WHOLE sets q's body
 * (the session's buffer, or the PDU's data for a body in one block).
 */
static enum body_state assemble(struct coaps *c, coap_session_t *session, const char *path,
				const uint8_t *data, size_t len, size_t off, size_t total,
				struct fsec_coap_request *q)
{
	struct sess *ss = coap_session_get_app_data(session);
	bool more = total > off + len;

	(void)c;
	if (off == 0 && !more) {
		q->body = data;
		q->len = len;
		return BODY_WHOLE;
	}
	if (ss == NULL)
		return BODY_NOMEM;
	if (off == 0) {
		ss->len = 0;
		snprintf(ss->path, sizeof(ss->path), "%s", path);
	} else if (off != ss->len || strcmp(ss->path, path) != 0) {
		ss->len = 0;
		return BODY_GAP;
	}
	/* Written so that it cannot wrap: ss->len <= FSEC_COAP_BODY_MAX. */
	if (len > FSEC_COAP_BODY_MAX - ss->len) {
		ss->len = 0;
		return BODY_TOO_LARGE;
	}
	if (ss->body == NULL && (ss->body = malloc(FSEC_COAP_BODY_MAX)) == NULL)
		return BODY_NOMEM;
	memcpy(ss->body + ss->len, data, len);
	ss->len += len;
	if (more)
		return BODY_MORE;
	q->body = ss->body;
	q->len = ss->len;
	/* The body is the request's now: the next upload starts afresh. */
	ss->len = 0;
	return BODY_WHOLE;
}

/*
 * A block of the image this session is downloading, without its route: the
 * peer passed this request's registry check (fsec_est_peer, above, current
 * with every other process's commits), the path is the one the route
 * answered, and the block is within FW_BLOCKS_PER_CHECK of that answer.
 * The route (the release, the rollout, the model) is asked again at each
 * such boundary, as an HTTPS device's next Range request would be: once
 * per 64 blocks instead of once per block, which the firmware route's
 * registry reads and open() made the whole cost of a block. a borrows the
 * session's descriptor: the caller clears a->has_file before a is cleaned
 * up, so that the descriptor stays open.
 */
static bool fw_cached(const struct sess *ss, const struct fsec_coap_request *q,
		      const struct fsec_est_peer *peer, unsigned num, struct fsec_coap_answer *a)
{
	enum fsec_endpoint ep;
	struct fsec_reply refusal = {0};

	/* The firmware route's own verdict on this peer (a device, not one
	 * whose certificate a renewal superseded, which other routes admit),
	 * and the device the image was answered to. */
	if (ss == NULL || ss->fw_fd < 0 || q->method != FSEC_COAP_GET ||
	    strcmp(q->path, ss->fw_path) != 0 || strcmp(peer->id, ss->fw_peer) != 0 ||
	    num < ss->fw_block || num - ss->fw_block >= FW_BLOCKS_PER_CHECK)
		return false;
	if (!fsec_route_decide(FSEC_ROUTE_GET, q->path, peer, &ep, &refusal)) {
		fsec_reply_cleanup(&refusal);
		return false;
	}
	a->code = FSEC_COAP_CODE(2, 5);
	a->content_format = FSEC_COAP_CF_OCTETS;
	a->has_file = true;
	a->file_fd = ss->fw_fd;
	a->file_off = ss->fw_off;
	a->file_len = ss->fw_len;
	return true;
}

/* After the route answered block num of path with an image: keep it open
 * for the blocks that follow (fw_cached). Without a descriptor to spare,
 * the next block asks the route again. */
static void fw_drop(struct sess *ss)
{
	if (ss->fw_fd >= 0)
		close(ss->fw_fd);
	ss->fw_fd = -1;
	ss->fw_path[0] = '\0';
}

static void fw_keep(struct sess *ss, const char *path, const char *peer_id, unsigned num,
		    const struct fsec_coap_answer *a)
{
	int fd;

	fw_drop(ss);
	if (strlen(path) >= sizeof(ss->fw_path) || strlen(peer_id) >= sizeof(ss->fw_peer) ||
	    (fd = fcntl(a->file_fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return;
	snprintf(ss->fw_peer, sizeof(ss->fw_peer), "%s", peer_id);
	ss->fw_fd = fd;
	ss->fw_off = a->file_off;
	ss->fw_len = a->file_len;
	ss->fw_block = num;
	snprintf(ss->fw_path, sizeof(ss->fw_path), "%s", path);
}

static void handle(coap_resource_t *resource, coap_session_t *session, const coap_pdu_t *request,
		   const coap_string_t *query, coap_pdu_t *response)
{
	struct coaps *c = coap_get_app_data(coap_session_get_context(session));
	coap_string_t *rpath = coap_get_uri_path(request);
	coap_tls_library_t lib = COAP_TLS_LIBRARY_NOTLS;
	SSL *ssl = coap_session_get_tls(session, &lib);
	struct fsec_est_peer peer = {0};
	struct fsec_coap_request q = {0};
	struct fsec_coap_answer a = {0};
	const uint8_t *data = NULL;
	size_t len = 0, off = 0, total = 0;
	char path[256], addr[64];
	coap_block_b_t block = {0};
	struct sess *ss = coap_session_get_app_data(session);
	struct timespec t0;
	bool quiet_block = false, borrowed = false;
	enum fsec_err rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!coap_get_block_b(session, request, COAP_OPTION_BLOCK2, &block))
		block.num = 0;
	addr_text(session, addr, sizeof(addr));
	/* The path as the request named it (the Uri-Path options), the same
	 * for a named resource and for the unknown one; longer than any route
	 * and it is cut, which matches no route. */
	snprintf(path, sizeof(path), "/%.*s",
		 rpath != NULL && rpath->length < sizeof(path) ? (int)rpath->length : 0,
		 rpath != NULL ? (const char *)rpath->s : "");
	coap_delete_string(rpath);
	q.method = (unsigned)coap_pdu_get_code(request);
	q.path = path;
	q.source = addr;
	fsec_coap_answer_cleanup(&a);
	/* Every request is checked on its own, as over HTTPS. */
	if (lib != COAP_TLS_LIBRARY_OPENSSL || ssl == NULL ||
	    fsec_est_peer(c->est, SSL_get0_peer_certificate(ssl), SSL_get_peer_cert_chain(ssl),
			  &peer) != FSEC_OK) {
		coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
		a.code = FSEC_COAP_CODE(5, 0);
		snprintf(a.reason, sizeof(a.reason), "the registry cannot be read");
		log_request(c, addr, q.method, path, block.num, &peer, &a, &t0, false);
		return;
	}
	if (!option_uint(request, COAP_OPTION_CONTENT_FORMAT, &q.content_format) ||
	    !option_uint(request, COAP_OPTION_ACCEPT, &q.accept)) {
		coap_pdu_set_code(response, COAP_RESPONSE_CODE_BAD_REQUEST);
		a.code = FSEC_COAP_CODE(4, 0);
		snprintf(a.reason, sizeof(a.reason), "bad Content-Format or Accept option");
		log_request(c, addr, q.method, path, block.num, &peer, &a, &t0, false);
		return;
	}
	/* A peer the table refuses uploads nothing: its request goes to the
	 * table without a body, to be refused there. */
	if (fsec_route_peer_admitted(&peer) &&
	    coap_get_data_large(request, &len, &data, &off, &total)) {
		const char *why = NULL;
		unsigned code = 0;

		switch (assemble(c, session, path, data, len, off, total, &q)) {
		case BODY_MORE:
			/* Ask for the next block; nothing is answered yet. */
			coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTINUE);
			return;
		case BODY_WHOLE: break;
		case BODY_TOO_LARGE:
			code = FSEC_COAP_CODE(4, 13);
			why = "upload refused at the block past " FSEC_COAP_BODY_MAX_STR " bytes";
			break;
		case BODY_GAP:
			code = FSEC_COAP_CODE(4, 8);
			why = "blocks out of order";
			break;
		case BODY_NOMEM:
			code = FSEC_COAP_CODE(5, 0);
			why = "out of memory";
			break;
		}
		if (why != NULL) {
			coap_pdu_set_code(response, (coap_pdu_code_t)code);
			a.code = code;
			snprintf(a.reason, sizeof(a.reason), "%s", why);
			coap_add_data(response, strlen(why), (const uint8_t *)why);
			log_request(c, addr, q.method, path, block.num, &peer, &a, &t0, false);
			return;
		}
	}
	if ((borrowed = fw_cached(ss, &q, &peer, block.num, &a))) {
		rc = FSEC_OK;
	} else {
		rc = fsec_coap_handle(c->routes, &peer, &q, &a);
		/* The route refused the image the session kept (a withdrawn
		 * release, a rollout that no longer has the device): no block
		 * of it is served from the session again. */
		if (ss != NULL && !a.has_file && strcmp(path, ss->fw_path) == 0)
			fw_drop(ss);
	}
	if (rc != FSEC_OK && rc != FSEC_ERR_BUSY && !c->quiet) {
		char why[300];

		fprintf(stderr, "fleetsecd: coaps %s: %s\n", path,
			fsec_text_log(fsec_err_detail(), 0, why, sizeof(why)));
	}
	coap_pdu_set_code(response, (coap_pdu_code_t)a.code);
	if (a.max_age >= 0) {
		unsigned char buf[4];

		coap_add_option(response, COAP_OPTION_MAXAGE,
				coap_encode_var_safe(buf, sizeof(buf), (unsigned)a.max_age), buf);
	}
	if (a.has_file) {
		unsigned num, code = send_block(session, request, response, &a, &num);

		if (code != FSEC_COAP_CODE(2, 5)) {
			a.code = code;
			snprintf(a.reason, sizeof(a.reason), "%s",
				 code == FSEC_COAP_CODE(4, 2) ? "no such block" : "the image cannot be read");
			coap_pdu_set_code(response, (coap_pdu_code_t)code);
			coap_add_data(response, strlen(a.reason), (const uint8_t *)a.reason);
		}
		/* One log line per download, not per block: its first block, or
		 * one that does not follow the session's last of the same image
		 * (a resume). */
		quiet_block = code == FSEC_COAP_CODE(2, 5) && ss != NULL && num > 0 &&
			      num == ss->next_block && strcmp(path, ss->fw_path) == 0;
		if (ss != NULL && !borrowed) {
			if (code == FSEC_COAP_CODE(2, 5))
				fw_keep(ss, path, peer.id, num, &a);
			else
				fw_drop(ss);
		}
		if (ss != NULL && code == FSEC_COAP_CODE(2, 5))
			ss->next_block = num + 1;
		if (borrowed)
			a.has_file = false;
	} else if (a.body != NULL && a.content_format != FSEC_COAP_CF_NONE &&
		   strncmp(path, FSEC_RELEASE_FIRMWARE_PATH, strlen(FSEC_RELEASE_FIRMWARE_PATH)) == 0 &&
		   a.len <= 1024) {
		/* An image's wrapped key: in one message, never an answer
		 * libcoap keeps. libcoap 4.3.1 matches a later block request
		 * to a kept answer by resource, and every firmware path is on
		 * the resource for unlisted paths: a kept key would answer
		 * the session's firmware block requests without handle(). */
		unsigned char cf[4];

		if (coap_add_option(response, COAP_OPTION_CONTENT_FORMAT,
				    coap_encode_var_safe(cf, sizeof(cf), (unsigned)a.content_format),
				    cf) == 0 ||
		    !coap_add_data(response, a.len, a.body)) {
			coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
			a.code = FSEC_COAP_CODE(5, 0);
		}
	} else if (a.body != NULL && a.content_format != FSEC_COAP_CF_NONE) {
		/* Block2 when the answer is larger than the session's block
		 * size; libcoap frees the body once the last block went. */
		if (coap_add_data_large_response(resource, session, request, response, query,
						 (uint16_t)a.content_format, -1, 0, a.len, a.body,
						 free_body, a.body))
			a.body = NULL;
		else {
			coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
			a.code = FSEC_COAP_CODE(5, 0);
		}
	} else if (a.body != NULL) {
		coap_add_data(response, a.len, a.body); /* a diagnostic payload: short */
	}
	log_request(c, addr, q.method, path, block.num, &peer, &a, &t0, quiet_block);
	/* A device the table no longer admits (revoked since its handshake)
	 * keeps no session: closed once this answer is out. */
	if (!fsec_route_peer_admitted(&peer) && c->ndoomed < DOOMED_MAX)
		c->doomed[c->ndoomed++] = coap_session_reference(session);
	fsec_coap_answer_cleanup(&a);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	struct coaps *c = arg;

	(void)fd;
	(void)what;
	coap_io_process(c->ctx, COAP_IO_NO_WAIT);
	for (size_t i = 0; i < c->ndoomed; i++) {
		coap_session_disconnected(c->doomed[i], COAP_NACK_NOT_DELIVERABLE);
		coap_session_release(c->doomed[i]);
	}
	c->ndoomed = 0;
}

/* ---- start and stop ---- */

static bool add_resources(struct coaps *c)
{
	size_t n = 0;
	const struct fsec_coap_resource *res = fsec_coap_resources(&n);
	coap_resource_t *r;

	for (size_t i = 0; i < n; i++) {
		if ((r = coap_resource_init(coap_make_str_const(res[i].path), 0)) == NULL)
			return false;
		coap_register_handler(r, COAP_REQUEST_GET, handle);
		coap_register_handler(r, COAP_REQUEST_POST, handle);
		if (res[i].rt != NULL)
			coap_add_attr(r, coap_make_str_const("rt"), coap_make_str_const(res[i].rt),
				      0);
		if (res[i].ct != NULL)
			coap_add_attr(r, coap_make_str_const("ct"), coap_make_str_const(res[i].ct),
				      0);
		coap_add_resource(c->ctx, r);
	}
	/* Every other path (the firmware's, and paths that name nothing)
	 * reaches the same handler, so the route table answers it: a refused
	 * peer learns nothing about which paths exist. */
	if ((r = coap_resource_unknown_init(handle)) == NULL)
		return false;
	coap_register_handler(r, COAP_REQUEST_GET, handle);
	coap_register_handler(r, COAP_REQUEST_POST, handle);
	coap_add_resource(c->ctx, r);
	return true;
}

/* libcoap's own log lines quote what peers sent (a certificate's CN, an
 * address): escaped like every other line of fleetsecd's log, one line
 * each. */
static void coap_log_line(coap_log_t level, const char *message)
{
	char line[512], buf[600];
	size_t n;

	(void)level;
	/* libcoap ends its lines with a newline: ours adds the one. */
	snprintf(line, sizeof(line), "%s", message != NULL ? message : "");
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	fprintf(stderr, "fleetsecd: libcoap: %s\n", fsec_text_log(line, 0, buf, sizeof(buf)));
}

bool coaps_start(const struct coaps_opts *o, struct event_base *base, struct coaps **out,
		 char *why, size_t cap)
{
	struct coaps *c = NULL;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				 .ai_socktype = SOCK_DGRAM},
			*ai = NULL;
	coap_address_t addr;
	char port[8];
	int fd;

	coap_startup();
	coap_set_log_handler(coap_log_line);
	coap_set_log_level(o->quiet ? LOG_EMERG : LOG_WARNING);
	if (!coap_dtls_is_supported()) {
		snprintf(why, cap, "coaps: this libcoap has no DTLS");
		return false;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(why, cap, "coaps: out of memory");
		return false;
	}
	c->est = o->est;
	c->routes = o->routes;
	c->quiet = o->quiet;
	c->metrics = o->metrics;
	SSL_CTX_up_ref(o->tls);
	c->tls = o->tls;
	snprintf(port, sizeof(port), "%u", o->port);
	if (getaddrinfo(o->host, port, &hints, &ai) != 0 || ai == NULL ||
	    ai->ai_addrlen > sizeof(addr.addr)) {
		snprintf(why, cap, "coaps %s:%u: expected a numeric ADDR:PORT", o->host, o->port);
		goto fail;
	}
	coap_address_init(&addr);
	memcpy(&addr.addr, ai->ai_addr, ai->ai_addrlen);
	addr.size = (socklen_t)ai->ai_addrlen;
	if (fsec_srclimit_new(o->max_per_source, o->max_sessions, &c->per_source) != FSEC_OK ||
	    !stand_in(c) || (c->ctx = coap_new_context(NULL)) == NULL) {
		snprintf(why, cap, "coaps: out of memory");
		goto fail;
	}
	coap_set_app_data(c->ctx, c);
	/* libcoap splits large answers into Block2 itself; Block1 uploads
	 * come block by block to assemble (a capped body, see assemble). */
	coap_context_set_block_mode(c->ctx, COAP_BLOCK_USE_LIBCOAP);
	coap_context_set_max_idle_sessions(c->ctx, (unsigned)o->max_sessions);
	coap_context_set_max_handshake_sessions(c->ctx, (unsigned)o->max_sessions);
	coap_context_set_session_timeout(c->ctx, (unsigned)o->idle_timeout);
	coap_register_event_handler(c->ctx, on_event);
	c->pki = (coap_dtls_pki_t){
		.version = COAP_DTLS_PKI_SETUP_VERSION,
		.verify_peer_cert = 1,
		/* The trust store is fleetsecd's (tls_setup), not one CA file. */
		.check_common_ca = 0,
		/* A paired device's self-signed certificate (issue 18) is for
		 * HTTPS enrollment: over CoAPs every client chains to a CA. */
		.allow_self_signed = 0,
		.allow_expired_certs = 0,
		.cert_chain_validation = 1,
		.cert_chain_verify_depth = 4,
		/* Revocation is the registry's verdict (cn_check and every
		 * request), which is current; a CRL file would lag it. */
		.check_cert_revocation = 0,
		.validate_cn_call_back = cn_check,
		.cn_call_back_arg = c,
		.additional_tls_setup_call_back = tls_setup,
		.pki_key.key_type = COAP_PKI_KEY_PEM_BUF,
		.pki_key.key.pem_buf.public_cert = (const uint8_t *)c->si_cert,
		.pki_key.key.pem_buf.public_cert_len = c->si_cert_len,
		.pki_key.key.pem_buf.private_key = (const uint8_t *)c->si_key,
		.pki_key.key.pem_buf.private_key_len = c->si_key_len,
	};
	if (!coap_context_set_pki(c->ctx, &c->pki)) {
		snprintf(why, cap, "coaps: libcoap refused its stand-in certificate");
		goto fail;
	}
	/* DTLS only: no plaintext endpoint is ever made, so 5683 stays shut. */
	if (coap_new_endpoint(c->ctx, &addr, COAP_PROTO_DTLS) == NULL) {
		snprintf(why, cap, "coaps: cannot listen on %s:%u", o->host, o->port);
		goto fail;
	}
	if (!add_resources(c)) {
		snprintf(why, cap, "coaps: out of memory");
		goto fail;
	}
	/* Debian's libcoap is built with epoll: one descriptor stands for the
	 * socket, the sessions and libcoap's timers. */
	if ((fd = coap_context_get_coap_fd(c->ctx)) < 0) {
		snprintf(why, cap, "coaps: this libcoap has no epoll descriptor");
		goto fail;
	}
	if ((c->io = event_new(base, fd, EV_READ | EV_PERSIST, on_io, c)) == NULL ||
	    event_add(c->io, NULL) != 0) {
		snprintf(why, cap, "coaps: cannot add libcoap to the event loop");
		goto fail;
	}
	freeaddrinfo(ai);
	*out = c;
	return true;
fail:
	if (ai != NULL)
		freeaddrinfo(ai);
	coaps_free(c);
	return false;
}

void coaps_set_tls(struct coaps *c, SSL_CTX *tls)
{
	if (c == NULL)
		return;
	SSL_CTX_up_ref(tls);
	SSL_CTX_free(c->tls);
	c->tls = tls;
}

void coaps_drain(struct coaps *c)
{
	if (c != NULL)
		c->draining = true;
}

void coaps_free(struct coaps *c)
{
	if (c == NULL)
		return;
	if (c->io != NULL)
		event_free(c->io);
	for (size_t i = 0; i < c->ndoomed; i++)
		coap_session_release(c->doomed[i]);
	if (c->ctx != NULL)
		coap_free_context(c->ctx);
	while (c->live != NULL)
		sess_free(c, c->live);
	sk_X509_pop_free(c->hs_chain, X509_free);
	fsec_srclimit_free(c->per_source);
	SSL_CTX_free(c->tls);
	free(c->si_cert);
	if (c->si_key != NULL)
		OPENSSL_cleanse(c->si_key, c->si_key_len);
	free(c->si_key);
	free(c);
	coap_cleanup();
}
