/* SPDX-License-Identifier: Apache-2.0 */
/* The device's TPM 2.0, as the agent's configuration names it. */
#ifndef FLEETSEC_TPM_H
#define FLEETSEC_TPM_H

#include "fleetsec/common.h"

/*
 * Name the TPM every TPM operation of this process uses: tcti
 * ("device:/dev/tpmrm0", "swtpm:host=...,port=..."; NULL or "": the TSS's
 * default), and the file holding the owner hierarchy's password (one line;
 * NULL or "": empty). The owner password authorizes defining and raising the
 * NV anti-rollback counter and evicting persistent keys; a production
 * device must have one, or anyone with root can delete and re-create the
 * counter. Process-wide; call before any TPM use. Errors: INVAL, NOTFOUND,
 * IO, PARSE (the file is not one line of 1 to 64 bytes).
 */
FSEC_API FSEC_WUR enum fsec_err fsec_tpm_configure(const char *tcti, const char *owner_auth_file);

#endif
