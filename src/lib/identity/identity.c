/* SPDX-License-Identifier: Apache-2.0 */
/* Device identity in a certificate (identity.h): the SAN URI
 * urn:fleetsec:device:ID, checked against the subject CN. Nothing else
 * parses subjects. */
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

FSEC_API enum fsec_err fsec_identity_from_cert(X509 *cert, char out[FSEC_DEVID_MAX + 1])
{
	const size_t plen = sizeof(FSEC_DEVID_URN_PREFIX) - 1;
	enum fsec_err rc = FSEC_ERR_NOTFOUND;
	GENERAL_NAMES *sans = NULL;
	char id[FSEC_DEVID_MAX + 1] = "", cn[FSEC_DEVID_MAX + 1];
	X509_NAME *subj;
	int found = 0, idx;

	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		char uri[sizeof(FSEC_DEVID_URN_PREFIX) + FSEC_DEVID_MAX + 1];

		if (gn->type != GEN_URI)
			continue;
		if (!asn1_to_cstr(gn->d.uniformResourceIdentifier, uri, sizeof(uri)))
			continue;
		if (strncmp(uri, FSEC_DEVID_URN_PREFIX, plen) != 0)
			continue;
		if (++found > 1) {
			rc = fsec_seterr(FSEC_ERR_PARSE, "certificate carries several device URIs");
			goto out;
		}
		if (!fsec_devid_valid(uri + plen)) {
			rc = fsec_seterr(FSEC_ERR_PARSE, "certificate carries an invalid device ID");
			goto out;
		}
		memcpy(id, uri + plen, strlen(uri + plen) + 1);
	}
	if (found == 0) {
		fsec_seterr(rc, "certificate has no %s SAN URI", FSEC_DEVID_URN_PREFIX);
		goto out;
	}
	subj = X509_get_subject_name(cert);
	idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (idx < 0 || X509_NAME_get_index_by_NID(subj, NID_commonName, idx) >= 0 ||
	    !asn1_to_cstr(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)), cn, sizeof(cn)) ||
	    strcmp(cn, id) != 0) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "subject CN does not match the device URI '%s'", id);
		goto out;
	}
	memcpy(out, id, sizeof(id));
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
