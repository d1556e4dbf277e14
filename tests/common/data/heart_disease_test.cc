// Loads the four real UCI heart-disease extracts the way FLamby's
// Fed-Heart-Disease benchmark does and checks FLamby's published numbers
// (examples/heart-disease/data/SOURCE.md).
#include <algorithm>
#include <cstdint>
#include <set>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/data/data_source.h"
#include "common/data/loader.h"
#include "common/data/preprocess.h"
#include "common/data/schema.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/data/test_paths.h"
#include "yaml-cpp/yaml.h"

namespace cohort::data {
namespace {

using ::cohort::data::testing::HeartDiseaseDir;
using ::testing::ElementsAre;

// FLamby's features: slope, ca and thal are not declared, so they are
// neither read nor checked for missing values.
constexpr char kPlan[] = R"yaml(
variables:
  - {name: age, type: numeric}
  - {name: sex, type: binary}
  - {name: cp, type: categorical, categories: [typical_angina, atypical_angina, non_anginal, asymptomatic], drop_first: true}
  - {name: trestbps, type: numeric}
  - {name: chol, type: numeric}
  - {name: fbs, type: binary}
  - {name: restecg, type: categorical, categories: [normal, st_t_abnormality, lv_hypertrophy], drop_first: true}
  - {name: thalach, type: numeric}
  - {name: exang, type: binary}
  - {name: oldpeak, type: numeric}
outcome: {name: disease, type: binary}
preprocessing: {missing: drop_row, standardize: true}
)yaml";

// The site config of every hospital; only the file differs. Paths are
// relative to examples/heart-disease/. chol = 0 ("not measured") is kept as a
// value, as FLamby does.
constexpr char kSiteTemplate[] = R"yaml(
data:
  path: data/processed.$SITE.data
  header: false
  columns: [age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal, num]
  delimiter: ","
  missing: ["?"]
  variables:
    cp: {column: cp, codes: {"1": typical_angina, "2": atypical_angina, "3": non_anginal, "4": asymptomatic}}
    restecg: {column: restecg, codes: {"0": normal, "1": st_t_abnormality, "2": lv_hypertrophy}}
    disease: {column: num, codes: {"0": 0, "1": 1, "2": 1, "3": 1, "4": 1}}
  $SPLIT
)yaml";

constexpr char kFlambySplit[] = "split: {file: data/flamby_split.csv}";

StudySchema Schema() {
  absl::StatusOr<StudySchema> schema =
      ParseStudySchema(YAML::Load(kPlan), "plan.yaml");
  EXPECT_TRUE(schema.ok()) << schema.status();
  return *schema;
}

absl::StatusOr<LocalDataset> LoadSite(const std::string& site,
                                      const std::string& split = kFlambySplit) {
  const std::string yaml = absl::StrReplaceAll(
      kSiteTemplate, {{"$SITE", site}, {"$SPLIT", split}});
  absl::StatusOr<DataSourceConfig> config =
      ParseDataSource(YAML::Load(yaml)["data"], HeartDiseaseDir(),
                      absl::StrCat("sites/", site, ".yaml"));
  if (!config.ok()) return config.status();
  return LoadLocalDataset(*config, Schema());
}

const std::vector<std::string>& Sites() {
  static const auto* sites = new std::vector<std::string>{
      "cleveland", "hungarian", "switzerland", "va"};
  return *sites;
}

struct FlambyCounts {
  std::string site;
  int64_t rows_read, kept, train, test;
};

// Keeps test names short in gtest and ctest output.
void PrintTo(const FlambyCounts& c, std::ostream* os) { *os << c.site; }

class FlambyCountsTest : public ::testing::TestWithParam<FlambyCounts> {};

TEST_P(FlambyCountsTest, MatchesFlamby) {
  const FlambyCounts& want = GetParam();
  absl::StatusOr<LocalDataset> data = LoadSite(want.site);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->rows_read, want.rows_read);
  EXPECT_EQ(data->rows_dropped_missing, want.rows_read - want.kept);
  EXPECT_EQ(data->rows_unlisted, 0);  // our kept rows are exactly FLamby's
  EXPECT_EQ(data->x_train.rows(), want.train);
  EXPECT_EQ(data->x_test.rows(), want.test);
  EXPECT_EQ(data->x_train.cols(), 13);
  EXPECT_EQ(data->y_train.size(), want.train);
}

INSTANTIATE_TEST_SUITE_P(
    Sites, FlambyCountsTest,
    ::testing::Values(
        FlambyCounts{.site = "cleveland", .rows_read = 303, .kept = 303,
                     .train = 199, .test = 104},
        FlambyCounts{.site = "hungarian", .rows_read = 294, .kept = 261,
                     .train = 172, .test = 89},
        FlambyCounts{.site = "switzerland", .rows_read = 123, .kept = 46,
                     .train = 30, .test = 16},
        FlambyCounts{.site = "va", .rows_read = 200, .kept = 130, .train = 85,
                     .test = 45}),
    [](const ::testing::TestParamInfo<FlambyCounts>& info) {
      return info.param.site;
    });

TEST(HeartDiseaseTest, ThirteenFeaturesWithOneHotCpAndRestecg) {
  absl::StatusOr<LocalDataset> data = LoadSite("cleveland");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_THAT(data->feature_names,
              ElementsAre("age", "sex", "cp=atypical_angina", "cp=non_anginal",
                          "cp=asymptomatic", "trestbps", "chol", "fbs",
                          "restecg=st_t_abnormality", "restecg=lv_hypertrophy",
                          "thalach", "exang", "oldpeak"));
  EXPECT_EQ(NumEncodedFeatures(Schema()), 13);
  // Line 1: 63.0,1.0,1.0,145.0,233.0,1.0,2.0,150.0,0.0,2.3,...,0 (cp "1.0"
  // matches code "1", the dropped reference level; restecg "2.0" is LVH).
  ASSERT_EQ(data->train_lines.front(), 1);
  const std::vector<double> want = {63, 1,   0, 0, 0,   145, 233,
                                    1,  0,   1, 150, 0, 2.3};
  for (int j = 0; j < 13; ++j) {
    EXPECT_DOUBLE_EQ(data->x_train(0, j), want[j]) << data->feature_names[j];
  }
  EXPECT_EQ(data->y_train(0), 0);
  // SOURCE.md: 139 of Cleveland's 303 patients have num > 0.
  EXPECT_EQ(data->y_train.sum() + data->y_test.sum(), 139);
}

TEST(HeartDiseaseTest, SeededFractionSplitIsDeterministicStratifiedDisjoint) {
  const std::string split = "split: {test_fraction: 0.34, seed: 43}";
  absl::StatusOr<LocalDataset> first = LoadSite("cleveland", split);
  absl::StatusOr<LocalDataset> again = LoadSite("cleveland", split);
  absl::StatusOr<LocalDataset> other =
      LoadSite("cleveland", "split: {test_fraction: 0.34, seed: 44}");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(again.ok() && other.ok());

  EXPECT_EQ(first->train_lines, again->train_lines);
  EXPECT_EQ(first->test_lines, again->test_lines);
  EXPECT_NE(first->test_lines, other->test_lines);

  // Disjoint, and together every kept row.
  std::set<int64_t> all(first->train_lines.begin(), first->train_lines.end());
  for (int64_t line : first->test_lines) {
    EXPECT_TRUE(all.insert(line).second) << "line " << line << " in both";
  }
  EXPECT_EQ(all.size(), 303u);
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), 303);

  // Stratified: round(0.34 * 164) = 56 negatives and round(0.34 * 139) = 47
  // positives go to the test set.
  const double test_positives = first->y_test.sum();
  EXPECT_EQ(first->y_test.size() - test_positives, 56);
  EXPECT_EQ(test_positives, 47);
  EXPECT_EQ(first->y_train.sum(), 139 - 47);
}

std::vector<LocalDataset> LoadAllSites() {
  std::vector<LocalDataset> sites;
  for (const std::string& site : Sites()) {
    absl::StatusOr<LocalDataset> data = LoadSite(site);
    EXPECT_TRUE(data.ok()) << data.status();
    if (data.ok()) sites.push_back(*std::move(data));
  }
  return sites;
}

Eigen::MatrixXd PooledTraining(const std::vector<LocalDataset>& sites) {
  Eigen::Index rows = 0;
  for (const LocalDataset& site : sites) rows += site.x_train.rows();
  Eigen::MatrixXd pooled(rows, 13);
  Eigen::Index at = 0;
  for (const LocalDataset& site : sites) {
    pooled.middleRows(at, site.x_train.rows()) = site.x_train;
    at += site.x_train.rows();
  }
  return pooled;
}

TEST(HeartDiseaseTest, SiteStatisticsAddUpToThePooledStatistics) {
  const std::vector<LocalDataset> sites = LoadAllSites();
  ASSERT_EQ(sites.size(), 4u);
  FeatureStatistics global = FeatureStatistics::Zeros(13);
  for (const LocalDataset& site : sites) {
    ASSERT_TRUE(Add(global, ComputeStatistics(site)).ok());
  }
  const FeatureStatistics pooled = ComputeStatistics(PooledTraining(sites));
  for (int j = 0; j < 13; ++j) {
    EXPECT_EQ(global.count[j], 486) << j;  // 199 + 172 + 30 + 85
    EXPECT_EQ(global.count[j], pooled.count[j]) << j;
    EXPECT_NEAR(global.sum[j], pooled.sum[j], 1e-9 * std::abs(pooled.sum[j]))
        << j;
    EXPECT_NEAR(global.sum_squares[j], pooled.sum_squares[j],
                1e-9 * std::abs(pooled.sum_squares[j]))
        << j;
  }
}

TEST(HeartDiseaseTest, GlobalStandardizationCentresAndScalesPooledTraining) {
  std::vector<LocalDataset> sites = LoadAllSites();
  ASSERT_EQ(sites.size(), 4u);
  FeatureStatistics global = FeatureStatistics::Zeros(13);
  for (const LocalDataset& site : sites) {
    ASSERT_TRUE(Add(global, ComputeStatistics(site)).ok());
  }
  absl::StatusOr<Standardizer> standardizer =
      StandardizerFromGlobalStatistics(global, /*standardize=*/true);
  ASSERT_TRUE(standardizer.ok()) << standardizer.status();
  // Every site applies the same global transform to its own rows.
  for (LocalDataset& site : sites) {
    ASSERT_TRUE(Apply(*standardizer, site.x_train).ok());
    ASSERT_TRUE(Apply(*standardizer, site.x_test).ok());
  }
  const Eigen::MatrixXd pooled = PooledTraining(sites);
  for (int j = 0; j < 13; ++j) {
    const double mean = pooled.col(j).mean();
    const double variance = (pooled.col(j).array() - mean).square().mean();
    EXPECT_NEAR(mean, 0.0, 1e-9) << j;
    EXPECT_NEAR(std::sqrt(variance), 1.0, 1e-9) << j;
  }
}

}  // namespace
}  // namespace cohort::data
