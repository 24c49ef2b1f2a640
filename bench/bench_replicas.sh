#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Revocation fan-out benchmark (issue 16): the time from `fleetsec device
# revoke` returning to the device's refusal by each of three fleetsecd
# replicas on one PostgreSQL registry (a private cluster, tests/integration/
# pg.sh), next to the baseline in the same run: one fleetsecd on a SQLite
# fleet, where the next request sees the commit through data_version.
#
# usage: bench/bench_replicas.sh [REVOCATIONS]   (default 10)
#
# For each revocation: a fresh device enrolled through EST, its check cached
# on every replica (one accepted request each), then one polling loop per
# replica (curl, one request at a time) started before the CLI; a figure is
# the ms from the CLI's return to that loop's first 403, so it includes up
# to one request's time of the poller. Printed: the median of the per-
# replica figures and the median of the slowest replica per revocation
# (PostgreSQL), and the median on SQLite. FLEETSEC and FLEETSECD may name
# the binaries; by default a Release build is made in build-bench.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs="${1:-10}"
if [ -z "${FLEETSEC:-}" ] || [ -z "${FLEETSECD:-}" ]; then
	build="$root/build-bench"
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$build" -j2 --target fleetsec_cli fleetsecd >/dev/null
	FLEETSEC="$build/fleetsec" FLEETSECD="$build/fleetsecd"
fi
export FLEETSEC FLEETSECD
# shellcheck disable=SC1091
. "$root/tests/integration/lib.sh"
# shellcheck disable=SC1091
. "$root/tests/integration/pg.sh"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	pg_stop
	rm -rf "$T"
}
trap cleanup EXIT
pg_start
cd "$T"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# fleet HOME [--registry URL]: a fleet with a server certificate and an
# allowlist for SN-*.
fleet() {
	local home=$1
	shift
	FLEETSEC_HOME=$home "$FLEETSEC" ca init --name "Bench Fleet" "$@" >/dev/null
	FLEETSEC_HOME=$home "$FLEETSEC" ca server-cert localhost --ip 127.0.0.1 >/dev/null
	FLEETSEC_HOME=$home "$FLEETSEC" mfr init --dir "$home/mfr" --name "Acme" >/dev/null
	FLEETSEC_HOME=$home "$FLEETSEC" enroll allow --manufacturer-ca "$home/mfr/ca.pem" \
		--pattern 'SN-*' --model thermo >/dev/null
	printf 'renew_after_percent = 0\nrenewals_per_day = 1000\nrefusals_per_minute = 100000\n' \
		>>"$home/fleetsecd.conf"
}
# replica HOME: start one fleetsecd on it; its port in $port.
replica() {
	local log
	port=$(rand_port)
	log="$1/r$port.log"
	FLEETSEC_HOME=$1 "$FLEETSECD" --listen 127.0.0.1:$port >/dev/null 2>"$log" &
	pids+=($!)
	for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.1; done
	grep -q listening "$log" || { echo "fleetsecd did not start: $(cat "$log")" >&2; exit 1; }
}
# enroll HOME PORT SN: a device key and certificate in HOME/SN.{key,pem}.
enroll() {
	local home=$1 port=$2 sn=$3
	FLEETSEC_HOME=$home "$FLEETSEC" mfr issue "$sn" --dir "$home/mfr" \
		--key-out "$home/boot-$sn.key" --out "$home/boot-$sn.pem" 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$home/$sn.key" -subj "/CN=$sn" -outform DER 2>/dev/null |
		openssl base64 >"$home/$sn.b64"
	curl -sf --cacert "$home/root.pem" --cert "$home/boot-$sn.pem" --key "$home/boot-$sn.key" \
		-H 'Content-Type: application/pkcs10' --data-binary @"$home/$sn.b64" \
		"https://127.0.0.1:$port/.well-known/est/simpleenroll" |
		openssl base64 -d | openssl pkcs7 -inform DER -print_certs >"$home/$sn.pem"
}
ask() { # ask HOME PORT SN: the HTTP status of the device's next request
	curl -sS --max-time 10 --cacert "$1/root.pem" --cert "$1/$3.pem" --key "$1/$3.key" \
		-o /dev/null -w '%{http_code}' "https://127.0.0.1:$2/.well-known/est/csrattrs" \
		2>/dev/null || echo 000
}
watch() { # watch HOME PORT SN TFILE: ms from the time in TFILE to the first 403
	local got t
	while :; do
		got=$(ask "$1" "$2" "$3")
		t=$(now_ms)
		if [ "$got" = 403 ] && [ -s "$4" ]; then
			echo $((t - $(cat "$4")))
			return
		fi
		if [ -s "$4" ] && [ $((t - $(cat "$4"))) -gt 10000 ]; then
			echo never
			return
		fi
	done
}
# measure HOME SN PORT...: one revocation; prints one figure per port.
measure() {
	local home=$1 sn=$2 p w=()
	shift 2
	for p in "$@"; do [ "$(ask "$home" "$p" "$sn")" = 200 ] || { echo "not accepted" >&2; exit 1; }; done
	: >"$home/t1"
	for p in "$@"; do
		watch "$home" "$p" "$sn" "$home/t1" >"$home/lat-$p" &
		w+=($!)
	done
	sleep 0.3
	FLEETSEC_HOME=$home "$FLEETSEC" device revoke "$sn" --reason keyCompromise >/dev/null
	now_ms >"$home/t1"
	wait "${w[@]}"
	for p in "$@"; do cat "$home/lat-$p"; done
}

createdb fsec_bench
fleet "$T/pg" --registry postgresql:///fsec_bench
ports=()
for _ in 1 2 3; do
	replica "$T/pg"
	ports+=("$port")
done
fleet "$T/lite"
replica "$T/lite"
lite=$port

: >pg.all
: >pg.max
: >lite.all
for i in $(seq "$runs"); do
	sn=$(printf 'SN-%04d' "$i")
	enroll "$T/pg" "${ports[0]}" "$sn"
	measure "$T/pg" "$sn" "${ports[@]}" >one
	cat one >>pg.all
	sort -n one | tail -1 >>pg.max
	enroll "$T/lite" "$lite" "$sn"
	measure "$T/lite" "$sn" "$lite" >>lite.all
done
if grep -q never pg.all lite.all; then
	echo "a replica never refused a revoked device" >&2
	exit 1
fi
echo "revocations: $runs (3 replicas on PostgreSQL; 1 fleetsecd on SQLite)"
echo "PostgreSQL, any replica: median $(median <pg.all) ms, max $(sort -n pg.all | tail -1) ms"
echo "PostgreSQL, slowest replica per revocation: median $(median <pg.max) ms"
echo "SQLite baseline, one fleetsecd: median $(median <lite.all) ms, max $(sort -n lite.all | tail -1) ms"
