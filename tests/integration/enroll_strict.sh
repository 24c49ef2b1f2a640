#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bootstrap certificates read strictly, through the real fleetsecd with curl
# as the EST client and openssl verify as the independent judge that each
# hostile certificate is otherwise valid:
#  - the subject serialNumber: one attribute, a PrintableString or UTF8String
#    holding a device ID, no NUL, never truncated; each refusal answered 403
#    with its reason and logged (enroll-refused), and no device enrolled;
#  - a vendor's intermediate CA: a file with the vendor root and its
#    intermediates verifies device -> intermediate -> root, with or without
#    the device sending its intermediate; an intermediate alone is refused at
#    `enroll allow` with the reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}"
cd "$T"
F=$FLEETSEC
RESUBJECT="$(dirname "$0")/resubject.py"
[ "${RESUBJECT#/}" != "$RESUBJECT" ] || RESUBJECT=$OLDPWD/$RESUBJECT

"$F" ca init --name "Strict Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr issue SN-GOOD --dir mfr --key-out good.key --out good.pem 2>/dev/null
# The template every hostile certificate is re-subjected from (its key is the
# device key curl presents).
"$F" mfr issue SN-TEMPLATE --dir mfr --key-out dev.key --out template.pem 2>/dev/null
expect 0 "$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern '*' --model thermo

# hostile NAME ATTR...: NAME.pem, the template with that subject, signed by
# the manufacturer CA; openssl verify must accept it as a certificate.
hostile() {
	local name=$1
	shift
	python3 "$RESUBJECT" template.pem mfr/ca.key "$name.pem" "$@" || fail "resubject $name"
	openssl verify -purpose sslclient -CAfile mfr/ca.pem "$name.pem" >/dev/null ||
		fail "$name.pem does not verify: the test would prove nothing"
}
long=$(printf 'A%.0s' $(seq 73))
hostile nul 'printable:serialNumber:SN-77\x00-evil' 'printable:CN:SN-77'
hostile nul-utf8 'utf8:serialNumber:SN-78\x00' 'printable:CN:SN-78'
hostile long "printable:serialNumber:$long" 'printable:CN:SN-79'
hostile two 'printable:serialNumber:SN-80' 'printable:serialNumber:SN-81' 'printable:CN:SN-80'
hostile bmp 'bmp:serialNumber:SN-82' 'printable:CN:SN-82'
hostile ia5 'ia5:serialNumber:SN-83\x1b[2J\x0d\x0a' 'printable:CN:SN-83'
hostile none 'printable:CN:SN-84'
# The control: the same template with a plain serial enrolls, so each refusal
# below is the serial's doing.
hostile plain 'printable:serialNumber:SN-85' 'printable:CN:SN-85'

fleetsecd_start
EST=$URL/.well-known/est
est() { curl -sS --cacert "$FLEETSEC_HOME/root.pem" -o out -w '%{http_code}' "$@"; }
enroll() { # enroll CERT KEY: the status of a simpleenroll (a new key), body in out
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout op.key \
		-subj "/CN=x" -outform DER 2>/dev/null | openssl base64 >csr.b64
	est --cert "$1" --key "$2" -H 'Content-Type: application/pkcs10' \
		--data-binary @csr.b64 "$EST/simpleenroll"
}
refused_serial() { # refused_serial NAME REASON [DEVICE-ID-THAT-MUST-NOT-EXIST]
	local got
	got=$(enroll "$1.pem" dev.key) || fail "curl $1"
	[ "$got" = 403 ] || fail "$1: HTTP $got, expected 403: $(head -c 300 out)"
	grep -qF -- "$2" out || fail "$1: expected '$2', got: $(cat out)"
	[ "$("$F" registry events --action enroll-refused --json |
		jq --arg d "$2" '[.[] | select(.detail | contains($d))] | length')" -ge 1 ] ||
		fail "$1: refusal '$2' not in the event log"
	if [ -n "${3:-}" ]; then
		expect 1 "$F" device show "$3"
	fi
	ok
}
refused_serial nul "serialNumber holds a NUL byte" SN-77
refused_serial nul-utf8 "serialNumber holds a NUL byte" SN-78
refused_serial long "serialNumber is 73 bytes, not 1-64" "${long:0:64}"
refused_serial two "subject has 2 serialNumber attributes" SN-80
refused_serial bmp "serialNumber is a BMPSTRING"
refused_serial ia5 "serialNumber is a IA5STRING"
refused_serial none "subject has no serialNumber" SN-84
[ "$(reg length device list)" = 0 ] || fail "a refused bootstrap certificate enrolled a device"
ok
# A refused bootstrap certificate reaches nothing else either.
[ "$(est --cert nul.pem --key dev.key "$EST/csrattrs")" = 403 ] && grep -qF "NUL byte" out ||
	fail "csrattrs with a refused serial: $(cat out)"
ok
[ "$(enroll plain.pem dev.key)" = 200 ] || fail "the control enrollment: $(cat out)"
[ "$(reg .status device show SN-85)" = active ] || fail "SN-85 not enrolled"
ok

# ---- A vendor's intermediate CA (as real secure elements carry) ----
# A 3-level chain made by openssl alone: vendor root -> intermediate -> leaf.
v3=(-extensions v3 -extfile /dev/stdin)
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout vroot.key \
	-subj "/O=Vendor/CN=Vendor Root CA" -days 3650 -out vroot.pem \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout vint.key \
	-subj "/O=Vendor/CN=Vendor Batch 7 CA" -out vint.csr 2>/dev/null
printf '[v3]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' |
	openssl x509 -req -in vint.csr -CA vroot.pem -CAkey vroot.key -CAcreateserial -days 3650 \
		"${v3[@]}" -out vint.pem 2>/dev/null
leaf() { # leaf SERIAL: vleaf-SERIAL.pem/.key, issued by the intermediate
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "vleaf-$1.key" \
		-subj "/serialNumber=$1/CN=$1" -out "vleaf-$1.csr" 2>/dev/null
	printf '[v3]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nauthorityKeyIdentifier=keyid\n' |
		openssl x509 -req -in "vleaf-$1.csr" -CA vint.pem -CAkey vint.key -CAcreateserial \
			-days 3650 "${v3[@]}" -out "vleaf-$1.pem" 2>/dev/null
	# The independent judge: the leaf chains to the root through the intermediate only.
	openssl verify -purpose sslclient -CAfile vroot.pem -untrusted vint.pem "vleaf-$1.pem" \
		>/dev/null || fail "openssl does not verify vleaf-$1.pem"
	if openssl verify -CAfile vroot.pem "vleaf-$1.pem" >/dev/null 2>&1; then
		fail "vleaf-$1.pem verifies without its intermediate: not a 3-level chain"
	fi
}
leaf SN-0900
leaf SN-0901
ok

# The intermediate alone is refused at allow, with the reason; nothing written.
n=$(reg length enroll list)
expect 1 "$F" enroll allow --manufacturer-ca vint.pem --pattern 'SN-09*' --model thermo
one_line_error "is not self-signed: give the vendor's root CA with its intermediates"
# A bundle whose intermediate is not the root's is refused too.
"$F" mfr init --dir other --name "Other Chips" >/dev/null
cat other/ca.pem vint.pem >wrong-bundle.pem
expect 1 "$F" enroll allow --manufacturer-ca wrong-bundle.pem --pattern 'SN-09*' --model thermo
one_line_error "does not chain to the root"
[ "$(reg length enroll list)" = "$n" ] || fail "a refused allow changed the allowlist"
ok

# The root with its intermediate in one file (in either order).
cat vint.pem vroot.pem >vendor-bundle.pem
expect 0 "$F" enroll allow --manufacturer-ca vendor-bundle.pem --pattern 'SN-09*' --model thermo
# The device presents its leaf alone: fleetsecd completes the chain.
[ "$(enroll vleaf-SN-0900.pem vleaf-SN-0900.key)" = 200 ] ||
	fail "leaf alone from an intermediate: $(cat out)"
[ "$(reg .status device show SN-0900)" = active ] || fail "SN-0900 not enrolled"
ok
# The device presents its leaf and its intermediate, as secure elements do.
cat vleaf-SN-0901.pem vint.pem >vleaf-SN-0901-chain.pem
[ "$(enroll vleaf-SN-0901-chain.pem vleaf-SN-0901.key)" = 200 ] ||
	fail "leaf + intermediate: $(cat out)"
[ "$(reg .status device show SN-0901)" = active ] || fail "SN-0901 not enrolled"
ok

done_checks
