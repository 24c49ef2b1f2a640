/* SPDX-License-Identifier: Apache-2.0 */
/* The device API behind /v1/ (devapi.h): status reports, the update
 * a device should run, as struct fsec_reply answers. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "err_int.h"
#include "json_int.h"
#include "fleetsec/fwimage.h"
#include "fleetsec/product.h"
#include "fleetsec/publish.h"
#include "fleetsec/devapi.h"
#include "fleetsec/fleet.h"
#include "fleetsec/key.h"
#include "fleetsec/fileio.h"
#include "fleetsec/release.h"
#include "fleetsec/rollout.h"
#include "pem_int.h"
#include "reply_int.h"

#define RANGE_HDR_MAX 256

/* Where there is no manifest for the device, the model's signed "nothing
 * new" statement (release.h, timestamp), so that the device can tell an
 * answer from silence; without one stored, the unsigned 204 of old (with
 * why), which the agent does not count as fresh. */
static enum fsec_err nothing_new(struct fsec_registry *reg, const char *model,
				 struct fsec_reply *r)
{
	struct fsec_timestamp_rec ts;
	char *bundle = NULL, why[FSEC_REPLY_REASON_MAX];
	enum fsec_err rc = fsec_registry_timestamp_get(reg, model, &ts, &bundle);

	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
		return FSEC_OK;
	}
	if (rc != FSEC_OK)
		return rc;
	free(r->body);
	r->status = 200;
	r->content_type = "application/json";
	r->body = bundle;
	r->len = strlen(bundle);
	/* The 204's reason stays in the log line. */
	memcpy(why, r->reason, sizeof(why));
	snprintf(r->reason, sizeof(r->reason), "%.150s; nothing new (timestamp)", why);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_devapi_update(struct fsec_registry *reg, const char *id,
					  struct fsec_reply *r)
{
	struct fsec_rollout_choice c;
	struct fsec_device_rec dev;
	const struct fsec_published_rec *pub = &c.candidate;
	char *bundle = NULL;
	enum fsec_err rc;

	memset(r, 0, sizeof(*r));
	if ((rc = fsec_registry_device_get(reg, id, &dev)) != FSEC_OK ||
	    (rc = fsec_rollout_pick(reg, dev.model, id, &c, &bundle)) != FSEC_OK)
		return rc;
	if (c.serve) {
		r->status = 200;
		r->content_type = "application/json";
		r->body = bundle;
		r->len = strlen(bundle);
		snprintf(r->reason, sizeof(r->reason), "release %s%s", c.served.version,
			 c.served.baseline ? " (baseline)" : "");
		return FSEC_OK;
	}
	free(bundle);
	if (!c.have_candidate)
		fsec_reply_error(r, 204, "no release published for model '%s'", dev.model);
	else if (c.offer == FSEC_ROLLOUT_ABORTED)
		fsec_reply_error(r, 204, "rollout of %s aborted", pub->version);
	else if (c.offer == FSEC_ROLLOUT_PAUSED)
		fsec_reply_error(r, 204, "rollout of %s paused: %llu failures reported", pub->version,
				 (unsigned long long)c.st.stats.failures);
	else if (c.offer == FSEC_ROLLOUT_OTHER_GROUP)
		fsec_reply_error(r, 204, "release %s is for group %s, not yet for %s", pub->version,
				 pub->group, id);
	else if (pub->phases[0] != '\0')
		fsec_reply_error(r, 204, "release %s is in phase %d (%s), not yet for %s",
				 pub->version, pub->phase + 1, pub->phases, id);
	else
		fsec_reply_error(r, 204, "release %s is rolled out to %d%%, not yet to %s",
				 pub->version, pub->percent, id);
	return nothing_new(reg, dev.model, r);
}

static bool printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* A string member no longer than cap - 1; absent leaves out unchanged. */
static enum fsec_err str_member(json_t *o, const char *name, bool required, char *out,
				size_t cap)
{
	json_t *v = json_object_get(o, name);

	if (v == NULL)
		return required ? fsec_seterr(FSEC_ERR_PARSE, "status.%s: missing", name) : FSEC_OK;
	if (!json_is_string(v) || json_string_length(v) >= cap ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    !printable(json_string_value(v)))
		return fsec_seterr(FSEC_ERR_PARSE, "status.%s: a string of printable ASCII, at most "
						   "%zu characters",
				   name, cap - 1);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return FSEC_OK;
}


FSEC_API enum fsec_err fsec_device_status_parse(const unsigned char *buf, size_t len,
						struct fsec_device_status *out)
{
	static const char *const known[] = {
	    "version", "security_counter", "slot", "update", "reason", "image", "pending", "jtag",
	    "uart", "freshness", "fresh_at", NULL};
	struct fsec_device_status st;
	struct fsec_fw_version v;
	json_error_t jerr;
	json_t *j = NULL, *val;
	char slot[2] = "", jtag[12] = "", uart[12] = "", fresh[8] = "";
	enum fsec_err rc = FSEC_ERR_PARSE;

	memset(&st, 0, sizeof(st));
	if (len > FSEC_STATUS_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "status over %d bytes", FSEC_STATUS_MAX);
	/* Duplicate keys are refused: two "version" members, one for each
	 * reader, is how parser differentials start. */
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
		       &jerr);
	if (!json_is_object(j)) {
		fsec_seterr(rc, "status: not a JSON object");
		goto out;
	}
	if ((rc = fsec_json_only_keys(j, "status", known)) != FSEC_OK ||
	    (rc = str_member(j, "version", true, st.version, sizeof(st.version))) != FSEC_OK ||
	    (rc = str_member(j, "slot", false, slot, sizeof(slot))) != FSEC_OK ||
	    (rc = str_member(j, "update", false, st.update, sizeof(st.update))) != FSEC_OK ||
	    (rc = str_member(j, "reason", false, st.reason, sizeof(st.reason))) != FSEC_OK ||
	    (rc = str_member(j, "image", false, st.image, sizeof(st.image))) != FSEC_OK ||
	    (rc = str_member(j, "pending", false, st.pending, sizeof(st.pending))) != FSEC_OK ||
	    (rc = str_member(j, "jtag", false, jtag, sizeof(jtag))) != FSEC_OK ||
	    (rc = str_member(j, "uart", false, uart, sizeof(uart))) != FSEC_OK ||
	    (rc = str_member(j, "freshness", false, fresh, sizeof(fresh))) != FSEC_OK ||
	    (rc = fsec_json_get_time(j, "status", "fresh_at", FSEC_JSON_OPTIONAL,
				     FSEC_TIME_CANONICAL, &st.fresh_at)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_PARSE;
	if (fsec_fw_version_parse(st.version, &v) != FSEC_OK) {
		fsec_seterr(rc, "status.version: not MAJOR.MINOR.REVISION[+BUILD]");
		goto out;
	}
	val = json_object_get(j, "security_counter");
	if (!json_is_integer(val) || json_integer_value(val) < 0 ||
	    json_integer_value(val) > (json_int_t)UINT32_MAX) {
		fsec_seterr(rc, "status.security_counter: an integer from 0 to %u", UINT32_MAX);
		goto out;
	}
	st.security_counter = (uint32_t)json_integer_value(val);
	if (st.pending[0] != '\0' && fsec_fw_version_parse(st.pending, &v) != FSEC_OK) {
		fsec_seterr(rc, "status.pending: not MAJOR.MINOR.REVISION[+BUILD]");
		goto out;
	}
	if (st.image[0] != '\0' &&
	    !fsec_hex_valid(st.image, 32, FSEC_HEX_LOWER)) {
		fsec_seterr(rc, "status.image: 64 lowercase hex digits (a SHA-256)");
		goto out;
	}
	if (slot[0] != '\0' && slot[0] != 'a' && slot[0] != 'b') {
		fsec_seterr(rc, "status.slot: \"a\" or \"b\"");
		goto out;
	}
	st.slot = slot[0];
	/* Both or neither: a report of one port must not erase what the
	 * other was last reported as. */
	if (fsec_debug_state_parse(jtag, &st.jtag) != FSEC_OK ||
	    fsec_debug_state_parse(uart, &st.uart) != FSEC_OK ||
	    (st.jtag == FSEC_DEBUG_UNKNOWN) != (st.uart == FSEC_DEBUG_UNKNOWN)) {
		fsec_seterr(rc, "status.jtag, status.uart: both \"locked\" or \"unlocked\", or neither");
		goto out;
	}
	if (strcmp(fresh, "fresh") == 0)
		st.freshness = FSEC_REPORT_FRESH;
	else if (strcmp(fresh, "frozen") == 0)
		st.freshness = FSEC_REPORT_FROZEN;
	else if (fresh[0] != '\0') {
		fsec_seterr(rc, "status.freshness: \"fresh\" or \"frozen\"");
		goto out;
	}
	if (st.update[0] != '\0' && !fsec_update_state_valid(st.update)) {
		fsec_seterr(rc, "status.update: one of downloading, installed, trial, confirmed, "
				"rolled_back, failed");
		goto out;
	}
	*out = st;
	rc = FSEC_OK;
out:
	json_decref(j);
	return rc;
}

FSEC_API enum fsec_err fsec_devapi_status(struct fsec_registry *reg, const char *id,
					  const unsigned char *body, size_t len,
					  struct fsec_reply *r)
{
	struct fsec_device_status st;
	struct fsec_device_report rep = {.id = id};
	enum fsec_err rc;

	memset(r, 0, sizeof(*r));
	if ((rc = fsec_device_status_parse(body, len, &st)) != FSEC_OK) {
		fsec_reply_error(r, rc == FSEC_ERR_TOO_LARGE ? 413 : 400, "%s", fsec_err_detail());
		return FSEC_OK;
	}
	rep.version = st.version;
	rep.security_counter = st.security_counter;
	rep.jtag = st.jtag;
	rep.uart = st.uart;
	rep.freshness = st.freshness;
	rep.fresh_at = st.fresh_at;
	rep.update_state = st.update;
	rep.pending = st.pending;
	rep.image = st.image;
	rep.reason = st.reason;
	if (strcmp(st.update, "confirmed") == 0)
		rep.update_outcome = FSEC_UPDATE_SUCCESS;
	else if (strcmp(st.update, "rolled_back") == 0 || strcmp(st.update, "failed") == 0)
		rep.update_outcome = FSEC_UPDATE_FAILURE;
	if ((rc = fsec_device_report(reg, &rep)) == FSEC_ERR_INVAL) {
		fsec_reply_error(r, 400, "%s", fsec_err_detail());
		return FSEC_OK;
	}
	if (rc != FSEC_OK)
		return rc;
	/* A report only records: counting the model's devices here cost
	 * seconds per report at a million devices. Outcomes pause and advance
	 * the rollout at fleetsecd's next evaluation (fsec_rollout_evaluate_all). */
	if ((r->body = strdup("{\"recorded\": true}\n")) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	r->len = strlen(r->body);
	r->status = 200;
	r->content_type = "application/json";
	snprintf(r->reason, sizeof(r->reason), "reported %s%s%s", st.version,
		 st.update[0] != '\0' ? " " : "", st.update);
	return FSEC_OK;
}

/* The public key of device id's current certificate, which must be serial
 * (the one the TLS session was made with). */
static enum fsec_err device_key(struct fsec_registry *reg, const char *id, const char *serial,
				EVP_PKEY **out)
{
	struct fsec_device_rec dev;
	char *pem = NULL;
	X509 *cert = NULL;
	enum fsec_err rc;

	if ((rc = fsec_registry_device_get(reg, id, &dev)) != FSEC_OK)
		return rc;
	if (strcmp(dev.serial, serial) != 0)
		return fsec_seterr(FSEC_ERR_VERIFY, "certificate %s is not device %s's current one",
				   serial, id);
	if ((rc = fsec_registry_cert_pem(reg, serial, &pem)) == FSEC_OK &&
	    (rc = fsec_pem_cert_parse(pem, strlen(pem), "the device certificate", &cert)) ==
		    FSEC_OK &&
	    (*out = X509_get_pubkey(cert)) == NULL)
		rc = fsec_seterr(FSEC_ERR_CRYPTO, "the device certificate has no usable key");
	X509_free(cert);
	free(pem);
	return rc;
}

FSEC_API enum fsec_err fsec_devapi_tamper(struct fsec_registry *reg, const char *id,
					  const char *serial, const unsigned char *body,
					  size_t len, int64_t now, struct fsec_reply *r)
{
	struct fsec_tamper_statement st;
	struct fsec_tamper_rec rec;
	char when[FSEC_TIME_LEN], *envelope = NULL;
	EVP_PKEY *key = NULL;
	enum fsec_err rc;

	memset(r, 0, sizeof(*r));
	if (len > FSEC_TAMPER_STATEMENT_MAX) {
		fsec_reply_error(r, 413, "tamper statement over %d bytes", FSEC_TAMPER_STATEMENT_MAX);
		return FSEC_OK;
	}
	if ((rc = device_key(reg, id, serial, &key)) == FSEC_ERR_VERIFY) {
		fsec_reply_error(r, 403, "%s", fsec_err_detail());
		return FSEC_OK;
	}
	if (rc != FSEC_OK)
		return rc;
	/* Signed by the key of the certificate the session was made with:
	 * the same key that TLS proved, now over a statement the registry
	 * can keep and anyone can check again with the certificate. */
	rc = fsec_tamper_statement_open(body, len, key, &st);
	EVP_PKEY_free(key);
	if (rc == FSEC_ERR_VERIFY || rc == FSEC_ERR_PARSE || rc == FSEC_ERR_TOO_LARGE) {
		fsec_reply_error(r, rc == FSEC_ERR_VERIFY ? 403 : 400, "%s", fsec_err_detail());
		return FSEC_OK;
	}
	if (rc != FSEC_OK)
		return rc;
	if (strcmp(st.device, id) != 0) {
		fsec_reply_error(r, 403, "a tamper statement about device %s, sent by device %s",
				 st.device, id);
		return FSEC_OK;
	}
	/* Both sides of the window: an old statement replayed, or one dated
	 * ahead to outlive the window. */
	if (st.at < now - FSEC_TAMPER_WINDOW_SECONDS || st.at > now + FSEC_TAMPER_WINDOW_SECONDS) {
		fsec_reply_error(r, 403, "tamper statement dated %s, more than %d s from now",
				 fsec_time_format(st.at, when), FSEC_TAMPER_WINDOW_SECONDS);
		return FSEC_OK;
	}
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.device_id, sizeof(rec.device_id), "%s", id);
	snprintf(rec.reason, sizeof(rec.reason), "%s", st.reason);
	snprintf(rec.serial, sizeof(rec.serial), "%s", serial);
	rec.at = st.at;
	rec.received_at = now;
	/* The envelope as sent (its bytes are what the signature covers),
	 * as text for the registry. */
	if ((envelope = malloc(len + 1)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	memcpy(envelope, body, len);
	envelope[len] = '\0';
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		goto out;
	if ((rc = fsec_registry_tamper_put(reg, &rec, envelope)) != FSEC_OK ||
	    (rc = fsec_registry_event_addf(reg, "fleetsecd", "tamper", id,
					   "tamper reported: %s (at %s, certificate %s)", st.reason,
					   fsec_time_format(st.at, when), serial)) != FSEC_OK ||
	    (rc = fsec_registry_commit(reg)) != FSEC_OK) {
		fsec_registry_rollback(reg);
		goto out;
	}
	if ((r->body = strdup("{\"recorded\": true}\n")) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	r->len = strlen(r->body);
	r->status = 200;
	r->content_type = "application/json";
	snprintf(r->reason, sizeof(r->reason), "tamper reported: %.100s", st.reason);
out:
	free(envelope);
	return rc;
}

/* A decimal byte position: digits only, no sign, no overflow. */
static bool parse_pos(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

FSEC_API enum fsec_err fsec_http_range(const char *hdr, uint64_t size, uint64_t *off,
				       uint64_t *len)
{
	const char *spec, *dash;
	size_t n = strnlen(hdr, RANGE_HDR_MAX + 1);
	uint64_t a = 0, b = 0;

	if (n > RANGE_HDR_MAX || strncmp(hdr, "bytes=", 6) != 0)
		return FSEC_ERR_PARSE;
	spec = hdr + 6;
	n -= 6;
	/* Several ranges would need multipart/byteranges: serve it whole. */
	if (memchr(spec, ',', n) != NULL || (dash = memchr(spec, '-', n)) == NULL)
		return FSEC_ERR_PARSE;
	if (dash == spec) {
		/* "-N": the last N bytes. */
		if (!parse_pos(dash + 1, n - 1, &b))
			return FSEC_ERR_PARSE;
		if (b == 0 || size == 0)
			return FSEC_ERR_NOTFOUND;
		*len = b < size ? b : size;
		*off = size - *len;
		return FSEC_OK;
	}
	if (!parse_pos(spec, (size_t)(dash - spec), &a))
		return FSEC_ERR_PARSE;
	if (dash[1] == '\0')
		b = size > 0 ? size - 1 : 0;
	else if (!parse_pos(dash + 1, n - (size_t)(dash - spec) - 1, &b) || b < a)
		return FSEC_ERR_PARSE;
	if (a >= size)
		return FSEC_ERR_NOTFOUND;
	if (b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return FSEC_OK;
}

/* Only the image GET /v1/update serves the device (fsec_rollout_pick: the
 * candidate it is offered or holds, or the baseline): other models'
 * builds, releases withdrawn since, and a release outside the device's
 * rollout (phase, percent, group, paused, aborted) are not its to read. */
static enum fsec_err offered(struct fsec_registry *reg, const char *id, const char *sha,
			     bool *yes)
{
	struct fsec_rollout_choice c;
	struct fsec_device_rec dev;
	enum fsec_err rc;

	*yes = false;
	if ((rc = fsec_registry_device_get(reg, id, &dev)) == FSEC_OK &&
	    (rc = fsec_rollout_pick(reg, dev.model, id, &c, NULL)) == FSEC_OK)
		*yes = c.serve && strcmp(c.served.sha256, sha) == 0;
	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
		rc = FSEC_OK;
	}
	return rc;
}

FSEC_API enum fsec_err fsec_devapi_firmware(struct fsec_registry *reg, const char *fw_dir,
					    const char *id, const char *sha, const char *range,
					    struct fsec_reply *r)
{
	char path[4200];
	uint64_t size = 0, off = 0, len = 0;
	enum fsec_err rc, rrc = FSEC_ERR_PARSE;
	bool yes = false;
	int fd = -1;

	memset(r, 0, sizeof(*r));
	/* 64 lowercase hex digits: the only names served from fw_dir. */
	if (!fsec_hex_valid(sha, 32, FSEC_HEX_LOWER)) {
		fsec_reply_error(r, 404, "no such image");
		return FSEC_OK;
	}
	if ((rc = offered(reg, id, sha, &yes)) != FSEC_OK)
		return rc;
	if (!yes || (size_t)snprintf(path, sizeof(path), "%s/%s", fw_dir, sha) >= sizeof(path) ||
	    fsec_file_open_regular(path, &fd, &size) != FSEC_OK) {
		fsec_clearerr();
		fsec_reply_error(r, 404, "no such image");
		return FSEC_OK;
	}
	if (range != NULL)
		rrc = fsec_http_range(range, size, &off, &len);
	if (rrc == FSEC_ERR_NOTFOUND) {
		close(fd);
		fsec_reply_error(r, 416, "range not satisfiable");
		snprintf(r->content_range, sizeof(r->content_range), "bytes */%" PRIu64, size);
		return FSEC_OK;
	}
	/* RFC 9110 lets a server ignore a Range it does not understand: the
	 * whole image. */
	if (rrc != FSEC_OK) {
		off = 0;
		len = size;
	}
	r->status = rrc == FSEC_OK ? 206 : 200;
	r->content_type = "application/octet-stream";
	r->accept_ranges = true;
	if (rrc == FSEC_OK)
		snprintf(r->content_range, sizeof(r->content_range),
			 "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1, size);
	if (len == 0) {
		close(fd);
		return FSEC_OK;
	}
	r->has_file = true;
	r->file_fd = fd;
	r->file_off = off;
	r->file_len = len;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_devapi_firmware_key(struct fsec_registry *reg, const char *fw_dir,
						const struct fsec_fw_enc_key *holder,
						const char *id, const char *sha,
						struct fsec_reply *r)
{
	char path[4200], pem[FSEC_ENC_KEY_PEM_MAX + 1];
	struct fsec_fw_enc_key *dev = NULL;
	unsigned char *out = NULL;
	size_t len = 0;
	EVP_PKEY *pub = NULL;
	BIO *bio = NULL;
	enum fsec_err rc;
	bool yes = false;

	memset(r, 0, sizeof(*r));
	if (holder == NULL || !fsec_hex_valid(sha, 32, FSEC_HEX_LOWER)) {
		fsec_reply_error(r, 404, "no such image");
		return FSEC_OK;
	}
	/* Who may have the key is who may have the image. */
	if ((rc = offered(reg, id, sha, &yes)) != FSEC_OK)
		return rc;
	if (!yes || (size_t)snprintf(path, sizeof(path), "%s/%s", fw_dir, sha) >= sizeof(path)) {
		fsec_reply_error(r, 404, "no such image");
		return FSEC_OK;
	}
	rc = fsec_registry_enc_key_get(reg, id, pem);
	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_clearerr();
		fsec_reply_error(r, 403, "device %s has no encryption key enrolled", id);
		return FSEC_OK;
	}
	if (rc != FSEC_OK)
		return rc;
	bio = BIO_new_mem_buf(pem, -1);
	pub = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	ERR_clear_error();
	if (pub == NULL || fsec_fw_enc_key_from_pkey(pub, false, &dev) != FSEC_OK) {
		EVP_PKEY_free(pub);
		fsec_clearerr();
		fsec_reply_error(r, 500, "device %s's encryption key is unusable", id);
		return FSEC_OK;
	}
	if ((out = malloc(FSEC_FW_KEY_TLV_MAX)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = fsec_fw_key_rewrap(path, holder, dev, out, &len);
	if (rc == FSEC_ERR_INVAL) {
		fsec_reply_error(r, 409, "image %.16s... is not encrypted", sha);
	} else if (rc != FSEC_OK) {
		fsec_reply_error(r, 500, "the image key: %s", fsec_err_detail());
	} else {
		r->status = 200;
		r->content_type = "application/octet-stream";
		r->body = (char *)out;
		r->len = len;
		out = NULL;
	}
	fsec_clearerr();
	rc = FSEC_OK;
out:
	free(out);
	fsec_fw_enc_key_free(dev);
	return rc;
}

/* A PEM block with Proc-Type and DEK-Info headers is encrypted, and
 * OpenSSL would ask its default callback for a passphrase: on a terminal,
 * or on standard input, with the event loop stopped. Never a passphrase. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* One PEM PUBLIC KEY block, no headers, and only whitespace around it. */
static enum fsec_err parse_public_pem(const unsigned char *body, size_t len, EVP_PKEY **out)
{
	static const char begin[] = "-----BEGIN PUBLIC KEY-----", end[] = "-----END PUBLIC KEY-----";
	const char *e;
	char *text = NULL;
	BIO *mem = NULL;
	EVP_PKEY *k = NULL;
	enum fsec_err rc = FSEC_ERR_PARSE;

	if ((text = malloc(len + 1)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	memcpy(text, body, len);
	text[len] = '\0';
	e = strstr(text, end);
	if (strlen(text) != len || strncmp(text, begin, strlen(begin)) != 0 || e == NULL ||
	    strspn(e + strlen(end), " \t\r\n") != strlen(e + strlen(end)) ||
	    strchr(text, ':') != NULL) {
		fsec_seterr(rc, "enc-key: not one PEM public key");
		goto out;
	}
	if ((mem = BIO_new_mem_buf(text, (int)len)) == NULL ||
	    (k = PEM_read_bio_PUBKEY(mem, NULL, no_passphrase, NULL)) == NULL) {
		fsec_seterr_ossl(rc, "enc-key: not a public key");
		goto out;
	}
	*out = k;
	rc = FSEC_OK;
out:
	BIO_free(mem);
	free(text);
	return rc;
}

FSEC_API enum fsec_err fsec_devapi_enc_key(struct fsec_fleet *f, const char *id,
					   const unsigned char *body, size_t len, bool known_only,
					   struct fsec_reply *r)
{
	char spki[FSEC_SHA256_HEX_LEN], *out = NULL;
	EVP_PKEY *pub = NULL;
	json_t *j = NULL;
	bool changed = false;
	enum fsec_err rc;

	memset(r, 0, sizeof(*r));
	if (len > FSEC_DEVAPI_ENC_KEY_MAX) {
		fsec_reply_error(r, 413, "an encryption key is at most %u bytes",
				 FSEC_DEVAPI_ENC_KEY_MAX);
		return FSEC_OK;
	}
	if (len == 0) {
		fsec_reply_error(r, 400, "enc-key: no key in the request");
		return FSEC_OK;
	}
	if ((rc = parse_public_pem(body, len, &pub)) != FSEC_OK ||
	    (rc = fsec_key_spki_sha256(pub, spki)) != FSEC_OK ||
	    (rc = fsec_fleet_enc_key_set(f, id, pub, "fleetsecd",
					 FSEC_FLEET_ENC_KEY_KEEP |
						 (known_only ? FSEC_FLEET_ENC_KEY_KNOWN : 0),
					 &changed)) != FSEC_OK) {
		/* Refusals are answers; the registry's failures are errors. */
		if (rc == FSEC_ERR_PARSE || rc == FSEC_ERR_INVAL || rc == FSEC_ERR_POLICY)
			fsec_reply_error(r, 400, "%s", fsec_err_detail());
		else if (rc == FSEC_ERR_EXISTS)
			fsec_reply_error(r, 409, "%s", fsec_err_detail());
		else if (rc == FSEC_ERR_PERM)
			fsec_reply_error(r, 403, "%s", fsec_err_detail());
		else
			goto out;
		fsec_clearerr();
		rc = FSEC_OK;
		goto out;
	}
	if ((j = json_pack("{s:s, s:s, s:b}", "device_id", id, "key_sha256", spki, "enrolled",
			   changed)) == NULL ||
	    (out = json_dumps(j, JSON_COMPACT)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	r->status = 200;
	r->content_type = "application/json";
	r->body = out;
	r->len = strlen(out);
	snprintf(r->reason, sizeof(r->reason), "encryption key %.16s... %s", spki,
		 changed ? "enrolled" : "already enrolled");
out:
	json_decref(j);
	EVP_PKEY_free(pub);
	return rc;
}
