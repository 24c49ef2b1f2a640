#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fleetsec-agent installing an encrypted image (issue 19) from a real nginx,
# with the decryption key in a file (MCUboot's per-product key, the image's
# own ENC TLV): the chunks are checked as served (ciphertext) and written
# decrypted; the slot then holds exactly what MCUboot's swap would leave in
# the primary slot, which `fleetsec fw decrypt` makes too and whose body is
# the signed payload. A download killed halfway resumes with the AES-CTR
# counter recomputed from the chunk offset (the journal holds no key, no
# cipher state). Refused, the slot left unused: no decrypt_key, the wrong
# key, a wrapped key tampered with in the served image, a body chunk
# tampered with on the server. The plaintext marker is never on the server
# nor in the agent's state.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nginx.sh"
: "${AGENT:?}" "${BOOTSIM:?}"
cd "$T"

MARK=FLEETSEC-PLAINTEXT-MARKER-19
"$FLEETSEC" ca init --name "Encrypted Fleet" >/dev/null
nginx_start "$FLEETSEC_HOME/issuing.pem" "$FLEETSEC_HOME/issuing.key" "$FLEETSEC_HOME/chain.pem"
"$FLEETSEC" device issue dev-1 --keygen --key-out dev.key --out dev.pem --model thermo 2>/dev/null
for k in fw root; do "$FLEETSEC" fw keygen --out $k.pem 2>/dev/null; "$FLEETSEC" fw pubkey $k.pem --out $k.pub; done
"$FLEETSEC" fw keygen --algo p256 --out online.pem 2>/dev/null
"$FLEETSEC" fw pubkey online.pem --out online.pub
"$FLEETSEC" release delegate --root-key root.pem --key online.pub --sequence 1 --out deleg.json
# The product's encryption key (P-256, ECIES) and a stranger's, made by openssl.
for k in enc other; do
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $k.pem 2>/dev/null
	openssl pkey -in $k.pem -pubout -out $k.pub.pem
done

# The payload: random bytes with the marker in several places, as code
# would carry a string.
payload() {
	local i
	for i in 1 2 3 4 5 6 7 8; do head -c 70000 /dev/urandom; printf '%s' "$MARK"; done >"$1"
}
payload v1.bin
payload v2.bin
"$FLEETSEC" fw sign --key fw.pem --version 1.0.0 --security-counter 1 --pad-header v1.bin v1.img
"$FLEETSEC" fw sign --key fw.pem --version 2.0.0 --security-counter 2 --pad-header \
	--encrypt enc.pub.pem v2.bin www/v2.img
SEQ=10
publish() { # publish IMAGE: release.json for www/IMAGE
	SEQ=$((SEQ + 1))
	"$FLEETSEC" release create --model thermo --image "www/$1" --url "/$1" --chunk-size 65536 \
		--sequence "$SEQ" --expires 1d --out manifest.json
	"$FLEETSEC" release sign --key online.pem --delegation deleg.json manifest.json --out www/release.json
}
fresh() {
	head -c $((0x100000)) /dev/zero | tr '\0' '\377' >slot_a
	cp slot_a slot_b
	dd if=v1.img of=slot_a conv=notrunc status=none
	rm -rf state bootenv
	mkdir state
}
conf() { agent_conf "https://127.0.0.1:$NGINX_PORT" server_crl=off manifest_url=/release.json \
	low_speed_time=3 chunk_retries=1 "$@"; }
A() { "$AGENT" -c agent.conf "$@"; }
hdr=$("$FLEETSEC" fw show www/v2.img --json | jq .header_size)
[ "$hdr" -gt 0 ] || fail "no header size"
size=$(stat -c %s www/v2.img)
grep -qF "$MARK" www/v2.img && fail "the encrypted image holds the plaintext marker"
ok

# The expected slot content, by the CLI (MCUboot's primary-slot form).
expect 0 "$FLEETSEC" fw decrypt --key enc.pem www/v2.img v2.dec
publish v2.img

# 1. Refused: an encrypted release and no decrypt_key. Nothing written.
fresh
conf
expect 1 A update
grep -q "encrypted and this device has no decrypt_key" err || fail "no key: $(cat err)"
[ "$(tr -d '\377' <slot_b | wc -c)" -eq 0 ] || fail "slot b was written without a key"
ok

# 2. Refused: the wrong key (another P-256 key): the ECIES tag fails.
conf decrypt_key="$T/other.pem"
expect 1 A update
grep -q "the image key: hmac mismatch" err || fail "wrong key: $(cat err)"
[ "$(tr -d '\377' <slot_b | wc -c)" -eq 0 ] || fail "slot b was written with the wrong key"
ok

# 3. The update, decrypted on the way in.
conf decrypt_key="$T/enc.pem"
expect 0 A update
grep -q installed out || fail "update: $(cat out)"
cmp -s <(head -c "$size" slot_b) v2.dec || fail "slot b is not the decrypted image"
cmp -s <(tail -c +$((hdr + 1)) slot_b | head -c "$(stat -c %s v2.bin)") v2.bin ||
	fail "slot b's body is not the payload"
ok
"$BOOTSIM" bootenv >/dev/null || fail "bootsim"
expect 0 A confirm
expect 0 A status --json
[ "$(jq -r .version out)" = 2.0.0+0 ] || fail "status: $(cat out)"
# The server (the CDN path) and the agent's state never held the plaintext.
grep -rqF "$MARK" www state && fail "plaintext marker on the server or in the state"
ok

# 4. A download killed halfway resumes, the counter recomputed from the
# chunk offset: the slot ends byte for byte the same.
fresh
conf decrypt_key="$T/enc.pem"
SEQ=$((SEQ + 1))
"$FLEETSEC" release create --model thermo --image www/v2.img --url /throttle/v2.img \
	--chunk-size 65536 --sequence "$SEQ" --expires 1d --out manifest.json
"$FLEETSEC" release sign --key online.pem --delegation deleg.json manifest.json --out www/release.json
"$AGENT" -c agent.conf update >/dev/null 2>&1 &
pid=$!
n=
for _ in $(seq 1 300); do
	n=$(awk '{ print $6 }' state/journal 2>/dev/null || true)
	[ -n "$n" ] && [ "$n" -ge 2 ] && break
	sleep 0.05
done
kill -KILL $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
[ -n "$n" ] && [ "$n" -ge 2 ] && [ "$n" -lt 9 ] || fail "no kill mid-download (chunks done: '$n')"
# The journal is its position and nothing else: no key, no counter.
[ "$(awk '{ print NF }' state/journal)" = 6 ] || fail "journal: $(cat state/journal)"
expect 0 A update
cmp -s <(head -c "$size" slot_b) v2.dec || fail "the resumed slot is not the decrypted image"
ok

# 5. Refused: a wrapped key tampered with in the served image (the manifest
# signed over the tampered bytes, so only the key's own check can tell).
fresh
enc_off=$("$FLEETSEC" fw show www/v2.img --json | jq '[.tlvs[] | select(.type == 50)][0].offset')
[ "$enc_off" -gt 0 ] || fail "no ENC_EC256 TLV in fw show"
cp www/v2.img www/bad.img
printf '\x55' | dd of=www/bad.img bs=1 seek=$((enc_off + 70)) conv=notrunc status=none
publish bad.img
expect 1 A update
grep -q "hmac mismatch" err || fail "tampered wrapped key: $(cat err)"
[ "$(tr -d '\377' <slot_b | wc -c)" -eq 0 ] || fail "slot b written with a tampered key"
ok

# 6. Refused: a body chunk changed on the server after the manifest was
# signed: the chunk hash (over the ciphertext as served) catches it.
fresh
cp www/v2.img www/cdn.img
publish cdn.img
printf '\x00' | dd of=www/cdn.img bs=1 seek=$((hdr + 100000)) conv=notrunc status=none
expect 1 A update
grep -q "fails its hash" err || fail "tampered chunk: $(cat err)"
ok

done_checks
