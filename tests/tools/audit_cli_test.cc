// Runs `cohort audit verify|privacy|report` end to end on the logs of a small
// but complete study, written here with the real audit-log writer: a
// coordinator and two sites (cleveland, va), statistics in round 0 and
// 20 training rounds under secure aggregation, va dropping out of
// round 7, every result anchored in the coordinator's log and every round's
// receipt in the sites' logs, each site's privacy spend logged as its ledger
// would compute it with the real accountant. Then tampers with the logs and
// checks that each command notices; and renders the report in headless
// Chromium to check that a browser shows what the page promises.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/audit/audit_log.h"
#include "common/audit/entry.h"
#include "common/audit/verify.h"
#include "common/privacy/accountant.h"
#include "common/util/clock.h"
#include "common/util/status_macros.h"
#include "crypto/files.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/audit/audit_test_util.h"
#include "tests/common/util/temp_dir.h"
#include "tests/tools/cli_runner.h"

extern char** environ;

namespace cohort::tools {
namespace {

using ::cohort::audit::testing::ReadAll;
using ::cohort::testing::TempDir;
using ::cohort::tools::testing::CliResult;
using ::cohort::tools::testing::CliRunner;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kStudy[] = "heart-disease";
constexpr int kRounds = 20;
constexpr int kDropoutRound = 7;  // va's masked input never arrives
constexpr double kStudyDelta = 1e-5;
constexpr double kTotalDelta = 1e-6;  // the sites' total ceiling is at another delta
constexpr char kCeiling[] = "4";      // epsilon, as the sites log it

// Audit entries hold no floating-point numbers: fractions are strings that
// read back bit for bit, as the site agent writes them.
std::string Fraction(double x) { return absl::StrFormat("%.17g", x); }

// One site's ledger, as the site agent keeps it: every event it charged.
struct SiteState {
  std::string name;
  std::unique_ptr<audit::AuditLog> log;
  std::vector<privacy::PrivacyEvent> events;
  // What the CLI must find: the study epsilon after each release, by entry.
  std::map<int64_t, double> epsilon_after;
  std::map<int, std::string> release_sha256;  // by round
};

nlohmann::json EventJson(const privacy::PrivacyEvent& e) {
  return {{"mechanism", e.mechanism == privacy::PrivacyEvent::Mechanism::kGaussian
                            ? "gaussian"
                            : "discrete_gaussian_sum"},
          {"sampling_rate", Fraction(e.sampling_rate)},
          {"noise_multiplier", Fraction(e.noise_multiplier)},
          {"rdp_slack", Fraction(e.rdp_slack)},
          {"count", e.count}};
}

// The logs of one study, written once for the whole suite.
class StudyLogs {
 public:
  absl::Status Write() {
    const audit::testing::Consortium& pki = audit::testing::Consortium::Get();
    RETURN_IF_ERROR(crypto::WriteFileAtomically(Ca(), pki.ca.cert_pem, 0644));
    RETURN_IF_ERROR(crypto::WriteFileAtomically(RogueCa(), pki.stranger_ca.cert_pem, 0644));
    clock_ = std::make_unique<util::SimulatedClock>(pki.start);
    coordinator_party_ = &pki.coordinator;
    ASSIGN_OR_RETURN(coordinator_, OpenLog(pki.coordinator, CoordinatorLog()));
    for (const auto& [name, party] :
         {std::pair{"cleveland", &pki.cleveland}, std::pair{"va", &pki.va}}) {
      SiteState& site = sites_[name];
      site.name = name;
      ASSIGN_OR_RETURN(site.log, OpenLog(*party, SiteLog(name)));
    }
    return RunStudy();
  }

  std::string CoordinatorLog() const { return dir_.Path("coordinator/audit/coordinator.jsonl"); }
  std::string SiteLog(const std::string& site) const {
    return dir_.Path(absl::StrCat(site, "/audit/site.jsonl"));
  }
  std::string Ca() const { return dir_.Path("ca.crt"); }
  std::string RogueCa() const { return dir_.Path("rogue-ca.crt"); }
  std::string PlanSha256() const { return crypto::Sha256Hex("the heart-disease plan"); }
  const SiteState& site(const std::string& name) const { return sites_.at(name); }

 private:
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> OpenLog(const audit::testing::Party& party,
                                                           const std::string& path) {
    return audit::AuditLog::Open(path, party.signer, party.credential.cert_pem, clock_.get());
  }

  absl::StatusOr<audit::Entry> Log(audit::AuditLog& log, const std::string& type,
                                   nlohmann::json body) {
    clock_->Advance(absl::Milliseconds(1500));
    return log.Append(type, std::move(body));
  }

  // The site charges its ledger, logs the release with its spend, and the
  // coordinator anchors the site's head that came with the result.
  absl::Status SiteReleases(SiteState& site, int round, const std::string& kind,
                            const std::vector<privacy::PrivacyEvent>& events) {
    const std::string task = absl::StrCat(kStudy, "/r", round, "/", kind, "/", site.name);
    RETURN_IF_ERROR(Log(*site.log, "task_received",
                        {{"study", kStudy},
                         {"task_id", task},
                         {"round", round},
                         {"kind", kind},
                         {"plan_sha256", PlanSha256()}})
                        .status());
    if (site.name == "va" && round == kDropoutRound) return absl::OkStatus();
    double before = 0;
    if (!site.events.empty()) {
      ASSIGN_OR_RETURN(const privacy::EpsilonBound bound,
                       privacy::Epsilon(site.events, kStudyDelta));
      before = bound.epsilon;
    }
    site.events.insert(site.events.end(), events.begin(), events.end());
    ASSIGN_OR_RETURN(const privacy::EpsilonBound after, privacy::Epsilon(site.events, kStudyDelta));
    ASSIGN_OR_RETURN(const privacy::EpsilonBound total, privacy::Epsilon(site.events, kTotalDelta));
    nlohmann::json event_list = nlohmann::json::array();
    for (const privacy::PrivacyEvent& e : events) event_list.push_back(EventJson(e));
    const std::string sha256 = crypto::Sha256Hex(absl::StrCat("result of ", task));
    absl::StatusOr<audit::Entry> sent =
        Log(*site.log, "result_sent",
            {{"study", kStudy},
             {"task_id", task},
             {"round", round},
             {"kind", kind},
             {"sha256", sha256},
             {"bytes", 1000 + 37 * round},
             {"privacy",
              {{"events", event_list},
               {"delta", Fraction(kStudyDelta)},
               {"ceiling", kCeiling},
               {"study_epsilon_before", Fraction(before)},
               {"study_epsilon_after", Fraction(after.epsilon)},
               {"total_epsilon_after", Fraction(total.epsilon)},
               {"accountant", std::string(privacy::AccountantName(after.accountant))}}}});
    RETURN_IF_ERROR(sent.status());
    site.epsilon_after[sent->seq] = after.epsilon;
    site.release_sha256[round] = sha256;
    return Log(*coordinator_, "site_anchor",
               {{"study", kStudy},
                {"site", site.name},
                {"task_id", task},
                {"seq", sent->seq},
                {"head", sent->hash}})
        .status();
  }

  absl::Status RunStudy() {
    audit::AuditLog& c = *coordinator_;
    const std::vector<std::string> names = {"cleveland", "va"};
    RETURN_IF_ERROR(Log(c, "study_submitted",
                        {{"study", kStudy},
                         {"plan_sha256", PlanSha256()},
                         {"sites", names},
                         {"min_sites", 2},
                         {"rounds", kRounds},
                         {"secure_aggregation", true},
                         {"privacy",
                          {{"mode", "distributed"},
                           {"delta", absl::StrFormat("%.17g", kStudyDelta)},
                           {"planned_epsilon", "2.5"}}}})
                        .status());
    for (const std::string& name : names) {
      RETURN_IF_ERROR(Log(c, "site_joined", {{"site", name}}).status());
    }
    // Cleveland's releases are continuous Gaussians (the PLD bound applies),
    // va's training releases discrete Gaussian sums (RDP only).
    const privacy::PrivacyEvent statistics{.sampling_rate = 1.0, .noise_multiplier = 20.0};
    const privacy::PrivacyEvent dp_sgd{.sampling_rate = 0.05, .noise_multiplier = 1.3, .count = 5};
    const privacy::PrivacyEvent dp_sum{
        .mechanism = privacy::PrivacyEvent::Mechanism::kDiscreteGaussianSum,
        .sampling_rate = 0.05,
        .noise_multiplier = 1.3,
        .rdp_slack = 1e-6,
        .count = 5};
    for (int round = 0; round <= kRounds; ++round) {
      const bool train = round > 0;
      RETURN_IF_ERROR(
          Log(c, "round_started",
              {{"study", kStudy}, {"round", round}, {"attempt", 0}, {"participants", names}})
              .status());
      for (const std::string& name : names) {
        const privacy::PrivacyEvent& event = !train                ? statistics
                                             : name == "cleveland" ? dp_sgd
                                                                   : dp_sum;
        RETURN_IF_ERROR(SiteReleases(sites_[name], round, train ? "train" : "statistics", {event}));
      }
      std::vector<std::string> survivors = names;
      nlohmann::json dropouts = nlohmann::json::object();
      if (round == kDropoutRound) {
        survivors = {"cleveland"};
        dropouts["va"] = "no masked input before the deadline";
      }
      if (train) {
        RETURN_IF_ERROR(Log(c, "secure_aggregation",
                            {{"study", kStudy},
                             {"round", round},
                             {"attempt", 0},
                             {"survivors", survivors},
                             {"dropouts", dropouts}})
                            .status());
      }
      const std::string aggregate = crypto::Sha256Hex(absl::StrCat("aggregate ", round));
      RETURN_IF_ERROR(Log(c, "aggregate_released",
                          {{"study", kStudy},
                           {"round", round},
                           {"kind", train ? "train" : "statistics"},
                           {"sites", survivors},
                           {"aggregate_sha256", aggregate},
                           {"model_sha256", crypto::Sha256Hex(absl::StrCat("model ", round))}})
                          .status());
      // Each survivor's receipt commits to the coordinator's head just before
      // the receipt_sent that records it (common/audit/verify.h).
      for (const std::string& name : survivors) {
        const int64_t commit_seq = c.last_seq();
        const std::string commit_head = c.head();
        const nlohmann::json receipt = {{"study", kStudy},
                                        {"round", round},
                                        {"participants", survivors},
                                        {"aggregate_sha256", aggregate},
                                        {"coordinator_seq", commit_seq},
                                        {"coordinator_head", commit_head}};
        nlohmann::json sent = receipt;
        sent["site"] = name;
        RETURN_IF_ERROR(Log(c, "receipt_sent", sent).status());
        ASSIGN_OR_RETURN(const std::string signature,
                         coordinator_party_->signer->Sign(receipt.dump()));
        nlohmann::json kept = receipt;
        kept["receipt_signature"] = audit::Base64Encode(signature);
        kept["coordinator_cert"] = coordinator_party_->credential.cert_pem;
        RETURN_IF_ERROR(Log(*sites_[name].log, "receipt", kept).status());
      }
    }
    return Log(c, "study_finished", {{"study", kStudy}, {"status", "completed"}}).status();
  }

  TempDir dir_;
  std::unique_ptr<util::SimulatedClock> clock_;
  const audit::testing::Party* coordinator_party_ = nullptr;
  std::unique_ptr<audit::AuditLog> coordinator_;
  std::map<std::string, SiteState> sites_;
};

// Copies the log file `from` to `to`, replacing the first `old_text` on the
// first line that holds `anchor` (any line if empty); returns the 1-based
// line where it was replaced, 0 if it was not found.
int CopyReplacing(const std::string& from, const std::string& to, const std::string& old_text,
                  const std::string& new_text, const std::string& anchor = "") {
  std::vector<std::string> lines = audit::testing::ReadLines(from);
  int found = 0;
  for (size_t i = 0; i < lines.size() && found == 0; ++i) {
    if (lines[i].find(anchor) == std::string::npos) continue;
    if (size_t at = lines[i].find(old_text); at != std::string::npos) {
      lines[i].replace(at, old_text.size(), new_text);
      found = static_cast<int>(i) + 1;
    }
  }
  std::filesystem::create_directories(std::filesystem::path(to).parent_path());
  audit::testing::WriteLines(to, lines);
  return found;
}

// The seq of the entry on 1-based `line` of the log file `path`.
int64_t SeqOfLine(const std::string& path, int line) {
  absl::StatusOr<audit::Entry> entry =
      audit::ParseEntry(audit::testing::ReadLines(path).at(line - 1));
  EXPECT_TRUE(entry.ok()) << entry.status();
  return entry.ok() ? entry->seq : -1;
}

class AuditCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    logs_ = new StudyLogs();
    written_ = new absl::Status(logs_->Write());
  }
  static void TearDownTestSuite() {
    delete logs_;
    delete written_;
  }
  void SetUp() override { ASSERT_TRUE(written_->ok()) << *written_; }

  std::vector<std::string> AllLogs() const {
    return {logs_->CoordinatorLog(), logs_->SiteLog("cleveland"), logs_->SiteLog("va")};
  }

  // cleveland's log with the sha256 of its round-5 release replaced; sets
  // the line and seq of the changed entry.
  std::string TamperedClevelandLog(int* line, int64_t* seq) {
    const std::string original = logs_->SiteLog("cleveland");
    const std::string tampered = out_.Path("tampered/cleveland/audit/site.jsonl");
    *line = CopyReplacing(original, tampered, logs_->site("cleveland").release_sha256.at(5),
                          crypto::Sha256Hex("something else was sent"));
    EXPECT_GT(*line, 0);
    *seq = SeqOfLine(original, *line);
    return tampered;
  }

  static StudyLogs* logs_;
  static absl::Status* written_;
  CliRunner cli_;
  TempDir out_;
};

StudyLogs* AuditCliTest::logs_ = nullptr;
absl::Status* AuditCliTest::written_ = nullptr;

// ---- verify ----

TEST_F(AuditCliTest, VerifyAcceptsEveryUntamperedLogAgainstTheOthers) {
  const std::vector<std::string> logs = AllLogs();
  for (size_t i = 0; i < logs.size(); ++i) {
    std::vector<std::string> args = {"audit", "verify", logs[i], "--ca", logs_->Ca(), "--against"};
    for (size_t j = 0; j < logs.size(); ++j) {
      if (j != i) args.push_back(logs[j]);
    }
    CliResult r = cli_.Run(args);
    EXPECT_EQ(r.exit_code, 0) << logs[i] << "\n" << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(": verified: ")) << r.out;
    EXPECT_THAT(r.out, HasSubstr("signed by a consortium certificate, chained and in order"));
    EXPECT_THAT(r.out, HasSubstr("its references to 2 other logs agree"));
  }
}

TEST_F(AuditCliTest, VerifyWithoutCaSaysTheSignersAreNotChecked) {
  CliResult r = cli_.Run({"audit", "verify", logs_->SiteLog("cleveland")});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("not verified against the consortium: give its CA certificate "
                               "with --ca"));
}

TEST_F(AuditCliTest, VerifyNamesTheTamperedEntryAndExitsNonZero) {
  int line = 0;
  int64_t seq = 0;
  const std::string tampered = TamperedClevelandLog(&line, &seq);
  CliResult r = cli_.Run({"audit", "verify", tampered, "--ca", logs_->Ca()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat(tampered, ": FAILED: ")));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat(":", line, " (entry ", seq, "): ")));
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("cohort: error: ", tampered, ": ")));
  EXPECT_THAT(r.err, HasSubstr("violation"));
}

TEST_F(AuditCliTest, VerifyRefusesSignaturesFromAnotherConsortium) {
  CliResult r = cli_.Run({"audit", "verify", logs_->SiteLog("va"), "--ca", logs_->RogueCa()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("FAILED"));
  EXPECT_THAT(r.out, HasSubstr(":1 (entry 1): "));
}

TEST_F(AuditCliTest, VerifyNamesAMissingLog) {
  const std::string missing = out_.Path("no-such.jsonl");
  CliResult r = cli_.Run({"audit", "verify", missing});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(missing));
}

// ---- privacy ----

TEST_F(AuditCliTest, PrivacyRecomputesTheLoggedSpendOfEverySite) {
  for (const char* name : {"cleveland", "va"}) {
    const SiteState& site = logs_->site(name);
    CliResult r =
        cli_.Run({"audit", "privacy", logs_->SiteLog(name), "--ca", logs_->Ca(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_EQ(j["mismatches"], nlohmann::json::array());
    const nlohmann::json& study = j["studies"][kStudy];
    // Hungarian missed round 7: 20 releases, cleveland 21.
    EXPECT_EQ(study["releases"].get<size_t>(), site.epsilon_after.size()) << name;
    EXPECT_EQ(study["releases"].get<size_t>(), name == std::string("cleveland") ? 21u : 20u);
    const double expected = site.epsilon_after.rbegin()->second;
    EXPECT_NEAR(study["epsilon"].get<double>(), expected, 1e-12 * expected) << name;
    EXPECT_EQ(study["delta"].get<double>(), kStudyDelta);
  }
}

TEST_F(AuditCliTest, PrivacyPrintsOneCheckedRowPerRelease) {
  CliResult r = cli_.Run({"audit", "privacy", logs_->SiteLog("cleveland"), "--ca", logs_->Ca()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("logged epsilon"));
  EXPECT_THAT(r.out, HasSubstr("recomputed"));
  for (const auto& [seq, eps] : logs_->site("cleveland").epsilon_after) {
    EXPECT_THAT(r.out, HasSubstr(absl::StrFormat("%.6f  ok", eps))) << "entry " << seq;
  }
  EXPECT_THAT(r.out, HasSubstr("all 21 private releases agree with the recomputation"));
  EXPECT_THAT(r.out, Not(HasSubstr("MISMATCH")));
}

TEST_F(AuditCliTest, PrivacyFlagsADoctoredTotal) {
  // Round 10's release claims 1% less than its events cost.
  const SiteState& site = logs_->site("cleveland");
  auto it = site.epsilon_after.begin();
  std::advance(it, 10);
  const auto [seq, eps] = *it;
  const std::string doctored = out_.Path("doctored/site.jsonl");
  ASSERT_GT(CopyReplacing(logs_->SiteLog("cleveland"), doctored, "\"" + Fraction(eps) + "\"",
                          "\"" + Fraction(eps * 0.99) + "\""),
            0);

  CliResult r = cli_.Run({"audit", "privacy", doctored, "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  ASSERT_EQ(j["mismatches"].size(), 1u) << j.dump(2);
  const nlohmann::json& m = j["mismatches"][0];
  EXPECT_EQ(m["seq"], seq);
  EXPECT_EQ(m["study"], kStudy);
  EXPECT_NEAR(m["logged"].get<double>(), eps * 0.99, 1e-15);
  EXPECT_NEAR(m["recomputed"].get<double>(), eps, 1e-12 * eps);
  EXPECT_THAT(r.err, HasSubstr("1 mismatch"));

  r = cli_.Run({"audit", "privacy", doctored});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("MISMATCH: logged study epsilon"));
}

TEST_F(AuditCliTest, PrivacyFlagsAReleaseAboveItsCeiling) {
  // The last release claims a ceiling below what the study has spent by then.
  const SiteState& site = logs_->site("cleveland");
  const auto [seq, eps] = *site.epsilon_after.rbegin();
  ASSERT_GT(eps, 2.0);
  const std::string lowered = out_.Path("lowered/site.jsonl");
  ASSERT_GT(CopyReplacing(logs_->SiteLog("cleveland"), lowered,
                          absl::StrCat("\"ceiling\":\"", kCeiling, "\""), "\"ceiling\":\"2\"",
                          site.release_sha256.at(kRounds)),
            0);
  CliResult r = cli_.Run({"audit", "privacy", lowered, "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  ASSERT_EQ(j["mismatches"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["mismatches"][0]["seq"], seq);
  EXPECT_THAT(j["mismatches"][0]["problem"].get<std::string>(),
              HasSubstr("above the site's ceiling of 2"));
}

// ---- report ----

TEST_F(AuditCliTest, ReportShowsAVerifiedStudy) {
  const std::string out = out_.Path("report.html");
  std::vector<std::string> args = {"audit", "report"};
  for (const std::string& log : AllLogs()) args.push_back(log);
  args.insert(args.end(), {"--ca", logs_->Ca(), "--out", out});
  CliResult r = cli_.Run(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("no problem found in 3 logs"));
  const std::string html = ReadAll(out);
  EXPECT_THAT(html, HasSubstr("<section id=\"verification-status\" class=\"status ok\">"));
  EXPECT_THAT(html, HasSubstr("All 3 logs verified: every entry is signed by a consortium "
                              "certificate, chained, in order, and the logs&#39; "
                              "cross-references agree."));
  EXPECT_THAT(html, HasSubstr("<svg id=\"epsilon-chart\""));
  size_t polylines = 0;
  for (size_t at = html.find("<polyline"); at != std::string::npos;
       at = html.find("<polyline", at + 1)) {
    ++polylines;
  }
  EXPECT_EQ(polylines, 2u);                          // one per site
  EXPECT_THAT(html, HasSubstr("stroke-dasharray"));  // the ceiling
  EXPECT_THAT(html, HasSubstr(logs_->PlanSha256()));
  EXPECT_THAT(html, HasSubstr("<td>distributed</td><td class=\"num\">1e-05</td>"));
  EXPECT_THAT(html, HasSubstr("dropped: no masked input before the deadline"));
  for (const char* name : {"cleveland", "va"}) {
    for (const auto& [round, sha] : logs_->site(name).release_sha256) {
      EXPECT_THAT(html, HasSubstr(sha)) << name << " round " << round;
    }
  }
  // Self-contained: nothing to fetch, nothing to run.
  for (const char* outside :
       {"<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import"}) {
    EXPECT_THAT(html, Not(HasSubstr(outside)));
  }
}

TEST_F(AuditCliTest, ReportOfATamperedLogListsTheProblemAndExitsNonZero) {
  int line = 0;
  int64_t seq = 0;
  const std::string tampered = TamperedClevelandLog(&line, &seq);
  const std::string out = out_.Path("report.html");
  CliResult r = cli_.Run({"audit", "report", logs_->CoordinatorLog(), tampered,
                          logs_->SiteLog("va"), "--ca", logs_->Ca(), "--out", out});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat(out, " lists ")));
  const std::string html = ReadAll(out);
  EXPECT_THAT(html, HasSubstr("<section id=\"verification-status\" class=\"status bad\">"));
  EXPECT_THAT(html, HasSubstr("problem"));
  EXPECT_THAT(html, HasSubstr(absl::StrCat(":", line, " (entry ", seq, "): ")));
}

// Odd bodies: unknown types, missing fields, wrong types, and markup in
// every string. Nothing may crash, and nothing from the log may reach the
// page unescaped.
TEST_F(AuditCliTest, OddEntriesAreShownEscapedAndNeverCrash) {
  const std::string odd = out_.Path("odd/audit/site.jsonl");
  {
    const audit::testing::Party& site = audit::testing::Consortium::Get().cleveland;
    util::SimulatedClock clock(audit::testing::Consortium::Get().start);
    absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
        audit::AuditLog::Open(odd, site.signer, site.credential.cert_pem, &clock);
    ASSERT_TRUE(log.ok()) << log.status();
    const std::string evil = "<script>alert('x')</script>";
    using Json = nlohmann::json;
    const std::vector<std::pair<std::string, Json>> entries = {
        {"study_submitted",
         {{"study", evil}, {"plan_sha256", 42}, {"sites", "<b>not a list</b>"}, {"privacy", "x"}}},
        {"round_started", {{"study", evil}, {"round", "one"}, {"participants", 5}}},
        {"round_started",
         {{"study", evil}, {"round", 1}, {"participants", Json::array({"a", 7, "<b>"})}}},
        {"secure_aggregation",
         {{"study", evil},
          {"round", 1},
          {"survivors", nullptr},
          {"dropouts", Json::array({"<b>"})}}},
        {"result_sent",
         {{"study", evil}, {"task_id", "<i>t</i>"}, {"round", 1}, {"privacy", "no"}}},
        {"result_sent",
         {{"study", "other"},
          {"round", 2},
          {"privacy",
           {{"events", Json::array({{{"mechanism", "laplace"}}})},
            {"delta", "1e-5"},
            {"study_epsilon_after", "0.1"}}}}},
        {"result_sent",
         {{"privacy",
           {{"events", Json::array({{{"mechanism", "gaussian"},
                                     {"sampling_rate", "0.1"},
                                     {"noise_multiplier", "1"},
                                     {"count", 1}}})}}}}},
        {"result_sent", Json::object()},
        {"mystery.event", {{"x", 1}}},
        {"study_finished", {{"study", evil}, {"status", {{"nested", true}}}}},
    };
    for (const auto& [type, body] : entries) {
      absl::StatusOr<audit::Entry> e = (*log)->Append(type, body);
      ASSERT_TRUE(e.ok()) << type << ": " << e.status();
    }
  }
  const std::string out = out_.Path("odd.html");
  CliResult r = cli_.Run({"audit", "report", odd, "--out", out});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // the unreadable privacy events are problems
  const std::string html = ReadAll(out);
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<b>")));
  EXPECT_THAT(html, Not(HasSubstr("<i>")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
  EXPECT_THAT(html, HasSubstr("events[0].mechanism: unknown"));
  EXPECT_THAT(html, HasSubstr("mystery.event (1)"));
  EXPECT_THAT(html, HasSubstr("<svg id=\"epsilon-chart\""));

  r = cli_.Run({"audit", "privacy", odd});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("MISMATCH: cannot recompute: privacy.events: missing or empty"));
  EXPECT_THAT(r.out, HasSubstr("privacy.delta missing"));
  EXPECT_THAT(r.out, HasSubstr("not private"));

  r = cli_.Run({"audit", "verify", odd});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;  // odd, but a well-formed log
}

// ---- the report in a browser ----

struct Spawned {
  bool exited = false;  // false: killed at the deadline
  int exit_code = -1;
};

// Runs `argv` in its own process group with stdout to `stdout_path` and
// stderr to `stderr_path`, waits for it to exit (blocked on a pidfd, never
// sleeping) for at most `timeout`, then kills its process group either way
// (a browser may leave helpers behind).
Spawned RunWithDeadline(std::vector<std::string> argv, const std::string& stdout_path,
                        const std::string& stderr_path, absl::Duration timeout) {
  Spawned result;
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid;
  const int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  EXPECT_EQ(rc, 0) << "cannot start " << argv[0];
  if (rc != 0) return result;

  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  EXPECT_GE(pidfd, 0) << "pidfd_open failed";
  const absl::Time deadline = absl::Now() + timeout;
  int ready = 0;
  if (pidfd >= 0) {
    pollfd waiter{.fd = pidfd, .events = POLLIN, .revents = 0};
    do {
      const int64_t left = std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
      ready = ::poll(&waiter, 1, static_cast<int>(left));
    } while (ready < 0 && errno == EINTR);
  }
  if (pidfd >= 0) ::close(pidfd);
  // The whole process group: the browser if it overran, and any helper it
  // left behind. The leader is not reaped yet, so the group id is still ours.
  ::kill(-pid, SIGKILL);
  int wstatus = 0;
  EXPECT_EQ(::waitpid(pid, &wstatus, 0), pid);
  result.exited = ready > 0;
  result.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return result;
}

uint32_t BigEndian32(const std::string& bytes, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

TEST_F(AuditCliTest, ReportRendersInHeadlessChromium) {
  constexpr char kChromium[] = "/usr/bin/chromium";
  ASSERT_EQ(::access(kChromium, X_OK), 0)
      << kChromium << " is missing: the report's browser check needs headless Chromium "
      << "(Debian package `chromium`, installed by the project's install script: "
      << "apt-get install chromium)";
  const std::string report = out_.Path("report.html");
  CliResult r = cli_.Run({"audit", "report", logs_->CoordinatorLog(), logs_->SiteLog("cleveland"),
                          logs_->SiteLog("va"), "--ca", logs_->Ca(), "--out", report});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  auto browser = [&](const std::string& profile, const std::string& what) {
    return std::vector<std::string>{kChromium,
                                    "--headless",
                                    "--no-sandbox",
                                    "--disable-gpu",
                                    "--disable-dev-shm-usage",
                                    "--no-first-run",
                                    "--hide-scrollbars",
                                    "--user-data-dir=" + out_.Path(profile),
                                    "--window-size=1280,2000",
                                    what,
                                    "file://" + report};
  };
  const std::string png = out_.Path("report.png");
  Spawned shot = RunWithDeadline(browser("profile-shot", "--screenshot=" + png),
                                 out_.Path("shot.out"), out_.Path("shot.err"), absl::Seconds(90));
  ASSERT_TRUE(shot.exited) << "chromium --screenshot did not finish in 90 s\n"
                           << ReadAll(out_.Path("shot.err"));
  EXPECT_EQ(shot.exit_code, 0) << ReadAll(out_.Path("shot.err"));
  const std::string image = ReadAll(png);
  ASSERT_GT(image.size(), 10u * 1024) << png << " is missing or nearly blank\n"
                                      << ReadAll(out_.Path("shot.err"));
  ASSERT_EQ(image.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(BigEndian32(image, 16), 1280u);  // IHDR width
  EXPECT_EQ(BigEndian32(image, 20), 2000u);  // IHDR height

  Spawned dump = RunWithDeadline(browser("profile-dom", "--dump-dom"), out_.Path("dom.html"),
                                 out_.Path("dom.err"), absl::Seconds(90));
  ASSERT_TRUE(dump.exited) << "chromium --dump-dom did not finish in 90 s\n"
                           << ReadAll(out_.Path("dom.err"));
  EXPECT_EQ(dump.exit_code, 0) << ReadAll(out_.Path("dom.err"));
  const std::string dom = ReadAll(out_.Path("dom.html"));
  EXPECT_THAT(dom, HasSubstr("id=\"verification-status\""));
  EXPECT_THAT(dom, HasSubstr("All 3 logs verified"));
  const size_t svg = dom.find("<svg id=\"epsilon-chart\"");
  ASSERT_NE(svg, std::string::npos) << dom;
  const size_t svg_end = dom.find("</svg>", svg);
  ASSERT_NE(svg_end, std::string::npos);
  const std::string chart = dom.substr(svg, svg_end - svg);
  EXPECT_THAT(chart, HasSubstr("<polyline"));
  EXPECT_THAT(chart, HasSubstr("cleveland"));
  EXPECT_THAT(chart, HasSubstr("va"));
}

}  // namespace
}  // namespace cohort::tools
