#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fleetsec-agent end to end against a real nginx with client certificates,
# on a simulated A/B device (slot files, fleetsec-bootsim): update 1 -> 2
# through a trial boot and confirm, an unconfirmed 3 falling back to 2, a
# download resumed after SIGKILL, and every attack the issue lists refused
# with the device left on its image.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nginx.sh"
: "${AGENT:?}" "${BOOTSIM:?}"
cd "$T"
# AGENT_TPM=1: the same test with the anti-rollback counter in a TPM's NV
# memory (a real swtpm), checked at the end with tpm2-tools.
NV=0x01500100
if [ -n "${AGENT_TPM:-}" ]; then . "$(dirname "$0")/swtpm.sh" && swtpm_counter tpm $NV; fi

"$FLEETSEC" ca init --name "Agent Fleet" >/dev/null
nginx_start "$FLEETSEC_HOME/issuing.pem" "$FLEETSEC_HOME/issuing.key" "$FLEETSEC_HOME/chain.pem"
"$FLEETSEC" device issue dev-1 --keygen --key-out dev.key --out dev.pem --model thermo 2>/dev/null
for k in fw other-fw root; do "$FLEETSEC" fw keygen --out $k.pem 2>/dev/null; "$FLEETSEC" fw pubkey $k.pem --out $k.pub; done
"$FLEETSEC" fw keygen --algo p256 --out online.pem 2>/dev/null
"$FLEETSEC" fw pubkey online.pem --out online.pub
"$FLEETSEC" release delegate --root-key root.pem --key online.pub --sequence 1 --out deleg.json

# image NAME VERSION COUNTER [KEY]: sign a fresh 600 kB payload.
image() {
	head -c 600000 /dev/urandom >"$1.bin"
	"$FLEETSEC" fw sign --key "${4:-fw.pem}" --version "$2" --security-counter "$3" \
		--pad-header --slot-size 0x200000 "$1.bin" "www/$1.img"
}
SEQ=10
# publish NAME [URLPREFIX] [MODEL] [EXPIRES]: release.json for an image.
publish() {
	SEQ=$((SEQ + 1))
	"$FLEETSEC" release create --model "${3:-thermo}" --image "www/$1.img" --url "${2:-/}$1.img" \
		--chunk-size 65536 --sequence "$SEQ" --expires "${4:-1d}" --out manifest.json
	"$FLEETSEC" release sign --key online.pem --delegation deleg.json manifest.json --out www/release.json
}
slot_of() { sed -n 's/^fsec_slot=//p' bootenv; }

image v1 1.0.0 1
image v2 2.0.0 2
image v3 3.0.0 3
head -c $((0x200000)) /dev/zero | tr '\0' '\377' >slot_a
cp slot_a slot_b
dd if=www/v1.img of=slot_a conv=notrunc status=none
agent_conf "https://127.0.0.1:$NGINX_PORT" server_crl=off manifest_url=/release.json low_speed_time=3 \
	chunk_retries=2
mkdir -p state
A() { "$AGENT" -c agent.conf "$@"; }

# 1 -> 2 through a trial boot and confirm.
publish v2
expect 0 A check
grep -q "update 1.0.0+0 -> 2.0.0+0 available" out || fail "check: $(cat out)"
expect 0 A update
grep -q "installed" out || fail "update: $(cat out)"
[ "$(slot_of)" = b ] && grep -q '^upgrade_available=1' bootenv || fail "no trial requested"
cmp -s <(head -c "$(stat -c %s www/v2.img)" slot_b) www/v2.img || fail "slot b is not v2"
# Confirming before the trial slot has booted would remove the way back.
expect 1 A confirm
one_line_error "has not booted yet"
"$BOOTSIM" bootenv | grep -q "booting slot b (trial boot)" || fail "bootsim did not try b"
expect 0 A confirm
expect 0 A status --json
grep -q '"active_slot": "b"' out && grep -q '"version": "2.0.0+0"' out && grep -q '"counter": 2' out &&
	grep -q '"trial": false' out || fail "status after confirm: $(cat out)"
[ ! -e state/journal ] || fail "journal left behind"
ok

# An unconfirmed 3 falls back to 2 after bootlimit boots.
cp www/release.json replay.json # v2's release, soon superseded
publish v3
expect 0 A update
[ "$(slot_of)" = a ] || fail "v3 not tried in slot a"
for i in 1 2 3; do "$BOOTSIM" bootenv | grep -q "booting slot a (trial boot)" || fail "trial boot $i"; done
"$BOOTSIM" bootenv | grep -q "booting slot b (fell back" || fail "no fallback"
expect 0 A status --json
grep -q '"active_slot": "b"' out && grep -q '"version": "2.0.0+0"' out && grep -q '"counter": 2' out ||
	fail "status after fallback: $(cat out)"
expect 1 A confirm
one_line_error "no trial boot"
ok

# refused CMD REASON: the agent exits 1 with REASON and installs nothing.
before() { cp bootenv bootenv.before; }
unchanged() { cmp -s bootenv bootenv.before || fail "$1: the boot environment changed"; ok; }
refused() {
	local reason=$1
	shift
	before
	expect 1 A "$@"
	grep -q -- "$reason" err || fail "expected '$reason', got: $(cat err)"
	[ "$(wc -l <err)" -eq 1 ] || fail "not one line: $(cat err)"
	unchanged "$reason"
}
# declined CMD REASON: exit 0, nothing installed, REASON said.
declined() {
	local reason=$1
	before
	expect 0 A update
	grep -q -- "$reason" out || fail "expected '$reason', got: $(cat out)"
	unchanged "$reason"
}

# A release whose trial failed is not retried in a loop.
declined "failed its trial boot"
# Rollback: an older image (its counter below the device's), an older
# version with the same counter, and a newer version with a lower counter.
publish v1
declined "rollback refused: security counter 1 is below the device's 2"
image v1b 1.5.0 2
publish v1b
declined "not newer"
image v4 4.0.0 1
publish v4
declined "rollback refused: security counter 1 is below the device's 2"
# Rotated firmware key: the running v2 no longer verifies, yet an older
# version under the new key is still refused (the installed record), while a
# newer one applies.
sed 's#/fw.pub$#/other-fw.pub#' agent.conf >rotated.conf
image v1c 1.6.0 2 other-fw.pem
publish v1c
before
expect 0 "$AGENT" -c rotated.conf update
grep -q "not newer than the installed 2.0.0+0" out || fail "rotated key: $(cat out)"
unchanged "rotated key"
image v2r 2.5.0 2 other-fw.pem
publish v2r
expect 0 "$AGENT" -c rotated.conf check
grep -q "update 2.0.0+0 -> 2.5.0+0 available" out || fail "rotated key, newer: $(cat out)"
ok
# Two pinned keys, the signer's second: the first one's "wrong key" answer
# (a code, not a message) sends the agent on to the next.
sed 's#^\(firmware_key = .*\)/fw.pub$#\1/other-fw.pub\n\1/fw.pub#' agent.conf >two-keys.conf
[ "$(grep -c '^firmware_key = ' two-keys.conf)" -eq 2 ] || fail "two-keys.conf: $(cat two-keys.conf)"
expect 0 "$AGENT" -c two-keys.conf status --json
jq -e '.active_valid == true and .version == "2.0.0+0"' out >/dev/null ||
	fail "the second pinned key was not tried: $(cat out)"
# Arbitrary software: signed by a key the device does not pin.
image v5 5.0.0 5 other-fw.pem
publish v5
refused "wrong key" update
[ ! -e state/journal ] || fail "journal kept after a bad image"
# Wrong software: a release for another model only.
image v6 6.0.0 6
publish v6 / other-model
refused "no release for model thermo" check
# Freeze: an expired manifest.
publish v6 / thermo 1s
sleep 2
refused "expired" check
# Replay: v2's manifest again, its sequence already passed.
cp replay.json www/release.json
refused "sequence" check
# A chunk that fails its hash is re-fetched, then given up.
publish v6
printf 'X' | dd of=www/v6.img bs=1 seek=70000 conv=notrunc status=none
refused "chunk 1 of 10 fails its hash (after 3 tries)" update
[ "$(grep -c '^/v6.img bytes=65536-131071 206' nginx/access.log)" -eq 3 ] || fail "chunk 1 not fetched 3 times"
# A staged rollout at 0% reaches no device.
image v7r 7.0.1 7
"$FLEETSEC" release create --model thermo --image www/v7r.img --url /v7r.img --chunk-size 65536 \
	--sequence $((SEQ += 1)) --percent 0 --out manifest.json
"$FLEETSEC" release sign --key online.pem --delegation deleg.json manifest.json --out www/release.json
declined "rolled out to 0% of the fleet"
# A release larger than the slot is refused before anything is written.
head -c 3000000 /dev/urandom >big.bin
"$FLEETSEC" fw sign --key fw.pem --version 8.0.0 --security-counter 8 --pad-header big.bin www/big.img
publish big
refused "slot a holds 2097152" update
[ "$(stat -c %s slot_a)" -eq $((0x200000)) ] || fail "the slot grew"
# Slow retrieval: a server that stalls is abandoned.
image v7 7.0.0 7
publish v7 /slow/
refused "Timeout" update
# Endless data: a server that ignores Range and sends the whole file.
publish v7 /norange/
refused "HTTP status 200 (expected 206)" update

# A download killed mid-way resumes from its journal, re-fetching at most
# the chunk that was in flight.
publish v7 /throttle/
"$AGENT" -c agent.conf update >/dev/null 2>&1 &
pid=$!
for i in $(seq 1 50); do
	[ -e state/journal ] && [ "$(awk '{print $6}' state/journal)" -ge 3 ] && break
	sleep 0.1
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
done_before=$(awk '{print $6}' state/journal)
[ "$done_before" -ge 1 ] && [ "$done_before" -lt 10 ] || fail "kill came at chunk $done_before"
seen_lines=$(wc -l <nginx/access.log)
expect 0 A update
grep -q installed out || fail "resumed update: $(cat out)"
# Only whole chunks: nginx logs the killed request when it notices the
# closed connection, which under load can come after the count above.
new=$(tail -n +$((seen_lines + 1)) nginx/access.log | grep '^/throttle/v7.img' |
	awk '{ split($2, r, /[=-]/); if ($4 == r[3] - r[2] + 1) print }' || true)
first=$(head -1 <<<"$new" | awk '{print $2}' | sed 's/bytes=\([0-9]*\)-.*/\1/')
[ "$first" -eq $((done_before * 65536)) ] || fail "resumed at byte $first, journal said chunk $done_before"
[ "$(wc -l <<<"$new")" -eq $((10 - done_before)) ] || fail "re-fetched more than the missing chunks (journal at $done_before): $new"
cmp -s <(head -c "$(stat -c %s www/v7.img)" slot_a) www/v7.img || fail "resumed slot is not v7"
ok

# A chunk the journal counts is damaged in the slot before the resume: the
# whole-image check catches it, and the next run downloads again.
"$BOOTSIM" bootenv >/dev/null
A confirm >/dev/null 2>&1 || fail "confirm v7"
image v9 9.0.0 9
publish v9 /throttle/
"$AGENT" -c agent.conf update >/dev/null 2>&1 &
pid=$!
for i in $(seq 1 50); do
	[ -e state/journal ] && [ "$(awk '{print $6}' state/journal)" -ge 3 ] && break
	sleep 0.1
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
target=$( [ "$(slot_of)" = a ] && echo slot_b || echo slot_a)
printf 'Z' | dd of="$target" bs=1 seek=100 conv=notrunc status=none
refused "SHA-256 differs" update
[ ! -e state/journal ] || fail "journal kept after a stale slot"
expect 0 A update
grep -q installed out || fail "fresh download after a stale slot: $(cat out)"

# Freeze by silence (issue 14): "nothing new" is a signed, short-lived
# statement checked like a manifest; one that does not hold is refused,
# and past max_silence the agent says it is frozen (exit status 3).
publish v2 # the newest release; the statement names its sequence
cp www/release.json latest.json
TS() { # TS MODEL OUT [OPTIONS]: a signed statement for a static server
	"$FLEETSEC" release timestamp --model "$1" --key online.pem --delegation deleg.json \
		--root root.pub --release latest.json --out "$2" "${@:3}"
}
TS thermo www/ts.json >/dev/null
agent_conf "https://127.0.0.1:$NGINX_PORT" server_crl=off manifest_url=/ts.json low_speed_time=3 chunk_retries=2
expect 0 A check
grep -q "signed: nothing newer than manifest $SEQ" out || fail "statement: $(cat out)"
expect 0 A status --json
jq -e '.freshness == "fresh" and .fresh_at != null' out >/dev/null || fail "not fresh: $(cat out)"
ok
# stmt NAME REASON: the agent refuses the statement served as NAME.
stmt() {
	agent_conf "https://127.0.0.1:$NGINX_PORT" server_crl=off manifest_url=/"$1" low_speed_time=3 chunk_retries=2
	expect 1 A check
	one_line_error "$2"
}
TS thermo www/short.json --expires 1h >/dev/null
agent_conf "https://127.0.0.1:$NGINX_PORT" server_crl=off manifest_url=/short.json low_speed_time=3 chunk_retries=2
expect 1 FT -f +2h "$AGENT" -c agent.conf check
one_line_error "expired: the timestamp expired"
"$FLEETSEC" release timestamp --model other --key online.pem --delegation deleg.json \
	--root root.pub --out www/other.json >/dev/null
stmt other.json "no release for model thermo: the timestamp is for model other"
# One kind never passes for the other: by its member, or relabelled (the
# signature covers the payloadType).
jq '{delegation, timestamp: .manifest}' latest.json >www/swap1.json
stmt swap1.json 'timestamp.payloadType'
jq '{delegation, manifest: .timestamp}' www/ts.json >www/swap2.json
stmt swap2.json 'manifest.payloadType'
jq '.timestamp.payloadType = "application/vnd.fleetsec.release+json"
	| {delegation, manifest: .timestamp}' www/ts.json >www/swap3.json
stmt swap3.json 'bad signature'
# A statement that goes back behind what the device accepted: "nothing
# was ever published".
"$FLEETSEC" release timestamp --model thermo --key online.pem --delegation deleg.json \
	--root root.pub --out www/none.json >/dev/null
stmt none.json 'sequence'
ok
# Past max_silence with nothing but refusals: frozen. The default is 7
# days (status reads the record, no network).
expect 0 FT -f +6d "$AGENT" -c agent.conf status --json
jq -e '.freshness == "fresh"' out >/dev/null || fail "frozen before 7 days: $(cat out)"
expect 0 FT -f +8d "$AGENT" -c agent.conf status --json
jq -e '.freshness == "frozen"' out >/dev/null || fail "not frozen after 8 days: $(cat out)"
conf() { # conf FILE [KEY=VALUE...]: serve FILE, silence limit 1h
	local f=$1
	shift
	agent_conf "https://127.0.0.1:$NGINX_PORT" server_crl=off manifest_url=/"$f" low_speed_time=3 \
		chunk_retries=2 max_silence=1h "$@"
}
conf other.json
expect 3 FT -f +2h "$AGENT" -c agent.conf check
grep -q "the timestamp is for model other" err &&
	grep -q "frozen: no fresh signed answer from the update server since" err || fail "$(cat err)"
expect 0 FT -f +2h "$AGENT" -c agent.conf status --json
jq -e '.freshness == "frozen"' out >/dev/null || fail "status: $(cat out)"
# max_silence is the device's: 3 hours are not past; under an hour is refused.
conf other.json max_silence=3h
expect 1 FT -f +2h "$AGENT" -c agent.conf check
conf ts.json max_silence=59m
expect 1 A check
one_line_error "max_silence"
# A fresh statement at that time keeps it unfrozen.
FT -f +2h "$FLEETSEC" release timestamp --model thermo --key online.pem \
	--delegation deleg.json --root root.pub --release latest.json --out www/ts.json >/dev/null
conf ts.json
expect 0 FT -f +2h "$AGENT" -c agent.conf check
expect 0 FT -f +2h "$AGENT" -c agent.conf status --json
jq -e '.freshness == "fresh"' out >/dev/null || fail "a fresh statement left it frozen: $(cat out)"
agent_conf "https://127.0.0.1:$NGINX_PORT" server_crl=off manifest_url=/release.json low_speed_time=3 chunk_retries=2
ok

if [ -n "${AGENT_TPM:-}" ]; then
	# The TPM holds the counter (nothing in the state directory), and
	# tpm2-tools reads it there: the counter index minus its locked base.
	[ ! -e state/counter ] || fail "a counter file next to the TPM counter"
	expect 0 A status --json
	want=$(sed -n 's/.*"counter": \([0-9]*\).*/\1/p' out)
	nv_u64() { tpm2 nvread -s 8 "$1" | od -An -tx1 | tr -d ' \n'; }
	[ $((16#$(nv_u64 $NV) - 16#$(nv_u64 $((NV + 1))))) -eq "$want" ] ||
		fail "NV counter $(nv_u64 $NV) - base $(nv_u64 $((NV + 1))) is not the agent's $want"
	pub=$(tpm2 nvreadpublic $NV)
	grep -q "nt=0x1" <<<"$pub" || fail "index $NV is not a TPM counter: $pub"
	# Root on the device, without the owner's password, can neither
	# lower it (a counter index cannot be written, the base is locked,
	# deleting needs the owner) nor raise it to lock the device out.
	if tpm2 nvwrite -C o -P "$OWNER_PASS" $NV -i <(printf '\0\0\0\0\0\0\0\0') 2>/dev/null; then
		fail "the TPM counter was overwritten"
	fi
	if tpm2 nvwrite -C o -P "$OWNER_PASS" $((NV + 1)) \
		-i <(printf '\377\377\377\377\377\377\377\377') 2>/dev/null; then
		fail "the counter's base was rewritten"
	fi
	if tpm2 nvundefine $NV 2>/dev/null; then fail "the counter was deleted without the owner"; fi
	if tpm2 nvincrement $NV 2>/dev/null || tpm2 nvincrement -C o $NV 2>/dev/null; then
		fail "the counter was raised without the owner"
	fi
	ok
	# With the owner's password the base can be deleted: the counter then
	# fails closed rather than reading 0.
	tpm2 nvundefine -C o -P "$OWNER_PASS" $((NV + 1))
	expect 1 A status
	one_line_error "refusing to guess"
	expect 1 A check
	one_line_error "refusing to guess"
	ok
fi

# One agent at a time: a second one is refused while the first holds the lock.
exec 9>state/lock
flock 9
expect 1 A update
one_line_error "another fleetsec-agent"
exec 9>&-
done_checks
