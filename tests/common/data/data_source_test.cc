#include "common/data/data_source.h"

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace cohort::data {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::StartsWith;

absl::StatusOr<DataSourceConfig> Parse(const std::string& yaml,
                                       const std::string& base_dir = "/site") {
  return ParseDataSource(YAML::Load(yaml)["data"], base_dir, "site.yaml");
}

TEST(ParseDataSourceTest, ParsesEveryKey) {
  absl::StatusOr<DataSourceConfig> config = Parse(R"yaml(
data:
  path: data/processed.cleveland.data
  header: false
  columns: [age, sex, cp, chol, num]
  delimiter: ";"
  missing: ["?", ""]
  variables:
    cp: {column: cp, codes: {"1": typical_angina, 2: atypical_angina}}
    disease: {column: num, codes: {"0": 0, "1": 1}}
    chol: {missing: ["?", "0"]}
  split:
    file: data/flamby_split.csv
)yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->where, "site.yaml");
  EXPECT_EQ(config->path, "data/processed.cleveland.data");
  EXPECT_EQ(config->resolved_path, "/site/data/processed.cleveland.data");
  EXPECT_FALSE(config->header);
  EXPECT_THAT(config->columns, ElementsAre("age", "sex", "cp", "chol", "num"));
  EXPECT_EQ(config->delimiter, ';');
  EXPECT_THAT(config->missing, ElementsAre("?", ""));
  ASSERT_EQ(config->variables.size(), 3u);
  EXPECT_EQ(config->variables.at("cp").column, "cp");
  EXPECT_THAT(config->variables.at("cp").codes,
              ElementsAre(Pair("1", "typical_angina"),
                          Pair("2", "atypical_angina")));
  EXPECT_EQ(config->variables.at("disease").column, "num");
  // A mapping without `column` reads the column of the variable's name.
  EXPECT_EQ(config->variables.at("chol").column, "chol");
  EXPECT_THAT(config->variables.at("chol").missing, ElementsAre("?", "0"));
  EXPECT_EQ(config->split.kind, SplitConfig::Kind::kFile);
  EXPECT_EQ(config->split.file, "/site/data/flamby_split.csv");
}

TEST(ParseDataSourceTest, Defaults) {
  absl::StatusOr<DataSourceConfig> config =
      Parse("data: {path: x.csv, header: true}", "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->resolved_path, "x.csv");
  EXPECT_TRUE(config->header);
  EXPECT_EQ(config->delimiter, ',');
  EXPECT_THAT(config->missing, ElementsAre("", "NA", "?"));
  EXPECT_TRUE(config->variables.empty());
  EXPECT_EQ(config->split.kind, SplitConfig::Kind::kNone);
}

// Booleans take every YAML 1.1 spelling yaml-cpp knows, not only ConfigNode's.
TEST(ParseDataSourceTest, HeaderAcceptsYamlBooleanSpellings) {
  absl::StatusOr<DataSourceConfig> config =
      Parse("data: {path: x.csv, header: Yes}");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->header);
}

// An explicit null is a malformed value, not "use the default".
TEST(ParseDataSourceTest, NullOptionalFieldIsRejected) {
  absl::StatusOr<DataSourceConfig> config =
      Parse("data: {path: x.csv, header: true, delimiter: ~}");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            "site.yaml:1: field 'data.delimiter': expected a single value");
}

TEST(ParseDataSourceTest, AbsolutePathIsKeptAndPathsAreNormalized) {
  absl::StatusOr<DataSourceConfig> config =
      Parse("data: {path: /data/x.csv, header: true,"
            " split: {file: ./a/../split.csv}}",
            "/site/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->resolved_path, "/data/x.csv");
  EXPECT_EQ(config->split.file, "/site/split.csv");
}

TEST(ParseDataSourceTest, FractionSplit) {
  absl::StatusOr<DataSourceConfig> config = Parse(
      "data: {path: x.csv, header: true,"
      " split: {test_fraction: 0.34, seed: 43}}");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->split.kind, SplitConfig::Kind::kFraction);
  EXPECT_DOUBLE_EQ(config->split.test_fraction, 0.34);
  EXPECT_EQ(config->split.seed, 43u);
}

TEST(ParseDataSourceTest, TabDelimiter) {
  absl::StatusOr<DataSourceConfig> config =
      Parse("data: {path: x.tsv, header: true, delimiter: \"\\t\"}");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->delimiter, '\t');
}

struct SourceErrorCase {
  std::string name;
  std::string yaml;
  std::string message;  // the error must start with this
};

// Keeps test names short in gtest and ctest output.
void PrintTo(const SourceErrorCase& c, std::ostream* os) { *os << c.name; }

class ParseDataSourceErrorTest
    : public ::testing::TestWithParam<SourceErrorCase> {};

TEST_P(ParseDataSourceErrorTest, NamesConfigAndFieldPath) {
  absl::StatusOr<DataSourceConfig> config = Parse(GetParam().yaml);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()),
              StartsWith(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseDataSourceErrorTest,
    ::testing::ValuesIn(std::vector<SourceErrorCase>{
        {.name = "NoDataSection",
         .yaml = "site: x",
         .message = "site.yaml: field 'data': expected a mapping"},
        {.name = "UnknownKey",
         .yaml = "data: {path: x.csv, header: true, colour: red}",
         .message = "site.yaml:1: field 'data.colour': unknown field (allowed here: "
                    "path, header, columns, delimiter, missing, variables, "
                    "split)"},
        {.name = "MissingPath",
         .yaml = "data: {header: true}",
         .message = "site.yaml:1: field 'data.path' is required"},
        {.name = "HeaderNotBool",
         .yaml = "data: {path: x.csv, header: sometimes}",
         .message = "site.yaml:1: field 'data.header': \"sometimes\" is not true or "
                    "false"},
        {.name = "ColumnsRequiredWithoutHeader",
         .yaml = "data: {path: x.csv}",
         .message = "site.yaml:1: field 'data.columns': is required when header "
                    "is false"},
        {.name = "ColumnsWithHeader",
         .yaml = "data: {path: x.csv, header: true, columns: [a]}",
         .message = "site.yaml:1: field 'data.columns': must not be given when "
                    "header is true"},
        {.name = "DuplicateColumn",
         .yaml = "data: {path: x.csv, columns: [a, b, a]}",
         .message = "site.yaml:1: field 'data.columns[2]': duplicate column "
                    "\"a\""},
        {.name = "LongDelimiter",
         .yaml = "data: {path: x.csv, header: true, delimiter: ';;'}",
         .message = "site.yaml:1: field 'data.delimiter': \";;\" is not a "
                    "single character"},
        {.name = "UnknownMappingKey",
         .yaml = "data: {path: x.csv, header: true,"
                 " variables: {cp: {col: chest_pain}}}",
         .message = "site.yaml:1: field 'data.variables.cp.col': unknown field "
                    "(allowed here: column, codes, missing)"},
        {.name = "CodesNotAMap",
         .yaml = "data: {path: x.csv, header: true,"
                 " variables: {cp: {codes: [1, 2]}}}",
         .message = "site.yaml:1: field 'data.variables.cp.codes': must be a "
                    "non-empty map"},
        {.name = "CodeValueNotScalar",
         .yaml = "data: {path: x.csv, header: true,"
                 " variables: {cp: {codes: {\"1\": [a]}}}}",
         .message = "site.yaml:1: field 'data.variables.cp.codes[\"1\"]': "
                    "expected a single value"},
        {.name = "SplitBothKinds",
         .yaml = "data: {path: x.csv, header: true,"
                 " split: {file: s.csv, test_fraction: 0.3, seed: 1}}",
         .message = "site.yaml:1: field 'data.split': give either file or "
                    "test_fraction and seed, not both"},
        {.name = "SplitFractionOutOfRange",
         .yaml = "data: {path: x.csv, header: true,"
                 " split: {test_fraction: 1.5, seed: 1}}",
         .message = "site.yaml:1: field 'data.split.test_fraction': \"1.5\" is "
                    "not a number in (0, 1)"},
        {.name = "SplitSeedMissing",
         .yaml = "data: {path: x.csv, header: true,"
                 " split: {test_fraction: 0.3}}",
         .message = "site.yaml:1: field 'data.split': needs either file, or "
                    "test_fraction and seed"},
        {.name = "SplitSeedNegative",
         .yaml = "data: {path: x.csv, header: true,"
                 " split: {test_fraction: 0.3, seed: -4}}",
         .message = "site.yaml:1: field 'data.split.seed': \"-4\" is not a "
                    "non-negative integer"},
        {.name = "SplitUnknownKey",
         .yaml = "data: {path: x.csv, header: true, split: {fold: a}}",
         .message = "site.yaml:1: field 'data.split.fold': unknown field"},
    }),
    [](const ::testing::TestParamInfo<SourceErrorCase>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace cohort::data
