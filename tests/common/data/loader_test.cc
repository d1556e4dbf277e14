#include "common/data/loader.h"

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/data/data_source.h"
#include "common/data/schema.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/data/test_paths.h"
#include "yaml-cpp/yaml.h"

namespace cohort::data {
namespace {

using ::cohort::data::testing::TestDataDir;
using ::cohort::data::testing::TestDataFile;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::StartsWith;

constexpr char kPlan[] = R"yaml(
variables:
  - {name: age, type: numeric}
  - {name: sex, type: binary}
  - {name: cp, type: categorical, categories: [typical_angina, atypical_angina, non_anginal, asymptomatic], drop_first: true}
  - {name: chol, type: numeric}
outcome: {name: disease, type: binary}
preprocessing: {missing: MISSING}
)yaml";

constexpr char kCpCodes[] =
    "{codes: {\"1\": typical_angina, \"2\": atypical_angina,"
    " \"3\": non_anginal, \"4\": asymptomatic}}";
constexpr char kDiseaseCodes[] =
    "{column: num, codes: {\"0\": 0, \"1\": 1, \"2\": 1, \"3\": 1, \"4\": 1}}";

StudySchema Schema(const std::string& missing = "drop_row",
                   bool drop_first = true) {
  std::string plan = kPlan;
  plan.replace(plan.find("MISSING"), 7, missing);
  if (!drop_first) plan.replace(plan.find("drop_first: true"), 16,
                                "drop_first: false");
  absl::StatusOr<StudySchema> schema =
      ParseStudySchema(YAML::Load(plan), "plan.yaml");
  EXPECT_TRUE(schema.ok()) << schema.status();
  return *schema;
}

// A site config for a header-less fixture with columns age,sex,cp,chol,num.
// `extra` holds further `variables:` entries, one per line; `tail` further
// keys of `data:` (e.g. a split).
std::string Site(const std::string& file, const std::string& extra = "",
                 const std::string& disease = kDiseaseCodes,
                 const std::string& tail = "") {
  return absl::StrCat("data:\n  path: ", file,
                      "\n  columns: [age, sex, cp, chol, num]\n"
                      "  variables:\n    cp: ", kCpCodes,
                      "\n    disease: ", disease, "\n", extra, tail);
}

absl::StatusOr<LocalDataset> Load(const std::string& site_yaml,
                                  const StudySchema& schema) {
  absl::StatusOr<DataSourceConfig> config =
      ParseDataSource(YAML::Load(site_yaml)["data"], TestDataDir(), "site.yaml");
  if (!config.ok()) return config.status();
  return LoadLocalDataset(*config, schema);
}

Eigen::MatrixXd Rows(std::vector<std::vector<double>> rows) {
  Eigen::MatrixXd m(rows.size(), rows.empty() ? 0 : rows[0].size());
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) m(i, j) = rows[i][j];
  }
  return m;
}

TEST(LoadLocalDatasetTest, DecodesCodesNumbersAndOneHotWithDropFirst) {
  absl::StatusOr<LocalDataset> data = Load(Site("good.csv"), Schema());
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->feature_names,
              ElementsAre("age", "sex", "cp=atypical_angina", "cp=non_anginal",
                          "cp=asymptomatic", "chol"));
  // Line 1 writes cp as "1.0": it matches code "1" numerically (typical
  // angina, the dropped reference level). Line 3 misses chol, line 5 is
  // blank, line 6 misses the outcome.
  EXPECT_EQ(data->x_train, Rows({{63, 1, 0, 0, 0, 233},
                                 {67, 1, 0, 0, 1, 286},
                                 {-1.5, 0, 0, 1, 0, 250}}));
  EXPECT_EQ(data->y_train, Eigen::Vector3d(0, 1, 0));
  EXPECT_THAT(data->train_lines, ElementsAre(1, 2, 4));
  EXPECT_EQ(data->x_test.rows(), 0);
  EXPECT_EQ(data->x_test.cols(), 6);
  EXPECT_EQ(data->rows_read, 5);
  EXPECT_EQ(data->rows_dropped_missing, 2);
  EXPECT_EQ(data->rows_unlisted, 0);
}

TEST(LoadLocalDatasetTest, OneHotKeepsEveryCategoryWithoutDropFirst) {
  absl::StatusOr<LocalDataset> data =
      Load(Site("good.csv"), Schema("drop_row", /*drop_first=*/false));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->x_train, Rows({{63, 1, 1, 0, 0, 0, 233},
                                 {67, 1, 0, 0, 0, 1, 286},
                                 {-1.5, 0, 0, 0, 1, 0, 250}}));
}

TEST(LoadLocalDatasetTest, ExactCodeMatchWinsOverNumericMatch) {
  // "1.0" is a code of its own here, so line 1 is atypical angina.
  const std::string site = absl::StrCat(
      "data:\n  path: good.csv\n  columns: [age, sex, cp, chol, num]\n"
      "  variables:\n"
      "    cp: {codes: {\"1\": typical_angina, \"1.0\": atypical_angina,"
      " \"2\": atypical_angina, \"3\": non_anginal, \"4\": asymptomatic}}\n"
      "    disease: ", kDiseaseCodes, "\n");
  absl::StatusOr<LocalDataset> data = Load(site, Schema());
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->x_train.row(0), Eigen::RowVectorXd::Map(
                                      std::vector<double>{63, 1, 1, 0, 0, 233}
                                          .data(), 6));
}

TEST(LoadLocalDatasetTest, ImputeMeanKeepsMissingNumericAsNaN) {
  // cp "4" is declared missing for this site: a missing categorical value
  // drops the row even under impute_mean, and so does a missing outcome.
  absl::StatusOr<LocalDataset> data = Load(
      absl::StrCat("data:\n  path: good.csv\n  columns: [age, sex, cp, chol,"
                   " num]\n  variables:\n    cp: {codes: {\"1\": typical_angina,"
                   " \"2\": atypical_angina, \"3\": non_anginal},"
                   " missing: [\"4\"]}\n    disease: ", kDiseaseCodes, "\n"),
      Schema("impute_mean"));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->train_lines, ElementsAre(1, 3, 4));
  EXPECT_EQ(data->rows_dropped_missing, 2);  // line 2 (cp), line 6 (outcome)
  ASSERT_EQ(data->x_train.rows(), 3);
  EXPECT_DOUBLE_EQ(data->x_train(1, 0), 0.7);  // ".7"
  EXPECT_TRUE(std::isnan(data->x_train(1, 5)));
  EXPECT_EQ(data->y_train(1), 1.0);
}

TEST(LoadLocalDatasetTest, PerVariableMissingMarkersAddToTheFileMarkers) {
  absl::StatusOr<LocalDataset> data =
      Load(Site("good.csv", "    chol: {missing: [\"233\"]}\n"), Schema());
  ASSERT_TRUE(data.ok()) << data.status();
  // "233.0" on line 1 matches the marker "233" numerically; "?" (line 3) is
  // still missing.
  EXPECT_THAT(data->train_lines, ElementsAre(2, 4));
  EXPECT_EQ(data->rows_dropped_missing, 3);
}

TEST(LoadLocalDatasetTest, HeaderQuotesDelimiterAndCrlf) {
  absl::StatusOr<LocalDataset> data = Load(R"yaml(
data:
  path: good_header.csv
  header: true
  delimiter: ";"
  variables:
    age: {column: Age}
    sex: {column: Sex}
    cp: {column: ChestPain}
    chol: {column: Chol}
    disease: {column: Num}
)yaml",
                                           Schema());
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->x_train, Rows({{63, 1, 0, 0, 0, 233}}));
  EXPECT_THAT(data->train_lines, ElementsAre(2));
  EXPECT_EQ(data->rows_read, 2);
  EXPECT_EQ(data->rows_dropped_missing, 1);
}

TEST(LoadLocalDatasetTest, SplitFileAssignsFoldsAndCountsUnlistedRows) {
  absl::StatusOr<LocalDataset> data =
      Load(Site("good.csv", "", kDiseaseCodes,
                "  split: {file: split_ok.csv}\n"),
           Schema());
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->train_lines, ElementsAre(1));
  EXPECT_THAT(data->test_lines, ElementsAre(2));
  EXPECT_EQ(data->x_test, Rows({{67, 1, 0, 0, 1, 286}}));
  EXPECT_EQ(data->y_test, Eigen::VectorXd::Ones(1));
  EXPECT_EQ(data->rows_read, 5);
  EXPECT_EQ(data->rows_dropped_missing, 2);  // line 3 is listed but missing
  EXPECT_EQ(data->rows_unlisted, 1);         // line 4
  EXPECT_EQ(data->rows_read, data->rows_dropped_missing + data->rows_unlisted +
                                 data->x_train.rows() + data->x_test.rows());
}

struct LoadErrorCase {
  std::string name;
  std::string site;  // site config YAML, paths relative to testdata/
  absl::StatusCode code;
  std::string message;
  bool exact;  // whole message, or only its start
};

// Keeps test names short in gtest and ctest output.
void PrintTo(const LoadErrorCase& c, std::ostream* os) { *os << c.name; }

class LoadLocalDatasetErrorTest
    : public ::testing::TestWithParam<LoadErrorCase> {};

TEST_P(LoadLocalDatasetErrorTest, NamesFileLineAndColumn) {
  absl::StatusOr<LocalDataset> data = Load(GetParam().site, Schema());
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), GetParam().code) << data.status();
  if (GetParam().exact) {
    EXPECT_THAT(std::string(data.status().message()), Eq(GetParam().message));
  } else {
    EXPECT_THAT(std::string(data.status().message()),
                StartsWith(GetParam().message));
  }
}

std::string F(const std::string& name) { return TestDataFile(name); }

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;

std::string WithSplit(const std::string& split_file) {
  return Site("good.csv", "", kDiseaseCodes,
              absl::StrCat("  split: {file: ", split_file, "}\n"));
}

std::vector<LoadErrorCase> ErrorCases() {
  return {
      {"WrongFieldCount", Site("wrong_columns.csv"), kInvalid,
       F("wrong_columns.csv") + ":3: expected 5 columns, found 4", true},
      {"NotANumber", Site("bad_number.csv"), kInvalid,
       F("bad_number.csv") + ":2: column 'chol': \"abc\" is not a number",
       true},
      {"NumberWithTrailingGarbage", Site("bad_number_suffix.csv"), kInvalid,
       F("bad_number_suffix.csv") + ":1: column 'age': \"1x\" is not a number",
       true},
      {"UnknownCode", Site("unknown_code.csv"), kInvalid,
       F("unknown_code.csv") +
           ":2: column 'cp': \"9\" is not a known code for variable 'cp' "
           "(known: 1, 2, 3, 4)",
       true},
      {"BadValueInARowThatWouldBeDropped", Site("bad_in_dropped_row.csv"),
       kInvalid,
       F("bad_in_dropped_row.csv") +
           ":2: column 'cp': \"9\" is not a known code for variable 'cp' "
           "(known: 1, 2, 3, 4)",
       true},
      {"OutcomeNotZeroOrOne", Site("bad_outcome.csv", "", "{column: num}"),
       kInvalid,
       F("bad_outcome.csv") +
           ":3: column 'num': outcome value \"7\" is not 0 or 1",
       true},
      {"OutcomeUnknownCode", Site("bad_outcome.csv"), kInvalid,
       F("bad_outcome.csv") +
           ":3: column 'num': outcome value \"7\" is not a known code for "
           "variable 'disease' (known: 0, 1, 2, 3, 4)",
       true},
      {"BinaryNotZeroOrOne", Site("bad_binary.csv"), kInvalid,
       F("bad_binary.csv") +
           ":1: column 'sex': \"2\" is not 0 or 1 (variable 'sex' is binary)",
       true},
      {"LineNumbersCountQuotedLineBreaksAndBlankLines",
       absl::StrCat("data:\n  path: multiline.csv\n  header: true\n"
                    "  variables:\n    cp: ", kCpCodes,
                    "\n    disease: ", kDiseaseCodes, "\n"),
       kInvalid,
       F("multiline.csv") + ":6: column 'chol': \"abc\" is not a number",
       true},
      {"MalformedQuoting", Site("malformed.csv"), kInvalid,
       F("malformed.csv") + ":2: malformed CSV: ", false},
      {"EmptyFile", Site("empty.csv"), kInvalid,
       F("empty.csv") + ": file is empty", true},
      {"HeaderOnly",
       absl::StrCat("data:\n  path: header_only.csv\n  header: true\n"
                    "  variables:\n    cp: ", kCpCodes,
                    "\n    disease: ", kDiseaseCodes, "\n"),
       kInvalid, F("header_only.csv") + ": file is empty", true},
      {"MissingFile", Site("no_such.csv"), absl::StatusCode::kNotFound,
       F("no_such.csv") + ": no such file", true},
      {"MappedColumnNotInColumns",
       Site("good.csv", "    chol: {column: cholesterol}\n"), kInvalid,
       "site.yaml:7: field 'data.variables.chol.column': variable "
       "'chol' maps to "
       "column 'cholesterol', which is not in data.columns (columns: age, "
       "sex, cp, chol, num)",
       true},
      {"UnmappedVariableNotInHeader",
       "data:\n  path: good_header.csv\n  header: true\n  delimiter: \";\"\n",
       kInvalid,
       "site.yaml:2: field 'data.variables': study variable 'age' is "
       "not mapped, and "
       "there is no column 'age' in the header of " +
           F("good_header.csv") +
           " (columns: Age, Sex, ChestPain, Chol, Num)",
       true},
      {"MappingForUnknownVariable", Site("good.csv", "    thal: {}\n"),
       kInvalid,
       "site.yaml:7: field 'data.variables.thal': 'thal' is not a "
       "variable of the "
       "study (variables: age, sex, cp, chol, disease)",
       true},
      {"CodeTargetNotACategory",
       absl::StrCat("data:\n  path: good.csv\n"
                    "  columns: [age, sex, cp, chol, num]\n"
                    "  variables:\n    cp: {codes: {\"1\": typical}}\n"),
       kInvalid,
       "site.yaml:5: field 'data.variables.cp.codes[\"1\"]': "
       "\"typical\" is not a "
       "category of variable 'cp'",
       false},
      {"OutcomeCodeTargetNotBinary",
       Site("good.csv", "", "{column: num, codes: {\"0\": 0, \"1\": 2}}"),
       kInvalid,
       "site.yaml:6: field 'data.variables.disease.codes[\"1\"]': "
       "\"2\" is not 0 or 1",
       false},
      {"SplitFoldNotTrainOrTest", WithSplit("split_bad_fold.csv"), kInvalid,
       F("split_bad_fold.csv") +
           ":3: column 'fold': \"valid\" is not train or test",
       true},
      {"SplitLineNotADataRecord", WithSplit("split_bad_line.csv"), kInvalid,
       F("split_bad_line.csv") + ":3: column 'line': line 5 of " +
           F("good.csv") + " is not a data record",
       true},
      {"SplitLineNotANumber", WithSplit("split_line_not_number.csv"),
       kInvalid,
       F("split_line_not_number.csv") +
           ":2: column 'line': \"x\" is not a positive line number",
       true},
      {"SplitLineListedTwice", WithSplit("split_duplicate.csv"), kInvalid,
       F("split_duplicate.csv") + ":4: column 'line': line 1 of " +
           F("good.csv") + " is already listed on line 2",
       true},
      {"SplitListsNoRowOfThisFile", WithSplit("split_no_rows.csv"), kInvalid,
       F("split_no_rows.csv") + ": lists no row of " + F("good.csv"), false},
      {"SplitHeaderLacksColumn", WithSplit("split_no_line_column.csv"),
       kInvalid,
       F("split_no_line_column.csv") + ":1: the header has no column 'line'",
       false},
      {"SplitFileEmpty", WithSplit("empty.csv"), kInvalid,
       F("empty.csv") + ": file is empty", true},
      {"SplitFileMissing", WithSplit("no_split.csv"),
       absl::StatusCode::kNotFound, F("no_split.csv") + ": no such file",
       true},
  };
}

INSTANTIATE_TEST_SUITE_P(Cases, LoadLocalDatasetErrorTest,
                         ::testing::ValuesIn(ErrorCases()),
                         [](const ::testing::TestParamInfo<LoadErrorCase>& i) {
                           return i.param.name;
                         });

}  // namespace
}  // namespace cohort::data
