// ConfigNode: every error a config author sees names the file, the line and
// the dotted field path ("plan.yaml:12: field 'training.learning_rate': ...").
#include "common/util/config_node.h"

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/util/temp_dir.h"

namespace cohort::util {
namespace {

using ::testing::ElementsAre;

ConfigNode ParseOrDie(const std::string& text) {
  absl::StatusOr<ConfigNode> root = ConfigNode::Parse(text, "cfg.yaml");
  EXPECT_TRUE(root.ok()) << root.status();
  return *root;
}

TEST(ConfigNodeParseTest, SyntaxErrorNamesFileLineAndColumn) {
  // The flow sequence opened on line 2 is never closed.
  absl::StatusOr<ConfigNode> root =
      ConfigNode::Parse("a: 1\nb: [1, 2\nc: 3\n", "cfg.yaml");
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(root.status().message()),
              ::testing::MatchesRegex("cfg\\.yaml:[0-9]+:[0-9]+: .+"));
}

TEST(ConfigNodeParseTest, SyntaxErrorPositionIsOneBased) {
  // The second ':' on line 2 (column 5) cannot start a map value there.
  absl::StatusOr<ConfigNode> root = ConfigNode::Parse("a: 1\nb: c: d\n", "cfg.yaml");
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root.status().message(), "cfg.yaml:2:5: illegal map value");
}

TEST(ConfigNodeParseTest, TopLevelMustBeAMapping) {
  absl::StatusOr<ConfigNode> root = ConfigNode::Parse("- a\n- b\n", "cfg.yaml");
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root.status().message(), "cfg.yaml: expected a YAML mapping at the top level");
}

TEST(ConfigNodeParseTest, LoadFileOfMissingFileIsNotFoundNamingThePath) {
  cohort::testing::TempDir dir;
  const std::string path = dir.Path("cfg.yaml");
  absl::StatusOr<ConfigNode> root = ConfigNode::LoadFile(path);
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(root.status().message(), path + ": cannot open file");
}

TEST(ConfigNodeParseTest, LoadFileNamesThePathInErrors) {
  cohort::testing::TempDir dir;
  const std::string path =
      dir.Write("site.yaml", "site: cleveland\npoll:\n  wait_seconds: soon\n");
  absl::StatusOr<ConfigNode> root = ConfigNode::LoadFile(path);
  ASSERT_TRUE(root.ok()) << root.status();
  absl::StatusOr<ConfigNode> poll = root->Child("poll");
  ASSERT_TRUE(poll.ok()) << poll.status();
  absl::StatusOr<double> wait = poll->GetDouble("wait_seconds");
  ASSERT_FALSE(wait.ok());
  EXPECT_EQ(wait.status().message(),
            path + ":3: field 'poll.wait_seconds': \"soon\" is not a number");
}

// One accessor applied to one document, and the exact error it must give.
struct ErrorCase {
  std::string name;
  std::string yaml;
  std::function<absl::Status(const ConfigNode&)> access;
  std::string expected;
  friend void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }
};

class ConfigNodeErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigNodeErrorTest, ErrorNamesFileLineAndField) {
  const ErrorCase& c = GetParam();
  ConfigNode root = ParseOrDie(c.yaml);
  absl::Status status = c.access(root);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(status.message(), c.expected);
}

// The elements of list `key`, then `leaf` applied to each until one fails.
std::function<absl::Status(const ConfigNode&)> EachElementOf(
    std::string key, std::function<absl::Status(const ConfigNode&)> leaf) {
  return [key = std::move(key), leaf = std::move(leaf)](const ConfigNode& root) -> absl::Status {
    absl::StatusOr<ConfigNode> list = root.Child(key);
    if (!list.ok()) return list.status();
    absl::StatusOr<std::vector<ConfigNode>> elements = list->Elements();
    if (!elements.ok()) return elements.status();
    for (const ConfigNode& e : *elements) {
      absl::Status status = leaf(e);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  };
}

const ErrorCase kErrorCases[] = {
    {.name = "MissingNestedField",
     .yaml = "a:\n  c: 1\n",
     .access = [](const ConfigNode& r) { return r.Child("a")->Child("b").status(); },
     .expected = "cfg.yaml:2: field 'a.b' is required"},
    {.name = "MissingTopLevelField",
     .yaml = "x: 1\ny: 2\n",
     .access = [](const ConfigNode& r) { return r.GetString("name").status(); },
     .expected = "cfg.yaml:1: field 'name' is required"},
    {.name = "NullFieldCountsAsMissing",
     .yaml = "a:\n  b:\n  c: 1\n",
     .access = [](const ConfigNode& r) { return r.Child("a")->GetInt("b").status(); },
     .expected = "cfg.yaml:2: field 'a.b' is required"},
    {.name = "NotANumber",
     .yaml = "training:\n  seed: 1\n  learning_rate: abc\n",
     .access = [](const ConfigNode& r) {
       return r.Child("training")->GetDouble("learning_rate").status();
     },
     .expected = "cfg.yaml:3: field 'training.learning_rate': \"abc\" is not a number"},
    {.name = "InfinityIsNotANumber",
     .yaml = "rate: inf\n",
     .access = [](const ConfigNode& r) { return r.GetDouble("rate").status(); },
     .expected = "cfg.yaml:1: field 'rate': \"inf\" is not a number"},
    {.name = "NumberWithTrailingText",
     .yaml = "rate: 0.5x\n",
     .access = [](const ConfigNode& r) { return r.GetDouble("rate", 1.0).status(); },
     .expected = "cfg.yaml:1: field 'rate': \"0.5x\" is not a number"},
    {.name = "FractionIsNotAnInteger",
     .yaml = "rounds: 1.5\n",
     .access = [](const ConfigNode& r) { return r.GetInt("rounds").status(); },
     .expected = "cfg.yaml:1: field 'rounds': \"1.5\" is not an integer"},
    {.name = "WordIsNotAnInteger",
     .yaml = "a: 1\nrounds: many\n",
     .access = [](const ConfigNode& r) { return r.GetInt("rounds", 3).status(); },
     .expected = "cfg.yaml:2: field 'rounds': \"many\" is not an integer"},
    {.name = "NotABool",
     .yaml = "exit_when_done: maybe\n",
     .access = [](const ConfigNode& r) { return r.GetBool("exit_when_done", false).status(); },
     .expected = "cfg.yaml:1: field 'exit_when_done': \"maybe\" is not true or false"},
    {.name = "ListWhereScalarExpected",
     .yaml = "site: [a, b]\n",
     .access = [](const ConfigNode& r) { return r.GetString("site").status(); },
     .expected = "cfg.yaml:1: field 'site': expected a single value"},
    {.name = "MapWhereNumberExpected",
     .yaml = "rate: {a: 1}\n",
     .access = [](const ConfigNode& r) { return r.GetDouble("rate").status(); },
     .expected = "cfg.yaml:1: field 'rate': expected a number"},
    {.name = "ScalarWhereListExpected",
     .yaml = "sites: cleveland\n",
     .access = [](const ConfigNode& r) { return r.Child("sites")->AsStringList().status(); },
     .expected = "cfg.yaml:1: field 'sites': expected a list"},
    {.name = "NestedListElementNamedByIndex",
     .yaml = "sites:\n  - a\n  - [b, c]\n",
     .access = [](const ConfigNode& r) { return r.Child("sites")->AsStringList().status(); },
     .expected = "cfg.yaml:3: field 'sites[1]': expected a single value"},
    {.name = "ElementFieldNamedByIndex",
     .yaml = "sites:\n  - {name: a, port: 1}\n  - {name: b, port: 2}\n"
             "  - {name: c, port: x}\n",
     .access = EachElementOf("sites",
                             [](const ConfigNode& s) { return s.GetInt("port").status(); }),
     .expected = "cfg.yaml:4: field 'sites[2].port': \"x\" is not an integer"},
    {.name = "MissingFieldInElement",
     .yaml = "sites:\n  - {name: a}\n  - {name: b}\n  - {port: 3}\n",
     .access = EachElementOf("sites",
                             [](const ConfigNode& s) { return s.GetString("name").status(); }),
     .expected = "cfg.yaml:4: field 'sites[2].name' is required"},
    {.name = "UnknownKeyNamedWithAllowedKeys",
     .yaml = "training:\n  learning_rte: 0.1\n  momentum: 0.9\n",
     .access = [](const ConfigNode& r) {
       return r.Child("training")->CheckKeys({"learning_rate", "momentum"});
     },
     .expected = "cfg.yaml:2: field 'training.learning_rte': unknown field "
                 "(allowed here: learning_rate, momentum)"},
    {.name = "UnknownTopLevelKey",
     .yaml = "site: a\nroundz: 3\n",
     .access = [](const ConfigNode& r) { return r.CheckKeys({"site", "rounds"}); },
     .expected = "cfg.yaml:2: field 'roundz': unknown field (allowed here: site, rounds)"},
    {.name = "CheckKeysOnAList",
     .yaml = "poll: [1]\n",
     .access = [](const ConfigNode& r) { return r.Child("poll")->CheckKeys({"wait_seconds"}); },
     .expected = "cfg.yaml:1: field 'poll': expected a mapping"},
    {.name = "ElementsOfAMap",
     .yaml = "sites: {a: 1}\n",
     .access = [](const ConfigNode& r) { return r.Child("sites")->Elements().status(); },
     .expected = "cfg.yaml:1: field 'sites': expected a list"},
    {.name = "ErrorOnRootHasNoFieldPath",
     .yaml = "a: 1\n",
     .access = [](const ConfigNode& r) { return r.Error("something is off"); },
     .expected = "cfg.yaml:1: something is off"},
};

INSTANTIATE_TEST_SUITE_P(All, ConfigNodeErrorTest, ::testing::ValuesIn(kErrorCases),
                         [](const ::testing::TestParamInfo<ErrorCase>& info) {
                           return info.param.name;
                         });

TEST(ConfigNodeValueTest, TypedValuesParse) {
  ConfigNode root = ParseOrDie(
      "name: cleveland\nrate: 0.25\nrounds: -7\nyes_flag: yes\noff_flag: off\n"
      "t: true\nlist: [a, b, c]\n");
  EXPECT_EQ(*root.GetString("name"), "cleveland");
  EXPECT_EQ(*root.GetDouble("rate"), 0.25);
  EXPECT_EQ(*root.GetInt("rounds"), -7);
  EXPECT_TRUE(*root.GetBool("yes_flag", false));
  EXPECT_FALSE(*root.GetBool("off_flag", true));
  EXPECT_TRUE(*root.GetBool("t", false));
  EXPECT_THAT(*root.Child("list")->AsStringList(), ElementsAre("a", "b", "c"));
}

TEST(ConfigNodeValueTest, FallbacksApplyOnlyWhenAbsentOrNull) {
  ConfigNode root = ParseOrDie("present: 5\nempty:\n");
  EXPECT_EQ(*root.GetInt("present", 9), 5);
  EXPECT_EQ(*root.GetInt("absent", 9), 9);
  EXPECT_EQ(*root.GetInt("empty", 9), 9);
  EXPECT_EQ(*root.GetDouble("absent", 1.5), 1.5);
  EXPECT_EQ(*root.GetString("absent", "dflt"), "dflt");
  EXPECT_TRUE(*root.GetBool("absent", true));
  EXPECT_TRUE(root.Has("present"));
  EXPECT_FALSE(root.Has("absent"));
  EXPECT_FALSE(root.Has("empty"));
}

TEST(ConfigNodeValueTest, KeysAreInFileOrderAndPathsAreDotted) {
  ConfigNode root = ParseOrDie("zeta: 1\nalpha:\n  inner: {x: 1}\nmid: 2\n");
  EXPECT_THAT(*root.Keys(), ElementsAre("zeta", "alpha", "mid"));
  EXPECT_EQ(root.path(), "");
  EXPECT_EQ(root.file(), "cfg.yaml");
  absl::StatusOr<ConfigNode> inner = root.Child("alpha")->Child("inner");
  ASSERT_TRUE(inner.ok()) << inner.status();
  EXPECT_EQ(inner->path(), "alpha.inner");
  EXPECT_TRUE(inner->IsMap());
}

TEST(ConfigNodeValueTest, ElementsArePathedByIndex) {
  ConfigNode root = ParseOrDie("sites: [a, b, c]\n");
  absl::StatusOr<std::vector<ConfigNode>> sites = root.Child("sites")->Elements();
  ASSERT_TRUE(sites.ok()) << sites.status();
  ASSERT_EQ(sites->size(), 3u);
  EXPECT_EQ((*sites)[0].path(), "sites[0]");
  EXPECT_EQ((*sites)[2].path(), "sites[2]");
  EXPECT_EQ(*(*sites)[2].AsString(), "c");
}

TEST(ConfigNodeValueTest, CheckKeysAcceptsKnownKeys) {
  ConfigNode root = ParseOrDie("a: 1\nb: 2\n");
  EXPECT_TRUE(root.CheckKeys({"a", "b", "c"}).ok());
}

}  // namespace
}  // namespace cohort::util
