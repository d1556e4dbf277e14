// Binary logistic regression with an L2 penalty, the model Cohort trains
// across hospitals.
//
// The whole model is one flat parameter vector of size d+1 (the d weights,
// then the bias as the last element), so FedAvg can average it and the wire
// format can carry it as a list of doubles. The penalty (l2/2)*||w||^2 covers
// the weights only, never the bias.
//
// Ownership: a LogisticRegression is a value type and owns its parameters.
// Thread-safety: const methods may run concurrently; mutable_parameters() and
// assignment need external synchronization.
//
// Preconditions of the numeric methods (they are hot paths and do not return
// Status): X.cols() == num_features(), y.size() == X.rows(), X.rows() >= 1
// where a mean is taken. Breaking one aborts (see internal/check.h). Data from
// outside the process goes through ValidateExamples first.
#ifndef COHORT_COMMON_ML_LOGISTIC_REGRESSION_H_
#define COHORT_COMMON_ML_LOGISTIC_REGRESSION_H_

#include <utility>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cohort::ml {

class LogisticRegression {
 public:
  // A model with all parameters zero (predicts 0.5 everywhere).
  // InvalidArgument unless num_features >= 1 and l2 is finite and >= 0.
  static absl::StatusOr<LogisticRegression> Create(int num_features,
                                                   double l2);

  // Adopts `parameters` (weights, then bias) e.g. a global model received
  // from the coordinator. InvalidArgument unless parameters.size() >= 2, every
  // value is finite, and l2 is finite and >= 0.
  static absl::StatusOr<LogisticRegression> FromParameters(
      Eigen::VectorXd parameters, double l2);

  LogisticRegression(const LogisticRegression&) = default;
  LogisticRegression& operator=(const LogisticRegression&) = default;
  LogisticRegression(LogisticRegression&&) = default;
  LogisticRegression& operator=(LogisticRegression&&) = default;

  int num_features() const {
    return static_cast<int>(parameters_.size()) - 1;
  }
  double l2() const { return l2_; }

  // Weights then bias, size num_features() + 1.
  const Eigen::VectorXd& parameters() const { return parameters_; }
  // For optimizers. Callers must not resize the vector.
  Eigen::VectorXd& mutable_parameters() { return parameters_; }

  // Checks data before it reaches the numeric methods: X has num_features()
  // columns, y has one label per row, every value of X is finite and every
  // label is 0 or 1. InvalidArgument naming the first offending row/column.
  absl::Status ValidateExamples(const Eigen::MatrixXd& X,
                                const Eigen::VectorXd& y) const;

  // z = X w + b, one logit per row.
  Eigen::VectorXd Logits(const Eigen::MatrixXd& X) const;

  // sigmoid(z) per row, evaluated without overflow for any finite z.
  Eigen::VectorXd PredictProba(const Eigen::MatrixXd& X) const;

  // Binary cross-entropy of each row, log(1 + e^z) - y z, without the L2
  // term; finite for any finite z.
  Eigen::VectorXd PerExampleLoss(const Eigen::MatrixXd& X,
                                 const Eigen::VectorXd& y) const;

  // mean(PerExampleLoss) + (l2/2) ||w||^2. Requires X.rows() >= 1.
  double Loss(const Eigen::MatrixXd& X, const Eigen::VectorXd& y) const;

  // d Loss / d parameters: (X^T (p - y) / n + l2 w, mean(p - y)).
  // Requires X.rows() >= 1.
  Eigen::VectorXd Gradient(const Eigen::MatrixXd& X,
                           const Eigen::VectorXd& y) const;

  // n x (d+1); row i is the gradient of row i's cross-entropy alone,
  // ((p_i - y_i) x_i, p_i - y_i), without the L2 term. Their mean plus
  // (l2 w, 0) is Gradient(X, y). For DP-SGD's per-example clipping.
  Eigen::MatrixXd PerExampleGradients(const Eigen::MatrixXd& X,
                                      const Eigen::VectorXd& y) const;

 private:
  LogisticRegression(Eigen::VectorXd parameters, double l2)
      : parameters_(std::move(parameters)), l2_(l2) {}

  void CheckShapes(const Eigen::MatrixXd& X) const;
  void CheckShapes(const Eigen::MatrixXd& X, const Eigen::VectorXd& y) const;

  Eigen::VectorXd parameters_;
  double l2_;
};

}  // namespace cohort::ml

#endif  // COHORT_COMMON_ML_LOGISTIC_REGRESSION_H_
