# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the integration tests: they drive the real fleetsec
# binary ($FLEETSEC) and check its output with the openssl CLI.
set -euo pipefail

: "${FLEETSEC:?set FLEETSEC to the fleetsec binary}"
# FSEC_TEST_REGISTRY=postgresql (scripts/test.sh sets it for the sanitizer
# pass) runs the test again through pg_run.sh, so that every fleet it
# creates lives on PostgreSQL: the suite passes on both backends without
# running twice. A test that picks its registry itself (a SQLite-only
# feature, or PostgreSQL clusters of its own) sets
# FSEC_TEST_REGISTRY_FIXED to the reason before sourcing this file.
#
# One exception is made here: a broker test under the sanitizers. Their
# runtime, preloaded into Debian's uninstrumented mosquitto for the plugin,
# leaves glibc's gettext lock (_nl_state_lock) corrupted by the time libpq
# asks for its message catalogue, and the broker hangs in PQconnectdb; an
# uninstrumented three-line libpq program under LD_PRELOAD=libasan.so hangs
# the same way. Those tests run on PostgreSQL in the plain pass instead
# (mqtt_broker_pg, mqtt_roles_pg in tests/CMakeLists.txt).
# (ldd's whole output first: grep -q leaving early would let ldd die of
# SIGPIPE, which pipefail counts as no match, and the broker would hang.)
if [ "${FSEC_TEST_REGISTRY:-sqlite}" = postgresql ] && [ -n "${PLUGIN:-}" ] &&
	[ -z "${FSEC_TEST_REGISTRY_FIXED:-}" ] &&
	grep -q libasan <<<"$(ldd "$PLUGIN" 2>/dev/null || true)"; then
	FSEC_TEST_REGISTRY_FIXED="a sanitizer-built broker plugin cannot use libpq (see lib.sh)"
fi
if [ "${FSEC_TEST_REGISTRY:-sqlite}" = postgresql ] && [ -z "${FSEC_TEST_PG:-}" ]; then
	if [ -n "${FSEC_TEST_REGISTRY_FIXED:-}" ]; then
		echo "$(basename "$0"): registry as the test sets it: $FSEC_TEST_REGISTRY_FIXED" >&2
	else
		exec bash "$(dirname "${BASH_SOURCE[0]}")/pg_run.sh" "$0" "$@"
	fi
elif [ "${FSEC_TEST_REGISTRY:-sqlite}" != sqlite ] && [ "${FSEC_TEST_REGISTRY}" != postgresql ]; then
	echo "FAIL: FSEC_TEST_REGISTRY is '$FSEC_TEST_REGISTRY', not sqlite or postgresql" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/fsec-it-XXXXXX")
trap 'rm -rf "$T"' EXIT
export FLEETSEC_HOME="$T/home"
checks=0

fail() { echo "FAIL: $*" >&2; exit 1; }
# sql QUERY [SEP]: QUERY on the fleet's registry through the backend's own
# client, not through fleetsec: sqlite3 on the home's file, or psql on
# fleet.json's PostgreSQL URL. Both print rows one a line, columns joined
# by SEP (default '|').
sql() {
	local url
	url=$(jq -r '.registry // empty' "$FLEETSEC_HOME/fleet.json" 2>/dev/null || true)
	case $url in
	postgresql://* | postgres://*) psql -qAt -v ON_ERROR_STOP=1 -F "${2:-|}" -d "$url" -c "$1" ;;
	*) sqlite3 -separator "${2:-|}" "$FLEETSEC_HOME/registry.db" "$1" ;;
	esac
}
ok() { checks=$((checks + 1)); }

# expect STATUS CMD...: run CMD, require its exit status, keep its stderr in
# $T/err and stdout in $T/out.
expect() {
	local want=$1 got=0
	shift
	"$@" >"$T/out" 2>"$T/err" || got=$?
	[ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(cat "$T/err"); stdout: $(head -c 300 "$T/out")"
	ok
}

# The error contract: exactly one line on stderr, mentioning $1.
one_line_error() {
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "expected one stderr line, got: $(cat "$T/err")"
	grep -qF -- "$1" "$T/err" || fail "stderr does not name '$1': $(cat "$T/err")"
	ok
}

csr() { # csr KIND NAME: a key and a CSR made by openssl, not by us
	local kind=$1 name=$2
	local newkey
	case $kind in
	p256) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
	p384) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-384) ;;
	secp256k1) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:secp256k1) ;;
	ed25519) newkey=(-newkey ed25519) ;;
	rsa1024) newkey=(-newkey rsa:1024) ;;
	rsa2048) newkey=(-newkey rsa:2048) ;;
	*) fail "unknown key kind $kind" ;;
	esac
	openssl req -new "${newkey[@]}" -nodes -keyout "$T/$name.key" -subj "/CN=$name" \
		-out "$T/$name.csr" 2>/dev/null
}

# slice FILE OFFSET LENGTH: bytes of FILE on stdout. (tail | head would die
# of SIGPIPE under pipefail once head has what it wants.)
slice() {
	dd if="$1" bs=1 skip="$2" count="$3" status=none
}

# reg FILTER COMMAND...: a fact from the registry, through the CLI (so the
# tests hold for any registry backend): run `fleetsec COMMAND... --json` and
# print jq -r FILTER of its output, e.g. reg length device list.
reg() {
	local filter=$1
	shift
	"$FLEETSEC" "$@" --json | jq -r "$filter"
}

# certid CERT: serial and SHA-256 fingerprint, as the CLI's --json has them.
certid() {
	echo "$(openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'a-f' 'A-F')" \
		"$(openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : |
			tr 'A-F' 'a-f')"
}
# current ID: the registry's current certificate of device ID (as certid
# prints it), from the CLI.
current() {
	local j
	j=$("$FLEETSEC" device show "$1" --json) || fail "device show $1"
	echo "$(jq -r .serial <<<"$j" | tr 'a-f' 'A-F') $(jq -r .fingerprint_sha256 <<<"$j")"
}
ncerts() { "$FLEETSEC" device show "$1" --json | jq '.certificates | length'; }
# is_current ID CERT: CERT verifies against the fleet root (openssl verify,
# the issuing CA as an untrusted intermediate) and is ID's current
# certificate in the registry.
is_current() {
	openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
		-untrusted "$FLEETSEC_HOME/issuing.pem" "$2" >/dev/null || fail "$2 does not verify"
	[ "$(certid "$2")" = "$(current "$1")" ] ||
		fail "$2 ($(certid "$2")) is not $1's current certificate ($(current "$1"))"
	ok
}
# key_of_cert KEY CERT: KEY is CERT's private key (openssl compares the
# public keys).
key_of_cert() {
	[ "$(openssl pkey -in "$1" -pubout)" = "$(openssl x509 -in "$2" -noout -pubkey)" ] ||
		fail "$1 is not the key of $2"
	ok
}

# device_slots: in $T, the firmware key fw.pem and release root root.pem
# with their public halves fw.pub and root.pub, and the slots agent_conf
# names: slot_a holding v1.img (1.0.0, security counter 1), slot_b erased.
device_slots() {
	local k
	for k in fw root; do
		"$FLEETSEC" fw keygen --out "$T/$k.pem" 2>/dev/null
		"$FLEETSEC" fw pubkey "$T/$k.pem" --out "$T/$k.pub"
	done
	sign_image v1 1.0.0 1
	head -c $((0x100000)) /dev/zero | tr '\0' '\377' >"$T/slot_a"
	cp "$T/slot_a" "$T/slot_b"
	dd if="$T/v1.img" of="$T/slot_a" conv=notrunc status=none
}

# sign_image NAME VERSION COUNTER: NAME.img in $T, a fresh 300 kB payload
# signed with device_slots' firmware key for its 1 MiB slots.
sign_image() {
	head -c 300000 /dev/urandom >"$T/$1.bin"
	"$FLEETSEC" fw sign --key "$T/fw.pem" --version "$2" --security-counter "$3" --pad-header \
		--slot-size 0x100000 "$T/$1.bin" "$T/$1.img"
}

# online_key: after device_slots, the online release key online.pem (and
# .pub) and deleg.json, its delegation (sequence 1) from the release root.
online_key() {
	"$FLEETSEC" fw keygen --algo p256 --out "$T/online.pem" 2>/dev/null
	"$FLEETSEC" fw pubkey "$T/online.pem" --out "$T/online.pub"
	"$FLEETSEC" release delegate --root-key "$T/root.pem" --key "$T/online.pub" --sequence 1 \
		--out "$T/deleg.json"
}

# FT [-f] OFFSET CMD...: CMD with its clock OFFSET ("+8d", "-2h") from now,
# through libfaketime preloaded directly: the faketime wrapper's shared
# memory outlives a killed process and clashes with a later one that gets
# its PID. An ASan build must be told to accept the preload.
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
FT() {
	[ "$1" != -f ] || shift
	local off=$1
	shift
	[ -r "$FAKETIME_LIB" ] || fail "libfaketime is missing (Debian package faketime; scripts/deps.sh)"
	LD_PRELOAD=$FAKETIME_LIB FAKETIME=$off \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@"
}

done_checks() { echo "$(basename "$0"): $checks checks passed"; }

# agent_conf SERVER [KEY=VALUE]...: write $T/agent.conf for the simulated
# device under $T: the device key and certificate dev.key and dev.pem, the
# fleet CA, the firmware and release keys fw.pub and root.pub, model thermo,
# the slot and state files, the file boot backend. Each KEY=VALUE replaces
# that key's value or adds the key.
# rand_port: a random TCP port (and the one above it) below the kernel's
# ephemeral range (32768 and up here), where other tests' client sockets
# would otherwise take it between the pick and the bind.
rand_port() { echo $((20000 + RANDOM % 12000)); }

agent_conf() {
	local server=$1 kv k
	shift
	local order=(server ca key cert firmware_key release_root model slot_a slot_b
		boot_backend boot_env state_dir)
	local -A v=([server]=$server [ca]=$FLEETSEC_HOME/chain.pem [key]=$T/dev.key
		[cert]=$T/dev.pem [firmware_key]=$T/fw.pub [release_root]=$T/root.pub
		[model]=thermo [slot_a]=$T/slot_a [slot_b]=$T/slot_b [boot_backend]=file
		[boot_env]=$T/bootenv [state_dir]=$T/state)
	for kv in "$@"; do
		k=${kv%%=*}
		[ -n "${v[$k]+set}" ] || order+=("$k")
		v[$k]=${kv#*=}
	done
	for k in "${order[@]}"; do
		echo "$k = ${v[$k]}"
	done >"$T/agent.conf"
	# The TPM variants of a test keep every configuration's counter in
	# the TPM: AGENT_CONF_EXTRA holds their extra "key = value" lines.
	[ -z "${AGENT_CONF_EXTRA:-}" ] || printf '%s\n' "$AGENT_CONF_EXTRA" >>"$T/agent.conf"
}

# broker_can_read KEY [DIR...]: as root, let the broker's user ($BUSER),
# which Mosquitto drops to, reach the fleet home and read KEY (the server
# key), and write each DIR. Others get nothing more.
broker_can_read() {
	local key=$1
	shift
	[ "$(id -u)" -eq 0 ] || return 0
	chmod 0711 "$T"
	chgrp "$BUSER" "$FLEETSEC_HOME" "$key" "$@"
	chmod 0710 "$FLEETSEC_HOME"
	chmod 0640 "$key"
	[ $# -eq 0 ] || chmod 0770 "$@"
}

# mosquitto_start: run mosquitto -c mosquitto.conf (in the current folder,
# log in broker.log) with $PLUGIN, set BROKER to its PID and wait until it
# runs. Under the sanitizers the plugin needs their runtimes preloaded in a
# broker built without them.
mosquitto_start() {
	local preload="" deps lib
	# ldd's whole output first: grep -q stopping at the first match would
	# leave ldd to die of SIGPIPE, which pipefail counts as no match.
	deps=$(ldd "$PLUGIN")
	for lib in asan ubsan; do
		if grep -q "lib$lib" <<<"$deps"; then
			preload="$preload${preload:+:}$(gcc -print-file-name=lib$lib.so)"
		fi
	done
	if [ -n "$preload" ]; then
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:detect_leaks=0"
	fi
	LD_PRELOAD=$preload mosquitto -c mosquitto.conf >broker.log 2>&1 &
	BROKER=$!
	trap 'kill $BROKER $(jobs -p) 2>/dev/null || true; rm -rf "$T"' EXIT
	# Up to 30 s: a sanitizer-built plugin on a loaded machine took over
	# the 5 s this once allowed, and the test then failed further on.
	for _ in $(seq 300); do
		grep -q 'running' broker.log && return 0
		kill -0 $BROKER 2>/dev/null || fail "mosquitto did not start: $(cat broker.log)"
		sleep 0.1
	done
	fail "mosquitto is not running after 30 s: $(tail -3 broker.log)"
}
