#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Concurrent `fleetsec device issue` processes never duplicate a serial or
# lose a row, and exactly one of several racing issues for one ID wins.
. "$(dirname "$0")/lib.sh"

WORKERS=4
PER_WORKER=25
expect 0 "$FLEETSEC" ca init --name "Parallel Fleet"

worker() {
	local w=$1 i
	for i in $(seq 1 "$PER_WORKER"); do
		"$FLEETSEC" device issue "w$w-d$i" --keygen --key-out "$T/w$w-d$i.key" \
			--out "$T/w$w-d$i.pem" 2>>"$T/worker$w.err" || echo "w$w-d$i" >>"$T/failed"
	done
}
for w in $(seq 1 "$WORKERS"); do worker "$w" & done
wait
[ ! -e "$T/failed" ] || fail "issues failed: $(cat "$T/failed") / $(cat "$T"/worker*.err)"
ok

total=$((WORKERS * PER_WORKER))
[ "$(reg length device list)" -eq "$total" ] || fail "device rows lost"
[ "$(reg '[.[].serial] | unique | length' registry certs)" -eq "$total" ] || fail "serials"
[ "$(reg length registry events --action issue)" -eq "$total" ] || fail "events lost"
[ "$(reg .ok registry check)" = true ] || fail "integrity check: $("$FLEETSEC" registry check 2>&1)"
ok
# Every certificate file is distinct and verifies; the serials openssl reads
# agree with the registry.
for f in "$T"/w*-d*.pem; do openssl x509 -in "$f" -noout -serial | cut -d= -f2; done | sort >"$T/serials.files"
reg '.[].serial' registry certs | sort >"$T/serials.db"
[ "$(sort -u "$T/serials.files" | wc -l)" -eq "$total" ] || fail "duplicate serial in files"
cmp -s "$T/serials.files" "$T/serials.db" || fail "files and registry disagree"
cat "$T"/w*-d*.pem >"$T/all.pem"
openssl verify -CAfile "$FLEETSEC_HOME/root.pem" -untrusted "$FLEETSEC_HOME/issuing.pem" \
	"$T"/w1-d*.pem >/dev/null || fail "openssl verify"
ok

# Several processes race to issue the same new ID: exactly one wins.
for r in 1 2 3 4; do
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/race$r.key" 2>/dev/null
	openssl req -new -key "$T/race$r.key" -subj /CN=race -out "$T/race$r.csr"
done
for r in 1 2 3 4; do
	("$FLEETSEC" device issue race --csr "$T/race$r.csr" >/dev/null 2>&1 && echo won >>"$T/race.out" ||
		echo lost >>"$T/race.out") &
done
wait
[ "$(grep -c won "$T/race.out")" -eq 1 ] || fail "race for one ID: $(sort "$T/race.out" | uniq -c)"
[ "$(reg length registry certs --device race)" -eq 1 ] || fail "race rows"
ok
done_checks
