#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Nothing lapses: a published manifest near its expiry is signed again with
# the online key (fleetsec release refresh), with a new expiry and the next
# sequence, in place of the old one and with its rollout unchanged. The
# real fleetsec-agent, against a real fleetsecd, takes it as nothing to
# install and refuses the old one replayed afterwards. Each refusal leaves
# what is served unchanged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}" "${BOOTSIM:?}"
cd "$T"
F=$FLEETSEC

# The agent checks fleetsecd's certificate against a current CRL (server_crl);
# the clock here moves two weeks on.
"$F" ca init --name "Refresh Fleet" --crl-days 30 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
printf 'renew_after_percent = 0\nrenewals_per_day = 1000\n' >>"$FLEETSEC_HOME/fleetsecd.conf"
fleetsecd_start
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr issue SN-7 --dir mfr --key-out boot.key --out boot.pem 2>/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model thermo >/dev/null
for k in fw root; do "$F" fw keygen --out $k.pem 2>/dev/null; "$F" fw pubkey $k.pem --out $k.pub; done
"$F" fw keygen --algo p256 --out online.pem 2>/dev/null
"$F" fw pubkey online.pem --out online.pub
"$F" release delegate --root-key root.pem --key online.pub --sequence 1 --out deleg.json
image() { # image NAME VERSION COUNTER
	head -c 200000 /dev/urandom >"$1.bin"
	"$F" fw sign --key fw.pem --version "$2" --security-counter "$3" --pad-header \
		--slot-size 0x100000 "$1.bin" "$1.img"
}
image v1 1.0.0 1
image v2 2.0.0 2
head -c $((0x100000)) /dev/zero | tr '\0' '\377' >slot_a
cp slot_a slot_b
dd if=v1.img of=slot_a conv=notrunc status=none
agent_conf "$URL" bootstrap_key="$T/boot.key" bootstrap_cert="$T/boot.pem"
mkdir state
A() { "$AGENT" -c agent.conf "$@"; }
expect 0 A enroll

# served [FAKETIME]: the manifest fleetsecd serves SN-7, as JSON (jq reads
# the DSSE payload; no fleetsec code judges it).
served() {
	curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert dev.pem --key dev.key \
		"$URL/v1/update" | jq '.manifest.payload | @base64d | fromjson'
}
# rollout: what release status says of the rollout, less the expiry and
# the time of fleetsecd's last evaluation (its timer runs on its own).
rollout() { "$F" release status --json | jq -c '.[0] | del(.expires, .expired, .evaluated_at)'; }
events() { "$F" registry events --json | jq length; }
REFRESH=("$F" release refresh --model thermo --key online.pem --delegation deleg.json --root root.pub)

# Nothing published: refused, one line, nothing written.
n=$(events)
expect 1 "${REFRESH[@]}"
one_line_error "thermo"
grep -q "no release published" err || fail "nothing published: $(cat err)"
[ "$(events)" = "$n" ] || fail "a refused refresh wrote an event"

# v2, valid 10 days, at sequence 5, with a rollout and a failure limit.
"$F" release create --model thermo --image v2.img --chunk-size 65536 --sequence 5 --expires 10d \
	--out manifest.json
"$F" release sign --key online.pem --delegation deleg.json manifest.json --out release5.json
expect 0 "$F" release publish --model thermo --bundle release5.json --image v2.img --root root.pub \
	--max-failures 3
expect 0 A update
grep -q installed out || fail "update: $(cat out)"
"$BOOTSIM" bootenv | grep -q "booting slot b (trial boot)" || fail "no trial boot of b"
expect 0 A confirm
expect 0 A report
before=$(rollout)
[ "$(served | jq .sequence)" = 5 ] || fail "not sequence 5: $(served)"
ok

# A timestamp stored before the refresh names the published sequence: it is
# signed again for the new one (devices refuse one naming an older manifest).
expect 0 "$F" release timestamp --model thermo --key online.pem --delegation deleg.json \
	--root root.pub --expires 20d

# Refusals: a key the delegation does not name, an expired delegation, a
# delegation older than the published one's; what is served is unchanged.
n=$(events)
expect 1 "$F" release refresh --model thermo --key fw.pem --delegation deleg.json --root root.pub
one_line_error "unknown key"
"$F" release delegate --root-key root.pem --key online.pub --sequence 2 --expires 2d \
	--out short.json
expect 1 FT -f +3d "$F" release refresh --model thermo --key online.pem --delegation short.json \
	--root root.pub
one_line_error "expired"
"$F" release delegate --root-key root.pem --key online.pub --sequence 0 --out older.json
expect 1 "$F" release refresh --model thermo --key online.pem --delegation older.json --root root.pub
one_line_error "delegation 0 is older"
expect 1 "$F" release refresh --model thermo --key online.pem --delegation deleg.json --root fw.pub
one_line_error "thermo"
[ "$(events)" = "$n" ] || fail "a refused refresh wrote an event"
[ "$(served | jq .sequence)" = 5 ] || fail "a refused refresh changed what is served"
ok

# release status shows the manifest's expiry, and EXPIRED once it passed.
expect 0 "$F" release status
grep -Eq "manifest valid until .*, expires in (9|10)d" out || fail "status: $(cat out)"
expect 0 FT -f +11d "$F" release status
grep -q "manifest valid until .*, EXPIRED" out || fail "status at +11d: $(cat out)"
expect 0 FT -f +11d "$F" release status --json
jq -e '.[0].expired == true and (.[0].expires | test("Z$"))' out >/dev/null ||
	fail "status --json at +11d: $(cat out)"

# Eight days on, two days before the manifest expires: refreshed for 30
# more, sequence 6, same image, same rollout.
old_exp=$(served | jq -r .expires)
expect 0 FT -f +8d "${REFRESH[@]}" --expires 30d --json
[ "$(jq .sequence out)" = 6 ] && [ "$(jq .previous_sequence out)" = 5 ] ||
	fail "refresh --json: $(cat out)"
served >now.json
[ "$(jq .sequence now.json)" = 6 ] || fail "the refreshed manifest is not served: $(cat now.json)"
exp=$(date -d "$(jq -r .expires now.json)" +%s)
want=$(($(date +%s) + 38 * 86400))
[ $((exp - want)) -le 600 ] && [ $((want - exp)) -le 600 ] ||
	fail "expires $(jq -r .expires now.json), not 30 days after the fake now"
[ "$(date -d "$old_exp" +%s)" -lt "$exp" ] || fail "the expiry did not move"
[ "$(jq -c .releases now.json)" = "$(jq -c '.payload // empty' /dev/null; served | jq -c .releases)" ] || true
jq -e --slurpfile m manifest.json '.releases == $m[0].releases' now.json >/dev/null ||
	fail "the refresh changed the releases it lists"
[ "$(rollout)" = "$before" ] || fail "the rollout changed: $before -> $(rollout)"
expect 0 "$F" release status
grep -q "manifest valid until .*, expires in 3[6-8]d" out || fail "status after refresh: $(cat out)"
"$F" registry events --json | jq -e '[.[] | select(.action == "timestamp")] | last |
	.detail | test("latest=6 ")' >/dev/null || fail "the timestamp does not name manifest 6"
"$F" registry events --json | jq -e '[.[] | select(.action == "refresh")] | length == 1' \
	>/dev/null || fail "no refresh event"
ok

# The agent, twelve days on (the old manifest has expired): nothing to
# install, and it now holds sequence 6.
cp bootenv bootenv.before
expect 0 FT -f +12d "$AGENT" -c agent.conf check --json
jq -e '.applies == false and .sequence == 6' out >/dev/null || fail "check: $(cat out)"
grep -q "not newer than the installed" out || fail "check: $(cat out)"
expect 0 FT -f +12d "$AGENT" -c agent.conf update
grep -q "not newer than the installed 2.0.0" out || fail "update after the refresh: $(cat out)"
cmp -s bootenv bootenv.before || fail "the refresh touched the boot environment"
ok

# The old manifest replayed (published again while it is still valid):
# the agent refuses it as older than what it holds.
expect 0 "$F" release publish --model thermo --bundle release5.json --image v2.img --root root.pub
expect 1 A check
grep -q "sequence: manifest 5 is not above" err ||
	fail "the replayed manifest was not refused: $(cat err)"
ok

# ---- fleetsecd, release_refresh = auto ----
kill "$FLEETSECD_PID"
wait "$FLEETSECD_PID" 2>/dev/null || true
mv daemon.log daemon1.log # fleetsecd_start waits for "listening" in a new one
base=$(cat "$FLEETSEC_HOME/fleetsecd.conf")
# start_refused WHAT LINES...: fleetsecd with these lines more in its
# configuration refuses to start, in one line that names WHAT.
start_refused() {
	local what=$1
	shift
	{ echo "$base"; printf '%s\n' "$@"; } >bad.conf
	if FT -f +3d "$FLEETSECD" --config bad.conf --listen 127.0.0.1:1 2>bad.err; then
		fail "fleetsecd started with: $*"
	fi
	[ "$(wc -l <bad.err)" = 1 ] && grep -q "$what" bad.err || fail "refusal: $(cat bad.err)"
	ok
}
KEYS=("release_key = $T/online.pem" "release_delegation = $T/deleg.json"
	"release_root = $T/root.pub")
start_refused "needs release_key" "release_refresh = auto"
start_refused "needs release_key" "release_refresh = auto" "${KEYS[1]}" "${KEYS[2]}"
start_refused "release_refresh must be off or auto" "release_refresh = yes" "${KEYS[@]}"
start_refused "unknown key" "release_refresh = auto" "release_key = $T/fw.pem" "${KEYS[1]}" \
	"${KEYS[2]}"
# short.json lapsed a day ago on fleetsecd's clock (+3d).
start_refused "expired" "release_refresh = auto" "${KEYS[0]}" \
	"release_delegation = $T/short.json" "${KEYS[2]}"

# A manifest valid four days and a timestamp valid two; fleetsecd runs
# under libfaketime, whose clock the test moves by rewriting a file.
[ -r "$FAKETIME_LIB" ] || fail "libfaketime is missing (Debian package faketime; scripts/deps.sh)"
echo "+0" >faketime
cat >fleetsecd-faked <<EOF
#!/bin/sh
export LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=$T/faketime FAKETIME_NO_CACHE=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
exec "$FLEETSECD" "\$@"
EOF
chmod +x fleetsecd-faked
"$F" release create --model thermo --image v2.img --chunk-size 65536 --sequence 10 --expires 4d \
	--out manifest10.json
"$F" release sign --key online.pem --delegation deleg.json manifest10.json --out release10.json
expect 0 "$F" release publish --model thermo --bundle release10.json --image v2.img \
	--root root.pub --max-failures 3
expect 0 "$F" release timestamp --model thermo --key online.pem --delegation deleg.json \
	--root root.pub --expires 2d
before=$(rollout)
{ echo "$base"; echo "release_refresh = auto"; printf '%s\n' "${KEYS[@]}"; } \
	>"$FLEETSEC_HOME/fleetsecd.conf"
REAL_FLEETSECD=$FLEETSECD
FLEETSECD=$T/fleetsecd-faked
fleetsecd_start
FLEETSECD=$REAL_FLEETSECD
agent_conf "$URL"
[ "$(served | jq .sequence)" = 10 ] || fail "refreshed before half of its validity: $(served)"
ok
# Three days on: past half of both; fleetsecd signs both again.
echo "+259200" >faketime
for _ in $(seq 1200); do
	[ "$(served | jq .sequence)" = 11 ] && break
	sleep 0.1
done
served >auto.json
[ "$(jq .sequence auto.json)" = 11 ] || fail "fleetsecd did not refresh: $(cat auto.json)"
exp=$(date -d "$(jq -r .expires auto.json)" +%s)
want=$(($(date +%s) + 7 * 86400))
[ $((exp - want)) -le 600 ] && [ $((want - exp)) -le 600 ] ||
	fail "expires $(jq -r .expires auto.json), not four days after the fake now"
jq -e --slurpfile m manifest10.json '.releases == $m[0].releases' auto.json >/dev/null ||
	fail "the automatic refresh changed the releases"
[ "$(rollout)" = "$before" ] || fail "the rollout changed: $before -> $(rollout)"
"$F" registry events --json | jq -e '[.[] | select(.action == "timestamp")] | last |
	.actor == "fleetsecd" and (.detail | test("latest=11 "))' >/dev/null ||
	fail "the timestamp was not signed again for manifest 11"
expect 0 FT -f +3d "$AGENT" -c agent.conf check --json
jq -e '.applies == false and .sequence == 11' out >/dev/null || fail "check: $(cat out)"
ok

# ---- a release root rotation, followed by fleetsecd by itself ----
# fleetsecd's release_root stays the first root: its refresher follows the
# published chain (release-roots.json) as a device does, with no restart.
"$F" fw keygen --out root2.pem 2>/dev/null
"$F" fw pubkey root2.pem --out root2.pub
expect 0 "$F" release root-rotate --root-key root.pem --new-root-key root2.pem --out root-2.json
expect 0 "$F" release root-publish --root root.pub root-2.json
# The delegation in place is still the first root's: a reload is refused in
# one line that names it, and fleetsecd keeps serving what it served.
n=$(grep -c "reload refused" daemon.log || true)
kill -HUP "$FLEETSECD_PID"
for _ in $(seq 100); do
	[ "$(grep -c "reload refused" daemon.log || true)" -gt "$n" ] && break
	sleep 0.1
done
grep "reload refused" daemon.log | tail -1 | grep -q "release_delegation $T/deleg.json (release root version 2): unknown key" ||
	fail "reload with the old root's delegation: $(tail -2 daemon.log)"
[ "$(served | jq .sequence)" = 11 ] || fail "a refused reload changed what is served"
ok
# The new root's delegation put in place, and nothing else: within a minute
# (fleetsecd's refresh timer) the published manifest is signed again under
# it, as a newer delegation requires.
"$F" release delegate --root-key root2.pem --key online.pub --sequence 20 --out deleg2.json
mv deleg2.json deleg.json
for _ in $(seq 700); do
	[ "$(served | jq .sequence)" = 12 ] && break
	sleep 0.1
done
[ "$(served | jq .sequence)" = 12 ] || fail "fleetsecd did not follow the new root: $(tail -3 daemon.log)"
# The independent judge of the served delegation: openssl verifies its
# DSSE signature (over the PAE) with root 2's key, and not with root 1's.
curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert dev.pem --key dev.key "$URL/v1/update" \
	>update.json
jq -r .delegation.payload update.json | base64 -d >d.payload
jq -r '.delegation.signatures[0].sig' update.json | base64 -d >d.sig
{
	t=application/vnd.fleetsec.delegation+json
	printf 'DSSEv1 %d %s %d ' "${#t}" "$t" "$(stat -c %s d.payload)"
	cat d.payload
} >d.pae
openssl pkeyutl -verify -pubin -inkey root2.pub -rawin -in d.pae -sigfile d.sig >/dev/null ||
	fail "openssl does not verify the served delegation with root 2"
! openssl pkeyutl -verify -pubin -inkey root.pub -rawin -in d.pae -sigfile d.sig >/dev/null 2>&1 ||
	fail "the served delegation verifies with root 1"
[ "$(jq .sequence d.payload)" = 20 ] || fail "served delegation: $(cat d.payload)"
ok
# The device, which pins the first root, follows the chain and takes it.
expect 0 FT -f +3d "$AGENT" -c agent.conf check --json
jq -e '.applies == false and .sequence == 12' out >/dev/null || fail "check after the rotation: $(cat out)"
[ "$(FT -f +3d "$AGENT" -c agent.conf status --json | jq .release_root_version)" = 2 ] ||
	fail "the device did not follow to root 2"
ok

done_checks
