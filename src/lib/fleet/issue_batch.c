/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Factory batches (batch.h): the items are taken a chunk at a time. For each
 * chunk the calling thread reads what the registry already holds for the
 * chunk's IDs; then every thread (the caller's too) takes items in turn:
 * reads and verifies the CSR, or generates the key and writes it durably,
 * decides whether the item is already done, and signs its certificate.
 * Then the calling thread alone records the chunk in one transaction, with
 * every refusal checked again inside it, commits, writes the certificate
 * files and reports each item in input order. OpenSSL 3 objects shared
 * between the threads (the issuing CA's certificate and key) are only read.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "err_int.h"
#include "fleet_int.h"
#include "fleetsec/batch.h"
#include "fleetsec/ca.h"
#include "fleetsec/csr.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/identity.h"
#include "fleetsec/key.h"
#include "fleetsec/names.h"
#include "fleetsec/registry.h"

#define CHUNK_DEFAULT 512
#define CHUNK_MAX 100000
#define THREADS_MAX 256
#define REASON_MAX 256

/* One item's state through its chunk. */
struct slot {
	enum fsec_batch_status status;
	bool record;      /* signed here: to be recorded */
	bool registered;  /* the registry knew the ID before the chunk */
	struct fsec_device_rec reg;
	char reason[REASON_MAX];
	char spki[FSEC_SHA256_HEX_LEN];
	struct fsec_issued_cert cert;
	char *pem;
	unsigned char *key_pem;
	size_t key_pem_len;
};

struct job {
	struct fsec_fleet *f;
	const struct fsec_batch_opts *o;
	const struct fsec_batch_item *items;
	struct slot *slots;
	size_t n;
	int days;
	atomic_size_t next;
};

static void refuse(struct slot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void refuse(struct slot *s, const char *fmt, ...)
{
	va_list ap;

	s->status = FSEC_BATCH_REFUSED;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
}

/* Refuse with the library's reason for the failure just seen. */
static void refuse_detail(struct slot *s, const char *prefix)
{
	s->status = FSEC_BATCH_REFUSED;
	snprintf(s->reason, sizeof(s->reason), "%s%s", prefix, fsec_err_detail());
}

static enum fsec_err join_path(const char *dir, const char *id, const char *ext, char **out)
{
	if (asprintf(out, "%s/%s%s", dir, id, ext) < 0) {
		*out = NULL;
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	return FSEC_OK;
}

/* The key of a keygen item: the one its key file holds (a cut run wrote it
 * before recording anything), else a new one, written durably now. */
static bool keygen_key(struct job *j, const struct fsec_batch_item *it, struct slot *s,
		       EVP_PKEY **key)
{
	struct fsec_file_stage *st = NULL;
	char *path = NULL;
	struct stat sb;
	bool ok = false;

	if (join_path(j->o->out_dir, it->id, ".key", &path) != FSEC_OK) {
		refuse_detail(s, "");
		return false;
	}
	if (lstat(path, &sb) == 0) {
		if (fsec_key_load_private(path, key) != FSEC_OK) {
			refuse(s, "%s.key in the output directory is not a private key", it->id);
			goto out;
		}
	} else if (errno != ENOENT) {
		refuse(s, "cannot read %s.key in the output directory", it->id);
		goto out;
	} else if (s->registered) {
		/* Registered, yet no key file of ours: not this batch's key. */
		refuse(s, "device %s is already registered, and the output directory has no key "
			  "for it",
		       it->id);
		goto out;
	} else if (fsec_key_generate(j->o->key_algo != 0 ? j->o->key_algo : FSEC_KEY_P256, key) !=
			   FSEC_OK ||
		   fsec_key_stage_private(*key, path, &st) != FSEC_OK ||
		   fsec_file_stage_commit(st) != FSEC_OK) {
		refuse_detail(s, "key generation: ");
		goto out;
	}
	if (j->o->want_key_pem &&
	    fsec_file_read(path, 64 * 1024, &s->key_pem, &s->key_pem_len) != FSEC_OK) {
		refuse_detail(s, "");
		goto out;
	}
	ok = true;
out:
	fsec_file_stage_free(st);
	free(path);
	return ok;
}

static bool csr_key(const struct fsec_batch_item *it, struct slot *s, EVP_PKEY **key)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc = fsec_file_read(it->csr_path, FSEC_CSR_MAX, &buf, &len);

	if (rc == FSEC_OK)
		rc = fsec_csr_parse_key(buf, len, key);
	free(buf);
	if (rc != FSEC_OK) {
		char prefix[80];

		snprintf(prefix, sizeof(prefix), "%.60s: ", it->csr_path);
		refuse_detail(s, prefix);
		return false;
	}
	return true;
}

/* Everything about one item that needs no registry write. */
static void work_one(struct job *j, size_t i)
{
	const struct fsec_batch_item *it = &j->items[i];
	struct slot *s = &j->slots[i];
	unsigned char serial[FSEC_SERIAL_LEN];
	EVP_PKEY *key = NULL;

	if (it->refused != NULL)
		return;
	if (!(it->csr_path == NULL ? keygen_key(j, it, s, &key) : csr_key(it, s, &key)))
		goto out;
	if (fsec_key_check_strength(key) != FSEC_OK ||
	    fsec_key_spki_sha256(key, s->spki) != FSEC_OK) {
		refuse_detail(s, "");
		goto out;
	}
	if (s->registered) {
		if (s->reg.status == FSEC_DEVICE_ACTIVE &&
		    strcmp(s->reg.spki_sha256, s->spki) == 0) {
			s->status = FSEC_BATCH_DONE;
			s->reason[0] = '\0';
		}
		else
			refuse(s, "device %s is already registered with another key or revoked",
			       it->id);
		goto out;
	}
	if (fsec_ca_random_serial(serial) != FSEC_OK ||
	    fsec_ca_issue_device(fleet_ca(j->f), key, it->id, j->days, serial, &s->cert) != FSEC_OK ||
	    fsec_issued_cert_pem(&s->cert, &s->pem) != FSEC_OK) {
		refuse_detail(s, "");
		goto out;
	}
	s->record = true;
out:
	EVP_PKEY_free(key);
}

static void *worker(void *arg)
{
	struct job *j = arg;
	size_t i;

	while ((i = atomic_fetch_add(&j->next, 1)) < j->n)
		work_one(j, i);
	/* The error detail is per thread: nothing to hand back. */
	return NULL;
}

/* Run work_one over the chunk on nthreads threads, the caller's included. */
static enum fsec_err run_workers(struct job *j, unsigned nthreads)
{
	pthread_t tid[THREADS_MAX];
	unsigned started = 0;

	atomic_store(&j->next, 0);
	for (unsigned t = 1; t < nthreads && t < THREADS_MAX; t++) {
		if (pthread_create(&tid[started], NULL, worker, j) != 0)
			break; /* fewer threads is slower, not wrong */
		started++;
	}
	worker(j);
	for (unsigned t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	return FSEC_OK;
}

/* Record the chunk's signed items in one transaction. A refusal found here
 * (the ID or key taken since, by an earlier item of the batch or another
 * process) refuses that item only; anything else stops the batch. */
static enum fsec_err record_chunk(struct job *j, time_t now)
{
	struct fsec_registry *reg = fsec_fleet_get_registry(j->f);
	enum fsec_err rc;

	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		return rc;
	for (size_t i = 0; i < j->n; i++) {
		const struct fsec_batch_item *it = &j->items[i];
		struct slot *s = &j->slots[i];
		struct fsec_device_rec dev;

		if (!s->record)
			continue;
		rc = fsec_registry_device_get(reg, it->id, &dev);
		if (rc == FSEC_OK) {
			refuse(s, "device %s was registered while the batch ran", it->id);
			s->record = false;
			continue;
		}
		if (rc != FSEC_ERR_NOTFOUND)
			goto fail;
		rc = fleet_key_check_in_tx(j->f, it->id, s->spki);
		if (rc == FSEC_ERR_POLICY) {
			refuse_detail(s, "");
			s->record = false;
			continue;
		}
		if (rc != FSEC_OK)
			goto fail;
		memset(&dev, 0, sizeof(dev));
		snprintf(dev.id, sizeof(dev.id), "%s", it->id);
		if ((rc = fleet_record_issue(j->f, &dev, false,
					     it->model != NULL ? it->model : "", s->spki, &s->cert,
					     s->pem,
					     it->csr_path == NULL ? "factory-keygen" : "factory-csr",
					     j->o->actor, now, 0)) != FSEC_OK)
			goto fail;
		s->status = FSEC_BATCH_ISSUED;
	}
	if ((rc = fsec_registry_commit(reg)) == FSEC_OK)
		return FSEC_OK;
fail:
	fsec_registry_rollback(reg);
	return rc;
}

/* Write a certificate file: atomic (temporary file, rename), not fsync'd,
 * since every run writes it again. */
static enum fsec_err write_cert(const char *dir, const char *id, const char *pem)
{
	char *path = NULL, *tmp = NULL;
	size_t len = strlen(pem);
	enum fsec_err rc;
	int fd;

	if ((rc = join_path(dir, id, ".pem", &path)) != FSEC_OK ||
	    (rc = join_path(dir, id, ".pem.tmp", &tmp)) != FSEC_OK)
		goto out;
	rc = fsec_seterr(FSEC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rc = fsec_seterr(FSEC_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write(fd, pem, len) != (ssize_t)len) {
		rc = fsec_seterr(FSEC_ERR_IO, "cannot write %s", tmp);
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		rc = fsec_seterr(FSEC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = FSEC_OK;
out:
	free(tmp);
	free(path);
	return rc;
}

static void slot_clear(struct slot *s)
{
	fsec_issued_cert_cleanup(&s->cert);
	free(s->pem);
	if (s->key_pem != NULL)
		OPENSSL_clear_free(s->key_pem, s->key_pem_len);
	memset(s, 0, sizeof(*s));
}

/* After the commit: files and reports, in input order. */
static enum fsec_err report_chunk(struct job *j, size_t base, size_t total, fsec_batch_cb cb,
				  void *ctx)
{
	struct fsec_registry *reg = fsec_fleet_get_registry(j->f);
	enum fsec_err rc = FSEC_OK;

	for (size_t i = 0; i < j->n && rc == FSEC_OK; i++) {
		const struct fsec_batch_item *it = &j->items[i];
		struct slot *s = &j->slots[i];
		struct fsec_batch_result r = {.item = it, .status = s->status,
					      .done = base + i + 1, .total = total};

		if (s->status == FSEC_BATCH_DONE &&
		    (rc = fsec_registry_cert_pem(reg, s->reg.serial, &s->pem)) != FSEC_OK)
			break;
		if (s->status != FSEC_BATCH_REFUSED) {
			r.serial = s->status == FSEC_BATCH_DONE ? s->reg.serial : s->cert.serial;
			r.cert_pem = s->pem;
			r.key_pem = (const char *)s->key_pem;
			r.key_pem_len = s->key_pem_len;
			if (j->o->out_dir != NULL &&
			    (rc = write_cert(j->o->out_dir, it->id, s->pem)) != FSEC_OK)
				break;
		} else {
			r.reason = s->reason;
		}
		if (cb(&r, ctx) != 0)
			rc = fsec_seterr(FSEC_ERR_IO, "the batch's output failed at item %zu",
					 base + i + 1);
	}
	return rc;
}

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > THREADS_MAX ? THREADS_MAX : (unsigned)n;
}

FSEC_API enum fsec_err fsec_fleet_issue_batch(struct fsec_fleet *f,
					      const struct fsec_batch_item *items, size_t n,
					      const struct fsec_batch_opts *o, fsec_batch_cb cb,
					      void *ctx)
{
	size_t chunk = o->chunk != 0 ? o->chunk : CHUNK_DEFAULT;
	unsigned threads = o->threads != 0 ? o->threads : default_threads();
	struct job j = {.f = f, .o = o};
	enum fsec_err rc = FSEC_OK;

	fsec_clearerr();
	if (chunk > CHUNK_MAX || threads > THREADS_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "chunk (at most %d) or threads (at most %d) "
						   "out of range",
				   CHUNK_MAX, THREADS_MAX);
	for (size_t i = 0; i < n; i++)
		if (items[i].csr_path == NULL && items[i].refused == NULL && o->out_dir == NULL)
			return fsec_seterr(FSEC_ERR_INVAL,
					   "key generation needs an output directory: each key is "
					   "written there before its certificate is recorded");
	j.days = o->days != 0 ? o->days : fleet_device_days(f);
	if ((rc = fleet_load_ca(f)) != FSEC_OK)
		return rc;
	/* Fill the issuing certificate's cached extensions (its key ID, read
	 * for every AKI) now, in one thread, so the workers only read it. */
	X509_check_purpose(fsec_ca_get_issuing(fleet_ca(f)), -1, 0);
	if ((j.slots = calloc(chunk < n ? chunk : (n != 0 ? n : 1), sizeof(*j.slots))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	for (size_t base = 0; base < n && rc == FSEC_OK; base += chunk) {
		time_t now = time(NULL);

		j.items = items + base;
		j.n = n - base < chunk ? n - base : chunk;
		for (size_t i = 0; i < j.n && rc == FSEC_OK; i++) {
			struct slot *s = &j.slots[i];

			/* Refused until proven otherwise: only the recording marks an
			 * item issued, and work_one marks it done. */
			refuse(s, "%s", "not processed");
			if (j.items[i].refused != NULL) {
				refuse(s, "%s", j.items[i].refused);
				continue;
			}
			rc = fsec_registry_device_get(fsec_fleet_get_registry(f), j.items[i].id,
						      &s->reg);
			if (rc == FSEC_OK)
				s->registered = true;
			else if (rc == FSEC_ERR_NOTFOUND)
				rc = FSEC_OK;
		}
		if (rc == FSEC_OK && (rc = run_workers(&j, threads)) == FSEC_OK &&
		    (rc = record_chunk(&j, now)) == FSEC_OK)
			rc = report_chunk(&j, base, n, cb, ctx);
		for (size_t i = 0; i < j.n; i++)
			slot_clear(&j.slots[i]);
	}
	free(j.slots);
	return rc;
}
