/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_issue [N] [BATCH]: certificate issuance throughput (issue 2).
 *
 * Issues N device certificates from N pre-generated P-256 CSRs into a fresh
 * fleet home, timing fsec_csr_parse (decode + self-signature verify) and
 * fsec_fleet_issue (sign + registry transaction) for each. With BATCH > 1,
 * BATCH issues share one outer registry transaction (each issue is then a
 * savepoint), so the commit cost is paid once per batch.
 *
 * In the same run it measures the raw OpenSSL bound the issuance path cannot
 * beat: one ECDSA P-256 verify plus one ECDSA P-256 sign (EVP_DigestVerify /
 * EVP_DigestSign over a short message), single thread, for about 2 seconds.
 * Issuing a certificate needs exactly that public-key work, so the ratio says
 * how much of the time goes to everything else.
 *
 * Then, in the same run (issue 18): the CSR parse alone, fsec_csr_parse
 * beside fsec_csr_parse_key (one pass, EVP_DigestVerify over the request
 * info); and the factory batch engine, fsec_fleet_issue_batch, over the same
 * CSRs written to files, into a second fresh home, with 1 thread and then
 * with one per CPU (a third home), no output files. Its ratio is what the
 * 40% target is about.
 *
 * Everything lives in a temporary directory ($TMPDIR or /tmp) that is removed
 * at exit. Output is line-oriented so run.sh and people can grep it.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "bench_util.h"
#include "fleetsec/batch.h"
#include "fleetsec/csr.h"
#include "fleetsec/fleet.h"
#include "fleetsec/registry.h"

#define N_DEFAULT 10000UL
#define N_MAX 10000000UL
#define BATCH_MAX 1000000UL
#define BOUND_SECONDS 2.0


struct csr_der {
	unsigned char *der;
	size_t len;
};

static void die(const char *what, enum fsec_err rc)
{
	fprintf(stderr, "bench_issue: %s: %s: %s\n", what, fsec_strerror(rc), fsec_err_detail());
	exit(1);
}

static void die_ossl(const char *what)
{
	fprintf(stderr, "bench_issue: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* One P-256 CSR for device id, DER-encoded into c. */
static void make_csr(const char *id, struct csr_der *c)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;
	int len;

	if (key == NULL || req == NULL || name == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)id, -1,
					-1, 0) ||
	    !X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key) || X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
	    (len = i2d_X509_REQ(req, &der)) <= 0)
		die_ossl("cannot build a CSR");
	c->der = der;
	c->len = (size_t)len;
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
}

/*
 * The raw bound: (verify + sign) pairs per second with EVP_DigestSign and
 * EVP_DigestVerify on a 32-byte message, re-initialising the context for each
 * operation as X509_sign and X509_REQ_verify do. Runs ~BOUND_SECONDS.
 * *sign_s and *verify_s receive the mean time of one sign and one verify.
 */
static double openssl_bound(double *sign_s, double *verify_s)
{
	static const unsigned char msg[32] = "fleetsec bench: short message.";
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[80];
	double t0, t_sign = 0, t_verify = 0, t;
	unsigned long pairs = 0;

	if (key == NULL || ctx == NULL)
		die_ossl("cannot set up the OpenSSL bound");
	t0 = now_s();
	do {
		/* A clock read costs ~25 ns, under 0.2% of one operation. */
		for (int i = 0; i < 64; i++) {
			size_t siglen = sizeof(sig);
			double a = now_s(), b, c;

			if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
			    EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg)) != 1)
				die_ossl("EVP_DigestSign failed");
			EVP_MD_CTX_reset(ctx);
			b = now_s();
			if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
			    EVP_DigestVerify(ctx, sig, siglen, msg, sizeof(msg)) != 1)
				die_ossl("EVP_DigestVerify failed");
			EVP_MD_CTX_reset(ctx);
			c = now_s();
			t_sign += b - a;
			t_verify += c - b;
		}
		pairs += 64;
		t = now_s() - t0;
	} while (t < BOUND_SECONDS);
	*sign_s = t_sign / (double)pairs;
	*verify_s = t_verify / (double)pairs;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return (double)pairs / t;
}

static int batch_cb(const struct fsec_batch_result *r, void *ctx)
{
	size_t *issued = ctx;

	if (r->status == FSEC_BATCH_ISSUED)
		(*issued)++;
	else if (r->status == FSEC_BATCH_REFUSED) {
		fprintf(stderr, "bench_issue: batch refused %s: %s\n", r->item->id, r->reason);
		return 1;
	}
	return 0;
}

/* The batch engine over n CSR files into a fresh home; seconds taken. */
static double run_batch(const char *name, unsigned threads, unsigned long n, char (*ids)[32],
			char **paths)
{
	struct fsec_fleet_create_params ip = {.name = "bench", .algo = FSEC_KEY_P256,
					    .actor = "bench"};
	struct fsec_batch_opts bo = {.threads = threads, .actor = "bench"};
	struct fsec_batch_item *items = calloc(n, sizeof(*items));
	struct fsec_fleet *fleet = NULL;
	char home[sizeof(tmpdir) + 16];
	size_t issued = 0;
	enum fsec_err rc;
	double t0, t;

	snprintf(home, sizeof(home), "%s/%s", tmpdir, name);
	if (items == NULL)
		die("calloc", FSEC_ERR_NOMEM);
	if ((rc = fsec_fleet_create(home, &ip)) != FSEC_OK)
		die("fsec_fleet_create", rc);
	if ((rc = fsec_fleet_open(home, &fleet)) != FSEC_OK)
		die("fsec_fleet_open", rc);
	for (unsigned long i = 0; i < n; i++)
		items[i] = (struct fsec_batch_item){.where = ids[i], .id = ids[i], .model = "m",
						    .csr_path = paths[i]};
	t0 = now_s();
	if ((rc = fsec_fleet_issue_batch(fleet, items, n, &bo, batch_cb, &issued)) != FSEC_OK)
		die("fsec_fleet_issue_batch", rc);
	t = now_s() - t0;
	if (issued != n) {
		fprintf(stderr, "bench_issue: batch issued %zu of %lu\n", issued, n);
		exit(1);
	}
	fsec_fleet_free(fleet);
	free(items);
	return t;
}

int main(int argc, char **argv)
{
	unsigned long n = N_DEFAULT, batch = 1;
	const char *tmpbase = getenv("TMPDIR");
	char home[sizeof(tmpdir) + 8], id[32];
	struct fsec_fleet_create_params ip = {.name = "bench", .algo = FSEC_KEY_P256,
					    .actor = "bench"};
	struct fsec_fleet *fleet = NULL;
	struct fsec_registry *reg;
	struct csr_der *csrs;
	double t_parse = 0, t_issue = 0, t_tx = 0, t_total, t0;
	double bound, sign_s, verify_s, rate;
	enum fsec_err rc;

	if (argc > 3) {
		fprintf(stderr, "usage: bench_issue [N] [BATCH]\n");
		return 2;
	}
	if (argc > 1)
		n = parse_count("bench_issue", argv[1], N_MAX, "N");
	if (argc > 2)
		batch = parse_count("bench_issue", argv[2], BATCH_MAX, "BATCH");
	if (tmpbase == NULL || tmpbase[0] == '\0')
		tmpbase = "/tmp";
	if ((size_t)snprintf(tmpdir, sizeof(tmpdir), "%s/fsec-bench-XXXXXX", tmpbase) >=
		    sizeof(tmpdir) ||
	    mkdtemp(tmpdir) == NULL) {
		fprintf(stderr, "bench_issue: cannot create a temporary directory in %s\n", tmpbase);
		tmpdir[0] = '\0';
		return 1;
	}
	atexit(rm_tmpdir);
	snprintf(home, sizeof(home), "%s/home", tmpdir);

	if ((rc = fsec_fleet_create(home, &ip)) != FSEC_OK)
		die("fsec_fleet_create", rc);
	if ((rc = fsec_fleet_open(home, &fleet)) != FSEC_OK)
		die("fsec_fleet_open", rc);
	reg = fsec_fleet_get_registry(fleet);

	csrs = calloc(n, sizeof(*csrs));
	if (csrs == NULL) {
		fprintf(stderr, "bench_issue: out of memory\n");
		return 1;
	}
	t0 = now_s();
	for (unsigned long i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "dev-%08lu", i);
		make_csr(id, &csrs[i]);
	}
	printf("setup: %lu P-256 CSRs generated in %.2f s (untimed)\n", n, now_s() - t0);
	printf("home: %s (registry WAL, as fsec_fleet_create makes it)\n", home);
	fflush(stdout);

	t0 = now_s();
	for (unsigned long i = 0; i < n; i++) {
		struct fsec_issue_opts o = {.id = id, .actor = "bench"};
		X509_REQ *req = NULL;
		struct fsec_issued_cert cert = {0};
		double a, b, c;

		snprintf(id, sizeof(id), "dev-%08lu", i);
		if (batch > 1 && i % batch == 0) {
			a = now_s();
			if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
				die("fsec_registry_begin", rc);
			t_tx += now_s() - a;
		}
		a = now_s();
		if ((rc = fsec_csr_parse(csrs[i].der, csrs[i].len, &req)) != FSEC_OK)
			die("fsec_csr_parse", rc);
		b = now_s();
		if ((rc = fsec_fleet_issue(fleet, req, &o, &cert)) != FSEC_OK)
			die("fsec_fleet_issue", rc);
		c = now_s();
		t_parse += b - a;
		t_issue += c - b;
		fsec_issued_cert_cleanup(&cert);
		X509_REQ_free(req);
		if (batch > 1 && ((i + 1) % batch == 0 || i + 1 == n)) {
			a = now_s();
			if ((rc = fsec_registry_commit(reg)) != FSEC_OK)
				die("fsec_registry_commit", rc);
			t_tx += now_s() - a;
		}
	}
	t_total = now_s() - t0;
	rate = (double)n / t_total;

	bound = openssl_bound(&sign_s, &verify_s);

	printf("issue: %lu certs in %.3f s = %.1f certs/s (batch %lu)\n", n, t_total, rate, batch);
	printf("  phase csr_parse (decode + verify):     %8.1f us/cert  %5.1f%%\n",
	       t_parse / (double)n * 1e6, 100.0 * t_parse / t_total);
	printf("  phase fleet_issue (sign + registry):   %8.1f us/cert  %5.1f%%\n",
	       t_issue / (double)n * 1e6, 100.0 * t_issue / t_total);
	if (batch > 1)
		printf("  phase outer begin/commit:              %8.1f us/cert  %5.1f%%\n",
		       t_tx / (double)n * 1e6, 100.0 * t_tx / t_total);
	printf("  other (loop, frees, clock):            %8.1f us/cert  %5.1f%%\n",
	       (t_total - t_parse - t_issue - t_tx) / (double)n * 1e6,
	       100.0 * (t_total - t_parse - t_issue - t_tx) / t_total);
	printf("openssl bound (1 verify + 1 sign): %.1f pairs/s (sign %.1f us, verify %.1f us)\n",
	       bound, sign_s * 1e6, verify_s * 1e6);
	printf("  beside it: csr_parse is %.1fx a bare verify, fleet_issue %.1fx a bare sign\n",
	       t_parse / (double)n / verify_s, t_issue / (double)n / sign_s);
	printf("ratio: %.1f%% of bound\n", 100.0 * rate / bound);
	fflush(stdout);

	/* The CSR parse alone, both ways, over the same DER. */
	{
		double tp = 0, tk = 0;

		for (unsigned long i = 0; i < n; i++) {
			X509_REQ *req = NULL;
			EVP_PKEY *pk = NULL;
			double a = now_s(), b;

			if ((rc = fsec_csr_parse(csrs[i].der, csrs[i].len, &req)) != FSEC_OK)
				die("fsec_csr_parse", rc);
			b = now_s();
			if ((rc = fsec_csr_parse_key(csrs[i].der, csrs[i].len, &pk)) != FSEC_OK)
				die("fsec_csr_parse_key", rc);
			tk += now_s() - b;
			tp += b - a;
			X509_REQ_free(req);
			EVP_PKEY_free(pk);
		}
		printf("parse: fsec_csr_parse %.1f us, fsec_csr_parse_key %.1f us per CSR "
		       "(bare verify %.1f us)\n",
		       tp / (double)n * 1e6, tk / (double)n * 1e6, verify_s * 1e6);
	}
	/* The batch engine over files, 1 thread then one per CPU. */
	{
		char (*ids)[32] = calloc(n, sizeof(*ids));
		char **paths = calloc(n, sizeof(*paths));
		char dir[sizeof(tmpdir) + 8];
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		double t1, tn;

		snprintf(dir, sizeof(dir), "%s/csrs", tmpdir);
		if (ids == NULL || paths == NULL || mkdir(dir, 0700) != 0)
			die("batch set-up", FSEC_ERR_IO);
		for (unsigned long i = 0; i < n; i++) {
			FILE *fp;

			snprintf(ids[i], sizeof(ids[i]), "dev-%08lu", i);
			if (asprintf(&paths[i], "%s/%s.csr", dir, ids[i]) < 0 ||
			    (fp = fopen(paths[i], "wb")) == NULL ||
			    fwrite(csrs[i].der, 1, csrs[i].len, fp) != csrs[i].len || fclose(fp) != 0)
				die("writing CSRs", FSEC_ERR_IO);
		}
		double bound2, s2, v2;

		/* The bound again, next to the run it is compared with: on a
		 * shared machine the load moves between the two. */
		bound2 = openssl_bound(&s2, &v2);
		t1 = run_batch("batch1", 1, n, ids, paths);
		printf("openssl bound, measured again just before: %.1f pairs/s\n", bound2);
		printf("batch engine, 1 thread: %lu certs in %.3f s = %.1f certs/s\n", n, t1,
		       (double)n / t1);
		printf("ratio (batch, 1 thread): %.1f%% of bound (%.1f%% of the first)\n",
		       100.0 * (double)n / t1 / bound2, 100.0 * (double)n / t1 / bound);
		fflush(stdout);
		tn = run_batch("batchn", ncpu < 1 ? 1 : (unsigned)ncpu, n, ids, paths);
		printf("batch engine, %ld threads: %lu certs in %.3f s = %.1f certs/s (%.2fx 1 thread)\n",
		       ncpu, n, tn, (double)n / tn, t1 / tn);
		for (unsigned long i = 0; i < n; i++)
			free(paths[i]);
		free(paths);
		free(ids);
	}

	fsec_fleet_free(fleet);
	for (unsigned long i = 0; i < n; i++)
		OPENSSL_free(csrs[i].der);
	free(csrs);
	return 0;
}
