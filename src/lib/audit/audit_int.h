/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: what the three audits share beyond audit.h. */
#ifndef FLEETSEC_AUDIT_INT_H
#define FLEETSEC_AUDIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetsec/audit.h"

/* Count bytes of content a scan read. */
void fsec_audit_add_bytes(struct fsec_audit *a, uint64_t n);

/* The built-in list of well-known default passwords (vendor defaults and the
 * Mirai dictionary), NULL-terminated, and well-known default user names. */
extern const char *const fsec_audit_default_passwords[];
extern const char *const fsec_audit_default_users[];

/*
 * Firmware content checks on one file, for the scanner and the fuzz target:
 * path is the file's path inside the image ("etc/passwd", no leading '/'),
 * buf/len its content (at most the scan's file limit). Findings go into a;
 * facts that need the whole image (an update client seen) go into st.
 * Errors: NOMEM.
 */
struct fw_state {
	bool update_client;   /* an update agent or client was seen */
	const char *image;    /* prefix for subjects in multi-image audits, or NULL */
	void *keys;           /* private key digests, for --across (audit_fw_int.h) */
};
enum fsec_err fsec_audit_fw_file(struct fsec_audit *a, struct fw_state *st, const char *path,
				 const unsigned char *buf, size_t len);

/* A symlink inside the image: busybox applet links and enabled units. */
enum fsec_err fsec_audit_fw_link(struct fsec_audit *a, struct fw_state *st, const char *path,
				 const char *target);

/*
 * Walk a ustar/GNU/pax archive of at most len bytes held in memory,
 * calling the file checks on each regular member and the link checks on each
 * symlink. Member names are normalised ("./etc/x" -> "etc/x"); members whose
 * names escape the root ("../") are refused as PARSE. Errors: PARSE, NOMEM.
 */
enum fsec_err fsec_audit_fw_tar(struct fsec_audit *a, struct fw_state *st,
				const unsigned char *buf, size_t len, uint64_t file_max);

/*
 * Network answers, for the prober and its fuzz target. Each reads at most
 * len bytes of buf, which need not be NUL-terminated:
 *  - the status code (100-599) of an HTTP/1.x response head, else 0;
 *  - whether the head asks for HTTP Basic authentication;
 *  - an MQTT CONNACK's return code (0-255), else -1;
 *  - whether a datagram is a CoAP reply to message ID 0x4653;
 *  - what a server's first bytes say it is.
 */
enum net_banner { NET_BANNER_NONE, NET_BANNER_TELNET, NET_BANNER_FTP, NET_BANNER_SSH,
		  NET_BANNER_OTHER };
int fsec_audit_net_http_status(const char *buf, size_t len);
bool fsec_audit_net_http_basic(const char *buf, size_t len);
int fsec_audit_net_connack(const unsigned char *buf, size_t len);
bool fsec_audit_net_coap_reply(const unsigned char *buf, size_t len);
enum net_banner fsec_audit_net_banner(const char *buf, size_t len);
/* A printable one-line excerpt of len bytes of in, into out (cap >= 1). */
void fsec_audit_net_excerpt(const char *in, size_t len, char *out, size_t cap);

/* Whether an RSA modulus has the ROCA (CVE-2017-15361) fingerprint. */
#include <openssl/bn.h>
bool fsec_audit_roca_modulus(const BIGNUM *n);

#endif
