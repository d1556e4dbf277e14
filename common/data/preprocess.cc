#include "common/data/preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"

namespace cohort::data {
namespace {

absl::Status CheckConsistent(const FeatureStatistics& stats,
                             absl::string_view what) {
  if (stats.sum.size() != stats.count.size() ||
      stats.sum_squares.size() != stats.count.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " statistics are inconsistent: ", stats.count.size(),
        " counts, ", stats.sum.size(), " sums, ", stats.sum_squares.size(),
        " sums of squares"));
  }
  return absl::OkStatus();
}

}  // namespace

FeatureStatistics FeatureStatistics::Zeros(int num_features) {
  const size_t n = num_features > 0 ? static_cast<size_t>(num_features) : 0;
  return FeatureStatistics{std::vector<double>(n, 0.0),
                           std::vector<double>(n, 0.0),
                           std::vector<double>(n, 0.0)};
}

FeatureStatistics ComputeStatistics(const Eigen::MatrixXd& x) {
  FeatureStatistics stats = FeatureStatistics::Zeros(static_cast<int>(x.cols()));
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const double v = x(i, j);
      if (std::isnan(v)) continue;
      stats.count[j] += 1.0;
      stats.sum[j] += v;
      stats.sum_squares[j] += v * v;
    }
  }
  return stats;
}

FeatureStatistics ComputeStatistics(const LocalDataset& dataset) {
  return ComputeStatistics(dataset.x_train);
}

absl::Status Add(FeatureStatistics& into, const FeatureStatistics& other) {
  if (absl::Status s = CheckConsistent(into, "accumulated"); !s.ok()) return s;
  if (absl::Status s = CheckConsistent(other, "added"); !s.ok()) return s;
  if (into.count.size() != other.count.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot add statistics of ", other.count.size(),
                     " features to statistics of ", into.count.size(),
                     " features"));
  }
  for (size_t j = 0; j < into.count.size(); ++j) {
    into.count[j] += other.count[j];
    into.sum[j] += other.sum[j];
    into.sum_squares[j] += other.sum_squares[j];
  }
  return absl::OkStatus();
}

absl::StatusOr<Standardizer> StandardizerFromGlobalStatistics(
    const FeatureStatistics& global, bool standardize) {
  if (absl::Status s = CheckConsistent(global, "global"); !s.ok()) return s;
  const size_t n = global.count.size();
  Standardizer result{std::vector<double>(n, 0.0), std::vector<double>(n, 1.0),
                      std::vector<double>(n, 0.0)};
  for (size_t j = 0; j < n; ++j) {
    const double count = global.count[j];
    if (!std::isfinite(count) || !std::isfinite(global.sum[j]) ||
        !std::isfinite(global.sum_squares[j])) {
      return absl::InvalidArgumentError(
          absl::StrCat("global statistics of feature ", j, " are not finite"));
    }
    if (count <= 0.0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "feature ", j, " has no non-missing training value at any site"));
    }
    const double mean = global.sum[j] / count;
    // Clamped: rounding can make E[x^2] - E[x]^2 slightly negative.
    const double variance =
        std::max(0.0, global.sum_squares[j] / count - mean * mean);
    const double std_dev = std::sqrt(variance);
    result.impute_value[j] = mean;
    if (standardize) {
      result.mean[j] = mean;
      result.scale[j] = std_dev < 1e-12 ? 1.0 : std_dev;
    }
  }
  return result;
}

absl::Status Apply(const Standardizer& standardizer, Eigen::MatrixXd& x) {
  const size_t n = standardizer.mean.size();
  if (standardizer.scale.size() != n || standardizer.impute_value.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "standardizer is inconsistent: ", n, " means, ",
        standardizer.scale.size(), " scales, ",
        standardizer.impute_value.size(), " imputation values"));
  }
  if (static_cast<Eigen::Index>(n) != x.cols()) {
    return absl::InvalidArgumentError(
        absl::StrCat("standardizer has ", n, " features but the data has ",
                     x.cols()));
  }
  for (size_t j = 0; j < n; ++j) {
    if (!std::isfinite(standardizer.mean[j]) ||
        !std::isfinite(standardizer.impute_value[j]) ||
        !std::isfinite(standardizer.scale[j]) || standardizer.scale[j] <= 0.0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "standardizer of feature ", j,
          " needs a finite mean and imputation value and a positive scale"));
    }
  }
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    const double mean = standardizer.mean[j];
    const double scale = standardizer.scale[j];
    const double impute = standardizer.impute_value[j];
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      double& v = x(i, j);
      if (std::isnan(v)) v = impute;
      v = (v - mean) / scale;
    }
  }
  return absl::OkStatus();
}

}  // namespace cohort::data
