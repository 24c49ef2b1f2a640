/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fleetsec/fileio.h"
#include "fleetsec/key.h"
#include "fleetsec/publish.h"
#include "fleetsec/release.h"
#include "fleetsec/rollout.h"
#include "fleetsec/text.h"

/* Write JSON text, with the final newline json_dumps leaves out, to path
 * (atomically) or stdout. */
static int emit(const char *path, const char *text)
{
	size_t n = strlen(text);
	char *line = malloc(n + 2);
	int status;

	if (line == NULL) {
		fputs("fleetsec: out of memory\n", stderr);
		return EXIT_REFUSED;
	}
	memcpy(line, text, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	status = cli_emit(path, line, n + 1);
	free(line);
	return status;
}

static void free_keys(EVP_PKEY **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(keys[i]);
}

/* Load n keys with load (fsec_key_load_public or fsec_key_load_private);
 * on failure print why, free what was loaded, and return EXIT_REFUSED. */
static int load_keys(enum fsec_err (*load)(const char *, EVP_PKEY **), const char *const *paths,
		     size_t n, EVP_PKEY **keys)
{
	for (size_t i = 0; i < n; i++) {
		enum fsec_err rc = load(paths[i], &keys[i]);

		if (rc != FSEC_OK) {
			int status = cli_fail(paths[i], rc);

			free_keys(keys, i);
			return status;
		}
	}
	return 0;
}

static int load_public_keys(const char *const *paths, size_t n, EVP_PKEY **keys)
{
	return load_keys(fsec_key_load_public, paths, n, keys);
}

static int read_input(const char *path, unsigned char **buf, size_t *len)
{
	enum fsec_err rc = fsec_file_read(path, FSEC_RELEASE_MAX, buf, len);

	return rc == FSEC_OK ? 0 : cli_fail(path, rc);
}

static int release_delegate(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"root-key", required_argument, NULL, 'r'},
		{"key", required_argument, NULL, 'k'},
		{"expires", required_argument, NULL, 'e'},
		{"sequence", required_argument, NULL, 's'},
		{"renew", required_argument, NULL, 'n'},
		{"out", required_argument, NULL, 'o'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	EVP_PKEY *root = NULL, *keys[FSEC_RELEASE_MAX_KEYS];
	const char *root_path = NULL, *out = NULL, *renew = NULL;
	const char *key_paths[FSEC_RELEASE_MAX_KEYS];
	struct cli_common c = {0};
	int64_t valid = 365 * 86400, expires;
	uint64_t seq = (uint64_t)time(NULL), old_seq = 0;
	unsigned char *cur = NULL;
	size_t nkeys = 0, loaded = 0, cur_len = 0;
	bool seq_given = false;
	char *json = NULL, until[32];
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'r': root_path = optarg; break;
		case 'o': out = optarg; break;
		case 'n': renew = optarg; break;
		case 'k':
			if (nkeys == FSEC_RELEASE_MAX_KEYS)
				return cli_usage_error(self, "at most %d --key", FSEC_RELEASE_MAX_KEYS);
			key_paths[nkeys++] = optarg;
			break;
		case 'e':
			if (fsec_duration_parse(optarg, &valid) != FSEC_OK)
				return cli_usage_error(self, "%s", fsec_err_detail());
			break;
		case 's':
			if (!cli_uint(self, "--sequence", optarg, 0, (1ULL << 53) - 1, &seq))
				return EXIT_USAGE;
			seq_given = true;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc || root_path == NULL || (renew == NULL) == (nkeys == 0))
		return cli_usage_error(self, "--root-key and either --key (at least one) or --renew "
					     "are required");
	/* --json describes the result; the delegation itself then goes to --out. */
	if (c.json && out == NULL)
		return cli_usage_error(self, "--json needs --out");
	status = EXIT_REFUSED;
	expires = (int64_t)time(NULL) + valid;
	if ((rc = fsec_key_load_private(root_path, &root)) != FSEC_OK) {
		status = cli_fail(root_path, rc);
		goto out;
	}
	if (renew != NULL) {
		if ((status = read_input(renew, &cur, &cur_len)) != 0)
			goto out;
		rc = fsec_release_delegate_renew(root, (const char *)cur, cur_len,
						 seq_given ? seq : 0, expires, &json, &old_seq,
						 &seq);
		if (rc != FSEC_OK) {
			status = cli_fail(renew, rc);
			goto out;
		}
	} else {
		if ((status = load_public_keys(key_paths, nkeys, keys)) != 0)
			goto out;
		loaded = nkeys;
		rc = fsec_release_delegate(root, keys, nkeys, seq, expires, &json);
		if (rc != FSEC_OK) {
			status = cli_fail(root_path, rc);
			goto out;
		}
	}
	if ((status = emit(out, json)) != 0 || !c.json)
		goto out;
	cli_time(expires, until, sizeof(until));
	status = cli_print_json(json_pack("{s:s, s:I, s:o, s:s}", "out", out, "sequence",
					  (json_int_t)seq, "previous_sequence",
					  renew != NULL ? json_integer((json_int_t)old_seq)
							: json_null(),
					  "expires", until));
out:
	free(json);
	free(cur);
	free_keys(keys, loaded);
	EVP_PKEY_free(root);
	return status;
}

static int release_create(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"image", required_argument, NULL, 'i'},
		{"url", required_argument, NULL, 'u'},
		{"chunk-size", required_argument, NULL, 'c'},
		{"expires", required_argument, NULL, 'e'},
		{"sequence", required_argument, NULL, 's'},
		{"percent", required_argument, NULL, 'p'},
		{"in", required_argument, NULL, 'I'},
		{"out", required_argument, NULL, 'o'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_release_create_opts o = {.rollout_percent = -1,
					     .sequence = (uint64_t)time(NULL)};
	const char *urls[FSEC_RELEASE_MAX_URLS], *in = NULL, *out = NULL;
	struct cli_common c = {0};
	unsigned char *base = NULL;
	int64_t valid = 30 * 86400;
	char *json = NULL;
	enum fsec_err rc;
	uint64_t v;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'm': o.model = optarg; break;
		case 'i': o.image = optarg; break;
		case 'I': in = optarg; break;
		case 'o': out = optarg; break;
		case 'u':
			if (o.nurls == FSEC_RELEASE_MAX_URLS)
				return cli_usage_error(self, "at most %d --url", FSEC_RELEASE_MAX_URLS);
			urls[o.nurls++] = optarg;
			break;
		case 'c':
			if (!cli_uint(self, "--chunk-size", optarg, FSEC_RELEASE_CHUNK_MIN,
				      FSEC_RELEASE_CHUNK_MAX, &v))
				return EXIT_USAGE;
			o.chunk_size = (uint32_t)v;
			break;
		case 'e':
			if (fsec_duration_parse(optarg, &valid) != FSEC_OK)
				return cli_usage_error(self, "%s", fsec_err_detail());
			break;
		case 's':
			if (!cli_uint(self, "--sequence", optarg, 0, (1ULL << 53) - 1, &o.sequence))
				return EXIT_USAGE;
			break;
		case 'p':
			if (!cli_uint(self, "--percent", optarg, 0, 100, &v))
				return EXIT_USAGE;
			o.rollout_percent = (int)v;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc || o.model == NULL || o.image == NULL)
		return cli_usage_error(self, "--model and --image are required");
	if ((status = cli_model(o.model)) != 0)
		return status;
	o.urls = urls;
	o.expires = (int64_t)time(NULL) + valid;
	if (in != NULL) {
		if ((status = read_input(in, &base, &o.base_len)) != 0)
			return status;
		o.base = (const char *)base;
	}
	rc = fsec_release_create(&o, &json);
	free(base);
	if (rc != FSEC_OK)
		return cli_fail(o.image, rc);
	status = emit(out, json);
	free(json);
	return status;
}

static int release_sign(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"key", required_argument, NULL, 'k'},
		{"delegation", required_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	const char *key_path = NULL, *deleg = NULL, *out = NULL;
	unsigned char *m = NULL, *d = NULL;
	struct cli_common c = {0};
	size_t mlen = 0, dlen = 0;
	EVP_PKEY *key = NULL;
	char *bundle = NULL;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'k')
			key_path = optarg;
		else if (opt == 'd')
			deleg = optarg;
		else if (opt == 'o')
			out = optarg;
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc || key_path == NULL || deleg == NULL)
		return cli_usage_error(self, "expected --key, --delegation and one MANIFEST");
	if ((status = read_input(argv[optind], &m, &mlen)) != 0 ||
	    (status = read_input(deleg, &d, &dlen)) != 0)
		goto out;
	if ((rc = fsec_key_load_private(key_path, &key)) != FSEC_OK) {
		status = cli_fail(key_path, rc);
		goto out;
	}
	rc = fsec_release_sign((const char *)m, mlen, (const char *)d, dlen, key, &bundle);
	status = rc == FSEC_OK ? emit(out, bundle) : cli_fail(argv[optind], rc);
out:
	free(bundle);
	EVP_PKEY_free(key);
	free(m);
	free(d);
	return status;
}

static int release_verify(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"root", required_argument, NULL, 'r'},
		{"model", required_argument, NULL, 'm'},
		{"last-sequence", required_argument, NULL, 's'},
		{"last-delegation", required_argument, NULL, 'd'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_release_policy pol = {0};
	EVP_PKEY *roots[FSEC_RELEASE_MAX_KEYS];
	const char *root_paths[FSEC_RELEASE_MAX_KEYS];
	struct cli_common c = {0};
	struct fsec_release *r = NULL;
	const struct fsec_release_entry *e;
	unsigned char *buf = NULL;
	size_t len = 0, nroots = 0, loaded = 0;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'r':
			if (nroots == FSEC_RELEASE_MAX_KEYS)
				return cli_usage_error(self, "too many --root");
			root_paths[nroots++] = optarg;
			break;
		case 'm': pol.model = optarg; break;
		case 's':
			if (!cli_uint(self, "--last-sequence", optarg, 0, UINT64_MAX, &pol.last_sequence))
				return EXIT_USAGE;
			break;
		case 'd':
			if (!cli_uint(self, "--last-delegation", optarg, 0, UINT64_MAX,
				      &pol.last_delegation))
				return EXIT_USAGE;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc || nroots == 0 || pol.model == NULL)
		return cli_usage_error(self, "expected --root PUB.pem, --model M and one RELEASE");
	if ((status = cli_model(pol.model)) != 0)
		return status;
	if ((status = load_public_keys(root_paths, nroots, roots)) != 0)
		goto out;
	loaded = nroots;
	pol.roots = roots;
	pol.nroots = nroots;
	if ((status = read_input(argv[optind], &buf, &len)) != 0)
		goto out;
	rc = fsec_release_verify(buf, len, &pol, &r);
	if (rc != FSEC_OK) {
		if (c.json)
			cli_print_json(json_pack("{s:b, s:s}", "valid", 0, "reason", fsec_err_detail()));
		status = cli_fail(argv[optind], rc);
		goto out;
	}
	e = fsec_release_entry(r);
	{
		char ver[32], sha[65], exp[32];

		fsec_hex(e->sha256, 32, sha);
		fsec_fw_version_str(&e->version, ver, sizeof(ver));
		cli_time(fsec_release_expires(r), exp, sizeof(exp));
		if (c.json) {
			json_t *urls = json_array();

			for (size_t i = 0; i < e->nurls; i++)
				json_array_append_new(urls, json_string(e->urls[i]));
			status = cli_print_json(json_pack(
				"{s:b, s:s, s:s, s:I, s:I, s:s, s:o, s:I, s:I, s:I, s:I, s:s, s:s, s:i}",
				"valid", 1, "model", e->model, "version", ver, "security_counter",
				(json_int_t)e->security_counter, "size", (json_int_t)e->size, "sha256", sha,
				"urls", urls, "chunk_size", (json_int_t)e->chunk_size, "chunks",
				(json_int_t)e->nchunks, "sequence", (json_int_t)fsec_release_sequence(r),
				"delegation_sequence", (json_int_t)fsec_release_delegation_sequence(r),
				"expires", exp, "signer", fsec_release_signer(r), "rollout_percent",
				e->rollout_percent));
		} else {
			printf("%s: valid release for %s\n", argv[optind], e->model);
			printf("  version           %s\n  security counter  %u\n", ver,
			       e->security_counter);
			printf("  image             %llu bytes, sha256:%s\n",
			       (unsigned long long)e->size, sha);
			printf("  chunks            %zu x %u bytes\n", e->nchunks, e->chunk_size);
			for (size_t i = 0; i < e->nurls; i++)
				printf("  url               %s\n", e->urls[i]);
			printf("  sequence          %llu (delegation %llu)\n  expires           %s\n",
			       (unsigned long long)fsec_release_sequence(r),
			       (unsigned long long)fsec_release_delegation_sequence(r), exp);
			printf("  signed by         %s\n", fsec_release_signer(r));
			status = 0;
		}
	}
out:
	fsec_release_free(r);
	free(buf);
	free_keys(roots, loaded);
	return status;
}

/* What release timestamp and release refresh share: the model, the online
 * key, its delegation and the release roots devices pin, with a validity. */
struct signing {
	const char *model, *key_path, *deleg;
	const char *root_paths[FSEC_RELEASE_MAX_KEYS];
	size_t nroots, loaded;
	int64_t valid;
	EVP_PKEY *roots[FSEC_RELEASE_MAX_KEYS];
	EVP_PKEY *key;
	unsigned char *delegation;
	size_t delegation_len;
	const char *release, *out; /* timestamp's --release and --out */
};

#define SIGNING_LONGOPTS                                                                       \
	{"model", required_argument, NULL, 'm'}, {"key", required_argument, NULL, 'k'},       \
		{"delegation", required_argument, NULL, 'd'},                                  \
		{"root", required_argument, NULL, 'r'}, {"expires", required_argument, NULL, 'e'}

/* Take opt if it is one of SIGNING_LONGOPTS (or timestamp's --release,
 * --out): 1 if taken, 0 if not, -1 on a usage error (printed; *status set). */
static int signing_opt(struct signing *sg, int opt, const struct cli_cmd *self, int *status)
{
	switch (opt) {
	case 'm': sg->model = optarg; return 1;
	case 'k': sg->key_path = optarg; return 1;
	case 'd': sg->deleg = optarg; return 1;
	case 'R': sg->release = optarg; return 1;
	case 'o': sg->out = optarg; return 1;
	case 'r':
		if (sg->nroots == FSEC_RELEASE_MAX_KEYS) {
			*status = cli_usage_error(self, "too many --root");
			return -1;
		}
		sg->root_paths[sg->nroots++] = optarg;
		return 1;
	case 'e':
		if (fsec_duration_parse(optarg, &sg->valid) != FSEC_OK) {
			*status = cli_usage_error(self, "%s", fsec_err_detail());
			return -1;
		}
		return 1;
	}
	return 0;
}

/* The command line of release timestamp and release refresh: the options,
 * then the roots, the delegation and the key loaded. Returns CLI_GO_ON, or
 * the exit status (printed: --help, a usage error, a file that does not
 * load); signing_cleanup frees what was loaded either way. */
static int signing_args(int argc, char **argv, const struct option *longopts,
			const struct cli_cmd *self, struct cli_common *c, struct signing *sg)
{
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, c, &status)) > 0)
		if (signing_opt(sg, opt, self, &status) < 0)
			return status;
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (sg->model == NULL || sg->key_path == NULL || sg->deleg == NULL || sg->nroots == 0)
		return cli_usage_error(self, "--model, --key, --delegation and --root are required");
	if ((status = cli_model(sg->model)) != 0 ||
	    (status = load_public_keys(sg->root_paths, sg->nroots, sg->roots)) != 0)
		return status;
	sg->loaded = sg->nroots;
	if ((status = read_input(sg->deleg, &sg->delegation, &sg->delegation_len)) != 0)
		return status;
	if ((rc = fsec_key_load_private(sg->key_path, &sg->key)) != FSEC_OK)
		return cli_fail(sg->key_path, rc);
	return CLI_GO_ON;
}

/* Hand the loaded material to a command's options (borrowed from sg). */
static void signing_to(const struct signing *sg, const char **model, EVP_PKEY **key,
		       const char **delegation, size_t *delegation_len, EVP_PKEY *const **roots,
		       size_t *nroots, int64_t *expires)
{
	*model = sg->model;
	*key = sg->key;
	*delegation = (const char *)sg->delegation;
	*delegation_len = sg->delegation_len;
	*roots = sg->roots;
	*nroots = sg->nroots;
	*expires = (int64_t)time(NULL) + sg->valid;
}

static void signing_cleanup(struct signing *sg)
{
	EVP_PKEY_free(sg->key);
	free(sg->delegation);
	free_keys(sg->roots, sg->loaded);
}

/* timestamp: the signed "nothing new" statement fleetsecd serves a model's
 * devices when it has no manifest for them. */
static int release_timestamp(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		SIGNING_LONGOPTS,
		{"release", required_argument, NULL, 'R'},
		{"out", required_argument, NULL, 'o'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	/* A day, as TUF's timestamp role: a replayed statement keeps a device
	 * quiet for at most this long before its silence limit starts. */
	struct signing sg = {.valid = 86400};
	struct fsec_timestamp_opts o = {.actor = cli_actor()};
	unsigned char *rel = NULL;
	char *signed_ts = NULL;
	struct fsec_timestamp_rec rec;
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	char exp[32];
	enum fsec_err rc;
	int status;

	if ((status = signing_args(argc, argv, longopts, self, &c, &sg)) != CLI_GO_ON)
		goto out;
	status = 0;
	signing_to(&sg, &o.model, &o.key, &o.delegation, &o.delegation_len, &o.roots, &o.nroots,
		   &o.expires);
	if (sg.release != NULL) {
		if ((status = read_input(sg.release, &rel, &o.release_len)) != 0)
			goto out;
		o.release = rel;
	}
	if (sg.out != NULL)
		o.bundle_out = &signed_ts;
	/* --release and --out: a statement for a static server, no home. */
	if ((sg.release == NULL || sg.out == NULL) &&
	    (rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK) {
		status = cli_fail(cli_home(&c), rc);
		goto out;
	}
	if ((rc = fsec_publish_timestamp(f, &o, &rec)) != FSEC_OK) {
		status = cli_fail(o.model, rc);
		goto out;
	}
	if (sg.out != NULL && (status = emit(sg.out, signed_ts)) != 0)
		goto out;
	cli_time(rec.expires_at, exp, sizeof(exp));
	if (c.json)
		status = cli_print_json(json_pack("{s:s, s:o, s:s}", "model", rec.model, "latest",
						  rec.latest >= 0 ? json_integer(rec.latest)
								  : json_null(),
						  "expires", exp));
	else if (rec.latest >= 0)
		printf("%s: nothing newer than manifest %lld, signed until %s\n", rec.model,
		       (long long)rec.latest, exp);
	else
		printf("%s: nothing published, signed until %s\n", rec.model, exp);
out:
	fsec_fleet_free(f);
	signing_cleanup(&sg);
	free(rel);
	free(signed_ts);
	return status;
}

static int release_publish(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"bundle", required_argument, NULL, 'b'},
		{"image", required_argument, NULL, 'i'},
		{"root", required_argument, NULL, 'r'},
		{"percent", required_argument, NULL, 'p'},
		{"max-failures", required_argument, NULL, 'f'},
		{"group", required_argument, NULL, 'g'},
		{"phases", required_argument, NULL, 'P'},
		{"advance-after", required_argument, NULL, 'A'},
		{"success-threshold", required_argument, NULL, 'S'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_publish_opts o = {.percent = -1, .max_failures = -1, .max_failures_pct = -1,
				      .advance_after = -1, .success_pct = -1,
				      .actor = cli_actor()};
	EVP_PKEY *roots[FSEC_RELEASE_MAX_KEYS];
	const char *root_paths[FSEC_RELEASE_MAX_KEYS];
	struct fsec_published_rec rec, base;
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	size_t nroots = 0, loaded = 0;
	enum fsec_err rc;
	int opt, status;
	long v;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'm': o.model = optarg; break;
		case 'b': o.bundle = optarg; break;
		case 'g': o.group = optarg; break;
		case 'i': o.image = optarg; break;
		case 'r':
			if (nroots == FSEC_RELEASE_MAX_KEYS)
				return cli_usage_error(self, "too many --root");
			root_paths[nroots++] = optarg;
			break;
		case 'p':
			if (!cli_int(self, "--percent", optarg, 0, 100, &v))
				return EXIT_USAGE;
			o.percent = (int)v;
			break;
		case 'P': o.phases = optarg; break;
		case 'A':
			/* Seconds, or a duration (30m, 12h, 1d). */
			if (strspn(optarg, "0123456789") == strlen(optarg)) {
				if (!cli_int(self, "--advance-after", optarg, 0, 365L * 86400, &v))
					return EXIT_USAGE;
				o.advance_after = v;
			} else if (fsec_duration_parse(optarg, &o.advance_after) != FSEC_OK) {
				return cli_usage_error(self, "--advance-after: %s", fsec_err_detail());
			}
			break;
		case 'S': {
			size_t n = strlen(optarg);
			char num[8];

			if (n < 2 || n >= sizeof(num) || optarg[n - 1] != '%')
				return cli_usage_error(self, "--success-threshold: P%% (0%%-100%%)");
			memcpy(num, optarg, n - 1);
			num[n - 1] = '\0';
			if (!cli_int(self, "--success-threshold", num, 0, 100, &v))
				return EXIT_USAGE;
			o.success_pct = (int)v;
			break;
		}
		case 'f': {
			size_t n = strlen(optarg);
			char num[16];

			/* N devices, or P% of the model's devices. */
			if (n > 1 && n < sizeof(num) && optarg[n - 1] == '%') {
				memcpy(num, optarg, n - 1);
				num[n - 1] = '\0';
				if (!cli_int(self, "--max-failures", num, 1, 100, &v))
					return EXIT_USAGE;
				o.max_failures_pct = (int)v;
			} else {
				if (!cli_int(self, "--max-failures", optarg, 1, 1000000, &v))
					return EXIT_USAGE;
				o.max_failures = (int)v;
			}
			break;
		}
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc || o.model == NULL || o.bundle == NULL || o.image == NULL ||
	    nroots == 0)
		return cli_usage_error(self, "--model, --bundle, --image and --root are required");
	if (o.phases != NULL && (o.percent >= 0 || o.group != NULL))
		return cli_usage_error(self, "--phases replaces --percent and --group");
	if (o.phases == NULL && (o.advance_after >= 0 || o.success_pct >= 0))
		return cli_usage_error(self, "--advance-after and --success-threshold need --phases");
	if ((status = cli_model(o.model)) != 0)
		return status;
	if ((status = load_public_keys(root_paths, nroots, roots)) != 0)
		return status;
	loaded = nroots;
	o.roots = roots;
	o.nroots = nroots;
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK ||
	    (rc = fsec_publish(f, &o, &rec)) != FSEC_OK) {
		status = cli_fail(o.bundle, rc);
		goto out;
	}
	/* What the devices outside it get: the baseline, if one is kept. */
	rc = fsec_registry_baseline_get(fsec_fleet_get_registry(f), rec.model, &base, NULL);
	if (rc == FSEC_ERR_NOTFOUND || strcmp(base.sha256, rec.sha256) == 0)
		base.version[0] = '\0';
	else if (rc != FSEC_OK) {
		status = cli_fail(rec.model, rc);
		goto out;
	}
	if (c.json)
		status = cli_print_json(json_pack("{s:s, s:s, s:I, s:s, s:i, s:s, s:s, s:s?}", "model",
						  rec.model, "version", rec.version,
						  "security_counter", (json_int_t)rec.security_counter,
						  "sha256", rec.sha256, "percent", rec.percent,
						  "group", rec.group, "phases", rec.phases, "baseline",
						  base.version[0] != '\0' ? base.version : NULL));
	else {
		char to[FSEC_PHASES_MAX + 64];

		if (rec.phases[0] != '\0')
			snprintf(to, sizeof(to), "in phases %s, the first now", rec.phases);
		else if (rec.group[0] != '\0')
			snprintf(to, sizeof(to), "to %d%% of group %s", rec.percent, rec.group);
		else
			snprintf(to, sizeof(to), "to %d%% of its devices", rec.percent);
		printf("published %s %s (security counter %u) %s", rec.model, rec.version,
		       rec.security_counter, to);
		if (base.version[0] != '\0' &&
		    (rec.phases[0] != '\0' || rec.percent < 100 || rec.group[0] != '\0'))
			printf("; the others keep the baseline %s", base.version);
		putchar('\n');
	}
out:
	fsec_fleet_free(f);
	free_keys(roots, loaded);
	return status;
}

/* One refreshed manifest, as JSON. */
static json_t *refresh_json(const struct fsec_refresh_rec *rec)
{
	char exp[32];

	cli_time(rec->expires, exp, sizeof(exp));
	return json_pack("{s:s, s:s, s:I, s:I, s:s, s:b, s:I, s:I}", "model", rec->model,
			 "version", rec->version, "sequence", (json_int_t)rec->sequence,
			 "previous_sequence", (json_int_t)rec->old_sequence, "expires", exp,
			 "timestamp", rec->timestamp, "delegation", (json_int_t)rec->delegation,
			 "previous_delegation", (json_int_t)rec->old_delegation);
}

static int refresh_print(const struct fsec_refresh_rec *rec)
{
	char exp[32];

	cli_time(rec->expires, exp, sizeof(exp));
	return printf("%s: %smanifest %llu (was %llu) of %s signed until %s%s%s\n", rec->model,
		      rec->baseline ? "baseline " : "", (unsigned long long)rec->sequence,
		      (unsigned long long)rec->old_sequence, rec->version, exp,
		      rec->timestamp ? ", timestamp signed again" : "",
		      rec->delegation != rec->old_delegation ? ", under the renewed delegation"
							     : "") < 0;
}

/* refresh: the published manifest, and the baseline's if the model has one,
 * signed again before they expire. */
static int release_refresh(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		SIGNING_LONGOPTS,
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct signing sg = {.valid = 30 * 86400}; /* as release create's default */
	struct fsec_refresh_opts o = {.actor = cli_actor()};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	struct fsec_refresh_rec rec, base;
	int status = signing_args(argc, argv, longopts, self, &c, &sg);
	bool have_base = false;
	enum fsec_err rc;

	if (status != CLI_GO_ON)
		goto out;
	signing_to(&sg, &o.model, &o.key, &o.delegation, &o.delegation_len, &o.roots, &o.nroots,
		   &o.expires);
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK) {
		status = cli_fail(cli_home(&c), rc);
		goto out;
	}
	if ((rc = fsec_publish_refresh(f, &o, &rec)) != FSEC_OK) {
		status = cli_fail(o.model, rc);
		goto out;
	}
	/* The candidate first: the sequence rule keeps it above the baseline,
	 * and a baseline refreshed second needs no second candidate refresh. */
	o.baseline = true;
	rc = fsec_publish_refresh(f, &o, &base);
	if (rc == FSEC_OK) {
		have_base = true;
	} else if (rc != FSEC_ERR_NOTFOUND) {
		status = cli_fail(o.model, rc);
		goto out;
	}
	if (c.json) {
		json_t *j = refresh_json(&rec);

		if (j != NULL && json_object_set_new(j, "baseline", have_base ? refresh_json(&base)
									      : json_null()) != 0) {
			json_decref(j);
			j = NULL;
		}
		status = cli_print_json(j);
	} else {
		status = refresh_print(&rec) || (have_base && refresh_print(&base));
	}
out:
	fsec_fleet_free(f);
	signing_cleanup(&sg);
	return status;
}

/* root-rotate: the next release-root document, with the old and new root
 * keys, offline. */
static int release_root_rotate(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"root-key", required_argument, NULL, 'r'},
		{"new-root-key", required_argument, NULL, 'n'},
		{"previous", required_argument, NULL, 'p'},
		{"out", required_argument, NULL, 'o'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	EVP_PKEY *old[FSEC_RELEASE_MAX_KEYS], *nw[FSEC_RELEASE_MAX_KEYS];
	const char *old_paths[FSEC_RELEASE_MAX_KEYS], *new_paths[FSEC_RELEASE_MAX_KEYS];
	const char *out = NULL, *previous = NULL;
	struct fsec_release_root_opts o = {0};
	struct cli_common c = {0};
	unsigned char *prev = NULL;
	size_t nold = 0, nnew = 0, lold = 0, lnew = 0;
	uint64_t version = 0;
	char *json = NULL;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'r':
			if (nold == FSEC_RELEASE_MAX_KEYS)
				return cli_usage_error(self, "too many --root-key");
			old_paths[nold++] = optarg;
			break;
		case 'n':
			if (nnew == FSEC_RELEASE_MAX_KEYS)
				return cli_usage_error(self, "too many --new-root-key");
			new_paths[nnew++] = optarg;
			break;
		case 'p': previous = optarg; break;
		case 'o': out = optarg; break;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc || nold == 0 || nnew == 0 || out == NULL)
		return cli_usage_error(self, "--root-key, --new-root-key and --out are required");
	if ((status = load_keys(fsec_key_load_private, old_paths, nold, old)) != 0)
		goto out;
	lold = nold;
	if ((status = load_keys(fsec_key_load_private, new_paths, nnew, nw)) != 0)
		goto out;
	lnew = nnew;
	if (previous != NULL) {
		if ((status = read_input(previous, &prev, &o.previous_len)) != 0)
			goto out;
		o.previous = (const char *)prev;
	}
	o.old = old;
	o.nold = nold;
	o.new_keys = nw;
	o.nnew = nnew;
	o.version = &version;
	if ((rc = fsec_release_root_sign(&o, &json)) != FSEC_OK) {
		status = cli_fail(previous != NULL ? previous : old_paths[0], rc);
		goto out;
	}
	if ((status = emit(out, json)) != 0)
		goto out;
	if (c.json)
		status = cli_print_json(json_pack("{s:s, s:I}", "out", out, "version",
						  (json_int_t)version));
	else
		printf("%s: release root version %llu, signed by the old root and the new\n", out,
		       (unsigned long long)version);
out:
	free(json);
	free(prev);
	free_keys(old, lold);
	free_keys(nw, lnew);
	return status;
}

/* root-publish: the next root document into the chain fleetsecd serves. */
static int release_root_publish(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"root", required_argument, NULL, 'r'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct fsec_root_publish_opts o = {.actor = cli_actor()};
	EVP_PKEY *roots[FSEC_RELEASE_MAX_KEYS];
	const char *root_paths[FSEC_RELEASE_MAX_KEYS];
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	unsigned char *doc = NULL;
	size_t nroots = 0, loaded = 0;
	uint64_t version = 0;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt != 'r')
			continue;
		if (nroots == FSEC_RELEASE_MAX_KEYS)
			return cli_usage_error(self, "too many --root");
		root_paths[nroots++] = optarg;
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc || nroots == 0)
		return cli_usage_error(self, "expected --root ROOT.pub and one ROOT-N.json");
	if ((status = load_public_keys(root_paths, nroots, roots)) != 0)
		return status;
	loaded = nroots;
	if ((status = read_input(argv[optind], &doc, &o.doc_len)) != 0)
		goto out;
	o.doc = doc;
	o.roots = roots;
	o.nroots = nroots;
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK) {
		status = cli_fail(cli_home(&c), rc);
		goto out;
	}
	if ((rc = fsec_publish_root(f, &o, &version)) != FSEC_OK) {
		status = cli_fail(argv[optind], rc);
		goto out;
	}
	if (c.json)
		status = cli_print_json(json_pack("{s:I}", "version", (json_int_t)version));
	else
		printf("release root version %llu published: devices follow it on GET /v1/roots\n",
		       (unsigned long long)version);
out:
	fsec_fleet_free(f);
	free(doc);
	free_keys(roots, loaded);
	return status;
}

/* pause, resume, abort: the operator's hand on a rollout. */
struct act_ctx {
	json_t *devices; /* the devices that hold an aborted release */
	uint64_t n;
};

static int act_device(const char *id, const struct fsec_devstate_rec *st, void *arg)
{
	struct act_ctx *a = arg;

	a->n++;
	return json_array_append_new(a->devices, json_pack("{s:s, s:s, s:s, s:s}", "id", id,
							   "running", st->fw_version, "pending",
							   st->pending_version, "update",
							   st->update_state)) != 0;
}

static int release_act(int argc, char **argv, const struct cli_cmd *self,
		       enum fsec_rollout_action action)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"release", required_argument, NULL, 'r'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	static const char *const done[] = {"paused", "resumed", "aborted", "advanced"};
	struct act_ctx a = {0};
	struct cli_common c = {0};
	struct fsec_fleet *f = NULL;
	struct fsec_published_rec pub;
	const char *model = NULL, *version = NULL;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'm')
			model = optarg;
		else if (opt == 'r')
			version = optarg;
	}
	if (opt < 0)
		return status;
	if (optind != argc || model == NULL)
		return cli_usage_error(self, "--model is required, and takes no argument");
	if ((status = cli_model(model)) != 0)
		return status;
	if ((a.devices = json_array()) == NULL)
		return cli_fail("release", FSEC_ERR_NOMEM);
	if ((rc = fsec_fleet_open(cli_home(&c), &f)) != FSEC_OK ||
	    (rc = fsec_registry_publish_get(fsec_fleet_get_registry(f), model, &pub, NULL)) !=
		FSEC_OK) {
		status = cli_fail(model, rc);
		goto out;
	}
	rc = fsec_rollout_act(fsec_fleet_get_registry(f), model, version, action, cli_actor(),
			      action == FSEC_ROLLOUT_ABORT ? act_device : NULL, &a);
	if (rc != FSEC_OK) {
		status = cli_fail(model, rc);
		goto out;
	}
	if (c.json) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "model", model, "version", pub.version,
				      "action", done[action]);

		if (o != NULL && action == FSEC_ROLLOUT_ABORT) {
			json_object_set_new(o, "devices_holding", a.devices);
			a.devices = NULL;
		}
		status = cli_print_json(o);
	} else if (action == FSEC_ROLLOUT_ABORT) {
		size_t i;
		json_t *d;

		printf("aborted the rollout of %s %s; devices that hold it: %llu\n", model,
		       pub.version, (unsigned long long)a.n);
		json_array_foreach(a.devices, i, d)
			printf("  %s: running %s%s%s%s%s\n", json_string_value(json_object_get(d, "id")),
			       json_string_value(json_object_get(d, "running")),
			       *json_string_value(json_object_get(d, "pending")) != '\0' ? ", pending "
											 : "",
			       json_string_value(json_object_get(d, "pending")),
			       *json_string_value(json_object_get(d, "update")) != '\0' ? ", " : "",
			       json_string_value(json_object_get(d, "update")));
	} else {
		printf("%s the rollout of %s %s\n", done[action], model, pub.version);
	}
out:
	json_decref(a.devices);
	fsec_fleet_free(f);
	return status;
}

static int release_pause(int argc, char **argv, const struct cli_cmd *self)
{
	return release_act(argc, argv, self, FSEC_ROLLOUT_PAUSE);
}

static int release_resume(int argc, char **argv, const struct cli_cmd *self)
{
	return release_act(argc, argv, self, FSEC_ROLLOUT_RESUME);
}

static int release_abort(int argc, char **argv, const struct cli_cmd *self)
{
	return release_act(argc, argv, self, FSEC_ROLLOUT_ABORT);
}

static int release_advance(int argc, char **argv, const struct cli_cmd *self)
{
	return release_act(argc, argv, self, FSEC_ROLLOUT_ADVANCE);
}

struct status_ctx {
	struct fsec_registry *reg;
	const char *only;  /* --model, or NULL for every published model */
	json_t *arr;       /* --json */
	enum fsec_err rc;
	uint64_t counted;  /* devices in the coverage lines printed so far */
	uint64_t reported;
	json_t *coverage;
};

static int coverage_line(uint32_t counter, uint64_t devices, void *arg)
{
	struct status_ctx *sc = arg;

	if (sc->coverage != NULL)
		return json_array_append_new(sc->coverage, json_pack("{s:I, s:I}", "security_counter",
								     (json_int_t)counter, "devices",
								     (json_int_t)devices)) != 0;
	printf("    counter %-6u %8llu devices  %5.1f%%\n", counter, (unsigned long long)devices,
	       sc->reported > 0 ? 100.0 * (double)devices / (double)sc->reported : 0.0);
	return 0;
}

/* A phase's label: its spec, or the percent and group of a release
 * without phases. */
static void phase_label(const struct fsec_published_rec *pub, int i, char *buf, size_t cap)
{
	const char *p = pub->phases;
	size_t n;

	if (pub->phases[0] == '\0') {
		snprintf(buf, cap, "%d%%%s%s", pub->percent, pub->group[0] != '\0' ? " of " : "",
			 pub->group);
		return;
	}
	for (; i > 0 && p != NULL; i--)
		if ((p = strchr(p, ',')) != NULL)
			p++;
	n = p != NULL ? strcspn(p, ",") : 0;
	snprintf(buf, cap, "%.*s", (int)n, p != NULL ? p : "");
}

static int failed_device(const char *id, const struct fsec_devstate_rec *st, void *arg)
{
	return json_array_append_new((json_t *)arg,
				     json_pack("{s:s, s:s, s:s, s:s}", "id", id, "update",
					       st->update_state[0] != '\0' ? st->update_state
									   : "failure",
					       "running", st->fw_version, "reason",
					       st->outcome_reason)) != 0;
}

/* One release's phases and failed devices, into o (JSON) or printed. */
static enum fsec_err release_phases(struct status_ctx *sc, const struct fsec_published_rec *pub,
				    json_t *o)
{
	struct fsec_phase_tally t[FSEC_ROLLOUT_PHASES_MAX];
	json_t *phases = json_array(), *failed = json_array(), *d;
	char label[FSEC_GROUP_MAX + 32];
	enum fsec_err rc;
	int n = 1;
	size_t i;

	if (phases == NULL || failed == NULL) {
		rc = FSEC_ERR_NOMEM;
		goto out;
	}
	if (pub->phases[0] != '\0' && (rc = fsec_rollout_phases_check(pub->phases, &n, NULL)) !=
	    FSEC_OK)
		goto out;
	if ((rc = fsec_rollout_tally(sc->reg, pub, t, failed_device, failed)) != FSEC_OK)
		goto out;
	for (int k = 0; k < n; k++) {
		phase_label(pub, k, label, sizeof(label));
		if (o != NULL) {
			if (json_array_append_new(
				phases,
				json_pack("{s:i, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "phase",
					  k + 1, "spec", label, "in_effect", k <= pub->phase,
					  "eligible", (json_int_t)t[k].eligible, "downloading",
					  (json_int_t)t[k].downloading, "installed",
					  (json_int_t)t[k].installed, "trial", (json_int_t)t[k].trial,
					  "confirmed", (json_int_t)t[k].confirmed, "failed",
					  (json_int_t)t[k].failed, "rolled_back",
					  (json_int_t)t[k].rolled_back)) != 0) {
				rc = FSEC_ERR_NOMEM;
				goto out;
			}
			continue;
		}
		printf("  phase %d %-12s%s eligible %llu: downloading %llu, installed %llu, trial "
		       "%llu, confirmed %llu, failed %llu, rolled back %llu\n",
		       k + 1, label, k <= pub->phase ? "*" : " ", (unsigned long long)t[k].eligible,
		       (unsigned long long)t[k].downloading, (unsigned long long)t[k].installed,
		       (unsigned long long)t[k].trial, (unsigned long long)t[k].confirmed,
		       (unsigned long long)t[k].failed, (unsigned long long)t[k].rolled_back);
	}
	if (o != NULL) {
		if (json_object_set(o, "phases", phases) != 0 ||
		    json_object_set(o, "failed_devices", failed) != 0)
			rc = FSEC_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(failed, i, d)
		printf("  failed: %s (%s, running %s)%s%s\n",
		       json_string_value(json_object_get(d, "id")),
		       json_string_value(json_object_get(d, "update")),
		       json_string_value(json_object_get(d, "running")),
		       *json_string_value(json_object_get(d, "reason")) != '\0' ? ": " : "",
		       json_string_value(json_object_get(d, "reason")));
out:
	json_decref(phases);
	json_decref(failed);
	return rc;
}

/* The expiry of a signed bundle, and how long it has left. */
static enum fsec_err bundle_expiry(const char *bundle, char until[32], char left[48],
				   bool *expired)
{
	int64_t issued = 0, expires = 0, now = (int64_t)time(NULL);
	enum fsec_err rc = fsec_release_peek_times((const unsigned char *)bundle, strlen(bundle),
						   &issued, &expires, NULL);

	if (rc != FSEC_OK)
		return rc;
	cli_time(expires, until, 32);
	*expired = expires <= now;
	if (expires <= now)
		snprintf(left, 48, "EXPIRED");
	else if (expires - now < 86400)
		snprintf(left, 48, "expires in %lldh", (long long)((expires - now) / 3600));
	else
		snprintf(left, 48, "expires in %lldd", (long long)((expires - now) / 86400));
	return FSEC_OK;
}

/* The model's baseline (the release the candidate's outsiders keep). */
static enum fsec_err status_baseline(struct status_ctx *sc, const struct fsec_published_rec *pub,
				     json_t *o)
{
	struct fsec_published_rec b;
	char *bundle = NULL, until[32], left[48];
	json_t *bo = NULL;
	bool expired = false;
	enum fsec_err rc = fsec_registry_baseline_get(sc->reg, pub->model, &b, &bundle);

	if (rc == FSEC_ERR_NOTFOUND || (rc == FSEC_OK && strcmp(b.sha256, pub->sha256) == 0)) {
		free(bundle);
		return o != NULL && json_object_set_new(o, "baseline", json_null()) != 0
			       ? FSEC_ERR_NOMEM
			       : FSEC_OK;
	}
	if (rc != FSEC_OK || (rc = bundle_expiry(bundle, until, left, &expired)) != FSEC_OK)
		goto out;
	if (o != NULL) {
		bo = json_pack("{s:s, s:I, s:s, s:s, s:b}", "version", b.version, "security_counter",
			       (json_int_t)b.security_counter, "sha256", b.sha256, "expires", until,
			       "expired", expired);
		if (bo == NULL || json_object_set(o, "baseline", bo) != 0) {
			rc = FSEC_ERR_NOMEM;
			goto out;
		}
	} else {
		printf("  baseline %s (security counter %u) for the devices the candidate is not "
		       "for; manifest valid until %s, %s\n",
		       b.version, b.security_counter, until, left);
	}
	rc = release_phases(sc, &b, bo);
out:
	json_decref(bo);
	free(bundle);
	return rc;
}


/* When fleetsecd last evaluated model's rollout (its timer), UNIX seconds;
 * null if never (or unreadable: the status shows, without it). */
static json_t *evaluated_at(struct fsec_registry *reg, const char *model)
{
	struct fsec_rollout_eval_rec ev;

	if (fsec_registry_rollout_eval_get(reg, model, &ev) != FSEC_OK)
		return json_null();
	return json_integer((json_int_t)ev.at);
}

static int status_model(const struct fsec_published_rec *pub,
			const struct fsec_rollout_status *rs, void *arg)
{
	struct status_ctx *sc = arg;
	const struct fsec_model_stats st = rs->stats;
	const bool paused = rs->paused || strcmp(pub->state, "paused") == 0;
	const char *state = strcmp(pub->state, "aborted") == 0 ? "aborted"
			    : paused			       ? "paused"
							       : "active";
	char when[32], until[32], left[48];
	char *bundle = NULL;
	struct fsec_published_rec row;
	bool expired = false;

	sc->counted++;
	sc->reported = st.reported;
	cli_time(pub->published_at, when, sizeof(when));
	/* The manifest's expiry, from the bundle verified at publication. */
	if ((sc->rc = fsec_registry_publish_get(sc->reg, pub->model, &row, &bundle)) == FSEC_OK)
		sc->rc = bundle_expiry(bundle, until, left, &expired);
	free(bundle);
	if (sc->rc != FSEC_OK)
		return 1;
	if (sc->arr != NULL) {
		json_t *o = json_pack("{s:s, s:s, s:I, s:i, s:s, s:i, s:i, s:b, s:I, s:I, s:I, s:I, s:I}",
				      "model", pub->model, "version", pub->version,
				      "security_counter", (json_int_t)pub->security_counter,
				      "percent", pub->percent, "published_at", when, "max_failures",
				      pub->max_failures, "max_failures_pct", pub->max_failures_pct,
				      "paused", paused, "devices", (json_int_t)st.devices, "reported",
				      (json_int_t)st.reported, "patched", (json_int_t)st.patched,
				      "confirmed", (json_int_t)st.successes, "failed",
				      (json_int_t)st.failures);

		sc->coverage = json_array();
		if (o == NULL || sc->coverage == NULL ||
		    json_object_set_new(o, "expires", json_string(until)) != 0 ||
		    json_object_set_new(o, "expired", json_boolean(expired)) != 0 ||
		    json_object_set_new(o, "sha256", json_string(pub->sha256)) != 0 ||
		    json_object_set_new(o, "group", json_string(pub->group)) != 0 ||
		    json_object_set_new(o, "state", json_string(state)) != 0 ||
		    json_object_set_new(o, "phase", json_integer(pub->phase + 1)) != 0 ||
		    json_object_set_new(o, "advance_after", json_integer(pub->advance_after)) != 0 ||
		    json_object_set_new(o, "success_threshold", json_integer(pub->success_pct)) != 0 ||
		    json_object_set_new(o, "failures_forgiven", json_integer((json_int_t)pub->forgiven)) != 0 ||
		    json_object_set_new(o, "evaluated_at", evaluated_at(sc->reg, pub->model)) != 0 ||
		    json_object_set_new(o, "coverage", sc->coverage) != 0 ||
		    json_array_append_new(sc->arr, o) != 0) {
			sc->rc = FSEC_ERR_NOMEM;
			return 1;
		}
		if ((sc->rc = release_phases(sc, pub, o)) != FSEC_OK ||
		    (sc->rc = status_baseline(sc, pub, o)) != FSEC_OK)
			return 1;
	} else {
		printf("%s: release %s (security counter %u) since %s, %s%s\n", pub->model,
		       pub->version, pub->security_counter, when,
		       strcmp(state, "active") == 0 ? "active" : strcmp(state, "paused") == 0 ? "PAUSED" : "ABORTED",
		       rs->paused ? ": too many failures" : "");
		printf("  manifest valid until %s, %s\n", until, left);
		if (pub->advance_after >= 0)
			printf("  advances after %llds in a phase%s%d%s\n",
			       (long long)pub->advance_after,
			       pub->success_pct >= 0 ? " once " : "",
			       pub->success_pct >= 0 ? pub->success_pct : 0,
			       pub->success_pct >= 0 ? "% of its devices confirmed" : "");
		if ((sc->rc = release_phases(sc, pub, NULL)) != FSEC_OK ||
		    (sc->rc = status_baseline(sc, pub, NULL)) != FSEC_OK)
			return 1;
		printf("  devices %llu, reported %llu, patched %llu (%.1f%% of the reporting)\n"
		       "  outcomes of this image: %llu confirmed, %llu failed\n  patch coverage:\n",
		       (unsigned long long)st.devices, (unsigned long long)st.reported,
		       (unsigned long long)st.patched,
		       st.reported > 0 ? 100.0 * (double)st.patched / (double)st.reported : 0.0,
		       (unsigned long long)st.successes, (unsigned long long)st.failures);
		sc->coverage = NULL;
	}
	sc->rc = fsec_rollout_coverage(sc->reg, pub->model, coverage_line, sc);
	return sc->rc != FSEC_OK;
}

/* One reading of every rollout (or only's): *arr (JSON) or printed. */
static int status_once(const struct cli_common *c, const char *only, bool json, json_t **arr)
{
	struct status_ctx sc = {.only = only};
	struct fsec_fleet *f = NULL;
	enum fsec_err rc;

	if (json && (sc.arr = json_array()) == NULL)
		return cli_fail("release status", FSEC_ERR_NOMEM);
	if ((rc = fsec_fleet_open(cli_home(c), &f)) == FSEC_OK) {
		sc.reg = fsec_fleet_get_registry(f);
		if ((rc = fsec_rollout_list(sc.reg, sc.only, status_model, &sc)) == FSEC_OK)
			rc = sc.rc;
	}
	fsec_fleet_free(f);
	if (rc != FSEC_OK) {
		json_decref(sc.arr);
		return cli_fail(cli_home(c), rc);
	}
	if (sc.only != NULL && sc.counted == 0) {
		json_decref(sc.arr);
		fprintf(stderr, "fleetsec: %s: no release published for this model\n", sc.only);
		return EXIT_REFUSED;
	}
	if (!json && sc.counted == 0)
		puts("no release is published");
	*arr = sc.arr;
	return 0;
}

static int release_status(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"watch", no_argument, NULL, 'w'},
		{"interval", required_argument, NULL, 'i'},
		{"count", required_argument, NULL, 'n'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_common c = {0};
	const char *only = NULL;
	bool watch = false, tty;
	long interval = 2, count = 0, v;
	json_t *arr = NULL;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'm': only = optarg; break;
		case 'w': watch = true; break;
		case 'i':
			if (!cli_int(self, "--interval", optarg, 1, 3600, &v))
				return EXIT_USAGE;
			interval = v;
			break;
		case 'n':
			if (!cli_int(self, "--count", optarg, 1, 1000000, &v))
				return EXIT_USAGE;
			count = v;
			break;
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (!watch && count > 0)
		return cli_usage_error(self, "--count and --interval go with --watch");
	if (only != NULL && (status = cli_model(only)) != 0)
		return status;
	if (!watch) {
		if ((status = status_once(&c, only, c.json, &arr)) != 0 || !c.json)
			return status;
		return cli_print_json(arr);
	}
	/* On a terminal the screen is redrawn; elsewhere each reading is one
	 * JSON line, for a program to follow. */
	tty = isatty(STDOUT_FILENO) && !c.json;
	for (long round = 1;; round++) {
		if (tty)
			fputs("\033[H\033[2J", stdout);
		if ((status = status_once(&c, only, !tty, &arr)) != 0)
			return status;
		if (!tty) {
			char *line = json_dumps(arr, JSON_COMPACT);

			json_decref(arr);
			if (line == NULL)
				return cli_fail("release status", FSEC_ERR_NOMEM);
			puts(line);
			free(line);
		}
		if (fflush(stdout) != 0)
			return EXIT_REFUSED;
		if (count > 0 && round >= count)
			return 0;
		sleep((unsigned)interval);
	}
}

const struct cli_cmd cli_release_cmds[] = {
	{"release", "delegate", release_delegate, "let online keys sign manifests (root key)",
	 "--root-key ROOT.pem --key ONLINE.pub [--key ...] [--expires 365d]\n"
	 "       [--sequence N] [--out DELEGATION.json] [--json]\n"
	 "   or: --root-key ROOT.pem --renew CURRENT.json [--expires 365d] [--sequence N]\n"
	 "       [--out DELEGATION.json] [--json]\n\n"
	 "Signs, with the root key pinned in devices, a delegation naming the keys that\n"
	 "may sign release manifests until it expires. A new delegation with a higher\n"
	 "--sequence (default: the current UNIX time) retires the keys of older ones on\n"
	 "every device that has seen it: rotate a lost online key without reflashing.\n"
	 "--renew signs CURRENT's keys again, with a new expiry and a sequence above\n"
	 "CURRENT's (default: the current UNIX time, or CURRENT's + 1 if that is ahead),\n"
	 "and refuses a root key that did not sign CURRENT. Publish it with fleetsec\n"
	 "release refresh --delegation NEW.json (or replace fleetsecd's\n"
	 "release_delegation and send it SIGHUP): devices take it, and refuse the old\n"
	 "delegation from then on. --json (with --out) prints the new sequence.\n"},
	{"release", "create", release_create, "describe an image as a model's release",
	 "--model M --image IMG [--url URL]... [--chunk-size N]\n"
	 "       [--expires 30d] [--sequence N] [--percent P] [--in MANIFEST.json]\n"
	 "       [--out MANIFEST.json]\n\n"
	 "Writes an unsigned manifest: the image's version and security counter (from\n"
	 "its MCUboot header), size, SHA-256, URLs (default /v1/firmware/SHA256, where\n"
	 "fleetsecd serves published images), and the SHA-256 of every chunk\n"
	 "(--chunk-size, default 1 MiB) so that a resumed download checks each chunk\n"
	 "as it arrives. --in adds to (or replaces the model in) an existing manifest.\n"
	 "--sequence defaults to the current UNIX time and must grow; --expires (default\n"
	 "30d) makes stale manifests useless to an attacker.\n"},
	{"release", "sign", release_sign, "sign a manifest into a release bundle",
	 "--key ONLINE.pem --delegation DELEGATION.json MANIFEST.json [--out RELEASE.json]\n\n"
	 "Checks the manifest with the rules devices apply, checks that the delegation\n"
	 "names the key and has not expired, and writes the signed bundle.\n"},
	{"release", "verify", release_verify, "verify a release bundle as a device would",
	 "--root ROOT.pub --model M [--last-sequence N] [--last-delegation N] [--json]\n"
	 "       RELEASE.json\n\n"
	 "Refuses a bad signature, an unknown key, an expired delegation or manifest, a\n"
	 "sequence number not above --last-sequence, a model the manifest does not list,\n"
	 "malformed JSON and fields out of bounds.\n"},
	{"release", "publish", release_publish, "serve a release to a model's devices (fleetsecd)",
	 "--model M --bundle RELEASE.json --image IMG --root ROOT.pub\n"
	 "       [--percent P] [--group G] | [--phases P%|GROUP,... [--advance-after N]\n"
	 "       [--success-threshold P%]] [--max-failures N|P%] [--home DIR] [--json]\n\n"
	 "Verifies the bundle for model M as its devices will (signatures, delegation,\n"
	 "expiry), checks that IMG is the image it describes, and makes it what\n"
	 "fleetsecd serves to M's devices: GET /v1/update returns the bundle and\n"
	 "GET /v1/firmware/SHA256 the image. --percent P (default 100) stages the\n"
	 "rollout: a device gets the release when SHA-256 of its ID mod 100 is below P,\n"
	 "so raising P only adds devices. The manifest's signed rollout.percent (release\n"
	 "create --percent) is the one source of truth when it is below 100: P defaults\n"
	 "to it, and a P or --phases that differs is refused. --group G serves it only\n"
	 "to the devices put in group G (fleetsec device set ID --group G).\n"
	 "--phases 1%,10%,50%,100% (or group names, or both) rolls it out in phases,\n"
	 "each adding devices, the first at once; release status shows them.\n"
	 "--advance-after N (seconds, or 30m, 12h, 1d) advances a phase on its own once\n"
	 "it has lasted N and, with --success-threshold P%, once P% of the devices it\n"
	 "reached confirmed the release; fleetsecd judges it as their reports arrive.\n"
	 "--max-failures N (or P% of the model's devices) pauses the rollout by itself\n"
	 "once that many devices report a failed update of its image (release resume\n"
	 "goes on). The release it replaces, if it was offered to every device, stays\n"
	 "as the baseline: the devices the new one is not (yet) for keep getting it.\n"
	 "The product's current release (product list), if the product exists, becomes\n"
	 "this one. The output names the baseline.\n"},
	{"release", "pause", release_pause, "pause a model's rollout",
	 "--model M [--release V] [--home DIR] [--json]\n\n"
	 "Stops offering M's published release to devices it has not reached; devices\n"
	 "that hold it keep it, the others keep the baseline. Refused (exit 1) if the\n"
	 "rollout is paused or aborted already, or if V is not the published version.\n"
	 "An event (rollout-pause) records it.\n"},
	{"release", "resume", release_resume, "resume a paused rollout",
	 "--model M [--release V] [--home DIR] [--json]\n\n"
	 "Resumes a rollout paused by release pause or by its --max-failures. The\n"
	 "failures reported so far stay on record (release status) and no longer count\n"
	 "against the limit: the rollout pauses again at as many new ones. Refused\n"
	 "(exit 1) if it is not paused. An event (rollout-resume) records it.\n"},
	{"release", "abort", release_abort, "withdraw a model's candidate release",
	 "--model M [--release V] [--home DIR] [--json]\n\n"
	 "Withdraws M's published release: no device is offered it any more, devices\n"
	 "that had not got it are served the baseline, and the devices that already\n"
	 "hold it (run it, wait to boot it, or reported an outcome about it) are listed,\n"
	 "for the operator to publish a fix for. Refused (exit 1) if it was aborted\n"
	 "already. An event (rollout-abort) records it.\n"},
	{"release", "timestamp", release_timestamp,
	 "sign the model's \"nothing new\" statement (fleetsecd)",
	 "--model M --key ONLINE.pem --delegation DELEGATION.json --root ROOT.pub\n"
	 "       [--expires 1d] [--release RELEASE.json] [--out FILE] [--home DIR] [--json]\n\n"
	 "Signs, with the online key, a short-lived statement that nothing is newer for\n"
	 "model M than its published manifest (its sequence; or that nothing is\n"
	 "published), checks it as devices will, and stores it: fleetsecd serves it on\n"
	 "GET /v1/update to every device of M it has no manifest for (nothing published,\n"
	 "outside the rollout, a paused rollout). A device that sees neither a fresh\n"
	 "manifest nor a fresh statement for max_silence reports itself frozen. Run it\n"
	 "again before --expires (default 1d) passes, from cron, like a refresh.\n"
	 "--release names the signed bundle the devices are served instead of the\n"
	 "published one; --out writes the statement to FILE instead of storing it (with\n"
	 "both, for a static update server, no fleet home is needed).\n"},
	{"release", "refresh", release_refresh, "sign the published manifests (candidate, baseline) again before they expire",
	 "--model M --key ONLINE.pem --delegation DELEGATION.json --root ROOT.pub\n"
	 "       [--expires 30d] [--home DIR] [--json]\n\n"
	 "Signs model M's published manifest again, with the online key the delegation\n"
	 "names (no root key), unchanged but for a new expiry (--expires, default 30d)\n"
	 "and the next sequence number, checks that devices take it over the published\n"
	 "one, and serves it in its place: the image, the rollout (percent, group,\n"
	 "limits, pause) and the failures counted against the image stay. Devices that\n"
	 "run the image install nothing, and refuse the old manifest from then on. A\n"
	 "stored timestamp that has not expired is signed again to name the new\n"
	 "sequence. The model's baseline (what devices outside the candidate's rollout\n"
	 "are served), if it has one, is signed again after it, its sequence kept\n"
	 "below the candidate's; --json prints it as \"baseline\" (or null). Run it\n"
	 "before the manifest's expiry passes (release status shows it), from cron,\n"
	 "or let fleetsecd do it (release_refresh = auto).\n"},
	{"release", "root-rotate", release_root_rotate,
	 "sign the next release root (old and new root keys, offline)",
	 "--root-key OLD.pem [--root-key ...] --new-root-key NEW.pem [--new-root-key ...]\n"
	 "       [--previous ROOT-N.json] --out ROOT-N+1.json [--json]\n\n"
	 "Rotates the release root pinned in devices, as TUF rotates its root: writes a\n"
	 "root document (fleetsec.root.v1) naming the new root's public keys, with the\n"
	 "next version, signed by every OLD key and every NEW key. Without --previous\n"
	 "the old root is the one pinned in devices (version 1) and the document is\n"
	 "version 2; with it, OLD must be the keys of that document and the new one\n"
	 "is its version + 1. Devices accept it only through the chain from the root\n"
	 "they trust (fleetsec release root-publish, GET /v1/roots), and from then on\n"
	 "refuse delegations signed by the old root: sign a new delegation with the new\n"
	 "root (release delegate, a sequence above the current) and refresh with it.\n"},
	{"release", "root-publish", release_root_publish,
	 "serve the next release root to devices (fleetsecd)",
	 "--root ROOT.pub [--root ...] ROOT-N.json [--home DIR] [--json]\n\n"
	 "Appends ROOT-N.json to the chain of root documents fleetsecd serves on\n"
	 "GET /v1/roots (HOME/release-roots.json), if a device that pins ROOT.pub (the\n"
	 "release root at manufacture, version 1) follows the whole chain to it: each\n"
	 "version the next, signed by the root before it and by its own keys. The\n"
	 "registry's event log records it (release-root).\n"},
	{"release", "advance", release_advance, "move a phased rollout to its next phase",
	 "--model M [--release V] [--home DIR] [--json]\n\n"
	 "Puts the next phase of M's published release (published in phases) in\n"
	 "effect now, without waiting for it to advance by itself. Refused (exit 1) in\n"
	 "its last phase, or if aborted. An event (rollout-advance) records it.\n"},
	{"release", "status", release_status, "rollout state and patch coverage per model",
	 "[--model M] [--watch [--interval S] [--count N]] [--home DIR] [--json]\n\n"
	 "For each published release (or M's): its manifest's expiry (EXPIRED, or how\n"
	 "long it has left: refresh it before, fleetsec release refresh), its state\n"
	 "(active, PAUSED by the operator or by --max-failures, ABORTED), and for each\n"
	 "phase (* in effect) the devices it reaches and, of those, how many are\n"
	 "downloading it, installed it (pending the trial boot), in the trial, confirmed,\n"
	 "failed or rolled back; then the devices that failed it, the model's baseline\n"
	 "with its own counts, the model's active devices, how many reported, how many\n"
	 "run at least the release's security counter, the outcomes reported about its\n"
	 "image, and the patch coverage: the share of reporting devices on each security\n"
	 "counter. --watch reads it again every S seconds (default 2): on a terminal it\n"
	 "redraws the screen, elsewhere (or with --json) it prints one JSON line per\n"
	 "reading; --count N stops after N readings.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
