#include "common/util/durable_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace cohort::util {

absl::Status ErrnoError(int error, absl::string_view path, absl::string_view step) {
  return absl::ErrnoToStatus(error, absl::StrCat(path, ": ", step));
}

absl::Status IoInternal(int error, absl::string_view path, absl::string_view step) {
  return absl::InternalError(ErrnoError(error, path, step).message());
}

int OpenRetryingOnEintr(const char* path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

int FsyncRetryingOnEintr(int fd) {
  int rc;
  do {
    rc = ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : errno;
}

int WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

absl::StatusOr<std::string> ReadAll(int fd, const std::string& path) {
  std::string contents;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof(buf), static_cast<off_t>(contents.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, path, "read failed");
    if (n == 0) return contents;
    contents.append(buf, static_cast<size_t>(n));
  }
}

FdCloser::~FdCloser() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status SyncDirectory(const std::string& dir) {
  int fd = OpenRetryingOnEintr(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, dir, "cannot open folder to fsync");
  FdCloser closer(fd);
  if (FsyncRetryingOnEintr(fd) != 0) return ErrnoError(errno, dir, "folder fsync failed");
  return absl::OkStatus();
}

absl::Status MakeFolders(const std::filesystem::path& dir) {
  std::filesystem::path prefix;
  for (const std::filesystem::path& part : dir) {
    prefix /= part;
    if (::mkdir(prefix.c_str(), 0700) == 0) {
      if (::chmod(prefix.c_str(), 0700) != 0) {
        return ErrnoError(errno, prefix.string(), "chmod of new folder failed");
      }
      std::filesystem::path parent = prefix.parent_path();
      RETURN_IF_ERROR(SyncDirectory(parent.empty() ? "." : parent.string()));
    } else if (errno != EEXIST) {
      return ErrnoError(errno, prefix.string(), "cannot create folder");
    }
  }
  return absl::OkStatus();
}

}  // namespace cohort::util
