/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net sync (fleetsec/netsync.h): the device maps of a loaded ruleset, what
 * they should hold and what they hold, and the nft batch between the two.
 * Elements are kept binary (MAC and IP bytes, and the mark) in arrays sorted
 * by key, so that a full comparison is one merge and a followed change
 * touches only the keys of the devices it names.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dynbuf_int.h"
#include "err_int.h"
#include "fleetsec/netsync.h"
#include "netpolicy_int.h"
#include "text_int.h"

#define SCRIPT_MAX (512u * 1024u * 1024u)
#define ELEMS_PER_LINE 512

/* A map element: key bytes (MAC, then IP; the part a map does not use is
 * zero) and the class mark. */
struct el {
	unsigned char k[10];
	uint32_t mark;
};

struct elarr {
	struct el *e;
	size_t n, cap;
};

/* A change for applied(): delete key, then add it with mark if add. */
struct op {
	size_t map;
	struct el e;
	bool del, add;
};

struct fsec_netsync {
	const struct fsec_netpolicy *p;
	struct device *devs;
	size_t ndevs, capdevs;
	struct elarr cur[NP_DEVMAPS];  /* what the kernel holds, sorted */
	struct elarr want[NP_DEVMAPS]; /* the full desired state, while a full diff is pending */
	struct op *dirty;              /* keys whose element may have changed since the last diff */
	size_t ndirty, capdirty;
	struct op *ops; /* the last diff's changes */
	size_t nops, capops;
	bool loaded, full, full_pending;
};

static int el_cmp(const void *a, const void *b)
{
	return memcmp(((const struct el *)a)->k, ((const struct el *)b)->k, 10);
}

static void dev_key(const struct device *d, size_t map, struct el *e)
{
	memset(e, 0, sizeof(*e));
	if (map <= 2)
		memcpy(e->k, d->mac, 6);
	if (map == 0 || map >= 3)
		memcpy(e->k + 6, d->ip, 4);
	e->mark = np_device_mark(d);
}

static enum fsec_err el_push(struct elarr *a, const struct el *e)
{
	enum fsec_err rc = fsec_array_grow((void **)&a->e, &a->cap, a->n, sizeof(*a->e),
					   (size_t)FSEC_NETPOLICY_DEVICES_MAX * 2);

	if (rc == FSEC_OK)
		a->e[a->n++] = *e;
	return rc;
}

static struct el *el_find(const struct elarr *a, const struct el *key)
{
	return a->n == 0 ? NULL : bsearch(key, a->e, a->n, sizeof(*a->e), el_cmp);
}

FSEC_API enum fsec_err fsec_netsync_new(const struct fsec_netpolicy *p, struct fsec_netsync **out)
{
	struct fsec_netsync *s;

	if (!p->prepared)
		return fsec_seterr(FSEC_ERR_INVAL, "policy not prepared");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
	s->p = p;
	if (p->ndevices > 0) {
		s->devs = malloc(p->ndevices * sizeof(*s->devs));
		if (s->devs == NULL) {
			free(s);
			return fsec_seterr(FSEC_ERR_NOMEM, "out of memory");
		}
		memcpy(s->devs, p->devices, p->ndevices * sizeof(*s->devs));
	}
	s->ndevs = s->capdevs = p->ndevices;
	/* The first diff compares everything. */
	s->full = true;
	*out = s;
	return FSEC_OK;
}

FSEC_API void fsec_netsync_free(struct fsec_netsync *s)
{
	if (s == NULL)
		return;
	for (size_t m = 0; m < NP_DEVMAPS; m++) {
		free(s->cur[m].e);
		free(s->want[m].e);
	}
	free(s->devs);
	free(s->dirty);
	free(s->ops);
	free(s);
}

/* "aa:bb:..", "a.b.c.d" or {"concat": [MAC, IP]} into key bytes. */
static bool parse_key(const json_t *k, size_t map, struct el *e)
{
	struct prefix a;

	memset(e->k, 0, sizeof(e->k));
	if (map == 0) {
		const json_t *c = json_object_get(k, "concat");

		return json_array_size(c) == 2 &&
		       np_parse_mac(json_string_value(json_array_get(c, 0)) != NULL
					    ? json_string_value(json_array_get(c, 0))
					    : "",
				    e->k) &&
		       json_is_string(json_array_get(c, 1)) &&
		       np_parse_addr(json_string_value(json_array_get(c, 1)), 4, &a) &&
		       memcpy(e->k + 6, a.a, 4) != NULL;
	}
	if (!json_is_string(k))
		return false;
	if (map <= 2)
		return np_parse_mac(json_string_value(k), e->k);
	if (!np_parse_addr(json_string_value(k), 4, &a))
		return false;
	memcpy(e->k + 6, a.a, 4);
	return true;
}

static enum fsec_err load_map(struct fsec_netsync *s, size_t m, const json_t *elems)
{
	enum fsec_err rc;

	for (size_t i = 0; i < json_array_size(elems); i++) {
		const json_t *pair = json_array_get(elems, i);
		json_int_t mark = json_integer_value(json_array_get(pair, 1));
		struct el e;

		/* A mark outside 1..65535 is not one this compiler writes. */
		if (json_array_size(pair) != 2 || !parse_key(json_array_get(pair, 0), m, &e) ||
		    !json_is_integer(json_array_get(pair, 1)) || mark < 1 || mark > 65535)
			return fsec_seterr(FSEC_ERR_PARSE, "map %s: element %zu is not KEY : MARK",
					   np_devmaps[m].name, i);
		e.mark = (uint32_t)mark;
		if ((rc = el_push(&s->cur[m], &e)) != FSEC_OK)
			return rc;
	}
	if (s->cur[m].n > 1)
		qsort(s->cur[m].e, s->cur[m].n, sizeof(struct el), el_cmp);
	return FSEC_OK;
}

/* The legend must give each mark the policy's class, or sync would move
 * devices into the wrong classes of a ruleset compiled from another policy. */
static enum fsec_err check_classes(const struct fsec_netpolicy *p, const json_t *elems)
{
	size_t n = 0;
	bool q = false;

	for (size_t i = 0; i < json_array_size(elems); i++) {
		const json_t *el = json_object_get(json_array_get(elems, i), "elem");
		json_int_t v = json_integer_value(json_object_get(el, "val"));
		const char *name = json_string_value(json_object_get(el, "comment"));
		const char *want = v == FSEC_NETPOLICY_QUARANTINE_MARK ? "quarantine"
				   : v >= 1 && (size_t)v <= p->nclasses ? p->classes[v - 1].name
									: NULL;

		if (want == NULL || name == NULL || strcmp(name, want) != 0)
			return fsec_seterr(FSEC_ERR_INVAL,
					   "the loaded table's class %lld is \"%.32s\", the policy's "
					   "\"%s\": load the ruleset compiled from this policy",
					   (long long)v, name != NULL ? fsec_text_clean(name, (char[40]){0}, 40) : "",
					   want != NULL ? want : "(none)");
		if (v == FSEC_NETPOLICY_QUARANTINE_MARK)
			q = true;
		else
			n++;
	}
	if (n != p->nclasses || !q)
		return fsec_seterr(FSEC_ERR_INVAL,
				   "the loaded table has %zu classes%s, the policy %zu: load the "
				   "ruleset compiled from this policy",
				   n, q ? "" : " and no quarantine", p->nclasses);
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_netsync_load(struct fsec_netsync *s, const char *json, size_t len)
{
	json_t *root = NULL;
	json_error_t jerr;
	bool seen[NP_DEVMAPS] = {false}, legend = false;
	enum fsec_err rc = FSEC_ERR_PARSE;
	const json_t *items;

	if (len > FSEC_NETSYNC_LISTING_MAX)
		return fsec_seterr(FSEC_ERR_TOO_LARGE, "nft listing over %u bytes",
				   FSEC_NETSYNC_LISTING_MAX);
	for (size_t m = 0; m < NP_DEVMAPS; m++)
		s->cur[m].n = 0;
	root = json_loadb(json, len, 0, &jerr);
	items = json_object_get(root, "nftables");
	if (!json_is_array(items)) {
		rc = fsec_seterr(FSEC_ERR_PARSE, "nft listing: not nft's JSON (%s)",
				 root == NULL ? jerr.text : "no \"nftables\" array");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(items); i++) {
		const json_t *it = json_array_get(items, i), *o;
		const char *name;

		if ((o = json_object_get(it, "map")) == NULL && (o = json_object_get(it, "set")) == NULL)
			continue;
		name = json_string_value(json_object_get(o, "name"));
		if (name == NULL || !json_is_string(json_object_get(o, "table")) ||
		    strcmp(json_string_value(json_object_get(o, "table")), "fleetsec") != 0)
			continue;
		if (strcmp(name, "classes") == 0) {
			if ((rc = check_classes(s->p, json_object_get(o, "elem"))) != FSEC_OK)
				goto out;
			legend = true;
			continue;
		}
		for (size_t m = 0; m < NP_DEVMAPS; m++)
			if (strcmp(name, np_devmaps[m].name) == 0 && json_object_get(it, "map") != NULL) {
				if ((rc = load_map(s, m, json_object_get(o, "elem"))) != FSEC_OK)
					goto out;
				seen[m] = true;
			}
	}
	for (size_t m = 0; m < NP_DEVMAPS; m++)
		if (!seen[m]) {
			rc = fsec_seterr(FSEC_ERR_INVAL, "table inet fleetsec has no map %s: load a "
					 "ruleset compiled by this fleetsec",
					 np_devmaps[m].name);
			goto out;
		}
	if (!legend) {
		rc = fsec_seterr(FSEC_ERR_INVAL, "table inet fleetsec has no set classes: load a "
				 "ruleset compiled by this fleetsec");
		goto out;
	}
	s->loaded = true;
	s->full = true;
	rc = FSEC_OK;
out:
	json_decref(root);
	return rc;
}

static enum fsec_err mark_dirty(struct fsec_netsync *s, const struct device *d)
{
	enum fsec_err rc;

	for (size_t m = 0; m < NP_DEVMAPS; m++) {
		if (!np_device_in(d, m))
			continue;
		if ((rc = fsec_array_grow((void **)&s->dirty, &s->capdirty, s->ndirty,
					  sizeof(*s->dirty), 1u << 20)) != FSEC_OK)
			return rc;
		s->dirty[s->ndirty].map = m;
		dev_key(d, m, &s->dirty[s->ndirty].e);
		s->ndirty++;
	}
	return FSEC_OK;
}

FSEC_API enum fsec_err fsec_netsync_device(struct fsec_netsync *s,
					   const struct fsec_netinput_device *in, bool gone)
{
	struct device nd = {0};
	size_t i, cls = SIZE_MAX;
	bool keep = false;
	struct prefix a;
	enum fsec_err rc;

	fsec_text_clean(in->id != NULL ? in->id : "", nd.id, sizeof(nd.id));
	if (!gone && (in->status == FSEC_DEVICE_ACTIVE || in->status == FSEC_DEVICE_REVOKED)) {
		nd.has_mac = in->mac != NULL && in->mac[0] != '\0';
		nd.has_ip = in->ip != NULL && in->ip[0] != '\0';
		if (nd.has_mac && !np_parse_mac(in->mac, nd.mac))
			return fsec_seterr(FSEC_ERR_PARSE, "device %s: \"%.40s\" is not a MAC address",
					   nd.id, fsec_text_clean(in->mac, (char[48]){0}, 48));
		if (nd.has_ip) {
			if (!np_parse_addr(in->ip, 4, &a))
				return fsec_seterr(FSEC_ERR_PARSE, "device %s: \"%.40s\" is not an IPv4 "
						   "address",
						   nd.id, fsec_text_clean(in->ip, (char[48]){0}, 48));
			memcpy(nd.ip, a.a, 4);
		}
		/* Tampered: its keys may be in other hands; only fleetsecd, to
		 * be re-provisioned, as a revoked device. */
		nd.quarantined = in->status == FSEC_DEVICE_REVOKED || in->tampered;
		if (!nd.quarantined)
			cls = np_class_for(s->p, in->model != NULL ? in->model : "");
		nd.cls = cls == SIZE_MAX ? 0 : cls;
		/* An active device of a model no class claims gets nothing. */
		keep = (nd.has_mac || nd.has_ip) && (nd.quarantined || cls != SIZE_MAX);
	}
	for (i = 0; i < s->ndevs; i++)
		if (strcmp(s->devs[i].id, nd.id) == 0)
			break;
	if (i < s->ndevs) {
		if ((rc = mark_dirty(s, &s->devs[i])) != FSEC_OK)
			return rc;
		if (!keep) {
			s->devs[i] = s->devs[s->ndevs - 1];
			s->ndevs--;
			return FSEC_OK;
		}
	} else if (keep) {
		if ((rc = fsec_array_grow((void **)&s->devs, &s->capdevs, s->ndevs, sizeof(*s->devs),
					  FSEC_NETPOLICY_DEVICES_MAX)) != FSEC_OK)
			return rc;
		s->ndevs++;
	} else {
		return FSEC_OK;
	}
	s->devs[i] = nd;
	return mark_dirty(s, &nd);
}

static enum fsec_err push_op(struct fsec_netsync *s, size_t m, const struct el *e, bool del,
			     bool add)
{
	enum fsec_err rc = fsec_array_grow((void **)&s->ops, &s->capops, s->nops, sizeof(*s->ops),
					   (size_t)FSEC_NETPOLICY_DEVICES_MAX * NP_DEVMAPS);

	if (rc != FSEC_OK)
		return rc;
	s->ops[s->nops].map = m;
	s->ops[s->nops].e = *e;
	s->ops[s->nops].del = del;
	s->ops[s->nops].add = add;
	s->nops++;
	return FSEC_OK;
}

/* Every map: the desired elements, sorted, merged with the kernel's. */
static enum fsec_err diff_full(struct fsec_netsync *s)
{
	enum fsec_err rc;

	for (size_t m = 0; m < NP_DEVMAPS; m++) {
		struct elarr *w = &s->want[m];
		const struct elarr *c = &s->cur[m];
		size_t i = 0, j = 0;

		w->n = 0;
		for (size_t d = 0; d < s->ndevs; d++) {
			struct el e;

			if (!np_device_in(&s->devs[d], m))
				continue;
			dev_key(&s->devs[d], m, &e);
			if ((rc = el_push(w, &e)) != FSEC_OK)
				return rc;
		}
		if (w->n > 1)
			qsort(w->e, w->n, sizeof(*w->e), el_cmp);
		while (i < w->n || j < c->n) {
			int r = i == w->n ? 1 : j == c->n ? -1 : el_cmp(&w->e[i], &c->e[j]);

			if (r < 0)
				rc = push_op(s, m, &w->e[i++], false, true);
			else if (r > 0)
				rc = push_op(s, m, &c->e[j++], true, false);
			else if (w->e[i].mark != c->e[j].mark)
				rc = push_op(s, m, &w->e[i++], true, (j++, true));
			else
				i++, j++, rc = FSEC_OK;
			if (rc != FSEC_OK)
				return rc;
		}
	}
	s->full_pending = true;
	return FSEC_OK;
}

/* Only the keys devices touched since the last diff: each one's desired
 * element is whatever device now has that key. */
static enum fsec_err diff_dirty(struct fsec_netsync *s)
{
	enum fsec_err rc;

	for (size_t k = 0; k < s->ndirty; k++) {
		const struct op *dk = &s->dirty[k];
		const struct el *have;
		struct el want;
		bool found = false, seen = false;

		for (size_t j = 0; j < k && !seen; j++)
			seen = s->dirty[j].map == dk->map && memcmp(s->dirty[j].e.k, dk->e.k, 10) == 0;
		if (seen)
			continue;
		for (size_t d = 0; d < s->ndevs && !found; d++) {
			const struct device *dv = &s->devs[d];

			/* The cheap byte compares first: this runs over every device. */
			if ((dk->map <= 2 && memcmp(dv->mac, dk->e.k, 6) != 0) ||
			    ((dk->map == 0 || dk->map >= 3) && memcmp(dv->ip, dk->e.k + 6, 4) != 0) ||
			    !np_device_in(dv, dk->map))
				continue;
			dev_key(dv, dk->map, &want);
			found = true;
		}
		have = el_find(&s->cur[dk->map], &dk->e);
		if (found && have != NULL && have->mark == want.mark)
			continue;
		if (!found && have == NULL)
			continue;
		rc = push_op(s, dk->map, found ? &want : &dk->e, have != NULL, found);
		if (rc != FSEC_OK)
			return rc;
	}
	return FSEC_OK;
}

static void key_str(size_t m, const struct el *e, char *buf, size_t cap)
{
	const unsigned char *k = e->k;

	if (m == 0)
		snprintf(buf, cap, "%02x:%02x:%02x:%02x:%02x:%02x . %u.%u.%u.%u", k[0], k[1], k[2],
			 k[3], k[4], k[5], k[6], k[7], k[8], k[9]);
	else if (m <= 2)
		snprintf(buf, cap, "%02x:%02x:%02x:%02x:%02x:%02x", k[0], k[1], k[2], k[3], k[4],
			 k[5]);
	else
		snprintf(buf, cap, "%u.%u.%u.%u", k[6], k[7], k[8], k[9]);
}

/* The batch: every delete first (a changed element is deleted and added
 * again in the same transaction), then the adds. */
static enum fsec_err render_ops(const struct fsec_netsync *s, char **script, size_t *len)
{
	struct fsec_dynbuf b;
	enum fsec_err rc = FSEC_OK;

	fsec_dynbuf_init(&b, SCRIPT_MAX);
	for (int pass = 0; pass < 2 && rc == FSEC_OK; pass++)
		for (size_t m = 0; m < NP_DEVMAPS && rc == FSEC_OK; m++) {
			size_t n = 0;

			for (size_t i = 0; i < s->nops && rc == FSEC_OK; i++) {
				const struct op *o = &s->ops[i];
				char key[48], line[96];

				if (o->map != m || !(pass == 0 ? o->del : o->add))
					continue;
				key_str(m, &o->e, key, sizeof(key));
				if (pass == 1)
					snprintf(line, sizeof(line), "%s : %u", key, o->e.mark);
				else
					snprintf(line, sizeof(line), "%s", key);
				if (n % ELEMS_PER_LINE == 0)
					rc = fsec_dynbuf_addf(&b, "%s%s element inet fleetsec %s { %s",
								n > 0 ? " }\n" : "",
								pass == 0 ? "delete" : "add",
								np_devmaps[m].name, line);
				else
					rc = fsec_dynbuf_addf(&b, ", %s", line);
				n++;
			}
			if (rc == FSEC_OK && n > 0)
				rc = fsec_dynbuf_addf(&b, " }\n");
		}
	if (rc == FSEC_OK)
		rc = fsec_dynbuf_take(&b, script, len);
	fsec_dynbuf_cleanup(&b);
	return rc;
}

FSEC_API enum fsec_err fsec_netsync_diff(struct fsec_netsync *s, char **script, size_t *len,
					 struct fsec_netsync_stats *st)
{
	enum fsec_err rc;

	if (!s->loaded)
		return fsec_seterr(FSEC_ERR_INVAL, "the kernel's maps were not read");
	s->nops = 0;
	s->full_pending = false;
	rc = s->full ? diff_full(s) : diff_dirty(s);
	if (rc == FSEC_OK)
		rc = render_ops(s, script, len);
	if (rc != FSEC_OK)
		return rc;
	if (st != NULL) {
		memset(st, 0, sizeof(*st));
		for (size_t i = 0; i < s->nops; i++) {
			st->deleted += s->ops[i].del;
			st->added += s->ops[i].add;
		}
		st->devices = s->ndevs;
		for (size_t d = 0; d < s->ndevs; d++)
			st->quarantined += s->devs[d].quarantined;
	}
	return FSEC_OK;
}

FSEC_API void fsec_netsync_applied(struct fsec_netsync *s)
{
	bool lost = false;

	if (s->full_pending) {
		for (size_t m = 0; m < NP_DEVMAPS; m++) {
			struct elarr t = s->cur[m];

			s->cur[m] = s->want[m];
			s->want[m] = t;
			s->want[m].n = 0;
		}
	} else {
		/* A few keys: sorted insert and delete in place. */
		for (size_t i = 0; i < s->nops; i++) {
			const struct op *o = &s->ops[i];
			struct elarr *c = &s->cur[o->map];
			struct el *at = el_find(c, &o->e);
			size_t pos;

			if (at != NULL && o->add) {
				at->mark = o->e.mark;
				continue;
			}
			if (at != NULL) {
				pos = (size_t)(at - c->e);
				memmove(at, at + 1, (c->n - pos - 1) * sizeof(*at));
				c->n--;
				continue;
			}
			if (!o->add)
				continue;
			if (el_push(c, &o->e) != FSEC_OK) {
				/* No room to record it: compare everything next time. */
				lost = true;
				continue;
			}
			for (pos = c->n - 1; pos > 0 && el_cmp(&c->e[pos - 1], &o->e) > 0; pos--)
				c->e[pos] = c->e[pos - 1];
			c->e[pos] = o->e;
		}
	}
	s->nops = 0;
	s->ndirty = 0;
	s->full_pending = false;
	s->full = lost;
}
