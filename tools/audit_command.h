// `cohort audit ...`: reading the signed, hash-chained audit logs that the
// coordinator (<state_dir>/audit/coordinator.jsonl) and each site agent
// (<site_state_dir>/audit/site.jsonl) write (common/audit/), for privacy
// officers and operators. Logs are untrusted input: odd entries are reported,
// never a crash.
//
//   cohort audit verify LOG [--ca CA_CERT] [--against OTHER_LOG...]
//       audit::Verify: every entry signed by a certificate of the consortium
//       whose CA is CA_CERT, chained to the one before and in order; with
//       --against, LOG's references to the other logs (a site's receipts,
//       the coordinator's site anchors) agree with them. Prints a one-line
//       verdict, then each violation as "FILE:LINE (entry SEQ): WHAT", then
//       the verification's notes. Exits 0 only if there is no violation.
//
//   cohort audit privacy SITE_LOG [--ca CA_CERT] [--json]
//       Recomputes each study's epsilon after every release of a site's log
//       from the privacy events it logged, independently of the logged
//       totals (tools/audit_releases.h), and prints a table: study, entry,
//       task, kind, logged epsilon, recomputed epsilon, status. A logged
//       study_epsilon_after more than 1e-9 (relative) away from the
//       recomputed one is a mismatch, as is a release that takes the study
//       above the ceiling it logged. --json prints instead
//       {"studies": {ID: {"epsilon": E, "delta": D, "releases": N}},
//        "mismatches": [{"study", "seq", "task", "kind", "logged",
//                        "recomputed", "problem"}]}
//       with E the recomputed epsilon after the study's last release (null if
//       it cannot be recomputed) and N its private releases. Exits 0 only if
//       every release checks out and the log verifies.
//
//   cohort audit report LOG... [--ca CA_CERT] --out REPORT.html
//       Verifies each log against all the others and writes one
//       self-contained HTML page for a privacy officer (tools/audit_report.h).
//       Exits 0 only if the page found no problem; the page is written
//       either way.
//
// Every failure exits 1 with "cohort: error: ..." on stderr (see command.h):
// "LOG: 2 violations", "SITE_LOG: 1 mismatch", an unreadable file named by
// its path, or a bad flag.
#ifndef COHORT_TOOLS_AUDIT_COMMAND_H_
#define COHORT_TOOLS_AUDIT_COMMAND_H_

#include "tools/command.h"

namespace CLI {
class App;
}  // namespace CLI

namespace cohort::tools {

// Adds the `audit` command group to `app`; see command.h for `selected`.
void RegisterAuditCommands(CLI::App& app, CommandAction& selected);

}  // namespace cohort::tools

#endif  // COHORT_TOOLS_AUDIT_COMMAND_H_
