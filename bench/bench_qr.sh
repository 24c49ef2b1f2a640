#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The pairing label (issue 18): bench_qr's figures (libqrencode's encoding as
# the in-process baseline, fsec_qr_png, the URI), then the qrencode CLI
# (Debian's qrencode, libqrencode with libpng, same URI, same 4 px/module,
# quiet zone 4, level M) for the PNG's size and the per-label time of a
# process that makes one PNG, against `fleetsec-agent pair --png`'s. zbarimg
# checks that both PNGs decode to the URI. Usage: bench/bench_qr.sh [N] [RUNS]
# (default 2000 codes per run, 11 runs). See docs/BENCHMARKS.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
n="${1:-2000}"
runs="${2:-11}"
cli_runs=101
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFSEC_TESTS=ON >/dev/null
cmake --build "$build" -j2 --target bench_qr fleetsec_agent >/dev/null
command -v qrencode >/dev/null || { echo "qrencode is missing (scripts/deps.sh)" >&2; exit 1; }

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "== $(qrencode --version 2>&1 | head -1)"
echo "== bench_qr $n $runs"
"$build/bench/bench_qr" "$n" "$runs" "$w/fsec.png" | tee "$w/out"
uri=$(sed -n 's/^uri .*characters: //p' "$w/out")
qrencode -s 4 -m 4 -l M -o "$w/cli.png" "$uri"
for f in fsec cli; do
	got=$(zbarimg -q --raw "$w/$f.png" 2>/dev/null)
	[ "$got" = "$uri" ] || { echo "zbarimg read $f.png as '$got'" >&2; exit 1; }
done
echo "qrencode CLI PNG: $(stat -c %s "$w/cli.png") bytes; fleetsec: $(stat -c %s "$w/fsec.png") bytes (both decoded by zbarimg to the URI)"

# Whole processes, one label each: the agent (key load, URI, PNG, file) and
# the qrencode CLI (encode, PNG, file). Medians of $cli_runs.
mkdir -m 700 "$w/state"
cat >"$w/agent.conf" <<CONF
server = https://127.0.0.1:1
ca = $w/ca.pem
key = $w/dev.key
cert = $w/dev.pem
firmware_key = $w/fw.pub
release_root = $w/root.pub
model = bench
slot_a = $w/a
slot_b = $w/b
boot_backend = file
state_dir = $w/state
CONF
"$build/fleetsec-agent" -c "$w/agent.conf" pair --serial SN-000001 --json >/dev/null
per_label() { # per_label CMD...: median wall time of CMD in ms
	local i t0 t1
	for i in $(seq $cli_runs); do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
	done | sort -n | sed -n "$(((cli_runs + 1) / 2))p"
}
a=$(per_label "$build/fleetsec-agent" -c "$w/agent.conf" pair --serial SN-000001 --png "$w/p.png" --json)
q=$(per_label qrencode -s 4 -m 4 -l M -o "$w/q.png" "$uri")
echo "one label per process: fleetsec-agent pair --png median $a us; qrencode CLI median $q us" \
	"(ratio $(awk -v a="$a" -v q="$q" 'BEGIN { printf "%.2f", a / q }'))"
