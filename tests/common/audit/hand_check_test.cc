// Runs the by-hand check of docs/audit-log.md (tests/common/audit/
// hand_check.sh: jq, sha256sum and openssl through /bin/sh) on logs the
// library wrote, so the documented commands and the format cannot drift
// apart: it must accept an honest log, bodies full of escapes, Unicode and
// large integers included, and refuse tampered ones.
#include <stdio.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/audit/audit_log.h"
#include "common/audit/verify.h"
#include "crypto/files.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/audit/audit_test_util.h"

namespace cohort::audit {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Json = nlohmann::json;
using testing::AuditTest;
using testing::ReadLines;
using testing::WriteLines;

constexpr char kScript[] = "tests/common/audit/hand_check.sh";

std::string Quote(const std::string& s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"'", "'\\''"}}), "'");
}

struct Outcome {
  int exit_code = -1;
  std::string output;
};

// Runs `command` with /bin/sh, stderr merged into stdout.
Outcome Shell(const std::string& command) {
  Outcome outcome;
  FILE* pipe = ::popen(absl::StrCat(command, " 2>&1").c_str(), "r");
  if (pipe == nullptr) return outcome;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) outcome.output.append(buf, n);
  const int status = ::pclose(pipe);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

class HandCheckTest : public AuditTest {
 protected:
  void SetUp() override {
    for (const char* tool : {"jq", "openssl", "sha256sum"}) {
      if (Shell(absl::StrCat("command -v ", tool)).exit_code != 0) {
        GTEST_FAIL() << tool
                     << " is not installed, so the by-hand check of docs/audit-log.md cannot "
                        "run. Install it (Debian: apt-get install "
                     << (std::string(tool) == "sha256sum" ? "coreutils" : tool) << ").";
      }
    }
    ca_path_ = dir_.Path("ca.crt");
    ASSERT_TRUE(crypto::WriteFileAtomically(ca_path_, pki_.ca.cert_pem, 0644).ok());
  }

  // A log whose bodies exercise everything the canonical form must get
  // right: escapes, control characters, non-ASCII text and keys, key order,
  // integers up to 2^53 - 1, empty containers.
  void WriteVariedLog(const std::string& path) {
    absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(path, pki_.va);
    ASSERT_TRUE(log.ok()) << log.status();
    const std::vector<std::pair<std::string, Json>> entries = {
        {"result_sent", {{"task_id", "heart/r1/train/va"}, {"sha256", crypto::Sha256Hex("x")}}},
        {"note",
         {{"text",
           "quote \" backslash \\ slash / tab \t newline \n cr \r bell \x07 unit \x1f "
           "e\xcc\x81 \xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 \xe2\x80\xa8 end"}}},
        {"numbers",
         {{"list", {0, -1, 1000000, kMaxSafeInteger, -kMaxSafeInteger}},
          {"flags", {true, false, nullptr}},
          {"nested", {{"b", Json::object()}, {"a", Json::array()}, {"", ""}}}}},
        {"keys",
         {{"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "\xd0\xb7"},
          {"Zebra", 1},
          {"apple", 2},
          {"\xc3\xa9", 3},
          {"\xf0\x9f\x98\x80", 4},
          {"a\x01", 5},
          {"A", 6}}},
        {"receipt", {{"round", 3}, {"participants", {"cleveland", "va"}}}},
    };
    for (const auto& [type, body] : entries) {
      Tick();
      absl::StatusOr<Entry> entry = (*log)->Append(type, body);
      ASSERT_TRUE(entry.ok()) << entry.status();
    }
  }

  Outcome HandCheck(const std::string& log) {
    return Shell(absl::StrCat("/bin/sh ", kScript, " ", Quote(log), " ", Quote(ca_path_)));
  }

  // Appends to `path` an entry chained to its last line, signed by `party`.
  void AppendForged(const std::string& path, const testing::Party& party) {
    std::vector<std::string> lines = ReadLines(path);
    absl::StatusOr<Entry> forged =
        SignEntry(static_cast<int64_t>(lines.size()) + 1,
                  FormatEntryTime(pki_.start + absl::Hours(1)), crypto::Sha256Hex(lines.back()),
                  "note", {{"text", "forged"}}, *party.signer, party.credential.cert_pem);
    ASSERT_TRUE(forged.ok()) << forged.status();
    lines.push_back(forged->line);
    WriteLines(path, lines);
  }

  std::string ca_path_;
};

TEST_F(HandCheckTest, AcceptsAnHonestLog) {
  const std::string log = dir_.Path("audit/site.jsonl");
  WriteVariedLog(log);
  absl::StatusOr<VerifyReport> report = Verify(log, {.ca_pem = pki_.ca.cert_pem});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_THAT(report->violations, IsEmpty());
  const Outcome outcome = HandCheck(log);
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_THAT(outcome.output, HasSubstr("5 entries hold"));
}

TEST_F(HandCheckTest, RefusesTamperedLogs) {
  const std::string original = dir_.Path("audit/site.jsonl");
  WriteVariedLog(original);
  const std::vector<std::string> lines = ReadLines(original);
  const struct {
    const char* name;
    std::vector<std::string> lines;
    const char* message;
  } kCases[] = {
      {"changed body",
       {lines[0], lines[1], lines[2], lines[3],
        absl::StrReplaceAll(lines[4], {{"\"round\":3", "\"round\":4"}})},
       ":5: signature"},
      {"deleted entry", {lines[0], lines[2], lines[3], lines[4]}, ":2: prev"},
      {"swapped entries", {lines[0], lines[2], lines[1], lines[3], lines[4]}, ":2: prev"},
      {"not canonical",
       {lines[0], absl::StrReplaceAll(lines[1], {{"{\"body\":", "{ \"body\":"}})},
       ":2: not in canonical form"},
  };
  for (const auto& c : kCases) {
    const std::string log = dir_.Path(absl::StrCat("tampered/", c.name, ".jsonl"));
    std::filesystem::create_directories(dir_.Path("tampered"));
    WriteLines(log, c.lines);
    const Outcome outcome = HandCheck(log);
    EXPECT_NE(outcome.exit_code, 0) << c.name << ": " << outcome.output;
    EXPECT_THAT(outcome.output, HasSubstr(c.message)) << c.name;
  }
}

TEST_F(HandCheckTest, RefusesEntriesForgedWithOtherKeys) {
  const std::string log = dir_.Path("audit/site.jsonl");
  WriteVariedLog(log);
  const std::vector<std::string> lines = ReadLines(log);

  AppendForged(log, pki_.stranger_va);
  Outcome outcome = HandCheck(log);
  EXPECT_NE(outcome.exit_code, 0) << outcome.output;
  EXPECT_THAT(outcome.output, HasSubstr(":6: signer certificate"));

  WriteLines(log, lines);
  AppendForged(log, pki_.cleveland);
  outcome = HandCheck(log);
  EXPECT_NE(outcome.exit_code, 0) << outcome.output;
  EXPECT_THAT(outcome.output,
              HasSubstr(":6: signed by cohort://site/cleveland, not by the log's writer "
                        "cohort://site/va"));
}

}  // namespace
}  // namespace cohort::audit
