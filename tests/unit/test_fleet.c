/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <sqlite3.h>

#include "crl_int.h"
#include "fleet_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "testutil.h"

struct fixture {
	char *dir, *home;
	struct fsec_fleet *f;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct fsec_fleet_create_params p = {.name = "Unit Fleet", .actor = "test"};

	fx->dir = tu_mkdtemp();
	fx->home = tu_path(fx->dir, "home");
	assert_int_equal(fsec_fleet_create(fx->home, &p), FSEC_OK);
	assert_int_equal(fsec_fleet_open(fx->home, &fx->f), FSEC_OK);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	fsec_fleet_free(fx->f);
	tu_rmtree(fx->dir);
	free(fx->home);
	free(fx->dir);
	free(fx);
	return 0;
}

static int count_dev(const struct fsec_device_rec *d, void *arg)
{
	(void)d;
	(*(int *)arg)++;
	return 0;
}

static int count_cert(const struct fsec_cert_rec *c, void *arg)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

static int devices(struct fixture *fx)
{
	int n = 0;

	assert_int_equal(fsec_registry_device_list(fsec_fleet_get_registry(fx->f), 0, NULL,
						   count_dev, &n),
			 FSEC_OK);
	return n;
}

static int certs(struct fixture *fx)
{
	int n = 0;

	assert_int_equal(fsec_registry_cert_list(fsec_fleet_get_registry(fx->f), NULL, count_cert,
						 &n),
			 FSEC_OK);
	return n;
}

static enum fsec_err issue(struct fixture *fx, EVP_PKEY *key, const char *id, bool reissue,
			   const char *out)
{
	X509_REQ *req = tu_csr(key, id);
	struct fsec_issue_opts o = {.id = id, .model = "m1", .reissue = reissue, .actor = "test",
				    .cert_out = out};
	struct fsec_issued_cert cert = {0};
	enum fsec_err rc = fsec_fleet_issue(fx->f, req, &o, &cert);

	/* The output is filled only on success. */
	if (rc == FSEC_OK)
		assert_non_null(cert.der);
	else
		assert_null(cert.der);
	fsec_issued_cert_cleanup(&cert);
	X509_REQ_free(req);
	return rc;
}

static X509_CRL *read_crl(struct fixture *fx)
{
	char *p = tu_path(fx->home, "crl.pem");
	FILE *fp = fopen(p, "r");
	X509_CRL *crl;

	assert_non_null(fp);
	crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
	fclose(fp);
	free(p);
	assert_non_null(crl);
	return crl;
}

static void init_refuses_existing_home(void **state)
{
	struct fixture *fx = *state;
	struct fsec_fleet_create_params p = {.name = "Other", .actor = "test"};
	char *cfg = tu_path(fx->home, "fleet.json"), *dir;
	unsigned char *before = NULL, *after = NULL;
	size_t blen = 0, alen = 0;
	DIR *d;
	struct dirent *e;
	int n = 0;

	assert_int_equal(fsec_file_read(cfg, 1 << 16, &before, &blen), FSEC_OK);
	assert_int_equal(fsec_fleet_create(fx->home, &p), FSEC_ERR_EXISTS);
	assert_int_equal(fsec_file_read(cfg, 1 << 16, &after, &alen), FSEC_OK);
	assert_int_equal(alen, blen);
	assert_memory_equal(before, after, blen);
	/* No temporary home left beside it either. */
	d = opendir(fx->dir);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 1);
	/* An empty directory is fine to initialize. */
	dir = tu_path(fx->dir, "empty");
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(fsec_fleet_create(dir, &p), FSEC_OK);
	free(dir);
	free(before);
	free(after);
	free(cfg);
}

static void private_keys_are_0600(void **state)
{
	struct fixture *fx = *state;
	const char *names[] = {"root.key", "issuing.key"};

	for (int i = 0; i < 2; i++) {
		char *p = tu_path(fx->home, names[i]);
		struct stat st;

		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		free(p);
	}
}

static void issue_records_device(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *k = tu_key("p256");
	struct fsec_device_rec d;

	assert_int_equal(issue(fx, k, "dev-1", false, NULL), FSEC_OK);
	assert_int_equal(fsec_registry_device_get(fsec_fleet_get_registry(fx->f), "dev-1", &d),
			 FSEC_OK);
	assert_int_equal(d.status, FSEC_DEVICE_ACTIVE);
	assert_string_equal(d.model, "m1");
	assert_string_equal(d.provisioning, "factory-csr");
	assert_int_equal(strlen(d.fingerprint), 64);
	assert_int_equal(strlen(d.spki_sha256), 64);
	assert_true(d.expires_at > d.issued_at);
	EVP_PKEY_free(k);
}

static void refuses_shared_key(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *k = tu_key("p256");
	char *out = tu_path(fx->dir, "b.pem");

	assert_int_equal(issue(fx, k, "a", false, NULL), FSEC_OK);
	assert_int_equal(issue(fx, k, "b", false, out), FSEC_ERR_POLICY);
	assert_non_null(strstr(fsec_err_detail(), "registered to device a"));
	/* Nothing written: no row, no certificate, no output file. */
	assert_int_equal(devices(fx), 1);
	assert_int_equal(certs(fx), 1);
	assert_false(tu_exists(out));
	free(out);
	EVP_PKEY_free(k);
}

/* One key, two encodings: a device must not pass off another's key by
 * sending the point compressed. */
static void refuses_shared_key_in_other_encoding(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *k = tu_key("p256"), *compressed = EVP_PKEY_dup(k);

	assert_int_equal(EVP_PKEY_set_utf8_string_param(compressed,
							OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
							"compressed"),
			 1);
	assert_int_equal(issue(fx, k, "plain", false, NULL), FSEC_OK);
	/* The compressed SPKI of a P-256 key is 59 bytes, the uncompressed 91. */
	assert_int_equal(i2d_PUBKEY(compressed, NULL), 59);
	assert_int_equal(issue(fx, compressed, "sneaky", false, NULL), FSEC_ERR_POLICY);
	assert_int_equal(devices(fx), 1);
	EVP_PKEY_free(compressed);
	EVP_PKEY_free(k);
}

static void refuses_active_id_without_reissue(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *k1 = tu_key("p256"), *k2 = tu_key("p256");
	struct fsec_device_rec before, after;
	X509_CRL *crl;
	X509_REVOKED *rev;

	assert_int_equal(issue(fx, k1, "d", false, NULL), FSEC_OK);
	assert_int_equal(fsec_registry_device_get(fsec_fleet_get_registry(fx->f), "d", &before),
			 FSEC_OK);
	assert_int_equal(issue(fx, k2, "d", false, NULL), FSEC_ERR_EXISTS);
	assert_int_equal(certs(fx), 1);
	/* With --reissue the old certificate is superseded and lands on the CRL. */
	assert_int_equal(issue(fx, k2, "d", true, NULL), FSEC_OK);
	assert_int_equal(fsec_registry_device_get(fsec_fleet_get_registry(fx->f), "d", &after),
			 FSEC_OK);
	assert_string_not_equal(before.serial, after.serial);
	assert_int_equal(certs(fx), 2);
	crl = read_crl(fx);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
	rev = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), 0);
	{
		ASN1_ENUMERATED *r = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);

		assert_int_equal(ASN1_ENUMERATED_get(r), 4);
		ASN1_ENUMERATED_free(r);
	}
	X509_CRL_free(crl);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void refuses_compromised_key_even_for_same_device(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *k = tu_key("p256");

	assert_int_equal(issue(fx, k, "d", false, NULL), FSEC_OK);
	assert_int_equal(fsec_fleet_revoke(fx->f, "d", 1, "test"), FSEC_OK);
	assert_int_equal(issue(fx, k, "d", true, NULL), FSEC_ERR_POLICY);
	assert_non_null(strstr(fsec_err_detail(), "compromised"));
	EVP_PKEY_free(k);
}

static void refuses_weak_and_invalid(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *weak = tu_key("rsa1024"), *ok = tu_key("p256");

	assert_int_equal(issue(fx, weak, "w", false, NULL), FSEC_ERR_POLICY);
	assert_int_equal(issue(fx, ok, "bad id", false, NULL), FSEC_ERR_INVAL);
	assert_int_equal(devices(fx), 0);
	EVP_PKEY_free(weak);
	EVP_PKEY_free(ok);
}

static void keygen_writes_key_and_refuses_overwrite(void **state)
{
	struct fixture *fx = *state;
	char *key = tu_path(fx->dir, "dev.key");
	struct fsec_issue_opts o = {.id = "kg", .key_out = key, .actor = "test"};
	struct fsec_issued_cert cert = {0};
	const unsigned char *p;
	X509 *x;
	EVP_PKEY *loaded;
	FILE *fp;
	struct stat st;

	assert_int_equal(fsec_fleet_issue(fx->f, NULL, &o, &cert), FSEC_OK);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	fp = fopen(key, "r");
	loaded = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	p = cert.der;
	x = d2i_X509(NULL, &p, (long)cert.der_len);
	assert_non_null(x);
	assert_int_equal(X509_check_private_key(x, loaded), 1);
	X509_free(x);
	EVP_PKEY_free(loaded);
	fsec_issued_cert_cleanup(&cert);
	/* A model outside the release manifests' name rule is refused before
	 * anything is written. */
	o.id = "kg-model";
	o.model = "thermo\nv2";
	assert_int_equal(fsec_fleet_issue(fx->f, NULL, &o, &cert), FSEC_ERR_INVAL);
	assert_non_null(strstr(fsec_err_detail(), "invalid model 'thermo?v2'"));
	o.model = NULL;
	/* A second device must not silently reuse or replace the key file. */
	o.id = "kg2";
	assert_int_equal(fsec_fleet_issue(fx->f, NULL, &o, &cert), FSEC_ERR_EXISTS);
	assert_null(cert.der);
	assert_int_equal(devices(fx), 1);
	free(key);
}

static void revoke_updates_status_and_crl(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *k = tu_key("p256");
	struct fsec_device_rec d;
	X509_CRL *crl;

	assert_int_equal(issue(fx, k, "r", false, NULL), FSEC_OK);
	assert_int_equal(fsec_fleet_revoke(fx->f, "r", 5, "test"), FSEC_OK);
	assert_int_equal(fsec_registry_device_get(fsec_fleet_get_registry(fx->f), "r", &d), FSEC_OK);
	assert_int_equal(d.status, FSEC_DEVICE_REVOKED);
	crl = read_crl(fx);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
	X509_CRL_free(crl);
	assert_int_equal(fsec_fleet_revoke(fx->f, "r", 5, "test"), FSEC_ERR_EXISTS);
	assert_int_equal(fsec_fleet_revoke(fx->f, "nobody", 5, "test"), FSEC_ERR_NOTFOUND);
	/* CRL numbers only grow. */
	{
		STACK_OF(X509_CRL) *c1 = NULL, *c2 = NULL;
		ASN1_INTEGER *n1, *n2;

		assert_int_equal(fsec_fleet_crl(fx->f, &c1), FSEC_OK);
		assert_int_equal(fsec_fleet_crl(fx->f, &c2), FSEC_OK);
		assert_int_equal(sk_X509_CRL_num(c1), 1);
		n1 = X509_CRL_get_ext_d2i(sk_X509_CRL_value(c1, 0), NID_crl_number, NULL, NULL);
		n2 = X509_CRL_get_ext_d2i(sk_X509_CRL_value(c2, 0), NID_crl_number, NULL, NULL);
		assert_true(ASN1_INTEGER_cmp(n1, n2) < 0);
		ASN1_INTEGER_free(n1);
		ASN1_INTEGER_free(n2);
		sk_X509_CRL_pop_free(c1, X509_CRL_free);
		sk_X509_CRL_pop_free(c2, X509_CRL_free);
	}
	EVP_PKEY_free(k);
}

static uint64_t disk_crl_number(struct fixture *fx)
{
	char *p = tu_path(fx->home, "crl.pem");
	struct fsec_crl_info i;

	assert_int_equal(fsec_crl_file_info(p, &i), FSEC_OK);
	free(p);
	return i.number;
}

/* crl.pem never goes back to an older CRL, whatever order writers finish
 * in; a missing or broken file is replaced. */
static void crl_publication_is_ordered(void **state)
{
	struct fixture *fx = *state;
	char *path = tu_path(fx->home, "crl.pem");
	STACK_OF(X509_CRL) *c1 = NULL, *c2 = NULL;
	struct fsec_crl_info i1, i2;
	bool pub = true;
	FILE *fp;

	assert_int_equal(fsec_fleet_crl(fx->f, &c1), FSEC_OK);
	assert_int_equal(fsec_fleet_crl(fx->f, &c2), FSEC_OK);
	assert_int_equal(fsec_crl_info_get(sk_X509_CRL_value(c1, 0), &i1), FSEC_OK);
	assert_int_equal(fsec_crl_info_get(sk_X509_CRL_value(c2, 0), &i2), FSEC_OK);
	assert_true(i2.number > i1.number);
	assert_true(i2.next_update > i2.this_update);
	assert_int_equal(disk_crl_number(fx), i2.number);
	/* The older one, published late, is not written. */
	assert_int_equal(fsec_crl_publish(path, c1, &pub), FSEC_OK);
	assert_false(pub);
	assert_int_equal(disk_crl_number(fx), i2.number);
	/* Nor the same one again. */
	assert_int_equal(fsec_crl_publish(path, c2, &pub), FSEC_OK);
	assert_false(pub);
	/* A broken file orders before any CRL, and so does none. */
	assert_non_null(fp = fopen(path, "w"));
	fputs("-----BEGIN X509 CRL-----\nbroken\n", fp);
	fclose(fp);
	assert_int_equal(fsec_crl_publish(path, c1, &pub), FSEC_OK);
	assert_true(pub);
	assert_int_equal(disk_crl_number(fx), i1.number);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(fsec_crl_publish(path, c1, &pub), FSEC_OK);
	assert_true(pub);
	/* A set whose second block is damaged is a damaged file, not a set of
	 * one: that would drop a CA's revocations. */
	assert_non_null(fp = fopen(path, "a"));
	fputs("-----BEGIN X509 CRL-----\nbroken\n-----END X509 CRL-----\n", fp);
	fclose(fp);
	{
		struct fsec_crl_info i3;

		assert_int_equal(fsec_crl_file_info(path, &i3), FSEC_ERR_PARSE);
	}
	sk_X509_CRL_pop_free(c1, X509_CRL_free);
	sk_X509_CRL_pop_free(c2, X509_CRL_free);
	free(path);
}

/* A registry restored from an older backup (its counter behind crl.pem's
 * number) still numbers the next CRL above the published one, so that it
 * is published. */
static void crl_number_stays_above_the_published_one(void **state)
{
	struct fixture *fx = *state;
	char *db = tu_path(fx->home, "registry.db");
	sqlite3 *h = NULL;
	STACK_OF(X509_CRL) *c = NULL;
	struct fsec_crl_info i;
	uint64_t before;

	for (int k = 0; k < 3; k++) {
		assert_int_equal(fsec_fleet_crl(fx->f, &c), FSEC_OK);
		sk_X509_CRL_pop_free(c, X509_CRL_free);
	}
	before = disk_crl_number(fx);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "UPDATE meta SET value = 1 WHERE name = 'crl_number'", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(fsec_fleet_crl(fx->f, &c), FSEC_OK);
	assert_int_equal(fsec_crl_info_get(sk_X509_CRL_value(c, 0), &i), FSEC_OK);
	assert_int_equal(i.number, before + 1);
	assert_int_equal(disk_crl_number(fx), before + 1);
	sk_X509_CRL_pop_free(c, X509_CRL_free);
	free(db);
}

/* fleetsecd's mode: a renewal or a revocation marks the CRL pending and
 * signs nothing; one refresh then publishes all of them. */
static void deferred_revocations_wait_for_refresh(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *k1 = tu_key("p256"), *k2 = tu_key("p256"), *k3 = tu_key("p256");
	uint64_t n0;
	int64_t due = 0;
	bool did = true;
	X509_CRL *crl;
	struct fsec_crl_info info;

	assert_int_equal(issue(fx, k1, "d", false, NULL), FSEC_OK);
	assert_int_equal(issue(fx, k3, "e", false, NULL), FSEC_OK);
	n0 = disk_crl_number(fx);
	fsec_fleet_set_crl_deferred(fx->f, true);
	assert_false(fsec_fleet_crl_pending(fx->f));
	assert_int_equal(issue(fx, k2, "d", true, NULL), FSEC_OK);
	assert_true(fsec_fleet_crl_pending(fx->f));
	assert_int_equal(fsec_fleet_revoke(fx->f, "e", 1, "test"), FSEC_OK);
	assert_int_equal(disk_crl_number(fx), n0);
	/* Out of range refresh points are refused. */
	assert_int_equal(fsec_fleet_crl_refresh(fx->f, 0, false, NULL, NULL), FSEC_ERR_INVAL);
	assert_int_equal(fsec_fleet_crl_refresh(fx->f, 1000, false, NULL, NULL), FSEC_ERR_INVAL);
	assert_int_equal(fsec_fleet_crl_refresh(fx->f, 500, false, &did, &due), FSEC_OK);
	assert_true(did);
	assert_false(fsec_fleet_crl_pending(fx->f));
	assert_int_equal(disk_crl_number(fx), n0 + 1);
	crl = read_crl(fx);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 2);
	assert_int_equal(fsec_crl_info_get(crl, &info), FSEC_OK);
	/* Due half-way through the period: after now, before nextUpdate. */
	assert_int_equal(due, info.this_update + (info.next_update - info.this_update) / 2);
	X509_CRL_free(crl);
	/* Nothing pending and not due: nothing signed. */
	assert_int_equal(fsec_fleet_crl_refresh(fx->f, 500, false, &did, NULL), FSEC_OK);
	assert_false(did);
	assert_int_equal(disk_crl_number(fx), n0 + 1);
	/* Checked against the registry: a list that misses no revocation is
	 * kept; one another handle committed without publishing (a replica
	 * that does not lead defers its CRL) is signed. */
	assert_int_equal(fsec_fleet_crl_refresh(fx->f, 500, true, &did, NULL), FSEC_OK);
	assert_false(did);
	{
		struct fsec_fleet *other = NULL;

		assert_int_equal(fsec_fleet_open(fx->home, &other), FSEC_OK);
		fsec_fleet_set_crl_deferred(other, true);
		assert_int_equal(fsec_fleet_revoke(other, "d", 1, "test"), FSEC_OK);
		fsec_fleet_free(other);
	}
	assert_int_equal(disk_crl_number(fx), n0 + 1);
	assert_int_equal(fsec_fleet_crl_refresh(fx->f, 500, true, &did, NULL), FSEC_OK);
	assert_true(did);
	crl = read_crl(fx);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 3);
	X509_CRL_free(crl);
	/* With a CRL that is not there: signed. */
	{
		char *p = tu_path(fx->home, "crl.pem");

		assert_int_equal(unlink(p), 0);
		free(p);
	}
	assert_int_equal(fsec_fleet_crl_refresh(fx->f, 500, false, &did, NULL), FSEC_OK);
	assert_true(did);
	assert_int_equal(disk_crl_number(fx), n0 + 3);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
}

static enum fsec_err cfg(const char *json)
{
	struct fleet_config c;

	return fsec_fleet_config_parse((const unsigned char *)json, strlen(json), &c);
}

static void config_is_strict(void **state)
{
	(void)state;
#define GOOD                                                                                  \
	"\"format\":\"fleetsec-home\",\"version\":1,\"name\":\"F\",\"algo\":\"p256\","        \
	"\"root_cert\":\"r\",\"issuing_cert\":\"i\",\"issuing_key\":\"k\","                \
	"\"registry\":\"sqlite:r.db\",\"device_days\":365,\"crl_days\":7"
	assert_int_equal(cfg("{" GOOD "}"), FSEC_OK);
	assert_int_equal(cfg("{" GOOD ",\"extra\":1}"), FSEC_ERR_PARSE);
	assert_int_equal(cfg("{" GOOD ",\"name\":\"G\"}"), FSEC_ERR_PARSE); /* duplicate */
	assert_int_equal(cfg("[1]"), FSEC_ERR_PARSE);
	assert_int_equal(cfg("{" GOOD), FSEC_ERR_PARSE);
	assert_int_equal(cfg("{\"format\":\"fleetsec-home\",\"version\":2}"), FSEC_ERR_PARSE);
	/* The issuing CAs a rotation keeps: an array of {cert, key}, at most 8. */
#define PREV(x) ",\"previous_issuing\":[" x "]"
#define ONE "{\"cert\":\"i1.pem\",\"key\":\"i1.key\"}"
	assert_int_equal(cfg("{" GOOD PREV(ONE) "}"), FSEC_OK);
	assert_int_equal(cfg("{" GOOD PREV(ONE "," ONE "," ONE "," ONE "," ONE "," ONE "," ONE
					  "," ONE) "}"),
			 FSEC_OK);
	assert_int_equal(cfg("{" GOOD PREV(ONE "," ONE "," ONE "," ONE "," ONE "," ONE "," ONE
					  "," ONE "," ONE) "}"),
			 FSEC_ERR_PARSE);
	assert_int_equal(cfg("{" GOOD PREV("{\"cert\":\"i1.pem\"}") "}"), FSEC_ERR_PARSE);
	assert_int_equal(cfg("{" GOOD PREV("{\"cert\":\"\",\"key\":\"k\"}") "}"),
			 FSEC_ERR_PARSE);
	assert_int_equal(cfg("{" GOOD PREV(ONE ",{\"cert\":\"a\",\"key\":\"b\",\"x\":1}") "}"),
			 FSEC_ERR_PARSE);
	assert_int_equal(cfg("{" GOOD ",\"previous_issuing\":{}}"), FSEC_ERR_PARSE);
	/* After a rollover an entry names its root; "" is not a path. */
	assert_int_equal(cfg("{" GOOD PREV("{\"cert\":\"a\",\"key\":\"b\",\"root\":\"r1\"}") "}"),
			 FSEC_OK);
	assert_int_equal(cfg("{" GOOD PREV("{\"cert\":\"a\",\"key\":\"b\",\"root\":\"\"}") "}"),
			 FSEC_ERR_PARSE);
	/* The roots a rollover keeps: {cert, new_with_old, old_with_new}, at
	 * most 4, every field there. */
#define ROOTS(x) ",\"previous_roots\":[" x "]"
#define R "{\"cert\":\"r\",\"new_with_old\":\"n\",\"old_with_new\":\"o\"}"
	assert_int_equal(cfg("{" GOOD ROOTS(R) "}"), FSEC_OK);
	assert_int_equal(cfg("{" GOOD ROOTS(R "," R "," R "," R) "}"), FSEC_OK);
	assert_int_equal(cfg("{" GOOD ROOTS(R "," R "," R "," R "," R) "}"), FSEC_ERR_PARSE);
	assert_int_equal(cfg("{" GOOD ROOTS("{\"cert\":\"r\",\"new_with_old\":\"n\"}") "}"),
			 FSEC_ERR_PARSE);
	assert_int_equal(cfg("{" GOOD ROOTS("{\"cert\":\"r\",\"new_with_old\":\"n\","
					    "\"old_with_new\":\"o\",\"key\":\"k\"}") "}"),
			 FSEC_ERR_PARSE);
	assert_int_equal(cfg("{" GOOD ",\"previous_roots\":{}}"), FSEC_ERR_PARSE);
#undef R
#undef ROOTS
#undef ONE
#undef PREV
#undef GOOD
}

static void open_missing_home(void **state)
{
	struct fsec_fleet *f = NULL;

	(void)state;
	assert_int_equal(fsec_fleet_open("/nonexistent/home", &f), FSEC_ERR_NOTFOUND);
	assert_non_null(strstr(fsec_err_detail(), "ca init"));
	assert_null(f);
}

struct net_seen {
	char mac[18], ip[16];
	int n;
};

static int net_one(const struct fsec_device_net *d, void *arg)
{
	struct net_seen *ns = arg;

	snprintf(ns->mac, sizeof(ns->mac), "%s", d->mac);
	snprintf(ns->ip, sizeof(ns->ip), "%s", d->ip);
	ns->n++;
	return 0;
}

struct ev_seen {
	int n;
	char actor[FSEC_ACTOR_MAX + 1], detail[FSEC_DETAIL_MAX + 1];
};

static int set_event(const struct fsec_event_rec *e, void *arg)
{
	struct ev_seen *es = arg;

	if (strcmp(e->action, "device-set") != 0)
		return 0;
	es->n++;
	snprintf(es->actor, sizeof(es->actor), "%s", e->actor);
	snprintf(es->detail, sizeof(es->detail), "%s", e->detail);
	return 0;
}

static struct ev_seen set_events(struct fixture *fx)
{
	struct ev_seen es = {0};

	assert_int_equal(fsec_registry_event_list(fsec_fleet_get_registry(fx->f), NULL, set_event,
						  &es),
			 FSEC_OK);
	return es;
}

/* device set: addresses, group and event are one transaction. */
static void device_set_is_one_change(void **state)
{
	struct fixture *fx = *state;
	struct fsec_registry *reg = fsec_fleet_get_registry(fx->f);
	EVP_PKEY *k1 = tu_key("p256"), *k2 = tu_key("p256");
	struct net_seen ns = {0};
	struct ev_seen es;
	char group[FSEC_GROUP_MAX + 1];

	assert_int_equal(issue(fx, k1, "dev-1", false, NULL), FSEC_OK);
	assert_int_equal(issue(fx, k2, "dev-2", false, NULL), FSEC_OK);
	assert_int_equal(fsec_fleet_device_set(fx->f, "dev-1", "AA:BB:CC:DD:EE:01", "10.0.0.1",
					       "canary", "alice"),
			 FSEC_OK);
	assert_int_equal(fsec_registry_device_net_list(reg, net_one, &ns), FSEC_OK);
	assert_int_equal(ns.n, 1);
	assert_string_equal(ns.mac, "aa:bb:cc:dd:ee:01");
	assert_string_equal(ns.ip, "10.0.0.1");
	assert_int_equal(fsec_registry_group_get(reg, "dev-1", group), FSEC_OK);
	assert_string_equal(group, "canary");
	es = set_events(fx);
	assert_int_equal(es.n, 1);
	assert_string_equal(es.actor, "alice");
	assert_string_equal(es.detail, "mac=AA:BB:CC:DD:EE:01 ip=10.0.0.1 group=canary");

	/* A bad group after a good address: neither lands, and no event. */
	assert_int_equal(fsec_fleet_device_set(fx->f, "dev-1", NULL, "10.0.0.9", "bad group!",
					       "alice"),
			 FSEC_ERR_INVAL);
	ns.n = 0;
	assert_int_equal(fsec_registry_device_net_list(reg, net_one, &ns), FSEC_OK);
	assert_string_equal(ns.ip, "10.0.0.1");
	assert_int_equal(set_events(fx).n, 1);

	/* Another device's MAC, no device, nothing to set: refused, no event. */
	assert_int_equal(fsec_fleet_device_set(fx->f, "dev-2", "aa:bb:cc:dd:ee:01", NULL, NULL,
					       "alice"),
			 FSEC_ERR_EXISTS);
	assert_int_equal(fsec_fleet_device_set(fx->f, "nosuch", NULL, "10.0.0.2", NULL, "alice"),
			 FSEC_ERR_NOTFOUND);
	assert_int_equal(fsec_fleet_device_set(fx->f, "dev-2", NULL, NULL, NULL, "alice"),
			 FSEC_ERR_INVAL);
	assert_int_equal(set_events(fx).n, 1);

	/* NULL keeps a field, "" clears it. */
	assert_int_equal(fsec_fleet_device_set(fx->f, "dev-1", NULL, "", NULL, "bob"), FSEC_OK);
	ns.n = 0;
	assert_int_equal(fsec_registry_device_net_list(reg, net_one, &ns), FSEC_OK);
	assert_string_equal(ns.mac, "aa:bb:cc:dd:ee:01");
	assert_string_equal(ns.ip, "");
	assert_int_equal(fsec_registry_group_get(reg, "dev-1", group), FSEC_OK);
	assert_string_equal(group, "canary");
	es = set_events(fx);
	assert_int_equal(es.n, 2);
	assert_string_equal(es.detail, "mac=(kept) ip= group=(kept)");
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static int import_event(const struct fsec_event_rec *e, void *arg)
{
	if (strcmp(e->action, "import") == 0)
		snprintf(arg, 512, "%s %s", e->actor, e->detail);
	return 0;
}

#define IMPORT_DEV(id, extra)                                                                 \
	"{\"id\": \"" id "\", \"model\": \"cam\", \"status\": \"active\", \"serial\": \"AB" id   \
	"\", \"expires_at\": \"2030-01-02T03:04:05Z\", \"issued_at\": 0" extra "}"

/* registry import: records as they are, all in one transaction or none, and
 * a misspelt or malformed member is refused with its path. */
static void import_is_all_or_nothing(void **state)
{
	struct fixture *fx = *state;
	struct fsec_registry *reg = fsec_fleet_get_registry(fx->f);
	struct fsec_import_counts n = {0};
	struct fsec_device_rec d;
	struct fsec_devstate_rec st;
	char ev[512] = "";
	EVP_PKEY *key = tu_key("p256");
	char *pem = NULL, *doc = NULL;
	size_t len;
	static const struct {
		const char *doc, *why;
	} bad[] = {
		{"{\"devices\": [" IMPORT_DEV("x-1", ", \"colour\": \"red\"") "]}",
		 "$.devices[0]: unknown field \"colour\""},
		{"{\"devices\": [" IMPORT_DEV("x-1", ", \"created_at\": \"yesterday\"") "]}",
		 "$.devices[0].created_at: not a time"},
		{"{\"devices\": [" IMPORT_DEV("bad id!", "") "]}", "$.devices[0].id: not a device ID"},
		{"{\"devices\": [{\"id\": \"x-1\", \"status\": \"lost\"}]}", "$.devices[0].status"},
		{"{\"devices\": [" IMPORT_DEV("x-1", ", \"model\": \"dup\"") "]}", "duplicate"},
		{"{\"gadgets\": []}", "$: unknown field \"gadgets\""},
		{"{\"states\": [{\"id\": \"nobody\"}]}", "$.states[0].id: no device nobody"},
		{"[]", "not a JSON object"},
	};

	/* A good document: a device, its certificate and a state. */
	{
		X509_REQ *req = tu_csr(key, "imp-0");
		struct fsec_issue_opts o = {.id = "imp-0", .actor = "test"};
		struct fsec_issued_cert cert = {0};
		char *p;

		/* A real certificate PEM, for a row whose key we choose. */
		assert_int_equal(fsec_fleet_issue(fx->f, req, &o, &cert), FSEC_OK);
		assert_int_equal(fsec_issued_cert_pem(&cert, &pem), FSEC_OK);
		fsec_issued_cert_cleanup(&cert);
		X509_REQ_free(req);
		len = strlen(pem) * 2 + 1024;
		doc = malloc(len);
		assert_non_null(doc);
		p = doc + snprintf(doc, len, "{\"devices\": [" IMPORT_DEV("imp-1", "")
					     "], \"certificates\": [{\"serial\": \"ABimp-1\", "
					     "\"device_id\": \"imp-1\", \"fingerprint_sha256\": "
					     "\"%064d\", \"spki_sha256\": \"%064d\", \"not_before\": 0, "
					     "\"not_after\": 1900000000, \"certificate_pem\": \"",
				   1, 2);
		for (const char *c = pem; *c != '\0'; c++)
			p += *c == '\n' ? snprintf(p, 3, "\\n") : snprintf(p, 2, "%c", *c);
		snprintf(p, len - (size_t)(p - doc),
			 "\"}], \"states\": [{\"id\": \"imp-1\", \"fw_version\": \"2.0.0\", "
			 "\"security_counter\": 7, \"last_seen\": 1700000000}]}");
	}
	assert_int_equal(fsec_fleet_import(fx->f, (unsigned char *)doc, strlen(doc), "carol", &n),
			 FSEC_OK);
	assert_int_equal(n.devices, 1);
	assert_int_equal(n.certificates, 1);
	assert_int_equal(n.states, 1);
	assert_int_equal(fsec_registry_device_get(reg, "imp-1", &d), FSEC_OK);
	assert_string_equal(d.serial, "ABimp-1");
	assert_int_equal(d.expires_at, 1893553445);
	assert_string_equal(d.provisioning, "import");
	assert_int_equal(fsec_registry_devstate_get(reg, "imp-1", &st), FSEC_OK);
	assert_int_equal(st.security_counter, 7);
	assert_int_equal(st.last_seen, 1700000000);
	assert_int_equal(fsec_registry_event_list(reg, NULL, import_event, ev), FSEC_OK);
	assert_string_equal(ev, "carol devices=1 certificates=1 states=1");

	/* The same certificate again, after a new device: the device is rolled
	 * back with the refused certificate. */
	{
		char *again = tu_replace(doc, "\"id\": \"imp-1\", \"model\"", "\"id\": \"imp-2\", \"model\"");

		assert_int_equal(fsec_fleet_import(fx->f, (unsigned char *)again, strlen(again), "carol",
						   NULL),
				 FSEC_ERR_EXISTS);
		assert_non_null(strstr(fsec_err_detail(), "$.certificates[0]"));
		assert_int_equal(fsec_registry_device_get(reg, "imp-2", &d), FSEC_ERR_NOTFOUND);
		free(again);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(fsec_fleet_import(fx->f, (const unsigned char *)bad[i].doc,
						       strlen(bad[i].doc), "carol", NULL),
				     FSEC_OK);
		if (strstr(fsec_err_detail(), bad[i].why) == NULL)
			fail_msg("case %zu: '%s' does not say '%s'", i, fsec_err_detail(), bad[i].why);
		assert_int_equal(fsec_registry_device_get(reg, "x-1", &d), FSEC_ERR_NOTFOUND);
	}
	assert_int_equal(fsec_fleet_import(fx->f, (const unsigned char *)"{}", FSEC_IMPORT_MAX + 1,
					   "carol", NULL),
			 FSEC_ERR_TOO_LARGE);
	free(doc);
	free(pem);
	EVP_PKEY_free(key);
}

static char *file_text(const char *dir, const char *name)
{
	char *p = tu_path(dir, name);
	unsigned char *buf = NULL;
	size_t len = 0;

	assert_int_equal(fsec_file_read(p, 1u << 20, &buf, &len), FSEC_OK);
	free(p);
	return (char *)buf;
}

static X509 *issuer_of(struct fsec_fleet *f, const char *id, struct fixture *fx)
{
	struct fsec_issue_opts o = {.id = id, .key_out = NULL, .actor = "test"};
	struct fsec_issued_cert c = {0};
	const unsigned char *p;
	char *key = tu_path(fx->dir, id);
	X509 *x;

	o.key_out = key;
	assert_int_equal(fsec_fleet_issue(f, NULL, &o, &c), FSEC_OK);
	p = c.der;
	assert_non_null(x = d2i_X509(NULL, &p, (long)c.der_len));
	fsec_issued_cert_cleanup(&c);
	free(key);
	return x;
}

/* ca rotate: only the root's key signs a new issuing CA; a handle opened
 * before the rotation (fleetsecd's) issues from the new CA at once; the
 * number of previous CAs kept is capped, and each refusal writes nothing. */
static void rotation(void **state)
{
	struct fixture *fx = *state;
	char *root_key = tu_path(fx->home, "root.key"), *iss_key = tu_path(fx->home, "issuing.key");
	struct fsec_ca_rotate_params p = {.root_key = iss_key, .actor = "test"};
	struct fsec_ca_info info;
	struct fsec_fleet *other = NULL;
	char *before, *after, *name, iss[256];
	X509 *x;
	int i;

	assert_int_equal(fsec_fleet_open(fx->home, &other), FSEC_OK);
	x = issuer_of(other, "before", fx);
	X509_free(x);
	before = file_text(fx->home, "fleet.json");
	assert_int_equal(fsec_fleet_ca_rotate(fx->f, &p, &info), FSEC_ERR_VERIFY);
	after = file_text(fx->home, "fleet.json");
	assert_string_equal(before, after);
	free(after);
	name = tu_path(fx->home, "issuing-2.pem");
	assert_int_not_equal(access(name, F_OK), 0);
	free(name);

	p.root_key = root_key;
	assert_int_equal(fsec_fleet_ca_rotate(fx->f, &p, &info), FSEC_OK);
	assert_string_equal(info.file, "issuing-2.pem");
	assert_true(info.current && !info.root);
	assert_non_null(strstr(info.subject, "Issuing CA 2"));
	/* The other handle reads the new fleet.json at its next operation. */
	x = issuer_of(other, "after", fx);
	X509_NAME_oneline(X509_get_issuer_name(x), iss, (int)sizeof(iss));
	assert_non_null(strstr(iss, "Issuing CA 2"));
	X509_free(x);
	free(before);
	for (i = 3; i <= 9; i++)
		assert_int_equal(fsec_fleet_ca_rotate(fx->f, &p, &info), FSEC_OK);
	before = file_text(fx->home, "fleet.json");
	assert_int_equal(fsec_fleet_ca_rotate(fx->f, &p, &info), FSEC_ERR_POLICY);
	after = file_text(fx->home, "fleet.json");
	assert_string_equal(before, after);
	free(before);
	free(after);
	fsec_fleet_free(other);
	free(root_key);
	free(iss_key);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(init_refuses_existing_home),
		T(private_keys_are_0600),
		T(issue_records_device),
		T(refuses_shared_key),
		T(refuses_shared_key_in_other_encoding),
		T(refuses_active_id_without_reissue),
		T(refuses_compromised_key_even_for_same_device),
		T(refuses_weak_and_invalid),
		T(keygen_writes_key_and_refuses_overwrite),
		T(revoke_updates_status_and_crl),
		T(crl_publication_is_ordered),
		T(crl_number_stays_above_the_published_one),
		T(deferred_revocations_wait_for_refresh),
		T(device_set_is_one_change),
		T(import_is_all_or_nothing),
		T(rotation),
		cmocka_unit_test(config_is_strict),
		cmocka_unit_test(open_missing_home),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
