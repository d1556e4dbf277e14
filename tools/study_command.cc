#include "tools/study_command.h"

#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
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
  return absl::OkStatus();
}

std::string Cell(const nlohmann::json& metrics, const char* key) {
  if (!metrics.is_object() || !metrics.contains(key) || !metrics[key].is_number()) {
    return "n/a";
  }
  return absl::StrFormat("%.4f", metrics[key].get<double>());
}

// Prints a study's summary.json as a table: per-site and pooled accuracy and
// AUC of the federated model, beside the single-site baseline if there is one.
absl::Status RunReport(const std::string& summary_path) {
  ASSIGN_OR_RETURN(std::string text, crypto::ReadFile(summary_path));
  nlohmann::json s = nlohmann::json::parse(text, nullptr, false);
  if (s.is_discarded() || !s.is_object()) {
    return absl::InvalidArgumentError(summary_path + ": not a JSON summary");
  }
  std::cout << "study " << s.value("study_id", "?") << ": " << s.value("status", "?") << ", "
            << s.value("rounds", nlohmann::json::array()).size() << " rounds\n";
  if (s.contains("error")) std::cout << "error: " << s["error"].get<std::string>() << "\n";
  if (!s.contains("final")) return absl::OkStatus();
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
  CLI::App* report = study->add_subcommand(
      "report", "Print a study's results table from its summary.json");
  report->add_option("summary", *summary_path, "summary.json of a study")->required();
  report->callback([&selected, summary_path] {
    selected = [summary_path] { return RunReport(*summary_path); };
  });
}

}  // namespace cohort::tools
