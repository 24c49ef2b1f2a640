#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Run testssl.sh (Debian's testssl.sh, command `testssl`) against fleetsecd
# on loopback, with a fresh fleet: its CA added to testssl's trust, a server
# certificate for localhost/127.0.0.1 from `fleetsec ca server-cert`. Takes
# about a minute. Prints testssl's report, then every finding of severity
# MEDIUM or above; exits 1 if there is any.
#
# usage: scripts/testssl.sh [BUILD_DIR] [REPORT.txt]   (default: build, no copy)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
report=${2:-}
command -v testssl >/dev/null || { echo "testssl.sh is not installed (apt-get install testssl.sh)" >&2; exit 1; }
[ -x "$build/fleetsecd" ] || { echo "no fleetsecd in $build: build first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-testssl.XXXXXX")
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export FLEETSEC_HOME=$work/home
port=$((20000 + RANDOM % 12000))
"$build/fleetsec" ca init --name "testssl Fleet" >/dev/null
"$build/fleetsec" ca server-cert localhost --ip 127.0.0.1 \
	--crl-url "https://localhost:$port/crl" >/dev/null
"$build/fleetsecd" --listen "127.0.0.1:$port" --quiet 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 50); do grep -q listening "$work/daemon.log" && break; sleep 0.1; done
grep -q listening "$work/daemon.log" || { cat "$work/daemon.log" >&2; exit 1; }

testssl --quiet --color 0 --warnings off --add-ca "$FLEETSEC_HOME/root.pem" \
	--jsonfile "$work/findings.json" "127.0.0.1:$port" | tee "$work/report.txt"
[ -z "$report" ] || cp "$work/report.txt" "$report"
bad=$(jq -r '.[] | select(.severity == "MEDIUM" or .severity == "HIGH" or .severity == "CRITICAL")
	| "\(.severity) \(.id): \(.finding)"' "$work/findings.json")
echo
if [ -n "$bad" ]; then
	echo "testssl: findings of severity MEDIUM or above:"
	echo "$bad"
	exit 1
fi
echo "testssl: no finding of severity MEDIUM or above ($(jq -r '[.[] | select(.severity == "LOW")] | length' "$work/findings.json") LOW)"
