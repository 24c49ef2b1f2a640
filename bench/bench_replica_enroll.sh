#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Enrollments per second against the number of fleetsecd replicas (issue
# 16): tests/integration/pg_storm.sh's storm (DEVICES devices, 16 clients
# at once, through HAProxy, each replica on one PostgreSQL registry; no
# replica killed) with 1, 2 and 3 replicas, and the same storm on a SQLite
# fleet with one fleetsecd (STORM_SQLITE=1), ROUNDS rounds in turn (SQLite,
# 1, 2, 3, SQLite, 1, 2, 3, ...), so that the machine's load falls on each
# alike. The baselines are the SQLite figure and the one-replica figure of
# the same run. Printed: each storm's line, then per setup the median wall
# time, enrollments per second and the ratios to both.
#
# usage: bench/bench_replica_enroll.sh [DEVICES] [ROUNDS]   (default 1000 3)
# Builds fleetsec and fleetsecd in Release (build-bench/), or uses
# FSEC_BENCH_BUILD. The clients (curl, openssl) run on the same
# machine as the replicas, HAProxy and PostgreSQL: see docs/SCALING.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
devices=${1:-1000} rounds=${2:-3}
build=${FSEC_BENCH_BUILD:-$root/build-bench}
[ -n "${FSEC_BENCH_BUILD:-}" ] || { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
	cmake --build "$build" -j2 --target fleetsec_cli fleetsecd >/dev/null; }
export FLEETSEC=$build/fleetsec FLEETSECD=$build/fleetsecd
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

for _ in $(seq "$rounds"); do
	for r in s 1 2 3; do
		if [ "$r" = s ]; then
			STORM=$devices STORM_REPLICAS=1 STORM_KILL=0 STORM_SQLITE=1 \
				bash "$root/tests/integration/pg_storm.sh" >"$tmp/out" 2>&1 ||
				{ cat "$tmp/out" >&2; exit 1; }
			echo "SQLite: $(grep '^storm:' "$tmp/out")"
		else
			STORM=$devices STORM_REPLICAS=$r STORM_KILL=0 \
				bash "$root/tests/integration/pg_run.sh" "$root/tests/integration/pg_storm.sh" \
				>"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; exit 1; }
			echo "PostgreSQL: $(grep '^storm:' "$tmp/out")"
		fi
		sed -n 's/^storm: .* in \([0-9]*\) ms.*/\1/p' "$tmp/out" >>"$tmp/r$r"
	done
done
sq=$(median <"$tmp/rs")
base=$(median <"$tmp/r1")
for r in s 1 2 3; do
	m=$(median <"$tmp/r$r")
	awk -v r="$r" -v m="$m" -v n="$devices" -v b="$base" -v s="$sq" 'BEGIN {
		name = r == "s" ? "SQLite, 1 fleetsecd" : sprintf("PostgreSQL, %d replica%s", r, r == 1 ? "" : "s")
		printf "%-26s median %d ms for %d enrollments, %.1f/s, %.2f x SQLite, %.2f x one PostgreSQL replica\n",
			name ":", m, n, n * 1000 / m, s / m, b / m }'
done
