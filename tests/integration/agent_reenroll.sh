#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A device whose certificate expired while it was off: its certificate opens
# no TLS session, so `fleetsec-agent renew` (and the daemon's round) re-enrols
# it once with the bootstrap credential, through the real fleetsecd. Without
# that credential it fails naming the date; a second lapse is refused (the
# credential is spent); and `fleetsec audit fleet` names each device that came
# back this way. Every process here (fleetsecd, the CLI, the agents, openssl)
# runs under one libfaketime clock, which the test moves by rewriting a file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
cd "$T"
F=$FLEETSEC
DAY=86400

[ -r "$FAKETIME_LIB" ] || fail "libfaketime is missing (Debian package faketime; scripts/deps.sh)"
echo "+0" >faketime
export LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=$T/faketime FAKETIME_NO_CACHE=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
# days N: the shared clock N days ahead of the real one.
days() { echo "+$(($1 * DAY))" >faketime; }

# Device certificates live one day, so that two days on they have expired.
"$F" ca init --name "Sleepy Fleet" --device-days 1 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
for sn in SN-S1 SN-S2 SN-S3; do
	"$F" mfr issue $sn --dir mfr --key-out boot-$sn.key --out boot-$sn.pem 2>/dev/null
done
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-S*' --model thermo >/dev/null
device_slots
fleetsecd_bounds_off
fleetsecd_start

# conf SN [noboot]: SN's agent configuration (its own files and state),
# with its bootstrap credential unless noboot.
conf() {
	local sn=$1 boot=(bootstrap_key="$T/boot-$1.key" bootstrap_cert="$T/boot-$1.pem")
	[ "${2:-}" != noboot ] || boot=()
	mkdir -p "st-$sn"
	agent_conf "$URL" key="$T/$sn.key" cert="$T/$sn.pem" state_dir="$T/st-$sn" "${boot[@]}"
	mv agent.conf "$sn.conf"
}
A() { local sn=$1; shift; "$AGENT" -c "$sn.conf" "$@"; }
# verifies CERT: openssl, at the shared clock, accepts CERT under the root.
verifies() {
	openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
		-untrusted "$FLEETSEC_HOME/issuing.pem" "$1" >/dev/null || fail "$1 does not verify"
	[ "$(certid "$1")" = "$(current "${1%.pem}")" ] || fail "$1 is not the current certificate"
	ok
}

for sn in SN-S1 SN-S2; do
	conf $sn
	expect 0 A $sn enroll
	verifies $sn.pem
done
first=$(certid SN-S1.pem)

# Two days on, both certificates have expired.
days 2
openssl x509 -in SN-S1.pem -noout -checkend 0 >/dev/null && fail "SN-S1.pem has not expired"
ok

# 1. No bootstrap credential: one line naming the date, nothing changed.
conf SN-S1 noboot
cp SN-S1.pem before.pem
expect 1 A SN-S1 renew
one_line_error "certificate expired $(date -u -d "$(openssl x509 -in SN-S1.pem -noout -enddate |
	cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)"
grep -q "only the bootstrap credential can re-enrol it" err || fail "renew: $(cat err)"
cmp -s SN-S1.pem before.pem || fail "a refused renewal changed the certificate"
ok

# 2. With it, `renew` re-enrols: a new certificate for a new key, the same
# device, which then reports as usual.
conf SN-S1
expect 0 A SN-S1 renew
grep -q "re-enrolled SN-S1 with its bootstrap credential" out || fail "renew: $(cat out)"
verifies SN-S1.pem
key_of_cert SN-S1.key SN-S1.pem
[ "$(certid SN-S1.pem)" != "$first" ] || fail "re-enrollment kept the old certificate"
[ ! -e SN-S1.key.pending ] || fail "a pending key was left behind"
expect 0 A SN-S1 report
grep -q "reported to the server" out || fail "report after re-enrollment: $(cat out)"
ok

# 3. The daemon's round does the same, unattended.
"$AGENT" -c SN-S2.conf daemon --interval 3600 >daemon-S2.out 2>daemon-S2.err &
dpid=$!
for _ in $(seq 300); do
	grep -q "re-enrolled SN-S2" daemon-S2.out && break
	kill -0 $dpid 2>/dev/null || break
	sleep 0.1
done
kill $dpid 2>/dev/null || true
wait $dpid 2>/dev/null || true
grep -q "re-enrolled SN-S2 with its bootstrap credential" daemon-S2.out ||
	fail "the daemon did not re-enrol: $(cat daemon-S2.out daemon-S2.err)"
verifies SN-S2.pem

# 4. The audit names both, and not a device that never lapsed.
conf SN-S3
expect 0 A SN-S3 enroll
expect 0 "$F" audit fleet --json --out fleet.json
for sn in SN-S1 SN-S2; do
	jq -e --arg s $sn '.findings | any(.check == "FLEET-REENROLLED" and .subject == $s)' \
		fleet.json >/dev/null || fail "FLEET-REENROLLED not reported for $sn"
	ok
done
jq -e '.findings | any(.check == "FLEET-REENROLLED" and .subject == "SN-S3") | not' fleet.json \
	>/dev/null || fail "FLEET-REENROLLED wrongly reported for SN-S3"
ok

# 5. A second lapse: the bootstrap credential is spent, and the server's
# reason reaches the operator.
days 4
cp SN-S1.pem before.pem
expect 1 A SN-S1 renew
one_line_error "already used to re-enroll"
cmp -s SN-S1.pem before.pem || fail "a refused re-enrollment changed the certificate"
ok
done_checks
