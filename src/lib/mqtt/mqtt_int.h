/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to mqtt/: a topic template (the topic policy's and the privacy
 * policy's), kept as its levels so that a topic is judged level by level with
 * the placeholders' values in hand, never by building a topic string.
 */
#ifndef FLEETSEC_MQTT_INT_H
#define FLEETSEC_MQTT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "fleetsec/mqtt.h"

enum fsec_mqtt_level_kind {
	FSEC_MQTT_LV_LITERAL,
	FSEC_MQTT_LV_PLUS,
	FSEC_MQTT_LV_HASH,
	FSEC_MQTT_LV_DEVICE,
	FSEC_MQTT_LV_MODEL,
	FSEC_MQTT_LV_GROUP,
};

struct fsec_mqtt_level {
	enum fsec_mqtt_level_kind kind;
	const char *text; /* FSEC_MQTT_LV_LITERAL: into the template's text */
	size_t len;
};

struct fsec_mqtt_tmpl {
	char *text;
	struct fsec_mqtt_level *levels;
	size_t nlevels;
};

/* "ORIGIN:LINE: why[: 'what']" as a PARSE error (what cleaned, may be NULL). */
enum fsec_err fsec_mqtt_parse_error(const char *origin, unsigned line, const char *why,
				    const char *what);

/* Parse text into t (cleaned up by the caller, also on failure). Refused:
 * an empty template, a '$' topic, a wildcard or placeholder that is not a
 * whole level, '#' not last, a wildcard before a %d level. Errors: PARSE
 * ("ORIGIN:LINE: ..."), NOMEM. */
enum fsec_err fsec_mqtt_tmpl_parse(struct fsec_mqtt_tmpl *t, const char *text, const char *origin,
				   unsigned line);

/* As fsec_mqtt_tmpl_parse; with role (a [role] section's rule), wildcards
 * may stand anywhere and placeholders nowhere. */
enum fsec_err fsec_mqtt_tmpl_parse_role(struct fsec_mqtt_tmpl *t, const char *text,
					const char *origin, unsigned line, bool role);

/* Does t, for who, match topic (filter false), or hold every topic the
 * filter topic can match (filter true)? */
bool fsec_mqtt_tmpl_match(const struct fsec_mqtt_tmpl *t, const struct fsec_mqtt_subject *who,
			  const char *topic, bool filter);

void fsec_mqtt_tmpl_cleanup(struct fsec_mqtt_tmpl *t);

#endif
