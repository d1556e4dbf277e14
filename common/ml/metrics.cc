#include "common/ml/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ml/internal/check.h"

namespace cohort::ml {
namespace {

// Bin of probability p in [0, 1] among num_bins equal bins. NaN (impossible
// for finite inputs) lands in bin 0 rather than in undefined behaviour.
int BinOf(double p, int num_bins) {
  if (!(p > 0.0)) return 0;
  if (p >= 1.0) return num_bins - 1;
  return std::min(static_cast<int>(p * num_bins), num_bins - 1);
}

// Sum of counts, or nullopt if one is negative or the sum overflows int64.
std::optional<int64_t> CheckedSum(absl::Span<const int64_t> counts) {
  int64_t total = 0;
  for (int64_t count : counts) {
    if (count < 0 || count > std::numeric_limits<int64_t>::max() - total) {
      return std::nullopt;
    }
    total += count;
  }
  return total;
}

}  // namespace

BinaryMetrics EvaluateBinary(const LogisticRegression& model,
                             const Eigen::MatrixXd& X, const Eigen::VectorXd& y,
                             int num_bins) {
  COHORT_ML_CHECK(num_bins >= 1, "num_bins must be >= 1");
  const Eigen::VectorXd p = model.PredictProba(X);
  const Eigen::VectorXd loss = model.PerExampleLoss(X, y);

  BinaryMetrics m;
  m.n = X.rows();
  m.loss_sum = loss.sum();
  m.positive_histogram.assign(num_bins, 0);
  m.negative_histogram.assign(num_bins, 0);
  for (Eigen::Index i = 0; i < p.size(); ++i) {
    const bool actual = y(i) > 0.5;
    const bool predicted = p(i) >= 0.5;
    if (actual) {
      ++(predicted ? m.true_positive : m.false_negative);
      ++m.positive_histogram[BinOf(p(i), num_bins)];
    } else {
      ++(predicted ? m.false_positive : m.true_negative);
      ++m.negative_histogram[BinOf(p(i), num_bins)];
    }
  }
  m.correct = m.true_positive + m.true_negative;
  return m;
}

absl::Status ValidateBinaryMetrics(const BinaryMetrics& m) {
  if (m.n < 0 || m.correct < 0 || m.true_positive < 0 ||
      m.false_positive < 0 || m.true_negative < 0 || m.false_negative < 0) {
    return absl::InvalidArgumentError("metrics have a negative count");
  }
  const std::optional<int64_t> positives =
      CheckedSum({m.true_positive, m.false_negative});
  const std::optional<int64_t> negatives =
      CheckedSum({m.false_positive, m.true_negative});
  const std::optional<int64_t> total =
      positives && negatives ? CheckedSum({*positives, *negatives})
                             : std::nullopt;
  if (!total) return absl::InvalidArgumentError("metrics counts overflow");
  if (*total != m.n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics have n = ", m.n, " but the confusion matrix sums to ",
        *total));
  }
  if (m.correct != m.true_positive + m.true_negative) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics have correct = ", m.correct, " but tp + tn = ",
        m.true_positive + m.true_negative));
  }
  if (m.positive_histogram.size() != m.negative_histogram.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "positive histogram has ", m.positive_histogram.size(),
        " bins, negative histogram has ", m.negative_histogram.size(), " bins"));
  }
  if (m.positive_histogram.empty() && m.n != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics cover ", m.n, " examples but have no histogram"));
  }
  const std::optional<int64_t> positive_sum = CheckedSum(m.positive_histogram);
  const std::optional<int64_t> negative_sum = CheckedSum(m.negative_histogram);
  if (positive_sum != positives) {
    return absl::InvalidArgumentError(absl::StrCat(
        "positive histogram does not sum to the ", *positives,
        " positive examples"));
  }
  if (negative_sum != negatives) {
    return absl::InvalidArgumentError(absl::StrCat(
        "negative histogram does not sum to the ", *negatives,
        " negative examples"));
  }
  if (!std::isfinite(m.loss_sum) || m.loss_sum < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("loss_sum must be finite and >= 0, got ", m.loss_sum));
  }
  return absl::OkStatus();
}

absl::Status Merge(BinaryMetrics& into, const BinaryMetrics& other) {
  for (const BinaryMetrics* m : {&std::as_const(into), &other}) {
    if (absl::Status s = ValidateBinaryMetrics(*m); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot merge inconsistent metrics (",
                       m == &into ? "target" : "source", "): ", s.message()));
    }
  }
  const bool into_is_empty = into.n == 0 && into.positive_histogram.empty() &&
                             into.negative_histogram.empty();
  if (!into_is_empty &&
      (into.positive_histogram.size() != other.positive_histogram.size() ||
       into.negative_histogram.size() != other.negative_histogram.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot merge histograms with ", other.positive_histogram.size(),
        " bins into histograms with ", into.positive_histogram.size(),
        " bins"));
  }
  const int64_t max = std::numeric_limits<int64_t>::max();
  if (into.n > max - other.n) {
    return absl::InvalidArgumentError("merged example count overflows");
  }
  if (into_is_empty) {
    into.positive_histogram.assign(other.positive_histogram.size(), 0);
    into.negative_histogram.assign(other.negative_histogram.size(), 0);
  }
  // Both are valid, so every count is bounded by its n, and none of these
  // sums overflows once the sum of the n's does not.
  into.n += other.n;
  into.correct += other.correct;
  into.true_positive += other.true_positive;
  into.false_positive += other.false_positive;
  into.true_negative += other.true_negative;
  into.false_negative += other.false_negative;
  into.loss_sum += other.loss_sum;
  for (size_t b = 0; b < other.positive_histogram.size(); ++b) {
    into.positive_histogram[b] += other.positive_histogram[b];
    into.negative_histogram[b] += other.negative_histogram[b];
  }
  return absl::OkStatus();
}

double Accuracy(const BinaryMetrics& metrics) {
  if (metrics.n == 0) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(metrics.correct) /
         static_cast<double>(metrics.n);
}

double MeanLoss(const BinaryMetrics& metrics) {
  if (metrics.n == 0) return std::numeric_limits<double>::quiet_NaN();
  return metrics.loss_sum / static_cast<double>(metrics.n);
}

std::optional<double> AucFromHistograms(absl::Span<const int64_t> positive,
                                        absl::Span<const int64_t> negative) {
  COHORT_ML_CHECK(positive.size() == negative.size(),
                  "histograms must have the same bins");
  // Counts go into doubles: exact up to 2^53 examples, and the pair sums
  // below are accurate to double precision anyway.
  double positives = 0.0;
  double negatives = 0.0;
  for (size_t b = 0; b < positive.size(); ++b) {
    COHORT_ML_CHECK(positive[b] >= 0 && negative[b] >= 0,
                    "histogram counts must be non-negative");
    positives += static_cast<double>(positive[b]);
    negatives += static_cast<double>(negative[b]);
  }
  if (positives == 0.0 || negatives == 0.0) return std::nullopt;

  // Pairs (positive, negative) with the negative in a lower bin count 1, in
  // the same bin 1/2.
  double wins = 0.0;
  double negatives_below = 0.0;
  for (size_t b = 0; b < positive.size(); ++b) {
    const double neg = static_cast<double>(negative[b]);
    wins += static_cast<double>(positive[b]) * (negatives_below + 0.5 * neg);
    negatives_below += neg;
  }
  return wins / (positives * negatives);
}

}  // namespace cohort::ml
