/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker audit (issue 15): a Mosquitto 2.0 configuration read as the
 * broker reads it, line by line, with `listener` starting a new listener's
 * options and `include_dir` taking the directory's *.conf files in order.
 * What it finds is what lets an unauthenticated or revoked device in: a
 * listener without TLS or without client certificates, anonymous clients,
 * identities taken from certificates without the registry, a CRL that has
 * lapsed (Mosquitto then refuses every device), and the fleetsec plugin
 * configured where Mosquitto 2.0.11 never gives it a tick.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "audit_int.h"
#include "err_int.h"
#include "text_int.h"
#include "fleetsec/fileio.h"

/* Files of one configuration (include_dir entries included), and the
 * largest file read. */
#define BROKER_FILES_MAX 256
#define BROKER_CONF_MAX (1024u * 1024u)
/* A CRL this close to its nextUpdate is a finding (Mosquitto reads it only
 * at start and on SIGHUP, so a refresh on disk does not help until then). */
#define CRL_WARN_SECONDS (2 * 86400)

struct listener {
	char where[FSEC_AUDIT_SUBJECT_MAX]; /* "FILE" of its listener line */
	unsigned line;
	char port[16];
	bool tls, require_cert, identity, websockets;
	char crlfile[512];
	unsigned crl_line;
	char crl_where[FSEC_AUDIT_SUBJECT_MAX];
};

struct broker {
	struct fsec_audit *a;
	struct listener *ls;
	size_t n, cap;
	bool per_listener, fleetsec_plugin, any_plugin;
	char plugin_where[FSEC_AUDIT_SUBJECT_MAX];
	unsigned plugin_line;
	size_t files;
};

static struct listener *cur(struct broker *b)
{
	return &b->ls[b->n - 1];
}

static enum fsec_err new_listener(struct broker *b, const char *where, unsigned line,
				  const char *port)
{
	struct listener *l;

	if (b->n == b->cap) {
		size_t cap = b->cap == 0 ? 4 : b->cap * 2;
		struct listener *nl = reallocarray(b->ls, cap, sizeof(*nl));

		if (nl == NULL)
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		b->ls = nl;
		b->cap = cap;
	}
	l = &b->ls[b->n++];
	memset(l, 0, sizeof(*l));
	snprintf(l->where, sizeof(l->where), "%s", where);
	l->line = line;
	snprintf(l->port, sizeof(l->port), "%s", port);
	return FSEC_OK;
}

/* The options of a listener (mosquitto.conf(5), "Listeners"); the others
 * are global. */
static bool listener_option(const char *key)
{
	static const char *const keys[] = {
		"port", "bind_address", "bind_interface", "certfile", "keyfile", "cafile",
		"capath", "require_certificate", "use_identity_as_username",
		"use_subject_as_username", "crlfile", "protocol", "psk_hint", "tls_version",
		"ciphers", "socket_domain", "mount_point", "max_connections",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

static bool is_true(const char *v)
{
	return strcmp(v, "true") == 0;
}

static enum fsec_err read_conf(struct broker *b, const char *path, int depth);

/* include_dir: its *.conf files in alphabetical order, as Mosquitto does. */
static enum fsec_err include_dir(struct broker *b, const char *dir, int depth)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	enum fsec_err rc = FSEC_OK;

	if (n < 0)
		return fsec_seterr(FSEC_ERR_IO, "include_dir %s: cannot read it", dir);
	for (int i = 0; i < n; i++) {
		size_t len = strlen(names[i]->d_name);
		char *p = NULL;

		if (rc == FSEC_OK && len > 5 && strcmp(names[i]->d_name + len - 5, ".conf") == 0) {
			if (asprintf(&p, "%s/%s", dir, names[i]->d_name) < 0)
				rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			else
				rc = read_conf(b, p, depth + 1);
			free(p);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* One line's option, in the listener it belongs to. */
static enum fsec_err option(struct broker *b, const char *path, unsigned line, const char *key,
			    const char *val, int depth)
{
	if (strcmp(key, "listener") == 0) {
		char port[16];

		snprintf(port, sizeof(port), "%.*s", (int)strcspn(val, " \t"), val);
		return new_listener(b, path, line, port);
	}
	if (strcmp(key, "include_dir") == 0)
		return include_dir(b, val, depth);
	if (strcmp(key, "per_listener_settings") == 0) {
		b->per_listener = is_true(val);
		return FSEC_OK;
	}
	if (strcmp(key, "plugin") == 0 || strcmp(key, "auth_plugin") == 0) {
		b->any_plugin = true;
		if (strstr(val, "fleetsec_mosquitto") != NULL) {
			b->fleetsec_plugin = true;
			snprintf(b->plugin_where, sizeof(b->plugin_where), "%s", path);
			b->plugin_line = line;
		}
		return FSEC_OK;
	}
	if (strcmp(key, "allow_anonymous") == 0 && is_true(val))
		return fsec_audit_add(b->a, "BROKER-ANONYMOUS", path, line,
				      "allow_anonymous true: clients connect without any credential");
	if (!listener_option(key))
		return FSEC_OK;
	/* A listener's option before the first `listener` line is the default
	 * listener's (port 1883 unless `port` says otherwise). */
	if (b->n == 0) {
		enum fsec_err rc = new_listener(b, path, line, "1883");

		if (rc != FSEC_OK)
			return rc;
	}
	if (strcmp(key, "port") == 0) {
		snprintf(cur(b)->port, sizeof(cur(b)->port), "%.*s", (int)strcspn(val, " \t"), val);
	} else if (strcmp(key, "certfile") == 0 || strcmp(key, "psk_hint") == 0) {
		cur(b)->tls = true;
	} else if (strcmp(key, "require_certificate") == 0) {
		cur(b)->require_cert = is_true(val);
	} else if (strcmp(key, "use_identity_as_username") == 0 ||
		   strcmp(key, "use_subject_as_username") == 0) {
		cur(b)->identity = cur(b)->identity || is_true(val);
	} else if (strcmp(key, "protocol") == 0) {
		cur(b)->websockets = strcmp(val, "websockets") == 0;
	} else if (strcmp(key, "crlfile") == 0) {
		snprintf(cur(b)->crlfile, sizeof(cur(b)->crlfile), "%s", val);
		snprintf(cur(b)->crl_where, sizeof(cur(b)->crl_where), "%s", path);
		cur(b)->crl_line = line;
	}
	return FSEC_OK;
}

static enum fsec_err read_conf(struct broker *b, const char *path, int depth)
{
	unsigned char *buf = NULL;
	char *cur_line, *next;
	size_t len = 0;
	unsigned line = 0;
	enum fsec_err rc;

	/* Mosquitto refuses deeper nesting too; a loop would never end. */
	if (depth > 2)
		return fsec_seterr(FSEC_ERR_INVAL, "%s: include_dir nested too deep", path);
	if (++b->files > BROKER_FILES_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "more than %d configuration files",
				   BROKER_FILES_MAX);
	if ((rc = fsec_file_read(path, BROKER_CONF_MAX, &buf, &len)) != FSEC_OK)
		return fsec_seterr(rc, "%s: %s", path, fsec_err_detail());
	if (memchr(buf, '\0', len) != NULL) {
		free(buf);
		return fsec_seterr(FSEC_ERR_PARSE, "%s: not a text file (a NUL byte)", path);
	}
	for (cur_line = (char *)buf; cur_line != NULL && rc == FSEC_OK; cur_line = next) {
		char *s, *val;

		next = strchr(cur_line, '\n');
		if (next != NULL)
			*next++ = '\0';
		line++;
		s = fsec_text_trim(cur_line);
		if (*s == '\0' || *s == '#')
			continue;
		val = s + strcspn(s, " \t");
		if (*val != '\0')
			*val++ = '\0';
		rc = option(b, path, line, s, fsec_text_trim(val), depth);
	}
	free(buf);
	return rc;
}

/* The CRL's nextUpdate, or why it has none we can read. */
static enum fsec_err check_crl(struct broker *b, const struct listener *l, int64_t now)
{
	BIO *bio = BIO_new_file(l->crlfile, "r");
	X509_CRL *crl = bio != NULL ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
	const ASN1_TIME *next = crl != NULL ? X509_CRL_get0_nextUpdate(crl) : NULL;
	struct tm tm;
	int64_t at;
	char when[32];
	enum fsec_err rc;

	ERR_clear_error();
	if (next == NULL || !ASN1_TIME_to_tm(next, &tm)) {
		rc = fsec_audit_add(b->a, "BROKER-CRL-EXPIRED", l->crl_where, l->crl_line,
				     "crlfile %s: %s", l->crlfile,
				     bio == NULL   ? "cannot be read: the broker does not start"
				     : crl == NULL ? "not a PEM CRL: the broker does not start"
						   : "no nextUpdate");
		goto out;
	}
	at = (int64_t)timegm(&tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (at <= now)
		rc = fsec_audit_add(b->a, "BROKER-CRL-EXPIRED", l->crl_where, l->crl_line,
				     "crlfile %s expired at %s: the broker refuses every client "
				     "certificate",
				     l->crlfile, when);
	else if (at - now <= CRL_WARN_SECONDS)
		rc = fsec_audit_add(b->a, "BROKER-CRL-EXPIRING", l->crl_where, l->crl_line,
				     "crlfile %s expires at %s; the broker reads a new one only "
				     "on SIGHUP",
				     l->crlfile, when);
	else
		rc = FSEC_OK;
out:
	X509_CRL_free(crl);
	BIO_free(bio);
	return rc;
}

FSEC_API enum fsec_err fsec_audit_broker(const char *const *paths, size_t n, int64_t now,
					 struct fsec_audit *a)
{
	enum fsec_err rc = FSEC_OK;

	for (size_t i = 0; i < n && rc == FSEC_OK; i++) {
		struct broker b = {.a = a};

		rc = read_conf(&b, paths[i], 0);
		if (rc == FSEC_OK && b.n == 0)
			rc = fsec_audit_add(a, "BROKER-NO-TLS", paths[i], 0,
					    "no listener: Mosquitto 2.0 listens on localhost:1883 "
					    "without TLS");
		for (size_t k = 0; k < b.n && rc == FSEC_OK; k++) {
			const struct listener *l = &b.ls[k];

			if (!l->tls)
				rc = fsec_audit_add(a, "BROKER-NO-TLS", l->where, l->line,
						    "listener %s has no certfile: MQTT in cleartext",
						    l->port);
			else if (!l->require_cert)
				rc = fsec_audit_add(a, "BROKER-NO-CLIENT-CERT", l->where, l->line,
						    "listener %s does not set require_certificate true",
						    l->port);
			if (rc == FSEC_OK && l->identity)
				rc = fsec_audit_add(
					a, "BROKER-IDENTITY-USERNAME", l->where, l->line,
					"listener %s takes the username from the certificate: "
					"Mosquitto then skips the plugins' authentication, so "
					"the registry is never asked",
					l->port);
			if (rc == FSEC_OK && l->tls && l->require_cert && !b.fleetsec_plugin &&
			    l->crlfile[0] == '\0')
				rc = fsec_audit_add(a, "BROKER-NO-REVOCATION", l->where, l->line,
						    "listener %s: no crlfile and no fleetsec plugin: a "
						    "revoked device still connects",
						    l->port);
			if (rc == FSEC_OK && l->crlfile[0] != '\0')
				rc = check_crl(&b, l, now);
		}
		if (rc == FSEC_OK && b.fleetsec_plugin && b.per_listener)
			rc = fsec_audit_add(a, "BROKER-NO-TICKS", b.plugin_where, b.plugin_line,
					    "per_listener_settings true: Mosquitto 2.0.11 gives "
					    "plugins no tick, so revocations reach connected devices "
					    "only on SIGHUP");
		free(b.ls);
	}
	return rc;
}
