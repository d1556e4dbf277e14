#include "coordinator/study_runner.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cohort/v1/model.pb.h"
#include "common/data/preprocess.h"
#include "common/study/proto_convert.h"
#include "common/util/logging.h"
#include "common/util/status_macros.h"
#include "coordinator/aggregation/fedavg.h"
#include "crypto/files.h"

namespace cohort::coordinator {
namespace {

using util::LogInfo;
using util::LogWarn;

std::string RefusalName(v1::RefusalReason reason) {
  return v1::RefusalReason_Name(reason);
}

bool AllFinite(const google::protobuf::RepeatedField<double>& values) {
  for (double v : values) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

std::string FormatAuc(const nlohmann::json& auc) {
  return auc.is_number() ? absl::StrFormat("%.4f", auc.get<double>()) : "n/a";
}

}  // namespace

StudyRunner::StudyRunner(study::StudyPlan plan, RunnerEnv env)
    : plan_(std::move(plan)), env_(std::move(env)) {
  // The plan was validated when parsed, so the strategy exists.
  strategy_ = *MakeServerStrategy(plan_.aggregation, plan_.server_learning_rate);
  feature_names_ = data::EncodedFeatureNames(plan_.schema);
  model_ = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(feature_names_.size()) + 1);
  summary_ = {{"study_id", plan_.study_id},
              {"status", "waiting_for_sites"},
              {"plan_sha256", plan_.sha256},
              {"sites", plan_.sites},
              {"min_sites", plan_.min_sites},
              {"features", feature_names_},
              {"rounds", nlohmann::json::array()}};
}

std::string StudyRunner::StudyDir() const {
  return (std::filesystem::path(env_.state_dir) / "studies" / plan_.study_id).string();
}

void StudyRunner::Stop() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
}

bool StudyRunner::Stopped() const {
  absl::MutexLock lock(&mu_);
  return stop_;
}

std::vector<std::string> StudyRunner::EligibleSites() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const std::string& site : plan_.sites) {
    if (!excluded_.contains(site) && env_.registry->HasJoined(site)) out.push_back(site);
  }
  return out;
}

absl::Status StudyRunner::OnResult(const std::string& site, v1::TaskResult result) {
  absl::MutexLock lock(&mu_);
  if (completed_tasks_.contains(result.task_id())) {
    return absl::AlreadyExistsError(absl::StrCat("task ", result.task_id(), " already received"));
  }
  auto it = expected_.find(result.task_id());
  if (it == expected_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("task ", result.task_id(), " is not awaited (its round is over)"));
  }
  if (it->second != site) {
    return absl::PermissionDeniedError(
        absl::StrCat("task ", result.task_id(), " was not given to site ", site));
  }
  completed_tasks_.insert(result.task_id());
  env_.registry->Acknowledge(site, result.task_id());
  received_[site] = std::move(result);
  return absl::OkStatus();
}

void StudyRunner::Drop(PhaseOutcome& outcome, const std::string& site,
                       const std::string& reason, int round) {
  outcome.results.erase(site);
  outcome.dropped[site] = reason;
  LogWarn({plan_.study_id, round, site}, absl::StrCat("site dropped from round: ", reason));
}

StudyRunner::PhaseOutcome StudyRunner::RunPhase(int round, int attempt,
                                                absl::string_view kind,
                                                const std::vector<std::string>& sites,
                                                const TaskFactory& fill) {
  const std::string prefix =
      absl::StrCat(plan_.study_id, "/", env_.run_id, "/r", round, "/a", attempt, "/", kind, "/");
  const absl::Time deadline = env_.clock->Now() + plan_.round_deadline;
  {
    absl::MutexLock lock(&mu_);
    expected_.clear();
    received_.clear();
  }
  for (const std::string& site : sites) {
    v1::Task task;
    task.set_task_id(prefix + site);
    task.set_study_id(plan_.study_id);
    task.set_round(round);
    task.set_deadline_unix_ms(absl::ToUnixMillis(deadline));
    task.set_plan_yaml(plan_.text);
    task.set_plan_sha256(plan_.sha256);
    fill(site, task);
    {
      absl::MutexLock lock(&mu_);
      expected_[task.task_id()] = site;
    }
    env_.registry->Enqueue(site, std::move(task));
  }

  PhaseOutcome outcome;
  std::set<std::string> waiting(sites.begin(), sites.end());
  while (!waiting.empty()) {
    {
      absl::MutexLock lock(&mu_);
      auto arrived = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        if (stop_) return true;
        for (const auto& site : waiting) {
          if (received_.contains(site)) return true;
        }
        return false;
      };
      mu_.AwaitWithTimeout(absl::Condition(&arrived), absl::Milliseconds(100));
      for (auto it = waiting.begin(); it != waiting.end();) {
        auto r = received_.find(*it);
        if (r != received_.end()) {
          outcome.results[*it] = r->second;
          it = waiting.erase(it);
        } else {
          ++it;
        }
      }
      if (stop_) break;
    }
    const bool past_deadline = env_.clock->Now() >= deadline;
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (past_deadline) {
        Drop(outcome, *it, "missed the round deadline", round);
        it = waiting.erase(it);
      } else if (!env_.registry->IsLive(*it)) {
        Drop(outcome, *it, "disconnected", round);
        it = waiting.erase(it);
      } else {
        ++it;
      }
    }
  }
  {
    absl::MutexLock lock(&mu_);
    expected_.clear();
    received_.clear();
  }
  for (const std::string& site : sites) env_.registry->Withdraw(site, prefix);

  // Refusals: the site declines the study; it takes no further part.
  for (auto it = outcome.results.begin(); it != outcome.results.end();) {
    if (it->second.has_refusal()) {
      const auto& refusal = it->second.refusal();
      const std::string site = it->first;
      std::string reason = absl::StrCat("refused the study (", RefusalName(refusal.reason()),
                                        "): ", refusal.message());
      {
        absl::MutexLock lock(&mu_);
        excluded_.insert(site);
      }
      summary_["refusals"][site] = reason;
      ++it;
      Drop(outcome, site, reason, round);
    } else {
      ++it;
    }
  }
  return outcome;
}

v1::Normalization StudyRunner::NormalizationProto() const {
  v1::Normalization n;
  n.mutable_mean()->Add(norm_mean_.begin(), norm_mean_.end());
  n.mutable_scale()->Add(norm_scale_.begin(), norm_scale_.end());
  n.mutable_impute()->Add(norm_impute_.begin(), norm_impute_.end());
  return n;
}

std::string StudyRunner::ModelBytes(const Eigen::VectorXd& params) const {
  v1::ModelParameters model;
  model.set_kind(plan_.model_kind);
  for (const auto& name : feature_names_) model.add_feature_names(name);
  model.mutable_values()->Add(params.data(), params.data() + params.size());
  return model.SerializeAsString();
}

absl::Status StudyRunner::Fail(absl::Status reason) {
  summary_["status"] = "failed";
  summary_["error"] = std::string(reason.message());
  util::LogError({plan_.study_id, -1, ""}, absl::StrCat("study failed: ", reason.message()));
  (void)WriteSummary();
  return reason;
}

absl::Status StudyRunner::RunStatistics() {
  const int expected = static_cast<int>(feature_names_.size());
  for (int attempt = 0; attempt <= plan_.max_round_retries; ++attempt) {
    std::vector<std::string> sites = EligibleSites();
    PhaseOutcome outcome = RunPhase(0, attempt, "statistics", sites,
                                    [](const std::string&, v1::Task& t) {
                                      t.mutable_statistics();
                                    });
    if (Stopped()) return absl::CancelledError("stopped");
    data::FeatureStatistics total;
    total.count.assign(expected, 0.0);
    total.sum.assign(expected, 0.0);
    total.sum_squares.assign(expected, 0.0);
    int64_t num_train = 0, num_test = 0;
    for (auto it = outcome.results.begin(); it != outcome.results.end();) {
      const std::string site = it->first;
      const v1::TaskResult& result = it->second;
      std::string problem;
      if (!result.has_statistics()) {
        problem = "sent a result of the wrong kind";
      } else {
        const auto& s = result.statistics();
        if (s.count_size() != expected || s.sum_size() != expected ||
            s.sum_squares_size() != expected) {
          problem = absl::StrCat("statistics have ", s.count_size(), " features, the plan has ",
                                 expected);
        } else if (!AllFinite(s.count()) || !AllFinite(s.sum()) || !AllFinite(s.sum_squares())) {
          problem = "statistics contain NaN or Inf";
        } else if (s.num_train() <= 0) {
          problem = "has no training rows";
        }
      }
      ++it;
      if (!problem.empty()) {
        Drop(outcome, site, problem, 0);
        continue;
      }
      const auto& s = result.statistics();
      for (int j = 0; j < expected; ++j) {
        total.count[j] += s.count(j);
        total.sum[j] += s.sum(j);
        total.sum_squares[j] += s.sum_squares(j);
      }
      num_train += s.num_train();
      num_test += s.num_test();
    }
    if (static_cast<int>(outcome.results.size()) < plan_.min_sites) {
      LogWarn({plan_.study_id, 0, ""},
              absl::StrCat("preprocessing: only ", outcome.results.size(), " of the required ",
                           plan_.min_sites, " sites reported; ",
                           attempt < plan_.max_round_retries ? "retrying" : "no retries left"));
      continue;
    }
    ASSIGN_OR_RETURN(data::Standardizer standardizer,
                     data::StandardizerFromGlobalStatistics(total, plan_.schema.standardize));
    norm_mean_ = standardizer.mean;
    norm_scale_ = standardizer.scale;
    norm_impute_ = standardizer.impute_value;
    std::vector<std::string> reported;
    for (const auto& [site, r] : outcome.results) reported.push_back(site);
    summary_["preprocessing"] = {{"sites", reported},
                                 {"num_train", num_train},
                                 {"num_test", num_test},
                                 {"mean", norm_mean_},
                                 {"scale", norm_scale_}};
    LogInfo({plan_.study_id, 0, ""},
            absl::StrCat("preprocessing done: ", reported.size(), " sites, ", num_train,
                         " training rows, ", num_test, " test rows"));
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "preprocessing: fewer than min_sites (", plan_.min_sites, ") sites reported after ",
      plan_.max_round_retries + 1, " attempts"));
}

absl::Status StudyRunner::RunTrainingRound(int round) {
  const int dim = static_cast<int>(model_.size());
  const v1::BlobRef model_ref = env_.blobs->Put(ModelBytes(model_));
  for (int attempt = 0; attempt <= plan_.max_round_retries; ++attempt) {
    std::vector<std::string> sites = EligibleSites();
    LogInfo({plan_.study_id, round, ""},
            absl::StrCat("round started with ", sites.size(), " sites: ",
                         absl::StrJoin(sites, ", ")));
    PhaseOutcome outcome =
        RunPhase(round, attempt, "train", sites, [&](const std::string&, v1::Task& t) {
          auto* train = t.mutable_train();
          *train->mutable_global_model() = model_ref;
          *train->mutable_normalization() = NormalizationProto();
          train->set_evaluate_global_model(true);
        });
    if (Stopped()) return absl::CancelledError("stopped");

    RoundSum sum(dim);
    double loss_sum = 0;
    ml::BinaryMetrics test;
    test.positive_histogram.assign(plan_.histogram_bins, 0);
    test.negative_histogram.assign(plan_.histogram_bins, 0);
    for (auto it = outcome.results.begin(); it != outcome.results.end();) {
      const std::string site = it->first;
      const v1::TaskResult& result = it->second;
      ++it;
      std::string problem;
      if (!result.has_train()) {
        problem = "sent a result of the wrong kind";
      } else if (result.train().contribution().encoding() != v1::EncodedContribution::PLAIN) {
        problem = "sent an update in an unknown encoding";
      } else {
        const auto& c = result.train().contribution().plain();
        if (absl::Status m = study::ValidateMetrics(c.global_model_test_metrics(),
                                                     plan_.histogram_bins);
            !m.ok()) {
          problem = std::string(m.message());
        } else if (!std::isfinite(c.train_loss_sum()) || c.train_loss_sum() < 0) {
          problem = "training loss is not finite";
        } else if (absl::Status added = sum.Add(
                       {site,
                        Eigen::Map<const Eigen::VectorXd>(c.weighted_delta().data(),
                                                          c.weighted_delta_size()),
                        c.weight()});
                   !added.ok()) {
          problem = std::string(added.message());
        }
      }
      if (!problem.empty()) {
        Drop(outcome, site, problem, round);
        continue;
      }
      const auto& c = result.train().contribution().plain();
      loss_sum += c.train_loss_sum();
      if (c.global_model_test_metrics().n() > 0) {
        (void)ml::Merge(test, study::FromProto(c.global_model_test_metrics()));
      }
    }

    if (sum.count() < plan_.min_sites) {
      LogWarn({plan_.study_id, round, ""},
              absl::StrCat("only ", sum.count(), " of the required ", plan_.min_sites,
                           " sites reported; ",
                           attempt < plan_.max_round_retries ? "retrying the round"
                                                             : "no retries left"));
      continue;
    }
    ASSIGN_OR_RETURN(model_, strategy_->Apply(model_, sum));
    const double train_loss = loss_sum / sum.weight_sum();

    std::vector<std::string> reported;
    for (const auto& [site, r] : outcome.results) reported.push_back(site);
    nlohmann::json entry = {{"round", round},
                            {"sites", reported},
                            {"train_loss", train_loss},
                            {"test", nullptr}};
    if (!outcome.dropped.empty()) entry["dropped"] = outcome.dropped;
    if (attempt > 0) entry["attempts"] = attempt + 1;
    // Sites evaluated the model they received, i.e. the previous round's.
    if (round > 1 && !summary_["rounds"].empty()) {
      nlohmann::json& previous = summary_["rounds"].back();
      previous["test"] = study::MetricsJson(test);
      LogInfo({plan_.study_id, round - 1, ""},
              absl::StrFormat("round %d of %d: %d sites, train loss %.4f, pooled test "
                              "accuracy %.4f, AUC %s (n=%d)",
                              round - 1, plan_.rounds, previous["sites"].size(),
                              previous["train_loss"].get<double>(), ml::Accuracy(test),
                              FormatAuc(previous["test"]["auc"]), test.n));
    }
    summary_["rounds"].push_back(entry);
    env_.blobs->Erase(model_ref.sha256());
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "round ", round, ": fewer than min_sites (", plan_.min_sites, ") sites reported after ",
      plan_.max_round_retries + 1, " attempts"));
}

absl::Status StudyRunner::RunBaseline() {
  const std::string& site = plan_.baseline_site;
  const int dim = static_cast<int>(model_.size());
  Eigen::VectorXd local = Eigen::VectorXd::Zero(dim);
  LogInfo({plan_.study_id, -1, site},
          absl::StrCat("training the single-site baseline on ", site, " alone"));
  for (int r = 1; r <= plan_.rounds; ++r) {
    const v1::BlobRef ref = env_.blobs->Put(ModelBytes(local));
    const int round = plan_.rounds + r;
    PhaseOutcome outcome =
        RunPhase(round, 0, "baseline", {site}, [&](const std::string&, v1::Task& t) {
          auto* train = t.mutable_train();
          *train->mutable_global_model() = ref;
          *train->mutable_normalization() = NormalizationProto();
          train->set_evaluate_global_model(false);
        });
    env_.blobs->Erase(ref.sha256());
    if (Stopped()) return absl::CancelledError("stopped");
    auto it = outcome.results.find(site);
    if (it == outcome.results.end() || !it->second.has_train()) {
      return absl::UnavailableError(absl::StrCat("baseline site ", site,
                                                 " did not complete round ", r));
    }
    const auto& c = it->second.train().contribution().plain();
    RoundSum sum(dim);
    RETURN_IF_ERROR(sum.Add({site,
                             Eigen::Map<const Eigen::VectorXd>(c.weighted_delta().data(),
                                                               c.weighted_delta_size()),
                             c.weight()}));
    ASSIGN_OR_RETURN(local, strategy_->Apply(local, sum));
  }
  baseline_model_ = local;
  return absl::OkStatus();
}

absl::Status StudyRunner::RunFinalEvaluation() {
  const bool with_baseline = baseline_model_.size() == model_.size();
  std::vector<v1::BlobRef> refs = {env_.blobs->Put(ModelBytes(model_))};
  if (with_baseline) refs.push_back(env_.blobs->Put(ModelBytes(baseline_model_)));
  const int round = plan_.rounds + (with_baseline ? plan_.rounds : 0) + 1;
  PhaseOutcome outcome = RunPhase(round, 0, "evaluate", EligibleSites(),
                                  [&](const std::string&, v1::Task& t) {
                                    auto* ev = t.mutable_evaluate();
                                    for (const auto& r : refs) *ev->add_models() = r;
                                    *ev->mutable_normalization() = NormalizationProto();
                                  });
  for (const auto& r : refs) env_.blobs->Erase(r.sha256());
  if (Stopped()) return absl::CancelledError("stopped");

  std::vector<ml::BinaryMetrics> pooled(refs.size());
  for (auto& p : pooled) {
    p.positive_histogram.assign(plan_.histogram_bins, 0);
    p.negative_histogram.assign(plan_.histogram_bins, 0);
  }
  std::vector<nlohmann::json> per_site(refs.size(), nlohmann::json::object());
  for (auto it = outcome.results.begin(); it != outcome.results.end();) {
    const std::string site = it->first;
    const v1::TaskResult& result = it->second;
    ++it;
    std::string problem;
    if (!result.has_evaluate() ||
        result.evaluate().metrics_size() != static_cast<int>(refs.size())) {
      problem = "sent a malformed evaluation";
    } else {
      for (const auto& m : result.evaluate().metrics()) {
        if (absl::Status s = study::ValidateMetrics(m, plan_.histogram_bins); !s.ok()) {
          problem = std::string(s.message());
          break;
        }
      }
    }
    if (!problem.empty()) {
      Drop(outcome, site, problem, round);
      continue;
    }
    for (size_t i = 0; i < refs.size(); ++i) {
      ml::BinaryMetrics m = study::FromProto(result.evaluate().metrics(static_cast<int>(i)));
      per_site[i][site] = study::MetricsJson(m);
      if (m.n > 0) (void)ml::Merge(pooled[i], m);
    }
  }
  if (outcome.results.empty()) {
    return absl::UnavailableError("final evaluation: no site reported");
  }
  summary_["final"] = {{"pooled", study::MetricsJson(pooled[0])}, {"per_site", per_site[0]}};
  if (!outcome.dropped.empty()) summary_["final"]["dropped"] = outcome.dropped;
  if (!summary_["rounds"].empty()) summary_["rounds"].back()["test"] = study::MetricsJson(pooled[0]);
  if (with_baseline) {
    summary_["baseline"] = {{"site", plan_.baseline_site},
                            {"description", "trained on this site's data alone"},
                            {"pooled", study::MetricsJson(pooled[1])},
                            {"per_site", per_site[1]}};
  }
  const nlohmann::json& last = summary_["rounds"].back();
  LogInfo({plan_.study_id, plan_.rounds, ""},
          absl::StrFormat("round %d of %d: %d sites, train loss %.4f, pooled test accuracy "
                          "%.4f, AUC %s (n=%d)",
                          plan_.rounds, plan_.rounds, last["sites"].size(),
                          last["train_loss"].get<double>(), ml::Accuracy(pooled[0]),
                          FormatAuc(summary_["final"]["pooled"]["auc"]), pooled[0].n));
  return absl::OkStatus();
}

absl::Status StudyRunner::WriteSummary() {
  std::filesystem::create_directories(StudyDir());
  return crypto::WriteFileAtomically(StudyDir() + "/summary.json", summary_.dump(2) + "\n",
                                     0644);
}

absl::Status StudyRunner::WriteCheckpoint(int completed_round) {
  v1::StudyCheckpoint checkpoint;
  checkpoint.set_study_id(plan_.study_id);
  checkpoint.set_plan_sha256(plan_.sha256);
  checkpoint.set_completed_round(completed_round);
  checkpoint.mutable_model()->ParseFromString(ModelBytes(model_));
  checkpoint.mutable_norm_mean()->Add(norm_mean_.begin(), norm_mean_.end());
  checkpoint.mutable_norm_scale()->Add(norm_scale_.begin(), norm_scale_.end());
  checkpoint.mutable_norm_impute()->Add(norm_impute_.begin(), norm_impute_.end());
  checkpoint.set_summary_json(summary_.dump());
  std::filesystem::create_directories(StudyDir());
  RETURN_IF_ERROR(crypto::WriteFileAtomically(StudyDir() + "/checkpoint.pb",
                                              checkpoint.SerializeAsString(), 0644));
  return WriteSummary();
}

absl::Status StudyRunner::TryResume(int& next_round) {
  next_round = 0;
  const std::string path = StudyDir() + "/checkpoint.pb";
  if (!std::filesystem::exists(path)) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string bytes, crypto::ReadFile(path));
  v1::StudyCheckpoint checkpoint;
  if (!checkpoint.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat(path, ": checkpoint is corrupt"));
  }
  if (checkpoint.plan_sha256() != plan_.sha256) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": checkpoint belongs to a different version of plan '", plan_.study_id,
        "' (plan sha256 ", checkpoint.plan_sha256(), ", now ", plan_.sha256,
        "); move the old state away or give the new plan a new study_id"));
  }
  if (checkpoint.model().values_size() != model_.size()) {
    return absl::DataLossError(absl::StrCat(path, ": checkpoint model has the wrong size"));
  }
  model_ = Eigen::Map<const Eigen::VectorXd>(checkpoint.model().values().data(), model_.size());
  norm_mean_.assign(checkpoint.norm_mean().begin(), checkpoint.norm_mean().end());
  norm_scale_.assign(checkpoint.norm_scale().begin(), checkpoint.norm_scale().end());
  norm_impute_.assign(checkpoint.norm_impute().begin(), checkpoint.norm_impute().end());
  summary_ = nlohmann::json::parse(checkpoint.summary_json(), nullptr, false);
  if (summary_.is_discarded()) {
    return absl::DataLossError(absl::StrCat(path, ": checkpoint summary is corrupt"));
  }
  if (summary_.contains("refusals")) {
    absl::MutexLock lock(&mu_);
    for (const auto& [site, reason] : summary_["refusals"].items()) excluded_.insert(site);
  }
  next_round = checkpoint.completed_round() + 1;
  LogInfo({plan_.study_id, checkpoint.completed_round(), ""},
          absl::StrCat("resuming from checkpoint after round ", checkpoint.completed_round()));
  return absl::OkStatus();
}

absl::Status StudyRunner::Run() {
  const util::LogContext ctx{plan_.study_id, -1, ""};
  {
    auto existing = crypto::ReadFile(StudyDir() + "/summary.json");
    if (existing.ok()) {
      auto j = nlohmann::json::parse(*existing, nullptr, false);
      if (!j.is_discarded() && j.value("status", "") == "completed" &&
          j.value("plan_sha256", "") == plan_.sha256) {
        LogInfo(ctx, "study already completed; nothing to do");
        summary_ = j;
        return absl::OkStatus();
      }
    }
  }
  int next_round = 0;
  if (absl::Status s = TryResume(next_round); !s.ok()) {
    // The state on disk belongs to another run of this study: leave it as it is.
    util::LogError(ctx, absl::StrCat("cannot start the study: ", s.message()));
    return s;
  }

  LogInfo(ctx, absl::StrCat("study submitted (plan sha256 ", plan_.sha256, "); waiting for ",
                            plan_.min_sites, " of ", plan_.sites.size(), " sites"));
  RETURN_IF_ERROR(WriteSummary());
  auto joined_at_least = [&](int needed) {
    return [&, needed](const std::set<std::string>& sites) {
      int n = 0;
      for (const auto& s : plan_.sites) n += sites.contains(s) ? 1 : 0;
      return n >= needed;
    };
  };
  const bool joined = env_.registry->AwaitJoined(joined_at_least(plan_.min_sites),
                                                 env_.clock->Now() + plan_.join_timeout);
  if (joined && !env_.registry->AwaitJoined(joined_at_least(static_cast<int>(plan_.sites.size())),
                                            env_.clock->Now() + plan_.start_grace)) {
    LogInfo(ctx, absl::StrCat("starting without the sites that have not joined within ",
                              absl::FormatDuration(plan_.start_grace)));
  }
  if (Stopped()) return absl::CancelledError("stopped");
  if (!joined) {
    return Fail(absl::DeadlineExceededError(
        absl::StrCat("fewer than min_sites (", plan_.min_sites, ") sites joined within ",
                     absl::FormatDuration(plan_.join_timeout))));
  }
  summary_["status"] = "running";

  if (next_round == 0) {
    if (absl::Status s = RunStatistics(); !s.ok()) return Fail(s);
    if (absl::Status s = WriteCheckpoint(0); !s.ok()) return Fail(s);
    next_round = 1;
  }
  for (int round = next_round; round <= plan_.rounds; ++round) {
    if (absl::Status s = RunTrainingRound(round); !s.ok()) return Fail(s);
    if (absl::Status s = WriteCheckpoint(round); !s.ok()) return Fail(s);
  }
  if (!plan_.baseline_site.empty()) {
    if (absl::Status s = RunBaseline(); !s.ok()) {
      if (Stopped()) return s;
      LogWarn(ctx, absl::StrCat("baseline skipped: ", s.message()));
    }
  }
  if (absl::Status s = RunFinalEvaluation(); !s.ok()) return Fail(s);

  summary_["status"] = "completed";
  const std::string model_bytes = ModelBytes(model_);
  v1::ModelParameters final_model;
  final_model.ParseFromString(model_bytes);
  nlohmann::json model_json = {{"kind", plan_.model_kind},
                               {"features", feature_names_},
                               {"weights", std::vector<double>(model_.data(), model_.data() + model_.size() - 1)},
                               {"bias", model_(model_.size() - 1)},
                               {"normalization",
                                {{"mean", norm_mean_},
                                 {"scale", norm_scale_},
                                 {"impute", norm_impute_}}}};
  if (absl::Status s = crypto::WriteFileAtomically(StudyDir() + "/model.pb", model_bytes, 0644);
      !s.ok()) {
    return Fail(s);
  }
  if (absl::Status s = crypto::WriteFileAtomically(StudyDir() + "/model.json",
                                                   model_json.dump(2) + "\n", 0644);
      !s.ok()) {
    return Fail(s);
  }
  if (absl::Status s = WriteCheckpoint(plan_.rounds); !s.ok()) return Fail(s);
  LogInfo(ctx, absl::StrCat("study completed; summary at ", StudyDir(), "/summary.json"));
  return absl::OkStatus();
}

}  // namespace cohort::coordinator
