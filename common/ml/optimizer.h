// First-order optimizers that update a flat parameter vector in place.
//
// Local training at a site builds one optimizer per federated round (from an
// OptimizerConfig) so that no momentum or Adam moments leak from one round's
// global model into the next.
//
// Ownership: an optimizer owns its state (momentum, moments), sized lazily on
// the first Step to the parameter vector it is given.
// Thread-safety: none; an optimizer belongs to one training loop.
#ifndef COHORT_COMMON_ML_OPTIMIZER_H_
#define COHORT_COMMON_ML_OPTIMIZER_H_

#include <cstdint>
#include <memory>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cohort::ml {

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // params -= update(grad). Requires grad.size() == params.size(), and the
  // same size as in earlier steps since the last Reset (aborts otherwise).
  virtual void Step(Eigen::VectorXd& params, const Eigen::VectorXd& grad) = 0;

  // Forgets all state, as if freshly created.
  virtual void Reset() = 0;
};

// Plain or heavy-ball SGD: v = momentum * v + grad; params -= lr * v.
// With momentum 0 this is params -= lr * grad.
class Sgd final : public Optimizer {
 public:
  // InvalidArgument unless learning_rate is finite and > 0 and momentum is
  // in [0, 1).
  static absl::StatusOr<std::unique_ptr<Sgd>> Create(double learning_rate,
                                                     double momentum = 0.0);

  void Step(Eigen::VectorXd& params, const Eigen::VectorXd& grad) override;
  void Reset() override;

 private:
  Sgd(double learning_rate, double momentum)
      : learning_rate_(learning_rate), momentum_(momentum) {}

  double learning_rate_;
  double momentum_;
  Eigen::VectorXd velocity_;  // Empty until the first Step.
};

// Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
// Algorithm 1) with bias-corrected moments. Its first step moves each
// coordinate by lr * sign(grad) (up to eps).
class Adam final : public Optimizer {
 public:
  // InvalidArgument unless learning_rate is finite and > 0, beta1 and beta2
  // are in [0, 1), and epsilon is finite and > 0.
  static absl::StatusOr<std::unique_ptr<Adam>> Create(double learning_rate,
                                                      double beta1 = 0.9,
                                                      double beta2 = 0.999,
                                                      double epsilon = 1e-8);

  void Step(Eigen::VectorXd& params, const Eigen::VectorXd& grad) override;
  void Reset() override;

 private:
  Adam(double learning_rate, double beta1, double beta2, double epsilon)
      : learning_rate_(learning_rate),
        beta1_(beta1),
        beta2_(beta2),
        epsilon_(epsilon) {}

  double learning_rate_;
  double beta1_;
  double beta2_;
  double epsilon_;
  int64_t steps_ = 0;
  Eigen::VectorXd first_moment_;   // Empty until the first Step.
  Eigen::VectorXd second_moment_;  // Empty until the first Step.
};

// Which optimizer local training uses, as read from a study config.
struct OptimizerConfig {
  enum class Kind { kSgd, kAdam };
  Kind kind = Kind::kSgd;
  double learning_rate = 0.0;  // Must be set: 0 fails validation.
  double momentum = 0.0;       // SGD only.
};

// "sgd" -> kSgd, "adam" -> kAdam. InvalidArgument, listing the allowed
// values, for anything else.
absl::StatusOr<OptimizerConfig::Kind> ParseOptimizerKind(
    absl::string_view name);

// The inverse of ParseOptimizerKind.
absl::string_view OptimizerKindName(OptimizerConfig::Kind kind);

// InvalidArgument unless the config can build an optimizer: the learning
// rate and momentum ranges of Sgd::Create / Adam::Create, and momentum 0 for
// Adam (rather than silently ignoring it).
absl::Status ValidateOptimizerConfig(const OptimizerConfig& config);

// A fresh optimizer for `config` (Adam with its default betas and epsilon).
// InvalidArgument as ValidateOptimizerConfig.
absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(
    const OptimizerConfig& config);

}  // namespace cohort::ml

#endif  // COHORT_COMMON_ML_OPTIMIZER_H_
