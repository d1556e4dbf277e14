// Where the data tests find their fixtures and the heart-disease example.
// cohort_cc_test runs tests from the repository root and sets
// COHORT_SOURCE_DIR to it; both are honoured so a test binary also runs by
// hand from the root.
#ifndef COHORT_TESTS_COMMON_DATA_TEST_PATHS_H_
#define COHORT_TESTS_COMMON_DATA_TEST_PATHS_H_

#include <cstdlib>
#include <filesystem>
#include <string>

namespace cohort::data::testing {

inline std::string SourceDir() {
  const char* dir = std::getenv("COHORT_SOURCE_DIR");
  return dir != nullptr && *dir != '\0' ? std::string(dir) : std::string(".");
}

// The fixture directory, as a base dir for ParseDataSource. Error messages
// name files as this prefix + "/" + file name.
inline std::string TestDataDir() {
  return SourceDir() + "/tests/common/data/testdata";
}

// The path by which errors name fixture `name` (ParseDataSource normalizes
// the paths it resolves).
inline std::string TestDataFile(const std::string& name) {
  return std::filesystem::path(TestDataDir() + "/" + name)
      .lexically_normal()
      .string();
}

inline std::string HeartDiseaseDir() {
  return SourceDir() + "/examples/heart-disease";
}

}  // namespace cohort::data::testing

#endif  // COHORT_TESTS_COMMON_DATA_TEST_PATHS_H_
