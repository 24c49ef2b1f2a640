#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Three simulated years of a fleet (issue 12): tests/integration/years_sim.sh
# with 50 devices through 1095 simulated days (issuing CA rotated at day 219,
# root rolled over at day 547, release root rotated at day 876; restarts,
# power-offs and power cuts), beside its baseline in the same run: the same
# fleet through a quiet 90 days (--quiet: no faults, no rotations; the
# server certificate is still renewed every 20 days, as it must be).
#
# usage: bench/bench_years.sh [BUILD_DIR] [DEVICES] [DAYS] [SEED]
#   BUILD_DIR  a Debug or AsanUbsan build (power cuts need FSEC_FAULT_INJECTION;
#              default build)
#   DEVICES    default 50;  DAYS  default 1095;  SEED  default 1
#
# Prints each run's summary line (simulated days, devices, rounds and the
# median round's wall time, renewals, rotations, restarts, power-offs, power
# cuts, lapsed, stranded) and the ratio of the two medians. A round is one
# `fleetsec-agent daemon --once` timed by the wall clock around the process,
# two at once. See docs/BENCHMARKS.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
devices=${2:-50} days=${3:-1095} seed=${4:-1}
export FLEETSEC=$build/fleetsec FLEETSECD=$build/fleetsecd AGENT=$build/fleetsec-agent
export BOOTSIM=$build/fleetsec-bootsim
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sim=$root/tests/integration/years_sim.sh

echo "== baseline: $devices devices, 90 quiet days"
bash "$sim" --devices "$devices" --days 90 --seed "$seed" --quiet --times "$tmp/base" 2>&1 |
	grep -E '^(years:|FAIL|STRANDED)'
echo "== $devices devices, $days days, rotations and faults"
bash "$sim" --devices "$devices" --days "$days" --seed "$seed" --times "$tmp/full" 2>&1 |
	grep -E '^(years:|day [0-9]+: rounds|FAIL|STRANDED)'
med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
echo "median round: $(med "$tmp/full") ms, baseline $(med "$tmp/base") ms," \
	"ratio $(awk -v a="$(med "$tmp/full")" -v b="$(med "$tmp/base")" 'BEGIN {printf "%.2f", a / b}')"
