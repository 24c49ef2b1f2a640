#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fleetsecd with curl and openssl as the EST client (RFC 7030): cacerts,
# zero-touch simpleenroll with a manufacturer bootstrap certificate,
# simplereenroll, csrattrs and /crl, every enrollment refusal, revocation
# biting at the next request, and the TLS policy seen from openssl s_client.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
cd "$T"
F=$FLEETSEC

# With neither --home nor FLEETSEC_HOME nor HOME (a service started by
# systemd or cron), the CLI and fleetsecd look for the same home: the user's
# home directory in the password database. (Only checked where that home
# holds no fleet, so that the test never opens one outside its directory.)
pwhome=$(getent passwd "$(id -u)" | cut -d: -f6)/.fleetsec
if [ ! -e "$pwhome" ]; then
	expect 1 env -u HOME -u FLEETSEC_HOME "$F" device list
	one_line_error "$pwhome:"
	expect 1 env -u HOME -u FLEETSEC_HOME "$FLEETSECD" --listen 127.0.0.1:1
	grep -qF -- "fleetsecd: $pwhome:" "$T/err" || fail "fleetsecd without HOME: $(cat "$T/err")"
	ok
else
	echo "skipped the HOME-less check: $pwhome exists"
fi

"$F" ca init --name "EST Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
openssl verify -purpose sslserver -CAfile "$FLEETSEC_HOME/root.pem" \
	-untrusted "$FLEETSEC_HOME/issuing.pem" "$FLEETSEC_HOME/server.pem" >/dev/null ||
	fail "server certificate does not verify"
openssl x509 -in "$FLEETSEC_HOME/server.pem" -noout -ext subjectAltName,crlDistributionPoints |
	grep -q "IP Address:127.0.0.1" || fail "no SAN IP"
ok
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr init --dir rogue --name "Acme Chips" >/dev/null
for sn in SN-0001 SN-0002 SN-0003 SN-0100; do
	"$F" mfr issue $sn --dir mfr --key-out boot-$sn.key --out boot-$sn.pem 2>/dev/null
done
"$F" mfr issue SN-0001 --dir rogue --key-out rogue.key --out rogue.pem 2>/dev/null
openssl x509 -in boot-SN-0001.pem -noout -subject | grep -q "serialNumber = SN-0001, CN = SN-0001" ||
	fail "bootstrap subject"
openssl verify -purpose sslclient -CAfile mfr/ca.pem boot-SN-0001.pem >/dev/null || fail "bootstrap cert"
ok

# The allowlist: exact serials from a file, and a pattern.
printf '# factory batch 7\nSN-0001\n\nSN-0003\n' >serials
printf 'SN-0001\nnot a serial!\n' >bad-serials
events() { reg length registry events; }
n=$(events)
expect 1 "$F" enroll allow --manufacturer-ca mfr/ca.pem --serials bad-serials
one_line_error "bad-serials:2"
expect 1 "$F" enroll allow --manufacturer-ca boot-SN-0001.pem --serials serials
one_line_error "not a CA certificate"
expect 2 "$F" enroll allow --manufacturer-ca mfr/ca.pem
[ "$(events)" = "$n" ] && [ "$(reg '[.[].patterns[]] | length' enroll list)" = 0 ] ||
	fail "a refused allow changed the registry"
ok
expect 0 "$F" enroll allow --manufacturer-ca mfr/ca.pem --serials serials --pattern 'SN-01*' --model thermo

APORT=$(rand_port)
fleetsecd_bounds_off
fleetsecd_start --admin 127.0.0.1:$APORT
EST=$URL/.well-known/est

# est [CURL ARGS...]: curl with the fleet root; body in out, status printed.
est() { curl -sS --cacert "$FLEETSEC_HOME/root.pem" -o out -w '%{http_code}' "$@"; }
# status WANT CURL ARGS...: the request answers WANT.
status() {
	local want=$1 got
	shift
	got=$(est "$@") || fail "curl $* failed"
	[ "$got" = "$want" ] || fail "curl $*: HTTP $got, expected $want: $(head -c 300 out)"
	ok
}
# p7certs FILE: the certificates in a base64 certs-only CMS, as PEM.
p7certs() { openssl base64 -d -in "$1" | openssl pkcs7 -inform DER -print_certs; }
# csr KEYFILE SUBJECT: a base64 DER PKCS#10 for a new P-256 key, by openssl.
b64csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1" \
		-subj "$2" -outform DER 2>/dev/null | openssl base64
}
enroll() { # enroll WANT BOOT-CERT BOOT-KEY CSR-FILE [simpleenroll|simplereenroll]
	status "$1" --cert "$2" --key "$3" -H 'Content-Type: application/pkcs10' \
		--data-binary @"$4" "$EST/${5:-simpleenroll}"
}

# cacerts needs no client certificate and carries the issuing and root CA.
status 200 "$URL/crl" # cached from here on: the revocation below must still show
status 200 "$EST/cacerts"
p7certs out >cacerts.pem
diff <(openssl x509 -in cacerts.pem -noout -fingerprint) \
	<(openssl x509 -in "$FLEETSEC_HOME/issuing.pem" -noout -fingerprint) >/dev/null ||
	fail "cacerts does not start with the issuing CA"
[ "$(grep -c 'BEGIN CERTIFICATE' cacerts.pem)" = 2 ] || fail "cacerts: expected 2 certificates"
ok

# Zero-touch enrollment of SN-0001 with its bootstrap certificate.
b64csr op1.key "/CN=whatever-the-device-asks" >csr1.b64
enroll 200 boot-SN-0001.pem boot-SN-0001.key csr1.b64
p7certs out >op1.pem
openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
	-untrusted "$FLEETSEC_HOME/issuing.pem" op1.pem >/dev/null || fail "enrolled cert does not verify"
openssl x509 -in op1.pem -noout -ext subjectAltName | grep -q "URI:urn:fleetsec:device:SN-0001" ||
	fail "enrolled cert is not SN-0001's"
diff <(openssl x509 -in op1.pem -noout -pubkey) <(openssl pkey -in op1.key -pubout) >/dev/null ||
	fail "enrolled cert is not for the CSR's key"
[ "$(reg '"\(.status) \(.provisioning)"' device show SN-0001)" = "active est-bootstrap" ] || fail "registry row for SN-0001"
ok

# Refusals, each with its reason in the body and in the event log.
refused() { # refused WANT REASON CURL ARGS...
	local want=$1 reason=$2
	shift 2
	status "$want" "$@"
	grep -qF -- "$reason" out || fail "expected '$reason', got: $(cat out)"
	ok
}
logged() {
	[ "$("$F" registry events --action enroll-refused --json |
		jq --arg d "$1" '[.[] | select(.detail | contains($d))] | length')" -ge 1 ] ||
		fail "refusal '$1' not in the event log"
	ok
}
b64csr x.key "/CN=x" >csrx.b64
refused 401 "a client certificate is required" --data-binary @csrx.b64 "$EST/simpleenroll"
# Not on the allowlist: a stolen bootstrap credential cannot enrol any ID.
refused 403 "not on the enrollment allowlist" --cert boot-SN-0002.pem --key boot-SN-0002.key \
	--data-binary @csrx.b64 "$EST/simpleenroll"
logged "SN-0002 is not on the enrollment allowlist"
# Already enrolled: the bootstrap credential cannot take over a live device
# with another key; with the same key (a retry after a lost answer) it gets
# the same certificate again, and nothing new is issued.
refused 409 "already enrolled" --cert boot-SN-0001.pem --key boot-SN-0001.key \
	--data-binary @csrx.b64 "$EST/simpleenroll"
n=$(reg length registry certs)
enroll 200 boot-SN-0001.pem boot-SN-0001.key csr1.b64
cmp -s <(p7certs out | openssl x509 -outform DER) <(openssl x509 -in op1.pem -outform DER) ||
	fail "a retried enrollment did not get the same certificate"
[ "$(reg length registry certs)" = "$n" ] || fail "a retry issued again"
ok
# A key already registered to another device (a fleet-wide key).
openssl req -new -key op1.key -subj "/CN=SN-0100" -outform DER | openssl base64 >shared.b64
refused 403 "already registered to device SN-0001" --cert boot-SN-0100.pem \
	--key boot-SN-0100.key --data-binary @shared.b64 "$EST/simpleenroll"
logged "already registered"
# Not a CSR; a CSR with a bad signature.
printf 'not base64 at all!' >junk
refused 400 "not a base64 PKCS#10" --cert boot-SN-0100.pem --key boot-SN-0100.key \
	--data-binary @junk "$EST/simpleenroll"
openssl base64 -d -in csrx.b64 >csrx.der
# Flip every bit of one byte of the signature (setting it to a fixed value
# left the CSR valid whenever the byte already had that value: 1 in 256).
at=$(($(stat -c %s csrx.der) - 3))
byte=$(od -An -tu1 -j "$at" -N1 csrx.der | tr -d ' ')
printf "\\x$(printf %02x $((byte ^ 0xff)))" | dd of=csrx.der bs=1 seek="$at" conv=notrunc status=none
openssl base64 -in csrx.der >bad-sig.b64
refused 400 "CSR" --cert boot-SN-0100.pem --key boot-SN-0100.key \
	--data-binary @bad-sig.b64 "$EST/simpleenroll"
# A rogue CA with the same name: the handshake itself fails.
got=0
est --cert rogue.pem --key rogue.key --data-binary @csrx.b64 "$EST/simpleenroll" >/dev/null 2>&1 || got=$?
[ "$got" -ne 0 ] || fail "a certificate from an untrusted CA was accepted"
ok
# Operational and bootstrap certificates each have their endpoint.
refused 403 "needs a bootstrap certificate" --cert op1.pem --key op1.key \
	--data-binary @csrx.b64 "$EST/simpleenroll"
refused 403 "needs the device's current certificate" --cert boot-SN-0100.pem \
	--key boot-SN-0100.key --data-binary @csrx.b64 "$EST/simplereenroll"
# Bootstrap-only CAs never open the device API.
refused 404 "no such endpoint" --cert op1.pem --key op1.key "$URL/v1/nothing"
[ "$(reg length device list)" = 1 ] || fail "a refused request added a device"
ok

# fleetsec-agent as the EST client: it makes its key, enrols with the
# bootstrap credential and writes key and certificate; a refused second
# enrollment leaves them as they were.
agent_conf "$URL" key="$T/dev3.key" cert="$T/dev3.pem" bootstrap_key="$T/boot-SN-0003.key" \
	bootstrap_cert="$T/boot-SN-0003.pem" firmware_key="$T/unused.pub" \
	release_root="$T/unused.pub"
expect 0 "$AGENT" -c agent.conf enroll
grep -q "enrolled as SN-0003" out || fail "agent enroll: $(cat out)"
openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
	-untrusted "$FLEETSEC_HOME/issuing.pem" dev3.pem >/dev/null || fail "agent's cert"
diff <(openssl x509 -in dev3.pem -noout -pubkey) <(openssl pkey -in dev3.key -pubout) >/dev/null ||
	fail "agent's cert is not for its key"
[ "$(stat -c %a dev3.key)" = 600 ] || fail "agent key mode"
cp dev3.key dev3.key.before
expect 1 "$AGENT" -c agent.conf enroll
one_line_error "already enrolled"
cmp -s dev3.key dev3.key.before || fail "a refused enrollment replaced the key"
ok

# A device whose certificate expired while offline re-enrols once with its
# bootstrap credential; a second time is a replay. (The registry's expiry is
# moved into the past, by importing the device's record with another expiry:
# the test does not wait a year.)
set_expiry() { # set_expiry UNIX-TIME: SN-0001's registry expiry
	"$F" device show SN-0001 --json |
		jq --argjson t "$1" '{devices: [del(.certificates, .events, .state, .group, .network, .tamper) | .expires_at = $t]}' \
			>expiry.json
	"$F" registry import expiry.json >/dev/null || fail "cannot move SN-0001's expiry"
	[ "$(reg .expires_at device show SN-0001)" = "$(date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ)" ] ||
		fail "SN-0001's expiry did not move"
}
expire() { set_expiry 1; }
expire
# Only the credential that enrolled it: another one for the same serial (a
# clone, or another allowlisted CA) cannot take the expired identity over.
"$F" mfr issue SN-0001 --dir mfr --key-out clone.key --out clone.pem 2>/dev/null
b64csr clone-op.key "/CN=SN-0001" >csr-clone.b64
refused 403 "not with this bootstrap credential" --cert clone.pem --key clone.key \
	--data-binary @csr-clone.b64 "$EST/simpleenroll"
b64csr op1b.key "/CN=SN-0001" >csr1b.b64
enroll 200 boot-SN-0001.pem boot-SN-0001.key csr1b.b64
p7certs out >op1b.pem
expire
b64csr op1c.key "/CN=SN-0001" >csr1c.b64
refused 403 "already used to re-enroll (replay)" --cert boot-SN-0001.pem --key boot-SN-0001.key \
	--data-binary @csr1c.b64 "$EST/simpleenroll"
logged "replay"
set_expiry 4102444800

# Renewal with the current certificate and a new key; the subject must match.
refused 400 "subject differs" --cert op1b.pem --key op1b.key --data-binary @csrx.b64 \
	"$EST/simplereenroll"
b64csr op2.key "/O=EST Fleet/CN=SN-0001" >csr2.b64
enroll 200 op1b.pem op1b.key csr2.b64 simplereenroll
p7certs out >op2.pem
openssl verify -CAfile "$FLEETSEC_HOME/root.pem" -untrusted "$FLEETSEC_HOME/issuing.pem" \
	op2.pem >/dev/null || fail "renewed cert"
[ "$(reg .provisioning device show SN-0001)" = est-bootstrap ] ||
	fail "renewal rewrote how the device was provisioned"
refused 403 "superseded" --cert op1b.pem --key op1b.key "$EST/csrattrs"
status 200 --cert op2.pem --key op2.key "$EST/csrattrs"
openssl base64 -d -in out | openssl asn1parse -inform DER | grep -q ecdsa-with-SHA256 ||
	fail "csrattrs"
ok

# Revocation applies to the very next request, on an open server.
"$F" device revoke SN-0001 --reason keyCompromise >/dev/null
t0=$(date +%s%N)
refused 403 "SN-0001 is revoked" --cert op2.pem --key op2.key "$EST/csrattrs"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1000 ] || fail "revocation took ${ms} ms to apply"
status 200 "$URL/crl"
openssl crl -inform DER -in out -CAfile "$FLEETSEC_HOME/chain.pem" -noout 2>/dev/null ||
	fail "/crl does not verify"
openssl crl -inform DER -in out -noout -text | grep -q "$(openssl x509 -in op2.pem -noout -serial | cut -d= -f2)" ||
	fail "/crl does not list the revoked certificate"
ok

# TLS policy, from openssl s_client: no plaintext, no TLS 1.1, no RSA key
# exchange or CBC in TLS 1.2; TLS 1.3 and ECDHE-ECDSA-AES-GCM work.
s_client() { openssl s_client -connect 127.0.0.1:$PORT -CAfile "$FLEETSEC_HOME/root.pem" "$@" </dev/null >sc.out 2>&1; }
s_client -tls1_3 || fail "TLS 1.3 handshake failed: $(tail -5 sc.out)"
grep -q "Verify return code: 0" sc.out || fail "server chain does not verify"
s_client -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 || fail "TLS 1.2 AES-GCM refused"
ok
for bad in "-tls1_1" "-tls1_2 -cipher AES128-SHA" "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256" \
	"-tls1_2 -cipher AES128-GCM-SHA256"; do
	# shellcheck disable=SC2086
	! s_client $bad || fail "s_client $bad was accepted"
	ok
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/crl")" != 200 ] ||
	fail "plaintext HTTP answered"
ok

# Metrics on the loopback admin listener; never on a public address.
curl -sS "http://127.0.0.1:$APORT/metrics" >metrics || fail "no metrics"
grep -q '^fleetsecd_requests_total{endpoint="simpleenroll",code="200"} [1-9]' metrics &&
	grep -q '^fleetsecd_requests_total{endpoint="simpleenroll",code="403"} [1-9]' metrics &&
	grep -q '^fleetsecd_connections_total [1-9]' metrics &&
	grep -q '^fleetsecd_request_seconds_count [1-9]' metrics || fail "metrics: $(cat metrics)"
ok
expect 2 "$FLEETSECD" --admin 0.0.0.0:9100
one_line_error "loopback"
kill -TERM $FLEETSECD_PID
wait $FLEETSECD_PID || fail "fleetsecd did not exit cleanly on SIGTERM"
grep -q stopping daemon.log || fail "no shutdown message"
ok

# Manual approval: a request that passes every check waits (202 with
# Retry-After) until the operator approves it, then only for that key.
fleetsecd_start --approval manual
EST=$URL/.well-known/est
b64csr k100.key "/CN=SN-0100" >c100.b64
status 202 -D hdr --cert boot-SN-0100.pem --key boot-SN-0100.key --data-binary @c100.b64 \
	"$EST/simpleenroll"
grep -qi '^retry-after: [1-9]' hdr && grep -q "waits for the operator's approval" out ||
	fail "202 without Retry-After or reason"
expect 0 "$F" enroll pending --json
grep -q '"id": "SN-0100"' out || fail "enroll pending: $(cat out)"
KEY100=$(jq -r '.[0].key_sha256' out)
status 202 --cert boot-SN-0100.pem --key boot-SN-0100.key --data-binary @c100.b64 "$EST/simpleenroll"
[ "$(reg '[.[] | select(.id == "SN-0100")] | length' device list)" = 0 ] ||
	fail "issued before approval"
# A second credential for the same serial cannot swap its key into the
# request the operator is looking at.
"$F" mfr issue SN-0100 --dir mfr --key-out clone100.key --out clone100.pem 2>/dev/null
b64csr swap.key "/CN=SN-0100" >swap.b64
refused 403 "another bootstrap credential is already waiting" --cert clone100.pem \
	--key clone100.key --data-binary @swap.b64 "$EST/simpleenroll"
# Approval names the key the operator saw.
expect 2 "$F" enroll approve SN-0100
expect 1 "$F" enroll approve SN-0100 --key 0000000000000000
one_line_error "waiting with key"
expect 0 "$F" enroll approve SN-0100 --key "${KEY100:0:16}"
expect 1 "$F" enroll approve SN-0100 --key "$KEY100"
one_line_error "waiting"
b64csr other.key "/CN=SN-0100" >c100b.b64
refused 409 "approved for another key" --cert boot-SN-0100.pem --key boot-SN-0100.key \
	--data-binary @c100b.b64 "$EST/simpleenroll"
enroll 200 boot-SN-0100.pem boot-SN-0100.key c100.b64
expect 0 "$F" enroll pending
grep -q "no enrollment is waiting" out || fail "still pending: $(cat out)"
[ "$(reg length enroll pending)" = 0 ] ||
	fail "a served approval was kept (it would block a later re-enrollment)"
done_checks
