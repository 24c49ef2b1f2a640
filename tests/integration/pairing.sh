#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pairing without TOFU (issue 18), through the real fleetsec-agent, fleetsec
# and fleetsecd, with curl and openssl as the man in the middle, and zbarimg
# and openssl as independent peers: a device pairs by QR code and enrolls;
# every refusal the issue names (another key, reuse, expiry, a key already
# registered, malformed or oversized URIs and images, a key that is not a
# point) is seen from outside.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
. "$(dirname "$0")/swtpm.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
cd "$T"
F=$FLEETSEC

"$F" ca init --name "Pairing Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
device_slots
fleetsecd_bounds_off
fleetsecd_start
EST=$URL/.well-known/est

# dev NAME: an agent configuration for a device under $T/NAME, with no
# bootstrap credential (so that enroll enrolls by pairing).
dev() {
	mkdir -p "$T/$1"
	mkdir -m 700 -p "$T/$1/state"
	cat >"$T/$1/agent.conf" <<CONF
server = $URL
ca = $FLEETSEC_HOME/chain.pem
key = $T/$1/dev.key
cert = $T/$1/dev.pem
firmware_key = $T/fw.pub
release_root = $T/root.pub
model = thermo
slot_a = $T/slot_a
slot_b = $T/slot_b
boot_backend = file
boot_env = $T/bootenv
state_dir = $T/$1/state
CONF
}
agent() { local d=$1; shift; "$AGENT" -c "$T/$d/agent.conf" "$@"; }
# est_as CERT KEY CSR_KEY OP: POST a CSR for CSR_KEY to OP over TLS with
# CERT/KEY, as curl; the status is printed, the body is in out.
est_as() {
	openssl req -new -key "$3" -subj /CN=x -outform DER 2>/dev/null | openssl base64 >req.b64
	curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert "$1" --key "$2" -o out -w '%{http_code}' \
		-H 'Content-Type: application/pkcs10' --data-binary @req.b64 "$EST/$4"
}
# selfsigned KEY CERT: a self-signed client certificate for KEY, by openssl.
selfsigned() {
	openssl req -x509 -new -key "$1" -subj "/CN=${3:-SN-A}" -days 2 \
		-addext extendedKeyUsage=clientAuth -out "$2" 2>/dev/null
}
uri_key() { sed -e 's/.*;K:\([^;]*\);.*/\1/' <<<"$1"; }

# ---- the device: its key on first power-on, its code ----
dev A
expect 0 agent A pair --serial SN-A --png a.png --svg a.svg --json
URI=$(jq -r .uri out)
KEYHASH=$(jq -r .key_sha256 out)
[ "$(jq -r .key_made out)" = true ] && [ -s A/dev.key ] || fail "pair made no key"
[ "$(stat -c %a A/dev.key)" = 600 ] || fail "device key mode $(stat -c %a A/dev.key)"
[[ $URI =~ ^DPP:V:2\;I:SN-A\;K:[A-Za-z0-9+/=]+\;\;$ ]] || fail "URI form: $URI"
ok
# The key stays: a second run shows the same code.
expect 0 agent A pair --serial SN-A
grep -qxF "$URI" out || fail "a second pair changed the URI: $(cat out)"
grep -q $'\xe2\x96' out || fail "no half-block QR code on the terminal"
ok
# Peers: zbarimg reads fleetsec's PNG as the same URI; openssl parses the
# key, a compressed P-256 point (59-byte SPKI), the device key's public half.
zb=$(zbarimg -q --raw a.png 2>/dev/null) || fail "zbarimg cannot read a.png"
[ "$zb" = "$URI" ] || fail "zbarimg read '$zb', not '$URI'"
ok
uri_key "$URI" | openssl base64 -d -A >k.der
[ "$(stat -c %s k.der)" = 59 ] || fail "SPKI is $(stat -c %s k.der) bytes, not the compressed 59"
openssl pkey -pubin -inform DER -in k.der -noout -text >k.txt || fail "openssl cannot parse K"
grep -q "ASN1 OID: prime256v1" k.txt || fail "not P-256: $(cat k.txt)"
[ "$(openssl ec -pubin -inform DER -in k.der -conv_form uncompressed -pubout 2>/dev/null)" = \
  "$(openssl pkey -in A/dev.key -pubout)" ] || fail "K is not the device key"
# The registry's hash is of the key's canonical (uncompressed) SPKI.
[ "$(openssl pkey -in A/dev.key -pubout -outform DER | sha256sum | cut -c1-64)" = "$KEYHASH" ] ||
	fail "key_sha256 is not the SHA-256 of the key's SubjectPublicKeyInfo"
ok
grep -q "<svg" a.svg && grep -q 'd="M' a.svg || fail "SVG"
ok

# ---- not yet paired: the self-signed certificate is refused ----
expect 1 agent A enroll
one_line_error "is not paired"
[ ! -e A/dev.pem ] || fail "a certificate landed"
ok

# ---- the operator pairs it, from the photo of its label ----
expect 0 "$F" device pair --qr-image a.png --model thermo --group canary --json
[ "$(jq -r .device_id out)" = SN-A ] && [ "$(jq -r .key_sha256 out)" = "$KEYHASH" ] ||
	fail "pairing record: $(cat out)"
ok
# The event says who paired, and when; only the key's hash is kept.
"$F" registry events --json >ev.json
jq -e --arg k "$KEYHASH" 'any(.[]; .action == "pair" and .device == "SN-A" and
	(.detail | contains("key=" + $k)) and (.actor | length) > 0 and (.at | length) > 0)' ev.json >/dev/null ||
	fail "no pair event: $(jq -c '.[-1]' ev.json)"
ok
sql "SELECT * FROM pairings" | grep -q "$(uri_key "$URI" | cut -c1-40)" &&
	fail "the pairing table holds the key itself"
ok

# ---- the man in the middle: a second device that intercepts ----
# It saw A's label and claims A's serial with its own key: its code and
# its self-signed certificate do not carry the paired key.
dev M
expect 0 agent M pair --serial SN-A --json
MURI=$(jq -r .uri out)
[ "$MURI" != "$URI" ] || fail "two devices, one key"
expect 1 agent M enroll
one_line_error "is not paired"
# The same by hand: its own self-signed certificate named SN-A, its CSR.
selfsigned M/dev.key m.pem SN-A
[ "$(est_as m.pem M/dev.key M/dev.key simpleenroll)" = 403 ] || fail "MITM cert: $(cat out)"
grep -q "not paired" out || fail "MITM refusal reason: $(cat out)"
ok
# With A's session (the TLS handshake proved A's key), a CSR for another
# key is not certified: the certificate is only ever for the paired key.
selfsigned A/dev.key a-self.pem
[ "$(est_as a-self.pem A/dev.key M/dev.key simpleenroll)" = 403 ] || fail "CSR swap: $(cat out)"
grep -q "not the paired key" out || fail "CSR swap refusal reason: $(cat out)"
ok
# A paired key is for its one enrollment: no device API, no renewal.
code=$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert a-self.pem --key A/dev.key -o out \
	-w '%{http_code}' "$URL/v1/update")
[ "$code" = 403 ] && grep -q "may only enroll" out || fail "paired key on /v1/update: $code $(cat out)"
[ "$(est_as a-self.pem A/dev.key A/dev.key simplereenroll)" = 403 ] || fail "paired reenroll: $(cat out)"
ok
[ "$("$F" device list --json | jq length)" = 0 ] || fail "a refused request registered a device"
ok

# ---- the device enrolls ----
expect 0 agent A enroll --json
[ "$(jq -r .id out)" = SN-A ] || fail "enrolled as $(cat out)"
openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
	-untrusted "$FLEETSEC_HOME/issuing.pem" A/dev.pem >/dev/null || fail "openssl verify"
key_of_cert A/dev.key A/dev.pem
is_current SN-A A/dev.pem
"$F" device show SN-A --json >show.json
[ "$(jq -r .provisioning show.json)" = pairing ] && [ "$(jq -r .model show.json)" = thermo ] ||
	fail "device record: $(cat show.json)"
[ ! -e A/state/pairing.pem ] || fail "the self-signed certificate was left behind"
"$F" registry events --json | jq -e 'any(.[]; .action == "pairing-used" and .device == "SN-A")' \
	>/dev/null || fail "no pairing-used event"
ok
# The enrolled device speaks with its fleet certificate.
expect 0 agent A report

# ---- a reused pairing ----
[ "$(est_as a-self.pem A/dev.key A/dev.key simpleenroll)" = 403 ] || fail "reuse: $(cat out)"
grep -q "was used already" out || fail "reuse refusal reason: $(cat out)"
ok

# ---- an expired pairing: paired 20 minutes ago for 15 ----
dev C
expect 0 agent C pair --serial SN-C --json
CURI=$(jq -r .uri out)
expect 0 FT -20m "$F" device pair "$CURI" --expires 15m
expect 1 agent C enroll
one_line_error "the pairing of SN-C expired"
[ ! -e C/dev.pem ] || fail "expired pairing enrolled"
ok
# Expired unused, it may be paired again, and then it enrolls.
expect 0 "$F" device pair "$CURI" --expires 15m
expect 0 agent C enroll
ok

# ---- a key already registered to another device ----
dev D
expect 0 agent D keygen
agent D csr --subject SN-D >d.csr
expect 0 "$F" device issue SN-D --csr d.csr --out d.pem
expect 0 agent D pair --serial SN-E --json
expect 1 "$F" device pair "$(jq -r .uri out)"
one_line_error "already registered to device SN-D"
# And A's key, once enrolled, cannot be paired again as someone else.
expect 1 "$F" device pair "${URI/I:SN-A/I:SN-Z}"
one_line_error "already registered to device SN-A"
# Nor a serial already enrolled, under a fresh key.
dev G
expect 0 agent G pair --serial SN-A --json
expect 1 "$F" device pair "$(jq -r .uri out)"
one_line_error "already enrolled"
# Nor a second key for a serial whose pairing waits.
dev H; dev H2
expect 0 agent H pair --serial SN-H --json
expect 0 "$F" device pair "$(jq -r .uri out)"
expect 0 agent H2 pair --serial SN-H --json
expect 1 "$F" device pair "$(jq -r .uri out)"
one_line_error "another key waiting"

# ---- malformed and oversized URIs ----
K=$(uri_key "$MURI")
n=$("$F" registry events --json | jq length)
bad() { expect 1 "$F" device pair "$1"; one_line_error "$2"; }
bad "http://x" 'does not start with "DPP:"'
bad "DPP:I:SN-X;;" "no K:"
bad "DPP:K:$K;;" "no I:"
bad "DPP:I:SN-X;I:SN-Y;K:$K;;" "appears twice"
bad "DPP:I:SN-X;K:$K;;junk" "after the final"
bad "DPP:I:SN-X;K:$K;" "expected a field"
bad "DPP:I:SN X;K:$K;;" "not a device ID"
bad "DPP:V:9;I:SN-X;K:$K;;" "V: is not"
bad "DPP:M:0102;I:SN-X;K:$K;;" "M: is not"
bad "DPP:I:SN-X;K:!!!!;;" "not base64"
bad "DPP:I:SN-X;K:$(head -c 200 /dev/urandom | openssl base64 -A);;" "not base64 of at most"
bad "DPP:I:SN-X;K:$(openssl ecparam -name secp384r1 -genkey 2>/dev/null | openssl ec -pubout -outform DER 2>/dev/null | openssl base64 -A);;" "not a P-256 key"
bad "DPP:I:SN-X;Z:$(head -c 600 /dev/zero | tr '\0' a);K:$K;;" "over 512 bytes"
bad "$(printf 'DPP:I:SN-X;K:%s;;\001' "$K")" "not printable"
# A P-256 "key" whose x has no point on the curve: openssl refuses it too.
python3 - >badpoint.b64 <<'PY'
import base64
p = 2**256 - 2**224 + 2**192 + 2**96 - 1
b = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b
x = 1
while pow((x**3 - 3*x + b) % p, (p - 1) // 2, p) == 1:
    x += 1
der = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200") + b"\x02" + x.to_bytes(32, "big")
print(base64.b64encode(der).decode())
PY
openssl base64 -d -A -in badpoint.b64 | openssl pkey -pubin -inform DER -noout 2>/dev/null &&
	fail "openssl accepted the off-curve point"
ok
bad "DPP:V:2;I:SN-X;K:$(cat badpoint.b64);;" "valid point"
# The same as a QR code (made by the qrencode CLI, not by fleetsec).
qrencode -o badpoint.png "DPP:V:2;I:SN-X;K:$(cat badpoint.b64);;"
expect 1 "$F" device pair --qr-image badpoint.png
one_line_error "valid point"

# ---- malformed and oversized images ----
printf 'not a png' >notpng.png
expect 1 "$F" device pair --qr-image notpng.png; one_line_error "not a PNG"
head -c 300 a.png >trunc.png
expect 1 "$F" device pair --qr-image trunc.png; one_line_error "malformed PNG"
head -c $((9 * 1024 * 1024)) /dev/zero >huge.png
expect 1 "$F" device pair --qr-image huge.png; one_line_error "the limit is 8388608"
# A valid PNG of 5000x16 pixels, declared and real: refused before decoding.
python3 - <<'PY'
import struct, zlib
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
w, h = 5000, 16
raw = b"".join(b"\0" + b"\xff" * w for _ in range(h))
open("wide.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
w = 64
raw = b"".join(b"\0" + b"\xff" * w for _ in range(w))
open("blank.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, w, 8, 0, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
expect 1 "$F" device pair --qr-image wide.png; one_line_error "at most 4096x4096"
expect 1 "$F" device pair --qr-image blank.png; one_line_error "no QR code"
# A QR code holding more than a URI may.
qrencode -o long.png "$(head -c 700 /dev/zero | tr '\0' D)"
expect 1 "$F" device pair --qr-image long.png; one_line_error "the QR code holds over 512 bytes"
[ "$("$F" registry events --json | jq length)" = "$n" ] || fail "a refused pairing wrote an event"
ok
# Usage errors.
expect 2 "$F" device pair
expect 2 "$F" device pair "$URI" --expires 10s
expect 2 "$F" device pair "$URI" --qr-image a.png
expect 2 agent A pair --serial 'bad serial'
expect 2 agent A status --png x.png

# ---- a device with a TPM: its key is made in the TPM at first power-on ----
swtpm_start tpm-p
dev P
echo "tcti = $TCTI" >>P/agent.conf
expect 0 agent P pair --serial SN-P --json
PURI=$(jq -r .uri out)
grep -q "TSS2 PRIVATE KEY" P/dev.key || fail "the TPM device's key is not a TPM blob: $(head -1 P/dev.key)"
ok
expect 0 "$F" device pair "$PURI" --model thermo
expect 0 agent P enroll
openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
	-untrusted "$FLEETSEC_HOME/issuing.pem" P/dev.pem >/dev/null || fail "openssl verify (TPM)"
# The certificate is for the key the code carried, which never left the TPM.
uri_key "$PURI" | openssl base64 -d -A >p.der
[ "$(openssl ec -pubin -inform DER -in p.der -conv_form uncompressed -pubout 2>/dev/null)" = \
  "$(openssl x509 -in P/dev.pem -noout -pubkey)" ] || fail "the TPM device's certificate is not for its paired key"
ok

# ---- the audit: every paired device has its used pairing ----
expect 0 "$F" audit fleet --json
jq -e '.findings | any(.check == "FLEET-TOFU") | not' out >/dev/null ||
	fail "a paired device flagged: $(jq -c '.findings[] | select(.check == "FLEET-TOFU")' out)"
ok
# A device that claims a pairing the registry does not hold is flagged.
sql "UPDATE devices SET provisioning = 'pairing' WHERE id = 'SN-D'"
expect 0 "$F" audit fleet --json
jq -e '.findings | any(.check == "FLEET-TOFU" and .subject == "SN-D")' out >/dev/null ||
	fail "SN-D not flagged"
jq -e '.findings | any(.check == "FLEET-TOFU" and .subject == "SN-A") | not' out >/dev/null ||
	fail "SN-A flagged"
ok

done_checks
