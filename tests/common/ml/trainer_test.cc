#include "common/ml/trainer.h"

#include <cmath>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "common/ml/logistic_regression.h"
#include "common/ml/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/ml/synthetic_data.h"

namespace cohort::ml {
namespace {

using ::cohort::ml::testing::LabeledData;
using ::cohort::ml::testing::SampleLogisticData;
using ::testing::HasSubstr;

constexpr OptimizerConfig kSgd = {.kind = OptimizerConfig::Kind::kSgd,
                                  .learning_rate = 0.1};
constexpr OptimizerConfig kAdam = {.kind = OptimizerConfig::Kind::kAdam,
                                   .learning_rate = 0.05};

class TrainerTest : public ::testing::Test {
 protected:
  static LogisticRegression ZeroModel(int num_features, double l2 = 0.0) {
    absl::StatusOr<LogisticRegression> model =
        LogisticRegression::Create(num_features, l2);
    EXPECT_TRUE(model.ok()) << model.status();
    return *std::move(model);
  }

  const Eigen::VectorXd true_weights_ =
      (Eigen::VectorXd(5) << 2.0, -1.5, 0.0, 1.0, 0.5).finished();
  const double true_bias_ = -0.3;
  const LabeledData data_ = SampleLogisticData(2000, true_weights_, true_bias_, 7);
};

struct BadOptionsCase {
  std::string name;
  LocalTrainingOptions options;
  std::string message;
};

TEST_F(TrainerTest, RejectsBadOptions) {
  const std::vector<BadOptionsCase> cases = {
      {.name = "epochs 0", .options = {.epochs = 0, .optimizer = kSgd}, .message = "epochs"},
      {.name = "max_steps -1", .options = {.max_steps = -1, .optimizer = kSgd},
       .message = "max_steps"},
      {.name = "batch 0", .options = {.batch_size = 0, .optimizer = kSgd},
       .message = "batch_size"},
      {.name = "no learning rate", .options = {}, .message = "learning_rate"},
  };
  for (const BadOptionsCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(std::string(ValidateLocalTrainingOptions(c.options).message()), HasSubstr(c.message));
    LogisticRegression model = ZeroModel(5);
    auto result = TrainLocally(model, data_.X, data_.y, c.options);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(result.status().message()), HasSubstr(c.message));
  }
  EXPECT_TRUE(ValidateLocalTrainingOptions({.optimizer = kSgd}).ok());
}

TEST_F(TrainerTest, EmptyDatasetIsFailedPrecondition) {
  LogisticRegression model = ZeroModel(5);
  auto result = TrainLocally(model, Eigen::MatrixXd(0, 5), Eigen::VectorXd(0),
                             {.optimizer = kSgd});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TrainerTest, BadDataIsInvalidArgumentAndLeavesModelAlone) {
  LogisticRegression model = ZeroModel(4);
  auto result = TrainLocally(model, data_.X, data_.y, {.optimizer = kSgd});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("5 features, the model has 4"));
  EXPECT_EQ(model.parameters(), Eigen::VectorXd::Zero(5));
}

TEST_F(TrainerTest, DivergenceIsReportedAndLeavesModelAlone) {
  LogisticRegression model = ZeroModel(5, /*l2=*/1.0);
  auto result = TrainLocally(
      model, data_.X, data_.y,
      {.epochs = 5, .optimizer = {.kind = OptimizerConfig::Kind::kSgd, .learning_rate = 1e300}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("non-finite"));
  EXPECT_EQ(model.parameters(), Eigen::VectorXd::Zero(6));
}

TEST_F(TrainerTest, DeterministicForASeed) {
  const LocalTrainingOptions options = {.epochs = 2, .batch_size = 16,
                                        .optimizer = kAdam, .seed = 42};
  LogisticRegression a = ZeroModel(5), b = ZeroModel(5), c = ZeroModel(5);
  auto ra = TrainLocally(a, data_.X, data_.y, options);
  auto rb = TrainLocally(b, data_.X, data_.y, options);
  LocalTrainingOptions other_seed = options;
  other_seed.seed = 43;
  auto rc = TrainLocally(c, data_.X, data_.y, other_seed);
  ASSERT_TRUE(ra.ok() && rb.ok() && rc.ok());
  EXPECT_EQ(a.parameters(), b.parameters());  // Bit for bit.
  EXPECT_EQ(ra->mean_train_loss, rb->mean_train_loss);
  EXPECT_EQ(ra->final_loss, rb->final_loss);
  EXPECT_NE(a.parameters(), c.parameters());  // The shuffle matters.
}

TEST_F(TrainerTest, OptimizerStateIsFreshEachCall) {
  // Two calls of one epoch each from the same start give the same model as
  // long as the seed is the same, whatever ran before.
  const LocalTrainingOptions options = {.batch_size = 50, .optimizer = kAdam, .seed = 3};
  LogisticRegression warm = ZeroModel(5);
  ASSERT_TRUE(TrainLocally(warm, data_.X, data_.y, options).ok());
  const Eigen::VectorXd start = warm.parameters();
  ASSERT_TRUE(TrainLocally(warm, data_.X, data_.y, options).ok());

  auto cold = LogisticRegression::FromParameters(start, 0.0);
  ASSERT_TRUE(cold.ok());
  ASSERT_TRUE(TrainLocally(*cold, data_.X, data_.y, options).ok());
  EXPECT_EQ(warm.parameters(), cold->parameters());
}

struct StepCountCase {
  std::string name;
  int n;
  int epochs;
  int batch_size;
  int max_steps;
  int64_t steps;
  int64_t examples_seen;
};

TEST_F(TrainerTest, CountsStepsAndExamples) {
  const std::vector<StepCountCase> cases = {
      {.name = "exact batches", .n = 96, .epochs = 1, .batch_size = 32,
       .max_steps = 0, .steps = 3, .examples_seen = 96},
      {.name = "partial last batch", .n = 100, .epochs = 3, .batch_size = 32,
       .max_steps = 0, .steps = 12, .examples_seen = 300},
      {.name = "capped", .n = 100, .epochs = 3, .batch_size = 32,
       .max_steps = 5, .steps = 5, .examples_seen = 4 * 32 + 4},
      {.name = "cap above total", .n = 100, .epochs = 2, .batch_size = 32,
       .max_steps = 1000, .steps = 8, .examples_seen = 200},
      {.name = "batch above n", .n = 10, .epochs = 2, .batch_size = 64,
       .max_steps = 0, .steps = 2, .examples_seen = 20},
  };
  for (const StepCountCase& c : cases) {
    SCOPED_TRACE(c.name);
    LogisticRegression model = ZeroModel(5);
    auto result = TrainLocally(model, data_.X.topRows(c.n), data_.y.head(c.n),
                               {.epochs = c.epochs, .max_steps = c.max_steps,
                                .batch_size = c.batch_size, .optimizer = kSgd});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->steps, c.steps);
    EXPECT_EQ(result->examples_seen, c.examples_seen);
  }
}

TEST_F(TrainerTest, FinalLossIsLossOnTheWholeSet) {
  LogisticRegression model = ZeroModel(5, 0.1);
  auto result = TrainLocally(model, data_.X, data_.y, {.optimizer = kSgd});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->final_loss, model.Loss(data_.X, data_.y));
}

TEST_F(TrainerTest, MeanTrainLossWeightsBatchesBySize) {
  // A learning rate this small leaves the parameters where they are, so
  // every batch is scored by the starting model and the size-weighted mean of
  // batch means (batches of 7 and 3) is the mean over all 10 rows, whatever
  // the shuffle. An unweighted mean of the two batch means would differ.
  auto model = LogisticRegression::FromParameters(
      (Eigen::VectorXd(6) << 1, -1, 0.5, 2, 0, 0.3).finished(), 0.0);
  ASSERT_TRUE(model.ok());
  const Eigen::MatrixXd X = data_.X.topRows(10);
  const Eigen::VectorXd y = data_.y.head(10);
  const double expected = model->Loss(X, y);
  auto result = TrainLocally(
      *model, X, y,
      {.batch_size = 7,
       .optimizer = {.kind = OptimizerConfig::Kind::kSgd, .learning_rate = 1e-300}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NEAR(result->mean_train_loss, expected, 1e-12);
}

TEST_F(TrainerTest, MeanTrainLossIsTakenBeforeEachStep) {
  // Full-batch SGD for two epochs: the mean is (L(theta0) + L(theta1)) / 2
  // with theta1 = theta0 - lr * grad(theta0).
  LogisticRegression model = ZeroModel(5, 0.2);
  const double lr = 0.5;
  const double loss0 = model.Loss(data_.X, data_.y);
  auto step1 = LogisticRegression::FromParameters(
      model.parameters() - lr * model.Gradient(data_.X, data_.y), 0.2);
  ASSERT_TRUE(step1.ok());
  const double loss1 = step1->Loss(data_.X, data_.y);

  auto result = TrainLocally(
      model, data_.X, data_.y,
      {.epochs = 2, .batch_size = 2000,
       .optimizer = {.kind = OptimizerConfig::Kind::kSgd, .learning_rate = lr}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NEAR(result->mean_train_loss, (loss0 + loss1) / 2, 1e-12);
  EXPECT_LT(result->final_loss, loss1);
}

struct RecoveryCase {
  std::string name;
  LocalTrainingOptions options;
};

TEST_F(TrainerTest, RecoversTheGeneratingModel) {
  // The data come from sigmoid(x . w* + b*): training must find w*'s
  // direction and classify about as well as w* itself does.
  const std::vector<RecoveryCase> cases = {
      {.name = "adam", .options = {.epochs = 5, .batch_size = 32, .optimizer = kAdam, .seed = 1}},
      {.name = "sgd", .options = {.epochs = 5, .batch_size = 32, .optimizer = kSgd, .seed = 2}},
      {.name = "sgd momentum",
       .options = {.epochs = 3, .batch_size = 64,
                   .optimizer = {.kind = OptimizerConfig::Kind::kSgd,
                                 .learning_rate = 0.05, .momentum = 0.9},
                   .seed = 3}},
  };
  auto oracle = LogisticRegression::FromParameters(
      (Eigen::VectorXd(6) << true_weights_, true_bias_).finished(), 0.0);
  ASSERT_TRUE(oracle.ok());
  const double oracle_accuracy = Accuracy(EvaluateBinary(*oracle, data_.X, data_.y));

  for (const RecoveryCase& c : cases) {
    SCOPED_TRACE(c.name);
    LogisticRegression model = ZeroModel(5, 1e-4);
    auto result = TrainLocally(model, data_.X, data_.y, c.options);
    ASSERT_TRUE(result.ok()) << result.status();
    const Eigen::VectorXd w = model.parameters().head(5);
    const double cosine = w.dot(true_weights_) / (w.norm() * true_weights_.norm());
    EXPECT_GT(cosine, 0.95) << "weights " << w.transpose();
    const double accuracy = Accuracy(EvaluateBinary(model, data_.X, data_.y));
    EXPECT_GT(accuracy, 0.75);
    EXPECT_GT(accuracy, oracle_accuracy - 0.02);
    EXPECT_LT(result->final_loss, std::log(2.0) - 0.15);
  }
}

}  // namespace
}  // namespace cohort::ml
