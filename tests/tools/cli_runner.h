// Runs the built `cohort` binary ($COHORT_BIN_DIR/cohort, set by
// cohort_cc_test) as a child process, for end-to-end CLI tests.
//
// Ownership: a CliRunner owns a fresh temporary directory (removed on
// destruction) where the child's stdout and stderr are captured.
// Thread-safety: none; one runner per test.
#ifndef COHORT_TESTS_TOOLS_CLI_RUNNER_H_
#define COHORT_TESTS_TOOLS_CLI_RUNNER_H_

#include <string>
#include <vector>

namespace cohort::tools::testing {

struct CliResult {
  int exit_code = -1;  // 128 + signal if the child was killed.
  std::string out;
  std::string err;
};

class CliRunner {
 public:
  // Fails the current test (and leaves binary() empty) if COHORT_BIN_DIR is
  // unset or the binary is missing.
  CliRunner();
  ~CliRunner();
  CliRunner(const CliRunner&) = delete;
  CliRunner& operator=(const CliRunner&) = delete;

  const std::string& binary() const { return binary_; }
  const std::string& dir() const { return dir_; }

  // Runs `cohort args...` without a shell, waits for it, and returns its exit
  // code and output (written to files so a chatty child never blocks).
  CliResult Run(std::vector<std::string> args) const;

 private:
  std::string binary_;
  std::string dir_;
};

}  // namespace cohort::tools::testing

#endif  // COHORT_TESTS_TOOLS_CLI_RUNNER_H_
