/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network policy compiler, step one: fsec_netpolicy_parse() reads the
 * operator's policy (zones, classes, devices, exceptions, management grants)
 * into the model of netpolicy_int.h, refusing unknown members and naming the
 * JSON path of every error. Also the helpers every step shares: errors and
 * warnings, and the address, prefix and MAC grammar.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dynbuf_int.h"
#include "err_int.h"
#include "netpolicy_int.h"
#include "text_int.h"

#define LIST_MAX 4096
#define WARN_MAX 10000

/* ---------------------------------------------------------------- helpers */

enum fsec_err np_bad(const char *path, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fsec_seterr(FSEC_ERR_PARSE, "%s: %s", path, msg);
}

enum fsec_err np_warn(struct fsec_netpolicy *p, const char *fmt, ...)
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

bool np_parse_addr(const char *s, int family, struct prefix *out)
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
bool np_parse_prefix(const char *s, struct prefix *out)
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

bool np_prefix_has(const struct prefix *pf, const struct prefix *addr)
{
	unsigned full = pf->len / 8, rem = pf->len % 8;

	if (pf->family != addr->family)
		return false;
	if (memcmp(pf->a, addr->a, full) != 0)
		return false;
	return rem == 0 || ((pf->a[full] ^ addr->a[full]) & (0xff << (8 - rem))) == 0;
}

void np_prefix_str(const struct prefix *pf, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(pf->family == 4 ? AF_INET : AF_INET6, pf->a, a, sizeof(a));
	if (pf->len == (pf->family == 4 ? 32u : 128u))
		snprintf(buf, cap, "%s", a);
	else
		snprintf(buf, cap, "%s/%u", a, pf->len);
}

bool np_parse_mac(const char *s, unsigned char mac[6])
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

const char *np_proto_name(int proto)
{
	return proto == 6 ? "tcp" : proto == 17 ? "udp" : "?";
}

bool np_ps_has(const struct portsel *ps, int proto, unsigned port)
{
	return ps->proto == proto && port >= ps->lo && port <= ps->hi;
}

/* ------------------------------------------------------------ JSON input */

enum fsec_err np_j_str(const json_t *o, const char *key, const char *base, bool req,
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
enum fsec_err np_j_portsel(const json_t *o, const char *base, struct portsel *ps)
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

enum fsec_err np_check_keys(const json_t *o, const char *base, const char *const *keys)
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
size_t np_class_find(const struct fsec_netpolicy *p, const char *name)
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
size_t np_class_for(const struct fsec_netpolicy *p, const char *name)
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
	if ((rc = fsec_array_grow((void **)&p->devices, &p->capdevices, p->ndevices,
				  sizeof(*p->devices), FSEC_NETPOLICY_DEVICES_MAX)) != FSEC_OK)
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
		if ((ci = np_class_for(p, cls)) == SIZE_MAX)
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

/* A device from the caller (the registry): into class_or_model's class, or
 * into the quarantine when class_or_model is NULL. */
static enum fsec_err caller_device(struct fsec_netpolicy *p, const char *id, const char *mac,
				   const char *ip, const char *class_or_model)
{
	size_t c = 0;
	char path[96];
	enum fsec_err rc;

	if (p->prepared)
		return fsec_seterr(FSEC_ERR_INVAL, "policy already prepared");
	snprintf(path, sizeof(path), "device %s", fsec_text_clean(id != NULL ? id : "?", (char[72]){0}, 72));
	if (mac == NULL && ip == NULL)
		return fsec_seterr(FSEC_ERR_INVAL, "%s: has neither a MAC nor an IP", path);
	if (class_or_model != NULL && (c = np_class_for(p, class_or_model)) == SIZE_MAX)
		return np_warn(p, "%s: model \"%s\" belongs to no class; device left out (default deny)",
			    path, fsec_text_clean(class_or_model, (char[72]){0}, 72));
	if ((rc = device_add(p, path, id, mac, ip, c)) == FSEC_OK)
		p->devices[p->ndevices - 1].quarantined = class_or_model == NULL;
	return rc;
}

FSEC_API enum fsec_err fsec_netpolicy_add_device(struct fsec_netpolicy *p, const char *id,
						 const char *mac, const char *ip,
						 const char *class_or_model)
{
	return caller_device(p, id, mac, ip, class_or_model != NULL ? class_or_model : "");
}

FSEC_API enum fsec_err fsec_netpolicy_add_quarantined(struct fsec_netpolicy *p, const char *id,
						      const char *mac, const char *ip)
{
	return caller_device(p, id, mac, ip, NULL);
}
