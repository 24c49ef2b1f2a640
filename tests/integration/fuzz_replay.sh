#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The corpus replay driver (fuzz/replay_main.c), which lets plain ctest run
# every fuzz corpus: it replays every file of a directory in name order after
# LLVMFuzzerInitialize, and fails on a crash, on an illegal return value and
# on anything it could not replay whole. $REPLAY is the driver linked with
# tests/unit/fuzz_replay_target.c, which crashes on inputs that say "crash".
. "$(dirname "$0")/lib.sh"
: "${REPLAY:?set REPLAY to the fuzz_replay_selftest binary}"

C=$T/corpus
mkdir "$C"
printf 'one' >"$C/a"
printf 'reject me' >"$C/b"
: >"$C/c-empty"
printf 'two' >"$C/.hidden"

# Every file of the directory, the empty and hidden ones too, in name order;
# the target aborts if LLVMFuzzerInitialize was not called first.
expect 0 "$REPLAY" "$C"
grep -qx "fuzz_replay: 4 inputs replayed, all clean" "$T/out" || fail "summary: $(cat "$T/out")"
[ "$(grep -c '^fuzz_replay: .* bytes)$' "$T/err")" -eq 4 ] || fail "inputs: $(cat "$T/err")"
grep -q "^fuzz_replay: $C/c-empty (0 bytes)$" "$T/err" || fail "the empty input: $(cat "$T/err")"
[ "$(sed -n 's|^fuzz_replay: .*/\([^/ ]*\) (.*|\1|p' "$T/err" | tr '\n' ' ')" = ".hidden a b c-empty " ] ||
	fail "not in name order: $(cat "$T/err")"
# Files and directories mixed on the command line.
expect 0 "$REPLAY" "$C/a" "$C"
grep -qx "fuzz_replay: 5 inputs replayed, all clean" "$T/out" || fail "summary: $(cat "$T/out")"

# A crashing input fails the run and is named last before the crash.
printf 'crash here' >"$C/regress-crash"
got=0
"$REPLAY" "$C" >"$T/out" 2>"$T/err" || got=$?
[ "$got" -ne 0 ] || fail "a crashing input passed"
[ "$(tail -n 1 "$T/err")" = "fuzz_replay: $C/regress-crash (10 bytes)" ] ||
	fail "the crashing input is not named last: $(tail -n 3 "$T/err")"
ok
rm "$C/regress-crash"

# A return value libFuzzer does not allow.
printf 'badrc' >"$C/d"
expect 1 "$REPLAY" "$C"
grep -qF "$C/d: the target returned 7" "$T/err" || fail "bad rc: $(cat "$T/err")"
rm "$C/d"

# Nothing in the corpus may go unreplayed without a word: a subdirectory,
# a file over the cap, an unreadable path.
mkdir "$C/sub"
expect 1 "$REPLAY" "$C"
grep -qF "$C/sub: not a regular file" "$T/err" || fail "subdirectory: $(cat "$T/err")"
rmdir "$C/sub"
truncate -s $((16 * 1024 * 1024 + 1)) "$C/huge"
expect 1 "$REPLAY" "$C"
grep -qF "$C/huge: 16777217 bytes, over the 16777216-byte cap" "$T/err" || fail "cap: $(cat "$T/err")"
rm "$C/huge"
expect 1 "$REPLAY" "$T/missing"
grep -qF "$T/missing: No such file or directory" "$T/err" || fail "missing: $(cat "$T/err")"

# An empty corpus proves nothing.
mkdir "$T/empty"
expect 1 "$REPLAY" "$T/empty"
grep -qF "no inputs" "$T/err" || fail "empty: $(cat "$T/err")"
expect 2 "$REPLAY"
done_checks
