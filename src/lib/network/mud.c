/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MUD (RFC 8520) parser. The file is read with jansson and walked once; each
 * ACE named by a policy becomes one struct fsec_mud_ace. Anything that is not
 * turned into an entry becomes a warning naming its JSON path, so an operator
 * can see exactly what of a manufacturer's intent the firewall does not carry.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "dynbuf_int.h"
#include "err_int.h"
#include "text_int.h"
#include "fleetsec/mud.h"

#define KEY_MUD "ietf-mud:mud"
#define KEY_ACLS "ietf-access-control-list:acls"
#define KEY_ACLS_DRAFT "ietf-access-control-list:access-lists"
#define KEY_DNS_SRC "ietf-acldns:src-dnsname"
#define KEY_DNS_DST "ietf-acldns:dst-dnsname"
#define KEY_INIT "ietf-mud:direction-initiated"
#define SIG_MAX (256u * 1024u)
#define HDR_MAX 256
#define ACLS_MAX 256u

struct fsec_mud {
	struct fsec_mud_ace *aces;
	size_t naces, capaces;
	/* The drop and reject entries read so far, as far as they could be
	 * read: under RFC 8519's first-match order each one shadows the accept
	 * entries after it that may match the same packets. */
	struct fsec_mud_ace *denies;
	size_t ndenies, capdenies;
	char **warnings;
	size_t nwarnings, capwarnings;
	char url[HDR_MAX], manufacturer[HDR_MAX], mfg_name[HDR_MAX], model_name[HDR_MAX],
		systeminfo[HDR_MAX];
	unsigned flags; /* FSEC_MUD_SKIP_INVALID */
};

/* dst = base + sep + seg, cut at cap - 1 bytes: a path only names a place in
 * the file, so a long one is shortened rather than refused. */
static void path_cat(char *dst, size_t cap, const char *base, const char *sep, const char *seg)
{
	size_t n = strnlen(base, cap - 1), m;

	memmove(dst, base, n);
	m = strnlen(sep, cap - 1 - n);
	memcpy(dst + n, sep, m);
	n += m;
	m = strnlen(seg, cap - 1 - n);
	memcpy(dst + n, seg, m);
	dst[n + m] = '\0';
}

static void path_key(char *dst, size_t cap, const char *base, const char *key)
{
	char k[64];

	path_cat(dst, cap, base, ".", fsec_text_clean(key, k, sizeof(k)));
}

static void path_idx(char *dst, size_t cap, const char *base, size_t i)
{
	char idx[32];

	snprintf(idx, sizeof(idx), "[%zu]", i);
	path_cat(dst, cap, base, "", idx);
}

static enum fsec_err bad(const char *path, const char *why)
{
	return fsec_seterr(FSEC_ERR_PARSE, "%s: %s", path, why);
}

static enum fsec_err warn(struct fsec_mud *m, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Warnings are capped: past the cap the file is refused, since a file made
 * of nothing but unsupported constructs cannot be enforced anyway. */
static enum fsec_err warn(struct fsec_mud *m, const char *path, const char *fmt, ...)
{
	char msg[384], line[FSEC_MUD_PATH_MAX + 400];
	enum fsec_err rc;
	va_list ap;

	if (m->nwarnings >= FSEC_MUD_WARNINGS_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: more than %u warnings", path,
				   FSEC_MUD_WARNINGS_MAX);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s: %s", path, msg);
	if ((rc = fsec_array_grow((void **)&m->warnings, &m->capwarnings, m->nwarnings,
	                          sizeof(*m->warnings), FSEC_MUD_WARNINGS_MAX)) != FSEC_OK)
		return rc;
	m->warnings[m->nwarnings] = strdup(line);
	if (m->warnings[m->nwarnings] == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	m->nwarnings++;
	return FSEC_OK;
}

static bool is_null_leaf(const json_t *v)
{
	/* YANG-JSON encodes a leaf of type empty as [null]. */
	return json_is_array(v) && json_array_size(v) == 1 && json_is_null(json_array_get(v, 0));
}

/* A warning for each member of obj not in known (NULL-terminated), with
 * why; *unknown (if not NULL) is set when there was one. */
static enum fsec_err warn_unknown(struct fsec_mud *m, const json_t *obj, const char *path,
				  const char *const *known, const char *why, bool *unknown)
{
	const char *k;
	json_t *x;
	enum fsec_err rc;

	if (!json_is_object(obj))
		return FSEC_OK;
	json_object_foreach((json_t *)obj, k, x) {
		char p[FSEC_MUD_PATH_MAX];
		size_t i;

		for (i = 0; known[i] != NULL; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		if (known[i] != NULL)
			continue;
		path_key(p, sizeof(p), path, k);
		if ((rc = warn(m, p, "%s", why)) != FSEC_OK)
			return rc;
		if (unknown != NULL)
			*unknown = true;
	}
	return FSEC_OK;
}

static enum fsec_err get_str(const json_t *v, const char *path, size_t max, const char **out)
{
	if (!json_is_string(v))
		return bad(path, "expected a string");
	if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v))
		return bad(path, "string too long or contains NUL");
	*out = json_string_value(v);
	return FSEC_OK;
}

static enum fsec_err get_int(const json_t *v, const char *path, json_int_t lo, json_int_t hi,
			     json_int_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		char why[80];

		snprintf(why, sizeof(why), "expected an integer from %lld to %lld", (long long)lo,
			 (long long)hi);
		return bad(path, why);
	}
	*out = json_integer_value(v);
	return FSEC_OK;
}

/* The authority (host[:port]) of an https URL, or "" if it is not one. */
static void url_authority(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://");
	size_t n;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += 3;
	n = strcspn(p, "/?#");
	if (n + 1 > cap)
		return;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* A prefix "A/LEN" for family 4 or 6, normalized through inet_pton. */
static enum fsec_err parse_prefix(const char *s, int family, const char *path, char *out,
				  size_t cap)
{
	char host[64], buf[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	const char *slash = strchr(s, '/');
	size_t hlen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned long plen = family == 4 ? 32 : 128;
	int af = family == 4 ? AF_INET : AF_INET6;

	if (hlen == 0 || hlen >= sizeof(host))
		return bad(path, "not an address prefix");
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(af, host, bin) != 1)
		return bad(path, family == 4 ? "not an IPv4 prefix" : "not an IPv6 prefix");
	if (slash != NULL) {
		unsigned long max = plen;

		if (strlen(slash + 1) > 3 || !fsec_parse_ulong(slash + 1, 0, max, &plen))
			return bad(path, "bad prefix length");
	}
	if (inet_ntop(af, bin, buf, sizeof(buf)) == NULL)
		return bad(path, "not an address");
	snprintf(out, cap, "%s/%lu", buf, plen);
	return FSEC_OK;
}

/* RFC 8519 port-range-or-operator: {operator, port} or {lower-port, upper-port}. */
static enum fsec_err parse_port(struct fsec_mud *m, const json_t *v, const char *path,
				unsigned *lo, unsigned *hi, bool *skip)
{
	const json_t *op = json_object_get(v, "operator"), *port = json_object_get(v, "port");
	const json_t *l = json_object_get(v, "lower-port"), *u = json_object_get(v, "upper-port");
	char p[FSEC_MUD_PATH_MAX];
	json_int_t a, b;
	const char *ops = "eq";
	enum fsec_err rc;

	if (!json_is_object(v))
		return bad(path, "expected an object");
	if (l != NULL || u != NULL) {
		path_key(p, sizeof(p), path, "lower-port");
		if ((rc = get_int(l, p, 0, 65535, &a)) != FSEC_OK)
			return rc;
		path_key(p, sizeof(p), path, "upper-port");
		if ((rc = get_int(u, p, 0, 65535, &b)) != FSEC_OK)
			return rc;
		if (a > b)
			return bad(path, "lower-port above upper-port");
		*lo = (unsigned)a;
		*hi = (unsigned)b;
		return FSEC_OK;
	}
	path_key(p, sizeof(p), path, "port");
	if ((rc = get_int(port, p, 0, 65535, &a)) != FSEC_OK)
		return rc;
	if (op != NULL) {
		path_key(p, sizeof(p), path, "operator");
		if ((rc = get_str(op, p, 8, &ops)) != FSEC_OK)
			return rc;
	}
	if (strcmp(ops, "eq") == 0) {
		*lo = *hi = (unsigned)a;
	} else if (strcmp(ops, "lte") == 0) {
		*lo = 0;
		*hi = (unsigned)a;
	} else if (strcmp(ops, "gte") == 0) {
		*lo = (unsigned)a;
		*hi = 65535;
	} else if (strcmp(ops, "neq") == 0) {
		/* An allowlist entry for "every port but one" is almost always a
		 * mistake; it is not widened into an allow-all. */
		*skip = true;
		return warn(m, path, "operator 'neq' is not supported; entry not used");
	} else {
		return bad(p, "operator must be eq, lte, gte or neq");
	}
	return FSEC_OK;
}

static enum fsec_err parse_l3(struct fsec_mud *m, const json_t *v, int family, const char *path,
			      struct fsec_mud_ace *a, const char **src, const char **dst,
			      const char **srcdns, const char **dstdns, bool *skip)
{
	const char *k;
	json_t *x;
	char p[FSEC_MUD_PATH_MAX];
	const char *srcnet = family == 4 ? "source-ipv4-network" : "source-ipv6-network";
	const char *dstnet = family == 4 ? "destination-ipv4-network" : "destination-ipv6-network";
	enum fsec_err rc = FSEC_OK;
	json_int_t n;

	if (!json_is_object(v))
		return bad(path, "expected an object");
	json_object_foreach((json_t *)v, k, x) {
		path_key(p, sizeof(p), path, k);
		if (strcmp(k, "protocol") == 0) {
			if ((rc = get_int(x, p, 0, 255, &n)) != FSEC_OK)
				return rc;
			a->proto = (int)n;
		} else if (strcmp(k, srcnet) == 0) {
			rc = get_str(x, p, 64, src);
		} else if (strcmp(k, dstnet) == 0) {
			rc = get_str(x, p, 64, dst);
		} else if (strcmp(k, KEY_DNS_SRC) == 0) {
			rc = get_str(x, p, FSEC_MUD_DNSNAME_MAX, srcdns);
		} else if (strcmp(k, KEY_DNS_DST) == 0) {
			rc = get_str(x, p, FSEC_MUD_DNSNAME_MAX, dstdns);
		} else {
			/* Ignoring a narrowing match would widen the entry. */
			*skip = true;
			rc = warn(m, p, "unsupported match; entry not used");
		}
		if (rc != FSEC_OK)
			return rc;
	}
	return FSEC_OK;
}

static enum fsec_err parse_l4(struct fsec_mud *m, const json_t *v, int proto, const char *path,
			      struct fsec_mud_ace *a, bool *skip)
{
	const char *k;
	json_t *x;
	char p[FSEC_MUD_PATH_MAX];
	enum fsec_err rc = FSEC_OK;

	if (!json_is_object(v))
		return bad(path, "expected an object");
	json_object_foreach((json_t *)v, k, x) {
		path_key(p, sizeof(p), path, k);
		if (strcmp(k, "source-port") == 0) {
			rc = parse_port(m, x, p, &a->sport_lo, &a->sport_hi, skip);
		} else if (strcmp(k, "destination-port") == 0) {
			rc = parse_port(m, x, p, &a->dport_lo, &a->dport_hi, skip);
		} else if (strcmp(k, KEY_INIT) == 0) {
			const char *s = NULL;

			if ((rc = get_str(x, p, 16, &s)) != FSEC_OK)
				return rc;
			if (strcmp(s, "from-device") == 0)
				a->initiated = FSEC_MUD_INIT_FROM_DEVICE;
			else if (strcmp(s, "to-device") == 0)
				a->initiated = FSEC_MUD_INIT_TO_DEVICE;
			else
				return bad(p, "must be from-device or to-device");
			/* RFC 8520 augments only tcp with direction-initiated. */
			if (proto != 6)
				rc = warn(m, p, "direction-initiated outside tcp (accepted)");
		} else {
			*skip = true;
			rc = warn(m, p, "unsupported match; entry not used");
		}
		if (rc != FSEC_OK)
			return rc;
	}
	return FSEC_OK;
}

static enum fsec_err parse_mudmatch(struct fsec_mud *m, const json_t *v, const char *path,
				    struct fsec_mud_ace *a)
{
	static const struct {
		const char *key;
		enum fsec_mud_match mt;
		bool empty; /* a [null] leaf rather than a string */
	} kinds[] = {
		{"manufacturer", FSEC_MUD_MATCH_MANUFACTURER, false},
		{"same-manufacturer", FSEC_MUD_MATCH_SAME_MANUFACTURER, true},
		{"model", FSEC_MUD_MATCH_MODEL, false},
		{"local-networks", FSEC_MUD_MATCH_LOCAL_NETWORKS, true},
		{"controller", FSEC_MUD_MATCH_CONTROLLER, false},
		{"my-controller", FSEC_MUD_MATCH_MY_CONTROLLER, true},
	};
	const char *k;
	json_t *x;
	char p[FSEC_MUD_PATH_MAX];
	enum fsec_err rc;

	if (!json_is_object(v))
		return bad(path, "expected an object");
	json_object_foreach((json_t *)v, k, x) {
		size_t i;

		path_key(p, sizeof(p), path, k);
		for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strcmp(k, kinds[i].key) == 0)
				break;
		if (i == sizeof(kinds) / sizeof(kinds[0])) {
			if ((rc = warn(m, p, "unknown ietf-mud:mud match; entry not used")) != FSEC_OK)
				return rc;
			a->match = FSEC_MUD_MATCH_NONE;
			a->peer = FSEC_MUD_PEER_MATCH; /* marks the entry unusable below */
			return FSEC_OK;
		}
		if (a->match != FSEC_MUD_MATCH_NONE)
			return bad(p, "more than one ietf-mud:mud match in one entry");
		if (kinds[i].empty) {
			if (!is_null_leaf(x))
				return bad(p, "expected [null]");
		} else {
			const char *s = NULL;

			if ((rc = get_str(x, p, sizeof(a->match_value) - 1, &s)) != FSEC_OK)
				return rc;
			snprintf(a->match_value, sizeof(a->match_value), "%s", s);
			if (kinds[i].mt == FSEC_MUD_MATCH_CONTROLLER &&
			    strcmp(s, "urn:ietf:params:mud:dns") != 0 &&
			    strcmp(s, "urn:ietf:params:mud:ntp") != 0 &&
			    strncmp(s, "urn:ietf:params:mud:", 20) == 0 &&
			    (rc = warn(m, p, "controller '%.60s' is not registered by RFC 8520",
				       fsec_text_clean(s, (char[64]){0}, 64))) != FSEC_OK)
				return rc;
		}
		a->match = kinds[i].mt;
	}
	return FSEC_OK;
}

static enum fsec_err parse_eth(struct fsec_mud *m, const json_t *v, const char *path,
			       struct fsec_mud_ace *a, bool l3)
{
	const char *k;
	json_t *x;
	char p[FSEC_MUD_PATH_MAX];
	enum fsec_err rc = FSEC_OK;

	if (!json_is_object(v))
		return bad(path, "expected an object");
	json_object_foreach((json_t *)v, k, x) {
		path_key(p, sizeof(p), path, k);
		if (strcmp(k, "ethertype") == 0) {
			const char *s = NULL;
			uint64_t t;

			if (json_is_integer(x) && json_integer_value(x) >= 0 &&
			    json_integer_value(x) <= 0xffff) {
				a->ethertype = (unsigned)json_integer_value(x);
				continue;
			}
			if ((rc = get_str(x, p, 8, &s)) != FSEC_OK)
				return rc;
			if (strncmp(s, "0x", 2) != 0 ||
			    fsec_parse_u64(s, 0, 0xffff, FSEC_NUM_HEX, &t) != FSEC_OK)
				return bad(p, "expected an ethertype such as \"0x0806\"");
			a->ethertype = (unsigned)t;
			if (t < 0x0600)
				rc = warn(m, p, "0x%04lx is a frame length, not an ethertype",
				          (unsigned long)t);
		} else if (!l3) {
			rc = warn(m, p, "unsupported Ethernet match; entry used without it");
		}
		if (rc != FSEC_OK)
			return rc;
	}
	/* A router filters IP; the L2 part of a mixed entry cannot be enforced
	 * there, but its IP part still is. */
	if (l3)
		return warn(m, path, "Ethernet match in an IP entry is not enforced");
	return FSEC_OK;
}

/* The addresses and DNS names an entry's ipv4/ipv6 match names. */
struct ace_ends {
	const char *src, *dst, *srcdns, *dstdns;
};

/* Whether the entry accepts. Anything else is a warning, not an entry:
 * what is not allowed is already denied. */
static enum fsec_err ace_accepts(struct fsec_mud *m, const json_t *ace, const char *path,
				 bool *accept)
{
	const json_t *actions, *fwd;
	const char *name = NULL, *fwds = NULL;
	char p[FSEC_MUD_PATH_MAX];
	enum fsec_err rc;

	*accept = false;
	path_key(p, sizeof(p), path, "name");
	if ((rc = get_str(json_object_get(ace, "name"), p, 64, &name)) != FSEC_OK)
		return rc;
	actions = json_object_get(ace, "actions");
	fwd = json_is_object(actions) ? json_object_get(actions, "forwarding") : NULL;
	path_key(p, sizeof(p), path, "actions.forwarding");
	if ((rc = get_str(fwd, p, 32, &fwds)) != FSEC_OK)
		return rc;
	/* Identities may carry a module prefix (ietf-access-control-list:accept). */
	if (strchr(fwds, ':') != NULL)
		fwds = strchr(fwds, ':') + 1;
	if (strcmp(fwds, "accept") != 0)
		return warn(m, p,
			    "'%s' entry not compiled: what is not allowed is already denied; "
			    "accept entries after it that may match the same packets are dropped",
			    fsec_text_clean(fwds, (char[32]){0}, 32));
	*accept = true;
	return FSEC_OK;
}

/* The entry's matches (p is their path) into a and ends; *l4 is the
 * protocol container seen (6, 17, 1 for icmp, else -1). *skip is set for an
 * entry that uses a match this parser does not compile. */
static enum fsec_err ace_matches(struct fsec_mud *m, const json_t *matches, const char *p,
				 int acl_family, struct fsec_mud_ace *a, struct ace_ends *ends,
				 int *l4, bool *skip)
{
	const char *k;
	json_t *x;
	bool eth_seen = false;
	enum fsec_err rc = FSEC_OK;

	json_object_foreach((json_t *)matches, k, x) {
		char mp[FSEC_MUD_PATH_MAX];

		path_key(mp, sizeof(mp), p, k);
		if (strcmp(k, "ipv4") == 0 || strcmp(k, "ipv6") == 0) {
			int fam = k[3] == '4' ? 4 : 6;

			if (a->family != 0 && a->family != fam && acl_family != 0)
				return bad(mp, "match family differs from the ACL type");
			a->family = fam;
			rc = parse_l3(m, x, fam, mp, a, &ends->src, &ends->dst, &ends->srcdns,
				      &ends->dstdns, skip);
		} else if (strcmp(k, "tcp") == 0 || strcmp(k, "udp") == 0) {
			if (*l4 != -1)
				return bad(mp, "both tcp and udp in one entry");
			*l4 = k[0] == 't' ? 6 : 17;
			rc = parse_l4(m, x, *l4, mp, a, skip);
		} else if (strcmp(k, "icmp") == 0) {
			json_t *t = json_object_get(x, "type"), *c = json_object_get(x, "code");
			char ip[FSEC_MUD_PATH_MAX];
			json_int_t n;

			if (!json_is_object(x))
				return bad(mp, "expected an object");
			*l4 = 1;
			path_key(ip, sizeof(ip), mp, "type");
			if (t != NULL && (rc = get_int(t, ip, 0, 255, &n)) == FSEC_OK)
				a->icmp_type = (int)n;
			path_key(ip, sizeof(ip), mp, "code");
			if (rc == FSEC_OK && c != NULL && (rc = get_int(c, ip, 0, 255, &n)) == FSEC_OK)
				a->icmp_code = (int)n;
		} else if (strcmp(k, "ietf-mud:mud") == 0) {
			rc = parse_mudmatch(m, x, mp, a);
			if (rc == FSEC_OK && a->peer == FSEC_MUD_PEER_MATCH &&
			    a->match == FSEC_MUD_MATCH_NONE)
				*skip = true;
		} else if (strcmp(k, "eth") == 0) {
			eth_seen = true;
			continue; /* after the loop: it depends on whether there is an IP part */
		} else {
			rc = warn(m, mp, "unsupported match; entry not used");
			*skip = true;
		}
		if (rc != FSEC_OK)
			return rc;
	}
	if (eth_seen) {
		char mp[FSEC_MUD_PATH_MAX];

		path_key(mp, sizeof(mp), p, "eth");
		if ((rc = parse_eth(m, json_object_get(matches, "eth"), mp, a, a->family != 0)) !=
		    FSEC_OK)
			return rc;
	}
	return FSEC_OK;
}

/* The peer is the far end: the destination of what the device sends,
 * the source of what it receives. The device's own side is implied. */
static enum fsec_err ace_peer(struct fsec_mud *m, const char *p, enum fsec_mud_dir dir,
			      const struct ace_ends *ends, struct fsec_mud_ace *a)
{
	const char *net = dir == FSEC_MUD_FROM_DEVICE ? ends->dst : ends->src;
	const char *dns = dir == FSEC_MUD_FROM_DEVICE ? ends->dstdns : ends->srcdns;
	const char *own = dir == FSEC_MUD_FROM_DEVICE
				  ? (ends->src != NULL ? ends->src : ends->srcdns)
				  : (ends->dst != NULL ? ends->dst : ends->dstdns);
	enum fsec_err rc;

	if (own != NULL &&
	    (rc = warn(m, p, "constraint on the device's own address ignored")) != FSEC_OK)
		return rc;
	if (net != NULL && dns != NULL)
		return bad(p, "both an address and a DNS name for the peer");
	if (net != NULL) {
		char np[FSEC_MUD_PATH_MAX], lp[FSEC_MUD_PATH_MAX];

		path_key(lp, sizeof(lp), p, a->family == 4 ? "ipv4" : "ipv6");
		path_key(np, sizeof(np), lp,
			 dir == FSEC_MUD_FROM_DEVICE
				 ? (a->family == 4 ? "destination-ipv4-network" : "destination-ipv6-network")
				 : (a->family == 4 ? "source-ipv4-network" : "source-ipv6-network"));
		if ((rc = parse_prefix(net, a->family, np, a->addr, sizeof(a->addr))) != FSEC_OK)
			return rc;
		a->peer = FSEC_MUD_PEER_ADDR;
	} else if (dns != NULL) {
		if (!fsec_text_is_hostname(dns)) {
			char np[FSEC_MUD_PATH_MAX], lp[FSEC_MUD_PATH_MAX];

			path_key(lp, sizeof(lp), p, a->family == 4 ? "ipv4" : "ipv6");
			path_key(np, sizeof(np), lp,
				 dir == FSEC_MUD_FROM_DEVICE ? KEY_DNS_DST : KEY_DNS_SRC);
			return bad(np, "DNS name is not a host name (two or more labels)");
		}
		snprintf(a->dnsname, sizeof(a->dnsname), "%s", dns);
		a->peer = FSEC_MUD_PEER_DNS;
	} else if (a->match != FSEC_MUD_MATCH_NONE) {
		a->peer = FSEC_MUD_PEER_MATCH;
	}
	return FSEC_OK;
}

static enum fsec_err ace_append(struct fsec_mud *m, const char *path, const struct fsec_mud_ace *a)
{
	enum fsec_err rc;

	if (m->naces >= FSEC_MUD_ACES_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: more than %u entries", path,
				   FSEC_MUD_ACES_MAX);
	if ((rc = fsec_array_grow((void **)&m->aces, &m->capaces, m->naces, sizeof(*m->aces),
	                          FSEC_MUD_ACES_MAX)) != FSEC_OK)
		return rc;
	m->aces[m->naces++] = *a;
	return FSEC_OK;
}

/* Whether two prefixes ("a.b.c.d/n", "x::/n", as parse_prefix() writes
 * them) share an address. Anything unreadable counts as shared. */
static bool prefixes_overlap(const char *x, const char *y)
{
	unsigned char ax[16], ay[16];
	char hx[64], hy[64];
	const char *sx = strchr(x, '/'), *sy = strchr(y, '/');
	int fam = strchr(x, ':') != NULL ? AF_INET6 : AF_INET;
	long bx, by, bits;

	if (sx == NULL || sy == NULL || (size_t)(sx - x) >= sizeof(hx) ||
	    (size_t)(sy - y) >= sizeof(hy) || (strchr(y, ':') != NULL) != (fam == AF_INET6))
		return true;
	memcpy(hx, x, (size_t)(sx - x));
	hx[sx - x] = '\0';
	memcpy(hy, y, (size_t)(sy - y));
	hy[sy - y] = '\0';
	bx = strtol(sx + 1, NULL, 10);
	by = strtol(sy + 1, NULL, 10);
	if (inet_pton(fam, hx, ax) != 1 || inet_pton(fam, hy, ay) != 1 || bx < 0 || by < 0 ||
	    bx > (fam == AF_INET ? 32 : 128) || by > (fam == AF_INET ? 32 : 128))
		return true;
	/* Disjoint exactly when they differ within the shorter prefix. */
	bits = bx < by ? bx : by;
	for (long i = 0; i < bits; i++)
		if (((ax[i / 8] ^ ay[i / 8]) >> (7 - i % 8)) & 1)
			return false;
	return true;
}

/* Whether deny entry d may match a packet that accept entry a matches. Only
 * what is certainly disjoint says no: a DNS name, a MUD match class or an
 * Ethernet-only deny may cover any address, so they count as overlapping. */
static bool may_overlap(const struct fsec_mud_ace *d, const struct fsec_mud_ace *a)
{
	if (d->dir != a->dir)
		return false;
	if (d->family != 0 && a->family != 0 && d->family != a->family)
		return false;
	if (d->family == 0 && d->ethertype != 0 && a->family != 0 &&
	    d->ethertype != (a->family == 4 ? 0x0800u : 0x86ddu))
		return false;
	if (d->proto != -1 && a->proto != -1 && d->proto != a->proto)
		return false;
	if (d->dport_hi < a->dport_lo || a->dport_hi < d->dport_lo ||
	    d->sport_hi < a->sport_lo || a->sport_hi < d->sport_lo)
		return false;
	if ((d->icmp_type != -1 && a->icmp_type != -1 && d->icmp_type != a->icmp_type) ||
	    (d->icmp_code != -1 && a->icmp_code != -1 && d->icmp_code != a->icmp_code))
		return false;
	if (d->initiated != FSEC_MUD_INIT_ANY && a->initiated != FSEC_MUD_INIT_ANY &&
	    d->initiated != a->initiated)
		return false;
	if (d->peer == FSEC_MUD_PEER_ADDR && a->peer == FSEC_MUD_PEER_ADDR &&
	    !prefixes_overlap(d->addr, a->addr))
		return false;
	return true;
}

/* Remember a drop or reject entry (d holds its direction, family and path)
 * so that the accept entries after it that it may shadow are not compiled.
 * Its matches are read as an accept's are, but what they say of it is not a
 * warning of its own: a match the parser does not know is left out, which
 * only widens the deny, and a deny that cannot be read at all matches
 * everything in its direction. Either way less is allowed, never more. */
static enum fsec_err note_deny(struct fsec_mud *m, const json_t *ace, struct fsec_mud_ace *d,
			       int acl_family)
{
	const json_t *matches = json_object_get(ace, "matches");
	const struct fsec_mud_ace all = {.dir = d->dir, .proto = -1, .sport_hi = 65535,
					 .dport_hi = 65535, .icmp_type = -1, .icmp_code = -1};
	struct ace_ends ends = {0};
	size_t nwarn = m->nwarnings;
	int l4 = -1;
	bool skip = false, readable;
	enum fsec_err rc;

	readable = json_is_object(matches) &&
		   ace_matches(m, matches, d->path, acl_family, d, &ends, &l4, &skip) == FSEC_OK &&
		   ace_peer(m, d->path, d->dir, &ends, d) == FSEC_OK;
	while (m->nwarnings > nwarn)
		free(m->warnings[--m->nwarnings]);
	if (!readable) {
		char path[FSEC_MUD_PATH_MAX];

		memcpy(path, d->path, sizeof(path));
		*d = all;
		memcpy(d->path, path, sizeof(path));
	} else if (l4 != -1) {
		/* The tcp/udp/icmp container names the protocol, as for an accept. */
		d->proto = l4 == 1 && d->family == 6 ? 58 : l4;
	}
	if (m->ndenies >= FSEC_MUD_ACES_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: more than %u entries", d->path,
				   FSEC_MUD_ACES_MAX);
	if ((rc = fsec_array_grow((void **)&m->denies, &m->capdenies, m->ndenies,
				  sizeof(*m->denies), FSEC_MUD_ACES_MAX)) != FSEC_OK)
		return rc;
	m->denies[m->ndenies++] = *d;
	return FSEC_OK;
}

/* Turn one ACE into an entry (or warnings). */
static enum fsec_err parse_ace(struct fsec_mud *m, const json_t *ace, const char *path,
			       enum fsec_mud_dir dir, int acl_family)
{
	struct fsec_mud_ace a = {.dir = dir, .family = acl_family, .proto = -1, .sport_hi = 65535,
				 .dport_hi = 65535, .icmp_type = -1, .icmp_code = -1};
	struct ace_ends ends = {0};
	const json_t *matches;
	char p[FSEC_MUD_PATH_MAX];
	int l4 = -1;
	bool accept = false, skip = false;
	enum fsec_err rc;

	snprintf(a.path, sizeof(a.path), "%s", path);
	if (!json_is_object(ace))
		return bad(path, "expected an object");
	if ((rc = ace_accepts(m, ace, path, &accept)) != FSEC_OK)
		return rc;
	if (!accept)
		return note_deny(m, ace, &a, acl_family);
	/* An unknown member of an entry or of its actions may narrow it (a
	 * time range, a rate limit): the entry is not used without it. */
	if ((rc = warn_unknown(m, ace, path, (const char *const[]){"name", "matches", "actions", NULL},
			       "unknown entry member; entry not used", &skip)) != FSEC_OK)
		return rc;
	path_key(p, sizeof(p), path, "actions");
	if ((rc = warn_unknown(m, json_object_get(ace, "actions"), p,
			       (const char *const[]){"forwarding", "logging", NULL},
			       "unknown action; entry not used", &skip)) != FSEC_OK)
		return rc;
	matches = json_object_get(ace, "matches");
	path_key(p, sizeof(p), path, "matches");
	if (!json_is_object(matches))
		return bad(p, "expected an object");
	if ((rc = ace_matches(m, matches, p, acl_family, &a, &ends, &l4, &skip)) != FSEC_OK)
		return rc;
	if (skip)
		return FSEC_OK;
	if (l4 == 1 && a.family == 6)
		l4 = 58;
	if (l4 != -1) {
		if (a.proto != -1 && a.proto != l4 && !(l4 == 58 && a.proto == 1))
			return bad(p, "protocol does not match the tcp/udp/icmp container");
		a.proto = l4;
	}
	if ((rc = ace_peer(m, p, dir, &ends, &a)) != FSEC_OK)
		return rc;
	for (size_t i = 0; i < m->ndenies; i++)
		if (may_overlap(&m->denies[i], &a))
			return warn(m, path,
				    "accept entry not compiled: the deny entry %s before it may match "
				    "the same packets, and under first-match order it wins",
				    m->denies[i].path);
	return ace_append(m, path, &a);
}

/* Whether an entry's action is, without doubt, accept. */
static bool surely_accepts(const json_t *ace)
{
	const json_t *actions = json_is_object(ace) ? json_object_get(ace, "actions") : NULL;
	const json_t *fwd = json_is_object(actions) ? json_object_get(actions, "forwarding") : NULL;
	const char *s;

	if (!json_is_string(fwd) || strlen(json_string_value(fwd)) != json_string_length(fwd))
		return false;
	s = json_string_value(fwd);
	if (strchr(s, ':') != NULL)
		s = strchr(s, ':') + 1;
	return strcmp(s, "accept") == 0;
}

/* --skip-invalid: the entry at path was refused (its reason is the current
 * error detail). An accept entry is dropped whole, which only ever allows
 * less, and becomes a warning. Anything else stays a refusal: under RFC
 * 8519's first-match order a deny shadows later accepts, so losing one
 * (or an entry that might be one) could allow more. */
static enum fsec_err skip_invalid(struct fsec_mud *m, const json_t *ace, const char *path)
{
	char why[FSEC_MUD_PATH_MAX + 200];

	snprintf(why, sizeof(why), "%s", fsec_err_detail());
	if (!surely_accepts(ace))
		return fsec_seterr(FSEC_ERR_PARSE,
				   "%s (not skipped: only an accept entry can be skipped without "
				   "allowing more)",
				   why);
	return warn(m, path, "invalid entry skipped (--skip-invalid): %s", why);
}

static enum fsec_err parse_acl(struct fsec_mud *m, const json_t *acl, const char *path,
			       enum fsec_mud_dir dir)
{
	const char *type = NULL;
	const json_t *aces, *list;
	char p[FSEC_MUD_PATH_MAX];
	int family;
	enum fsec_err rc;

	path_key(p, sizeof(p), path, "type");
	if ((rc = get_str(json_object_get(acl, "type"), p, 64, &type)) != FSEC_OK)
		return rc;
	if (strchr(type, ':') != NULL)
		type = strchr(type, ':') + 1;
	if (strcmp(type, "ipv4-acl-type") == 0) {
		family = 4;
	} else if (strcmp(type, "ipv6-acl-type") == 0) {
		family = 6;
	} else if (strcmp(type, "eth-acl-type") == 0) {
		family = 0;
	} else if (strcmp(type, "ethernet-acl-type") == 0) {
		family = 0;
		if ((rc = warn(m, p, "pre-RFC ACL type 'ethernet-acl-type' read as 'eth-acl-type'")) !=
		    FSEC_OK)
			return rc;
	} else {
		return warn(m, p, "unsupported ACL type '%s'; ACL not used",
			    fsec_text_clean(type, (char[64]){0}, 64));
	}
	if ((rc = warn_unknown(m, acl, path, (const char *const[]){"name", "type", "aces", NULL},
			       "unknown ACL member ignored", NULL)) != FSEC_OK)
		return rc;
	aces = json_object_get(acl, "aces");
	list = json_is_object(aces) ? json_object_get(aces, "ace") : NULL;
	path_key(p, sizeof(p), path, "aces");
	if ((rc = warn_unknown(m, aces, p, (const char *const[]){"ace", NULL},
			       "unknown member ignored", NULL)) != FSEC_OK)
		return rc;
	path_key(p, sizeof(p), path, "aces.ace");
	if (!json_is_array(list))
		return bad(p, "expected an array");
	for (size_t i = 0; i < json_array_size(list); i++) {
		char ap[FSEC_MUD_PATH_MAX];

		path_idx(ap, sizeof(ap), p, i);
		rc = parse_ace(m, json_array_get(list, i), ap, dir, family);
		if (rc == FSEC_ERR_PARSE && (m->flags & FSEC_MUD_SKIP_INVALID))
			rc = skip_invalid(m, json_array_get(list, i), ap);
		if (rc != FSEC_OK)
			return rc;
	}
	return FSEC_OK;
}

/* Each ACL named by a policy, found in the ACL list and parsed. */
static enum fsec_err parse_policy(struct fsec_mud *m, const json_t *mud, const char *key,
				  enum fsec_mud_dir dir, const json_t *acls, const char *acls_path,
				  unsigned char *used)
{
	const json_t *pol = json_object_get(mud, key), *al, *list;
	char p[FSEC_MUD_PATH_MAX];
	enum fsec_err rc;

	if (pol == NULL)
		return FSEC_OK;
	snprintf(p, sizeof(p), "$.%s.%s.access-lists.access-list", KEY_MUD, key);
	al = json_is_object(pol) ? json_object_get(pol, "access-lists") : NULL;
	list = json_is_object(al) ? json_object_get(al, "access-list") : NULL;
	if (!json_is_array(list))
		return bad(p, "expected an array");
	{
		char pp[FSEC_MUD_PATH_MAX];

		/* A policy only names ACLs: anything else in it carries nothing
		 * the firewall enforces, and is reported like any unknown node. */
		snprintf(pp, sizeof(pp), "$.%s.%s", KEY_MUD, key);
		if ((rc = warn_unknown(m, pol, pp, (const char *const[]){"access-lists", NULL},
				       "unknown member ignored", NULL)) != FSEC_OK)
			return rc;
		path_key(pp, sizeof(pp), pp, "access-lists");
		if ((rc = warn_unknown(m, al, pp, (const char *const[]){"access-list", NULL},
				       "unknown member ignored", NULL)) != FSEC_OK)
			return rc;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		const char *name = NULL;
		char ip[FSEC_MUD_PATH_MAX], np[FSEC_MUD_PATH_MAX];
		size_t j;

		path_idx(ip, sizeof(ip), p, i);
		path_key(np, sizeof(np), ip, "name");
		if (!json_is_object(json_array_get(list, i)))
			return bad(ip, "expected an object");
		if ((rc = warn_unknown(m, json_array_get(list, i), ip,
				       (const char *const[]){"name", NULL},
				       "unknown member of an access-list reference ignored", NULL)) !=
		    FSEC_OK)
			return rc;
		if ((rc = get_str(json_object_get(json_array_get(list, i), "name"), np, 64, &name)) !=
		    FSEC_OK)
			return rc;
		for (j = 0; j < json_array_size(acls); j++) {
			const json_t *n = json_object_get(json_array_get(acls, j), "name");

			if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
				break;
		}
		if (j == json_array_size(acls))
			return bad(np, "names an ACL the file does not define");
		used[j] = 1;
		path_idx(ip, sizeof(ip), acls_path, j);
		if ((rc = parse_acl(m, json_array_get(acls, j), ip, dir)) != FSEC_OK)
			return rc;
	}
	return FSEC_OK;
}

static enum fsec_err parse_header(struct fsec_mud *m, const json_t *mud)
{
	static const char *const known[] = {
		"mud-version",   "mud-url",         "last-update",      "cache-validity",
		"is-supported",  "systeminfo",      "mfg-name",         "model-name",
		"firmware-rev",  "software-rev",    "documentation",    "extensions",
		"mud-signature", "from-device-policy", "to-device-policy",
	};
	const struct {
		const char *key;
		char *dst;
	} strs[] = {
		{"mud-url", m->url},
		{"mfg-name", m->mfg_name},
		{"model-name", m->model_name},
		{"systeminfo", m->systeminfo},
	};
	const char *k;
	json_t *x;
	char p[FSEC_MUD_PATH_MAX];
	json_int_t v;
	enum fsec_err rc;

	snprintf(p, sizeof(p), "$.%s.mud-version", KEY_MUD);
	if ((rc = get_int(json_object_get(mud, "mud-version"), p, 1, 1, &v)) != FSEC_OK)
		return rc;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		const char *s = NULL;

		x = json_object_get(mud, strs[i].key);
		if (x == NULL && i > 0)
			continue;
		snprintf(p, sizeof(p), "$.%s.%s", KEY_MUD, strs[i].key);
		if ((rc = get_str(x, p, HDR_MAX - 1, &s)) != FSEC_OK)
			return rc;
		fsec_text_clean(s, strs[i].dst, HDR_MAX);
	}
	if (strncmp(m->url, "https://", 8) != 0) {
		snprintf(p, sizeof(p), "$.%s.mud-url", KEY_MUD);
		return bad(p, "must be an https URL (RFC 8520 section 3.5)");
	}
	url_authority(m->url, m->manufacturer, sizeof(m->manufacturer));
	json_object_foreach((json_t *)mud, k, x) {
		size_t i;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(k, known[i]) == 0)
				break;
		path_key(p, sizeof(p), "$." KEY_MUD, k);
		if (i == sizeof(known) / sizeof(known[0]) &&
		    (rc = warn(m, p, "unknown MUD field ignored")) != FSEC_OK)
			return rc;
	}
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_mud_parse(const unsigned char *buf, size_t len, struct fsec_mud **out)
{
	return fsec_mud_parse_flags(buf, len, 0, out);
}

FSEC_API enum fsec_err fsec_mud_parse_flags(const unsigned char *buf, size_t len, unsigned flags,
					    struct fsec_mud **out)
{
	struct fsec_mud *m = NULL;
	json_t *root = NULL;
	const json_t *mud, *acls_c, *acls;
	json_error_t jerr;
	unsigned char *used = NULL;
	const char *k, *acls_key = KEY_ACLS;
	char p[FSEC_MUD_PATH_MAX];
	json_t *x;
	enum fsec_err rc = FSEC_ERR_PARSE;

	if (len > FSEC_MUD_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "MUD file over %u bytes", FSEC_MUD_MAX);
	if ((flags & ~FSEC_MUD_SKIP_INVALID) != 0)
		return fsec_seterr(FSEC_ERR_INVAL, "unknown MUD parse flags");
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	m->flags = flags;
	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		char t[128];

		rc = fsec_seterr(FSEC_ERR_PARSE, "$: not JSON (line %d column %d: %s)", jerr.line,
				 jerr.column, fsec_text_clean(jerr.text, t, sizeof(t)));
		goto out;
	}
	if (!json_is_object(root)) {
		rc = bad("$", "expected an object");
		goto out;
	}
	mud = json_object_get(root, KEY_MUD);
	if (!json_is_object(mud)) {
		rc = bad("$." KEY_MUD, "missing, or not an object");
		goto out;
	}
	acls_c = json_object_get(root, KEY_ACLS);
	if (acls_c == NULL && (acls_c = json_object_get(root, KEY_ACLS_DRAFT)) != NULL) {
		acls_key = KEY_ACLS_DRAFT;
		if ((rc = warn(m, "$." KEY_ACLS_DRAFT,
			       "pre-RFC key (mudgee) read as '" KEY_ACLS "'")) != FSEC_OK)
			goto out;
	}
	snprintf(p, sizeof(p), "$.%s.acl", acls_key);
	acls = json_is_object(acls_c) ? json_object_get(acls_c, "acl") : NULL;
	if (acls_c != NULL && !json_is_array(acls)) {
		rc = bad(p, "expected an array");
		goto out;
	}
	if (json_array_size(acls) > ACLS_MAX) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: more than %u ACLs", p, ACLS_MAX);
		goto out;
	}
	used = calloc(json_array_size(acls) + 1, 1);
	if (used == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	json_object_foreach(root, k, x) {
		char kp[FSEC_MUD_PATH_MAX];

		if (strcmp(k, KEY_MUD) == 0 || strcmp(k, acls_key) == 0)
			continue;
		path_key(kp, sizeof(kp), "$", k);
		if ((rc = warn(m, kp, "unknown top-level member ignored")) != FSEC_OK)
			goto out;
	}
	if ((rc = parse_header(m, mud)) != FSEC_OK ||
	    (rc = parse_policy(m, mud, "from-device-policy", FSEC_MUD_FROM_DEVICE, acls, p, used)) !=
		    FSEC_OK ||
	    (rc = parse_policy(m, mud, "to-device-policy", FSEC_MUD_TO_DEVICE, acls, p, used)) !=
		    FSEC_OK)
		goto out;
	for (size_t j = 0; j < json_array_size(acls); j++) {
		char ap[FSEC_MUD_PATH_MAX];

		path_idx(ap, sizeof(ap), p, j);
		if (!used[j] && (rc = warn(m, ap, "ACL not named by any policy; not used")) != FSEC_OK)
			goto out;
	}
	*out = m;
	m = NULL;
	rc = FSEC_OK;
out:
	free(used);
	json_decref(root);
	fsec_mud_free(m);
	return rc;
}

FSEC_API void fsec_mud_free(struct fsec_mud *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nwarnings; i++)
		free(m->warnings[i]);
	free(m->warnings);
	free(m->aces);
	free(m->denies);
	free(m);
}

FSEC_API size_t fsec_mud_ace_count(const struct fsec_mud *m)
{
	return m->naces;
}

FSEC_API const struct fsec_mud_ace *fsec_mud_ace_get(const struct fsec_mud *m, size_t i)
{
	return i < m->naces ? &m->aces[i] : NULL;
}

FSEC_API size_t fsec_mud_warning_count(const struct fsec_mud *m)
{
	return m->nwarnings;
}

FSEC_API const char *fsec_mud_warning_get(const struct fsec_mud *m, size_t i)
{
	return i < m->nwarnings ? m->warnings[i] : "";
}

FSEC_API const char *fsec_mud_url(const struct fsec_mud *m)
{
	return m->url;
}

FSEC_API const char *fsec_mud_manufacturer(const struct fsec_mud *m)
{
	return m->manufacturer;
}

FSEC_API const char *fsec_mud_mfg_name(const struct fsec_mud *m)
{
	return m->mfg_name;
}

FSEC_API const char *fsec_mud_model_name(const struct fsec_mud *m)
{
	return m->model_name;
}

FSEC_API const char *fsec_mud_systeminfo(const struct fsec_mud *m)
{
	return m->systeminfo;
}

FSEC_API const char *fsec_mud_dir_name(enum fsec_mud_dir d)
{
	return d == FSEC_MUD_FROM_DEVICE ? "from-device" : "to-device";
}

FSEC_API const char *fsec_mud_match_name(enum fsec_mud_match mt)
{
	static const char *const names[] = {
		[FSEC_MUD_MATCH_NONE] = "none",
		[FSEC_MUD_MATCH_MANUFACTURER] = "manufacturer",
		[FSEC_MUD_MATCH_SAME_MANUFACTURER] = "same-manufacturer",
		[FSEC_MUD_MATCH_MODEL] = "model",
		[FSEC_MUD_MATCH_LOCAL_NETWORKS] = "local-networks",
		[FSEC_MUD_MATCH_CONTROLLER] = "controller",
		[FSEC_MUD_MATCH_MY_CONTROLLER] = "my-controller",
	};

	return (unsigned)mt < sizeof(names) / sizeof(names[0]) ? names[mt] : "?";
}

FSEC_API const char *fsec_mud_init_name(enum fsec_mud_init i)
{
	return i == FSEC_MUD_INIT_FROM_DEVICE ? "from-device"
	       : i == FSEC_MUD_INIT_TO_DEVICE ? "to-device"
					      : "either";
}

FSEC_API enum fsec_err fsec_mud_verify(const unsigned char *data, size_t data_len,
				       const unsigned char *sig, size_t sig_len,
				       const unsigned char *signer_pem, size_t pem_len)
{
	BIO *dbio = NULL, *sbio = NULL, *pbio = NULL;
	CMS_ContentInfo *cms = NULL;
	X509_STORE *store = NULL;
	X509 *cert = NULL;
	int ncerts = 0;
	enum fsec_err rc = FSEC_ERR_VERIFY;

	if (data_len > FSEC_MUD_MAX || sig_len > SIG_MAX || pem_len > SIG_MAX ||
	    data_len > INT_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "MUD file, signature or certificate too large");
	sbio = BIO_new_mem_buf(sig, (int)sig_len);
	pbio = BIO_new_mem_buf(signer_pem, (int)pem_len);
	dbio = BIO_new_mem_buf(data, (int)data_len);
	store = X509_STORE_new();
	if (sbio == NULL || pbio == NULL || dbio == NULL || store == NULL) {
		rc = fsec_seterr_ossl(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	cms = d2i_CMS_bio(sbio, NULL);
	if (cms == NULL) {
		rc = fsec_seterr_ossl(FSEC_ERR_PARSE, "signature is not DER CMS");
		goto out;
	}
	while ((cert = PEM_read_bio_X509(pbio, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(store, cert) != 1) {
			rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot trust the signer certificate");
			goto out;
		}
		X509_free(cert);
		cert = NULL;
		ncerts++;
	}
	ERR_clear_error();
	if (ncerts == 0) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "no PEM certificate in the signer file");
		goto out;
	}
	/* The pinned certificate is the trust anchor itself: a manufacturer's
	 * leaf need not chain to any root this machine knows. */
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	X509_STORE_set_purpose(store, X509_PURPOSE_ANY);
	if (CMS_verify(cms, NULL, store, dbio, NULL, CMS_BINARY | CMS_DETACHED) != 1) {
		rc = fsec_seterr_ossl(FSEC_ERR_VERIFY, "MUD signature does not verify");
		goto out;
	}
	rc = FSEC_OK;
out:
	X509_free(cert);
	X509_STORE_free(store);
	CMS_ContentInfo_free(cms);
	BIO_free(sbio);
	BIO_free(pbio);
	BIO_free(dbio);
	return rc;
}
