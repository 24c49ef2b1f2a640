#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Read-only commands on a streaming standby (issue 16): a primary and a hot
# standby made by pg_basebackup -R, both real PostgreSQL clusters of the
# test's own. `device list`, `device show`, `device export`, `events`,
# `registry events` and `audit fleet` with --registry-readonly read the
# standby and agree with the primary; a write through the standby is
# refused, and nothing is created there (step-ca cannot start against a
# read-only standby, smallstep #1892). Commands that write do not take the
# option at all.
set -euo pipefail
FSEC_TEST_REGISTRY_FIXED="a primary and a standby of its own"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
pg_start
SB=
trap '[ -z "$SB" ] || as_pg "$PG_BIN/pg_ctl" -D "$SB/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$SB"; pg_stop; rm -rf "$T"' EXIT
cd "$T"
F=$FLEETSEC

createdb fsec_standby
"$F" ca init --name "Standby Fleet" --registry postgresql:///fsec_standby >/dev/null
for i in 1 2 3; do
	"$F" device issue SN-000$i --keygen --key-out d$i.key --out d$i.pem --model thermo >/dev/null 2>&1
done
"$F" device revoke SN-0003 --reason keyCompromise >/dev/null
ok

# The standby: a base backup of the primary that follows it (-R writes
# primary_conninfo and standby.signal), on its own socket directory and port
# (max_connections as the primary's: a hot standby needs at least as many).
SB=$(mktemp -d "${TMPDIR:-/tmp}/fsec-sb-XXXXXX")
chmod 0755 "$SB"
[ "$(id -u)" -ne 0 ] || chown postgres: "$SB"
as_pg "$PG_BIN/pg_basebackup" -h "$PG_DIR" -p "$PGPORT" -U fleetsec -D "$SB/data" -R -X stream -c fast \
	>"$SB/basebackup.log" 2>&1 || fail "pg_basebackup: $(cat "$SB/basebackup.log")"
sport=
for _ in 1 2 3 4 5; do
	sport=$((20000 + RANDOM % 12000))
	as_pg "$PG_BIN/pg_ctl" -D "$SB/data" -w -t 30 -l "$SB/log" \
		-o "-k $SB -p $sport -c listen_addresses='' -c fsync=off -c max_connections=200" start >/dev/null 2>&1 && break
	sport=
done
[ -n "$sport" ] || fail "the standby did not start: $(tail -5 "$SB/log")"
SBURL="postgresql:///fsec_standby?host=$SB&port=$sport"
[ "$(psql -h "$SB" -p "$sport" -d fsec_standby -qAt -c 'SELECT pg_is_in_recovery()')" = t ] ||
	fail "the standby is not in recovery"
tables() { psql -h "$1" -p "$2" -d fsec_standby -qAt -c \
	"SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"; }
ntables=$(tables "$SB" "$sport")
ok

# A change on the primary reaches the standby (streaming), then the
# read-only commands there agree with the primary.
"$F" device issue SN-0004 --keygen --key-out d4.key --out d4.pem --model cam >/dev/null 2>&1
caught=
for _ in $(seq 100); do
	[ "$("$F" device list --json --registry-readonly "$SBURL" | jq length)" = 4 ] && { caught=1; break; }
	sleep 0.1
done
[ -n "$caught" ] || fail "the standby never showed SN-0004"
for cmd in "device list" "device show SN-0002" "device export --format json" "events" \
	"registry events"; do
	# shellcheck disable=SC2086
	"$F" $cmd --json >primary.json
	# shellcheck disable=SC2086
	expect 0 "$F" $cmd --json --registry-readonly "$SBURL"
	cmp -s out primary.json || fail "$cmd on the standby differs: $(diff out primary.json | head -5)"
done
expect 0 "$F" device list --status revoked --registry-readonly "$SBURL" --json
[ "$(jq -c '[.[].id]' out)" = '["SN-0003"]' ] || fail "revoked on the standby: $(cat out)"
expect 0 "$F" audit fleet --json --registry-readonly "$SBURL"
"$F" audit fleet --json >primary.json
[ "$(jq -c '[.findings[].check] | sort' out)" = "$(jq -c '[.findings[].check] | sort' primary.json)" ] ||
	fail "audit on the standby differs: $(jq -c '[.findings[].check]' out)"
ok

# Refusals. Commands that write do not take the option (usage, exit 2).
for cmd in "device revoke SN-0001" "device issue SN-0009 --keygen --key-out x.key --out x.pem" \
	"enroll allow --manufacturer-ca d1.pem --pattern X"; do
	# shellcheck disable=SC2086
	expect 2 "$F" $cmd --registry-readonly "$SBURL"
	grep -q "unknown option '--registry-readonly'" err || fail "$cmd: $(cat err)"
done
# The read-only open creates nothing, even where it could: an empty,
# writable database is refused, and stays empty.
createdb fsec_empty
expect 1 "$F" device list --registry-readonly postgresql:///fsec_empty
[ "$(psql -d fsec_empty -qAt -c "SELECT count(*) FROM information_schema.tables
	WHERE table_schema = 'public'")" = 0 ] || fail "the read-only open created tables"
# Not a PostgreSQL URL; a SQLite fleet has no standby.
expect 1 "$F" device list --registry-readonly /tmp/registry.db
one_line_error "is not a postgresql:// URL"
H2=$T/sqlite-home
FLEETSEC_HOME=$H2 "$F" ca init --name "Lite Fleet" >/dev/null
expect 1 "$F" device list --home "$H2" --registry-readonly "$SBURL"
one_line_error "a standby needs a fleet on PostgreSQL"
# The standby as a fleet's registry for writing: one line, nothing created.
H3=$T/standby-home
cp -a "$FLEETSEC_HOME" "$H3"
jq --arg u "$SBURL" '.registry = $u' "$H3/fleet.json" >fleet.json && mv fleet.json "$H3/fleet.json"
expect 1 "$F" device revoke SN-0001 --home "$H3"
one_line_error "read-only"
[ "$(tables "$SB" "$sport")" = "$ntables" ] || fail "the standby's tables changed"
[ "$("$F" device list --json | jq -r '.[] | select(.id == "SN-0001") | .status')" = active ] ||
	fail "SN-0001 was revoked"
ok

# The primary stopped: the standby still answers the read-only commands;
# without the option they need the primary, and say so in one line.
(cd / && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null)
expect 0 "$F" device list --json --registry-readonly "$SBURL"
[ "$(jq length out)" = 4 ] || fail "the standby without its primary: $(cat out)"
expect 1 "$F" device list --json
one_line_error "cannot connect to the registry"
ok
done_checks
