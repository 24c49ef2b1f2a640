#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fleetsec audit network against real servers this test starts on loopback:
# mosquitto with anonymous access, with admin/admin and with a strong
# password; busybox telnetd with a default login and with a strong one;
# busybox httpd with Basic auth admin/admin and with a strong password; an
# openssl s_server speaking TLS; and a closed port. Each finding is checked
# on its server and its absence on the hardened ones.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sarif.sh"

for tool in mosquitto mosquitto_passwd busybox openssl coap-server-notls; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/deps.sh installs it)"
done
busybox --list >"$T/applets"
grep -qx telnetd "$T/applets" || fail "this busybox has no telnetd applet (install busybox-static)"
F=$FLEETSEC
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT

# free_port: a random TCP port nothing listens on, below the ephemeral range.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$(rand_port)
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
	done
	fail "no free port"
}
# wait_port PORT: until something accepts on it (5 s at most).
wait_port() {
	for _ in $(seq 50); do
		(exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return
		sleep 0.1
	done
	fail "nothing listens on port $1"
}

mosq() { # mosq NAME PORT [USER PASS]: a broker; anonymous unless given a user
	local name=$1 port=$2
	{
		echo "listener $port 127.0.0.1"
		echo "user root"
		echo "persistence false"
		echo "log_dest none"
		if [ $# -ge 4 ]; then
			mosquitto_passwd -c -b "$T/$name.pw" "$3" "$4" >/dev/null
			echo "allow_anonymous false"
			echo "password_file $T/$name.pw"
		else
			echo "allow_anonymous true"
		fi
	} >"$T/$name.conf"
	mosquitto -c "$T/$name.conf" >"$T/$name.log" 2>&1 &
	pids+=($!)
	wait_port "$port"
}

telnetd() { # telnetd NAME PORT USER PASS: busybox telnetd with a login that accepts USER/PASS
	local name=$1 port=$2
	cat >"$T/$name.login" <<LOGIN
#!/bin/sh
printf 'login: '; read -r u; printf 'Password: '; read -r p
u=\$(printf %s "\$u" | tr -d '\r'); p=\$(printf %s "\$p" | tr -d '\r')
if [ "\$u" = '$3' ] && [ "\$p" = '$4' ]; then exec /bin/sh; fi
echo "Login incorrect"
LOGIN
	chmod +x "$T/$name.login"
	busybox telnetd -F -p "$port" -b 127.0.0.1 -l "$T/$name.login" &
	pids+=($!)
	wait_port "$port"
}

httpd() { # httpd NAME PORT USER PASS: busybox httpd, Basic auth for /
	local name=$1 port=$2
	mkdir -p "$T/$name.www"
	echo "<html>device admin</html>" >"$T/$name.www/index.html"
	printf '/:%s:%s\n' "$3" "$4" >"$T/$name.httpd.conf"
	busybox httpd -f -p "127.0.0.1:$port" -h "$T/$name.www" -c "$T/$name.httpd.conf" &
	pids+=($!)
	wait_port "$port"
}

P_MQ_ANON=$(free_port);  mosq mq_anon "$P_MQ_ANON"
P_MQ_DEF=$(free_port);   mosq mq_def "$P_MQ_DEF" admin admin
P_MQ_HARD=$(free_port);  mosq mq_hard "$P_MQ_HARD" fleet 'Xq7#long-unique-9Lp'
P_TN_DEF=$(free_port);   telnetd tn_def "$P_TN_DEF" admin admin
P_TN_HARD=$(free_port);  telnetd tn_hard "$P_TN_HARD" ops 'Zr4%long-unique-2Wd'
P_WEB_DEF=$(free_port);  httpd web_def "$P_WEB_DEF" admin admin
P_WEB_HARD=$(free_port); httpd web_hard "$P_WEB_HARD" ops 'Kd8!long-unique-5Tq'
P_TLS=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 -days 1 \
	-keyout "$T/tls.key" -out "$T/tls.pem" 2>/dev/null
openssl s_server -quiet -accept "127.0.0.1:$P_TLS" -cert "$T/tls.pem" -key "$T/tls.key" -www \
	</dev/null >/dev/null 2>&1 &
pids+=($!)
wait_port "$P_TLS"
P_CLOSED=$(free_port)
# CoAP (libcoap's server, no DTLS) on UDP, and a UDP port nobody serves.
P_COAP=$(free_port)
coap-server-notls -A 127.0.0.1 -p "$P_COAP" -v 0 >/dev/null 2>&1 &
pids+=($!)
sleep 0.3
P_UDP_CLOSED=$(free_port)
PORTS="$P_MQ_ANON,$P_MQ_DEF,$P_MQ_HARD,$P_TN_DEF,$P_TN_HARD,$P_WEB_DEF,$P_WEB_HARD,$P_TLS,$P_CLOSED"
PORTS="$PORTS,$P_COAP/udp,$P_UDP_CLOSED/udp"

has() { # has FILE CHECK PORT
	jq -e --arg c "$2" --arg s "127.0.0.1:$3" '.findings | any(.check == $c and .subject == $s)' "$1" >/dev/null ||
		fail "$2 not reported on port $3: $(jq -c '[.findings[] | [.check, .subject, .evidence]]' "$1")"
	ok
}
hasnt() { # hasnt FILE CHECK PORT ("" CHECK = any check)
	jq -e --arg c "$2" --arg s "127.0.0.1:$3" '.findings | any(($c == "" or .check == $c) and .subject == $s) | not' "$1" >/dev/null ||
		fail "${2:-a finding} wrongly reported on port $3: $(jq -c '[.findings[] | select(.subject == "127.0.0.1:'"$3"'")]' "$1")"
	ok
}

expect 0 "$F" audit network 127.0.0.1 --ports "$PORTS" --timeout-ms 1500 --json
cp "$T/out" "$T/plain.json"
has "$T/plain.json" NET-MQTT-ANON "$P_MQ_ANON"
hasnt "$T/plain.json" NET-MQTT-ANON "$P_MQ_DEF";  hasnt "$T/plain.json" NET-MQTT-ANON "$P_MQ_HARD"
has "$T/plain.json" NET-CLEARTEXT "$P_MQ_HARD"
has "$T/plain.json" NET-TELNET "$P_TN_DEF";      has "$T/plain.json" NET-TELNET "$P_TN_HARD"
has "$T/plain.json" NET-HTTP-ADMIN "$P_WEB_DEF"; has "$T/plain.json" NET-HTTP-ADMIN "$P_WEB_HARD"
hasnt "$T/plain.json" "" "$P_TLS";               hasnt "$T/plain.json" "" "$P_CLOSED"
has "$T/plain.json" NET-CLEARTEXT "$P_COAP/udp";  hasnt "$T/plain.json" "" "$P_UDP_CLOSED/udp"
# Without the flag no login is tried.
jq -e '.findings | any(.check == "NET-DEFAULT-CRED") | not' "$T/plain.json" >/dev/null ||
	fail "default credentials tried without --try-default-credentials"
ok

expect 0 "$F" audit network 127.0.0.1 --ports "$PORTS" --timeout-ms 1500 --try-default-credentials --json
cp "$T/out" "$T/creds.json"
has "$T/creds.json" NET-DEFAULT-CRED "$P_MQ_DEF";    hasnt "$T/creds.json" NET-DEFAULT-CRED "$P_MQ_HARD"
has "$T/creds.json" NET-DEFAULT-CRED "$P_TN_DEF";    hasnt "$T/creds.json" NET-DEFAULT-CRED "$P_TN_HARD"
has "$T/creds.json" NET-DEFAULT-CRED "$P_WEB_DEF";   hasnt "$T/creds.json" NET-DEFAULT-CRED "$P_WEB_HARD"
hasnt "$T/creds.json" "" "$P_TLS"
# The successful logins are named.
jq -e --arg s "127.0.0.1:$P_TN_DEF" '.findings | any(.subject == $s and .check == "NET-DEFAULT-CRED" and
	(.evidence | contains("admin/admin")))' "$T/creds.json" >/dev/null || fail "telnet login not named"
ok

# SARIF: network findings carry a logical location naming host:port.
expect 1 "$F" audit network 127.0.0.1 --ports "$P_MQ_ANON" --sarif --fail-on high
cp "$T/out" "$T/net.sarif"
sarif_valid "$T/net.sarif"
jq -e --arg s "127.0.0.1:$P_MQ_ANON" '.version == "2.1.0" and any(.runs[0].results[];
	.ruleId == "NET-MQTT-ANON" and .locations[0].logicalLocations[0].fullyQualifiedName == $s)' "$T/out" >/dev/null ||
	fail "SARIF network location wrong"
ok

# Only what was given is probed, and the total is capped before anything is sent.
expect 1 "$F" audit network 10.0.0.0/19 --ports 23
one_line_error "4096"
expect 1 "$F" audit network 10.0.0.0/20 10.1.0.0/32 --ports 23
one_line_error "10.1.0.0/32"
expect 1 "$F" audit network "127.0.0.1;rm" --ports 23
one_line_error "127.0.0.1;rm"
expect 1 "$F" audit network 127.0.0.1 --ports 70000
one_line_error "70000"
expect 2 "$F" audit network
expect 2 "$F" audit network 127.0.0.1 --timeout-ms 999999
done_checks
