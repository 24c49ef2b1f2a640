#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fleetsec audit firmware: every weakness planted in the fixture image is
# found (directory and tar), the clean image yields no findings, symlinks out
# of the root are not followed, --across finds a key shared by two images,
# and malformed or escaping tar archives are refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sarif.sh"
. "$(dirname "$0")/audit_fixture.sh"

F=$FLEETSEC
weak_rootfs "$T/weak"
clean_rootfs "$T/clean"

checks_of() { jq -r '.findings[].check' "$T/out" | sort -u; }

# Every planted weakness, from the directory and from a tar of it.
expect 0 "$F" audit firmware --json --max-file-size 65536 "$T/weak"
checks_of >"$T/dir.checks"
diff <(weak_checks | sort -u) "$T/dir.checks" >/dev/null ||
	fail "directory scan: expected vs found: $(diff <(weak_checks | sort -u) "$T/dir.checks" | tr '\n' ' ')"
ok
tar -C "$T/weak" -cf "$T/weak.tar" .
expect 0 "$F" audit firmware --json --max-file-size 65536 "$T/weak.tar"
checks_of | diff - "$T/dir.checks" >/dev/null || fail "tar scan differs from directory scan"
ok
tar -C "$T/weak" --format=pax -cf "$T/weak-pax.tar" .
expect 0 "$F" audit firmware --json --max-file-size 65536 "$T/weak-pax.tar"
checks_of | diff - "$T/dir.checks" >/dev/null || fail "pax tar scan differs from directory scan"
ok
# The link to the host's /etc was not followed.
jq -e '.findings | any(.subject | startswith("opt/app/hostetc")) | not' "$T/out" >/dev/null ||
	fail "a symlink out of the root was followed"
ok
# Specific evidence: the default password is named, with its line.
jq -e '.findings | any(.check == "FW-CRED-DEFAULT" and .subject == "etc/shadow" and .line == 1 and
	(.evidence | contains("root")))' "$T/out" >/dev/null || fail "root's default password not pinned to etc/shadow:1"
ok

# Each way in: dropbear options and key, enabled systemd units.
for want in "FW-SSH-PASSWORD etc/init.d/S40dropbear" "FW-SSH-ROOT etc/init.d/S40dropbear" \
	"FW-KEY-SSH-HOST etc/dropbear/dropbear_ed25519_host_key" \
	"FW-SVC-TELNET etc/systemd/system/multi-user.target.wants/telnet.socket" \
	"FW-CONSOLE-GETTY etc/systemd/system/multi-user.target.wants/serial-getty@ttyS1.service"; do
	set -- $want
	jq -e --arg c "$1" --arg s "$2" '.findings | any(.check == $c and .subject == $s)' "$T/out" >/dev/null ||
		fail "$1 not reported for $2"
	ok
done

# A stock system, from the real files Debian installs (GnuTLS with its PEM
# labels and self-test keys, apt sources, documentation): nothing at medium
# or above. The self-test keys and apt's signed http:// channel are info.
stock_rootfs "$T/stock"
expect 0 "$F" audit firmware --json --fail-on medium "$T/stock"
cp "$T/out" "$T/stock.json"
jq -e '[.findings[] | select(.severity == "medium" or .severity == "high" or .severity == "critical")] | length == 0' \
	"$T/stock.json" >/dev/null || fail "stock files raise findings: $(jq -c '[.findings[] | select(.severity != "info")]' "$T/stock.json")"
ok
jq -e '[.findings[] | select(.check == "FW-CLEARTEXT-SIGNED" and .subject == "etc/apt/sources.list")] | length == 3' \
	"$T/stock.json" >/dev/null || fail "apt's http:// sources not reported as info: $(cat "$T/stock.json")"
ok
jq -e 'any(.findings[]; .check == "FW-KEY-TESTVECTOR" and (.subject | test("libgnutls\\.so\\.30")) and
	(.evidence | test("^(RSA|DSA|EC) [0-9]+-bit private key.*GnuTLS self-test")))' "$T/stock.json" >/dev/null ||
	fail "GnuTLS's self-test keys not recognised: $(jq -c '[.findings[] | select(.subject | test("gnutls"))]' "$T/stock.json")"
ok
# The planted weaknesses beside the stock files are all still found, and the
# planted key's evidence names its type and size.
weak_rootfs "$T/stock"
expect 0 "$F" audit firmware --json --max-file-size 65536 "$T/stock"
jq -r '[.findings[] | select(.severity != "info" or .check == "FW-NO-UPDATE" or .check == "FW-SKIPPED")] | .[].check' "$T/out" | sort -u >"$T/stock-weak.checks"
diff <(weak_checks | sort -u) "$T/stock-weak.checks" >/dev/null ||
	fail "planted beside stock files: expected vs found: $(diff <(weak_checks | sort -u) "$T/stock-weak.checks" | tr '\n' ' ')"
ok
jq -e 'any(.findings[]; .check == "FW-KEY-PRIVATE" and .subject == "opt/app/device.key" and
	(.evidence | startswith("ED25519 256-bit private key")))' "$T/out" >/dev/null || fail "key evidence lacks type and size"
ok
jq -e '[.findings[] | select(.severity != "info") | .subject | select(startswith("usr/lib/") or startswith("usr/share/") or startswith("etc/apt/") or startswith("etc/fixture"))] | length == 0' "$T/out" >/dev/null ||
	fail "stock files raise findings beside the planted ones"
ok

# Private keys: a PEM label is not a key; real keys, encrypted ones included,
# are, each with what OpenSSL (or the openssh-key-v1 reader) decoded.
mkdir -p "$T/keys/opt"
printf 'x\0-----BEGIN RSA PRIVATE KEY-----\0-----END RSA PRIVATE KEY-----\0' >"$T/keys/opt/labels.bin"
printf -- '-----BEGIN PRIVATE KEY-----\nMIIBnotakeyatall\n-----END PRIVATE KEY-----\n' >"$T/keys/opt/fake.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 -pass pass:x -out "$T/keys/opt/enc.key" 2>/dev/null
openssl genrsa -traditional -aes128 -passout pass:x -out "$T/keys/opt/legacy.pem" 2048 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/keys/opt/ec.key" 2>/dev/null
# A published self-test key outside a library is a key anyone holds: high.
cp "$T/stock/usr/lib/x86_64-linux-gnu/libgnutls.so.30"* "$T/keys/opt/" 2>/dev/null || true
tr '\0' '\n' <"$(ls "$T"/keys/opt/libgnutls.so.30* | head -1)" | awk '/^-----BEGIN RSA PRIVATE KEY-----$/{on=1} on{print} /^-----END RSA PRIVATE KEY-----$/{on=0}' |
	head -40 >"$T/keys/opt/copied.pem"
expect 0 "$F" audit firmware --json "$T/keys"
kev() { jq -r --arg s "$1" '[.findings[] | select(.check == "FW-KEY-PRIVATE" and .subject == $s) | .evidence] | join("|")' "$T/out"; }
[ -z "$(kev opt/labels.bin)" ] && [ -z "$(kev opt/fake.pem)" ] || fail "a PEM label was reported as a key: $(cat "$T/out")"
ok
kev opt/enc.key | grep -q "^encrypted PKCS#8 private key (PBES2)" || fail "encrypted PKCS#8 key: $(kev opt/enc.key)"
ok
kev opt/legacy.pem | grep -q "^encrypted RSA PRIVATE KEY (legacy PEM, AES-128-CBC)" || fail "legacy encrypted key: $(kev opt/legacy.pem)"
ok
kev opt/ec.key | grep -q "^EC 384-bit private key (secp384r1)" || fail "EC key: $(kev opt/ec.key)"
ok
kev opt/copied.pem | grep -q "^RSA 2048-bit private key, the published GnuTLS self-test key" || fail "published key outside a library: $(kev opt/copied.pem)"
ok
command -v ssh-keygen >/dev/null || fail "ssh-keygen is missing (scripts/deps.sh installs openssh-client)"
ssh-keygen -q -t ed25519 -N '' -f "$T/keys/opt/id_ed25519"
ssh-keygen -q -t rsa -b 3072 -N 'pass phrase' -f "$T/keys/opt/id_rsa"
expect 0 "$F" audit firmware --json "$T/keys"
kev opt/id_ed25519 | grep -q "^OpenSSH ssh-ed25519 256-bit private key" || fail "OpenSSH key: $(kev opt/id_ed25519)"
ok
kev opt/id_rsa | grep -q "^OpenSSH ssh-rsa 3072-bit private key, encrypted (aes256-ctr, kdf bcrypt)" ||
	fail "encrypted OpenSSH key: $(kev opt/id_rsa)"
ok

# The clean image: nothing at all, with the same checks enabled.
expect 0 "$F" audit firmware --json --fail-on info "$T/clean"
[ "$(jq '.findings | length' "$T/out")" -eq 0 ] || fail "clean image has findings: $(jq -c '.findings' "$T/out")"
ok
tar -C "$T/clean" -cf "$T/clean.tar" .
expect 0 "$F" audit firmware --fail-on info "$T/clean.tar"
grep -qx "no findings" "$T/out" || fail "clean tar has findings: $(cat "$T/out")"
ok

# --fail-on and --disable.
expect 1 "$F" audit firmware --fail-on critical "$T/weak"
expect 0 "$F" audit firmware --fail-on critical --disable FW-CRED-DEFAULT --disable FW-CRED-EMPTY "$T/weak"
grep -q FW-CRED "$T/out" && fail "disabled checks reported"
ok

# --across: the same key in two images is a fleet-wide key; different keys
# are not.
cp -a "$T/weak" "$T/weak2"
expect 0 "$F" audit firmware --json --across "$T/weak" "$T/weak2"
jq -e '[.findings[] | select(.check == "FW-KEY-SHARED")] | length == 3' "$T/out" >/dev/null ||
	fail "shared keys not reported across images: $(jq -c '[.findings[] | select(.check == "FW-KEY-SHARED")]' "$T/out")"
ok
rm -f "$T/weak2/opt/app/device.key" "$T/weak2/etc/ssh/ssh_host_ecdsa_key"
openssl genpkey -algorithm ed25519 -out "$T/weak2/opt/app/device.key" 2>/dev/null
head -c 300 /dev/urandom >"$T/weak2/etc/dropbear/dropbear_ed25519_host_key"
expect 0 "$F" audit firmware --json --across "$T/weak" "$T/weak2"
jq -e '.findings | any(.check == "FW-KEY-SHARED") | not' "$T/out" >/dev/null || fail "distinct keys reported as shared"
ok
expect 2 "$F" audit firmware "$T/weak" "$T/weak2"
one_line_error across

# SARIF: firmware findings carry the path and line as a physical location.
expect 0 "$F" audit firmware --sarif "$T/weak"
cp "$T/out" "$T/weak.sarif"
sarif_valid "$T/weak.sarif"
jq -e '.version == "2.1.0" and any(.runs[0].results[]; .ruleId == "FW-CRED-DEFAULT" and
	.locations[0].physicalLocation.artifactLocation.uri == "etc/shadow" and
	.locations[0].physicalLocation.region.startLine == 1)' "$T/out" >/dev/null || fail "SARIF location wrong"
ok

# Refusals: a tar member escaping the root, a truncated archive, a non-tar.
mkdir -p "$T/evil/sub"
echo 'root::0:0::/:/bin/sh' >"$T/evil/passwd"
tar -C "$T/evil/sub" -cf "$T/evil.tar" --absolute-names ../passwd 2>/dev/null
expect 1 "$F" audit firmware "$T/evil.tar"
one_line_error "escapes the root"
head -c 1000 "$T/weak.tar" >"$T/trunc.tar"
expect 1 "$F" audit firmware "$T/trunc.tar"
one_line_error "trunc.tar"
echo "not a tar" >"$T/junk.tar"
expect 1 "$F" audit firmware "$T/junk.tar"
one_line_error "junk.tar"
expect 1 "$F" audit firmware "$T/missing"
one_line_error "missing"
done_checks
