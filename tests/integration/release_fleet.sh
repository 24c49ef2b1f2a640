# SPDX-License-Identifier: Apache-2.0
# A fleet for the release tests, after lib.sh and fleetsecd.sh, in $T:
# fleetsecd running ($base holds its configuration), one device SN-7 of
# model thermo enrolled by the real agent (A runs it: agent.conf, state/),
# release keys fw, online (P-256) and each name given (Ed25519: NAME.pem,
# NAME.pub), and images v1 (in slot a, running) and v2 signed by fw.
release_fleet() { # release_fleet NAME...
	local k
	F=$FLEETSEC
	"$F" ca init --name "Release Fleet" >/dev/null
	"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
	printf 'renew_after_percent = 0\nrenewals_per_day = 1000\n' >>"$FLEETSEC_HOME/fleetsecd.conf"
	base=$(cat "$FLEETSEC_HOME/fleetsecd.conf")
	fleetsecd_start
	"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
	"$F" mfr issue SN-7 --dir mfr --key-out boot.key --out boot.pem 2>/dev/null
	"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model thermo >/dev/null
	for k in fw "$@"; do
		"$F" fw keygen --out "$k.pem" 2>/dev/null
		"$F" fw pubkey "$k.pem" --out "$k.pub"
	done
	"$F" fw keygen --algo p256 --out online.pem 2>/dev/null
	"$F" fw pubkey online.pem --out online.pub
	for k in 1 2; do
		head -c 200000 /dev/urandom >"v$k.bin"
		"$F" fw sign --key fw.pem --version "$k.0.0" --security-counter "$k" --pad-header \
			--slot-size 0x100000 "v$k.bin" "v$k.img"
	done
	head -c $((0x100000)) /dev/zero | tr '\0' '\377' >slot_a
	cp slot_a slot_b
	dd if=v1.img of=slot_a conv=notrunc status=none
	agent_conf "$URL" bootstrap_key="$T/boot.key" bootstrap_cert="$T/boot.pem"
	mkdir state
	expect 0 A enroll
}
A() { "$AGENT" -c agent.conf "$@"; }
