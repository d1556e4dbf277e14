#include "common/ml/metrics.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "common/ml/logistic_regression.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/ml/synthetic_data.h"

namespace cohort::ml {
namespace {

using ::cohort::ml::testing::SampleLogisticData;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// w = 1, b = 0: the feature is the logit, so tests choose probabilities.
LogisticRegression IdentityLogitModel() {
  return *LogisticRegression::FromParameters(Eigen::Vector2d(1, 0), 0.0);
}

double Logit(double p) { return std::log(p / (1 - p)); }

Eigen::MatrixXd LogitsFor(const std::vector<double>& probabilities) {
  Eigen::MatrixXd X(probabilities.size(), 1);
  for (size_t i = 0; i < probabilities.size(); ++i) X(i, 0) = Logit(probabilities[i]);
  return X;
}

// The exact row-level AUC: P(p_pos > p_neg) + P(p_pos == p_neg) / 2 over all
// (positive, negative) pairs.
double MannWhitneyAuc(const Eigen::VectorXd& p, const Eigen::VectorXd& y) {
  double wins = 0, pairs = 0;
  for (Eigen::Index i = 0; i < p.size(); ++i) {
    if (y(i) != 1) continue;
    for (Eigen::Index j = 0; j < p.size(); ++j) {
      if (y(j) != 0) continue;
      pairs += 1;
      wins += p(i) > p(j) ? 1.0 : (p(i) == p(j) ? 0.5 : 0.0);
    }
  }
  return wins / pairs;
}

struct BinCase {
  std::string name;
  double logit;
  int num_bins;
  int bin;
};

TEST(EvaluateBinaryTest, PutsProbabilitiesInEqualBins) {
  const LogisticRegression model = IdentityLogitModel();
  const std::vector<BinCase> cases = {
      {.name = "p=0", .logit = -800, .num_bins = 1000, .bin = 0},
      {.name = "p=0.0005", .logit = Logit(0.0005), .num_bins = 1000, .bin = 0},
      {.name = "p=0.0015", .logit = Logit(0.0015), .num_bins = 1000, .bin = 1},
      {.name = "p=0.5", .logit = 0, .num_bins = 1000, .bin = 500},
      {.name = "p=0.9995", .logit = Logit(0.9995), .num_bins = 1000, .bin = 999},
      {.name = "p=1 goes in last bin", .logit = 40, .num_bins = 1000, .bin = 999},
      {.name = "p=0.5 of 4", .logit = 0, .num_bins = 4, .bin = 2},
      {.name = "p=0.3 of 4", .logit = Logit(0.3), .num_bins = 4, .bin = 1},
      {.name = "p=1 of 4", .logit = 40, .num_bins = 4, .bin = 3},
      {.name = "one bin", .logit = 3, .num_bins = 1, .bin = 0},
  };
  for (const BinCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Eigen::MatrixXd X = Eigen::MatrixXd::Constant(1, 1, c.logit);
    for (double label : {0.0, 1.0}) {
      const BinaryMetrics m =
          EvaluateBinary(model, X, Eigen::VectorXd::Constant(1, label), c.num_bins);
      std::vector<int64_t> expected(c.num_bins, 0);
      expected[c.bin] = 1;
      const std::vector<int64_t> empty(c.num_bins, 0);
      EXPECT_EQ(m.positive_histogram, label == 1 ? expected : empty);
      EXPECT_EQ(m.negative_histogram, label == 1 ? empty : expected);
    }
  }
}

TEST(EvaluateBinaryTest, CountsTheConfusionMatrixAndLoss) {
  const LogisticRegression model = IdentityLogitModel();
  const std::vector<double> p = {0.9, 0.6, 0.3, 0.1, 0.5};
  const Eigen::VectorXd y = (Eigen::VectorXd(5) << 1, 0, 1, 0, 1).finished();
  const BinaryMetrics m = EvaluateBinary(model, LogitsFor(p), y, 10);
  EXPECT_EQ(m.n, 5);
  EXPECT_EQ(m.true_positive, 2);   // 0.9, and 0.5 (threshold is >= 0.5).
  EXPECT_EQ(m.false_positive, 1);  // 0.6.
  EXPECT_EQ(m.false_negative, 1);  // 0.3.
  EXPECT_EQ(m.true_negative, 1);   // 0.1.
  EXPECT_EQ(m.correct, 3);
  EXPECT_DOUBLE_EQ(Accuracy(m), 0.6);
  const double expected_loss = -std::log(0.9) - std::log(0.4) - std::log(0.3) -
                               std::log(0.9) - std::log(0.5);
  EXPECT_NEAR(m.loss_sum, expected_loss, 1e-12);
  EXPECT_NEAR(MeanLoss(m), expected_loss / 5, 1e-12);
  EXPECT_THAT(m.positive_histogram, ElementsAreArray<int64_t>({0, 0, 0, 1, 0, 1, 0, 0, 0, 1}));
  EXPECT_THAT(m.negative_histogram, ElementsAreArray<int64_t>({0, 1, 0, 0, 0, 0, 1, 0, 0, 0}));
  EXPECT_TRUE(ValidateBinaryMetrics(m).ok());
}

TEST(EvaluateBinaryTest, MeanLossIsTheUnregularizedLoss) {
  const auto data = SampleLogisticData(300, Eigen::Vector3d(1, -1, 2), 0.2, 4);
  const Eigen::VectorXd params = Eigen::Vector4d(0.5, -0.7, 1.1, 0.1);
  const auto model = LogisticRegression::FromParameters(params, 0.0);
  const auto regularized = LogisticRegression::FromParameters(params, 3.0);
  ASSERT_TRUE(model.ok() && regularized.ok());
  EXPECT_NEAR(MeanLoss(EvaluateBinary(*regularized, data.X, data.y)),
              model->Loss(data.X, data.y), 1e-12);
}

TEST(MetricsTest, EmptyMetricsHaveNoAccuracy) {
  EXPECT_TRUE(std::isnan(Accuracy(BinaryMetrics{})));
  EXPECT_TRUE(std::isnan(MeanLoss(BinaryMetrics{})));
}

struct AucCase {
  std::string name;
  std::vector<int64_t> positive;
  std::vector<int64_t> negative;
  std::optional<double> auc;
};

TEST(AucFromHistogramsTest, HandComputedCases) {
  const std::vector<AucCase> cases = {
      {.name = "perfect", .positive = {0, 1}, .negative = {1, 0}, .auc = 1.0},
      {.name = "reversed", .positive = {3, 0}, .negative = {0, 2}, .auc = 0.0},
      {.name = "all in one bin", .positive = {0, 5, 0}, .negative = {0, 7, 0}, .auc = 0.5},
      // Pairs: (p1,n1) tie 1/2, the other three lose: 0.5 / 4.
      {.name = "ties", .positive = {1, 1, 0}, .negative = {0, 1, 1}, .auc = 0.125},
      // 2 pos in bin 2 beat 1 neg in bin 0 and tie 1 in bin 2; 1 pos in bin 1
      // beats the neg in bin 0: (2*1 + 2*0.5 + 1*1) / (3*2).
      {.name = "mixed", .positive = {0, 1, 2}, .negative = {1, 0, 1}, .auc = 4.0 / 6},
      {.name = "no negatives", .positive = {0, 2}, .negative = {0, 0}, .auc = std::nullopt},
      {.name = "no positives", .positive = {0, 0}, .negative = {1, 0}, .auc = std::nullopt},
      {.name = "no bins", .positive = {}, .negative = {}, .auc = std::nullopt},
  };
  for (const AucCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::optional<double> auc = AucFromHistograms(c.positive, c.negative);
    ASSERT_EQ(auc.has_value(), c.auc.has_value());
    if (c.auc) {
      EXPECT_NEAR(*auc, *c.auc, 1e-15);
    }
  }
}

TEST(AucFromHistogramsTest, IdenticalDistributionsGiveOneHalf) {
  std::mt19937_64 rng(99);
  std::uniform_int_distribution<int64_t> count(0, 50);
  std::vector<int64_t> histogram(1000);
  for (int64_t& c : histogram) c = count(rng);
  EXPECT_NEAR(*AucFromHistograms(histogram, histogram), 0.5, 1e-12);
  std::vector<int64_t> doubled = histogram;
  for (int64_t& c : doubled) c *= 2;  // Same distribution, twice the mass.
  EXPECT_NEAR(*AucFromHistograms(histogram, doubled), 0.5, 1e-12);
}

TEST(AucFromHistogramsTest, MatchesExactPairwiseAucWithoutTiesInBins) {
  // 600 rows whose probabilities are distinct bin centres k/1000 + 0.0005,
  // so no two rows share a bin and the binned AUC must be the exact one.
  std::mt19937_64 rng(5);
  std::vector<int> bins(1000);
  for (int k = 0; k < 1000; ++k) bins[k] = k;
  std::shuffle(bins.begin(), bins.end(), rng);
  const int n = 600;
  std::vector<double> p(n);
  Eigen::VectorXd y(n);
  std::uniform_real_distribution<double> uniform(0, 1);
  for (int i = 0; i < n; ++i) {
    p[i] = (bins[i] + 0.5) / 1000.0;
    y(i) = uniform(rng) < p[i] ? 1 : 0;  // Informative but imperfect.
  }
  const LogisticRegression model = IdentityLogitModel();
  const Eigen::MatrixXd X = LogitsFor(p);
  const BinaryMetrics m = EvaluateBinary(model, X, y);
  for (size_t b = 0; b < m.positive_histogram.size(); ++b) {
    ASSERT_LE(m.positive_histogram[b] + m.negative_histogram[b], 1) << "bin " << b;
  }
  const double exact = MannWhitneyAuc(model.PredictProba(X), y);
  EXPECT_GT(exact, 0.6);
  EXPECT_LT(exact, 0.95);
  EXPECT_NEAR(*AucFromHistograms(m.positive_histogram, m.negative_histogram), exact, 1e-12);
}

TEST(AucFromHistogramsTest, CloseToExactAucOnModelScores) {
  // Real scores do share bins; with 1000 bins the error stays tiny.
  const auto data = SampleLogisticData(1500, Eigen::Vector3d(1.5, -1, 0.5), 0, 8);
  const auto model = LogisticRegression::FromParameters(Eigen::Vector4d(1.2, -0.8, 0.6, 0.1), 0);
  ASSERT_TRUE(model.ok());
  const BinaryMetrics m = EvaluateBinary(*model, data.X, data.y);
  EXPECT_NEAR(*AucFromHistograms(m.positive_histogram, m.negative_histogram),
              MannWhitneyAuc(model->PredictProba(data.X), data.y), 1e-3);
}

TEST(MergeTest, AddsEveryCount) {
  BinaryMetrics a = {.n = 3, .correct = 2, .true_positive = 1, .false_positive = 1,
                     .true_negative = 1, .false_negative = 0, .loss_sum = 1.5,
                     .positive_histogram = {0, 1}, .negative_histogram = {1, 1}};
  const BinaryMetrics b = {.n = 4, .correct = 1, .true_positive = 0, .false_positive = 1,
                           .true_negative = 1, .false_negative = 2, .loss_sum = 2.25,
                           .positive_histogram = {2, 0}, .negative_histogram = {1, 1}};
  ASSERT_TRUE(Merge(a, b).ok());
  EXPECT_EQ(a.n, 7);
  EXPECT_EQ(a.correct, 3);
  EXPECT_EQ(a.true_positive, 1);
  EXPECT_EQ(a.false_positive, 2);
  EXPECT_EQ(a.true_negative, 2);
  EXPECT_EQ(a.false_negative, 2);
  EXPECT_EQ(a.loss_sum, 3.75);
  EXPECT_THAT(a.positive_histogram, ElementsAreArray<int64_t>({2, 1}));
  EXPECT_THAT(a.negative_histogram, ElementsAreArray<int64_t>({2, 2}));
}

TEST(MergeTest, PoolingSitesEqualsEvaluatingTheUnion) {
  const auto data = SampleLogisticData(900, Eigen::Vector3d(1, 2, -1), 0.3, 12);
  const auto model = LogisticRegression::FromParameters(Eigen::Vector4d(0.8, 1.7, -1.2, 0.2), 0);
  ASSERT_TRUE(model.ok());
  BinaryMetrics pooled;  // Default-constructed: takes the first site's bins.
  for (const auto& [start, rows] : std::vector<std::pair<int, int>>{{0, 100}, {100, 500}, {600, 300}}) {
    ASSERT_TRUE(Merge(pooled, EvaluateBinary(*model, data.X.middleRows(start, rows),
                                             data.y.segment(start, rows)))
                    .ok());
  }
  const BinaryMetrics whole = EvaluateBinary(*model, data.X, data.y);
  EXPECT_EQ(pooled.n, whole.n);
  EXPECT_EQ(pooled.correct, whole.correct);
  EXPECT_EQ(pooled.true_positive, whole.true_positive);
  EXPECT_EQ(pooled.false_positive, whole.false_positive);
  EXPECT_EQ(pooled.positive_histogram, whole.positive_histogram);
  EXPECT_EQ(pooled.negative_histogram, whole.negative_histogram);
  EXPECT_NEAR(pooled.loss_sum, whole.loss_sum, 1e-9);
  EXPECT_EQ(AucFromHistograms(pooled.positive_histogram, pooled.negative_histogram),
            AucFromHistograms(whole.positive_histogram, whole.negative_histogram));
}

TEST(MergeTest, RejectsDifferentBinCountsAndLeavesTargetAlone) {
  const auto data = SampleLogisticData(50, Eigen::Vector2d(1, 1), 0, 3);
  const auto model = LogisticRegression::FromParameters(Eigen::Vector3d(1, 1, 0), 0);
  ASSERT_TRUE(model.ok());
  BinaryMetrics into = EvaluateBinary(*model, data.X, data.y, 100);
  const BinaryMetrics before = into;
  const absl::Status status = Merge(into, EvaluateBinary(*model, data.X, data.y, 1000));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("1000 bins into histograms with 100 bins"));
  EXPECT_EQ(into.n, before.n);
  EXPECT_EQ(into.positive_histogram, before.positive_histogram);
}

struct InconsistentCase {
  std::string name;
  BinaryMetrics metrics;
  std::string message;
};

TEST(ValidateBinaryMetricsTest, RejectsInconsistentReports) {
  // One positive predicted right, one negative predicted wrong, 2 bins.
  const BinaryMetrics good = {.n = 2, .correct = 1, .true_positive = 1, .false_positive = 1,
                              .true_negative = 0, .false_negative = 0, .loss_sum = 1.0,
                              .positive_histogram = {0, 1}, .negative_histogram = {0, 1}};
  ASSERT_TRUE(ValidateBinaryMetrics(good).ok());
  auto with = [&good](auto change) {
    BinaryMetrics m = good;
    change(m);
    return m;
  };
  const std::vector<InconsistentCase> cases = {
      {.name = "negative count",
       .metrics = with([](BinaryMetrics& m) { m.true_negative = -1; }),
       .message = "negative count"},
      {.name = "n disagrees", .metrics = with([](BinaryMetrics& m) { m.n = 3; }),
       .message = "confusion matrix sums to 2"},
      {.name = "correct disagrees", .metrics = with([](BinaryMetrics& m) { m.correct = 2; }),
       .message = "tp + tn = 1"},
      {.name = "histogram sizes",
       .metrics = with([](BinaryMetrics& m) { m.negative_histogram = {0, 0, 1}; }),
       .message = "3 bins"},
      {.name = "positive histogram sum",
       .metrics = with([](BinaryMetrics& m) { m.positive_histogram = {1, 1}; }),
       .message = "positive histogram does not sum"},
      {.name = "negative bin", .metrics = with([](BinaryMetrics& m) {
         m.negative_histogram = {-1, 2};
       }),
       .message = "negative histogram does not sum"},
      {.name = "no histogram", .metrics = with([](BinaryMetrics& m) {
         m.positive_histogram.clear();
         m.negative_histogram.clear();
       }),
       .message = "no histogram"},
      {.name = "NaN loss", .metrics = with([](BinaryMetrics& m) { m.loss_sum = std::nan(""); }),
       .message = "loss_sum"},
      {.name = "overflow", .metrics = with([](BinaryMetrics& m) {
         m.true_positive = INT64_MAX;
       }),
       .message = "overflow"},
  };
  for (const InconsistentCase& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::Status status = ValidateBinaryMetrics(c.metrics);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
    BinaryMetrics into = good;
    const absl::Status merged = Merge(into, c.metrics);
    EXPECT_EQ(merged.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(merged.message()), HasSubstr(c.message));
    EXPECT_EQ(into.n, good.n);
  }
}

using MetricsDeathTest = ::testing::Test;

TEST(MetricsDeathTest, MismatchedHistogramsAbort) {
  const std::vector<int64_t> two = {1, 1}, three = {1, 1, 1};
  EXPECT_DEATH(AucFromHistograms(two, three), "same bins");
  const LogisticRegression model = IdentityLogitModel();
  EXPECT_DEATH(EvaluateBinary(model, Eigen::MatrixXd::Zero(1, 1), Eigen::VectorXd::Zero(1), 0),
               "num_bins");
}

}  // namespace
}  // namespace cohort::ml
