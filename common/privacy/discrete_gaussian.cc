#include "common/privacy/discrete_gaussian.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

#include "absl/random/distributions.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cohort::privacy {
namespace {

__extension__ using Uint128 = unsigned __int128;

// Every product of the sampler fits in 128 bits because t^2 * 2^k <= 2^50 and
// |Y| < 64 t (see the header): |Y| t 2^k < 2^56, so the squared numerator of
// gamma is < 2^112 and its denominator 2 n 2^k t^2 <= 2^101.
constexpr int kScaleBudgetLog2 = 50;
// Laplace draws are kept only if |Y| < kTruncation * t.
constexpr uint64_t kTruncation = 64;

uint64_t RandomWord(absl::BitGenRef gen) { return absl::Uniform<uint64_t>(gen); }

// Uniform on {0, ..., n - 1} for 1 <= n <= 2^64 - 1: the low bits of a word,
// rejected when out of range (expected fewer than two words).
uint64_t UniformBelow(uint64_t n, absl::BitGenRef gen) {
  if (n <= 1) return 0;
  const uint64_t mask = ~uint64_t{0} >> std::countl_zero(n - 1);
  while (true) {
    const uint64_t u = RandomWord(gen) & mask;
    if (u < n) return u;
  }
}

// Uniform on {0, ..., n - 1} for 1 <= n < 2^128.
Uint128 UniformBelow128(Uint128 n, absl::BitGenRef gen) {
  const uint64_t high_limit = static_cast<uint64_t>(n >> 64);
  if (high_limit == 0) return UniformBelow(static_cast<uint64_t>(n), gen);
  const Uint128 n_minus_1 = n - 1;
  const uint64_t high_mask =
      ~uint64_t{0} >> std::countl_zero(static_cast<uint64_t>(n_minus_1 >> 64));
  while (true) {
    const Uint128 high = RandomWord(gen) & high_mask;
    const Uint128 u = (high << 64) | RandomWord(gen);
    if (u < n) return u;
  }
}

// Bernoulli(p / q) for 0 <= p <= q, q >= 1.
bool BernoulliRational(Uint128 p, Uint128 q, absl::BitGenRef gen) {
  return UniformBelow128(q, gen) < p;
}

// Bernoulli(exp(-p / q)) for 0 <= p <= q (CKS20, Algorithm 1, gamma <= 1):
// K counts Bernoulli(gamma / K) successes from K = 1; P[K odd] = exp(-gamma).
// Bernoulli(gamma / K) is drawn as Bernoulli(1 / K) AND Bernoulli(p / q),
// which are independent and whose product has the right mean, so q * K is
// never formed.
bool BernoulliExpFraction(Uint128 p, Uint128 q, absl::BitGenRef gen) {
  uint64_t k = 1;
  while (UniformBelow(k, gen) == 0 && BernoulliRational(p, q, gen)) ++k;
  return (k & 1) == 1;
}

// Bernoulli(exp(-p / q)) for any p >= 0, q >= 1 (CKS20, Algorithm 1):
// exp(-gamma) = exp(-1)^floor(gamma) * exp(-(gamma - floor(gamma))), all
// factors independent trials. The loop stops at the first failure, so it
// runs about 1.6 times on average however large gamma is.
bool BernoulliExp(Uint128 p, Uint128 q, absl::BitGenRef gen) {
  const Uint128 whole = p / q;
  for (Uint128 i = 0; i < whole; ++i) {
    if (!BernoulliExpFraction(1, 1, gen)) return false;
  }
  return BernoulliExpFraction(p % q, q, gen);
}

// CKS20, Algorithm 2 with s = 1: X = U + t V with U uniform on [0, t)
// accepted with probability exp(-U / t) and V geometric (V counts
// Bernoulli(exp(-1)) successes), so P[X = x] is proportional to exp(-x / t);
// a random sign, rejecting "-0". Draws with V >= kTruncation (X >= 64 t) are
// restarted, which conditions the output on |x| < 64 t and bounds it.
int64_t DiscreteLaplace(uint64_t t, absl::BitGenRef gen) {
  while (true) {
    const uint64_t u = UniformBelow(t, gen);
    if (!BernoulliExp(u, t, gen)) continue;
    uint64_t v = 0;
    while (v < kTruncation && BernoulliExp(1, 1, gen)) ++v;
    if (v >= kTruncation) continue;
    const auto x = static_cast<int64_t>(u + t * v);
    const bool negative = (RandomWord(gen) & 1) == 1;
    if (negative && x == 0) continue;
    return negative ? -x : x;
  }
}

// sum_y exp(-y^2 / (2 sigma^2)) * y^power over all integers y, for sigma < 4
// (terms beyond |y| = 40 sigma + 2 are below e^-800 of the largest).
double DirectMoment(double sigma, int power) {
  const auto limit = static_cast<int64_t>(std::ceil(40 * sigma)) + 2;
  double sum = 0;
  for (int64_t y = -limit; y <= limit; ++y) {
    const double yd = static_cast<double>(y);
    sum += std::pow(yd, power) * std::exp(-yd * yd / (2 * sigma * sigma));
  }
  return sum;
}

constexpr double kDirectSumBelow = 4.0;

// Poisson summation: sum_y exp(-y^2 / (2 sigma^2)) =
// sqrt(2 pi) sigma * sum_k q^(k^2), q = exp(-2 pi^2 sigma^2). For sigma >= 4,
// q < e^-315, so k = +-1, +-2 already exhaust double precision.
double ThetaSum(double sigma, int power_of_k) {
  const double a = 2 * std::numbers::pi * std::numbers::pi * sigma * sigma;
  double sum = power_of_k == 0 ? 1.0 : 0.0;  // k = 0
  for (int k = 1; k <= 3; ++k) {
    sum += 2 * std::pow(static_cast<double>(k), power_of_k) * std::exp(-a * k * k);
  }
  return sum;
}

}  // namespace

absl::StatusOr<DiscreteGaussianSampler> DiscreteGaussianSampler::Create(double sigma) {
  if (!(sigma > 0) || !(sigma <= kMaxDiscreteGaussianSigma)) {
    return absl::InvalidArgumentError(absl::StrCat("discrete Gaussian sigma must be in (0, ",
                                                   kMaxDiscreteGaussianSigma, "], got ", sigma));
  }
  const uint64_t t = static_cast<uint64_t>(std::floor(sigma)) + 1;
  // The largest k with t^2 2^k <= 2^50; t <= 2^20 + 1 leaves k >= 9.
  const uint64_t t_squared = t * t;
  int k = 0;
  while (k < kScaleBudgetLog2 && (t_squared << (k + 1)) <= (uint64_t{1} << kScaleBudgetLog2)) ++k;
  // sigma^2 2^k <= t^2 2^k <= 2^50 < 2^53: the scaled value and its rounding
  // to an integer are exact in double.
  const double scaled = std::nearbyint(std::ldexp(sigma * sigma, k));
  if (scaled < 1) {
    return absl::InvalidArgumentError(absl::StrCat("discrete Gaussian sigma ", sigma,
                                                   " is too small: sigma^2 rounds to 0 at 2^-", k));
  }
  return DiscreteGaussianSampler(static_cast<uint64_t>(scaled), k, t);
}

int64_t DiscreteGaussianSampler::Sample(absl::BitGenRef gen) const {
  // CKS20, Algorithm 3 with sigma^2 = n / d, d = 2^k: keep a Laplace(t) draw
  // y with probability exp(-gamma),
  //   gamma = (|y| - sigma^2 / t)^2 / (2 sigma^2) = (|y| t d - n)^2 / (2 n d t^2).
  // Any t >= 1 gives the exact distribution (the Laplace and acceptance
  // exponents sum to -y^2 / (2 sigma^2) plus a constant); t = floor(sigma) + 1
  // keeps the acceptance rate high.
  const Uint128 d = Uint128{1} << denominator_log2_;
  const Uint128 n = numerator_;
  const Uint128 t = t_;
  const Uint128 denominator = 2 * n * d * t * t;
  while (true) {
    const int64_t y = DiscreteLaplace(t_, gen);
    const Uint128 magnitude = static_cast<uint64_t>(y < 0 ? -y : y);
    const Uint128 scaled = magnitude * t * d;
    const Uint128 difference = scaled >= n ? scaled - n : n - scaled;
    if (BernoulliExp(difference * difference, denominator, gen)) return y;
  }
}

double DiscreteGaussianSampler::sigma_squared() const {
  return std::ldexp(static_cast<double>(numerator_), -denominator_log2_);
}

double DiscreteGaussianSampler::sigma() const { return std::sqrt(sigma_squared()); }

double DiscreteGaussianPmf(int64_t x, double sigma) {
  if (!(sigma > 0)) return std::numeric_limits<double>::quiet_NaN();
  const double normalizer = sigma < kDirectSumBelow
                                ? DirectMoment(sigma, 0)
                                : std::sqrt(2 * std::numbers::pi) * sigma * ThetaSum(sigma, 0);
  const double xd = static_cast<double>(x);
  return std::exp(-xd * xd / (2 * sigma * sigma)) / normalizer;
}

double DiscreteGaussianVariance(double sigma) {
  if (!(sigma > 0)) return std::numeric_limits<double>::quiet_NaN();
  if (sigma < kDirectSumBelow) return DirectMoment(sigma, 2) / DirectMoment(sigma, 0);
  // With Z(a) = sum_y exp(-a y^2) = sqrt(pi / a) sum_k exp(-pi^2 k^2 / a),
  // Var = -Z'(a) / Z(a) at a = 1 / (2 sigma^2).
  const double pi_squared = std::numbers::pi * std::numbers::pi;
  return sigma * sigma -
         4 * pi_squared * std::pow(sigma, 4) * ThetaSum(sigma, 2) / ThetaSum(sigma, 0);
}

namespace internal {

bool SampleBernoulliExp(uint64_t numerator, uint64_t denominator, absl::BitGenRef gen) {
  return BernoulliExp(numerator, denominator, gen);
}

int64_t SampleDiscreteLaplace(uint64_t t, absl::BitGenRef gen) { return DiscreteLaplace(t, gen); }

}  // namespace internal

}  // namespace cohort::privacy
