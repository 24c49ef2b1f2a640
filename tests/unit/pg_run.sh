#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# pg_run.sh CMD...: run a unit test against PostgreSQL: start a private
# cluster (tests/integration/pg.sh), run CMD with FSEC_TEST_PG=1 so that
# tu_registry() hands out fresh databases on it, stop it after.
set -euo pipefail
. "$(dirname "$0")/../integration/pg.sh"
pg_start
trap pg_stop EXIT
export FSEC_TEST_PG=1
"$@"
