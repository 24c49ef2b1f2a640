#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent on CoAPs (issue 17): with server = coaps://HOST:PORT, the real
# fleetsec-agent enrolls zero-touch with its bootstrap credential, renews,
# reports, checks and updates 1 -> 2 (trial boot, confirm) through
# fleetsecd's CoAPs listener alone, with the fleet CRL fetched over CoAPs
# (server_crl's default) and checked in every handshake. A download cut on
# the wire resumes at its block. Refused, with the device left as it was: a
# server whose certificate does not name the host the agent dialled
# (libcoap does not check it; the agent must), a server from another CA, a
# server whose certificate is on the fleet CRL, a revoked device, and one
# revoked in the middle of its download (its next block). SIGTERM refuses
# new DTLS sessions while fleetsecd drains.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}" "${BOOTSIM:?}"
cd "$T"
F=$FLEETSEC

"$F" ca init --name "CoAP Agent Fleet" --crl-days 30 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
fleetsecd_bounds_off
CPORT=$(rand_port)
fleetsecd_start --coaps 127.0.0.1:$CPORT
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr issue SN-C1 --dir mfr --key-out boot.key --out boot.pem 2>/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-C*' --model thermo >/dev/null
device_slots
online_key
sign_image v2 2.0.0 2

U=coaps://127.0.0.1:$CPORT
agent_conf "$U" bootstrap_key="$T/boot.key" bootstrap_cert="$T/boot.pem" low_speed_time=5
mkdir state
A() { "$AGENT" -c agent.conf "$@"; }
# https_from_device: lines of fleetsecd's log for HTTPS requests (none of
# this test's devices may make one: everything goes over CoAPs).
https_lines() { grep -E '(GET|POST) /' daemon.log | grep -vc ' coaps ' || true; }

# ---- enroll: EST-coaps sen with the bootstrap certificate ----
expect 0 A enroll
grep -q "enrolled as SN-C1" out || fail "enroll: $(cat out) $(cat err)"
openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
	-untrusted "$FLEETSEC_HOME/issuing.pem" dev.pem >/dev/null || fail "the certificate does not verify"
diff <(openssl x509 -in dev.pem -noout -pubkey) <(openssl pkey -in dev.key -pubout) >/dev/null ||
	fail "the certificate is not for the device's key"
grep -q "coaps POST /.well-known/est/sen peer=SN-C1(bootstrap) -> 2.04" daemon.log ||
	fail "no CoAPs enrollment in the log: $(grep coaps daemon.log | tail -3)"
grep -q "coaps GET /crl peer=SN-C1(bootstrap) -> 2.05" daemon.log ||
	fail "the fleet CRL was not fetched over CoAPs"
[ "$(reg .status device show SN-C1)" = active ] || fail "SN-C1 is not active"
ok

# ---- renew: sren with the operational certificate ----
cp dev.pem old.pem
expect 0 A renew --force --json
grep -q '"renewed": true' out || fail "renew --force: $(cat out) $(cat err)"
! cmp -s dev.pem old.pem || fail "renewal kept the certificate"
grep -q "coaps POST /.well-known/est/sren peer=SN-C1 -> 2.04" daemon.log || fail "no sren in the log"
[ "$(current SN-C1)" = "$(certid dev.pem)" ] || fail "the registry's current certificate is not the new one"
ok

# ---- report and check: POST /v1/status, GET /v1/update ----
expect 0 A report
grep -q "coaps POST /v1/status peer=SN-C1 -> 2.04" daemon.log || fail "no status report over CoAPs"
[ "$(reg '.state.fw_version' device show SN-C1)" = 1.0.0+0 ] ||
	fail "report not recorded: $("$F" device show SN-C1 --json | jq -c .state)"
ok
expect 1 A check
grep -q "unsigned answer: the server has no release for this device" err ||
	fail "check with nothing published: $(cat err)"
ok

# ---- update 1 -> 2: the firmware in Block2 blocks ----
"$F" release create --model thermo --image v2.img --chunk-size 65536 --sequence 5 \
	--out manifest.json
"$F" release sign --key online.pem --delegation deleg.json manifest.json --out release.json
expect 0 "$F" release publish --model thermo --bundle release.json --image v2.img --root root.pub
SHA=$(sha256sum v2.img | cut -c1-64)
expect 0 A check
grep -q "update 1.0.0+0 -> 2.0.0+0 available" out || fail "check: $(cat out) $(cat err)"
# Cut on the wire 150,000 bytes into the answers: the process dies as a
# power cut would, with two 64 KiB chunks in its journal. The next run
# starts a new DTLS session at the third chunk's first block (128 of 1024
# bytes), which fleetsecd logs; libcoap serves the blocks after it from
# that answer.
expect 99 env FSEC_FAULT=net:150000 "$AGENT" -c agent.conf update
grep -q "coaps GET /v1/firmware/$SHA peer=SN-C1 -> 2.05$" daemon.log ||
	fail "the cut came before the download"
expect 0 A update
grep -q installed out || fail "update: $(cat out) $(cat err)"
grep -q "coaps GET /v1/firmware/$SHA peer=SN-C1 -> 2.05 (from block 128)$" daemon.log ||
	fail "not resumed at block 128: $(grep "/v1/firmware/" daemon.log | tail -3)"
cmp -s <(head -c "$(stat -c %s v2.img)" slot_b) v2.img || fail "slot b is not v2"
"$BOOTSIM" bootenv | grep -q "booting slot b (trial boot)" || fail "no trial boot of b"
expect 0 A confirm
expect 0 A status --json
grep -q '"version": "2.0.0+0"' out && grep -q '"counter": 2' out || fail "status: $(cat out)"
[ "$(reg '.state | "\(.fw_version) \(.update_outcome)"' device show SN-C1)" = "2.0.0+0 success" ] ||
	fail "the confirm's report was not recorded"
[ "$(https_lines)" = 0 ] || fail "the device made HTTPS requests: $(grep -E '(GET|POST) /' daemon.log |
	grep -v ' coaps ' | head -3)"
ok

# ---- refused: a server whose certificate does not name the host ----
# The same fleet CA, but issued for other.example and 127.0.0.9: the chain
# verifies, the name does not.
cp "$FLEETSEC_HOME/server.pem" good.pem
cp "$FLEETSEC_HOME/server.key" good.key
"$F" ca server-cert other.example --ip 127.0.0.9 --out other.pem --key-out other.key >/dev/null
cp other.pem "$FLEETSEC_HOME/server.pem"
cp other.key "$FLEETSEC_HOME/server.key"
fleetsecd_reload
cp state/installed installed.before 2>/dev/null || true
cp bootenv bootenv.before
expect 1 A check
grep -qiE "mismatch" err || fail "a server for another name was accepted: $(cat out) $(cat err)"
one_line_error "coaps 127.0.0.1"
cmp -s bootenv bootenv.before || fail "the boot environment changed"
ok
cp good.pem "$FLEETSEC_HOME/server.pem"
cp good.key "$FLEETSEC_HOME/server.key"
fleetsecd_reload
expect 0 A check
ok

# ---- refused: a device that pins another CA ----
"$F" ca init --name "Other Fleet" --home other-home >/dev/null
sed "s#^ca = .*#ca = $T/other-home/root.pem#" agent.conf >other.conf
expect 1 "$AGENT" -c other.conf check
grep -qiE "handshake|certificate" err || fail "another CA's server was accepted: $(cat err)"
ok

# ---- refused: fleetsecd's certificate on the fleet CRL ----
serial=$(openssl x509 -in "$FLEETSEC_HOME/server.pem" -noout -serial | cut -d= -f2)
expect 0 "$F" ca server-cert --revoke "$serial" --reason keyCompromise
fleetsecd_reload
expect 1 A check
grep -qi "revoked" err || fail "a revoked server certificate was accepted: $(cat err)"
ok
expect 0 "$F" ca server-cert --renew
fleetsecd_reload
expect 0 A check
ok

# ---- a second device: its encryption key sent at enroll (POST /v1/enc-key,
# the PEM as Content-Format 0), then its tamper switch (POST /v1/tamper, a
# statement signed with the key it destroys) ----
"$F" mfr issue SN-C2 --dir mfr --key-out boot2.key --out boot2.pem 2>/dev/null
openssl genpkey -algorithm X25519 -out c2-enc.pem
want=$(openssl pkey -in c2-enc.pem -pubout -outform DER | sha256sum | cut -d' ' -f1)
mkdir -p c2/state
chmod 700 c2/state
sed -e "s#$T/dev\.#$T/c2/dev.#" -e "s#^state_dir = .*#state_dir = $T/c2/state#" \
	-e "s#^bootstrap_key = .*#bootstrap_key = $T/boot2.key#" \
	-e "s#^bootstrap_cert = .*#bootstrap_cert = $T/boot2.pem#" -e "s#^boot_env = .*#boot_env = $T/c2/bootenv#" \
	agent.conf >c2.conf
printf 'decrypt_key = %s\nkey_delivery = server\n' "$T/c2-enc.pem" >>c2.conf
expect 0 "$AGENT" -c c2.conf enroll
grep -q "enrolled as SN-C2: .*; firmware encryption key sent" out || fail "enroll: $(cat out) $(cat err)"
[ "$(cat c2/state/enc-key.sent)" = "$want SN-C2 $U" ] || fail "enc-key.sent: $(cat c2/state/enc-key.sent)"
ev=$("$F" events --device SN-C2 --json | jq -r '.[] | select(.action == "enc-key") | .detail')
[ "$ev" = "firmware encryption key ${want:0:16}... enrolled" ] || fail "enc-key event: $ev"
grep -q "coaps POST /v1/enc-key peer=SN-C2 -> 2.04" daemon.log || fail "no enc-key over CoAPs"
ok
expect 0 "$AGENT" -c c2.conf tamper --reason "case opened"
[ ! -e c2/dev.key ] || fail "the tamper hook left the key"
grep -q "coaps POST /v1/tamper peer=SN-C2 -> 2.04" daemon.log || fail "no tamper report over CoAPs"
expect 0 "$F" device show SN-C2 --json
jq -e '.tamper.tampered == true and .tamper.reason == "case opened"' out >/dev/null ||
	fail "the tamper statement was not recorded: $(jq -c .tamper out)"
[ "$(https_lines)" = 0 ] || fail "a device made HTTPS requests"
ok

# ---- refused: a revoked device ----
expect 0 "$F" device revoke SN-C1 --reason keyCompromise
expect 1 A check
grep -qE "4\.03|4\.01|handshake" err || fail "a revoked device was answered: $(cat out) $(cat err)"
ok

# ---- a device revoked in the middle of its download: its next block is
# refused (coap-client, 16-byte blocks: thousands of requests) ----
# A 900 kB image of its own model: some 56,000 blocks, seconds to fetch.
head -c 900000 /dev/urandom >big.bin
"$F" fw sign --key fw.pem --version 9.0.0 --security-counter 9 --pad-header --slot-size 0x100000 \
	big.bin big.img
"$F" release create --model big --image big.img --chunk-size 65536 --sequence 1 --out big.json
"$F" release sign --key online.pem --delegation deleg.json big.json --out big-r.json
expect 0 "$F" release publish --model big --bundle big-r.json --image big.img --root root.pub
BIG=$(sha256sum big.img | cut -c1-64)
# download_bg X: dev-X (X.pem, X.key) fetches the big image with coap-client
# in 16-byte blocks, in the background (bgpid), already under way on return.
download_bg() {
	timeout 120 coap-client-openssl -b 16 -B 100 -c "$1.pem" -j "$1.key" \
		-R "$FLEETSEC_HOME/root.pem" -o "$1.img" "$U/v1/firmware/$BIG" >"$1.out" 2>&1 &
	bgpid=$!
	for _ in $(seq 100); do
		grep -q "coaps GET /v1/firmware/$BIG peer=dev-$1 -> 2.05$" daemon.log && break
		sleep 0.05
	done
	sleep 0.3
}
# cut_off X PATTERN WHAT: dev-X's download stopped after what was done to it:
# fleetsecd logged PATTERN for its firmware request, and X.img is short.
cut_off() {
	wait "$bgpid" || true
	grep -q "coaps GET /v1/firmware/$BIG peer=dev-$1$2" daemon.log ||
		fail "$3: $(grep "dev-$1" daemon.log | tail -2)"
	[ "$(stat -c %s "$1.img" 2>/dev/null || echo 0)" -lt "$(stat -c %s big.img)" ] ||
		fail "$3: dev-$1 got the whole image"
	ok
}
"$F" device issue dev-y --keygen --key-out y.key --out y.pem --model big 2>/dev/null
download_bg y
expect 0 "$F" device revoke dev-y --reason keyCompromise
cut_off y "(refused) -> 4.03 device dev-y is revoked" "the download went on after the revocation"

# ---- a device that renews during its download: the superseded
# certificate's session gets no further block (the firmware route admits
# devices only; simplereenroll alone admits a superseded certificate) ----
"$F" device issue dev-w --keygen --key-out w.key --out w.pem --model big 2>/dev/null
download_bg w
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out w2.key 2>/dev/null
openssl req -new -key w2.key -subj "$(openssl x509 -in w.pem -noout -subject -nameopt compat |
	sed 's/^subject=//')" -outform DER | openssl base64 >w2.b64
code=$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert w.pem --key w.key -o w2.p7 -w '%{http_code}' \
	-H 'Content-Type: application/pkcs10' --data-binary @w2.b64 "$URL/.well-known/est/simplereenroll")
[ "$code" = 200 ] || fail "dev-w's renewal: HTTP $code $(cat w2.p7)"
cut_off w "(refused) -> 4.03 .*(superseded)" "a superseded certificate kept downloading"

# ---- a release taken out of a device's rollout during its download: the
# route is asked again every 64 blocks (here 1 KiB), as an HTTPS device's
# next Range request would be, and refuses ----
"$F" device issue dev-z --keygen --key-out z.key --out z.pem --model big 2>/dev/null
download_bg z
expect 0 "$F" release publish --model big --bundle big-r.json --image big.img --root root.pub \
	--percent 0
cut_off z " -> 4.04" "the download went on outside the rollout"

# ---- SIGTERM drains: new DTLS sessions are refused at once, while an
# HTTPS request in flight (a slow 12 kB upload) keeps fleetsecd up ----
"$F" device issue dev-x --keygen --key-out x.key --out x.pem --model thermo 2>/dev/null
sed -e "s#^key = .*#key = $T/x.key#" -e "s#^cert = .*#cert = $T/x.pem#" agent.conf >x.conf
expect 0 "$AGENT" -c x.conf check
grep -q "coaps GET /v1/update peer=dev-x -> 2.05" daemon.log || fail "dev-x was not answered"
head -c 12000 /dev/zero | tr '\0' 'A' >slow-body
curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert x.pem --key x.key --limit-rate 3k -o /dev/null \
	--data-binary @slow-body "$URL/.well-known/est/simplereenroll" &
slow=$!
sleep 1
kill -TERM "$FLEETSECD_PID"
sleep 0.3
expect 1 "$AGENT" -c x.conf check
grep -q "DTLS handshake failed" err || fail "a new CoAPs session during the drain: $(cat out) $(cat err)"
grep -q "coaps handshake refused: fleetsecd is stopping" daemon.log ||
	fail "no drain refusal in the log: $(tail -3 daemon.log)"
wait "$slow" || true
wait "$FLEETSECD_PID" || fail "fleetsecd did not exit cleanly after draining"
ok

done_checks
