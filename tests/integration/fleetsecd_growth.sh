#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What one credential can make fleetsecd write (issue 14), through the real
# fleetsecd with curl as the client: a renewal before it is due is refused
# with its reason until the operator allows one (`fleetsec device
# allow-renew`), once; renewals past renewals_per_day get 429; a 10-second
# flood of refused enrollments from one source grows the registry by one row
# and writes at most refusals_per_minute; status reports past
# reports_per_hour get 429 and are not stored. The registry is read through
# the CLI only.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}"
cd "$T"
F=$FLEETSEC

"$F" ca init --name "Growth Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
for sn in SN-G1 SN-X9; do
	"$F" mfr issue $sn --dir mfr --key-out boot-$sn.key --out boot-$sn.pem 2>/dev/null
done
# SN-X9 is a chip of the allowed manufacturer, but not on the allowlist.
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-G*' --model thermo >/dev/null

# conf KEY=VALUE...: fleetsecd.conf with those settings, then (re)start it,
# so that its per-source and per-device budgets start afresh.
conf() {
	printf '%s\n' "$@" | sed 's/=/ = /' >"$FLEETSEC_HOME/fleetsecd.conf"
	if [ -n "${FLEETSECD_PID:-}" ]; then
		kill -TERM "$FLEETSECD_PID"
		wait "$FLEETSECD_PID" || fail "fleetsecd did not exit cleanly"
	fi
	fleetsecd_start --quiet
	EST=$URL/.well-known/est
}
# req CERT KEY [CURL ARGS...]: the HTTP status; body in out, headers in hdr.
req() {
	local cert=$1 key=$2
	shift 2
	curl -sS --max-time 20 --cacert "$FLEETSEC_HOME/root.pem" --cert "$cert" --key "$key" \
		-o out -D hdr -w '%{http_code}' "$@"
}
# newcsr NAME SUBJECT: NAME.key, a new P-256 key, and NAME.b64, its base64 CSR.
newcsr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-subj "$2" -outform DER 2>/dev/null | openssl base64 >"$1.b64"
}
# subject CERT: the certificate's subject as openssl req -subj takes it.
subject() { openssl x509 -in "$1" -noout -subject -nameopt compat | sed 's/^subject=//'; }
# p7cert FILE: the certificate in a base64 certs-only CMS, as PEM.
p7cert() { openssl base64 -d -in "$1" | openssl pkcs7 -inform DER -print_certs; }
# renew CERT KEY CSR: simplereenroll; the HTTP status.
renew() { req "$1" "$2" --data-binary @"$3" "$EST/simplereenroll"; }
# refusals JQ-FILTER: the refusal rows `registry events` shows (seq null; the
# first refusal of each is also an enroll-refused event), filtered.
refusals() {
	"$F" registry events --action enroll-refused --json | jq "[.[] | select(.seq == null and ($1))]"
}
nevents() { "$F" registry events --json | jq length; }

conf refusals_per_minute=10

# 1. A refusal flood from one source, for 10 seconds: a chip of an allowed
# manufacturer whose serial is not allowlisted asks again and again.
newcsr x9 /CN=SN-X9
code=$(req boot-SN-X9.pem boot-SN-X9.key --data-binary @x9.b64 "$EST/simpleenroll")
[ "$code" = 403 ] && grep -q "not on the enrollment allowlist" out || fail "SN-X9: HTTP $code: $(cat out)"
before=$(nevents)
sent=1
end=$((SECONDS + 10))
while [ $SECONDS -lt $end ]; do
	code=$(req boot-SN-X9.pem boot-SN-X9.key --data-binary @x9.b64 "$EST/simpleenroll") ||
		fail "curl failed during the flood"
	[ "$code" = 403 ] || fail "flood: HTTP $code: $(cat out)"
	sent=$((sent + 1))
done
after=$(nevents)
[ "$sent" -gt 20 ] || fail "the flood sent only $sent requests"
echo "flood: $sent refusals in 10 s, $((after - before)) new rows" >&2
# One row for (SN-X9's credential, reason), however many were refused.
[ $((after - before)) -le 1 ] ||
	fail "$sent refusals grew the registry by $((after - before)) rows"
refusals '.device == "SN-X9"' >x9.json
[ "$(jq length x9.json)" = 1 ] || fail "SN-X9's refusals: $(cat x9.json)"
jq -e '.[0] | .reason == "simpleenroll 403 serial # is not on the enrollment allowlist"
	and (.detail | contains("SN-X9 is not on the enrollment allowlist"))
	and .source == "127.0.0.1" and (.credential | length) == 64' x9.json >/dev/null ||
	fail "SN-X9's refusal row: $(cat x9.json)"
# At most refusals_per_minute of them were written (the rest are held for
# the source's next write, a minute on).
count=$(jq '.[0].count' x9.json)
echo "flood: written $count times" >&2
[ "$count" -ge 1 ] && [ "$count" -le 10 ] ||
	fail "$sent refusals in 10 s were written $count times (refusals_per_minute = 10)"
ok

conf reports_per_hour=5

# 2. Enrol SN-G1, then renew at once: not due, refused with the reason.
newcsr g1 /CN=SN-G1
code=$(req boot-SN-G1.pem boot-SN-G1.key --data-binary @g1.b64 "$EST/simpleenroll")
[ "$code" = 200 ] || fail "enrol SN-G1: HTTP $code: $(cat out)"
p7cert out >g1.pem
newcsr g2 "$(subject g1.pem)"
code=$(renew g1.pem g1.key g2.b64)
[ "$code" = 403 ] && grep -q "renewal not yet due: SN-G1's certificate renews from" out ||
	fail "an early renewal: HTTP $code: $(cat out)"
refusals '.device == "SN-G1"' >g1.json
jq -e 'length == 1 and .[0].reason == "simplereenroll 403 renewal not yet due"' g1.json \
	>/dev/null || fail "the early renewal's refusal: $(cat g1.json)"
ncerts=$("$F" device show SN-G1 --json | jq '.certificates | length')
[ "$ncerts" = 1 ] || fail "a refused renewal issued a certificate"
ok

# The operator allows one: the renewal goes through, and is logged.
expect 0 "$F" device allow-renew SN-G1
grep -q "SN-G1 may renew once" out || fail "allow-renew: $(cat out)"
code=$(renew g1.pem g1.key g2.b64)
[ "$code" = 200 ] || fail "the allowed renewal: HTTP $code: $(cat out)"
p7cert out >g2.pem
"$F" registry events --device SN-G1 --json >ev.json
jq -e '[.[] | .action] | index("renew-allow") != null and index("renew-allowed") != null' \
	ev.json >/dev/null || fail "the allowance and its use are not logged: $(cat ev.json)"
# Its answer was lost: the superseded certificate asks again and gets the
# same certificate; a re-send is not a renewal, and needs no allowance.
code=$(renew g1.pem g1.key g2.b64)
[ "$code" = 200 ] || fail "the re-send: HTTP $code: $(cat out)"
cmp -s <(p7cert out) g2.pem || fail "the re-send is not the renewed certificate"
# The allowance was for one renewal.
newcsr g3 "$(subject g1.pem)"
code=$(renew g2.pem g2.key g3.b64)
[ "$code" = 403 ] && grep -q "renewal not yet due" out ||
	fail "a second early renewal: HTTP $code: $(cat out)"
expect 1 "$F" device allow-renew SN-NOBODY
ok

# 3. Status reports past reports_per_hour (5): 429 with Retry-After, not stored.
for i in $(seq 1 12); do
	code=$(req g2.pem g2.key -H 'Content-Type: application/json' \
		--data "{\"version\":\"1.0.$i\",\"security_counter\":1}" "$URL/v1/status")
	if [ "$i" -le 5 ]; then
		[ "$code" = 200 ] || fail "report $i: HTTP $code: $(cat out)"
	else
		[ "$code" = 429 ] || fail "report $i past the budget: HTTP $code: $(cat out)"
		grep -qi '^Retry-After: [1-9]' hdr || fail "429 without Retry-After: $(cat hdr)"
	fi
done
version=$("$F" device show SN-G1 --json | jq -r .state.fw_version)
[ "$version" = 1.0.5 ] || fail "the stored report is $version, not the 5th (1.0.5)"
ok

# 4. renewals_per_day: SN-G1 got 2 certificates today; with 3 a day, one
# more renewal goes through and the next is refused (429, Retry-After).
conf renew_after_percent=0 renewals_per_day=3
code=$(renew g2.pem g2.key g3.b64)
[ "$code" = 200 ] || fail "a renewal within the daily limit: HTTP $code: $(cat out)"
p7cert out >g3.pem
newcsr g4 "$(subject g1.pem)"
code=$(renew g3.pem g3.key g4.b64)
[ "$code" = 429 ] && grep -q "daily renewal limit reached" out ||
	fail "a renewal past the daily limit: HTTP $code: $(cat out)"
grep -qi '^Retry-After: [1-9]' hdr || fail "429 without Retry-After: $(cat hdr)"
[ "$("$F" device show SN-G1 --json | jq '.certificates | length')" = 3 ] ||
	fail "a renewal past the daily limit issued a certificate"
# The operator's allowance passes the daily limit too.
expect 0 "$F" device allow-renew SN-G1
code=$(renew g3.pem g3.key g4.b64)
[ "$code" = 200 ] || fail "an allowed renewal past the daily limit: HTTP $code: $(cat out)"
ok

# A configuration above the agent's schedule is refused: an agent renewing
# at two thirds of the lifetime must never be refused.
printf 'renew_after_percent = 61\n' >bad.conf
# (port 1 cannot be bound: were the setting taken, fleetsecd would stop there.)
expect 1 timeout 30 "$FLEETSECD" --config bad.conf --listen 127.0.0.1:1
grep -q "renew_after_percent" err || fail "renew_after_percent = 61: $(cat err)"
ok

done_checks
