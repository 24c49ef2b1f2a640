#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Root CA rollover (`fleetsec ca rollover`), judged by openssl verify,
# openssl s_client and openssl crl: a key that is not the current root's is
# refused and the home is left byte for byte as it was; after a rollover
# the cross certificates link the two roots both ways (RFC 4210
# NewWithOld, OldWithNew), a new device certificate verifies against the
# old root through NewWithOld and against the new root directly, an old
# one against the new root through OldWithNew; after `ca server-cert
# --renew` and SIGHUP, an agent that pins the old root only still reaches
# the real fleetsecd, reports, and renews onto the new root's issuing CA.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
cd "$T"
F=$FLEETSEC
H=$FLEETSEC_HOME

"$F" ca init --name "Roll Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
device_slots
"$F" device issue SN-R1 --keygen --key-out dev.key --out dev.pem --model thermo >/dev/null 2>&1
"$F" device issue SN-R2 --keygen --key-out old.key --out old.pem --model thermo >/dev/null 2>&1
printf 'renew_after_percent = 0\nrenewals_per_day = 1000\n' >>"$H/fleetsecd.conf"

subj() { openssl x509 -in "$1" -noout -subject | sed 's/^subject=//'; }
issuer() { openssl x509 -in "$1" -noout -issuer | sed 's/^issuer=//'; }
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f'; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
pub() { openssl x509 -in "$1" -noout -pubkey; }
# verify ROOT CERT [UNTRUSTED...]: CERT verifies as a TLS client up to
# ROOT, the one trust anchor, through the untrusted certificates given.
verify() {
	local root=$1 cert=$2 u=()
	shift 2
	for c in "$@"; do u+=(-untrusted "$c"); done
	openssl verify -purpose sslclient -CAfile "$root" "${u[@]}" "$cert" >/dev/null 2>&1
}

# 1. Refusals: a stranger's key and the issuing CA's key are not the
# root's. One line, exit 1, and the home unchanged byte for byte.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out stranger.key 2>/dev/null
# registry.db-shm is SQLite's shared index of the WAL, rewritten by every
# reader (writers keep it, for the read-only MQTT plugin): not the home's data.
cp -a "$H" home.before
for k in stranger.key "$H/issuing.key"; do
	expect 1 "$F" ca rollover --root-key "$k"
	one_line_error "is not the key of the fleet's root CA"
	diff -r -x registry.db-shm home.before "$H" >/dev/null || fail "a refused rollover ($k) changed the home: $(diff -rq -x registry.db-shm home.before "$H")"
	ok
done
expect 2 "$F" ca rollover
one_line_error "--root-key"
expect 2 "$F" ca rollover --root-key "$H/root.key" --issuing-days 0
diff -r -x registry.db-shm home.before "$H" >/dev/null || fail "a usage error changed the home"
ok

fleetsecd_start
A() { "$AGENT" -c agent.conf "$@"; }
# The agent pins the first root only, as a device from the factory does.
cp "$H/root.pem" pinned-root.pem
agent_conf "$URL" ca="$T/pinned-root.pem"
expect 0 A report
grep -q "reported to the server" out || fail "report before the rollover: $(cat out)"
ok

# 2. The rollover.
expect 0 "$F" ca rollover --root-key "$H/root.key" --json
jq -e '.root.role == "root" and .root.status == "current" and .root.file == "root-2.pem" and
	.issuing.status == "current" and .issuing.file == "issuing-2.pem" and
	(.root_key | endswith("/root-2.key"))' out >/dev/null || fail "ca rollover --json: $(cat out)"
[ "$(jq -r .root.fingerprint out)" = "$(fp "$H/root-2.pem")" ] || fail "the fingerprint printed is not root-2.pem's"
[ "$(stat -c %a "$H/root-2.key")" = 600 ] || fail "root-2.key is not 0600"
[ "$(openssl pkey -in "$H/root-2.key" -pubout)" = "$(pub "$H/root-2.pem")" ] || fail "root-2.key is not root-2.pem's key"
[ "$(subj "$H/root-2.pem")" != "$(subj "$H/root.pem")" ] || fail "the two roots share a subject"
[ "$(subj "$H/root-2.pem")" = "$(issuer "$H/root-2.pem")" ] || fail "root-2.pem is not self-signed"
openssl verify -CAfile "$H/root-2.pem" "$H/root-2.pem" >/dev/null || fail "root-2.pem does not verify as a root"
ok
# The cross certificates: NewWithOld is the new root's name and key under
# the old root; OldWithNew the reverse. Both CAs.
nwo=$H/cross-2-new-with-old.pem own=$H/cross-2-old-with-new.pem
[ "$(subj "$nwo")" = "$(subj "$H/root-2.pem")" ] && [ "$(pub "$nwo")" = "$(pub "$H/root-2.pem")" ] &&
	[ "$(issuer "$nwo")" = "$(subj "$H/root.pem")" ] || fail "NewWithOld: $(openssl x509 -in "$nwo" -noout -subject -issuer)"
[ "$(subj "$own")" = "$(subj "$H/root.pem")" ] && [ "$(pub "$own")" = "$(pub "$H/root.pem")" ] &&
	[ "$(issuer "$own")" = "$(subj "$H/root-2.pem")" ] || fail "OldWithNew: $(openssl x509 -in "$own" -noout -subject -issuer)"
openssl verify -CAfile "$H/root.pem" "$nwo" >/dev/null || fail "NewWithOld does not verify under the old root"
openssl verify -CAfile "$H/root-2.pem" "$own" >/dev/null || fail "OldWithNew does not verify under the new root"
! openssl verify -CAfile "$H/root-2.pem" "$nwo" >/dev/null 2>&1 || fail "NewWithOld verifies under the new root"
for c in "$nwo" "$own"; do
	openssl x509 -in "$c" -noout -ext basicConstraints | grep -q "CA:TRUE" || fail "$c is not a CA certificate"
done
openssl verify -CAfile "$H/root-2.pem" "$H/issuing-2.pem" >/dev/null || fail "the new issuing CA is not under the new root"
ok
# ca show lists both roots and both issuing CAs; the event log has it.
expect 0 "$F" ca show --json
jq -e 'length == 4 and .[0].role == "root" and .[0].status == "current" and .[0].file == "root-2.pem" and
	.[1].file == "issuing-2.pem" and .[1].status == "current" and
	.[2].file == "issuing.pem" and .[2].status == "previous" and
	.[3].role == "root" and .[3].status == "previous" and .[3].file == "root.pem"' out >/dev/null ||
	fail "ca show --json: $(cat out)"
[ "$(jq -r '.[3].fingerprint' out)" = "$(fp "$H/root.pem")" ] || fail "ca show: the old root's fingerprint"
[ "$(reg '[.[] | select(.action == "ca-rollover")] | length' registry events)" = 1 ] ||
	fail "no ca-rollover event: $("$F" registry events)"
reg '.[] | select(.action == "ca-rollover") | .detail' registry events | grep -q "root=$(fp "$H/root-2.pem")" ||
	fail "the ca-rollover event does not name the new root"
ok
# chain.pem and /cacerts: both roots, both cross certificates, both
# issuing CAs; a chain builder holding only one root finds its way
# through them (openssl verify with /cacerts as the untrusted pool).
[ "$(grep -c 'BEGIN CERTIFICATE' "$H/chain.pem")" = 6 ] || fail "chain.pem: $(grep -c 'BEGIN CERTIFICATE' "$H/chain.pem") certificates"
curl -sS --cacert "$H/root.pem" "$URL/.well-known/est/cacerts" | openssl base64 -d |
	openssl pkcs7 -inform DER -print_certs >cacerts.pem
for c in root.pem root-2.pem issuing.pem issuing-2.pem cross-2-new-with-old.pem cross-2-old-with-new.pem; do
	grep -qF "$(sed -n 2p "$H/$c")" cacerts.pem || fail "/cacerts lacks $c"
done
ok

# 3. New certificates come from the new root's issuing CA; openssl verify
# judges every path.
"$F" device issue SN-N1 --keygen --key-out n1.key --out n1.pem --model thermo >/dev/null 2>&1
[ "$(issuer n1.pem)" = "$(subj "$H/issuing-2.pem")" ] || fail "n1.pem's issuer: $(issuer n1.pem)"
verify "$H/root.pem" n1.pem "$H/issuing-2.pem" "$nwo" || fail "a new certificate does not verify against the old root through NewWithOld"
! verify "$H/root.pem" n1.pem "$H/issuing-2.pem" || fail "a new certificate verifies against the old root without NewWithOld"
verify "$H/root-2.pem" n1.pem "$H/issuing-2.pem" || fail "a new certificate does not verify against the new root"
verify "$H/root-2.pem" old.pem "$H/issuing.pem" "$own" || fail "an old certificate does not verify against the new root through OldWithNew"
! verify "$H/root-2.pem" old.pem "$H/issuing.pem" || fail "an old certificate verifies against the new root without OldWithNew"
verify "$H/root.pem" old.pem "$H/issuing.pem" || fail "an old certificate no longer verifies against the old root"
verify "$H/root.pem" n1.pem cacerts.pem || fail "a new certificate does not verify against the old root with /cacerts as the pool"
verify "$H/root-2.pem" old.pem cacerts.pem || fail "an old certificate does not verify against the new root with /cacerts as the pool"
ok
# The running fleetsecd trusts the new root's devices and still the old
# root's: no restart, no SIGHUP.
for d in n1 old; do
	code=$(curl -sS --cacert "$H/root.pem" --cert $d.pem --key $d.key -o /dev/null -w '%{http_code}' "$URL/v1/update")
	[ "$code" = 204 ] || fail "fleetsecd refuses $d.pem after the rollover: HTTP $code"
done
ok

# 4. fleetsecd's certificate from the new issuing CA, sent with NewWithOld:
# a client holding either root verifies it.
"$F" ca server-cert --renew >/dev/null
[ "$(grep -c 'BEGIN CERTIFICATE' "$H/server.pem")" = 3 ] || fail "server.pem: $(grep -c 'BEGIN CERTIFICATE' "$H/server.pem") certificates"
fleetsecd_reload
for r in root.pem root-2.pem; do
	openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$H/$r" -verify_return_error </dev/null >sclient.out 2>&1 ||
		fail "openssl s_client with $r only: $(grep -i verif sclient.out | head -3)"
	grep -q "Verify return code: 0 (ok)" sclient.out || fail "s_client with $r: $(grep 'Verify return' sclient.out)"
	[ "$(openssl x509 -in sclient.out -noout -serial | cut -d= -f2)" = "$(serial "$H/server.pem")" ] ||
		fail "fleetsecd does not serve the renewed certificate"
done
ok

# 5. The agent that pins the old root only: it reaches fleetsecd, and its
# renewal moves it to the new root's issuing CA.
expect 0 A report
grep -q "reported to the server" out || fail "an old-root agent after the rollover: $(cat out)"
expect 0 A renew --force
grep -q "renewed the certificate of SN-R1" out || fail "renew: $(cat out)"
[ "$(issuer dev.pem)" = "$(subj "$H/issuing-2.pem")" ] || fail "the renewed certificate's issuer: $(issuer dev.pem)"
verify "$H/root-2.pem" dev.pem "$H/issuing-2.pem" || fail "the renewed certificate does not chain to the new root"
verify pinned-root.pem dev.pem "$H/issuing-2.pem" "$nwo" || fail "the renewed certificate does not chain to the pinned root"
[ "$(certid dev.pem)" = "$(current SN-R1)" ] || fail "the renewed certificate is not SN-R1's current one"
expect 0 A report
grep -q "reported to the server" out || fail "report after the renewal: $(cat out)"
ok

# 6. The CRLs: one per issuing CA, each signed by its CA; the old CA's
# CRL verifies under the old root, the new one's under the new root.
awk '/-----BEGIN X509 CRL-----/ { f = "crl-" n++ } f { print > f }' "$H/crl.pem"
[ -f crl-0 ] && [ -f crl-1 ] && [ ! -f crl-2 ] || fail "crl.pem does not hold two CRLs"
openssl crl -in crl-0 -noout -verify -CAfile "$H/issuing-2.pem" 2>&1 | grep -q "verify OK" ||
	fail "the first CRL is not signed by the new issuing CA"
openssl crl -in crl-1 -noout -verify -CAfile "$H/issuing.pem" 2>&1 | grep -q "verify OK" ||
	fail "the second CRL is not signed by the old issuing CA"
"$F" device revoke SN-R2 --reason keyCompromise >/dev/null
cat "$H/root.pem" "$H/issuing.pem" >old-cas.pem
if openssl verify -crl_check -CAfile old-cas.pem -CRLfile "$H/crl.pem" old.pem >verify.out 2>&1; then
	fail "openssl verify -crl_check accepts the revoked old-root device"
fi
grep -q "certificate revoked" verify.out || fail "old.pem refused for another reason: $(cat verify.out)"
ok

# 7. A rotation after the rollover needs the new root's key; the old one
# is refused.
expect 1 "$F" ca rotate --root-key "$H/root.key"
one_line_error "is not the key of the fleet's root CA"
expect 0 "$F" ca rotate --root-key "$H/root-2.key"
verify "$H/root-2.pem" "$H/issuing-3.pem" || openssl verify -CAfile "$H/root-2.pem" "$H/issuing-3.pem" >/dev/null ||
	fail "issuing-3 is not under the new root"
expect 0 A report
ok

done_checks
