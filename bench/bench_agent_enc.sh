#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Encrypted update benchmark (issue 19): `fleetsec-agent update` of an
# encrypted image (decrypted on its way into the slot) against the same
# update of the same payload unencrypted, in the same run, from a real nginx
# with client certificates (tests/integration/nginx.sh) over loopback.
#
# usage: bench/bench_agent_enc.sh [MiB] [RUNS]
#   MiB   payload in MiB (default 256)
#   RUNS  timed runs of each kind (default 5)
# BENCH_BUILD=DIR uses that build tree (configured as it is) instead of
# build-bench (Release).
#
# Kinds, alternating run by run, `sync` (untimed) before each, the device
# state (state dir, boot environment, erased slot b) reset before each:
#   plain  the image signed only
#   enc    the image encrypted to a P-256 key in a file (ECIES-P256,
#          AES-128-CTR): the agent fetches the header and TLVs first,
#          unwraps the key, and decrypts every body byte it writes
#   tpm    the same, the key in a swtpm: the one ECDH of each update runs in
#          the TPM (tpm2-openssl)
# Each run is timed by the wall clock around the process (start-up, TLS,
# manifest, every chunk, the whole-slot checks). Prints the medians, the
# ratios enc/plain and tpm/plain, and beside them `openssl enc -d
# -aes-128-ctr` over the same image (decryption alone), and the TPM ECDH
# alone: `openssl pkeyutl -derive` with the key in the swtpm against the
# same with a key in a file, medians of RUNS each. See docs/BENCHMARKS.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# BENCH_BUILD: a build tree to use instead (configured as it is).
build="${BENCH_BUILD:-$root/build-bench}"
mib="${1:-256}"
runs="${2:-5}"

[ -n "${BENCH_BUILD:-}" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target fleetsec_cli fleetsec_agent fleetsec_bootsim >/dev/null

export FLEETSEC="$build/fleetsec" AGENT="$build/fleetsec-agent" BOOTSIM="$build/fleetsec-bootsim"
# shellcheck source=../tests/integration/lib.sh disable=SC1091
. "$root/tests/integration/lib.sh"
# shellcheck source=../tests/integration/nginx.sh disable=SC1091
. "$root/tests/integration/nginx.sh"
# shellcheck source=../tests/integration/swtpm.sh disable=SC1091
. "$root/tests/integration/swtpm.sh"
cd "$T"

"$FLEETSEC" ca init --name "Bench Fleet" >/dev/null
nginx_start "$FLEETSEC_HOME/issuing.pem" "$FLEETSEC_HOME/issuing.key" "$FLEETSEC_HOME/chain.pem"
"$FLEETSEC" device issue dev-1 --keygen --key-out dev.key --out dev.pem --model thermo 2>/dev/null
for k in fw root; do "$FLEETSEC" fw keygen --out $k.pem 2>/dev/null; "$FLEETSEC" fw pubkey $k.pem --out $k.pub; done
"$FLEETSEC" fw keygen --algo p256 --out online.pem 2>/dev/null
"$FLEETSEC" fw pubkey online.pem --out online.pub
"$FLEETSEC" release delegate --root-key root.pem --key online.pub --sequence 1 --out deleg.json
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out enc.pem 2>/dev/null
openssl pkey -in enc.pem -pubout -out enc.pub.pem
swtpm_start tpm
TPM2OPENSSL_TCTI=$TCTI TSS2_LOG=all+none openssl genpkey -provider tpm2 -provider default \
	-propquery '?provider=tpm2' -algorithm EC -pkeyopt group:P-256 -out tpm.tss 2>/dev/null
printf 'openssl_conf = init\n[init]\nproviders = prov\n[prov]\ndefault = on\ntpm2 = on\n[on]\nactivate = 1\n' >tpm.cnf
TPM2OPENSSL_TCTI=$TCTI TSS2_LOG=all+none OPENSSL_CONF=$T/tpm.cnf openssl pkey -in tpm.tss -pubout -out tpm.pub.pem

head -c $((mib * 1024 * 1024)) /dev/urandom >payload.bin
sign() { "$FLEETSEC" fw sign --key fw.pem --version 2.0.0 --security-counter 2 --pad-header "$@"; }
sign payload.bin www/plain.img
sign --encrypt enc.pub.pem payload.bin www/enc.img
sign --encrypt tpm.pub.pem payload.bin www/tpm.img
seq=10
for k in plain enc tpm; do
	seq=$((seq + 1))
	"$FLEETSEC" release create --model thermo --image www/$k.img --url /$k.img --chunk-size 1048576 \
		--sequence $seq --expires 1d --out m.json
	"$FLEETSEC" release sign --key online.pem --delegation deleg.json m.json --out www/release-$k.json
done
size=$(stat -c %s www/enc.img)
slot=$(((size / 1048576 + 2) * 1048576))
head -c "$slot" /dev/zero | tr '\0' '\377' >erased
sign_v1() { head -c 1000 /dev/urandom >v1.bin; "$FLEETSEC" fw sign --key fw.pem --version 1.0.0 \
	--security-counter 1 --pad-header v1.bin v1.img; }
sign_v1
cp erased slot_a
dd if=v1.img of=slot_a conv=notrunc status=none
conf() { # conf KIND
	case $1 in
	plain) agent_conf "https://127.0.0.1:$NGINX_PORT" server_crl=off manifest_url=/release-plain.json ;;
	enc) agent_conf "https://127.0.0.1:$NGINX_PORT" server_crl=off manifest_url=/release-enc.json \
		decrypt_key="$T/enc.pem" ;;
	tpm) agent_conf "https://127.0.0.1:$NGINX_PORT" server_crl=off manifest_url=/release-tpm.json \
		decrypt_key="$T/tpm.tss" tcti="$TCTI" ;;
	esac
}
declare -A times
one() { # one KIND: a timed update from a fresh device state
	conf "$1"
	rm -rf state bootenv
	mkdir state
	cp erased slot_b
	sync
	local t0 t1
	t0=$(date +%s%N)
	"$AGENT" -c agent.conf update >/dev/null
	t1=$(date +%s%N)
	cmp -s <(head -c "$(stat -c %s payload.bin)" <(tail -c +513 slot_b)) payload.bin ||
		fail "$1: slot b's body is not the payload"
	times[$1]+="$(((t1 - t0) / 1000)) "
}
KEY=000102030405060708090a0b0c0d0e0f
IV=00000000000000000000000000000000
for k in plain enc tpm; do one $k; done # warm-up, untimed
times=()
for ((r = 0; r < runs; r++)); do
	for k in plain enc tpm; do one $k; done
	t0=$(date +%s%N)
	openssl enc -d -aes-128-ctr -K $KEY -iv $IV -in www/enc.img -out /dev/null
	t1=$(date +%s%N)
	times[opensslenc]+="$(((t1 - t0) / 1000)) "
	for d in tpm file; do
		t0=$(date +%s%N)
		if [ $d = tpm ]; then
			TPM2OPENSSL_TCTI=$TCTI TSS2_LOG=all+none OPENSSL_CONF=$T/tpm.cnf openssl pkeyutl -derive \
				-propquery '?provider=tpm2' -inkey tpm.tss -peerkey enc.pub.pem -out s.bin
		else
			openssl pkeyutl -derive -inkey enc.pem -peerkey tpm.pub.pem -out s.bin
		fi
		t1=$(date +%s%N)
		times[ecdh$d]+="$(((t1 - t0) / 1000)) "
	done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
declare -A med
echo "image: $mib MiB payload, $size bytes encrypted; chunks 1 MiB; runs: $runs; openssl: $(openssl version | cut -d' ' -f1-2)"
for k in plain enc tpm opensslenc ecdhtpm ecdhfile; do
	med[$k]=$(median <<<"${times[$k]}")
	printf '%-10s median %8.3f s\n' "$k" "$(echo "${med[$k]} / 1000000" | bc -l)"
done
printf 'ratio enc / plain %.3f   tpm / plain %.3f   (enc - plain) / plain %.1f%%\n' \
	"$(echo "${med[enc]} / ${med[plain]}" | bc -l)" "$(echo "${med[tpm]} / ${med[plain]}" | bc -l)" \
	"$(echo "100 * (${med[enc]} - ${med[plain]}) / ${med[plain]}" | bc -l)"
printf 'TPM ECDH: 1 per update; openssl pkeyutl -derive in the swtpm %.3f s, in a file %.3f s (process start included)\n' \
	"$(echo "${med[ecdhtpm]} / 1000000" | bc -l)" "$(echo "${med[ecdhfile]} / 1000000" | bc -l)"
