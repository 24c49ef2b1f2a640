#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Phased rollouts through the real fleetsecd, with four real agents on
# simulated A/B devices (fleetsec-bootsim), SN-R1 a canary:
# - baseline kept: a candidate for the canaries leaves 2.0.0 to the others;
# - phases: each phase adds its devices, release status counts them;
# - pause and resume by the operator; a resume keeps the failure history;
# - auto-pause at --max-failures, on a rollback reported by an agent, at
#   fleetsecd's next rollout evaluation (its timer; never the report);
# - abort: the candidate is withdrawn, the devices that hold it are named,
#   the others keep the baseline;
# - auto-advance once the phase's devices confirmed --success-threshold;
# - one source of truth for the percentage (the signed rollout.percent);
# - every action is an event; every refusal is one line, exit 1 or 2, and
#   writes nothing; release status --watch prints JSON lines.
# The registry is read through the CLI's --json (so the test holds on either
# backend: release_rollout_pg runs it on PostgreSQL).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}" "${BOOTSIM:?}"
cd "$T"
F=$FLEETSEC
DEVS="SN-R1 SN-R2 SN-R3 SN-R4"

"$F" ca init --name "Rollout Fleet" --crl-days 30 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
fleetsecd_bounds_off
# Rollouts are evaluated on fleetsecd's timer: every second here.
echo 'rollout_tick = 1' >>"$FLEETSEC_HOME/fleetsecd.conf"
fleetsecd_start
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-R*' --model thermo >/dev/null
"$F" product set thermo --support-until 2035-01-01 >/dev/null
device_slots
online_key
sign_image v2 2.0.0 2
sign_image v3 3.0.0 3
sign_image v4 4.0.0 4
sign_image v5 5.0.0 5
sha() { sha256sum "$1" | cut -c1-64; }
# st FIELD: thermo's release status (release status --json).
st() { "$F" release status --model thermo --json | jq -r ".[0].$1"; }
# The event log's length (refusal summaries, seq null, left out).
events() { "$F" registry events --json | jq '[.[] | select(.seq != null)] | length'; }
# acted ACTION: "actor detail" of each ACTION event.
acted() {
	"$F" registry events --action "$1" --json |
		jq -r '.[] | select(.seq != null) | "\(.actor) \(.detail)"'
}
# evaluated: wait for fleetsecd's first rollout evaluation of thermo that
# began after now (its timer, rollout_tick = 1; the row is written in the
# evaluation's transaction, with any pause or advance), while it is active.
evaluated() {
	local t0 at
	t0=$(date +%s)
	for _ in $(seq 150); do
		at=$(st evaluated_at)
		[ "$at" != null ] && [ "$at" -gt "$t0" ] && return 0
		sleep 0.1
	done
	fail "fleetsecd did not evaluate the rollout within 15 s: $(tail -3 "$T/daemon.log")"
}

# Each device in its own directory: slots, boot environment, state, keys.
for d in $DEVS; do
	mkdir -p "$d/state"
	"$F" mfr issue "$d" --dir mfr --key-out "$d/boot.key" --out "$d/boot.pem" 2>/dev/null
	cp slot_a slot_b "$d/"
	agent_conf "$URL" key="$T/$d/dev.key" cert="$T/$d/dev.pem" slot_a="$T/$d/slot_a" \
		slot_b="$T/$d/slot_b" boot_env="$T/$d/bootenv" state_dir="$T/$d/state" \
		bootstrap_key="$T/$d/boot.key" bootstrap_cert="$T/$d/boot.pem"
	mv agent.conf "$d/agent.conf"
	(cd "$d" && "$AGENT" -c agent.conf enroll >/dev/null) || fail "enroll $d"
done
"$F" device set SN-R1 --group canary >/dev/null
A() { local d=$1; shift; (cd "$d" && "$AGENT" -c agent.conf "$@"); }
# offered DEV VERSION: the release the agent is offered is VERSION.
offered() {
	A "$1" check >out 2>err || fail "check $1: $(cat err)"
	grep -q -- "-> $2 available" out || fail "$1 was not offered $2: $(cat out)"
	ok
}
# cycle DEV: update, trial boot, confirm, report.
cycle() {
	A "$1" update >out 2>err || fail "update $1: $(cat out err)"
	(cd "$1" && "$BOOTSIM" bootenv) | grep -q "trial boot" || fail "no trial boot on $1"
	A "$1" confirm >/dev/null 2>&1 || fail "confirm $1"
	A "$1" report >/dev/null 2>err || fail "report $1: $(cat err)"
}
# fallback DEV: update, then boot until the bootloader falls back, report.
fallback() {
	A "$1" update >out 2>err || fail "update $1: $(cat out err)"
	for _ in 1 2 3 4; do (cd "$1" && "$BOOTSIM" bootenv >/dev/null); done
	A "$1" report >/dev/null 2>err || fail "report $1: $(cat err)"
}
SEQ=10
# sign NAME [create args]: r-NAME.json, NAME.img's release, the next sequence.
sign() {
	local n=$1
	shift
	SEQ=$((SEQ + 1))
	"$F" release create --model thermo --image "$n.img" --chunk-size 65536 --sequence $SEQ \
		"$@" --out "m-$n.json"
	"$F" release sign --key online.pem --delegation deleg.json "m-$n.json" --out "r-$n.json"
}
PUB() { local n=$1; shift; "$F" release publish --model thermo --bundle "r-$n.json" \
	--image "$n.img" --root root.pub "$@"; }
# TS: the signed "nothing new", naming the published manifest, for the
# devices that get no manifest (fleetsec release timestamp).
TS() { "$F" release timestamp --model thermo --key online.pem --delegation deleg.json \
	--root root.pub >/dev/null; }
status() { "$F" release status --model thermo --json; }
fwcode() { # fwcode DEV IMG: the HTTP status of DEV fetching IMG from fleetsecd
	curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert "$1/dev.pem" --key "$1/dev.key" \
		-o /dev/null -w '%{http_code}' "$URL/v1/firmware/$(sha "$2")"
}

# 1. 2.0.0 to every device; the product's current release follows.
sign v2
expect 0 PUB v2
grep -q "to 100% of its devices$" out || fail "publish v2: $(cat out)"
[ "$("$F" product list --json | jq -r '.[] | select(.model == "thermo") | .release_version')" = "2.0.0+0" ] ||
	fail "publish did not record the product's release"
for d in $DEVS; do cycle "$d"; done
ok

# 2. Baseline kept: 3.0.0 in phases canary, 100%. The canary is offered it,
# the others keep 2.0.0, which stays downloadable for them.
sign v3
expect 0 PUB v3 --phases canary,100% --max-failures 1
grep -q "in phases canary,100%, the first now; the others keep the baseline 2.0.0+0" out ||
	fail "publish v3: $(cat out)"
TS
[ "$(st baseline.version)" = "2.0.0+0" ] ||
	fail "no baseline in the registry"
offered SN-R1 3.0.0+0
for d in SN-R2 SN-R3; do
	[ "$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert "$d/dev.pem" --key "$d/dev.key" \
		"$URL/v1/update" | jq -r '.manifest.payload | @base64d | fromjson | .sequence')" = 11 ] ||
		fail "$d is not served the baseline's manifest"
done
[ "$(fwcode SN-R2 v3.img)" = 404 ] || fail "a device outside the phase got 3.0.0's image"
cycle SN-R1
expect 0 status
jq -e '.[0] | .version == "3.0.0+0" and .state == "active" and .phase == 1
	and .phases[0].spec == "canary" and .phases[0].eligible == 1 and .phases[0].confirmed == 1
	and .phases[1].spec == "100%" and .phases[1].eligible == 3 and .phases[1].confirmed == 0
	and .baseline.version == "2.0.0+0" and .baseline.phases[0].confirmed == 3' out >/dev/null ||
	fail "status in phase 1: $(cat out)"
ok

# 3. Pause: the next phase is in effect, but nobody new is offered 3.0.0.
expect 0 "$F" release pause --model thermo --release 3.0.0+0
n=$(events)
expect 1 "$F" release pause --model thermo
one_line_error "already paused"
[ "$(events)" = "$n" ] || fail "a refused pause wrote an event"
expect 0 "$F" release advance --model thermo
A SN-R2 check >out 2>err || fail "check SN-R2 while paused"
grep -q "not newer than the installed 2.0.0+0" out || fail "paused, SN-R2 got: $(cat out)"
expect 0 status
jq -e '.[0] | .state == "paused" and .paused == true and .phase == 2' out >/dev/null ||
	fail "status paused: $(cat out)"
# Resume: SN-R2 is offered 3.0.0 now.
expect 0 "$F" release resume --model thermo
offered SN-R2 3.0.0+0
n=$(events)
expect 1 "$F" release resume --model thermo
one_line_error "not paused"
[ "$(events)" = "$n" ] || fail "a refused resume wrote an event"
ok

# 4. Auto-pause: SN-R2 falls back from 3.0.0; with --max-failures 1
# fleetsecd pauses the rollout at its next evaluation after the report,
# and SN-R3 keeps 2.0.0.
fallback SN-R2
# A paused rollout is no longer evaluated: wait for the pause itself.
for _ in $(seq 150); do
	[ "$(st state)" = paused ] && break
	sleep 0.1
done
[ "$(st state)" = paused ] ||
	fail "the rollout did not pause itself"
acted rollout-pause | grep -q "^fleetsecd .*automatic=1" ||
	fail "no automatic pause event"
[ "$(fwcode SN-R3 v3.img)" = 404 ] || fail "a paused rollout's image was served"
expect 0 status
jq -e '.[0] | .state == "paused" and .failed == 1 and .phases[1].rolled_back == 1
	and .failed_devices == [{"id": "SN-R2", "update": "rolled_back", "running": "2.0.0+0",
		"reason": "the trial boot was not confirmed: the bootloader fell back"}]' \
	out >/dev/null || fail "status after the fallback: $(cat out)"
expect 0 "$F" release status --model thermo
grep -q "PAUSED: too many failures" out &&
	grep -q "failed: SN-R2 (rolled_back, running 2.0.0+0): the trial boot was not confirmed" out ||
	fail "text status after the fallback: $(cat out)"
# Resume keeps the history: the failure is still counted, and no longer
# pauses; SN-R3 is offered 3.0.0 again.
expect 0 "$F" release resume --model thermo --json
jq -e '.action == "resumed" and .version == "3.0.0+0"' out >/dev/null || fail "resume --json: $(cat out)"
expect 0 status
jq -e '.[0] | .state == "active" and .failed == 1 and .failures_forgiven == 1
	and (.failed_devices | length) == 1' out >/dev/null || fail "resume lost the history: $(cat out)"
offered SN-R3 3.0.0+0
ok

# 5. Abort: withdrawn; SN-R1 (runs it), SN-R2 (fell back from it) and
# SN-R3 (was served its manifest) hold it and are named. SN-R4 is served
# the baseline; SN-R3, which would refuse its older manifest, the signed
# "nothing new".
n=$(events)
expect 1 "$F" release abort --model thermo --release 9.9.9
one_line_error "not the one published"
[ "$(events)" = "$n" ] || fail "a refused abort wrote an event"
expect 0 "$F" release abort --model thermo --json
jq -e '.action == "aborted" and ([.devices_holding[].id] == ["SN-R1", "SN-R2", "SN-R3"])' out \
	>/dev/null || fail "abort --json: $(cat out)"
A SN-R4 check >out 2>err || fail "check SN-R4 after the abort: $(cat err)"
grep -q "not newer than the installed 2.0.0+0" out || fail "after the abort SN-R4 got: $(cat out)"
A SN-R3 check >out 2>err || fail "check SN-R3 after the abort: $(cat err)"
grep -q "no release for this device (signed: nothing newer than manifest 12" out ||
	fail "after the abort SN-R3 got: $(cat out)"
[ "$(fwcode SN-R4 v3.img)" = 404 ] && [ "$(fwcode SN-R4 v2.img)" = 200 ] &&
	[ "$(fwcode SN-R3 v3.img)" = 404 ] || fail "after the abort the images served are wrong"
expect 1 "$F" release abort --model thermo
one_line_error "aborted"
expect 1 "$F" release resume --model thermo
one_line_error "aborted"
[ "$(events)" = "$((n + 1))" ] || fail "refusals after the abort wrote events"
expect 0 status
jq -e '.[0].state == "aborted" and .[0].baseline.version == "2.0.0+0"' out >/dev/null ||
	fail "status after the abort: $(cat out)"
ok

# 6. Auto-advance: 4.0.0 in phases canary, 100%, advancing once all of the
# canaries confirmed. An aborted candidate left the baseline 2.0.0 in place.
sign v4
expect 0 PUB v4 --phases canary,100% --advance-after 0 --success-threshold 100%
grep -q "the others keep the baseline 2.0.0+0" out || fail "publish v4: $(cat out)"
TS
A SN-R1 update >/dev/null 2>&1 || fail "update SN-R1 to 4.0.0"
A SN-R1 report >/dev/null 2>&1 || fail "report SN-R1 installed"
evaluated
[ "$(st phase)" = 1 ] ||
	fail "advanced before the canary confirmed"
A SN-R4 check >out 2>err || fail "check SN-R4 in phase 1: $(cat err)"
grep -q "not newer than the installed 2.0.0+0" out || fail "phase 1 reached SN-R4: $(cat out)"
A SN-R3 check >out 2>err || fail "check SN-R3 in phase 1: $(cat err)"
grep -q "nothing newer than manifest 13" out || fail "phase 1 reached SN-R3: $(cat out)"
(cd SN-R1 && "$BOOTSIM" bootenv >/dev/null)
A SN-R1 confirm >/dev/null 2>&1 || fail "confirm SN-R1"
A SN-R1 report >/dev/null 2>&1 || fail "report SN-R1 confirmed"
evaluated
[ "$(st phase)" = 2 ] ||
	fail "the rollout did not advance once the canary confirmed"
acted rollout-advance |
	grep -q "^fleetsecd .*version=4.0.0+0 phase=2 automatic=1" || fail "no automatic advance event"
offered SN-R3 4.0.0+0
offered SN-R4 4.0.0+0
n=$(events)
expect 1 "$F" release advance --model thermo
one_line_error "in its last phase"
[ "$(events)" = "$n" ] || fail "a refused advance wrote an event"
ok

# 7. Every action is an event.
expect 0 "$F" registry events --json
for a in publish rollout-pause rollout-resume rollout-abort rollout-advance; do
	jq -e --arg a "$a" '[.[] | select(.action == $a)] | length > 0' out >/dev/null ||
		fail "no $a event: $(cat out)"
done
ok

# 8. One source of truth for the percentage: a manifest signed for 20%
# refuses another --percent and --phases; without one, 20% is what is
# served and shown.
sign v5 --percent 20
n=$(events)
expect 1 PUB v5 --percent 50
one_line_error "contradicts the manifest's signed rollout.percent 20"
expect 1 PUB v5 --phases 10%,100%
one_line_error "contradicts the manifest's signed rollout.percent 20"
[ "$(events)" = "$n" ] && [ "$(st version)" = "4.0.0+0" ] ||
	fail "a refused publish was stored"
expect 0 PUB v5
grep -q "to 20% of its devices" out || fail "publish v5: $(cat out)"
[ "$(st percent)" = 20 ] || fail "the signed percentage was not taken"
ok

# 9. Usage refusals (exit 2), and phases the library refuses (exit 1).
n=$(events)
expect 2 PUB v5 --phases 10%,100% --percent 10
one_line_error "--phases replaces --percent and --group"
expect 2 PUB v5 --advance-after 1h
one_line_error "need --phases"
expect 2 PUB v5 --phases canary,100% --success-threshold 50
one_line_error "--success-threshold"
expect 1 "$F" release publish --model thermo --bundle r-v4.json --image v4.img --root root.pub \
	--phases 50%,10%
one_line_error "percentages must rise"
expect 1 "$F" release publish --model thermo --bundle r-v4.json --image v4.img --root root.pub \
	--phases 'canary,bad group'
one_line_error "a group name"
expect 1 "$F" release pause --model nothing-here
one_line_error "nothing-here"
expect 2 "$F" release status --count 2
one_line_error "--watch"
[ "$(events)" = "$n" ] || fail "a refusal wrote an event"
ok

# 10. --watch off a terminal: one JSON line per reading.
expect 0 "$F" release status --watch --interval 1 --count 2
[ "$(wc -l <out)" = 2 ] && jq -e '.[0].model == "thermo"' <(head -1 out) >/dev/null ||
	fail "status --watch: $(cat out)"
ok
done_checks
