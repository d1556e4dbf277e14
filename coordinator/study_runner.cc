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
#include "common/study/secure_codec.h"
#include "common/privacy/accountant.h"
#include "common/study/dp_plan.h"
#include "common/study/private_release.h"
#include "crypto/random.h"
#include "crypto/secagg/server.h"
#include "crypto/files.h"
#include "crypto/sha256.h"

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
              {"secure_aggregation",
               {{"enabled", plan_.secure_aggregation.enabled},
                {"threshold", plan_.secure_aggregation.threshold},
                {"degree", plan_.secure_aggregation.degree},
                {"bits", plan_.secure_aggregation.bits},
                {"rounds", nlohmann::json::array()}}},
              {"status", "waiting_for_sites"},
              {"plan_sha256", plan_.sha256},
              {"sites", plan_.sites},
              {"min_sites", plan_.min_sites},
              {"features", feature_names_},
              {"rounds", nlohmann::json::array()}};
  summary_["privacy"] = {{"mode", std::string(study::PrivacyModeName(plan_.privacy.mode))},
                         {"per_site", nlohmann::json::object()}};
  if (plan_.privacy.on()) {
    summary_["privacy"]["delta"] = plan_.privacy.delta;
    if (auto events = study::PlanEvents(plan_); events.ok()) {
      if (auto bound = privacy::Epsilon(*events, plan_.privacy.delta); bound.ok()) {
        // What the whole plan costs a site that takes part in everything.
        summary_["privacy"]["planned_epsilon"] = bound->epsilon;
      }
    }
  }
  if (plan_.privacy.mode == study::StudyPlan::Privacy::Mode::kDistributed) {
    if (auto optimizer = ml::MakeOptimizer(plan_.training.optimizer); optimizer.ok()) {
      server_optimizer_ = *std::move(optimizer);
    }
  }
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
  if (result.has_audit_anchor()) {
    // The site's log head as it sent this result: anchors the site's log in
    // the coordinator's (docs/audit-log.md#cross-anchoring).
    RETURN_IF_ERROR(Audit("site_anchor", {{"study", plan_.study_id},
                                          {"site", site},
                                          {"task_id", result.task_id()},
                                          {"seq", result.audit_anchor().seq()},
                                          {"head", result.audit_anchor().head()}}));
  }
  completed_tasks_.insert(result.task_id());
  env_.registry->Acknowledge(site, result.task_id());
  received_[site] = std::move(result);
  return absl::OkStatus();
}

absl::Status StudyRunner::Audit(absl::string_view type, nlohmann::json body) {
  if (env_.audit == nullptr) return absl::OkStatus();
  auto entry = env_.audit->Append(type, std::move(body));
  if (!entry.ok()) {
    util::LogError({plan_.study_id, -1, ""},
                   absl::StrCat("audit log: ", entry.status().message()));
  }
  return entry.status();
}

absl::Status StudyRunner::ReleaseRound(int round, const std::vector<std::string>& sites,
                                       const std::string& aggregate_sha256) {
  const std::string model_sha256 = crypto::Sha256Hex(ModelBytes(model_));
  RETURN_IF_ERROR(Audit("aggregate_released", {{"study", plan_.study_id},
                                               {"round", round},
                                               {"kind", "train"},
                                               {"sites", sites},
                                               {"aggregate_sha256", aggregate_sha256},
                                               {"model_sha256", model_sha256}}));
  return SendReceipts(round, sites, aggregate_sha256, model_sha256);
}

absl::Status StudyRunner::SendReceipts(int round, const std::vector<std::string>& sites,
                                       const std::string& aggregate_sha256,
                                       const std::string& model_sha256) {
  if (env_.audit == nullptr || env_.signer == nullptr || sites.empty()) {
    return absl::OkStatus();
  }
  std::map<std::string, v1::ReceiptTask> receipts;
  for (const std::string& site : sites) {
    // Each receipt commits to the log as it stands just before its own
    // receipt_sent entry; the log builds that entry under its lock.
    absl::Status signed_ok;
    auto entry = env_.audit->AppendCommitting(
        "receipt_sent", [&](int64_t seq, const std::string& head) {
          nlohmann::json body = {{"study", plan_.study_id},
                                 {"site", site},
                                 {"round", round},
                                 {"participants", sites},
                                 {"aggregate_sha256", aggregate_sha256},
                                 {"model_sha256", model_sha256},
                                 {"coordinator_seq", seq},
                                 {"coordinator_head", head}};
          absl::StatusOr<std::string> signature = env_.signer->Sign(body.dump());
          signed_ok = signature.status();
          v1::ReceiptTask& r = receipts[site];
          r.Clear();
          r.set_round(round);
          for (const std::string& p : sites) r.add_participants(p);
          r.set_aggregate_sha256(aggregate_sha256);
          r.set_model_sha256(model_sha256);
          r.set_coordinator_seq(seq);
          r.set_coordinator_head(head);
          r.set_coordinator_cert_pem(env_.cert_pem);
          if (signature.ok()) r.set_signature(*signature);
          return body;
        });
    RETURN_IF_ERROR(signed_ok);
    RETURN_IF_ERROR(entry.status());
  }
  PhaseOutcome outcome = RunPhase(round, 0, "receipt", sites,
                                  [&](const std::string& site, v1::Task& t) {
                                    *t.mutable_receipt() = receipts[site];
                                  });
  for (const auto& [site, reason] : outcome.dropped) {
    LogWarn({plan_.study_id, round, site}, absl::StrCat("receipt not acknowledged: ", reason));
  }
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

  // What each site's own ledger reports after a DP release.
  for (const auto& [site, result] : outcome.results) {
    if (!result.has_privacy_spend()) continue;
    const v1::PrivacySpend& spend = result.privacy_spend();
    summary_["privacy"]["per_site"][site] = {{"epsilon", spend.epsilon()},
                                             {"delta", spend.delta()},
                                             {"ceiling", spend.ceiling_epsilon()},
                                             {"accountant", spend.accountant()}};
  }
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
      (void)Audit("site_refused", {{"study", plan_.study_id}, {"site", site}, {"reason", reason}});
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
  (void)Audit("study_finished", {{"study", plan_.study_id},
                                 {"status", "failed"},
                                 {"error", std::string(reason.message())}});
  summary_["error"] = std::string(reason.message());
  util::LogError({plan_.study_id, -1, ""}, absl::StrCat("study failed: ", reason.message()));
  (void)WriteSummary();
  return reason;
}

namespace {

// Adds `s` into `total` (same shape, checked by the caller).
void AddStatistics(v1::StatisticsResult& total, const v1::StatisticsResult& s) {
  if (total.count_size() == 0) {
    total = s;
    return;
  }
  for (int j = 0; j < s.count_size(); ++j) {
    total.set_count(j, total.count(j) + s.count(j));
    total.set_sum(j, total.sum(j) + s.sum(j));
    total.set_sum_squares(j, total.sum_squares(j) + s.sum_squares(j));
  }
  total.set_num_train(total.num_train() + s.num_train());
  total.set_num_test(total.num_test() + s.num_test());
}

// `noisy`: DP statistics, whose counts may be anything near the truth; they
// are sanitized on the total.
std::string CheckStatistics(const v1::StatisticsResult& s, int expected, bool noisy = false) {
  if (s.count_size() != expected || s.sum_size() != expected ||
      s.sum_squares_size() != expected) {
    return absl::StrCat("statistics have ", s.count_size(), " features, the plan has ", expected);
  }
  if (!AllFinite(s.count()) || !AllFinite(s.sum()) || !AllFinite(s.sum_squares())) {
    return "statistics contain NaN or Inf";
  }
  if (noisy) return "";
  for (double c : s.count()) {
    if (c < 0) return "statistics contain a negative count";
  }
  if (s.num_train() <= 0) return "has no training rows";
  return "";
}

// What a site (or the secure sum of several) contributes to a round, checked.
std::string CheckContribution(const v1::RoundContribution& c, int bins) {
  if (absl::Status m = study::ValidateMetrics(c.global_model_test_metrics(), bins); !m.ok()) {
    return std::string(m.message());
  }
  if (!std::isfinite(c.train_loss_sum()) || c.train_loss_sum() < 0) {
    return "training loss is not finite";
  }
  return "";
}

std::vector<std::string> SortedSites(std::vector<std::string> sites) {
  std::sort(sites.begin(), sites.end());
  return sites;
}

}  // namespace

absl::StatusOr<StudyRunner::SecureOutcome> StudyRunner::RunSecureRound(
    int round, int attempt, const std::vector<std::string>& sites, int bits,
    int64_t vector_length, const std::function<void(v1::SecureAggregationTask&)>& set_input) {
  const auto& sa = plan_.secure_aggregation;
  SecureOutcome result;
  result.attempt = attempt;
  v1::SecAggContext context;
  context.set_study_id(plan_.study_id);
  context.set_round(round);
  context.set_attempt(attempt);
  for (const std::string& site : SortedSites(sites)) context.add_participants(site);
  const int n = context.participants_size();
  if (n < sa.threshold) {
    return absl::UnavailableError(absl::StrCat(
        n, " sites can take part, fewer than the secure-aggregation threshold ", sa.threshold));
  }
  context.set_threshold(sa.threshold);
  context.set_degree(std::min(sa.degree, n - 1));
  context.set_bits(bits);
  context.set_vector_length(vector_length);
  crypto::OpenSslPrng prng;
  ASSIGN_OR_RETURN(crypto::SecretData seed, prng.RandomSecret(32));
  context.set_graph_seed(std::string(seed.view()));
  if (certificates_ == nullptr) {
    ASSIGN_OR_RETURN(certificates_, crypto::CertificateVerifier::New(env_.ca_pem));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<secagg::SecAggServer> server,
                   secagg::SecAggServer::Create(context, certificates_, *env_.clock));

  // Feeds one phase's results to the protocol; a site that sent nothing
  // usable is dropped here, the protocol drops the rest with its reason.
  auto handle = [&](PhaseOutcome& outcome) {
    for (auto& [site, reason] : outcome.dropped) result.dropped[site] = reason;
    for (auto& [site, r] : outcome.results) {
      if (!r.has_secure()) {
        result.dropped[site] = "sent a result of the wrong kind";
      } else if (!r.secure().declined().empty()) {
        result.dropped[site] = absl::StrCat("declined: ", r.secure().declined());
        LogWarn({plan_.study_id, round, site}, result.dropped[site]);
      } else if (absl::Status s =
                     server->Handle(site, std::move(*r.mutable_secure()->mutable_response()));
                 !s.ok()) {
        result.dropped[site] = std::string(s.message());
        LogWarn({plan_.study_id, round, site},
                absl::StrCat("secure aggregation dropped the site: ", s.message()));
      }
    }
  };
  auto phase_task = [&](v1::SecAggPhase phase,
                        const absl::btree_map<std::string, v1::SecAggRequest>* requests) {
    return [&, phase, requests](const std::string& site, v1::Task& t) {
      v1::SecureAggregationTask* secure = t.mutable_secure();
      *secure->mutable_context() = context;
      secure->set_phase(phase);
      if (requests != nullptr) *secure->mutable_request() = requests->at(site);
      if (phase == v1::PHASE_MASKED_INPUT) set_input(*secure);
    };
  };
  auto keys_of = [](const absl::btree_map<std::string, v1::SecAggRequest>& requests) {
    std::vector<std::string> keys;
    for (const auto& [site, r] : requests) keys.push_back(site);
    return keys;
  };

  PhaseOutcome keys = RunPhase(round, attempt, "keys", sites,
                               phase_task(v1::PHASE_ADVERTISE_KEYS, nullptr));
  handle(keys);
  const struct {
    v1::SecAggPhase phase;
    const char* kind;
  } later[] = {{v1::PHASE_SHARE_KEYS, "shares"},
               {v1::PHASE_MASKED_INPUT, round == 0 ? "statistics" : "train"},
               {v1::PHASE_UNMASK, "unmask"}};
  for (const auto& step : later) {
    if (Stopped()) return absl::CancelledError("stopped");
    auto requests = server->StartNextPhase();
    if (!requests.ok()) {
      return absl::UnavailableError(absl::StrCat("secure aggregation aborted before ",
                                                 v1::SecAggPhase_Name(step.phase), ": ",
                                                 requests.status().message()));
    }
    // A sum over fewer than min_sites would not be used and the round would
    // be retried: two sums over different sets of sites would reveal their
    // difference. So the round stops before anything is unmasked.
    if (step.phase == v1::PHASE_UNMASK &&
        static_cast<int>(requests->size()) < plan_.min_sites) {
      return absl::UnavailableError(absl::StrCat(
          "only ", requests->size(), " sites sent masked input, fewer than min_sites (",
          plan_.min_sites, "); stopped before unmasking, nothing was revealed"));
    }
    PhaseOutcome outcome =
        RunPhase(round, attempt, step.kind, keys_of(*requests), phase_task(step.phase, &*requests));
    handle(outcome);
  }
  auto sum = server->Finish();
  if (!sum.ok()) {
    return absl::UnavailableError(
        absl::StrCat("secure aggregation aborted: ", sum.status().message()));
  }
  result.sum = *std::move(sum);
  result.survivors = server->survivors();
  for (const auto& [site, info] : server->dropped()) {
    if (!result.dropped.contains(site)) result.dropped[site] = info.message;
  }
  for (const std::string& site : result.survivors) result.dropped.erase(site);
  return result;
}

absl::StatusOr<StudyRunner::Collected<v1::StatisticsResult>> StudyRunner::CollectStatistics(
    int attempt) {
  const int expected = static_cast<int>(feature_names_.size());
  const std::vector<std::string> sites = EligibleSites();
  RETURN_IF_ERROR(Audit("round_started", {{"study", plan_.study_id},
                                          {"round", 0},
                                          {"attempt", attempt},
                                          {"kind", "statistics"},
                                          {"participants", sites}}));
  Collected<v1::StatisticsResult> out;
  const bool noisy = plan_.privacy.on();
  if (plan_.privacy.mode == study::StudyPlan::Privacy::Mode::kDistributed) {
    ASSIGN_OR_RETURN(privacy::DistributedSumEncoder encoder,
                     study::DistributedEncoder(plan_, study::ReleaseKind::kStatistics, expected, 0));
    ASSIGN_OR_RETURN(SecureOutcome secure,
                     RunSecureRound(0, attempt, sites, study::kStatisticsBits,
                                    encoder.padded_dim(),
                                    [](v1::SecureAggregationTask& t) { t.mutable_statistics(); }));
    ASSIGN_OR_RETURN(Eigen::VectorXd sum,
                     DecodeDistributed(encoder, secure.sum, study::kStatisticsBits));
    ASSIGN_OR_RETURN(study::StatisticsLayout layout, study::StatisticsLayout::Create(plan_.schema));
    out.total = layout.Decode(sum);
    if (std::string problem = CheckStatistics(out.total, expected, noisy); !problem.empty()) {
      return absl::DataLossError(absl::StrCat("secure sum of statistics: ", problem));
    }
    out.sites = secure.survivors;
    out.dropped = secure.dropped;
    RecordSecureRound(0, secure);
    return out;
  }
  if (plan_.secure_aggregation.enabled) {
    ASSIGN_OR_RETURN(study::StatisticsCodec codec,
                     study::StatisticsCodec::Create(expected, static_cast<int>(sites.size())));
    ASSIGN_OR_RETURN(SecureOutcome secure,
                     RunSecureRound(0, attempt, sites, codec.bits(), codec.length(),
                                    [](v1::SecureAggregationTask& t) { t.mutable_statistics(); }));
    ASSIGN_OR_RETURN(out.total,
                     codec.Decode(secure.sum, static_cast<int>(secure.survivors.size())));
    if (std::string problem = CheckStatistics(out.total, expected, noisy); !problem.empty()) {
      return absl::DataLossError(absl::StrCat("secure sum of statistics: ", problem));
    }
    out.sites = secure.survivors;
    out.dropped = secure.dropped;
    RecordSecureRound(0, secure);
    return out;
  }
  PhaseOutcome outcome = RunPhase(0, attempt, "statistics", sites,
                                  [](const std::string&, v1::Task& t) { t.mutable_statistics(); });
  for (auto& [site, result] : outcome.results) {
    std::string problem = result.has_statistics()
                              ? CheckStatistics(result.statistics(), expected, noisy)
                              : "sent a result of the wrong kind";
    if (!problem.empty()) {
      outcome.dropped[site] = problem;
      LogWarn({plan_.study_id, 0, site}, absl::StrCat("site dropped from round: ", problem));
      continue;
    }
    AddStatistics(out.total, result.statistics());
    out.sites.push_back(site);
  }
  out.dropped = outcome.dropped;
  return out;
}

absl::Status StudyRunner::RunStatistics() {
  for (int attempt = 0; attempt <= plan_.max_round_retries; ++attempt) {
    auto collected = CollectStatistics(attempt);
    if (Stopped()) return absl::CancelledError("stopped");
    const std::string retry = attempt < plan_.max_round_retries ? "retrying" : "no retries left";
    if (!collected.ok()) {
      LogWarn({plan_.study_id, 0, ""},
              absl::StrCat("preprocessing: ", collected.status().message(), "; ", retry));
      continue;
    }
    if (static_cast<int>(collected->sites.size()) < plan_.min_sites) {
      LogWarn({plan_.study_id, 0, ""},
              absl::StrCat("preprocessing: only ", collected->sites.size(), " of the required ",
                           plan_.min_sites, " sites reported; ", retry));
      continue;
    }
    if (plan_.privacy.on()) {
      ASSIGN_OR_RETURN(study::StatisticsLayout layout,
                       study::StatisticsLayout::Create(plan_.schema));
      layout.Sanitize(collected->total);
      dp_records_per_site_ = static_cast<double>(collected->total.num_train()) /
                             static_cast<double>(collected->sites.size());
      summary_["privacy"]["records_per_site"] = dp_records_per_site_;
    }
    const v1::StatisticsResult& s = collected->total;
    const std::string aggregate_sha256 = crypto::Sha256Hex(s.SerializeAsString());
    RETURN_IF_ERROR(Audit("aggregate_released", {{"study", plan_.study_id},
                                                 {"round", 0},
                                                 {"kind", "statistics"},
                                                 {"sites", collected->sites},
                                                 {"aggregate_sha256", aggregate_sha256}}));
    data::FeatureStatistics total;
    total.count.assign(s.count().begin(), s.count().end());
    total.sum.assign(s.sum().begin(), s.sum().end());
    total.sum_squares.assign(s.sum_squares().begin(), s.sum_squares().end());
    ASSIGN_OR_RETURN(data::Standardizer standardizer,
                     data::StandardizerFromGlobalStatistics(total, plan_.schema.standardize));
    norm_mean_ = standardizer.mean;
    norm_scale_ = standardizer.scale;
    norm_impute_ = standardizer.impute_value;
    summary_["preprocessing"] = {{"sites", collected->sites},
                                 {"num_train", s.num_train()},
                                 {"num_test", s.num_test()},
                                 {"mean", norm_mean_},
                                 {"scale", norm_scale_}};
    LogInfo({plan_.study_id, 0, ""},
            absl::StrCat("preprocessing done: ", collected->sites.size(), " sites, ",
                         s.num_train(), " training rows, ", s.num_test(), " test rows"));
    RETURN_IF_ERROR(SendReceipts(0, collected->sites, aggregate_sha256,
                                 crypto::Sha256Hex(NormalizationProto().SerializeAsString())));
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "preprocessing: fewer than min_sites (", plan_.min_sites, ") sites reported after ",
      plan_.max_round_retries + 1, " attempts"));
}

absl::StatusOr<StudyRunner::Collected<v1::RoundContribution>> StudyRunner::CollectTraining(
    int round, int attempt, const v1::BlobRef& model_ref) {
  const int dim = static_cast<int>(model_.size());
  const std::vector<std::string> sites = EligibleSites();
  LogInfo({plan_.study_id, round, ""},
          absl::StrCat("round started with ", sites.size(), " sites: ", absl::StrJoin(sites, ", ")));
  RETURN_IF_ERROR(Audit("round_started", {{"study", plan_.study_id},
                                          {"round", round},
                                          {"attempt", attempt},
                                          {"kind", "train"},
                                          {"participants", sites}}));
  auto fill_train = [&](v1::TrainTask* train) {
    *train->mutable_global_model() = model_ref;
    *train->mutable_normalization() = NormalizationProto();
    // Under DP a per-round evaluation would be one more charged release.
    train->set_evaluate_global_model(!plan_.privacy.on());
    if (plan_.privacy.on()) train->set_dp_records_per_site(dp_records_per_site_);
  };
  Collected<v1::RoundContribution> out;
  if (plan_.privacy.mode == study::StudyPlan::Privacy::Mode::kDistributed) {
    ASSIGN_OR_RETURN(privacy::DistributedSumEncoder encoder,
                     study::DistributedEncoder(plan_, study::ReleaseKind::kTrain, dim - 1, round));
    ASSIGN_OR_RETURN(SecureOutcome secure,
                     RunSecureRound(round, attempt, sites, plan_.secure_aggregation.bits,
                                    encoder.padded_dim(), [&](v1::SecureAggregationTask& t) {
                                      fill_train(t.mutable_train());
                                    }));
    ASSIGN_OR_RETURN(out.gradient_sum,
                     DecodeDistributed(encoder, secure.sum, plan_.secure_aggregation.bits));
    out.sites = secure.survivors;
    out.dropped = secure.dropped;
    RecordSecureRound(round, secure);
    return out;
  }
  if (plan_.secure_aggregation.enabled) {
    ASSIGN_OR_RETURN(study::TrainingCodec codec,
                     study::TrainingCodec::Create(dim, plan_.histogram_bins,
                                                  plan_.secure_aggregation.bits,
                                                  plan_.secure_aggregation.clip,
                                                  static_cast<int>(sites.size())));
    ASSIGN_OR_RETURN(SecureOutcome secure,
                     RunSecureRound(round, attempt, sites, codec.bits(), codec.length(),
                                    [&](v1::SecureAggregationTask& t) {
                                      fill_train(t.mutable_train());
                                    }));
    ASSIGN_OR_RETURN(out.total,
                     codec.Decode(secure.sum, static_cast<int>(secure.survivors.size())));
    if (std::string problem = CheckContribution(out.total, plan_.histogram_bins);
        !problem.empty()) {
      return absl::DataLossError(absl::StrCat("secure sum: ", problem));
    }
    out.sites = secure.survivors;
    out.dropped = secure.dropped;
    RecordSecureRound(round, secure);
    return out;
  }
  PhaseOutcome outcome = RunPhase(round, attempt, "train", sites,
                                  [&](const std::string&, v1::Task& t) {
                                    fill_train(t.mutable_train());
                                  });
  RoundSum sum(dim);
  double loss_sum = 0;
  ml::BinaryMetrics test;
  test.positive_histogram.assign(plan_.histogram_bins, 0);
  test.negative_histogram.assign(plan_.histogram_bins, 0);
  for (auto& [site, result] : outcome.results) {
    std::string problem;
    if (!result.has_train()) {
      problem = "sent a result of the wrong kind";
    } else if (result.train().contribution().encoding() != v1::EncodedContribution::PLAIN) {
      problem = "sent an update in an unknown encoding";
    } else {
      const auto& c = result.train().contribution().plain();
      problem = CheckContribution(c, plan_.histogram_bins);
      if (problem.empty()) {
        absl::Status added = sum.Add(
            {site,
             Eigen::Map<const Eigen::VectorXd>(c.weighted_delta().data(), c.weighted_delta_size()),
             c.weight()});
        if (!added.ok()) problem = std::string(added.message());
      }
    }
    if (!problem.empty()) {
      outcome.dropped[site] = problem;
      LogWarn({plan_.study_id, round, site}, absl::StrCat("site dropped from round: ", problem));
      continue;
    }
    const auto& c = result.train().contribution().plain();
    loss_sum += c.train_loss_sum();
    if (c.global_model_test_metrics().n() > 0) {
      (void)ml::Merge(test, study::FromProto(c.global_model_test_metrics()));
    }
    out.sites.push_back(site);
  }
  out.total.mutable_weighted_delta()->Add(sum.weighted_delta_sum().data(),
                                          sum.weighted_delta_sum().data() + dim);
  out.total.set_weight(sum.weight_sum());
  out.total.set_train_loss_sum(loss_sum);
  *out.total.mutable_global_model_test_metrics() = study::ToProto(test);
  out.dropped = outcome.dropped;
  return out;
}

void StudyRunner::RecordSecureRound(int round, const SecureOutcome& secure) {
  nlohmann::json entry = {{"round", round},
                          {"attempt", secure.attempt},
                          {"survivors", secure.survivors}};
  entry["dropouts"] = nlohmann::json::object();
  for (const auto& [site, reason] : secure.dropped) entry["dropouts"][site] = reason;
  summary_["secure_aggregation"]["rounds"].push_back(entry);
  (void)Audit("secure_aggregation", {{"study", plan_.study_id},
                                     {"round", round},
                                     {"attempt", secure.attempt},
                                     {"survivors", secure.survivors},
                                     {"dropouts", entry["dropouts"]}});
}

absl::Status StudyRunner::RunTrainingRound(int round) {
  const int dim = static_cast<int>(model_.size());
  const v1::BlobRef model_ref = env_.blobs->Put(ModelBytes(model_));
  for (int attempt = 0; attempt <= plan_.max_round_retries; ++attempt) {
    auto collected = CollectTraining(round, attempt, model_ref);
    if (Stopped()) return absl::CancelledError("stopped");
    const std::string retry =
        attempt < plan_.max_round_retries ? "retrying the round" : "no retries left";
    if (!collected.ok()) {
      LogWarn({plan_.study_id, round, ""}, absl::StrCat(collected.status().message(), "; ", retry));
      continue;
    }
    if (static_cast<int>(collected->sites.size()) < plan_.min_sites) {
      LogWarn({plan_.study_id, round, ""},
              absl::StrCat("only ", collected->sites.size(), " of the required ",
                           plan_.min_sites, " sites reported; ", retry));
      continue;
    }
    const std::string aggregate_sha256 =
        collected->gradient_sum.size() > 0
            ? crypto::Sha256Hex(absl::string_view(
                  reinterpret_cast<const char*>(collected->gradient_sum.data()),
                  sizeof(double) * collected->gradient_sum.size()))
            : crypto::Sha256Hex(collected->total.SerializeAsString());
    if (plan_.privacy.on()) {
      RETURN_IF_ERROR(ApplyPrivateRound(round, *collected));
      RETURN_IF_ERROR(ReleaseRound(round, collected->sites, aggregate_sha256));
      nlohmann::json entry = {{"round", round}, {"sites", collected->sites}};
      if (!collected->dropped.empty()) entry["dropped"] = collected->dropped;
      if (attempt > 0) entry["attempts"] = attempt + 1;
      summary_["rounds"].push_back(entry);
      LogInfo({plan_.study_id, round, ""},
              absl::StrFormat("round %d of %d: %d sites (differential privacy: no per-round "
                              "metrics are released)",
                              round, plan_.rounds, collected->sites.size()));
      env_.blobs->Erase(model_ref.sha256());
      return absl::OkStatus();
    }
    const v1::RoundContribution& total = collected->total;
    RoundSum sum(dim);
    RETURN_IF_ERROR(sum.Add({"round total",
                             Eigen::Map<const Eigen::VectorXd>(total.weighted_delta().data(),
                                                               total.weighted_delta_size()),
                             total.weight()}));
    ASSIGN_OR_RETURN(model_, strategy_->Apply(model_, sum));
    const double train_loss = total.train_loss_sum() / total.weight();
    ml::BinaryMetrics test = study::FromProto(total.global_model_test_metrics());

    nlohmann::json entry = {{"round", round},
                            {"sites", collected->sites},
                            {"train_loss", train_loss},
                            {"test", nullptr}};
    if (!collected->dropped.empty()) entry["dropped"] = collected->dropped;
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
    RETURN_IF_ERROR(ReleaseRound(round, collected->sites, aggregate_sha256));
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "round ", round, ": fewer than min_sites (", plan_.min_sites, ") sites reported after ",
      plan_.max_round_retries + 1, " attempts"));
}

absl::StatusOr<Eigen::VectorXd> StudyRunner::DecodeDistributed(
    const privacy::DistributedSumEncoder& encoder, const std::vector<uint64_t>& sum, int bits) {
  // The secure sum is mod 2^bits; the sites' noisy sums are signed.
  std::vector<int64_t> centered(sum.size());
  const uint64_t half = uint64_t{1} << (bits - 1);
  const uint64_t modulus_mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  for (size_t i = 0; i < sum.size(); ++i) {
    const uint64_t v = sum[i] & modulus_mask;
    centered[i] = v >= half ? static_cast<int64_t>(v) - static_cast<int64_t>(half) * 2
                            : static_cast<int64_t>(v);
  }
  return encoder.DecodeSum(centered);
}

absl::Status StudyRunner::ApplyPrivateRound(int round,
                                            const Collected<v1::RoundContribution>& collected) {
  const int dim = static_cast<int>(model_.size());
  if (plan_.privacy.mode == study::StudyPlan::Privacy::Mode::kDistributed) {
    // One step of federated DP-SGD: the noisy sum of the sampled records'
    // clipped gradients over the expected number of sampled records.
    const double expected_batch = plan_.privacy.sampling_rate * dp_records_per_site_ *
                                  static_cast<double>(collected.sites.size());
    if (server_optimizer_ == nullptr) {
      return absl::FailedPreconditionError("the plan's optimizer cannot be built");
    }
    if (!(expected_batch > 0) || collected.gradient_sum.size() != dim) {
      return absl::InternalError(absl::StrCat("round ", round, ": no usable gradient sum"));
    }
    Eigen::VectorXd gradient = collected.gradient_sum / expected_batch;
    gradient.head(dim - 1) += plan_.l2 * model_.head(dim - 1);
    server_optimizer_->Step(model_, gradient);
  } else {
    // Local DP: each site sent its noisy model delta with weight 1.
    const v1::RoundContribution& total = collected.total;
    RoundSum sum(dim);
    RETURN_IF_ERROR(sum.Add({"round total",
                             Eigen::Map<const Eigen::VectorXd>(total.weighted_delta().data(),
                                                               total.weighted_delta_size()),
                             total.weight()}));
    ASSIGN_OR_RETURN(model_, strategy_->Apply(model_, sum));
  }
  if (!model_.allFinite()) {
    return absl::InternalError(absl::StrCat("round ", round, ": the model is no longer finite"));
  }
  return absl::OkStatus();
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

  const int bins = plan_.privacy.on() ? plan_.privacy.evaluation_bins : plan_.histogram_bins;
  std::vector<ml::BinaryMetrics> pooled(refs.size());
  for (auto& p : pooled) {
    p.positive_histogram.assign(bins, 0);
    p.negative_histogram.assign(bins, 0);
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
        if (absl::Status s = study::ValidateMetrics(m, bins); !s.ok()) {
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
  if (!summary_["rounds"].empty() && !plan_.privacy.on()) {
    summary_["rounds"].back()["test"] = study::MetricsJson(pooled[0]);
  }
  if (with_baseline) {
    summary_["baseline"] = {{"site", plan_.baseline_site},
                            {"description", "trained on this site's data alone"},
                            {"pooled", study::MetricsJson(pooled[1])},
                            {"per_site", per_site[1]}};
  }
  if (plan_.privacy.on()) {
    summary_["final"]["note"] =
        "released under differential privacy: every site's metrics carry noise";
    LogInfo({plan_.study_id, plan_.rounds, ""},
            absl::StrFormat("final evaluation (noisy, differentially private): pooled accuracy "
                            "%.4f, AUC %s (n~%d)",
                            ml::Accuracy(pooled[0]), FormatAuc(summary_["final"]["pooled"]["auc"]),
                            pooled[0].n));
    return absl::OkStatus();
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
  // The DP record count came from the statistics; they are not run again.
  if (plan_.privacy.on()) {
    const nlohmann::json& p = summary_.value("privacy", nlohmann::json::object());
    if (!p.contains("records_per_site") || !p["records_per_site"].is_number()) {
      return absl::DataLossError(absl::StrCat(path, ": checkpoint lacks the DP record count"));
    }
    dp_records_per_site_ = p["records_per_site"].get<double>();
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

  {
    nlohmann::json submitted = {{"study", plan_.study_id},
                                {"plan_sha256", plan_.sha256},
                                {"sites", plan_.sites},
                                {"min_sites", plan_.min_sites},
                                {"rounds", plan_.rounds},
                                {"secure_aggregation", plan_.secure_aggregation.enabled},
                                {"privacy",
                                 {{"mode", std::string(study::PrivacyModeName(plan_.privacy.mode))},
                                  {"delta", absl::StrFormat("%.17g", plan_.privacy.delta)},
                                  {"planned_epsilon",
                                   absl::StrFormat("%.17g", summary_["privacy"].value(
                                                                "planned_epsilon", 0.0))}}}};
    if (next_round > 0) submitted["resumed_at_round"] = next_round;
    if (absl::Status s = Audit(next_round > 0 ? "study_resumed" : "study_submitted", submitted);
        !s.ok()) {
      return s;
    }
  }
  LogInfo(ctx, absl::StrCat("study submitted (plan sha256 ", plan_.sha256, "); waiting for ",
                            plan_.min_sites, " of ", plan_.sites.size(), " sites"));
  if (!plan_.secure_aggregation.enabled) {
    LogWarn(ctx, "secure aggregation is OFF in this plan (for debugging only): the coordinator "
                 "sees each site's individual updates and statistics");
  }
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
  if (joined) {
    std::vector<std::string> present;
    for (const auto& site : plan_.sites) {
      if (env_.registry->HasJoined(site)) present.push_back(site);
    }
    if (absl::Status s = Audit("sites_joined", {{"study", plan_.study_id}, {"sites", present}});
        !s.ok()) {
      return Fail(s);
    }
  }
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
  if (!plan_.baseline_site.empty() && plan_.privacy.on()) {
    LogInfo(ctx, "single-site baseline skipped: under differential privacy each of its rounds "
                 "would spend the baseline site's budget");
  } else if (!plan_.baseline_site.empty()) {
    if (absl::Status s = RunBaseline(); !s.ok()) {
      if (Stopped()) return s;
      LogWarn(ctx, absl::StrCat("baseline skipped: ", s.message()));
    }
  }
  if (absl::Status s = RunFinalEvaluation(); !s.ok()) return Fail(s);

  summary_["status"] = "completed";
  const std::string model_bytes = ModelBytes(model_);
  {
    // The study's end: a last receipt to every site still in the study.
    const std::string final_sha256 = crypto::Sha256Hex(summary_["final"].dump());
    if (absl::Status r = SendReceipts(plan_.rounds + 1, EligibleSites(), final_sha256,
                                      crypto::Sha256Hex(model_bytes));
        !r.ok()) {
      return Fail(r);
    }
    if (absl::Status a = Audit("study_finished", {{"study", plan_.study_id},
                                                  {"status", "completed"},
                                                  {"model_sha256", crypto::Sha256Hex(model_bytes)}});
        !a.ok()) {
      return Fail(a);
    }
  }
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
