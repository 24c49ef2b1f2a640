/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Security audit: findings about the common IoT failures, in three places
 * (the fleet's registry, firmware root filesystems, and hosts on a network),
 * each saying how to fix what it found.
 *
 * A finding is a check (a stable ID with a severity, a title and a
 * remediation, listed by fsec_audit_checks()), a subject (a device ID, a
 * path inside an image, or host:port) and evidence. An audit collects
 * findings of enabled checks, up to FSEC_AUDIT_MAX_FINDINGS (past it a
 * finding takes the place of a less severe one; the ones left out are
 * counted, and still count for the highest severity), and renders them as a
 * table, JSON or SARIF 2.1.0. An audit object is not thread-safe.
 */
#ifndef FLEETSEC_AUDIT_H
#define FLEETSEC_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetsec/common.h"

#define FSEC_AUDIT_MAX_FINDINGS 100000
#define FSEC_AUDIT_SUBJECT_MAX 512
#define FSEC_AUDIT_EVIDENCE_MAX 512

enum fsec_audit_sev {
	FSEC_SEV_INFO = 0,
	FSEC_SEV_LOW,
	FSEC_SEV_MEDIUM,
	FSEC_SEV_HIGH,
	FSEC_SEV_CRITICAL,
};

enum fsec_audit_area {
	FSEC_AUDIT_FLEET = 1,
	FSEC_AUDIT_FIRMWARE,
	FSEC_AUDIT_NETWORK,
};

enum fsec_audit_format {
	FSEC_AUDIT_TABLE = 0,
	FSEC_AUDIT_JSON,
	FSEC_AUDIT_SARIF,
};

struct fsec_audit_check {
	const char *id;              /* e.g. "FW-CRED-DEFAULT" */
	enum fsec_audit_area area;
	enum fsec_audit_sev severity;
	const char *title;           /* one line: what is wrong */
	const char *remediation;     /* one or two sentences: how to fix it */
};

struct fsec_audit_finding {
	const struct fsec_audit_check *check;
	const char *subject;  /* device ID, path inside the image, or host:port */
	const char *evidence;
	unsigned line;        /* 1-based line in the subject file, 0 = none */
};

struct fsec_audit;

/* Every check, in a fixed order; *n receives the count. Thread-safe. */
FSEC_API const struct fsec_audit_check *fsec_audit_checks(size_t *n);

/* The check with this ID, or NULL. Thread-safe. */
FSEC_API const struct fsec_audit_check *fsec_audit_check_find(const char *id);

/* "critical", "high", "medium", "low" or "info". Thread-safe. */
FSEC_API const char *fsec_audit_sev_name(enum fsec_audit_sev sev);

/* Parse a severity name. Errors: INVAL. Thread-safe. */
FSEC_API FSEC_WUR enum fsec_err fsec_audit_sev_parse(const char *s, enum fsec_audit_sev *out);

/* "fleet", "firmware" or "network". */
FSEC_API const char *fsec_audit_area_name(enum fsec_audit_area area);

/* A new, empty audit with every check enabled. Errors: NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_audit_new(struct fsec_audit **out);

/* NULL is a no-op. */
FSEC_API void fsec_audit_free(struct fsec_audit *a);

/* Disable the check with this ID. Errors: INVAL (no such check). */
FSEC_API FSEC_WUR enum fsec_err fsec_audit_disable(struct fsec_audit *a, const char *id);

/* Whether the check with this ID is known and enabled. */
FSEC_API bool fsec_audit_enabled(const struct fsec_audit *a, const char *id);

/*
 * Record a finding of an enabled check (a disabled one is ignored). Subject
 * and evidence are copied, truncated to their maximum, with control
 * characters replaced so that a finding is always one line. Past
 * FSEC_AUDIT_MAX_FINDINGS it replaces a less severe finding, if one is
 * kept, whatever the order the checks ran in; the one left out is counted.
 * Errors: INVAL (unknown check), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_audit_add(struct fsec_audit *a, const char *check_id,
					       const char *subject, unsigned line,
					       const char *evidence_fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Number of findings kept, and the finding at i (borrowed; i < count).
 * Findings are in the order recorded until fsec_audit_sort(). */
FSEC_API size_t fsec_audit_count(const struct fsec_audit *a);
FSEC_API const struct fsec_audit_finding *fsec_audit_get(const struct fsec_audit *a, size_t i);

/* Findings counted but not kept because of the cap. */
FSEC_API size_t fsec_audit_dropped(const struct fsec_audit *a);

/* The highest severity of any finding, kept or dropped; -1 when none. */
FSEC_API int fsec_audit_max_severity(const struct fsec_audit *a);

/* Order findings by severity (highest first), check ID, subject, line. */
FSEC_API void fsec_audit_sort(struct fsec_audit *a);

/*
 * Render the findings. The table is for people; JSON has one object per
 * finding with check, severity, title, subject, evidence and remediation;
 * SARIF 2.1.0 has one rule per check and one result per finding, firmware
 * findings with a physical location (the path inside the image) and the
 * others with a logical one. tool_version goes into the output. *out is
 * NUL-terminated and freed by the caller; *len excludes the NUL.
 * Errors: INVAL (format), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_audit_render(const struct fsec_audit *a,
						  enum fsec_audit_format format,
						  const char *tool_version, char **out,
						  size_t *len);

/* ---- the three audits ---- */

struct fsec_fleet;

struct fsec_audit_fleet_opts {
	int expiry_days;    /* device certificates expiring within; 0 = 30 */
	int ca_expiry_days; /* CA certificates expiring within; 0 = 180 */
	int stale_days;     /* no check-in or successful update for; 0 = 30 */
	int max_silence_days; /* no fresh signed answer for (the agents' max_silence); 0 = 7 */
	int64_t now;        /* 0 = time(NULL) */
};

/*
 * Audit the fleet at f: its registry (devices, certificates, products,
 * reported state) and its CA certificates. Findings go into a.
 * Errors: DB, IO, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_audit_fleet(struct fsec_fleet *f,
						 const struct fsec_audit_fleet_opts *o,
						 struct fsec_audit *a);

/* Firmware scanning bounds. */
#define FSEC_AUDIT_FW_FILE_MAX_DEFAULT (16u * 1024u * 1024u)
#define FSEC_AUDIT_FW_MAX_FILES 1000000u
#define FSEC_AUDIT_FW_MAX_IMAGES 64

struct fsec_audit_fw_opts {
	uint64_t file_max;  /* skip (and report) larger files; 0 = default */
};

/*
 * Audit root filesystems: each path is a directory (an unpacked root) or a
 * tar archive of one (ustar/GNU/pax, uncompressed). Nothing outside a root
 * is read: symlinks are never followed (their targets are only examined as
 * text, e.g. busybox applet links), and tar member names are confined to the
 * root. With more than one path, a private key found in several images is
 * also reported as a fleet-wide key; subjects then carry the image path.
 * Errors: IO (unreadable path), PARSE (malformed tar), TOO_LARGE (too many
 * files or images), NOMEM. Thread-safe for distinct audits.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_audit_firmware(const char *const *paths, size_t npaths,
						    const struct fsec_audit_fw_opts *o,
						    struct fsec_audit *a);

/* Bytes of file content read by the last fsec_audit_firmware on a (for
 * throughput figures). */
FSEC_API uint64_t fsec_audit_bytes_scanned(const struct fsec_audit *a);

#define FSEC_AUDIT_NET_MAX_TARGETS 4096
#define FSEC_AUDIT_NET_MAX_PORTS 64
#define FSEC_AUDIT_NET_MAX_INFLIGHT 256
#define FSEC_AUDIT_NET_TIMEOUT_MAX_MS 10000

struct fsec_audit_net_opts {
	const char *ports;        /* "23,80,1883,5683/udp"; NULL = the default list */
	int timeout_ms;           /* per connect and per read; 0 = 1500 */
	int inflight;             /* probes at once; 0 = 32 */
	bool try_default_credentials;
};

/*
 * Probe exactly the given targets (IPv4/IPv6 addresses, CIDR blocks, or
 * host names resolved once) on the given ports: a TCP connect, a banner
 * read, then a protocol probe (HTTP GET, MQTT CONNECT, CoAP GET over UDP).
 * Reports telnet, MQTT accepting anonymous clients, HTTP admin interfaces
 * without TLS, other cleartext services, and, with try_default_credentials,
 * HTTP Basic, telnet and MQTT logins that succeed with well-known defaults.
 * At most FSEC_AUDIT_NET_MAX_TARGETS addresses in all (a CIDR is counted
 * before anything is sent); every connect and read is bounded by the
 * timeout, and at most `inflight` probes run at once.
 * Errors: INVAL (a malformed target or port list, naming it), TOO_LARGE
 * (over the target cap), NET (cannot resolve), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_audit_network(const char *const *targets, size_t ntargets,
						   const struct fsec_audit_net_opts *o,
						   struct fsec_audit *a);

/*
 * Audit Mosquitto 2.0 configuration files (paths; each with the *.conf files
 * of its include_dir lines, at most 256 in all), judged at time now (for
 * crlfile): listeners without TLS or client certificates, anonymous
 * clients, identities taken from certificates (which skips any plugin's
 * authentication), no revocation at all, a crlfile expired or within 2 days
 * of it, and the fleetsec plugin under per_listener_settings true.
 * Subjects are the files, with line numbers.
 * Errors: IO (a file cannot be read), PARSE (not text), TOO_LARGE (a file
 * over 1 MiB, or too many), INVAL (include_dir nested too deep), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_audit_broker(const char *const *paths, size_t n,
						  int64_t now, struct fsec_audit *a);

/* The default port list, as fsec_audit_net_opts.ports takes it. */
FSEC_API const char *fsec_audit_net_default_ports(void);

#endif
