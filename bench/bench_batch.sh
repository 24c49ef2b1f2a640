#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/bench_batch.sh [N]: `fleetsec device issue --batch` over N P-256 CSRs
# (default 100000) made by python-cryptography (tests/integration/make_csrs.py;
# untimed), into a fresh fleet home each time, with --jobs 1 and then one job
# per CPU, under /usr/bin/time -v (wall time, peak RSS). Certificates go to
# --out-dir, as on a factory line. Beside them, in the same run, the raw
# bound: `openssl speed ecdsap256` pairs of one verify and one sign. Release
# build in build-bench/. See docs/BENCHMARKS.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
n="${1:-100000}"
work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-bbatch-XXXXXX")
trap 'rm -rf "$work"' EXIT

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target fleetsec_cli >/dev/null
F="$build/fleetsec"

echo "== machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(openssl version)"
speed=$(openssl speed -seconds 2 ecdsap256 2>/dev/null)
awk '/bits ecdsa/ { printf "bound before, openssl speed pairs (1 verify + 1 sign), one core: %.1f pairs/s\n", 1 / (1 / $(NF-1) + 1 / $NF) }' <<<"$speed"
mkdir "$work/csrs"
t0=$(date +%s)
python3 "$root/tests/integration/make_csrs.py" "$work/csrs" "$n" >"$work/csrs/batch.csv"
echo "setup: $n CSRs in $(($(date +%s) - t0)) s (untimed)"

for jobs in 1 "$(nproc)"; do
	export FLEETSEC_HOME="$work/home-$jobs"
	"$F" ca init --name "Bench" >/dev/null
	/usr/bin/time -v "$F" device issue --batch "$work/csrs/batch.csv" --out-dir "$work/out-$jobs" \
		--jobs "$jobs" >"$work/run-$jobs.jsonl" 2>"$work/time-$jobs"
	wall=$(jq -r .summary.seconds < <(tail -1 "$work/run-$jobs.jsonl"))
	issued=$(jq -r .summary.issued < <(tail -1 "$work/run-$jobs.jsonl"))
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time-$jobs")
	cpu=$(sed -n 's/.*Percent of CPU this job got: //p' "$work/time-$jobs")
	usr=$(sed -n 's/.*User time (seconds): //p' "$work/time-$jobs")
	sys=$(sed -n 's/.*System time (seconds): //p' "$work/time-$jobs")
	# On a shared machine the wall time says how busy it was; certificates
	# per CPU-second (user + system) is the figure that carries over.
	awk -v j="$jobs" -v n="$issued" -v w="$wall" -v r="$rss" -v c="$cpu" -v u="$usr" -v s="$sys" \
		'BEGIN { printf "batch --jobs %s: %d issued in %.1f s = %.0f certs/s (%.0f per job), %.0f certs per CPU-second (user %.1f s + sys %.1f s), peak RSS %.1f MB, CPU %s\n", j, n, w, n / w, n / w / j, n / (u + s), u, s, r / 1024, c }'
	rm -rf "$work/out-$jobs" "$FLEETSEC_HOME"
done
speed=$(openssl speed -seconds 2 ecdsap256 2>/dev/null)
awk '/bits ecdsa/ { printf "bound after, openssl speed pairs (1 verify + 1 sign), one core: %.1f pairs/s\n", 1 / (1 / $(NF-1) + 1 / $NF) }' <<<"$speed"
