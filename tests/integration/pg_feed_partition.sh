#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A replica whose registry connections die in silence (issue 16): no FIN, no
# RST, every packet dropped by nftables, as a partition or a dead host does.
# Its change feed then carries nothing while looking alive, and without TCP
# keepalives (pg_core.c) it would serve its cached "active" verdict to a
# revoked device for as long as the kernel kept the dead connection, hours.
# The test runs in a network namespace of its own, with PostgreSQL on TCP:
# - SN-0001's verdict is cached by the one fleetsecd (which also leads the
#   singleton jobs, so nothing else of its sends a query on the feed);
# - nft drops every packet of fleetsecd's registry connections, both ways;
# - `fleetsec device revoke` (its own, new connection) commits;
# - fleetsecd must refuse SN-0001 (503 while it reconnects, then 403) once
#   keepalive gives up on the dead connections, and never answer 200 after
#   that. Seen failing without the keepalive settings: 200 for a whole
#   minute;
# - the lead of the singleton jobs must be taken again (by a second
#   fleetsecd, or by the first on new connections) once PostgreSQL gives up
#   on the first one's silent session, which holds the lead's lock
#   (server-side keepalives, set by each session). Seen failing without
#   them: no lead for 90 s.
set -euo pipefail
if [ -z "${FSEC_NETNS_CHILD:-}" ]; then
	[ "$(id -u)" -eq 0 ] ||
		{ echo "FAIL: needs root for a network namespace (run as root; it never skips)" >&2; exit 1; }
	command -v nft >/dev/null || { echo "FAIL: nft is missing (scripts/deps.sh installs nftables)" >&2; exit 1; }
	FSEC_NETNS_CHILD=1 exec unshare --net bash "$0" "$@"
fi
ip link set lo up
# Its own cluster, on TCP: the backend is not the pass's choice.
FSEC_TEST_REGISTRY_FIXED="a PostgreSQL cluster of its own, on TCP"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
: "${FLEETSECD:?}"
PG_LISTEN=127.0.0.1 pg_start
pid=
pid2=
trap 'kill -9 $pid $pid2 2>/dev/null || true; pg_stop; rm -rf "$T"' EXIT
cd "$T"
F=$FLEETSEC
createdb fsec_partition
"$F" ca init --name "Partition Fleet" --registry "postgresql://127.0.0.1:$PGPORT/fsec_partition" >/dev/null
grep -q "\"postgresql://127.0.0.1:$PGPORT/" "$FLEETSEC_HOME/fleet.json" || fail "the fleet is not on PostgreSQL over TCP"
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" device issue SN-0001 --keygen --key-out dev.key --out dev.pem --model thermo >/dev/null 2>&1
ok

# start LOG: a fleetsecd logging to LOG (in its own network namespace, no
# other test takes its port); sets port and pid.
start() {
	port=$(rand_port)
	"$FLEETSECD" --listen 127.0.0.1:$port 2>"$1" &
	pid=$!
	for _ in $(seq 100); do
		grep -q listening "$1" && return 0
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	fail "fleetsecd did not start: $(cat "$1")"
}
start d.log
for _ in $(seq 50); do grep -q 'leading the singleton jobs' d.log && break; sleep 0.1; done
grep -q 'leading the singleton jobs' d.log || fail "fleetsecd does not lead: $(cat d.log)"
# A second replica, not cut off (pg_core.c settings(): server-side
# keepalives end the first one's silent session and its lead's lock).
first_pid=$pid first_port=$port
start d2.log
pid2=$pid
pid=$first_pid port=$first_port
grep -q 'leading the singleton jobs' d2.log && fail "two leaders"
ask() { # the HTTP status of SN-0001's csrattrs; 000: no answer
	local got
	got=$(curl -sS --max-time 30 --cacert "$FLEETSEC_HOME/root.pem" --cert dev.pem --key dev.key \
		-o out -w '%{http_code}' "https://127.0.0.1:$port/.well-known/est/csrattrs" 2>/dev/null) ||
		got=000
	echo "$got"
}
[ "$(ask)" = 200 ] || fail "SN-0001 refused before the revocation: $(head -c 200 out)"
ok

# fleetsecd's connections to PostgreSQL: the feed and the registry's own.
lports=$(ss -tnpH state established "( dport = :$PGPORT )" | grep "pid=$pid," |
	awk '{split($3, a, ":"); print a[2]}' | paste -sd, -)
[ "$(tr , '\n' <<<"$lports" | grep -c .)" -ge 2 ] ||
	fail "fleetsecd holds no feed and registry connections: '$lports'"
nft -f - <<EOF
table inet partition {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp sport { $lports } drop
		tcp dport { $lports } drop
	}
}
EOF
ok
t0=$(date +%s)
"$F" device revoke SN-0001 --reason keyCompromise >/dev/null
# The keepalive settings give up on a silent connection after about 15 s
# (5 s idle, then probes; 10 s for unacknowledged data); a minute is far
# beyond that, and far short of the kernel's default of hours.
refused=
while [ $(($(date +%s) - t0)) -lt 60 ]; do
	got=$(ask)
	case $got in
	403) grep -q "SN-0001 is revoked" out && { refused=$(($(date +%s) - t0)); break; } ;;
	503 | 000) ;;
	200) ;;
	*) fail "fleetsecd answered $got to revoked SN-0001: $(head -c 200 out)" ;;
	esac
	sleep 0.5
done
[ -n "$refused" ] || fail "fleetsecd still serves revoked SN-0001 a minute after a silent partition: $(tail -3 d.log)"
grep -q 'change feed is lost' d.log || fail "fleetsecd did not report the lost feed: $(tail -3 d.log)"
echo "silent partition: revoked SN-0001 refused after ${refused} s (keepalive gives up after about 15 s)"
# The lead is taken again: by the second replica, or by the first on its
# new connections (nft drops only the old ones). Either needs PostgreSQL to
# have ended the silent session that held the lead's lock.
leads() { cat d.log d2.log | grep -c 'leading the singleton jobs'; }
led=
while [ $(($(date +%s) - t0)) -lt 90 ]; do
	[ "$(leads)" -ge 2 ] && { led=$(($(date +%s) - t0)); break; }
	sleep 0.5
done
[ -n "$led" ] || fail "no replica took the lead again: $(tail -2 d.log) / $(tail -2 d2.log)"
echo "silent partition: the lead was taken again after ${led} s" \
	"($(grep -c 'leading the singleton jobs' d2.log) by the second replica)"
# And from then on, never a 200 again.
for _ in 1 2 3; do
	[ "$(ask)" = 403 ] || fail "revoked SN-0001 served again after the refusal"
done
kill -0 $pid || fail "fleetsecd died"
ok
done_checks
