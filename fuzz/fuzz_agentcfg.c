/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the `key = value` configuration parsers: the update
 * agent's and fleetsecd's, which share their line parser (kvconf). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentcfg_int.h"
#include "err_int.h"
#include "fleetsec/servercfg.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fsec_agentcfg *cfg;
	static struct fsec_servercfg scfg;
	enum fsec_err rc;

	/* One configuration for the whole run, parsed into again and again:
	 * a failed parse must leave it as the last good one left it. */
	if (cfg == NULL && fsec_agentcfg_new(&cfg) != FSEC_OK)
		abort();
	fsec_clearerr();
	rc = fsec_agentcfg_parse(data, size, cfg);
	fuzz_check_detail(rc);
	/* A parsed configuration is always complete and terminated. */
	if (rc == FSEC_OK &&
	    (strncmp(cfg->server, "https://", 8) != 0 || cfg->nfirmware_keys == 0 ||
	     cfg->nfirmware_keys > FSEC_AGENTCFG_KEYS_MAX || cfg->nrelease_roots == 0 ||
	     memchr(cfg->state_dir, '\0', sizeof(cfg->state_dir)) == NULL ||
	     strcmp(cfg->slot_a, cfg->slot_b) == 0 ||
	     strcmp(fsec_agentcfg_get_key(cfg), cfg->key) != 0))
		abort();
	fsec_clearerr();
	rc = fsec_servercfg_parse(data, size, &scfg);
	fuzz_check_detail(rc);
	if (rc == FSEC_OK &&
	    (scfg.max_connections == 0 || scfg.timeout == 0 ||
	     memchr(scfg.listen, '\0', sizeof(scfg.listen)) == NULL ||
	     (strcmp(scfg.approval, "auto") != 0 && strcmp(scfg.approval, "manual") != 0)))
		abort();
	return 0;
}
