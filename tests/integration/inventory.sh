#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The inventory and the event log (issue 13), through the real fleetsecd
# and agents: devices enrol over EST and report, then `device show`, the
# `device list` filters, `device find`, `device export` and `events` are
# checked with jq, openssl (serials, fingerprints, SPKI hashes) and
# python3's csv module (the CSV export). An enrollment refusal (a serial not
# on the allowlist, asked with curl) is an enroll-refused event with its
# reason, and `events --follow --json`, started before, sees it. Every
# refusal of these commands is one line with its exit status.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetsecd.sh"
: "${FLEETSECD:?}" "${AGENT:?}"
cd "$T"
F=$FLEETSEC

"$F" ca init --name "Inventory Fleet" >/dev/null
"$F" ca server-cert localhost --ip 127.0.0.1 >/dev/null
"$F" mfr init --dir mfr --name "Acme Chips" >/dev/null
for sn in SN-I1 SN-I2 SN-X9; do
	"$F" mfr issue $sn --dir mfr --key-out boot-$sn.key --out boot-$sn.pem 2>/dev/null
done
# SN-X9 is a chip of the allowed manufacturer, but not on the allowlist.
"$F" enroll allow --manufacturer-ca mfr/ca.pem --pattern 'SN-I*' --model thermo >/dev/null
device_slots
printf 'renew_after_percent = 0\nrenewals_per_day = 1000\n' >>"$FLEETSEC_HOME/fleetsecd.conf"
fleetsecd_start
EST=$URL/.well-known/est

# The follower starts before anything below happens: what it prints was
# written after it started.
"$F" events --follow --json >follow.out 2>follow.err &
FOLLOW_PID=$!
trap 'kill $FOLLOW_PID $FLEETSECD_PID 2>/dev/null || true; rm -rf "$T"' EXIT

# agent ID: run the agent as device ID (its own key, certificate and state).
agent() {
	local id=$1
	shift
	mkdir -p "state-$id"
	agent_conf "$URL" key="$T/$id.key" cert="$T/$id.pem" state_dir="$T/state-$id" \
		bootstrap_key="$T/boot-$id.key" bootstrap_cert="$T/boot-$id.pem" \
		debug_state="$T/debug-$id"
	"$AGENT" -c agent.conf "$@"
}
printf 'jtag = unlocked\nuart = locked\n' >debug-SN-I1
printf 'jtag = locked\nuart = locked\n' >debug-SN-I2
for id in SN-I1 SN-I2; do
	expect 0 agent $id enroll
	grep -q "enrolled as $id" out || fail "enroll $id: $(cat out)"
	expect 0 agent $id report
done
"$F" device set SN-I1 --mac AA:BB:CC:00:00:01 --ip 10.9.0.1 --group canary >/dev/null
# The product's release is 2.0.0 (counter 2): SN-I1 (1.0.0+0, which
# reports security counter 0 before any update) is behind it; SN-I2 reports
# the release.
"$F" product set thermo --release 2.0.0 --security-counter 2 >/dev/null
"$F" device report SN-I2 --version 2.0.0 --security-counter 2 --update success
ok

# ---- device show ----
expect 0 "$F" device show SN-I1 --json
cp out show.json
read -r serial fp <<<"$(certid SN-I1.pem)"
jq -e --arg s "$serial" --arg fp "$fp" '
	.id == "SN-I1" and .model == "thermo" and .group == "canary" and .status == "active"
	and .network == {mac: "aa:bb:cc:00:00:01", ip: "10.9.0.1"} and .tamper == null
	and .serial == $s and .fingerprint_sha256 == $fp and .provisioning == "est-bootstrap"
	and .state.fw_version == "1.0.0+0" and .state.security_counter == 0
	and .state.outdated == true and .state.last_seen != "-"
	and .state.update_state == "" and .state.pending_version == ""
	and .state.debug_jtag == "unlocked" and .state.debug_uart == "locked"
	and (.certificates | length) == 1 and .certificates[0].serial == $s
	and .certificates[0].status == "valid"
	and ([.events[].kind] | index("issue") != null and index("device-set") != null)' \
	show.json >/dev/null || fail "device show SN-I1 --json: $(cat show.json)"
# The certificate's validity is the certificate's (openssl reads it).
na=$(date -u -d "$(openssl x509 -in SN-I1.pem -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
[ "$(jq -r .certificates[0].not_after show.json)" = "$na" ] || fail "not_after is not $na"
ok
expect 0 "$F" device show SN-I1
for want in "group                canary" "mac                  aa:bb:cc:00:00:01" \
	"ip                   10.9.0.1" "fw_version           1.0.0+0 (security counter 0), behind" \
	"debug_ports          jtag unlocked, uart locked" "tamper               not recorded" \
	"  $serial"; do
	grep -qF -- "$want" out || fail "device show lacks '$want': $(cat out)"
done
ok
# The last N events: the newest, in order.
expect 0 "$F" device show SN-I1 --events 1 --json
[ "$(jq -c '[.events[].kind]' out)" = '["device-set"]' ] || fail "--events 1: $(jq -c .events out)"
ok

# ---- device list filters (AND), cross-checked with the audit ----
ids() { "$F" device list "$@" --json | jq -c '[.[].id]'; }
check_list() { # check_list EXPECTED FILTER...
	local want=$1 got
	shift
	got=$(ids "$@") || fail "device list $*"
	[ "$got" = "$want" ] || fail "device list $*: $got, expected $want"
	ok
}
future=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
check_list '["SN-I1","SN-I2"]'
check_list '["SN-I1"]' --group canary
check_list '[]' --group nobody
check_list '["SN-I2"]' --version 2.0.0
check_list '["SN-I1"]' --version 1.0.0+0
check_list '["SN-I1"]' --outdated
check_list '["SN-I1"]' --outdated --group canary
check_list '[]' --outdated --version 2.0.0
check_list '["SN-I2"]' --outcome success
check_list '["SN-I1"]' --outcome none
check_list '[]' --outcome failure
check_list '["SN-I1","SN-I2"]' --state none
check_list '[]' --state trial
check_list '["SN-I1","SN-I2"]' --seen-after 1h
check_list '[]' --seen-after "$future"
check_list '[]' --seen-before 1h
check_list '["SN-I1","SN-I2"]' --seen-before "$future"
check_list '["SN-I1","SN-I2"]' --expiring-within 400d
check_list '[]' --expiring-within 1d
check_list '["SN-I2"]' --status active --model thermo --version 2.0.0 --seen-after 1h
# --outdated is the audit's FLEET-FW-OUTDATED rule.
"$F" audit fleet --json >audit.json || true
[ "$(jq -c '[.findings[] | select(.check == "FLEET-FW-OUTDATED") | .subject] | sort' audit.json)" = \
	"$(ids --outdated)" ] || fail "--outdated and FLEET-FW-OUTDATED disagree: $(cat audit.json)"
ok
expect 0 "$F" device list --group canary
grep -q "^SN-I1 .*canary .*1.0.0+0" out && ! grep -q SN-I2 out || fail "device list table: $(cat out)"
ok

# ---- device find, by every identifier, as openssl prints it ----
find_is() { # find_is NEEDLE KIND ID: exactly that match
	expect 0 "$F" device find "$1" --json
	[ "$(jq -c . out)" = "[{\"id\":\"$3\",\"kind\":\"$2\"}]" ] ||
		fail "device find $1: $(cat out), expected $3 by $2"
}
fp_colons=$(openssl x509 -in SN-I1.pem -noout -fingerprint -sha256 | cut -d= -f2)
spki=$(openssl x509 -in SN-I1.pem -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum |
	cut -c1-64)
find_is "$serial" serial SN-I1
find_is "$(tr 'A-F' 'a-f' <<<"$serial")" serial SN-I1
find_is "$fp_colons" fingerprint SN-I1
find_is "$fp" fingerprint SN-I1
find_is "$spki" spki SN-I1
find_is AA:BB:CC:00:00:01 mac SN-I1
find_is 10.9.0.1 ip SN-I1
find_is SN-I2 id SN-I2
# Any certificate the device had: after a renewal, the first one still finds it.
read -r serial2 _ <<<"$(certid SN-I2.pem)"
expect 0 agent SN-I2 renew --force
read -r serial3 _ <<<"$(certid SN-I2.pem)"
[ "$serial3" != "$serial2" ] || fail "SN-I2 was not renewed"
find_is "$serial2" serial SN-I2
find_is "$serial3" serial SN-I2
expect 0 "$F" device find "$serial"
[ "$(cat out)" = "SN-I1                    serial" ] || fail "device find table: $(cat out)"

# ---- device export ----
# A provisioning note with a comma, quotes and a line break (an imported
# record) makes the CSV quote.
jq -n '{devices: [{id: "IMP-1", status: "active", model: "thermo",
	provisioning: "vendor \"X\", batch 7\nline 2"}]}' >imp.json
"$F" registry import imp.json >/dev/null || fail "registry import"
expect 0 "$F" device export --format csv --out inv.csv
[ ! -s out ] || fail "export --out wrote to stdout"
expect 0 "$F" device export --format json
cp out inv.json
expect 0 "$F" device list --json
cmp -s out inv.json || fail "export --format json is not device list --json"
python3 - inv.csv inv.json <<'PY' || fail "the CSV export does not read back"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
objs = json.load(open(sys.argv[2]))
assert [r["id"] for r in rows] == ["IMP-1", "SN-I1", "SN-I2"], rows
assert len(objs) == len(rows)
for r, o in zip(rows, objs):
    assert list(r.keys()) == list(o.keys()), (list(r.keys()), list(o.keys()))
    for k, v in o.items():
        want = "" if v is None else ("true" if v is True else "false" if v is False else str(v))
        assert r[k] == want, (r["id"], k, r[k], want)
imp = rows[0]
assert imp["provisioning"] == 'vendor "X", batch 7\nline 2', imp["provisioning"]
i1 = rows[1]
assert (i1["group"], i1["mac"], i1["ip"], i1["fw_version"], i1["outdated"]) == \
    ("canary", "aa:bb:cc:00:00:01", "10.9.0.1", "1.0.0+0", "true"), i1
assert rows[2]["update_outcome"] == "success" and rows[2]["outdated"] == "false"
PY
ok
# --out replaces a file whole; a refused export leaves it as it was.
cp inv.csv inv.before
expect 2 "$F" device export --format xml --out inv.csv
one_line_error "--format must be json or csv"
cmp -s inv.csv inv.before || fail "a refused export touched the file"
expect 0 "$F" device export --format json --out inv.csv --json
jq -e '.out == "inv.csv" and .format == "json"' out >/dev/null || fail "export --json: $(cat out)"
jq -e 'length == 3' inv.csv >/dev/null || fail "export --out did not replace the file"
ls -a | grep -q '^\.inv\.csv\.' && fail "export left a temporary file" || ok

# ---- events: an enrollment refusal, with its reason ----
b64csr() { openssl req -new -key "$1" -subj "$2" -outform DER 2>/dev/null | openssl base64; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out x9.key 2>/dev/null
b64csr x9.key /CN=SN-X9 >x9.b64
code=$(curl -sS --cacert "$FLEETSEC_HOME/root.pem" --cert boot-SN-X9.pem --key boot-SN-X9.key \
	--data-binary @x9.b64 -o resp -w '%{http_code}' "$EST/simpleenroll")
[ "$code" = 403 ] && grep -q "not on the enrollment allowlist" resp || fail "SN-X9: $code $(cat resp)"
expect 0 "$F" events --kind enroll-refused --json
jq -e 'length == 1 and (.[0] | .kind == "enroll-refused" and .device == "SN-X9"
	and .actor == "fleetsecd"
	and (.detail | contains("simpleenroll 403") and contains("SN-X9 is not on the enrollment allowlist")
		and contains("from 127.0.0.1")))' out >/dev/null ||
	fail "the refusal is not an event: $(cat out)"
ok
expect 0 "$F" events --kind enroll-refused
grep -q "enroll-refused .*SN-X9 .*fleetsecd .*not on the enrollment allowlist" out ||
	fail "events table: $(cat out)"
# --device, --since (a duration or a time) narrow the log.
expect 0 "$F" events --device SN-I1 --json
jq -e 'length >= 2 and all(.device == "SN-I1")' out >/dev/null || fail "--device: $(cat out)"
expect 0 "$F" events --since "$future" --json
[ "$(jq length out)" = 0 ] || fail "--since the future: $(cat out)"
expect 0 "$F" events --since 1h --kind issue --json
jq -e '[.[].device] == ["SN-I1", "SN-I2"] and all(.kind == "issue")' out >/dev/null || fail "--since 1h: $(cat out)"

# The follower saw all of it, as JSON lines, and stops cleanly on SIGTERM.
for _ in $(seq 50); do
	grep -q '"enroll-refused"' follow.out && break
	sleep 0.1
done
kill -TERM $FOLLOW_PID
st=0
wait $FOLLOW_PID || st=$?
[ "$st" = 0 ] && [ ! -s follow.err ] || fail "events --follow on SIGTERM: status $st, $(cat follow.err)"
jq -se 'all(has("seq") and has("kind")) and ([.[].seq] == ([.[].seq] | sort | unique))
	and any(.kind == "enroll-refused" and .device == "SN-X9")
	and any(.kind == "issue" and .device == "SN-I1")' follow.out >/dev/null ||
	fail "events --follow --json: $(cat follow.out)"
ok
# It also ends when its reader goes away, with status 0.
timeout 20 "$F" events --follow | head -1 >/dev/null
[ "${PIPESTATUS[0]}" = 0 ] || fail "events --follow with a closed stdout: ${PIPESTATUS[0]}"
ok

# ---- refusals: one line each, exit 1 (refused) or 2 (usage) ----
refused() { # refused STATUS TEXT CMD...
	local st=$1 text=$2
	shift 2
	expect "$st" "$F" "$@"
	one_line_error "$text"
	[ ! -s out ] || fail "'$*' wrote to stdout: $(cat out)"
}
refused 1 "device NOPE is not in the registry" device show NOPE
refused 1 "device NOPE is not in the registry" device show NOPE --json
refused 1 "no device has this ID, certificate serial" device find 10.9.9.9
refused 1 "no device has this ID, certificate serial" device find "$(printf '%064d' 0)"
refused 1 "is not a device ID, serial" device find ""
refused 1 "group 'no body'" device list --group 'no body'
refused 2 "--seen-before: 'yesterday' is not an RFC 3339 time" device list --seen-before yesterday
refused 2 "--seen-after: '2026-13-01T00:00:00Z'" device list --seen-after 2026-13-01T00:00:00Z
refused 2 "--expiring-within: '30'" device list --expiring-within 30
refused 2 "--state must be downloading, installed, trial" device list --state success
refused 2 "--outcome must be success, failure or none" device list --outcome trial
refused 2 "--status must be active or revoked" device list --status gone
refused 2 "--events" device show SN-I1 --events -1
refused 2 "--format must be json or csv, not 'xml'" device export --format xml
refused 2 "--format json|csv is required" device export
refused 1 "device NOPE is not in the registry" events --device NOPE
refused 2 "--since: 'later'" events --since later
refused 2 "unknown option '--bogus'" events --bogus
for cmd in "device show" "device list" "device find" "device export" "events"; do
	expect 0 "$F" $cmd --help
	grep -q -- "--json" out || fail "$cmd --help does not mention --json"
done
done_checks
