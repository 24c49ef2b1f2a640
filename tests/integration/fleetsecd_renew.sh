#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Certificate renewal through the real fleetsecd, and what a superseded
# certificate may still reach. A renewal whose answer is lost leaves the
# device with a certificate the server has superseded and a pending key the
# server has certified: the retry, with that superseded certificate, must get
# the current certificate again (and nothing new), after which the device
# reports as usual. The superseded certificate opens that retry and nothing
# else. A device whose pinned CA file is the fleet root alone (ca = root.pem)
# enrols and renews too: the issuing CA comes from the server's cacerts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
cd "$T"
F=$FLEETSEC

"$F" ca init --name "Renew Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
for sn in SN-R1 SN-R2; do
	"$F" mfr issue $sn --dir mfr --key-out boot-$sn.key --out boot-$sn.pem 2>/dev/null
done
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-R*' --model thermo >/dev/null
device_slots
mkdir state
fleetsecd_bounds_off
fleetsecd_start
EST=$URL/.well-known/est

A() { "$AGENT" -c agent.conf "$@"; }
# req CERT KEY [CURL ARGS...]: an HTTP status from fleetsecd, body in out.
req() {
	local cert=$1 key=$2
	shift 2
	curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert "$cert" --key "$key" -o out \
		-w '%{http_code}' "$@"
}
# b64csr KEY SUBJECT: a base64 DER PKCS#10 for KEY (made by openssl).
b64csr() { openssl req -new -key "$1" -subj "$2" -outform DER 2>/dev/null | openssl base64; }
# subject CERT: the certificate's subject as openssl req -subj takes it.
subject() { openssl x509 -in "$1" -noout -subject -nameopt compat | sed 's/^subject=//'; }
# lose_renewal ID: a renewal whose answer never arrives. The agent had
# written its pending key; the server renewed (superseding dev.pem); curl
# makes that request and drops the answer.
lose_renewal() {
	local code
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dev.key.pending 2>/dev/null
	chmod 600 dev.key.pending
	cp dev.key.pending pending.orig
	b64csr dev.key.pending "$(subject dev.pem)" >lost.b64
	code=$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert dev.pem --key dev.key \
		-H 'Content-Type: application/pkcs10' --data-binary @lost.b64 -o /dev/null \
		-w '%{http_code}' "$EST/simplereenroll")
	[ "$code" = 200 ] || fail "the renewal to be lost answered $code"
	# Now the device's certificate is superseded.
	[ "$(req dev.pem dev.key "$URL/v1/update")" = 403 ] && grep -q superseded out ||
		fail "the lost renewal did not supersede $1's certificate: $(cat out)"
	ok
}

# SN-R1 enrols with the fleet chain pinned, as the other tests do.
agent_conf "$URL" bootstrap_key="$T/boot-SN-R1.key" bootstrap_cert="$T/boot-SN-R1.pem"
expect 0 A enroll
grep -q "enrolled as SN-R1" out || fail "enroll: $(cat out)"
is_current SN-R1 dev.pem
expect 0 A report
cp dev.pem first.pem
cp dev.key first.key

# 1. A lost renewal answer, then the agent's next `renew`: not due by date,
# but the pending key says a request is unanswered, so it asks now, with
# the superseded certificate, and gets the current certificate again.
lose_renewal SN-R1
n=$(ncerts SN-R1)
expect 0 A renew
grep -q "renewed the certificate of SN-R1" out || fail "renew after a lost answer: $(cat out)"
cmp -s dev.key pending.orig && [ ! -e dev.key.pending ] || fail "the retry did not use the pending key"
is_current SN-R1 dev.pem
[ "$(ncerts SN-R1)" = "$n" ] || fail "the retry issued a new certificate instead of re-sending"
grep -q "re-sent" daemon.log || fail "fleetsecd did not log a re-send: $(tail -3 daemon.log)"
expect 0 A report
grep -q "reported to the server" out || fail "report: $(cat out)"
# With nothing pending, a fresh certificate is not due again.
expect 0 A renew
grep -q "not due" out || fail "renew with nothing pending: $(cat out)"
ok

# 2. The same with `renew --force`.
cp dev.pem second.pem
cp dev.key second.key
lose_renewal SN-R1
n=$(ncerts SN-R1)
expect 0 A renew --force --json
grep -q '"renewed": true' out || fail "renew --force after a lost answer: $(cat out)"
cmp -s dev.key pending.orig || fail "renew --force did not use the pending key"
is_current SN-R1 dev.pem
[ "$(ncerts SN-R1)" = "$n" ] || fail "renew --force issued again instead of re-sending"
expect 0 A report
ok

# 3. What a superseded certificate still reaches: the re-send, for the
# current key only; nothing else, with the same 403 and reason as before.
sha=$(printf '%064d' 0)
for url in "$URL/v1/update" "$URL/v1/firmware/$sha" "$EST/csrattrs"; do
	code=$(req second.pem second.key "$url")
	[ "$code" = 403 ] && grep -q "no longer device SN-R1's (superseded)" out ||
		fail "superseded certificate on $url: HTTP $code: $(cat out)"
	ok
done
echo '{"version": "1.0.0", "security_counter": 1}' >status.json
code=$(req second.pem second.key -H 'Content-Type: application/json' --data-binary @status.json \
	"$URL/v1/status")
[ "$code" = 403 ] && grep -q superseded out || fail "superseded certificate on /v1/status: $code"
ok
b64csr second.key "$(subject second.pem)" >old-key.b64
code=$(req second.pem second.key --data-binary @old-key.b64 "$EST/simpleenroll")
[ "$code" = 403 ] && grep -q superseded out || fail "superseded certificate on simpleenroll: $code"
ok
# The re-send needs the current key's CSR: the superseded certificate's own
# key (a thief's) or a fresh key get nothing, and nothing is issued.
n=$(ncerts SN-R1)
code=$(req second.pem second.key --data-binary @old-key.b64 "$EST/simplereenroll")
[ "$code" = 403 ] && grep -q superseded out ||
	fail "superseded certificate renewing for its own key: HTTP $code: $(cat out)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out fresh.key 2>/dev/null
b64csr fresh.key "$(subject second.pem)" >fresh.b64
code=$(req second.pem second.key --data-binary @fresh.b64 "$EST/simplereenroll")
[ "$code" = 403 ] && grep -q superseded out ||
	fail "superseded certificate renewing for a new key: HTTP $code: $(cat out)"
[ "$(ncerts SN-R1)" = "$n" ] || fail "a superseded certificate got a certificate issued"
ok
# An older superseded certificate asks with the current key's CSR: that is
# the re-send, and it is the current certificate.
b64csr dev.key "$(subject dev.pem)" >cur.b64
code=$(req first.pem first.key --data-binary @cur.b64 "$EST/simplereenroll")
[ "$code" = 200 ] || fail "re-send to an older superseded certificate: HTTP $code: $(cat out)"
openssl base64 -d -in out | openssl pkcs7 -inform DER -print_certs >resent.pem
is_current SN-R1 resent.pem
[ "$(ncerts SN-R1)" = "$n" ] || fail "the re-send issued"
# The current certificate itself is served as before.
[ "$(req dev.pem dev.key "$URL/v1/update")" = 204 ] || fail "current certificate: $(cat out)"
ok

# 4. ca = root.pem: the agent pins the fleet root only. Enrollment and
# renewal still check the new certificate up to that root, with the issuing
# CA from cacerts.
agent_conf "$URL" ca="$FLEETSEC_HOME/root.pem" key="$T/r2.key" cert="$T/r2.pem" \
	bootstrap_key="$T/boot-SN-R2.key" bootstrap_cert="$T/boot-SN-R2.pem"
expect 0 A enroll
grep -q "enrolled as SN-R2" out || fail "enroll with ca = root.pem: $(cat out)"
is_current SN-R2 r2.pem
cp r2.pem r2-old.pem
expect 0 A renew --force
grep -q "renewed the certificate of SN-R2" out || fail "renew --force with ca = root.pem: $(cat out)"
! cmp -s r2.pem r2-old.pem || fail "renew --force kept the certificate"
[ ! -e r2.key.pending ] || fail "a pending key was left behind"
is_current SN-R2 r2.pem
expect 0 A report
ok
# 5. A revoked device's superseded certificate gets nothing, not even the
# re-send.
"$F" device revoke SN-R1 --reason keyCompromise >/dev/null
code=$(req first.pem first.key --data-binary @cur.b64 "$EST/simplereenroll")
[ "$code" = 403 ] && grep -q "SN-R1 is revoked" out ||
	fail "a revoked device's superseded certificate: HTTP $code: $(cat out)"
ok
# 6. The device is given a new certificate after the compromise. The
# certificate that was current when it was revoked for key compromise is not
# merely superseded by the reissue: it stays revoked, reaches no re-send,
# and its refusal says so, even with the new key's CSR.
"$F" device issue SN-R1 --keygen --key-out new.key --out new.pem --reissue >/dev/null
n=$(ncerts SN-R1)
b64csr new.key "$(subject new.pem)" >new.b64
code=$(req dev.pem dev.key --data-binary @new.b64 "$EST/simplereenroll")
[ "$code" = 403 ] && grep -q "of device SN-R1 is revoked" out ||
	fail "a certificate revoked for key compromise, after a reissue: HTTP $code: $(cat out)"
code=$(req dev.pem dev.key "$URL/v1/update")
[ "$code" = 403 ] && grep -q "of device SN-R1 is revoked" out ||
	fail "a compromised certificate on /v1/update: HTTP $code: $(cat out)"
[ "$(ncerts SN-R1)" = "$n" ] || fail "a compromised certificate got a certificate issued"
[ "$(req new.pem new.key "$URL/v1/update")" = 204 ] || fail "the reissued certificate: $(cat out)"
ok

done_checks
