// The heart-disease example, as the site-agent tests use it: the plan's
// bytes, and a site config from examples/heart-disease/sites/ rendered the
// way demo.sh renders it (placeholders replaced by real paths), written into
// a test's temporary folder. Tests run from the repository root.
#ifndef COHORT_TESTS_SITE_AGENT_EXAMPLE_SITE_H_
#define COHORT_TESTS_SITE_AGENT_EXAMPLE_SITE_H_

#include <filesystem>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "crypto/files.h"
#include "crypto/sha256.h"
#include "gtest/gtest.h"
#include "tests/common/util/temp_dir.h"

namespace cohort::testing {

inline constexpr char kExampleDir[] = "examples/heart-disease";

inline std::string ExampleDirAbsolute() {
  return std::filesystem::absolute(kExampleDir).lexically_normal().string();
}

// The bytes of examples/heart-disease/plan.yaml.
inline std::string ExamplePlanText() {
  absl::StatusOr<std::string> text = crypto::ReadFile(absl::StrCat(kExampleDir, "/plan.yaml"));
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : std::string();
}

// Renders sites/<site>.yaml into `dir` as <dir>/<site>.yaml with the state
// folder `dir`, coordinator port 7443 and the approved plan hash
// `plan_sha256`, then applies `edits` (literal replacements) to the result.
// The plan is copied to <dir>/plan.yaml, where the config expects it.
inline std::string RenderExampleSiteConfig(
    const TempDir& dir, const std::string& site, const std::string& plan_sha256,
    const std::vector<std::pair<std::string, std::string>>& edits = {}) {
  absl::StatusOr<std::string> tmpl =
      crypto::ReadFile(absl::StrCat(kExampleDir, "/sites/", site, ".yaml"));
  EXPECT_TRUE(tmpl.ok()) << tmpl.status();
  std::string text = absl::StrReplaceAll(tmpl.value_or(""),
                                         {{"@STATE_DIR@", dir.path()},
                                          {"@COORDINATOR_PORT@", "7443"},
                                          {"@PLAN_SHA256@", plan_sha256},
                                          {"@EXAMPLE_DIR@", ExampleDirAbsolute()}});
  EXPECT_FALSE(std::regex_search(text, std::regex("@[A-Z][A-Z0-9_]*@")))
      << "placeholder left in:\n" << text;
  for (const auto& [from, to] : edits) {
    const std::string before = text;
    text = absl::StrReplaceAll(text, {{from, to}});
    EXPECT_NE(text, before) << "edit '" << from << "' does not apply";
  }
  dir.Write("plan.yaml", ExamplePlanText());
  return dir.Write(absl::StrCat(site, ".yaml"), text);
}

}  // namespace cohort::testing

#endif  // COHORT_TESTS_SITE_AGENT_EXAMPLE_SITE_H_
