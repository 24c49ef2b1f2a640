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
FSEC_PG_INITS=$(mktemp)
trap 'pg_stop; rm -f "$FSEC_PG_INITS"' EXIT
# PG_DIR and PG_BIN: a test that stops and starts the cluster (pg_replicas.sh).
export FSEC_TEST_PG=1 FLEETSEC_REAL="$FLEETSEC" FLEETSEC="$here/fleetsec_pg.sh" FSEC_PG_INITS \
	PG_DIR PG_BIN
bash "$@"
# The run counts only if every fleet it made was on PostgreSQL. A test that
# makes none (a firmware or network test) passes as it is when the whole
# suite runs on PostgreSQL (FSEC_TEST_REGISTRY); a *_pg variant must make one.
inits=$(wc -l <"$FSEC_PG_INITS")
n=$(psql -qAt -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'fsec_it_%'")
if [ "$inits" -eq 0 ] && [ "${FSEC_TEST_REGISTRY:-}" = postgresql ]; then
	echo "pg_run: $(basename "$1") made no fleet"
	exit 0
fi
[ "$n" -gt 0 ] && [ "$n" -ge "$inits" ] ||
	{ echo "FAIL: $1 made $inits fleet(s), $n of them on PostgreSQL" >&2; exit 1; }
echo "pg_run: $n fleet database(s) on PostgreSQL"
