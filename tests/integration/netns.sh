# SPDX-License-Identifier: Apache-2.0
# Shared by the namespace tests (after lib.sh): namespaces that are deleted,
# with everything running in them, on exit; veth links from a namespace
# into the router namespace $R; a host's address and route. $S names the
# run (the script's PID), so that parallel runs never meet.
NSS=()
netns_cleanup() {
	for ns in "${NSS[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap netns_cleanup EXIT
netns_add() { # netns_add NS...
	local ns
	for ns in "$@"; do
		NSS+=("$ns")
		ip netns add "$ns" || fail "the kernel refused a network namespace ($ns)"
	done
}
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# veth names are per-namespace, so they need no suffix once moved.
link() { # link NS IFNAME PEER_IN_ROUTER
	ip link add "x$S$3" type veth peer name "y$S$3" || fail "cannot create veth pairs"
	ip link set "x$S$3" netns "$1"
	ip link set "y$S$3" netns "$R"
	nsx "$1" ip link set "x$S$3" name "$2"
	nsx "$R" ip link set "y$S$3" name "$3"
}
host() { # host NS MAC ADDR/LEN GW [EXTRA_ADDR]
	nsx "$1" ip link set eth0 address "$2"
	nsx "$1" ip link set lo up
	nsx "$1" ip link set eth0 up
	nsx "$1" ip addr add "$3" dev eth0
	[ -z "${5:-}" ] || nsx "$1" ip addr add "$5" dev eth0
	nsx "$1" ip route add default via "$4"
}
