/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsec privacy: what the broker's privacy filter makes of a message, and
 * the data inventory a privacy policy amounts to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/privacy.h"
#include "fleetsec/registry.h"

/* What the report maps the policy to (ETSI EN 303 645 v2.1.1; GDPR). */
#define MAP_MINIMISE                                                                          \
	"GDPR Art. 5(1)(c) data minimisation; ETSI EN 303 645 provision 6-4 (clause 6), "     \
	"provision 5.8-2"
#define MAP_RETAIN "GDPR Art. 5(1)(e) storage limitation; ETSI EN 303 645 provision 5.8"
#define MAP_INVENTORY "ETSI EN 303 645 provisions 6-1 and 6-5 (clause 6): what is collected"

static const char *verdict_name(enum fsec_privacy_verdict v)
{
	switch (v) {
	case FSEC_PRIVACY_PASS:
		return "pass";
	case FSEC_PRIVACY_FILTERED:
		return "filtered";
	case FSEC_PRIVACY_DROP:
		return "dropped";
	}
	return "?";
}

static void block_title(const struct fsec_privacy_block *b, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s:%u [%s%s] topic %s", b->origin, b->line,
		 b->model != NULL ? "model " : "all", b->model != NULL ? b->model : "", b->topic);
}

/* The first block for model (NULL: the first of all). */
static const struct fsec_privacy_block *first_block(const struct fsec_privacy_policy *p,
						    const char *model)
{
	for (size_t i = 0; i < fsec_privacy_count(p); i++) {
		const struct fsec_privacy_block *b = fsec_privacy_get(p, i);

		if (model == NULL || (b->model != NULL && strcmp(b->model, model) == 0))
			return b;
	}
	return NULL;
}

static int privacy_check(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'}, {"topic", required_argument, NULL, 't'},
		{"device", required_argument, NULL, 'd'}, {"group", required_argument, NULL, 'g'},
		{"retain", no_argument, NULL, 'r'},      CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0}};
	struct cli_common c = {0};
	struct fsec_privacy_policy *p = NULL;
	const struct fsec_privacy_block *b = NULL;
	struct fsec_privacy_result res;
	struct fsec_mqtt_subject who = {.any = true};
	const char *model = NULL, *topic = NULL, *policy, *sample;
	unsigned char *buf = NULL;
	char *out = NULL, title[FSEC_MQTT_TOPIC_MAX + 200];
	size_t len = 0, out_len = 0;
	bool retain = false;
	json_t *in = NULL, *filtered = NULL, *gone = NULL;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'm':
			model = optarg;
			break;
		case 't':
			topic = optarg;
			break;
		case 'd':
			who.id = optarg;
			break;
		case 'g':
			who.group = optarg;
			break;
		case 'r':
			retain = true;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 2 != argc)
		return cli_usage_error(self, "expected POLICY SAMPLE.json");
	policy = argv[optind];
	sample = argv[optind + 1];
	if (model != NULL && (status = cli_model(model)) != 0)
		return status;
	status = EXIT_REFUSED;
	who.model = model;
	if ((rc = fsec_privacy_load(policy, &p)) != FSEC_OK)
		return cli_fail(policy, rc);
	/* Read past the filter's cap, so that the filter says what a broker
	 * would do with an oversized message. */
	if ((rc = fsec_file_read(sample, 4u * FSEC_PRIVACY_PAYLOAD_MAX, &buf, &len)) != FSEC_OK) {
		status = cli_fail(sample, rc);
		goto out;
	}
	if (topic != NULL)
		b = fsec_privacy_match(p, &who, topic);
	else if ((b = first_block(p, model)) == NULL) {
		fprintf(stderr, "fleetsec: %s: no topic block%s%s\n", policy,
			model != NULL ? " for model " : "", model != NULL ? model : "");
		goto out;
	}
	if (b == NULL) {
		memset(&res, 0, sizeof(res));
		res.verdict = FSEC_PRIVACY_PASS;
	} else if ((rc = fsec_privacy_apply(b, buf, len, retain, &out, &out_len, &res)) !=
		   FSEC_OK) {
		status = cli_fail(sample, rc);
		goto out;
	}
	if (b != NULL)
		block_title(b, title, sizeof(title));
	/* The fields that went, by name: those of the sample the output lacks. */
	gone = json_array();
	in = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (out != NULL)
		filtered = json_loadb(out, out_len, 0, NULL);
	if (gone == NULL || (out != NULL && filtered == NULL)) {
		status = cli_fail("privacy check", FSEC_ERR_NOMEM);
		goto out;
	}
	if (res.verdict == FSEC_PRIVACY_FILTERED && json_is_object(in)) {
		const char *k;
		json_t *v;

		json_object_foreach(in, k, v)
		{
			if (json_object_get(filtered, k) == NULL &&
			    json_array_append_new(gone, json_string(k)) != 0) {
				status = cli_fail("privacy check", FSEC_ERR_NOMEM);
				goto out;
			}
		}
	}
	if (c.json) {
		status = cli_print_json(json_pack(
			"{s:s, s:s?, s:s, s:s?, s:I, s:O, s:I, s:I, s:I, s:s?, s:O?}", "policy", policy,
			"block", b != NULL ? title : NULL, "verdict", verdict_name(res.verdict),
			"reason", res.verdict == FSEC_PRIVACY_DROP ? res.reason : NULL, "removed",
			(json_int_t)res.removed, "removed_fields", gone, "rounded",
			(json_int_t)res.rounded, "coarsened", (json_int_t)res.coarsened,
			"retained_expiry_s", (json_int_t)res.expiry_s, "payload", out, "message",
			res.verdict == FSEC_PRIVACY_FILTERED ? filtered
			: res.verdict == FSEC_PRIVACY_PASS   ? in
							     : NULL));
		goto out;
	}
	if (b == NULL) {
		printf("pass: no block of %s polices %s%s%s: the message goes out as sent\n",
		       policy, topic, model != NULL ? " for model " : "",
		       model != NULL ? model : "");
	} else {
		printf("block %s\n", title);
		if (res.verdict == FSEC_PRIVACY_DROP) {
			printf("dropped: %s\n", res.reason);
		} else if (res.verdict == FSEC_PRIVACY_PASS) {
			printf("pass: an empty payload carries nothing\n");
		} else {
			printf("filtered: %zu field%s removed", res.removed,
			       res.removed == 1 ? "" : "s");
			for (size_t i = 0; i < json_array_size(gone); i++)
				printf("%s%s", i == 0 ? " (" : ", ",
				       json_string_value(json_array_get(gone, i)));
			printf("%s, %zu rounded, %zu location%s coarsened\n",
			       json_array_size(gone) > 0 ? ")" : "", res.rounded, res.coarsened,
			       res.coarsened == 1 ? "" : "s");
			if (res.expiry_s > 0)
				printf("retained: its copy is removed after %u s\n", res.expiry_s);
			printf("%.*s\n", (int)out_len, out);
		}
	}
	status = 0;
out:
	json_decref(in);
	json_decref(filtered);
	json_decref(gone);
	free(out);
	free(buf);
	fsec_privacy_free(p);
	return status;
}

/* ---- report ---- */

struct models {
	char (*v)[FSEC_MODEL_MAX + 1];
	size_t n, cap;
};

static int add_model(struct models *m, const char *model)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i], model) == 0)
			return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap == 0 ? 16 : m->cap * 2;
		void *nv = reallocarray(m->v, cap, sizeof(*m->v));

		if (nv == NULL)
			return -1;
		m->v = nv;
		m->cap = cap;
	}
	snprintf(m->v[m->n++], sizeof(*m->v), "%s", model);
	return 0;
}

static int collect_model(const struct fsec_device_rec *rec, void *ctx)
{
	return add_model(ctx, rec->model);
}

static json_t *block_json(const struct fsec_privacy_block *b)
{
	json_t *fields = json_array(), *o;

	if (fields == NULL)
		return NULL;
	for (size_t i = 0; i < b->nfields; i++) {
		const struct fsec_privacy_field *f = &b->fields[i];
		json_t *fj;

		switch (f->kind) {
		case FSEC_PRIVACY_KEEP:
			fj = json_pack("{s:s, s:s}", "field", f->name, "precision", "as sent");
			break;
		case FSEC_PRIVACY_ROUND:
			fj = json_pack("{s:s, s:s, s:s}", "field", f->name, "precision", "rounded",
				       "step", f->step_text);
			break;
		default:
			fj = json_pack("{s:s, s:s, s:s, s:I, s:b}", "field", f->name, "precision",
				       "location cell", "axis",
				       f->kind == FSEC_PRIVACY_LAT ? "latitude" : "longitude",
				       "cell_m", (json_int_t)b->cell_m, "precise", b->precise);
			break;
		}
		if (json_array_append_new(fields, fj) != 0) {
			json_decref(fields);
			return NULL;
		}
	}
	o = json_pack("{s:s, s:I, s:o, s:s, s:I, s:s}", "topic", b->topic, "line",
		      (json_int_t)b->line, "fields", fields, "retained",
		      b->retain == FSEC_PRIVACY_RETAIN_KEEP     ? "kept"
		      : b->retain == FSEC_PRIVACY_RETAIN_REFUSE ? "refused"
								: "expire",
		      "retained_expiry_s", (json_int_t)b->expiry_s, "everything_else", "removed");
	return o;
}

static void block_text(const struct fsec_privacy_block *b, bool inherited)
{
	printf("  topic %s  (%s:%u%s)\n", b->topic, b->origin, b->line,
	       inherited ? ", [all]" : "");
	for (size_t i = 0; i < b->nfields; i++) {
		const struct fsec_privacy_field *f = &b->fields[i];

		switch (f->kind) {
		case FSEC_PRIVACY_KEEP:
			printf("    %-16s as sent\n", f->name);
			break;
		case FSEC_PRIVACY_ROUND:
			printf("    %-16s rounded to a multiple of %s\n", f->name, f->step_text);
			break;
		case FSEC_PRIVACY_LAT:
		case FSEC_PRIVACY_LON:
			printf("    %-16s %s, %u m grid cell, its centre%s\n", f->name,
			       f->kind == FSEC_PRIVACY_LAT ? "latitude" : "longitude", b->cell_m,
			       b->precise ? " (precise location)" : "");
			break;
		}
	}
	printf("    %-16s removed\n", "(any other)");
	if (b->retain == FSEC_PRIVACY_RETAIN_KEEP)
		printf("    retained         kept until replaced\n");
	else if (b->retain == FSEC_PRIVACY_RETAIN_REFUSE)
		printf("    retained         refused\n");
	else
		printf("    retained         removed after %u s\n", b->expiry_s);
}

static int privacy_report(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {{"policy", required_argument, NULL, 'p'},
						 CLI_COMMON_LONGOPTS,
						 {NULL, 0, NULL, 0}};
	struct cli_common c = {0};
	struct fsec_privacy_policy *p = NULL;
	struct fsec_fleet *f = NULL;
	struct models m = {0};
	const char *policy = NULL;
	char registry_note[300] = "";
	json_t *jm = NULL;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;
	size_t nall = 0;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		if (opt == 'p')
			policy = optarg;
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	status = EXIT_REFUSED;
	if (policy != NULL && (rc = fsec_privacy_load(policy, &p)) != FSEC_OK)
		return cli_fail(policy, rc);
	/* The models in the registry, so that one the policy forgot shows. */
	if (fsec_fleet_open_readonly(cli_home(&c), &f) == FSEC_OK) {
		if (fsec_registry_device_list(fsec_fleet_get_registry(f), 0, NULL, collect_model,
					      &m) != FSEC_OK)
			snprintf(registry_note, sizeof(registry_note),
				 "the registry's models could not be read: %s", fsec_err_detail());
	} else {
		snprintf(registry_note, sizeof(registry_note),
			 "no registry read (%s): models from the policy only", fsec_err_detail());
	}
	for (size_t i = 0; p != NULL && i < fsec_privacy_count(p); i++) {
		const struct fsec_privacy_block *b = fsec_privacy_get(p, i);

		if (b->model == NULL)
			nall++;
		else if (add_model(&m, b->model) != 0)
			goto nomem;
	}
	if ((jm = json_array()) == NULL)
		goto nomem;
	if (!c.json) {
		printf("Data inventory: what each model's MQTT telemetry carries past the broker\n"
		       "policy: %s\n"
		       "maps to: %s; %s; %s\n",
		       policy != NULL ? policy : "(none)", MAP_INVENTORY, MAP_MINIMISE, MAP_RETAIN);
		if (registry_note[0] != '\0')
			printf("note: %s\n", registry_note);
	}
	for (size_t i = 0; i <= m.n; i++) {
		/* The last round is [all]'s blocks, which every model falls
		 * back to. */
		const char *model = i < m.n ? m.v[i] : NULL;
		json_t *topics = json_array(), *one;
		size_t own = 0;

		if (topics == NULL)
			goto nomem;
		if (model == NULL && nall == 0 && m.n > 0) {
			json_decref(topics);
			break;
		}
		if (!c.json)
			printf("\n%s%s\n", model != NULL ? "model " : "[all] (every model)",
			       model != NULL ? model : "");
		for (size_t k = 0; p != NULL && k < fsec_privacy_count(p); k++) {
			const struct fsec_privacy_block *b = fsec_privacy_get(p, k);

			if ((model == NULL) != (b->model == NULL) ||
			    (model != NULL && strcmp(model, b->model) != 0))
				continue;
			own++;
			if (!c.json)
				block_text(b, false);
			if (json_array_append_new(topics, block_json(b)) != 0) {
				json_decref(topics);
				goto nomem;
			}
		}
		if (!c.json && own == 0)
			printf("  no topic block of its own: %s\n",
			       nall > 0 ? "the [all] blocks apply; on other topics, every field "
					  "goes out as sent"
					: "every field of every message goes out as sent");
		else if (!c.json && model != NULL && nall > 0)
			printf("  other topics: the [all] blocks\n");
		one = json_pack("{s:s?, s:o, s:b}", "model", model, "topics", topics, "unfiltered",
				own == 0 && nall == 0);
		if (json_array_append_new(jm, one) != 0)
			goto nomem;
	}
	if (c.json) {
		status = cli_print_json(json_pack(
			"{s:s?, s:s?, s:O, s:{s:s, s:s, s:s}}", "policy", policy, "note",
			registry_note[0] != '\0' ? registry_note : NULL, "models", jm, "maps_to",
			"inventory", MAP_INVENTORY, "minimisation", MAP_MINIMISE, "retention",
			MAP_RETAIN));
	} else {
		printf("\nA field not listed for a topic is removed at the broker before any "
		       "subscriber or\nthe retained store sees it; a payload that is not a JSON "
		       "object is dropped.\n");
		status = 0;
	}
	goto out;
nomem:
	status = cli_fail("privacy report", FSEC_ERR_NOMEM);
out:
	json_decref(jm);
	free(m.v);
	fsec_fleet_free(f);
	fsec_privacy_free(p);
	return status;
}

const struct cli_cmd cli_privacy_cmds[] = {
	{"privacy", "check", privacy_check, "show what the broker's privacy filter makes of a message",
	 "POLICY SAMPLE.json [--model M] [--topic T] [--device ID] [--group G]\n"
	 "       [--retain] [--json]\n\n"
	 "Apply the privacy policy POLICY (the file the broker's plugin reads, as\n"
	 "'fleetsec mqtt config' sets it up) to the payload in SAMPLE.json and print\n"
	 "what subscribers would receive: the fields removed, numbers rounded,\n"
	 "locations moved to their grid cell's centre, or why the message is dropped\n"
	 "(not a JSON object, over 64 KiB, a refused retained message). The block\n"
	 "applied is the one the broker picks for a device of model M publishing on\n"
	 "topic T (a %d level stands for any device unless --device names one;\n"
	 "--group likewise for %g); without --topic, the first block for M (or the\n"
	 "first of the file). --retain judges the message as a retained one.\n"
	 "Exit status 0 whatever the verdict; 1 if POLICY or SAMPLE cannot be read.\n"
	 "--json prints {policy, block, verdict, reason, removed, removed_fields,\n"
	 "rounded, coarsened, retained_expiry_s, payload, message}: payload is the\n"
	 "exact text delivered (null unless filtered), message the JSON delivered.\n"},
	{"privacy", "report", privacy_report, "the data inventory: per model, what telemetry is collected",
	 "[--policy FILE] [--home DIR] [--json]\n\n"
	 "List, per device model (from the policy and the registry), the telemetry\n"
	 "fields the broker lets through on each topic, at what precision (as sent,\n"
	 "rounded, or a location grid cell), and how long a retained copy is kept;\n"
	 "everything else is removed. A model with no block of its own is shown with\n"
	 "what applies to it instead. The inventory maps to ETSI EN 303 645 clause 6\n"
	 "(provisions 6-1, 6-4, 6-5) and provision 5.8, and GDPR Art. 5(1)(c) (data\n"
	 "minimisation) and 5(1)(e) (storage limitation). Without --policy, every\n"
	 "field of every model goes out as sent, and the report says so.\n"
	 "--json prints {policy, note, models: [{model, topics: [{topic, line,\n"
	 "fields: [{field, precision, step, axis, cell_m, precise}], retained,\n"
	 "retained_expiry_s, everything_else}], unfiltered}], maps_to}.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
