#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Nothing lapses, the baseline included: while a candidate goes to a group,
# the devices outside it are served the baseline's manifest, which expires
# like any other. The audit sees it coming, fleetsecd (release_refresh =
# auto) and `release refresh` sign it again, and the sequence rule keeps
# the candidate's manifest above the baseline's, so that a device that took
# the refreshed baseline still takes the candidate when it joins the group.
# The real fleetsec-agent judges what fleetsecd serves; jq reads the
# manifests.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}" "${BOOTSIM:?}"
cd "$T"
F=$FLEETSEC

"$F" ca init --name "Baseline Fleet" --crl-days 60 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
fleetsecd_bounds_off
fleetsecd_start
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr issue SN-7 --dir mfr --key-out boot.key --out boot.pem 2>/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model thermo >/dev/null
device_slots # SN-7 runs v1.img (1.0.0)
online_key
sign_image v2 2.0.0 2
# release NAME SEQUENCE EXPIRES: the manifest of NAME.img, signed online.
release() {
	"$F" release create --model thermo --image "$1.img" --chunk-size 65536 --sequence "$2" \
		--expires "$3" --out "m$2.json"
	"$F" release sign --key online.pem --delegation deleg.json "m$2.json" --out "r$2.json"
}
agent_conf "$URL" bootstrap_key="$T/boot.key" bootstrap_cert="$T/boot.pem"
mkdir state
expect 0 "$AGENT" -c agent.conf enroll

# served [FT OFFSET]: the manifest fleetsecd serves SN-7 (curl is the
# client, jq reads the DSSE payload).
served() {
	curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert dev.pem --key dev.key \
		"$URL/v1/update" | jq '.manifest.payload | @base64d | fromjson'
}
refreshes() {
	"$F" registry events --json | jq -c '[.[] | select(.action == "refresh") | .detail |
		capture("model=thermo(?<b> baseline)? sequence=(?<s>[0-9]+) was=(?<w>[0-9]+)") |
		[(.b != null), (.s | tonumber), (.w | tonumber)]]'
}

# v1 to everyone, valid 10 days, at sequence 5; then v2 to the group canary
# only, valid 30 days, at sequence 6: v1 stays as the baseline, and SN-7
# (outside canary) is served it.
release v1 5 10d
expect 0 "$F" release publish --model thermo --bundle r5.json --image v1.img --root root.pub
release v2 6 30d
expect 0 "$F" release publish --model thermo --bundle r6.json --image v2.img --root root.pub \
	--group canary
grep -q "the others keep the baseline 1.0.0" out || fail "publish: $(cat out)"
[ "$(served | jq .sequence)" = 5 ] || fail "SN-7 is not served the baseline: $(served)"
expect 0 "$AGENT" -c agent.conf check --json
jq -e '.applies == false and .sequence == 5' out >/dev/null || fail "check: $(cat out)"
ok

# The audit, nine days on: the baseline's manifest expires within two days.
FT +9d "$F" audit fleet --json >out || true
jq -e '[.findings[] | select(.check == "FLEET-RELEASE-EXPIRING-SOON" and
	(.evidence | test("baseline release 1.0.0")))] | length == 1' out >/dev/null ||
	fail "the audit does not see the baseline expire: $(jq -c '.findings' out)"
ok

# fleetsecd with release_refresh = auto, six days on: the baseline has
# passed half of its validity, the candidate has not. The baseline's next
# sequence (6) would reach the candidate's, so the candidate goes to 7
# first, then the baseline to 6, each for as long again as it was valid.
kill "$FLEETSECD_PID"
wait "$FLEETSECD_PID" 2>/dev/null || true
mv daemon.log daemon1.log # fleetsecd_start waits for "listening" in a new one
printf 'release_refresh = auto\nrelease_key = %s\nrelease_delegation = %s\nrelease_root = %s\n' \
	"$T/online.pem" "$T/deleg.json" "$T/root.pub" >>"$FLEETSEC_HOME/fleetsecd.conf"
cat >fleetsecd-faked <<EOF
#!/bin/sh
export LD_PRELOAD=$FAKETIME_LIB FAKETIME=+6d
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
exec "$FLEETSECD" "\$@"
EOF
chmod +x fleetsecd-faked
REAL_FLEETSECD=$FLEETSECD
FLEETSECD=$T/fleetsecd-faked
fleetsecd_start
FLEETSECD=$REAL_FLEETSECD
agent_conf "$URL"
for _ in $(seq 300); do
	[ "$(served | jq .sequence)" = 6 ] && break
	sleep 0.1
done
served >base.json
[ "$(jq .sequence base.json)" = 6 ] || fail "the baseline was not refreshed: $(cat base.json)"
jq -e --slurpfile m m5.json '.releases == $m[0].releases' base.json >/dev/null ||
	fail "the refresh changed the baseline's releases"
exp=$(date -d "$(jq -r .expires base.json)" +%s)
want=$(($(date +%s) + 16 * 86400))
[ $((exp - want)) -le 600 ] && [ $((want - exp)) -le 600 ] ||
	fail "baseline expires $(jq -r .expires base.json), not ten days after the fake now"
[ "$(refreshes)" = '[[false,7,6],[true,6,5]]' ] ||
	fail "not the candidate to 7, then the baseline to 6: $(refreshes)"
ok

# Twelve days on, past the baseline's first expiry: SN-7 takes the
# refreshed baseline (nothing to install), and the audit is quiet about it.
expect 0 FT +12d "$AGENT" -c agent.conf check --json
jq -e '.applies == false and .sequence == 6' out >/dev/null || fail "check at +12d: $(cat out)"
FT +12d "$F" audit fleet --json >audit.json || true
jq -e '[.findings[] | select(.check | test("^FLEET-RELEASE-EXPIR"))] | length == 0' audit.json \
	>/dev/null || fail "the audit still flags a manifest: $(jq -c '.findings' audit.json)"
ok

# SN-7 joins the group: the candidate's manifest, 7, is above the baseline's
# 6 it holds, and it takes the update.
"$F" device set SN-7 --group canary >/dev/null
expect 0 FT +12d "$AGENT" -c agent.conf check --json
jq -e '.applies == true and .sequence == 7 and (.version | startswith("2.0.0"))' out >/dev/null ||
	fail "the candidate after the refreshed baseline: $(cat out) $(cat err)"
"$F" device set SN-7 --group '' >/dev/null
ok

# release refresh signs both, the candidate first: 7 -> 8, then the
# baseline 6 -> 7, one line each, or one JSON object with the baseline's.
expect 0 FT +13d "$F" release refresh --model thermo --key online.pem --delegation deleg.json \
	--root root.pub --expires 30d
[ "$(wc -l <out)" = 2 ] && grep -q "^thermo: manifest 8 (was 7) of 2.0.0[+0-9]* signed until" out &&
	grep -q "^thermo: baseline manifest 7 (was 6) of 1.0.0[+0-9]* signed until" out ||
	fail "release refresh: $(cat out)"
expect 0 FT +13d "$F" release refresh --model thermo --key online.pem --delegation deleg.json \
	--root root.pub --expires 30d --json
jq -e '.sequence == 9 and (.version | startswith("2.0.0")) and .baseline.sequence == 8 and
	(.baseline.version | startswith("1.0.0")) and .baseline.previous_sequence == 7' out >/dev/null ||
	fail "release refresh --json: $(cat out)"
ok

# A model with no baseline: the JSON says so.
"$F" release create --model other --image v1.img --chunk-size 65536 --sequence 3 --expires 10d \
	--out o.json
"$F" release sign --key online.pem --delegation deleg.json o.json --out ro.json
expect 0 "$F" release publish --model other --bundle ro.json --image v1.img --root root.pub
expect 0 "$F" release refresh --model other --key online.pem --delegation deleg.json \
	--root root.pub --json
jq -e '.sequence == 4 and .baseline == null' out >/dev/null || fail "no baseline: $(cat out)"
ok

done_checks
