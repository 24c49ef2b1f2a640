#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What a TPM key costs the device: the number of TPM commands in one
# zero-touch enrollment and in one update check (fleetsec-agent check: a
# mutual-TLS handshake and the manifest), counted in the TSS's transport log,
# and the wall time of an update check with the key in a software TPM
# (swtpm) beside the same check with a software key, in the same run
# (median of RUNS, default 30). Both devices are in the same fleet and talk
# to the same fleetsecd on loopback.
#
# usage: bench/bench_tpm.sh [RUNS]
# See docs/BENCHMARKS.md. swtpm answers in microseconds; a discrete TPM on
# SPI or I2C takes tens of milliseconds for an ECDSA signature, so the TPM
# command counts are the figures that carry to hardware.
set -euo pipefail
runs=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFSEC_TESTS=ON >/dev/null
cmake --build "$build" -j2 --target fleetsec_cli fleetsecd fleetsec_agent >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-bench-tpm.XXXXXX")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
export FLEETSEC_HOME=$work/home
F=$build/fleetsec
A=$build/fleetsec-agent
"$F" ca init --name "TPM Bench" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir "$work/mfr" --name "Bench Chips" >/dev/null
"$F" enroll allow --manufacturer-ca "$work/mfr/ca.pem" --pattern 'SN-*' --model bench >/dev/null
"$F" fw keygen --out "$work/fw.pem" 2>/dev/null
"$F" fw pubkey "$work/fw.pem" --out "$work/fw.pub"
port=$((20000 + RANDOM % 12000))
"$build/fleetsecd" --listen 127.0.0.1:$port --quiet 2>"$work/daemon.log" &
pids+=($!)
tport=$((20000 + RANDOM % 12000))
swtpm socket --tpm2 --tpmstate dir="$work" --server type=tcp,port=$tport \
	--ctrl type=tcp,port=$((tport + 1)) --flags not-need-init,startup-clear 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/daemon.log" && break; sleep 0.1; done
sleep 0.3

# conf NAME [EXTRA]: an agent configuration for device NAME.
conf() {
	mkdir -p "$work/$1/state"
	"$F" mfr issue "$1" --dir "$work/mfr" --key-out "$work/$1/boot.key" --out "$work/$1/boot.pem" \
		2>/dev/null >/dev/null
	cat >"$work/$1/agent.conf" <<CONF
server = https://127.0.0.1:$port
ca = $FLEETSEC_HOME/chain.pem
key = $work/$1/dev.key
cert = $work/$1/dev.pem
bootstrap_key = $work/$1/boot.key
bootstrap_cert = $work/$1/boot.pem
firmware_key = $work/fw.pub
release_root = $work/fw.pub
model = bench
slot_a = $work/$1/a
slot_b = $work/$1/b
boot_backend = file
state_dir = $work/$1/state
$2
CONF
}
conf SN-SW ""
conf SN-TPM "tcti = swtpm:host=127.0.0.1,port=$tport"
# As a factory provisions a TPM: the storage key persisted at 0x81000001
# (the owner password stays empty here; it changes no command count).
tc="swtpm:host=127.0.0.1,port=$tport"
TSS2_LOG=all+none tpm2_createprimary -T "$tc" -Q -C o -g sha256 -G ecc256:null:aes128cfb \
	-a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda" -c "$work/srk.ctx"
TSS2_LOG=all+none tpm2_evictcontrol -T "$tc" -Q -C o -c "$work/srk.ctx" 0x81000001 >/dev/null
TSS2_LOG=all+none tpm2_flushcontext -T "$tc" -t
conf SN-SRK "tcti = $tc
tpm_parent = 0x81000001"
# tpm_commands CMD...: how many TPM commands the agent sent (one response
# header read per command in the TSS's swtpm transport log).
tpm_commands() {
	TSS2_LOG=tcti+debug "$@" >/dev/null 2>"$work/tss.log" || {
		echo "bench_tpm: $* failed: $(grep -v '^debug\|^ \|^[0-9a-f]*:' "$work/tss.log" | tail -1)" >&2
		exit 1
	}
	grep -c "Receiving header to determine the size" "$work/tss.log"
}
"$A" -c "$work/SN-SW/agent.conf" enroll >/dev/null
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
echo "== $(nproc) CPUs, $(openssl version | cut -d' ' -f1-2), swtpm $(ver swtpm), tpm2-openssl $(ver tpm2-openssl)"
echo "TPM commands, zero-touch enrollment (key made in the TPM): $(tpm_commands "$A" -c "$work/SN-TPM/agent.conf" enroll)"
echo "TPM commands, one update check (mutual TLS + manifest):    $(tpm_commands "$A" -c "$work/SN-TPM/agent.conf" check)"
echo "... the same with the key under a persistent SRK (tpm_parent): enrollment $(tpm_commands "$A" -c "$work/SN-SRK/agent.conf" enroll), check $(tpm_commands "$A" -c "$work/SN-SRK/agent.conf" check)"

# median_ms CONF: the median wall time of RUNS update checks, in ms.
median_ms() {
	local i t0 t1
	for i in $(seq "$runs"); do
		t0=$(date +%s%N)
		"$A" -c "$1" check >/dev/null 2>&1 || { echo "bench_tpm: check failed" >&2; exit 1; }
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
	done | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'
}
sw=$(median_ms "$work/SN-SW/agent.conf")
tpm=$(median_ms "$work/SN-TPM/agent.conf")
echo "baseline: update check with a software key:  $sw ms (median of $runs)"
echo "update check with the key in swtpm:           $tpm ms (median of $runs)"
echo "ratio: $(awk -v a="$tpm" -v b="$sw" 'BEGIN { printf "%.2fx", a / b }') the software-key check"
