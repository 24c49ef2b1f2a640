#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CRL over time, judged by openssl (crl -text, verify -crl_check):
#  - a renewal through fleetsecd is not signed into the CRL in its request
#    but by fleetsecd's timer shortly after, with a higher CRL number;
#  - CRL numbers only grow across fleetsecd's re-signing and CLI revocations,
#    and parallel `fleetsec device revoke` processes racing fleetsecd's
#    re-signing never leave an older crl.pem on disk (sampled throughout);
#  - under libfaketime, fleetsecd whose clock jumps past half of the CRL's
#    period re-signs it: /crl's nextUpdate is in the (fake) future again;
#    superseded and revoked certificates stay listed for one CRL period after
#    they expire, and are gone after that;
#  - fleetsecd.conf's crl_refresh is refused outside 0.01-0.9.
# No timing assertions: every wait polls for an outcome, with a generous cap.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}"
cd "$T"
F=$FLEETSEC

[ -r "$FAKETIME_LIB" ] || fail "libfaketime is missing (Debian package faketime; scripts/deps.sh)"

# Devices live one day and the CRL two, so that a few fake days expire both.
"$F" ca init --name "CRL Fleet" --device-days 1 --crl-days 2 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
cat "$FLEETSEC_HOME/chain.pem" >chain.pem

# A refused refresh point: fleetsecd does not start.
printf 'crl_refresh = 0.95\n' >bad.conf
if "$FLEETSECD" --config bad.conf --listen 127.0.0.1:1 2>bad.err; then fail "crl_refresh 0.95 accepted"; fi
grep -q "crl_refresh" bad.err || fail "the refusal does not name crl_refresh: $(cat bad.err)"
ok
printf 'crl_refresh = half\n' >bad.conf
if "$FLEETSECD" --config bad.conf --listen 127.0.0.1:1 2>bad.err; then fail "crl_refresh half accepted"; fi
ok

# fleetsecd runs under libfaketime from the start, at offset 0; the test
# moves its clock by rewriting the timestamp file. The CLI and openssl keep
# the real clock.
echo "+0" >faketime
cat >fleetsecd-faked <<EOF
#!/bin/sh
export LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=$T/faketime FAKETIME_NO_CACHE=1
# ASan wants to come first among the libraries; libfaketime must.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
exec "$FLEETSECD" "\$@"
EOF
chmod +x fleetsecd-faked
# Renewals here come seconds apart: the not-yet-due check and the daily cap
# (fleetsecd_growth tests those) are off.
printf 'crl_refresh = 0.5\ncrl_delay = 1\nrenew_after_percent = 0\nrenewals_per_day = 1000\n' >"$FLEETSEC_HOME/fleetsecd.conf"
REAL_FLEETSECD=$FLEETSECD
FLEETSECD=$T/fleetsecd-faked
fleetsecd_start
FLEETSECD=$REAL_FLEETSECD
EST=$URL/.well-known/est

# num FILE [FORM]: the CRL number of a CRL file, in decimal.
num() {
	local hex
	hex=$(openssl crl -in "$1" -inform "${2:-PEM}" -noout -crlnumber | sed 's/^crlNumber=//; s/^0x//')
	echo $((16#$hex))
}
# getcrl: /crl into served.der, checked against the fleet CA; prints its number.
getcrl() {
	local code
	code=$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" -o served.der -w '%{http_code}' "$URL/crl")
	[ "$code" = 200 ] || fail "/crl answered $code"
	openssl crl -inform DER -in served.der -CAfile chain.pem -noout 2>/dev/null || fail "/crl does not verify"
	num served.der DER
}
# wait_crl_above N: poll /crl until its number is above N (at most 120 s).
wait_crl_above() {
	local n
	for _ in $(seq 1200); do
		n=$(getcrl)
		[ "$n" -gt "$1" ] && return 0
		sleep 0.1
	done
	fail "/crl stayed at number $n (wanted above $1)"
}
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
listed() { openssl crl -inform DER -in served.der -noout -text | grep -q "Serial Number: $1"; }
# A device certificate from a key openssl makes.
device() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-subj "/CN=$1" -out "$1.csr" 2>/dev/null
	"$F" device issue "$1" --csr "$1.csr" --out "$1.pem" >/dev/null 2>&1 || fail "issue $1"
}
# renew ID: simplereenroll through fleetsecd with ID's current certificate;
# ID.pem and ID.key become the new ones, the old certificate ID.old.pem.
renew() {
	local id=$1 code subj
	subj=$(openssl x509 -in "$id.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$id.key.new" \
		-subj "$subj" -outform DER 2>/dev/null | openssl base64 >"$id.b64"
	code=$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert "$id.pem" --key "$id.key" \
		-H 'Content-Type: application/pkcs10' --data-binary @"$id.b64" -o "$id.p7" \
		-w '%{http_code}' "$EST/simplereenroll")
	[ "$code" = 200 ] || fail "renewal of $id answered $code: $(cat "$id.p7")"
	openssl base64 -d -in "$id.p7" | openssl pkcs7 -inform DER -print_certs 2>/dev/null |
		openssl x509 -out "$id.new.pem" || fail "renewal answer of $id"
	mv "$id.pem" "$id.old.pem"
	mv "$id.new.pem" "$id.pem"
	mv "$id.key.new" "$id.key"
}

# ---- a renewal: signed by the timer, not in the request ----
device D1
device D2
n0=$(getcrl)
renew D1
wait_crl_above "$n0"
n1=$(getcrl)
listed "$(serial D1.old.pem)" || fail "the superseded certificate is not on the CRL"
openssl crl -inform DER -in served.der -noout -text | grep -q "Superseded" || fail "reason superseded"
grep -q "CRL re-signed" "$T/daemon.log" || fail "fleetsecd did not log its re-signing"
ok

# ---- the CLI revokes: a higher number, and openssl verify judges ----
"$F" device revoke D2 --reason keyCompromise >/dev/null
n2=$(num "$FLEETSEC_HOME/crl.pem")
[ "$n2" -gt "$n1" ] || fail "the CLI's CRL number $n2 is not above fleetsecd's $n1"
[ "$(getcrl)" -eq "$n2" ] || fail "/crl does not serve the CLI's CRL"
openssl crl -inform DER -in served.der -out served.pem
cat chain.pem served.pem >bundle.pem
openssl verify -crl_check -CAfile bundle.pem D1.pem >/dev/null || fail "the renewed certificate is refused"
! openssl verify -crl_check -CAfile bundle.pem D1.old.pem >/dev/null 2>&1 || fail "superseded accepted"
! openssl verify -crl_check -CAfile bundle.pem D2.pem >/dev/null 2>&1 || fail "revoked accepted"
ok
# And fleetsecd's next re-signing goes above the CLI's.
renew D1
wait_crl_above "$n2"
ok

# ---- parallel writers never leave an older CRL on disk ----
for i in $(seq 1 6); do device "P$i"; done
touch sampling
( # Sample crl.pem's number for as long as the writers run.
	while [ -e sampling ]; do
		n=$(num "$FLEETSEC_HOME/crl.pem" 2>/dev/null) && echo "$n" >>samples
	done
) &
SAMPLER=$!
( for _ in 1 2 3; do renew D1; sleep 0.3; done ) 2>renewals.err &
RENEWALS=$!
REVOKERS=
for i in $(seq 1 6); do
	( before=$(num "$FLEETSEC_HOME/crl.pem")
	  "$F" device revoke "P$i" >/dev/null 2>"revoke$i.err" || echo "P$i" >>failed
	  # Right after this revocation, crl.pem is its CRL or a newer one:
	  # a higher number, listing it.
	  openssl crl -in "$FLEETSEC_HOME/crl.pem" -noout -text >"after$i.txt"
	  after=$(num "$FLEETSEC_HOME/crl.pem")
	  [ "$after" -gt "$before" ] || echo "P$i: number $before then $after" >>failed
	  grep -q "Serial Number: $(serial "P$i.pem")" "after$i.txt" ||
		echo "P$i not listed after its revoke" >>failed ) &
	REVOKERS+=" $!"
done
for p in $REVOKERS; do wait "$p"; done
wait "$RENEWALS" || fail "renewals during the race failed: $(cat renewals.err)"
rm -f sampling
wait "$SAMPLER"
[ ! -e failed ] || fail "revocations: $(cat failed) $(cat revoke*.err)"
[ "$(wc -l <samples)" -gt 1 ] || fail "too few samples"
# One sampler, in time order: the number on disk never went down.
sort -n -c samples || fail "crl.pem went back to an older CRL: $(uniq samples | tr '\n' ' ')"
ok
n3=$(num "$FLEETSEC_HOME/crl.pem")
# Every revocation and the last renewal end up on the CRL fleetsecd serves.
wait_crl_above $((n3 - 1))
for i in $(seq 1 6); do listed "$(serial "P$i.pem")" || fail "P$i missing from /crl"; done
ok

# ---- the clock jumps past half-way: fleetsecd re-signs ----
# The last renewal's CRL is deferred (crl_delay): on a loaded machine the
# CLI's revocations can be served before it. Wait for it, as above.
for _ in $(seq 1200); do
	n4=$(getcrl)
	listed "$(serial D1.old.pem)" && break
	sleep 0.1
done
listed "$(serial D1.old.pem)" || fail "the last superseded certificate is missing"
now=$(date +%s)
echo "+129600" >"$T/faketime" # 1.5 days: past half of the 2-day period, before nextUpdate
wait_crl_above "$n4"
next=$(date -d "$(openssl crl -inform DER -in served.der -noout -nextupdate | cut -d= -f2)" +%s)
[ "$next" -gt $((now + 129600 + 86400)) ] || fail "nextUpdate $next is not a day past the fake now"
# The device certificates expired half a day ago (fake time): within one CRL
# period of their expiry they are still listed.
listed "$(serial D1.old.pem)" || fail "a superseded certificate left before one CRL period after expiry"
listed "$(serial D2.pem)" || fail "a compromised certificate left before one CRL period after expiry"
ok

# ---- four days on: every certificate expired more than a CRL period ago ----
n5=$(getcrl)
echo "+345600" >"$T/faketime"
wait_crl_above "$n5"
openssl crl -inform DER -in served.der -noout -text >final.txt
grep -q "No Revoked Certificates" final.txt || fail "expired entries are still listed: $(cat final.txt)"
next=$(date -d "$(openssl crl -inform DER -in served.der -noout -nextupdate | cut -d= -f2)" +%s)
[ "$next" -gt $((now + 345600)) ] || fail "/crl's nextUpdate is not in the fake future"
ok

done_checks
