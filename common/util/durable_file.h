// Small POSIX helpers for append-only files that must survive a crash: the
// privacy ledger (common/privacy/ledger.h) and the audit log
// (common/audit/audit_log.h). Each retries on EINTR and names the path in
// its errors.
//
// Free functions and a scope guard; thread-compatible.
#ifndef COHORT_COMMON_UTIL_DURABLE_FILE_H_
#define COHORT_COMMON_UTIL_DURABLE_FILE_H_

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cohort::util {

// The errno as a status: "PATH: STEP: strerror".
absl::Status ErrnoError(int error, absl::string_view path, absl::string_view step);
// The same as Internal, for writers whose every I/O failure must stop the
// action they record.
absl::Status IoInternal(int error, absl::string_view path, absl::string_view step);

int OpenRetryingOnEintr(const char* path, int flags, mode_t mode = 0);
// 0 on success, else the errno.
int FsyncRetryingOnEintr(int fd);
// Writes all of `data`; 0 on success, else the errno.
int WriteAll(int fd, absl::string_view data);
// Reads the whole file behind `fd` from offset 0; errors name `path`.
absl::StatusOr<std::string> ReadAll(int fd, const std::string& path);

// fsyncs a folder, making a creation, rename or deletion in it durable.
absl::Status SyncDirectory(const std::string& dir);
// Creates the missing folders of `dir` with mode 0700 (whatever the umask),
// making each creation durable in its parent.
absl::Status MakeFolders(const std::filesystem::path& dir);

// Closes a descriptor on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser();
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace cohort::util

#endif  // COHORT_COMMON_UTIL_DURABLE_FILE_H_
