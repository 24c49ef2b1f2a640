#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Tamper reaches the fleet, through the real fleetsecd and enrolled agents:
# `fleetsec-agent tamper` signs a tamper statement with the device key it is
# about to destroy and POSTs it to /v1/tamper; fleetsecd verifies it and the
# registry marks the device. Then `fleetsec events`, `device show` and
# `audit fleet` (FLEET-TAMPERED, critical) say so, checked with jq, and
# sqlite3 judges the registry on its own; openssl checks the kept envelope
# against the certificate. `net sync` moves the tampered devices to the
# quarantine class (nft reads the map back in a network namespace).
# Refusals, each with nothing recorded: a statement signed by another key, a
# payload altered after signing, a statement about another device, one dated
# outside the window either way, and a replay (the certificate is refused
# once a report came through it, renewal included). A report that cannot
# reach fleetsecd does not stop the wipe, and the record says it failed.
# Revoking or re-provisioning ends the mark. Statements for the refusals are
# built with openssl and jq (DSSE by hand), not by fleetsec.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
[ "$(id -u)" -eq 0 ] || fail "needs root for a network namespace (run as root; it never skips)"
command -v nft >/dev/null || fail "nft is missing (scripts/deps.sh installs nftables)"
command -v sqlite3 >/dev/null || fail "sqlite3 is missing (scripts/deps.sh installs it)"
cd "$T"
F=$FLEETSEC
DB=$FLEETSEC_HOME/registry.db
TYPE=application/vnd.fleetsec.tamper+json

"$F" ca init --name "Tamper Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
for sn in SN-T1 SN-T2 SN-T3 SN-T4; do
	"$F" mfr issue $sn --dir mfr --key-out boot-$sn.key --out boot-$sn.pem 2>/dev/null
done
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-T*' --model thermo >/dev/null
device_slots
fleetsecd_bounds_off
fleetsecd_start
NS=fstm$$
ip netns add "$NS"
FOLLOW_PID= STALL_PID=
trap 'kill $FLEETSECD_PID $FOLLOW_PID $STALL_PID 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true; rm -rf "$T"' EXIT

# conf SN [SERVER]: SN's agent configuration, its own files and state.
conf() {
	mkdir -p "st-$1"
	agent_conf "${2:-$URL}" key="$T/$1.key" cert="$T/$1.pem" state_dir="$T/st-$1" \
		bootstrap_key="$T/boot-$1.key" bootstrap_cert="$T/boot-$1.pem"
	mv agent.conf "$1.conf"
}
A() { local sn=$1; shift; "$AGENT" -c "$sn.conf" "$@"; }
for sn in SN-T1 SN-T2 SN-T3 SN-T4; do
	conf $sn
	expect 0 A $sn enroll
done
i=11
for sn in SN-T1 SN-T2 SN-T3 SN-T4; do
	expect 0 "$F" device set $sn --mac 02:00:00:00:30:$i --ip 10.30.0.$i
	i=$((i + 1))
done

# The registry, judged by sqlite3 alone.
sq() { sql "$1"; }
reports() { sq "SELECT count(*) FROM device_tamper WHERE device_id = '$1'"; }
tamper_events() { sq "SELECT count(*) FROM events WHERE action = 'tamper' AND device_id = '$1'"; }
nothing_recorded() {
	[ "$(reports "$1")" = 0 ] && [ "$(tamper_events "$1")" = 0 ] ||
		fail "a refused report left a record for $1"
	ok
}

# statement KEY DEVICE EPOCH [REASON]: a DSSE tamper statement signed with KEY
# by openssl (ECDSA P-256, SHA-256, DER; keyid the SPKI's SHA-256).
statement() {
	local key=$1 dev=$2 at=$3 reason=${4:-case opened} payload kid
	payload=$(jq -cn --arg d "$dev" --arg t "$(date -u -d "@$at" +%Y-%m-%dT%H:%M:%SZ)" \
		--arg r "$reason" '{_type: "fleetsec.tamper.v1", device: $d, time: $t, reason: $r}')
	printf 'DSSEv1 %d %s %d %s' ${#TYPE} "$TYPE" ${#payload} "$payload" >pae
	openssl dgst -sha256 -sign "$key" -out sig pae
	kid=$(openssl pkey -in "$key" -pubout -outform DER | sha256sum | cut -d' ' -f1)
	jq -cn --arg t "$TYPE" --arg p "$(printf %s "$payload" | base64 -w0)" --arg k "$kid" \
		--arg s "$(base64 -w0 sig)" '{payloadType: $t, payload: $p, signatures: [{keyid: $k, sig: $s}]}'
}
# post CERT KEY FILE: POST FILE to /v1/tamper with that client credential;
# prints the HTTP status, the answer is in resp.
post() {
	curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert "$1" --key "$2" -o resp -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary @"$3" "$URL/v1/tamper"
}
# refused CODE TEXT SN FILE: SN's credential posts FILE and gets CODE naming TEXT.
refused() {
	local code
	code=$(post "$4.pem" "$4.key" "$3")
	[ "$code" = "$1" ] || fail "expected $1 for $3, got $code: $(cat resp)"
	grep -qF -- "$2" resp || fail "$3: the answer does not name '$2': $(cat resp)"
	ok
}
now=$(date +%s)

# 1. Refusals: nothing recorded for any of them.
statement SN-T2.key SN-T1 "$now" >other-key.json
refused 403 "unknown key" other-key.json SN-T1
statement SN-T1.key SN-T1 "$now" >own.json
# The payload altered after signing: another reason, the same signature.
jq -c --arg p "$(jq -r .payload own.json | base64 -d | jq -c '.reason = "nothing happened"' |
	tr -d '\n' | base64 -w0)" '.payload = $p' own.json >altered.json
refused 403 "bad signature" altered.json SN-T1
statement SN-T2.key SN-T1 "$now" >about-other.json
refused 403 "a tamper statement about device SN-T1, sent by device SN-T2" about-other.json SN-T2
statement SN-T1.key SN-T1 $((now - 600)) >old.json
refused 403 "more than 300 s from now" old.json SN-T1
statement SN-T1.key SN-T1 $((now + 600)) >ahead.json
refused 403 "more than 300 s from now" ahead.json SN-T1
head -c 9000 /dev/zero | tr '\0' ' ' >big.json
refused 413 "over 8192 bytes" big.json SN-T1
refused 403 "operational certificate" own.json boot-SN-T1
[ "$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" -o resp -w '%{http_code}' --data-binary @own.json \
	"$URL/v1/tamper")" = 401 ] || fail "a report without a client certificate: $(cat resp)"
ok
nothing_recorded SN-T1
nothing_recorded SN-T2

# 2. A statement openssl signed, accepted for SN-T2; the same again is a
# replay, refused with the certificate it came through, and so is a renewal
# (which would end the mark).
statement SN-T2.key SN-T2 "$(date +%s)" "probe by curl" >t2.json
[ "$(post SN-T2.pem SN-T2.key t2.json)" = 200 ] || fail "a valid statement was refused: $(cat resp)"
ok
[ "$(reports SN-T2)" = 1 ] && [ "$(tamper_events SN-T2)" = 1 ] || fail "SN-T2's report not recorded"
ok
refused 403 "device SN-T2 reported a tamper event" t2.json SN-T2
[ "$(tamper_events SN-T2)" = 1 ] || fail "the replay added an event"
ok
expect 1 A SN-T2 renew --force
grep -qF "reported a tamper event" err || fail "renew of a tampered device: $(cat err)"
ok

# 3. fleetsecd unreachable: the wipe still happens, the record says the
# report failed, and the registry knows nothing.
closed=$(rand_port)
conf SN-T3 "https://127.0.0.1:$closed"
# A bad --reason (a control character) is warned about, never a reason to
# skip the wipe.
expect 0 A SN-T3 tamper --reason "$(printf 'bad\treason')"
grep -qF "report to fleetsecd: failed" out || fail "tamper output: $(cat out)"
ok
one_line_error "--reason is not 1-128 printable ASCII characters"
[ ! -e SN-T3.key ] && [ ! -e boot-SN-T3.key ] && [ ! -e SN-T3.pem ] || fail "SN-T3 was not wiped"
ok
jq -e '.state == "done" and .report == "failed" and (.report_detail | length > 0)' \
	st-SN-T3/tamper.json >/dev/null || fail "SN-T3's record: $(cat st-SN-T3/tamper.json)"
ok
nothing_recorded SN-T3

# 3b. A server that accepts the connection and never answers: the device is
# marked before the report starts (a power cut now would still leave it
# refused, its wipe finished at the next start), the report gives up, and the
# wipe follows. SN-T4's key is copied aside and put back for section 5.
stall=$(rand_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); print("ready", flush=True); time.sleep(120)' \
	"$stall" >stall.out &
STALL_PID=$!
for _ in $(seq 50); do grep -q ready stall.out && break; sleep 0.1; done
grep -q ready stall.out || fail "the stalling server did not start"
cp SN-T4.key SN-T4.key.keep
cp SN-T4.pem SN-T4.pem.keep
cp boot-SN-T4.key boot-SN-T4.key.keep
conf SN-T4 "https://127.0.0.1:$stall"
"$AGENT" -c SN-T4.conf tamper --json >stalled.out 2>stalled.err &
TAMPER_PID=$!
for _ in $(seq 100); do [ -e st-SN-T4/tamper.json ] && break; sleep 0.05; done
jq -e '.state == "begun"' st-SN-T4/tamper.json >/dev/null && [ -e SN-T4.key ] ||
	fail "not marked before the report: $(cat st-SN-T4/tamper.json 2>&1); key $(ls SN-T4.key 2>&1)"
ok
wait $TAMPER_PID || fail "tamper with a stalled server: $(cat stalled.err)"
jq -e '.wiped == true and .report == "failed"' stalled.out >/dev/null || fail "stalled: $(cat stalled.out)"
ok
[ ! -e SN-T4.key ] || fail "SN-T4 not wiped after the stalled report"
ok
kill $STALL_PID
wait $STALL_PID 2>/dev/null || true
STALL_PID=
rm -r st-SN-T4
mkdir st-SN-T4
mv SN-T4.key.keep SN-T4.key
mv SN-T4.pem.keep SN-T4.pem
mv boot-SN-T4.key.keep boot-SN-T4.key
conf SN-T4
nothing_recorded SN-T4

# 4. The agent's report, sent, then the wipe.
serial1=$(sq "SELECT serial FROM devices WHERE id = 'SN-T1'")
expect 0 A SN-T1 tamper --reason "case opened" --json
jq -e '.wiped == true and .report == "sent"' out >/dev/null || fail "tamper --json: $(cat out)"
ok
[ ! -e SN-T1.key ] && [ ! -e boot-SN-T1.key ] && [ ! -e SN-T1.pem ] || fail "SN-T1 was not wiped"
ok
jq -e '.state == "done" and .report == "sent"' st-SN-T1/tamper.json >/dev/null ||
	fail "SN-T1's record: $(cat st-SN-T1/tamper.json)"
ok
# A second run (no key left) keeps what the first recorded.
expect 0 A SN-T1 tamper --json
jq -e '.report == "sent"' st-SN-T1/tamper.json >/dev/null || fail "a second run lost the outcome"
ok

# sqlite3's view: the reason, the certificate it came through, one event.
[ "$(sq "SELECT reason || '|' || serial FROM device_tamper WHERE device_id = 'SN-T1'")" = \
	"case opened|$serial1" ] || fail "registry row: $(sq "SELECT * FROM device_tamper")"
ok
[ "$(tamper_events SN-T1)" = 1 ] || fail "tamper events for SN-T1: $(tamper_events SN-T1)"
ok
at=$(sq "SELECT at FROM device_tamper WHERE device_id = 'SN-T1'")
[ $((at - now)) -ge 0 ] && [ $((at - now)) -le 300 ] || fail "the report's time $at (now $now)"
ok
# openssl's view: the kept envelope verifies under the registry's
# certificate of SN-T1, over DSSE's pre-authentication encoding.
sq "SELECT envelope FROM device_tamper WHERE device_id = 'SN-T1'" >env.json
sq "SELECT pem FROM certificates WHERE serial = '$serial1'" >t1cert.pem
openssl x509 -in t1cert.pem -noout -pubkey >t1.pub
jq -r .payload env.json | base64 -d >payload
printf 'DSSEv1 %d %s %d ' ${#TYPE} "$TYPE" "$(stat -c %s payload)" | cat - payload >pae
jq -r '.signatures[0].sig' env.json | base64 -d >sig
openssl dgst -sha256 -verify t1.pub -signature sig pae >/dev/null || fail "the kept envelope does not verify"
ok
jq -e '.device == "SN-T1" and .reason == "case opened"' payload >/dev/null || fail "payload: $(cat payload)"
ok

# The CLI's view.
expect 0 "$F" events --device SN-T1 --json
jq -e 'any(.[]; .kind == "tamper" and (.detail | contains("case opened")))' out >/dev/null ||
	fail "events: $(cat out)"
ok
expect 0 "$F" device show SN-T1 --json
jq -e --arg s "$serial1" '.tamper.tampered == true and .tamper.reason == "case opened" and
	.tamper.serial == $s' out >/dev/null || fail "device show: $(jq -c .tamper out)"
ok
expect 0 "$F" device show SN-T1
grep -q "^tamper  *TAMPERED at .*: case opened" out || fail "device show: $(grep tamper out)"
ok
expect 0 "$F" device show SN-T3 --json
jq -e '.tamper == null' out >/dev/null || fail "SN-T3 shows a tamper state: $(jq -c .tamper out)"
ok
audit() { "$F" audit fleet --json >fleet.json || true; jq -e .findings fleet.json >/dev/null || fail "audit: $(cat fleet.json)"; }
tampered() { # tampered SN yes|no: FLEET-TAMPERED (critical) is listed for SN, or not
	local want=true
	[ "$2" = yes ] || want=false
	[ "$(jq --arg s "$1" '.findings | any(.check == "FLEET-TAMPERED" and .subject == $s and
		.severity == "critical")' fleet.json)" = $want ] ||
		fail "FLEET-TAMPERED for $1 should be $2: $(jq -c '.findings[] | [.check, .subject]' fleet.json | tr '\n' ' ')"
	ok
}
audit
tampered SN-T1 yes
tampered SN-T2 yes
tampered SN-T3 no

# 5. The network: the ruleset compiled before any tamper has all three in
# the thermo class; net sync quarantines the two tampered ones.
cat >policy.json <<'EOF'
{"version": 1,
 "zones": {"iot": [{"name": "iot", "interface": "br-iot", "subnets": ["10.30.0.0/24"],
                    "router": "10.30.0.1", "bridge_ports": ["iotp1"]}],
           "wan": {"interface": "wan0"}},
 "classes": [{"name": "thermo", "models": ["thermo"],
              "allow": [{"host": "203.0.113.10", "proto": "tcp", "port": 443}]}]}
EOF
expect 0 "$F" net compile policy.json --from-registry --fleetsecd 203.0.113.10:8443 --out rules.nft
grep -qF "10.30.0.11 : 65535" rules.nft && grep -qF "10.30.0.12 : 65535" rules.nft ||
	fail "compile from the registry did not quarantine the tampered devices"
ok
grep -qF "10.30.0.13 : 65535" rules.nft && fail "compile quarantined SN-T3"
ok
sed 's/10.30.0.11 : 65535/10.30.0.11 : 1/; s/10.30.0.12 : 65535/10.30.0.12 : 1/' rules.nft >before.nft
ip netns exec "$NS" nft -f before.nft || fail "nft -f refused the ruleset"
mark() { ip netns exec "$NS" nft list map inet fleetsec dst_class | grep -oE "$1 : 0x[0-9a-f]+" || true; }
[ "$(mark 10.30.0.11)" = "10.30.0.11 : 0x00000001" ] || fail "setup: $(mark 10.30.0.11)"
sync() { ip netns exec "$NS" "$F" net sync policy.json "$@"; }
expect 0 sync --dry-run --json
jq -e '.dry_run == true and .quarantined == 2' out >/dev/null || fail "dry run: $(cat out)"
ok
jq -r .batch out | grep -qxF "add element inet fleetsec dst_class { 10.30.0.11 : 65535, 10.30.0.12 : 65535 }" ||
	fail "dry run batch: $(jq -r .batch out)"
ok
[ "$(mark 10.30.0.11)" = "10.30.0.11 : 0x00000001" ] || fail "a dry run changed the kernel"
ok
expect 0 sync --json
[ "$(mark 10.30.0.11)" = "10.30.0.11 : 0x0000ffff" ] && [ "$(mark 10.30.0.12)" = "10.30.0.12 : 0x0000ffff" ] ||
	fail "not quarantined: $(mark 10.30.0.11), $(mark 10.30.0.12)"
ok
[ "$(mark 10.30.0.13)" = "10.30.0.13 : 0x00000001" ] || fail "SN-T3 moved: $(mark 10.30.0.13)"
ok
# --follow moves a device on its report's tamper event: SN-T4 tampers while
# it runs. Not through a function: $! must be the follower itself.
ip netns exec "$NS" "$F" net sync policy.json --follow --json >follow.out 2>follow.err &
FOLLOW_PID=$!
for _ in $(seq 100); do [ -s follow.out ] && break; sleep 0.1; done
[ -s follow.out ] || fail "net sync --follow did not start: $(cat follow.err)"
[ "$(mark 10.30.0.14)" = "10.30.0.14 : 0x00000001" ] || fail "SN-T4 before: $(mark 10.30.0.14)"
ok
expect 0 A SN-T4 tamper --json
jq -e '.report == "sent"' out >/dev/null || fail "SN-T4's report: $(cat out)"
ok
for _ in $(seq 100); do [ "$(mark 10.30.0.14)" = "10.30.0.14 : 0x0000ffff" ] && break; sleep 0.1; done
[ "$(mark 10.30.0.14)" = "10.30.0.14 : 0x0000ffff" ] ||
	fail "--follow did not quarantine SN-T4: $(mark 10.30.0.14); $(cat follow.out follow.err)"
ok
kill $FOLLOW_PID
wait $FOLLOW_PID || true
FOLLOW_PID=

# 6. The mark ends: SN-T1 revoked (it stays quarantined, as revoked), SN-T2
# re-provisioned with a new key and certificate (back to its class).
expect 0 "$F" device revoke SN-T1 --reason keyCompromise
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout new-T2.key \
	-subj /CN=SN-T2 -out new-T2.csr 2>/dev/null
expect 0 "$F" device issue SN-T2 --csr new-T2.csr --model thermo --reissue --out new-T2.pem
audit
tampered SN-T1 no
tampered SN-T2 no
expect 0 "$F" device show SN-T2 --json
jq -e '.tamper.tampered == false and .tamper.reason == "probe by curl"' out >/dev/null ||
	fail "re-provisioned SN-T2: $(jq -c .tamper out)"
ok
expect 0 sync --json
[ "$(mark 10.30.0.11)" = "10.30.0.11 : 0x0000ffff" ] || fail "revoked SN-T1: $(mark 10.30.0.11)"
ok
[ "$(mark 10.30.0.12)" = "10.30.0.12 : 0x00000001" ] || fail "re-provisioned SN-T2: $(mark 10.30.0.12)"
ok
# The new certificate reaches fleetsecd again.
cat new-T2.pem "$FLEETSEC_HOME/issuing.pem" >new-T2-chain.pem
code=$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert new-T2-chain.pem --key new-T2.key \
	-o resp -w '%{http_code}' "$URL/v1/update")
[ "$code" != 403 ] && [ "$code" != 401 ] || fail "the re-provisioned SN-T2 is refused: $code $(cat resp)"
ok

done_checks
