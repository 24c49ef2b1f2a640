#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGKILL during an enrollment load leaves the registry consistent: every
# certificate a device received is in the registry with its device row, no
# serial appears twice, no certificate or device row is orphaned, every
# enrolled device spent exactly one bootstrap credential, and the registry
# backend's own integrity check (SQLite's) passes. Every fact is read through
# the CLI, so the test holds for any backend. Then a restarted fleetsecd serves the devices
# whose requests were cut.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}"
cd "$T"
F=$FLEETSEC
N=${KILL_DEVICES:-40}

"$F" ca init --name "Kill Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'K-*' --model thermo >/dev/null
for i in $(seq "$N"); do
	"$F" mfr issue "K-$i" --dir mfr --key-out "b$i.key" --out "b$i.pem" 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "o$i.key" \
		-subj "/CN=K-$i" -outform DER 2>/dev/null | openssl base64 >"c$i.b64"
done
fleetsecd_start --quiet

enroll() { # enroll I: one device's enrollment; its status in s$I, its answer in r$I
	curl -sS --max-time 20 --cacert "$FLEETSEC_HOME/root.pem" --cert "b$1.pem" --key "b$1.key" \
		-H 'Content-Type: application/pkcs10' --data-binary @"c$1.b64" -o "r$1" \
		-w '%{http_code}' "$URL/.well-known/est/simpleenroll" >"s$1" 2>/dev/null || true
}
# Three devices first, answered before the load starts; then the rest at
# once, and the kill lands while they are in flight (polling for answers
# lost the race on a loaded machine: all 40 could be done by then).
pids=()
for i in 1 2 3; do
	enroll "$i" &
	pids+=($!)
done
wait "${pids[@]}" 2>/dev/null || true
for i in $(seq 4 "$N"); do
	enroll "$i" &
	pids+=($!)
done
# ...once the first of them has been answered, so that the server is
# in the middle of issuing.
for _ in $(seq 500); do
	[ "$(grep -l '^200$' s* 2>/dev/null | wc -l)" -ge 4 ] && break
	sleep 0.01
done
kill -KILL "$FLEETSECD_PID"
wait "${pids[@]}" 2>/dev/null || true
answered=$(grep -l '^200$' s* 2>/dev/null | wc -l)
echo "fleetsecd killed with $answered of $N enrollments answered"
[ "$answered" -ge 3 ] && [ "$answered" -lt "$N" ] || fail "the kill did not land mid-load ($answered of $N)"
ok

# The integrity and foreign-key checks: orphaned rows are problems.
expect 0 "$F" registry check --json
jq -e '.ok == true and (.problems | length == 0)' "$T/out" >/dev/null ||
	fail "registry check: $(cat "$T/out")"
"$F" device list --json >devices.json
"$F" registry certs --json >certs.json
[ "$(jq -n --slurpfile d devices.json --slurpfile c certs.json \
	'[$d[0][].serial] - [$c[0][].serial] | length')" = 0 ] ||
	fail "a device row without its certificate"
[ "$(jq length devices.json)" = "$(reg '[.[] | select(.use == "enroll")] | length' enroll spent)" ] ||
	fail "devices and spent bootstrap credentials disagree"
[ "$(jq '[.[].serial] | length - (unique | length)' certs.json)" = 0 ] || fail "duplicate serials"
ok
for i in $(seq "$N"); do
	grep -q '^200$' "s$i" || continue
	serial=$(openssl base64 -d -in "r$i" | openssl pkcs7 -inform DER -print_certs |
		openssl x509 -noout -serial | cut -d= -f2)
	[ "$(jq -r --arg s "$serial" '.[] | select(.serial == $s) | .device_id' certs.json)" = "K-$i" ] ||
		fail "device K-$i holds certificate $serial, which the registry does not have"
done
ok

# A restarted server answers every device whose request was cut, retrying
# with the same CSR: enrolled now, or, if its enrollment had committed and
# only the answer was lost, its certificate sent again. No device is
# stranded with a spent bootstrap credential and no certificate.
fleetsecd_start --quiet
serial_of() { reg ".[] | select(.id == \"$1\") | .serial" device list; }
resent=0
for i in $(seq "$N"); do
	grep -q '^200$' "s$i" && continue
	before=$(serial_of "K-$i")
	enroll "$i"
	[ "$(cat "s$i")" = 200 ] || fail "K-$i after the restart: HTTP $(cat "s$i"): $(cat "r$i")"
	serial=$(openssl base64 -d -in "r$i" | openssl pkcs7 -inform DER -print_certs |
		openssl x509 -noout -serial | cut -d= -f2)
	[ "$serial" = "$(serial_of "K-$i")" ] ||
		fail "K-$i got a certificate that is not its current one"
	if [ -n "$before" ]; then
		[ "$serial" = "$before" ] || fail "K-$i was issued twice"
		resent=$((resent + 1))
	fi
done
echo "after the restart: $resent answers re-sent, the rest enrolled"
[ "$(reg length device list)" = "$N" ] || fail "not every device is enrolled after the restart"
ok
done_checks
