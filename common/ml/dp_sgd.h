// DP-SGD at a site (Abadi et al., CCS 2016): Poisson subsampling of the local
// records, per-example gradient clipping to L2 norm C, Gaussian noise of
// standard deviation sigma * C on each step's clipped sum.
//
// Per-example gradients come in one batch from the model's closed form
// (LogisticRegression::PerExampleGradients), not one backward pass per
// record. The step divides the noisy sum by a fixed `expected_batch` (the
// sampling rate times a record count that is already public, e.g. the site's
// own noisy count from the study's statistics), never by the number of
// records actually sampled, which would leak it. The L2 penalty's gradient
// depends on the parameters only and is added after the noise.
//
// Privacy: each step is the Poisson-subsampled Gaussian mechanism with rate q
// and noise multiplier sigma, for add/remove-one-record adjacency; `steps`
// of them compose (common/privacy/accountant.h charges them). The noise comes
// from the injected generator: production passes a cryptographically secure
// one (site_agent/secure_bit_gen.h), tests a seeded one.
//
// Thread-safety: no shared state; concurrent calls on different models are
// safe.
#ifndef COHORT_COMMON_ML_DP_SGD_H_
#define COHORT_COMMON_ML_DP_SGD_H_

#include <cstdint>

#include <Eigen/Core>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/ml/logistic_regression.h"
#include "common/ml/optimizer.h"

namespace cohort::ml {

struct DpSgdOptions {
  int steps = 1;                  // >= 1 noisy steps
  double sampling_rate = 0.0;     // Poisson q in (0, 1]
  double clip = 0.0;              // C > 0
  double noise_multiplier = 0.0;  // sigma >= 0 (0 only for tests of the clipping)
  double expected_batch = 0.0;    // > 0, the step's divisor
  OptimizerConfig optimizer;
};

// InvalidArgument naming the first field out of range.
absl::Status ValidateDpSgdOptions(const DpSgdOptions& options);

// Rows of `gradients` scaled so that each has L2 norm <= clip (rows already
// within it are unchanged). Returns how many rows were scaled down.
int64_t ClipRows(Eigen::MatrixXd& gradients, double clip);

struct DpSgdResult {
  int64_t steps = 0;
  int64_t examples_sampled = 0;  // stays at the site: never released
  int64_t examples_clipped = 0;  // per-example gradients scaled down
};

// Trains `model` in place with `options.steps` DP-SGD steps on (X, y). On any
// error `model` is left unchanged. Returns:
//   InvalidArgument     bad options, or X/y that fail ValidateExamples;
//   FailedPrecondition  the parameters stopped being finite.
absl::StatusOr<DpSgdResult> TrainDpSgd(LogisticRegression& model, const Eigen::MatrixXd& X,
                                       const Eigen::VectorXd& y, const DpSgdOptions& options,
                                       absl::BitGenRef gen);

// The sum of the clipped per-example gradients of a Poisson sample (rate q)
// of the rows, without noise: one step of distributed DP-SGD before the
// site's share of the noise is added. `sampled` (optional) receives the
// sampled rows' clipped gradients, one per row, for encoders that round each
// record separately.
struct ClippedSample {
  Eigen::MatrixXd per_example;  // rows: sampled records, clipped to C
  int64_t num_clipped = 0;
};
absl::StatusOr<ClippedSample> SampleClippedGradients(const LogisticRegression& model,
                                                     const Eigen::MatrixXd& X,
                                                     const Eigen::VectorXd& y,
                                                     double sampling_rate, double clip,
                                                     absl::BitGenRef gen);

}  // namespace cohort::ml

#endif  // COHORT_COMMON_ML_DP_SGD_H_
