#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every enrollment refusal is visible in `fleetsec events` (issue 13),
# through the real fleetsecd with curl as the client, without a flood
# growing the log: a chip of an allowed manufacturer that is not on the
# allowlist asks 20 times; the log gains one enroll-refused event, and
# `fleetsec events` (text and --json) shows the 19 repeats as one line with
# the count, which the filters keep or drop like the event. `events
# --follow --json`, started before, prints the event and then the count
# each time it grew, up to the last. The log is also read with sqlite3.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}"
cd "$T"
F=$FLEETSEC
db() { sql "$1"; }

"$F" ca init --name "Refusal Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr issue SN-X9 --dir mfr --key-out boot.key --out boot.pem 2>/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-G*' --model thermo >/dev/null
# Every refusal written at once (no per-source budget holding some back).
fleetsecd_bounds_off
fleetsecd_start --quiet
EST=$URL/.well-known/est
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout x9.key \
	-subj /CN=SN-X9 -outform DER 2>/dev/null | openssl base64 >x9.b64
refuse() { # refuse N: N refused enrollments of SN-X9, each a 403 with its reason
	local code
	for _ in $(seq "$1"); do
		code=$(curl -sS --max-time 20 --cacert "$FLEETSEC_HOME/root.pem" --cert boot.pem \
			--key boot.key --data-binary @x9.b64 -o resp -w '%{http_code}' "$EST/simpleenroll")
		[ "$code" = 403 ] && grep -q "not on the enrollment allowlist" resp ||
			fail "SN-X9: HTTP $code: $(cat resp)"
	done
}

"$F" events --follow --json >follow.out 2>follow.err &
FOLLOW_PID=$!
trap 'kill $FOLLOW_PID $FLEETSECD_PID 2>/dev/null || true; rm -rf "$T"' EXIT
before=$(db "SELECT count(*) FROM events")
refuse 1
# The follower prints the first refusal as the event it is.
for _ in $(seq 100); do
	grep -q '"enroll-refused"' follow.out && break
	sleep 0.1
done
jq -se 'map(select(.kind == "enroll-refused")) | length == 1 and .[0].seq != null' follow.out \
	>/dev/null || fail "follow, the first refusal: $(cat follow.out)"
refuse 19

# 1. The log gained one event for 20 refusals.
[ "$(db "SELECT count(*) FROM events")" = $((before + 1)) ] ||
	fail "20 refusals wrote $(($(db "SELECT count(*) FROM events") - before)) events"
[ "$(db "SELECT count(*) FROM events WHERE action = 'enroll-refused'")" = 1 ] ||
	fail "not one enroll-refused event"
ok

# 2. fleetsec events shows them all: the event, then the repeats' line.
expect 0 "$F" events --kind enroll-refused --json
jq -e 'length == 2 and (.[0] | .seq != null and .device == "SN-X9")
	and (.[1] | .seq == null and .kind == "enroll-refused" and .action == "enroll-refused"
		and .device == "SN-X9" and .actor == "fleetsecd" and .count == 20
		and .source == "127.0.0.1" and (.first | test("Z$")) and .last == .at
		and (.credential | test("^[0-9a-f]{64}$"))
		and (.detail | contains("SN-X9 is not on the enrollment allowlist")))' out \
	>/dev/null || fail "events --json: $(cat out)"
[ "$(jq -r '.[1].count' out)" = "$(db "SELECT count FROM refusals")" ] ||
	fail "the count shown is not the registry's"
expect 0 "$F" events
grep -q "^- .*enroll-refused .*SN-X9 .*fleetsecd .*not on the enrollment allowlist.*(x20 since .*, last from 127.0.0.1)$" out ||
	fail "events text: $(cat out)"
[ "$(grep -c enroll-refused out)" = 2 ] || fail "events text, enroll-refused lines: $(cat out)"
# The filters treat the line as the event: --kind, --since (SN-X9 is no
# device of the registry, so --device refuses it, as before).
expect 0 "$F" events --kind issue --json
[ "$(jq length out)" = 0 ] || fail "--kind issue shows refusals: $(cat out)"
expect 0 "$F" events --since 2099-01-01T00:00:00Z --json
[ "$(jq length out)" = 0 ] || fail "--since the future shows refusals: $(cat out)"
ok

# 3. The follower printed the count as it grew, up to 20, in order.
for _ in $(seq 100); do
	jq -se 'any(.count == 20)' follow.out >/dev/null 2>&1 && break
	sleep 0.1
done
jq -se '[.[] | select(.seq == null) | .count] as $c
	| ($c | length) >= 1 and $c[-1] == 20 and $c == ($c | sort) and all($c[]; . >= 2)' \
	follow.out >/dev/null || fail "follow, the growth: $(cat follow.out)"
n=$(jq -s '[.[] | select(.seq == null)] | length' follow.out)
refuse 1
for _ in $(seq 100); do
	jq -se 'any(.count == 21)' follow.out >/dev/null 2>&1 && break
	sleep 0.1
done
jq -se '[.[] | select(.seq == null)] | length == '$((n + 1))' and .[-1].count == 21' follow.out \
	>/dev/null || fail "follow, one more refusal: $(cat follow.out)"
kill -TERM $FOLLOW_PID
st=0
wait $FOLLOW_PID || st=$?
[ "$st" = 0 ] && [ ! -s follow.err ] || fail "events --follow: status $st, $(cat follow.err)"
ok
