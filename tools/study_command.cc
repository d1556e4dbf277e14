#include "tools/study_command.h"

#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/ml/metrics.h"
#include "common/privacy/accountant.h"
#include "common/study/dp_plan.h"
#include "common/study/proto_convert.h"
#include "common/study/study_plan.h"
#include "common/util/status_macros.h"
#include "crypto/files.h"
#include "crypto/sha256.h"
#include "nlohmann/json.hpp"

namespace cohort::tools {
namespace {

absl::Status RunHash(const std::string& plan_path) {
  ASSIGN_OR_RETURN(std::string hex, crypto::Sha256HexOfFile(plan_path));
  std::cout << hex << "  " << plan_path << "\n";
  return absl::OkStatus();
}

absl::Status RunCheck(const std::string& plan_path) {
  ASSIGN_OR_RETURN(study::StudyPlan plan, study::LoadStudyPlan(plan_path));
  std::cout << "plan " << plan_path << " is valid\n"
            << "  study_id:  " << plan.study_id << "\n"
            << "  sha256:    " << plan.sha256 << "\n"
            << "  sites:     " << absl::StrJoin(plan.sites, ", ") << " (min_sites "
            << plan.min_sites << ")\n"
            << "  rounds:    " << plan.rounds << "\n"
            << "  features:  " << absl::StrJoin(data::EncodedFeatureNames(plan.schema), ", ")
            << "\n";
  const study::StudyPlan::Privacy& p = plan.privacy;
  std::cout << "  privacy:   " << study::PrivacyModeName(p.mode);
  if (!p.on()) {
    std::cout << " (no noise: sites must allow this in their own config)\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat(
      "; DP-SGD clip %g, noise multiplier %g, sampling rate %g, %d step(s) per round%s\n"
      "             statistics noise multiplier %g, evaluation noise multiplier %g\n",
      p.clip, p.noise_multiplier, p.sampling_rate, plan.DpStepsPerRound(),
      p.mode == study::StudyPlan::Privacy::Mode::kDistributed
          ? absl::StrFormat(" (noise shared by at least %d honest sites)", p.minimum_honest_sites)
          : std::string(""),
      p.statistics_noise_multiplier, p.evaluation_noise_multiplier);
  ASSIGN_OR_RETURN(std::vector<privacy::PrivacyEvent> events, study::PlanEvents(plan));
  ASSIGN_OR_RETURN(privacy::EpsilonBound bound, privacy::Epsilon(events, p.delta));
  std::cout << absl::StrFormat(
      "  cost:      epsilon %.4f at delta %g per site for the whole study (%s accountant);\n"
      "             each site's ledger charges it release by release against its own ceiling\n",
      bound.epsilon, p.delta, privacy::AccountantName(bound.accountant));
  return absl::OkStatus();
}

// A site's exact local evaluation (<state_dir>/evaluations/<study>.json):
// the metrics of the study's final model on that site's test split.
absl::StatusOr<std::pair<std::string, ml::BinaryMetrics>> ReadLocalEvaluation(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, crypto::ReadFile(path));
  nlohmann::json e = nlohmann::json::parse(text, nullptr, false);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", why));
  };
  if (e.is_discarded() || !e.is_object() || !e.contains("models") || !e["models"].is_array() ||
      e["models"].empty()) {
    return bad("not a site evaluation file");
  }
  const nlohmann::json& m = e["models"][0];
  ml::BinaryMetrics metrics;
  try {
    const nlohmann::json& c = m.at("counts");
    metrics.n = c.at("n").get<int64_t>();
    metrics.correct = c.at("correct").get<int64_t>();
    metrics.true_positive = c.at("true_positive").get<int64_t>();
    metrics.false_positive = c.at("false_positive").get<int64_t>();
    metrics.true_negative = c.at("true_negative").get<int64_t>();
    metrics.false_negative = c.at("false_negative").get<int64_t>();
    metrics.loss_sum = c.at("loss_sum").get<double>();
    metrics.positive_histogram = m.at("histograms").at("positive").get<std::vector<int64_t>>();
    metrics.negative_histogram = m.at("histograms").at("negative").get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception& ex) {
    return bad(absl::StrCat("malformed: ", ex.what()));
  }
  if (absl::Status valid = ml::ValidateBinaryMetrics(metrics); !valid.ok()) {
    return bad(valid.message());
  }
  return std::make_pair(e.value("site", path), metrics);
}

std::string Cell(const nlohmann::json& metrics, const char* key) {
  if (!metrics.is_object() || !metrics.contains(key) || !metrics[key].is_number()) {
    return "n/a";
  }
  return absl::StrFormat("%.4f", metrics[key].get<double>());
}

std::string EpsilonCell(const nlohmann::json& per_site, const std::string& site) {
  if (!per_site.contains(site)) return "not charged";
  const nlohmann::json& e = per_site[site];
  return absl::StrFormat("%.3f of %g", e.value("epsilon", 0.0), e.value("ceiling", 0.0));
}

// A study under differential privacy: each hospital's epsilon spent (as its
// own ledger reported it) beside the model's metrics. The metrics the
// coordinator received are noisy; when the sites' exact local evaluation
// files are given (possible when the hospitals share them, as in a demo on
// public data) the table shows those instead, pooled from their counts and
// histograms.
absl::Status RunPrivateReport(const nlohmann::json& s,
                              const std::vector<std::string>& evaluation_paths) {
  const nlohmann::json& privacy = s["privacy"];
  const nlohmann::json& per_site_eps = privacy.value("per_site", nlohmann::json::object());
  const double delta = privacy.value("delta", 0.0);
  std::vector<std::pair<std::string, nlohmann::json>> rows;
  nlohmann::json pooled;
  std::string source;
  if (!evaluation_paths.empty()) {
    ml::BinaryMetrics total;
    for (const std::string& path : evaluation_paths) {
      ASSIGN_OR_RETURN(auto site_metrics, ReadLocalEvaluation(path));
      rows.emplace_back(site_metrics.first, study::MetricsJson(site_metrics.second));
      RETURN_IF_ERROR(ml::Merge(total, site_metrics.second));
    }
    pooled = study::MetricsJson(total);
    source = "exact metrics from the sites' own evaluation files";
  } else {
    for (const auto& [site, m] : s["final"]["per_site"].items()) rows.emplace_back(site, m);
    pooled = s["final"]["pooled"];
    source = "metrics as released: each site's carry DP noise";
  }
  std::cout << absl::StrFormat("differential privacy: %s mode, epsilon at delta %g\n\n",
                               privacy.value("mode", "?"), delta);
  std::cout << absl::StrFormat("%-14s %5s   %-9s %-9s   %-18s\n", "test set", "n", "accuracy",
                               "AUC", "epsilon spent");
  for (const auto& [site, m] : rows) {
    std::cout << absl::StrFormat("%-14s %5s   %-9s %-9s   %-18s\n", site,
                                 m.contains("n") ? m["n"].dump() : "?", Cell(m, "accuracy"),
                                 Cell(m, "auc"), EpsilonCell(per_site_eps, site));
  }
  std::cout << absl::StrFormat("%-14s %5s   %-9s %-9s\n", "pooled",
                               pooled.contains("n") ? pooled["n"].dump() : "?",
                               Cell(pooled, "accuracy"), Cell(pooled, "auc"));
  std::cout << "\n(" << source << ")\n"
            << "epsilon spent: what each hospital's own ledger charged for this study, of its own\n"
               "per-study ceiling; the sites keep the ledgers (<state_dir>/privacy/ledger.jsonl).\n";
  return absl::OkStatus();
}

// Prints a study's summary.json as a table: per-site and pooled accuracy and
// AUC of the federated model, beside the single-site baseline if there is one.
absl::Status RunReport(const std::string& summary_path,
                       const std::vector<std::string>& evaluation_paths) {
  ASSIGN_OR_RETURN(std::string text, crypto::ReadFile(summary_path));
  nlohmann::json s = nlohmann::json::parse(text, nullptr, false);
  if (s.is_discarded() || !s.is_object()) {
    return absl::InvalidArgumentError(summary_path + ": not a JSON summary");
  }
  std::cout << "study " << s.value("study_id", "?") << ": " << s.value("status", "?") << ", "
            << s.value("rounds", nlohmann::json::array()).size() << " rounds\n";
  if (s.contains("error")) std::cout << "error: " << s["error"].get<std::string>() << "\n";
  if (!s.contains("final")) return absl::OkStatus();
  const nlohmann::json& privacy = s.value("privacy", nlohmann::json::object());
  if (privacy.value("mode", "off") != "off") return RunPrivateReport(s, evaluation_paths);
  const nlohmann::json& fin = s["final"];
  const bool baseline = s.contains("baseline");
  std::string header = absl::StrFormat("%-14s %5s   %-19s", "", "", "federated model");
  std::string columns = absl::StrFormat("%-14s %5s   %-9s %-9s", "test set", "n", "accuracy", "AUC");
  if (baseline) {
    const std::string who = s["baseline"].value("site", "?") + " alone";
    header += absl::StrFormat("   %-19s", who);
    columns += absl::StrFormat("   %-9s %-9s", "accuracy", "AUC");
  }
  std::cout << "\n" << header << "\n" << columns << "\n";
  auto row = [&](const std::string& name, const nlohmann::json& m, const nlohmann::json& b) {
    std::string line = absl::StrFormat("%-14s %5s   %-9s %-9s", name,
                                       m.contains("n") ? m["n"].dump() : "?", Cell(m, "accuracy"),
                                       Cell(m, "auc"));
    if (baseline) line += absl::StrFormat("   %-9s %-9s", Cell(b, "accuracy"), Cell(b, "auc"));
    std::cout << line << "\n";
  };
  const nlohmann::json empty = nlohmann::json::object();
  for (const auto& [site, m] : fin["per_site"].items()) {
    row(site, m, baseline ? s["baseline"]["per_site"].value(site, empty) : empty);
  }
  row("pooled", fin["pooled"], baseline ? s["baseline"]["pooled"] : empty);
  std::cout << "\nAUC is n/a where a test set holds one class only. Pooled metrics come from\n"
               "summed per-site counts and score histograms; no row left a hospital.\n";
  return absl::OkStatus();
}

}  // namespace

void RegisterStudyCommands(CLI::App& app, CommandAction& selected) {
  CLI::App* study = app.add_subcommand("study", "Study plans");
  study->require_subcommand(1);

  auto plan_path = std::make_shared<std::string>();
  CLI::App* hash = study->add_subcommand(
      "hash", "Print the SHA-256 of a study plan file, as sha256sum does; sites pin "
              "approved plans by this hash");
  hash->add_option("plan", *plan_path, "Study plan file (YAML)")->required();
  hash->callback([&selected, plan_path] {
    selected = [plan_path] { return RunHash(*plan_path); };
  });

  auto check_path = std::make_shared<std::string>();
  CLI::App* check = study->add_subcommand(
      "check", "Validate a study plan and print what it asks of the sites");
  check->add_option("plan", *check_path, "Study plan file (YAML)")->required();
  check->callback([&selected, check_path] {
    selected = [check_path] { return RunCheck(*check_path); };
  });

  auto summary_path = std::make_shared<std::string>();
  auto evaluations = std::make_shared<std::vector<std::string>>();
  CLI::App* report = study->add_subcommand(
      "report", "Print a study's results table from its summary.json");
  report->add_option("summary", *summary_path, "summary.json of a study")->required();
  report->add_option("--site-evaluations", *evaluations,
                     "Sites' exact local evaluation files (<site state_dir>/evaluations/"
                     "<study>.json), for a DP study whose hospitals share them");
  report->callback([&selected, summary_path, evaluations] {
    selected = [summary_path, evaluations] { return RunReport(*summary_path, *evaluations); };
  });
}

}  // namespace cohort::tools
