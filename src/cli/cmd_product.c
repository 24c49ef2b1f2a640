/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fleet.h"
#include "fleetsec/key.h"
#include "fleetsec/product.h"
#include "fleetsec/release.h"

static int parse_date(const struct cli_cmd *self, const char *name, const char *s, int64_t *out)
{
	if (fsec_date_parse(s, out) != FSEC_OK)
		return cli_usage_error(self, "%s must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, not '%s'",
				       name, s);
	return 0;
}

/* The release a signed bundle publishes for model, checked the way a device
 * checks it (root signature, delegation, expiry): its version and security
 * counter become the product's current release. */
static int release_from_bundle(const char *bundle, const char *root, const char *model,
			       char *version, size_t vcap, int64_t *counter)
{
	struct fsec_release_policy pol = {.model = model, .nroots = 1};
	const struct fsec_release_entry *e;
	struct fsec_release *r = NULL;
	unsigned char *buf = NULL;
	EVP_PKEY *key = NULL;
	size_t len = 0;
	enum fsec_err rc;
	int status;

	if ((rc = fsec_key_load_public(root, &key)) != FSEC_OK)
		return cli_fail(root, rc);
	pol.roots = &key;
	if ((rc = fsec_file_read(bundle, FSEC_RELEASE_MAX, &buf, &len)) != FSEC_OK ||
	    (rc = fsec_release_verify(buf, len, &pol, &r)) != FSEC_OK) {
		status = cli_fail(bundle, rc);
	} else {
		e = fsec_release_entry(r);
		fsec_fw_version_str(&e->version, version, vcap);
		*counter = e->security_counter;
		status = 0;
	}
	fsec_release_free(r);
	free(buf);
	EVP_PKEY_free(key);
	return status;
}

static int product_set(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"support-until", required_argument, NULL, 'u'},
		{"security-contact", required_argument, NULL, 'c'},
		{"manufacturer", required_argument, NULL, 'm'},
		{"release", required_argument, NULL, 'r'},
		{"security-counter", required_argument, NULL, 's'},
		{"release-bundle", required_argument, NULL, 'b'},
		{"release-root", required_argument, NULL, 'R'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_product_update u = {.support_until = -1, .release_counter = -1,
					.actor = cli_actor()};
	const char *bundle = NULL, *root = NULL;
	char version[FSEC_VERSION_MAX + 1];
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	int opt, status = EXIT_REFUSED;
	enum fsec_err rc;
	uint64_t v;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'u':
			if ((status = parse_date(self, "--support-until", optarg, &u.support_until)) != 0)
				return status;
			break;
		case 'c': u.security_contact = optarg; break;
		case 'm': u.manufacturer = optarg; break;
		case 'r': u.release_version = optarg; break;
		case 's':
			if (!cli_uint(self, "--security-counter", optarg, 0, UINT32_MAX, &v))
				return EXIT_USAGE;
			u.release_counter = (int64_t)v;
			break;
		case 'b': bundle = optarg; break;
		case 'R': root = optarg; break;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one MODEL");
	u.model = argv[optind];
	if ((bundle == NULL) != (root == NULL))
		return cli_usage_error(self, "--release-bundle and --release-root go together");
	if (bundle != NULL && (u.release_version != NULL || u.release_counter >= 0))
		return cli_usage_error(self, "give --release-bundle or --release/--security-counter");
	if (bundle != NULL) {
		if ((status = release_from_bundle(bundle, root, u.model, version, sizeof(version),
						  &u.release_counter)) != 0)
			return status;
		u.release_version = version;
	}
	if ((status = cli_open_fleet(&c, &f)) != 0)
		return status;
	rc = fsec_product_set(fsec_fleet_get_registry(f), &u);
	status = rc == FSEC_OK ? 0 : cli_fail(u.model, rc);
	fsec_fleet_free(f);
	return status;
}

struct list_ctx {
	bool json;
	json_t *list;
};

static int print_product(const struct fsec_product_rec *p, void *arg)
{
	struct list_ctx *l = arg;
	char t1[32];

	if (l->json) {
		json_array_append_new(
			l->list,
			json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "model", p->model, "manufacturer",
				  p->manufacturer, "support_until", cli_time(p->support_until, t1, sizeof(t1)),
				  "security_contact", p->security_contact, "release_version",
				  p->release_version, "release_security_counter",
				  (json_int_t)p->release_counter));
		return 0;
	}
	printf("%-20s %-16s %-21s %-10s %s\n", p->model,
	       p->manufacturer[0] != '\0' ? p->manufacturer : "-",
	       cli_time(p->support_until, t1, sizeof(t1)),
	       p->release_version[0] != '\0' ? p->release_version : "-",
	       p->security_contact[0] != '\0' ? p->security_contact : "-");
	return 0;
}

static int product_list(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	struct list_ctx l = {0};
	int opt, status = EXIT_REFUSED;
	enum fsec_err rc;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		;
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if ((status = cli_open_fleet(&c, &f)) != 0)
		return status;
	l.json = c.json;
	l.list = c.json ? json_array() : NULL;
	if (!c.json)
		printf("%-20s %-16s %-21s %-10s %s\n", "MODEL", "MANUFACTURER", "SUPPORT UNTIL",
		       "RELEASE", "SECURITY CONTACT");
	rc = fsec_registry_product_list(fsec_fleet_get_registry(f), print_product, &l);
	if (rc != FSEC_OK) {
		json_decref(l.list);
		status = cli_fail("product list", rc);
	} else {
		status = c.json ? cli_print_json(l.list) : 0;
	}
	fsec_fleet_free(f);
	return status;
}

static int product_security_txt(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"expires", required_argument, NULL, 'e'},
		{"canonical", required_argument, NULL, 'c'},
		{"policy", required_argument, NULL, 'p'},
		{"languages", required_argument, NULL, 'l'},
		{"out", required_argument, NULL, 'o'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_sectxt_opts o = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	const char *out = NULL, *expires = "180d";
	char *text = NULL;
	int opt, status = EXIT_REFUSED;
	int64_t secs;
	enum fsec_err rc;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'e': expires = optarg; break;
		case 'c': o.canonical = optarg; break;
		case 'p': o.policy = optarg; break;
		case 'l': o.languages = optarg; break;
		case 'o': out = optarg; break;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	/* RFC 9116 2.5.5: less than a year ahead is recommended. */
	if (fsec_duration_parse(expires, &secs) != FSEC_OK || secs <= 0 || secs > 366 * 86400)
		return cli_usage_error(self, "--expires must be a duration up to 366d (e.g. 180d)");
	o.expires = (int64_t)time(NULL) + secs;
	if ((status = cli_open_fleet(&c, &f)) != 0)
		return status;
	rc = fsec_product_security_txt(fsec_fleet_get_registry(f), &o, &text);
	if (rc != FSEC_OK)
		status = cli_fail("security.txt", rc);
	else
		status = cli_emit(out, text, strlen(text));
	free(text);
	fsec_fleet_free(f);
	return status;
}

const struct cli_cmd cli_product_cmds[] = {
	{"product", "set", product_set, "record a product's support end, contact and release",
	 "MODEL [--support-until DATE] [--security-contact URI] [--manufacturer NAME]\n"
	 "       [--release VERSION --security-counter N |\n"
	 "        --release-bundle RELEASE.json --release-root ROOT.pub] [--home DIR]\n\n"
	 "Creates or updates the product record of a device model. DATE is YYYY-MM-DD\n"
	 "(support includes that day) or YYYY-MM-DDTHH:MM:SSZ. URI is a mailto:, https://\n"
	 "or tel: URI, published by 'product security-txt'. --release and\n"
	 "--security-counter record the model's current release; or take both from the\n"
	 "signed bundle published with 'fleetsec release sign', verified against the\n"
	 "release root key as a device would. 'audit fleet' reports devices below it.\n"},
	{"product", "list", product_list, "list products", "[--home DIR] [--json]\n"},
	{"product", "security-txt", product_security_txt, "write an RFC 9116 security.txt",
	 "[--expires 180d] [--canonical URI] [--policy URI] [--languages TAGS]\n"
	 "       [--out FILE] [--home DIR]\n\n"
	 "Lists every distinct product security contact as a Contact field, with Expires\n"
	 "(default 180 days ahead, at most 366d), and the optional Canonical, Policy\n"
	 "and Preferred-Languages fields. Serve it at /.well-known/security.txt.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
