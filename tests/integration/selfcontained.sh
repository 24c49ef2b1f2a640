#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The two halves of "a clone alone passes its tests": the static check
# (scripts/check-selfcontained.sh) refuses each kind of path that leaves the
# repository, in a scratch tree, and passes the real one; the hiding wrapper
# (scripts/hide-shared.sh, which scripts/test.sh runs the suites under)
# really hides a folder, and refuses out loud when it cannot.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CHECK=$ROOT/scripts/check-selfcontained.sh
HIDE=$ROOT/scripts/hide-shared.sh

# The repository itself is clean.
expect 0 bash "$CHECK" "$ROOT"
grep -q "none reads outside the repository" "$T/out" || fail "no summary: $(cat "$T/out")"

# A scratch tree (not a git checkout, so every file counts) with one clean
# script per folder.
R=$T/repo
mkdir -p "$R/tests/integration" "$R/tests/unit" "$R/bench" "$R/scripts" "$R/fuzz" \
	"$R/tests/vectors" "$R/tests/data" "$R/fuzz/corpus/x"
clean() {
	printf '%s\n' 'V=$(cd "$(dirname "$0")/../vectors/mcuboot" && pwd)' >"$R/tests/integration/a.sh"
	printf '%s\n' 'root=$(cd "$(dirname "$0")/.." && pwd)' >"$R/bench/b.sh"
	printf '%s\n' 'cd "$(dirname "$0")/.."' >"$R/scripts/c.sh"
	printf '%s\n' '/* the key of tests/vectors/mcuboot/ed25519.pem */' >"$R/fuzz/f.c"
	printf '%s\n' 'tar_header(buf, "etc/../../shadow");' >"$R/tests/unit/u.c"
	rm -f "$R/tests/integration/bad.sh"
}
clean
expect 0 bash "$CHECK" "$R"

# refused FILE LINE REASON: the check fails on LINE in FILE, naming the file,
# the line and REASON; and passes again once the line is gone.
refused() {
	local file=$1 line=$2 reason=$3
	printf '%s\n' "$line" >>"$R/$file"
	expect 1 bash "$CHECK" "$R"
	grep -qF "$file:" "$T/err" || fail "'$line' in $file: finding does not name the file: $(cat "$T/err")"
	grep -qF -- "$reason" "$T/err" || fail "'$line' in $file: expected '$reason', got: $(cat "$T/err")"
	clean
	expect 0 bash "$CHECK" "$R"
}
# The shared folder beside the clone, and what was in it.
refused tests/integration/bad.sh 'V=$ROOT_DIR/../shared/vectors/mcuboot' "names the shared folder" # selfcontained: ok (a refusal case)
refused tests/integration/bad.sh 'MUD=${X:-/srv/shared/mud-examples}' "names the shared folder" # selfcontained: ok (a refusal case)
refused fuzz/f.c '/* read from shared/vectors/mcuboot */' "names the shared folder" # selfcontained: ok (a refusal case)
# This machine's layout, and the old overrides.
refused scripts/c.sh 'cat /work/main/README.md' "/work tree" # selfcontained: ok (a refusal case)
refused tests/integration/bad.sh 'V=${FSEC_VECTORS:-x}' "an override that pointed outside" # selfcontained: ok (a refusal case)
refused tests/integration/bad.sh 'M=${FSEC_MUD_EXAMPLES:-x}' "an override that pointed outside" # selfcontained: ok (a refusal case)
# Leaving the root from the root.
refused bench/b.sh 'cat "$root/../other/file"' '".." above the repository root' # selfcontained: ok (a refusal case)
refused scripts/c.sh 'D=$(cd "$(dirname "$0")/.." && pwd)/../data' '".." above the repository root' # selfcontained: ok (a refusal case)
refused tests/integration/bad.sh 'x=${CMAKE_SOURCE_DIR}/../y' '".." above the repository root' # selfcontained: ok (a refusal case)
# Climbing more levels than the file is deep.
refused tests/integration/bad.sh 'cat "$(dirname "$0")/../../../etc/x"' "climbs 3 levels from a folder 2 below" # selfcontained: ok (a refusal case)
refused scripts/c.sh 'cat ../../x' "climbs 2 levels from a folder 1 below"
refused fuzz/f.c '#include "../../x.h"' "climbs 2 levels from a folder 1 below"

# Each finding is one line, and the count covers them all.
printf '%s\n' 'a=../shared/x' 'b=/work/x' >"$R/tests/integration/bad.sh" # selfcontained: ok (a refusal case)
expect 1 bash "$CHECK" "$R"
[ "$(grep -c '^tests/integration/bad.sh:[12]: ' "$T/err")" -eq 2 ] || fail "two findings expected: $(cat "$T/err")"
grep -qF "2 reference(s) outside the repository" "$T/err" || fail "no count: $(cat "$T/err")"
clean

# A waiver on the line, and the data folders, are not findings.
printf '%s\n' 'probe "../../../etc/passwd" # selfcontained: ok (a traversal the server refuses)' \
	>"$R/tests/integration/bad.sh"
printf '%s\n' '../shared/vectors' >"$R/tests/vectors/README.md" # selfcontained: ok (data, not read by a test)
printf '%s\n' '../shared/vectors' >"$R/tests/data/README.md" # selfcontained: ok (data, not read by a test)
printf '%s\n' '../../../../x' >"$R/fuzz/corpus/x/seed" # selfcontained: ok (data, not read by a test)
expect 0 bash "$CHECK" "$R"
clean

# A tree with nothing to check is an error, not a pass.
mkdir "$T/empty"
expect 1 bash "$CHECK" "$T/empty"

# The wrapper: a folder with a file in it, hidden for the command only.
mkdir "$T/shared"
echo secret >"$T/shared/file"
if [ "$(id -u)" -eq 0 ]; then
	expect 0 bash "$HIDE" "$T/shared" -- bash -c '[ -z "$(ls -A "$1")" ] && ! touch "$1/x" 2>/dev/null' _ "$T/shared"
	# A reader fails inside, with the command's own status.
	expect 1 bash "$HIDE" "$T/shared" -- cat "$T/shared/file"
	# Outside and afterwards, the folder is untouched.
	[ "$(cat "$T/shared/file")" = secret ] || fail "the folder changed"
	ok
	# Not root: refused with a reason and 125, never a quiet run.
	if command -v setpriv >/dev/null; then
		chmod 755 "$T"
		expect 125 setpriv --reuid=65534 --regid=65534 --clear-groups \
			bash "$HIDE" "$T/shared" -- true
		one_line_error "needs root"
	fi
else
	expect 125 bash "$HIDE" "$T/shared" -- true
	one_line_error "needs root"
fi
# Nothing to hide: the command runs as it is.
expect 0 bash "$HIDE" "$T/nothing-here" -- true
# Misuse.
expect 2 bash "$HIDE" "$T/shared" true
done_checks
