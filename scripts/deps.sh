#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the Debian 12 packages fleetsec needs to build and test, if any are
# missing. Needs root (or sudo) only when something has to be installed.
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config            # toolchain
	libssl-dev openssl                          # crypto, X.509, TLS; the openssl CLI checks our output
	libsqlite3-dev sqlite3                      # registry; bench/bench_audit.sh plants rows and times a raw SELECT
	libpq-dev postgresql                        # the PostgreSQL registry backend; tests start a private cluster
	haproxy                                     # the load balancer in front of fleetsecd replicas (pg_replicas test)
	libjansson-dev                              # JSON
	libcurl4-openssl-dev                        # the device's HTTPS client
	libevent-dev                                # fleetsecd's event loop and HTTP server
	curl                                        # the EST client in the interop test
	swtpm swtpm-tools tpm2-openssl tpm2-tools   # TPM 2.0: a software TPM, OpenSSL's tpm2 provider, the TCG tools
	libtss2-dev libtss2-tcti-swtpm0             # the TSS (NV counter, eviction) and its swtpm transport
	testssl.sh                                  # scripts/testssl.sh: fleetsecd's TLS, checked by a peer
	nginx                                       # a real HTTPS server in the tests
	libubootenv-dev libubootenv-tool            # U-Boot environment (and fw_printenv in tests)
	u-boot-tools                                # mkenvimage: a real environment for the tests
	grub-common                                 # grub-editenv
	libcmocka-dev                               # unit tests
	jq                                          # tests read the imgtool vectors manifest
	bc                                          # bench/bench_audit.sh computes rates
	clang libclang-rt-14-dev                    # libFuzzer targets
	libcrypt-dev                                # crypt(3) (libxcrypt): the firmware audit checks password hashes
	python3                                     # the audit test builds a ROCA-form modulus; the network tests' probes
	python3-cryptography                        # fw_encrypt.sh: an independent AES key unwrap (RFC 3394), which the openssl CLI lacks; batch_issue.sh: thousands of CSRs
	bsdutils                                    # script(1): a pty for the progress bar in batch_issue.sh (essential, listed for clarity)
	mosquitto                                   # real MQTT brokers for the network audit test
	mosquitto-dev libmosquitto-dev              # mosquitto_broker.h: the fleetsec broker plugin (issue 15)
	mosquitto-clients python3-paho-mqtt         # independent MQTT clients in the broker tests
	busybox-static                              # telnetd and httpd applets (Debian's busybox has no telnetd)
	openssh-client                              # ssh-keygen: a real OpenSSH private key in the firmware audit test
	libcoap3-bin                                # a real CoAP server for the network audit test; coap-client-openssl, the independent CoAPs peer (issue 17)
	libcoap3-dev                                # fleetsecd's CoAPs listener (libcoap-3-openssl, issue 17)
	nftables iproute2 dnsmasq-base              # network isolation: nft; namespace tests and the name sets filled by dnsmasq
	man-db groff-base                           # the man_pages test renders the manual pages with man --warnings
	faketime                                    # libfaketime: fleetsecd across a clock jump (the CRL's refresh)
	libqrencode-dev libpng-dev                  # QR pairing (issue 18): the pairing code as a QR code, drawn as PNG
	libzbar-dev                                 # QR pairing: fleetsec device pair --qr-image reads a photographed code
	zbar-tools qrencode                         # independent peers: zbarimg decodes our PNGs; the qrencode CLI is the benchmark's baseline
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm is only needed for the npm tools below; a machine that already has a
# node installation keeps it.
command -v npm >/dev/null || missing+=(npm)
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Tools from npm, pinned, under $FLEETSEC_TOOLS (default /opt/fleetsec-tools):
# Microsoft's SARIF Multitool checks `fleetsec audit --sarif` against the
# SARIF 2.1.0 schema and the specification's rules in the audit tests.
tools=${FLEETSEC_TOOLS:-/opt/fleetsec-tools}
sarif_mt="$tools/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
if [ ! -x "$sarif_mt" ]; then
	echo "deps: installing @microsoft/sarif-multitool-linux into $tools" >&2
	$SUDO mkdir -p "$tools"
	$SUDO npm install --prefix "$tools" --no-audit --no-fund --silent \
		@microsoft/sarif-multitool-linux@5.7.0 >/dev/null
	# Its postinstall (chmod) is not run by every npm; do it here.
	$SUDO chmod 0755 "$sarif_mt"
fi
