#include "common/privacy/discrete_gaussian.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numbers>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::privacy {
namespace {

using ::testing::HasSubstr;

// Regularized lower incomplete gamma P(a, x) by its power series
// P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a + 1) ... (a + n)),
// which converges for all x > 0 (terms shrink once n > x).
double RegularizedLowerGamma(double a, double x) {
  if (x <= 0) return 0;
  double term = 1;
  double sum = 1;
  for (int n = 1; n < 100000; ++n) {
    term *= x / (a + n);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return std::exp(a * std::log(x) - x - std::lgamma(a + 1)) * sum;
}

// P[chi^2_df >= statistic].
double ChiSquarePValue(double statistic, int df) {
  return 1 - RegularizedLowerGamma(df / 2.0, statistic / 2.0);
}

TEST(ChiSquarePValueTest, MatchesPublishedCriticalValues) {
  struct Case {
    int df;
    double statistic;
    double p_value;
  };
  // Upper-tail critical values from standard chi-square tables.
  const Case cases[] = {
      {.df = 1, .statistic = 3.841459, .p_value = 0.05},
      {.df = 4, .statistic = 0.710723, .p_value = 0.95},
      {.df = 10, .statistic = 18.307038, .p_value = 0.05},
      {.df = 50, .statistic = 67.504807, .p_value = 0.05},
      {.df = 100, .statistic = 135.806723, .p_value = 0.01},
  };
  for (const Case& c : cases) {
    EXPECT_NEAR(ChiSquarePValue(c.statistic, c.df), c.p_value, 1e-5) << "df " << c.df;
  }
}

// Pearson's chi-square test of `counts` (value -> count over n draws)
// against `pmf`, one bin per value with expected count >= 10 around 0 and
// both tails beyond it pooled into one bin. Returns the p-value.
template <typename Pmf>
double GoodnessOfFit(const std::map<int64_t, int64_t>& counts, int64_t n, Pmf pmf) {
  const double total = static_cast<double>(n);
  int64_t limit = 0;
  while (total * pmf(limit + 1) >= 10) ++limit;
  double statistic = 0;
  double inner_probability = 0;
  int64_t inner_count = 0;
  for (int64_t x = -limit; x < limit + 1; ++x) {
    if (x == -limit || x == limit) continue;  // pooled with the tails below
    const double expected = total * pmf(x);
    const auto it = counts.find(x);
    const double observed = it == counts.end() ? 0.0 : static_cast<double>(it->second);
    statistic += (observed - expected) * (observed - expected) / expected;
    inner_probability += pmf(x);
    inner_count += static_cast<int64_t>(observed);
  }
  const double tail_expected = total * (1 - inner_probability);
  const double tail_observed = static_cast<double>(n - inner_count);
  statistic += (tail_observed - tail_expected) * (tail_observed - tail_expected) / tail_expected;
  const int bins = static_cast<int>(2 * limit - 1) + 1;
  return ChiSquarePValue(statistic, bins - 1);
}

TEST(DiscreteGaussianSamplerTest, CreateRejectsInvalidSigma) {
  for (double sigma :
       {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(),
        std::numeric_limits<double>::infinity(), 2.0 * kMaxDiscreteGaussianSigma, 1e-9}) {
    const auto sampler = DiscreteGaussianSampler::Create(sigma);
    EXPECT_EQ(sampler.status().code(), absl::StatusCode::kInvalidArgument) << sigma;
    EXPECT_THAT(sampler.status().message(), HasSubstr("sigma")) << sigma;
  }
}

TEST(DiscreteGaussianSamplerTest, SigmaIsTheExactRationalUsed) {
  struct Case {
    double requested;
    double sigma_squared;  // the exact value the sampler uses
  };
  const Case cases[] = {
      {.requested = std::sqrt(0.5), .sigma_squared = 0.5},
      {.requested = 3, .sigma_squared = 9},
      {.requested = 0.75, .sigma_squared = 0.5625},
      {.requested = 1 << 20, .sigma_squared = std::ldexp(1.0, 40)},
  };
  for (const Case& c : cases) {
    const auto sampler = DiscreteGaussianSampler::Create(c.requested);
    ASSERT_TRUE(sampler.ok()) << sampler.status();
    EXPECT_EQ(sampler->sigma_squared(), c.sigma_squared) << c.requested;
    EXPECT_EQ(sampler->sigma(), std::sqrt(c.sigma_squared)) << c.requested;
  }
  for (double sigma : {0.01, 0.8, 1.7, 20.3, 12345.678, 1e6}) {
    const auto sampler = DiscreteGaussianSampler::Create(sigma);
    ASSERT_TRUE(sampler.ok()) << sampler.status();
    EXPECT_NEAR(sampler->sigma_squared() / (sigma * sigma), 1, sigma >= 0.5 ? 1e-14 : 1e-10)
        << sigma;
  }
}

TEST(DiscreteGaussianSamplerTest, SameGeneratorStateSameDraws) {
  const auto sampler = DiscreteGaussianSampler::Create(7.5);
  ASSERT_TRUE(sampler.ok());
  std::mt19937_64 a(42);
  std::mt19937_64 b(42);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sampler->Sample(a), sampler->Sample(b));
}

class DiscreteGaussianFitTest : public ::testing::TestWithParam<double> {};

TEST_P(DiscreteGaussianFitTest, ChiSquareGoodnessOfFit) {
  const double sigma = GetParam();
  const auto sampler = DiscreteGaussianSampler::Create(sigma);
  ASSERT_TRUE(sampler.ok()) << sampler.status();
  std::mt19937_64 gen(20210101);
  constexpr int64_t kDraws = 100000;
  std::map<int64_t, int64_t> counts;
  for (int64_t i = 0; i < kDraws; ++i) ++counts[sampler->Sample(gen)];
  const double p_value = GoodnessOfFit(
      counts, kDraws, [&](int64_t x) { return DiscreteGaussianPmf(x, sampler->sigma()); });
  EXPECT_GT(p_value, 1e-3) << "sigma " << sigma;
}

TEST_P(DiscreteGaussianFitTest, MomentsAndSymmetry) {
  const double sigma = GetParam();
  const auto sampler = DiscreteGaussianSampler::Create(sigma);
  ASSERT_TRUE(sampler.ok()) << sampler.status();
  std::mt19937_64 gen(777);
  constexpr int kDraws = 100000;
  double sum = 0;
  double sum_squares = 0;
  int64_t positive = 0;
  int64_t negative = 0;
  for (int i = 0; i < kDraws; ++i) {
    const auto x = static_cast<double>(sampler->Sample(gen));
    sum += x;
    sum_squares += x * x;
    positive += x > 0;
    negative += x < 0;
  }
  const double variance = DiscreteGaussianVariance(sampler->sigma());
  // Standard errors: sqrt(Var / n) for the mean, about Var sqrt(2 / n) for
  // the second moment; allow 5 of each.
  EXPECT_NEAR(sum / kDraws, 0, 5 * std::sqrt(variance / kDraws));
  EXPECT_NEAR(sum_squares / kDraws / variance, 1, 5 * std::sqrt(2.0 / kDraws));
  EXPECT_LE(std::abs(positive - negative), 5 * std::sqrt(double(positive + negative)));
}

INSTANTIATE_TEST_SUITE_P(Sigmas, DiscreteGaussianFitTest,
                         ::testing::Values(0.3, 0.8, 3.0, 20.0, 1000.0));

TEST(DiscreteGaussianSamplerTest, LargestSigmaWorks) {
  const auto sampler = DiscreteGaussianSampler::Create(kMaxDiscreteGaussianSigma);
  ASSERT_TRUE(sampler.ok()) << sampler.status();
  std::mt19937_64 gen(5);
  constexpr int kDraws = 20000;
  double sum_squares = 0;
  for (int i = 0; i < kDraws; ++i) {
    const auto x = static_cast<double>(sampler->Sample(gen));
    ASSERT_LT(std::abs(x), 64 * (kMaxDiscreteGaussianSigma + 1));
    sum_squares += x * x;
  }
  EXPECT_NEAR(std::sqrt(sum_squares / kDraws) / kMaxDiscreteGaussianSigma, 1, 0.03);
}

// Independent references: plain sums over a wide range in long double.
long double ReferenceMoment(double sigma, int power) {
  const auto limit = static_cast<int64_t>(60 * sigma) + 10;
  long double sum = 0;
  for (int64_t y = -limit; y <= limit; ++y) {
    const long double yl = y;
    sum += std::pow(yl, power) * std::exp(-yl * yl / (2.0L * sigma * sigma));
  }
  return sum;
}

TEST(DiscreteGaussianPmfTest, MatchesDirectSummation) {
  // 3.9 and 4.1 straddle the switch from direct to Poisson summation.
  for (double sigma : {0.1, 0.5, 0.8, 2.0, 3.9, 4.1, 20.0, 300.0}) {
    const long double normalizer = ReferenceMoment(sigma, 0);
    for (int64_t x : {0, 1, -1, 2, 5, -17, 100}) {
      const double expected = static_cast<double>(
          std::exp(-static_cast<long double>(x) * x / (2.0L * sigma * sigma)) / normalizer);
      // Far in the tails exp() of an argument near -300 amplifies its
      // rounding error to a relative ~1e-13.
      EXPECT_NEAR(DiscreteGaussianPmf(x, sigma), expected, 1e-12 * expected)
          << "sigma " << sigma << " x " << x;
    }
    const double variance = static_cast<double>(ReferenceMoment(sigma, 2) / normalizer);
    EXPECT_NEAR(DiscreteGaussianVariance(sigma), variance, 1e-12 * variance) << sigma;
  }
}

TEST(DiscreteGaussianPmfTest, KnownValues) {
  struct Case {
    double sigma;
    double pmf_at_zero;
    double variance;
  };
  // For small sigma the mass is on {-1, 0, 1}: with q = exp(-1 / (2 sigma^2)),
  // P[0] ~ 1 / (1 + 2q) and Var ~ 2q / (1 + 2q). For large sigma, P[0] ~
  // 1 / (sqrt(2 pi) sigma) and Var ~ sigma^2.
  const double q = std::exp(-1 / (2 * 0.2 * 0.2));
  const Case cases[] = {
      {.sigma = 0.2, .pmf_at_zero = 1 / (1 + 2 * q), .variance = 2 * q / (1 + 2 * q)},
      {.sigma = 100, .pmf_at_zero = 1 / (std::sqrt(2 * std::numbers::pi) * 100), .variance = 1e4},
  };
  for (const Case& c : cases) {
    EXPECT_NEAR(DiscreteGaussianPmf(0, c.sigma), c.pmf_at_zero, 1e-9 * c.pmf_at_zero);
    EXPECT_NEAR(DiscreteGaussianVariance(c.sigma), c.variance, 1e-9 * c.variance);
  }
  EXPECT_LT(DiscreteGaussianVariance(0.8), 0.64);
  EXPECT_TRUE(std::isnan(DiscreteGaussianPmf(0, 0)));
  EXPECT_TRUE(std::isnan(DiscreteGaussianVariance(-1)));
}

TEST(BernoulliExpTest, RateIsExpOfMinusGamma) {
  struct Case {
    uint64_t numerator;
    uint64_t denominator;
  };
  const Case cases[] = {{0, 1}, {1, 4}, {1, 1}, {5, 2}, {7, 3}, {6, 1}, {1000, 999}};
  std::mt19937_64 gen(99);
  constexpr int kDraws = 200000;
  for (const Case& c : cases) {
    int64_t ones = 0;
    for (int i = 0; i < kDraws; ++i)
      ones += internal::SampleBernoulliExp(c.numerator, c.denominator, gen);
    const double p = std::exp(-static_cast<double>(c.numerator) / c.denominator);
    EXPECT_NEAR(static_cast<double>(ones) / kDraws, p, 5 * std::sqrt(p * (1 - p) / kDraws) + 1e-9)
        << c.numerator << "/" << c.denominator;
  }
}

TEST(DiscreteLaplaceTest, ChiSquareGoodnessOfFit) {
  for (uint64_t t : {1u, 3u, 10u}) {
    std::mt19937_64 gen(1234 + t);
    constexpr int64_t kDraws = 100000;
    std::map<int64_t, int64_t> counts;
    for (int64_t i = 0; i < kDraws; ++i) ++counts[internal::SampleDiscreteLaplace(t, gen)];
    const double r = std::exp(-1.0 / static_cast<double>(t));
    const double p_value = GoodnessOfFit(counts, kDraws, [&](int64_t x) {
      return (1 - r) / (1 + r) * std::pow(r, std::abs(static_cast<double>(x)));
    });
    EXPECT_GT(p_value, 1e-3) << "t " << t;
  }
}

}  // namespace
}  // namespace cohort::privacy
