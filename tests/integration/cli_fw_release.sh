#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fw and release through the CLI: keys, signing, verification refusals with
# one-line reasons and nothing written, and release bundles whose DSSE
# signatures openssl verifies independently.
. "$(dirname "$0")/lib.sh"

cd "$T"
head -c 300000 /dev/urandom >payload.bin

# Keys: PKCS#8 0600, never overwritten; pubkey agrees with openssl.
expect 0 "$FLEETSEC" fw keygen --out fw.pem
expect 0 "$FLEETSEC" fw keygen --algo p256 --out fw-p256.pem
[ "$(stat -c %a fw.pem)" = 600 ] || fail "key mode"
grep -q "BEGIN PRIVATE KEY" fw.pem || fail "PKCS#8 PEM"
cp fw.pem before.pem
expect 1 "$FLEETSEC" fw keygen --out fw.pem
one_line_error "already exists"
cmp -s fw.pem before.pem || fail "keygen replaced a key"
expect 0 "$FLEETSEC" fw pubkey fw.pem --out fw.pub
[ "$(cat fw.pub)" = "$(openssl pkey -in fw.pem -pubout)" ] || fail "pubkey differs from openssl's"
"$FLEETSEC" fw pubkey fw-p256.pem --out fw-p256.pub
expect 0 "$FLEETSEC" fw keygen --out other.pem
"$FLEETSEC" fw pubkey other.pem --out other.pub

# Sign and verify.
expect 0 "$FLEETSEC" fw sign --key fw.pem --version 2.1.0+7 --security-counter 3 \
	--header-size 0x200 --pad-header --slot-size 0x80000 payload.bin v2.img
expect 0 "$FLEETSEC" fw verify --key fw.pub v2.img
grep -q "v2.img: valid" out && grep -q "security counter  3" out || fail "verify output"
expect 0 "$FLEETSEC" fw verify --key fw.pub --json v2.img
[ "$(jq -r .version out)" = "2.1.0+7" ] && [ "$(jq -r .image_size out)" = 300000 ] &&
	[ "$(jq -r .hash out)" = "$(head -c $((0x200 + 300000 + 12)) v2.img | sha256sum | cut -d' ' -f1)" ] ||
	fail "verify --json fields (hash must be SHA-256 of header+payload+protected TLVs)"
ok
expect 0 "$FLEETSEC" fw show --json v2.img
[ "$(jq '.tlvs | length' out)" = 4 ] || fail "show lists 4 TLVs"
expect 0 "$FLEETSEC" fw sign --key fw-p256.pem --version 1.0.0 --pad-header --slot-size 0x80000 \
	--pad --confirm --align 8 payload.bin p256.img
expect 0 "$FLEETSEC" fw verify --key fw-p256.pub p256.img
grep -q "image_ok set" out || fail "confirmed trailer shown"
[ "$(stat -c %s p256.img)" = $((0x80000)) ] || fail "padded to the slot"

# Verification refusals: exit 1, one line naming the image and the reason.
refuse_img() { # FILE KEY REASON
	expect 1 "$FLEETSEC" fw verify --key "$2" "$1"
	one_line_error "$1"
	grep -q "$3" err || fail "$1: expected '$3', got: $(cat err)"
	ok
}
refuse_img v2.img other.pub "wrong key"
refuse_img v2.img fw-p256.pub "wrong key"
cp v2.img tampered.img
# One bit flipped: a changed byte, whatever the random payload held there.
off=$((0x200 + 1000))
b=$(slice v2.img "$off" 1 | od -An -tu1 | tr -d ' ')
printf "\\$(printf %03o $((b ^ 1)))" | dd of=tampered.img bs=1 seek="$off" conv=notrunc 2>/dev/null
cmp -s v2.img tampered.img && fail "the tampered image is unchanged"
refuse_img tampered.img fw.pub "hash mismatch"
head -c 5000 v2.img >short.img
refuse_img short.img fw.pub "truncated"
refuse_img payload.bin fw.pub "bad magic"
refuse_img missing.img fw.pub "cannot open"

# Signing refusals write nothing.
expect 1 "$FLEETSEC" fw sign --key fw.pem --version 1.0.0 --pad-header --slot-size 0x1000 \
	payload.bin toobig.img
one_line_error "exceeds requested size 0x1000"
expect 1 "$FLEETSEC" fw sign --key fw.pem --version 1.0.0 payload.bin nopad.img
one_line_error "--pad-header"
[ ! -e toobig.img ] && [ ! -e nopad.img ] || fail "refused sign left a file"
ls | grep '\.tmp\.' >/dev/null && fail "temporary file left behind"
expect 2 "$FLEETSEC" fw sign --key fw.pem --version 1.0.0 --pad payload.bin x.img
expect 2 "$FLEETSEC" fw sign --key fw.pem --version 01.0 payload.bin x.img
expect 2 "$FLEETSEC" fw sign --key fw.pem --version 256.0.0 payload.bin x.img
expect 2 "$FLEETSEC" fw sign --key fw.pem --version 1.0 --align 3 payload.bin x.img
expect 2 "$FLEETSEC" fw sign --version 1.0 payload.bin x.img
expect 2 "$FLEETSEC" fw verify v2.img
[ ! -e x.img ] || fail "usage error wrote a file"

# Releases: root key pinned in devices, an online P-256 key delegated.
"$FLEETSEC" fw keygen --out root.pem && "$FLEETSEC" fw pubkey root.pem --out root.pub
expect 0 "$FLEETSEC" release delegate --root-key root.pem --key fw-p256.pub --sequence 1 --out deleg.json
expect 0 "$FLEETSEC" release create --model sensor --image v2.img --url https://fw.example/v2.img \
	--chunk-size 65536 --sequence 100 --expires 1d --out manifest.json
[ "$(jq '.releases[0].chunks | length' manifest.json)" = $((($(stat -c %s v2.img) + 65535) / 65536)) ] ||
	fail "one hash per chunk"
[ "$(jq -r '.releases[0].sha256' manifest.json)" = "$(sha256sum v2.img | cut -d' ' -f1)" ] || fail "image hash"
[ "$(jq -r '.releases[0].chunks[1]' manifest.json)" = "$(dd if=v2.img bs=65536 skip=1 count=1 status=none | sha256sum | cut -d' ' -f1)" ] ||
	fail "chunk hash"
[ "$(jq -r '.releases[0].security_counter' manifest.json)" = 3 ] || fail "counter from the image"
ok
expect 0 "$FLEETSEC" release sign --key fw-p256.pem --delegation deleg.json manifest.json --out release.json
expect 0 "$FLEETSEC" release verify --root root.pub --model sensor --last-sequence 99 --json release.json
[ "$(jq -r .version out)" = "2.1.0+7" ] && [ "$(jq -r .sequence out)" = 100 ] || fail "release verify fields"
ok

# Independent DSSE check: openssl verifies both signatures over the PAE.
pae() { # TYPE PAYLOAD_FILE
	printf 'DSSEv1 %d %s %d ' "${#1}" "$1" "$(stat -c %s "$2")"
	cat "$2"
}
jq -r .delegation.payload release.json | base64 -d >d.payload
jq -r '.delegation.signatures[0].sig' release.json | base64 -d >d.sig
pae application/vnd.fleetsec.delegation+json d.payload >d.pae
openssl pkeyutl -verify -pubin -inkey root.pub -rawin -in d.pae -sigfile d.sig >/dev/null ||
	fail "openssl does not verify the delegation signature"
jq -r .manifest.payload release.json | base64 -d >m.payload
jq -r '.manifest.signatures[0].sig' release.json | base64 -d >m.sig
pae application/vnd.fleetsec.release+json m.payload >m.pae
openssl dgst -sha256 -verify fw-p256.pub -signature m.sig m.pae >/dev/null ||
	fail "openssl does not verify the manifest signature"
cmp -s m.payload manifest.json || fail "the signed payload is not the manifest as written"
ok

# Release refusals.
refuse_rel() { # REASON ARGS...
	local reason=$1
	shift
	expect 1 "$FLEETSEC" release verify "$@"
	grep -q "$reason" err || fail "expected '$reason', got: $(cat err)"
	[ "$(wc -l <err)" -eq 1 ] || fail "not one line"
	ok
}
refuse_rel "unknown key" --root other.pub --model sensor release.json
refuse_rel "not above" --root root.pub --model sensor --last-delegation 1 --last-sequence 100 release.json
refuse_rel "no release for model cam" --root root.pub --model cam release.json
refuse_rel "older than" --root root.pub --model sensor --last-delegation 2 release.json
jq '.manifest.payload |= (.[0:20] + (if .[20:21] == "A" then "B" else "A" end) + .[21:])' release.json >tampered.json
refuse_rel "bad signature" --root root.pub --model sensor tampered.json
printf '{"delegation":' >broken.json
refuse_rel "malformed JSON" --root root.pub --model sensor broken.json
"$FLEETSEC" release create --model sensor --image v2.img --url https://fw.example/v2.img \
	--sequence 101 --expires 1s --out short.json
"$FLEETSEC" release sign --key fw-p256.pem --delegation deleg.json short.json --out short-rel.json
sleep 2
refuse_rel "expired" --root root.pub --model sensor short-rel.json
# Signing with an undelegated key is refused and writes nothing.
expect 1 "$FLEETSEC" release sign --key other.pem --delegation deleg.json manifest.json --out nope.json
one_line_error "does not name"
[ ! -e nope.json ] || fail "refused sign wrote a bundle"
expect 1 "$FLEETSEC" release create --model sensor --image payload.bin --url https://x/y --out m2.json
one_line_error "bad magic"
expect 1 "$FLEETSEC" release create --model sensor --image v2.img --url http://x/y --out m2.json
[ ! -e m2.json ] || fail "refused create wrote a file"
done_checks
