/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: the TPM 2.0 besides its keys (tpm.c): NV counter, eviction. */
#ifndef FLEETSEC_TPM_INT_H
#define FLEETSEC_TPM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "fleetsec/common.h"

/* The TCTI every TPM operation uses from now on ("device:/dev/tpmrm0",
 * "swtpm:host=...,port=..."); NULL or "": the TSS's default. Process-wide.
 * Errors: INVAL (too long). */
enum fsec_err fsec_tpm_set_tcti(const char *tcti);

/* Whether the configured TPM answers: FSEC_OK, or IO saying why not. */
enum fsec_err fsec_tpm_probe(void);

/* The owner password fsec_tpm_configure read, as a C string ("" if none).
 * The tpm2 provider needs it to re-create the primary key that wraps
 * device keys. */
const char *fsec_tpm_owner_auth(void);

/* A TPM handle as written in configurations: "0x" and 1 to 8 hex digits. */
bool fsec_tpm_parse_handle(const char *s, uint32_t *out);

/* The anti-rollback counter kept in NV indices index and index + 1 (tpm.c
 * says how). A counter never raised reads as 0. Errors: INVAL (index),
 * IO (TPM), PARSE (damaged), POLICY (not a counter index). */
enum fsec_err fsec_tpm_counter_read(uint32_t index, uint32_t *value);

/* Raise it to value: POLICY if that is lower than now, or more than 65536
 * steps up; a power cut leaves it between the old and the new value. */
enum fsec_err fsec_tpm_counter_raise(uint32_t index, uint32_t value);

/* Evict the persistent object at handle (0x81xxxxxx), if it is there;
 * *evicted says whether it was. Errors: INVAL, IO. */
enum fsec_err fsec_tpm_evict(uint32_t handle, bool *evicted);

#endif
