// Study plans: the heart-disease example parses to the study it describes,
// and every invalid plan is refused with an error naming file, line and field.
#include "common/study/study_plan.h"

#include <ostream>
#include <string>

#include "absl/strings/str_replace.h"
#include "common/data/schema.h"
#include "crypto/files.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::study {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kExamplePlan[] = "examples/heart-disease/plan.yaml";

TEST(HeartDiseasePlanTest, ExamplePlanParses) {
  absl::StatusOr<StudyPlan> plan = LoadStudyPlan(kExamplePlan);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->study_id, "heart-disease");
  EXPECT_THAT(plan->sites, ElementsAre("cleveland", "hungarian", "switzerland", "va"));
  EXPECT_EQ(plan->min_sites, 3);
  EXPECT_EQ(plan->rounds, 10);
  EXPECT_EQ(plan->round_deadline, absl::Seconds(60));
  EXPECT_EQ(plan->join_timeout, absl::Seconds(120));
  EXPECT_EQ(plan->start_grace, absl::Seconds(10));
  EXPECT_EQ(plan->max_round_retries, 2);
  EXPECT_EQ(plan->model_kind, "logistic_regression");
  EXPECT_DOUBLE_EQ(plan->l2, 0.001);
  EXPECT_EQ(plan->training.epochs, 1);
  EXPECT_EQ(plan->training.max_steps, 5);
  EXPECT_EQ(plan->training.batch_size, 16);
  EXPECT_EQ(plan->training.optimizer.kind, ml::OptimizerConfig::Kind::kSgd);
  EXPECT_DOUBLE_EQ(plan->training.optimizer.learning_rate, 1.0);
  EXPECT_EQ(plan->training.seed, 43u);
  // Read after the secure_aggregation block: parsing one block must leave the
  // rest of the plan intact.
  EXPECT_EQ(plan->privacy.mode, StudyPlan::Privacy::Mode::kDistributed);
  EXPECT_DOUBLE_EQ(plan->privacy.delta, 1e-5);
  EXPECT_DOUBLE_EQ(plan->privacy.clip, 1.0);
  EXPECT_DOUBLE_EQ(plan->privacy.sampling_rate, 1.0);
  EXPECT_DOUBLE_EQ(plan->privacy.noise_multiplier, 15.3);
  EXPECT_EQ(plan->privacy.minimum_honest_sites, 3);
  EXPECT_EQ(plan->privacy.evaluation_bins, 10);
  EXPECT_EQ(plan->DpStepsPerRound(), 1);
  EXPECT_TRUE(plan->schema.features[0].has_range);
  EXPECT_DOUBLE_EQ(plan->schema.features[0].range_lo, 28);
  EXPECT_DOUBLE_EQ(plan->schema.features[0].range_hi, 77);
  EXPECT_EQ(plan->aggregation, "fedavg");
  EXPECT_DOUBLE_EQ(plan->server_learning_rate, 1.0);
  EXPECT_EQ(plan->histogram_bins, 1000);
  EXPECT_EQ(plan->baseline_site, "cleveland");
  EXPECT_EQ(data::NumEncodedFeatures(plan->schema), 13);
  EXPECT_EQ(plan->schema.outcome.name, "disease");
  EXPECT_TRUE(plan->HasSite("va"));
  EXPECT_FALSE(plan->HasSite("boston"));
}

TEST(HeartDiseasePlanTest, HashIsTheSha256OfTheFileBytes) {
  absl::StatusOr<std::string> bytes = crypto::ReadFile(kExamplePlan);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<StudyPlan> plan = ParseStudyPlan(*bytes, "plan.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->text, *bytes);
  EXPECT_EQ(plan->sha256, crypto::Sha256Hex(*bytes));
  EXPECT_THAT(plan->sha256, ::testing::MatchesRegex("[0-9a-f]{64}"));

  // One more byte (a trailing comment) is another plan.
  absl::StatusOr<StudyPlan> edited = ParseStudyPlan(*bytes + "#\n", "plan.yaml");
  ASSERT_TRUE(edited.ok()) << edited.status();
  EXPECT_NE(edited->sha256, plan->sha256);
}

TEST(StudyPlanTest, LoadOfMissingFileFails) {
  absl::StatusOr<StudyPlan> plan = LoadStudyPlan("/nonexistent-cohort-dir/plan.yaml");
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("/nonexistent-cohort-dir/plan.yaml"));
}

// A small valid plan; each invalid case below edits one line of it, so the
// line numbers in the expected errors are those of this text.
constexpr char kValidPlan[] = R"(study_id: toy
sites: [a, b, c]
min_sites: 2
rounds: 3
model: {kind: logistic_regression}
training: {optimizer: sgd, learning_rate: 0.1}
evaluation: {histogram_bins: 1000, baseline_site: a}
variables:
  - {name: x1, type: numeric, range: [0, 10]}
outcome: {name: y, type: binary}
)";

TEST(StudyPlanTest, MinimalPlanParsesWithDefaults) {
  absl::StatusOr<StudyPlan> plan = ParseStudyPlan(kValidPlan, "plan.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->study_id, "toy");
  EXPECT_EQ(plan->min_sites, 2);
  EXPECT_EQ(plan->rounds, 3);
  EXPECT_EQ(plan->round_deadline, absl::Seconds(60));
  EXPECT_EQ(plan->training.epochs, 1);
  EXPECT_EQ(plan->training.batch_size, 32);
  EXPECT_EQ(plan->aggregation, "fedavg");
  EXPECT_EQ(data::NumEncodedFeatures(plan->schema), 1);
  // Secure aggregation is on unless a plan turns it off: t = n/2 + 1, a
  // complete neighbour graph, 32-bit sums.
  EXPECT_TRUE(plan->secure_aggregation.enabled);
  EXPECT_EQ(plan->secure_aggregation.threshold, 2);
  EXPECT_EQ(plan->secure_aggregation.degree, 2);
  EXPECT_EQ(plan->secure_aggregation.bits, 32);
  // Differential privacy is on unless a plan turns it off: local DP-SGD, one
  // expected pass over the data per round.
  EXPECT_EQ(plan->privacy.mode, StudyPlan::Privacy::Mode::kLocal);
  EXPECT_DOUBLE_EQ(plan->privacy.sampling_rate, 0.1);
  EXPECT_EQ(plan->DpStepsPerRound(), 10);
  EXPECT_EQ(plan->privacy.minimum_honest_sites, 2);
}

TEST(StudyPlanTest, PrivacyOffNeedsNoRanges) {
  const std::string text = absl::StrReplaceAll(
      kValidPlan, {{"{name: x1, type: numeric, range: [0, 10]}", "{name: x1, type: numeric}"},
                   {"rounds: 3\n", "rounds: 3\nprivacy: {mode: off}\n"}});
  absl::StatusOr<StudyPlan> plan = ParseStudyPlan(text, "plan.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->privacy.on());
}

TEST(StudyPlanTest, MinSitesDefaultsToAllSites) {
  const std::string text = absl::StrReplaceAll(kValidPlan, {{"min_sites: 2\n", ""}});
  absl::StatusOr<StudyPlan> plan = ParseStudyPlan(text, "plan.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->min_sites, 3);
}

struct InvalidPlanCase {
  std::string name;
  std::string from;  // a line of kValidPlan...
  std::string to;    // ...and what it becomes
  ::testing::Matcher<std::string> error;
  friend void PrintTo(const InvalidPlanCase& c, std::ostream* os) { *os << c.name; }
};

class InvalidPlanTest : public ::testing::TestWithParam<InvalidPlanCase> {};

TEST_P(InvalidPlanTest, IsRefusedNamingTheField) {
  const InvalidPlanCase& c = GetParam();
  const std::string text = absl::StrReplaceAll(kValidPlan, {{c.from, c.to}});
  ASSERT_NE(text, kValidPlan) << "the case does not edit the plan";
  absl::StatusOr<StudyPlan> plan = ParseStudyPlan(text, "plan.yaml");
  ASSERT_FALSE(plan.ok()) << "accepted:\n" << text;
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()), c.error);
}

const InvalidPlanCase kInvalidPlans[] = {
    {.name = "NumericVariableWithoutRangeUnderDp",
     .from = "{name: x1, type: numeric, range: [0, 10]}",
     .to = "{name: x1, type: numeric}",
     .error = HasSubstr("plan.yaml:9: field 'variables[0]': numeric variable 'x1' needs range")},
    {.name = "EmptyRange",
     .from = "range: [0, 10]",
     .to = "range: [10, 10]",
     .error = HasSubstr("field 'variables[0].range': must be [lo, hi] with finite lo < hi")},
    {.name = "RangeOnBinary",
     .from = "outcome: {name: y, type: binary}",
     .to = "outcome: {name: y, type: binary, range: [0, 1]}",
     .error = HasSubstr("field 'outcome.range': is only allowed for a numeric variable")},
    {.name = "UnknownPrivacyMode",
     .from = "rounds: 3\n",
     .to = "rounds: 3\nprivacy: {mode: central}\n",
     .error = HasSubstr("field 'privacy.mode': \"central\" is not one of off, local, distributed")},
    {.name = "ZeroNoise",
     .from = "rounds: 3\n",
     .to = "rounds: 3\nprivacy: {noise_multiplier: 0}\n",
     .error = HasSubstr("field 'privacy.noise_multiplier': must be > 0")},
    {.name = "NegativeClip",
     .from = "rounds: 3\n",
     .to = "rounds: 3\nprivacy: {clip: -1}\n",
     .error = HasSubstr("field 'privacy.clip': must be > 0")},
    {.name = "SamplingRateAboveOne",
     .from = "rounds: 3\n",
     .to = "rounds: 3\nprivacy: {sampling_rate: 1.5}\n",
     .error = HasSubstr("field 'privacy.sampling_rate': must be in (0, 1]")},
    {.name = "DeltaOne",
     .from = "rounds: 3\n",
     .to = "rounds: 3\nprivacy: {delta: 1}\n",
     .error = HasSubstr("field 'privacy.delta': must be in (0, 1)")},
    {.name = "OddEvaluationBins",
     .from = "rounds: 3\n",
     .to = "rounds: 3\nprivacy: {evaluation_bins: 7}\n",
     .error = HasSubstr("field 'privacy.evaluation_bins': must be an even number")},
    {.name = "DistributedWithoutSecureAggregation",
     .from = "rounds: 3\n",
     .to = "rounds: 3\nprivacy: {mode: distributed}\nsecure_aggregation: {enabled: false}\n",
     .error = HasSubstr("field 'privacy.mode': distributed DP needs secure aggregation")},
    {.name = "TooManyHonestSites",
     .from = "rounds: 3\n",
     .to = "rounds: 3\nprivacy: {mode: distributed, minimum_honest_sites: 3}\n",
     .error = HasSubstr("field 'privacy.minimum_honest_sites': must be between 1 and min_sites "
                        "(2)")},
    {.name = "ZeroRounds",
     .from = "rounds: 3",
     .to = "rounds: 0",
     .error = "plan.yaml:4: field 'rounds': must be between 1 and 100000"},
    {.name = "MissingRounds",
     .from = "rounds: 3\n",
     .to = "",
     .error = "plan.yaml:1: field 'rounds' is required"},
    {.name = "RoundsNotANumber",
     .from = "rounds: 3",
     .to = "rounds: three",
     .error = "plan.yaml:4: field 'rounds': \"three\" is not an integer"},
    {.name = "MinSitesAboveNumberOfSites",
     .from = "min_sites: 2",
     .to = "min_sites: 4",
     .error = "plan.yaml:3: field 'min_sites': must be between 1 and the number of sites (3)"},
    {.name = "ZeroMinSites",
     .from = "min_sites: 2",
     .to = "min_sites: 0",
     .error = "plan.yaml:3: field 'min_sites': must be between 1 and the number of sites (3)"},
    {.name = "DuplicateSite",
     .from = "sites: [a, b, c]",
     .to = "sites: [a, b, a]",
     .error = "plan.yaml:2: field 'sites': site \"a\" is listed twice"},
    {.name = "NoSites",
     .from = "sites: [a, b, c]",
     .to = "sites: []",
     .error = "plan.yaml:2: field 'sites': must list at least one site"},
    {.name = "InvalidSiteName",
     .from = "sites: [a, b, c]",
     .to = "sites: [a, B, c]",
     .error = "plan.yaml:2: field 'sites': \"B\" is not a valid site name"},
    {.name = "UnknownTopLevelKey",
     .from = "rounds: 3",
     .to = "roundz: 3",
     .error = AllOf(StartsWith("plan.yaml:4: field 'roundz': unknown field (allowed here: "),
                    HasSubstr("rounds"), HasSubstr("min_sites"))},
    {.name = "UnknownTrainingKey",
     .from = "learning_rate: 0.1",
     .to = "learning_rte: 0.1",
     .error = StartsWith("plan.yaml:6: field 'training.learning_rte': unknown field "
                         "(allowed here: local_epochs, ")},
    {.name = "BadOptimizer",
     .from = "optimizer: sgd",
     .to = "optimizer: rmsprop",
     .error = "plan.yaml:6: field 'training.optimizer': unknown optimizer 'rmsprop'; "
              "allowed values: sgd, adam"},
    {.name = "ZeroLearningRate",
     .from = "learning_rate: 0.1",
     .to = "learning_rate: 0",
     .error = "plan.yaml:6: field 'training.learning_rate': must be > 0"},
    {.name = "NegativeLearningRate",
     .from = "learning_rate: 0.1",
     .to = "learning_rate: -0.1",
     .error = "plan.yaml:6: field 'training.learning_rate': must be > 0"},
    {.name = "MissingLearningRate",
     .from = "optimizer: sgd, learning_rate: 0.1",
     .to = "optimizer: sgd",
     .error = "plan.yaml:6: field 'training.learning_rate' is required"},
    {.name = "BaselineSiteNotInStudy",
     .from = "baseline_site: a",
     .to = "baseline_site: z",
     .error = "plan.yaml:7: field 'evaluation.baseline_site': \"z\" is not one of the "
              "study's sites"},
    {.name = "TooFewHistogramBins",
     .from = "histogram_bins: 1000",
     .to = "histogram_bins: 999",
     .error = "plan.yaml:7: field 'evaluation.histogram_bins': must be between 1000 and 100000"},
    {.name = "UnsupportedModel",
     .from = "kind: logistic_regression",
     .to = "kind: random_forest",
     .error = "plan.yaml:5: field 'model.kind': \"random_forest\" is not a supported model "
              "(supported: logistic_regression)"},
    {.name = "UppercaseStudyId",
     .from = "study_id: toy",
     .to = "study_id: Toy",
     .error = "plan.yaml:1: field 'study_id': must be 1-64 characters of a-z, 0-9, '.', '_' "
              "or '-', starting with a letter or digit"},
    {.name = "StudyIdDotDot",
     .from = "study_id: toy",
     .to = "study_id: \"..\"",
     .error = "plan.yaml:1: field 'study_id': must be 1-64 characters of a-z, 0-9, '.', '_' "
              "or '-', starting with a letter or digit"},
    {.name = "AdamWithMomentum",
     .from = "optimizer: sgd",
     .to = "optimizer: adam, momentum: 0.9",
     .error = AllOf(StartsWith("plan.yaml:6: field 'training': "), HasSubstr("momentum"))},
    {.name = "StudyIdWithSpace",
     .from = "study_id: toy",
     .to = "study_id: my study",
     .error = "plan.yaml:1: field 'study_id': must be 1-64 characters of a-z, 0-9, '.', '_' "
              "or '-', starting with a letter or digit"},
    {.name = "SecureAggregationThresholdOfOne",
     .from = "rounds: 3",
     .to = "rounds: 3\nsecure_aggregation: {threshold: 1}",
     .error = "plan.yaml:5: field 'secure_aggregation.threshold': must be at least 2 and at "
              "most degree + 1 (3)"},
    {.name = "SecureAggregationThresholdAboveNeighbourhood",
     .from = "rounds: 3",
     .to = "rounds: 3\nsecure_aggregation: {degree: 1, threshold: 3}",
     .error = "plan.yaml:5: field 'secure_aggregation.threshold': must be at least 2 and at "
              "most degree + 1 (2)"},
    {.name = "SecureAggregationDegreeTooLarge",
     .from = "rounds: 3",
     .to = "rounds: 3\nsecure_aggregation: {degree: 3}",
     .error = "plan.yaml:5: field 'secure_aggregation.degree': must be between 1 and the number "
              "of sites - 1 (2)"},
    {.name = "SecureAggregationSumWouldWrap",
     .from = "rounds: 3",
     .to = "rounds: 3\nsecure_aggregation: {bits: 16, clip: 20000}",
     .error = AllOf(StartsWith("plan.yaml:5: field 'secure_aggregation.clip': clip 20000 leaves "
                               "no room to sum 3 sites in 16 bits"))},
    {.name = "SecureAggregationUnknownKey",
     .from = "rounds: 3",
     .to = "rounds: 3\nsecure_aggregation: {treshold: 2}",
     .error = StartsWith("plan.yaml:5: field 'secure_aggregation.treshold': unknown field")},
    {.name = "YamlSyntaxError",
     .from = "sites: [a, b, c]",
     .to = "sites: [a, b, c",
     .error = ::testing::MatchesRegex("plan\\.yaml:[0-9]+:[0-9]+: .+")},
};

INSTANTIATE_TEST_SUITE_P(All, InvalidPlanTest, ::testing::ValuesIn(kInvalidPlans),
                         [](const ::testing::TestParamInfo<InvalidPlanCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace cohort::study
