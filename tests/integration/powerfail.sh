#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The power-fail harness. An update from v1 to v2 is cut, as by a power
# failure, at every durable write the agent makes (before it, after it, and
# torn: half written), and at many byte offsets of the network transfer.
# After each cut the device "reboots" through fleetsec-bootsim and the agent
# runs again until the update is done. After every boot it asserts:
#  - the slot that boots holds a valid image signed by the pinned key;
#  - the anti-rollback counter never went down;
#  - the update completes (v2 running, confirmed, counter 2);
# and that no resume re-downloaded more than one chunk.
# Needs a build with FSEC_FAULT_INJECTION (Debug, AsanUbsan).
# POWERFAIL_NET (default 700) sets how many network cut points to add, and
# POWERFAIL_STRIDE (default 1) cuts at every Nth durable write only,
# starting at write POWERFAIL_OFFSET + 1 (default 0): scripts/test.sh's plain
# pass takes a third, which third drawn by the commit's hash (so that, over
# commits, every write is cut), and the sanitizer pass a sample;
# `scripts/test.sh --full` and a plain ctest do them all. POWERFAIL_TPM=1
# keeps the counter in a swtpm's NV memory and cuts at every confirm write,
# TPM commands included (the counter only moves at confirm).
# POWERFAIL_ENC=1 makes v2 an encrypted image (ECIES-P256, issue 19) that
# the agent decrypts on its way into the slot: every cut must resume with
# the AES-CTR counter recomputed from the chunk offset, and the slot end
# holding the decrypted image.
# POWERFAIL_COAPS=1 (issue 17) updates over CoAPs from fleetsecd's listener
# instead of HTTPS from nginx, and cuts the network only (the durable writes
# are the transport's no more than they are nginx's): POWERFAIL_NET cuts,
# half of them at a block boundary (the cut comes as a whole block arrives)
# and half in the middle of a block. fleetsecd logs no byte counts, so what
# a resume fetches again is not measured here (agent_coaps.sh shows a
# resume starting at the block that holds the next byte it needs).
. "$(dirname "$0")/lib.sh"
COAPS=${POWERFAIL_COAPS:-}
if [ -n "$COAPS" ]; then
	. "$(dirname "$0")/fleetsecd.sh"
	: "${FLEETSECD:?}"
else
	. "$(dirname "$0")/nginx.sh"
fi
: "${AGENT:?}" "${BOOTSIM:?}"
cd "$T"
CHUNK=4096
NET_POINTS=${POWERFAIL_NET:-700}
STRIDE=${POWERFAIL_STRIDE:-1}
OFFSET=${POWERFAIL_OFFSET:-0}
[[ $OFFSET =~ ^[0-9]+$ ]] && [ "$OFFSET" -lt "$STRIDE" ] ||
	fail "POWERFAIL_OFFSET $OFFSET: a whole number below POWERFAIL_STRIDE ($STRIDE)"

"$FLEETSEC" ca init --name "Powerfail Fleet" >/dev/null
if [ -n "$COAPS" ]; then
	"$FLEETSEC" ca server-cert localhost --ip 127.0.0.1 >/dev/null
	# Every cut leaves fleetsecd a DTLS session no one closed, which holds
	# one of its source's places until it idles out (a minute): sixty cuts
	# from one address in a few seconds are not a flood to refuse here.
	printf 'max_per_source = 1000\n' >>"$FLEETSEC_HOME/fleetsecd.conf"
	CPORT=$(rand_port)
	fleetsecd_start --quiet --coaps 127.0.0.1:$CPORT
	mkdir -p www
else
	nginx_start "$FLEETSEC_HOME/issuing.pem" "$FLEETSEC_HOME/issuing.key" "$FLEETSEC_HOME/chain.pem"
fi
"$FLEETSEC" device issue dev-1 --keygen --key-out dev.key --out dev.pem --model m 2>/dev/null
for k in fw root; do "$FLEETSEC" fw keygen --out $k.pem 2>/dev/null; "$FLEETSEC" fw pubkey $k.pem --out $k.pub; done
"$FLEETSEC" fw keygen --algo p256 --out online.pem 2>/dev/null
"$FLEETSEC" fw pubkey online.pem --out online.pub
"$FLEETSEC" release delegate --root-key root.pem --key online.pub --sequence 1 --out deleg.json
ENC=()
if [ -n "${POWERFAIL_ENC:-}" ]; then
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out enc.pem 2>/dev/null
	openssl pkey -in enc.pem -pubout -out enc.pub.pem
	ENC=(--encrypt enc.pub.pem)
fi
for v in 1 2; do
	head -c 200000 /dev/urandom >v$v.bin
	"$FLEETSEC" fw sign --key fw.pem --version $v.0.0 --security-counter $v --pad-header \
		$([ $v = 2 ] && echo "${ENC[@]}") v$v.bin www/v$v.img
done
if [ -n "$COAPS" ]; then
	# Published to fleetsecd: the image at its /v1/firmware/SHA256.
	"$FLEETSEC" release create --model m --image www/v2.img --chunk-size $CHUNK --sequence 5 \
		--out manifest.json
	"$FLEETSEC" release sign --key online.pem --delegation deleg.json manifest.json --out release.json
	"$FLEETSEC" release publish --model m --bundle release.json --image www/v2.img --root root.pub \
		>/dev/null
else
	"$FLEETSEC" release create --model m --image www/v2.img --url /v2.img --chunk-size $CHUNK \
		--sequence 5 --out manifest.json
	"$FLEETSEC" release sign --key online.pem --delegation deleg.json manifest.json \
		--out www/release.json
fi
size=$(stat -c %s www/v2.img)
nchunks=$(((size + CHUNK - 1) / CHUNK))
# What a resume may fetch again: one chunk, and with encryption the header
# and the TLVs each run fetches first to unwrap the key (at most 8 runs).
slack=$CHUNK
if [ -n "${POWERFAIL_ENC:-}" ]; then
	tlvs=$(($(stat -c %s www/v2.img) - $("$FLEETSEC" fw show www/v2.img --json | jq '.header_size + .image_size')))
	slack=$((CHUNK + 8 * (32 + tlvs)))
fi

# The device as it leaves the factory: v1 in slot a, slot b erased.
mkdir base
head -c 262144 /dev/zero | tr '\0' '\377' >base/slot_a
cp base/slot_a base/slot_b
dd if=www/v1.img of=base/slot_a conv=notrunc status=none
mkdir base/state
dev=$T/dev
NV=0x01500100
if [ -n "${POWERFAIL_TPM:-}" ]; then . "$(dirname "$0")/swtpm.sh" && swtpm_counter tpm $NV; fi
if [ -n "$COAPS" ]; then
	agent_conf "coaps://127.0.0.1:$CPORT" server_crl=off model=m slot_a="$dev/slot_a" \
		slot_b="$dev/slot_b" boot_env="$dev/bootenv" state_dir="$dev/state" low_speed_time=5 \
		${ENC:+decrypt_key=$T/enc.pem}
else
	agent_conf "https://127.0.0.1:$NGINX_PORT" server_crl=off manifest_url=/release.json model=m \
		slot_a="$dev/slot_a" slot_b="$dev/slot_b" boot_env="$dev/bootenv" state_dir="$dev/state" \
		low_speed_time=5 ${ENC:+decrypt_key=$T/enc.pem}
fi
fresh() {
	rm -rf "$dev"
	cp -a base "$dev"
	if [ -n "${POWERFAIL_TPM:-}" ]; then # a TPM that has never held the counter
		tpm2 nvundefine -C o -P "$OWNER_PASS" $NV >/dev/null 2>&1 || true
		tpm2 nvundefine -C o -P "$OWNER_PASS" $((NV + 1)) >/dev/null 2>&1 || true
	fi
}
A() { "$AGENT" -c agent.conf "$@" >/dev/null 2>"$T/agent.err"; }
image_bytes() {
	if [ -n "$COAPS" ]; then echo 0; return; fi
	awk -v f=/v2.img '$1 == f { s += $4 } END { print s + 0 }' nginx/access.log
}

[ -z "${POWERFAIL_ENC:-}" ] || "$FLEETSEC" fw decrypt --key enc.pem www/v2.img v2.dec

# Count the durable writes of an uncut update and confirm.
fresh
FSEC_FAULT_TRACE=$T/trace.update A update || fail "uncut update: $(cat agent.err)"
"$BOOTSIM" "$dev/bootenv" >/dev/null
FSEC_FAULT_TRACE=$T/trace.confirm A confirm || fail "uncut confirm: $(cat agent.err)"
ku=$(wc -l <trace.update)
kc=$(wc -l <trace.confirm)
[ "$ku" -gt $((2 * nchunks)) ] || fail "only $ku durable writes traced for $nchunks chunks"

points=0
redownloaded=0
worst=0
last_counter=0
# boot: one reboot, then the three assertions that must hold after any cut.
boot() {
	local st
	"$BOOTSIM" "$dev/bootenv" >/dev/null || fail "point $1: bootsim failed"
	st=$("$AGENT" -c agent.conf status --json 2>/dev/null) || fail "point $1: status failed"
	grep -q '"active_valid": true' <<<"$st" || fail "point $1: booted a slot without a valid image: $st"
	counter=$(sed -n 's/.*"counter": \([0-9]*\).*/\1/p' <<<"$st")
	[ "$counter" -ge "$last_counter" ] || fail "point $1: counter went down ($last_counter -> $counter)"
	last_counter=$counter
	STATUS=$st
}
# recover POINT: reboot and run the agent until v2 runs confirmed.
recover() {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		boot "$1"
		if grep -q '"version": "2.0.0+0"' <<<"$STATUS" && grep -q '"trial": false' <<<"$STATUS"; then
			[ "$counter" -eq 2 ] || fail "point $1: v2 confirmed but counter is $counter"
			[ -z "${POWERFAIL_ENC:-}" ] || cmp -s <(head -c "$size" "$dev/slot_b") v2.dec ||
				fail "point $1: slot b is not the decrypted image"
			return 0
		fi
		if grep -q '"trial": true' <<<"$STATUS"; then
			A confirm || fail "point $1: confirm failed: $(cat agent.err)"
		else
			A update || fail "point $1: update after the cut failed: $(cat agent.err)"
		fi
	done
	fail "point $1: the update never completed: $STATUS"
}
# point NAME PHASE FAULT: one interruption, its recovery and its accounting.
point() {
	local name=$1 phase=$2 fault=$3 before waste
	fresh
	last_counter=0
	before=$(image_bytes)
	if [ "$phase" = confirm ]; then
		A update || fail "$name: update: $(cat agent.err)"
		"$BOOTSIM" "$dev/bootenv" >/dev/null
		FSEC_FAULT=$fault A confirm && fail "$name: the cut did not happen"
	else
		FSEC_FAULT=$fault A update && fail "$name: the cut did not happen"
	fi
	recover "$name"
	waste=$(($(image_bytes) - before - size))
	[ -z "$COAPS" ] || waste=0
	[ "$waste" -le "$slack" ] || fail "$name: re-downloaded $waste bytes, more than one chunk"
	redownloaded=$((redownloaded + waste))
	[ "$waste" -le "$worst" ] || worst=$waste
	points=$((points + 1))
	ok
}

if [ -n "$COAPS" ]; then
	ku=0 kc=0
fi
if [ -n "${POWERFAIL_TPM:-}" ]; then
	ku=0 NET_POINTS=0
	grep -q "tpm: raise the counter" trace.confirm || fail "no TPM counter step traced at confirm"
fi
for n in $(seq $((1 + OFFSET)) "$STRIDE" "$ku"); do
	for mode in before after torn; do point "update write $n $mode" update "$n:$mode"; done
done
for n in $(seq 1 "$kc"); do
	for mode in before after torn; do point "confirm write $n $mode" confirm "$n:$mode"; done
done
if [ -n "$COAPS" ]; then
	# The bytes before the image: the answer to GET /v1/update, as
	# libcoap's own client receives it.
	coap-client-openssl -B 10 -c dev.pem -j dev.key -R "$FLEETSEC_HOME/root.pem" \
		"coaps://127.0.0.1:$CPORT/v1/update" >update.answer 2>/dev/null || true
	manifest_bytes=$(stat -c %s update.answer)
	[ "$manifest_bytes" -gt 100 ] || fail "no update answer from fleetsecd over CoAPs"
	nblocks=$(((size + 1023) / 1024))
	for i in $(seq 1 "$NET_POINTS"); do
		# Blocks spread over the image; at its end (odd i) or half-way.
		k=$((1 + i * (nblocks - 1) / (NET_POINTS + 1)))
		off=$((manifest_bytes + k * 1024 - (i % 2 == 1 ? 0 : 512)))
		point "network byte $off (block $k, $([ $((i % 2)) = 1 ] && echo end || echo middle))" \
			update "net:$off"
	done
else
	manifest_bytes=$(stat -c %s www/release.json)
	for i in $(seq 1 "$NET_POINTS"); do
		# Byte offsets spread over the manifest and the image, plus jitter.
		off=$((1 + (i * (manifest_bytes + size) / (NET_POINTS + 1) + RANDOM % 977) % (manifest_bytes + size)))
		point "network byte $off" update "net:$off"
	done
fi

if [ -n "${POWERFAIL_TPM:-}" ]; then
	echo "powerfail: $points interruption points with the counter in the TPM (all $kc confirm writes, $(grep -c "^[0-9]* tpm: " trace.confirm) of them TPM commands, each before/after/torn)"
elif [ -n "$COAPS" ]; then
	echo "powerfail: $points network cuts of a CoAPs update ($nblocks blocks of 1024 bytes; half at a block's end, half in its middle), every one recovered"
else
	echo "powerfail: $points interruption points (one in ${STRIDE} of $ku update writes from write $((1 + OFFSET)), and all $kc confirm writes, each before/after/torn; $NET_POINTS network cuts); $nchunks chunks of $CHUNK bytes; re-downloaded $redownloaded bytes in total, at most $worst at one point"
fi
[ "$points" -ge 1000 ] || [ "$STRIDE" -gt 1 ] || [ -n "${POWERFAIL_NET:-}${POWERFAIL_TPM:-}" ] ||
	fail "only $points points"
done_checks
