#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Mosquitto plugin (issue 15) in Debian's real broker, configured by
# `fleetsec mqtt config` and run as it is (dropping to the mosquitto user
# when the test runs as root), with clients that are not fleetsec:
# mosquitto_pub/mosquitto_sub and Eclipse Paho (python3-paho-mqtt).
#  - who connects: a device with its current certificate and its own client
#    ID; refused: a revoked device, a superseded certificate, another
#    device's client ID, a bootstrap certificate, no certificate;
#  - what it may do: the default policy and a policy file, $SYS, $CONTROL,
#    '#' and '+' over other devices refused; a new group applies at once;
#  - revocation: a connected device is dropped (the latency is printed),
#    its reconnect refused, and another device stays connected throughout;
#  - SIGHUP reloads the policy; a bad policy keeps the old one;
#  - `fleetsec mqtt config` refuses what the broker could not read, and
#    `fleetsec mqtt explain` agrees with the broker.
. "$(dirname "$0")/lib.sh"
: "${PLUGIN:?set PLUGIN to fleetsec_mosquitto.so}"
F=$FLEETSEC
PY=/usr/bin/python3 # Debian's, which has paho-mqtt
CLIENT="$(cd "$(dirname "$0")" && pwd)/mqtt_client.py"
[ -r "$PLUGIN" ] || fail "no plugin at $PLUGIN (is mosquitto-dev installed?)"
command -v mosquitto >/dev/null || fail "mosquitto is not installed"
cd "$T"

# The broker drops to its own user when started as root: it must reach the
# home (search only) and read the registry, the chain and its key.
if [ "$(id -u)" -eq 0 ]; then
	BUSER=mosquitto
else
	BUSER=$(id -un)
fi

expect 0 "$F" ca init --name mq
for d in dev-1 dev-2 dev-k dev-ok dev-r dev-s dev-t; do
	expect 0 "$F" device issue "$d" --keygen --key-out "$d.key" --out "$d.pem" --model thermo
done
expect 0 "$F" device issue cam-1 --keygen --key-out cam-1.key --out cam-1.pem --model cam
expect 0 "$F" device revoke dev-r
# dev-s gets a new certificate: the old one is superseded.
mv dev-s.pem dev-s.old.pem
mv dev-s.key dev-s.old.key
expect 0 "$F" device issue dev-s --reissue --keygen --key-out dev-s.key --out dev-s.pem --model thermo
# dev-t reported a tamper event through its current certificate: the row
# fleetsecd's /v1/tamper writes (tamper_report.sh tests that path), planted
# with sqlite3.
serial=$("$F" device show dev-t --json | jq -r .serial)
sql "INSERT INTO device_tamper VALUES('dev-t', 1796000000, \
	1796000000, 'case opened', '$serial', '{}')" || fail "could not plant the tamper row"
expect 0 "$F" ca server-cert localhost --ip 127.0.0.1 --out srv.pem --key-out srv.key
# A manufacturer's bootstrap certificate.
expect 0 "$F" mfr init --name acme --dir mfr
expect 0 "$F" mfr issue SN-1 --dir mfr --keygen --key-out boot.key --out boot.pem

PORT=$(rand_port)
broker_can_read srv.key

# --- fleetsec mqtt config: what the broker could not read is refused.
if [ "$(id -u)" -eq 0 ]; then
	chmod 0600 srv.key
	expect 1 "$F" mqtt config --listener "$PORT" --cert srv.pem --key srv.key --plugin "$PLUGIN" --user "$BUSER"
	one_line_error "srv.key"
	[ ! -e mosquitto.conf ] || fail "a refused config wrote a file"
	chmod 0640 srv.key
fi
expect 2 "$F" mqtt config --cert srv.pem --key srv.key --plugin "$PLUGIN"
printf '[all]\npublish devices/#\n' >bad.acl
expect 1 "$F" mqtt config --listener "$PORT" --cert srv.pem --key srv.key --acl bad.acl --plugin "$PLUGIN" --user "$BUSER"
one_line_error "bad.acl:2"
grep -qF "other devices' topics" "$T/err" || fail "bad policy reason: $(cat "$T/err")"
printf '[all]\npublish $SYS/x/%%d\n' >bad.acl
expect 1 "$F" mqtt explain dev-1 publish devices/dev-1/status --acl bad.acl
one_line_error "bad.acl:2"

cat >fleet.acl <<'EOF'
# The test's policy: the default, a device reading its own telemetry back,
# and a model and a group rule.
[all]
publish devices/%d/telemetry/#
publish devices/%d/status
subscribe devices/%d/cmd/#
subscribe devices/%d/telemetry/#
[model thermo]
subscribe fleet/%m/broadcast
[group lab]
publish lab/%d/debug
[model thermo]
publish fleet/%m/lastwill
subscribe fleet/%m/lastwill
EOF
chmod 0644 fleet.acl
expect 0 "$F" mqtt config --listener "$PORT" --bind 127.0.0.1 --cert srv.pem --key srv.key \
	--acl fleet.acl --plugin "$PLUGIN" --user "$BUSER" --out mosquitto.conf
grep -qx 'require_certificate true' mosquitto.conf || fail "config: no require_certificate"
grep -qx 'use_identity_as_username false' mosquitto.conf || fail "config: identity as username"
grep -q '^allow_anonymous true' mosquitto.conf && fail "config allows anonymous clients"
[ "$(grep -c '^listener' mosquitto.conf)" -eq 1 ] || fail "config: not one listener"
ok

mosquitto_start
grep -q 'fleetsec: fleet' broker.log || fail "plugin not loaded: $(cat broker.log)"
ok
# On PostgreSQL the plugin follows the registry's change feed (LISTEN, then
# the log past what it knew), not the data version at every tick: seen by
# the server itself, on the only client of this fleet's database that runs.
if [ -n "${FSEC_TEST_PG:-}" ]; then
	n=$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND
		(query LIKE 'LISTEN %' OR query LIKE 'SELECT coalesce(max(seq)%')")
	[ "$n" -ge 1 ] || fail "the plugin does not listen on PostgreSQL: $(sql \
		"SELECT query FROM pg_stat_activity WHERE datname = current_database()")"
	ok
fi

C=(--cafile "$FLEETSEC_HOME/chain.pem" -h 127.0.0.1 -p "$PORT")
pub() { # pub DEVICE[:CLIENTID] TOPIC: a QoS 1 publish with MQTT 5, so a denial is seen
	local dev=${1%%:*} id=${1#*:}
	mosquitto_pub -V mqttv5 -q 1 "${C[@]}" --cert "$dev.pem" --key "$dev.key" -i "$id" -t "$2" -m "${3:-x}"
}
conn() { # conn DEVICE:CLIENTID: connect and publish with MQTT 3.1.1 (a refused CONNACK exits 5)
	local dev=${1%%:*} id=${1#*:}
	mosquitto_pub "${C[@]}" --cert "$dev.pem" --key "$dev.key" -i "$id" -t "devices/$id/status" -m x
}
sub_denied() { # sub_denied DEVICE FILTER: the broker refuses the subscription
	mosquitto_sub "${C[@]}" --cert "$1.pem" --key "$1.key" -i "$1" -t "$2" -W 3 >sub.out 2>&1 || true
	grep -q 'All subscription requests were denied' sub.out ||
		fail "$1 may subscribe to '$2': $(cat sub.out)"
	ok
}
sub_allowed() {
	local rc=0
	mosquitto_sub "${C[@]}" --cert "$1.pem" --key "$1.key" -i "$1" -t "$2" -W 1 >sub.out 2>&1 || rc=$?
	[ "$rc" -eq 27 ] || fail "$1 cannot subscribe to '$2' (exit $rc): $(cat sub.out)"
	ok
}

# A device that stays connected through everything below. A client ID is
# the device's own, so one device has one connection (another would take
# its session over): the Paho clients publish what is written to their
# standard input.
mkfifo ok.in d1.in
$PY "$CLIENT" 127.0.0.1 "$PORT" "$FLEETSEC_HOME/chain.pem" dev-ok.pem dev-ok.key dev-ok \
	'devices/dev-ok/telemetry/#,fleet/thermo/lastwill' 120 <ok.in >ok.log 2>&1 &
OKPID=$!
exec 7>ok.in
for _ in $(seq 50); do grep -q subscribed ok.log && break; sleep 0.1; done
grep -q 'subscribed 1 1' ok.log || fail "dev-ok: $(cat ok.log)"

# --- who connects
expect 0 conn dev-1:dev-1
for bad in dev-r:dev-r dev-s.old:dev-s dev-1:dev-2 dev-t:dev-t; do
	expect 5 conn "$bad"
done
# A bootstrap certificate is not from the fleet chain: TLS refuses it.
rc=0
conn boot:SN-1 2>/dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "a bootstrap certificate connected"
grep -qF "refused client 'dev-r' from 127.0.0.1: device dev-r is revoked" broker.log ||
	fail "revoked: $(grep fleetsec broker.log)"
grep -qF "refused client 'dev-s'" broker.log && grep -q "superseded" broker.log ||
	fail "superseded: $(grep fleetsec broker.log)"
grep -qF "refused client 'dev-t' from 127.0.0.1: device dev-t reported a tamper event" broker.log ||
	fail "tampered: $(grep fleetsec broker.log)"
grep -qF "client ID 'dev-2' is not device dev-1's ID" broker.log ||
	fail "client ID: $(grep fleetsec broker.log)"
ok
# No certificate at all: TLS itself refuses.
rc=0
mosquitto_pub "${C[@]}" -i dev-1 -t devices/dev-1/status -m x 2>/dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "a client without a certificate connected"
ok

# --- what it may do
$PY "$CLIENT" 127.0.0.1 "$PORT" "$FLEETSEC_HOME/chain.pem" dev-1.pem dev-1.key dev-1 \
	devices/dev-1/telemetry/# 60 <d1.in >d1.log 2>&1 &
D1=$!
exec 8>d1.in
for _ in $(seq 50); do grep -q subscribed d1.log && break; sleep 0.1; done
grep -q 'subscribed 1' d1.log || fail "dev-1 subscription: $(cat d1.log)"
echo "devices/dev-1/telemetry/temp 21.5" >&8
# Another device publishing into dev-1's topics is refused.
pub dev-2 devices/dev-1/telemetry/temp forged 2>pub.err || true
grep -q 'Not authorized' pub.err || fail "dev-2 published to dev-1's topic: $(cat pub.err)"
ok
pub dev-2 '$CONTROL/fleetsec/v1' kick 2>pub.err || true
grep -q 'Not authorized' pub.err || fail "a device published to \$CONTROL"
ok
pub cam-1 fleet/thermo/broadcast x 2>pub.err || true
grep -q 'Not authorized' pub.err || fail "a device published to a broadcast topic"
ok
for _ in $(seq 30); do grep -q 'message devices/dev-1/telemetry/temp 21.5' d1.log && break; sleep 0.1; done
grep -q 'message devices/dev-1/telemetry/temp 21.5' d1.log || fail "dev-1 did not receive its own telemetry: $(cat d1.log)"
grep -q forged d1.log && fail "a forged message reached dev-1"
ok
sub_denied dev-2 '#'
sub_denied dev-2 'devices/+/telemetry/#'
sub_denied dev-2 'devices/dev-1/cmd/#'
sub_denied dev-2 '$SYS/#'
sub_denied cam-1 'fleet/thermo/broadcast'
sub_allowed dev-2 'devices/dev-2/cmd/#'
sub_allowed dev-2 'devices/dev-2/cmd/+/x'
sub_allowed dev-2 'fleet/thermo/broadcast'
# A group rule applies as soon as the registry says so, without reconnecting.
pub dev-2 lab/dev-2/debug 2>pub.err || true
grep -q 'Not authorized' pub.err || fail "dev-2 used a group rule before joining the group"
expect 0 "$F" device set dev-2 --group lab
sleep 1
pub dev-2 lab/dev-2/debug 2>pub.err || fail "publish: $(cat pub.err)"
grep -q 'Not authorized' pub.err && fail "the lab rule did not apply after device set --group"
ok

# Wills: Mosquitto judges a will after the connection ended, as a publish
# of that connection: one to the model's topic arrives, one into another
# device's topics does not.
will() { # will TOPIC PAYLOAD: dev-2 connects with that will and dies
	mosquitto_sub "${C[@]}" --cert dev-2.pem --key dev-2.key -i dev-2 -t 'devices/dev-2/cmd/#' \
		--will-topic "$1" --will-payload "$2" >/dev/null 2>&1 &
	local pid=$!
	for _ in $(seq 50); do grep -q "New client connected .* as dev-2 " broker.log && break; sleep 0.1; done
	sleep 0.3
	kill -9 $pid
	wait $pid 2>/dev/null || true
}
will devices/dev-ok/telemetry/x forged-will
will fleet/thermo/lastwill dev-2-gone
for _ in $(seq 50); do grep -q 'message fleet/thermo/lastwill dev-2-gone' ok.log && break; sleep 0.1; done
grep -q 'message fleet/thermo/lastwill dev-2-gone' ok.log || fail "dev-2's will did not arrive: $(cat ok.log)"
grep -q forged-will ok.log && fail "a will reached another device's topic"
ok

# mqtt explain agrees with the broker.
expect 0 "$F" mqtt explain dev-2 publish lab/dev-2/debug --acl fleet.acl
grep -q '^allow .*fleet.acl:11 \[group lab\] publish lab/%d/debug' "$T/out" || fail "explain: $(cat "$T/out")"
expect 0 "$F" mqtt explain dev-2 subscribe 'devices/+/telemetry/#' --acl fleet.acl --json
[ "$(jq -r .verdict "$T/out")" = deny ] || fail "explain: $(cat "$T/out")"
expect 0 "$F" mqtt explain dev-r publish devices/dev-r/status --json
[ "$(jq -r .verdict "$T/out")" = deny ] && jq -e '.refused != null' "$T/out" >/dev/null ||
	fail "explain of a revoked device: $(cat "$T/out")"
# explain makes the plugin's connect check: a device that reported tamper
# is refused by the broker, whatever the policy allows.
expect 0 "$F" mqtt explain dev-t publish devices/dev-t/status --json
[ "$(jq -r .verdict "$T/out")" = deny ] && jq -r .refused "$T/out" | grep -q 'reported a tamper event' ||
	fail "explain of a tampered device: $(cat "$T/out")"
expect 0 "$F" mqtt explain dev-s publish devices/dev-s/status --json
[ "$(jq -r .verdict "$T/out")" = allow ] && jq -e '.refused == null' "$T/out" >/dev/null ||
	fail "explain of a renewed device: $(cat "$T/out")"
expect 0 "$F" mqtt explain dev-t publish devices/dev-t/status
grep -q '^deny ' "$T/out" && grep -q 'the broker refuses the device at connect: device dev-t reported a tamper event' "$T/out" ||
	fail "explain of a tampered device: $(cat "$T/out")"
expect 1 "$F" mqtt explain nosuch publish devices/nosuch/status
one_line_error nosuch
expect 2 "$F" mqtt explain dev-1 read devices/dev-1/status

# --- revocation drops a connected device
$PY "$CLIENT" 127.0.0.1 "$PORT" "$FLEETSEC_HOME/chain.pem" dev-k.pem dev-k.key dev-k \
	devices/dev-k/cmd/# 60 </dev/null >k.log 2>&1 &
K=$!
for _ in $(seq 50); do grep -q subscribed k.log && break; sleep 0.1; done
grep -q 'subscribed 1' k.log || fail "dev-k: $(cat k.log)"
t0=$(date +%s.%N)
expect 0 "$F" device revoke dev-k
t1=$(date +%s.%N)
wait $K || true
grep -q '^[0-9.]* disconnected' k.log || fail "dev-k was not disconnected: $(cat k.log)"
td=$(awk '$2 == "disconnected" {print $1}' k.log)
echo "revocation: dev-k disconnected $(echo "$td - $t1" | bc) s after 'device revoke' returned ($(echo "$t1 - $t0" | bc) s in the command)"
grep -qF 'fleetsec: disconnecting dev-k: device dev-k is revoked' broker.log || fail "kick not logged"
ok
# The kick cannot be undone by reconnecting.
rc=0
$PY "$CLIENT" 127.0.0.1 "$PORT" "$FLEETSEC_HOME/chain.pem" dev-k.pem dev-k.key dev-k - 5 </dev/null >k2.log 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "dev-k reconnected after its revocation: $(cat k2.log)"
ok

# --- SIGHUP: a new policy applies; a bad one keeps the old.
pub dev-2 devices/dev-2/extra 2>pub.err || true
grep -q 'Not authorized' pub.err || fail "extra allowed before the reload"
printf '\n[model thermo]\npublish devices/%%d/extra\n' >>fleet.acl
kill -HUP $BROKER
sleep 1
pub dev-2 devices/dev-2/extra 2>pub.err || true
grep -q 'Not authorized' pub.err && fail "the reloaded policy did not apply"
ok
cp fleet.acl good.acl
printf '[nonsense\n' >>fleet.acl
kill -HUP $BROKER
sleep 1
grep -q 'fleetsec: reload kept the old policy' broker.log || fail "a bad policy was not reported"
pub dev-2 devices/dev-2/extra 2>pub.err || true
grep -q 'Not authorized' pub.err && fail "a bad policy replaced the good one"
ok
# The reload re-authenticated the connected clients: dev-1 (not revoked)
# is still there, and so is dev-ok.
kill -0 $D1 2>/dev/null || fail "dev-1 was dropped by a reload: $(cat d1.log)"

# --- the broker and the other device lived through all of it.
kill -0 $BROKER 2>/dev/null || fail "the broker died: $(tail -5 broker.log)"
grep -q disconnected ok.log && fail "dev-ok was disconnected: $(cat ok.log)"
echo "devices/dev-ok/telemetry/t still-here" >&7
for _ in $(seq 30); do grep -q still-here ok.log && break; sleep 0.1; done
grep -q still-here ok.log || fail "dev-ok no longer receives: $(cat ok.log)"
ok
exec 7>&- 8>&-
kill $OKPID $D1 2>/dev/null || true
kill -TERM $BROKER
wait $BROKER 2>/dev/null || true
grep -qi 'ERROR: AddressSanitizer\|runtime error' broker.log && fail "sanitizer: $(grep -i -A5 'sanitizer\|runtime error' broker.log)"
echo "mqtt_broker: $checks checks passed"
