#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The registry's read paths at fleet scale on PostgreSQL (issue 16), beside
# SQLite, each beside a client reading the same rows, in one run:
#  1. `fleetsec audit fleet --json` over N devices (default 1,000,000),
#     beside psql (sqlite3) selecting every device with its state and
#     certificate PEM, output discarded;
#  2. `fleetsec device list --outdated --json`, beside psql (sqlite3)
#     selecting the same rows with every column the listing reads.
# The two registries hold the same rows (sqlite_fleet in bench/lib.sh, and
# its PostgreSQL twin here): N devices of model cam with a certificate
# each, 1 in 1,000 behind the product's release (counter 3 of 7) and 1 in
# 10,000 never reported. Before anything is timed, each
# command's answer is checked against the SQL. Each pair is run RUNS times
# (default 3) alternately on a warm cache; the medians are printed. psql
# reads with FETCH_COUNT=4096, a batch at a time, as the CLI does.
# The PostgreSQL cluster is private (tests/integration/pg.sh: initdb,
# fsync off, a Unix socket), started and removed by this script.
# usage: bench/bench_pg_scale.sh [N] [RUNS]. Builds Release into
# build-bench/ (FSEC_BENCH_BUILD names another). Not part of ctest.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="${FSEC_BENCH_BUILD:-$root/build-bench}"
n="${1:-1000000}"
runs="${2:-3}"
work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-bench-pg.XXXXXX")
chmod 0755 "$work"
# shellcheck disable=SC1091
. "$root/tests/integration/pg.sh"
# shellcheck disable=SC1091
. "$root/bench/lib.sh"
trap 'pg_stop; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target fleetsec_cli >/dev/null
F="$build/fleetsec"

# peak resident memory of CMD, in MB
peak_mb() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.0f", $1 / 1024}'; }

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
pg_start
echo "== PostgreSQL $(psql -qAt -c 'SHOW server_version'), shared_buffers $(psql -qAt -c 'SHOW shared_buffers')"
url=$(pg_newdb)

# fleet HOME [ca init options]: a fleet with one real device certificate
# (the PEM every generated device carries) and a release counter for cam.
fleet() {
	local home=$1
	shift
	FLEETSEC_HOME=$home "$F" ca init --name "Bench Fleet" "$@" >/dev/null 2>&1
	FLEETSEC_HOME=$home "$F" device issue seed --keygen --key-out "$home.seed.key" \
		--model cam >/dev/null 2>&1
	FLEETSEC_HOME=$home "$F" product set cam --support-until 2099-12-31 --release 2.0.0 \
		--security-counter 7 >/dev/null
}
fleet "$work/sq"
fleet "$work/pg" --registry "$url"
DB="$work/sq/registry.db"

t0=$(date +%s.%N)
sqlite_fleet "$DB" "$n"
t1=$(date +%s.%N)
echo "== SQLite: $n devices generated in $(echo "$t1 - $t0" | bc -l | xargs printf '%.1f') s ($(du -m "$DB" | cut -f1) MB)"

t0=$(date +%s.%N)
psql -qAt -v ON_ERROR_STOP=1 -d "$url" >/dev/null <<SQL
BEGIN;
CREATE TEMP TABLE pem AS SELECT pem FROM certificates LIMIT 1;
INSERT INTO devices(id, model, status, serial, fingerprint, spki_sha256, issued_at, expires_at,
  provisioning, created_at, updated_at)
SELECT 'dev-' || lpad(k::text, 8, '0'), 'cam', 'active', lpad(upper(to_hex(k)), 32, '0'),
  encode(sha256(('f' || k)::bytea), 'hex'), encode(sha256(('s' || k)::bytea), 'hex'),
  extract(epoch FROM now())::bigint, extract(epoch FROM now())::bigint + 300 * 86400,
  'factory-csr', extract(epoch FROM now())::bigint, extract(epoch FROM now())::bigint
  FROM generate_series(1, $n) k;
INSERT INTO certificates(serial, device_id, fingerprint, spki_sha256, not_before, not_after,
  issued_at, pem)
SELECT serial, id, fingerprint, spki_sha256, 0, expires_at, issued_at, (SELECT pem FROM pem)
  FROM devices WHERE id LIKE 'dev-%';
INSERT INTO device_state(device_id, first_seen, last_seen, fw_version, security_counter,
  debug_jtag, debug_uart, debug_at)
SELECT id, created_at, created_at, '2.0.0',
  CASE WHEN substr(id, 5)::int % 1000 = 0 THEN 3 ELSE 7 END,
  'locked', 'locked', created_at
  FROM devices WHERE id LIKE 'dev-%' AND substr(id, 5)::int % 10000 != 0;
COMMIT;
VACUUM ANALYZE;
SQL
t1=$(date +%s.%N)
echo "== PostgreSQL: $n devices generated in $(echo "$t1 - $t0" | bc -l | xargs printf '%.1f') s ($(psql -qAt -d "$url" -c 'SELECT pg_database_size(current_database()) / 1048576') MB)"

AUDIT_SQL="SELECT d.*, s.*, c.pem FROM devices d LEFT JOIN device_state s ON s.device_id = d.id
 LEFT JOIN certificates c ON c.serial = d.serial"
sq_sql() { sqlite3 "$DB" "$1"; }
# psql reads through a cursor in batches too (FETCH_COUNT), as the CLI does.
pg_sql() { psql -qAt -v ON_ERROR_STOP=1 -v FETCH_COUNT=4096 -d "$url" -c "$1"; }
fs_sq() { FLEETSEC_HOME="$work/sq" "$F" "$@"; }
fs_pg() { FLEETSEC_HOME="$work/pg" "$F" "$@"; }

# Same answers from every side, checked before anything is timed.
want=$(sq_sql "$OUTDATED_SQL" | wc -l)
for b in sq pg; do
	got=$(fs_$b device list --outdated --json | jq length)
	rows=$(${b}_sql "$OUTDATED_SQL" | wc -l)
	[ "$got" = "$want" ] && [ "$rows" = "$want" ] ||
		{ echo "device list --outdated ($b) $got, SQL $rows, want $want" >&2; exit 1; }
	fs_$b audit fleet --json >"$work/audit.$b" || true
	jq -e '.summary' "$work/audit.$b" >/dev/null ||
		{ echo "audit fleet ($b) gave no summary" >&2; exit 1; }
done
cmp <(jq -S '.summary, .findings' "$work/audit.sq") <(jq -S '.summary, .findings' "$work/audit.pg") ||
	{ echo "audit fleet: SQLite and PostgreSQL disagree" >&2; exit 1; }
echo "== checked: $want outdated rows from both listings and both SQL clients; the same audit findings on both ($(jq -c '.summary' "$work/audit.pg"))"

sq_sql "SELECT count(*) FROM certificates" >/dev/null # warm the caches
pg_sql "SELECT count(*) FROM certificates" >/dev/null
declare -A t
for _ in $(seq "$runs"); do
	t[pa]+=" $(secs fs_pg audit fleet --json)"
	t[pb]+=" $(secs pg_sql "$AUDIT_SQL")"
	t[sa]+=" $(secs fs_sq audit fleet --json)"
	t[sb]+=" $(secs sq_sql "$AUDIT_SQL")"
	t[po]+=" $(secs fs_pg device list --outdated --json)"
	t[pc]+=" $(secs pg_sql "$OUTDATED_SQL")"
	t[so]+=" $(secs fs_sq device list --outdated --json)"
	t[sc]+=" $(secs sq_sql "$OUTDATED_SQL")"
done
declare -A m
for k in "${!t[@]}"; do m[$k]=$(echo "${t[$k]}" | median); done
echo "audit fleet --json, PostgreSQL: median ${m[pa]} s (runs:${t[pa]}); psql same rows: ${m[pb]} s (runs:${t[pb]}); ratio $(ratio "${m[pa]}" "${m[pb]}")"
echo "audit fleet --json, SQLite: median ${m[sa]} s (runs:${t[sa]}); sqlite3 same rows: ${m[sb]} s (runs:${t[sb]}); ratio $(ratio "${m[sa]}" "${m[sb]}")"
echo "device list --outdated --json, PostgreSQL: median ${m[po]} s (runs:${t[po]}); psql same rows: ${m[pc]} s (runs:${t[pc]}); ratio $(ratio "${m[po]}" "${m[pc]}")"
echo "device list --outdated --json, SQLite: median ${m[so]} s (runs:${t[so]}); sqlite3 same rows: ${m[sc]} s (runs:${t[sc]}); ratio $(ratio "${m[so]}" "${m[sc]}")"
echo "PostgreSQL to SQLite: audit fleet $(ratio "${m[pa]}" "${m[sa]}"), device list --outdated $(ratio "${m[po]}" "${m[so]}")"
echo "peak memory of audit fleet: PostgreSQL $(peak_mb env FLEETSEC_HOME="$work/pg" "$F" audit fleet --json) MB, SQLite $(peak_mb env FLEETSEC_HOME="$work/sq" "$F" audit fleet --json) MB"
