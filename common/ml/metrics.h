// Binary-classification metrics that sites compute locally and the
// coordinator pools, without any row-level prediction leaving a site.
//
// Every count in BinaryMetrics is a sum over examples, so metrics from several
// sites pool by adding (Merge). AUC pools the same way: each site reports the
// histogram of predicted probabilities of its positive and of its negative
// examples over fixed equal bins of [0, 1]; the coordinator sums them and calls
// AucFromHistograms. With B bins the pooled AUC differs from the exact
// row-level one only through pairs whose scores share a bin, which count 1/2.
//
// Thread-safety: plain functions and a plain struct; no shared state.
#ifndef COHORT_COMMON_ML_METRICS_H_
#define COHORT_COMMON_ML_METRICS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/ml/logistic_regression.h"

namespace cohort::ml {

inline constexpr int kDefaultHistogramBins = 1000;

struct BinaryMetrics {
  int64_t n = 0;
  int64_t correct = 0;  // Predicted label (p >= 0.5) equals the true label.
  int64_t true_positive = 0;
  int64_t false_positive = 0;
  int64_t true_negative = 0;
  int64_t false_negative = 0;
  double loss_sum = 0.0;  // Sum of per-example cross-entropy, no L2 term.
  // Bin b counts examples with predicted probability in
  // [b/num_bins, (b+1)/num_bins); p == 1.0 goes into the last bin.
  std::vector<int64_t> positive_histogram;
  std::vector<int64_t> negative_histogram;
};

// Evaluates `model` on (X, y) with labels 0/1 (anything > 0.5 counts as
// positive). Preconditions, as for LogisticRegression's numeric methods:
// X.cols() == model.num_features(), y.size() == X.rows(); and num_bins >= 1.
BinaryMetrics EvaluateBinary(const LogisticRegression& model,
                             const Eigen::MatrixXd& X, const Eigen::VectorXd& y,
                             int num_bins = kDefaultHistogramBins);

// Checks that metrics received from a site are self-consistent: counts are
// non-negative, tp + fp + tn + fn == n, correct == tp + tn, both histograms
// have the same number of bins (at least one unless n == 0 and both are
// empty), their sums are tp + fn and fp + tn, and loss_sum is finite and
// >= 0. InvalidArgument describing the first inconsistency.
absl::Status ValidateBinaryMetrics(const BinaryMetrics& metrics);

// into += other. Both must pass ValidateBinaryMetrics. A default-constructed
// `into` (no bins) takes other's bin count; otherwise the bin counts must
// agree. InvalidArgument otherwise (or if n would overflow), and `into` is
// then unchanged.
absl::Status Merge(BinaryMetrics& into, const BinaryMetrics& other);

// correct / n; NaN when n == 0.
double Accuracy(const BinaryMetrics& metrics);

// loss_sum / n; NaN when n == 0.
double MeanLoss(const BinaryMetrics& metrics);

// Area under the ROC curve from per-class histograms over the same bins:
// P(score of a positive > score of a negative), with pairs in the same bin
// counting 1/2 (the Mann-Whitney statistic over bins, equal to the trapezoid
// rule on the binned ROC curve). nullopt when either class is empty.
// Requires positive.size() == negative.size() and no negative counts.
std::optional<double> AucFromHistograms(absl::Span<const int64_t> positive,
                                        absl::Span<const int64_t> negative);

}  // namespace cohort::ml

#endif  // COHORT_COMMON_ML_METRICS_H_
