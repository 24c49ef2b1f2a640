/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the route table's HTTP header handling: the request
 * framing check (fsec_route_framing_*, which refuses request smuggling) and
 * the route decision (fsec_route_decide) for the request's path, as any
 * client reaches them before it is authenticated. The input is the request
 * target on its first line, then one "Name: value" header a line; the
 * first byte picks the method and the peer kind. Properties checked: an
 * accepted request has at most one Content-Length, all digits, at most one
 * Transfer-Encoding, never both, and a target of visible ASCII; a route
 * decision always says why it refuses. No set-up: nothing here touches a
 * file, the registry or OpenSSL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fleetsec/routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LINES_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsec_route_framing f;
	struct fsec_est_peer peer;
	struct fsec_reply r;
	enum fsec_endpoint ep;
	char *buf, *line, *next, *q;
	const char *target = NULL;
	unsigned cls = 0, tes = 0, nlines = 0;
	bool digits_ok = true, target_ok, ok;
	uint8_t sel;

	if (size < 1)
		return 0;
	sel = data[0];
	if ((buf = malloc(size)) == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	/* The first line is the target, the rest headers (at most LINES_MAX,
	 * as evhttp's header size cap bounds them). */
	for (line = buf; line != NULL && nlines <= LINES_MAX; line = next, nlines++) {
		char *colon;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (target == NULL) {
			target = line;
			fsec_route_framing_init(&f, target);
			continue;
		}
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		/* evhttp drops the spaces after the colon. */
		colon += strspn(colon + 1, " ");
		fsec_route_framing_header(&f, line, colon + 1);
		if (strcasecmp(line, "content-length") == 0) {
			cls++;
			digits_ok = digits_ok && colon[1] != '\0' &&
				    strspn(colon + 1, "0123456789") == strlen(colon + 1);
		} else if (strcasecmp(line, "transfer-encoding") == 0) {
			tes++;
		}
	}
	if (target == NULL)
		fsec_route_framing_init(&f, target = "");
	ok = fsec_route_framing_ok(&f, &r);
	target_ok = target[0] != '\0';
	for (const unsigned char *p = (const unsigned char *)target; *p != '\0'; p++)
		target_ok = target_ok && *p > 0x20 && *p < 0x7f;
	if (ok && (cls > 1 || tes > 1 || (cls > 0 && tes > 0) || !digits_ok || !target_ok))
		abort();
	if (!ok && (r.status != 400 || r.reason[0] == '\0'))
		abort();
	fsec_reply_cleanup(&r);

	/* The route for the path (the target without its query). */
	if ((q = strchr((char *)target, '?')) != NULL)
		*q = '\0';
	memset(&peer, 0, sizeof(peer));
	peer.kind = (enum fsec_est_peer_kind)((sel >> 2) % 4);
	peer.superseded = (sel & 0x10) != 0;
	memcpy(peer.reason, "refused", 8);
	(void)fsec_route_endpoint_name(fsec_route_endpoint(target));
	if (!fsec_route_decide((enum fsec_route_method)(sel % 3 + 1), target, &peer, &ep, &r) &&
	    (r.status < 400 || r.status > 405 || r.reason[0] == '\0'))
		abort();
	fsec_reply_cleanup(&r);
	free(buf);
	return 0;
}
