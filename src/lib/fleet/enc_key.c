/* SPDX-License-Identifier: Apache-2.0 */
/* A device's firmware encryption key (fleet.h, fsec_fleet_enc_key_set;
 * issue 19): the second key, beside its TLS key, that fleetsecd wraps image
 * keys to, so that no key on a device opens another device's firmware. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "err_int.h"
#include "fleetsec/fleet.h"
#include "fleetsec/fwimage.h"
#include "fleetsec/key.h"
#include "fleetsec/registry.h"

/* With FSEC_FLEET_ENC_KEY_KEEP: OK when the device holds pem already
 * (nothing to write), EXISTS when it holds another key, NOTFOUND when none
 * (or no such device), or the registry's error. had: scratch of
 * FSEC_ENC_KEY_PEM_MAX + 1 bytes. */
static enum fsec_err keep_check(struct fsec_registry *reg, const char *id, const char *pem,
				char *had)
{
	enum fsec_err rc = fsec_registry_enc_key_get(reg, id, had);

	if (rc == FSEC_OK && strcmp(had, pem) != 0)
		rc = fsec_seterr(FSEC_ERR_EXISTS,
				 "device %s has another firmware encryption key enrolled; the "
				 "operator replaces it (fleetsec device enc-key)",
				 id);
	return rc;
}

FSEC_API enum fsec_err fsec_fleet_enc_key_set(struct fsec_fleet *f, const char *id,
					      EVP_PKEY *pub, const char *actor, unsigned flags,
					      bool *changed)
{
	struct fsec_registry *reg = fsec_fleet_get_registry(f);
	struct fsec_fw_enc_key *k = NULL;
	struct fsec_device_rec dev;
	char spki[FSEC_SHA256_HEX_LEN], *pem = NULL, *had = NULL;
	size_t len = 0;
	bool began = false;
	enum fsec_err rc = FSEC_ERR_INVAL;

	fsec_clearerr();
	if (changed != NULL)
		*changed = false;
	/* The type check (P-256 or X25519: what ECIES wraps to) takes its
	 * own reference: pub stays the caller's. */
	if (!EVP_PKEY_up_ref(pub)) {
		rc = fsec_seterr(FSEC_ERR_CRYPTO, "key reference failed");
		goto out;
	}
	if ((rc = fsec_fw_enc_key_from_pkey(pub, false, &k)) != FSEC_OK) {
		EVP_PKEY_free(pub);
		goto out;
	}
	if ((rc = fsec_key_spki_sha256(pub, spki)) != FSEC_OK ||
	    (rc = fsec_key_public_pem(pub, &pem, &len)) != FSEC_OK)
		goto out;
	/* A device sends its key at every round until it was taken: what the
	 * registry holds already is answered from a read, so that neither the
	 * same key again nor a refused one takes the writer lock. The check is
	 * made again inside the transaction, which decides. */
	if ((flags & FSEC_FLEET_ENC_KEY_KEEP) != 0) {
		if ((had = malloc(FSEC_ENC_KEY_PEM_MAX + 1)) == NULL) {
			rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
			goto out;
		}
		rc = keep_check(reg, id, pem, had);
		if ((flags & FSEC_FLEET_ENC_KEY_KNOWN) != 0 &&
		    (rc == FSEC_ERR_EXISTS || rc == FSEC_ERR_NOTFOUND))
			rc = fsec_seterr(FSEC_ERR_PERM,
					 "devices do not enrol their own encryption keys here "
					 "(enc_key_self_enroll = off): the operator does");
		if (rc != FSEC_ERR_NOTFOUND)
			goto out;
		fsec_clearerr();
	}
	if ((rc = fsec_registry_begin(reg)) != FSEC_OK)
		goto out;
	began = true;
	if ((rc = fsec_registry_device_get(reg, id, &dev)) != FSEC_OK)
		goto out;
	if (dev.status != FSEC_DEVICE_ACTIVE) {
		rc = fsec_seterr(FSEC_ERR_POLICY, "device %s is revoked", id);
		goto out;
	}
	/* A second key: the TLS key is used for signing every handshake, and
	 * one key for both purposes is what the issue rules out. */
	if (strcmp(spki, dev.spki_sha256) == 0) {
		rc = fsec_seterr(FSEC_ERR_POLICY, "this is device %s's TLS key; the encryption key "
						  "must be a second key",
				 id);
		goto out;
	}
	if ((flags & FSEC_FLEET_ENC_KEY_KEEP) != 0) {
		if ((rc = keep_check(reg, id, pem, had)) != FSEC_ERR_NOTFOUND)
			goto out;
		fsec_clearerr();
	}
	if ((rc = fsec_registry_enc_key_put(reg, id, pem, (int64_t)time(NULL))) != FSEC_OK ||
	    (rc = fsec_registry_event_addf(reg, actor, "enc-key", id,
					   "firmware encryption key %.16s... enrolled", spki)) !=
		    FSEC_OK)
		goto out;
	rc = fsec_registry_commit(reg);
	began = rc != FSEC_OK;
	if (rc == FSEC_OK && changed != NULL)
		*changed = true;
out:
	if (began)
		fsec_registry_rollback(reg);
	fsec_fw_enc_key_free(k);
	free(had);
	free(pem);
	return rc;
}
