#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite, as CI runs it: unit and integration tests on a normal
# build, the same suite under AddressSanitizer + UndefinedBehaviorSanitizer,
# then every libFuzzer target briefly (FUZZ_SECONDS, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

passed=0
failed=0
run_suite() { # run_suite BUILD_DIR BUILD_TYPE
	local dir=$1 type=$2 log
	echo "== $type build in $dir"
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DFSEC_TESTS=ON >/dev/null
	cmake --build "$dir" -j2 >/dev/null
	log=$(mktemp)
	if ctest --test-dir "$dir" -j2 --output-on-failure 2>&1 | tee "$log"; then :; fi
	# ctest: "100% tests passed, 0 tests failed out of 9"
	local line total bad
	line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
	# The power-fail harness's own summary (points, bytes re-downloaded).
	grep -h '^powerfail: ' "$dir/Testing/Temporary/LastTest.log" 2>/dev/null || true
	rm -f "$log"
	if [ -z "$line" ]; then
		echo "test.sh: no ctest summary from $dir" >&2
		failed=$((failed + 1))
		return
	fi
	bad=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$line")
	total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
	passed=$((passed + total - bad))
	failed=$((failed + bad))
}

run_suite build Debug
# halt_on_error makes a sanitizer report fail the test that triggered it.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Under the sanitizers the power-fail harness runs a sample; the plain run
# above did every point.
export POWERFAIL_STRIDE=7 POWERFAIL_NET=30
run_suite build-asan AsanUbsan
unset ASAN_OPTIONS UBSAN_OPTIONS POWERFAIL_STRIDE POWERFAIL_NET

echo "== fuzz targets (${FUZZ_SECONDS:-20} s each)"
if scripts/fuzz.sh "${FUZZ_SECONDS:-20}"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
