#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `fleetsec-agent daemon --once`: one full round (renew when due, trust,
# settle a trial, update, report, reboot_cmd), then exit with the round's
# status, against the real fleetsecd on a simulated A/B device:
# - a round that installs exits 0 without sleeping out its interval, having
#   run reboot_cmd (fleetsec-bootsim); the next round confirms the trial and
#   reports the new version (the registry says so);
# - a round whose steps fail (fleetsecd gone) exits 1, each failure on one
#   line;
# - --once with any other command is a usage error (exit 2), nothing run.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}" "${BOOTSIM:?}"
cd "$T"
F=$FLEETSEC

"$F" ca init --name "Once Fleet" --crl-days 30 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
fleetsecd_bounds_off
fleetsecd_start
"$F" device issue SN-O1 --keygen --key-out dev.key --out dev.pem --model thermo >/dev/null 2>&1
device_slots
online_key
sign_image v2 2.0.0 2
"$F" release create --model thermo --image v2.img --chunk-size 65536 --sequence 2 --out m.json
"$F" release sign --key online.pem --delegation deleg.json m.json --out r.json
"$F" release publish --model thermo --bundle r.json --image v2.img --root root.pub >/dev/null
agent_conf "$URL" reboot_cmd="$BOOTSIM $T/bootenv"
mkdir state
version() { "$F" device show SN-O1 --json | jq -r '.state.fw_version // .fw_version // empty'; }

# An interval of a week: only --once makes this return.
expect 0 timeout 60 "$AGENT" -c agent.conf daemon --once --interval 604800
grep -q "installed into the inactive slot" out && grep -q "reboot_cmd ran" out ||
	fail "the first round: $(cat out) $(cat err)"
grep -q '^bootcount=1' bootenv || fail "reboot_cmd did not boot the trial: $(cat bootenv)"
expect 0 timeout 60 "$AGENT" -c agent.conf daemon --once --interval 604800
grep -q "confirmed the trial" out || fail "the second round: $(cat out) $(cat err)"
expect 0 "$F" device show SN-O1 --json
jq -e '[.. | strings | select(startswith("2.0.0"))] | length > 0' out >/dev/null ||
	fail "the registry does not hold 2.0.0 after the round's report: $(cat out)"

# fleetsecd gone: the round's steps fail, and so does the round.
kill "$FLEETSECD_PID"
wait "$FLEETSECD_PID" 2>/dev/null || true
expect 1 timeout 60 "$AGENT" -c agent.conf daemon --once
grep -q "^fleetsec-agent: update: " err && grep -q "^fleetsec-agent: report: " err ||
	fail "the failed round's lines: $(cat err)"

# --once belongs to daemon only.
for cmd in report update check; do
	expect 2 "$AGENT" -c agent.conf "$cmd" --once
	one_line_error "--once: only for daemon"
done
done_checks
