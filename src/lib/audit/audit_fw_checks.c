/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Firmware audit: checks on the files of a root filesystem. The walker
 * (audit_fw_scan.c: a directory or a tar archive) hands each regular file to
 * fsec_audit_fw_file() and each symlink to fsec_audit_fw_link(); those decide
 * by path what to look for.
 * Content checks are memmem() passes for rare needles over the whole file
 * (private keys) and line passes over configuration files only, which keeps
 * the scan near memory bandwidth on binaries.
 */
#include <crypt.h>
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "audit_fw_int.h"
#include "err_int.h"

#define LINE_MAX_EVAL 1024      /* longer lines are judged on their first bytes */
#define FINDINGS_PER_FILE 32    /* a hostile file cannot flood the report */
#define HASHED_ACCOUNTS_MAX 32  /* crypt(3) calls per file are bounded too */
#define KEYS_MAX 65536
#define KEY_BODY_MAX (64u * 1024u) /* an RSA-16384 PEM is about 13 KiB */

/* Vendor defaults and the Mirai botnet's dictionary (2016 source release). */
const char *const fsec_audit_default_passwords[] = {
	"admin", "root", "1234", "password", "default", "12345", "123456", "54321", "1111",
	"1111111", "666666", "888888", "00000000", "xc3511", "vizxv", "xmhdipc", "juantech",
	"support", "user", "pass", "admin1234", "smcadmin", "klv123", "klv1234", "service",
	"supervisor", "guest", "ubnt", "Zte521", "hi3518", "jvbzd", "anko", "zlxx.",
	"7ujMko0vizxv", "7ujMko0admin", "system", "ikwb", "dreambox", "realtek", "meinsm", "tech",
	"toor", "changeme", "12345678", "raspberry", "admin123", "",  NULL};
const char *const fsec_audit_default_users[] = {
	"admin", "root", "user", "support", "guest", "ubnt", "service", "supervisor", "tech",
	"administrator", "Administrator", "admin1", NULL};

/* ---- key digests for --across ---- */

static enum fsec_err remember_key(struct fw_state *st, const unsigned char digest[32],
				  const char *path)
{
	struct key_list *kl = st->keys;
	struct key_seen *k;

	if (kl == NULL)
		return FSEC_OK;
	if (kl->n == kl->cap) {
		size_t ncap = kl->cap == 0 ? 16 : kl->cap * 2;
		struct key_seen *v;

		if (ncap > KEYS_MAX)
			return FSEC_OK; /* a bound, not an error: the per-image findings stand */
		v = realloc(kl->v, ncap * sizeof(*v));
		if (v == NULL)
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		kl->v = v;
		kl->cap = ncap;
	}
	k = &kl->v[kl->n++];
	memcpy(k->digest, digest, 32);
	k->image = kl->image;
	snprintf(k->path, sizeof(k->path), "%s%s%s", st->image != NULL ? st->image : "",
		 st->image != NULL ? ":" : "", path);
	return FSEC_OK;
}

/* ---- helpers ---- */

/* Subject for a finding: "IMAGE:path" in multi-image audits. */
const char *fsec_audit_fw_subject(const struct fw_state *st, const char *path, char *buf,
				  size_t cap)
{
	if (st->image == NULL)
		return path;
	snprintf(buf, cap, "%s:%s", st->image, path);
	return buf;
}

struct file_ctx {
	struct fsec_audit *a;
	struct fw_state *st;
	const char *path;
	char subject[FSEC_AUDIT_SUBJECT_MAX + 1];
	unsigned findings;
};

static enum fsec_err add(struct file_ctx *fc, const char *check, unsigned line,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One finding about the current file; past FINDINGS_PER_FILE they stop. */
static enum fsec_err add(struct file_ctx *fc, const char *check, unsigned line,
			 const char *fmt, ...)
{
	char ev[FSEC_AUDIT_EVIDENCE_MAX + 1];
	va_list ap;

	if (fc->findings >= FINDINGS_PER_FILE)
		return FSEC_OK;
	fc->findings++;
	va_start(ap, fmt);
	vsnprintf(ev, sizeof(ev), fmt, ap);
	va_end(ap);
	return fsec_audit_add(fc->a, check, fc->subject, line, "%s", ev);
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static bool has_suffix(const char *s, const char *p)
{
	size_t n = strlen(s), m = strlen(p);

	return n >= m && strcmp(s + n - m, p) == 0;
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b != NULL ? b + 1 : path;
}

/* A shared or static library by its name (libX.so, libX.so.N, libX.a). */
static bool is_library(const char *path)
{
	const char *b = base_name(path);

	return has_prefix(b, "lib") && (strstr(b, ".so") != NULL || has_suffix(b, ".a"));
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* Copy one line (without its newline, at most LINE_MAX_EVAL bytes) into
 * out; returns the offset after the line. */
static size_t next_line(const unsigned char *buf, size_t len, size_t off, char *out,
			size_t cap)
{
	const unsigned char *nl = memchr(buf + off, '\n', len - off);
	size_t end = nl != NULL ? (size_t)(nl - buf) : len;
	size_t n = end - off;

	if (n >= cap)
		n = cap - 1;
	memcpy(out, buf + off, n);
	out[n] = '\0';
	/* A NUL inside the line would hide the rest from string functions.
	 * memchr, not a loop: this runs on every line of every file. */
	for (char *c = out; (c = memchr(c, '\0', (size_t)(out + n - c))) != NULL;)
		*c++ = ' ';
	for (char *c = out; (c = memchr(c, '\r', (size_t)(out + n - c))) != NULL;)
		*c++ = ' ';
	return nl != NULL ? end + 1 : len;
}

static bool is_comment(const char *line)
{
	line += strspn(line, " \t");
	return line[0] == '#' || line[0] == ';' || (line[0] == '/' && line[1] == '/');
}

/* Split a line into tokens at whitespace and shell/inittab punctuation, and
 * give each token's base name (after the last '/'). At most max tokens. */
static size_t tokens(char *line, char **tok, size_t max)
{
	size_t n = 0;

	for (char *p = line; *p != '\0' && n < max;) {
		p += strspn(p, " \t:;\"'=()&|<>,`");
		if (*p == '\0')
			break;
		tok[n] = p;
		p += strcspn(p, " \t:;\"'=()&|<>,`");
		if (*p != '\0')
			*p++ = '\0';
		if (strrchr(tok[n], '/') != NULL && strrchr(tok[n], '/')[1] != '\0')
			tok[n] = strrchr(tok[n], '/') + 1;
		n++;
	}
	return n;
}

/* ---- credentials ---- */

/* crypt(3) is only asked about settings whose cost is bounded: an image
 * can name a hash with a billion rounds, and the audit must finish. */
static bool hash_cost_ok(const char *h)
{
	const char *r;

	if (strlen(h) == 13 && strspn(h, "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == 13)
		return true; /* traditional DES */
	if (has_prefix(h, "$1$"))
		return true;
	if (has_prefix(h, "$5$") || has_prefix(h, "$6$")) {
		if ((r = strstr(h, "rounds=")) == NULL)
			return true;
		return strspn(r + 7, "0123456789") <= 5 && strtol(r + 7, NULL, 10) <= 20000;
	}
	if (has_prefix(h, "$2a$") || has_prefix(h, "$2b$") || has_prefix(h, "$2y$"))
		return isdigit((unsigned char)h[4]) && isdigit((unsigned char)h[5]) &&
		       (h[4] - '0') * 10 + (h[5] - '0') <= 10;
	/* yescrypt at the distribution default cost ("j9T") only. */
	return has_prefix(h, "$y$j9T$");
}

/* If hash matches a default password, the password; else NULL. */
static const char *default_password(struct crypt_data *cd, const char *hash)
{
	for (size_t i = 0; fsec_audit_default_passwords[i] != NULL; i++) {
		const char *pw = fsec_audit_default_passwords[i];
		const char *out;

		if (pw[0] == '\0')
			continue;
		memset(cd, 0, sizeof(*cd));
		out = crypt_rn(pw, hash, cd, sizeof(*cd));
		if (out != NULL && out[0] != '*' && strlen(out) == strlen(hash) &&
		    CRYPTO_memcmp(out, hash, strlen(hash)) == 0)
			return pw;
	}
	return NULL;
}

/* /etc/passwd and /etc/shadow: name:password:... per line. In passwd "x"
 * defers to shadow; "*" and "!" lock an account (a "!" before a hash too). */
static enum fsec_err check_accounts(struct file_ctx *fc, const unsigned char *buf, size_t len)
{
	struct crypt_data *cd = NULL;
	enum fsec_err rc = FSEC_OK;
	char line[LINE_MAX_EVAL + 1], ev[160];
	unsigned lineno = 0, hashed = 0;
	bool shadow = has_suffix(fc->path, "shadow");

	for (size_t off = 0; off < len && rc == FSEC_OK;) {
		char *name, *pw, *colon;

		off = next_line(buf, len, off, line, sizeof(line));
		lineno++;
		if (line[0] == '\0' || line[0] == '#' || (colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		name = line;
		pw = colon + 1;
		if ((colon = strchr(pw, ':')) == NULL)
			continue;
		*colon = '\0';
		if (pw[0] == '\0') {
			snprintf(ev, sizeof(ev), "account '%.40s' has an empty password field", name);
			rc = add(fc, "FW-CRED-EMPTY", lineno, "%s", ev);
			continue;
		}
		if (pw[0] == '*' || pw[0] == '!' || (!shadow && strcmp(pw, "x") == 0))
			continue;
		if (hashed >= HASHED_ACCOUNTS_MAX || !hash_cost_ok(pw))
			continue;
		hashed++;
		if (cd == NULL && (cd = calloc(1, sizeof(*cd))) == NULL) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			break;
		}
		const char *def = default_password(cd, pw);

		if (def != NULL) {
			snprintf(ev, sizeof(ev), "account '%.40s' has the default password '%s'", name,
				 def);
			rc = add(fc, "FW-CRED-DEFAULT", lineno, "%s", ev);
		}
	}
	if (cd != NULL)
		OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return rc;
}

/* busybox httpd.conf "/path:user:password" lines with a default password
 * stored in the clear (or an empty one). */
static enum fsec_err check_httpd_conf(struct file_ctx *fc, const unsigned char *buf, size_t len)
{
	char line[LINE_MAX_EVAL + 1], ev[160];
	unsigned lineno = 0;
	enum fsec_err rc = FSEC_OK;

	for (size_t off = 0; off < len && rc == FSEC_OK;) {
		char *user, *pw;

		off = next_line(buf, len, off, line, sizeof(line));
		lineno++;
		if (line[0] != '/' || (user = strchr(line, ':')) == NULL ||
		    (pw = strchr(user + 1, ':')) == NULL)
			continue;
		*pw++ = '\0';
		user++;
		if (has_prefix(pw, "$"))
			continue; /* hashed: not judged here */
		if (in_list(pw, fsec_audit_default_passwords)) {
			snprintf(ev, sizeof(ev), "HTTP user '%.40s' has the default password '%.20s'",
				 user, pw);
			rc = add(fc, "FW-CRED-DEFAULT", lineno, "%s", ev);
		}
	}
	return rc;
}

/* ---- private keys ---- */

/* A big-endian length-prefixed field of an OpenSSH key blob. */
static bool ssh_field(const unsigned char **p, const unsigned char *end, const unsigned char **f,
		      size_t *n)
{
	size_t len;

	if (end - *p < 4)
		return false;
	len = (size_t)(*p)[0] << 24 | (size_t)(*p)[1] << 16 | (size_t)(*p)[2] << 8 | (*p)[3];
	*p += 4;
	/* The length comes from the file: checked against what is left. */
	if (len > (size_t)(end - *p))
		return false;
	*f = *p;
	*n = len;
	*p += len;
	return true;
}

/* An "OPENSSH PRIVATE KEY" body (base64 without whitespace, in b64/n):
 * true for a real openssh-key-v1 key, with its type, size and cipher in
 * out. OpenSSL has no decoder for this format. */
static bool openssh_key(const unsigned char *b64, size_t n, char *out, size_t cap)
{
	static const char magic[] = "openssh-key-v1";
	unsigned char *raw = NULL;
	const unsigned char *p, *end, *cipher, *kdf, *opts, *pub, *type, *q, *pend, *e, *mod;
	size_t clen, klen, olen, plen, tlen, elen, mlen;
	unsigned long bits = 0;
	int len;
	bool real = false;

	if (n == 0 || n % 4 != 0 || n > KEY_BODY_MAX || (raw = malloc(n / 4 * 3 + 1)) == NULL)
		goto out;
	if ((len = EVP_DecodeBlock(raw, b64, (int)n)) < (int)sizeof(magic))
		goto out;
	p = raw;
	end = raw + len;
	if (memcmp(p, magic, sizeof(magic)) != 0) /* with its NUL */
		goto out;
	p += sizeof(magic);
	if (!ssh_field(&p, end, &cipher, &clen) || !ssh_field(&p, end, &kdf, &klen) ||
	    !ssh_field(&p, end, &opts, &olen) || end - p < 4)
		goto out;
	p += 4; /* number of keys */
	if (!ssh_field(&p, end, &pub, &plen))
		goto out;
	q = pub;
	pend = pub + plen;
	if (!ssh_field(&q, pend, &type, &tlen) || tlen == 0 || tlen > 40)
		goto out;
	if (tlen == 11 && memcmp(type, "ssh-ed25519", 11) == 0) {
		bits = 256;
	} else if (tlen > 19 && memcmp(type, "ecdsa-sha2-nistp", 16) == 0) {
		bits = strtoul((const char *)type + 16, NULL, 10) % 1024;
	} else if (tlen == 7 && memcmp(type, "ssh-rsa", 7) == 0 && ssh_field(&q, pend, &e, &elen) &&
		   ssh_field(&q, pend, &mod, &mlen)) {
		while (mlen > 0 && mod[0] == 0) {
			mod++;
			mlen--;
		}
		bits = mlen * 8;
		for (unsigned char top = mlen > 0 ? mod[0] : 0x80; top < 0x80; top <<= 1)
			bits--;
	}
	if (clen == 4 && memcmp(cipher, "none", 4) == 0)
		snprintf(out, cap, "OpenSSH %.*s %lu-bit private key", (int)tlen, (const char *)type,
			 bits);
	else
		snprintf(out, cap, "OpenSSH %.*s %lu-bit private key, encrypted (%.*s, kdf %.*s)",
			 (int)tlen, (const char *)type, bits, (int)(clen < 32 ? clen : 32),
			 (const char *)cipher, (int)(klen < 16 ? klen : 16), (const char *)kdf);
	real = true;
out:
	free(raw);
	return real;
}

/* Private keys that are published test vectors, by their public half:
 * every copy of the library carries them for its power-on self-tests, so
 * they protect nothing of the device. (Taken with `openssl pkey -pubout`
 * from the PEM blocks in Debian 12's libgnutls.so.30.) */
static const struct {
	const char *what, *pem;
} published_keys[] = {
	{"GnuTLS self-test key", /* EC P-256 */
	 "-----BEGIN PUBLIC KEY-----\n"
	 "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2CNONRio3ciuXtoomJKs3MdbzLbd\n"
	 "44VPhtzJN30VLFm5gvnfiCj2zzz7pl9Cv0ECHl6yedNI8QEKdcwCDgEmkQ==\n"
	 "-----END PUBLIC KEY-----\n"},
	{"GnuTLS self-test key", /* DSA 2048 */
	 "-----BEGIN PUBLIC KEY-----\n"
	 "MIIDQjCCAjUGByqGSM44BAEwggIoAoIBAQCHrQHrI8xEhPu52raQq7CdAOiG9PVT\n"
	 "TD5ElxKvbcLTlwz86+dQ//xGuPpPwr65iExsqAtpmIklb2rTiNo9CTRx9SmFsu9G\n"
	 "PNUfAT/QGRv5jVG/ueImi3YgUyrmK42tp/zz08LRZES8UJwiRIVjYBzhZPuYJwG1\n"
	 "/H+toYVcNSNxSsnQfBkg6GNAN9xdSzO27JixgDvmhyIRjyTINmr+LHKvn75HVWM1\n"
	 "/fRF7wBtCVc4QbEQ3m235O+mrwrkvemtCzYo1LPI5SZ52Nv+iMfhPip79Ev0RWON\n"
	 "64gYcM1RPoXX3vJn3XKostN/VaOdTJlwqKPmuvJfQskEFZrARmM1IdlrAh0AxCXL\n"
	 "JyJrg2KAJ2INH5Cm1SfbGuP2jXh9eQitdwKCAQBdFmbWts+GyNJOjpykJWuYPM7W\n"
	 "Cu/zcQeIEfgy9FBCc/wWkBESwEDlxiO73te8touGKhl4yMufTyRTtNRsdFQH5QtO\n"
	 "5W8TZ1BsGka4qItFG33pTZPR4PfEYugz6jwRj+SmppYYSlm/uHMz3G6ji/Lnn6+I\n"
	 "BmAVZQuqaW3B8b/vDtU1dQc2/kfginD/99IMtM+rNSU2pJKzAMvPqkKNYSzStYCo\n"
	 "0Axo6ItPPiJ32kvjw56gB+lxBH22BMSfDJd9kGeslVyUeGQcoZ5e9TTkiALOko7v\n"
	 "pnlH4HLnRPSL8lXu/MyXbJL1oCX9ymtPpTvIjehT9uWV0JU2kxwUAVv587wMA4IB\n"
	 "BQACggEAVTKPMabcr0DiXkr2zkkmHSdyIiP9BnZHBll25VoPc+5qz2lhJ0+zqrhJ\n"
	 "v/r2LVndxhw7cjTPo87DeF4I3Ey9wBHdoS4qMyUNQRSsNuVVNPFBwGE81MWYTuFc\n"
	 "LZqeOisI/GCw0NzR0VggcaQ0EX24hb8lz/ql2qeqZTH68nZ1A9ZmnvyUjljmIHQe\n"
	 "7RSHobLS8VV8f3AJ48IBVNNw34K47GnfdswNR3PcCI27IAEHU0eQ1pxUZEbd1LWs\n"
	 "gcKMqpukHHmR7L9TQBr5EOIqJ2xI5B5IxfWApEff67KUfHC4IUSFzIzqcqbkm2kT\n"
	 "3nlqtID9lDsRS/3d4lh9BE6/y5E5Qg==\n"
	 "-----END PUBLIC KEY-----\n"},
	{"GnuTLS self-test key", /* RSA 2048 */
	 "-----BEGIN PUBLIC KEY-----\n"
	 "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA6yCv+BLrRP/dMPBXJWK2\n"
	 "1c0aqxIX6JkODL4K+zlyEURt8/Wpnw37CJwHD3VrimSnk2SJvBfTNhzYhCsLShDO\n"
	 "Pvi4qBrLZ1WozjoVJ8tRE4VCcjQJsnpJ7ldiV+Eos1Z3FkbV/uQcw5CYCb/TciSu\n"
	 "kaWlI+G/xas9EOOFt4aELbc1yDe0hyfPDtoaKfek4GhT9qT1I8pTC40P9OrA9Jt8\n"
	 "lblqxHWwqmdunLTjPjB5zJT6QgI+j1xuq7ZOQhveNA/AOyzh574GIpgsuvPPLBQw\n"
	 "sCQkscr7cFnCsyOPgYJrQW3De2+lwjp2D7gZeeQcFQKazXcFoiqNpJWoBWmU0qqs\n"
	 "gwIDAQAB\n"
	 "-----END PUBLIC KEY-----\n"},
};

#define PUBLISHED_N (sizeof(published_keys) / sizeof(published_keys[0]))

/* The published keys, decoded once per thread: comparing public halves is
 * cheap, while encoding each key found to hash it cost an encoder context
 * per key. */
static _Thread_local EVP_PKEY *published_pkeys[PUBLISHED_N];
static _Thread_local bool published_loaded;

static void cache_arm(void);

/* The published_keys name of k, or NULL. */
static const char *published_key(EVP_PKEY *k)
{
	if (!published_loaded) {
		cache_arm();
		for (size_t i = 0; i < PUBLISHED_N; i++) {
			BIO *b = BIO_new_mem_buf(published_keys[i].pem, -1);

			published_pkeys[i] = b != NULL ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL)
						       : NULL;
			BIO_free(b);
		}
		published_loaded = true;
	}
	for (size_t i = 0; i < PUBLISHED_N; i++)
		if (published_pkeys[i] != NULL && EVP_PKEY_eq(k, published_pkeys[i]) == 1)
			return published_keys[i].what;
	return NULL;
}

/*
 * OpenSSL 3.0 builds a decoder context (every matching decoder of every
 * provider) in about a millisecond, far longer than decoding the key; a
 * root filesystem or a fuzzer reads thousands of keys. So one context per
 * input structure and key type is kept for the thread's life and used
 * again (OpenSSL 3.2 keeps such a cache itself). A decode writes its key
 * through the pointer the context was made with, slot->k, which the caller
 * takes at once.
 */
#define DECODER_SLOTS 8

struct decoder_slot {
	char structure[16], keytype[64];
	OSSL_DECODER_CTX *ctx;
	EVP_PKEY *k;
};

static _Thread_local struct decoder_slot decoders[DECODER_SLOTS];
static _Thread_local unsigned decoders_next;

/* Both caches live as long as their thread: a thread that scanned frees
 * them when it ends (a key destructor runs in the exiting thread, before
 * its thread-local storage goes), so a program that scans in worker
 * threads does not leak a set per thread. */
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_key_ok;

static void cache_free(void *unused)
{
	(void)unused;
	for (size_t i = 0; i < PUBLISHED_N; i++) {
		EVP_PKEY_free(published_pkeys[i]);
		published_pkeys[i] = NULL;
	}
	published_loaded = false;
	for (size_t i = 0; i < DECODER_SLOTS; i++) {
		OSSL_DECODER_CTX_free(decoders[i].ctx);
		EVP_PKEY_free(decoders[i].k);
		memset(&decoders[i], 0, sizeof(decoders[i]));
	}
}

static void cache_key_make(void)
{
	cache_key_ok = pthread_key_create(&cache_key, cache_free) == 0;
}

/* This thread is about to fill a cache: its end frees them. */
static void cache_arm(void)
{
	pthread_once(&cache_once, cache_key_make);
	if (cache_key_ok)
		(void)pthread_setspecific(cache_key, &cache_key);
}

static struct decoder_slot *decoder_for(const char *structure, const char *keytype)
{
	const char *st = structure != NULL ? structure : "", *kt = keytype != NULL ? keytype : "";
	struct decoder_slot *d;

	for (size_t i = 0; i < DECODER_SLOTS; i++) {
		d = &decoders[i];
		if (d->ctx != NULL && strcmp(d->structure, st) == 0 && strcmp(d->keytype, kt) == 0)
			return d;
	}
	if (strlen(st) >= sizeof(d->structure) || strlen(kt) >= sizeof(d->keytype))
		return NULL;
	cache_arm();
	d = &decoders[decoders_next++ % DECODER_SLOTS];
	OSSL_DECODER_CTX_free(d->ctx);
	EVP_PKEY_free(d->k);
	d->k = NULL;
	snprintf(d->structure, sizeof(d->structure), "%s", st);
	snprintf(d->keytype, sizeof(d->keytype), "%s", kt);
	/* No passphrase callback: keys in an image are never unlocked. */
	d->ctx = OSSL_DECODER_CTX_new_for_pkey(&d->k, "DER", structure, keytype, EVP_PKEY_KEYPAIR,
					       NULL, NULL);
	return d->ctx != NULL ? d : NULL;
}

/* The key in DER der, decoded as its PEM label says: one input structure
 * and, where the label or the PKCS#8 algorithm says, one key type, rather
 * than PEM_read_bio_PrivateKey()'s every structure and type. */
static EVP_PKEY *decode_private_key(const char *label, const unsigned char *der, long dlen)
{
	const char *structure = NULL, *keytype = NULL;
	char oid[64];
	PKCS8_PRIV_KEY_INFO *p8inf = NULL;
	struct decoder_slot *d;
	EVP_PKEY *k = NULL;
	const unsigned char *q = der;
	size_t left;
	int ok;

	if (dlen <= 0)
		return NULL;
	if (strcmp(label, "PRIVATE KEY") == 0) {
		const ASN1_OBJECT *alg = NULL;

		/* A cheap structural parse first: most blocks that are not a
		 * key stop here, and the algorithm names the one key type. */
		if ((p8inf = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, dlen)) == NULL ||
		    q != der + dlen || PKCS8_pkey_get0(&alg, NULL, NULL, NULL, p8inf) != 1 ||
		    OBJ_obj2txt(oid, sizeof(oid), alg, 1) <= 0)
			goto out;
		structure = "PrivateKeyInfo";
		keytype = oid;
	} else if (strcmp(label, "RSA PRIVATE KEY") == 0) {
		structure = "type-specific";
		keytype = "RSA";
	} else if (strcmp(label, "EC PRIVATE KEY") == 0) {
		structure = "type-specific";
		keytype = "EC";
	} else if (strcmp(label, "DSA PRIVATE KEY") == 0) {
		structure = "type-specific";
		keytype = "DSA";
	}
	if ((d = decoder_for(structure, keytype)) == NULL)
		goto out;
	left = (size_t)dlen;
	q = der;
	ok = OSSL_DECODER_from_data(d->ctx, &q, &left);
	k = d->k;
	d->k = NULL;
	if (ok != 1 || left != 0 || k == NULL || EVP_PKEY_get0_type_name(k) == NULL) {
		EVP_PKEY_free(k);
		k = NULL;
	}
out:
	PKCS8_PRIV_KEY_INFO_free(p8inf);
	return k;
}

/* Whether the PEM block blk (n bytes, from "-----BEGIN " to the end of its
 * END line) is an actual private key, decoded by OpenSSL, and if so what
 * (type, size; or, for an encrypted one, how it is sealed) in out. A label
 * with no key behind it (the strings a TLS library's PEM parser compiles
 * in) is not. b64/b64n: the body without whitespace, for OpenSSH keys. */
static bool key_describe(const unsigned char *blk, size_t n, const char *label,
			 const unsigned char *b64, size_t b64n, char *out, size_t cap,
			 const char **published)
{
	BIO *bio = NULL;
	EVP_PKEY *k = NULL;
	X509_SIG *p8 = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	const unsigned char *q;
	long dlen = 0;
	bool real = false;

	if (strcmp(label, "OPENSSH PRIVATE KEY") == 0)
		return openssh_key(b64, b64n, out, cap);
	if (n > INT_MAX || (bio = BIO_new_mem_buf(blk, (int)n)) == NULL) {
		/* Cannot look: reported as found, never dropped. */
		snprintf(out, cap, "%s block (not decoded)", label);
		return true;
	}
	/* Base64 and the headers once; every question below is about data. */
	if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1 || dlen <= 0)
		goto out;
	/* A legacy PEM key sealed with a passphrase names its cipher in its
	 * headers; its type and size stay sealed. (Its passphrase is usually
	 * in the image too, so it is still a key in the image.) */
	if (strstr(header, "ENCRYPTED") != NULL) {
		EVP_CIPHER_INFO ci;

		if (PEM_get_EVP_CIPHER_INFO(header, &ci) == 1 && ci.cipher != NULL) {
			snprintf(out, cap, "encrypted %s (legacy PEM, %s): size sealed", label,
				 EVP_CIPHER_get0_name(ci.cipher));
			real = true;
		}
		goto out;
	}
	/* PKCS#8 sealed: the scheme is all it shows without unlocking. */
	if (strcmp(label, "ENCRYPTED PRIVATE KEY") == 0) {
		const X509_ALGOR *alg = NULL;
		const ASN1_OBJECT *obj = NULL;
		char oid[64] = "?";

		q = data;
		if ((p8 = d2i_X509_SIG(NULL, &q, dlen)) == NULL || q != data + dlen)
			goto out;
		X509_SIG_get0(p8, &alg, NULL);
		X509_ALGOR_get0(&obj, NULL, NULL, alg);
		if (obj != NULL)
			OBJ_obj2txt(oid, sizeof(oid), obj, 0);
		snprintf(out, cap, "encrypted PKCS#8 private key (%s): type and size sealed", oid);
		real = true;
		goto out;
	}
	if ((k = decode_private_key(label, data, dlen)) != NULL) {
		char group[64] = "";
		size_t glen = 0;

		if (EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) != 1)
			group[0] = '\0';
		snprintf(out, cap, "%s %d-bit private key%s%s%s", EVP_PKEY_get0_type_name(k),
			 EVP_PKEY_get_bits(k), group[0] != '\0' ? " (" : "", group,
			 group[0] != '\0' ? ")" : "");
		*published = published_key(k);
		real = true;
	}
out:
	ERR_clear_error(); /* failed decodes leave reasons nobody reads */
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	X509_SIG_free(p8);
	EVP_PKEY_free(k);
	BIO_free(bio);
	return real;
}

static enum fsec_err check_private_keys(struct file_ctx *fc, const unsigned char *buf,
					size_t len, bool ssh_host)
{
	static const char needle[] = "PRIVATE KEY-----";
	const unsigned char *p = buf, *end = buf + len;
	enum fsec_err rc = FSEC_OK;

	while (rc == FSEC_OK && (size_t)(end - p) >= sizeof(needle) - 1) {
		const unsigned char *hit = memmem(p, (size_t)(end - p), needle, sizeof(needle) - 1);
		const unsigned char *begin, *body, *stop, *blk_end;
		unsigned char digest[32], *b64 = NULL;
		size_t b64n = 0;
		char label[40], what[160], ev[280];
		const char *published = NULL;
		unsigned lineno = 1;
		EVP_MD_CTX *md;
		size_t llen;

		if (hit == NULL)
			break;
		p = hit + sizeof(needle) - 1;
		/* "-----BEGIN " must sit within a label's length before the hit;
		 * the "-----END ...PRIVATE KEY-----" line also matches and is
		 * skipped here because it has no BEGIN. */
		begin = hit - (hit - buf < 32 ? hit - buf : 32);
		begin = memmem(begin, (size_t)(hit - begin), "-----BEGIN ", 11);
		if (begin == NULL)
			continue;
		llen = (size_t)(hit - (begin + 11)) + 11;
		snprintf(label, sizeof(label), "%.*s", (int)(llen < 39 ? llen : 39),
			 (const char *)begin + 11);
		for (const unsigned char *q = buf; q < begin; q++)
			lineno += *q == '\n';
		/* The key's identity is its base64 body without whitespace or
		 * PEM headers: the same key copied into two images matches. */
		body = p;
		stop = memmem(body, (size_t)(end - body), "-----END ", 9);
		/* A key has an END line within a key's size; a label alone (as a
		 * TLS library's parser compiles in) has none near it. */
		if (stop == NULL || (size_t)(stop - body) > KEY_BODY_MAX)
			continue;
		blk_end = memmem(stop + 9, (size_t)(end - (stop + 9)), "-----", 5);
		blk_end = blk_end != NULL && blk_end - stop < 64 ? blk_end + 5 : stop;
		if ((b64 = malloc((size_t)(stop - body) + 1)) == NULL)
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		if ((md = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
			EVP_MD_CTX_free(md);
			free(b64);
			return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "SHA-256");
		}
		for (const unsigned char *q = body; q < stop;) {
			const unsigned char *nl = memchr(q, '\n', (size_t)(stop - q));
			const unsigned char *le = nl != NULL ? nl : stop;

			if (memchr(q, ':', (size_t)(le - q)) == NULL) /* Proc-Type: etc. */
				for (const unsigned char *c = q; c < le; c++)
					if (!isspace(*c))
						b64[b64n++] = *c;
			q = nl != NULL ? nl + 1 : stop;
		}
		EVP_DigestUpdate(md, b64, b64n);
		EVP_DigestFinal_ex(md, digest, NULL);
		EVP_MD_CTX_free(md);
		if (!key_describe(begin, (size_t)(blk_end - begin), label, b64, b64n, what,
				  sizeof(what), &published)) {
			free(b64);
			p = stop;
			continue;
		}
		free(b64);
		snprintf(ev, sizeof(ev), "%s%s%s (SHA-256 of body %02x%02x%02x%02x...)", what,
			 published != NULL ? ", the published " : "",
			 published != NULL ? published : "", digest[0], digest[1], digest[2], digest[3]);
		/* In a library, a published test key is that library's self-test;
		 * anywhere else it is a key whose private half everyone has. */
		if (published != NULL && is_library(fc->path)) {
			rc = add(fc, "FW-KEY-TESTVECTOR", lineno, "%s", ev);
			p = stop;
			continue;
		}
		rc = add(fc, ssh_host ? "FW-KEY-SSH-HOST" : "FW-KEY-PRIVATE", lineno, "%s", ev);
		if (rc == FSEC_OK)
			rc = remember_key(fc->st, digest, fc->path);
		p = stop;
	}
	return rc;
}

/* A binary key file (dropbear's format): its whole content is its identity. */
static enum fsec_err binary_key(struct file_ctx *fc, const unsigned char *buf, size_t len)
{
	unsigned char digest[32];
	enum fsec_err rc;

	if (!EVP_Digest(buf, len, digest, NULL, EVP_sha256(), NULL))
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "SHA-256");
	rc = add(fc, "FW-KEY-SSH-HOST", 0, "%s", "dropbear host key file in the image");
	return rc == FSEC_OK ? remember_key(fc->st, digest, fc->path) : rc;
}

/* ---- services and consoles ---- */

static const char *const telnet_daemons[] = {"telnetd", "utelnetd", "in.telnetd", NULL};
static const char *const ftp_daemons[] = {"ftpd", "vsftpd", "proftpd", "pure-ftpd", "tftpd",
					  "in.tftpd", "atftpd", "in.ftpd", "bftpd", "udpsvd", NULL};
static const char *const http_daemons[] = {"httpd", "uhttpd", "lighttpd", "boa", "goahead",
					   "mini_httpd", "thttpd", "webs", NULL};
static const char *const shells[] = {"sh", "-sh", "ash", "-ash", "bash", "-bash", "-/bin/sh",
				     NULL};

static bool serial_tty(const char *t)
{
	static const char *const prefixes[] = {"ttyS", "ttyAMA", "ttymxc", "ttyO", "ttyHS",
					       "ttyUSB", "ttyPS", "ttyMSM", "ttySAC", "ttyLP",
					       NULL};

	for (size_t i = 0; prefixes[i] != NULL; i++)
		if (has_prefix(t, prefixes[i]))
			return true;
	return false;
}

/* Files whose lines start services: inittab, init scripts, inetd, unit
 * files an administrator enabled, and defaults read by init scripts. */
static bool is_startup_file(const char *path)
{
	return strcmp(path, "etc/inittab") == 0 || has_prefix(path, "etc/init.d/") ||
	       has_prefix(path, "etc/rc.d/") || has_prefix(path, "etc/rc") ||
	       strcmp(path, "etc/inetd.conf") == 0 || has_prefix(path, "etc/xinetd.d/") ||
	       has_prefix(path, "etc/systemd/system/") || has_prefix(path, "etc/default/") ||
	       has_prefix(path, "etc/sv/") || has_prefix(path, "etc/runit/");
}

static enum fsec_err check_dropbear(struct file_ctx *fc, unsigned lineno, char **tok,
				    size_t ntok, size_t at)
{
	bool s = false, w = false;
	enum fsec_err rc = FSEC_OK;

	for (size_t i = at + 1; i < ntok; i++) {
		if (tok[i][0] == '$')
			return FSEC_OK; /* options from a variable: judged where it is set */
		if (tok[i][0] == '-' && tok[i][1] != '-') {
			s |= strchr(tok[i], 's') != NULL;
			w |= strchr(tok[i], 'w') != NULL || strchr(tok[i], 'g') != NULL;
		}
	}
	if (!s)
		rc = add(fc, "FW-SSH-PASSWORD", lineno, "%s", "dropbear started without -s");
	if (rc == FSEC_OK && !w)
		rc = add(fc, "FW-SSH-ROOT", lineno, "%s", "dropbear started without -w or -g");
	return rc;
}

static enum fsec_err check_startup(struct file_ctx *fc, const unsigned char *buf, size_t len)
{
	char line[LINE_MAX_EVAL + 1], copy[LINE_MAX_EVAL + 1], *tok[64];
	bool inittab = strcmp(fc->path, "etc/inittab") == 0;
	bool xinetd = has_prefix(fc->path, "etc/xinetd.d/");
	bool xinetd_disabled = false;
	enum fsec_err rc = FSEC_OK;
	unsigned lineno = 0;

	if (xinetd) {
		/* An xinetd service runs unless "disable = yes". */
		for (size_t off = 0; off < len;) {
			off = next_line(buf, len, off, line, sizeof(line));
			size_t n = tokens(line, tok, 64);

			if (n >= 2 && strcmp(tok[0], "disable") == 0 && strcmp(tok[1], "yes") == 0)
				xinetd_disabled = true;
		}
		if (xinetd_disabled)
			return FSEC_OK;
	}
	for (size_t off = 0; off < len && rc == FSEC_OK;) {
		size_t n;
		bool getty = false, tty = false, shell = false, respawn = false;

		off = next_line(buf, len, off, line, sizeof(line));
		lineno++;
		if (is_comment(line))
			continue;
		memcpy(copy, line, sizeof(copy));
		n = tokens(copy, tok, 64);
		for (size_t i = 0; i < n && rc == FSEC_OK; i++) {
			const char *t = tok[i];

			if (in_list(t, telnet_daemons) || (xinetd && strcmp(t, "telnet") == 0))
				rc = add(fc, "FW-SVC-TELNET", lineno, "started here: %.200s", line);
			else if (in_list(t, ftp_daemons) ||
				 (xinetd && (strcmp(t, "ftp") == 0 || strcmp(t, "tftp") == 0)))
				rc = add(fc, "FW-SVC-FTP", lineno, "started here: %.200s", line);
			else if (in_list(t, http_daemons))
				rc = add(fc, "FW-SVC-HTTP", lineno, "started here: %.200s", line);
			else if (strcmp(t, "dropbear") == 0 && i + 1 < n)
				rc = check_dropbear(fc, lineno, tok, n, i);
			getty |= strstr(t, "getty") != NULL;
			tty |= serial_tty(t) || strcmp(t, "console") == 0;
			shell |= in_list(t, shells);
			respawn |= strcmp(t, "respawn") == 0 || strcmp(t, "askfirst") == 0;
		}
		if (rc == FSEC_OK && getty && tty)
			rc = add(fc, "FW-CONSOLE-GETTY", lineno, "login prompt on a serial line: %.200s",
				 line);
		else if (rc == FSEC_OK && inittab && respawn && shell && !getty)
			rc = add(fc, "FW-CONSOLE-GETTY", lineno, "shell without login: %.200s", line);
	}
	return rc;
}

/* OpenSSH: the first value of a keyword wins. PermitRootLogin defaults to
 * prohibit-password, PasswordAuthentication to yes. */
static enum fsec_err check_sshd_config(struct file_ctx *fc, const unsigned char *buf, size_t len)
{
	char line[LINE_MAX_EVAL + 1], *tok[4];
	unsigned lineno = 0, root_line = 0, pw_line = 0;
	int root = -1, pw = -1, empty = -1;
	enum fsec_err rc = FSEC_OK;

	for (size_t off = 0; off < len;) {
		size_t n;

		off = next_line(buf, len, off, line, sizeof(line));
		lineno++;
		if (is_comment(line) || (n = tokens(line, tok, 4)) < 2)
			continue;
		if (strcasecmp(tok[0], "Match") == 0)
			break; /* what follows applies to some connections only */
		if (strcasecmp(tok[0], "PermitRootLogin") == 0 && root < 0) {
			root = strcmp(tok[1], "yes") == 0;
			root_line = lineno;
		} else if (strcasecmp(tok[0], "PasswordAuthentication") == 0 && pw < 0) {
			pw = strcmp(tok[1], "yes") == 0;
			pw_line = lineno;
		} else if (strcasecmp(tok[0], "PermitEmptyPasswords") == 0 && empty < 0) {
			empty = strcmp(tok[1], "yes") == 0;
		}
	}
	if (root == 1)
		rc = add(fc, "FW-SSH-ROOT", root_line, "%s", "PermitRootLogin yes");
	if (rc == FSEC_OK && pw != 0)
		rc = add(fc, "FW-SSH-PASSWORD", pw_line, "%s",
			 pw == 1 ? "PasswordAuthentication yes"
				 : "PasswordAuthentication not set (OpenSSH default: yes)");
	if (rc == FSEC_OK && empty == 1)
		rc = add(fc, "FW-CRED-EMPTY", 0, "%s", "PermitEmptyPasswords yes");
	return rc;
}

/* ---- kernel command line ---- */

static bool is_boot_config(const char *path)
{
	const char *b = base_name(path);

	return has_prefix(path, "boot/") || strcmp(b, "cmdline.txt") == 0 ||
	       strcmp(b, "uEnv.txt") == 0 || strcmp(b, "extlinux.conf") == 0 ||
	       strcmp(b, "grub.cfg") == 0 || strcmp(path, "etc/default/grub") == 0 ||
	       strcmp(b, "boot.cmd") == 0;
}

static enum fsec_err check_kernel_console(struct file_ctx *fc, const unsigned char *buf,
					  size_t len)
{
	const unsigned char *p = buf, *end = buf + len;

	while ((size_t)(end - p) >= 12) {
		const unsigned char *hit = memmem(p, (size_t)(end - p), "console=tty", 11);
		char tty[24];
		unsigned lineno = 1;
		size_t n;

		if (hit == NULL)
			break;
		p = hit + 11;
		/* The buffer is not NUL-terminated (a tar member, a mapped
		 * file): count the device name within its end. */
		for (n = 0; hit + 8 + n < end && n < 20 && isalnum(hit[8 + n]); n++)
			;
		snprintf(tty, sizeof(tty), "%.*s", (int)(n < 20 ? n : 20), (const char *)hit + 8);
		if (!serial_tty(tty))
			continue;
		for (const unsigned char *q = buf; q < hit; q++)
			lineno += *q == '\n';
		return add(fc, "FW-CONSOLE-KERNEL", lineno, "console=%s on the kernel command line",
			   tty);
	}
	return FSEC_OK;
}

/* ---- cleartext and verification ---- */

static bool is_config_file(const char *path, const unsigned char *buf, size_t len)
{
	static const char *const exts[] = {".conf", ".cfg", ".ini", ".json", ".yaml", ".yml",
					   ".toml", ".env", ".sh", ".service", ".properties",
					   ".xml", NULL};
	size_t probe = len < 1024 ? len : 1024;

	/* A NUL in the first kilobyte means a binary: its strings are not
	 * configuration anyone set. */
	if (memchr(buf, '\0', probe) != NULL)
		return false;
	if (has_prefix(path, "etc/") || (len >= 2 && buf[0] == '#' && buf[1] == '!'))
		return true;
	for (size_t i = 0; exts[i] != NULL; i++)
		if (has_suffix(path, exts[i]))
			return true;
	return false;
}

/* Documentation and namespace URLs are identifiers, not endpoints. */
static bool benign_url(const char *host)
{
	static const char *const hosts[] = {"localhost", "127.", "[::1]", "www.w3.org",
					    "www.gnu.org", "www.apache.org", "purl.org",
					    "schemas.", "xmlns.", "www.openssl.org", NULL};

	for (size_t i = 0; hosts[i] != NULL; i++)
		if (has_prefix(host, hosts[i]))
			return true;
	return false;
}

static bool disables_verify(const char *line)
{
	char low[LINE_MAX_EVAL + 1];
	size_t n = strlen(line);
	const char *p;

	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)line[i]);
	if (strstr(low, "--insecure") != NULL || strstr(low, "--no-check-certificate") != NULL)
		return true;
	if ((p = strstr(low, "insecure")) != NULL) {
		p += strcspn(p, " \t=:");
		p += strspn(p, " \t=:\"'");
		if (has_prefix(p, "true") || has_prefix(p, "1") || has_prefix(p, "yes"))
			return true;
	}
	for (p = low; (p = strstr(p, "verify")) != NULL;) {
		p += 6;
		p += strspn(p, "_-abcdefghijklmnopqrstuvwxyz"); /* verify_peer, verifyhost */
		if (*p != '=' && *p != ':' && *p != ' ' && *p != '\t')
			continue;
		p += strspn(p, " \t=:\"'");
		if (has_prefix(p, "0") || has_prefix(p, "false") || has_prefix(p, "no") ||
		    has_prefix(p, "none") || has_prefix(p, "off"))
			return true;
	}
	return false;
}

static bool port_token(const char *line, const char *port)
{
	size_t pl = strlen(port);

	for (const char *p = line; (p = strstr(p, port)) != NULL; p += pl) {
		char before = p == line ? ' ' : p[-1];
		char after = p[pl];

		if ((before == ':' || before == ' ' || before == '=' || before == '\t' ||
		     before == '"') &&
		    !isdigit((unsigned char)after) && !isalpha((unsigned char)after) && after != '.')
			return true;
	}
	return false;
}

/* Documentation: what it says is read by people, never fetched by the
 * device. */
static bool is_doc(const char *path)
{
	static const char *const dirs[] = {"usr/share/doc/", "usr/share/man/", "usr/share/info/",
					   "usr/share/help/", "usr/share/gtk-doc/",
					   "usr/local/share/doc/", "usr/local/share/man/", NULL};
	static const char *const names[] = {"README", "CHANGELOG", "changelog", "NEWS", "COPYING",
					    "LICENSE", "AUTHORS", NULL};
	static const char *const exts[] = {".md", ".rst", ".html", ".htm", NULL};
	const char *b = base_name(path);

	for (size_t i = 0; dirs[i] != NULL; i++)
		if (has_prefix(path, dirs[i]))
			return true;
	for (size_t i = 0; names[i] != NULL; i++)
		if (has_prefix(b, names[i]))
			return true;
	for (size_t i = 0; exts[i] != NULL; i++)
		if (has_suffix(b, exts[i]))
			return true;
	return false;
}

/* apt's sources: what comes through them is checked against the archive's
 * signature (InRelease), so http:// there is a signed channel. */
static bool is_apt_source(const char *path)
{
	return strcmp(path, "etc/apt/sources.list") == 0 ||
	       has_prefix(path, "etc/apt/sources.list.d/");
}

/* Whether the URL at url (inside line) names something rather than a place
 * the device talks to: in a comment after code ("cmd # see http://...", or
 * an XML comment opened on this line), an XML namespace, schema or DTD, or
 * a link for reporting bugs. *in_xml_comment carries an XML comment over
 * lines. */
static bool url_is_reference(const char *line, const char *url, bool *in_xml_comment)
{
	char low[LINE_MAX_EVAL + 1];
	size_t n = strlen(line), at = (size_t)(url - line), ulen = strcspn(url, " \t\"'<>");
	const char *open, *close;

	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)line[i]);
	low[at] = '\0'; /* low is now the text before the URL */
	open = strstr(low, "<!--");
	if (open != NULL) {
		for (const char *o; (o = strstr(open + 4, "<!--")) != NULL;)
			open = o;
		close = strstr(open, "-->");
		if (close == NULL)
			return true;
	} else if (*in_xml_comment && strstr(low, "-->") == NULL) {
		return true;
	}
	for (size_t i = 0; i < at; i++)
		if (low[i] == '#' && (i == 0 || low[i - 1] == ' ' || low[i - 1] == '\t'))
			return true;
	if (strstr(low, "xmlns") != NULL || strstr(low, "schemalocation") != NULL ||
	    strstr(low, "<!doctype") != NULL || strstr(low, "idstartstring") != NULL ||
	    strstr(low, "bug") != NULL)
		return true;
	for (size_t i = 0; i < 3; i++) {
		static const char *const ids[] = {".dtd", ".xsd", ".ent"};
		size_t el = strlen(ids[i]);

		if (ulen >= el && strncasecmp(url + ulen - el, ids[i], el) == 0)
			return true;
	}
	/* bugs.debian.org, bugzilla.example.org */
	url += strcspn(url, ":") + 3;
	return has_prefix(url, "bugs.") || has_prefix(url, "bugzilla.");
}

/* Track whether the text after this line is inside an XML comment. */
static void xml_comment_state(const char *line, bool *in)
{
	for (const char *p = line; *p != '\0'; p++) {
		if (!*in && strncmp(p, "<!--", 4) == 0) {
			*in = true;
			p += 3;
		} else if (*in && strncmp(p, "-->", 3) == 0) {
			*in = false;
			p += 2;
		}
	}
}

static enum fsec_err check_cleartext(struct file_ctx *fc, const unsigned char *buf, size_t len)
{
	static const char *const schemes[] = {"mqtt://", "http://", "ws://", "coap://", "ftp://",
					      NULL};
	char line[LINE_MAX_EVAL + 1];
	enum fsec_err rc = FSEC_OK;
	unsigned lineno = 0;
	bool apt = is_apt_source(fc->path), in_xml_comment = false;

	/* Most configuration files mention none of these: one pass for each
	 * rare needle decides whether the line pass is needed at all. */
	if (memmem(buf, len, "://", 3) == NULL && memmem(buf, len, "1883", 4) == NULL &&
	    memmem(buf, len, "5683", 4) == NULL && memmem(buf, len, "nsecure", 7) == NULL &&
	    memmem(buf, len, "erify", 5) == NULL && memmem(buf, len, "check-cert", 10) == NULL)
		return FSEC_OK;
	for (size_t off = 0; off < len && rc == FSEC_OK;) {
		const char *hit = NULL;

		bool was_in_comment = in_xml_comment;

		off = next_line(buf, len, off, line, sizeof(line));
		lineno++;
		xml_comment_state(line, &in_xml_comment);
		if (is_comment(line))
			continue;
		for (size_t i = 0; schemes[i] != NULL && hit == NULL; i++) {
			const char *p = strcasestr(line, schemes[i]);

			if (p != NULL && !benign_url(p + strlen(schemes[i])) &&
			    !url_is_reference(line, p, &was_in_comment))
				hit = p;
		}
		if (hit != NULL) {
			char url[128];

			snprintf(url, sizeof(url), "%.*s", (int)strcspn(hit, " \t\"'<>"), hit);
			rc = add(fc, apt ? "FW-CLEARTEXT-SIGNED" : "FW-CLEARTEXT-URL", lineno, "%s",
				 url);
		} else if (port_token(line, "1883") || port_token(line, "5683")) {
			rc = add(fc, "FW-CLEARTEXT-PORT", lineno, "%.200s", line);
		}
		if (rc == FSEC_OK && disables_verify(line))
			rc = add(fc, "FW-TLS-NOVERIFY", lineno, "%.200s", line);
	}
	return rc;
}

/* ---- update clients ---- */

static bool is_update_client(const char *path)
{
	static const char *const names[] = {"fleetsec-agent", "rauc", "swupdate", "mender",
					    "mender-update", "mender-client", "aktualizr",
					    "rauc-hawkbit-updater", "sysupgrade", "fwupd",
					    "swupdate-client", "hawkbit-client", "ota-agent", NULL};
	const char *b = base_name(path);

	return (has_prefix(path, "bin/") || has_prefix(path, "sbin/") ||
		has_prefix(path, "usr/bin/") || has_prefix(path, "usr/sbin/") ||
		has_prefix(path, "usr/local/bin/") || has_prefix(path, "usr/local/sbin/")) &&
	       in_list(b, names);
}

/* ---- entry points ---- */

enum fsec_err fsec_audit_fw_file(struct fsec_audit *a, struct fw_state *st, const char *path,
				 const unsigned char *buf, size_t len)
{
	struct file_ctx fc = {.a = a, .st = st, .path = path};
	const char *b = base_name(path);
	bool ssh_host;
	enum fsec_err rc;

	if (st->image != NULL)
		snprintf(fc.subject, sizeof(fc.subject), "%s:%s", st->image, path);
	else
		snprintf(fc.subject, sizeof(fc.subject), "%s", path);
	fsec_audit_add_bytes(a, len);
	if (is_update_client(path))
		st->update_client = true;
	ssh_host = (has_prefix(path, "etc/ssh/ssh_host_") && has_suffix(path, "_key")) ||
		   (has_prefix(path, "etc/dropbear/") && has_suffix(path, "host_key"));
	if (has_prefix(path, "etc/dropbear/") && has_suffix(path, "host_key") && len > 0 &&
	    memmem(buf, len, "-----BEGIN ", 11) == NULL)
		rc = binary_key(&fc, buf, len);
	else
		rc = check_private_keys(&fc, buf, len, ssh_host);
	if (rc != FSEC_OK)
		return rc;
	if (strcmp(path, "etc/passwd") == 0 || strcmp(path, "etc/shadow") == 0)
		return check_accounts(&fc, buf, len);
	if (strcmp(b, "httpd.conf") == 0 && (rc = check_httpd_conf(&fc, buf, len)) != FSEC_OK)
		return rc;
	if ((strcmp(path, "etc/ssh/sshd_config") == 0 ||
	     (has_prefix(path, "etc/ssh/sshd_config.d/") && has_suffix(path, ".conf"))) &&
	    (rc = check_sshd_config(&fc, buf, len)) != FSEC_OK)
		return rc;
	if (is_boot_config(path) && (rc = check_kernel_console(&fc, buf, len)) != FSEC_OK)
		return rc;
	if (!is_config_file(path, buf, len) || is_doc(path))
		return FSEC_OK;
	if (is_startup_file(path) && (rc = check_startup(&fc, buf, len)) != FSEC_OK)
		return rc;
	return check_cleartext(&fc, buf, len);
}

enum fsec_err fsec_audit_fw_link(struct fsec_audit *a, struct fw_state *st, const char *path,
				 const char *target)
{
	char sbuf[FSEC_AUDIT_SUBJECT_MAX + 1];
	const char *b = base_name(path), *s = fsec_audit_fw_subject(st, path, sbuf, sizeof(sbuf));
	const char *tb = base_name(target);

	if (is_update_client(path))
		st->update_client = true;
	/* A unit linked into a .wants directory is enabled. */
	if (has_prefix(path, "etc/systemd/system/") && strstr(path, ".wants/") != NULL) {
		if (has_prefix(b, "telnet"))
			return fsec_audit_add(a, "FW-SVC-TELNET", s, 0, "enabled unit %.80s", b);
		if (strstr(b, "ftp") != NULL)
			return fsec_audit_add(a, "FW-SVC-FTP", s, 0, "enabled unit %.80s", b);
		if (strstr(b, "getty@") != NULL && serial_tty(strchr(b, '@') + 1))
			return fsec_audit_add(a, "FW-CONSOLE-GETTY", s, 0, "enabled unit %.80s", b);
		if (strstr(b, "httpd") != NULL || has_prefix(b, "lighttpd") || has_prefix(b, "boa"))
			return fsec_audit_add(a, "FW-SVC-HTTP", s, 0, "enabled unit %.80s", b);
		return FSEC_OK;
	}
	if (strcmp(tb, "busybox") == 0 &&
	    (in_list(b, telnet_daemons) || in_list(b, ftp_daemons) || in_list(b, http_daemons)))
		return fsec_audit_add(a, "FW-SVC-APPLET", s, 0, "%.40s -> %.120s", b, target);
	return FSEC_OK;
}
