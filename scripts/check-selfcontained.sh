#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A clone of the repository alone must pass its tests, so nothing under
# tests/, bench/, scripts/ or fuzz/ may name a path outside the repository.
# This is the static half of that rule (scripts/test.sh also runs the suites
# with the sibling "shared" folder hidden). It refuses, on any line of a text
# file there:
#  - the project's shared folder beside the clone, its vector and MUD
#    folders, this machine's /work tree, and the old FSEC_* overrides of the
#    vector and MUD folders, which pointed there;
#  - ".." right after a name for the repository root (root, ROOT, top,
#    repo, CMAKE_SOURCE_DIR, PROJECT_SOURCE_DIR, or "pwd)"), which leaves it;
#  - a run of ".." components longer than the file's depth below the root:
#    from tests/integration/ (depth 2), two of them reach the root and three
#    leave it.
# The data folders (tests/vectors/, tests/data/, fuzz/corpus/) are inputs,
# not readers, and are not checked. A line that must keep such a path (a
# traversal string a test feeds to a parser) says so with a comment holding
# "selfcontained: ok" and why.
#
# usage: scripts/check-selfcontained.sh [ROOT]   (default: this repository)
# Exit status 0 if clean, 1 with one "file:line: reason" per finding, 2 on
# misuse.
set -euo pipefail

[ $# -le 1 ] || { echo "usage: $0 [ROOT]" >&2; exit 2; }
root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$root"

# The file list: git's when this is a checkout (build trees and scratch
# files do not count), else every file.
list() {
	local d
	if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$root" ls-files -z --cached --others --exclude-standard -- tests bench scripts fuzz
	else
		for d in tests bench scripts fuzz; do
			[ -d "$d" ] && find "$d" -type f -print0
		done
	fi
}

# One perl for every file: it prints one "file:line: reason" per finding on
# stderr, then "FILES FINDINGS" on stdout. The patterns spell "shared" as
# "shar[e]d" (and so on) so that this file passes its own check.
summary=$(list | perl -0 -ne '
	chomp;
	my $f = $_;
	next if $f =~ m{^(?:tests/vectors|tests/data|fuzz/corpus)/};
	next unless -f $f;
	next if -B $f; # binary files hold no paths that a test would follow
	$checked++;
	my $d = ($f =~ tr{/}{});
	open(my $fh, "<", $f) or die "check-selfcontained: $f: $!\n";
	local $/ = "\n"; # the file list is NUL-separated, the files are lines
	while (my $l = <$fh>) {
		next if $l =~ /selfcontained: ok/;
		my @why;
		push @why, "names the shared folder beside the repository"
			if $l =~ m{\.\./shar[e]d(?![\w-])|\bshar[e]d/(?:vectors|mud-examples)\b};
		push @why, "names this machine'"'"'s /work tree" if $l =~ m{(?<![\w.-])/wor[k]/};
		push @why, "an override that pointed outside the repository"
			if $l =~ /\bFSEC_(?:VECTORS|MUD_EXAMPLES)\b/;
		push @why, "\"..\" above the repository root"
			if $l =~ m{(?:\$\{?(?:root|ROOT|top|TOP|repo|REPO|CMAKE_SOURCE_DIR|PROJECT_SOURCE_DIR)\}?|pwd\))"?/\.\.(?![\w.-])};
		while ($l =~ m{(?<![\w.-])((?:\.\./)*\.\.)(?![\w.-])}g) {
			my $run = $1;
			my $n = () = $run =~ /\.\./g;
			if ($n > $d) {
				push @why, "$run climbs $n levels from a folder $d below the root";
				last;
			}
		}
		for (@why) { print STDERR "$f:$.: $_\n"; $found++; }
	}
	close $fh;
	END { printf "%d %d\n", $checked // 0, $found // 0; }
')
checked=${summary% *}
found=${summary#* }

if [ "$checked" -eq 0 ]; then
	echo "check-selfcontained: no files under tests/ bench/ scripts/ fuzz/ in $root" >&2
	exit 1
fi
if [ "$found" -gt 0 ]; then
	echo "check-selfcontained: $found reference(s) outside the repository" >&2
	exit 1
fi
echo "check-selfcontained: $checked files, none reads outside the repository"
