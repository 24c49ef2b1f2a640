#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The PostgreSQL registry (issue 16), judged with psql on a private cluster
# this test starts: a fleet put on PostgreSQL by `ca init --registry`; the
# refusals (a password in the URL, a malformed URL, a wrong password, a
# database that is not a registry, a schema newer than the binary), each a
# one-line error that changes nothing; `registry migrate` from a SQLite
# fleet (counts and content equal, the source unchanged, a non-empty target
# refused); `registry check` on PostgreSQL.
FSEC_TEST_REGISTRY_FIXED="it runs PostgreSQL clusters of its own, and SQLite fleets as migration sources"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
pg_start
trap 'pg_stop; rm -rf "$T"' EXIT

q() { psql -qAt -d "$1" -c "$2"; } # q DB SQL
tables() { q "$1" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"; }

# --- a password in the URL: refused before anything is created ---
createdb pw1
expect 1 "$FLEETSEC" ca init --name PG --registry "postgresql://fleetsec:hunter2@/pw1"
one_line_error "pgpass"
grep -q hunter2 "$T/err" && fail "the refusal repeats the password"
[ ! -e "$FLEETSEC_HOME" ] || fail "a home was created"
[ "$(tables pw1)" = 0 ] || fail "tables were created in pw1"
ok
expect 1 "$FLEETSEC" ca init --name PG --registry "postgresql:///pw1?password=hunter2"
one_line_error "password"

# --- a malformed URL ---
expect 1 "$FLEETSEC" ca init --name PG --registry "postgresql://[::1/pw1"
one_line_error "malformed"
expect 1 "$FLEETSEC" ca init --name PG --registry "mysql://localhost/pw1"
one_line_error "postgresql://"
[ ! -e "$FLEETSEC_HOME" ] || fail "a home was created"
ok

# --- a wrong password (from a password file, the only place one goes) ---
printf '*:*:*:fsec_pw:wrong\n' >"$T/pgpass.bad"
printf '*:*:*:fsec_pw:right\n' >"$T/pgpass.good"
chmod 600 "$T/pgpass.bad" "$T/pgpass.good"
createdb -O fsec_pw pwdb
PGPASSFILE="$T/pgpass.bad" expect 1 "$FLEETSEC" ca init --name PG \
	--registry "postgresql://fsec_pw@/pwdb"
one_line_error "password authentication failed"
[ ! -e "$FLEETSEC_HOME" ] || fail "a home was created"
[ "$(tables pwdb)" = 0 ] || fail "tables were created in pwdb"
ok
# The right one, from the file: the fleet is created, and the password is
# nowhere in the home.
PGPASSFILE="$T/pgpass.good" expect 0 "$FLEETSEC" ca init --name PG \
	--registry "postgresql://fsec_pw@/pwdb" --json
[ "$(jq -r .registry "$T/out")" = "postgresql://fsec_pw@/pwdb" ] || fail "registry in --json"
[ "$(jq -r .registry "$FLEETSEC_HOME/fleet.json")" = "postgresql://fsec_pw@/pwdb" ] ||
	fail "fleet.json's registry"
grep -rq right "$FLEETSEC_HOME" && fail "the password is in the home"
[ ! -e "$FLEETSEC_HOME/registry.db" ] || fail "a SQLite registry beside the PostgreSQL one"
[ "$(q pwdb "SELECT action FROM events")" = ca-init ] || fail "psql sees no ca-init event"
PGPASSFILE="$T/pgpass.good" expect 0 "$FLEETSEC" device issue pw-1 --keygen \
	--key-out "$T/pw-1.key" --out "$T/pw-1.pem"
[ "$(q pwdb "SELECT id FROM devices")" = pw-1 ] || fail "psql does not see pw-1"
ok
# The wrong password later: a one-line error, nothing written.
PGPASSFILE="$T/pgpass.bad" expect 1 "$FLEETSEC" device issue pw-2 --keygen \
	--key-out "$T/pw-2.key" --out "$T/pw-2.pem"
one_line_error "password authentication failed"
[ "$(q pwdb "SELECT count(*) FROM devices")" = 1 ] || fail "pw-2 was written"
rm -rf "$FLEETSEC_HOME"

# --- a database that is not a registry ---
createdb theirs
q theirs "CREATE TABLE orders(id int); INSERT INTO orders VALUES (42)"
expect 1 "$FLEETSEC" ca init --name PG --registry "postgresql:///theirs"
one_line_error "not a fleetsec registry"
[ "$(tables theirs)" = 1 ] && [ "$(q theirs "SELECT id FROM orders")" = 42 ] ||
	fail "theirs changed"
[ ! -e "$FLEETSEC_HOME" ] || fail "a home was created"
ok
# An existing registry is not initialised again.
createdb reg1
expect 0 "$FLEETSEC" ca init --name PG --registry "postgresql:///reg1"
expect 1 "$FLEETSEC" ca init --name PG2 --registry "postgresql:///reg1" --home "$T/home2"
one_line_error "already exists"
[ "$(q reg1 "SELECT count(*) FROM events")" = 1 ] || fail "reg1 changed"
[ ! -e "$T/home2" ] || fail "home2 was created"
ok
# A fleet.json pointing at a database that is not a registry.
jq '.registry = "postgresql:///theirs"' "$FLEETSEC_HOME/fleet.json" >"$T/fj" &&
	cp "$FLEETSEC_HOME/fleet.json" "$T/fleet.json.orig" && cp "$T/fj" "$FLEETSEC_HOME/fleet.json"
expect 1 "$FLEETSEC" device list
one_line_error "not a fleetsec registry"
[ "$(tables theirs)" = 1 ] || fail "theirs changed"
cp "$T/fleet.json.orig" "$FLEETSEC_HOME/fleet.json"

# --- a schema newer than this fleetsec ---
expect 0 "$FLEETSEC" device issue n-1 --keygen --key-out "$T/n-1.key" --out "$T/n-1.pem"
cur=$(q reg1 "SELECT version FROM fsec_schema")
q reg1 "UPDATE fsec_schema SET version = 99"
expect 1 "$FLEETSEC" device issue n-2 --keygen --key-out "$T/n-2.key" --out "$T/n-2.pem"
one_line_error "schema version 99"
expect 1 "$FLEETSEC" device list --json
one_line_error "schema version 99"
[ "$(q reg1 "SELECT version FROM fsec_schema")" = 99 ] || fail "the version was changed"
[ "$(q reg1 "SELECT string_agg(id, ',') FROM devices")" = n-1 ] || fail "n-2 was written"
q reg1 "UPDATE fsec_schema SET version = $cur"
ok

# --- registry check on PostgreSQL ---
expect 0 "$FLEETSEC" registry check --json
[ "$(jq -r .ok "$T/out")" = true ] || fail "check: $(cat "$T/out")"
q reg1 "SET session_replication_role = replica;
	INSERT INTO device_groups(device_id, grp) VALUES ('ghost', 'g')"
expect 1 "$FLEETSEC" registry check --json
jq -e '.ok == false and (.problems | any(test("device_groups row .ghost. refers to a missing devices row")))' \
	"$T/out" >/dev/null || fail "check missed the orphan: $(cat "$T/out")"
q reg1 "DELETE FROM device_groups"
rm -rf "$FLEETSEC_HOME"

# --- registry migrate: a SQLite fleet into PostgreSQL ---
SRC=$T/src
expect 0 "$FLEETSEC" ca init --name Migr --home "$SRC"
for i in 1 2 3 4 5; do
	expect 0 "$FLEETSEC" device issue "m-$i" --keygen --model "cam" --home "$SRC" \
		--key-out "$T/m-$i.key" --out "$T/m-$i.pem"
done
expect 0 "$FLEETSEC" device issue m-1 --keygen --reissue --home "$SRC" \
	--key-out "$T/m-1b.key" --out "$T/m-1b.pem"
expect 0 "$FLEETSEC" device revoke m-2 --reason keyCompromise --home "$SRC"
# (Every certificate's PEM carries newlines through COPY's escaping.)
# The database and its WAL (the -shm index is rewritten by any reader).
sum_src() { sha256sum "$SRC"/registry.db "$SRC"/registry.db-wal | sha256sum; }
before=$(sum_src)
for c in "device list" "registry certs" "registry events"; do
	# shellcheck disable=SC2086
	"$FLEETSEC" $c --home "$SRC" --json >"$T/src-${c// /_}.json"
done
createdb mig
expect 0 "$FLEETSEC" registry migrate --from "$SRC" --to "postgresql:///mig" --json
[ "$(sum_src)" = "$before" ] || fail "the source registry changed"
grep -q '"sqlite:registry.db"' "$SRC/fleet.json" || fail "the source's fleet.json changed"
# psql judges: the counts the CLI reports, and the certificates themselves.
[ "$(q mig "SELECT count(*) FROM devices")" = "$(jq length "$T/src-device_list.json")" ] ||
	fail "device count"
[ "$(q mig "SELECT count(*) FROM certificates")" = "$(jq length "$T/src-registry_certs.json")" ] ||
	fail "certificate count"
[ "$(q mig "SELECT count(*) FROM events")" -ge 8 ] || fail "events"
jq -e --argjson n "$(q mig "SELECT count(*) FROM devices")" \
	'.tables[] | select(.table == "devices") | .rows == $n' "$T/out" >/dev/null ||
	fail "reported devices rows"
for i in 1 3 4 5; do
	serial=$(openssl x509 -in "$T/m-$i.pem" -noout -serial | cut -d= -f2)
	[ "$(q mig "SELECT count(*) FROM certificates WHERE upper(serial) = upper('$serial')")" = 1 ] ||
		fail "m-$i's certificate is not in PostgreSQL"
done
pem=$(q mig "SELECT pem FROM certificates c JOIN devices d ON d.serial = c.serial WHERE d.id = 'm-3'")
[ "$(printf '%s\n' "$pem" | openssl x509 -noout -fingerprint -sha256)" = \
	"$(openssl x509 -in "$T/m-3.pem" -noout -fingerprint -sha256)" ] || fail "m-3's PEM"
[ "$(q mig "SELECT status FROM devices WHERE id = 'm-2'")" = revoked ] || fail "m-2 status"
[ "$(q mig "SELECT reason FROM certificates c JOIN devices d ON d.id = c.device_id
	WHERE d.id = 'm-2' AND revoked_at IS NOT NULL")" = 1 ] || fail "m-2 revocation reason"
ok
# The copy as a fleet: the same answers through the CLI, and it goes on.
cp -a "$SRC" "$T/dst"
rm -f "$T/dst"/registry.db*
jq '.registry = "postgresql:///mig"' "$SRC/fleet.json" >"$T/dst/fleet.json"
for c in "device list" "registry certs" "registry events"; do
	# shellcheck disable=SC2086
	"$FLEETSEC" $c --home "$T/dst" --json >"$T/dst-${c// /_}.json"
	cmp -s "$T/src-${c// /_}.json" "$T/dst-${c// /_}.json" || fail "$c differs after migrate: $(diff "$T/src-${c// /_}.json" "$T/dst-${c// /_}.json" | head -5)"
	ok
done
expect 0 "$FLEETSEC" registry check --home "$T/dst" --json
[ "$(jq -r .ok "$T/out")" = true ] || fail "check after migrate"
last=$(q mig "SELECT max(seq) FROM events")
expect 0 "$FLEETSEC" device revoke m-3 --home "$T/dst"
[ "$(q mig "SELECT min(seq) FROM events WHERE action = 'revoke' AND device_id = 'm-3'")" -gt "$last" ] ||
	fail "the event log does not continue after the copied events"
expect 0 "$FLEETSEC" crl --home "$T/dst" --out "$T/crl.pem"
s3=$(openssl x509 -in "$T/m-3.pem" -noout -serial | cut -d= -f2)
openssl crl -in "$T/crl.pem" -noout -text | grep -qi "$s3" || fail "m-3 not on the CRL"
ok
# A target that is not empty: refused, unchanged.
n=$(q mig "SELECT count(*) FROM events")
expect 1 "$FLEETSEC" registry migrate --from "$SRC" --to "postgresql:///mig"
one_line_error "not empty"
[ "$(q mig "SELECT count(*) FROM events")" = "$n" ] || fail "mig changed"
expect 1 "$FLEETSEC" registry migrate --from "$SRC" --to "postgresql:///theirs"
one_line_error "not empty"
[ "$(tables theirs)" = 1 ] || fail "theirs changed"
# Not a PostgreSQL target, a password, no such source: refused.
expect 1 "$FLEETSEC" registry migrate --from "$SRC" --to "sqlite:/tmp/x.db"
one_line_error "postgresql://"
expect 1 "$FLEETSEC" registry migrate --from "$SRC" --to "postgresql://u:pw@/mig2"
one_line_error "pgpass"
expect 2 "$FLEETSEC" registry migrate --from "$SRC"
expect 1 "$FLEETSEC" registry migrate --from "$T/nohome" --to "postgresql:///mig"
[ "$(sum_src)" = "$before" ] || fail "the source registry changed"

echo "registry_pg: $checks checks passed"
