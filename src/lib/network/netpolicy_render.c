/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network policy compiler's output: fsec_netpolicy_render() writes the
 * prepared model as nftables sets, maps and one chain per class (with the
 * dnsmasq lines that fill the DNS-name sets), fsec_netpolicy_setup_script()
 * the router's bridge setup; and the accessors for warnings and statistics.
 * Keep render and explain (netpolicy_decide.c) in step.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "netpolicy_int.h"

#define OUT_MAX (512u * 1024u * 1024u)
#define ELEMS_PER_LINE 512
#define LOG_RATE "limit rate 10/second burst 20 packets"

/* -------------------------------------------------------------- render */

/* The names of a class's sets. The "i" variants have the interval flag,
 * needed only for prefixes and port ranges; render and explain both call
 * these so that explain names the set the kernel really consults. */
void np_ep_set_name(const struct klass *c, int fam, char *buf, size_t cap)
{
	bool interval = false;

	for (size_t i = 0; i < c->neps; i++) {
		const struct endpoint *x = &c->eps[i];

		if (x->dns[0] == '\0' && x->pfx.family == fam)
			interval |= x->pfx.len != (fam == 4 ? 32u : 128u) || x->ps.lo != x->ps.hi;
	}
	snprintf(buf, cap, "ep%d%s_%s", fam, interval ? "i" : "", c->name);
}

void np_ps_set_name(const char *base, const struct klass *c, bool pairs, char *buf,
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
			 struct sb *dm)
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
		}
		elem_end(&e);
		for (size_t i = 0; i < c->neps; i++)
			if (c->eps[i].note[0] != '\0' && c->eps[i].pfx.family == fam) {
				np_prefix_str(&c->eps[i].pfx, a, sizeof(a));
				sb_printf(b, "# %s: %s\n", a, c->eps[i].note);
			}
		sb_printf(b, "add rule inet fleetsec %s %s daddr . meta l4proto . th dport @%s accept\n",
			  chain, fam == 4 ? "ip" : "ip6", set);
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
		}
		elem_end(&e);
		sb_printf(b, "add rule inet fleetsec %s ip daddr @local_nets meta l4proto . th dport "
			     "@%s accept\n",
			  chain, set);
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
		}
		elem_end(&e);
		/* The destination's class is looked up into the packet mark, then
		 * (class, protocol, port) in this class's pair set. */
		sb_printf(b, "add rule inet fleetsec %s meta mark set ip daddr map @dst_class "
			     "meta mark . meta l4proto . th dport @%s accept\n",
			  chain, set);
	}
	sb_printf(b, "add rule inet fleetsec %s jump iot_deny\n", chain);
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

/* The prologue, and one named counter per reason a packet is dropped. */
static void render_head(struct sb *b, struct sb *dm)
{
	static const char *const counters[] = {
		"drop_invalid",     "drop_iot_unknown",
		"drop_iot_spoofed", "drop_iot_to_router", "drop_iot_foreign_dns",
		"drop_iot_to_iot",  "drop_iot_to_lan",    "drop_iot_to_mgmt",
		"drop_iot_to_wan",  "drop_wan_to_iot",    "drop_lan_to_iot",
		"drop_mgmt_to_iot", "drop_forward_other",
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
static void render_chains(const struct fsec_netpolicy *p, struct sb *b)
{
	for (size_t i = 0; i < p->nclasses; i++) {
		sb_printf(b, "add chain inet fleetsec c_%s\n", p->classes[i].name);
	}
	sb_printf(b, "add chain inet fleetsec from_iot\n"
		     "add chain inet fleetsec to_iot\n"
		     "add chain inet fleetsec iot_deny\n"
		     "add chain inet fleetsec iot_to_router\n"
		     "add chain inet fleetsec forward { type filter hook forward priority filter; "
		     "policy drop; }\n"
		     "add chain inet fleetsec input { type filter hook input priority filter; "
		     "policy accept; }\n");
}

/* Device maps: MAC and IP together where both are known. */
static void render_devices(const struct fsec_netpolicy *p, struct sb *b)
{
	static const struct {
		const char *set;
		int kind; /* 0 mac.ip, 1 mac-only v4, 2 mac v6, 3 ip-only, 4 macs, 5 dst */
	} maps[] = {{"dev4", 0},      {"dev_mac4", 1},   {"dev_mac6", 2},
		    {"dev_ip4", 3},   {"known_macs", 4}, {"dst_class", 5}};
	struct elems e;
	char a[64], m[32];

	set_decl(b, "map", "dev4", "ether_addr . ipv4_addr : verdict", false, true);
	set_decl(b, "map", "dev_mac4", "ether_addr : verdict", false, true);
	set_decl(b, "map", "dev_mac6", "ether_addr : verdict", false, true);
	set_decl(b, "map", "dev_ip4", "ipv4_addr : verdict", false, true);
	set_decl(b, "set", "known_macs", "ether_addr", false, true);
	set_decl(b, "map", "dst_class", "ipv4_addr : mark", false, true);
	for (size_t k = 0; k < sizeof(maps) / sizeof(maps[0]); k++) {
		elem_begin(&e, b, maps[k].set);
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
			case 0: sb_printf(b, "%s . %s : jump c_%s", m, a, cn); break;
			case 1:
			case 2: sb_printf(b, "%s : jump c_%s", m, cn); break;
			case 3: sb_printf(b, "%s : jump c_%s", a, cn); break;
			case 4: sb_printf(b, "%s", m); break;
			default: sb_printf(b, "%s : %zu", a, d->cls + 1); break;
			}
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
	sb_printf(b, "\n# forward: replies pass; new connections by zone\n");
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
		     "finds no class\n");
	drop_rule(b, "from_iot", "meta l4proto { tcp, udp } th dport { 53, 853 }",
		  "drop_iot_foreign_dns");
	sb_printf(b, "add rule inet fleetsec from_iot ether saddr . ip saddr vmap @dev4\n"
		     "add rule inet fleetsec from_iot meta nfproto ipv4 ether saddr vmap @dev_mac4\n"
		     "add rule inet fleetsec from_iot meta nfproto ipv6 ether saddr vmap @dev_mac6\n");
	drop_rule(b, "from_iot", "meta nfproto ipv4 ether saddr @known_macs", "drop_iot_spoofed");
	sb_printf(b, "add rule inet fleetsec from_iot ip saddr vmap @dev_ip4\n");
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
	render_chains(p, &b);
	render_devices(p, &b);
	render_mgmt(p, &b);
	for (size_t i = 0; i < p->nclasses; i++)
		render_class(p, &p->classes[i], &b, &dm);
	render_forward(p, &b, ifs);
	render_from_iot(&b);
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
