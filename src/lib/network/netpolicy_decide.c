/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network policy compiler's explain(): walks the prepared model in the
 * ruleset's order and names the rule that decides a connection. Keep it in
 * step with netpolicy_render.c: each rule in the ruleset has its
 * counterpart, named the same, in fsec_netpolicy_explain() and
 * decide_class().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err_int.h"
#include "netpolicy_int.h"
#include "text_int.h"

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

			np_ep_set_name(p, dst->family, set, sizeof(set));
			snprintf(rule, sizeof(rule), "class %s: @%s", c->name, set);
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

				np_ps_set_name(p, false, set, sizeof(set));
				snprintf(rule, sizeof(rule), "class %s: @%s", c->name, set);
				verdict(v, true, rule, "class %s local-networks from %s", c->name,
					c->loc[i].src);
				return;
			}
	dd = device_by_ip(p, dst);
	if (dd != NULL && !dd->quarantined)
		for (size_t i = 0; i < c->npairs; i++)
			if (c->pairs[i].to == dd->cls && np_ps_has(&c->pairs[i].ps, proto, port)) {
				char set[48];

				np_ps_set_name(p, true, set, sizeof(set));
				snprintf(rule, sizeof(rule), "class %s: @%s", c->name, set);
				verdict(v, true, rule, "IoT pair %s -> %s from %s", c->name,
					p->classes[dd->cls].name, c->pairs[i].src);
				return;
			}
	/* iot_deny, in the same order as render_deny(). */
	if (dst->family == 4 && dz == Z_IOT)
		verdict(v, false, "drop_iot_to_iot", "class %s may not reach %s%s", c->name,
			dd != NULL ? "class " : "the IoT zone",
			dd == NULL ? "" : dd->quarantined ? "quarantine" : p->classes[dd->cls].name);
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

/* A revoked device: iot_class's endpoint set holds fleetsecd for the
 * quarantine mark, and the next rule drops everything else. */
static void decide_quarantined(const struct fsec_netpolicy *p, const struct prefix *dst,
			       int proto, unsigned port, struct fsec_netpolicy_verdict *v)
{
	if (p->has_fleetsecd && dst->family == 4 && memcmp(dst->a, p->fleetsecd.a, 4) == 0 &&
	    proto == 6 && port == p->fleetsecd_port) {
		char set[16], rule[48];

		np_ep_set_name(p, 4, set, sizeof(set));
		snprintf(rule, sizeof(rule), "quarantine: @%s", set);
		verdict(v, true, rule, "a quarantined device may reach fleetsecd only");
		return;
	}
	verdict(v, false, "drop_quarantined", "a quarantined (revoked) device may reach %s",
		p->has_fleetsecd ? "fleetsecd only" : "nothing (no --fleetsecd given)");
}

static bool mgmt_allows(const struct fsec_netpolicy *p, const struct prefix *src,
			const struct device *d, int proto, unsigned port, const struct mgmt **out)
{
	for (size_t i = 0; i < p->nmg && !d->quarantined; i++) {
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
		} else if (sd->quarantined) {
			decide_quarantined(p, &d, pr, port, &v);
			snprintf(v.detail + strlen(v.detail), sizeof(v.detail) - strlen(v.detail),
				 " [device %s, quarantined]", sd->id);
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
