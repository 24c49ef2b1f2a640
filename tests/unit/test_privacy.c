/* SPDX-License-Identifier: Apache-2.0 */
/* The privacy policy and filter (privacy.h): what the parser refuses, which
 * block a message meets, what the filter keeps, rounds, coarsens and drops,
 * the location grid's properties (jitter inside a cell gives one output, a
 * cell's centre is in its own cell, the poles and the antimeridian), and the
 * per-model counters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fleetsec/privacy.h"
#include "testutil.h"

static const char policy_text[] = "# a policy\n"
				  "[model thermo]\n"
				  "topic devices/%d/telemetry/#\n"
				  "allow humidity fw\n"
				  "precision temp 0.5\n"
				  "precision battery 10\n"
				  "location lat lon 1200\n"
				  "retain expire 60\n"
				  "[all]\n"
				  "topic devices/%d/telemetry/#\n"
				  "allow state\n"
				  "topic devices/%d/status\n"
				  "allow state\n"
				  "retain refuse\n";

static const struct fsec_mqtt_subject thermo = {.id = "dev-1", .model = "thermo", .group = ""};
static const struct fsec_mqtt_subject cam = {.id = "cam-1", .model = "cam", .group = ""};

static struct fsec_privacy_policy *parse(const char *text)
{
	struct fsec_privacy_policy *p = NULL;

	assert_int_equal(fsec_privacy_parse(text, strlen(text), "t.policy", &p), FSEC_OK);
	return p;
}

static void refused(const char *text, const char *why)
{
	struct fsec_privacy_policy *p = NULL;

	assert_int_equal(fsec_privacy_parse(text, strlen(text), "t.policy", &p), FSEC_ERR_PARSE);
	assert_null(p);
	if (strstr(fsec_err_detail(), why) == NULL)
		fail_msg("'%s': expected '%s', got '%s'", text, why, fsec_err_detail());
}

static void parser_refusals(void **state)
{
	(void)state;
	refused("allow temp\n", "t.policy:1: a directive before any 'topic TEMPLATE'");
	refused("topic devices/%d/t\n", "t.policy:1: a topic before any section");
	refused("[all]\ntopic devices/%d/t\nlocation lat lon 1199\n",
		"t.policy:3: a cell under 1200 m is precise geolocation");
	refused("[all]\ntopic devices/%d/t\nlocation lat lon 9 precise\n", "10 to 1000000");
	refused("[all]\ntopic devices/%d/t\nlocation lat lon 1000001\n", "10 to 1000000");
	refused("[all]\ntopic devices/%d/t\nallow a\nprecision a 1\n", "named once");
	refused("[all]\ntopic devices/%d/t\nallow a a\n", "named once");
	refused("[all]\ntopic devices/%d/t\nlocation a b 2000\nlocation c d 2000\n",
		"one location");
	refused("[all]\ntopic devices/%d/t\nallow a.b\n", "a field is 1-64");
	refused("[all]\ntopic devices/%d/t\nallow\n", "at least one field");
	refused("[all]\ntopic devices/%d/t\nprecision t 0\n", "a step");
	refused("[all]\ntopic devices/%d/t\nprecision t -1\n", "a step");
	refused("[all]\ntopic devices/%d/t\nprecision t 1e3\n", "a step");
	refused("[all]\ntopic devices/%d/t\nprecision t .5\n", "a step");
	refused("[all]\ntopic devices/%d/t\nprecision t 1.\n", "a step");
	refused("[all]\ntopic devices/%d/t\nprecision t nan\n", "a step");
	refused("[all]\ntopic devices/%d/t\nretain forever\n", "retain is");
	refused("[all]\ntopic devices/%d/t\nretain expire 0\n", "an expiry");
	refused("[all]\ntopic devices/%d/t\nretain refuse\nretain keep\n", "one retain");
	refused("[all]\ntopic devices/%d/t\nforward x\n", "unknown directive");
	refused("[group lab]\n", "a section is [all] or [model NAME]");
	refused("[model bad/name]\n", "not a model name");
	refused("[all]\ntopic devices/+/t\n", "a wildcard before a %d level");
	refused("[all]\ntopic $SYS/x\n", "'$' topic");
	refused("[all]\ntopic devices/%d/t extra\n", "topic is 'topic TEMPLATE'");
	{
		struct fsec_privacy_policy *p = NULL;

		assert_int_equal(fsec_privacy_parse("[all]\0", 6, "t.policy", &p), FSEC_ERR_PARSE);
		assert_null(p);
	}
	{
		struct fsec_privacy_policy *p =
			parse("[all]\ntopic devices/%d/t\nlocation la lo 100 precise\n");
		const struct fsec_privacy_block *b = fsec_privacy_get(p, 0);

		assert_int_equal(b->cell_m, 100);
		assert_true(b->precise);
		fsec_privacy_free(p);
	}
}

static void matching(void **state)
{
	struct fsec_privacy_policy *p = parse(policy_text);
	const struct fsec_privacy_block *b;
	struct fsec_mqtt_subject any = {.model = "thermo", .any = true};

	(void)state;
	assert_int_equal(fsec_privacy_count(p), 3);
	/* The model's own block first, though [all]'s matches too. */
	b = fsec_privacy_match(p, &thermo, "devices/dev-1/telemetry/env");
	assert_non_null(b);
	assert_string_equal(b->model, "thermo");
	assert_int_equal(b->line, 3);
	b = fsec_privacy_match(p, &cam, "devices/cam-1/telemetry/env");
	assert_non_null(b);
	assert_null(b->model);
	/* Another device's topic is not this device's block. */
	assert_null(fsec_privacy_match(p, &thermo, "devices/dev-2/telemetry/env"));
	assert_null(fsec_privacy_match(p, &thermo, "other/dev-1"));
	/* "Any device", for what-if checks. */
	b = fsec_privacy_match(p, &any, "devices/x/telemetry/a");
	assert_non_null(b);
	assert_int_equal(b->line, 3);
	fsec_privacy_free(p);
}

/* Filter payload for thermo on its telemetry topic. */
static enum fsec_privacy_verdict run(const struct fsec_privacy_policy *p, const char *payload,
				     bool retain, char **out, struct fsec_privacy_result *res)
{
	size_t len = 0;

	assert_int_equal(fsec_privacy_filter(p, &thermo, "devices/dev-1/telemetry/env", payload,
					     strlen(payload), retain, out, &len, res),
			 FSEC_OK);
	if (*out != NULL)
		assert_int_equal(len, strlen(*out));
	return res->verdict;
}

static void filter(void **state)
{
	struct fsec_privacy_policy *p = parse(policy_text);
	struct fsec_privacy_result res;
	char *out = NULL;

	(void)state;
	assert_int_equal(run(p,
			     "{\"temp\":21.37,\"humidity\":40.2,\"owner\":\"alice\",\"fw\":\"2.1\","
			     "\"battery\":87,\"ssid\":{\"name\":\"home\"}}",
			     false, &out, &res),
			 FSEC_PRIVACY_FILTERED);
	assert_string_equal(out, "{\"temp\":21.5,\"humidity\":40.2,\"fw\":\"2.1\",\"battery\":90}");
	assert_int_equal(res.removed, 2);
	assert_int_equal(res.rounded, 2);
	assert_int_equal(res.expiry_s, 0);
	free(out);
	/* Rounding: to the nearest multiple, a whole step gives an integer. */
	assert_int_equal(run(p, "{\"temp\":21.2,\"battery\":-14}", false, &out, &res),
			 FSEC_PRIVACY_FILTERED);
	assert_string_equal(out, "{\"temp\":21.0,\"battery\":-10}");
	free(out);
	/* A rounded field that is no number is removed, never passed. */
	assert_int_equal(run(p, "{\"temp\":\"21.37\",\"battery\":true}", false, &out, &res),
			 FSEC_PRIVACY_FILTERED);
	assert_string_equal(out, "{}");
	assert_int_equal(res.removed, 2);
	free(out);
	/* Fail closed: what the filter cannot read goes nowhere. */
	assert_int_equal(run(p, "temp=21.5", false, &out, &res), FSEC_PRIVACY_DROP);
	assert_null(out);
	assert_non_null(strstr(res.reason, "not JSON"));
	assert_int_equal(run(p, "[1,2]", false, &out, &res), FSEC_PRIVACY_DROP);
	assert_int_equal(run(p, "21.5", false, &out, &res), FSEC_PRIVACY_DROP);
	assert_int_equal(run(p, "{\"fw\":\"a\",\"fw\":\"b\"}", false, &out, &res),
			 FSEC_PRIVACY_DROP);
	assert_int_equal(run(p, "{\"fw\":\"a\"} trailing", false, &out, &res), FSEC_PRIVACY_DROP);
	assert_int_equal(run(p, "{\"fw\":\"\\u0000\"}", false, &out, &res), FSEC_PRIVACY_DROP);
	{
		size_t n = FSEC_PRIVACY_PAYLOAD_MAX + 1, len;
		char *big = malloc(n);

		assert_non_null(big);
		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		assert_int_equal(fsec_privacy_filter(p, &thermo, "devices/dev-1/telemetry/a", big,
						     n, false, &out, &len, &res),
				 FSEC_OK);
		assert_int_equal(res.verdict, FSEC_PRIVACY_DROP);
		assert_non_null(strstr(res.reason, "over 65536"));
		/* One byte less is read. */
		assert_int_equal(fsec_privacy_filter(p, &thermo, "devices/dev-1/telemetry/a",
						     big + 1, n - 1, false, &out, &len, &res),
				 FSEC_OK);
		assert_int_equal(res.verdict, FSEC_PRIVACY_DROP);
		assert_non_null(strstr(res.reason, "not JSON"));
		free(big);
	}
	/* Retention: an expiry for a retained copy only. */
	assert_int_equal(run(p, "{\"fw\":\"2\"}", true, &out, &res), FSEC_PRIVACY_FILTERED);
	assert_int_equal(res.expiry_s, 60);
	free(out);
	{
		size_t len;

		assert_int_equal(fsec_privacy_filter(p, &thermo, "devices/dev-1/status", "{}", 2,
						     true, &out, &len, &res),
				 FSEC_OK);
		assert_int_equal(res.verdict, FSEC_PRIVACY_DROP);
		assert_non_null(strstr(res.reason, "retained messages are refused"));
		/* An empty retained message clears the copy: it carries nothing. */
		assert_int_equal(fsec_privacy_filter(p, &thermo, "devices/dev-1/status", "", 0,
						     true, &out, &len, &res),
				 FSEC_OK);
		assert_int_equal(res.verdict, FSEC_PRIVACY_PASS);
		/* No block: as sent. */
		assert_int_equal(fsec_privacy_filter(p, &thermo, "devices/dev-1/other", "x", 1,
						     false, &out, &len, &res),
				 FSEC_OK);
		assert_int_equal(res.verdict, FSEC_PRIVACY_PASS);
		assert_null(out);
	}
	fsec_privacy_free(p);
}

/* Filter len bytes (may hold NUL) for thermo; the verdict. */
static enum fsec_privacy_verdict runb(const struct fsec_privacy_policy *p, const char *payload,
				      size_t len, char **out, struct fsec_privacy_result *res)
{
	size_t olen = 0;

	assert_int_equal(fsec_privacy_filter(p, &thermo, "devices/dev-1/telemetry/env", payload,
					     len, false, out, &olen, res),
			 FSEC_OK);
	return res->verdict;
}

/* "{"fw":" + depth '[' + inner + depth ']' + "}". */
static char *nested(size_t depth, const char *inner)
{
	size_t n = 6 + 2 * depth + strlen(inner) + 2;
	char *s = malloc(n);

	assert_non_null(s);
	memcpy(s, "{\"fw\":", 6);
	memset(s + 6, '[', depth);
	memcpy(s + 6 + depth, inner, strlen(inner));
	memset(s + 6 + depth + strlen(inner), ']', depth);
	memcpy(s + 6 + 2 * depth + strlen(inner), "}", 2);
	return s;
}

/* The one-pass filter refuses what jansson's parse refused, and writes what
 * jansson's dump wrote (the fuzz target compares the two on any input). */
static void scanner(void **state)
{
	struct fsec_privacy_policy *p = parse(policy_text);
	struct fsec_privacy_result res;
	char *out = NULL, *deep;
	static const char *const refused[] = {
		"",                                   /* (whitespace only, below) */
		"{\"fw\":{\"a\":1,\"b\":2,\"\\u0061\":3}}", /* a duplicate name, nested, escaped */
		"{\"fw\":\"\xc3\"}",                  /* UTF-8 cut short */
		"{\"fw\":\"\xc0\xaf\"}",              /* an overlong form */
		"{\"fw\":\"\xed\xa0\x80\"}",          /* a surrogate in UTF-8 */
		"{\"fw\":\"\\ud800\"}",               /* a lone high surrogate */
		"{\"fw\":\"\\udc00\"}",               /* a lone low surrogate */
		"{\"fw\":\"\\ud800\\u0041\"}",        /* a high one without a low one */
		"{\"fw\":\"\\x\"}",                   /* an unknown escape */
		"{\"fw\":\"a\tb\"}",                  /* a raw control character */
		"{\"fw\\u0000\":1}",                  /* NUL in a name */
		"{\"fw\":9223372036854775808}",       /* past 64 bits */
		"{\"fw\":-9223372036854775809}",
		"{\"fw\":1e309}",                     /* a real that overflows */
		"{\"fw\":01}",                        /* a leading zero */
		"{\"fw\":1.}",
		"{\"fw\":.5}",
		"{\"fw\":1e}",
		"{\"fw\":-}",
		"{\"fw\":tru}",
		"{\"fw\":1,}",
		"{\"fw\" 1}",
		"{\"fw\":[1 2]}",
		"{\"fw\":1",
		"{\"fw\":\"a",
		"{fw:1}",
		"\xef\xbb\xbf{}",                     /* a byte order mark */
	};

	(void)state;
	assert_int_equal(runb(p, "  \n", 3, &out, &res), FSEC_PRIVACY_DROP);
	assert_non_null(strstr(res.reason, "not JSON"));
	for (size_t i = 1; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(run(p, refused[i], false, &out, &res), FSEC_PRIVACY_DROP);
		assert_null(out);
		assert_int_equal(res.removed, 0);
		assert_non_null(strstr(res.reason, "not JSON"));
	}
	/* A NUL byte, raw. */
	assert_int_equal(runb(p, "{\"fw\":1}\0", 9, &out, &res), FSEC_PRIVACY_DROP);
	/* jansson's depth: 2048 values deep, the top object counted. */
	deep = nested(2046, "1");
	assert_int_equal(run(p, deep, false, &out, &res), FSEC_PRIVACY_FILTERED);
	free(out);
	free(deep);
	deep = nested(2047, "1");
	assert_int_equal(run(p, deep, false, &out, &res), FSEC_PRIVACY_DROP);
	assert_non_null(strstr(res.reason, "depth"));
	free(deep);
	deep = nested(2047, "");
	assert_int_equal(run(p, deep, false, &out, &res), FSEC_PRIVACY_FILTERED);
	free(out);
	free(deep);
	/* A duplicate among many names (sorted, not compared pairwise). */
	for (int last = 57; last <= 100; last += 43) {
		char big[4096];
		size_t n = 0;

		n += (size_t)snprintf(big + n, sizeof(big) - n, "{\"fw\":{");
		for (int i = 0; i < 100; i++)
			n += (size_t)snprintf(big + n, sizeof(big) - n, "\"k%d\":%d,", i, i);
		snprintf(big + n, sizeof(big) - n, "\"k%d\":0}}", last);
		if (last == 57) {
			assert_int_equal(run(p, big, false, &out, &res), FSEC_PRIVACY_DROP);
			assert_non_null(strstr(res.reason, "duplicate"));
		} else {
			assert_int_equal(run(p, big, false, &out, &res), FSEC_PRIVACY_FILTERED);
			free(out);
		}
	}
	/* The written form is jansson's: compact, escapes rewritten, '/' and
	 * UTF-8 as is, control characters as \uXXXX, integers as %lld, reals
	 * as %.15g with ".0" and no '+' or leading zero in the exponent. */
	assert_int_equal(run(p,
			     "{ \"fw\" : [ \"a\\/b\\u00e9\\ud83d\\ude00\\u001f\\\"\\\\\\t\" , -0 , "
			     "1e14 , 1E-5 , 0.1e+2 , -0.0 , 40.20 , true , false , null , { } , "
			     "[ ] , {\"x\\u0041\":1} ] , \"humidity\" : 9223372036854775807 }",
			     false, &out, &res),
			 FSEC_PRIVACY_FILTERED);
	assert_string_equal(out, "{\"fw\":[\"a/b\xc3\xa9\xf0\x9f\x98\x80\\u001F\\\"\\\\\\t\",0,"
				 "100000000000000.0,1e-5,10.0,-0.0,40.2,true,false,null,{},[],"
				 "{\"xA\":1}],\"humidity\":9223372036854775807}");
	free(out);
	/* An escaped name is the field it spells; the location goes last. */
	assert_int_equal(run(p, "{\"l\\u0061t\":48.8584,\"lon\":2.2945,\"\\u0066w\":1}", false,
			     &out, &res),
			 FSEC_PRIVACY_FILTERED);
	assert_int_equal(strncmp(out, "{\"fw\":1,\"lat\":", 14), 0);
	assert_int_equal(res.coarsened, 1);
	free(out);
	fsec_privacy_free(p);
}

static void location(void **state)
{
	struct fsec_privacy_policy *p = parse(policy_text);
	struct fsec_privacy_result res;
	char *a = NULL, *b = NULL;

	(void)state;
	/* Two fixes 15 m apart near the Eiffel Tower, inside one cell. */
	assert_int_equal(run(p, "{\"lat\":48.858370,\"lon\":2.294481}", false, &a, &res),
			 FSEC_PRIVACY_FILTERED);
	assert_int_equal(res.coarsened, 1);
	assert_int_equal(run(p, "{\"lon\":2.294600,\"lat\":48.858470}", false, &b, &res),
			 FSEC_PRIVACY_FILTERED);
	assert_string_equal(a, b);
	assert_string_equal(a, "{\"lat\":48.855447,\"lon\":2.288344}");
	free(a);
	free(b);
	/* Half a location, or one out of range or not a number, goes whole. */
	assert_int_equal(run(p, "{\"lat\":48.8,\"fw\":\"1\"}", false, &a, &res),
			 FSEC_PRIVACY_FILTERED);
	assert_string_equal(a, "{\"fw\":\"1\"}");
	assert_int_equal(res.removed, 1);
	free(a);
	assert_int_equal(run(p, "{\"lat\":91,\"lon\":2}", false, &a, &res), FSEC_PRIVACY_FILTERED);
	assert_string_equal(a, "{}");
	assert_int_equal(res.removed, 2);
	free(a);
	assert_int_equal(run(p, "{\"lat\":\"48.8\",\"lon\":2}", false, &a, &res),
			 FSEC_PRIVACY_FILTERED);
	assert_string_equal(a, "{}");
	free(a);
	/* Integers are coordinates too. */
	assert_int_equal(run(p, "{\"lat\":0,\"lon\":0}", false, &a, &res), FSEC_PRIVACY_FILTERED);
	assert_int_equal(res.coarsened, 1);
	free(a);
	fsec_privacy_free(p);
}

/* Metres between two points (haversine on the grid's sphere). */
static double dist(double la1, double lo1, double la2, double lo2)
{
	const double r = 6371008.8, d = 3.14159265358979323846 / 180.0;
	double dla = (la2 - la1) * d, dlo = (lo2 - lo1) * d;
	double h = sin(dla / 2) * sin(dla / 2) +
		   cos(la1 * d) * cos(la2 * d) * sin(dlo / 2) * sin(dlo / 2);

	return 2 * r * asin(sqrt(fmin(1.0, h)));
}

static void grid(void **state)
{
	static const uint32_t sizes[] = {10, 1200, 5000, 100000, 1000000};
	double cla, clo, c2a, c2o;

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (double lat = -90; lat <= 90; lat += 7.3)
			for (double lon = -180; lon <= 180; lon += 11.7) {
				fsec_privacy_cell(lat, lon, sizes[s], &cla, &clo);
				assert_true(cla >= -90 && cla <= 90 && clo >= -180 && clo <= 180);
				/* The centre is in its own cell. */
				fsec_privacy_cell(cla, clo, sizes[s], &c2a, &c2o);
				assert_true(c2a == cla && c2o == clo);
				/* A cell is under 2 cells tall and its centre within
				 * one cell's height of any point of it in latitude. */
				assert_true(fabs(cla - lat) * 111195.08 <= sizes[s] + 1.0);
			}
	/* Jitter of +-20 m around a cell's centre gives the centre. */
	fsec_privacy_cell(52.52, 13.405, 1200, &cla, &clo);
	for (int i = -2; i <= 2; i++)
		for (int j = -2; j <= 2; j++) {
			fsec_privacy_cell(cla + i * 0.00009, clo + j * 0.00014, 1200, &c2a, &c2o);
			assert_true(c2a == cla && c2o == clo);
		}
	/* Points 1300 m apart north-south or east-west are never one point
	 * out (a cell is at least 1200 m each way, so they differ). */
	fsec_privacy_cell(60.0, 10.0, 1200, &cla, &clo);
	fsec_privacy_cell(60.0 + 1300 / 111195.08, 10.0, 1200, &c2a, &c2o);
	assert_true(c2a != cla);
	/* A cell is never narrower than its size: two points of one cell
	 * 1100 m apart east-west at 70 degrees fall together somewhere. */
	{
		int same = 0;

		for (double lo = 0; lo < 1; lo += 0.001) {
			double lo2 = lo + 1100 / (111195.08 * cos(70.0 * 3.14159265358979323846 / 180));

			fsec_privacy_cell(70.0, lo, 1200, &cla, &clo);
			fsec_privacy_cell(70.0, lo2, 1200, &c2a, &c2o);
			same += clo == c2o;
		}
		assert_true(same > 0);
	}
	/* The centre is near the point: within one and a half cells. */
	fsec_privacy_cell(45.0, 7.0, 1200, &cla, &clo);
	assert_true(dist(45.0, 7.0, cla, clo) < 1200 * 1.5);
	/* Near a pole a band is one cell; the antimeridian is one cell. */
	fsec_privacy_cell(89.9999, 123.0, 1200, &cla, &clo);
	assert_true(clo == 0.0);
	fsec_privacy_cell(-90.0, -45.0, 1200, &c2a, &c2o);
	assert_true(c2o == 0.0 && c2a < -89.9);
	fsec_privacy_cell(10.0, 180.0, 5000, &cla, &clo);
	fsec_privacy_cell(10.0, 179.9999, 5000, &c2a, &c2o);
	assert_true(cla == c2a && clo == c2o);
	fsec_privacy_cell(90.0, 0.0, 1200, &cla, &clo);
	assert_true(cla <= 90.0 && cla > 89.9);
}

static void stats(void **state)
{
	struct fsec_privacy_stats *s = NULL;
	struct fsec_privacy_result r = {.verdict = FSEC_PRIVACY_FILTERED, .removed = 3};
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(fsec_privacy_stats_new(&s), FSEC_OK);
	assert_false(fsec_privacy_stats_changed(s));
	assert_int_equal(fsec_privacy_stats_add(s, "thermo", &r), FSEC_OK);
	assert_int_equal(fsec_privacy_stats_add(s, "thermo", &r), FSEC_OK);
	r.verdict = FSEC_PRIVACY_DROP;
	r.removed = 0;
	assert_int_equal(fsec_privacy_stats_add(s, "thermo", &r), FSEC_OK);
	r.verdict = FSEC_PRIVACY_PASS;
	assert_int_equal(fsec_privacy_stats_add(s, "cam", &r), FSEC_OK);
	assert_true(fsec_privacy_stats_changed(s));
	assert_int_equal(fsec_privacy_stats_text(s, &text, &len), FSEC_OK);
	assert_non_null(strstr(text, "fleetsec_mqtt_privacy_messages_total{model=\"thermo\","
				     "outcome=\"filtered\"} 2\n"));
	assert_non_null(strstr(text, "fleetsec_mqtt_privacy_messages_total{model=\"thermo\","
				     "outcome=\"dropped\"} 1\n"));
	assert_non_null(strstr(text, "fleetsec_mqtt_privacy_fields_removed_total{model=\"thermo\"} "
				     "6\n"));
	/* A message with no block is not the filter's. */
	assert_null(strstr(text, "cam"));
	assert_false(fsec_privacy_stats_changed(s));
	free(text);
	fsec_privacy_stats_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parser_refusals), cmocka_unit_test(matching),
		cmocka_unit_test(filter),          cmocka_unit_test(scanner),
		cmocka_unit_test(location),
		cmocka_unit_test(grid),            cmocka_unit_test(stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
