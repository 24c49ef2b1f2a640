/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device API behind fleetsecd's /v1/ endpoints, without the HTTP: the
 * caller has already established, from the TLS client certificate, which
 * registered and active device is asking (fsec_est_peer).
 */
#ifndef FLEETSEC_DEVAPI_H
#define FLEETSEC_DEVAPI_H

#include <stdint.h>

#include "fleetsec/common.h"
#include "fleetsec/product.h"
#include "fleetsec/registry.h"
#include "fleetsec/reply.h"

struct fsec_fw_enc_key;

/*
 * GET /v1/update for device id: the signed release bundle published for its
 * model (200, application/json), or 204 when nothing is published or the
 * device is outside the staged rollout (fsec_rollout_bucket).
 * Errors: DB, NOMEM, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_devapi_update(struct fsec_registry *reg, const char *id,
						   struct fsec_reply *r);

/* A device's report (POST /v1/status), as parsed. */
#define FSEC_STATUS_MAX 4096
struct fsec_device_status {
	char version[32];          /* running firmware, MAJ.MIN.REV[+BUILD] */
	uint32_t security_counter; /* the device's anti-rollback counter */
	char slot;                 /* 'a', 'b' or 0 when not said */
	char update[16];           /* "", downloading, installed, trial, confirmed, rolled_back,
				    * failed */
	char reason[128];          /* for failed: why, printable ASCII */
	char image[65];            /* SHA-256 (lowercase hex) of the image update is about; "" */
	char pending[32];          /* installed: the version waiting for its trial boot; "" */
	enum fsec_debug_state jtag, uart; /* debug ports; UNKNOWN: not said */
	enum fsec_report_freshness freshness; /* "fresh"/"frozen"; NONE: not said */
	int64_t fresh_at;          /* last fresh signed statement; 0: not said */
};

/*
 * Parse a status body: a JSON object of at most FSEC_STATUS_MAX bytes with
 * "version" and "security_counter", and optionally "slot" ("a"/"b"),
 * "update" and "reason", "image" (the SHA-256 of the image the update
 * state is about: 64 lowercase hex digits), "pending" (the version waiting
 * for its trial boot), "freshness" ("fresh" or "frozen": whether the
 * device still hears signed statements) and "fresh_at" (an RFC 3339 UTC
 * time: when it last saw one). Unknown members are refused, like every parser
 * here. Errors: PARSE (naming the member), TOO_LARGE.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_device_status_parse(const unsigned char *buf, size_t len,
							 struct fsec_device_status *out);

/*
 * POST /v1/status from device id: record the report in the registry (last
 * seen, version, counter; "confirmed" counts as a successful update,
 * "rolled_back" and "failed" as failures), and nothing else: the rollout
 * it may pause or advance is evaluated by fleetsecd's timer
 * (fsec_rollout_evaluate_all), so a report costs one row's write whatever
 * the fleet's size. 200 on success, 400 with the parser's reason
 * otherwise. Errors: DB, BUSY, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_devapi_status(struct fsec_registry *reg, const char *id,
						   const unsigned char *body, size_t len,
						   struct fsec_reply *r);

/*
 * GET /v1/firmware/SHA256 from device id: who may download which image, and
 * the Range answer. Only the image published for the device's model is
 * served (any other name, a withdrawn release or another model's image is
 * 404 "no such image"), from fw_dir/SHA256. range is the request's Range
 * header or NULL: one satisfiable byte range is a 206 with its
 * Content-Range, an unsatisfiable one a 416, anything else the whole image
 * (200). The bytes are not read: r holds the open file (has_file) with the
 * offset and length to send, and the caller sends or closes it
 * (fsec_reply_cleanup). Errors: DB, BUSY.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_devapi_firmware(struct fsec_registry *reg,
						     const char *fw_dir, const char *id,
						     const char *sha, const char *range,
						     struct fsec_reply *r);

/*
 * GET /v1/firmware/SHA256/key from device id (issue 19, per-device key
 * delivery): the image key of the encrypted image SHA256, unwrapped with
 * holder (the key the release was encrypted to; NULL: delivery is off) and
 * wrapped again to the device's enrolled encryption key, as one ENC TLV
 * (fsec_fw_dec_key_parse), 200 application/octet-stream. The same
 * authorization as the image itself (fsec_devapi_firmware: the image
 * published for the device's model and offered to it by the rollout; the
 * caller admits only an active device's current certificate); anything
 * else is 404 "no such image". 403 when the device has no encryption key
 * enrolled, 409 when the image is not encrypted, 500 when holder cannot
 * unwrap it. Errors: DB, BUSY, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_devapi_firmware_key(struct fsec_registry *reg,
							 const char *fw_dir,
							 const struct fsec_fw_enc_key *holder,
							 const char *id, const char *sha,
							 struct fsec_reply *r);

/*
 * An HTTP Range header (RFC 9110 section 14.2) for a representation of size
 * bytes, one range only: "bytes=A-B", "bytes=A-" or "bytes=-N". On FSEC_OK
 * *off and *len say what to send (206). NOTFOUND: unsatisfiable (416).
 * PARSE: not one byte range; serve the whole file (200), as RFC 9110 lets a
 * server ignore a Range it does not understand. hdr is at most 256 bytes.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_http_range(const char *hdr, uint64_t size, uint64_t *off,
						uint64_t *len);

/* How far a tamper statement's time may be from fleetsecd's clock, either
 * way: an older one is a replay, a later one a clock not to be trusted. */
#define FSEC_TAMPER_WINDOW_SECONDS 300

/*
 * POST /v1/tamper from device id, authenticated (mutual TLS) by its current
 * certificate serial: a tamper statement (release.h) that the device signed
 * with that certificate's key just before it destroyed the key. Refused,
 * with nothing recorded: over FSEC_TAMPER_STATEMENT_MAX bytes (413); not a
 * statement (400); not signed by the certificate's key (403); a statement
 * about another device (403); a time more than FSEC_TAMPER_WINDOW_SECONDS
 * from now (403). Accepted, the report and its envelope are recorded and a
 * "tamper" event added, in one transaction (200). A replay after that is
 * refused before it gets here: fsec_est_peer refuses a certificate that a
 * tamper report came through.
 * Errors: DB, BUSY, NOMEM, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_devapi_tamper(struct fsec_registry *reg, const char *id,
						   const char *serial, const unsigned char *body,
						   size_t len, int64_t now, struct fsec_reply *r)
	FSEC_NONNULL(1, 2, 3, 4, 7);

/* The largest body POST /v1/enc-key reads: an SPKI PEM is a few hundred
 * bytes. */
#define FSEC_DEVAPI_ENC_KEY_MAX 1024u

struct fsec_fleet;

/*
 * POST /v1/enc-key from device id, authenticated (mutual TLS) by its current
 * certificate: its firmware encryption key (issue 19), one PEM PUBLIC KEY
 * (P-256 or X25519), no PEM headers (an encrypted block is never
 * decrypted) and nothing else, which the agent sends when it enrolls, then
 * at each daemon round and before an encrypted update until it was taken.
 * The first key a device sends is trusted on first use: until then, a copy
 * of the device's TLS key could enrol another (the agent sends its key
 * right after its enrollment, to keep that window short; `fleetsec device
 * enc-key` replaces a key). Enrolled with
 * fsec_fleet_enc_key_set(FSEC_FLEET_ENC_KEY_KEEP)
 * and logged as fleetsecd's: 200 (JSON {"device_id", "key_sha256",
 * "enrolled": true if written now, false if it was already}). Refused, with
 * nothing recorded: over FSEC_DEVAPI_ENC_KEY_MAX bytes (413); empty, not
 * one public key, another key type, or the device's TLS key (400); another key
 * already enrolled (409: the operator replaces it, `fleetsec device
 * enc-key`). With known_only (enc_key_self_enroll = off) only the key the
 * device holds already is answered 200 (so that an agent whose key the
 * operator enrolled goes on), and any other, a first one included, is 403.
 * Errors: DB, BUSY, NOMEM, CRYPTO.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_devapi_enc_key(struct fsec_fleet *f, const char *id,
						    const unsigned char *body, size_t len,
						    bool known_only, struct fsec_reply *r)
	FSEC_NONNULL(1, 2, 6);

#endif
