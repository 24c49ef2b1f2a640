#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CI version of the simulated years (years_sim.sh): 10 devices through
# six simulated months, with its rotations and faults scaled to the run
# (issuing CA rotated at day 36, root rolled over at day 90, release root
# rotated at day 144). bench/bench_years.sh runs the full three years.
exec bash "$(dirname "$0")/years_sim.sh" --devices "${YEARS_DEVICES:-10}" --days "${YEARS_DAYS:-180}" \
	--seed "${YEARS_SEED:-12}"
