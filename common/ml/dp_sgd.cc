#include "common/ml/dp_sgd.h"

#include <cmath>
#include <memory>
#include <vector>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace cohort::ml {
namespace {

bool InUnitInterval(double q) { return q > 0.0 && q <= 1.0; }

std::vector<Eigen::Index> PoissonSample(Eigen::Index n, double q, absl::BitGenRef gen) {
  std::vector<Eigen::Index> rows;
  rows.reserve(static_cast<size_t>(static_cast<double>(n) * q * 1.5) + 8);
  for (Eigen::Index i = 0; i < n; ++i) {
    if (q >= 1.0 || absl::Bernoulli(gen, q)) rows.push_back(i);
  }
  return rows;
}

}  // namespace

absl::Status ValidateDpSgdOptions(const DpSgdOptions& options) {
  if (options.steps < 1) {
    return absl::InvalidArgumentError(absl::StrCat("steps must be >= 1, got ", options.steps));
  }
  if (!InUnitInterval(options.sampling_rate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling_rate must be in (0, 1], got ", options.sampling_rate));
  }
  if (!(options.clip > 0) || !std::isfinite(options.clip)) {
    return absl::InvalidArgumentError(absl::StrCat("clip must be > 0, got ", options.clip));
  }
  if (!(options.noise_multiplier >= 0) || !std::isfinite(options.noise_multiplier)) {
    return absl::InvalidArgumentError(
        absl::StrCat("noise_multiplier must be >= 0, got ", options.noise_multiplier));
  }
  if (!(options.expected_batch > 0) || !std::isfinite(options.expected_batch)) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected_batch must be > 0, got ", options.expected_batch));
  }
  return ValidateOptimizerConfig(options.optimizer);
}

int64_t ClipRows(Eigen::MatrixXd& gradients, double clip) {
  int64_t clipped = 0;
  const Eigen::VectorXd norms = gradients.rowwise().norm();
  for (Eigen::Index i = 0; i < gradients.rows(); ++i) {
    if (norms[i] > clip) {
      gradients.row(i) *= clip / norms[i];
      ++clipped;
    }
  }
  return clipped;
}

absl::StatusOr<ClippedSample> SampleClippedGradients(const LogisticRegression& model,
                                                     const Eigen::MatrixXd& X,
                                                     const Eigen::VectorXd& y,
                                                     double sampling_rate, double clip,
                                                     absl::BitGenRef gen) {
  if (!InUnitInterval(sampling_rate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling_rate must be in (0, 1], got ", sampling_rate));
  }
  if (!(clip > 0) || !std::isfinite(clip)) {
    return absl::InvalidArgumentError(absl::StrCat("clip must be > 0, got ", clip));
  }
  RETURN_IF_ERROR(model.ValidateExamples(X, y));
  const std::vector<Eigen::Index> rows = PoissonSample(X.rows(), sampling_rate, gen);
  ClippedSample sample;
  if (rows.empty()) {
    sample.per_example.resize(0, model.num_features() + 1);
    return sample;
  }
  sample.per_example = model.PerExampleGradients(X(rows, Eigen::all), y(rows));
  sample.num_clipped = ClipRows(sample.per_example, clip);
  return sample;
}

absl::StatusOr<DpSgdResult> TrainDpSgd(LogisticRegression& model, const Eigen::MatrixXd& X,
                                       const Eigen::VectorXd& y, const DpSgdOptions& options,
                                       absl::BitGenRef gen) {
  RETURN_IF_ERROR(ValidateDpSgdOptions(options));
  RETURN_IF_ERROR(model.ValidateExamples(X, y));
  ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer, MakeOptimizer(options.optimizer));

  LogisticRegression trained = model;
  const int dim = trained.num_features() + 1;
  const double noise_std = options.noise_multiplier * options.clip;
  DpSgdResult result;
  for (int step = 0; step < options.steps; ++step) {
    ASSIGN_OR_RETURN(ClippedSample sample,
                     SampleClippedGradients(trained, X, y, options.sampling_rate, options.clip,
                                            gen));
    Eigen::VectorXd noisy = sample.per_example.colwise().sum().transpose();
    if (noisy.size() != dim) noisy = Eigen::VectorXd::Zero(dim);
    for (int j = 0; j < dim; ++j) noisy[j] += absl::Gaussian<double>(gen, 0.0, noise_std);
    Eigen::VectorXd gradient = noisy / options.expected_batch;
    gradient.head(dim - 1) += trained.l2() * trained.parameters().head(dim - 1);
    optimizer->Step(trained.mutable_parameters(), gradient);
    if (!trained.parameters().allFinite()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "parameters became non-finite at DP-SGD step ", step + 1,
          "; lower the learning rate (", options.optimizer.learning_rate, ")"));
    }
    ++result.steps;
    result.examples_sampled += sample.per_example.rows();
    result.examples_clipped += sample.num_clipped;
  }
  model = std::move(trained);
  return result;
}

}  // namespace cohort::ml
