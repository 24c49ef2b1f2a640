#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Per-device firmware key delivery (issue 19) through the real fleetsecd:
# a release encrypted to the key fleetsecd holds (firmware_enc_key); GET
# /v1/firmware/SHA256/key answers a device with the image key wrapped by
# ECIES-P256 to that device's own enrolled encryption key.
# - openssl alone (ECDH, HKDF, HMAC, AES-CTR) unwraps the answer with the
#   device's key and decrypts the served image's body to the payload;
# - the agent, with key_delivery = server, installs the release: it holds
#   no key that opens the image's own ENC TLV (image delivery fails);
# - refused: a device of another model (404), a wrong hash (404), a device
#   with no encryption key (403), a revoked device (403), a plain image
#   (409); a captured wrapped key fails the other device's HMAC check;
# - the plaintext marker is in none of the store, the served bytes, the
#   agent's state;
# - the encryption key enrolled with the device: a device enrolled with
#   its bootstrap credential and key_delivery = server sends its X25519
#   key itself (POST /v1/enc-key, recorded as fleetsecd's "enc-key" event,
#   its SPKI hash as openssl computes it), then installs the release with
#   the key wrapped by ECIES-X25519; a later round sends nothing; refused
#   at /v1/enc-key: another key once one is enrolled (409, nothing
#   changed), the TLS key, a private key, two keys, text around the key,
#   an oversized body (400/413), a bootstrap certificate (403).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}" "${BOOTSIM:?}"
cd "$T"
F=$FLEETSEC
MARK=FLEETSEC-PLAINTEXT-MARKER-19

p256() { # p256 NAME: NAME.pem and NAME.pub.pem, by openssl
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.pem" 2>/dev/null
	openssl pkey -in "$1.pem" -pubout -out "$1.pub.pem"
}
"$F" ca init --name "Key Fleet" --crl-days 30 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
p256 holder
echo "firmware_enc_key = $T/holder.pem" >>"$FLEETSEC_HOME/fleetsecd.conf"
fleetsecd_bounds_off
fleetsecd_start
for d in d1:thermo d2:thermo d3:other d4:thermo; do
	"$F" device issue "${d%%:*}" --keygen --key-out "${d%%:*}.key" --out "${d%%:*}.pem" \
		--model "${d#*:}" >/dev/null 2>&1
done
for d in d1 d2 d3; do
	p256 "$d-enc"
	expect 0 "$F" device enc-key "$d" "$d-enc.pub.pem"
done
# The TLS key is not an encryption key.
expect 1 "$F" device enc-key d4 d4.key
one_line_error "must be a second key"

device_slots
online_key
for i in 1 2 3 4 5 6; do head -c 50000 /dev/urandom; printf '%s' "$MARK"; done >v2.bin
"$F" fw sign --key fw.pem --version 2.0.0 --security-counter 2 --pad-header --slot-size 0x100000 \
	--encrypt holder.pub.pem v2.bin v2.img
grep -qF "$MARK" v2.img && fail "the encrypted image holds the marker"
sha=$(sha256sum v2.img | cut -d' ' -f1)
"$F" release create --model thermo --image v2.img --chunk-size 65536 --sequence 2 --out m.json
"$F" release sign --key online.pem --delegation deleg.json m.json --out r.json
"$F" release publish --model thermo --bundle r.json --image v2.img --root root.pub >/dev/null
ok

# get DEVICE PATH: curl with the device's certificate; the status in $code.
get() {
	code=$(curl -s -o body -w '%{http_code}' --cacert "$FLEETSEC_HOME/chain.pem" \
		--cert "$1.pem" --key "$1.key" "$URL$2")
}

# 1. The key for d1, judged by openssl alone.
get d1 "/v1/firmware/$sha/key"
[ "$code" = 200 ] || fail "d1's key: $code $(cat body)"
# One ENC_EC256 TLV: type 0x32, length 113 (point 65, tag 32, key 16).
[ "$(od -An -tx1 -N4 body | tr -d ' ')" = 32007100 ] && [ "$(stat -c %s body)" = 117 ] ||
	fail "not one ENC_EC256 TLV: $(od -An -tx1 body | head -2)"
ok
# unwrap DEVICE: the AES key hex from body via ECDH + HKDF + HMAC check
# (MCUboot's ECIES-P256), or fail when the tag does not match.
unwrap() {
	local hex okm aes mac tag
	hex=$(od -An -tx1 -v body | tr -d ' \n')
	# The ephemeral point as an SPKI: the fixed P-256 DER prefix + point.
	printf '3059301306072a8648ce3d020106082a8648ce3d030107034200%s' "${hex:8:130}" | xxd -r -p >eph.der
	openssl pkey -pubin -inform DER -in eph.der -out eph.pem
	openssl pkeyutl -derive -inkey "$1-enc.pem" -peerkey eph.pem -out secret.bin
	okm=$(openssl kdf -keylen 48 -kdfopt digest:SHA256 -kdfopt hexkey:"$(xxd -p -c 256 secret.bin)" \
		-kdfopt info:MCUBoot_ECIES_v1 HKDF | tr -d ':' | tr 'A-F' 'a-f')
	aes=${okm:0:32}
	mac=${okm:32:64}
	tag=$(printf '%s' "${hex:202:32}" | xxd -r -p | openssl mac -digest SHA256 -macopt hexkey:"$mac" HMAC |
		tr 'A-F' 'a-f')
	[ "$tag" = "${hex:138:64}" ] || return 1
	printf '%s' "${hex:202:32}" | xxd -r -p |
		openssl enc -d -aes-128-ctr -K "$aes" -iv 00000000000000000000000000000000 | xxd -p
}
key=$(unwrap d1) || fail "d1's key does not open with d1's encryption key"
hdr=$("$F" fw show v2.img --json | jq .header_size)
len=$(stat -c %s v2.bin)
# The served image, decrypted by openssl with that key, is the payload.
get d1 "/v1/firmware/$sha"
[ "$code" = 200 ] || fail "image: $code"
grep -qF "$MARK" body && fail "the served image holds the marker"
tail -c +$((hdr + 1)) body | head -c "$len" |
	openssl enc -d -aes-128-ctr -K "$key" -iv 00000000000000000000000000000000 >plain.bin
cmp -s plain.bin v2.bin || fail "openssl's decryption with the delivered key is not the payload"
ok

# 2. A captured wrapped key is useless to another device: d2's key fails
# its HMAC check.
get d1 "/v1/firmware/$sha/key"
unwrap d2 >/dev/null && fail "d1's wrapped key opened with d2's key"
ok
# d2 gets its own, which d1's key does not open.
get d2 "/v1/firmware/$sha/key"
[ "$code" = 200 ] || fail "d2's key: $code"
unwrap d1 >/dev/null && fail "d2's wrapped key opened with d1's key"
[ "$(unwrap d2)" = "$key" ] || fail "d2's key unwraps to another image key"
ok

# 3. Refusals.
get d3 "/v1/firmware/$sha/key"
[ "$code" = 404 ] || fail "another model's device: $code $(cat body)"
ok
get d1 "/v1/firmware/$(printf '%064d' 7)/key"
[ "$code" = 404 ] || fail "a wrong hash: $code"
ok
get d4 "/v1/firmware/$sha/key"
[ "$code" = 403 ] && grep -q "no encryption key enrolled" body || fail "no enc key: $code $(cat body)"
ok

# 4. The agent of d1 installs the release with the delivered key. With the
# image's own ENC TLV (MCUboot's per-product mode) its key opens nothing.
cp d1.key dev.key
cp d1.pem dev.pem
mkdir state
agent_conf "$URL" decrypt_key="$T/d1-enc.pem"
expect 1 "$AGENT" -c agent.conf update
grep -q "hmac mismatch" err || fail "image-mode with a device key: $(cat err)"
[ "$(tr -d '\377' <slot_b | wc -c)" -eq 0 ] || fail "slot b written without the image key"
ok
agent_conf "$URL" decrypt_key="$T/d1-enc.pem" key_delivery=server
expect 0 "$AGENT" -c agent.conf update
grep -q installed out || fail "update: $(cat out) $(cat err)"
cmp -s <(tail -c +$((hdr + 1)) slot_b | head -c "$len") v2.bin || fail "slot b's body is not the payload"
grep -rqF "$MARK" "$FLEETSEC_HOME/firmware" state && fail "the marker in the store or the state"
ok

# 5. The device's encryption key in a TPM (swtpm): made inside it by the
# tpm2 provider, enrolled by its public half; the agent's ECDH runs inside
# the TPM (the blob is useless without it), and the release installs.
. "$(dirname "$0")/swtpm.sh"
swtpm_start tpm-d5
"$F" device issue d5 --keygen --key-out d5.key --out d5.pem --model thermo >/dev/null 2>&1
TPM2OPENSSL_TCTI=$TCTI TSS2_LOG=all+none openssl genpkey -provider tpm2 -provider default \
	-propquery '?provider=tpm2' -algorithm EC -pkeyopt group:P-256 -out d5-enc.tss 2>/dev/null ||
	fail "the tpm2 OpenSSL provider is missing (scripts/deps.sh installs tpm2-openssl)"
grep -q "BEGIN TSS2 PRIVATE KEY" d5-enc.tss || fail "not a TPM key blob"
printf 'openssl_conf = init\n[init]\nproviders = prov\n[prov]\ndefault = on\ntpm2 = on\n[on]\nactivate = 1\n' \
	>tpm.cnf
TPM2OPENSSL_TCTI=$TCTI TSS2_LOG=all+none OPENSSL_CONF=$T/tpm.cnf openssl pkey -in d5-enc.tss \
	-pubout -out d5-enc.pub.pem
expect 0 "$F" device enc-key d5 d5-enc.pub.pem
cp d5.key dev.key
cp d5.pem dev.pem
rm -rf state bootenv
mkdir state
head -c $((0x100000)) /dev/zero | tr '\0' '\377' >slot_b
agent_conf "$URL" decrypt_key="$T/d5-enc.tss" key_delivery=server tcti="$TCTI"
# Another TPM holds nothing that opens the blob: refused, nothing written.
TCTI_D5=$TCTI
swtpm_start tpm-other
agent_conf "$URL" decrypt_key="$T/d5-enc.tss" key_delivery=server tcti="$TCTI"
expect 1 "$AGENT" -c agent.conf update
grep -q "decrypt_key $T/d5-enc.tss: " err || fail "another TPM: $(cat err)"
[ "$(tr -d '\377' <slot_b | wc -c)" -eq 0 ] || fail "slot b written with another TPM"
ok
agent_conf "$URL" decrypt_key="$T/d5-enc.tss" key_delivery=server tcti="$TCTI_D5"
expect 0 "$AGENT" -c agent.conf update
grep -q installed out || fail "TPM update: $(cat out) $(cat err)"
cmp -s <(tail -c +$((hdr + 1)) slot_b | head -c "$len") v2.bin || fail "slot b's body is not the payload (TPM)"
ok

# 6. Revoked: d2 gets nothing more.
"$F" device revoke d2 >/dev/null
get d2 "/v1/firmware/$sha/key"
[ "$code" = 403 ] || fail "a revoked device: $code $(cat body)"
ok

# 7. A plain image is no key's business: 409.
sign_image v3 3.0.0 3
"$F" release create --model thermo --image v3.img --chunk-size 65536 --sequence 3 --out m.json
"$F" release sign --key online.pem --delegation deleg.json m.json --out r.json
"$F" release publish --model thermo --bundle r.json --image v3.img --root root.pub >/dev/null
get d1 "/v1/firmware/$(sha256sum v3.img | cut -d' ' -f1)/key"
[ "$code" = 409 ] || fail "a plain image: $code $(cat body)"
ok

# 8. The key enrolled with the device (issue 19: "a second key, separate
# from its TLS key, enrolled with it"), here an X25519 key in a file.
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr issue SN-E1 --dir mfr --key-out boot.key --out boot.pem 2>/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-E*' --model thermo >/dev/null
openssl genpkey -algorithm X25519 -out e1-enc.pem
want=$(openssl pkey -in e1-enc.pem -pubout -outform DER | sha256sum | cut -d' ' -f1)
rm -rf state bootenv dev.key dev.pem
mkdir state
# A new device: v1 in slot a, slot b erased (device_slots' layout).
head -c $((0x100000)) /dev/zero | tr '\0' '\377' >slot_a
cp slot_a slot_b
dd if=v1.img of=slot_a conv=notrunc status=none
agent_conf "$URL" decrypt_key="$T/e1-enc.pem" key_delivery=server bootstrap_cert="$T/boot.pem" \
	bootstrap_key="$T/boot.key"
expect 0 "$AGENT" -c agent.conf enroll
grep -q "enrolled as SN-E1: .*; firmware encryption key sent" out || fail "enroll: $(cat out) $(cat err)"
[ "$(cat state/enc-key.sent)" = "$want SN-E1 $URL" ] ||
	fail "enc-key.sent: $(cat state/enc-key.sent), openssl: $want SN-E1 $URL"
ev=$("$F" events --device SN-E1 --json | jq -r '.[] | select(.action == "enc-key") | "\(.actor) \(.detail)"')
[ "$ev" = "fleetsecd firmware encryption key ${want:0:16}... enrolled" ] || fail "enc-key event: $ev"
ok
# An encrypted release again (7. published a plain one), its image key
# wrapped by ECIES-X25519 (TLV 0x33) for this device alone.
for i in 1 2 3; do head -c 40000 /dev/urandom; printf '%s' "$MARK"; done >v4.bin
"$F" fw sign --key fw.pem --version 4.0.0 --security-counter 4 --pad-header --slot-size 0x100000 \
	--encrypt holder.pub.pem v4.bin v4.img
"$F" release create --model thermo --image v4.img --chunk-size 65536 --sequence 4 --out m.json
"$F" release sign --key online.pem --delegation deleg.json m.json --out r.json
"$F" release publish --model thermo --bundle r.json --image v4.img --root root.pub >/dev/null
expect 0 "$AGENT" -c agent.conf daemon --once
grep -q installed out || fail "X25519 update: $(cat out) $(cat err)"
grep -q "sent the firmware encryption key" out && fail "sent the key again: $(cat out)"
cmp -s <(tail -c +$((hdr + 1)) slot_b | head -c "$(stat -c %s v4.bin)") v4.bin ||
	fail "slot b's body is not the payload (X25519)"
code=$(curl -s -o body -w '%{http_code}' --cacert "$FLEETSEC_HOME/chain.pem" --cert dev.pem \
	--key dev.key "$URL/v1/firmware/$(sha256sum v4.img | cut -d' ' -f1)/key")
[ "$code" = 200 ] && [ "$(od -An -tx1 -N1 body | tr -d ' ')" = 33 ] ||
	fail "not an ENC_X25519 TLV: $code $(od -An -tx1 body | head -1)"
[ "$(grep -c 'POST /v1/enc-key peer=SN-E1 ' "$T/daemon.log")" = 1 ] || fail "SN-E1 sent its key more than once"
ok
# Refusals at /v1/enc-key, with the device's own certificate.
post_key() { # post_key BODYFILE [DEVICE]: the status in $code (DEVICE's files, else dev's)
	code=$(curl -s -o body -w '%{http_code}' --cacert "$FLEETSEC_HOME/chain.pem" --cert "${2:-dev}.pem" \
		--key "${2:-dev}.key" -H 'Content-Type: application/x-pem-file' --data-binary @"$1" \
		"$URL/v1/enc-key")
}
openssl pkey -in e1-enc.pem -pubout -out e1-enc.pub.pem
post_key e1-enc.pub.pem
[ "$code" = 200 ] && [ "$(jq .enrolled body)" = false ] || fail "the same key again: $code $(cat body)"
openssl genpkey -algorithm X25519 -out other.pem
openssl pkey -in other.pem -pubout -out other.pub.pem
post_key other.pub.pem
[ "$code" = 409 ] && grep -q "another firmware encryption key enrolled" body || fail "another key: $code $(cat body)"
# Once a key is enrolled, any other is 409, the TLS key too; before, d4's
# own TLS key is refused as such (d4 has no encryption key).
openssl pkey -in dev.key -pubout -out tls.pub.pem
post_key tls.pub.pem
[ "$code" = 409 ] || fail "the TLS key, a key enrolled: $code $(cat body)"
openssl pkey -in d4.key -pubout -out d4-tls.pub.pem
post_key d4-tls.pub.pem d4
[ "$code" = 400 ] && grep -q "must be a second key" body || fail "d4's TLS key: $code $(cat body)"
# An encrypted PEM block is refused, never decrypted (no passphrase asked).
{ echo '-----BEGIN PUBLIC KEY-----'; echo 'Proc-Type: 4,ENCRYPTED'
  echo 'DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF'; echo
  sed -n '2,/END/p' other.pub.pem; } >enc.pem
post_key enc.pem d4
[ "$code" = 400 ] || fail "an encrypted PEM block: $code $(cat body)"
: >empty.pem
post_key empty.pem d4
[ "$code" = 400 ] || fail "an empty body: $code $(cat body)"
post_key other.pem
[ "$code" = 400 ] || fail "a private key: $code $(cat body)"
cat other.pub.pem e1-enc.pub.pem >two.pem
post_key two.pem
[ "$code" = 400 ] || fail "two keys: $code $(cat body)"
{ echo hello; cat other.pub.pem; } >text.pem
post_key text.pem
[ "$code" = 400 ] || fail "text before the key: $code $(cat body)"
head -c 2000 /dev/zero | tr '\0' a >big.pem
post_key big.pem
[ "$code" = 413 ] || fail "2000 bytes: $code $(cat body)"
# Nothing above changed the key fleetsecd wraps to.
[ "$("$F" events --device SN-E1 --json | jq '[.[] | select(.action == "enc-key")] | length')" = 1 ] ||
	fail "a refused key was recorded"
code=$(curl -s -o body -w '%{http_code}' --cacert "$FLEETSEC_HOME/chain.pem" --cert boot.pem \
	--key boot.key --data-binary @other.pub.pem "$URL/v1/enc-key")
[ "$code" = 403 ] && grep -q "needs an operational certificate" body ||
	fail "a bootstrap certificate: $code $(cat body)"
# An operator who wants no key trusted on first use turns it off.
echo "enc_key_self_enroll = off" >>"$FLEETSEC_HOME/fleetsecd.conf"
fleetsecd_reload
post_key other.pub.pem d4
[ "$code" = 403 ] && grep -q "enc_key_self_enroll = off" body || fail "self-enrolment off: $code $(cat body)"
post_key other.pub.pem
[ "$code" = 403 ] || fail "self-enrolment off, another key: $code $(cat body)"
# A key already enrolled is still answered 200, so that an agent goes on:
# SN-E1's, sent again by its daemon round with no record of it.
post_key e1-enc.pub.pem
[ "$code" = 200 ] && [ "$(jq .enrolled body)" = false ] || fail "self-enrolment off, the known key: $code $(cat body)"
rm state/enc-key.sent
expect 0 "$AGENT" -c agent.conf daemon --once
grep -q "sent the firmware encryption key" out || fail "the agent with self-enrolment off: $(cat out) $(cat err)"
ok

done_checks
