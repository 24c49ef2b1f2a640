/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backup and restore of a fleet home (backup.h). The backup reads the home
 * (the registry through its online snapshot), writes MANIFEST and the
 * archive, and seals it in CMS; restore opens the envelope, checks every
 * member against MANIFEST, then builds the home beside its target and
 * renames it into place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "backup_int.h"
#include "dynbuf_int.h"
#include "err_int.h"
#include "fleet_int.h"
#include "pem_int.h"
#include "fleetsec/key.h"
#include "fleetsec/backup.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/registry.h"
#include "fleetsec/text.h"

#define CONFIG_FILE "fleet.json"
#define MANIFEST "MANIFEST"
#define MANIFEST_HEAD "fleetsec-backup 1\n"
/* A home holds a few dozen files; this bounds the manifest and the walk. */
#define FILES_MAX 4096u
/* The envelope adds little to the archive; a file past this is no backup. */
#define FILE_MAX ((size_t)FSEC_BACKUP_MAX + 1024u * 1024u)

struct bk_file {
	char name[BK_NAME_MAX + 1];
	unsigned char *data;
	size_t len;
	unsigned mode;
	int64_t mtime;
	unsigned char sha[32];
};

struct bk_set {
	struct bk_file *v;
	size_t n, cap;
	bool secret; /* holds private keys: wipe on free */
};

static void set_free(struct bk_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->secret)
			OPENSSL_clear_free(s->v[i].data, s->v[i].len);
		else
			free(s->v[i].data);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct bk_file *)a)->name, ((const struct bk_file *)b)->name);
}

/* A private key by its name or its PEM label (a TPM blob is "TSS2 PRIVATE
 * KEY"): what a backup without --with-keys leaves out. */
static bool is_key(const char *name, const unsigned char *data, size_t len)
{
	size_t n = strlen(name);
	static const char label[] = "PRIVATE KEY-----";

	if (n >= 4 && strcmp(name + n - 4, ".key") == 0)
		return true;
	return memmem(data, len, label, sizeof(label) - 1) != NULL;
}

/* The registry's file inside the home, from fleet.json's "sqlite:NAME". */
static enum fsec_err registry_name(const struct fleet_config *cfg, const char **out)
{
	const char *r = cfg->registry;

	if (strncmp(r, "sqlite:", 7) != 0 || !bk_name_ok(r + 7))
		return fsec_seterr(FSEC_ERR_INVAL,
				   "registry '%.100s' is not a file inside the home: back it up "
				   "with its own tools",
				   r);
	*out = r + 7;
	return FSEC_OK;
}

/* The registry's own files, which its snapshot replaces. */
static bool is_registry_file(const char *name, const char *reg)
{
	size_t n = strlen(reg);

	return strncmp(name, reg, n) == 0 &&
	       (name[n] == '\0' || strcmp(name + n, "-wal") == 0 ||
		strcmp(name + n, "-shm") == 0 || strcmp(name + n, "-journal") == 0);
}

static enum fsec_err add_file(struct bk_set *s, const char *name, unsigned char *data,
			      size_t len, unsigned mode, int64_t mtime)
{
	enum fsec_err rc = fsec_array_grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v), FILES_MAX);
	struct bk_file *f;

	if (rc != FSEC_OK)
		return rc;
	f = &s->v[s->n++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->data = data;
	f->len = len;
	f->mode = mode;
	f->mtime = mtime;
	if (EVP_Digest(data, len, f->sha, NULL, EVP_sha256(), NULL) != 1)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot hash %s", name);
	return FSEC_OK;
}

struct walk {
	const char *home, *reg;
	bool with_keys;
	struct bk_set *set;
	size_t *keys_left_out;
	size_t total;
};

/* Read the regular files of home/sub (sub "" for the top), and with sub ""
 * the directories one level down. */
static enum fsec_err walk_dir(struct walk *w, const char *sub)
{
	struct dirent **ents = NULL;
	/* Two dirent names and a slash; bk_name_ok refuses the long ones. */
	char *dir = NULL, *path = NULL, name[2 * 256 + 2];
	unsigned char *data = NULL;
	size_t len = 0;
	struct stat st;
	enum fsec_err rc = FSEC_ERR_IO;
	int n;

	if (asprintf(&dir, "%s%s%s", w->home, sub[0] != '\0' ? "/" : "", sub) < 0) {
		dir = NULL;
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	if ((n = scandir(dir, &ents, NULL, alphasort)) < 0) {
		rc = fsec_seterr(FSEC_ERR_IO, "cannot read %s: %s", dir, strerror(errno));
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const char *e = ents[i]->d_name;

		/* Hidden entries (".", "..") and staged temporary files are no
		 * part of the home's state. */
		if (e[0] == '.' || strstr(e, ".tmp.") != NULL)
			continue;
		if (sub[0] == '\0' && is_registry_file(e, w->reg))
			continue;
		free(path);
		if (asprintf(&path, "%s/%s", dir, e) < 0) {
			path = NULL;
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (lstat(path, &st) != 0) {
			rc = fsec_seterr(FSEC_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
			goto out;
		}
		snprintf(name, sizeof(name), "%s%s%s", sub, sub[0] != '\0' ? "/" : "", e);
		if (S_ISDIR(st.st_mode) && sub[0] == '\0') {
			if ((rc = walk_dir(w, e)) != FSEC_OK)
				goto out;
			continue;
		}
		/* Links, devices and deeper directories are not what fleetsec
		 * writes in a home; they are left out, as the format says. */
		if (!S_ISREG(st.st_mode))
			continue;
		if (!bk_name_ok(name)) {
			rc = fsec_seterr(FSEC_ERR_INVAL, "%s: a name a backup cannot hold", path);
			goto out;
		}
		if ((rc = fsec_file_read(path, FSEC_BACKUP_MAX, &data, &len)) != FSEC_OK)
			goto out;
		if (is_key(e, data, len)) {
			if (!w->with_keys) {
				OPENSSL_clear_free(data, len);
				data = NULL;
				(*w->keys_left_out)++;
				continue;
			}
			w->set->secret = true;
		}
		if (fsec_add_overflow(w->total, len, &w->total) || w->total > FSEC_BACKUP_MAX) {
			rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "the home is larger than %u bytes",
					 FSEC_BACKUP_MAX);
			goto out;
		}
		if ((rc = add_file(w->set, name, data, len, (unsigned)st.st_mode & 0777u,
				   (int64_t)st.st_mtim.tv_sec)) != FSEC_OK)
			goto out;
		data = NULL;
	}
	rc = FSEC_OK;
out:
	if (data != NULL)
		OPENSSL_clear_free(data, len);
	for (int i = 0; ents != NULL && i < n; i++)
		free(ents[i]);
	free(ents);
	free(path);
	free(dir);
	return rc;
}

/* The registry through its online snapshot, taken in a private directory
 * beside out and read back. */
static enum fsec_err snapshot(const char *home, const char *reg, const char *out,
			      struct bk_set *set)
{
	struct fsec_registry *r = NULL;
	char *loc = NULL, *tmp = NULL, *snap = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	struct stat st;
	enum fsec_err rc = FSEC_ERR_NOMEM;

	if (asprintf(&loc, "sqlite:%s/%s", home, reg) < 0 || asprintf(&tmp, "%s.snap-XXXXXX", out) < 0) {
		fsec_seterr(rc, "out of memory");
		goto out;
	}
	if (mkdtemp(tmp) == NULL) {
		rc = fsec_seterr(FSEC_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (asprintf(&snap, "%s/registry", tmp) < 0) {
		snap = NULL;
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fsec_registry_open(loc, 0, &r)) != FSEC_OK ||
	    (rc = fsec_registry_snapshot(r, snap)) != FSEC_OK ||
	    (rc = fsec_file_read(snap, FSEC_BACKUP_MAX, &data, &len)) != FSEC_OK)
		goto out;
	if (stat(snap, &st) != 0) {
		rc = fsec_seterr(FSEC_ERR_IO, "cannot stat %s: %s", snap, strerror(errno));
		goto out;
	}
	if ((rc = add_file(set, reg, data, len, 0600, (int64_t)st.st_mtim.tv_sec)) != FSEC_OK)
		goto out;
	data = NULL;
	rc = FSEC_OK;
out:
	fsec_registry_free(r);
	free(data);
	if (snap != NULL)
		unlink(snap);
	if (tmp != NULL)
		rmdir(tmp);
	free(snap);
	free(tmp);
	free(loc);
	return rc;
}

static enum fsec_err manifest_build(const struct bk_set *s, bool keys, int64_t created,
				    char **out, size_t *len)
{
	struct fsec_dynbuf d;
	char hex[65];

	fsec_dynbuf_init(&d, (size_t)FILES_MAX * 256u);
	(void)fsec_dynbuf_addf(&d, MANIFEST_HEAD "created %lld\nkeys %s\n", (long long)created,
			       keys ? "yes" : "no");
	for (size_t i = 0; i < s->n; i++) {
		fsec_hex(s->v[i].sha, sizeof(s->v[i].sha), hex);
		(void)fsec_dynbuf_addf(&d, "file %s %zu %s\n", hex, s->v[i].len, s->v[i].name);
	}
	/* The first failure is sticky: take reports it. */
	return fsec_dynbuf_take(&d, out, len);
}

/* Seal the archive: AES-256-GCM AuthEnvelopedData, a password recipient for
 * the passphrase (its KEK wrap is AES-256-CBC: RFC 3211 wraps with a block
 * cipher) and one recipient per certificate. */
static enum fsec_err seal(const struct fsec_backup_opts *o, const unsigned char *plain,
			  size_t len, unsigned char **out, size_t *out_len)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	X509 *cert = NULL;
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL, *mem = NULL;
	unsigned char *pass = NULL, *buf = NULL;
	char *data;
	long n;
	enum fsec_err rc = FSEC_ERR_CRYPTO;

	if (certs == NULL)
		goto out;
	for (size_t i = 0; i < o->n_recipients; i++) {
		if ((rc = fsec_pem_cert_read(o->recipients[i], &cert)) != FSEC_OK)
			goto out;
		rc = FSEC_ERR_CRYPTO;
		if (!sk_X509_push(certs, cert))
			goto out;
		cert = NULL;
	}
	/* len <= FSEC_BACKUP_MAX: it fits the int the BIO takes. */
	if ((in = BIO_new_mem_buf(plain, (int)len)) == NULL ||
	    (cms = CMS_encrypt(certs, NULL, EVP_aes_256_gcm(), CMS_BINARY | CMS_PARTIAL)) == NULL)
		goto out;
	if (o->passphrase != NULL) {
		/* CMS takes ownership of the copy, and frees it with the
		 * structure (cleansed: OpenSSL frees it with clear_free). */
		if ((pass = OPENSSL_memdup(o->passphrase, o->passphrase_len)) == NULL)
			goto out;
		if (CMS_add0_recipient_password(cms, FSEC_BACKUP_PBKDF2_ITER, NID_undef, NID_undef,
						pass, (ossl_ssize_t)o->passphrase_len,
						EVP_aes_256_cbc()) == NULL)
			goto out;
		pass = NULL;
	}
	if (!CMS_final(cms, in, NULL, CMS_BINARY) || (mem = BIO_new(BIO_s_mem())) == NULL ||
	    !i2d_CMS_bio(mem, cms) || (n = BIO_get_mem_data(mem, &data)) <= 0)
		goto out;
	if ((buf = malloc((size_t)n)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(buf, data, (size_t)n);
	*out = buf;
	*out_len = (size_t)n;
	rc = FSEC_OK;
out:
	if (rc == FSEC_ERR_CRYPTO)
		fsec_seterr_ossl(rc, "cannot encrypt the backup");
	if (pass != NULL)
		OPENSSL_clear_free(pass, o->passphrase_len);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(mem);
	X509_free(cert);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

static enum fsec_err read_config(const char *home, struct fleet_config *cfg)
{
	char *path = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;

	if (asprintf(&path, "%s/" CONFIG_FILE, home) < 0)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if (access(path, F_OK) != 0)
		rc = fsec_seterr(FSEC_ERR_NOTFOUND, "no fleet home at %s", home);
	else if ((rc = fsec_file_read(path, FSEC_FLEET_CONFIG_MAX, &buf, &len)) == FSEC_OK)
		rc = fsec_fleet_config_parse(buf, len, cfg);
	free(buf);
	free(path);
	return rc;
}

static enum fsec_err check_pass(const unsigned char *p, size_t len)
{
	if (p != NULL && (len < FSEC_BACKUP_PASS_MIN || len > FSEC_BACKUP_PASS_MAX))
		return fsec_seterr(FSEC_ERR_INVAL, "the passphrase must be %u to %u bytes",
				   FSEC_BACKUP_PASS_MIN, FSEC_BACKUP_PASS_MAX);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_backup_passphrase_read(const char *path, unsigned char **out,
						   size_t *len)
{
	unsigned char *buf = NULL;
	size_t n = 0;
	enum fsec_err rc;

	/* Room for the newline an editor adds. */
	if ((rc = fsec_file_read(path, FSEC_BACKUP_PASS_MAX + 2, &buf, &n)) != FSEC_OK)
		return rc;
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	if ((rc = check_pass(buf, n)) != FSEC_OK) {
		/* n <= the length read; the buffer holds one byte more. */
		OPENSSL_clear_free(buf, n + 1);
		return rc;
	}
	*out = buf;
	*len = n;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_backup_create(const char *home, const char *out,
					  const struct fsec_backup_opts *o,
					  struct fsec_backup_info *info)
{
	struct bk_set set = {0};
	struct fleet_config cfg;
	struct bk_out tar = {0};
	struct walk w = {0};
	struct fsec_file_stage *st = NULL;
	unsigned char *sealed = NULL;
	char *man = NULL;
	const char *reg = NULL;
	size_t man_len = 0, sealed_len = 0, keys_left_out = 0, total = 0;
	bool encrypt = o->passphrase != NULL || o->n_recipients > 0;
	int64_t now = (int64_t)time(NULL);
	struct stat sb;
	enum fsec_err rc = FSEC_ERR_INVAL;

	/* Refused before anything is read: keys never leave in the clear. */
	if (o->with_keys && !encrypt)
		return fsec_seterr(FSEC_ERR_INVAL, "refusing to write private keys unencrypted: "
						   "give a passphrase or a recipient");
	if ((rc = check_pass(o->passphrase, o->passphrase_len)) != FSEC_OK)
		return rc;
	if (lstat(out, &sb) == 0)
		return fsec_seterr(FSEC_ERR_EXISTS, "%s already exists; refusing to overwrite it",
				   out);
	if ((rc = read_config(home, &cfg)) != FSEC_OK || (rc = registry_name(&cfg, &reg)) != FSEC_OK)
		goto out;
	/* The registry first: a file read after it (crl.pem) may be newer,
	 * never older, than the records, and restore's CRL floor covers both. */
	if ((rc = snapshot(home, reg, out, &set)) != FSEC_OK)
		goto out;
	w = (struct walk){.home = home, .reg = reg, .with_keys = o->with_keys, .set = &set,
			  .keys_left_out = &keys_left_out, .total = set.v[0].len};
	if ((rc = walk_dir(&w, "")) != FSEC_OK)
		goto out;
	qsort(set.v, set.n, sizeof(*set.v), cmp_file);
	if ((rc = manifest_build(&set, set.secret, now, &man, &man_len)) != FSEC_OK)
		goto out;
	/* The archive's exact size, allocated once (bk_out). */
	if ((rc = bk_tar_size(man_len, &total)) != FSEC_OK)
		goto out;
	for (size_t i = 0; i < set.n; i++)
		if ((rc = bk_tar_size(set.v[i].len, &total)) != FSEC_OK)
			goto out;
	if (fsec_add_overflow(total, (size_t)2 * BK_TAR_BLOCK, &total) || total > FSEC_BACKUP_MAX) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "the backup would be larger than %u bytes",
				 FSEC_BACKUP_MAX);
		goto out;
	}
	if ((tar.buf = malloc(total)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	tar.cap = total;
	if ((rc = bk_tar_add(&tar, MANIFEST, 0644, now, (unsigned char *)man, man_len)) != FSEC_OK)
		goto out;
	for (size_t i = 0; i < set.n; i++)
		if ((rc = bk_tar_add(&tar, set.v[i].name, set.v[i].mode, set.v[i].mtime,
				     set.v[i].data, set.v[i].len)) != FSEC_OK)
			goto out;
	if ((rc = bk_tar_finish(&tar)) != FSEC_OK)
		goto out;
	if (encrypt && (rc = seal(o, tar.buf, tar.len, &sealed, &sealed_len)) != FSEC_OK)
		goto out;
	if ((rc = fsec_file_stage_new(out, encrypt ? sealed : tar.buf,
				      encrypt ? sealed_len : tar.len, 0600, FSEC_FILE_NOCLOBBER,
				      &st)) != FSEC_OK ||
	    (rc = fsec_file_stage_commit(st)) != FSEC_OK)
		goto out;
	if (info != NULL) {
		memset(info, 0, sizeof(*info));
		info->files = set.n;
		info->keys_left_out = keys_left_out;
		info->keys = set.secret;
		info->encrypted = encrypt;
		info->created = now;
	}
	rc = FSEC_OK;
out:
	fsec_file_stage_free(st);
	free(sealed);
	if (tar.buf != NULL)
		OPENSSL_clear_free(tar.buf, tar.cap);
	free(man);
	set_free(&set);
	return rc;
}

/* ---- restore ---- */

/* The next line of the manifest at *p (before end), NUL-terminated in line.
 * False at the end or on a line too long or unterminated. */
static bool next_line(const char **p, const char *end, char *line, size_t cap)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n;

	if (nl == NULL)
		return false;
	n = (size_t)(nl - *p);
	if (n >= cap || memchr(*p, '\0', n) != NULL)
		return false;
	memcpy(line, *p, n);
	line[n] = '\0';
	*p = nl + 1;
	return true;
}

/* MANIFEST, strictly: the head line, "created N", "keys yes|no", then one
 * "file SHA256 SIZE NAME" per member in strictly ascending name order. */
static enum fsec_err manifest_parse(const unsigned char *buf, size_t len, struct bk_manifest *m)
{
	const char *p = (const char *)buf, *end = p + len;
	char line[BK_NAME_MAX + 128], *sp1, *sp2;
	uint64_t v;

	if (len < sizeof(MANIFEST_HEAD) - 1 ||
	    memcmp(p, MANIFEST_HEAD, sizeof(MANIFEST_HEAD) - 1) != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "MANIFEST: not a version 1 fleetsec backup");
	p += sizeof(MANIFEST_HEAD) - 1;
	if (!next_line(&p, end, line, sizeof(line)) || strncmp(line, "created ", 8) != 0 ||
	    fsec_parse_u64(line + 8, 0, INT64_MAX, 0, &v) != FSEC_OK)
		return fsec_seterr(FSEC_ERR_PARSE, "MANIFEST: bad \"created\" line");
	m->created = (int64_t)v;
	if (!next_line(&p, end, line, sizeof(line)) ||
	    (strcmp(line, "keys yes") != 0 && strcmp(line, "keys no") != 0))
		return fsec_seterr(FSEC_ERR_PARSE, "MANIFEST: bad \"keys\" line");
	m->keys = strcmp(line, "keys yes") == 0;
	while (p < end) {
		struct bk_man_entry *e;
		enum fsec_err rc;

		if (!next_line(&p, end, line, sizeof(line)) || strncmp(line, "file ", 5) != 0 ||
		    (sp1 = strchr(line + 5, ' ')) == NULL || (sp2 = strchr(sp1 + 1, ' ')) == NULL)
			return fsec_seterr(FSEC_ERR_PARSE, "MANIFEST: bad line %zu", m->n + 4);
		*sp1 = *sp2 = '\0';
		if ((rc = fsec_array_grow((void **)&m->v, &m->cap, m->n, sizeof(*m->v), FILES_MAX)) !=
		    FSEC_OK)
			return rc;
		e = &m->v[m->n];
		if (fsec_hex_decode(line + 5, e->sha, sizeof(e->sha), FSEC_HEX_LOWER) != FSEC_OK ||
		    fsec_parse_u64(sp1 + 1, 0, FSEC_BACKUP_MAX, 0, &v) != FSEC_OK ||
		    !bk_name_ok(sp2 + 1) || strcmp(sp2 + 1, MANIFEST) == 0 ||
		    (m->n > 0 && strcmp(m->v[m->n - 1].name, sp2 + 1) >= 0))
			return fsec_seterr(FSEC_ERR_PARSE, "MANIFEST: bad line %zu", m->n + 4);
		e->len = (size_t)v;
		snprintf(e->name, sizeof(e->name), "%s", sp2 + 1);
		m->n++;
	}
	return FSEC_OK;
}

/* Open the envelope into a secure-heap BIO (*plain): its bytes may be keys. */
static enum fsec_err unseal(const unsigned char *buf, size_t len,
			    const struct fsec_restore_opts *o, BIO **plain)
{
	const unsigned char *p = buf;
	CMS_ContentInfo *cms = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *out = NULL;
	enum fsec_err rc = FSEC_ERR_PARSE;

	/* len <= FILE_MAX: it fits the long d2i takes. */
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL || p != buf + len) {
		fsec_seterr_ossl(rc, "not a fleetsec backup");
		goto out;
	}
	/* Only the authenticated envelope: CBC alone would let a changed byte
	 * through to the manifest check, which catches accidents, not forgery. */
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_id_smime_ct_authEnvelopedData) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "not an authenticated (AES-GCM) envelope");
		goto out;
	}
	if (o->passphrase == NULL && o->key == NULL) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "the backup is encrypted: give its passphrase or key");
		goto out;
	}
	if (o->passphrase == NULL &&
	    ((rc = fsec_key_load_private(o->key, &key)) != FSEC_OK ||
	     (o->cert != NULL && (rc = fsec_pem_cert_read(o->cert, &cert)) != FSEC_OK)))
		goto out;
	if ((out = BIO_new(BIO_s_secmem())) == NULL) {
		rc = fsec_seterr_ossl(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = FSEC_ERR_VERIFY;
	if (o->passphrase != NULL &&
	    !CMS_decrypt_set1_password(cms, (unsigned char *)o->passphrase,
				       (ossl_ssize_t)o->passphrase_len)) {
		fsec_seterr_ossl(rc, "cannot open: wrong passphrase or key, or an altered backup");
		goto out;
	}
	if (!CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY)) {
		fsec_seterr_ossl(rc, "cannot open: wrong passphrase or key, or an altered backup");
		goto out;
	}
	*plain = out;
	out = NULL;
	rc = FSEC_OK;
out:
	BIO_free(out);
	EVP_PKEY_free(key);
	X509_free(cert);
	CMS_ContentInfo_free(cms);
	return rc;
}

enum fsec_err bk_verify_archive(const unsigned char *buf, size_t len, struct bk_manifest *m,
				    struct bk_member **members)
{
	struct bk_member mem, *v = NULL;
	unsigned char sha[32];
	size_t off = 0;
	bool end = false;
	enum fsec_err rc;

	if ((rc = bk_tar_next(buf, len, &off, &mem, &end)) != FSEC_OK)
		goto out;
	if (end || strcmp(mem.name, MANIFEST) != 0) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "the archive does not start with MANIFEST");
		goto out;
	}
	if ((rc = manifest_parse(mem.data, mem.len, m)) != FSEC_OK)
		goto out;
	if ((v = calloc(m->n + 1, sizeof(*v))) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i <= m->n; i++) {
		if ((rc = bk_tar_next(buf, len, &off, &mem, &end)) != FSEC_OK)
			goto out;
		if (i == m->n) {
			if (!end) {
				rc = fsec_seterr(FSEC_ERR_VERIFY, "%s: in the archive but not in "
								  "MANIFEST", mem.name);
				goto out;
			}
			break;
		}
		if (end || strcmp(mem.name, m->v[i].name) != 0) {
			rc = fsec_seterr(FSEC_ERR_VERIFY, "%s: in MANIFEST but not in the archive",
					 m->v[i].name);
			goto out;
		}
		if (EVP_Digest(mem.data, mem.len, sha, NULL, EVP_sha256(), NULL) != 1) {
			rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot hash %s", mem.name);
			goto out;
		}
		if (mem.len != m->v[i].len || CRYPTO_memcmp(sha, m->v[i].sha, sizeof(sha)) != 0) {
			rc = fsec_seterr(FSEC_ERR_VERIFY, "%s: does not match its SHA-256 in MANIFEST",
					 mem.name);
			goto out;
		}
		v[i] = mem;
	}
	*members = v;
	v = NULL;
	rc = FSEC_OK;
out:
	free(v);
	return rc;
}

/* Remove the half-built home: files at its top and one level down. */
static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno == EISDIR) {
			int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			DIR *sub = fd >= 0 ? fdopendir(fd) : NULL;
			struct dirent *s;

			while (sub != NULL && (s = readdir(sub)) != NULL)
				if (strcmp(s->d_name, ".") != 0 && strcmp(s->d_name, "..") != 0)
					unlinkat(dirfd(sub), s->d_name, 0);
			if (sub != NULL)
				closedir(sub);
			else if (fd >= 0)
				close(fd);
			unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
		}
	}
	closedir(d);
	rmdir(dir);
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

static enum fsec_err write_member(const char *tmp, const struct bk_member *m)
{
	char *path = NULL, *slash;
	enum fsec_err rc = FSEC_ERR_NOMEM;

	if (asprintf(&path, "%s/%s", tmp, m->name) < 0)
		return fsec_seterr(rc, "out of memory");
	/* bk_name_ok allows one level: its directory, private like the home. */
	if ((slash = strrchr(path, '/')) > path + strlen(tmp)) {
		*slash = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			rc = fsec_seterr(FSEC_ERR_IO, "cannot create %s: %s", path, strerror(errno));
			goto out;
		}
		*slash = '/';
	}
	/* Never more than 0644: no execute bits, nothing writable by others;
	 * a key saved 0600 stays 0600. */
	rc = fsec_file_write_atomic(path, m->data, m->len, (mode_t)(m->mode & 0644u),
				    FSEC_FILE_NOCLOBBER);
out:
	free(path);
	return rc;
}

/* The restored registry: CRL number raised past anything the original home
 * may have published since the backup, and a "restore" event. */
static enum fsec_err registry_fixup(const char *tmp, const char *reg, const struct bk_manifest *m,
				    const char *actor, uint64_t *floor_out)
{
	struct fsec_registry *r = NULL;
	struct timespec ts;
	char *loc = NULL, when[FSEC_TIME_LEN];
	uint64_t floor, got = 0;
	enum fsec_err rc;

	if (asprintf(&loc, "sqlite:%s/%s", tmp, reg) < 0)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	/* Microseconds since 1970: a home numbering its CRLs one by one (or
	 * by the second) cannot have reached it, and a later restore starts
	 * higher again. A clock before the backup is refused: the floor would
	 * be no proof then. */
	clock_gettime(CLOCK_REALTIME, &ts);
	if ((int64_t)ts.tv_sec < m->created) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "the clock is before the backup was taken; "
						 "fix the clock before restoring");
		goto out;
	}
	floor = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if ((rc = fsec_registry_open(loc, 0, &r)) != FSEC_OK || (rc = fsec_registry_begin(r)) != FSEC_OK)
		goto out;
	if ((rc = fsec_registry_counter_raise(r, "crl_number", floor, &got)) != FSEC_OK ||
	    (rc = fsec_registry_event_addf(r, actor, "restore", NULL,
					   "from a backup taken %s%s; crl_number raised to %llu",
					   fsec_time_format(m->created, when),
					   m->keys ? " with keys" : "",
					   (unsigned long long)got)) != FSEC_OK ||
	    (rc = fsec_registry_commit(r)) != FSEC_OK) {
		fsec_registry_rollback(r);
		goto out;
	}
	*floor_out = got;
out:
	/* Closing checkpoints the WAL into the file before the home moves. */
	fsec_registry_free(r);
	free(loc);
	return rc;
}

FSEC_API enum fsec_err fsec_backup_restore(const char *file, const char *home,
					   const struct fsec_restore_opts *o,
					   struct fsec_backup_info *info)
{
	struct bk_manifest m = {0};
	struct bk_member *members = NULL;
	struct fleet_config cfg;
	unsigned char *buf = NULL;
	const unsigned char *arch;
	size_t len = 0, alen;
	BIO *plain = NULL;
	char *tmp = NULL, *pdata;
	const char *reg = NULL;
	const struct bk_member *conf = NULL, *regm = NULL;
	uint64_t floor = 0;
	struct stat st;
	bool encrypted;
	long n;
	enum fsec_err rc = FSEC_ERR_EXISTS;

	if (lstat(home, &st) == 0 && !(S_ISDIR(st.st_mode) && dir_is_empty(home)))
		return fsec_seterr(FSEC_ERR_EXISTS, "%s already exists; refusing to overwrite a "
						    "fleet home", home);
	if ((rc = check_pass(o->passphrase, o->passphrase_len)) != FSEC_OK)
		return rc;
	if ((rc = fsec_file_read(file, FILE_MAX, &buf, &len)) != FSEC_OK)
		goto out;
	encrypted = !(len >= BK_TAR_BLOCK && memcmp(buf + 257, "ustar", 6) == 0);
	if (encrypted) {
		if ((rc = unseal(buf, len, o, &plain)) != FSEC_OK)
			goto out;
		if ((n = BIO_get_mem_data(plain, &pdata)) <= 0) {
			rc = fsec_seterr(FSEC_ERR_PARSE, "empty backup");
			goto out;
		}
		arch = (const unsigned char *)pdata;
		alen = (size_t)n;
	} else {
		arch = buf;
		alen = len;
	}
	if ((rc = bk_verify_archive(arch, alen, &m, &members)) != FSEC_OK)
		goto out;
	if (m.keys && !encrypted) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "private keys in an unencrypted backup");
		goto out;
	}
	for (size_t i = 0; i < m.n; i++)
		if (strcmp(members[i].name, CONFIG_FILE) == 0)
			conf = &members[i];
	if (conf == NULL) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "no " CONFIG_FILE " in the backup");
		goto out;
	}
	if ((rc = fsec_fleet_config_parse(conf->data, conf->len, &cfg)) != FSEC_OK ||
	    (rc = registry_name(&cfg, &reg)) != FSEC_OK)
		goto out;
	for (size_t i = 0; i < m.n; i++)
		if (strcmp(members[i].name, reg) == 0)
			regm = &members[i];
	if (regm == NULL) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "no registry in the backup");
		goto out;
	}
	/* Built beside the target, so that the final rename stays in one file
	 * system; a crash leaves only this directory, never a half home. */
	if (asprintf(&tmp, "%s.restore-XXXXXX", home) < 0) {
		tmp = NULL;
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (mkdtemp(tmp) == NULL) {
		rc = fsec_seterr(FSEC_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	for (size_t i = 0; i < m.n; i++)
		if ((rc = write_member(tmp, &members[i])) != FSEC_OK)
			goto out;
	if ((rc = registry_fixup(tmp, reg, &m, o->actor, &floor)) != FSEC_OK)
		goto out;
	/* rename(2) replaces an empty directory and refuses a non-empty one, so
	 * a home that appeared meanwhile is never overwritten. */
	if (rename(tmp, home) != 0) {
		rc = fsec_seterr(errno == ENOTEMPTY || errno == EEXIST ? FSEC_ERR_EXISTS : FSEC_ERR_IO,
				 "cannot move the restored home into %s: %s", home, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	if ((rc = fsec_dir_sync_parent(home)) != FSEC_OK)
		goto out;
	if (info != NULL) {
		memset(info, 0, sizeof(*info));
		info->files = m.n;
		info->keys = m.keys;
		info->encrypted = encrypted;
		info->created = m.created;
		info->crl_floor = floor;
	}
	rc = FSEC_OK;
out:
	if (tmp != NULL)
		remove_tree(tmp);
	free(tmp);
	free(members);
	free(m.v);
	BIO_free(plain);
	OPENSSL_clear_free(buf, len);
	return rc;
}
