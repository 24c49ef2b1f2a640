#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's EST client against a hostile server. A device that pins the
# fleet root alone (ca = root.pem) takes the issuing CA from the server's
# cacerts, as untrusted intermediates only: the chain must still end at the
# pinned root. The fake server below (python3, its TLS certificate chaining to
# that root, so the connection is authenticated) answers the CSR with a
# certificate for the device's key from an attacker's intermediate that bears
# the real issuing CA's name, under an attacker's root that bears the real
# root's name, and serves those as its cacerts. `enroll` and `renew --force`
# must refuse, write no certificate and keep the pending key. The same server
# signing with the real issuing CA is the control: it must succeed. Every
# certificate is made, and the CSR signed, by the openssl CLI.
. "$(dirname "$0")/lib.sh"
: "${AGENT:?}"
command -v python3 >/dev/null || fail "python3 is missing (scripts/deps.sh installs it)"
cd "$T"
F=$FLEETSEC
H=$FLEETSEC_HOME

"$F" ca init --name "Hostile Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr issue SN-H1 --dir mfr --key-out boot.key --out boot.pem 2>/dev/null
mkdir state est
cat "$H/server.pem" "$H/issuing.pem" >est/tls-chain.pem
cp "$H/server.key" est/tls.key

# The names and key identifiers an attacker copies from the real fleet.
name() { openssl x509 -in "$1" -noout -subject -nameopt compat | sed 's/^subject=//'; }
skid() { openssl x509 -in "$1" -noout -ext subjectKeyIdentifier | sed -n 2p | tr -d ' :'; }
ROOT_NAME=$(name "$H/root.pem")
ISSUING_NAME=$(name "$H/issuing.pem")
[ "$ISSUING_NAME" != "$ROOT_NAME" ] || fail "root and issuing CA share a name"

# Extensions: SKID is the CA's subject key identifier, "hash" unless the
# caller forges it (every use of the file must set it).
cat >ext.cnf <<'EOF'
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = ${ENV::SKID}
[int]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, digitalSignature, keyCertSign, cRLSign
subjectKeyIdentifier = ${ENV::SKID}
authorityKeyIdentifier = keyid:always
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = URI:urn:fleetsec:device:SN-H1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# attacker PREFIX ROOT_SKID INT_SKID: an attacker root PREFIX-root.pem with
# the real root's name and an intermediate PREFIX-int.pem with the real
# issuing CA's name, signed by that root.
attacker() {
	local p=$1
	newkey "$p-root.key"
	newkey "$p-int.key"
	openssl req -new -key "$p-root.key" -subj "$ROOT_NAME" -out "$p-root.csr" 2>/dev/null
	SKID=$2 openssl x509 -req -in "$p-root.csr" -signkey "$p-root.key" -days 30 \
		-extfile ext.cnf -extensions root -out "$p-root.pem" 2>/dev/null
	openssl req -new -key "$p-int.key" -subj "$ISSUING_NAME" -out "$p-int.csr" 2>/dev/null
	SKID=$3 openssl x509 -req -in "$p-int.csr" -CA "$p-root.pem" -CAkey "$p-root.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile ext.cnf -extensions int \
		-out "$p-int.pem" 2>/dev/null
	[ "$(name "$p-int.pem")" = "$ISSUING_NAME" ] && [ "$(name "$p-root.pem")" = "$ROOT_NAME" ] ||
		fail "attacker $p: names differ from the fleet's"
	! openssl verify -CAfile "$H/root.pem" -untrusted "$p-int.pem" "$p-int.pem" >/dev/null 2>&1 ||
		fail "attacker $p: its intermediate verifies against the fleet root"
}
# evil: the attacker's own key identifiers. forged: the real root's and
# issuing CA's key identifiers copied, so names and key IDs all match the
# fleet's and only the signatures tell them apart.
attacker evil hash hash
attacker forged "$(skid "$H/root.pem")" "$(skid "$H/issuing.pem")"
[ "$(skid forged-int.pem)" = "$(skid "$H/issuing.pem")" ] || fail "the forged SKID did not take"
ok

# The fake EST server. It signs each CSR with est/signer.{pem,key} (via
# est/sign.sh) and serves est/cacerts.b64; a case swaps those files. Each
# request is logged in est/requests.log, each CSR kept in est/req.der.
cat >est/sign.sh <<'EOF'
set -e
SKID=hash openssl x509 -req -inform DER -in req.der -CA signer.pem -CAkey signer.key \
	-set_serial "0x$(openssl rand -hex 12)" -subj /CN=SN-H1 -days 30 \
	-extfile ../ext.cnf -extensions leaf -out issued.pem 2>/dev/null
openssl crl2pkcs7 -nocrl -certfile issued.pem -outform DER | openssl base64 >issued.b64
EOF
cat >fake_est.py <<'EOF'
import base64, http.server, os, ssl, subprocess, sys

d, port = sys.argv[1], int(sys.argv[2])
P = "/.well-known/est/"


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def note(self):
        with open(os.path.join(d, "requests.log"), "a") as f:
            f.write(self.command + " " + self.path + "\n")

    def answer(self, name):
        with open(os.path.join(d, name), "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/pkcs7-mime; smime-type=certs-only")
        self.send_header("Content-Transfer-Encoding", "base64")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.note()
        if self.path != P + "cacerts":
            return self.send_error(404)
        self.answer("cacerts.b64")

    def do_POST(self):
        self.note()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path not in (P + "simpleenroll", P + "simplereenroll"):
            return self.send_error(404)
        with open(os.path.join(d, "req.der"), "wb") as f:
            f.write(base64.b64decode(body))
        subprocess.run(["bash", "sign.sh"], cwd=d, check=True)
        self.answer("issued.b64")


srv = http.server.HTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(d, "tls-chain.pem"), os.path.join(d, "tls.key"))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(os.path.join(d, "ready"), "w").close()
srv.serve_forever()
EOF
for try in 1 2 3 4 5; do
	PORT=$(rand_port)
	python3 fake_est.py "$T/est" "$PORT" 2>est/server.log &
	EST_PID=$!
	trap 'kill $EST_PID 2>/dev/null || true; rm -rf "$T"' EXIT
	for _ in $(seq 50); do
		[ -e est/ready ] && break
		kill -0 $EST_PID 2>/dev/null || break
		sleep 0.1
	done
	[ -e est/ready ] && break
	wait $EST_PID 2>/dev/null || true
done
[ -e est/ready ] || fail "the fake EST server did not start: $(cat est/server.log)"
URL=https://127.0.0.1:$PORT

# serve SIGNER CACERTS...: the server signs with SIGNER.{pem,key} and
# answers cacerts with the CACERTS certificates.
serve() {
	local signer=$1 c args=()
	shift
	cp "$signer.pem" est/signer.pem
	cp "$signer.key" est/signer.key
	for c in "$@"; do args+=(-certfile "$c"); done
	openssl crl2pkcs7 -nocrl "${args[@]}" -outform DER | openssl base64 >est/cacerts.b64
	: >est/requests.log
}
A() { "$AGENT" -c agent.conf "$@"; }
pubkey() { openssl pkey -in "$1" -pubout 2>/dev/null; }
csr_pubkey() { openssl req -inform DER -in est/req.der -pubkey -noout 2>/dev/null; }
# fetched_cacerts: the agent asked for cacerts after its CSR, so the
# fallback (and not some earlier check) is what was exercised.
fetched_cacerts() {
	grep -q "^POST /.well-known/est/simple" est/requests.log &&
		grep -q "^GET /.well-known/est/cacerts" est/requests.log ||
		fail "the agent did not ask for cacerts: $(cat est/requests.log)"
}

# 1. Control: the real issuing CA signs and is served as cacerts. The agent
# pins the root only and enrols, so the server and the fallback work.
agent_conf "$URL" server_crl=off ca="$H/root.pem" bootstrap_key="$T/boot.key" bootstrap_cert="$T/boot.pem"
serve "$H/issuing" "$H/issuing.pem"
expect 0 A enroll
grep -q "enrolled as SN-H1" out || fail "control enroll: $(cat out)"
fetched_cacerts
openssl verify -purpose sslclient -CAfile "$H/root.pem" -untrusted "$H/issuing.pem" dev.pem \
	>/dev/null || fail "the control certificate does not verify"
[ "$(openssl x509 -in dev.pem -noout -pubkey)" = "$(pubkey dev.key)" ] ||
	fail "the control certificate is not for the device key"
[ ! -e dev.key.pending ] || fail "the control enroll left its pending key"
ok

# 2. The attacks. For each: enroll with a fresh key, then renew --force with
# the control's certificate. Both refuse; no certificate lands, the device's
# key and certificate stay as they were, and the pending key the CSR was
# made for is kept for the next attempt.
cases=("evil evil-int.pem" "evil evil-int.pem evil-root.pem"
	"forged forged-int.pem" "forged forged-int.pem forged-root.pem")
i=0
for c in "${cases[@]}"; do
	read -r who certs <<<"$c"
	i=$((i + 1))
	# shellcheck disable=SC2086 # certs is a list of file names
	serve "$who-int" $certs
	agent_conf "$URL" server_crl=off ca="$H/root.pem" key="$T/h$i.key" cert="$T/h$i.pem" \
		bootstrap_key="$T/boot.key" bootstrap_cert="$T/boot.pem"
	expect 1 A enroll
	one_line_error "does not verify against $H/root.pem"
	fetched_cacerts
	# The server did issue: the refusal is the agent's.
	openssl verify -CAfile "$who-root.pem" -untrusted "$who-int.pem" est/issued.pem >/dev/null ||
		fail "case $i ($c): the attacker's certificate does not chain to the attacker's root"
	[ "$(openssl x509 -in est/issued.pem -noout -pubkey)" = "$(pubkey "h$i.key.pending")" ] ||
		fail "case $i ($c): the attacker's certificate is not for the pending key"
	[ ! -e "h$i.pem" ] && [ ! -e "h$i.key" ] || fail "case $i ($c): enroll kept the certificate"
	[ -s "h$i.key.pending" ] && [ "$(csr_pubkey)" = "$(pubkey "h$i.key.pending")" ] ||
		fail "case $i ($c): enroll lost its pending key"
	ok

	agent_conf "$URL" server_crl=off ca="$H/root.pem" bootstrap_key="$T/boot.key" bootstrap_cert="$T/boot.pem"
	cp dev.pem dev.pem.before
	cp dev.key dev.key.before
	: >est/requests.log
	expect 1 A renew --force
	one_line_error "does not verify against $H/root.pem"
	fetched_cacerts
	cmp -s dev.pem dev.pem.before && cmp -s dev.key dev.key.before ||
		fail "case $i ($c): renew --force replaced the device's certificate or key"
	[ -s dev.key.pending ] && [ "$(csr_pubkey)" = "$(pubkey dev.key.pending)" ] ||
		fail "case $i ($c): renew --force lost its pending key"
	! cmp -s dev.key.pending dev.key || fail "case $i ($c): the pending key is the current key"
	ok
done

# 3. Control again: the real issuing CA answers the renewal, which uses the
# pending key the refused attempts kept.
serve "$H/issuing" "$H/issuing.pem"
cp dev.key.pending pending.before
expect 0 A renew --force
grep -q "renewed the certificate of SN-H1" out || fail "control renew: $(cat out)"
cmp -s dev.key pending.before && [ ! -e dev.key.pending ] ||
	fail "the control renewal did not use the pending key"
openssl verify -purpose sslclient -CAfile "$H/root.pem" -untrusted "$H/issuing.pem" dev.pem \
	>/dev/null || fail "the renewed certificate does not verify"
ok

done_checks
