/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the network policy parser, and the compiler and
 * explain behind it: whatever parses must prepare or refuse cleanly, and a
 * prepared policy must render and answer explain. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fleetsec/netpolicy.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* MUD files are looked up in a directory that holds none, so the
	 * target stays hermetic. */
	static const struct fsec_netpolicy_opts opts = {.mud_dir = "/nonexistent-fleetsec-fuzz"};
	struct fsec_netpolicy *p = NULL;
	struct fsec_netpolicy_verdict v;
	char *nft = NULL, *dm = NULL;
	size_t nlen = 0, dlen = 0;
	enum fsec_err rc;

	fsec_clearerr();
	rc = fsec_netpolicy_parse(data, size, &p);
	fuzz_check_detail(rc);
	if (rc != FSEC_OK)
		return 0;
	fsec_clearerr();
	rc = fsec_netpolicy_prepare(p, &opts);
	fuzz_check_detail(rc);
	for (size_t i = 0; i < fsec_netpolicy_warning_count(p); i++)
		if (strchr(fsec_netpolicy_warning_get(p, i), '\n') != NULL)
			abort(); /* warnings are one line each, like errors */
	if (rc == FSEC_OK) {
		rc = fsec_netpolicy_render(p, &nft, &nlen, &dm, &dlen);
		if (rc != FSEC_OK || strlen(nft) != nlen || strlen(dm) != dlen ||
		    strstr(nft, "add table inet fleetsec\n") == NULL)
			abort();
		if (fsec_netpolicy_explain(p, "10.0.0.1", "192.0.2.1", "tcp", 443, &v) != FSEC_OK ||
		    memchr(v.rule, '\0', sizeof(v.rule)) == NULL)
			abort();
		/* Any answer will do, as long as it does not crash. gcc does
		 * not let a (void) cast drop a warn_unused_result value. */
		rc = fsec_netpolicy_explain(p, "02:00:00:00:00:01", "2001:db8::1", "udp", 123, &v);
		(void)rc;
	}
	free(nft);
	free(dm);
	fsec_netpolicy_free(p);
	return 0;
}
