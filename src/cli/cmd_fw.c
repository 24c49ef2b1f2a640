/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fleetsec/fileio.h"
#include "fleetsec/fwimage.h"
#include "fleetsec/key.h"

static int fw_keygen(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"algo", required_argument, NULL, 'a'},
		{"out", required_argument, NULL, 'o'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	enum fsec_key_algo algo = FSEC_KEY_ED25519;
	struct cli_common c = {0};
	const char *out = NULL;
	EVP_PKEY *key = NULL;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'o') {
			out = optarg;
		} else if (opt == 'a') {
			if (strcmp(optarg, "ed25519") == 0)
				algo = FSEC_KEY_ED25519;
			else if (strcmp(optarg, "p256") == 0)
				algo = FSEC_KEY_P256;
			else
				return cli_usage_error(self, "--algo must be ed25519 or p256");
		}
	}
	if (opt < 0)
		return status;
	if (optind != argc || out == NULL)
		return cli_usage_error(self, "--out KEY.pem is required, and nothing else");
	rc = fsec_key_generate(algo, &key);
	if (rc == FSEC_OK)
		rc = fsec_key_save_private(key, out);
	EVP_PKEY_free(key);
	if (rc != FSEC_OK)
		return cli_fail(out, rc);
	if (c.json)
		return cli_print_json(json_pack("{s:s, s:s}", "key", out, "algo",
						fsec_key_algo_name(algo)));
	fprintf(stderr, "wrote %s key to %s (mode 0600)\n", fsec_key_algo_name(algo), out);
	return 0;
}

static int fw_pubkey(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"out", required_argument, NULL, 'o'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_common c = {0};
	const char *out = NULL;
	EVP_PKEY *key = NULL;
	char *pem = NULL;
	size_t len = 0;
	enum fsec_err rc;
	int opt, status = EXIT_REFUSED;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0)
		if (opt == 'o')
			out = optarg;
	if (opt < 0)
		return status;
	if (optind + 1 != argc)
		return cli_usage_error(self, "expected exactly one key file");
	rc = fsec_key_load_public(argv[optind], &key);
	if (rc != FSEC_OK)
		return cli_fail(argv[optind], rc);
	if (fsec_key_public_pem(key, &pem, &len) != FSEC_OK) {
		fputs("fleetsec: cannot encode the public key\n", stderr);
		goto out;
	}
	status = cli_emit(out, pem, len);
out:
	free(pem);
	EVP_PKEY_free(key);
	return status;
}

/* {"tlv": "ENC_X25519", "type": 51, "aes_bits": 128} or null. */
static json_t *enc_json(const struct fsec_fw_info *in)
{
	if (in->enc_keylen == 0 && in->enc_type == 0)
		return json_null();
	return json_pack("{s:s, s:i, s:i, s:b}", "tlv", fsec_fw_enc_tlv_name(in->enc_type), "type",
			 in->enc_type, "aes_bits", (int)in->enc_keylen * 8, "flagged",
			 in->enc_keylen != 0);
}

static int fw_sign(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"key", required_argument, NULL, 'k'},
		{"version", required_argument, NULL, 'v'},
		{"security-counter", required_argument, NULL, 's'},
		{"header-size", required_argument, NULL, 'E'},
		{"pad-header", no_argument, NULL, 'P'},
		{"align", required_argument, NULL, 'a'},
		{"slot-size", required_argument, NULL, 'S'},
		{"pad", no_argument, NULL, 'p'},
		{"confirm", no_argument, NULL, 'c'},
		{"public-key-format", required_argument, NULL, 'f'},
		{"sha", required_argument, NULL, 'x'},
		{"pure", no_argument, NULL, 'u'},
		{"dependencies", required_argument, NULL, 'd'},
		{"encrypt", required_argument, NULL, 'e'},
		{"encrypt-kw", required_argument, NULL, 'w'},
		{"encrypt-keylen", required_argument, NULL, 'l'},
		{"hmac-sha", required_argument, NULL, 'm'},
		{"clear", no_argument, NULL, 'C'},
		{"save-enctlv", no_argument, NULL, 'T'},
		{"json", no_argument, NULL, 'J'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct fsec_fw_sign_opts o = {.header_size = 0x200};
	struct cli_common c = {0};
	const char *key_path = NULL, *version = NULL, *sc = NULL, *enc_path = NULL;
	struct fsec_fw_enc_key *enc = NULL;
	struct fsec_fw_info info;
	EVP_PKEY *key = NULL;
	enum fsec_err rc;
	bool kw = false;
	uint64_t v;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'k': key_path = optarg; break;
		case 'v': version = optarg; break;
		case 's': sc = optarg; break;
		case 'P': o.pad_header = true; break;
		case 'p': o.pad = true; break;
		case 'c': o.confirm = true; break;
		case 'u': o.pure = true; break;
		case 'E':
			if (!cli_uint(self, "--header-size", optarg, 32, 65535, &v))
				return EXIT_USAGE;
			o.header_size = (uint16_t)v;
			break;
		case 'a':
			if (!cli_uint(self, "--align", optarg, 1, 32, &v))
				return EXIT_USAGE;
			if ((v & (v - 1)) != 0)
				return cli_usage_error(self, "--align must be 1, 2, 4, 8, 16 or 32");
			o.align = (unsigned)v;
			break;
		case 'S':
			if (!cli_uint(self, "--slot-size", optarg, 1, UINT32_MAX, &v))
				return EXIT_USAGE;
			o.slot_size = (uint32_t)v;
			break;
		case 'f':
			if (strcmp(optarg, "full") != 0 && strcmp(optarg, "hash") != 0)
				return cli_usage_error(self, "--public-key-format must be hash or full");
			o.full_pubkey = strcmp(optarg, "full") == 0;
			break;
		case 'x':
			if (strcmp(optarg, "auto") == 0 || strcmp(optarg, "256") == 0)
				o.sha = strcmp(optarg, "256") == 0 ? 256 : 0;
			else if (strcmp(optarg, "512") == 0)
				o.sha = 512;
			else
				return cli_usage_error(self, "--sha must be auto, 256 or 512");
			break;
		case 'd':
			if (fsec_fw_deps_parse(optarg, o.deps, &o.ndeps) != FSEC_OK)
				return cli_usage_error(self, "%s", fsec_err_detail());
			break;
		case 'e':
		case 'w':
			if (enc_path != NULL)
				return cli_usage_error(self, "one of --encrypt or --encrypt-kw, once");
			enc_path = optarg;
			kw = opt == 'w';
			break;
		case 'l':
			if (strcmp(optarg, "128") != 0 && strcmp(optarg, "256") != 0)
				return cli_usage_error(self, "--encrypt-keylen must be 128 or 256");
			o.enc_keylen = strcmp(optarg, "256") == 0 ? 256 : 128;
			break;
		case 'm':
			if (strcmp(optarg, "auto") == 0 || strcmp(optarg, "256") == 0)
				o.hmac_sha = strcmp(optarg, "256") == 0 ? 256 : 0;
			else if (strcmp(optarg, "512") == 0)
				o.hmac_sha = 512;
			else
				return cli_usage_error(self, "--hmac-sha must be auto, 256 or 512");
			break;
		case 'C': o.enc_clear = true; break;
		case 'T': o.save_enctlv = true; break;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 2 != argc)
		return cli_usage_error(self, "expected IN and OUT");
	if (key_path == NULL || version == NULL)
		return cli_usage_error(self, "--key and --version are required");
	if (fsec_fw_version_parse(version, &o.version) != FSEC_OK)
		return cli_usage_error(self, "%s", fsec_err_detail());
	if (sc != NULL) {
		o.has_security_counter = true;
		if (strcmp(sc, "auto") == 0)
			o.security_counter = fsec_fw_version_counter(&o.version);
		else if (!cli_uint(self, "--security-counter", sc, 0, UINT32_MAX, &v))
			return EXIT_USAGE;
		else
			o.security_counter = (uint32_t)v;
	}
	if ((o.pad || o.confirm) && o.slot_size == 0)
		return cli_usage_error(self, "--pad and --confirm need --slot-size");
	if (enc_path == NULL && (o.enc_keylen != 0 || o.hmac_sha != 0 || o.enc_clear || o.save_enctlv))
		return cli_usage_error(self, "--encrypt-keylen, --hmac-sha, --clear and --save-enctlv "
					     "need --encrypt or --encrypt-kw");
	if (enc_path != NULL) {
		rc = fsec_fw_enc_key_load(enc_path, false, &enc);
		if (rc != FSEC_OK)
			return cli_fail(enc_path, rc);
		/* --encrypt-kw says a KEK is meant: a PEM there is a mistake. */
		if (kw != (fsec_fw_enc_key_tlv(enc, 0) == FSEC_FW_TLV_ENC_KW)) {
			fsec_fw_enc_key_free(enc);
			fprintf(stderr, "fleetsec: %s: %s\n", enc_path,
				kw ? "--encrypt-kw takes a 16/32-byte AES KEK (raw or base64)"
				   : "a KEK: use --encrypt-kw for AES key wrap");
			return EXIT_REFUSED;
		}
		if (fsec_fw_enc_key_tlv(enc, o.hmac_sha) == 0) {
			fsec_fw_enc_key_free(enc);
			fprintf(stderr, "fleetsec: %s: --hmac-sha 512 needs an X25519 encryption key\n",
				enc_path);
			return EXIT_REFUSED;
		}
		o.enc = enc;
	}
	rc = fsec_key_load_private(key_path, &key);
	if (rc != FSEC_OK) {
		fsec_fw_enc_key_free(enc);
		return cli_fail(key_path, rc);
	}
	o.key = key;
	rc = fsec_fw_sign(argv[optind], argv[optind + 1], &o);
	EVP_PKEY_free(key);
	fsec_fw_enc_key_free(enc);
	if (rc != FSEC_OK)
		return cli_fail(argv[optind + 1], rc);
	if (c.json) {
		rc = fsec_fw_inspect(argv[optind + 1], &info);
		if (rc != FSEC_OK)
			return cli_fail(argv[optind + 1], rc);
		return cli_print_json(json_pack("{s:s, s:I, s:o}", "image", argv[optind + 1], "size",
						(json_int_t)info.file_size, "encryption",
						enc_json(&info)));
	}
	return 0;
}

static const char *hash_name(uint16_t type)
{
	return type == FSEC_FW_TLV_SHA256 ? "sha256" : type == FSEC_FW_TLV_SHA384 ? "sha384" : "sha512";
}

static json_t *info_json(const struct fsec_fw_info *in, bool with_tlvs)
{
	char ver[32], hex[129];
	json_t *o, *tlvs, *deps;

	fsec_hex(in->hash, in->hash_len, hex);
	o = json_pack("{s:s, s:I, s:i, s:i, s:I, s:I, s:s, s:s, s:I, s:I}", "version",
		      fsec_fw_version_str(&in->version, ver, sizeof(ver)), "image_size",
		      (json_int_t)in->img_size, "header_size", in->hdr_size, "protect_tlv_size",
		      in->protect_tlv_size, "load_addr", (json_int_t)in->load_addr, "flags",
		      (json_int_t)in->flags, "hash_alg", hash_name(in->hash_type), "hash", hex,
		      "tlv_end", (json_int_t)in->tlv_end, "file_size", (json_int_t)in->file_size);
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "security_counter",
			    in->has_security_counter ? json_integer(in->security_counter) : json_null());
	json_object_set_new(o, "pure", json_boolean(in->pure));
	json_object_set_new(o, "encryption", enc_json(in));
	deps = json_array();
	for (size_t i = 0; i < in->ndeps; i++)
		json_array_append_new(deps, json_pack("{s:i, s:s}", "image_id", in->deps[i].image_id,
						      "min_version",
						      fsec_fw_version_str(&in->deps[i].min_version,
									  ver, sizeof(ver))));
	json_object_set_new(o, "dependencies", deps);
	json_object_set_new(o, "trailer",
			    in->has_trailer ? json_pack("{s:i, s:b}", "max_align",
							(int)in->trailer_max_align, "image_ok",
							in->image_ok == 1)
					    : json_null());
	if (with_tlvs) {
		tlvs = json_array();
		for (size_t i = 0; i < in->ntlv; i++)
			json_array_append_new(tlvs, json_pack("{s:s, s:i, s:i, s:I}", "area",
							      in->tlvs[i].protected_area ? "protected"
											 : "unprotected",
							      "type", in->tlvs[i].type, "len",
							      in->tlvs[i].len, "offset",
							      (json_int_t)in->tlvs[i].offset));
		json_object_set_new(o, "tlvs", tlvs);
	}
	return o;
}

static void print_info(const struct fsec_fw_info *in, bool with_tlvs)
{
	char ver[32], hex[129];

	fsec_hex(in->hash, in->hash_len, hex);
	printf("  version           %s\n", fsec_fw_version_str(&in->version, ver, sizeof(ver)));
	if (in->has_security_counter)
		printf("  security counter  %u\n", in->security_counter);
	else
		printf("  security counter  none\n");
	printf("  image size        %u bytes (header %u, protected TLVs %u)\n", in->img_size,
	       in->hdr_size, in->protect_tlv_size);
	printf("  hash              %s:%s\n", hash_name(in->hash_type), hex);
	if (in->enc_keylen != 0)
		printf("  encrypted         AES-%u-CTR, key in %s (TLV 0x%02x)\n", in->enc_keylen * 8,
		       fsec_fw_enc_tlv_name(in->enc_type), in->enc_type);
	else if (in->enc_type != 0)
		printf("  encryption TLV    %s (0x%02x), but not flagged encrypted: ignored\n",
		       fsec_fw_enc_tlv_name(in->enc_type), in->enc_type);
	for (size_t i = 0; i < in->ndeps; i++)
		printf("  depends on        image %u >= %s\n", in->deps[i].image_id,
		       fsec_fw_version_str(&in->deps[i].min_version, ver, sizeof(ver)));
	if (in->has_trailer)
		printf("  trailer           boot magic (max_align %u), image_ok %s (not signed)\n",
		       in->trailer_max_align, in->image_ok == 1 ? "set (confirmed)" : "unset");
	if (!with_tlvs)
		return;
	printf("  load address      0x%08x, flags 0x%08x\n", in->load_addr, in->flags);
	printf("  TLVs (end at %llu of %llu bytes):\n", (unsigned long long)in->tlv_end,
	       (unsigned long long)in->file_size);
	for (size_t i = 0; i < in->ntlv; i++)
		printf("    %-11s type 0x%02x len %-4u at %llu%s%s\n",
		       in->tlvs[i].protected_area ? "protected" : "unprotected", in->tlvs[i].type,
		       in->tlvs[i].len, (unsigned long long)in->tlvs[i].offset,
		       in->tlvs[i].type == in->enc_type && !in->tlvs[i].protected_area ? " " : "",
		       in->tlvs[i].type == in->enc_type && !in->tlvs[i].protected_area
			       ? fsec_fw_enc_tlv_name(in->enc_type)
			       : "");
}

static int fw_verify(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"key", required_argument, NULL, 'k'},
		{"decrypt-key", required_argument, NULL, 'D'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_common c = {0};
	const char *key_path = NULL, *dk_path = NULL, *image;
	struct fsec_fw_enc_key *dk = NULL;
	struct fsec_fw_info info;
	EVP_PKEY *key = NULL;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		if (opt == 'k')
			key_path = optarg;
		else if (opt == 'D')
			dk_path = optarg;
	}
	if (opt < 0)
		return status;
	if (optind + 1 != argc || key_path == NULL)
		return cli_usage_error(self, "expected --key PUB.pem and one IMAGE");
	image = argv[optind];
	rc = fsec_key_load_public(key_path, &key);
	if (rc != FSEC_OK)
		return cli_fail(key_path, rc);
	if (dk_path != NULL && (rc = fsec_fw_enc_key_load(dk_path, true, &dk)) != FSEC_OK) {
		EVP_PKEY_free(key);
		return cli_fail(dk_path, rc);
	}
	rc = fsec_fw_verify_decrypt(image, key, dk, &info);
	EVP_PKEY_free(key);
	fsec_fw_enc_key_free(dk);
	if (rc != FSEC_OK) {
		if (c.json)
			cli_print_json(json_pack("{s:s, s:b, s:s}", "image", image, "valid", 0,
						 "reason", fsec_err_detail()));
		return cli_fail(image, rc);
	}
	if (c.json) {
		json_t *j = info_json(&info, false);

		json_object_set_new(j, "image", json_string(image));
		json_object_set_new(j, "valid", json_true());
		json_object_set_new(j, "decrypted", json_boolean(info.decrypted));
		json_object_set_new(j, "signature", json_string(info.sig_type == FSEC_FW_TLV_ED25519
									? "ed25519"
									: "ecdsa-p256"));
		return cli_print_json(j);
	}
	printf("%s: valid, signed by %s (%s)%s\n", image, key_path,
	       info.sig_type == FSEC_FW_TLV_ED25519 ? "ed25519" : "ecdsa-p256",
	       info.decrypted ? ", over the decrypted body" : "");
	print_info(&info, false);
	return 0;
}

static int fw_decrypt(int argc, char **argv, const struct cli_cmd *self)
{
	static const struct option longopts[] = {
		{"key", required_argument, NULL, 'k'},
		{"verify-key", required_argument, NULL, 'V'},
		{"out", required_argument, NULL, 'o'},
		{"payload", no_argument, NULL, 'p'},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	struct cli_common c = {0};
	const char *dk_path = NULL, *pub_path = NULL, *out = NULL, *in;
	struct fsec_fw_enc_key *dk = NULL;
	struct fsec_fw_info info;
	EVP_PKEY *pub = NULL;
	bool payload = false;
	enum fsec_err rc;
	int opt, status;

	while ((opt = cli_next_opt(argc, argv, longopts, self, &c, &status)) > 0) {
		switch (opt) {
		case 'k': dk_path = optarg; break;
		case 'V': pub_path = optarg; break;
		case 'o': out = optarg; break;
		case 'p': payload = true; break;
		}
	}
	if (opt < 0)
		return status;
	if (optind + 2 == argc && out == NULL)
		out = argv[optind + 1];
	else if (optind + 1 != argc || out == NULL)
		return cli_usage_error(self, "expected --key ENC_KEY, IN and OUT (or --out OUT)");
	if (dk_path == NULL)
		return cli_usage_error(self, "--key ENC_KEY is required");
	in = argv[optind];
	if (strcmp(in, out) == 0)
		return cli_usage_error(self, "OUT must differ from IN");
	if ((rc = fsec_fw_enc_key_load(dk_path, true, &dk)) != FSEC_OK)
		return cli_fail(dk_path, rc);
	if (pub_path != NULL && (rc = fsec_key_load_public(pub_path, &pub)) != FSEC_OK) {
		fsec_fw_enc_key_free(dk);
		return cli_fail(pub_path, rc);
	}
	rc = fsec_fw_decrypt(in, out, dk, pub, payload, &info);
	fsec_fw_enc_key_free(dk);
	EVP_PKEY_free(pub);
	if (rc != FSEC_OK) {
		if (c.json)
			cli_print_json(json_pack("{s:s, s:b, s:s}", "image", in, "decrypted", 0,
						 "reason", fsec_err_detail()));
		return cli_fail(in, rc);
	}
	if (c.json) {
		json_t *j = info_json(&info, false);

		json_object_set_new(j, "image", json_string(in));
		json_object_set_new(j, "out", json_string(out));
		json_object_set_new(j, "decrypted", json_true());
		json_object_set_new(j, "payload_only", json_boolean(payload));
		json_object_set_new(j, "signature_checked", json_boolean(pub_path != NULL));
		return cli_print_json(j);
	}
	fprintf(stderr, "%s: decrypted (%s, AES-%u) to %s, hash %s%s\n", in,
		fsec_fw_enc_tlv_name(info.enc_type), info.enc_keylen * 8, out, "matches",
		pub_path != NULL ? ", signature valid" : " (signature not checked: no --verify-key)");
	return 0;
}

static int fw_show(int argc, char **argv, const struct cli_cmd *self)
{
	struct cli_common c = {0};
	struct fsec_fw_info info;
	enum fsec_err rc;
	int status;

	if ((status = cli_common_only(argc, argv, self, &c, 1, "one IMAGE")) != CLI_GO_ON)
		return status;
	rc = fsec_fw_inspect(argv[optind], &info);
	if (rc != FSEC_OK)
		return cli_fail(argv[optind], rc);
	if (c.json)
		return cli_print_json(info_json(&info, true));
	printf("%s: MCUboot image (not verified)\n", argv[optind]);
	print_info(&info, true);
	return 0;
}

const struct cli_cmd cli_fw_cmds[] = {
	{"fw", "keygen", fw_keygen, "generate a firmware signing key (PKCS#8 PEM)",
	 "--out KEY.pem [--algo ed25519|p256] [--json]\n\n"
	 "Generates an Ed25519 (default) or ECDSA P-256 signing key, written 0600 as\n"
	 "PKCS#8 PEM like imgtool's keys. An existing file is never replaced.\n"},
	{"fw", "pubkey", fw_pubkey, "print the public half of a key (SPKI PEM)",
	 "KEY.pem [--out PUB.pem]\n\n"
	 "Writes the SubjectPublicKeyInfo PEM that devices pin and `fw verify --key` takes.\n"},
	{"fw", "sign", fw_sign, "sign a firmware payload into an MCUboot image",
	 "--key KEY.pem --version MAJ.MIN.REV[+BUILD] [--security-counter N|auto]\n"
	 "       [--header-size N] [--pad-header] [--align N] [--slot-size N] [--pad]\n"
	 "       [--confirm] [--public-key-format hash|full] [--sha auto|256|512] [--pure]\n"
	 "       [--dependencies '(ID,VERSION),...'] IN OUT\n\n"
	 "Produces the image imgtool 2.4.0 would (byte for byte with an Ed25519 key):\n"
	 "header, protected TLVs (security counter, dependencies), SHA-256 hash, key\n"
	 "hash and signature. OUT is written atomically. Numbers take 0x hex.\n\n"
	 "  --header-size N        header size (default 0x200, at least 32)\n"
	 "  --pad-header           prepend the header (filled with 0xff) instead of\n"
	 "                         requiring IN to start with N zero bytes\n"
	 "  --security-counter N   anti-rollback counter; auto = (maj<<24)+(min<<16)+rev\n"
	 "  --slot-size N          check that image + trailer fit the slot\n"
	 "  --pad                  pad to --slot-size with the boot trailer (test upgrade)\n"
	 "  --confirm              as --pad, with image_ok set (permanent upgrade)\n"
	 "  --align N              flash write alignment: 1, 2, 4, 8, 16 or 32 (default 1)\n\n"
	 "Encryption (MCUboot encrypted images, docs/FW-ENCRYPTION.md): the payload is\n"
	 "zero-padded to 16 bytes and AES-CTR encrypted under a fresh random key; the\n"
	 "hash and signature cover the plaintext; the key is wrapped in an ENC TLV.\n"
	 "The signing and encryption keys may be of different types.\n"
	 "  --encrypt PUB.pem      X25519 (ENC_X25519), P-256 (ENC_EC256) or RSA-2048\n"
	 "                         (ENC_RSA2048) public key of the devices\n"
	 "  --encrypt-kw KEK       AES key wrap (ENC_KW) under a 16/32-byte KEK file\n"
	 "                         (raw, or base64 as MCUboot's .b64)\n"
	 "  --encrypt-keylen 128|256  AES key size (default 128)\n"
	 "  --hmac-sha auto|256|512   ECIES hash; 512 (ENC_X25519_SHA512) for X25519 only\n"
	 "  --clear                flag and key TLV, but the body left in clear (imgtool -c)\n"
	 "  --save-enctlv          size the trailer for MCUBOOT_SWAP_SAVE_ENCTLV\n"},
	{"fw", "verify", fw_verify, "verify an MCUboot image against a public key",
	 "--key PUB.pem [--decrypt-key ENC_KEY] IMAGE [--json]\n\n"
	 "Checks the magic, the header and TLV bounds, the hash and a signature by the\n"
	 "key (named by its KEYHASH or PUBKEY TLV), with MCUboot's rules. Exits 0 only\n"
	 "for a valid image signed by that key; otherwise prints why: truncated,\n"
	 "malformed, hash mismatch, unsigned, wrong key or bad signature. Streams the\n"
	 "file: memory use does not grow with the image.\n\n"
	 "  --decrypt-key ENC_KEY  for an image flagged encrypted: unwrap its key with\n"
	 "                         this private key (or KEK) and decrypt the body before\n"
	 "                         hashing, as MCUboot does in the secondary slot.\n"
	 "Without it an encrypted image is refused as \"encrypted\", after checking the\n"
	 "signature over its stated hash; a decrypted (or --clear) image verifies as is.\n"},
	{"fw", "decrypt", fw_decrypt, "decrypt an encrypted MCUboot image",
	 "--key ENC_KEY [--verify-key PUB.pem] [--payload] IN OUT|--out OUT [--json]\n\n"
	 "Unwraps the image key from the ENC TLV with ENC_KEY (X25519, P-256 or RSA-2048\n"
	 "private key, or the AES KEK), decrypts the body and checks that the plaintext\n"
	 "matches the image's hash (and, with --verify-key, its signature) before OUT\n"
	 "appears (atomically, mode 0600). OUT is the image as MCUboot leaves it in the\n"
	 "primary slot: same header, flag and TLVs, body in clear; with --payload, the\n"
	 "plaintext body alone (the payload and imgtool's zero padding).\n"},
	{"fw", "show", fw_show, "print an image's header and TLVs without verifying",
	 "IMAGE [--json]\n"},
	{NULL, NULL, NULL, NULL, NULL},
};
