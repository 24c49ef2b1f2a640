/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the device needs from its TPM besides keys (which go through the
 * tpm2 OpenSSL provider, key.c): the anti-rollback counter in NV memory and
 * the eviction of persistent keys. This is TSS2 ESAPI over the TCTI the
 * configuration names.
 *
 * The counter is a pair of NV indices. INDEX is a TPM_NT_COUNTER, which the
 * TPM itself only ever lets go up, one step per TPM2_NV_Increment. A counter
 * index does not start at 0: its first increment sets it to the highest
 * value any counter on that TPM has held. So INDEX+1 records that first value
 * (the base), written once and then write-locked until the index is deleted
 * (TPMA_NV_WRITEDEFINE); the device's counter is INDEX - base. Neither index
 * can be rewritten to a lower value; deleting and re-creating them needs the
 * owner hierarchy's authorization, which production devices must set.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "err_int.h"
#include "fault_int.h"
#include "fleetsec/fileio.h"
#include "fleetsec/tpm.h"
#include "tpm_int.h"

/* Raising the counter costs one TPM command per step; images' security
 * counters are small integers (imgtool's default is the version's major). */
#define STEP_MAX 65536u

static char tpm_tcti[256];
static bool tpm_tcti_set;
static TPM2B_AUTH owner_auth; /* the owner hierarchy's password; empty by default */
static char owner_auth_str[sizeof(owner_auth.buffer) + 1];

enum fsec_err fsec_tpm_set_tcti(const char *tcti)
{
	if (tcti == NULL || tcti[0] == '\0') {
		tpm_tcti_set = false;
		return FSEC_OK;
	}
	if (strlen(tcti) >= sizeof(tpm_tcti))
		return fsec_seterr(FSEC_ERR_INVAL, "TCTI string too long");
	memcpy(tpm_tcti, tcti, strlen(tcti) + 1);
	tpm_tcti_set = true;
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_tpm_configure(const char *tcti, const char *owner_auth_file)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum fsec_err rc;

	OPENSSL_cleanse(&owner_auth, sizeof(owner_auth));
	OPENSSL_cleanse(owner_auth_str, sizeof(owner_auth_str));
	if ((rc = fsec_tpm_set_tcti(tcti)) != FSEC_OK || owner_auth_file == NULL ||
	    owner_auth_file[0] == '\0')
		return rc;
	if ((rc = fsec_file_read(owner_auth_file, sizeof(owner_auth.buffer) + 1, &buf, &len)) !=
	    FSEC_OK)
		return fsec_seterr(rc, "tpm_owner_auth %.200s: %s", owner_auth_file,
				   rc == FSEC_ERR_TOO_LARGE ? "more than one line of at most 64 bytes"
							    : fsec_err_detail());
	/* One line: the password, without its newline. */
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len == 0 || len > sizeof(owner_auth.buffer) || memchr(buf, '\n', len) != NULL ||
	    memchr(buf, '\0', len) != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
		return fsec_seterr(FSEC_ERR_PARSE, "tpm_owner_auth %.200s: one line of 1 to %zu bytes",
				   owner_auth_file, sizeof(owner_auth.buffer));
	}
	memcpy(owner_auth.buffer, buf, len);
	memcpy(owner_auth_str, buf, len);
	owner_auth.size = (UINT16)len;
	OPENSSL_cleanse(buf, len);
	free(buf);
	return FSEC_OK;
}

const char *fsec_tpm_owner_auth(void)
{
	return owner_auth_str;
}

bool fsec_tpm_parse_handle(const char *s, uint32_t *out)
{
	size_t n;
	uint32_t v = 0;

	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return false;
	s += 2;
	n = strspn(s, "0123456789abcdefABCDEF");
	if (n == 0 || n > 8 || s[n] != '\0')
		return false;
	for (size_t i = 0; i < n; i++)
		v = v << 4 | (uint32_t)(s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
	*out = v;
	return true;
}

struct tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

static enum fsec_err tss_err(TSS2_RC r, const char *what)
{
	/* Format-one TPM codes carry the failing session or handle in their
	 * upper bits; the error number is the low six. */
	bool auth = (r & TPM2_RC_FMT1) != 0 && ((r & 0x3f) == (TPM2_RC_BAD_AUTH & 0x3f) ||
						(r & 0x3f) == (TPM2_RC_AUTH_FAIL & 0x3f));

	return fsec_seterr(FSEC_ERR_IO, "TPM: %s: %s%s", what, Tss2_RC_Decode(r),
			   auth ? " (the owner password: is tpm_owner_auth set, and right?)" : "");
}

/* A power-fail point for the harness around one TPM command. A TPM
 * command is atomic, so a cut falls before it or after it: "torn" is
 * "before". Returns whether to stop after the command. */
static bool cut_before(const char *what)
{
	char name[96];
	enum fsec_fault f;

	snprintf(name, sizeof(name), "tpm: %s", what);
	f = fsec_fault_point(name);

	if (f == FSEC_FAULT_BEFORE || f == FSEC_FAULT_TORN)
		fsec_fault_die();
	return f == FSEC_FAULT_AFTER;
}

static void cut_after(bool stop)
{
	if (stop)
		fsec_fault_die();
}

static void tpm_close(struct tpm *t);

static enum fsec_err tpm_open(struct tpm *t)
{
	TSS2_RC r;

	t->tcti = NULL;
	t->esys = NULL;
	/* The TSS logs its own warnings on stderr, which would break the
	 * one-line error contract; an operator's own TSS2_LOG wins. */
	if (setenv("TSS2_LOG", "all+none", 0) != 0)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	r = Tss2_TctiLdr_Initialize(tpm_tcti_set ? tpm_tcti : NULL, &t->tcti);
	if (r != TSS2_RC_SUCCESS)
		return fsec_seterr(FSEC_ERR_IO, "TPM: cannot reach '%s': %s",
				   tpm_tcti_set ? tpm_tcti : "the default TCTI", Tss2_RC_Decode(r));
	if ((r = Esys_Initialize(&t->esys, t->tcti, NULL)) != TSS2_RC_SUCCESS) {
		Tss2_TctiLdr_Finalize(&t->tcti);
		return tss_err(r, "cannot start a session");
	}
	if (owner_auth.size > 0 &&
	    (r = Esys_TR_SetAuth(t->esys, ESYS_TR_RH_OWNER, &owner_auth)) != TSS2_RC_SUCCESS) {
		tpm_close(t);
		return tss_err(r, "cannot set the owner authorization");
	}
	return FSEC_OK;
}

static void tpm_close(struct tpm *t)
{
	if (t->esys != NULL)
		Esys_Finalize(&t->esys);
	if (t->tcti != NULL)
		Tss2_TctiLdr_Finalize(&t->tcti);
}

enum fsec_err fsec_tpm_probe(void)
{
	struct tpm t;
	enum fsec_err rc = tpm_open(&t);

	if (rc == FSEC_OK)
		tpm_close(&t);
	return rc;
}

/* Whether handle (an NV index or persistent object) exists. */
static enum fsec_err handle_exists(struct tpm *t, TPM2_HANDLE handle, bool *yes)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	TSS2_RC r;

	r = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
			       handle, 1, &more, &cap);
	if (r != TSS2_RC_SUCCESS)
		return tss_err(r, "cannot list handles");
	*yes = cap->data.handles.count == 1 && cap->data.handles.handle[0] == handle;
	Esys_Free(cap);
	return FSEC_OK;
}

/* An NV index's attributes (TPMA_NV_WRITTEN, ..._WRITELOCKED) and size. */
static enum fsec_err nv_attrs(struct tpm *t, ESYS_TR nv, TPMA_NV *attrs, uint16_t *size)
{
	TPM2B_NV_PUBLIC *pub = NULL;
	TPM2B_NAME *name = NULL;
	TSS2_RC r;

	r = Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name);
	if (r != TSS2_RC_SUCCESS)
		return tss_err(r, "cannot read an NV index's attributes");
	*attrs = pub->nvPublic.attributes;
	if (size != NULL)
		*size = pub->nvPublic.dataSize;
	Esys_Free(pub);
	Esys_Free(name);
	return FSEC_OK;
}

static enum fsec_err nv_read_u64(struct tpm *t, ESYS_TR nv, uint64_t *v)
{
	TPM2B_MAX_NV_BUFFER *data = NULL;
	TSS2_RC r;

	r = Esys_NV_Read(t->esys, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0, &data);
	if (r != TSS2_RC_SUCCESS)
		return tss_err(r, "cannot read the counter");
	if (data->size != 8) {
		Esys_Free(data);
		return fsec_seterr(FSEC_ERR_PARSE, "TPM: the counter index is not 8 bytes");
	}
	*v = 0;
	for (int i = 0; i < 8; i++)
		*v = *v << 8 | data->buffer[i];
	Esys_Free(data);
	return FSEC_OK;
}

static enum fsec_err nv_define(struct tpm *t, TPM2_HANDLE index, TPMA_NV attrs)
{
	TPM2B_NV_PUBLIC pub = {
		.nvPublic = {.nvIndex = index, .nameAlg = TPM2_ALG_SHA256,
			     .attributes = attrs | TPMA_NV_AUTHREAD | TPMA_NV_OWNERWRITE | TPMA_NV_NO_DA,
			     .dataSize = 8},
	};
	TPM2B_AUTH auth = {.size = 0};
	ESYS_TR nv = ESYS_TR_NONE;
	TSS2_RC r;

	bool stop = cut_before("define an NV index");

	r = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &auth, &pub, &nv);
	cut_after(stop && r == TSS2_RC_SUCCESS);
	if (r != TSS2_RC_SUCCESS)
		return tss_err(r, "cannot define an NV index (owner authorization?)");
	Esys_TR_Close(t->esys, &nv);
	return FSEC_OK;
}

enum nv_op { NV_INCREMENT, NV_WRITE, NV_LOCK };

/* One NV-changing command, authorized by the owner hierarchy (the indices
 * are OWNERWRITE: without the owner's password nobody can raise the counter
 * to lock the device out of updates), as a power-fail point. */
static enum fsec_err nv_change(struct tpm *t, ESYS_TR nv, enum nv_op op,
			       const TPM2B_MAX_NV_BUFFER *buf, const char *what)
{
	bool stop = cut_before(what);
	TSS2_RC r;

	switch (op) {
	case NV_INCREMENT:
		r = Esys_NV_Increment(t->esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				      ESYS_TR_NONE);
		break;
	case NV_WRITE:
		r = Esys_NV_Write(t->esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				  ESYS_TR_NONE, buf, 0);
		break;
	default:
		r = Esys_NV_WriteLock(t->esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				      ESYS_TR_NONE);
		break;
	}
	if (r != TSS2_RC_SUCCESS)
		return tss_err(r, what);
	cut_after(stop);
	return FSEC_OK;
}

static enum fsec_err nv_open(struct tpm *t, TPM2_HANDLE index, ESYS_TR *nv)
{
	TSS2_RC r = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nv);

	return r == TSS2_RC_SUCCESS ? FSEC_OK : tss_err(r, "cannot open an NV index");
}

/* The counter's two indices as ESYS handles, and its base. */
struct counter_nv {
	ESYS_TR ctr, base;
	uint64_t base_value;
	bool ready;  /* set up: the base is recorded */
	bool locked; /* ... and write-locked */
};

static enum fsec_err damaged(uint32_t index, const char *why)
{
	return fsec_seterr(FSEC_ERR_PARSE,
			   "TPM counter 0x%08" PRIx32 ": %s; refusing to guess (an attack, or a "
			   "TPM cleared: re-provision the counter)",
			   index, why);
}

/*
 * Where the pair stands. Nothing there: a counter never raised (0). A
 * state a power cut during set-up leaves (the counter index without its
 * base, never incremented; or the base defined but not yet written): set-up
 * resumes, and the counter is 0 until it is done. Anything else that is
 * not a complete pair fails closed, since it can only come from someone
 * deleting or replacing an index, which needs the owner's password.
 */
static enum fsec_err counter_load(struct tpm *t, uint32_t index, struct counter_nv *c)
{
	bool ctr_there = false, base_there = false;
	TPMA_NV cattrs = 0, battrs = 0;
	uint16_t csize = 0, bsize = 0;
	enum fsec_err rc;

	memset(c, 0, sizeof(*c));
	c->ctr = c->base = ESYS_TR_NONE;
	if ((rc = handle_exists(t, index, &ctr_there)) != FSEC_OK ||
	    (rc = handle_exists(t, index + 1, &base_there)) != FSEC_OK)
		return rc;
	if (!ctr_there && base_there)
		return damaged(index, "its base exists without the counter");
	if (!ctr_there)
		return FSEC_OK;
	if ((rc = nv_open(t, index, &c->ctr)) != FSEC_OK ||
	    (rc = nv_attrs(t, c->ctr, &cattrs, &csize)) != FSEC_OK)
		return rc;
	if ((cattrs & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT != TPM2_NT_COUNTER || csize != 8 ||
	    !(cattrs & TPMA_NV_OWNERWRITE) || (cattrs & (TPMA_NV_AUTHWRITE | TPMA_NV_POLICYWRITE)))
		return damaged(index, "the index is not an owner-written counter");
	if (!base_there)
		return (cattrs & TPMA_NV_WRITTEN) ? damaged(index, "its base is missing") : FSEC_OK;
	if ((rc = nv_open(t, index + 1, &c->base)) != FSEC_OK ||
	    (rc = nv_attrs(t, c->base, &battrs, &bsize)) != FSEC_OK)
		return rc;
	if ((battrs & TPMA_NV_TPM2_NT_MASK) != 0 || bsize != 8 || !(battrs & TPMA_NV_WRITEDEFINE) ||
	    !(battrs & TPMA_NV_OWNERWRITE) || (battrs & (TPMA_NV_AUTHWRITE | TPMA_NV_POLICYWRITE)))
		return damaged(index, "its base is not a write-once index");
	if (!(battrs & TPMA_NV_WRITTEN))
		return FSEC_OK;
	if (!(cattrs & TPMA_NV_WRITTEN))
		return damaged(index, "its base is recorded but the counter never counted");
	if ((rc = nv_read_u64(t, c->base, &c->base_value)) != FSEC_OK)
		return rc;
	c->ready = true;
	c->locked = (battrs & TPMA_NV_WRITELOCKED) != 0;
	return FSEC_OK;
}

static enum fsec_err counter_value(struct tpm *t, const struct counter_nv *c, uint32_t *value)
{
	uint64_t raw;
	enum fsec_err rc;

	if (!c->ready) {
		*value = 0;
		return FSEC_OK;
	}
	if ((rc = nv_read_u64(t, c->ctr, &raw)) != FSEC_OK)
		return rc;
	if (raw < c->base_value || raw - c->base_value > UINT32_MAX)
		return fsec_seterr(FSEC_ERR_PARSE, "TPM: the counter is outside its base; refusing "
						   "to guess (re-provision the counter)");
	*value = (uint32_t)(raw - c->base_value);
	return FSEC_OK;
}

/* Create what is missing of the pair, resuming where a power cut stopped:
 * define both, increment the counter once (which gives it its start value),
 * record that as the base, lock the base. c is counter_load's view. */
static enum fsec_err counter_setup(struct tpm *t, uint32_t index, struct counter_nv *c)
{
	TPM2B_MAX_NV_BUFFER buf = {.size = 8};
	bool there = false;
	TPMA_NV attrs = 0;
	uint64_t first;
	enum fsec_err rc;

	if (!c->ready) {
		if ((rc = handle_exists(t, index, &there)) != FSEC_OK ||
		    (!there &&
		     (rc = nv_define(t, index, TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT)) != FSEC_OK) ||
		    (rc = handle_exists(t, index + 1, &there)) != FSEC_OK ||
		    (!there && (rc = nv_define(t, index + 1, TPMA_NV_WRITEDEFINE)) != FSEC_OK) ||
		    (rc = nv_open(t, index, &c->ctr)) != FSEC_OK ||
		    (rc = nv_open(t, index + 1, &c->base)) != FSEC_OK ||
		    (rc = nv_attrs(t, c->ctr, &attrs, NULL)) != FSEC_OK)
			return rc;
		if (!(attrs & TPMA_NV_WRITTEN) &&
		    (rc = nv_change(t, c->ctr, NV_INCREMENT, NULL, "start the counter")) != FSEC_OK)
			return rc;
		if ((rc = nv_read_u64(t, c->ctr, &first)) != FSEC_OK)
			return rc;
		for (int i = 0; i < 8; i++)
			buf.buffer[i] = (BYTE)(first >> (56 - 8 * i));
		if ((rc = nv_change(t, c->base, NV_WRITE, &buf, "record the counter's base")) != FSEC_OK)
			return rc;
	}
	if ((rc = nv_change(t, c->base, NV_LOCK, NULL, "lock the counter's base")) != FSEC_OK)
		return rc;
	return counter_load(t, index, c);
}

static enum fsec_err check_index(uint32_t index)
{
	/* Both indices in the NV range: 0x01000000..0x01FFFFFF. */
	if (index >> 24 != 0x01 || (index & 0xffffffu) == 0xffffffu)
		return fsec_seterr(FSEC_ERR_INVAL,
				   "TPM NV index 0x%08" PRIx32 " is outside 0x01000000-0x01fffffe",
				   index);
	return FSEC_OK;
}

enum fsec_err fsec_tpm_counter_read(uint32_t index, uint32_t *value)
{
	struct counter_nv c;
	struct tpm t;
	enum fsec_err rc;

	if ((rc = check_index(index)) != FSEC_OK || (rc = tpm_open(&t)) != FSEC_OK)
		return rc;
	if ((rc = counter_load(&t, index, &c)) == FSEC_OK)
		rc = counter_value(&t, &c, value);
	tpm_close(&t);
	return rc;
}

enum fsec_err fsec_tpm_counter_raise(uint32_t index, uint32_t value)
{
	struct counter_nv c;
	uint32_t cur = 0;
	struct tpm t;
	enum fsec_err rc;

	if ((rc = check_index(index)) != FSEC_OK || (rc = tpm_open(&t)) != FSEC_OK)
		return rc;
	if ((rc = counter_load(&t, index, &c)) != FSEC_OK ||
	    ((!c.ready || !c.locked) && value > 0 && (rc = counter_setup(&t, index, &c)) != FSEC_OK) ||
	    (rc = counter_value(&t, &c, &cur)) != FSEC_OK)
		goto out;
	if (value < cur) {
		rc = fsec_seterr(FSEC_ERR_POLICY, "counter would go down from %u to %u", cur, value);
		goto out;
	}
	if (value - cur > STEP_MAX) {
		rc = fsec_seterr(FSEC_ERR_POLICY,
				 "TPM counter: a raise of %u steps (from %u to %u) is more than %u",
				 value - cur, cur, value, STEP_MAX);
		goto out;
	}
	/* One step at a time, as the TPM allows: a power cut leaves the
	 * counter between the two values, and the next confirm finishes. */
	while (cur < value) {
		if ((rc = nv_change(&t, c.ctr, NV_INCREMENT, NULL, "raise the counter")) != FSEC_OK)
			goto out;
		cur++;
	}
out:
	tpm_close(&t);
	return rc;
}

enum fsec_err fsec_tpm_evict(uint32_t handle, bool *evicted)
{
	ESYS_TR obj = ESYS_TR_NONE, gone = ESYS_TR_NONE;
	bool there = false;
	struct tpm t;
	enum fsec_err rc;
	TSS2_RC r;

	*evicted = false;
	if (handle >> 24 != 0x81)
		return fsec_seterr(FSEC_ERR_INVAL, "0x%08" PRIx32 " is not a persistent handle",
				   handle);
	if ((rc = tpm_open(&t)) != FSEC_OK)
		return rc;
	if ((rc = handle_exists(&t, handle, &there)) != FSEC_OK || !there)
		goto out;
	r = Esys_TR_FromTPMPublic(t.esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &obj);
	if (r == TSS2_RC_SUCCESS)
		r = Esys_EvictControl(t.esys, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				      ESYS_TR_NONE, handle, &gone);
	if (r != TSS2_RC_SUCCESS)
		rc = tss_err(r, "cannot evict the persistent key");
	else
		*evicted = true;
out:
	tpm_close(&t);
	return rc;
}
