#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# EMQX's HTTP authentication and authorization answered by fleetsecd (issue
# 15, "Clustered brokers"), with curl sending what EMQX 5 sends: the body
# templates of docs/SCALING.md filled in as EMQX fills them, the username
# being the client's certificate as peer_cert_as_username = pem writes it
# (emqx_channel:set_peercert_infos: base64 of the DER, one line, no BEGIN
# and END lines; made here by openssl x509 -outform DER and base64) and
# cert_common_name its CN.
# Answers are judged with jq against EMQX's documented shapes: 200 and
# {"result": "allow", "is_superuser": false, "expire_at": notAfter} or
# {"result": "deny"}.
#  - allowed: a device with its own client ID; its telemetry publish and
#    command subscription; a backend's subscription to every device's
#    telemetry ([role backend]);
#  - denied at authn, each its own check: a revoked device, a superseded
#    certificate, a bootstrap (manufacturer) certificate, another device's
#    client ID, a CN that is not the certificate's (a client that put
#    someone's certificate in its username), no CN (a listener without TLS),
#    a certificate from another CA, text around the base64, two
#    certificates, an armoured PEM, a broker's own certificate as a client,
#    malformed JSON, an unknown member;
#  - denied at authz: another device's topic, a $SYS topic, a wildcard over
#    every device, an unknown action, and a device revoked after it
#    connected (its next publish);
#  - who may ask: no certificate (401), a device (404), a backend (403), a
#    revoked broker certificate (refused), only a broker certificate gets
#    through;
#  - mqtt_acl: the authorizer follows the policy file, a SIGHUP reads it
#    again, and a reload with a broken one ([role broker], which is no MQTT
#    client, or a wildcard over other devices) keeps the old policy;
#  - a body over the HTTP layer's 16 KiB cap is 413, which EMQX reads as
#    "ignore": docs/SCALING.md requires no_match = deny for that.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}"
cd "$T"
F=$FLEETSEC

expect 0 "$F" ca init --name emqx
for d in dev-1 dev-2 dev-r dev-s; do
	expect 0 "$F" device issue "$d" --keygen --key-out "$d.key" --out "$d.pem" --model thermo
done
mv dev-s.pem dev-s.old.pem
mv dev-s.key dev-s.old.key
expect 0 "$F" device issue dev-s --reissue --keygen --key-out dev-s.key --out dev-s.pem --model thermo
expect 0 "$F" ca server-cert localhost --ip 127.0.0.1
expect 0 "$F" ca client-cert --role broker emqx1
expect 0 "$F" ca client-cert --role broker emqx-rev
expect 0 "$F" ca client-cert --role backend bk1
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr issue SN-1 --dir mfr --key-out boot.key --out boot.pem 2>/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model thermo >/dev/null
# A CA of someone else's, and a device certificate from it with a fleet ID.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key \
	-subj /CN=other -days 30 -out other-ca.pem 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
	-subj /CN=dev-1 -addext 'subjectAltName=URI:urn:fleetsec:device:dev-1' -out other.csr 2>/dev/null
openssl x509 -req -in other.csr -CA other-ca.pem -CAkey other-ca.key -days 30 \
	-copy_extensions copy -out other.pem 2>/dev/null
fleetsecd_start
expect 0 "$F" device revoke dev-r

# leaf FILE: the first certificate of FILE as EMQX's username carries it.
leaf() { openssl x509 -in "$1" -outform DER | base64 -w0; }
# authn PEMFILE CLIENTID CN: the request EMQX sends at a connect.
authn_req() {
	jq -n --arg u "$(leaf "$1")" --arg c "$2" --arg cn "$3" \
		'{username: $u, clientid: $c, cert_common_name: $cn, peerhost: "127.0.0.1"}'
}
# authz PEMFILE CLIENTID ACTION TOPIC: the request at a publish or subscribe.
authz_req() {
	jq -n --arg u "$(leaf "$1")" --arg c "$2" --arg a "$3" --arg t "$4" \
		'{username: $u, clientid: $c, action: $a, topic: $t, qos: "1", retain: "false"}'
}
# ask PATH BODYFILE [CURL ARGS...]: POST as the broker; status printed,
# body in out.
ask() {
	local path=$1 body=$2
	shift 2
	curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert emqx1.pem --key emqx1.key \
		-H 'Content-Type: application/json' --data-binary @"$body" -o out \
		-w '%{http_code}' "$@" "$URL$path"
}
# verdict PATH BODYFILE WANT: EMQX's reading of the answer is WANT.
verdict() {
	local got
	got=$(ask "$1" "$2") || fail "curl $1 failed"
	[ "$got" = 200 ] || fail "$1 $(head -c 300 "$2"): HTTP $got: $(cat out)"
	[ "$(jq -r .result out)" = "$3" ] || fail "$1: $(cat out), expected $3 for $(jq -c 'del(.username)' "$2")"
}
log_has() { grep -qF "$1" "$T/daemon.log" || fail "fleetsecd's log lacks '$1': $(tail -3 "$T/daemon.log")"; }

# ---- authentication ----
authn_req dev-1.pem dev-1 dev-1 >a.json
verdict /v1/emqx/authn a.json allow
[ "$(jq -r .is_superuser out)" = false ] || fail "is_superuser: $(cat out)"
want=$(date -d "$(openssl x509 -in dev-1.pem -noout -enddate | cut -d= -f2)" +%s)
[ "$(jq -r .expire_at out)" = "$want" ] || fail "expire_at $(jq .expire_at out), notAfter $want"
ok
deny_authn() { # deny_authn PEM CLIENTID CN LOGGED: denied, and why in the log
	authn_req "$1" "$2" "$3" >a.json
	verdict /v1/emqx/authn a.json deny
	log_has "$4"
	ok
}
deny_authn dev-r.pem dev-r dev-r "deny: device dev-r is revoked"
deny_authn dev-s.old.pem dev-s dev-s "is no longer device dev-s's (superseded)"
deny_authn boot.pem SN-1 SN-1 "deny: a bootstrap (manufacturer) certificate of SN-1"
deny_authn dev-1.pem dev-2 dev-1 "deny: client ID 'dev-2' is not device dev-1's ID"
# dev-2's certificate in the username of a client whose TLS name is dev-1:
# only the handshake's CN says whose the connection is.
deny_authn dev-2.pem dev-2 dev-1 "deny: dev-2: cert_common_name 'dev-1' is not the certificate's CN"
# A listener without TLS has no CN to give.
deny_authn dev-1.pem dev-1 "" "deny: dev-1: cert_common_name '' is not the certificate's CN"
deny_authn other.pem dev-1 dev-1 "deny: client certificate is not from the fleet CA"
deny_authn emqx1.pem broker:emqx1 emqx1 "deny: a broker certificate (broker:emqx1) is not an MQTT client's"
# A backend connects to EMQX as ROLE:NAME, as to Mosquitto.
authn_req bk1.pem backend:bk1 bk1 >a.json
verdict /v1/emqx/authn a.json allow
ok
# Malformed requests are denied, not "ignored" (which EMQX would pass on).
printf '{"username": "x", ' >bad.json
verdict /v1/emqx/authn bad.json deny
log_has "deny: emqx: malformed JSON"
authn_req dev-1.pem dev-1 dev-1 | jq '. + {admin: "1"}' >bad.json
verdict /v1/emqx/authn bad.json deny
log_has 'unknown field "admin"'
# uname TEXT: an authn request for dev-1 whose username is TEXT.
uname() { jq -n --arg u "$1" '{username: $u, clientid: "dev-1", cert_common_name: "dev-1"}'; }
uname "!$(leaf dev-1.pem)" >bad.json
verdict /v1/emqx/authn bad.json deny
log_has "deny: emqx.username: not a certificate in base64"
uname "$(leaf dev-1.pem) " >bad.json
verdict /v1/emqx/authn bad.json deny
uname "$(cat <(openssl x509 -in dev-1.pem -outform DER) <(openssl x509 -in dev-2.pem -outform DER) |
	base64 -w0)" >bad.json
verdict /v1/emqx/authn bad.json deny
log_has "deny: emqx.username: not one DER certificate"
# An armoured PEM is not what EMQX sends: refused, not guessed at.
uname "$(openssl x509 -in dev-1.pem)" >bad.json
verdict /v1/emqx/authn bad.json deny
ok

# ---- authorization ----
authz_req dev-1.pem dev-1 publish devices/dev-1/telemetry/temp >z.json
verdict /v1/emqx/authz z.json allow
authz_req dev-1.pem dev-1 subscribe devices/dev-1/cmd/# >z.json
verdict /v1/emqx/authz z.json allow
authz_req bk1.pem backend:bk1 subscribe devices/+/telemetry/# >z.json
verdict /v1/emqx/authz z.json allow
ok
for bad in "publish devices/dev-2/telemetry/temp" "subscribe devices/+/telemetry/#" \
	'publish $SYS/broker/x' "subscribe devices/dev-2/cmd/#"; do
	# shellcheck disable=SC2086
	authz_req dev-1.pem dev-1 $bad >z.json
	verdict /v1/emqx/authz z.json deny
done
log_has "deny: dev-1 publish devices/dev-2/telemetry/temp"
authz_req dev-1.pem dev-1 all devices/dev-1/telemetry >z.json
verdict /v1/emqx/authz z.json deny
log_has "emqx.action: must be publish or subscribe"
ok
# Revoked after it connected: its next publish is denied, whatever EMQX
# cached of its connect.
authz_req dev-2.pem dev-2 publish devices/dev-2/telemetry/temp >z.json
verdict /v1/emqx/authz z.json allow
expect 0 "$F" device revoke dev-2
verdict /v1/emqx/authz z.json deny
log_has "deny: device dev-2 is revoked"
ok

# ---- who may ask ----
authn_req dev-1.pem dev-1 dev-1 >a.json
code=$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" -H 'Content-Type: application/json' \
	--data-binary @a.json -o out -w '%{http_code}' "$URL/v1/emqx/authn") || true
[ "$code" = 401 ] || fail "no certificate: HTTP $code"
# A device learns nothing of the endpoint (as of every path not its own);
# a backend is told its certificate is an MQTT client's.
code=$(ask /v1/emqx/authn a.json --cert dev-1.pem --key dev-1.key) || true
[ "$code" = 404 ] || fail "a device asked: HTTP $code: $(cat out)"
code=$(ask /v1/emqx/authn a.json --cert bk1.pem --key bk1.key) || true
[ "$code" = 403 ] || fail "a backend asked: HTTP $code: $(cat out)"
# A broker's certificate reaches nothing else.
code=$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert emqx1.pem --key emqx1.key -o out \
	-w '%{http_code}' "$URL/v1/update") || true
[ "$code" = 403 ] || fail "a broker fetched /v1/update: HTTP $code"
REV=$("$F" ca client-cert --list --json | jq -r '.[] | select(.name == "emqx-rev") | .serial')
code=$(ask /v1/emqx/authn a.json --cert emqx-rev.pem --key emqx-rev.key) || true
[ "$code" = 200 ] || fail "emqx-rev before its revocation: HTTP $code"
expect 0 "$F" ca client-cert --revoke "$REV"
code=$(ask /v1/emqx/authn a.json --cert emqx-rev.pem --key emqx-rev.key) || true
[ "$code" = 403 ] || fail "a revoked broker certificate: HTTP $code: $(cat out)"
grep -q "is revoked" out || fail "revoked broker: $(cat out)"
ok

# ---- mqtt_acl, and SIGHUP ----
authz_req dev-1.pem dev-1 publish devices/dev-1/debug/x >z.json
verdict /v1/emqx/authz z.json deny
cat >acl.txt <<'EOF'
[all]
publish devices/%d/telemetry/#
publish devices/%d/debug/#
EOF
echo "mqtt_acl = $T/acl.txt" >>"$FLEETSEC_HOME/fleetsecd.conf"
fleetsecd_reload
verdict /v1/emqx/authz z.json allow
log_has "acl.txt:3 [all] publish devices/%d/debug/#"
# A broken policy: the reload is refused, the old policy stays. A broker is
# no MQTT client: [role broker] is no section.
cp acl.txt good.txt
for bad in 'publish devices/+/x' $'[role broker]\nsubscribe x/#'; do
	{ cat good.txt; printf '%s\n' "$bad"; } >acl.txt
	n=$(grep -c "reload refused" "$T/daemon.log" || true)
	kill -HUP "$FLEETSECD_PID"
	for _ in $(seq 50); do [ "$(grep -c "reload refused" "$T/daemon.log")" -gt "$n" ] && break; sleep 0.1; done
	[ "$(grep -c "reload refused" "$T/daemon.log")" -gt "$n" ] || fail "a reload with '$bad' was not refused"
	verdict /v1/emqx/authz z.json allow
done
log_has "not an MQTT client's role (backend, operator)"
ok
# Over the HTTP layer's cap (a topic of 17,000 bytes): 413, EMQX's "ignore".
authz_req dev-1.pem dev-1 publish "devices/dev-2/telemetry/$(head -c 17000 /dev/zero | tr '\0' x)" >z.json
code=$(ask /v1/emqx/authz z.json) || true
[ "$code" = 413 ] || fail "a 17 KB request: HTTP $code"
# Under it, an overlong topic is read, and denied.
authz_req dev-1.pem dev-1 publish "devices/dev-1/telemetry/$(head -c 2000 /dev/zero | tr '\0' x)" >z.json
verdict /v1/emqx/authz z.json deny
log_has "emqx.topic: must be a string of 1-1024 characters"
ok
done_checks
