#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A stolen server key (issue 14), against a real fleetsecd: server
# certificates live 30 days, are recorded (ca server-cert --list) and
# revocable (--revoke, onto the CRL that openssl then checks); the agent
# checks the server's certificate against the fleet CRL it fetches and
# refuses a revoked one, a stale CRL and no CRL at all; --renew and SIGHUP
# put a new certificate in service without a restart, and a reload that
# fails leaves fleetsecd serving the old one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
cd "$T"
F=$FLEETSEC
H=$FLEETSEC_HOME

"$F" ca init --name "Servkey Fleet" >/dev/null
expect 0 "$F" ca server-cert localhost --ip 127.0.0.1 --json
S1=$(jq -r .serial out)
# 30 days by default: a stolen key is good for a month at most.
end=$(date -d "$(openssl x509 -in "$H/server.pem" -noout -enddate | cut -d= -f2)" +%s)
days=$(((end - $(date +%s) + 3600) / 86400))
[ "$days" = 30 ] || fail "default server certificate lifetime is $days days, not 30"
ok
# Recorded in the registry.
[ "$(reg '[.[] | select(.status == "valid")] | .[0].serial' ca server-cert --list)" = "$S1" ] ||
	fail "--list does not show $S1: $("$F" ca server-cert --list --json)"
[ "$(reg '.[0].name' ca server-cert --list)" = localhost ] || fail "--list: name"
ok
# A first issue never overwrites.
expect 1 "$F" ca server-cert localhost
one_line_error "server.key"

printf 'crl_delay = 1\n' >>"$H/fleetsecd.conf"
fleetsecd_start
"$F" device issue dev-1 --keygen --key-out dev.key --out dev.pem --model thermo 2>/dev/null
for k in fw root; do "$F" fw keygen --out $k.pem 2>/dev/null; "$F" fw pubkey $k.pem --out $k.pub; done
head -c 100000 /dev/urandom >v1.bin
"$F" fw sign --key fw.pem --version 1.0.0 --security-counter 1 --pad-header \
	--slot-size 0x40000 v1.bin v1.img
head -c $((0x40000)) /dev/zero | tr '\0' '\377' >slot_a
cp slot_a slot_b
dd if=v1.img of=slot_a conv=notrunc status=none
mkdir -m 700 state
agent_conf "$URL"
A() { "$AGENT" -c agent.conf "$@"; }
# served SERIAL: fleetsecd presents the certificate with SERIAL to a new
# connection (openssl s_client, not our client).
served() {
	local got
	got=$(openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$H/root.pem" </dev/null 2>/dev/null |
		openssl x509 -noout -serial | cut -d= -f2)
	[ "$got" = "$1" ] || fail "fleetsecd serves serial '$got', expected $1"
	ok
}
# hup WORD: send fleetsecd SIGHUP and wait for its log line with WORD.
hup() {
	local n
	n=$(grep -c "$1" daemon.log || true)
	kill -HUP "$FLEETSECD_PID"
	for _ in $(seq 100); do
		[ "$(grep -c "$1" daemon.log || true)" -gt "$n" ] && break
		sleep 0.1
	done
	[ "$(grep -c "$1" daemon.log || true)" -gt "$n" ] || fail "no '$1' after SIGHUP: $(tail -3 daemon.log)"
	kill -0 "$FLEETSECD_PID" 2>/dev/null || fail "fleetsecd died on SIGHUP"
	ok
}

# The agent checks the server against the fleet CRL, which lists nothing yet.
expect 0 A report
served "$S1"
openssl crl -in "$H/crl.pem" -noout -text >crl.txt
! grep -q "$S1" crl.txt || fail "the CRL lists $S1 before its revocation"
ok

# Bad revocations: one line, exit 1, the CRL untouched.
cp "$H/crl.pem" crl.before
expect 1 "$F" ca server-cert --revoke ABCDEF0123
one_line_error "no server certificate with serial ABCDEF0123"
expect 1 "$F" ca server-cert --revoke 'zz!'
one_line_error "not hexadecimal"
expect 2 "$F" ca server-cert --revoke "$S1" --reason nonsense
cmp -s crl.before "$H/crl.pem" || fail "a refused revocation changed the CRL"
ok

# Revoke it: the CRL lists it, and openssl refuses the certificate.
expect 0 "$F" ca server-cert --revoke "$S1"
openssl crl -in "$H/crl.pem" -noout -text >crl.txt
grep -q "Serial Number: $S1" crl.txt || fail "the CRL does not list $S1: $(cat crl.txt)"
grep -A4 "Serial Number: $S1" crl.txt | grep -q "Key Compromise" || fail "reason: $(cat crl.txt)"
openssl x509 -in "$H/server.pem" -out leaf1.pem
if openssl verify -crl_check -CAfile "$H/root.pem" -untrusted "$H/issuing.pem" \
	-CRLfile "$H/crl.pem" leaf1.pem >verify.txt 2>&1; then
	fail "openssl verify -crl_check accepts the revoked server certificate"
fi
grep -q "certificate revoked" verify.txt || fail "openssl verify: $(cat verify.txt)"
ok
[ "$(reg ".[] | select(.serial == \"$S1\") | .status" ca server-cert --list)" = revoked ] ||
	fail "--list does not show $S1 revoked"
ok
# Revoked once only.
expect 1 "$F" ca server-cert --revoke "$S1"
one_line_error "already revoked"
# fleetsecd serves that CRL (GET /crl, checked with openssl).
curl -sS --cacert "$H/root.pem" -o served.crl "$URL/crl"
openssl crl -inform DER -in served.crl -noout -text | grep -q "Serial Number: $S1" ||
	fail "fleetsecd's /crl does not list $S1"
ok

# The agent now refuses the server that presents it.
expect 1 A report
one_line_error "revoked"
expect 1 A check
one_line_error "revoked"
# With the check off (as against a server that serves no CRL), it would not.
agent_conf "$URL" server_crl=off
expect 0 A report
agent_conf "$URL"

# Renewal: a new key and certificate for the same name and addresses,
# served after SIGHUP without a restart; the agent trusts the server again.
pid=$FLEETSECD_PID
cp "$H/server.key" key1.pem
expect 0 "$F" ca server-cert --renew --json
S2=$(jq -r .serial out)
[ "$S2" != "$S1" ] && ! cmp -s key1.pem "$H/server.key" || fail "--renew kept the serial or key"
openssl x509 -in "$H/server.pem" -noout -ext subjectAltName | grep -q "DNS:localhost, IP Address:127.0.0.1" ||
	fail "--renew lost the names: $(openssl x509 -in "$H/server.pem" -noout -ext subjectAltName)"
[ "$(stat -c %a "$H/server.key")" = 600 ] || fail "renewed key mode"
ok
served "$S1" # not before SIGHUP
hup reloaded
served "$S2"
[ "$FLEETSECD_PID" = "$pid" ] || fail "fleetsecd restarted"
expect 0 A report
# Nothing is published: the server's (unsigned) answer is heard again.
expect 1 A check
one_line_error "unsigned answer"

# A reload that fails keeps the old certificate: a corrupt server.pem, a key
# that does not match, a bad configuration, a listener change.
cp "$H/server.pem" good.pem
cp "$H/server.key" good.key
echo "not a certificate" >"$H/server.pem"
hup "reload refused"
served "$S2"
expect 0 A report
# Nor does --renew renew from it: one line, nothing written or recorded.
expect 1 "$F" ca server-cert --renew
one_line_error "server.pem"
cmp -s good.key "$H/server.key" || fail "a refused --renew replaced the key"
[ "$(reg length ca server-cert --list)" = 2 ] || fail "a refused --renew recorded a certificate"
cp good.pem "$H/server.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$H/server.key" 2>/dev/null
hup "reload refused"
served "$S2"
cp good.key "$H/server.key"
cp "$H/fleetsecd.conf" conf.good
echo "no_such_key = 1" >>"$H/fleetsecd.conf"
hup "reload refused"
cp conf.good "$H/fleetsecd.conf"
echo "max_per_source = 7" >>"$H/fleetsecd.conf"
hup "reload refused"
grep "reload refused" daemon.log | tail -1 | grep -q "max_per_source" ||
	fail "the max_per_source refusal does not say why: $(tail -1 daemon.log)"
cp conf.good "$H/fleetsecd.conf"
hup reloaded
served "$S2"
expect 0 A report

# Fail closed: no CRL where the agent looks for it, and a stale CRL (the
# agent's clock past its nextUpdate: 7 days, the fleet default).
agent_conf "$URL" server_crl=/no-crl-here
expect 1 A report
one_line_error "no server CRL"
agent_conf "$URL"
expect 1 FT -f +8d "$AGENT" -c agent.conf report
one_line_error "not current"
expect 0 A report

# --list --json: both certificates, one revoked, one valid, with their reasons.
"$F" ca server-cert --list --json >list.json
jq -e --arg s1 "$S1" --arg s2 "$S2" 'length == 2 and
	([.[] | select(.serial == $s1)][0] | .status == "revoked" and .reason == "keyCompromise") and
	([.[] | select(.serial == $s2)][0] | .status == "valid" and .name == "localhost")' \
	list.json >/dev/null || fail "--list --json: $(cat list.json)"
ok

done_checks
