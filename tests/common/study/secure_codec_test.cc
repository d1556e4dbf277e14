// The secure-aggregation layout of a round's contribution: the decoded sum of
// several sites' encodings equals the sum of their contributions (reals
// within the encoder's bound, counts and histograms exactly).
#include "common/study/secure_codec.h"

#include <random>

#include "absl/random/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::study {
namespace {

constexpr int kModel = 5;
constexpr int kBins = 1000;

uint64_t AddMod(uint64_t a, uint64_t b, int bits) {
  const uint64_t mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  return (a + b) & mask;
}

v1::RoundContribution Contribution(int seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> value(-300, 300);
  v1::RoundContribution c;
  for (int i = 0; i < kModel; ++i) c.add_weighted_delta(value(rng));
  c.set_weight(100 + seed);
  c.set_train_loss_sum(40.5 + seed);
  v1::Metrics* m = c.mutable_global_model_test_metrics();
  m->set_n(50);
  m->set_true_positive(20 + seed);
  m->set_false_negative(5 - seed);
  m->set_true_negative(20);
  m->set_false_positive(5);
  m->set_correct(m->true_positive() + m->true_negative());
  m->set_loss_sum(25.25);
  for (int b = 0; b < kBins; ++b) {
    m->add_positive_histogram(b == 900 + seed ? 25 : 0);
    m->add_negative_histogram(b == 100 ? 25 : 0);
  }
  return c;
}

TEST(TrainingCodecTest, DecodedSumMatchesTheSumOfContributions) {
  auto codec = TrainingCodec::Create(kModel, kBins, 32, 1000, 4);
  ASSERT_TRUE(codec.ok()) << codec.status();
  absl::BitGen gen;
  std::vector<uint64_t> sum(codec->length(), 0);
  double weight = 0, loss = 0;
  std::vector<double> delta(kModel, 0.0);
  for (int site = 0; site < 3; ++site) {
    const v1::RoundContribution c = Contribution(site);
    auto encoded = codec->Encode(c, gen);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    ASSERT_EQ(static_cast<int64_t>(encoded->values.size()), codec->length());
    EXPECT_EQ(encoded->num_clipped, 0);
    for (size_t i = 0; i < sum.size(); ++i) sum[i] = AddMod(sum[i], encoded->values[i], 32);
    weight += c.weight();
    loss += c.train_loss_sum();
    for (int i = 0; i < kModel; ++i) delta[i] += c.weighted_delta(i);
  }
  auto decoded = codec->Decode(sum, 3);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  // Each real value is within 1/scale of its own; three summands.
  const double bound = 3 * 1000.0 * 4 / ((uint64_t{1} << 31) - 4);
  for (int i = 0; i < kModel; ++i) EXPECT_NEAR(decoded->weighted_delta(i), delta[i], bound);
  EXPECT_NEAR(decoded->train_loss_sum(), loss, bound);
  EXPECT_EQ(decoded->weight(), weight);
  const v1::Metrics& m = decoded->global_model_test_metrics();
  EXPECT_EQ(m.n(), 150);
  EXPECT_EQ(m.true_positive(), 20 + 21 + 22);
  EXPECT_EQ(m.false_negative(), 5 + 4 + 3);
  EXPECT_EQ(m.positive_histogram(900), 25);
  EXPECT_EQ(m.positive_histogram(902), 25);
  EXPECT_EQ(m.negative_histogram(100), 75);
  EXPECT_NEAR(m.loss_sum(), 3 * 25.25, bound);
}

TEST(TrainingCodecTest, ValuesBeyondTheClipAreClippedAndCounted) {
  auto codec = TrainingCodec::Create(kModel, kBins, 32, 100, 4);
  ASSERT_TRUE(codec.ok());
  absl::BitGen gen;
  v1::RoundContribution c = Contribution(0);
  c.set_weighted_delta(0, 5000);
  c.set_weighted_delta(1, -5000);
  auto encoded = codec->Encode(c, gen);
  ASSERT_TRUE(encoded.ok());
  EXPECT_GE(encoded->num_clipped, 2);
  auto decoded = codec->Decode(encoded->values, 1);
  ASSERT_TRUE(decoded.ok());
  EXPECT_NEAR(decoded->weighted_delta(0), 100, 1e-3);
  EXPECT_NEAR(decoded->weighted_delta(1), -100, 1e-3);
}

TEST(TrainingCodecTest, WrongShapesAreRejected) {
  auto codec = TrainingCodec::Create(kModel, kBins, 32, 1000, 4);
  ASSERT_TRUE(codec.ok());
  absl::BitGen gen;
  v1::RoundContribution c = Contribution(0);
  c.add_weighted_delta(1.0);
  EXPECT_FALSE(codec->Encode(c, gen).ok());
  std::vector<uint64_t> short_sum(codec->length() - 1, 0);
  EXPECT_THAT(std::string(codec->Decode(short_sum, 1).status().message()),
              ::testing::HasSubstr("expected"));
}

TEST(StatisticsCodecTest, SumsOfRawClinicalValuesSurviveExactlyEnough) {
  auto codec = StatisticsCodec::Create(2, 4);
  ASSERT_TRUE(codec.ok()) << codec.status();
  absl::BitGen gen;
  v1::StatisticsResult a, b;
  for (auto* s : {&a, &b}) {
    s->add_count(199);
    s->add_count(198);
    s->add_sum(199 * 246.3);      // cholesterol
    s->add_sum(198 * 54.4);       // age
    s->add_sum_squares(199 * 246.3 * 246.3 + 5e5);
    s->add_sum_squares(198 * 54.4 * 54.4 + 1e4);
    s->set_num_train(199);
    s->set_num_test(104);
  }
  auto ea = codec->Encode(a, gen);
  auto eb = codec->Encode(b, gen);
  ASSERT_TRUE(ea.ok() && eb.ok());
  std::vector<uint64_t> sum(codec->length());
  for (size_t i = 0; i < sum.size(); ++i) sum[i] = AddMod(ea->values[i], eb->values[i], 62);
  auto decoded = codec->Decode(sum, 2);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->count(0), 398);
  EXPECT_EQ(decoded->num_train(), 398);
  EXPECT_EQ(decoded->num_test(), 208);
  EXPECT_NEAR(decoded->sum(0), 2 * 199 * 246.3, 1e-3);
  EXPECT_NEAR(decoded->sum_squares(0), 2 * (199 * 246.3 * 246.3 + 5e5), 1e-2);
}

}  // namespace
}  // namespace cohort::study
