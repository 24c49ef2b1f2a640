#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Device keys that never leave the TPM (a real software TPM, swtpm, through
# OpenSSL's tpm2 provider): zero-touch enrollment makes the operational key
# inside the TPM; the file holds only a TSS2 blob, which no OpenSSL without
# the TPM can read and which another TPM cannot load; mutual TLS to
# fleetsecd signs with the TPM, and so does DTLS to its CoAPs listener;
# keygen and csr work the same way.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
cd "$T"
F=$FLEETSEC
. "$(dirname "$0")/swtpm.sh"

"$F" ca init --name "TPM Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
"$F" mfr issue SN-T1 --dir mfr --key-out boot.key --out boot.pem 2>/dev/null
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-T*' --model thermo >/dev/null
for k in fw root; do "$F" fw keygen --out $k.pem 2>/dev/null; "$F" fw pubkey $k.pem --out $k.pub; done
fleetsecd_bounds_off
CPORT=$(rand_port)
fleetsecd_start --quiet --coaps 127.0.0.1:$CPORT
swtpm_start tpm-a
TCTI_A=$TCTI
# The provider loads only with a TPM to talk to.
TPM2OPENSSL_TCTI=$TCTI_A TSS2_LOG=all+none openssl list -providers -provider tpm2 >/dev/null 2>&1 ||
	fail "the tpm2 OpenSSL provider is missing (scripts/deps.sh installs tpm2-openssl)"
A() { "$AGENT" -c agent.conf "$@"; }

# Zero-touch enrollment with the operational key made in the TPM. The
# state directory exists, as on a device: a check records its freshness there.
mkdir -p state state-c state-f
agent_conf "$URL" bootstrap_key="$T/boot.key" bootstrap_cert="$T/boot.pem" tcti="$TCTI_A"
expect 0 A enroll
grep -q "enrolled as SN-T1" out || fail "enroll: $(cat out)"
[ "$(head -1 dev.key)" = "-----BEGIN TSS2 PRIVATE KEY-----" ] || fail "the key is not a TPM blob"
openssl verify -purpose sslclient -CAfile "$FLEETSEC_HOME/root.pem" \
	-untrusted "$FLEETSEC_HOME/issuing.pem" dev.pem >/dev/null || fail "certificate"
tpm() { TPM2OPENSSL_TCTI=$TCTI_A TSS2_LOG=all+none openssl "$@" -provider tpm2 -provider default; }
diff <(openssl x509 -in dev.pem -noout -pubkey) <(tpm pkey -in dev.key -pubout) >/dev/null ||
	fail "the certificate is not for the TPM key"
ok

# The private key cannot be read out: without the TPM the file is unreadable
# as a key, and with it every export is the wrapped blob (TCG OID
# 2.23.133.10.1.3), never the private scalar.
if openssl pkey -in dev.key -noout 2>/dev/null; then fail "OpenSSL read the key without the TPM"; fi
tpm pkey -in dev.key -outform DER -out exported.der
openssl asn1parse -inform DER -in exported.der >asn1.txt
head -2 asn1.txt | grep -q ":2.23.133.10.1.3" ||
	fail "an export of the key is not the TPM blob"
tpm pkey -in dev.key -text -noout >keytext.txt
grep -q "TPM 2.0" keytext.txt || fail "not a TPM key"
! grep -qi "^priv:" keytext.txt || fail "the private scalar was printed"
ok

# Mutual TLS signed inside the TPM: fleetsecd authorises the device.
expect 1 A check
grep -q "no release for this device" err || fail "check over mTLS with the TPM key: $(cat err)"
grep -q "GET /v1/update" "$T/daemon.log" || true
# The same key over CoAPs (issue 17): the DTLS handshake signs inside the
# TPM too.
agent_conf "coaps://127.0.0.1:$CPORT" tcti="$TCTI_A"
expect 1 A check
grep -q "no release for this device" err || fail "check over CoAPs with the TPM key: $(cat err)"
ok

# The blob is useless under another TPM.
swtpm_start tpm-b
agent_conf "$URL" tcti="$TCTI"
expect 1 A check
one_line_error "dev.key"

# keygen and csr in the TPM; the factory station issues from the CSR.
agent_conf "$URL" key="$T/k2.key" tcti="$TCTI_A"
expect 0 A keygen
[ "$(head -1 k2.key)" = "-----BEGIN TSS2 PRIVATE KEY-----" ] || fail "keygen did not use the TPM"
[ "$(stat -c %a k2.key)" = 600 ] || fail "key mode"
cp k2.key k2.before
expect 1 A keygen
one_line_error "k2.key"
cmp -s k2.key k2.before || fail "keygen overwrote a key"
expect 0 A csr --subject dev-2
cp out k2.csr
openssl req -in k2.csr -verify -noout 2>/dev/null || fail "the TPM-signed CSR does not verify"
expect 0 "$F" device issue dev-2 --csr k2.csr --out k2.pem
diff <(openssl x509 -in k2.pem -noout -pubkey) <(tpm pkey -in k2.key -pubout) >/dev/null ||
	fail "issued certificate is not for the TPM key"
ok

# Without tcti the keystore is files, as before.
agent_conf "$URL" key="$T/k3.key"
expect 0 A keygen
[ "$(head -1 k3.key)" = "-----BEGIN PRIVATE KEY-----" ] || fail "software keygen"
ok

# A TPM provisioned as production ones are: an owner password, and the
# storage key persisted at 0x81000001. Keys are made under it, and neither
# making nor using them needs the owner password.
swtpm_start tpm-c
swtpm_srk
agent_conf "$URL" key="$T/kc.key" cert="$T/kc.pem" tcti="$TCTI" tpm_parent=0x81000001 \
	tpm_owner_auth="$T/owner.pass" state_dir="$T/state-c"
expect 0 A keygen
expect 0 A csr --subject dev-c
cp out kc.csr
expect 0 "$F" device issue dev-c --csr kc.csr --out kc.pem
expect 1 A check
grep -q "no release for this device" err || fail "check under the persistent SRK: $(cat err)"
# Without tpm_parent the provider would need the owner password it does
# not have: refused with a one-line error, nothing written.
agent_conf "$URL" key="$T/kd.key" tcti="$TCTI" state_dir="$T/state-c"
expect 1 A keygen
one_line_error "keygen"
[ ! -e kd.key ] || fail "a key file after a failed keygen"
# tpm_parent without a TPM to hold it is a configuration error, not a
# silent software key.
agent_conf "$URL" key="$T/kd.key" tpm_parent=0x81000001 state_dir="$T/state-c"
expect 1 A keygen
one_line_error "tpm_parent needs tcti"
[ ! -e kd.key ] || fail "a software key although tpm_parent was set"
ok

# The operator's CLI takes TPM keys too, with the provider loaded by an
# OpenSSL configuration: a firmware signing key that never leaves a TPM
# signs an MCUboot image, which verifies against its public half.
printf 'openssl_conf = init\n[init]\nproviders = prov\n[prov]\ndefault = on\ntpm2 = on\n[on]\nactivate = 1\n' \
	>tpm.cnf
TPM2OPENSSL_TCTI=$TCTI TSS2_LOG=all+none openssl genpkey -provider tpm2 -provider default \
	-propquery '?provider=tpm2' -algorithm EC -pkeyopt group:P-256 -pkeyopt parent:0x81000001 \
	-out fwsign.tss 2>/dev/null
TPM2OPENSSL_TCTI=$TCTI TSS2_LOG=all+none OPENSSL_CONF=$T/tpm.cnf openssl pkey -in fwsign.tss \
	-pubout -out fwsign.pub
head -c 10000 /dev/urandom >payload.bin
TPM2OPENSSL_TCTI=$TCTI TSS2_LOG=all+none OPENSSL_CONF=$T/tpm.cnf \
	expect 0 "$F" fw sign --key fwsign.tss --version 1.2.3 --pad-header payload.bin tpm-signed.img
expect 0 "$F" fw verify --key fwsign.pub tpm-signed.img
grep -q "valid, signed by" out || fail "fw verify: $(cat out)"
ok

# The third kind: a key made and persisted by the TCG tools, named by its
# handle; the agent signs its CSR and its TLS handshakes with it.
TCTI=$TCTI_A
# swtpm has no resource manager: each tool leaves its objects loaded, and
# the TPM has few slots, so they are flushed after each step.
t2() { tpm2 "$@" && tpm2 flushcontext -t; }
t2 createprimary -Q -C o -g sha256 -G ecc256 -c prim.ctx
t2 create -Q -C prim.ctx -G ecc256 -u hk.pub -r hk.priv
t2 load -Q -C prim.ctx -u hk.pub -r hk.priv -c hk.ctx
t2 evictcontrol -Q -C o -c hk.ctx 0x81000010 >/dev/null
agent_conf "$URL" key=handle:0x81000010 cert="$T/hk.pem" tcti="$TCTI_A"
expect 0 A csr --subject dev-h
cp out hk.csr
expect 0 "$F" device issue dev-h --csr hk.csr --out hk.pem
expect 1 A check
grep -q "no release for this device" err || fail "check with the persistent key: $(cat err)"
ok

# A new key cannot go to a handle: keygen and renew say so and write nothing.
expect 1 A keygen
one_line_error "is a URI"
expect 1 A renew --force
one_line_error "is a URI"
ls handle:* 2>/dev/null && fail "a stray key file named after the handle"
ok

# tamper: the persistent key is evicted, and the device is refused until
# it is re-provisioned.
expect 0 A tamper
grep -q "evicted handle:0x81000010" out || fail "tamper: $(cat out)"
handles=$(tpm2 getcap handles-persistent)
if grep -qi 0x81000010 <<<"$handles"; then fail "the key is still in the TPM"; fi
expect 1 A check
one_line_error "wiped after a tamper event"
grep -q '"state":"done"' state/tamper.json || fail "tamper record: $(cat state/tamper.json)"
ok

# tamper with a TPM blob and the bootstrap credential: both files wiped.
agent_conf "$URL" bootstrap_key="$T/boot.key" bootstrap_cert="$T/boot.pem" tcti="$TCTI_A"
expect 0 A tamper --json
grep -q '"wiped": true' out || fail "tamper --json: $(cat out)"
# The record keeps the first run's eviction, marked as earlier.
jq -e '.earlier == 2 and (.items[0] | startswith("evicted handle:0x81000010"))' out >/dev/null ||
	fail "the second run lost the first run's items: $(cat out)"
for f in dev.key boot.key dev.pem; do [ ! -e "$f" ] || fail "$f survived tamper"; done
expect 1 A status
one_line_error "wiped after a tamper event"
expect 1 A renew
one_line_error "wiped after a tamper event"
ok

# tamper with a software key: overwritten in place before the unlink (a
# second link shows the blocks the file had), then re-provisioned.
"$F" device issue dev-f --keygen --key-out f.key --out f.pem 2>/dev/null
ln f.key f.link
size=$(stat -c %s f.key)
agent_conf "$URL" key="$T/f.key" cert="$T/f.pem" state_dir="$T/state-f"
# The device works: the server answers (unsigned: nothing published).
expect 1 A check
grep -q "no release for this device" err || fail "check before the tamper: $(cat err)"
expect 0 A tamper
[ ! -e f.key ] || fail "the key file survived"
[ "$(stat -c %s f.link)" = "$size" ] && ! tr -d '\0' <f.link | grep -q . ||
	fail "the key's blocks were not overwritten with zeros"
expect 1 A check
one_line_error "wiped after a tamper event"
expect 0 A keygen
expect 0 A csr --subject dev-f2
cp out f2.csr
expect 0 "$F" device issue dev-f2 --csr f2.csr --out f.pem
expect 1 A check
grep -q "no release for this device" err || fail "check after re-provisioning: $(cat err)"
[ ! -e state-f/tamper.json ] || fail "the record outlived re-provisioning"
ok

# A wipe cut short (power lost after the record was written): the agent's
# next start finishes it before anything else, and re-provisioning waits.
"$F" device issue dev-g --keygen --key-out g.key --out g.pem 2>/dev/null
agent_conf "$URL" key="$T/g.key" cert="$T/g.pem" state_dir="$T/state-g"
mkdir -p state-g
echo '{"event":"tamper","state":"begun","time":"2026-01-01T00:00:00Z","wiped":[]}' >state-g/tamper.json
expect 1 A check
one_line_error "wiped after a tamper event at 2026-01-01"
[ ! -e g.key ] || fail "the unfinished wipe was not finished"
grep -q '"state":"done"' state-g/tamper.json || fail "record: $(cat state-g/tamper.json)"
# A FIFO where the key should be: refused at once, never a hang.
mkfifo fifo.key
agent_conf "$URL" key="$T/fifo.key" cert="$T/g.pem" state_dir="$T/state-h"
expect 1 timeout 10 "$AGENT" -c agent.conf tamper
one_line_error "cannot wipe"
ok
done_checks
