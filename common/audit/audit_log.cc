#include "common/audit/audit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/util/durable_file.h"
#include "common/util/status_macros.h"
#include "crypto/sha256.h"

namespace cohort::audit {
namespace {

using util::ErrnoError;
using util::FdCloser;
using util::FsyncRetryingOnEintr;
using util::IoInternal;
using util::MakeFolders;
using util::OpenRetryingOnEintr;
using util::ReadAll;
using util::SyncDirectory;
using util::WriteAll;

using Json = nlohmann::json;

// How many lines at the end of the current file Open checks.
constexpr size_t kTailLines = 64;

absl::StatusOr<std::string> ReadFileAt(const std::string& path) {
  int fd = OpenRetryingOnEintr(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, path, "cannot open");
  FdCloser closer(fd);
  return ReadAll(fd, path);
}

// The lines of `contents`, without their "\n" (a last line without one
// included).
std::vector<absl::string_view> Lines(absl::string_view contents) {
  std::vector<absl::string_view> lines;
  size_t start = 0;
  while (start < contents.size()) {
    const size_t end = contents.find('\n', start);
    if (end == absl::string_view::npos) {
      lines.push_back(contents.substr(start));
      break;
    }
    lines.push_back(contents.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

absl::Status DataLossAt(absl::string_view file, size_t line, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(file, ":", line, ": ", what));
}

// Checks the last kTailLines of `lines` (the lines of `file`): each a
// well-formed entry, seq consecutive, prev the hash of the line before.
// Returns their entries.
absl::StatusOr<std::vector<Entry>> CheckTail(absl::string_view file,
                                             const std::vector<absl::string_view>& lines) {
  std::vector<Entry> entries;
  const size_t start = lines.size() > kTailLines ? lines.size() - kTailLines : 0;
  for (size_t i = start; i < lines.size(); ++i) {
    absl::StatusOr<Entry> entry = ParseEntry(lines[i]);
    if (!entry.ok()) return DataLossAt(file, i + 1, entry.status().message());
    if (!entries.empty() && entry->seq != entries.back().seq + 1) {
      return DataLossAt(file, i + 1,
                        absl::StrCat("seq ", entry->seq, " follows seq ", entries.back().seq,
                                     " (an entry is missing or out of order)"));
    }
    if (i > 0 && entry->prev != crypto::Sha256Hex(lines[i - 1])) {
      return DataLossAt(file, i + 1,
                        "\"prev\" is not the hash of the line before (the chain is broken)");
    }
    entries.push_back(*std::move(entry));
  }
  return entries;
}

}  // namespace

AuditLog::AuditLog(std::string path, std::shared_ptr<const crypto::Signer> signer,
                   std::string cert_pem, crypto::PeerIdentity identity, const util::Clock* clock,
                   RotationPolicy rotation, int lock_fd)
    : path_(std::move(path)),
      dir_([this] {
        const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
        return parent.empty() ? std::string(".") : parent.string();
      }()),
      signer_(std::move(signer)),
      cert_pem_(std::move(cert_pem)),
      identity_(std::move(identity)),
      clock_(clock),
      rotation_(rotation),
      lock_fd_(lock_fd),
      head_(kZeroHash) {}

AuditLog::~AuditLog() {
  {
    absl::MutexLock lock(&mu_);
    if (fd_ >= 0) ::close(fd_);
  }
  ::close(lock_fd_);  // releases the flock
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(
    const std::string& path, std::shared_ptr<const crypto::Signer> signer, std::string cert_pem,
    const util::Clock* clock, RotationPolicy rotation) {
  if (path.empty() || path.back() == '/') {
    return absl::InvalidArgumentError(absl::StrCat("\"", path, "\" is not a file path"));
  }
  if (signer == nullptr) return absl::InvalidArgumentError("audit log: no signer");
  if (clock == nullptr) return absl::InvalidArgumentError("audit log: no clock");
  if (rotation.max_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit log rotation: max_bytes ", rotation.max_bytes, " is not positive"));
  }
  absl::StatusOr<crypto::PeerIdentity> identity = crypto::IdentityFromCertificatePem(cert_pem);
  if (!identity.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit log certificate: ", identity.status().message()));
  }
  // A log signed with a key that is not the certificate's would fail every
  // verification; refuse it now rather than write it.
  constexpr absl::string_view kProbe = "cohort audit log: does the key match the certificate?";
  ASSIGN_OR_RETURN(std::string probe_signature, signer->Sign(kProbe));
  if (!VerifyWithCertificateKey(cert_pem, kProbe, probe_signature).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit log: the signing key is not the key of the certificate of ",
                     IdentityString(*identity)));
  }

  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  RETURN_IF_ERROR(MakeFolders(parent));
  const std::string lock_path = path + ".lock";
  int lock_fd = OpenRetryingOnEintr(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return ErrnoError(errno, lock_path, "cannot open the audit log's lock file");
  FdCloser closer(lock_fd);
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat(path,
                       ": the audit log is in use by another writer (another process on the same "
                       "state folder?)"));
    }
    return ErrnoError(errno, lock_path, "cannot lock the audit log");
  }

  std::unique_ptr<AuditLog> log(new AuditLog(path, std::move(signer), std::move(cert_pem),
                                             *std::move(identity), clock, rotation,
                                             closer.Release()));
  absl::MutexLock lock(&log->mu_);
  RETURN_IF_ERROR(log->LoadLocked());
  return log;
}

absl::Status AuditLog::OpenCurrentFileLocked() {
  int fd = OpenRetryingOnEintr(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError(errno, path_, "cannot open the audit log");
  fd_ = fd;
  // Whoever created the file, its name must be durable before any entry is
  // (a creator may have crashed before syncing the folder); this is cheap.
  return SyncDirectory(dir_);
}

absl::Status AuditLog::LoadLocked() {
  RETURN_IF_ERROR(OpenCurrentFileLocked());
  ASSIGN_OR_RETURN(std::string contents, ReadAll(fd_, path_));
  // A last line without its "\n" is dropped below, once the rest has been
  // found sound (a log refused as malformed is left exactly as found).
  const size_t last_newline = contents.rfind('\n');
  const size_t complete = last_newline == std::string::npos ? 0 : last_newline + 1;
  const bool torn = complete < contents.size();
  contents.resize(complete);
  file_bytes_ = static_cast<int64_t>(contents.size());
  const std::vector<absl::string_view> lines = Lines(contents);
  ASSIGN_OR_RETURN(std::vector<Entry> tail, CheckTail(path_, lines));

  // Rotated-file numbers are never reused, including those of pruned files,
  // which only the log_pruned entries of the current file remember.
  ASSIGN_OR_RETURN(std::vector<RotatedFile> rotated, ListRotatedFiles(path_));
  if (!rotated.empty()) max_rotated_index_ = rotated.back().index;
  for (absl::string_view line : lines) {
    if (!absl::StrContains(line, "\"type\":\"log_pruned\"")) continue;
    absl::StatusOr<Entry> entry = ParseEntry(line);
    if (!entry.ok() || entry->type != kLogPrunedType) continue;
    const Json& removed = entry->body.contains("removed") ? entry->body["removed"] : Json();
    for (const Json& name : removed) {
      if (name.is_string()) {
        max_rotated_index_ =
            std::max(max_rotated_index_, RotatedFileIndex(path_, name.get<std::string>()));
      }
    }
  }

  // The entry to continue after: the current file's last, or (a new current
  // file, or a crash between a rename and the next append) the newest
  // rotated file's, which must be its "log_rotated".
  std::optional<Entry> last;
  if (!tail.empty()) {
    last = tail.back();
  } else if (!rotated.empty()) {
    const std::string& file = rotated.back().path;
    ASSIGN_OR_RETURN(std::string old, ReadFileAt(file));
    if (!old.empty() && old.back() != '\n') {
      return DataLossAt(file, Lines(old).size(), "a rotated file ends in an incomplete line");
    }
    const std::vector<absl::string_view> old_lines = Lines(old);
    ASSIGN_OR_RETURN(std::vector<Entry> old_tail, CheckTail(file, old_lines));
    if (old_tail.empty() || old_tail.back().type != kLogRotatedType) {
      return DataLossAt(file, old_lines.size(),
                        "a rotated file does not end in a log_rotated entry");
    }
    last = old_tail.back();
  }
  if (!last.has_value()) return DropTornLineLocked(torn);  // a new log

  absl::StatusOr<crypto::PeerIdentity> writer =
      crypto::IdentityFromCertificatePem(last->signer_pem);
  if (!writer.ok() || *writer != identity_) {
    return absl::FailedPreconditionError(absl::StrCat(
        path_, ": the audit log was written by ",
        writer.ok() ? IdentityString(*writer) : std::string("an unidentifiable signer"),
        ", not by ", IdentityString(identity_), " (another party's log?)"));
  }
  head_ = last->hash;
  last_seq_ = last->seq;
  ASSIGN_OR_RETURN(last_time_, ParseEntryTime(last->time));
  RETURN_IF_ERROR(DropTornLineLocked(torn));
  if (!tail.empty() && last->type == kLogRotatedType) {
    // A crash between appending "log_rotated" and renaming the file.
    const Json& next = last->body.contains("next_file") ? last->body["next_file"] : Json();
    const int64_t next_index =
        next.is_string() ? RotatedFileIndex(path_, next.get<std::string>()) : 0;
    if (next_index < 2) {
      return DataLossAt(path_, lines.size(), "log_rotated entry without a valid \"next_file\"");
    }
    pending_rotation_ = next_index - 1;
    RETURN_IF_ERROR(FinishRotationLocked());
  }
  return absl::OkStatus();
}

absl::Status AuditLog::DropTornLineLocked(bool torn) {
  if (!torn) return absl::OkStatus();
  // The append that a crash interrupted never returned, so what it recorded
  // never happened: drop it, durably, before appending after it.
  if (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0) {
    return ErrnoError(errno, path_, "cannot truncate the torn last line");
  }
  if (int error = FsyncRetryingOnEintr(fd_); error != 0) {
    return ErrnoError(error, path_, "fsync after truncating the torn last line failed");
  }
  recovered_torn_line_ = true;
  return absl::OkStatus();
}

absl::Status AuditLog::CheckUsableLocked() const {
  if (!broken_.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": an earlier write to the audit log failed (", broken_.message(),
                     "); reopen the log before appending again"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Entry> AuditLog::Append(absl::string_view type, Json body) {
  if (type == kLogRotatedType || type == kLogPrunedType) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry type \"", type, "\" is reserved for the audit log itself"));
  }
  absl::MutexLock lock(&mu_);
  return AppendLocked(type, [&body] { return body; });
}

absl::StatusOr<Entry> AuditLog::AppendCommitting(
    absl::string_view type,
    absl::FunctionRef<Json(int64_t prev_seq, const std::string& prev_head)> make_body) {
  if (type == kLogRotatedType || type == kLogPrunedType) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry type \"", type, "\" is reserved for the audit log itself"));
  }
  absl::MutexLock lock(&mu_);
  return AppendLocked(type,
                      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return make_body(last_seq_, head_); });
}

absl::StatusOr<Entry> AuditLog::AppendLocked(absl::string_view type,
                                             absl::FunctionRef<Json()> make_body) {
  RETURN_IF_ERROR(CheckUsableLocked());
  if (pending_rotation_ != 0) RETURN_IF_ERROR(FinishRotationLocked());
  ASSIGN_OR_RETURN(Entry entry, SignNextLocked(type, make_body()));
  if (file_bytes_ > 0 &&
      file_bytes_ + static_cast<int64_t>(entry.line.size()) + 1 > rotation_.max_bytes) {
    RETURN_IF_ERROR(RotateLocked());
    ASSIGN_OR_RETURN(entry, SignNextLocked(type, make_body()));
  }
  RETURN_IF_ERROR(WriteLocked(entry));
  return entry;
}

absl::StatusOr<Entry> AuditLog::SignNextLocked(absl::string_view type, Json body) {
  const absl::Time now = std::max(clock_->Now(), last_time_);
  absl::StatusOr<Entry> entry = SignEntry(last_seq_ + 1, FormatEntryTime(now), head_, type,
                                          std::move(body), *signer_, cert_pem_);
  if (!entry.ok() && !absl::IsInvalidArgument(entry.status())) {
    return absl::InternalError(
        absl::StrCat(path_, ": signing an audit entry failed: ", entry.status().message()));
  }
  return entry;
}

absl::Status AuditLog::WriteLocked(const Entry& entry) {
  const std::string data = entry.line + "\n";
  if (int error = WriteAll(fd_, data); error != 0) {
    // A partial line has no final "\n", so it would read back as torn, never
    // as an entry; truncating keeps the file as it was for the next append.
    if (::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0) {
      broken_ = IoInternal(errno, path_, "truncation after a failed write failed");
    }
    return IoInternal(error, path_, "appending an audit entry failed (do not go ahead)");
  }
  // The entry is in the file, if perhaps not yet on disk; what follows must
  // chain to it whatever fsync says.
  head_ = entry.hash;
  last_seq_ = entry.seq;
  last_time_ = *ParseEntryTime(entry.time);  // SignEntry checked it
  file_bytes_ += static_cast<int64_t>(data.size());
  if (int error = FsyncRetryingOnEintr(fd_); error != 0) {
    broken_ = IoInternal(error, path_, "fsync failed");
    return IoInternal(error, path_, "fsync of an audit entry failed (do not go ahead)");
  }
  return absl::OkStatus();
}

absl::Status AuditLog::RotateLocked() {
  const int64_t index = max_rotated_index_ + 1;
  const std::string next_file =
      std::filesystem::path(RotatedFilePath(path_, index + 1)).filename().string();
  ASSIGN_OR_RETURN(Entry rotated, SignNextLocked(kLogRotatedType, Json{{"next_file", next_file}}));
  RETURN_IF_ERROR(WriteLocked(rotated));
  pending_rotation_ = index;
  return FinishRotationLocked();
}

absl::Status AuditLog::FinishRotationLocked() {
  const std::string target = RotatedFilePath(path_, pending_rotation_);
  struct stat st;
  if (::lstat(target.c_str(), &st) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": cannot rotate the audit log: ", target, " already exists"));
  }
  if (::rename(path_.c_str(), target.c_str()) != 0) {
    // Nothing changed; the next append tries again.
    return IoInternal(errno, path_, absl::StrCat("cannot rename the audit log to ", target));
  }
  ::close(fd_);
  fd_ = -1;
  max_rotated_index_ = std::max(max_rotated_index_, pending_rotation_);
  pending_rotation_ = 0;
  file_bytes_ = 0;
  if (absl::Status s = SyncDirectory(dir_); !s.ok()) {
    broken_ = absl::InternalError(s.message());
    return broken_;
  }
  int fd =
      OpenRetryingOnEintr(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    broken_ = IoInternal(errno, path_, "cannot create the new audit log file after rotation");
    return broken_;
  }
  fd_ = fd;
  if (absl::Status s = SyncDirectory(dir_); !s.ok()) {
    broken_ = absl::InternalError(s.message());
    return broken_;
  }
  return absl::OkStatus();
}

absl::Status AuditLog::PruneRotated(int keep_files) {
  if (keep_files < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit log retention: keep_files ", keep_files, " is negative"));
  }
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckUsableLocked());
  if (pending_rotation_ != 0) RETURN_IF_ERROR(FinishRotationLocked());
  // Twice at most: if the log_pruned entry does not fit in the current file,
  // rotate first and work out what to remove again (one more rotated file).
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(std::vector<RotatedFile> rotated, ListRotatedFiles(path_));
    if (rotated.size() <= static_cast<size_t>(keep_files)) return absl::OkStatus();
    const size_t remove = rotated.size() - static_cast<size_t>(keep_files);

    // The oldest entry that stays: the first of the oldest kept file, or of
    // the current file, or (an empty current file) the log_pruned entry
    // itself.
    int64_t first_seq = last_seq_ + 1;
    std::string first_prev = head_;
    const std::string first_file = remove < rotated.size() ? rotated[remove].path : path_;
    std::string first_line;
    {
      std::ifstream in(first_file, std::ios::binary);
      if (!in) return ErrnoError(errno, first_file, "cannot open");
      std::getline(in, first_line);
      if (!first_line.empty() && in.eof()) {
        return DataLossAt(first_file, 1, "the first line is incomplete");
      }
    }
    if (!first_line.empty()) {
      absl::StatusOr<Entry> first = ParseEntry(first_line);
      if (!first.ok()) return DataLossAt(first_file, 1, first.status().message());
      first_seq = first->seq;
      first_prev = first->prev;
    }

    Json names = Json::array();
    for (size_t i = 0; i < remove; ++i) {
      names.push_back(std::filesystem::path(rotated[i].path).filename().string());
    }
    ASSIGN_OR_RETURN(Entry entry,
                     SignNextLocked(kLogPrunedType, Json{{"removed", std::move(names)},
                                                         {"first_seq_kept", first_seq},
                                                         {"first_prev_kept", first_prev}}));
    if (attempt == 0 && file_bytes_ > 0 &&
        file_bytes_ + static_cast<int64_t>(entry.line.size()) + 1 > rotation_.max_bytes) {
      RETURN_IF_ERROR(RotateLocked());
      continue;
    }
    RETURN_IF_ERROR(WriteLocked(entry));
    for (size_t i = 0; i < remove; ++i) {
      if (::unlink(rotated[i].path.c_str()) != 0 && errno != ENOENT) {
        return ErrnoError(errno, rotated[i].path, "cannot delete a rotated audit log file");
      }
    }
    return SyncDirectory(dir_);
  }
}

std::string AuditLog::head() const {
  absl::MutexLock lock(&mu_);
  return head_;
}

int64_t AuditLog::last_seq() const {
  absl::MutexLock lock(&mu_);
  return last_seq_;
}

}  // namespace cohort::audit
