#include "common/privacy/pld.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/privacy/analytic_gaussian.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::privacy {
namespace {

using ::testing::HasSubstr;

double TotalMass(const DiscretePld& pld) {
  return std::accumulate(pld.masses.begin(), pld.masses.end(), pld.infinity_mass);
}

struct MechanismCase {
  double q;
  double sigma;
  PldDirection direction;
};

std::string Describe(const MechanismCase& c) {
  return testing::PrintToString(c.q) + "/" + testing::PrintToString(c.sigma) +
         (c.direction == PldDirection::kRemove ? "/remove" : "/add");
}

const std::vector<MechanismCase>& MechanismCases() {
  static const auto* cases = new std::vector<MechanismCase>{
      {.q = 1, .sigma = 1, .direction = PldDirection::kRemove},
      {.q = 1, .sigma = 1, .direction = PldDirection::kAdd},
      {.q = 0.01, .sigma = 0.9, .direction = PldDirection::kRemove},
      {.q = 0.01, .sigma = 0.9, .direction = PldDirection::kAdd},
      {.q = 0.3, .sigma = 2, .direction = PldDirection::kRemove},
      {.q = 0.3, .sigma = 2, .direction = PldDirection::kAdd},
  };
  return *cases;
}

TEST(SampledGaussianDeltaTest, WithoutSubsamplingIsTheAnalyticGaussianInBothDirections) {
  for (double sigma : {0.5, 1.0, 3.0}) {
    for (double eps : {-1.0, 0.0, 0.5, 2.0, 6.0}) {
      const double expected = AnalyticGaussianDelta(1 / sigma, eps);
      EXPECT_NEAR(SampledGaussianDelta(1, sigma, PldDirection::kRemove, eps), expected,
                  1e-14 + 1e-10 * expected);
      EXPECT_NEAR(SampledGaussianDelta(1, sigma, PldDirection::kAdd, eps), expected,
                  1e-14 + 1e-10 * expected);
    }
  }
}

TEST(SampledGaussianDeltaTest, MatchesNumericalHockeyStickIntegral) {
  // delta(eps) = integral (p(x) - e^eps q(x))_+ dx with the densities of the
  // pair, by the midpoint rule on a fine grid.
  for (const MechanismCase& c : MechanismCases()) {
    for (double eps : {0.0, 0.01, 0.5, 1.5}) {
      SCOPED_TRACE(Describe(c) + " eps=" + testing::PrintToString(eps));
      auto normal = [&](double x, double mean) {
        const double z = (x - mean) / c.sigma;
        return std::exp(-0.5 * z * z) / (c.sigma * std::sqrt(2 * M_PI));
      };
      const double lo = -15 * c.sigma, hi = 1 + 15 * c.sigma, h = (hi - lo) / 400000;
      double integral = 0;
      for (double x = lo + h / 2; x < hi; x += h) {
        const double mixture = (1 - c.q) * normal(x, 0) + c.q * normal(x, 1);
        const double p = c.direction == PldDirection::kRemove ? mixture : normal(x, 0);
        const double q = c.direction == PldDirection::kRemove ? normal(x, 0) : mixture;
        integral += std::max(0.0, p - std::exp(eps) * q) * h;
      }
      EXPECT_NEAR(SampledGaussianDelta(c.q, c.sigma, c.direction, eps), integral,
                  1e-9 + 1e-6 * integral);
    }
  }
}

TEST(DiscretizeSampledGaussianTest, IsAProbabilityDistributionThatDominatesTheMechanism) {
  for (const MechanismCase& c : MechanismCases()) {
    SCOPED_TRACE(Describe(c));
    const double interval = 1e-3;
    const DiscretePld pld = DiscretizeSampledGaussian(c.q, c.sigma, c.direction, interval, 1e-12);
    EXPECT_NEAR(TotalMass(pld), 1.0, 1e-10);
    EXPECT_LE(pld.infinity_mass, 1e-12);
    for (double m : pld.masses) ASSERT_GE(m, 0);
    // Connect the dots: exact at grid points, above the true curve between.
    for (int64_t j : {-300, -20, 0, 1, 7, 150, 900, 2500}) {
      const double at = static_cast<double>(j) * interval;
      const double exact = SampledGaussianDelta(c.q, c.sigma, c.direction, at);
      EXPECT_NEAR(pld.DeltaForEpsilon(at), exact, 1e-12 + 1e-7 * exact) << "eps=" << at;
      const double between = at + 0.37 * interval;
      EXPECT_GE(pld.DeltaForEpsilon(between),
                SampledGaussianDelta(c.q, c.sigma, c.direction, between) - 1e-13)
          << "eps=" << between;
    }
  }
}

TEST(DiscretePldTest, EpsilonForDeltaInvertsDeltaForEpsilon) {
  const DiscretePld pld = DiscretizeSampledGaussian(0.05, 1.0, PldDirection::kRemove, 1e-3, 1e-14);
  ASSERT_GT(pld.DeltaForEpsilon(0), 1e-2);
  for (double delta : {1e-2, 1e-4, 1e-6, 1e-9}) {
    const double eps = pld.EpsilonForDelta(delta);
    EXPECT_NEAR(pld.DeltaForEpsilon(eps), delta, 1e-9 * delta) << delta;
  }
}

TEST(DiscretePldTest, EpsilonForDeltaHandlesTheEnds) {
  DiscretePld pld{.interval = 0.1, .first_index = 5, .masses = {0.5, 0.3}, .infinity_mass = 0.2};
  EXPECT_EQ(pld.EpsilonForDelta(0.2), std::numeric_limits<double>::infinity());
  EXPECT_EQ(pld.EpsilonForDelta(0.15), std::numeric_limits<double>::infinity());
  // delta(0) = 0.2 + 0.5 (1 - e^-0.5) + 0.3 (1 - e^-0.6) ~ 0.532: anything
  // above needs epsilon 0.
  EXPECT_EQ(pld.EpsilonForDelta(0.6), 0);
  // Between the two masses, delta(eps) = 0.2 + 0.3 (1 - e^(eps - 0.6)).
  EXPECT_NEAR(pld.EpsilonForDelta(0.22), 0.6 + std::log(1 - 0.02 / 0.3), 1e-12);
  // Below both, delta(eps) = 1 - e^eps (0.5 e^-0.5 + 0.3 e^-0.6).
  EXPECT_NEAR(pld.EpsilonForDelta(0.4),
              std::log(0.6 / (0.5 * std::exp(-0.5) + 0.3 * std::exp(-0.6))), 1e-12);
}

TEST(ComposePldsTest, SelfCompositionMatchesTheAnalyticGaussian) {
  // k Gaussians with sigma compose to one with mu = sqrt(k) / sigma.
  const DiscretePld one = DiscretizeSampledGaussian(1, 2.0, PldDirection::kRemove, 1e-3, 1e-13);
  for (int64_t k : {1, 4, 25}) {
    const PldFactor factor{&one, k};
    absl::StatusOr<DiscretePld> composed = ComposePlds({&factor, 1}, 1e-13, int64_t{1} << 22);
    ASSERT_TRUE(composed.ok()) << composed.status();
    EXPECT_NEAR(TotalMass(*composed), 1.0, 1e-9);
    const double mu = std::sqrt(static_cast<double>(k)) / 2.0;
    for (double eps : {0.0, 0.5, 2.0, 4.0}) {
      const double exact = AnalyticGaussianDelta(mu, eps);
      // Pessimistic, and tight.
      EXPECT_GE(composed->DeltaForEpsilon(eps), exact * (1 - 1e-9)) << k << " " << eps;
      EXPECT_NEAR(composed->DeltaForEpsilon(eps), exact, 1e-11 + 1e-4 * exact) << k << " " << eps;
    }
  }
}

TEST(ComposePldsTest, DifferentFactorsComposeByConvolution) {
  // Gaussians with sigma 1 and 2 compose to mu = sqrt(1 + 1/4).
  const DiscretePld a = DiscretizeSampledGaussian(1, 1.0, PldDirection::kRemove, 1e-3, 1e-13);
  const DiscretePld b = DiscretizeSampledGaussian(1, 2.0, PldDirection::kRemove, 1e-3, 1e-13);
  const std::vector<PldFactor> factors = {{&a, 1}, {&b, 1}};
  absl::StatusOr<DiscretePld> composed = ComposePlds(factors, 1e-13, int64_t{1} << 22);
  ASSERT_TRUE(composed.ok()) << composed.status();
  for (double eps : {0.0, 1.0, 3.0}) {
    const double exact = AnalyticGaussianDelta(std::sqrt(1.25), eps);
    EXPECT_NEAR(composed->DeltaForEpsilon(eps), exact, 1e-11 + 1e-4 * exact) << eps;
  }
}

TEST(ComposePldsTest, RejectsBadInput) {
  const DiscretePld a = DiscretizeSampledGaussian(1, 1.0, PldDirection::kRemove, 1e-3, 1e-10);
  const DiscretePld b = DiscretizeSampledGaussian(1, 1.0, PldDirection::kRemove, 2e-3, 1e-10);
  EXPECT_EQ(ComposePlds({}, 1e-10, 1000).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<PldFactor> mixed = {{&a, 1}, {&b, 1}};
  absl::Status status = ComposePlds(mixed, 1e-10, int64_t{1} << 22).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("intervals differ"));
  const PldFactor many{&a, 1000000};
  EXPECT_EQ(ComposePlds({&many, 1}, 1e-10, 1000).status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace cohort::privacy
