/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Privacy at the broker (issue 15): a per-model policy that says, for each
 * topic a device publishes JSON telemetry on, which fields may leave the
 * broker, how coarse a location and how precise a number may be, and how
 * long a retained copy may stay. The broker plugin applies it to every
 * message before any subscriber or the retained store sees it; `fleetsec
 * privacy check|report` read the same file. docs/PRIVACY.md is the guide.
 *
 * A policy file is lines of text:
 *
 *   # comment
 *   [model thermo]                 blocks for devices of model thermo
 *   topic devices/%d/telemetry/#   a block: the topics it polices
 *   allow temp humidity fw         fields kept as sent (top-level members)
 *   location lat lon 1200          a location: cells of 1200 m, centre out
 *   precision temp 0.5             a number rounded to a multiple of 0.5
 *   retain expire 3600             a retained copy goes after an hour
 *   [all]                          blocks for every model
 *   topic devices/%d/status
 *   allow state
 *   retain refuse                  retained messages are dropped
 *
 * A block starts at `topic TEMPLATE` (the topic policy's templates: %d, %m,
 * %g whole levels, wildcards only after %d) and runs to the next `topic` or
 * section. `location` and `precision` fields are collected too (do not
 * list them in `allow`); a field is named once per block. A location cell
 * under 1200 m must say `precise` (`location lat lon 100 precise`): the
 * CPRA calls a 564 m radius "precise geolocation". `retain` is keep (the
 * default), refuse, or expire SECONDS.
 *
 * A message from a device of model M on topic T is judged by the first
 * [model M] block whose template matches T, else the first [all] block;
 * with no block it passes as it is. A role client's message (backend,
 * operator: no device, no model) passes as it is too. On a policed topic the payload must be
 * one JSON object (duplicate keys refused), at most FSEC_PRIVACY_PAYLOAD_MAX
 * bytes: anything else is dropped (fail closed). An empty payload (how a
 * client clears a retained message) carries nothing and passes.
 */
#ifndef FLEETSEC_PRIVACY_H
#define FLEETSEC_PRIVACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetsec/common.h"
#include "fleetsec/mqtt.h"

/* The largest policy file read. */
#define FSEC_PRIVACY_POLICY_MAX (1024u * 1024u)
/* The largest payload filtered on a policed topic; larger ones are dropped. */
#define FSEC_PRIVACY_PAYLOAD_MAX (64u * 1024u)
/* Location cells, in metres: the least for a location that is not marked
 * precise, the least at all, and the most. */
#define FSEC_PRIVACY_CELL_COARSE_MIN 1200u
#define FSEC_PRIVACY_CELL_MIN 10u
#define FSEC_PRIVACY_CELL_MAX 1000000u
/* The longest retained-message expiry (a year). */
#define FSEC_PRIVACY_EXPIRY_MAX 31536000u
/* The longest field name, and the most fields a block names. */
#define FSEC_PRIVACY_FIELD_MAX 64u
#define FSEC_PRIVACY_FIELDS_MAX 64u

struct fsec_privacy_policy;

/* What a block does with a field. */
enum fsec_privacy_field_kind {
	FSEC_PRIVACY_KEEP,    /* allowed, as sent */
	FSEC_PRIVACY_ROUND,   /* a number rounded to a multiple of step */
	FSEC_PRIVACY_LAT,     /* the latitude of the block's location */
	FSEC_PRIVACY_LON,     /* its longitude */
};

struct fsec_privacy_field {
	const char *name;
	size_t name_len;      /* strlen(name), for the filter's per-member match */
	enum fsec_privacy_field_kind kind;
	double step;          /* ROUND */
	const char *step_text; /* ROUND: as the policy wrote it */
};

enum fsec_privacy_retain {
	FSEC_PRIVACY_RETAIN_KEEP,
	FSEC_PRIVACY_RETAIN_REFUSE,
	FSEC_PRIVACY_RETAIN_EXPIRE,
};

/* One block, as parsed (borrowed from the policy). */
struct fsec_privacy_block {
	const char *origin;
	unsigned line;
	const char *model; /* NULL: [all] */
	const char *topic; /* the template */
	const struct fsec_privacy_field *fields;
	size_t nfields;
	uint32_t cell_m;   /* the location's cell; 0: no location */
	bool precise;      /* cell_m under FSEC_PRIVACY_CELL_COARSE_MIN, said so */
	enum fsec_privacy_retain retain;
	uint32_t expiry_s; /* RETAIN_EXPIRE */
};

/*
 * Parse a policy from text (len bytes; origin names it in errors). Errors:
 * PARSE ("ORIGIN:LINE: reason"), TOO_LARGE, NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_privacy_parse(const char *text, size_t len,
						   const char *origin,
						   struct fsec_privacy_policy **out);

/* Read and parse the file at path. Errors: IO, and fsec_privacy_parse's. */
FSEC_API FSEC_WUR enum fsec_err fsec_privacy_load(const char *path,
						  struct fsec_privacy_policy **out);

/* NULL is a no-op. */
FSEC_API void fsec_privacy_free(struct fsec_privacy_policy *p);

/* The blocks, in file order: i < fsec_privacy_count(p). */
FSEC_API size_t fsec_privacy_count(const struct fsec_privacy_policy *p);
FSEC_API const struct fsec_privacy_block *fsec_privacy_get(const struct fsec_privacy_policy *p,
							   size_t i);

/* The block that polices who's messages on topic (see above), or NULL. */
FSEC_API const struct fsec_privacy_block *
fsec_privacy_match(const struct fsec_privacy_policy *p, const struct fsec_mqtt_subject *who,
		   const char *topic);

enum fsec_privacy_verdict {
	FSEC_PRIVACY_PASS,     /* no block polices the topic (or an empty payload) */
	FSEC_PRIVACY_FILTERED, /* the payload out is what may be delivered */
	FSEC_PRIVACY_DROP,     /* nothing may be delivered: reason says why */
};

struct fsec_privacy_result {
	enum fsec_privacy_verdict verdict;
	const struct fsec_privacy_block *block; /* the block applied; NULL for PASS */
	size_t removed;   /* fields removed (not allowed, or not a valid value) */
	size_t rounded;   /* numbers rounded */
	size_t coarsened; /* locations moved to a cell's centre */
	uint32_t expiry_s; /* a retained message's copy must go after this; 0: never */
	char reason[160];
};

/*
 * Apply block b to a message's payload (len bytes; retain: it asks to be
 * retained). On FILTERED, *out (malloc'd, freed by the caller) holds the
 * compact JSON to deliver instead and *out_len its length; otherwise *out is
 * NULL. res says what was done. Numbers are written with 15 significant
 * digits. A location (both fields present, numbers, latitude in [-90, 90],
 * longitude in [-180, 180]) becomes its cell's centre, at 1e-6 degree;
 * otherwise both its fields are removed. A rounded field that is not a
 * number is removed. Thread-safe. Errors: NOMEM (then deliver nothing).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_privacy_apply(const struct fsec_privacy_block *b,
						   const void *payload, size_t len, bool retain,
						   char **out, size_t *out_len,
						   struct fsec_privacy_result *res);

/* fsec_privacy_match, then fsec_privacy_apply (PASS when nothing matches). */
FSEC_API FSEC_WUR enum fsec_err fsec_privacy_filter(const struct fsec_privacy_policy *p,
						    const struct fsec_mqtt_subject *who,
						    const char *topic, const void *payload,
						    size_t len, bool retain, char **out,
						    size_t *out_len, struct fsec_privacy_result *res);

/*
 * The centre of the cell of (lat, lon) in a grid of cell_m metres, on a
 * sphere of the mean Earth radius: latitude bands of 180/n degrees, n the
 * most bands that are each at least cell_m tall; in a band, 360/k degrees
 * of longitude, k the most cells that are each at least cell_m wide at the
 * band's edge nearer the pole (so a cell is never narrower than cell_m;
 * a band that touches a pole is one cell). Every point of a cell gives the
 * same centre. lat in [-90, 90], lon in [-180, 180]; the centre is rounded
 * to 1e-6 degree.
 */
FSEC_API void fsec_privacy_cell(double lat, double lon, uint32_t cell_m, double *clat,
				double *clon);

/* ---- counters, per model, for the broker ---- */

struct fsec_privacy_stats;

/* Errors: NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_privacy_stats_new(struct fsec_privacy_stats **out);
FSEC_API void fsec_privacy_stats_free(struct fsec_privacy_stats *s);

/* Count res for model ("" unknown). A model beyond the 256th is counted
 * under "(other)". Errors: NOMEM (the count is lost). */
FSEC_API FSEC_WUR enum fsec_err fsec_privacy_stats_add(struct fsec_privacy_stats *s,
						       const char *model,
						       const struct fsec_privacy_result *res);

/* True if anything was counted since the last fsec_privacy_stats_text. */
FSEC_API bool fsec_privacy_stats_changed(const struct fsec_privacy_stats *s);

/* The counters in Prometheus' text format (0.0.4), NUL-terminated, freed
 * with free(): fleetsec_mqtt_privacy_messages_total{model,outcome} (outcome
 * filtered or dropped) and fleetsec_mqtt_privacy_fields_removed_total
 * {model}. Errors: NOMEM. */
FSEC_API FSEC_WUR enum fsec_err fsec_privacy_stats_text(struct fsec_privacy_stats *s, char **out,
							size_t *len);

#endif
