/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a network policy is compiled from besides its own file: the fleet's
 * devices, handed in by the caller (network/ never reads the registry), and
 * where the classes' MUD files and their signatures are found.
 */
#ifndef FLEETSEC_NETINPUT_H
#define FLEETSEC_NETINPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "fleetsec/common.h"
#include "fleetsec/netpolicy.h"
#include "fleetsec/states.h"

/* A device as the fleet knows it (the registry's device_net rows). */
struct fsec_netinput_device {
	const char *id;
	const char *model;  /* selects the class (a class name or one of its "models") */
	enum fsec_dev_status status; /* the registry's status */
	const char *mac;    /* NULL or "": none */
	const char *ip;     /* NULL or "": none */
	/* An active device that reported a tamper event through its current
	 * certificate (the registry's device_net.tampered): quarantined, as a
	 * revoked one is, until it is re-provisioned. */
	bool tampered;
};

/*
 * Add a fleet device to a policy before fsec_netpolicy_prepare. An active
 * device enters its model's class; a revoked or tampered one enters the quarantine class
 * (fleetsecd only, fsec_netpolicy_add_quarantined); one with any other
 * status is left out, so that its traffic meets the default deny. *added
 * (may be NULL) says whether it entered.
 * Errors: those of fsec_netpolicy_add_device.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netinput_add_device(struct fsec_netpolicy *p,
							 const struct fsec_netinput_device *d,
							 bool *added);

/*
 * Where the classes' MUD files are when no directory is given: beside the
 * policy file, i.e. its directory ("." for a bare file name). Written to out
 * (cap bytes). Errors: TOO_LARGE (out is then ""), NOMEM. Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netinput_mud_dir(const char *policy_path, char *out,
						      size_t cap);

/*
 * The detached signature of a MUD file (RFC 8520 section 13: it sits beside
 * the file): NAME.json becomes NAME.p7s, any other name gets ".p7s" added.
 * Written to out (cap bytes). Errors: TOO_LARGE (out is then ""). Thread-safe.
 */
FSEC_API FSEC_WUR enum fsec_err fsec_netinput_mud_sig_path(const char *mud_path, char *out,
							   size_t cap);

#endif
