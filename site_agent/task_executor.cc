#include "site_agent/task_executor.h"

#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "common/data/preprocess.h"
#include "common/ml/logistic_regression.h"
#include "common/ml/metrics.h"
#include "common/ml/trainer.h"
#include "common/study/proto_convert.h"
#include "common/util/logging.h"
#include "common/util/status_macros.h"

namespace cohort::site {
namespace {

v1::TaskResult RefusalResult(const v1::Task& task, v1::RefusalReason reason,
                             const std::string& message) {
  v1::TaskResult result;
  result.set_task_id(task.task_id());
  result.set_study_id(task.study_id());
  result.set_round(task.round());
  result.mutable_refusal()->set_reason(reason);
  result.mutable_refusal()->set_message(message);
  return result;
}

absl::StatusOr<data::Standardizer> StandardizerFrom(const v1::Normalization& n, int features) {
  if (n.mean_size() != features || n.scale_size() != features || n.impute_size() != features) {
    return absl::InvalidArgumentError(absl::StrCat(
        "normalization has ", n.mean_size(), " features, the plan has ", features));
  }
  data::Standardizer s;
  s.mean.assign(n.mean().begin(), n.mean().end());
  s.scale.assign(n.scale().begin(), n.scale().end());
  s.impute_value.assign(n.impute().begin(), n.impute().end());
  for (int j = 0; j < features; ++j) {
    if (!std::isfinite(s.mean[j]) || !std::isfinite(s.impute_value[j]) ||
        !(s.scale[j] > 0) || !std::isfinite(s.scale[j])) {
      return absl::InvalidArgumentError(absl::StrCat("normalization of feature ", j,
                                                     " is not finite or has scale <= 0"));
    }
  }
  return s;
}

}  // namespace

absl::StatusOr<v1::EncodedContribution> PlainEncoder::Encode(
    const v1::RoundContribution& contribution) {
  v1::EncodedContribution encoded;
  encoded.set_encoding(v1::EncodedContribution::PLAIN);
  *encoded.mutable_plain() = contribution;
  return encoded;
}

TaskExecutor::TaskExecutor(const SiteConfig& config, BlobFetcher* fetcher)
    : config_(config), fetcher_(fetcher), approval_(config.approved_studies) {}

absl::StatusOr<const data::LocalDataset*> TaskExecutor::DatasetFor(
    const study::StudyPlan& plan) {
  auto it = datasets_.find(plan.sha256);
  if (it != datasets_.end()) return &it->second;
  ASSIGN_OR_RETURN(data::LocalDataset dataset,
                   data::LoadLocalDataset(config_.data, plan.schema));
  if (dataset.x_train.rows() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(config_.data.resolved_path, ": no training rows left after preprocessing"));
  }
  util::LogInfo({plan.study_id, -1, config_.site},
                absl::StrCat("loaded ", config_.data.resolved_path, ": ", dataset.rows_read,
                             " rows, ", dataset.x_train.rows(), " train, ",
                             dataset.x_test.rows(), " test, ", dataset.rows_dropped_missing,
                             " dropped for missing values"));
  return &datasets_.emplace(plan.sha256, std::move(dataset)).first->second;
}

absl::Status TaskExecutor::Preload(const study::StudyPlan& plan) {
  return DatasetFor(plan).status();
}

absl::StatusOr<v1::TaskResult> TaskExecutor::Execute(const v1::Task& task) {
  const util::LogContext ctx{task.study_id(), task.round(), config_.site};
  auto checked = approval_.Check(task);
  if (auto* refusal = std::get_if<Refusal>(&checked)) {
    util::LogWarn(ctx, absl::StrCat("refused task ", task.task_id(), ": ",
                                    v1::RefusalReason_Name(refusal->reason), ": ",
                                    refusal->message));
    return RefusalResult(task, refusal->reason, refusal->message);
  }
  const study::StudyPlan& plan = std::get<study::StudyPlan>(checked);
  // The last round a plan can ask for: training, baseline, final evaluation.
  const int max_round = 2 * plan.rounds + 1;
  if (task.round() < 0 || task.round() > max_round) {
    const std::string why = absl::StrCat("round ", task.round(), " is outside the plan (0..",
                                         max_round, ")");
    util::LogWarn(ctx, absl::StrCat("refused task ", task.task_id(), ": ", why));
    return RefusalResult(task, v1::INVALID_TASK, why);
  }
  auto dataset = DatasetFor(plan);
  if (!dataset.ok()) {
    // The details (file, line, the offending value) stay in this site's log:
    // they can describe a patient's record.
    util::LogError(ctx, absl::StrCat("cannot use local data: ", dataset.status().message()));
    return RefusalResult(task, v1::DATA_ERROR,
                         "the site's data could not be loaded for this plan; the site's "
                         "log has the details");
  }
  absl::StatusOr<v1::TaskResult> result;
  switch (task.kind_case()) {
    case v1::Task::kStatistics:
      result = Statistics(plan, **dataset);
      break;
    case v1::Task::kTrain:
      result = Train(plan, task, **dataset);
      break;
    case v1::Task::kEvaluate:
      result = Evaluate(plan, task, **dataset);
      break;
    default:
      return RefusalResult(task, v1::INVALID_TASK, "task of an unknown kind");
  }
  if (!result.ok()) {
    if (absl::IsInvalidArgument(result.status())) {
      util::LogWarn(ctx, absl::StrCat("refused malformed task: ", result.status().message()));
      return RefusalResult(task, v1::INVALID_TASK, std::string(result.status().message()));
    }
    return result.status();
  }
  result->set_task_id(task.task_id());
  result->set_study_id(task.study_id());
  result->set_round(task.round());
  return result;
}

absl::StatusOr<v1::TaskResult> TaskExecutor::Statistics(const study::StudyPlan&,
                                                        const data::LocalDataset& data) {
  data::FeatureStatistics stats = data::ComputeStatistics(data);
  v1::TaskResult result;
  auto* s = result.mutable_statistics();
  s->set_num_train(data.x_train.rows());
  s->set_num_test(data.x_test.rows());
  s->mutable_count()->Add(stats.count.begin(), stats.count.end());
  s->mutable_sum()->Add(stats.sum.begin(), stats.sum.end());
  s->mutable_sum_squares()->Add(stats.sum_squares.begin(), stats.sum_squares.end());
  return result;
}

absl::StatusOr<Eigen::VectorXd> TaskExecutor::FetchModel(const v1::BlobRef& ref,
                                                         int expected_size) {
  ASSIGN_OR_RETURN(std::string bytes, fetcher_->Fetch(ref));
  v1::ModelParameters model;
  if (!model.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("blob ", ref.sha256(), " is not a model"));
  }
  if (model.values_size() != expected_size) {
    return absl::InvalidArgumentError(absl::StrCat("model has ", model.values_size(),
                                                   " values, the plan implies ", expected_size));
  }
  Eigen::VectorXd params = Eigen::Map<const Eigen::VectorXd>(model.values().data(), expected_size);
  if (!params.allFinite()) return absl::InvalidArgumentError("model contains NaN or Inf");
  return params;
}

absl::StatusOr<v1::TaskResult> TaskExecutor::Train(const study::StudyPlan& plan,
                                                   const v1::Task& task,
                                                   const data::LocalDataset& data) {
  const int features = static_cast<int>(data.feature_names.size());
  ASSIGN_OR_RETURN(data::Standardizer standardizer,
                   StandardizerFrom(task.train().normalization(), features));
  ASSIGN_OR_RETURN(Eigen::VectorXd global, FetchModel(task.train().global_model(), features + 1));
  Eigen::MatrixXd x_train = data.x_train;
  RETURN_IF_ERROR(data::Apply(standardizer, x_train));

  v1::RoundContribution contribution;
  if (task.train().evaluate_global_model()) {
    Eigen::MatrixXd x_test = data.x_test;
    RETURN_IF_ERROR(data::Apply(standardizer, x_test));
    ASSIGN_OR_RETURN(ml::LogisticRegression global_model,
                     ml::LogisticRegression::FromParameters(global, plan.l2));
    *contribution.mutable_global_model_test_metrics() = study::ToProto(
        ml::EvaluateBinary(global_model, x_test, data.y_test, plan.histogram_bins));
  } else {
    ml::BinaryMetrics empty;
    empty.positive_histogram.assign(plan.histogram_bins, 0);
    empty.negative_histogram.assign(plan.histogram_bins, 0);
    *contribution.mutable_global_model_test_metrics() = study::ToProto(empty);
  }

  ASSIGN_OR_RETURN(ml::LogisticRegression model,
                   ml::LogisticRegression::FromParameters(global, plan.l2));
  ml::LocalTrainingOptions options = plan.training;
  // Each site and round shuffles differently, reproducibly.
  options.seed = plan.training.seed ^ (std::hash<std::string>{}(config_.site) +
                                       0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(task.round()));
  ASSIGN_OR_RETURN(ml::LocalTrainingResult trained,
                   ml::TrainLocally(model, x_train, data.y_train, options));
  const double n = static_cast<double>(x_train.rows());
  Eigen::VectorXd weighted_delta = n * (model.parameters() - global);
  contribution.mutable_weighted_delta()->Add(weighted_delta.data(),
                                             weighted_delta.data() + weighted_delta.size());
  contribution.set_weight(n);
  contribution.set_train_loss_sum(trained.mean_train_loss * n);

  v1::TaskResult result;
  ASSIGN_OR_RETURN(*result.mutable_train()->mutable_contribution(),
                   encoder_.Encode(contribution));
  result.mutable_train()->set_local_steps(static_cast<int32_t>(trained.steps));
  util::LogInfo({task.study_id(), task.round(), config_.site},
                absl::StrCat("trained ", trained.steps, " steps on ", x_train.rows(),
                             " rows, loss ", trained.mean_train_loss));
  return result;
}

absl::StatusOr<v1::TaskResult> TaskExecutor::Evaluate(const study::StudyPlan& plan,
                                                      const v1::Task& task,
                                                      const data::LocalDataset& data) {
  const int features = static_cast<int>(data.feature_names.size());
  ASSIGN_OR_RETURN(data::Standardizer standardizer,
                   StandardizerFrom(task.evaluate().normalization(), features));
  Eigen::MatrixXd x_test = data.x_test;
  RETURN_IF_ERROR(data::Apply(standardizer, x_test));
  v1::TaskResult result;
  for (const v1::BlobRef& ref : task.evaluate().models()) {
    ASSIGN_OR_RETURN(Eigen::VectorXd params, FetchModel(ref, features + 1));
    ASSIGN_OR_RETURN(ml::LogisticRegression model,
                     ml::LogisticRegression::FromParameters(params, plan.l2));
    *result.mutable_evaluate()->add_metrics() =
        study::ToProto(ml::EvaluateBinary(model, x_test, data.y_test, plan.histogram_bins));
  }
  return result;
}

}  // namespace cohort::site
