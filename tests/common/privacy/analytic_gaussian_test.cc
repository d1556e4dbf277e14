#include "common/privacy/analytic_gaussian.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::privacy {
namespace {

using ::testing::HasSubstr;

// delta(eps) = integral (p - e^eps q)_+ for p = N(mu, 1), q = N(0, 1), by
// the midpoint rule.
double NumericHockeyStick(double mu, double eps) {
  const double lo = -20, hi = mu + 20, h = (hi - lo) / 400000;
  double sum = 0;
  for (double x = lo + h / 2; x < hi; x += h) {
    const double p = std::exp(-0.5 * (x - mu) * (x - mu));
    const double q = std::exp(-0.5 * x * x);
    sum += std::max(0.0, p - std::exp(eps) * q);
  }
  return sum * h / std::sqrt(2 * M_PI);
}

struct DeltaCase {
  double mu;
  double epsilon;
};

TEST(AnalyticGaussianDeltaTest, MatchesTheHockeyStickIntegral) {
  const std::vector<DeltaCase> cases = {
      {.mu = 1, .epsilon = 0}, {.mu = 1, .epsilon = 1}, {.mu = 0.2, .epsilon = 0.1},
      {.mu = 3, .epsilon = 2}, {.mu = 3, .epsilon = 8}, {.mu = 0.5, .epsilon = 2.5},
  };
  for (const DeltaCase& c : cases) {
    const double expected = NumericHockeyStick(c.mu, c.epsilon);
    EXPECT_NEAR(AnalyticGaussianDelta(c.mu, c.epsilon), expected, 1e-12 + 1e-6 * expected)
        << c.mu << " " << c.epsilon;
  }
}

TEST(AnalyticGaussianDeltaTest, AtZeroIsTheTotalVariationDistance) {
  // TV(N(mu, 1), N(0, 1)) = 2 Phi(mu / 2) - 1 = erf(mu / (2 sqrt 2)).
  for (double mu : {0.1, 1.0, 4.0}) {
    EXPECT_NEAR(AnalyticGaussianDelta(mu, 0), std::erf(mu / (2 * std::sqrt(2.0))), 1e-15);
  }
}

TEST(AnalyticGaussianDeltaTest, LargeEpsilonGivesZeroNotNan) {
  EXPECT_EQ(AnalyticGaussianDelta(1, 800), 0);
}

TEST(AnalyticGaussianEpsilonTest, InvertsDelta) {
  for (double sigma : {0.7, 1.0, 5.0}) {
    for (int64_t count : {1, 30}) {
      for (double delta : {1e-3, 1e-5, 1e-9}) {
        absl::StatusOr<double> eps = AnalyticGaussianEpsilon(sigma, count, delta);
        ASSERT_TRUE(eps.ok());
        const double mu = std::sqrt(static_cast<double>(count)) / sigma;
        EXPECT_NEAR(AnalyticGaussianDelta(mu, *eps), delta, 1e-8 * delta);
      }
    }
  }
  // Enough delta for epsilon 0.
  EXPECT_EQ(*AnalyticGaussianEpsilon(10, 1, 0.5), 0);
}

TEST(AnalyticGaussianEpsilonTest, BadInputNamesTheArgument) {
  EXPECT_THAT(std::string(AnalyticGaussianEpsilon(0, 1, 1e-5).status().message()),
              HasSubstr("noise_multiplier"));
  EXPECT_THAT(std::string(AnalyticGaussianEpsilon(1, 0, 1e-5).status().message()),
              HasSubstr("count"));
  EXPECT_THAT(std::string(AnalyticGaussianEpsilon(1, 1, 1).status().message()), HasSubstr("delta"));
}

}  // namespace
}  // namespace cohort::privacy
