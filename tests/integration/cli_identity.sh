#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The fleet CA end to end, judged by openssl: verify, x509 -text, crl.
. "$(dirname "$0")/lib.sh"

for algo in p256 ed25519; do
	export FLEETSEC_HOME="$T/home-$algo"
	expect 0 "$FLEETSEC" ca init --name "IT Fleet $algo" --algo "$algo"
	expect 0 "$FLEETSEC" ca chain
	cp "$T/out" "$T/chain.pem"
	[ "$(grep -c 'BEGIN CERTIFICATE' "$T/chain.pem")" -eq 2 ] || fail "chain has two certificates"
	openssl x509 -in "$FLEETSEC_HOME/root.pem" -noout -text >"$T/root.txt"
	grep -q "CA:TRUE" "$T/root.txt" || fail "root is a CA"
	openssl x509 -in "$FLEETSEC_HOME/issuing.pem" -noout -text >"$T/iss.txt"
	grep -q "CA:TRUE, pathlen:0" "$T/iss.txt" || fail "issuing CA has pathlen 0"
	ok

	for kind in p256 p384 ed25519 rsa2048; do
		id="dev-$kind"
		csr "$kind" "$id"
		expect 0 "$FLEETSEC" device issue "$id" --csr "$T/$id.csr" --model m-$kind --out "$T/$id.pem"
		openssl verify -CAfile "$FLEETSEC_HOME/root.pem" -untrusted "$FLEETSEC_HOME/issuing.pem" \
			-purpose sslclient "$T/$id.pem" >/dev/null || fail "openssl verify $id ($algo CA)"
		ok
		openssl x509 -in "$T/$id.pem" -noout -text >"$T/$id.txt"
		for want in "Subject: O = IT Fleet $algo, CN = $id" "URI:urn:fleetsec:device:$id" \
			"CA:FALSE" "Digital Signature" "TLS Web Client Authentication" \
			"X509v3 Subject Key Identifier" "X509v3 Authority Key Identifier" "Version: 3"; do
			grep -qF -- "$want" "$T/$id.txt" || fail "$id certificate lacks '$want'"
			ok
		done
		# Serial: at least 64 bits, positive.
		serial=$(openssl x509 -in "$T/$id.pem" -noout -serial | cut -d= -f2)
		[ "${#serial}" -ge 16 ] || fail "serial $serial shorter than 64 bits"
		ok
		# The registry holds the same serial and fingerprint openssl computes.
		fp=$(openssl x509 -in "$T/$id.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
		expect 0 "$FLEETSEC" device show "$id" --json
		grep -q "\"serial\": \"$serial\"" "$T/out" || fail "registry serial for $id"
		grep -q "\"fingerprint_sha256\": \"$fp\"" "$T/out" || fail "registry fingerprint for $id"
		ok
	done

	# Issuance needs only the issuing key: the root key can go offline.
	mv "$FLEETSEC_HOME/root.key" "$T/offline-root-$algo.key"
	# --keygen: the key file matches the certificate, mode 0600.
	expect 0 "$FLEETSEC" device issue dev-kg --keygen --key-out "$T/kg-$algo.key" --out "$T/kg.pem"
	[ "$(stat -c %a "$T/kg-$algo.key")" = 600 ] || fail "generated key mode"
	[ "$(openssl x509 -in "$T/kg.pem" -noout -pubkey)" = "$(openssl pkey -in "$T/kg-$algo.key" -pubout)" ] ||
		fail "generated key does not match its certificate"
	ok

	# Revoke one; the CRL verifies and openssl verify -crl_check refuses it.
	expect 0 "$FLEETSEC" device revoke dev-p256 --reason keyCompromise
	expect 0 "$FLEETSEC" crl --out "$T/crl.pem"
	openssl crl -in "$T/crl.pem" -CAfile "$T/chain.pem" -noout 2>&1 | grep "verify OK" >/dev/null || fail "openssl crl verify"
	openssl crl -in "$T/crl.pem" -noout -text >"$T/crl.txt"
	grep -q "Key Compromise" "$T/crl.txt" || fail "CRL reason code"
	grep -q "Version 2" "$T/crl.txt" || fail "CRL is v2"
	grep -q "X509v3 CRL Number" "$T/crl.txt" || fail "CRL number"
	ok
	cat "$T/chain.pem" "$T/crl.pem" >"$T/bundle.pem"
	if openssl verify -crl_check -CAfile "$T/bundle.pem" "$T/dev-p256.pem" >"$T/v.out" 2>&1; then
		fail "openssl verify -crl_check accepted the revoked certificate"
	fi
	grep -q "certificate revoked" "$T/v.out" || fail "refusal reason: $(cat "$T/v.out")"
	openssl verify -crl_check -CAfile "$T/bundle.pem" "$T/dev-p384.pem" >/dev/null || fail "unrevoked device refused"
	ok
	# The DER form is the same CRL.
	expect 0 "$FLEETSEC" crl --der --out "$T/crl.der"
	openssl crl -inform DER -in "$T/crl.der" -noout -text | grep "Key Compromise" >/dev/null || fail "DER CRL"
	ok

	# Listing and filters.
	expect 0 "$FLEETSEC" device list --status revoked --json
	[ "$(grep -c '"id"' "$T/out")" -eq 1 ] || fail "one revoked device"
	expect 0 "$FLEETSEC" device list --model m-p384
	grep -q dev-p384 "$T/out" && ! grep -q dev-p256 "$T/out" || fail "model filter"
	ok
	# The event log says who did what.
	expect 0 "$FLEETSEC" device show dev-p256 --json
	grep -q '"action": "revoke"' "$T/out" && grep -q '"action": "issue"' "$T/out" || fail "event log"
	ok
done

# Reissue supersedes the old certificate: it goes on the CRL as superseded.
export FLEETSEC_HOME="$T/home-p256"
csr p256 re
expect 0 "$FLEETSEC" device issue dev-p384 --csr "$T/re.csr" --reissue --out "$T/re.pem"
expect 0 "$FLEETSEC" crl --out "$T/crl2.pem"
openssl crl -in "$T/crl2.pem" -noout -text | grep "Superseded" >/dev/null || fail "superseded entry"
cat "$FLEETSEC_HOME/chain.pem" "$T/crl2.pem" >"$T/bundle2.pem"
openssl verify -crl_check -CAfile "$T/bundle2.pem" "$T/re.pem" >/dev/null || fail "new certificate valid"
! openssl verify -crl_check -CAfile "$T/bundle2.pem" "$T/dev-p384.pem" >/dev/null 2>&1 || fail "old certificate still valid"
ok

# Help and version.
expect 0 "$FLEETSEC" --help
grep -q "device issue" "$T/out" || fail "--help lists commands"
for c in "ca init" "ca chain" "device issue" "device show" "device list" "device revoke" "crl"; do
	# shellcheck disable=SC2086
	expect 0 "$FLEETSEC" $c --help
	grep -q "^usage: fleetsec $c" "$T/out" || fail "$c --help"
done
done_checks
