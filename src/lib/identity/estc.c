/* SPDX-License-Identifier: Apache-2.0 */
/* The device's EST client (estc.h): enrollment and renewal over
 * mutual TLS, with the key generated on the device. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "b64_int.h"
#include "err_int.h"
#include "estc_int.h"
#include "pem_int.h"
#include "fleetsec/ca.h"
#include "fleetsec/csr.h"
#include "fleetsec/estc.h"
#include "fleetsec/fetch.h"
#include "fleetsec/fileio.h"
#include "fleetsec/key.h"
#include "fleetsec/text.h"

/* A certs-only response holding one certificate is a few KiB. */
#define RESPONSE_MAX FSEC_ESTC_ANSWER_MAX

/* A CSR for key as base64 DER with line breaks. subject NULL: a label only,
 * since the server names a new device after its bootstrap serial; a renewal
 * repeats the current certificate's subject (RFC 7030 section 4.2.2). */
/* When to ask again about a request the server holds: its Retry-After,
 * within these bounds (a server that says nothing gets a minute). */
#define RETRY_DEFAULT 60u
#define RETRY_MAX 3600u

/* EST over CoAPs (RFC 9148) carries DER where HTTPS (RFC 7030) carries
 * base64, under short names: crts, sen, sren. */
static bool over_coap(const struct fsec_estc_opts *o)
{
	return strncmp(o->server, "coaps://", 8) == 0;
}

/* The URL of EST operation op (its RFC 7030 name) on o's server. */
static enum fsec_err est_url(const struct fsec_estc_opts *o, const char *op, char *url,
			     size_t cap)
{
	const char *name = op;

	if (over_coap(o))
		name = strcmp(op, "cacerts") == 0	  ? "crts"
		       : strcmp(op, "simpleenroll") == 0 ? "sen"
		       : strcmp(op, "simplereenroll") == 0 ? "sren"
							   : op;
	if ((size_t)snprintf(url, cap, "%s/.well-known/est/%s", o->server, name) >= cap)
		return fsec_seterr(FSEC_ERR_INVAL, "server URL too long");
	return FSEC_OK;
}

static enum fsec_err make_csr(EVP_PKEY *key, const X509_NAME *subject, bool der_out, char **b64,
			      size_t *len)
{
	X509_REQ *req = NULL;
	unsigned char *der = NULL;
	enum fsec_err rc;
	int n;

	if ((rc = fsec_csr_make(key, subject, "fleetsec-device", &req)) != FSEC_OK)
		return rc;
	rc = FSEC_ERR_CRYPTO;
	if ((n = i2d_X509_REQ(req, &der)) <= 0)
		fsec_seterr_ossl(rc, "cannot encode the CSR");
	else if (der_out) {
		/* Into the C heap the caller frees with free(). */
		if ((*b64 = malloc((size_t)n)) == NULL)
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		else {
			memcpy(*b64, der, (size_t)n);
			*len = (size_t)n;
			rc = FSEC_OK;
		}
	} else if ((*b64 = fsec_b64_encode_lines(der, (size_t)n, len)) == NULL)
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	else
		rc = FSEC_OK;
	OPENSSL_free(der);
	X509_REQ_free(req);
	return rc;
}

enum fsec_err fsec_estc_parse_certs(const unsigned char *body, size_t len, bool der_in, int want,
				    STACK_OF(X509) **out)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t dlen = 0;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *certs;
	enum fsec_err rc = FSEC_ERR_PARSE;

	if (der_in) {
		if (len == 0 || len > RESPONSE_MAX || (der = malloc(len)) == NULL)
			return fsec_seterr(rc, "the server's answer is empty or too large");
		memcpy(der, body, len);
		dlen = len;
	} else if (!fsec_b64_decode_lines(body, len, RESPONSE_MAX, &der, &dlen))
		return fsec_seterr(rc, "the server's answer is not base64");
	p = der;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)dlen)) == NULL || p != der + dlen ||
	    !PKCS7_type_is_signed(p7) || p7->d.sign == NULL ||
	    (certs = p7->d.sign->cert) == NULL || sk_X509_num(certs) < 1 ||
	    (want != 0 && sk_X509_num(certs) != want)) {
		fsec_seterr_ossl(rc, want == 1 ? "the server's answer is not a certs-only CMS with "
						 "one certificate"
					       : "the server's answer is not a certs-only CMS");
		goto out;
	}
	/* The stack leaves the CMS, which frees without it. */
	*out = certs;
	p7->d.sign->cert = NULL;
	rc = FSEC_OK;
out:
	PKCS7_free(p7);
	free(der);
	return rc;
}

/* The one certificate in a certs-only CMS (fsec_estc_parse_certs). */
static enum fsec_err parse_response(const unsigned char *body, size_t len, bool der_in,
				    X509 **out)
{
	STACK_OF(X509) *certs = NULL;
	enum fsec_err rc = fsec_estc_parse_certs(body, len, der_in, 1, &certs);

	if (rc == FSEC_OK) {
		*out = sk_X509_value(certs, 0);
		X509_up_ref(*out);
	}
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/* The device's trust anchors: the pinned ca file, and the roots it learned
 * through trust updates (fsec_estc_learn_roots) once there are any. */
static enum fsec_err load_anchors(const struct fsec_estc_opts *o, X509_STORE **out)
{
	X509_STORE *st = X509_STORE_new();
	enum fsec_err rc = FSEC_OK;

	if (st == NULL || X509_STORE_load_file(st, o->ca) != 1)
		rc = fsec_seterr_ossl(FSEC_ERR_IO, "%s: cannot load the fleet CA", o->ca);
	else if (o->ca_learned != NULL && access(o->ca_learned, F_OK) == 0 &&
		 X509_STORE_load_file(st, o->ca_learned) != 1)
		rc = fsec_seterr_ossl(FSEC_ERR_IO, "%s: cannot load the learned roots",
				      o->ca_learned);
	if (rc != FSEC_OK) {
		X509_STORE_free(st);
		return rc;
	}
	*out = st;
	return FSEC_OK;
}

/*
 * The certificate must be for our key and chain to the pinned fleet CA.
 * untrusted: intermediate certificates that may help build the chain (the
 * server's cacerts), never anchors. *missing_issuer tells a chain that
 * could not be built (ca holds the root only) from a wrong certificate.
 */
static enum fsec_err check_cert(X509 *cert, EVP_PKEY *key, const struct fsec_estc_opts *o,
				STACK_OF(X509) *untrusted, bool *missing_issuer,
				char id[FSEC_DEVID_MAX + 1])
{
	X509_STORE *st = NULL;
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	enum fsec_err rc = FSEC_ERR_VERIFY;

	if (ctx == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = load_anchors(o, &st)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_VERIFY;
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
		fsec_seterr(rc, "the certificate returned is not for this device's new key");
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, st, cert, untrusted) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1 ||
	    X509_verify_cert(ctx) != 1) {
		*missing_issuer = X509_STORE_CTX_get_error(ctx) ==
					  X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
				  X509_STORE_CTX_get_error(ctx) ==
					  X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
		fsec_seterr(rc, "the certificate returned does not verify against %s: %s", o->ca,
			    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	if ((rc = fsec_identity_from_cert(cert, id)) != FSEC_OK)
		goto out;
	rc = FSEC_OK;
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return rc;
}

/*
 * Check the certificate the server returned (check_cert). A device whose
 * pinned CA file holds the fleet root only (ca = root.pem) cannot build the
 * chain of a certificate from the issuing CA: then the intermediates come
 * from the server's cacerts (RFC 7030 section 4.1), over the same
 * authenticated connection, and are used as untrusted certificates only,
 * so the chain must still end at the pinned root.
 */
static enum fsec_err check_issued(const struct fsec_estc_opts *o, struct fsec_fetch *f, X509 *cert,
				  EVP_PKEY *key, char id[FSEC_DEVID_MAX + 1])
{
	STACK_OF(X509) *cas = NULL;
	unsigned char *resp = NULL;
	char url[1024];
	size_t rlen = 0;
	bool missing = false;
	enum fsec_err rc = check_cert(cert, key, o, NULL, &missing, id);

	if (rc != FSEC_ERR_VERIFY || !missing)
		return rc;
	if ((rc = est_url(o, "cacerts", url, sizeof(url))) != FSEC_OK)
		return rc;
	if ((rc = fsec_fetch_get(f, url, RESPONSE_MAX, &resp, &rlen)) != FSEC_OK) {
		rc = fsec_seterr(rc, "cacerts: %s", fsec_err_detail());
		goto out;
	}
	if ((rc = fsec_estc_parse_certs(resp, rlen, over_coap(o), 0, &cas)) == FSEC_OK)
		rc = check_cert(cert, key, o, cas, &missing, id);
out:
	sk_X509_pop_free(cas, X509_free);
	free(resp);
	return rc;
}

/*
 * The key this enrollment asks for. It is written (0600) before the request
 * is sent and kept beside the final key until the certificate arrives: if
 * the answer is lost, the next attempt asks with the same key, and the
 * server, seeing the bootstrap credential that enrolled this device and its
 * key, sends the certificate again instead of refusing a device that would
 * otherwise be stranded.
 */
static enum fsec_err pending_key(const char *path, EVP_PKEY **key)
{
	enum fsec_err rc;

	if (access(path, F_OK) == 0)
		return fsec_key_load_private(path, key);
	if ((rc = fsec_key_generate(FSEC_KEY_P256, key)) != FSEC_OK)
		return rc;
	if ((rc = fsec_key_save_private(*key, path)) != FSEC_OK) {
		EVP_PKEY_free(*key);
		*key = NULL;
	}
	return rc;
}

/*
 * One EST request: op (simpleenroll or simplereenroll) authenticated by the
 * TLS credential tls_cert/tls_key, for the pending key beside key_out, with
 * subject (see make_csr); on success the certificate, then the key, land.
 */
static enum fsec_err est_request(const struct fsec_estc_opts *o, const char *op,
				 const char *tls_cert, const char *tls_key, const X509_NAME *subject,
				 bool own_key, char id[FSEC_DEVID_MAX + 1])
{
	struct fsec_fetch_opts fo = {.ca = o->ca, .ca_learned = o->ca_learned,
				     .cert = tls_cert, .key = tls_key,
				     .server_crl = o->server_crl != NULL && o->server_crl[0] != '\0'
							   ? o->server_crl
							   : NULL};
	struct fsec_fetch *f = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	unsigned char *resp = NULL;
	char *csr = NULL, *pem = NULL, url[1024], pending[4096];
	size_t clen = 0, rlen = 0;
	enum fsec_err rc;

	if ((rc = est_url(o, op, url, sizeof(url))) != FSEC_OK)
		return rc;
	if ((size_t)snprintf(pending, sizeof(pending), "%s.pending", o->key_out) >= sizeof(pending))
		return fsec_seterr(FSEC_ERR_INVAL, "key path too long");
	/* own_key: the request is for the key already at key_out (a paired
	 * key, issue 18), which stays where it is. */
	if ((rc = fsec_fetch_new(&fo, &f)) != FSEC_OK ||
	    (rc = own_key ? fsec_key_load_private(o->key_out, &key) : pending_key(pending, &key)) !=
		    FSEC_OK ||
	    (rc = make_csr(key, subject, over_coap(o), &csr, &clen)) != FSEC_OK)
		goto out;
	if ((rc = fsec_fetch_post(f, url, "application/pkcs10", csr, clen, RESPONSE_MAX, &resp,
				  &rlen)) == FSEC_ERR_BUSY) {
		long ra = fsec_fetch_retry_after(f);

		/* Held, not refused: the pending key stays for the retry,
		 * which the operator's approval of this key lets through. */
		if (o->retry_after != NULL)
			*o->retry_after = ra < 1 ? RETRY_DEFAULT : ra > RETRY_MAX ? RETRY_MAX : (unsigned)ra;
		rc = fsec_seterr(rc, "%s: %s", op, fsec_err_detail());
		goto out;
	}
	if (rc != FSEC_OK) {
		rc = fsec_seterr(rc, "%s refused: %s", op, fsec_err_detail());
		goto out;
	}
	if ((rc = parse_response(resp, rlen, over_coap(o), &cert)) != FSEC_OK ||
	    (rc = check_issued(o, f, cert, key, id)) != FSEC_OK ||
	    (rc = fsec_cert_pem(cert, &pem)) != FSEC_OK)
		goto out;
	/* The certificate lands first, then the pending key takes the key's
	 * place. A cut between the two leaves the pending key, so the next
	 * attempt asks with the same key and the server sends the certificate
	 * again. */
	if ((rc = fsec_file_write_atomic(o->cert_out, pem, strlen(pem), 0644, 0)) != FSEC_OK ||
	    own_key)
		goto out;
	if (rename(pending, o->key_out) != 0) {
		rc = fsec_seterr(FSEC_ERR_IO, "%s: %s", o->key_out, strerror(errno));
		goto out;
	}
	rc = fsec_dir_sync_parent(o->key_out);
out:
	fsec_fetch_free(f);
	EVP_PKEY_free(key);
	X509_free(cert);
	free(resp);
	free(csr);
	free(pem);
	return rc;
}

FSEC_API enum fsec_err fsec_estc_finish(const char *key_out, const char *cert_out)
{
	char pending[4096];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	enum fsec_err rc = FSEC_OK;

	fsec_clearerr();
	if ((size_t)snprintf(pending, sizeof(pending), "%s.pending", key_out) >= sizeof(pending))
		return fsec_seterr(FSEC_ERR_INVAL, "key path too long");
	if (access(pending, F_OK) != 0 || access(cert_out, F_OK) != 0)
		return FSEC_OK;
	if ((rc = fsec_pem_cert_read(cert_out, &cert)) != FSEC_OK ||
	    (rc = fsec_key_load_private(pending, &key)) != FSEC_OK)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), key) == 1) {
		if (rename(pending, key_out) != 0)
			rc = fsec_seterr(FSEC_ERR_IO, "%s: %s", key_out, strerror(errno));
		else
			rc = fsec_dir_sync_parent(key_out);
	}
out:
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

FSEC_API enum fsec_err fsec_estc_enroll(const struct fsec_estc_opts *o,
					char id[FSEC_DEVID_MAX + 1])
{
	fsec_clearerr();
	return est_request(o, "simpleenroll", o->bootstrap_cert, o->bootstrap_key, NULL, false, id);
}

FSEC_API enum fsec_err fsec_estc_enroll_paired(const struct fsec_estc_opts *o,
					       const char *self_signed,
					       char id[FSEC_DEVID_MAX + 1])
{
	fsec_clearerr();
	return est_request(o, "simpleenroll", self_signed, o->key_out, NULL, true, id);
}

/* notBefore and notAfter of cert as UNIX time. */
static enum fsec_err validity(X509 *cert, int64_t *nb, int64_t *na)
{
	struct tm a, b;

	if (!ASN1_TIME_to_tm(X509_get0_notBefore(cert), &a) ||
	    !ASN1_TIME_to_tm(X509_get0_notAfter(cert), &b))
		return fsec_seterr_ossl(FSEC_ERR_PARSE, "unreadable certificate validity");
	*nb = (int64_t)timegm(&a);
	*na = (int64_t)timegm(&b);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_estc_renew(const struct fsec_estc_opts *o, bool force,
				       struct fsec_estc_renewal *out)
{
	unsigned char r[4];
	char pending[4096];
	X509 *cur = NULL;
	int64_t nb = 0, na = 0, life, jitter;
	enum fsec_err rc;

	fsec_clearerr();
	memset(out, 0, sizeof(*out));
	if ((size_t)snprintf(pending, sizeof(pending), "%s.pending", o->key_out) >= sizeof(pending))
		return fsec_seterr(FSEC_ERR_INVAL, "key path too long");
	if ((rc = fsec_pem_cert_read(o->cert_out, &cur)) != FSEC_OK)
		return rc;
	if ((rc = validity(cur, &nb, &na)) != FSEC_OK)
		goto out;
	/* Two thirds into the lifetime, less a random share of up to a
	 * twentieth of it, so that a fleet issued in one day does not renew in
	 * one minute (step-ca does the same). */
	life = na > nb ? na - nb : 0;
	if (RAND_bytes(r, sizeof(r)) != 1) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "random number generator failed");
		goto out;
	}
	jitter = life / 20 > 0 ? (int64_t)(((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 |
					    (uint32_t)r[2] << 8 | r[3]) %
					   (uint64_t)(life / 20))
			       : 0;
	out->due = nb + life / 3 * 2 - jitter;
	out->expires = na;
	/* A pending key (fsec_estc_finish has run) is a request whose answer
	 * never landed: the server may already have superseded the current
	 * certificate, which then opens nothing but this retry. So it is due
	 * now, whatever the date says. */
	if (!force && (int64_t)time(NULL) < out->due && access(pending, F_OK) != 0) {
		rc = fsec_identity_from_cert(cur, out->id);
		goto out;
	}
	/* No server accepts an expired certificate in the handshake. The one
	 * way back without a person is the factory credential, which the
	 * server lets re-enrol an expired device once (est.c,
	 * bootstrap_policy). A pending key goes with it: if the lost answer
	 * was a renewal the server did commit, it re-sends that certificate. */
	if ((int64_t)time(NULL) >= na) {
		char when[32];

		fsec_time_format(na, when);
		if (o->bootstrap_cert == NULL || o->bootstrap_cert[0] == '\0' ||
		    o->bootstrap_key == NULL || o->bootstrap_key[0] == '\0') {
			rc = fsec_seterr(FSEC_ERR_POLICY,
					 "%s: the certificate expired %s; only the bootstrap "
					 "credential can re-enrol it (bootstrap_cert, bootstrap_key)",
					 o->cert_out, when);
			goto out;
		}
		if ((rc = est_request(o, "simpleenroll", o->bootstrap_cert, o->bootstrap_key, NULL, false,
				      out->id)) == FSEC_OK)
			out->renewed = out->reenrolled = true;
		else
			rc = fsec_seterr(rc, "the certificate expired %s; re-enrolling: %s", when,
					 fsec_err_detail());
		goto out;
	}
	if ((rc = est_request(o, "simplereenroll", o->cert_out, o->key_out,
			      X509_get_subject_name(cur), false, out->id)) == FSEC_OK)
		out->renewed = true;
out:
	X509_free(cur);
	return rc;
}

/* A self-signed CA certificate that is valid now: what may become a root. */
static bool root_now(X509 *c)
{
	return X509_check_issued(c, c) == X509_V_OK && X509_verify(c, X509_get0_pubkey(c)) == 1 &&
	       X509_check_ca(c) >= 1 && X509_cmp_current_time(X509_get0_notBefore(c)) < 0 &&
	       X509_cmp_current_time(X509_get0_notAfter(c)) > 0;
}

/* Whether st already trusts cert itself (not merely its issuer). */
static bool is_anchor(X509_STORE *st, X509 *cert)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);

	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *a = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (a != NULL && X509_cmp(a, cert) == 0)
			return true;
	}
	return false;
}

/*
 * Whether cross vouches for root: a CA certificate, not self-issued, with
 * root's subject and public key, signed by an anchor of st directly (a
 * chain of two) and valid now. That is a statement by a root the device
 * already trusts that root's key is a fleet root.
 */
static bool vouches(X509_STORE *st, X509 *cross, X509 *root)
{
	X509_STORE_CTX *ctx;
	bool ok = false;

	if (X509_check_issued(cross, cross) == X509_V_OK || X509_check_ca(cross) < 1 ||
	    X509_NAME_cmp(X509_get_subject_name(cross), X509_get_subject_name(root)) != 0 ||
	    EVP_PKEY_eq(X509_get0_pubkey(cross), X509_get0_pubkey(root)) != 1)
		return false;
	if ((ctx = X509_STORE_CTX_new()) != NULL && X509_STORE_CTX_init(ctx, st, cross, NULL) == 1 &&
	    X509_verify_cert(ctx) == 1 && sk_X509_num(X509_STORE_CTX_get0_chain(ctx)) == 2)
		ok = true;
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* The roots learned before, still valid now, appended to keep. */
static enum fsec_err learned_before(const char *path, STACK_OF(X509) *keep)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	X509 *c;
	enum fsec_err rc;

	if (access(path, F_OK) != 0)
		return FSEC_OK;
	if ((rc = fsec_file_read(path, RESPONSE_MAX, &buf, &len)) != FSEC_OK)
		return rc;
	rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (len > INT_MAX || (b = BIO_new_mem_buf(buf, (int)len)) == NULL)
		goto out;
	while ((c = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!root_now(c) || sk_X509_push(keep, c) <= 0)
			X509_free(c);
	ERR_clear_error();
	rc = FSEC_OK;
out:
	BIO_free(b);
	free(buf);
	return rc;
}

/* keep, as PEM, in place of path (atomically, readable by all: anchors
 * are public). */
static enum fsec_err write_learned(const char *path, STACK_OF(X509) *keep)
{
	char *all = NULL, *pem = NULL;
	size_t len = 0;
	enum fsec_err rc = FSEC_OK;

	for (int i = 0; rc == FSEC_OK && i < sk_X509_num(keep); i++) {
		char *grown;
		size_t plen;

		if ((rc = fsec_cert_pem(sk_X509_value(keep, i), &pem)) != FSEC_OK)
			break;
		plen = strlen(pem);
		if ((grown = realloc(all, len + plen + 1)) == NULL) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			break;
		}
		all = grown;
		memcpy(all + len, pem, plen + 1);
		len += plen;
		free(pem);
		pem = NULL;
	}
	if (rc == FSEC_OK)
		rc = fsec_file_write_atomic(path, all, len, 0644, 0);
	free(pem);
	free(all);
	return rc;
}

FSEC_API enum fsec_err fsec_estc_learn_roots(const struct fsec_estc_opts *o,
					     struct fsec_estc_trust *out)
{
	struct fsec_fetch_opts fo = {.ca = o->ca, .ca_learned = o->ca_learned,
				     .server_crl = o->server_crl != NULL && o->server_crl[0] != '\0'
							   ? o->server_crl
							   : NULL};
	struct fsec_fetch *f = NULL;
	STACK_OF(X509) *cas = NULL, *keep = NULL;
	X509_STORE *st = NULL;
	unsigned char *resp = NULL;
	char url[1024];
	size_t rlen = 0;
	enum fsec_err rc;

	memset(out, 0, sizeof(*out));
	if (o->ca_learned == NULL || o->ca_learned[0] == '\0')
		return fsec_seterr(FSEC_ERR_INVAL, "no file for the learned roots");
	if ((rc = est_url(o, "cacerts", url, sizeof(url))) != FSEC_OK)
		return rc;
	if ((rc = fsec_fetch_new(&fo, &f)) != FSEC_OK)
		goto out;
	if ((rc = fsec_fetch_get(f, url, RESPONSE_MAX, &resp, &rlen)) != FSEC_OK) {
		rc = fsec_seterr(rc, "cacerts: %s", fsec_err_detail());
		goto out;
	}
	if ((rc = fsec_estc_parse_certs(resp, rlen, over_coap(o), 0, &cas)) != FSEC_OK ||
	    (rc = load_anchors(o, &st)) != FSEC_OK)
		goto out;
	if ((keep = sk_X509_new_null()) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = learned_before(o->ca_learned, keep)) != FSEC_OK)
		goto out;
	for (int i = 0; i < sk_X509_num(cas); i++) {
		X509 *root = sk_X509_value(cas, i);

		if (!root_now(root))
			continue;
		out->offered++;
		if (is_anchor(st, root))
			continue;
		for (int j = 0; j < sk_X509_num(cas); j++) {
			if (j == i || !vouches(st, sk_X509_value(cas, j), root))
				continue;
			if (sk_X509_push(keep, root) <= 0) {
				rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
				goto out;
			}
			X509_up_ref(root);
			/* Trusted from here on: a second copy is not learned
			 * again, and one it vouches for later in the answer is. */
			if (X509_STORE_add_cert(st, root) != 1) {
				rc = fsec_seterr_ossl(FSEC_ERR_NOMEM, "out of memory");
				goto out;
			}
			X509_NAME_oneline(X509_get_subject_name(root), out->subject,
					  (int)sizeof(out->subject));
			if ((rc = fsec_cert_fingerprint(root, out->sha256)) != FSEC_OK)
				goto out;
			out->learned++;
			break;
		}
	}
	if (out->learned > 0)
		rc = write_learned(o->ca_learned, keep);
out:
	ERR_clear_error();
	sk_X509_pop_free(keep, X509_free);
	sk_X509_pop_free(cas, X509_free);
	X509_STORE_free(st);
	fsec_fetch_free(f);
	free(resp);
	return rc;
}
