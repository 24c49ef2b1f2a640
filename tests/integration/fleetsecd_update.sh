#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Zero-touch end to end through fleetsecd: a device with only its factory
# bootstrap credential enrols (fleetsec-agent enroll), then updates 1 -> 2
# from the release the operator published (GET /v1/update, GET
# /v1/firmware/SHA256 with Range), through a trial boot and confirm. Also:
# nothing published (204), a staged rollout that excludes and then includes
# the device, Range answers checked with curl, and the device API refused to
# bootstrap credentials.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}" "${BOOTSIM:?}"
cd "$T"
F=$FLEETSEC

# A 30-day CRL: the agent checks fleetsecd's certificate against it, and
# the frozen-device checks below run the agent's clock 8 days ahead.
"$F" ca init --name "Update Fleet" --crl-days 30 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
# Started before the manufacturer CA is allowed: it must pick that up live.
fleetsecd_bounds_off
# Rollouts are evaluated on fleetsecd's timer: every second here.
echo 'rollout_tick = 1' >>"$FLEETSEC_HOME/fleetsecd.conf"
fleetsecd_start
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr issue SN-7 --dir mfr --key-out boot.key --out boot.pem 2>/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model thermo >/dev/null
device_slots
online_key
sign_image v2 2.0.0 2

agent_conf "$URL" bootstrap_key="$T/boot.key" bootstrap_cert="$T/boot.pem"
mkdir state
A() { "$AGENT" -c agent.conf "$@"; }

# A first attempt whose answer was lost: the agent had written its pending
# key, the server enrolled the device, the answer never arrived (here curl
# makes that request and drops the answer). The agent's next attempt asks
# with the same key and gets the certificate again.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dev.key.pending 2>/dev/null
chmod 600 dev.key.pending
cp dev.key.pending pending.orig
openssl req -new -key dev.key.pending -subj /CN=x -outform DER | openssl base64 >lost.b64
curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert boot.pem --key boot.key \
	--data-binary @lost.b64 -o /dev/null "$URL/.well-known/est/simpleenroll"
[ "$(reg '[.[] | select(.id == "SN-7")] | length' device list)" = 1 ] || fail "lost enrollment"
expect 0 A enroll
grep -q "enrolled as SN-7" out || fail "enroll: $(cat out)"
cmp -s dev.key pending.orig && [ ! -e dev.key.pending ] || fail "the retry did not use the pending key"
[ "$(reg length registry certs)" = 1 ] || fail "the retry issued again"
[ "$(reg .model device show SN-7)" = thermo ] ||
	fail "the allowlist's model was not recorded"
ok

# Renewal: not due in a fresh certificate; forced, a new key and
# certificate, and the old certificate is refused from then on.
expect 0 A renew
grep -q "not due: SN-7's certificate renews from" out || fail "renew: $(cat out)"
cp dev.pem old.pem
cp dev.key old.key
expect 0 A renew --force --json
grep -q '"renewed": true' out || fail "renew --force: $(cat out)"
! cmp -s dev.pem old.pem && ! cmp -s dev.key old.key || fail "renewal kept the certificate or key"
openssl verify -CAfile "$FLEETSEC_HOME/root.pem" -untrusted "$FLEETSEC_HOME/issuing.pem" dev.pem \
	>/dev/null || fail "renewed certificate"
[ "$(openssl x509 -in dev.pem -noout -subject)" = "$(openssl x509 -in old.pem -noout -subject)" ] ||
	fail "renewal changed the subject"
code=$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert old.pem --key old.key -o out \
	-w '%{http_code}' "$URL/v1/update")
[ "$code" = 403 ] && grep -q superseded out || fail "the superseded certificate still works: $code"
ok
# A renewal cut between its two writes (new certificate, old key, new key
# still pending) is finished by the next command.
cp dev.key new.key
mv dev.key dev.key.pending
cp old.key dev.key
expect 1 A check # nothing published yet: refused below, but the renewal is finished first
[ ! -e dev.key.pending ] && cmp -s dev.key new.key || fail "the cut renewal was not finished"

# Nothing published yet: an unsigned 204 is no answer (anyone on the path
# can say it), and is refused; past max_silence the device is frozen, says
# so in its report, and the audit flags it.
expect 1 A check
grep -q "unsigned answer: the server has no release for this device" err ||
	fail "check with nothing published: $(cat err)"
expect 3 FT -f +8d "$AGENT" -c agent.conf check
grep -q "frozen" err || fail "not frozen: $(cat err)"
expect 0 FT -f +8d "$AGENT" -c agent.conf report
"$FLEETSEC" audit fleet --json >audit.json || true
jq -e '[.findings[] | select(.check == "FLEET-FROZEN" and .subject == "SN-7")] | length == 1' \
	audit.json >/dev/null || fail "no FLEET-FROZEN for SN-7: $(cat audit.json)"
# The operator signs "nothing new" (the online key, not fleetsecd's): the
# device hears a signed answer again, reports fresh, and the audit is quiet.
expect 0 "$F" release timestamp --model thermo --key online.pem --delegation deleg.json \
	--root root.pub
expect 0 A check
grep -q "no update: the server has no release for this device (signed: nothing published" out ||
	fail "check with a signed statement: $(cat out)"
expect 0 A report
"$FLEETSEC" audit fleet --json >audit.json || true
jq -e '[.findings[] | select(.check == "FLEET-FROZEN")] | length == 0' audit.json >/dev/null ||
	fail "FLEET-FROZEN after a fresh statement: $(cat audit.json)"
ok

# Publishing verifies the bundle as devices would, and the image against it.
"$F" release create --model thermo --image v2.img --chunk-size 65536 --sequence 5 \
	--out manifest.json
grep -q "/v1/firmware/$(sha256sum v2.img | cut -c1-64)" manifest.json ||
	fail "release create did not default the URL to fleetsecd's"
"$F" release sign --key online.pem --delegation deleg.json manifest.json --out release.json
n=$(reg length release status)
expect 1 "$F" release publish --model thermo --bundle release.json --image v1.img --root root.pub
one_line_error "not the image the release describes"
expect 1 "$F" release publish --model thermo --bundle release.json --image v2.img --root fw.pub
expect 1 "$F" release publish --model other --bundle release.json --image v2.img --root root.pub
[ "$(reg length release status)" = "$n" ] || fail "a refused publish was stored"
ok

# A staged rollout at 0% excludes every device; at 100% it reaches SN-7.
expect 0 "$F" release publish --model thermo --bundle release.json --image v2.img --root root.pub \
	--percent 0
expect 0 "$F" release timestamp --model thermo --key online.pem --delegation deleg.json \
	--root root.pub
expect 0 A check
grep -q "no release for this device (signed: nothing newer than manifest 5" out ||
	fail "0% rollout reached the device: $(cat out)"
# The firmware follows the rollout: outside it, the image is not the
# device's to download, even knowing its hash.
fwcode() { curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert dev.pem --key dev.key -o /dev/null \
	-w '%{http_code}' "$URL/v1/firmware/$(sha256sum v2.img | cut -c1-64)"; }
[ "$(fwcode)" = 404 ] || fail "an image outside the rollout (0%) was served"
# A release for the canary group reaches SN-7 only once it is a canary.
expect 0 "$F" release publish --model thermo --bundle release.json --image v2.img --root root.pub \
	--group canary
expect 0 A check
grep -q "no release for this device" out || fail "a canary release reached a non-canary: $(cat out)"
[ "$(fwcode)" = 404 ] || fail "a canary image was served to a non-canary"
expect 1 "$F" device set SN-7 --group 'bad group'
expect 0 "$F" device set SN-7 --group canary
expect 0 A check
grep -q "update 1.0.0+0 -> 2.0.0+0 available" out || fail "the canary got nothing: $(cat out)"
[ "$(fwcode)" = 200 ] || fail "the canary could not download its image"
expect 0 "$F" device set SN-7 --group ''
expect 0 "$F" release publish --model thermo --bundle release.json --image v2.img --root root.pub \
	--json
grep -q '"percent": 100' out || fail "publish --json: $(cat out)"

# The image with Range, as curl sees it.
SHA=$(sha256sum v2.img | cut -c1-64)
SIZE=$(stat -c %s v2.img)
curl_dev() { curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert dev.pem --key dev.key "$@"; }
code=$(curl_dev -r 100-199 -o part -D hdr -w '%{http_code}' "$URL/v1/firmware/$SHA")
[ "$code" = 206 ] && grep -qi "^content-range: bytes 100-199/$SIZE" hdr &&
	cmp -s part <(slice v2.img 100 100) || fail "range 100-199: $code $(cat hdr)"
ok
code=$(curl_dev -r "$SIZE-" -o /dev/null -D hdr -w '%{http_code}' "$URL/v1/firmware/$SHA")
[ "$code" = 416 ] && grep -qi "^content-range: bytes \*/$SIZE" hdr || fail "range past the end: $code"
ok
code=$(curl_dev -o whole -w '%{http_code}' "$URL/v1/firmware/$SHA")
[ "$code" = 200 ] && cmp -s whole v2.img || fail "whole image: $code"
ok
[ "$(curl_dev -o /dev/null -w '%{http_code}' "$URL/v1/firmware/../registry.db")" = 404 ] ||
	fail "a path outside the firmware store was served"
ok
# Another model's published image is not this device's to read.
"$F" release create --model other --image v1.img --sequence 6 --out m-other.json
"$F" release sign --key online.pem --delegation deleg.json m-other.json --out r-other.json
expect 0 "$F" release publish --model other --bundle r-other.json --image v1.img --root root.pub
[ "$(curl_dev -o /dev/null -w '%{http_code}' "$URL/v1/firmware/$(sha256sum v1.img | cut -c1-64)")" = 404 ] ||
	fail "a device read another model's image"
ok
code=$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert boot.pem --key boot.key -o out \
	-w '%{http_code}' "$URL/v1/update")
[ "$code" = 403 ] && grep -q "needs an operational certificate" out ||
	fail "a bootstrap credential reached the device API: $code"
ok

# 1 -> 2 through fleetsecd: trial boot, confirm.
expect 0 A update
grep -q installed out || fail "update: $(cat out)"
"$BOOTSIM" bootenv | grep -q "booting slot b (trial boot)" || fail "no trial boot of b"
expect 0 A confirm
expect 0 A status --json
grep -q '"version": "2.0.0+0"' out && grep -q '"counter": 2' out || fail "status: $(cat out)"
grep -q "GET /v1/firmware/$SHA peer=SN-7 -> 206" daemon.log || fail "no ranged download in the log"
ok

# The confirm reported itself (POST /v1/status): the registry knows what
# SN-7 runs and that its update succeeded.
[ "$(reg '.state | "\(.fw_version) \(.security_counter) \(.update_outcome)"' device show SN-7)" = \
	"2.0.0+0 2 success" ] || fail "status not recorded: $("$FLEETSEC" device show SN-7 --json | jq -c .state)"
# No debug-port source configured yet: the audit says so.
"$FLEETSEC" audit fleet --json >audit.json || true
jq -e '[.findings[] | select(.check == "FLEET-DEBUG-UNREPORTED" and .subject == "SN-7")] | length == 1' \
	audit.json >/dev/null || fail "no FLEET-DEBUG-UNREPORTED for SN-7: $(cat audit.json)"
ok
# The debug ports' state, from a file (an eFuse read on real hardware),
# then from a command; the audit flags the unlocked JTAG.
printf 'jtag = unlocked\nuart = locked\n' >debug-state
cp agent.conf agent.conf.nodebug
echo "debug_state = $T/debug-state" >>agent.conf
expect 0 A report
[ "$(reg '.state | "\(.debug_jtag) \(.debug_uart)"' device show SN-7)" = "unlocked locked" ] || fail "debug state not recorded"
"$FLEETSEC" audit fleet --json >audit.json || true
jq -e '[.findings[] | select(.check == "FLEET-DEBUG-UNLOCKED" and .subject == "SN-7")] | length == 1' \
	audit.json >/dev/null || fail "unlocked JTAG not flagged: $(cat audit.json)"
ok
cp agent.conf.nodebug agent.conf
echo "debug_state_cmd = printf 'jtag = locked\\nuart = locked\\n'" >>agent.conf
expect 0 A report
"$FLEETSEC" audit fleet --json >audit.json || true
jq -e '[.findings[] | select((.check | startswith("FLEET-DEBUG")) and .subject == "SN-7")]
	| length == 0' audit.json >/dev/null || fail "a locked device is still flagged"
# A source that says something else is refused, naming it.
cp agent.conf.nodebug agent.conf
echo "debug_state_cmd = echo 'jtag = maybe'; echo 'uart = locked'" >>agent.conf
expect 1 A report
one_line_error "debug_state_cmd"
# The command runs as one sh -c argument, without a shell built around it:
# its quotes reach sh as written, and its stderr is dropped.
cp agent.conf.nodebug agent.conf
echo "debug_state_cmd = echo \"it's\" >&2; printf 'jtag = locked\\nuart = locked\\n'" >>agent.conf
expect 0 A report
[ ! -s "$T/err" ] || fail "the command's stderr reached the agent's: $(cat "$T/err")"
# A command that fails, says too much, or hangs is refused, and a hung one
# is killed with what it started.
cp agent.conf.nodebug agent.conf
echo "debug_state_cmd = exit 3" >>agent.conf
expect 1 A report
one_line_error "debug_state_cmd: it failed (exit status 3)"
cp agent.conf.nodebug agent.conf
echo "debug_state_cmd = yes 'jtag = locked'" >>agent.conf
expect 1 A report
one_line_error "debug_state_cmd: more than 4096 bytes"
cp agent.conf.nodebug agent.conf
echo "debug_state_cmd = sleep 97.25; echo 'jtag = locked'" >>agent.conf
expect 1 A report
one_line_error "debug_state_cmd: no answer within 10 s"
for c in /proc/[0-9]*/cmdline; do { tr '\0' ' ' <"$c" && echo; } 2>/dev/null || true; done >procs
! grep -qx 'sleep 97.25 ' procs || fail "the hung command was left running"
ok
# A command that answers at once but leaves a child in the background (its
# output elsewhere, so the answer ends): the child ends with the command.
cp agent.conf.nodebug agent.conf
echo "debug_state_cmd = sleep 97.5 >/dev/null 2>&1 & printf 'jtag = locked\\nuart = locked\\n'" \
	>>agent.conf
expect 0 A report
for c in /proc/[0-9]*/cmdline; do { tr '\0' ' ' <"$c" && echo; } 2>/dev/null || true; done >procs
! grep -qx 'sleep 97.5 ' procs || fail "the command's background child was left running"
ok
cp agent.conf.nodebug agent.conf
ok
expect 0 A report
status_post() { # status_post BODY: the HTTP status of a report with that body
	curl_dev -o out -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$1" \
		"$URL/v1/status"
}
[ "$(status_post '{"version":"2.0.0","security_counter":2,"update":"rolled_back"}')" = 200 ] ||
	fail "a valid report was refused: $(cat out)"
[ "$(reg .state.update_outcome device show SN-7)" = failure ] ||
	fail "a rollback was not recorded as a failure"
for bad in 'not json' '{"version":"2.0.0"}' '{"version":"two","security_counter":1}' \
	'{"version":"2.0.0","security_counter":-1}' '{"version":"2.0.0","security_counter":1,"x":1}' \
	'{"version":"2.0.0","security_counter":1,"update":"exploded"}' \
	'{"version":"2.0.0","version":"3.0.0","security_counter":1}' \
	'{"version":"2.0.0","security_counter":1,"jtag":"open","uart":"locked"}' \
	'{"version":"2.0.0","security_counter":1,"jtag":"locked"}' \
	'{"version":"2.0.0","security_counter":1,"update":"failed","image":"ABCD"}' \
	"{\"version\":\"2.0.0\",\"security_counter\":1,\"update\":\"failed\",\"image\":\"$(printf 'A%.0s' $(seq 64))\"}" \
	'{"version":"2.0.0","security_counter":1,"update":"installed","pending":"next"}'; do
	[ "$(status_post "$bad")" = 400 ] || fail "report '$bad' was not refused: $(cat out)"
	ok
done

# release status: the outcomes reported for the image and the patch
# coverage. A rollout pauses itself once failures reach --max-failures.
expect 0 "$F" release status --json
jq -e '.[] | select(.model == "thermo") | .devices == 1 and .reported == 1 and .failed == 1
	and .paused == false and .coverage == [{"security_counter": 2, "devices": 1}]' out \
	>/dev/null || fail "release status: $(cat out)"
expect 2 "$F" release publish --model thermo --bundle release.json --image v2.img --root root.pub \
	--max-failures 0
expect 2 "$F" release publish --model thermo --bundle release.json --image v2.img --root root.pub \
	--max-failures 150%
sleep 1 # the failure above is now before the new publication
expect 0 "$F" release publish --model thermo --bundle release.json --image v2.img --root root.pub \
	--max-failures 1
[ "$(curl_dev -o /dev/null -w '%{http_code}' "$URL/v1/update")" = 200 ] ||
	fail "a fresh rollout was paused by an older failure"
[ "$(status_post '{"version":"2.0.0","security_counter":2,"update":"failed","reason":"boot"}')" = 200 ] ||
	fail "failure report refused"
# The pause comes at fleetsecd's next rollout evaluation, not at the report.
for _ in $(seq 150); do
	[ "$(sql "SELECT state FROM published WHERE model = 'thermo'")" = paused ] &&
		break
	sleep 0.1
done
[ "$(curl_dev -o upd.json -w '%{http_code}' "$URL/v1/update")" = 200 ] &&
	jq -e '.timestamp' upd.json >/dev/null || fail "the rollout did not pause at its failure threshold"
[ "$(curl_dev -o /dev/null -w '%{http_code}' "$URL/v1/firmware/$SHA")" = 404 ] ||
	fail "a paused rollout's image was served"
grep -q "rollout of 2.0.0+0 paused: 1 failures reported" daemon.log || fail "no pause in the log"
expect 0 "$F" release status
grep -q "PAUSED" out || fail "release status does not show the pause: $(cat out)"
ok

# The daemon: a round at once, then every interval; SIGTERM ends it cleanly.
"$AGENT" -c agent.conf daemon --interval 1 >daemon.out 2>daemon.err &
dpid=$!
for _ in $(seq 100); do
	[ "$(grep -c "no release for this device" daemon.out 2>/dev/null)" -ge 2 ] && break
	sleep 0.1
done
kill -TERM "$dpid"
wait "$dpid" || fail "the daemon did not exit cleanly: $(cat daemon.err)"
[ "$(grep -c "no release for this device" daemon.out)" -ge 2 ] ||
	fail "the daemon did not run its rounds: $(cat daemon.out daemon.err)"
grep -q "daemon: stopping" daemon.err || fail "no stop message"
ok

# SIGTERM drains: a request in flight (a slow 12 kB upload) still gets its
# answer, new clients are refused at once, and the server exits cleanly.
head -c 12000 /dev/zero | tr '\0' 'A' >slow-body
curl_dev --limit-rate 3k -o /dev/null -w '%{http_code}' --data-binary @slow-body \
	"$URL/.well-known/est/simplereenroll" >slow-status &
slow=$!
sleep 1
kill -TERM "$FLEETSECD_PID"
sleep 0.3
got=0
curl_dev --max-time 5 -o /dev/null "$URL/v1/update" 2>/dev/null || got=$?
[ "$got" = 7 ] || fail "a new connection during the drain got curl status $got, not 7 (refused)"
wait "$slow" || fail "the request in flight was cut by SIGTERM"
[ "$(cat slow-status)" = 400 ] || fail "the request in flight got HTTP $(cat slow-status)"
wait "$FLEETSECD_PID" || fail "fleetsecd did not exit cleanly after draining"
grep -q "stopping: draining 1 connection" daemon.log ||
	fail "no drain message: $(grep stopping daemon.log)"
ok
done_checks
