#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The trust update of a root rollover (`fleetsec-agent trust`, and the
# daemon's round): an agent that pins the old root only learns the new
# root from /cacerts, into STATE_DIR/roots.pem, only when a CA certificate
# signed by a root it already trusts vouches for it (NewWithOld), and then
# keeps reaching fleetsecd, and renewing, after the old root has expired.
# The refusals are served by a hostile HTTPS server holding fleetsecd's own
# certificate: a stranger root, a stranger root with a forged cross
# certificate, and one whose cross certificate is not a CA. openssl makes
# the hostile certificates and a genuine cross certificate (the positive
# control); openssl verify judges roots.pem.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
cd "$T"
F=$FLEETSEC
H=$FLEETSEC_HOME

# A short-lived first root, so that the test can step past its end.
"$F" ca init --name "Trust Fleet" --root-days 60 --issuing-days 50 --device-days 200 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
device_slots
"$F" device issue SN-T1 --keygen --key-out dev.key --out dev.pem --model thermo >/dev/null 2>&1
fleetsecd_bounds_off
fleetsecd_start
cp "$H/root.pem" pinned-root.pem
agent_conf "$URL" ca="$T/pinned-root.pem"
A() { "$AGENT" -c agent.conf "$@"; }
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f'; }
roots=$T/state/roots.pem

# 1. Before any rollover: nothing to learn, nothing written.
expect 0 A trust --json
jq -e '.learned == 0 and .offered == 1' out >/dev/null || fail "trust before a rollover: $(cat out)"
[ ! -e "$roots" ] || fail "roots.pem written with nothing learned"
ok

# 2. A hostile /cacerts, served with fleetsecd's own certificate (so the
# TLS check passes and only the trust rule decides). serve BUNDLE: serve
# the certificates of BUNDLE (PEM) as a certs-only CMS on HPORT.
hostile() {
	openssl crl2pkcs7 -nocrl -certfile "$1" -outform DER | openssl base64 >cacerts.b64
	HPORT=$(rand_port)
	python3 - "$HPORT" "$H/server.pem" "$H/server.key" cacerts.b64 >hostile.log 2>&1 <<'EOF' &
import http.server, ssl, sys
port, cert, key, body = int(sys.argv[1]), sys.argv[2], sys.argv[3], open(sys.argv[4], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/pkcs7-mime; smime-type=certs-only")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print("listening", flush=True)
s.serve_forever()
EOF
	HPID=$!
	for _ in $(seq 50); do
		grep -q listening hostile.log && break
		sleep 0.1
	done
	grep -q listening hostile.log || fail "the hostile server did not start: $(cat hostile.log)"
}
unhostile() { kill "$HPID" 2>/dev/null || true; wait "$HPID" 2>/dev/null || true; }
# hostile_trust BUNDLE: the agent's trust update against it, as JSON in out.
hostile_trust() {
	hostile "$1"
	agent_conf "https://127.0.0.1:$HPORT" ca="$T/pinned-root.pem" server_crl="$URL/crl"
	expect 0 A trust --json
	unhostile
	agent_conf "$URL" ca="$T/pinned-root.pem"
}
newroot() { # newroot NAME: a self-signed root CA NAME.pem/NAME.key, by openssl
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-out "$1.pem" -days 3000 -subj "/O=Trust Fleet/CN=$1" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
# cross NAME SIGNER_CERT SIGNER_KEY EXT: NAME's subject and key signed by
# the signer, with the given basicConstraints.
cross() {
	openssl x509 -x509toreq -in "$1.pem" -signkey "$1.key" -out "$1.csr" 2>/dev/null
	printf 'basicConstraints=critical,%s\nkeyUsage=critical,keyCertSign,cRLSign\n' "$4" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA "$2" -CAkey "$3" -CAcreateserial -days 50 \
		-extfile "$1.ext" -out "$1-cross.pem" 2>/dev/null
}
cat "$H/chain.pem" >real.pem
# a. A stranger's root alone.
newroot stranger
cat real.pem stranger.pem >b1.pem
hostile_trust b1.pem
jq -e '.learned == 0 and .offered == 2' out >/dev/null || fail "a stranger root: $(cat out)"
[ ! -e "$roots" ] || fail "a stranger root was learned"
ok
# b. A stranger's root with a cross certificate that names the pinned root
# as its issuer but is signed by an impostor of the same name.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout fake.key -out fake.pem \
	-days 3000 -subj "$(openssl x509 -in "$H/root.pem" -noout -subject -nameopt compat | sed 's/^subject=//')" \
	-addext basicConstraints=critical,CA:TRUE 2>/dev/null
[ "$(openssl x509 -in fake.pem -noout -subject)" = "$(openssl x509 -in "$H/root.pem" -noout -subject)" ] ||
	fail "the impostor does not carry the root's name"
cross stranger fake.pem fake.key CA:TRUE
cat real.pem stranger.pem stranger-cross.pem >b2.pem
hostile_trust b2.pem
jq -e '.learned == 0' out >/dev/null || fail "a forged cross certificate: $(cat out)"
[ ! -e "$roots" ] || fail "a root vouched for by a forged cross certificate was learned"
ok
# c. A cross certificate by the real root that is not a CA certificate.
newroot notca
cross notca "$H/root.pem" "$H/root.key" CA:FALSE
openssl verify -CAfile "$H/root.pem" notca-cross.pem >/dev/null || fail "notca-cross.pem is not the root's"
cat real.pem notca.pem notca-cross.pem >b3.pem
hostile_trust b3.pem
jq -e '.learned == 0' out >/dev/null || fail "a cross certificate that is no CA: $(cat out)"
[ ! -e "$roots" ] || fail "a root vouched for by a non-CA certificate was learned"
ok
# d. The positive control: a genuine cross certificate, made by openssl
# with the real root's key, is enough.
newroot genuine
cross genuine "$H/root.pem" "$H/root.key" CA:TRUE
cat real.pem genuine.pem genuine-cross.pem >b4.pem
hostile_trust b4.pem
jq -e '.learned == 1' out >/dev/null || fail "a genuine cross certificate: $(cat out)"
[ "$(jq -r .sha256 out)" = "$(fp genuine.pem)" ] || fail "trust --json names another root: $(cat out)"
[ "$(fp "$roots")" = "$(fp genuine.pem)" ] || fail "roots.pem does not hold the genuine root"
rm "$roots"
ok

# 3. The rollover, then fleetsecd's certificate from the new issuing CA.
"$F" ca rollover --root-key "$H/root.key" --issuing-days 400 >/dev/null
"$F" ca server-cert --renew --days 200 >/dev/null
fleetsecd_reload

# The daemon's round takes the trust update, without being asked.
"$AGENT" -c agent.conf daemon --interval 3600 >daemon.out 2>daemon.err &
DPID=$!
for _ in $(seq 100); do
	[ -s "$roots" ] && break
	sleep 0.1
done
kill "$DPID" 2>/dev/null || true
wait "$DPID" 2>/dev/null || true
[ -s "$roots" ] || fail "the daemon did not learn the new root: $(cat daemon.out daemon.err)"
grep -q "learned the fleet root" daemon.out || fail "the daemon did not say it learned the root: $(cat daemon.out)"
[ "$(grep -c 'BEGIN CERTIFICATE' "$roots")" = 1 ] || fail "roots.pem holds $(grep -c 'BEGIN CERTIFICATE' "$roots") certificates"
[ "$(fp "$roots")" = "$(fp "$H/root-2.pem")" ] || fail "roots.pem is not root-2.pem"
openssl verify -CAfile "$roots" "$roots" >/dev/null || fail "roots.pem is not a self-signed root by openssl's judgement"
[ "$(stat -c %a "$roots")" = 644 ] || fail "roots.pem mode $(stat -c %a "$roots")"
ok
# Taking it again learns nothing more.
expect 0 A trust --json
jq -e '.learned == 0 and .offered == 2' out >/dev/null || fail "a second trust update: $(cat out)"
ok
expect 0 A renew --force
openssl verify -CAfile "$roots" -untrusted "$H/issuing-2.pem" dev.pem >/dev/null ||
	fail "the renewed certificate does not chain to the learned root"

# 4. Past the old root's end: fleetsecd restarts there (and re-signs its
# CRL); with roots.pem the agent still verifies fleetsecd and its renewed
# certificate; without it, it refuses the server, as it must.
past=+70d
FT "$past" openssl x509 -in pinned-root.pem -noout -checkend 0 >/dev/null &&
	fail "the pinned root has not expired at $past"
kill "$FLEETSECD_PID"
wait "$FLEETSECD_PID" 2>/dev/null || true
LD_PRELOAD=$FAKETIME_LIB FAKETIME=$past ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	fleetsecd_start
agent_conf "$URL" ca="$T/pinned-root.pem"
expect 0 FT "$past" "$AGENT" -c agent.conf report
grep -q "reported to the server" out || fail "report after the old root expired: $(cat out)"
expect 0 FT "$past" "$AGENT" -c agent.conf renew --force
grep -q "renewed the certificate of SN-T1" out || fail "renew after the old root expired: $(cat out)"
mv "$roots" roots.away
expect 1 FT "$past" "$AGENT" -c agent.conf report
grep -qi "certificate has expired\|verif" err || fail "without roots.pem, refused for another reason: $(cat err)"
mv roots.away "$roots"
ok

# 5. roots.pem is state: writable by others, it is refused.
chmod 666 "$roots"
expect 1 FT "$past" "$AGENT" -c agent.conf report
one_line_error "roots.pem"
chmod 644 "$roots"
ok

done_checks
