#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The privacy filter (issue 15) in Debian's real Mosquitto with the fleetsec
# plugin, configured by `fleetsec mqtt config --privacy` and run as it is,
# judged by what clients that are not fleetsec receive (mosquitto_sub, and
# Eclipse Paho for a device that publishes and stays connected):
#  - a field the policy does not allow never reaches another device's
#    subscriber; a location arrives at its grid cell's centre (computed here
#    independently, in Python, by the method docs/PRIVACY.md states), and
#    two jittered fixes arrive as one; a number arrives rounded;
#  - refused, with the broker and the other devices going on: a payload that
#    is not JSON, an oversized one, a retained message where the policy
#    refuses them, a will on a policed topic;
#  - a retained copy under `retain expire` is what a late subscriber gets
#    (filtered) until the expiry, and nothing after it;
#  - the per-model counters file; a bad privacy policy refused by `mqtt
#    config` and kept out by a reload; `fleetsec privacy check` agrees with
#    the broker, and `privacy report` lists the inventory.
. "$(dirname "$0")/lib.sh"
: "${PLUGIN:?set PLUGIN to fleetsec_mosquitto.so}"
F=$FLEETSEC
PY=/usr/bin/python3 # Debian's, which has paho-mqtt
CLIENT="$(cd "$(dirname "$0")" && pwd)/mqtt_client.py"
[ -r "$PLUGIN" ] || fail "no plugin at $PLUGIN (is mosquitto-dev installed?)"
command -v mosquitto >/dev/null || fail "mosquitto is not installed"
cd "$T"

if [ "$(id -u)" -eq 0 ]; then
	BUSER=mosquitto
else
	BUSER=$(id -un)
fi

expect 0 "$F" ca init --name pv
for d in th-1 th-2 th-3; do
	expect 0 "$F" device issue "$d" --keygen --key-out "$d.key" --out "$d.pem" --model thermo
done
expect 0 "$F" ca server-cert localhost --ip 127.0.0.1 --out srv.pem --key-out srv.key
expect 0 "$F" ca client-cert --role backend bk1
PORT=$(rand_port)
mkdir metrics
broker_can_read srv.key metrics

cat >fleet.acl <<'EOF'
[all]
publish devices/%d/telemetry/#
publish devices/%d/status
subscribe devices/%d/telemetry/#
subscribe devices/%d/status
subscribe fleet/notes
[model thermo]
publish fleet/%m/env
subscribe fleet/%m/env
[role backend]
publish fleet/notes
EOF
cat >privacy.policy <<'EOF'
# The test's privacy policy.
[model thermo]
topic fleet/%m/env
allow humidity fw
precision temp 0.5
location lat lon 1200
topic devices/%d/telemetry/#
allow humidity fw
precision temp 0.5
location lat lon 1200
retain expire 3
[all]
topic devices/%d/status
allow state
retain refuse
topic fleet/notes
allow text
EOF
chmod 0644 fleet.acl privacy.policy

# --- mqtt config --privacy: a policy that does not parse is refused.
printf '[model thermo]\ntopic fleet/%%m/env\nlocation lat lon 500\n' >bad.policy
expect 1 "$F" mqtt config --listener "$PORT" --cert srv.pem --key srv.key --acl fleet.acl \
	--privacy bad.policy --plugin "$PLUGIN" --user "$BUSER"
one_line_error "bad.policy:3"
grep -qF "precise geolocation" "$T/err" || fail "bad privacy policy: $(cat "$T/err")"
expect 2 "$F" mqtt config --listener "$PORT" --cert srv.pem --key srv.key \
	--privacy-metrics metrics/x.prom --plugin "$PLUGIN" --user "$BUSER"
if [ "$(id -u)" -eq 0 ]; then
	# The broker's user could not write its counters there.
	mkdir rometrics
	chmod 0755 rometrics
	expect 1 "$F" mqtt config --listener "$PORT" --cert srv.pem --key srv.key --acl fleet.acl \
		--privacy privacy.policy --privacy-metrics rometrics/x.prom --plugin "$PLUGIN" --user "$BUSER"
	one_line_error "cannot create files in $T/rometrics"
fi
expect 0 "$F" mqtt config --listener "$PORT" --bind 127.0.0.1 --cert srv.pem --key srv.key \
	--acl fleet.acl --privacy privacy.policy --privacy-metrics metrics/fleetsec.prom \
	--plugin "$PLUGIN" --user "$BUSER" --out mosquitto.conf
grep -qx "plugin_opt_privacy $T/privacy.policy" mosquitto.conf ||
	fail "config: no plugin_opt_privacy: $(grep plugin mosquitto.conf)"
grep -qx "plugin_opt_privacy_metrics $T/metrics/fleetsec.prom" mosquitto.conf ||
	fail "config: no plugin_opt_privacy_metrics"
ok

mosquitto_start
grep -qF "fleetsec: fleet $FLEETSEC_HOME, policy $T/fleet.acl, privacy $T/privacy.policy" broker.log ||
	fail "plugin not loaded with the privacy policy: $(cat broker.log)"
ok

C=(--cafile "$FLEETSEC_HOME/chain.pem" -h 127.0.0.1 -p "$PORT")
pub() { # pub DEVICE TOPIC PAYLOAD [ARGS...]: QoS 1 with MQTT 5, so a refusal is seen
	local dev=$1 topic=$2 payload=$3
	shift 3
	mosquitto_pub -V mqttv5 -q 1 "${C[@]}" --cert "$dev.pem" --key "$dev.key" -i "$dev" \
		-t "$topic" -m "$payload" "$@"
}
refused() { # refused DEVICE TOPIC PAYLOAD [ARGS...]: the broker answers "not authorized"
	pub "$@" >pub.out 2>&1 || true
	grep -q 'Not authorized' pub.out || fail "a publish by $1 on $2 was not refused: $(cat pub.out)"
	ok
}
accepted() {
	pub "$@" >pub.out 2>&1 || fail "a publish by $1 on $2 failed: $(cat pub.out)"
	grep -q 'Not authorized' pub.out && fail "a publish by $1 on $2 was refused"
	ok
}
# late DEVICE TOPIC: the retained copy a subscriber gets now (exit 27: none).
late() {
	local rc=0
	mosquitto_sub -V mqttv5 "${C[@]}" --cert "$1.pem" --key "$1.key" -i "$1" -t "$2" \
		--retained-only -C 1 -W 2 >late.out 2>&1 || rc=$?
	echo $rc
}
wait_for() { # wait_for FILE PATTERN: up to 5 s
	for _ in $(seq 50); do grep -q -- "$2" "$1" && return 0; sleep 0.1; done
	return 1
}

# th-2 subscribes to the model's shared topic: the other device that must
# never see th-1's raw telemetry. It stays connected through everything.
mosquitto_sub -V mqttv5 "${C[@]}" --cert th-2.pem --key th-2.key -i th-2 -t fleet/thermo/env \
	>sub2.out 2>sub2.err &
SUB2=$!
wait_for broker.log "New client connected .* as th-2 " || fail "th-2 did not connect: $(cat sub2.err)"
sleep 0.3

# --- the allowlist, the location grid and the precision limit
SAMPLE='{"temp":21.37,"humidity":40.2,"owner":"alice","lat":48.858370,"lon":2.294481,"fw":"2.1","ssid":"home-net"}'
JITTER='{"lat":48.858470,"lon":2.294600,"temp":21.2,"owner":"alice"}'
accepted th-1 fleet/thermo/env "$SAMPLE"
accepted th-1 fleet/thermo/env "$JITTER"
wait_for sub2.out '"temp":21' && [ "$(wc -l <sub2.out)" -ge 2 ] || fail "th-2 received: $(cat sub2.out)"
for bad in alice owner ssid home-net 48.85837 2.294481 21.37; do
	grep -qF "$bad" sub2.out && fail "'$bad' reached th-2: $(cat sub2.out)"
done
ok
# The expected cell centre, computed here by the method docs/PRIVACY.md
# states (bands of 180/n degrees at least 1200 m tall on a sphere of radius
# 6371008.8 m; in a band 360/k degrees, each at least 1200 m wide at the
# band's poleward edge; the centre rounded to 1e-6 degree).
read -r ELAT ELON < <($PY - <<'EOF'
import math
R, cell, lat, lon = 6371008.8, 1200.0, 48.858370, 2.294481
mpd = R * math.pi / 180
nb = max(1, math.floor(180 / (cell / mpd)))
band = 180 / nb
i = min(nb - 1, math.floor((lat + 90) / band))
lo, hi = -90 + i * band, -90 + (i + 1) * band
edge = min(90, max(abs(lo), abs(hi)))
nk = max(1, math.floor(360 / (cell / (mpd * math.cos(math.radians(edge))))))
w = 360 / nk
j = min(nk - 1, math.floor((lon + 180) / w))
print("%.6f %.6f" % (round((lo + band / 2) * 1e6) / 1e6, round((-180 + (j + 0.5) * w) * 1e6) / 1e6))
EOF
)
first=$(sed -n 1p sub2.out)
second=$(sed -n 2p sub2.out)
jq -e --argjson la "$ELAT" --argjson lo "$ELON" \
	'.lat == $la and .lon == $lo and .temp == 21.5 and .humidity == 40.2 and .fw == "2.1" and (keys | length) == 5' \
	<<<"$first" >/dev/null || fail "th-2 got '$first', expected lat $ELAT lon $ELON temp 21.5"
jq -e --argjson la "$ELAT" --argjson lo "$ELON" '.lat == $la and .lon == $lo and .temp == 21' \
	<<<"$second" >/dev/null || fail "the jittered fix arrived as '$second'"
ok
# `fleetsec privacy check` says what the broker did.
printf '%s' "$SAMPLE" >sample.json
expect 0 "$F" privacy check privacy.policy sample.json --model thermo --topic fleet/thermo/env --json
[ "$(jq -r .payload "$T/out")" = "$first" ] || fail "privacy check: $(jq -r .payload "$T/out") vs the broker's $first"
[ "$(jq -c .removed_fields "$T/out")" = '["owner","ssid"]' ] || fail "privacy check: $(cat "$T/out")"
ok
expect 0 "$F" privacy check privacy.policy sample.json
grep -q '^filtered: 2 fields removed (owner, ssid), 1 rounded, 1 location coarsened' "$T/out" ||
	fail "privacy check: $(cat "$T/out")"
expect 1 "$F" privacy check bad.policy sample.json
one_line_error "bad.policy:3"
expect 1 "$F" privacy check privacy.policy nosuch.json
one_line_error nosuch.json
expect 2 "$F" privacy check privacy.policy
expect 1 "$F" privacy check privacy.policy sample.json --model 'bad/model'
one_line_error 'bad/model'

# --- refusals: the broker and th-2 carry on.
n=$(wc -l <sub2.out)
refused th-1 fleet/thermo/env 'temp=21.5 owner=alice'
wait_for broker.log "fleetsec: privacy: dropped a message from th-1 on fleet/thermo/env: not JSON" ||
	fail "no log line for the non-JSON payload: $(grep fleetsec broker.log | tail -3)"
refused th-1 fleet/thermo/env '["alice", 1]'
head -c 70000 /dev/zero | tr '\0' ' ' | sed 's/^ /{/; s/ $/}/' >big.json
mosquitto_pub -V mqttv5 -q 1 "${C[@]}" --cert th-1.pem --key th-1.key -i th-1 \
	-t fleet/thermo/env -f big.json >pub.out 2>&1 || true
grep -q 'Not authorized' pub.out || fail "an oversized payload was not refused: $(cat pub.out)"
grep -q 'payload over 65536 bytes' broker.log || fail "no log line for the oversized payload"
ok
# A retained message where the policy refuses them: not stored, while the
# same payload, not retained, goes out filtered.
refused th-1 devices/th-1/status '{"state":"on","owner":"alice"}' -r
[ "$(late th-1 devices/th-1/status)" -eq 27 ] || fail "a refused retained message was stored: $(cat late.out)"
ok
# A will on a policed topic: Mosquitto would publish it without the filter.
mosquitto_sub "${C[@]}" --cert th-3.pem --key th-3.key -i th-3 -t 'devices/th-3/status' \
	--will-topic fleet/thermo/env --will-payload '{"owner":"will-secret"}' >/dev/null 2>&1 &
W=$!
wait_for broker.log "New client connected .* as th-3 " || fail "th-3 did not connect"
sleep 0.3
kill -9 $W
wait $W 2>/dev/null || true
accepted th-1 fleet/thermo/env '{"fw":"after-refusals"}'
wait_for sub2.out after-refusals || fail "th-2 no longer receives: $(cat sub2.out)"
grep -q 'will-secret\|alice' sub2.out && fail "a refused message reached th-2: $(cat sub2.out)"
[ "$(wc -l <sub2.out)" -eq $((n + 1)) ] || fail "th-2 got more than the one good message: $(cat sub2.out)"
kill -0 $SUB2 2>/dev/null || fail "th-2 was disconnected: $(cat sub2.err)"
ok

# --- retained copies under `retain expire 3`
accepted th-1 devices/th-1/telemetry/env '{"temp":19.9,"owner":"alice","fw":"r"}' -r
[ "$(late th-1 devices/th-1/telemetry/env)" -eq 0 ] || fail "no retained copy: $(cat late.out)"
jq -e '.temp == 20 and .fw == "r" and (has("owner") | not)' late.out >/dev/null ||
	fail "the retained copy is not the filtered message: $(cat late.out)"
ok
wait_for broker.log "retained message on devices/th-1/telemetry/env expired" ||
	sleep 1 # (5 s waited already: the check below says what happened)
[ "$(late th-1 devices/th-1/telemetry/env)" -eq 27 ] ||
	fail "the retained copy outlived its 3 s: $(cat late.out)"
ok

# --- a Paho device publishes and keeps going; counters per model.
mkfifo p1.in
$PY "$CLIENT" 127.0.0.1 "$PORT" "$FLEETSEC_HOME/chain.pem" th-1.pem th-1.key th-1 \
	'devices/th-1/telemetry/#' 60 <p1.in >p1.log 2>&1 &
P1=$!
exec 7>p1.in
wait_for p1.log 'subscribed 1' || fail "paho th-1: $(cat p1.log)"
echo 'devices/th-1/telemetry/x {"humidity":55,"owner":"paho-secret"}' >&7
echo 'devices/th-1/telemetry/x not-json' >&7
echo 'devices/th-1/telemetry/x {"humidity":56}' >&7
wait_for p1.log '"humidity":56' || fail "paho th-1 did not receive its telemetry: $(cat p1.log)"
grep -q 'paho-secret\|not-json' p1.log && fail "a removed field or refused payload reached paho: $(cat p1.log)"
grep -q 'disconnected' p1.log && fail "a refused payload disconnected the device: $(cat p1.log)"
ok
wait_for metrics/fleetsec.prom 'outcome="dropped"' || fail "no metrics file: $(ls -l metrics)"
sleep 1.5
prom=metrics/fleetsec.prom
dropped=$(sed -n 's/^fleetsec_mqtt_privacy_messages_total{model="thermo",outcome="dropped"} //p' $prom)
removed=$(sed -n 's/^fleetsec_mqtt_privacy_fields_removed_total{model="thermo"} //p' $prom)
# Dropped: 2 non-JSON, the oversized, the retained status, paho's non-JSON.
[ "$dropped" -eq 5 ] || fail "dropped counter $dropped: $(cat $prom)"
# Removed: owner and ssid, then owner in the jittered, the retained and
# paho's messages.
[ "$removed" -eq 5 ] || fail "removed counter $removed: $(cat $prom)"
ok

# --- SIGHUP: a privacy policy that no longer parses keeps the old one.
cp privacy.policy good.policy
printf 'nonsense\n' >>privacy.policy
kill -HUP $BROKER
wait_for broker.log 'fleetsec: reload kept the old policy' || fail "a bad privacy policy was not reported"
accepted th-1 fleet/thermo/env '{"owner":"after-reload","fw":"z"}'
wait_for sub2.out '"fw":"z"' || fail "th-2 no longer receives after the reload"
grep -q after-reload sub2.out && fail "the reload dropped the privacy filter"
ok
cp good.policy privacy.policy

# --- a backend's message is no device's data: the privacy policy, which is
# per model, leaves it alone even on a topic an [all] block polices (here a
# plain-text note, which the filter would drop as not JSON).
mosquitto_sub -V mqttv5 "${C[@]}" --cert th-3.pem --key th-3.key -i th-3 -t fleet/notes -C 1 -W 5 \
	>notes.out 2>notes.err &
NOTES=$!
wait_for broker.log "th-3" || true
sleep 0.5
mosquitto_pub -V mqttv5 -q 1 "${C[@]}" --cert bk1.pem --key bk1.key -i backend:bk1 -t fleet/notes \
	-m 'restart at 03:00' >pub.out 2>&1 || fail "the backend's note: $(cat pub.out)"
wait $NOTES || true
[ "$(cat notes.out)" = 'restart at 03:00' ] || fail "th-3 got '$(cat notes.out)' for the backend's note"
ok

# --- the inventory
expect 0 "$F" privacy report --policy privacy.policy
grep -q '^model thermo' "$T/out" && grep -q 'temp  *rounded to a multiple of 0.5' "$T/out" &&
	grep -q 'lat  *latitude, 1200 m grid cell' "$T/out" && grep -q 'GDPR Art. 5(1)(c)' "$T/out" &&
	grep -q 'ETSI EN 303 645' "$T/out" || fail "privacy report: $(cat "$T/out")"
expect 0 "$F" privacy report --policy privacy.policy --json
jq -e '.models[] | select(.model == "thermo") | .topics[1].retained == "expire" and .topics[1].retained_expiry_s == 3' \
	"$T/out" >/dev/null || fail "privacy report --json: $(cat "$T/out")"
expect 0 "$F" privacy report --json
jq -e '.models[0].model == "thermo" and .models[0].unfiltered == true' "$T/out" >/dev/null ||
	fail "privacy report without a policy: $(cat "$T/out")"
expect 1 "$F" privacy report --policy bad.policy
one_line_error "bad.policy:3"

kill -0 $BROKER 2>/dev/null || fail "the broker died: $(tail -5 broker.log)"
kill -0 $SUB2 2>/dev/null || fail "th-2 was disconnected"
exec 7>&-
kill $SUB2 $P1 2>/dev/null || true
kill -TERM $BROKER
wait $BROKER 2>/dev/null || true
grep -qi 'ERROR: AddressSanitizer\|runtime error' broker.log && fail "sanitizer: $(grep -i -A5 'sanitizer\|runtime error' broker.log)"
echo "mqtt_privacy: $checks checks passed"
