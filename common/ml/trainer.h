// Local training at one site: a few epochs of mini-batch optimization of the
// global model on the site's own rows, the client half of a federated round.
//
// Each call builds a fresh optimizer, so every round starts from the global
// model with no optimizer state carried over. Shuffling is driven only by
// `LocalTrainingOptions::seed` (std::mt19937_64 and an unbiased Fisher-Yates
// written here, not std::shuffle, so the order is the same with any standard
// library), which makes a site's update reproducible.
//
// Thread-safety: TrainLocally has no shared state; concurrent calls on
// different models are safe.
#ifndef COHORT_COMMON_ML_TRAINER_H_
#define COHORT_COMMON_ML_TRAINER_H_

#include <cstdint>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/ml/logistic_regression.h"
#include "common/ml/optimizer.h"

namespace cohort::ml {

struct LocalTrainingOptions {
  int epochs = 1;          // >= 1 passes over the local rows.
  int max_steps = 0;       // >= 0; 0 means no cap, else stop after this many.
  int batch_size = 32;     // >= 1; the last batch of an epoch may be smaller.
  OptimizerConfig optimizer;
  uint64_t seed = 0;       // Seeds the per-epoch shuffle.
};

// InvalidArgument naming the first field out of range (including the
// optimizer's, see ValidateOptimizerConfig).
absl::Status ValidateLocalTrainingOptions(const LocalTrainingOptions& options);

struct LocalTrainingResult {
  int64_t steps = 0;          // Optimizer steps taken.
  int64_t examples_seen = 0;  // Sum of the batch sizes of those steps.
  // Loss of each batch (Loss(), L2 term included) just before its step,
  // averaged with the batch sizes as weights.
  double mean_train_loss = 0.0;
  // Loss() of the trained model on the whole local training set.
  double final_loss = 0.0;
};

// Trains `model` in place on (X, y). On any error `model` is left unchanged.
// Returns:
//   InvalidArgument     bad options, or X/y that fail
//                       LogisticRegression::ValidateExamples;
//   FailedPrecondition  X has no rows, or the parameters stopped being finite
//                       (learning rate too large).
absl::StatusOr<LocalTrainingResult> TrainLocally(
    LogisticRegression& model, const Eigen::MatrixXd& X,
    const Eigen::VectorXd& y, const LocalTrainingOptions& options);

}  // namespace cohort::ml

#endif  // COHORT_COMMON_ML_TRAINER_H_
