// What a site releases under differential privacy, as a sum over its
// records of bounded per-record vectors (docs/privacy.md#what-leaves-a-site).
//
// Every DP release of a study is "sum of one vector per patient record, plus
// noise": the sensitivity of the sum to one record is the bound on one
// record's vector, whatever the data. Model updates use the clipped
// per-example gradients (common/ml/dp_sgd.h); the preprocessing statistics
// and the evaluation metrics use the layouts below. In local mode a site adds
// Gaussian noise to its own sum (NoisySum); in distributed mode it adds its
// share of discrete Gaussian noise (common/privacy/distributed.h) and only the
// securely aggregated sum is decoded. Decoding is linear, so decoding a sum of
// sites' sums gives the sum of their decoded releases.
//
// Immutable values; thread-safe.
#ifndef COHORT_COMMON_STUDY_PRIVATE_RELEASE_H_
#define COHORT_COMMON_STUDY_PRIVATE_RELEASE_H_

#include <vector>

#include <Eigen/Core>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "cohort/v1/tasks.pb.h"
#include "common/data/loader.h"
#include "common/data/schema.h"
#include "common/ml/logistic_regression.h"

namespace cohort::study {

// Preprocessing statistics. Each encoded feature column j is clipped to its
// declared range [lo, hi] and rescaled to u = (x - mid) / half in [-1, 1]. A
// training record contributes u_j for every column, u_j^2 for numeric
// columns, a presence indicator per column when missing values are imputed,
// and 1 to the training-row count; a test record contributes 1 to the
// test-row count only.
class StatisticsLayout {
 public:
  // InvalidArgument if a numeric variable has no range.
  static absl::StatusOr<StatisticsLayout> Create(const data::StudySchema& schema);

  int length() const { return length_; }
  // L2 norm bound of one record's vector.
  double record_bound() const;
  // One row per record (training rows, then test rows).
  Eigen::MatrixXd Records(const data::LocalDataset& data) const;
  // The statistics a (noisy) sum of records stands for: linear in `sum`.
  // Counts are rounded and never negative.
  v1::StatisticsResult Decode(const Eigen::VectorXd& sum) const;
  // Makes noisy global statistics usable for standardization: at least one
  // row, means inside the declared range, standard deviations between a
  // quarter of the half-range and the half-range (binary columns: a
  // proportion in [0.01, 0.99]).
  void Sanitize(v1::StatisticsResult& total) const;

 private:
  struct Column {
    double mid = 0, half = 1;
    bool numeric = false;
    int u = -1, u2 = -1, present = -1;  // indices into the layout
  };
  StatisticsLayout() = default;
  std::vector<Column> columns_;
  int train_index_ = 0, test_index_ = 0, length_ = 0;
  bool impute_ = false;
};

// Evaluation of a model on the test rows. A record contributes 1 to the bin
// of its predicted probability in the histogram of its label, and its
// cross-entropy clipped to kMaxLoss, divided by kMaxLoss. With an even
// number of bins the confusion counts at threshold 0.5 follow from the
// histograms, so the decoded metrics are always self-consistent.
class EvaluationLayout {
 public:
  static constexpr double kMaxLoss = 10.0;
  // InvalidArgument unless bins is even and >= 2.
  static absl::StatusOr<EvaluationLayout> Create(int bins);

  int bins() const { return bins_; }
  int length() const { return 2 * bins_ + 1; }
  double record_bound() const;
  Eigen::MatrixXd Records(const ml::LogisticRegression& model, const Eigen::MatrixXd& x,
                          const Eigen::VectorXd& y) const;
  v1::Metrics Decode(const Eigen::VectorXd& sum) const;

 private:
  explicit EvaluationLayout(int bins) : bins_(bins) {}
  int bins_;
};

// Sum of `records` (each row within `bound`: checked, InvalidArgument if
// not) plus independent N(0, (noise_multiplier * bound)^2) noise on every
// coordinate: the Gaussian mechanism with L2 sensitivity `bound`.
absl::StatusOr<Eigen::VectorXd> NoisySum(const Eigen::MatrixXd& records, int length, double bound,
                                         double noise_multiplier, absl::BitGenRef gen);

}  // namespace cohort::study

#endif  // COHORT_COMMON_STUDY_PRIVATE_RELEASE_H_
