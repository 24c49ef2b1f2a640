/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: MCUboot images in a firmware slot (slot/slot_int.h). The device
 * verifies what it installed, and what it runs, where the bootloader will
 * read it: through the slot layer, never by reading the file or device
 * itself. The rules are those of fsec_fw_inspect and fsec_fw_verify
 * (fwimage.h); each byte of the image is read from the slot once.
 */
#ifndef FLEETSEC_FWIMAGE_INT_H
#define FLEETSEC_FWIMAGE_INT_H

#include <stdint.h>

#include <openssl/evp.h>

#include "fleetsec/fwimage.h"

struct fsec_slot;

/*
 * fsec_fw_inspect on the first len bytes of the slot (len 0 is no image).
 * len may be less than the slot's size; what follows is not looked at.
 * *out is written only on success. Errors: PARSE (malformed, or len larger
 * than the slot: "truncated"), TOO_LARGE, IO, NOMEM.
 */
FSEC_WUR enum fsec_err fsec_fw_inspect_slot(struct fsec_slot *slot, uint64_t len,
					    struct fsec_fw_info *out);

/*
 * fsec_fw_verify on the first len bytes of the slot against pub: structure,
 * hash, signature, and nothing but 0xff and the boot trailer between the
 * TLVs and len. *out is written only on success. Errors: as fsec_fw_verify
 * (WRONG_KEY when no signature names pub, so that a caller holding several
 * pinned keys tries the next), and PARSE when len is larger than the slot.
 */
FSEC_WUR enum fsec_err fsec_fw_verify_slot(struct fsec_slot *slot, uint64_t len, EVP_PKEY *pub,
					   struct fsec_fw_info *out);

#endif
