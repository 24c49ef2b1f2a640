/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for release bundles, the JSON a device fetches from an
 * update server it does not trust. The first byte picks what the rest is:
 *   0: a whole bundle, through fsec_release_verify (envelopes, base64, the
 *      signature checks, and everything after them for the signed seeds);
 *   1: a manifest payload alone (and the same bytes as a timestamp and a
 *      device's tamper statement), 2: a delegation payload alone (and the same
 *      bytes as a release-root payload) - the parsers behind the signatures,
 *      which mutated bundles would rarely reach. Case 0 also feeds the bytes
 *      to a device's trust as a served chain of root documents, and as a
 *      tamper statement's envelope (fsec_tamper_statement_open, keyed by
 *      the root).
 * Contracts checked: one-line NUL-terminated reasons, a reason on every
 * failure, and a consistent entry on success.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fleetsec/release.h"
#include "release_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The test root of tests/vectors/mcuboot (ed25519.pub.der), which signed
 * the seed bundles. */
static const unsigned char root_raw[32] = {
	0x92, 0xe4, 0xdc, 0x2a, 0x00, 0xfa, 0xc7, 0x34, 0xe6, 0x8a, 0xfa, 0x97, 0xd8, 0x4f, 0xa3, 0x64,
	0xb6, 0x4c, 0x22, 0x02, 0x63, 0xd5, 0xdc, 0x16, 0xeb, 0x38, 0x03, 0x49, 0xf7, 0x75, 0xc3, 0xfd,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static EVP_PKEY *root;
	struct fsec_release_policy pol = {.nroots = 1, .model = "sensor", .now = 1795000000};
	struct fsec_release *r = NULL;
	const struct fsec_release_entry *e;
	enum fsec_err rc;

	if (root == NULL &&
	    (root = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, root_raw, 32)) == NULL)
		abort();
	if (size < 1)
		return 0;
	fsec_clearerr();
	switch (data[0] % 3) {
	case 1:
		/* Payloads: a manifest, and the same bytes as a timestamp. */
		fuzz_check_detail(fsec_release_check_manifest(data + 1, size - 1));
		fsec_clearerr();
		fuzz_check_detail(fsec_release_check_timestamp(data + 1, size - 1));
		fsec_clearerr();
		fuzz_check_detail(fsec_release_check_tamper(data + 1, size - 1));
		return 0;
	case 2:
		fuzz_check_detail(fsec_release_check_delegation(data + 1, size - 1));
		fsec_clearerr();
		fuzz_check_detail(fsec_release_check_root(data + 1, size - 1));
		return 0;
	}
	pol.roots = &root;
	{
		/* A chain of root documents, followed from the test root. */
		struct fsec_release_trust *t = NULL;
		bool changed = false;

		if (fsec_release_trust_new(&root, 1, NULL, 0, &t) != FSEC_OK)
			abort();
		rc = fsec_release_trust_update(t, data + 1, size - 1, &changed);
		fuzz_check_detail(rc);
		if (rc != FSEC_OK && fsec_release_trust_version(t) != 1)
			abort();
		fsec_release_trust_free(t);
		fsec_clearerr();
	}
	{
		/* Bundles: the kind, and the timestamp verifier on the same bytes. */
		struct fsec_release_timestamp t;
		enum fsec_release_kind kind;

		fuzz_check_detail(fsec_release_kind(data + 1, size - 1, &kind));
		fsec_clearerr();
		rc = fsec_release_timestamp_verify(data + 1, size - 1, &pol, &t);
		fuzz_check_detail(rc);
		if (rc == FSEC_OK && strcmp(t.model, "sensor") != 0)
			abort();
		fsec_clearerr();
	}
	{
		struct fsec_tamper_statement st;

		fuzz_check_detail(fsec_tamper_statement_open(data + 1, size - 1, root, &st));
		fsec_clearerr();
	}
	rc = fsec_release_verify(data + 1, size - 1, &pol, &r);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK) {
		if (r != NULL)
			abort();
		return 0;
	}
	e = fsec_release_entry(r);
	if (e == NULL || strcmp(e->model, "sensor") != 0 || e->nurls == 0 ||
	    e->nurls > FSEC_RELEASE_MAX_URLS || e->chunk_size < FSEC_RELEASE_CHUNK_MIN ||
	    e->nchunks != (e->size + e->chunk_size - 1) / e->chunk_size)
		abort();
	fsec_release_free(r);
	return 0;
}
