# SPDX-License-Identifier: Apache-2.0
# fleetsecd replicas on the test's fleet (FLEETSEC_HOME, on PostgreSQL) and
# HAProxy in front of them (TCP passthrough, so the replicas see the
# devices' client certificates), for pg_replicas.sh and pg_storm.sh, after
# lib.sh, run from $T. replicas_start [N] starts N (default 3) and sets
# ports[i] and pids[i] (each replica logs to r$i.log), HPORT and
# haproxy_pid; they are all killed when the test exits.
pids=()
ports=()
haproxy_pid=
replicas_cleanup() {
	# The test's own background jobs too (a storm's clients, pollers).
	for p in "${pids[@]}" $haproxy_pid $(jobs -p); do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap replicas_cleanup EXIT
replica_started() { # replica_started LOG PID: wait until the replica listens
	for _ in $(seq 100); do
		grep -q listening "$1" && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
replicas_start() {
	local i n=${1:-3}
	command -v haproxy >/dev/null || fail "haproxy not installed (scripts/deps.sh installs it)"
	# A random port another test took meanwhile: try another (five times).
	for ((i = 0; i < n; i++)); do
		for try in 1 2 3 4 5; do
			ports[i]=$(rand_port)
			"$FLEETSECD" --listen 127.0.0.1:${ports[i]} 2>"r$i.log" &
			pids[i]=$!
			replica_started "r$i.log" "${pids[i]}" && break
			kill -9 "${pids[i]}" 2>/dev/null || true
			[ $try -lt 5 ] || fail "fleetsecd did not start: $(cat "r$i.log")"
		done
	done
	for try in 1 2 3 4 5; do
		HPORT=$(rand_port)
		cat >haproxy.cfg <<CFG
global
	maxconn 512
defaults
	mode tcp
	timeout connect 2s
	timeout client 30s
	timeout server 30s
	retries 3
	option redispatch
frontend est
	bind 127.0.0.1:$HPORT
	default_backend replicas
backend replicas
	balance roundrobin
CFG
		for ((i = 0; i < n; i++)); do
			echo "	server r$i 127.0.0.1:${ports[i]} check inter 500ms fall 1 rise 2" >>haproxy.cfg
		done
		haproxy -c -f haproxy.cfg >/dev/null || fail "haproxy.cfg: $(haproxy -c -f haproxy.cfg 2>&1)"
		haproxy -db -f haproxy.cfg >haproxy.log 2>&1 &
		haproxy_pid=$!
		for _ in $(seq 50); do
			curl -s -o /dev/null --cacert "$FLEETSEC_HOME/root.pem" "https://127.0.0.1:$HPORT/crl" &&
				return 0
			kill -0 $haproxy_pid 2>/dev/null || break
			sleep 0.1
		done
		kill -9 $haproxy_pid 2>/dev/null || true
	done
	fail "HAProxy does not answer: $(cat haproxy.log)"
}
