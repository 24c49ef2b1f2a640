#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# fleetsec with `ca init` on a fresh PostgreSQL database (pg_run.sh puts it
# in front of $FLEETSEC). Any other command, or a ca init that names its own
# --registry, goes to the real binary unchanged.
if [ "${1:-}" = ca ] && [ "${2:-}" = init ]; then
	for a in "$@"; do
		case $a in --registry | --registry=* | --help | -h) exec "$FLEETSEC_REAL" "$@" ;; esac
	done
	name="fsec_it_$$_$RANDOM"
	createdb "$name" || exit 1
	echo "$name" >>"${FSEC_PG_INITS:-/dev/null}"
	exec "$FLEETSEC_REAL" "$@" --registry "postgresql:///$name"
fi
exec "$FLEETSEC_REAL" "$@"
