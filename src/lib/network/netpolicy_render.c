/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network policy compiler's output: fsec_netpolicy_render() writes the
 * prepared model as nftables sets, maps and one chain per class (with the
 * dnsmasq lines that fill the DNS-name sets), fsec_netpolicy_setup_script()
 * the router's bridge setup; and the accessors for warnings and statistics.
 * Keep render and explain (netpolicy_decide.c) in step.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "netpolicy_int.h"

#define OUT_MAX (512u * 1024u * 1024u)
#define ELEMS_PER_LINE 512
#define LOG_RATE "limit rate 10/second burst 20 packets"

/* -------------------------------------------------------------- render */

/* The names of the shared sets. The "i" variants have the interval flag,
 * needed only for prefixes and port ranges; render and explain both call
 * these so that explain names the set the kernel really consults. */
void np_ep_set_name(const struct fsec_netpolicy *p, int fam, char *buf, size_t cap)
{
	bool interval = false;

	for (size_t c = 0; c < p->nclasses; c++)
		for (size_t i = 0; i < p->classes[c].neps; i++) {
			const struct endpoint *x = &p->classes[c].eps[i];

			if (x->dns[0] == '\0' && x->pfx.family == fam)
				interval |= x->pfx.len != (fam == 4 ? 32u : 128u) ||
					    x->ps.lo != x->ps.hi;
		}
	snprintf(buf, cap, "ep%d%s", fam, interval ? "i" : "");
}

void np_ps_set_name(const struct fsec_netpolicy *p, bool pairs, char *buf, size_t cap)
{
	bool interval = false;

	for (size_t c = 0; c < p->nclasses; c++) {
		const struct klass *k = &p->classes[c];
		size_t n = pairs ? k->npairs : k->nloc;

		for (size_t i = 0; i < n; i++) {
			const struct portsel *ps = pairs ? &k->pairs[i].ps : &k->loc[i].ps;

			interval |= ps->lo != ps->hi;
		}
	}
	snprintf(buf, cap, "%s%s", pairs ? "pair" : "loc", interval ? "i" : "");
}

uint32_t np_device_mark(const struct device *d)
{
	return d->quarantined ? FSEC_NETPOLICY_QUARANTINE_MARK : (uint32_t)d->cls + 1;
}

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

/* A class's DNS-name sets: one timeout set per (family, protocol, ports),
 * filled by dnsmasq, and one rule each in the class's dns_ chain. These are
 * the only rules that grow with the classes: dnsmasq fills a set of bare
 * addresses, which cannot carry the class. */
static void render_dns(const struct klass *c, struct sb *b, struct sb *dm)
{
	char set[96];

	sb_printf(b, "add chain inet fleetsec dns_%s\n", c->name);
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
			sb_printf(b, "add rule inet fleetsec dns_%s %s daddr @%s %s dport %u accept\n",
				  c->name, x->family == 4 ? "ip" : "ip6", set,
				  np_proto_name(x->ps.proto), x->ps.lo);
		else
			sb_printf(b, "add rule inet fleetsec dns_%s %s daddr @%s %s dport %u-%u accept\n",
				  c->name, x->family == 4 ? "ip" : "ip6", set,
				  np_proto_name(x->ps.proto), x->ps.lo, x->ps.hi);
	}
}

static bool has_dns(const struct klass *c)
{
	for (size_t i = 0; i < c->neps; i++)
		if (c->eps[i].dns[0] != '\0')
			return true;
	return false;
}

/* Every class in shared sets keyed by the class mark: the rule count does
 * not grow with the classes (docs/NETWORK-POLICY.md, "How it scales"). Each
 * element carries its class's name as a comment, so that nft list stays
 * readable. */
static void render_classes(const struct fsec_netpolicy *p, struct sb *b, struct sb *dm)
{
	char set[32], ps[32], a[64];
	struct elems e;

	sb_printf(b, "\n# classes: the packet mark of each device class\n");
	set_decl(b, "set", "classes", "mark", false, true);
	elem_begin(&e, b, "classes");
	for (size_t i = 0; i < p->nclasses; i++) {
		elem_next(&e);
		sb_printf(b, "%zu comment \"%s\"", i + 1, p->classes[i].name);
	}
	elem_next(&e);
	sb_printf(b, "%u comment \"quarantine\"", FSEC_NETPOLICY_QUARANTINE_MARK);
	elem_end(&e);
	for (int fam = 4; fam <= 6; fam += 2) {
		np_ep_set_name(p, fam, set, sizeof(set));
		set_decl(b, "set", set,
			 fam == 4 ? "mark . ipv4_addr . inet_proto . inet_service"
				  : "mark . ipv6_addr . inet_proto . inet_service",
			 set[3] == 'i', true);
		elem_begin(&e, b, set);
		for (size_t c = 0; c < p->nclasses; c++)
			for (size_t i = 0; i < p->classes[c].neps; i++) {
				const struct endpoint *x = &p->classes[c].eps[i];

				if (x->dns[0] != '\0' || x->pfx.family != fam)
					continue;
				elem_next(&e);
				np_prefix_str(&x->pfx, a, sizeof(a));
				portsel_str(&x->ps, ps, sizeof(ps));
				sb_printf(b, "%zu . %s . %s comment \"%s\"", c + 1, a, ps,
					  p->classes[c].name);
			}
		if (fam == 4 && p->has_fleetsecd) {
			elem_next(&e);
			np_prefix_str(&p->fleetsecd, a, sizeof(a));
			sb_printf(b, "%u . %s . tcp . %u comment \"quarantine: fleetsecd\"",
				  FSEC_NETPOLICY_QUARANTINE_MARK, a, p->fleetsecd_port);
		}
		elem_end(&e);
		for (size_t c = 0; c < p->nclasses; c++)
			for (size_t i = 0; i < p->classes[c].neps; i++)
				if (p->classes[c].eps[i].note[0] != '\0' &&
				    p->classes[c].eps[i].pfx.family == fam) {
					np_prefix_str(&p->classes[c].eps[i].pfx, a, sizeof(a));
					sb_printf(b, "# %s (class %s): %s\n", a, p->classes[c].name,
						  p->classes[c].eps[i].note);
				}
	}
	np_ps_set_name(p, false, set, sizeof(set));
	set_decl(b, "set", set, "mark . inet_proto . inet_service", set[3] == 'i', true);
	elem_begin(&e, b, set);
	for (size_t c = 0; c < p->nclasses; c++)
		for (size_t i = 0; i < p->classes[c].nloc; i++) {
			elem_next(&e);
			portsel_str(&p->classes[c].loc[i].ps, ps, sizeof(ps));
			sb_printf(b, "%zu . %s comment \"%s\"", c + 1, ps, p->classes[c].name);
		}
	elem_end(&e);
	np_ps_set_name(p, true, set, sizeof(set));
	set_decl(b, "set", set, "mark . mark . inet_proto . inet_service", set[4] == 'i', true);
	elem_begin(&e, b, set);
	for (size_t c = 0; c < p->nclasses; c++)
		for (size_t i = 0; i < p->classes[c].npairs; i++) {
			const struct pair *g = &p->classes[c].pairs[i];

			elem_next(&e);
			portsel_str(&g->ps, ps, sizeof(ps));
			sb_printf(b, "%zu . %zu . %s comment \"%s -> %s\"", c + 1, g->to + 1, ps,
				  p->classes[c].name, p->classes[g->to].name);
		}
	elem_end(&e);
	set_decl(b, "map", "dns_class", "mark : verdict", false, true);
	for (size_t c = 0; c < p->nclasses; c++)
		if (has_dns(&p->classes[c]))
			render_dns(&p->classes[c], b, dm);
	elem_begin(&e, b, "dns_class");
	for (size_t c = 0; c < p->nclasses; c++)
		if (has_dns(&p->classes[c])) {
			elem_next(&e);
			sb_printf(b, "%zu : jump dns_%s", c + 1, p->classes[c].name);
		}
	elem_end(&e);
}

/* iot_class: what a device may open, looked up with its class mark, in
 * the order explain() decides (netpolicy_decide.c). */
static void render_iot_class(const struct fsec_netpolicy *p, struct sb *b)
{
	char set[32], match[64];

	sb_printf(b, "\n# iot_class: the device's class is in the packet mark (from_iot)\n");
	np_ep_set_name(p, 4, set, sizeof(set));
	sb_printf(b, "add rule inet fleetsec iot_class meta mark . ip daddr . meta l4proto . "
		     "th dport @%s accept\n", set);
	np_ep_set_name(p, 6, set, sizeof(set));
	sb_printf(b, "add rule inet fleetsec iot_class meta mark . ip6 daddr . meta l4proto . "
		     "th dport @%s accept\n", set);
	snprintf(match, sizeof(match), "meta mark %u", FSEC_NETPOLICY_QUARANTINE_MARK);
	drop_rule(b, "iot_class", match, "drop_quarantined");
	sb_printf(b, "add rule inet fleetsec iot_class meta mark vmap @dns_class\n");
	np_ps_set_name(p, false, set, sizeof(set));
	sb_printf(b, "add rule inet fleetsec iot_class ip daddr @local_nets meta mark . "
		     "meta l4proto . th dport @%s accept\n", set);
	/* The destination's class goes into the connection mark for the one
	 * lookup (the packet mark holds the source's), which is then reset. */
	np_ps_set_name(p, true, set, sizeof(set));
	sb_printf(b, "add rule inet fleetsec iot_class ct mark set ip daddr map @dst_class "
		     "meta mark . ct mark . meta l4proto . th dport @%s ct mark set 0 accept\n", set);
	sb_printf(b, "add rule inet fleetsec iot_class jump iot_deny\n");
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

/* The prologue, and one named counter per reason a packet is dropped. */
static void render_head(struct sb *b, struct sb *dm)
{
	static const char *const counters[] = {
		"drop_invalid",     "drop_iot_unknown",
		"drop_iot_spoofed", "drop_iot_to_router", "drop_iot_foreign_dns",
		"drop_iot_to_iot",  "drop_iot_to_lan",    "drop_iot_to_mgmt",
		"drop_iot_to_wan",  "drop_wan_to_iot",    "drop_lan_to_iot",
		"drop_mgmt_to_iot", "drop_forward_other", "drop_quarantined",
	};

	sb_printf(b, "#!/usr/sbin/nft -f\n"
		     "# Generated by fleetsec net compile. Load with: nft -f FILE\n"
		     "# Everything below lives in table inet fleetsec and is applied as one\n"
		     "# transaction. DNS-name sets (d4_*, d6_*) are declared without a flush so\n"
		     "# that a reload keeps the addresses dnsmasq has learned.\n"
		     "add table inet fleetsec\n"
		     "flush table inet fleetsec\n");
	sb_printf(dm, "# dnsmasq lines generated by fleetsec net compile: they fill the\n"
		      "# per-class name sets of table inet fleetsec as names are resolved.\n");
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		sb_printf(b, "add counter inet fleetsec %s\n", counters[i]);
}

/* Zones as interval sets. */
static void render_zones(const struct fsec_netpolicy *p, struct sb *b)
{
	const struct {
		const char *set;
		const struct zone *z;
		bool on;
	} zs[] = {{"lan_nets", &p->lan, p->has_lan},
		  {"local_nets", &p->lan, p->has_lan},
		  {"mgmt_nets", &p->mgmt, p->has_mgmt}};
	struct elems e;
	char a[64];

	set_decl(b, "set", "iot_nets", "ipv4_addr", true, true);
	set_decl(b, "set", "local_nets", "ipv4_addr", true, true);
	set_decl(b, "set", "lan_nets", "ipv4_addr", true, true);
	set_decl(b, "set", "mgmt_nets", "ipv4_addr", true, true);
	elem_begin(&e, b, "iot_nets");
	for (size_t z = 0; z < p->niot; z++)
		for (size_t k = 0; k < p->iot[z].nnets; k++) {
			elem_next(&e);
			np_prefix_str(&p->iot[z].nets[k], a, sizeof(a));
			sb_printf(b, "%s", a);
		}
	elem_end(&e);
	elem_begin(&e, b, "local_nets");
	for (size_t z = 0; z < p->niot; z++)
		for (size_t k = 0; k < p->iot[z].nnets; k++) {
			elem_next(&e);
			np_prefix_str(&p->iot[z].nets[k], a, sizeof(a));
			sb_printf(b, "%s", a);
		}
	for (size_t k = 0; p->has_lan && k < p->lan.nnets; k++) {
		elem_next(&e);
		np_prefix_str(&p->lan.nets[k], a, sizeof(a));
		sb_printf(b, "%s", a);
	}
	elem_end(&e);
	for (size_t i = 0; i < sizeof(zs) / sizeof(zs[0]); i++) {
		if (!zs[i].on || strcmp(zs[i].set, "local_nets") == 0)
			continue;
		elem_begin(&e, b, zs[i].set);
		for (size_t k = 0; k < zs[i].z->nnets; k++) {
			elem_next(&e);
			np_prefix_str(&zs[i].z->nets[k], a, sizeof(a));
			sb_printf(b, "%s", a);
		}
		elem_end(&e);
	}
}

/* Chains first (empty), so that the maps may name them. */
static void render_chains(struct sb *b)
{
	sb_printf(b, "add chain inet fleetsec from_iot\n"
		     "add chain inet fleetsec iot_class\n"
		     "add chain inet fleetsec to_iot\n"
		     "add chain inet fleetsec iot_deny\n"
		     "add chain inet fleetsec iot_to_router\n"
		     "add chain inet fleetsec forward { type filter hook forward priority filter; "
		     "policy drop; }\n"
		     "add chain inet fleetsec input { type filter hook input priority filter; "
		     "policy accept; }\n");
}

/* Device maps, device -> class mark: MAC and IP together where both are
 * known. fsec_netsync (netsync.c) keeps the same elements in step with the
 * registry, so it writes them with np_device_elem too. */
const struct np_devmap np_devmaps[NP_DEVMAPS] = {
	{"class_macip4", "ether_addr . ipv4_addr : mark"},
	{"class_mac4", "ether_addr : mark"},
	{"class_mac", "ether_addr : mark"},
	{"class_ip4", "ipv4_addr : mark"},
	{"dst_class", "ipv4_addr : mark"},
};

bool np_device_in(const struct device *d, size_t map)
{
	return (map == 0 && d->has_mac && d->has_ip) || (map == 1 && d->has_mac && !d->has_ip) ||
	       (map == 2 && d->has_mac) || (map == 3 && !d->has_mac && d->has_ip) ||
	       (map == 4 && d->has_ip);
}

bool np_device_elem(const struct device *d, size_t map, char *buf, size_t cap)
{
	char a[20], m[20];
	uint32_t mark = np_device_mark(d);

	if (!np_device_in(d, map))
		return false;
	mac_str(d->mac, m, sizeof(m));
	ip4_str(d->ip, a, sizeof(a));
	if (map == 0)
		snprintf(buf, cap, "%s . %s : %u", m, a, mark);
	else
		snprintf(buf, cap, "%s : %u", map == 1 || map == 2 ? m : a, mark);
	return true;
}

static void render_devices(const struct fsec_netpolicy *p, struct sb *b)
{
	struct elems e;
	char el[64];

	for (size_t k = 0; k < NP_DEVMAPS; k++)
		set_decl(b, "map", np_devmaps[k].name, np_devmaps[k].type, false, true);
	for (size_t k = 0; k < NP_DEVMAPS; k++) {
		elem_begin(&e, b, np_devmaps[k].name);
		for (size_t i = 0; i < p->ndevices; i++) {
			if (!np_device_elem(&p->devices[i], k, el, sizeof(el)))
				continue;
			elem_next(&e);
			sb_printf(b, "%s", el);
		}
		elem_end(&e);
	}
}

/* Management grants: (host, class, protocol, port). */
static void render_mgmt(const struct fsec_netpolicy *p, struct sb *b)
{
	struct elems e;
	char a[64];

	set_decl(b, "set", "mgmt", "ipv4_addr . mark . inet_proto . inet_service", true, true);
	elem_begin(&e, b, "mgmt");
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
			sb_printf(b, "%s . %zu . %s", a, c + 1, ps);
		}
	}
	elem_end(&e);
}

/* The hooks and the chains every class shares; ifs is the IoT interface
 * list, "{ "a", "b" }". */
static void render_forward(const struct fsec_netpolicy *p, struct sb *b, const char *ifs)
{
	sb_printf(b, "\n# forward: a quarantined device's every packet meets iot_class (its\n"
		     "# open connections too); otherwise replies pass, new connections by zone\n");
	sb_printf(b, "add rule inet fleetsec forward iifname %s meta mark set ip saddr map "
		     "@dst_class meta mark %u goto iot_class\n",
		  ifs, FSEC_NETPOLICY_QUARANTINE_MARK);
	sb_printf(b, "add rule inet fleetsec forward iifname %s meta nfproto ipv6 meta mark set "
		     "ether saddr map @class_mac meta mark %u goto iot_class\n",
		  ifs, FSEC_NETPOLICY_QUARANTINE_MARK);
	sb_printf(b, "add rule inet fleetsec forward ct state established,related accept\n");
	drop_rule(b, "forward", "ct state invalid", "drop_invalid");
	sb_printf(b, "add rule inet fleetsec forward iifname %s jump from_iot\n", ifs);
	sb_printf(b, "add rule inet fleetsec forward oifname %s jump to_iot\n", ifs);
	if (p->has_lan)
		sb_printf(b, "add rule inet fleetsec forward iifname \"%s\" oifname \"%s\" accept\n",
			  p->lan.ifname, p->wan.ifname);
	if (p->has_mgmt)
		sb_printf(b, "add rule inet fleetsec forward iifname \"%s\" oifname \"%s\" accept\n",
			  p->mgmt.ifname, p->wan.ifname);
	drop_rule(b, "forward", "", "drop_forward_other");
}

static void render_from_iot(struct sb *b)
{
	sb_printf(b, "\n# from_iot: the device lookup is keyed on MAC and IP, so a spoofed IP "
		     "finds no class; the class goes into the packet mark\n");
	drop_rule(b, "from_iot", "meta l4proto { tcp, udp } th dport { 53, 853 }",
		  "drop_iot_foreign_dns");
	sb_printf(b, "add rule inet fleetsec from_iot meta mark set ether saddr . ip saddr map "
		     "@class_macip4 goto iot_class\n"
		     "add rule inet fleetsec from_iot meta nfproto ipv4 meta mark set ether saddr map "
		     "@class_mac4 goto iot_class\n"
		     "add rule inet fleetsec from_iot meta nfproto ipv6 meta mark set ether saddr map "
		     "@class_mac goto iot_class\n");
	/* A known MAC with an address not its own. class_mac has every device
	 * with a MAC (the lookup's mark is dropped with the packet), so no
	 * separate set of MACs has to be loaded. */
	drop_rule(b, "from_iot", "meta nfproto ipv4 meta mark set ether saddr map @class_mac",
		  "drop_iot_spoofed");
	sb_printf(b, "add rule inet fleetsec from_iot meta mark set ip saddr map @class_ip4 "
		     "goto iot_class\n");
	drop_rule(b, "from_iot", "", "drop_iot_unknown");
}

static void render_iot_deny(struct sb *b)
{
	sb_printf(b, "\n# iot_deny: the end of every class chain, by destination zone\n");
	drop_rule(b, "iot_deny", "ip daddr @iot_nets", "drop_iot_to_iot");
	drop_rule(b, "iot_deny", "ip daddr @lan_nets", "drop_iot_to_lan");
	drop_rule(b, "iot_deny", "ip daddr @mgmt_nets", "drop_iot_to_mgmt");
	drop_rule(b, "iot_deny", "", "drop_iot_to_wan");
}

static void render_to_iot(const struct fsec_netpolicy *p, struct sb *b)
{
	char match[128];

	sb_printf(b, "\n# to_iot: devices never accept connections, except from management "
		     "hosts\n");
	sb_printf(b, "add rule inet fleetsec to_iot meta mark set ip daddr map @dst_class "
		     "ip saddr . meta mark . meta l4proto . th dport @mgmt accept\n");
	snprintf(match, sizeof(match), "iifname \"%s\"", p->wan.ifname);
	drop_rule(b, "to_iot", match, "drop_wan_to_iot");
	if (p->has_lan) {
		snprintf(match, sizeof(match), "iifname \"%s\"", p->lan.ifname);
		drop_rule(b, "to_iot", match, "drop_lan_to_iot");
	}
	drop_rule(b, "to_iot", "", "drop_mgmt_to_iot");
}

static void render_input(struct sb *b, const char *ifs)
{
	sb_printf(b, "\n# input: from the IoT zone the router offers DHCP, DNS and NTP only\n");
	sb_printf(b, "add rule inet fleetsec input iifname %s jump iot_to_router\n", ifs);
	sb_printf(b, "add rule inet fleetsec iot_to_router ct state established,related accept\n"
		     "add rule inet fleetsec iot_to_router udp dport { 53, 67, 123 } accept\n"
		     "add rule inet fleetsec iot_to_router tcp dport 53 accept\n"
		     "add rule inet fleetsec iot_to_router icmpv6 type { nd-neighbor-solicit, "
		     "nd-neighbor-advert, nd-router-solicit } accept\n");
	drop_rule(b, "iot_to_router", "", "drop_iot_to_router");
}

/* The ruleset in the order nft reads it: declarations, then each class's
 * chain, then the shared chains. explain() follows the same order. */
FSEC_API enum fsec_err fsec_netpolicy_render(const struct fsec_netpolicy *p, char **nft,
					     size_t *nft_len, char **dnsmasq, size_t *dnsmasq_len)
{
	struct sb b = {0}, dm = {0};
	char ifs[16 * IOT_ZONES_MAX + 64];
	enum fsec_err rc = FSEC_ERR_NOMEM;

	if (!p->prepared)
		return fsec_seterr(FSEC_ERR_INVAL, "policy not prepared");
	iface_list(p, ifs, sizeof(ifs));
	render_head(&b, &dm);
	render_zones(p, &b);
	render_chains(&b);
	render_devices(p, &b);
	render_mgmt(p, &b);
	render_classes(p, &b, &dm);
	render_forward(p, &b, ifs);
	render_from_iot(&b);
	render_iot_class(p, &b);
	render_iot_deny(&b);
	render_to_iot(p, &b);
	render_input(&b, ifs);
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
