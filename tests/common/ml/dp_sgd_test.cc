#include "common/ml/dp_sgd.h"

#include <cmath>
#include <random>

#include <Eigen/Core>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "common/ml/logistic_regression.h"
#include "common/ml/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/ml/synthetic_data.h"

namespace cohort::ml {
namespace {

using ::cohort::ml::testing::LabeledData;
using ::cohort::ml::testing::SampleLogisticData;
using ::testing::HasSubstr;

constexpr OptimizerConfig kSgd = {.kind = OptimizerConfig::Kind::kSgd, .learning_rate = 1.0};

LogisticRegression ZeroModel(int features, double l2 = 0.0) {
  return *LogisticRegression::Create(features, l2);
}

// Property: whatever the data's scale, every sampled per-example gradient has
// norm <= C, and rows already within C are left exactly as they were.
TEST(DpSgdTest, EveryPerExampleGradientIsClippedToC) {
  std::mt19937_64 seeds(11);
  for (int trial = 0; trial < 50; ++trial) {
    const int features = 1 + static_cast<int>(seeds() % 12);
    const double scale = std::pow(10.0, static_cast<double>(seeds() % 7) - 3.0);
    const double clip = std::pow(10.0, static_cast<double>(seeds() % 5) - 2.0);
    LabeledData data = SampleLogisticData(200, Eigen::VectorXd::Ones(features), 0.1, seeds());
    data.X *= scale;
    const LogisticRegression model =
        *LogisticRegression::FromParameters(Eigen::VectorXd::Constant(features + 1, 0.3), 0.0);
    absl::BitGen gen(std::seed_seq{trial});
    absl::StatusOr<ClippedSample> sample =
        SampleClippedGradients(model, data.X, data.y, 1.0, clip, gen);
    ASSERT_TRUE(sample.ok()) << sample.status();
    ASSERT_EQ(sample->per_example.rows(), 200);
    const Eigen::MatrixXd raw = model.PerExampleGradients(data.X, data.y);
    int64_t expected_clipped = 0;
    for (Eigen::Index i = 0; i < raw.rows(); ++i) {
      const double norm = sample->per_example.row(i).norm();
      EXPECT_LE(norm, clip * (1 + 1e-12)) << "trial " << trial << " row " << i;
      if (raw.row(i).norm() > clip) {
        ++expected_clipped;
        EXPECT_NEAR(norm, clip, clip * 1e-12);
        // Clipping scales, it does not change the direction.
        EXPECT_NEAR(sample->per_example.row(i).dot(raw.row(i)), clip * raw.row(i).norm(),
                    1e-9 * clip * raw.row(i).norm());
      } else {
        EXPECT_EQ(sample->per_example.row(i), raw.row(i));
      }
    }
    EXPECT_EQ(sample->num_clipped, expected_clipped);
  }
}

TEST(DpSgdTest, PoissonSamplingRateIsQ) {
  const LabeledData data = SampleLogisticData(20000, Eigen::VectorXd::Ones(3), 0.0, 5);
  absl::BitGen gen(std::seed_seq{3});
  absl::StatusOr<ClippedSample> sample =
      SampleClippedGradients(ZeroModel(3), data.X, data.y, 0.05, 1.0, gen);
  ASSERT_TRUE(sample.ok());
  // Binomial(20000, 0.05): mean 1000, sd 30.8; 5 sd either side.
  EXPECT_NEAR(static_cast<double>(sample->per_example.rows()), 1000.0, 155.0);
}

// With no record ever sampled, one SGD step with learning rate 1 and divisor
// 1 moves each parameter by exactly minus its noise: the empirical standard
// deviation over 10^5 draws must be sigma * C within 2%.
TEST(DpSgdTest, NoiseStandardDeviationIsSigmaTimesClip) {
  const int features = 9;  // 10 parameters per step
  const LabeledData data = SampleLogisticData(1, Eigen::VectorXd::Ones(features), 0.0, 1);
  const DpSgdOptions options = {.steps = 1,
                                .sampling_rate = 1e-300,
                                .clip = 0.7,
                                .noise_multiplier = 1.3,
                                .expected_batch = 1.0,
                                .optimizer = kSgd};
  absl::BitGen gen(std::seed_seq{42});
  double sum = 0, sum_sq = 0;
  int64_t draws = 0;
  for (int trial = 0; trial < 10000; ++trial) {
    LogisticRegression model = ZeroModel(features);
    absl::StatusOr<DpSgdResult> result = TrainDpSgd(model, data.X, data.y, options, gen);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->examples_sampled, 0);
    for (double v : model.parameters()) {
      sum += v;
      sum_sq += v * v;
      ++draws;
    }
  }
  ASSERT_EQ(draws, 100000);
  const double mean = sum / static_cast<double>(draws);
  const double sd = std::sqrt(sum_sq / static_cast<double>(draws) - mean * mean);
  EXPECT_NEAR(sd, 1.3 * 0.7, 0.02 * 1.3 * 0.7);
  EXPECT_NEAR(mean, 0.0, 5 * 0.91 / std::sqrt(1e5));
}

TEST(DpSgdTest, LearnsWithModestNoise) {
  const Eigen::VectorXd w = (Eigen::VectorXd(4) << 2.0, -1.0, 0.5, 1.0).finished();
  const LabeledData train = SampleLogisticData(4000, w, -0.2, 8);
  const LabeledData test = SampleLogisticData(2000, w, -0.2, 9);
  LogisticRegression model = ZeroModel(4, 1e-4);
  const DpSgdOptions options = {.steps = 300,
                                .sampling_rate = 0.05,
                                .clip = 1.0,
                                .noise_multiplier = 1.0,
                                .expected_batch = 0.05 * 4000,
                                .optimizer = {.kind = OptimizerConfig::Kind::kSgd,
                                              .learning_rate = 0.5}};
  absl::BitGen gen(std::seed_seq{7});
  absl::StatusOr<DpSgdResult> result = TrainDpSgd(model, train.X, train.y, options, gen);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->steps, 300);
  const Eigen::VectorXd p = model.PredictProba(test.X);
  int correct = 0;
  for (Eigen::Index i = 0; i < p.size(); ++i) correct += (p[i] >= 0.5) == (test.y[i] == 1.0);
  // The Bayes-optimal accuracy for these weights is about 0.79.
  EXPECT_GT(static_cast<double>(correct) / 2000.0, 0.75);
}

TEST(DpSgdTest, RejectsBadOptionsNamingTheField) {
  const LabeledData data = SampleLogisticData(10, Eigen::VectorXd::Ones(2), 0.0, 1);
  LogisticRegression model = ZeroModel(2);
  const LogisticRegression before = model;
  absl::BitGen gen;
  DpSgdOptions options = {.steps = 1, .sampling_rate = 0.1, .clip = 1, .noise_multiplier = 1,
                          .expected_batch = 1, .optimizer = kSgd};
  options.clip = 0;
  EXPECT_THAT(TrainDpSgd(model, data.X, data.y, options, gen).status().message(),
              HasSubstr("clip"));
  options.clip = 1;
  options.sampling_rate = 1.5;
  EXPECT_THAT(TrainDpSgd(model, data.X, data.y, options, gen).status().message(),
              HasSubstr("sampling_rate"));
  options.sampling_rate = 0.1;
  options.noise_multiplier = -1;
  EXPECT_THAT(TrainDpSgd(model, data.X, data.y, options, gen).status().message(),
              HasSubstr("noise_multiplier"));
  options.noise_multiplier = 1;
  options.expected_batch = 0;
  EXPECT_THAT(TrainDpSgd(model, data.X, data.y, options, gen).status().message(),
              HasSubstr("expected_batch"));
  EXPECT_EQ(model.parameters(), before.parameters());
}

}  // namespace
}  // namespace cohort::ml
