// A tamper-evident, append-only audit log: the record a hospital's site agent
// or the coordinator keeps of every action that matters (a result sent, a
// site's head received, a receipt sent), written durably BEFORE the action
// takes effect, hash-chained and signed so that anyone holding the
// consortium CA can check it (verify.h, `cohort audit verify`, or by hand
// with jq, sha256sum and openssl as docs/audit-log.md shows).
//
// Usage (one per process, e.g. <state>/audit/site.jsonl):
//
//   ASSIGN_OR_RETURN(auto log, AuditLog::Open(path, signer, cert_pem, clock));
//   ASSIGN_OR_RETURN(Entry e, log->Append("result_sent", {{"task_id", id},
//                                                         {"sha256", digest}}));
//   // Only now send the result, with e.hash and e.seq as the site's head.
//
// Format: docs/audit-log.md; one entry per line as in entry.h. Files: the
// current file is `path`; when it would grow beyond RotationPolicy::max_bytes
// it is closed with a "log_rotated" entry and renamed to path's stem +
// ".NNNNNN.jsonl" (site.000001.jsonl, site.000002.jsonl, ..., oldest first)
// and a new current file continues the chain (next seq, prev = hash of the
// "log_rotated" line). PruneRotated deletes old rotated files after recording
// what it deleted in the log, so the rest still verifies.
//
// Durability: Append writes the whole line with one write() and fsyncs the
// file before returning; the folder is fsynced whenever a file is created or
// renamed. A last line without its "\n" is an append a crash interrupted: it
// never returned, so the action it recorded never happened, and Open
// truncates it (recovered_torn_line()). Anything else malformed at the end of
// the current file makes Open fail with DataLoss naming FILE:LINE, leaving
// the file as found for a person to inspect.
//
// Ownership: the log owns its file descriptors and an exclusive flock on
// `path` + ".lock" (a separate file so that the lock survives rotation), held
// for its lifetime: a second writer on the same log is refused. The signer is
// shared; `clock` is not owned and must outlive the log.
//
// Thread-safety: thread-safe (one internal mutex, held across the write and
// the fsync, so entries are appended in the order their Appends lock it).
//
// Security: see entry.h (signatures, hash chain, what truncation needs) and
// docs/audit-log.md. The log protects against changes made after the fact by
// anyone without the writer's private key, and makes changes by the key
// holder detectable by anyone holding a later anchor of the log (verify.h).
// It does not hide anything: bodies are plain text, so never log secrets or
// patient data.
#ifndef COHORT_COMMON_AUDIT_AUDIT_LOG_H_
#define COHORT_COMMON_AUDIT_AUDIT_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/audit/entry.h"
#include "common/util/clock.h"
#include "crypto/pki.h"
#include "crypto/signature.h"
#include "nlohmann/json.hpp"

namespace cohort::audit {

struct RotationPolicy {
  // Rotate when appending an entry would take the current file beyond this
  // many bytes (a file holding a single larger entry is not split). A
  // rotated file may exceed it by its final "log_rotated" entry.
  int64_t max_bytes = 64 << 20;
};

class AuditLog {
 public:
  // Opens (or creates, with parent folders 0700 and the file 0600) the log
  // whose current file is `path`, written by the holder of `cert_pem` (a
  // Cohort certificate; its PEM goes into every entry) with `signer` (its
  // private key).
  //
  // On open: takes the lock; checks the last 64 lines of the current file
  // against each other (each a well-formed entry, seq consecutive, prev the
  // hash of the line before) and that the last entry is the same writer's;
  // continues after the last entry of the newest rotated file if the current
  // file is empty; only then truncates a torn last line (see above) and
  // completes a rotation a crash interrupted (current file ending in
  // "log_rotated"). The whole current file is read, so opening takes time in
  // proportion to max_bytes.
  //
  // Returns InvalidArgument for an empty path or one ending in '/', a null
  // signer, a certificate without a Cohort identity, a signer that does not
  // hold the certificate's key, or max_bytes <= 0; FailedPrecondition if
  // another AuditLog holds the log, if its last entry was signed by another
  // identity than `cert_pem`'s (another party's log), or if an interrupted
  // rotation cannot be completed because its target file exists; DataLoss
  // "FILE:LINE: ..." for a malformed line, a broken chain among the last
  // lines, or a rotated file that does not end in "log_rotated"; an
  // errno-derived status naming the path for I/O errors.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(
      const std::string& path, std::shared_ptr<const crypto::Signer> signer, std::string cert_pem,
      const util::Clock* clock = util::RealClock::Get(), RotationPolicy rotation = {});

  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one entry of `type` with `body` and makes it durable before
  // returning; the caller acts only after this returns OK. Rotates first if
  // the entry would take the current file beyond max_bytes: the old file
  // ends with {"type": "log_rotated", "body": {"next_file": NAME}} where
  // NAME is the name the new current file will get when it is rotated in
  // turn (the rotated file that follows the old one), and the new file's
  // first entry has the next seq and prev = the hash of that last line.
  // "time" is the clock's time to the millisecond, or the previous entry's
  // time if the clock went backwards (times never decrease).
  //
  // Returns InvalidArgument for a bad type (entry.h CheckType), the reserved
  // types "log_rotated" and "log_pruned", or a body that is not an object or
  // holds anything outside the canonical subset (entry.h CheckValue:
  // floating-point numbers, NaN, integers beyond 2^53 - 1, invalid UTF-8);
  // Internal naming the path on an I/O or signing error (the entry is then
  // not in the log: a failed write is truncated back); FailedPrecondition
  // after an earlier unrecoverable I/O error (fsync failure, a failed
  // truncation or rename) until the log is reopened.
  absl::StatusOr<Entry> Append(absl::string_view type, nlohmann::json body);

  // Append for an entry that commits to the state of the log just before it
  // (the coordinator's "receipt_sent", whose coordinator_seq and
  // coordinator_head must be the seq and hash of the entry before it): the
  // body is made by `make_body(prev_seq, prev_head)` under the log's lock,
  // so that no other append can come in between, and is made again if the
  // log rotates first (the entry before it is then the "log_rotated" one).
  // `make_body` must not call back into the log. Reading last_seq() and
  // head() and then calling Append is NOT the same: another thread, or a
  // rotation, may append in between. prev_seq is 0 and prev_head 64 zeros
  // on an empty log. Returns what Append returns.
  absl::StatusOr<Entry> AppendCommitting(
      absl::string_view type,
      absl::FunctionRef<nlohmann::json(int64_t prev_seq, const std::string& prev_head)> make_body);

  // Retention: if there are more than `keep_files` rotated files, deletes
  // the oldest ones beyond `keep_files`, after first appending (durably) an
  // entry {"type": "log_pruned", "body": {"removed": [file names, oldest
  // first], "first_seq_kept": N, "first_prev_kept": HEX}}, where N and HEX
  // are the seq and prev of the oldest entry that remains (so a verifier can
  // accept a log starting at N > 1). If that entry would not fit in the
  // current file, the log rotates first, so that `keep_files` rotated files
  // remain in any case. Does nothing when there are at most `keep_files`
  // rotated files. The current file is never deleted.
  // Returns InvalidArgument if keep_files < 0; DataLoss naming FILE:LINE if
  // the first kept file's first line is not a valid entry; otherwise the
  // errors of Append, or an errno-derived status naming a file that could
  // not be deleted (those deleted before stay deleted; the log_pruned entry
  // already names them all, and a verifier accepts the leftovers).
  absl::Status PruneRotated(int keep_files);

  // Lower-case hex SHA-256 of the last line of the log (64 zeros when the
  // log is empty): what the writer sends as its head.
  std::string head() const;
  // The seq of the last entry, 0 when the log is empty.
  int64_t last_seq() const;
  // The current file.
  const std::string& path() const { return path_; }
  // The writer's identity, from cert_pem.
  const crypto::PeerIdentity& identity() const { return identity_; }
  // Whether Open truncated a torn last line (worth a warning).
  bool recovered_torn_line() const { return recovered_torn_line_; }

 private:
  AuditLog(std::string path, std::shared_ptr<const crypto::Signer> signer, std::string cert_pem,
           crypto::PeerIdentity identity, const util::Clock* clock, RotationPolicy rotation,
           int lock_fd);

  // The steps of Open, with mu_ held (nothing else can see the object yet).
  absl::Status LoadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Truncates the current file to file_bytes_ if `torn`.
  absl::Status DropTornLineLocked(bool torn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Signs and appends one entry at the end of the current file.
  // Appends an entry whose body make_body() makes (again after a rotation).
  absl::StatusOr<Entry> AppendLocked(absl::string_view type,
                                     absl::FunctionRef<nlohmann::json()> make_body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Entry> SignNextLocked(absl::string_view type, nlohmann::json body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteLocked(const Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends "log_rotated", then FinishRotationLocked.
  absl::Status RotateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Renames the current file (which ends in "log_rotated") to rotated file
  // number pending_rotation_ and starts a new current file.
  absl::Status FinishRotationLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OpenCurrentFileLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckUsableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const std::string dir_;
  const std::shared_ptr<const crypto::Signer> signer_;
  const std::string cert_pem_;
  const crypto::PeerIdentity identity_;
  const util::Clock* const clock_;
  const RotationPolicy rotation_;
  const int lock_fd_;
  bool recovered_torn_line_ = false;  // set by Open only

  mutable absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;             // the current file, O_APPEND
  int64_t file_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // complete lines in the current file
  std::string head_ ABSL_GUARDED_BY(mu_);
  int64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The highest rotated-file index ever used (including pruned files).
  int64_t max_rotated_index_ ABSL_GUARDED_BY(mu_) = 0;
  // Nonzero while the current file ends with "log_rotated" but has not been
  // renamed yet: the index it is to get.
  int64_t pending_rotation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status broken_ ABSL_GUARDED_BY(mu_);  // an unrecoverable I/O error
};

}  // namespace cohort::audit

#endif  // COHORT_COMMON_AUDIT_AUDIT_LOG_H_
