/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for net sync's reader of `nft -j list table inet
 * fleetsec`: whatever the listing, it loads or is refused cleanly, and a
 * loaded one gives a batch that names only the device maps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fleetsec/netpolicy.h"
#include "fleetsec/netsync.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char policy[] =
		"{\"version\": 1, \"zones\": {\"iot\": [{\"name\": \"iot\", \"interface\": \"br-iot\","
		" \"subnets\": [\"10.20.0.0/24\"], \"router\": \"10.20.0.1\"}],"
		" \"wan\": {\"interface\": \"wan0\"}},"
		" \"classes\": [{\"name\": \"cam\"}, {\"name\": \"hub\"}],"
		" \"devices\": [{\"id\": \"cam-1\", \"mac\": \"02:00:00:00:00:01\", \"ip\": \"10.20.0.11\","
		" \"class\": \"cam\"}, {\"id\": \"hub-1\", \"ip\": \"10.20.0.12\", \"class\": \"hub\"}]}";
	struct fsec_netpolicy *p = NULL;
	struct fsec_netsync *ns = NULL;
	struct fsec_netsync_stats st;
	char *script = NULL;
	size_t len = 0;
	enum fsec_err rc;

	if (fsec_netpolicy_parse((const unsigned char *)policy, sizeof(policy) - 1, &p) != FSEC_OK ||
	    fsec_netpolicy_prepare(p, NULL) != FSEC_OK || fsec_netsync_new(p, &ns) != FSEC_OK)
		abort();
	fsec_clearerr();
	rc = fsec_netsync_load(ns, (const char *)data, size);
	fuzz_check_detail(rc);
	if (rc == FSEC_OK) {
		if (fsec_netsync_diff(ns, &script, &len, &st) != FSEC_OK || strlen(script) != len ||
		    st.devices != 2)
			abort();
		for (const char *l = script; *l != '\0'; l = strchr(l, '\n') + 1)
			if (strncmp(l, "add element inet fleetsec ", 26) != 0 &&
			    strncmp(l, "delete element inet fleetsec ", 29) != 0)
				abort();
		fsec_netsync_applied(ns);
		free(script);
		script = NULL;
		if (fsec_netsync_diff(ns, &script, &len, &st) != FSEC_OK || len != 0)
			abort(); /* applied: nothing left to do */
	}
	free(script);
	fsec_netsync_free(ns);
	fsec_netpolicy_free(p);
	return 0;
}
