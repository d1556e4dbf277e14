// Logging: in JSON format every event is one JSON object on one line with
// ts, level, program, study, round, site and msg (context fields left out
// when unknown); in text format the context reads "study=X round=N site=Y".
#include "common/util/logging.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace cohort::util {
namespace {

using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::SizeIs;

// Captures what the default logger writes to stderr while `log` runs, split
// into lines (the trailing newline of the last one removed).
LogContext Context(std::string study, int round, std::string site) {
  LogContext context;
  context.study = std::move(study);
  context.round = round;
  context.site = std::move(site);
  return context;
}

template <typename Fn>
std::vector<std::string> CaptureLines(Fn log) {
  ::testing::internal::CaptureStderr();
  log();
  spdlog::default_logger()->flush();
  std::string out = ::testing::internal::GetCapturedStderr();
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

class JsonLoggingTest : public ::testing::Test {
 protected:
  void SetUp() override { InitLogging("site:cleveland", LogFormat::kJson); }
  void TearDown() override { InitLogging("cohort", LogFormat::kText); }

  // Logs one event and returns it parsed; fails the test unless exactly one
  // line holding one JSON object was written.
  nlohmann::json LogOne(spdlog::level::level_enum level, const LogContext& context,
                        const std::string& message) {
    std::vector<std::string> lines =
        CaptureLines([&] { LogEvent(level, context, message); });
    EXPECT_THAT(lines, SizeIs(1));
    if (lines.size() != 1) return nullptr;
    nlohmann::json parsed = nlohmann::json::parse(lines[0], nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << lines[0];
    EXPECT_TRUE(parsed.is_object()) << lines[0];
    return parsed;
  }
};

TEST_F(JsonLoggingTest, EventCarriesEveryField) {
  nlohmann::json line = LogOne(spdlog::level::info,
                               Context("heart-disease", 3, "cleveland"),
                               "trained 5 steps");
  ASSERT_TRUE(line.is_object());
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["program"], "site:cleveland");
  EXPECT_EQ(line["study"], "heart-disease");
  EXPECT_EQ(line["round"], 3);
  EXPECT_EQ(line["site"], "cleveland");
  EXPECT_EQ(line["msg"], "trained 5 steps");
  ASSERT_TRUE(line["ts"].is_string());
  EXPECT_THAT(line["ts"].get<std::string>(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"));
  EXPECT_EQ(line.size(), 7u) << line.dump();
}

TEST_F(JsonLoggingTest, UnknownContextFieldsAreLeftOut) {
  nlohmann::json line = LogOne(spdlog::level::warn, {}, "no context");
  ASSERT_TRUE(line.is_object());
  EXPECT_FALSE(line.contains("study")) << line.dump();
  EXPECT_FALSE(line.contains("round")) << line.dump();
  EXPECT_FALSE(line.contains("site")) << line.dump();
  EXPECT_EQ(line["level"], "warning");
  EXPECT_EQ(line["msg"], "no context");
  EXPECT_TRUE(line.contains("ts"));
  EXPECT_TRUE(line.contains("program"));
}

TEST_F(JsonLoggingTest, RoundZeroIsKeptOnlyNegativeRoundIsLeftOut) {
  nlohmann::json zero = LogOne(spdlog::level::info, Context("s", 0, ""), "stats");
  ASSERT_TRUE(zero.is_object());
  EXPECT_EQ(zero["round"], 0);
  EXPECT_FALSE(zero.contains("site"));
  nlohmann::json negative = LogOne(spdlog::level::info, Context("s", -1, ""), "x");
  ASSERT_TRUE(negative.is_object());
  EXPECT_FALSE(negative.contains("round"));
}

TEST_F(JsonLoggingTest, QuotesNewlinesAndBackslashesAreEscapedOnOneLine) {
  const std::string message = "bad value \"abc\"\nsecond line\twith tab \\ and backslash";
  nlohmann::json line = LogOne(spdlog::level::err, Context("", -1, "va"), message);
  ASSERT_TRUE(line.is_object());
  EXPECT_EQ(line["msg"], message);
  EXPECT_EQ(line["level"], "error");
}

TEST_F(JsonLoggingTest, InvalidUtf8DoesNotBreakTheLine) {
  const std::string message = std::string("byte \xff here");
  nlohmann::json line = LogOne(spdlog::level::info, {}, message);
  ASSERT_TRUE(line.is_object());
  EXPECT_THAT(line["msg"].get<std::string>(), HasSubstr("byte "));
}

TEST_F(JsonLoggingTest, EachEventIsItsOwnLine) {
  std::vector<std::string> lines = CaptureLines([] {
    LogInfo(Context("a", -1, ""), "one");
    LogWarn(Context("b", -1, ""), "two\nstill two");
    LogError(Context("c", -1, ""), "three");
  });
  ASSERT_THAT(lines, SizeIs(3));
  std::vector<std::string> messages;
  for (const std::string& l : lines) {
    nlohmann::json parsed = nlohmann::json::parse(l, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << l;
    messages.push_back(parsed["msg"]);
  }
  EXPECT_THAT(messages, ElementsAre("one", "two\nstill two", "three"));
}

TEST_F(JsonLoggingTest, EventsBelowTheLevelAreDropped) {
  std::vector<std::string> lines =
      CaptureLines([] { LogEvent(spdlog::level::debug, {}, "too detailed"); });
  EXPECT_THAT(lines, IsEmpty());
}

class TextLoggingTest : public ::testing::Test {
 protected:
  void SetUp() override { InitLogging("coordinator", LogFormat::kText); }
  void TearDown() override { InitLogging("cohort", LogFormat::kText); }
};

TEST_F(TextLoggingTest, LineCarriesContextBeforeTheMessage) {
  std::vector<std::string> lines = CaptureLines([] {
    LogInfo(Context("heart-disease", 7, "va"), "round done");
  });
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], HasSubstr("[coordinator]"));
  EXPECT_THAT(lines[0], EndsWith("study=heart-disease round=7 site=va round done"));
  EXPECT_THAT(lines[0], HasSubstr("info"));
}

TEST_F(TextLoggingTest, UnknownContextFieldsAreLeftOut) {
  std::vector<std::string> lines =
      CaptureLines([] { LogWarn(Context("heart-disease", -1, ""), "waiting"); });
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], EndsWith("study=heart-disease waiting"));
  EXPECT_THAT(lines[0], Not(HasSubstr("round=")));
  EXPECT_THAT(lines[0], Not(HasSubstr("site=")));
}

TEST(ParseLogFormatTest, AcceptsTextAndJsonOnly) {
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  absl::StatusOr<LogFormat> bad = ParseLogFormat("xml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "--log-format: \"xml\" is not one of text, json");
}

}  // namespace
}  // namespace cohort::util
