#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Build the libFuzzer targets in build-fuzz/ and run each one for SECONDS
# (default 20) on a scratch copy of its seed corpus, so that the corpus under
# fuzz/corpus/ is never modified. Exits non-zero if any target crashes, leaks,
# times out or fails to start.
#
# usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail

usage() {
	echo "usage: $0 [SECONDS]" >&2
	exit 2
}

[ $# -le 1 ] || usage
secs=${1:-20}
case $secs in
'' | *[!0-9]*) usage ;;
esac
[ "$secs" -ge 1 ] || usage

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

passed=0
failed=0
found=0
for bin in "$build"/fuzz/fuzz_*; do
	if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
		continue
	fi
	found=$((found + 1))
	name=${bin##*/fuzz_}
	corpus=$work/corpus-$name
	log=$work/$name.log
	mkdir -p "$corpus"
	if [ -d "fuzz/corpus/$name" ]; then
		cp -R "fuzz/corpus/$name/." "$corpus/"
	fi

	# Crash, leak and timeout artifacts go to the scratch dir, not the cwd.
	status=0
	"$bin" -max_total_time="$secs" -max_len=70000 -timeout=25 -print_final_stats=1 \
		-artifact_prefix="$work/$name-" "$corpus" >"$log" 2>&1 || status=$?

	execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
	if [ -z "$execs" ]; then
		# libFuzzer prints no final stats when it dies; its last status
		# line (#N ...) still says how far it got.
		execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
	fi
	execs=${execs:-0}

	if [ "$status" -eq 0 ]; then
		passed=$((passed + 1))
		echo "fuzz_$name: ok, $execs executions in ${secs}s"
	else
		failed=$((failed + 1))
		echo "fuzz_$name: FAILED (exit $status) after $execs executions"
		# The report and the reproducer are in the scratch dir, which is
		# about to go: show the report and keep the inputs.
		first=$(grep -n -m 1 -E '==ERROR|runtime error:|deadly signal' "$log" |
			cut -d: -f1 || true)
		if [ -n "$first" ]; then
			sed -n "${first},$((first + 39))p" "$log" >&2
		else
			tail -n 40 "$log" >&2
		fi
		keep=$build/fuzz/artifacts
		mkdir -p "$keep"
		for a in "$work/$name-"*; do
			[ -e "$a" ] || continue
			cp "$a" "$keep/"
			echo "  reproducer kept: $keep/${a##*/}" >&2
		done
	fi
done

[ "$found" -gt 0 ] || echo "no fuzz targets found in $build/fuzz" >&2
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$found" -gt 0 ]
