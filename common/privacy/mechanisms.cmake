# Mechanisms for distributed differential privacy (common/privacy/distributed.h):
# the exact discrete Gaussian sampler, the randomized Hadamard rotation,
# conditional randomized rounding, and the site/coordinator encoder built on
# them.
cohort_cc_library(
  NAME cohort_privacy_mechanisms
  SRCS
    discrete_gaussian.cc
    distributed.cc
    hadamard.cc
    rounding.cc
  HDRS
    discrete_gaussian.h
    distributed.h
    hadamard.h
    rounding.h
  DEPS
    cohort_crypto
    cohort_status
    absl::status
    absl::statusor
    absl::strings
    absl::span
    absl::random_bit_gen_ref
    absl::random_distributions
    Eigen3::Eigen
)
