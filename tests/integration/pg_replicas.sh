#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Three fleetsecd replicas on one PostgreSQL registry behind HAProxy (TCP
# passthrough, so the replicas see the devices' client certificates), run
# by pg_run.sh (issue 16):
# - a device enrolls and renews through HAProxy;
# - `fleetsec device revoke` reaches every replica within a second: each has
#   the device's check cached, and only the change feed (NOTIFY in the
#   revocation's transaction, LISTEN in each replica's event loop) can drop
#   it; the time to refusal per replica is measured and printed;
# - a replica whose feed connection is cut answers 503 until it is back,
#   then has read the events it missed from the log;
# - PostgreSQL stopped: 503 with Retry-After, never a cached 200; started
#   again: requests succeed, no replica restarted;
# - the singleton jobs have one leader; killed with SIGKILL, another takes
#   the lead.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
: "${FLEETSECD:?}" "${FSEC_TEST_PG:?run through pg_run.sh}" "${PG_DIR:?}" "${PG_BIN:?}"
cd "$T"
F=$FLEETSEC
now_ms() { echo $(($(date +%s%N) / 1000000)); }

"$F" ca init --name "Replica Fleet" >/dev/null
grep -q '"postgresql://' "$FLEETSEC_HOME/fleet.json" || fail "the fleet is not on PostgreSQL"
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
for sn in SN-0001 SN-0002 SN-0003 SN-0004; do
	"$F" mfr issue $sn --dir mfr --key-out boot-$sn.key --out boot-$sn.pem 2>/dev/null
done
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model thermo >/dev/null
fleetsecd_bounds_off() {
	printf 'renew_after_percent = 0\nrenewals_per_day = 1000\nrefusals_per_minute = 100000\n' \
		>>"$FLEETSEC_HOME/fleetsecd.conf"
}
fleetsecd_bounds_off

# The replicas, each on its own port and log, and HAProxy in front.
. "$(dirname "$0")/replicas.sh"
replicas_start

# est URL [CURL ARGS...]: status printed, body in out, headers in hdr.
est() {
	local url=$1
	shift
	curl -sS --max-time 10 --cacert "$FLEETSEC_HOME/root.pem" -D hdr -o out \
		-w '%{http_code}' "$@" "$url" 2>/dev/null || echo 000
}
b64csr() { # b64csr KEYFILE SUBJECT
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1" \
		-subj "$2" -outform DER 2>/dev/null | openssl base64
}
p7certs() { openssl base64 -d -in out | openssl pkcs7 -inform DER -print_certs; }
LB=https://127.0.0.1:$HPORT/.well-known/est
enroll_via_lb() { # enroll_via_lb SN: enrol, then renew, through HAProxy
	local sn=$1 got
	b64csr $sn-a.key "/CN=$sn" >$sn-a.b64
	got=$(est "$LB/simpleenroll" --cert boot-$sn.pem --key boot-$sn.key \
		-H 'Content-Type: application/pkcs10' --data-binary @$sn-a.b64)
	[ "$got" = 200 ] || fail "$sn: enroll through HAProxy: HTTP $got: $(head -c 200 out)"
	p7certs >$sn-a.pem
	b64csr $sn.key "/O=Replica Fleet/CN=$sn" >$sn.b64
	got=$(est "$LB/simplereenroll" --cert $sn-a.pem --key $sn-a.key \
		-H 'Content-Type: application/pkcs10' --data-binary @$sn.b64)
	[ "$got" = 200 ] || fail "$sn: renew through HAProxy: HTTP $got: $(head -c 200 out)"
	p7certs >$sn.pem
	openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
		-untrusted "$FLEETSEC_HOME/issuing.pem" $sn.pem >/dev/null || fail "$sn: renewed cert"
	ok
}
enroll_via_lb SN-0001
enroll_via_lb SN-0002
enroll_via_lb SN-0003
[ "$("$F" device list --json | jq length)" = 3 ] || fail "expected 3 devices"
# The load balancer spread the work: more than one replica answered.
busy=0
for i in 0 1 2; do grep -q 'simple' "r$i.log" && busy=$((busy + 1)); done
[ "$busy" -ge 2 ] || fail "HAProxy sent every request to one replica"
ok
# Each renewal superseded a certificate. A replica signs the CRL only while
# it leads the singleton jobs; the leader hears of the others' renewals on
# the feed and, after crl_delay (1 s), signs a list with what it misses.
crlnum() { openssl crl -in "$FLEETSEC_HOME/crl.pem" -noout -crlnumber | cut -d= -f2; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
listed() { # listed CERT: wait up to 10 s for CERT's serial on the published CRL
	for _ in $(seq 100); do
		# Read whole first: grep -q leaving early would make openssl die of
		# SIGPIPE, which pipefail counts as no match.
		openssl crl -in "$FLEETSEC_HOME/crl.pem" -noout -text >crl.txt 2>/dev/null &&
			grep -q "Serial Number: $(serial "$1")" crl.txt && return 0
		sleep 0.1
	done
	return 1
}
for sn in SN-0001 SN-0002 SN-0003; do
	listed $sn-a.pem || fail "$sn's superseded certificate is not on the published CRL"
done
ok
# SN-0004 renews through a replica that does not lead: its superseded
# certificate reaches the CRL only through the leader, told on the feed.
lead0=$(for i in 0 1 2; do
	grep -E 'leading the singleton jobs|no longer leading' r$i.log | tail -1 |
		grep -q '^fleetsecd: leading' && echo $i
done || true)
[ "$(echo "$lead0" | grep -c .)" = 1 ] || fail "expected one leader, got: '$lead0'"
j=$(((lead0 + 1) % 3))
EJ=https://127.0.0.1:${ports[j]}/.well-known/est
b64csr SN-0004-a.key /CN=SN-0004 >SN-0004-a.b64
got=$(est "$EJ/simpleenroll" --cert boot-SN-0004.pem --key boot-SN-0004.key \
	-H 'Content-Type: application/pkcs10' --data-binary @SN-0004-a.b64)
[ "$got" = 200 ] || fail "SN-0004: enroll at replica $j: HTTP $got: $(head -c 200 out)"
p7certs >SN-0004-a.pem
b64csr SN-0004.key "/O=Replica Fleet/CN=SN-0004" >SN-0004.b64
got=$(est "$EJ/simplereenroll" --cert SN-0004-a.pem --key SN-0004-a.key \
	-H 'Content-Type: application/pkcs10' --data-binary @SN-0004.b64)
[ "$got" = 200 ] || fail "SN-0004: renew at replica $j: HTTP $got: $(head -c 200 out)"
listed SN-0004-a.pem || fail "a renewal at replica $j (leader: $lead0) is not on the CRL: $(tail -3 r$lead0.log)"
ok

# ask I SN: the device's next request to replica I (csrattrs needs an
# active device certificate).
ask() {
	est "https://127.0.0.1:${ports[$1]}/.well-known/est/csrattrs" --cert $2.pem --key $2.key
}
# Each replica has SN-0001's check cached as active.
for i in 0 1 2; do
	[ "$(ask $i SN-0001)" = 200 ] || fail "replica $i refused SN-0001 before the revocation"
done
ok

# Revocation: the time from the CLI's commit to each replica's refusal,
# each replica polled by its own loop (one request at a time, so a figure
# is at most one request's time, some tens of ms, above the true one).
watch() { # watch I: poll replica I until it refuses SN-0001; print the ms
	local t
	while :; do
		got=$(curl -sS --max-time 10 --cacert "$FLEETSEC_HOME/root.pem" -o w$1.out \
			-w '%{http_code}' --cert SN-0001.pem --key SN-0001.key \
			"https://127.0.0.1:${ports[$1]}/.well-known/est/csrattrs" 2>/dev/null) || got=000
		t=$(now_ms)
		if [ "$got" = 403 ] && grep -q "SN-0001 is revoked" w$1.out; then
			# The refusal can come before the CLI returns (after its
			# commit it signs the CRL): a negative figure.
			for _ in $(seq 1200); do [ -s t1 ] && break; sleep 0.05; done
			[ -s t1 ] || { echo never; return; }
			echo $((t - $(cat t1)))
			return
		fi
		# Far beyond the requirement: the feed did not carry it.
		[ ! -s t1 ] || [ $((t - $(cat t1))) -lt 5000 ] || { echo never; return; }
	done
}
: >t1
wpids=()
for i in 0 1 2; do
	watch $i >lat$i &
	wpids[i]=$!
done
sleep 0.5
t0=$(now_ms)
"$F" device revoke SN-0001 --reason keyCompromise >/dev/null
t1=$(now_ms)
echo $t1 >t1
wait "${wpids[@]}"
declare -a lat
for i in 0 1 2; do lat[i]=$(cat lat$i); done
echo "revocation to refusal, per replica, in ms after the CLI returned (at most the CLI's" \
	"$((t1 - t0)) ms more after its commit): replica 0: ${lat[0]}, replica 1: ${lat[1]}," \
	"replica 2: ${lat[2]}"
# No timing assertion (the machine may be loaded): 5 s above fails, the
# figures say whether it was within the 1 s requirement.
for i in 0 1 2; do
	[ "${lat[i]}" != never ] || fail "replica $i still accepts SN-0001 after 5 s"
	[ "${lat[i]}" -le 1000 ] || echo "NOTE: replica $i refused SN-0001 only after ${lat[i]} ms"
done
ok
# The CLI published the CRL with SN-0001 on it: the leader, told of the
# event, finds nothing missing and signs no other (each new list makes every
# broker reload its crlfile).
n=$(crlnum)
sleep 2
[ "$(crlnum)" = "$n" ] || fail "the leader signed the CRL again after the CLI's revocation ($n -> $(crlnum))"
listed SN-0001.pem || fail "SN-0001 is not on the CRL"
# The others are untouched.
for i in 0 1 2; do
	[ "$(ask $i SN-0002)" = 200 ] || fail "replica $i refuses SN-0002"
done
ok

# NOTIFY is not durable. Replica 0 is frozen and its feed connection cut;
# SN-0002 is revoked meanwhile (the notification is lost). Woken, it answers
# 503 until the feed is back, then reads the missed event from the log and
# refuses SN-0002.
kill -STOP "${pids[0]}"
psql -qAt -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE application_name = 'fleetsec-feed ${pids[0]}'" | grep -qx t ||
	fail "replica 0 has no feed connection"
"$F" device revoke SN-0002 --reason keyCompromise >/dev/null
kill -CONT "${pids[0]}"
replayed=
for _ in $(seq 100); do
	got=$(ask 0 SN-0002)
	case $got in
	503) ;;
	403) grep -q "SN-0002 is revoked" out && { replayed=1; break; } ;;
	*) fail "replica 0 answered $got to revoked SN-0002: $(head -c 200 out)" ;;
	esac
	sleep 0.1
done
[ -n "$replayed" ] || fail "replica 0 never refused SN-0002"
grep -q "missed events replayed" r0.log || fail "replica 0 did not replay: $(tail -3 r0.log)"
[ "$(ask 0 SN-0003)" = 200 ] || fail "replica 0 refuses SN-0003 after the replay"
ok

# PostgreSQL stopped: every replica answers 503 with Retry-After, SN-0003's
# cached check notwithstanding; started again, they answer without a restart.
for i in 0 1 2; do [ "$(ask $i SN-0003)" = 200 ] || fail "replica $i refuses SN-0003"; done
(cd / && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null)
sleep 0.5
for i in 0 1 2; do
	got=$(ask $i SN-0003)
	[ "$got" = 503 ] || fail "replica $i answered $got with PostgreSQL down: $(head -c 200 out)"
	grep -qi '^Retry-After: [0-9]' hdr || fail "replica $i: 503 without Retry-After"
done
got=$(est "$LB/csrattrs" --cert SN-0003.pem --key SN-0003.key)
[ "$got" = 503 ] || fail "through HAProxy with PostgreSQL down: HTTP $got"
ok
(cd / && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -t 30 -l "$PG_DIR/log" \
	-o "-k $PG_DIR -p $PGPORT -c listen_addresses='' -c fsync=off -c max_connections=200" \
	start >/dev/null) || fail "PostgreSQL did not start again"
for i in 0 1 2; do
	back=
	for _ in $(seq 100); do
		[ "$(ask $i SN-0003)" = 200 ] && { back=1; break; }
		sleep 0.1
	done
	[ -n "$back" ] || fail "replica $i did not recover: $(tail -3 r$i.log)"
	kill -0 "${pids[i]}" || fail "replica $i died"
	# Still refusing the revoked.
	[ "$(ask $i SN-0001)" = 403 ] || fail "replica $i accepts revoked SN-0001 after the restart"
done
# A write through HAProxy after the restart: SN-0003 renews.
b64csr SN-0003-b.key "/O=Replica Fleet/CN=SN-0003" >SN-0003-b.b64
got=$(est "$LB/simplereenroll" --cert SN-0003.pem --key SN-0003.key \
	-H 'Content-Type: application/pkcs10' --data-binary @SN-0003-b.b64)
[ "$got" = 200 ] || fail "renewal after the PostgreSQL restart: HTTP $got: $(head -c 200 out)"
p7certs >SN-0003-b.pem
ok

# The singleton jobs: one leader among the replicas; killed, another leads.
leaders() { cat r0.log r1.log r2.log | grep -c "^fleetsecd: leading the singleton jobs"; }
lead=
for _ in $(seq 50); do
	for i in 0 1 2; do
		# The last word of each replica's log on the lead.
		[ "$(grep -E 'leading the singleton jobs|no longer leading' r$i.log | tail -1 |
			grep -c '^fleetsecd: leading')" = 1 ] && lead="$lead $i"
	done
	[ -n "$lead" ] && break
	sleep 0.1
done
set -- $lead
[ $# = 1 ] || fail "expected one leader, got: ${lead:-none}"
old=$1
n=$(leaders)
kill -9 "${pids[old]}"
new=
for _ in $(seq 100); do
	[ "$(leaders)" -gt "$n" ] && { new=1; break; }
	sleep 0.1
done
[ -n "$new" ] || fail "no replica took the lead after replica $old was killed: $(tail -n3 r*.log)"
heir=$(grep -l "^fleetsecd: leading the singleton jobs" r*.log | grep -v "r$old.log" |
	while read -r l; do
		grep -E 'leading the singleton jobs|no longer leading' "$l" | tail -1 |
			grep -q '^fleetsecd: leading' && echo "${l%.log}"
	done || true) # the last file's test may fail: not an error (set -e)
[ "$(echo "$heir" | grep -c .)" = 1 ] || fail "the lead did not pass to one other replica: $heir"
echo "singleton jobs: replica r$old killed with SIGKILL, $heir took the lead"
# HAProxy routes around the dead replica (its health check, every 500 ms).
sleep 1.5
for _ in 1 2 3 4; do
	got=$(est "$LB/csrattrs" --cert SN-0003-b.pem --key SN-0003-b.key)
	[ "$got" = 200 ] || fail "through HAProxy with replica $old dead: HTTP $got"
done
ok
done_checks
