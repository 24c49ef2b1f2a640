/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to network/: the policy model that netpolicy_parse.c builds,
 * netpolicy_prepare.c completes with the MUD files, netpolicy_decide.c walks
 * for explain() and netpolicy_render.c writes as nftables, and the few
 * helpers those files share (the address grammar, errors and warnings with a
 * JSON path, the names of a class's sets). Nothing here is exported.
 */
#ifndef FLEETSEC_NETPOLICY_INT_H
#define FLEETSEC_NETPOLICY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fleetsec/mud.h"
#include "fleetsec/netpolicy.h"

#define SRC_MAX 256
#define ID_MAX 64
#define IOT_ZONES_MAX 16
#define NETS_MAX 64

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
	size_t cls;       /* class index; unused when quarantined */
	bool quarantined; /* revoked: fleetsecd only (FSEC_NETPOLICY_QUARANTINE_MARK) */
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
	/* Where quarantined devices may still go (opts.fleetsecd), TCP. */
	bool has_fleetsecd;
	struct prefix fleetsecd;
	unsigned fleetsecd_port;
	bool prepared;
};
/* Helpers (netpolicy_parse.c). */

/* A PARSE error whose detail starts with the JSON path. */
enum fsec_err np_bad(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append a warning to p; past a cap, the rest are summarized. Errors: NOMEM. */
enum fsec_err np_warn(struct fsec_netpolicy *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool np_parse_addr(const char *s, int family, struct prefix *out);
/* "A" or "A/LEN"; host bits must be zero so that nft and explain agree. */
bool np_parse_prefix(const char *s, struct prefix *out);
bool np_prefix_has(const struct prefix *pf, const struct prefix *addr);
void np_prefix_str(const struct prefix *pf, char *buf, size_t cap);
bool np_parse_mac(const char *s, unsigned char mac[6]);
const char *np_proto_name(int proto);
bool np_ps_has(const struct portsel *ps, int proto, unsigned port);

/* JSON input (netpolicy_parse.c). */
enum fsec_err np_j_str(const json_t *o, const char *key, const char *base, bool req,
		       size_t max, const char **out);
/* "proto": "tcp"|"udp", "port": N or "LO-HI". */
enum fsec_err np_j_portsel(const json_t *o, const char *base, struct portsel *ps);
/* Refuses members not in the NULL-terminated keys. */
enum fsec_err np_check_keys(const json_t *o, const char *base, const char *const *keys);
/* A class by name (binary search over class_order); SIZE_MAX if none. */
size_t np_class_find(const struct fsec_netpolicy *p, const char *name);
/* The class a device names: a class name, else a model some class lists;
 * SIZE_MAX if none. */
size_t np_class_for(const struct fsec_netpolicy *p, const char *name);

/* The names of the shared class sets (netpolicy_render.c), for render and
 * explain: "ep4"/"ep4i", "loc"/"loci", "pair"/"pairi". */
void np_ep_set_name(const struct fsec_netpolicy *p, int fam, char *buf, size_t cap);
void np_ps_set_name(const struct fsec_netpolicy *p, bool pairs, char *buf, size_t cap);

/* A device's class mark: its class index + 1, or the quarantine mark. */
uint32_t np_device_mark(const struct device *d);

/* The device maps (netpolicy_render.c), which net sync keeps in step:
 * class_macip4 (MAC and IP), class_mac4 (MAC only), class_mac (every MAC:
 * IPv6, and known MACs), class_ip4 (IP only), dst_class (every IP). */
#define NP_DEVMAPS 5
struct np_devmap {
	const char *name, *type;
};
extern const struct np_devmap np_devmaps[NP_DEVMAPS];
/* Whether device d has an element in device map number map: map 0 needs MAC
 * and IP, 1 a MAC and no IP, 2 a MAC, 3 an IP and no MAC, 4 an IP. The key
 * of map 0 is MAC . IP; of 1 and 2 the MAC; of 3 and 4 the IP. */
bool np_device_in(const struct device *d, size_t map);
/* The element of device d in device map number map ("KEY : MARK"),
 * as nft writes it; false if d has none there. */
bool np_device_elem(const struct device *d, size_t map, char *buf, size_t cap);

#endif
