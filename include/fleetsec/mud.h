/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manufacturer Usage Description files (RFC 8520) and the ACLs they carry
 * (RFC 8519, with the ietf-acldns names of RFC 8520 section 16).
 *
 * A MUD file is parsed into a flat list of normalized entries (struct
 * fsec_mud_ace): one per access-control entry named by the file's
 * from-device or to-device policy, with the peer (an address prefix, a DNS
 * name, or one of the ietf-mud:mud matches), protocol, ports and who
 * initiates. Nothing is dropped silently: every construct the parser does
 * not turn into an entry, and every pre-RFC spelling it accepts (the mudgee
 * tool's "ietf-access-control-list:access-lists" and "ethernet-acl-type"),
 * is reported as a warning that starts with its JSON path ("$.a.b[2].c: ...").
 * A malformed file is refused with the JSON path of the first bad value.
 *
 * A parsed struct fsec_mud is immutable; several threads may read one.
 */
#ifndef FLEETSEC_MUD_H
#define FLEETSEC_MUD_H

#include <stddef.h>

#include "fleetsec/common.h"

/* Largest MUD file accepted (real ones are a few tens of KiB). */
#define FSEC_MUD_MAX (1024u * 1024u)
/* Caps on what one file may hold. */
#define FSEC_MUD_ACES_MAX 4096u
#define FSEC_MUD_WARNINGS_MAX 1024u
#define FSEC_MUD_DNSNAME_MAX 253
#define FSEC_MUD_PATH_MAX 160

struct fsec_mud;

enum fsec_mud_dir {
	FSEC_MUD_FROM_DEVICE = 1, /* packets the device sends: the peer is the destination */
	FSEC_MUD_TO_DEVICE = 2,   /* packets the device receives: the peer is the source */
};

enum fsec_mud_peer {
	FSEC_MUD_PEER_ANY,   /* no address constraint */
	FSEC_MUD_PEER_ADDR,  /* addr: an IPv4 or IPv6 prefix "A/LEN" */
	FSEC_MUD_PEER_DNS,   /* dnsname: an ietf-acldns name */
	FSEC_MUD_PEER_MATCH, /* match (and match_value): an ietf-mud:mud match */
};

enum fsec_mud_match {
	FSEC_MUD_MATCH_NONE,
	FSEC_MUD_MATCH_MANUFACTURER,      /* match_value: the manufacturer's authority */
	FSEC_MUD_MATCH_SAME_MANUFACTURER, /* devices whose MUD URL has this file's authority */
	FSEC_MUD_MATCH_MODEL,             /* match_value: a MUD URL */
	FSEC_MUD_MATCH_LOCAL_NETWORKS,    /* any address of the local networks */
	FSEC_MUD_MATCH_CONTROLLER,        /* match_value: a controller URI */
	FSEC_MUD_MATCH_MY_CONTROLLER,     /* the controller the operator names for this MUD URL */
};

enum fsec_mud_init {
	FSEC_MUD_INIT_ANY = 0, /* not stated: either side may start */
	FSEC_MUD_INIT_FROM_DEVICE = 1,
	FSEC_MUD_INIT_TO_DEVICE = 2,
};

/* One normalized access-control entry; all strings are NUL-terminated. */
struct fsec_mud_ace {
	enum fsec_mud_dir dir;
	int family; /* 4 or 6; 0 for an Ethernet-only entry */
	enum fsec_mud_peer peer;
	char addr[64];                          /* PEER_ADDR */
	char dnsname[FSEC_MUD_DNSNAME_MAX + 1]; /* PEER_DNS */
	enum fsec_mud_match match;              /* PEER_MATCH */
	char match_value[256];
	int proto; /* IP protocol number; -1: any */
	/* Port ranges, inclusive; 0-65535 when not constrained. "dport" is the
	 * packet's destination port in the entry's direction. */
	unsigned sport_lo, sport_hi, dport_lo, dport_hi;
	enum fsec_mud_init initiated;
	int icmp_type, icmp_code; /* -1: any */
	unsigned ethertype;        /* family 0 only; 0: any */
	char path[FSEC_MUD_PATH_MAX]; /* JSON path of the ACE in the file */
};

/*
 * Parse a MUD file of len bytes (at most FSEC_MUD_MAX). buf need not be
 * NUL-terminated. On success *out owns the parsed file; free it with
 * fsec_mud_free(). Errors: TOO_LARGE, PARSE (the detail names the JSON path
 * and the reason), NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mud_parse(const unsigned char *buf, size_t len,
					       struct fsec_mud **out);

/*
 * Flags for fsec_mud_parse_flags().
 * FSEC_MUD_SKIP_INVALID: an access-control entry whose action is accept and
 * that holds an invalid value (e.g. an IPv4 address in
 * destination-ipv6-network) is skipped as a whole, with a warning naming the
 * entry's JSON path and the invalid leaf, instead of refusing the file. A
 * match condition is never dropped from an entry that is kept, so a skip
 * only ever allows less. An invalid entry that is not known to accept (a
 * drop or reject entry, or one whose action cannot be read) still refuses the
 * file: under RFC 8519's first-match order, losing a deny could let a later
 * accept through. Anything invalid outside an entry (header, ACL type,
 * policy references) also still refuses the file.
 */
#define FSEC_MUD_SKIP_INVALID 0x1u

/* fsec_mud_parse() with flags (FSEC_MUD_SKIP_INVALID or 0); same contract,
 * and INVAL for an unknown flag. */
FSEC_API FSEC_WUR enum fsec_err fsec_mud_parse_flags(const unsigned char *buf, size_t len,
						     unsigned flags, struct fsec_mud **out);

/* Free a parsed file. NULL is a no-op. */
FSEC_API void fsec_mud_free(struct fsec_mud *m);

/* The entries, in the order of the file's policies (from-device first). The
 * returned pointer is borrowed from m. i must be below the count. */
FSEC_API size_t fsec_mud_ace_count(const struct fsec_mud *m);
FSEC_API const struct fsec_mud_ace *fsec_mud_ace_get(const struct fsec_mud *m, size_t i);

/* Warnings, each one line starting with a JSON path. Borrowed from m. */
FSEC_API size_t fsec_mud_warning_count(const struct fsec_mud *m);
FSEC_API const char *fsec_mud_warning_get(const struct fsec_mud *m, size_t i);

/* Header fields; "" when absent. Borrowed from m. manufacturer is the
 * authority (host[:port]) of the MUD URL, which is what RFC 8520's
 * same-manufacturer and manufacturer matches compare. */
FSEC_API const char *fsec_mud_url(const struct fsec_mud *m);
FSEC_API const char *fsec_mud_manufacturer(const struct fsec_mud *m);
FSEC_API const char *fsec_mud_mfg_name(const struct fsec_mud *m);
FSEC_API const char *fsec_mud_model_name(const struct fsec_mud *m);
FSEC_API const char *fsec_mud_systeminfo(const struct fsec_mud *m);

/* Short names for printing: "from-device", "tcp", "same-manufacturer", ... */
FSEC_API const char *fsec_mud_dir_name(enum fsec_mud_dir d);
FSEC_API const char *fsec_mud_match_name(enum fsec_mud_match mt);
FSEC_API const char *fsec_mud_init_name(enum fsec_mud_init i);

/*
 * Verify a detached CMS (PKCS#7) signature over a MUD file, as RFC 8520
 * section 13 specifies: sig is the DER .p7s, data the exact bytes of the
 * JSON, and signer_pem one or more PEM certificates that are trusted as they
 * are (a pinned manufacturer certificate or its issuer; no system roots).
 * Errors: VERIFY (the signature or its chain does not verify), PARSE (sig
 * or certificates unreadable), TOO_LARGE, CRYPTO, NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_mud_verify(const unsigned char *data, size_t data_len,
						const unsigned char *sig, size_t sig_len,
						const unsigned char *signer_pem, size_t pem_len);

#endif
