#include "crypto/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "absl/strings/str_cat.h"

namespace cohort::crypto {
namespace {

absl::Status ErrnoError(int error, const std::string& path, absl::string_view step) {
  return absl::ErrnoToStatus(error, absl::StrCat(path, ": ", step));
}

// Closes a descriptor on scope exit unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  // Closes now and reports close()'s errno (0 on success); close errors on
  // a written file can mean lost data, so writers check them.
  int CloseNow() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

int OpenRetryingOnEintr(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, absl::string_view contents, const std::string& path) {
  while (!contents.empty()) {
    ssize_t n = ::write(fd, contents.data(), contents.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, path, "write failed");
    contents.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Writes, syncs and closes the already-created temporary file.
absl::Status FillTempFile(int fd, absl::string_view contents, mode_t mode,
                          const std::string& tmp_path) {
  FdCloser closer(fd);
  // open() applied the umask; fchmod() does not, so the file ends up with
  // exactly `mode` (never more permissive than requested at any point).
  if (::fchmod(fd, mode) != 0) return ErrnoError(errno, tmp_path, "fchmod failed");
  if (absl::Status s = WriteAll(fd, contents, tmp_path); !s.ok()) return s;
  if (::fsync(fd) != 0) return ErrnoError(errno, tmp_path, "fsync failed");
  if (int error = closer.CloseNow(); error != 0) {
    return ErrnoError(error, tmp_path, "close failed");
  }
  return absl::OkStatus();
}

absl::Status SyncDirectory(const std::string& dir) {
  int fd = OpenRetryingOnEintr(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, dir, "cannot open directory to fsync");
  FdCloser closer(fd);
  if (::fsync(fd) != 0) return ErrnoError(errno, dir, "directory fsync failed");
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents, mode_t mode) {
  if (path.empty() || path.back() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", path, "\" is not a file path"));
  }
  const std::string dir = DirectoryOf(path);
  const std::string base = path.substr(path.rfind('/') + 1);

  // A per-process counter plus O_EXCL keeps concurrent writers (threads or
  // processes) from ever sharing a temporary file.
  static std::atomic<uint64_t> counter{0};
  std::string tmp_path;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp_path = absl::StrCat(dir, "/.", base, ".tmp.", ::getpid(), ".",
                            counter.fetch_add(1, std::memory_order_relaxed));
    fd = OpenRetryingOnEintr(tmp_path.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0 && errno != EEXIST) {
      return ErrnoError(errno, path, "cannot create temporary file in directory");
    }
  }
  if (fd < 0) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, ": no free temporary file name in ", dir));
  }

  absl::Status status = FillTempFile(fd, contents, mode, tmp_path);
  if (status.ok() && ::rename(tmp_path.c_str(), path.c_str()) != 0) {
    status = ErrnoError(errno, path, "rename from temporary file failed");
  }
  if (!status.ok()) {
    ::unlink(tmp_path.c_str());
    return status;
  }
  return SyncDirectory(dir);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = OpenRetryingOnEintr(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, path, "cannot open");
  FdCloser closer(fd);
  std::string contents;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, path, "read failed");
    if (n == 0) break;
    contents.append(buf, static_cast<size_t>(n));
  }
  return contents;
}

}  // namespace cohort::crypto
