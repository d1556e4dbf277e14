# Tests of the privacy budget ledger (common/privacy/ledger.cmake). The crash
# test runs the helper binary (from COHORT_BIN_DIR) and SIGKILLs it while it
# charges.
cohort_cc_binary(
  NAME privacy_ledger_crash_helper
  SRCS ${CMAKE_CURRENT_LIST_DIR}/ledger_crash_helper.cc
  DEPS cohort_privacy_ledger absl::strings absl::str_format
)

cohort_cc_test(
  NAME privacy_ledger_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/ledger_test.cc
  DEPS cohort_privacy_ledger cohort_privacy_accounting cohort_util absl::strings absl::time
       nlohmann_json::nlohmann_json
)
add_dependencies(privacy_ledger_test privacy_ledger_crash_helper)
