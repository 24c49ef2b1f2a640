/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the firmware audit's input parsers: the tar reader
 * and, through it, every per-file check (passwd/shadow lines, inittab and
 * init scripts, unit links, sshd_config, PEM blocks, URLs). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"
#include "err_int.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fw_state st = {0};
	struct fsec_audit *a = NULL;
	enum fsec_err rc;

	if (fsec_audit_new(&a) != FSEC_OK)
		return 0;
	fsec_clearerr();
	rc = fsec_audit_fw_tar(a, &st, data, size, 1u << 20);
	fuzz_check_detail(rc);
	/* Findings are always complete, one-line and within their caps. */
	for (size_t i = 0; i < fsec_audit_count(a); i++) {
		const struct fsec_audit_finding *f = fsec_audit_get(a, i);

		if (f->check == NULL || strlen(f->subject) > FSEC_AUDIT_SUBJECT_MAX ||
		    strlen(f->evidence) > FSEC_AUDIT_EVIDENCE_MAX || strchr(f->evidence, '\n') != NULL ||
		    strchr(f->subject, '\n') != NULL)
			abort();
	}
	/* Bytes that are not a tarball must be safe as one file, for every
	 * path-based check. Every check reads each byte, so running all of
	 * them on every input made this target the slowest: the input's first
	 * byte picks one. A tarball's members already went through them, and
	 * decoding its keys a second time halved the rate. */
	if (rc != FSEC_OK && size >= 1 && size <= 65536) {
		static const char *const paths[] = {"etc/shadow", "etc/inittab", "etc/ssh/sshd_config",
						    "etc/httpd.conf", "boot/cmdline.txt",
						    "etc/xinetd.d/telnet", "etc/app.conf"};
		const char *path = paths[data[0] % (sizeof(paths) / sizeof(paths[0]))];

		(void)fsec_audit_fw_file(a, &st, path, data + 1, size - 1);
	}
	fsec_audit_free(a);
	return 0;
}
