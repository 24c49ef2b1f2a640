/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tamper response: what a case-open switch or tamper GPIO handler runs. It
 * destroys the device's secrets and leaves a record, so that the device
 * cannot authenticate again until it is re-provisioned.
 *
 * What a wipe guarantees, per kind of key:
 *  - a key file: overwritten in place with zeros, fsync'd, unlinked. On
 *    flash behind a translation layer or a journaling or copy-on-write file
 *    system, older copies of the blocks may survive below the file system:
 *    the guarantee is that no file and no reachable copy remains, not that
 *    the cells are erased.
 *  - a TPM persistent key (handle:0x81...): evicted; the TPM no longer holds
 *    it. A wrapped copy of its private part kept when it was made would load
 *    again in the same TPM.
 *  - a TPM key blob (TSS2 PRIVATE KEY): the file is wiped as above. A blob
 *    copied before the wipe still loads in the same TPM; only TPM2_Clear
 *    would stop that, and it would also erase the anti-rollback counter.
 *    Revoking the device in the registry is the fleet-side answer.
 */
#ifndef FLEETSEC_TAMPER_H
#define FLEETSEC_TAMPER_H

#include "fleetsec/common.h"

#define FSEC_TAMPER_ITEMS 8
/* The longest path or key URI a wipe takes (the agent's configuration
 * values are no longer). */
#define FSEC_TAMPER_PATH_MAX 1024

/* What a wipe destroys and where it records it: the agent fills it from its
 * configuration. Borrowed strings; NULL or "" means none, except state_dir,
 * which is required. */
struct fsec_tamper_cfg {
	const char *state_dir;     /* the record: STATE_DIR/tamper.json */
	const char *key;           /* the device key: a path, file:PATH or handle:0x81... */
	const char *bootstrap_key; /* the factory credential's key, the same forms */
	const char *cert;          /* the device certificate (a path) */
	/* How this run's report to fleetsecd went ("sent", "failed", "not
	 * sent") and why, for the record; NULL: this run made none, and the
	 * record keeps what an earlier run said. */
	const char *report;
	const char *report_detail;
	/* The outcome stands only if no earlier run recorded one: a run with
	 * no key left to sign with says "not sent", but a first run's "sent"
	 * is the truth. */
	bool report_unless_earlier;
};

#define FSEC_TAMPER_DETAIL_MAX 256

struct fsec_tamper_result {
	unsigned nwiped;                               /* secrets destroyed */
	unsigned nearlier;                             /* ... of them by an earlier run */
	char wiped[FSEC_TAMPER_ITEMS][FSEC_TAMPER_PATH_MAX + 16];
	char record[FSEC_TAMPER_PATH_MAX + 32];        /* where the event is recorded */
	char report[16];                               /* as recorded; "" if never tried */
	char report_detail[FSEC_TAMPER_DETAIL_MAX];
};

/*
 * Wipe the device key (and its pending renewal key), the bootstrap key, and
 * the device certificate, and record the event in STATE_DIR/tamper.json,
 * first as begun and then as done (or incomplete): a power cut in between
 * leaves the device marked, and fsec_tamper_finish runs it again. Items
 * already gone are not errors; a record that cannot be written does not stop
 * the wipe. The record also keeps cfg's report outcome (or an earlier
 * run's, when cfg has none), and out says which. Errors: IO, INVAL (a key URI this cannot wipe, or a path longer
 * than FSEC_TAMPER_PATH_MAX; the rest is still wiped). out is filled either
 * way, with what was wiped.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_tamper_wipe(const struct fsec_tamper_cfg *cfg,
						 struct fsec_tamper_result *out) FSEC_NONNULL(1, 2);

/* Record the event as begun (keeping an earlier run's time and outcome),
 * and destroy nothing yet: what the tamper hook does first, so that a power
 * cut during its report to the server still leaves a device that refuses
 * to run and finishes the wipe at its next start. Errors: IO, INVAL. */
FSEC_API FSEC_WUR enum fsec_err fsec_tamper_mark(const struct fsec_tamper_cfg *cfg)
	FSEC_NONNULL(1);

/* FSEC_OK when no tamper event is recorded in state_dir; POLICY (saying
 * when, and how to recover) when one is. */
FSEC_API FSEC_WUR enum fsec_err fsec_tamper_check(const char *state_dir) FSEC_NONNULL(1);

/* If a recorded wipe did not finish (a power cut, a file it could not
 * wipe), run it again; FSEC_OK when there is nothing left to do. The agent
 * calls this first thing. Errors: as fsec_tamper_wipe. */
FSEC_API FSEC_WUR enum fsec_err fsec_tamper_finish(const struct fsec_tamper_cfg *cfg)
	FSEC_NONNULL(1);

/* Remove the record, once the device has a new identity; refused (POLICY)
 * while the recorded wipe is unfinished. Errors: POLICY, IO. */
FSEC_API FSEC_WUR enum fsec_err fsec_tamper_clear(const char *state_dir) FSEC_NONNULL(1);

#endif
