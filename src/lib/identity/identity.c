/* SPDX-License-Identifier: Apache-2.0 */
/* Identity in a certificate (identity.h): the SAN URI
 * urn:fleetsec:device:ID, or urn:fleetsec:role:ROLE:NAME for a backend or
 * operator client, checked against the subject CN. Nothing else parses
 * subjects. */
#include <string.h>

#include <openssl/x509v3.h>

#include "err_int.h"
#include "fleetsec/identity.h"

/* Copy an ASN1 string into out (cap bytes with NUL), refusing embedded NULs
 * that would let "good\0evil" pass a C string comparison. */
static bool asn1_to_cstr(const ASN1_STRING *s, char *out, size_t cap)
{
	int len = ASN1_STRING_length(s);
	const unsigned char *d = ASN1_STRING_get0_data(s);

	if (len < 0 || (size_t)len >= cap || memchr(d, '\0', (size_t)len) != NULL)
		return false;
	memcpy(out, d, (size_t)len);
	out[len] = '\0';
	return true;
}

/*
 * The one SAN URI of sans starting with prefix, its rest copied into out
 * (cap bytes with NUL). *found counts them (0: none, out untouched).
 * Errors: PARSE (several, or one too long for out).
 */
static enum fsec_err one_uri(const GENERAL_NAMES *sans, const char *prefix, const char *what,
			     char *out, size_t cap, int *found)
{
	const size_t plen = strlen(prefix);

	*found = 0;
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		char uri[160];

		if (gn->type != GEN_URI)
			continue;
		if (!asn1_to_cstr(gn->d.uniformResourceIdentifier, uri, sizeof(uri))) {
			/* Too long for any URI of ours, or a NUL: one of ours
			 * only if it starts like one. */
			const ASN1_STRING *u = gn->d.uniformResourceIdentifier;

			if ((size_t)ASN1_STRING_length(u) >= plen &&
			    memcmp(ASN1_STRING_get0_data(u), prefix, plen) == 0)
				return fsec_seterr(FSEC_ERR_PARSE, "certificate carries an invalid %s",
						   what);
			continue;
		}
		if (strncmp(uri, prefix, plen) != 0)
			continue;
		if (++(*found) > 1)
			return fsec_seterr(FSEC_ERR_PARSE, "certificate carries several %ss", what);
		if (strlen(uri + plen) >= cap)
			return fsec_seterr(FSEC_ERR_PARSE, "certificate carries an invalid %s", what);
		memcpy(out, uri + plen, strlen(uri + plen) + 1);
	}
	return FSEC_OK;
}

/* Is the subject's one CN exactly want? */
static bool cn_is(X509 *cert, const char *want)
{
	X509_NAME *subj = X509_get_subject_name(cert);
	char cn[FSEC_DEVID_MAX + 1];
	int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);

	return idx >= 0 && X509_NAME_get_index_by_NID(subj, NID_commonName, idx) < 0 &&
	       asn1_to_cstr(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)), cn,
			    sizeof(cn)) &&
	       strcmp(cn, want) == 0;
}

FSEC_API enum fsec_err fsec_identity_from_cert(X509 *cert, char out[FSEC_DEVID_MAX + 1])
{
	enum fsec_err rc;
	GENERAL_NAMES *sans = NULL;
	char id[FSEC_DEVID_MAX + 1] = "";
	int found = 0;

	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if ((rc = one_uri(sans, FSEC_DEVID_URN_PREFIX, "device URI", id, sizeof(id), &found)) !=
	    FSEC_OK)
		goto out;
	rc = FSEC_ERR_NOTFOUND;
	if (found == 0) {
		fsec_seterr(rc, "certificate has no %s SAN URI", FSEC_DEVID_URN_PREFIX);
		goto out;
	}
	if (!fsec_devid_valid(id)) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "certificate carries an invalid device ID");
		goto out;
	}
	if (!cn_is(cert, id)) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "subject CN does not match the device URI '%s'", id);
		goto out;
	}
	memcpy(out, id, sizeof(id));
	rc = FSEC_OK;
out:
	GENERAL_NAMES_free(sans);
	return rc;
}

FSEC_API bool fsec_role_mqtt_client(const char *role)
{
	return strcmp(role, "backend") == 0 || strcmp(role, "operator") == 0;
}

FSEC_API bool fsec_role_valid(const char *role)
{
	return fsec_role_mqtt_client(role) || strcmp(role, "broker") == 0;
}

FSEC_API enum fsec_err fsec_identity_role_from_cert(X509 *cert, char role[FSEC_ROLE_MAX],
						    char name[FSEC_ROLE_NAME_MAX + 1])
{
	enum fsec_err rc;
	GENERAL_NAMES *sans = NULL;
	char rest[FSEC_ROLE_MAX + FSEC_ROLE_NAME_MAX + 1] = "", dev[FSEC_DEVID_MAX + 1], *colon;
	int found = 0, devices = 0;

	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if ((rc = one_uri(sans, FSEC_ROLE_URN_PREFIX, "role URI", rest, sizeof(rest), &found)) !=
	    FSEC_OK)
		goto out;
	rc = FSEC_ERR_NOTFOUND;
	if (found == 0) {
		fsec_seterr(rc, "certificate has no %s SAN URI", FSEC_ROLE_URN_PREFIX);
		goto out;
	}
	rc = FSEC_ERR_PARSE;
	/* One identity per certificate: a device URI beside a role would let
	 * one reader see a device where another sees a role. */
	if (one_uri(sans, FSEC_DEVID_URN_PREFIX, "device URI", dev, sizeof(dev), &devices) !=
		    FSEC_OK ||
	    devices != 0) {
		fsec_seterr(rc, "certificate carries both a role and a device URI");
		goto out;
	}
	colon = strchr(rest, ':');
	if (colon == NULL) {
		fsec_seterr(rc, "role URI is not %sROLE:NAME", FSEC_ROLE_URN_PREFIX);
		goto out;
	}
	*colon++ = '\0';
	if (!fsec_role_valid(rest)) {
		fsec_seterr(rc, "unknown role in the role URI (backend, operator, broker)");
		goto out;
	}
	if (strlen(colon) > FSEC_ROLE_NAME_MAX || !fsec_devid_valid(colon)) {
		fsec_seterr(rc, "certificate carries an invalid role name");
		goto out;
	}
	if (!cn_is(cert, colon)) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "subject CN does not match the role URI's name '%s'",
				 colon);
		goto out;
	}
	memcpy(role, rest, strlen(rest) + 1);
	memcpy(name, colon, strlen(colon) + 1);
	rc = FSEC_OK;
out:
	GENERAL_NAMES_free(sans);
	return rc;
}

FSEC_API enum fsec_err fsec_identity_bootstrap_serial(const X509_NAME *subject,
						      char out[FSEC_DEVID_MAX + 1])
{
	char sn[FSEC_DEVID_MAX + 1];
	const ASN1_STRING *v = NULL;
	const unsigned char *d;
	int count = 0, len, type;

	/* Count every occurrence, including inside a multi-valued RDN: a reader
	 * that took the first would let a second one go unseen. */
	for (int i = 0; i < X509_NAME_entry_count(subject); i++) {
		const X509_NAME_ENTRY *ent = X509_NAME_get_entry(subject, i);

		if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(ent)) != NID_serialNumber)
			continue;
		count++;
		v = X509_NAME_ENTRY_get_data(ent);
	}
	if (count == 0)
		return fsec_seterr(FSEC_ERR_NOTFOUND, "the subject has no serialNumber");
	if (count > 1)
		return fsec_seterr(FSEC_ERR_PARSE, "the subject has %d serialNumber attributes, not one",
				   count);
	type = ASN1_STRING_type(v);
	if (type != V_ASN1_PRINTABLESTRING && type != V_ASN1_UTF8STRING)
		return fsec_seterr(FSEC_ERR_PARSE,
				   "the serialNumber is a %s, not a PrintableString or UTF8String",
				   ASN1_tag2str(type));
	len = ASN1_STRING_length(v);
	d = ASN1_STRING_get0_data(v);
	/* The length comes from the certificate: compare before copying, and
	 * refuse rather than cut a serial that does not fit. */
	if (len <= 0 || (size_t)len > FSEC_DEVID_MAX)
		return fsec_seterr(FSEC_ERR_PARSE, "the serialNumber is %d bytes, not 1-%d", len,
				   FSEC_DEVID_MAX);
	if (memchr(d, '\0', (size_t)len) != NULL)
		return fsec_seterr(FSEC_ERR_PARSE, "the serialNumber holds a NUL byte");
	memcpy(sn, d, (size_t)len);
	sn[len] = '\0';
	if (!fsec_devid_valid(sn))
		return fsec_seterr(FSEC_ERR_PARSE,
				   "the serialNumber holds a character outside A-Z a-z 0-9 . _ -");
	memcpy(out, sn, (size_t)len + 1);
	return FSEC_OK;
}
