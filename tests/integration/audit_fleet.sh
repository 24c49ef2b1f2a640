#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fleetsec audit fleet: every fleet check fires on a planted case and stays
# silent on its negative control. Records that fleetsec itself refuses to
# create (weak keys, shared keys, TOFU, colliding IDs) are planted with
# `fleetsec registry import`, as a registry migrated from an older system
# holds them. The ROCA key is built from primes of the RSALib form, and its
# certificate made by openssl.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sarif.sh"
[ -n "${KEEP:-}" ] && trap "echo kept $T" EXIT

F=$FLEETSEC
expect 0 "$F" ca init --name "Audit Fleet"
for d in fresh outdated stale eol1 gone never; do
	model=cam; [ "$d" = eol1 ] && model=oldcam
	expect 0 "$F" device issue "$d" --keygen --key-out "$T/$d.key" --model "$model"
done
expect 0 "$F" device issue expiring --keygen --key-out "$T/expiring.key" --model cam --days 10
expect 0 "$F" product set cam --support-until 2099-12-31 --security-contact mailto:psirt@example.com \
	--manufacturer Acme --release 2.0.0 --security-counter 7
expect 0 "$F" product set oldcam --support-until 2020-06-30 --manufacturer Acme
expect 0 "$F" product set othercam --manufacturer Globex
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
old=$(date -u -d '-60 days' +%Y-%m-%dT%H:%M:%SZ)
for d in fresh eol1 expiring; do expect 0 "$F" device report "$d" --version 2.0.0 --security-counter 7 --at "$now"; done
expect 0 "$F" device report outdated --version 1.0.0 --security-counter 3 --at "$now"
expect 0 "$F" device report stale --version 2.0.0 --security-counter 7 --at "$old"
expect 0 "$F" device revoke gone
expect 0 "$F" device report gone --version 2.0.0 --security-counter 7 --at "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"

# Report refusals: unknown device, bad version, bad outcome.
expect 1 "$F" device report nosuch --version 1.0.0 --security-counter 1
one_line_error nosuch
expect 1 "$F" device report fresh --version banana --security-counter 1
one_line_error banana
expect 1 "$F" device report fresh --version 1.0.0 --security-counter 1 --update maybe
one_line_error maybe

# plant ID MODEL PROVISIONING CERT.pem: a device row, its certificate and a
# fresh report.
plant() {
	local id=$1 model=$2 prov=$3 pem=$4 serial fp cfp spki na
	# Two devices may share a certificate here, so the row's serial (and the
	# certificate row's fingerprint, unique in the registry) are derived
	# from the certificate's and the ID.
	serial=$(printf '%s%s' "$(openssl x509 -in "$pem" -noout -serial)" "$id" | sha256sum | cut -c1-32)
	fp=$(openssl x509 -in "$pem" -outform DER | sha256sum | cut -c1-64)
	cfp=$(printf '%s-%s' "$fp" "$id" | sha256sum | cut -c1-64)
	spki=$(openssl x509 -in "$pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
	na=$(date -d "$(openssl x509 -in "$pem" -noout -enddate | cut -d= -f2)" +%s)
	jq -n --arg id "$id" --arg model "$model" --arg prov "$prov" --arg serial "$serial" \
		--arg fp "$fp" --arg cfp "$cfp" --arg spki "$spki" --argjson na "$na" \
		--rawfile pem "$pem" --argjson now "$(date +%s)" '{
	certificates: [{serial: $serial, device_id: $id, fingerprint_sha256: $cfp, spki_sha256: $spki,
		not_before: 0, not_after: $na, issued_at: 0, certificate_pem: $pem}],
	devices: [{id: $id, model: $model, status: "active", serial: $serial, fingerprint_sha256: $fp,
		spki_sha256: $spki, issued_at: 0, expires_at: $na, provisioning: $prov, created_at: 0,
		updated_at: 0}],
	states: [{id: $id, first_seen: $now, last_seen: $now, fw_version: "2.0.0", security_counter: 7}]}' \
		>"$T/plant-$id.json"
	"$F" registry import "$T/plant-$id.json" >/dev/null || fail "cannot plant $id"
}
selfsigned() { # selfsigned NAME OPENSSL-NEWKEY-ARGS...
	local n=$1; shift
	openssl req -x509 -nodes -days 3650 -subj "/CN=$n" "$@" -keyout "$T/$n.pkey" -out "$T/$n.pem" 2>/dev/null
}
selfsigned rsa1024 -newkey rsa:1024
selfsigned k1 -newkey ec -pkeyopt ec_paramgen_curve:secp256k1
selfsigned shared -newkey ec -pkeyopt ec_paramgen_curve:P-256
selfsigned rsa2048 -newkey rsa:2048
plant weakrsa cam factory-csr "$T/rsa1024.pem"
plant weakcurve cam factory-csr "$T/k1.pem"
plant twin-a cam factory-csr "$T/shared.pem"
plant twin-b cam factory-csr "$T/shared.pem"
plant goodrsa cam factory-csr "$T/rsa2048.pem"
selfsigned tofu -newkey ec -pkeyopt ec_paramgen_curve:P-256
plant tofu1 cam tofu "$T/tofu.pem"
selfsigned acme -newkey ec -pkeyopt ec_paramgen_curve:P-256
selfsigned globex -newkey ec -pkeyopt ec_paramgen_curve:P-256
plant SN-0042 cam factory-csr "$T/acme.pem"
plant sn-0042 othercam factory-csr "$T/globex.pem"
selfsigned acme2 -newkey ec -pkeyopt ec_paramgen_curve:P-256
plant SN-0077 cam factory-csr "$T/acme2.pem"
selfsigned acme3 -newkey ec -pkeyopt ec_paramgen_curve:P-256
plant sn-0077 oldcam factory-csr "$T/acme3.pem"

# ROCA: N = p*q with p, q = k*M + 65537^a mod M (M the primorial of the
# fingerprint's primes), the structure of RSALib primes.
python3 - "$T/roca.conf" <<'PY'
import random, sys
ps = [2,3,5,7,11,13,17,19,23,29,31,37,41,43,47,53,59,61,67,71,73,79,83,89,97,101,103,107,109,113,127,131,137,139,149,151,157,163,167]
M = 1
for p in ps: M *= p
def probable_prime(n):
    if n < 2: return False
    for p in ps:
        if n % p == 0: return n == p
    d, s = n - 1, 0
    while d % 2 == 0: d //= 2; s += 1
    for _ in range(32):
        x = pow(random.randrange(2, n - 1), d, n)
        if x in (1, n - 1): continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1: break
        else: return False
    return True
def roca_prime(bits):
    while True:
        k = random.getrandbits(bits - M.bit_length()) | (1 << (bits - M.bit_length() - 1))
        p = k * M + pow(65537, random.randrange(1, 10**6), M)
        if p.bit_length() == bits and probable_prime(p): return p
n = roca_prime(1024) * roca_prime(1024)
open(sys.argv[1], "w").write("asn1=SEQUENCE:spki\n[spki]\nalg=SEQUENCE:alg\nkey=BITWRAP,SEQUENCE:rsa\n[alg]\noid=OID:rsaEncryption\nnull=NULL\n[rsa]\nn=INTEGER:0x%x\ne=INTEGER:65537\n" % n)
PY
openssl asn1parse -genconf "$T/roca.conf" -out "$T/roca.der" >/dev/null
openssl pkey -pubin -inform DER -in "$T/roca.der" -out "$T/roca.pub"
openssl req -new -key "$T/rsa2048.pkey" -subj /CN=roca -out "$T/roca.csr"
openssl x509 -req -in "$T/roca.csr" -force_pubkey "$T/roca.pub" -signkey "$T/rsa2048.pkey" -days 3650 \
	-out "$T/roca.pem" 2>/dev/null
plant rocadev cam factory-csr "$T/roca.pem"

expect 0 "$F" audit fleet --json
cp "$T/out" "$T/fleet.json"
has() { # has CHECK SUBJECT: the JSON report lists CHECK for SUBJECT
	jq -e --arg c "$1" --arg s "$2" '.findings | any(.check == $c and .subject == $s)' "$T/fleet.json" >/dev/null ||
		fail "$1 not reported for $2: $(jq -c '.findings[] | [.check, .subject]' "$T/fleet.json" | tr '\n' ' ')"
	ok
}
hasnt() {
	jq -e --arg c "$1" --arg s "$2" '.findings | any(.check == $c and .subject == $s) | not' "$T/fleet.json" >/dev/null ||
		fail "$1 wrongly reported for $2"
	ok
}
has FLEET-CERT-EXPIRING expiring;   hasnt FLEET-CERT-EXPIRING fresh
has FLEET-FW-OUTDATED outdated;     hasnt FLEET-FW-OUTDATED fresh
has FLEET-STALE stale;              hasnt FLEET-STALE fresh
has FLEET-EOL eol1;                 hasnt FLEET-EOL fresh
has FLEET-REVOKED-SEEN gone
has FLEET-NEVER-REPORTED never;     hasnt FLEET-NEVER-REPORTED fresh
has FLEET-KEY-WEAK weakrsa;         has FLEET-KEY-WEAK weakcurve
hasnt FLEET-KEY-WEAK goodrsa;       hasnt FLEET-KEY-WEAK fresh
has FLEET-KEY-ROCA rocadev;         hasnt FLEET-KEY-ROCA goodrsa
has FLEET-KEY-SHARED twin-a;        has FLEET-KEY-SHARED twin-b;   hasnt FLEET-KEY-SHARED fresh
has FLEET-TOFU tofu1;               hasnt FLEET-TOFU fresh
has FLEET-DUP-ID SN-0042;           has FLEET-DUP-ID sn-0042
# Same ID up to case, same manufacturer (Acme makes cam and oldcam): no finding.
hasnt FLEET-DUP-ID SN-0077;         hasnt FLEET-DUP-ID sn-0077
# The fleet's CA is fresh (20 years); a 30-year window makes it "expiring".
hasnt FLEET-CA-EXPIRING "Audit Fleet Root CA"
expect 0 "$F" audit fleet --json --ca-expiry-days 20000
jq -e '.findings | any(.check == "FLEET-CA-EXPIRING")' "$T/out" >/dev/null || fail "CA expiry not reported"
ok

# A revoked device that stayed away is not "seen after revocation".
jq -e '.findings | any(.check == "FLEET-REVOKED-SEEN" and .subject != "gone") | not' "$T/fleet.json" >/dev/null ||
	fail "revoked-seen reported for a device that was not seen"
ok

# --fail-on, --disable, and the table.
expect 1 "$F" audit fleet --fail-on critical
grep -q "FLEET-KEY-ROCA" "$T/out" || fail "report not printed with --fail-on"
ok
expect 0 "$F" audit fleet --fail-on critical --disable FLEET-KEY-ROCA --disable FLEET-KEY-SHARED \
	--disable FLEET-REVOKED-SEEN
grep -q "FLEET-KEY-ROCA" "$T/out" && fail "disabled check still reported"
ok
expect 2 "$F" audit fleet --disable NO-SUCH-CHECK
one_line_error NO-SUCH-CHECK
expect 2 "$F" audit fleet --fail-on severe
one_line_error fail-on

# SARIF to a file, its required properties checked.
expect 0 "$F" audit fleet --sarif --out "$T/fleet.sarif"
sarif_valid "$T/fleet.sarif"
# Negative control: the validator does reject a run whose tool has no name.
jq 'del(.runs[0].tool.driver.name)' "$T/fleet.sarif" >"$T/broken.sarif"
if (sarif_valid "$T/broken.sarif") 2>/dev/null; then fail "the SARIF validator accepted a broken file"; fi
ok
jq -e '.version == "2.1.0" and (.runs | length == 1) and
	(.runs[0].tool.driver.name == "fleetsec") and
	([.runs[0].tool.driver.rules[].id] as $ids | all(.runs[0].results[]; .ruleId as $r | $ids | index($r))) and
	all(.runs[0].results[]; (.message.text | length > 0) and (.level | IN("error","warning","note","none")) and
		(.ruleIndex >= 0) and (.locations | length == 1))' "$T/fleet.sarif" >/dev/null ||
	fail "SARIF misses required properties"
ok
[ "$(jq '.runs[0].results | length' "$T/fleet.sarif")" = "$(jq '.findings | length' "$T/fleet.json")" ] ||
	fail "SARIF and JSON disagree on the number of findings"
ok

# The current release taken from a signed bundle, verified with the root key.
"$F" fw keygen --algo p256 --out "$T/fw.pem" >/dev/null 2>&1 && "$F" fw pubkey "$T/fw.pem" --out "$T/fw.pub"
"$F" fw keygen --out "$T/root.pem" >/dev/null 2>&1 && "$F" fw pubkey "$T/root.pem" --out "$T/root.pub"
"$F" fw keygen --out "$T/other-root.pem" >/dev/null 2>&1 && "$F" fw pubkey "$T/other-root.pem" --out "$T/other-root.pub"
head -c 5000 /dev/urandom >"$T/hub.bin"
"$F" fw sign --key "$T/fw.pem" --version 4.2.0 --security-counter 11 --header-size 0x200 --pad-header \
	"$T/hub.bin" "$T/hub.img"
"$F" release delegate --root-key "$T/root.pem" --key "$T/fw.pub" --sequence 1 --out "$T/deleg.json"
"$F" release create --model hub --image "$T/hub.img" --url https://fw.example/hub.img --out "$T/hub.json"
"$F" release sign --key "$T/fw.pem" --delegation "$T/deleg.json" "$T/hub.json" --out "$T/hub-release.json"
expect 1 "$F" product set hub --release-bundle "$T/hub-release.json" --release-root "$T/other-root.pub"
one_line_error "hub-release.json"
expect 0 "$F" product set hub --release-bundle "$T/hub-release.json" --release-root "$T/root.pub"
expect 0 "$F" product list --json
jq -e '.[] | select(.model == "hub") | .release_version == "4.2.0+0" and .release_security_counter == 11' "$T/out" >/dev/null ||
	fail "release not recorded from the bundle: $(cat "$T/out")"
ok
expect 0 "$F" device issue hub-1 --keygen --key-out "$T/hub-1.key" --model hub
expect 0 "$F" device report hub-1 --version 4.1.0 --security-counter 10
expect 0 "$F" audit fleet --json
jq -e '.findings | any(.check == "FLEET-FW-OUTDATED" and .subject == "hub-1" and (.evidence | contains("counter 11")))' "$T/out" >/dev/null ||
	fail "hub-1 not reported below the bundle's release"
ok

# security.txt (RFC 9116): Contact and Expires present, Expires in the future.
expect 0 "$F" product security-txt --canonical https://example.com/.well-known/security.txt --out "$T/security.txt"
grep -qx "Contact: mailto:psirt@example.com" "$T/security.txt" || fail "no Contact"
exp=$(sed -n 's/^Expires: //p' "$T/security.txt")
[ "$(date -d "$exp" +%s)" -gt "$(date +%s)" ] || fail "Expires not in the future: $exp"
ok
expect 1 "$F" product set cam --security-contact "javascript:alert(1)"
one_line_error "security contact"
expect 2 "$F" product set cam --support-until 31/12/2030
one_line_error support-until
done_checks
