# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared by the shell benchmarks that time a command beside a baseline:
# timing, medians, ratios, and a generated fleet of N devices.

secs() { # secs CMD...: wall time in seconds of CMD, output discarded
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1 || true
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l | xargs printf '%.3f'
}
# median: of the numbers on stdin, separated by spaces or newlines
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

# The rows `device list --outdated` reads, with every column it reads
# (devices, states, groups, addresses, products), in its order: the
# baseline a SQL client runs beside it. Valid SQLite and PostgreSQL.
# shellcheck disable=SC2034 # used by the scripts that source this file
OUTDATED_SQL="SELECT d.*, s.*, g.grp, n.mac, n.ip FROM devices d
 LEFT JOIN device_state s ON s.device_id = d.id LEFT JOIN device_groups g ON g.device_id = d.id
 LEFT JOIN device_net n ON n.device_id = d.id LEFT JOIN products p ON p.model = d.model
 WHERE s.device_id IS NOT NULL AND p.release_counter >= 0 AND s.security_counter < p.release_counter
 ORDER BY d.id"

# sqlite_fleet DB N: N devices dev-00000001... of model cam in the SQLite
# registry DB, each with a certificate carrying the PEM of the registry's
# first one (a real certificate the audit parses) and a random key digest,
# reported now with its debug ports locked; 1 in 1,000 runs security
# counter 3 (the others 7) and 1 in 10,000 never reported. By the number
# in the ID, so that other backends can hold the same rows.
sqlite_fleet() {
	sqlite3 "$1" >/dev/null <<SQL
PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
BEGIN;
CREATE TEMP TABLE pem AS SELECT pem FROM certificates LIMIT 1;
WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < $2)
INSERT INTO devices(id, model, status, serial, fingerprint, spki_sha256, issued_at, expires_at,
  provisioning, created_at, updated_at)
SELECT printf('dev-%08d', k), 'cam', 'active', printf('%032X', k), lower(hex(randomblob(32))),
  lower(hex(randomblob(32))), strftime('%s'), strftime('%s') + 300 * 86400, 'factory-csr',
  strftime('%s'), strftime('%s') FROM i;
INSERT INTO certificates(serial, device_id, fingerprint, spki_sha256, not_before, not_after,
  issued_at, pem)
SELECT serial, id, fingerprint, spki_sha256, 0, expires_at, issued_at, (SELECT pem FROM pem)
  FROM devices WHERE id LIKE 'dev-%';
INSERT INTO device_state(device_id, first_seen, last_seen, fw_version, security_counter,
  debug_jtag, debug_uart, debug_at)
SELECT id, strftime('%s'), strftime('%s'), '2.0.0',
  CASE WHEN CAST(substr(id, 5) AS INTEGER) % 1000 = 0 THEN 3 ELSE 7 END,
  'locked', 'locked', strftime('%s')
  FROM devices WHERE id LIKE 'dev-%' AND CAST(substr(id, 5) AS INTEGER) % 10000 != 0;
COMMIT;
SQL
}
