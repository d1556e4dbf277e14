#include "common/study/study_plan.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/util/config_node.h"
#include "common/util/status_macros.h"
#include "crypto/secagg/encoding.h"
#include "crypto/files.h"
#include "crypto/sha256.h"

namespace cohort::study {
namespace {

using util::ConfigNode;

// Ids name folders on disk, so they start with a letter or digit ("." and
// ".." are not ids).
bool ValidId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9'))) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

absl::Status ParseTraining(const ConfigNode& root, StudyPlan& plan) {
  ASSIGN_OR_RETURN(ConfigNode t, root.Child("training"));
  RETURN_IF_ERROR(t.CheckKeys({"local_epochs", "local_steps", "batch_size",
                               "optimizer", "learning_rate", "momentum", "seed"}));
  ASSIGN_OR_RETURN(int64_t epochs, t.GetInt("local_epochs", 1));
  ASSIGN_OR_RETURN(int64_t steps, t.GetInt("local_steps", 0));
  ASSIGN_OR_RETURN(int64_t batch, t.GetInt("batch_size", 32));
  ASSIGN_OR_RETURN(std::string optimizer, t.GetString("optimizer", "sgd"));
  ASSIGN_OR_RETURN(double lr, t.GetDouble("learning_rate"));
  ASSIGN_OR_RETURN(double momentum, t.GetDouble("momentum", 0.0));
  ASSIGN_OR_RETURN(int64_t seed, t.GetInt("seed", 1));
  if (epochs < 1 || epochs > 10000) {
    return t.Child("local_epochs").value_or(t).Error("must be between 1 and 10000");
  }
  if (steps < 0) return t.Error("local_steps must be >= 0 (0: no cap)");
  if (batch < 1) return t.Child("batch_size").value_or(t).Error("must be at least 1");
  if (!(lr > 0)) return t.Child("learning_rate").value_or(t).Error("must be > 0");
  if (momentum < 0 || momentum >= 1) {
    return t.Child("momentum").value_or(t).Error("must be in [0, 1)");
  }
  auto kind = ml::ParseOptimizerKind(optimizer);
  if (!kind.ok()) {
    return t.Child("optimizer").value_or(t).Error(kind.status().message());
  }
  plan.training.epochs = static_cast<int>(epochs);
  plan.training.max_steps = static_cast<int>(steps);
  plan.training.batch_size = static_cast<int>(batch);
  plan.training.optimizer.kind = *kind;
  plan.training.optimizer.learning_rate = lr;
  plan.training.optimizer.momentum = momentum;
  plan.training.seed = static_cast<uint64_t>(seed);
  if (absl::Status s = ml::ValidateLocalTrainingOptions(plan.training); !s.ok()) {
    return t.Error(s.message());
  }
  return absl::OkStatus();
}

absl::Status ParseSecureAggregation(const ConfigNode& root, StudyPlan& plan) {
  const int n = static_cast<int>(plan.sites.size());
  StudyPlan::SecureAggregation& sa = plan.secure_aggregation;
  sa.threshold = n / 2 + 1;
  sa.degree = n - 1;
  // Never assign one ConfigNode to another: yaml-cpp's Node::operator=
  // overwrites the referenced node (here: the plan's root) in place.
  ASSIGN_OR_RETURN(const ConfigNode node, root.Has("secure_aggregation")
                                              ? root.Child("secure_aggregation")
                                              : absl::StatusOr<ConfigNode>(root));
  if (root.Has("secure_aggregation")) {
    RETURN_IF_ERROR(node.CheckKeys({"enabled", "threshold", "degree", "bits", "clip"}));
    ASSIGN_OR_RETURN(sa.enabled, node.GetBool("enabled", true));
    ASSIGN_OR_RETURN(int64_t threshold, node.GetInt("threshold", sa.threshold));
    ASSIGN_OR_RETURN(int64_t degree, node.GetInt("degree", sa.degree));
    ASSIGN_OR_RETURN(int64_t bits, node.GetInt("bits", sa.bits));
    ASSIGN_OR_RETURN(sa.clip, node.GetDouble("clip", sa.clip));
    sa.threshold = static_cast<int>(threshold);
    sa.degree = static_cast<int>(degree);
    sa.bits = static_cast<int>(bits);
  }
  if (!sa.enabled) return absl::OkStatus();
  auto field = [&](absl::string_view key) { return node.Child(key).value_or(node); };
  if (n < 2) {
    return field("enabled").Error(
        "secure aggregation needs at least 2 sites (turn it off for a single-site study)");
  }
  if (sa.degree < 1 || sa.degree > n - 1) {
    return field("degree").Error(absl::StrCat("must be between 1 and the number of sites - 1 (",
                                              n - 1, ")"));
  }
  // A site's secrets are shared within its neighbourhood (its neighbours and
  // itself), so degree + 1 shares of them exist.
  if (sa.threshold < 2 || sa.threshold > sa.degree + 1) {
    return field("threshold").Error(
        absl::StrCat("must be at least 2 and at most degree + 1 (", sa.degree + 1, ")"));
  }
  if (sa.bits < 16 || sa.bits > 62) return field("bits").Error("must be between 16 and 62");
  if (!(sa.clip > 0)) return field("clip").Error("must be > 0");
  // The sum of n encoded updates must fit in `bits` without wrapping.
  if (auto encoder = secagg::VectorEncoder::Create(
          {.bits = sa.bits, .clip = sa.clip, .max_summands = n});
      !encoder.ok()) {
    return field("clip").Error(absl::StrCat(
        "clip ", sa.clip, " leaves no room to sum ", n, " sites in ", sa.bits,
        " bits; raise bits or lower clip (", encoder.status().message(), ")"));
  }
  return absl::OkStatus();
}

absl::Status ParsePrivacy(const ConfigNode& root, StudyPlan& plan) {
  StudyPlan::Privacy& p = plan.privacy;
  p.minimum_honest_sites = plan.min_sites;
  ASSIGN_OR_RETURN(const ConfigNode node, root.Has("privacy") ? root.Child("privacy")
                                                             : absl::StatusOr<ConfigNode>(root));
  if (root.Has("privacy")) {
    RETURN_IF_ERROR(node.CheckKeys({"mode", "delta", "clip", "noise_multiplier", "sampling_rate",
                                    "minimum_honest_sites", "statistics_noise_multiplier",
                                    "evaluation_noise_multiplier", "evaluation_bins"}));
    ASSIGN_OR_RETURN(std::string mode, node.GetString("mode", "local"));
    if (mode == "off") {
      p.mode = StudyPlan::Privacy::Mode::kOff;
    } else if (mode == "local") {
      p.mode = StudyPlan::Privacy::Mode::kLocal;
    } else if (mode == "distributed") {
      p.mode = StudyPlan::Privacy::Mode::kDistributed;
    } else {
      return node.Child("mode")->Error(
          absl::StrCat("\"", mode, "\" is not one of off, local, distributed"));
    }
    ASSIGN_OR_RETURN(p.delta, node.GetDouble("delta", p.delta));
    ASSIGN_OR_RETURN(p.clip, node.GetDouble("clip", p.clip));
    ASSIGN_OR_RETURN(p.noise_multiplier, node.GetDouble("noise_multiplier", p.noise_multiplier));
    ASSIGN_OR_RETURN(p.sampling_rate, node.GetDouble("sampling_rate", p.sampling_rate));
    ASSIGN_OR_RETURN(int64_t honest, node.GetInt("minimum_honest_sites", p.minimum_honest_sites));
    p.minimum_honest_sites = static_cast<int>(honest);
    ASSIGN_OR_RETURN(p.statistics_noise_multiplier,
                     node.GetDouble("statistics_noise_multiplier", p.statistics_noise_multiplier));
    ASSIGN_OR_RETURN(p.evaluation_noise_multiplier,
                     node.GetDouble("evaluation_noise_multiplier", p.evaluation_noise_multiplier));
    ASSIGN_OR_RETURN(int64_t bins, node.GetInt("evaluation_bins", p.evaluation_bins));
    p.evaluation_bins = static_cast<int>(bins);
  }
  if (!p.on()) return absl::OkStatus();
  auto field = [&](absl::string_view key) { return node.Child(key).value_or(node); };
  auto positive = [&](absl::string_view key, double value) -> absl::Status {
    if (!(value > 0) || !std::isfinite(value)) return field(key).Error("must be > 0");
    return absl::OkStatus();
  };
  if (!(p.delta > 0 && p.delta < 1)) return field("delta").Error("must be in (0, 1)");
  RETURN_IF_ERROR(positive("clip", p.clip));
  RETURN_IF_ERROR(positive("noise_multiplier", p.noise_multiplier));
  RETURN_IF_ERROR(positive("statistics_noise_multiplier", p.statistics_noise_multiplier));
  RETURN_IF_ERROR(positive("evaluation_noise_multiplier", p.evaluation_noise_multiplier));
  if (!(p.sampling_rate > 0 && p.sampling_rate <= 1)) {
    return field("sampling_rate").Error("must be in (0, 1]");
  }
  if (p.evaluation_bins < 2 || p.evaluation_bins > 1000 || p.evaluation_bins % 2 != 0) {
    return field("evaluation_bins").Error("must be an even number between 2 and 1000");
  }
  if (p.mode == StudyPlan::Privacy::Mode::kDistributed) {
    if (!plan.secure_aggregation.enabled) {
      return field("mode").Error(
          "distributed DP needs secure aggregation (each site's share of the noise alone is "
          "too small to protect it); turn secure_aggregation on or use mode: local");
    }
    // Every round sums at least min_sites; the noise is sized for h of them.
    if (p.minimum_honest_sites < 1 || p.minimum_honest_sites > plan.min_sites) {
      return field("minimum_honest_sites")
          .Error(absl::StrCat("must be between 1 and min_sites (", plan.min_sites, ")"));
    }
  }
  // Statistics are clipped to each numeric variable's declared range.
  ASSIGN_OR_RETURN(ConfigNode variables, root.Child("variables"));
  ASSIGN_OR_RETURN(std::vector<ConfigNode> elements, variables.Elements());
  for (size_t i = 0; i < plan.schema.features.size() && i < elements.size(); ++i) {
    const data::Variable& v = plan.schema.features[i];
    if (v.type == data::VariableType::kNumeric && !v.has_range) {
      return elements[i].Error(absl::StrCat(
          "numeric variable '", v.name,
          "' needs range: [lo, hi] when privacy is on (its statistics are clipped to it)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view PrivacyModeName(StudyPlan::Privacy::Mode mode) {
  switch (mode) {
    case StudyPlan::Privacy::Mode::kOff:
      return "off";
    case StudyPlan::Privacy::Mode::kLocal:
      return "local";
    case StudyPlan::Privacy::Mode::kDistributed:
      return "distributed";
  }
  return "unknown";
}

int StudyPlan::DpStepsPerRound() const {
  if (privacy.mode == Privacy::Mode::kDistributed) return 1;
  if (training.max_steps > 0) return training.max_steps;
  // local_epochs passes over the data, in expectation.
  return static_cast<int>(std::ceil(training.epochs / privacy.sampling_rate));
}

bool StudyPlan::HasSite(absl::string_view site) const {
  return std::find(sites.begin(), sites.end(), site) != sites.end();
}

absl::StatusOr<StudyPlan> ParseStudyPlan(absl::string_view text,
                                         absl::string_view file) {
  ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::Parse(text, file));
  RETURN_IF_ERROR(root.CheckKeys({"study_id", "description", "sites", "min_sites",
                                  "rounds", "round_deadline_seconds",
                                  "join_timeout_seconds", "start_grace_seconds",
                                  "max_round_retries",
                                  "model", "training", "aggregation", "evaluation",
                                  "variables", "outcome", "preprocessing",
                                  "secure_aggregation", "privacy"}));
  StudyPlan plan;
  plan.text = std::string(text);
  plan.sha256 = crypto::Sha256Hex(text);

  ASSIGN_OR_RETURN(plan.study_id, root.GetString("study_id"));
  if (!ValidId(plan.study_id)) {
    return root.Child("study_id")->Error(
        "must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit");
  }
  ASSIGN_OR_RETURN(plan.description, root.GetString("description", ""));

  ASSIGN_OR_RETURN(ConfigNode sites, root.Child("sites"));
  ASSIGN_OR_RETURN(plan.sites, sites.AsStringList());
  if (plan.sites.empty()) return sites.Error("must list at least one site");
  std::set<std::string> unique;
  for (const std::string& s : plan.sites) {
    if (!ValidId(s)) return sites.Error(absl::StrCat("\"", s, "\" is not a valid site name"));
    if (!unique.insert(s).second) return sites.Error(absl::StrCat("site \"", s, "\" is listed twice"));
  }

  ASSIGN_OR_RETURN(int64_t min_sites, root.GetInt("min_sites", static_cast<int64_t>(plan.sites.size())));
  if (min_sites < 1 || min_sites > static_cast<int64_t>(plan.sites.size())) {
    return root.Child("min_sites").value_or(root).Error(
        absl::StrCat("must be between 1 and the number of sites (", plan.sites.size(), ")"));
  }
  plan.min_sites = static_cast<int>(min_sites);

  ASSIGN_OR_RETURN(int64_t rounds, root.GetInt("rounds"));
  if (rounds < 1 || rounds > 100000) {
    return root.Child("rounds")->Error("must be between 1 and 100000");
  }
  plan.rounds = static_cast<int>(rounds);

  ASSIGN_OR_RETURN(double deadline, root.GetDouble("round_deadline_seconds", 60));
  if (!(deadline > 0)) return root.Child("round_deadline_seconds")->Error("must be > 0");
  plan.round_deadline = absl::Seconds(deadline);
  ASSIGN_OR_RETURN(double join, root.GetDouble("join_timeout_seconds", 600));
  if (!(join > 0)) return root.Child("join_timeout_seconds")->Error("must be > 0");
  plan.join_timeout = absl::Seconds(join);
  ASSIGN_OR_RETURN(double grace, root.GetDouble("start_grace_seconds", 10));
  if (grace < 0) return root.Child("start_grace_seconds")->Error("must be >= 0");
  plan.start_grace = absl::Seconds(grace);
  ASSIGN_OR_RETURN(int64_t retries, root.GetInt("max_round_retries", 2));
  if (retries < 0) return root.Child("max_round_retries")->Error("must be >= 0");
  plan.max_round_retries = static_cast<int>(retries);

  ASSIGN_OR_RETURN(ConfigNode model, root.Child("model"));
  RETURN_IF_ERROR(model.CheckKeys({"kind", "l2"}));
  ASSIGN_OR_RETURN(plan.model_kind, model.GetString("kind"));
  if (plan.model_kind != "logistic_regression") {
    return model.Child("kind")->Error(absl::StrCat(
        "\"", plan.model_kind, "\" is not a supported model (supported: logistic_regression)"));
  }
  ASSIGN_OR_RETURN(plan.l2, model.GetDouble("l2", 0.0));
  if (plan.l2 < 0) return model.Child("l2")->Error("must be >= 0");

  RETURN_IF_ERROR(ParseTraining(root, plan));

  if (root.Has("aggregation")) {
    ASSIGN_OR_RETURN(ConfigNode agg, root.Child("aggregation"));
    RETURN_IF_ERROR(agg.CheckKeys({"strategy", "server_learning_rate"}));
    ASSIGN_OR_RETURN(plan.aggregation, agg.GetString("strategy", "fedavg"));
    if (plan.aggregation != "fedavg") {
      return agg.Child("strategy")->Error(absl::StrCat(
          "\"", plan.aggregation, "\" is not supported (supported: fedavg)"));
    }
    ASSIGN_OR_RETURN(plan.server_learning_rate, agg.GetDouble("server_learning_rate", 1.0));
    if (!(plan.server_learning_rate > 0)) {
      return agg.Child("server_learning_rate")->Error("must be > 0");
    }
  }

  if (root.Has("evaluation")) {
    ASSIGN_OR_RETURN(ConfigNode ev, root.Child("evaluation"));
    RETURN_IF_ERROR(ev.CheckKeys({"histogram_bins", "baseline_site"}));
    ASSIGN_OR_RETURN(int64_t bins, ev.GetInt("histogram_bins", 1000));
    if (bins < 1000 || bins > 100000) {
      return ev.Child("histogram_bins")->Error("must be between 1000 and 100000");
    }
    plan.histogram_bins = static_cast<int>(bins);
    ASSIGN_OR_RETURN(plan.baseline_site, ev.GetString("baseline_site", ""));
    if (!plan.baseline_site.empty() && !plan.HasSite(plan.baseline_site)) {
      return ev.Child("baseline_site")->Error(
          absl::StrCat("\"", plan.baseline_site, "\" is not one of the study's sites"));
    }
  }

  ASSIGN_OR_RETURN(plan.schema, data::ParseStudySchema(root));
  RETURN_IF_ERROR(ParseSecureAggregation(root, plan));
  RETURN_IF_ERROR(ParsePrivacy(root, plan));
  return plan;
}

absl::StatusOr<StudyPlan> LoadStudyPlan(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, crypto::ReadFile(path));
  return ParseStudyPlan(text, path);
}

}  // namespace cohort::study
