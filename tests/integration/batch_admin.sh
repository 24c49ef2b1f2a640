#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Batch actions (issue 13), through the real fleetsec and fleetsecd:
#  - `device revoke --model | --group | --file | --manufacturer-ca`: --dry-run
#    shows exactly what the run then does and writes nothing; the run revokes
#    every selected device in one transaction with ONE CRL, which openssl
#    reads: every revoked serial listed, the CRL number one step up; each
#    revocation is a `revoke` event; progress is JSON lines on stderr;
#  - the allowlist verbs: `enroll list`, `remove`, `disallow` (the CA's
#    bootstrap certificates then enrol nothing, checked with curl) and
#    `reject` of a request held for approval (the credential cannot ask
#    again); `allow` never re-models an entry silently, and refuses a
#    --pattern without --model.
# Every refusal is one stderr line with its exit status and writes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}"
cd "$T"
F=$FLEETSEC

"$F" ca init --name "Batch Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
for i in 1 2 3 4 5 6; do
	m=cam
	[ $i -gt 3 ] && m=thermo
	"$F" device issue d$i --keygen --key-out d$i.key --out d$i.pem --model $m 2>/dev/null
done
"$F" device set d1 --group canary >/dev/null
"$F" device set d4 --group canary >/dev/null
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
crl_number() { echo $(($(openssl crl -in "$FLEETSEC_HOME/crl.pem" -noout -crlnumber | cut -d= -f2))); }
crl_has() { openssl crl -in "$FLEETSEC_HOME/crl.pem" -noout -text | grep -q "Serial Number: $1"; }
events() { reg length registry events; }
regc() { local filter=$1; shift; "$F" "$@" --json | jq -c "$filter"; }
statuses() { regc '[.[] | [.id, .status]]' device list; }
home_state() { echo "$(statuses)/$(events)/$(sha256sum "$FLEETSEC_HOME/crl.pem")"; }

# ---- refusals: one line, exit status, nothing written ----
before=$(home_state)
expect 2 "$F" device revoke --model cam --group canary
one_line_error "give one of --model, --group, --file and --manufacturer-ca"
expect 2 "$F" device revoke d1 --model cam
one_line_error "a device ID goes without"
expect 2 "$F" device revoke d1 --dry-run
one_line_error "--dry-run goes with a batch"
expect 1 "$F" device revoke --model nosuch
one_line_error "no active device matches"
expect 1 "$F" device revoke --manufacturer-ca 1234
one_line_error "is not a SHA-256 fingerprint"
printf 'd1\nnot an id!\n' >bad.ids
expect 1 "$F" device revoke --file bad.ids
one_line_error "bad.ids:2"
printf 'd1\nghost\n' >ghost.ids
expect 1 "$F" device revoke --file ghost.ids
one_line_error "device ghost is not registered"
printf 'd2\nd1\nd2\n' >twice.ids
expect 1 "$F" device revoke --file twice.ids
one_line_error "device d2 is listed twice"
printf '# nothing\n\n' >empty.ids
expect 1 "$F" device revoke --file empty.ids
one_line_error "the list names no device"
[ "$(home_state)" = "$before" ] || fail "a refused revoke changed the home"
ok

# ---- --dry-run shows exactly what the run does, and writes nothing ----
n0=$(crl_number)
expect 0 "$F" device revoke --model cam --reason keyCompromise --dry-run --json
cp out dry.json
jq -e '.dry_run == true and .count == 3 and .reason == "keyCompromise"
	and [.devices[].id] == ["d1", "d2", "d3"] and ([.devices[].certificates] | add) == 3
	and .crl == null' dry.json >/dev/null || fail "dry run: $(cat dry.json)"
[ "$(home_state)" = "$before" ] || fail "a dry run changed the home"
expect 0 "$F" device revoke --model cam --reason keyCompromise --dry-run
grep -q "would revoke d2 (cam, 1 certificate)" out && grep -q "nothing written" out ||
	fail "dry run text: $(cat out)"
[ "$(home_state)" = "$before" ] || fail "a dry run changed the home"
ok

# ---- the run: one transaction, one CRL, an event per device ----
ev=$(events)
expect 0 "$F" device revoke --model cam --reason keyCompromise --json
jq -e '.dry_run == false and .crl == "crl.pem"' out >/dev/null || fail "run: $(cat out)"
[ "$(jq -c 'del(.dry_run, .crl)' out)" = "$(jq -c 'del(.dry_run, .crl)' dry.json)" ] ||
	fail "the run did not do what the dry run showed: $(cat out) vs $(cat dry.json)"
# Not a terminal, --json: progress is JSON lines on stderr, the last 3/3.
jq -e -s 'length >= 1 and .[-1] == {progress: "revoking", done: 3, total: 3}' err >/dev/null ||
	fail "progress lines: $(cat err)"
[ "$(crl_number)" = $((n0 + 1)) ] || fail "CRL number $n0 -> $(crl_number): not one step"
for i in 1 2 3; do
	crl_has "$(serial_of d$i.pem)" || fail "d$i's serial is not on the CRL"
done
for i in 4 5 6; do
	crl_has "$(serial_of d$i.pem)" && fail "d$i (thermo) is on the CRL"
done
openssl crl -in "$FLEETSEC_HOME/crl.pem" -noout -text | grep -q "Key Compromise" ||
	fail "reason not on the CRL"
openssl verify -crl_check -CAfile <(cat "$FLEETSEC_HOME/root.pem" "$FLEETSEC_HOME/issuing.pem") \
	-CRLfile "$FLEETSEC_HOME/crl.pem" d1.pem >/dev/null 2>&1 && fail "d1 still verifies"
[ "$(events)" = $((ev + 3)) ] || fail "expected 3 events, got $(($(events) - ev))"
[ "$(regc '[.[] | select(.kind == "revoke") | .device] | sort' events --kind revoke)" = \
	'["d1","d2","d3"]' ] || fail "revoke events: $(regc . events --kind revoke)"
ok

# ---- --group (active devices only) and --file ----
expect 0 "$F" device revoke --group canary --json
jq -e '[.devices[].id] == ["d4"]' out >/dev/null || fail "group: $(cat out)"
printf 'd1\n' >revoked.ids
before=$(home_state)
expect 1 "$F" device revoke --file revoked.ids
one_line_error "device d1 is already revoked"
[ "$(home_state)" = "$before" ] || fail "a refused --file changed the home"
printf '# the rest\nd6\n  d5\n' >rest.ids
n1=$(crl_number)
expect 0 "$F" device revoke --file rest.ids
grep -q "revoked 2 devices (unspecified); one CRL" out || fail "file: $(cat out)"
[ "$(crl_number)" = $((n1 + 1)) ] || fail "--file: not one CRL"
crl_has "$(serial_of d5.pem)" && crl_has "$(serial_of d6.pem)" || fail "--file: not on the CRL"
[ "$(statuses)" = '[["d1","revoked"],["d2","revoked"],["d3","revoked"],["d4","revoked"],["d5","revoked"],["d6","revoked"]]' ] ||
	fail "statuses: $(statuses)"
# The single-device form still works, and refuses a revoked device.
"$F" device issue d7 --keygen --key-out d7.key --out d7.pem 2>/dev/null
expect 0 "$F" device revoke d7 --json
jq -e '.id == "d7" and .status == "revoked"' out >/dev/null || fail "single: $(cat out)"
expect 1 "$F" device revoke d7
one_line_error "already revoked"
ok

# ---- the allowlist ----
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr init --dir other --name "Other Chips" >/dev/null
MFP=$(openssl x509 -in mfr/ca.pem -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
OFP=$(openssl x509 -in other/ca.pem -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
for sn in SN-1 SN-2 SN-3; do
	"$F" mfr issue $sn --dir mfr --key-out boot-$sn.key --out boot-$sn.pem 2>/dev/null
done
"$F" mfr issue OT-1 --dir other --key-out boot-OT-1.key --out boot-OT-1.pem 2>/dev/null
allowed() { regc '[.[] | {fp: .fingerprint_sha256, p: [.patterns[] | "\(.pattern)=\(.model)"]}] | sort_by(.fp)' enroll list; }
before=$(allowed)/$(events)
expect 2 "$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*'
one_line_error "--pattern needs --model M"
[ "$(allowed)/$(events)" = "$before" ] || fail "a refused allow changed the registry"
expect 0 "$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model thermo
expect 0 "$F" enroll allow --manufacturer-ca other/ca.pem --pattern 'OT-*' --model cam
# Again with the same model: a no-op. With another: refused, unless --replace.
expect 0 "$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model thermo
before=$(allowed)/$(events)
expect 1 "$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model cam
one_line_error "pattern 'SN-*' is already allowed as model 'thermo' (--replace changes it)"
[ "$(allowed)/$(events)" = "$before" ] || fail "a refused re-model changed the registry"
expect 0 "$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model cam --replace
expect 0 "$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model thermo --replace
expect 0 "$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern SN-9 --model thermo
want=$(jq -cn --arg m "$MFP" --arg o "$OFP" \
	'[{fp: $m, p: ["SN-*=thermo", "SN-9=thermo"]}, {fp: $o, p: ["OT-*=cam"]}] | sort_by(.fp)')
[ "$(allowed)" = "$want" ] ||
	fail "enroll list: $(allowed)"
# remove: a pattern that is not there refuses them all; --dry-run writes nothing.
before=$(allowed)/$(events)
expect 1 "$F" enroll remove --manufacturer-ca mfr/ca.pem --pattern SN-9 --pattern SN-7
one_line_error "pattern 'SN-7' is not allowed"
expect 2 "$F" enroll remove --manufacturer-ca mfr/ca.pem
expect 0 "$F" enroll remove --manufacturer-ca mfr/ca.pem --pattern SN-9 --dry-run --json
jq -e '.dry_run == true and .removed == [{pattern: "SN-9", model: "thermo"}]' out >/dev/null ||
	fail "remove --dry-run: $(cat out)"
[ "$(allowed)/$(events)" = "$before" ] || fail "a refused or dry remove changed the registry"
expect 0 "$F" enroll remove --manufacturer-ca mfr/ca.pem --pattern SN-9
grep -q "removed SN-9 (model thermo)" out || fail "remove: $(cat out)"
[ "$(reg '[.[] | select(.fingerprint_sha256 == "'"$MFP"'") | .patterns[].pattern] | join(",")' enroll list)" = 'SN-*' ] ||
	fail "after remove: $(allowed)"
[ "$(reg '[.[] | select(.kind == "enroll-remove")] | length' events)" = 1 ] || fail "no enroll-remove event"
ok

# ---- through fleetsecd: enrol, reject a held request, disallow ----
fleetsecd_bounds_off
fleetsecd_start --approval manual
EST=$URL/.well-known/est
est() { curl -sS --cacert "$FLEETSEC_HOME/root.pem" -o out -w '%{http_code}' "$@"; }
b64csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1" \
		-subj "/CN=$2" -outform DER 2>/dev/null | openssl base64
}
ask() { # ask SERIAL: HTTP status of SERIAL's enrollment with its bootstrap certificate
	[ -e k-$1.b64 ] || b64csr k-$1.key $1 >k-$1.b64
	est --cert boot-$1.pem --key boot-$1.key -H 'Content-Type: application/pkcs10' \
		--data-binary @k-$1.b64 "$EST/simpleenroll"
}
for sn in SN-1 SN-2 SN-3 OT-1; do
	[ "$(ask $sn)" = 202 ] || fail "$sn: not held: $(cat out)"
done
for sn in SN-1 SN-2 OT-1; do
	expect 0 "$F" enroll approve $sn --key "$(reg '.[] | select(.id == "'$sn'") | .key_sha256' enroll pending)"
	[ "$(ask $sn)" = 200 ] || fail "$sn: not enrolled after approval: $(cat out)"
done
# reject: refused for a serial with nothing waiting; --dry-run writes nothing.
before=$(reg length enroll pending)/$(events)
expect 1 "$F" enroll reject SN-1
one_line_error "no enrollment of SN-1 is waiting"
expect 0 "$F" enroll reject SN-3 --dry-run --json
jq -e '.id == "SN-3" and .dry_run == true and .rejected == false' out >/dev/null ||
	fail "reject --dry-run: $(cat out)"
[ "$(reg length enroll pending)/$(events)" = "$before" ] || fail "a refused or dry reject wrote"
expect 0 "$F" enroll reject SN-3
# An approved request is the operator's decision already: not rejected.
"$F" mfr issue SN-5 --dir mfr --key-out boot-SN-5.key --out boot-SN-5.pem 2>/dev/null
[ "$(ask SN-5)" = 202 ] || fail "SN-5: not held: $(cat out)"
expect 0 "$F" enroll approve SN-5 --key "$(reg '.[] | select(.id == "SN-5") | .key_sha256' enroll pending)"
before=$(events)
expect 1 "$F" enroll reject SN-5
one_line_error "the enrollment of SN-5 was approved already"
[ "$(events)" = "$before" ] || fail "a refused reject wrote"
[ "$(ask SN-5)" = 200 ] || fail "SN-5: not enrolled after approval: $(cat out)"
[ "$(reg length enroll pending)" = 0 ] || fail "still pending after reject"
[ "$(reg '[.[] | select(.kind == "enroll-reject" and .device == "SN-3")] | length' events)" = 1 ] ||
	fail "no enroll-reject event"
# The same credential asking again is refused, not held again.
[ "$(ask SN-3)" = 403 ] || fail "rejected SN-3 asked again: HTTP $(cat out)"
[ "$(reg length enroll pending)" = 0 ] || fail "a rejected credential is waiting again"
ok

# revoke --manufacturer-ca: the devices Acme's bootstrap certificates enrolled.
expect 0 "$F" device revoke --manufacturer-ca "$MFP" --dry-run --json
jq -e '[.devices[].id] == ["SN-1", "SN-2", "SN-5"]' out >/dev/null || fail "by CA: $(cat out)"
n2=$(crl_number)
expect 0 "$F" device revoke --manufacturer-ca "$MFP" --reason cessationOfOperation
[ "$(crl_number)" = $((n2 + 1)) ] || fail "--manufacturer-ca: not one CRL"
[ "$(regc '[.[] | select(.status == "active") | .id]' device list)" = '["OT-1"]' ] ||
	fail "after revoke by CA: $(statuses)"

# disallow: Acme's bootstrap certificates enrol nothing any more.
"$F" mfr issue SN-4 --dir mfr --key-out boot-SN-4.key --out boot-SN-4.pem 2>/dev/null
before=$(allowed)/$(events)
expect 2 "$F" enroll disallow --manufacturer-ca mfr/ca.pem --pattern 'SN-*'
expect 1 "$F" enroll disallow --manufacturer-ca d1.pem
one_line_error "not a CA certificate"
expect 0 "$F" enroll disallow --manufacturer-ca mfr/ca.pem --dry-run
grep -q "would stop trusting manufacturer CA $MFP (1 pattern); nothing written" out ||
	fail "disallow --dry-run: $(cat out)"
[ "$(allowed)/$(events)" = "$before" ] || fail "a refused or dry disallow wrote"
expect 0 "$F" enroll disallow --manufacturer-ca mfr/ca.pem --json
jq -e --arg fp "$MFP" '.manufacturer_ca == $fp and .ca_removed == true
	and .removed == [{pattern: "SN-*", model: "thermo"}]' out >/dev/null || fail "disallow: $(cat out)"
[ "$(allowed)" = "[{\"fp\":\"$OFP\",\"p\":[\"OT-*=cam\"]}]" ] || fail "after disallow: $(allowed)"
expect 1 "$F" enroll disallow --manufacturer-ca mfr/ca.pem
one_line_error "not trusted for enrollment"
got=$(ask SN-4 || true)
[ "$got" != 200 ] && [ "$got" != 202 ] || fail "a disallowed CA's device was served: HTTP $got"
[ "$(ask OT-1)" != 000 ] || fail "fleetsecd stopped answering"
ok
done_checks
