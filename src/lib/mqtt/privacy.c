/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The privacy policy and filter (privacy.h). The filter keeps what a block
 * names and nothing else: an unknown field is removed, never passed, and a
 * payload the filter cannot read is dropped, so that a device (or a bug in
 * one) cannot get data past the broker by sending it in a shape the policy
 * did not foresee.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dynbuf_int.h"
#include "err_int.h"
#include "text_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/names.h"
#include "fleetsec/privacy.h"
#include "fleetsec/text.h"
#include "fleetsec/registry.h"
#include "mqtt_int.h"

/* The most blocks a policy holds: far more than a fleet's models and topics. */
#define BLOCKS_MAX 4096u
/* The mean Earth radius (IUGG), in metres: a grid's cells are sized on it. */
#define EARTH_R 6371008.8
#define PI 3.14159265358979323846

struct block {
	struct fsec_privacy_block pub;
	struct fsec_mqtt_tmpl t;
	char *model;
	struct fsec_privacy_field fields[FSEC_PRIVACY_FIELDS_MAX];
	char *names[FSEC_PRIVACY_FIELDS_MAX]; /* owned: the fields' names and steps */
	char *steps[FSEC_PRIVACY_FIELDS_MAX];
	bool has_location, has_retain;
};

struct fsec_privacy_policy {
	char *origin;
	struct block **blocks;
	size_t n, cap;
};

static void block_free(struct block *b)
{
	if (b == NULL)
		return;
	fsec_mqtt_tmpl_cleanup(&b->t);
	free(b->model);
	for (size_t i = 0; i < FSEC_PRIVACY_FIELDS_MAX; i++) {
		free(b->names[i]);
		free(b->steps[i]);
	}
	free(b);
}

FSEC_API void fsec_privacy_free(struct fsec_privacy_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		block_free(p->blocks[i]);
	free(p->blocks);
	free(p->origin);
	free(p);
}

FSEC_API size_t fsec_privacy_count(const struct fsec_privacy_policy *p)
{
	return p->n;
}

FSEC_API const struct fsec_privacy_block *fsec_privacy_get(const struct fsec_privacy_policy *p,
							   size_t i)
{
	return i < p->n ? &p->blocks[i]->pub : NULL;
}

/* A field name: a top-level JSON member, letters, digits, '_' and '-'. */
static bool field_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FSEC_PRIVACY_FIELD_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

static enum fsec_err add_field(const struct fsec_privacy_policy *p, unsigned line,
			       struct block *b, const char *name,
			       enum fsec_privacy_field_kind kind, const char *step_text, double step)
{
	size_t i = b->pub.nfields;

	if (!field_name_ok(name))
		return fsec_mqtt_parse_error(p->origin, line,
					     "a field is 1-64 letters, digits, '_' or '-'", name);
	for (size_t j = 0; j < i; j++)
		if (strcmp(b->fields[j].name, name) == 0)
			return fsec_mqtt_parse_error(p->origin, line,
						     "a field is named once per topic block", name);
	if (i == FSEC_PRIVACY_FIELDS_MAX)
		return fsec_mqtt_parse_error(p->origin, line, "over 64 fields in one topic block",
					     NULL);
	if ((b->names[i] = strdup(name)) == NULL ||
	    (step_text != NULL && (b->steps[i] = strdup(step_text)) == NULL))
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	b->fields[i].name = b->names[i];
	b->fields[i].kind = kind;
	b->fields[i].step = step;
	b->fields[i].step_text = b->steps[i];
	b->pub.nfields++;
	return FSEC_OK;
}

/* A precision step: DIGITS[.DIGITS], over 0 and at most 1e9. The grammar is
 * strict so that what `privacy report` prints is what the filter does. */
static bool parse_step(const char *s, double *out)
{
	size_t n = strlen(s), dots = 0;
	char *end = NULL;
	double v;

	if (n == 0 || n > 20 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (const char *c = s; *c != '\0'; c++) {
		if (*c == '.')
			dots++;
		else if (*c < '0' || *c > '9')
			return false;
	}
	if (dots > 1)
		return false;
	v = strtod(s, &end);
	if (end == NULL || *end != '\0' || !isfinite(v) || v <= 0 || v > 1e9)
		return false;
	*out = v;
	return true;
}

/* Split s at blanks into at most max words; false if there are more. */
static bool words(char *s, char **w, size_t max, size_t *n)
{
	*n = 0;
	for (char *tok = s; *tok != '\0';) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		if (*tok == '\0')
			break;
		if (*n == max)
			return false;
		w[(*n)++] = tok;
		while (*tok != '\0' && *tok != ' ' && *tok != '\t')
			tok++;
		if (*tok != '\0')
			*tok++ = '\0';
	}
	return true;
}

static enum fsec_err directive(struct fsec_privacy_policy *p, unsigned line, struct block *b,
			       char **w, size_t n)
{
	const char *o = p->origin;
	unsigned long v;
	double step;
	enum fsec_err rc;

	if (strcmp(w[0], "allow") == 0) {
		if (n < 2)
			return fsec_mqtt_parse_error(o, line, "allow names at least one field",
						     NULL);
		for (size_t i = 1; i < n; i++)
			if ((rc = add_field(p, line, b, w[i], FSEC_PRIVACY_KEEP, NULL, 0)) !=
			    FSEC_OK)
				return rc;
		return FSEC_OK;
	}
	if (strcmp(w[0], "precision") == 0) {
		if (n != 3)
			return fsec_mqtt_parse_error(o, line, "precision is 'precision FIELD STEP'",
						     NULL);
		if (!parse_step(w[2], &step))
			return fsec_mqtt_parse_error(
				o, line, "a step is a decimal number over 0, at most 1e9", w[2]);
		return add_field(p, line, b, w[1], FSEC_PRIVACY_ROUND, w[2], step);
	}
	if (strcmp(w[0], "location") == 0) {
		bool precise = n == 5 && strcmp(w[4], "precise") == 0;

		if (b->has_location)
			return fsec_mqtt_parse_error(o, line, "one location per topic block", NULL);
		if (n != 4 && !precise)
			return fsec_mqtt_parse_error(
				o, line, "location is 'location LAT LON METRES [precise]'", NULL);
		if (!fsec_parse_ulong(w[3], FSEC_PRIVACY_CELL_MIN, FSEC_PRIVACY_CELL_MAX, &v))
			return fsec_mqtt_parse_error(o, line,
						     "a cell is 10 to 1000000 metres", w[3]);
		/* Under 1.2 km a cell is within the CPRA's 564 m radius of
		 * "precise geolocation": only when the policy says so. */
		if (v < FSEC_PRIVACY_CELL_COARSE_MIN && !precise)
			return fsec_mqtt_parse_error(
				o, line,
				"a cell under 1200 m is precise geolocation: add 'precise' if "
				"that is meant",
				w[3]);
		if ((rc = add_field(p, line, b, w[1], FSEC_PRIVACY_LAT, NULL, 0)) != FSEC_OK ||
		    (rc = add_field(p, line, b, w[2], FSEC_PRIVACY_LON, NULL, 0)) != FSEC_OK)
			return rc;
		b->has_location = true;
		b->pub.cell_m = (uint32_t)v;
		b->pub.precise = v < FSEC_PRIVACY_CELL_COARSE_MIN;
		return FSEC_OK;
	}
	if (strcmp(w[0], "retain") == 0) {
		if (b->has_retain)
			return fsec_mqtt_parse_error(o, line, "one retain per topic block", NULL);
		b->has_retain = true;
		if (n == 2 && strcmp(w[1], "keep") == 0) {
			b->pub.retain = FSEC_PRIVACY_RETAIN_KEEP;
		} else if (n == 2 && strcmp(w[1], "refuse") == 0) {
			b->pub.retain = FSEC_PRIVACY_RETAIN_REFUSE;
		} else if (n == 3 && strcmp(w[1], "expire") == 0) {
			if (!fsec_parse_ulong(w[2], 1, FSEC_PRIVACY_EXPIRY_MAX, &v))
				return fsec_mqtt_parse_error(
					o, line, "an expiry is 1 to 31536000 seconds", w[2]);
			b->pub.retain = FSEC_PRIVACY_RETAIN_EXPIRE;
			b->pub.expiry_s = (uint32_t)v;
		} else {
			return fsec_mqtt_parse_error(
				o, line, "retain is 'retain keep', 'retain refuse' or 'retain "
					 "expire SECONDS'",
				NULL);
		}
		return FSEC_OK;
	}
	return fsec_mqtt_parse_error(o, line,
				     "unknown directive (topic, allow, location, precision, retain)",
				     w[0]);
}

static enum fsec_err new_block(struct fsec_privacy_policy *p, unsigned line, const char *model,
			       const char *tmpl, struct block **out)
{
	struct block *b;
	enum fsec_err rc;

	if (p->n == BLOCKS_MAX)
		return fsec_mqtt_parse_error(p->origin, line, "over 4096 topic blocks", NULL);
	if (p->n == p->cap) {
		size_t cap = p->cap == 0 ? 8 : p->cap * 2;
		struct block **nb = reallocarray(p->blocks, cap, sizeof(*nb));

		if (nb == NULL)
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		p->blocks = nb;
		p->cap = cap;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	/* Counted now, so that free() releases what was allocated. */
	p->blocks[p->n++] = b;
	if (model != NULL && (b->model = strdup(model)) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	if ((rc = fsec_mqtt_tmpl_parse(&b->t, tmpl, p->origin, line)) != FSEC_OK)
		return rc;
	b->pub.origin = p->origin;
	b->pub.line = line;
	b->pub.model = b->model;
	b->pub.topic = b->t.text;
	b->pub.fields = b->fields;
	*out = b;
	return FSEC_OK;
}

/* "[all]" or "[model NAME]": *model NULL or NAME (into s). */
static enum fsec_err parse_section(const struct fsec_privacy_policy *p, char *s, unsigned line,
				   char **model)
{
	size_t len = strlen(s), n;
	char *w[3];

	if (len < 2 || s[len - 1] != ']')
		return fsec_mqtt_parse_error(p->origin, line,
					     "a section is [all] or [model NAME]", s);
	s[len - 1] = '\0';
	if (!words(s + 1, w, 3, &n) || n == 0 || n > 2 ||
	    (n == 1 && strcmp(w[0], "all") != 0) || (n == 2 && strcmp(w[0], "model") != 0))
		return fsec_mqtt_parse_error(p->origin, line,
					     "a section is [all] or [model NAME]", NULL);
	if (n == 1) {
		*model = NULL;
		return FSEC_OK;
	}
	if (!fsec_model_valid(w[1]))
		return fsec_mqtt_parse_error(p->origin, line, "not a model name", w[1]);
	*model = w[1];
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_privacy_parse(const char *text, size_t len, const char *origin,
					  struct fsec_privacy_policy **out)
{
	struct fsec_privacy_policy *p = NULL;
	struct block *cur_block = NULL;
	char *copy = NULL, *cur, model[FSEC_MODEL_MAX + 1] = "";
	bool in_section = false, is_model = false;
	unsigned line = 0;
	enum fsec_err rc;

	*out = NULL;
	if (len > FSEC_PRIVACY_POLICY_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "%s: over %u bytes", origin,
				   FSEC_PRIVACY_POLICY_MAX);
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
		char *nl = strchr(cur, '\n'), *s, *w[FSEC_PRIVACY_FIELDS_MAX + 2];
		size_t n;

		if (nl != NULL)
			*nl = '\0';
		line++;
		s = fsec_text_trim(cur);
		cur = nl != NULL ? nl + 1 : NULL;
		if (*s == '\0' || *s == '#')
			continue;
		if (*s == '[') {
			char *m = NULL;

			if ((rc = parse_section(p, s, line, &m)) != FSEC_OK)
				goto out;
			in_section = true;
			is_model = m != NULL;
			/* Checked by fsec_model_valid: it fits. */
			snprintf(model, sizeof(model), "%s", m != NULL ? m : "");
			cur_block = NULL;
			continue;
		}
		if (!words(s, w, sizeof(w) / sizeof(w[0]), &n)) {
			rc = fsec_mqtt_parse_error(p->origin, line, "too many words on one line",
						   NULL);
			goto out;
		}
		if (strcmp(w[0], "topic") == 0) {
			if (!in_section) {
				rc = fsec_mqtt_parse_error(
					p->origin, line,
					"a topic before any section ([all], [model M])", NULL);
				goto out;
			}
			if (n != 2) {
				rc = fsec_mqtt_parse_error(p->origin, line,
							   "topic is 'topic TEMPLATE'", NULL);
				goto out;
			}
			if ((rc = new_block(p, line, is_model ? model : NULL, w[1], &cur_block)) !=
			    FSEC_OK)
				goto out;
			continue;
		}
		if (cur_block == NULL) {
			rc = fsec_mqtt_parse_error(p->origin, line,
						   "a directive before any 'topic TEMPLATE'", w[0]);
			goto out;
		}
		if ((rc = directive(p, line, cur_block, w, n)) != FSEC_OK)
			goto out;
	}
	*out = p;
	p = NULL;
	rc = FSEC_OK;
out:
	free(copy);
	fsec_privacy_free(p);
	return rc;
}

FSEC_API enum fsec_err fsec_privacy_load(const char *path, struct fsec_privacy_policy **out)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;

	*out = NULL;
	if ((rc = fsec_file_read(path, FSEC_PRIVACY_POLICY_MAX, &buf, &len)) != FSEC_OK)
		return rc;
	rc = fsec_privacy_parse((const char *)buf, len, path, out);
	free(buf);
	return rc;
}

FSEC_API const struct fsec_privacy_block *
fsec_privacy_match(const struct fsec_privacy_policy *p, const struct fsec_mqtt_subject *who,
		   const char *topic)
{
	/* A model's own blocks first, then those for every model. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < p->n; i++) {
			const struct block *b = p->blocks[i];

			if (pass == 0 && (b->model == NULL || who->model == NULL ||
					  strcmp(b->model, who->model) != 0))
				continue;
			if (pass == 1 && b->model != NULL)
				continue;
			if (fsec_mqtt_tmpl_match(&b->t, who, topic, false))
				return &b->pub;
		}
	return NULL;
}

/* Round to 1e-6 degree (0.11 m): the centre prints the same everywhere. */
static double micro(double deg)
{
	return round(deg * 1e6) / 1e6;
}

FSEC_API void fsec_privacy_cell(double lat, double lon, uint32_t cell_m, double *clat,
				double *clon)
{
	const double m_per_deg = EARTH_R * PI / 180.0;
	double band_deg, lo, hi, edge, width_m_per_deg, cell_deg;
	double nb = floor(180.0 / ((double)cell_m / m_per_deg)), nk;
	double i, j;

	/* n bands of equal height, each at least cell_m tall. */
	if (nb < 1)
		nb = 1;
	band_deg = 180.0 / nb;
	i = floor((lat + 90.0) / band_deg);
	if (i > nb - 1) /* lat = 90 is in the last band */
		i = nb - 1;
	if (i < 0)
		i = 0;
	lo = -90.0 + i * band_deg;
	hi = lo + band_deg;
	*clat = micro(i == nb - 1 ? (lo + 90.0) / 2.0 : lo + band_deg / 2.0);
	/* In the band, cells at least cell_m wide where the band is narrowest:
	 * its edge nearer the pole. A band that reaches a pole is one cell. */
	edge = fmax(fabs(lo), fabs(hi));
	if (edge > 90.0)
		edge = 90.0;
	width_m_per_deg = m_per_deg * cos(edge * PI / 180.0);
	nk = 1;
	if (width_m_per_deg > 1e-9) {
		cell_deg = (double)cell_m / width_m_per_deg;
		nk = floor(360.0 / cell_deg);
		if (nk < 1)
			nk = 1;
	}
	cell_deg = 360.0 / nk;
	j = floor((lon + 180.0) / cell_deg);
	if (j > nk - 1) /* lon = 180 is the last cell (the antimeridian) */
		j = nk - 1;
	if (j < 0)
		j = 0;
	*clon = micro(nk == 1 ? 0.0 : -180.0 + (j + 0.5) * cell_deg);
}

static bool number_of(const json_t *v, double *out)
{
	if (json_is_integer(v))
		*out = (double)json_integer_value(v);
	else if (json_is_real(v))
		*out = json_real_value(v);
	else
		return false;
	return isfinite(*out);
}

/* The rounded value of v to a multiple of step, as JSON: an integer when
 * the step is whole (and the value fits), else a real. NULL: NOMEM, or a
 * value too large to round (it is removed). */
static json_t *rounded(double v, double step)
{
	double q = v / step, r;

	if (!isfinite(q) || fabs(q) > 9e15)
		return NULL;
	r = round(q) * step;
	if (floor(step) == step && fabs(r) < 9e15)
		return json_integer((json_int_t)r);
	return json_real(r);
}

/* Dropped: why, and what (outside text, cleaned; may be NULL). */
static void drop(struct fsec_privacy_result *res, const char *why, const char *what)
{
	char clean[96];

	res->verdict = FSEC_PRIVACY_DROP;
	snprintf(res->reason, sizeof(res->reason), "%s%s%s", why, what != NULL ? ": " : "",
		 what != NULL ? fsec_text_clean(what, clean, sizeof(clean)) : "");
}

FSEC_API enum fsec_err fsec_privacy_apply(const struct fsec_privacy_block *b, const void *payload,
					  size_t len, bool retain, char **out, size_t *out_len,
					  struct fsec_privacy_result *res)
{
	json_t *in = NULL, *o = NULL, *lat = NULL, *lon = NULL;
	json_error_t jerr;
	const char *key;
	json_t *v;
	char *text = NULL;
	enum fsec_err rc = FSEC_ERR_NOMEM;

	*out = NULL;
	*out_len = 0;
	memset(res, 0, sizeof(*res));
	res->block = b;
	res->verdict = FSEC_PRIVACY_DROP;
	if (len == 0) {
		/* Nothing to minimise; and a retained empty message is how the
		 * retained copy is removed. */
		res->verdict = FSEC_PRIVACY_PASS;
		return FSEC_OK;
	}
	if (retain && b->retain == FSEC_PRIVACY_RETAIN_REFUSE) {
		drop(res, "retained messages are refused on this topic", NULL);
		return FSEC_OK;
	}
	/* An attacker sets the length: the cap bounds the parse's memory. */
	if (len > FSEC_PRIVACY_PAYLOAD_MAX) {
		drop(res, "payload over 65536 bytes", NULL);
		return FSEC_OK;
	}
	/* Two members of one name would let a reader that keeps the other one
	 * see what the filter never judged. */
	in = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
	if (in == NULL) {
		drop(res, "not JSON", jerr.text);
		return FSEC_OK;
	}
	if (!json_is_object(in)) {
		drop(res, "not a JSON object", NULL);
		rc = FSEC_OK;
		goto out;
	}
	if ((o = json_object()) == NULL)
		goto out;
	json_object_foreach(in, key, v)
	{
		const struct fsec_privacy_field *f = NULL;
		double d;
		json_t *nv;

		for (size_t i = 0; i < b->nfields; i++)
			if (strcmp(b->fields[i].name, key) == 0)
				f = &b->fields[i];
		if (f == NULL) {
			res->removed++;
			continue;
		}
		switch (f->kind) {
		case FSEC_PRIVACY_KEEP:
			if (json_object_set(o, key, v) != 0)
				goto out;
			break;
		case FSEC_PRIVACY_ROUND:
			if (!number_of(v, &d) || (nv = rounded(d, f->step)) == NULL) {
				res->removed++;
				break;
			}
			if (json_object_set_new(o, key, nv) != 0)
				goto out;
			res->rounded++;
			break;
		case FSEC_PRIVACY_LAT:
			lat = v;
			break;
		case FSEC_PRIVACY_LON:
			lon = v;
			break;
		}
	}
	if (lat != NULL || lon != NULL) {
		double la, lo, cla, clo;
		const char *kla = NULL, *klo = NULL;

		for (size_t i = 0; i < b->nfields; i++) {
			if (b->fields[i].kind == FSEC_PRIVACY_LAT)
				kla = b->fields[i].name;
			if (b->fields[i].kind == FSEC_PRIVACY_LON)
				klo = b->fields[i].name;
		}
		/* Half a location, or one out of range, is not a location: both
		 * go rather than a value the grid cannot vouch for. */
		if (lat == NULL || lon == NULL || !number_of(lat, &la) || !number_of(lon, &lo) ||
		    la < -90.0 || la > 90.0 || lo < -180.0 || lo > 180.0) {
			res->removed += (lat != NULL) + (lon != NULL);
		} else {
			fsec_privacy_cell(la, lo, b->cell_m, &cla, &clo);
			if (json_object_set_new(o, kla, json_real(cla)) != 0 ||
			    json_object_set_new(o, klo, json_real(clo)) != 0)
				goto out;
			res->coarsened++;
		}
	}
	text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
	if (text == NULL)
		goto out;
	if (retain && b->retain == FSEC_PRIVACY_RETAIN_EXPIRE)
		res->expiry_s = b->expiry_s;
	*out_len = strlen(text);
	*out = text;
	text = NULL;
	res->verdict = FSEC_PRIVACY_FILTERED;
	rc = FSEC_OK;
out:
	if (rc != FSEC_OK)
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	free(text);
	json_decref(o);
	json_decref(in);
	return rc;
}

FSEC_API enum fsec_err fsec_privacy_filter(const struct fsec_privacy_policy *p,
					   const struct fsec_mqtt_subject *who, const char *topic,
					   const void *payload, size_t len, bool retain, char **out,
					   size_t *out_len, struct fsec_privacy_result *res)
{
	const struct fsec_privacy_block *b = fsec_privacy_match(p, who, topic);

	if (b == NULL) {
		*out = NULL;
		*out_len = 0;
		memset(res, 0, sizeof(*res));
		res->verdict = FSEC_PRIVACY_PASS;
		return FSEC_OK;
	}
	return fsec_privacy_apply(b, payload, len, retain, out, out_len, res);
}

/* ---- counters ---- */

/* A broker serves a fleet's models: a few, rarely dozens. The cap bounds
 * the table even if models were many. */
#define STATS_MODELS_MAX 256u

struct model_stats {
	char model[FSEC_MODEL_MAX + 1];
	uint64_t filtered, dropped, removed;
};

struct fsec_privacy_stats {
	struct model_stats *m;
	size_t n, cap;
	bool changed;
};

FSEC_API enum fsec_err fsec_privacy_stats_new(struct fsec_privacy_stats **out)
{
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	return FSEC_OK;
}

FSEC_API void fsec_privacy_stats_free(struct fsec_privacy_stats *s)
{
	if (s == NULL)
		return;
	free(s->m);
	free(s);
}

FSEC_API enum fsec_err fsec_privacy_stats_add(struct fsec_privacy_stats *s, const char *model,
					      const struct fsec_privacy_result *res)
{
	struct model_stats *m = NULL;

	if (res->verdict == FSEC_PRIVACY_PASS)
		return FSEC_OK;
	if (model == NULL || !fsec_model_valid(model))
		model = "(unknown)";
	for (size_t i = 0; i < s->n && m == NULL; i++)
		if (strcmp(s->m[i].model, model) == 0)
			m = &s->m[i];
	if (m == NULL && s->n == STATS_MODELS_MAX) {
		model = "(other)";
		for (size_t i = 0; i < s->n && m == NULL; i++)
			if (strcmp(s->m[i].model, model) == 0)
				m = &s->m[i];
	}
	if (m == NULL) {
		if (s->n == s->cap) {
			size_t cap = s->cap == 0 ? 8 : s->cap * 2;
			struct model_stats *nm = reallocarray(s->m, cap, sizeof(*nm));

			if (nm == NULL)
				return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			s->m = nm;
			s->cap = cap;
		}
		m = &s->m[s->n++];
		memset(m, 0, sizeof(*m));
		snprintf(m->model, sizeof(m->model), "%s", model);
	}
	if (res->verdict == FSEC_PRIVACY_DROP)
		m->dropped++;
	else
		m->filtered++;
	m->removed += res->removed;
	s->changed = true;
	return FSEC_OK;
}

FSEC_API bool fsec_privacy_stats_changed(const struct fsec_privacy_stats *s)
{
	return s->changed;
}

/* The whole text is a few KiB even at the model cap; the cap bounds a bug. */
#define STATS_TEXT_MAX (1u << 20)

FSEC_API enum fsec_err fsec_privacy_stats_text(struct fsec_privacy_stats *s, char **out,
					       size_t *len)
{
	struct fsec_dynbuf t;
	enum fsec_err rc;

	/* Errors are sticky: fsec_dynbuf_take reports the first. Model names
	 * obey the name rule, so they need no escaping in a label. */
	fsec_dynbuf_init(&t, STATS_TEXT_MAX);
	fsec_dynbuf_addf(&t, "# HELP fleetsec_mqtt_privacy_messages_total Messages the broker's "
			     "privacy filter handled, by device model and outcome.\n"
			     "# TYPE fleetsec_mqtt_privacy_messages_total counter\n");
	for (size_t i = 0; i < s->n; i++)
		fsec_dynbuf_addf(&t,
				 "fleetsec_mqtt_privacy_messages_total{model=\"%s\",outcome="
				 "\"filtered\"} %llu\n"
				 "fleetsec_mqtt_privacy_messages_total{model=\"%s\",outcome="
				 "\"dropped\"} %llu\n",
				 s->m[i].model, (unsigned long long)s->m[i].filtered, s->m[i].model,
				 (unsigned long long)s->m[i].dropped);
	fsec_dynbuf_addf(&t, "# HELP fleetsec_mqtt_privacy_fields_removed_total Fields the "
			     "broker's privacy filter removed, by device model.\n"
			     "# TYPE fleetsec_mqtt_privacy_fields_removed_total counter\n");
	for (size_t i = 0; i < s->n; i++)
		fsec_dynbuf_addf(&t, "fleetsec_mqtt_privacy_fields_removed_total{model=\"%s\"} %llu\n",
				 s->m[i].model, (unsigned long long)s->m[i].removed);
	if ((rc = fsec_dynbuf_take(&t, out, len)) != FSEC_OK)
		return rc;
	s->changed = false;
	return FSEC_OK;
}
