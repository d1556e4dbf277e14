#include "common/privacy/ledger.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/privacy/accountant.h"
#include "common/util/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/util/temp_dir.h"

namespace cohort::privacy {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Mechanism = PrivacyEvent::Mechanism;

constexpr double kDelta = 1e-5;

// One release of a noised statistic: q = 1, sigma = 20 costs about 0.24 at
// delta 1e-5, so a ceiling of 1 admits roughly 16 of them.
const PrivacyEvent kStatistic{
    .mechanism = Mechanism::kGaussian, .sampling_rate = 1.0, .noise_multiplier = 20.0};
// One local training run (DP-SGD) and one distributed-DP share.
const PrivacyEvent kTraining{.mechanism = Mechanism::kGaussian,
                             .sampling_rate = 0.01,
                             .noise_multiplier = 1.1,
                             .count = 100};
const PrivacyEvent kDistributed{.mechanism = Mechanism::kDiscreteGaussianSum,
                                .sampling_rate = 1.0,
                                .noise_multiplier = 5.0,
                                .rdp_slack = 1e-6};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

std::vector<std::string> Lines(const std::string& contents) {
  std::vector<std::string> lines = absl::StrSplit(contents, '\n');
  EXPECT_EQ(lines.back(), "") << "the ledger does not end in a newline";
  lines.pop_back();
  return lines;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  return absl::StrCat(absl::StrJoin(lines, "\n"), "\n");
}

mode_t ModeOf(const std::string& path) {
  struct stat st = {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// The reference: the accountant itself, on `events` composed `times` times
// (the ledger merges identical events the same way).
double ReferenceEpsilon(PrivacyEvent event, int64_t times, double delta) {
  event.count *= times;
  absl::StatusOr<EpsilonBound> bound = Epsilon({event}, delta);
  EXPECT_TRUE(bound.ok()) << bound.status();
  return bound.ok() ? bound->epsilon : std::numeric_limits<double>::quiet_NaN();
}

class LedgerTest : public ::testing::Test {
 protected:
  LedgerTest()
      : clock_(absl::FromUnixSeconds(1714564800)), path_(dir_.Path("state/privacy/ledger.jsonl")) {}

  std::unique_ptr<PrivacyLedger> OpenOrDie(BudgetCeiling total = {.epsilon = 100,
                                                                  .delta = kDelta}) {
    absl::StatusOr<std::unique_ptr<PrivacyLedger>> ledger =
        PrivacyLedger::Open(path_, total, &clock_);
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    return ledger.ok() ? std::move(*ledger) : nullptr;
  }

  static ChargeRequest Request(std::string study, std::vector<PrivacyEvent> events,
                               BudgetCeiling study_ceiling = {.epsilon = 100, .delta = kDelta},
                               std::string kind = "statistics") {
    static int next_release = 0;
    return ChargeRequest{.study_id = std::move(study),
                         .release_id = absl::StrCat("task-", ++next_release),
                         .kind = std::move(kind),
                         .events = std::move(events),
                         .study_ceiling = study_ceiling};
  }

  // Charges `n` releases alternating between two studies and event mixes.
  void ChargeSome(PrivacyLedger& ledger, int n) {
    for (int i = 0; i < n; ++i) {
      ChargeRequest request = i % 2 == 0 ? Request("heart-disease", {kStatistic})
                                         : Request("brca", {kTraining, kDistributed},
                                                   {.epsilon = 100, .delta = 1e-6}, "train");
      ASSERT_TRUE(ledger.Charge(request).ok());
    }
  }

  cohort::testing::TempDir dir_;
  util::SimulatedClock clock_;
  const std::string path_;
};

TEST_F(LedgerTest, CreatesPrivateFoldersAndFileAndStartsEmpty) {
  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(ledger->size(), 0);
  EXPECT_FALSE(ledger->recovered_torn_line());
  EXPECT_EQ(ModeOf(path_), 0600);
  EXPECT_EQ(ModeOf(dir_.Path("state/privacy")), 0700);
  EXPECT_EQ(ModeOf(dir_.Path("state")), 0700);
  EXPECT_EQ(ReadAll(path_), "");
  absl::StatusOr<Spend> total = ledger->TotalSpent();
  ASSERT_TRUE(total.ok()) << total.status();
  EXPECT_EQ(total->epsilon, 0);
  EXPECT_EQ(total->delta, kDelta);
  absl::StatusOr<Spend> study = ledger->StudySpent("heart-disease", 1e-7);
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->epsilon, 0);
  EXPECT_EQ(study->delta, 1e-7);
}

TEST_F(LedgerTest, ChargeAppendsTheDocumentedLine) {
  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie({.epsilon = 90, .delta = 1e-6});
  ChargeRequest request =
      Request("brca", {kTraining, kDistributed}, {.epsilon = 80, .delta = 1e-7}, "train");
  request.release_id = "brca/r3/train/va";
  absl::StatusOr<ChargeReceipt> receipt = ledger->Charge(request);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->sequence, 1);
  EXPECT_EQ(receipt->study_before.epsilon, 0);
  EXPECT_EQ(receipt->total_before.epsilon, 0);

  std::vector<std::string> lines = Lines(ReadAll(path_));
  ASSERT_EQ(lines.size(), 1u);
  nlohmann::ordered_json line = nlohmann::ordered_json::parse(lines[0]);
  std::vector<std::string> keys;
  for (const auto& [key, value] : line.items()) keys.push_back(key);
  EXPECT_THAT(keys, ::testing::ElementsAre("seq", "time", "study", "release", "kind", "events",
                                           "study_epsilon_after", "study_delta",
                                           "total_epsilon_after", "total_delta", "accountant"));
  EXPECT_EQ(line["seq"], 1);
  EXPECT_EQ(line["time"], "2024-05-01T12:00:00.000Z");
  EXPECT_EQ(line["study"], "brca");
  EXPECT_EQ(line["release"], "brca/r3/train/va");
  EXPECT_EQ(line["kind"], "train");
  ASSERT_EQ(line["events"].size(), 2u);
  EXPECT_EQ(line["events"][0]["mechanism"], "gaussian");
  EXPECT_EQ(line["events"][0]["sampling_rate"].get<double>(), 0.01);
  EXPECT_EQ(line["events"][0]["noise_multiplier"].get<double>(), 1.1);
  EXPECT_EQ(line["events"][0]["rdp_slack"].get<double>(), 0);
  EXPECT_EQ(line["events"][0]["count"], 100);
  EXPECT_EQ(line["events"][1]["mechanism"], "discrete_gaussian_sum");
  EXPECT_EQ(line["events"][1]["rdp_slack"].get<double>(), 1e-6);
  EXPECT_EQ(line["events"][1]["count"], 1);
  // Doubles round-trip bit for bit.
  EXPECT_EQ(line["study_epsilon_after"].get<double>(), receipt->study_after.epsilon);
  EXPECT_EQ(line["study_delta"].get<double>(), 1e-7);
  EXPECT_EQ(line["total_epsilon_after"].get<double>(), receipt->total_after.epsilon);
  EXPECT_EQ(line["total_delta"].get<double>(), 1e-6);
  EXPECT_EQ(line["accountant"], std::string(AccountantName(receipt->study_after.accountant)));
}

TEST_F(LedgerTest, PreviewPredictsChargeWithoutSideEffect) {
  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
  ChargeSome(*ledger, 3);
  const std::string before = ReadAll(path_);
  ChargeRequest request = Request("heart-disease", {kStatistic});
  absl::StatusOr<ChargeReceipt> preview = ledger->Preview(request);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_EQ(ReadAll(path_), before);
  EXPECT_EQ(ledger->size(), 3);

  absl::StatusOr<ChargeReceipt> charged = ledger->Charge(request);
  ASSERT_TRUE(charged.ok()) << charged.status();
  EXPECT_EQ(charged->sequence, 4);
  EXPECT_EQ(preview->sequence, charged->sequence);
  EXPECT_EQ(preview->study_before.epsilon, charged->study_before.epsilon);
  EXPECT_EQ(preview->study_after.epsilon, charged->study_after.epsilon);
  EXPECT_EQ(preview->total_before.epsilon, charged->total_before.epsilon);
  EXPECT_EQ(preview->total_after.epsilon, charged->total_after.epsilon);
  EXPECT_GT(charged->study_after.epsilon, charged->study_before.epsilon);
  EXPECT_GT(charged->total_after.epsilon, charged->total_before.epsilon);

  absl::StatusOr<Spend> spent = ledger->StudySpent("heart-disease", kDelta);
  ASSERT_TRUE(spent.ok()) << spent.status();
  EXPECT_EQ(spent->epsilon, charged->study_after.epsilon);
}

TEST_F(LedgerTest, StudyCeilingStopsExactlyBeforeTheCrossingRelease) {
  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
  const BudgetCeiling ceiling{.epsilon = 1, .delta = kDelta};
  int64_t accepted = 0;
  double last_after = 0;
  absl::Status refused;
  while (accepted < 1000) {
    absl::StatusOr<ChargeReceipt> receipt =
        ledger->Charge(Request("heart-disease", {kStatistic}, ceiling));
    if (!receipt.ok()) {
      refused = receipt.status();
      break;
    }
    ++accepted;
    EXPECT_EQ(receipt->sequence, accepted);
    EXPECT_EQ(receipt->study_before.epsilon, last_after);  // receipts chain
    last_after = receipt->study_after.epsilon;
  }
  ASSERT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  ASSERT_GE(accepted, 2) << "the test needs several releases below the ceiling";
  EXPECT_EQ(ledger->size(), accepted);

  // The last accepted spend is within the ceiling; one more would cross it.
  EXPECT_LE(ReferenceEpsilon(kStatistic, accepted, kDelta), ceiling.epsilon);
  EXPECT_GT(ReferenceEpsilon(kStatistic, accepted + 1, kDelta), ceiling.epsilon);
  EXPECT_EQ(last_after, ReferenceEpsilon(kStatistic, accepted, kDelta));
  EXPECT_THAT(std::string(refused.message()),
              StartsWith("study heart-disease: this statistics release would raise epsilon from "));
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("(delta 1e-05), above the site's ceiling of 1"));

  // The refusal wrote nothing, and keeps refusing.
  const std::string before = ReadAll(path_);
  absl::StatusOr<ChargeReceipt> again =
      ledger->Charge(Request("heart-disease", {kStatistic}, ceiling));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadAll(path_), before);
  EXPECT_EQ(Lines(before).size(), static_cast<size_t>(accepted));
  EXPECT_EQ(ledger->Preview(Request("heart-disease", {kStatistic}, ceiling)).status().code(),
            absl::StatusCode::kResourceExhausted);

  // Another study is not bound by this study's ceiling.
  EXPECT_TRUE(ledger->Charge(Request("brca", {kStatistic}, ceiling)).ok());
}

TEST_F(LedgerTest, TotalCeilingBindsAcrossStudies) {
  const BudgetCeiling total{.epsilon = 1.2, .delta = kDelta};
  const BudgetCeiling study{.epsilon = 1, .delta = kDelta};
  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie(total);

  int64_t a = 0;
  absl::StatusOr<ChargeReceipt> receipt;
  while ((receipt = ledger->Charge(Request("study-a", {kStatistic}, study))).ok()) ++a;
  ASSERT_EQ(receipt.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(receipt.status().message()),
              StartsWith("study study-a: this statistics release would raise epsilon from "));

  int64_t b = 0;
  while ((receipt = ledger->Charge(Request("study-b", {kStatistic}, study))).ok()) ++b;
  ASSERT_EQ(receipt.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(receipt.status().message()),
              StartsWith("study study-b: this statistics release would raise the site's total "
                         "epsilon over all studies from "));
  EXPECT_THAT(std::string(receipt.status().message()),
              HasSubstr("above the site's total ceiling of 1.2"));
  ASSERT_GE(b, 1);
  // Study b alone was still below its own ceiling: the total is what bound.
  EXPECT_LE(ReferenceEpsilon(kStatistic, b + 1, kDelta), study.epsilon);
  EXPECT_LE(ReferenceEpsilon(kStatistic, a + b, kDelta), total.epsilon);
  EXPECT_GT(ReferenceEpsilon(kStatistic, a + b + 1, kDelta), total.epsilon);

  absl::StatusOr<Spend> spent = ledger->TotalSpent();
  ASSERT_TRUE(spent.ok()) << spent.status();
  EXPECT_EQ(spent->epsilon, ReferenceEpsilon(kStatistic, a + b, kDelta));
  EXPECT_EQ(ledger->size(), a + b);
  // A study that never spent anything is refused too.
  EXPECT_EQ(ledger->Preview(Request("study-c", {kStatistic}, study)).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(LedgerTest, StudySpentIsMeasuredAtTheRequestedDelta) {
  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie({.epsilon = 100, .delta = 1e-6});
  ASSERT_TRUE(ledger->Charge(Request("brca", {kTraining, kDistributed})).ok());
  ASSERT_TRUE(ledger->Charge(Request("heart-disease", {kStatistic})).ok());
  const std::vector<PrivacyEvent> brca = {kTraining, kDistributed};
  for (double delta : {1e-5, 1e-8}) {
    absl::StatusOr<Spend> spent = ledger->StudySpent("brca", delta);
    ASSERT_TRUE(spent.ok()) << spent.status();
    absl::StatusOr<EpsilonBound> reference = Epsilon(brca, delta);
    ASSERT_TRUE(reference.ok()) << reference.status();
    EXPECT_EQ(spent->epsilon, reference->epsilon) << "delta " << delta;
    EXPECT_EQ(spent->delta, delta);
    EXPECT_EQ(spent->accountant, reference->accountant);
  }
  EXPECT_GT(ledger->StudySpent("brca", 1e-8)->epsilon, ledger->StudySpent("brca", 1e-5)->epsilon);
  EXPECT_EQ(ledger->StudySpent("unknown", 1e-5)->epsilon, 0);

  absl::StatusOr<Spend> total = ledger->TotalSpent();
  ASSERT_TRUE(total.ok()) << total.status();
  absl::StatusOr<EpsilonBound> reference =
      Epsilon(std::vector<PrivacyEvent>{kTraining, kDistributed, kStatistic}, 1e-6);
  ASSERT_TRUE(reference.ok()) << reference.status();
  EXPECT_EQ(total->epsilon, reference->epsilon);
  EXPECT_EQ(total->delta, 1e-6);

  for (double bad : {0.0, 1.0, -1e-5, std::nan("")}) {
    EXPECT_EQ(ledger->StudySpent("brca", bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST_F(LedgerTest, ReopenRestoresSpendingExactly) {
  double heart, brca, total;
  {
    std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
    ChargeSome(*ledger, 7);
    heart = ledger->StudySpent("heart-disease", kDelta)->epsilon;
    brca = ledger->StudySpent("brca", 1e-6)->epsilon;
    total = ledger->TotalSpent()->epsilon;
    EXPECT_GT(heart, 0);
    EXPECT_GT(brca, 0);
  }
  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(ledger->size(), 7);
  EXPECT_FALSE(ledger->recovered_torn_line());
  EXPECT_EQ(ledger->StudySpent("heart-disease", kDelta)->epsilon, heart);
  EXPECT_EQ(ledger->StudySpent("brca", 1e-6)->epsilon, brca);
  EXPECT_EQ(ledger->TotalSpent()->epsilon, total);
  absl::StatusOr<ChargeReceipt> next = ledger->Charge(Request("heart-disease", {kStatistic}));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->sequence, 8);
  EXPECT_EQ(next->study_before.epsilon, heart);
  EXPECT_EQ(next->total_before.epsilon, total);
}

TEST_F(LedgerTest, SpendingIsRecomputedFromEventsNotFromRecordedTotals) {
  double total;
  {
    std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
    ChargeSome(*ledger, 4);
    total = ledger->TotalSpent()->epsilon;
  }
  std::vector<std::string> lines = Lines(ReadAll(path_));
  for (std::string& text : lines) {
    nlohmann::ordered_json line = nlohmann::ordered_json::parse(text);
    line["study_epsilon_after"] = 0.0;
    line["total_epsilon_after"] = 0.0;
    text = line.dump();
  }
  WriteAll(path_, JoinLines(lines));
  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(ledger->TotalSpent()->epsilon, total);
}

TEST_F(LedgerTest, TornLastLineIsTruncatedAndReported) {
  double total;
  {
    std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
    ChargeSome(*ledger, 4);
    total = ledger->TotalSpent()->epsilon;
  }
  const std::string complete = ReadAll(path_);
  std::vector<std::string> lines = Lines(complete);
  // The torn fourth charge: a line cut anywhere before its "\n" (even one
  // that happens to be valid JSON), or the zeros a power cut can leave.
  const std::string& last = lines.back();
  const std::string three = JoinLines({lines.begin(), lines.end() - 1});
  for (const std::string& torn :
       {last.substr(0, last.size() / 2), last, last.substr(0, 1), std::string(37, '\0')}) {
    SCOPED_TRACE(absl::CHexEscape(torn));
    WriteAll(path_, three + torn);
    std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
    ASSERT_NE(ledger, nullptr);
    EXPECT_TRUE(ledger->recovered_torn_line());
    EXPECT_EQ(ledger->size(), 3);
    EXPECT_EQ(ReadAll(path_), three);
    EXPECT_LT(ledger->TotalSpent()->epsilon, total);
  }

  {
    // Charging after a recovery appends a well-formed line.
    std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
    EXPECT_FALSE(ledger->recovered_torn_line());
    absl::StatusOr<ChargeReceipt> receipt = ledger->Charge(Request("brca", {kStatistic}));
    ASSERT_TRUE(receipt.ok()) << receipt.status();
    EXPECT_EQ(receipt->sequence, 4);
  }
  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(ledger->size(), 4);
  EXPECT_FALSE(ledger->recovered_torn_line());

  // A torn first line leaves an empty ledger.
  ledger.reset();
  WriteAll(path_, lines[0].substr(0, 20));
  ledger = OpenOrDie();
  ASSERT_NE(ledger, nullptr);
  EXPECT_TRUE(ledger->recovered_torn_line());
  EXPECT_EQ(ledger->size(), 0);
  EXPECT_EQ(ReadAll(path_), "");
}

struct Corruption {
  std::string name;
  std::string from;  // replaced (first occurrence) in line 2; "" replaces the whole line
  std::string to;
  std::string message;  // expected in the status message
};

class LedgerCorruptionTest : public LedgerTest, public ::testing::WithParamInterface<Corruption> {};

TEST_P(LedgerCorruptionTest, MalformedLineIsDataLossNamingFileAndLine) {
  {
    std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
    ChargeSome(*ledger, 3);  // line 2 is a "brca" training release
  }
  std::vector<std::string> lines = Lines(ReadAll(path_));
  const Corruption& c = GetParam();
  if (c.from.empty()) {
    lines[1] = c.to;
  } else {
    size_t at = lines[1].find(c.from);
    ASSERT_NE(at, std::string::npos) << lines[1];
    lines[1].replace(at, c.from.size(), c.to);
  }
  WriteAll(path_, JoinLines(lines));

  absl::StatusOr<std::unique_ptr<PrivacyLedger>> ledger =
      PrivacyLedger::Open(path_, {.epsilon = 100, .delta = kDelta}, &clock_);
  ASSERT_EQ(ledger.status().code(), absl::StatusCode::kDataLoss) << ledger.status();
  EXPECT_THAT(std::string(ledger.status().message()), StartsWith(path_ + ":2: "));
  EXPECT_THAT(std::string(ledger.status().message()), HasSubstr(c.message));
}

INSTANTIATE_TEST_SUITE_P(
    Corruptions, LedgerCorruptionTest,
    ::testing::ValuesIn(std::vector<Corruption>{
        {.name = "NotJson", .from = "{\"seq\"", .to = "{seq", .message = "not valid JSON"},
        {.name = "NotObject", .from = "", .to = "[1,2]", .message = "not a JSON object"},
        {.name = "Empty", .from = "", .to = "", .message = "not valid JSON"},
        {.name = "CountString",
         .from = "\"count\":100",
         .to = "\"count\":\"100\"",
         .message = "event 1: \"count\" is not an integer"},
        {.name = "CountZero",
         .from = "\"count\":100",
         .to = "\"count\":0",
         .message = "event 1: count 0 is not at least 1"},
        {.name = "CountFractional",
         .from = "\"count\":100",
         .to = "\"count\":1.5",
         .message = "\"count\" is not an integer"},
        {.name = "SamplingRate",
         .from = "\"sampling_rate\":0.01",
         .to = "\"sampling_rate\":2.0",
         .message = "sampling_rate 2 is not in (0, 1]"},
        {.name = "Sigma",
         .from = "\"noise_multiplier\":1.1",
         .to = "\"noise_multiplier\":-1.1",
         .message = "noise_multiplier"},
        {.name = "SlackOnGaussian",
         .from = "\"rdp_slack\":0.0",
         .to = "\"rdp_slack\":0.5",
         .message = "rdp_slack must be 0"},
        {.name = "Mechanism",
         .from = "\"mechanism\":\"gaussian\"",
         .to = "\"mechanism\":\"laplace\"",
         .message = "\"mechanism\""},
        {.name = "NoEvents",
         .from = "\"events\":[",
         .to = "\"events\":[],\"x\":[",
         .message = "\"events\" is not a non-empty list"},
        {.name = "Kind",
         .from = "\"kind\":\"train\"",
         .to = "\"kind\":\"sell\"",
         .message = "kind \"sell\""},
        {.name = "NoStudy",
         .from = "\"study\":\"brca\"",
         .to = "\"studie\":\"brca\"",
         .message = "\"study\" is not a string"},
        {.name = "SeqString",
         .from = "\"seq\":2",
         .to = "\"seq\":\"2\"",
         .message = "\"seq\" is not an integer"},
        {.name = "SequenceSkipped",
         .from = "\"seq\":2",
         .to = "\"seq\":3",
         .message = "sequence number 3 where 2 was expected"},
        {.name = "Accountant",
         .from = "\"accountant\":\"",
         .to = "\"accountant\":\"x",
         .message = "\"accountant\""},
    }),
    [](const ::testing::TestParamInfo<Corruption>& info) { return info.param.name; });

TEST_F(LedgerTest, MissingReorderedOrRepeatedChargeIsDataLoss) {
  {
    std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
    ChargeSome(*ledger, 4);
  }
  const std::vector<std::string> lines = Lines(ReadAll(path_));
  struct Case {
    std::vector<std::string> lines;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{lines[0], lines[2], lines[3]}, ":2: sequence number 3 where 2 was expected"},
           {{lines[0], lines[2], lines[1], lines[3]}, ":2: sequence number 3 where 2 was expected"},
           {{lines[0], lines[1], lines[1], lines[2]}, ":3: sequence number 2 where 3 was expected"},
           {{lines[1], lines[2], lines[3]}, ":1: sequence number 2 where 1 was expected"},
       }) {
    WriteAll(path_, JoinLines(c.lines));
    absl::StatusOr<std::unique_ptr<PrivacyLedger>> ledger =
        PrivacyLedger::Open(path_, {.epsilon = 100, .delta = kDelta}, &clock_);
    ASSERT_EQ(ledger.status().code(), absl::StatusCode::kDataLoss) << ledger.status();
    EXPECT_THAT(std::string(ledger.status().message()), StartsWith(path_ + c.message));
  }
}

TEST_F(LedgerTest, MalformedCompleteLastLineIsDataLossNotTorn) {
  {
    std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
    ChargeSome(*ledger, 3);
  }
  std::vector<std::string> lines = Lines(ReadAll(path_));
  lines.back() = lines.back().substr(0, lines.back().size() / 2);  // ends in "\n" after all
  // A torn line after it is not truncated either: the file is left as found.
  WriteAll(path_, JoinLines(lines) + "{\"seq\":4");
  const std::string contents = ReadAll(path_);
  absl::StatusOr<std::unique_ptr<PrivacyLedger>> ledger =
      PrivacyLedger::Open(path_, {.epsilon = 100, .delta = kDelta}, &clock_);
  ASSERT_EQ(ledger.status().code(), absl::StatusCode::kDataLoss) << ledger.status();
  EXPECT_THAT(std::string(ledger.status().message()), StartsWith(path_ + ":3: "));
  EXPECT_EQ(ReadAll(path_), contents);  // a refused ledger is left as found
}

TEST_F(LedgerTest, InvalidCeilingsAreRejected) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::nan("");
  const std::vector<BudgetCeiling> bad = {
      {.epsilon = 0, .delta = kDelta},
      {.epsilon = -1, .delta = kDelta},
      {.epsilon = inf, .delta = kDelta},
      {.epsilon = nan, .delta = kDelta},
      {.epsilon = 1, .delta = 0},
      {.epsilon = 1, .delta = 1},
      {.epsilon = 1, .delta = -0.1},
      {.epsilon = 1, .delta = nan},
      {},
  };
  for (const BudgetCeiling& ceiling : bad) {
    SCOPED_TRACE(absl::StrCat("epsilon ", ceiling.epsilon, " delta ", ceiling.delta));
    EXPECT_EQ(ValidateCeiling(ceiling, "x").code(), absl::StatusCode::kInvalidArgument);
    absl::StatusOr<std::unique_ptr<PrivacyLedger>> ledger =
        PrivacyLedger::Open(path_, ceiling, &clock_);
    EXPECT_EQ(ledger.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(ledger.status().message()), HasSubstr("total privacy ceiling"));
  }
  EXPECT_FALSE(std::filesystem::exists(path_)) << "nothing is created for a refused config";

  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
  for (const BudgetCeiling& ceiling : bad) {
    SCOPED_TRACE(absl::StrCat("epsilon ", ceiling.epsilon, " delta ", ceiling.delta));
    ChargeRequest request = Request("heart-disease", {kStatistic}, ceiling);
    EXPECT_EQ(ledger->Preview(request).status().code(), absl::StatusCode::kInvalidArgument);
    absl::StatusOr<ChargeReceipt> charged = ledger->Charge(request);
    EXPECT_EQ(charged.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(charged.status().message()),
                HasSubstr("study heart-disease: privacy ceiling"));
  }
  EXPECT_EQ(ledger->size(), 0);
  EXPECT_EQ(ReadAll(path_), "");
  EXPECT_TRUE(ValidateCeiling({.epsilon = 1, .delta = kDelta}, "x").ok());
}

TEST_F(LedgerTest, MalformedRequestsAreRejectedWithoutWriting) {
  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
  ChargeSome(*ledger, 1);
  const std::string before = ReadAll(path_);
  auto with_event = [](auto change) {
    PrivacyEvent e = kDistributed;
    change(e);
    return Request("heart-disease", {kStatistic, e});
  };
  std::vector<ChargeRequest> bad = {
      Request("", {kStatistic}),
      Request(std::string(257, 'a'), {kStatistic}),
      Request("heart\ndisease", {kStatistic}),
      Request("heart-disease", {kStatistic}, {.epsilon = 100, .delta = kDelta}, "sell"),
      Request("heart-disease", {}),
      with_event([](PrivacyEvent& e) { e.sampling_rate = 0; }),
      with_event([](PrivacyEvent& e) { e.sampling_rate = 1.5; }),
      with_event([](PrivacyEvent& e) { e.noise_multiplier = 0; }),
      with_event([](PrivacyEvent& e) { e.noise_multiplier = std::nan(""); }),
      with_event(
          [](PrivacyEvent& e) { e.noise_multiplier = std::numeric_limits<double>::infinity(); }),
      with_event([](PrivacyEvent& e) { e.rdp_slack = -1; }),
      with_event([](PrivacyEvent& e) { e.count = 0; }),
      with_event([](PrivacyEvent& e) {
        e.mechanism = Mechanism::kGaussian;  // slack is for the discrete sum only
      }),
  };
  // Composing this with the study's earlier kStatistic overflows the count.
  PrivacyEvent huge = kStatistic;
  huge.count = std::numeric_limits<int64_t>::max();
  bad.push_back(Request("heart-disease", {huge}));
  bad.push_back(Request("heart-disease", {kStatistic}));
  bad.back().release_id = "";
  for (const ChargeRequest& request : bad) {
    SCOPED_TRACE(absl::StrCat(request.study_id, " ", request.release_id, " ", request.kind));
    absl::StatusOr<ChargeReceipt> charged = ledger->Charge(request);
    EXPECT_EQ(charged.status().code(), absl::StatusCode::kInvalidArgument) << charged.status();
  }
  EXPECT_EQ(ReadAll(path_), before);
  EXPECT_EQ(ledger->size(), 1);
}

TEST_F(LedgerTest, SecondLedgerOnTheSameFileIsRefused) {
  std::unique_ptr<PrivacyLedger> first = OpenOrDie();
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<PrivacyLedger>> second =
      PrivacyLedger::Open(path_, {.epsilon = 100, .delta = kDelta}, &clock_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use"));
  first.reset();
  EXPECT_NE(OpenOrDie(), nullptr);
}

TEST_F(LedgerTest, FailedAppendLeavesFileUnchangedAndLedgerUsable) {
  std::unique_ptr<PrivacyLedger> ledger = OpenOrDie();
  ChargeSome(*ledger, 2);
  const std::string before = ReadAll(path_);
  const double spent = ledger->TotalSpent()->epsilon;

  // A file size limit lets the append write 10 bytes, then fail with EFBIG:
  // a partial line that the ledger must take back.
  struct rlimit saved = {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct sigaction ignore = {}, saved_action = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &saved_action), 0);
  struct rlimit limited = saved;
  limited.rlim_cur = before.size() + 10;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  absl::StatusOr<ChargeReceipt> failed = ledger->Charge(Request("heart-disease", {kStatistic}));
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  ASSERT_EQ(::sigaction(SIGXFSZ, &saved_action, nullptr), 0);

  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal) << failed.status();
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr(path_));
  EXPECT_EQ(ReadAll(path_), before);
  EXPECT_EQ(ledger->size(), 2);
  EXPECT_EQ(ledger->TotalSpent()->epsilon, spent);

  absl::StatusOr<ChargeReceipt> retried = ledger->Charge(Request("heart-disease", {kStatistic}));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->sequence, 3);
  ledger.reset();
  EXPECT_EQ(OpenOrDie()->size(), 3);
}

// ---- Crash test: SIGKILL a charging process at random moments. ----

// The helper binary, from $COHORT_BIN_DIR (set by ctest) or, when the test is
// run by hand, the bin/ folder of the build tree this test binary is in.
std::string HelperPath() {
  const std::string name = "privacy_ledger_crash_helper";
  if (const char* dir = std::getenv("COHORT_BIN_DIR"); dir != nullptr) {
    return absl::StrCat(dir, "/", name);
  }
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (std::filesystem::path dir = self.parent_path(); !ec && dir != dir.parent_path();
       dir = dir.parent_path()) {
    if (std::filesystem::exists(dir / "bin" / name)) return (dir / "bin" / name).string();
  }
  return name;
}

// Reads "\n"-terminated reports from a pipe, waiting with a deadline.
class ReportReader {
 public:
  explicit ReportReader(int fd) : fd_(fd) {}
  // The next line, or nullopt at end of file or at `deadline`.
  std::optional<std::string> Next(absl::Time deadline) {
    for (;;) {
      if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      if (eof_) return std::nullopt;
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return std::nullopt;
      struct pollfd p = {.fd = fd_, .events = POLLIN, .revents = 0};
      int ready = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) continue;  // re-checks the deadline
      char buf[4096];
      ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof_ = true;
        continue;
      }
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }
  bool eof() const { return eof_; }

 private:
  int fd_;
  std::string buffer_;
  bool eof_ = false;
};

// Kills (if still running) and reaps a child process, and closes its pipe.
class ChildGuard {
 public:
  ChildGuard(pid_t pid, int pipe_fd) : pid_(pid), pipe_fd_(pipe_fd) {}
  ~ChildGuard() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      Reap();
    }
    ::close(pipe_fd_);
  }
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  // Waits for the child to exit; returns its waitpid status.
  int Reap() {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    EXPECT_EQ(r, pid_);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
  int pipe_fd_;
};

struct Report {
  int64_t seq = 0;
  double total_epsilon = 0;
};

Report ParseReport(const std::string& line) {
  std::vector<std::string> parts = absl::StrSplit(line, ' ');
  Report r;
  EXPECT_EQ(parts.size(), 2u) << line;
  if (parts.size() == 2) {
    EXPECT_TRUE(absl::SimpleAtoi(parts[0], &r.seq)) << line;
    EXPECT_TRUE(absl::SimpleAtod(parts[1], &r.total_epsilon)) << line;
  }
  return r;
}

TEST_F(LedgerTest, SigkillNeverLosesACompletedCharge) {
  const std::string helper = HelperPath();
  ASSERT_EQ(::access(helper.c_str(), X_OK), 0) << helper << " is not built";
  const std::string log = dir_.Path("helper.log");
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  std::mt19937 random(seed);
  constexpr int kKills = 20;
  int64_t last_seq = 0;
  int recovered = 0;
  int unreported = 0;  // kills after a charge's line was written, before its report

  for (int kill_number = 1; kill_number <= kKills; ++kill_number) {
    SCOPED_TRACE(absl::StrCat("kill ", kill_number));
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fds[1], STDOUT_FILENO);
      if (log_fd >= 0) ::dup2(log_fd, STDERR_FILENO);
      const char* argv[] = {helper.c_str(), path_.c_str(), nullptr};
      ::execv(argv[0], const_cast<char* const*>(argv));
      ::_exit(127);
    }
    ::close(fds[1]);
    ChildGuard child(pid, fds[0]);
    ReportReader reader(fds[0]);
    double last_epsilon = 0;
    auto record = [&](const std::string& line) {
      Report r = ParseReport(line);
      EXPECT_EQ(r.seq, last_seq + 1) << "reports must be consecutive";
      last_seq = r.seq;
      last_epsilon = r.total_epsilon;
    };

    // Let the helper complete 1..15 charges; then keep taking its reports for
    // a random 0..5 ms more, so that the kill lands anywhere inside a charge
    // rather than just after a report, and kill it.
    const int wait_for = std::uniform_int_distribution<int>(1, 15)(random);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    for (int reports = 0; reports < wait_for; ++reports) {
      std::optional<std::string> line = reader.Next(deadline);
      ASSERT_TRUE(line.has_value()) << "the helper stopped reporting: " << ReadAll(log);
      record(*line);
    }
    const absl::Time kill_at =
        absl::Now() + absl::Microseconds(std::uniform_int_distribution<int>(0, 5000)(random));
    while (std::optional<std::string> line = reader.Next(kill_at)) record(*line);
    ::kill(pid, SIGKILL);
    // Reports written before the kill are completed charges too.
    while (std::optional<std::string> line = reader.Next(absl::Now() + absl::Seconds(30))) {
      record(*line);
    }
    ASSERT_TRUE(reader.eof()) << "the helper's stdout stayed open after SIGKILL";
    const int status = child.Reap();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the helper stopped on its own (status " << status << "): " << ReadAll(log);

    // The ledger parses, and holds every charge that was reported complete.
    absl::StatusOr<std::unique_ptr<PrivacyLedger>> ledger =
        PrivacyLedger::Open(path_, {.epsilon = 1e9, .delta = kDelta}, &clock_);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    recovered += (*ledger)->recovered_torn_line() ? 1 : 0;
    ASSERT_GE((*ledger)->size(), last_seq);
    unreported += (*ledger)->size() > last_seq ? 1 : 0;
    absl::StatusOr<Spend> total = (*ledger)->TotalSpent();
    ASSERT_TRUE(total.ok()) << total.status();
    EXPECT_GE(total->epsilon, last_epsilon);
    if ((*ledger)->size() == last_seq) {
      EXPECT_EQ(total->epsilon, last_epsilon);
    }
    // A charge that completed but was not reported yet is on disk too; the
    // next helper continues after it.
    last_seq = (*ledger)->size();
  }
  EXPECT_GE(last_seq, kKills) << "every run completed at least one charge";
  std::cout << "[          ] " << kKills << " kills, " << last_seq << " charges, " << unreported
            << " kills between writing a charge and reporting it, " << recovered
            << " torn lines recovered\n";
}

}  // namespace
}  // namespace cohort::privacy
