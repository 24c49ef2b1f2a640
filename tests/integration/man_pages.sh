#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The manual pages render without a warning from man(1), and fleetsec(1)
# matches the code: every command that `fleetsec --help` lists has an entry,
# every option a command's --help names is in its entry, and every option
# the page names is one the CLI has.
. "$(dirname "$0")/lib.sh"

DOCS=$(cd "$(dirname "$0")/../../docs" && pwd)
command -v man >/dev/null || fail "man is missing (scripts/deps.sh installs man-db)"
command -v groff >/dev/null || fail "groff is missing (scripts/deps.sh installs groff-base)"
command -v python3 >/dev/null || fail "python3 is missing (scripts/deps.sh installs it)"

for page in fleetsec.1 fleetsecd.8 fleetsec-agent.8; do
	expect 0 env MANWIDTH=80 man --warnings -l "$DOCS/$page"
	[ ! -s "$T/err" ] || fail "$page: man warns: $(cat "$T/err")"
	grep -q '^NAME' "$T/out" || fail "$page: nothing rendered"
	ok
done

# One line per entry, for the comparison below.
MANWIDTH=1000 man -l "$DOCS/fleetsec.1" 2>/dev/null | col -bx >"$T/page"
"$FLEETSEC" --help >"$T/overview"
sed -n 's/^  \([a-z-]*\( [a-z-]*\)\?\)  .*/\1/p' "$T/overview" | sed 's/ *$//' >"$T/commands"
[ "$(wc -l <"$T/commands")" -ge 38 ] || fail "fleetsec --help lists $(wc -l <"$T/commands") commands"
while read -r cmd; do
	# shellcheck disable=SC2086 # the command's words are separate arguments
	"$FLEETSEC" $cmd --help >"$T/help.$(tr ' ' _ <<<"$cmd")" || fail "fleetsec $cmd --help failed"
done <"$T/commands"

python3 - "$T" <<'EOF' || fail "fleetsec.1 does not match the CLI"
import glob, os, re, sys

t = sys.argv[1]
page = open(os.path.join(t, "page")).read().splitlines()
commands = open(os.path.join(t, "commands")).read().split("\n")
commands = [c for c in commands if c]
flag = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# Options every command takes (cli.h), and --version before any command.
common = {"--home", "--json", "--help", "--version"}
# Shared by the three audits, documented once at the top of AUDIT.
audit_shared = {"--json", "--sarif", "--out", "--fail-on", "--disable"}
bad = []

# An entry starts at a line indented 7 that begins with the command's
# words, and runs to the next entry or section heading.
starts = {}
for i, line in enumerate(page):
    for c in commands:
        if re.match(r"^ {7}" + re.escape(c) + r"( |$)", line) and c not in starts:
            starts[c] = i
for c in commands:
    if c not in starts:
        bad.append("no entry for 'fleetsec %s'" % c)
heads = sorted(set(starts.values()))
def entry(c):
    i = starts[c]
    end = len(page)
    for j in range(i + 1, len(page)):
        if j in heads and not page[j].startswith(" " * 7 + c):
            end = j
            break
        if page[j] and not page[j].startswith(" "):
            end = j
            break
    head = [page[i]]
    k = i + 1
    while k < end and page[k].startswith(" " * 7 + c):  # a second synopsis (.TQ)
        head.append(page[k])
        k += 1
    return "\n".join(head), "\n".join(page[i:end])

known = set(common) | {"--approval"}  # fleetsecd's, named under 'enroll pending'
for c in commands:
    helpf = os.path.join(t, "help." + c.replace(" ", "_"))
    hflags = set(flag.findall(open(helpf).read()))
    known |= hflags
    if c not in starts:
        continue
    head, body = entry(c)
    documented = set(flag.findall(body)) | common
    if c.startswith("audit "):
        documented |= audit_shared
    for f in sorted(hflags - documented):
        bad.append("'fleetsec %s': %s is not in its entry" % (c, f))
    for f in sorted(set(flag.findall(head)) - hflags - common):
        bad.append("'fleetsec %s': the page's %s is not an option of the command" % (c, f))
for f in sorted(set(flag.findall("\n".join(page))) - known):
    bad.append("the page names %s, which no command has" % f)
for b in bad:
    print("man_pages:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
ok
done_checks
