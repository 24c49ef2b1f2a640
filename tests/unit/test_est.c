/* SPDX-License-Identifier: Apache-2.0 */
/*
 * EST renewal against the registry's state at the moment of issuance: a
 * revocation committed by another process between the peer check and the
 * renewal must win, and a renewal whose answer was lost is answered again
 * (only for the key it was issued to).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fleetsec/est.h"
#include "fleetsec/fleet.h"
#include "testutil.h"

struct fixture {
	char *dir, *home;
	struct fsec_fleet *f;
	struct fsec_est *e;
	X509 *cert;
};

static X509 *der_cert(const struct fsec_issued_cert *c)
{
	const unsigned char *p = c->der;
	X509 *x = d2i_X509(NULL, &p, (long)c->der_len);

	assert_non_null(x);
	return x;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct fsec_fleet_create_params p = {.name = "EST Unit", .actor = "test"};
	struct fsec_issue_opts o = {.id = "dev-1", .actor = "test"};
	struct fsec_issued_cert c = {0};
	EVP_PKEY *key = tu_key("p256");
	X509_REQ *req = tu_csr(key, "dev-1");

	fx->dir = tu_mkdtemp();
	fx->home = tu_path(fx->dir, "home");
	assert_int_equal(fsec_fleet_create(fx->home, &p), FSEC_OK);
	assert_int_equal(fsec_fleet_open(fx->home, &fx->f), FSEC_OK);
	assert_int_equal(fsec_fleet_issue(fx->f, req, &o, &c), FSEC_OK);
	fx->cert = der_cert(&c);
	fsec_issued_cert_cleanup(&c);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	assert_int_equal(fsec_est_new(fx->f, &fx->e), FSEC_OK);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	fsec_est_free(fx->e);
	fsec_fleet_free(fx->f);
	X509_free(fx->cert);
	tu_rmtree(fx->dir);
	free(fx->home);
	free(fx->dir);
	free(fx);
	return 0;
}

/* simplereenroll from cert with a CSR for key, the subject cert's. */
static void renew(struct fixture *fx, X509 *cert, EVP_PKEY *key, struct fsec_reply *r)
{
	struct fsec_est_peer peer;
	X509_REQ *req = X509_REQ_new();
	unsigned char *der = NULL;
	char *b64;
	size_t n;

	assert_int_equal(fsec_est_peer(fx->e, cert, NULL, &peer), FSEC_OK);
	assert_true(X509_REQ_set_subject_name(req, X509_get_subject_name(cert)));
	assert_true(X509_REQ_set_pubkey(req, key));
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	der = tu_csr_der(req, &n);
	b64 = malloc(n * 2 + 4);
	assert_true(EVP_EncodeBlock((unsigned char *)b64, der, (int)n) > 0);
	assert_int_equal(fsec_est_enroll(fx->e, &peer, true, (unsigned char *)b64, strlen(b64), r),
			 FSEC_OK);
	free(b64);
	free(der);
	X509_REQ_free(req);
}

/* The peer was checked while active; another process revokes the device
 * before the renewal's transaction: no certificate, and the device stays
 * revoked. */
static void revocation_wins_over_renewal(void **state)
{
	struct fixture *fx = *state;
	struct fsec_est_peer peer;
	struct fsec_fleet *other = NULL;
	struct fsec_device_rec dev;
	struct fsec_reply r = {0};
	EVP_PKEY *key = tu_key("p256");
	X509_REQ *req = X509_REQ_new();
	unsigned char *der;
	char *b64;
	size_t n;

	assert_int_equal(fsec_est_peer(fx->e, fx->cert, NULL, &peer), FSEC_OK);
	assert_int_equal(peer.kind, FSEC_EST_PEER_DEVICE);
	assert_int_equal(fsec_fleet_open(fx->home, &other), FSEC_OK);
	assert_int_equal(fsec_fleet_revoke(other, "dev-1", 1, "test"), FSEC_OK);
	fsec_fleet_free(other);

	assert_true(X509_REQ_set_subject_name(req, X509_get_subject_name(fx->cert)));
	assert_true(X509_REQ_set_pubkey(req, key));
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	der = tu_csr_der(req, &n);
	b64 = malloc(n * 2 + 4);
	assert_true(EVP_EncodeBlock((unsigned char *)b64, der, (int)n) > 0);
	/* The stale peer, as a request already past its check would hold. */
	assert_int_equal(fsec_est_enroll(fx->e, &peer, true, (unsigned char *)b64, strlen(b64), &r),
			 FSEC_OK);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.reason, "revoked or renewed meanwhile"));
	assert_int_equal(fsec_registry_device_get(fsec_fleet_get_registry(fx->f), "dev-1", &dev),
			 FSEC_OK);
	assert_int_equal(dev.status, FSEC_DEVICE_REVOKED);
	fsec_reply_cleanup(&r);
	free(b64);
	free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
}

/* A renewal whose answer was lost: the retry from the superseded
 * certificate with the new key gets the same new certificate; another key
 * gets nothing. */
static void lost_renewal_answer_is_resent(void **state)
{
	struct fixture *fx = *state;
	struct fsec_reply r1 = {0}, r2 = {0}, r3 = {0};
	EVP_PKEY *k2 = tu_key("p256"), *k3 = tu_key("p256");

	renew(fx, fx->cert, k2, &r1);
	assert_int_equal(r1.status, 200);
	renew(fx, fx->cert, k2, &r2);
	assert_int_equal(r2.status, 200);
	assert_int_equal(r1.len, r2.len);
	assert_memory_equal(r1.body, r2.body, r1.len);
	renew(fx, fx->cert, k3, &r3);
	assert_int_equal(r3.status, 403);
	assert_non_null(strstr(r3.reason, "superseded"));
	fsec_reply_cleanup(&r1);
	fsec_reply_cleanup(&r2);
	fsec_reply_cleanup(&r3);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(revocation_wins_over_renewal, setup, teardown),
		cmocka_unit_test_setup_teardown(lost_renewal_answer_is_resent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
