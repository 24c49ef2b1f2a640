#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Build the libFuzzer targets in build-fuzz/ and run each one for SECONDS
# (default 20) on a scratch copy of its seed corpus, so that the corpus under
# fuzz/corpus/ is never modified. Exits non-zero if any target crashes, leaks,
# times out or fails to start. Each line gives the target's rate in
# executions per second, the figure that says whether a run explored much.
#
# --long runs each target for SECONDS (default 600) outside CI and keeps what
# it found in build-fuzz/corpus-long/NAME, so that the next long run starts
# where this one stopped; copy anything worth keeping into fuzz/corpus/ by
# hand. --jobs N runs N targets at once (one process each, never more than
# the machine's cores is useful). --only NAME runs one target.
#
# usage: scripts/fuzz.sh [--long] [--jobs N] [--only NAME] [SECONDS]
set -euo pipefail

usage() {
	echo "usage: $0 [--long] [--jobs N] [--only NAME] [SECONDS]" >&2
	exit 2
}

long=0
jobs=1
only=
while [ $# -gt 0 ]; do
	case $1 in
	--long) long=1 ;;
	--jobs)
		[ $# -ge 2 ] || usage
		jobs=$2
		shift
		;;
	--only)
		[ $# -ge 2 ] || usage
		only=$2
		shift
		;;
	-h | --help) usage ;;
	-*) usage ;;
	*) break ;;
	esac
	shift
done
[ $# -le 1 ] || usage
if [ "$long" -eq 1 ]; then
	secs=${1:-600}
else
	secs=${1:-20}
fi
case $secs$jobs in
'' | *[!0-9]*) usage ;;
esac
[ "$secs" -ge 1 ] && [ "$jobs" -ge 1 ] || usage
case $only in
*[!a-z0-9_]*) usage ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build="build-fuzz"

work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Quiet unless it fails; then the whole log says why.
if ! { CC=clang cmake -S . -B "$build" -DFSEC_FUZZ=ON -DFSEC_TESTS=OFF \
	-DCMAKE_BUILD_TYPE=Debug && cmake --build "$build" -j2; } >"$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	echo "fuzz build failed" >&2
	exit 1
fi

# run_one NAME: fuzz one target; its verdict line goes to $work/NAME.verdict
# and its exit status says pass (0) or fail (1).
run_one() {
	local name=$1 bin=$build/fuzz/fuzz_$1
	local corpus=$work/corpus-$name log=$work/$name.log status=0 execs rate

	if [ "$long" -eq 1 ]; then
		corpus=$build/corpus-long/$name
	fi
	mkdir -p "$corpus"
	if [ -d "fuzz/corpus/$name" ]; then
		cp -R "fuzz/corpus/$name/." "$corpus/"
	fi

	# Crash, leak and timeout artifacts go to the scratch dir, not the cwd.
	"$bin" -max_total_time="$secs" -max_len=70000 -timeout=25 -print_final_stats=1 \
		-artifact_prefix="$work/$name-" "$corpus" >"$log" 2>&1 || status=$?

	execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
	if [ -z "$execs" ]; then
		# libFuzzer prints no final stats when it dies; its last status
		# line (#N ...) still says how far it got.
		execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
	fi
	execs=${execs:-0}
	rate=$((execs / secs))

	if [ "$status" -eq 0 ]; then
		echo "fuzz_$name: ok, $execs executions in ${secs}s ($rate/s)" >"$work/$name.verdict"
		return 0
	fi
	{
		echo "fuzz_$name: FAILED (exit $status) after $execs executions"
		# The report and the reproducer are in the scratch dir, which is
		# about to go: show the report and keep the inputs.
		first=$(grep -n -m 1 -E '==ERROR|runtime error:|deadly signal' "$log" |
			cut -d: -f1 || true)
		if [ -n "$first" ]; then
			sed -n "${first},$((first + 39))p" "$log"
		else
			tail -n 40 "$log"
		fi
		keep=$build/fuzz/artifacts
		mkdir -p "$keep"
		for a in "$work/$name-"*; do
			[ -e "$a" ] || continue
			cp "$a" "$keep/"
			echo "  reproducer kept: $keep/${a##*/}"
		done
	} >"$work/$name.verdict"
	return 1
}

names=()
for bin in "$build"/fuzz/fuzz_*; do
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		continue
	fi
	name=${bin##*/fuzz_}
	if [ -n "$only" ] && [ "$name" != "$only" ]; then
		continue
	fi
	names+=("$name")
done
found=${#names[@]}
if [ -n "$only" ] && [ "$found" -eq 0 ]; then
	echo "$0: no fuzz target named $only in $build/fuzz" >&2
	exit 1
fi

# At most $jobs targets at once. The verdict files, not the exit statuses,
# say who passed: wait -n may already have collected a status.
for name in "${names[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n || true
	done
	run_one "$name" &
done
wait || true
passed=0
failed=0
for name in "${names[@]}"; do
	if [ -f "$work/$name.verdict" ] && head -n 1 "$work/$name.verdict" | grep -q ': ok, '; then
		passed=$((passed + 1))
		cat "$work/$name.verdict"
	else
		failed=$((failed + 1))
		cat "$work/$name.verdict" >&2 2>/dev/null || echo "fuzz_$name: FAILED (no verdict)" >&2
	fi
done

[ "$found" -gt 0 ] || echo "no fuzz targets found in $build/fuzz" >&2
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$found" -gt 0 ]
