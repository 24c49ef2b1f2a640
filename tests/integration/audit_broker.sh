#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fleetsec audit broker: Mosquitto configurations read as the broker reads
# them. What `fleetsec mqtt config` writes is clean; each weakness of a
# hand-written one is found at its file and line (include_dir files too); a
# crlfile is judged by its nextUpdate against the clock (faketime moves it).
. "$(dirname "$0")/lib.sh"
: "${PLUGIN:?set PLUGIN to fleetsec_mosquitto.so}"
F=$FLEETSEC
cd "$T"

# finds FILE CHECK SUBJECT LINE: the JSON report holds that finding.
finds() {
	jq -e --arg c "$2" --arg s "$3" --argjson l "$4" \
		'.findings | any(.check == $c and .subject == $s and .line == $l)' "$1" >/dev/null ||
		fail "no $2 at $3:$4 in $(jq -c '[.findings[] | [.check, .subject, .line]]' "$1")"
	ok
}
count() { jq '.findings | length' "$1"; }

expect 0 "$F" ca init --name broker --crl-days 7
expect 0 "$F" ca server-cert localhost --ip 127.0.0.1 --out srv.pem --key-out srv.key
expect 0 "$F" mqtt config --listener 8883 --cert srv.pem --key srv.key --plugin "$PLUGIN" \
	--user "$(id -un)" --crlfile --out good.conf
expect 0 "$F" audit broker good.conf --json --fail-on info
[ "$(count "$T/out")" -eq 0 ] || fail "the generated config has findings: $(cat "$T/out")"

# A crlfile near and past its nextUpdate (the CRL is valid for 7 days).
expect 0 FT +6d "$F" audit broker good.conf --json
finds "$T/out" BROKER-CRL-EXPIRING good.conf "$(grep -n '^crlfile' good.conf | cut -d: -f1)"
expect 1 FT +8d "$F" audit broker good.conf --json --fail-on critical
finds "$T/out" BROKER-CRL-EXPIRED good.conf "$(grep -n '^crlfile' good.conf | cut -d: -f1)"
grep -q 'audit: findings at or above critical' "$T/err" || fail "--fail-on: $(cat "$T/err")"

mkdir conf.d
cat >bad.conf <<CONF
# a broker as people write them
per_listener_settings true
plugin $PLUGIN
plugin_opt_home $FLEETSEC_HOME
include_dir $T/conf.d
CONF
cat >conf.d/10-plain.conf <<'CONF'
listener 1883
allow_anonymous true
CONF
cat >conf.d/20-tls.conf <<CONF
listener 8884
certfile $T/srv.pem
keyfile $T/srv.key
cafile $FLEETSEC_HOME/chain.pem
use_identity_as_username true

listener 8885
certfile $T/srv.pem
keyfile $T/srv.key
cafile $FLEETSEC_HOME/chain.pem
require_certificate true
crlfile $T/missing-crl.pem
CONF
echo 'ignored, not .conf' >conf.d/README
expect 0 "$F" audit broker bad.conf --json
finds "$T/out" BROKER-NO-TICKS bad.conf 3
finds "$T/out" BROKER-NO-TLS "$T/conf.d/10-plain.conf" 1
finds "$T/out" BROKER-ANONYMOUS "$T/conf.d/10-plain.conf" 2
finds "$T/out" BROKER-NO-CLIENT-CERT "$T/conf.d/20-tls.conf" 1
finds "$T/out" BROKER-IDENTITY-USERNAME "$T/conf.d/20-tls.conf" 1
finds "$T/out" BROKER-CRL-EXPIRED "$T/conf.d/20-tls.conf" 12
[ "$(count "$T/out")" -eq 6 ] || fail "expected 6 findings: $(cat "$T/out")"

# Certificates required, but nothing checks revocation; and no listener.
cat >norev.conf <<CONF
listener 8883
certfile $T/srv.pem
keyfile $T/srv.key
cafile $FLEETSEC_HOME/chain.pem
require_certificate true
CONF
expect 0 "$F" audit broker norev.conf --json
finds "$T/out" BROKER-NO-REVOCATION norev.conf 1
printf 'allow_anonymous false\n' >empty.conf
expect 0 "$F" audit broker empty.conf --json
jq -e '.findings | any(.check == "BROKER-NO-TLS" and .subject == "empty.conf" and .line == null)' "$T/out" >/dev/null ||
	fail "no listener: $(cat "$T/out")"
# A listener option before any listener line is the default listener's.
printf 'port 1883\nallow_anonymous false\n' >default.conf
expect 0 "$F" audit broker default.conf --json
finds "$T/out" BROKER-NO-TLS default.conf 1

# SARIF names the rule and the line.
expect 0 "$F" audit broker norev.conf --sarif
jq -e '.runs[0].results | any(.ruleId == "BROKER-NO-REVOCATION")' "$T/out" >/dev/null ||
	fail "SARIF: $(head -c 400 "$T/out")"
ok

# Refusals.
expect 1 "$F" audit broker nosuch.conf
one_line_error nosuch.conf
printf 'listener 1\x00\n' >nul.conf
expect 1 "$F" audit broker nul.conf
one_line_error nul.conf
printf 'include_dir %s\n' "$T/loop" >loop.conf
mkdir loop
printf 'include_dir %s\n' "$T/loop" >loop/a.conf
expect 1 "$F" audit broker loop.conf
one_line_error "nested too deep"
expect 2 "$F" audit broker
echo "audit_broker: $checks checks passed"
