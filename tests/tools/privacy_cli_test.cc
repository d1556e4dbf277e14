// Runs `cohort privacy ...` end to end and checks what it prints against the
// accountant library and the published DP-SGD value.
#include <string>
#include <vector>

#include "common/privacy/accountant.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/tools/cli_runner.h"

namespace cohort::tools {
namespace {

using ::cohort::tools::testing::CliResult;
using ::cohort::tools::testing::CliRunner;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// MNIST DP-SGD: batch 150 of 60000, sigma 1.3, 6000 steps (15 epochs),
// delta 1e-5: RDP epsilon 0.72422.
const std::vector<std::string> kPublishedCase = {
    "privacy", "epsilon", "--sampling-rate", "0.0025", "--noise-multiplier", "1.3",
    "--steps", "6000",    "--delta",         "1e-5"};
constexpr double kPublishedRdpEpsilon = 0.72422;

std::vector<std::string> With(std::vector<std::string> args,
                              const std::vector<std::string>& extra) {
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Keeps the keys in printed order.
nlohmann::ordered_json ParseJson(const CliResult& r) {
  nlohmann::ordered_json j =
      nlohmann::ordered_json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.out;
  return j;
}

std::vector<std::string> Keys(const nlohmann::ordered_json& j) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  return keys;
}

TEST(PrivacyCliTest, EpsilonJsonWithRdpMatchesThePublishedValue) {
  CliRunner cli;
  CliResult r = cli.Run(With(kPublishedCase, {"--accountant", "rdp", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  const nlohmann::ordered_json j = ParseJson(r);
  EXPECT_THAT(Keys(j), ElementsAre("epsilon", "delta", "accountant"));
  EXPECT_NEAR(j["epsilon"].get<double>(), kPublishedRdpEpsilon, 0.005 * kPublishedRdpEpsilon);
  EXPECT_EQ(j["delta"].get<double>(), 1e-5);
  EXPECT_EQ(j["accountant"], "rdp");
}

TEST(PrivacyCliTest, EpsilonDefaultsToTheTighterAccountant) {
  CliRunner cli;
  CliResult r = cli.Run(With(kPublishedCase, {"--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::ordered_json j = ParseJson(r);
  const privacy::PrivacyEvent event{
      .sampling_rate = 0.0025, .noise_multiplier = 1.3, .count = 6000};
  absl::StatusOr<privacy::EpsilonBound> expected = privacy::Epsilon({&event, 1}, 1e-5);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(j["accountant"].get<std::string>(), privacy::AccountantName(expected->accountant));
  EXPECT_NEAR(j["epsilon"].get<double>(), expected->epsilon, 1e-12);
  EXPECT_LT(j["epsilon"].get<double>(), kPublishedRdpEpsilon);
}

TEST(PrivacyCliTest, EpsilonPrintsOneReadableLine) {
  CliRunner cli;
  CliResult r = cli.Run(With(kPublishedCase, {"--accountant", "rdp"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "epsilon = 0.7242 at delta = 1e-05 (rdp accountant; sampling rate 0.0025, noise "
            "multiplier 1.3, 6000 steps)\n");
}

TEST(PrivacyCliTest, NoiseFindsTheSigmaOfThePublishedCase) {
  CliRunner cli;
  CliResult r =
      cli.Run({"privacy", "noise", "--epsilon", "0.72422", "--delta", "1e-5", "--sampling-rate",
               "0.0025", "--steps", "6000", "--accountant", "rdp", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::ordered_json j = ParseJson(r);
  EXPECT_THAT(Keys(j), ElementsAre("noise_multiplier", "epsilon", "delta", "sampling_rate", "steps",
                                   "accountant"));
  EXPECT_NEAR(j["noise_multiplier"].get<double>(), 1.3, 0.002 * 1.3);
  EXPECT_EQ(j["steps"], 6000);
  EXPECT_EQ(j["accountant"], "rdp");

  // Without --accountant, the smaller of the two answers (the PLD's).
  r = cli.Run({"privacy", "noise", "--epsilon", "0.72422", "--delta", "1e-5", "--sampling-rate",
               "0.0025", "--steps", "6000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("(pld accountant)"));
  EXPECT_THAT(r.out, HasSubstr("noise multiplier 1.2"));
}

struct BadArgsCase {
  std::string name;
  std::vector<std::string> args;
  std::string message;
};

TEST(PrivacyCliTest, BadArgumentsNameTheFlagAndExitOne) {
  const std::vector<BadArgsCase> cases = {
      {.name = "rate above 1",
       .args = {"privacy", "epsilon", "--sampling-rate", "1.5", "--noise-multiplier", "1",
                "--steps", "10", "--delta", "1e-5"},
       .message = "--sampling-rate: must be in (0, 1], got 1.5"},
      {.name = "zero noise",
       .args = {"privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier", "0",
                "--steps", "10", "--delta", "1e-5"},
       .message = "--noise-multiplier"},
      {.name = "zero steps",
       .args = {"privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier", "1",
                "--steps", "0", "--delta", "1e-5"},
       .message = "--steps: must be >= 1"},
      {.name = "delta 1",
       .args = {"privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier", "1",
                "--steps", "10", "--delta", "1"},
       .message = "--delta: must be in (0, 1)"},
      {.name = "unknown accountant",
       .args = {"privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier", "1",
                "--steps", "10", "--delta", "1e-5", "--accountant", "moments"},
       .message = "--accountant"},
      {.name = "missing delta",
       .args = {"privacy", "epsilon", "--sampling-rate", "0.1", "--noise-multiplier", "1",
                "--steps", "10"},
       .message = "--delta is required"},
      {.name = "negative epsilon",
       .args = {"privacy", "noise", "--epsilon", "-1", "--delta", "1e-5", "--sampling-rate", "0.1",
                "--steps", "10"},
       .message = "--epsilon: must be finite and > 0"},
      {.name = "steps not a number",
       .args = {"privacy", "noise", "--epsilon", "1", "--delta", "1e-5", "--sampling-rate", "0.1",
                "--steps", "many"},
       .message = "--steps"},
  };
  CliRunner cli;
  for (const BadArgsCase& c : cases) {
    SCOPED_TRACE(c.name);
    CliResult r = cli.Run(c.args);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_THAT(r.out, IsEmpty());
  }
}

}  // namespace
}  // namespace cohort::tools
