// End-to-end tests: the real cohort-coordinator and cohort-site binaries on
// loopback with mutual TLS, on the UCI heart-disease hospitals.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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

void ExpectExit(Subprocess& process, int code, absl::Duration within) {
  std::optional<int> rc = process.WaitForExit(In(within));
  ASSERT_TRUE(rc.has_value()) << "still running after " << within << "; log:\n"
                              << process.Log();
  EXPECT_EQ(*rc, code) << process.Log();
}

TEST(StudyTest, FourHospitalsTrainAModelAsGoodAsPooledData) {
  Consortium c;
  c.WritePlan();  // the demo's plan, as shipped
  c.StartCoordinator();
  for (const auto& s : kSites) c.StartSite(s, c.WriteSiteConfig(s));

  ExpectExit(c.coordinator(), 0, absl::Minutes(3));
  for (const auto& s : kSites) ExpectExit(c.site(s), 0, absl::Seconds(30));

  nlohmann::json summary = c.Summary();
  EXPECT_EQ(summary["study_id"], "heart-disease");
  EXPECT_EQ(summary["status"], "completed");
  ASSERT_EQ(summary["rounds"].size(), 40u);
  for (const auto& round : summary["rounds"]) {
    EXPECT_EQ(round["sites"].size(), 4u) << round.dump();
    EXPECT_TRUE(round["train_loss"].is_number());
    ASSERT_TRUE(round["test"].is_object()) << round.dump();
    EXPECT_EQ(round["test"]["n"], 254);
  }
  // FLamby's split: 254 test rows; per-site 104/89/16/45.
  const auto& pooled = summary["final"]["pooled"];
  EXPECT_EQ(pooled["n"], 254);
  EXPECT_GE(pooled["accuracy"].get<double>(), 0.785) << summary.dump(2);
  EXPECT_GE(pooled["auc"].get<double>(), 0.875) << summary.dump(2);
  const auto& per_site = summary["final"]["per_site"];
  EXPECT_EQ(per_site["cleveland"]["n"], 104);
  EXPECT_EQ(per_site["hungarian"]["n"], 89);
  EXPECT_EQ(per_site["switzerland"]["n"], 16);
  EXPECT_EQ(per_site["va"]["n"], 45);
  // Switzerland's test split has one class only: AUC is undefined there.
  EXPECT_EQ(summary["preprocessing"]["num_train"], 486);
  EXPECT_EQ(summary["baseline"]["site"], "cleveland");
  EXPECT_EQ(summary["baseline"]["pooled"]["n"], 254);
  // Every round went through secure aggregation with all four hospitals.
  const auto& sa = summary["secure_aggregation"];
  EXPECT_EQ(sa["enabled"], true);
  EXPECT_EQ(sa["threshold"], 3);
  ASSERT_EQ(sa["rounds"].size(), 41u);  // preprocessing + 40 training rounds
  for (const auto& round : sa["rounds"]) EXPECT_EQ(round["survivors"].size(), 4u);
  EXPECT_THAT(c.coordinator().Log(), ::testing::Not(HasSubstr("secure aggregation is OFF")));
  EXPECT_TRUE(std::filesystem::exists(c.dir() + "/coordinator/studies/heart-disease/model.json"));
  EXPECT_TRUE(std::filesystem::exists(c.dir() + "/coordinator/studies/heart-disease/checkpoint.pb"));
  // No site ever listens: the only listening socket is the coordinator's.
  EXPECT_THAT(c.site("va").Log(), HasSubstr("connected to cohort-coordinator"));
}

TEST(StudyTest, StudyCompletesWhenASiteIsKilledMidStudy) {
  Consortium c;
  c.WritePlan({{"rounds", "10"}, {"min_sites", "3"}});
  c.StartCoordinator({{"liveness_grace_seconds", "1"}});
  for (const auto& s : kSites) c.StartSite(s, c.WriteSiteConfig(s));

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

// The demo's study with or without secure aggregation; returns the summary.
nlohmann::json RunFullStudy(bool secure) {
  Consortium c;
  if (secure) {
    c.WritePlan();
  } else {
    c.WritePlan({{"secure_aggregation", "{enabled: false}"}});
  }
  c.StartCoordinator();
  for (const auto& s : kSites) c.StartSite(s, c.WriteSiteConfig(s));
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
  c.WritePlan({{"rounds", "12"}});
  c.StartCoordinator();
  for (const auto& s : kSites) c.StartSite(s, c.WriteSiteConfig(s));
  ASSERT_TRUE(WaitForFileContaining(c.coordinator().log_path(), "round 4 of 12",
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
  ASSERT_EQ(summary["rounds"].size(), 12u);
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ(summary["rounds"][i]["round"], i + 1);
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
