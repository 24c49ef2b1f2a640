#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Inventory benchmarks (issue 13): over a generated registry of N devices
# (default 1,000,000) of one model with a published release,
#  1. `fleetsec release status --json` beside `sqlite3` running the same
#     counts (the rollout's counts and the patch coverage by counter);
#  2. `fleetsec device list --outdated --json` beside `sqlite3` selecting
#     the same rows (every column the listing reads), output discarded.
#  3. one device report (POST /v1/status's handler, bench/bench_report.c)
#     beside the same single-row upsert through the sqlite3 API; then with
#     the rollout evaluation the handler ran before (the cost of one timer
#     evaluation now); then, unless BEFORE=none, the report of main before
#     migration v17 (BEFORE, default 5da605f, built in the work directory)
#     on the same registry taken back to v16, and `release status --json`
#     of the phased release beside $BEFORE's (checked byte-identical).
# 1 and 2 are run RUNS times (default 5) alternately with their baseline;
# the medians are printed. 3 runs REPORTS reports (default 200) and
# INLINE (default 5) with an evaluation, and INLINE update checks.
# usage: [BEFORE=REV|none] [REPORTS=R] [INLINE=I] bench/bench_inventory.sh [N] [RUNS].
# Builds Release into build-bench/. Not part of ctest.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
n="${1:-1000000}"
runs="${2:-5}"
work=$(mktemp -d "${TMPDIR:-/tmp}/fsec-bench-inv.XXXXXX")
trap 'rm -rf "$work"' EXIT

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target fleetsec_cli bench_report >/dev/null
F="$build/fleetsec"
export FLEETSEC_HOME="$work/home"
DB="$FLEETSEC_HOME/registry.db"

# shellcheck disable=SC1091
. "$root/bench/lib.sh"

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$F" ca init --name "Bench Fleet" >/dev/null 2>&1
"$F" device issue seed --keygen --key-out "$work/seed.key" --model cam >/dev/null 2>&1
# A real release for cam: signed image, delegation, manifest, bundle.
cd "$work"
for k in fw root; do "$F" fw keygen --out $k.pem 2>/dev/null; "$F" fw pubkey $k.pem --out $k.pub; done
"$F" fw keygen --algo p256 --out online.pem 2>/dev/null
"$F" fw pubkey online.pem --out online.pub
"$F" release delegate --root-key root.pem --key online.pub --sequence 1 --out deleg.json
head -c 65536 /dev/urandom >v2.bin
"$F" fw sign --key fw.pem --version 2.0.0 --security-counter 7 --pad-header \
	--slot-size 0x100000 v2.bin v2.img
"$F" release create --model cam --image v2.img --chunk-size 65536 --sequence 1 --expires 30d \
	--out manifest.json
"$F" release sign --key online.pem --delegation deleg.json manifest.json --out release.json
"$F" release publish --model cam --bundle release.json --image v2.img --root root.pub >/dev/null
"$F" product set cam --support-until 2099-12-31 --release 2.0.0 --security-counter 7 >/dev/null
img=$(sqlite3 "$DB" "SELECT sha256 FROM published WHERE model = 'cam'")
# N devices: 1 in 1000 behind on firmware (counter 3), 1 in 10000 never
# reported, 1 in 100 reported a failed update of the published image and
# 1 in 3 a successful one, so every count is non-trivial.
t0=$(date +%s.%N)
sqlite3 "$DB" >/dev/null <<SQL
PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
BEGIN;
WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < $n)
INSERT INTO devices(id, model, status, serial, fingerprint, spki_sha256, issued_at, expires_at,
  provisioning, created_at, updated_at)
SELECT printf('dev-%08d', k), 'cam', 'active', printf('%032X', k), lower(hex(randomblob(32))),
  lower(hex(randomblob(32))), strftime('%s'), strftime('%s') + 300 * 86400, 'factory-csr',
  strftime('%s'), strftime('%s') FROM i;
INSERT INTO device_state(device_id, first_seen, last_seen, fw_version, security_counter,
  update_outcome, update_at, outcome_image)
SELECT id, strftime('%s'), strftime('%s'), CASE WHEN rowid % 1000 = 0 THEN '1.0.0' ELSE '2.0.0' END,
  CASE WHEN rowid % 1000 = 0 THEN 3 ELSE 7 END,
  CASE WHEN rowid % 100 = 0 THEN 'failure' WHEN rowid % 3 = 0 THEN 'success' ELSE '' END,
  strftime('%s'), CASE WHEN rowid % 100 = 0 OR rowid % 3 = 0 THEN '$img' ELSE '' END
  FROM devices WHERE id LIKE 'dev-%' AND rowid % 10000 != 0;
COMMIT;
SQL
t1=$(date +%s.%N)
echo "== registry: $n devices generated in $(echo "$t1 - $t0" | bc -l | xargs printf '%.1f') s ($(du -m "$DB" | cut -f1) MB)"

# The baselines: the same rows, read by sqlite3 alone.
STATUS_SQL="SELECT count(*), count(s.device_id),
 count(*) FILTER (WHERE s.update_outcome = 'failure' AND s.outcome_image = '$img'),
 count(*) FILTER (WHERE s.update_outcome = 'success' AND s.outcome_image = '$img'),
 count(*) FILTER (WHERE s.security_counter >= 7)
 FROM devices d LEFT JOIN device_state s ON s.device_id = d.id
 WHERE d.model = 'cam' AND d.status = 'active';
SELECT s.security_counter, count(*) FROM devices d JOIN device_state s ON s.device_id = d.id
 WHERE d.model = 'cam' AND d.status = 'active' GROUP BY s.security_counter;"

# Same answer from both sides, checked before anything is timed.
got=$("$F" release status --json | jq -c '.[0] | [.devices, .reported, .failed, .confirmed, .patched]')
want=$(sqlite3 "$DB" "$STATUS_SQL" | head -1 | tr '|' ',' | sed 's/^/[/; s/$/]/')
[ "$got" = "$want" ] || { echo "release status $got != sqlite3 $want" >&2; exit 1; }
got=$("$F" device list --outdated --json | jq length)
want=$(sqlite3 "$DB" "$OUTDATED_SQL" | wc -l)
[ "$got" = "$want" ] || { echo "device list --outdated $got != sqlite3 $want" >&2; exit 1; }
echo "== checked: release status counts and the $got outdated rows agree with sqlite3"

sqlite3 "$DB" "SELECT count(*) FROM device_state" >/dev/null # warm the cache
st=""; sb=""; ot=""; ob=""
for _ in $(seq "$runs"); do
	st+=" $(secs "$F" release status --json)"
	sb+=" $(secs sqlite3 "$DB" "$STATUS_SQL")"
	ot+=" $(secs "$F" device list --outdated --json)"
	ob+=" $(secs sqlite3 "$DB" "$OUTDATED_SQL")"
done
mst=$(echo "$st" | median); msb=$(echo "$sb" | median)
mot=$(echo "$ot" | median); mob=$(echo "$ob" | median)
echo "release status --json: median $mst s (runs:$st); sqlite3 same counts: median $msb s (runs:$sb); ratio $(ratio "$mst" "$msb")"
echo "device list --outdated --json: median $mot s (runs:$ot); sqlite3 same rows: median $mob s (runs:$ob); ratio $(ratio "$mot" "$mob")"

# 3. One device report. The release gets a failure limit and phases that
# advance on a success threshold, so that an evaluation both counts (the
# limit) and tallies the phases (the threshold); it neither advances (a
# third confirmed) nor pauses (1 in 100 failed).
"$F" release publish --model cam --bundle release.json --image v2.img --root root.pub \
	--phases 1%,100% --advance-after 0 --success-threshold 100% --max-failures 5% >/dev/null
echo "== report, this tree: ${REPORTS:-200} reports and upserts alternately, ${INLINE:-5} with the evaluation"
"$build/bench/bench_report" "$DB" cam "$n" "${REPORTS:-200}" "${INLINE:-5}"
# release status of the phased release, kept to compare with $before's.
"$F" release status --json >"$work/status.new"
rs=""
for _ in $(seq "$runs"); do rs+=" $(secs "$F" release status --json)"; done
before="${BEFORE:-5da605f}"
if [ "$before" != none ]; then
	old="$work/before"
	mkdir -p "$old"
	git -C "$root" archive "$before" | tar -x -C "$old"
	cp "$root/bench/bench_report.c" "$old/bench/"
	sed -n '/^# bench_report REGISTRY/,$p' "$root/bench/CMakeLists.txt" >>"$old/bench/CMakeLists.txt"
	cmake -S "$old" -B "$old/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$old/build" -j2 --target bench_report fleetsec_cli >/dev/null
	# What v17 added, taken out again: the registry $before knows.
	sqlite3 "$DB" "DROP TABLE rollout_eval; DROP INDEX devices_model_status;
		DROP INDEX device_state_failed;
		DROP INDEX refusals_mark; ALTER TABLE refusals DROP COLUMN mark;
		PRAGMA user_version = 16;"
	"$old/build/fleetsec" release status --json >"$work/status.old"
	cmp -s "$work/status.old" "$work/status.new" ||
		{ echo "release status differs from $before's" >&2; exit 1; }
	ro=""
	for _ in $(seq "$runs"); do ro+=" $(secs "$old/build/fleetsec" release status --json)"; done
	mrs=$(echo "$rs" | median); mro=$(echo "$ro" | median)
	echo "== checked: release status --json (phased, with limits) is byte-identical to $before's"
	echo "release status --json, phased: median $mrs s (runs:$rs); $before: median $mro s (runs:$ro); ratio $(ratio "$mrs" "$mro")"
	echo "== report, $before (evaluates in the report): ${INLINE:-5} reports and upserts alternately"
	"$old/build/bench/bench_report" "$DB" cam "$n" "${INLINE:-5}" 0
else
	echo "release status --json, phased: median $(echo "$rs" | median) s (runs:$rs)"
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
