#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `cmake --install` yields a usable fleetsec: the binary runs from the
# prefix, and a program builds against the headers via pkg-config.
set -euo pipefail
: "${BUILD_DIR:?}"
T=$(mktemp -d "${TMPDIR:-/tmp}/fsec-install-XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$BUILD_DIR" --prefix "$T/prefix" >/dev/null
"$T/prefix/bin/fleetsec" --version | grep '^fleetsec ' >/dev/null || fail "installed binary does not run"
[ -f "$T/prefix/include/fleetsec/fleet.h" ] || fail "headers not installed"
for page in man1/fleetsec.1 man8/fleetsecd.8 man8/fleetsec-agent.8; do
	[ -f "$T/prefix/share/man/$page" ] || fail "manual page $page not installed"
done
# The installed page is the one man reads: fleetsec(1) found by name.
MANPATH="$T/prefix/share/man" MANWIDTH=80 man fleetsec 2>/dev/null | grep -q 'fleetsec ca init' ||
	fail "man fleetsec does not find the installed page"
libdir=$(dirname "$(find "$T/prefix" -name fleetsec.pc)")
cat >"$T/use.c" <<'C'
#include <fleetsec/identity.h>
int main(void) { return fsec_devid_valid("dev-1") && !fsec_devid_valid("bad id") ? 0 : 1; }
C
export PKG_CONFIG_PATH="$libdir"
# shellcheck disable=SC2046
cc ${EXTRA_CFLAGS:-} -o "$T/use" "$T/use.c" $(pkg-config --cflags --libs fleetsec) -Wl,-rpath,"$(pkg-config --variable=libdir fleetsec)" ||
	fail "cannot build against the installed library"
"$T/use" || fail "program linked to libfleetsec misbehaves"

# The device side: the installed agent and every library it loads carry
# neither the registry (SQLite), the server's event loop nor libcrypt.
agent=$T/prefix/bin/fleetsec-agent
"$agent" --help >/dev/null 2>&1 || fail "installed agent does not run"
needed=$(readelf -d "$agent" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
grep -qx 'libfleetsec-device.so.0' <<<"$needed" || fail "the agent does not link libfleetsec-device: $needed"
grep -qx 'libfleetsec.so.0' <<<"$needed" && fail "the agent links the full libfleetsec"
loaded=$(ldd "$agent")
for lib in libsqlite3 libevent libcrypt.so; do
	if grep -F "$lib" <<<"$loaded" >/dev/null; then
		fail "fleetsec-agent loads $lib: $(grep -F "$lib" <<<"$loaded")"
	fi
done
# ...while the full library does load SQLite, so the check above can fail.
grep -F libsqlite3 <<<"$(ldd "$T/prefix/bin/fleetsec")" >/dev/null || fail "ldd check is blind: the CLI loads no SQLite"
[ ! -e "$T/prefix/bin/fleetsec-bootsim" ] || fail "the bootloader simulator was installed into bin/"
echo "install.sh: 9 checks passed"
