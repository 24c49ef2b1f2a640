#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Build the benchmarks in Release (build-bench/) and run them, printing
# `openssl speed` beside them for comparison. Usage: bench/run.sh [N]
# (N certificates per run, default 10000). See docs/BENCHMARKS.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
n="${1:-10000}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
# Only the benchmark target: a half-edited test elsewhere must not stop it.
cmake --build "$build" -j2 --target bench_issue >/dev/null

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "== $(openssl version)"
echo
echo "== bench_issue $n 1 (one registry transaction per certificate)"
"$build/bench/bench_issue" "$n" 1
echo
echo "== bench_issue $n 100 (100 certificates per outer transaction)"
"$build/bench/bench_issue" "$n" 100
echo
echo "== openssl speed -seconds 2 ecdsap256 (one thread, for comparison)"
# speed's own loop re-uses one context and signs a pre-hashed digest, so it
# sits above bench_issue's EVP_DigestSign/EVP_DigestVerify bound.
speed=$(openssl speed -seconds 2 ecdsap256 2>/dev/null)
grep -E '^(version|options| +sign| *[0-9]+ bits ecdsa)' <<<"$speed"
awk '/bits ecdsa/ { printf "openssl speed pairs (1 verify + 1 sign): %.1f pairs/s\n", 1 / (1 / $(NF-1) + 1 / $NF) }' <<<"$speed"
