#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An enrollment storm across replicas (issue 16), run by pg_run.sh: STORM
# devices (default 2000), each with a bootstrap certificate of its own
# made by openssl, enrol at once through HAProxy in front of three
# fleetsecd replicas on one PostgreSQL registry, 16 at a time, and one
# replica is killed with SIGKILL half-way. A device whose request failed
# (the killed replica's connections, a 503) retries through HAProxy, with
# the same key, as a device would. Afterwards, judged by the CLI's --json
# and by openssl: every device is enrolled and active, no row is lost or
# doubled, serials are unique, each key holds exactly one certificate, and
# each device's certificate is the one the registry holds for it and
# verifies against the fleet CA. bench/bench_replica_enroll.sh runs it with
# STORM_REPLICAS (1-3, default 3) and STORM_KILL=0 (no replica killed), and
# with STORM_SQLITE=1 (not through pg_run.sh) for its baseline: the same
# storm on a SQLite fleet.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
SQLITE=${STORM_SQLITE:-0}
: "${FLEETSECD:?}"
[ "$SQLITE" = 1 ] || : "${FSEC_TEST_PG:?run through pg_run.sh}"
cd "$T"
F=$FLEETSEC
N=${STORM:-2000}
# bench/bench_replicas.sh: how many replicas (1-3), and no kill.
R=${STORM_REPLICAS:-3}
KILL=${STORM_KILL:-1}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

"$F" ca init --name "Storm Fleet" >/dev/null
[ "$SQLITE" = 1 ] || grep -q '"postgresql://' "$FLEETSEC_HOME/fleet.json" ||
	fail "the fleet is not on PostgreSQL"
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Storm Chips" >/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'ST-*' --model thermo >/dev/null
# Every request comes from 127.0.0.1: the per-source bounds step aside.
printf 'max_per_source = 1000000\nrefusals_per_minute = 100000\n' >>"$FLEETSEC_HOME/fleetsecd.conf"

# The devices, made by python-cryptography, not by fleetsec: a bootstrap key
# and certificate from the manufacturer CA, and a new key with its CSR.
mkdir dev
seq -f 'ST-%05g' 1 "$N" >ids
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2046 # one ID a line
python3 "$HERE/make_devices.py" dev mfr/ca.pem mfr/ca.key $(cat ids) || fail "making the devices"
[ "$(ls dev/*.b64 | wc -l)" = "$N" ] || fail "made $(ls dev/*.b64 | wc -l) of $N devices"
ok

. "$(dirname "$0")/replicas.sh"
replicas_start "$R"

# enrol ID: simpleenroll through HAProxy until it answers 200 (at most 20
# tries); the certificate goes to dev/ID.p7, the tries to dev/ID.tries.
enrol() {
	local id=$1 d=dev/$1 got tries=0
	while [ $tries -lt 20 ]; do
		tries=$((tries + 1))
		got=$(curl -sS --max-time 30 --cacert "$FLEETSEC_HOME/root.pem" --cert $d.boot.pem \
			--key $d.boot.key -H 'Content-Type: application/pkcs10' --data-binary @$d.b64 \
			-o $d.p7 -w '%{http_code}' "https://127.0.0.1:$HPORT/.well-known/est/simpleenroll" \
			2>/dev/null) || got=000
		if [ "$got" = 200 ]; then
			openssl base64 -d -in $d.p7 | openssl pkcs7 -inform DER -print_certs -out $d.pem ||
				{ echo "$id: the answer is not PKCS#7" >&2; return 1; }
			echo $tries >$d.tries
			return 0
		fi
		echo "$id: try $tries: HTTP $got" >>retries.log
		sleep 0.2
	done
	echo "$id: no certificate after $tries tries" >&2
	return 1
}
export -f enrol
export HPORT FLEETSEC_HOME
t0=$(now_ms)
xargs -P 16 -I{} bash -c 'enrol {}' <ids >storm.log 2>&1 &
storm=$!
killed=
if [ "$KILL" = 1 ]; then
	# Half-way, the replica that answered most so far dies.
	for _ in $(seq 1200); do
		[ "$(ls dev/ | grep -c '\.tries$')" -ge $((N / 2)) ] && break
		sleep 0.1
	done
	victim=0
	for ((i = 1; i < R; i++)); do
		[ "$(grep -c simpleenroll r$i.log)" -gt "$(grep -c simpleenroll r$victim.log)" ] && victim=$i
	done
	kill -9 "${pids[victim]}" || fail "replica $victim was already gone"
	killed=", replica $victim killed after $(ls dev/ | grep -c '\.tries$' || true)"
fi
wait $storm || fail "the storm did not finish: $(tail -5 storm.log)"
t1=$(now_ms)
retried=$(cat dev/*.tries | awk '$1 > 1' | wc -l)
echo "storm: $N enrollments through HAProxy and $R replicas in $((t1 - t0)) ms$killed;" \
	"$retried devices retried ($(cat retries.log 2>/dev/null | wc -l) failed tries)"
for ((i = 0; i < R; i++)); do
	echo "  replica $i: $(grep -c 'simpleenroll.* -> 200' r$i.log) enrollments answered"
done
ok

# The registry, through the CLI: N active devices, N certificates, unique
# serials and keys, no other rows.
"$F" device list --json >devices.json
[ "$(jq length devices.json)" = "$N" ] || fail "$(jq length devices.json) devices, not $N"
[ "$(jq '[.[] | select(.status == "active")] | length' devices.json)" = "$N" ] ||
	fail "not every device is active"
[ "$(jq -r '.[].id' devices.json)" = "$(cat ids)" ] || fail "the device IDs differ from the storm's"
"$F" registry certs --json >certs.json
[ "$(jq length certs.json)" = "$N" ] || fail "$(jq length certs.json) certificates for $N devices"
[ "$(jq '[.[].serial] | unique | length' certs.json)" = "$N" ] || fail "serials are not unique"
[ "$(jq '[.[].spki_sha256] | unique | length' certs.json)" = "$N" ] ||
	fail "a key holds more than one certificate"
ok

# Each device holds the certificate the registry holds for it (serials
# read by python-cryptography), and openssl verifies them all against the
# fleet CA.
# shellcheck disable=SC2046 # one ID a line
python3 "$HERE/make_devices.py" --serials dev $(cat ids) >mine.txt
jq -r '.[] | "\(.id) \(.serial)"' devices.json | tr 'a-f' 'A-F' >registry.txt
diff mine.txt registry.txt >/dev/null ||
	fail "a device's certificate is not the registry's: $(diff mine.txt registry.txt | head -3)"
# shellcheck disable=SC2046 # one file name a line
openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
	-untrusted "$FLEETSEC_HOME/issuing.pem" $(sed 's|.*|dev/&.pem|' ids) >verify.out 2>&1 ||
	fail "openssl verify: $(grep -v ': OK$' verify.out | head -3)"
[ "$(grep -c ': OK$' verify.out)" = "$N" ] || fail "openssl verified $(grep -c ': OK$' verify.out) of $N"
ok
done_checks
