#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CI version of the simulated years (years_sim.sh): 4 devices through
# three simulated months, with its rotations and faults scaled to the run
# (issuing CA rotated at day 18, root rolled over at day 45, release root
# rotated at day 72); every step runs the real programs. About 2.5 minutes
# on a loaded 2-core machine (10 devices and 180 days took 11).
# The release bound is three weeks here: a device that is on reaches each
# release within it. With four devices a few power cuts in a row during
# one device's updates decide the lag (13 days was seen against a bound of
# 12), so the bound is a limit the fleet must stay under, not its median.
# bench/bench_years.sh runs the full three years.
exec bash "$(dirname "$0")/years_sim.sh" --devices "${YEARS_DEVICES:-4}" --days "${YEARS_DAYS:-90}" \
	--seed "${YEARS_SEED:-12}" --bound "${YEARS_BOUND:-21}"
