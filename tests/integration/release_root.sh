#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Rotation of the release root, TUF-style: fleetsec release root-rotate signs
# the next root document with the old root and the new one (openssl checks
# both signatures over the exact PAE bytes), release root-publish appends it
# to the chain fleetsecd serves on GET /v1/roots, and the real
# fleetsec-agent follows the chain from the root it trusts, keeps the root
# it reaches, and from then on refuses delegations signed by the old root.
# A chain that does not follow is refused: a stranger's root, a skipped or
# repeated version, a rollback to an older root.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}" "${BOOTSIM:?}"
. "$(dirname "$0")/release_fleet.sh"
cd "$T"
release_fleet root root2 root3 root4 root5 stranger
root_version() { A status --json >st.json && jq .release_root_version st.json; }
"$F" release create --model thermo --image v2.img --chunk-size 65536 --sequence 5 --out m.json
# bundle ROOTKEY DELEG_SEQ MANIFEST_SEQ OUT: a release of v2 under a
# delegation signed by ROOTKEY.
bundle() {
	"$F" release delegate --root-key "$1" --key online.pub --sequence "$2" --out "d$2.json"
	jq ".sequence = $3" m.json >"m$3.json"
	"$F" release sign --key online.pem --delegation "d$2.json" "m$3.json" --out "$4"
}
publish() { # publish BUNDLE: served to the device, whatever root signed it
	"$F" release publish --model thermo --bundle "$1" --image v2.img --root root.pub \
		--root root2.pub --root root3.pub --root stranger.pub >/dev/null
}
CHAIN=$FLEETSEC_HOME/release-roots.json

# The device, on the pinned root (version 1), installs v2.
bundle root.pem 1 5 r1.json
publish r1.json
expect 0 A update
"$BOOTSIM" bootenv >/dev/null
expect 0 A confirm
[ "$(root_version)" = 1 ] || fail "not on root version 1: $(cat st.json)"
[ "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$FLEETSEC_HOME/root.pem" --cert dev.pem \
	--key dev.key "$URL/v1/roots")" = 204 ] || fail "/v1/roots before any rotation"
ok

# ---- root-rotate ----
expect 2 "$F" release root-rotate --root-key root.pem --out root-2.json
expect 0 "$F" release root-rotate --root-key root.pem --new-root-key root2.pem --out root-2.json --json
[ "$(jq .version out)" = 2 ] || fail "root-rotate --json: $(cat out)"
jq -r .payload root-2.json | base64 -d >r2.payload
jq -e '._type == "fleetsec.root.v1" and .version == 2 and .threshold == 1 and (.keys | length) == 1' \
	r2.payload >/dev/null || fail "root payload: $(cat r2.payload)"
t=application/vnd.fleetsec.root+json
{ printf 'DSSEv1 %d %s %d ' "${#t}" "$t" "$(stat -c %s r2.payload)"; cat r2.payload; } >r2.pae
for i in 0 1; do
	jq -r ".signatures[$i].sig" root-2.json | base64 -d >r2.sig$i
done
openssl pkeyutl -verify -pubin -inkey root.pub -rawin -in r2.pae -sigfile r2.sig0 >/dev/null ||
	fail "openssl: the old root's signature does not verify"
openssl pkeyutl -verify -pubin -inkey root2.pub -rawin -in r2.pae -sigfile r2.sig1 >/dev/null ||
	fail "openssl: the new root's signature does not verify"
# The new root's public key, as openssl reads it, is the one the document names.
[ "$(jq -r '.keys[0].public_key' r2.payload)" = "$(openssl pkey -pubin -in root2.pub -outform DER | base64 -w0)" ] ||
	fail "the document does not name root2's key"
# The next rotation must be signed by the keys of the previous document.
expect 1 "$F" release root-rotate --previous root-2.json --root-key root.pem \
	--new-root-key root3.pem --out root-3.json
one_line_error "unknown key"
[ ! -e root-3.json ] || fail "a refused rotation wrote its output"
"$F" release root-rotate --previous root-2.json --root-key root2.pem --new-root-key root3.pem \
	--out root-3.json >/dev/null
"$F" release root-rotate --previous root-3.json --root-key root3.pem --new-root-key root4.pem \
	--out root-4.json >/dev/null
"$F" release root-rotate --previous root-4.json --root-key root4.pem --new-root-key root5.pem \
	--out root-5.json >/dev/null
"$F" release root-rotate --root-key stranger.pem --new-root-key stranger.pem --out stranger-2.json \
	>/dev/null
ok

# ---- root-publish: only what follows from the pinned root ----
events() { "$F" registry events --json | jq '[.[] | select(.action == "release-root")] | length'; }
expect 1 "$F" release root-publish --root root.pub stranger-2.json
one_line_error "unknown key: root version 2 is not signed by the trusted root"
expect 1 "$F" release root-publish --root root.pub root-3.json
one_line_error "skips version 2"
[ ! -e "$CHAIN" ] && [ "$(events)" = 0 ] || fail "a refused root was published"
expect 0 "$F" release root-publish --root root.pub root-2.json --json
[ "$(jq .version out)" = 2 ] || fail "root-publish --json: $(cat out)"
expect 1 "$F" release root-publish --root root.pub root-2.json
one_line_error "root version 2 does not follow version 2"
[ "$(events)" = 1 ] || fail "no release-root event"
"$F" registry events --json | jq -e '[.[] | select(.action == "release-root")][0].detail |
	test("version=2 ")' >/dev/null || fail "the event does not name version 2"
ok

# ---- the device follows the chain ----
# A delegation signed by the new root, published as the operator does after
# a rotation: the published manifest refreshed under it (release refresh,
# both roots named: the published one is under the old). The device finds
# it signed by a root it does not know, follows /v1/roots and takes both.
"$F" release delegate --root-key root2.pem --key online.pub --sequence 10 --out d10.json
expect 0 "$F" release refresh --model thermo --key online.pem --delegation d10.json \
	--root root.pub --root root2.pub
expect 0 A check
[ "$(root_version)" = 2 ] || fail "the device did not follow to root 2: $(cat st.json)"
[ "$(jq .last_delegation st.json)" = 10 ] || fail "the new root's delegation was not taken"
[ "$(stat -c %a state/release-root.json)" = 600 ] || fail "release-root.json mode"
cmp -s <(jq -c . state/release-root.json) <(jq -c . root-2.json) ||
	fail "the device did not store root 2"
# A delegation signed by the old root after the rotation: refused, even
# with a higher sequence (the old root key may be the one that leaked).
bundle root.pem 20 7 old-root.json
publish old-root.json
expect 1 A check
one_line_error "unknown key: the delegation is not signed by a trusted key"
[ "$(root_version)" = 2 ] && [ "$(jq .last_delegation st.json)" = 10 ] ||
	fail "the old root moved the device: $(cat st.json)"
ok

# Survives a restart of the agent: the stored root is what it trusts.
bundle root2.pem 11 8 r2b.json
publish r2b.json
expect 0 A check
[ "$(jq .last_delegation <(A status --json))" = 11 ] || fail "root 2's delegation after a restart"
ok

# ---- refusals through the device: what an attacker's server serves ----
cp "$CHAIN" chain-2.json
serve_chain() { # serve_chain DOC...: the chain fleetsecd serves, written as an attacker would
	jq -n '{roots: $ARGS.positional | map(fromjson)}' --args "$@" >"$CHAIN"
}
# A bundle under a root the device does not know makes it ask for roots.
bundle root3.pem 30 9 r3.json
publish r3.json
# A stranger's version 3, signed by itself only.
"$F" release root-rotate --previous stranger-2.json --root-key stranger.pem \
	--new-root-key root3.pem --out stranger-3.json >/dev/null
serve_chain "$(cat root-2.json)" "$(cat stranger-3.json)"
expect 1 A check
one_line_error "unknown key: root version 3 is not signed by the trusted root (version 2)"
# A skipped version: 4 straight after 2.
serve_chain "$(cat root-2.json)" "$(cat root-4.json)"
expect 1 A check
one_line_error "root version 4 does not follow version 2"
serve_chain "$(cat root-4.json)"
expect 1 A check
one_line_error "root version 4 skips version 3"
# A replayed version: 2 twice.
serve_chain "$(cat root-2.json)" "$(cat root-2.json)"
expect 1 A check
one_line_error "root version 2 does not follow version 2"
[ "$(root_version)" = 2 ] || fail "a refused chain moved the device"
ok

# The honest chain to 3: taken; then a rollback to root 2 is refused, and
# root 2's delegations with it.
cp chain-2.json "$CHAIN"
expect 0 "$F" release root-publish --root root.pub root-3.json
expect 0 A check
[ "$(root_version)" = 3 ] || fail "the device did not follow to root 3"
publish r2b.json
cp chain-2.json "$CHAIN"
expect 1 A check
one_line_error "rollback: the newest root served is version 2, this device trusts version 3"
[ "$(root_version)" = 3 ] || fail "the rollback moved the device"
ok

done_checks
