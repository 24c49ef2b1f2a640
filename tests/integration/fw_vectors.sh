#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# imgtool interop, read straight from tests/vectors/mcuboot/vectors.json:
#  - every vector verifies (or fails, for the reason listed) with every key;
#  - re-running each imgtool sign command through `fleetsec fw sign` gives a
#    byte-identical file for Ed25519, and for ECDSA P-256 (random k) the same
#    signed region, with a signature that openssl verifies independently.
. "$(dirname "$0")/lib.sh"

SRC=$(cd "$(dirname "$0")/../vectors/mcuboot" && pwd)
[ -f "$SRC/vectors.json" ] || fail "no vectors at $SRC"
command -v jq >/dev/null || fail "jq is needed to read vectors.json"

# ed-1m-pad.img is over the repository's 1 MiB per file, so it is stored as
# imgtool's header, the payload and imgtool's tail (tests/vectors/README.md).
# Joined in a scratch copy of the set; the digest vectors.json records for
# imgtool's file proves the join gives imgtool's bytes.
V=$T/vectors
mkdir "$V"
ln -s "$SRC"/* "$V/"
cat "$SRC/ed-1m-pad.img.head" "$SRC/payload-1m.bin" "$SRC/ed-1m-pad.img.tail" >"$V/ed-1m-pad.img"
want=$(jq -r '.vectors[] | select(.file == "ed-1m-pad.img") | .sha256_of_file' "$V/vectors.json")
got=$(sha256sum "$V/ed-1m-pad.img" | cut -d' ' -f1)
[ -n "$want" ] && [ "$got" = "$want" ] || fail "ed-1m-pad.img joined to $got, vectors.json says $want"
# Every file the manifest names is there (a missing one must not shrink the run).
while read -r file; do
	[ -f "$V/$file" ] || fail "vector $file is missing"
done < <(jq -r '.vectors[].file' "$V/vectors.json")
ok

# 1. Verification results, with the reason in brackets.
while IFS=$'\t' read -r file key expected; do
	got=0
	"$FLEETSEC" fw verify --key "$V/$key" "$V/$file" >"$T/out" 2>"$T/err" || got=$?
	case $expected in
	valid)
		[ "$got" -eq 0 ] || fail "$file with $key: expected valid, got: $(cat "$T/err")"
		grep -q ": valid" "$T/out" || fail "$file: no 'valid' line"
		;;
	invalid*)
		[ "$got" -eq 1 ] || fail "$file with $key: expected $expected, exit $got"
		reason=$(sed -E 's/invalid \((.*)\)/\1/' <<<"$expected")
		[ "$reason" = "$expected" ] || grep -qF "$reason" "$T/err" ||
			fail "$file with $key: expected '$reason', got: $(cat "$T/err")"
		[ "$(wc -l <"$T/err")" -eq 1 ] || fail "$file: error is not one line"
		;;
	*) fail "unknown expectation '$expected'" ;;
	esac
	ok
done < <(jq -r '.vectors[] | .file as $f | .checks[] | [$f, .key, .expected] | @tsv' "$V/vectors.json")

# Verified fields agree with what imgtool recorded.
while IFS=$'\t' read -r file key version digest sc; do
	"$FLEETSEC" fw verify --key "$V/$key" --json "$V/$file" >"$T/j.json"
	[ "$(jq -r .version "$T/j.json")" = "$version" ] || fail "$file version"
	[ "$(jq -r .hash "$T/j.json")" = "$digest" ] || fail "$file digest"
	[ "$(jq -r .security_counter "$T/j.json")" = "$sc" ] || fail "$file security counter"
	ok
done < <(jq -r '.vectors[] | select(.checks[0].expected != null) | .file as $f |
	(.checks[] | select(.expected == "valid") | .key) as $k |
	[$f, $k, .version, .image_hash, (.security_counter // "null" | tostring)] | @tsv' "$V/vectors.json")

# 2. Signing: the same command through fleetsec.
signed=0
while IFS=$'\t' read -r file cmd signer; do
	case $cmd in "imgtool sign -k "*) ;; *) continue ;; esac
	# imgtool's short options and the vector's relative paths, then our name.
	args=$(sed -E "s/^imgtool sign //; s/(^| )-k /\1--key /; s/(^| )-d /\1--dependencies /" <<<"$cmd")
	eval "set -- $args"
	out=$T/$file
	new=()
	for a in "$@"; do
		case $a in
		*.pem | *.bin) new+=("$V/$a") ;;
		"$file") new+=("$out") ;;
		*) new+=("$a") ;;
		esac
	done
	"$FLEETSEC" fw sign "${new[@]}" 2>"$T/err" || fail "fw sign for $file: $(cat "$T/err")"
	case $signer in
	ed25519.pem | other-ed25519.pem)
		cmp -s "$out" "$V/$file" || fail "$file: fleetsec's output differs from imgtool's"
		;;
	p256.pem)
		hashed=$(jq -r --arg f "$file" '.vectors[] | select(.file == $f) | .hashed_len' "$V/vectors.json")
		cmp -s -n "$hashed" "$out" "$V/$file" || fail "$file: signed region differs from imgtool's"
		# Independent check: openssl verifies the ECDSA TLV over the signed region.
		"$FLEETSEC" fw show --json "$out" >"$T/show.json"
		off=$(jq -r '.tlvs[] | select(.type == 34) | .offset' "$T/show.json")
		len=$(jq -r '.tlvs[] | select(.type == 34) | .len' "$T/show.json")
		head -c "$hashed" "$out" >"$T/region"
		slice "$out" "$off" "$len" >"$T/sig.der"
		openssl dgst -sha256 -verify "$V/p256.pub.pem" -signature "$T/sig.der" "$T/region" >/dev/null ||
			fail "$file: openssl does not verify our ECDSA signature"
		;;
	esac
	"$FLEETSEC" fw verify --key "$V/${signer%.pem}.pub.pem" "$out" >/dev/null || fail "$file: own verify"
	signed=$((signed + 1))
	ok
done < <(jq -r '.vectors[] | [.file, .command, (.signed_with // "")] | @tsv' "$V/vectors.json")
[ "$signed" -ge 14 ] || fail "only $signed signing commands reproduced"

# Independent check of an Ed25519 signature: openssl over the 32-byte digest.
"$FLEETSEC" fw show --json "$T/ed-1k.img" >"$T/show.json"
off=$(jq -r '.tlvs[] | select(.type == 36) | .offset' "$T/show.json")
head -c 1536 "$T/ed-1k.img" | openssl dgst -sha256 -binary >"$T/digest"
slice "$T/ed-1k.img" "$off" 64 >"$T/sig.bin"
openssl pkeyutl -verify -pubin -inkey "$V/ed25519.pub.pem" -rawin -in "$T/digest" -sigfile "$T/sig.bin" >/dev/null ||
	fail "openssl does not verify the Ed25519 signature over the digest"
ok
done_checks
