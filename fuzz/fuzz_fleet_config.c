/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for fsec_fleet_config_parse (fleet.json). The file lives in
 * the fleet home and is normally ours, but a hand edit or a restored backup
 * must be refused cleanly, never trusted.
 *
 * Besides the sanitizers, it checks the contracts from common.h and
 * fleet_int.h: the output is written only on success, a success is in range,
 * and the error reason is a single NUL-terminated line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err_int.h"
#include "fuzz_check.h"
#include "fleet_int.h"
#include "fleetsec/ca.h"

/* Mirrors DAYS_MAX in src/lib/fleet.c. */
#define DAYS_CAP 36500

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_string(const char *s, size_t cap)
{
	const char *nul = memchr(s, '\0', cap);

	if (nul == NULL || nul == s)
		abort(); /* a parsed string is non-empty and fits its field */
}

static void check_config(const struct fleet_config *c)
{
	check_string(c->name, sizeof(c->name));
	check_string(c->root_cert, sizeof(c->root_cert));
	check_string(c->issuing_cert, sizeof(c->issuing_cert));
	check_string(c->issuing_key, sizeof(c->issuing_key));
	check_string(c->registry, sizeof(c->registry));
	if (c->nprev > FLEET_PREV_MAX)
		abort();
	for (size_t i = 0; i < c->nprev; i++) {
		check_string(c->prev[i].cert, sizeof(c->prev[i].cert));
		check_string(c->prev[i].key, sizeof(c->prev[i].key));
		if (c->prev[i].root[0] != '\0') /* optional: "" is absent */
			check_string(c->prev[i].root, sizeof(c->prev[i].root));
	}
	if (c->nroots > FLEET_ROOTS_MAX)
		abort();
	for (size_t i = 0; i < c->nroots; i++) {
		check_string(c->roots[i].cert, sizeof(c->roots[i].cert));
		check_string(c->roots[i].new_with_old, sizeof(c->roots[i].new_with_old));
		check_string(c->roots[i].old_with_new, sizeof(c->roots[i].old_with_new));
	}
	if (fsec_fleet_name_check(c->name) != FSEC_OK)
		abort();
	if (c->algo != FSEC_KEY_P256 && c->algo != FSEC_KEY_P384 && c->algo != FSEC_KEY_ED25519)
		abort();
	if (c->device_days < 1 || c->device_days > DAYS_CAP || c->crl_days < 1 ||
	    c->crl_days > DAYS_CAP)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fleet_config cfg, pristine;
	enum fsec_err rc;

	/* A fill pattern shows whether a failing call wrote the output anyway. */
	memset(&pristine, 0xa5, sizeof(pristine));
	memset(&cfg, 0xa5, sizeof(cfg));
	fsec_clearerr();
	rc = fsec_fleet_config_parse(data, size, &cfg);
	fuzz_check_detail(rc);
	if (rc == FSEC_OK) {
		check_config(&cfg);
	} else {
		if (memcmp(&cfg, &pristine, sizeof(cfg)) != 0)
			abort(); /* output is written only on success */
	}
	return 0;
}
