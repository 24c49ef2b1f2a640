#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The banned-function check must refuse each banned call in bad.c (so that a
# check that silently stopped working fails here) and nothing in good.c.
set -u
here=$(cd "$(dirname "$0")" && pwd)
check="$here/../../scripts/checksrc.sh"
fail() { echo "checksrc selftest: $*" >&2; exit 1; }

out=$(bash "$check" "$here/bad.c")
rc=$?
[ $rc -eq 1 ] || fail "bad.c: exit $rc, expected 1"
want="sprintf vsprintf strcpy strcat strncat strtok strtok_r gets atoi atol atoll system popen atoi atoi strcpy"
got=$(printf '%s\n' "$out" | sed -n 's/^.*bad\.c:[0-9]*: \([a-z_]*\): .*/\1/p' | tr '\n' ' ')
[ "$got" = "$want " ] || fail "bad.c: refused [$got], expected [$want ]"
# Lines are right: the first finding is line 6, and every one has a reason.
printf '%s\n' "$out" | head -1 | grep -q 'bad\.c:6: sprintf: no bound' || fail "bad.c: $out"
[ "$(printf '%s\n' "$out" | grep -c ': [a-z_]*: ..*$')" -eq 16 ] || fail "reasons missing: $out"

out=$(bash "$check" "$here/good.c")
rc=$?
[ $rc -eq 0 ] || fail "good.c: exit $rc, expected 0: $out"
[ -z "$out" ] || fail "good.c: refused: $out"

# A path that does not exist, or holds no C file, is an error, not a pass.
bash "$check" "$here/no-such-dir" 2>/dev/null
[ $? -eq 2 ] || fail "a missing path passed"
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
bash "$check" "$empty" 2>/dev/null
[ $? -eq 2 ] || fail "an empty directory passed"
echo "checksrc selftest: ok"
