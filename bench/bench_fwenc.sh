#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench_fwenc.sh [MiB] [RUNS]: encrypted firmware images (issue 19) beside
# openssl on the same bytes, in the same run.
#
# Makes a MiB-sized random payload, an Ed25519 signing key and an X25519
# encryption key (openssl genpkey), then times, RUNS times each and
# alternating, with the page cache warm (one untimed run of each first):
#   sign     fleetsec fw sign --encrypt (AES-128-CTR, ENC_X25519)
#   verify   fleetsec fw verify --decrypt-key  (unwrap, decrypt, hash, signature)
#   decrypt  fleetsec fw decrypt               (the same, plus writing the output)
#   enc      openssl enc -d -aes-128-ctr over the image file (decryption alone)
#   enc+sha  openssl enc -d -aes-128-ctr | openssl dgst -sha256 (the work
#            verify does: decrypt and hash every byte)
# Each run is one process (pipeline) timed end to end with date +%s%N. Prints
# the median of each and the ratios to the openssl baselines.
set -euo pipefail
: "${FLEETSEC:=build/fleetsec}"
MIB=${1:-256}
RUNS=${2:-5}
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-fwenc-XXXXXX")
trap 'rm -rf "$W"' EXIT

head -c $((MIB * 1024 * 1024)) /dev/urandom >"$W/payload.bin"
openssl genpkey -algorithm ED25519 -out "$W/sign.pem" 2>/dev/null
openssl pkey -in "$W/sign.pem" -pubout -out "$W/sign.pub"
openssl genpkey -algorithm X25519 -out "$W/enc.pem" 2>/dev/null
openssl pkey -in "$W/enc.pem" -pubout -out "$W/enc.pub"
KEY=000102030405060708090a0b0c0d0e0f
IV=00000000000000000000000000000000

run_sign() { "$FLEETSEC" fw sign --key "$W/sign.pem" --version 1.0.0 --header-size 0x200 --pad-header \
	--encrypt "$W/enc.pub" "$W/payload.bin" "$W/image.img"; }
run_verify() { "$FLEETSEC" fw verify --key "$W/sign.pub" --decrypt-key "$W/enc.pem" "$W/image.img" >/dev/null; }
run_decrypt() { rm -f "$W/plain.img"; "$FLEETSEC" fw decrypt --key "$W/enc.pem" "$W/image.img" "$W/plain.img" 2>/dev/null; }
run_enc() { openssl enc -d -aes-128-ctr -K $KEY -iv $IV -in "$W/image.img" -out /dev/null; }
run_encsha() { openssl enc -d -aes-128-ctr -K $KEY -iv $IV -in "$W/image.img" | openssl dgst -sha256 >/dev/null; }

names=(sign verify decrypt enc encsha)
for n in "${names[@]}"; do "run_$n"; done # warm-up, untimed
declare -A times
for ((r = 0; r < RUNS; r++)); do
	for n in "${names[@]}"; do
		t0=$(date +%s%N)
		"run_$n"
		t1=$(date +%s%N)
		times[$n]+="$(((t1 - t0) / 1000)) "
	done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
declare -A med
echo "image: $MIB MiB payload, $(stat -c %s "$W/image.img") bytes; runs: $RUNS; openssl: $(openssl version | cut -d' ' -f1-2)"
for n in "${names[@]}"; do
	med[$n]=$(median <<<"${times[$n]}")
	printf '%-8s median %8.3f s  %7.1f MiB/s\n' "$n" "$(echo "${med[$n]} / 1000000" | bc -l)" \
		"$(echo "$MIB / (${med[$n]} / 1000000)" | bc -l)"
done
for n in sign verify decrypt; do
	printf 'ratio %-8s / openssl enc %5.2fx   / openssl enc|dgst %5.2fx\n' "$n" \
		"$(echo "${med[$n]} / ${med[enc]}" | bc -l)" "$(echo "${med[$n]} / ${med[encsha]}" | bc -l)"
done
