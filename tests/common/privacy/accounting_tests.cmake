# Tests of the differential-privacy accountant (common/privacy/accounting.cmake);
# `ctest -L privacy` runs them with the `cohort privacy` CLI test.
cohort_cc_test(
  NAME privacy_rdp_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/rdp_test.cc
  DEPS cohort_privacy_accounting
  LABELS privacy
)

cohort_cc_test(
  NAME privacy_pld_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/pld_test.cc
  DEPS cohort_privacy_accounting
  LABELS privacy
)

cohort_cc_test(
  NAME privacy_analytic_gaussian_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/analytic_gaussian_test.cc
  DEPS cohort_privacy_accounting
  LABELS privacy
)

cohort_cc_test(
  NAME privacy_accountant_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/accountant_test.cc
  DEPS cohort_privacy_accounting
  LABELS privacy
)
