// Conditional randomized rounding of a real vector to an integer vector with
// a guaranteed L2 norm: the step that turns a record's clipped, scaled and
// rotated gradient into the integers that secure aggregation sums, while
// keeping the record's L2 sensitivity bounded.
//
// From Kairouz, Liu, Steinke, "The Distributed Discrete Gaussian Mechanism
// for Federated Learning with Secure Aggregation", ICML 2021
// (arXiv:2102.06387; numbering below is the arXiv version's), Algorithm 1
// and Proposition 22: each coordinate is rounded independently and without
// bias, x_i -> floor(x_i) + Bernoulli(x_i - floor(x_i)), and the whole vector
// is redrawn until its L2 norm is at most
//   c' = min{ sqrt(c^2 + d/4 + sqrt(2 log(1/beta)) (c + sqrt(d)/2)),
//             c + sqrt(d) }
// where c bounds ||x||_2 and d is the length. For ||x||_2 <= c one draw
// meets the first bound with probability >= 1 - beta (Proposition 22), and
// always meets the second (each coordinate moves by less than 1), so the
// expected number of draws is at most 1 / (1 - beta); beta = 0 means "use
// c + sqrt(d)", which never rejects. Conditioning adds a small bias towards
// shorter vectors, which the paper shows is negligible for the usual
// beta = exp(-1/2).
//
// Security: the norm bound is enforced exactly (integer sum of squares
// against floor(c'^2)), whatever the input and floating-point error, so c'
// is a hard bound on each rounded record's L2 norm, which is what the
// privacy analysis needs. The number of retries depends on the data; it is
// not revealed, except through timing, which stays inside the hospital.
// Randomness must come from a cryptographically secure generator in
// production.
//
// Thread-safety: free functions without shared state.
#ifndef COHORT_COMMON_PRIVACY_ROUNDING_H_
#define COHORT_COMMON_PRIVACY_ROUNDING_H_

#include <cstdint>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace cohort::privacy {

// Largest |x_i| and bound that ConditionalRound accepts.
inline constexpr double kMaxRoundingMagnitude = 1ULL << 40;

// c' above for c = norm (>= 0), d = dim (>= 1) and beta in [0, 1). NaN if an
// argument is out of range.
double ConditionalRoundingBound(double norm, int dim, double beta);

// A randomized rounding of x whose L2 norm is <= bound, redrawn up to
// max_tries times. Each coordinate is rounded up with probability exactly
// floor((x_i - floor(x_i)) 2^64) / 2^64 (unbiased up to 2^-64), from uniform
// 64-bit integers of `gen`. Returns:
//   InvalidArgument    max_tries < 1, bound not in [0, kMaxRoundingMagnitude]
//                      (or NaN), or an x_i that is not finite or has
//                      |x_i| > kMaxRoundingMagnitude (names the index);
//   ResourceExhausted  no draw within the bound after max_tries tries.
absl::StatusOr<std::vector<int64_t>> ConditionalRound(absl::Span<const double> x, double bound,
                                                      absl::BitGenRef gen, int max_tries);

}  // namespace cohort::privacy

#endif  // COHORT_COMMON_PRIVACY_ROUNDING_H_
