#include "common/study/private_release.h"

#include <cmath>
#include <random>

#include "absl/random/random.h"
#include "common/data/preprocess.h"
#include "common/ml/metrics.h"
#include "common/study/proto_convert.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::study {
namespace {

using ::testing::HasSubstr;

data::StudySchema Schema(data::MissingPolicy missing = data::MissingPolicy::kDropRow) {
  data::StudySchema schema;
  data::Variable age{.name = "age", .type = data::VariableType::kNumeric};
  age.has_range = true;
  age.range_lo = 20;
  age.range_hi = 90;
  data::Variable sex{.name = "sex", .type = data::VariableType::kBinary};
  data::Variable cp{.name = "cp",
                    .type = data::VariableType::kCategorical,
                    .categories = {"a", "b", "c"},
                    .drop_first = true};
  data::Variable chol{.name = "chol", .type = data::VariableType::kNumeric};
  chol.has_range = true;
  chol.range_lo = 100;
  chol.range_hi = 400;
  schema.features = {age, sex, cp, chol};
  schema.outcome = {.name = "y", .type = data::VariableType::kBinary};
  schema.missing = missing;
  return schema;
}

// Rows inside the declared ranges, so clipping changes nothing.
data::LocalDataset Dataset(int train, int test, uint64_t seed, bool with_missing = false) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> age(25, 85), chol(120, 390), unit(0, 1);
  auto fill = [&](Eigen::MatrixXd& x, Eigen::VectorXd& y, int n) {
    x.resize(n, 5);
    y.resize(n);
    for (int i = 0; i < n; ++i) {
      const double c = unit(rng);
      x.row(i) << age(rng), unit(rng) < 0.4 ? 1 : 0, c < 0.3 ? 1 : 0, c > 0.7 ? 1 : 0, chol(rng);
      if (with_missing && i % 7 == 3) x(i, 4) = std::nan("");
      y[i] = unit(rng) < 0.5 ? 1 : 0;
    }
  };
  data::LocalDataset d;
  fill(d.x_train, d.y_train, train);
  fill(d.x_test, d.y_test, test);
  d.feature_names = {"age", "sex", "cp=b", "cp=c", "chol"};
  return d;
}

TEST(StatisticsLayoutTest, RequiresARangeForNumericVariables) {
  data::StudySchema schema = Schema();
  schema.features[3].has_range = false;
  EXPECT_THAT(StatisticsLayout::Create(schema).status().message(), HasSubstr("'chol'"));
}

// Without noise, decoding the sum of the records gives exactly the
// statistics the plain protocol computes.
TEST(StatisticsLayoutTest, DecodedSumOfRecordsEqualsExactStatistics) {
  for (data::MissingPolicy missing :
       {data::MissingPolicy::kDropRow, data::MissingPolicy::kImputeMean}) {
    const bool impute = missing == data::MissingPolicy::kImputeMean;
    absl::StatusOr<StatisticsLayout> layout = StatisticsLayout::Create(Schema(missing));
    ASSERT_TRUE(layout.ok()) << layout.status();
    const data::LocalDataset d = Dataset(300, 120, 4, impute);
    const Eigen::MatrixXd records = layout->Records(d);
    ASSERT_EQ(records.rows(), 420);
    for (Eigen::Index i = 0; i < records.rows(); ++i) {
      EXPECT_LE(records.row(i).norm(), layout->record_bound() + 1e-12);
    }
    const v1::StatisticsResult s = layout->Decode(records.colwise().sum().transpose());
    const data::FeatureStatistics exact = data::ComputeStatistics(d);
    EXPECT_EQ(s.num_train(), 300);
    EXPECT_EQ(s.num_test(), 120);
    ASSERT_EQ(s.sum_size(), 5);
    for (int j = 0; j < 5; ++j) {
      EXPECT_NEAR(s.count(j), exact.count[j], 1e-6) << j;
      EXPECT_NEAR(s.sum(j), exact.sum[j], 1e-6 * std::abs(exact.sum[j]) + 1e-6) << j;
      EXPECT_NEAR(s.sum_squares(j), exact.sum_squares[j], 1e-6 * exact.sum_squares[j] + 1e-6)
          << j;
    }
  }
}

TEST(StatisticsLayoutTest, ValuesOutsideTheRangeAreClipped) {
  absl::StatusOr<StatisticsLayout> layout = StatisticsLayout::Create(Schema());
  ASSERT_TRUE(layout.ok());
  data::LocalDataset d = Dataset(1, 0, 1);
  d.x_train(0, 0) = 500;  // age far above 90
  const v1::StatisticsResult s = layout->Decode(layout->Records(d).row(0).transpose());
  EXPECT_DOUBLE_EQ(s.sum(0), 90);
  EXPECT_DOUBLE_EQ(s.sum_squares(0), 90 * 90);
}

TEST(StatisticsLayoutTest, SanitizedNoisyStatisticsGiveAUsableStandardizer) {
  absl::StatusOr<StatisticsLayout> layout = StatisticsLayout::Create(Schema());
  ASSERT_TRUE(layout.ok());
  const data::LocalDataset d = Dataset(20, 5, 9);
  absl::BitGen gen(std::seed_seq{1});
  for (int trial = 0; trial < 200; ++trial) {
    // Heavy noise: sums may go negative and variances below zero.
    absl::StatusOr<Eigen::VectorXd> noisy =
        NoisySum(layout->Records(d), layout->length(), layout->record_bound(), 10.0, gen);
    ASSERT_TRUE(noisy.ok());
    v1::StatisticsResult s = layout->Decode(*noisy);
    layout->Sanitize(s);
    data::FeatureStatistics total;
    total.count.assign(s.count().begin(), s.count().end());
    total.sum.assign(s.sum().begin(), s.sum().end());
    total.sum_squares.assign(s.sum_squares().begin(), s.sum_squares().end());
    absl::StatusOr<data::Standardizer> standardizer =
        data::StandardizerFromGlobalStatistics(total, true);
    ASSERT_TRUE(standardizer.ok()) << standardizer.status();
    EXPECT_GE(standardizer->mean[0], 20);
    EXPECT_LE(standardizer->mean[0], 90);
  }
}

TEST(EvaluationLayoutTest, DecodedSumOfRecordsEqualsExactMetrics) {
  absl::StatusOr<EvaluationLayout> layout = EvaluationLayout::Create(10);
  ASSERT_TRUE(layout.ok());
  const data::LocalDataset d = Dataset(10, 400, 2);
  Eigen::VectorXd params(6);
  params << 0.02, 0.5, -0.3, 0.8, 0.001, -1.5;
  const ml::LogisticRegression model = *ml::LogisticRegression::FromParameters(params, 0.0);
  const Eigen::MatrixXd records = layout->Records(model, d.x_test, d.y_test);
  for (Eigen::Index i = 0; i < records.rows(); ++i) {
    EXPECT_LE(records.row(i).norm(), layout->record_bound() + 1e-12);
  }
  const v1::Metrics m = layout->Decode(records.colwise().sum().transpose());
  const ml::BinaryMetrics exact = ml::EvaluateBinary(model, d.x_test, d.y_test, 10);
  EXPECT_EQ(m.n(), exact.n);
  EXPECT_EQ(m.correct(), exact.correct);
  EXPECT_EQ(m.true_positive(), exact.true_positive);
  EXPECT_EQ(m.false_positive(), exact.false_positive);
  EXPECT_EQ(m.true_negative(), exact.true_negative);
  EXPECT_EQ(m.false_negative(), exact.false_negative);
  EXPECT_NEAR(m.loss_sum(), exact.loss_sum, 1e-9 * exact.loss_sum);
  for (int b = 0; b < 10; ++b) {
    EXPECT_EQ(m.positive_histogram(b), exact.positive_histogram[b]);
    EXPECT_EQ(m.negative_histogram(b), exact.negative_histogram[b]);
  }
  EXPECT_TRUE(ValidateMetrics(m, 10).ok());
}

TEST(EvaluationLayoutTest, NoisyMetricsAreAlwaysSelfConsistent) {
  absl::StatusOr<EvaluationLayout> layout = EvaluationLayout::Create(4);
  ASSERT_TRUE(layout.ok());
  absl::BitGen gen(std::seed_seq{5});
  for (int trial = 0; trial < 100; ++trial) {
    absl::StatusOr<Eigen::VectorXd> noisy =
        NoisySum(Eigen::MatrixXd(0, layout->length()), layout->length(), layout->record_bound(),
                 3.0, gen);
    ASSERT_TRUE(noisy.ok());
    EXPECT_TRUE(ValidateMetrics(layout->Decode(*noisy), 4).ok());
  }
  EXPECT_FALSE(EvaluationLayout::Create(5).ok());
}

TEST(NoisySumTest, NoiseHasStandardDeviationSigmaTimesBound) {
  absl::BitGen gen(std::seed_seq{8});
  double sum_sq = 0;
  const int n = 100000;
  for (int i = 0; i < n / 10; ++i) {
    absl::StatusOr<Eigen::VectorXd> s = NoisySum(Eigen::MatrixXd(0, 10), 10, 2.0, 1.5, gen);
    ASSERT_TRUE(s.ok());
    sum_sq += s->squaredNorm();
  }
  EXPECT_NEAR(std::sqrt(sum_sq / n), 3.0, 0.02 * 3.0);
}

TEST(NoisySumTest, RejectsARecordAboveItsBound) {
  absl::BitGen gen;
  Eigen::MatrixXd records = Eigen::MatrixXd::Zero(2, 3);
  records(1, 0) = 5;
  EXPECT_THAT(NoisySum(records, 3, 1.0, 1.0, gen).status().message(), HasSubstr("record 1"));
}

}  // namespace
}  // namespace cohort::study
