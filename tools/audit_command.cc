#include "tools/audit_command.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/audit/verify.h"
#include "common/util/clock.h"
#include "common/util/status_macros.h"
#include "crypto/files.h"
#include "nlohmann/json.hpp"
#include "tools/audit_releases.h"
#include "tools/audit_report.h"

namespace cohort::tools {
namespace {

struct VerifyCommand {
  std::string log;
  std::string ca;
  std::vector<std::string> against;
};

struct PrivacyCommand {
  std::string log;
  std::string ca;
  bool json = false;
};

struct ReportCommand {
  std::vector<std::string> logs;
  std::string ca;
  std::string out;
};

std::string Count(size_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// The CA certificate named by --ca, or "" without the flag.
absl::StatusOr<std::string> ReadCa(const std::string& path) {
  if (path.empty()) return std::string();
  ASSIGN_OR_RETURN(std::string pem, crypto::ReadFile(path));
  if (pem.empty()) return absl::InvalidArgumentError(absl::StrCat("--ca ", path, ": empty file"));
  return pem;
}

audit::VerifyOptions Options(const std::string& ca_pem, std::vector<std::string> against = {}) {
  audit::VerifyOptions options;
  options.ca_pem = ca_pem;
  options.against = std::move(against);
  return options;
}

// `text` with control characters (ESC and the like, which logs may hold)
// replaced by '?', so printing log contents cannot drive the terminal.
std::string TerminalSafe(absl::string_view text) {
  std::string out(text);
  for (char& ch : out) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  }
  return out;
}

absl::Status RunVerify(const VerifyCommand& c) {
  ASSIGN_OR_RETURN(const std::string ca_pem, ReadCa(c.ca));
  ASSIGN_OR_RETURN(const audit::VerifyReport report,
                   audit::Verify(c.log, Options(ca_pem, c.against)));
  const std::string what =
      absl::StrCat(Count(static_cast<size_t>(report.entries), "entry", "entries"),
                   report.writer.empty() ? "" : " by ", TerminalSafe(report.writer));
  const std::string others = Count(c.against.size(), "other log", "other logs");
  if (!report.violations.empty()) {
    std::cout << c.log << ": FAILED: " << Count(report.violations.size(), "violation", "violations")
              << " (" << what << (c.against.empty() ? "" : ", checked against " + others) << ")\n";
  } else {
    const std::string cross = c.against.empty() ? "" : "; its references to " + others + " agree";
    if (!ca_pem.empty()) {
      std::cout << c.log << ": verified: " << what
                << ", each signed by a consortium certificate, chained and in order" << cross
                << "\n";
    } else {
      std::cout << c.log << ": " << what << " chained and in order" << cross
                << ", but not verified against the consortium: give its CA certificate with "
                   "--ca\n";
    }
  }
  for (const audit::Violation& v : report.violations) {
    std::cout << TerminalSafe(audit::ToString(v)) << "\n";
  }
  for (const std::string& note : report.notes) std::cout << "note: " << TerminalSafe(note) << "\n";
  if (report.violations.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(c.log, ": ", Count(report.violations.size(), "violation", "violations")));
}

std::string EpsilonText(const std::optional<double>& eps) {
  return eps ? absl::StrFormat("%.6f", *eps) : "?";
}

nlohmann::json OptionalJson(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// Prints `rows` as left-aligned columns (numbers right-aligned where
// `right[i]`), two spaces apart.
void PrintTable(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
  std::vector<size_t> width(right.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string pad(width[i] - row[i].size(), ' ');
      if (i > 0) line += "  ";
      line += right[i] ? pad + row[i] : (i + 1 == row.size() ? row[i] : row[i] + pad);
    }
    std::cout << line << "\n";
  }
}

absl::Status RunPrivacy(const PrivacyCommand& c) {
  ASSIGN_OR_RETURN(const std::string ca_pem, ReadCa(c.ca));
  ASSIGN_OR_RETURN(const audit::VerifyReport report, audit::Verify(c.log, Options(ca_pem)));
  const std::vector<Release> releases = ReadReleases(report.parsed);

  struct StudyTotal {
    std::optional<double> epsilon, delta;
    std::string accountant;
    int releases = 0;
  };
  std::vector<std::string> order;  // studies by first release
  std::map<std::string, StudyTotal> totals;
  std::vector<const Release*> mismatches;
  size_t private_releases = 0;
  std::vector<std::vector<std::string>> rows = {
      {"study", "entry", "task", "kind", "logged epsilon", "recomputed", "status"}};
  for (const Release& r : releases) {
    if (!totals.count(r.study)) order.push_back(r.study);
    StudyTotal& total = totals[r.study];
    std::string status = "not private";
    if (r.is_private) {
      ++private_releases;
      ++total.releases;
      total.epsilon = r.recomputed_epsilon;
      total.delta = r.delta;
      total.accountant = r.accountant;
      status = r.problem.empty() ? "ok" : "MISMATCH: " + r.problem;
      if (!r.problem.empty()) mismatches.push_back(&r);
    }
    rows.push_back({TerminalSafe(r.study), absl::StrCat(r.seq), TerminalSafe(r.task),
                    TerminalSafe(r.kind), r.is_private ? EpsilonText(r.logged_epsilon) : "-",
                    r.is_private ? EpsilonText(r.recomputed_epsilon) : "-", TerminalSafe(status)});
  }

  if (c.json) {
    nlohmann::ordered_json out;
    out["studies"] = nlohmann::ordered_json::object();
    for (const std::string& study : order) {
      const StudyTotal& t = totals[study];
      out["studies"][study] = {{"epsilon", OptionalJson(t.epsilon)},
                               {"delta", OptionalJson(t.delta)},
                               {"releases", t.releases}};
    }
    out["mismatches"] = nlohmann::ordered_json::array();
    for (const Release* r : mismatches) {
      out["mismatches"].push_back({{"study", r->study},
                                   {"seq", r->seq},
                                   {"task", r->task},
                                   {"kind", r->kind},
                                   {"logged", OptionalJson(r->logged_epsilon)},
                                   {"recomputed", OptionalJson(r->recomputed_epsilon)},
                                   {"problem", r->problem}});
    }
    std::cout << out.dump(2) << "\n";
  } else {
    PrintTable(rows, {false, true, false, false, true, true, false});
    std::cout << "\n";
    for (const std::string& study : order) {
      const StudyTotal& t = totals[study];
      if (t.releases == 0) {
        std::cout << "study " << TerminalSafe(study) << ": no private release\n";
        continue;
      }
      std::cout << "study " << TerminalSafe(study) << ": epsilon " << EpsilonText(t.epsilon)
                << " at delta " << (t.delta ? absl::StrFormat("%g", *t.delta) : "?") << " after "
                << Count(t.releases, "private release", "private releases")
                << (t.accountant.empty()
                        ? ""
                        : absl::StrCat(" (recomputed, ", t.accountant, " accountant)"))
                << "\n";
    }
    if (private_releases == 0) {
      std::cout << c.log << ": no private release to check\n";
    } else if (mismatches.empty()) {
      std::cout << "all "
                << Count(private_releases, "private release agrees", "private releases agree")
                << " with the recomputation from the logged events\n";
    }
  }

  std::vector<std::string> failures;
  if (!mismatches.empty()) {
    failures.push_back(Count(mismatches.size(), "mismatch", "mismatches"));
  }
  if (!report.violations.empty()) {
    std::cerr << c.log << " fails verification, so the entries above may not be what the site "
              << "wrote (details: cohort audit verify " << c.log << "):\n";
    for (const audit::Violation& v : report.violations) {
      std::cerr << "  " << TerminalSafe(audit::ToString(v)) << "\n";
    }
    failures.push_back(
        Count(report.violations.size(), "verification violation", "verification violations"));
  }
  if (failures.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(c.log, ": ", absl::StrJoin(failures, ", ")));
}

absl::Status RunReport(const ReportCommand& c) {
  ASSIGN_OR_RETURN(const std::string ca_pem, ReadCa(c.ca));
  // Each log alone, for its writer and entries...
  std::vector<AuditedLog> logs;
  for (const std::string& path : c.logs) {
    ASSIGN_OR_RETURN(audit::VerifyReport report, audit::Verify(path, Options(ca_pem)));
    logs.push_back({.path = path, .verification = std::move(report)});
  }
  // ...and all together: the first against all the others is every log
  // verified against all the others, since Verify reports the violations of
  // every log it reads and checks the anchors between each pair both ways.
  AuditReportOptions options;
  options.ca_given = !ca_pem.empty();
  options.generated_at = util::RealClock::Get()->Now();
  if (logs.size() == 1) {
    options.violations = logs[0].verification.violations;
    options.notes = logs[0].verification.notes;
  } else {
    ASSIGN_OR_RETURN(audit::VerifyReport all,
                     audit::Verify(c.logs[0], Options(ca_pem, {c.logs.begin() + 1, c.logs.end()})));
    options.violations = std::move(all.violations);
    options.notes = std::move(all.notes);
  }
  const AuditReport report = BuildAuditReport(logs, options);
  RETURN_IF_ERROR(crypto::WriteFileAtomically(c.out, report.html, 0644));
  if (report.problems.empty()) {
    std::cout << "wrote " << c.out << ": no problem found in " << Count(logs.size(), "log", "logs")
              << (ca_pem.empty() ? " (signatures not checked against a CA: no --ca)" : "") << "\n";
    return absl::OkStatus();
  }
  std::cout << "wrote " << c.out << ": " << Count(report.problems.size(), "problem", "problems")
            << " found:\n";
  for (const std::string& problem : report.problems) {
    std::cout << "  " << TerminalSafe(problem) << "\n";
  }
  return absl::FailedPreconditionError(
      absl::StrCat(c.out, " lists ", Count(report.problems.size(), "problem", "problems")));
}

}  // namespace

void RegisterAuditCommands(CLI::App& app, CommandAction& selected) {
  CLI::App* group = app.add_subcommand("audit", "Verify and read the signed audit logs");
  group->require_subcommand(1);
  const std::string ca_help = "The consortium's CA certificate (PEM), to check the signatures";

  auto v = std::make_shared<VerifyCommand>();
  CLI::App* verify = group->add_subcommand(
      "verify", "Check that a log is signed, chained and in order (exit 1 on any violation)");
  verify->add_option("log", v->log, "Audit log (JSON Lines)")->required();
  verify->add_option("--ca", v->ca, ca_help);
  verify->add_option("--against", v->against,
                     "Other logs of the study whose cross-references LOG must agree with");
  verify->callback([&selected, v] { selected = [v] { return RunVerify(*v); }; });

  auto p = std::make_shared<PrivacyCommand>();
  CLI::App* privacy = group->add_subcommand(
      "privacy", "Recompute a site's privacy spend from its log and compare with the logged one");
  privacy->add_option("site_log", p->log, "A site's audit log")->required();
  privacy->add_option("--ca", p->ca, ca_help);
  privacy->add_flag("--json", p->json, "Print JSON");
  privacy->callback([&selected, p] { selected = [p] { return RunPrivacy(*p); }; });

  auto r = std::make_shared<ReportCommand>();
  CLI::App* report = group->add_subcommand(
      "report", "Write a self-contained HTML report of a study's logs for a privacy officer");
  report->add_option("logs", r->logs, "The coordinator's and the sites' audit logs")->required();
  report->add_option("--ca", r->ca, ca_help);
  report->add_option("--out", r->out, "The HTML file to write")->required();
  report->callback([&selected, r] { selected = [r] { return RunReport(*r); }; });
}

}  // namespace cohort::tools
