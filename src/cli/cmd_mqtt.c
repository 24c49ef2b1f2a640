/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsec mqtt: a hardened mosquitto.conf with the fleetsec plugin, and
 * the topic policy's decision for one device, explained. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fleetsec/fleet.h"
#include "fleetsec/mqtt.h"
#include "fleetsec/names.h"
#include "fleetsec/privacy.h"
#include "fleetsec/registry.h"

#ifndef FSEC_MOSQUITTO_PLUGIN_REL
#define FSEC_MOSQUITTO_PLUGIN_REL "lib/fleetsec/fleetsec_mosquitto.so"
#endif

/* The installed plugin: PREFIX/LIBDIR/fleetsec/ for the PREFIX/bin this
 * fleetsec runs from. */
static int default_plugin(char out[PATH_MAX])
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0) {
		fprintf(stderr, "fleetsec: cannot find this program's path: give --plugin\n");
		return EXIT_REFUSED;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL || slash == exe) {
		fprintf(stderr, "fleetsec: cannot find this program's prefix: give --plugin\n");
		return EXIT_REFUSED;
	}
	*slash = '\0';
	if (snprintf(out, PATH_MAX, "%s/../%s", exe, FSEC_MOSQUITTO_PLUGIN_REL) >= PATH_MAX) {
		fprintf(stderr, "fleetsec: the plugin's path is too long: give --plugin\n");
		return EXIT_REFUSED;
	}
	return 0;
}

/* The user the broker runs as, with its groups: what it may read is judged
 * by the same rules as the kernel's, from the modes. */
struct broker_user {
	const char *name;
	uid_t uid;
	gid_t groups[64];
	int ngroups;
};

static int user_lookup(const char *name, struct broker_user *u)
{
	struct passwd *pw = getpwnam(name);

	if (pw == NULL) {
		fprintf(stderr, "fleetsec: --user %s: no such user on this machine\n", name);
		return EXIT_REFUSED;
	}
	u->name = name;
	u->uid = pw->pw_uid;
	u->ngroups = (int)(sizeof(u->groups) / sizeof(u->groups[0]));
	if (getgrouplist(name, pw->pw_gid, u->groups, &u->ngroups) < 0) {
		fprintf(stderr, "fleetsec: --user %s: in too many groups\n", name);
		return EXIT_REFUSED;
	}
	return 0;
}

/* May u do what (S_IROTH-style bits: 4 read, 1 search) on st? */
static bool user_may(const struct broker_user *u, const struct stat *st, unsigned what)
{
	if (u->uid == 0)
		return true;
	if (st->st_uid == u->uid)
		return ((st->st_mode >> 6) & what) == what;
	for (int i = 0; i < u->ngroups; i++)
		if (st->st_gid == u->groups[i])
			return ((st->st_mode >> 3) & what) == what;
	return (st->st_mode & what) == what;
}

/* The broker user must reach path (search every directory above it) and
 * read it: else mosquitto, after dropping to that user, fails at start. */
static int check_readable(const struct broker_user *u, const char *path, const char *what)
{
	char dir[PATH_MAX];
	struct stat st;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "fleetsec: %s %s: %s\n", what, path, strerror(errno));
		return EXIT_REFUSED;
	}
	if (!user_may(u, &st, 4)) {
		fprintf(stderr,
			"fleetsec: %s %s: not readable by the broker's user %s (give it group "
			"%s read access)\n",
			what, path, u->name, u->name);
		return EXIT_REFUSED;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *slash = strrchr(dir, '/'); slash != NULL && slash != dir;
	     slash = strrchr(dir, '/')) {
		*slash = '\0';
		if (stat(dir, &st) != 0 || !user_may(u, &st, 1)) {
			fprintf(stderr,
				"fleetsec: %s %s: the broker's user %s cannot enter %s (chgrp %s "
				"%s; chmod g+x %s)\n",
				what, path, u->name, dir, u->name, dir, dir);
			return EXIT_REFUSED;
		}
	}
	return 0;
}

/* An absolute path for the configuration (mosquitto runs from anywhere). */
static int absolute(const char *path, const char *what, char out[PATH_MAX])
{
	if (realpath(path, out) == NULL) {
		fprintf(stderr, "fleetsec: %s %s: %s\n", what, path, strerror(errno));
		return EXIT_REFUSED;
	}
	if (strpbrk(out, "\n\r") != NULL) {
		fprintf(stderr, "fleetsec: %s: a path with a line break\n", what);
		return EXIT_REFUSED;
	}
	return 0;
}

/* The metrics file's absolute path: its directory must exist (the file
 * need not yet). */
static int metrics_path(const char *path, char out[PATH_MAX])
{
	char dir[PATH_MAX], abs_dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base = slash != NULL ? slash + 1 : path;

	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		fprintf(stderr, "fleetsec: --privacy-metrics %s: not a file name\n", path);
		return EXIT_REFUSED;
	}
	if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if (slash != NULL)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		snprintf(dir, sizeof(dir), ".");
	if (absolute(dir, "--privacy-metrics", abs_dir) != 0)
		return EXIT_REFUSED;
	if (snprintf(out, PATH_MAX, "%s/%s", strcmp(abs_dir, "/") == 0 ? "" : abs_dir, base) >=
		    PATH_MAX ||
	    strpbrk(out, "\n\r") != NULL) {
		fprintf(stderr, "fleetsec: --privacy-metrics %s: path too long\n", path);
		return EXIT_REFUSED;
	}
	return 0;
}

/* The broker user must create files in path's directory (it writes the
 * metrics file by renaming a temporary one into place). */
static int check_writable_dir(const struct broker_user *u, const char *path, const char *what)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	if (stat(dir, &st) != 0 || !user_may(u, &st, 3)) {
		fprintf(stderr,
			"fleetsec: %s %s: the broker's user %s cannot create files in %s\n", what,
			path, u->name, dir);
		return EXIT_REFUSED;
	}
	return 0;
}

static int mqtt_config(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"listener", required_argument, NULL, 'l'}, {"bind", required_argument, NULL, 'b'},
		{"cert", required_argument, NULL, 'c'},     {"key", required_argument, NULL, 'k'},
		{"acl", required_argument, NULL, 'a'},      {"user", required_argument, NULL, 'u'},
		{"plugin", required_argument, NULL, 'p'},   {"crlfile", no_argument, NULL, 'C'},
		{"out", required_argument, NULL, 'o'},      {"privacy", required_argument, NULL, 'P'},
		{"privacy-metrics", required_argument, NULL, 'M'},
		{"control-topic", required_argument, NULL, 'T'}, CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0}};
	struct cli_common c = {0};
	struct broker_user u;
	struct fsec_mqtt_policy *pol = NULL;
	const char *cert = NULL, *key = NULL, *acl = NULL, *user = "mosquitto", *out = NULL;
	const char *plugin = NULL, *bind = NULL, *privacy = NULL, *metrics = NULL, *control = NULL;
	char installed[PATH_MAX], home[PATH_MAX], p_cert[PATH_MAX], p_key[PATH_MAX], p_acl[PATH_MAX],
		p_plugin[PATH_MAX], chain[PATH_MAX + 16], crl[PATH_MAX + 16], reg[PATH_MAX + 16],
		p_privacy[PATH_MAX], p_metrics[PATH_MAX];
	struct fsec_privacy_policy *priv = NULL;
	struct fsec_fleet *f = NULL;
	char *text = NULL, *loc = NULL;
	size_t len = 0;
	long port = -1;
	bool crlfile = false, sqlite;
	FILE *fp = NULL;
	int opt, status = EXIT_REFUSED;
	enum fsec_err rc;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'l':
			if (!cli_int(self, "--listener", optarg, 1, 65535, &port))
				return EXIT_USAGE;
			break;
		case 'b':
			bind = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'a':
			acl = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'p':
			plugin = optarg;
			break;
		case 'C':
			crlfile = true;
			break;
		case 'o':
			out = optarg;
			break;
		case 'P':
			privacy = optarg;
			break;
		case 'M':
			metrics = optarg;
			break;
		case 'T':
			control = optarg;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (port < 0 || cert == NULL || key == NULL)
		return cli_usage_error(self, "--listener, --cert and --key are required");
	if (metrics != NULL && privacy == NULL)
		return cli_usage_error(self, "--privacy-metrics needs --privacy");
	if (control != NULL && fsec_mqtt_control_topic_check(control) != FSEC_OK)
		return cli_usage_error(self, "--control-topic: %s", fsec_err_detail());
	if (bind != NULL && (bind[0] == '\0' || strpbrk(bind, " \t\n\r#") != NULL))
		return cli_usage_error(self, "--bind: not an address: '%s'", bind);
	if ((status = user_lookup(user, &u)) != 0)
		return status;
	if (plugin == NULL) {
		if ((status = default_plugin(installed)) != 0)
			return status;
		plugin = installed;
	}
	status = EXIT_REFUSED;
	if (absolute(cli_home(&c), "home", home) || absolute(cert, "--cert", p_cert) ||
	    absolute(key, "--key", p_key) || absolute(plugin, "--plugin", p_plugin) ||
	    (acl != NULL && absolute(acl, "--acl", p_acl)) ||
	    (privacy != NULL && absolute(privacy, "--privacy", p_privacy)) ||
	    (metrics != NULL && metrics_path(metrics, p_metrics)))
		return EXIT_REFUSED;
	/* A policy that does not parse would stop the broker at start. */
	if ((rc = fsec_mqtt_policy_load(acl != NULL ? p_acl : NULL, &pol)) != FSEC_OK)
		return cli_fail("--acl", rc);
	fsec_mqtt_policy_free(pol);
	if (privacy != NULL && (rc = fsec_privacy_load(p_privacy, &priv)) != FSEC_OK)
		return cli_fail("--privacy", rc);
	fsec_privacy_free(priv);
	snprintf(chain, sizeof(chain), "%s/chain.pem", home);
	snprintf(crl, sizeof(crl), "%s/crl.pem", home);
	/* The broker's user must read a SQLite registry file; a PostgreSQL one
	 * it reaches through libpq (PG* variables or a service file in the
	 * broker's environment), which no file check here can judge. */
	if ((rc = fsec_fleet_open_readonly(home, &f)) != FSEC_OK)
		return cli_fail(home, rc);
	rc = fsec_fleet_get_registry_location(f, &loc);
	fsec_fleet_free(f);
	if (rc != FSEC_OK)
		return cli_fail(home, rc);
	sqlite = strncmp(loc, "sqlite:", 7) == 0;
	free(loc);
	snprintf(reg, sizeof(reg), "%s/registry.db", home);
	if (check_readable(&u, chain, "fleet chain") ||
	    (sqlite && check_readable(&u, reg, "registry")) ||
	    check_readable(&u, p_cert, "--cert") || check_readable(&u, p_key, "--key") ||
	    check_readable(&u, p_plugin, "--plugin") ||
	    (acl != NULL && check_readable(&u, p_acl, "--acl")) ||
	    (privacy != NULL && check_readable(&u, p_privacy, "--privacy")) ||
	    (metrics != NULL && check_writable_dir(&u, p_metrics, "--privacy-metrics")) ||
	    (crlfile && check_readable(&u, crl, "CRL")))
		return EXIT_REFUSED;
	fp = open_memstream(&text, &len);
	if (fp == NULL)
		return cli_fail("mosquitto.conf", FSEC_ERR_NOMEM);
	fprintf(fp,
		"# mosquitto.conf from 'fleetsec mqtt config' (fleetsec %s).\n"
		"# Devices connect with their fleet certificates over TLS only; the fleetsec\n"
		"# plugin admits a device only while the registry holds that certificate as\n"
		"# its current one (and drops it within a poll when that changes), names the\n"
		"# session by the device ID and applies the topic policy.\n"
		"# Ticks reach plugins only with per_listener_settings false (Mosquitto 2.0).\n"
		"per_listener_settings false\n"
		"allow_anonymous false\n"
		"# Without it a CONNACK waits ~40 ms behind Nagle and delayed ACKs.\n"
		"set_tcp_nodelay true\n"
		"user %s\n\n"
		"listener %ld%s%s\n"
		"protocol mqtt\n"
		"cafile %s\n"
		"certfile %s\n"
		"keyfile %s\n"
		"require_certificate true\n"
		"# Never use_identity_as_username: Mosquitto then skips the plugin's\n"
		"# authentication, and a revoked device would still connect.\n"
		"use_identity_as_username false\n"
		"tls_version tlsv1.2\n",
		FSEC_VERSION_STR, user, port, bind != NULL ? " " : "", bind != NULL ? bind : "",
		chain, p_cert, p_key);
	if (crlfile)
		fprintf(fp,
			"# The CRL is read at start and on SIGHUP only: send the broker a SIGHUP\n"
			"# after each CRL refresh, or it refuses every device once this one lapses.\n"
			"crlfile %s\n",
			crl);
	fprintf(fp, "\nplugin %s\nplugin_opt_home %s\n", p_plugin, home);
	if (acl != NULL)
		fprintf(fp, "plugin_opt_acl %s\n", p_acl);
	if (privacy != NULL)
		fprintf(fp,
			"# Each device message is filtered by the privacy policy before any\n"
			"# subscriber or the retained store sees it.\n"
			"plugin_opt_privacy %s\n",
			p_privacy);
	if (metrics != NULL)
		fprintf(fp, "plugin_opt_privacy_metrics %s\n", p_metrics);
	if (control != NULL)
		fprintf(fp,
			"# Backend and operator clients (fleetsec ca client-cert) publish\n"
			"# 'kick DEVICE-ID' here; devices may not.\n"
			"plugin_opt_control_topic %s\n",
			control);
	if (fclose(fp) != 0) {
		free(text);
		return cli_fail("mosquitto.conf", FSEC_ERR_NOMEM);
	}
	if (c.json)
		status = cli_print_json(json_pack("{s:s, s:s?, s:s, s:I}", "config", text, "out",
						  out, "user", user, "listener", (json_int_t)port));
	if (!c.json || out != NULL)
		status = cli_emit(out, text, len);
	free(text);
	return status;
}

static int mqtt_explain(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {{"acl", required_argument, NULL, 'a'},
						 CLI_COMMON_LONGOPTS,
						 {NULL, 0, NULL, 0}};
	struct cli_common c = {0};
	struct fsec_mqtt_broker *b = NULL;
	struct fsec_mqtt_explain ex;
	enum fsec_mqtt_access access;
	const char *acl = NULL, *id, *verb, *topic;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		if (opt == 'a')
			acl = optarg;
	if (opt < 0)
		return status;
	if (optind + 3 != argc)
		return cli_usage_error(self, "expected DEVICE|ROLE:NAME publish|subscribe TOPIC");
	id = argv[optind];
	verb = argv[optind + 1];
	topic = argv[optind + 2];
	if (strcmp(verb, "publish") == 0)
		access = FSEC_MQTT_PUBLISH;
	else if (strcmp(verb, "subscribe") == 0)
		access = FSEC_MQTT_SUBSCRIBE;
	else
		return cli_usage_error(self, "'%s': expected publish or subscribe", verb);
	/* The broker's own objects and rules: the plugin's connect check (a
	 * revoked, superseded or tampered device is refused) and its policy. */
	if ((rc = fsec_mqtt_broker_new(cli_home(&c), acl, &b)) != FSEC_OK)
		return cli_fail(acl != NULL ? acl : cli_home(&c), rc);
	if ((rc = fsec_mqtt_broker_explain(b, id, access, topic, &ex)) != FSEC_OK) {
		status = cli_fail(id, rc);
		goto out;
	}
	if (c.json)
		status = cli_print_json(json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?}", "verdict",
			ex.allow ? "allow" : "deny", "device", id, "model", ex.model, "group", ex.group,
			"access", verb, "topic", topic, "rule", ex.why.rule, "refused",
			ex.admitted ? NULL : ex.refused));
	else {
		printf("%s  %s\n", ex.allow ? "allow" : "deny", ex.why.rule);
		if (!ex.admitted)
			printf("      the broker refuses %s at connect: %s\n",
			       strchr(id, ':') != NULL ? "the client" : "the device", ex.refused);
		status = 0;
	}
out:
	fsec_mqtt_broker_free(b);
	return status;
}

/* HOST:PORT or [V6]:PORT into host (brackets removed) and port. */
static bool broker_addr(const char *s, char *host, size_t cap, long *port)
{
	const char *colon = strrchr(s, ':');
	size_t n;
	char *end;

	if (colon == NULL || colon == s || colon[1] < '0' || colon[1] > '9')
		return false;
	n = (size_t)(colon - s);
	if (s[0] == '[' && n >= 2 && s[n - 1] == ']') {
		s++;
		n -= 2;
	} else if (memchr(s, ':', n) != NULL) {
		return false; /* an IPv6 address goes in brackets */
	}
	if (n == 0 || n >= cap || memchr(s, '[', n) != NULL || memchr(s, ']', n) != NULL)
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	errno = 0;
	*port = strtol(colon + 1, &end, 10);
	return errno == 0 && end != colon + 1 && *end == '\0' && *port >= 1 && *port <= 65535;
}

static int mqtt_kick(int argc, char **argv, const struct cli_cmd *self)
{
	enum { MAX_BROKERS = 16 };
	static const struct option longopts[] = {
		{"broker", required_argument, NULL, 'b'},   {"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},      {"cafile", required_argument, NULL, 'A'},
		{"crl", required_argument, NULL, 'C'},      {"control-topic", required_argument, NULL, 'T'},
		{"timeout", required_argument, NULL, 't'}, CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0}};
	struct cli_common c = {0};
	struct fsec_mqtt_kick_opts o = {.topic = "$CONTROL/fleetsec/v1", .timeout_ms = 10000};
	const char *brokers[MAX_BROKERS], *device;
	char host[256], chain[PATH_MAX + 16], crl[PATH_MAX + 16];
	size_t nb = 0, failed = 0;
	json_t *arr = NULL;
	enum fsec_err rc;
	long v;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'b':
			if (nb == MAX_BROKERS)
				return cli_usage_error(self, "at most %d --broker", MAX_BROKERS);
			if (!broker_addr(optarg, host, sizeof(host), &v))
				return cli_usage_error(self, "--broker '%s': expected HOST:PORT",
						       optarg);
			brokers[nb++] = optarg;
			break;
		case 'c':
			o.cert = optarg;
			break;
		case 'k':
			o.key = optarg;
			break;
		case 'A':
			o.cafile = optarg;
			break;
		case 'C':
			o.crl = optarg;
			break;
		case 'T':
			o.topic = optarg;
			break;
		case 't':
			if (!cli_int(self, "--timeout", optarg, 1, 600, &v))
				return EXIT_USAGE;
			o.timeout_ms = (int)v * 1000;
			break;
		default:
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected one DEVICE-ID");
	if (nb == 0 || o.cert == NULL || o.key == NULL)
		return cli_usage_error(self, "--broker, --cert and --key are required");
	device = argv[optind];
	/* What cannot depend on the broker is said once, not once per broker. */
	if ((rc = fsec_devid_check(device)) != FSEC_OK ||
	    (rc = fsec_mqtt_control_topic_check(o.topic)) != FSEC_OK)
		return cli_fail("kick", rc);
	/* The fleet's own trust by default: its chain, and its CRL when it
	 * has one (a revoked broker certificate is refused). */
	if (o.cafile == NULL) {
		snprintf(chain, sizeof(chain), "%s/chain.pem", cli_home(&c));
		o.cafile = chain;
		snprintf(crl, sizeof(crl), "%s/crl.pem", cli_home(&c));
		if (o.crl == NULL && access(crl, F_OK) == 0)
			o.crl = crl;
	}
	if (c.json && (arr = json_array()) == NULL)
		return cli_fail("kick", FSEC_ERR_NOMEM);
	/* Every broker is asked, whatever the others answer: each one that
	 * serves the device must drop it. */
	for (size_t i = 0; i < nb; i++) {
		long port;

		(void)broker_addr(brokers[i], host, sizeof(host), &port);
		o.host = host;
		o.port = (int)port;
		rc = fsec_mqtt_kick(&o, device);
		if (rc != FSEC_OK)
			failed++;
		if (arr != NULL)
			json_array_append_new(
				arr, json_pack("{s:s, s:b, s:s?}", "broker", brokers[i], "ok",
					       rc == FSEC_OK, "error",
					       rc == FSEC_OK ? NULL : fsec_err_detail()));
		else if (rc == FSEC_OK)
			printf("kick %s: accepted by %s\n", device, brokers[i]);
		else
			(void)cli_fail(device, rc);
	}
	if (arr != NULL) {
		status = cli_print_json(json_pack("{s:s, s:s, s:o}", "device", device, "topic",
						  o.topic, "brokers", arr));
		if (status == 0 && failed > 0)
			status = EXIT_REFUSED;
	} else
		status = failed > 0 ? EXIT_REFUSED : 0;
	return status;
}

const struct cli_cmd cli_mqtt_cmds[] = {
	{"mqtt", "config", mqtt_config, "print a hardened mosquitto.conf with the fleetsec plugin",
	 "--listener PORT --cert FILE --key FILE [--acl POLICY] [--privacy POLICY]\n"
	 "       [--privacy-metrics FILE] [--control-topic TOPIC] [--bind ADDR]\n"
	 "       [--user USER] [--plugin PATH] [--crlfile] [--out FILE] [--home DIR] [--json]\n\n"
	 "Print a mosquitto.conf that 'mosquitto -c' runs as it is: one TLS listener on\n"
	 "PORT (all addresses, or ADDR) that requires a client certificate from the\n"
	 "fleet chain (HOME/chain.pem), no anonymous clients and no plaintext listener,\n"
	 "and the fleetsec plugin (fleetsec_mosquitto.so) with the fleet home and the\n"
	 "topic policy (--acl; default: a device may publish to devices/ID/telemetry/#\n"
	 "and devices/ID/status and subscribe to devices/ID/cmd/#). The broker drops to\n"
	 "USER (default mosquitto): every file it reads must be readable by that user,\n"
	 "and the home's directory searchable by it (chgrp USER HOME; chmod 0710 HOME):\n"
	 "this is checked, and a file it cannot read is refused by name. The plugin opens\n"
	 "the registry read-only. --plugin defaults to the one installed with this\n"
	 "fleetsec (PREFIX/lib/fleetsec/fleetsec_mosquitto.so).\n\n"
	 "  --crlfile   also load HOME/crl.pem. Not needed for devices (the plugin checks\n"
	 "              the registry at every connect and drops revoked devices), and\n"
	 "              Mosquitto reads it only at start and on SIGHUP: once the loaded\n"
	 "              CRL lapses, it refuses every device.\n"
	 "  --privacy POLICY   filter every device message with the privacy policy\n"
	 "              (fleetsec privacy check|report; docs/PRIVACY.md): fields it does\n"
	 "              not allow are removed, locations coarsened, numbers rounded,\n"
	 "              retained copies refused or expired, before any subscriber or\n"
	 "              the retained store sees them\n"
	 "  --privacy-metrics FILE   the filter's counters per model (Prometheus text\n"
	 "              format), rewritten by the broker at most once a second\n"
	 "  --control-topic TOPIC   a topic under $CONTROL/ (e.g. $CONTROL/fleetsec/v1)\n"
	 "              where backend and operator clients (ca client-cert) publish\n"
	 "              'kick DEVICE-ID' to disconnect a device at once; devices may not\n"
	 "  --out FILE  write the configuration to FILE (atomically) instead of stdout\n"
	 "--json prints {config, out, user, listener}.\n"},
	{"mqtt", "explain", mqtt_explain, "say whether a device may publish or subscribe, and why",
	 "DEVICE|ROLE:NAME publish|subscribe TOPIC [--acl POLICY] [--home DIR] [--json]\n\n"
	 "Judge TOPIC (a filter, for subscribe) for DEVICE, with its model and group\n"
	 "from the registry, as the broker's plugin does: prints allow or deny and the\n"
	 "rule that allowed it (POLICY:LINE [section] rule), or why nothing did. The\n"
	 "device's current certificate is judged as the plugin judges it at connect: a\n"
	 "revoked, superseded or tampered device is denied whatever the policy says,\n"
	 "and 'refused' says why. DEVICE may also be a role client's ROLE:NAME\n"
	 "(backend:NAME, operator:NAME): judged by the policy's [role ROLE] rules, and\n"
	 "denied unless the registry holds an unrevoked, unexpired certificate of it\n"
	 "(ca client-cert). Exit status 0 for either verdict; 1 if the device, the\n"
	 "role or the policy cannot be read.\n"
	 "--json prints {verdict, device, model, group, access, topic, rule, refused}.\n"},
	{"mqtt", "kick", mqtt_kick, "ask brokers to disconnect a device now (the control topic)",
	 "DEVICE-ID --broker HOST:PORT [--broker HOST:PORT ...] --cert FILE --key FILE\n"
	 "          [--cafile FILE] [--crl FILE] [--control-topic TOPIC] [--timeout SECONDS]\n"
	 "          [--home DIR] [--json]\n\n"
	 "Publish 'kick DEVICE-ID' on each broker's control topic (default\n"
	 "$CONTROL/fleetsec/v1; mqtt config --control-topic), at QoS 1 over MQTT 5 with\n"
	 "TLS, as the backend or operator client whose certificate is --cert (ca\n"
	 "client-cert; its client ID is ROLE:NAME), and wait for the broker's verdict.\n"
	 "Every broker named is asked, whatever the others answer. The broker's\n"
	 "certificate must verify against --cafile (default HOME/chain.pem, and\n"
	 "HOME/crl.pem when there is one; --crl for another CRL) and name HOST.\n"
	 "--key may be a file or an OpenSSL store URI (a TPM key, with the tpm2\n"
	 "provider loaded by OPENSSL_CONF). A kick alone does not keep the device out:\n"
	 "revoke or quarantine it (the plugin then drops it by itself within a poll,\n"
	 "and refuses it at connect); the kick is for brokers that read the registry\n"
	 "rarely, or a session that must go now. Exit status 1 if any broker could not\n"
	 "be reached or refused the kick (its ACL: a topic the role may not publish\n"
	 "to); a device's certificate is refused before any connection. Mosquitto\n"
	 "2.0.11 acknowledges a kick its control handler refused as accepted (its log\n"
	 "says why). --timeout is per broker (default 10); HOST is resolved before it\n"
	 "starts, and only its first address is tried: name brokers by address or by\n"
	 "a name the local resolver answers at once.\n"
	 "--json prints {device, topic, brokers: [{broker, ok, error}]}.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
