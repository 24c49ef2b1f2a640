/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what `fleetsec restore` reads once a backup is
 * opened: the ustar archive (bk_tar_next) and its MANIFEST, checked member
 * by member (bk_verify_archive). The envelope around it is OpenSSL's CMS.
 * Contracts checked: on success every member lies inside the input, has a
 * name the writer could have written, and matches its manifest entry.
 * Seeds (fuzz/corpus/backup_archive): archives in the byte layout `fleetsec
 * backup` writes, as `openssl cms -decrypt -pwri_password` shows it, holding
 * a throwaway fleet's public files; "issuing.key" there is a placeholder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup_int.h"
#include "err_int.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bk_manifest m = {0};
	struct bk_member *members = NULL;
	enum fsec_err rc;

	fsec_clearerr();
	rc = bk_verify_archive(data, size, &m, &members);
	fuzz_check_detail(rc);
	if (rc == FSEC_OK) {
		for (size_t i = 0; i < m.n; i++) {
			const struct bk_member *e = &members[i];

			if (e->data < data || e->len > size ||
			    (size_t)(e->data - data) > size - e->len || !bk_name_ok(e->name) ||
			    strcmp(e->name, m.v[i].name) != 0 || e->len != m.v[i].len)
				abort();
		}
	}
	free(members);
	free(m.v);
	return 0;
}
