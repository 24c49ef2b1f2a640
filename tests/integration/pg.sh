# SPDX-License-Identifier: Apache-2.0
# A private PostgreSQL cluster for one test run, sourced by a test (or by
# lib.sh when FSEC_TEST_PG=1). pg_start creates it in a temporary directory
# with initdb (run as the postgres user when we are root: PostgreSQL refuses
# to run as root), listening only on a Unix socket in that directory on a
# random port (and on TCP at PG_LISTEN's addresses, if set: trust from
# 127.0.0.1), and exports PGHOST, PGPORT and PGUSER so that libpq (fleetsec,
# fleetsecd, psql) finds it. pg_stop stops it and removes it; pg_start
# arranges for that on exit. Authentication is trust for the test's own
# role, and scram-sha-256 for the role fsec_pw (password "right"), which the
# wrong-password refusal uses; replication connections (pg_basebackup, a
# standby) are trusted on the socket.

pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -n "$d" ] && [ -x "$d/initdb" ] || return 1
	echo "$d"
}

# as_pg CMD...: run CMD as the cluster's owner.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_stop() {
	[ -n "${PG_DIR:-}" ] || return 0
	as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$PG_DIR"
	PG_DIR=
}

pg_start() {
	PG_BIN=$(pg_bindir) || { echo "FAIL: PostgreSQL server binaries not found (scripts/deps.sh installs postgresql)" >&2; exit 1; }
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fsec-pg-XXXXXX")
	chmod 0755 "$PG_DIR"
	[ "$(id -u)" -ne 0 ] || chown postgres: "$PG_DIR"
	as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U fleetsec -E UTF8 --locale=C \
		--no-sync >"$PG_DIR/initdb.log" 2>&1 ||
		{ cat "$PG_DIR/initdb.log" >&2; echo "FAIL: initdb" >&2; exit 1; }
	cat >"$PG_DIR/data/pg_hba.conf" <<'HBA'
local all fsec_pw scram-sha-256
local all all trust
local replication all trust
host all all 127.0.0.1/32 trust
HBA
	local port tries=0
	while :; do
		port=$((20000 + RANDOM % 12000))
		if as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -t 30 -l "$PG_DIR/log" \
			-o "-k $PG_DIR -p $port -c listen_addresses='${PG_LISTEN:-}' -c fsync=off -c max_connections=200" \
			start >/dev/null 2>&1; then
			break
		fi
		tries=$((tries + 1))
		[ "$tries" -lt 5 ] || { cat "$PG_DIR/log" >&2; echo "FAIL: pg_ctl start" >&2; exit 1; }
	done
	export PGHOST=$PG_DIR PGPORT=$port PGUSER=fleetsec PGDATABASE=postgres
	unset PGPASSWORD PGSERVICE PGPASSFILE
	psql -qAt -c "CREATE ROLE fsec_pw LOGIN PASSWORD 'right' SUPERUSER" >/dev/null
}

# pg_newdb: create a fresh empty database and print its registry URL.
pg_db_seq=0
pg_newdb() {
	pg_db_seq=$((pg_db_seq + 1))
	local name="fsec_$$_${pg_db_seq}_$RANDOM"
	createdb "$name"
	echo "postgresql:///$name"
}
