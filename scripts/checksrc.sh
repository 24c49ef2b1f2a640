#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# checksrc: refuse banned C functions (curl's scripts/checksrc.pl, reduced to
# the one rule STYLE.md states). Usage:
#
#   scripts/checksrc.sh [FILE|DIR]...
#
# With no argument it checks the C sources and headers under src/, fuzz/,
# bench/ and tests/unit/ of this repository. Calls are found in code only:
# comments and string or character literals are blanked first, and a name
# must be a whole identifier (snprintf, fgets and my_system are other names).
# Any use counts, not only a call: (atoi)(s) and f = sprintf are the same
# function. A struct member (x.system, x->popen) is not the libc function. Prints FILE:LINE: NAME: WHY for each call and exits 1 if there is
# any, 2 if there is nothing to check (a wrong path must not pass as clean).
#
# strtok_r is banned with strtok: the reentrant form still writes into its
# input and silently merges empty fields ("a,,b" is two fields), which is
# the wrong answer for every format we parse; strcspn/memchr say what they
# do. popen is banned outright rather than "popen of a built string": a
# literal command still runs a shell, and posix_spawn with an argv is as
# short.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -eq 0 ]; then
	cd "$root" || exit 2
	set -- src fuzz bench tests/unit
fi

files=()
for arg in "$@"; do
	if [ -d "$arg" ]; then
		while IFS= read -r -d '' f; do
			files+=("$f")
		done < <(find "$arg" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
	elif [ -f "$arg" ]; then
		files+=("$arg")
	else
		echo "checksrc: $arg: no such file or directory" >&2
		exit 2
	fi
done
if [ ${#files[@]} -eq 0 ]; then
	echo "checksrc: no C files to check in: $*" >&2
	exit 2
fi

# One awk run over every file; the comment state is reset per file.
awk '
BEGIN {
	why["sprintf"] = "no bound on the output: use snprintf and check for truncation"
	why["vsprintf"] = "no bound on the output: use vsnprintf and check for truncation"
	why["strcpy"] = "no bound on the copy: use snprintf or memcpy with a checked length"
	why["strcat"] = "no bound on the copy: use snprintf or memcpy with a checked length"
	why["strncat"] = "its n is the room left, not the buffer size, so it is easy to overflow: use snprintf or memcpy"
	why["strtok"] = "hidden static state, writes into its input and merges empty fields: use strcspn/strspn or memchr"
	why["strtok_r"] = "writes into its input and merges empty fields: use strcspn/strspn or memchr"
	why["gets"] = "no bound at all: use fgets"
	why["atoi"] = "no error detection, undefined on overflow: use fsec_parse_ulong or strtol with checks"
	why["atol"] = "no error detection, undefined on overflow: use fsec_parse_ulong or strtol with checks"
	why["atoll"] = "no error detection, undefined on overflow: use fsec_parse_ulong or strtoll with checks"
	why["system"] = "runs a shell on a string: use posix_spawn or fork+execv with an argv"
	why["popen"] = "runs a shell on a string: use posix_spawn or fork+execv with an argv and a pipe"
	found = 0
}
FNR == 1 { incomment = 0 }
# The line with comments and literals blanked, columns kept.
function code(line,    out, i, n, c, nx, q) {
	out = ""
	n = length(line)
	i = 1
	while (i <= n) {
		c = substr(line, i, 1)
		nx = substr(line, i + 1, 1)
		if (incomment) {
			if (c == "*" && nx == "/") {
				incomment = 0
				out = out "  "
				i += 2
			} else {
				out = out " "
				i++
			}
			continue
		}
		if (c == "/" && nx == "*") {
			incomment = 1
			out = out "  "
			i += 2
			continue
		}
		if (c == "/" && nx == "/")
			break
		if (c == "\"" || c == "\047") {
			q = c
			out = out " "
			i++
			while (i <= n) {
				c = substr(line, i, 1)
				if (c == "\\") {
					out = out "  "
					i += 2
					continue
				}
				out = out " "
				i++
				if (c == q)
					break
			}
			continue
		}
		out = out c
		i++
	}
	return out
}
{
	line_code = code($0)
	s = line_code
	off = 0
	while (match(s, /[A-Za-z_][A-Za-z0-9_]*/)) {
		name = substr(s, RSTART, RLENGTH)
		at = off + RSTART
		off += RSTART + RLENGTH - 1
		s = substr(s, RSTART + RLENGTH)
		if (!(name in why))
			continue
		# A member (x.system, x->popen) is not the libc function.
		if (at > 1) {
			p1 = substr(line_code, at - 1, 1)
			p2 = at > 2 ? substr(line_code, at - 2, 1) : ""
			while (p1 == " " || p1 == "\t") {
				at--
				p1 = at > 1 ? substr(line_code, at - 1, 1) : ""
				p2 = at > 2 ? substr(line_code, at - 2, 1) : ""
			}
			if (p1 == "." || (p1 == ">" && p2 == "-"))
				continue
		}
		printf "%s:%d: %s: %s\n", FILENAME, FNR, name, why[name]
		found++
	}
}
END { exit found > 0 ? 1 : 0 }
' "${files[@]}"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
	echo "checksrc: awk failed (exit $rc)" >&2
	exit 2
fi
exit $rc
