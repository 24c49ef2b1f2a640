/* SPDX-License-Identifier: Apache-2.0 */
/* Products and device reports (product.h): support dates, security
 * contacts, current releases, and what devices say at check-in. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err_int.h"
#include "fleetsec/fwimage.h"
#include "fleetsec/identity.h"
#include "fleetsec/product.h"

/* Model and manufacturer names share the device ID alphabet: they end up in
 * file names, SARIF rule properties and the event log's detail. */
static bool name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	return n >= 1 && n <= max &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* A contact is written verbatim into security.txt, one field per line, so
 * it must be a single line of printable ASCII with a scheme RFC 9116 names. */
static bool contact_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FSEC_CONTACT_MAX)
		return false;
	if (strncmp(s, "mailto:", 7) != 0 && strncmp(s, "https://", 8) != 0 &&
	    strncmp(s, "tel:", 4) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

static bool https_ok(const char *s)
{
	return s == NULL || (strncmp(s, "https://", 8) == 0 && contact_ok(s));
}

static enum fsec_err log_event(struct fsec_registry *reg, const char *actor, const char *action,
			       const char *device, int64_t at, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static enum fsec_err log_event(struct fsec_registry *reg, const char *actor, const char *action,
			       const char *device, int64_t at, const char *fmt, ...)
{
	struct fsec_event_rec ev;
	va_list ap;

	memset(&ev, 0, sizeof(ev));
	ev.at = at;
	snprintf(ev.actor, sizeof(ev.actor), "%s", actor != NULL ? actor : "library");
	snprintf(ev.action, sizeof(ev.action), "%s", action);
	if (device != NULL)
		snprintf(ev.device_id, sizeof(ev.device_id), "%s", device);
	va_start(ap, fmt);
	vsnprintf(ev.detail, sizeof(ev.detail), fmt, ap);
	va_end(ap);
	return fsec_registry_event_add(reg, &ev);
}

static enum fsec_err check_update(const struct fsec_product_update *u)
{
	struct fsec_fw_version v;

	if (u->model == NULL || !name_ok(u->model, FSEC_MODEL_MAX))
		return fsec_seterr(FSEC_ERR_INVAL,
				   "invalid model '%.80s': use 1-%d characters of A-Z a-z 0-9 . _ -",
				   u->model != NULL ? u->model : "", FSEC_MODEL_MAX);
	if (u->manufacturer != NULL && u->manufacturer[0] != '\0' &&
	    !name_ok(u->manufacturer, FSEC_MODEL_MAX))
		return fsec_seterr(FSEC_ERR_INVAL, "invalid manufacturer '%.80s'", u->manufacturer);
	if (u->security_contact != NULL && !contact_ok(u->security_contact))
		return fsec_seterr(FSEC_ERR_INVAL,
				   "security contact '%.80s' must be one mailto:, https:// or tel: URI",
				   u->security_contact);
	if (u->support_until < -1)
		return fsec_seterr(FSEC_ERR_INVAL, "support end date out of range");
	if ((u->release_version == NULL) != (u->release_counter < 0))
		return fsec_seterr(FSEC_ERR_INVAL,
				   "a release needs both its version and its security counter");
	if (u->release_counter > (int64_t)UINT32_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "security counter above %u", UINT32_MAX);
	if (u->release_version != NULL &&
	    (strlen(u->release_version) > FSEC_VERSION_MAX ||
	     fsec_fw_version_parse(u->release_version, &v) != FSEC_OK))
		return fsec_seterr(FSEC_ERR_INVAL, "release version '%.40s' is not MAJOR.MINOR.REV",
				   u->release_version);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_product_set(struct fsec_registry *reg,
					const struct fsec_product_update *u)
{
	int64_t now = u->now != 0 ? u->now : (int64_t)time(NULL);
	struct fsec_product_rec p;
	enum fsec_err rc;
	char until[32] = "-";

	fsec_clearerr();
	if ((rc = check_update(u)) != FSEC_OK)
		return rc;
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		return rc;
	rc = fsec_registry_product_get(reg, u->model, &p);
	if (rc == FSEC_ERR_NOTFOUND) {
		memset(&p, 0, sizeof(p));
		snprintf(p.model, sizeof(p.model), "%s", u->model);
		p.release_counter = -1;
	} else if (rc != FSEC_OK) {
		goto out;
	}
	if (u->manufacturer != NULL)
		snprintf(p.manufacturer, sizeof(p.manufacturer), "%s", u->manufacturer);
	if (u->support_until >= 0)
		p.support_until = u->support_until;
	if (u->security_contact != NULL)
		snprintf(p.security_contact, sizeof(p.security_contact), "%s", u->security_contact);
	if (u->release_version != NULL) {
		snprintf(p.release_version, sizeof(p.release_version), "%s", u->release_version);
		p.release_counter = u->release_counter;
		p.release_at = now;
	}
	p.updated_at = now;
	if (p.support_until > 0)
		snprintf(until, sizeof(until), "%lld", (long long)p.support_until);
	if ((rc = fsec_registry_product_put(reg, &p)) != FSEC_OK ||
	    (rc = log_event(reg, u->actor, "product-set", NULL, now,
			    "model=%s support_until=%s release=%s counter=%lld", p.model, until,
			    p.release_version[0] != '\0' ? p.release_version : "-",
			    (long long)p.release_counter)) != FSEC_OK)
		goto out;
	rc = fsec_registry_commit(reg);
out:
	if (rc != FSEC_OK)
		fsec_registry_rollback(reg);
	return rc;
}

static bool debug_ok(enum fsec_debug_state s)
{
	return s == FSEC_DEBUG_UNKNOWN || s == FSEC_DEBUG_LOCKED || s == FSEC_DEBUG_UNLOCKED;
}

static bool reason_ok(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++)
		if (*s < 0x20 || *s > 0x7e || n >= FSEC_REASON_MAX)
			return false;
	return true;
}

FSEC_API enum fsec_err fsec_device_report(struct fsec_registry *reg,
					  const struct fsec_device_report *r)
{
	int64_t at = r->at != 0 ? r->at : (int64_t)time(NULL);
	struct fsec_fw_version v;
	struct fsec_device_rec dev;
	struct fsec_devstate_rec st;
	enum fsec_err rc;

	fsec_clearerr();
	if ((rc = fsec_devid_check(r->id)) != FSEC_OK)
		return rc;
	if (r->version == NULL || strlen(r->version) > FSEC_VERSION_MAX ||
	    fsec_fw_version_parse(r->version, &v) != FSEC_OK)
		return fsec_seterr(FSEC_ERR_INVAL, "reported version '%.40s' is not MAJOR.MINOR.REV",
				   r->version != NULL ? r->version : "");
	if (r->security_counter < 0 || r->security_counter > (int64_t)UINT32_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "reported security counter out of range");
	if (r->update_outcome != FSEC_UPDATE_NONE && r->update_outcome != FSEC_UPDATE_SUCCESS &&
	    r->update_outcome != FSEC_UPDATE_FAILURE)
		return fsec_seterr(FSEC_ERR_INVAL, "update outcome %d is not success or failure",
				   (int)r->update_outcome);
	if (!debug_ok(r->jtag) || !debug_ok(r->uart) ||
	    (r->jtag == FSEC_DEBUG_UNKNOWN) != (r->uart == FSEC_DEBUG_UNKNOWN))
		return fsec_seterr(FSEC_ERR_INVAL,
				   "debug port state: jtag and uart both locked or unlocked, or neither");
	if (at < 0)
		return fsec_seterr(FSEC_ERR_INVAL, "report time before 1970");
	/* The library's own rule, not only devapi's: any caller's report
	 * lands in the same rows the rollout counts. */
	if (r->update_state != NULL && r->update_state[0] != '\0' &&
	    !fsec_update_state_valid(r->update_state))
		return fsec_seterr(FSEC_ERR_INVAL, "update state '%.20s' is not one fleetsec knows",
				   r->update_state);
	if ((r->pending != NULL && r->pending[0] != '\0' &&
	     (strlen(r->pending) >= sizeof(st.pending_version) ||
	      fsec_fw_version_parse(r->pending, &v) != FSEC_OK)) ||
	    (r->image != NULL && r->image[0] != '\0' &&
	     !fsec_hex_valid(r->image, 32, FSEC_HEX_LOWER)))
		return fsec_seterr(FSEC_ERR_INVAL, "pending version or image SHA-256 malformed");
	if (r->reason != NULL && !reason_ok(r->reason))
		return fsec_seterr(FSEC_ERR_INVAL, "reason: printable ASCII, at most %d characters",
				   FSEC_REASON_MAX);
	if ((unsigned)r->freshness > FSEC_REPORT_FROZEN || r->fresh_at < 0)
		return fsec_seterr(FSEC_ERR_INVAL, "freshness out of range");
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		return rc;
	if ((rc = fsec_registry_device_get(reg, r->id, &dev)) != FSEC_OK)
		goto out;
	rc = fsec_registry_devstate_get(reg, r->id, &st);
	if (rc == FSEC_ERR_NOTFOUND) {
		memset(&st, 0, sizeof(st));
		snprintf(st.device_id, sizeof(st.device_id), "%s", r->id);
		st.first_seen = at;
		st.frozen = -1;
	} else if (rc != FSEC_OK) {
		goto out;
	}
	/* A report older than what is stored (delayed or replayed) must not
	 * make a device look healthier or staler than the newest one did. */
	if (at >= st.last_seen) {
		st.last_seen = at;
		snprintf(st.fw_version, sizeof(st.fw_version), "%s", r->version);
		st.security_counter = (uint32_t)r->security_counter;
		snprintf(st.update_state, sizeof(st.update_state), "%s",
			 r->update_state != NULL ? r->update_state : "");
		snprintf(st.pending_version, sizeof(st.pending_version), "%s",
			 r->pending != NULL ? r->pending : "");
	}
	if (at < st.first_seen)
		st.first_seen = at;
	/* Both ports are reported together; an older report never replaces a
	 * newer one. */
	if (r->jtag != FSEC_DEBUG_UNKNOWN && at >= st.debug_at) {
		st.debug_jtag = r->jtag;
		st.debug_uart = r->uart;
		st.debug_at = at;
	}
	if (r->freshness != FSEC_REPORT_FRESHNESS_NONE && at >= st.last_seen) {
		st.frozen = r->freshness == FSEC_REPORT_FROZEN ? 1 : 0;
		st.fresh_at = r->fresh_at;
	}
	if (r->update_outcome != FSEC_UPDATE_NONE && at >= st.update_at) {
		st.update_outcome = r->update_outcome;
		st.update_at = at;
		snprintf(st.outcome_image, sizeof(st.outcome_image), "%s",
			 r->image != NULL ? r->image : "");
		snprintf(st.outcome_reason, sizeof(st.outcome_reason), "%s",
			 r->update_outcome == FSEC_UPDATE_FAILURE && r->reason != NULL ? r->reason
											  : "");
		if (r->update_outcome == FSEC_UPDATE_SUCCESS)
			st.update_ok_at = at;
	}
	if ((rc = fsec_registry_devstate_put(reg, &st)) != FSEC_OK)
		goto out;
	rc = fsec_registry_commit(reg);
out:
	if (rc != FSEC_OK)
		fsec_registry_rollback(reg);
	return rc;
}

struct sectxt_ctx {
	const char *contacts[FSEC_SECTXT_MAX_CONTACTS];
	char store[FSEC_SECTXT_MAX_CONTACTS][FSEC_CONTACT_MAX + 1];
	size_t n;
	bool overflow;
};

static int collect_contact(const struct fsec_product_rec *p, void *arg)
{
	struct sectxt_ctx *c = arg;

	if (p->security_contact[0] == '\0' || !contact_ok(p->security_contact))
		return 0;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->store[i], p->security_contact) == 0)
			return 0;
	if (c->n == FSEC_SECTXT_MAX_CONTACTS) {
		c->overflow = true;
		return 1;
	}
	snprintf(c->store[c->n], sizeof(c->store[c->n]), "%s", p->security_contact);
	c->contacts[c->n] = c->store[c->n];
	c->n++;
	return 0;
}

FSEC_API enum fsec_err fsec_product_security_txt(struct fsec_registry *reg,
						 const struct fsec_sectxt_opts *o, char **out)
{
	int64_t now = o->now != 0 ? o->now : (int64_t)time(NULL);
	struct sectxt_ctx *c = NULL;
	char *buf = NULL, expires[32];
	size_t size = 0;
	enum fsec_err rc = FSEC_ERR_NOMEM;
	FILE *fp = NULL;

	fsec_clearerr();
	/* "?" is a time past year 9999: no Expires line a reader could parse. */
	if (o->expires <= now || strcmp(fsec_time_format(o->expires, expires), "?") == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "security.txt must expire in the future");
	if (!https_ok(o->canonical) || !https_ok(o->policy))
		return fsec_seterr(FSEC_ERR_INVAL, "Canonical and Policy must be https:// URIs");
	if (o->languages != NULL &&
	    (strlen(o->languages) > 64 ||
	     strspn(o->languages, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-, ") !=
		     strlen(o->languages)))
		return fsec_seterr(FSEC_ERR_INVAL, "Preferred-Languages '%.40s' is not a tag list",
		                   o->languages);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return fsec_seterr(rc, "out of memory");
	if ((rc = fsec_registry_product_list(reg, collect_contact, c)) != FSEC_OK)
		goto out;
	if (c->overflow) {
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "more than %d distinct security contacts",
				 FSEC_SECTXT_MAX_CONTACTS);
		goto out;
	}
	if (c->n == 0) {
		rc = fsec_seterr(FSEC_ERR_NOTFOUND,
				 "no product has a security contact (fleetsec product set MODEL "
				 "--security-contact URI)");
		goto out;
	}
	if ((fp = open_memstream(&buf, &size)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* RFC 9116 section 2.5: Contact (one or more) and Expires are
	 * required; the order of fields does not matter, so list the contacts
	 * first since they are the point of the file. */
	for (size_t i = 0; i < c->n; i++)
		fprintf(fp, "Contact: %s\n", c->contacts[i]);
	fprintf(fp, "Expires: %s\n", expires);
	if (o->canonical != NULL)
		fprintf(fp, "Canonical: %s\n", o->canonical);
	if (o->policy != NULL)
		fprintf(fp, "Policy: %s\n", o->policy);
	if (o->languages != NULL)
		fprintf(fp, "Preferred-Languages: %s\n", o->languages);
	if (fclose(fp) != 0) {
		fp = NULL;
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	fp = NULL;
	*out = buf;
	buf = NULL;
	rc = FSEC_OK;
out:
	if (fp != NULL)
		fclose(fp);
	free(buf);
	free(c);
	return rc;
}
