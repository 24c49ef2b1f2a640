/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the MUD (RFC 8520) parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fleetsec/mud.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsec_mud *m = NULL, *s = NULL;
	enum fsec_err rc, src;

	fsec_clearerr();
	src = fsec_mud_parse_flags(data, size, FSEC_MUD_SKIP_INVALID, &s);
	fuzz_check_detail(src);
	fsec_clearerr();
	rc = fsec_mud_parse(data, size, &m);
	fuzz_check_detail(rc);
	/* --skip-invalid changes nothing in a file that is valid as it is. */
	if (rc == FSEC_OK && (src != FSEC_OK || fsec_mud_ace_count(s) != fsec_mud_ace_count(m) ||
			      fsec_mud_warning_count(s) != fsec_mud_warning_count(m)))
		abort();
	fsec_mud_free(s);
	if (rc != FSEC_OK)
		return 0;
	/* Every entry is terminated and consistent; every warning is one line
	 * that starts with a JSON path. */
	for (size_t i = 0; i < fsec_mud_ace_count(m); i++) {
		const struct fsec_mud_ace *a = fsec_mud_ace_get(m, i);

		if (memchr(a->addr, '\0', sizeof(a->addr)) == NULL ||
		    memchr(a->dnsname, '\0', sizeof(a->dnsname)) == NULL ||
		    memchr(a->path, '\0', sizeof(a->path)) == NULL || a->dport_lo > a->dport_hi ||
		    a->sport_lo > a->sport_hi || a->dport_hi > 65535 || a->proto > 255 ||
		    (a->peer == FSEC_MUD_PEER_DNS && a->dnsname[0] == '\0'))
			abort();
	}
	for (size_t i = 0; i < fsec_mud_warning_count(m); i++) {
		const char *w = fsec_mud_warning_get(m, i);

		if (w[0] != '$' || strchr(w, '\n') != NULL || strchr(w, '\r') != NULL)
			abort();
	}
	fsec_mud_free(m);
	return 0;
}
