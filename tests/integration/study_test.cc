// End-to-end tests: the real cohort-coordinator and cohort-site binaries on
// loopback with mutual TLS, on the UCI heart-disease hospitals.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/audit/verify.h"
#include "common/ml/metrics.h"
#include "common/privacy/accountant.h"
#include "common/privacy/ledger.h"
#include "common/study/proto_convert.h"
#include "crypto/files.h"
#include "tests/integration/consortium.h"

namespace cohort::testing {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kSites = {"cleveland", "hungarian", "switzerland", "va"};

absl::Time In(absl::Duration d) { return absl::Now() + d; }

// Inodes of the sockets process `pid` holds open.
std::set<std::string> SocketInodes(pid_t pid) {
  std::set<std::string> inodes;
  for (const auto& entry :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"))) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) {
      inodes.insert(target.substr(8, target.size() - 9));
    }
  }
  return inodes;
}

// Counts the TCP sockets of `pid` in LISTEN state (state 0A in /proc/net/tcp*)
// and the ones in any state, so a test can tell "no listener" from "no sockets".
std::pair<int, int> ListeningAndTotalTcpSockets(pid_t pid) {
  const std::set<std::string> inodes = SocketInodes(pid);
  int listening = 0, total = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream lines(ReadFileOrEmpty(table));
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::vector<std::string> f;
      for (std::string x; fields >> x;) f.push_back(x);
      if (f.size() < 10 || !inodes.contains(f[9])) continue;
      ++total;
      if (f[3] == "0A") ++listening;
    }
  }
  return {listening, total};
}

// The exact metrics the sites kept to themselves (their evaluation files),
// pooled from counts and histograms: possible here because the test plays
// every hospital.
nlohmann::json PooledExactMetrics(const Consortium& c, const std::vector<std::string>& sites) {
  ml::BinaryMetrics total;
  for (const auto& site : sites) {
    const std::string path = c.SiteStateDir(site) + "/evaluations/heart-disease.json";
    nlohmann::json e = nlohmann::json::parse(ReadFileOrEmpty(path), nullptr, false);
    EXPECT_TRUE(e.is_object()) << path;
    if (!e.is_object()) continue;
    const nlohmann::json& m = e["models"][0];
    ml::BinaryMetrics metrics;
    metrics.n = m["counts"]["n"];
    metrics.correct = m["counts"]["correct"];
    metrics.true_positive = m["counts"]["true_positive"];
    metrics.false_positive = m["counts"]["false_positive"];
    metrics.true_negative = m["counts"]["true_negative"];
    metrics.false_negative = m["counts"]["false_negative"];
    metrics.loss_sum = m["counts"]["loss_sum"];
    metrics.positive_histogram = m["histograms"]["positive"].get<std::vector<int64_t>>();
    metrics.negative_histogram = m["histograms"]["negative"].get<std::vector<int64_t>>();
    EXPECT_TRUE(ml::Merge(total, metrics).ok()) << path;
  }
  return study::MetricsJson(total);
}

// Verifies the coordinator's audit log against the sites' logs (chains,
// signatures against the consortium CA, cross-anchors both ways).
audit::VerifyReport VerifyAuditLogs(const Consortium& c, const std::vector<std::string>& sites) {
  audit::VerifyOptions options;
  options.ca_pem = ReadFileOrEmpty(c.dir() + "/pki/ca.crt");
  for (const auto& s : sites) options.against.push_back(c.SiteStateDir(s) + "/audit/site.jsonl");
  auto report = audit::Verify(c.dir() + "/coordinator/audit/coordinator.jsonl", options);
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? *std::move(report) : audit::VerifyReport{};
}

std::string Violations(const audit::VerifyReport& report) {
  std::string out;
  for (const auto& v : report.violations) out += audit::ToString(v) + "\n";
  return out;
}

// A site's privacy ledger, opened after its agent has exited.
std::unique_ptr<privacy::PrivacyLedger> OpenLedger(const Consortium& c, const std::string& site) {
  auto ledger = privacy::PrivacyLedger::Open(c.SiteStateDir(site) + "/privacy/ledger.jsonl",
                                             {3.0, 1e-5});
  EXPECT_TRUE(ledger.ok()) << ledger.status();
  return ledger.ok() ? *std::move(ledger) : nullptr;
}

// Turns differential privacy off in the plan and lets the sites accept it:
// for tests of properties that DP noise would blur.
std::map<std::string, std::string> NonPrivate(std::map<std::string, std::string> plan) {
  plan["  mode"] = "off";
  return plan;
}
const std::map<std::string, std::string> kAllowNonPrivate = {
    {"allow_non_private: false", "allow_non_private: true"}};

void ExpectExit(Subprocess& process, int code, absl::Duration within) {
  std::optional<int> rc = process.WaitForExit(In(within));
  ASSERT_TRUE(rc.has_value()) << "still running after " << within << "; log:\n"
                              << process.Log();
  EXPECT_EQ(*rc, code) << process.Log();
}

TEST(StudyTest, FourHospitalsTrainUnderDistributedDifferentialPrivacy) {
  Consortium c;
  c.WritePlan();  // the demo's plan, as shipped: distributed DP, epsilon <= 1 per site
  c.StartCoordinator();
  for (const auto& s : kSites) c.StartSite(s, c.WriteSiteConfig(s));

  ExpectExit(c.coordinator(), 0, absl::Minutes(3));
  for (const auto& s : kSites) ExpectExit(c.site(s), 0, absl::Seconds(30));

  nlohmann::json summary = c.Summary();
  EXPECT_EQ(summary["study_id"], "heart-disease");
  EXPECT_EQ(summary["status"], "completed");
  ASSERT_EQ(summary["rounds"].size(), 10u);
  for (const auto& round : summary["rounds"]) {
    EXPECT_EQ(round["sites"].size(), 4u) << round.dump();
    // No per-round metrics leave a site under DP.
    EXPECT_FALSE(round.contains("test")) << round.dump();
  }
  // The statistics are noisy: FLamby's split has 486 training rows.
  // (noise std 10 * sqrt(19) ~ 44 on the count: 230 is over 5 std).
  EXPECT_NEAR(summary["preprocessing"]["num_train"].get<double>(), 486, 230);
  // The model is as useful as the issue asks at epsilon <= 1, judged on the
  // exact metrics the hospitals kept (FLamby's 254 test rows). The README
  // reports the mean of repeated runs; this bound leaves room for the noise.
  const nlohmann::json pooled = PooledExactMetrics(c, kSites);
  std::cout << "exact pooled test metrics: accuracy " << pooled["accuracy"] << ", AUC "
            << pooled["auc"] << "\n";
  EXPECT_EQ(pooled["n"], 254);
  EXPECT_GE(pooled["accuracy"].get<double>(), 0.75) << pooled.dump();
  EXPECT_GE(pooled["auc"].get<double>(), 0.83) << pooled.dump();
  // What was released is noisy and says so; no baseline spends extra budget.
  EXPECT_THAT(summary["final"]["note"].get<std::string>(), HasSubstr("differential privacy"));
  EXPECT_FALSE(summary.contains("baseline"));

  // Every hospital's own ledger charged each release: statistics, 10 rounds,
  // the final evaluation; the whole study stayed under its ceiling of 1, and
  // what the coordinator reports is what the ledgers say.
  const auto& privacy = summary["privacy"];
  EXPECT_EQ(privacy["mode"], "distributed");
  const double planned = privacy["planned_epsilon"].get<double>();
  EXPECT_GT(planned, 0.5);
  EXPECT_LE(planned, 1.0);
  for (const auto& s : kSites) {
    std::unique_ptr<privacy::PrivacyLedger> ledger = OpenLedger(c, s);
    ASSERT_NE(ledger, nullptr);
    EXPECT_EQ(ledger->size(), 12) << s;
    absl::StatusOr<privacy::Spend> spent = ledger->StudySpent("heart-disease", 1e-5);
    ASSERT_TRUE(spent.ok()) << spent.status();
    EXPECT_NEAR(spent->epsilon, planned, 1e-9 * planned) << s;
    EXPECT_NEAR(privacy["per_site"][s]["epsilon"].get<double>(), spent->epsilon,
                1e-9 * spent->epsilon)
        << s;
    EXPECT_EQ(privacy["per_site"][s]["ceiling"], 1.0);
  }
  // Every round went through secure aggregation with all four hospitals.
  const auto& sa = summary["secure_aggregation"];
  EXPECT_EQ(sa["enabled"], true);
  EXPECT_EQ(sa["threshold"], 3);
  ASSERT_EQ(sa["rounds"].size(), 11u);  // preprocessing + 10 training rounds
  for (const auto& round : sa["rounds"]) EXPECT_EQ(round["survivors"].size(), 4u);
  EXPECT_THAT(c.coordinator().Log(), ::testing::Not(HasSubstr("secure aggregation is OFF")));
  EXPECT_TRUE(std::filesystem::exists(c.dir() + "/coordinator/studies/heart-disease/model.json"));
  EXPECT_TRUE(std::filesystem::exists(c.dir() + "/coordinator/studies/heart-disease/checkpoint.pb"));
  EXPECT_THAT(c.site("va").Log(), HasSubstr("connected to cohort-coordinator"));

  // Both ends kept signed, hash-chained audit logs that anchor each other.
  audit::VerifyReport audit_report = VerifyAuditLogs(c, kSites);
  EXPECT_TRUE(audit_report.violations.empty()) << Violations(audit_report);
  EXPECT_GT(audit_report.entries, 50);
  EXPECT_THAT(audit_report.writer, HasSubstr("coordinator"));
  // Cutting the tail off a site's log is caught through the coordinator's
  // anchors of it.
  const std::string va_log = c.SiteStateDir("va") + "/audit/site.jsonl";
  std::string text = ReadFileOrEmpty(va_log);
  const size_t cut = text.rfind('\n', text.size() - 2);
  ASSERT_NE(cut, std::string::npos);
  ASSERT_TRUE(crypto::WriteFileAtomically(va_log, text.substr(0, cut + 1), 0600).ok());
  EXPECT_FALSE(VerifyAuditLogs(c, kSites).violations.empty());
}

TEST(StudyTest, WithoutDpFourHospitalsTrainAModelAsGoodAsPooledData) {
  Consortium c;
  c.WritePlan(NonPrivate({{"rounds", "40"}, {"  learning_rate", "0.05"}}));
  c.StartCoordinator();
  for (const auto& s : kSites) c.StartSite(s, c.WriteSiteConfig(s, kAllowNonPrivate));
  ExpectExit(c.coordinator(), 0, absl::Minutes(3));
  nlohmann::json summary = c.Summary();
  ASSERT_EQ(summary["status"], "completed");
  for (const auto& round : summary["rounds"]) {
    ASSERT_TRUE(round["test"].is_object()) << round.dump();
    EXPECT_EQ(round["test"]["n"], 254);
  }
  const auto& pooled = summary["final"]["pooled"];
  EXPECT_EQ(pooled["n"], 254);
  EXPECT_GE(pooled["accuracy"].get<double>(), 0.785) << summary.dump(2);
  EXPECT_GE(pooled["auc"].get<double>(), 0.875) << summary.dump(2);
  const auto& per_site = summary["final"]["per_site"];
  EXPECT_EQ(per_site["cleveland"]["n"], 104);
  EXPECT_EQ(per_site["hungarian"]["n"], 89);
  EXPECT_EQ(per_site["switzerland"]["n"], 16);
  EXPECT_EQ(per_site["va"]["n"], 45);
  EXPECT_EQ(summary["preprocessing"]["num_train"], 486);
  EXPECT_EQ(summary["baseline"]["site"], "cleveland");
  EXPECT_EQ(summary["baseline"]["pooled"]["n"], 254);
  // Turning DP off is loud at both ends, and nothing was charged.
  EXPECT_THAT(c.site("va").Log(), HasSubstr("differential privacy is OFF"));
  EXPECT_FALSE(std::filesystem::exists(c.SiteStateDir("va") + "/privacy/ledger.jsonl"));
}

TEST(StudyTest, SiteRefusesAPlanWithoutDpUnlessItsConfigAllowsIt) {
  Consortium c;
  c.WritePlan(NonPrivate({{"rounds", "2"}}));
  c.StartCoordinator();
  for (const auto& s : {"cleveland", "hungarian", "switzerland"}) {
    c.StartSite(s, c.WriteSiteConfig(s, kAllowNonPrivate));
  }
  c.StartSite("va", c.WriteSiteConfig("va"));
  ExpectExit(c.coordinator(), 0, absl::Minutes(2));
  nlohmann::json summary = c.Summary();
  ASSERT_EQ(summary["status"], "completed");
  EXPECT_THAT(summary["refusals"]["va"].get<std::string>(),
              AllOf(HasSubstr("INVALID_PLAN"), HasSubstr("allow_non_private")));
  for (const auto& round : summary["rounds"]) EXPECT_EQ(round["sites"].size(), 3u);
}

// VA's own ceiling is a fraction of what the study needs: it takes part until
// the release that would cross it, which it refuses before touching its data.
TEST(StudyTest, BudgetStopsChargingASiteExactlyBeforeTheCrossingRelease) {
  Consortium c;
  c.WritePlan({{"rounds", "20"}});
  c.StartCoordinator();
  // The others can afford the whole study; VA's own ceiling is 0.5.
  for (const auto& s : {"cleveland", "hungarian", "switzerland"}) {
    c.StartSite(s, c.WriteSiteConfig(s, {{"per_study: {epsilon: 1.0", "per_study: {epsilon: 3.0"}}));
  }
  c.StartSite("va", c.WriteSiteConfig("va", {{"per_study: {epsilon: 1.0", "per_study: {epsilon: 0.5"}}));
  ExpectExit(c.coordinator(), 0, absl::Minutes(3));
  ExpectExit(c.site("va"), 0, absl::Seconds(30));
  nlohmann::json summary = c.Summary();
  ASSERT_EQ(summary["status"], "completed") << summary.dump(2);
  EXPECT_THAT(summary["refusals"]["va"].get<std::string>(),
              AllOf(HasSubstr("PRIVACY_BUDGET_EXHAUSTED"), HasSubstr("above the site's ceiling")));
  EXPECT_THAT(c.site("va").Log(), HasSubstr("refused task"));

  std::unique_ptr<privacy::PrivacyLedger> ledger = OpenLedger(c, "va");
  ASSERT_NE(ledger, nullptr);
  absl::StatusOr<privacy::Spend> spent = ledger->StudySpent("heart-disease", 1e-5);
  ASSERT_TRUE(spent.ok());
  EXPECT_LE(spent->epsilon, 0.5);
  // VA took part in some rounds, not all: the statistics plus 1 <= k < 20 rounds.
  const int64_t charges = ledger->size();
  EXPECT_GE(charges, 2);
  EXPECT_LT(charges, 21);
  // One more training round would have crossed 0.5: recompute from the
  // ledger's own events plus the next round's.
  const std::string text = ReadFileOrEmpty(c.SiteStateDir("va") + "/privacy/ledger.jsonl");
  std::vector<privacy::PrivacyEvent> events;
  std::istringstream lines(text);
  privacy::PrivacyEvent last_train;
  for (std::string line; std::getline(lines, line);) {
    nlohmann::json entry = nlohmann::json::parse(line);
    for (const auto& e : entry["events"]) {
      privacy::PrivacyEvent event{
          .mechanism = e["mechanism"] == "gaussian"
                           ? privacy::PrivacyEvent::Mechanism::kGaussian
                           : privacy::PrivacyEvent::Mechanism::kDiscreteGaussianSum,
          .sampling_rate = e["sampling_rate"],
          .noise_multiplier = e["noise_multiplier"],
          .rdp_slack = e["rdp_slack"],
          .count = e["count"]};
      events.push_back(event);
      if (entry["kind"] == "train") last_train = event;
    }
  }
  events.push_back(last_train);
  absl::StatusOr<privacy::EpsilonBound> next = privacy::Epsilon(events, 1e-5);
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->epsilon, 0.5);
  // The coordinator's record of VA is what its ledger says.
  EXPECT_NEAR(summary["privacy"]["per_site"]["va"]["epsilon"].get<double>(), spent->epsilon,
              1e-9);
  // The others went on without VA.
  EXPECT_EQ(summary["rounds"].back()["sites"].size(), 3u);
  // An untampered 20-round study's audit logs verify, VA's refusal included.
  audit::VerifyReport audit_report = VerifyAuditLogs(c, kSites);
  EXPECT_TRUE(audit_report.violations.empty()) << Violations(audit_report);
  EXPECT_THAT(ReadFileOrEmpty(c.SiteStateDir("va") + "/audit/site.jsonl"),
              HasSubstr("PRIVACY_BUDGET_EXHAUSTED"));
  // A privacy officer's recomputation from VA's audit log, independent of the
  // totals logged, agrees with VA's ledger.
  Subprocess audit_privacy;
  audit_privacy.Start({BinDir() + "/cohort", "audit", "privacy", "--json",
                       c.SiteStateDir("va") + "/audit/site.jsonl"},
                      c.dir() + "/logs/audit-privacy.json");
  ExpectExit(audit_privacy, 0, absl::Seconds(60));
  nlohmann::json recomputed = nlohmann::json::parse(audit_privacy.Log(), nullptr, false);
  ASSERT_TRUE(recomputed.is_object()) << audit_privacy.Log();
  EXPECT_TRUE(recomputed["mismatches"].empty());
  EXPECT_NEAR(recomputed["studies"]["heart-disease"]["epsilon"].get<double>(), spent->epsilon,
              1e-9 * spent->epsilon);
  EXPECT_EQ(recomputed["studies"]["heart-disease"]["releases"].get<int64_t>(), charges);
}

TEST(StudyTest, SiteKilledAndRestartedKeepsWhatItSpent) {
  Consortium c;
  c.WritePlan({{"rounds", "8"}, {"round_deadline_seconds", "5"}});
  c.StartCoordinator({{"liveness_grace_seconds", "1"}});
  for (const auto& s : kSites) c.StartSite(s, c.WriteSiteConfig(s));
  ASSERT_TRUE(WaitForFileContaining(c.site("va").log_path(), "round=3", In(absl::Minutes(1))))
      << c.site("va").Log();
  c.site("va").Signal(SIGKILL);
  ASSERT_TRUE(c.site("va").WaitForExit(In(absl::Seconds(10))).has_value());
  const std::string ledger_path = c.SiteStateDir("va") + "/privacy/ledger.jsonl";
  const std::string before = ReadFileOrEmpty(ledger_path);
  double spent_before = 0;
  {
    std::unique_ptr<privacy::PrivacyLedger> ledger = OpenLedger(c, "va");
    ASSERT_NE(ledger, nullptr);
    EXPECT_GE(ledger->size(), 3);
    spent_before = ledger->StudySpent("heart-disease", 1e-5)->epsilon;
    EXPECT_GT(spent_before, 0);
  }
  // The restarted agent continues the same ledger: nothing it spent is lost.
  c.StartSite("va", c.config_path("va"));
  ExpectExit(c.coordinator(), 0, absl::Minutes(3));
  ExpectExit(c.site("va"), 0, absl::Seconds(30));
  const std::string after = ReadFileOrEmpty(ledger_path);
  ASSERT_GE(after.size(), before.size());
  EXPECT_EQ(after.substr(0, before.size()), before) << "the ledger's history changed";
  std::unique_ptr<privacy::PrivacyLedger> ledger = OpenLedger(c, "va");
  ASSERT_NE(ledger, nullptr);
  const double spent_after = ledger->StudySpent("heart-disease", 1e-5)->epsilon;
  EXPECT_GT(spent_after, spent_before);
  EXPECT_LE(spent_after, 1.0);
  nlohmann::json summary = c.Summary();
  EXPECT_EQ(summary["status"], "completed");
  EXPECT_NEAR(summary["privacy"]["per_site"]["va"]["epsilon"].get<double>(), spent_after, 1e-9);
}

TEST(StudyTest, StudyCompletesWhenASiteIsKilledMidStudy) {
  Consortium c;
  c.WritePlan(NonPrivate({{"rounds", "10"}, {"min_sites", "3"}, {"  learning_rate", "0.05"}}));
  c.StartCoordinator({{"liveness_grace_seconds", "1"}});
  for (const auto& s : kSites) c.StartSite(s, c.WriteSiteConfig(s, kAllowNonPrivate));

  ASSERT_TRUE(WaitForFileContaining(c.site("va").log_path(), "round=3", In(absl::Minutes(1))))
      << c.site("va").Log();
  // Mid-study, the agent holds its outbound connection and listens on nothing.
  const auto [listening, total] = ListeningAndTotalTcpSockets(c.site("va").pid());
  EXPECT_GE(total, 1);
  EXPECT_EQ(listening, 0);
  EXPECT_GE(ListeningAndTotalTcpSockets(c.coordinator().pid()).first, 1)
      << "the check must see the coordinator's listening socket";
  c.site("va").Signal(SIGKILL);

  ExpectExit(c.coordinator(), 0, absl::Minutes(3));
  nlohmann::json summary = c.Summary();
  ASSERT_EQ(summary["status"], "completed") << summary.dump(2);
  ASSERT_EQ(summary["rounds"].size(), 10u);
  const auto& last = summary["rounds"].back();
  EXPECT_EQ(last["sites"].size(), 3u) << last.dump();
  bool dropped_va = false;
  for (const auto& round : summary["rounds"]) {
    if (round.contains("dropped") && round["dropped"].contains("va")) dropped_va = true;
  }
  EXPECT_TRUE(dropped_va) << summary.dump(2);
  EXPECT_THAT(c.coordinator().Log(), HasSubstr("site=va site dropped from round"));
  EXPECT_GE(summary["final"]["pooled"]["n"].get<int>(), 104 + 89 + 16);
  // Secure aggregation recovered from the dropout: VA is a recorded dropout
  // of a secure round, and every round's sum came from the survivors.
  bool secure_dropout = false;
  for (const auto& round : summary["secure_aggregation"]["rounds"]) {
    if (round["dropouts"].contains("va")) secure_dropout = true;
    EXPECT_GE(round["survivors"].size(), 3u);
  }
  EXPECT_TRUE(secure_dropout) << summary["secure_aggregation"].dump(2);
  EXPECT_GE(summary["final"]["pooled"]["accuracy"].get<double>(), 0.77);
}

// The demo's study (without DP, whose noise would blur the comparison) with
// or without secure aggregation; returns the summary.
nlohmann::json RunFullStudy(bool secure) {
  Consortium c;
  std::map<std::string, std::string> plan = NonPrivate({{"rounds", "40"}, {"  learning_rate", "0.05"}});
  if (!secure) plan["secure_aggregation"] = "{enabled: false}";
  c.WritePlan(plan);
  c.StartCoordinator();
  for (const auto& s : kSites) c.StartSite(s, c.WriteSiteConfig(s, kAllowNonPrivate));
  ExpectExit(c.coordinator(), 0, absl::Minutes(3));
  if (!secure) {
    // Turning it off is loud at both ends.
    EXPECT_THAT(c.coordinator().Log(), HasSubstr("secure aggregation is OFF"));
    EXPECT_THAT(c.site("va").Log(), HasSubstr("secure aggregation is OFF"));
  }
  return c.Summary();
}

TEST(StudyTest, SecureAggregationChangesPooledAccuracyByLessThanHalfAPoint) {
  const nlohmann::json secure = RunFullStudy(true);
  const nlohmann::json plain = RunFullStudy(false);
  ASSERT_EQ(secure["status"], "completed");
  ASSERT_EQ(plain["status"], "completed");
  EXPECT_EQ(secure["secure_aggregation"]["enabled"], true);
  EXPECT_EQ(plain["secure_aggregation"]["enabled"], false);
  EXPECT_TRUE(plain["secure_aggregation"]["rounds"].empty());
  EXPECT_NEAR(secure["final"]["pooled"]["accuracy"].get<double>(),
              plain["final"]["pooled"]["accuracy"].get<double>(), 0.005);
  EXPECT_NEAR(secure["final"]["pooled"]["auc"].get<double>(),
              plain["final"]["pooled"]["auc"].get<double>(), 0.005);
}

TEST(StudyTest, CoordinatorKilledMidStudyResumesFromItsCheckpoint) {
  Consortium c;
  c.WritePlan({{"rounds", "8"}});
  c.StartCoordinator();
  for (const auto& s : kSites) c.StartSite(s, c.WriteSiteConfig(s));
  ASSERT_TRUE(WaitForFileContaining(c.coordinator().log_path(), "round 4 of 8",
                                    In(absl::Minutes(1))))
      << c.coordinator().Log();
  c.coordinator().Signal(SIGKILL);
  ASSERT_TRUE(c.coordinator().WaitForExit(In(absl::Seconds(10))).has_value());
  const std::string first_log = c.coordinator().Log();

  // Same address (the sites know it), same state folder.
  c.StartCoordinator({{"listen", absl::StrCat("\"127.0.0.1:", c.port(), "\"")}});
  ExpectExit(c.coordinator(), 0, absl::Minutes(2));
  for (const auto& s : kSites) ExpectExit(c.site(s), 0, absl::Seconds(30));
  const std::string second_log = c.coordinator().Log().substr(first_log.size());
  EXPECT_THAT(second_log, HasSubstr("resuming from checkpoint after round"));
  EXPECT_THAT(second_log, ::testing::Not(HasSubstr("preprocessing done")));
  nlohmann::json summary = c.Summary();
  EXPECT_EQ(summary["status"], "completed");
  ASSERT_EQ(summary["rounds"].size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(summary["rounds"][i]["round"], i + 1);
  for (const auto& s : kSites) {
    EXPECT_THAT(c.site(s).Log(), HasSubstr("lost the coordinator")) << s;
  }
}

TEST(StudyTest, SiteWithCertificateFromAnotherCaIsRefused) {
  Consortium c;
  c.WritePlan();
  c.StartCoordinator();
  const std::string cert = c.dir() + "/rogue/cleveland.crt";
  const std::string key = c.dir() + "/rogue/cleveland.key";
  c.IssueFromForeignCa("cleveland", cert, key);
  const std::string config = c.WriteSiteConfig(
      "cleveland", {{c.dir() + "/pki/sites/cleveland.crt", cert},
                    {c.dir() + "/pki/sites/cleveland.key", key}});
  Subprocess& site = c.StartSite("cleveland", config);
  ExpectExit(site, 3, absl::Seconds(60));
  EXPECT_THAT(site.Log(), HasSubstr("unable to get local issuer certificate"));
  EXPECT_TRUE(WaitForFileContaining(c.coordinator().log_path(), "refused TLS connection",
                                    In(absl::Seconds(10))))
      << c.coordinator().Log();
  EXPECT_THAT(c.coordinator().Log(), HasSubstr("unable to get local issuer certificate"));
}

TEST(StudyTest, SiteWithExpiredCertificateIsRefused) {
  Consortium c;
  c.WritePlan();
  c.StartCoordinator();
  // An expired certificate from the right CA, made with the operator CLI.
  const std::string out = c.dir() + "/expired";
  std::filesystem::create_directories(out);
  std::filesystem::copy(c.dir() + "/pki/ca.crt", out + "/ca.crt");
  std::filesystem::copy(c.dir() + "/pki/ca.key", out + "/ca.key");
  Subprocess issue;
  issue.Start({BinDir() + "/cohort", "pki", "issue", "site", "hungarian", "--dir", out,
               "--days", "1", "--not-before-days-ago", "10"},
              c.dir() + "/logs/issue.log");
  ExpectExit(issue, 0, absl::Seconds(30));
  const std::string config = c.WriteSiteConfig(
      "hungarian", {{c.dir() + "/pki/sites/hungarian.crt", out + "/sites/hungarian.crt"},
                    {c.dir() + "/pki/sites/hungarian.key", out + "/sites/hungarian.key"}});
  Subprocess& site = c.StartSite("hungarian", config);
  ExpectExit(site, 3, absl::Seconds(60));
  EXPECT_THAT(site.Log(), HasSubstr("expired"));
  EXPECT_TRUE(WaitForFileContaining(c.coordinator().log_path(), "certificate has expired",
                                    In(absl::Seconds(10))))
      << c.coordinator().Log();
}

TEST(StudyTest, ConfigNamingAnotherSiteThanTheCertificateIsRejected) {
  Consortium c;
  c.WritePlan();
  // Cleveland's config with Hungary's certificate and key.
  const std::string config = c.WriteSiteConfig(
      "cleveland", {{c.dir() + "/pki/sites/cleveland.crt", c.dir() + "/pki/sites/hungarian.crt"},
                    {c.dir() + "/pki/sites/cleveland.key", c.dir() + "/pki/sites/hungarian.key"}});
  Subprocess& site = c.StartSite("cleveland", config);
  ExpectExit(site, 2, absl::Seconds(30));
  EXPECT_THAT(site.Log(), HasSubstr("site is 'cleveland' but certificate"));
  EXPECT_THAT(site.Log(), HasSubstr("belongs to site 'hungarian'"));
}

TEST(StudyTest, CheckModeValidatesCertificateAndDataWithoutConnecting) {
  Consortium c;
  c.WritePlan();
  Subprocess good;
  good.Start({BinDir() + "/cohort-site", "--config", c.WriteSiteConfig("va"), "--check"},
             c.dir() + "/logs/check-va.log");
  ExpectExit(good, 0, absl::Seconds(30));
  EXPECT_THAT(good.Log(), HasSubstr("configuration, certificate and data are valid"));

  const std::string cert = c.dir() + "/rogue/cleveland.crt";
  const std::string key = c.dir() + "/rogue/cleveland.key";
  c.IssueFromForeignCa("cleveland", cert, key);
  Subprocess rogue;
  rogue.Start({BinDir() + "/cohort-site", "--config",
               c.WriteSiteConfig("cleveland", {{c.dir() + "/pki/sites/cleveland.crt", cert},
                                               {c.dir() + "/pki/sites/cleveland.key", key}}),
               "--check"},
              c.dir() + "/logs/check-cleveland.log");
  ExpectExit(rogue, 3, absl::Seconds(30));
  EXPECT_THAT(rogue.Log(), HasSubstr("unable to get local issuer certificate"));
}

TEST(StudyTest, SiteNotInTheStudyIsRefusedAtHello) {
  Consortium c({"stranger"});
  c.WritePlan();
  c.StartCoordinator();
  Subprocess& site = c.StartSite("stranger", c.WriteSiteConfig("stranger", {}, "cleveland"));
  ExpectExit(site, 3, absl::Seconds(60));
  EXPECT_THAT(site.Log(), HasSubstr("not a participant of any study"));
  EXPECT_THAT(c.coordinator().Log(), HasSubstr("site=stranger refused site"));
}

TEST(StudyTest, PlanTheSiteHasNotApprovedIsRefusedAndTheStudyGoesOn) {
  Consortium c;
  c.WritePlan({{"rounds", "3"}, {"min_sites", "3"}});
  c.StartCoordinator();
  for (const auto& s : {"cleveland", "hungarian", "switzerland"}) {
    c.StartSite(s, c.WriteSiteConfig(s));
  }
  // VA approved a different version of the plan (another hash) and keeps no
  // local copy, so it only finds out when the task arrives.
  const std::string other_hash(64, 'a');
  const std::string config = c.WriteSiteConfig(
      "va", {{"plan_sha256: \"" + c.plan_sha256() + "\"", "plan_sha256: \"" + other_hash + "\""},
             {"    plan: \"" + c.plan_path() + "\"\n", ""}});
  c.StartSite("va", config);

  ExpectExit(c.coordinator(), 0, absl::Minutes(2));
  ExpectExit(c.site("va"), 0, absl::Seconds(30));
  nlohmann::json summary = c.Summary();
  EXPECT_EQ(summary["status"], "completed");
  ASSERT_TRUE(summary["refusals"].contains("va")) << summary.dump(2);
  EXPECT_THAT(summary["refusals"]["va"].get<std::string>(), HasSubstr("PLAN_HASH_MISMATCH"));
  for (const auto& round : summary["rounds"]) EXPECT_EQ(round["sites"].size(), 3u);
  EXPECT_THAT(c.site("va").Log(), HasSubstr("PLAN_HASH_MISMATCH"));
  // Refused before any data was read: the agent never loaded its extract.
  EXPECT_THAT(c.site("va").Log(), ::testing::Not(HasSubstr("loaded ")));
}

TEST(StudyTest, StudyNotApprovedIsRefused) {
  Consortium c;
  c.WritePlan({{"rounds", "2"}, {"min_sites", "3"}});
  c.StartCoordinator();
  for (const auto& s : {"cleveland", "hungarian", "switzerland"}) {
    c.StartSite(s, c.WriteSiteConfig(s));
  }
  const std::string config = c.WriteSiteConfig(
      "va", {{"study_id: heart-disease", "study_id: another-study"},
             {"    plan: \"" + c.plan_path() + "\"\n", ""}});
  c.StartSite("va", config);
  ExpectExit(c.coordinator(), 0, absl::Minutes(2));
  nlohmann::json summary = c.Summary();
  EXPECT_THAT(summary["refusals"]["va"].get<std::string>(), HasSubstr("STUDY_NOT_APPROVED"));
  EXPECT_THAT(c.site("va").Log(), ::testing::Not(HasSubstr("loaded ")));
}

TEST(StudyTest, BadDataIsReportedWithFileLineAndColumnBeforeConnecting) {
  Consortium c;
  c.WritePlan();
  const std::string bad = c.dir() + "/bad.data";
  std::string text = ReadFileOrEmpty(SourceDir() + "/examples/heart-disease/data/processed.va.data");
  // Line 3: chol becomes "abc".
  size_t line3 = text.find('\n', text.find('\n') + 1) + 1;
  text.replace(line3, text.find('\n', line3) - line3, "60,1,4,132,abc,0,1,140,1,1.5,3,?,?,2");
  std::ofstream(bad) << text;
  // No coordinator runs: the error must come before any connection attempt.
  const std::string config = c.WriteSiteConfig(
      "va", {{SourceDir() + "/examples/heart-disease/data/processed.va.data", bad}});
  Subprocess& site = c.StartSite("va", config);
  ExpectExit(site, 2, absl::Seconds(30));
  EXPECT_THAT(site.Log(), HasSubstr(bad + ":3: column 'chol': \"abc\" is not a number"));
  EXPECT_THAT(site.Log(), ::testing::Not(HasSubstr("cannot reach the coordinator")));
}

}  // namespace
}  // namespace cohort::testing
