# SPDX-License-Identifier: Apache-2.0
# Start fleetsecd (FLEETSECD) on a free loopback port for the test's home,
# after lib.sh: sets PORT, URL and FLEETSECD_PID, logs to $T/daemon.log, and
# stops it when the test exits. Fails the test if it does not come up.
fleetsecd_start() {
	local try
	for try in 1 2 3 4 5; do
		PORT=$(rand_port)
		"$FLEETSECD" --listen 127.0.0.1:$PORT "$@" 2>"$T/daemon.log" &
		FLEETSECD_PID=$!
		# Waited for: a fleetsecd still signing a CRL into the home as
		# it stops would make rm -rf find the directory not empty.
		# Under set -e, a non-zero wait (fleetsecd's exit status) must
		# not end the trap before the home is removed.
		trap '{ kill $FLEETSECD_PID 2>/dev/null && wait $FLEETSECD_PID 2>/dev/null; } || true; rm -rf "$T"' EXIT
		for _ in $(seq 50); do
			grep -q listening "$T/daemon.log" && break
			kill -0 $FLEETSECD_PID 2>/dev/null || break
			sleep 0.1
		done
		grep -q listening "$T/daemon.log" && break
		wait $FLEETSECD_PID 2>/dev/null || true
	done
	grep -q listening "$T/daemon.log" || fail "fleetsecd did not start: $(cat "$T/daemon.log")"
	URL=https://127.0.0.1:$PORT
}

# fleetsecd_reload: SIGHUP the fleetsecd of fleetsecd_start and wait until
# it says it reloaded (run from $T, where daemon.log is).
fleetsecd_reload() {
	local n
	n=$(grep -c reloaded "$T/daemon.log" || true)
	kill -HUP "$FLEETSECD_PID"
	for _ in $(seq 100); do
		[ "$(grep -c reloaded "$T/daemon.log" || true)" -gt "$n" ] && return 0
		sleep 0.1
	done
	fail "no reload: $(tail -3 "$T/daemon.log")"
}

# fleetsecd_bounds_off [HOME]: the test renews certificates it issued a
# moment ago and counts every refusal: fleetsecd's bounds
# (fleetsecd_growth.sh tests them) step aside. Before fleetsecd_start.
fleetsecd_bounds_off() {
	printf 'renew_after_percent = 0\nrenewals_per_day = 1000\nrefusals_per_minute = 100000\n' \
		>>"${1:-$FLEETSEC_HOME}/fleetsecd.conf"
}
