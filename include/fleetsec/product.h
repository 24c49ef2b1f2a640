/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Products and what devices report about themselves: the facts the fleet
 * audit (audit.h) judges a fleet by.
 *
 * A product is a device model with its vendor's promises: until when it gets
 * security updates, where to report vulnerabilities (the contact published
 * in security.txt, RFC 9116), and its current release (version and MCUboot
 * security counter). A device report is what a device says at check-in: its
 * firmware version and security counter, and the outcome of its last update.
 * All functions here are one registry transaction each; none is thread-safe
 * on a shared registry handle (see registry.h).
 */
#ifndef FLEETSEC_PRODUCT_H
#define FLEETSEC_PRODUCT_H

#include <stdbool.h>
#include <stdint.h>

#include "fleetsec/common.h"
#include "fleetsec/registry.h"

/* The most contacts a security.txt lists (one per product at most). */
#define FSEC_SECTXT_MAX_CONTACTS 64

/* Changes to a product; NULL / negative fields are left as they are. */
struct fsec_product_update {
	const char *model;            /* required: 1-64 of A-Z a-z 0-9 . _ - */
	const char *manufacturer;     /* same alphabet, or "" */
	int64_t support_until;        /* UNIX time; -1 = unchanged */
	const char *security_contact; /* "mailto:", "https:" or "tel:" URI */
	const char *release_version;  /* "MAJOR.MINOR.REVISION[+BUILD]" */
	int64_t release_counter;      /* 0..UINT32_MAX; -1 = unchanged */
	int64_t now;                  /* 0 = time(NULL) */
	const char *actor;            /* for the event log */
};

/*
 * Create or change a product record and log it. A release version and
 * counter go together (both or neither). Errors: INVAL (a field out of its
 * alphabet or range, naming it), BUSY, DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_product_set(struct fsec_registry *reg,
						 const struct fsec_product_update *u);

/* What a device reports at check-in. */
/* Whether a device says it still hears signed statements (release.h,
 * timestamp): FROZEN when it has seen none fresh for longer than its limit. */
enum fsec_report_freshness {
	FSEC_REPORT_FRESHNESS_NONE = 0, /* not said (an older agent) */
	FSEC_REPORT_FRESH,
	FSEC_REPORT_FROZEN,
};

struct fsec_device_report {
	const char *id;
	const char *version;        /* firmware version, as product release_version */
	int64_t security_counter;   /* 0..UINT32_MAX */
	enum fsec_update_outcome update_outcome; /* NONE: not said */
	enum fsec_debug_state jtag, uart;        /* debug ports; UNKNOWN: not said */
	int64_t at;                 /* when; 0 = time(NULL) */
	enum fsec_report_freshness freshness;
	int64_t fresh_at;           /* when it last saw a fresh signed statement; 0: never */
	const char *update_state;   /* as fsec_devstate_rec's; NULL or "": none */
	const char *pending;        /* the version waiting for its trial boot; NULL or "" */
	const char *image;          /* SHA-256 hex the update state is about; NULL or "" */
	const char *reason;         /* why a failure failed (printable, at most
				     * FSEC_REASON_MAX); NULL or "" */
};

/*
 * Record a report of a registered device: last seen becomes the later of the
 * stored value and r->at (a late, replayed report never moves it back), the
 * first report sets first seen, and an update outcome records the attempt
 * (and, on success, the last successful update) with the image it is
 * about, and a freshness, when said, replaces the stored one (frozen and
 * fresh_at). The newest report's update state and pending version replace
 * the stored ones. Errors: NOTFOUND (unknown
 * device), INVAL, BUSY, DB.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_device_report(struct fsec_registry *reg,
						   const struct fsec_device_report *r);

struct fsec_sectxt_opts {
	int64_t expires;          /* UNIX time; required, in the future */
	const char *canonical;    /* https URI where the file is served, or NULL */
	const char *policy;       /* https URI of the disclosure policy, or NULL */
	const char *languages;    /* e.g. "en, de", or NULL */
	int64_t now;              /* 0 = time(NULL) */
};

/*
 * An RFC 9116 security.txt listing every distinct product security contact
 * (in model order), with Expires and the optional fields given. *out is a
 * NUL-terminated string the caller frees. Errors: NOTFOUND (no product has a
 * contact: the file would be invalid), INVAL, DB, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_product_security_txt(struct fsec_registry *reg,
							  const struct fsec_sectxt_opts *o,
							  char **out);

/* fsec_date_parse() (a support date or time) now lives in fleetsec/text.h
 * (included by common.h). */

#endif
