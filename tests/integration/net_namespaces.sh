#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Network isolation proven with real packets. A router namespace loads the
# ruleset `fleetsec net compile` made and runs the setup `fleetsec net setup`
# printed; around it sit two IoT devices of different classes on one
# isolated bridge, a LAN laptop and a "cloud" WAN host with allowed and
# disallowed services. Every probe is a real TCP or UDP exchange; every deny
# is paired with a positive control (the same server answering someone
# else), is checked on the ruleset's drop counter, and `fleetsec net explain`
# must give the same verdict and name the same counter.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PROBE="$HERE/net_probe.py"
MUD_DIR=$(cd "$HERE/../data/mud" && pwd)
[ -f "$MUD_DIR/nist-sensor-all-matches.json" ] ||
	fail "the MUD examples are missing from $MUD_DIR"
[ "$(id -u)" -eq 0 ] || fail "needs root for network namespaces (run as root; it never skips)"
command -v nft >/dev/null || fail "nft is missing (scripts/deps.sh installs nftables)"
command -v python3 >/dev/null || fail "python3 is missing (scripts/deps.sh installs it)"
command -v dnsmasq >/dev/null || fail "dnsmasq is missing (scripts/deps.sh installs dnsmasq-base)"

S=$$
R=fsr$S D1=fsd1$S D2=fsd2$S LAP=fsl$S CLOUD=fsc$S
. "$HERE/netns.sh"
netns_add "$R" "$D1" "$D2" "$LAP" "$CLOUD"

# Topology.
link "$D1" eth0 iotp1
link "$D2" eth0 iotp2
link "$LAP" eth0 lan0
link "$CLOUD" eth0 wan0
nsx "$R" ip link add br-iot type bridge
nsx "$R" ip link set iotp1 master br-iot
nsx "$R" ip link set iotp2 master br-iot
for i in lo br-iot iotp1 iotp2 lan0 wan0; do nsx "$R" ip link set "$i" up; done
nsx "$R" ip addr add 10.20.0.1/24 dev br-iot
nsx "$R" ip addr add 192.168.1.1/24 dev lan0
nsx "$R" ip addr add 203.0.113.1/24 dev wan0
nsx "$R" ip addr add 2001:db8:20::1/64 dev br-iot nodad
nsx "$R" ip addr add 2001:db8:71::1/64 dev wan0 nodad
host "$D1" 02:00:00:00:20:11 10.20.0.11/24 10.20.0.1
host "$D2" 02:00:00:00:20:12 10.20.0.12/24 10.20.0.1
host "$LAP" 02:00:00:00:01:50 192.168.1.50/24 192.168.1.1
host "$CLOUD" 02:00:00:00:71:10 203.0.113.10/24 203.0.113.1
# IPv6 for the sensor and the cloud: the sensor's IPv6 traffic is looked up by MAC.
nsx "$D1" ip addr add 2001:db8:20::11/64 dev eth0 nodad
nsx "$D1" ip -6 route add default via 2001:db8:20::1
nsx "$CLOUD" ip addr add 2001:db8:71::10/64 dev eth0 nodad
nsx "$CLOUD" ip -6 route add default via 2001:db8:71::1

# The hub's own MUD file (made for this test): its MUD URL has the sensor
# file's authority, so RFC 8520's same-manufacturer match pairs the two.
# Its drop entry comes first, so under RFC 8519's first-match order the
# cloud's port 9000 stays closed to the hub although an accept names it;
# port 9001, which the drop does not cover, opens.
cat >"$T/hub-mud.json" <<'EOF'
{"ietf-mud:mud": {"mud-version": 1, "mud-url": "https://sensor.nist.local/hub",
  "from-device-policy": {"access-lists": {"access-list": [{"name": "fr"}]}}},
 "ietf-access-control-list:acls": {"acl": [{"name": "fr", "type": "ipv4-acl-type", "aces": {"ace": [
  {"name": "no-9000", "matches": {"ipv4": {"destination-ipv4-network": "203.0.113.0/24", "protocol": 6},
   "tcp": {"destination-port": {"operator": "eq", "port": 9000}}}, "actions": {"forwarding": "drop"}},
  {"name": "cloud-9000", "matches": {"ipv4": {"destination-ipv4-network": "203.0.113.10/32", "protocol": 6},
   "tcp": {"destination-port": {"operator": "eq", "port": 9000}}}, "actions": {"forwarding": "accept"}},
  {"name": "cloud-9001", "matches": {"ipv4": {"destination-ipv4-network": "203.0.113.10/32", "protocol": 6},
   "tcp": {"destination-port": {"operator": "eq", "port": 9001}}}, "actions": {"forwarding": "accept"}},
  {"name": "peers", "matches": {"ietf-mud:mud": {"same-manufacturer": [null]}, "ipv4": {"protocol": 6},
   "tcp": {"destination-port": {"operator": "eq", "port": 8888}}}, "actions": {"forwarding": "accept"}}]}}]}}
EOF

# The policy: the sensor class takes its allowances from NIST's MUD file
# (controller on 8080, my-controller on udp 4000, www.nist.local on 443);
# the hub class has one extra endpoint; the hub may reach sensors on 7000.
cat >"$T/policy.json" <<EOF
{
  "version": 1,
  "zones": {
    "iot": [{"name": "iot", "vlan": 20, "interface": "br-iot", "subnets": ["10.20.0.0/24"],
             "router": "10.20.0.1", "bridge_ports": ["iotp1", "iotp2"]}],
    "lan": {"interface": "lan0", "subnets": ["192.168.1.0/24"], "router": "192.168.1.1"},
    "wan": {"interface": "wan0"}
  },
  "classes": [
    {"name": "sensor", "mud": "nist-sensor-all-matches.json",
     "controllers": {"https://controller.nist.local": ["203.0.113.10"]},
     "my_controller": ["203.0.113.10"],
     "allow": [{"host": "2001:db8:71::10", "proto": "tcp", "port": 8443}]},
    {"name": "hub", "mud": "$T/hub-mud.json",
     "allow": [{"host": "203.0.113.10", "proto": "tcp", "port": 8443}]}
  ],
  "devices": [
    {"id": "sensor-1", "mac": "02:00:00:00:20:11", "ip": "10.20.0.11", "class": "sensor"},
    {"id": "hub-1", "mac": "02:00:00:00:20:12", "ip": "10.20.0.12", "class": "hub"}
  ],
  "exceptions": [{"from": "hub", "to": "sensor", "proto": "tcp", "port": 7000}],
  "management": [{"host": "192.168.1.50", "proto": "tcp", "port": 2222, "classes": ["sensor"]}]
}
EOF
expect 0 "$FLEETSEC" net compile "$T/policy.json" --mud-dir "$MUD_DIR" --out "$T/rules.nft"
grep -qF 'acl[0].aces.ace[1]: accept entry not compiled: the deny entry $.ietf-access-control-list:acls.acl[0].aces.ace[0] before it' "$T/err" ||
	fail "the shadowed accept is not named: $(cat "$T/err")"
ok
expect 0 "$FLEETSEC" net check "$T/rules.nft"
expect 0 "$FLEETSEC" net setup "$T/policy.json" --out "$T/setup.sh"
nsx "$R" sh "$T/setup.sh" || fail "router setup script failed"
[ "$(nsx "$R" cat /sys/class/net/iotp1/brport/isolated)" = 1 ] || fail "iotp1 not isolated"
ok
nsx "$R" nft -f "$T/rules.nft" || fail "nft -f refused the compiled ruleset"
ok

# Servers: the cloud offers allowed (8080, 8443, udp 4000, 443) and
# disallowed (9000) services, and 9001 for the hub; devices, laptop and
# router listen too.
serve() { local ns=$1; shift; nsx "$ns" python3 "$PROBE" serve "$@" >"$T/serve-$ns" 2>&1 & }
serve "$CLOUD" 8080 8443 4000 443 9000 9001
serve "$D1" 7000 7001 2222 8888 8889
serve "$D2" 7000 7001 2222 8888
serve "$LAP" 8000
serve "$R" 2200 67 123
for ns in "$CLOUD" "$D1" "$D2" "$LAP" "$R"; do
	for _ in $(seq 50); do grep -q ready "$T/serve-$ns" 2>/dev/null && break; sleep 0.1; done
	grep -q ready "$T/serve-$ns" || fail "server in $ns did not start: $(cat "$T/serve-$ns")"
done

counter() { nsx "$R" nft list counter inet fleetsec "$1" | awk '/packets/ {print $2}'; }
reach() { nsx "$1" python3 "$PROBE" probe "$2" "$3" "$4" ${5:+"$5"}; }

# explain_is SRC DST PROTO PORT allow|deny RULE
explain_is() {
	local out
	out=$("$FLEETSEC" net explain "$T/policy.json" --mud-dir "$MUD_DIR" "$1" "$2" "$3" "$4") ||
		fail "explain $* failed"
	case $out in
	"$5  $6"*) ;;
	*) fail "explain $1 -> $2 $3/$4 says '$out', packets say $5 $6" ;;
	esac
	ok
}

# allow NS PROTO DST PORT SRC_FOR_EXPLAIN RULE
allow() {
	reach "$1" "$2" "$3" "$4" || fail "$1 -> $3 $2/$4 should pass (and its reply)"
	ok
	explain_is "$5" "$3" "$2" "$4" allow "$6"
}

# deny NS PROTO DST PORT SRC_FOR_EXPLAIN COUNTER CONTROL_NS [BIND_SRC]
# The control namespace must reach the same server, so a dead server can
# never make a deny pass; the drop must show on the named counter.
deny() {
	local before after
	reach "$7" "$2" "$3" "$4" || fail "control: $7 cannot reach $3 $2/$4, so the deny proves nothing"
	ok
	before=$(counter "$6")
	# A drop is immediate; the short wait is safe because the counter
	# must also show it.
	if PROBE_TIMEOUT=0.5 reach "$1" "$2" "$3" "$4" "${8:-}"; then
		fail "$1 -> $3 $2/$4 passed; it must be dropped by $6"
	fi
	ok
	after=$(counter "$6")
	[ "$after" -gt "$before" ] || fail "$1 -> $3 $2/$4 dropped, but counter $6 stayed at $before"
	ok
	explain_is "$5" "$3" "$2" "$4" deny "$6"
}

# IoT to the internet: only the class's allowlisted endpoints.
allow "$D1" tcp 203.0.113.10 8080 10.20.0.11 "class sensor: @ep4" # MUD controller
allow "$D1" udp 203.0.113.10 4000 10.20.0.11 "class sensor: @ep4" # MUD my-controller
allow "$D2" tcp 203.0.113.10 8443 10.20.0.12 "class hub: @ep4"       # policy allow
deny "$D1" tcp 203.0.113.10 9000 10.20.0.11 drop_iot_to_wan "$LAP"
deny "$D2" tcp 203.0.113.10 8080 10.20.0.12 drop_iot_to_wan "$D1"     # the other class's endpoint
deny "$D2" tcp 203.0.113.10 9000 10.20.0.12 drop_iot_to_wan "$LAP"    # accepted, after a drop
allow "$D2" tcp 203.0.113.10 9001 10.20.0.12 "class hub: @ep4"       # the drop does not cover it
deny "$D2" udp 203.0.113.10 4000 10.20.0.12 drop_iot_to_wan "$D1"
deny "$D1" tcp 203.0.113.10 8443 10.20.0.11 drop_iot_to_wan "$D2"

# IPv6: the class's IPv6 endpoint set; nothing else, nothing inbound.
allow "$D1" tcp 2001:db8:71::10 8443 10.20.0.11 "class sensor: @ep6"
deny "$D1" tcp 2001:db8:71::10 9000 10.20.0.11 drop_iot_to_wan "$R"
before=$(counter drop_wan_to_iot)
reach "$R" tcp 2001:db8:20::11 7001 || fail "control: the router cannot reach the sensor over IPv6"
ok
if PROBE_TIMEOUT=0.5 reach "$CLOUD" tcp 2001:db8:20::11 7001; then fail "WAN reached the sensor over IPv6"; fi
ok
[ "$(counter drop_wan_to_iot)" -gt "$before" ] || fail "IPv6 WAN-to-IoT drop not counted"
ok

# IoT to IoT on the same bridge: only the exception, one way.
allow "$D2" tcp 10.20.0.11 7000 10.20.0.12 "class hub: @pair"
deny "$D2" tcp 10.20.0.11 7001 10.20.0.12 drop_iot_to_iot "$R"
deny "$D1" tcp 10.20.0.12 7000 10.20.0.11 drop_iot_to_iot "$R"
# ...and MUD same-manufacturer pairs, both ways (each file allows it), on 8888 only.
allow "$D2" tcp 10.20.0.11 8888 10.20.0.12 "class hub: @pair"
allow "$D1" tcp 10.20.0.12 8888 10.20.0.11 "class sensor: @pair"
deny "$D2" tcp 10.20.0.11 8889 10.20.0.12 drop_iot_to_iot "$R"

# IoT to the LAN, WAN and LAN to IoT.
deny "$D1" tcp 192.168.1.50 8000 10.20.0.11 drop_iot_to_lan "$R"
deny "$CLOUD" tcp 10.20.0.11 7001 203.0.113.10 drop_wan_to_iot "$R"
deny "$CLOUD" udp 10.20.0.11 7001 203.0.113.10 drop_wan_to_iot "$R"
deny "$LAP" tcp 10.20.0.12 7001 192.168.1.50 drop_lan_to_iot "$R"

# Management: the laptop may reach sensors (not hubs) on 2222.
allow "$LAP" tcp 10.20.0.11 2222 192.168.1.50 "to_iot: @mgmt"
deny "$LAP" tcp 10.20.0.12 2222 192.168.1.50 drop_lan_to_iot "$R"

# IoT to the router: DNS (and DHCP, NTP) only; the LAN may use the router.
explain_is 10.20.0.11 10.20.0.1 udp 53 allow iot_to_router
allow "$D1" udp 10.20.0.1 123 10.20.0.11 iot_to_router # NTP
allow "$D1" udp 10.20.0.1 67 10.20.0.11 iot_to_router  # DHCP (unicast, as in a renewal)
deny "$D1" udp 10.20.0.1 2200 10.20.0.11 drop_iot_to_router "$LAP"
deny "$D1" tcp 10.20.0.1 2200 10.20.0.11 drop_iot_to_router "$LAP"
deny "$D1" tcp 192.168.1.1 2200 10.20.0.11 drop_iot_to_router "$LAP" # its LAN address too
allow "$LAP" tcp 10.20.0.1 2200 192.168.1.50 input
# Devices must use the router's DNS, whatever their MUD file says.
deny "$D1" tcp 203.0.113.10 443 10.20.0.11 drop_iot_to_wan "$LAP"

# Spoofing: the hub claims the sensor's IP to use the sensor's allowance.
nsx "$D2" ip addr add 10.20.0.111/24 dev eth0
before=$(counter drop_iot_spoofed)
if PROBE_TIMEOUT=0.5 reach "$D2" tcp 203.0.113.10 8080 10.20.0.111; then fail "an unknown source IP passed"; fi
ok
[ "$(counter drop_iot_spoofed)" -gt "$before" ] || fail "spoofed source not counted"
ok
nsx "$D2" ip addr add 10.20.0.11/32 dev eth0 nodad 2>/dev/null || true
before=$(counter drop_iot_spoofed)
if PROBE_TIMEOUT=0.5 reach "$D2" tcp 203.0.113.10 8080 10.20.0.11; then fail "the hub gained the sensor's endpoint by spoofing its IP"; fi
ok
[ "$(counter drop_iot_spoofed)" -gt "$before" ] || fail "spoofed sensor IP not counted"
ok
nsx "$D2" ip addr del 10.20.0.11/32 dev eth0
reach "$D1" tcp 203.0.113.10 8080 || fail "control: the real sensor lost its endpoint"
ok

# DNS names: the sensor's www.nist.local set is filled at run time by a real
# dnsmasq on the router, configured with the lines compile wrote, forwarding
# to a dnsmasq in the cloud that knows the name. A reload keeps what it learned.
grep -q '^nftset=/www.nist.local/4#inet#fleetsec#d4_sensor_tcp_443$' "$T/rules.nft.dnsmasq.conf" ||
	fail "dnsmasq line for www.nist.local missing: $(cat "$T/rules.nft.dnsmasq.conf")"
ok
grep -v '^#' "$T/rules.nft" >"$T/rules-only"
if grep -q 'nist.local' "$T/rules-only"; then fail "a DNS name was written into a rule"; fi
ok
dnsd() { # dnsd NS LISTEN_ADDR ARGS...: dnsmasq in the foreground, in the background
	local ns=$1 addr=$2
	shift 2
	nsx "$ns" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-hosts --no-resolv \
		--user=root --group=root --pid-file= --bind-interfaces --listen-address="$addr" \
		--log-facility="$T/dnsmasq-$ns.log" "$@" &
}
dnsd "$CLOUD" 203.0.113.10 --host-record=www.nist.local,203.0.113.10,600
dnsd "$R" 10.20.0.1 --server=203.0.113.10 --conf-file="$T/rules.nft.dnsmasq.conf"
for _ in $(seq 50); do
	got=$(nsx "$D1" python3 "$PROBE" resolve 10.20.0.1 www.nist.local 2>/dev/null || true)
	[ "$got" = 203.0.113.10 ] && break
	sleep 0.1
done
[ "$got" = 203.0.113.10 ] || fail "the sensor cannot resolve www.nist.local through the router's DNS ($(cat "$T"/dnsmasq-*.log 2>/dev/null))"
ok
# Captured, not piped into grep -q: under pipefail, nft's SIGPIPE when grep
# stops reading early would fail the check.
set_now=$(nsx "$R" nft list set inet fleetsec d4_sensor_tcp_443 2>&1) || fail "nft list set failed: $set_now"
case $set_now in *203.0.113.10*) ;; *) fail "dnsmasq did not add the answer: $set_now" ;; esac
ok
reach "$D1" tcp 203.0.113.10 443 || fail "the address dnsmasq learned for www.nist.local is not allowed"
ok
# explain cannot know run-time DNS answers: it names the set's names.
out=$("$FLEETSEC" net explain "$T/policy.json" --mud-dir "$MUD_DIR" 10.20.0.11 203.0.113.10 tcp 443)
case $out in *www.nist.local*) ;; *) fail "explain does not name the DNS set's names: $out" ;; esac
ok
# The hub's class has no such name: the learned address is the sensor's only.
deny "$D2" tcp 203.0.113.10 443 10.20.0.12 drop_iot_to_wan "$D1"
nsx "$R" nft -f "$T/rules.nft" || fail "reload refused"
reach "$D1" tcp 203.0.113.10 443 || fail "a reload forgot what dnsmasq learned"
ok
set_now=$(nsx "$R" nft list set inet fleetsec d4_sensor_tcp_443 2>&1) || fail "nft list set failed: $set_now"
case $set_now in *203.0.113.10*) ;; *) fail "learned element lost: $set_now" ;; esac
ok
# ...and a reload still refuses what it must (positive control above).
deny "$D1" tcp 203.0.113.10 9000 10.20.0.11 drop_iot_to_wan "$LAP"

# Only table inet fleetsec exists: nothing outside it was touched.
[ "$(nsx "$R" nft list tables)" = "table inet fleetsec" ] || fail "other tables: $(nsx "$R" nft list tables)"
ok
done_checks
