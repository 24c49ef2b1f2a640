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
	/* These tests renew a certificate issued a moment ago. */
	fsec_est_set_limits(fx->e, &(struct fsec_est_limits){0, 100, 100});
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

/* dev-1's current certificate, from the registry. */
static X509 *current_cert(struct fixture *fx)
{
	struct fsec_registry *reg = fsec_fleet_get_registry(fx->f);
	struct fsec_device_rec dev;
	char *pem = NULL;
	X509 *x;
	BIO *b;

	assert_int_equal(fsec_registry_device_get(reg, "dev-1", &dev), FSEC_OK);
	assert_int_equal(fsec_registry_cert_pem(reg, dev.serial, &pem), FSEC_OK);
	b = BIO_new_mem_buf(pem, -1);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	assert_non_null(x);
	BIO_free(b);
	free(pem);
	return x;
}

struct refusals {
	unsigned rows;
	uint64_t count;
	char reason[FSEC_REFUSAL_KEY_MAX + 1];
};

static int count_refusals(const struct fsec_refusal_rec *rec, void *arg)
{
	struct refusals *rf = arg;

	rf->rows++;
	rf->count += rec->count;
	memcpy(rf->reason, rec->reason, sizeof(rf->reason));
	return 0;
}

/* A renewal before half the lifetime is refused, with its reason, and
 * counted; the operator's allowance lets one through, once. The lost
 * answer's re-send is no renewal: it needs no allowance. */
static void early_renewal_needs_allowance(void **state)
{
	struct fixture *fx = *state;
	struct fsec_reply r = {0};
	struct refusals rf = {0};
	EVP_PKEY *k2 = tu_key("p256"), *k3 = tu_key("p256");
	X509 *cur;

	fsec_est_set_limits(fx->e, &(struct fsec_est_limits){50, 4, 10});
	renew(fx, fx->cert, k2, &r);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.reason, "renewal not yet due"));
	fsec_reply_cleanup(&r);
	assert_int_equal(fsec_registry_refusal_list(fsec_fleet_get_registry(fx->f), "dev-1",
						    count_refusals, &rf),
			 FSEC_OK);
	assert_int_equal(rf.rows, 1);
	assert_int_equal(rf.count, 1);
	assert_string_equal(rf.reason, "simplereenroll 403 renewal not yet due");

	assert_int_equal(fsec_fleet_allow_renew(fx->f, "dev-1", "test"), FSEC_OK);
	renew(fx, fx->cert, k2, &r);
	assert_int_equal(r.status, 200);
	fsec_reply_cleanup(&r);
	/* The answer was lost: the old certificate asks again, and gets it. */
	renew(fx, fx->cert, k2, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.reason, "re-sent"));
	fsec_reply_cleanup(&r);
	/* The allowance is spent. */
	cur = current_cert(fx);
	renew(fx, cur, k3, &r);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.reason, "renewal not yet due"));
	fsec_reply_cleanup(&r);
	X509_free(cur);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
}

/* Past renewals_per_day certificates in 24 hours: 429 with Retry-After. */
static void renewals_per_day(void **state)
{
	struct fixture *fx = *state;
	struct fsec_reply r = {0};
	EVP_PKEY *k2 = tu_key("p256"), *k3 = tu_key("p256");
	X509 *cur;

	fsec_est_set_limits(fx->e, &(struct fsec_est_limits){0, 2, 10});
	renew(fx, fx->cert, k2, &r);
	assert_int_equal(r.status, 200);
	fsec_reply_cleanup(&r);
	cur = current_cert(fx);
	renew(fx, cur, k3, &r);
	assert_int_equal(r.status, 429);
	assert_true(r.retry_after > 0);
	assert_non_null(strstr(r.reason, "daily renewal limit"));
	fsec_reply_cleanup(&r);
	assert_int_equal(fsec_fleet_allow_renew(fx->f, "dev-1", "test"), FSEC_OK);
	renew(fx, cur, k3, &r);
	assert_int_equal(r.status, 200);
	fsec_reply_cleanup(&r);
	X509_free(cur);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
}

/* Fifty refusals from one source: one row, and only refusals_per_minute of
 * them written (the rest held for the source's next write). */
static void refusals_aggregated_and_limited(void **state)
{
	struct fixture *fx = *state;
	struct fsec_est_peer peer;
	struct fsec_reply r = {0};
	struct refusals rf = {0};
	const char *garbage = "not base64 at all!";

	fsec_est_set_limits(fx->e, &(struct fsec_est_limits){0, 4, 5});
	assert_int_equal(fsec_est_peer(fx->e, fx->cert, NULL, &peer), FSEC_OK);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(fsec_est_enroll_from(fx->e, &peer, true, "192.0.2.7",
						      (const unsigned char *)garbage,
						      strlen(garbage), &r),
				 FSEC_OK);
		assert_int_equal(r.status, 400);
		fsec_reply_cleanup(&r);
	}
	assert_int_equal(fsec_registry_refusal_list(fsec_fleet_get_registry(fx->f), NULL,
						    count_refusals, &rf),
			 FSEC_OK);
	assert_int_equal(rf.rows, 1);
	assert_int_equal(rf.count, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(revocation_wins_over_renewal, setup, teardown),
		cmocka_unit_test_setup_teardown(lost_renewal_answer_is_resent, setup, teardown),
		cmocka_unit_test_setup_teardown(early_renewal_needs_allowance, setup, teardown),
		cmocka_unit_test_setup_teardown(renewals_per_day, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals_aggregated_and_limited, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
