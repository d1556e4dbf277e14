// A fresh, private temporary folder per test (never a fixed /tmp path, so
// tests can run in parallel), removed with everything in it on destruction.
#ifndef COHORT_TESTS_COMMON_UTIL_TEMP_DIR_H_
#define COHORT_TESTS_COMMON_UTIL_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace cohort::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "cohort-test.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp(" << pattern << ") failed";
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

  // path()/relative, lexically normalized.
  std::string Path(absl::string_view relative) const {
    return (std::filesystem::path(path_) / std::string(relative)).lexically_normal().string();
  }

  // Writes `contents` to path()/relative (creating folders); returns its path.
  std::string Write(absl::string_view relative, absl::string_view contents) const {
    const std::string file = Path(relative);
    std::filesystem::create_directories(std::filesystem::path(file).parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    if (!out) ADD_FAILURE() << "cannot write " << file;
    return file;
  }

 private:
  std::string path_;
};

}  // namespace cohort::testing

#endif  // COHORT_TESTS_COMMON_UTIL_TEMP_DIR_H_
