/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Open connections per source (srclimit.h): a chained hash table of the
 * sources with at least one open connection. An entry lives while its
 * count is above zero, so the table never holds more entries than there
 * are open connections.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "err_int.h"
#include "fleetsec/srclimit.h"

/* 1 byte of family, then the IPv4 address or the IPv6 /64. */
#define KEY_LEN 9
#define BUCKETS_MIN 16u
#define BUCKETS_MAX 65536u

struct fsec_src {
	struct fsec_src *next;
	unsigned long count;
	unsigned char key[KEY_LEN];
};

struct fsec_srclimit {
	unsigned long per_source;
	size_t nbuckets; /* a power of two */
	struct fsec_src **buckets;
};

/* The source of sa as a key; false for anything but IPv4 and IPv6. */
static bool source_key(const struct sockaddr *sa, socklen_t len, unsigned char key[KEY_LEN])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(key, 0, KEY_LEN);
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET && (size_t)len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		key[0] = 4;
		memcpy(key + 1, &in->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6 && (size_t)len >= sizeof(struct sockaddr_in6)) {
		const unsigned char *a =
			((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;

		/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d:
		 * their /64 would be every IPv4 client at once. */
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			key[0] = 4;
			memcpy(key + 1, a + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a, 8);
		}
		return true;
	}
	return false;
}

/* FNV-1a: the chains stay short however the keys fall, since there are
 * never more entries than open connections (the global cap). */
static size_t bucket(const struct fsec_srclimit *l, const unsigned char key[KEY_LEN])
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < KEY_LEN; i++)
		h = (h ^ key[i]) * 16777619u;
	return (size_t)h & (l->nbuckets - 1);
}

static struct fsec_src *lookup(const struct fsec_srclimit *l, const unsigned char key[KEY_LEN])
{
	struct fsec_src *e = l->buckets[bucket(l, key)];

	while (e != NULL && memcmp(e->key, key, KEY_LEN) != 0)
		e = e->next;
	return e;
}

FSEC_API enum fsec_err fsec_srclimit_new(unsigned long per_source, unsigned long expect,
					 struct fsec_srclimit **out)
{
	struct fsec_srclimit *l = NULL;
	size_t n = BUCKETS_MIN;

	if (per_source == 0)
		return fsec_seterr(FSEC_ERR_INVAL, "the cap per source must be at least 1");
	while (n < expect && n < BUCKETS_MAX)
		n *= 2;
	if ((l = calloc(1, sizeof(*l))) == NULL || (l->buckets = calloc(n, sizeof(*l->buckets))) == NULL) {
		free(l);
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	}
	l->per_source = per_source;
	l->nbuckets = n;
	*out = l;
	return FSEC_OK;
}

FSEC_API void fsec_srclimit_free(struct fsec_srclimit *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nbuckets; i++) {
		struct fsec_src *e = l->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(l->buckets);
	free(l);
}

FSEC_API bool fsec_srclimit_acquire(struct fsec_srclimit *l, const struct sockaddr *sa,
				    socklen_t len, struct fsec_src **src)
{
	unsigned char key[KEY_LEN];
	struct fsec_src *e;

	if (!source_key(sa, len, key))
		return false;
	if ((e = lookup(l, key)) == NULL) {
		size_t b = bucket(l, key);

		if ((e = calloc(1, sizeof(*e))) == NULL)
			return false;
		memcpy(e->key, key, KEY_LEN);
		e->next = l->buckets[b];
		l->buckets[b] = e;
	}
	/* count < per_source before the increment: at most per_source. */
	if (e->count >= l->per_source)
		return false;
	e->count++;
	*src = e;
	return true;
}

FSEC_API void fsec_srclimit_release(struct fsec_srclimit *l, struct fsec_src *src)
{
	struct fsec_src **pp;

	if (src == NULL || src->count == 0)
		return;
	if (--src->count > 0)
		return;
	for (pp = &l->buckets[bucket(l, src->key)]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == src) {
			*pp = src->next;
			free(src);
			return;
		}
	}
}

FSEC_API unsigned long fsec_srclimit_count(const struct fsec_srclimit *l,
					   const struct sockaddr *sa, socklen_t len)
{
	unsigned char key[KEY_LEN];
	const struct fsec_src *e;

	if (!source_key(sa, len, key) || (e = lookup(l, key)) == NULL)
		return 0;
	return e->count;
}
