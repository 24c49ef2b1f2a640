#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issuing CA rotation (`fleetsec ca rotate`), judged by openssl verify and
# openssl crl: a root key that is not the root's is refused and the home is
# left byte for byte as it was; after a rotation new device and server
# certificates chain to root + new issuing CA, a device holding a
# certificate from the old CA still verifies and still connects to the real
# fleetsecd (no restart), and its renewal through fleetsec-agent moves it to
# the new CA. crl.pem and /crl carry one CRL per issuing CA, each signed by
# its CA, and a revoked old-CA device is on the old CA's CRL, so that
# openssl verify -crl_check refuses it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
cd "$T"
F=$FLEETSEC
H=$FLEETSEC_HOME

"$F" ca init --name "Rotate Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
device_slots
"$F" device issue SN-C1 --keygen --key-out dev.key --out dev.pem --model thermo >/dev/null 2>&1
"$F" device issue SN-C2 --keygen --key-out c2.key --out c2.pem --model thermo >/dev/null 2>&1
cp dev.pem c1-old.pem
printf 'renew_after_percent = 0\nrenewals_per_day = 1000\n' >>"$H/fleetsecd.conf"

# subj CERT / issuer CERT: as openssl prints them.
subj() { openssl x509 -in "$1" -noout -subject | sed 's/^subject=//'; }
issuer() { openssl x509 -in "$1" -noout -issuer | sed 's/^issuer=//'; }
# verify_with ISSUING CERT: CERT verifies up to the fleet root with ISSUING
# as the one intermediate.
verify_with() {
	openssl verify -purpose sslclient -CAfile "$H/root.pem" -untrusted "$1" "$2" >/dev/null 2>&1
}
# split_crls FILE PREFIX: each PEM CRL of FILE into PREFIX-0, PREFIX-1, ...
split_crls() {
	awk -v p="$2" '/-----BEGIN X509 CRL-----/ { f = p "-" n++ } f { print > f }' "$1"
}
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f'; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }

# 1. Refusals: a stranger's key, and the issuing CA's key, are not the
# root's. One line, exit 1, and the home unchanged byte for byte.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out stranger.key 2>/dev/null
# registry.db-shm is SQLite's shared index of the WAL, rewritten by every
# reader (writers keep it, for the read-only MQTT plugin): not the home's data.
cp -a "$H" home.before
for k in stranger.key "$H/issuing.key"; do
	expect 1 "$F" ca rotate --root-key "$k"
	one_line_error "is not the key of the fleet's root CA"
	diff -r -x registry.db-shm home.before "$H" >/dev/null || fail "a refused rotation ($k) changed the home: $(diff -rq -x registry.db-shm home.before "$H")"
	ok
done
expect 1 "$F" ca rotate --root-key missing.key
one_line_error "missing.key"
diff -r -x registry.db-shm home.before "$H" >/dev/null || fail "a missing root key changed the home"
expect 2 "$F" ca rotate
one_line_error "--root-key"
ok

fleetsecd_start
A() { "$AGENT" -c agent.conf "$@"; }
# The agent pins the fleet root only: the issuing CAs come from /cacerts,
# and it checks fleetsecd against /crl (server_crl's default).
agent_conf "$URL" ca="$H/root.pem"
expect 0 A report
grep -q "reported to the server" out || fail "report before the rotation: $(cat out)"

# 2. The rotation.
expect 0 "$F" ca rotate --root-key "$H/root.key" --json
jq -e '.role == "issuing" and .status == "current" and .file == "issuing-2.pem"' out >/dev/null ||
	fail "ca rotate --json: $(cat out)"
[ "$(jq -r .fingerprint out)" = "$(fp "$H/issuing-2.pem")" ] || fail "the fingerprint printed is not issuing-2.pem's"
[ "$(stat -c %a "$H/issuing-2.key")" = 600 ] || fail "issuing-2.key is not 0600"
verify_with "$H/issuing-2.pem" "$H/issuing-2.pem" 2>/dev/null ||
	openssl verify -CAfile "$H/root.pem" "$H/issuing-2.pem" >/dev/null || fail "the new issuing CA does not chain to the root"
[ "$(subj "$H/issuing-2.pem")" != "$(subj "$H/issuing.pem")" ] || fail "the two issuing CAs share a subject"
ok
# ca show lists root, current and previous, with openssl's fingerprints.
expect 0 "$F" ca show --json
jq -e 'length == 3 and .[0].role == "root" and .[1].status == "current" and
	.[1].file == "issuing-2.pem" and .[2].status == "previous" and .[2].file == "issuing.pem"' out >/dev/null ||
	fail "ca show --json: $(cat out)"
[ "$(jq -r '.[2].fingerprint' out)" = "$(fp "$H/issuing.pem")" ] &&
	[ "$(jq -r '.[0].fingerprint' out)" = "$(fp "$H/root.pem")" ] || fail "ca show fingerprints: $(cat out)"
[ "$(jq -r '.[1].serial' out)" = "$(serial "$H/issuing-2.pem")" ] || fail "ca show serial: $(cat out)"
expect 0 "$F" ca show
grep -q "previous, still in use" out || fail "ca show: $(cat out)"
# The event log has it.
[ "$(reg '[.[] | select(.action == "ca-rotate")] | length' registry events)" = 1 ] ||
	fail "no ca-rotate event: $("$F" registry events)"
ok
# chain.pem and /cacerts: both issuing CAs and the root.
[ "$(grep -c 'BEGIN CERTIFICATE' "$H/chain.pem")" = 3 ] || fail "chain.pem: $(grep -c 'BEGIN CERTIFICATE' "$H/chain.pem") certificates"
curl -sS --cacert "$H/root.pem" "$URL/.well-known/est/cacerts" | openssl base64 -d |
	openssl pkcs7 -inform DER -print_certs >cacerts.pem
for c in root.pem issuing.pem issuing-2.pem; do
	grep -qF "$(sed -n 2p "$H/$c")" cacerts.pem || fail "/cacerts lacks $c"
done
ok

# 3. New certificates come from the new CA.
"$F" device issue SN-N1 --keygen --key-out n1.key --out n1.pem --model thermo >/dev/null 2>&1
verify_with "$H/issuing-2.pem" n1.pem || fail "a new device certificate does not verify with root + new CA"
! verify_with "$H/issuing.pem" n1.pem || fail "a new device certificate verifies with the old CA"
[ "$(issuer n1.pem)" = "$(subj "$H/issuing-2.pem")" ] || fail "n1.pem's issuer: $(issuer n1.pem)"
# The running fleetsecd trusts the new CA already: no restart, no SIGHUP.
code=$(curl -sS --cacert "$H/root.pem" --cert n1.pem --key n1.key -o /dev/null -w '%{http_code}' "$URL/v1/update")
[ "$code" = 204 ] || fail "fleetsecd refuses a new-CA certificate before any reload: HTTP $code"
"$F" ca server-cert --renew >/dev/null
openssl verify -purpose sslserver -CAfile "$H/root.pem" -untrusted "$H/issuing-2.pem" "$H/server.pem" >/dev/null ||
	fail "the renewed server certificate does not verify with root + new CA"
fleetsecd_reload
got=$(openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$H/root.pem" </dev/null 2>/dev/null |
	openssl x509 -noout -serial | cut -d= -f2)
[ "$got" = "$(serial "$H/server.pem")" ] || fail "fleetsecd serves serial '$got', not the renewed certificate's"
ok

# 4. The old CA's device still verifies, and fleetsecd still takes it: the
# agent (which checks fleetsecd's new certificate against the CRL set from
# /crl) reports, and curl with that certificate is served.
verify_with "$H/issuing.pem" dev.pem || fail "the old device certificate no longer verifies"
expect 0 A report
grep -q "reported to the server" out || fail "an old-CA device after the rotation: $(cat out)"
code=$(curl -sS --cacert "$H/root.pem" --cert c2.pem --key c2.key -o /dev/null -w '%{http_code}' "$URL/v1/update")
[ "$code" = 204 ] || fail "fleetsecd refuses an old-CA certificate: HTTP $code"
ok

# 5. Renewal moves the device to the new CA.
expect 0 A renew --force
grep -q "renewed the certificate of SN-C1" out || fail "renew: $(cat out)"
[ "$(issuer dev.pem)" = "$(subj "$H/issuing-2.pem")" ] || fail "the renewed certificate's issuer: $(issuer dev.pem)"
verify_with "$H/issuing-2.pem" dev.pem || fail "the renewed certificate does not verify with root + new CA"
[ "$(certid dev.pem)" = "$(current SN-C1)" ] || fail "the renewed certificate is not SN-C1's current one"
expect 0 A report
ok

# 6. The CRLs: one per issuing CA, the current one first, each signed by
# its CA, one CRL number. /crl serves them all as PEM.
[ "$(grep -c 'BEGIN X509 CRL' "$H/crl.pem")" = 2 ] || fail "crl.pem holds $(grep -c 'BEGIN X509 CRL' "$H/crl.pem") CRLs"
split_crls "$H/crl.pem" crl
openssl crl -in crl-0 -noout -verify -CAfile "$H/issuing-2.pem" 2>&1 | grep -q "verify OK" ||
	fail "the first CRL is not signed by the new CA"
openssl crl -in crl-1 -noout -verify -CAfile "$H/issuing.pem" 2>&1 | grep -q "verify OK" ||
	fail "the second CRL is not signed by the old CA"
[ "$(openssl crl -in crl-0 -noout -crlnumber)" = "$(openssl crl -in crl-1 -noout -crlnumber)" ] ||
	fail "the CRLs carry different numbers"
curl -sS --cacert "$H/root.pem" -D headers -o served.crl "$URL/crl"
grep -qi '^content-type: application/x-pem-file' headers || fail "/crl: $(cat headers)"
[ "$(grep -c 'BEGIN X509 CRL' served.crl)" = 2 ] || fail "/crl serves $(grep -c 'BEGIN X509 CRL' served.crl) CRLs"
ok
# The renewal superseded SN-C1's old certificate: fleetsecd signs the CRL
# set off the request path; then it is on the old CA's CRL only.
s1=$(serial c1-old.pem)
for _ in $(seq 100); do
	openssl crl -in "$H/crl.pem" -noout -text 2>/dev/null | grep -q "Serial Number: $s1" && break
	sleep 0.1
done
rm -f crl-*
split_crls "$H/crl.pem" crl
[ "$(grep -c 'BEGIN X509 CRL' "$H/crl.pem")" = 2 ] || fail "fleetsecd published $(grep -c 'BEGIN X509 CRL' "$H/crl.pem") CRLs"
openssl crl -in crl-1 -noout -text | grep -q "Serial Number: $s1" || fail "the superseded old-CA certificate is not on the old CA's CRL"
! openssl crl -in crl-0 -noout -text | grep -q "Serial Number: $s1" || fail "the old CA's certificate is on the new CA's CRL"
ok

# 7. Revoking the old-CA device SN-C2: on the old CA's CRL, and
# openssl verify -crl_check refuses it, while the new device passes.
"$F" device revoke SN-C2 --reason keyCompromise >/dev/null
rm -f crl-*
split_crls "$H/crl.pem" crl
s2=$(serial c2.pem)
openssl crl -in crl-1 -noout -text | grep -q "Serial Number: $s2" || fail "SN-C2 is not on the old CA's CRL"
! openssl crl -in crl-0 -noout -text | grep -q "Serial Number: $s2" || fail "SN-C2 is on the new CA's CRL"
cat "$H/root.pem" "$H/issuing.pem" "$H/issuing-2.pem" >cas.pem
if openssl verify -crl_check -CAfile cas.pem -CRLfile "$H/crl.pem" c2.pem >verify.out 2>&1; then
	fail "openssl verify -crl_check accepts the revoked old-CA device"
fi
grep -q "certificate revoked" verify.out || fail "c2.pem refused for another reason: $(cat verify.out)"
openssl verify -crl_check -CAfile cas.pem -CRLfile "$H/crl.pem" n1.pem dev.pem >/dev/null ||
	fail "openssl verify -crl_check refuses the new-CA certificates"
code=$(curl -sS --cacert "$H/root.pem" --cert c2.pem --key c2.key -o /dev/null -w '%{http_code}' "$URL/v1/update")
[ "$code" = 403 ] || fail "fleetsecd serves the revoked old-CA device: HTTP $code"
ok

# 8. A second rotation keeps both earlier CAs as previous ones.
expect 0 "$F" ca rotate --root-key "$H/root.key"
expect 0 "$F" ca show --json
jq -e 'length == 4 and .[1].file == "issuing-3.pem" and .[2].file == "issuing-2.pem" and
	.[3].file == "issuing.pem"' out >/dev/null || fail "ca show after two rotations: $(cat out)"
[ "$(grep -c 'BEGIN X509 CRL' "$H/crl.pem")" = 3 ] || fail "crl.pem after two rotations"
expect 0 A report
ok

done_checks
