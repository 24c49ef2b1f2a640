#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Enrollments per second through fleetsecd: N simulated devices (default
# 10000) enrol zero-touch over EST, CONCURRENCY (default 8) at a time, with
# bench_enroll (the agent's own EST client, in threads). Beside it, in the
# same run, the mutual-TLS handshakes per second the same server completes
# (openssl s_time -new), the bound an enrollment (a handshake plus a CA
# signature and a durable registry commit) cannot beat. Afterwards the
# registry is checked: N devices, N distinct serials, N spent bootstrap
# credentials, no duplicate and no loss.
#
# usage: bench/bench_enroll.sh [N] [CONCURRENCY]
# The registry is on disk ($TMPDIR), as in production; the simulated
# devices' files are on /dev/shm when it exists. See docs/BENCHMARKS.md.
set -euo pipefail
n=${1:-10000}
conc=${2:-8}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFSEC_TESTS=ON >/dev/null
cmake --build "$build" -j2 --target fleetsec_cli fleetsecd bench_enroll >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-bench-enroll.XXXXXX")
shm=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/fsec-devices.XXXXXX")
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work" "$shm"' EXIT
export FLEETSEC_HOME=$work/home
F=$build/fleetsec
"$F" ca init --name "Enroll Bench" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir "$work/mfr" --name "Bench Chips" >/dev/null
"$F" enroll allow --manufacturer-ca "$work/mfr/ca.pem" --pattern 'SN-*' --model bench >/dev/null
"$F" device issue probe --keygen --key-out "$work/probe.key" --out "$work/probe.pem" 2>/dev/null
port=$((20000 + RANDOM % 12000))
"$build/fleetsecd" --listen 127.0.0.1:$port --quiet 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 50); do grep -q listening "$work/daemon.log" && break; sleep 0.1; done

echo "== $(nproc) CPUs, $(openssl version | cut -d' ' -f1-2), registry on $(df -T "$work" | awk 'NR == 2 { print $2 }')"
hs=$(openssl s_time -connect 127.0.0.1:$port -new -time 5 -cert "$work/probe.pem" -key "$work/probe.key" \
	-CAfile "$FLEETSEC_HOME/root.pem" -www /.well-known/est/csrattrs 2>/dev/null |
	awk '/connections in .* real seconds/ { printf "%.1f", $1 / $4 }')
echo "baseline: mutual-TLS handshakes + one GET: $hs conn/s (openssl s_time -new, one client)"
out=$("$build/bench/bench_enroll" "https://127.0.0.1:$port" "$FLEETSEC_HOME/chain.pem" "$work/mfr" \
	"$shm" "$n" "$conc")
echo "$out"
rate=$(sed -n 's/.*: \([0-9.]*\) enrollments\/s$/\1/p' <<<"$out")
echo "ratio: $(awk -v a="$rate" -v b="$hs" 'BEGIN { printf "%.1f%%", 100 * a / b }') of the handshake rate"

# Read through the CLI, as on any registry backend.
devices=$("$F" device list --json | jq '[.[] | select(.provisioning == "est-bootstrap")] | length')
serials=$("$F" registry certs --json | jq '[.[].serial] | unique | length')
spent=$("$F" enroll spent --json | jq length)
echo "registry: $devices enrolled devices, $serials distinct certificate serials, $spent spent bootstrap credentials"
[ "$devices" = "$n" ] && [ "$spent" = "$n" ] && [ "$serials" = $((n + 1)) ] ||
	{ echo "bench_enroll: lost or duplicate rows" >&2; exit 1; }
echo "no lost or duplicate rows"
