#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A renewal never strands a device. The real fleetsec-agent renews against
# the real fleetsecd (`renew --force`) and is cut, as by a power failure:
#  - at every durable write the renewal makes (traced with FSEC_FAULT_TRACE),
#    before it, after it and torn: the pending key's write (before: killed
#    before the request is sent; after: the request never went out) and the
#    certificate's (the server has committed, the answer is in memory);
#  - while the answer is on the wire: every RENEWCUT_NET_STEP-th byte the
#    agent receives (the server has committed), up to the last byte (it has
#    the answer but has not checked it) and, with ca = root.pem, through the
#    cacerts it fetches to check it;
#  - and again while it retries (a retry's one write is the certificate);
# and it is refused by its own checks, after the server has committed: the
# certificate returned does not chain to the root its `ca` pins (a different
# fleet's, or none: the issuing CA alone). After each, the next `renew`
# (device SN-C1) or one daemon round (SN-C2) recovers through fleetsecd, by
# the re-send of the certificate the server issued, and then the certificate
# on disk verifies against the fleet root (openssl verify), its key is the
# key on disk (openssl), it is the registry's current certificate, no
# pending key is left, and `report` succeeds. The bootstrap credential is
# moved away first, so a fallback to it would fail. SN-C1 pins the fleet
# chain (ca = chain.pem), SN-C2 the fleet root alone (ca = root.pem).
# Needs a build with FSEC_FAULT_INJECTION (Debug, AsanUbsan). A renewal has
# two durable writes, so every one is cut in every build. RENEWCUT_NET_STEP
# (default 256) sets the bytes between cuts on the wire.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
cd "$T"
F=$FLEETSEC
H=$FLEETSEC_HOME
NET_STEP=${RENEWCUT_NET_STEP:-256}

"$F" ca init --name "Cut Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-C*' --model thermo >/dev/null
device_slots
# A different fleet's root: what a wrongly pinned device trusts.
"$F" ca init --name "Other Fleet" --home other >/dev/null
printf 'renew_after_percent = 0\nrenewals_per_day = 1000\nrefusals_per_minute = 100000\nreports_per_hour = 100000\n' \
	>>"$H/fleetsecd.conf"
fleetsecd_start

A() { "$AGENT" -c agent.conf "$@"; }
# device ID CA [KEY=VALUE]...: agent.conf for device ID, its key, certificate
# and state under $T/ID, pinning CA, with the bootstrap credential's paths
# (moved away once enrolled).
device() {
	local id=$1 ca=$2
	shift 2
	agent_conf "$URL" ca="$ca" key="$T/$id/dev.key" cert="$T/$id/dev.pem" \
		state_dir="$T/$id/state" bootstrap_key="$T/$id/boot.key" \
		bootstrap_cert="$T/$id/boot.pem" "$@"
}
# healthy ID WHAT: the checks after a recovery.
healthy() {
	local d=$T/$1
	[ ! -e "$d/dev.key.pending" ] || fail "$2: a pending key was left behind"
	is_current "$1" "$d/dev.pem"
	key_of_cert "$d/dev.key" "$d/dev.pem"
	expect 0 A report
	grep -q "reported to the server" out || fail "$2: report: $(cat out)"
}
# committed ID WHAT: the server has renewed; the device holds the
# superseded certificate and the pending key it asked for. The recovery
# that follows must be the re-send of that certificate (recover checks).
resend=
committed() {
	local d=$T/$1
	[ -e "$d/dev.key.pending" ] || fail "$2: no pending key after the cut"
	[ "$(certid "$d/dev.pem")" != "$(current "$1")" ] ||
		fail "$2: the server did not commit before the cut"
	resend=$(current "$1") ncerts_before=$(ncerts "$1")
	ok
}
# daemon_round: one round of `fleetsec-agent daemon` (renew when due or
# pending, update, report), then SIGTERM. Its output is in out and err.
daemon_round() {
	local pid i
	"$AGENT" -c agent.conf daemon --json >out 2>err &
	pid=$!
	# The update's line (or its failure) comes once the round is over.
	for i in $(seq 300); do
		grep -q '"installed"' out && break
		grep -q 'update:' err && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM $pid 2>/dev/null || true
	wait $pid || fail "the daemon exited $?: $(cat err)"
	grep -q '"installed"' out || grep -q 'update:' err ||
		fail "the daemon round did not finish: $(cat err)"
	! grep -q 'renew:' err || fail "the daemon round's renewal failed: $(cat err)"
	ok
}
# recover ID WHAT: the next renew (SN-C1) or daemon round (SN-C2), with no
# fault, then the checks. WHAT goes to stdout, for a failure's context.
recover() {
	echo "recovering: $2"
	if [ "$1" = SN-C1 ]; then
		expect 0 A renew
		grep -q "renewed the certificate of SN-C1\|not due" out || fail "$2: renew: $(cat out)"
	else
		daemon_round
	fi
	healthy "$1" "$2"
	if [ -n "$resend" ]; then
		[ "$(certid "$T/$1/dev.pem")" = "$resend" ] && [ "$(ncerts "$1")" = "$ncerts_before" ] ||
			fail "$2: the recovery was issued a new certificate, not the one the server had committed"
		resend=
		ok
	fi
}

points=0 retries=0 net=0 precrl=0 refused=0
for id in SN-C1 SN-C2; do
	mkdir -p "$id/state"
	"$F" mfr issue "$id" --dir mfr --key-out "$id/boot.key" --out "$id/boot.pem" 2>/dev/null
	[ $id = SN-C1 ] && ca=$H/chain.pem || ca=$H/root.pem
	device $id "$ca"
	expect 0 A enroll
	grep -q "enrolled as $id" out || fail "enroll $id: $(cat out)"
	healthy $id enrolled
	# From here the factory credential is gone, and fleetsecd must see it
	# no more.
	mv "$id/boot.key" "$id/boot.key.gone"
	mv "$id/boot.pem" "$id/boot.pem.gone"
	boot=$(grep -c "peer=$id(bootstrap)" daemon.log)

	# The durable writes of one renewal.
	FSEC_FAULT_TRACE=$T/$id/trace expect 0 A renew --force
	healthy $id "uncut renewal"
	k=$(wc -l <"$id/trace")
	[ "$(sed -n 1p "$id/trace")" = "1 $T/$id/dev.key.pending" ] &&
		[ "$(sed -n "${k}p" "$id/trace")" = "$k $T/$id/dev.pem" ] ||
		fail "$id: a renewal's writes are not the pending key, then the certificate: $(cat "$id/trace")"
	for n in $(seq 1 "$k"); do
		file=$(sed -n "${n}p" "$id/trace" | cut -d' ' -f2-)
		for mode in before after torn; do
			what="$id: write $n ($(basename "$file")) $mode"
			FSEC_FAULT=$n:$mode expect 99 A renew --force
			# Past the pending key, the server has renewed: what the
			# device holds is superseded until it recovers.
			if [ "$file" = "$T/$id/dev.pem" ] && [ $mode != after ]; then
				committed $id "$what"
			fi
			recover $id "$what"
			points=$((points + 1))
		done
	done

	# The retry is cut too. It writes nothing before its request (the key
	# is already pending): its one write is the certificate.
	FSEC_FAULT=$k:before expect 99 A renew --force
	committed $id "$id: cut before a retry"
	FSEC_FAULT_TRACE=$T/$id/trace.retry expect 0 A renew
	[ "$(cat "$id/trace.retry")" = "1 $T/$id/dev.pem" ] ||
		fail "$id: a retry's writes: $(cat "$id/trace.retry")"
	recover $id "$id: the retry"
	for mode in before after torn; do
		what="$id: the certificate's write, then the retry's, $mode"
		FSEC_FAULT=$k:torn expect 99 A renew --force
		committed $id "$what"
		FSEC_FAULT=1:$mode expect 99 A renew
		[ $mode = after ] || committed $id "$what"
		recover $id "$what"
		retries=$((retries + 1))
	done

	# The answer on the wire, every NET_STEP-th byte received, until the
	# renewal receives fewer bytes than the cut and runs through.
	for off in $(seq 1 "$NET_STEP" 100000); do
		got=0
		FSEC_FAULT=net:$off A renew --force >out 2>err || got=$?
		[ $got = 0 ] && break
		[ $got = 99 ] || fail "$id: cut at byte $off: exited $got: $(cat err)"
		# The agent fetches the server's CRL (server_crl) before it asks:
		# a cut there is a cut before the request, and nothing committed.
		if [ -e "$id/dev.key.pending" ] &&
			[ "$(certid "$id/dev.pem")" != "$(current "$id")" ]; then
			committed $id "$id: byte $off"
			net=$((net + 1))
		else
			[ "$(certid "$id/dev.pem")" = "$(current "$id")" ] ||
				fail "$id: byte $off: the device's certificate is not the current one"
			precrl=$((precrl + 1))
		fi
		recover $id "$id: byte $off"
	done
	[ $got = 0 ] || fail "$id: a renewal received more than 100000 bytes"
	healthy $id "renewal past the last byte"

	# Refused by the agent's own checks: its ca pins another fleet's root
	# (and this fleetsecd's certificate, so the connection is made), or
	# the issuing CA without the root. The server renews; the agent
	# refuses the answer, writes nothing and keeps its pending key; its
	# retries are refused the same way (and issued nothing new) until its
	# ca is right.
	cat other/root.pem "$H/server.pem" >other-root.pem
	cp "$H/issuing.pem" issuing-only.pem
	for pin in other-root issuing-only; do
		device $id "$T/$pin.pem"
		cp $id/dev.pem $id/before-refusal.pem
		expect 1 A renew --force
		grep -q "the certificate returned does not verify against $T/$pin.pem" err ||
			fail "$id, ca = $pin.pem: the refusal: $(cat err)"
		cmp -s $id/dev.pem $id/before-refusal.pem || fail "$id: a refused certificate was written"
		committed $id "$id: ca = $pin.pem"
		expect 1 A renew
		grep -q "does not verify against" err || fail "$id, ca = $pin.pem: the retry: $(cat err)"
		device $id "$ca"
		recover $id "$id: refused with ca = $pin.pem, then the right ca"
		refused=$((refused + 1))
	done
	[ "$(grep -c "peer=$id(bootstrap)" daemon.log)" = "$boot" ] ||
		fail "$id used its bootstrap credential: $(grep "peer=$id(bootstrap)" daemon.log)"
	ok
done

echo "renew_cuts: $((points / 3 / 2)) points x 3 modes, all recovered (2 devices, ca = chain.pem" \
	"and ca = root.pem); also $retries retries cut again, $precrl cuts before the" \
	"request (in the CRL fetch), $net cuts of the answer on the wire and $refused refusals by the agent's checks, all recovered"
[ "$points" -ge 12 ] || fail "only $points write points cut"
[ "$net" -ge 4 ] || fail "only $net cuts on the wire"
done_checks
