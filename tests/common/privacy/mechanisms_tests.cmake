# Tests of the distributed-DP mechanisms (common/privacy/mechanisms.cmake).
cohort_cc_test(
  NAME privacy_discrete_gaussian_test
  SRCS discrete_gaussian_test.cc
  DEPS cohort_privacy_mechanisms absl::random_random
)

cohort_cc_test(
  NAME privacy_hadamard_test
  SRCS hadamard_test.cc
  DEPS cohort_privacy_mechanisms
)

cohort_cc_test(
  NAME privacy_rounding_test
  SRCS rounding_test.cc
  DEPS cohort_privacy_mechanisms absl::random_random
)

cohort_cc_test(
  NAME privacy_distributed_test
  SRCS distributed_test.cc
  DEPS cohort_privacy_mechanisms absl::random_random
)
