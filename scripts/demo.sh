#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The end-to-end demo on the embedded default (SQLite, loopback): builds and
# installs fleetsec, creates a fleet CA, issues certificates to devices from
# device-generated CSRs and to a factory batch, refuses a fleet-wide key, revokes a device and shows
# `openssl verify -crl_check` refusing it; then signs an MCUboot firmware
# image and a release manifest, and shows a tampered image and a replayed
# manifest refused; then starts fleetsecd, where a new device enrols
# zero-touch (EST) with its factory bootstrap certificate, another pairs by QR
# code with a man in the middle refused, and the first updates itself
# from 1 to 2 through a trial boot and confirm, and falls back from an
# unconfirmed 3 to 2. A second device keeps its key and its anti-rollback
# counter in a TPM (a software TPM, swtpm), and is wiped by its tamper hook.
# Last, it compiles the fleet's network isolation policy
# (MUD to nftables) and audits the fleet for the common failures, and runs
# Mosquitto with the fleetsec plugin: devices tied to their own topics, a
# privacy filter that keeps a reading's personal fields in the broker and
# coarsens its location, a revoked device dropped at once. Then an encrypted
# release: fleetsecd wraps its image key to one device's own key, which
# unwraps it inside its TPM and decrypts on the way into the slot; the store
# holds no plaintext, a revoked device gets no key. Everything lands in
# out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "build and install fleetsec"
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DFSEC_TESTS=OFF -DFSEC_INSTALL_BOOTSIM=ON >/dev/null
cmake --build build-release -j2 >/dev/null
rm -rf out/demo
mkdir -p out/demo/devices
cmake --install build-release --prefix "$PWD/out/demo/prefix" >/dev/null
export PATH="$PWD/out/demo/prefix/bin:$PATH"
export FLEETSEC_HOME="$PWD/out/demo/home"
D=out/demo/devices
echo "installed: $(command -v fleetsec)"

step "1. create the fleet CA (root + issuing CA, ECDSA P-256) and the registry"
run fleetsec ca init --name "Demo Fleet"
run openssl x509 -in "$FLEETSEC_HOME/issuing.pem" -noout -subject -issuer

step "2. three devices generate their own keys and CSRs (the key never leaves the device)"
for id in thermo-001 thermo-002 cam-001; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$D/$id.key" -subj "/CN=$id" -out "$D/$id.csr" 2>/dev/null
	echo "  $id: $D/$id.csr"
done

step "3. the factory station issues each a certificate (the CSR signature proves key possession)"
run fleetsec device issue thermo-001 --csr "$D/thermo-001.csr" --model thermostat-v2 --out "$D/thermo-001.pem"
run fleetsec device issue thermo-002 --csr "$D/thermo-002.csr" --model thermostat-v2 --out "$D/thermo-002.pem"
run fleetsec device issue cam-001 --csr "$D/cam-001.csr" --model camera-x --out "$D/cam-001.pem"
run fleetsec device issue plug-001 --keygen --key-out "$D/plug-001.key" --model plug --out "$D/plug-001.pem"
run openssl x509 -in "$D/thermo-001.pem" -noout -subject -ext subjectAltName,extendedKeyUsage

step "4. openssl verifies every device certificate against the fleet root"
run openssl verify -CAfile "$FLEETSEC_HOME/root.pem" -untrusted "$FLEETSEC_HOME/issuing.pem" \
	"$D/thermo-001.pem" "$D/thermo-002.pem" "$D/cam-001.pem" "$D/plug-001.pem"

step "4a. a factory line issues a batch: 200 sensors, keys made at the station; a bad line is reported and the batch goes on"
{
	echo "id,model"
	for i in $(seq -w 1 200); do echo "sensor-$i,sensor-a"; done
	echo "sensor-007,sensor-a" # listed twice: refused, the batch goes on
} >"$D/line.csv"
# Results are JSON lines when stdout is not a terminal: the refusal and the
# summary are shown here. Exit status 1: an item was refused.
printf '$ fleetsec device issue --batch %s --out-dir %s --json
' "$D/line.csv" "$D/line"
if fleetsec device issue --batch "$D/line.csv" --out-dir "$D/line" --json >"$D/line.jsonl"; then
	echo "demo: the duplicate line was accepted" >&2
	exit 1
fi
jq -c 'select(.status == "refused" or .summary != null)' "$D/line.jsonl"
# Run again after a cut (here: simply again): nothing is issued twice.
printf '$ fleetsec device issue --batch %s --out-dir %s --json | tail -1
' "$D/line.csv" "$D/line"
fleetsec device issue --batch "$D/line.csv" --out-dir "$D/line" --json | tail -1 || true
run openssl verify -CAfile "$FLEETSEC_HOME/root.pem" -untrusted "$FLEETSEC_HOME/issuing.pem" \
	"$D/line/sensor-001.pem" "$D/line/sensor-200.pem"
stat -c '%a %n' "$D/line/sensor-001.key"

step "5. a hardcoded fleet-wide key is refused: cam-002 ships with cam-001's key"
openssl req -new -key "$D/cam-001.key" -subj /CN=cam-002 -out "$D/cam-002.csr"
printf '$ fleetsec device issue cam-002 --csr %s\n' "$D/cam-002.csr"
if fleetsec device issue cam-002 --csr "$D/cam-002.csr"; then
	echo "demo: the shared key was accepted" >&2
	exit 1
fi
echo "(refused, exit status 1)"

step "6. the registry"
run fleetsec device list

step "7. cam-001 is stolen: revoke it and publish the CRL"
run fleetsec device revoke cam-001 --reason keyCompromise
run fleetsec crl --out out/demo/crl.pem
run openssl crl -in out/demo/crl.pem -CAfile "$FLEETSEC_HOME/chain.pem" -noout -crlnumber
openssl crl -in out/demo/crl.pem -noout -text | sed -n '/Revoked Certificates/,/Signature Algorithm/p' | head -n 6

step "8. openssl verify -crl_check refuses the revoked device and accepts the others"
cat "$FLEETSEC_HOME/chain.pem" out/demo/crl.pem >out/demo/ca-and-crl.pem
printf '$ openssl verify -crl_check -CAfile out/demo/ca-and-crl.pem %s\n' "$D/cam-001.pem"
if openssl verify -crl_check -CAfile out/demo/ca-and-crl.pem "$D/cam-001.pem"; then
	echo "demo: the revoked certificate verified" >&2
	exit 1
fi
echo "(refused, as it must be)"
run openssl verify -crl_check -CAfile out/demo/ca-and-crl.pem "$D/thermo-001.pem"

step "9. the audit trail of cam-001"
run fleetsec device show cam-001

step "10. signed firmware: a signing key pinned in the devices, an MCUboot image"
F=out/demo/firmware
mkdir -p "$F"
head -c 200000 /dev/urandom >"$F/thermostat-2.1.0.bin"
run fleetsec fw keygen --algo ed25519 --out "$F/fw-signing.pem"
run fleetsec fw pubkey "$F/fw-signing.pem" --out "$F/fw-signing.pub"
run fleetsec fw sign --key "$F/fw-signing.pem" --version 2.1.0+7 --security-counter 3 \
	--header-size 0x200 --pad-header --slot-size 0x80000 "$F/thermostat-2.1.0.bin" "$F/thermostat-2.1.0.img"
run fleetsec fw verify --key "$F/fw-signing.pub" "$F/thermostat-2.1.0.img"
echo "an attacker changes one byte of the image:"
cp "$F/thermostat-2.1.0.img" "$F/evil.img"
printf 'X' | dd of="$F/evil.img" bs=1 seek=4096 conv=notrunc 2>/dev/null
printf '$ fleetsec fw verify --key %s %s\n' "$F/fw-signing.pub" "$F/evil.img"
if fleetsec fw verify --key "$F/fw-signing.pub" "$F/evil.img"; then
	echo "demo: the tampered image verified" >&2
	exit 1
fi
echo "(refused)"

step "11. a signed release manifest: root key delegates to an online key"
run fleetsec fw keygen --out "$F/release-root.pem"
run fleetsec fw pubkey "$F/release-root.pem" --out "$F/release-root.pub"
run fleetsec fw keygen --algo p256 --out "$F/release-online.pem"
run fleetsec fw pubkey "$F/release-online.pem" --out "$F/release-online.pub"
run fleetsec release delegate --root-key "$F/release-root.pem" --key "$F/release-online.pub" \
	--expires 365d --out "$F/delegation.json"
run fleetsec release create --model thermostat-v2 --image "$F/thermostat-2.1.0.img" \
	--url https://updates.demo.example/thermostat-2.1.0.img --expires 30d --out "$F/manifest.json"
run fleetsec release sign --key "$F/release-online.pem" --delegation "$F/delegation.json" \
	"$F/manifest.json" --out "$F/release.json"
run fleetsec release verify --root "$F/release-root.pub" --model thermostat-v2 "$F/release.json"
fleetsec release verify --root "$F/release-root.pub" --model thermostat-v2 --json "$F/release.json" \
	>"$F/accepted.json"
seq=$(sed -n 's/.*"sequence": \([0-9]*\).*/\1/p' "$F/accepted.json")
dseq=$(sed -n 's/.*"delegation_sequence": \([0-9]*\).*/\1/p' "$F/accepted.json")
echo "a device that already accepted this release refuses it replayed:"
printf '$ fleetsec release verify ... --last-delegation %s --last-sequence %s %s\n' "$dseq" "$seq" "$F/release.json"
if fleetsec release verify --root "$F/release-root.pub" --model thermostat-v2 \
	--last-delegation "$dseq" --last-sequence "$seq" "$F/release.json"; then
	echo "demo: the replayed manifest verified" >&2
	exit 1
fi
echo "(refused)"

step "12. fleetsecd: the mutual-TLS fleet service (TLS 1.3, client certificates, EST)"
fail() { echo "demo: $*" >&2; exit 1; }
run fleetsec ca server-cert localhost --ip 127.0.0.1
SRV=$PWD/out/demo/server
mkdir -p "$SRV"
for try in 1 2 3 4 5; do
	PORT=$((20000 + RANDOM % 12000))
	CPORT=$((20000 + RANDOM % 12000))
	fleetsecd --listen 127.0.0.1:$PORT --coaps 127.0.0.1:$CPORT 2>"$SRV/fleetsecd.log" &
	SRV_PID=$!
	for _ in $(seq 50); do grep -q listening "$SRV/fleetsecd.log" && break; sleep 0.1; done
	grep -q listening "$SRV/fleetsecd.log" && break
	kill $SRV_PID 2>/dev/null || true
done
grep -q listening "$SRV/fleetsecd.log" || fail "fleetsecd did not start: $(cat "$SRV/fleetsecd.log")"
trap 'kill $SRV_PID 2>/dev/null || true' EXIT
URL=https://127.0.0.1:$PORT
head -2 "$SRV/fleetsecd.log"
echo "curl, as an EST client, fetches the CA certificates (no client certificate needed):"
curl -sS --cacert "$FLEETSEC_HOME/root.pem" "$URL/.well-known/est/cacerts" |
	openssl base64 -d | openssl pkcs7 -inform DER -print_certs -noout | grep subject

step "13. zero-touch provisioning: a new device enrols with its factory credential (EST)"
echo "-- the chip vendor's manufacturer CA put a bootstrap certificate in SN-1001 at the factory"
run fleetsec mfr init --dir out/demo/mfr --name "Acme Chips"
DEV=$PWD/out/demo/device
mkdir -p "$DEV/state"
run fleetsec mfr issue SN-1001 --dir out/demo/mfr --key-out "$DEV/bootstrap.key" --out "$DEV/bootstrap.pem"
echo "-- the operator allows that batch of serials to enrol, as thermostats"
run fleetsec enroll allow --manufacturer-ca out/demo/mfr/ca.pem --pattern 'SN-10*' --model thermostat-v2
for v in 1 2 3 4 5; do
	head -c 300000 /dev/urandom >"$F/thermostat-$v.bin"
	fleetsec fw sign --key "$F/fw-signing.pem" --version $v.0.0 --security-counter $v --pad-header \
		"$F/thermostat-$v.bin" "$F/thermostat-$v.img"
done
head -c $((0x80000)) /dev/zero | tr '\0' '\377' >"$DEV/slot_a"
cp "$DEV/slot_a" "$DEV/slot_b"
dd if="$F/thermostat-1.img" of="$DEV/slot_a" conv=notrunc status=none
cat >"$DEV/agent.conf" <<CONF
server = $URL
ca = $FLEETSEC_HOME/chain.pem
key = $DEV/device.key
cert = $DEV/device.pem
bootstrap_key = $DEV/bootstrap.key
bootstrap_cert = $DEV/bootstrap.pem
firmware_key = $PWD/$F/fw-signing.pub
release_root = $PWD/$F/release-root.pub
model = thermostat-v2
slot_a = $DEV/slot_a
slot_b = $DEV/slot_b
boot_backend = file
boot_env = $DEV/bootenv
state_dir = $DEV/state
CONF
agent() { printf '$ fleetsec-agent %s\n' "$*"; fleetsec-agent -c "$DEV/agent.conf" "$@"; }
bootsim() { printf '$ fleetsec-bootsim (reboot)\n'; fleetsec-bootsim "$DEV/bootenv"; }
echo "-- first boot: the device generates its key and enrols (the key never leaves it)"
agent enroll
run openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
	-untrusted "$FLEETSEC_HOME/issuing.pem" "$DEV/device.pem"
echo "-- the same bootstrap credential cannot enrol again (a stolen one is no use):"
agent enroll || echo "(refused, exit status $?)"
echo "-- its certificate is new, so fleetsecd would refuse a renewal as not yet due; the"
echo "   operator allows one (as after a key compromise)"
run fleetsec device allow-renew SN-1001
echo "-- a renewal whose answer is lost: the device made its new key and asked, the server"
echo "   renewed (the old certificate is now superseded), and the answer never arrived"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$DEV/device.key.pending" 2>/dev/null
chmod 600 "$DEV/device.key.pending"
subject=$(openssl x509 -in "$DEV/device.pem" -noout -subject -nameopt compat | sed 's/^subject=//')
openssl req -new -key "$DEV/device.key.pending" -subj "$subject" -outform DER | openssl base64 >"$DEV/lost.b64"
curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert "$DEV/device.pem" --key "$DEV/device.key" \
	-H 'Content-Type: application/pkcs10' --data-binary @"$DEV/lost.b64" -o /dev/null \
	"$URL/.well-known/est/simplereenroll"
echo "-- the next renew sees the unanswered request and asks again with the superseded"
echo "   certificate: fleetsecd sends the current certificate again, and issues nothing new"
agent renew
grep -m 1 're-sent' "$SRV/fleetsecd.log"
agent report

step "13a. pairing by QR code, no trust on first use: a device with no factory credential"
PDEV=$PWD/out/demo/paired
MITM=$PWD/out/demo/mitm
for d in "$PDEV" "$MITM"; do
	mkdir -p "$d/state"
	chmod 700 "$d/state"
	sed -e "s|^key = .*|key = $d/device.key|" -e "s|^cert = .*|cert = $d/device.pem|" \
		-e "s|^state_dir = .*|state_dir = $d/state|" -e '/^bootstrap_/d' \
		"$DEV/agent.conf" >"$d/agent.conf"
done
echo "-- first power-on: the device makes its key and shows its pairing code (a DPP URI)"
printf '$ fleetsec-agent pair --serial SN-2001 --png %s\n' "$PDEV/label.png"
fleetsec-agent -c "$PDEV/agent.conf" pair --serial SN-2001 --png "$PDEV/label.png"
echo "-- zbarimg, an independent reader, decodes the label:"
zbarimg -q --raw "$PDEV/label.png" 2>/dev/null
echo "-- the operator photographs the label and pairs that key (15 minutes, single use)"
run fleetsec device pair --qr-image "$PDEV/label.png" --model thermostat-v2 --expires 15m
echo "-- a man in the middle saw the label and claims SN-2001 with his own key: refused"
fleetsec-agent -c "$MITM/agent.conf" pair --serial SN-2001 --json >/dev/null
printf '$ fleetsec-agent enroll   (the intercepting device)\n'
if fleetsec-agent -c "$MITM/agent.conf" enroll; then fail "the man in the middle enrolled"; fi
echo "(refused)"
echo "-- the paired device enrolls: its self-signed certificate proves the paired key"
printf '$ fleetsec-agent enroll\n'
fleetsec-agent -c "$PDEV/agent.conf" enroll
run openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
	-untrusted "$FLEETSEC_HOME/issuing.pem" "$PDEV/device.pem"
echo "-- the pairing is spent: the same key cannot enroll a second time"
printf '$ fleetsec-agent enroll   (again)\n'
rm -f "$PDEV/device.pem"
if fleetsec-agent -c "$PDEV/agent.conf" enroll; then fail "a pairing was used twice"; fi
echo "(refused)"
run fleetsec registry events --device SN-2001

step "14. the device updates itself through fleetsecd: A/B slots, trial boot, fallback"
publish() { # publish VERSION SEQUENCE [PUBLISH OPTIONS...]
	local v=$1 seq=$2
	shift 2
	fleetsec release create --model thermostat-v2 --image "$F/thermostat-$v.img" \
		--sequence "$seq" --out "$F/manifest-$v.json"
	fleetsec release sign --key "$F/release-online.pem" --delegation "$F/delegation.json" \
		"$F/manifest-$v.json" --out "$F/release-$v.json"
	run fleetsec release publish --model thermostat-v2 --bundle "$F/release-$v.json" \
		--image "$F/thermostat-$v.img" --root "$F/release-root.pub" "$@"
}
agent status
echo "-- the operator publishes version 2"
publish 2 100
agent check
agent update
bootsim
agent confirm
agent status
echo "-- version 3 is published, installed, but never confirmed (its health check fails)"
publish 3 101
agent update
bootsim
bootsim
bootsim
bootsim
agent status
fleetsec-agent -c "$DEV/agent.conf" status | grep -q "image         2.0.0+0" || fail "did not fall back to 2"
echo "-- fleetsecd's log:"
tail -n 6 "$SRV/fleetsecd.log"

step "14a. unattended: the daemon reboots after an install and keeps a version only if it is healthy"
# daemon_until TEXT: the agent's daemon, one round a second, until it says TEXT.
daemon_until() {
	printf '$ fleetsec-agent daemon --interval 1   # until: %s\n' "$1"
	fleetsec-agent -c "$DEV/agent.conf" daemon --interval 1 >"$DEV/daemon.out" 2>&1 &
	local pid=$! i
	for i in $(seq 300); do
		grep -q "$1" "$DEV/daemon.out" && break
		sleep 0.1
	done
	kill $pid
	wait $pid || true
	cat "$DEV/daemon.out"
	grep -q "$1" "$DEV/daemon.out" || fail "the daemon never said: $1"
}
cat >>"$DEV/agent.conf" <<CONF
reboot_cmd = fleetsec-bootsim $DEV/bootenv
health_cmd = test -e $DEV/healthy
CONF
tail -n 2 "$DEV/agent.conf"
echo "-- version 4 fails its health check: rejected, reported, and its rollout pauses"
publish 4 102 --max-failures 1
daemon_until "rejected the trial"
run fleetsec release status --model thermostat-v2
echo "-- version 5: the report of 4's failure names 4's image, so 5 is not paused by it"
touch "$DEV/healthy"
publish 5 103 --max-failures 1
daemon_until "confirmed the trial"
agent status

step "14b. nothing lapses: the manifest signed again, the server certificate renewed in place"
run fleetsec release status --model thermostat-v2
run fleetsec release refresh --model thermostat-v2 --key "$F/release-online.pem" \
	--delegation "$F/delegation.json" --root "$F/release-root.pub" --expires 30d
echo "-- the same release, signed again: the device installs nothing new"
agent check
run fleetsec ca server-cert --renew
echo "-- SIGHUP: fleetsecd serves the new certificate without a restart"
run kill -HUP $SRV_PID
sleep 1
grep -m 1 'reloaded' "$SRV/fleetsecd.log"
run fleetsec ca server-cert --list
echo "-- the agent checks fleetsecd's certificate against the fleet CRL (server_crl) every time"
agent report

# ---------------------------------------------------------------------------
# TPM 2.0 (issue 8): a device whose key and anti-rollback counter live in a
# TPM. This machine has none, so a software TPM (swtpm) stands in for it.
step "15. a device with a TPM 2.0: its key and its anti-rollback counter never leave it"
TPM=$PWD/out/demo/tpm
DEV2=$PWD/out/demo/device-tpm
mkdir -p "$TPM" "$DEV2/state"
# swtpm_up DIR: a software TPM keeping its state in DIR, on a free loopback
# port: SWTPM_PID, SWTPM_PORT.
swtpm_up() {
	for try in 1 2 3 4 5; do
		SWTPM_PORT=$((20000 + RANDOM % 12000))
		swtpm socket --tpm2 --tpmstate dir="$1" --server type=tcp,port=$SWTPM_PORT \
			--ctrl type=tcp,port=$((SWTPM_PORT + 1)) --flags not-need-init,startup-clear \
			>"$1/swtpm.log" 2>&1 &
		SWTPM_PID=$!
		sleep 0.3
		kill -0 $SWTPM_PID 2>/dev/null && return 0
	done
	fail "swtpm did not start: $(cat "$1/swtpm.log")"
}
swtpm_up "$TPM"
TPM_PID=$SWTPM_PID
TPM_PORT=$SWTPM_PORT
trap 'kill $SRV_PID $TPM_PID 2>/dev/null || true' EXIT
TCTI="swtpm:host=127.0.0.1,port=$TPM_PORT"
echo "swtpm listening on 127.0.0.1:$TPM_PORT (on hardware: tcti = device:/dev/tpmrm0)"
echo "-- the factory sets the TPM's owner password (without it, any process that can open the TPM could reset the NV counter)"
echo "   and persists a storage key at 0x81000001, under which device keys are made"
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DEV2/tpm-owner"
chmod 600 "$DEV2/tpm-owner"
OWNER=$(cat "$DEV2/tpm-owner")
tpm2() { printf '$ tpm2_%s\n' "$*"; TSS2_LOG=all+none "tpm2_$1" -T "$TCTI" "${@:2}"; }
tpm2 changeauth -c o "$OWNER"
tpm2 createprimary -Q -C o -P "$OWNER" -g sha256 -G ecc256:null:aes128cfb \
	-a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda" -c "$TPM/srk.ctx"
tpm2 evictcontrol -C o -P "$OWNER" -c "$TPM/srk.ctx" 0x81000001
tpm2 flushcontext -t
run fleetsec mfr issue SN-1002 --dir out/demo/mfr --key-out "$DEV2/bootstrap.key" --out "$DEV2/bootstrap.pem"
cp "$DEV/slot_a" "$DEV2/slot_a"
head -c $((0x80000)) /dev/zero | tr '\0' '\377' >"$DEV2/slot_b"
dd if="$F/thermostat-1.img" of="$DEV2/slot_a" conv=notrunc status=none
# The debug ports' lock bits, as an eFuse read would give them: this unit
# left the factory with its UART console open.
printf 'jtag = locked\nuart = unlocked\n' >"$DEV2/debug-state"
sed -e "s#$DEV/#$DEV2/#g" "$DEV/agent.conf" >"$DEV2/agent.conf"
cat >>"$DEV2/agent.conf" <<CONF
tcti = $TCTI
tpm_owner_auth = $DEV2/tpm-owner
tpm_parent = 0x81000001
counter = tpm:0x01500100
debug_state = $DEV2/debug-state
CONF
agent2() { printf '$ fleetsec-agent %s\n' "$*"; fleetsec-agent -c "$DEV2/agent.conf" "$@"; }
bootsim2() { printf '$ fleetsec-bootsim (reboot)\n'; fleetsec-bootsim "$DEV2/bootenv"; }
echo "-- zero-touch enrollment, the key made inside the TPM; the file is only a TPM-wrapped blob"
agent2 enroll
head -1 "$DEV2/device.key"
printf '$ openssl pkey -in device.key   (without the TPM)\n'
if openssl pkey -in "$DEV2/device.key" -noout 2>/dev/null; then fail "openssl read the TPM key"; fi
echo "(refused: the blob is useless without the TPM that wrapped it)"
echo "-- mutual TLS signed inside the TPM: the published version 3 installed and confirmed"
agent2 update
bootsim2
agent2 confirm
echo "-- the anti-rollback counter is in TPM NV memory (index 0x01500100 minus its locked base):"
nv() { TSS2_LOG=all+none tpm2_nvread -T "$TCTI" -s 8 "$1" | od -An -tx1 | tr -d ' \n'; }
printf '$ tpm2_nvread 0x01500100; tpm2_nvread 0x01500101\n'
echo "counter $((16#$(nv 0x01500100) - 16#$(nv 0x01500101)))"
echo "-- the case is opened: the tamper switch runs the hook"
cp "$DEV2/agent.conf" "$DEV2/agent.conf.keep"
agent2 tamper
agent2 check || echo "(refused, exit status $?: it must be re-provisioned)"
cp "$DEV2/agent.conf.keep" "$DEV2/agent.conf"

# ---------------------------------------------------------------------------
# Network isolation (issue 6): compile the demo fleet's isolation policy.
step "16. network isolation: where each device sits, a MUD file, and the policy"
NET=out/demo/net
mkdir -p "$NET"
run fleetsec device set thermo-001 --mac 02:00:00:00:20:01 --ip 10.20.0.11
run fleetsec device set thermo-002 --mac 02:00:00:00:20:02 --ip 10.20.0.12
run fleetsec device set plug-001 --mac 02:00:00:00:20:03 --ip 10.20.0.13
run fleetsec device set cam-001 --mac 02:00:00:00:20:04 --ip 10.20.0.14
cat >"$NET/thermostat-v2.json" <<'MUD'
{"ietf-mud:mud": {"mud-version": 1, "mud-url": "https://thermo.example/thermostat-v2",
  "systeminfo": "Demo thermostat", "mfg-name": "Demo",
  "from-device-policy": {"access-lists": {"access-list": [{"name": "fr"}]}}},
 "ietf-access-control-list:acls": {"acl": [{"name": "fr", "type": "ipv4-acl-type", "aces": {"ace": [
  {"name": "cloud", "matches": {"ipv4": {"ietf-acldns:dst-dnsname": "api.thermo.example", "protocol": 6},
   "tcp": {"ietf-mud:direction-initiated": "from-device", "destination-port": {"operator": "eq", "port": 443}}},
   "actions": {"forwarding": "accept"}},
  {"name": "updates", "matches": {"ipv4": {"destination-ipv4-network": "198.51.100.20/32", "protocol": 6},
   "tcp": {"destination-port": {"operator": "eq", "port": 8443}}}, "actions": {"forwarding": "accept"}},
  {"name": "peers", "matches": {"ietf-mud:mud": {"same-manufacturer": [null]},
   "udp": {"destination-port": {"operator": "eq", "port": 5683}}}, "actions": {"forwarding": "accept"}}]}}]}}
MUD
cat >"$NET/policy.json" <<'POLICY'
{"version": 1,
 "zones": {"iot": [{"name": "iot", "vlan": 20, "interface": "br-iot", "subnets": ["10.20.0.0/24"],
                    "router": "10.20.0.1", "bridge_ports": ["iotp1", "iotp2", "iotp3", "iotp4"]}],
           "lan": {"interface": "lan0", "subnets": ["192.168.1.0/24"]},
           "wan": {"interface": "wan0"}},
 "classes": [{"name": "thermostat", "models": ["thermostat-v2"], "mud": "thermostat-v2.json"},
             {"name": "camera", "models": ["camera-x"],
              "allow": [{"host": "203.0.113.10", "proto": "tcp", "port": 443}]},
             {"name": "plug", "models": ["plug"]}],
 "exceptions": [{"from": "plug", "to": "thermostat", "proto": "tcp", "port": 8080}],
 "management": [{"host": "192.168.1.50", "proto": "tcp", "port": 22}]}
POLICY
run fleetsec net mud "$NET/thermostat-v2.json"
step "17. compile it with the registry's devices (cam-001 is revoked: quarantined, fleetsecd only)"
run fleetsec net compile "$NET/policy.json" --from-registry --fleetsecd 10.99.0.5:8443 --out "$NET/rules.nft"
grep -E '^add (element|rule) inet fleetsec (classes|class_macip4|ep4i?|iot_class) ' "$NET/rules.nft" | cut -c1-150
cat "$NET/rules.nft.dnsmasq.conf"
if grep -oE '[^{,]*10\.20\.0\.14 : [0-9]+' "$NET/rules.nft" | grep -qv ' : 65535$'; then
	echo "demo: the revoked camera kept network access" >&2
	exit 1
fi
if [ "$(id -u)" -eq 0 ] && command -v nft >/dev/null; then
	run fleetsec net check "$NET/rules.nft"
fi
run fleetsec net explain "$NET/policy.json" --from-registry thermo-001 198.51.100.20 tcp 8443
run fleetsec net explain "$NET/policy.json" --from-registry thermo-001 192.168.1.7 tcp 445
run fleetsec net explain "$NET/policy.json" --from-registry 10.20.0.13 10.20.0.11 tcp 8080
run fleetsec net setup "$NET/policy.json"

# ---------------------------------------------------------------------------
# Audit (issue 7): what is wrong with the demo fleet.
step "18. audit: what is wrong with the demo fleet"
# The current release is the one published in step 11, checked against the
# release root key as a device would check it.
run fleetsec product set thermostat-v2 --support-until 2031-12-31 \
	--security-contact mailto:psirt@example.com \
	--release-bundle "$F/release.json" --release-root "$F/release-root.pub"
run fleetsec device report thermo-001 --version 2.1.0+7 --security-counter 3 --update success
run fleetsec device report thermo-002 --version 1.0.0 --security-counter 1
printf '$ fleetsec audit fleet\n'
fleetsec audit fleet || true
fleetsec audit fleet --json | jq -e '.findings | any(.check == "FLEET-FW-OUTDATED" and .subject == "thermo-002")' \
	>/dev/null || fail "the audit did not report thermo-002 behind the release"
fleetsec audit fleet --json | jq -e '.findings | any(.check == "FLEET-DEBUG-UNLOCKED" and .subject == "SN-1002")' \
	>/dev/null || fail "the audit did not report SN-1002's open UART console"

# ---------------------------------------------------------------------------
# MQTT (issue 15): the broker admits registered devices only, ties topics to
# them, keeps what the privacy policy does not allow from ever leaving it,
# and drops a revoked device within a second.
step "19. MQTT: Mosquitto with the fleetsec plugin; a privacy filter in the broker; an operator's kick; a revoked device is dropped at once"
MQ=$PWD/out/demo/mqtt
mkdir -p "$MQ"
run fleetsec ca server-cert mqtt.local --ip 127.0.0.1 --out "$MQ/broker.pem" --key-out "$MQ/broker.key"
# The broker drops to the mosquitto user: it may enter the home and read the
# registry (read-only), never a key of the CA.
chgrp mosquitto "$FLEETSEC_HOME" "$MQ/broker.key"
chmod 0710 "$FLEETSEC_HOME"
chmod 0640 "$MQ/broker.key"
MQPORT=$((20000 + RANDOM % 12000))
BUSER=mosquitto
# The topic policy: the default, and a topic the thermostats share.
cat >"$MQ/mqtt.acl" <<'EOF'
[all]
publish devices/%d/telemetry/#
publish devices/%d/status
subscribe devices/%d/cmd/#
[model thermostat-v2]
publish fleet/%m/env
subscribe fleet/%m/env
EOF
# The privacy policy: what a thermostat's telemetry may carry past the broker.
cat >"$MQ/privacy.policy" <<'EOF'
[model thermostat-v2]
topic fleet/%m/env
allow humidity
location lat lon 1200
precision temp 0.5
# A thermostat's own telemetry: coarser, and no retained copy at all.
topic devices/%d/telemetry/#
allow humidity mode
location lat lon 5000
precision temp 1
retain refuse
EOF
chmod 0644 "$MQ/mqtt.acl" "$MQ/privacy.policy"
printf '{"temp":21.37,"humidity":40,"lat":48.858370,"lon":2.294481,"owner":"alice","ssid":"home-net"}' \
	>"$MQ/reading.json"
run fleetsec privacy check "$MQ/privacy.policy" "$MQ/reading.json" --model thermostat-v2 \
	--topic fleet/thermostat-v2/env
run fleetsec privacy report --policy "$MQ/privacy.policy"
CONTROL='$CONTROL/fleetsec/v1'
printf '$ fleetsec mqtt config --listener %s --bind 127.0.0.1 --cert %s --key %s --acl %s --privacy %s --control-topic %s --out %s\n' \
	"$MQPORT" "$MQ/broker.pem" "$MQ/broker.key" "$MQ/mqtt.acl" "$MQ/privacy.policy" "'$CONTROL'" \
	"$MQ/mosquitto.conf"
if ! fleetsec mqtt config --listener "$MQPORT" --bind 127.0.0.1 --cert "$MQ/broker.pem" \
	--key "$MQ/broker.key" --acl "$MQ/mqtt.acl" --privacy "$MQ/privacy.policy" \
	--control-topic "$CONTROL" --user mosquitto --out "$MQ/mosquitto.conf"; then
	# A clone under a directory the mosquitto user cannot enter (/root):
	# the demo runs this broker as root; a deployment gives it its own.
	echo "(the demo's files are out of the mosquitto user's reach here: this demo broker runs as root)"
	BUSER=root
	fleetsec mqtt config --listener "$MQPORT" --bind 127.0.0.1 --cert "$MQ/broker.pem" \
		--key "$MQ/broker.key" --acl "$MQ/mqtt.acl" --privacy "$MQ/privacy.policy" \
		--control-topic "$CONTROL" --user root --out "$MQ/mosquitto.conf"
fi
grep -v '^#' "$MQ/mosquitto.conf" | grep .
mosquitto -c "$MQ/mosquitto.conf" >"$MQ/broker.log" 2>&1 &
MQ_PID=$!
trap 'kill $SRV_PID $TPM_PID $MQ_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q running "$MQ/broker.log" && break; sleep 0.1; done
grep -q 'fleetsec: fleet' "$MQ/broker.log" || fail "mosquitto did not load the plugin: $(cat "$MQ/broker.log")"
MC=(--cafile "$FLEETSEC_HOME/chain.pem" -h 127.0.0.1 -p "$MQPORT")
echo "-- plug-001 listens for its commands; thermo-002 publishes its own telemetry"
mosquitto_sub "${MC[@]}" --cert "$D/plug-001.pem" --key "$D/plug-001.key" -i plug-001 \
	-t 'devices/plug-001/cmd/#' >"$MQ/plug.out" 2>&1 &
PLUG=$!
sleep 0.5
run mosquitto_pub -V mqttv5 -q 1 "${MC[@]}" --cert "$D/thermo-002.pem" --key "$D/thermo-002.key" \
	-i thermo-002 -t devices/thermo-002/telemetry/temp -m '{"temp":21.5}'
echo "-- thermo-001 listens on its model's shared topic; thermo-002 publishes a reading with"
echo "   its owner's name, home network and exact position:"
mosquitto_sub -V mqttv5 "${MC[@]}" --cert "$D/thermo-001.pem" --key "$D/thermo-001.key" -i thermo-001 \
	-t fleet/thermostat-v2/env -C 1 -W 10 >"$MQ/thermo-001.out" 2>&1 &
T1=$!
sleep 0.5
run mosquitto_pub -V mqttv5 -q 1 "${MC[@]}" --cert "$D/thermo-002.pem" --key "$D/thermo-002.key" \
	-i thermo-002 -t fleet/thermostat-v2/env -f "$MQ/reading.json"
wait $T1 || fail "thermo-001 received nothing: $(cat "$MQ/thermo-001.out")"
echo "thermo-001 received: $(cat "$MQ/thermo-001.out")"
grep -q 'alice\|home-net\|48.85837\|2.294481\|21.37' "$MQ/thermo-001.out" &&
	fail "a field the privacy policy does not allow reached thermo-001"
jq -e '.lat == 48.855447 and .lon == 2.288344 and .temp == 21.5' "$MQ/thermo-001.out" >/dev/null ||
	fail "the location did not arrive at its 1.2 km cell's centre"
echo "   (owner and ssid never left the broker; the position is its 1.2 km cell's centre)"
echo "-- a payload that is not JSON, on a topic the privacy policy covers, is dropped:"
run mosquitto_pub -V mqttv5 -q 1 "${MC[@]}" --cert "$D/thermo-002.pem" --key "$D/thermo-002.key" \
	-i thermo-002 -t fleet/thermostat-v2/env -m 'owner=alice' || true
echo "-- thermo-002 may not command plug-001, nor read every topic:"
run mosquitto_pub -V mqttv5 -q 1 "${MC[@]}" --cert "$D/thermo-002.pem" --key "$D/thermo-002.key" \
	-i thermo-002 -t devices/plug-001/cmd/off -m off || true
run mosquitto_sub "${MC[@]}" --cert "$D/thermo-002.pem" --key "$D/thermo-002.key" -i thermo-002 \
	-t '#' -W 2 || true
run fleetsec mqtt explain thermo-002 subscribe '#' --acl "$MQ/mqtt.acl"
echo "-- the revoked cam-001 cannot connect, nor can a device under another's client ID:"
run mosquitto_pub "${MC[@]}" --cert "$D/cam-001.pem" --key "$D/cam-001.key" -i cam-001 \
	-t devices/cam-001/status -m up || true
run mosquitto_pub "${MC[@]}" --cert "$D/thermo-002.pem" --key "$D/thermo-002.key" -i plug-001 \
	-t devices/plug-001/status -m up || true
echo "-- an operator asks the broker to drop plug-001's session now, on the control topic"
echo "   (MQTT 5 over TLS, as the operator's own certificate; the kick alone does not keep it out)"
run fleetsec ca client-cert --role operator ops-anna --out "$MQ/ops-anna.pem" --key-out "$MQ/ops-anna.key"
run fleetsec mqtt kick plug-001 --broker "127.0.0.1:$MQPORT" --cert "$MQ/ops-anna.pem" \
	--key "$MQ/ops-anna.key"
for _ in $(seq 30); do grep -q 'asked to disconnect plug-001' "$MQ/broker.log" && break; sleep 0.1; done
grep 'fleetsec: control:' "$MQ/broker.log" | tail -1 | grep 'asked to disconnect plug-001' ||
	fail "the broker did not act on the operator's kick"
# plug-001's client reconnects a second after the kick: wait for it.
for _ in $(seq 50); do
	[ "$(grep -c 'New client connected .* as plug-001 ' "$MQ/broker.log")" -ge 2 ] && break
	sleep 0.1
done
echo "-- plug-001 (whose client reconnected) is revoked while connected: the broker drops it"
echo "   and refuses its reconnect"
run fleetsec device revoke plug-001 --reason keyCompromise
wait $PLUG || true
echo "plug-001's client (it reconnects after a second) ended with: $(tail -1 "$MQ/plug.out")"
grep 'fleetsec:' "$MQ/broker.log" | tail -2

# ---------------------------------------------------------------------------
# Encrypted firmware (issue 19): the CDN and the store hold ciphertext only;
# fleetsecd wraps each release's image key to the asking device's own key,
# whose ECDH runs inside its TPM.
step "20. encrypted firmware: only the device it is for can open it, and its key never leaves its TPM"
ENC=$PWD/out/demo/encrypted
mkdir -p "$ENC/tpm"
echo "-- fleetsecd holds the key releases are encrypted to (firmware_enc_key), not the devices"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$ENC/release-enc.pem" 2>/dev/null
openssl pkey -in "$ENC/release-enc.pem" -pubout -out "$ENC/release-enc.pub.pem"
echo "firmware_enc_key = $ENC/release-enc.pem" >>"$FLEETSEC_HOME/fleetsecd.conf"
n=$(grep -c reloaded "$SRV/fleetsecd.log" || true)
run kill -HUP $SRV_PID
for _ in $(seq 50); do [ "$(grep -c reloaded "$SRV/fleetsecd.log")" -gt "$n" ] && break; sleep 0.1; done
echo "-- SN-1001's TPM makes its encryption key, a second key beside its TLS key"
swtpm_up "$ENC/tpm"
ENC_TPM_PID=$SWTPM_PID
trap 'kill $SRV_PID $TPM_PID $MQ_PID $ENC_TPM_PID 2>/dev/null || true' EXIT
ENC_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"
printf '$ openssl genpkey -provider tpm2 -algorithm EC -pkeyopt group:P-256 -out enc.tss\n'
TPM2OPENSSL_TCTI=$ENC_TCTI TSS2_LOG=all+none openssl genpkey -provider tpm2 -provider default \
	-propquery '?provider=tpm2' -algorithm EC -pkeyopt group:P-256 -out "$DEV/enc.tss" 2>/dev/null
printf 'openssl_conf = init\n[init]\nproviders = prov\n[prov]\ndefault = on\ntpm2 = on\n[on]\nactivate = 1\n' \
	>"$ENC/tpm.cnf"
TPM2OPENSSL_TCTI=$ENC_TCTI TSS2_LOG=all+none OPENSSL_CONF=$ENC/tpm.cnf openssl pkey \
	-in "$DEV/enc.tss" -pubout -out "$DEV/enc.pub.pem"
head -1 "$DEV/enc.tss"
echo "-- the agent is told to use it: it sends the public half to fleetsecd itself (POST"
echo "   /v1/enc-key) before it first needs it, and fleetsecd keeps the first key a device sends"
cat >>"$DEV/agent.conf" <<CONF
tcti = $ENC_TCTI
decrypt_key = $DEV/enc.tss
key_delivery = server
CONF
tail -n 3 "$DEV/agent.conf"
echo "-- version 6 is signed and encrypted (ECIES-P256, AES-128-CTR) to fleetsecd's key"
{ head -c 150000 /dev/urandom; printf 'VENDOR-SECRET-CODE-v6'; head -c 150000 /dev/urandom; } >"$F/thermostat-6.bin"
run fleetsec fw sign --key "$F/fw-signing.pem" --version 6.0.0 --security-counter 6 --pad-header \
	--encrypt "$ENC/release-enc.pub.pem" "$F/thermostat-6.bin" "$F/thermostat-6.img"
fleetsec fw show "$F/thermostat-6.img" | grep -i encrypt
publish 6 200
SHA=$(sha256sum "$F/thermostat-6.img" | cut -d' ' -f1)
echo "-- the store (and any CDN or cache that serves it) holds no plaintext:"
if grep -rq VENDOR-SECRET-CODE "$FLEETSEC_HOME/firmware"; then fail "plaintext in the store"; fi
echo "   grep VENDOR-SECRET-CODE $FLEETSEC_HOME/firmware: nothing"
echo "-- the agent sends its key, fetches the image key wrapped to it, unwraps it with an ECDH"
echo "   inside the TPM, and decrypts on the way into the slot"
agent update
agent confirm
agent status
fleetsec-agent -c "$DEV/agent.conf" status | grep -q "image         6.0.0+0" || fail "6 is not running"
run fleetsec events --device SN-1001 --kind enc-key
echo "-- the image key fleetsecd gives SN-1001 is wrapped to its own key only (one ENC_EC256 TLV)"
printf '$ curl --cert device.pem %s/v1/firmware/%.16s.../key | od\n' "$URL" "$SHA"
curl -sS --cacert "$FLEETSEC_HOME/chain.pem" --cert "$DEV/device.pem" --key "$DEV/device.key" \
	"$URL/v1/firmware/$SHA/key" | od -An -tx1 | head -2
echo "-- the revoked cam-001 gets nothing:"
printf '$ curl --cert cam-001.pem %s/v1/firmware/%.16s.../key\n' "$URL" "$SHA"
curl -sS -o /dev/null -w 'HTTP %{http_code}\n' --cacert "$FLEETSEC_HOME/chain.pem" \
	--cert "$D/cam-001.pem" --key "$D/cam-001.key" "$URL/v1/firmware/$SHA/key" || true

# ---------------------------------------------------------------------------
# CoAPs (issue 17): a device too small for TCP and HTTP speaks CoAP over
# DTLS to fleetsecd's CoAPs listener, with the same identity, policy and
# update path.
step "21. a constrained device on CoAPs: DTLS 1.2, EST-coaps (RFC 9148), firmware in Block2 blocks"
CDEV=$PWD/out/demo/coaps-device
mkdir -p "$CDEV/state"
chmod 700 "$CDEV/state"
echo "-- SN-1003 has a bootstrap certificate from the factory, and its own file key for"
echo "   firmware decryption; its agent is told server = coaps://"
run fleetsec mfr issue SN-1003 --dir out/demo/mfr --key-out "$CDEV/bootstrap.key" --out "$CDEV/bootstrap.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CDEV/enc.pem" 2>/dev/null
chmod 600 "$CDEV/enc.pem"
head -c $((0x80000)) /dev/zero | tr '\0' '\377' >"$CDEV/slot_a"
cp "$CDEV/slot_a" "$CDEV/slot_b"
dd if="$F/thermostat-1.img" of="$CDEV/slot_a" conv=notrunc status=none
sed -e "s|^server = .*|server = coaps://127.0.0.1:$CPORT|" -e "s|$DEV/|$CDEV/|g" \
	-e '/^tcti = /d' -e "s|^decrypt_key = .*|decrypt_key = $CDEV/enc.pem|" \
	"$DEV/agent.conf" >"$CDEV/agent.conf"
grep -E '^(server|decrypt_key|key_delivery) ' "$CDEV/agent.conf"
cagent() { printf '$ fleetsec-agent %s\n' "$*"; fleetsec-agent -c "$CDEV/agent.conf" "$@"; }
echo "-- zero-touch enrollment over CoAPs: the agent checks fleetsecd's certificate (chain to"
echo "   its pinned root, SAN against 127.0.0.1, and the fleet CRL, fetched over CoAPs)"
cagent enroll
run openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
	-untrusted "$FLEETSEC_HOME/issuing.pem" "$CDEV/device.pem"
echo "-- the encrypted version 6, over CoAPs: the key sent, the image key fetched wrapped to"
echo "   it, the image in 1024-byte blocks, verified chunk by chunk into slot b"
cagent update
printf '$ fleetsec-bootsim (reboot)\n'
fleetsec-bootsim "$CDEV/bootenv"
cagent confirm
fleetsec-agent -c "$CDEV/agent.conf" status | grep -q "image         6.0.0+0" || fail "6 is not running on SN-1003"
cagent status
echo "-- fleetsecd's log: SN-1003 spoke CoAPs only"
grep -E "coaps (GET|POST) .* peer=SN-1003" "$SRV/fleetsecd.log" | sed 's/^fleetsecd: //' |
	awk '{k = $3 " " $4; if (!(k in seen)) {seen[k]; print}}'
if grep -E "^fleetsecd: [0-9.]+ (GET|POST) .* peer=SN-1003" "$SRV/fleetsecd.log"; then
	fail "SN-1003 made HTTPS requests"
fi
echo "-- coap-client (libcoap's own client, an independent peer) reads SN-1003's update answer:"
printf '$ coap-client-openssl -c device.pem -j device.key -R root.pem coaps://127.0.0.1:%s/v1/update\n' "$CPORT"
coap-client-openssl -B 10 -c "$CDEV/device.pem" -j "$CDEV/device.key" -R "$FLEETSEC_HOME/root.pem" \
	"coaps://127.0.0.1:$CPORT/v1/update" 2>/dev/null >"$CDEV/update.json"
echo "   (the signed manifest's payload, decoded with jq)"
jq -c '.manifest.payload | @base64d | fromjson |
	{_type, sequence, expires, version: .releases[0].version}' "$CDEV/update.json" ||
	fail "coap-client got no signed manifest: $(head -c 200 "$CDEV/update.json")"

printf '\ndemo complete: everything is in out/demo/\n'
