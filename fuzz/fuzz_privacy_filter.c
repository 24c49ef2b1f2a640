/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the broker's privacy filter (privacy.h): the input is
 * a device's payload, filtered by a fixed policy. Contracts checked: only an
 * empty payload passes unjudged; a filtered payload is one JSON object whose
 * members are all allowed fields, with a location in range and a rounded
 * field a number; a dropped one has a reason and no output; and filtering
 * the output again changes nothing (the filter is idempotent). And the
 * filter, which reads the payload in one pass without building a tree,
 * answers as the jansson filter it replaced does (below: parse with
 * json_loadb, build the object, write it with json_dumps): the same verdict,
 * the same bytes, the same counts.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fleetsec/privacy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy[] = "[model thermo]\n"
			     "topic devices/%d/telemetry/#\n"
			     "allow humidity fw nested\n"
			     "precision temp 0.5\n"
			     "precision battery 10\n"
			     "precision pressure 0.01\n"
			     "location lat lon 1200\n"
			     "retain expire 60\n";


/* ---- the reference: the filter as it was, on jansson's tree ---- */

static bool ref_number(const json_t *v, double *out)
{
	if (json_is_integer(v))
		*out = (double)json_integer_value(v);
	else if (json_is_real(v))
		*out = json_real_value(v);
	else
		return false;
	return isfinite(*out);
}

static json_t *ref_rounded(double v, double step)
{
	double q = v / step, r;

	if (!isfinite(q) || fabs(q) > 9e15)
		return NULL;
	r = round(q) * step;
	if (floor(step) == step && fabs(r) < 9e15)
		return json_integer((json_int_t)r);
	return json_real(r);
}

/* FILTERED (*out, the counts), DROP ("not JSON" or "not a JSON object"),
 * or -1 (NOMEM). Called only for a payload of 1 to 65536 bytes, not a
 * refused retained one. */
static int ref_apply(const struct fsec_privacy_block *b, const void *payload, size_t len,
		     char **out, size_t counts[3], const char **why)
{
	json_t *in, *o, *lat = NULL, *lon = NULL, *v;
	const char *key;
	int verdict = -1;

	/* jansson 2.14 skips a raw NUL byte that follows a number or a
	 * literal ({"a":1<NUL>} loads as {"a":1}), where JSON (RFC 8259) has
	 * no place for one. The filter refuses it, as a strict parser must:
	 * the reference does too, and leaves the rest to jansson. */
	if (memchr(payload, '\0', len) != NULL) {
		*why = "not JSON";
		return FSEC_PRIVACY_DROP;
	}
	in = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
	if (in == NULL) {
		*why = "not JSON";
		return FSEC_PRIVACY_DROP;
	}
	if (!json_is_object(in)) {
		json_decref(in);
		*why = "not a JSON object";
		return FSEC_PRIVACY_DROP;
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
			counts[0]++;
			continue;
		}
		switch (f->kind) {
		case FSEC_PRIVACY_KEEP:
			if (json_object_set(o, key, v) != 0)
				goto out;
			break;
		case FSEC_PRIVACY_ROUND:
			if (!ref_number(v, &d) || (nv = ref_rounded(d, f->step)) == NULL) {
				counts[0]++;
				break;
			}
			if (json_object_set_new(o, key, nv) != 0)
				goto out;
			counts[1]++;
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
		if (lat == NULL || lon == NULL || !ref_number(lat, &la) || !ref_number(lon, &lo) ||
		    la < -90.0 || la > 90.0 || lo < -180.0 || lo > 180.0) {
			counts[0] += (lat != NULL) + (lon != NULL);
		} else {
			fsec_privacy_cell(la, lo, b->cell_m, &cla, &clo);
			if (json_object_set_new(o, kla, json_real(cla)) != 0 ||
			    json_object_set_new(o, klo, json_real(clo)) != 0)
				goto out;
			counts[2]++;
		}
	}
	if ((*out = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15))) != NULL)
		verdict = FSEC_PRIVACY_FILTERED;
out:
	json_decref(o);
	json_decref(in);
	return verdict;
}

/* The filter and the reference agree on data. */
static void differential(const struct fsec_privacy_block *b, const uint8_t *data, size_t size,
			 const struct fsec_privacy_result *res, const char *out, size_t len)
{
	size_t counts[3] = {0, 0, 0};
	char *ref = NULL;
	const char *why = NULL;
	int verdict;

	if (size == 0 || size > FSEC_PRIVACY_PAYLOAD_MAX)
		return;
	verdict = ref_apply(b, data, size, &ref, counts, &why);
	if (verdict < 0)
		return; /* NOMEM */
	if ((int)res->verdict != verdict)
		abort();
	if (verdict == FSEC_PRIVACY_DROP) {
		/* The reasons' details differ (jansson's words, the scanner's);
		 * what was refused does not. */
		if (strncmp(res->reason, why, strlen(why)) != 0 ||
		    (strcmp(why, "not JSON") == 0 && strncmp(res->reason, "not JSON", 8) != 0))
			abort();
		return;
	}
	if (strlen(ref) != len || memcmp(ref, out, len) != 0 || counts[0] != res->removed ||
	    counts[1] != res->rounded || counts[2] != res->coarsened)
		abort();
	free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fsec_privacy_policy *p;
	static const struct fsec_mqtt_subject who = {.id = "dev-1", .model = "thermo"};
	static const char *const allowed[] = {"humidity", "fw",  "nested", "temp",
					      "battery",  "pressure", "lat", "lon"};
	struct fsec_privacy_result res, res2;
	char *out = NULL, *out2 = NULL;
	size_t len = 0, len2 = 0;
	json_t *o;
	const char *k;
	json_t *v;

	if (p == NULL && fsec_privacy_parse(policy, sizeof(policy) - 1, "fuzz", &p) != FSEC_OK)
		abort();
	if (fsec_privacy_filter(p, &who, "devices/dev-1/telemetry/x", data, size, size & 1, &out,
				&len, &res) != FSEC_OK)
		return 0; /* NOMEM */
	if (res.verdict == FSEC_PRIVACY_PASS) {
		if (size != 0 || out != NULL)
			abort();
		return 0;
	}
	/* A retained message is refused by no block here: judged as any. */
	differential(res.block, data, size, &res, out, len);
	if (res.verdict == FSEC_PRIVACY_DROP) {
		if (out != NULL || res.reason[0] == '\0')
			abort();
		return 0;
	}
	if (out == NULL || strlen(out) != len)
		abort();
	o = json_loadb(out, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o))
		abort();
	json_object_foreach(o, k, v)
	{
		bool ok = false;

		for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			ok |= strcmp(k, allowed[i]) == 0;
		if (!ok)
			abort();
		if ((strcmp(k, "lat") == 0 &&
		     !(json_is_real(v) && json_real_value(v) >= -90 && json_real_value(v) <= 90)) ||
		    (strcmp(k, "lon") == 0 && !(json_is_real(v) && json_real_value(v) >= -180 &&
						json_real_value(v) <= 180)) ||
		    ((strcmp(k, "temp") == 0 || strcmp(k, "battery") == 0 ||
		      strcmp(k, "pressure") == 0) &&
		     !json_is_number(v)))
			abort();
	}
	if ((json_object_get(o, "lat") == NULL) != (json_object_get(o, "lon") == NULL))
		abort();
	json_decref(o);
	if (fsec_privacy_filter(p, &who, "devices/dev-1/telemetry/x", out, len, false, &out2,
				&len2, &res2) == FSEC_OK &&
	    (res2.verdict != FSEC_PRIVACY_FILTERED || len2 != len || memcmp(out, out2, len) != 0 ||
	     res2.removed != 0))
		abort();
	free(out2);
	free(out);
	return 0;
}
