#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# net compile/check/mud/explain without packets: every MUD example of tests/data/mud
# compiles, nft -c accepts the result, and the rules produced from each file
# are the ones its entries call for. Signatures are checked against the
# openssl CLI's view of the same files; refusals name the input and path.
. "$(dirname "$0")/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
MUD_DIR=$(cd "$HERE/../data/mud" && pwd)
POLICY="$HERE/../net/all-mud.json"
[ -f "$MUD_DIR/unsw-amazon-echo.json" ] || fail "the MUD examples are missing from $MUD_DIR"
command -v nft >/dev/null || fail "nft is missing (scripts/deps.sh installs nftables)"
[ "$(id -u)" -eq 0 ] || fail "nft -c needs CAP_NET_ADMIN: run as root (it never skips)"

# Every example on its own: parses, and nft accepts what it compiles to.
for f in "$MUD_DIR"/*.json; do
	expect 0 "$FLEETSEC" net mud "$f" --json
	jq -e '.entries | length > 0' "$T/out" >/dev/null || fail "$f: no entries"
	ok
done
expect 0 "$FLEETSEC" net compile "$POLICY" --mud-dir "$MUD_DIR" --out "$T/all.nft"
cp "$T/err" "$T/warnings"
expect 0 "$FLEETSEC" net check "$T/all.nft"
grep -v '^#' "$T/all.nft" >"$T/rules" # comments may name what rules must not
has() { grep -qF -- "$1" "$T/rules" || fail "ruleset lacks: $1"; ok; }
hasnt() { if grep -qF -- "$1" "$T/rules"; then fail "ruleset must not contain: $1"; fi; ok; }
warned() { grep -qF -- "$1" "$T/warnings" || fail "no warning: $1 (got: $(cat "$T/warnings"))"; ok; }

# The one table, replaced atomically, with the device map keyed on MAC and IP.
[ "$(grep -c '^add table' "$T/all.nft")" -eq 1 ] && has "add table inet fleetsec"
has "add map inet fleetsec class_macip4 { type ether_addr . ipv4_addr : mark; }"
has "02:00:00:00:20:01 . 10.20.0.11 : 1"
# Classes are numbered, and named in the ruleset; the rule count does not
# grow with them.
has 'add element inet fleetsec classes { 1 comment "lightbulb", 2 comment "echo", 3 comment "sensor", 4 comment "luminaire", 65535 comment "quarantine" }'
[ "$(grep -c '^add rule inet fleetsec iot_class ' "$T/rules")" -eq 8 ] || fail "iot_class rules: $(grep -c '^add rule inet fleetsec iot_class ' "$T/rules")"
ok
hasnt "add chain inet fleetsec c_"
has "add chain inet fleetsec forward { type filter hook forward priority filter; policy drop; }"
has "add rule inet fleetsec forward ct state established,related accept"
has "counter name drop_iot_to_iot limit rate 10/second"
if grep -E '^(add|flush|delete) ' "$T/rules" | grep -vE '^(add|flush) [a-z]+ inet fleetsec( |$)' >"$T/outside"; then
	fail "a statement touches something outside table inet fleetsec"
fi
ok

# RFC 8520 section 9 lightbulb: IPv6 only, a DNS name -> a dnsmasq-filled v6 set.
has "add set inet fleetsec d6_lightbulb_tcp_443 { type ipv6_addr; flags timeout; timeout 1h; }"
has "add rule inet fleetsec dns_lightbulb ip6 daddr @d6_lightbulb_tcp_443 tcp dport 443 accept"
has "1 : jump dns_lightbulb"
grep -qxF "nftset=/test.example.com/6#inet#fleetsec#d6_lightbulb_tcp_443" "$T/all.nft.dnsmasq.conf" ||
	fail "dnsmasq line for the lightbulb missing"
ok
hasnt "test.example.com"

# mudgee's Amazon Echo: the draft key and ethernet-acl-type accepted with
# warnings naming their paths; multicast, broadcast, foreign DNS, IGMP and
# ICMP reported, not compiled; names grouped per (protocol, port).
warned "unsw-amazon-echo.json: \$.ietf-access-control-list:access-lists: pre-RFC key"
warned "\$.ietf-access-control-list:access-lists.acl[2].type: pre-RFC ACL type 'ethernet-acl-type'"
warned "acl[0].aces.ace[13]: class echo: DNS to 208.67.220.220/32 not allowed"
warned "acl[0].aces.ace[4]: class echo: 239.255.255.250/32 stays on the device's segment"
warned "acl[0].aces.ace[3]: class echo: protocol 2 not compiled"
warned "acl[2].aces.ace[1]: class echo: Ethernet-only entry not compiled"
hasnt "208.67.220.220"
hasnt "239.255.255.250"
has "add rule inet fleetsec dns_echo ip daddr @d4_echo_udp_123 udp dport 123 accept"
grep -q "^nftset=/dcape-na.amazon.com/.*/api.amazonalexa.com/.*4#inet#fleetsec#d4_echo_tcp_443$" \
	"$T/all.nft.dnsmasq.conf" || fail "echo's 443 names not in one dnsmasq line"
ok
# The exception echo -> lightbulb tcp 80, via the destination-class mark.
has '2 . 1 . tcp . 80 comment "echo -> lightbulb"'

# NIST: controller and my-controller from the policy's addresses, local
# networks, same-manufacturer as a pair set; the reply-direction entries
# (direction-initiated to-device) open nothing.
has '3 . 198.51.100.80 . tcp . 8080 comment "sensor"'
has '3 . 198.51.100.81 . udp . 4000 comment "sensor"'
has 'add element inet fleetsec loc { 3 . tcp . 888 comment "sensor", 4 . udp . 5683 comment "luminaire" }'
has '3 . 3 . tcp . 8888 comment "sensor -> sensor"'
warned "acl[1].aces.ace[5]: class sensor: manufacturer match names no class"
warned "acl[0].aces.ace[3]: class sensor: to-device entry not compiled"

# Cisco luminaire: my-controller, local-networks (CoAP), the policy's extra
# range, which needs an interval set.
has "add set inet fleetsec ep4i { type mark . ipv4_addr . inet_proto . inet_service; flags interval; }"
has "4 . 203.0.113.0/24 . tcp . 8000-8100"
has "4 . 198.51.100.90 . udp . 5684"
has "add element inet fleetsec class_ip4 { 10.20.0.15 : 4 }"
warned "device lum-1: no MAC"

# explain, on the same model.
expect 0 "$FLEETSEC" net explain "$POLICY" --mud-dir "$MUD_DIR" 10.20.0.13 198.51.100.80 tcp 8080 --json
[ "$(jq -r .verdict "$T/out")" = allow ] && jq -r .detail "$T/out" | grep -q "nist-sensor-all-matches.json" ||
	fail "explain does not name the MUD entry: $(cat "$T/out")"
ok
expect 0 "$FLEETSEC" net explain "$POLICY" --mud-dir "$MUD_DIR" echo-1 208.67.220.220 udp 53
grep -q "^deny  drop_iot_foreign_dns" "$T/out" || fail "foreign DNS: $(cat "$T/out")"
ok
expect 0 "$FLEETSEC" net explain "$POLICY" --mud-dir "$MUD_DIR" 02:00:00:00:20:02 10.20.0.11 tcp 80
grep -q "^allow  class echo: @pair" "$T/out" || fail "exception: $(cat "$T/out")"
ok
expect 0 "$FLEETSEC" net explain "$POLICY" --mud-dir "$MUD_DIR" 10.20.0.11 10.20.0.12 tcp 80
grep -q "^deny  drop_iot_to_iot" "$T/out" || fail "reverse of the exception: $(cat "$T/out")"
ok
expect 0 "$FLEETSEC" net explain "$POLICY" --mud-dir "$MUD_DIR" 10.20.0.13 192.168.1.7 tcp 888
grep -q "^allow  class sensor: @loc" "$T/out" || fail "local-networks: $(cat "$T/out")"
ok
expect 0 "$FLEETSEC" net explain "$POLICY" --mud-dir "$MUD_DIR" 10.99.0.10 10.20.0.12 tcp 22
grep -q "^allow  to_iot: @mgmt" "$T/out" || fail "management: $(cat "$T/out")"
ok
expect 2 "$FLEETSEC" net explain "$POLICY" 10.20.0.11 10.20.0.12 tcp 70000
expect 1 "$FLEETSEC" net explain "$POLICY" --mud-dir "$MUD_DIR" nobody 10.20.0.12 tcp 22
one_line_error "nobody"

# Signatures: the real .p7s verifies against its pinned leaf, as openssl says;
# one flipped byte of the JSON fails, as it does for openssl.
openssl pkcs7 -inform DER -in "$MUD_DIR/cisco-luminaire-150.p7s" -print_certs -out "$T/signer.pem"
openssl cms -verify -inform DER -in "$MUD_DIR/cisco-luminaire-150.p7s" \
	-content "$MUD_DIR/cisco-luminaire-150.json" -binary -CAfile "$T/signer.pem" -partial_chain \
	-purpose any -out /dev/null 2>/dev/null || fail "openssl itself does not verify the pair"
expect 0 "$FLEETSEC" net mud "$MUD_DIR/cisco-luminaire-150.json" --signer "$T/signer.pem" --json
[ "$(jq -r .signature_verified "$T/out")" = true ] || fail "signature not reported verified"
ok
cp "$MUD_DIR/cisco-luminaire-150.json" "$T/lum.json"
cp "$MUD_DIR/cisco-luminaire-150.p7s" "$T/lum.p7s"
printf '\x20' | dd of="$T/lum.json" bs=1 seek=100 conv=notrunc status=none
cmp -s "$T/lum.json" "$MUD_DIR/cisco-luminaire-150.json" && fail "flip did not change the file"
expect 1 "$FLEETSEC" net mud "$T/lum.json" --mud-signer "$T/signer.pem"
one_line_error "lum.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/o.key" \
	-subj "/CN=other" -out "$T/other.pem" -days 2 2>/dev/null
expect 1 "$FLEETSEC" net mud "$MUD_DIR/cisco-luminaire-150.json" --signer "$T/other.pem" \
	--sig "$MUD_DIR/cisco-luminaire-150.p7s"
one_line_error "does not verify"
# A class with mud_signer refuses to compile when its file was altered.
sed 's/"mud": "cisco-luminaire-150.json"/"mud": "lum.json", "mud_signer": "'"${T//\//\\/}"'\/signer.pem"/' \
	"$POLICY" >"$T/signed.json"
cp "$MUD_DIR"/rfc8520-sec9-lightbulb2000.json "$MUD_DIR"/unsw-amazon-echo.json \
	"$MUD_DIR"/nist-sensor-all-matches.json "$T/"
expect 1 "$FLEETSEC" net compile "$T/signed.json" --out "$T/signed.nft"
one_line_error "lum.json"
[ ! -e "$T/signed.nft" ] || fail "a refused compile wrote its output"
ok
cp "$MUD_DIR/cisco-luminaire-150.json" "$T/lum.json"
expect 0 "$FLEETSEC" net compile "$T/signed.json" --out "$T/signed.nft"

# --mud-signer for every class: the luminaire's file verifies, the others
# carry no signature and are refused, naming the file.
expect 1 "$FLEETSEC" net compile "$POLICY" --mud-dir "$MUD_DIR" --mud-signer "$T/signer.pem"
one_line_error "rfc8520-sec9-lightbulb2000.p7s"
printf '{"version": 1, "zones": {"iot": [{"name": "iot", "interface": "br-iot", "subnets": ["10.20.0.0/24"],
  "router": "10.20.0.1"}], "wan": {"interface": "wan0"}},
  "classes": [{"name": "lum", "mud": "cisco-luminaire-150.json", "my_controller": ["198.51.100.90"]}]}' \
	>"$T/lum-only.json"
expect 0 "$FLEETSEC" net compile "$T/lum-only.json" --mud-dir "$MUD_DIR" --mud-signer "$T/signer.pem"
grep -qF "198.51.100.90 . udp . 5684" "$T/out" || fail "signed luminaire not compiled"
ok
expect 1 "$FLEETSEC" net compile "$T/lum-only.json" --mud-dir "$MUD_DIR" --mud-signer "$T/other.pem"
one_line_error "does not verify"
expect 0 "$FLEETSEC" net compile "$T/lum-only.json" --mud-dir "$MUD_DIR"
grep -q "warning: the DNS-name sets need the dnsmasq lines" "$T/err" || fail "no hint about dnsmasq lines"
ok

# Malformed input: one line naming the file and the JSON path.
sed 's/"port": 443/"port": "https"/' "$MUD_DIR/rfc8520-sec9-lightbulb2000.json" >"$T/bad.json"
expect 1 "$FLEETSEC" net mud "$T/bad.json"
one_line_error "bad.json: \$.ietf-access-control-list:acls.acl[1].aces.ace[0].matches.tcp.destination-port.port: expected an integer"
printf '{"ietf-mud:mud": {"mud-version": 1, "mud-url": "https://x.example/m",
  "from-device-policy": {"access-lists": {"access-list": [{"name": "nope"}]}}}}' >"$T/noacl.json"
expect 1 "$FLEETSEC" net mud "$T/noacl.json"
one_line_error "\$.ietf-mud:mud.from-device-policy.access-lists.access-list[0].name: names an ACL"
sed 's/"mac": "02:00:00:00:20:03"/"mac": "02:00:00:00:20"/' "$POLICY" >"$T/badpol.json"
expect 1 "$FLEETSEC" net compile "$T/badpol.json" --mud-dir "$MUD_DIR" --out "$T/x.nft"
one_line_error "\$.devices[2]"
[ ! -e "$T/x.nft" ] || fail "refused compile wrote output"
ok
sed 's/"exceptions"/"exeptions"/' "$POLICY" >"$T/typo.json"
expect 1 "$FLEETSEC" net compile "$T/typo.json" --mud-dir "$MUD_DIR"
one_line_error 'unknown member "exeptions"'
sed 's/"ip": "10.20.0.12"/"ip": "10.20.0.11"/' "$POLICY" >"$T/dup.json"
expect 1 "$FLEETSEC" net compile "$T/dup.json" --mud-dir "$MUD_DIR"
one_line_error "share an IP address"
sed 's/"ip": "10.20.0.12"/"ip": "10.30.0.12"/' "$POLICY" >"$T/outside.json"
expect 1 "$FLEETSEC" net compile "$T/outside.json" --mud-dir "$MUD_DIR"
one_line_error "in no IoT zone subnet"
printf 'table inet fleetsec { chain c { ip daddr 1.2.3 accept; } }\n' >"$T/broken.nft"
expect 1 "$FLEETSEC" net check "$T/broken.nft"
one_line_error "nft refuses"
expect 2 "$FLEETSEC" net compile
expect 0 "$FLEETSEC" net compile --help

# Real-world MUD faults, on the RFC 8520 lightbulb: an unknown leaf in an
# access-list reference is reported with its path; an IPv4 address in
# destination-ipv6-network refuses the file by default, naming the leaf, and
# --skip-invalid compiles the rest without that entry: the ruleset is the one
# the file compiles to without the entry at all, so nothing more is allowed.
LB="$MUD_DIR/rfc8520-sec9-lightbulb2000.json"
BADACE='{"name": "cl1-frdev", "matches": {"ipv6": {"destination-ipv6-network": "192.0.2.10/32",
  "protocol": 6}, "tcp": {"ietf-mud:direction-initiated": "from-device",
  "destination-port": {"operator": "eq", "port": 8883}}}, "actions": {"forwarding": "accept"}}'
ACLS='.["ietf-access-control-list:acls"].acl'
jq '.["ietf-mud:mud"]["to-device-policy"]["access-lists"]["access-list"][0].extraneous_data = "x"' \
	"$LB" >"$T/lb-extra.json"
expect 0 "$FLEETSEC" net mud "$T/lb-extra.json" --json
jq -e '.warnings | index("$.ietf-mud:mud.to-device-policy.access-lists.access-list[0].extraneous_data: unknown member of an access-list reference ignored")' \
	"$T/out" >/dev/null || fail "unknown leaf in an access-list reference not reported: $(cat "$T/out")"
ok
jq --argjson a "$BADACE" "($ACLS[] | select(.name == \"mud-76100-v6fr\") | .aces.ace) += [\$a]" \
	"$T/lb-extra.json" >"$T/lb-bad.json"
printf '{"version": 1, "zones": {"iot": [{"name": "iot", "interface": "br-iot", "subnets": ["10.20.0.0/24"],
  "router": "10.20.0.1"}], "wan": {"interface": "wan0"}},
  "classes": [{"name": "lightbulb", "mud": "MUD"}],
  "devices": [{"id": "bulb-1", "mac": "02:00:00:00:20:01", "ip": "10.20.0.11", "class": "lightbulb"}]}' >"$T/lbpol.tmpl"
sed 's/"MUD"/"lb-bad.json"/' "$T/lbpol.tmpl" >"$T/lb-bad-pol.json"
sed 's/"MUD"/"lb-extra.json"/' "$T/lbpol.tmpl" >"$T/lb-good-pol.json"
LEAF='$.ietf-access-control-list:acls.acl[1].aces.ace[1].matches.ipv6.destination-ipv6-network: not an IPv6 prefix'
expect 1 "$FLEETSEC" net mud "$T/lb-bad.json"
one_line_error "lb-bad.json: $LEAF"
expect 1 "$FLEETSEC" net compile "$T/lb-bad-pol.json" --out "$T/lb-bad.nft"
one_line_error "$LEAF"
[ ! -e "$T/lb-bad.nft" ] || fail "a refused compile wrote its output"
ok
expect 0 "$FLEETSEC" net compile "$T/lb-bad-pol.json" --skip-invalid --out "$T/lb-bad.nft"
grep -qF "warning: " "$T/err" && grep -F "acl[1].aces.ace[1]: invalid entry skipped (--skip-invalid): $LEAF" "$T/err" >/dev/null ||
	fail "skipped entry not named on stderr: $(cat "$T/err")"
ok
expect 0 "$FLEETSEC" net compile "$T/lb-good-pol.json" --out "$T/lb-good.nft"
expect 0 "$FLEETSEC" net check "$T/lb-bad.nft"
grep -v '^#' "$T/lb-bad.nft" >"$T/lb-bad.rules"
grep -v '^#' "$T/lb-good.nft" >"$T/lb-good.rules"
diff -u "$T/lb-good.rules" "$T/lb-bad.rules" >&2 || fail "--skip-invalid compiled more or less than the file without the entry"
ok
grep -qE "8883|192\.0\.2\.10" "$T/lb-bad.rules" && fail "the skipped entry reached the ruleset"
ok
# Loaded into nft, the ruleset holds no rule for the skipped entry's port.
nft -c -f "$T/lb-bad.nft" || fail "nft refuses the --skip-invalid ruleset"
ok
# Skipping never drops one match of an entry and keeps the rest: a valid
# IPv6 prefix with a bad port refuses, and --skip-invalid drops the whole entry.
jq --argjson a "$BADACE" "($ACLS[] | select(.name == \"mud-76100-v6fr\") | .aces.ace) += [\$a |
	.matches.ipv6[\"destination-ipv6-network\"] = \"2001:db8::10/128\" | .matches.tcp[\"destination-port\"].port = 70000]" \
	"$LB" >"$T/lb-port.json"
expect 0 "$FLEETSEC" net mud "$T/lb-port.json" --skip-invalid --json
[ "$(jq '.entries | length' "$T/out")" -eq 2 ] || fail "an entry with a bad port was kept in part: $(cat "$T/out")"
jq -e '[.entries[] | select(.address == "2001:db8::10/128" or (.path | test("ace\\[1\\]")))] | length == 0' "$T/out" >/dev/null ||
	fail "the invalid entry's valid match was kept: $(cat "$T/out")"
ok
# A deny entry (or one whose action cannot be read) is never skipped: losing
# it could let a later accept through. The file is refused, saying why.
jq --argjson a "$BADACE" "($ACLS[] | select(.name == \"mud-76100-v6fr\") | .aces.ace) |= [\$a | .actions.forwarding = 7] + ." \
	"$LB" >"$T/lb-deny.json"
expect 1 "$FLEETSEC" net mud "$T/lb-deny.json" --skip-invalid
one_line_error "acl[1].aces.ace[0].actions.forwarding: expected a string (not skipped: only an accept entry"
jq --argjson a "$BADACE" "($ACLS[] | select(.name == \"mud-76100-v6fr\") | .aces.ace) |= [\$a | .actions.forwarding = \"drop\" | del(.name)] + ." \
	"$LB" >"$T/lb-deny2.json"
expect 1 "$FLEETSEC" net mud "$T/lb-deny2.json" --skip-invalid
one_line_error "acl[1].aces.ace[0].name: expected a string (not skipped"

# --from-registry: devices get MAC/IP with `device set`, classes by model.
expect 0 "$FLEETSEC" ca init --name "Net IT"
for id in cam-a cam-b hub-a; do
	csr p256 "$id"
	model=camera-v2
	[ "$id" = hub-a ] && model=hub-x
	expect 0 "$FLEETSEC" device issue "$id" --csr "$T/$id.csr" --model "$model" --out "$T/$id.pem"
done
expect 0 "$FLEETSEC" device set cam-a --mac 02:AA:00:00:00:01 --ip 10.20.0.101
expect 0 "$FLEETSEC" device set cam-b --ip 10.20.0.102
expect 0 "$FLEETSEC" device set hub-a --mac 02:aa:00:00:00:03 --ip 10.20.0.103
expect 1 "$FLEETSEC" device set cam-b --ip 10.20.0.101
one_line_error "already belongs to another device"
expect 1 "$FLEETSEC" device set cam-b --mac 02:aa:00:00:00:0g
one_line_error "not a MAC address"
expect 1 "$FLEETSEC" device set nobody --ip 10.20.0.9
one_line_error "nobody"
expect 2 "$FLEETSEC" device set cam-b
[ "$(reg length registry events --action device-set)" -eq 3 ] ||
	fail "device set events not logged"
ok
expect 0 "$FLEETSEC" device revoke hub-a --reason keyCompromise
cat >"$T/reg.json" <<'EOF'
{"version": 1,
 "zones": {"iot": [{"name": "iot", "interface": "br-iot", "subnets": ["10.20.0.0/24"], "router": "10.20.0.1"}],
           "wan": {"interface": "wan0"}},
 "classes": [{"name": "camera", "models": ["camera-v2"],
              "allow": [{"host": "203.0.113.5", "proto": "tcp", "port": 443}]},
             {"name": "hub", "models": ["hub-x"]}]}
EOF
expect 0 "$FLEETSEC" net compile "$T/reg.json" --from-registry --fleetsecd 10.99.0.5:8443 --out "$T/reg.nft"
grep -qF "02:aa:00:00:00:01 . 10.20.0.101 : 1" "$T/reg.nft" || fail "cam-a not compiled"
ok
grep -qF "add element inet fleetsec class_ip4 { 10.20.0.102 : 1 }" "$T/reg.nft" ||
	fail "cam-b (IP only) not compiled"
ok
# The revoked hub is quarantined: every element of it carries the quarantine
# mark, whose only endpoint is fleetsecd.
grep -oE '[^{,]*(10\.20\.0\.103|02:aa:00:00:00:03) : [0-9]+' "$T/reg.nft" >"$T/hub-elems" || true
[ "$(wc -l <"$T/hub-elems")" -eq 3 ] || fail "the revoked hub is not in the device maps: $(cat "$T/hub-elems")"
ok
if grep -qv ' : 65535$' "$T/hub-elems"; then fail "a revoked device kept its access: $(cat "$T/hub-elems")"; fi
ok
grep -qF '65535 . 10.99.0.5 . tcp . 8443 comment "quarantine: fleetsecd"' "$T/reg.nft" ||
	fail "fleetsecd is not the quarantine's endpoint"
ok
expect 0 "$FLEETSEC" net explain "$T/reg.json" --from-registry --fleetsecd 10.99.0.5:8443 hub-a 10.99.0.5 tcp 8443
grep -q "^allow  quarantine: @ep4" "$T/out" || fail "explain: quarantine to fleetsecd: $(cat "$T/out")"
ok
expect 0 "$FLEETSEC" net explain "$T/reg.json" --from-registry --fleetsecd 10.99.0.5:8443 hub-a 203.0.113.5 tcp 443
grep -q "^deny  drop_quarantined" "$T/out" || fail "explain: quarantine elsewhere: $(cat "$T/out")"
ok
for bad in 10.99.0.5 10.99.0.5:0 10.99.0.5:70000 host:443 10.99.0.5:44x ::1:443; do
	expect 1 "$FLEETSEC" net compile "$T/reg.json" --fleetsecd "$bad" --out "$T/bad.nft"
	one_line_error "fleetsecd '$bad': expected IPv4-ADDRESS:PORT"
	[ ! -e "$T/bad.nft" ] || fail "a refused compile wrote its output"
	ok
done
expect 0 "$FLEETSEC" net check "$T/reg.nft"
done_checks
