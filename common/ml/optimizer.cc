#include "common/ml/optimizer.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ml/internal/check.h"
#include "common/util/status_macros.h"

namespace cohort::ml {
namespace {

absl::Status ValidateLearningRate(double learning_rate) {
  if (!std::isfinite(learning_rate) || learning_rate <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "learning_rate must be finite and > 0, got ", learning_rate));
  }
  return absl::OkStatus();
}

// NaN fails both comparisons, so it is rejected too.
absl::Status ValidateUnitInterval(absl::string_view name, double value) {
  if (!(value >= 0 && value < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be in [0, 1), got ", value));
  }
  return absl::OkStatus();
}

// Sizes `state` to match `params` on the first step after a Reset.
void PrepareState(Eigen::VectorXd& state, const Eigen::VectorXd& params) {
  if (state.size() == 0) state = Eigen::VectorXd::Zero(params.size());
  COHORT_ML_CHECK(state.size() == params.size(),
                  "parameter size changed without Reset");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Sgd>> Sgd::Create(double learning_rate,
                                                 double momentum) {
  RETURN_IF_ERROR(ValidateLearningRate(learning_rate));
  RETURN_IF_ERROR(ValidateUnitInterval("momentum", momentum));
  return std::unique_ptr<Sgd>(new Sgd(learning_rate, momentum));
}

void Sgd::Step(Eigen::VectorXd& params, const Eigen::VectorXd& grad) {
  COHORT_ML_CHECK(grad.size() == params.size(),
                  "gradient and parameters differ in size");
  if (momentum_ == 0.0) {
    params -= learning_rate_ * grad;
    return;
  }
  PrepareState(velocity_, params);
  velocity_ = momentum_ * velocity_ + grad;
  params -= learning_rate_ * velocity_;
}

void Sgd::Reset() { velocity_.resize(0); }

absl::StatusOr<std::unique_ptr<Adam>> Adam::Create(double learning_rate,
                                                   double beta1, double beta2,
                                                   double epsilon) {
  RETURN_IF_ERROR(ValidateLearningRate(learning_rate));
  RETURN_IF_ERROR(ValidateUnitInterval("beta1", beta1));
  RETURN_IF_ERROR(ValidateUnitInterval("beta2", beta2));
  if (!std::isfinite(epsilon) || epsilon <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("epsilon must be finite and > 0, got ", epsilon));
  }
  return std::unique_ptr<Adam>(
      new Adam(learning_rate, beta1, beta2, epsilon));
}

void Adam::Step(Eigen::VectorXd& params, const Eigen::VectorXd& grad) {
  COHORT_ML_CHECK(grad.size() == params.size(),
                  "gradient and parameters differ in size");
  PrepareState(first_moment_, params);
  PrepareState(second_moment_, params);
  ++steps_;
  first_moment_ = beta1_ * first_moment_ + (1.0 - beta1_) * grad;
  second_moment_ =
      beta2_ * second_moment_ + (1.0 - beta2_) * grad.cwiseAbs2();
  const double t = static_cast<double>(steps_);
  const double first_correction = 1.0 - std::pow(beta1_, t);
  const double second_correction = 1.0 - std::pow(beta2_, t);
  params.array() -=
      learning_rate_ * (first_moment_.array() / first_correction) /
      ((second_moment_.array() / second_correction).sqrt() + epsilon_);
}

void Adam::Reset() {
  steps_ = 0;
  first_moment_.resize(0);
  second_moment_.resize(0);
}

absl::StatusOr<OptimizerConfig::Kind> ParseOptimizerKind(
    absl::string_view name) {
  if (name == "sgd") return OptimizerConfig::Kind::kSgd;
  if (name == "adam") return OptimizerConfig::Kind::kAdam;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown optimizer '", name, "'; allowed values: sgd, adam"));
}

absl::string_view OptimizerKindName(OptimizerConfig::Kind kind) {
  switch (kind) {
    case OptimizerConfig::Kind::kSgd:
      return "sgd";
    case OptimizerConfig::Kind::kAdam:
      return "adam";
  }
  return "unknown";
}

absl::Status ValidateOptimizerConfig(const OptimizerConfig& config) {
  switch (config.kind) {
    case OptimizerConfig::Kind::kSgd:
      RETURN_IF_ERROR(ValidateLearningRate(config.learning_rate));
      return ValidateUnitInterval("momentum", config.momentum);
    case OptimizerConfig::Kind::kAdam:
      RETURN_IF_ERROR(ValidateLearningRate(config.learning_rate));
      if (config.momentum != 0.0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "momentum applies only to sgd; adam got momentum ",
            config.momentum));
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown optimizer kind ", static_cast<int>(config.kind)));
}

absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(
    const OptimizerConfig& config) {
  RETURN_IF_ERROR(ValidateOptimizerConfig(config));
  if (config.kind == OptimizerConfig::Kind::kAdam) {
    ASSIGN_OR_RETURN(std::unique_ptr<Adam> adam,
                     Adam::Create(config.learning_rate));
    return std::unique_ptr<Optimizer>(std::move(adam));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Sgd> sgd,
                   Sgd::Create(config.learning_rate, config.momentum));
  return std::unique_ptr<Optimizer>(std::move(sgd));
}

}  // namespace cohort::ml
