// What left a site, read back from the site's audit log: its "result_sent"
// entries, with the epsilon of every differentially private release
// recomputed from the privacy events the site logged, independently of the
// totals the site logged beside them. Shared by `cohort audit privacy` and
// `cohort audit report` (tools/audit_command.h).
//
// Log bodies are untrusted input. Everything here tolerates missing fields,
// fields of the wrong type and unknown values: they are reported (as "?" for
// display, as a Release::problem for the privacy check), never a crash and
// never an exception.
//
// The recomputation: a study's epsilon after a release is the composition of
// the events of that release and of every earlier release of the same study
// in the same log, by privacy::Epsilon() (the tighter of the RDP and PLD
// bounds, as the site's ledger computes it; common/privacy/ledger.h) at the
// delta the release logged. The logged `study_epsilon_after` must agree with
// it to kEpsilonRelativeTolerance, and it must not lie above the ceiling the
// release logged (a site's ledger refuses such a release before it leaves).
//
// Thread-safety: pure functions.
#ifndef COHORT_TOOLS_AUDIT_RELEASES_H_
#define COHORT_TOOLS_AUDIT_RELEASES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/audit/audit_log.h"
#include "nlohmann/json.hpp"

namespace cohort::tools {

// How far a logged epsilon may lie from the recomputed one, relative to the
// larger of the two.
inline constexpr double kEpsilonRelativeTolerance = 1e-9;

// `body[key]` for display: a string as it is, a number or boolean as JSON, an
// array of scalars joined with ", "; "?" if `body` is not an object or the
// field is missing, null or anything else.
std::string BodyText(const nlohmann::json& body, absl::string_view key);

// `body[key]` if it is a number, or a string holding one ("0.93", "1e-05",
// "inf"; not NaN). Audit entries hold no floating-point JSON numbers
// (common/audit/entry.h), so fractions such as epsilon and delta are logged
// as strings.
std::optional<double> BodyNumber(const nlohmann::json& body, absl::string_view key);
// `body[key]` if it is an integer (a JSON integer, not a string).
std::optional<int64_t> BodyInteger(const nlohmann::json& body, absl::string_view key);

// One "result_sent" entry of a site log.
struct Release {
  int64_t seq = 0;    // of the log entry
  std::string time;   // as logged
  std::string study;  // "?" when missing, as are task, kind and sha256
  std::string task;
  std::string kind;
  std::string sha256;
  std::optional<int64_t> round;
  std::optional<int64_t> bytes;

  // Whether the entry carries a "privacy" object: a release charged to the
  // site's ledger. The fields below are for such releases only.
  bool is_private = false;
  std::optional<double> delta;
  std::optional<double> ceiling;             // the site's epsilon ceiling for the study
  std::optional<double> logged_epsilon;      // privacy.study_epsilon_after
  std::optional<double> recomputed_epsilon;  // see the file comment
  std::string accountant;                    // of the recomputation: "rdp" | "pld"
  // Empty when the logged and the recomputed epsilon agree and stay within
  // the ceiling; otherwise why not, or why they could not be compared
  // (unreadable events, a missing delta or epsilon, an earlier unreadable
  // release of the study).
  std::string problem;
};

// The "result_sent" entries of `entries` (one log, in log order), each
// private one checked as described above.
std::vector<Release> ReadReleases(const std::vector<audit::Entry>& entries);

}  // namespace cohort::tools

#endif  // COHORT_TOOLS_AUDIT_RELEASES_H_
