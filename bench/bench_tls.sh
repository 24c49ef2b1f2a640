#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Full mutual-TLS handshakes per second: fleetsecd beside nginx with
# `ssl_verify_client on`, the same server certificate and key, the same
# client CA and client certificate, one server process each, measured in the
# same run by the same client: `openssl s_time -new` fetching one small
# authenticated resource per connection (so the server must verify the
# client certificate and answer). Runs alternate between the two servers.
#
# usage: bench/bench_tls.sh [SECONDS] [ROUNDS]   (defaults 10 and 3)
# Builds fleetsecd in Release (build-bench/). See docs/BENCHMARKS.md.
set -euo pipefail
secs=${1:-10}
rounds=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-bench
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target fleetsec_cli fleetsecd >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-bench-tls.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
export FLEETSEC_HOME=$work/home
F=$build/fleetsec
"$F" ca init --name "Bench Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" device issue dev-1 --keygen --key-out "$work/dev.key" --out "$work/dev.pem" 2>/dev/null

fport=$((20000 + RANDOM % 10000))
nport=$((fport + 10000))
"$build/fleetsecd" --listen 127.0.0.1:$fport --quiet 2>"$work/fleetsecd.log" &
pids+=($!)
mkdir -p "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<CONF
daemon on;
user root;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $work/nginx/tmp; proxy_temp_path $work/nginx/tmp;
	fastcgi_temp_path $work/nginx/tmp; uwsgi_temp_path $work/nginx/tmp; scgi_temp_path $work/nginx/tmp;
	server {
		listen 127.0.0.1:$nport ssl;
		ssl_certificate $FLEETSEC_HOME/server.pem;
		ssl_certificate_key $FLEETSEC_HOME/server.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_client_certificate $FLEETSEC_HOME/chain.pem;
		ssl_verify_client on;
		ssl_session_cache off;
		ssl_session_tickets off;
		location / { return 200 "ok\n"; }
	}
}
CONF
nginx -c "$work/nginx/nginx.conf"
sleep 0.5
grep -q listening "$work/fleetsecd.log" || { cat "$work/fleetsecd.log" >&2; exit 1; }

# rate PORT PATH: connections per second from s_time's summary line
# "N connections in T real seconds".
rate() {
	openssl s_time -connect 127.0.0.1:"$1" -new -time "$secs" -cert "$work/dev.pem" \
		-key "$work/dev.key" -CAfile "$FLEETSEC_HOME/root.pem" -www "$2" 2>/dev/null |
		awk '/connections in .* real seconds/ { printf "%.1f", $1 / $4; found = 1 }
		     END { if (!found) exit 1 }'
}

echo "== $(openssl version); nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'); $(nproc) CPUs"
echo "== openssl s_time -new -time $secs, client certificate, one GET per connection"
f_all=()
n_all=()
for r in $(seq "$rounds"); do
	f=$(rate $fport /.well-known/est/csrattrs)
	n=$(rate $nport /)
	f_all+=("$f")
	n_all+=("$n")
	echo "round $r: fleetsecd $f conn/s | nginx $n conn/s | ratio $(awk -v a="$f" -v b="$n" 'BEGIN { printf "%.1f%%", 100 * a / b }')"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
fm=$(median "${f_all[@]}")
nm=$(median "${n_all[@]}")
echo "median: fleetsecd $fm conn/s, nginx $nm conn/s: $(awk -v a="$fm" -v b="$nm" 'BEGIN { printf "%.1f%%", 100 * a / b }') of nginx (target >= 90%)"
