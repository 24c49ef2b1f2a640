/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleetsec-bootsim: a simulated bootloader for tests and demos. Each run is
 * one boot: it applies U-Boot's bootcount/bootlimit/altbootcmd rules to the
 * environment file (see fleetsec/bootctl.h) and prints the slot it boots.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fleetsec/bootctl.h"

/* Print j (a new reference, which this takes) as one line. */
static void print_json(json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_PRESERVE_ORDER) : NULL;

	puts(s != NULL ? s : "{}");
	free(s);
	json_decref(j);
}

static int usage(FILE *fp, int status)
{
	fputs("usage: fleetsec-bootsim ENVFILE [--json]\n\n"
	      "Boots once: counts the boot if a trial is on, falls back to the other slot\n"
	      "after bootlimit failed trial boots, and prints the slot it boots.\n",
	      fp);
	return status;
}

int main(int argc, char **argv)
{
	struct fsec_bootctl *b = NULL;
	struct fsec_boot_state st;
	bool json = false, fell_back = false;
	char slot = 0;
	enum fsec_err rc;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return usage(stdout, 0);
	if (argc == 3 && strcmp(argv[2], "--json") == 0)
		json = true;
	else if (argc != 2)
		return usage(stderr, 2);
	rc = fsec_bootctl_open("file", argv[1], &b);
	if (rc == FSEC_OK)
		rc = fsec_bootctl_boot(b, &slot, &fell_back);
	if (rc == FSEC_OK)
		rc = fsec_bootctl_read(b, &st);
	fsec_bootctl_free(b);
	if (rc != FSEC_OK) {
		fprintf(stderr, "fleetsec-bootsim: %s: %s\n", argv[1],
			fsec_err_detail()[0] != '\0' ? fsec_err_detail() : fsec_strerror(rc));
		return 1;
	}
	if (json)
		print_json(json_pack("{s:s%, s:b, s:b, s:I}", "slot", &slot, (size_t)1, "fell_back",
				     (int)fell_back, "trial", (int)st.upgrade_available, "bootcount",
				     (json_int_t)st.bootcount));
	else
		printf("booting slot %c%s%s\n", slot, fell_back ? " (fell back: trial failed)" : "",
		       st.upgrade_available ? " (trial boot)" : "");
	return 0;
}
