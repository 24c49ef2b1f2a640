/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/names.h"
#include "fleetsec/registry.h"

int cli_fail(const char *what, enum fsec_err rc)
{
	const char *why = fsec_err_detail();

	fprintf(stderr, "fleetsec: %s: %s\n", what, why[0] != '\0' ? why : fsec_strerror(rc));
	return EXIT_REFUSED;
}

int cli_model(const char *model)
{
	enum fsec_err rc = fsec_model_check(model);

	return rc == FSEC_OK ? 0 : cli_fail("--model", rc);
}

static void print_cmd_name(FILE *fp, const struct cli_cmd *cmd)
{
	fprintf(fp, "fleetsec %s%s%s", cmd->area, cmd->verb != NULL ? " " : "",
		cmd->verb != NULL ? cmd->verb : "");
}

int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("fleetsec: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see '", stderr);
	print_cmd_name(stderr, cmd);
	fputs(" --help')\n", stderr);
	return EXIT_USAGE;
}

int cli_help(const struct cli_cmd *cmd)
{
	fputs("usage: ", stdout);
	print_cmd_name(stdout, cmd);
	printf(" %s", cmd->usage);
	return 0;
}

int cli_next_opt(int argc, char **argv, const struct option *longopts, const struct cli_cmd *cmd,
		 struct cli_common *c, int *status)
{
	for (;;) {
		int opt = getopt_long(argc, argv, ":h", longopts, NULL);

		switch (opt) {
		case -1:
			return 0;
		case 'H':
			c->home = optarg;
			continue;
		case 'J':
			c->json = true;
			continue;
		case CLI_OPT_STANDBY:
			c->registry_ro = optarg;
			continue;
		case 'h':
			*status = cli_help(cmd);
			return -1;
		case '?':
			*status = cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
			return -1;
		case ':':
			*status = cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
			return -1;
		default:
			return opt;
		}
	}
}

int cli_common_only(int argc, char **argv, const struct cli_cmd *cmd, struct cli_common *c,
		    int npos, const char *what)
{
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	int opt, status = 0;

	while ((opt = cli_next_opt(argc, argv, longopts, cmd, c, &status)) > 0)
		;
	if (opt < 0)
		return status;
	if (npos == 0 && optind != argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (optind + npos != argc)
		return cli_usage_error(cmd, "expected %s", what);
	return CLI_GO_ON;
}

int cli_open_fleet(const struct cli_common *c, struct fsec_fleet **f)
{
	enum fsec_err rc = c->registry_ro != NULL
				   ? fsec_fleet_open_standby(cli_home(c), c->registry_ro, f)
				   : fsec_fleet_open(cli_home(c), f);

	return rc == FSEC_OK ? 0 : cli_fail(c->registry_ro != NULL ? "--registry-readonly"
								   : cli_home(c), rc);
}

const char *cli_home(const struct cli_common *c)
{
	static char buf[4096];

	if (c->home != NULL)
		return c->home;
	/* Too long a path leaves "", which every command refuses as no home. */
	if (fsec_home_default(buf, sizeof(buf)) != FSEC_OK)
		buf[0] = '\0';
	return buf;
}

bool cli_int(const struct cli_cmd *cmd, const char *name, const char *s, long min, long max,
	     long *out)
{
	uint64_t v;

	/* The one number grammar (fleetsec/text.h): strtol took "+5" and " 5".
	 * Every caller's range is non-negative; a negative min reads as 0. */
	if (max < 0 ||
	    fsec_parse_u64(s, min > 0 ? (uint64_t)min : 0, (uint64_t)max, 0, &v) != FSEC_OK) {
		cli_usage_error(cmd, "%s must be a whole number from %ld to %ld, not '%s'", name, min,
				max, s);
		return false;
	}
	*out = (long)v;
	return true;
}

bool cli_uint(const struct cli_cmd *cmd, const char *name, const char *s, uint64_t min,
	      uint64_t max, uint64_t *out)
{
	/* No sign, no octal: "010" is refused rather than read as 8. */
	if (fsec_parse_u64(s, min, max, FSEC_NUM_HEX, out) == FSEC_OK)
		return true;
	cli_usage_error(cmd, "%s must be a number from %llu to %llu (decimal or 0x hex), not '%s'",
			name, (unsigned long long)min, (unsigned long long)max, s);
	return false;
}

const char *cli_actor(void)
{
	static char buf[128];
	struct passwd *pw = getpwuid(geteuid());

	snprintf(buf, sizeof(buf), "%s(uid=%u)", pw != NULL ? pw->pw_name : "unknown",
		 (unsigned)geteuid());
	return buf;
}

int cli_print_json(json_t *v)
{
	int rc = 0;

	if (v == NULL || json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
		fputs("fleetsec: cannot encode JSON output\n", stderr);
		rc = EXIT_REFUSED;
	} else {
		putchar('\n');
	}
	json_decref(v);
	return rc;
}

int cli_emit(const char *path, const void *data, size_t len)
{
	enum fsec_err rc;

	if (path == NULL)
		return fwrite(data, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : EXIT_REFUSED;
	rc = fsec_file_write_atomic(path, data, len, 0644, 0);
	return rc == FSEC_OK ? 0 : cli_fail(path, rc);
}

const char *cli_time(int64_t t, char *buf, size_t cap)
{
	char full[FSEC_TIME_LEN];

	snprintf(buf, cap, "%s", t == 0 ? "-" : fsec_time_format(t, full));
	return buf;
}

bool cli_strv_push(struct cli_strv *sv, const char *s)
{
	if (sv->n == sv->cap) {
		size_t ncap = sv->cap != 0 ? sv->cap * 2 : 64;
		const char **nv;

		if (ncap > SIZE_MAX / sizeof(*nv) || (nv = realloc(sv->v, ncap * sizeof(*nv))) == NULL)
			return false;
		sv->v = nv;
		sv->cap = ncap;
	}
	sv->v[sv->n++] = s;
	return true;
}

#define IDS_FILE_MAX (8u * 1024u * 1024u)

int cli_read_ids(const char *path, size_t max, unsigned char **buf, struct cli_strv *sv)
{
	size_t len = 0, lineno = 0;
	char *s, *save = NULL, *line;
	enum fsec_err rc = fsec_file_read(path, IDS_FILE_MAX, buf, &len);

	if (rc != FSEC_OK)
		return cli_fail(path, rc);
	s = (char *)*buf;
	if (memchr(s, '\0', len) != NULL) {
		fprintf(stderr, "fleetsec: %s: not a text file\n", path);
		return EXIT_REFUSED;
	}
	for (line = s; line != NULL; line = save) {
		char *end;

		lineno++;
		save = strchr(line, '\n');
		if (save != NULL)
			*save++ = '\0';
		end = line + strlen(line);
		while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		if (!fsec_devid_valid(line)) {
			fprintf(stderr, "fleetsec: %s:%zu: '%.64s' is not a valid serial\n", path,
				lineno, line);
			return EXIT_REFUSED;
		}
		if (sv->n >= max || !cli_strv_push(sv, line)) {
			fprintf(stderr, "fleetsec: %s: more than %zu entries\n", path, max);
			return EXIT_REFUSED;
		}
	}
	return 0;
}

int cli_refusal_out(const struct fsec_refusal_rec *r, json_t *arr, bool lines)
{
	char t[32], first[32], *s;
	json_t *o;
	int bad;

	cli_time(r->last_at, t, sizeof(t));
	cli_time(r->first_at, first, sizeof(first));
	if (arr == NULL && !lines)
		return printf("%-6s %s  %-16s %-24s %s  %s (x%llu since %s%s%s)\n", "-", t,
			      "enroll-refused", r->device_id[0] != '\0' ? r->device_id : "-",
			      "fleetsecd", r->detail, (unsigned long long)r->count, first,
			      r->source[0] != '\0' ? ", last from " : "", r->source) < 0;
	o = json_pack("{s:n, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "seq",
		      "at", t, "actor", "fleetsecd", "kind", "enroll-refused", "action",
		      "enroll-refused", "device", r->device_id, "detail", r->detail, "count",
		      (json_int_t)(r->count > INT64_MAX ? INT64_MAX : r->count), "first", first,
		      "last", t, "credential", r->credential, "reason", r->reason, "source",
		      r->source);
	if (o == NULL)
		return 1;
	if (arr != NULL)
		return json_array_append_new(arr, o) != 0;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	bad = s == NULL || printf("%s\n", s) < 0;
	free(s);
	return bad;
}
