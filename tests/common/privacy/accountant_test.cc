#include "common/privacy/accountant.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/privacy/analytic_gaussian.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::privacy {
namespace {

using ::testing::HasSubstr;
using Mechanism = PrivacyEvent::Mechanism;

PrivacyEvent Gaussian(double q, double sigma, int64_t count) {
  return {.sampling_rate = q, .noise_multiplier = sigma, .count = count};
}

double Rdp(const std::vector<PrivacyEvent>& events, double delta) {
  absl::StatusOr<double> eps = RdpEpsilon(events, delta);
  EXPECT_TRUE(eps.ok()) << eps.status();
  return eps.value_or(NAN);
}

double Pld(const std::vector<PrivacyEvent>& events, double delta) {
  absl::StatusOr<double> eps = PldEpsilon(events, delta);
  EXPECT_TRUE(eps.ok()) << eps.status();
  return eps.value_or(NAN);
}

struct DpSgdCase {
  std::string name;
  double q;
  double sigma;
  int64_t steps;
  double delta;
  double epsilon = 0;  // Reference value, where there is one.
};

// Published RDP values (tight conversion of [CKS20] Prop. 12 over a
// dp_accounting-like grid of orders).
TEST(RdpEpsilonTest, MatchesPublishedValues) {
  const std::vector<DpSgdCase> cases = {
      {.name = "MNIST 150/60000",
       .q = 150.0 / 60000,
       .sigma = 1.3,
       .steps = 6000,
       .delta = 1e-5,
       .epsilon = 0.72422},
      {.name = "100/100000",
       .q = 100.0 / 100000,
       .sigma = 1.0,
       .steps = 30000,
       .delta = 1e-7,
       .epsilon = 1.41550},
  };
  for (const DpSgdCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_NEAR(Rdp({Gaussian(c.q, c.sigma, c.steps)}, c.delta), c.epsilon, 0.005 * c.epsilon);
  }
}

TEST(PldEpsilonTest, IsBelowRdp) {
  const std::vector<DpSgdCase> cases = {
      {.name = "MNIST 150/60000", .q = 150.0 / 60000, .sigma = 1.3, .steps = 6000, .delta = 1e-5},
      {.name = "100/100000", .q = 100.0 / 100000, .sigma = 1.0, .steps = 30000, .delta = 1e-7},
      {.name = "high rate", .q = 0.05, .sigma = 1.1, .steps = 200, .delta = 1e-5},
      {.name = "low noise", .q = 0.01, .sigma = 0.8, .steps = 1000, .delta = 1e-5},
      {.name = "half the data", .q = 0.5, .sigma = 1.0, .steps = 10, .delta = 1e-5},
      {.name = "full batch", .q = 1.0, .sigma = 4.0, .steps = 50, .delta = 1e-6},
      {.name = "one step", .q = 0.1, .sigma = 2.0, .steps = 1, .delta = 1e-3},
  };
  for (const DpSgdCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::vector<PrivacyEvent> events = {Gaussian(c.q, c.sigma, c.steps)};
    const double rdp = Rdp(events, c.delta);
    const double pld = Pld(events, c.delta);
    EXPECT_LT(pld, rdp);
    // Both bound the same quantity; RDP is loose by tens of percent at most.
    EXPECT_GT(pld, 0.5 * rdp);
  }
}

TEST(PldEpsilonTest, WithoutSamplingMatchesTheAnalyticGaussian) {
  for (double sigma : {1.0, 2.0, 5.0}) {
    for (int64_t count : {1, 10, 100}) {
      SCOPED_TRACE(testing::Message() << "sigma=" << sigma << " count=" << count);
      absl::StatusOr<double> exact = AnalyticGaussianEpsilon(sigma, count, 1e-5);
      ASSERT_TRUE(exact.ok());
      const double pld = Pld({Gaussian(1, sigma, count)}, 1e-5);
      EXPECT_NEAR(pld, *exact, 0.01 * *exact);
      EXPECT_GE(pld, *exact);  // Pessimistic.
    }
  }
}

TEST(RdpEpsilonTest, WithoutSamplingIsTheClosedFormCurve) {
  // count a / (2 sigma^2) at each order, converted; no better order exists
  // than the grid's, so the result is at least the continuous optimum.
  for (double sigma : {1.0, 3.0}) {
    const double rdp = Rdp({Gaussian(1, sigma, 10)}, 1e-5);
    double best = INFINITY;
    for (double a = 1.01; a < 2000; a *= 1.001) {
      const double r = 10 * a / (2 * sigma * sigma);
      best = std::min(best, r + std::log((a - 1) / a) - (std::log(1e-5) + std::log(a)) / (a - 1));
    }
    EXPECT_GE(rdp, best - 1e-12);
    EXPECT_NEAR(rdp, best, 0.01 * best);
  }
}

struct MonotonicityCase {
  std::string name;
  std::vector<PrivacyEvent> increasing;  // Each event costs more than the one before.
};

TEST(AccountantTest, EpsilonGrowsWithRateAndCountAndShrinksWithNoise) {
  const std::vector<MonotonicityCase> cases = {
      {.name = "noise",
       .increasing = {Gaussian(0.01, 3, 1000), Gaussian(0.01, 1.5, 1000), Gaussian(0.01, 1, 1000),
                      Gaussian(0.01, 0.8, 1000)}},
      {.name = "count",
       .increasing = {Gaussian(0.01, 1, 10), Gaussian(0.01, 1, 100), Gaussian(0.01, 1, 1000),
                      Gaussian(0.01, 1, 10000)}},
      {.name = "rate",
       .increasing = {Gaussian(0.001, 1, 100), Gaussian(0.01, 1, 100), Gaussian(0.1, 1, 100),
                      Gaussian(1, 1, 100)}},
  };
  for (const MonotonicityCase& c : cases) {
    SCOPED_TRACE(c.name);
    double rdp_before = 0, pld_before = 0;
    for (const PrivacyEvent& e : c.increasing) {
      const double rdp = Rdp({e}, 1e-5), pld = Pld({e}, 1e-5);
      EXPECT_GT(rdp, rdp_before);
      EXPECT_GT(pld, pld_before);
      rdp_before = rdp;
      pld_before = pld;
    }
  }
}

TEST(AccountantTest, ComposingCountsAddsThem) {
  const std::vector<PrivacyEvent> split = {Gaussian(0.02, 1.1, 300), Gaussian(0.02, 1.1, 700)};
  const std::vector<PrivacyEvent> whole = {Gaussian(0.02, 1.1, 1000)};
  EXPECT_NEAR(Rdp(split, 1e-6), Rdp(whole, 1e-6), 1e-9);
  EXPECT_NEAR(Pld(split, 1e-6), Pld(whole, 1e-6), 1e-9);
}

TEST(AccountantTest, ComposesDifferentEvents) {
  // Unsampled Gaussians with sigma 1 and 2 compose exactly like one with
  // 1/sigma^2 = 1 + 1/4.
  const std::vector<PrivacyEvent> pair = {Gaussian(1, 1, 1), Gaussian(1, 2, 1)};
  const double sigma = 1 / std::sqrt(1.25);
  EXPECT_NEAR(Rdp(pair, 1e-5), Rdp({Gaussian(1, sigma, 1)}, 1e-5), 1e-9);
  absl::StatusOr<double> exact = AnalyticGaussianEpsilon(sigma, 1, 1e-5);
  ASSERT_TRUE(exact.ok());
  EXPECT_NEAR(Pld(pair, 1e-5), *exact, 0.01 * *exact);

  // A sampled and an unsampled event: between each alone and the sum.
  const std::vector<PrivacyEvent> mixed = {Gaussian(0.05, 1.1, 200), Gaussian(1, 5, 1)};
  for (auto* epsilon : {&Rdp, &Pld}) {
    const double both = (*epsilon)(mixed, 1e-5);
    const double first = (*epsilon)({mixed[0]}, 1e-5), second = (*epsilon)({mixed[1]}, 1e-5);
    EXPECT_GT(both, std::max(first, second));
    EXPECT_LT(both, first + second);
  }
}

TEST(EpsilonTest, ReportsTheTighterValidBound) {
  const std::vector<PrivacyEvent> gaussian = {Gaussian(0.01, 1.0, 1000)};
  absl::StatusOr<EpsilonBound> bound = Epsilon(gaussian, 1e-5);
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ(bound->accountant, AccountantKind::kPld);
  EXPECT_EQ(bound->epsilon, Pld(gaussian, 1e-5));
  EXPECT_LT(bound->epsilon, Rdp(gaussian, 1e-5));

  const std::vector<PrivacyEvent> with_discrete = {Gaussian(0.01, 1.0, 1000),
                                                   {.mechanism = Mechanism::kDiscreteGaussianSum,
                                                    .sampling_rate = 1,
                                                    .noise_multiplier = 10,
                                                    .rdp_slack = 1e-6,
                                                    .count = 5}};
  bound = Epsilon(with_discrete, 1e-5);
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ(bound->accountant, AccountantKind::kRdp);
  EXPECT_EQ(bound->epsilon, Rdp(with_discrete, 1e-5));
}

TEST(RdpEpsilonTest, DiscreteGaussianSumUsesItsCurve) {
  auto discrete = [](double q, double slack) {
    return PrivacyEvent{.mechanism = Mechanism::kDiscreteGaussianSum,
                        .sampling_rate = q,
                        .noise_multiplier = 2.0,
                        .rdp_slack = slack,
                        .count = 50};
  };
  // Unsampled without slack it is the Gaussian's curve.
  EXPECT_NEAR(Rdp({discrete(1, 0)}, 1e-5), Rdp({Gaussian(1, 2.0, 50)}, 1e-5), 1e-12);
  EXPECT_GT(Rdp({discrete(1, 1e-3)}, 1e-5), Rdp({discrete(1, 0)}, 1e-5));
  // Sampled, the general [ZW19] bound: above the exact Gaussian bound, below
  // no sampling at all.
  EXPECT_GT(Rdp({discrete(0.05, 0)}, 1e-5), Rdp({Gaussian(0.05, 2.0, 50)}, 1e-5));
  EXPECT_LT(Rdp({discrete(0.05, 0)}, 1e-5), Rdp({discrete(1, 0)}, 1e-5));
}

struct BadInputCase {
  std::string name;
  std::vector<PrivacyEvent> events;
  double delta;
  std::string message;
};

TEST(AccountantTest, BadInputNamesTheField) {
  const PrivacyEvent ok = Gaussian(0.01, 1.0, 10);
  const std::vector<BadInputCase> cases = {
      {.name = "no events", .events = {}, .delta = 1e-5, .message = "events: must not be empty"},
      {.name = "rate 0",
       .events = {ok, Gaussian(0, 1, 1)},
       .delta = 1e-5,
       .message = "events[1].sampling_rate: must be in (0, 1]"},
      {.name = "rate above 1",
       .events = {Gaussian(1.5, 1, 1)},
       .delta = 1e-5,
       .message = "events[0].sampling_rate"},
      {.name = "rate NaN",
       .events = {Gaussian(NAN, 1, 1)},
       .delta = 1e-5,
       .message = "events[0].sampling_rate"},
      {.name = "sigma 0",
       .events = {ok, ok, Gaussian(0.1, 0, 1)},
       .delta = 1e-5,
       .message = "events[2].noise_multiplier: must be finite and > 0, got 0"},
      {.name = "sigma infinite",
       .events = {Gaussian(0.1, INFINITY, 1)},
       .delta = 1e-5,
       .message = "events[0].noise_multiplier"},
      {.name = "count 0",
       .events = {Gaussian(0.1, 1, 0)},
       .delta = 1e-5,
       .message = "events[0].count: must be >= 1, got 0"},
      {.name = "negative slack",
       .events = {{.mechanism = Mechanism::kDiscreteGaussianSum,
                   .noise_multiplier = 1,
                   .rdp_slack = -1}},
       .delta = 1e-5,
       .message = "events[0].rdp_slack"},
      {.name = "delta 0", .events = {ok}, .delta = 0, .message = "delta: must be in (0, 1)"},
      {.name = "delta 1", .events = {ok}, .delta = 1, .message = "delta"},
  };
  for (const BadInputCase& c : cases) {
    SCOPED_TRACE(c.name);
    for (const absl::Status& status :
         {RdpEpsilon(c.events, c.delta).status(), PldEpsilon(c.events, c.delta).status(),
          Epsilon(c.events, c.delta).status()}) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
    }
  }
}

TEST(PldEpsilonTest, RejectsDiscreteGaussianSum) {
  const std::vector<PrivacyEvent> events = {
      Gaussian(0.01, 1.0, 10),
      {.mechanism = Mechanism::kDiscreteGaussianSum, .noise_multiplier = 1, .count = 1}};
  absl::Status status = PldEpsilon(events, 1e-5).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("events[1].mechanism"));
}

TEST(PldEpsilonTest, TinyNoiseIsOutOfRangeButEpsilonStillAnswers) {
  const std::vector<PrivacyEvent> events = {Gaussian(0.5, 0.01, 10)};
  EXPECT_EQ(PldEpsilon(events, 1e-5).status().code(), absl::StatusCode::kOutOfRange);
  absl::StatusOr<EpsilonBound> bound = Epsilon(events, 1e-5);
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ(bound->accountant, AccountantKind::kRdp);
}

struct NoiseCase {
  std::string name;
  double epsilon;
  double delta;
  double q;
  int64_t steps;
  AccountantKind accountant;
};

TEST(NoiseMultiplierForTest, FindsTheSmallestSigmaMeetingTheTarget) {
  const std::vector<NoiseCase> cases = {
      {.name = "rdp dp-sgd",
       .epsilon = 1,
       .delta = 1e-5,
       .q = 0.01,
       .steps = 1000,
       .accountant = AccountantKind::kRdp},
      {.name = "pld dp-sgd",
       .epsilon = 1,
       .delta = 1e-5,
       .q = 0.01,
       .steps = 1000,
       .accountant = AccountantKind::kPld},
      {.name = "rdp published",
       .epsilon = 0.72422,
       .delta = 1e-5,
       .q = 0.0025,
       .steps = 6000,
       .accountant = AccountantKind::kRdp},
      {.name = "pld full batch",
       .epsilon = 3,
       .delta = 1e-6,
       .q = 1,
       .steps = 20,
       .accountant = AccountantKind::kPld},
      {.name = "rdp large epsilon",
       .epsilon = 50,
       .delta = 1e-5,
       .q = 0.1,
       .steps = 10,
       .accountant = AccountantKind::kRdp},
  };
  for (const NoiseCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<double> sigma =
        NoiseMultiplierFor(c.epsilon, c.delta, c.q, c.steps, c.accountant);
    ASSERT_TRUE(sigma.ok()) << sigma.status();
    auto eps_at = [&](double s) {
      const std::vector<PrivacyEvent> events = {Gaussian(c.q, s, c.steps)};
      return c.accountant == AccountantKind::kRdp ? Rdp(events, c.delta) : Pld(events, c.delta);
    };
    EXPECT_LE(eps_at(*sigma), c.epsilon);
    EXPECT_GT(eps_at(*sigma / 1.002), c.epsilon);
  }
  // The published case's sigma comes back.
  absl::StatusOr<double> sigma =
      NoiseMultiplierFor(0.72422, 1e-5, 0.0025, 6000, AccountantKind::kRdp);
  ASSERT_TRUE(sigma.ok());
  EXPECT_NEAR(*sigma, 1.3, 0.002 * 1.3);
}

TEST(NoiseMultiplierForTest, BadInputNamesTheArgument) {
  const struct {
    double epsilon, delta, q;
    int64_t steps;
    std::string message;
  } cases[] = {
      {0, 1e-5, 0.1, 10, "epsilon: must be finite and > 0"},
      {INFINITY, 1e-5, 0.1, 10, "epsilon"},
      {1, 0, 0.1, 10, "delta: must be in (0, 1)"},
      {1, 1e-5, 0, 10, "sampling_rate: must be in (0, 1]"},
      {1, 1e-5, 0.1, 0, "steps: must be >= 1, got 0"},
  };
  for (const auto& c : cases) {
    absl::Status status =
        NoiseMultiplierFor(c.epsilon, c.delta, c.q, c.steps, AccountantKind::kRdp).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
  }
}

TEST(AccountantTest, Names) {
  EXPECT_EQ(AccountantName(AccountantKind::kRdp), "rdp");
  EXPECT_EQ(AccountantName(AccountantKind::kPld), "pld");
}

// The budget: Epsilon() on this composition in < 200 ms
// (RelWithDebInfo). Asserted on CPU time with a wide margin so that a loaded
// machine does not fail it; the measured time goes to the test log.
TEST(AccountantTest, EpsilonIsFast) {
  const std::vector<PrivacyEvent> events = {Gaussian(0.05, 1.1, 200), Gaussian(1, 5, 1)};
  const std::clock_t cpu_start = std::clock();
  const auto wall_start = std::chrono::steady_clock::now();
  absl::StatusOr<EpsilonBound> bound = Epsilon(events, 1e-5);
  const double cpu_ms = 1000.0 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  const double wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall_start)
          .count();
  ASSERT_TRUE(bound.ok()) << bound.status();
  RecordProperty("epsilon_cpu_ms", std::to_string(cpu_ms));
  RecordProperty("epsilon_wall_ms", std::to_string(wall_ms));
  std::cout << "Epsilon(): " << bound->epsilon << " (" << AccountantName(bound->accountant)
            << ") in " << cpu_ms << " ms CPU, " << wall_ms << " ms wall\n";
  EXPECT_LT(cpu_ms, 1000);
}

}  // namespace
}  // namespace cohort::privacy
