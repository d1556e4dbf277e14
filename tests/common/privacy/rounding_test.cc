#include "common/privacy/rounding.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::privacy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const double kDefaultBeta = std::exp(-0.5);

// A random vector of L2 norm `norm`, with coordinates of mixed signs.
std::vector<double> RandomVectorWithNorm(int dim, double norm, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::vector<double> v(static_cast<size_t>(dim));
  double s = 0;
  for (double& x : v) {
    x = normal(gen);
    s += x * x;
  }
  for (double& x : v) x *= norm / std::sqrt(s);
  return v;
}

int64_t SquaredNorm(const std::vector<int64_t>& v) {
  int64_t s = 0;
  for (int64_t x : v) s += x * x;
  return s;
}

TEST(ConditionalRoundingBoundTest, MatchesThePaperFormula) {
  struct Case {
    double norm;
    int dim;
    double beta;
    double bound;
  };
  // min{sqrt(c^2 + d/4 + sqrt(2 log(1/beta)) (c + sqrt(d)/2)), c + sqrt(d)},
  // evaluated independently (Python, double precision).
  const Case cases[] = {
      {.norm = 256, .dim = 32, .beta = kDefaultBeta, .bound = 256.5206198868324},
      {.norm = 0, .dim = 4, .beta = kDefaultBeta, .bound = 1.4142135623730951},
      {.norm = 1, .dim = 100, .beta = kDefaultBeta, .bound = 5.656854249492381},
      {.norm = 16, .dim = 16, .beta = 0.1, .bound = 17.280838766483768},
      {.norm = 10, .dim = 16, .beta = 0, .bound = 14},    // beta = 0: c + sqrt(d)
      {.norm = 0, .dim = 1, .beta = 1e-300, .bound = 1},  // c + sqrt(d) is smaller
  };
  for (const Case& c : cases) {
    EXPECT_NEAR(ConditionalRoundingBound(c.norm, c.dim, c.beta), c.bound, 1e-12 * (1 + c.bound))
        << c.norm << " " << c.dim << " " << c.beta;
  }
}

TEST(ConditionalRoundingBoundTest, NanOutsideTheDomain) {
  EXPECT_TRUE(std::isnan(ConditionalRoundingBound(-1, 4, 0.5)));
  EXPECT_TRUE(std::isnan(ConditionalRoundingBound(1, 0, 0.5)));
  EXPECT_TRUE(std::isnan(ConditionalRoundingBound(1, 4, 1)));
  EXPECT_TRUE(std::isnan(ConditionalRoundingBound(1, 4, -0.1)));
  EXPECT_TRUE(std::isnan(ConditionalRoundingBound(std::numeric_limits<double>::infinity(), 4, 0)));
}

TEST(ConditionalRoundTest, EveryOutputIsWithinTheBound) {
  std::mt19937_64 gen(1);
  for (int dim : {1, 8, 64, 512}) {
    const double norm = 20;
    const double bound = ConditionalRoundingBound(norm, dim, kDefaultBeta);
    for (int trial = 0; trial < 300; ++trial) {
      const std::vector<double> x = RandomVectorWithNorm(dim, norm, 1000 * dim + trial);
      const auto rounded = ConditionalRound(x, bound, gen, 100);
      ASSERT_TRUE(rounded.ok()) << rounded.status();
      ASSERT_EQ(rounded->size(), x.size());
      EXPECT_LE(static_cast<double>(SquaredNorm(*rounded)), bound * bound);
      for (size_t i = 0; i < x.size(); ++i) {
        EXPECT_LT(std::abs(static_cast<double>((*rounded)[i]) - x[i]), 1.0);
      }
    }
  }
}

TEST(ConditionalRoundTest, UnbiasedWithoutRejection) {
  // With bound c + sqrt(d) no draw is rejected, so each coordinate's mean is
  // exactly x_i; the standard error of a mean of n draws is <= 0.5 / sqrt(n).
  const std::vector<double> x = {0.5, -0.25, 3.9, -7.1, 0.0, 2.0, 1e-3, -0.999};
  const double bound = ConditionalRoundingBound(20, static_cast<int>(x.size()), 0);
  std::mt19937_64 gen(2);
  constexpr int kDraws = 40000;
  std::vector<double> sum(x.size(), 0.0);
  for (int t = 0; t < kDraws; ++t) {
    const auto rounded = ConditionalRound(x, bound, gen, 1);
    ASSERT_TRUE(rounded.ok()) << rounded.status();
    for (size_t i = 0; i < x.size(); ++i) sum[i] += static_cast<double>((*rounded)[i]);
  }
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(sum[i] / kDraws, x[i], 5 * 0.5 / std::sqrt(double{kDraws})) << i;
  }
}

TEST(ConditionalRoundTest, NearlyUnbiasedWithConditioning) {
  // With the tight bound some draws are rejected, which pulls the mean
  // slightly towards 0 (shorter vectors are kept more often). The pull is a
  // small fraction of a rounding unit, far below the rounding noise (std up
  // to 0.5 per coordinate per draw).
  const int dim = 64;
  const std::vector<double> x = RandomVectorWithNorm(dim, 16, 3);
  const double bound = ConditionalRoundingBound(16, dim, kDefaultBeta);
  std::mt19937_64 gen(4);
  constexpr int kDraws = 20000;
  std::vector<double> sum(dim, 0.0);
  for (int t = 0; t < kDraws; ++t) {
    const auto rounded = ConditionalRound(x, bound, gen, 100);
    ASSERT_TRUE(rounded.ok()) << rounded.status();
    for (int i = 0; i < dim; ++i) sum[i] += static_cast<double>((*rounded)[i]);
  }
  double squared_bias = 0;
  for (int i = 0; i < dim; ++i) {
    const double bias = sum[i] / kDraws - x[i];
    EXPECT_LT(std::abs(bias), 0.04) << i;
    squared_bias += bias * bias;
  }
  // Total bias is small next to the vector (norm 16) and to the rounding
  // noise (norm about sqrt(dim / 6) ~ 3.3 per draw).
  EXPECT_LT(std::sqrt(squared_bias), 0.12);
}

TEST(ConditionalRoundTest, OneTryFailsWithProbabilityAtMostBeta) {
  // Kairouz et al., Proposition 22: for ||x|| <= c, one randomized rounding
  // exceeds the tight bound with probability <= beta. Few dimensions and a
  // long vector make rejections common enough to count (in practice the rate
  // is well below beta: about 0.1 for beta = exp(-1/2) here).
  for (double beta : {0.1, kDefaultBeta}) {
    const int dim = 16;
    const double norm = 64;
    const double bound = ConditionalRoundingBound(norm, dim, beta);
    std::mt19937_64 gen(5);
    constexpr int kTrials = 4000;
    int failures = 0;
    for (int t = 0; t < kTrials; ++t) {
      const std::vector<double> x = RandomVectorWithNorm(dim, norm, 7000 + t);
      const auto rounded = ConditionalRound(x, bound, gen, 1);
      if (!rounded.ok()) {
        ASSERT_EQ(rounded.status().code(), absl::StatusCode::kResourceExhausted);
        ++failures;
      }
    }
    EXPECT_LE(static_cast<double>(failures) / kTrials,
              beta + 3 * std::sqrt(beta * (1 - beta) / kTrials))
        << beta;
    if (beta == kDefaultBeta) {
      EXPECT_GT(failures, 0);
    }
  }
}

TEST(ConditionalRoundTest, ExhaustsTriesWhenTheBoundIsOutOfReach) {
  // 64 halves fit in norm 0 only if all round down: probability 2^-64.
  const std::vector<double> x(64, 0.5);
  std::mt19937_64 gen(6);
  const auto rounded = ConditionalRound(x, 0.0, gen, 10);
  EXPECT_EQ(rounded.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(rounded.status().message(), HasSubstr("10 tries"));
}

TEST(ConditionalRoundTest, BoundIsEnforcedExactly) {
  // Integers round to themselves; (3, 4) has norm exactly 5.
  const std::vector<double> x = {3, 4};
  std::mt19937_64 gen(7);
  const auto at_bound = ConditionalRound(x, 5.0, gen, 1);
  ASSERT_TRUE(at_bound.ok()) << at_bound.status();
  EXPECT_THAT(*at_bound, ElementsAre(3, 4));
  EXPECT_EQ(ConditionalRound(x, std::nextafter(5.0, 0.0), gen, 3).status().code(),
            absl::StatusCode::kResourceExhausted);
  // b = 3.7416573867739413 is the largest double with b^2 < 14 exactly, yet
  // b * b rounds to 14.0: (1, 2, 3), of squared norm 14, must be rejected.
  const std::vector<double> v = {1, 2, 3};
  const double b = 3.7416573867739413;
  ASSERT_EQ(b * b, 14.0);
  EXPECT_EQ(ConditionalRound(v, b, gen, 3).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(ConditionalRound(v, std::nextafter(b, 4.0), gen, 1).ok());
}

TEST(ConditionalRoundTest, EmptyVector) {
  std::mt19937_64 gen(8);
  const auto rounded = ConditionalRound({}, 0.0, gen, 1);
  ASSERT_TRUE(rounded.ok());
  EXPECT_TRUE(rounded->empty());
}

TEST(ConditionalRoundTest, RejectsInvalidArguments) {
  std::mt19937_64 gen(9);
  const std::vector<double> x = {1.5, -2};
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(ConditionalRound(x, 3, gen, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConditionalRound(x, -1, gen, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConditionalRound(x, nan, gen, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConditionalRound(x, inf, gen, 1).status().code(), absl::StatusCode::kInvalidArgument);
  for (double bad : {nan, inf, -inf, 2 * kMaxRoundingMagnitude}) {
    const std::vector<double> y = {0, 1, bad};
    const auto rounded = ConditionalRound(y, 1e9, gen, 1);
    EXPECT_EQ(rounded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(rounded.status().message(), HasSubstr("x[2]"));
  }
}

}  // namespace
}  // namespace cohort::privacy
