#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Backend and operator clients at the broker (issue 15), in Debian's real
# Mosquitto with the fleetsec plugin, judged by mosquitto_pub/mosquitto_sub
# and openssl:
#  - `ca client-cert --role` issues a certificate whose SAN URI
#    urn:fleetsec:role:ROLE:NAME no device certificate can carry, even when
#    its CSR asks for it;
#  - a backend reads devices/+/telemetry/# ([role backend] rules), a device
#    cannot, an operator gets only its own section's rules;
#  - refused: a role certificate the registry did not record (signed by the
#    fleet CA all the same), a role client with another client ID, a device
#    using a role's client ID, a revoked role certificate (kicked while
#    connected, refused on reconnect);
#  - the control topic: an operator's "kick ID" disconnects the device, a
#    device may not publish there, nobody may subscribe, a malformed kick is
#    refused and the broker lives on.
. "$(dirname "$0")/lib.sh"
: "${PLUGIN:?set PLUGIN to fleetsec_mosquitto.so}"
F=$FLEETSEC
[ -r "$PLUGIN" ] || fail "no plugin at $PLUGIN (is mosquitto-dev installed?)"
command -v mosquitto >/dev/null || fail "mosquitto is not installed"
cd "$T"
if [ "$(id -u)" -eq 0 ]; then BUSER=mosquitto; else BUSER=$(id -un); fi
CONTROL='$CONTROL/fleetsec/v1'

expect 0 "$F" ca init --name mqr
for d in dev-1 dev-2 dev-k; do
	expect 0 "$F" device issue "$d" --keygen --key-out "$d.key" --out "$d.pem" --model thermo
done
expect 0 "$F" ca server-cert localhost --ip 127.0.0.1 --out srv.pem --key-out srv.key
expect 0 "$F" ca client-cert --role backend bk1
grep -q 'backend client certificate for bk1 issued' "$T/out" || fail "client-cert: $(cat "$T/out")"
expect 0 "$F" ca client-cert --role operator op1 --json
[ "$(jq -r .role "$T/out")" = operator ] && [ "$(jq -r .cert "$T/out")" = op1.pem ] ||
	fail "client-cert --json: $(cat "$T/out")"
expect 0 "$F" ca client-cert --role backend bk-rev --out bkr.pem --key-out bkr.key
# A second backend: one connection per client ID, and bk1 stays subscribed.
expect 0 "$F" ca client-cert --role backend bk2
REV=$("$F" ca client-cert --list --json | jq -r '.[] | select(.name == "bk-rev") | .serial')

# The certificate as an independent reader sees it.
openssl verify -CAfile "$FLEETSEC_HOME/chain.pem" bk1.pem >/dev/null || fail "bk1.pem does not verify"
openssl x509 -in bk1.pem -noout -ext subjectAltName | grep -qx ' *URI:urn:fleetsec:role:backend:bk1' ||
	fail "bk1: no role URI: $(openssl x509 -in bk1.pem -noout -ext subjectAltName)"
openssl x509 -in bk1.pem -noout -subject | grep -q 'CN = bk1' || fail "bk1: subject"
openssl x509 -in bk1.pem -noout -ext extendedKeyUsage | grep -q 'TLS Web Client Authentication' ||
	fail "bk1: no clientAuth"
[ "$(stat -c %a bk1.key)" = 600 ] || fail "bk1.key is not 0600"
ok
# Usage and refusals of the command: nothing written.
expect 2 "$F" ca client-cert bk3
expect 2 "$F" ca client-cert --role admin bk3
expect 2 "$F" ca client-cert --role backend 'bk:3'
expect 2 "$F" ca client-cert --role backend "$(printf 'b%.0s' $(seq 33))"
expect 1 "$F" ca client-cert --role backend bk1
one_line_error bk1
[ ! -e bk3.pem ] && [ ! -e bk3.key ] || fail "a refused client-cert wrote a file"
[ "$(reg length ca client-cert --list)" = 4 ] || fail "client certificates: $("$F" ca client-cert --list)"
# Role certificates are no server certificates.
[ "$(reg length ca server-cert --list)" = 1 ] || fail "server-cert --list shows client certificates"
ok

# A device CSR asking for a role gets none: the CA writes the device URI only.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev-x.key \
	-subj /CN=dev-x -addext 'subjectAltName=URI:urn:fleetsec:role:backend:dev-x' \
	-addext extendedKeyUsage=clientAuth -out dev-x.csr 2>/dev/null
expect 0 "$F" device issue dev-x --csr dev-x.csr --out dev-x.pem --model thermo
san=$(openssl x509 -in dev-x.pem -noout -ext subjectAltName)
grep -q 'urn:fleetsec:device:dev-x' <<<"$san" && ! grep -q 'urn:fleetsec:role' <<<"$san" ||
	fail "a device CSR obtained a role: $san"
ok

# A role certificate signed by the fleet's issuing CA but never recorded by
# `ca client-cert` (a leaked CA key, a hand-made certificate): refused. It
# copies bk2's name and serial, so that only its fingerprint differs from
# what the registry recorded.
BK2=$("$F" ca client-cert --list --json | jq -r '.[] | select(.name == "bk2") | .serial')
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout forged.key \
	-subj /CN=bk2 -out forged.csr 2>/dev/null
printf 'subjectAltName=URI:urn:fleetsec:role:backend:bk2\nextendedKeyUsage=clientAuth\n' >forged.ext
openssl x509 -req -in forged.csr -CA "$FLEETSEC_HOME/issuing.pem" -CAkey "$FLEETSEC_HOME/issuing.key" \
	-set_serial "0x$BK2" -days 2 -extfile forged.ext -out forged.pem 2>/dev/null
cat "$FLEETSEC_HOME/issuing.pem" >>forged.pem
# And one that carries both a device URI and a role URI.
printf 'subjectAltName=URI:urn:fleetsec:role:backend:dev-2,URI:urn:fleetsec:device:dev-2\nextendedKeyUsage=clientAuth\n' >both.ext
openssl req -new -key dev-2.key -subj /CN=dev-2 -out both.csr
openssl x509 -req -in both.csr -CA "$FLEETSEC_HOME/issuing.pem" -CAkey "$FLEETSEC_HOME/issuing.key" \
	-CAcreateserial -days 2 -extfile both.ext -out both.pem 2>/dev/null
cp dev-2.key both.key

cat >roles.acl <<'EOF'
[all]
publish devices/%d/telemetry/#
subscribe devices/%d/cmd/#
[role backend]
subscribe devices/+/telemetry/#
publish devices/+/cmd/#
[role operator]
subscribe devices/+/status
EOF
chmod 0644 roles.acl
# mqtt explain for role clients (ROLE:NAME): their [role] rules, and only
# with a certificate the registry holds for them.
expect 0 "$F" mqtt explain backend:bk1 subscribe 'devices/+/telemetry/#' --acl roles.acl
grep -q '^allow .*\[role backend\] subscribe devices/+/telemetry/#' "$T/out" || fail "explain backend: $(cat "$T/out")"
expect 0 "$F" mqtt explain backend:bk1 subscribe '#' --acl roles.acl
grep -q '^deny ' "$T/out" || fail "explain backend #: $(cat "$T/out")"
expect 0 "$F" mqtt explain operator:op1 publish devices/dev-1/cmd/x --acl roles.acl --json
jq -e '.verdict == "deny" and .refused == null' "$T/out" >/dev/null || fail "explain operator: $(cat "$T/out")"
expect 0 "$F" mqtt explain backend:nobody subscribe 'devices/+/telemetry/#' --acl roles.acl --json
jq -e '.verdict == "deny" and (.refused | test("no unexpired backend certificate of nobody"))' \
	"$T/out" >/dev/null || fail "explain unknown backend: $(cat "$T/out")"
expect 1 "$F" mqtt explain admin:bk1 subscribe '#' --acl roles.acl
one_line_error "no such role"
ok
PORT=$(rand_port)
broker_can_read srv.key
expect 2 "$F" mqtt config --listener "$PORT" --cert srv.pem --key srv.key --plugin "$PLUGIN" \
	--user "$BUSER" --control-topic 'fleetsec/control'
one_line_error '$CONTROL/'
expect 0 "$F" mqtt config --listener "$PORT" --bind 127.0.0.1 --cert srv.pem --key srv.key \
	--acl roles.acl --control-topic "$CONTROL" --plugin "$PLUGIN" --user "$BUSER" --out mosquitto.conf
grep -qxF "plugin_opt_control_topic $CONTROL" mosquitto.conf || fail "config: no control topic"
mosquitto_start
grep -q 'fleetsec: fleet' broker.log || fail "plugin not loaded: $(cat broker.log)"
ok

C=(--cafile "$FLEETSEC_HOME/chain.pem" -h 127.0.0.1 -p "$PORT")
pub() { # pub CERT CLIENTID TOPIC [MSG]: a QoS 1 MQTT 5 publish, so a denial is seen
	mosquitto_pub -V mqttv5 -q 1 "${C[@]}" --cert "$1.pem" --key "$1.key" -i "$2" -t "$3" -m "${4:-x}"
}
denied() { # denied CERT CLIENTID TOPIC [MSG]: the publish is refused
	pub "$@" 2>pub.err || true
	grep -q 'Not authorized' pub.err || fail "$2 may publish to '$3': $(cat pub.err)"
	ok
}
refused() { # refused CERT CLIENTID WHY: the broker refuses the connection, logging WHY
	local rc=0
	mosquitto_pub "${C[@]}" --cert "$1.pem" --key "$1.key" -i "$2" -t x -m x 2>/dev/null || rc=$?
	[ "$rc" -eq 5 ] || fail "$1 as '$2' was not refused at connect (exit $rc)"
	grep -qF -- "$3" broker.log || fail "refusal of $1 not logged as '$3': $(grep fleetsec broker.log)"
	ok
}
sub_denied() { # sub_denied CERT CLIENTID FILTER
	mosquitto_sub "${C[@]}" --cert "$1.pem" --key "$1.key" -i "$2" -t "$3" -W 3 >sub.out 2>&1 || true
	grep -q 'All subscription requests were denied' sub.out || fail "$2 may subscribe to '$3': $(cat sub.out)"
	ok
}
listen() { # listen CERT CLIENTID FILTER OUT: subscribe in the background, PID in LPID
	mosquitto_sub "${C[@]}" --cert "$1.pem" --key "$1.key" -i "$2" -t "$3" -v >"$4" 2>&1 &
	LPID=$!
	for _ in $(seq 50); do grep -q "New client connected .* as $2 " broker.log && break; sleep 0.1; done
	sleep 0.3
	kill -0 $LPID 2>/dev/null || fail "$2 could not subscribe to '$3': $(cat "$4")"
}

# --- a backend reads every device's telemetry
listen bk1 backend:bk1 'devices/+/telemetry/#' bk1.out
BK=$LPID
pub dev-1 dev-1 devices/dev-1/telemetry/temp 21.5 || fail "dev-1 could not publish"
pub dev-2 dev-2 devices/dev-2/telemetry/temp 19 || fail "dev-2 could not publish"
for _ in $(seq 30); do [ "$(wc -l <bk1.out)" -ge 2 ] && break; sleep 0.1; done
grep -qx 'devices/dev-1/telemetry/temp 21.5' bk1.out && grep -qx 'devices/dev-2/telemetry/temp 19' bk1.out ||
	fail "the backend did not receive the telemetry: $(cat bk1.out)"
ok
# ... and may command a device, which a device may not do to another.
pub bk1 backend:bk1 devices/dev-1/cmd/reboot now || fail "the backend could not publish a command"
denied dev-2 dev-2 devices/dev-1/cmd/reboot
# A device cannot read others' telemetry; an operator gets its own rules only.
sub_denied dev-2 dev-2 'devices/+/telemetry/#'
sub_denied op1 operator:op1 'devices/+/telemetry/#'
sub_denied bk2 backend:bk2 '$SYS/#'
sub_denied bk2 backend:bk2 'devices/+/status'

# --- who connects
refused bk1 bk1 "client ID 'bk1' is not backend:bk1"
refused bk1 dev-1 "client ID 'dev-1' is not backend:bk1"
refused dev-1 backend:bk1 "client ID 'backend:bk1' is not device dev-1's ID"
refused forged backend:bk2 "backend certificate $BK2 of bk2: not one the fleet issued"
refused both backend:dev-2 "a role certificate refused: certificate carries both a role and a device URI"

# --- the control topic
listen dev-k dev-k 'devices/dev-k/cmd/#' k.out
K=$LPID
denied dev-2 dev-2 "$CONTROL" "kick dev-k"
sub_denied bk2 backend:bk2 "$CONTROL"
sleep 0.5
kill -0 $K 2>/dev/null || fail "a device's kick disconnected dev-k"
pub op1 operator:op1 "$CONTROL" "kick ../dev-k" 2>pub.err || true
grep -qF 'fleetsec: control: refused: a control message names no valid device ID' broker.log ||
	fail "a malformed kick was not refused: $(grep fleetsec broker.log)"
kill -0 $K 2>/dev/null || fail "a malformed kick disconnected dev-k"
ok
grep -q 'dev-k been disconnected' broker.log && fail "dev-k was kicked by a refused message"
t0=$(date +%s.%N)
pub op1 operator:op1 "$CONTROL" "kick dev-k" || fail "the operator could not publish a kick"
# dev-k is still active in the registry, so mosquitto_sub reconnects at
# once: the broker's log says it went.
for _ in $(seq 30); do grep -q 'Client dev-k been disconnected by administrative action' broker.log && break; sleep 0.1; done
grep -q 'Client dev-k been disconnected by administrative action' broker.log ||
	fail "dev-k was not kicked: $(grep -i 'dev-k\|control' broker.log)"
echo "control kick: dev-k gone within $(echo "$(date +%s.%N) - $t0" | bc) s"
grep -qF 'fleetsec: control: operator:op1 asked to disconnect dev-k' broker.log || fail "kick not logged"
ok
# The same kick through the CLI (fleetsec mqtt kick), to this broker and to
# a second address where nothing listens: the first is asked whatever the
# second answers, and the exit status says one failed.
kicks() { grep -c 'Client dev-k been disconnected by administrative action' broker.log || true; }
for _ in $(seq 50); do grep -c "New client connected .* as dev-k " broker.log | grep -q '^[2-9]' && break; sleep 0.1; done
n0=$(kicks)
DEAD=$(rand_port)
expect 1 "$F" mqtt kick dev-k --broker "127.0.0.1:$PORT" --broker "127.0.0.1:$DEAD" \
	--cert op1.pem --key op1.key --json
jq -e --arg a "127.0.0.1:$PORT" --arg b "127.0.0.1:$DEAD" '.device == "dev-k" and
	.brokers[0].broker == $a and .brokers[0].ok and (.brokers[1].broker == $b) and
	(.brokers[1].ok | not) and (.brokers[1].error | test("127.0.0.1:'"$DEAD"': cannot connect: (Connection refused|the connection was refused or reset)"))' \
	"$T/out" >/dev/null || fail "mqtt kick --json: $(cat "$T/out")"
# A refused connection ends at once: libmosquitto 2.0.11 alone would spin
# until the timeout, here 30 s.
t0=$(date +%s)
expect 1 "$F" mqtt kick dev-k --broker "127.0.0.1:$DEAD" --cert op1.pem --key op1.key --timeout 30
one_line_error 'cannot connect'
[ $(($(date +%s) - t0)) -lt 20 ] || fail "a refused connection took $(($(date +%s) - t0)) s"
for _ in $(seq 30); do [ "$(kicks)" -gt "$n0" ] && break; sleep 0.1; done
[ "$(kicks)" -gt "$n0" ] || fail "fleetsec mqtt kick did not disconnect dev-k: $(grep -i 'dev-k\|control' broker.log | tail -5)"
[ "$(grep -c 'fleetsec: control: operator:op1 asked to disconnect dev-k' broker.log)" -ge 2 ] ||
	fail "the CLI's kick was not logged as operator:op1's"
ok
expect 0 "$F" mqtt kick dev-k --broker "127.0.0.1:$PORT" --cert op1.pem --key op1.key
grep -qxF "kick dev-k: accepted by 127.0.0.1:$PORT" "$T/out" || fail "mqtt kick: $(cat "$T/out")"
# Refusals of the CLI's kick, each before anything reaches the broker but
# the last three, which the broker or TLS refuse.
expect 1 "$F" mqtt kick dev-k --broker "127.0.0.1:$PORT" --cert dev-2.pem --key dev-2.key
one_line_error 'dev-2.pem: not a backend or operator certificate'
expect 1 "$F" mqtt kick ../dev-k --broker "127.0.0.1:$PORT" --cert op1.pem --key op1.key
one_line_error "invalid device ID '../dev-k'"
expect 1 "$F" mqtt kick dev-k --broker "127.0.0.1:$PORT" --cert op1.pem --key op1.key \
	--control-topic fleetsec/control
one_line_error '$CONTROL/'
expect 2 "$F" mqtt kick dev-k --cert op1.pem --key op1.key
expect 2 "$F" mqtt kick dev-k --broker 127.0.0.1 --cert op1.pem --key op1.key
one_line_error "--broker '127.0.0.1': expected HOST:PORT"
expect 2 "$F" mqtt kick dev-k --broker "127.0.0.1:$PORT"
expect 2 "$F" mqtt kick dev-k --broker "::1:$PORT" --cert op1.pem --key op1.key
expect 2 "$F" mqtt kick dev-k --broker "127.0.0.1:+$PORT" --cert op1.pem --key op1.key
# A publish the broker's ACL refuses: another $CONTROL topic, which no
# rule lets an operator publish to; the PUBACK's reason code says so.
expect 1 "$F" mqtt kick dev-k --broker "127.0.0.1:$PORT" --cert op1.pem --key op1.key \
	--control-topic '$CONTROL/other/v1'
one_line_error 'the broker refused the kick: Not authorized'
# TLS peers that are not this fleet's broker, played by openssl s_server:
# a certificate for another name, and one of this fleet revoked on its CRL.
tls_peer() { # tls_peer CERT KEY: openssl s_server on a new port, in $TPORT, pid in $TPID
	TPORT=$(rand_port)
	# -www: it answers HTTP and never reads its stdin.
	openssl s_server -www -accept "127.0.0.1:$TPORT" -cert "$1" -key "$2" \
		-cert_chain "$FLEETSEC_HOME/chain.pem" </dev/null >/dev/null 2>&1 &
	TPID=$!
	for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$TPORT") 2>/dev/null && break; sleep 0.1; done
}
expect 0 "$F" ca server-cert other.example --out other.pem --key-out other.key
tls_peer other.pem other.key
expect 1 "$F" mqtt kick dev-k --broker "127.0.0.1:$TPORT" --cert op1.pem --key op1.key --timeout 3
one_line_error "the broker's certificate: IP address mismatch"
kill $TPID 2>/dev/null || true
expect 0 "$F" ca server-cert localhost --ip 127.0.0.1 --out gone.pem --key-out gone.key --json
GONE=$(jq -r .serial "$T/out")
expect 0 "$F" ca server-cert --revoke "$GONE"
tls_peer gone.pem gone.key
expect 1 "$F" mqtt kick dev-k --broker "127.0.0.1:$TPORT" --cert op1.pem --key op1.key --timeout 3
one_line_error "the broker's certificate: certificate revoked"
# Without the fleet's CRL (another CA file given) it is the CRL's absence
# that lets it through: the handshake succeeds, and the peer speaks no MQTT.
kill -0 $TPID 2>/dev/null || fail "openssl s_server is gone"
expect 1 "$F" mqtt kick dev-k --broker "127.0.0.1:$TPORT" --cert op1.pem --key op1.key --timeout 2 \
	--cafile "$FLEETSEC_HOME/chain.pem"
one_line_error "broker 127.0.0.1:$TPORT"
grep -qF "the broker's certificate" "$T/err" && fail "--cafile without --crl refused the certificate: $(cat "$T/err")"
grep -q 'cannot connect' "$T/err" && fail "--cafile without --crl: no connection: $(cat "$T/err")"
kill $TPID 2>/dev/null || true
# A broker whose certificate another CA signed: the TLS handshake fails.
mkdir other && FLEETSEC_HOME="$T/other" "$F" ca init --name other >/dev/null
expect 1 "$F" mqtt kick dev-k --broker "127.0.0.1:$PORT" --cert op1.pem --key op1.key \
	--cafile other/chain.pem
one_line_error "the broker's certificate: unable to get local issuer certificate"
# A listener that never answers: the timeout, not TCP's.
SILENT=$(rand_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$SILENT" &
SPID=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$SILENT") 2>/dev/null && break; sleep 0.1; done
t0=$(date +%s)
expect 1 "$F" mqtt kick dev-k --broker "127.0.0.1:$SILENT" --cert op1.pem --key op1.key --timeout 1
one_line_error 'no answer from the broker: timed out'
[ $(($(date +%s) - t0)) -le 5 ] || fail "mqtt kick --timeout 1 took $(($(date +%s) - t0)) s"
kill $SPID 2>/dev/null || true
kill $K 2>/dev/null || true

# --- a revoked role certificate: dropped, then refused
listen bkr backend:bk-rev 'devices/+/telemetry/#' bkr.out
BR=$LPID
expect 0 "$F" ca client-cert --revoke "$REV"
for _ in $(seq 30); do kill -0 $BR 2>/dev/null || break; sleep 0.1; done
kill -0 $BR 2>/dev/null && fail "the revoked backend stayed connected"
grep -qF "fleetsec: disconnecting backend:bk-rev: backend certificate $REV of bk-rev is revoked" broker.log ||
	fail "revoked role kick: $(grep fleetsec broker.log)"
ok
refused bkr backend:bk-rev "backend certificate $REV of bk-rev is revoked"
openssl crl -in "$FLEETSEC_HOME/crl.pem" -noout -text | grep -q "Serial Number: $REV" || fail "the CRL does not list $REV"
ok
expect 1 "$F" ca client-cert --revoke "$REV"
one_line_error "$REV"
# A revoked role's kick: its connection is refused.
expect 1 "$F" mqtt kick dev-1 --broker "127.0.0.1:$PORT" --cert bkr.pem --key bkr.key
one_line_error 'the broker refused the connection'
expect 0 "$F" mqtt explain backend:bk-rev subscribe 'devices/+/telemetry/#' --acl roles.acl
grep -q '^deny ' "$T/out" && grep -qF "backend certificate $REV of bk-rev is revoked" "$T/out" ||
	fail "explain revoked backend: $(cat "$T/out")"

# --- the broker and the other backend lived through all of it.
kill -0 "$BROKER" 2>/dev/null || fail "the broker died: $(tail -5 broker.log)"
kill -0 $BK 2>/dev/null || fail "bk1 was disconnected: $(cat bk1.out)"
pub dev-1 dev-1 devices/dev-1/telemetry/t still-here || fail "dev-1 could not publish"
for _ in $(seq 30); do grep -q still-here bk1.out && break; sleep 0.1; done
grep -q still-here bk1.out || fail "bk1 no longer receives: $(cat bk1.out)"
ok
kill $BK 2>/dev/null || true
kill -TERM "$BROKER"
wait "$BROKER" 2>/dev/null || true
grep -qi 'ERROR: AddressSanitizer\|runtime error' broker.log && fail "sanitizer: $(grep -i -A5 'sanitizer\|runtime error' broker.log)"
echo "mqtt_roles: $checks checks passed"
