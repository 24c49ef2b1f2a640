/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pairing URI (pairing.h): a DPP bootstrapping URI carrying the device's
 * key. The grammar is the Wi-Fi Easy Connect one as hostap's dpp_parse_uri()
 * reads it (docs/PAIRING.md); this parser is stricter where fleetsec needs it
 * (caps, one field of each kind, the key's encoding and curve).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "b64_int.h"
#include "err_int.h"
#include "fleetsec/key.h"
#include "fleetsec/pairing.h"
#include "fleetsec/text.h"

/* A P-256 SubjectPublicKeyInfo: 59 bytes compressed, 91 uncompressed. */
#define SPKI_MAX 128

static bool is_p256(EVP_PKEY *key)
{
	char curve[32];

	return EVP_PKEY_is_a(key, "EC") &&
	       EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve,
					      sizeof(curve), NULL) == 1 &&
	       strcmp(curve, "prime256v1") == 0;
}

FSEC_API enum fsec_err fsec_pair_uri_make(EVP_PKEY *key, const char *serial, char **uri)
{
	EVP_PKEY *c = NULL;
	unsigned char *der = NULL, *spki = NULL;
	const unsigned char *p;
	char *b64 = NULL;
	size_t cap, slen = 0;
	int n;
	enum fsec_err rc = FSEC_ERR_CRYPTO;

	fsec_clearerr();
	*uri = NULL;
	if (!fsec_devid_valid(serial))
		return fsec_seterr(FSEC_ERR_INVAL, "serial is not a device ID (1-64 of A-Za-z0-9._-)");
	if (!is_p256(key))
		return fsec_seterr(FSEC_ERR_INVAL, "the device key is not ECDSA P-256");
	/* The public half as a plain key: the caller's may live in a TPM,
	 * whose provider cannot change its encoding, and keeps its own point
	 * format anyway. */
	if ((rc = fsec_key_spki_der(key, &spki, &slen)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_CRYPTO;
	p = spki;
	if ((c = d2i_PUBKEY(NULL, &p, (long)slen)) == NULL ||
	    EVP_PKEY_set_utf8_string_param(c, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					   "compressed") != 1 ||
	    (n = i2d_PUBKEY(c, &der)) <= 0) {
		fsec_seterr_ossl(rc, "cannot encode the public key in compressed form");
		goto out;
	}
	if ((b64 = fsec_b64_encode(der, (size_t)n)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	cap = strlen("DPP:V:2;I:;K:;;") + strlen(serial) + strlen(b64) + 1;
	if ((*uri = malloc(cap)) == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(*uri, cap, "DPP:V:2;I:%s;K:%s;;", serial, b64);
	rc = FSEC_OK;
out:
	free(b64);
	OPENSSL_free(der);
	OPENSSL_free(spki);
	EVP_PKEY_free(c);
	return rc;
}

FSEC_API void fsec_pair_uri_cleanup(struct fsec_pair_uri *u)
{
	if (u == NULL)
		return;
	EVP_PKEY_free(u->key);
	memset(u, 0, sizeof(*u));
}

/* DPP's channel list: class/channel pairs of digits, comma-separated. */
static bool chan_list_valid(const char *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t d = 0;

		while (i < n && v[i] >= '0' && v[i] <= '9' && d < 3)
			i++, d++;
		if (d == 0 || i >= n || v[i] != '/')
			return false;
		i++;
		d = 0;
		while (i < n && v[i] >= '0' && v[i] <= '9' && d < 3)
			i++, d++;
		if (d == 0)
			return false;
		if (i < n && v[i++] != ',')
			return false;
		if (i == n && v[n - 1] == ',')
			return false;
	}
	return n > 0;
}

static bool hex12(const char *v, size_t n)
{
	if (n != 12)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f') ||
		      (v[i] >= 'A' && v[i] <= 'F')))
			return false;
	return true;
}

/* K: canonical base64 of one DER SPKI on P-256 with a valid point. */
static enum fsec_err parse_key(const char *v, size_t n, struct fsec_pair_uri *out)
{
	unsigned char der[SPKI_MAX];
	const unsigned char *p = der;
	size_t len = 0;
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	enum fsec_err rc = FSEC_ERR_PARSE;

	if (!fsec_b64_decode(v, n, der, sizeof(der), &len)) {
		fsec_seterr(rc, "pairing URI: K: is not base64 of at most %d bytes", SPKI_MAX);
		goto out;
	}
	if ((key = d2i_PUBKEY(NULL, &p, (long)len)) == NULL || p != der + len) {
		fsec_seterr(rc, "pairing URI: K: is not one DER SubjectPublicKeyInfo with a valid "
				"point");
		goto out;
	}
	if (!is_p256(key)) {
		rc = fsec_seterr(FSEC_ERR_POLICY, "pairing URI: K: is not a P-256 key");
		goto out;
	}
	/* d2i_PUBKEY decodes the point; the full check also refuses the
	 * point at infinity and anything off the curve or outside the group. */
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) == NULL ||
	    EVP_PKEY_public_check(ctx) != 1) {
		fsec_seterr(rc, "pairing URI: K: is not a valid point on P-256");
		goto out;
	}
	if ((rc = fsec_key_spki_sha256(key, out->key_sha256)) != FSEC_OK)
		goto out;
	out->key = key;
	key = NULL;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	return rc;
}

FSEC_API enum fsec_err fsec_pair_uri_parse(const char *s, size_t len, struct fsec_pair_uri *out)
{
	struct fsec_pair_uri u;
	const char *kv = NULL, *iv = NULL;
	size_t kn = 0, in = 0, pos = 4;
	unsigned seen = 0; /* one bit per letter */
	enum fsec_err rc;

	fsec_clearerr();
	memset(&u, 0, sizeof(u));
	if (len > FSEC_PAIR_URI_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "pairing URI over %d bytes",
				   FSEC_PAIR_URI_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return fsec_seterr(FSEC_ERR_PARSE,
					   "pairing URI: byte %zu is not printable ASCII", i);
	if (len < 4 || memcmp(s, "DPP:", 4) != 0)
		return fsec_seterr(FSEC_ERR_PARSE, "pairing URI does not start with \"DPP:\"");
	/* Fields up to the final ";" that ends the list (";;" overall). */
	for (;;) {
		const char *v, *end;
		size_t n;
		char tag;

		if (pos < len && s[pos] == ';') {
			pos++;
			break;
		}
		if (pos + 2 > len || s[pos] < 'A' || s[pos] > 'Z' || s[pos + 1] != ':')
			return fsec_seterr(FSEC_ERR_PARSE,
					   "pairing URI: expected a field (X:value;) at byte %zu", pos);
		tag = s[pos];
		if (seen & (1u << (tag - 'A')))
			return fsec_seterr(FSEC_ERR_PARSE, "pairing URI: field %c: appears twice", tag);
		seen |= 1u << (tag - 'A');
		v = s + pos + 2;
		if ((end = memchr(v, ';', len - pos - 2)) == NULL)
			return fsec_seterr(FSEC_ERR_PARSE, "pairing URI: field %c: has no ';'", tag);
		n = (size_t)(end - v);
		switch (tag) {
		case 'K': kv = v; kn = n; break;
		case 'I': iv = v; in = n; break;
		case 'V':
			if (n != 1 || v[0] < '1' || v[0] > '3')
				return fsec_seterr(FSEC_ERR_PARSE, "pairing URI: V: is not 1, 2 or 3");
			u.version = (unsigned)(v[0] - '0');
			break;
		case 'C':
			if (!chan_list_valid(v, n))
				return fsec_seterr(FSEC_ERR_PARSE,
						   "pairing URI: C: is not a channel list");
			break;
		case 'M':
			if (!hex12(v, n))
				return fsec_seterr(FSEC_ERR_PARSE,
						   "pairing URI: M: is not a MAC address (12 hex digits)");
			break;
		default: break; /* a later DPP field: printable, skipped */
		}
		pos = (size_t)(end - s) + 1;
	}
	if (pos != len)
		return fsec_seterr(FSEC_ERR_PARSE, "pairing URI: %zu bytes after the final \";;\"",
				   len - pos);
	if (iv == NULL)
		return fsec_seterr(FSEC_ERR_PARSE, "pairing URI has no I: (the device serial)");
	if (in > FSEC_DEVID_MAX)
		return fsec_seterr(FSEC_ERR_PARSE, "pairing URI: I: is over %d characters",
				   FSEC_DEVID_MAX);
	memcpy(u.serial, iv, in);
	u.serial[in] = '\0';
	if (!fsec_devid_valid(u.serial))
		return fsec_seterr(FSEC_ERR_PARSE,
				   "pairing URI: I: is not a device ID (1-64 of A-Za-z0-9._-)");
	if (kv == NULL)
		return fsec_seterr(FSEC_ERR_PARSE, "pairing URI has no K: (the device key)");
	if ((rc = parse_key(kv, kn, &u)) != FSEC_OK)
		return rc;
	*out = u;
	return FSEC_OK;
}
