#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Issues 6 and 13 benchmark: compile generated policies (devices x classes)
# with `fleetsec net compile`, load each ruleset with `nft -f` into a scratch
# network namespace, and count the rules. Baselines measured in the same
# run: `jq -c .` reading the same policy (the cost of just parsing that much
# JSON), `nft -f` loading an empty table, and, if BASELINE_BIN is given, the
# same compile and load with another fleetsec build (the previous ruleset
# design). Times are medians of RUNS; each design's table is deleted before
# its first load, so the first run is a fresh load and the rest reloads.
#
# usage: bench/bench_netpolicy.sh FLEETSEC_BIN [RUNS] [BASELINE_BIN] (root: netns + nft)
set -euo pipefail

fleetsec=${1:?usage: $0 FLEETSEC_BIN [RUNS] [BASELINE_BIN]}
runs=${2:-3}
baseline=${3:-}
specs=${BENCH_SPECS:-"10000 100,10000 1000,100000 100,100000 1000"}
[ "$(id -u)" -eq 0 ] || { echo "needs root (nft -f in a scratch namespace)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-benchnet.XXXXXX")
ns=fsbench$$
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"' EXIT

# gen DEVICES CLASSES FILE: each class has 3 address endpoints, 2 DNS names
# and one exception to the next class; devices are spread over the classes.
gen() {
	awk -v n="$1" -v c="$2" 'BEGIN {
		printf "{\"version\": 1, \"zones\": {\"iot\": [{\"name\": \"iot\", \"interface\": \"br-iot\", "
		printf "\"subnets\": [\"10.0.0.0/8\"], \"router\": \"10.0.0.1\"}], "
		printf "\"lan\": {\"interface\": \"lan0\", \"subnets\": [\"192.168.0.0/16\"]}, "
		printf "\"wan\": {\"interface\": \"wan0\"}},\n\"classes\": [\n"
		for (i = 0; i < c; i++) {
			printf "%s{\"name\": \"c%d\", \"allow\": [", i ? ",\n" : "", i
			for (e = 0; e < 3; e++)
				printf "%s{\"host\": \"203.%d.%d.%d\", \"proto\": \"tcp\", \"port\": %d}", e ? ", " : "", int(i / 250) % 250, i % 250, e + 1, 443 + e
			printf ", {\"host\": \"api%d.example.com\", \"proto\": \"tcp\", \"port\": 443}", i
			printf ", {\"host\": \"ntp%d.example.com\", \"proto\": \"udp\", \"port\": 123}]}", i
		}
		printf "],\n\"exceptions\": ["
		for (i = 0; i < c; i++)
			printf "%s{\"from\": \"c%d\", \"to\": \"c%d\", \"proto\": \"tcp\", \"port\": 8883}", i ? ", " : "", i, (i + 1) % c
		printf "],\n\"devices\": [\n"
		for (d = 0; d < n; d++) {
			ip = d + 16
			printf "%s{\"id\": \"d%d\", \"mac\": \"02:00:%02x:%02x:%02x:%02x\", \"ip\": \"10.%d.%d.%d\", \"class\": \"c%d\"}", d ? ",\n" : "", d, int(d / 16777216) % 256, int(d / 65536) % 256, int(d / 256) % 256, d % 256, int(ip / 65536) % 256, int(ip / 256) % 256, ip % 256, d % c
		}
		printf "]}\n"
	}' >"$3"
}

# median-of-RUNS wall time of a command, in seconds, then (after a space)
# the median CPU time (user + system) it used: on a shared machine the CPU
# time is the steadier figure. A failing run fails the benchmark (a refused
# load must not be timed as a fast one).
best() {
	local s e w=() c=()
	for _ in $(seq "$runs"); do
		s=$(date +%s.%N)
		/usr/bin/time -f '%U %S' -o "$work/time" "$@" >/dev/null 2>&1 ||
			{ echo "benchmark command failed: $*" >&2; exit 1; }
		e=$(date +%s.%N)
		w+=("$(awk -v s="$s" -v e="$e" 'BEGIN { print e - s }')")
		c+=("$(awk '{ print $1 + $2 }' "$work/time")")
	done
	printf '%s %s' "$(median "${w[@]}")" "$(median "${c[@]}")"
}
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
wall() { echo "${1% *}"; }
cpu() { echo "${1#* }"; }

echo 'add table inet fsbase' >"$work/empty.nft"
printf 'empty table, nft -f baseline: %s s\n' "$(wall "$(best ip netns exec "$ns" nft -f "$work/empty.nft")")"
printf '%-9s %-8s %-9s %-9s %-8s %-12s %-8s %-8s %-7s %-9s\n' devices classes design json_MiB "jq -c ." "net compile" "nft -f" "nft cpu" rules elements
IFS=, read -r -a speclist <<<"$specs"
for spec in "${speclist[@]}"; do
	set -- $spec
	gen "$1" "$2" "$work/p.json"
	tj=$(wall "$(best jq -c . "$work/p.json")")
	for design in new baseline; do
		bin=$fleetsec
		if [ "$design" = baseline ]; then
			[ -n "$baseline" ] || continue
			bin=$baseline
		fi
		tc=$(wall "$(best "$bin" net compile "$work/p.json" --out "$work/r.nft")")
		ip netns exec "$ns" nft delete table inet fleetsec 2>/dev/null || true
		tl=$(best ip netns exec "$ns" nft -f "$work/r.nft")
		rules=$(grep -c '^add rule' "$work/r.nft")
		elems=$(grep '^add element' "$work/r.nft" | tr -cd ',{' | wc -c)
		printf '%-9s %-8s %-9s %-9s %-8s %-12s %-8s %-8s %-7s %-9s\n' "$1" "$2" "$design" \
			"$(awk -v n="$(stat -c %s "$work/p.json")" 'BEGIN { printf "%.1f", n / 1048576 }')" \
			"$tj" "$tc" "$(wall "$tl")" "$(cpu "$tl")" "$rules" "$elems"
	done
done

# net sync at SYNC_SPEC (devices classes; "" skips): the ruleset compiled
# with one registry device beside the policy's, loaded; then `net sync` once
# (reads the kernel's maps with nft -j list, finds nothing to change), and
# `net sync --follow` applying one device change at a time: an address change
# (`device set`) RUNS times, then a revocation (quarantine). applied_ms is
# what sync reports from seeing the event to nft committing the batch;
# end-to-end adds the event-log poll (every 200 ms) and is measured from the
# registry command's return to the follower's report.
sync_spec=${SYNC_SPEC-"100000 1000"}
if [ -n "$sync_spec" ]; then
	set -- $sync_spec
	export FLEETSEC_HOME="$work/home"
	"$fleetsec" ca init --name "Bench" >/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/d.key" \
		-subj "/CN=d-sync" -out "$work/d.csr" 2>/dev/null
	"$fleetsec" device issue d-sync --csr "$work/d.csr" --model c5 --out "$work/d.pem" >/dev/null 2>&1
	"$fleetsec" device set d-sync --mac 02:ff:00:00:00:01 --ip 10.250.0.1 >/dev/null
	gen "$1" "$2" "$work/p.json"
	"$fleetsec" net compile "$work/p.json" --from-registry --fleetsecd 203.0.113.250:8443 --out "$work/r.nft"
	ip netns exec "$ns" nft delete table inet fleetsec 2>/dev/null || true
	ip netns exec "$ns" nft -f "$work/r.nft"
	once=$(best ip netns exec "$ns" "$fleetsec" net sync "$work/p.json")
	ip netns exec "$ns" "$fleetsec" net sync "$work/p.json" --follow --json >"$work/follow" 2>&1 &
	follower=$!
	trap 'kill "$follower" 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"' EXIT
	for _ in $(seq 600); do [ -s "$work/follow" ] && break; sleep 0.1; done
	# change CMD...: run a registry change, wait for the follower's report,
	# print "applied_ms end_to_end_ms cpu_ms"
	change() {
		local n s e
		n=$(wc -l <"$work/follow")
		"$@" >/dev/null
		s=$(date +%s%N)
		until [ "$(wc -l <"$work/follow")" -gt "$n" ]; do sleep 0.005; done
		e=$(date +%s%N)
		echo "$(tail -1 "$work/follow" | jq -r .applied_ms) $(( (e - s) / 1000000 )) $(tail -1 "$work/follow" | jq -r .cpu_ms)"
	}
	a=() t=() c=()
	for i in $(seq "$runs"); do
		read -r ra rt rc <<<"$(change "$fleetsec" device set d-sync --ip "10.250.0.$((i + 1))")"
		a+=("$ra") t+=("$rt") c+=("$rc")
	done
	read -r va vt vc <<<"$(change "$fleetsec" device revoke d-sync --reason keyCompromise)"
	kill "$follower"
	wait "$follower" || true
	echo "net sync at $1 devices / $2 classes:"
	echo "  once, nothing to change: $(wall "$once") s (cpu $(cpu "$once") s)"
	echo "  --follow, one address change: applied $(median "${a[@]}") ms (cpu $(median "${c[@]}") ms), end-to-end $(median "${t[@]}") ms (medians of $runs)"
	echo "  --follow, one revocation (quarantine): applied $va ms (cpu $vc ms), end-to-end $vt ms"
fi
