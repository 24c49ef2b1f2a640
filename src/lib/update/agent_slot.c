/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's use of the firmware slots (agent_int.h), through the slot
 * layer (slot/slot_int.h) only: this file opens no file and writes no byte
 * itself. Each slot write, erase and sync is a power-cut point there, so
 * none is placed here. The order is what matters: a chunk is verified,
 * written and synced before the journal counts it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "agent_int.h"
#include "err_int.h"
#include "fleetsec/agentrun.h"
#include "fleetsec/key.h"
#include "fleetsec/text.h"
#include "fwimage_int.h"
#include "slot_int.h"

/* Received bytes reach the slot in writes of this size (less at a chunk's
 * end): memory does not grow with the chunk size, and the writes, each a
 * power-cut point, fall at the same offsets however the network splits the
 * bytes, so the power-fail harness can count them. */
#define WRITE_BLOCK (64u * 1024u)

static const char *slot_path(const struct fsec_agent *a, char slot)
{
	return slot == 'b' ? a->cfg.slot_b : a->cfg.slot_a;
}

enum fsec_err fsec_agent_verify_slot(struct fsec_agent *a, char slot, uint64_t len,
				     struct fsec_fw_info *info)
{
	const char *path = slot_path(a, slot);
	struct fsec_slot *s = NULL;
	enum fsec_err rc = FSEC_ERR_VERIFY;

	if ((rc = fsec_slot_open(path, FSEC_SLOT_READ, &s)) != FSEC_OK)
		return rc;
	if (len == 0) {
		if ((rc = fsec_fw_inspect_slot(s, fsec_slot_size(s), info)) != FSEC_OK)
			goto out;
		len = info->tlv_end;
	} else if (len > fsec_slot_size(s)) {
		rc = fsec_seterr(FSEC_ERR_VERIFY, "slot %s is smaller than the image", path);
		goto out;
	}
	/* Fail closed: no pinned key verifies nothing. */
	rc = fsec_seterr(FSEC_ERR_VERIFY, "no pinned firmware key");
	for (size_t i = 0; i < a->nfw; i++) {
		rc = fsec_fw_verify_slot(s, len, a->fw_keys[i], info);
		/* Only "wrong key" sends us to the next pinned key. */
		if (rc != FSEC_ERR_WRONG_KEY)
			break;
	}
	if (rc != FSEC_OK)
		rc = fsec_seterr(rc, "slot %s: %s", path, fsec_err_detail());
out:
	fsec_slot_close(s);
	return rc;
}

/* Bytes of a small ranged GET gathered in memory (the header, the TLVs). */
struct gather {
	unsigned char *buf;
	size_t len, cap;
};

static enum fsec_err gather_sink(const unsigned char *p, size_t n, void *ctx)
{
	struct gather *g = ctx;

	/* fsec_fetch_range delivers no more than asked; cap is that size. */
	if (n > g->cap - g->len)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "range overflow");
	memcpy(g->buf + g->len, p, n);
	g->len += n;
	return FSEC_OK;
}

static enum fsec_err fetch_part(struct fsec_agent *a, const char *url, uint64_t off, size_t n,
				unsigned char *buf)
{
	struct gather g = {.buf = buf, .cap = n};
	enum fsec_err rc = fsec_fetch_range(a->fetch, url, off, n, gather_sink, &g);

	if (rc == FSEC_OK && g.len != n)
		rc = fsec_seterr(FSEC_ERR_NET, "short range: %zu of %zu bytes", g.len, n);
	return rc;
}

/* The device's decryption key: a key URI (a PEM file, a TSS2 blob, a TPM
 * handle), or an MCUboot KEK file, which no key store loads. */
static enum fsec_err load_decrypt_key(const char *uri, struct fsec_fw_enc_key **out)
{
	EVP_PKEY *pk = NULL;
	char why[256];
	enum fsec_err rc;

	if (fsec_key_load_private(uri, &pk) != FSEC_OK) {
		/* The key store's reason (a TPM that does not hold the key,
		 * say) is the one to tell when the KEK reading fails too. */
		snprintf(why, sizeof(why), "%s", fsec_err_detail());
		if ((rc = fsec_fw_enc_key_load(uri, true, out)) != FSEC_OK)
			/* Up to any '?': a pkcs11 URI's PIN is never shown. */
			rc = fsec_seterr(rc, "decrypt_key %.*s: %s",
					 (int)strcspn(uri, "?") > 200 ? 200 : (int)strcspn(uri, "?"),
					 uri, why);
		return rc;
	}
	if ((rc = fsec_fw_enc_key_from_pkey(pk, true, out)) != FSEC_OK)
		EVP_PKEY_free(pk);
	return rc;
}

/* The image key as fleetsecd wrapped it for this device. */
static enum fsec_err fetch_wrapped(struct fsec_agent *a, const struct fsec_release_entry *e,
				   unsigned char **buf, size_t *len)
{
	char hex[65], path[96], url[FSEC_AGENTCFG_VALUE_MAX + 96];

	fsec_hex(e->sha256, 32, hex);
	(void)snprintf(path, sizeof(path), "/v1/firmware/%s/key", hex);
	if (fsec_agent_url(a, path, url, sizeof(url)) != FSEC_OK)
		return fsec_seterr(FSEC_ERR_INVAL, "key URL too long");
	if (fsec_fetch_get(a->fetch, url, FSEC_FW_KEY_TLV_MAX, buf, len) != FSEC_OK)
		return fsec_seterr(FSEC_ERR_NET, "the image key: %s", fsec_err_detail());
	return FSEC_OK;
}

/* The image's header: from the slot when chunk 0 is there already (a plain
 * update's resume then asks the server for nothing before its next chunk). */
static enum fsec_err read_head(struct fsec_agent *a, const char *url, char target,
			       const struct journal *j, unsigned char *head)
{
	struct fsec_slot *s = NULL;
	enum fsec_err rc;

	if (j->chunks_done == 0)
		return fetch_part(a, url, 0, FSEC_FW_HDR_LEN, head);
	if ((rc = fsec_slot_open(slot_path(a, target), FSEC_SLOT_READ, &s)) != FSEC_OK)
		return rc;
	rc = fsec_slot_read(s, 0, head, FSEC_FW_HDR_LEN);
	fsec_slot_close(s);
	return rc;
}

enum fsec_err fsec_agent_prepare_dec(struct fsec_agent *a, const struct fsec_release_entry *e,
				     char target, const struct journal *j,
				     struct fsec_fw_dec **dec)
{
	char url[FSEC_AGENTCFG_VALUE_MAX + FSEC_RELEASE_URL_MAX + 8];
	unsigned char head[FSEC_FW_HDR_LEN], *tail = NULL, *wrapped = NULL;
	struct fsec_fw_enc_key *dk = NULL;
	size_t wlen = 0;
	uint64_t tail_off;
	bool encrypted;
	enum fsec_err rc = FSEC_ERR_VERIFY;

	*dec = NULL;
	/* A device that cannot decrypt asks nothing more: an encrypted image
	 * is refused from chunk 0's header (sink_flush), before any write. */
	if (a->cfg.decrypt_key[0] == '\0')
		return FSEC_OK;
	if (e->size < FSEC_FW_HDR_LEN) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "the release's image is shorter than a header");
		goto out;
	}
	if ((rc = fsec_agent_url(a, e->urls[0], url, sizeof(url))) != FSEC_OK ||
	    (rc = read_head(a, url, target, j, head)) != FSEC_OK ||
	    (rc = fsec_fw_dec_probe(head, e->size, &encrypted, &tail_off)) != FSEC_OK)
		goto out;
	if (!encrypted)
		goto out; /* rc is FSEC_OK: a plain image */
	/* fsec_fw_dec_probe capped it at FSEC_FW_DEC_TAIL_MAX. */
	tail = malloc((size_t)(e->size - tail_off) + 1);
	if (tail == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fetch_part(a, url, tail_off, (size_t)(e->size - tail_off), tail)) != FSEC_OK ||
	    (rc = load_decrypt_key(a->cfg.decrypt_key, &dk)) != FSEC_OK)
		goto out;
	/* The key fleetsecd wraps to must be enrolled first: a device whose
	 * configuration gained key_delivery = server since it enrolled sends
	 * it now (a no-op once fleetsecd took it). */
	if (strcmp(a->cfg.key_delivery, "server") == 0 &&
	    ((rc = fsec_agent_enc_key_sync(&a->cfg, NULL)) != FSEC_OK ||
	     (rc = fetch_wrapped(a, e, &wrapped, &wlen)) != FSEC_OK))
		goto out;
	if ((rc = fsec_fw_dec_new(head, tail, tail_off, e->size, dk, wrapped, wlen, dec)) !=
	    FSEC_OK)
		rc = fsec_seterr(rc, "the image key: %s", fsec_err_detail());
out:
	fsec_fw_enc_key_free(dk);
	free(wrapped);
	free(tail);
	return rc;
}

/*
 * Received bytes are hashed as they arrive and written to the slot in
 * WRITE_BLOCK pieces. Bytes that fail the hash are harmless there: the slot
 * is inactive, the journal does not count them, and the retry or the next
 * run overwrites them. An encrypted image is hashed as served (the
 * manifest's chunk hashes are over the ciphertext) and written decrypted.
 */
struct chunk_sink {
	struct fsec_slot *slot;
	uint64_t off, end;  /* the next byte to receive; the chunk's end */
	unsigned char *buf; /* WRITE_BLOCK bytes */
	size_t fill;        /* received, not yet written: they belong at off - fill */
	EVP_MD_CTX *md;
	struct fsec_fw_dec *dec; /* NULL: a plain image */
	uint64_t end_image;      /* the image's size */
};

static enum fsec_err sink_flush(struct chunk_sink *c)
{
	size_t n = c->fill;
	bool enc = false;
	uint64_t tail_off;

	c->fill = 0;
	/* The first write of the image holds its header (a write is a whole
	 * WRITE_BLOCK or a whole chunk): an encrypted image with no decryptor
	 * would put ciphertext in the slot. A header that does not parse is
	 * left to the checks of the whole image. POLICY: not a hash failure, so
 * the chunk is not fetched again. */
	if (c->dec == NULL && c->off == n && n >= FSEC_FW_HDR_LEN &&
	    fsec_fw_dec_probe(c->buf, c->end_image, &enc, &tail_off) == FSEC_OK && enc)
		return fsec_seterr(FSEC_ERR_POLICY, "the release's image is encrypted and this "
						    "device has no decrypt_key");
	return n == 0 ? FSEC_OK : fsec_slot_write(c->slot, c->off - n, c->buf, n);
}

static enum fsec_err chunk_sink(const unsigned char *p, size_t n, void *ctx)
{
	struct chunk_sink *c = ctx;
	enum fsec_err rc;

	/* fsec_fetch_range never delivers more than asked; this keeps a bug
	 * there from writing past the chunk. */
	if (n > c->end - c->off)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "chunk overflow");
	if (!EVP_DigestUpdate(c->md, p, n))
		return fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
	while (n > 0) {
		size_t take = n < WRITE_BLOCK - c->fill ? n : WRITE_BLOCK - c->fill;

		memcpy(c->buf + c->fill, p, take);
		/* The counter follows c->off: a chunk fetched again, or the
		 * first after a resume, puts it back in place. */
		if (c->dec != NULL &&
		    (rc = fsec_fw_dec_apply(c->dec, c->off, c->buf + c->fill, take)) != FSEC_OK)
			return rc;
		c->fill += take;
		c->off += take;
		p += take;
		n -= take;
		if (c->fill == WRITE_BLOCK && (rc = sink_flush(c)) != FSEC_OK)
			return rc;
	}
	return FSEC_OK;
}

/* Fetch chunk i of e (n bytes at off) into the slot, retrying a chunk that
 * fails its hash up to chunk_retries times. Written, not yet synced. */
static enum fsec_err fetch_chunk(struct fsec_agent *a, const struct fsec_release_entry *e,
				 const char *url, uint64_t i, struct chunk_sink *cs)
{
	uint64_t off = i * e->chunk_size;
	uint64_t n = e->size - off < e->chunk_size ? e->size - off : e->chunk_size;
	unsigned char md[32];
	unsigned long tries = 0;
	enum fsec_err rc;

	for (;;) {
		cs->off = off;
		cs->end = off + n;
		cs->fill = 0;
		if (!EVP_DigestInit_ex(cs->md, EVP_sha256(), NULL))
			rc = fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
		else
			rc = fsec_fetch_range(a->fetch, url, off, n, chunk_sink, cs);
		if (rc == FSEC_OK)
			rc = sink_flush(cs);
		if (rc == FSEC_OK && !EVP_DigestFinal_ex(cs->md, md, NULL))
			rc = fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
		if (rc == FSEC_OK && CRYPTO_memcmp(md, e->chunks[i], 32) != 0)
			rc = fsec_seterr(FSEC_ERR_VERIFY, "chunk %llu of %zu fails its hash",
					 (unsigned long long)i, e->nchunks);
		/* Hash failures are re-fetched; a wrong-size or hostile
		 * response is not retried. */
		if (rc != FSEC_ERR_VERIFY || ++tries > a->cfg.chunk_retries)
			break;
	}
	if (rc == FSEC_ERR_VERIFY)
		rc = fsec_seterr(rc, "%s (after %lu tries)", fsec_err_detail(), tries);
	return rc;
}

/* Download chunks [j->chunks_done, nchunks) of e into the slot. */
static enum fsec_err download(struct fsec_agent *a, const struct fsec_release_entry *e,
			      struct fsec_slot *slot, struct fsec_fw_dec *dec, struct journal *j,
			      fsec_agent_progress_cb cb, void *ctx)
{
	struct chunk_sink cs = {
		.slot = slot, .md = EVP_MD_CTX_new(), .buf = malloc(WRITE_BLOCK), .dec = dec,
		.end_image = e->size};
	char url[FSEC_AGENTCFG_VALUE_MAX + FSEC_RELEASE_URL_MAX + 8];
	enum fsec_err rc = FSEC_OK;

	if (cs.md == NULL || cs.buf == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = fsec_agent_url(a, e->urls[0], url, sizeof(url))) != FSEC_OK)
		goto out;
	for (uint64_t i = j->chunks_done; i < e->nchunks; i++) {
		/* Data on storage before the journal says so. */
		if ((rc = fetch_chunk(a, e, url, i, &cs)) != FSEC_OK ||
		    (rc = fsec_slot_sync(slot)) != FSEC_OK)
			goto out;
		j->chunks_done = i + 1;
		if ((rc = fsec_agent_store_journal(a, j)) != FSEC_OK)
			goto out;
		if (cb != NULL)
			cb(cs.end, e->size, ctx);
	}
out:
	OPENSSL_clear_free(cs.buf, WRITE_BLOCK);
	EVP_MD_CTX_free(cs.md);
	return rc;
}

enum fsec_err fsec_agent_write_slot(struct fsec_agent *a, const struct fsec_release_entry *e,
				    char target, struct fsec_fw_dec *dec, struct journal *j,
				    fsec_agent_progress_cb cb, void *ctx)
{
	struct fsec_slot *s = NULL;
	uint64_t size;
	enum fsec_err rc;

	if ((rc = fsec_slot_open(slot_path(a, target), FSEC_SLOT_WRITE, &s)) != FSEC_OK)
		return rc;
	size = fsec_slot_size(s);
	if (e->size > size)
		rc = fsec_seterr(FSEC_ERR_TOO_LARGE, "the release is %llu bytes, slot %c holds %llu",
				 (unsigned long long)e->size, target, (unsigned long long)size);
	/* After the image, the slot must read as erased flash: a previous
	 * image's trailer (image_ok, say) left behind would otherwise speak
	 * for this one. */
	else if ((rc = download(a, e, s, dec, j, cb, ctx)) == FSEC_OK &&
		 (rc = fsec_slot_erase(s, e->size, size - e->size)) == FSEC_OK)
		rc = fsec_slot_sync(s);
	fsec_slot_close(s);
	return rc;
}

/* SHA-256 of the slot's first len bytes encrypted again with dec: the
 * bytes that were served. */
static enum fsec_err hash_reencrypted(struct fsec_slot *s, struct fsec_fw_dec *dec, uint64_t len,
				      unsigned char md[32])
{
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	unsigned char *buf = malloc(WRITE_BLOCK);
	enum fsec_err rc = FSEC_ERR_CRYPTO;

	if (h == NULL || buf == NULL) {
		rc = fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!EVP_DigestInit_ex(h, EVP_sha256(), NULL)) {
		rc = fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
		goto out;
	}
	for (uint64_t off = 0; off < len;) {
		size_t n = len - off < WRITE_BLOCK ? (size_t)(len - off) : WRITE_BLOCK;

		if ((rc = fsec_slot_read(s, off, buf, n)) != FSEC_OK ||
		    (rc = fsec_fw_dec_apply(dec, off, buf, n)) != FSEC_OK)
			goto out;
		if (!EVP_DigestUpdate(h, buf, n)) {
			rc = fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
			goto out;
		}
		off += n;
	}
	rc = EVP_DigestFinal_ex(h, md, NULL) ? FSEC_OK
					     : fsec_seterr(FSEC_ERR_CRYPTO, "SHA-256 failed");
out:
	OPENSSL_clear_free(buf, WRITE_BLOCK);
	EVP_MD_CTX_free(h);
	return rc;
}

enum fsec_err fsec_agent_slot_holds(struct fsec_agent *a, struct fsec_fw_dec *dec,
				    const struct fsec_release_entry *e, char target)
{
	struct fsec_slot *s = NULL;
	unsigned char md[32];
	enum fsec_err rc;

	if ((rc = fsec_slot_open(slot_path(a, target), FSEC_SLOT_READ, &s)) != FSEC_OK)
		return rc;
	if ((rc = dec != NULL ? hash_reencrypted(s, dec, e->size, md)
			      : fsec_slot_hash(s, 0, e->size, md)) == FSEC_OK &&
	    CRYPTO_memcmp(md, e->sha256, 32) != 0)
		rc = fsec_seterr(FSEC_ERR_VERIFY, "the slot does not hold the released image "
						  "(SHA-256 differs); it will be downloaded again");
	fsec_slot_close(s);
	return rc;
}
