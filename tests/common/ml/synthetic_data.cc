#include "tests/common/ml/synthetic_data.h"

#include <cmath>
#include <random>

namespace cohort::ml::testing {

Eigen::MatrixXd GaussianMatrix(int rows, int cols, double scale,
                               uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, scale);
  Eigen::MatrixXd m(rows, cols);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) m(r, c) = normal(rng);
  }
  return m;
}

LabeledData SampleLogisticData(int n, const Eigen::VectorXd& weights,
                               double bias, uint64_t seed) {
  LabeledData data;
  data.X = GaussianMatrix(n, static_cast<int>(weights.size()), 1.0, seed);
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const Eigen::VectorXd z = (data.X * weights).array() + bias;
  data.y.resize(n);
  for (int i = 0; i < n; ++i) {
    const double p = 1.0 / (1.0 + std::exp(-z(i)));
    data.y(i) = uniform(rng) < p ? 1.0 : 0.0;
  }
  return data;
}

}  // namespace cohort::ml::testing
