#include "common/ml/logistic_regression.h"

#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/ml/synthetic_data.h"

namespace cohort::ml {
namespace {

using ::cohort::ml::testing::GaussianMatrix;
using ::cohort::ml::testing::SampleLogisticData;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

LogisticRegression ModelOrDie(Eigen::VectorXd params, double l2) {
  absl::StatusOr<LogisticRegression> model =
      LogisticRegression::FromParameters(std::move(params), l2);
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

TEST(LogisticRegressionTest, CreateStartsAtZero) {
  absl::StatusOr<LogisticRegression> model = LogisticRegression::Create(3, 0.5);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->num_features(), 3);
  EXPECT_EQ(model->l2(), 0.5);
  EXPECT_EQ(model->parameters(), Eigen::VectorXd::Zero(4));

  const Eigen::MatrixXd X = GaussianMatrix(7, 3, 1.0, 1);
  const Eigen::VectorXd y = (Eigen::VectorXd(7) << 1, 0, 1, 1, 0, 0, 1).finished();
  EXPECT_TRUE(model->PredictProba(X).isApprox(Eigen::VectorXd::Constant(7, 0.5)));
  EXPECT_NEAR(model->Loss(X, y), std::log(2.0), 1e-15);
}

struct BadCreateCase {
  std::string name;
  int num_features;
  double l2;
  std::string message;
};

TEST(LogisticRegressionTest, CreateRejectsBadArguments) {
  const std::vector<BadCreateCase> cases = {
      {.name = "no features", .num_features = 0, .l2 = 0, .message = "num_features"},
      {.name = "negative features", .num_features = -2, .l2 = 0, .message = "num_features"},
      {.name = "negative l2", .num_features = 2, .l2 = -0.1, .message = "l2"},
      {.name = "NaN l2", .num_features = 2, .l2 = kNaN, .message = "l2"},
      {.name = "infinite l2", .num_features = 2, .l2 = kInf, .message = "l2"},
  };
  for (const BadCreateCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<LogisticRegression> model =
        LogisticRegression::Create(c.num_features, c.l2);
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(model.status().message()), HasSubstr(c.message));
  }
}

struct BadParametersCase {
  std::string name;
  Eigen::VectorXd parameters;
  double l2;
  std::string message;
};

TEST(LogisticRegressionTest, FromParametersRejectsBadArguments) {
  const std::vector<BadParametersCase> cases = {
      {.name = "empty", .parameters = Eigen::VectorXd(0), .l2 = 0,
       .message = "at least one weight"},
      {.name = "bias only", .parameters = Eigen::VectorXd::Zero(1), .l2 = 0,
       .message = "at least one weight"},
      {.name = "NaN", .parameters = Eigen::Vector3d(1, kNaN, 0), .l2 = 0,
       .message = "parameter 1 is nan"},
      {.name = "Inf", .parameters = Eigen::Vector3d(1, 0, -kInf), .l2 = 0,
       .message = "parameter 2 is -inf"},
      {.name = "negative l2", .parameters = Eigen::Vector3d(1, 0, 0), .l2 = -1,
       .message = "l2"},
  };
  for (const BadParametersCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<LogisticRegression> model =
        LogisticRegression::FromParameters(c.parameters, c.l2);
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(model.status().message()), HasSubstr(c.message));
  }
}

TEST(LogisticRegressionTest, FromParametersKeepsLayout) {
  const LogisticRegression model = ModelOrDie(Eigen::Vector3d(2, -1, 0.5), 0);
  EXPECT_EQ(model.num_features(), 2);
  const Eigen::MatrixXd X = (Eigen::MatrixXd(2, 2) << 1, 1, 0, 3).finished();
  // z = 2*x0 - x1 + 0.5.
  EXPECT_TRUE(model.Logits(X).isApprox(Eigen::Vector2d(1.5, -2.5)));
}

struct BadExamplesCase {
  std::string name;
  Eigen::MatrixXd X;
  Eigen::VectorXd y;
  std::string message;
};

TEST(LogisticRegressionTest, ValidateExamplesNamesTheProblem) {
  const LogisticRegression model = ModelOrDie(Eigen::Vector3d(0, 0, 0), 0);
  const std::vector<BadExamplesCase> cases = {
      {.name = "columns", .X = Eigen::MatrixXd::Zero(2, 3),
       .y = Eigen::Vector2d(0, 1), .message = "examples have 3 features, the model has 2"},
      {.name = "labels", .X = Eigen::MatrixXd::Zero(2, 2),
       .y = Eigen::Vector3d(0, 1, 1), .message = "2 examples but 3 labels"},
      {.name = "NaN feature",
       .X = (Eigen::MatrixXd(2, 2) << 0, 0, 0, kNaN).finished(),
       .y = Eigen::Vector2d(0, 1), .message = "example 1, feature 1 is nan"},
      {.name = "label 2", .X = Eigen::MatrixXd::Zero(2, 2),
       .y = Eigen::Vector2d(0, 2), .message = "label of example 1 is 2"},
      {.name = "label 0.5", .X = Eigen::MatrixXd::Zero(2, 2),
       .y = Eigen::Vector2d(0.5, 1), .message = "label of example 0 is 0.5"},
  };
  for (const BadExamplesCase& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::Status status = model.ValidateExamples(c.X, c.y);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
  }
  EXPECT_TRUE(model.ValidateExamples(Eigen::MatrixXd::Ones(2, 2),
                                     Eigen::Vector2d(0, 1))
                  .ok());
}

// Analytic gradient against central finite differences of Loss.
struct GradientCase {
  std::string name;
  int num_features;
  double l2;
  uint64_t seed;

  // Keeps gtest from printing the struct's bytes into test names.
  friend void PrintTo(const GradientCase& c, std::ostream* os) { *os << c.name; }
};

class GradientTest : public ::testing::TestWithParam<GradientCase> {};

TEST_P(GradientTest, MatchesCentralFiniteDifferences) {
  const GradientCase& c = GetParam();
  const int n = 40;
  const Eigen::MatrixXd X = GaussianMatrix(n, c.num_features, 2.0, c.seed);
  const Eigen::VectorXd y =
      (GaussianMatrix(n, 1, 1.0, c.seed + 1).array() > 0).cast<double>();
  const Eigen::VectorXd params =
      GaussianMatrix(c.num_features + 1, 1, 0.7, c.seed + 2);
  LogisticRegression model = ModelOrDie(params, c.l2);

  const Eigen::VectorXd analytic = model.Gradient(X, y);
  ASSERT_EQ(analytic.size(), c.num_features + 1);

  const double h = 1e-5;
  Eigen::VectorXd numeric(params.size());
  for (Eigen::Index i = 0; i < params.size(); ++i) {
    model.mutable_parameters() = params;
    model.mutable_parameters()(i) += h;
    const double plus = model.Loss(X, y);
    model.mutable_parameters() = params;
    model.mutable_parameters()(i) -= h;
    const double minus = model.Loss(X, y);
    numeric(i) = (plus - minus) / (2 * h);
  }
  EXPECT_LE((analytic - numeric).norm(), 1e-6 * analytic.norm())
      << "analytic: " << analytic.transpose()
      << "\nnumeric:  " << numeric.transpose();
}

INSTANTIATE_TEST_SUITE_P(
    RandomData, GradientTest,
    ::testing::ValuesIn(std::vector<GradientCase>{
        {.name = "d1_no_l2", .num_features = 1, .l2 = 0.0, .seed = 11},
        {.name = "d1_l2", .num_features = 1, .l2 = 0.3, .seed = 12},
        {.name = "d4_no_l2", .num_features = 4, .l2 = 0.0, .seed = 13},
        {.name = "d4_l2", .num_features = 4, .l2 = 1.0, .seed = 14},
        {.name = "d13_no_l2", .num_features = 13, .l2 = 0.0, .seed = 15},
        {.name = "d13_l2", .num_features = 13, .l2 = 0.05, .seed = 16},
        {.name = "d30_l2", .num_features = 30, .l2 = 2.5, .seed = 17},
    }),
    [](const ::testing::TestParamInfo<GradientCase>& info) {
      return info.param.name;
    });

TEST(LogisticRegressionTest, GradientAtZeroIsClosedForm) {
  const LogisticRegression model = ModelOrDie(Eigen::Vector3d::Zero(), 5.0);
  const Eigen::MatrixXd X = (Eigen::MatrixXd(2, 2) << 1, 2, 3, 4).finished();
  const Eigen::VectorXd y = Eigen::Vector2d(1, 0);
  // p = 0.5 everywhere, residual (-0.5, 0.5), w = 0 so no L2 contribution.
  EXPECT_TRUE(model.Gradient(X, y).isApprox(
      Eigen::Vector3d((-0.5 * 1 + 0.5 * 3) / 2, (-0.5 * 2 + 0.5 * 4) / 2, 0)));
}

TEST(LogisticRegressionTest, PerExampleGradientsAverageToGradient) {
  const auto data = SampleLogisticData(60, Eigen::Vector4d(1, -2, 0.5, 0), 0.3, 5);
  const Eigen::VectorXd params = GaussianMatrix(5, 1, 1.0, 6);
  const LogisticRegression unregularized = ModelOrDie(params, 0.0);

  const Eigen::MatrixXd per_example =
      unregularized.PerExampleGradients(data.X, data.y);
  ASSERT_EQ(per_example.rows(), 60);
  ASSERT_EQ(per_example.cols(), 5);
  const Eigen::VectorXd mean = per_example.colwise().mean().transpose();
  EXPECT_LE((mean - unregularized.Gradient(data.X, data.y)).norm(), 1e-12);

  // Each row is the gradient of that example alone.
  for (int i : {0, 17, 59}) {
    const Eigen::MatrixXd row = data.X.row(i);
    const Eigen::VectorXd label = data.y.segment(i, 1);
    EXPECT_LE((per_example.row(i).transpose() -
               unregularized.Gradient(row, label)).norm(),
              1e-12);
  }

  // The L2 term is left out of the rows and added once on the weights.
  const double l2 = 0.7;
  const LogisticRegression regularized = ModelOrDie(params, l2);
  Eigen::VectorXd penalty = l2 * params;
  penalty(4) = 0;
  EXPECT_EQ(regularized.PerExampleGradients(data.X, data.y), per_example);
  EXPECT_LE((mean + penalty - regularized.Gradient(data.X, data.y)).norm(),
            1e-12);
}

struct LogitCase {
  std::string name;
  double z;  // With w = 1, b = 0 the logit is the feature itself.
  double y;
  double probability;
  double loss;
};

TEST(LogisticRegressionTest, StableForHugeLogits) {
  const LogisticRegression model = ModelOrDie(Eigen::Vector2d(1, 0), 0.0);
  const std::vector<LogitCase> cases = {
      {.name = "z=+1000,y=1", .z = 1000, .y = 1, .probability = 1, .loss = 0},
      {.name = "z=+1000,y=0", .z = 1000, .y = 0, .probability = 1, .loss = 1000},
      {.name = "z=-1000,y=0", .z = -1000, .y = 0, .probability = 0, .loss = 0},
      {.name = "z=-1000,y=1", .z = -1000, .y = 1, .probability = 0, .loss = 1000},
      // log(1 + e^-40) ~ 4e-18 survives: no 40 - 40 cancellation of a
      // rounded log(1 + e^40).
      {.name = "z=+40,y=1", .z = 40, .y = 1, .probability = 1,
       .loss = std::log1p(std::exp(-40.0))},
      {.name = "z=-40,y=0", .z = -40, .y = 0, .probability = std::exp(-40.0),
       .loss = std::log1p(std::exp(-40.0))},
      {.name = "z=-40,y=1", .z = -40, .y = 1, .probability = std::exp(-40.0),
       .loss = 40 + std::log1p(std::exp(-40.0))},
  };
  for (const LogitCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Eigen::MatrixXd X = Eigen::MatrixXd::Constant(1, 1, c.z);
    const Eigen::VectorXd y = Eigen::VectorXd::Constant(1, c.y);
    EXPECT_NEAR(model.PredictProba(X)(0), c.probability, 1e-30);
    EXPECT_DOUBLE_EQ(model.PerExampleLoss(X, y)(0), c.loss);
    EXPECT_DOUBLE_EQ(model.Loss(X, y), c.loss);
    EXPECT_TRUE(model.Gradient(X, y).allFinite());
    EXPECT_TRUE(model.PerExampleGradients(X, y).allFinite());
  }
}

TEST(LogisticRegressionTest, LossMatchesNaiveFormulaForModerateLogits) {
  const auto data = SampleLogisticData(50, Eigen::Vector3d(1, 2, -1), 0.5, 9);
  const Eigen::VectorXd params = Eigen::Vector4d(0.3, -0.2, 0.8, 0.1);
  const LogisticRegression model = ModelOrDie(params, 0.4);
  const Eigen::ArrayXd p = model.PredictProba(data.X).array();
  const Eigen::ArrayXd y = data.y.array();
  const double naive = -(y * p.log() + (1 - y) * (1 - p).log()).mean() +
                       0.2 * params.head(3).squaredNorm();
  EXPECT_NEAR(model.Loss(data.X, data.y), naive, 1e-12);
}

using LogisticRegressionDeathTest = ::testing::Test;

TEST(LogisticRegressionDeathTest, ShapeMismatchAborts) {
  const LogisticRegression model = ModelOrDie(Eigen::Vector3d::Zero(), 0.0);
  const Eigen::MatrixXd wrong_columns = Eigen::MatrixXd::Zero(2, 3);
  const Eigen::MatrixXd X = Eigen::MatrixXd::Zero(2, 2);
  EXPECT_DEATH(model.PredictProba(wrong_columns), "one column per model feature");
  EXPECT_DEATH(model.Gradient(X, Eigen::Vector3d::Zero()), "one label per row");
  EXPECT_DEATH(model.Loss(Eigen::MatrixXd(0, 2), Eigen::VectorXd(0)),
               "empty batch");
}

}  // namespace
}  // namespace cohort::ml
