/* SPDX-License-Identifier: Apache-2.0 */
/* The fleet home and its operations (fleet.h): issue, revoke and the
 * CRL, each one registry transaction with its files staged around it. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "crl_int.h"
#include "dynbuf_int.h"
#include "err_int.h"
#include "pem_int.h"
#include "fleet_int.h"
#include "json_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/identity.h"

#define CONFIG_FILE "fleet.json"
#define CRL_FILE "crl.pem"
#define CHAIN_FILE "chain.pem"
/* The hard cap on `--days` of anything this module issues. */
#define DAYS_MAX 36500
/* chain.pem: the issuing CA and root, the previous issuing CAs, and each
 * previous root with its two cross certificates. */
#define CHAIN_MAX (2 + FLEET_PREV_MAX + 3 * FLEET_ROOTS_MAX)

struct fsec_fleet {
	char *home;
	struct fleet_config cfg;
	struct stat cfg_st; /* fleet.json when cfg was read (fleet_sync) */
	struct fsec_registry *reg;
	struct fsec_ca *ca; /* loaded on first use */
	char ca_fp[FSEC_SHA256_HEX_LEN]; /* its certificate's fingerprint */
	/* cfg.prev's CAs, loaded to sign their CRLs; NULL: not loaded, or
	 * expired (prev_expired) and so no longer in use. */
	struct fsec_ca *prev[FLEET_PREV_MAX];
	bool prev_expired[FLEET_PREV_MAX];
	bool frozen; /* cfg is not from disk (create, rotate's view): never re-read */
	bool crl_deferred;  /* revocations leave the CRL to fsec_fleet_crl_refresh */
	bool crl_pending;   /* a revocation is not on the published CRL yet */
};

/* ---- fleet.json ---- */

/* fleet.json is read through core's JSON walker: a bad field is named by
 * its path, "fleet.json: $.crl_days: ...". */
#define CONFIG_ROOT CONFIG_FILE ": $"

static enum fsec_err cfg_string(json_t *root, const char *key, char *out, size_t cap)
{
	return fsec_json_copy_str(root, CONFIG_ROOT, key, 0, 1, out, cap);
}

static enum fsec_err cfg_days(json_t *root, const char *key, int *out)
{
	uint64_t v;
	enum fsec_err rc = fsec_json_get_uint(root, CONFIG_ROOT, key, 0, 1, DAYS_MAX, &v);

	if (rc == FSEC_OK)
		*out = (int)v;
	return rc;
}

/* "previous_issuing": optional, an array of at most FLEET_PREV_MAX
 * {"cert": PATH, "key": PATH-OR-URI}, oldest first. */
static enum fsec_err cfg_prev(json_t *root, struct fleet_config *cfg)
{
	static const char *const known[] = {"cert", "key", "root", NULL};
	char path[FSEC_JSON_PATH_MAX];
	json_t *arr = json_object_get(root, "previous_issuing");
	enum fsec_err rc;

	if (arr == NULL)
		return FSEC_OK;
	/* Bounded: a longer array is a damaged file, not a longer loop. */
	if (!json_is_array(arr) || json_array_size(arr) > FLEET_PREV_MAX)
		return fsec_seterr(FSEC_ERR_PARSE, "%s.previous_issuing: must be an array of at most %d",
				   CONFIG_ROOT, FLEET_PREV_MAX);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);

		fsec_json_path_index(path, CONFIG_ROOT ".previous_issuing", i);
		if ((rc = fsec_json_only_keys(o, path, known)) != FSEC_OK ||
		    (rc = fsec_json_copy_str(o, path, "cert", 0, 1, cfg->prev[i].cert,
					     sizeof(cfg->prev[i].cert))) != FSEC_OK ||
		    (rc = fsec_json_copy_str(o, path, "key", 0, 1, cfg->prev[i].key,
					     sizeof(cfg->prev[i].key))) != FSEC_OK ||
		    (json_object_get(o, "root") != NULL &&
		     (rc = fsec_json_copy_str(o, path, "root", 0, 1, cfg->prev[i].root,
					      sizeof(cfg->prev[i].root))) != FSEC_OK))
			return rc;
	}
	cfg->nprev = json_array_size(arr);
	return FSEC_OK;
}

/* "previous_roots": optional, an array of at most FLEET_ROOTS_MAX
 * {"cert", "new_with_old", "old_with_new"}, oldest first. */
static enum fsec_err cfg_roots(json_t *root, struct fleet_config *cfg)
{
	static const char *const known[] = {"cert", "new_with_old", "old_with_new", NULL};
	char path[FSEC_JSON_PATH_MAX];
	json_t *arr = json_object_get(root, "previous_roots");
	enum fsec_err rc;

	if (arr == NULL)
		return FSEC_OK;
	/* Bounded: a longer array is a damaged file, not a longer loop. */
	if (!json_is_array(arr) || json_array_size(arr) > FLEET_ROOTS_MAX)
		return fsec_seterr(FSEC_ERR_PARSE, "%s.previous_roots: must be an array of at most %d",
				   CONFIG_ROOT, FLEET_ROOTS_MAX);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		struct fleet_prev_root *r = &cfg->roots[i];

		fsec_json_path_index(path, CONFIG_ROOT ".previous_roots", i);
		if ((rc = fsec_json_only_keys(o, path, known)) != FSEC_OK ||
		    (rc = fsec_json_copy_str(o, path, "cert", 0, 1, r->cert, sizeof(r->cert))) !=
			    FSEC_OK ||
		    (rc = fsec_json_copy_str(o, path, "new_with_old", 0, 1, r->new_with_old,
					     sizeof(r->new_with_old))) != FSEC_OK ||
		    (rc = fsec_json_copy_str(o, path, "old_with_new", 0, 1, r->old_with_new,
					     sizeof(r->old_with_new))) != FSEC_OK)
			return rc;
	}
	cfg->nroots = json_array_size(arr);
	return FSEC_OK;
}

enum fsec_err fsec_fleet_config_parse(const unsigned char *buf, size_t len,
				      struct fleet_config *out)
{
	static const char *const known[] = {
	    "format",      "version",  "name",        "algo",     "root_cert", "issuing_cert",
	    "issuing_key", "registry", "device_days", "crl_days", "previous_issuing",
	    "previous_roots", NULL};
	enum fsec_err rc = FSEC_ERR_PARSE;
	struct fleet_config cfg;
	char algo[16], format[32];
	json_t *root = NULL, *v;

	memset(&cfg, 0, sizeof(cfg));
	if (len > FSEC_FLEET_CONFIG_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "%s is larger than %u bytes", CONFIG_FILE,
				   FSEC_FLEET_CONFIG_MAX);
	if ((rc = fsec_json_load(buf, len, CONFIG_FILE, &root)) != FSEC_OK ||
	    (rc = fsec_json_only_keys(root, CONFIG_ROOT, known)) != FSEC_OK ||
	    (rc = cfg_string(root, "format", format, sizeof(format))) != FSEC_OK)
		goto out;
	v = json_object_get(root, "version");
	if (strcmp(format, "fleetsec-home") != 0 || !json_is_integer(v) || json_integer_value(v) != 1) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "%s: not a version 1 fleetsec-home file", CONFIG_FILE);
		goto out;
	}
	if ((rc = cfg_string(root, "name", cfg.name, sizeof(cfg.name))) != FSEC_OK ||
	    (rc = cfg_string(root, "algo", algo, sizeof(algo))) != FSEC_OK ||
	    (rc = cfg_string(root, "root_cert", cfg.root_cert, sizeof(cfg.root_cert))) != FSEC_OK ||
	    (rc = cfg_string(root, "issuing_cert", cfg.issuing_cert, sizeof(cfg.issuing_cert))) !=
		    FSEC_OK ||
	    (rc = cfg_string(root, "issuing_key", cfg.issuing_key, sizeof(cfg.issuing_key))) !=
		    FSEC_OK ||
	    (rc = cfg_string(root, "registry", cfg.registry, sizeof(cfg.registry))) != FSEC_OK ||
	    (rc = cfg_days(root, "device_days", &cfg.device_days)) != FSEC_OK ||
	    (rc = cfg_days(root, "crl_days", &cfg.crl_days)) != FSEC_OK)
		goto out;
	if ((rc = cfg_prev(root, &cfg)) != FSEC_OK || (rc = cfg_roots(root, &cfg)) != FSEC_OK)
		goto out;
	if (fsec_fleet_name_check(cfg.name) != FSEC_OK) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "%s: bad \"name\"", CONFIG_FILE);
		goto out;
	}
	if (fsec_key_algo_parse(algo, &cfg.algo) != FSEC_OK) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "%s: unknown \"algo\"", CONFIG_FILE);
		goto out;
	}
	*out = cfg;
	rc = FSEC_OK;
out:
	json_decref(root);
	return rc;
}

static enum fsec_err cfg_serialize(const struct fleet_config *c, char **out)
{
	json_t *o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "format",
			      "fleetsec-home", "version", 1, "name", c->name, "algo",
			      fsec_key_algo_name(c->algo), "root_cert", c->root_cert,
			      "issuing_cert", c->issuing_cert, "issuing_key", c->issuing_key,
			      "registry", c->registry, "device_days", c->device_days, "crl_days",
			      c->crl_days);
	json_t *prev = c->nprev > 0 ? json_array() : NULL;
	json_t *roots = c->nroots > 0 ? json_array() : NULL;
	char *s = NULL;

	/* Absent until the first rotation (rollover): a fleet that never
	 * rotated keeps the file older fleetsec versions read. */
	for (size_t i = 0; prev != NULL && i < c->nprev; i++) {
		json_t *e = json_pack("{s:s, s:s}", "cert", c->prev[i].cert, "key", c->prev[i].key);

		if (e != NULL && c->prev[i].root[0] != '\0' &&
		    json_object_set_new(e, "root", json_string(c->prev[i].root)) != 0) {
			json_decref(e);
			e = NULL;
		}
		if (json_array_append_new(prev, e) != 0) {
			json_decref(prev);
			prev = NULL;
		}
	}
	for (size_t i = 0; roots != NULL && i < c->nroots; i++)
		if (json_array_append_new(roots, json_pack("{s:s, s:s, s:s}", "cert",
							   c->roots[i].cert, "new_with_old",
							   c->roots[i].new_with_old, "old_with_new",
							   c->roots[i].old_with_new)) != 0) {
			json_decref(roots);
			roots = NULL;
		}
	if (o != NULL &&
	    (c->nprev == 0 || (prev != NULL && json_object_set(o, "previous_issuing", prev) == 0)) &&
	    (c->nroots == 0 || (roots != NULL && json_object_set(o, "previous_roots", roots) == 0)))
		s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(prev);
	json_decref(roots);
	json_decref(o);
	if (s == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "cannot serialize %s", CONFIG_FILE);
	*out = s;
	return FSEC_OK;
}

/* ---- paths ---- */

/* home + "/" + rel into a new string; rel may already be absolute. */
static enum fsec_err join(const char *home, const char *rel, char **out)
{
	char *s = NULL;

	if (rel[0] == '/' ? asprintf(&s, "%s", rel) < 0 : asprintf(&s, "%s/%s", home, rel) < 0)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	*out = s;
	return FSEC_OK;
}

/* A store URI ("file:...", "handle:0x81000001", "pkcs11:...") is used as is;
 * anything else is a path relative to the home. */
static bool is_uri(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0-9+.-");

	return n >= 2 && s[n] == ':';
}

/* ---- create ---- */

/* Remove the half-built temporary home: only regular files at its top level
 * were created, so a flat walk is enough and never follows links out. */
static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

static enum fsec_err write_pem_cert(const char *dir, const char *name, X509 *const *certs,
				    size_t n)
{
	BIO *mem = BIO_new(BIO_s_mem());
	enum fsec_err rc = FSEC_ERR_CRYPTO;
	char *path = NULL, *data;
	long len;

	for (size_t i = 0; mem != NULL && i < n; i++)
		if (!PEM_write_bio_X509(mem, certs[i]))
			goto out;
	if (mem == NULL || (len = BIO_get_mem_data(mem, &data)) <= 0) {
		fsec_seterr_ossl(rc, "cannot encode %s", name);
		goto out;
	}
	if ((rc = join(dir, name, &path)) == FSEC_OK)
		rc = fsec_file_write_atomic(path, data, (size_t)len, 0644, 0);
out:
	if (rc == FSEC_ERR_CRYPTO)
		fsec_seterr_ossl(rc, "cannot encode %s", name);
	free(path);
	BIO_free(mem);
	return rc;
}

static enum fsec_err write_key(const char *dir, const char *name, EVP_PKEY *key)
{
	char *path = NULL;
	enum fsec_err rc = join(dir, name, &path);

	if (rc == FSEC_OK)
		rc = fsec_key_save_private(key, path);
	free(path);
	return rc;
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	if (d == NULL)
		return false;
	while (empty && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

static enum fsec_err crl_sign(struct fsec_fleet *f, STACK_OF(X509_CRL) **crls_out);
static enum fsec_err crl_publish(struct fsec_fleet *f, STACK_OF(X509_CRL) *crls);
FSEC_API enum fsec_err fsec_fleet_create(const char *path,
					 const struct fsec_fleet_create_params *p)
{
	enum fsec_err rc = FSEC_ERR_IO;
	EVP_PKEY *root_key = NULL, *iss_key = NULL;
	X509 *root = NULL, *iss = NULL;
	struct fsec_fleet f = {0};
	STACK_OF(X509_CRL) *crls = NULL;
	char *tmp = NULL, *cfgpath = NULL, *json = NULL, *regpath = NULL;
	struct stat st;
	enum fsec_key_algo algo = p->algo != 0 ? p->algo : FSEC_KEY_P256;

	if ((rc = fsec_fleet_name_check(p->name)) != FSEC_OK)
		return rc;
	if (algo != FSEC_KEY_P256 && algo != FSEC_KEY_ED25519)
		return fsec_seterr(FSEC_ERR_INVAL, "CA algorithm must be p256 or ed25519");
	if (p->registry != NULL) {
		if (!fsec_registry_location_is_pg(p->registry))
			return fsec_seterr(FSEC_ERR_INVAL, "--registry '%.80s': give a postgresql:// URL "
					   "(the SQLite registry is the default)", p->registry);
		if ((rc = fsec_registry_location_check(p->registry)) != FSEC_OK)
			return rc;
		if (strlen(p->registry) >= sizeof(f.cfg.registry))
			return fsec_seterr(FSEC_ERR_TOO_LARGE, "registry URL is longer than %zu bytes",
					   sizeof(f.cfg.registry) - 1);
	}
	if (lstat(path, &st) == 0 && !(S_ISDIR(st.st_mode) && dir_is_empty(path)))
		return fsec_seterr(FSEC_ERR_EXISTS, "%s already exists; refusing to overwrite a fleet home",
				   path);
	if (asprintf(&tmp, "%s.init-XXXXXX", path) < 0)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (mkdtemp(tmp) == NULL) {
		rc = fsec_seterr(FSEC_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	snprintf(f.cfg.name, sizeof(f.cfg.name), "%s", p->name);
	f.cfg.algo = algo;
	snprintf(f.cfg.root_cert, sizeof(f.cfg.root_cert), "root.pem");
	snprintf(f.cfg.issuing_cert, sizeof(f.cfg.issuing_cert), "issuing.pem");
	snprintf(f.cfg.issuing_key, sizeof(f.cfg.issuing_key), "issuing.key");
	snprintf(f.cfg.registry, sizeof(f.cfg.registry), "%s",
		 p->registry != NULL ? p->registry : "sqlite:registry.db");
	f.cfg.device_days = p->device_days != 0 ? p->device_days : 365;
	f.cfg.crl_days = p->crl_days != 0 ? p->crl_days : 7;
	if (f.cfg.device_days < 1 || f.cfg.device_days > DAYS_MAX || f.cfg.crl_days < 1 ||
	    f.cfg.crl_days > DAYS_MAX) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "validity out of range (1-%d days)", DAYS_MAX);
		goto out;
	}
	f.home = tmp;
	/* fleet.json is written last: this handle's configuration is the one. */
	f.frozen = true;

	if ((rc = fsec_key_generate(algo, &root_key)) != FSEC_OK ||
	    (rc = fsec_key_generate(algo, &iss_key)) != FSEC_OK ||
	    (rc = fsec_ca_make_root(root_key, p->name, 1, p->root_days != 0 ? p->root_days : 7300,
				    &root)) != FSEC_OK ||
	    (rc = fsec_ca_make_issuing(root_key, root, iss_key, p->name, 1,
				       p->issuing_days != 0 ? p->issuing_days : 3650, &iss)) !=
		    FSEC_OK ||
	    (rc = fsec_ca_new(iss, iss_key, root, p->name, &f.ca)) != FSEC_OK)
		goto out;
	if ((rc = write_key(tmp, "root.key", root_key)) != FSEC_OK ||
	    (rc = write_key(tmp, "issuing.key", iss_key)) != FSEC_OK ||
	    (rc = write_pem_cert(tmp, "root.pem", &root, 1)) != FSEC_OK ||
	    (rc = write_pem_cert(tmp, "issuing.pem", &iss, 1)) != FSEC_OK ||
	    (rc = write_pem_cert(tmp, CHAIN_FILE, (X509 *[]){iss, root}, 2)) != FSEC_OK)
		goto out;
	if (p->registry != NULL)
		regpath = strdup(p->registry);
	else if ((rc = join(tmp, "registry.db", &regpath)) != FSEC_OK)
		goto out;
	if (regpath == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fsec_registry_open(regpath, FSEC_REGISTRY_CREATE, &f.reg)) != FSEC_OK)
		goto out;
	if ((rc = fsec_registry_begin(f.reg)) != FSEC_OK)
		goto out;
	if ((rc = fsec_registry_event_addf(f.reg, p->actor, "ca-init", NULL, "fleet=%s algo=%s",
					   p->name, fsec_key_algo_name(algo))) != FSEC_OK ||
	    (rc = crl_sign(&f, &crls)) != FSEC_OK ||
	    (rc = fsec_registry_commit(f.reg)) != FSEC_OK ||
	    (rc = crl_publish(&f, crls)) != FSEC_OK)
		goto out;
	/* Close the registry so its WAL is checkpointed into the file before
	 * the directory moves. */
	fsec_registry_free(f.reg);
	f.reg = NULL;
	if ((rc = cfg_serialize(&f.cfg, &json)) != FSEC_OK ||
	    (rc = join(tmp, CONFIG_FILE, &cfgpath)) != FSEC_OK ||
	    (rc = fsec_file_write_atomic(cfgpath, json, strlen(json), 0644, 0)) != FSEC_OK)
		goto out;
	/* rename(2) replaces an empty directory and refuses a non-empty one, so
	 * a home that appeared meanwhile is never overwritten. */
	if (rename(tmp, path) != 0) {
		rc = fsec_seterr(errno == ENOTEMPTY || errno == EEXIST ? FSEC_ERR_EXISTS : FSEC_ERR_IO,
				 "cannot move the new home into %s: %s", path, strerror(errno));
		goto out;
	}
	rc = fsec_dir_sync_parent(path);
	free(tmp);
	tmp = NULL;
out:
	if (f.reg != NULL)
		fsec_registry_rollback(f.reg);
	fsec_registry_free(f.reg);
	if (tmp != NULL)
		remove_tree(tmp);
	fsec_ca_free(f.ca);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	X509_free(root);
	X509_free(iss);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(iss_key);
	free(tmp);
	free(cfgpath);
	free(regpath);
	free(json);
	return rc;
}

/* ---- open ---- */

/* Forget the loaded CAs: the next operation loads what fleet.json names. */
static void drop_cas(struct fsec_fleet *f)
{
	fsec_ca_free(f->ca);
	f->ca = NULL;
	f->ca_fp[0] = '\0';
	for (size_t i = 0; i < FLEET_PREV_MAX; i++) {
		fsec_ca_free(f->prev[i]);
		f->prev[i] = NULL;
		f->prev_expired[i] = false;
	}
}

/* Another process may have replaced fleet.json since it was read (`fleetsec
 * ca rotate` next to a running fleetsecd): read it again when it changed,
 * so that a long-lived handle issues from the new CA and signs every CA's
 * CRL, instead of publishing a set that lacks the new CA's list. The
 * registry location is kept: it changes only with a new handle. */
static enum fsec_err fleet_sync(struct fsec_fleet *f)
{
	struct fleet_config cfg;
	struct stat st;
	unsigned char *buf = NULL;
	char *path = NULL;
	size_t len = 0;
	enum fsec_err rc;

	if (f->frozen)
		return FSEC_OK;
	if ((rc = join(f->home, CONFIG_FILE, &path)) != FSEC_OK)
		return rc;
	if (stat(path, &st) != 0) {
		rc = fsec_seterr(FSEC_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_ino == f->cfg_st.st_ino && st.st_dev == f->cfg_st.st_dev &&
	    st.st_size == f->cfg_st.st_size && st.st_mtim.tv_sec == f->cfg_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == f->cfg_st.st_mtim.tv_nsec)
		goto out;
	if ((rc = fsec_file_read(path, FSEC_FLEET_CONFIG_MAX, &buf, &len)) != FSEC_OK ||
	    (rc = fsec_fleet_config_parse(buf, len, &cfg)) != FSEC_OK)
		goto out;
	memcpy(cfg.registry, f->cfg.registry, sizeof(cfg.registry));
	f->cfg = cfg;
	f->cfg_st = st;
	drop_cas(f);
out:
	free(buf);
	free(path);
	return rc;
}

/* registry: where the registry is instead of fleet.json's (NULL: there). */
static enum fsec_err open_home(const char *path, const char *registry, unsigned regflags,
			       struct fsec_fleet **out)
{
	struct fsec_fleet *f = calloc(1, sizeof(*f));
	enum fsec_err rc = FSEC_ERR_NOMEM;
	unsigned char *buf = NULL;
	char *cfgpath = NULL, *loc = NULL;
	size_t len = 0;

	if (f == NULL || (f->home = strdup(path)) == NULL) {
		fsec_seterr(rc, "out of memory");
		goto out;
	}
	if ((rc = join(path, CONFIG_FILE, &cfgpath)) != FSEC_OK)
		goto out;
	/* Before the read: a file replaced in between is read again at the
	 * next fleet_sync, never missed. */
	if (stat(cfgpath, &f->cfg_st) != 0)
		memset(&f->cfg_st, 0, sizeof(f->cfg_st));
	rc = fsec_file_read(cfgpath, FSEC_FLEET_CONFIG_MAX, &buf, &len);
	if (rc != FSEC_OK) {
		if (access(cfgpath, F_OK) != 0)
			rc = fsec_seterr(FSEC_ERR_NOTFOUND,
					 "no fleet home at %s (run 'fleetsec ca init' first)", path);
		else
			rc = fsec_seterr(rc, "%s: %s", cfgpath, fsec_err_detail());
		goto out;
	}
	if ((rc = fsec_fleet_config_parse(buf, len, &f->cfg)) != FSEC_OK)
		goto out;
	if (registry != NULL) {
		/* A standby holds a copy of the primary's database: there is
		 * none of a SQLite fleet. */
		if (!fsec_registry_location_is_pg(f->cfg.registry)) {
			rc = fsec_seterr(FSEC_ERR_INVAL, "the fleet at %s keeps its registry in "
					 "SQLite: a standby needs a fleet on PostgreSQL", path);
			goto out;
		}
		if (!fsec_registry_location_is_pg(registry)) {
			rc = fsec_seterr(FSEC_ERR_INVAL, "'%.80s' is not a postgresql:// URL", registry);
			goto out;
		}
		if ((loc = strdup(registry)) == NULL) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
	} else if (strncmp(f->cfg.registry, "sqlite:", 7) == 0) {
		/* "sqlite:registry.db" is relative to the home, like every
		 * other path in fleet.json. */
		char *p = NULL;

		if ((rc = join(path, f->cfg.registry + 7, &p)) != FSEC_OK)
			goto out;
		rc = asprintf(&loc, "sqlite:%s", p) < 0 ? fsec_seterr(FSEC_ERR_NOMEM, "out of memory")
							: FSEC_OK;
		free(p);
		if (rc != FSEC_OK)
			goto out;
	} else if ((loc = strdup(f->cfg.registry)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fsec_registry_open(loc, regflags, &f->reg)) != FSEC_OK)
		goto out;
	*out = f;
	f = NULL;
	rc = FSEC_OK;
out:
	free(loc);
	free(buf);
	free(cfgpath);
	fsec_fleet_free(f);
	return rc;
}

FSEC_API enum fsec_err fsec_fleet_open(const char *path, struct fsec_fleet **out)
{
	return open_home(path, NULL, 0, out);
}

FSEC_API enum fsec_err fsec_fleet_open_readonly(const char *path, struct fsec_fleet **out)
{
	return open_home(path, NULL, FSEC_REGISTRY_READONLY, out);
}

FSEC_API enum fsec_err fsec_fleet_open_standby(const char *path, const char *location,
					       struct fsec_fleet **out)
{
	return open_home(path, location, FSEC_REGISTRY_READONLY, out);
}

FSEC_API void fsec_fleet_free(struct fsec_fleet *f)
{
	if (f == NULL)
		return;
	fsec_registry_free(f->reg);
	drop_cas(f);
	free(f->home);
	free(f);
}

FSEC_API struct fsec_registry *fsec_fleet_get_registry(struct fsec_fleet *f)
{
	return f->reg;
}

FSEC_API enum fsec_err fsec_fleet_get_registry_location(const struct fsec_fleet *f, char **out)
{
	char *p = NULL, *loc = NULL;
	enum fsec_err rc;

	if (strncmp(f->cfg.registry, "sqlite:", 7) != 0) {
		if ((loc = strdup(f->cfg.registry)) == NULL)
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		*out = loc;
		return FSEC_OK;
	}
	if ((rc = join(f->home, f->cfg.registry + 7, &p)) != FSEC_OK)
		return rc;
	rc = asprintf(&loc, "sqlite:%s", p) < 0 ? fsec_seterr(FSEC_ERR_NOMEM, "out of memory")
						: FSEC_OK;
	free(p);
	if (rc == FSEC_OK)
		*out = loc;
	return rc;
}

FSEC_API const char *fsec_fleet_get_name(const struct fsec_fleet *f)
{
	return f->cfg.name;
}

FSEC_API const char *fsec_fleet_get_home(const struct fsec_fleet *f)
{
	return f->home;
}

/* A CA certificate and key named in fleet.json (the key: a path in the
 * home or a store URI), as an fsec_ca under the root at root_path. */
static enum fsec_err load_one_ca(struct fsec_fleet *f, const char *root_path, X509 *iss,
				 const char *key_name, struct fsec_ca **out)
{
	char *key_loc = NULL;
	X509 *root = NULL;
	EVP_PKEY *key = NULL;
	enum fsec_err rc = FSEC_OK;

	if (is_uri(key_name))
		key_loc = strdup(key_name);
	else if ((rc = join(f->home, key_name, &key_loc)) != FSEC_OK)
		goto out;
	if (key_loc == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fsec_pem_cert_read(root_path, &root)) != FSEC_OK)
		goto out;
	if ((rc = fsec_key_load_private(key_loc, &key)) != FSEC_OK) {
		rc = fsec_seterr(rc, "issuing CA key %s: %s", key_name, fsec_err_detail());
		goto out;
	}
	rc = fsec_ca_new(iss, key, root, f->cfg.name, out);
out:
	EVP_PKEY_free(key);
	X509_free(root);
	free(key_loc);
	return rc;
}

static enum fsec_err load_ca(struct fsec_fleet *f)
{
	char *root_path = NULL, *iss_path = NULL;
	X509 *iss = NULL;
	enum fsec_err rc;

	if ((rc = fleet_sync(f)) != FSEC_OK || f->ca != NULL)
		return rc;
	if ((rc = join(f->home, f->cfg.root_cert, &root_path)) != FSEC_OK ||
	    (rc = join(f->home, f->cfg.issuing_cert, &iss_path)) != FSEC_OK ||
	    (rc = fsec_pem_cert_read(iss_path, &iss)) != FSEC_OK ||
	    (rc = fsec_cert_fingerprint(iss, f->ca_fp)) != FSEC_OK)
		goto out;
	rc = load_one_ca(f, root_path, iss, f->cfg.issuing_key, &f->ca);
out:
	X509_free(iss);
	free(root_path);
	free(iss_path);
	return rc;
}

/* A previous CA is in use until its certificate expires: every
 * certificate it issued has expired by then (issuance never outlives the
 * issuer), so it needs no CRL and no place in the chain. */
static enum fsec_err prev_cert(const char *home, const char *file, X509 **out, bool *expired)
{
	char *path = NULL;
	X509 *cert = NULL;
	enum fsec_err rc;

	if ((rc = join(home, file, &path)) == FSEC_OK &&
	    (rc = fsec_pem_cert_read(path, &cert)) == FSEC_OK) {
		*expired = X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0;
		*out = cert;
	}
	free(path);
	return rc;
}

/* The root a previous issuing CA chains to: the one it names (it was
 * issued before a rollover), else the current one. */
static const char *prev_root(const struct fleet_config *cfg, size_t i)
{
	return cfg->prev[i].root[0] != '\0' ? cfg->prev[i].root : cfg->root_cert;
}

/* Load the previous issuing CAs still in use (their keys sign their CRLs). */
static enum fsec_err load_prev(struct fsec_fleet *f)
{
	char *root_path = NULL;
	X509 *iss = NULL;
	enum fsec_err rc;

	if ((rc = load_ca(f)) != FSEC_OK)
		return rc;
	for (size_t i = 0; rc == FSEC_OK && i < f->cfg.nprev; i++) {
		if (f->prev[i] != NULL || f->prev_expired[i])
			continue;
		if ((rc = prev_cert(f->home, f->cfg.prev[i].cert, &iss, &f->prev_expired[i])) ==
			    FSEC_OK &&
		    !f->prev_expired[i] &&
		    (rc = join(f->home, prev_root(&f->cfg, i), &root_path)) == FSEC_OK)
			rc = load_one_ca(f, root_path, iss, f->cfg.prev[i].key, &f->prev[i]);
		X509_free(iss);
		iss = NULL;
		free(root_path);
		root_path = NULL;
	}
	return rc;
}

/* file of the home, unless expired, appended to certs. */
static enum fsec_err chain_add_file(const char *home, const char *file, STACK_OF(X509) *certs)
{
	enum fsec_err rc;
	X509 *cert = NULL;
	bool expired = false;

	if ((rc = prev_cert(home, file, &cert, &expired)) != FSEC_OK)
		return rc;
	if (!expired && !sk_X509_push(certs, cert))
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	else if (!expired)
		cert = NULL;
	X509_free(cert);
	return rc;
}

/* cert, with a reference of its own, appended to certs. */
static enum fsec_err chain_add_cert(X509 *cert, STACK_OF(X509) *certs)
{
	if (!X509_up_ref(cert))
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (!sk_X509_push(certs, cert)) {
		X509_free(cert);
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	return FSEC_OK;
}

/* The NewWithOld cross certificates of cfg's previous roots still in use,
 * newest first, appended to certs. They go before any root in a chain
 * file: a chain builder takes the first certificate whose subject matches,
 * and one that holds only an older root needs the cross certificate, not
 * the newer self-signed root of the same name. fresh: NULL, or the last
 * previous root's NewWithOld and OldWithNew, not on disk yet (a rollover's
 * chain.pem is written with them). */
static enum fsec_err chain_add_bridges(const char *home, const struct fleet_config *cfg,
				       X509 *const *fresh, STACK_OF(X509) *certs)
{
	enum fsec_err rc = FSEC_OK;

	for (size_t i = cfg->nroots; rc == FSEC_OK && i > 0; i--)
		rc = fresh != NULL && i == cfg->nroots
			     ? chain_add_cert(fresh[0], certs)
			     : chain_add_file(home, cfg->roots[i - 1].new_with_old, certs);
	return rc;
}

/* The previous issuing CAs of cfg still in use, then each previous root
 * still in use, after its OldWithNew cross certificate (for a builder that
 * holds only the newer root), appended to certs. fresh: chain_add_bridges'. */
static enum fsec_err chain_add_prev(const char *home, const struct fleet_config *cfg,
				    X509 *const *fresh, STACK_OF(X509) *certs)
{
	enum fsec_err rc = FSEC_OK;

	for (size_t i = 0; rc == FSEC_OK && i < cfg->nprev; i++)
		rc = chain_add_file(home, cfg->prev[i].cert, certs);
	for (size_t i = 0; rc == FSEC_OK && i < cfg->nroots; i++)
		if ((rc = fresh != NULL && i + 1 == cfg->nroots
				  ? chain_add_cert(fresh[1], certs)
				  : chain_add_file(home, cfg->roots[i].old_with_new, certs)) == FSEC_OK)
			rc = chain_add_file(home, cfg->roots[i].cert, certs);
	return rc;
}
/* The CA certificates of cfg, whose current issuing CA is iss and root
 * root (neither need be on disk yet; fresh: chain_add_bridges'): iss, the
 * NewWithOld cross certificates, the root, then the previous issuing CAs
 * and roots still in use (the order fsec_fleet_chain_pem documents). */
static enum fsec_err chain_build(const char *home, const struct fleet_config *cfg, X509 *iss,
				 X509 *root, X509 *const *fresh, STACK_OF(X509) **out)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	enum fsec_err rc;

	if (certs == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = chain_add_cert(iss, certs)) == FSEC_OK &&
	    (rc = chain_add_bridges(home, cfg, fresh, certs)) == FSEC_OK &&
	    (rc = chain_add_cert(root, certs)) == FSEC_OK &&
	    (rc = chain_add_prev(home, cfg, fresh, certs)) == FSEC_OK) {
		*out = certs;
		return FSEC_OK;
	}
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/* The fleet's CA certificates, as chain_build orders them. */
static enum fsec_err chain_certs(struct fsec_fleet *f, STACK_OF(X509) **out)
{
	char *iss_path = NULL, *root_path = NULL;
	X509 *iss = NULL, *root = NULL;
	enum fsec_err rc;

	if ((rc = join(f->home, f->cfg.issuing_cert, &iss_path)) == FSEC_OK &&
	    (rc = join(f->home, f->cfg.root_cert, &root_path)) == FSEC_OK &&
	    (rc = fsec_pem_cert_read(iss_path, &iss)) == FSEC_OK &&
	    (rc = fsec_pem_cert_read(root_path, &root)) == FSEC_OK)
		rc = chain_build(f->home, &f->cfg, iss, root, NULL, out);
	X509_free(iss);
	X509_free(root);
	free(iss_path);
	free(root_path);
	return rc;
}

/* certs as one PEM text, each certificate re-encoded rather than copied,
 * so that only certificates, never stray text or a key pasted into a file,
 * are printed. At most CHAIN_MAX certificates, each read under
 * FSEC_PEM_CERT_MAX. */
static enum fsec_err certs_pem(STACK_OF(X509) *certs, char **out)
{
	struct fsec_dynbuf pem;
	enum fsec_err rc = FSEC_OK;

	fsec_dynbuf_init(&pem, CHAIN_MAX * FSEC_PEM_CERT_MAX);
	for (int i = 0; rc == FSEC_OK && i < sk_X509_num(certs); i++) {
		char *one = NULL;

		if ((rc = fsec_cert_pem(sk_X509_value(certs, i), &one)) == FSEC_OK)
			rc = fsec_dynbuf_addstr(&pem, one);
		free(one);
	}
	if (rc == FSEC_OK)
		rc = fsec_dynbuf_take(&pem, out, NULL);
	fsec_dynbuf_cleanup(&pem);
	return rc;
}

FSEC_API enum fsec_err fsec_fleet_chain_pem(struct fsec_fleet *f, char **out)
{
	STACK_OF(X509) *certs = NULL;
	enum fsec_err rc;

	if ((rc = fleet_sync(f)) == FSEC_OK && (rc = chain_certs(f, &certs)) == FSEC_OK)
		rc = certs_pem(certs, out);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/* ---- events ---- */

/* ---- CRL ---- */

struct crl_collect {
	struct fsec_crl_entry *v;
	size_t n, cap;
	const char *issuer; /* the fingerprint of the CA whose CRL this is */
	enum fsec_err rc;
};

static int crl_collect_add(struct crl_collect *cc, const char *issuer, const char *serial,
			   int64_t revoked_at, int reason)
{
	/* Each CA's CRL lists what it issued; a certificate of unknown issuer
	 * (recorded before schema v13, or imported) goes on every one, so its
	 * revocation reaches whichever CA signed it. */
	if (issuer[0] != '\0' && strcmp(issuer, cc->issuer) != 0)
		return 0;
	if (cc->n == cc->cap) {
		size_t ncap, bytes;
		struct fsec_crl_entry *nv;

		if (fsec_mul_overflow(cc->cap != 0 ? cc->cap : 32, (size_t)2, &ncap) ||
		    fsec_mul_overflow(ncap, sizeof(*nv), &bytes) ||
		    (nv = realloc(cc->v, bytes)) == NULL) {
			cc->rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory building the CRL");
			return 1;
		}
		cc->v = nv;
		cc->cap = ncap;
	}
	snprintf(cc->v[cc->n].serial, sizeof(cc->v[cc->n].serial), "%s", serial);
	cc->v[cc->n].revoked_at = (time_t)revoked_at;
	cc->v[cc->n].reason = reason;
	cc->n++;
	return 0;
}

static int collect_revoked(const struct fsec_cert_rec *c, void *arg)
{
	return crl_collect_add(arg, c->issuer, c->serial, c->revoked_at, c->reason);
}

static int collect_revoked_server(const struct fsec_server_cert_rec *c, void *arg)
{
	return crl_collect_add(arg, c->issuer, c->serial, c->revoked_at, c->reason);
}

/*
 * Which revoked certificates the CRL lists, device and server certificates
 * alike (the agent checks fleetsecd's on this same CRL): those that have not expired, and
 * those that expired less than one CRL period (crl_days) ago. RFC 5280
 * (5.1.2.6) lets an entry go once it has appeared on one regularly
 * scheduled CRL issued after the certificate's validity period; the extra
 * period makes sure it has. This holds for every reason, key compromise
 * included: every relying party of a fleet certificate (fleetsecd, brokers,
 * TLS peers) refuses an expired certificate before it looks at the CRL, and
 * fleet certificates sign nothing that is checked later at a past time, so
 * an expired entry protects no one and only grows the list (a device that
 * renews every month would otherwise add an entry a month for its whole
 * life). A compromised key stays refused where it matters: the registry
 * keeps the revocation, and issuance refuses the key again
 * (check_key_owner).
 */
static int64_t crl_listed_after(const struct fsec_fleet *f, int64_t now)
{
	return now - (int64_t)f->cfg.crl_days * 86400;
}

/* One CA's CRL (number, the revoked certificates it issued still listed). */
static enum fsec_err crl_sign_one(struct fsec_fleet *f, struct fsec_ca *ca, uint64_t number,
				  STACK_OF(X509_CRL) *crls)
{
	struct crl_collect cc = {0};
	struct fsec_cert_filter filt = {.revoked_only = true,
					.not_expired_at = crl_listed_after(f, (int64_t)time(NULL))};
	char fp[FSEC_SHA256_HEX_LEN];
	X509_CRL *crl = NULL;
	enum fsec_err rc;

	cc.issuer = fp;
	if ((rc = fsec_cert_fingerprint(fsec_ca_get_issuing(ca), fp)) != FSEC_OK ||
	    (rc = fsec_registry_cert_list(f->reg, &filt, collect_revoked, &cc)) != FSEC_OK ||
	    (rc = cc.rc) != FSEC_OK ||
	    (rc = fsec_registry_server_cert_list(f->reg, filt.not_expired_at, true,
						 collect_revoked_server, &cc)) != FSEC_OK ||
	    (rc = cc.rc) != FSEC_OK ||
	    (rc = fsec_ca_make_crl(ca, cc.v, cc.n, number, f->cfg.crl_days, &crl)) != FSEC_OK)
		goto out;
	if (!sk_X509_CRL_push(crls, crl)) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	crl = NULL;
out:
	X509_CRL_free(crl);
	free(cc.v);
	return rc;
}

/* Inside the caller's transaction: take the next CRL number, above the
 * registry's counter and the published crl.pem's (a registry restored from
 * an older backup must not number a CRL that publication then refuses as
 * older), and sign, with that one number, a CRL for each issuing CA in use
 * (the current one first) of the revoked certificates still listed. */
static enum fsec_err crl_sign(struct fsec_fleet *f, STACK_OF(X509_CRL) **crls_out)
{
	struct fsec_crl_info there = {0};
	STACK_OF(X509_CRL) *crls = NULL;
	char *path = NULL;
	uint64_t number = 0;
	enum fsec_err rc;

	if ((rc = load_prev(f)) != FSEC_OK || (rc = join(f->home, CRL_FILE, &path)) != FSEC_OK)
		goto out;
	/* A missing or broken file is replaced: it puts no floor. */
	if (fsec_crl_file_info(path, &there) != FSEC_OK) {
		there.number = 0;
		fsec_clearerr();
	}
	if ((crls = sk_X509_CRL_new_null()) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fsec_registry_counter_next_above(f->reg, "crl_number", there.number, &number)) !=
		    FSEC_OK ||
	    (rc = crl_sign_one(f, f->ca, number, crls)) != FSEC_OK)
		goto out;
	for (size_t i = 0; i < f->cfg.nprev; i++)
		if (f->prev[i] != NULL && (rc = crl_sign_one(f, f->prev[i], number, crls)) != FSEC_OK)
			goto out;
	*crls_out = crls;
	crls = NULL;
out:
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	free(path);
	return rc;
}

/* After the commit: crl.pem becomes crls unless a newer set is already
 * there (fsec_crl_publish). Either way the published list is at least as
 * new as this handle's revocations. */
static enum fsec_err crl_publish(struct fsec_fleet *f, STACK_OF(X509_CRL) *crls)
{
	char *path = NULL;
	bool published = false;
	enum fsec_err rc;

	if ((rc = join(f->home, CRL_FILE, &path)) == FSEC_OK &&
	    (rc = fsec_crl_publish(path, crls, &published)) == FSEC_OK)
		f->crl_pending = false;
	else
		f->crl_pending = true;
	free(path);
	return rc;
}

/* A revocation committed by this handle: sign and publish now, or, when
 * deferred (fleetsecd), leave it to fsec_fleet_crl_refresh. */
static enum fsec_err crl_after_revocation(struct fsec_fleet *f, STACK_OF(X509_CRL) *crls)
{
	if (crls == NULL) {
		f->crl_pending = true;
		return FSEC_OK;
	}
	return crl_publish(f, crls);
}

static enum fsec_err finish(struct fsec_fleet *f, enum fsec_err rc,
			    struct fsec_file_stage *const *stages, size_t n);

/* End a revocation's transaction (rc: how it went so far): sign the CRL in
 * it unless deferred, commit, then publish (crl_after_revocation). */
static enum fsec_err revocation_commit(struct fsec_fleet *f, enum fsec_err rc)
{
	STACK_OF(X509_CRL) *crls = NULL;

	if (rc == FSEC_OK && !f->crl_deferred)
		rc = crl_sign(f, &crls);
	rc = finish(f, rc, NULL, 0);
	if (rc == FSEC_OK)
		rc = crl_after_revocation(f, crls);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return rc;
}

/* Commit the transaction, then the staged files; roll back on failure.
 * Files go last: a rename that fails after the commit leaves a stale file
 * (the registry stays right), never a file the registry does not back. */
static enum fsec_err finish(struct fsec_fleet *f, enum fsec_err rc,
			    struct fsec_file_stage *const *stages, size_t n)
{
	if (rc == FSEC_OK)
		rc = fsec_registry_commit(f->reg);
	if (rc != FSEC_OK) {
		fsec_registry_rollback(f->reg);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		if (stages[i] != NULL && (rc = fsec_file_stage_commit(stages[i])) != FSEC_OK)
			return rc;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_fleet_crl(struct fsec_fleet *f, STACK_OF(X509_CRL) **out)
{
	STACK_OF(X509_CRL) *crls = NULL;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = load_prev(f)) != FSEC_OK || (rc = fsec_registry_begin(f->reg)) != FSEC_OK)
		return rc;
	rc = crl_sign(f, &crls);
	rc = finish(f, rc, NULL, 0);
	if (rc == FSEC_OK)
		rc = crl_publish(f, crls);
	if (rc != FSEC_OK) {
		sk_X509_CRL_pop_free(crls, X509_CRL_free);
		return rc;
	}
	*out = crls;
	return FSEC_OK;
}

/* ---- issue and revoke ---- */

struct key_check {
	const char *id;
	enum fsec_err rc;
};

static int check_key_owner(const struct fsec_cert_rec *c, void *arg)
{
	struct key_check *kc = arg;

	if (strcmp(c->device_id, kc->id) != 0) {
		kc->rc = fsec_seterr(FSEC_ERR_POLICY,
				     "public key is already registered to device %s: one key shared "
				     "by several devices is a fleet-wide key",
				     c->device_id);
		return 1;
	}
	if (c->revoked && c->reason == 1) {
		kc->rc = fsec_seterr(FSEC_ERR_POLICY,
				     "public key was revoked as compromised (certificate %s)", c->serial);
		return 1;
	}
	return 0;
}

/* Collect first, revoke after: a listing must not run while its rows change. */
struct serial_list {
	char (*v)[FSEC_SERIAL_HEX_LEN];
	size_t n, cap;
	enum fsec_err rc;
};

static int collect_unrevoked(const struct fsec_cert_rec *c, void *arg)
{
	struct serial_list *sl = arg;

	if (c->revoked)
		return 0;
	if (sl->n == sl->cap) {
		size_t ncap, bytes;
		void *nv;

		if (fsec_mul_overflow(sl->cap != 0 ? sl->cap : 4, (size_t)2, &ncap) ||
		    fsec_mul_overflow(ncap, sizeof(*sl->v), &bytes) ||
		    (nv = realloc(sl->v, bytes)) == NULL) {
			sl->rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			return 1;
		}
		sl->v = nv;
		sl->cap = ncap;
	}
	snprintf(sl->v[sl->n], sizeof(sl->v[sl->n]), "%s", c->serial);
	sl->n++;
	return 0;
}

/* Revoke every unrevoked, unexpired certificate of a device; *count says how
 * many. */
static enum fsec_err revoke_device_certs(struct fsec_registry *reg, const char *id, int64_t now,
					 int reason, size_t *count)
{
	struct fsec_cert_filter filt = {.device_id = id, .not_expired_at = now};
	struct serial_list sl = {0};
	enum fsec_err rc;

	rc = fsec_registry_cert_list(reg, &filt, collect_unrevoked, &sl);
	if (rc == FSEC_OK)
		rc = sl.rc;
	for (size_t i = 0; rc == FSEC_OK && i < sl.n; i++)
		rc = fsec_registry_cert_revoke(reg, sl.v[i], now, reason);
	if (rc == FSEC_OK)
		*count = sl.n;
	free(sl.v);
	return rc;
}

/* The NewWithOld cross certificates of the previous roots still in use,
 * newest first, as PEM ("" when the root never rolled over): fleetsecd
 * sends them after its issuing CA, so that a device pinning an older root
 * builds leaf -> issuing -> NewWithOld -> its root. */
static enum fsec_err cross_pem(struct fsec_fleet *f, char **out)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	enum fsec_err rc = certs != NULL ? FSEC_OK : fsec_seterr(FSEC_ERR_NOMEM, "out of memory");

	if (rc == FSEC_OK && (rc = chain_add_bridges(f->home, &f->cfg, NULL, certs)) == FSEC_OK)
		rc = certs_pem(certs, out);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/* What a renewal keeps of the current server certificate: its name, its
 * addresses and its CRL distribution point. The strings live in *keep. */
struct server_spec_keep {
	char name[256];
	char ips[FSEC_SERVER_IPS_MAX][INET6_ADDRSTRLEN];
	const char *ipv[FSEC_SERVER_IPS_MAX];
	char crl_url[512];
};

static enum fsec_err spec_from_cert(const char *path, struct server_spec_keep *keep,
				    struct fsec_server_cert_spec *spec)
{
	GENERAL_NAMES *sans = NULL;
	STACK_OF(DIST_POINT) *dps = NULL;
	X509 *cert = NULL;
	enum fsec_err rc;
	int len;

	if ((rc = fsec_pem_cert_read(path, &cert)) != FSEC_OK)
		return rc;
	rc = FSEC_ERR_PARSE;
	len = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, keep->name,
					(int)sizeof(keep->name));
	if (len <= 0 || (size_t)len >= sizeof(keep->name) - 1) {
		rc = fsec_seterr(rc, "%s: the server certificate has no usable common name", path);
		goto out;
	}
	spec->name = keep->name;
	spec->ips = keep->ipv;
	spec->nips = 0;
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		const unsigned char *ip;
		int af, n;

		if (g->type != GEN_IPADD)
			continue;
		ip = ASN1_STRING_get0_data(g->d.iPAddress);
		n = ASN1_STRING_length(g->d.iPAddress);
		af = n == 4 ? AF_INET : n == 16 ? AF_INET6 : AF_UNSPEC;
		if (af == AF_UNSPEC || spec->nips == FSEC_SERVER_IPS_MAX ||
		    inet_ntop(af, ip, keep->ips[spec->nips], INET6_ADDRSTRLEN) == NULL) {
			rc = fsec_seterr(rc, "%s: unusable IP address in the server certificate", path);
			goto out;
		}
		keep->ipv[spec->nips] = keep->ips[spec->nips];
		spec->nips++;
	}
	spec->crl_url = NULL;
	dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
	for (int i = 0; dps != NULL && i < sk_DIST_POINT_num(dps) && spec->crl_url == NULL; i++) {
		const DIST_POINT *dp = sk_DIST_POINT_value(dps, i);

		if (dp->distpoint == NULL || dp->distpoint->type != 0)
			continue;
		for (int j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); j++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j);
			int n;

			if (g->type != GEN_URI)
				continue;
			n = ASN1_STRING_length(g->d.uniformResourceIdentifier);
			if (n <= 0 || (size_t)n >= sizeof(keep->crl_url))
				continue;
			memcpy(keep->crl_url, ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
			       (size_t)n);
			keep->crl_url[n] = '\0';
			spec->crl_url = keep->crl_url;
			break;
		}
	}
	rc = FSEC_OK;
out:
	CRL_DIST_POINTS_free(dps);
	GENERAL_NAMES_free(sans);
	X509_free(cert);
	return rc;
}

FSEC_API enum fsec_err fsec_fleet_server_cert(struct fsec_fleet *f,
					      const struct fsec_server_cert_opts *o,
					      struct fsec_issued_cert *out)
{
	struct fsec_file_stage *stages[2] = {NULL, NULL}; /* key, certificate + chain */
	struct fsec_server_cert_spec spec = {0};
	struct fsec_server_cert_rec rec = {0};
	struct server_spec_keep keep;
	struct fsec_issued_cert cert = {0};
	unsigned char serial[FSEC_SERIAL_LEN];
	char *key_path = NULL, *cert_path = NULL, *leaf = NULL, *iss = NULL, *both = NULL;
	char *cross = NULL;
	/* A renewal replaces both files, each atomically (a running fleetsecd
	 * reads them on SIGHUP); a first issue never overwrites. */
	unsigned flags = o->renew ? 0 : FSEC_FILE_NOCLOBBER;
	EVP_PKEY *key = NULL;
	bool in_tx = false;
	enum fsec_err rc;

	fsec_clearerr();
	if (o->spec != NULL)
		spec = *o->spec;
	if (spec.days == 0)
		spec.days = FSEC_SERVER_CERT_DAYS;
	if (o->role != NULL && (o->renew || o->key_out == NULL || o->cert_out == NULL))
		return fsec_seterr(FSEC_ERR_INVAL, "a client certificate needs both output paths, "
				   "and is issued anew, never renewed");
	if ((rc = load_ca(f)) != FSEC_OK)
		return rc;
	if (o->key_out != NULL ? (key_path = strdup(o->key_out)) == NULL
			       : (rc = join(f->home, "server.key", &key_path)) != FSEC_OK)
		goto nomem;
	if (o->cert_out != NULL ? (cert_path = strdup(o->cert_out)) == NULL
				: (rc = join(f->home, "server.pem", &cert_path)) != FSEC_OK)
		goto nomem;
	if (o->renew && (rc = spec_from_cert(cert_path, &keep, &spec)) != FSEC_OK)
		goto out;
	if (spec.name == NULL) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "a server certificate needs a name");
		goto out;
	}
	/* TLS servers get P-256 whatever the CA's algorithm: it is what every
	 * device TLS stack implements. */
	if ((rc = fsec_key_generate(FSEC_KEY_P256, &key)) != FSEC_OK ||
	    (rc = fsec_ca_random_serial(serial)) != FSEC_OK ||
	    (rc = (o->role != NULL ? fsec_ca_issue_role(f->ca, key, o->role, spec.name, spec.days,
							serial, &cert)
				   : fsec_ca_issue_server(f->ca, key, &spec, serial, &cert))) !=
		    FSEC_OK ||
	    (rc = fsec_issued_cert_pem(&cert, &leaf)) != FSEC_OK ||
	    (rc = fsec_cert_pem(fsec_ca_get_issuing(f->ca), &iss)) != FSEC_OK ||
	    (rc = cross_pem(f, &cross)) != FSEC_OK)
		goto out;
	if (asprintf(&both, "%s%s%s", leaf, iss, cross) < 0) {
		both = NULL;
		goto nomem;
	}
	snprintf(rec.serial, sizeof(rec.serial), "%s", cert.serial);
	snprintf(rec.name, sizeof(rec.name), "%s", spec.name);
	snprintf(rec.fingerprint, sizeof(rec.fingerprint), "%s", cert.fingerprint);
	rec.not_before = cert.not_before;
	rec.not_after = cert.not_after;
	rec.issued_at = (int64_t)time(NULL);
	memcpy(rec.issuer, f->ca_fp, sizeof(rec.issuer));
	/* Checked by fsec_ca_issue_role: a known role, which fits. */
	snprintf(rec.role, sizeof(rec.role), "%s", o->role != NULL ? o->role : "");
	/* The server presents leaf + issuing CA; clients anchor at the root. */
	if ((rc = (o->renew ? fsec_key_stage_private_replace(key, key_path, &stages[0])
			    : fsec_key_stage_private(key, key_path, &stages[0]))) != FSEC_OK ||
	    (rc = fsec_file_stage_new(cert_path, both, strlen(both), 0644, flags, &stages[1])) !=
		    FSEC_OK ||
	    (rc = fsec_registry_begin(f->reg)) != FSEC_OK)
		goto out;
	in_tx = true;
	if ((rc = fsec_registry_server_cert_add(f->reg, &rec)) != FSEC_OK ||
	    (rc = fsec_registry_event_addf(
		     f->reg, o->actor,
		     o->role != NULL ? "client-cert" : o->renew ? "server-renew" : "server-cert", NULL,
		     "serial=%s name=%s%s%s", cert.serial, spec.name, o->role != NULL ? " role=" : "",
		     o->role != NULL ? o->role : "")) != FSEC_OK)
		goto out;
	in_tx = false;
	if ((rc = finish(f, FSEC_OK, stages, 2)) == FSEC_OK && out != NULL) {
		*out = cert;
		memset(&cert, 0, sizeof(cert));
	}
	goto out;
nomem:
	rc = rc != FSEC_OK ? rc : fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
out:
	if (in_tx)
		fsec_registry_rollback(f->reg);
	for (size_t i = 0; i < 2; i++)
		fsec_file_stage_free(stages[i]);
	fsec_issued_cert_cleanup(&cert);
	EVP_PKEY_free(key);
	free(both);
	free(cross);
	free(iss);
	free(leaf);
	free(cert_path);
	free(key_path);
	return rc;
}

FSEC_API enum fsec_err fsec_fleet_server_cert_list(struct fsec_fleet *f, fsec_server_cert_cb cb,
						   void *ctx)
{
	fsec_clearerr();
	return fsec_registry_server_cert_list(f->reg, INT64_MIN, false, cb, ctx);
}

struct serial_find {
	const char *serial;
	bool revoked;
};

static int find_revoked_server(const struct fsec_server_cert_rec *c, void *arg)
{
	struct serial_find *sf = arg;

	if (strcmp(c->serial, sf->serial) != 0)
		return 0;
	sf->revoked = c->revoked;
	return 1;
}

FSEC_API enum fsec_err fsec_fleet_server_cert_revoke(struct fsec_fleet *f, const char *serial,
						     int reason, const char *actor)
{
	char norm[FSEC_SERIAL_HEX_LEN];
	size_t n = strlen(serial);
	enum fsec_err rc;

	fsec_clearerr();
	/* Serials are stored as uppercase hex, as openssl prints them. */
	if (n == 0 || n >= sizeof(norm))
		return fsec_seterr(FSEC_ERR_INVAL, "serial '%.40s' is not a certificate serial",
				   serial);
	for (size_t i = 0; i <= n; i++) {
		if (i < n && !isxdigit((unsigned char)serial[i]))
			return fsec_seterr(FSEC_ERR_INVAL, "serial '%.40s' is not hexadecimal",
					   serial);
		norm[i] = (char)toupper((unsigned char)serial[i]);
	}
	if ((rc = load_ca(f)) != FSEC_OK || (rc = fsec_registry_begin(f->reg)) != FSEC_OK)
		return rc;
	rc = fsec_registry_server_cert_revoke(f->reg, norm, (int64_t)time(NULL), reason);
	if (rc == FSEC_ERR_NOTFOUND) {
		struct serial_find sf = {norm, false};

		if (fsec_registry_server_cert_list(f->reg, INT64_MIN, true, find_revoked_server,
						   &sf) == FSEC_OK && sf.revoked)
			rc = fsec_seterr(FSEC_ERR_EXISTS, "server certificate %s is already revoked",
					 norm);
		else
			rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no server certificate with serial %s",
					 norm);
	}
	if (rc == FSEC_OK)
		rc = fsec_registry_event_addf(f->reg, actor, "server-revoke", NULL,
					      "serial=%s reason=%s", norm,
					      fsec_crl_reason_name(reason));
	return revocation_commit(f, rc);
}

FSEC_API enum fsec_err fsec_fleet_issue(struct fsec_fleet *f, X509_REQ *csr,
					const struct fsec_issue_opts *o, struct fsec_issued_cert *out)
{
	struct fsec_file_stage *stages[2] = {NULL, NULL}; /* key, cert */
	struct fsec_device_rec dev, old;
	struct fsec_cert_rec rec;
	unsigned char serial[FSEC_SERIAL_LEN];
	EVP_PKEY *genkey = NULL, *pub;
	struct fsec_issued_cert cert = {0};
	STACK_OF(X509_CRL) *crls = NULL;
	char *pem = NULL;
	bool had = false, in_tx = false;
	size_t superseded = 0;
	time_t now = time(NULL);
	enum fsec_err rc;
	int days = o->days != 0 ? o->days : f->cfg.device_days;

	fsec_clearerr();
	memset(&dev, 0, sizeof(dev));
	memset(&rec, 0, sizeof(rec));
	if ((rc = fsec_devid_check(o->id)) != FSEC_OK)
		return rc;
	/* The release manifests' name rule: a model outside it could never
	 * be offered a release, and would be printed raw in listings. */
	if (o->model != NULL && o->model[0] != '\0' && (rc = fsec_model_check(o->model)) != FSEC_OK)
		return rc;
	if (days < 1 || days > DAYS_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "--days must be 1-%d", DAYS_MAX);
	if (csr == NULL) {
		if (o->key_out == NULL)
			return fsec_seterr(FSEC_ERR_INVAL, "key generation needs a key output path");
		if ((rc = fsec_key_generate(o->key_algo != 0 ? o->key_algo : FSEC_KEY_P256,
					    &genkey)) != FSEC_OK)
			return rc;
		pub = genkey;
	} else {
		pub = X509_REQ_get0_pubkey(csr);
		if (pub == NULL)
			return fsec_seterr_ossl(FSEC_ERR_PARSE, "request has no public key");
	}
	if ((rc = fsec_key_check_strength(pub)) != FSEC_OK ||
	    (rc = fsec_key_spki_sha256(pub, rec.spki_sha256)) != FSEC_OK ||
	    (rc = load_ca(f)) != FSEC_OK)
		goto out;
	/* The key file is staged before the transaction so that an existing
	 * file is reported before anything is decided. */
	if (genkey != NULL && (rc = fsec_key_stage_private(genkey, o->key_out, &stages[0])) != FSEC_OK)
		goto out;

	if ((rc = fsec_registry_begin(f->reg)) != FSEC_OK)
		goto out;
	in_tx = true;
	rc = fsec_registry_device_get(f->reg, o->id, &old);
	if (rc == FSEC_OK)
		had = true;
	else if (rc != FSEC_ERR_NOTFOUND)
		goto out;
	/* Re-provisioning a revoked device is as deliberate as replacing a live
	 * certificate, so both need --reissue. */
	if (had && !o->reissue) {
		if (old.status == FSEC_DEVICE_ACTIVE)
			rc = fsec_seterr(FSEC_ERR_EXISTS,
					 "device %s already has an active certificate (serial %s); "
					 "use --reissue to replace it",
					 o->id, old.serial);
		else
			rc = fsec_seterr(FSEC_ERR_EXISTS,
					 "device %s is revoked; use --reissue to re-provision it",
					 o->id);
		goto out;
	}
	if ((rc = fleet_key_check_in_tx(f, o->id, rec.spki_sha256)) != FSEC_OK)
		goto out;

	if ((rc = fsec_ca_random_serial(serial)) != FSEC_OK ||
	    (rc = fsec_ca_issue_device(f->ca, pub, o->id, days, serial, &cert)) != FSEC_OK ||
	    (rc = fsec_issued_cert_pem(&cert, &pem)) != FSEC_OK)
		goto out;
	if (had && (rc = revoke_device_certs(f->reg, o->id, now, 4, &superseded)) != FSEC_OK)
		goto out;

	dev = had ? old : dev;
	snprintf(dev.id, sizeof(dev.id), "%s", o->id);
	if ((rc = fleet_record_issue(f, &dev, had, o->model, rec.spki_sha256, &cert, pem,
				     o->provisioning != NULL ? o->provisioning
				     : genkey != NULL	     ? "factory-keygen"
							     : "factory-csr",
				     o->actor, now, superseded)) != FSEC_OK)
		goto out;
	if (superseded > 0 && !f->crl_deferred && (rc = crl_sign(f, &crls)) != FSEC_OK)
		goto out;
	if (o->cert_out != NULL &&
	    (rc = fsec_pem_cert_stage_der(o->cert_out, cert.der, cert.der_len, 0, &stages[1])) !=
	        FSEC_OK)
		goto out;
	in_tx = false;
	rc = finish(f, FSEC_OK, stages, 2);
	if (rc == FSEC_OK && superseded > 0)
		rc = crl_after_revocation(f, crls);
	if (rc == FSEC_OK && out != NULL) {
		*out = cert;
		memset(&cert, 0, sizeof(cert));
	}
out:
	if (in_tx)
		fsec_registry_rollback(f->reg);
	for (size_t i = 0; i < 2; i++)
		fsec_file_stage_free(stages[i]);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	fsec_issued_cert_cleanup(&cert);
	EVP_PKEY_free(genkey);
	free(pem);
	return rc;
}

enum fsec_err fleet_revoke_in_tx(struct fsec_fleet *f, const char *id, int reason, time_t now,
				const char *actor, size_t *count)
{
	struct fsec_device_rec dev;
	enum fsec_err rc;

	if ((rc = fsec_registry_device_get(f->reg, id, &dev)) != FSEC_OK)
		return rc;
	if (dev.status == FSEC_DEVICE_REVOKED)
		return fsec_seterr(FSEC_ERR_EXISTS, "device %s is already revoked", id);
	dev.status = FSEC_DEVICE_REVOKED;
	dev.updated_at = now;
	if ((rc = revoke_device_certs(f->reg, id, now, reason, count)) == FSEC_OK &&
	    (rc = fsec_registry_device_put(f->reg, &dev)) == FSEC_OK)
		rc = fsec_registry_event_addf(f->reg, actor, "revoke", id,
					      "reason=%s certificates=%zu",
					      fsec_crl_reason_name(reason), *count);
	return rc;
}

enum fsec_err fleet_key_check_in_tx(struct fsec_fleet *f, const char *id, const char *spki)
{
	struct key_check kc = {.id = id, .rc = FSEC_OK};
	struct fsec_cert_filter by_key = {.spki_sha256 = spki};
	enum fsec_err rc = fsec_registry_cert_list(f->reg, &by_key, check_key_owner, &kc);

	return rc != FSEC_OK ? rc : kc.rc;
}

enum fsec_err fleet_record_issue(struct fsec_fleet *f, struct fsec_device_rec *dev, bool had,
				 const char *model, const char *spki,
				 const struct fsec_issued_cert *cert, const char *pem,
				 const char *provisioning, const char *actor, time_t now,
				 size_t superseded)
{
	struct fsec_cert_rec rec;
	enum fsec_err rc;

	memset(&rec, 0, sizeof(rec));
	memcpy(rec.spki_sha256, spki, sizeof(rec.spki_sha256));
	memcpy(rec.serial, cert->serial, sizeof(rec.serial));
	memcpy(rec.fingerprint, cert->fingerprint, sizeof(rec.fingerprint));
	snprintf(rec.device_id, sizeof(rec.device_id), "%s", dev->id);
	rec.issued_at = now;
	rec.not_before = cert->not_before;
	rec.not_after = cert->not_after;
	memcpy(rec.issuer, f->ca_fp, sizeof(rec.issuer));
	if ((rc = fsec_registry_cert_add(f->reg, &rec, pem)) != FSEC_OK)
		return rc;
	if (model != NULL)
		snprintf(dev->model, sizeof(dev->model), "%s", model);
	dev->status = FSEC_DEVICE_ACTIVE;
	memcpy(dev->serial, rec.serial, sizeof(dev->serial));
	memcpy(dev->fingerprint, rec.fingerprint, sizeof(dev->fingerprint));
	memcpy(dev->spki_sha256, rec.spki_sha256, sizeof(dev->spki_sha256));
	dev->issued_at = rec.issued_at;
	dev->expires_at = rec.not_after;
	snprintf(dev->provisioning, sizeof(dev->provisioning), "%s", provisioning);
	if (!had)
		dev->created_at = now;
	dev->updated_at = now;
	if ((rc = fsec_registry_device_put(f->reg, dev)) != FSEC_OK)
		return rc;
	return fsec_registry_event_addf(f->reg, actor, had ? "reissue" : "issue", dev->id,
					"serial=%s model=%s provisioning=%s superseded=%zu",
					rec.serial, dev->model, dev->provisioning, superseded);
}

struct fsec_ca *fleet_ca(struct fsec_fleet *f)
{
	return f->ca;
}

int fleet_device_days(const struct fsec_fleet *f)
{
	return f->cfg.device_days;
}

enum fsec_err fleet_load_ca(struct fsec_fleet *f)
{
	return load_ca(f);
}

enum fsec_err fleet_revocation_commit(struct fsec_fleet *f, enum fsec_err rc)
{
	return revocation_commit(f, rc);
}

FSEC_API enum fsec_err fsec_fleet_revoke(struct fsec_fleet *f, const char *id, int reason,
					 const char *actor)
{
	size_t count = 0;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fsec_devid_check(id)) != FSEC_OK || (rc = load_ca(f)) != FSEC_OK ||
	    (rc = fsec_registry_begin(f->reg)) != FSEC_OK)
		return rc;
	rc = fleet_revoke_in_tx(f, id, reason, time(NULL), actor, &count);
	return revocation_commit(f, rc);
}

FSEC_API enum fsec_err fsec_fleet_device_set(struct fsec_fleet *f, const char *id,
					     const char *mac, const char *ip, const char *group,
					     const char *actor)
{
	enum fsec_err rc;

	fsec_clearerr();
	if (mac == NULL && ip == NULL && group == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "nothing to set for device %s", id);
	if ((rc = fsec_registry_begin(f->reg)) != FSEC_OK)
		return rc;
	/* The addresses, the group and the event that says who changed them
	 * are one change: a refused group leaves the addresses as they were. */
	if (((mac != NULL || ip != NULL) &&
	     (rc = fsec_registry_device_net_set(f->reg, id, mac, ip)) != FSEC_OK) ||
	    (group != NULL && (rc = fsec_registry_group_set(f->reg, id, group)) != FSEC_OK) ||
	    (rc = fsec_registry_event_addf(f->reg, actor, "device-set", id, "mac=%s ip=%s group=%s",
					   mac != NULL ? mac : "(kept)", ip != NULL ? ip : "(kept)",
					   group != NULL ? group : "(kept)")) != FSEC_OK ||
	    (rc = fsec_registry_commit(f->reg)) != FSEC_OK) {
		fsec_registry_rollback(f->reg);
		return rc;
	}
	return FSEC_OK;
}

/* ---- keeping the CRL fresh (fleetsecd) ---- */

FSEC_API void fsec_fleet_set_crl_deferred(struct fsec_fleet *f, bool deferred)
{
	f->crl_deferred = deferred;
}

FSEC_API bool fsec_fleet_crl_pending(const struct fsec_fleet *f)
{
	return f->crl_pending;
}

/* When a CRL valid from this to next is due for re-signing: permille of the
 * way through. A list with no usable period is due at once. */
static int64_t crl_due(const struct fsec_crl_info *i, unsigned permille)
{
	int64_t span;

	if (i->next_update <= i->this_update || i->this_update <= 0)
		return 0;
	span = i->next_update - i->this_update;
	/* span < 2^62 / 1000 for any date a CRL can carry; a foreign file with
	 * a wilder period is simply re-signed now. */
	if (span > INT64_C(1) << 50)
		return 0;
	return i->this_update + span * (int64_t)permille / 1000;
}

/* Whether the published CRLs miss a revoked certificate that has not
 * expired: another process (the CLI, another replica) committed a
 * revocation and its list is not published yet, or was never signed. */
struct crl_check {
	STACK_OF(X509_CRL) *published;
	bool missing;
	enum fsec_err rc;
};

static int check_listed(struct crl_check *cc, const char *serial)
{
	bool listed = false;

	if ((cc->rc = fsec_crl_set_lists(cc->published, serial, &listed)) != FSEC_OK)
		return 1;
	cc->missing = !listed;
	return cc->missing ? 1 : 0;
}

static int check_cert(const struct fsec_cert_rec *c, void *arg)
{
	return check_listed(arg, c->serial);
}

static int check_server_cert(const struct fsec_server_cert_rec *c, void *arg)
{
	return check_listed(arg, c->serial);
}

static enum fsec_err crl_misses(struct fsec_fleet *f, const char *path, bool *missing)
{
	struct crl_check cc = {0};
	struct fsec_cert_filter filt = {.revoked_only = true, .not_expired_at = (int64_t)time(NULL)};
	enum fsec_err rc;

	if ((rc = fsec_crl_file_load(path, &cc.published)) != FSEC_OK ||
	    (rc = fsec_registry_cert_list(f->reg, &filt, check_cert, &cc)) != FSEC_OK ||
	    (rc = cc.rc) != FSEC_OK)
		goto out;
	if (!cc.missing &&
	    ((rc = fsec_registry_server_cert_list(f->reg, filt.not_expired_at, true,
						   check_server_cert, &cc)) != FSEC_OK ||
	     (rc = cc.rc) != FSEC_OK))
		goto out;
	*missing = cc.missing;
out:
	sk_X509_CRL_pop_free(cc.published, X509_CRL_free);
	return rc;
}

FSEC_API enum fsec_err fsec_fleet_crl_refresh(struct fsec_fleet *f, unsigned permille, bool check,
					      bool *signed_out, int64_t *next_due)
{
	struct fsec_crl_info info = {0};
	STACK_OF(X509_CRL) *crls = NULL;
	char *path = NULL;
	int64_t now = (int64_t)time(NULL);
	bool sign = f->crl_pending;
	enum fsec_err rc;

	fsec_clearerr();
	if (permille < 1 || permille > 999)
		return fsec_seterr(FSEC_ERR_INVAL, "CRL refresh point must be 0.001-0.999 of its period");
	if ((rc = join(f->home, CRL_FILE, &path)) != FSEC_OK)
		return rc;
	/* Missing, broken, not yet valid (the clock went back), expired or
	 * past its refresh point: all mean a new list now. */
	if (fsec_crl_file_info(path, &info) != FSEC_OK || info.this_update > now ||
	    now >= info.next_update || now >= crl_due(&info, permille))
		sign = true;
	fsec_clearerr();
	/* An event from another process: sign only for a revocation the
	 * published list lacks. Most events (a renewal elsewhere, an
	 * enrollment, a CLI revocation that published its own CRL) need no
	 * new list, and each new one makes every broker reload its crlfile. */
	if (!sign && check && (rc = crl_misses(f, path, &sign)) != FSEC_OK)
		goto out;
	if (sign) {
		if ((rc = fsec_fleet_crl(f, &crls)) != FSEC_OK)
			goto out;
		/* What is on disk now: ours, or a newer one another process
		 * published meanwhile. */
		if (fsec_crl_file_info(path, &info) != FSEC_OK &&
		    (rc = fsec_crl_info_get(sk_X509_CRL_value(crls, 0), &info)) != FSEC_OK)
			goto out;
		fsec_clearerr();
	}
	if (signed_out != NULL)
		*signed_out = sign;
	if (next_due != NULL)
		*next_due = crl_due(&info, permille);
	rc = FSEC_OK;
out:
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	free(path);
	return rc;
}

/* ---- the fleet's CAs: listing and rotation ---- */

static enum fsec_err ca_info_fill(X509 *cert, const char *file, bool root, bool current,
				  struct fsec_ca_info *out)
{
	enum fsec_err rc;
	struct tm tm;

	memset(out, 0, sizeof(*out));
	out->file = file;
	out->root = root;
	out->current = current;
	out->in_use = X509_cmp_current_time(X509_get0_notAfter(cert)) > 0;
	X509_NAME_oneline(X509_get_subject_name(cert), out->subject, (int)sizeof(out->subject));
	if ((rc = fsec_cert_serial_hex(cert, out->serial)) != FSEC_OK ||
	    (rc = fsec_cert_fingerprint(cert, out->fingerprint)) != FSEC_OK)
		return rc;
	if (ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm) != 1)
		return fsec_seterr_ossl(FSEC_ERR_PARSE, "%s: a date does not decode", file);
	out->not_before = (int64_t)timegm(&tm);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
		return fsec_seterr_ossl(FSEC_ERR_PARSE, "%s: a date does not decode", file);
	out->not_after = (int64_t)timegm(&tm);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_fleet_ca_list(struct fsec_fleet *f, fsec_ca_info_cb cb, void *ctx)
{
	struct fsec_ca_info info;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fleet_sync(f)) != FSEC_OK)
		return rc;
	/* The root, the current issuing CA, the previous issuing CAs, then
	 * the previous roots, each list newest first: fleet.json's backwards. */
	for (size_t i = 0; i < 2 + f->cfg.nprev + f->cfg.nroots; i++) {
		size_t r = i - 2 - f->cfg.nprev; /* a previous root's index, backwards */
		const char *file = i == 0		    ? f->cfg.root_cert
				   : i == 1		    ? f->cfg.issuing_cert
				   : i < 2 + f->cfg.nprev ? f->cfg.prev[f->cfg.nprev - (i - 1)].cert
							    : f->cfg.roots[f->cfg.nroots - 1 - r].cert;
		char *path = NULL;
		X509 *cert = NULL;

		if ((rc = join(f->home, file, &path)) == FSEC_OK &&
		    (rc = fsec_pem_cert_read(path, &cert)) == FSEC_OK)
			rc = ca_info_fill(cert, file, i == 0 || i >= 2 + f->cfg.nprev, i < 2, &info);
		X509_free(cert);
		free(path);
		if (rc != FSEC_OK)
			return rc;
		if (cb(&info, ctx) != 0)
			break;
	}
	return FSEC_OK;
}

/* The root key the operator brought: it must be the key of the fleet's
 * root certificate, or the new CA would chain to nothing the devices pin. */
static enum fsec_err root_signer(struct fsec_fleet *f, const char *key_loc, X509 **root_out,
				 EVP_PKEY **key_out)
{
	char *path = NULL;
	X509 *root = NULL;
	EVP_PKEY *key = NULL;
	enum fsec_err rc;

	if ((rc = join(f->home, f->cfg.root_cert, &path)) != FSEC_OK ||
	    (rc = fsec_pem_cert_read(path, &root)) != FSEC_OK)
		goto out;
	if ((rc = fsec_key_load_private(key_loc, &key)) != FSEC_OK) {
		rc = fsec_seterr(rc, "%s: %s", key_loc, fsec_err_detail());
		goto out;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(root), key) != 1) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "%s is not the key of the fleet's root CA (%s)",
				 key_loc, f->cfg.root_cert);
		goto out;
	}
	*root_out = root;
	*key_out = key;
	root = NULL;
	key = NULL;
	rc = FSEC_OK;
out:
	ERR_clear_error();
	X509_free(root);
	EVP_PKEY_free(key);
	free(path);
	return rc;
}

/* The chain.pem of cfg (chain_build). */
static enum fsec_err chain_file_pem(struct fsec_fleet *f, const struct fleet_config *cfg,
				    X509 *iss, X509 *root, X509 *const *fresh, char **out)
{
	STACK_OF(X509) *certs = NULL;
	enum fsec_err rc;

	if ((rc = chain_build(f->home, cfg, iss, root, fresh, &certs)) == FSEC_OK)
		rc = certs_pem(certs, out);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/*
 * Make a new issuing CA under root (signed by root_key) current, the
 * outgoing one previous: the work `ca rotate` and `ca rollover` share. cfg
 * is fleet.json as it will be, but for the issuing CAs (set here); when
 * its root differs from f's (a rollover), the outgoing issuing CAs are
 * recorded under the root they chain to. extra: files staged by the
 * caller, committed before the issuing CA's and fleet.json; fresh: the
 * rollover's cross certificates (chain_add_prev). The event
 * (action) gets detail, then the CAs' fingerprints. root_key is freed
 * after its last use. Fills *out with the new issuing CA.
 */
static enum fsec_err issuing_switch(struct fsec_fleet *f, struct fleet_config *cfg,
				    EVP_PKEY **root_key, X509 *root, X509 *const *fresh, int days,
				    struct fsec_file_stage *const *extra, size_t nextra,
				    const char *actor, const char *action, const char *detail,
				    struct fsec_ca_info *out)
{
	/* the caller's files, new key, new certificate, chain.pem, fleet.json:
	 * committed in this order, so that fleet.json names the new CA only
	 * once its files are in place. */
	struct fsec_file_stage *stages[4] = {NULL, NULL, NULL, NULL}, *all[4 + 4];
	struct fsec_fleet view;
	struct fsec_ca *nca = NULL;
	STACK_OF(X509_CRL) *crls = NULL;
	X509 *iss = NULL;
	EVP_PKEY *key = NULL;
	char *cert_path = NULL, *key_path = NULL, *chain_path = NULL, *cfg_path = NULL;
	char *iss_pem = NULL, *chain = NULL, *json = NULL;
	char fp[FSEC_SHA256_HEX_LEN];
	unsigned gen = (unsigned)f->cfg.nprev + 2;
	bool rolled = strcmp(cfg->root_cert, f->cfg.root_cert) != 0, in_tx = false;
	enum fsec_err rc;

	if (f->cfg.nprev == FLEET_PREV_MAX)
		return fsec_seterr(FSEC_ERR_POLICY,
				   "fleet.json already keeps %d previous issuing CAs: the limit",
				   FLEET_PREV_MAX);
	if (nextra > 4)
		return fsec_seterr(FSEC_ERR_INVAL, "too many files to stage");
	for (size_t i = 0; rolled && i < cfg->nprev; i++)
		if (cfg->prev[i].root[0] == '\0')
			snprintf(cfg->prev[i].root, sizeof(cfg->prev[i].root), "%s", f->cfg.root_cert);
	snprintf(cfg->prev[cfg->nprev].cert, sizeof(cfg->prev[0].cert), "%s", f->cfg.issuing_cert);
	snprintf(cfg->prev[cfg->nprev].key, sizeof(cfg->prev[0].key), "%s", f->cfg.issuing_key);
	snprintf(cfg->prev[cfg->nprev].root, sizeof(cfg->prev[0].root), "%s",
		 rolled ? f->cfg.root_cert : "");
	cfg->nprev++;
	snprintf(cfg->issuing_cert, sizeof(cfg->issuing_cert), "issuing-%u.pem", gen);
	snprintf(cfg->issuing_key, sizeof(cfg->issuing_key), "issuing-%u.key", gen);
	if ((rc = fsec_key_generate(cfg->algo, &key)) != FSEC_OK ||
	    (rc = fsec_ca_make_issuing(*root_key, root, key, cfg->name, gen,
				       days != 0 ? days : 3650, &iss)) != FSEC_OK ||
	    (rc = fsec_ca_new(iss, key, root, cfg->name, &nca)) != FSEC_OK ||
	    (rc = fsec_cert_fingerprint(iss, fp)) != FSEC_OK ||
	    (rc = fsec_cert_pem(iss, &iss_pem)) != FSEC_OK ||
	    (rc = chain_file_pem(f, cfg, iss, root, fresh, &chain)) != FSEC_OK ||
	    (rc = cfg_serialize(cfg, &json)) != FSEC_OK)
		goto out;
	/* The root key's last use was the signature above. */
	EVP_PKEY_free(*root_key);
	*root_key = NULL;
	if ((rc = join(f->home, cfg->issuing_key, &key_path)) != FSEC_OK ||
	    (rc = join(f->home, cfg->issuing_cert, &cert_path)) != FSEC_OK ||
	    (rc = join(f->home, CHAIN_FILE, &chain_path)) != FSEC_OK ||
	    (rc = join(f->home, CONFIG_FILE, &cfg_path)) != FSEC_OK ||
	    (rc = fsec_key_stage_private(key, key_path, &stages[0])) != FSEC_OK ||
	    (rc = fsec_file_stage_new(cert_path, iss_pem, strlen(iss_pem), 0644, FSEC_FILE_NOCLOBBER,
				      &stages[1])) != FSEC_OK ||
	    (rc = fsec_file_stage_new(chain_path, chain, strlen(chain), 0644, 0, &stages[2])) !=
		    FSEC_OK ||
	    (rc = fsec_file_stage_new(cfg_path, json, strlen(json), 0644, 0, &stages[3])) != FSEC_OK)
		goto out;
	for (size_t i = 0; i < nextra; i++)
		all[i] = extra[i];
	memcpy(all + nextra, stages, sizeof(stages));
	/* The CRLs of the new set are signed in the transaction, through a
	 * view of the fleet as it will be: the new CA current, the outgoing
	 * one previous (borrowed from f, never freed here). */
	view = *f;
	view.cfg = *cfg;
	view.ca = nca;
	memcpy(view.ca_fp, fp, sizeof(view.ca_fp));
	view.prev[cfg->nprev - 1] = f->ca;
	view.prev_expired[cfg->nprev - 1] = false;
	view.frozen = true;
	if ((rc = fsec_registry_begin(f->reg)) != FSEC_OK)
		goto out;
	in_tx = true;
	if ((rc = fsec_registry_event_addf(f->reg, actor, action, NULL,
					   "%sissuing=%s previous=%s cert=%s", detail, fp, f->ca_fp,
					   cfg->issuing_cert)) != FSEC_OK ||
	    (rc = crl_sign(&view, &crls)) != FSEC_OK)
		goto out;
	in_tx = false;
	if ((rc = finish(f, FSEC_OK, all, nextra + 4)) != FSEC_OK)
		goto out;
	/* This handle reads fleet.json again at its next operation; until
	 * then it holds the new one, which *out's file names point into. */
	drop_cas(f);
	f->cfg = *cfg;
	memset(&f->cfg_st, 0, sizeof(f->cfg_st));
	if ((rc = crl_publish(f, crls)) != FSEC_OK ||
	    (rc = ca_info_fill(iss, f->cfg.issuing_cert, false, true, out)) != FSEC_OK)
		goto out;
	rc = FSEC_OK;
out:
	if (in_tx)
		fsec_registry_rollback(f->reg);
	for (size_t i = 0; i < 4; i++)
		fsec_file_stage_free(stages[i]);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	fsec_ca_free(nca);
	X509_free(iss);
	EVP_PKEY_free(key);
	free(cert_path);
	free(key_path);
	free(chain_path);
	free(cfg_path);
	free(iss_pem);
	free(chain);
	free(json);
	return rc;
}

static enum fsec_err check_days_param(int days, const char *opt)
{
	if (days < 0 || days > DAYS_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "%s must be 1-%d", opt, DAYS_MAX);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_fleet_ca_rotate(struct fsec_fleet *f,
					    const struct fsec_ca_rotate_params *p,
					    struct fsec_ca_info *out)
{
	struct fleet_config cfg;
	X509 *root = NULL;
	EVP_PKEY *root_key = NULL;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = check_days_param(p->days, "--days")) != FSEC_OK)
		return rc;
	/* The outgoing CA keeps signing the CRL of what it issued: its key
	 * must load now, not at the first revocation after the rotation. */
	if ((rc = load_prev(f)) != FSEC_OK)
		return rc;
	if ((rc = root_signer(f, p->root_key, &root, &root_key)) != FSEC_OK)
		goto out;
	cfg = f->cfg;
	rc = issuing_switch(f, &cfg, &root_key, root, NULL, p->days, NULL, 0, p->actor, "ca-rotate", "",
			    out);
out:
	X509_free(root);
	EVP_PKEY_free(root_key);
	return rc;
}

FSEC_API enum fsec_err fsec_fleet_ca_rollover(struct fsec_fleet *f,
					      const struct fsec_ca_rollover_params *p,
					      struct fsec_ca_info *root_out,
					      struct fsec_ca_info *issuing_out)
{
	/* root key, root certificate, the two cross certificates: staged here,
	 * committed by issuing_switch before its own files and fleet.json. */
	struct fsec_file_stage *stages[4] = {NULL, NULL, NULL, NULL};
	struct fleet_config cfg;
	X509 *old = NULL, *nroot = NULL, *nwo = NULL, *own = NULL;
	EVP_PKEY *old_key = NULL, *nkey = NULL;
	const char *names[3];
	char *paths[4] = {NULL, NULL, NULL, NULL}, *pems[3] = {NULL, NULL, NULL};
	char detail[80], nfp[FSEC_SHA256_HEX_LEN], key_name[32];
	unsigned gen;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = check_days_param(p->days, "--days")) != FSEC_OK ||
	    (rc = check_days_param(p->issuing_days, "--issuing-days")) != FSEC_OK ||
	    (rc = load_prev(f)) != FSEC_OK)
		return rc;
	if (f->cfg.nroots == FLEET_ROOTS_MAX)
		return fsec_seterr(FSEC_ERR_POLICY,
				   "fleet.json already keeps %d previous roots: the limit",
				   FLEET_ROOTS_MAX);
	if ((rc = root_signer(f, p->root_key, &old, &old_key)) != FSEC_OK)
		goto out;
	gen = (unsigned)f->cfg.nroots + 2;
	cfg = f->cfg;
	snprintf(cfg.roots[cfg.nroots].cert, sizeof(cfg.roots[0].cert), "%s", f->cfg.root_cert);
	snprintf(cfg.roots[cfg.nroots].new_with_old, sizeof(cfg.roots[0].new_with_old),
		 "cross-%u-new-with-old.pem", gen);
	snprintf(cfg.roots[cfg.nroots].old_with_new, sizeof(cfg.roots[0].old_with_new),
		 "cross-%u-old-with-new.pem", gen);
	snprintf(cfg.root_cert, sizeof(cfg.root_cert), "root-%u.pem", gen);
	names[0] = cfg.root_cert;
	names[1] = cfg.roots[cfg.nroots].new_with_old;
	names[2] = cfg.roots[cfg.nroots].old_with_new;
	cfg.nroots++;
	if ((rc = fsec_key_generate(cfg.algo, &nkey)) != FSEC_OK ||
	    (rc = fsec_ca_make_root(nkey, cfg.name, gen, p->days != 0 ? p->days : 7300, &nroot)) !=
		    FSEC_OK ||
	    (rc = fsec_ca_make_cross(old_key, old, nroot, &nwo)) != FSEC_OK ||
	    (rc = fsec_ca_make_cross(nkey, nroot, old, &own)) != FSEC_OK ||
	    (rc = fsec_cert_fingerprint(nroot, nfp)) != FSEC_OK ||
	    (rc = fsec_cert_pem(nroot, &pems[0])) != FSEC_OK ||
	    (rc = fsec_cert_pem(nwo, &pems[1])) != FSEC_OK ||
	    (rc = fsec_cert_pem(own, &pems[2])) != FSEC_OK)
		goto out;
	/* The old root key's last use was NewWithOld's signature. */
	EVP_PKEY_free(old_key);
	old_key = NULL;
	snprintf(key_name, sizeof(key_name), "root-%u.key", gen);
	if ((rc = join(f->home, key_name, &paths[3])) != FSEC_OK ||
	    (rc = fsec_key_stage_private(nkey, paths[3], &stages[0])) != FSEC_OK)
		goto out;
	for (size_t i = 0; i < 3; i++)
		if ((rc = join(f->home, names[i], &paths[i])) != FSEC_OK ||
		    (rc = fsec_file_stage_new(paths[i], pems[i], strlen(pems[i]), 0644,
					      FSEC_FILE_NOCLOBBER, &stages[i + 1])) != FSEC_OK)
			goto out;
	/* The new root's fingerprint, then the issuing CAs' (the previous
	 * root is the one ca show lists): under FSEC_DETAIL_MAX. */
	snprintf(detail, sizeof(detail), "root=%s ", nfp);
	/* The new issuing CA is signed by the new root key, which this
	 * process holds only until then (written to root-N.key, 0600). */
	if ((rc = issuing_switch(f, &cfg, &nkey, nroot, (X509 *[]){nwo, own}, p->issuing_days,
				 stages, 4, p->actor, "ca-rollover", detail, issuing_out)) != FSEC_OK ||
	    (rc = ca_info_fill(nroot, f->cfg.root_cert, true, true, root_out)) != FSEC_OK)
		goto out;
	rc = FSEC_OK;
out:
	for (size_t i = 0; i < 4; i++) {
		fsec_file_stage_free(stages[i]);
		free(paths[i]);
	}
	for (size_t i = 0; i < 3; i++)
		free(pems[i]);
	X509_free(old);
	X509_free(nroot);
	X509_free(nwo);
	X509_free(own);
	EVP_PKEY_free(old_key);
	EVP_PKEY_free(nkey);
	return rc;
}
