#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fleetsecd against denial of service before authentication and against
# strict-parsing tricks (issue 14): a cap on connections per source, one
# answer per connection for a client without a certificate, a deadline for
# every request, request smuggling refused with 400, and outside bytes
# escaped in the log. Sources other than 127.0.0.1 are other loopback
# addresses (127.0.0.2, 127.0.0.3).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}"
PROBE="python3 $(dirname "$0")/fleetsecd_probe.py"
cd "$T"
F=$FLEETSEC

"$F" ca init --name "DoS Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" device issue dev-1 --keygen --key-out dev.key --out dev.pem 2>/dev/null
dev() { # dev ARGS...: curl as the enrolled device; the status on stdout
	curl -sS --max-time 30 --cacert "$FLEETSEC_HOME/root.pem" --cert dev.pem --key dev.key \
		-o out -w '%{http_code}' "$@"
}
count() { LC_ALL=C grep -a -o -- "$1" "$2" | wc -l; } # count PATTERN FILE: occurrences

# ---- a long timeout: nothing here is cut by a deadline ----
printf 'max_per_source = 4\n' >"$FLEETSEC_HOME/fleetsecd.conf"
"$FLEETSECD" --help | grep -q -- "--max-per-source N" || fail "--max-per-source is not in --help"
expect 2 "$FLEETSECD" --max-per-source 0
fleetsecd_start --max-connections 16 --timeout 60

# The per-source cap (from the configuration file): four connections from
# 127.0.0.2 are held; a fifth from there is refused before its handshake,
# while another source is served.
$PROBE --src 127.0.0.2 hold "$PORT" 4 40 >held &
HOLD=$!
for _ in $(seq 300); do [ -s held ] && break; sleep 0.1; done
[ "$(cat held)" = held ] || fail "could not open four connections"
printf 'GET /crl HTTP/1.1\r\nHost: x\r\n\r\n' | $PROBE --src 127.0.0.2 raw "$PORT" >fifth
[ "$(cat fifth)" = refused ] || fail "a fifth connection from one source was served: $(head -c 200 fifth)"
grep -q "127.0.0.2: refused: too many connections from this source" "$T/daemon.log" ||
	fail "no log line for the refused source"
ok
printf 'GET /crl HTTP/1.1\r\nHost: x\r\n\r\n' | $PROBE --src 127.0.0.3 raw "$PORT" >other
grep -q '^HTTP/1.1 200' other || fail "another source was not served: $(head -c 200 other)"
[ "$(dev "$URL/.well-known/est/csrattrs")" = 200 ] || fail "the device was not served"
ok
kill $HOLD 2>/dev/null || true
wait $HOLD 2>/dev/null || true

# Without a certificate, one answer per connection: a pipelined second
# request is not answered, and the connection ends (no wait for a timeout:
# the probe gives up after 30 s with status 2, the timeout here is 60 s).
req='GET /crl HTTP/1.1\r\nHost: x\r\n\r\n'
printf "$req$req" | $PROBE raw "$PORT" >pipe || fail "the connection stayed open after one answer"
[ "$(count 'HTTP/1.1 [0-9]' pipe)" = 1 ] || fail "a client without a certificate got $(count 'HTTP/1.1 [0-9]' pipe) answers"
grep -q '^Connection: close' pipe || fail "no Connection: close"
ok
# A device keeps its connection for both.
printf "${req}GET /crl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" |
	$PROBE --cert dev.pem --key dev.key raw "$PORT" >pipe || fail "device pipelining timed out"
[ "$(count 'HTTP/1.1 200' pipe)" = 2 ] || fail "the device got $(count 'HTTP/1.1 200' pipe) answers, not 2"
ok

# Log injection: CR, ESC and a forged "-> 200 issued" in the request line
# reach neither the log raw nor a handler (400).
printf 'GET /crl\r\033[2K\033[1Afleetsecd: 127.0.0.1 POST /.well-known/est/simpleenroll peer=dev-9 -> 200 issued HTTP/1.1\r\nHost: x\r\n\r\n' |
	$PROBE raw "$PORT" >inj
grep -q '^HTTP/1.1 400' inj || fail "a request target with control bytes got: $(head -1 inj)"
ok
sleep 0.5
[ "$(count $'\r' "$T/daemon.log")" = 0 ] || fail "a raw CR in the log"
[ "$(count $'\033' "$T/daemon.log")" = 0 ] || fail "a raw ESC in the log"
[ "$(count '-> 200 issued' "$T/daemon.log")" = 0 ] || fail "a forged line in the log: $(grep -a issued "$T/daemon.log")"
grep -qF 'GET /crl??[2K?[1Afleetsecd:?127.0.0.1?POST?' "$T/daemon.log" ||
	fail "the request is not logged escaped: $(tail -3 "$T/daemon.log" | cat -v)"
ok

# Request smuggling: each framing a proxy could read otherwise is 400 (the
# path would otherwise be 401: no certificate).
n=0
while IFS= read -r hdrs; do
	n=$((n + 1))
	printf "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\n$hdrs\r\n\r\n0\r\n\r\n" |
		$PROBE raw "$PORT" >smug
	grep -q '^HTTP/1.1 400' smug || fail "smuggling variant $n ($hdrs) got: $(head -1 smug)"
	ok
done <<'V'
Content-Length: 5\r\nContent-Length: 3
Content-Length: 5\r\nContent-Length: 5
Content-Length: 5\r\nTransfer-Encoding: chunked
Transfer-Encoding: chunked\r\nContent-Length: 5
Content-Length: +5
Content-Length:\t5
Content-Length: 0x1f
Content-Length:
Content-Length: 5, 5
Transfer-Encoding: gzip
Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked
V
# A plain Content-Length still goes through to the route table (401).
printf 'POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n0\r\n\r\n' |
	$PROBE raw "$PORT" >smug
grep -q '^HTTP/1.1 401' smug || fail "a plain request got: $(head -1 smug)"
ok
kill "$FLEETSECD_PID"
wait "$FLEETSECD_PID" 2>/dev/null || true

# ---- a short timeout: tricklers ----
fleetsecd_start --max-connections 8 --max-per-source 4 --timeout 3

# A device that trickles a second request a byte a second (each byte
# restarts the inactivity timeout) is cut by that request's own deadline.
$PROBE --cert dev.pem --key dev.key trickle "$PORT" 40 >cut ||
	fail "a device trickling its second request kept its connection for 40 s"
grep -q '^cut after' cut || fail "trickle: $(cat cut)"
ok

# The per-source cap full of clients without a certificate, each sending
# GET /crl and then a byte a second: the device is still served, and every
# trickler is cut or refused.
pids=()
for i in $(seq 6); do
	$PROBE --src 127.0.0.2 trickle "$PORT" 40 >"trick.$i" &
	pids+=($!)
done
sleep 2
[ "$(dev "$URL/.well-known/est/csrattrs")" = 200 ] || fail "the device was not served beside the tricklers"
ok
for i in $(seq 6); do
	wait "${pids[$((i - 1))]}" || fail "trickler $i kept its connection for 40 s"
done
ok
kill -0 "$FLEETSECD_PID" || fail "fleetsecd died"
done_checks
