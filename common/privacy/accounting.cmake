# The differential-privacy accountant (issue 4): RDP and PLD accountants, the
# analytic Gaussian reference, and NoiseMultiplierFor. Public API in
# accountant.h; rdp.h, pld.h and analytic_gaussian.h expose the building blocks.
cohort_cc_library(
  NAME cohort_privacy_accounting
  SRCS
    ${CMAKE_CURRENT_LIST_DIR}/accountant.cc
    ${CMAKE_CURRENT_LIST_DIR}/analytic_gaussian.cc
    ${CMAKE_CURRENT_LIST_DIR}/log_math.cc
    ${CMAKE_CURRENT_LIST_DIR}/pld.cc
    ${CMAKE_CURRENT_LIST_DIR}/rdp.cc
  HDRS
    ${CMAKE_CURRENT_LIST_DIR}/accountant.h
    ${CMAKE_CURRENT_LIST_DIR}/analytic_gaussian.h
    ${CMAKE_CURRENT_LIST_DIR}/log_math.h
    ${CMAKE_CURRENT_LIST_DIR}/pld.h
    ${CMAKE_CURRENT_LIST_DIR}/rdp.h
  DEPS
    cohort_status
    absl::status
    absl::statusor
    absl::strings
    absl::span
    absl::function_ref
    Eigen3::Eigen
)
