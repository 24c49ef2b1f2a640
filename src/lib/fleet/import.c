/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Importing records into the registry as they are: devices, certificates
 * and reported states from another system (or from `fleetsec device show
 * --json`), written through the registry interface in one transaction and
 * logged. Nothing here issues, revokes or checks a key: the records are the
 * operator's, and `fleetsec audit fleet` is what judges them.
 */
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "err_int.h"
#include "fleetsec/ca.h"
#include "fleetsec/fleet.h"
#include "fleetsec/names.h"
#include "fleetsec/product.h"
#include "json_int.h"

/* The path of the row being read ("$.devices[3]"), for the one-line error. */
struct where {
	char path[FSEC_JSON_PATH_MAX];
};

static enum fsec_err bad(const struct where *w, const char *key, const char *why)
{
	return fsec_seterr(FSEC_ERR_PARSE, "%s.%s: %s", w->path, key, why);
}

/* An optional string member into out[cap], as the walker reads it. */
static enum fsec_err str(json_t *o, const struct where *w, const char *key, bool required,
			 char *out, size_t cap)
{
	return fsec_json_copy_str(o, w->path, key, required ? 0 : FSEC_JSON_OPTIONAL,
				  required ? 1 : 0, out, cap);
}

/* A time member: UNIX seconds, an RFC 3339 time, or "-" (never), as
 * `fleetsec device show --json` prints them. Absent leaves *out. */
static enum fsec_err when(json_t *o, const struct where *w, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);
	uint64_t n = 0;

	if (v == NULL)
		return FSEC_OK;
	if (json_is_integer(v)) {
		if (fsec_json_get_uint(o, w->path, key, 0, 0, INT64_MAX, &n) != FSEC_OK)
			return bad(w, key, "not a time (YYYY-MM-DDTHH:MM:SSZ, \"-\" or UNIX seconds)");
		*out = (int64_t)n;
		return FSEC_OK;
	}
	if (json_is_string(v) && strcmp(json_string_value(v), "-") == 0) {
		*out = 0;
		return FSEC_OK;
	}
	if (fsec_json_get_time(o, w->path, key, 0, 0, out) != FSEC_OK)
		return bad(w, key, "not a time (YYYY-MM-DDTHH:MM:SSZ, \"-\" or UNIX seconds)");
	return FSEC_OK;
}

/* The registry checks that a row's device exists only at commit; asking
 * first names the row that is wrong. */
static enum fsec_err known_device(struct fsec_registry *reg, const struct where *w,
				  const char *key, const char *id)
{
	struct fsec_device_rec d;
	enum fsec_err rc = fsec_registry_device_get(reg, id, &d);

	return rc == FSEC_ERR_NOTFOUND
		       ? fsec_seterr(FSEC_ERR_NOTFOUND, "%s.%s: no device %s", w->path, key, id)
		       : rc;
}

static enum fsec_err import_device(struct fsec_registry *reg, json_t *o, const struct where *w,
				   int64_t now)
{
	static const char *const known[] = {"id", "model", "status", "serial",
					    "fingerprint_sha256", "spki_sha256", "issued_at",
					    "expires_at", "provisioning", "created_at",
					    "updated_at", NULL};
	struct fsec_device_rec d;
	char status[16] = "";
	enum fsec_err rc;

	memset(&d, 0, sizeof(d));
	snprintf(d.provisioning, sizeof(d.provisioning), "import");
	d.created_at = d.updated_at = now;
	if ((rc = fsec_json_only_keys(o, w->path, known)) != FSEC_OK ||
	    (rc = str(o, w, "id", true, d.id, sizeof(d.id))) != FSEC_OK ||
	    (rc = str(o, w, "model", false, d.model, sizeof(d.model))) != FSEC_OK ||
	    (rc = str(o, w, "status", true, status, sizeof(status))) != FSEC_OK ||
	    (rc = str(o, w, "serial", false, d.serial, sizeof(d.serial))) != FSEC_OK ||
	    (rc = str(o, w, "fingerprint_sha256", false, d.fingerprint, sizeof(d.fingerprint))) !=
		    FSEC_OK ||
	    (rc = str(o, w, "spki_sha256", false, d.spki_sha256, sizeof(d.spki_sha256))) != FSEC_OK ||
	    (rc = when(o, w, "issued_at", &d.issued_at)) != FSEC_OK ||
	    (rc = when(o, w, "expires_at", &d.expires_at)) != FSEC_OK ||
	    (rc = str(o, w, "provisioning", false, d.provisioning, sizeof(d.provisioning))) !=
		    FSEC_OK ||
	    (rc = when(o, w, "created_at", &d.created_at)) != FSEC_OK ||
	    (rc = when(o, w, "updated_at", &d.updated_at)) != FSEC_OK)
		return rc;
	if (!fsec_devid_valid(d.id))
		return bad(w, "id", "not a device ID");
	if (d.model[0] != '\0' && !fsec_model_valid(d.model))
		return bad(w, "model", "use 1-64 characters of A-Z a-z 0-9 . _ -");
	if (fsec_dev_status_parse(status, &d.status) != FSEC_OK)
		return bad(w, "status", "must be active or revoked");
	return fsec_registry_device_put(reg, &d);
}

static enum fsec_err import_cert(struct fsec_registry *reg, json_t *o, const struct where *w,
				 int64_t now)
{
	static const char *const known[] = {"serial", "device_id", "fingerprint_sha256",
					    "spki_sha256", "not_before", "not_after", "issued_at",
					    "status", "revoked_at", "reason", "certificate_pem", NULL};
	struct fsec_cert_rec c;
	const char *pem = NULL;
	char status[16] = "valid", reason[32] = "unspecified";
	enum fsec_err rc;

	memset(&c, 0, sizeof(c));
	c.issued_at = now;
	if ((rc = fsec_json_only_keys(o, w->path, known)) != FSEC_OK ||
	    (rc = str(o, w, "serial", true, c.serial, sizeof(c.serial))) != FSEC_OK ||
	    (rc = str(o, w, "device_id", true, c.device_id, sizeof(c.device_id))) != FSEC_OK ||
	    (rc = str(o, w, "fingerprint_sha256", true, c.fingerprint, sizeof(c.fingerprint))) !=
		    FSEC_OK ||
	    (rc = str(o, w, "spki_sha256", true, c.spki_sha256, sizeof(c.spki_sha256))) != FSEC_OK ||
	    (rc = when(o, w, "not_before", &c.not_before)) != FSEC_OK ||
	    (rc = when(o, w, "not_after", &c.not_after)) != FSEC_OK ||
	    (rc = when(o, w, "issued_at", &c.issued_at)) != FSEC_OK ||
	    (rc = str(o, w, "status", false, status, sizeof(status))) != FSEC_OK ||
	    (rc = when(o, w, "revoked_at", &c.revoked_at)) != FSEC_OK ||
	    (rc = str(o, w, "reason", false, reason, sizeof(reason))) != FSEC_OK)
		return rc;
	if ((rc = fsec_json_get_str(o, w->path, "certificate_pem", 0, 1, FSEC_IMPORT_MAX, &pem)) !=
		    FSEC_OK)
		return rc;
	if (strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL)
		return bad(w, "certificate_pem", "not a PEM certificate");
	if (strcmp(status, "valid") != 0 && strcmp(status, "revoked") != 0)
		return bad(w, "status", "must be valid or revoked");
	if (strcmp(status, "revoked") == 0 && fsec_crl_reason_parse(reason, &c.reason) != FSEC_OK)
		return bad(w, "reason", "not a revocation reason");
	if ((rc = known_device(reg, w, "device_id", c.device_id)) != FSEC_OK ||
	    (rc = fsec_registry_cert_add(reg, &c, pem)) != FSEC_OK)
		return rc;
	if (strcmp(status, "revoked") == 0)
		rc = fsec_registry_cert_revoke(reg, c.serial, c.revoked_at != 0 ? c.revoked_at : now,
					       c.reason);
	return rc;
}

static enum fsec_err import_state(struct fsec_registry *reg, json_t *o, const struct where *w)
{
	static const char *const known[] = {"id", "first_seen", "last_seen", "fw_version",
					    "security_counter", "update_outcome", "update_at",
					    "update_ok_at", "debug_jtag", "debug_uart", "debug_at", NULL};
	struct fsec_devstate_rec s;
	char outcome[16] = "", jtag[12] = "", uart[12] = "";
	uint64_t counter = 0;
	enum fsec_err rc;

	memset(&s, 0, sizeof(s));
	if ((rc = fsec_json_only_keys(o, w->path, known)) != FSEC_OK ||
	    (rc = str(o, w, "id", true, s.device_id, sizeof(s.device_id))) != FSEC_OK ||
	    (rc = when(o, w, "first_seen", &s.first_seen)) != FSEC_OK ||
	    (rc = when(o, w, "last_seen", &s.last_seen)) != FSEC_OK ||
	    (rc = str(o, w, "fw_version", false, s.fw_version, sizeof(s.fw_version))) != FSEC_OK ||
	    (rc = fsec_json_get_uint(o, w->path, "security_counter", FSEC_JSON_OPTIONAL, 0,
				     UINT32_MAX, &counter)) != FSEC_OK ||
	    (rc = str(o, w, "update_outcome", false, outcome, sizeof(outcome))) !=
		    FSEC_OK ||
	    (rc = when(o, w, "update_at", &s.update_at)) != FSEC_OK ||
	    (rc = when(o, w, "update_ok_at", &s.update_ok_at)) != FSEC_OK ||
	    (rc = str(o, w, "debug_jtag", false, jtag, sizeof(jtag))) != FSEC_OK ||
	    (rc = str(o, w, "debug_uart", false, uart, sizeof(uart))) != FSEC_OK ||
	    (rc = when(o, w, "debug_at", &s.debug_at)) != FSEC_OK)
		return rc;
	s.security_counter = (uint32_t)counter;
	if (fsec_update_outcome_parse(outcome, &s.update_outcome) != FSEC_OK)
		return bad(w, "update_outcome", "must be \"\", success or failure");
	if (fsec_debug_state_parse(jtag, &s.debug_jtag) != FSEC_OK)
		return bad(w, "debug_jtag", "must be \"\", locked or unlocked");
	if (fsec_debug_state_parse(uart, &s.debug_uart) != FSEC_OK)
		return bad(w, "debug_uart", "must be \"\", locked or unlocked");
	if ((rc = known_device(reg, w, "id", s.device_id)) != FSEC_OK)
		return rc;
	return fsec_registry_devstate_put(reg, &s);
}

FSEC_API enum fsec_err fsec_fleet_import(struct fsec_fleet *f, const unsigned char *buf,
					 size_t len, const char *actor,
					 struct fsec_import_counts *out)
{
	static const char *const lists[] = {"devices", "certificates", "states"};
	static const char *const lists_known[] = {"devices", "certificates", "states", NULL};
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct fsec_import_counts n = {0};
	int64_t now = (int64_t)time(NULL);
	json_t *doc = NULL;
	bool in_tx = false;
	enum fsec_err rc = FSEC_ERR_PARSE;

	fsec_clearerr();
	if (len > FSEC_IMPORT_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "import over %u bytes", FSEC_IMPORT_MAX);
	if ((rc = fsec_json_load(buf, len, "$", &doc)) != FSEC_OK ||
	    (rc = fsec_json_only_keys(doc, "$", lists_known)) != FSEC_OK)
		goto out;
	for (size_t l = 0; l < 3; l++) {
		json_t *arr = json_object_get(doc, lists[l]);

		if (arr != NULL && !json_is_array(arr)) {
			rc = fsec_seterr(FSEC_ERR_PARSE, "$.%s: not an array", lists[l]);
			goto out;
		}
	}
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		goto out;
	in_tx = true;
	/* Devices first: certificates and states name them. */
	for (size_t l = 0; l < 3; l++) {
		json_t *arr = json_object_get(doc, lists[l]), *o;
		size_t i;

		json_array_foreach(arr, i, o) {
			struct where w;
			char list_path[FSEC_JSON_PATH_MAX];

			fsec_json_path_index(w.path, fsec_json_path_key(list_path, "$", lists[l]), i);
			if (!json_is_object(o)) {
				rc = fsec_seterr(FSEC_ERR_PARSE, "%s: not an object", w.path);
				goto out;
			}
			rc = l == 0 ? import_device(reg, o, &w, now)
			     : l == 1 ? import_cert(reg, o, &w, now)
				      : import_state(reg, o, &w);
			if (rc != FSEC_OK) {
				if (fsec_err_detail()[0] != '$')
					rc = fsec_seterr(rc, "%s: %s", w.path, fsec_err_detail());
				goto out;
			}
		}
	}
	n.devices = json_array_size(json_object_get(doc, "devices"));
	n.certificates = json_array_size(json_object_get(doc, "certificates"));
	n.states = json_array_size(json_object_get(doc, "states"));
	if ((rc = fsec_registry_event_addf(reg, actor, "import", NULL,
					   "devices=%zu certificates=%zu states=%zu", n.devices,
					   n.certificates, n.states)) != FSEC_OK ||
	    (rc = fsec_registry_commit(reg)) != FSEC_OK)
		goto out;
	in_tx = false;
	if (out != NULL)
		*out = n;
	rc = FSEC_OK;
out:
	if (in_tx)
		fsec_registry_rollback(reg);
	json_decref(doc);
	return rc;
}
