// The site-owned privacy budget ledger: every differentially private release
// that leaves a hospital is charged here, durably, before it leaves, and the
// site's own ceilings (from its own config, never from the coordinator) stop
// the release that would cross them. A restart never resets spending: the
// spend is recomputed from the ledger file each time it is opened.
//
// Usage (one worker thread of the site agent):
//
//   ASSIGN_OR_RETURN(auto ledger, PrivacyLedger::Open(path, total_ceiling));
//   if (ledger->recovered_torn_line()) LOG(...);
//   ...
//   ASSIGN_OR_RETURN(ChargeReceipt receipt, ledger->Charge(request));
//   // Only now may the release leave the site.
//
// Spending is the composition of the recorded privacy events, computed by the
// accountant (common/privacy/accountant.h): per study at the delta of that
// study's ceiling, and over all studies at the delta of the total ceiling.
//
// ## Ledger file format (for docs/privacy.md)
//
// A site's privacy ledger is one file in JSON Lines: one charge per line,
// each line ending in "\n", printable ASCII only, append-only, mode 0600 in
// a folder created 0700. Two lines (each is one line in the file):
//
//   {"seq":1,"time":"2024-05-01T12:00:00.764Z","study":"heart-disease",
//    "release":"heart-disease/stats/va","kind":"statistics",
//    "events":[{"mechanism":"gaussian","sampling_rate":1.0,
//               "noise_multiplier":20.0,"rdp_slack":0.0,"count":1}],
//    "study_epsilon_after":0.16004211960398276,"study_delta":1e-05,
//    "total_epsilon_after":0.16004211960398276,"total_delta":1e-05,
//    "accountant":"pld"}
//   {"seq":2,"time":"2024-05-01T12:03:10.121Z","study":"brca",
//    "release":"brca/r1/train/va","kind":"train",
//    "events":[{"mechanism":"gaussian","sampling_rate":0.01,
//               "noise_multiplier":1.1,"rdp_slack":0.0,"count":10},
//              {"mechanism":"discrete_gaussian_sum","sampling_rate":1.0,
//               "noise_multiplier":5.0,"rdp_slack":1e-06,"count":1}],
//    "study_epsilon_after":1.0526747418811306,"study_delta":1e-05,
//    "total_epsilon_after":1.0664247418811308,"total_delta":1e-05,
//    "accountant":"rdp"}
//
// - `seq`: 1 on the first line, then consecutive. A gap, a repeat or a
//   reordering means the file was damaged: data loss.
// - `time`: when the charge was made, RFC 3339 in UTC.
// - `study`, `release`: the study id and the release id (e.g. the task id), 1
//   to 256 printable ASCII characters. A retried task is charged again: each
//   release carries fresh noise.
// - `kind`: "statistics", "train" or "evaluate".
// - `events`: what the release cost, at least one event, each composed `count`
//   (>= 1) times. `mechanism` is "gaussian" (the Poisson-subsampled Gaussian
//   of DP-SGD or of a noised statistic) or "discrete_gaussian_sum" (the
//   distributed discrete Gaussian of secure aggregation);
//   `sampling_rate` is the Poisson rate q in (0, 1], `noise_multiplier` is
//   sigma > 0, `rdp_slack` >= 0 is the discrete sum's RDP slack (0 for
//   "gaussian").
// - `study_epsilon_after` at `study_delta` (the delta of the study's ceiling),
//   `total_epsilon_after` at `total_delta` (the delta of the site's total
//   ceiling), and `accountant` ("rdp" or "pld", whichever gave the tighter
//   study bound): the spend right after this charge, for people reading the
//   file. They are informational only: spending is always recomputed from
//   the events of all lines when the ledger is opened, never read back.
//
// Numbers are written in shortest round-trip form, so they read back bit for
// bit.
//
// Durability: a charge is one write() of its whole line followed by fsync(),
// both before Charge returns OK and the release may leave; the folder is
// fsync'ed when the ledger is opened, so the file's name is durable too. A
// last line without its final "\n" is an append that a crash interrupted:
// that charge never completed, so its release never left, and opening the
// ledger truncates it (recovered_torn_line()). A complete line always counts,
// even if the process died before Charge returned: spending errs upwards,
// never downwards. Any other malformed line makes the ledger unusable
// (DataLoss naming FILE:LINE, the file left as found), and the site then
// releases nothing until a person restores the file from a backup.
//
// Ownership: the ledger owns its file descriptor and holds an exclusive
// advisory lock (flock) on the file for its lifetime, so a second ledger on
// the same file (another site agent process, or a second Open in the same
// process) is refused.
//
// Thread-safety: thread-safe (internally locked with an absl::Mutex, held
// across the accountant's computation and the fsync); meant for one worker
// thread of the site agent, so the lock is not contended in practice.
#ifndef COHORT_COMMON_PRIVACY_LEDGER_H_
#define COHORT_COMMON_PRIVACY_LEDGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/privacy/accountant.h"
#include "common/util/clock.h"

namespace cohort::privacy {

// A ceiling the site sets in its own config: epsilon at `delta`.
// Valid when 0 < epsilon < infinity and 0 < delta < 1.
struct BudgetCeiling {
  double epsilon = 0;
  double delta = 0;
};

// InvalidArgument (naming `what`, e.g. "total ceiling") unless `ceiling` is
// valid.
absl::Status ValidateCeiling(const BudgetCeiling& ceiling, absl::string_view what);

// What has been spent: `epsilon` at `delta`, as bounded by `accountant`.
// epsilon is 0 (and accountant kRdp) when nothing has been spent.
struct Spend {
  double epsilon = 0;
  double delta = 0;
  AccountantKind accountant = AccountantKind::kRdp;
};

// One release to charge.
struct ChargeRequest {
  std::string study_id;    // 1-256 printable ASCII characters
  std::string release_id;  // e.g. the task id; for the record only, same rule
  std::string kind;        // "statistics" | "train" | "evaluate"
  // At least one; each validated as in the file format above.
  std::vector<PrivacyEvent> events;
  // The site's ceiling for this study; study epsilon is measured at its delta.
  BudgetCeiling study_ceiling;
};

// The spend before and after a charge (or a previewed charge), and the
// charge's sequence number in the ledger (1 for the first charge).
struct ChargeReceipt {
  Spend study_before;
  Spend study_after;
  Spend total_before;
  Spend total_after;
  int64_t sequence = 0;
};

class PrivacyLedger {
 public:
  // Opens the ledger file at `path`, or creates it (and any missing parent
  // folders, mode 0700; the file 0600) and makes its creation durable. The
  // site's `total_ceiling` binds the composition over all studies. `clock`
  // (not owned, must outlive the ledger) stamps each line's "time".
  //
  // Loading re-reads every line and recomputes spending from the events. A
  // torn last line (no final "\n": a crash during an append) is truncated and
  // reported by recovered_torn_line().
  //
  // Returns InvalidArgument for an invalid `total_ceiling` or a path that is
  // empty or ends in '/'; DataLoss "PATH:LINE: ..." for a malformed line or a
  // sequence gap, repeat or reordering (the file is left as found);
  // FailedPrecondition if another ledger holds the file; an errno-derived
  // status naming the path for I/O errors.
  static absl::StatusOr<std::unique_ptr<PrivacyLedger>> Open(
      const std::string& path, BudgetCeiling total_ceiling,
      const util::Clock* clock = util::RealClock::Get());

  ~PrivacyLedger();
  PrivacyLedger(const PrivacyLedger&) = delete;
  PrivacyLedger& operator=(const PrivacyLedger&) = delete;

  // What `study_id` has spent so far, measured at `delta` (the composition of
  // all its events). A study never charged has spent epsilon 0.
  // InvalidArgument unless 0 < delta < 1; accountant errors are passed on.
  absl::StatusOr<Spend> StudySpent(absl::string_view study_id, double delta) const;

  // What all studies together have spent, at the total ceiling's delta.
  // Accountant errors are passed on.
  absl::StatusOr<Spend> TotalSpent() const;

  // The receipt that Charge(request) would produce now, without side effect.
  // Returns InvalidArgument for a malformed request (ids, kind, events, study
  // ceiling); ResourceExhausted if the charge would take the study above
  // request.study_ceiling or all studies above the total ceiling, with a
  // message naming the study and the numbers, e.g. "study heart-disease: this
  // statistics release would raise epsilon from 0.93 to 1.04 (delta 1e-05),
  // above the site's ceiling of 1"; FailedPrecondition after an earlier
  // unrecoverable I/O error (reopen the ledger); accountant errors are passed
  // on.
  absl::StatusOr<ChargeReceipt> Preview(const ChargeRequest& request) const;

  // Preview(request), then appends the charge as one line and makes it
  // durable (write, then fsync) before returning. The caller releases only
  // after Charge returns OK. On any error nothing may be released: the errors
  // of Preview (nothing written), or Internal naming the path on an I/O
  // error. A failed write is truncated back, leaving the file and the ledger
  // as they were. If that truncation fails, or the fsync fails, every later
  // Preview/Charge returns FailedPrecondition until the ledger is reopened;
  // after a failed fsync the complete line may well be on disk, so it counts
  // in the spending from then on (spending never goes backwards).
  absl::StatusOr<ChargeReceipt> Charge(const ChargeRequest& request);

  // The number of charges in the ledger.
  int64_t size() const;

  // Whether Open truncated a torn last line (worth a warning in the log).
  bool recovered_torn_line() const;

  const std::string& path() const { return path_; }
  const BudgetCeiling& total_ceiling() const { return total_ceiling_; }

 private:
  // The composed events of one scope (a study, or all studies): identical
  // events are merged by adding their counts, which composition allows.
  using EventSet = std::vector<PrivacyEvent>;

  // A charge worked out: its receipt, and the events of its study and of all
  // studies once it is made.
  struct Plan {
    ChargeReceipt receipt;
    EventSet study_events;
    EventSet total_events;
  };

  PrivacyLedger(std::string path, BudgetCeiling total_ceiling, const util::Clock* clock, int fd);

  absl::Status LoadLocked(absl::string_view contents) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Plan> PreviewLocked(const ChargeRequest& request) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string FormatLine(const ChargeRequest& request, const ChargeReceipt& receipt) const;

  const std::string path_;
  const BudgetCeiling total_ceiling_;
  const util::Clock* const clock_;
  const int fd_;
  bool recovered_torn_line_ = false;

  mutable absl::Mutex mu_;
  int64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t file_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // the file's length, all complete lines
  std::map<std::string, EventSet, std::less<>> study_events_ ABSL_GUARDED_BY(mu_);
  EventSet total_events_ ABSL_GUARDED_BY(mu_);
  absl::Status broken_ ABSL_GUARDED_BY(mu_);  // set by an unrecoverable I/O error
  // The spend after the last charge, so that a preview composes only the
  // "after" side: the total, and per study (at the delta it was measured at).
  mutable std::optional<Spend> total_spent_ ABSL_GUARDED_BY(mu_);
  mutable std::map<std::string, Spend, std::less<>> study_spent_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cohort::privacy

#endif  // COHORT_COMMON_PRIVACY_LEDGER_H_
