// Runs the built `cohort` binary (from $COHORT_BIN_DIR) end to end and checks
// what it writes with the cohort_crypto library and OpenSSL.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crypto/files.h"
#include "crypto/pki.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/cli_runner.h"


namespace cohort::tools {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using RunResult = testing::CliResult;

class CohortCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(runner_.binary().empty());
    binary_ = runner_.binary();
    std::string tmpl = ::testing::TempDir() + "/cohort_cli_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    pki_ = root_ + "/pki";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  // Runs `cohort args...` without a shell (tests/tools/cli_runner.h).
  RunResult Run(std::vector<std::string> args) { return runner_.Run(std::move(args)); }

  void Init(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"pki", "init", "--dir", pki_, "--consortium", "heart"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = Run(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::string Read(const std::string& relative) {
    absl::StatusOr<std::string> contents = crypto::ReadFile(pki_ + "/" + relative);
    EXPECT_TRUE(contents.ok()) << contents.status();
    return contents.value_or("");
  }

  mode_t ModeOf(const std::string& relative) {
    struct stat st = {};
    EXPECT_EQ(::stat((pki_ + "/" + relative).c_str(), &st), 0) << relative;
    return st.st_mode & 07777;
  }

  bool Exists(const std::string& relative) {
    return ::access((pki_ + "/" + relative).c_str(), F_OK) == 0;
  }

  testing::CliRunner runner_;
  std::string binary_;
  std::string root_;
  std::string pki_;
};

TEST_F(CohortCliTest, InitWritesCaCertificate0644AndKey0600) {
  Init();
  EXPECT_EQ(ModeOf("ca.crt"), 0644u);
  EXPECT_EQ(ModeOf("ca.key"), 0600u);
  absl::StatusOr<crypto::CertificateInfo> info = crypto::DescribeCertificate(Read("ca.crt"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->is_ca);
  EXPECT_THAT(info->subject, HasSubstr("O=heart"));
  EXPECT_THAT(Read("ca.key"), HasSubstr("BEGIN PRIVATE KEY"));
}

TEST_F(CohortCliTest, InitRefusesToOverwriteCaUnlessForced) {
  Init();
  const std::string original = Read("ca.crt");

  RunResult again = Run({"pki", "init", "--dir", pki_});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr(pki_ + "/ca.crt already exists"));
  EXPECT_THAT(again.err, HasSubstr("--force"));
  EXPECT_EQ(Read("ca.crt"), original);

  Init({"--force"});
  EXPECT_NE(Read("ca.crt"), original);
}

TEST_F(CohortCliTest, IssuedSiteAndAdminCredentialsVerifyWithTheLibrary) {
  Init();
  ASSERT_EQ(Run({"pki", "issue", "site", "hungary", "--dir", pki_}).exit_code, 0);
  ASSERT_EQ(Run({"pki", "issue", "admin", "alice", "--dir", pki_, "--days", "30"}).exit_code,
            0);
  const std::string ca = Read("ca.crt");
  for (const auto& [path, role, name] :
       {std::tuple{"sites/hungary", crypto::Role::kSite, "hungary"},
        std::tuple{"admins/alice", crypto::Role::kAdmin, "alice"}}) {
    SCOPED_TRACE(path);
    const std::string cert = Read(std::string(path) + ".crt");
    EXPECT_EQ(ModeOf(std::string(path) + ".crt"), 0644u);
    EXPECT_EQ(ModeOf(std::string(path) + ".key"), 0600u);
    EXPECT_TRUE(crypto::VerifyCertificateChain(cert, ca, absl::Now()).ok());
    absl::StatusOr<crypto::PeerIdentity> id = crypto::IdentityFromCertificatePem(cert);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(*id, (crypto::PeerIdentity{role, name}));
  }
  // --days 30 (plus the one-hour clock-skew allowance at the start).
  absl::StatusOr<absl::Time> not_after = crypto::CertificateNotAfter(Read("admins/alice.crt"));
  ASSERT_TRUE(not_after.ok());
  EXPECT_LT(absl::AbsDuration(*not_after - (absl::Now() + absl::Hours(24 * 30))),
            absl::Minutes(5));
}

TEST_F(CohortCliTest, LocalhostCoordinatorGetsLoopbackAddressesAndExtraSans) {
  Init();
  RunResult r = Run({"pki", "issue", "coordinator", "localhost", "--dir", pki_, "--san",
                     "coord.example.org", "--san", "10.1.2.3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string cert = Read("coordinator/localhost.crt");
  EXPECT_EQ(ModeOf("coordinator/localhost.key"), 0600u);
  EXPECT_TRUE(crypto::VerifyCertificateChain(cert, Read("ca.crt"), absl::Now()).ok());
  absl::StatusOr<crypto::CertificateInfo> info = crypto::DescribeCertificate(cert);
  ASSERT_TRUE(info.ok());
  EXPECT_THAT(info->subject_alt_names,
              ElementsAre("URI:cohort://coordinator/localhost", "DNS:localhost",
                          "DNS:coord.example.org", "IP:10.1.2.3", "IP:127.0.0.1", "IP:::1"));
}

TEST_F(CohortCliTest, BackdatedCertificateIsExpired) {
  Init();
  RunResult r = Run({"pki", "issue", "site", "old", "--dir", pki_, "--not-before-days-ago",
                     "10", "--days", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("warning"));
  absl::Status status =
      crypto::VerifyCertificateChain(Read("sites/old.crt"), Read("ca.crt"), absl::Now());
  EXPECT_THAT(status.message(), HasSubstr("certificate has expired"));
}

TEST_F(CohortCliTest, InvalidNameFailsWithoutWritingFiles) {
  Init();
  RunResult r = Run({"pki", "issue", "site", "Bad.Name", "--dir", pki_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("\"Bad.Name\""));
  EXPECT_FALSE(Exists("sites/Bad.Name.crt"));
  EXPECT_FALSE(Exists("sites/Bad.Name.key"));
}

TEST_F(CohortCliTest, IssueWithoutCaNamesTheMissingFile) {
  RunResult r = Run({"pki", "issue", "site", "hungary", "--dir", pki_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(pki_ + "/ca.crt"));
  EXPECT_THAT(r.err, HasSubstr("cohort pki init"));
}

TEST_F(CohortCliTest, UsageErrorExitsOne) {
  RunResult r = Run({"pki", "issue", "site", "--dir", pki_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("name is required"));
}

TEST_F(CohortCliTest, ShowPrintsRoleNameSansAndIssuer) {
  Init();
  ASSERT_EQ(Run({"pki", "issue", "coordinator", "coord.example.org", "--dir", pki_}).exit_code,
            0);
  RunResult r = Run({"pki", "show", pki_ + "/coordinator/coord.example.org.crt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("role:        coordinator\n"));
  EXPECT_THAT(r.out, HasSubstr("name:        coord.example.org\n"));
  EXPECT_THAT(r.out, HasSubstr("URI:cohort://coordinator/coord.example.org, "
                               "DNS:coord.example.org"));
  EXPECT_THAT(r.out, HasSubstr("issuer:      CN=Cohort Root CA,O=heart"));
  EXPECT_THAT(r.out, HasSubstr("not before:"));
  EXPECT_THAT(r.out, HasSubstr("(valid now)"));
}

TEST_F(CohortCliTest, ShowOfMissingFileNamesIt) {
  RunResult r = Run({"pki", "show", root_ + "/nope.crt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(root_ + "/nope.crt"));
}

TEST_F(CohortCliTest, StudyHashPrintsSha256sumLine) {
  const std::string plan = root_ + "/plan.yaml";
  ASSERT_TRUE(crypto::WriteFileAtomically(plan, "abc", 0644).ok());
  RunResult r = Run({"study", "hash", plan});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // FIPS 180-2 B.1: SHA-256("abc").
  EXPECT_EQ(r.out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  " +
                       plan + "\n");
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(CohortCliTest, StudyHashOfMissingPlanNamesIt) {
  RunResult r = Run({"study", "hash", root_ + "/missing.yaml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(root_ + "/missing.yaml"));
  EXPECT_THAT(r.out, IsEmpty());
}

}  // namespace
}  // namespace cohort::tools
