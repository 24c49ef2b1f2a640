/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the broker audit's reader of mosquitto.conf
 * (fsec_audit_broker): the input is written to a file and audited.
 * Contracts checked: it either fails with a reason or succeeds, and every
 * finding names a BROKER- check and a subject.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleetsec/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fuzz-broker-XXXXXX";
	const char *paths[1] = {path};
	struct fsec_audit *a = NULL;
	int fd = mkstemp(path);
	enum fsec_err rc;

	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
		abort();
	if (fsec_audit_new(&a) != FSEC_OK)
		abort();
	rc = fsec_audit_broker(paths, 1, 1700000000, a);
	if (rc != FSEC_OK && fsec_err_detail()[0] == '\0')
		abort();
	for (size_t i = 0; rc == FSEC_OK && i < fsec_audit_count(a); i++) {
		const struct fsec_audit_finding *f = fsec_audit_get(a, i);

		if (strncmp(f->check->id, "BROKER-", 7) != 0 || f->subject[0] == '\0')
			abort();
	}
	fsec_audit_free(a);
	unlink(path);
	return 0;
}
