#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Years of a fleet in simulated time (issue 12, "proven by three simulated
# years"). The real fleetsecd, fleetsec CLI and fleetsec-agent processes run
# under libfaketime while the clock moves one simulated day per step:
# - N devices, each an agent with its own state directory, slots and boot
#   environment, enrolled once with a bootstrap credential that is then moved
#   away (any later use of it would fail); each device runs one full daemon
#   round (`fleetsec-agent daemon --once`: renew when due, trust update,
#   settle a trial, update, report, reboot_cmd = fleetsec-bootsim) every
#   EVERY simulated days;
# - device certificates live 30 days (renewed at two thirds), the CRL 7;
# - a release is published every 30 simulated days with a 30-day manifest,
#   and fleetsecd keeps it fresh by itself (release_refresh = auto);
# - fleetsecd's certificate (30 days) is renewed every 20 days
#   (ca server-cert --renew, then SIGHUP), as README's calendar says;
# - the release delegation (365 days) is renewed every 300 days;
# - the issuing CA is rotated at a fifth of the run (year one of three), the
#   root rolled over half-way (year two), and the release root devices pin
#   rotated at four fifths (year three);
# - faults: fleetsecd restarts at random (SIGTERM or SIGKILL), devices
#   powered off for one to three weeks, and power cuts (FSEC_FAULT: a
#   durable write before, after or torn, or the answer cut on the wire)
#   during rounds that renew or update.
# fleetsecd stays up across steps: its clock is read from a file
# (FAKETIME_TIMESTAMP_FILE, uncached). Its CRL and release maintenance run
# on libevent timers, which count the monotonic clock and do not see a
# stepped fake clock; so each step sends it SIGHUP, whose reload runs the
# same maintenance (the CRL's tick and the release refresher) at once. A
# restart runs it too.
# After every step it judges what fleetsecd served, with openssl and jq
# against the fake now: the CRL (GET /crl, every CRL in it: lastUpdate not
# ahead, nextUpdate not passed), the server certificate (openssl s_client),
# and the manifests of GET /v1/update. At the end: every device renews
# (renew --force) and checks for updates through fleetsecd without its
# bootstrap credential, its certificate verifies against the fleet root
# (openssl verify -attime), every device runs the latest release and got
# each release within BOUND days it was powered on, plus EVERY days for each
# of its rounds that a fault cut on purpose while it lagged (a cut round is
# a lost round by design, and a device may draw several in a row: without
# that allowance the bound measures the dice, not fleetsec), fleetsecd never saw a
# bootstrap credential after enrollment, `registry check` passes and
# `audit fleet` is clean. The last line is the summary of figures.
#
# Options (or the environment): --devices N (YEARS_DEVICES, 10), --days N
# (YEARS_DAYS, 180), --seed N (YEARS_SEED, 1), --every N (YEARS_EVERY, 3),
# --jobs N (YEARS_JOBS, 2: rounds at once), --bound N (YEARS_BOUND, 12),
# --quiet (YEARS_QUIET=1: no faults and no rotations, the benchmark's
# baseline; the operator's calendar of server-certificate and delegation
# renewals still runs, since without it the 30-day server certificate
# lapses on day 30), --times FILE (YEARS_TIMES:
# every round's wall time in ms, one a line).
# Needs a build with FSEC_FAULT_INJECTION (Debug, AsanUbsan).
. "$(dirname "$0")/lib.sh"
: "${FLEETSECD:?}" "${AGENT:?}" "${BOOTSIM:?}"
DEVICES=${YEARS_DEVICES:-10} DAYS=${YEARS_DAYS:-180} SEED=${YEARS_SEED:-1}
EVERY=${YEARS_EVERY:-3} JOBS=${YEARS_JOBS:-2} BOUND=${YEARS_BOUND:-12}
QUIET=${YEARS_QUIET:-0} TIMES=${YEARS_TIMES:-}
while [ $# -gt 0 ]; do
	case $1 in
	--devices) DEVICES=$2; shift 2 ;;
	--days) DAYS=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--every) EVERY=$2; shift 2 ;;
	--jobs) JOBS=$2; shift 2 ;;
	--bound) BOUND=$2; shift 2 ;;
	--times) TIMES=$2; shift 2 ;;
	--quiet) QUIET=1; shift ;;
	*) echo "usage: years_sim.sh [--devices N] [--days N] [--seed N] [--every N] [--jobs N]" \
		"[--bound N] [--times FILE] [--quiet]" >&2; exit 2 ;;
	esac
done
for v in DEVICES DAYS SEED EVERY JOBS BOUND; do
	[[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] ||
		{ echo "years_sim.sh: ${v,,} ${!v}: a whole number, 1 or more" >&2; exit 2; }
done
RANDOM=$SEED
cd "$T"
F=$FLEETSEC
H=$FLEETSEC_HOME
ASAN=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
day=0
# F_at ARGS...: the CLI at the step's fake now.
F_at() { FT "+${day}d" "$F" "$@"; }
# now: the fake now, in seconds since 1970.
now() { echo $(($(date +%s) + day * 86400)); }
epoch() { date -d "$1" +%s; }
pct() { [ $((RANDOM % 1000)) -lt "$1" ]; } # pct PERMILLE: true that often

# Scheduled days: a fifth, a half and four fifths of the run.
ROTATE_DAY=$((DAYS / 5)) ROLLOVER_DAY=$((DAYS / 2)) RELROOT_DAY=$((DAYS * 4 / 5))
RESTART_PM=25 CUT_PM=150 OFF_PM=6 # per mille: per step, per round with work, per device-day
if [ "$QUIET" = 1 ]; then
	ROTATE_DAY=-1 ROLLOVER_DAY=-1 RELROOT_DAY=-1 RESTART_PM=0 CUT_PM=0 OFF_PM=0
fi

# ---- the fleet on day 0 ----
"$F" ca init --name "Years Fleet" --device-days 30 --crl-days 7 >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 --days 30 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-Y*' --model thermo >/dev/null
for k in fw root online; do
	"$F" fw keygen --algo p256 --out $k.pem 2>/dev/null
	"$F" fw pubkey $k.pem --out $k.pub
done
"$F" release delegate --root-key root.pem --key online.pub --sequence 1 --out deleg.json
RELROOT=root.pem ROOTS=(--root root.pub) DELEG_SEQ=1
SLOT=0x40000
image() { # image NAME VERSION COUNTER
	head -c 40000 /dev/urandom >"$1.bin"
	"$F" fw sign --key fw.pem --version "$2" --security-counter "$3" --pad-header \
		--slot-size $SLOT "$1.bin" "$1.img"
}
image v1 1.0.0 1
cat >>"$H/fleetsecd.conf" <<EOF
release_refresh = auto
release_key = $T/online.pem
release_delegation = $T/deleg.json
release_root = $T/root.pub
EOF

# fleetsecd reads its clock from this file at every call.
echo "+0d" >clock
: >daemon.log
PORT=$(rand_port)
FSD=
trap '[ -z "$FSD" ] || kill $FSD 2>/dev/null || true; [ -n "${YEARS_KEEP:-}" ] || rm -rf "$T"' EXIT
fsd_start() {
	local n try
	for try in 1 2 3 4 5 6 7 8 9 10; do
		n=$(grep -c listening daemon.log || true)
		LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=$T/clock FAKETIME_NO_CACHE=1 \
			ASAN_OPTIONS=$ASAN "$FLEETSECD" --listen 127.0.0.1:$PORT 2>>daemon.log &
		FSD=$!
		for _ in $(seq 100); do
			[ "$(grep -c listening daemon.log || true)" -gt "$n" ] && return 0
			kill -0 $FSD 2>/dev/null || break
			sleep 0.05
		done
		kill $FSD 2>/dev/null || true
		wait $FSD 2>/dev/null || true
		# Only the first start may move to another port: the devices
		# have this one.
		[ "$day" -gt 0 ] || PORT=$(rand_port)
		sleep 0.2
	done
	fail "fleetsecd did not start: $(tail -3 daemon.log)"
}
fsd_stop() { # fsd_stop SIGNAL
	kill -"$1" $FSD
	wait $FSD 2>/dev/null || true
	FSD=
}
fsd_reload() {
	local n
	n=$(grep -c reloaded daemon.log || true)
	kill -HUP $FSD
	for _ in $(seq 200); do
		[ "$(grep -c reloaded daemon.log || true)" -gt "$n" ] && return 0
		sleep 0.05
	done
	fail "day $day: fleetsecd did not reload: $(tail -3 daemon.log)"
}
fsd_start
URL=https://127.0.0.1:$PORT
# The factory image is the first release: the devices always have a signed
# answer from day 0.
"$F" release create --model thermo --image v1.img --chunk-size 16384 --sequence 1 --expires 30d \
	--out m1.json
"$F" release sign --key online.pem --delegation deleg.json m1.json --out r1.json
"$F" release publish --model thermo --bundle r1.json --image v1.img --root root.pub >/dev/null

# ---- the devices ----
ids=()
for i in $(seq 1 "$DEVICES"); do
	id=SN-Y$(printf %03d "$i")
	ids+=("$id")
	d=$T/dev/$id
	mkdir -p "$d/state"
	"$F" mfr issue "$id" --dir mfr --key-out "$d/boot.key" --out "$d/boot.pem" 2>/dev/null
	head -c $((SLOT)) /dev/zero | tr '\0' '\377' >"$d/slot_a"
	cp "$d/slot_a" "$d/slot_b"
	dd if=v1.img of="$d/slot_a" conv=notrunc status=none
	# What the device pins: the fleet root and the release root of its
	# factory day (copies: the home's files change with a rollover).
	cp "$H/root.pem" "$d/fleet-root.pem"
	cp root.pub "$d/release-root.pub"
	cat >"$d/agent.conf" <<EOF
server = $URL
ca = $d/fleet-root.pem
key = $d/dev.key
cert = $d/dev.pem
firmware_key = $T/fw.pub
release_root = $d/release-root.pub
model = thermo
slot_a = $d/slot_a
slot_b = $d/slot_b
boot_backend = file
boot_env = $d/bootenv
state_dir = $d/state
bootstrap_key = $d/boot.key
bootstrap_cert = $d/boot.pem
reboot_cmd = $BOOTSIM $d/bootenv
EOF
	FT +0d "$AGENT" -c "$d/agent.conf" enroll >"$d/out" 2>"$d/err" ||
		fail "$id: enroll: $(cat "$d/err")"
	mv "$d/boot.key" "$d/boot.key.gone"
	mv "$d/boot.pem" "$d/boot.pem.gone"
done
boot_uses=$(grep -c '(bootstrap)' daemon.log || true)
ok

# ---- the steps ----
declare -A off_until lag version lost
rounds=0 renewals=0 superseded=0 mid_renewal=0 cuts=0 cut_renew=0 cut_update=0 restarts=0 offs=0 lapsed=0
rotations=0 rollovers=0 relroots=0 delegations=0 server_renewals=0 releases=0
max_lag=0 max_net=0 latest=1.0.0 rel=1
: >times.txt

lapse() { # lapse WHAT: an expired (or not yet valid) artifact was served
	lapsed=$((lapsed + 1))
	echo "day $day: LAPSED: $*" | tee -a lapses.txt >&2
}

# served: judge what fleetsecd serves now against the fake now.
served() {
	local t p nu lu nb na probe="" id exp
	t=$(now)
	# The CRLs: every one in the answer.
	curl -sk --max-time 20 "$URL/crl" >crl.served || { lapse "GET /crl failed"; return; }
	awk '/BEGIN X509 CRL/{n++} {print > ("crl." n ".pem")}' crl.served
	[ -s crl.1.pem ] || openssl crl -inform DER -in crl.served -out crl.1.pem 2>/dev/null ||
		{ lapse "GET /crl: no CRL"; return; }
	for p in crl.[0-9]*.pem; do
		nu=$(openssl crl -in "$p" -noout -nextupdate | cut -d= -f2)
		lu=$(openssl crl -in "$p" -noout -lastupdate | cut -d= -f2)
		[ "$(epoch "$nu")" -gt "$t" ] || lapse "CRL nextUpdate $nu"
		[ "$(epoch "$lu")" -le $((t + 60)) ] || lapse "CRL lastUpdate $lu ahead"
	done
	rm -f crl.[0-9]*.pem
	# The certificate the handshake presents.
	openssl s_client -connect 127.0.0.1:$PORT -servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -startdate -enddate >srv.dates 2>/dev/null ||
		{ lapse "no server certificate in the handshake"; return; }
	nb=$(sed -n 's/^notBefore=//p' srv.dates) na=$(sed -n 's/^notAfter=//p' srv.dates)
	[ "$(epoch "$na")" -gt "$t" ] || lapse "server certificate notAfter $na"
	[ "$(epoch "$nb")" -le $((t + 60)) ] || lapse "server certificate notBefore $nb ahead"
	# The manifests, through a device that is on and whose files hold its
	# current certificate: after a renewal cut once fleetsecd had committed,
	# the files still hold the superseded one until the device's next round
	# fetches the answer again, and fleetsecd rightly refuses that (403).
	# Nor a device cut between its renewal's two writes (the new
	# certificate landed, its key still dev.key.pending beside the old
	# one): its next command finishes the renewal, but until then its
	# files do not pair, and curl could not use them.
	for id in "${ids[@]}"; do
		[ "${off_until[$id]:-0}" -le "$day" ] || continue
		if [ -e "$T/dev/$id/dev.key.pending" ]; then
			mid_renewal=$((mid_renewal + 1))
			continue
		fi
		[ "$(certid "$T/dev/$id/dev.pem")" = "$(current "$id")" ] && { probe=$id; break; }
		superseded=$((superseded + 1))
	done
	[ -n "$probe" ] || return 0
	d=$T/dev/$probe
	code=$(curl -sSk --max-time 20 --cert "$d/dev.pem" --key "$d/dev.key" -o update.served \
		-w '%{http_code}' "$URL/v1/update" 2>curl.err) || {
		# Say why: curl's own error, the device and its certificate, and
		# what fleetsecd logged last.
		lapse "GET /v1/update failed as $probe ($(openssl x509 -in "$d/dev.pem" -noout \
			-serial -issuer 2>&1 | tr '\n' ' ')): $(head -c 300 curl.err); fleetsecd: $(tail -3 daemon.log |
			tr '\n' '|')"
		return
	}
	case $code in
	204) ;;
	200)
		# Every signed statement in the answer: each DSSE payload's expiry.
		jq -r '.. | objects | select(has("payload") and has("signatures")) | .payload' \
			update.served | while read -r p; do
			base64 -d <<<"$p" | jq -r '.expires // empty'
		done >expiries
		[ -s expiries ] || lapse "GET /v1/update: no signed expiry in $(head -c 200 update.served)"
		while read -r exp; do
			[ "$(epoch "$exp")" -gt "$t" ] || lapse "manifest or timestamp expired $exp"
		done <expiries
		;;
	*) lapse "GET /v1/update: HTTP $code" ;;
	esac
}

# cert_state ID: "due" when the device's certificate is past two thirds,
# "fresh" when it is younger than two days, else "".
cert_state() {
	local d=$T/dev/$1 nb na t
	nb=$(epoch "$(openssl x509 -in "$d/dev.pem" -noout -startdate | cut -d= -f2)")
	na=$(epoch "$(openssl x509 -in "$d/dev.pem" -noout -enddate | cut -d= -f2)")
	t=$(now)
	if [ $((t - nb)) -ge $(((na - nb) * 2 / 3 - 86400)) ]; then
		echo due
	elif [ $((t - nb)) -lt $((2 * 86400)) ]; then
		echo fresh
	fi
}

# rounds_of IDS...: one daemon round of each, JOBS at once. A round cut on
# purpose exits 99; every other round must succeed.
run_rounds() {
	local id d fault pids=() names=() starts=() i st t0 t1 what
	for id in "$@"; do
		d=$T/dev/$id
		fault=
		what=
		if [ "$CUT_PM" -gt 0 ]; then
			if [ "$(cert_state "$id")" = due ]; then
				what=renew
			elif [ "${version[$id]:-1.0.0}" != "$latest" ]; then
				what=update
			fi
			if [ -n "$what" ] && pct "$CUT_PM"; then
				case $((RANDOM % 4)) in
				0) fault=net:$((1 + RANDOM % 60000)) ;;
				*) fault=$((1 + RANDOM % 6)):$(echo before after torn | cut -d' ' -f$((1 + RANDOM % 3))) ;;
				esac
			fi
		fi
		echo "$fault" >"$d/fault"
		echo "$what" >"$d/work"
		starts+=("$(date +%s%N)")
		if [ -n "$fault" ]; then
			LD_PRELOAD=$FAKETIME_LIB FAKETIME="+${day}d" ASAN_OPTIONS=$ASAN FSEC_FAULT=$fault \
				"$AGENT" -c "$d/agent.conf" daemon --once >"$d/out" 2>"$d/err" &
		else
			LD_PRELOAD=$FAKETIME_LIB FAKETIME="+${day}d" ASAN_OPTIONS=$ASAN \
				"$AGENT" -c "$d/agent.conf" daemon --once >"$d/out" 2>"$d/err" &
		fi
		pids+=($!)
		names+=("$id")
		if [ ${#pids[@]} -ge "$JOBS" ]; then
			reap
		fi
	done
	reap
}
reap() {
	local i st t1 d id
	for i in "${!pids[@]}"; do
		st=0
		wait "${pids[$i]}" || st=$?
		t1=$(date +%s%N)
		id=${names[$i]}
		d=$T/dev/$id
		echo $(((t1 - ${starts[$i]}) / 1000000)) >>times.txt
		rounds=$((rounds + 1))
		if [ "$st" = 99 ] && [ -s "$d/fault" ]; then
			cuts=$((cuts + 1))
			[ "${version[$id]:-1.0.0}" = "$latest" ] || lost[$id]=$((${lost[$id]:-0} + 1))
			[ "$(cat "$d/work")" = renew ] && cut_renew=$((cut_renew + 1)) || cut_update=$((cut_update + 1))
			cat "$d/out" "$d/err" >>"$d/log"
			continue
		fi
		[ "$st" = 0 ] || fail "day $day: $id's round exited $st (fault '$(cat "$d/fault")'): $(cat "$d/err")"
		grep -q "renewed the certificate" "$d/out" && renewals=$((renewals + 1))
		! grep -q "re-enrolled" "$d/out" || fail "day $day: $id re-enrolled with its bootstrap credential"
		cat "$d/out" "$d/err" >>"$d/log"
	done
	pids=() names=() starts=()
}

publish() { # the next monthly release
	rel=$((rel + 1))
	image "v$rel" "$rel.0.0" "$rel"
	F_at release create --model thermo --image "v$rel.img" --chunk-size 16384 \
		--sequence $((day * 100 + 50)) --expires 30d --out "m$rel.json"
	F_at release sign --key online.pem --delegation deleg.json "m$rel.json" --out "r$rel.json"
	F_at release publish --model thermo --bundle "r$rel.json" --image "v$rel.img" "${ROOTS[@]}" \
		>/dev/null || fail "day $day: publish $rel.0.0"
	latest=$rel.0.0
	releases=$((releases + 1))
}

for day in $(seq 1 "$DAYS"); do
	echo "+${day}d" >clock

	# The operator's calendar.
	if [ $((day % 30)) = 0 ]; then
		publish
	fi
	if [ $((day % 20)) = 0 ]; then
		F_at ca server-cert --renew >/dev/null || fail "day $day: server-cert --renew"
		server_renewals=$((server_renewals + 1))
	fi
	if [ $((day % 300)) = 0 ]; then
		DELEG_SEQ=$((DELEG_SEQ + 1))
		F_at release delegate --renew deleg.json --root-key $RELROOT --out deleg-$DELEG_SEQ.json \
			>/dev/null || fail "day $day: release delegate --renew"
		cp deleg-$DELEG_SEQ.json deleg.json
		delegations=$((delegations + 1))
	fi
	if [ "$day" = "$ROTATE_DAY" ]; then
		F_at ca rotate --root-key "$H/root.key" >/dev/null || fail "day $day: ca rotate"
		rotations=$((rotations + 1))
	fi
	if [ "$day" = "$ROLLOVER_DAY" ]; then
		F_at ca rollover --root-key "$H/root.key" >/dev/null || fail "day $day: ca rollover"
		rollovers=$((rollovers + 1))
	fi
	if [ "$day" = "$RELROOT_DAY" ]; then
		# The release root devices pin: a new root signed by the old, a
		# delegation from the new one, and the published manifests signed
		# again under it (both roots named, as the README says).
		"$F" fw keygen --algo p256 --out root2.pem 2>/dev/null
		"$F" fw pubkey root2.pem --out root2.pub
		F_at release root-rotate --root-key root.pem --new-root-key root2.pem --out root-2.json \
			>/dev/null || fail "day $day: release root-rotate"
		F_at release root-publish --root root.pub root-2.json >/dev/null ||
			fail "day $day: release root-publish"
		DELEG_SEQ=$((DELEG_SEQ + 1))
		F_at release delegate --root-key root2.pem --key online.pub --sequence $DELEG_SEQ \
			--out deleg.json >/dev/null || fail "day $day: delegate under root 2"
		RELROOT=root2.pem ROOTS=(--root root2.pub)
		# Nothing else: fleetsecd's refresher follows the published chain
		# from its release_root (still the first root) at its next run, takes
		# the new delegation, and signs the published manifests again under
		# it (a newer delegation is a reason to refresh). served() then
		# judges what the devices get.
		relroots=$((relroots + 1))
	fi

	# A restart at random (a crash, or a stop and start), else the reload
	# that runs the maintenance.
	if [ -z "$FSD" ]; then
		fsd_start
	elif pct "$RESTART_PM"; then
		[ $((RANDOM % 2)) = 0 ] && fsd_stop TERM || fsd_stop KILL
		fsd_start
		restarts=$((restarts + 1))
	else
		fsd_reload
	fi
	served

	# Devices that go dark for one to three weeks: only with a certificate
	# fresh enough to outlast it (one that lapsed would have to re-enrol with
	# its bootstrap credential, which agent_reenroll.sh tests).
	due=()
	for i in "${!ids[@]}"; do
		id=${ids[$i]}
		[ "${off_until[$id]:-0}" -le "$day" ] || continue
		if [ "$OFF_PM" -gt 0 ] && pct "$OFF_PM" && [ "$(cert_state "$id")" = fresh ]; then
			off_until[$id]=$((day + 7 + RANDOM % 15))
			offs=$((offs + 1))
			continue
		fi
		[ $(((day + i) % EVERY)) = 0 ] && due+=("$id")
	done
	[ ${#due[@]} = 0 ] || run_rounds "${due[@]}"

	# What the registry says each device runs, and how long the devices
	# that were on have been without the latest release.
	"$F" device list --json >devices.json
	while read -r id v; do
		version[$id]=${v%%+*}
		if [ "${version[$id]}" = "$latest" ] || [ "$latest" = 1.0.0 ]; then
			lag[$id]=0 lost[$id]=0
		elif [ "${off_until[$id]:-0}" -le "$day" ]; then
			lag[$id]=$((${lag[$id]:-0} + 1))
			[ "${lag[$id]}" -le "$max_lag" ] || max_lag=${lag[$id]}
			# Days lagged beyond what this device's cut rounds excuse.
			net=$((lag[$id] - EVERY * ${lost[$id]:-0}))
			[ "$net" -le "$max_net" ] || max_net=$net
			[ "$net" -le "$BOUND" ] ||
				fail "day $day: $id runs ${version[$id]}, not $latest, after ${lag[$id]} days on" \
					"(${lost[$id]:-0} rounds cut on purpose meanwhile, so $net days net, over the $BOUND-day bound)"
		fi
	done < <(jq -r '.[] | "\(.id) \(.fw_version // .state.fw_version // "1.0.0")"' devices.json)
	[ $((day % 30)) != 15 ] || echo "day $day: rounds $rounds, renewals $renewals, cuts $cuts," \
		"restarts $restarts, latest $latest" >&2
done

# ---- the end ----
# Every device comes back on, runs its rounds, renews (allowed once ahead of
# its time: fleetsecd refuses an early renewal otherwise) and checks for
# updates through fleetsecd, with no bootstrap credential.
stranded=0
newest_root=$H/root.pem
for r in "$H"/root-[0-9]*.pem; do
	[ ! -e "$r" ] || newest_root=$r
done
for id in "${ids[@]}"; do
	d=$T/dev/$id
	off_until[$id]=0
	if ! FT "+${day}d" "$AGENT" -c "$d/agent.conf" daemon --once >"$d/out" 2>"$d/err" ||
		! FT "+${day}d" "$AGENT" -c "$d/agent.conf" daemon --once >>"$d/out" 2>>"$d/err" ||
		! F_at device allow-renew "$id" >/dev/null 2>>"$d/err" ||
		! FT "+${day}d" "$AGENT" -c "$d/agent.conf" renew --force >>"$d/out" 2>>"$d/err" ||
		! FT "+${day}d" "$AGENT" -c "$d/agent.conf" check --json >"$d/check" 2>>"$d/err"; then
		stranded=$((stranded + 1))
		echo "STRANDED: $id: $(cat "$d/err")" >&2
		continue
	fi
	jq -e '.applies == false' "$d/check" >/dev/null ||
		{ stranded=$((stranded + 1)); echo "STRANDED: $id: not on $latest: $(cat "$d/check")" >&2; continue; }
	# Against the newest fleet root, and against the root the device was
	# made with (through the cross certificate after a rollover), at this
	# device's now: the certificate it renewed a moment ago is backdated
	# by only a minute, and this loop over the fleet takes longer than that
	# at 50 devices on a loaded machine (a time taken before the loop made
	# the last devices' certificates "not yet valid").
	t=$(now)
	for r in "$newest_root" "$d/fleet-root.pem"; do
		openssl verify -attime "$t" -purpose sslclient -CAfile "$r" -untrusted "$H/chain.pem" \
			"$d/dev.pem" >/dev/null ||
			{ stranded=$((stranded + 1)); echo "STRANDED: $id: does not verify against $r" >&2; continue 2; }
	done
	ok
done
[ "$(grep -c '(bootstrap)' daemon.log || true)" = "$boot_uses" ] ||
	fail "a bootstrap credential reached fleetsecd after enrollment"
"$F" device list --json | jq -r '.[] | .fw_version // .state.fw_version' | sort -u >versions
[ "$(cat versions)" = "$latest+0" ] || [ "$(cat versions)" = "$latest" ] ||
	fail "not every device runs $latest: $(tr '\n' ' ' <versions)"
F_at registry check >/dev/null || fail "registry check: $(F_at registry check 2>&1 | tail -3)"
ok
F_at audit fleet >audit.txt 2>&1 || fail "audit fleet is not clean: $(cat audit.txt)"
ok

median=$(sort -n times.txt | awk '{a[NR]=$1} END {print (NR ? a[int((NR + 1) / 2)] : 0)}')
[ -z "$TIMES" ] || cp times.txt "$TIMES"
echo "years: $DAYS simulated days, $DEVICES devices, $rounds rounds (median $median ms)," \
	"$renewals renewals; rotations: issuing $rotations, root $rollovers, release root $relroots," \
	"delegation $delegations, server cert $server_renewals; $releases releases (max lag $max_lag" \
	"days, $max_net net of cut rounds, bound $BOUND); faults: $restarts restarts, $offs power-offs, $cuts power cuts" \
	"($cut_renew renewing, $cut_update updating; probe skipped $superseded devices holding a" \
	"superseded certificate, $mid_renewal mid-renewal); lapsed $lapsed, stranded $stranded"
[ "$lapsed" = 0 ] || fail "$lapsed expired artifacts served: $(head -5 lapses.txt)"
[ "$stranded" = 0 ] || fail "$stranded devices stranded"
[ "$rounds" -gt 0 ] || fail "no rounds ran"
done_checks
