#include "common/data/schema.h"

#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace cohort::data {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kPlan[] = R"yaml(
study: heart            # other sections of the plan are not ours to check
variables:
  - {name: age, type: numeric}
  - {name: sex, type: binary}
  - {name: cp, type: categorical, categories: [typical_angina, atypical_angina, non_anginal, asymptomatic], drop_first: true}
  - {name: restecg, type: categorical, categories: [normal, st_t, lvh]}
outcome: {name: disease, type: binary}
preprocessing: {missing: impute_mean, standardize: false}
)yaml";

TEST(ParseStudySchemaTest, ParsesVariablesOutcomeAndPreprocessing) {
  absl::StatusOr<StudySchema> schema =
      ParseStudySchema(YAML::Load(kPlan), "plan.yaml");
  ASSERT_TRUE(schema.ok()) << schema.status();
  ASSERT_EQ(schema->features.size(), 4u);
  EXPECT_EQ(schema->features[0].name, "age");
  EXPECT_EQ(schema->features[0].type, VariableType::kNumeric);
  EXPECT_EQ(schema->features[1].type, VariableType::kBinary);
  EXPECT_EQ(schema->features[2].type, VariableType::kCategorical);
  EXPECT_THAT(schema->features[2].categories,
              ElementsAre("typical_angina", "atypical_angina", "non_anginal",
                          "asymptomatic"));
  EXPECT_TRUE(schema->features[2].drop_first);
  EXPECT_FALSE(schema->features[3].drop_first);
  EXPECT_EQ(schema->outcome.name, "disease");
  EXPECT_EQ(schema->outcome.type, VariableType::kBinary);
  EXPECT_EQ(schema->missing, MissingPolicy::kImputeMean);
  EXPECT_FALSE(schema->standardize);
}

TEST(ParseStudySchemaTest, PreprocessingDefaultsToDropRowAndStandardize) {
  absl::StatusOr<StudySchema> schema = ParseStudySchema(
      YAML::Load("variables: [{name: age, type: numeric}]\n"
                 "outcome: {name: y, type: binary}\n"),
      "plan.yaml");
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_EQ(schema->missing, MissingPolicy::kDropRow);
  EXPECT_TRUE(schema->standardize);
}

TEST(EncodedFeatureNamesTest, OneHotDropsFirstCategoryOnlyWhenAsked) {
  absl::StatusOr<StudySchema> schema =
      ParseStudySchema(YAML::Load(kPlan), "plan.yaml");
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_THAT(EncodedFeatureNames(*schema),
              ElementsAre("age", "sex", "cp=atypical_angina", "cp=non_anginal",
                          "cp=asymptomatic", "restecg=normal", "restecg=st_t",
                          "restecg=lvh"));
  EXPECT_EQ(NumEncodedFeatures(*schema), 8);
}

struct SchemaErrorCase {
  std::string name;
  std::string yaml;
  std::string message;  // the error must start with this
};

// Keeps test names short in gtest and ctest output.
void PrintTo(const SchemaErrorCase& c, std::ostream* os) { *os << c.name; }

class ParseStudySchemaErrorTest
    : public ::testing::TestWithParam<SchemaErrorCase> {};

TEST_P(ParseStudySchemaErrorTest, NamesFileAndFieldPath) {
  absl::StatusOr<StudySchema> schema =
      ParseStudySchema(YAML::Load(GetParam().yaml), "plan.yaml");
  ASSERT_FALSE(schema.ok());
  EXPECT_EQ(schema.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(schema.status().message()),
              StartsWith(GetParam().message));
}

constexpr char kOutcome[] = "outcome: {name: y, type: binary}\n";

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseStudySchemaErrorTest,
    ::testing::ValuesIn(std::vector<SchemaErrorCase>{
        {.name = "UnknownType",
         .yaml = std::string("variables:\n"
                             "  - {name: a, type: numeric}\n"
                             "  - {name: b, type: binary}\n"
                             "  - {name: c, type: numbr}\n") + kOutcome,
         .message = "plan.yaml:4: field 'variables[2].type': \"numbr\" is not "
                    "one of numeric, binary, categorical"},
        {.name = "MissingVariables",
         .yaml = kOutcome,
         .message = "plan.yaml:1: field 'variables' is required"},
        {.name = "EmptyVariables",
         .yaml = std::string("variables: []\n") + kOutcome,
         .message = "plan.yaml:1: field 'variables': must be a non-empty list"},
        {.name = "MissingName",
         .yaml = std::string("variables: [{type: numeric}]\n") + kOutcome,
         .message = "plan.yaml:1: field 'variables[0].name' is required"},
        {.name = "EmptyName",
         .yaml = std::string("variables: [{name: '', type: numeric}]\n") +
                 kOutcome,
         .message = "plan.yaml:1: field 'variables[0].name': must not be empty"},
        {.name = "DuplicateName",
         .yaml = std::string("variables:\n"
                             "  - {name: a, type: numeric}\n"
                             "  - {name: a, type: binary}\n") + kOutcome,
         .message = "plan.yaml:3: field 'variables[1].name': duplicate variable "
                    "name \"a\""},
        {.name = "UnknownVariableKey",
         .yaml = std::string("variables: [{name: a, type: numeric, "
                             "unit: mm}]\n") + kOutcome,
         .message = "plan.yaml:1: field 'variables[0].unit': unknown field "
                    "(allowed here: name, type, categories, drop_first, range)"},
        {.name = "OneCategory",
         .yaml = std::string("variables: [{name: a, type: categorical, "
                             "categories: [x]}]\n") + kOutcome,
         .message = "plan.yaml:1: field 'variables[0].categories': a "
                    "categorical variable needs at least 2 categories"},
        {.name = "DuplicateCategory",
         .yaml = std::string("variables: [{name: a, type: categorical, "
                             "categories: [x, y, x]}]\n") + kOutcome,
         .message = "plan.yaml:1: field 'variables[0].categories[2]': duplicate "
                    "category \"x\""},
        {.name = "CategoricalWithoutCategories",
         .yaml = std::string("variables: [{name: a, type: categorical}]\n") +
                 kOutcome,
         .message = "plan.yaml:1: field 'variables[0].categories': is required "
                    "for a categorical variable"},
        {.name = "CategoriesOnNumeric",
         .yaml = std::string("variables: [{name: a, type: numeric, "
                             "categories: [x, y]}]\n") + kOutcome,
         .message = "plan.yaml:1: field 'variables[0].categories': is only "
                    "allowed for a categorical variable"},
        {.name = "DropFirstNotBool",
         .yaml = std::string("variables: [{name: a, type: categorical, "
                             "categories: [x, y], drop_first: maybe}]\n") +
                 kOutcome,
         .message = "plan.yaml:1: field 'variables[0].drop_first': \"maybe\" is "
                    "not true or false"},
        {.name = "OutcomeNotBinary",
         .yaml = "variables: [{name: a, type: numeric}]\n"
                 "outcome: {name: y, type: numeric}\n",
         .message = "plan.yaml:2: field 'outcome.type': the outcome must be "
                    "binary, not numeric"},
        {.name = "MissingOutcome",
         .yaml = "variables: [{name: a, type: numeric}]\n",
         .message = "plan.yaml:1: field 'outcome' is required"},
        {.name = "OutcomeNamedLikeFeature",
         .yaml = "variables: [{name: a, type: numeric}]\n"
                 "outcome: {name: a, type: binary}\n",
         .message = "plan.yaml:2: field 'outcome.name': \"a\" is also the name "
                    "of a feature variable"},
        {.name = "UnknownPreprocessingKey",
         .yaml = std::string("variables: [{name: a, type: numeric}]\n") +
                 kOutcome + "preprocessing: {missing: drop_row, scale: true}\n",
         .message = "plan.yaml:3: field 'preprocessing.scale': unknown field "
                    "(allowed here: missing, standardize)"},
        {.name = "UnknownMissingPolicy",
         .yaml = std::string("variables: [{name: a, type: numeric}]\n") +
                 kOutcome + "preprocessing: {missing: impute_median}\n",
         .message = "plan.yaml:3: field 'preprocessing.missing': "
                    "\"impute_median\" is not one of drop_row, impute_mean"},
        {.name = "RootNotAMap",
         .yaml = "[1, 2]",
         .message = "plan.yaml:1: the study plan must be a map"},
    }),
    [](const ::testing::TestParamInfo<SchemaErrorCase>& info) {
      return info.param.name;
    });

}  // namespace
}  // namespace cohort::data
