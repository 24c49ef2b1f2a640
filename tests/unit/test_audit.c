/* SPDX-License-Identifier: Apache-2.0 */
/* The findings model and its formats, the ROCA fingerprint, the tar reader
 * and the bounds of the firmware checks. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "audit_int.h"
#include "fleetsec/audit.h"
#include "testutil.h"

static struct fsec_audit *new_audit(void)
{
	struct fsec_audit *a = NULL;

	assert_int_equal(fsec_audit_new(&a), FSEC_OK);
	return a;
}

static void catalogue_is_consistent(void **state)
{
	size_t n;
	const struct fsec_audit_check *c = fsec_audit_checks(&n);
	enum fsec_audit_sev sev;

	(void)state;
	assert_true(n >= 30);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(c[i].title);
		assert_true(strlen(c[i].remediation) > 20);
		assert_ptr_equal(fsec_audit_check_find(c[i].id), &c[i]);
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(c[i].id, c[j].id);
	}
	assert_null(fsec_audit_check_find("NO-SUCH"));
	assert_int_equal(fsec_audit_sev_parse("high", &sev), FSEC_OK);
	assert_int_equal(sev, FSEC_SEV_HIGH);
	assert_int_equal(fsec_audit_sev_parse("HIGH", &sev), FSEC_ERR_INVAL);
}

static void add_disable_and_sort(void **state)
{
	struct fsec_audit *a = new_audit();

	(void)state;
	assert_int_equal(fsec_audit_max_severity(a), -1);
	assert_int_equal(fsec_audit_add(a, "FW-NO-UPDATE", "/", 0, "x"), FSEC_OK);
	assert_int_equal(fsec_audit_add(a, "FW-CRED-EMPTY", "etc/shadow", 3, "a\nb\x1b[31m"), FSEC_OK);
	assert_int_equal(fsec_audit_add(a, "NO-SUCH", "x", 0, "x"), FSEC_ERR_INVAL);
	assert_int_equal(fsec_audit_disable(a, "FW-SVC-TELNET"), FSEC_OK);
	assert_int_equal(fsec_audit_disable(a, "NOPE"), FSEC_ERR_INVAL);
	assert_false(fsec_audit_enabled(a, "FW-SVC-TELNET"));
	assert_int_equal(fsec_audit_add(a, "FW-SVC-TELNET", "etc/inittab", 1, "x"), FSEC_OK);
	assert_int_equal(fsec_audit_count(a), 2);
	assert_int_equal(fsec_audit_max_severity(a), FSEC_SEV_CRITICAL);
	fsec_audit_sort(a);
	assert_string_equal(fsec_audit_get(a, 0)->check->id, "FW-CRED-EMPTY");
	/* Control characters cannot forge lines or terminal escapes. */
	assert_null(strchr(fsec_audit_get(a, 0)->evidence, '\n'));
	assert_null(strchr(fsec_audit_get(a, 0)->evidence, '\x1b'));
	assert_null(fsec_audit_get(a, 2));
	fsec_audit_free(a);
	fsec_audit_free(NULL);
}

/* How many kept findings have subject s; and how many are critical. */
static size_t kept(const struct fsec_audit *a, const char *s, size_t *critical)
{
	size_t n = 0;

	*critical = 0;
	for (size_t i = 0; i < fsec_audit_count(a); i++) {
		const struct fsec_audit_finding *f = fsec_audit_get(a, i);

		*critical += f->check->severity == FSEC_SEV_CRITICAL;
		n += strcmp(f->subject, s) == 0;
	}
	return n;
}

static void cap_counts_dropped(void **state)
{
	struct fsec_audit *a = new_audit();
	size_t critical = 0;

	(void)state;
	/* Full: one medium finding, the rest info. */
	assert_int_equal(fsec_audit_add(a, "FLEET-CERT-EXPIRING", "medium", 0, "x"), FSEC_OK);
	for (int i = 1; i < FSEC_AUDIT_MAX_FINDINGS; i++)
		assert_int_equal(fsec_audit_add(a, "FW-SKIPPED", "f", 0, "x"), FSEC_OK);
	/* Past the cap a finding no more severe than every kept one is only
	 * counted; a more severe one takes the place of the least severe
	 * kept one, so that the order the checks ran in cannot hide it. */
	assert_int_equal(fsec_audit_add(a, "FW-SKIPPED", "late", 0, "x"), FSEC_OK);
	assert_int_equal(fsec_audit_add(a, "FW-CRED-EMPTY", "c1", 0, "x"), FSEC_OK);
	assert_int_equal(fsec_audit_add(a, "FW-CRED-EMPTY", "c2", 0, "x"), FSEC_OK);
	assert_int_equal(fsec_audit_count(a), FSEC_AUDIT_MAX_FINDINGS);
	assert_int_equal(fsec_audit_dropped(a), 3);
	assert_int_equal(fsec_audit_max_severity(a), FSEC_SEV_CRITICAL);
	assert_int_equal(kept(a, "late", &critical), 0);
	assert_int_equal(critical, 2);
	assert_int_equal(kept(a, "medium", &critical), 1); /* info went first */
	/* After a sort the findings moved; the scans start over and still
	 * find what is least severe. */
	fsec_audit_sort(a);
	assert_int_equal(fsec_audit_add(a, "FLEET-KEY-WEAK", "high", 0, "x"), FSEC_OK);
	assert_int_equal(kept(a, "high", &critical), 1);
	assert_int_equal(kept(a, "medium", &critical), 1);
	assert_int_equal(critical, 2);
	assert_int_equal(fsec_audit_dropped(a), 4);
	fsec_audit_free(a);
}

static void formats(void **state)
{
	struct fsec_audit *a = new_audit();
	char *out = NULL;
	size_t len = 0;
	json_t *doc, *run, *res;
	json_error_t err;

	(void)state;
	assert_int_equal(fsec_audit_add(a, "FW-CRED-DEFAULT", "etc/my shadow", 7, "root/admin"),
			 FSEC_OK);
	assert_int_equal(fsec_audit_add(a, "FLEET-TOFU", "dev-1", 0, "provisioning 'tofu'"), FSEC_OK);

	assert_int_equal(fsec_audit_render(a, FSEC_AUDIT_TABLE, "t", &out, &len), FSEC_OK);
	assert_non_null(strstr(out, "FW-CRED-DEFAULT"));
	assert_non_null(strstr(out, "etc/my shadow:7"));
	assert_non_null(strstr(out, "remediation:"));
	free(out);

	assert_int_equal(fsec_audit_render(a, FSEC_AUDIT_JSON, "t", &out, &len), FSEC_OK);
	assert_int_equal(out[len - 1], '\n');
	doc = json_loads(out, 0, &err);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "summary"),
							    "critical")), 1);
	assert_int_equal(json_array_size(json_object_get(doc, "findings")), 2);
	json_decref(doc);
	free(out);

	assert_int_equal(fsec_audit_render(a, FSEC_AUDIT_SARIF, "t", &out, &len), FSEC_OK);
	doc = json_loads(out, 0, &err);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "version")), "2.1.0");
	run = json_array_get(json_object_get(doc, "runs"), 0);
	res = json_array_get(json_object_get(run, "results"), 0);
	assert_string_equal(json_string_value(json_object_get(res, "ruleId")), "FW-CRED-DEFAULT");
	assert_string_equal(json_string_value(json_object_get(res, "level")), "error");
	/* A space in a path is percent-encoded in the artifact URI. */
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(json_array_get(json_object_get(res, "locations"),
								       0),
							"physicalLocation"),
					"artifactLocation"),
			"uri")),
		"etc/my%20shadow");
	json_decref(doc);
	free(out);
	assert_int_equal(fsec_audit_render(a, (enum fsec_audit_format)9, "t", &out, &len),
			 FSEC_ERR_INVAL);
	fsec_audit_free(a);
}

/* A modulus with RSALib structure: p, q = k * M + 65537^a mod M. */
static BIGNUM *roca_prime(BN_CTX *ctx, const BIGNUM *m)
{
	BIGNUM *p = BN_new(), *g = BN_new(), *e = BN_new(), *k = BN_new();

	assert_true(BN_set_word(g, 65537));
	for (;;) {
		assert_true(BN_rand(e, 20, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY));
		assert_true(BN_mod_exp(e, g, e, m, ctx));
		assert_true(BN_rand(k, 512 - BN_num_bits(m), BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY));
		assert_true(BN_mul(p, k, m, ctx));
		assert_true(BN_add(p, p, e));
		if (BN_check_prime(p, ctx, NULL) == 1)
			break;
	}
	BN_free(g);
	BN_free(e);
	BN_free(k);
	return p;
}

static void roca_fingerprint(void **state)
{
	static const unsigned primes[] = {2,   3,   5,   7,   11,  13,  17,  19,  23,  29,
					  31,  37,  41,  43,  47,  53,  59,  61,  67,  71,
					  73,  79,  83,  89,  97,  101, 103, 107, 109, 113,
					  127, 131, 137, 139, 149, 151, 157, 163, 167};
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *m = BN_new(), *p, *q, *n = BN_new();
	EVP_PKEY *rsa = tu_key("rsa2048");

	(void)state;
	assert_true(BN_one(m));
	for (size_t i = 0; i < sizeof(primes) / sizeof(primes[0]); i++)
		assert_true(BN_mul_word(m, primes[i]));
	p = roca_prime(ctx, m);
	q = roca_prime(ctx, m);
	assert_true(BN_mul(n, p, q, ctx));
	assert_true(fsec_audit_roca_modulus(n));
	/* An ordinary key, and the same modulus one off. */
	BN_free(n);
	n = NULL;
	assert_true(EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &n));
	assert_false(fsec_audit_roca_modulus(n));
	BN_free(n);
	n = BN_new();
	assert_true(BN_mul(n, p, q, ctx));
	assert_true(BN_add_word(n, 2));
	assert_false(fsec_audit_roca_modulus(n));
	EVP_PKEY_free(rsa);
	BN_free(p);
	BN_free(q);
	BN_free(n);
	BN_free(m);
	BN_CTX_free(ctx);
}

/* ---- tar ---- */

static void tar_header(unsigned char *h, const char *name, char type, unsigned long size,
		       const char *link)
{
	unsigned sum = 0;

	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 124, 12, "%011lo", size);
	h[156] = (unsigned char)type;
	if (link != NULL)
		snprintf((char *)h + 157, 100, "%s", link);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

static enum fsec_err scan(const unsigned char *buf, size_t len, struct fsec_audit **out)
{
	struct fw_state st = {0};
	struct fsec_audit *a = new_audit();
	enum fsec_err rc = fsec_audit_fw_tar(a, &st, buf, len, 1u << 20);

	*out = a;
	return rc;
}

static bool has_check(const struct fsec_audit *a, const char *id)
{
	for (size_t i = 0; i < fsec_audit_count(a); i++)
		if (strcmp(fsec_audit_get(a, i)->check->id, id) == 0)
			return true;
	return false;
}

static void tar_reader(void **state)
{
	static const char shadow[] = "root::0:0:99999:7:::\n";
	unsigned char buf[512 * 8];
	struct fsec_audit *a;

	(void)state;
	/* A regular member and a busybox applet link. */
	memset(buf, 0, sizeof(buf));
	tar_header(buf, "./etc/shadow", '0', sizeof(shadow) - 1, NULL);
	memcpy(buf + 512, shadow, sizeof(shadow) - 1);
	tar_header(buf + 1024, "usr/sbin/telnetd", '2', 0, "/bin/busybox");
	assert_int_equal(scan(buf, sizeof(buf), &a), FSEC_OK);
	assert_true(has_check(a, "FW-CRED-EMPTY"));
	assert_true(has_check(a, "FW-SVC-APPLET"));
	assert_string_equal(fsec_audit_get(a, 0)->subject, "etc/shadow");
	fsec_audit_free(a);

	/* A name escaping the root. */
	tar_header(buf, "etc/../../shadow", '0', sizeof(shadow) - 1, NULL);
	assert_int_equal(scan(buf, sizeof(buf), &a), FSEC_ERR_PARSE);
	fsec_audit_free(a);

	/* A size beyond the end, and the largest octal size. */
	tar_header(buf, "etc/shadow", '0', 1ul << 30, NULL);
	assert_int_equal(scan(buf, sizeof(buf), &a), FSEC_ERR_PARSE);
	fsec_audit_free(a);
	tar_header(buf, "etc/shadow", '0', 077777777777ul, NULL);
	assert_int_equal(scan(buf, sizeof(buf), &a), FSEC_ERR_PARSE);
	fsec_audit_free(a);

	/* A bad checksum. */
	tar_header(buf, "etc/shadow", '0', sizeof(shadow) - 1, NULL);
	buf[0] ^= 1;
	assert_int_equal(scan(buf, sizeof(buf), &a), FSEC_ERR_PARSE);
	fsec_audit_free(a);

	/* A GNU long name ('L') names the next member. */
	memset(buf, 0, sizeof(buf));
	tar_header(buf, "././@LongLink", 'L', 11, NULL);
	memcpy(buf + 512, "etc/shadow", 11);
	tar_header(buf + 1024, "x", '0', sizeof(shadow) - 1, NULL);
	memcpy(buf + 1536, shadow, sizeof(shadow) - 1);
	assert_int_equal(scan(buf, sizeof(buf), &a), FSEC_OK);
	assert_true(has_check(a, "FW-CRED-EMPTY"));
	fsec_audit_free(a);

	/* Truncated mid-header. */
	assert_int_equal(scan(buf, 700, &a), FSEC_ERR_PARSE);
	fsec_audit_free(a);
}

/* A hash whose cost is unbounded is not handed to crypt(3): the audit stays
 * fast on a hostile image. */
static void costly_hashes_skipped(void **state)
{
	static const char shadow[] =
		"root:$6$rounds=999999999$abcdefgh$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:1::::::\n"
		"admin:$2b$31$abcdefghijklmnopqrstuuAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:1::::::\n";
	struct fw_state st = {0};
	struct fsec_audit *a = new_audit();
	time_t t0 = time(NULL);

	(void)state;
	assert_int_equal(fsec_audit_fw_file(a, &st, "etc/shadow", (const unsigned char *)shadow,
					    sizeof(shadow) - 1),
			 FSEC_OK);
	assert_int_equal(fsec_audit_count(a), 0);
	assert_true(time(NULL) - t0 < 5);
	fsec_audit_free(a);
}

/* Per-file findings are capped. */
static void per_file_cap(void **state)
{
	struct fw_state st = {0};
	struct fsec_audit *a = new_audit();
	char *buf = malloc(200 * 32);
	size_t len = 0;

	(void)state;
	for (int i = 0; i < 200; i++)
		len += (size_t)snprintf(buf + len, 200 * 32 - len, "url%d = mqtt://h%d.example\n", i, i);
	assert_int_equal(fsec_audit_fw_file(a, &st, "etc/app.conf", (unsigned char *)buf, len),
			 FSEC_OK);
	assert_int_equal(fsec_audit_count(a), 32);
	free(buf);
	fsec_audit_free(a);
}

struct scan_job {
	const char *pem;
	size_t len, found;
	enum fsec_err rc;
};

static void *scan_in_thread(void *arg)
{
	struct scan_job *j = arg;
	struct fw_state st = {0};
	struct fsec_audit *a = NULL;

	if ((j->rc = fsec_audit_new(&a)) == FSEC_OK &&
	    (j->rc = fsec_audit_fw_file(a, &st, "etc/ssl/private/dev.key",
					(const unsigned char *)j->pem, j->len)) == FSEC_OK)
		j->found = fsec_audit_count(a);
	fsec_audit_free(a);
	return NULL;
}

/* A thread that scanned keys leaves no decoder or key cache behind when it
 * ends (LeakSanitizer, which the ASan run enables, would report one). */
static void thread_caches_freed(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	BIO *b = BIO_new(BIO_s_mem());
	struct scan_job j = {0};
	char *pem = NULL;
	pthread_t th;

	(void)state;
	assert_non_null(k);
	assert_non_null(b);
	assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	j.len = (size_t)BIO_get_mem_data(b, &pem);
	j.pem = pem;
	for (int i = 0; i < 3; i++) {
		j.found = 0;
		assert_int_equal(pthread_create(&th, NULL, scan_in_thread, &j), 0);
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_int_equal(j.rc, FSEC_OK);
		assert_true(j.found >= 1);
	}
	BIO_free(b);
	EVP_PKEY_free(k);
}

/* What servers answer, parsed within the bytes received. */
static void net_answers(void **state)
{
	static const char head[] = "HTTP/1.1 401 Unauthorized\r\nwww-authenticate:  basic realm=x\r\n\r\n";
	static const unsigned char ack[] = {0x20, 2, 0, 5};

	(void)state;
	assert_int_equal(fsec_audit_net_http_status(head, sizeof(head) - 1), 401);
	assert_int_equal(fsec_audit_net_http_status(head, 11), 0); /* cut before the code ends */
	assert_int_equal(fsec_audit_net_http_status("HTTP/1.1 999 X", 14), 0);
	assert_int_equal(fsec_audit_net_http_status("HTTP/2 200 OK", 13), 0);
	assert_true(fsec_audit_net_http_basic(head, sizeof(head) - 1));
	/* "Basic" beyond len is not seen. */
	assert_false(fsec_audit_net_http_basic(head, 50));
	assert_int_equal(fsec_audit_net_connack(ack, 4), 5);
	assert_int_equal(fsec_audit_net_connack(ack, 3), -1);
	assert_true(fsec_audit_net_coap_reply((const unsigned char *)"\x60\x45\x46\x53", 4));
	assert_false(fsec_audit_net_coap_reply((const unsigned char *)"\x60\x45\x46\x54", 4));
	assert_int_equal(fsec_audit_net_banner("\xff\xfd\x01", 3), NET_BANNER_TELNET);
	assert_int_equal(fsec_audit_net_banner("router login: ", 14), NET_BANNER_TELNET);
	assert_int_equal(fsec_audit_net_banner("220 ftp\r\n", 9), NET_BANNER_FTP);
	assert_int_equal(fsec_audit_net_banner("SSH-2.0-x\r\n", 11), NET_BANNER_SSH);
	assert_int_equal(fsec_audit_net_banner("", 0), NET_BANNER_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(catalogue_is_consistent),
		cmocka_unit_test(add_disable_and_sort),
		cmocka_unit_test(cap_counts_dropped),
		cmocka_unit_test(formats),
		cmocka_unit_test(roca_fingerprint),
		cmocka_unit_test(tar_reader),
		cmocka_unit_test(costly_hashes_skipped),
		cmocka_unit_test(per_file_cap),
		cmocka_unit_test(net_answers),
		cmocka_unit_test(thread_caches_freed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
