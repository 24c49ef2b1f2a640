#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fleetsec audit fleet warns ahead of time: under libfaketime, the CRL (8
# days), a published release manifest (10 days) and its delegation (40
# days), the server certificate (30 days) and the issuing and root CAs reach
# each stage, EXPIRING (medium),
# EXPIRING-SOON (high) and EXPIRED (critical), and each finding goes once
# the artifact is signed again. A fresh fleet has none of them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sarif.sh"
cd "$T"
F=$FLEETSEC

"$F" ca init --name "Expiry Fleet" --crl-days 8 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null # 30 days
for k in fw root; do "$F" fw keygen --out $k.pem 2>/dev/null; "$F" fw pubkey $k.pem --out $k.pub; done
"$F" fw keygen --algo p256 --out online.pem 2>/dev/null
"$F" fw pubkey online.pem --out online.pub
"$F" release delegate --root-key root.pem --key online.pub --sequence 1 --expires 40d --out deleg.json
head -c 200000 /dev/urandom >v1.bin
"$F" fw sign --key fw.pem --version 1.0.0 --security-counter 1 --pad-header --slot-size 0x100000 \
	v1.bin v1.img
"$F" release create --model thermo --image v1.img --sequence 1 --expires 10d --out manifest.json
"$F" release sign --key online.pem --delegation deleg.json manifest.json --out release1.json
expect 0 "$F" release publish --model thermo --bundle release1.json --image v1.img --root root.pub

# audit OFFSET: the JSON report at now + OFFSET, in audit.json.
audit() {
	expect 0 FT "$1" "$F" audit fleet --json
	cp "$T/out" audit.json
}
# at KIND: the expiry findings of KIND (CRL, RELEASE, SERVER-CERT, CA-ISSUING,
# CA-ROOT) as "CHECK SUBJECT" lines.
at() {
	jq -r --arg k "FLEET-$1-" '.findings[] | select((.check | startswith($k)) and
		(.check | test("-EXPIR"))) | "\(.check) \(.subject)"' audit.json
}
is() { # is KIND "CHECK SUBJECT" (or "" for none), at the last audit
	local got
	got=$(at "$1")
	[ "$got" = "$2" ] || fail "$1: expected '${2:-nothing}', got '${got:-nothing}'"
	ok
}

# Fresh: none of the expiry checks, nor the planning window of the CAs.
audit +0
jq -e '[.findings[] | select(.check | test("EXPIR"))] | length == 0' audit.json >/dev/null ||
	fail "a fresh fleet has expiry findings: $(cat audit.json)"
ok

# The CRL (8 days): a quarter is 2 days, a tenth 19.2 hours.
audit +150h # 42 hours left
is CRL "FLEET-CRL-EXPIRING crl.pem"
jq -e '.findings[] | select(.check == "FLEET-CRL-EXPIRING") | .severity == "medium" and
	(.evidence | test("^CRL \\(nextUpdate\\) expires [0-9]{4}-[0-9]{2}-[0-9]{2}T"))' audit.json >/dev/null ||
	fail "CRL finding: $(cat audit.json)"
ok
is RELEASE ""
is SERVER-CERT ""
audit +180h # 12 hours left
is CRL "FLEET-CRL-EXPIRING-SOON crl.pem"
jq -e '.findings[] | select(.check == "FLEET-CRL-EXPIRING-SOON") | .severity == "high"' audit.json >/dev/null ||
	fail "CRL severity: $(cat audit.json)"
ok
# The release (10 days): a quarter is 2.5 days, a tenth 1 day.
is RELEASE "FLEET-RELEASE-EXPIRING thermo"
audit +9d
is CRL "FLEET-CRL-EXPIRED crl.pem"
jq -e '.findings[] | select(.check == "FLEET-CRL-EXPIRED") | .severity == "critical" and
	(.evidence | contains("expired"))' audit.json >/dev/null || fail "CRL expired: $(cat audit.json)"
ok
# A CRL signed now (fleetsec crl, as fleetsecd does by itself) ends it.
expect 0 FT +9d "$F" crl
audit +9d
is CRL ""
audit +228h # 12 hours left
is RELEASE "FLEET-RELEASE-EXPIRING-SOON thermo"
audit +11d
is RELEASE "FLEET-RELEASE-EXPIRED thermo"
jq -e '.findings[] | select(.check == "FLEET-RELEASE-EXPIRED") | .severity == "critical" and
	(.evidence | contains("release 1.0.0"))' audit.json >/dev/null || fail "release expired: $(cat audit.json)"
ok
# Refreshed with the online key: a new expiry, the finding goes.
expect 0 FT +11d "$F" release refresh --model thermo --key online.pem --delegation deleg.json --root root.pub
audit +11d
is RELEASE ""
# Its delegation (40 days; no issue date, so 30 days, then 2): 29 days left.
is DELEGATION "FLEET-DELEGATION-EXPIRING thermo"

# The server certificate (30 days): 7.5 days, then 2 days (shorter than 3).
audit +25d
is SERVER-CERT "FLEET-SERVER-CERT-EXPIRING server.pem"
jq -e '.findings[] | select(.check == "FLEET-SERVER-CERT-EXPIRING") | .severity == "medium" and
	(.evidence | test("^server certificate \\(notAfter\\) expires "))' audit.json >/dev/null ||
	fail "server finding: $(cat audit.json)"
ok
audit +29d
is SERVER-CERT "FLEET-SERVER-CERT-EXPIRING-SOON server.pem"
audit +31d
is SERVER-CERT "FLEET-SERVER-CERT-EXPIRED server.pem"
expect 0 FT +31d "$F" ca server-cert --renew
audit +31d
is SERVER-CERT ""
audit +39d
is DELEGATION "FLEET-DELEGATION-EXPIRING-SOON thermo"
audit +41d
is DELEGATION "FLEET-DELEGATION-EXPIRED thermo"
jq -e '.findings[] | select(.check == "FLEET-DELEGATION-EXPIRED") | .severity == "critical"' audit.json >/dev/null ||
	fail "delegation expired: $(cat audit.json)"
ok
# A new delegation from the root key, and the release refreshed under it.
FT +41d "$F" release delegate --root-key root.pem --key online.pub --sequence 2 --out deleg2.json
expect 0 FT +41d "$F" release refresh --model thermo --key online.pem --delegation deleg2.json --root root.pub
audit +41d
is DELEGATION ""
is RELEASE ""
# The CAs stay quiet meanwhile (issuing 10 years, root 20).
is CA-ISSUING ""
is CA-ROOT ""

# The CAs: 30 days caps a quarter of 10 or 20 years, 2 days a tenth. With
# 650 days left (under a quarter) the issuing CA is not yet "expiring".
audit +3000d
is CA-ISSUING ""
audit +3625d # issuing: 25 days left
is CA-ISSUING "FLEET-CA-ISSUING-EXPIRING Expiry Fleet Issuing CA"
is CA-ROOT ""
audit +3649d # issuing: 1 day left
is CA-ISSUING "FLEET-CA-ISSUING-EXPIRING-SOON Expiry Fleet Issuing CA"
audit +3651d
is CA-ISSUING "FLEET-CA-ISSUING-EXPIRED Expiry Fleet Issuing CA"
audit +7299d # root: 1 day left
is CA-ROOT "FLEET-CA-ROOT-EXPIRING-SOON Expiry Fleet Root CA"
audit +7301d
is CA-ROOT "FLEET-CA-ROOT-EXPIRED Expiry Fleet Root CA"
jq -e '.findings[] | select(.check == "FLEET-CA-ROOT-EXPIRED") | .severity == "critical" and
	(.evidence | startswith("root CA certificate (notAfter) expired "))' audit.json >/dev/null ||
	fail "root expired: $(cat audit.json)"
ok

# The report is valid SARIF with a rule for each new check.
expect 0 FT +7301d "$F" audit fleet --sarif --out fleet.sarif
sarif_valid fleet.sarif
jq -e '[.runs[0].tool.driver.rules[].id] as $ids | all(.runs[0].results[]; .ruleId as $r | $ids | index($r))
	and any(.runs[0].results[]; .ruleId == "FLEET-CA-ROOT-EXPIRED" and .level == "error")' fleet.sarif >/dev/null ||
	fail "SARIF: $(jq -c '.runs[0].results' fleet.sarif)"
ok
done_checks
