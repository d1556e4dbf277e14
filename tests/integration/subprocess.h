// Test support: start a real Cohort binary as a child process with its
// stderr captured to a file, wait for it (with a deadline), signal it.
#ifndef COHORT_TESTS_INTEGRATION_SUBPROCESS_H_
#define COHORT_TESTS_INTEGRATION_SUBPROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace cohort::testing {

class Subprocess {
 public:
  Subprocess() = default;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();  // kills the child (SIGKILL) if it still runs

  // Starts argv[0] with stdout and stderr appended to `log_path`.
  void Start(const std::vector<std::string>& argv, const std::string& log_path);
  // The exit status (or 128 + signal) once the child has exited, or nullopt if
  // it is still running at `deadline`.
  std::optional<int> WaitForExit(absl::Time deadline);
  void Signal(int sig);
  bool running() const { return pid_ > 0 && !exit_code_.has_value(); }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

// Waits until the file at `path` contains `needle`; false at the deadline.
bool WaitForFileContaining(const std::string& path, const std::string& needle,
                           absl::Time deadline);

std::string ReadFileOrEmpty(const std::string& path);

}  // namespace cohort::testing

#endif  // COHORT_TESTS_INTEGRATION_SUBPROCESS_H_
