/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to registry/: the column lists both backends select (the SQL
 * that is the same on SQLite and PostgreSQL), so that a column added by a
 * schema step is added once for both readers.
 */
#ifndef FLEETSEC_REGISTRY_COLS_H
#define FLEETSEC_REGISTRY_COLS_H

/* A device (columns 0-10, the backends' device reader) and its state (11-27, NULL's
 * device_id when it never reported), from devices joined to device_state s. */
#define DEVICE_STATE_COLS                                                                   \
	DEVICE_COLS ", s.device_id, coalesce(s.first_seen,0), coalesce(s.last_seen,0),"            \
		    " coalesce(s.fw_version,''), coalesce(s.security_counter,0),"                    \
		    " coalesce(s.update_outcome,''), coalesce(s.update_at,0), coalesce(s.update_ok_at,0)," \
		    " coalesce(s.debug_jtag,''), coalesce(s.debug_uart,''), coalesce(s.debug_at,0),"      \
		    " coalesce(s.frozen,-1), coalesce(s.fresh_at,0), coalesce(s.update_state,''),"        \
		    " coalesce(s.pending_version,''), coalesce(s.outcome_image,''),"                   \
		    " coalesce(s.outcome_reason,'')"
#define DEVICE_COLS                                                                          \
	"id, model, status, coalesce(serial,''), coalesce(fingerprint,''), coalesce(spki_sha256,''), " \
	"coalesce(issued_at,0), coalesce(expires_at,0), provisioning, created_at, updated_at"
#define PENDING_COLS                                                                      \
	"device_id, bootstrap_fp, spki_sha256, model, requested_at, coalesce(approved_at, 0), " \
	"coalesce(approved_by, '')"

#define PRODUCT_COLS                                                                        \
	"model, manufacturer, support_until, security_contact, release_version, "             \
	"release_counter, release_at, updated_at"
#define PUB_ROLLOUT_COLS "state, phases, phase, phase_at, advance_after, success_pct, forgiven"
#define STATE_COLS                                                                          \
	"device_id, first_seen, last_seen, fw_version, security_counter, update_outcome, "     \
	"update_at, update_ok_at, debug_jtag, debug_uart, debug_at, frozen, fresh_at, "         \
	"update_state, pending_version, outcome_image, outcome_reason"

#endif
