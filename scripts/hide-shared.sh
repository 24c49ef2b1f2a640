#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Run a command with a folder hidden, as in a user's clone that has nothing
# beside it: in a private mount namespace, an empty read-only tmpfs is
# mounted over DIR, so that a test reading DIR fails there as it would in
# that clone. scripts/test.sh runs the suites this way with the "shared"
# folder beside the repository; scripts/check-selfcontained.sh is the static
# half of the same rule.
#
# usage: scripts/hide-shared.sh DIR -- COMMAND [ARG]...
# If DIR does not exist, COMMAND runs as it is. Exit status: COMMAND's, or
# 125 (with a one-line reason) if DIR exists and cannot be hidden: that needs
# root and unshare(1) from util-linux.
set -euo pipefail

usage() {
	echo "usage: $0 DIR -- COMMAND [ARG]..." >&2
	exit 2
}

# Second stage, inside the new mount namespace (see the end of this file).
if [ "${1:-}" = --inside ]; then
	dir=$2
	shift 3 # --inside DIR --
	# size=4k: nothing is ever written there (ro), the mount only covers.
	if ! err=$(mount -t tmpfs -o ro,nosuid,nodev,noexec,size=4k,mode=0555 fsec-hidden "$dir" 2>&1); then
		echo "hide-shared: cannot mount over $dir: $err" >&2
		exit 125
	fi
	# Proven, not assumed: the folder is empty and cannot be written.
	if [ -n "$(ls -A "$dir")" ] || touch "$dir/.fsec-probe" 2>/dev/null; then
		echo "hide-shared: $dir is still visible after the mount" >&2
		exit 125
	fi
	exec "$@"
fi

[ $# -ge 3 ] && [ "$2" = -- ] || usage
dir=$1
shift 2
if [ ! -e "$dir" ]; then
	exec "$@"
fi
dir=$(cd "$dir" && pwd -P)
if [ "$(id -u)" -ne 0 ]; then
	echo "hide-shared: cannot hide $dir: mounting over it needs root (uid $(id -u))" >&2
	exit 125
fi
if ! command -v unshare >/dev/null; then
	echo "hide-shared: cannot hide $dir: unshare(1) is missing (util-linux)" >&2
	exit 125
fi
# A private mount namespace: the tmpfs is seen by COMMAND and its children
# only, and goes away with them; the host keeps its folder.
if ! unshare --mount --propagation private -- true 2>/dev/null; then
	echo "hide-shared: cannot hide $dir: unshare --mount is refused here (no CAP_SYS_ADMIN, or a container forbids it)" >&2
	exit 125
fi
exec unshare --mount --propagation private -- "$BASH" "$0" --inside "$dir" -- "$@"
