/* SPDX-License-Identifier: Apache-2.0 */
/* fleetsecd's bounds (limits_int.h): a fixed-window rate limiter over a
 * fixed-size table, and the class a refusal is aggregated under. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "err_int.h"
#include "limits_int.h"

#define WAYS 8
#define WORD_MAX 24

struct rl_slot {
	char key[FSEC_RL_KEY_MAX + 1];
	bool used;
	int64_t start; /* of the key's current window */
	unsigned n;    /* events counted in it */
};

struct fsec_ratelimit {
	unsigned limit, window;
	size_t sets;
	uint64_t seed;
	struct rl_slot *slots; /* sets * WAYS */
};

enum fsec_err fsec_ratelimit_new(unsigned limit, unsigned window, size_t sets,
				 struct fsec_ratelimit **out)
{
	struct fsec_ratelimit *rl = NULL;

	if (limit == 0 || window == 0 || sets == 0 || (sets & (sets - 1)) != 0 ||
	    sets > SIZE_MAX / WAYS / sizeof(struct rl_slot))
		return fsec_seterr(FSEC_ERR_INVAL, "bad rate limit");
	if ((rl = calloc(1, sizeof(*rl))) == NULL ||
	    (rl->slots = calloc(sets * WAYS, sizeof(*rl->slots))) == NULL) {
		free(rl);
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	/* A seed nobody outside knows: keys cannot be picked to share a set
	 * and push each other's counts out. */
	if (RAND_bytes((unsigned char *)&rl->seed, sizeof(rl->seed)) != 1) {
		fsec_ratelimit_free(rl);
		return fsec_seterr_ossl(FSEC_ERR_CRYPTO, "random number generator failed");
	}
	rl->limit = limit;
	rl->window = window;
	rl->sets = sets;
	*out = rl;
	return FSEC_OK;
}

void fsec_ratelimit_free(struct fsec_ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->slots);
	free(rl);
}

void fsec_ratelimit_set(struct fsec_ratelimit *rl, unsigned limit, unsigned window)
{
	if (limit == 0 || window == 0)
		return;
	rl->limit = limit;
	rl->window = window;
}

/* FNV-1a over the seed and the key. */
static uint64_t hash(uint64_t seed, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

bool fsec_ratelimit_take(struct fsec_ratelimit *rl, const char *key, int64_t now,
			 int *retry_after)
{
	char k[FSEC_RL_KEY_MAX + 1];
	struct rl_slot *set, *s = NULL, *oldest = NULL;
	int64_t left;

	/* A longer key is cut (limits_int.h). */
	snprintf(k, sizeof(k), "%s", key != NULL ? key : "");
	set = &rl->slots[(hash(rl->seed, k) & (rl->sets - 1)) * WAYS];
	for (size_t i = 0; i < WAYS && s == NULL; i++)
		if (set[i].used && strcmp(set[i].key, k) == 0)
			s = &set[i];
	for (size_t i = 0; i < WAYS && s == NULL; i++) {
		if (!set[i].used || now - set[i].start >= (int64_t)rl->window)
			s = &set[i];
		else if (oldest == NULL || set[i].start < oldest->start)
			oldest = &set[i];
	}
	if (s == NULL)
		s = oldest;
	if (!s->used || strcmp(s->key, k) != 0) {
		memcpy(s->key, k, sizeof(k));
		s->used = true;
		s->start = now;
		s->n = 0;
	}
	/* A clock stepped back restarts the window rather than stretch it. */
	if (now - s->start >= (int64_t)rl->window || now < s->start) {
		s->start = now;
		s->n = 0;
	}
	if (s->n < rl->limit) {
		s->n++;
		return true;
	}
	left = s->start + (int64_t)rl->window - now;
	if (retry_after != NULL)
		*retry_after = left < 1 ? 1 : left > 86400 ? 86400 : (int)left;
	return false;
}

static bool word_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

void fsec_refusal_class(const char *reason, size_t len, char *out, size_t cap)
{
	size_t i = 0, o = 0;
	bool last_hash = false;

	out[0] = '\0';
	if (cap < 2)
		return;
	while (i < len && reason[i] != '\0' && reason[i] != ':') {
		size_t start, n;
		bool digit = false, hashed;
		size_t need;

		while (i < len && reason[i] != '\0' && reason[i] != ':' &&
		       !word_char((unsigned char)reason[i]))
			i++;
		start = i;
		while (i < len && reason[i] != ':' && word_char((unsigned char)reason[i])) {
			digit = digit || (reason[i] >= '0' && reason[i] <= '9');
			i++;
		}
		n = i - start;
		if (n == 0)
			break;
		hashed = digit || n > WORD_MAX || (n == 1 && reason[start] == '#');
		if (hashed && last_hash)
			continue;
		/* The word, and a space before it unless it is the first. */
		need = (o > 0 ? 1 : 0) + (hashed ? 1 : n);
		if (need > cap - 1 - o)
			break;
		if (o > 0)
			out[o++] = ' ';
		if (hashed) {
			out[o++] = '#';
		} else {
			memcpy(out + o, reason + start, n);
			o += n;
		}
		last_hash = hashed;
	}
	if (o == 0)
		out[o++] = '-';
	out[o] = '\0';
}
