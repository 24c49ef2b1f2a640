#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Revocation quarantines a device on the network, proven with real packets.
# A router namespace loads the ruleset `net compile --from-registry
# --fleetsecd` made; two cameras (registry devices) reach their cloud
# endpoint. `net sync` (once) moves a revoked camera to the quarantine class;
# `net sync --follow` does the same for a camera revoked while it runs. A
# quarantined camera's packets are dropped everywhere (its class endpoint,
# another WAN port, the other camera; counted on drop_quarantined) except
# fleetsecd's address and port. Every deny has a positive control. The
# refusals (no table, no nft, another policy's table, bad flags) each have
# their one-line error and exit status.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PROBE="$HERE/net_probe.py"
[ "$(id -u)" -eq 0 ] || fail "needs root for network namespaces (run as root; it never skips)"
command -v nft >/dev/null || fail "nft is missing (scripts/deps.sh installs nftables)"
command -v python3 >/dev/null || fail "python3 is missing (scripts/deps.sh installs it)"

S=$$
R=fsyr$S D1=fsy1$S D2=fsy2$S CLOUD=fsyc$S
. "$HERE/netns.sh"
netns_add "$R" "$D1" "$D2" "$CLOUD"

# Topology (as in net_namespaces.sh): two devices on an isolated bridge, a
# WAN cloud that runs the class endpoint (443), fleetsecd (8443) and a
# service nobody may use (9000).
link "$D1" eth0 iotp1
link "$D2" eth0 iotp2
link "$CLOUD" eth0 wan0
nsx "$R" ip link add br-iot type bridge
nsx "$R" ip link set iotp1 master br-iot
nsx "$R" ip link set iotp2 master br-iot
for i in lo br-iot iotp1 iotp2 wan0; do nsx "$R" ip link set "$i" up; done
nsx "$R" ip addr add 10.20.0.1/24 dev br-iot
nsx "$R" ip addr add 203.0.113.1/24 dev wan0
host "$D1" 02:00:00:00:20:11 10.20.0.11/24 10.20.0.1
host "$D2" 02:00:00:00:20:12 10.20.0.12/24 10.20.0.1
host "$CLOUD" 02:00:00:00:71:10 203.0.113.10/24 203.0.113.1

# The registry: two cameras with their addresses.
expect 0 "$FLEETSEC" ca init --name "Sync IT"
for id in cam-a cam-b; do
	csr p256 "$id"
	expect 0 "$FLEETSEC" device issue "$id" --csr "$T/$id.csr" --model camera-v2 --out "$T/$id.pem"
done
expect 0 "$FLEETSEC" device set cam-a --mac 02:00:00:00:20:11 --ip 10.20.0.11
expect 0 "$FLEETSEC" device set cam-b --mac 02:00:00:00:20:12 --ip 10.20.0.12

# The camera class may use the cloud endpoint and fleetsecd; the quarantine
# class fleetsecd only.
cat >"$T/policy.json" <<'EOF'
{"version": 1,
 "zones": {"iot": [{"name": "iot", "interface": "br-iot", "subnets": ["10.20.0.0/24"],
                    "router": "10.20.0.1", "bridge_ports": ["iotp1", "iotp2"]}],
           "wan": {"interface": "wan0"}},
 "classes": [{"name": "camera", "models": ["camera-v2"],
              "allow": [{"host": "203.0.113.10", "proto": "tcp", "port": 443},
                        {"host": "203.0.113.10", "proto": "udp", "port": 443},
                        {"host": "203.0.113.10", "proto": "tcp", "port": 8443}]}],
 "exceptions": [{"from": "camera", "to": "camera", "proto": "tcp", "port": 7000}]}
EOF
FSD=203.0.113.10:8443
expect 0 "$FLEETSEC" net compile "$T/policy.json" --from-registry --fleetsecd "$FSD" --out "$T/rules.nft"
expect 0 "$FLEETSEC" net setup "$T/policy.json" --out "$T/setup.sh"
nsx "$R" sh "$T/setup.sh" || fail "router setup script failed"

# Refusals before anything is loaded: no table, no nft. Nothing is written.
sync() { nsx "$R" "$FLEETSEC" net sync "$T/policy.json" "$@"; }
expect 1 sync
one_line_error "table inet fleetsec: not loaded"
mkdir "$T/nonft"
expect 1 nsx "$R" env PATH="$T/nonft" "$FLEETSEC" net sync "$T/policy.json"
one_line_error "cannot run nft (install nftables)"
# Bad flags: usage errors, exit 2.
expect 2 sync --follow --dry-run
grep -qF -- "--dry-run prints one batch: it goes without --follow" "$T/err" || fail "dry-run+follow: $(cat "$T/err")"
ok
expect 2 sync --bogus
expect 2 sync --fleetsecd 203.0.113.10:8443
grep -qF -- "--fleetsecd goes to net compile" "$T/err" || fail "--fleetsecd: $(cat "$T/err")"
ok
expect 2 nsx "$R" "$FLEETSEC" net sync
grep -qF "expected exactly one POLICY.json" "$T/err" || fail "no policy: $(cat "$T/err")"
ok
[ -z "$(nsx "$R" nft list tables)" ] || fail "a refused sync created a table"
ok

# A table compiled from another policy (its class 1 is another class) is
# refused: its marks would put devices into the wrong classes.
sed 's/"camera"/"cam"/g' "$T/policy.json" >"$T/other.json"
expect 0 "$FLEETSEC" net compile "$T/other.json" --from-registry --out "$T/other.nft"
nsx "$R" nft -f "$T/other.nft" || fail "nft -f refused the other ruleset"
expect 1 sync
one_line_error 'the loaded table'"'"'s class 1 is "cam", the policy'"'"'s "camera"'
nsx "$R" nft delete table inet fleetsec

nsx "$R" nft -f "$T/rules.nft" || fail "nft -f refused the compiled ruleset"
ok

serve() { local ns=$1; shift; nsx "$ns" python3 "$PROBE" serve "$@" >"$T/serve-$ns" 2>&1 & }
serve "$CLOUD" 443 8443 9000
serve "$D1" 7000
serve "$D2" 7000
for ns in "$CLOUD" "$D1" "$D2"; do
	for _ in $(seq 50); do grep -q ready "$T/serve-$ns" 2>/dev/null && break; sleep 0.1; done
	grep -q ready "$T/serve-$ns" || fail "server in $ns did not start: $(cat "$T/serve-$ns")"
done
counter() { nsx "$R" nft list counter inet fleetsec "$1" | awk '/packets/ {print $2}'; }
reach() { nsx "$1" python3 "$PROBE" probe "$2" "$3" "$4"; }
pass() { reach "$@" || fail "$1 -> $3 $2/$4 should pass"; ok; }
# quarantined NS PROTO DST PORT CONTROL_NS: dropped and counted, while the
# control still gets through to the same server.
quarantined() {
	local before
	pass "$5" "$2" "$3" "$4"
	before=$(counter drop_quarantined)
	if PROBE_TIMEOUT=0.5 reach "$1" "$2" "$3" "$4"; then
		fail "quarantined $1 reached $3 $2/$4"
	fi
	ok
	[ "$(counter drop_quarantined)" -gt "$before" ] || fail "$1 -> $3 $2/$4 not counted as quarantined"
	ok
}
# the map element of a device's IP, e.g. "10.20.0.11 : 0x00000001"
dst_mark() { nsx "$R" nft list map inet fleetsec dst_class | grep -oE "$1 : 0x[0-9a-f]+" || true; }

# Both cameras use their class: endpoint, fleetsecd, each other on 7000.
pass "$D1" tcp 203.0.113.10 443
pass "$D2" tcp 203.0.113.10 443
pass "$D1" tcp 203.0.113.10 8443
pass "$D1" tcp 10.20.0.12 7000
if PROBE_TIMEOUT=0.5 reach "$D1" tcp 203.0.113.10 9000; then fail "9000 is in no class"; fi
ok

# Sync once on what compile loaded: nothing to change.
expect 0 sync --json
[ "$(jq -c '[.deleted, .added, .devices, .quarantined]' "$T/out")" = "[0,0,2,0]" ] ||
	fail "a sync after compile changed something: $(cat "$T/out")"
ok

# Revoke cam-b; a dry run prints the batch and changes nothing.
expect 0 "$FLEETSEC" device revoke cam-b --reason keyCompromise
expect 0 sync --dry-run
grep -qF "delete element inet fleetsec class_macip4 { 02:00:00:00:20:12 . 10.20.0.12 }" "$T/out" ||
	fail "dry run: $(cat "$T/out")"
ok
grep -qF "add element inet fleetsec dst_class { 10.20.0.12 : 65535 }" "$T/out" || fail "dry run: $(cat "$T/out")"
ok
expect 0 sync --dry-run --json
jq -r .batch "$T/out" | grep -qxF "add element inet fleetsec dst_class { 10.20.0.12 : 65535 }" ||
	fail "dry run --json: $(cat "$T/out")"
ok
[ "$(jq -c '[.dry_run, .deleted, .added, .quarantined]' "$T/out")" = "[true,3,3,1]" ] || fail "dry run --json: $(cat "$T/out")"
ok
[ "$(dst_mark 10.20.0.12)" = "10.20.0.12 : 0x00000001" ] || fail "a dry run changed the kernel: $(dst_mark 10.20.0.12)"
ok
pass "$D2" tcp 203.0.113.10 443
# net sync once: cam-b is quarantined by element changes, not a reload (the
# rules keep their handles).
handles_before=$(nsx "$R" nft -a list chain inet fleetsec forward | grep -c '# handle')
expect 0 sync --json
[ "$(jq -c '[.deleted, .added, .quarantined]' "$T/out")" = "[3,3,1]" ] || fail "sync once: $(cat "$T/out")"
ok
[ "$(dst_mark 10.20.0.12)" = "10.20.0.12 : 0x0000ffff" ] || fail "cam-b not quarantined: $(dst_mark 10.20.0.12)"
ok
[ "$(nsx "$R" nft -a list chain inet fleetsec forward | grep -c '# handle')" = "$handles_before" ] ||
	fail "the sync replaced rules"
ok
quarantined "$D2" tcp 203.0.113.10 443 "$D1"
quarantined "$D2" tcp 203.0.113.10 9000 "$R"
quarantined "$D2" tcp 10.20.0.11 7000 "$R"
pass "$D2" tcp 203.0.113.10 8443 # fleetsecd, for re-provisioning
# A second sync (a restart) finds nothing to do.
expect 0 sync --json
[ "$(jq -c '[.deleted, .added]' "$T/out")" = "[0,0]" ] || fail "a restarted sync is not a no-op: $(cat "$T/out")"
ok

# --follow: revoke cam-a while it runs.
# Not through nsx: $! must be the follower itself (ip netns exec execs it).
ip netns exec "$R" "$FLEETSEC" net sync "$T/policy.json" --follow --json >"$T/follow.out" 2>"$T/follow.err" &
FOLLOW_PID=$!
for _ in $(seq 100); do [ -s "$T/follow.out" ] && break; sleep 0.1; done
[ "$(head -1 "$T/follow.out" | jq -c '[.deleted, .added]')" = "[0,0]" ] ||
	fail "follow's first sync: $(cat "$T/follow.out" "$T/follow.err")"
ok
pass "$D1" tcp 203.0.113.10 443
# A UDP flow cam-a keeps open (same source port) to the endpoint: conntrack
# knows it as established, and quarantine must cut it too.
udp_flow() { # udp_flow NS: one exchange from source port 40443 to the cloud's udp/443
	nsx "$1" python3 -c '
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
u.bind(("0.0.0.0", 40443))
u.settimeout(float(sys.argv[1]))
u.sendto(b"x", ("203.0.113.10", 443))
u.recv(64)' "${2:-2}"
}
udp_flow "$D1" || fail "cam-a's UDP flow to its endpoint does not pass"
ok
expect 0 "$FLEETSEC" device revoke cam-a --reason superseded
t0=$(date +%s%N)
for _ in $(seq 100); do [ "$(dst_mark 10.20.0.11)" = "10.20.0.11 : 0x0000ffff" ] && break; sleep 0.05; done
t1=$(date +%s%N)
[ "$(dst_mark 10.20.0.11)" = "10.20.0.11 : 0x0000ffff" ] || fail "follow did not quarantine cam-a: $(cat "$T/follow.out" "$T/follow.err")"
ok
echo "net sync --follow: cam-a quarantined $(( (t1 - t0) / 1000000 )) ms after its revocation was committed"
[ "$(tail -1 "$T/follow.out" | jq -c '[.devices, .deleted, .added]')" = '[["cam-a"],3,3]' ] ||
	fail "follow's line: $(cat "$T/follow.out")"
ok
quarantined "$D1" tcp 203.0.113.10 443 "$R"
quarantined "$D1" tcp 203.0.113.10 9000 "$R"
pass "$D1" tcp 203.0.113.10 8443
# The flow cam-a opened before its revocation is established for conntrack,
# and cut all the same.
before=$(counter drop_quarantined)
if udp_flow "$D1" 0.5 2>/dev/null; then fail "cam-a's established UDP flow outlived the quarantine"; fi
ok
[ "$(counter drop_quarantined)" -gt "$before" ] || fail "the established flow's packet was not counted as quarantined"
ok

# An element deleted behind the follower's back: its next batch is refused
# by nft, and it reads the table again and compares it all.
nsx "$R" nft delete element inet fleetsec dst_class '{ 10.20.0.12 }'
expect 0 "$FLEETSEC" device set cam-b --ip 10.20.0.13
for _ in $(seq 100); do [ "$(dst_mark 10.20.0.13)" = "10.20.0.13 : 0x0000ffff" ] && break; sleep 0.05; done
[ "$(dst_mark 10.20.0.13)" = "10.20.0.13 : 0x0000ffff" ] || fail "follow did not recover: $(cat "$T/follow.err")"
ok
grep -qF "fleetsec: warning: reading table inet fleetsec again" "$T/follow.err" || fail "no warning: $(cat "$T/follow.err")"
ok
[ -z "$(dst_mark 10.20.0.12)" ] || fail "cam-b's old address is still in dst_class"
ok

# SIGTERM ends the follower cleanly.
kill -TERM "$FOLLOW_PID"
rc=0
wait "$FOLLOW_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "follow exited $rc on SIGTERM: $(cat "$T/follow.err")"
ok
# Its stderr holds nft's refusal and the warning above, nothing else.
[ "$(grep -cvE 'nft refused the change|reading table inet fleetsec again' "$T/follow.err")" -eq 0 ] ||
	fail "follow wrote errors: $(cat "$T/follow.err")"
ok
[ "$(nsx "$R" nft list tables)" = "table inet fleetsec" ] || fail "other tables: $(nsx "$R" nft list tables)"
ok
done_checks
