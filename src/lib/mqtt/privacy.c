/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The privacy policy and filter (privacy.h). The filter keeps what a block
 * names and nothing else: an unknown field is removed, never passed, and a
 * payload the filter cannot read is dropped, so that a device (or a bug in
 * one) cannot get data past the broker by sending it in a shape the policy
 * did not foresee.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	b->fields[i].name_len = strlen(name);
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

/*
 * ---- the filter: one pass over the payload, no tree ----
 *
 * The payload is read once, left to right, and the allowed members are
 * written out as they go by; nothing is built. What is accepted and what
 * is written are those of the jansson parse and dump the filter used before
 * (json_loadb with JSON_REJECT_DUPLICATES, then json_dumps with
 * JSON_COMPACT | JSON_REAL_PRECISION(15)), so that a message is judged and
 * written byte for byte as before: strict UTF-8, no \u0000, no lone
 * surrogate, duplicate names refused in every object (not only the top
 * one), integers within 64 bits, reals that do not overflow, nesting to
 * jansson's depth; strings written back with jansson's escapes, integers as
 * %lld and reals as %.15g. The fuzz target privacy_filter holds a jansson
 * filter beside this one and compares their answers.
 */

/* jansson's JSON_PARSER_MAX_DEPTH: a value deeper than this is refused. */
#define DEPTH_MAX 2048u
/* The output's cap. Numbers written back may be longer than sent (1e14 is
 * written 100000000000000.0: 17 bytes for 4), never more than 5 times. */
#define OUT_MAX (8u * FSEC_PRIVACY_PAYLOAD_MAX)

/* A decoded member name of an open object: names[off .. off + len). */
struct name {
	uint32_t off, len;
};

struct frame {
	bool object;
	bool first;     /* no member or element yet */
	uint32_t nbase; /* its first name in s->names */
	uint32_t bbase; /* its names' bytes in s->bytes */
};

struct scan {
	const unsigned char *p, *end;
	/* Scratch, one allocation sized by the payload: the decoded names of
	 * the open objects, then the string being read (decoded bytes are
	 * never more than the raw ones, so len bytes hold them all); a
	 * number's text for strtod; the names' spans; the open containers. */
	char *bytes, *num;
	size_t nbytes;
	struct name *names;
	size_t nnames;
	size_t maxnames;
	struct frame *frames;
	size_t nframes, maxframes;
	struct fsec_dynbuf out;
	bool emit;        /* the value being read is copied to out */
	bool want_num;    /* the policy needs the value of the member being read */
	bool have_num;    /* a top-level member's value was a number: */
	double num_value; /* this one */
	const char *why;  /* not JSON: why */
};

static bool bad(struct scan *s, const char *why)
{
	s->why = why;
	return false;
}

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Append n bytes to the output (errors are sticky: checked at the end). */
static void put(struct scan *s, const void *b, size_t n)
{
	/* On failure the buffer keeps its error: fsec_dynbuf_take reports it. */
	fsec_dynbuf_put(&s->out, b, n);
}

/* The decoded string b (valid UTF-8, no NUL) as jansson writes it: '"' and
 * '\' escaped, control characters as \b \f \n \r \t or \u00XX, the rest
 * (UTF-8 and '/' included) as is. */
static void put_string(struct scan *s, const char *b, size_t n)
{
	size_t run = 0;

	put(s, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)b[i];
		char esc[8];
		const char *e;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(s, b + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04X", (unsigned)c);
			e = esc;
		}
		put(s, e, strlen(e));
	}
	put(s, b + run, n - run);
	put(s, "\"", 1);
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits after "\u" at s->p; -1 if not. */
static long hex4(struct scan *s)
{
	long v = 0;

	if (s->end - s->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(s->p[i]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	s->p += 4;
	return v;
}

/* The length of a valid UTF-8 sequence at p (under end), else 0: jansson's
 * utf8_check_first and utf8_check_full (no overlong form, no surrogate,
 * nothing past U+10FFFF). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n;
	uint32_t v;

	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2, v = p[0] & 0x1Fu;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 3, v = p[0] & 0x0Fu;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 4, v = p[0] & 0x07u;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
		v = (v << 6) | (p[i] & 0x3Fu);
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
	    (n == 4 && v < 0x10000))
		return 0;
	return n;
}

/* Write code point v (valid, not NUL) as UTF-8 at d; its length. */
static size_t utf8_put(uint32_t v, char *d)
{
	if (v < 0x80) {
		d[0] = (char)v;
		return 1;
	}
	if (v < 0x800) {
		d[0] = (char)(0xC0 | (v >> 6));
		d[1] = (char)(0x80 | (v & 0x3F));
		return 2;
	}
	if (v < 0x10000) {
		d[0] = (char)(0xE0 | (v >> 12));
		d[1] = (char)(0x80 | ((v >> 6) & 0x3F));
		d[2] = (char)(0x80 | (v & 0x3F));
		return 3;
	}
	d[0] = (char)(0xF0 | (v >> 18));
	d[1] = (char)(0x80 | ((v >> 12) & 0x3F));
	d[2] = (char)(0x80 | ((v >> 6) & 0x3F));
	d[3] = (char)(0x80 | (v & 0x3F));
	return 4;
}

/* The string at s->p (its '"'), decoded into s->bytes + s->nbytes (room is
 * there: see struct scan); *n its length. */
static bool string(struct scan *s, size_t *n)
{
	char *d = s->bytes + s->nbytes, *d0 = d;

	s->p++;
	for (;;) {
		const unsigned char *run = s->p;
		long v, lo;
		size_t u;

		while (s->p < s->end && *s->p >= 0x20 && *s->p < 0x80 && *s->p != '"' &&
		       *s->p != '\\')
			s->p++;
		memcpy(d, run, (size_t)(s->p - run));
		d += s->p - run;
		if (s->p == s->end)
			return bad(s, "premature end of input");
		if (*s->p == '"')
			break;
		if (*s->p < 0x20)
			return bad(s, "control character in a string");
		if (*s->p >= 0x80) {
			if ((u = utf8_len(s->p, s->end)) == 0)
				return bad(s, "invalid UTF-8");
			memcpy(d, s->p, u);
			d += u;
			s->p += u;
			continue;
		}
		/* An escape. */
		if (s->end - s->p < 2)
			return bad(s, "premature end of input");
		s->p += 2;
		switch (s->p[-1]) {
		case '"': *d++ = '"'; continue;
		case '\\': *d++ = '\\'; continue;
		case '/': *d++ = '/'; continue;
		case 'b': *d++ = '\b'; continue;
		case 'f': *d++ = '\f'; continue;
		case 'n': *d++ = '\n'; continue;
		case 'r': *d++ = '\r'; continue;
		case 't': *d++ = '\t'; continue;
		case 'u': break;
		default: return bad(s, "invalid escape");
		}
		if ((v = hex4(s)) < 0)
			return bad(s, "invalid escape");
		if (v >= 0xDC00 && v <= 0xDFFF)
			return bad(s, "invalid Unicode (a lone low surrogate)");
		if (v >= 0xD800 && v <= 0xDBFF) {
			if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
				return bad(s, "invalid Unicode (a lone high surrogate)");
			s->p += 2;
			if ((lo = hex4(s)) < 0)
				return bad(s, "invalid escape");
			if (lo < 0xDC00 || lo > 0xDFFF)
				return bad(s, "invalid Unicode (a high surrogate without a low one)");
			v = ((v - 0xD800) << 10) + (lo - 0xDC00) + 0x10000;
		}
		/* A NUL would end the name or value early for a C reader. */
		if (v == 0)
			return bad(s, "\\u0000 is not allowed");
		d += utf8_put((uint32_t)v, d);
	}
	s->p++;
	*n = (size_t)(d - d0);
	return true;
}

/* A real as jansson writes it with 15 digits (jsonp_dtostr): %.15g, ".0"
 * added when there is neither '.' nor 'e', the exponent without '+' and
 * leading zeros. buf holds 32 bytes; its length. */
static size_t real_text(double v, char *buf)
{
	int n = snprintf(buf, 32, "%.15g", v);
	size_t len;
	char *e, *from;

	/* %.15g of a finite double is at most 22 bytes. */
	len = n > 0 && n < 28 ? (size_t)n : 0;
	buf[len] = '\0';
	if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
		memcpy(buf + len, ".0", 3);
		len += 2;
	}
	if ((e = strchr(buf, 'e')) != NULL) {
		e++;
		from = e + 1;
		if (*e == '-')
			e++;
		while (*from == '0')
			from++;
		if (from != e) {
			memmove(e, from, len - (size_t)(from - buf) + 1);
			len -= (size_t)(from - e);
		}
	}
	return len;
}

/* Powers of ten a double holds exactly: 10^0 to 10^22. */
static const double P10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
			     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
			     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* "I.F" from the digits of |m| with d of them after the point, trailing
 * zeros of F dropped, ".0" when none is left: jansson's %.15g text of a
 * value in fixed notation. buf holds 32 bytes; its length. */
static size_t fixed_text(bool neg, unsigned long long m, unsigned d, char *buf)
{
	char dig[24];
	size_t n = 0, len = 0, ip;

	do
		dig[n++] = (char)('0' + m % 10);
	while ((m /= 10) != 0);
	while (n <= d) /* a zero before the point */
		dig[n++] = '0';
	if (neg)
		buf[len++] = '-';
	for (ip = n; ip > d; ip--)
		buf[len++] = dig[ip - 1];
	buf[len++] = '.';
	/* The fraction without its trailing zeros, or "0". */
	while (d > 0 && dig[0] == '0') {
		memmove(dig, dig + 1, --n);
		d--;
	}
	if (d == 0)
		buf[len++] = '0';
	for (; d > 0; d--)
		buf[len++] = dig[d - 1];
	return len;
}

/*
 * real_text without printf for the values the filter writes most (a
 * rounded reading, a cell centre in micro-degrees): v when it is the
 * double nearest a decimal of at most 15 significant digits and 9
 * decimals, at least 1e-4 in size (or 0). For that decimal D, %.15g gives
 * D's own digits in fixed notation: v = RN(D) lies within half an ulp of
 * D, closer than half a unit of D's 15th digit. Otherwise real_text.
 */
static size_t real_text_fast(double v, char *buf)
{
	double a = fabs(v);

	if (v == 0.0)
		return fixed_text(signbit(v) != 0, 0, 0, buf);
	if (a >= 1e-4 && a < 1e15)
		for (unsigned d = 0; d <= 9; d++) {
			double sc = a * P10[d];
			unsigned long long m;

			if (sc >= 1e15)
				break;
			m = (unsigned long long)llround(sc);
			if ((double)m / P10[d] == a)
				return fixed_text(v < 0, m, d, buf);
		}
	return real_text(v, buf);
}

/*
 * A real written as sent gives jansson's text back, with no strtod and no
 * %.15g: no exponent, at most 15 significant digits and a point that
 * fixed notation keeps (at least 1e-4 unless zero). Such a text cannot
 * overflow either. Its text (trailing zeros of the fraction dropped, ".0"
 * for none) into buf (32 bytes), and through strtod's fast path (Clinger:
 * an exact mantissa over an exact power of ten, one correctly rounded
 * division) its value. False: take the general path.
 */
static bool real_simple(const unsigned char *t, size_t n, char *buf, size_t *blen, double *v)
{
	const unsigned char *p = t, *end = t + n, *dot;
	unsigned long long m = 0;
	unsigned sig = 0, d = 0, lead = 0;
	bool neg = false;

	if (p < end && *p == '-') {
		neg = true;
		p++;
	}
	if ((dot = memchr(p, '.', (size_t)(end - p))) == NULL || memchr(t, 'e', n) != NULL ||
	    memchr(t, 'E', n) != NULL)
		return false;
	/* The fraction without its trailing zeros. */
	while (end > dot + 1 && end[-1] == '0')
		end--;
	for (; p < end; p++) {
		if (p == dot)
			continue;
		if (m == 0 && *p == '0') {
			if (p > dot)
				lead++; /* a zero after the point, before any digit */
		} else if (++sig > 15) {
			return false;
		}
		m = m * 10 + (unsigned long long)(*p - '0');
		if (p > dot)
			d++;
	}
	/* Below 1, %.15g turns to an exponent past three zeros. */
	if (m != 0 && lead > 3)
		return false;
	*v = (double)m / P10[d];
	if (neg)
		*v = -*v;
	*blen = fixed_text(neg, m, d, buf);
	return true;
}

/* The number at s->p: checked as jansson does (no leading zero, digits
 * after '.' and 'e'; an integer within 64 bits, a real not overflowing),
 * written back as jansson writes it. */
static bool number(struct scan *s)
{
	const unsigned char *start = s->p;
	bool real = false;
	size_t n, tlen = 0;
	double d;
	char text[32];

	if (*s->p == '-')
		s->p++;
	if (s->p == s->end || *s->p < '0' || *s->p > '9')
		return bad(s, "invalid token");
	if (*s->p == '0') {
		s->p++;
		if (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			return bad(s, "invalid token (a leading zero)");
	} else {
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	}
	if (s->p < s->end && *s->p == '.') {
		real = true;
		s->p++;
		if (s->p == s->end || *s->p < '0' || *s->p > '9')
			return bad(s, "invalid token");
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		real = true;
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (s->p == s->end || *s->p < '0' || *s->p > '9')
			return bad(s, "invalid token");
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	}
	/* The token is part of the payload, so it fits in num (len + 1). */
	n = (size_t)(s->p - start);
	memcpy(s->num, start, n);
	s->num[n] = '\0';
	errno = 0;
	if (!real) {
		long long v = strtoll(s->num, NULL, 10);

		if (errno == ERANGE)
			return bad(s, "too big integer");
		d = (double)v;
		/* The grammar leaves one form per integer but "-0". */
		if (s->emit) {
			if (v == 0)
				put(s, "0", 1);
			else
				put(s, start, n);
		}
	} else if (real_simple(start, n, text, &tlen, &d)) {
		if (s->emit)
			put(s, text, tlen);
	} else {
		d = strtod(s->num, NULL);
		if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
			return bad(s, "real number overflow");
		if (s->emit)
			put(s, text, real_text(d, text));
	}
	if (s->nframes == 1) {
		s->have_num = true;
		s->num_value = d;
	}
	return true;
}

static bool literal(struct scan *s)
{
	static const char *const lits[] = {"true", "false", "null"};

	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		size_t n = strlen(lits[i]);

		if ((size_t)(s->end - s->p) >= n && memcmp(s->p, lits[i], n) == 0) {
			if (s->emit)
				put(s, lits[i], n);
			s->p += n;
			return true;
		}
	}
	return bad(s, "invalid token");
}

static int name_cmp(const void *a, const void *b, void *ctx)
{
	const struct name *x = a, *y = b;
	const char *bytes = ctx;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	/* Most names of one length differ at once: no call for those. */
	if (x->len > 0 && bytes[x->off] != bytes[y->off])
		return (unsigned char)bytes[x->off] < (unsigned char)bytes[y->off] ? -1 : 1;
	return memcmp(bytes + x->off, bytes + y->off, x->len);
}

/* Does the closing object (its names from nbase) name a member twice? Two
 * members of one name would let a reader that keeps the other one see what
 * the filter never judged. Sorted past a few names, so that a payload of
 * thousands of names costs n log n, not n squared. */
static bool duplicates(struct scan *s, size_t nbase)
{
	struct name *v = s->names + nbase;
	size_t n = s->nnames - nbase;

	if (n <= 16) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (name_cmp(&v[i], &v[j], s->bytes) == 0)
					return true;
		return false;
	}
	/* The names go with the object: their order may change. */
	qsort_r(v, n, sizeof(*v), name_cmp, s->bytes);
	for (size_t i = 1; i < n; i++)
		if (name_cmp(&v[i], &v[i - 1], s->bytes) == 0)
			return true;
	return false;
}

/* The counts of one filtering, kept apart until the payload is known good. */
struct tally {
	size_t removed, rounded, coarsened, nout;
	const struct fsec_privacy_field *cur; /* the top-level member's; NULL: removed */
	bool lat_seen, lon_seen, lat_ok, lon_ok;
	double lat, lon;
};

static void put_member(struct scan *s, struct tally *t, const struct fsec_privacy_field *f)
{
	if (t->nout++ > 0)
		put(s, ",", 1);
	put(s, "\"", 1);
	put(s, f->name, f->name_len); /* a field name: nothing to escape */
	put(s, "\":", 2);
}

/* The rounded value of v to a multiple of step, as JSON: an integer when
 * the step is whole (and the value fits), else a real. 0: a value too large
 * to round (it is removed). buf holds 32 bytes. */
static size_t rounded(double v, double step, char *buf)
{
	double q = v / step, r;
	int n;

	if (!isfinite(q) || fabs(q) > 9e15)
		return 0;
	r = round(q) * step;
	if (floor(step) == step && fabs(r) < 9e15) {
		n = snprintf(buf, 32, "%lld", (long long)r);
		return n > 0 && n < 32 ? (size_t)n : 0;
	}
	return real_text_fast(r, buf);
}

/* A top-level member's name was read (the last of s->names): what becomes
 * of its value. */
static void member_start(struct scan *s, const struct fsec_privacy_block *b, struct tally *t)
{
	const struct name *nm = &s->names[s->nnames - 1];

	t->cur = NULL;
	for (size_t i = 0; i < b->nfields && t->cur == NULL; i++)
		if (b->fields[i].name_len == nm->len &&
		    memcmp(b->fields[i].name, s->bytes + nm->off, nm->len) == 0)
			t->cur = &b->fields[i];
	s->have_num = false;
	s->emit = t->cur != NULL && t->cur->kind == FSEC_PRIVACY_KEEP;
	if (t->cur == NULL)
		t->removed++;
	else if (s->emit)
		put_member(s, t, t->cur);
}

/* A top-level member's value was read. */
static void member_end(struct scan *s, struct tally *t)
{
	char text[32];
	size_t n;

	s->emit = false;
	if (t->cur == NULL)
		return;
	switch (t->cur->kind) {
	case FSEC_PRIVACY_KEEP:
		break;
	case FSEC_PRIVACY_ROUND:
		if (!s->have_num || (n = rounded(s->num_value, t->cur->step, text)) == 0) {
			t->removed++;
			break;
		}
		put_member(s, t, t->cur);
		put(s, text, n);
		t->rounded++;
		break;
	case FSEC_PRIVACY_LAT:
		t->lat_seen = true;
		t->lat_ok = s->have_num;
		t->lat = s->num_value;
		break;
	case FSEC_PRIVACY_LON:
		t->lon_seen = true;
		t->lon_ok = s->have_num;
		t->lon = s->num_value;
		break;
	}
}

/* The payload, read once; the allowed members written to s->out as they
 * go by. False: not JSON (s->why). *object: the payload is an object. */
static bool scan_payload(struct scan *s, const struct fsec_privacy_block *b, struct tally *t,
			 bool *object)
{
	struct frame *f;
	size_t n;

	ws(s);
	if (s->p == s->end || (*s->p != '{' && *s->p != '['))
		return bad(s, "'[' or '{' expected");
	*object = *s->p == '{';
value:
	/* jansson counts every value, the top one as 1. */
	if (s->nframes + 1 > DEPTH_MAX)
		return bad(s, "maximum parsing depth reached");
	if (s->p == s->end)
		return bad(s, "premature end of input");
	switch (*s->p) {
	case '{':
	case '[':
		/* Bounded: DEPTH_MAX, and a byte per container. */
		if (s->nframes == s->maxframes)
			return bad(s, "maximum parsing depth reached");
		f = &s->frames[s->nframes++];
		f->object = *s->p == '{';
		f->first = true;
		f->nbase = (uint32_t)s->nnames;
		f->bbase = (uint32_t)s->nbytes;
		if (s->emit || s->nframes == 1)
			put(s, s->p, 1);
		s->p++;
		ws(s);
		if (s->p < s->end && *s->p == (f->object ? '}' : ']'))
			goto close;
		if (f->object)
			goto member;
		goto value;
	case '"':
		if (!string(s, &n))
			return false;
		if (s->emit)
			put_string(s, s->bytes + s->nbytes, n);
		break;
	case 't':
	case 'f':
	case 'n':
		if (!literal(s))
			return false;
		break;
	default:
		if (*s->p != '-' && (*s->p < '0' || *s->p > '9'))
			return bad(s, "invalid token");
		if (!number(s))
			return false;
		break;
	}
after:
	if (s->nframes == 0) {
		ws(s);
		if (s->p != s->end)
			return bad(s, "end of file expected");
		return true;
	}
	f = &s->frames[s->nframes - 1];
	if (s->nframes == 1 && f->object)
		member_end(s, t);
	ws(s);
	if (s->p == s->end)
		return bad(s, "premature end of input");
	if (*s->p == ',') {
		s->p++;
		ws(s);
		if (f->object)
			goto member;
		if (s->emit)
			put(s, ",", 1);
		goto value;
	}
	if (*s->p != (f->object ? '}' : ']'))
		return bad(s, f->object ? "',' or '}' expected" : "',' or ']' expected");
close:
	s->p++;
	if (f->object && duplicates(s, f->nbase))
		return bad(s, "duplicate object key");
	/* The top object is closed once the location is written. */
	if (s->emit)
		put(s, f->object ? "}" : "]", 1);
	s->nnames = f->nbase;
	s->nbytes = f->bbase;
	s->nframes--;
	goto after;
member:
	if (s->p == s->end || *s->p != '"')
		return bad(s, "string or '}' expected");
	/* Cannot happen (a name takes 3 bytes at least); checked all the same. */
	if (s->nnames == s->maxnames)
		return bad(s, "too many names");
	if (!string(s, &n))
		return false;
	s->names[s->nnames].off = (uint32_t)s->nbytes;
	s->names[s->nnames].len = (uint32_t)n;
	s->nnames++;
	s->nbytes += n;
	ws(s);
	if (s->p == s->end || *s->p != ':')
		return bad(s, "':' expected");
	s->p++;
	ws(s);
	if (s->nframes == 1 && f->object) {
		member_start(s, b, t);
	} else if (s->emit) {
		if (!f->first)
			put(s, ",", 1);
		put_string(s, s->bytes + s->names[s->nnames - 1].off, n);
		put(s, ":", 1);
	}
	f->first = false;
	goto value;
}

/* Drop the payload: why, and what (outside text, cleaned; may be NULL). */
static void drop(struct fsec_privacy_result *res, const char *why, const char *what)
{
	char clean[96];

	res->verdict = FSEC_PRIVACY_DROP;
	snprintf(res->reason, sizeof(res->reason), "%s%s%s", why, what != NULL ? ": " : "",
		 what != NULL ? fsec_text_clean(what, clean, sizeof(clean)) : "");
}

/* The location, written after the other members as the filter always did:
 * a cell's centre, or both fields removed. */
static void location(struct scan *s, const struct fsec_privacy_block *b, struct tally *t)
{
	const struct fsec_privacy_field *kla = NULL, *klo = NULL;
	double cla, clo;
	char text[32];

	if (!t->lat_seen && !t->lon_seen)
		return;
	/* Half a location, or one out of range, is not a location: both go
	 * rather than a value the grid cannot vouch for. */
	if (!t->lat_ok || !t->lon_ok || t->lat < -90.0 || t->lat > 90.0 || t->lon < -180.0 ||
	    t->lon > 180.0) {
		t->removed += (size_t)t->lat_seen + (size_t)t->lon_seen;
		return;
	}
	for (size_t i = 0; i < b->nfields; i++) {
		if (b->fields[i].kind == FSEC_PRIVACY_LAT)
			kla = &b->fields[i];
		if (b->fields[i].kind == FSEC_PRIVACY_LON)
			klo = &b->fields[i];
	}
	fsec_privacy_cell(t->lat, t->lon, b->cell_m, &cla, &clo);
	put_member(s, t, kla);
	put(s, text, real_text_fast(cla, text));
	put_member(s, t, klo);
	put(s, text, real_text_fast(clo, text));
	t->coarsened++;
}

FSEC_API enum fsec_err fsec_privacy_apply(const struct fsec_privacy_block *b, const void *payload,
					  size_t len, bool retain, char **out, size_t *out_len,
					  struct fsec_privacy_result *res)
{
	struct scan s;
	struct tally t;
	bool object = false;
	size_t maxnames, maxframes;
	unsigned char *scratch = NULL;
	enum fsec_err rc;

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
	/* An attacker sets the length: the cap bounds the scratch memory. */
	if (len > FSEC_PRIVACY_PAYLOAD_MAX) {
		drop(res, "payload over 65536 bytes", NULL);
		return FSEC_OK;
	}
	/* A name takes 3 bytes at least ("":), a container 1; with len at most
	 * 64 KiB none of these sizes comes near overflowing. */
	maxnames = len / 3 + 1;
	maxframes = len < DEPTH_MAX ? len : DEPTH_MAX;
	memset(&s, 0, sizeof(s));
	memset(&t, 0, sizeof(t));
	scratch = malloc(maxnames * sizeof(struct name) + maxframes * sizeof(struct frame) +
			 2 * (len + 1));
	if (scratch == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	s.names = (struct name *)(void *)scratch;
	s.frames = (struct frame *)(void *)(scratch + maxnames * sizeof(struct name));
	s.bytes = (char *)(scratch + maxnames * sizeof(struct name) +
			   maxframes * sizeof(struct frame));
	s.num = s.bytes + len + 1;
	s.maxframes = maxframes;
	s.maxnames = maxnames;
	s.p = payload;
	s.end = s.p + len;
	fsec_dynbuf_init(&s.out, OUT_MAX);
	if (!scan_payload(&s, b, &t, &object)) {
		drop(res, "not JSON", s.why);
		rc = FSEC_OK;
		goto out;
	}
	if (!object) {
		drop(res, "not a JSON object", NULL);
		rc = FSEC_OK;
		goto out;
	}
	location(&s, b, &t);
	put(&s, "}", 1);
	if ((rc = fsec_dynbuf_take(&s.out, out, out_len)) != FSEC_OK) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (retain && b->retain == FSEC_PRIVACY_RETAIN_EXPIRE)
		res->expiry_s = b->expiry_s;
	res->removed = t.removed;
	res->rounded = t.rounded;
	res->coarsened = t.coarsened;
	res->verdict = FSEC_PRIVACY_FILTERED;
out:
	fsec_dynbuf_cleanup(&s.out);
	free(scratch);
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
