#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Encrypted MCUboot images (docs/FW-ENCRYPTION.md), checked by independent
# peers rather than by fleetsec itself:
#  1. imgtool's encrypted vectors (tests/vectors/mcuboot-enc): every positive
#     verifies over its plaintext and decrypts to the exact payload; every
#     negative is refused in one line with nothing written.
#  2. fleetsec's own encrypted images, for every signing key x encryption
#     kind x AES key size: the image key is unwrapped with the openssl CLI
#     (pkeyutl -derive + kdf HKDF + dgst HMAC + enc -aes-*-ctr for ECIES,
#     pkeyutl OAEP for RSA) or python3-cryptography (AES key wrap, which the
#     openssl CLI lacks), the body decrypted with `openssl enc -aes-*-ctr`,
#     the hash recomputed with openssl dgst and the Ed25519 signature checked
#     with openssl pkeyutl.
#  3. Every refusal: wrong key, tampered TLV and body, truncation, wrong key
#     type or length, bad layouts; each one line, exit 1 (2 for usage), and
#     no output file (an existing one untouched).
. "$(dirname "$0")/lib.sh"

V=$(cd "$(dirname "$0")/../vectors/mcuboot-enc" && pwd)
[ -f "$V/vectors.json" ] || fail "no vectors at $V"
command -v jq >/dev/null || fail "jq is needed to read vectors.json"
python3 -c 'from cryptography.hazmat.primitives import keywrap' 2>/dev/null ||
	fail "python3-cryptography is needed (scripts/deps.sh)"

ZERO_IV=00000000000000000000000000000000
hex() { xxd -p -c 100000 | tr -d '\n'; }
unhex() { xxd -r -p; }
# bytes FILE OFF LEN: LEN bytes at OFF
bytes() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; }

# ---- 1. imgtool's vectors ----
npos=0
while IFS=$'\t' read -r id file pub key pay pad mode; do
	if [ "$mode" = as_stored ]; then
		# --clear: the body is in clear; it verifies as stored.
		expect 0 "$FLEETSEC" fw verify --key "$V/$pub" "$V/$file"
	elif [ "${pub#*rsa}" = "$pub" ]; then
		expect 0 "$FLEETSEC" fw verify --key "$V/$pub" --decrypt-key "$V/$key" "$V/$file"
		grep -q "valid, signed by .*over the decrypted body" "$T/out" || fail "$id: $(cat "$T/out")"
		ok
		expect 0 "$FLEETSEC" fw verify --key "$V/$pub" --decrypt-key "$V/$key" --json "$V/$file"
		[ "$(jq -r .decrypted "$T/out")" = true ] || fail "$id: not decrypted in --json"
		ok
		# Without the key: refused as encrypted, after the signature check.
		expect 1 "$FLEETSEC" fw verify --key "$V/$pub" "$V/$file"
		one_line_error "the signature by this key over the stated hash is valid"
	fi
	if [ "$mode" != as_stored ]; then
		expect 0 "$FLEETSEC" fw decrypt --key "$V/$key" --payload "$V/$file" "$T/$id.plain"
		{ cat "$V/$pay"; head -c "$pad" /dev/zero; } | cmp -s - "$T/$id.plain" ||
			fail "$id: decrypted payload differs from $pay"
		ok
		# The primary-slot form: same bytes but the body, and it
		# verifies as stored (RSA signatures are not fleetsec's).
		expect 0 "$FLEETSEC" fw decrypt --key "$V/$key" "$V/$file" "$T/$id.slot"
		[ "$(stat -c %a "$T/$id.slot")" = 600 ] || fail "$id: decrypted image not 0600"
		[ "$(stat -c %s "$T/$id.slot")" = "$(stat -c %s "$V/$file")" ] || fail "$id: size changed"
		ok
		if [ "${pub#*rsa}" = "$pub" ]; then
			expect 0 "$FLEETSEC" fw verify --key "$V/$pub" "$T/$id.slot"
		fi
	fi
	npos=$((npos + 1))
done < <(jq -r '.vectors[] | select(.kind == "positive") |
	[.id, .file, .sign_pubkey, .enc_key, .payload_file, .body_zero_pad, .mode] | @tsv' "$V/vectors.json")
[ "$npos" -eq 10 ] || fail "expected 10 positive vectors, ran $npos"

# Negatives: the vector's first failing stage, as fleetsec words it.
nneg=0
while IFS=$'\t' read -r id file pub key reason; do
	case $reason in
	hmac_mismatch) why="hmac mismatch" ;;
	kw_unwrap_failed) why="key unwrap failed" ;;
	oaep_failed) why="oaep failed" ;;
	ecdh_failed) why="ecdh failed" ;;
	hash_mismatch) why="hash mismatch" ;;
	truncated) why="truncated" ;;
	*) fail "$id: unknown reason $reason" ;;
	esac
	if [ "${pub#*rsa}" = "$pub" ]; then
		expect 1 "$FLEETSEC" fw verify --key "$V/$pub" --decrypt-key "$V/$key" "$V/$file"
		one_line_error "$why"
	fi
	expect 1 "$FLEETSEC" fw decrypt --key "$V/$key" "$V/$file" "$T/$id.never"
	one_line_error "$why"
	[ ! -e "$T/$id.never" ] || fail "$id: output written despite the refusal"
	ok
	nneg=$((nneg + 1))
done < <(jq -r '.vectors[] | select(.kind == "negative") |
	[.id, .file, .sign_pubkey, .enc_key, .expect.reason] | @tsv' "$V/vectors.json")
[ "$nneg" -eq 12 ] || fail "expected 12 negative vectors, ran $nneg"

# ---- 2. fleetsec's images, unwrapped and decrypted by independent peers ----
K=$T/keys
mkdir "$K"
openssl genpkey -algorithm ED25519 -out "$K/sign-ed25519.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/sign-p256.pem" 2>/dev/null
openssl genpkey -algorithm X25519 -out "$K/x25519.pem" 2>/dev/null
openssl genpkey -algorithm X25519 -out "$K/x25519-other.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/p256.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/p256-other.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/rsa-other.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$K/rsa3072.pem" 2>/dev/null
for k in sign-ed25519 sign-p256 x25519 p256 rsa rsa3072; do
	openssl pkey -in "$K/$k.pem" -pubout -out "$K/$k.pub.pem"
done
openssl rand 16 >"$K/kw128"
openssl rand 32 >"$K/kw256"
openssl rand 16 >"$K/kw128-other"
base64 <"$K/kw128" >"$K/kw128.b64"
head -c 24 /dev/urandom >"$K/kw24"

# Payloads: odd sizes (imgtool pads to 16), and a marker to grep for.
printf 'x' >"$T/p1.bin"
head -c 1000 /dev/urandom >"$T/p1000.bin"
{ head -c 100000 /dev/urandom; printf 'FLEETSEC-PLAINTEXT-MARKER'; head -c 200011 /dev/urandom; } >"$T/p300k.bin"

# The image's TLV of a type: value as hex.
tlv_hex() { # IMAGE TYPE
	local off len
	read -r off len < <(jq -r --argjson t "$2" '.tlvs[] | select(.type == $t) | "\(.offset) \(.len)"' "$1.json")
	[ -n "$off" ] || fail "$1: no TLV $2"
	bytes "$1" "$off" "$len" | hex
}

# The image key, unwrapped by the peers from the ENC TLV. ECIES: ECDH with
# the ephemeral key (openssl pkeyutl -derive), HKDF (openssl kdf), the HMAC
# tag compared (openssl dgst -mac HMAC), the key decrypted (openssl enc).
peer_unwrap() { # IMAGE KIND KEYBYTES PRIV
	local img=$1 kind=$2 kl=$3 priv=$4 v plen tlen sha prefix eph tag ek secret okm tag2
	case $kind in
	x25519 | x25519-512 | p256)
		case $kind in
		p256) v=$(tlv_hex "$img" 50) plen=65 tlen=32 sha=256
			prefix=3059301306072a8648ce3d020106082a8648ce3d030107034200 ;;
		x25519) v=$(tlv_hex "$img" 51) plen=32 tlen=32 sha=256 prefix=302a300506032b656e032100 ;;
		*) v=$(tlv_hex "$img" 52) plen=32 tlen=64 sha=512 prefix=302a300506032b656e032100 ;;
		esac
		[ ${#v} -eq $(((plen + tlen + kl) * 2)) ] || fail "$img: ENC TLV of ${#v} hex digits"
		eph=${v:0:$((plen * 2))}
		tag=${v:$((plen * 2)):$((tlen * 2))}
		ek=${v:$(((plen + tlen) * 2))}
		echo "$prefix$eph" | unhex | openssl pkey -pubin -inform DER -out "$T/eph.pem"
		secret=$(openssl pkeyutl -derive -inkey "$priv" -peerkey "$T/eph.pem" | hex)
		okm=$(openssl kdf -keylen $((kl + tlen)) -kdfopt digest:SHA$sha -kdfopt "hexkey:$secret" \
			-kdfopt info:MCUBoot_ECIES_v1 HKDF | tr -d ':' | tr 'A-F' 'a-f')
		tag2=$(echo "$ek" | unhex | openssl dgst -sha$sha -mac HMAC -macopt "hexkey:${okm:$((kl * 2))}" -r | cut -d' ' -f1)
		[ "$tag2" = "$tag" ] || fail "$img: the HMAC tag does not match the peer's"
		echo "$ek" | unhex | openssl enc -d -aes-$((kl * 8))-ctr -K "${okm:0:$((kl * 2))}" -iv $ZERO_IV | hex
		;;
	rsa)
		tlv_hex "$img" 48 | unhex | openssl pkeyutl -decrypt -inkey "$priv" -pkeyopt rsa_padding_mode:oaep \
			-pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 | hex
		;;
	kw*)
		python3 -c '
import sys
from cryptography.hazmat.primitives import keywrap
kek = open(sys.argv[1], "rb").read()
print(keywrap.aes_key_unwrap(kek, bytes.fromhex(sys.argv[2])).hex())' "$priv" "$(tlv_hex "$img" 49)"
		;;
	esac
}

# FWENC_STRIDE=N (the suite's sanitizer pass, where each process costs
# several times as much) makes every image but has the peers judge every
# Nth combination: with N = 3 every encryption kind, key size, signer and
# payload still appear. The plain pass judges all 48.
STRIDE=${FWENC_STRIDE:-1}
[[ $STRIDE =~ ^[1-9][0-9]*$ ]] || fail "FWENC_STRIDE $STRIDE: a whole number, 1 or more"
combos=0 seen=0
for signer in ed25519 p256; do
	for enc in x25519 x25519-512 p256 rsa kw128 kw256; do
		for bits in 128 256; do
			for pay in p1000 p300k; do
				seen=$((seen + 1))
				img=$T/$signer-$enc-$bits-$pay.img
				kl=$((bits / 8))
				case $enc in
				x25519-512) encopt=(--encrypt "$K/x25519.pub.pem" --hmac-sha 512) priv=$K/x25519.pem ;;
				kw*) encopt=(--encrypt-kw "$K/$enc") priv=$K/$enc ;;
				*) encopt=(--encrypt "$K/$enc.pub.pem") priv=$K/$enc.pem ;;
				esac
				# Every image is made (the sections below use some);
				# the peers judge every STRIDEth.
				expect 0 "$FLEETSEC" fw sign --key "$K/sign-$signer.pem" --version 1.2.3 \
					--header-size 0x200 --pad-header "${encopt[@]}" --encrypt-keylen $bits \
					"$T/$pay.bin" "$img"
				[ $(((seen - 1) % STRIDE)) = 0 ] || continue
				"$FLEETSEC" fw show --json "$img" >"$img.json"
				hs=$(jq .header_size "$img.json")
				is=$(jq .image_size "$img.json")
				# Flag and padding as imgtool: header + payload to 16 bytes.
				want_flags=$([ $bits = 128 ] && echo 4 || echo 8)
				[ "$(jq .flags "$img.json")" = "$want_flags" ] || fail "$img: flags"
				[ $(((hs + is) % 16)) -eq 0 ] || fail "$img: body not padded to 16"
				ok
				key=$(peer_unwrap "$img" "$enc" $kl "$priv")
				[ ${#key} -eq $((kl * 2)) ] || fail "$img: the peer unwrapped ${#key} hex digits"
				ok
				# The body, decrypted by openssl enc, is the payload + zeros.
				bytes "$img" "$hs" "$is" | openssl enc -d -aes-$bits-ctr -K "$key" -iv $ZERO_IV >"$T/body"
				psize=$(stat -c %s "$T/$pay.bin")
				{ cat "$T/$pay.bin"; head -c $((is - psize)) /dev/zero; } | cmp -s - "$T/body" ||
					fail "$img: openssl's decryption is not the payload"
				ok
				# The hash TLV is over header || plaintext body (no
				# protected TLVs here), recomputed by openssl.
				h=$({ head -c "$hs" "$img"; cat "$T/body"; } | openssl dgst -sha256 -r | cut -d' ' -f1)
				[ "$h" = "$(tlv_hex "$img" 16)" ] || fail "$img: hash is not over the plaintext"
				ok
				if [ $signer = ed25519 ]; then
					echo "$h" | unhex >"$T/h.bin"
					tlv_hex "$img" 36 | unhex >"$T/sig.bin"
					openssl pkeyutl -verify -pubin -inkey "$K/sign-ed25519.pub.pem" -rawin \
						-in "$T/h.bin" -sigfile "$T/sig.bin" >/dev/null ||
						fail "$img: openssl does not verify the Ed25519 signature"
					ok
				fi
				# And fleetsec agrees, with and without the key.
				expect 0 "$FLEETSEC" fw verify --key "$K/sign-$signer.pub.pem" --decrypt-key "$priv" "$img"
				expect 1 "$FLEETSEC" fw verify --key "$K/sign-$signer.pub.pem" "$img"
				one_line_error "encrypted"
				if [ $pay = p300k ]; then
					! grep -q FLEETSEC-PLAINTEXT-MARKER "$img" || fail "$img: plaintext in the image"
					ok
				fi
				combos=$((combos + 1))
			done
		done
	done
done
[ $seen -eq 48 ] && [ $combos -eq $(((48 + STRIDE - 1) / STRIDE)) ] ||
	fail "ran $combos of $seen combinations (stride $STRIDE)"

# show and --json name the encryption.
I=$T/ed25519-x25519-512-256-p1000.img
expect 0 "$FLEETSEC" fw show "$I"
grep -q "encrypted         AES-256-CTR, key in ENC_X25519_SHA512 (TLV 0x34)" "$T/out" || fail "show: $(cat "$T/out")"
ok
expect 0 "$FLEETSEC" fw show --json "$I"
[ "$(jq -r .encryption.tlv "$T/out")" = ENC_X25519_SHA512 ] && [ "$(jq .encryption.aes_bits "$T/out")" = 256 ] ||
	fail "show --json: $(cat "$T/out")"
ok
expect 0 "$FLEETSEC" fw decrypt --key "$K/x25519.pem" --verify-key "$K/sign-ed25519.pub.pem" --json "$I" --out "$T/d.img"
[ "$(jq -r .decrypted "$T/out")" = true ] && [ "$(jq -r .signature_checked "$T/out")" = true ] || fail "decrypt --json"
ok
expect 0 "$FLEETSEC" fw sign --key "$K/sign-ed25519.pem" --version 1.0.0 --pad-header --encrypt "$K/rsa.pub.pem" --json "$T/p1.bin" "$T/j.img"
[ "$(jq -r .encryption.tlv "$T/out")" = ENC_RSA2048 ] || fail "sign --json: $(cat "$T/out")"
ok
for cmd in sign verify decrypt show; do
	expect 0 "$FLEETSEC" fw $cmd --help
done

# A KEK given as MCUboot's base64 text is the same KEK.
expect 0 "$FLEETSEC" fw verify --key "$K/sign-p256.pub.pem" --decrypt-key "$K/kw128.b64" "$T/p256-kw128-128-p1000.img"

# --clear: flagged with the key TLV, body in clear: verifies as stored,
# and decrypting it garbles the body, refused on the hash.
expect 0 "$FLEETSEC" fw sign --key "$K/sign-ed25519.pem" --version 1.0.0 --pad-header --encrypt "$K/x25519.pub.pem" --clear "$T/p300k.bin" "$T/clear.img"
grep -q FLEETSEC-PLAINTEXT-MARKER "$T/clear.img" || fail "--clear image is not in clear"
ok
expect 0 "$FLEETSEC" fw verify --key "$K/sign-ed25519.pub.pem" "$T/clear.img"
expect 1 "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$T/clear.img" "$T/never"
one_line_error "hash mismatch"
[ ! -e "$T/never" ] || fail "decrypt of a --clear image wrote output"
ok

# Padded and confirmed for a slot: the trailer survives, the image verifies.
expect 0 "$FLEETSEC" fw sign --key "$K/sign-ed25519.pem" --version 1.0.0 --pad-header --encrypt "$K/x25519.pub.pem" \
	--slot-size 0x60000 --pad --confirm "$T/p300k.bin" "$T/slot.img"
[ "$(stat -c %s "$T/slot.img")" = $((0x60000)) ] || fail "padded size"
ok
expect 0 "$FLEETSEC" fw verify --key "$K/sign-ed25519.pub.pem" --decrypt-key "$K/x25519.pem" "$T/slot.img"
grep -q "image_ok set" "$T/out" || fail "trailer lost: $(cat "$T/out")"
ok
# The trailer reserves the two key slots: a slot that fits the plain image
# and trailer but not the key slots is refused, as imgtool does.
tlv_end=$(jq .tlv_end <("$FLEETSEC" fw show --json "$T/slot.img"))
fit=$((tlv_end + 128 * 3 + 4 * 8 + 16))
expect 1 "$FLEETSEC" fw sign --key "$K/sign-ed25519.pem" --version 1.0.0 --pad-header --encrypt "$K/x25519.pub.pem" \
	--slot-size $fit "$T/p300k.bin" "$T/never"
one_line_error "exceeds requested size"
expect 0 "$FLEETSEC" fw sign --key "$K/sign-ed25519.pem" --version 1.0.0 --pad-header --encrypt "$K/x25519.pub.pem" \
	--slot-size $((fit + 32)) "$T/p300k.bin" "$T/fits.img"
expect 1 "$FLEETSEC" fw sign --key "$K/sign-ed25519.pem" --version 1.0.0 --pad-header --encrypt "$K/x25519.pub.pem" \
	--save-enctlv --slot-size $((fit + 32)) "$T/p300k.bin" "$T/never"
one_line_error "exceeds requested size"

# ---- 3. refusals ----
G=$T/ed25519-x25519-128-p1000.img
GP=$T/ed25519-p256-128-p1000.img
GR=$T/ed25519-rsa-128-p1000.img
GK=$T/ed25519-kw128-128-p1000.img
SPUB=$K/sign-ed25519.pub.pem

# refused WHY CMD...: exit 1, one line naming WHY, no output file, and an
# existing output file left as it was.
refused() {
	local why=$1
	shift
	rm -f "$T/out.img"
	expect 1 "$@"
	one_line_error "$why"
	[ ! -e "$T/out.img" ] || fail "output written: $*"
	ok
}

# Wrong keys, one per kind, and a key of another kind.
refused "hmac mismatch" "$FLEETSEC" fw decrypt --key "$K/x25519-other.pem" "$G" "$T/out.img"
refused "hmac mismatch" "$FLEETSEC" fw decrypt --key "$K/p256-other.pem" "$GP" "$T/out.img"
refused "oaep failed" "$FLEETSEC" fw decrypt --key "$K/rsa-other.pem" "$GR" "$T/out.img"
refused "key unwrap failed" "$FLEETSEC" fw decrypt --key "$K/kw128-other" "$GK" "$T/out.img"
refused "key unwrap failed" "$FLEETSEC" fw decrypt --key "$K/kw256" "$GK" "$T/out.img"
refused "needs an X25519 key, this is a P-256 key" "$FLEETSEC" fw decrypt --key "$K/p256.pem" "$G" "$T/out.img"
refused "needs an AES KEK, this is an RSA-2048 key" "$FLEETSEC" fw decrypt --key "$K/rsa.pem" "$GK" "$T/out.img"
refused "needs the private key" "$FLEETSEC" fw decrypt --key "$K/x25519.pub.pem" "$G" "$T/out.img"
refused "wrong key type" "$FLEETSEC" fw verify --key "$SPUB" --decrypt-key "$K/rsa.pem" "$G"
refused "hmac mismatch" "$FLEETSEC" fw verify --key "$SPUB" --decrypt-key "$K/x25519-other.pem" "$G"

# An existing output survives a refusal untouched.
echo "keep me" >"$T/keep.img"
expect 1 "$FLEETSEC" fw decrypt --key "$K/x25519-other.pem" "$G" "$T/keep.img"
[ "$(cat "$T/keep.img")" = "keep me" ] || fail "a refused decrypt replaced the existing output"
ok

# Tampering: a byte of each part of the ENC TLV, of the body, of the header.
flip() { # IMAGE OFFSET -> $T/t.img
	cp "$1" "$T/t.img"
	printf "$(printf '\\x%02x' $((0x$(bytes "$1" "$2" 1 | hex) ^ 1)))" |
		dd of="$T/t.img" bs=1 seek="$2" conv=notrunc status=none
}
"$FLEETSEC" fw show --json "$G" >"$G.json"
eoff=$(jq '.tlvs[] | select(.type == 51) | .offset' "$G.json")
for rel in 0 31 32 63 64 79; do # ephemeral key, tag, encrypted key
	flip "$G" $((eoff + rel))
	refused "" "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$T/t.img" "$T/out.img"
	grep -qE "hmac mismatch|ecdh failed" "$T/err" || fail "ENC TLV byte $rel: $(cat "$T/err")"
	ok
done
"$FLEETSEC" fw show --json "$GP" >"$GP.json"
poff=$(jq '.tlvs[] | select(.type == 50) | .offset' "$GP.json")
flip "$GP" $((poff + 0)) # the point's 0x04 prefix
refused "ecdh failed" "$FLEETSEC" fw decrypt --key "$K/p256.pem" "$T/t.img" "$T/out.img"
flip "$GP" $((poff + 40))
refused "ecdh failed" "$FLEETSEC" fw decrypt --key "$K/p256.pem" "$T/t.img" "$T/out.img"
flip "$GP" $((poff + 100))
refused "hmac mismatch" "$FLEETSEC" fw decrypt --key "$K/p256.pem" "$T/t.img" "$T/out.img"
"$FLEETSEC" fw show --json "$GR" >"$GR.json"
flip "$GR" $(($(jq '.tlvs[] | select(.type == 48) | .offset' "$GR.json") + 100))
refused "oaep failed" "$FLEETSEC" fw decrypt --key "$K/rsa.pem" "$T/t.img" "$T/out.img"
"$FLEETSEC" fw show --json "$GK" >"$GK.json"
flip "$GK" $(($(jq '.tlvs[] | select(.type == 49) | .offset' "$GK.json") + 3))
refused "key unwrap failed" "$FLEETSEC" fw decrypt --key "$K/kw128" "$T/t.img" "$T/out.img"
for off in 512 700 1511; do # the body: first, middle, last byte
	flip "$G" $off
	refused "hash mismatch" "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$T/t.img" "$T/out.img"
	refused "hash mismatch" "$FLEETSEC" fw verify --key "$SPUB" --decrypt-key "$K/x25519.pem" "$T/t.img"
done
flip "$G" 20 # the version in the header
refused "hash mismatch" "$FLEETSEC" fw verify --key "$SPUB" --decrypt-key "$K/x25519.pem" "$T/t.img"
# The signature, with and without the key.
flip "$G" $(($(jq '.tlvs[] | select(.type == 36) | .offset' "$G.json") + 5))
refused "bad signature" "$FLEETSEC" fw verify --key "$SPUB" --decrypt-key "$K/x25519.pem" "$T/t.img"
refused "bad signature" "$FLEETSEC" fw verify --key "$SPUB" "$T/t.img"

# Layouts: flags and TLVs.
flip "$G" 16 # flag 0x04 -> 0x05: still AES-128 (bit 0 is PIC)
expect 1 "$FLEETSEC" fw verify --key "$SPUB" --decrypt-key "$K/x25519.pem" "$T/t.img"
cp "$G" "$T/t.img"
printf '\x0c' | dd of="$T/t.img" bs=1 seek=16 conv=notrunc status=none
refused "both the AES-128 and the AES-256" "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$T/t.img" "$T/out.img"
refused "both the AES-128 and the AES-256" "$FLEETSEC" fw show "$T/t.img"
printf '\x08' | dd of="$T/t.img" bs=1 seek=16 conv=notrunc status=none
refused "ENC_X25519 TLV of 80 bytes, AES-256 needs 96" "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$T/t.img" "$T/out.img"
cp "$G" "$T/t.img"
printf '\x35' | dd of="$T/t.img" bs=1 seek=$((eoff - 4)) conv=notrunc status=none
refused "unknown TLV type 0x35" "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$T/t.img" "$T/out.img"
refused "unknown TLV type 0x35" "$FLEETSEC" fw show "$T/t.img"
cp "$G" "$T/t.img"
printf '\x4f' | dd of="$T/t.img" bs=1 seek=$((eoff - 2)) conv=notrunc status=none
refused "past the end of its area" "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$T/t.img" "$T/out.img"
# Flagged encrypted, the ENC TLV cut off and the area shortened to match.
area=$((512 + $(jq .image_size "$G.json")))
head -c $((eoff - 4)) "$G" >"$T/t.img"
newlen=$((eoff - 4 - area))
printf "$(printf '\\x%02x\\x%02x' $((newlen & 255)) $((newlen >> 8)))" |
	dd of="$T/t.img" bs=1 seek=$((area + 2)) conv=notrunc status=none
refused "flagged encrypted (AES-128) but no ENC TLV" "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$T/t.img" "$T/out.img"
refused "flagged encrypted (AES-128) but no ENC TLV" "$FLEETSEC" fw verify --key "$SPUB" "$T/t.img"
# Truncations: in the body, in the TLVs, inside the ENC TLV.
size=$(stat -c %s "$G")
for cut in 100 600 $((eoff - 30)) $((eoff + 40)) $((size - 1)); do
	head -c $cut "$G" >"$T/t.img"
	refused "truncated" "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$T/t.img" "$T/out.img"
	refused "truncated" "$FLEETSEC" fw verify --key "$SPUB" --decrypt-key "$K/x25519.pem" "$T/t.img"
done
# Not encrypted at all.
expect 0 "$FLEETSEC" fw sign --key "$K/sign-ed25519.pem" --version 1.0.0 --pad-header "$T/p1000.bin" "$T/plain.img"
refused "not encrypted" "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$T/plain.img" "$T/out.img"

# Signing refusals: key lengths, key kinds, option combinations.
S=(fw sign --key "$K/sign-ed25519.pem" --version 1.0.0 --pad-header)
expect 2 "$FLEETSEC" "${S[@]}" --encrypt "$K/x25519.pub.pem" --encrypt-keylen 192 "$T/p1.bin" "$T/out.img"
one_line_error "--encrypt-keylen must be 128 or 256"
expect 2 "$FLEETSEC" "${S[@]}" --encrypt-keylen 256 "$T/p1.bin" "$T/out.img"
one_line_error "need --encrypt"
expect 2 "$FLEETSEC" "${S[@]}" --encrypt "$K/x25519.pub.pem" --hmac-sha 384 "$T/p1.bin" "$T/out.img"
one_line_error "--hmac-sha must be"
expect 2 "$FLEETSEC" "${S[@]}" --encrypt "$K/x25519.pub.pem" --encrypt-kw "$K/kw128" "$T/p1.bin" "$T/out.img"
one_line_error "one of --encrypt or --encrypt-kw"
refused "not a PEM key" "$FLEETSEC" "${S[@]}" --encrypt-kw "$K/kw24" "$T/p1.bin" "$T/out.img"
refused "--encrypt-kw takes" "$FLEETSEC" "${S[@]}" --encrypt-kw "$K/x25519.pub.pem" "$T/p1.bin" "$T/out.img"
refused "use --encrypt-kw" "$FLEETSEC" "${S[@]}" --encrypt "$K/kw128" "$T/p1.bin" "$T/out.img"
refused "--hmac-sha 512 needs an X25519" "$FLEETSEC" "${S[@]}" --encrypt "$K/p256.pub.pem" --hmac-sha 512 "$T/p1.bin" "$T/out.img"
refused "RSA must be 2048 bits" "$FLEETSEC" "${S[@]}" --encrypt "$K/rsa3072.pub.pem" "$T/p1.bin" "$T/out.img"
refused "unsupported encryption key type" "$FLEETSEC" "${S[@]}" --encrypt "$K/sign-ed25519.pub.pem" "$T/p1.bin" "$T/out.img"
refused "cannot be encrypted" "$FLEETSEC" "${S[@]}" --encrypt "$K/x25519.pub.pem" --pure "$T/p1.bin" "$T/out.img"
expect 2 "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$G"
one_line_error "expected --key ENC_KEY, IN and OUT"
expect 2 "$FLEETSEC" fw decrypt --key "$K/x25519.pem" "$G" "$G"
one_line_error "OUT must differ from IN"
[ -z "$(find "$T" -name '*.tmp*' -o -name '.*tmp*')" ] || fail "temporary files left behind"
ok

done_checks
