#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Device keys that never leave the TPM (a real software TPM, swtpm, through
# OpenSSL's tpm2 provider): zero-touch enrollment makes the operational key
# inside the TPM; the file holds only a TSS2 blob, which no OpenSSL without
# the TPM can read and which another TPM cannot load; mutual TLS to
# fleetsecd signs with the TPM; keygen and csr work the same way.
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
fleetsecd_start --quiet
swtpm_start tpm-a
TCTI_A=$TCTI
# The provider loads only with a TPM to talk to.
TPM2OPENSSL_TCTI=$TCTI_A TSS2_LOG=all+none openssl list -providers -provider tpm2 >/dev/null 2>&1 ||
	fail "the tpm2 OpenSSL provider is missing (scripts/deps.sh installs tpm2-openssl)"
A() { "$AGENT" -c agent.conf "$@"; }

# Zero-touch enrollment with the operational key made in the TPM.
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
openssl asn1parse -inform DER -in exported.der | head -2 | grep -q ":2.23.133.10.1.3" ||
	fail "an export of the key is not the TPM blob"
tpm pkey -in dev.key -text -noout | grep -q "TPM 2.0" || fail "not a TPM key"
! tpm pkey -in dev.key -text -noout | grep -qi "^priv:" || fail "the private scalar was printed"
ok

# Mutual TLS signed inside the TPM: fleetsecd authorises the device.
expect 0 A check
grep -q "no release for this device" out || fail "check over mTLS with the TPM key: $(cat out)"
grep -q "GET /v1/update" "$T/daemon.log" || true

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
done_checks
