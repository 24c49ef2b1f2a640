#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Issue 15 benchmark: Mosquitto with the fleetsec plugin against the same
# Mosquitto (Debian's 2.0.11) with only cafile, require_certificate,
# use_identity_as_username and an ACL file (the plain baseline), measured in
# the same run, runs interleaved:
#  - TLS + MQTT connects per second over DEVICES device identities (each
#    connect a new TLS handshake with that device's certificate, then
#    CONNECT/CONNACK/DISCONNECT), from 2 client processes;
#  - QoS 0 and QoS 1 publish throughput of a 200-byte JSON payload from one
#    device to its own telemetry topic, MESSAGES pipelined messages; also
#    against a third broker, the plugin with a privacy policy (docs/
#    PRIVACY.md) that parses every message, keeps 7 of its 14 fields, rounds
#    two, coarsens the location and re-serialises it.
# The brokers run as the mosquitto user (as root) with the same TLS files.
# Prints medians of RUNS and the ratios to plain Mosquitto.
# Without subscribers the publish figures measure a broker's work per
# message received. With SUBSCRIBER=1, a backend (mosquitto_sub over TLS,
# role certificate bk) subscribes to the device's telemetry at the same QoS,
# every broker keeps its whole queue (max_queued_messages 0), and the clock
# runs from the publisher's start to the subscriber's last message: a
# message delivered, as a fleet's telemetry is.
#
# usage: [SUBSCRIBER=1] bench/bench_mqtt.sh FLEETSEC_BIN PLUGIN_SO [DEVICES] [MESSAGES] [RUNS]
set -euo pipefail

fleetsec=$(realpath "${1:?usage: $0 FLEETSEC_BIN PLUGIN_SO [DEVICES] [MESSAGES] [RUNS]}")
plugin=$(realpath "${2:?usage: $0 FLEETSEC_BIN PLUGIN_SO [DEVICES] [MESSAGES] [RUNS]}")
devices=${3:-1000}
messages=${4:-50000}
runs=${5:-5}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-benchmqtt.XXXXXX")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
export FLEETSEC_HOME=$work/home
user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
	user=mosquitto
	chmod 0711 "$work"
fi

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "== $(mosquitto -h 2>/dev/null | head -1); $(nproc) CPUs; $(openssl version)"
echo "== issuing $devices device identities"
"$fleetsec" ca init --name bench >/dev/null
mkdir d
ids=()
for i in $(seq 1 "$devices"); do
	id=$(printf 'd-%05d' "$i")
	ids+=("$id")
	"$fleetsec" device issue "$id" --keygen --key-out "d/$id.key" --out "d/$id.pem" --model thermo \
		>/dev/null 2>&1
done
"$fleetsec" ca server-cert localhost --ip 127.0.0.1 --out srv.pem --key-out srv.key >/dev/null
chmod 0644 d/*.key srv.key # the benchmark's throwaway keys, read by the broker's user
[ "$user" = mosquitto ] && chgrp mosquitto "$FLEETSEC_HOME" && chmod 0710 "$FLEETSEC_HOME"

# The policy both brokers enforce: a device's own telemetry topics only.
printf '[all]\npublish devices/%%d/telemetry/#\nsubscribe devices/%%d/telemetry/#\n' >bench.acl
printf '[role backend]\nsubscribe devices/+/telemetry/#\n' >>bench.acl
printf 'pattern readwrite devices/%%u/telemetry/#\nuser bk\ntopic read devices/+/telemetry/#\n' >plain.acl
# SUBSCRIBER=1: a backend (role certificate bk) subscribes to the device's
# telemetry, and the clock runs until it has received every message.
"$fleetsec" ca client-cert --role backend bk --out bk.pem --key-out bk.key >/dev/null
cat >bench.policy <<'POLICY'
[model thermo]
topic devices/%d/telemetry/#
allow humidity battery fw mode setpoint
precision temp 0.5
location lat lon 1200
POLICY
mkdir metrics
chmod 0644 bench.acl plain.acl bench.policy
[ "$user" = mosquitto ] && chgrp mosquitto metrics && chmod 0770 metrics
pport=$((20000 + RANDOM % 10000))
qport=$((pport + 1))
vport=$((pport + 2))
"$fleetsec" mqtt config --listener "$pport" --bind 127.0.0.1 --cert srv.pem --key srv.key \
	--acl bench.acl --plugin "$plugin" --user "$user" --out plugin.conf
"$fleetsec" mqtt config --listener "$vport" --bind 127.0.0.1 --cert srv.pem --key srv.key \
	--acl bench.acl --privacy bench.policy --privacy-metrics metrics/privacy.prom \
	--plugin "$plugin" --user "$user" --out privacy.conf
cat >plain.conf <<CONF
per_listener_settings false
allow_anonymous false
set_tcp_nodelay true
user $user
listener $qport 127.0.0.1
cafile $FLEETSEC_HOME/chain.pem
certfile $work/srv.pem
keyfile $work/srv.key
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
acl_file $work/plain.acl
CONF
for conf in plugin plain privacy; do
	# No subscriber's QoS 0 queue may drop a message: the count is the figure.
	[ "${SUBSCRIBER:-0}" = 1 ] && printf 'max_queued_messages 0\n' >>$conf.conf
	mosquitto -c $conf.conf >$conf.log 2>&1 &
	pids+=($!)
done
for conf in plugin plain privacy; do
	for _ in $(seq 50); do grep -q running $conf.log && break; sleep 0.1; done
	grep -q running $conf.log || { echo "mosquitto ($conf) did not start: $(cat $conf.log)" >&2; exit 1; }
done

declare -A res
for r in $(seq 1 "$runs"); do
	for conf in plugin plain privacy; do
		port=$pport
		[ $conf = plain ] && port=$qport
		[ $conf = privacy ] && port=$vport
		# The privacy filter does nothing at connect: not measured there.
		if [ $conf != privacy ]; then
			read -r okc refused secs < <($py "$here/mqtt_connects.py" 127.0.0.1 $port \
				"$FLEETSEC_HOME/chain.pem" d 2 "${ids[@]}")
			[ "$okc" -eq "$devices" ] ||
				{ echo "$conf: $refused of $devices connects refused" >&2; exit 1; }
			res[$conf.conn]+="$(echo "$devices / $secs" | bc -l) "
		fi
		for q in 0 1; do
			if [ "${SUBSCRIBER:-0}" = 1 ]; then
				cid=backend:bk
				[ $conf = plain ] && cid=bk
				mosquitto_sub -h 127.0.0.1 -p $port --cafile "$FLEETSEC_HOME/chain.pem" \
					--cert bk.pem --key bk.key -i $cid -q $q -C "$messages" -W 120 \
					-t devices/d-00001/telemetry/t >sub.out 2>&1 &
				spid=$!
				# its connection of this run and QoS, logged by the broker
				for _ in $(seq 50); do
					[ "$(grep -c "as $cid " $conf.log)" -ge $(((r - 1) * 2 + q + 1)) ] && break
					sleep 0.1
				done
				sleep 0.3
				t0=$(date +%s.%N)
				$py "$here/mqtt_publish.py" 127.0.0.1 $port "$FLEETSEC_HOME/chain.pem" \
					d/d-00001.pem d/d-00001.key d-00001 devices/d-00001/telemetry/t \
					"$messages" $q >/dev/null
				wait $spid || { echo "$conf: the subscriber got $(wc -l <sub.out) of $messages" >&2; exit 1; }
				t1=$(date +%s.%N)
				[ "$(wc -l <sub.out)" -eq "$messages" ] ||
					{ echo "$conf: the subscriber got $(wc -l <sub.out) of $messages" >&2; exit 1; }
				res[$conf.q$q]+="$(echo "$messages / ($t1 - $t0)" | bc -l) "
				continue
			fi
			read -r n secs < <($py "$here/mqtt_publish.py" 127.0.0.1 $port \
				"$FLEETSEC_HOME/chain.pem" d/d-00001.pem d/d-00001.key d-00001 \
				devices/d-00001/telemetry/t "$messages" $q)
			res[$conf.q$q]+="$(echo "$n / $secs" | bc -l) "
		done
	done
done
for k in conn q0 q1; do
	p=$(tr ' ' '\n' <<<"${res[plugin.$k]}" | grep . | median)
	b=$(tr ' ' '\n' <<<"${res[plain.$k]}" | grep . | median)
	case $k in
	conn) what="TLS connects/s ($devices identities)" ;;
	q0) what="QoS 0 publishes/s ($messages x 200 B)" ;;
	q1) what="QoS 1 publishes/s ($messages x 200 B)" ;;
	esac
	printf '%-40s plugin %9.0f   plain %9.0f   ratio %.2f\n' "$what" "$p" "$b" "$(echo "$p / $b" | bc -l)"
	printf '  runs plugin: %s\n  runs plain:  %s\n' \
		"$(for v in ${res[plugin.$k]}; do printf '%.0f ' "$v"; done)" \
		"$(for v in ${res[plain.$k]}; do printf '%.0f ' "$v"; done)"
	if [ $k != conn ]; then
		v=$(tr ' ' '\n' <<<"${res[privacy.$k]}" | grep . | median)
		printf '%-40s privacy %8.0f   plain %9.0f   ratio %.2f\n' "  with the privacy filter" "$v" "$b" \
			"$(echo "$v / $b" | bc -l)"
		printf '  runs privacy: %s\n' "$(for x in ${res[privacy.$k]}; do printf '%.0f ' "$x"; done)"
	fi
done
# Every message through the filter was filtered, none dropped (a payload
# the filter could not parse would be a drop, and a meaningless figure).
for _ in $(seq 30); do [ -s metrics/privacy.prom ] && break; sleep 0.1; done
sleep 1.2
filtered=$(sed -n 's/^fleetsec_mqtt_privacy_messages_total{model="thermo",outcome="filtered"} //p' metrics/privacy.prom)
dropped=$(sed -n 's/^fleetsec_mqtt_privacy_messages_total{model="thermo",outcome="dropped"} //p' metrics/privacy.prom)
echo "privacy filter: $filtered messages filtered, ${dropped:-0} dropped (expected $((runs * 2 * messages)) and 0)"
[ "${dropped:-0}" -eq 0 ] && [ "$filtered" -eq $((runs * 2 * messages)) ] ||
	{ echo "the privacy broker did not filter every message" >&2; exit 1; }
echo "plugin refusals during the run: $(grep -c 'fleetsec: refused' plugin.log || true)"
