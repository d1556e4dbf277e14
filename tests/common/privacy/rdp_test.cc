#include "common/privacy/rdp.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::privacy {
namespace {

// Independent reference: RDP of the sampled Gaussian straight from its
// definition, D_a(mixture || N(0, s^2)) = log(A_a) / (a - 1) with
//   A_a = integral N(z; 0, s^2) ((1 - q) + q exp((2z - 1) / (2 s^2)))^a dz,
// by Simpson's rule on the log-integrand (shifted by its maximum).
double NumericSampledGaussianRdp(double q, double sigma, double order) {
  const double lo = -40 * sigma, hi = order + 40 * sigma + 2;
  const int n = 200000;  // even
  const double h = (hi - lo) / n;
  std::vector<double> log_f(n + 1);
  for (int i = 0; i <= n; ++i) {
    const double z = lo + i * h;
    const double u = (2 * z - 1) / (2 * sigma * sigma);
    const double log_ratio = u > 700 ? std::log(q) + u : std::log(1 - q + q * std::exp(u));
    log_f[i] = -z * z / (2 * sigma * sigma) - 0.5 * std::log(2 * std::numbers::pi * sigma * sigma) +
               order * log_ratio;
  }
  const double peak = *std::max_element(log_f.begin(), log_f.end());
  double sum = 0;
  for (int i = 0; i <= n; ++i) {
    const double weight = (i == 0 || i == n) ? 1 : (i % 2 == 1 ? 4 : 2);
    sum += weight * std::exp(log_f[i] - peak);
  }
  return (peak + std::log(sum * h / 3)) / (order - 1);
}

struct RdpCase {
  double q;
  double sigma;
  double order;
};

TEST(SampledGaussianRdpTest, MatchesNumericalIntegrationAtIntegerAndFractionalOrders) {
  const std::vector<RdpCase> cases = {
      {.q = 0.01, .sigma = 1.0, .order = 1.5},   {.q = 0.01, .sigma = 1.0, .order = 2},
      {.q = 0.01, .sigma = 1.0, .order = 7.3},   {.q = 0.01, .sigma = 1.0, .order = 32},
      {.q = 0.0025, .sigma = 1.3, .order = 2.5}, {.q = 0.0025, .sigma = 1.3, .order = 12},
      {.q = 0.05, .sigma = 0.8, .order = 1.25},  {.q = 0.05, .sigma = 0.8, .order = 3},
      {.q = 0.2, .sigma = 2.0, .order = 4.7},    {.q = 0.5, .sigma = 1.0, .order = 1.1},
      {.q = 0.5, .sigma = 1.0, .order = 2.5},    {.q = 0.9, .sigma = 3.0, .order = 10},
      {.q = 0.001, .sigma = 0.6, .order = 20.5},
  };
  for (const RdpCase& c : cases) {
    SCOPED_TRACE(testing::Message() << "q=" << c.q << " sigma=" << c.sigma << " a=" << c.order);
    const double expected = NumericSampledGaussianRdp(c.q, c.sigma, c.order);
    EXPECT_NEAR(SampledGaussianRdp(c.q, c.sigma, c.order), expected, 1e-6 * expected);
  }
}

TEST(SampledGaussianRdpTest, WithoutSubsamplingIsExactlyOrderOverTwoSigmaSquared) {
  const std::vector<RdpCase> cases = {
      {.q = 1, .sigma = 1.0, .order = 2},    {.q = 1, .sigma = 1.3, .order = 2.5},
      {.q = 1, .sigma = 0.7, .order = 64},   {.q = 1, .sigma = 5.0, .order = 1.1},
      {.q = 1, .sigma = 2.0, .order = 1024},
  };
  for (const RdpCase& c : cases) {
    EXPECT_EQ(SampledGaussianRdp(c.q, c.sigma, c.order), c.order / (2 * c.sigma * c.sigma));
  }
}

TEST(SampledGaussianRdpTest, FractionalOrdersJoinIntegerOrdersContinuously) {
  for (double a : {2.0, 3.0, 10.0, 40.0}) {
    SCOPED_TRACE(a);
    const double at = SampledGaussianRdp(0.01, 1.1, a);
    EXPECT_NEAR(SampledGaussianRdp(0.01, 1.1, a - 1e-6), at, 1e-4 * at);
    EXPECT_NEAR(SampledGaussianRdp(0.01, 1.1, a + 1e-6), at, 1e-4 * at);
  }
}

TEST(SampledGaussianRdpTest, IncreasesWithOrderAndSamplingRateAndDecreasesWithNoise) {
  double previous = 0;
  for (double a : DefaultRdpOrders()) {
    const double r = SampledGaussianRdp(0.02, 1.0, a);
    EXPECT_GE(r, previous) << a;
    previous = r;
  }
  EXPECT_LT(SampledGaussianRdp(0.01, 1.0, 8), SampledGaussianRdp(0.02, 1.0, 8));
  EXPECT_LT(SampledGaussianRdp(0.01, 1.5, 8), SampledGaussianRdp(0.01, 1.0, 8));
}

TEST(PoissonSubsampledRdpTest, WithRateOneIsTheBaseCurve) {
  auto base = [](double a) { return a / 2 + 0.1; };
  EXPECT_EQ(PoissonSubsampledRdp(1.0, base, 5), base(5));
}

TEST(PoissonSubsampledRdpTest, BoundsTheExactSampledGaussianWithinTheTheoremsFactorThree) {
  // [ZW19] Theorem 6 is a general bound; for the Gaussian it must lie above
  // the exact [MTZ19] value.
  for (double q : {0.001, 0.01, 0.1}) {
    for (int64_t a : {2, 3, 8, 32}) {
      SCOPED_TRACE(testing::Message() << "q=" << q << " a=" << a);
      const double sigma = 1.2;
      auto base = [sigma](double order) { return order / (2 * sigma * sigma); };
      const double bound = PoissonSubsampledRdp(q, base, a);
      const double exact = SampledGaussianRdp(q, sigma, static_cast<double>(a));
      EXPECT_GE(bound, exact * (1 - 1e-12));
      EXPECT_LE(bound, base(static_cast<double>(a)));
      // The theorem's sum is the exact binomial expansion with the terms
      // l >= 3 tripled, so it exceeds A_a at most threefold.
      EXPECT_LE(bound, exact + std::log(3.0) / static_cast<double>(a - 1) + 1e-12);
    }
  }
}

TEST(PoissonSubsampledRdpTest, MatchesTheTheoremAtOrderTwo) {
  // At a = 2 the sum is (1-q)(1+q) + q^2 e^eps(2).
  const double q = 0.1, eps2 = 0.7;
  auto base = [eps2](double) { return eps2; };
  EXPECT_NEAR(PoissonSubsampledRdp(q, base, 2),
              std::log((1 - q) * (1 + q) + q * q * std::exp(eps2)), 1e-15);
}

TEST(DiscreteGaussianSumRdpTest, UsesTheNextIntegerOrderAndAddsTheSlack) {
  EXPECT_DOUBLE_EQ(DiscreteGaussianSumRdp(1.0, 2.0, 0.01, 2.5), 2.5 / 8 + 0.01);
  EXPECT_EQ(DiscreteGaussianSumRdp(0.1, 2.0, 0.01, 2.5), DiscreteGaussianSumRdp(0.1, 2.0, 0.01, 3));
  EXPECT_GT(DiscreteGaussianSumRdp(0.1, 2.0, 0.01, 3), DiscreteGaussianSumRdp(0.1, 2.0, 0.0, 3));
}

struct ConversionCase {
  std::string name;
  std::vector<double> orders;
  std::vector<double> rdp;
  double delta;
  double epsilon;
  double order;
};

TEST(RdpCurveToEpsilonTest, AppliesCanonneKamathSteinkeProposition12) {
  const auto cks = [](double a, double r, double d) {
    return r + std::log((a - 1) / a) - (std::log(d) + std::log(a)) / (a - 1);
  };
  const std::vector<ConversionCase> cases = {
      {.name = "single order",
       .orders = {8},
       .rdp = {0.5},
       .delta = 1e-5,
       .epsilon = cks(8, 0.5, 1e-5),
       .order = 8},
      {.name = "minimum over orders",
       .orders = {2, 8, 32},
       .rdp = {0.2, 0.5, 3.0},
       .delta = 1e-5,
       .epsilon = std::min({cks(2, 0.2, 1e-5), cks(8, 0.5, 1e-5), cks(32, 3.0, 1e-5)}),
       .order = 8},
      {.name = "infinite rdp skipped",
       .orders = {2, 4},
       .rdp = {INFINITY, 1.0},
       .delta = 1e-6,
       .epsilon = cks(4, 1.0, 1e-6),
       .order = 4},
      // delta^2 = 0.01 >= 1 - e^-0.001: Bretagnolle-Huber gives (0, delta).
      {.name = "tiny divergence",
       .orders = {2},
       .rdp = {0.001},
       .delta = 0.1,
       .epsilon = 0,
       .order = 0},
  };
  for (const ConversionCase& c : cases) {
    SCOPED_TRACE(c.name);
    const RdpConversion got = RdpCurveToEpsilon(c.orders, c.rdp, c.delta);
    EXPECT_NEAR(got.epsilon, c.epsilon, 1e-12);
    EXPECT_EQ(got.order, c.order);
  }
}

TEST(DefaultRdpOrdersTest, CoverDpAccountingAndOpacusGrids) {
  absl::Span<const double> orders = DefaultRdpOrders();
  EXPECT_TRUE(std::is_sorted(orders.begin(), orders.end()));
  for (double a :
       {1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.5, 10.9, 11.0, 63.0, 128.0, 256.0, 512.0, 1024.0}) {
    EXPECT_THAT(orders, testing::Contains(testing::DoubleEq(a))) << a;
  }
  EXPECT_GT(orders.front(), 1.0);
}

}  // namespace
}  // namespace cohort::privacy
