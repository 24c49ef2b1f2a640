/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network policy compiler, step two: fsec_netpolicy_prepare() loads and
 * verifies each class's MUD file, folds its entries and the policy's own
 * allowances into the model (endpoints, local networks, IoT pairs), or says
 * in a warning why an entry is not compiled, and checks that no MAC or IP is
 * claimed twice.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dynbuf_int.h"
#include "err_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/netinput.h"
#include "netpolicy_int.h"
#include "text_int.h"

/* -------------------------------------------------------------- prepare */

static enum fsec_err add_ep(struct klass *c, const struct endpoint *e)
{
	enum fsec_err rc;

	/* Exact duplicates would make nft refuse the set ("File exists"). */
	for (size_t i = 0; i < c->neps; i++) {
		const struct endpoint *o = &c->eps[i];

		if (o->ps.proto == e->ps.proto && o->ps.lo == e->ps.lo && o->ps.hi == e->ps.hi &&
		    strcmp(o->dns, e->dns) == 0 && o->family == e->family &&
		    (e->dns[0] != '\0' || (o->pfx.family == e->pfx.family && o->pfx.len == e->pfx.len &&
					   memcmp(o->pfx.a, e->pfx.a, 16) == 0)))
			return FSEC_OK;
	}
	if ((rc = fsec_array_grow((void **)&c->eps, &c->capeps, c->neps, sizeof(*c->eps), 65536)) !=
	    FSEC_OK)
		return rc;
	c->eps[c->neps++] = *e;
	return FSEC_OK;
}

/* Add a name's endpoint: resolved now (--resolve), or as a dnsmasq-filled set. */
static enum fsec_err add_name(struct fsec_netpolicy *p, struct klass *c, const char *name,
			      int family, const struct portsel *ps, const char *src, bool resolve)
{
	struct endpoint e = {.family = family, .ps = *ps};
	struct addrinfo hints = {0}, *res = NULL;
	enum fsec_err rc = FSEC_OK;
	int r;

	snprintf(e.src, sizeof(e.src), "%s", src);
	if (!resolve) {
		snprintf(e.dns, sizeof(e.dns), "%s", name);
		return add_ep(c, &e);
	}
	hints.ai_family = family == 6 ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(name, NULL, &hints, &res);
	if (r != 0)
		return fsec_seterr(FSEC_ERR_NET, "%s: cannot resolve %s: %s", src, name,
				   gai_strerror(r));
	for (struct addrinfo *ai = res; ai != NULL && rc == FSEC_OK; ai = ai->ai_next) {
		memset(&e.pfx, 0, sizeof(e.pfx));
		if (ai->ai_family == AF_INET) {
			e.pfx.family = 4;
			e.pfx.len = 32;
			memcpy(e.pfx.a, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, 4);
		} else {
			e.pfx.family = 6;
			e.pfx.len = 128;
			memcpy(e.pfx.a, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, 16);
		}
		snprintf(e.note, sizeof(e.note), "resolved from %s", name);
		rc = add_ep(c, &e);
	}
	freeaddrinfo(res);
	(void)p;
	return rc;
}

static enum fsec_err add_pair(struct klass *c, size_t to, const struct portsel *ps,
			      const char *src)
{
	struct pair *g;

	for (size_t i = 0; i < c->npairs; i++)
		if (c->pairs[i].to == to && c->pairs[i].ps.proto == ps->proto &&
		    c->pairs[i].ps.lo == ps->lo && c->pairs[i].ps.hi == ps->hi)
			return FSEC_OK;
	if (c->npairs >= 65536)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "class %s: too many IoT pairs", c->name);
	g = realloc(c->pairs, (c->npairs + 1) * sizeof(*g));
	if (g == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	c->pairs = g;
	c->pairs[c->npairs].to = to;
	c->pairs[c->npairs].ps = *ps;
	snprintf(c->pairs[c->npairs].src, SRC_MAX, "%s", src);
	c->npairs++;
	return FSEC_OK;
}

static bool is_dns_port(const struct portsel *ps)
{
	return (ps->lo <= 53 && ps->hi >= 53) || (ps->lo <= 853 && ps->hi >= 853);
}

static bool is_local_only(const struct prefix *pf)
{
	/* Multicast, broadcast and link-local never cross the router. */
	if (pf->family == 4)
		return pf->a[0] >= 224 || (pf->a[0] == 169 && pf->a[1] == 254);
	return pf->a[0] == 0xff || (pf->a[0] == 0xfe && (pf->a[1] & 0xc0) == 0x80);
}

/* True if to-device entry t only describes replies to one of the file's
 * from-device entries: same peer and protocol, its source port being that
 * entry's destination port (mudgee writes such pairs without
 * direction-initiated). */
static bool is_reply_of(const struct fsec_mud *m, const struct fsec_mud_ace *t)
{
	for (size_t i = 0; i < fsec_mud_ace_count(m); i++) {
		const struct fsec_mud_ace *f = fsec_mud_ace_get(m, i);

		if (f->dir == FSEC_MUD_FROM_DEVICE && f->family == t->family &&
		    f->proto == t->proto && f->peer == t->peer && f->match == t->match &&
		    strcmp(f->addr, t->addr) == 0 && strcmp(f->dnsname, t->dnsname) == 0 &&
		    strcmp(f->match_value, t->match_value) == 0 && f->dport_lo == t->sport_lo &&
		    f->dport_hi == t->sport_hi && (f->dport_lo != 0 || f->dport_hi != 65535) &&
		    (f->proto == 6 || f->proto == 17))
			return true;
	}
	return false;
}

/* One MUD entry of class c into the model, or a warning saying why not. */
static enum fsec_err mud_entry(struct fsec_netpolicy *p, struct klass *c, const char *file,
			       const struct fsec_mud_ace *a, bool resolve)
{
	struct portsel ps = {.proto = a->proto, .lo = a->dport_lo, .hi = a->dport_hi};
	char src[SRC_MAX];
	enum fsec_err rc = FSEC_OK;

	snprintf(src, sizeof(src), "%.64s %.159s", file, a->path);
	/* Replies are the conntrack rule's business: an entry for the answering
	 * direction adds nothing, and compiling it would open a port range. */
	if ((a->dir == FSEC_MUD_TO_DEVICE && a->initiated == FSEC_MUD_INIT_FROM_DEVICE) ||
	    (a->dir == FSEC_MUD_FROM_DEVICE && a->initiated == FSEC_MUD_INIT_TO_DEVICE) ||
	    (a->dir == FSEC_MUD_TO_DEVICE && is_reply_of(c->mudp, a)))
		return FSEC_OK;
	if (a->dir == FSEC_MUD_TO_DEVICE) {
		return np_warn(p, "%s: class %s: to-device entry not compiled: only exceptions and "
			       "management hosts may open connections to a device (replies pass)",
			    src, c->name);
	}
	if (a->family == 0)
		return np_warn(p, "%s: class %s: Ethernet-only entry not compiled: the router filters IP",
			    src, c->name);
	if (a->proto != 6 && a->proto != 17)
		return np_warn(p, "%s: class %s: protocol %d not compiled: only tcp and udp endpoints "
			       "are allowed through the router",
			    src, c->name, a->proto);
	if (a->sport_lo != 0 || a->sport_hi != 65535)
		rc = np_warn(p, "%s: class %s: source-port constraint on the device's side not enforced",
			  src, c->name);
	if (rc != FSEC_OK)
		return rc;
	if (a->peer == FSEC_MUD_PEER_ADDR) {
		struct endpoint e = {.ps = ps};

		if (!np_parse_prefix(a->addr, &e.pfx))
			return fsec_seterr(FSEC_ERR_PARSE, "%s: bad prefix", src);
		if (is_local_only(&e.pfx))
			return np_warn(p, "%s: class %s: %s stays on the device's segment; not routed, "
				       "not compiled",
				    src, c->name, a->addr);
		if (is_dns_port(&ps))
			return np_warn(p, "%s: class %s: DNS to %s not allowed: devices must use the "
				       "router's DNS",
				    src, c->name, a->addr);
		snprintf(e.src, sizeof(e.src), "%s", src);
		return add_ep(c, &e);
	}
	if (a->peer == FSEC_MUD_PEER_DNS)
		return add_name(p, c, a->dnsname, a->family, &ps, src, resolve);
	if (a->peer == FSEC_MUD_PEER_ANY)
		return np_warn(p, "%s: class %s: entry with no peer (any address) not compiled: an "
			       "allowlist needs a destination",
			    src, c->name);
	switch (a->match) {
	case FSEC_MUD_MATCH_LOCAL_NETWORKS:
		if (a->family != 4)
			return np_warn(p, "%s: class %s: IPv6 local-networks not compiled (zones are IPv4)",
				    src, c->name);
		{
			struct locsel *g = realloc(c->loc, (c->nloc + 1) * sizeof(*g));

			if (g == NULL)
				return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			c->loc = g;
			for (size_t i = 0; i < c->nloc; i++)
				if (memcmp(&c->loc[i].ps, &ps, sizeof(ps)) == 0)
					return FSEC_OK;
			c->loc[c->nloc].ps = ps;
			snprintf(c->loc[c->nloc].src, SRC_MAX, "%s", src);
			c->nloc++;
		}
		return FSEC_OK;
	case FSEC_MUD_MATCH_SAME_MANUFACTURER:
	case FSEC_MUD_MATCH_MANUFACTURER:
	case FSEC_MUD_MATCH_MODEL: {
		size_t n = 0;

		for (size_t i = 0; i < p->nclasses && rc == FSEC_OK; i++) {
			const struct klass *o = &p->classes[i];
			const char *want = a->match == FSEC_MUD_MATCH_SAME_MANUFACTURER
						   ? fsec_mud_manufacturer(c->mudp)
						   : a->match_value;

			if (o->mudp == NULL || a->family != 4)
				continue;
			if (a->match == FSEC_MUD_MATCH_MODEL ? strcmp(fsec_mud_url(o->mudp), want) != 0
							     : strcmp(fsec_mud_manufacturer(o->mudp),
								      want) != 0)
				continue;
			rc = add_pair(c, i, &ps, src);
			n++;
		}
		if (rc == FSEC_OK && n == 0)
			rc = np_warn(p, "%s: class %s: %s match names no class in this policy", src,
				  c->name, fsec_mud_match_name(a->match));
		return rc;
	}
	case FSEC_MUD_MATCH_CONTROLLER:
	case FSEC_MUD_MATCH_MY_CONTROLLER: {
		const struct prefix *addrs = NULL;
		size_t n = 0;

		if (a->match == FSEC_MUD_MATCH_MY_CONTROLLER) {
			addrs = c->my_ctl;
			n = c->nmy_ctl;
		} else {
			for (size_t i = 0; i < c->nctl; i++)
				if (strcmp(c->ctl[i].uri, a->match_value) == 0) {
					addrs = c->ctl[i].addr;
					n = c->ctl[i].n;
				}
		}
		if (n == 0 && a->match == FSEC_MUD_MATCH_CONTROLLER &&
		    (strcmp(a->match_value, "urn:ietf:params:mud:dns") == 0 ||
		     strcmp(a->match_value, "urn:ietf:params:mud:ntp") == 0 ||
		     strcmp(a->match_value, "urn:ietf:params:mud:gateway") == 0))
			return np_warn(p, "%s: class %s: %s is the router (DHCP, DNS and NTP only)", src,
				    c->name, a->match_value);
		if (n == 0)
			return np_warn(p, "%s: class %s: %s%s%s has no address in the policy (class "
				       "\"controllers\"/\"my_controller\"); not compiled",
				    src, c->name, fsec_mud_match_name(a->match),
				    a->match_value[0] != '\0' ? " " : "",
				    fsec_text_clean(a->match_value, (char[80]){0}, 80));
		for (size_t i = 0; i < n && rc == FSEC_OK; i++) {
			struct endpoint e = {.pfx = addrs[i], .ps = ps};

			snprintf(e.src, sizeof(e.src), "%s", src);
			rc = add_ep(c, &e);
		}
		return rc;
	}
	default:
		return np_warn(p, "%s: class %s: entry not compiled", src, c->name);
	}
}

/* The MUD file named by a class: a path under mud_dir, or for a URL the
 * last path segment of it (MUD files are fetched and pinned out of band). */
static void mud_path(const char *dir, const char *mud, char *out, size_t cap)
{
	const char *name = mud;

	if (strstr(mud, "://") != NULL) {
		const char *slash = strrchr(mud, '/');

		name = slash != NULL ? slash + 1 : mud;
	}
	if (name[0] == '/' || dir == NULL)
		snprintf(out, cap, "%s", name);
	else
		snprintf(out, cap, "%s/%s", dir, name);
}

static enum fsec_err load_mud(struct fsec_netpolicy *p, struct klass *c,
			      const struct fsec_netpolicy_opts *o)
{
	char path[2048], sigpath[2100];
	const char *signer;
	unsigned char *buf = NULL, *sig = NULL, *pem = NULL;
	size_t len = 0, slen = 0, plen = 0;
	enum fsec_err rc;

	mud_path(o->mud_dir != NULL ? o->mud_dir : ".", c->mud, path, sizeof(path));
	if ((rc = fsec_file_read(path, FSEC_MUD_MAX, &buf, &len)) != FSEC_OK) {
		rc = fsec_seterr(rc, "%s.mud: %s: %s", c->path, path, fsec_err_detail());
		goto out;
	}
	signer = c->signer[0] != '\0' ? c->signer : o->mud_signer;
	if (signer != NULL) {
		const char *what = sigpath;

		/* The one naming rule the CLI uses too (netinput.h). */
		if ((rc = fsec_netinput_mud_sig_path(path, sigpath, sizeof(sigpath))) != FSEC_OK) {
			rc = fsec_seterr(rc, "class %s: %s", c->name, fsec_err_detail());
			goto out;
		}

		/* The message names whichever file failed: signature, signer or MUD. */
		rc = fsec_file_read(sigpath, 256u * 1024u, &sig, &slen);
		if (rc == FSEC_OK) {
			what = signer;
			rc = fsec_file_read(signer, 256u * 1024u, &pem, &plen);
		}
		if (rc == FSEC_OK) {
			what = path;
			rc = fsec_mud_verify(buf, len, sig, slen, pem, plen);
		}
		if (rc != FSEC_OK) {
			rc = fsec_seterr(rc, "%s: class %s: %s", what, c->name, fsec_err_detail());
			goto out;
		}
	}
	if ((rc = fsec_mud_parse_flags(buf, len, o->mud_skip_invalid ? FSEC_MUD_SKIP_INVALID : 0,
					&c->mudp)) != FSEC_OK) {
		rc = fsec_seterr(rc, "%s: %s", path, fsec_err_detail());
		goto out;
	}
	for (size_t i = 0; i < fsec_mud_warning_count(c->mudp) && rc == FSEC_OK; i++)
		rc = np_warn(p, "%s: %s", path, fsec_mud_warning_get(c->mudp, i));
out:
	free(buf);
	free(sig);
	free(pem);
	return rc;
}

static int dev_cmp_macip(const void *a, const void *b)
{
	const struct device *x = a, *y = b;
	int c = (int)x->has_mac - (int)y->has_mac;

	if (c == 0)
		c = memcmp(x->mac, y->mac, 6);
	if (c == 0)
		c = (int)x->has_ip - (int)y->has_ip;
	if (c == 0)
		c = memcmp(x->ip, y->ip, 4);
	return c;
}

static enum fsec_err check_devices(struct fsec_netpolicy *p)
{
	struct device *byip = NULL;
	enum fsec_err rc = FSEC_ERR_EXISTS;
	size_t n = 0;

	/* Sorted by MAC then IP: a MAC or an IP in two devices would give
	 * nft two verdicts for one key. */
	if (p->ndevices > 1) /* qsort(NULL, 0) is undefined */
		qsort(p->devices, p->ndevices, sizeof(*p->devices), dev_cmp_macip);
	for (size_t i = 1; i < p->ndevices; i++) {
		const struct device *a = &p->devices[i - 1], *b = &p->devices[i];

		if (a->has_mac && b->has_mac && memcmp(a->mac, b->mac, 6) == 0)
			return fsec_seterr(FSEC_ERR_EXISTS, "devices %s and %s share a MAC address",
					   a->id, b->id);
	}
	byip = malloc((p->ndevices + 1) * sizeof(*byip));
	if (byip == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < p->ndevices; i++) {
		struct prefix a = {.family = 4, .len = 32};
		bool in = false;

		if (!p->devices[i].has_ip)
			continue;
		memcpy(a.a, p->devices[i].ip, 4);
		for (size_t z = 0; z < p->niot && !in; z++)
			for (size_t k = 0; k < p->iot[z].nnets && !in; k++)
				in = np_prefix_has(&p->iot[z].nets[k], &a);
		if (!in) {
			char s[32];

			np_prefix_str(&a, s, sizeof(s));
			rc = fsec_seterr(FSEC_ERR_INVAL, "device %s: %s is in no IoT zone subnet",
					 p->devices[i].id, s);
			goto out;
		}
		byip[n] = p->devices[i];
		byip[n].has_mac = true;
		memset(byip[n].mac, 0, 6);
		n++;
	}
	if (n > 1)
		qsort(byip, n, sizeof(*byip), dev_cmp_macip);
	for (size_t i = 1; i < n; i++)
		if (memcmp(byip[i - 1].ip, byip[i].ip, 4) == 0) {
			rc = fsec_seterr(FSEC_ERR_EXISTS, "devices %s and %s share an IP address",
					 byip[i - 1].id, byip[i].id);
			goto out;
		}
	rc = FSEC_OK;
out:
	free(byip);
	return rc;
}

static enum fsec_err policy_allow(struct fsec_netpolicy *p, struct klass *c, bool resolve)
{
	static const char *const keys[] = {"host", "proto", "port", NULL};
	enum fsec_err rc;

	for (size_t i = 0; i < json_array_size(c->allow); i++) {
		const json_t *o = json_array_get(c->allow, i);
		struct endpoint e = {0};
		const char *host = NULL;
		char b[96];

		snprintf(b, sizeof(b), "%s.allow[%zu]", c->path, i);
		if ((rc = np_check_keys(o, b, keys)) != FSEC_OK ||
		    (rc = np_j_str(o, "host", b, true, FSEC_MUD_DNSNAME_MAX, &host)) != FSEC_OK ||
		    (rc = np_j_portsel(o, b, &e.ps)) != FSEC_OK)
			return rc;
		snprintf(e.src, sizeof(e.src), "policy %s", b);
		if (np_parse_prefix(host, &e.pfx)) {
			if (is_dns_port(&e.ps))
				return np_bad(b, "DNS goes to the router; devices may not use other resolvers");
			if ((rc = add_ep(c, &e)) != FSEC_OK)
				return rc;
			continue;
		}
		if (!fsec_text_is_hostname(host))
			return np_bad(b, "host must be an address, a prefix or a DNS name (two or more labels)");
		if ((rc = add_name(p, c, host, 4, &e.ps, e.src, resolve)) != FSEC_OK)
			return rc;
	}
	return FSEC_OK;
}

/* "A.B.C.D:PORT": fleetsecd, for the quarantine class. */
static enum fsec_err parse_fleetsecd(struct fsec_netpolicy *p, const char *s)
{
	char addr[16];
	const char *colon = strrchr(s, ':');
	char *end = NULL;
	unsigned long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(addr) || colon[1] == '\0')
		goto bad;
	memcpy(addr, s, (size_t)(colon - s));
	addr[colon - s] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] < '0' || colon[1] > '9' || port == 0 || port > 65535 ||
	    !np_parse_addr(addr, 4, &p->fleetsecd))
		goto bad;
	p->fleetsecd_port = (unsigned)port;
	p->has_fleetsecd = true;
	return FSEC_OK;
bad:
	return fsec_seterr(FSEC_ERR_PARSE, "fleetsecd '%.64s': expected IPv4-ADDRESS:PORT",
			   fsec_text_clean(s, (char[72]){0}, 72));
}

FSEC_API enum fsec_err fsec_netpolicy_prepare(struct fsec_netpolicy *p,
					      const struct fsec_netpolicy_opts *opts)
{
	struct fsec_netpolicy_opts none = {0};
	const struct fsec_netpolicy_opts *o = opts != NULL ? opts : &none;
	enum fsec_err rc;

	if (p->prepared)
		return fsec_seterr(FSEC_ERR_INVAL, "policy already prepared");
	if (o->fleetsecd != NULL && (rc = parse_fleetsecd(p, o->fleetsecd)) != FSEC_OK)
		return rc;
	for (size_t i = 0; i < p->nclasses; i++)
		if (p->classes[i].mud[0] != '\0' &&
		    (rc = load_mud(p, &p->classes[i], o)) != FSEC_OK)
			return rc;
	/* MUD entries after every file is loaded: manufacturer and model
	 * matches refer to the other classes' files. */
	for (size_t i = 0; i < p->nclasses; i++) {
		struct klass *c = &p->classes[i];
		char file[1100];

		if ((rc = policy_allow(p, c, o->resolve)) != FSEC_OK)
			return rc;
		if (c->mudp == NULL)
			continue;
		mud_path(NULL, c->mud, file, sizeof(file));
		for (size_t j = 0; j < fsec_mud_ace_count(c->mudp); j++)
			if ((rc = mud_entry(p, c, file, fsec_mud_ace_get(c->mudp, j), o->resolve)) !=
			    FSEC_OK)
				return rc;
	}
	for (size_t i = 0; i < p->nexc; i++) {
		const struct exception *e = &p->exc[i];

		if ((rc = add_pair(&p->classes[np_class_find(p, e->from)], np_class_find(p, e->to), &e->ps,
				   e->path)) != FSEC_OK)
			return rc;
	}
	if ((rc = check_devices(p)) != FSEC_OK)
		return rc;
	for (size_t i = 0; i < p->ndevices; i++)
		if (!p->devices[i].has_mac &&
		    (rc = np_warn(p, "device %s: no MAC: its IPv4 address alone identifies it, which a "
				  "spoofer on the same segment could claim",
			       p->devices[i].id)) != FSEC_OK)
			return rc;
	p->prepared = true;
	return FSEC_OK;
}
