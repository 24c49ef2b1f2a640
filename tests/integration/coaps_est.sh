#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fleetsecd's CoAPs listener (issue 17) with libcoap's own coap-client
# (Debian libcoap3-bin, OpenSSL flavour) as the independent peer: EST-coaps
# (RFC 9148) crts, sen, sren and att checked with openssl, the device API's
# status and update, /.well-known/core, and every refusal: no client
# certificate, another CA, an unknown serial, a replay, a revoked device at
# the handshake and on an established session, plaintext CoAP, a malformed
# datagram, a wrong Content-Format, an oversized Block1 upload and a session
# flood from one address; and the firmware over Block2, whole and resumed. Each refusal leaves the service serving others.
# Last, a server key libcoap could not load itself (DER): the handshake
# presents fleetsecd's certificate (openssl s_client -dtls1_2).
# coap-client exits 0 even when the handshake fails: every check reads its
# output or fleetsecd's log, never its exit status.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}"
cd "$T"
F=$FLEETSEC
CC=coap-client-openssl
command -v $CC >/dev/null || fail "$CC is missing (scripts/deps.sh: libcoap3-bin)"

"$F" ca init --name "CoAP Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr init --dir rogue --name "Acme Chips" >/dev/null
for sn in SN-0001 SN-0002 SN-0003 SN-0099; do
	"$F" mfr issue $sn --dir mfr --key-out boot-$sn.key --out boot-$sn.pem 2>/dev/null
done
"$F" mfr issue SN-0001 --dir rogue --key-out rogue.key --out rogue.pem 2>/dev/null
printf 'SN-0001\nSN-0002\nSN-0003\n' >serials
"$F" enroll allow --manufacturer-ca mfr/ca.pem --serials serials --model thermo >/dev/null

fleetsecd_bounds_off
# Two sessions per address: the flood check below opens a third.
printf 'max_per_source = 2\n' >>"$FLEETSEC_HOME/fleetsecd.conf"
CPORT=$(rand_port)
APORT=$(rand_port)
fleetsecd_start --coaps 127.0.0.1:$CPORT --admin 127.0.0.1:$APORT
grep -q "coaps://127.0.0.1:$CPORT" "$T/daemon.log" || fail "no CoAPs listener: $(cat "$T/daemon.log")"
U=coaps://127.0.0.1:$CPORT
EST=$U/.well-known/est
ROOT=$FLEETSEC_HOME/root.pem
ISS=$FLEETSEC_HOME/issuing.pem

# cc CERT KEY OUT ARGS...: coap-client with a client certificate and the
# fleet root as its trust store; the payload in OUT, the rest in OUT.err.
cc() {
	local cert=$1 key=$2 out=$3
	shift 3
	rm -f "$out"
	timeout 30 $CC -B 10 -c "$cert" -j "$key" -R "$ROOT" -o "$out" "$@" >"$out.err" 2>&1 || true
	[ -e "$out" ] || : >"$out"
}
# code OUT: the CoAP code coap-client printed for an error answer ("4.03"),
# or "" for a success (written to OUT).
code() { grep -oE '^[45]\.[0-9]{2}' "$1.err" | head -1 || true; }
# der_csr KEY SUBJECT OUT: a DER PKCS#10 for a new P-256 key, by openssl.
der_csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1" \
		-subj "$2" -outform DER -out "$3" 2>/dev/null
}
# served: the service still answers another device (after each refusal).
served() {
	cc boot-SN-0003.pem boot-SN-0003.key alive "$EST/crts"
	openssl pkcs7 -inform DER -in alive -print_certs >/dev/null 2>&1 ||
		fail "the service stopped answering after: $1 ($(cat alive.err))"
	ok
}
logged() { grep -qF -- "$1" "$T/daemon.log" || fail "not in fleetsecd's log: $1"; ok; }

# ---- crts: 281 by default, 287 when asked ----
cc boot-SN-0001.pem boot-SN-0001.key crts "$EST/crts"
openssl pkcs7 -inform DER -in crts -print_certs >crts.pem || fail "crts is no certs-only CMS"
[ "$(grep -c 'BEGIN CERTIFICATE' crts.pem)" = 2 ] || fail "crts: expected 2 certificates"
diff <(openssl x509 -in crts.pem -noout -fingerprint) <(openssl x509 -in "$ISS" -noout -fingerprint) \
	>/dev/null || fail "crts does not start with the issuing CA"
ok
cc boot-SN-0001.pem boot-SN-0001.key root.der -A 287 "$EST/crts"
diff <(openssl x509 -inform DER -in root.der -noout -fingerprint) \
	<(openssl x509 -in "$ROOT" -noout -fingerprint) >/dev/null || fail "crts 287 is not the root"
ok
cc boot-SN-0001.pem boot-SN-0001.key x -A 50 "$EST/crts"
[ "$(code x)" = 4.06 ] || fail "crts with Accept 50: $(cat x.err)"
ok

# ---- discovery ----
cc boot-SN-0001.pem boot-SN-0001.key core "$U/.well-known/core"
for rt in crts sen sren att; do
	grep -qF "</.well-known/est/$rt>" core && grep -qF "rt=\"ace.est.$rt\"" core ||
		fail "/.well-known/core lacks $rt: $(cat core)"
done
grep -qF '</.well-known/est/crts>;ct="281 287"' core || fail "crts ct: $(cat core)"
ok

# ---- att ----
cc boot-SN-0001.pem boot-SN-0001.key att "$EST/att"
openssl asn1parse -inform DER -in att | grep -q prime256v1 || fail "att: $(xxd att | head -3)"
ok

# ---- sen: zero-touch enrollment with the bootstrap certificate ----
der_csr op1.key "/CN=whatever" op1.csr
cc boot-SN-0001.pem boot-SN-0001.key op1.p7 -m post -t 286 -f op1.csr "$EST/sen"
openssl pkcs7 -inform DER -in op1.p7 -print_certs -out op1.pem 2>/dev/null ||
	fail "sen: no certificate: $(cat op1.p7.err)"
openssl verify -purpose sslclient -CAfile "$ROOT" -untrusted "$ISS" op1.pem >/dev/null ||
	fail "the enrolled certificate does not verify"
openssl x509 -in op1.pem -noout -ext subjectAltName | grep -q "URI:urn:fleetsec:device:SN-0001" ||
	fail "the enrolled certificate is not SN-0001's"
diff <(openssl x509 -in op1.pem -noout -pubkey) <(openssl pkey -in op1.key -pubout) >/dev/null ||
	fail "the enrolled certificate is not for the CSR's key"
[ "$(reg .status device show SN-0001)" = active ] || fail "SN-0001 is not active"
logged "coaps POST /.well-known/est/sen peer=SN-0001(bootstrap) -> 2.04"
# 287: the certificate alone, in DER.
der_csr op2b.key "/CN=x" op2b.csr
# In 64-byte Block1 blocks, assembled by fleetsecd.
cc boot-SN-0002.pem boot-SN-0002.key op2b.der -m post -t 286 -A 287 -b 64 -f op2b.csr "$EST/sen"
openssl x509 -inform DER -in op2b.der -out sn2.pem 2>/dev/null || fail "sen 287: $(cat op2b.der.err)"
openssl verify -CAfile "$ROOT" -untrusted "$ISS" sn2.pem >/dev/null || fail "sen 287 does not verify"
ok

# ---- EST refusals, as over HTTPS ----
# A replay: the bootstrap credential is spent.
der_csr rp.key "/CN=x" rp.csr
cc boot-SN-0001.pem boot-SN-0001.key rp "$EST/sen" -m post -t 286 -f rp.csr
[ "$(code rp)" = 4.09 ] && grep -q "already enrolled" rp.err || fail "replay: $(cat rp.err)"
ok
served "a replay"
# An unknown serial: a trusted manufacturer, not on the allowlist.
cc boot-SN-0099.pem boot-SN-0099.key un -m post -t 286 -f rp.csr "$EST/sen"
[ "$(code un)" = 4.03 ] && grep -q "SN-0099" un.err || fail "unknown serial: $(cat un.err)"
ok
served "an unknown serial"
# A CSR that is not sent as application/pkcs10.
cc boot-SN-0003.pem boot-SN-0003.key cf -m post -t 0 -f rp.csr "$EST/sen"
[ "$(code cf)" = 4.15 ] || fail "Content-Format 0: $(cat cf.err)"
ok
# An oversized Block1 upload (past FSEC_COAP_BODY_MAX, 12,288 bytes):
# refused, nothing enrolled.
head -c 20000 /dev/urandom >big
cc boot-SN-0003.pem boot-SN-0003.key bg -m post -t 286 -b 1024 -f big "$EST/sen"
[ "$(code bg)" = 4.13 ] && grep -q "upload refused at the block past 12288 bytes" bg.err ||
	fail "oversized upload: $(cat bg.err)"
[ "$(reg 'map(select(.id == "SN-0003")) | length' device list)" = 0 ] || fail "SN-0003 enrolled"
ok
served "an oversized upload"
# An upload that starts past its first block (-b 2,64: block 2 first) is
# no body: refused, nothing enrolled.
cc boot-SN-0003.pem boot-SN-0003.key gap -m post -t 286 -b 2,64 -f rp.csr "$EST/sen"
[ "$(code gap)" = 4.08 ] && grep -q "blocks out of order" gap.err || fail "a Block1 gap: $(cat gap.err)"
[ "$(reg 'map(select(.id == "SN-0003")) | length' device list)" = 0 ] || fail "SN-0003 enrolled"
ok
# The device API needs an operational certificate.
cc boot-SN-0003.pem boot-SN-0003.key bu "$U/v1/update"
[ "$(code bu)" = 4.03 ] && grep -q "operational certificate" bu.err || fail "bootstrap on the API: $(cat bu.err)"
ok

# ---- the device API ----
cc op1.pem op1.key st -m post -t 50 -e '{"version":"1.0.0","security_counter":1}' "$U/v1/status"
[ -z "$(code st)" ] || fail "status: $(cat st.err)"
[ "$(reg .state.fw_version device show SN-0001)" = 1.0.0 ] && grep -q recorded st || fail "status not recorded"
ok
cc op1.pem op1.key up "$U/v1/update"
[ -z "$(code up)" ] && [ ! -s up ] || fail "update with nothing published: $(cat up.err)"
ok
# The release roots (nothing: the root was never rotated) and the tamper
# report, by the same route as over HTTPS: a statement that is none is
# refused, and a bootstrap certificate reaches neither.
cc op1.pem op1.key roots "$U/v1/roots"
[ -z "$(code roots)" ] && [ ! -s roots ] || fail "roots: $(cat roots.err)"
logged "coaps GET /v1/roots peer=SN-0001 -> 2.05"
cc op1.pem op1.key tm -m post -t 50 -e '{"payloadType":"x"}' "$U/v1/tamper"
[ "$(code tm)" = 4.00 ] || fail "a tamper report that is none: $(cat tm.err)"
[ "$(reg .tamper device show SN-0001)" = null ] || fail "SN-0001 marked tampered"
cc boot-SN-0003.pem boot-SN-0003.key btm -m post -t 50 -e '{}' "$U/v1/tamper"
[ "$(code btm)" = 4.03 ] || fail "bootstrap tamper report: $(cat btm.err)"
ok

# The fleet CRL, for the agent's check of fleetsecd's certificate: what
# openssl reads as the issuing CA's current CRL.
cc op1.pem op1.key crl "$U/crl"
openssl crl -inform DER -in crl -CAfile "$ISS" -noout 2>crl.v && grep -q "verify OK" crl.v ||
	fail "/crl over CoAPs: $(cat crl.err crl.v)"
[ "$(date -d "$(openssl crl -inform DER -in crl -noout -nextupdate | cut -d= -f2)" +%s)" -gt \
	"$(date +%s)" ] || fail "/crl over CoAPs is not current"
ok
# Paths HTTPS serves but the CoAP table does not name reach no route.
cc op1.pem op1.key ea "$U/v1/emqx/authn" -m post -t 50 -f rp.csr
[ "$(code ea)" = 4.04 ] || fail "/v1/emqx/authn over CoAPs: $(cat ea.err)"
cc op1.pem op1.key se "$U/.well-known/est/simpleenroll" -m post -t 286 -f rp.csr
[ "$(code se)" = 4.04 ] || fail "simpleenroll over CoAPs: $(cat se.err)"
ok

# ---- sren: renewal, and the resend of a lost answer ----
subj=$(openssl x509 -in op1.pem -noout -subject -nameopt compat | sed 's/^subject=//')
der_csr op2.key "$subj" op2.csr
cc op1.pem op1.key op2.p7 -m post -t 286 -f op2.csr "$EST/sren"
openssl pkcs7 -inform DER -in op2.p7 -print_certs -out op2.pem 2>/dev/null || fail "sren: $(cat op2.p7.err)"
openssl verify -CAfile "$ROOT" -untrusted "$ISS" op2.pem >/dev/null || fail "sren does not verify"
diff <(openssl x509 -in op2.pem -noout -pubkey) <(openssl pkey -in op2.key -pubout) >/dev/null ||
	fail "the renewed certificate is not for the new key"
ok
# The answer was lost: the device retries with the certificate it replaced
# and a CSR signed by the new key, and gets the same certificate again.
openssl req -new -key op2.key -subj "$subj" -outform DER -out op2r.csr
cc op1.pem op1.key op2r.p7 -m post -t 286 -f op2r.csr "$EST/sren"
openssl pkcs7 -inform DER -in op2r.p7 -print_certs -out op2r.pem 2>/dev/null || fail "resend: $(cat op2r.p7.err)"
diff <(openssl x509 -in op2r.pem -noout -fingerprint) <(openssl x509 -in op2.pem -noout -fingerprint) \
	>/dev/null || fail "the resend is not the certificate issued"
ok
# The replaced certificate reaches nothing else.
cc op1.pem op1.key sup "$U/v1/update"
[ "$(code sup)" = 4.03 ] && grep -q superseded sup.err || fail "superseded on the API: $(cat sup.err)"
ok

# ---- firmware over Block2 ----
# A release for thermo (SN-0001's model): the manifest over /v1/update, the
# image over /v1/firmware/SHA256 in 1,024-byte blocks, byte for byte, and
# any block on its own (a transfer cut and resumed).
device_slots
online_key
sign_image v2 2.0.0 2
"$F" release create --model thermo --image v2.img --chunk-size 65536 --sequence 5 --out manifest.json
"$F" release sign --key online.pem --delegation deleg.json manifest.json --out release.json
"$F" release publish --model thermo --bundle release.json --image v2.img --root root.pub >/dev/null
"$F" release timestamp --model thermo --key online.pem --delegation deleg.json --root root.pub >/dev/null
SHA=$(sha256sum v2.img | cut -c1-64)
cc op2.pem op2.key man "$U/v1/update"
curl -sS --cacert "$ROOT" --cert op2.pem --key op2.key -o man.https "$URL/v1/update"
[ -z "$(code man)" ] && [ -s man ] && cmp -s man man.https ||
	fail "the manifest over CoAPs is not the one HTTPS serves: $(cat man.err; head -c 300 man)"
ok
cc op2.pem op2.key fw.bin -b 1024 "$U/v1/firmware/$SHA"
cmp fw.bin v2.img || fail "the image over Block2 differs ($(stat -c %s fw.bin) bytes; $(cat fw.bin.err | head -3))"
ok
# coap-client -b NUM,SIZE asks for block NUM alone (a fresh request, as a
# device resuming after a cut sends): any block is answered on its own.
last=$((($(stat -c %s v2.img) - 1) / 1024))
for n in 100 $last; do
	cc op2.pem op2.key fw.$n -b $n,1024 "$U/v1/firmware/$SHA"
	cmp fw.$n <(slice v2.img $((n * 1024)) 1024) ||
		fail "block $n of the image differs ($(stat -c %s fw.$n) bytes; $(head -3 fw.$n.err))"
done
ok
# Another model's image, and one never published, are not this device's.
cc op2.pem op2.key nf "$U/v1/firmware/$(printf '0%.0s' $(seq 64))"
[ "$(code nf)" = 4.04 ] || [ "$(code nf)" = 4.03 ] || fail "an unpublished image: $(cat nf.err)"
ok
# A bootstrap certificate reaches no firmware.
cc boot-SN-0002.pem boot-SN-0002.key bf "$U/v1/firmware/$SHA"
[ "$(code bf)" = 4.03 ] || fail "firmware for a bootstrap certificate: $(cat bf.err)"
ok

# ---- handshake refusals ----
# No client certificate.
rm -f nc
timeout 30 $CC -B 10 -R "$ROOT" -o nc "$EST/crts" >nc.err 2>&1 || true
[ ! -s nc ] && grep -q "handshake failure" nc.err || fail "no client certificate: $(cat nc.err)"
ok
served "a client without a certificate"
# A certificate from another CA (same names, other key).
cc rogue.pem rogue.key rg "$EST/crts"
[ ! -s rg ] && grep -q "unknown ca" rg.err || fail "another CA: $(cat rg.err)"
ok
served "a certificate from another CA"

# A revoked device: refused at its next request on an established session
# (coap-client -G repeats the request on one session), and the session is
# closed; then refused at the handshake.
der_csr op3.key "/CN=x" op3.csr
cc boot-SN-0003.pem boot-SN-0003.key op3.p7 -m post -t 286 -f op3.csr "$EST/sen"
openssl pkcs7 -inform DER -in op3.p7 -print_certs -out op3.pem 2>/dev/null || fail "SN-0003: $(cat op3.p7.err)"
timeout 60 $CC -B 30 -G 6 -c op3.pem -j op3.key -R "$ROOT" "$U/v1/update" >rv.out 2>&1 &
rvpid=$!
for _ in $(seq 100); do
	grep -q "coaps GET /v1/update peer=SN-0003 -> 2.05" "$T/daemon.log" && break
	sleep 0.1
done
grep -q "coaps GET /v1/update peer=SN-0003 -> 2.05" "$T/daemon.log" || fail "SN-0003's session: $(cat rv.out)"
"$F" device revoke SN-0003 --reason keyCompromise >/dev/null
wait $rvpid || true
logged "coaps GET /v1/update peer=SN-0003(refused) -> 4.03 device SN-0003 is revoked"
grep -q "^4.03" rv.out || fail "the established session was not refused: $(cat rv.out)"
ok
[ "$(grep -c 'peer=SN-0003(refused)' "$T/daemon.log")" = 1 ] ||
	fail "the revoked session was not closed after its refusal: $(grep SN-0003 "$T/daemon.log")"
ok
cc op3.pem op3.key rh "$U/v1/update"
[ ! -s rh ] && grep -q "bad certificate" rh.err || fail "revoked at the handshake: $(cat rh.err)"
logged "coaps handshake refused: device SN-0003 is revoked"
served "a revoked device"

# ---- plaintext CoAP ----
# Nothing listens on 5683 or on the listener's port + 1, and the DTLS port
# answers no plaintext request.
for p in 5683 $((CPORT - 1)) $CPORT; do
	rm -f pt
	timeout 20 coap-client-notls -B 3 -o pt "coap://127.0.0.1:$p/.well-known/core" >pt.err 2>&1 || true
	[ ! -s pt ] || fail "plaintext coap on port $p answered: $(cat pt)"
done
[ "$(ss -Hlunp | grep -c "pid=$FLEETSECD_PID,")" = 1 ] ||
	fail "fleetsecd has other UDP sockets: $(ss -Hlunp | grep "pid=$FLEETSECD_PID,")"
ok
served "plaintext CoAP"

# ---- a malformed datagram ----
printf '\xff\x00garbage' >/dev/udp/127.0.0.1/$CPORT
head -c 300 /dev/urandom >/dev/udp/127.0.0.1/$CPORT
served "malformed datagrams"

# ---- a session flood from one address (max_per_source = 2) ----
pids=()
before=$(grep -c 'coaps GET /v1/update peer=SN-0001 -> 2.05' "$T/daemon.log" || true)
for i in 1 2; do
	timeout 60 $CC -B 20 -G 8 -c op2.pem -j op2.key -R "$ROOT" "$U/v1/update" >fl$i.out 2>&1 &
	pids+=($!)
done
for _ in $(seq 100); do
	[ "$(grep -c 'coaps GET /v1/update peer=SN-0001 -> 2.05' "$T/daemon.log")" -ge $((before + 2)) ] &&
		break
	sleep 0.1
done
cc boot-SN-0002.pem boot-SN-0002.key fl3 "$EST/crts"
[ ! -s fl3 ] || fail "a third session from one address was admitted"
logged "coaps handshake refused: too many sessions from this source"
# Sessions that end (coap-client closes its DTLS session when done) give
# their source's places back: the address is served again.
wait "${pids[@]}" 2>/dev/null || true
served "a session flood"

# /metrics counts CoAPs answers by endpoint and CoAP code, as the log shows
# them: the status reports answered 2.04, the bootstrap refused at update.
curl -sS "http://127.0.0.1:$APORT/metrics" >metrics || fail "no metrics"
want=$(grep -c "coaps POST /v1/status peer=SN-0001 -> 2.04" "$T/daemon.log")
grep -qx "fleetsecd_coaps_requests_total{endpoint=\"status\",code=\"2.04\"} $want" metrics ||
	fail "CoAPs status reports in /metrics ($want in the log): $(grep coaps metrics)"
grep -q '^fleetsecd_coaps_requests_total{endpoint="update",code="4.03"} [1-9]' metrics ||
	fail "CoAPs refusals in /metrics: $(grep coaps metrics)"
# A resource is counted as the endpoint it answers for (crts is cacerts),
# and a path the CoAP table does not serve as other.
grep -q '^fleetsecd_coaps_requests_total{endpoint="cacerts",code="2.05"} [1-9]' metrics &&
	grep -q '^fleetsecd_coaps_requests_total{endpoint="other",code="4.04"} [1-9]' metrics ||
	fail "CoAPs endpoints in /metrics: $(grep coaps metrics)"
ok

kill "$FLEETSECD_PID"
wait "$FLEETSECD_PID" 2>/dev/null || true

# A server key libcoap cannot read (it reads PEM files only; here DER, as
# for a key in a TPM it would be a store URI): fleetsecd loads it, libcoap
# gets a stand-in it never sends, and devices are served as before.
openssl pkey -in "$FLEETSEC_HOME/server.key" -outform DER -out "$FLEETSEC_HOME/server.der"
chmod 600 "$FLEETSEC_HOME/server.der"
CPORT=$(rand_port)
fleetsecd_start --coaps 127.0.0.1:$CPORT --key "$FLEETSEC_HOME/server.der"
U=coaps://127.0.0.1:$CPORT
cc boot-SN-0003.pem boot-SN-0003.key der "$U/.well-known/est/crts"
openssl pkcs7 -inform DER -in der -print_certs >/dev/null 2>&1 ||
	fail "no answer with a DER server key: $(cat der.err) $(tail -3 "$T/daemon.log")"
# The certificate the handshake presented is fleetsecd's, not the stand-in.
openssl s_client -dtls1_2 -connect 127.0.0.1:$CPORT -cert boot-SN-0003.pem \
	-key boot-SN-0003.key </dev/null 2>/dev/null | openssl x509 -noout -fingerprint >hs.fp ||
	fail "no DTLS handshake with openssl s_client"
diff hs.fp <(openssl x509 -in "$FLEETSEC_HOME/server.pem" -noout -fingerprint) >/dev/null ||
	fail "the DTLS handshake presented another certificate: $(cat hs.fp)"
ok
done_checks
