#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Audit benchmarks (issue 7), each beside a baseline measured in the same run:
#  1. `fleetsec audit fleet` over a generated registry of N devices (default
#     1,000,000), beside `sqlite3` reading the same rows (SELECT of every
#     device joined with its state and certificate PEM, output discarded).
#  2. `fleetsec audit firmware` over a tree (default /usr/share) on a warm
#     cache, beside `cat` of the same files and `grep -r` for one needle.
# usage: bench/bench_audit.sh [N] [TREE]. Builds Release into build-bench/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
n="${1:-1000000}"
tree="${2:-/usr/share}"
work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-bench-audit.XXXXXX")
trap 'rm -rf "$work"' EXIT

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target fleetsec_cli >/dev/null
F="$build/fleetsec"
export FLEETSEC_HOME="$work/home"

# shellcheck disable=SC1091
. "$root/bench/lib.sh"

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
"$F" ca init --name "Bench Fleet" >/dev/null 2>&1
"$F" device issue seed --keygen --key-out "$work/seed.key" --model cam >/dev/null 2>&1
"$F" product set cam --support-until 2099-12-31 --release 2.0.0 --security-counter 7 >/dev/null
# N devices, each with its own (random) key digest and a real certificate
# PEM that the audit parses, reported recently; 1 in 1000 is behind on
# firmware and 1 in 10000 never reported, so the report is not empty.
t0=$(date +%s.%N)
sqlite_fleet "$FLEETSEC_HOME/registry.db" "$n"
t1=$(date +%s.%N)
echo "== registry: $n devices generated in $(echo "$t1 - $t0" | bc -l | xargs printf '%.1f') s ($(du -m "$FLEETSEC_HOME/registry.db" | cut -f1) MB)"
# Warm the cache, then time each twice and keep the better run.
sqlite3 "$FLEETSEC_HOME/registry.db" "SELECT count(*) FROM certificates" >/dev/null
best() { local a b; a=$(secs "$@"); b=$(secs "$@"); echo "$a $b" | tr ' ' '\n' | sort -n | head -1; }
base=$(best sqlite3 "$FLEETSEC_HOME/registry.db" "SELECT d.*, s.*, c.pem FROM devices d LEFT JOIN device_state s ON s.device_id = d.id LEFT JOIN certificates c ON c.serial = d.serial")
audit=$(best "$F" audit fleet --json)
"$F" audit fleet --json >"$work/fleet.json" || true
echo "audit fleet: $n devices in $audit s; baseline sqlite3 SELECT of the same rows: $base s"
echo "  findings: $(jq -c '.summary' "$work/fleet.json") (kept $(jq '.findings | length' "$work/fleet.json"), dropped $(jq '.dropped' "$work/fleet.json"))"

echo
mb=$(find "$tree" -type f -size -16M -print0 | du -cm --files0-from=- | tail -1 | cut -f1)
files=$(find "$tree" -type f | wc -l)
find "$tree" -type f -size -16M -print0 | xargs -0 cat >/dev/null 2>&1 || true
cat_s=$(best sh -c "find '$tree' -type f -size -16M -print0 | xargs -0 cat")
grep_s=$(best grep -r -l -F 'PRIVATE KEY-----' "$tree")
fw_s=$(best "$F" audit firmware --json "$tree")
rate() { echo "$mb / $1" | bc -l | xargs printf '%.0f'; }
echo "audit firmware $tree: $files files, $mb MB in $fw_s s = $(rate "$fw_s") MB/s"
echo "  baselines: cat $cat_s s = $(rate "$cat_s") MB/s; grep -r -F one needle $grep_s s = $(rate "$grep_s") MB/s"
