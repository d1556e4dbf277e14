// Synthetic data for cohort_ml tests: rows drawn from a known logistic model,
// so tests can check that training recovers it.
#ifndef COHORT_TESTS_COMMON_ML_SYNTHETIC_DATA_H_
#define COHORT_TESTS_COMMON_ML_SYNTHETIC_DATA_H_

#include <cstdint>

#include <Eigen/Core>

namespace cohort::ml::testing {

struct LabeledData {
  Eigen::MatrixXd X;
  Eigen::VectorXd y;
};

// n rows with features ~ N(0, 1) and labels ~ Bernoulli(sigmoid(x.w + bias)),
// deterministic for a seed.
LabeledData SampleLogisticData(int n, const Eigen::VectorXd& weights,
                               double bias, uint64_t seed);

// A matrix of independent N(0, scale^2) values, deterministic for a seed.
Eigen::MatrixXd GaussianMatrix(int rows, int cols, double scale,
                               uint64_t seed);

}  // namespace cohort::ml::testing

#endif  // COHORT_TESTS_COMMON_ML_SYNTHETIC_DATA_H_
