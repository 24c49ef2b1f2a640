/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network audit: probes only the hosts and blocks it is given, each port
 * with a TCP connect (or one CoAP datagram), a banner read and protocol
 * probes. Workers take (address, port) jobs from a shared list, so at most
 * `inflight` sockets are open; every connect, write and read waits at most
 * the timeout, and every read is capped in size.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit_int.h"
#include "err_int.h"

#define BANNER_WAIT_MS 700
#define READ_MAX 4096
#define HOST_MAX 253

/* Management and cleartext ports of IoT devices: FTP, SSH, telnet, HTTP,
 * MQTT, Mirai's alternate telnet, CoAP, TR-069, and common admin ports. */
static const char default_ports[] = "21,22,23,80,1883,2323,5683/udp,7547,8000,8080,8081,8888";

/* Pairs tried with try_default_credentials: the most common vendor defaults
 * and the head of the Mirai dictionary, kept short so that a probe makes a
 * bounded number of attempts. */
static const char *const cred_pairs[][2] = {
	{"admin", "admin"}, {"root", "root"},   {"admin", "password"}, {"root", "admin"},
	{"admin", "1234"},  {"root", "xc3511"}, {"root", "vizxv"},     {"root", "12345"},
	{"user", "user"},   {"support", "support"}, {"root", "default"}, {"admin", ""},
};
#define NPAIRS (sizeof(cred_pairs) / sizeof(cred_pairs[0]))

struct port {
	uint16_t port;
	bool udp;
};

struct job {
	struct sockaddr_storage addr;
	socklen_t alen;
	char host[INET6_ADDRSTRLEN + 8];
	struct port p;
};

struct net {
	struct fsec_audit *a;
	pthread_mutex_t mu;
	struct job *jobs;
	size_t njobs, next;
	int timeout_ms;
	bool creds;
	enum fsec_err rc;
};

FSEC_API const char *fsec_audit_net_default_ports(void)
{
	return default_ports;
}

/* ---- input ---- */

static enum fsec_err parse_ports(const char *s, struct port *out, size_t *n)
{
	const char *p = s;

	*n = 0;
	while (*p != '\0') {
		char *end;
		unsigned long v;

		errno = 0;
		if (!isdigit((unsigned char)*p))
			goto bad;
		v = strtoul(p, &end, 10);
		if (errno != 0 || v == 0 || v > 65535)
			goto bad;
		if (*n == FSEC_AUDIT_NET_MAX_PORTS)
			return fsec_seterr(FSEC_ERR_TOO_LARGE, "more than %d ports",
					   FSEC_AUDIT_NET_MAX_PORTS);
		out[*n].port = (uint16_t)v;
		out[*n].udp = false;
		p = end;
		if (strncmp(p, "/udp", 4) == 0) {
			out[*n].udp = true;
			p += 4;
		} else if (strncmp(p, "/tcp", 4) == 0) {
			p += 4;
		}
		(*n)++;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			goto bad;
	}
	if (*n == 0)
		goto bad;
	return FSEC_OK;
bad:
	return fsec_seterr(FSEC_ERR_INVAL, "bad port list '%.80s' (e.g. 23,80,1883,5683/udp)", s);
}

/* Append one address with every port; *naddr counts addresses. */
static enum fsec_err add_addr(struct net *nt, const struct sockaddr *sa, socklen_t len,
			      const struct port *ports, size_t nports)
{
	struct job *j = realloc(nt->jobs, (nt->njobs + nports) * sizeof(*j));

	if (j == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	nt->jobs = j;
	for (size_t i = 0; i < nports; i++) {
		struct job *jb = &nt->jobs[nt->njobs++];

		memset(jb, 0, sizeof(*jb));
		memcpy(&jb->addr, sa, len);
		jb->alen = len;
		jb->p = ports[i];
		if (sa->sa_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&jb->addr;

			in->sin_port = htons(jb->p.port);
			inet_ntop(AF_INET, &in->sin_addr, jb->host, sizeof(jb->host));
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&jb->addr;
			char a6[INET6_ADDRSTRLEN];

			in6->sin6_port = htons(jb->p.port);
			inet_ntop(AF_INET6, &in6->sin6_addr, a6, sizeof(a6));
			snprintf(jb->host, sizeof(jb->host), "[%s]", a6);
		}
	}
	return FSEC_OK;
}

/* One target: an address, a CIDR block, or a host name. */
static enum fsec_err expand_target(struct net *nt, const char *t, const struct port *ports,
				   size_t nports, size_t *naddr)
{
	char addr[HOST_MAX + 1];
	const char *slash = strchr(t, '/');
	size_t alen = slash != NULL ? (size_t)(slash - t) : strlen(t);
	long prefix = -1;
	struct in_addr v4;
	struct in6_addr v6;
	enum fsec_err rc = FSEC_OK;

	if (alen == 0 || alen > HOST_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "bad target '%.80s'", t);
	memcpy(addr, t, alen);
	addr[alen] = '\0';
	if (slash != NULL) {
		unsigned long len;

		/* Digits only: strtol took "10.0.0.0/+8" and "/ 8". */
		if (!fsec_parse_ulong(slash + 1, 0, 128, &len))
			return fsec_seterr(FSEC_ERR_INVAL, "bad prefix length in '%.80s'", t);
		prefix = (long)len;
	}
	if (inet_pton(AF_INET, addr, &v4) == 1) {
		int bits = prefix < 0 ? 32 : (int)prefix;
		uint32_t base, count;

		if (bits > 32)
			return fsec_seterr(FSEC_ERR_INVAL, "bad prefix length in '%.80s'", t);
		/* Count before expanding: a /8 must be refused, not scanned. */
		if (32 - bits > 12 || (count = 1u << (32 - bits)) > FSEC_AUDIT_NET_MAX_TARGETS - *naddr)
			return fsec_seterr(FSEC_ERR_TOO_LARGE,
					   "'%.80s' would make more than %d target addresses", t,
					   FSEC_AUDIT_NET_MAX_TARGETS);
		base = ntohl(v4.s_addr) & (bits == 0 ? 0 : ~0u << (32 - bits));
		for (uint32_t i = 0; i < count && rc == FSEC_OK; i++) {
			struct sockaddr_in in = {.sin_family = AF_INET};

			in.sin_addr.s_addr = htonl(base + i);
			rc = add_addr(nt, (struct sockaddr *)&in, sizeof(in), ports, nports);
		}
		*naddr += count;
		return rc;
	}
	if (inet_pton(AF_INET6, addr, &v6) == 1) {
		int bits = prefix < 0 ? 128 : (int)prefix;
		uint32_t count;

		if (128 - bits > 12 || (count = 1u << (128 - bits)) > FSEC_AUDIT_NET_MAX_TARGETS - *naddr)
			return fsec_seterr(FSEC_ERR_TOO_LARGE,
					   "'%.80s' would make more than %d target addresses", t,
					   FSEC_AUDIT_NET_MAX_TARGETS);
		for (uint32_t i = 0; i < count && rc == FSEC_OK; i++) {
			struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
			uint32_t low = 0;

			in6.sin6_addr = v6;
			/* Host bits are at most the last 12, inside the last 4 bytes. */
			memcpy(&low, &in6.sin6_addr.s6_addr[12], 4);
			low = ntohl(low) & (bits >= 128 ? ~0u : ~0u << (128 - bits));
			low = htonl(low + i);
			memcpy(&in6.sin6_addr.s6_addr[12], &low, 4);
			rc = add_addr(nt, (struct sockaddr *)&in6, sizeof(in6), ports, nports);
		}
		*naddr += count;
		return rc;
	}
	if (slash != NULL ||
	    strspn(addr, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") != alen)
		return fsec_seterr(FSEC_ERR_INVAL, "bad target '%.80s' (an address, CIDR or host name)",
				   t);
	{
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		struct addrinfo *res = NULL;

		if (getaddrinfo(addr, NULL, &hints, &res) != 0 || res == NULL)
			return fsec_seterr(FSEC_ERR_NET, "cannot resolve '%.80s'", addr);
		if (*naddr >= FSEC_AUDIT_NET_MAX_TARGETS)
			rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "more than %d target addresses",
					 FSEC_AUDIT_NET_MAX_TARGETS);
		else
			rc = add_addr(nt, res->ai_addr, res->ai_addrlen, ports, nports);
		(*naddr)++;
		freeaddrinfo(res);
		return rc;
	}
}

/* ---- sockets ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect within timeout_ms; returns a non-blocking socket or -1. */
static int dial(const struct job *j, int type, int timeout_ms)
{
	int fd = socket(j->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd pfd;
	int err = 0;
	socklen_t elen = sizeof(err);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&j->addr, j->alen) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 ||
	    err != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

static bool send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	const unsigned char *p = buf;
	int64_t deadline = now_ms() + timeout_ms;

	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			return false;
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Read into buf (cap - 1 bytes at most, NUL-terminated) until the peer
 * closes, the buffer is full, `until` appears (if not NULL), or wait_ms
 * passes. Returns the bytes read. */
static size_t recv_some(int fd, char *buf, size_t cap, int wait_ms, const char *until)
{
	int64_t deadline = now_ms() + wait_ms;
	size_t got = 0;

	buf[0] = '\0';
	while (got + 1 < cap) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			break;
		n = recv(fd, buf + got, cap - 1 - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		/* Binary peers may send NUL bytes: search the bytes, not a string. */
		if (until != NULL && memmem(buf, got, until, strlen(until)) != NULL)
			break;
	}
	buf[got] = '\0';
	return got;
}

/* ---- parsing answers (audit_int.h; fuzzed by fuzz_netresp) ---- */

void fsec_audit_net_excerpt(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\r' || c == '\n') {
			if (o > 0 && out[o - 1] != ' ')
				out[o++] = ' ';
		} else if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
		}
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

int fsec_audit_net_http_status(const char *buf, size_t len)
{
	int code = 0;

	/* "HTTP/1.x NNN": twelve bytes at least. */
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
		return 0;
	for (size_t i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return 0;
		code = code * 10 + (buf[i] - '0');
	}
	return code >= 100 && code <= 599 ? code : 0;
}

bool fsec_audit_net_http_basic(const char *buf, size_t len)
{
	static const char name[] = "\nWWW-Authenticate:";
	const size_t nlen = sizeof(name) - 1;

	for (size_t i = 0; i + nlen <= len; i++) {
		size_t k;

		if (strncasecmp(buf + i, name, nlen) != 0 || memchr(buf + i, '\0', nlen) != NULL)
			continue;
		k = i + nlen;
		while (k < len && (buf[k] == ' ' || buf[k] == '\t'))
			k++;
		if (len - k >= 5 && strncasecmp(buf + k, "Basic", 5) == 0)
			return true;
	}
	return false;
}

int fsec_audit_net_connack(const unsigned char *buf, size_t len)
{
	/* CONNACK: type 2, remaining length 2, flags, return code. */
	return len >= 4 && buf[0] == 0x20 && buf[1] == 2 ? buf[3] : -1;
}

bool fsec_audit_net_coap_reply(const unsigned char *buf, size_t len)
{
	/* Version 1, and our message ID echoed. */
	return len >= 4 && (buf[0] >> 6) == 1 && buf[2] == 0x46 && buf[3] == 0x53;
}

enum net_banner fsec_audit_net_banner(const char *buf, size_t len)
{
	if (len == 0)
		return NET_BANNER_NONE;
	/* Telnet servers open with option negotiation (IAC = 0xff) or a
	 * login prompt. */
	if ((unsigned char)buf[0] == 0xff || memmem(buf, len, "ogin:", 5) != NULL)
		return NET_BANNER_TELNET;
	if (len >= 4 && memcmp(buf, "220", 3) == 0)
		return NET_BANNER_FTP;
	if (len >= 4 && memcmp(buf, "SSH-", 4) == 0)
		return NET_BANNER_SSH;
	return NET_BANNER_OTHER;
}

/* ---- findings (workers hold no audit state; they report under a lock) ---- */

static void report(struct net *nt, const char *check, const struct job *j, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void report(struct net *nt, const char *check, const struct job *j, const char *fmt, ...)
{
	char subject[INET6_ADDRSTRLEN + 24], ev[FSEC_AUDIT_EVIDENCE_MAX + 1];
	va_list ap;

	snprintf(subject, sizeof(subject), "%s:%u%s", j->host, j->p.port, j->p.udp ? "/udp" : "");
	va_start(ap, fmt);
	vsnprintf(ev, sizeof(ev), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&nt->mu);
	if (nt->rc == FSEC_OK)
		nt->rc = fsec_audit_add(nt->a, check, subject, 0, "%s", ev);
	pthread_mutex_unlock(&nt->mu);
}

/* ---- HTTP ---- */

/* One GET / (with Basic credentials if user is not NULL); the status code,
 * or 0 without an HTTP response. The response head goes to buf. */
static int http_get(const struct job *j, int timeout_ms, const char *user, const char *pass,
		    char *buf, size_t cap)
{
	char req[512], auth[256] = "", cred[160];
	int fd = dial(j, SOCK_STREAM, timeout_ms), status = 0;

	if (fd < 0)
		return 0;
	if (user != NULL) {
		unsigned char b64[220];
		int n = snprintf(cred, sizeof(cred), "%s:%s", user, pass);

		EVP_EncodeBlock(b64, (const unsigned char *)cred, n);
		snprintf(auth, sizeof(auth), "Authorization: Basic %s\r\n", (const char *)b64);
		OPENSSL_cleanse(cred, sizeof(cred));
	}
	snprintf(req, sizeof(req),
		 "GET / HTTP/1.0\r\nHost: %s\r\nUser-Agent: fleetsec-audit\r\n%sConnection: close\r\n\r\n",
		 j->host, auth);
	if (send_all(fd, req, strlen(req), timeout_ms)) {
		size_t n = recv_some(fd, buf, cap, timeout_ms, "\r\n\r\n");

		status = fsec_audit_net_http_status(buf, n);
	}
	close(fd);
	return status;
}

static bool probe_http(struct net *nt, const struct job *j)
{
	char buf[READ_MAX], line[120];
	int status = http_get(j, nt->timeout_ms, NULL, NULL, buf, sizeof(buf));
	const char *www;

	if (status == 0)
		return false;
	www = strcasestr(buf, "\nWWW-Authenticate:");
	fsec_audit_net_excerpt(buf, strcspn(buf, "\r\n"), line, sizeof(line));
	if (status == 401 && www != NULL) {
		char realm[100];

		fsec_audit_net_excerpt(www + 1, strcspn(www + 1, "\r\n"), realm, sizeof(realm));
		report(nt, "NET-HTTP-ADMIN", j, "login without TLS: %s; %s", line, realm);
		if (nt->creds && fsec_audit_net_http_basic(buf, strlen(buf)))
			for (size_t i = 0; i < NPAIRS; i++) {
				int s = http_get(j, nt->timeout_ms, cred_pairs[i][0], cred_pairs[i][1],
						 buf, sizeof(buf));

				if (s >= 200 && s < 400) {
					report(nt, "NET-DEFAULT-CRED", j,
					       "HTTP Basic login %s/%s accepted (HTTP %d)",
					       cred_pairs[i][0],
					       cred_pairs[i][1][0] != '\0' ? cred_pairs[i][1] : "(empty)", s);
					break;
				}
			}
	} else if (strcasestr(buf, "password") != NULL || strcasestr(buf, "login") != NULL) {
		report(nt, "NET-HTTP-ADMIN", j, "login page without TLS: %s", line);
	} else {
		report(nt, "NET-CLEARTEXT", j, "HTTP without TLS: %s", line);
	}
	return true;
}

/* ---- MQTT 3.1.1 ---- */

/* CONNECT (clean session, keep-alive 10 s), with a user name and password
 * if user is not NULL. Returns the CONNACK return code, or -1. */
static int mqtt_connect(const struct job *j, int timeout_ms, const char *user, const char *pass)
{
	static const char client[] = "fleetsec-audit";
	unsigned char pkt[300], *p = pkt + 2;
	size_t ulen = user != NULL ? strlen(user) : 0, plen = pass != NULL ? strlen(pass) : 0;
	char ack[8];
	int fd, rc = -1;

	/* Variable header: protocol name "MQTT", level 4, flags, keep-alive. */
	memcpy(p, "\0\4MQTT\4", 7);
	p += 7;
	*p++ = (unsigned char)(0x02 | (user != NULL ? 0xc0 : 0));
	*p++ = 0;
	*p++ = 10;
	*p++ = 0;
	*p++ = sizeof(client) - 1;
	memcpy(p, client, sizeof(client) - 1);
	p += sizeof(client) - 1;
	if (user != NULL) {
		*p++ = 0;
		*p++ = (unsigned char)ulen;
		memcpy(p, user, ulen);
		p += ulen;
		*p++ = 0;
		*p++ = (unsigned char)plen;
		memcpy(p, pass, plen);
		p += plen;
	}
	/* The pairs are short constants: one byte of remaining length. */
	pkt[0] = 0x10;
	pkt[1] = (unsigned char)(p - pkt - 2);
	if ((fd = dial(j, SOCK_STREAM, timeout_ms)) < 0)
		return -1;
	if (send_all(fd, pkt, (size_t)(p - pkt), timeout_ms)) {
		size_t n = recv_some(fd, ack, 5, timeout_ms, NULL);

		rc = fsec_audit_net_connack((const unsigned char *)ack, n);
	}
	close(fd);
	return rc;
}

static bool probe_mqtt(struct net *nt, const struct job *j)
{
	int rc = mqtt_connect(j, nt->timeout_ms, NULL, NULL);

	if (rc < 0)
		return false;
	if (rc == 0) {
		report(nt, "NET-MQTT-ANON", j, "%s", "CONNECT without credentials accepted (CONNACK 0)");
		return true;
	}
	report(nt, "NET-CLEARTEXT", j, "MQTT without TLS (anonymous CONNACK %d)", rc);
	if (nt->creds)
		for (size_t i = 0; i < NPAIRS; i++)
			if (mqtt_connect(j, nt->timeout_ms, cred_pairs[i][0], cred_pairs[i][1]) == 0) {
				report(nt, "NET-DEFAULT-CRED", j, "MQTT login %s/%s accepted",
				       cred_pairs[i][0],
				       cred_pairs[i][1][0] != '\0' ? cred_pairs[i][1] : "(empty)");
				break;
			}
	return true;
}

/* ---- telnet ---- */

/* Log in with user/pass and prove a shell by having it compute something
 * the echo of our own input cannot contain. */
static bool telnet_login(const struct job *j, int timeout_ms, const char *user, const char *pass)
{
	char buf[READ_MAX], line[96];
	int fd = dial(j, SOCK_STREAM, timeout_ms);
	bool ok = false;

	if (fd < 0)
		return false;
	if (recv_some(fd, buf, sizeof(buf), timeout_ms, "ogin:") == 0 ||
	    strcasestr(buf, "ogin:") == NULL)
		goto out;
	snprintf(line, sizeof(line), "%s\r\n", user);
	if (!send_all(fd, line, strlen(line), timeout_ms))
		goto out;
	recv_some(fd, buf, sizeof(buf), timeout_ms, "assword:");
	snprintf(line, sizeof(line), "%s\r\n", pass);
	if (!send_all(fd, line, strlen(line), timeout_ms))
		goto out;
	recv_some(fd, buf, sizeof(buf), timeout_ms / 2, NULL);
	if (!send_all(fd, "echo fsec-$((40+2))-ok\r\n", 24, timeout_ms))
		goto out;
	recv_some(fd, buf, sizeof(buf), timeout_ms, "fsec-42-ok");
	ok = strstr(buf, "fsec-42-ok") != NULL;
out:
	OPENSSL_cleanse(line, sizeof(line));
	close(fd);
	return ok;
}

/* ---- CoAP (RFC 7252) over UDP ---- */

static void probe_coap(struct net *nt, const struct job *j)
{
	/* CON GET, message ID 0x4653, Uri-Path ".well-known" "core". */
	static const unsigned char req[] = {0x40, 0x01, 0x46, 0x53, 0xbb, '.', 'w', 'e', 'l', 'l',
					    '-',  'k',  'n',  'o',  'w',  'n', 0x04, 'c', 'o', 'r',
					    'e'};
	char buf[512];
	int fd = dial(j, SOCK_DGRAM, nt->timeout_ms);
	size_t n;

	if (fd < 0)
		return;
	if (send_all(fd, req, sizeof(req), nt->timeout_ms) &&
	    (n = recv_some(fd, buf, sizeof(buf), nt->timeout_ms, NULL)) >= 4 &&
	    fsec_audit_net_coap_reply((const unsigned char *)buf, n))
		report(nt, "NET-CLEARTEXT", j, "CoAP without DTLS (response code %u.%02u)",
		       (unsigned char)buf[1] >> 5, (unsigned char)buf[1] & 0x1f);
	close(fd);
}

/* ---- one probe ---- */

static void probe(struct net *nt, const struct job *j)
{
	char banner[READ_MAX], ex[120];
	enum net_banner kind;
	size_t n;
	int fd;

	if (j->p.udp) {
		probe_coap(nt, j);
		return;
	}
	if ((fd = dial(j, SOCK_STREAM, nt->timeout_ms)) < 0)
		return; /* closed or filtered: nothing to report */
	n = recv_some(fd, banner, sizeof(banner),
		      nt->timeout_ms < BANNER_WAIT_MS ? nt->timeout_ms : BANNER_WAIT_MS, NULL);
	close(fd);
	fsec_audit_net_excerpt(banner, n, ex, sizeof(ex));
	kind = fsec_audit_net_banner(banner, n);
	if (kind == NET_BANNER_TELNET) {
		report(nt, "NET-TELNET", j, "telnet banner%s%s", ex[0] != '\0' ? ": " : "", ex);
		if (nt->creds)
			for (size_t i = 0; i < NPAIRS; i++)
				if (telnet_login(j, nt->timeout_ms, cred_pairs[i][0], cred_pairs[i][1])) {
					report(nt, "NET-DEFAULT-CRED", j,
					       "telnet login %s/%s gives a shell", cred_pairs[i][0],
					       cred_pairs[i][1][0] != '\0' ? cred_pairs[i][1] : "(empty)");
					break;
				}
		return;
	}
	if (kind == NET_BANNER_FTP) {
		report(nt, "NET-CLEARTEXT", j, "FTP: %s", ex);
		return;
	}
	/* SSH is encrypted (its configuration is the firmware audit's job);
	 * other servers that speak first are not judged. */
	if (kind != NET_BANNER_NONE)
		return;
	if (!probe_http(nt, j))
		probe_mqtt(nt, j);
}

static void *worker(void *arg)
{
	struct net *nt = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&nt->mu);
		i = nt->next < nt->njobs && nt->rc == FSEC_OK ? nt->next++ : nt->njobs;
		pthread_mutex_unlock(&nt->mu);
		if (i >= nt->njobs)
			return NULL;
		probe(nt, &nt->jobs[i]);
	}
}

FSEC_API enum fsec_err fsec_audit_network(const char *const *targets, size_t ntargets,
					  const struct fsec_audit_net_opts *o,
					  struct fsec_audit *a)
{
	struct port ports[FSEC_AUDIT_NET_MAX_PORTS];
	struct net nt = {.a = a};
	pthread_t th[FSEC_AUDIT_NET_MAX_INFLIGHT];
	size_t nports = 0, naddr = 0, nth = 0;
	int inflight = o != NULL && o->inflight > 0 ? o->inflight : 32;
	enum fsec_err rc;

	fsec_clearerr();
	nt.timeout_ms = o != NULL && o->timeout_ms > 0 ? o->timeout_ms : 1500;
	nt.creds = o != NULL && o->try_default_credentials;
	if (nt.timeout_ms > FSEC_AUDIT_NET_TIMEOUT_MAX_MS || inflight > FSEC_AUDIT_NET_MAX_INFLIGHT)
		return fsec_seterr(FSEC_ERR_INVAL, "timeout at most %d ms, at most %d probes at once",
				   FSEC_AUDIT_NET_TIMEOUT_MAX_MS, FSEC_AUDIT_NET_MAX_INFLIGHT);
	if (ntargets == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "no targets given");
	if ((rc = parse_ports(o != NULL && o->ports != NULL ? o->ports : default_ports, ports,
			      &nports)) != FSEC_OK)
		return rc;
	/* Every target is checked and expanded before the first packet. */
	for (size_t i = 0; i < ntargets; i++)
		if ((rc = expand_target(&nt, targets[i], ports, nports, &naddr)) != FSEC_OK)
			goto out;
	if (pthread_mutex_init(&nt.mu, NULL) != 0) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "cannot create a lock");
		goto out;
	}
	for (; nth < (size_t)inflight && nth < nt.njobs; nth++)
		if (pthread_create(&th[nth], NULL, worker, &nt) != 0)
			break;
	if (nth == 0 && nt.njobs > 0)
		worker(&nt);
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&nt.mu);
	rc = nt.rc;
out:
	free(nt.jobs);
	return rc;
}
