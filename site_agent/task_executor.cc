#include "site_agent/task_executor.h"

#include <cmath>
#include <filesystem>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/data/preprocess.h"
#include "common/ml/logistic_regression.h"
#include "common/ml/metrics.h"
#include "common/ml/dp_sgd.h"
#include "common/ml/trainer.h"
#include "common/study/private_release.h"
#include "common/study/proto_convert.h"
#include "common/util/logging.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"
#include "common/study/secure_codec.h"
#include "crypto/files.h"
#include "absl/strings/match.h"
#include "crypto/sha256.h"
#include "crypto/pki.h"
#include <openssl/evp.h>

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

namespace {

std::string Base64(absl::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

std::string TaskKindName(const v1::Task& task) {
  switch (task.kind_case()) {
    case v1::Task::kStatistics:
      return "statistics";
    case v1::Task::kTrain:
      return "train";
    case v1::Task::kEvaluate:
      return "evaluate";
    case v1::Task::kSecure:
      return absl::StrCat("secure/", v1::SecAggPhase_Name(task.secure().phase()));
    case v1::Task::kReceipt:
      return "receipt";
    default:
      return "unknown";
  }
}

}  // namespace

absl::Status TaskExecutor::OpenAudit() {
  if (audit_ != nullptr) return absl::OkStatus();
  RETURN_IF_ERROR(LoadIdentity());
  ASSIGN_OR_RETURN(audit_, audit::OpenWithSettings(config_.state_dir + "/audit/site.jsonl",
                                                   signer_, cert_pem_, config_.audit));
  return absl::OkStatus();
}

absl::StatusOr<v1::TaskResult> TaskExecutor::Execute(const v1::Task& task) {
  const util::LogContext ctx{task.study_id(), task.round(), config_.site};
  if (absl::Status opened = OpenAudit(); !opened.ok()) {
    util::LogError(ctx, absl::StrCat("cannot open the audit log; nothing is sent: ",
                                     opened.message()));
    return opened;
  }
  RETURN_IF_ERROR(audit_
                      ->Append("task_received", {{"study", task.study_id()},
                                                 {"task_id", task.task_id()},
                                                 {"round", task.round()},
                                                 {"kind", TaskKindName(task)},
                                                 {"plan_sha256", crypto::Sha256Hex(task.plan_yaml())}})
                      .status());
  last_charge_.reset();
  ASSIGN_OR_RETURN(v1::TaskResult result, ExecuteTask(task));
  if (result.has_refusal()) {
    RETURN_IF_ERROR(audit_
                        ->Append("task_refused",
                                 {{"study", task.study_id()},
                                  {"task_id", task.task_id()},
                                  {"reason", v1::RefusalReason_Name(result.refusal().reason())},
                                  {"message", result.refusal().message()}})
                        .status());
  }
  // The exact bytes that leave, with the anchor unset (it names this entry).
  const std::string bytes = result.SerializeAsString();
  nlohmann::json sent = {{"study", task.study_id()},
                         {"task_id", task.task_id()},
                         {"round", task.round()},
                         {"kind", TaskKindName(task)},
                         {"sha256", crypto::Sha256Hex(bytes)},
                         {"bytes", static_cast<int64_t>(bytes.size())}};
  if (last_charge_.has_value()) sent["privacy"] = *last_charge_;
  ASSIGN_OR_RETURN(audit::Entry entry, audit_->Append("result_sent", sent));
  result.mutable_audit_anchor()->set_seq(entry.seq);
  result.mutable_audit_anchor()->set_head(entry.hash);
  return result;
}

absl::StatusOr<v1::TaskResult> TaskExecutor::ExecuteTask(const v1::Task& task) {
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
  // Differential privacy: what this task's release would cost is known from
  // the plan alone, so a task the budget cannot pay for is refused before any
  // record is read.
  std::optional<privacy::ChargeRequest> charge;
  if (!plan.privacy.on()) {
    if (!config_.privacy.allow_non_private) {
      const std::string why =
          "the plan turns differential privacy off (privacy.mode: off) and this site's config "
          "does not allow that (privacy.allow_non_private)";
      util::LogWarn(ctx, absl::StrCat("refused task ", task.task_id(), ": ", why));
      return RefusalResult(task, v1::INVALID_PLAN, why);
    }
    if (warned_non_private_.insert(plan.sha256).second) {
      util::LogWarn(ctx, "differential privacy is OFF in this plan (allowed by this site's "
                         "config): releases carry no noise and are not charged");
    }
  } else {
    auto request = ChargeFor(plan, task);
    if (!request.ok()) {
      util::LogWarn(ctx, absl::StrCat("refused task ", task.task_id(), ": ",
                                      request.status().message()));
      return RefusalResult(task, v1::INVALID_PLAN, std::string(request.status().message()));
    }
    charge = *std::move(request);
    if (charge.has_value()) {
      absl::Status affordable = OpenLedger();
      if (affordable.ok()) affordable = ledger_->Preview(*charge).status();
      if (!affordable.ok()) {
        util::LogWarn(ctx, absl::StrCat("refused task ", task.task_id(), ": ",
                                        affordable.message()));
        return RefusalResult(task, v1::PRIVACY_BUDGET_EXHAUSTED,
                             absl::IsResourceExhausted(affordable)
                                 ? std::string(affordable.message())
                                 : "the site's privacy ledger is unusable; see the site's log");
      }
      // Secure aggregation: the check is made when the round starts (key
      // advertisement); the charge when the masked input leaves.
      if (task.kind_case() == v1::Task::kSecure &&
          task.secure().phase() != v1::PHASE_MASKED_INPUT) {
        charge.reset();
      }
    }
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
  // Under secure aggregation the site sends nothing in the clear that the
  // plan means to be summed: plain statistics and training are refused, except
  // the plan's declared single-site baseline (rounds after the federated ones).
  const bool is_baseline = config_.site == plan.baseline_site && task.round() > plan.rounds;
  if (plan.secure_aggregation.enabled &&
      (task.kind_case() == v1::Task::kStatistics ||
       (task.kind_case() == v1::Task::kTrain && !is_baseline))) {
    const std::string why =
        "the plan requires secure aggregation; this site does not send it in the clear";
    util::LogWarn(ctx, absl::StrCat("refused task ", task.task_id(), ": ", why));
    return RefusalResult(task, v1::INVALID_TASK, why);
  }
  if (plan.privacy.on()) {
    // delta bounds the probability of a catastrophic release; at or above
    // 1/records it would allow releasing one record outright.
    const double records =
        static_cast<double>((*dataset)->x_train.rows() + (*dataset)->x_test.rows());
    for (double delta : {plan.privacy.delta, config_.privacy.study_delta}) {
      if (delta * records >= 1.0) {
        const std::string why = absl::StrCat(
            "delta ", delta, " is not below 1 / the number of this site's records; a "
            "meaningful guarantee needs a smaller delta");
        util::LogWarn(ctx, absl::StrCat("refused task ", task.task_id(), ": ", why));
        return RefusalResult(task, v1::INVALID_PLAN, why);
      }
    }
  }
  if (!plan.secure_aggregation.enabled && warned_plain_.insert(plan.sha256).second) {
    util::LogWarn(ctx, "secure aggregation is OFF in this plan: the coordinator sees this "
                       "site's individual updates and statistics");
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
    case v1::Task::kReceipt:
      result = Receipt(task);
      break;
    case v1::Task::kSecure:
      if (!plan.secure_aggregation.enabled) {
        return RefusalResult(task, v1::INVALID_TASK,
                             "secure aggregation task for a plan that turns it off");
      }
      result = Secure(plan, task, **dataset);
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
  if (charge.has_value() && !result->has_refusal() &&
      !(result->has_secure() && !result->secure().has_response())) {
    // Durable before the release leaves this process.
    absl::StatusOr<privacy::ChargeReceipt> receipt = Charge(*charge, ctx);
    if (receipt.ok()) {
      // Audit entries hold integers and strings only: fractions are written
      // as decimal strings that read back to the same double.
      auto num = [](double v) { return absl::StrFormat("%.17g", v); };
      nlohmann::json events = nlohmann::json::array();
      for (const privacy::PrivacyEvent& e : charge->events) {
        events.push_back(
            {{"mechanism", e.mechanism == privacy::PrivacyEvent::Mechanism::kGaussian
                               ? "gaussian"
                               : "discrete_gaussian_sum"},
             {"sampling_rate", num(e.sampling_rate)},
             {"noise_multiplier", num(e.noise_multiplier)},
             {"rdp_slack", num(e.rdp_slack)},
             {"count", e.count}});
      }
      last_charge_ = nlohmann::json{
          {"events", events},
          {"delta", num(charge->study_ceiling.delta)},
          {"ceiling", num(charge->study_ceiling.epsilon)},
          {"study_epsilon_before", num(receipt->study_before.epsilon)},
          {"study_epsilon_after", num(receipt->study_after.epsilon)},
          {"total_epsilon_after", num(receipt->total_after.epsilon)},
          {"accountant", std::string(privacy::AccountantName(receipt->study_after.accountant))}};
      v1::PrivacySpend* spend = result->mutable_privacy_spend();
      spend->set_epsilon(receipt->study_after.epsilon);
      spend->set_delta(receipt->study_after.delta);
      spend->set_ceiling_epsilon(charge->study_ceiling.epsilon);
      spend->set_accountant(std::string(privacy::AccountantName(receipt->study_after.accountant)));
    } else {
      const absl::Status& charged = receipt.status();
      if (result->has_secure()) {
        result->mutable_secure()->clear_response();
        result->mutable_secure()->set_declined(
            "the site could not record this release in its privacy ledger");
      } else {
        return RefusalResult(task, v1::PRIVACY_BUDGET_EXHAUSTED,
                             absl::IsResourceExhausted(charged)
                                 ? std::string(charged.message())
                                 : "the site could not record this release in its privacy "
                                   "ledger; see the site's log");
      }
    }
  }
  result->set_task_id(task.task_id());
  result->set_study_id(task.study_id());
  result->set_round(task.round());
  return result;
}

absl::StatusOr<std::optional<privacy::ChargeRequest>> TaskExecutor::ChargeFor(
    const study::StudyPlan& plan, const v1::Task& task) {
  std::optional<study::ReleaseKind> kind;
  int models = 1;
  switch (task.kind_case()) {
    case v1::Task::kStatistics:
      kind = study::ReleaseKind::kStatistics;
      break;
    case v1::Task::kTrain:
      kind = study::ReleaseKind::kTrain;
      break;
    case v1::Task::kEvaluate:
      kind = study::ReleaseKind::kEvaluate;
      models = task.evaluate().models_size();
      break;
    case v1::Task::kSecure:
      if (task.secure().phase() == v1::PHASE_ADVERTISE_KEYS ||
          task.secure().phase() == v1::PHASE_MASKED_INPUT) {
        // Round 0 is the preprocessing statistics (the key advertisement
        // carries no input yet, so the round says which release it starts).
        kind = task.round() == 0 ? study::ReleaseKind::kStatistics : study::ReleaseKind::kTrain;
      }
      break;
    default:
      break;
  }
  if (!kind.has_value()) return std::nullopt;
  ASSIGN_OR_RETURN(std::vector<privacy::PrivacyEvent> events,
                   study::ReleaseEvents(plan, *kind, data::NumEncodedFeatures(plan.schema),
                                        task.round(), models));
  privacy::ChargeRequest request;
  request.study_id = plan.study_id;
  request.release_id = task.task_id();
  request.kind = std::string(study::ReleaseKindName(*kind));
  request.events = std::move(events);
  request.study_ceiling = {config_.privacy.study_epsilon, config_.privacy.study_delta};
  return request;
}

absl::Status TaskExecutor::OpenLedger() {
  if (ledger_ != nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(ledger_, privacy::PrivacyLedger::Open(
                                config_.state_dir + "/privacy/ledger.jsonl",
                                {config_.privacy.total_epsilon, config_.privacy.total_delta}));
  if (ledger_->recovered_torn_line()) {
    util::LogWarn({"", -1, config_.site},
                  absl::StrCat(ledger_->path(), ": dropped an incomplete last line (a charge "
                                                "interrupted before its release left)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<privacy::ChargeReceipt> TaskExecutor::Charge(
    const privacy::ChargeRequest& request, const util::LogContext& ctx) {
  RETURN_IF_ERROR(OpenLedger());
  auto receipt = ledger_->Charge(request);
  if (!receipt.ok()) {
    util::LogError(ctx, absl::StrCat("release withheld: ", receipt.status().message()));
    return receipt.status();
  }
  util::LogInfo(ctx, absl::StrFormat(
                         "privacy: %s release charged; study epsilon %.4f -> %.4f (delta %g, "
                         "ceiling %g), total %.4f",
                         request.kind, receipt->study_before.epsilon,
                         receipt->study_after.epsilon, request.study_ceiling.delta,
                         request.study_ceiling.epsilon, receipt->total_after.epsilon));
  return receipt;
}

absl::StatusOr<v1::TaskResult> TaskExecutor::Statistics(const study::StudyPlan& plan,
                                                        const data::LocalDataset& data) {
  v1::TaskResult result;
  if (plan.privacy.mode == study::StudyPlan::Privacy::Mode::kLocal) {
    ASSIGN_OR_RETURN(study::StatisticsLayout layout, study::StatisticsLayout::Create(plan.schema));
    ASSIGN_OR_RETURN(Eigen::VectorXd noisy,
                     study::NoisySum(layout.Records(data), layout.length(), layout.record_bound(),
                                     plan.privacy.statistics_noise_multiplier, noise_gen_));
    *result.mutable_statistics() = layout.Decode(noisy);
    return result;
  }
  if (plan.privacy.on()) {
    return absl::FailedPreconditionError(
        "distributed DP statistics are only released through secure aggregation");
  }
  data::FeatureStatistics stats = data::ComputeStatistics(data);
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

absl::StatusOr<v1::RoundContribution> TaskExecutor::ComputeContribution(
    const study::StudyPlan& plan, const v1::TrainTask& train, int round,
    const data::LocalDataset& data, int* local_steps) {
  const int features = static_cast<int>(data.feature_names.size());
  ASSIGN_OR_RETURN(data::Standardizer standardizer,
                   StandardizerFrom(train.normalization(), features));
  ASSIGN_OR_RETURN(Eigen::VectorXd global, FetchModel(train.global_model(), features + 1));
  Eigen::MatrixXd x_train = data.x_train;
  RETURN_IF_ERROR(data::Apply(standardizer, x_train));

  v1::RoundContribution contribution;
  if (plan.privacy.on()) {
    // Local-mode DP-SGD: only the noisy model delta leaves; no metrics and no
    // record count (the coordinator averages the sites' deltas).
    if (!(train.dp_records_per_site() > 0)) {
      return absl::InvalidArgumentError("train task lacks dp_records_per_site");
    }
    ASSIGN_OR_RETURN(ml::LogisticRegression model,
                     ml::LogisticRegression::FromParameters(global, plan.l2));
    const ml::DpSgdOptions options = {
        .steps = plan.DpStepsPerRound(),
        .sampling_rate = plan.privacy.sampling_rate,
        .clip = plan.privacy.clip,
        .noise_multiplier = plan.privacy.noise_multiplier,
        .expected_batch = plan.privacy.sampling_rate * train.dp_records_per_site(),
        .optimizer = plan.training.optimizer};
    ASSIGN_OR_RETURN(ml::DpSgdResult trained,
                     ml::TrainDpSgd(model, x_train, data.y_train, options, noise_gen_));
    const Eigen::VectorXd delta = model.parameters() - global;
    contribution.mutable_weighted_delta()->Add(delta.data(), delta.data() + delta.size());
    contribution.set_weight(1.0);
    if (local_steps != nullptr) *local_steps = static_cast<int>(trained.steps);
    // Sampled and clipped counts describe the data: they stay in this log.
    util::LogInfo({plan.study_id, round, config_.site},
                  absl::StrCat("DP-SGD: ", trained.steps, " noisy steps, ",
                               trained.examples_sampled, " records sampled, ",
                               trained.examples_clipped, " gradients clipped"));
    return contribution;
  }
  if (train.evaluate_global_model()) {
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
                                       0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(round));
  ASSIGN_OR_RETURN(ml::LocalTrainingResult trained,
                   ml::TrainLocally(model, x_train, data.y_train, options));
  const double n = static_cast<double>(x_train.rows());
  Eigen::VectorXd weighted_delta = n * (model.parameters() - global);
  contribution.mutable_weighted_delta()->Add(weighted_delta.data(),
                                             weighted_delta.data() + weighted_delta.size());
  contribution.set_weight(n);
  contribution.set_train_loss_sum(trained.mean_train_loss * n);
  if (local_steps != nullptr) *local_steps = static_cast<int>(trained.steps);
  util::LogInfo({plan.study_id, round, config_.site},
                absl::StrCat("trained ", trained.steps, " steps on ", x_train.rows(),
                             " rows, loss ", trained.mean_train_loss));
  return contribution;
}

absl::StatusOr<v1::TaskResult> TaskExecutor::Train(const study::StudyPlan& plan,
                                                   const v1::Task& task,
                                                   const data::LocalDataset& data) {
  int steps = 0;
  ASSIGN_OR_RETURN(v1::RoundContribution contribution,
                   ComputeContribution(plan, task.train(), task.round(), data, &steps));
  v1::TaskResult result;
  ASSIGN_OR_RETURN(*result.mutable_train()->mutable_contribution(),
                   encoder_.Encode(contribution));
  result.mutable_train()->set_local_steps(steps);
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
  std::vector<ml::BinaryMetrics> exact;
  for (const v1::BlobRef& ref : task.evaluate().models()) {
    ASSIGN_OR_RETURN(Eigen::VectorXd params, FetchModel(ref, features + 1));
    ASSIGN_OR_RETURN(ml::LogisticRegression model,
                     ml::LogisticRegression::FromParameters(params, plan.l2));
    exact.push_back(ml::EvaluateBinary(model, x_test, data.y_test, plan.histogram_bins));
    if (!plan.privacy.on()) {
      *result.mutable_evaluate()->add_metrics() = study::ToProto(exact.back());
      continue;
    }
    // Under DP the released metrics are noisy (local noise in both modes:
    // each site's evaluation is reported on its own).
    ASSIGN_OR_RETURN(study::EvaluationLayout layout,
                     study::EvaluationLayout::Create(plan.privacy.evaluation_bins));
    ASSIGN_OR_RETURN(Eigen::VectorXd noisy,
                     study::NoisySum(layout.Records(model, x_test, data.y_test), layout.length(),
                                     layout.record_bound(),
                                     plan.privacy.evaluation_noise_multiplier, noise_gen_));
    *result.mutable_evaluate()->add_metrics() = layout.Decode(noisy);
  }
  if (plan.privacy.on()) {
    if (absl::Status saved = SaveLocalEvaluation(plan, exact); !saved.ok()) {
      util::LogWarn({plan.study_id, task.round(), config_.site},
                    absl::StrCat("could not keep the exact local evaluation: ", saved.message()));
    }
  }
  return result;
}

absl::Status TaskExecutor::SaveLocalEvaluation(
    const study::StudyPlan& plan, const std::vector<ml::BinaryMetrics>& metrics) const {
  nlohmann::json models = nlohmann::json::array();
  for (const ml::BinaryMetrics& m : metrics) models.push_back(study::MetricsJson(m));
  nlohmann::json record = {
      {"study_id", plan.study_id},
      {"plan_sha256", plan.sha256},
      {"site", config_.site},
      {"note", "exact metrics on this site's test split; kept at the site, never sent"},
      {"models", models}};
  // The raw counts and histograms too, so sites that agree can pool them.
  for (size_t i = 0; i < metrics.size(); ++i) {
    record["models"][i]["histograms"] = {{"positive", metrics[i].positive_histogram},
                                         {"negative", metrics[i].negative_histogram}};
    record["models"][i]["counts"] = {{"n", metrics[i].n},
                                     {"correct", metrics[i].correct},
                                     {"true_positive", metrics[i].true_positive},
                                     {"false_positive", metrics[i].false_positive},
                                     {"true_negative", metrics[i].true_negative},
                                     {"false_negative", metrics[i].false_negative},
                                     {"loss_sum", metrics[i].loss_sum}};
  }
  const std::string dir = config_.state_dir + "/evaluations";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": ", ec.message()));
  return crypto::WriteFileAtomically(absl::StrCat(dir, "/", plan.study_id, ".json"),
                                     record.dump(2) + "\n", 0600);
}

absl::StatusOr<study::Encoded> TaskExecutor::EncodeDistributed(const study::StudyPlan& plan,
                                                               const v1::Task& task,
                                                               const data::LocalDataset& data) {
  const v1::SecureAggregationTask& secure = task.secure();
  const int features = static_cast<int>(data.feature_names.size());
  const bool statistics = secure.has_statistics();
  ASSIGN_OR_RETURN(privacy::DistributedSumEncoder encoder,
                   study::DistributedEncoder(plan,
                                             statistics ? study::ReleaseKind::kStatistics
                                                        : study::ReleaseKind::kTrain,
                                             features, task.round()));
  Eigen::MatrixXd rows;
  if (statistics) {
    ASSIGN_OR_RETURN(study::StatisticsLayout layout, study::StatisticsLayout::Create(plan.schema));
    rows = layout.Records(data);
  } else {
    const v1::TrainTask& train = secure.train();
    ASSIGN_OR_RETURN(data::Standardizer standardizer,
                     StandardizerFrom(train.normalization(), features));
    ASSIGN_OR_RETURN(Eigen::VectorXd global, FetchModel(train.global_model(), features + 1));
    Eigen::MatrixXd x_train = data.x_train;
    RETURN_IF_ERROR(data::Apply(standardizer, x_train));
    ASSIGN_OR_RETURN(ml::LogisticRegression model,
                     ml::LogisticRegression::FromParameters(global, plan.l2));
    ASSIGN_OR_RETURN(ml::ClippedSample sample,
                     ml::SampleClippedGradients(model, x_train, data.y_train,
                                                plan.privacy.sampling_rate, plan.privacy.clip,
                                                noise_gen_));
    util::LogInfo({plan.study_id, task.round(), config_.site},
                  absl::StrCat("distributed DP-SGD: ", sample.per_example.rows(),
                               " records sampled, ", sample.num_clipped, " gradients clipped"));
    rows = std::move(sample.per_example);
  }
  const v1::SecAggContext& context = secure.context();
  const int bits = context.bits();
  const int64_t limit =
      ((int64_t{1} << (bits - 1)) - 1) / std::max(1, context.participants_size());
  if (encoder.MaxAbsCoordinate(rows.rows()) > limit) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this site's noisy sum may exceed the ", bits, "-bit secure-aggregation range"));
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> sum, encoder.EncodeSum(rows, noise_gen_));
  study::Encoded out;
  const uint64_t mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  out.values.reserve(sum.size());
  for (int64_t v : sum) out.values.push_back(static_cast<uint64_t>(v) & mask);
  return out;
}

absl::StatusOr<v1::TaskResult> TaskExecutor::Receipt(const v1::Task& task) {
  const v1::ReceiptTask& r = task.receipt();
  auto verified = crypto::Verifier::FromCertificate(r.coordinator_cert_pem(), ca_pem_, absl::Now());
  if (!verified.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("receipt certificate: ", verified.status().message()));
  }
  std::unique_ptr<crypto::Verifier> verifier = *std::move(verified);
  if (verifier->identity().role != crypto::Role::kCoordinator) {
    return absl::InvalidArgumentError("receipt is not signed by a coordinator certificate");
  }
  nlohmann::json body = {{"study", task.study_id()},
                         {"site", config_.site},
                         {"round", r.round()},
                         {"participants", std::vector<std::string>(r.participants().begin(),
                                                                   r.participants().end())},
                         {"aggregate_sha256", r.aggregate_sha256()},
                         {"model_sha256", r.model_sha256()},
                         {"coordinator_seq", r.coordinator_seq()},
                         {"coordinator_head", r.coordinator_head()}};
  if (absl::Status ok = verifier->Verify(body.dump(), r.signature()); !ok.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("receipt signature: ", ok.message()));
  }
  body["receipt_signature"] = Base64(r.signature());
  body["coordinator_cert"] = r.coordinator_cert_pem();
  RETURN_IF_ERROR(audit_->Append("receipt", body).status());
  v1::TaskResult result;
  result.mutable_receipt_ack();
  return result;
}

absl::Status TaskExecutor::LoadIdentity() {
  if (signer_ != nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(cert_pem_, crypto::ReadFile(config_.tls.cert));
  ASSIGN_OR_RETURN(ca_pem_, crypto::ReadFile(config_.tls.ca));
  ASSIGN_OR_RETURN(std::string key_pem, crypto::ReadFile(config_.tls.key));
  ASSIGN_OR_RETURN(std::unique_ptr<crypto::Signer> signer,
                   crypto::Signer::FromPrivateKeyPem(key_pem));
  signer_ = std::move(signer);
  return absl::OkStatus();
}

absl::Status TaskExecutor::CheckContext(const study::StudyPlan& plan, const v1::Task& task,
                                        int features) const {
  const v1::SecAggContext& c = task.secure().context();
  const auto& sa = plan.secure_aggregation;
  auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("secure aggregation context: ", why));
  };
  if (c.study_id() != task.study_id() || c.round() != task.round()) {
    return bad("names another study or round than its task");
  }
  const int n = c.participants_size();
  for (int i = 0; i < n; ++i) {
    if (!plan.HasSite(c.participants(i))) {
      return bad(absl::StrCat("participant '", c.participants(i), "' is not in the plan"));
    }
    if (i > 0 && c.participants(i - 1) >= c.participants(i)) {
      return bad("participants are not sorted and unique");
    }
  }
  if (std::find(c.participants().begin(), c.participants().end(), config_.site) ==
      c.participants().end()) {
    return bad("this site is not a participant");
  }
  // The coordinator may not weaken what the hospital approved.
  if (c.threshold() != sa.threshold) {
    return bad(absl::StrCat("threshold ", c.threshold(), " differs from the plan's ",
                            sa.threshold));
  }
  if (n < sa.threshold) return bad("fewer participants than the threshold");
  if (plan.privacy.mode == study::StudyPlan::Privacy::Mode::kDistributed &&
      n < plan.privacy.minimum_honest_sites) {
    return bad("fewer participants than the plan's minimum of honest sites");
  }
  if (c.degree() != std::min(sa.degree, n - 1)) {
    return bad(absl::StrCat("degree ", c.degree(), " differs from the plan's"));
  }
  const bool statistics = task.round() == 0;
  const int bits = statistics ? study::kStatisticsBits : sa.bits;
  if (c.bits() != bits) return bad(absl::StrCat("bits ", c.bits(), " should be ", bits));
  int64_t length = 0;
  if (plan.privacy.mode == study::StudyPlan::Privacy::Mode::kDistributed) {
    ASSIGN_OR_RETURN(privacy::DistributedSumEncoder encoder,
                     study::DistributedEncoder(plan,
                                               statistics ? study::ReleaseKind::kStatistics
                                                          : study::ReleaseKind::kTrain,
                                               features, task.round()));
    length = encoder.padded_dim();
  } else if (statistics) {
    ASSIGN_OR_RETURN(study::StatisticsCodec codec, study::StatisticsCodec::Create(features, n));
    length = codec.length();
  } else {
    ASSIGN_OR_RETURN(study::TrainingCodec codec,
                     study::TrainingCodec::Create(features + 1, plan.histogram_bins, sa.bits,
                                                  sa.clip, n));
    length = codec.length();
  }
  if (c.vector_length() != length) {
    return bad(absl::StrCat("vector length ", c.vector_length(), " should be ", length));
  }
  return absl::OkStatus();
}

std::string TaskExecutor::UnmaskRecordPath() const {
  return config_.state_dir + "/secure-aggregation/unmasked.json";
}

absl::Status TaskExecutor::LoadUnmaskRecord() {
  if (unmask_record_loaded_) return absl::OkStatus();
  const std::string path = UnmaskRecordPath();
  if (std::filesystem::exists(path)) {
    ASSIGN_OR_RETURN(std::string text, crypto::ReadFile(path));
    nlohmann::json record = nlohmann::json::parse(text, nullptr, false);
    if (record.is_discarded() || !record.is_object()) {
      return absl::DataLossError(absl::StrCat(path, ": not a JSON object"));
    }
    for (const auto& [key, survivors] : record.items()) {
      if (!survivors.is_array()) {
        return absl::DataLossError(absl::StrCat(path, ": entry \"", key, "\" is not a list"));
      }
      std::vector<std::string> sites;
      for (const auto& site : survivors) {
        if (!site.is_string()) {
          return absl::DataLossError(absl::StrCat(path, ": entry \"", key, "\" is malformed"));
        }
        sites.push_back(site.get<std::string>());
      }
      answered_unmask_[key] = std::move(sites);
    }
  }
  unmask_record_loaded_ = true;
  return absl::OkStatus();
}

absl::Status TaskExecutor::SaveUnmaskRecord() const {
  nlohmann::json record = nlohmann::json::object();
  for (const auto& [key, survivors] : answered_unmask_) record[key] = survivors;
  std::error_code ec;
  std::filesystem::create_directories(config_.state_dir + "/secure-aggregation", ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(config_.state_dir, ": cannot create folder: ",
                                            ec.message()));
  }
  return crypto::WriteFileAtomically(UnmaskRecordPath(), record.dump(1) + "\n", 0600);
}

std::string TaskExecutor::RoundKey(const v1::Task& task) {
  return absl::StrCat(task.study_id(), "/", task.round());
}

absl::StatusOr<study::Encoded> TaskExecutor::EncodeStatistics(const v1::StatisticsResult& s,
                                                              int features,
                                                              const v1::SecAggContext& context) {
  ASSIGN_OR_RETURN(study::StatisticsCodec codec,
                   study::StatisticsCodec::Create(features, context.participants_size()));
  return codec.Encode(s, rounding_gen_);
}

absl::StatusOr<study::Encoded> TaskExecutor::EncodeTraining(const study::StudyPlan& plan,
                                                            const v1::RoundContribution& c,
                                                            int features,
                                                            const v1::SecAggContext& context) {
  ASSIGN_OR_RETURN(study::TrainingCodec codec,
                   study::TrainingCodec::Create(features + 1, plan.histogram_bins,
                                                context.bits(), plan.secure_aggregation.clip,
                                                context.participants_size()));
  return codec.Encode(c, rounding_gen_);
}

absl::StatusOr<v1::TaskResult> TaskExecutor::Secure(const study::StudyPlan& plan,
                                                    const v1::Task& task,
                                                    const data::LocalDataset& data) {
  const v1::SecureAggregationTask& secure = task.secure();
  const v1::SecAggContext& context = secure.context();
  const int features = static_cast<int>(data.feature_names.size());
  RETURN_IF_ERROR(CheckContext(plan, task, features));
  RETURN_IF_ERROR(LoadIdentity());
  const util::LogContext ctx{task.study_id(), task.round(), config_.site};
  const std::string key =
      absl::StrCat(context.study_id(), "/", context.round(), "/", context.attempt());

  v1::TaskResult result;
  v1::SecureAggregationResult* out = result.mutable_secure();
  // Once this site has helped unmask a round's sum, it helps unmask no sum of
  // that round over another set of sites: two such sums would reveal their
  // difference. (The same set again, after a coordinator restart, reveals
  // nothing new.)
  if (absl::Status loaded = LoadUnmaskRecord(); !loaded.ok()) {
    util::LogError(ctx, std::string(loaded.message()));
    out->set_declined("the site cannot read its record of unmasked rounds; see its log");
    return result;
  }
  if (secure.phase() == v1::PHASE_UNMASK) {
    std::vector<std::string> survivors(secure.request().unmask().survivors().begin(),
                                       secure.request().unmask().survivors().end());
    std::sort(survivors.begin(), survivors.end());
    auto earlier = answered_unmask_.find(RoundKey(task));
    if (earlier != answered_unmask_.end() && earlier->second != survivors) {
      const std::string why =
          "this site already helped unmask a sum for this round over other sites";
      util::LogWarn(ctx, absl::StrCat("declined ", task.task_id(), ": ", why));
      out->set_declined(why);
      return result;
    }
  }
  absl::Status response;
  if (secure.phase() == v1::PHASE_ADVERTISE_KEYS) {
    // A new round (or a retried one): forget older rounds of this study.
    for (auto it = secagg_clients_.begin(); it != secagg_clients_.end();) {
      it = absl::StartsWith(it->first, context.study_id() + "/") ? secagg_clients_.erase(it)
                                                                 : std::next(it);
    }
    if (certificates_ == nullptr) {
      // One verifier for the agent's lifetime: each neighbour's certificate
      // is fully verified once, then only its validity window.
      ASSIGN_OR_RETURN(certificates_, crypto::CertificateVerifier::New(ca_pem_));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<secagg::SecAggClient> client,
                     secagg::SecAggClient::Create(
                         {context, config_.site, cert_pem_, signer_, ca_pem_}, certificates_,
                         prng_, *util::RealClock::Get()));
    auto advertised = client->AdvertiseKeys();
    if (advertised.ok()) *out->mutable_response()->mutable_advertise_keys() = *advertised;
    response = advertised.status();
    if (advertised.ok()) secagg_clients_[key] = std::move(client);
  } else {
    auto it = secagg_clients_.find(key);
    if (it == secagg_clients_.end()) {
      out->set_declined("no key advertisement of this site for this round");
      return result;
    }
    secagg::SecAggClient& client = *it->second;
    if (secure.phase() == v1::PHASE_MASKED_INPUT) {
      absl::StatusOr<study::Encoded> encoded;
      if (plan.privacy.mode == study::StudyPlan::Privacy::Mode::kDistributed &&
          (secure.has_statistics() || secure.has_train())) {
        encoded = EncodeDistributed(plan, task, data);
      } else if (secure.has_statistics()) {
        ASSIGN_OR_RETURN(v1::TaskResult stats, Statistics(plan, data));
        encoded = EncodeStatistics(stats.statistics(), features, context);
      } else if (secure.has_train()) {
        ASSIGN_OR_RETURN(v1::RoundContribution contribution,
                         ComputeContribution(plan, secure.train(), task.round(), data, nullptr));
        encoded = EncodeTraining(plan, contribution, features, context);
      } else {
        return absl::InvalidArgumentError("masked-input phase without an input");
      }
      if (!encoded.ok()) {
        // This site's numbers do not fit the plan's encoding: it sits this
        // round out, it does not leave the study. The detail (which value)
        // stays in this site's log.
        util::LogWarn(ctx, absl::StrCat("cannot encode this site's input: ",
                                        encoded.status().message()));
        response = absl::FailedPreconditionError(
            "this site's values do not fit the plan's encoding; the site's log has the details");
      } else {
        if (encoded->num_clipped > 0) {
          // Stays in this site's log: how many values were clipped says
          // something about the site's data.
          util::LogWarn(ctx, absl::StrCat(encoded->num_clipped, " values were clipped to ",
                                          secure.has_statistics() ? "the statistics range"
                                                                  : "the plan's clip range"));
        }
        auto masked = client.MaskInput(secure.request().masked_input(), encoded->values);
        if (masked.ok()) *out->mutable_response()->mutable_masked_input() = *masked;
        response = masked.status();
      }
    } else {
      auto handled = client.Handle(secure.request());
      response = handled.status();
      if (handled.ok() && secure.phase() == v1::PHASE_UNMASK) {
        // Durable before the shares leave: a restarted agent still knows
        // which sum of this round it helped unmask.
        std::vector<std::string> survivors(secure.request().unmask().survivors().begin(),
                                           secure.request().unmask().survivors().end());
        std::sort(survivors.begin(), survivors.end());
        const bool is_new = answered_unmask_.emplace(RoundKey(task), survivors).second;
        response = SaveUnmaskRecord();
        if (!response.ok() && is_new) answered_unmask_.erase(RoundKey(task));
      }
      if (response.ok()) *out->mutable_response() = *handled;
    }
  }
  if (!response.ok()) {
    util::LogWarn(ctx, absl::StrCat("declined secure-aggregation phase ",
                                    v1::SecAggPhase_Name(secure.phase()), ": ",
                                    response.message()));
    out->clear_response();
    out->set_declined(std::string(response.message()));
  }
  return result;
}

}  // namespace cohort::site
