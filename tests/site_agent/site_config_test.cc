// The site agent's config: the example config loads with every path resolved
// against the config's folder; every mistake is named by file, line and field.
#include "site_agent/site_config.h"

#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/util/temp_dir.h"
#include "tests/site_agent/example_site.h"

namespace cohort::site {
namespace {

using ::cohort::testing::ExampleDirAbsolute;
using ::cohort::testing::RenderExampleSiteConfig;
using ::cohort::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;

const std::string kHash(64, 'a');

TEST(ExampleSiteConfigTest, RenderedClevelandConfigLoads) {
  TempDir dir;
  const std::string path = RenderExampleSiteConfig(dir, "cleveland", kHash);
  absl::StatusOr<SiteConfig> config = LoadSiteConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->site, "cleveland");
  EXPECT_EQ(config->coordinator_address, "localhost:7443");
  EXPECT_EQ(config->coordinator_server_name, "");
  EXPECT_EQ(config->tls.ca, dir.Path("pki/ca.crt"));
  EXPECT_EQ(config->tls.cert, dir.Path("pki/sites/cleveland.crt"));
  EXPECT_EQ(config->tls.key, dir.Path("pki/sites/cleveland.key"));
  EXPECT_EQ(config->state_dir, dir.Path("sites/cleveland"));
  ASSERT_THAT(config->approved_studies, SizeIs(1));
  EXPECT_EQ(config->approved_studies[0].study_id, "heart-disease");
  EXPECT_EQ(config->approved_studies[0].plan_sha256, kHash);
  EXPECT_EQ(config->approved_studies[0].plan_path, dir.Path("plan.yaml"));
  EXPECT_EQ(config->data.resolved_path,
            ExampleDirAbsolute() + "/data/processed.cleveland.data");
  EXPECT_EQ(config->data.split.kind, data::SplitConfig::Kind::kFile);
  EXPECT_EQ(config->poll_wait, absl::Seconds(10));
  EXPECT_EQ(config->initial_backoff, absl::Milliseconds(200));
  EXPECT_EQ(config->max_backoff, absl::Milliseconds(5000));
}

// A compact config with relative paths; the cases below edit one line of it,
// so the expected line numbers are those of this text.
constexpr char kConfig[] = R"(site: cleveland
coordinator: {address: "coordinator.example.org:7443", server_name: coord}
tls: {ca: pki/ca.crt, cert: pki/site.crt, key: ../keys/site.key}
state_dir: state
approved_studies:
  - {study_id: heart-disease, plan_sha256: "@HASH@", plan: plans/hd.yaml}
data:
  path: data/extract.csv
  header: true
poll: {wait_seconds: 5}
reconnect: {initial_backoff_ms: 100, max_backoff_ms: 1000}
)";

class SiteConfigTest : public ::testing::Test {
 protected:
  // Writes kConfig with `from` replaced by `to` as <dir>/conf/site.yaml.
  std::string WriteConfig(const std::string& from = "", const std::string& to = "") {
    std::string text = absl::StrReplaceAll(kConfig, {{"@HASH@", kHash}});
    if (!from.empty()) {
      const std::string before = text;
      text = absl::StrReplaceAll(text, {{from, to}});
      EXPECT_NE(text, before) << "edit '" << from << "' does not apply";
    }
    return dir_.Write("conf/site.yaml", text);
  }

  TempDir dir_;
};

TEST_F(SiteConfigTest, RelativePathsResolveAgainstTheConfigFolder) {
  absl::StatusOr<SiteConfig> config = LoadSiteConfig(WriteConfig());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->coordinator_address, "coordinator.example.org:7443");
  EXPECT_EQ(config->coordinator_server_name, "coord");
  EXPECT_EQ(config->tls.ca, dir_.Path("conf/pki/ca.crt"));
  EXPECT_EQ(config->tls.cert, dir_.Path("conf/pki/site.crt"));
  EXPECT_EQ(config->tls.key, dir_.Path("keys/site.key"));
  EXPECT_EQ(config->state_dir, dir_.Path("conf/state"));
  ASSERT_THAT(config->approved_studies, SizeIs(1));
  EXPECT_EQ(config->approved_studies[0].plan_path, dir_.Path("conf/plans/hd.yaml"));
  EXPECT_EQ(config->data.path, "data/extract.csv");
  EXPECT_EQ(config->data.resolved_path, dir_.Path("conf/data/extract.csv"));
  EXPECT_EQ(config->poll_wait, absl::Seconds(5));
  EXPECT_EQ(config->initial_backoff, absl::Milliseconds(100));
  EXPECT_EQ(config->max_backoff, absl::Milliseconds(1000));
}

TEST_F(SiteConfigTest, AbsolutePathsAreKept) {
  absl::StatusOr<SiteConfig> config =
      LoadSiteConfig(WriteConfig("state_dir: state", "state_dir: /var/lib/cohort/site"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->state_dir, "/var/lib/cohort/site");
}

TEST_F(SiteConfigTest, UpperCaseHashIsAcceptedAndLowerCased) {
  const std::string upper = "ABCDEF0123456789" + std::string(48, 'B');
  absl::StatusOr<SiteConfig> config = LoadSiteConfig(WriteConfig(kHash, upper));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->approved_studies[0].plan_sha256,
            "abcdef0123456789" + std::string(48, 'b'));
}

TEST_F(SiteConfigTest, OptionalSectionsTakeDefaults) {
  std::string text = absl::StrReplaceAll(kConfig, {{"@HASH@", kHash}});
  text = absl::StrReplaceAll(text, {{"poll: {wait_seconds: 5}\n", ""},
                                    {"reconnect: {initial_backoff_ms: 100, max_backoff_ms: 1000}\n",
                                     ""}});
  absl::StatusOr<SiteConfig> config = LoadSiteConfig(dir_.Write("conf/site.yaml", text));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->poll_wait, absl::Seconds(10));
  EXPECT_EQ(config->initial_backoff, absl::Milliseconds(200));
  EXPECT_EQ(config->max_backoff, absl::Seconds(30));
}

TEST_F(SiteConfigTest, MissingFileIsNotFound) {
  const std::string path = dir_.Path("absent.yaml");
  absl::StatusOr<SiteConfig> config = LoadSiteConfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(config.status().message(), path + ": cannot open file");
}

struct BadConfigCase {
  std::string name;
  std::string from;
  std::string to;
  // The message after "<path>:".
  ::testing::Matcher<std::string> error;
  friend void PrintTo(const BadConfigCase& c, std::ostream* os) { *os << c.name; }
};

class BadSiteConfigTest : public SiteConfigTest,
                          public ::testing::WithParamInterface<BadConfigCase> {};

TEST_P(BadSiteConfigTest, IsRefusedNamingFileLineAndField) {
  const BadConfigCase& c = GetParam();
  const std::string path = WriteConfig(c.from, c.to);
  absl::StatusOr<SiteConfig> config = LoadSiteConfig(path);
  ASSERT_FALSE(config.ok()) << "accepted";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(config.status().message());
  ASSERT_THAT(message, StartsWith(path + ":"));
  EXPECT_THAT(message.substr(path.size() + 1), c.error);
}

const BadConfigCase kBadConfigs[] = {
    {.name = "MissingSite",
     .from = "site: cleveland\n",
     .to = "",
     .error = "1: field 'site' is required"},
    {.name = "EmptySite",
     .from = "site: cleveland",
     .to = "site: \"\"",
     .error = "1: field 'site': must not be empty"},
    {.name = "AddressWithoutPort",
     .from = "coordinator.example.org:7443",
     .to = "coordinator.example.org",
     .error = "2: field 'coordinator.address': must be host:port"},
    {.name = "StudyApprovedTwice",
     .from = "plan: plans/hd.yaml}\n",
     .to = "plan: plans/hd.yaml}\n  - {study_id: heart-disease, plan_sha256: \"" +
           std::string(64, 'b') + "\"}\n",
     .error = ::testing::HasSubstr("field 'approved_studies[1].study_id': study "
                                   "'heart-disease' is approved twice")},
    {.name = "AddressWithEmptyPort",
     .from = "coordinator.example.org:7443",
     .to = "coordinator.example.org:",
     .error = "2: field 'coordinator.address': must be host:port"},
    {.name = "MissingAddress",
     .from = "address: \"coordinator.example.org:7443\", ",
     .to = "",
     .error = "2: field 'coordinator.address' is required"},
    {.name = "ShortPlanHash",
     .from = kHash,
     .to = "abc123",
     .error = "6: field 'approved_studies[0].plan_sha256': must be the 64-hex-digit "
              "SHA-256 of the approved plan file (`cohort study hash PLAN.yaml` prints it)"},
    {.name = "NonHexPlanHash",
     .from = kHash,
     .to = std::string(63, 'a') + "g",
     .error = StartsWith("6: field 'approved_studies[0].plan_sha256': must be the "
                         "64-hex-digit SHA-256")},
    {.name = "LongPlanHash",
     .from = kHash,
     .to = kHash + "0",
     .error = StartsWith("6: field 'approved_studies[0].plan_sha256': must be the "
                         "64-hex-digit SHA-256")},
    {.name = "MissingPlanHash",
     .from = "plan_sha256: \"" + kHash + "\", ",
     .to = "",
     .error = "6: field 'approved_studies[0].plan_sha256' is required"},
    {.name = "UnknownTopLevelKey",
     .from = "poll: {wait_seconds: 5}",
     .to = "pol: {wait_seconds: 5}",
     .error = "10: field 'pol': unknown field (allowed here: site, coordinator, tls, "
              "state_dir, approved_studies, data, poll, reconnect, privacy, audit)"},
    {.name = "AuditFileSizeOutOfRange",
     .from = "poll: {wait_seconds: 5}",
     .to = "poll: {wait_seconds: 5}\naudit: {max_file_mb: 0}",
     .error = "11: field 'audit.max_file_mb': must be between 1 and 4096"},
    {.name = "UnknownAuditKey",
     .from = "poll: {wait_seconds: 5}",
     .to = "poll: {wait_seconds: 5}\naudit: {keep: 3}",
     .error = "11: field 'audit.keep': unknown field (allowed here: max_file_mb, "
              "keep_rotated_files)"},
    {.name = "UnknownTlsKey",
     .from = "cert: pki/site.crt",
     .to = "certificate: pki/site.crt",
     .error = "3: field 'tls.certificate': unknown field (allowed here: ca, cert, key)"},
    {.name = "UnknownApprovedStudyKey",
     .from = "plan: plans/hd.yaml",
     .to = "plan_file: plans/hd.yaml",
     .error = "6: field 'approved_studies[0].plan_file': unknown field "
              "(allowed here: study_id, plan_sha256, plan)"},
    {.name = "MissingTlsKey",
     .from = ", key: ../keys/site.key",
     .to = "",
     .error = "3: field 'tls.key' is required"},
    {.name = "ReconnectMaxBelowInitial",
     .from = "max_backoff_ms: 1000",
     .to = "max_backoff_ms: 50",
     .error = "11: field 'reconnect.max_backoff_ms': must be >= initial_backoff_ms"},
    {.name = "ReconnectInitialZero",
     .from = "initial_backoff_ms: 100",
     .to = "initial_backoff_ms: 0",
     .error = "11: field 'reconnect.initial_backoff_ms': must be at least 1"},
    {.name = "PollWaitZero",
     .from = "wait_seconds: 5",
     .to = "wait_seconds: 0",
     .error = "10: field 'poll.wait_seconds': must be in (0, 60]"},
    {.name = "PollWaitTooLong",
     .from = "wait_seconds: 5",
     .to = "wait_seconds: 61",
     .error = "10: field 'poll.wait_seconds': must be in (0, 60]"},
    {.name = "PollWaitNotANumber",
     .from = "wait_seconds: 5",
     .to = "wait_seconds: soon",
     .error = "10: field 'poll.wait_seconds': \"soon\" is not a number"},
    {.name = "MissingData",
     .from = "data:\n  path: data/extract.csv\n  header: true\n",
     .to = "",
     .error = "1: field 'data' is required"},
    {.name = "MissingStateDir",
     .from = "state_dir: state\n",
     .to = "",
     .error = "1: field 'state_dir' is required"},
    {.name = "DataSectionErrorNamesTheField",
     .from = "path: data/extract.csv",
     .to = "paht: data/extract.csv",
     // The data section reports in the same form as every other field.
     .error = "8: field 'data.paht': unknown field (allowed here: path, header, "
              "columns, delimiter, missing, variables, split)"},
};

INSTANTIATE_TEST_SUITE_P(All, BadSiteConfigTest, ::testing::ValuesIn(kBadConfigs),
                         [](const ::testing::TestParamInfo<BadConfigCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace cohort::site
