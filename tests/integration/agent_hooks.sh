#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent through a whole update cycle with nobody at hand, against the
# real fleetsecd on a simulated A/B device (slot files, fleetsec-bootsim):
# - an enrollment held for the operator's approval (202) is a wait: the
#   agent says which key to approve (checked against openssl), honours
#   Retry-After and finishes once approved; SIGTERM ends the wait;
# - its reports say what is true: before the reboot, "installed" with the
#   old version running and the new one pending; after it, "trial";
# - the daemon runs reboot_cmd after an install and health_cmd after the
#   trial boot: a failing health check rejects the trial (reported
#   "failed", the rollout pauses) and reboots into the old slot; a passing
#   one confirms;
# - an outcome counts only against the release it is about: the device
#   that fell back from 2.0.0 says so every round, and that does not pause
#   3.0.0.
# The registry is read with sqlite3, not through fleetsec.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}" "${BOOTSIM:?}"
cd "$T"
F=$FLEETSEC

"$F" ca init --name "Hook Fleet" --crl-days 30 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
fleetsecd_bounds_off
fleetsecd_start --approval manual
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
for sn in SN-H1 SN-H2; do
	"$F" mfr issue $sn --dir mfr --key-out boot-$sn.key --out boot-$sn.pem 2>/dev/null
done
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-H*' --model thermo >/dev/null
device_slots
online_key
SEQ=10
publish() { # publish NAME: sign and publish NAME.img, pausing at the first failure
	SEQ=$((SEQ + 1))
	"$F" release create --model thermo --image "$1.img" --chunk-size 65536 --sequence $SEQ \
		--out "m-$1.json"
	"$F" release sign --key online.pem --delegation deleg.json "m-$1.json" --out "r-$1.json"
	expect 0 "$F" release publish --model thermo --bundle "r-$1.json" --image "$1.img" \
		--root root.pub --max-failures 1
}
sha() { sha256sum "$1" | cut -c1-64; }
sign_image v2 2.0.0 2
sign_image v3 3.0.0 3
mkdir state
A() { "$AGENT" -c agent.conf "$@"; }
# The agent's clock thirty times as fast (libfaketime scales its sleeps
# too), so that fleetsecd's one-minute Retry-After passes in two seconds.
FAST() { FT "+0 x30" "$AGENT" -c agent.conf "$@"; }
# state COLUMNS: the device's row in the registry, as sqlite3 reads it.
state() { sql "SELECT $1 FROM device_state" " "; }
# waitfor FILE TEXT PID: until FILE has TEXT, or PID is gone.
waitfor() {
	for _ in $(seq 300); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "$2" "$1" || fail "no '$2' in $1: $(cat "$1" "${1%.out}.err" 2>/dev/null)"
}

expect 0 A --version
grep -qx "fleetsec-agent [0-9]*\.[0-9]*\.[0-9]*" out || fail "--version: $(cat out)"
ok

# 1. Held for approval: the agent names the key, which is the pending key's
# SPKI SHA-256 as openssl computes it, and the operator approves that.
agent_conf "$URL" bootstrap_key="$T/boot-SN-H1.key" bootstrap_cert="$T/boot-SN-H1.pem"
FAST enroll >enroll.out 2>enroll.err &
epid=$!
waitfor enroll.err "waiting for the operator's approval of key SHA-256" $epid
key=$(sed -n 's/.*key SHA-256 \([0-9a-f]\{64\}\);.*/\1/p' enroll.err | head -1)
[ "$key" = "$(openssl pkey -in dev.key.pending -pubout -outform DER | sha256sum | cut -c1-64)" ] ||
	fail "the key named ($key) is not the pending key's"
expect 0 A status --json
jq -e --arg k "$key" '.enrolled == false and .pending_key_sha256 == $k' out >/dev/null ||
	fail "status while waiting: $(cat out)"
expect 0 "$F" enroll pending --json
[ "$(jq -r '.[0].key_sha256' out)" = "$key" ] || fail "fleetsecd waits for another key: $(cat out)"
expect 0 "$F" enroll approve SN-H1 --key "$key"
wait $epid || fail "enroll after approval: $(cat enroll.err)"
grep -q "enrolled as SN-H1" enroll.out || fail "enroll: $(cat enroll.out)"
key_of_cert dev.key dev.pem

# SIGTERM ends a wait: one line, exit 1, the pending key kept for later.
mkdir h2 && cp agent.conf h2/
sed -i "s|boot-SN-H1|boot-SN-H2|; s|$T/dev\.|$T/h2/dev.|; s|^state_dir = .*|state_dir = $T/h2/state|" \
	h2/agent.conf
mkdir h2/state
"$AGENT" -c h2/agent.conf enroll >h2.out 2>h2.err &
hpid=$!
waitfor h2.err "waiting for the operator's approval" $hpid
kill -TERM $hpid
st=0
wait $hpid || st=$?
[ "$st" = 1 ] && [ "$(grep -vc "waiting for the operator" h2.err)" = 1 ] &&
	grep -q "waits for the operator's approval" h2.err ||
	fail "SIGTERM while waiting: exit $st: $(cat h2.err)"
[ -e h2/dev.key.pending ] && [ ! -e h2/dev.pem ] || fail "the wait left the wrong files"
ok

# 2. The truth before and after the reboot.
publish v2
expect 0 A update
grep -q "installed into the inactive slot" out || fail "update: $(cat out)"
expect 0 A report
[ "$(state "fw_version, update_state, pending_version")" = "1.0.0+0 installed 2.0.0+0" ] ||
	fail "before the reboot the registry holds: $(state "fw_version, update_state, pending_version")"
expect 0 A status --json
jq -e '.update == "installed" and .running_slot == "a" and .running_version == "1.0.0+0"
	and .pending_version == "2.0.0+0"' out >/dev/null || fail "status before the reboot: $(cat out)"
"$BOOTSIM" bootenv | grep -q "booting slot b (trial boot)" || fail "bootsim did not try b"
expect 0 A report
[ "$(state "fw_version, update_state, pending_version")" = "2.0.0+0 trial " ] ||
	fail "in the trial the registry holds: $(state "fw_version, update_state, pending_version")"
ok

# 3. The daemon: health_cmd fails, the trial is rejected and reported, the
# rollout pauses, reboot_cmd boots the old slot.
echo "reboot_cmd = $BOOTSIM $T/bootenv" >>agent.conf
echo "health_cmd = test -e $T/healthy" >>agent.conf
"$AGENT" -c agent.conf daemon --interval 1 >d1.out 2>d1.err &
dpid=$!
waitfor d1.out "reboot_cmd ran" $dpid
kill -TERM $dpid
wait $dpid || true
grep -q "rejected the trial (health_cmd: it failed (exit status 1))" d1.out ||
	fail "daemon: $(cat d1.out d1.err)"
grep -q '^fsec_slot=a' bootenv && grep -q '^upgrade_available=0' bootenv ||
	fail "the rejected trial still boots: $(cat bootenv)"
[ "$(state "update_state, update_outcome, outcome_image")" = "failed failure $(sha v2.img)" ] ||
	fail "the rejection in the registry: $(state "update_state, update_outcome, outcome_image")"
expect 0 "$F" release status --json
jq -e '.[] | select(.model == "thermo") | .paused == true and .failed == 1' out >/dev/null ||
	fail "the rollout of 2.0.0 did not pause: $(cat out)"
ok

# 4. 3.0.0 is out. The device still says it fell back from 2.0.0 (image
# named), which must not pause 3.0.0; it installs 3.0.0, reboots, passes its
# health check and confirms, unattended.
publish v3
expect 0 A report
[ "$(state "update_state, outcome_image")" = "rolled_back $(sha v2.img)" ] ||
	fail "the fallback report: $(state "update_state, outcome_image")"
expect 0 "$F" release status --json
jq -e '.[] | select(.model == "thermo") | .paused == false and .failed == 0' out >/dev/null ||
	fail "2.0.0's failure counted against 3.0.0: $(cat out)"
touch healthy
"$AGENT" -c agent.conf daemon --interval 1 >d2.out 2>d2.err &
dpid=$!
waitfor d2.out "confirmed the trial" $dpid
kill -TERM $dpid
wait $dpid || true
expect 0 A status --json
jq -e '.update == "none" and .running_version == "3.0.0+0" and .trial == false' out >/dev/null ||
	fail "status after the confirm: $(cat out)"
[ "$(state "fw_version, update_state, update_outcome, outcome_image")" = \
	"3.0.0+0 confirmed success $(sha v3.img)" ] ||
	fail "the confirm in the registry: $(state "fw_version, update_state, update_outcome, outcome_image")"
expect 0 "$F" release status --json
jq -e '.[] | select(.model == "thermo") | .paused == false and .failed == 0 and .confirmed == 1' \
	out >/dev/null || fail "release status after the confirm: $(cat out)"
ok

# 5. Refusals of the configuration: health_timeout out of range.
cp agent.conf bad.conf
echo "health_timeout = 0" >>bad.conf
expect 1 "$AGENT" -c bad.conf status
one_line_error "health_timeout"
done_checks
