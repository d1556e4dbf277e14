#include "common/data/preprocess.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::data {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Eigen::MatrixXd Matrix(std::vector<std::vector<double>> rows) {
  Eigen::MatrixXd m(rows.size(), rows.empty() ? 0 : rows[0].size());
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) m(i, j) = rows[i][j];
  }
  return m;
}

TEST(ComputeStatisticsTest, SkipsMissingValues) {
  const FeatureStatistics stats =
      ComputeStatistics(Matrix({{1, kNaN}, {3, 4}, {5, 6}}));
  EXPECT_THAT(stats.count, ElementsAre(3, 2));
  EXPECT_THAT(stats.sum, ElementsAre(9, 10));
  EXPECT_THAT(stats.sum_squares, ElementsAre(35, 52));
}

TEST(ComputeStatisticsTest, UsesTheTrainingRowsOfADataset) {
  LocalDataset dataset;
  dataset.x_train = Matrix({{1}, {2}});
  dataset.x_test = Matrix({{100}});
  EXPECT_THAT(ComputeStatistics(dataset).sum, ElementsAre(3));
}

TEST(AddTest, AddsFeatureByFeatureFromZeros) {
  FeatureStatistics total = FeatureStatistics::Zeros(2);
  ASSERT_TRUE(Add(total, {{1, 2}, {3, 4}, {5, 6}}).ok());
  ASSERT_TRUE(Add(total, {{10, 20}, {30, 40}, {50, 60}}).ok());
  EXPECT_THAT(total.count, ElementsAre(11, 22));
  EXPECT_THAT(total.sum, ElementsAre(33, 44));
  EXPECT_THAT(total.sum_squares, ElementsAre(55, 66));
}

TEST(AddTest, RejectsMismatchedSizesAndLeavesTheTotalUnchanged) {
  FeatureStatistics total{{1, 2}, {3, 4}, {5, 6}};
  const absl::Status status = Add(total, FeatureStatistics::Zeros(3));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("3 features"));
  EXPECT_THAT(total.count, ElementsAre(1, 2));
}

TEST(AddTest, RejectsInconsistentStatistics) {
  FeatureStatistics total = FeatureStatistics::Zeros(2);
  EXPECT_EQ(Add(total, {{1, 2}, {3}, {5, 6}}).code(),
            absl::StatusCode::kInvalidArgument);
}

// Reference values computed by hand: population standard deviation.
struct StandardizerCase {
  double count, sum, sum_squares;
  double mean, scale;
};

TEST(StandardizerTest, MatchesHandComputedReferences) {
  const std::vector<StandardizerCase> cases = {
      // {1, 3, 5}: mean 3, variance 8/3.
      {.count = 3, .sum = 9, .sum_squares = 35, .mean = 3,
       .scale = 1.6329931618554521},
      // {2, 4, 4, 4, 5, 5, 7, 9}: mean 5, std 2.
      {.count = 8, .sum = 40, .sum_squares = 232, .mean = 5, .scale = 2},
      // {2, 2}: constant, so the scale stays 1.
      {.count = 2, .sum = 4, .sum_squares = 8, .mean = 2, .scale = 1},
      // {0, 1, 1, 1}: a binary feature, mean 0.75, std sqrt(3)/4.
      {.count = 4, .sum = 3, .sum_squares = 3, .mean = 0.75,
       .scale = 0.4330127018922193},
  };
  FeatureStatistics global;
  for (const StandardizerCase& c : cases) {
    global.count.push_back(c.count);
    global.sum.push_back(c.sum);
    global.sum_squares.push_back(c.sum_squares);
  }
  absl::StatusOr<Standardizer> standardizer =
      StandardizerFromGlobalStatistics(global, /*standardize=*/true);
  ASSERT_TRUE(standardizer.ok()) << standardizer.status();
  for (size_t j = 0; j < cases.size(); ++j) {
    EXPECT_NEAR(standardizer->mean[j], cases[j].mean, 1e-12) << j;
    EXPECT_NEAR(standardizer->scale[j], cases[j].scale, 1e-12) << j;
    EXPECT_NEAR(standardizer->impute_value[j], cases[j].mean, 1e-12) << j;
  }
}

TEST(StandardizerTest, WithoutStandardizingStillImputesTheGlobalMean) {
  absl::StatusOr<Standardizer> standardizer = StandardizerFromGlobalStatistics(
      {{3}, {9}, {35}}, /*standardize=*/false);
  ASSERT_TRUE(standardizer.ok()) << standardizer.status();
  EXPECT_THAT(standardizer->mean, ElementsAre(0));
  EXPECT_THAT(standardizer->scale, ElementsAre(1));
  EXPECT_THAT(standardizer->impute_value, ElementsAre(3));

  Eigen::MatrixXd x = Matrix({{kNaN}, {7}});
  ASSERT_TRUE(Apply(*standardizer, x).ok());
  EXPECT_EQ(x, Matrix({{3}, {7}}));
}

TEST(StandardizerTest, RejectsAFeatureWithoutValues) {
  absl::StatusOr<Standardizer> standardizer =
      StandardizerFromGlobalStatistics({{3, 0}, {9, 0}, {35, 0}}, true);
  EXPECT_EQ(standardizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(standardizer.status().message()),
              HasSubstr("feature 1"));
}

TEST(ApplyTest, ImputesWithTheGlobalMeanThenStandardizes) {
  const Standardizer standardizer{
      .mean = {3, 10}, .scale = {2, 1}, .impute_value = {3, 10}};
  Eigen::MatrixXd x = Matrix({{1, kNaN}, {kNaN, 12}, {7, 10}});
  ASSERT_TRUE(Apply(standardizer, x).ok());
  EXPECT_EQ(x, Matrix({{-1, 0}, {0, 2}, {2, 0}}));
}

TEST(ApplyTest, RejectsAStandardizerOfTheWrongSize) {
  const Standardizer standardizer{
      .mean = {0}, .scale = {1}, .impute_value = {0}};
  Eigen::MatrixXd x = Matrix({{1, 2}});
  EXPECT_EQ(Apply(standardizer, x).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(x, Matrix({{1, 2}}));
}

TEST(ApplyTest, RejectsANonPositiveScale) {
  const Standardizer standardizer{
      .mean = {0}, .scale = {0}, .impute_value = {0}};
  Eigen::MatrixXd x = Matrix({{1}});
  EXPECT_EQ(Apply(standardizer, x).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::data
