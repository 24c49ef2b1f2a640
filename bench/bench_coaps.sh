#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# fleetsecd's CoAPs listener beside its HTTPS one, in one run, one fleetsecd
# serving both (issue 17):
#  - handshakes per second: N fresh clients each doing a full mutual
#    handshake and one GET /v1/update, coap-client-openssl (DTLS 1.2, with
#    its cookie exchange) against curl (TLS 1.3); both start a process per
#    request, so the figures include that cost on both sides;
#  - firmware throughput: one device fetching a published image, over Block2
#    with blocks of 1024 bytes (and 512 and 256, to show what the block size
#    costs) against curl over HTTPS; MiB/s and the ratio to HTTPS.
#  - status reports per second on an established session: bench_coaps_reports
#    (the library's client, as the agent's daemon uses it) posting 500
#    reports over one DTLS session, against the same client over one
#    kept-alive TLS connection; and the image fetched by that client as the
#    agent fetches it (64 KiB ranges: Block2 blocks, or Range requests).
# Runs alternate between the transports; medians of ROUNDS.
#
# usage: bench/bench_coaps.sh [N] [ROUNDS] [IMAGE_KIB]   (defaults 50, 3, 1024)
# Builds fleetsecd in Release (build-bench/), or uses FSEC_BENCH_BUILD.
# See docs/BENCHMARKS.md.
set -euo pipefail
n=${1:-50}
rounds=${2:-3}
kib=${3:-1024}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FSEC_BENCH_BUILD:-$root/build-bench}
if [ -z "${FSEC_BENCH_BUILD:-}" ]; then
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFSEC_TESTS=ON >/dev/null
	cmake --build "$build" -j2 --target fleetsec_cli fleetsecd bench_coaps_reports >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-bench-coaps.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export FLEETSEC_HOME=$work/home
F=$build/fleetsec
"$F" ca init --name "Bench Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" device issue dev-1 --keygen --key-out dev.key --out dev.pem --model thermo >/dev/null 2>&1
for k in fw root online; do
	"$F" fw keygen --out $k.pem 2>/dev/null
	"$F" fw pubkey $k.pem --out $k.pub
done
"$F" release delegate --root-key root.pem --key online.pub --sequence 1 --out deleg.json
head -c $((kib * 1024)) /dev/urandom >img.bin
"$F" fw sign --key fw.pem --version 2.0.0 --security-counter 2 --pad-header \
	--slot-size $((kib * 1024 + 0x10000)) img.bin img.signed
"$F" release create --model thermo --image img.signed --sequence 1 --out m.json
"$F" release sign --key online.pem --delegation deleg.json m.json --out r.json
"$F" release publish --model thermo --bundle r.json --image img.signed --root root.pub >/dev/null
"$F" release timestamp --model thermo --key online.pem --delegation deleg.json --root root.pub \
	>/dev/null
sha=$(sha256sum img.signed | cut -c1-64)
size=$(stat -c %s img.signed)

# A device may report 60 times an hour by default: the reports benchmark
# sends thousands.
printf 'reports_per_hour = 1000000\n' >>"$FLEETSEC_HOME/fleetsecd.conf"
hport=$((20000 + RANDOM % 10000))
cport=$((hport + 1))
"$build/fleetsecd" --listen 127.0.0.1:$hport --coaps 127.0.0.1:$cport --quiet \
	--max-per-source 1000 2>fleetsecd.log &
pid=$!
for _ in $(seq 50); do grep -q coaps:// fleetsecd.log && break; sleep 0.1; done
grep -q coaps:// fleetsecd.log || { cat fleetsecd.log >&2; exit 1; }
ROOT=$FLEETSEC_HOME/root.pem

now() { date +%s.%N; }
# rate COUNT START END
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

coap_get() { # coap_get OUT ARGS...: fails unless OUT got bytes
	coap-client-openssl -B 30 -c dev.pem -j dev.key -R "$ROOT" -o "$1" "${@:2}" >/dev/null 2>&1 || true
}
https_get() { curl -sS --cacert "$ROOT" --cert dev.pem --key dev.key -o "$1" "$2"; }

echo "== $(openssl version); libcoap $(dpkg-query -W -f='${Version}' libcoap3-bin); $(nproc) CPUs"
echo "== $n fresh clients, one GET /v1/update each; image $size bytes"
hs_c=() hs_h=() fw_h=() fw_1024=() fw_512=() fw_256=()
for r in $(seq "$rounds"); do
	t0=$(now)
	for _ in $(seq "$n"); do coap_get u.coap "coaps://127.0.0.1:$cport/v1/update"; done
	t1=$(now)
	[ -s u.coap ] || { echo "coaps: no answer" >&2; exit 1; }
	hs_c+=("$(rate "$n" "$t0" "$t1")")
	t0=$(now)
	for _ in $(seq "$n"); do https_get u.https "https://127.0.0.1:$hport/v1/update"; done
	t1=$(now)
	hs_h+=("$(rate "$n" "$t0" "$t1")")
	for b in 1024 512 256; do
		t0=$(now)
		coap_get fw.coap -b "$b" "coaps://127.0.0.1:$cport/v1/firmware/$sha"
		t1=$(now)
		cmp -s fw.coap img.signed || { echo "coaps: image differs at -b $b" >&2; exit 1; }
		v=$(awk -v s="$size" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", s / 1048576 / (b - a) }')
		eval "fw_$b+=(\"$v\")"
	done
	t0=$(now)
	https_get fw.https "https://127.0.0.1:$hport/v1/firmware/$sha"
	t1=$(now)
	cmp -s fw.https img.signed || { echo "https: image differs" >&2; exit 1; }
	fw_h+=("$(awk -v s="$size" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", s / 1048576 / (b - a) }')")
	echo "round $r: handshakes/s coaps ${hs_c[-1]} https ${hs_h[-1]};" \
		"firmware MiB/s coaps(1024) ${fw_1024[-1]} (512) ${fw_512[-1]} (256) ${fw_256[-1]} https ${fw_h[-1]}"
done
mc=$(median "${hs_c[@]}") mh=$(median "${hs_h[@]}")
m1=$(median "${fw_1024[@]}") m5=$(median "${fw_512[@]}") m2=$(median "${fw_256[@]}") mf=$(median "${fw_h[@]}")
echo "median handshakes/s: coaps $mc, https $mh, ratio $(awk -v a="$mc" -v b="$mh" 'BEGIN { printf "%.2f", a / b }')"
echo "median firmware MiB/s: coaps 1024-byte blocks $m1, 512 $m5, 256 $m2; https $mf;" \
	"ratio (1024) $(awk -v a="$m1" -v b="$mf" 'BEGIN { printf "%.3f", a / b }')"
echo "== status reports on one established session (500 per round); the image as the agent fetches it"
"$build/bench/bench_coaps_reports" "https://127.0.0.1:$hport" "coaps://127.0.0.1:$cport" "$ROOT" \
	dev.pem dev.key 500 "$rounds" "/v1/firmware/$sha" "$size"
