#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the Debian 12 packages fleetsec needs to build and test, if any are
# missing. Needs root (or sudo) only when something has to be installed.
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config            # toolchain
	libssl-dev openssl                          # crypto, X.509, TLS; the openssl CLI checks our output
	libsqlite3-dev sqlite3                      # registry; the CLI inspects it in tests
	libjansson-dev                              # JSON
	libcurl4-openssl-dev                        # the device's HTTPS client
	nginx                                       # a real HTTPS server in the tests
	libubootenv-dev libubootenv-tool            # U-Boot environment (and fw_printenv in tests)
	u-boot-tools                                # mkenvimage: a real environment for the tests
	grub-common                                 # grub-editenv
	libcmocka-dev                               # unit tests
	jq                                          # tests read the imgtool vectors manifest
	clang libclang-rt-14-dev                    # libFuzzer targets
	nftables iproute2 python3 dnsmasq-base       # network isolation: nft; namespace tests, their probes, and the name sets filled by dnsmasq
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi
echo "deps: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
