#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Nothing lapses: the delegation is renewed with one command and the offline
# root key (fleetsec release delegate --renew), keeping its keys, above its
# sequence, with a new expiry; refused with any other root key. Published
# through fleetsec release refresh, and through fleetsecd (release_refresh =
# auto, the file replaced, SIGHUP), the real fleetsec-agent takes it, and
# then refuses a manifest under the older delegation replayed to it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}" "${BOOTSIM:?}"
. "$(dirname "$0")/release_fleet.sh"
cd "$T"
release_fleet root other
"$F" release delegate --root-key root.pem --key online.pub --sequence 1 --expires 30d \
	--out deleg1.json

served() {
	curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert dev.pem --key dev.key "$URL/v1/update"
}
last_delegation() { A status --json >st.json && jq .last_delegation st.json; }

# v2 under delegation 1, installed: the device holds delegation 1.
"$F" release create --model thermo --image v2.img --chunk-size 65536 --sequence 5 --out m.json
"$F" release sign --key online.pem --delegation deleg1.json m.json --out release5.json
expect 0 "$F" release publish --model thermo --bundle release5.json --image v2.img --root root.pub
expect 0 A update
"$BOOTSIM" bootenv >/dev/null
expect 0 A confirm
[ "$(last_delegation)" = 1 ] || fail "the device does not hold delegation 1: $(cat st.json)"
ok

# ---- renewal: refusals first, each writing nothing ----
expect 1 "$F" release delegate --renew deleg1.json --root-key other.pem --out deleg2.json
one_line_error "deleg1.json"
grep -q "unknown key" err || fail "another root key renewed the delegation: $(cat err)"
[ ! -e deleg2.json ] || fail "a refused renewal wrote its output"
expect 1 "$F" release delegate --renew deleg1.json --root-key root.pem --sequence 1 --out deleg2.json
one_line_error "1 is not above the current delegation's (1)"
[ ! -e deleg2.json ] || fail "a refused renewal wrote its output"
jq '.signatures[0].sig = "AAAA"' deleg1.json >forged.json
expect 1 "$F" release delegate --renew forged.json --root-key root.pem --out deleg2.json
one_line_error "bad signature"
expect 2 "$F" release delegate --renew deleg1.json --root-key root.pem --key online.pub
expect 2 "$F" release delegate --renew deleg1.json --root-key root.pem --json
ok

# The renewal: same keys, sequence above, a new expiry; signed by the root
# (openssl checks the signature over the exact PAE bytes).
expect 0 "$F" release delegate --renew deleg1.json --root-key root.pem --expires 400d \
	--out deleg2.json --json
seq2=$(jq .sequence out)
[ "$(jq .previous_sequence out)" = 1 ] && [ "$seq2" -gt 1 ] || fail "renew --json: $(cat out)"
jq -r .payload deleg2.json | base64 -d >d2.payload
jq -r .payload deleg1.json | base64 -d >d1.payload
[ "$(jq .sequence d2.payload)" = "$seq2" ] || fail "the payload does not carry $seq2"
[ "$(jq -c .keys d2.payload)" = "$(jq -c .keys d1.payload)" ] || fail "the renewal changed the keys"
exp=$(date -d "$(jq -r .expires d2.payload)" +%s)
want=$(($(date +%s) + 400 * 86400))
[ $((exp - want)) -le 600 ] && [ $((want - exp)) -le 600 ] || fail "expires $(jq -r .expires d2.payload)"
t=application/vnd.fleetsec.delegation+json
{ printf 'DSSEv1 %d %s %d ' "${#t}" "$t" "$(stat -c %s d2.payload)"; cat d2.payload; } >d2.pae
jq -r '.signatures[0].sig' deleg2.json | base64 -d >d2.sig
openssl pkeyutl -verify -pubin -inkey root.pub -rawin -in d2.pae -sigfile d2.sig >/dev/null ||
	fail "openssl does not verify the renewed delegation"
ok

# Published with release refresh: the served manifest carries it, the event
# log records the renewal, and the device takes it.
expect 0 "$F" release refresh --model thermo --key online.pem --delegation deleg2.json \
	--root root.pub --json
[ "$(jq .delegation out)" = "$seq2" ] && [ "$(jq .previous_delegation out)" = 1 ] ||
	fail "refresh --json: $(cat out)"
[ "$(served | jq -r .delegation.payload | base64 -d | jq .sequence)" = "$seq2" ] ||
	fail "the served manifest does not carry delegation $seq2"
"$F" registry events --json | jq -e --arg s "$seq2" '[.[] | select(.action == "delegation")] |
	length == 1 and (.[0].detail | test("sequence=" + $s + " was=1"))' >/dev/null ||
	fail "no delegation event: $("$F" registry events --json)"
expect 0 A check --json
[ "$(last_delegation)" = "$seq2" ] || fail "the device did not take delegation $seq2"
ok

# The old manifest, under delegation 1, replayed while still valid: refused.
expect 0 "$F" release publish --model thermo --bundle release5.json --image v2.img --root root.pub
expect 1 A check
grep -q "sequence: delegation 1 is older than the last accepted ($seq2)" err ||
	fail "the older delegation was not refused: $(cat err)"
[ "$(last_delegation)" = "$seq2" ] || fail "the refusal moved the device's delegation"
ok

# ---- fleetsecd, release_refresh = auto: renewed file + SIGHUP ----
"$F" release sign --key online.pem --delegation deleg2.json m.json --out release-d2.json
expect 0 "$F" release publish --model thermo --bundle release-d2.json --image v2.img --root root.pub
cp deleg2.json served-deleg.json
{ echo "$base"; echo "release_refresh = auto"; echo "release_key = $T/online.pem"
  echo "release_delegation = $T/served-deleg.json"; echo "release_root = $T/root.pub"; } \
	>"$FLEETSEC_HOME/fleetsecd.conf"
kill "$FLEETSECD_PID"
wait "$FLEETSECD_PID" 2>/dev/null || true
mv daemon.log daemon1.log
fleetsecd_start
agent_conf "$URL"
expect 0 "$F" release delegate --renew served-deleg.json --root-key root.pem \
	--sequence $((seq2 + 1)) --out deleg3.json
cp deleg3.json served-deleg.json
kill -HUP "$FLEETSECD_PID"
for _ in $(seq 100); do
	[ "$(served | jq -r .delegation.payload | base64 -d | jq .sequence)" = $((seq2 + 1)) ] && break
	sleep 0.1
done
[ "$(served | jq -r .delegation.payload | base64 -d | jq .sequence)" = $((seq2 + 1)) ] ||
	fail "fleetsecd does not serve the renewed delegation: $(cat daemon.log)"
grep -q "reloaded" daemon.log || fail "no reload: $(cat daemon.log)"
expect 0 A check
[ "$(last_delegation)" = $((seq2 + 1)) ] || fail "the device did not take it from fleetsecd"
# A renewal fleetsecd cannot use (signed by another root) is refused at
# reload, and the renewed one stays served.
"$F" release delegate --root-key other.pem --key online.pub --out served-deleg.json
kill -HUP "$FLEETSECD_PID"
for _ in $(seq 100); do grep -q "reload refused" daemon.log && break; sleep 0.1; done
grep -q "reload refused" daemon.log || fail "a bad delegation was taken: $(cat daemon.log)"
[ "$(served | jq -r .delegation.payload | base64 -d | jq .sequence)" = $((seq2 + 1)) ] ||
	fail "the refused reload changed what is served"
ok

done_checks
