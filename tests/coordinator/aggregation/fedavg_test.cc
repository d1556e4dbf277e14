#include "coordinator/aggregation/fedavg.h"

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::coordinator {
namespace {

using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Eigen::VectorXd Vec(std::initializer_list<double> values) {
  Eigen::VectorXd v(values.size());
  int i = 0;
  for (double x : values) v(i++) = x;
  return v;
}

TEST(FederatedAverageTest, WeightsByExampleCount) {
  // One example at "a", three at "b": a 0.25 / 0.75 mix.
  const std::vector<ClientUpdate> updates = {
      {.site = "a", .parameters = Vec({0, 4, -8}), .weight = 1},
      {.site = "b", .parameters = Vec({4, 0, 8}), .weight = 3},
  };
  auto mean = FederatedAverage(updates);
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_TRUE(mean->isApprox(Vec({3, 1, 4}), 1e-15)) << mean->transpose();
}

TEST(FederatedAverageTest, ThreeSitesAndScaleInvariance) {
  std::vector<ClientUpdate> updates = {
      {.site = "cleveland", .parameters = Vec({1, 0}), .weight = 303},
      {.site = "hungary", .parameters = Vec({0, 1}), .weight = 294},
      {.site = "va", .parameters = Vec({-1, -1}), .weight = 200},
  };
  const Eigen::VectorXd expected = Vec({(303.0 - 200) / 797, (294.0 - 200) / 797});
  auto mean = FederatedAverage(updates);
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_TRUE(mean->isApprox(expected, 1e-14));
  // Scaling every weight changes nothing, even near the top of double.
  for (ClientUpdate& u : updates) u.weight *= 1e305;
  auto scaled = FederatedAverage(updates);
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  EXPECT_TRUE(scaled->isApprox(expected, 1e-14));
}

TEST(FederatedAverageTest, SingleUpdateIsReturnedAsIs) {
  const std::vector<ClientUpdate> updates = {
      {.site = "only", .parameters = Vec({0.1, -0.2, 0.3}), .weight = 17}};
  auto mean = FederatedAverage(updates);
  ASSERT_TRUE(mean.ok());
  EXPECT_EQ(*mean, updates[0].parameters);
}

TEST(FederatedAverageTest, NoUpdatesIsFailedPrecondition) {
  auto mean = FederatedAverage({});
  EXPECT_EQ(mean.status().code(), absl::StatusCode::kFailedPrecondition);
}

struct BadUpdateCase {
  std::string name;
  std::vector<ClientUpdate> updates;
  std::string message;
};

TEST(FederatedAverageTest, RejectsBadUpdatesNamingTheSite) {
  const ClientUpdate good = {.site = "cleveland", .parameters = Vec({1, 2, 3}), .weight = 10};
  const std::vector<BadUpdateCase> cases = {
      {.name = "shape",
       .updates = {good, {.site = "va", .parameters = Vec({1, 2}), .weight = 5}},
       .message = "site 'va': update has 2 values, site 'cleveland' sent 3"},
      {.name = "NaN",
       .updates = {good, {.site = "va", .parameters = Vec({1, kNaN, 3}), .weight = 5}},
       .message = "site 'va': update value 1 is NaN"},
      {.name = "Inf",
       .updates = {{.site = "va", .parameters = Vec({1, 2, -kInf}), .weight = 5}, good},
       .message = "site 'va': update value 2 is -Inf"},
      {.name = "zero weight",
       .updates = {good, {.site = "va", .parameters = Vec({1, 2, 3}), .weight = 0}},
       .message = "site 'va': weight must be finite and > 0, got 0"},
      {.name = "negative weight",
       .updates = {good, {.site = "va", .parameters = Vec({1, 2, 3}), .weight = -2}},
       .message = "site 'va': weight must be finite and > 0, got -2"},
      {.name = "NaN weight",
       .updates = {good, {.site = "va", .parameters = Vec({1, 2, 3}), .weight = kNaN}},
       .message = "site 'va': weight must be finite and > 0"},
      {.name = "Inf weight",
       .updates = {good, {.site = "va", .parameters = Vec({1, 2, 3}), .weight = kInf}},
       .message = "site 'va': weight must be finite and > 0"},
      {.name = "empty first",
       .updates = {{.site = "va", .parameters = Eigen::VectorXd(0), .weight = 1}, good},
       .message = "site 'va': update is empty"},
      {.name = "escaped site name",
       .updates = {good, {.site = "va'\n", .parameters = Vec({kNaN, 0, 0}), .weight = 1}},
       .message = "site 'va\\'\\n': update value 0 is NaN"},
  };
  for (const BadUpdateCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto mean = FederatedAverage(c.updates);
    ASSERT_FALSE(mean.ok());
    EXPECT_EQ(mean.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(mean.status().message()), HasSubstr(c.message));
  }
}

struct ValidateCase {
  std::string name;
  ClientUpdate update;
  int64_t expected_size;
  std::string message;  // Empty: valid.
};

TEST(ValidateUpdateTest, NamesSiteAndProblem) {
  const std::vector<ValidateCase> cases = {
      {.name = "ok", .update = {.site = "va", .parameters = Eigen::VectorXd::Ones(14), .weight = 3},
       .expected_size = 14, .message = ""},
      {.name = "short",
       .update = {.site = "va", .parameters = Eigen::VectorXd::Ones(12), .weight = 3},
       .expected_size = 14, .message = "site 'va': update has 12 values, the model has 14"},
      {.name = "NaN",
       .update = {.site = "va", .parameters = Vec({0, 0, 0, kNaN, 0}), .weight = 3},
       .expected_size = 5, .message = "site 'va': update value 3 is NaN"},
      {.name = "Inf",
       .update = {.site = "va", .parameters = Vec({kInf, 0}), .weight = 3},
       .expected_size = 2, .message = "site 'va': update value 0 is Inf"},
      {.name = "weight",
       .update = {.site = "va", .parameters = Vec({0, 0}), .weight = 0},
       .expected_size = 2, .message = "site 'va': weight must be finite and > 0, got 0"},
  };
  for (const ValidateCase& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::Status status = ValidateUpdate(c.update, c.expected_size);
    if (c.message.empty()) {
      EXPECT_TRUE(status.ok()) << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(std::string(status.message()), c.message);
    }
  }
}

TEST(FedAvgTest, AggregatesThroughTheStrategyInterface) {
  const std::unique_ptr<ServerStrategy> strategy = std::make_unique<FedAvg>();
  EXPECT_EQ(strategy->name(), "fedavg");
  const Eigen::VectorXd global = Vec({9, 9});
  const std::vector<ClientUpdate> updates = {
      {.site = "a", .parameters = Vec({2, 0}), .weight = 1},
      {.site = "b", .parameters = Vec({-2, 4}), .weight = 3},
  };
  auto next = strategy->Aggregate(global, updates);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(next->isApprox(Vec({-1, 3})));
}

TEST(FedAvgTest, ChecksUpdatesAgainstTheGlobalModel) {
  FedAvg fedavg;
  const Eigen::VectorXd global = Eigen::VectorXd::Zero(14);
  // Both updates agree with each other but not with the model.
  const std::vector<ClientUpdate> updates = {
      {.site = "hungary", .parameters = Eigen::VectorXd::Ones(12), .weight = 1},
      {.site = "va", .parameters = Eigen::VectorXd::Ones(12), .weight = 1},
  };
  auto next = fedavg.Aggregate(global, updates);
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(next.status().message()),
            "site 'hungary': update has 12 values, the model has 14");

  EXPECT_EQ(fedavg.Aggregate(global, {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(fedavg.Aggregate(Eigen::VectorXd(0), updates).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fedavg.Aggregate(Vec({kNaN}), updates).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::coordinator
