#include "common/audit/verify.h"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/audit/audit_log.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/audit/audit_test_util.h"

namespace cohort::audit {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Json = nlohmann::json;
using testing::AuditTest;
using testing::Party;
using testing::ReadAll;
using testing::ReadLines;
using testing::ResignFrom;
using testing::WriteAll;
using testing::WriteLines;

std::vector<std::string> Strings(const std::vector<Violation>& violations) {
  std::vector<std::string> out;
  for (const Violation& v : violations) out.push_back(ToString(v));
  return out;
}

// A violation at FILE:LINE whose message contains `what`.
auto ViolationAt(const std::string& file, int64_t line, const std::string& what = "") {
  return AllOf(Field(&Violation::file, file), Field(&Violation::line, line),
               Field(&Violation::what, HasSubstr(what)));
}

class VerifyTest : public AuditTest {
 protected:
  std::string SitePath() const { return dir_.Path("va/audit/site.jsonl"); }
  std::string CoordinatorPath() const { return dir_.Path("coordinator/audit/coordinator.jsonl"); }

  VerifyReport MustVerify(const std::string& path, VerifyOptions options = {}) {
    if (options.ca_pem.empty()) options.ca_pem = pki_.ca.cert_pem;
    absl::StatusOr<VerifyReport> report = Verify(path, options);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *std::move(report) : VerifyReport{};
  }

  // Lets `tamper` edit the lines of the log file at `path`, then returns the
  // violations Verify finds.
  template <typename Tamper>
  std::vector<Violation> Tampered(const std::string& path, Tamper tamper) {
    std::vector<std::string> lines = ReadLines(path);
    tamper(lines);
    WriteLines(path, lines);
    return MustVerify(path).violations;
  }

  // The exchange of one study between site va and the coordinator, `rounds`
  // times: the site logs result_sent and sends its head; the coordinator
  // anchors it (site_anchor), then logs receipt_sent committing to the entry
  // before it, and the site logs the receipt.
  void RunStudy(int rounds) {
    absl::StatusOr<std::unique_ptr<AuditLog>> site = OpenLog(SitePath(), pki_.va);
    ASSERT_TRUE(site.ok()) << site.status();
    absl::StatusOr<std::unique_ptr<AuditLog>> coordinator =
        OpenLog(CoordinatorPath(), pki_.coordinator);
    ASSERT_TRUE(coordinator.ok()) << coordinator.status();
    for (int round = 1; round <= rounds; ++round) {
      Tick();
      const std::string task = absl::StrCat("heart/r", round, "/train/va");
      absl::StatusOr<Entry> sent =
          (*site)->Append("result_sent", {{"task_id", task}, {"sha256", crypto::Sha256Hex(task)}});
      ASSERT_TRUE(sent.ok()) << sent.status();
      ASSERT_TRUE(
          (*coordinator)
              ->Append(
                  "site_anchor",
                  {{"site", "va"}, {"seq", sent->seq}, {"head", sent->hash}, {"task_id", task}})
              .ok());
      Json receipt = {{"round", round},
                      {"participants", {"cleveland", "va"}},
                      {"aggregate_sha256", crypto::Sha256Hex(absl::StrCat("aggregate ", round))}};
      absl::StatusOr<Entry> receipt_sent =
          (*coordinator)
              ->AppendCommitting("receipt_sent",
                                 [&](int64_t prev_seq, const std::string& prev_head) {
                                   Json body = receipt;
                                   body["site"] = "va";
                                   body["coordinator_seq"] = prev_seq;
                                   body["coordinator_head"] = prev_head;
                                   return body;
                                 });
      ASSERT_TRUE(receipt_sent.ok()) << receipt_sent.status();
      receipt["coordinator_seq"] = receipt_sent->seq - 1;
      receipt["coordinator_head"] = receipt_sent->prev;
      receipt["receipt_signature"] = "c2lnbmF0dXJl";
      receipt["coordinator_cert"] = pki_.coordinator.credential.cert_pem;
      Tick();
      ASSERT_TRUE((*site)->Append("receipt", receipt).ok());
    }
  }
};

TEST_F(VerifyTest, AnUntamperedRotatedLogOfHundredsOfEntriesVerifies) {
  WriteLog(SitePath(), pki_.va, 300, {.max_bytes = 16 << 10});
  absl::StatusOr<std::vector<std::string>> files = LogFiles(SitePath());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_GT(files->size(), 10u);
  const VerifyReport report = MustVerify(SitePath());
  EXPECT_THAT(Strings(report.violations), IsEmpty());
  EXPECT_THAT(report.notes, IsEmpty());
  EXPECT_EQ(report.writer, "site va");
  EXPECT_EQ(report.entries, 300 + static_cast<int64_t>(files->size()) - 1);
  ASSERT_EQ(report.parsed.size(), static_cast<size_t>(report.entries));
  EXPECT_EQ(report.parsed.back().body, Json({{"i", 299}, {"note", "ok"}}));

  // The same files, listed explicitly (as copies elsewhere would be).
  absl::StatusOr<VerifyReport> explicit_files = VerifyFiles(*files, {.ca_pem = pki_.ca.cert_pem});
  ASSERT_TRUE(explicit_files.ok()) << explicit_files.status();
  EXPECT_THAT(Strings(explicit_files->violations), IsEmpty());
}

TEST_F(VerifyTest, WithoutACaSignaturesAreCheckedAgainstTheEmbeddedCertificates) {
  WriteLog(SitePath(), pki_.va, 5);
  absl::StatusOr<VerifyReport> report = Verify(SitePath(), {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(Strings(report->violations), IsEmpty());
  EXPECT_THAT(report->notes, Contains(HasSubstr("not checked against a CA")));
  EXPECT_EQ(report->writer, "site va");

  std::vector<std::string> lines = ReadLines(SitePath());
  lines[2][lines[2].find("\"i\":2") + 4] = '7';
  WriteLines(SitePath(), lines);
  report = Verify(SitePath(), {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->violations, Contains(ViolationAt(SitePath(), 3, "signature")));
}

TEST_F(VerifyTest, ErrorsOnlyForWhatCannotBeRead) {
  EXPECT_TRUE(absl::IsNotFound(Verify(SitePath(), {}).status()));
  WriteLog(SitePath(), pki_.va, 1);
  EXPECT_TRUE(absl::IsNotFound(Verify(SitePath(), {.against = {CoordinatorPath()}}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Verify(SitePath(), {.ca_pem = "not a cert"}).status()));
}

TEST(ViolationTest, PrintsFileLineAndEntry) {
  EXPECT_EQ(ToString({.file = "a.jsonl", .line = 3, .seq = 7, .what = "bad"}),
            "a.jsonl:3 (entry 7): bad");
  EXPECT_EQ(ToString({.file = "a.jsonl", .line = 3, .seq = 0, .what = "bad"}), "a.jsonl:3: bad");
  EXPECT_EQ(ToString({.file = "a.jsonl", .line = 0, .seq = 0, .what = "bad"}), "a.jsonl: bad");
}

// Every single changed byte of an entry, in the middle of the log or at its
// end, is caught at that entry, and nothing before it is blamed.
TEST_F(VerifyTest, EveryFlippedByteIsDetectedAtItsEntry) {
  WriteLog(SitePath(), pki_.va, 5);
  const std::vector<std::string> original = ReadLines(SitePath());
  for (size_t target : {size_t{2}, size_t{4}}) {
    for (size_t pos = 0; pos < original[target].size(); ++pos) {
      std::vector<std::string> lines = original;
      lines[target][pos] ^= 0x01;
      WriteLines(SitePath(), lines);
      const std::vector<Violation> violations = MustVerify(SitePath()).violations;
      ASSERT_FALSE(violations.empty()) << "line " << target + 1 << " byte " << pos << " ("
                                       << original[target][pos] << ") went unnoticed";
      EXPECT_THAT(violations, Contains(ViolationAt(SitePath(), static_cast<int64_t>(target) + 1)))
          << "byte " << pos;
      for (const Violation& v : violations) {
        EXPECT_GE(v.line, static_cast<int64_t>(target) + 1) << ToString(v);
      }
    }
  }
}

// Each field changed to another well-formed value, the line kept canonical:
// the semantic checks alone must catch it, at that entry.
struct FieldCase {
  const char* name;
  void (*change)(Json& entry, const testing::Consortium& pki,
                 const std::vector<std::string>& lines);
  const char* what;
};

class FieldTamperingTest : public VerifyTest, public ::testing::WithParamInterface<FieldCase> {};

TEST_P(FieldTamperingTest, IsDetectedAtTheEntry) {
  WriteLog(SitePath(), pki_.va, 5);
  const std::vector<Violation> violations =
      Tampered(SitePath(), [&](std::vector<std::string>& lines) {
        Json entry = Json::parse(lines[2]);
        GetParam().change(entry, pki_, lines);
        lines[2] = entry.dump();
      });
  ASSERT_FALSE(violations.empty());
  EXPECT_EQ(violations[0].file, SitePath());
  EXPECT_EQ(violations[0].line, 3) << ToString(violations[0]);
  EXPECT_THAT(violations, Contains(ViolationAt(SitePath(), 3, GetParam().what)))
      << ::testing::PrintToString(Strings(violations));
  for (const Violation& v : violations) EXPECT_GE(v.line, 3) << ToString(v);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, FieldTamperingTest,
    ::testing::Values(
        FieldCase{"seq", [](Json& e, auto&, auto&) { e["seq"] = 4; }, "seq 4 where 3"},
        FieldCase{"time",
                  [](Json& e, auto&, auto&) {
                    e["time"] = FormatEntryTime(*ParseEntryTime(e["time"].get<std::string>()) +
                                                absl::Milliseconds(1));
                  },
                  "signature does not verify"},
        FieldCase{"prev",
                  [](Json& e, auto&, auto& lines) { e["prev"] = crypto::Sha256Hex(lines[0]); },
                  "is not the hash of the line before"},
        FieldCase{"type", [](Json& e, auto&, auto&) { e["type"] = "evenT"; },
                  "signature does not verify"},
        FieldCase{"body", [](Json& e, auto&, auto&) { e["body"]["i"] = 9; },
                  "signature does not verify"},
        FieldCase{
            "signer",
            [](Json& e, auto& pki, auto&) { e["signer"] = pki.cleveland.credential.cert_pem; },
            "signature does not verify"},
        FieldCase{"signature",
                  [](Json& e, auto&, auto& lines) {
                    e["signature"] = Json::parse(lines[1])["signature"];
                  },
                  "signature does not verify"}),
    [](const ::testing::TestParamInfo<FieldCase>& info) { return std::string(info.param.name); });

TEST_F(VerifyTest, ADeletedEntryIsDetected) {
  WriteLog(SitePath(), pki_.va, 6);
  const std::vector<Violation> violations =
      Tampered(SitePath(), [](std::vector<std::string>& lines) { lines.erase(lines.begin() + 2); });
  ASSERT_FALSE(violations.empty());
  EXPECT_THAT(violations, Contains(ViolationAt(SitePath(), 3, "seq 4 where 3 was expected")));
  EXPECT_THAT(violations, Contains(ViolationAt(SitePath(), 3, "not the hash of the line before")));
  for (const Violation& v : violations) EXPECT_EQ(v.line, 3) << ToString(v);
}

TEST_F(VerifyTest, SwappedEntriesAreDetected) {
  WriteLog(SitePath(), pki_.va, 6);
  const std::vector<Violation> violations =
      Tampered(SitePath(), [](std::vector<std::string>& lines) { std::swap(lines[2], lines[3]); });
  ASSERT_FALSE(violations.empty());
  EXPECT_EQ(violations[0].line, 3);
  EXPECT_EQ(violations[0].seq, 4);
  EXPECT_THAT(violations, Contains(ViolationAt(SitePath(), 4, "seq 3 where 5 was expected")));
  for (const Violation& v : violations) EXPECT_LE(v.line, 5) << ToString(v);
}

TEST_F(VerifyTest, AnEntryForgedWithAnotherPartysKeyIsDetected) {
  WriteLog(SitePath(), pki_.va, 5);
  // Appended at the end, correctly chained: only the signer gives it away.
  std::vector<Violation> violations = Tampered(SitePath(), [&](std::vector<std::string>& lines) {
    absl::StatusOr<Entry> forged =
        SignEntry(6, FormatEntryTime(pki_.start + absl::Hours(1)), crypto::Sha256Hex(lines[4]),
                  "event", {{"i", 5}}, *pki_.cleveland.signer, pki_.cleveland.credential.cert_pem);
    ASSERT_TRUE(forged.ok()) << forged.status();
    lines.push_back(forged->line);
  });
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(Strings(violations));
  EXPECT_THAT(
      violations[0],
      ViolationAt(SitePath(), 6, "signed by site cleveland, not by the log's writer site va"));
  EXPECT_EQ(violations[0].seq, 6);

  // Inserted in the middle, chained to the entry before it (the entries
  // after it cannot be re-signed without va's key).
  WriteLog(dir_.Path("other/site.jsonl"), pki_.va, 5);
  violations = Tampered(dir_.Path("other/site.jsonl"), [&](std::vector<std::string>& lines) {
    absl::StatusOr<Entry> forged = SignEntry(
        3, Json::parse(lines[2])["time"].get<std::string>(), crypto::Sha256Hex(lines[1]), "event",
        {{"i", 2}, {"note", "forged"}}, *pki_.cleveland.signer, pki_.cleveland.credential.cert_pem);
    ASSERT_TRUE(forged.ok()) << forged.status();
    lines.insert(lines.begin() + 2, forged->line);
  });
  EXPECT_THAT(violations,
              Contains(ViolationAt(dir_.Path("other/site.jsonl"), 3, "signed by site cleveland")));
  for (const Violation& v : violations) EXPECT_GE(v.line, 3) << ToString(v);
}

TEST_F(VerifyTest, AnEntryForgedWithAKeyFromAnotherCaIsDetected) {
  WriteLog(SitePath(), pki_.va, 5);
  const std::vector<Violation> violations =
      Tampered(SitePath(), [&](std::vector<std::string>& lines) {
        absl::StatusOr<Entry> forged = SignEntry(
            6, FormatEntryTime(pki_.start + absl::Hours(1)), crypto::Sha256Hex(lines[4]), "event",
            {{"i", 5}}, *pki_.stranger_va.signer, pki_.stranger_va.credential.cert_pem);
        ASSERT_TRUE(forged.ok()) << forged.status();
        lines.push_back(forged->line);
      });
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(Strings(violations));
  EXPECT_THAT(violations[0], ViolationAt(SitePath(), 6, "not accepted by the CA"));
}

TEST_F(VerifyTest, TimeGoingBackwardsIsDetected) {
  WriteLog(SitePath(), pki_.va, 5);
  const std::vector<Violation> violations =
      Tampered(SitePath(), [&](std::vector<std::string>& lines) {
        // Re-signed with the writer's own key: only the order of times is wrong.
        ResignFrom(lines, 2, pki_.va, [&](size_t i, Json& e) {
          if (i == 2) e["time"] = FormatEntryTime(pki_.start);
        });
      });
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(Strings(violations));
  EXPECT_THAT(violations[0], ViolationAt(SitePath(), 3, "is before the previous entry's time"));
}

TEST_F(VerifyTest, CrossAnchorsAgreeOnAnHonestStudy) {
  RunStudy(4);
  for (const auto& [log, other] :
       {std::pair(SitePath(), CoordinatorPath()), std::pair(CoordinatorPath(), SitePath())}) {
    const VerifyReport report = MustVerify(log, {.against = {other}});
    EXPECT_THAT(Strings(report.violations), IsEmpty());
    EXPECT_THAT(report.notes, Contains(HasSubstr("8 cross-anchors checked")));
  }
  EXPECT_EQ(MustVerify(CoordinatorPath()).writer, "coordinator localhost");
}

TEST_F(VerifyTest, ATruncatedSiteLogIsCaughtByTheCoordinatorsAnchors) {
  RunStudy(3);
  std::vector<std::string> lines = ReadLines(SitePath());
  lines.resize(lines.size() - 2);  // the last result_sent and receipt
  WriteLines(SitePath(), lines);
  EXPECT_THAT(MustVerify(SitePath()).violations, IsEmpty()) << "truncation alone is invisible";

  // The coordinator's last site_anchor (line 5) points past the end.
  for (const auto& [log, other] :
       {std::pair(SitePath(), CoordinatorPath()), std::pair(CoordinatorPath(), SitePath())}) {
    const std::vector<Violation> violations = MustVerify(log, {.against = {other}}).violations;
    ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(Strings(violations));
    EXPECT_THAT(violations[0], ViolationAt(CoordinatorPath(), 5, "site_anchor refers to entry 5"));
    EXPECT_THAT(violations[0].what, HasSubstr(SitePath()));
    EXPECT_THAT(violations[0].what, HasSubstr("cut off"));
  }
}

TEST_F(VerifyTest, ATruncatedCoordinatorLogIsCaughtByTheSitesReceipts) {
  RunStudy(3);
  std::vector<std::string> lines = ReadLines(CoordinatorPath());
  lines.resize(lines.size() - 1);  // the last receipt_sent
  WriteLines(CoordinatorPath(), lines);
  EXPECT_THAT(MustVerify(CoordinatorPath()).violations, IsEmpty());
  std::vector<Violation> violations =
      MustVerify(CoordinatorPath(), {.against = {SitePath()}}).violations;
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(Strings(violations));
  EXPECT_THAT(violations[0], ViolationAt(SitePath(), 6, "has no entry 6"));
  EXPECT_THAT(violations[0].what, HasSubstr(CoordinatorPath()));

  lines.resize(lines.size() - 1);  // and the site_anchor the receipt commits to
  WriteLines(CoordinatorPath(), lines);
  violations = MustVerify(SitePath(), {.against = {CoordinatorPath()}}).violations;
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(Strings(violations));
  EXPECT_THAT(violations[0], ViolationAt(SitePath(), 6, "receipt refers to entry 5"));
  EXPECT_THAT(violations[0].what, HasSubstr("cut off"));
}

TEST_F(VerifyTest, ALogRewrittenByItsOwnWriterIsCaughtByTheOtherSide) {
  RunStudy(3);
  // The site rewrites what it said it sent in round 2 and re-signs the rest.
  std::vector<std::string> lines = ReadLines(SitePath());
  ResignFrom(lines, 2, pki_.va, [](size_t i, Json& e) {
    if (i == 2) e["body"]["sha256"] = std::string(64, 'f');
  });
  WriteLines(SitePath(), lines);
  EXPECT_THAT(MustVerify(SitePath()).violations, IsEmpty()) << "consistent on its own";
  const std::vector<Violation> violations =
      MustVerify(SitePath(), {.against = {CoordinatorPath()}}).violations;
  // The anchors of rounds 2 and 3: entry 3 changed, entry 5 re-chained.
  EXPECT_THAT(violations, Contains(ViolationAt(CoordinatorPath(), 3, "(the log was rewritten)")));
  EXPECT_THAT(violations, Contains(ViolationAt(CoordinatorPath(), 5, "(the log was rewritten)")));
  EXPECT_EQ(violations.size(), 2u) << ::testing::PrintToString(Strings(violations));
}

TEST_F(VerifyTest, ALogReplacedWithOneSignedByAnotherPartyOfTheSameCaIsCaught) {
  RunStudy(3);
  std::vector<std::string> lines = ReadLines(SitePath());
  ResignFrom(lines, 0, pki_.cleveland, [](size_t, Json&) {});
  WriteLines(SitePath(), lines);
  // On its own it is a fine log, but cleveland's, not va's.
  VerifyReport report = MustVerify(SitePath());
  EXPECT_THAT(report.violations, IsEmpty());
  EXPECT_EQ(report.writer, "site cleveland");
  report = MustVerify(SitePath(), {.expected_writer = "site va"});
  EXPECT_EQ(report.violations.size(), lines.size());
  EXPECT_THAT(report.violations,
              Contains(ViolationAt(SitePath(), 1, "not by the log's writer site va")));
  // The coordinator sent those receipts to va, not cleveland.
  report = MustVerify(SitePath(), {.against = {CoordinatorPath()}});
  EXPECT_THAT(report.violations, Contains(ViolationAt(SitePath(), 2, "it is for site \"va\"")));
}

TEST_F(VerifyTest, ALogReplacedWithOneSignedUnderAnotherCaIsCaught) {
  RunStudy(2);
  std::vector<std::string> lines = ReadLines(SitePath());
  ResignFrom(lines, 0, pki_.stranger_va, [](size_t, Json&) {});
  WriteLines(SitePath(), lines);
  const VerifyReport report = MustVerify(SitePath(), {.against = {CoordinatorPath()}});
  EXPECT_EQ(report.writer, "");
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_THAT(report.violations, Contains(ViolationAt(SitePath(), static_cast<int64_t>(i) + 1,
                                                        "not accepted by the CA")));
  }
  // Checked without the CA, the replaced log holds together, but the
  // coordinator's anchors do not match it.
  absl::StatusOr<VerifyReport> no_ca = Verify(SitePath(), {.against = {CoordinatorPath()}});
  ASSERT_TRUE(no_ca.ok()) << no_ca.status();
  EXPECT_THAT(no_ca->violations, Contains(ViolationAt(CoordinatorPath(), 1, "rewritten")));
}

TEST_F(VerifyTest, AnchorsToPrunedEntriesAreNotedNotFailed) {
  RunStudy(2);
  std::vector<std::string> lines = ReadLines(SitePath());
  lines.erase(lines.begin(), lines.begin() + 2);
  WriteLines(SitePath(), lines);
  // Without a log_pruned entry, a log starting at entry 3 is missing 1..2.
  const VerifyReport report = MustVerify(SitePath(), {.against = {CoordinatorPath()}});
  EXPECT_THAT(report.violations, Contains(ViolationAt(SitePath(), 1, "entries 1..2 are missing")));
  EXPECT_THAT(report.notes, Contains(HasSubstr("which was pruned: not checked")));
}

TEST_F(VerifyTest, DeletedRotatedFilesNeedALogPrunedEntry) {
  const RotationPolicy rotation{.max_bytes = 6000};
  WriteLog(SitePath(), pki_.va, 30, rotation);
  absl::StatusOr<std::vector<std::string>> files = LogFiles(SitePath());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_GT(files->size(), 4u);
  const absl::StatusOr<Entry> second_file_start = ParseEntry(ReadLines((*files)[1])[0]);
  ASSERT_TRUE(second_file_start.ok());

  // A rotated file from the middle.
  const std::string middle = ReadAll((*files)[2]);
  std::filesystem::remove((*files)[2]);
  std::vector<Violation> violations = MustVerify(SitePath()).violations;
  EXPECT_THAT(violations,
              Contains(ViolationAt((*files)[1], ReadLines((*files)[1]).size(), "is missing")));
  EXPECT_THAT(violations, Contains(ViolationAt((*files)[3], 1, "where")));
  WriteAll((*files)[2], middle);

  // The oldest, without the log_pruned entry PruneRotated writes.
  std::filesystem::remove((*files)[0]);
  violations = MustVerify(SitePath()).violations;
  ASSERT_EQ(violations.size(), 1u) << ::testing::PrintToString(Strings(violations));
  EXPECT_THAT(violations[0],
              ViolationAt((*files)[1], 1,
                          absl::StrCat("entries 1..", second_file_start->seq - 1, " are missing")));
}

TEST_F(VerifyTest, TornLinesAreNotedInTheCurrentFileAndViolationsInRotatedOnes) {
  const RotationPolicy rotation{.max_bytes = 6000};
  WriteLog(SitePath(), pki_.va, 8, rotation);
  absl::StatusOr<std::vector<std::string>> files = LogFiles(SitePath());
  ASSERT_TRUE(files.ok() && files->size() >= 2);
  WriteAll(SitePath(), ReadAll(SitePath()) + "{\"seq\":");
  VerifyReport report = MustVerify(SitePath());
  EXPECT_THAT(report.violations, IsEmpty());
  EXPECT_THAT(report.notes, Contains(HasSubstr("incomplete last line")));

  const std::string rotated = ReadAll((*files)[0]);
  WriteAll((*files)[0], rotated.substr(0, rotated.size() - 10));
  report = MustVerify(SitePath());
  EXPECT_THAT(report.violations, Contains(Field(&Violation::what, HasSubstr("in a rotated file"))));
  EXPECT_THAT(report.violations, Not(IsEmpty()));
}

}  // namespace
}  // namespace cohort::audit
