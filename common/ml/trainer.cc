#include "common/ml/trainer.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace cohort::ml {
namespace {

// Uniform in [0, bound) for bound >= 1, by rejecting the raw outputs below
// 2^64 mod bound so the remaining range is a multiple of bound.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;
  while (true) {
    const uint64_t x = rng();
    if (x >= threshold) return x % bound;
  }
}

void Shuffle(std::vector<Eigen::Index>& order, std::mt19937_64& rng) {
  for (size_t i = order.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(UniformBelow(rng, i));
    std::swap(order[i - 1], order[j]);
  }
}

}  // namespace

absl::Status ValidateLocalTrainingOptions(const LocalTrainingOptions& options) {
  if (options.epochs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("epochs must be >= 1, got ", options.epochs));
  }
  if (options.max_steps < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_steps must be >= 0 (0: no cap), got ", options.max_steps));
  }
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size must be >= 1, got ", options.batch_size));
  }
  return ValidateOptimizerConfig(options.optimizer);
}

absl::StatusOr<LocalTrainingResult> TrainLocally(
    LogisticRegression& model, const Eigen::MatrixXd& X,
    const Eigen::VectorXd& y, const LocalTrainingOptions& options) {
  RETURN_IF_ERROR(ValidateLocalTrainingOptions(options));
  if (X.rows() == 0) {
    return absl::FailedPreconditionError(
        "cannot train on an empty dataset");
  }
  RETURN_IF_ERROR(model.ValidateExamples(X, y));
  ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer,
                   MakeOptimizer(options.optimizer));

  // Work on a copy so that a failure leaves the caller's model untouched.
  LogisticRegression trained = model;
  std::mt19937_64 rng(options.seed);
  std::vector<Eigen::Index> order(X.rows());
  std::iota(order.begin(), order.end(), Eigen::Index{0});
  const Eigen::Index n = X.rows();
  const Eigen::Index batch_size = options.batch_size;

  LocalTrainingResult result;
  double weighted_loss_sum = 0.0;
  bool capped = false;
  for (int epoch = 0; epoch < options.epochs && !capped; ++epoch) {
    Shuffle(order, rng);
    for (Eigen::Index start = 0; start < n; start += batch_size) {
      if (options.max_steps > 0 && result.steps >= options.max_steps) {
        capped = true;
        break;
      }
      const Eigen::Index end = std::min(n, start + batch_size);
      const std::vector<Eigen::Index> rows(order.begin() + start,
                                           order.begin() + end);
      const Eigen::MatrixXd X_batch = X(rows, Eigen::all);
      const Eigen::VectorXd y_batch = y(rows);

      weighted_loss_sum +=
          trained.Loss(X_batch, y_batch) * static_cast<double>(rows.size());
      optimizer->Step(trained.mutable_parameters(),
                      trained.Gradient(X_batch, y_batch));
      ++result.steps;
      result.examples_seen += static_cast<int64_t>(rows.size());
      if (!trained.parameters().allFinite()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "parameters became non-finite at step ", result.steps,
            " (epoch ", epoch + 1, "); lower the learning rate (",
            options.optimizer.learning_rate, ")"));
      }
    }
  }
  result.mean_train_loss =
      weighted_loss_sum / static_cast<double>(result.examples_seen);
  result.final_loss = trained.Loss(X, y);
  model = std::move(trained);
  return result;
}

}  // namespace cohort::ml
