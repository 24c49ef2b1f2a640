/* SPDX-License-Identifier: Apache-2.0 */
/* The fleetsec CLI: argument parsing and printing only; libfleetsec does the
 * work. Exit status: 0 success, 1 refused or failed, 2 usage. */
#ifndef FLEETSEC_CLI_H
#define FLEETSEC_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "fleetsec/cmdline.h"
#include "fleetsec/common.h"

struct fsec_fleet;

/* The statuses every program shares (fleetsec/cmdline.h), by their old names. */
#define EXIT_REFUSED FSEC_EXIT_REFUSED
#define EXIT_USAGE FSEC_EXIT_USAGE

struct cli_cmd {
	const char *area;
	const char *verb; /* NULL: the area is the command */
	int (*fn)(int argc, char **argv, const struct cli_cmd *self);
	const char *summary;
	const char *usage; /* full --help text after the "usage:" line */
};

/* Options every command takes. */
struct cli_common {
	const char *home;
	bool json;
	const char *registry_ro; /* --registry-readonly URL (read-only commands) */
};

/* Print "fleetsec: <what>: <reason>" on stderr, the reason being the
 * library's detail (or fsec_strerror), and return EXIT_REFUSED. */
int cli_fail(const char *what, enum fsec_err rc);

/* 0 if model (from --model or an argument) obeys the one name rule
 * (names.h); else print "fleetsec: --model: invalid model '...'" (the
 * model escaped) and return EXIT_REFUSED. */
int cli_model(const char *model);

/* Print a usage error and a pointer to --help; return EXIT_USAGE. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print cmd's full help on stdout; return 0. */
int cli_help(const struct cli_cmd *cmd);

/*
 * getopt_long for commands: handles the options every command shares
 * (--home, --json, --help) and bad options itself. Returns the next
 * command-specific option, 0 when options end, or -1 when the command must
 * return *status now (after --help, or a usage error).
 */
int cli_next_opt(int argc, char **argv, const struct option *longopts, const struct cli_cmd *cmd,
		 struct cli_common *c, int *status);

/* For a command with only the common options and npos positional arguments
 * (what names them for the usage error): returns CLI_GO_ON, with the first
 * at argv[optind], or the status to return now (0 after --help, or a usage
 * error). */
#define CLI_GO_ON (-1)
int cli_common_only(int argc, char **argv, const struct cli_cmd *cmd, struct cli_common *c,
		    int npos, const char *what);

/* The long options every command accepts, to append to a command's table. */
#define CLI_COMMON_LONGOPTS                                                                   \
	{"home", required_argument, NULL, 'H'}, {"json", no_argument, NULL, 'J'},           \
		{"help", no_argument, NULL, 'h'}

/* --registry-readonly URL, for the commands that only read: they then read
 * a standby of the fleet's PostgreSQL registry (cli_open_fleet). A command
 * that writes does not list it, so getopt refuses it there. */
#define CLI_OPT_STANDBY 0x100 /* above every char a command's own options use */
#define CLI_STANDBY_LONGOPT {"registry-readonly", required_argument, NULL, CLI_OPT_STANDBY}
#define CLI_STANDBY_USAGE                                                                      \
	"  --registry-readonly URL  read a read-only standby of the fleet's PostgreSQL\n"       \
	"                           registry (postgresql://...) instead of the primary\n"

/* Open the fleet of the common options (on the standby of
 * --registry-readonly, if given), or print why not and return
 * EXIT_REFUSED. */
int cli_open_fleet(const struct cli_common *c, struct fsec_fleet **f);

/* The home directory: --home, else fsec_home_default ($FLEETSEC_HOME, else
 * ~/.fleetsec), as fleetsecd finds it. The returned string is static or
 * from the arguments; do not free. */
const char *cli_home(const struct cli_common *c);

/* Parse a decimal integer in [min, max] (min >= 0) for option name, with the
 * one number grammar of fleetsec/text.h: digits only, no sign or blanks. On
 * failure print a usage error and return false. */
bool cli_int(const struct cli_cmd *cmd, const char *name, const char *s, long min, long max,
	     long *out);

/* Parse an unsigned number in [min, max], decimal or 0x-prefixed hex (as
 * imgtool takes sizes). On failure print a usage error and return false. */
bool cli_uint(const struct cli_cmd *cmd, const char *name, const char *s, uint64_t min,
	      uint64_t max, uint64_t *out);

/* Who is running the command, for the event log ("user(uid)"). */
const char *cli_actor(void);

/* Print a JSON value on stdout (indented, newline) and free it. Returns 0,
 * or EXIT_REFUSED if it could not be encoded. */
int cli_print_json(json_t *v);

/* Write len bytes to path atomically (0644), or to stdout when path is
 * NULL. Returns 0, or prints why and returns EXIT_REFUSED. */
int cli_emit(const char *path, const void *data, size_t len);

/* Format a UNIX time as ISO 8601 UTC into buf (at least 21 bytes). */
const char *cli_time(int64_t t, char *buf, size_t cap);

struct fsec_refusal_rec;
/* A refusal row as an "enroll-refused" entry of the log, with its count
 * (fleetsec events, fleetsec registry events): appended to arr if not
 * NULL, else one compact JSON line if lines, else a text line. JSON: seq
 * null, at (the last), actor, kind, action, device, detail, count, first,
 * last, credential, reason, source. Returns non-zero if it could not be
 * encoded or written. */
int cli_refusal_out(const struct fsec_refusal_rec *r, json_t *arr, bool lines);

/* A growable list of borrowed strings (IDs, patterns). */
struct cli_strv {
	const char **v;
	size_t n, cap;
};

/* Append s (borrowed); false when out of memory. */
bool cli_strv_push(struct cli_strv *sv, const char *s);

/* Read path, a list of device IDs or serials, one per line (blank lines and
 * # comments skipped, at most 8 MiB and max entries), into sv; the strings
 * point into *buf, which the caller frees. Each must be a valid device ID:
 * a typo would otherwise act on nothing, silently. Returns 0, or prints one
 * line naming the file (and line) and returns EXIT_REFUSED. */
int cli_read_ids(const char *path, size_t max, unsigned char **buf, struct cli_strv *sv);

/* Progress of a long batch (progress.c): a bar on stderr when it is a
 * terminal, else with json one JSON line per percent on stderr
 * ({"progress": what, "done": N, "total": M}), else nothing. */
struct cli_progress {
	const char *what;
	bool tty, json;
	int64_t last_ms;
	int last_pct;
};

void cli_progress_init(struct cli_progress *p, const char *what, bool json);

/* done of total items are through (1 <= done <= total); the last call has
 * done == total. */
void cli_progress_step(struct cli_progress *p, size_t done, size_t total);



/* device issue --batch (cmd_batch.c), reached from device issue. */
int cli_device_issue_batch(int argc, char **argv, const struct cli_cmd *self);

/* Each area file exports its commands, terminated by an entry with area NULL. */
extern const struct cli_cmd cli_ca_cmds[];
extern const struct cli_cmd cli_device_cmds[];
extern const struct cli_cmd cli_inventory_cmds[];
extern const struct cli_cmd cli_fw_cmds[];
extern const struct cli_cmd cli_release_cmds[];
extern const struct cli_cmd cli_mfr_cmds[];
extern const struct cli_cmd cli_enroll_cmds[];
extern const struct cli_cmd cli_product_cmds[];
extern const struct cli_cmd cli_audit_cmds[];
extern const struct cli_cmd cli_net_cmds[];
extern const struct cli_cmd cli_mqtt_cmds[];
extern const struct cli_cmd cli_privacy_cmds[];
extern const struct cli_cmd cli_registry_cmds[];
extern const struct cli_cmd cli_backup_cmds[];
#endif
