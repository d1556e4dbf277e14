#include "common/audit/audit_log.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/audit/verify.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/audit/audit_test_util.h"

namespace cohort::audit {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using Json = nlohmann::json;
using testing::AuditTest;
using testing::ReadAll;
using testing::ReadLines;
using testing::WriteAll;
using testing::WriteLines;

class AuditLogTest : public AuditTest {
 protected:
  // Verifies the log at `path` against the consortium CA and expects no
  // violation.
  void ExpectVerifies(const std::string& path) {
    absl::StatusOr<VerifyReport> report = Verify(path, {.ca_pem = pki_.ca.cert_pem});
    ASSERT_TRUE(report.ok()) << report.status();
    std::vector<std::string> violations;
    for (const Violation& v : report->violations) violations.push_back(ToString(v));
    EXPECT_THAT(violations, IsEmpty());
    EXPECT_EQ(report->writer, "site va");
  }

  std::string Path() const { return dir_.Path("state/audit/site.jsonl"); }
};

TEST_F(AuditLogTest, AppendsSignedEntriesChainedByHash) {
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->head(), kZeroHash);
  EXPECT_EQ((*log)->last_seq(), 0);
  EXPECT_EQ((*log)->path(), Path());
  std::vector<Entry> entries;
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(absl::Milliseconds(1500));
    absl::StatusOr<Entry> entry =
        (*log)->Append("result_sent", {{"task_id", absl::StrCat("t", i)}});
    ASSERT_TRUE(entry.ok()) << entry.status();
    entries.push_back(*entry);
    EXPECT_EQ((*log)->head(), entry->hash);
    EXPECT_EQ((*log)->last_seq(), i + 1);
  }
  EXPECT_EQ(entries[0].prev, kZeroHash);
  EXPECT_EQ(entries[0].time, FormatEntryTime(pki_.start + absl::Milliseconds(1500)));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(entries[i].seq, i + 1);
    EXPECT_EQ(entries[i].type, "result_sent");
    EXPECT_EQ(entries[i].signer_pem, pki_.va.credential.cert_pem);
    if (i > 0) {
      EXPECT_EQ(entries[i].prev, entries[i - 1].hash);
    }
  }
  EXPECT_THAT(ReadLines(Path()), ElementsAre(entries[0].line, entries[1].line, entries[2].line));
  ExpectVerifies(Path());
}

TEST_F(AuditLogTest, CreatesPrivateFoldersAndFile) {
  ASSERT_TRUE(OpenLog(Path(), pki_.va).ok());
  struct stat st;
  ASSERT_EQ(::stat(dir_.Path("state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(dir_.Path("state/audit").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AuditLogTest, RefusesBadEntriesAndWritesNothing) {
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va);
  ASSERT_TRUE(log.ok()) << log.status();
  const struct {
    std::string type;
    Json body;
    const char* message;
  } kCases[] = {
      {"", Json::object(), "entry type"},
      {"log_rotated", {{"next_file", "x"}}, "reserved"},
      {"log_pruned", Json::object(), "reserved"},
      {"event", Json::array(), "not an object"},
      {"event", nullptr, "not an object"},
      {"event", {{"epsilon", 0.5}}, "floating-point"},
      {"event", {{"x", std::nan("")}}, "floating-point"},
      {"event", {{"x", int64_t{1} << 60}}, "outside"},
      {"event", {{"x", "\x7f"}}, "U+007F"},
      {"event", {{"x", "\xc3"}}, "UTF-8"},
  };
  for (const auto& c : kCases) {
    absl::StatusOr<Entry> entry = (*log)->Append(c.type, c.body);
    EXPECT_TRUE(absl::IsInvalidArgument(entry.status())) << c.type << " " << entry.status();
    EXPECT_THAT(entry.status().message(), HasSubstr(c.message));
  }
  EXPECT_EQ((*log)->last_seq(), 0);
  EXPECT_EQ(ReadAll(Path()), "");
}

TEST_F(AuditLogTest, TimeNeverGoesBackwards) {
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va);
  ASSERT_TRUE(log.ok()) << log.status();
  Tick();
  absl::StatusOr<Entry> first = (*log)->Append("event", Json::object());
  ASSERT_TRUE(first.ok()) << first.status();
  clock_.Advance(-absl::Minutes(5));  // e.g. an NTP step
  absl::StatusOr<Entry> second = (*log)->Append("event", Json::object());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->time, first->time);
  ExpectVerifies(Path());
}

TEST_F(AuditLogTest, ReopeningContinuesTheChain) {
  WriteLog(Path(), pki_.va, 3);
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va);
  ASSERT_TRUE(log.ok()) << log.status();
  const std::vector<std::string> lines = ReadLines(Path());
  EXPECT_EQ((*log)->last_seq(), 3);
  EXPECT_EQ((*log)->head(), crypto::Sha256Hex(lines.back()));
  EXPECT_FALSE((*log)->recovered_torn_line());
  absl::StatusOr<Entry> entry = (*log)->Append("event", Json::object());
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->seq, 4);
  EXPECT_EQ(entry->prev, crypto::Sha256Hex(lines.back()));
  ExpectVerifies(Path());
}

TEST_F(AuditLogTest, OneWriterAtATime) {
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va);
  ASSERT_TRUE(log.ok()) << log.status();
  absl::StatusOr<std::unique_ptr<AuditLog>> second = OpenLog(Path(), pki_.va);
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  EXPECT_THAT(second.status().message(), HasSubstr("in use"));
  log->reset();
  EXPECT_TRUE(OpenLog(Path(), pki_.va).ok());
}

TEST_F(AuditLogTest, RefusesAnotherPartysLogAndAMismatchedKey) {
  WriteLog(Path(), pki_.va, 2);
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.cleveland);
  EXPECT_TRUE(absl::IsFailedPrecondition(log.status())) << log.status();
  EXPECT_THAT(log.status().message(), HasSubstr("written by site va, not by site cleveland"));

  log = AuditLog::Open(dir_.Path("other.jsonl"), pki_.va.signer, pki_.cleveland.credential.cert_pem,
                       &clock_);
  EXPECT_TRUE(absl::IsInvalidArgument(log.status())) << log.status();
  EXPECT_THAT(log.status().message(), HasSubstr("not the key of the certificate"));

  log = AuditLog::Open(dir_.Path("other.jsonl"), nullptr, pki_.va.credential.cert_pem, &clock_);
  EXPECT_TRUE(absl::IsInvalidArgument(log.status())) << log.status();
  log = AuditLog::Open(dir_.Path("other.jsonl"), pki_.va.signer, pki_.ca.cert_pem, &clock_);
  EXPECT_TRUE(absl::IsInvalidArgument(log.status())) << log.status();
  log = AuditLog::Open(dir_.Path("other.jsonl"), pki_.va.signer, pki_.va.credential.cert_pem,
                       &clock_, {.max_bytes = 0});
  EXPECT_TRUE(absl::IsInvalidArgument(log.status())) << log.status();
  log = AuditLog::Open(dir_.Path("folder/"), pki_.va.signer, pki_.va.credential.cert_pem, &clock_);
  EXPECT_TRUE(absl::IsInvalidArgument(log.status())) << log.status();
}

TEST_F(AuditLogTest, RecoversATornLastLine) {
  WriteLog(Path(), pki_.va, 3);
  const std::string before = ReadAll(Path());
  const std::vector<std::string> lines = ReadLines(Path());
  // A crash in the middle of appending entry 4: half a line, no newline.
  WriteAll(Path(), before + lines[2].substr(0, lines[2].size() / 2));
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE((*log)->recovered_torn_line());
  EXPECT_EQ(ReadAll(Path()), before);
  EXPECT_EQ((*log)->last_seq(), 3);
  ASSERT_TRUE((*log)->Append("event", Json::object()).ok());
  ExpectVerifies(Path());
}

TEST_F(AuditLogTest, MalformedEndIsDataLossNamingTheLine) {
  WriteLog(Path(), pki_.va, 4);
  const std::vector<std::string> lines = ReadLines(Path());
  const struct {
    std::vector<std::string> lines;
    std::string message;
  } kCases[] = {
      {{lines[0], lines[1], lines[2], "{\"not\": \"an entry\"}"},
       absl::StrCat(Path(), ":4: not an audit entry")},
      {{lines[0], lines[1], lines[3]}, absl::StrCat(Path(), ":3: seq 4 follows seq 2")},
      {{lines[0], lines[2], lines[1], lines[3]}, absl::StrCat(Path(), ":2: seq 3 follows seq 1")},
      {{lines[0], lines[1], "", lines[2]}, absl::StrCat(Path(), ":3: not valid JSON")},
  };
  for (const auto& c : kCases) {
    WriteLines(Path(), c.lines);
    const std::string as_found = ReadAll(Path());
    absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va);
    EXPECT_TRUE(absl::IsDataLoss(log.status())) << log.status();
    EXPECT_THAT(std::string(log.status().message()), StartsWith(c.message));
    EXPECT_EQ(ReadAll(Path()), as_found) << "the file must be left as found";
  }
  // Not even a torn last line is dropped from a log that is refused.
  WriteAll(Path(), absl::StrCat(lines[0], "\n", "{}\n", lines[1].substr(0, 20)));
  const std::string as_found = ReadAll(Path());
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va);
  EXPECT_TRUE(absl::IsDataLoss(log.status())) << log.status();
  EXPECT_EQ(ReadAll(Path()), as_found);
  WriteAll(Path(), absl::StrCat(lines[0], "\n", lines[1].substr(0, 20)));
  log = OpenLog(Path(), pki_.cleveland);
  EXPECT_TRUE(absl::IsFailedPrecondition(log.status())) << log.status();
  EXPECT_EQ(ReadAll(Path()), absl::StrCat(lines[0], "\n", lines[1].substr(0, 20)));
}

// Rotation with a small max_bytes: several files, each closed by a
// log_rotated entry naming its successor, one chain across them.
TEST_F(AuditLogTest, RotatesIntoNumberedFilesAndKeepsOneChain) {
  const RotationPolicy rotation{.max_bytes = 6000};  // entries are ~1.3 kB
  WriteLog(Path(), pki_.va, 40, rotation);
  absl::StatusOr<std::vector<std::string>> files = LogFiles(Path());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_GT(files->size(), 5u);
  EXPECT_EQ(files->back(), Path());
  int64_t seq = 0;
  std::string prev(kZeroHash);
  for (size_t f = 0; f < files->size(); ++f) {
    if (f + 1 < files->size()) {
      EXPECT_EQ((*files)[f], RotatedFilePath(Path(), static_cast<int64_t>(f) + 1));
    }
    const std::vector<std::string> lines = ReadLines((*files)[f]);
    ASSERT_FALSE(lines.empty());
    // Each file holds at most max_bytes, plus its final log_rotated entry.
    int64_t bytes = 0;
    for (size_t i = 0; i + 1 < lines.size(); ++i) bytes += lines[i].size() + 1;
    EXPECT_LE(bytes, rotation.max_bytes);
    for (size_t i = 0; i < lines.size(); ++i) {
      absl::StatusOr<Entry> entry = ParseEntry(lines[i]);
      ASSERT_TRUE(entry.ok()) << entry.status();
      EXPECT_EQ(entry->seq, ++seq);
      EXPECT_EQ(entry->prev, prev);
      prev = entry->hash;
      const bool last_of_rotated = f + 1 < files->size() && i + 1 == lines.size();
      EXPECT_EQ(entry->type == kLogRotatedType, last_of_rotated) << (*files)[f] << ":" << i + 1;
      if (last_of_rotated) {
        EXPECT_EQ(entry->body,
                  Json({{"next_file",
                         std::filesystem::path(RotatedFilePath(Path(), static_cast<int64_t>(f) + 2))
                             .filename()
                             .string()}}));
      }
    }
  }
  ExpectVerifies(Path());

  // Reopening continues in the current file.
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va, rotation);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->last_seq(), seq);
  EXPECT_EQ((*log)->head(), prev);
}

// The body of AppendCommitting commits to the entry just before it, even when
// the log rotates in between (the entry before it is then log_rotated).
TEST_F(AuditLogTest, CommittingEntriesCommitToTheEntryBeforeThem) {
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va, {.max_bytes = 6000});
  ASSERT_TRUE(log.ok()) << log.status();
  int rotations = 0;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<Entry> entry =
        (*log)->AppendCommitting("receipt_sent", [](int64_t seq, const std::string& head) {
          return Json{{"coordinator_seq", seq}, {"coordinator_head", head}};
        });
    ASSERT_TRUE(entry.ok()) << entry.status();
    EXPECT_EQ(entry->body["coordinator_seq"], entry->seq - 1);
    EXPECT_EQ(entry->body["coordinator_head"], entry->prev);
    if (ReadLines(Path()).size() == 1) ++rotations;
  }
  EXPECT_GT(rotations, 1);
  EXPECT_TRUE(absl::IsInvalidArgument(
      (*log)
          ->AppendCommitting("log_rotated",
                             [](int64_t, const std::string&) { return Json::object(); })
          .status()));
  log->reset();
  ExpectVerifies(Path());
}

TEST_F(AuditLogTest, CompletesARotationACrashInterrupted) {
  const RotationPolicy rotation{.max_bytes = 6000};
  WriteLog(Path(), pki_.va, 6, rotation);
  absl::StatusOr<std::vector<std::string>> files = LogFiles(Path());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  // Back to the moment after log_rotated was appended, before the rename:
  // the new file's entry was never appended.
  std::filesystem::remove(Path());
  std::filesystem::rename((*files)[0], Path());
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va, rotation);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(std::filesystem::exists((*files)[0]));
  EXPECT_EQ(ReadAll(Path()), "");
  const int64_t seq = (*log)->last_seq();
  absl::StatusOr<Entry> entry = (*log)->Append("event", Json::object());
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->seq, seq + 1);
  log->reset();
  ExpectVerifies(Path());
}

TEST_F(AuditLogTest, ContinuesAfterACrashBetweenRenameAndFirstAppend) {
  const RotationPolicy rotation{.max_bytes = 6000};
  WriteLog(Path(), pki_.va, 6, rotation);
  std::filesystem::remove(Path());  // its one entry never completed
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va, rotation);
  ASSERT_TRUE(log.ok()) << log.status();
  const std::vector<std::string> rotated = ReadLines(RotatedFilePath(Path(), 1));
  EXPECT_EQ((*log)->last_seq(), static_cast<int64_t>(rotated.size()));
  EXPECT_EQ((*log)->head(), crypto::Sha256Hex(rotated.back()));
  ASSERT_TRUE((*log)->Append("event", Json::object()).ok());
  ExpectVerifies(Path());
}

TEST_F(AuditLogTest, ARotatedFileWithATornEndIsDataLoss) {
  const RotationPolicy rotation{.max_bytes = 6000};
  WriteLog(Path(), pki_.va, 6, rotation);
  std::filesystem::remove(Path());
  const std::string rotated = RotatedFilePath(Path(), 1);
  const std::string contents = ReadAll(rotated);
  const std::string torn = contents.substr(0, contents.size() - 10);
  WriteAll(rotated, torn);
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va, rotation);
  EXPECT_TRUE(absl::IsDataLoss(log.status())) << log.status();
  const int64_t torn_line = std::count(torn.begin(), torn.end(), '\n') + 1;
  EXPECT_THAT(std::string(log.status().message()),
              StartsWith(absl::StrCat(rotated, ":", torn_line, ": ")));
  EXPECT_THAT(log.status().message(), HasSubstr("incomplete line"));
}

TEST_F(AuditLogTest, PruningRecordsWhatItDeletesAndNeverReusesNames) {
  const RotationPolicy rotation{.max_bytes = 6000};
  WriteLog(Path(), pki_.va, 40, rotation);
  absl::StatusOr<std::vector<std::string>> files = LogFiles(Path());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_GT(files->size(), 5u);

  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va, rotation);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE(absl::IsInvalidArgument((*log)->PruneRotated(-1)));
  ASSERT_TRUE((*log)->PruneRotated(2).ok());
  // Two rotated files remain (the log may have rotated once more to make
  // room for the log_pruned entry), and the log_pruned entry names the rest.
  absl::StatusOr<std::vector<std::string>> left = LogFiles(Path());
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 3u);
  Json removed = Json::array();
  for (const std::string& file : *files) {
    if (file != Path() && !std::filesystem::exists(file)) {
      removed.push_back(std::filesystem::path(file).filename().string());
    }
  }
  EXPECT_GE(removed.size(), files->size() - 3);
  const absl::StatusOr<Entry> first_kept = ParseEntry(ReadLines((*left)[0])[0]);
  ASSERT_TRUE(first_kept.ok());
  const absl::StatusOr<Entry> pruned = ParseEntry(ReadLines(Path()).back());
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(pruned->type, "log_pruned");
  EXPECT_EQ(pruned->body, Json({{"removed", removed},
                                {"first_seq_kept", first_kept->seq},
                                {"first_prev_kept", first_kept->prev}}));
  absl::StatusOr<VerifyReport> report = Verify(Path(), {.ca_pem = pki_.ca.cert_pem});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->violations, IsEmpty());
  EXPECT_THAT(
      report->notes,
      Contains(HasSubstr(absl::StrCat("entries 1..", first_kept->seq - 1, " were pruned"))));
  EXPECT_TRUE((*log)->PruneRotated(2).ok());  // nothing more to do
  EXPECT_EQ(ReadLines(Path()).back(), pruned->line);

  // Prune everything, reopen, rotate again: numbering goes on from the
  // highest number ever used.
  const int64_t highest = RotatedFileIndex(Path(), (*left)[1]);
  ASSERT_TRUE((*log)->PruneRotated(0).ok());
  left = LogFiles(Path());
  ASSERT_TRUE(left.ok());
  EXPECT_THAT(*left, ElementsAre(Path()));
  log->reset();
  ExpectVerifies(Path());
  WriteLog(Path(), pki_.va, 10, rotation);
  left = LogFiles(Path());
  ASSERT_TRUE(left.ok());
  ASSERT_GT(left->size(), 1u);
  EXPECT_GT(RotatedFileIndex(Path(), (*left)[0]), highest);
  ExpectVerifies(Path());
}

TEST_F(AuditLogTest, PruningWithAnEmptyCurrentFileKeepsTheChain) {
  const RotationPolicy rotation{.max_bytes = 6000};
  WriteLog(Path(), pki_.va, 6, rotation);
  std::filesystem::remove(Path());  // as after a crash right after a rotation
  absl::StatusOr<std::unique_ptr<AuditLog>> log = OpenLog(Path(), pki_.va, rotation);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->PruneRotated(0).ok());
  log->reset();
  EXPECT_THAT(*LogFiles(Path()), ElementsAre(Path()));
  ExpectVerifies(Path());
}

}  // namespace
}  // namespace cohort::audit
