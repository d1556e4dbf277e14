// The page `cohort audit report` writes for a privacy officer: one
// self-contained HTML file (inline CSS and SVG; no scripts, fonts, images or
// links to anything outside the file) built from a study's verified audit
// logs, the coordinator's and the sites':
//
//   * the verification status in plain words (id="verification-status"):
//     every log's violations, and every release whose logged privacy spend
//     disagrees with its recomputation (tools/audit_releases.h);
//   * the logs given, who wrote them, and entry types the page does not know;
//   * per study (from the coordinator's "study_submitted"): plan hash, sites,
//     rounds, privacy mode, how it finished;
//   * participation, round by site, from "round_started" and
//     "secure_aggregation";
//   * each site's study epsilon after each round against its ceiling, as an
//     inline SVG line chart (id="epsilon-chart") from the sites'
//     "result_sent" entries;
//   * every release with its hash.
//
// Logs are untrusted input: every string taken from one is HTML-escaped, a
// missing field shows as "?", and an entry that cannot be read is skipped
// from the tables (its violation is already listed).
//
// Thread-safety: pure functions.
#ifndef COHORT_TOOLS_AUDIT_REPORT_H_
#define COHORT_TOOLS_AUDIT_REPORT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/audit/verify.h"

namespace cohort::tools {

// One log as given on the command line, and what audit::Verify said of it
// alone (its writer, its entries, its own violations).
struct AuditedLog {
  std::string path;
  audit::VerifyReport verification;
};

struct AuditReportOptions {
  // Every violation and note of all the logs verified together (each
  // against all the others, so the cross-anchors between them are checked
  // too): what the status lists.
  std::vector<audit::Violation> violations;
  std::vector<std::string> notes;
  // Whether the logs were verified against the consortium CA (--ca). Without
  // it the page says that nothing ties the signatures to the consortium.
  bool ca_given = false;
  absl::Time generated_at;  // printed on the page
};

struct AuditReport {
  std::string html;
  // Every violation of options.violations (audit::ToString) and every
  // release whose privacy spend does not check out; empty when all is well.
  std::vector<std::string> problems;
};

AuditReport BuildAuditReport(const std::vector<AuditedLog>& logs,
                             const AuditReportOptions& options);

// `text` safe inside HTML/SVG element content and quoted attribute values:
// & < > " ' escaped; control characters other than tab and newline replaced
// by U+FFFD.
std::string HtmlEscape(absl::string_view text);

}  // namespace cohort::tools

#endif  // COHORT_TOOLS_AUDIT_REPORT_H_
