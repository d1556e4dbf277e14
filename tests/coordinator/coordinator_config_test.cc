// The coordinator's config: relative paths resolve against the config's
// folder; every mistake is named by file, line and field.
#include "coordinator/coordinator_config.h"

#include <ostream>
#include <string>

#include "absl/strings/str_replace.h"
#include "crypto/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/util/temp_dir.h"

namespace cohort::coordinator {
namespace {

using ::cohort::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::StartsWith;

// The cases below edit one line of this text, so the expected line numbers
// are those of this text.
constexpr char kConfig[] = R"(listen: "127.0.0.1:7443"
port_file: state/port
tls: {ca: pki/ca.crt, cert: pki/coordinator.crt, key: ../keys/coordinator.key}
state_dir: state
studies: [plans/heart-disease.yaml, /srv/plans/other.yaml]
exit_when_done: true
liveness_grace_seconds: 2.5
)";

class CoordinatorConfigTest : public ::testing::Test {
 protected:
  // Writes kConfig with `from` replaced by `to` as <dir>/conf/coordinator.yaml.
  std::string WriteConfig(const std::string& from = "", const std::string& to = "") {
    std::string text = kConfig;
    if (!from.empty()) {
      text = absl::StrReplaceAll(text, {{from, to}});
      EXPECT_NE(text, kConfig) << "edit '" << from << "' does not apply";
    }
    return dir_.Write("conf/coordinator.yaml", text);
  }

  TempDir dir_;
};

TEST_F(CoordinatorConfigTest, RelativePathsResolveAgainstTheConfigFolder) {
  absl::StatusOr<CoordinatorConfig> config = LoadCoordinatorConfig(WriteConfig());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:7443");
  EXPECT_EQ(config->port_file, dir_.Path("conf/state/port"));
  EXPECT_EQ(config->tls.ca, dir_.Path("conf/pki/ca.crt"));
  EXPECT_EQ(config->tls.cert, dir_.Path("conf/pki/coordinator.crt"));
  EXPECT_EQ(config->tls.key, dir_.Path("keys/coordinator.key"));
  EXPECT_EQ(config->state_dir, dir_.Path("conf/state"));
  EXPECT_THAT(config->studies,
              ElementsAre(dir_.Path("conf/plans/heart-disease.yaml"), "/srv/plans/other.yaml"));
  EXPECT_TRUE(config->exit_when_done);
  EXPECT_EQ(config->liveness_grace, absl::Milliseconds(2500));
}

TEST_F(CoordinatorConfigTest, OptionalFieldsTakeDefaults) {
  std::string text = absl::StrReplaceAll(kConfig, {{"port_file: state/port\n", ""},
                                                   {"exit_when_done: true\n", ""},
                                                   {"liveness_grace_seconds: 2.5\n", ""}});
  absl::StatusOr<CoordinatorConfig> config =
      LoadCoordinatorConfig(dir_.Write("coordinator.yaml", text));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->port_file, "");
  EXPECT_FALSE(config->exit_when_done);
  EXPECT_EQ(config->liveness_grace, absl::Seconds(5));
}

TEST_F(CoordinatorConfigTest, RenderedExampleConfigLoads) {
  absl::StatusOr<std::string> example =
      crypto::ReadFile("examples/heart-disease/coordinator.yaml");
  ASSERT_TRUE(example.ok()) << example.status();
  const std::string text = absl::StrReplaceAll(*example, {{"@STATE_DIR@", dir_.path()}});
  absl::StatusOr<CoordinatorConfig> config =
      LoadCoordinatorConfig(dir_.Write("coordinator.yaml", text));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:0");
  EXPECT_EQ(config->port_file, dir_.Path("coordinator/port"));
  EXPECT_EQ(config->tls.key, dir_.Path("pki/coordinator/localhost.key"));
  EXPECT_EQ(config->state_dir, dir_.Path("coordinator"));
  EXPECT_THAT(config->studies, ElementsAre(dir_.Path("plan.yaml")));
  EXPECT_TRUE(config->exit_when_done);
  EXPECT_EQ(config->liveness_grace, absl::Seconds(5));
}

TEST_F(CoordinatorConfigTest, MissingFileIsNotFound) {
  const std::string path = dir_.Path("absent.yaml");
  absl::StatusOr<CoordinatorConfig> config = LoadCoordinatorConfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(config.status().message(), path + ": cannot open file");
}

struct BadConfigCase {
  std::string name;
  std::string from;
  std::string to;
  // The message after "<path>:".
  std::string error;
  friend void PrintTo(const BadConfigCase& c, std::ostream* os) { *os << c.name; }
};

class BadCoordinatorConfigTest : public CoordinatorConfigTest,
                                 public ::testing::WithParamInterface<BadConfigCase> {};

TEST_P(BadCoordinatorConfigTest, IsRefusedNamingFileLineAndField) {
  const BadConfigCase& c = GetParam();
  const std::string path = WriteConfig(c.from, c.to);
  absl::StatusOr<CoordinatorConfig> config = LoadCoordinatorConfig(path);
  ASSERT_FALSE(config.ok()) << "accepted";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(config.status().message());
  ASSERT_THAT(message, StartsWith(path + ":"));
  EXPECT_EQ(message.substr(path.size() + 1), c.error);
}

const BadConfigCase kBadConfigs[] = {
    {.name = "MissingTlsKey",
     .from = ", key: ../keys/coordinator.key",
     .to = "",
     .error = "3: field 'tls.key' is required"},
    {.name = "UnknownTlsKey",
     .from = "cert: pki/coordinator.crt",
     .to = "crt: pki/coordinator.crt",
     .error = "3: field 'tls.crt': unknown field (allowed here: ca, cert, key)"},
    {.name = "ListenWithoutPort",
     .from = "\"127.0.0.1:7443\"",
     .to = "\"127.0.0.1\"",
     .error = "1: field 'listen': must be host:port"},
    {.name = "ListenWithEmptyPort",
     .from = "\"127.0.0.1:7443\"",
     .to = "\"127.0.0.1:\"",
     .error = "1: field 'listen': must be host:port"},
    {.name = "MissingListen",
     .from = "listen: \"127.0.0.1:7443\"\n",
     .to = "",
     .error = "1: field 'listen' is required"},
    {.name = "EmptyStudies",
     .from = "[plans/heart-disease.yaml, /srv/plans/other.yaml]",
     .to = "[]",
     .error = "5: field 'studies': must list at least one study plan"},
    {.name = "StudiesNotAList",
     .from = "[plans/heart-disease.yaml, /srv/plans/other.yaml]",
     .to = "plans/heart-disease.yaml",
     .error = "5: field 'studies': expected a list"},
    {.name = "ZeroGrace",
     .from = "liveness_grace_seconds: 2.5",
     .to = "liveness_grace_seconds: 0",
     .error = "7: field 'liveness_grace_seconds': must be > 0"},
    {.name = "NegativeGrace",
     .from = "liveness_grace_seconds: 2.5",
     .to = "liveness_grace_seconds: -1",
     .error = "7: field 'liveness_grace_seconds': must be > 0"},
    {.name = "GraceNotANumber",
     .from = "liveness_grace_seconds: 2.5",
     .to = "liveness_grace_seconds: long",
     .error = "7: field 'liveness_grace_seconds': \"long\" is not a number"},
    {.name = "ExitWhenDoneNotABool",
     .from = "exit_when_done: true",
     .to = "exit_when_done: maybe",
     .error = "6: field 'exit_when_done': \"maybe\" is not true or false"},
    {.name = "UnknownTopLevelKey",
     .from = "liveness_grace_seconds: 2.5",
     .to = "liveness_grace: 2.5",
     .error = "7: field 'liveness_grace': unknown field (allowed here: listen, port_file, tls, "
              "state_dir, studies, exit_when_done, liveness_grace_seconds, audit)"},
    {.name = "MissingStateDir",
     .from = "state_dir: state\n",
     .to = "",
     .error = "1: field 'state_dir' is required"},
};

INSTANTIATE_TEST_SUITE_P(All, BadCoordinatorConfigTest, ::testing::ValuesIn(kBadConfigs),
                         [](const ::testing::TestParamInfo<BadConfigCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace cohort::coordinator
