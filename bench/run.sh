#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Build the benchmarks in Release (build-bench/) and run them, printing
# `openssl speed` beside them for comparison. Usage: bench/run.sh [N]
# (N certificates per run, default 10000). The firmware verification
# benchmark takes FW_MIB (image payload in MiB, default 256) and FW_RUNS
# (timed runs per tool, default 5) from the environment. See
# docs/BENCHMARKS.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
n="${1:-10000}"
fw_mib="${FW_MIB:-256}"
fw_runs="${FW_RUNS:-5}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
# Only the benchmark targets (and the CLI that bench_fwverify drives): a
# half-edited test elsewhere must not stop them.
cmake --build "$build" -j2 --target bench_issue bench_fwverify fleetsec_cli >/dev/null

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
echo
echo "== bench_fwverify $build/fleetsec $fw_mib $fw_runs (fw verify vs sha256sum, warm cache)"
echo "fleetsec binary: $(stat -c %s "$build/fleetsec") bytes (dynamic; $(stat -c %s "$(readlink -f "$build/libfleetsec.so")") bytes libfleetsec.so beside it)"
"$build/bench/bench_fwverify" "$build/fleetsec" "$fw_mib" "$fw_runs"
echo
echo "== openssl speed -seconds 2 -bytes 262144 -evp sha256 (libcrypto's SHA-256, for comparison)"
# The bound for fw verify, which hashes with the same libcrypto; coreutils'
# sha256sum has its own portable SHA-256.
openssl speed -seconds 2 -bytes 262144 -evp sha256 2>/dev/null | awk '$1 == "sha256" { printf "sha256 (256 KiB blocks): %.1f MiB/s\n", $2 * 1000 / 1048576 }'
echo
echo "== bench/bench_netpolicy.sh (issue 6: net compile and nft -f, 10k-100k devices; needs root)"
cmake --build "$build" -j2 --target fleetsec_cli >/dev/null
if [ "$(id -u)" -eq 0 ]; then
	"$root/bench/bench_netpolicy.sh" "$build/fleetsec" 3
else
	echo "skipped: not root (nft -f needs a network namespace)"
fi
