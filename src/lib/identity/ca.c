/* SPDX-License-Identifier: Apache-2.0 */
/* The fleet CA's X.509 work (ca.h): CA, device and server certificates
 * and CRLs, built and signed here; no state on disk. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "err_int.h"
#include "pem_int.h"
#include "fleetsec/ca.h"
#include "fleetsec/identity.h"
#include "fleetsec/key.h"
#include "key_int.h"

/* Never more than this, so that days * 86400 cannot overflow. */
#define MAX_DAYS (100 * 366)
/* Devices without a battery-backed clock are often a little behind. */
#define BACKDATE_SECONDS 60

struct fsec_ca {
	X509 *issuing;
	EVP_PKEY *key;
	X509 *root;
	char fleet[FSEC_FLEET_NAME_MAX + 1];
};

FSEC_API enum fsec_err fsec_fleet_name_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > FSEC_FLEET_NAME_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "fleet name must be 1-%d characters",
				   FSEC_FLEET_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (!isprint((unsigned char)name[i]))
			return fsec_seterr(FSEC_ERR_INVAL, "fleet name has a non-printable character");
	return FSEC_OK;
}

/* EdDSA signs the message itself, so it takes no separate digest. */
static const EVP_MD *sign_md(EVP_PKEY *key)
{
	int id = EVP_PKEY_get_base_id(key);

	if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)
		return NULL;
	if (EVP_PKEY_get_bits(key) > 256)
		return EVP_sha384();
	return EVP_sha256();
}

static enum fsec_err check_days(int days)
{
	if (days < 1 || days > MAX_DAYS)
		return fsec_seterr(FSEC_ERR_INVAL, "validity of %d days is out of range (1-%d)", days,
				   MAX_DAYS);
	return FSEC_OK;
}

static enum fsec_err add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok;

	if (ext == NULL)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot build extension %s", OBJ_nid2sn(nid));
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot add extension %s", OBJ_nid2sn(nid));
	return FSEC_OK;
}

/* O=org[, serialNumber=sn], CN=cn. */
static X509_NAME *make_name(const char *cn, const char *org, const char *sn)
{
	X509_NAME *n = X509_NAME_new();

	if (n == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0) ||
	    (sn != NULL && !X509_NAME_add_entry_by_txt(n, "serialNumber", MBSTRING_ASC,
						       (const unsigned char *)sn, -1, -1, 0)) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

struct ext_spec {
	int nid;
	const char *value;
};

struct cert_spec {
	const X509_NAME *subject;
	X509 *issuer;             /* NULL: self-signed */
	EVP_PKEY *pub;
	EVP_PKEY *signer;
	const unsigned char *serial;
	size_t serial_len;
	time_t not_before, not_after;
	const struct ext_spec *exts; /* terminated by NID_undef */
	bool spki_only;              /* write the SPKI from key parameters (see below) */
};

/* Every certificate fleetsec makes goes through here, so the profile rules
 * (v3, positive random serial, AKI from the issuer) live in one place. */
static enum fsec_err build_cert(const struct cert_spec *s, X509 **out)
{
	enum fsec_err rc = FSEC_ERR_CRYPTO;
	X509 *cert = X509_new();
	BIGNUM *bn = NULL;
	X509V3_CTX ctx;

	if (cert == NULL || !X509_set_version(cert, X509_VERSION_3)) {
		fsec_seterr_ossl(rc, "cannot allocate certificate");
		goto out;
	}
	bn = BN_bin2bn(s->serial, (int)s->serial_len, NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL ||
	    !X509_set_subject_name(cert, s->subject) ||
	    !X509_set_issuer_name(cert, s->issuer != NULL ? X509_get_subject_name(s->issuer)
							   : s->subject) ||
	    X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &(time_t){s->not_before}) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), 0, 0, &(time_t){s->not_after}) == NULL) {
		fsec_seterr_ossl(rc, "cannot fill certificate fields");
		goto out;
	}
	/* X509_set_pubkey runs OpenSSL 3.0's encoder and then its decoder
	 * (~180 us, 7x the ECDSA signature). Device certificates take the SPKI
	 * from the key's parameters instead; the price is that the returned
	 * X509 has no cached EVP_PKEY (X509_get0_pubkey gives NULL). */
	if (s->spki_only) {
		if ((rc = fsec_key_spki_fill(s->pub, X509_get_X509_PUBKEY(cert))) != FSEC_OK)
			goto out;
		rc = FSEC_ERR_CRYPTO;
	} else if (!X509_set_pubkey(cert, s->pub)) {
		fsec_seterr_ossl(rc, "cannot fill certificate fields");
		goto out;
	}
	X509V3_set_ctx(&ctx, s->issuer != NULL ? s->issuer : cert, cert, NULL, NULL, 0);
	for (size_t i = 0; s->exts[i].nid != NID_undef; i++) {
		rc = add_ext(cert, &ctx, s->exts[i].nid, s->exts[i].value);
		if (rc != FSEC_OK)
			goto out;
	}
	if (X509_sign(cert, s->signer, sign_md(s->signer)) <= 0) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "signing the certificate failed");
		goto out;
	}
	*out = cert;
	cert = NULL;
	rc = FSEC_OK;
out:
	BN_free(bn);
	X509_free(cert);
	return rc;
}

/* A certificate may not outlive its issuer: clamp rather than refuse, so a
 * long --days near the end of a CA's life still yields a valid chain. */
static enum fsec_err clamp_to_issuer(X509 *issuer, time_t *not_after)
{
	struct tm tm;
	time_t limit;

	if (!ASN1_TIME_to_tm(X509_get0_notAfter(issuer), &tm))
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot read the issuer's expiry");
	limit = timegm(&tm);
	if (*not_after > limit)
		*not_after = limit;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_ca_random_serial(unsigned char serial[FSEC_SERIAL_LEN])
{
	if (RAND_bytes(serial, FSEC_SERIAL_LEN) != 1)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "random number generator failed");
	/* Positive (DER INTEGER sign bit clear) and never zero-led, so the
	 * encoding is always the full 16 bytes. */
	serial[0] &= 0x7f;
	serial[0] |= 0x40;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_ca_make_root(EVP_PKEY *key, const char *fleet, unsigned generation,
					 int days, X509 **out)
{
	static const struct ext_spec exts[] = {
		{NID_basic_constraints, "critical,CA:TRUE"},
		{NID_key_usage, "critical,keyCertSign,cRLSign"},
		{NID_subject_key_identifier, "hash"},
		{NID_undef, NULL},
	};
	unsigned char serial[FSEC_SERIAL_LEN];
	char cn[FSEC_FLEET_NAME_MAX + 32];
	X509_NAME *name = NULL;
	time_t now = time(NULL);
	enum fsec_err rc;

	if ((rc = fsec_fleet_name_check(fleet)) != FSEC_OK || (rc = check_days(days)) != FSEC_OK ||
	    (rc = fsec_ca_random_serial(serial)) != FSEC_OK)
		return rc;
	/* A rollover's root has a name of its own: two roots sharing a
	 * subject would make chain building pick either. */
	if (generation <= 1)
		snprintf(cn, sizeof(cn), "%s Root CA", fleet);
	else
		snprintf(cn, sizeof(cn), "%s Root CA %u", fleet, generation);
	name = make_name(cn, fleet, NULL);
	if (name == NULL)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot build root CA name");
	rc = build_cert(&(struct cert_spec){
				.subject = name, .issuer = NULL, .pub = key, .signer = key,
				.serial = serial, .serial_len = sizeof(serial),
				.not_before = now - BACKDATE_SECONDS,
				.not_after = now + (time_t)days * 86400, .exts = exts},
			out);
	X509_NAME_free(name);
	return rc;
}

FSEC_API enum fsec_err fsec_ca_make_issuing(EVP_PKEY *root_key, X509 *root, EVP_PKEY *issuing_pub,
					    const char *fleet, unsigned generation, int days,
					    X509 **out)
{
	static const struct ext_spec exts[] = {
		{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
		{NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
		{NID_undef, NULL},
	};
	unsigned char serial[FSEC_SERIAL_LEN];
	char cn[FSEC_FLEET_NAME_MAX + 32];
	X509_NAME *name = NULL;
	time_t now = time(NULL), not_after;
	enum fsec_err rc;

	if ((rc = fsec_fleet_name_check(fleet)) != FSEC_OK || (rc = check_days(days)) != FSEC_OK ||
	    (rc = fsec_ca_random_serial(serial)) != FSEC_OK)
		return rc;
	not_after = now + (time_t)days * 86400;
	if ((rc = clamp_to_issuer(root, &not_after)) != FSEC_OK)
		return rc;
	if (generation <= 1)
		snprintf(cn, sizeof(cn), "%s Issuing CA", fleet);
	else
		snprintf(cn, sizeof(cn), "%s Issuing CA %u", fleet, generation);
	name = make_name(cn, fleet, NULL);
	if (name == NULL)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot build issuing CA name");
	rc = build_cert(&(struct cert_spec){
				.subject = name, .issuer = root, .pub = issuing_pub, .signer = root_key,
				.serial = serial, .serial_len = sizeof(serial),
				.not_before = now - BACKDATE_SECONDS, .not_after = not_after,
				.exts = exts},
			out);
	X509_NAME_free(name);
	return rc;
}

FSEC_API enum fsec_err fsec_ca_make_cross(EVP_PKEY *signer_key, X509 *signer, X509 *subject,
					  X509 **out)
{
	/* No pathlen: the cross certificate sits above an issuing CA
	 * (leaf -> issuing -> cross -> other root). */
	static const struct ext_spec exts[] = {
		{NID_basic_constraints, "critical,CA:TRUE"},
		{NID_key_usage, "critical,keyCertSign,cRLSign"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
		{NID_undef, NULL},
	};
	unsigned char serial[FSEC_SERIAL_LEN];
	EVP_PKEY *pub = X509_get0_pubkey(subject);
	time_t now = time(NULL), not_after = now;
	struct tm tm;
	enum fsec_err rc;

	if (pub == NULL)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot read the subject's public key");
	if (X509_check_private_key(signer, signer_key) != 1)
		return fsec_seterr_ossl(FSEC_ERR_VERIFY, "the signing key is not the signer's");
	/* The cross certificate lives as long as the shorter of the two roots:
	 * a path through it is never valid where either root is not. */
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(subject), &tm))
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot read the subject's expiry");
	not_after = timegm(&tm);
	if ((rc = clamp_to_issuer(signer, &not_after)) != FSEC_OK ||
	    (rc = fsec_ca_random_serial(serial)) != FSEC_OK)
		return rc;
	return build_cert(&(struct cert_spec){
				  .subject = X509_get_subject_name(subject), .issuer = signer,
				  .pub = pub, .signer = signer_key, .serial = serial,
				  .serial_len = sizeof(serial), .not_before = now - BACKDATE_SECONDS,
				  .not_after = not_after, .exts = exts},
			  out);
}

FSEC_API enum fsec_err fsec_ca_new(X509 *issuing, EVP_PKEY *issuing_key, X509 *root,
				   const char *fleet, struct fsec_ca **out)
{
	struct fsec_ca *ca;
	enum fsec_err rc;

	if ((rc = fsec_fleet_name_check(fleet)) != FSEC_OK)
		return rc;
	if (X509_check_private_key(issuing, issuing_key) != 1)
		return fsec_seterr_ossl(FSEC_ERR_VERIFY,
					"issuing CA key does not match its certificate");
	ca = calloc(1, sizeof(*ca));
	if (ca == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	X509_up_ref(issuing);
	EVP_PKEY_up_ref(issuing_key);
	X509_up_ref(root);
	ca->issuing = issuing;
	ca->key = issuing_key;
	ca->root = root;
	snprintf(ca->fleet, sizeof(ca->fleet), "%s", fleet);
	*out = ca;
	return FSEC_OK;
}

FSEC_API void fsec_ca_free(struct fsec_ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->issuing);
	EVP_PKEY_free(ca->key);
	X509_free(ca->root);
	free(ca);
}

FSEC_API X509 *fsec_ca_get_issuing(const struct fsec_ca *ca)
{
	return ca->issuing;
}

FSEC_API X509 *fsec_ca_get_root(const struct fsec_ca *ca)
{
	return ca->root;
}

FSEC_API void fsec_issued_cert_cleanup(struct fsec_issued_cert *c)
{
	if (c == NULL)
		return;
	OPENSSL_free(c->der);
	memset(c, 0, sizeof(*c));
}

FSEC_API enum fsec_err fsec_issued_cert_pem(const struct fsec_issued_cert *c, char **pem)
{
	return fsec_pem_cert_encode_der(c->der, c->der_len, pem);
}

/* Issue an end-entity certificate for pub under name with exts, valid from
 * now (backdated for clock skew) for days, clamped to the issuer's expiry. */
static enum fsec_err issue_leaf(struct fsec_ca *ca, EVP_PKEY *pub, X509_NAME *name,
				const struct ext_spec *exts, int days,
				const unsigned char serial[FSEC_SERIAL_LEN], struct fsec_issued_cert *out)
{
	struct fsec_issued_cert res = {0};
	time_t now = time(NULL), not_after;
	unsigned char md[32];
	X509 *cert = NULL;
	enum fsec_err rc;
	int len;

	if ((rc = check_days(days)) != FSEC_OK)
		return rc;
	not_after = now + (time_t)days * 86400;
	if ((rc = clamp_to_issuer(ca->issuing, &not_after)) != FSEC_OK)
		return rc;
	rc = build_cert(&(struct cert_spec){
				.subject = name, .issuer = ca->issuing, .pub = pub, .signer = ca->key,
				.serial = serial, .serial_len = FSEC_SERIAL_LEN,
				.not_before = now - BACKDATE_SECONDS, .not_after = not_after,
				.exts = exts, .spki_only = true},
			&cert);
	if (rc != FSEC_OK)
		goto out;
	rc = FSEC_ERR_CRYPTO;
	len = i2d_X509(cert, &res.der);
	if (len <= 0 || !EVP_Q_digest(NULL, "SHA256", NULL, res.der, (size_t)len, md, NULL)) {
		fsec_seterr_ossl(rc, "cannot encode certificate");
		goto out;
	}
	res.der_len = (size_t)len;
	fsec_hex(md, sizeof(md), res.fingerprint);
	if ((rc = fsec_cert_serial_hex(cert, res.serial)) != FSEC_OK)
		goto out;
	res.not_before = now - BACKDATE_SECONDS;
	res.not_after = not_after;
	*out = res;
	memset(&res, 0, sizeof(res));
	rc = FSEC_OK;
out:
	fsec_issued_cert_cleanup(&res);
	X509_free(cert);
	return rc;
}

/* A client certificate (clientAuth) for cn, whose identity is the SAN URI
 * uri: a device's or a role's, the only two the fleet CA writes. */
static enum fsec_err issue_client(struct fsec_ca *ca, EVP_PKEY *pub, const char *cn,
				  const char *uri, int days,
				  const unsigned char serial[FSEC_SERIAL_LEN],
				  struct fsec_issued_cert *out)
{
	char san[200];
	const struct ext_spec exts[] = {
		{NID_basic_constraints, "critical,CA:FALSE"},
		{NID_key_usage, "critical,digitalSignature"},
		{NID_ext_key_usage, "clientAuth"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
		{NID_subject_alt_name, san},
		{NID_undef, NULL},
	};
	X509_NAME *name = NULL;
	enum fsec_err rc;

	snprintf(san, sizeof(san), "URI:%s", uri);
	if ((name = make_name(cn, ca->fleet, NULL)) == NULL)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot build the subject name");
	rc = issue_leaf(ca, pub, name, exts, days, serial, out);
	X509_NAME_free(name);
	return rc;
}

FSEC_API enum fsec_err fsec_ca_issue_device(struct fsec_ca *ca, EVP_PKEY *pub, const char *id,
					    int days, const unsigned char serial[FSEC_SERIAL_LEN],
					    struct fsec_issued_cert *out)
{
	char uri[sizeof(FSEC_DEVID_URN_PREFIX) + FSEC_DEVID_MAX];
	enum fsec_err rc;

	/* The ID goes into an extension config string: only the validated
	 * character set keeps ',' and ':' from being read as syntax. */
	if ((rc = fsec_devid_check(id)) != FSEC_OK)
		return rc;
	snprintf(uri, sizeof(uri), "%s%s", FSEC_DEVID_URN_PREFIX, id);
	return issue_client(ca, pub, id, uri, days, serial, out);
}

FSEC_API enum fsec_err fsec_ca_issue_role(struct fsec_ca *ca, EVP_PKEY *pub, const char *role,
					  const char *name, int days,
					  const unsigned char serial[FSEC_SERIAL_LEN],
					  struct fsec_issued_cert *out)
{
	char uri[sizeof(FSEC_ROLE_URN_PREFIX) + FSEC_ROLE_MAX + FSEC_ROLE_NAME_MAX + 1];

	/* As for a device ID: the validated character set keeps the name
	 * from being read as extension config syntax. */
	if (!fsec_role_valid(role))
		return fsec_seterr(FSEC_ERR_INVAL, "role '%.20s' is not backend, operator or broker", role);
	if (strlen(name) > FSEC_ROLE_NAME_MAX || !fsec_devid_valid(name))
		return fsec_seterr(FSEC_ERR_INVAL,
				   "client name '%.40s' is not 1-%d characters of A-Z a-z 0-9 . _ -",
				   name, FSEC_ROLE_NAME_MAX);
	snprintf(uri, sizeof(uri), "%s%s:%s", FSEC_ROLE_URN_PREFIX, role, name);
	return issue_client(ca, pub, name, uri, days, serial, out);
}

FSEC_API enum fsec_err fsec_ca_issue_idevid(struct fsec_ca *ca, EVP_PKEY *pub, const char *sn,
					    int days, const unsigned char serial[FSEC_SERIAL_LEN],
					    struct fsec_issued_cert *out)
{
	static const struct ext_spec exts[] = {
		{NID_basic_constraints, "critical,CA:FALSE"},
		{NID_key_usage, "critical,digitalSignature"},
		{NID_ext_key_usage, "clientAuth"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
		{NID_undef, NULL},
	};
	X509_NAME *name = NULL;
	enum fsec_err rc;

	/* The serial becomes the enrolled device's ID, so it obeys the same
	 * rules (and the printable-string subset serialNumber allows). */
	if ((rc = fsec_devid_check(sn)) != FSEC_OK)
		return rc;
	if ((name = make_name(sn, ca->fleet, sn)) == NULL)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot build bootstrap certificate name");
	rc = issue_leaf(ca, pub, name, exts, days, serial, out);
	X509_NAME_free(name);
	return rc;
}

/* A DNS host name (RFC 1123 labels), checked before it goes into an
 * extension config string where ',' or ':' would be syntax. */
static bool dns_name_valid(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && !(s[i] == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[n - 1] != '-';
}

/* An http(s) URL without characters that extension config syntax reads. */
static bool crl_url_valid(const char *u)
{
	if (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)
		return false;
	for (const char *p = u; *p != '\0'; p++)
		if (!isgraph((unsigned char)*p) || *p == ',' || *p == '\\')
			return false;
	return strlen(u) < 512;
}

FSEC_API enum fsec_err fsec_ca_issue_server(struct fsec_ca *ca, EVP_PKEY *pub,
					    const struct fsec_server_cert_spec *spec,
					    const unsigned char serial[FSEC_SERIAL_LEN],
					    struct fsec_issued_cert *out)
{
	char san[FSEC_SERVER_IPS_MAX * (INET6_ADDRSTRLEN + 4) + 270], crldp[560];
	struct ext_spec exts[] = {
		{NID_basic_constraints, "critical,CA:FALSE"},
		{NID_key_usage, "critical,digitalSignature"},
		{NID_ext_key_usage, "serverAuth"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
		{NID_subject_alt_name, san},
		{NID_undef, NULL}, /* CRL distribution point, if any */
		{NID_undef, NULL},
	};
	X509_NAME *name = NULL;
	size_t used;
	enum fsec_err rc;

	if (!dns_name_valid(spec->name))
		return fsec_seterr(FSEC_ERR_INVAL, "server name '%s' is not a DNS host name",
				   spec->name);
	if (spec->nips > FSEC_SERVER_IPS_MAX)
		return fsec_seterr(FSEC_ERR_INVAL, "at most %d addresses", FSEC_SERVER_IPS_MAX);
	used = (size_t)snprintf(san, sizeof(san), "DNS:%s", spec->name);
	for (size_t i = 0; i < spec->nips; i++) {
		unsigned char bin[16];
		char norm[INET6_ADDRSTRLEN];
		int af = strchr(spec->ips[i], ':') != NULL ? AF_INET6 : AF_INET;

		/* Re-printed from the parsed form: nothing the caller typed
		 * reaches the config string. */
		if (inet_pton(af, spec->ips[i], bin) != 1 ||
		    inet_ntop(af, bin, norm, sizeof(norm)) == NULL)
			return fsec_seterr(FSEC_ERR_INVAL, "'%s' is not an IP address", spec->ips[i]);
		used += (size_t)snprintf(san + used, sizeof(san) - used, ",IP:%s", norm);
	}
	if (spec->crl_url != NULL) {
		if (!crl_url_valid(spec->crl_url))
			return fsec_seterr(FSEC_ERR_INVAL, "CRL URL '%s' is not an http(s) URL",
					   spec->crl_url);
		snprintf(crldp, sizeof(crldp), "URI:%s", spec->crl_url);
		exts[6] = (struct ext_spec){NID_crl_distribution_points, crldp};
	}
	if ((name = make_name(spec->name, ca->fleet, NULL)) == NULL)
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot build server name");
	rc = issue_leaf(ca, pub, name, exts, spec->days, serial, out);
	X509_NAME_free(name);
	return rc;
}

static enum fsec_err add_revoked(X509_CRL *crl, const struct fsec_crl_entry *e)
{
	enum fsec_err rc = FSEC_ERR_CRYPTO;
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_ENUMERATED *reason = NULL;
	ASN1_TIME *when = NULL;
	ASN1_INTEGER *sn = NULL;
	BIGNUM *bn = NULL;

	if (BN_hex2bn(&bn, e->serial) != (int)strlen(e->serial) || strlen(e->serial) == 0) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "revoked serial '%.40s' is not hex", e->serial);
		goto out;
	}
	sn = BN_to_ASN1_INTEGER(bn, NULL);
	when = ASN1_TIME_set(NULL, e->revoked_at);
	if (r == NULL || sn == NULL || when == NULL || !X509_REVOKED_set_serialNumber(r, sn) ||
	    !X509_REVOKED_set_revocationDate(r, when)) {
		fsec_seterr_ossl(rc, "cannot build CRL entry");
		goto out;
	}
	/* RFC 5280 5.3.1: unspecified (0) SHOULD be expressed by omission. */
	if (e->reason != 0) {
		reason = ASN1_ENUMERATED_new();
		if (reason == NULL || !ASN1_ENUMERATED_set(reason, e->reason) ||
		    !X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0)) {
			fsec_seterr_ossl(rc, "cannot add CRL reason");
			goto out;
		}
	}
	if (!X509_CRL_add0_revoked(crl, r)) {
		fsec_seterr_ossl(rc, "cannot add CRL entry");
		goto out;
	}
	r = NULL;
	rc = FSEC_OK;
out:
	ASN1_ENUMERATED_free(reason);
	ASN1_TIME_free(when);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_REVOKED_free(r);
	return rc;
}

FSEC_API enum fsec_err fsec_ca_make_crl(struct fsec_ca *ca, const struct fsec_crl_entry *entries,
					size_t n, uint64_t number, int days, X509_CRL **out)
{
	enum fsec_err rc = FSEC_ERR_CRYPTO;
	X509_CRL *crl = X509_CRL_new();
	ASN1_INTEGER *num = NULL;
	ASN1_TIME *t = NULL;
	time_t now = time(NULL);
	X509V3_CTX ctx;

	if ((rc = check_days(days)) != FSEC_OK)
		goto out;
	rc = FSEC_ERR_CRYPTO;
	num = ASN1_INTEGER_new();
	t = ASN1_TIME_new();
	if (crl == NULL || num == NULL || t == NULL || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->issuing)) ||
	    ASN1_TIME_set(t, now) == NULL || !X509_CRL_set1_lastUpdate(crl, t) ||
	    X509_time_adj_ex(t, days, 0, &now) == NULL || !X509_CRL_set1_nextUpdate(crl, t) ||
	    !ASN1_INTEGER_set_uint64(num, number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0)) {
		fsec_seterr_ossl(rc, "cannot build CRL");
		goto out;
	}
	X509V3_set_ctx(&ctx, ca->issuing, NULL, NULL, crl, 0);
	{
		X509_EXTENSION *aki = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier,
							   "keyid:always");

		if (aki == NULL || !X509_CRL_add_ext(crl, aki, -1)) {
			X509_EXTENSION_free(aki);
			fsec_seterr_ossl(rc, "cannot add CRL authority key identifier");
			goto out;
		}
		X509_EXTENSION_free(aki);
	}
	for (size_t i = 0; i < n; i++)
		if ((rc = add_revoked(crl, &entries[i])) != FSEC_OK)
			goto out;
	if (!X509_CRL_sort(crl) || X509_CRL_sign(crl, ca->key, sign_md(ca->key)) <= 0) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "signing the CRL failed");
		goto out;
	}
	*out = crl;
	crl = NULL;
	rc = FSEC_OK;
out:
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return rc;
}

/* The reasons that make sense for a device certificate. certificateHold is
 * left out on purpose: fleetsec revocation is final. */
static const struct {
	const char *name;
	int code;
} reasons[] = {
	{"unspecified", 0},          {"keyCompromise", 1},        {"affiliationChanged", 3},
	{"superseded", 4},           {"cessationOfOperation", 5}, {"privilegeWithdrawn", 9},
};

FSEC_API enum fsec_err fsec_crl_reason_parse(const char *name, int *code)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(name, reasons[i].name) == 0) {
			*code = reasons[i].code;
			return FSEC_OK;
		}
	return fsec_seterr(FSEC_ERR_INVAL,
			   "unknown revocation reason '%.40s' (unspecified, keyCompromise, "
			   "affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn)",
			   name);
}

FSEC_API const char *fsec_crl_reason_name(int code)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].name;
	return "unknown";
}

FSEC_API enum fsec_err fsec_cert_serial_hex(X509 *cert, char out[FSEC_SERIAL_HEX_LEN])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = NULL;
	enum fsec_err rc = FSEC_ERR_TOO_LARGE;

	if (bn == NULL || (hex = BN_bn2hex(bn)) == NULL) {
		rc = fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot read serial number");
		goto out;
	}
	if (strlen(hex) >= FSEC_SERIAL_HEX_LEN) {
		fsec_seterr(rc, "serial number longer than %d bytes", FSEC_SERIAL_LEN);
		goto out;
	}
	memcpy(out, hex, strlen(hex) + 1);
	rc = FSEC_OK;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

FSEC_API enum fsec_err fsec_cert_fingerprint(X509 *cert, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (!X509_digest(cert, EVP_sha256(), md, &mdlen) || mdlen != sizeof(md))
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "cannot fingerprint certificate");
	fsec_hex(md, sizeof(md), out);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_cert_pem(X509 *cert, char **out)
{
	return fsec_pem_cert_encode(cert, out);
}
