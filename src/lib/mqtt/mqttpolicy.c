/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MQTT topic policy (mqtt.h): sections of publish and subscribe rules
 * whose templates name the device by placeholders. A template is kept as
 * its levels, and a topic is judged level by level against it with the
 * placeholders' values in hand, so no topic string is ever built: a device
 * ID that contained '/' or a wildcard could not widen a rule even if the
 * name rules that forbid it were ever relaxed.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "text_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/identity.h"
#include "fleetsec/mqtt.h"
#include "fleetsec/names.h"
#include "fleetsec/registry.h"
#include "mqtt_int.h"

/* What a device may do when the operator wrote no policy (issue 15). */
static const char default_policy[] = "[all]\n"
				     "publish devices/%d/telemetry/#\n"
				     "publish devices/%d/status\n"
				     "subscribe devices/%d/cmd/#\n"
				     "[role backend]\n"
				     "subscribe devices/+/telemetry/#\n"
				     "subscribe devices/+/status\n"
				     "publish devices/+/cmd/#\n";

enum section_kind { SEC_ALL, SEC_MODEL, SEC_GROUP, SEC_ROLE };

struct rule {
	enum section_kind section;
	char *name;   /* the model, group or role; NULL for [all] */
	bool publish; /* else subscribe */
	struct fsec_mqtt_tmpl t;
	unsigned line;
};

struct fsec_mqtt_policy {
	char *origin;
	struct rule *rules;
	size_t n, cap;
};

FSEC_API const char *fsec_mqtt_access_name(enum fsec_mqtt_access a)
{
	switch (a) {
	case FSEC_MQTT_PUBLISH:
		return "publish";
	case FSEC_MQTT_SUBSCRIBE:
		return "subscribe";
	case FSEC_MQTT_RECEIVE:
		return "receive";
	}
	return "?";
}

FSEC_API void fsec_mqtt_policy_free(struct fsec_mqtt_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->rules[i].name);
		fsec_mqtt_tmpl_cleanup(&p->rules[i].t);
	}
	free(p->rules);
	free(p->origin);
	free(p);
}

/* One level of s (up to '/' or the end); *s moves past it, to NULL after
 * the last. False when there is none left. */
static bool next_level(const char **s, const char **lvl, size_t *len)
{
	const char *slash;

	if (*s == NULL)
		return false;
	*lvl = *s;
	slash = strchr(*s, '/');
	if (slash != NULL) {
		*len = (size_t)(slash - *s);
		*s = slash + 1;
	} else {
		*len = strlen(*s);
		*s = NULL;
	}
	return true;
}

enum fsec_err fsec_mqtt_parse_error(const char *origin, unsigned line, const char *why,
				    const char *what)
{
	char clean[64];

	if (what == NULL)
		return fsec_seterr(FSEC_ERR_PARSE, "%s:%u: %s", origin, line, why);
	return fsec_seterr(FSEC_ERR_PARSE, "%s:%u: %s: '%s'", origin, line, why,
			   fsec_text_clean(what, clean, sizeof(clean)));
}

static enum fsec_err bad(const struct fsec_mqtt_policy *p, unsigned line, const char *why,
			 const char *what)
{
	return fsec_mqtt_parse_error(p->origin, line, why, what);
}

void fsec_mqtt_tmpl_cleanup(struct fsec_mqtt_tmpl *t)
{
	free(t->text);
	free(t->levels);
	t->text = NULL;
	t->levels = NULL;
	t->nlevels = 0;
}

enum fsec_err fsec_mqtt_tmpl_parse(struct fsec_mqtt_tmpl *t, const char *text, const char *origin,
				   unsigned line)
{
	return fsec_mqtt_tmpl_parse_role(t, text, origin, line, false);
}

enum fsec_err fsec_mqtt_tmpl_parse_role(struct fsec_mqtt_tmpl *t, const char *text,
					const char *origin, unsigned line, bool role)
{
	const char *s, *lvl;
	size_t len, n = 1;
	bool seen_device = false;

	memset(t, 0, sizeof(*t));
	if (text[0] == '\0')
		return fsec_mqtt_parse_error(origin, line, "empty topic template", NULL);
	if (text[0] == '$')
		return fsec_mqtt_parse_error(
			origin, line, "a rule may not name a '$' topic (the broker's own)", text);
	if (strlen(text) > FSEC_MQTT_TOPIC_MAX)
		return fsec_mqtt_parse_error(origin, line, "topic template too long", NULL);
	for (const char *c = text; *c != '\0'; c++)
		if (*c == '/')
			n++;
	t->text = strdup(text);
	t->levels = calloc(n, sizeof(*t->levels));
	if (t->text == NULL || t->levels == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	s = t->text;
	while (next_level(&s, &lvl, &len)) {
		struct fsec_mqtt_level *L = &t->levels[t->nlevels++];
		bool wildcard = memchr(lvl, '+', len) != NULL || memchr(lvl, '#', len) != NULL;

		if (len == 1 && lvl[0] == '+') {
			L->kind = FSEC_MQTT_LV_PLUS;
		} else if (len == 1 && lvl[0] == '#') {
			if (s != NULL)
				return fsec_mqtt_parse_error(origin, line,
							     "'#' must be the last level", text);
			L->kind = FSEC_MQTT_LV_HASH;
		} else if (wildcard) {
			return fsec_mqtt_parse_error(origin, line,
						     "a wildcard must be a whole level", text);
		} else if (role && memchr(lvl, '%', len) != NULL) {
			/* A role client is no device: a placeholder would name
			 * nobody, and the rule would silently allow nothing. */
			return fsec_mqtt_parse_error(origin, line,
						     "a [role] rule takes no placeholder (%d, %m, %g)",
						     text);
		} else if (len == 2 && memcmp(lvl, "%d", 2) == 0) {
			L->kind = FSEC_MQTT_LV_DEVICE;
			seen_device = true;
		} else if (len == 2 && memcmp(lvl, "%m", 2) == 0) {
			L->kind = FSEC_MQTT_LV_MODEL;
		} else if (len == 2 && memcmp(lvl, "%g", 2) == 0) {
			L->kind = FSEC_MQTT_LV_GROUP;
		} else if (memchr(lvl, '%', len) != NULL) {
			return fsec_mqtt_parse_error(
				origin, line,
				"a placeholder (%d, %m, %g) must be a whole level, and no other "
				"'%' is allowed",
				text);
		} else {
			L->kind = FSEC_MQTT_LV_LITERAL;
			L->text = lvl;
			L->len = len;
		}
		/* Reaching every device's topics is what a backend role is
		 * for; a device rule may not. */
		if ((L->kind == FSEC_MQTT_LV_PLUS || L->kind == FSEC_MQTT_LV_HASH) && !seen_device &&
		    !role)
			return fsec_mqtt_parse_error(
				origin, line,
				"a wildcard before a %d level would reach other devices' topics", text);
	}
	return FSEC_OK;
}

static enum fsec_err add_rule(struct fsec_mqtt_policy *p, enum section_kind sec,
			      const char *name, bool publish, const char *tmpl, unsigned line)
{
	struct rule *r;

	if (p->n == p->cap) {
		size_t cap = p->cap == 0 ? 8 : p->cap * 2;
		struct rule *nr = reallocarray(p->rules, cap, sizeof(*nr));

		if (nr == NULL)
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		p->rules = nr;
		p->cap = cap;
	}
	r = &p->rules[p->n];
	memset(r, 0, sizeof(*r));
	r->section = sec;
	r->publish = publish;
	r->line = line;
	r->name = name != NULL ? strdup(name) : NULL;
	/* Counted now, so that free() releases what was allocated. */
	p->n++;
	if (name != NULL && r->name == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	return fsec_mqtt_tmpl_parse_role(&r->t, tmpl, p->origin, line, sec == SEC_ROLE);
}

#define SECTION_FORMS "a section is [all], [model NAME], [group NAME] or [role ROLE]"

static enum fsec_err parse_section(struct fsec_mqtt_policy *p, char *s, unsigned line,
				   enum section_kind *sec, char *name, size_t name_cap)
{
	size_t len = strlen(s);
	char *body, *arg;

	if (len < 2 || s[len - 1] != ']')
		return bad(p, line, SECTION_FORMS, s);
	s[len - 1] = '\0';
	body = fsec_text_trim(s + 1);
	if (strcmp(body, "all") == 0) {
		*sec = SEC_ALL;
		name[0] = '\0';
		return FSEC_OK;
	}
	arg = strpbrk(body, " \t");
	if (arg == NULL)
		return bad(p, line, SECTION_FORMS, body);
	*arg++ = '\0';
	arg = fsec_text_trim(arg);
	if (strcmp(body, "model") == 0) {
		if (!fsec_model_valid(arg))
			return bad(p, line, "not a model name", arg);
		*sec = SEC_MODEL;
	} else if (strcmp(body, "group") == 0) {
		if (!fsec_name_valid(arg, FSEC_GROUP_MAX))
			return bad(p, line, "not a group name", arg);
		*sec = SEC_GROUP;
	} else if (strcmp(body, "role") == 0) {
		if (!fsec_role_mqtt_client(arg))
			return bad(p, line, "not an MQTT client's role (backend, operator)", arg);
		*sec = SEC_ROLE;
	} else {
		return bad(p, line, "unknown section (all, model, group, role)", body);
	}
	/* Checked above: a model or group name fits name_cap. */
	snprintf(name, name_cap, "%s", arg);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_mqtt_policy_parse(const char *text, size_t len, const char *origin,
					      struct fsec_mqtt_policy **out)
{
	struct fsec_mqtt_policy *p = NULL;
	char *copy = NULL, *cur, name[FSEC_MODEL_MAX + FSEC_GROUP_MAX + 2] = "";
	enum section_kind sec = SEC_ALL;
	bool in_section = false;
	unsigned line = 0;
	enum fsec_err rc;

	*out = NULL;
	if (len > FSEC_MQTT_POLICY_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: over %u bytes", origin,
				   FSEC_MQTT_POLICY_MAX);
	if (memchr(text, '\0', len) != NULL)
		return fsec_seterr(FSEC_ERR_PARSE, "%s: holds a NUL byte", origin);
	p = calloc(1, sizeof(*p));
	copy = malloc(len + 1);
	if (p == NULL || copy == NULL || (p->origin = strdup(origin)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (cur = copy; cur != NULL;) {
		char *nl = strchr(cur, '\n'), *s, *verb, *arg;

		if (nl != NULL)
			*nl = '\0';
		line++;
		s = fsec_text_trim(cur);
		cur = nl != NULL ? nl + 1 : NULL;
		if (*s == '\0' || *s == '#')
			continue;
		if (*s == '[') {
			if ((rc = parse_section(p, s, line, &sec, name, sizeof(name))) != FSEC_OK)
				goto out;
			in_section = true;
			continue;
		}
		verb = s;
		arg = strpbrk(s, " \t");
		if (arg == NULL) {
			rc = bad(p, line, "a rule is 'publish TEMPLATE' or 'subscribe TEMPLATE'", s);
			goto out;
		}
		*arg++ = '\0';
		arg = fsec_text_trim(arg);
		if (strpbrk(arg, " \t") != NULL) {
			rc = bad(p, line, "a topic template holds no blanks", arg);
			goto out;
		}
		if (strcmp(verb, "publish") != 0 && strcmp(verb, "subscribe") != 0) {
			rc = bad(p, line, "unknown rule (publish, subscribe)", verb);
			goto out;
		}
		if (!in_section) {
			rc = bad(p, line,
				 "a rule before any section ([all], [model M], [group G], [role R])",
				 NULL);
			goto out;
		}
		if ((rc = add_rule(p, sec, sec == SEC_ALL ? NULL : name,
				   strcmp(verb, "publish") == 0, arg, line)) != FSEC_OK)
			goto out;
	}
	*out = p;
	p = NULL;
	rc = FSEC_OK;
out:
	free(copy);
	fsec_mqtt_policy_free(p);
	return rc;
}

FSEC_API enum fsec_err fsec_mqtt_policy_load(const char *path, struct fsec_mqtt_policy **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;

	if (path == NULL)
		return fsec_mqtt_policy_parse(default_policy, sizeof(default_policy) - 1,
					      "(default policy)", out);
	*out = NULL;
	if ((rc = fsec_file_read(path, FSEC_MQTT_POLICY_MAX, &buf, &len)) != FSEC_OK)
		return rc;
	rc = fsec_mqtt_policy_parse((const char *)buf, len, path, out);
	free(buf);
	return rc;
}

/* The value a placeholder level stands for; NULL if the subject has none,
 * or one that is not a single plain level (so the rule cannot apply). */
static const char *level_value(const struct fsec_mqtt_level *L,
			       const struct fsec_mqtt_subject *who, bool *any)
{
	const char *v = NULL;

	*any = false;
	switch (L->kind) {
	case FSEC_MQTT_LV_DEVICE:
		v = who->id;
		break;
	case FSEC_MQTT_LV_MODEL:
		v = who->model;
		break;
	case FSEC_MQTT_LV_GROUP:
		v = who->group;
		break;
	default:
		return NULL;
	}
	*any = v == NULL && who->any;
	if (v == NULL || v[0] == '\0' || strpbrk(v, "/+#") != NULL)
		return NULL;
	return v;
}

/*
 * Does rule r, for who, match topic (filter false), or hold every topic the
 * filter topic can match (filter true)? MQTT's rules: '+' is one level, '#'
 * the rest including none ("a/#" matches "a").
 */
bool fsec_mqtt_tmpl_match(const struct fsec_mqtt_tmpl *tm, const struct fsec_mqtt_subject *who,
			  const char *topic, bool filter)
{
	const char *s = topic, *t;
	size_t tn;

	for (size_t i = 0; i < tm->nlevels; i++) {
		const struct fsec_mqtt_level *L = &tm->levels[i];
		const char *v;
		bool any;

		if (L->kind == FSEC_MQTT_LV_HASH)
			return true;
		if (!next_level(&s, &t, &tn))
			return false;
		if (filter && tn == 1 && (t[0] == '#' || t[0] == '+')) {
			/* A filter's wildcard is within the rule only where
			 * the rule has one at least as wide ('#' returned). */
			if (t[0] == '#' || L->kind != FSEC_MQTT_LV_PLUS)
				return false;
			continue;
		}
		if (L->kind == FSEC_MQTT_LV_PLUS)
			continue;
		if (L->kind == FSEC_MQTT_LV_LITERAL) {
			v = L->text;
			if (tn != L->len || memcmp(t, v, tn) != 0)
				return false;
			continue;
		}
		v = level_value(L, who, &any);
		/* "Any device" (who->any) stands for one whole plain level. */
		if (any && tn > 0 && memchr(t, '+', tn) == NULL && memchr(t, '#', tn) == NULL)
			continue;
		if (v == NULL || strlen(v) != tn || memcmp(t, v, tn) != 0)
			return false;
	}
	return s == NULL;
}

static bool section_applies(const struct rule *r, const struct fsec_mqtt_subject *who)
{
	/* A role client gets its role's rules only, a device never any. */
	if ((r->section == SEC_ROLE) != (who->role != NULL))
		return false;
	switch (r->section) {
	case SEC_ROLE:
		return strcmp(who->role, r->name) == 0;
	case SEC_ALL:
		return true;
	case SEC_MODEL:
		return who->model != NULL && strcmp(who->model, r->name) == 0;
	case SEC_GROUP:
		return who->group != NULL && strcmp(who->group, r->name) == 0;
	}
	return false;
}

static void explain(struct fsec_mqtt_why *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void explain(struct fsec_mqtt_why *why, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(why->rule, sizeof(why->rule), fmt, ap);
	va_end(ap);
}

FSEC_API bool fsec_mqtt_decide(const struct fsec_mqtt_policy *p,
			       const struct fsec_mqtt_subject *who, enum fsec_mqtt_access access,
			       const char *topic, struct fsec_mqtt_why *why)
{
	bool filter = access == FSEC_MQTT_SUBSCRIBE;

	if (topic[0] == '$') {
		explain(why, "'$' topics are the broker's own: denied by the policy");
		return false;
	}
	if (strlen(topic) > FSEC_MQTT_TOPIC_MAX) {
		explain(why, "topic longer than %u bytes: denied", FSEC_MQTT_TOPIC_MAX);
		return false;
	}
	if (!filter && strpbrk(topic, "+#") != NULL) {
		explain(why, "a wildcard in a topic name: denied");
		return false;
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct rule *r = &p->rules[i];

		if (r->publish != (access == FSEC_MQTT_PUBLISH) || !section_applies(r, who) ||
		    !fsec_mqtt_tmpl_match(&r->t, who, topic, filter))
			continue;
		explain(why, "%s:%u [%s%s%s] %s %s", p->origin, r->line,
			r->section == SEC_ALL     ? "all"
			: r->section == SEC_MODEL ? "model"
			: r->section == SEC_GROUP ? "group"
						  : "role",
			r->name != NULL ? " " : "", r->name != NULL ? r->name : "",
			r->publish ? "publish" : "subscribe", r->t.text);
		return true;
	}
	explain(why, "no rule of %s allows it: denied", p->origin);
	return false;
}
