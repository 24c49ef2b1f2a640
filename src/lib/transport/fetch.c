/* SPDX-License-Identifier: Apache-2.0 */
/* The device's HTTPS client (fetch.h) on libcurl: mutual TLS with any
 * loadable key, a pinned CA, Range resume, stall timeouts and size caps. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "coapc_int.h"
#include "err_int.h"
#include "fault_int.h"
#include "pem_int.h"
#include "fleetsec/fetch.h"
#include "fleetsec/fileio.h"
#include "fleetsec/key.h"

struct fsec_fetch {
	CURL *curl;
	long min_rate; /* bytes/s a transfer must average, for its deadline */
	long timeout;  /* a shorter deadline for every request, 0: none */
	EVP_PKEY *key;
	char *cert;
	char *crl_url;    /* NULL: the server's certificate is not checked for revocation */
	STACK_OF(X509_CRL) *crl; /* fetched by this client (one per issuing CA), checked in every later handshake */
	long retry_after;        /* the last 202's Retry-After, seconds; 0: none */
	char errbuf[CURL_ERROR_SIZE];
	/* coaps:// URLs (issue 17): the client for the server named by
	 * coap_server ("host:port" as the URL spells it), made at the first
	 * such request; the anchors it is made with. */
	struct fsec_coapc *coap;
	char coap_server[300];
	char *ca, *ca_learned;
	long stall; /* low_speed_time: how long one CoAPs exchange may go unanswered */
};

/* The most a fleet CRL may be: fleetsecd keeps it small (superseded
 * certificates leave it after expiry), and a device has little memory. */
#define CRL_MAX (8u * 1024u * 1024u)

/* Where a transfer's body goes. */
struct body {
	/* whole-body mode */
	unsigned char *buf;
	size_t len, max;
	/* range mode */
	enum fsec_err (*sink)(const unsigned char *p, size_t n, void *ctx);
	void *ctx;
	uint64_t want, got;
	enum fsec_err rc; /* why the write callback stopped the transfer */
	CURL *curl;
	long status;      /* the status the body must come with */
	bool checked;
	/* whole-body mode, another status: the start of the server's reason */
	bool mismatch;
	char why[160];
	size_t whylen;
};

/*
 * Every handshake after the CRL arrived checks the server against it:
 * OpenSSL then refuses a listed serial, a CRL not signed by the server
 * certificate's issuer, and one that is not current. The CRL goes to the
 * verification itself, not to the SSL_CTX's store, which libcurl may
 * replace with its cached one after this set-up.
 */
static int verify_with_crl(X509_STORE_CTX *sctx, void *arg)
{
	struct fsec_fetch *f = arg;

	X509_STORE_CTX_set0_crls(sctx, f->crl);
	X509_STORE_CTX_set_flags(sctx, X509_V_FLAG_CRL_CHECK);
	return X509_verify_cert(sctx);
}

/* The client key goes in through OpenSSL directly, so whatever
 * fsec_key_load_private can load (a file, a TPM-backed key) signs the
 * handshake; libcurl only ever sees an SSL_CTX. */
static CURLcode ssl_setup(CURL *curl, void *sslctx, void *arg)
{
	struct fsec_fetch *f = arg;
	SSL_CTX *ctx = sslctx;

	(void)curl;
	if (f->crl != NULL)
		SSL_CTX_set_cert_verify_callback(ctx, verify_with_crl, f);
	if (f->key == NULL)
		return CURLE_OK;
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, f->key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

/* The most a file of anchors may be: a few roots, never megabytes. */
#define ANCHORS_MAX (1024u * 1024u)

/*
 * The trust anchors: the pinned CA file, and beside it the roots the device
 * learned through a trust update (ca_learned, once it exists). libcurl takes
 * one CA file or one in-memory bundle (which then replaces the file), so two
 * files go in as one bundle; a bundle is also never swapped for libcurl's
 * cached store.
 */
static enum fsec_err set_anchors(CURL *curl, const char *ca, const char *learned)
{
	unsigned char *a = NULL, *b = NULL, *both = NULL;
	size_t alen = 0, blen = 0;
	struct curl_blob blob;
	enum fsec_err rc;

	if (learned == NULL || access(learned, F_OK) != 0)
		return curl_easy_setopt(curl, CURLOPT_CAINFO, ca) == CURLE_OK
			       ? FSEC_OK
			       : fsec_seterr(FSEC_ERR_NET, "libcurl set-up failed (CA file)");
	if ((rc = fsec_file_read(ca, ANCHORS_MAX, &a, &alen)) != FSEC_OK ||
	    (rc = fsec_file_read(learned, ANCHORS_MAX, &b, &blen)) != FSEC_OK)
		goto out;
	rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((both = malloc(alen + blen + 1)) == NULL)
		goto out;
	memcpy(both, a, alen);
	both[alen] = '\n';
	memcpy(both + alen + 1, b, blen);
	blob = (struct curl_blob){.data = both, .len = alen + blen + 1, .flags = CURL_BLOB_COPY};
	rc = curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob) == CURLE_OK
		     ? FSEC_OK
		     : fsec_seterr(FSEC_ERR_NET, "libcurl set-up failed (CA bundle)");
out:
	free(both);
	free(b);
	free(a);
	return rc;
}

FSEC_API enum fsec_err fsec_fetch_new(const struct fsec_fetch_opts *o, struct fsec_fetch **out)
{
	struct fsec_fetch *f = NULL;
	enum fsec_err rc = FSEC_ERR_NOMEM;
	CURLcode c = CURLE_OK;

	if (o->ca == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "a CA file is required: no trust on first use");
	if ((o->cert == NULL) != (o->key == NULL))
		return fsec_seterr(FSEC_ERR_INVAL, "client certificate and key go together");
	if (o->server_crl != NULL && strncmp(o->server_crl, "https://", 8) != 0 &&
	    strncmp(o->server_crl, "coaps://", 8) != 0)
		return fsec_seterr(FSEC_ERR_INVAL, "server CRL URL %.200s is neither https nor coaps",
				   o->server_crl);
	/* libcurl's synchronous resolver cannot time out without signals, which
	 * a library must not use: only a threaded resolver bounds DNS. */
	if (!(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_ASYNCHDNS))
		return fsec_seterr(FSEC_ERR_NET, "libcurl lacks an asynchronous resolver");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return fsec_seterr(FSEC_ERR_NET, "libcurl initialisation failed");
	f = calloc(1, sizeof(*f));
	if (f == NULL || (f->curl = curl_easy_init()) == NULL) {
		fsec_seterr(rc, "out of memory");
		goto fail;
	}
	if ((f->ca = strdup(o->ca)) == NULL ||
	    (o->ca_learned != NULL && (f->ca_learned = strdup(o->ca_learned)) == NULL) ||
	    (o->server_crl != NULL && (f->crl_url = strdup(o->server_crl)) == NULL)) {
		fsec_seterr(rc, "out of memory");
		goto fail;
	}
	if (o->key != NULL) {
		if ((rc = fsec_key_load_private(o->key, &f->key)) != FSEC_OK)
			goto fail;
		if ((f->cert = strdup(o->cert)) == NULL) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto fail;
		}
	}
	/* https only, never redirected, the peer and its name always checked. */
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_PROTOCOLS_STR, "https");
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_FOLLOWLOCATION, 0L);
	if ((rc = set_anchors(f->curl, o->ca, o->ca_learned)) != FSEC_OK)
		goto fail;
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_CAPATH, NULL);
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_SSL_CTX_FUNCTION, ssl_setup);
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_SSL_CTX_DATA, f);
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_LOW_SPEED_LIMIT,
						o->low_speed_limit > 0 ? o->low_speed_limit : 1024L);
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_LOW_SPEED_TIME,
						o->low_speed_time > 0 ? o->low_speed_time : 30L);
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_CONNECTTIMEOUT,
						o->connect_timeout > 0 ? o->connect_timeout : 15L);
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_ERRORBUFFER, f->errbuf);
	/* No proxy from the environment: the device talks to its server. */
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_PROXY, "");
	if (c == CURLE_OK) c = curl_easy_setopt(f->curl, CURLOPT_NOSIGNAL, 1L);
	/* A resumed TLS session verifies no certificate: with a revocation
	 * check, every connection makes a full handshake. */
	if (c == CURLE_OK && f->crl_url != NULL)
		c = curl_easy_setopt(f->curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	if (c != CURLE_OK) {
		rc = fsec_seterr(FSEC_ERR_NET, "libcurl set-up failed: %s", curl_easy_strerror(c));
		goto fail;
	}
	f->min_rate = o->low_speed_limit > 0 ? o->low_speed_limit : 1024L;
	f->stall = o->low_speed_time > 0 ? o->low_speed_time : 30L;
	f->timeout = o->timeout > 0 ? o->timeout : 0;
	*out = f;
	return FSEC_OK;
fail:
	fsec_fetch_free(f);
	return rc;
}

FSEC_API void fsec_fetch_free(struct fsec_fetch *f)
{
	if (f == NULL)
		return;
	curl_easy_cleanup(f->curl);
	fsec_coapc_free(f->coap);
	free(f->ca);
	free(f->ca_learned);
	EVP_PKEY_free(f->key);
	sk_X509_CRL_pop_free(f->crl, X509_CRL_free);
	free(f->crl_url);
	free(f->cert);
	free(f);
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb; /* libcurl guarantees size == 1 */

	fsec_fault_net(n);
	/* The status is known before the first byte of the body: an error
	 * page or a whole file sent for a Range request is refused unread. */
	if (!b->checked) {
		long status = 0;

		curl_easy_getinfo(b->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status != b->status && b->sink != NULL) {
			b->rc = fsec_seterr(FSEC_ERR_NET, "HTTP status %ld (expected %ld)", status,
					    b->status);
			return 0;
		}
		b->mismatch = status != b->status;
		b->checked = true;
	}
	/* An error answer's body is the server's reason (fleetsecd says why it
	 * refused): keep its start, and stop reading once that is full. */
	if (b->mismatch) {
		size_t room = sizeof(b->why) - 1 - b->whylen, take = n < room ? n : room;

		memcpy(b->why + b->whylen, p, take);
		b->whylen += take;
		return take == n ? n : 0;
	}
	if (b->sink != NULL) {
		/* want - got cannot underflow: got never passes want. */
		if (n > b->want - b->got) {
			b->rc = fsec_seterr(FSEC_ERR_TOO_LARGE,
					    "server sent more than the %llu bytes asked for",
					    (unsigned long long)b->want);
			return 0;
		}
		if ((b->rc = b->sink((const unsigned char *)p, n, b->ctx)) != FSEC_OK)
			return 0;
		b->got += n;
		return n;
	}
	if (n > b->max - b->len) {
		b->rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "response larger than %zu bytes", b->max);
		return 0;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	return n;
}

/* Run the transfer set up on f and check its status against want. */
static enum fsec_err perform(struct fsec_fetch *f, const char *url, struct body *b, long want)
{
	CURLcode c;
	long status = 0;

	f->errbuf[0] = '\0';
	f->retry_after = 0;
	b->curl = f->curl;
	b->status = want;
	/* A deadline for the whole transfer: a server dripping just above the
	 * low-speed limit must not hold the device for hours. */
	{
		uint64_t bytes = b->sink != NULL ? b->want : b->max;
		long secs = (long)(bytes / (uint64_t)f->min_rate) + 60;

		if (f->timeout > 0 && f->timeout < secs)
			secs = f->timeout;

		curl_easy_setopt(f->curl, CURLOPT_TIMEOUT, secs);
	}
	curl_easy_setopt(f->curl, CURLOPT_URL, url);
	curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, b);
	c = curl_easy_perform(f->curl);
	if (b->rc != FSEC_OK)
		return b->rc;
	curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
	if (b->mismatch || (c == CURLE_OK && status != want)) {
		b->why[b->whylen] = '\0';
		b->why[strcspn(b->why, "\r\n")] = '\0';
		/* "No content" is an answer, not a failure: nothing published. */
		if (status == 204 && want == 200)
			return fsec_seterr(FSEC_ERR_NOTFOUND, "the server has nothing for this device");
		/* "Accepted": the request waits (an enrollment for the
		 * operator's approval) and is to be sent again later. */
		if (status == 202 && want == 200) {
			curl_off_t ra = 0;

			if (curl_easy_getinfo(f->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
			    ra > 0)
				f->retry_after = ra > LONG_MAX ? LONG_MAX : (long)ra;
			return fsec_seterr(FSEC_ERR_BUSY, "the server holds the request%s%s",
					   b->why[0] != '\0' ? ": " : "", b->why);
		}
		return fsec_seterr(FSEC_ERR_NET, "HTTP status %ld (expected %ld)%s%s", status, want,
				   b->why[0] != '\0' ? ": " : "", b->why);
	}
	if (c == CURLE_PEER_FAILED_VERIFICATION && f->crl != NULL) {
		long vr = X509_V_OK;

		curl_easy_getinfo(f->curl, CURLINFO_SSL_VERIFYRESULT, &vr);
		if (vr == X509_V_ERR_CERT_REVOKED)
			return fsec_seterr(FSEC_ERR_VERIFY, "the server's certificate is revoked "
					   "(listed on the fleet's CRL): refusing the server");
		return fsec_seterr(FSEC_ERR_VERIFY, "the server's certificate does not check "
				   "against the fleet's CRL: %s: refusing the server",
				   X509_verify_cert_error_string(vr));
	}
	if (c != CURLE_OK)
		return fsec_seterr(FSEC_ERR_NET, "%s: %s", curl_easy_strerror(c),
				   f->errbuf[0] != '\0' ? f->errbuf : "transfer failed");
	return FSEC_OK;
}

/* A CRL is current: thisUpdate <= now < nextUpdate. One without
 * nextUpdate never says it is stale: not current either. */
static bool crl_current(const X509_CRL *crl)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);

	return X509_cmp_time(X509_CRL_get0_lastUpdate(crl), NULL) == -1 && next != NULL &&
	       X509_cmp_time(next, NULL) == 1;
}

/* The CRLs as fleetsecd serves them: one in DER, or, after an issuing CA
 * rotation, one per issuing CA in use as PEM (at most CRL_SET_MAX). */
#define CRL_SET_MAX 9
static STACK_OF(X509_CRL) *crl_parse(const unsigned char *buf, size_t len)
{
	STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
	const unsigned char *p = buf;
	X509_CRL *crl = NULL;
	BIO *b = NULL;

	if (crls == NULL || len > INT_MAX)
		goto fail;
	if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) != NULL && p == buf + len) {
		if (!sk_X509_CRL_push(crls, crl))
			goto fail;
		return crls;
	}
	X509_CRL_free(crl);
	crl = NULL;
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
		goto fail;
	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
		/* Capped: one per issuing CA, never an unbounded list. */
		if (sk_X509_CRL_num(crls) == CRL_SET_MAX || !sk_X509_CRL_push(crls, crl))
			goto fail;
		crl = NULL;
	}
	/* A block that does not parse is a damaged answer, never a shorter
	 * set of CRLs. */
	if (!fsec_pem_clean_end() || sk_X509_CRL_num(crls) == 0)
		goto fail;
	BIO_free(b);
	return crls;
fail:
	ERR_clear_error();
	X509_CRL_free(crl);
	BIO_free(b);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return NULL;
}

/* ---- coaps:// (issue 17) ---- */

static bool is_coaps(const char *url)
{
	return strncmp(url, "coaps://", 8) == 0;
}

/*
 * The CoAPs client for url's server, and url's path. A device talks to one
 * server: the client is kept, and a URL naming another server replaces it.
 * No query or fragment: no fleetsec resource takes one.
 */
static enum fsec_err coap_for(struct fsec_fetch *f, const char *url, const char **path)
{
	const char *a = url + 8, *h = a, *rest;
	size_t alen = strcspn(a, "/?#"), hlen;
	char host[256], port[8] = "5684";
	struct fsec_coapc_opts o = {.host = host, .port = port, .ca = f->ca,
				    .ca_learned = f->ca_learned, .cert = f->cert, .key = f->key,
				    .crls = f->crl, .stall = f->stall};
	enum fsec_err rc;

	if (alen == 0 || alen >= sizeof(f->coap_server) || strpbrk(a, "?#") != NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "%.200s: not a coaps://HOST[:PORT]/PATH URL", url);
	*path = a[alen] == '\0' ? "/" : a + alen;
	if (f->coap != NULL && strlen(f->coap_server) == alen &&
	    memcmp(f->coap_server, a, alen) == 0)
		return FSEC_OK;
	if (*h == '[') {
		const char *end = memchr(h, ']', alen);

		if (end == NULL)
			return fsec_seterr(FSEC_ERR_INVAL, "%.200s: unclosed [", url);
		hlen = (size_t)(end - h - 1);
		h++;
		rest = end + 1;
	} else {
		const char *colon = memchr(h, ':', alen);

		hlen = colon != NULL ? (size_t)(colon - h) : alen;
		rest = h + hlen;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return fsec_seterr(FSEC_ERR_INVAL, "%.200s: no host, or one too long", url);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (rest < a + alen) {
		size_t plen = (size_t)(a + alen - rest) - 1;

		if (*rest != ':' || plen == 0 || plen > 5 || strspn(rest + 1, "0123456789") < plen)
			return fsec_seterr(FSEC_ERR_INVAL, "%.200s: bad port", url);
		memcpy(port, rest + 1, plen);
		port[plen] = '\0';
	}
	fsec_coapc_free(f->coap);
	f->coap = NULL;
	if ((rc = fsec_coapc_new(&o, &f->coap)) != FSEC_OK)
		return rc;
	memcpy(f->coap_server, a, alen);
	f->coap_server[alen] = '\0';
	return FSEC_OK;
}

/* When a CoAPs request of this many bytes must be over: as perform's. */
static time_t coap_deadline(const struct fsec_fetch *f, uint64_t bytes)
{
	struct timespec ts;
	long secs = (long)(bytes / (uint64_t)f->min_rate) + 60;

	if (f->timeout > 0 && f->timeout < secs)
		secs = f->timeout;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + secs;
}

/* The CoAP content format of a request body fetch.h names by media type;
 * EST's CSR goes as DER (estc.c makes it so for a coaps server). */
static int coap_format(const char *content_type)
{
	if (strcmp(content_type, "application/json") == 0)
		return 50;
	if (strcmp(content_type, "application/pkcs10") == 0)
		return 286;
	if (strcmp(content_type, "application/x-pem-file") == 0)
		return 0; /* text/plain: no format names PEM */
	return -1;
}

/*
 * A whole-body CoAPs request, with fetch.h's meaning of the outcome: 2.05
 * (GET) or 2.04 (POST) is success, and an empty 2.05 is NOTFOUND (HTTPS's
 * 204, "nothing for this device"). An EST request (a CSR, 286) answered
 * 5.03 with Max-Age is BUSY, with Max-Age as the Retry-After: RFC 9148
 * section 5 answers a held enrollment so, where HTTPS says 202. fleetsecd
 * also answers "retry later" (HTTPS's 503) that way; for EST both mean ask
 * again then, and any other request gets NET, as a 503 does over HTTPS.
 */
static enum fsec_err coap_whole(struct fsec_fetch *f, const char *url, unsigned method,
				const char *content_type, const void *data, size_t dlen,
				size_t max, unsigned char **buf, size_t *len)
{
	struct fsec_coapc_status st;
	unsigned want = method == 2 ? (2u << 5 | 4u) : (2u << 5 | 5u);
	int cf = content_type != NULL ? coap_format(content_type) : -1;
	const char *path;
	enum fsec_err rc;

	f->retry_after = 0;
	if (content_type != NULL && cf < 0)
		return fsec_seterr(FSEC_ERR_INVAL, "no CoAP content format for %.100s",
				   content_type);
	if ((rc = coap_for(f, url, &path)) != FSEC_OK)
		return rc;
	/* EST's CSR asks for the certs-only CMS (281), as RFC 9148 does. */
	rc = fsec_coapc_request(f->coap, method, path, cf, cf == 286 ? 281 : -1, data, dlen, max,
				coap_deadline(f, max), buf, len, &st);
	if (rc != FSEC_OK)
		return rc;
	if (st.code == want && !(method == 1 && *len == 0))
		return FSEC_OK;
	free(*buf);
	*buf = NULL;
	*len = 0;
	if (st.code == want)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "the server has nothing for this device");
	if (st.code == (5u << 5 | 3u) && st.max_age >= 0 && cf == 286) {
		f->retry_after = st.max_age;
		return fsec_seterr(FSEC_ERR_BUSY, "the server asks to retry in %ld s%s%s",
				   st.max_age, st.why[0] != '\0' ? ": " : "", st.why);
	}
	return fsec_seterr(FSEC_ERR_NET, "CoAP %u.%02u (expected %u.%02u)%s%s", st.code >> 5,
			   st.code & 31u, want >> 5, want & 31u, st.why[0] != '\0' ? ": " : "",
			   st.why);
}

/*
 * Before the first request: fetch the server CRL over a connection that
 * curl then closes (the requests that follow each open one that checks
 * against it), and require it to be current. Fail closed: without a
 * current CRL, the server is not trusted for anything.
 */
static enum fsec_err ensure_crl(struct fsec_fetch *f)
{
	struct body b = {.max = CRL_MAX};
	STACK_OF(X509_CRL) *crls = NULL;
	enum fsec_err rc;

	if (f->crl_url == NULL || f->crl != NULL)
		return FSEC_OK;
	if ((b.buf = malloc(CRL_MAX + 1)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (is_coaps(f->crl_url)) {
		unsigned char *got = NULL;

		/* Its DTLS session is dropped with the client below: the
		 * requests that follow shake hands with the CRL checked. */
		if ((rc = coap_whole(f, f->crl_url, 1, NULL, NULL, 0, CRL_MAX, &got, &b.len)) ==
		    FSEC_OK)
			memcpy(b.buf, got, b.len);
		free(got);
		fsec_coapc_free(f->coap);
		f->coap = NULL;
	} else {
		curl_easy_setopt(f->curl, CURLOPT_RANGE, NULL);
		curl_easy_setopt(f->curl, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(f->curl, CURLOPT_FORBID_REUSE, 1L);
		rc = perform(f, f->crl_url, &b, 200);
		curl_easy_setopt(f->curl, CURLOPT_FORBID_REUSE, 0L);
	}
	if (rc != FSEC_OK) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "no server CRL from %.200s (%s): refusing the "
				 "server", f->crl_url, fsec_err_detail());
		goto out;
	}
	rc = FSEC_ERR_VERIFY;
	if ((crls = crl_parse(b.buf, b.len)) == NULL) {
		fsec_seterr(rc, "the server CRL from %.200s is not a CRL: refusing the server",
			    f->crl_url);
		goto out;
	}
	for (int i = 0; i < sk_X509_CRL_num(crls); i++)
		if (!crl_current(sk_X509_CRL_value(crls, i))) {
			fsec_seterr(rc, "the server CRL from %.200s is not current (stale or not "
				    "yet valid): refusing the server", f->crl_url);
			goto out;
		}
	f->crl = crls;
	crls = NULL;
	rc = FSEC_OK;
out:
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	free(b.buf);
	return rc;
}

FSEC_API enum fsec_err fsec_fetch_get(struct fsec_fetch *f, const char *url, size_t max,
				      unsigned char **buf, size_t *len)
{
	struct body b = {.max = max};
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = ensure_crl(f)) != FSEC_OK)
		return rc;
	if (is_coaps(url))
		return coap_whole(f, url, 1, NULL, NULL, 0, max, buf, len);
	b.buf = malloc(max + 1);
	if (b.buf == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	curl_easy_setopt(f->curl, CURLOPT_RANGE, NULL);
	rc = perform(f, url, &b, 200);
	if (rc != FSEC_OK) {
		free(b.buf);
		return rc;
	}
	b.buf[b.len] = '\0';
	*buf = b.buf;
	*len = b.len;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_fetch_post(struct fsec_fetch *f, const char *url,
				       const char *content_type, const void *data, size_t dlen,
				       size_t max, unsigned char **buf, size_t *len)
{
	struct curl_slist *h = NULL;
	char ct[128];
	enum fsec_err rc;

	/* First, as a GET: the POST fields below are for the request itself. */
	fsec_clearerr();
	if ((rc = ensure_crl(f)) != FSEC_OK)
		return rc;
	if (is_coaps(url))
		return coap_whole(f, url, 2, content_type, data, dlen, max, buf, len);
	if (snprintf(ct, sizeof(ct), "Content-Type: %s", content_type) >= (int)sizeof(ct) ||
	    (h = curl_slist_append(NULL, ct)) == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "bad content type");
	curl_easy_setopt(f->curl, CURLOPT_POSTFIELDS, data);
	curl_easy_setopt(f->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)dlen);
	curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, h);
	rc = fsec_fetch_get(f, url, max, buf, len);
	/* Back to a plain GET for whatever the handle does next. */
	curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(f->curl, CURLOPT_HTTPGET, 1L);
	curl_slist_free_all(h);
	return rc;
}

FSEC_API enum fsec_err fsec_fetch_range(struct fsec_fetch *f, const char *url, uint64_t off,
					uint64_t len,
					enum fsec_err (*sink)(const unsigned char *p, size_t n,
							      void *ctx),
					void *ctx)
{
	struct body b = {.sink = sink, .ctx = ctx, .want = len};
	char range[48];
	enum fsec_err rc;

	fsec_clearerr();
	if (len == 0 || off > UINT64_MAX - len)
		return fsec_seterr(FSEC_ERR_INVAL, "empty or overflowing range");
	if ((rc = ensure_crl(f)) != FSEC_OK)
		return rc;
	if (is_coaps(url)) {
		struct fsec_coapc_status st;
		const char *path;

		if ((rc = coap_for(f, url, &path)) != FSEC_OK)
			return rc;
		return fsec_coapc_range(f->coap, path, off, len, coap_deadline(f, len), sink, ctx,
					&st);
	}
	snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	curl_easy_setopt(f->curl, CURLOPT_RANGE, range);
	/* A server that ignores Range answers 200 with the whole file: refused,
	 * as is any answer that is not exactly the range asked for. */
	rc = perform(f, url, &b, 206);
	curl_easy_setopt(f->curl, CURLOPT_RANGE, NULL);
	if (rc == FSEC_OK && b.got != len)
		rc = fsec_seterr(FSEC_ERR_NET, "short read: %llu of %llu bytes",
				 (unsigned long long)b.got, (unsigned long long)len);
	return rc;
}

FSEC_API bool fsec_fetch_url_ok(const char *url)
{
	return strncmp(url, "https://", 8) == 0 || is_coaps(url);
}

FSEC_API long fsec_fetch_retry_after(const struct fsec_fetch *f)
{
	return f->retry_after;
}
