// Federated preprocessing: every site summarises its training features as
// additive sufficient statistics, the coordinator adds them up, and every
// site then imputes and standardizes with the SAME global statistics, so the
// federated model sees one feature space. Only counts, sums and sums of
// squares leave a site.
//
// Plain value types and free functions; thread-compatible.
#ifndef COHORT_COMMON_DATA_PREPROCESS_H_
#define COHORT_COMMON_DATA_PREPROCESS_H_

#include <vector>

#include "Eigen/Dense"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/data/loader.h"

namespace cohort::data {

// Per encoded feature, over the non-missing (non-NaN) training values.
struct FeatureStatistics {
  std::vector<double> count;
  std::vector<double> sum;
  std::vector<double> sum_squares;

  // All-zero statistics for `num_features` features: the identity of Add.
  static FeatureStatistics Zeros(int num_features);
};

// Statistics of dataset.x_train.
FeatureStatistics ComputeStatistics(const LocalDataset& dataset);
// Statistics of the rows of `x` (NaN entries are skipped).
FeatureStatistics ComputeStatistics(const Eigen::MatrixXd& x);

// into += other, feature by feature. Returns InvalidArgument (leaving `into`
// unchanged) if the two have different numbers of features or either is
// internally inconsistent (vectors of different lengths).
absl::Status Add(FeatureStatistics& into, const FeatureStatistics& other);

// The transform every site applies: x <- (x - mean) / scale, after replacing
// NaN with impute_value.
struct Standardizer {
  std::vector<double> mean;          // 0 when not standardizing
  std::vector<double> scale;         // 1 when not standardizing
  std::vector<double> impute_value;  // the global mean, always
};

// From the sum of all sites' statistics: mean = sum / count, scale the
// population standard deviation, or 1 where it is below 1e-12 (a constant
// feature). With standardize = false, mean is 0 and scale 1, but missing
// values are still imputed with the global mean.
// Returns InvalidArgument if the statistics are inconsistent, not finite, or
// a feature has no training value at all (count <= 0).
absl::StatusOr<Standardizer> StandardizerFromGlobalStatistics(
    const FeatureStatistics& global, bool standardize);

// Imputes and standardizes `x` in place, column j with entry j of the
// standardizer. Returns InvalidArgument (leaving `x` unchanged) if the
// standardizer's size is not x.cols(), its vectors disagree in length, or a
// value is not finite or a scale not positive; the standardizer may have come
// over the network.
absl::Status Apply(const Standardizer& standardizer, Eigen::MatrixXd& x);

}  // namespace cohort::data

#endif  // COHORT_COMMON_DATA_PREPROCESS_H_
