/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keeping a loaded `table inet fleetsec` in step with the fleet without
 * reloading it (fleetsec net sync). The ruleset compiled from a policy
 * (netpolicy.h) maps each device's MAC and IP to its class mark in five
 * device maps; a sync computes which elements those maps should hold (the
 * policy's devices plus the registry's: active ones in their class, revoked
 * ones in the quarantine class), compares them with what the kernel holds
 * (read from `nft -j list table inet fleetsec`, so a restarted sync is
 * correct), and writes one nft batch of `delete element` / `add element`
 * lines that makes the kernel's maps equal. Nothing here runs nft: the
 * caller feeds the listing in and applies the batch with `nft -f -`.
 *
 * Use: new (from the prepared policy, with the registry's devices added),
 * load (the listing), diff, run the batch, applied. Then, to follow the
 * registry, device (for each device an event names), diff, run, applied.
 * Not thread-safe.
 */
#ifndef FLEETSEC_NETSYNC_H
#define FLEETSEC_NETSYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "fleetsec/common.h"
#include "fleetsec/netinput.h"
#include "fleetsec/netpolicy.h"

/* Largest `nft -j list table` output accepted: a million devices. */
#define FSEC_NETSYNC_LISTING_MAX (1024u * 1024u * 1024u)

struct fsec_netsync;

/* What a diff changes: map elements deleted and added (an element whose
 * class changes counts in both), and the devices the desired state holds. */
struct fsec_netsync_stats {
	size_t deleted, added, devices, quarantined;
};

/*
 * The desired device elements of a prepared policy p (its devices, and the
 * registry's if the caller added them). p is borrowed and must outlive the
 * sync. Errors: INVAL (p not prepared), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netsync_new(const struct fsec_netpolicy *p,
						 struct fsec_netsync **out);

/* Free a sync. NULL is a no-op. */
FSEC_API void fsec_netsync_free(struct fsec_netsync *s);

/*
 * Read what the kernel holds: json is the output of `nft -j list table inet
 * fleetsec` (len bytes, at most FSEC_NETSYNC_LISTING_MAX). The loaded
 * table's class legend (set "classes") must name the policy's classes with
 * the same marks, or the marks would mean other classes. Errors: PARSE (not
 * nft's JSON), TOO_LARGE, INVAL (a device map is missing: the table was not
 * compiled by this version; or the classes differ, naming the first
 * difference), NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netsync_load(struct fsec_netsync *s, const char *json,
						  size_t len);

/*
 * Replace what the desired state holds for one registry device, as the
 * registry now says (fsec_netinput_add_device's rules: active: its model's
 * class; revoked: quarantine; anything else, an unknown model, or neither
 * MAC nor IP: no elements). d->id names the device; gone = true removes it
 * (the registry has no address for it). Errors: PARSE (bad MAC or IP),
 * NOMEM.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netsync_device(struct fsec_netsync *s,
						    const struct fsec_netinput_device *d, bool gone);

/*
 * The nft batch (one transaction for `nft -f -`) that brings the kernel's
 * device maps from what load() read, as updated by applied(), to the desired
 * state: "" when they are equal. *script is NUL-terminated and owned by the
 * caller; *st (may be NULL) counts the changes. Errors: INVAL (load() not
 * called), NOMEM, TOO_LARGE.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netsync_diff(struct fsec_netsync *s, char **script,
						  size_t *len, struct fsec_netsync_stats *st);

/* The last diff's batch was applied: the kernel now holds the desired
 * state. */
FSEC_API void fsec_netsync_applied(struct fsec_netsync *s);

#endif
