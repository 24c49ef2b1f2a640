/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fleetsec/devapi.h"
#include "fleetsec/release.h"
#include "reply_int.h"

#define RANGE_HDR_MAX 256

FSEC_API enum fsec_err fsec_devapi_update(struct fsec_registry *reg, const char *id,
					  struct fsec_reply *r)
{
	struct fsec_published_rec pub;
	struct fsec_device_rec dev;
	unsigned bucket = 0;
	char *bundle = NULL;
	enum fsec_err rc;

	memset(r, 0, sizeof(*r));
	if ((rc = fsec_registry_device_get(reg, id, &dev)) != FSEC_OK)
		return rc;
	rc = fsec_registry_publish_get(reg, dev.model, &pub, &bundle);
	if (rc == FSEC_ERR_NOTFOUND) {
		fsec_reply_error(r, 204, "no release published for model '%s'", dev.model);
		return FSEC_OK;
	}
	if (rc != FSEC_OK || (rc = fsec_rollout_bucket(id, &bucket)) != FSEC_OK)
		goto out;
	/* The manifest carries its own rollout too, which the agent applies;
	 * this one lets the operator stage a release without re-signing it. */
	if ((int)bucket >= pub.percent) {
		fsec_reply_error(r, 204, "release %s is rolled out to %d%%, not yet to %s",
				 pub.version, pub.percent, id);
		goto out;
	}
	r->status = 200;
	r->content_type = "application/json";
	r->body = bundle;
	r->len = strlen(bundle);
	snprintf(r->reason, sizeof(r->reason), "release %s", pub.version);
	bundle = NULL;
out:
	free(bundle);
	return rc;
}

/* A decimal byte position: digits only, no sign, no overflow. */
static bool parse_pos(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

FSEC_API enum fsec_err fsec_http_range(const char *hdr, uint64_t size, uint64_t *off,
				       uint64_t *len)
{
	const char *spec, *dash;
	size_t n = strnlen(hdr, RANGE_HDR_MAX + 1);
	uint64_t a = 0, b = 0;

	if (n > RANGE_HDR_MAX || strncmp(hdr, "bytes=", 6) != 0)
		return FSEC_ERR_PARSE;
	spec = hdr + 6;
	n -= 6;
	/* Several ranges would need multipart/byteranges: serve it whole. */
	if (memchr(spec, ',', n) != NULL || (dash = memchr(spec, '-', n)) == NULL)
		return FSEC_ERR_PARSE;
	if (dash == spec) {
		/* "-N": the last N bytes. */
		if (!parse_pos(dash + 1, n - 1, &b))
			return FSEC_ERR_PARSE;
		if (b == 0 || size == 0)
			return FSEC_ERR_NOTFOUND;
		*len = b < size ? b : size;
		*off = size - *len;
		return FSEC_OK;
	}
	if (!parse_pos(spec, (size_t)(dash - spec), &a))
		return FSEC_ERR_PARSE;
	if (dash[1] == '\0')
		b = size > 0 ? size - 1 : 0;
	else if (!parse_pos(dash + 1, n - (size_t)(dash - spec) - 1, &b) || b < a)
		return FSEC_ERR_PARSE;
	if (a >= size)
		return FSEC_ERR_NOTFOUND;
	if (b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return FSEC_OK;
}
