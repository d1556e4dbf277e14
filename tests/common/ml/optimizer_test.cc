#include "common/ml/optimizer.h"

#include <cmath>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "common/ml/logistic_regression.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/ml/synthetic_data.h"

namespace cohort::ml {
namespace {

using ::cohort::ml::testing::SampleLogisticData;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct BadSgdCase {
  std::string name;
  double learning_rate;
  double momentum;
  std::string message;
};

TEST(SgdTest, CreateRejectsBadArguments) {
  const std::vector<BadSgdCase> cases = {
      {.name = "zero lr", .learning_rate = 0, .momentum = 0, .message = "learning_rate"},
      {.name = "negative lr", .learning_rate = -0.1, .momentum = 0, .message = "learning_rate"},
      {.name = "NaN lr", .learning_rate = kNaN, .momentum = 0, .message = "learning_rate"},
      {.name = "Inf lr", .learning_rate = kInf, .momentum = 0, .message = "learning_rate"},
      {.name = "negative momentum", .learning_rate = 0.1, .momentum = -0.5, .message = "momentum"},
      {.name = "momentum 1", .learning_rate = 0.1, .momentum = 1.0, .message = "momentum"},
      {.name = "NaN momentum", .learning_rate = 0.1, .momentum = kNaN, .message = "momentum"},
  };
  for (const BadSgdCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto sgd = Sgd::Create(c.learning_rate, c.momentum);
    ASSERT_FALSE(sgd.ok());
    EXPECT_EQ(sgd.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(sgd.status().message()), HasSubstr(c.message));
  }
}

struct BadAdamCase {
  std::string name;
  double learning_rate;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  std::string message;
};

TEST(AdamTest, CreateRejectsBadArguments) {
  const std::vector<BadAdamCase> cases = {
      {.name = "zero lr", .learning_rate = 0, .message = "learning_rate"},
      {.name = "beta1 1", .learning_rate = 0.1, .beta1 = 1.0, .message = "beta1"},
      {.name = "beta1 negative", .learning_rate = 0.1, .beta1 = -0.1, .message = "beta1"},
      {.name = "beta2 NaN", .learning_rate = 0.1, .beta2 = kNaN, .message = "beta2"},
      {.name = "epsilon 0", .learning_rate = 0.1, .epsilon = 0, .message = "epsilon"},
      {.name = "epsilon Inf", .learning_rate = 0.1, .epsilon = kInf, .message = "epsilon"},
  };
  for (const BadAdamCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto adam = Adam::Create(c.learning_rate, c.beta1, c.beta2, c.epsilon);
    ASSERT_FALSE(adam.ok());
    EXPECT_EQ(adam.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(adam.status().message()), HasSubstr(c.message));
  }
}

TEST(SgdTest, PlainStepIsLearningRateTimesGradient) {
  auto sgd = Sgd::Create(0.25);
  ASSERT_TRUE(sgd.ok()) << sgd.status();
  Eigen::VectorXd params = Eigen::Vector3d(1, 2, 3);
  const Eigen::VectorXd grad = Eigen::Vector3d(4, -8, 0);
  (*sgd)->Step(params, grad);
  EXPECT_EQ(params, Eigen::Vector3d(0, 4, 3));
  (*sgd)->Step(params, grad);
  EXPECT_EQ(params, Eigen::Vector3d(-1, 6, 3));
}

TEST(SgdTest, MomentumAccumulatesVelocityAndResets) {
  auto sgd = Sgd::Create(0.5, 0.5);
  ASSERT_TRUE(sgd.ok()) << sgd.status();
  Eigen::VectorXd params = Eigen::Vector2d(0, 0);
  const Eigen::VectorXd grad = Eigen::Vector2d(1, -2);
  (*sgd)->Step(params, grad);  // v = g.
  EXPECT_TRUE(params.isApprox(Eigen::Vector2d(-0.5, 1)));
  (*sgd)->Step(params, grad);  // v = 0.5 g + g = 1.5 g.
  EXPECT_TRUE(params.isApprox(Eigen::Vector2d(-1.25, 2.5)));
  (*sgd)->Reset();             // v = g again.
  (*sgd)->Step(params, grad);
  EXPECT_TRUE(params.isApprox(Eigen::Vector2d(-1.75, 3.5)));
}

// Kingma & Ba, Sec. 2.1: with bias correction the first update is
// lr * g / (|g| + eps), i.e. lr * sign(g) whatever the gradient's scale.
TEST(AdamTest, FirstStepIsLearningRateTimesSignOfGradient) {
  const double lr = 0.01;
  auto adam = Adam::Create(lr);
  ASSERT_TRUE(adam.ok()) << adam.status();
  const Eigen::VectorXd start = (Eigen::VectorXd(6) << 1, -2, 3, 0, 5, 6).finished();
  const Eigen::VectorXd grad =
      (Eigen::VectorXd(6) << 1e-3, -250.0, 7.5, -1e3, 0.0, 42.0).finished();
  const Eigen::VectorXd expected =
      start - lr * grad.unaryExpr([](double g) { return double((g > 0) - (g < 0)); });

  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "fresh" : "after Reset");
    Eigen::VectorXd params = start;
    (*adam)->Step(params, grad);
    // |g| >= 1e-3, so eps = 1e-8 moves the step by at most lr * 1e-5.
    EXPECT_LE((params - expected).cwiseAbs().maxCoeff(), lr * 1e-5)
        << params.transpose();
    (*adam)->Step(params, grad);  // Later steps no longer have this form.
    (*adam)->Reset();
  }
}

TEST(AdamTest, SecondStepFollowsTheRecurrence) {
  const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  auto adam = Adam::Create(lr, b1, b2, eps);
  ASSERT_TRUE(adam.ok()) << adam.status();
  Eigen::VectorXd params = Eigen::VectorXd::Zero(1);
  const double g1 = 2.0, g2 = -1.0;
  (*adam)->Step(params, Eigen::VectorXd::Constant(1, g1));
  const double after_first = params(0);
  (*adam)->Step(params, Eigen::VectorXd::Constant(1, g2));
  const double m = b1 * (1 - b1) * g1 + (1 - b1) * g2;
  const double v = b2 * (1 - b2) * g1 * g1 + (1 - b2) * g2 * g2;
  const double m_hat = m / (1 - b1 * b1), v_hat = v / (1 - b2 * b2);
  EXPECT_NEAR(params(0), after_first - lr * m_hat / (std::sqrt(v_hat) + eps), 1e-15);
}

struct DescentCase {
  std::string name;
  OptimizerConfig config;
  int steps;

  friend void PrintTo(const DescentCase& c, std::ostream* os) { *os << c.name; }
};

class DescentTest : public ::testing::TestWithParam<DescentCase> {};

// Full-batch training on data from a strong logistic model (nearly
// separable): the loss must fall well below log(2) of the zero model.
TEST_P(DescentTest, DecreasesLoss) {
  const DescentCase& c = GetParam();
  const auto data = SampleLogisticData(400, Eigen::Vector3d(3, -2, 1.5), 0.5, 21);
  auto model = LogisticRegression::Create(3, 0.0);
  ASSERT_TRUE(model.ok()) << model.status();
  auto optimizer = MakeOptimizer(c.config);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();

  const double initial = model->Loss(data.X, data.y);
  double previous = initial;
  int increases = 0;
  for (int step = 0; step < c.steps; ++step) {
    (*optimizer)->Step(model->mutable_parameters(), model->Gradient(data.X, data.y));
    const double loss = model->Loss(data.X, data.y);
    if (loss > previous) ++increases;
    previous = loss;
  }
  EXPECT_NEAR(initial, std::log(2.0), 1e-12);
  EXPECT_LT(previous, 0.5 * initial);
  // SGD with a small step descends monotonically; Adam may wobble a little.
  EXPECT_LE(increases, c.steps / 10);
}

INSTANTIATE_TEST_SUITE_P(
    Optimizers, DescentTest,
    ::testing::ValuesIn(std::vector<DescentCase>{
        {.name = "sgd",
         .config = {.kind = OptimizerConfig::Kind::kSgd, .learning_rate = 0.5},
         .steps = 200},
        {.name = "sgd_momentum",
         .config = {.kind = OptimizerConfig::Kind::kSgd, .learning_rate = 0.2, .momentum = 0.9},
         .steps = 200},
        {.name = "adam",
         .config = {.kind = OptimizerConfig::Kind::kAdam, .learning_rate = 0.05},
         .steps = 200},
    }),
    [](const ::testing::TestParamInfo<DescentCase>& info) { return info.param.name; });

TEST(ParseOptimizerKindTest, AcceptsKnownNames) {
  EXPECT_EQ(ParseOptimizerKind("sgd").value(), OptimizerConfig::Kind::kSgd);
  EXPECT_EQ(ParseOptimizerKind("adam").value(), OptimizerConfig::Kind::kAdam);
  for (auto kind : {OptimizerConfig::Kind::kSgd, OptimizerConfig::Kind::kAdam}) {
    EXPECT_EQ(ParseOptimizerKind(OptimizerKindName(kind)).value(), kind);
  }
}

TEST(ParseOptimizerKindTest, RejectsOthersListingAllowedValues) {
  for (const char* name : {"", "SGD", "adamw", "rmsprop"}) {
    SCOPED_TRACE(name);
    auto kind = ParseOptimizerKind(name);
    ASSERT_FALSE(kind.ok());
    EXPECT_EQ(kind.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(kind.status().message()),
                HasSubstr(std::string("unknown optimizer '") + name + "'"));
    EXPECT_THAT(std::string(kind.status().message()), HasSubstr("allowed values: sgd, adam"));
  }
}

struct ConfigCase {
  std::string name;
  OptimizerConfig config;
  std::string message = "";  // Empty: valid.
};

TEST(MakeOptimizerTest, ValidatesConfig) {
  const std::vector<ConfigCase> cases = {
      {.name = "sgd", .config = {.kind = OptimizerConfig::Kind::kSgd, .learning_rate = 0.1}},
      {.name = "sgd momentum",
       .config = {.kind = OptimizerConfig::Kind::kSgd, .learning_rate = 0.1, .momentum = 0.9}},
      {.name = "adam", .config = {.kind = OptimizerConfig::Kind::kAdam, .learning_rate = 1e-3}},
      {.name = "default (lr unset)", .config = {}, .message = "learning_rate"},
      {.name = "sgd bad momentum",
       .config = {.kind = OptimizerConfig::Kind::kSgd, .learning_rate = 0.1, .momentum = 1.5},
       .message = "momentum"},
      {.name = "adam with momentum",
       .config = {.kind = OptimizerConfig::Kind::kAdam, .learning_rate = 0.1, .momentum = 0.9},
       .message = "momentum applies only to sgd"},
  };
  for (const ConfigCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto optimizer = MakeOptimizer(c.config);
    if (c.message.empty()) {
      ASSERT_TRUE(optimizer.ok()) << optimizer.status();
      EXPECT_NE(*optimizer, nullptr);
    } else {
      ASSERT_FALSE(optimizer.ok());
      EXPECT_EQ(optimizer.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(optimizer.status().message()), HasSubstr(c.message));
    }
  }
}

TEST(MakeOptimizerTest, BuildsTheRequestedKind) {
  auto adam = MakeOptimizer({.kind = OptimizerConfig::Kind::kAdam, .learning_rate = 0.1});
  auto sgd = MakeOptimizer({.kind = OptimizerConfig::Kind::kSgd, .learning_rate = 0.1});
  ASSERT_TRUE(adam.ok() && sgd.ok());
  EXPECT_NE(dynamic_cast<Adam*>(adam->get()), nullptr);
  EXPECT_NE(dynamic_cast<Sgd*>(sgd->get()), nullptr);
}

using OptimizerDeathTest = ::testing::Test;

TEST(OptimizerDeathTest, SizeMismatchAborts) {
  auto adam = Adam::Create(0.1);
  ASSERT_TRUE(adam.ok());
  Eigen::VectorXd params = Eigen::VectorXd::Zero(3);
  EXPECT_DEATH((*adam)->Step(params, Eigen::VectorXd::Zero(2)), "differ in size");
  (*adam)->Step(params, Eigen::VectorXd::Ones(3));
  Eigen::VectorXd bigger = Eigen::VectorXd::Zero(4);
  EXPECT_DEATH((*adam)->Step(bigger, Eigen::VectorXd::Ones(4)), "without Reset");
}

}  // namespace
}  // namespace cohort::ml
