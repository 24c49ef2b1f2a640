/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network isolation: an operator's policy (zones, device classes, devices,
 * exceptions, management hosts; docs/NETWORK-POLICY.md) plus the classes'
 * MUD files, compiled into one nftables script for `table inet fleetsec`.
 *
 * The compiler builds one decision model, and both the ruleset
 * (fsec_netpolicy_render) and fsec_netpolicy_explain read that same model,
 * so what `explain` says and what the kernel does cannot drift apart. Every
 * drop in the ruleset has a named counter, and explain reports the name of
 * the counter (or the allowing rule) that decides a packet.
 *
 * Use: parse, optionally add devices (from the registry), prepare, then
 * render and/or explain. A policy is not thread-safe while it is being
 * built; once prepared it may be read from several threads.
 */
#ifndef FLEETSEC_NETPOLICY_H
#define FLEETSEC_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "fleetsec/common.h"

/* Largest policy file accepted: room for a few hundred thousand devices. */
#define FSEC_NETPOLICY_MAX (64u * 1024u * 1024u)
#define FSEC_NETPOLICY_DEVICES_MAX 1000000u
#define FSEC_NETPOLICY_CLASSES_MAX 4096u
#define FSEC_NETPOLICY_CLASS_NAME_MAX 32
/* The packet mark of the quarantine class (revoked devices: fleetsecd
 * only); classes are numbered 1..FSEC_NETPOLICY_CLASSES_MAX in policy order. */
#define FSEC_NETPOLICY_QUARANTINE_MARK 65535u

struct fsec_netpolicy;

struct fsec_netpolicy_opts {
	const char *mud_dir; /* where a class's "mud" file is found (NULL: ".") */
	bool resolve;        /* resolve DNS names now (getaddrinfo) instead of dnsmasq sets */
	/* PEM certificate(s) every class's MUD file must be signed by, for the
	 * classes that name no "mud_signer" of their own (NULL: none). */
	const char *mud_signer;
	/* Skip each invalid accept entry of a MUD file with a warning instead of
	 * refusing the file (FSEC_MUD_SKIP_INVALID, mud.h: never allows more). */
	bool mud_skip_invalid;
	/* "ADDR:PORT" (IPv4, TCP) of fleetsecd: the one endpoint a quarantined
	 * (revoked) device may still reach, to be re-provisioned. NULL: none,
	 * a quarantined device reaches nothing beyond the router's DHCP, DNS
	 * and NTP. */
	const char *fleetsecd;
};

/* What explain decided. */
struct fsec_netpolicy_verdict {
	bool allow;
	char rule[96];    /* the allowing rule, or the drop counter's name */
	char detail[512]; /* why, naming the class, endpoint source or zone */
};

/* Sizes of a prepared policy, for reports and the benchmark. */
struct fsec_netpolicy_stats {
	size_t classes, devices, endpoints, dns_names, pairs;
};

/*
 * Parse a policy file of len bytes (at most FSEC_NETPOLICY_MAX). On success
 * *out owns the policy. Errors: TOO_LARGE, PARSE (the detail names the JSON
 * path, e.g. "$.devices[3].mac: not a MAC address"), NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netpolicy_parse(const unsigned char *buf, size_t len,
						     struct fsec_netpolicy **out);

/* Free a policy. NULL is a no-op. */
FSEC_API void fsec_netpolicy_free(struct fsec_netpolicy *p);

/*
 * Add a device before prepare (used for --from-registry). class_or_model is
 * a class name, or a model listed in a class's "models"; mac and ip may each
 * be NULL but not both. A model no class claims is not an error: the device
 * is left out with a warning (its traffic meets the default deny).
 * Errors: PARSE (bad MAC or IP), INVAL (prepared already, or neither MAC nor
 * IP), TOO_LARGE, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netpolicy_add_device(struct fsec_netpolicy *p,
							  const char *id, const char *mac,
							  const char *ip,
							  const char *class_or_model);

/*
 * Add a revoked device before prepare: it goes to the quarantine class, which
 * may reach only opts.fleetsecd. mac and ip may each be NULL but not both.
 * Errors: those of fsec_netpolicy_add_device.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netpolicy_add_quarantined(struct fsec_netpolicy *p,
							       const char *id, const char *mac,
							       const char *ip);

/*
 * Load and verify the classes' MUD files, resolve names if asked, check the
 * whole policy (duplicate devices, devices outside every IoT subnet, unknown
 * classes in exceptions) and build the decision model. Errors: PARSE (names
 * the file and JSON path, or a bad opts.fleetsecd), IO, VERIFY (a class's MUD signature), NET
 * (--resolve failed), EXISTS (duplicate device), TOO_LARGE, NOMEM, INVAL.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netpolicy_prepare(struct fsec_netpolicy *p,
						       const struct fsec_netpolicy_opts *opts);

/*
 * Render the prepared policy: *nft gets the nftables script (for nft -f),
 * *dnsmasq the dnsmasq configuration lines that fill the DNS-name sets (""
 * when there are none). Both are NUL-terminated and owned by the caller.
 * Errors: INVAL (not prepared), NOMEM, TOO_LARGE.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netpolicy_render(const struct fsec_netpolicy *p,
						      char **nft, size_t *nft_len,
						      char **dnsmasq, size_t *dnsmasq_len);

/*
 * Decide a new connection from src to dst (proto "tcp", "udp", or an IP
 * protocol number; port 0-65535) with the prepared model. src is an IPv4
 * address, a MAC address or a device ID; dst an IPv4 or IPv6 address.
 * Replies to allowed connections always pass (conntrack) and are not asked
 * about here. Errors: INVAL (not prepared), PARSE (bad address or protocol).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netpolicy_explain(const struct fsec_netpolicy *p,
						       const char *src, const char *dst,
						       const char *proto, unsigned port,
						       struct fsec_netpolicy_verdict *out);

/*
 * The router setup that makes same-bridge IoT traffic pass the forward hook:
 * a shell script (set -e) that isolates each IoT zone's "bridge_ports"
 * (bridge link ... isolated on), makes the router answer ARP for isolated
 * neighbours (proxy_arp_pvlan=1, proxy_delay=0), stops ICMP redirects that
 * would tell devices to go direct, and enables forwarding. Works on a parsed
 * policy. *out is NUL-terminated and owned by the caller. Errors: NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netpolicy_setup_script(const struct fsec_netpolicy *p,
							    char **out, size_t *len);

/* Warnings collected while parsing and preparing (MUD warnings carry the MUD
 * file name and JSON path). Borrowed from p. */
FSEC_API size_t fsec_netpolicy_warning_count(const struct fsec_netpolicy *p);
FSEC_API const char *fsec_netpolicy_warning_get(const struct fsec_netpolicy *p, size_t i);

/* Sizes of the prepared policy. */
FSEC_API void fsec_netpolicy_get_stats(const struct fsec_netpolicy *p,
				       struct fsec_netpolicy_stats *out);

#endif
