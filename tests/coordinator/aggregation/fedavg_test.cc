#include "coordinator/aggregation/fedavg.h"

#include <limits>
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

// A site that trained on `n` examples and moved the model by `delta` sends
// n * delta and n.
Contribution From(const std::string& site, double n, const Eigen::VectorXd& delta) {
  return {.site = site, .weighted_delta = n * delta, .weight = n};
}

TEST(RoundSumTest, MeanDeltaWeightsSitesByExampleCount) {
  // One example at "a", three at "b": a 0.25 / 0.75 mix.
  RoundSum sum(3);
  ASSERT_TRUE(sum.Add(From("a", 1, Vec({0, 4, -8}))).ok());
  ASSERT_TRUE(sum.Add(From("b", 3, Vec({4, 0, 8}))).ok());
  EXPECT_EQ(sum.count(), 2);
  EXPECT_DOUBLE_EQ(sum.weight_sum(), 4);
  auto mean = sum.MeanDelta();
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_TRUE(mean->isApprox(Vec({3, 1, 4}), 1e-15)) << mean->transpose();
}

TEST(RoundSumTest, ThreeHospitals) {
  RoundSum sum(2);
  ASSERT_TRUE(sum.Add(From("cleveland", 303, Vec({1, 0}))).ok());
  ASSERT_TRUE(sum.Add(From("hungary", 294, Vec({0, 1}))).ok());
  ASSERT_TRUE(sum.Add(From("va", 200, Vec({-1, -1}))).ok());
  auto mean = sum.MeanDelta();
  ASSERT_TRUE(mean.ok());
  EXPECT_TRUE(mean->isApprox(Vec({(303.0 - 200) / 797, (294.0 - 200) / 797}), 1e-14));
}

TEST(RoundSumTest, EmptySumHasNoMean) {
  RoundSum sum(2);
  EXPECT_EQ(sum.MeanDelta().status().code(), absl::StatusCode::kFailedPrecondition);
}

struct BadContributionCase {
  std::string name;
  Contribution contribution;
  std::string message;
};

class BadContributionTest : public ::testing::TestWithParam<BadContributionCase> {};

TEST_P(BadContributionTest, IsRejectedNamingTheSiteAndLeavesTheSumUnchanged) {
  RoundSum sum(3);
  ASSERT_TRUE(sum.Add(From("good", 2, Vec({1, 1, 1}))).ok());
  absl::Status status = sum.Add(GetParam().contribution);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr(GetParam().message));
  EXPECT_EQ(sum.count(), 1);
  EXPECT_DOUBLE_EQ(sum.weight_sum(), 2);
  EXPECT_TRUE(sum.weighted_delta_sum().isApprox(Vec({2, 2, 2})));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadContributionTest,
    ::testing::ValuesIn(std::vector<BadContributionCase>{
        {.name = "WrongShape",
         .contribution = {.site = "va", .weighted_delta = Vec({1, 2}), .weight = 1},
         .message = "site 'va': update has 2 values, the model has 3"},
        {.name = "NaN",
         .contribution = {.site = "va", .weighted_delta = Vec({1, kNaN, 2}), .weight = 1},
         .message = "site 'va': update value 1 is NaN"},
        {.name = "Inf",
         .contribution = {.site = "va", .weighted_delta = Vec({kInf, 0, 2}), .weight = 1},
         .message = "site 'va': update value 0 is Inf"},
        {.name = "ZeroWeight",
         .contribution = {.site = "va", .weighted_delta = Vec({1, 1, 1}), .weight = 0},
         .message = "site 'va': weight must be finite and > 0, got 0"},
        {.name = "EscapedName",
         .contribution = {.site = "v\na", .weighted_delta = Vec({1}), .weight = 1},
         .message = "site 'v\\na'"},
    }),
    [](const auto& info) { return info.param.name; });

TEST(RoundSumTest, ASumThatWouldOverflowIsRejected) {
  RoundSum sum(1);
  ASSERT_TRUE(sum.Add({.site = "a", .weighted_delta = Vec({1.7e308}), .weight = 1}).ok());
  absl::Status status = sum.Add({.site = "b", .weighted_delta = Vec({1.7e308}), .weight = 1});
  EXPECT_THAT(std::string(status.message()), HasSubstr("site 'b': update values are too large"));
  EXPECT_EQ(sum.count(), 1);
  EXPECT_DOUBLE_EQ(sum.weighted_delta_sum()(0), 1.7e308);
}

TEST(FedAvgTest, MovesTheGlobalModelByTheServerRateTimesTheMeanDelta) {
  RoundSum sum(2);
  ASSERT_TRUE(sum.Add(From("a", 1, Vec({1, 0}))).ok());
  ASSERT_TRUE(sum.Add(From("b", 1, Vec({3, 2}))).ok());
  auto full = FedAvg::Create(1.0);
  ASSERT_TRUE(full.ok());
  auto next = (*full)->Apply(Vec({10, 10}), sum);
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(next->isApprox(Vec({12, 11})));
  auto half = FedAvg::Create(0.5);
  ASSERT_TRUE(half.ok());
  next = (*half)->Apply(Vec({10, 10}), sum);
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(next->isApprox(Vec({11, 10.5})));
}

TEST(FedAvgTest, RejectsBadInputs) {
  EXPECT_EQ(FedAvg::Create(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FedAvg::Create(kNaN).status().code(), absl::StatusCode::kInvalidArgument);
  auto fedavg = FedAvg::Create(1.0);
  ASSERT_TRUE(fedavg.ok());
  RoundSum empty(2);
  EXPECT_EQ((*fedavg)->Apply(Vec({0, 0}), empty).status().code(),
            absl::StatusCode::kFailedPrecondition);
  RoundSum sum(2);
  ASSERT_TRUE(sum.Add(From("a", 1, Vec({1, 0}))).ok());
  EXPECT_THAT(std::string((*fedavg)->Apply(Vec({0, 0, 0}), sum).status().message()),
              HasSubstr("global model has 3 values, the round sum has 2"));
  EXPECT_EQ((*fedavg)->Apply(Vec({kNaN, 0}), sum).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MakeServerStrategyTest, KnowsFedAvgOnly) {
  auto s = MakeServerStrategy("fedavg", 1.0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->name(), "fedavg");
  EXPECT_THAT(std::string(MakeServerStrategy("fedsgd", 1.0).status().message()),
              HasSubstr("\"fedsgd\" is not supported"));
}

}  // namespace
}  // namespace cohort::coordinator
