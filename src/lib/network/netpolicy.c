/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network policy compiler. parse() reads the operator's policy, prepare()
 * folds in the MUD files and builds the decision model (classes with their
 * endpoint, local-network and pair allowances; devices; management grants),
 * render() writes that model as nftables sets, maps and one chain per class,
 * and explain() walks the same model in the same order as the ruleset does.
 * Keep render() and explain() in step: each rule in the ruleset has its
 * counterpart, named the same, in fsec_netpolicy_explain() and decide_class().
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "err_int.h"
#include "text_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/mud.h"
#include "fleetsec/netpolicy.h"

#define SRC_MAX 256
#define ID_MAX 64
#define IOT_ZONES_MAX 16
#define NETS_MAX 64
#define LIST_MAX 4096
#define WARN_MAX 10000
#define OUT_MAX (512u * 1024u * 1024u)
#define ELEMS_PER_LINE 512
#define LOG_RATE "limit rate 10/second burst 20 packets"

struct prefix {
	int family; /* 4 or 6 */
	unsigned char a[16];
	unsigned len;
};

struct portsel {
	int proto; /* 6 or 17 */
	unsigned lo, hi;
};

struct endpoint {
	struct prefix pfx; /* unused when dns[0] != 0 */
	char dns[FSEC_MUD_DNSNAME_MAX + 1];
	int family; /* of a DNS name: which records fill its set */
	struct portsel ps;
	char src[SRC_MAX]; /* where the allowance comes from */
	char note[80];     /* e.g. "resolved from NAME" */
};

struct pair {
	size_t to; /* class index */
	struct portsel ps;
	char src[SRC_MAX];
};

struct locsel {
	struct portsel ps;
	char src[SRC_MAX];
};

struct controller {
	char uri[256];
	struct prefix addr[NETS_MAX];
	size_t n;
};

struct klass {
	char name[FSEC_NETPOLICY_CLASS_NAME_MAX + 1];
	char path[48];
	char **models;
	size_t nmodels;
	char mud[1024], signer[1024];
	struct fsec_mud *mudp;
	struct endpoint *eps;
	size_t neps, capeps;
	struct locsel *loc;
	size_t nloc;
	struct pair *pairs;
	size_t npairs;
	struct controller *ctl;
	size_t nctl;
	struct prefix my_ctl[NETS_MAX];
	size_t nmy_ctl;
	json_t *allow; /* the policy's extra endpoints, kept until prepare */
};

struct device {
	char id[ID_MAX + 1];
	bool has_mac, has_ip;
	unsigned char mac[6];
	unsigned char ip[4];
	size_t cls;
};

struct zone {
	char name[FSEC_NETPOLICY_CLASS_NAME_MAX + 1];
	char ifname[16];
	long vlan;
	struct prefix nets[NETS_MAX];
	size_t nnets;
	struct prefix router[NETS_MAX];
	size_t nrouter;
	char ports[NETS_MAX][16];
	size_t nports;
};

struct exception {
	char from[FSEC_NETPOLICY_CLASS_NAME_MAX + 1], to[FSEC_NETPOLICY_CLASS_NAME_MAX + 1];
	struct portsel ps;
	char path[64];
};

struct mgmt {
	struct prefix host;
	struct portsel ps;
	size_t *classes; /* class indexes; none: every class */
	size_t nclasses;
	char path[64];
};

struct fsec_netpolicy {
	struct zone iot[IOT_ZONES_MAX];
	size_t niot;
	struct zone lan, wan, mgmt;
	bool has_lan, has_mgmt;
	struct klass *classes;
	size_t nclasses;
	size_t *class_order; /* class indexes sorted by name, for lookups */
	struct device *devices;
	size_t ndevices, capdevices;
	struct exception *exc;
	size_t nexc;
	struct mgmt *mg;
	size_t nmg;
	char **warnings;
	size_t nwarnings;
	bool prepared;
};

/* ---------------------------------------------------------------- helpers */

static enum fsec_err np_bad(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum fsec_err np_bad(const char *path, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fsec_seterr(FSEC_ERR_PARSE, "%s: %s", path, msg);
}

static enum fsec_err np_warn(struct fsec_netpolicy *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum fsec_err np_warn(struct fsec_netpolicy *p, const char *fmt, ...)
{
	char line[640];
	char **grown;
	va_list ap;

	/* Past the cap, further warnings are summarized by the last one. */
	if (p->nwarnings >= WARN_MAX)
		return FSEC_OK;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (p->nwarnings == WARN_MAX - 1)
		snprintf(line, sizeof(line), "more than %d warnings; the rest are not shown", WARN_MAX);
	grown = realloc(p->warnings, (p->nwarnings + 1) * sizeof(*grown));
	if (grown == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	p->warnings = grown;
	if ((p->warnings[p->nwarnings] = strdup(line)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	p->nwarnings++;
	return FSEC_OK;
}

/* Grow *arr (of elem bytes each) to hold n + 1 entries. */
static enum fsec_err np_grow(void **arr, size_t *cap, size_t n, size_t elem, size_t max)
{
	size_t ncap, bytes;
	void *g;

	if (n < *cap)
		return FSEC_OK;
	if (n >= max)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "more than %zu entries", max);
	ncap = *cap == 0 ? 16 : *cap * 2;
	if (ncap > max)
		ncap = max;
	if (fsec_mul_overflow(ncap, elem, &bytes))
		return fsec_seterr(FSEC_ERR_OVERFLOW, "size overflow");
	g = realloc(*arr, bytes);
	if (g == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	*arr = g;
	*cap = ncap;
	return FSEC_OK;
}

static bool name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n > 0 && n <= max && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n &&
	       s[0] != '-';
}

static bool has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	/* IFNAMSIZ is 16 with the NUL; quotes would break out of the string. */
	return n > 0 && n < 16 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@") == n;
}

static bool np_parse_addr(const char *s, int family, struct prefix *out)
{
	unsigned char b[16];

	if ((family == 0 || family == 4) && inet_pton(AF_INET, s, b) == 1) {
		memset(out, 0, sizeof(*out));
		out->family = 4;
		memcpy(out->a, b, 4);
		out->len = 32;
		return true;
	}
	if ((family == 0 || family == 6) && inet_pton(AF_INET6, s, b) == 1) {
		memset(out, 0, sizeof(*out));
		out->family = 6;
		memcpy(out->a, b, 16);
		out->len = 128;
		return true;
	}
	return false;
}

/* "A" or "A/LEN"; host bits must be zero so that nft and explain agree. */
static bool np_parse_prefix(const char *s, struct prefix *out)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash != NULL ? (size_t)(slash - s) : strlen(s);
	char *end = NULL;
	unsigned long len;

	if (hl == 0 || hl >= sizeof(host))
		return false;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (!np_parse_addr(host, 0, out))
		return false;
	if (slash == NULL)
		return true;
	if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
		return false;
	len = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || len > (out->family == 4 ? 32u : 128u))
		return false;
	out->len = (unsigned)len;
	for (unsigned bit = out->len; bit < (out->family == 4 ? 32u : 128u); bit++)
		if (out->a[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	return true;
}

static bool np_prefix_has(const struct prefix *pf, const struct prefix *addr)
{
	unsigned full = pf->len / 8, rem = pf->len % 8;

	if (pf->family != addr->family)
		return false;
	if (memcmp(pf->a, addr->a, full) != 0)
		return false;
	return rem == 0 || ((pf->a[full] ^ addr->a[full]) & (0xff << (8 - rem))) == 0;
}

static void np_prefix_str(const struct prefix *pf, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(pf->family == 4 ? AF_INET : AF_INET6, pf->a, a, sizeof(a));
	if (pf->len == (pf->family == 4 ? 32u : 128u))
		snprintf(buf, cap, "%s", a);
	else
		snprintf(buf, cap, "%s/%u", a, pf->len);
}

static bool np_parse_mac(const char *s, unsigned char mac[6])
{
	unsigned v[6];
	char tail;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++) {
		if (s[i * 3] == ' ' || s[i * 3] == '+' || s[i * 3] == '-')
			return false;
		mac[i] = (unsigned char)v[i];
	}
	return true;
}

static const char *np_proto_name(int proto)
{
	return proto == 6 ? "tcp" : proto == 17 ? "udp" : "?";
}

static bool np_ps_has(const struct portsel *ps, int proto, unsigned port)
{
	return ps->proto == proto && port >= ps->lo && port <= ps->hi;
}

/* ------------------------------------------------------------ JSON input */

static enum fsec_err np_j_str(const json_t *o, const char *key, const char *base, bool req,
			   size_t max, const char **out)
{
	const json_t *v = json_object_get(o, key);
	char p[128];

	snprintf(p, sizeof(p), "%s.%s", base, key);
	if (v == NULL) {
		if (req)
			return np_bad(p, "missing");
		*out = NULL;
		return FSEC_OK;
	}
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return np_bad(p, "expected a string");
	if (json_string_length(v) > max)
		return np_bad(p, "longer than %zu characters", max);
	*out = json_string_value(v);
	return FSEC_OK;
}

/* "proto": "tcp"|"udp", "port": N or "LO-HI". */
static enum fsec_err np_j_portsel(const json_t *o, const char *base, struct portsel *ps)
{
	const char *proto = NULL;
	const json_t *port = json_object_get(o, "port");
	char p[128];
	enum fsec_err rc;

	if ((rc = np_j_str(o, "proto", base, true, 8, &proto)) != FSEC_OK)
		return rc;
	snprintf(p, sizeof(p), "%s.proto", base);
	if (strcmp(proto, "tcp") == 0)
		ps->proto = 6;
	else if (strcmp(proto, "udp") == 0)
		ps->proto = 17;
	else
		return np_bad(p, "must be \"tcp\" or \"udp\"");
	snprintf(p, sizeof(p), "%s.port", base);
	if (json_is_integer(port) && json_integer_value(port) >= 0 &&
	    json_integer_value(port) <= 65535) {
		ps->lo = ps->hi = (unsigned)json_integer_value(port);
		return FSEC_OK;
	}
	if (json_is_string(port)) {
		const char *s = json_string_value(port);
		char *e1 = NULL, *e2 = NULL;
		unsigned long lo, hi;

		if (s[0] < '0' || s[0] > '9' || strlen(s) > 11)
			return np_bad(p, "must be a port or \"LOW-HIGH\"");
		lo = strtoul(s, &e1, 10);
		if (*e1 != '-' || e1[1] < '0' || e1[1] > '9')
			return np_bad(p, "must be a port or \"LOW-HIGH\"");
		hi = strtoul(e1 + 1, &e2, 10);
		if (*e2 != '\0' || lo > hi || hi > 65535)
			return np_bad(p, "must be a port or \"LOW-HIGH\" within 0-65535");
		ps->lo = (unsigned)lo;
		ps->hi = (unsigned)hi;
		return FSEC_OK;
	}
	return np_bad(p, "must be a port from 0 to 65535 or \"LOW-HIGH\"");
}

static enum fsec_err j_nets(const json_t *o, const char *key, const char *base, bool req,
			    struct prefix *nets, size_t *n, bool single)
{
	const json_t *v = json_object_get(o, key);
	char p[128];

	snprintf(p, sizeof(p), "%s.%s", base, key);
	*n = 0;
	if (v == NULL)
		return req ? np_bad(p, "missing") : FSEC_OK;
	if (json_is_string(v)) {
		if (!(single ? np_parse_addr(json_string_value(v), 0, &nets[0])
			     : np_parse_prefix(json_string_value(v), &nets[0])))
			return np_bad(p, single ? "not an address" : "not an address prefix");
		*n = 1;
		return FSEC_OK;
	}
	if (!json_is_array(v) || json_array_size(v) > NETS_MAX)
		return np_bad(p, "expected a string or an array of at most %d", NETS_MAX);
	for (size_t i = 0; i < json_array_size(v); i++) {
		const json_t *e = json_array_get(v, i);

		if (!json_is_string(e) ||
		    !(single ? np_parse_addr(json_string_value(e), 0, &nets[i])
			     : np_parse_prefix(json_string_value(e), &nets[i])))
			return np_bad(p, "[%zu] is not an address%s", i, single ? "" : " prefix");
		if (!single && nets[i].family != 4)
			return np_bad(p, "[%zu]: zone subnets are IPv4 (IPv6 is filtered by class)", i);
	}
	*n = json_array_size(v);
	return FSEC_OK;
}

static enum fsec_err np_check_keys(const json_t *o, const char *base, const char *const *keys)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return np_bad(base, "expected an object");
	json_object_foreach((json_t *)o, k, v) {
		size_t i;
		char kb[64];

		for (i = 0; keys[i] != NULL; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		/* Unknown keys are refused: a misspelt "exceptions" must not
		 * silently leave a policy looser or tighter than written. */
		if (keys[i] == NULL)
			return np_bad(base, "unknown member \"%s\"", fsec_text_clean(k, kb, sizeof(kb)));
	}
	return FSEC_OK;
}

/* A zone; need_nets for the LAN and management zones, whose subnets are how
 * explain tells their hosts from the WAN. "router" lists the router's own
 * addresses in the zone: IoT traffic to any of them meets the input hook. */
static enum fsec_err parse_zone(const json_t *o, const char *base, struct zone *z, bool iot,
				bool need_nets)
{
	static const char *const iot_keys[] = {"name", "vlan", "interface", "subnets",
					       "router", "bridge_ports", NULL};
	static const char *const keys[] = {"interface", "subnets", "router", NULL};
	const char *ifn = NULL, *name = NULL;
	const json_t *vlan, *ports;
	char p[128];
	enum fsec_err rc;

	if ((rc = np_check_keys(o, base, iot ? iot_keys : keys)) != FSEC_OK ||
	    (rc = np_j_str(o, "interface", base, true, 15, &ifn)) != FSEC_OK)
		return rc;
	snprintf(p, sizeof(p), "%s.interface", base);
	if (ifn != NULL && !ifname_ok(ifn))
		return np_bad(p, "not an interface name");
	snprintf(z->ifname, sizeof(z->ifname), "%s", ifn != NULL ? ifn : "");
	if ((rc = j_nets(o, "subnets", base, iot || need_nets, z->nets, &z->nnets, false)) !=
		    FSEC_OK ||
	    (rc = j_nets(o, "router", base, iot, z->router, &z->nrouter, true)) != FSEC_OK)
		return rc;
	if (!iot)
		return FSEC_OK;
	if ((rc = np_j_str(o, "name", base, true, FSEC_NETPOLICY_CLASS_NAME_MAX, &name)) != FSEC_OK)
		return rc;
	snprintf(p, sizeof(p), "%s.name", base);
	if (!name_ok(name, FSEC_NETPOLICY_CLASS_NAME_MAX))
		return np_bad(p, "use lower-case letters, digits, '_' and '-'");
	snprintf(z->name, sizeof(z->name), "%s", name);
	vlan = json_object_get(o, "vlan");
	snprintf(p, sizeof(p), "%s.vlan", base);
	if (vlan != NULL && (!json_is_integer(vlan) || json_integer_value(vlan) < 1 ||
			     json_integer_value(vlan) > 4094))
		return np_bad(p, "must be a VLAN ID from 1 to 4094");
	z->vlan = vlan != NULL ? (long)json_integer_value(vlan) : 0;
	if (z->nnets == 0)
		return np_bad(p, "an IoT zone needs at least one subnet");
	ports = json_object_get(o, "bridge_ports");
	snprintf(p, sizeof(p), "%s.bridge_ports", base);
	if (ports != NULL) {
		if (!json_is_array(ports) || json_array_size(ports) > NETS_MAX)
			return np_bad(p, "expected an array of interface names");
		for (size_t i = 0; i < json_array_size(ports); i++) {
			const json_t *e = json_array_get(ports, i);

			if (!json_is_string(e) || !ifname_ok(json_string_value(e)))
				return np_bad(p, "[%zu] is not an interface name", i);
			snprintf(z->ports[i], sizeof(z->ports[i]), "%s", json_string_value(e));
		}
		z->nports = json_array_size(ports);
	}
	return FSEC_OK;
}

static enum fsec_err parse_zones(struct fsec_netpolicy *p, const json_t *zones)
{
	static const char *const keys[] = {"iot", "lan", "wan", "mgmt", NULL};
	const json_t *iot = json_object_get(zones, "iot");
	enum fsec_err rc;

	if ((rc = np_check_keys(zones, "$.zones", keys)) != FSEC_OK)
		return rc;
	if (!json_is_array(iot) || json_array_size(iot) == 0 ||
	    json_array_size(iot) > IOT_ZONES_MAX)
		return np_bad("$.zones.iot", "expected an array of 1 to %d zones", IOT_ZONES_MAX);
	for (size_t i = 0; i < json_array_size(iot); i++) {
		char b[64];

		snprintf(b, sizeof(b), "$.zones.iot[%zu]", i);
		if ((rc = parse_zone(json_array_get(iot, i), b, &p->iot[i], true, true)) != FSEC_OK)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->iot[j].ifname, p->iot[i].ifname) == 0)
				return np_bad(b, "interface used by two IoT zones");
	}
	p->niot = json_array_size(iot);
	if (json_object_get(zones, "wan") == NULL)
		return np_bad("$.zones.wan", "missing");
	if ((rc = parse_zone(json_object_get(zones, "wan"), "$.zones.wan", &p->wan, false, false)) !=
	    FSEC_OK)
		return rc;
	if ((p->has_lan = json_object_get(zones, "lan") != NULL) &&
	    (rc = parse_zone(json_object_get(zones, "lan"), "$.zones.lan", &p->lan, false, true)) !=
		    FSEC_OK)
		return rc;
	if ((p->has_mgmt = json_object_get(zones, "mgmt") != NULL) &&
	    (rc = parse_zone(json_object_get(zones, "mgmt"), "$.zones.mgmt", &p->mgmt, false,
			     true)) != FSEC_OK)
		return rc;
	return FSEC_OK;
}

static int class_cmp_ctx_sort(const void *a, const void *b, void *ctx)
{
	const struct klass *cl = ctx;

	return strcmp(cl[*(const size_t *)a].name, cl[*(const size_t *)b].name);
}

/* A class by name (binary search over class_order); SIZE_MAX if none. */
static size_t np_class_find(const struct fsec_netpolicy *p, const char *name)
{
	size_t lo = 0, hi = p->nclasses;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, p->classes[p->class_order[mid]].name);

		if (c == 0)
			return p->class_order[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return SIZE_MAX;
}

static enum fsec_err parse_controllers(struct klass *c, const json_t *o, const char *base)
{
	const char *k;
	json_t *v;
	char p[128];
	enum fsec_err rc;

	if (o == NULL)
		return FSEC_OK;
	snprintf(p, sizeof(p), "%s.controllers", base);
	if (!json_is_object(o) || json_object_size(o) > NETS_MAX)
		return np_bad(p, "expected an object of controller URI to addresses");
	c->ctl = calloc(json_object_size(o) + 1, sizeof(*c->ctl));
	if (c->ctl == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	json_object_foreach((json_t *)o, k, v) {
		struct controller *ct = &c->ctl[c->nctl];
		json_t *wrap = json_pack("{s:O}", "a", v);

		if (wrap == NULL)
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		snprintf(ct->uri, sizeof(ct->uri), "%s", k);
		rc = j_nets(wrap, "a", p, true, ct->addr, &ct->n, true);
		json_decref(wrap);
		if (rc != FSEC_OK)
			return rc;
		c->nctl++;
	}
	return FSEC_OK;
}

static enum fsec_err parse_classes(struct fsec_netpolicy *p, const json_t *arr)
{
	static const char *const keys[] = {"name",       "models",        "mud", "mud_signer",
					   "allow",      "controllers",   "my_controller", NULL};
	enum fsec_err rc;

	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > FSEC_NETPOLICY_CLASSES_MAX)
		return np_bad("$.classes", "expected an array of 1 to %u classes",
			   FSEC_NETPOLICY_CLASSES_MAX);
	p->classes = calloc(json_array_size(arr), sizeof(*p->classes));
	p->class_order = calloc(json_array_size(arr), sizeof(*p->class_order));
	if (p->classes == NULL || p->class_order == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i), *models, *allow;
		struct klass *c = &p->classes[i];
		const char *name = NULL, *mud = NULL, *signer = NULL;
		char b[48], pp[96];

		snprintf(b, sizeof(b), "$.classes[%zu]", i);
		snprintf(c->path, sizeof(c->path), "%s", b);
		p->nclasses = i + 1;
		if ((rc = np_check_keys(o, b, keys)) != FSEC_OK ||
		    (rc = np_j_str(o, "name", b, true, FSEC_NETPOLICY_CLASS_NAME_MAX, &name)) != FSEC_OK ||
		    (rc = np_j_str(o, "mud", b, false, sizeof(c->mud) - 1, &mud)) != FSEC_OK ||
		    (rc = np_j_str(o, "mud_signer", b, false, sizeof(c->signer) - 1, &signer)) != FSEC_OK)
			return rc;
		snprintf(pp, sizeof(pp), "%s.name", b);
		if (!name_ok(name, FSEC_NETPOLICY_CLASS_NAME_MAX))
			return np_bad(pp, "use lower-case letters, digits, '_' and '-' (at most %d)",
				   FSEC_NETPOLICY_CLASS_NAME_MAX);
		snprintf(c->name, sizeof(c->name), "%s", name);
		snprintf(c->mud, sizeof(c->mud), "%s", mud != NULL ? mud : "");
		snprintf(c->signer, sizeof(c->signer), "%s", signer != NULL ? signer : "");
		if (signer != NULL && mud == NULL)
			return np_bad(pp, "mud_signer without mud");
		if ((mud != NULL && has_ctl(mud)) || (signer != NULL && has_ctl(signer)))
			return np_bad(b, "a file name with control characters");
		models = json_object_get(o, "models");
		snprintf(pp, sizeof(pp), "%s.models", b);
		if (models != NULL) {
			if (!json_is_array(models) || json_array_size(models) > LIST_MAX)
				return np_bad(pp, "expected an array of model names");
			c->models = calloc(json_array_size(models) + 1, sizeof(char *));
			if (c->models == NULL)
				return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			for (size_t j = 0; j < json_array_size(models); j++) {
				const json_t *m = json_array_get(models, j);

				if (!json_is_string(m) || json_string_length(m) == 0 ||
				    json_string_length(m) > 64)
					return np_bad(pp, "[%zu] is not a model name", j);
				if ((c->models[j] = strdup(json_string_value(m))) == NULL)
					return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
				c->nmodels = j + 1;
			}
		}
		allow = json_object_get(o, "allow");
		snprintf(pp, sizeof(pp), "%s.allow", b);
		if (allow != NULL && (!json_is_array(allow) || json_array_size(allow) > LIST_MAX))
			return np_bad(pp, "expected an array of at most %d endpoints", LIST_MAX);
		c->allow = json_incref((json_t *)allow);
		if ((rc = parse_controllers(c, json_object_get(o, "controllers"), b)) != FSEC_OK ||
		    (rc = j_nets(o, "my_controller", b, false, c->my_ctl, &c->nmy_ctl, true)) !=
			    FSEC_OK)
			return rc;
		p->class_order[i] = i;
	}
	qsort_r(p->class_order, p->nclasses, sizeof(size_t), class_cmp_ctx_sort, p->classes);
	for (size_t i = 1; i < p->nclasses; i++)
		if (strcmp(p->classes[p->class_order[i]].name,
			   p->classes[p->class_order[i - 1]].name) == 0)
			return np_bad(p->classes[p->class_order[i]].path, "class \"%s\" defined twice",
				   p->classes[p->class_order[i]].name);
	return FSEC_OK;
}

/* The class a device names: a class name, else a model some class lists. */
static size_t class_for(const struct fsec_netpolicy *p, const char *name)
{
	size_t c = np_class_find(p, name);

	if (c != SIZE_MAX)
		return c;
	for (size_t i = 0; i < p->nclasses; i++)
		for (size_t j = 0; j < p->classes[i].nmodels; j++)
			if (strcmp(p->classes[i].models[j], name) == 0)
				return i;
	return SIZE_MAX;
}

static enum fsec_err device_add(struct fsec_netpolicy *p, const char *path, const char *id,
				const char *mac, const char *ip, size_t cls)
{
	struct device *d;
	struct prefix a;
	enum fsec_err rc;

	if (mac == NULL && ip == NULL)
		return np_bad(path, "a device needs a MAC, an IP, or both");
	if ((rc = np_grow((void **)&p->devices, &p->capdevices, p->ndevices, sizeof(*p->devices),
		       FSEC_NETPOLICY_DEVICES_MAX)) != FSEC_OK)
		return rc;
	d = &p->devices[p->ndevices];
	memset(d, 0, sizeof(*d));
	if (mac != NULL) {
		if (!np_parse_mac(mac, d->mac))
			return np_bad(path, "\"%.40s\" is not a MAC address (aa:bb:cc:dd:ee:ff)",
				   fsec_text_clean(mac, (char[48]){0}, 48));
		d->has_mac = true;
	}
	if (ip != NULL) {
		if (!np_parse_addr(ip, 4, &a))
			return np_bad(path, "\"%.40s\" is not an IPv4 address",
				   fsec_text_clean(ip, (char[48]){0}, 48));
		memcpy(d->ip, a.a, 4);
		d->has_ip = true;
	}
	/* IDs appear in messages and warnings: one line each, whatever the file says. */
	fsec_text_clean(id != NULL ? id : "", d->id, sizeof(d->id));
	d->cls = cls;
	p->ndevices++;
	return FSEC_OK;
}

static enum fsec_err parse_devices(struct fsec_netpolicy *p, const json_t *arr)
{
	static const char *const keys[] = {"id", "mac", "ip", "class", NULL};
	enum fsec_err rc;

	if (arr == NULL)
		return FSEC_OK;
	if (!json_is_array(arr) || json_array_size(arr) > FSEC_NETPOLICY_DEVICES_MAX)
		return np_bad("$.devices", "expected an array of at most %u devices",
			   FSEC_NETPOLICY_DEVICES_MAX);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i);
		const char *id = NULL, *mac = NULL, *ip = NULL, *cls = NULL;
		char b[48];
		size_t ci;

		snprintf(b, sizeof(b), "$.devices[%zu]", i);
		if ((rc = np_check_keys(o, b, keys)) != FSEC_OK ||
		    (rc = np_j_str(o, "id", b, false, ID_MAX, &id)) != FSEC_OK ||
		    (rc = np_j_str(o, "mac", b, false, 17, &mac)) != FSEC_OK ||
		    (rc = np_j_str(o, "ip", b, false, 15, &ip)) != FSEC_OK ||
		    (rc = np_j_str(o, "class", b, true, 64, &cls)) != FSEC_OK)
			return rc;
		if ((ci = class_for(p, cls)) == SIZE_MAX)
			return np_bad(b, "class \"%s\" is not defined",
				   fsec_text_clean(cls, (char[72]){0}, 72));
		if ((rc = device_add(p, b, id, mac, ip, ci)) != FSEC_OK)
			return rc;
	}
	return FSEC_OK;
}

static enum fsec_err parse_exceptions(struct fsec_netpolicy *p, const json_t *arr)
{
	static const char *const keys[] = {"from", "to", "proto", "port", NULL};
	enum fsec_err rc;

	if (arr == NULL)
		return FSEC_OK;
	if (!json_is_array(arr) || json_array_size(arr) > LIST_MAX)
		return np_bad("$.exceptions", "expected an array of at most %d", LIST_MAX);
	p->exc = calloc(json_array_size(arr) + 1, sizeof(*p->exc));
	if (p->exc == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i);
		struct exception *e = &p->exc[i];
		const char *from = NULL, *to = NULL;

		snprintf(e->path, sizeof(e->path), "$.exceptions[%zu]", i);
		if ((rc = np_check_keys(o, e->path, keys)) != FSEC_OK ||
		    (rc = np_j_str(o, "from", e->path, true, FSEC_NETPOLICY_CLASS_NAME_MAX, &from)) !=
			    FSEC_OK ||
		    (rc = np_j_str(o, "to", e->path, true, FSEC_NETPOLICY_CLASS_NAME_MAX, &to)) !=
			    FSEC_OK ||
		    (rc = np_j_portsel(o, e->path, &e->ps)) != FSEC_OK)
			return rc;
		if (np_class_find(p, from) == SIZE_MAX || np_class_find(p, to) == SIZE_MAX)
			return np_bad(e->path, "names a class that is not defined");
		snprintf(e->from, sizeof(e->from), "%s", from);
		snprintf(e->to, sizeof(e->to), "%s", to);
		p->nexc = i + 1;
	}
	return FSEC_OK;
}

static enum fsec_err parse_mgmt(struct fsec_netpolicy *p, const json_t *arr)
{
	static const char *const keys[] = {"host", "proto", "port", "classes", NULL};
	enum fsec_err rc;

	if (arr == NULL)
		return FSEC_OK;
	if (!json_is_array(arr) || json_array_size(arr) > LIST_MAX)
		return np_bad("$.management", "expected an array of at most %d", LIST_MAX);
	p->mg = calloc(json_array_size(arr) + 1, sizeof(*p->mg));
	if (p->mg == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i), *cls;
		struct mgmt *m = &p->mg[i];
		const char *host = NULL;
		char hp[96];

		p->nmg = i + 1;
		snprintf(m->path, sizeof(m->path), "$.management[%zu]", i);
		if ((rc = np_check_keys(o, m->path, keys)) != FSEC_OK ||
		    (rc = np_j_str(o, "host", m->path, true, 64, &host)) != FSEC_OK ||
		    (rc = np_j_portsel(o, m->path, &m->ps)) != FSEC_OK)
			return rc;
		snprintf(hp, sizeof(hp), "%s.host", m->path);
		if (!np_parse_prefix(host, &m->host) || m->host.family != 4)
			return np_bad(hp, "not an IPv4 address or prefix");
		cls = json_object_get(o, "classes");
		if (cls == NULL)
			continue;
		snprintf(hp, sizeof(hp), "%s.classes", m->path);
		if (!json_is_array(cls) || json_array_size(cls) > FSEC_NETPOLICY_CLASSES_MAX)
			return np_bad(hp, "expected an array of class names");
		m->classes = calloc(json_array_size(cls) + 1, sizeof(size_t));
		if (m->classes == NULL)
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		for (size_t j = 0; j < json_array_size(cls); j++) {
			const json_t *c = json_array_get(cls, j);

			if (!json_is_string(c) ||
			    (m->classes[j] = np_class_find(p, json_string_value(c))) == SIZE_MAX)
				return np_bad(hp, "[%zu] is not a defined class", j);
			m->nclasses = j + 1;
		}
	}
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_netpolicy_parse(const unsigned char *buf, size_t len,
					    struct fsec_netpolicy **out)
{
	static const char *const keys[] = {"version", "zones", "classes", "devices",
					   "exceptions", "management", NULL};
	struct fsec_netpolicy *p = NULL;
	json_t *root = NULL;
	json_error_t jerr;
	const json_t *ver;
	enum fsec_err rc = FSEC_ERR_PARSE;

	if (len > FSEC_NETPOLICY_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "policy over %u bytes", FSEC_NETPOLICY_MAX);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "$: not JSON (line %d column %d: %s)", jerr.line,
				 jerr.column, fsec_text_clean(jerr.text, (char[128]){0}, 128));
		goto out;
	}
	if ((rc = np_check_keys(root, "$", keys)) != FSEC_OK)
		goto out;
	ver = json_object_get(root, "version");
	if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
		rc = np_bad("$.version", "must be 1");
		goto out;
	}
	if ((rc = parse_zones(p, json_object_get(root, "zones"))) != FSEC_OK ||
	    (rc = parse_classes(p, json_object_get(root, "classes"))) != FSEC_OK ||
	    (rc = parse_devices(p, json_object_get(root, "devices"))) != FSEC_OK ||
	    (rc = parse_exceptions(p, json_object_get(root, "exceptions"))) != FSEC_OK ||
	    (rc = parse_mgmt(p, json_object_get(root, "management"))) != FSEC_OK)
		goto out;
	*out = p;
	p = NULL;
	rc = FSEC_OK;
out:
	json_decref(root);
	fsec_netpolicy_free(p);
	return rc;
}

FSEC_API void fsec_netpolicy_free(struct fsec_netpolicy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nclasses; i++) {
		struct klass *c = &p->classes[i];

		for (size_t j = 0; j < c->nmodels; j++)
			free(c->models[j]);
		free(c->models);
		fsec_mud_free(c->mudp);
		free(c->eps);
		free(c->loc);
		free(c->pairs);
		free(c->ctl);
		json_decref(c->allow);
	}
	for (size_t i = 0; i < p->nmg; i++)
		free(p->mg[i].classes);
	for (size_t i = 0; i < p->nwarnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	free(p->classes);
	free(p->class_order);
	free(p->devices);
	free(p->exc);
	free(p->mg);
	free(p);
}

FSEC_API enum fsec_err fsec_netpolicy_add_device(struct fsec_netpolicy *p, const char *id,
						 const char *mac, const char *ip,
						 const char *class_or_model)
{
	size_t c;
	char path[96];

	if (p->prepared)
		return fsec_seterr(FSEC_ERR_INVAL, "policy already prepared");
	snprintf(path, sizeof(path), "device %s", fsec_text_clean(id != NULL ? id : "?", (char[72]){0}, 72));
	if (mac == NULL && ip == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "%s: has neither a MAC nor an IP", path);
	c = class_for(p, class_or_model != NULL ? class_or_model : "");
	if (c == SIZE_MAX)
		return np_warn(p, "%s: model \"%s\" belongs to no class; device left out (default deny)",
			    path, fsec_text_clean(class_or_model != NULL ? class_or_model : "", (char[72]){0}, 72));
	return device_add(p, path, id, mac, ip, c);
}

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
	if ((rc = np_grow((void **)&c->eps, &c->capeps, c->neps, sizeof(*c->eps), 65536)) != FSEC_OK)
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
		snprintf(sigpath, sizeof(sigpath), "%.*s.p7s",
			 (int)(strlen(path) > 5 && strcmp(path + strlen(path) - 5, ".json") == 0
				       ? strlen(path) - 5
				       : strlen(path)),
			 path);
		const char *what = sigpath;

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
	if ((rc = fsec_mud_parse(buf, len, &c->mudp)) != FSEC_OK) {
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

FSEC_API enum fsec_err fsec_netpolicy_prepare(struct fsec_netpolicy *p,
					      const struct fsec_netpolicy_opts *opts)
{
	struct fsec_netpolicy_opts none = {0};
	const struct fsec_netpolicy_opts *o = opts != NULL ? opts : &none;
	enum fsec_err rc;

	if (p->prepared)
		return fsec_seterr(FSEC_ERR_INVAL, "policy already prepared");
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

/* The names of a class's sets. The "i" variants have the interval flag,
 * needed only for prefixes and port ranges; render and explain both call
 * these so that explain names the set the kernel really consults. */
static void np_ep_set_name(const struct klass *c, int fam, char *buf, size_t cap)
{
	bool interval = false;

	for (size_t i = 0; i < c->neps; i++) {
		const struct endpoint *x = &c->eps[i];

		if (x->dns[0] == '\0' && x->pfx.family == fam)
			interval |= x->pfx.len != (fam == 4 ? 32u : 128u) || x->ps.lo != x->ps.hi;
	}
	snprintf(buf, cap, "ep%d%s_%s", fam, interval ? "i" : "", c->name);
}

static void np_ps_set_name(const char *base, const struct klass *c, bool pairs, char *buf,
			   size_t cap)
{
	bool interval = false;
	size_t n = pairs ? c->npairs : c->nloc;

	for (size_t i = 0; i < n; i++) {
		const struct portsel *ps = pairs ? &c->pairs[i].ps : &c->loc[i].ps;

		interval |= ps->lo != ps->hi;
	}
	snprintf(buf, cap, "%s%s_%s", base, interval ? "i" : "", c->name);
}

/* ------------------------------------------------------------- decide */

enum zone_kind { Z_WAN, Z_LAN, Z_MGMT, Z_IOT };

static enum zone_kind zone_of(const struct fsec_netpolicy *p, const struct prefix *a)
{
	for (size_t z = 0; z < p->niot; z++)
		for (size_t k = 0; k < p->iot[z].nnets; k++)
			if (np_prefix_has(&p->iot[z].nets[k], a))
				return Z_IOT;
	for (size_t k = 0; p->has_lan && k < p->lan.nnets; k++)
		if (np_prefix_has(&p->lan.nets[k], a))
			return Z_LAN;
	for (size_t k = 0; p->has_mgmt && k < p->mgmt.nnets; k++)
		if (np_prefix_has(&p->mgmt.nets[k], a))
			return Z_MGMT;
	return Z_WAN;
}

static const struct device *device_by_ip(const struct fsec_netpolicy *p, const struct prefix *a)
{
	if (a->family != 4)
		return NULL;
	for (size_t i = 0; i < p->ndevices; i++)
		if (p->devices[i].has_ip && memcmp(p->devices[i].ip, a->a, 4) == 0)
			return &p->devices[i];
	return NULL;
}

static bool zone_router(const struct zone *z, const struct prefix *a)
{
	for (size_t k = 0; k < z->nrouter; k++)
		if (z->router[k].family == a->family &&
		    memcmp(z->router[k].a, a->a, a->family == 4 ? 4 : 16) == 0)
			return true;
	return false;
}

/* Any of the router's own addresses, in any zone. */
static bool is_router(const struct fsec_netpolicy *p, const struct prefix *a)
{
	for (size_t z = 0; z < p->niot; z++)
		if (zone_router(&p->iot[z], a))
			return true;
	return zone_router(&p->wan, a) || (p->has_lan && zone_router(&p->lan, a)) ||
	       (p->has_mgmt && zone_router(&p->mgmt, a));
}

static void verdict(struct fsec_netpolicy_verdict *v, bool allow, const char *rule,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void verdict(struct fsec_netpolicy_verdict *v, bool allow, const char *rule,
		    const char *fmt, ...)
{
	va_list ap;

	v->allow = allow;
	snprintf(v->rule, sizeof(v->rule), "%s", rule);
	va_start(ap, fmt);
	vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
}

/* The chain of a device's class, in the ruleset's order (render_class). */
static void decide_class(const struct fsec_netpolicy *p, const struct klass *c,
			 const struct prefix *dst, int proto, unsigned port,
			 struct fsec_netpolicy_verdict *v)
{
	const char *dnsnames = NULL;
	const struct device *dd;
	enum zone_kind dz;
	char rule[128];

	for (size_t i = 0; i < c->neps; i++) {
		const struct endpoint *e = &c->eps[i];

		if (e->dns[0] == '\0' && np_ps_has(&e->ps, proto, port) && np_prefix_has(&e->pfx, dst)) {
			char set[48];

			np_ep_set_name(c, dst->family, set, sizeof(set));
			snprintf(rule, sizeof(rule), "c_%s: @%s", c->name, set);
			verdict(v, true, rule, "class %s endpoint from %s%s%s", c->name, e->src,
				e->note[0] != '\0' ? ", " : "", e->note);
			return;
		}
		if (e->dns[0] != '\0' && e->family == dst->family && np_ps_has(&e->ps, proto, port) &&
		    dnsnames == NULL)
			dnsnames = e->dns;
	}
	dz = zone_of(p, dst);
	if (dst->family == 4 && (dz == Z_IOT || dz == Z_LAN))
		for (size_t i = 0; i < c->nloc; i++)
			if (np_ps_has(&c->loc[i].ps, proto, port)) {
				char set[48];

				np_ps_set_name("loc", c, false, set, sizeof(set));
				snprintf(rule, sizeof(rule), "c_%s: @%s", c->name, set);
				verdict(v, true, rule, "class %s local-networks from %s", c->name,
					c->loc[i].src);
				return;
			}
	dd = device_by_ip(p, dst);
	if (dd != NULL)
		for (size_t i = 0; i < c->npairs; i++)
			if (c->pairs[i].to == dd->cls && np_ps_has(&c->pairs[i].ps, proto, port)) {
				char set[48];

				np_ps_set_name("pair", c, true, set, sizeof(set));
				snprintf(rule, sizeof(rule), "c_%s: @%s", c->name, set);
				verdict(v, true, rule, "IoT pair %s -> %s from %s", c->name,
					p->classes[dd->cls].name, c->pairs[i].src);
				return;
			}
	/* iot_deny, in the same order as render_deny(). */
	if (dst->family == 4 && dz == Z_IOT)
		verdict(v, false, "drop_iot_to_iot", "class %s may not reach %s%s%s", c->name,
			dd != NULL ? "class " : "the IoT zone",
			dd != NULL ? p->classes[dd->cls].name : "", "");
	else if (dst->family == 4 && dz == Z_LAN)
		verdict(v, false, "drop_iot_to_lan", "IoT devices may not open connections to the LAN");
	else if (dst->family == 4 && dz == Z_MGMT)
		verdict(v, false, "drop_iot_to_mgmt", "IoT devices may not reach the management zone");
	else if (dnsnames != NULL)
		verdict(v, false, "drop_iot_to_wan",
			"not in class %s's endpoints; allowed only if the address is one dnsmasq "
			"learned for %s (set d%d_%s_...)",
			c->name, dnsnames, dst->family, c->name);
	else
		verdict(v, false, "drop_iot_to_wan", "not in class %s's allowlisted endpoints",
			c->name);
}

static bool mgmt_allows(const struct fsec_netpolicy *p, const struct prefix *src,
			const struct device *d, int proto, unsigned port, const struct mgmt **out)
{
	for (size_t i = 0; i < p->nmg; i++) {
		const struct mgmt *m = &p->mg[i];
		bool cls = m->nclasses == 0;

		for (size_t j = 0; j < m->nclasses && !cls; j++)
			cls = m->classes[j] == d->cls;
		if (cls && np_prefix_has(&m->host, src) && np_ps_has(&m->ps, proto, port)) {
			*out = m;
			return true;
		}
	}
	return false;
}

FSEC_API enum fsec_err fsec_netpolicy_explain(const struct fsec_netpolicy *p, const char *src,
					      const char *dst, const char *proto, unsigned port,
					      struct fsec_netpolicy_verdict *out)
{
	struct fsec_netpolicy_verdict v = {0};
	struct prefix s = {0}, d = {0};
	const struct device *sd = NULL, *dd;
	unsigned char mac[6];
	bool s_is_ip = false;
	int pr;
	enum zone_kind sz;

	if (!p->prepared)
		return fsec_seterr(FSEC_ERR_INVAL, "policy not prepared");
	if (strcmp(proto, "tcp") == 0)
		pr = 6;
	else if (strcmp(proto, "udp") == 0)
		pr = 17;
	else
		return fsec_seterr(FSEC_ERR_PARSE, "protocol '%.16s': use tcp or udp",
				   fsec_text_clean(proto, (char[20]){0}, 20));
	if (port > 65535)
		return fsec_seterr(FSEC_ERR_PARSE, "port %u out of range", port);
	if (!np_parse_addr(dst, 0, &d))
		return fsec_seterr(FSEC_ERR_PARSE, "destination '%.64s' is not an IP address",
				   fsec_text_clean(dst, (char[72]){0}, 72));
	if (np_parse_addr(src, 4, &s)) {
		s_is_ip = true;
		sd = device_by_ip(p, &s);
	} else if (np_parse_mac(src, mac)) {
		for (size_t i = 0; i < p->ndevices && sd == NULL; i++)
			if (p->devices[i].has_mac && memcmp(p->devices[i].mac, mac, 6) == 0)
				sd = &p->devices[i];
		if (sd == NULL)
			return fsec_seterr(FSEC_ERR_PARSE, "no device has MAC %s", src);
	} else {
		for (size_t i = 0; i < p->ndevices && sd == NULL; i++)
			if (strcmp(p->devices[i].id, src) == 0)
				sd = &p->devices[i];
		if (sd == NULL)
			return fsec_seterr(FSEC_ERR_PARSE,
					   "source '%.64s' is not an IPv4 address, a MAC or a device ID",
					   fsec_text_clean(src, (char[72]){0}, 72));
	}
	if (sd != NULL && !s_is_ip && sd->has_ip) {
		s.family = 4;
		s.len = 32;
		memcpy(s.a, sd->ip, 4);
	}
	sz = s.family == 4 ? zone_of(p, &s) : Z_IOT;
	if (sd != NULL || sz == Z_IOT) {
		/* Traffic from the IoT zone, in the ruleset's order: the input
		 * hook for the router itself, else from_iot in forward. */
		if (is_router(p, &d)) {
			if ((pr == 17 && (port == 67 || port == 53 || port == 123)) ||
			    (pr == 6 && port == 53))
				verdict(&v, true, "iot_to_router",
					"the router offers the IoT zone DHCP, DNS and NTP");
			else
				verdict(&v, false, "drop_iot_to_router",
					"the router offers IoT devices DHCP, DNS and NTP only");
		} else if (port == 53 || port == 853) {
			verdict(&v, false, "drop_iot_foreign_dns",
				"devices must use the router's DNS (the name sets depend on it)");
		} else if (sd == NULL) {
			verdict(&v, false, "drop_iot_unknown",
				"%s is not a known device (or its MAC and IP do not match)", src);
		} else {
			decide_class(p, &p->classes[sd->cls], &d, pr, port, &v);
			snprintf(v.detail + strlen(v.detail), sizeof(v.detail) - strlen(v.detail),
				 " [device %s, class %s]", sd->id, p->classes[sd->cls].name);
		}
	} else if (is_router(p, &d)) {
		/* Only traffic arriving on an IoT interface is filtered on input. */
		verdict(&v, true, "input", "the router itself; fleetsec filters input from IoT zones only");
	} else if ((dd = device_by_ip(p, &d)) != NULL || zone_of(p, &d) == Z_IOT) {
		const struct mgmt *m = NULL;

		if (dd != NULL && mgmt_allows(p, &s, dd, pr, port, &m))
			verdict(&v, true, "to_iot: @mgmt", "management host allowed by %s", m->path);
		else if (sz == Z_WAN)
			verdict(&v, false, "drop_wan_to_iot",
				"nothing from the WAN may open a connection to an IoT device");
		else if (sz == Z_LAN)
			verdict(&v, false, "drop_lan_to_iot",
				"LAN hosts may not open connections to IoT devices");
		else
			verdict(&v, false, "drop_mgmt_to_iot",
				"no management grant covers this host, class and port");
	} else if ((sz == Z_LAN || sz == Z_MGMT) && zone_of(p, &d) == Z_WAN) {
		verdict(&v, true, sz == Z_LAN ? "lan_to_wan" : "mgmt_to_wan",
			"outbound from the %s is not restricted", sz == Z_LAN ? "LAN" : "management zone");
	} else {
		verdict(&v, false, "drop_forward_other", "default deny between zones");
	}
	*out = v;
	return FSEC_OK;
}

/* -------------------------------------------------------------- render */

struct sb {
	char *p;
	size_t len, cap;
	bool err;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t ncap = b->cap < 65536 ? 65536 : b->cap * 2;
			char *g;

			while (ncap - b->len <= (size_t)n)
				ncap *= 2;
			if (ncap > OUT_MAX) {
				b->err = true;
				return;
			}
			g = realloc(b->p, ncap);
			if (g == NULL) {
				b->err = true;
				return;
			}
			b->p = g;
			b->cap = ncap;
		}
	}
}

/* Elements are written in batches so that no single line grows huge. */
struct elems {
	struct sb *b;
	const char *set;
	size_t n;
};

static void elem_begin(struct elems *e, struct sb *b, const char *set)
{
	e->b = b;
	e->set = set;
	e->n = 0;
}

static void elem_next(struct elems *e)
{
	if (e->n % ELEMS_PER_LINE == 0)
		sb_printf(e->b, "%sadd element inet fleetsec %s { ", e->n > 0 ? " }\n" : "", e->set);
	else
		sb_printf(e->b, ", ");
	e->n++;
}

static void elem_end(struct elems *e)
{
	if (e->n > 0)
		sb_printf(e->b, " }\n");
}

static void portsel_str(const struct portsel *ps, char *buf, size_t cap)
{
	if (ps->lo == ps->hi)
		snprintf(buf, cap, "%s . %u", np_proto_name(ps->proto), ps->lo);
	else
		snprintf(buf, cap, "%s . %u-%u", np_proto_name(ps->proto), ps->lo, ps->hi);
}

static void mac_str(const unsigned char m[6], char *buf, size_t cap)
{
	snprintf(buf, cap, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void ip4_str(const unsigned char a[4], char *buf, size_t cap)
{
	snprintf(buf, cap, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
}

/* A set whose definition is part of its name ("i" suffix: interval), so
 * that "add set" on reload never meets an older, different definition. */
static void set_decl(struct sb *b, const char *kind, const char *name, const char *type,
		     bool interval, bool flush)
{
	sb_printf(b, "add %s inet fleetsec %s { type %s;%s }\n", kind, name, type,
		  interval ? " flags interval;" : "");
	if (flush)
		sb_printf(b, "flush %s inet fleetsec %s\n", kind, name);
}

static void drop_rule(struct sb *b, const char *chain, const char *match, const char *counter)
{
	sb_printf(b, "add rule inet fleetsec %s %s%scounter name %s " LOG_RATE
		     " log prefix \"fleetsec %s \"\n",
		  chain, match, match[0] != '\0' ? " " : "", counter, counter);
	sb_printf(b, "add rule inet fleetsec %s %s%sdrop\n", chain, match,
		  match[0] != '\0' ? " " : "");
}

/* DNS sets group a class's names by family, protocol and port range. */
static void dns_set_name(const struct klass *c, const struct endpoint *e, char *buf, size_t cap)
{
	if (e->ps.lo == e->ps.hi)
		snprintf(buf, cap, "d%d_%s_%s_%u", e->family, c->name, np_proto_name(e->ps.proto),
			 e->ps.lo);
	else
		snprintf(buf, cap, "d%d_%s_%s_%u_%u", e->family, c->name, np_proto_name(e->ps.proto),
			 e->ps.lo, e->ps.hi);
}

static void render_class(const struct fsec_netpolicy *p, const struct klass *c, struct sb *b,
			 struct sb *dm, size_t *rules, size_t *elems)
{
	char chain[48], set[96], ps[32], a[64];
	struct elems e;

	snprintf(chain, sizeof(chain), "c_%s", c->name);
	sb_printf(b, "\n# class %s%s%s\n", c->name, c->mud[0] != '\0' ? ", MUD " : "", c->mud);
	for (int fam = 4; fam <= 6; fam += 2) {
		bool any = false;

		for (size_t i = 0; i < c->neps; i++)
			any |= c->eps[i].dns[0] == '\0' && c->eps[i].pfx.family == fam;
		if (!any)
			continue;
		np_ep_set_name(c, fam, set, sizeof(set));
		set_decl(b, "set", set,
			 fam == 4 ? "ipv4_addr . inet_proto . inet_service"
				  : "ipv6_addr . inet_proto . inet_service",
			 strncmp(set + 3, "i_", 2) == 0, true);
		elem_begin(&e, b, set);
		for (size_t i = 0; i < c->neps; i++) {
			const struct endpoint *x = &c->eps[i];

			if (x->dns[0] != '\0' || x->pfx.family != fam)
				continue;
			elem_next(&e);
			np_prefix_str(&x->pfx, a, sizeof(a));
			portsel_str(&x->ps, ps, sizeof(ps));
			sb_printf(b, "%s . %s", a, ps);
			(*elems)++;
		}
		elem_end(&e);
		for (size_t i = 0; i < c->neps; i++)
			if (c->eps[i].note[0] != '\0' && c->eps[i].pfx.family == fam) {
				np_prefix_str(&c->eps[i].pfx, a, sizeof(a));
				sb_printf(b, "# %s: %s\n", a, c->eps[i].note);
			}
		sb_printf(b, "add rule inet fleetsec %s %s daddr . meta l4proto . th dport @%s accept\n",
			  chain, fam == 4 ? "ip" : "ip6", set);
		(*rules)++;
	}
	/* One timeout set per (family, protocol, ports), filled by dnsmasq. */
	for (size_t i = 0; i < c->neps; i++) {
		const struct endpoint *x = &c->eps[i];
		bool first = true;

		if (x->dns[0] == '\0')
			continue;
		dns_set_name(c, x, set, sizeof(set));
		for (size_t j = 0; j < i && first; j++) {
			char other[96];

			if (c->eps[j].dns[0] == '\0')
				continue;
			dns_set_name(c, &c->eps[j], other, sizeof(other));
			first = strcmp(other, set) != 0;
		}
		if (!first)
			continue;
		/* Never flushed: a reload keeps what dnsmasq has learned. */
		sb_printf(b, "add set inet fleetsec %s { type %s; flags timeout; timeout 1h; }\n", set,
			  x->family == 4 ? "ipv4_addr" : "ipv6_addr");
		sb_printf(b, "# %s is filled by dnsmasq with the addresses of:", set);
		sb_printf(dm, "nftset=");
		for (size_t j = i; j < c->neps; j++) {
			char other[96];

			if (c->eps[j].dns[0] == '\0')
				continue;
			dns_set_name(c, &c->eps[j], other, sizeof(other));
			if (strcmp(other, set) != 0)
				continue;
			sb_printf(b, " %s", c->eps[j].dns);
			sb_printf(dm, "/%s", c->eps[j].dns);
		}
		sb_printf(b, "\n");
		sb_printf(dm, "/%d#inet#fleetsec#%s\n", x->family, set);
		if (x->ps.lo == x->ps.hi)
			sb_printf(b, "add rule inet fleetsec %s %s daddr @%s %s dport %u accept\n", chain,
				  x->family == 4 ? "ip" : "ip6", set, np_proto_name(x->ps.proto), x->ps.lo);
		else
			sb_printf(b, "add rule inet fleetsec %s %s daddr @%s %s dport %u-%u accept\n",
				  chain, x->family == 4 ? "ip" : "ip6", set, np_proto_name(x->ps.proto),
				  x->ps.lo, x->ps.hi);
		(*rules)++;
	}
	if (c->nloc > 0) {
		np_ps_set_name("loc", c, false, set, sizeof(set));
		set_decl(b, "set", set, "inet_proto . inet_service", strncmp(set, "loci_", 5) == 0,
			 true);
		elem_begin(&e, b, set);
		for (size_t i = 0; i < c->nloc; i++) {
			elem_next(&e);
			portsel_str(&c->loc[i].ps, ps, sizeof(ps));
			sb_printf(b, "%s", ps);
			(*elems)++;
		}
		elem_end(&e);
		sb_printf(b, "add rule inet fleetsec %s ip daddr @local_nets meta l4proto . th dport "
			     "@%s accept\n",
			  chain, set);
		(*rules)++;
	}
	if (c->npairs > 0) {
		np_ps_set_name("pair", c, true, set, sizeof(set));
		set_decl(b, "set", set, "mark . inet_proto . inet_service",
			 strncmp(set, "pairi_", 6) == 0, true);
		elem_begin(&e, b, set);
		for (size_t i = 0; i < c->npairs; i++) {
			elem_next(&e);
			portsel_str(&c->pairs[i].ps, ps, sizeof(ps));
			sb_printf(b, "%zu . %s", c->pairs[i].to + 1, ps);
			(*elems)++;
		}
		elem_end(&e);
		/* The destination's class is looked up into the packet mark, then
		 * (class, protocol, port) in this class's pair set. */
		sb_printf(b, "add rule inet fleetsec %s meta mark set ip daddr map @dst_class "
			     "meta mark . meta l4proto . th dport @%s accept\n",
			  chain, set);
		(*rules)++;
	}
	sb_printf(b, "add rule inet fleetsec %s jump iot_deny\n", chain);
	(*rules)++;
	(void)p;
}

static void iface_list(const struct fsec_netpolicy *p, char *buf, size_t cap)
{
	size_t off = 0;

	off += (size_t)snprintf(buf, cap, "{ ");
	for (size_t z = 0; z < p->niot && off < cap; z++)
		off += (size_t)snprintf(buf + off, cap - off, "%s\"%s\"", z > 0 ? ", " : "",
					p->iot[z].ifname);
	if (off < cap)
		snprintf(buf + off, cap - off, " }");
}

FSEC_API enum fsec_err fsec_netpolicy_render(const struct fsec_netpolicy *p, char **nft,
					     size_t *nft_len, char **dnsmasq, size_t *dnsmasq_len)
{
	struct sb b = {0}, dm = {0};
	struct elems e;
	char ifs[16 * IOT_ZONES_MAX + 64], a[64], m[32], match[128];
	size_t rules = 0, elems = 0;
	enum fsec_err rc = FSEC_ERR_NOMEM;

	if (!p->prepared)
		return fsec_seterr(FSEC_ERR_INVAL, "policy not prepared");
	iface_list(p, ifs, sizeof(ifs));
	sb_printf(&b, "#!/usr/sbin/nft -f\n"
		      "# Generated by fleetsec net compile. Load with: nft -f FILE\n"
		      "# Everything below lives in table inet fleetsec and is applied as one\n"
		      "# transaction. DNS-name sets (d4_*, d6_*) are declared without a flush so\n"
		      "# that a reload keeps the addresses dnsmasq has learned.\n"
		      "add table inet fleetsec\n"
		      "flush table inet fleetsec\n");
	sb_printf(&dm, "# dnsmasq lines generated by fleetsec net compile: they fill the\n"
		       "# per-class name sets of table inet fleetsec as names are resolved.\n");
	/* Named counters: one per reason a packet is dropped. */
	{
		static const char *const counters[] = {
			"drop_invalid",     "drop_iot_unknown",
			"drop_iot_spoofed", "drop_iot_to_router", "drop_iot_foreign_dns",
			"drop_iot_to_iot",  "drop_iot_to_lan",    "drop_iot_to_mgmt",
			"drop_iot_to_wan",  "drop_wan_to_iot",    "drop_lan_to_iot",
			"drop_mgmt_to_iot", "drop_forward_other",
		};

		for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
			sb_printf(&b, "add counter inet fleetsec %s\n", counters[i]);
	}
	/* Zones as interval sets. */
	set_decl(&b, "set", "iot_nets", "ipv4_addr", true, true);
	set_decl(&b, "set", "local_nets", "ipv4_addr", true, true);
	set_decl(&b, "set", "lan_nets", "ipv4_addr", true, true);
	set_decl(&b, "set", "mgmt_nets", "ipv4_addr", true, true);
	{
		const struct {
			const char *set;
			const struct zone *z;
			bool on;
		} zs[] = {{"lan_nets", &p->lan, p->has_lan},
			  {"local_nets", &p->lan, p->has_lan},
			  {"mgmt_nets", &p->mgmt, p->has_mgmt}};

		elem_begin(&e, &b, "iot_nets");
		for (size_t z = 0; z < p->niot; z++)
			for (size_t k = 0; k < p->iot[z].nnets; k++) {
				elem_next(&e);
				np_prefix_str(&p->iot[z].nets[k], a, sizeof(a));
				sb_printf(&b, "%s", a);
			}
		elem_end(&e);
		elem_begin(&e, &b, "local_nets");
		for (size_t z = 0; z < p->niot; z++)
			for (size_t k = 0; k < p->iot[z].nnets; k++) {
				elem_next(&e);
				np_prefix_str(&p->iot[z].nets[k], a, sizeof(a));
				sb_printf(&b, "%s", a);
			}
		for (size_t k = 0; p->has_lan && k < p->lan.nnets; k++) {
			elem_next(&e);
			np_prefix_str(&p->lan.nets[k], a, sizeof(a));
			sb_printf(&b, "%s", a);
		}
		elem_end(&e);
		for (size_t i = 0; i < sizeof(zs) / sizeof(zs[0]); i++) {
			if (!zs[i].on || strcmp(zs[i].set, "local_nets") == 0)
				continue;
			elem_begin(&e, &b, zs[i].set);
			for (size_t k = 0; k < zs[i].z->nnets; k++) {
				elem_next(&e);
				np_prefix_str(&zs[i].z->nets[k], a, sizeof(a));
				sb_printf(&b, "%s", a);
			}
			elem_end(&e);
		}
	}
	/* Chains first (empty), so that the maps may name them. */
	for (size_t i = 0; i < p->nclasses; i++) {
		sb_printf(&b, "add chain inet fleetsec c_%s\n", p->classes[i].name);
	}
	sb_printf(&b, "add chain inet fleetsec from_iot\n"
		      "add chain inet fleetsec to_iot\n"
		      "add chain inet fleetsec iot_deny\n"
		      "add chain inet fleetsec iot_to_router\n"
		      "add chain inet fleetsec forward { type filter hook forward priority filter; "
		      "policy drop; }\n"
		      "add chain inet fleetsec input { type filter hook input priority filter; "
		      "policy accept; }\n");
	/* Device maps: MAC and IP together where both are known. */
	set_decl(&b, "map", "dev4", "ether_addr . ipv4_addr : verdict", false, true);
	set_decl(&b, "map", "dev_mac4", "ether_addr : verdict", false, true);
	set_decl(&b, "map", "dev_mac6", "ether_addr : verdict", false, true);
	set_decl(&b, "map", "dev_ip4", "ipv4_addr : verdict", false, true);
	set_decl(&b, "set", "known_macs", "ether_addr", false, true);
	set_decl(&b, "map", "dst_class", "ipv4_addr : mark", false, true);
	{
		static const struct {
			const char *set;
			int kind; /* 0 mac.ip, 1 mac-only v4, 2 mac v6, 3 ip-only, 4 macs, 5 dst */
		} maps[] = {{"dev4", 0},      {"dev_mac4", 1},   {"dev_mac6", 2},
			    {"dev_ip4", 3},   {"known_macs", 4}, {"dst_class", 5}};

		for (size_t k = 0; k < sizeof(maps) / sizeof(maps[0]); k++) {
			elem_begin(&e, &b, maps[k].set);
			for (size_t i = 0; i < p->ndevices; i++) {
				const struct device *d = &p->devices[i];
				const char *cn = p->classes[d->cls].name;
				bool in = (maps[k].kind == 0 && d->has_mac && d->has_ip) ||
					  (maps[k].kind == 1 && d->has_mac && !d->has_ip) ||
					  ((maps[k].kind == 2 || maps[k].kind == 4) && d->has_mac) ||
					  (maps[k].kind == 3 && !d->has_mac && d->has_ip) ||
					  (maps[k].kind == 5 && d->has_ip);

				if (!in)
					continue;
				elem_next(&e);
				mac_str(d->mac, m, sizeof(m));
				ip4_str(d->ip, a, sizeof(a));
				switch (maps[k].kind) {
				case 0: sb_printf(&b, "%s . %s : jump c_%s", m, a, cn); break;
				case 1:
				case 2: sb_printf(&b, "%s : jump c_%s", m, cn); break;
				case 3: sb_printf(&b, "%s : jump c_%s", a, cn); break;
				case 4: sb_printf(&b, "%s", m); break;
				default: sb_printf(&b, "%s : %zu", a, d->cls + 1); break;
				}
				elems++;
			}
			elem_end(&e);
		}
	}
	/* Management grants: (host, class, protocol, port). */
	set_decl(&b, "set", "mgmt", "ipv4_addr . mark . inet_proto . inet_service", true, true);
	elem_begin(&e, &b, "mgmt");
	for (size_t i = 0; i < p->nmg; i++) {
		const struct mgmt *g = &p->mg[i];
		char ps[32];

		np_prefix_str(&g->host, a, sizeof(a));
		portsel_str(&g->ps, ps, sizeof(ps));
		for (size_t c = 0; c < p->nclasses; c++) {
			bool in = g->nclasses == 0;

			for (size_t j = 0; j < g->nclasses && !in; j++)
				in = g->classes[j] == c;
			if (!in)
				continue;
			elem_next(&e);
			sb_printf(&b, "%s . %zu . %s", a, c + 1, ps);
			elems++;
		}
	}
	elem_end(&e);

	for (size_t i = 0; i < p->nclasses; i++)
		render_class(p, &p->classes[i], &b, &dm, &rules, &elems);

	sb_printf(&b, "\n# forward: replies pass; new connections by zone\n");
	sb_printf(&b, "add rule inet fleetsec forward ct state established,related accept\n");
	drop_rule(&b, "forward", "ct state invalid", "drop_invalid");
	sb_printf(&b, "add rule inet fleetsec forward iifname %s jump from_iot\n", ifs);
	sb_printf(&b, "add rule inet fleetsec forward oifname %s jump to_iot\n", ifs);
	if (p->has_lan)
		sb_printf(&b, "add rule inet fleetsec forward iifname \"%s\" oifname \"%s\" accept\n",
			  p->lan.ifname, p->wan.ifname);
	if (p->has_mgmt)
		sb_printf(&b, "add rule inet fleetsec forward iifname \"%s\" oifname \"%s\" accept\n",
			  p->mgmt.ifname, p->wan.ifname);
	drop_rule(&b, "forward", "", "drop_forward_other");
	rules += 6;

	sb_printf(&b, "\n# from_iot: the device lookup is keyed on MAC and IP, so a spoofed IP "
		      "finds no class\n");
	drop_rule(&b, "from_iot", "meta l4proto { tcp, udp } th dport { 53, 853 }",
		  "drop_iot_foreign_dns");
	sb_printf(&b, "add rule inet fleetsec from_iot ether saddr . ip saddr vmap @dev4\n"
		      "add rule inet fleetsec from_iot meta nfproto ipv4 ether saddr vmap @dev_mac4\n"
		      "add rule inet fleetsec from_iot meta nfproto ipv6 ether saddr vmap @dev_mac6\n");
	drop_rule(&b, "from_iot", "meta nfproto ipv4 ether saddr @known_macs", "drop_iot_spoofed");
	sb_printf(&b, "add rule inet fleetsec from_iot ip saddr vmap @dev_ip4\n");
	drop_rule(&b, "from_iot", "", "drop_iot_unknown");
	rules += 8;

	sb_printf(&b, "\n# iot_deny: the end of every class chain, by destination zone\n");
	drop_rule(&b, "iot_deny", "ip daddr @iot_nets", "drop_iot_to_iot");
	drop_rule(&b, "iot_deny", "ip daddr @lan_nets", "drop_iot_to_lan");
	drop_rule(&b, "iot_deny", "ip daddr @mgmt_nets", "drop_iot_to_mgmt");
	drop_rule(&b, "iot_deny", "", "drop_iot_to_wan");

	sb_printf(&b, "\n# to_iot: devices never accept connections, except from management "
		      "hosts\n");
	sb_printf(&b, "add rule inet fleetsec to_iot meta mark set ip daddr map @dst_class "
		      "ip saddr . meta mark . meta l4proto . th dport @mgmt accept\n");
	snprintf(match, sizeof(match), "iifname \"%s\"", p->wan.ifname);
	drop_rule(&b, "to_iot", match, "drop_wan_to_iot");
	if (p->has_lan) {
		snprintf(match, sizeof(match), "iifname \"%s\"", p->lan.ifname);
		drop_rule(&b, "to_iot", match, "drop_lan_to_iot");
	}
	drop_rule(&b, "to_iot", "", "drop_mgmt_to_iot");
	rules += 8 + (p->has_lan ? 2 : 0) + 1;

	sb_printf(&b, "\n# input: from the IoT zone the router offers DHCP, DNS and NTP only\n");
	sb_printf(&b, "add rule inet fleetsec input iifname %s jump iot_to_router\n", ifs);
	sb_printf(&b, "add rule inet fleetsec iot_to_router ct state established,related accept\n"
		      "add rule inet fleetsec iot_to_router udp dport { 53, 67, 123 } accept\n"
		      "add rule inet fleetsec iot_to_router tcp dport 53 accept\n"
		      "add rule inet fleetsec iot_to_router icmpv6 type { nd-neighbor-solicit, "
		      "nd-neighbor-advert, nd-router-solicit } accept\n");
	drop_rule(&b, "iot_to_router", "", "drop_iot_to_router");
	rules += 7;
	(void)rules;
	if (b.err || dm.err) {
		rc = fsec_seterr(b.p == NULL ? FSEC_ERR_NOMEM : FSEC_ERR_TOO_LARGE,
				 "ruleset too large or out of memory");
		goto out;
	}
	*nft = b.p;
	*nft_len = b.len;
	*dnsmasq = dm.p;
	*dnsmasq_len = dm.len;
	b.p = dm.p = NULL;
	rc = FSEC_OK;
out:
	free(b.p);
	free(dm.p);
	return rc;
}

FSEC_API size_t fsec_netpolicy_warning_count(const struct fsec_netpolicy *p)
{
	return p->nwarnings;
}

FSEC_API const char *fsec_netpolicy_warning_get(const struct fsec_netpolicy *p, size_t i)
{
	return i < p->nwarnings ? p->warnings[i] : "";
}

FSEC_API void fsec_netpolicy_get_stats(const struct fsec_netpolicy *p,
				       struct fsec_netpolicy_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->classes = p->nclasses;
	out->devices = p->ndevices;
	for (size_t i = 0; i < p->nclasses; i++) {
		const struct klass *c = &p->classes[i];

		for (size_t j = 0; j < c->neps; j++) {
			if (c->eps[j].dns[0] != '\0')
				out->dns_names++;
			else
				out->endpoints++;
		}
		out->pairs += c->npairs;
	}
}

FSEC_API enum fsec_err fsec_netpolicy_setup_script(const struct fsec_netpolicy *p, char **out,
						   size_t *len)
{
	struct sb b = {0};

	sb_printf(&b, "#!/bin/sh\n# Generated by fleetsec net setup: router setup for the IoT zones.\n"
		      "set -e\n"
		      "sysctl -qw net.ipv4.ip_forward=1\n"
		      "sysctl -qw net.ipv6.conf.all.forwarding=1\n"
		      "sysctl -qw net.ipv4.conf.all.send_redirects=0\n");
	for (size_t z = 0; z < p->niot; z++) {
		const struct zone *iz = &p->iot[z];

		sb_printf(&b, "\n# zone %s (VLAN %ld) on %s: isolated ports, so that device-to-device\n"
			      "# traffic is routed through the forward hook instead of bridged past it\n",
			  iz->name, iz->vlan, iz->ifname);
		for (size_t i = 0; i < iz->nports; i++)
			sb_printf(&b, "bridge link set dev %s isolated on\n", iz->ports[i]);
		/* The slash form, because an interface name may contain dots. */
		sb_printf(&b, "sysctl -qw net/ipv4/conf/%s/proxy_arp_pvlan=1\n"
			      "sysctl -qw net/ipv4/neigh/%s/proxy_delay=0\n"
			      "sysctl -qw net/ipv4/conf/%s/send_redirects=0\n",
			  iz->ifname, iz->ifname, iz->ifname);
	}
	if (b.err) {
		free(b.p);
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	*out = b.p;
	*len = b.len;
	return FSEC_OK;
}
