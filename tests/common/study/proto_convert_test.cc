// Metrics from a site are checked for internal consistency before they are
// pooled: each kind of inconsistency is refused with its own message.
#include "common/study/proto_convert.h"

#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::study {
namespace {

constexpr int kBins = 1000;

// n = 10: 3 true positives, 2 false negatives, 4 true negatives, 1 false
// positive; histograms of kBins bins with 5 positives and 5 negatives.
v1::Metrics ConsistentMetrics() {
  ml::BinaryMetrics m;
  m.n = 10;
  m.correct = 7;
  m.true_positive = 3;
  m.false_negative = 2;
  m.true_negative = 4;
  m.false_positive = 1;
  m.loss_sum = 4.5;
  m.positive_histogram.assign(kBins, 0);
  m.negative_histogram.assign(kBins, 0);
  m.positive_histogram[900] = 3;
  m.positive_histogram[100] = 2;
  m.negative_histogram[50] = 4;
  m.negative_histogram[800] = 1;
  return ToProto(m);
}

TEST(ValidateMetricsTest, ConsistentMetricsPass) {
  EXPECT_TRUE(ValidateMetrics(ConsistentMetrics(), kBins).ok());
}

TEST(ValidateMetricsTest, EmptyTestSplitWithZeroHistogramsPasses) {
  ml::BinaryMetrics m;
  m.positive_histogram.assign(kBins, 0);
  m.negative_histogram.assign(kBins, 0);
  EXPECT_TRUE(ValidateMetrics(ToProto(m), kBins).ok());
}

// The header promises "histograms of `bins` bins (or empty when n == 0)".
TEST(ValidateMetricsTest, EmptyTestSplitWithEmptyHistogramsPasses) {
  v1::Metrics m;
  absl::Status status = ValidateMetrics(m, kBins);
  EXPECT_TRUE(status.ok()) << status;
}

TEST(ValidateMetricsTest, ProtoRoundTripKeepsEveryField) {
  v1::Metrics proto = ConsistentMetrics();
  ml::BinaryMetrics m = FromProto(proto);
  EXPECT_EQ(m.n, 10);
  EXPECT_EQ(m.correct, 7);
  EXPECT_EQ(m.true_positive, 3);
  EXPECT_EQ(m.false_negative, 2);
  EXPECT_EQ(m.true_negative, 4);
  EXPECT_EQ(m.false_positive, 1);
  EXPECT_EQ(m.loss_sum, 4.5);
  ASSERT_EQ(m.positive_histogram.size(), static_cast<size_t>(kBins));
  EXPECT_EQ(m.positive_histogram[900], 3);
  EXPECT_EQ(m.negative_histogram[800], 1);
  EXPECT_EQ(ToProto(m).SerializeAsString(), proto.SerializeAsString());
}

struct InconsistencyCase {
  std::string name;
  std::function<void(v1::Metrics&)> mutate;
  std::string error;
  friend void PrintTo(const InconsistencyCase& c, std::ostream* os) { *os << c.name; }
};

class InconsistentMetricsTest : public ::testing::TestWithParam<InconsistencyCase> {};

TEST_P(InconsistentMetricsTest, IsRefused) {
  v1::Metrics m = ConsistentMetrics();
  GetParam().mutate(m);
  absl::Status status = ValidateMetrics(m, kBins);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(status.message(), GetParam().error);
}

const InconsistencyCase kInconsistencies[] = {
    {.name = "NegativeN",
     .mutate = [](v1::Metrics& m) { m.set_n(-10); },
     .error = "metrics: negative count"},
    {.name = "NegativeTruePositiveBalancedElsewhere",
     .mutate = [](v1::Metrics& m) {
       m.set_true_positive(-1);
       m.set_true_negative(8);
       m.set_correct(7);
     },
     .error = "metrics: negative count"},
    {.name = "NegativeFalseNegative",
     .mutate = [](v1::Metrics& m) { m.set_false_negative(-2); },
     .error = "metrics: negative count"},
    {.name = "ConfusionCountsDoNotSumToN",
     .mutate = [](v1::Metrics& m) { m.set_n(11); },
     .error = "metrics: confusion counts do not add up to n"},
    {.name = "CorrectIsNotTpPlusTn",
     .mutate = [](v1::Metrics& m) { m.set_correct(6); },
     .error = "metrics: correct does not equal true positives plus true negatives"},
    {.name = "NaNLoss",
     .mutate = [](v1::Metrics& m) { m.set_loss_sum(std::nan("")); },
     .error = "metrics: loss is not finite"},
    {.name = "InfiniteLoss",
     .mutate = [](v1::Metrics& m) {
       m.set_loss_sum(std::numeric_limits<double>::infinity());
     },
     .error = "metrics: loss is not finite"},
    {.name = "TooFewPositiveBins",
     .mutate = [](v1::Metrics& m) { m.mutable_positive_histogram()->RemoveLast(); },
     .error = "metrics: histograms have 999 and 1000 bins, the plan says 1000"},
    {.name = "TooManyNegativeBins",
     .mutate = [](v1::Metrics& m) { m.add_negative_histogram(0); },
     .error = "metrics: histograms have 1000 and 1001 bins, the plan says 1000"},
    {.name = "PositiveHistogramTotalOff",
     .mutate = [](v1::Metrics& m) { m.set_positive_histogram(900, 4); },
     .error = "metrics: histogram totals do not match the class counts"},
    {.name = "NegativeHistogramTotalOff",
     .mutate = [](v1::Metrics& m) { m.set_negative_histogram(50, 3); },
     .error = "metrics: histogram totals do not match the class counts"},
    {.name = "CountsMovedBetweenClasses",
     // Same grand total, but 6 positives and 4 negatives in the histograms.
     .mutate = [](v1::Metrics& m) {
       m.set_negative_histogram(50, 3);
       m.set_positive_histogram(900, 4);
     },
     .error = "metrics: histogram totals do not match the class counts"},
    {.name = "NegativeHistogramCount",
     .mutate = [](v1::Metrics& m) {
       m.set_positive_histogram(900, 4);
       m.set_positive_histogram(0, -1);
     },
     .error = "metrics: negative histogram count"},
};

INSTANTIATE_TEST_SUITE_P(All, InconsistentMetricsTest, ::testing::ValuesIn(kInconsistencies),
                         [](const ::testing::TestParamInfo<InconsistencyCase>& info) {
                           return info.param.name;
                         });

TEST(MetricsJsonTest, ReportsAccuracyAucAndN) {
  nlohmann::json j = MetricsJson(FromProto(ConsistentMetrics()));
  EXPECT_EQ(j["n"], 10);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.7);
  ASSERT_TRUE(j["auc"].is_number());
  // Positives at bins 900 (3) and 100 (2); negatives at 50 (4) and 800 (1):
  // of the 25 pairs, the positive scores higher in 3*5 + 2*4 = 23.
  EXPECT_NEAR(j["auc"].get<double>(), 23.0 / 25.0, 1e-12);
}

TEST(MetricsJsonTest, AucIsNullWhenAClassIsAbsent) {
  ml::BinaryMetrics m;
  m.n = 1;
  m.correct = 1;
  m.true_negative = 1;
  m.positive_histogram.assign(kBins, 0);
  m.negative_histogram.assign(kBins, 0);
  m.negative_histogram[3] = 1;
  nlohmann::json j = MetricsJson(m);
  EXPECT_TRUE(j["auc"].is_null());
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 1.0);
}

}  // namespace
}  // namespace cohort::study
