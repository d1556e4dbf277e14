// Reading and verifying Cohort audit logs (audit_log.h; format in
// docs/audit-log.md): the library behind `cohort audit verify`.
//
// Verify reads every file of a log, oldest first, and checks, reporting each
// failure as a Violation at FILE:LINE rather than stopping:
//   - each line is a well-formed entry in canonical form (entry.h ParseEntry);
//   - seq runs 1, 2, 3, ... across all files (or from N if entries 1..N-1
//     were pruned and a log_pruned entry of the log says so);
//   - prev is the SHA-256 of the line before, across rotated files too (64
//     zeros for entry 1);
//   - time never decreases;
//   - the signature verifies with the key of the "signer" certificate, which
//     chains to the consortium CA at the entry's time;
//   - every entry is signed by the same identity (role and name), that of
//     most entries (or VerifyOptions::expected_writer);
//   - every file but the last ends with a log_rotated entry naming the file
//     that follows.
// With VerifyOptions::against, the other logs are verified the same way and
// the cross-anchors between them are checked in both directions (below), so
// a log whose end was cut off, or that was rewritten and re-signed by its own
// writer, is caught by the copies of its heads that others hold.
//
// Cross-anchors (the entries the coordinator and site agents write):
//   - a coordinator's "site_anchor" {"site", "seq", "head", "task_id"}: the
//     log of site `site` must hold entry `seq` with hash `head`, and it must
//     be that site's "result_sent" entry for `task_id`;
//   - a site's "receipt" {"round", "participants", "aggregate_sha256",
//     "coordinator_seq", "coordinator_head", "receipt_signature",
//     "coordinator_cert"}: the coordinator's log (the one whose identity is
//     that of `coordinator_cert`) must hold entry `coordinator_seq` with hash
//     `coordinator_head`, followed by the "receipt_sent" entry for this site
//     with the same round, participants, aggregate and commitment;
//   - in every log, a "receipt_sent" must commit to the entry just before it
//     (coordinator_seq = its seq - 1, coordinator_head = its prev).
// An anchor to an entry that was pruned from the other log is noted, not
// checked. The receipt's own signature (receipt_signature) is not checked
// here: its signed bytes belong to the protocol, not to this format.
//
// Security: a log that verifies proves that its entries were written, in
// this order and with these contents, by the holder of a key the consortium
// CA certified for the writer's identity, and that nothing between the first
// and the last entry was removed. It cannot prove by itself that later
// entries were not cut off, nor that the key holder did not rewrite the whole
// log: that is what the anchors held by other parties are for. Without a CA
// (empty ca_pem) signatures only prove that the entries match the
// certificates embedded in them, which anyone can make: a note says so.
// Certificate validity is checked at each entry's own (self-declared) time;
// there is no revocation checking (docs/threat-model.md).
//
// Thread-safety: the functions are thread-safe (no shared state).
#ifndef COHORT_COMMON_AUDIT_VERIFY_H_
#define COHORT_COMMON_AUDIT_VERIFY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/audit/entry.h"

namespace cohort::audit {

// The files of the log whose current file is `path`: its rotated files that
// exist, oldest first, then `path` itself if it exists.
// Returns NotFound naming `path` if there are none; an errno-derived status
// if the folder cannot be listed.
absl::StatusOr<std::vector<std::string>> LogFiles(const std::string& path);

// One failed check. `line` is 1-based (0: the file as a whole); `seq` is the
// entry's seq as written (or as expected there, if it has none; 0 if
// unknown).
struct Violation {
  std::string file = {};
  int64_t line = 0;
  int64_t seq = 0;
  std::string what = {};
};

// "FILE:LINE (entry SEQ): WHAT", leaving out what is unknown.
std::string ToString(const Violation& v);

struct VerifyOptions {
  // The consortium CA (PEM). If empty, signatures are checked against the
  // embedded certificates only and a note says so.
  std::string ca_pem = {};
  // Other logs (their current-file paths) to verify too and to check
  // cross-anchors against.
  std::vector<std::string> against = {};
  // If set (e.g. "site va"), entries of the verified log signed by anyone
  // else are violations, even if the whole log is consistently signed by
  // that someone else.
  std::string expected_writer = {};
};

struct VerifyReport {
  // Empty when everything holds. In file order for each log (the verified
  // one first, then each of `against`), then the cross-anchor checks.
  std::vector<Violation> violations;
  // Things a reader should know that are not violations, e.g. "signatures
  // not checked against a CA (no --ca)", or that entries 1..N-1 were pruned.
  std::vector<std::string> notes;
  // Lines (entries) in the verified log, well-formed or not.
  int64_t entries = 0;
  // The verified log's writer, e.g. "site va" or "coordinator localhost"
  // (the identity that signed most of its entries; empty if none could be
  // identified).
  std::string writer;
  // Every well-formed entry of the verified log, in order.
  std::vector<Entry> parsed;
};

// Verifies the log whose current file is `path` (LogFiles(path)).
// Returns an error status only when a file cannot be read (NotFound if the
// log or one of `against` does not exist) or `ca_pem` does not parse
// (InvalidArgument); every sign of tampering is a Violation in the report.
absl::StatusOr<VerifyReport> Verify(const std::string& path, const VerifyOptions& options);

// The same for a log given as an explicit list of its files, oldest first
// (e.g. copies). File-name checks of log_rotated entries apply only to files
// named as AuditLog names them.
absl::StatusOr<VerifyReport> VerifyFiles(const std::vector<std::string>& files,
                                         const VerifyOptions& options);

}  // namespace cohort::audit

#endif  // COHORT_COMMON_AUDIT_VERIFY_H_
