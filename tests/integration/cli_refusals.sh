#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every refusal of issue #2 through the CLI: exit status, a one-line error
# naming the input, and nothing written (no registry row, no file).
. "$(dirname "$0")/lib.sh"

# No home yet: a clear pointer to 'ca init'.
expect 1 "$FLEETSEC" device list
one_line_error "ca init"

expect 0 "$FLEETSEC" ca init --name "Refusal Fleet"
snapshot() { sha256sum "$FLEETSEC_HOME"/*.pem "$FLEETSEC_HOME"/*.key "$FLEETSEC_HOME"/fleet.json; }
snapshot >"$T/home.sum"

# init on an existing home refuses and changes nothing.
expect 1 "$FLEETSEC" ca init --name Other
one_line_error "already exists"
snapshot | cmp -s - "$T/home.sum" || fail "ca init changed an existing home"
ok

csr p256 good
expect 0 "$FLEETSEC" device issue first --csr "$T/good.csr" --out "$T/first.pem"

rows() { echo "$(reg length device list)/$(reg length registry certs)"; }
before=$(rows)

# refuse FILE REASON [EXTRA ARGS]: issuing from FILE exits 1 with a one-line
# error naming FILE and REASON, and writes nothing.
refuse() {
	local file=$1 reason=$2
	shift 2
	expect 1 "$FLEETSEC" device issue victim --csr "$file" --out "$T/victim.pem" "$@"
	one_line_error "$file"
	grep -qiF -- "$reason" "$T/err" || fail "error for $file does not say '$reason': $(cat "$T/err")"
	[ ! -e "$T/victim.pem" ] || fail "$file: output file written"
	[ "$(rows)" = "$before" ] || fail "$file: registry changed ($(rows) vs $before)"
	ls "$T" | grep '\.tmp\.' >/dev/null && fail "$file: temporary file left behind"
	ok
}

printf 'garbage, not a CSR\n' >"$T/garbage.csr"
refuse "$T/garbage.csr" "not a valid"

head -c 300 "$T/good.csr" >"$T/truncated.csr"
refuse "$T/truncated.csr" "PEM"

openssl req -in "$T/good.csr" -outform DER -out "$T/good.der"
head -c 100 "$T/good.der" >"$T/truncated.der"
refuse "$T/truncated.der" "not a valid"

{ cat "$T/good.csr"; head -c 70000 /dev/zero | tr '\0' 'A'; } >"$T/huge.csr"
refuse "$T/huge.csr" "limit is 65536"

# Wrongly signed: flip one bit inside the signature's r value.
cp "$T/good.der" "$T/badsig.der"
off=$(($(stat -c %s "$T/badsig.der") - 40))
b=$(od -An -tu1 -j "$off" -N1 "$T/badsig.der" | tr -d ' ')
printf "\\$(printf %03o $((b ^ 1)))" | dd of="$T/badsig.der" bs=1 seek="$off" conv=notrunc 2>/dev/null
# (openssl req -verify exits 0 either way in 3.0: read what it says.)
openssl req -inform DER -in "$T/badsig.der" -noout -verify 2>&1 | grep "verify failure" >/dev/null ||
	fail "openssl does not see the tampered CSR as badly signed"
refuse "$T/badsig.der" "self-signature"

# A PEM holding something else: a private key (and it is not echoed).
refuse "$T/good.key" "PRIVATE KEY"
grep -q "MII" "$T/err" && fail "key material echoed in an error"

refuse "$T/does-not-exist.csr" "cannot open"
# A FIFO is refused at once, not waited on.
mkfifo "$T/fifo.csr"
refuse "$T/fifo.csr" "not a regular file"

# Weak keys.
csr rsa1024 weak-rsa
refuse "$T/weak-rsa.csr" "RSA of 1024 bits"
csr secp256k1 weak-curve
refuse "$T/weak-curve.csr" "secp256k1"

# The hardcoded fleet-wide key: the same public key for a second device.
expect 1 "$FLEETSEC" device issue second --csr "$T/good.csr" --out "$T/second.pem"
one_line_error "fleet-wide key"
[ ! -e "$T/second.pem" ] && [ "$(rows)" = "$before" ] || fail "shared key wrote something"
ok

# An ID with an active certificate, without --reissue.
csr p256 other
expect 1 "$FLEETSEC" device issue first --csr "$T/other.csr"
one_line_error "--reissue"
[ "$(rows)" = "$before" ] || fail "refused reissue wrote something"
ok

# Invalid device IDs.
for bad in "" "has space" "slash/id" "$(printf 'a%.0s' {1..65})" "comma,URI:x"; do
	expect 1 "$FLEETSEC" device issue "$bad" --csr "$T/other.csr"
	one_line_error "invalid device ID"
done
[ "$(rows)" = "$before" ] || fail "invalid IDs wrote something"

# --keygen refuses to overwrite an existing key file, and registers nothing.
echo "precious" >"$T/existing.key"
expect 1 "$FLEETSEC" device issue kg --keygen --key-out "$T/existing.key"
one_line_error "already exists"
[ "$(cat "$T/existing.key")" = precious ] && [ "$(rows)" = "$before" ] || fail "keygen overwrote or registered"
ok

# Revocation refusals.
expect 1 "$FLEETSEC" device revoke nobody
one_line_error "nobody"
expect 0 "$FLEETSEC" device revoke first
expect 1 "$FLEETSEC" device revoke first
one_line_error "already revoked"
# A revoked device is re-provisioned only on purpose.
csr p256 reprov
expect 1 "$FLEETSEC" device issue first --csr "$T/reprov.csr"
one_line_error "use --reissue to re-provision"
expect 0 "$FLEETSEC" device issue first --csr "$T/reprov.csr" --reissue

# Model names obey the one name rule of release manifests ([A-Za-z0-9._-],
# 1-64) wherever a model is taken: refused with exit 1 and one line naming
# --model and the model (escaped: no raw newline or ESC reaches the
# terminal), and nothing written.
"$FLEETSEC" mfr init --dir "$T/mfr" --name "Refusal Chips" >/dev/null
model_rows() { echo "$(rows)/$(reg '[.[].patterns[]] | length' enroll list)/$(reg length registry events)"; }
mbefore=$(model_rows)
long_model=$(printf 'm%.0s' $(seq 65))
for m in "$(printf 'thermo\nfake line')" "$(printf 'thermo\033[2J')" "thermo v2" "thermo/../x" \
	"$long_model" ""; do
	for cmd in "device issue mdev --keygen --key-out $T/mdev.key --out $T/mdev.pem" \
		"device list" \
		"enroll allow --manufacturer-ca $T/mfr/ca.pem --pattern SN-*" \
		"release create --image $T/none.img --out $T/m.json" \
		"release verify --root $T/none.pub $T/none.json" \
		"release publish --bundle $T/none.json --image $T/none.img --root $T/none.pub" \
		"release status"; do
		# shellcheck disable=SC2086 # the words of cmd are its arguments
		expect 1 "$FLEETSEC" $cmd --model "$m"
		one_line_error "fleetsec: --model: invalid model '"
		if grep -q "$(printf '\033')" "$T/err"; then fail "$cmd: raw ESC in the error"; fi
		[ ! -e "$T/mdev.key" ] && [ ! -e "$T/mdev.pem" ] && [ ! -e "$T/m.json" ] ||
			fail "$cmd --model: a file was written"
		ok
	done
done
# (Nothing deletes rows or events: unchanged at the end is unchanged throughout.)
[ "$(model_rows)" = "$mbefore" ] || fail "a refused --model changed the registry"
ok
# The rule's edges are accepted.
expect 0 "$FLEETSEC" enroll allow --manufacturer-ca "$T/mfr/ca.pem" --pattern 'SN-*' \
	--model "Thermo_2.0-$(printf 'x%.0s' $(seq 53))"
expect 0 "$FLEETSEC" device issue mdev --keygen --key-out "$T/mdev.key" --out "$T/mdev.pem" \
	--model thermo.v2
[ "$(reg .model device show mdev)" = thermo.v2 ] || fail "model thermo.v2 not recorded"
ok

# Usage errors exit 2.
expect 2 "$FLEETSEC" device issue x
expect 2 "$FLEETSEC" device issue x --csr "$T/other.csr" --keygen --key-out "$T/k"
expect 2 "$FLEETSEC" device issue x --keygen
expect 2 "$FLEETSEC" device issue x --csr "$T/other.csr" --days 0
expect 2 "$FLEETSEC" device issue x --csr "$T/other.csr" --days 12abc
# One number grammar: no sign, no blanks (strtol took both).
expect 2 "$FLEETSEC" device issue x --csr "$T/other.csr" --days +30
grep -qF -- "--days must be a whole number from 1 to" "$T/err" || fail "no range in: $(cat "$T/err")"
expect 2 "$FLEETSEC" device issue x --csr "$T/other.csr" --days " 30"
expect 2 "$FLEETSEC" fw sign --key k --version 1.0.0 --header-size 010 in out
grep -qF -- "decimal or 0x hex" "$T/err" || fail "no grammar in: $(cat "$T/err")"
expect 2 "$FLEETSEC" device issue --bogus
expect 2 "$FLEETSEC" device revoke first --reason certificateHold
expect 2 "$FLEETSEC" device list --status sleeping
expect 2 "$FLEETSEC" ca init
expect 2 "$FLEETSEC" ca init --name x --algo rsa
expect 2 "$FLEETSEC" nosuchcommand
expect 2 "$FLEETSEC"
done_checks
