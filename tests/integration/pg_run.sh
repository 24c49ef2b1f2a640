#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# pg_run.sh TEST.sh: run an integration test with its fleet on PostgreSQL.
# Starts a private cluster (pg.sh) for the run and puts fleetsec_pg.sh in
# front of $FLEETSEC, so that each `fleetsec ca init` of the test creates a
# fresh database and puts the fleet on it; every later command, fleetsecd
# included, reaches it through fleet.json's registry URL and the PG*
# variables exported here. The test itself is unchanged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg.sh"
pg_start
trap pg_stop EXIT
# PG_DIR and PG_BIN: a test that stops and starts the cluster (pg_replicas.sh).
export FSEC_TEST_PG=1 FLEETSEC_REAL="$FLEETSEC" FLEETSEC="$here/fleetsec_pg.sh" PG_DIR PG_BIN
bash "$@"
# The run counts only if its fleet was on PostgreSQL.
n=$(psql -qAt -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'fsec_it_%'")
[ "$n" -gt 0 ] || { echo "FAIL: $1 never put a fleet on PostgreSQL" >&2; exit 1; }
echo "pg_run: $n fleet database(s) on PostgreSQL"
