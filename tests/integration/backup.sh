# SPDX-License-Identifier: Apache-2.0
# fleetsec backup and restore on a live home: backups taken while fleetsecd
# enrolls devices and the CLI issues, restored homes that pass the registry's
# own check, openssl cms as the independent judge of the envelope, and after
# a restore of an old backup, a CRL numbered above the live home's and a
# serial the live home never used. Every refusal is one line, exit 1, and
# leaves nothing behind.
# Backup and restore snapshot a SQLite registry; on PostgreSQL, pg_dump and
# pg_basebackup do, and `fleetsec backup` refuses, naming them.
FSEC_TEST_REGISTRY_FIXED="backup snapshots the SQLite registry"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}"
cd "$T"
F=$FLEETSEC
H=$FLEETSEC_HOME
PASS='correct horse battery staple'
printf '%s\n' "$PASS" >pass
printf 'not the passphrase\n' >wrong

# no_leftovers DIR: nothing named DIR or DIR.restore-* exists.
no_leftovers() {
	[ ! -e "$1" ] || fail "$1 was written"
	! compgen -G "$1.restore-*" >/dev/null || fail "a temporary $1.restore-* was left"
	ok
}
# serials HOME: every certificate serial the home's registry knows, uppercase hex.
serials() {
	local id
	for id in $("$F" --home "$1" device list --json | jq -r '.[].id'); do
		"$F" --home "$1" device show "$id" --json | jq -r '.certificates[].serial'
	done | tr a-f A-F | sort -u
}
crlnum() { # crlnum CRL.pem: its CRL number, decimal
	local h
	h=$(openssl crl -in "$1" -noout -crlnumber | sed 's/^crlNumber=//; s/^0x//')
	echo $((16#$h))
}

"$F" ca init --name "Backup Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-*' --model thermo >/dev/null
for i in $(seq 1 12); do
	"$F" mfr issue SN-$i --dir mfr --key-out boot-$i.key --out boot-$i.pem 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout op-$i.key \
		-subj "/CN=SN-$i" -outform DER 2>/dev/null | openssl base64 >csr-$i.b64
done
"$F" device issue dev-0 --keygen --key-out dev-0.key >/dev/null 2>&1

# ---- refusals that need no backup yet ----
# --with-keys without a passphrase or recipient: nothing is read or written.
expect 1 "$F" backup --out clear.bak --with-keys
one_line_error "refusing to write private keys unencrypted"
[ ! -e clear.bak ] && ! compgen -G 'clear.bak*' >/dev/null || fail "--with-keys in the clear wrote a file"
ok
# A passphrase is never taken from argv: no such option exists.
expect 2 "$F" backup --out x.bak --passphrase "$PASS"
[ ! -e x.bak ] || fail "x.bak written"

# ---- backups of a live home ----
fleetsecd_start --quiet
EST=$URL/.well-known/est
(
	for i in $(seq 1 12); do
		curl -sS --cacert "$H/root.pem" --cert boot-$i.pem --key boot-$i.key \
			-H 'Content-Type: application/pkcs10' --data-binary @csr-$i.b64 \
			-o /dev/null -w '%{http_code}\n' "$EST/simpleenroll"
	done >enroll.codes
) &
EPID=$!
(
	for i in $(seq 1 8); do
		"$F" device issue cli-$i --keygen --key-out cli-$i.key >/dev/null 2>&1 || echo "cli-$i failed"
	done >issue.log
) &
IPID=$!
n=0
for round in 1 2 3; do
	expect 0 "$F" backup --out live-$round.bak
	expect 0 "$F" backup --out live-$round.enc --with-keys --passphrase-file pass
	n=$((n + 2))
done
wait $EPID
wait $IPID
[ "$(grep -c '^200$' enroll.codes)" = 12 ] || fail "enrollments during the backups: $(sort enroll.codes | uniq -c)"
[ ! -s issue.log ] || fail "issuance during the backups: $(cat issue.log)"
ok
total=$("$F" device list --json | jq length)
[ "$total" = 21 ] || fail "expected 21 devices, got $total"

# Every backup taken while writers ran restores into a sound registry, with
# at most the devices there are now.
for round in 1 2 3; do
	expect 0 "$F" restore live-$round.bak --home r-plain-$round
	expect 0 "$F" restore live-$round.enc --home r-enc-$round --passphrase-file pass
	for r in r-plain-$round r-enc-$round; do
		expect 0 "$F" --home $r registry check
		grep -q "the registry is sound" "$T/out" || fail "$r: $(cat "$T/out")"
		got=$("$F" --home $r device list --json | jq length)
		[ "$got" -ge 1 ] && [ "$got" -le "$total" ] || fail "$r: $got devices"
		# (registry.db-wal and -shm stay by design: writers keep them for
		# read-only readers such as the MQTT plugin.)
		[ -z "$(find $r -name '*.restore-*')" ] || fail "$r: leftovers"
		ok
	done
	[ ! -e r-plain-$round/issuing.key ] && [ -e r-enc-$round/issuing.key ] || fail "keys in round $round"
	[ "$(stat -c %a r-enc-$round/issuing.key)" = 600 ] || fail "restored key mode"
	ok
done

# A backup without --with-keys holds no private key, by name or content.
expect 0 tar -tf live-1.bak
! grep -q '\.key$' "$T/out" || fail "plain backup lists a key: $(cat "$T/out")"
! grep -qa 'PRIVATE KEY' live-1.bak || fail "plain backup holds a private key"
tar -xOf live-1.bak MANIFEST >manifest
[ "$(head -1 manifest)" = 'fleetsec-backup 1' ] || fail "MANIFEST head: $(head -1 manifest)"
ok

# ---- openssl cms, the independent judge ----
openssl cms -decrypt -inform DER -in live-3.enc -pwri_password "$PASS" -out judged.tar ||
	fail "openssl cms cannot open the passphrase backup"
openssl cms -cmsout -print -inform DER -in live-3.enc >cms.txt
grep -q 'authEnvelopedData' cms.txt || fail "not an AuthEnvelopedData"
tar -tf judged.tar >judged.list
grep -qx MANIFEST judged.list && grep -qx registry.db judged.list && grep -qx issuing.key judged.list ||
	fail "archive members: $(cat judged.list)"
# Each member's SHA-256 is the one MANIFEST lists (checked with sha256sum).
mkdir judged && tar -xf judged.tar -C judged
(cd judged && sed -n 's/^file \([0-9a-f]*\) [0-9]* \(.*\)$/\1  \2/p' MANIFEST | sha256sum -c --quiet) ||
	fail "MANIFEST hashes do not match the archive"
ok
# To a recipient's certificate (EC and RSA), opened by openssl with its key.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key -out ec.pem \
	-subj /CN=backup-ec -days 2 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem -subj /CN=backup-rsa \
	-days 2 2>/dev/null
expect 0 "$F" backup --out recip.enc --with-keys --recipient ec.pem --recipient rsa.pem
for k in ec rsa; do
	openssl cms -decrypt -inform DER -in recip.enc -inkey $k.key -recip $k.pem -out $k.tar ||
		fail "openssl cannot open the backup with the $k key"
	tar -tf $k.tar >$k.list
	grep -qx issuing.key $k.list || fail "$k: no issuing.key in the archive: $(cat $k.list)"
	expect 0 "$F" restore recip.enc --home r-$k --key $k.key
	expect 0 "$F" --home r-$k registry check
	ok
done

# ---- restore refusals: one line, exit 1, nothing written ----
# An existing, non-empty home is never overwritten.
before=$(cd "$H" && ls -l --time-style=+%s . | sha256sum)
expect 1 "$F" restore live-1.bak --home "$H"
one_line_error "refusing to overwrite"
[ "$(cd "$H" && ls -l --time-style=+%s . | sha256sum)" = "$before" ] || fail "the live home changed"
! compgen -G "$H.restore-*" >/dev/null || fail "temporary directory left beside the home"
ok
# An empty directory is fine (as ca init treats it).
mkdir empty-home
expect 0 "$F" restore live-1.bak --home empty-home
# A wrong passphrase.
expect 1 "$F" restore live-1.enc --home r-wrong --passphrase-file wrong
one_line_error "wrong passphrase or key"
no_leftovers r-wrong
# No passphrase for an encrypted backup.
expect 1 "$F" restore live-1.enc --home r-none
one_line_error "encrypted"
no_leftovers r-none
# A byte flipped in the envelope: the GCM tag refuses it.
flip() { # flip IN OUT OFFSET: a copy of IN with the byte at OFFSET inverted
	cp "$1" "$2"
	local b
	b=$(od -An -tu1 -j "$3" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 255)))" | dd of="$2" bs=1 seek="$3" conv=notrunc status=none
}
size=$(stat -c %s live-1.enc)
flip live-1.enc tampered.enc $((size - 100))
expect 1 "$F" restore tampered.enc --home r-tampered-enc --passphrase-file pass
one_line_error "altered"
no_leftovers r-tampered-enc
# A byte flipped inside a member of a plain backup: its SHA-256 refuses it.
off=$(($(grep -boa 'SQLite format 3' live-1.bak | head -1 | cut -d: -f1) + 2048))
flip live-1.bak tampered.bak $off
expect 1 "$F" restore tampered.bak --home r-tampered
one_line_error "does not match its SHA-256"
no_leftovers r-tampered
# A flipped byte in MANIFEST's own hash list is refused the same way.
off=$(grep -boa '^file [0-9a-f]' live-1.bak | head -1 | cut -d: -f1)
flip live-1.bak tampered2.bak $((off + 8))
expect 1 "$F" restore tampered2.bak --home r-tampered2
no_leftovers r-tampered2
# Not a backup at all.
expect 1 "$F" restore "$H/root.pem" --home r-junk
one_line_error "not a fleetsec backup"
no_leftovers r-junk

# ---- after restoring an old backup: CRL numbers and serials move on ----
kill $FLEETSECD_PID
wait $FLEETSECD_PID 2>/dev/null || true
# The live home goes on after live-3.enc: more issuance, revocations, CRLs.
for i in 1 2 3; do
	"$F" device issue late-$i --keygen --key-out late-$i.key >/dev/null 2>&1
done
"$F" device revoke late-1 --reason keyCompromise >/dev/null
"$F" device revoke cli-1 --reason superseded >/dev/null
"$F" crl --out live-last.crl >/dev/null
live_crl=$(crlnum live-last.crl)
[ "$live_crl" -gt 2 ] || fail "the live home's CRL number did not advance ($live_crl)"
serials "$H" >live.serials
[ "$(wc -l <live.serials)" -ge 24 ] || fail "live serials: $(wc -l <live.serials)"
expect 0 "$F" restore live-3.enc --home restored --passphrase-file pass --json
floor=$(jq -r .crl_number "$T/out")
[ "$floor" -gt "$live_crl" ] || fail "CRL floor $floor is not above $live_crl"
ok
F2=("$F" --home restored)
expect 0 "${F2[@]}" device issue after-1 --keygen --key-out after-1.key --out after-1.pem
expect 0 "${F2[@]}" device revoke after-1 --reason keyCompromise
expect 0 "${F2[@]}" crl --out restored.crl
new_crl=$(crlnum restored.crl)
[ "$new_crl" -gt "$live_crl" ] || fail "restored CRL number $new_crl <= live $live_crl"
openssl crl -in restored.crl -noout -CAfile restored/chain.pem 2>/dev/null ||
	fail "restored CRL does not verify"
ok
s=$(openssl x509 -in after-1.pem -noout -serial | sed 's/^serial=//' | tr a-f A-F)
! grep -qx "$s" live.serials || fail "serial $s was already used by the live home"
ok
# The restore is on record in the restored registry.
"${F2[@]}" registry events --json | jq -e 'map(select(.action == "restore")) | length == 1' >/dev/null ||
	fail "no restore event"
expect 0 "${F2[@]}" registry check
ok

done_checks
