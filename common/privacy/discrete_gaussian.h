// An exact sampler for the discrete Gaussian N_Z(0, sigma^2), the
// distribution on the integers with P[x] proportional to
// exp(-x^2 / (2 sigma^2)): the noise each site adds to its integer gradient
// sum in distributed DP-SGD (common/privacy/distributed.h).
//
// The algorithm is that of Canonne, Kamath, Steinke, "The Discrete Gaussian
// for Differential Privacy", NeurIPS 2020 (arXiv:2004.00010), Algorithms 1-3:
//   1. Bernoulli(exp(-gamma)) for a rational gamma, by exact rational
//      arithmetic (a series of Bernoulli(gamma / k) trials, plus gamma's
//      integer part as that many Bernoulli(exp(-1)) trials);
//   2. a discrete Laplace of integer scale t (t = floor(sigma) + 1);
//   3. rejection: a Laplace draw Y is kept with probability
//      exp(-(|Y| - sigma^2 / t)^2 / (2 sigma^2)).
// Every random decision compares a uniform integer (drawn from 64-bit words
// of the injected generator by rejection, so without modulo bias) with an
// integer threshold. No floating point is used on the sampling path, so the
// output distribution does not depend on rounding modes or libm.
//
// sigma^2 as an exact rational: Create rounds sigma^2 to n / 2^k, the nearest
// multiple of 2^-k, with k the largest integer such that t^2 * 2^k <= 2^50
// (k = 50 for sigma < 1, k >= 9 for sigma <= 2^20). All intermediate values
// then fit in 128 bits. sigma_squared() returns n / 2^k exactly and sigma()
// its square root: the accountant must use these, not the requested value
// (their squares differ by a relative 2^-48 or less for sigma >= 1/2).
//
// Truncation: Laplace draws with |Y| >= 64 t are discarded before the
// rejection step, so the output is N_Z(0, sigma^2) conditioned on
// |x| < 64 t (t > sigma). The discarded mass is below exp(-2000): this is the
// only departure from the exact distribution, and it keeps every product in
// 128-bit integers.
//
// Security: the privacy guarantee of the discrete Gaussian mechanism (CKS20:
// (1/2)(Delta/sigma)^2-concentrated DP, as for the continuous Gaussian) holds
// only if the noise is unpredictable to the adversary: production code must
// pass a generator backed by a cryptographically secure source (OpenSSL's
// DRBG, as crypto/random.h's OpenSslPrng); a seeded one is for tests. The
// running time depends on the sampled value (rejection sampling), which is
// acceptable because sampling runs inside the hospital and only the
// aggregated sum leaves it.
//
// Thread-safety: a DiscreteGaussianSampler is immutable after Create and may
// be shared across threads; the generator passed to Sample is not
// synchronised, so each thread needs its own.
#ifndef COHORT_COMMON_PRIVACY_DISCRETE_GAUSSIAN_H_
#define COHORT_COMMON_PRIVACY_DISCRETE_GAUSSIAN_H_

#include <cstdint>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"

namespace cohort::privacy {

// Largest sigma Create accepts.
inline constexpr double kMaxDiscreteGaussianSigma = 1 << 20;

class DiscreteGaussianSampler {
 public:
  // InvalidArgument unless 0 < sigma <= kMaxDiscreteGaussianSigma (NaN and
  // infinities are rejected), or if sigma^2 rounds to 0 at the chosen
  // denominator 2^50 (sigma below about 2^-25.5).
  static absl::StatusOr<DiscreteGaussianSampler> Create(double sigma);

  // One draw from N_Z(0, sigma()^2) (up to the truncation described above),
  // using only uniform integers from `gen`.
  int64_t Sample(absl::BitGenRef gen) const;

  // The exact parameter used: sigma_squared() == n / 2^k exactly (n < 2^53,
  // so the double holds it without rounding), sigma() == sqrt of it.
  double sigma() const;
  double sigma_squared() const;

 private:
  DiscreteGaussianSampler(uint64_t numerator, int denominator_log2, uint64_t t)
      : numerator_(numerator), denominator_log2_(denominator_log2), t_(t) {}

  uint64_t numerator_;    // n: sigma^2 = n / 2^denominator_log2_
  int denominator_log2_;  // k
  uint64_t t_;            // Laplace scale, floor(requested sigma) + 1
};

// P[X = x] for X ~ N_Z(0, sigma^2), normalized (for tests and analysis; not
// used by the sampler). The normalizer is summed directly for sigma < 4 and
// by Poisson summation, sqrt(2 pi) sigma (1 + 2 sum_k exp(-2 pi^2 sigma^2
// k^2)), otherwise; both are accurate to double precision. NaN unless
// sigma > 0.
double DiscreteGaussianPmf(int64_t x, double sigma);

// Var[X] for X ~ N_Z(0, sigma^2). Below sigma^2 (CKS20 prove Var <= sigma^2);
// indistinguishable from it in double precision once sigma >= 3. By direct
// summation for sigma < 4, otherwise by Poisson summation:
// sigma^2 - 4 pi^2 sigma^4 sum_k k^2 q^(k^2) / sum_k q^(k^2), with
// q = exp(-2 pi^2 sigma^2) and k over all integers. NaN unless sigma > 0.
double DiscreteGaussianVariance(double sigma);

namespace internal {

// The building blocks, exposed for tests only.
// Bernoulli(exp(-numerator / denominator)) (CKS20, Algorithm 1); requires
// denominator >= 1.
bool SampleBernoulliExp(uint64_t numerator, uint64_t denominator, absl::BitGenRef gen);
// Discrete Laplace with P[x] proportional to exp(-|x| / t) (CKS20,
// Algorithm 2 with s = 1), conditioned on |x| < 64 t; requires
// 1 <= t <= 2^40.
int64_t SampleDiscreteLaplace(uint64_t t, absl::BitGenRef gen);

}  // namespace internal

}  // namespace cohort::privacy

#endif  // COHORT_COMMON_PRIVACY_DISCRETE_GAUSSIAN_H_
