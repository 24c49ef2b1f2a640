# SPDX-License-Identifier: Apache-2.0
#
# The fuzz targets, one per parser of outside input: fuzz/fuzz_<name>.c with
# its corpus in fuzz/corpus/<name>/. Read by fuzz/CMakeLists.txt (libFuzzer,
# clang) and by fuzz/replay.cmake (corpus replay under plain ctest).
set(FSEC_FUZZ_TARGETS csr fleet_config fwimage fwenc release agentcfg est_body range fwscan netresp
    status mud netpolicy netsync text json pem refusal bootstrap_serial route_headers backup_archive
    mqtt_policy mqtt_control broker_conf privacy_policy privacy_filter pair_uri qr_image batch_csv
    fwkey coap emqx_request estc_answer)
# The library's private headers (err_int.h, fleet_int.h, ...) the targets
# include, from every concern folder; the static library keeps those symbols
# although they are not exported.
set(FSEC_FUZZ_INCLUDES ${FSEC_LIB_PRIVATE_DIRS})
