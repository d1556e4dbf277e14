# The site-owned privacy budget ledger (issue 4); ledger.h documents the file
# format.
cohort_cc_library(
  NAME cohort_privacy_ledger
  SRCS ${CMAKE_CURRENT_LIST_DIR}/ledger.cc
  HDRS ${CMAKE_CURRENT_LIST_DIR}/ledger.h
  DEPS
    cohort_privacy_accounting
    cohort_status
    cohort_util
    absl::status
    absl::statusor
    absl::strings
    absl::str_format
    absl::synchronization
    absl::time
    nlohmann_json::nlohmann_json
)
