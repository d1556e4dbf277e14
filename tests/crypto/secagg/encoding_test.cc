#include "crypto/secagg/encoding.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::secagg {
namespace {

using ::testing::HasSubstr;

uint64_t RingMask(int bits) { return (uint64_t{1} << bits) - 1; }

// B = 2^(bits-1) - 1, computed independently of the encoder.
int64_t HalfRange(int bits) { return static_cast<int64_t>(RingMask(bits - 1)); }

// Reads a ring word as a signed integer, independently of the encoder.
int64_t Signed(uint64_t w, int bits) {
  return w >= (uint64_t{1} << (bits - 1)) ? static_cast<int64_t>(w) - (int64_t{1} << bits)
                                          : static_cast<int64_t>(w);
}

// Element-wise sum mod 2^bits, as secure aggregation produces it.
std::vector<uint64_t> RingSum(const std::vector<std::vector<uint64_t>>& vectors, int bits) {
  std::vector<uint64_t> sum(vectors.at(0).size(), 0);
  for (const auto& v : vectors) {
    for (size_t i = 0; i < sum.size(); ++i) sum[i] = (sum[i] + v[i]) & RingMask(bits);
  }
  return sum;
}

VectorEncoder MakeEncoder(const EncodingParams& params) {
  auto encoder = VectorEncoder::Create(params);
  EXPECT_TRUE(encoder.ok()) << encoder.status();
  return std::move(encoder).value();
}

struct EncodingCase {
  std::string name;
  EncodingParams params;
};

void PrintTo(const EncodingCase& c, std::ostream* os) { *os << c.name; }

std::vector<EncodingCase> Cases() {
  return {
      {.name = "Bits16", .params = {.bits = 16, .clip = 1.0, .max_summands = 10}},
      {.name = "Bits24", .params = {.bits = 24, .clip = 5.0, .max_summands = 100}},
      {.name = "Bits32", .params = {.bits = 32, .clip = 0.1, .max_summands = 1000}},
      {.name = "Bits48", .params = {.bits = 48, .clip = 100.0, .max_summands = 50}},
  };
}

class VectorEncoderTest : public ::testing::TestWithParam<EncodingCase> {
 protected:
  const EncodingParams& params() const { return GetParam().params; }
  std::mt19937_64 gen_{12345};
};

TEST_P(VectorEncoderTest, ScaleIsTheDocumentedFormula) {
  const VectorEncoder encoder = MakeEncoder(params());
  const int64_t b = HalfRange(params().bits);
  const int64_t q = b / params().max_summands;
  EXPECT_EQ(encoder.max_encoded_magnitude(), q);
  EXPECT_DOUBLE_EQ(encoder.scale(), static_cast<double>(q - 1) / params().clip);
  // Q is the largest per-summand magnitude whose m-fold sum fits.
  EXPECT_LE(static_cast<__int128>(q) * params().max_summands, b);
  EXPECT_GT(static_cast<__int128>(q + 1) * params().max_summands, b);
}

TEST_P(VectorEncoderTest, EachValueRoundTripsWithinOneUnit) {
  const VectorEncoder encoder = MakeEncoder(params());
  const double c = params().clip;
  std::uniform_real_distribution<double> dist(-c, c);
  std::vector<double> x(5000);
  for (double& v : x) v = dist(gen_);
  auto encoded = encoder.Encode(x, gen_);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(encoded->num_clipped, 0);
  auto decoded = encoder.Decode(encoded->values, 1);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const double bound = encoder.SumErrorBound(1);
  EXPECT_LT(bound, 1.0 / encoder.scale() * (1 + 1e-9) + c * 1e-14);
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_LE(encoded->values[i], RingMask(params().bits));
    ASSERT_NEAR((*decoded)[i], x[i], bound) << i;
  }
}

TEST_P(VectorEncoderTest, SumOfMaxSummandsDecodesWithinBound) {
  const VectorEncoder encoder = MakeEncoder(params());
  const int m = params().max_summands;
  const double c = params().clip;
  std::uniform_real_distribution<double> dist(-1.5 * c, 1.5 * c);
  std::vector<std::vector<uint64_t>> encodings;
  std::vector<long double> clipped_sum(100, 0);
  for (int k = 0; k < m; ++k) {
    std::vector<double> x(clipped_sum.size());
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = dist(gen_);
      clipped_sum[i] += std::clamp(x[i], -c, c);
    }
    auto encoded = encoder.Encode(x, gen_);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    encodings.push_back(encoded->values);
  }
  auto decoded = encoder.Decode(RingSum(encodings, params().bits), m);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  for (size_t i = 0; i < clipped_sum.size(); ++i) {
    ASSERT_NEAR((*decoded)[i], static_cast<double>(clipped_sum[i]), encoder.SumErrorBound(m))
        << i;
  }
}

// The headroom guarantee: max_summands encodings of the extreme values (at
// and far beyond the clip) sum without wrapping and decode to +-m*clip.
TEST_P(VectorEncoderTest, ExtremeSumsNeverWrap) {
  const VectorEncoder encoder = MakeEncoder(params());
  const int m = params().max_summands;
  const double c = params().clip;
  for (double sign : {1.0, -1.0}) {
    std::vector<double> x = {sign * c, sign * 1e6 * c, sign * std::nextafter(c, 0.0),
                             sign * c * (1 - 1e-9)};
    std::vector<std::vector<uint64_t>> encodings;
    for (int k = 0; k < m; ++k) {
      auto encoded = encoder.Encode(x, gen_);
      ASSERT_TRUE(encoded.ok()) << encoded.status();
      for (uint64_t w : encoded->values) {
        ASSERT_LE(std::abs(Signed(w, params().bits)), encoder.max_encoded_magnitude());
      }
      encodings.push_back(encoded->values);
    }
    const std::vector<uint64_t> sum = RingSum(encodings, params().bits);
    auto decoded = encoder.Decode(sum, m);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(std::signbit(Signed(sum[i], params().bits)), sign < 0) << "wrapped at " << i;
      EXPECT_NEAR((*decoded)[i], sign * m * std::min(std::abs(x[i]), c),
                  encoder.SumErrorBound(m))
          << i;
    }
  }
}

TEST_P(VectorEncoderTest, ClippedValuesAreCountedAndClamped) {
  const VectorEncoder encoder = MakeEncoder(params());
  const double c = params().clip;
  const std::vector<double> x = {2 * c, -3 * c, 0.5 * c, c, -c, std::nextafter(c, 2 * c), 0};
  auto encoded = encoder.Encode(x, gen_);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(encoded->num_clipped, 3);
  auto decoded = encoder.Decode(encoded->values, 1);
  ASSERT_TRUE(decoded.ok());
  const std::vector<double> expected = {c, -c, 0.5 * c, c, -c, c, 0};
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR((*decoded)[i], expected[i], encoder.SumErrorBound(1)) << i;
  }
}

// y = x * s with fractional part f rounds up with probability f. Over N draws
// the mean decoded error has standard deviation sqrt(f (1 - f) / N) / s; we
// allow 5 of them. Deterministic rounding to nearest would be off by
// min(f, 1 - f) / s = 0.3 / s, about 40 standard deviations.
TEST_P(VectorEncoderTest, StochasticRoundingIsUnbiased) {
  const VectorEncoder encoder = MakeEncoder(params());
  constexpr size_t kDraws = 100000;
  const double s = encoder.scale();
  for (double units : {5.3, -7.7, 0.3}) {
    const double x = units / s;
    const double f = units - std::floor(units);
    auto encoded = encoder.Encode(std::vector<double>(kDraws, x), gen_);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    auto decoded = encoder.Decode(encoded->values, 1);
    ASSERT_TRUE(decoded.ok());
    double error_sum = 0;
    size_t ups = 0;
    for (size_t i = 0; i < kDraws; ++i) {
      const int64_t q = Signed(encoded->values[i], params().bits);
      ASSERT_TRUE(q == std::floor(units) || q == std::floor(units) + 1) << q;
      ups += q == std::floor(units) + 1;
      error_sum += (*decoded)[i] - x;
    }
    const double sigma = std::sqrt(f * (1 - f) / kDraws) / s;
    EXPECT_NEAR(error_sum / kDraws, 0.0, 5 * sigma) << "units " << units;
    EXPECT_NEAR(static_cast<double>(ups) / kDraws, f, 5 * std::sqrt(f * (1 - f) / kDraws));
  }
}

TEST_P(VectorEncoderTest, EncodingIsDeterministicGivenTheGenerator) {
  const VectorEncoder encoder = MakeEncoder(params());
  std::vector<double> x(1000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = params().clip * std::sin(static_cast<double>(i));
  std::mt19937_64 a(7), b(7), c(8);
  auto ea = encoder.Encode(x, a);
  auto eb = encoder.Encode(x, b);
  auto ec = encoder.Encode(x, c);
  ASSERT_TRUE(ea.ok() && eb.ok() && ec.ok());
  EXPECT_EQ(ea->values, eb->values);
  EXPECT_NE(ea->values, ec->values);
}

TEST_P(VectorEncoderTest, DecodeRejectsImpossibleSums) {
  const VectorEncoder encoder = MakeEncoder(params());
  const int bits = params().bits;
  const int m = params().max_summands;
  const int64_t q = encoder.max_encoded_magnitude();
  EXPECT_EQ(encoder.Decode({0}, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(encoder.Decode({0}, m + 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(encoder.Decode({uint64_t{1} << bits}, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  // One summand reaches at most Q in magnitude.
  EXPECT_TRUE(encoder.Decode({static_cast<uint64_t>(q)}, 1).ok());
  auto too_big = encoder.Decode({static_cast<uint64_t>(q + 1)}, 1);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_big.status().message(), HasSubstr("word 0"));
  EXPECT_TRUE(encoder.Decode({static_cast<uint64_t>(-q) & RingMask(bits)}, 1).ok());
  EXPECT_FALSE(encoder.Decode({static_cast<uint64_t>(-q - 1) & RingMask(bits)}, 1).ok());
}

INSTANTIATE_TEST_SUITE_P(Bits, VectorEncoderTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

TEST(VectorEncoderEdgeTest, RejectsNonFiniteInput) {
  const VectorEncoder encoder = MakeEncoder({.bits = 32, .clip = 1, .max_summands = 4});
  std::mt19937_64 gen(1);
  for (double bad : {std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
    auto encoded = encoder.Encode(std::vector<double>{0.5, bad}, gen);
    EXPECT_EQ(encoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(encoded.status().message(), HasSubstr("value 1"));
  }
}

// At 62 bits Q exceeds 2^53 and x * s is rounded in double: the extreme
// values may land just past Q, and the clamp must keep the sum from wrapping.
TEST(VectorEncoderEdgeTest, WidestRingKeepsHeadroomDespiteDoubleRounding) {
  const EncodingParams params = {.bits = 62, .clip = 1.0, .max_summands = 2};
  const VectorEncoder encoder = MakeEncoder(params);
  std::mt19937_64 gen(3);
  std::vector<std::vector<uint64_t>> encodings;
  for (int k = 0; k < 2; ++k) {
    auto encoded = encoder.Encode(std::vector<double>{1.0, -1.0, 5.0}, gen);
    ASSERT_TRUE(encoded.ok());
    for (uint64_t w : encoded->values) {
      ASSERT_LE(std::abs(Signed(w, 62)), encoder.max_encoded_magnitude());
    }
    encodings.push_back(encoded->values);
  }
  auto decoded = encoder.Decode(RingSum(encodings, 62), 2);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_NEAR((*decoded)[0], 2.0, encoder.SumErrorBound(2));
  EXPECT_NEAR((*decoded)[1], -2.0, encoder.SumErrorBound(2));
  EXPECT_NEAR((*decoded)[2], 2.0, encoder.SumErrorBound(2));
}

TEST(VectorEncoderEdgeTest, RejectsInvalidParams) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<EncodingParams> invalid = {
      {.bits = 1, .clip = 1, .max_summands = 1},
      {.bits = 0, .clip = 1, .max_summands = 1},
      {.bits = 63, .clip = 1, .max_summands = 1},
      {.bits = 64, .clip = 1, .max_summands = 1},
      {.bits = 32, .clip = 0, .max_summands = 1},
      {.bits = 32, .clip = -1, .max_summands = 1},
      {.bits = 32, .clip = nan, .max_summands = 1},
      {.bits = 32, .clip = inf, .max_summands = 1},
      {.bits = 32, .clip = 1, .max_summands = 0},
      {.bits = 32, .clip = 1, .max_summands = -3},
      // Q = floor(32767 / 1000) = 32, s = 31 / 100 < 1.
      {.bits = 16, .clip = 100, .max_summands = 1000},
      // Q = 1 leaves no room at all.
      {.bits = 2, .clip = 1, .max_summands = 1},
      {.bits = 8, .clip = 1, .max_summands = 127},
      // s overflows to infinity.
      {.bits = 32, .clip = 1e-320, .max_summands = 1},
  };
  for (const EncodingParams& p : invalid) {
    EXPECT_EQ(VectorEncoder::Create(p).status().code(), absl::StatusCode::kInvalidArgument)
        << "bits=" << p.bits << " clip=" << p.clip << " max_summands=" << p.max_summands;
  }
  // The tightest valid settings around them are accepted.
  EXPECT_TRUE(VectorEncoder::Create({.bits = 16, .clip = 31, .max_summands = 1000}).ok());
  EXPECT_TRUE(VectorEncoder::Create({.bits = 3, .clip = 2, .max_summands = 1}).ok());
  EXPECT_TRUE(VectorEncoder::Create({.bits = 62, .clip = 1, .max_summands = 1}).ok());
}

class IntegerEncoderTest : public ::testing::TestWithParam<int> {
 protected:
  // The largest max_value the headroom allows for 20 summands.
  IntegerEncodingParams Params() const {
    const int bits = GetParam();
    return {.bits = bits, .max_value = HalfRange(bits) / 20, .max_summands = 20};
  }
  std::mt19937_64 gen_{777};
};

TEST_P(IntegerEncoderTest, SumsAreExact) {
  const IntegerEncodingParams params = Params();
  auto encoder = IntegerEncoder::Create(params);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  std::uniform_int_distribution<int64_t> dist(-params.max_value, params.max_value);
  std::vector<std::vector<uint64_t>> encodings;
  std::vector<int64_t> expected(50, 0);
  for (int k = 0; k < params.max_summands; ++k) {
    std::vector<int64_t> counts(expected.size());
    for (size_t i = 0; i < counts.size(); ++i) {
      // First columns hold the extremes, the rest random values.
      counts[i] = i == 0 ? params.max_value : i == 1 ? -params.max_value : dist(gen_);
      expected[i] += counts[i];
    }
    auto encoded = encoder->Encode(counts);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    encodings.push_back(*encoded);
  }
  auto decoded = encoder->Decode(RingSum(encodings, params.bits), params.max_summands);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, expected);
}

TEST_P(IntegerEncoderTest, EncodeCountIsTwosComplement) {
  auto encoder = IntegerEncoder::Create(Params());
  ASSERT_TRUE(encoder.ok());
  EXPECT_EQ(*encoder->EncodeCount(0), 0u);
  EXPECT_EQ(*encoder->EncodeCount(3), 3u);
  EXPECT_EQ(*encoder->EncodeCount(-1), RingMask(GetParam()));
}

TEST_P(IntegerEncoderTest, HeadroomIsEnforced) {
  IntegerEncodingParams params = Params();
  EXPECT_TRUE(IntegerEncoder::Create(params).ok());
  params.max_value += 1;  // 20 * max_value now exceeds 2^(bits-1) - 1
  auto rejected = IntegerEncoder::Create(params);
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(rejected.status().message(), HasSubstr("wrap"));
}

TEST_P(IntegerEncoderTest, RejectsValuesOutsideRange) {
  const IntegerEncodingParams params = Params();
  auto encoder = IntegerEncoder::Create(params);
  ASSERT_TRUE(encoder.ok());
  for (int64_t bad : {params.max_value + 1, -params.max_value - 1,
                      std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(encoder->EncodeCount(bad).status().code(), absl::StatusCode::kInvalidArgument);
    auto encoded = encoder->Encode(std::vector<int64_t>{1, bad});
    EXPECT_EQ(encoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(encoded.status().message(), HasSubstr("value 1"));
  }
}

TEST_P(IntegerEncoderTest, DecodeRejectsImpossibleSums) {
  const IntegerEncodingParams params = Params();
  auto encoder = IntegerEncoder::Create(params);
  ASSERT_TRUE(encoder.ok());
  EXPECT_TRUE(encoder->Decode({static_cast<uint64_t>(params.max_value)}, 1).ok());
  EXPECT_FALSE(encoder->Decode({static_cast<uint64_t>(params.max_value + 1)}, 1).ok());
  EXPECT_FALSE(encoder->Decode({uint64_t{1} << params.bits}, 1).ok());
  EXPECT_FALSE(encoder->Decode({0}, 0).ok());
  EXPECT_FALSE(encoder->Decode({0}, params.max_summands + 1).ok());
}

INSTANTIATE_TEST_SUITE_P(Bits, IntegerEncoderTest, ::testing::Values(16, 24, 32, 48));

TEST(IntegerEncoderEdgeTest, RejectsInvalidParams) {
  const std::vector<IntegerEncodingParams> invalid = {
      {.bits = 1, .max_value = 1, .max_summands = 1},
      {.bits = 63, .max_value = 1, .max_summands = 1},
      {.bits = 32, .max_value = 0, .max_summands = 1},
      {.bits = 32, .max_value = -5, .max_summands = 1},
      {.bits = 32, .max_value = 1, .max_summands = 0},
      {.bits = 2, .max_value = 1, .max_summands = 2},
      {.bits = 62, .max_value = std::numeric_limits<int64_t>::max(), .max_summands = 1},
  };
  for (const IntegerEncodingParams& p : invalid) {
    EXPECT_EQ(IntegerEncoder::Create(p).status().code(), absl::StatusCode::kInvalidArgument)
        << "bits=" << p.bits << " max_value=" << p.max_value << " max_summands=" << p.max_summands;
  }
  EXPECT_TRUE(IntegerEncoder::Create({.bits = 2, .max_value = 1, .max_summands = 1}).ok());
  EXPECT_TRUE(
      IntegerEncoder::Create({.bits = 62, .max_value = HalfRange(62), .max_summands = 1}).ok());
}

}  // namespace
}  // namespace cohort::secagg
