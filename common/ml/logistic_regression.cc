#include "common/ml/logistic_regression.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ml/internal/check.h"
#include "common/util/status_macros.h"

namespace cohort::ml {
namespace {

absl::Status ValidateL2(double l2) {
  if (!std::isfinite(l2) || l2 < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("l2 must be finite and >= 0, got ", l2));
  }
  return absl::OkStatus();
}

// Stable sigmoid: with e = exp(-|z|) in (0, 1], sigmoid(z) is 1/(1+e) for
// z >= 0 and e/(1+e) for z < 0, so exp never overflows.
Eigen::ArrayXd Sigmoid(const Eigen::ArrayXd& z) {
  const Eigen::ArrayXd e = (-z.abs()).exp();
  const Eigen::ArrayXd denominator = 1.0 + e;
  return (z >= 0.0).select(denominator.inverse(), e / denominator);
}

}  // namespace

absl::StatusOr<LogisticRegression> LogisticRegression::Create(int num_features,
                                                              double l2) {
  if (num_features < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_features must be >= 1, got ", num_features));
  }
  RETURN_IF_ERROR(ValidateL2(l2));
  return LogisticRegression(Eigen::VectorXd::Zero(num_features + 1), l2);
}

absl::StatusOr<LogisticRegression> LogisticRegression::FromParameters(
    Eigen::VectorXd parameters, double l2) {
  if (parameters.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameters must hold at least one weight and the bias, got ",
        parameters.size(), " values"));
  }
  for (Eigen::Index i = 0; i < parameters.size(); ++i) {
    if (!std::isfinite(parameters(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter ", i, " is ", parameters(i)));
    }
  }
  RETURN_IF_ERROR(ValidateL2(l2));
  return LogisticRegression(std::move(parameters), l2);
}

absl::Status LogisticRegression::ValidateExamples(
    const Eigen::MatrixXd& X, const Eigen::VectorXd& y) const {
  if (X.cols() != num_features()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "examples have ", X.cols(), " features, the model has ",
        num_features()));
  }
  if (y.size() != X.rows()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "there are ", X.rows(), " examples but ", y.size(), " labels"));
  }
  if (!X.allFinite()) {
    // Column-major order, so report the first bad cell in that order.
    for (Eigen::Index c = 0; c < X.cols(); ++c) {
      for (Eigen::Index r = 0; r < X.rows(); ++r) {
        if (!std::isfinite(X(r, c))) {
          return absl::InvalidArgumentError(absl::StrCat(
              "example ", r, ", feature ", c, " is ", X(r, c)));
        }
      }
    }
  }
  for (Eigen::Index r = 0; r < y.size(); ++r) {
    if (y(r) != 0.0 && y(r) != 1.0) {
      return absl::InvalidArgumentError(
          absl::StrCat("label of example ", r, " is ", y(r),
                       "; labels must be 0 or 1"));
    }
  }
  return absl::OkStatus();
}

void LogisticRegression::CheckShapes(const Eigen::MatrixXd& X) const {
  COHORT_ML_CHECK(X.cols() == num_features(),
                  "X must have one column per model feature");
}

void LogisticRegression::CheckShapes(const Eigen::MatrixXd& X,
                                     const Eigen::VectorXd& y) const {
  CheckShapes(X);
  COHORT_ML_CHECK(y.size() == X.rows(), "y must have one label per row of X");
}

Eigen::VectorXd LogisticRegression::Logits(const Eigen::MatrixXd& X) const {
  CheckShapes(X);
  const int d = num_features();
  return (X * parameters_.head(d)).array() + parameters_(d);
}

Eigen::VectorXd LogisticRegression::PredictProba(
    const Eigen::MatrixXd& X) const {
  return Sigmoid(Logits(X).array());
}

Eigen::VectorXd LogisticRegression::PerExampleLoss(
    const Eigen::MatrixXd& X, const Eigen::VectorXd& y) const {
  CheckShapes(X, y);
  // log(1 + e^z) - y z = (max(z, 0) - y z) + log1p(e^-|z|). For 0/1 labels
  // the bracket is exactly 0 or |z|, so no large terms cancel.
  const Eigen::ArrayXd z = Logits(X).array();
  return (z.max(0.0) - y.array() * z) + (-z.abs()).exp().log1p();
}

double LogisticRegression::Loss(const Eigen::MatrixXd& X,
                                const Eigen::VectorXd& y) const {
  COHORT_ML_CHECK(X.rows() >= 1, "the loss of an empty batch is undefined");
  const auto w = parameters_.head(num_features());
  return PerExampleLoss(X, y).mean() + 0.5 * l2_ * w.squaredNorm();
}

Eigen::VectorXd LogisticRegression::Gradient(const Eigen::MatrixXd& X,
                                             const Eigen::VectorXd& y) const {
  CheckShapes(X, y);
  COHORT_ML_CHECK(X.rows() >= 1,
                  "the gradient of an empty batch is undefined");
  const int d = num_features();
  const double n = static_cast<double>(X.rows());
  const Eigen::VectorXd residual = PredictProba(X) - y;
  Eigen::VectorXd gradient(d + 1);
  gradient.head(d) =
      X.transpose() * residual / n + l2_ * parameters_.head(d);
  gradient(d) = residual.mean();
  return gradient;
}

Eigen::MatrixXd LogisticRegression::PerExampleGradients(
    const Eigen::MatrixXd& X, const Eigen::VectorXd& y) const {
  CheckShapes(X, y);
  const int d = num_features();
  const Eigen::VectorXd residual = PredictProba(X) - y;
  Eigen::MatrixXd gradients(X.rows(), d + 1);
  gradients.leftCols(d) = X.array().colwise() * residual.array();
  gradients.col(d) = residual;
  return gradients;
}

}  // namespace cohort::ml
