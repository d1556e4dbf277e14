#include "crypto/shamir.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "crypto/random.h"
#include "crypto/secret_data.h"

namespace cohort::crypto {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t p = kShamirPrime;

// Independent reference for field multiplication: 128-bit remainder.
uint64_t ReferenceMul(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(a) * b % p);
}

// Evaluates at `x` the unique polynomial of degree < points.size() through
// `points` (distinct x), by Lagrange interpolation.
uint64_t Interpolate(const std::vector<std::pair<uint64_t, uint64_t>>& points, uint64_t x) {
  uint64_t result = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    uint64_t term = points[i].second;
    for (size_t j = 0; j < points.size(); ++j) {
      if (j == i) continue;
      term = FieldMul(term, FieldMul(FieldSub(x, points[j].first),
                                     FieldInverse(FieldSub(points[i].first, points[j].first))));
    }
    result = FieldAdd(result, term);
  }
  return result;
}

std::vector<std::vector<int>> AllSubsets(int n, int k) {
  std::vector<std::vector<int>> subsets;
  std::vector<bool> pick(n, false);
  std::fill(pick.begin(), pick.begin() + k, true);
  do {
    std::vector<int> subset;
    for (int i = 0; i < n; ++i) {
      if (pick[i]) subset.push_back(i);
    }
    subsets.push_back(subset);
  } while (std::prev_permutation(pick.begin(), pick.end()));
  return subsets;
}

std::vector<ShamirShare> Pick(const std::vector<ShamirShare>& shares, const std::vector<int>& idx) {
  std::vector<ShamirShare> out;
  for (int i : idx) out.push_back(shares[i]);
  return out;
}

class ShamirTest : public ::testing::Test {
 protected:
  SecretData RandomSecret(size_t size) {
    auto secret = prng_.RandomSecret(size);
    EXPECT_TRUE(secret.ok()) << secret.status();
    return secret.ok() ? *std::move(secret) : SecretData();
  }

  std::vector<ShamirShare> Split(const SecretData& secret, int t, int n) {
    auto shares = ShamirSplit(secret, t, n, prng_);
    EXPECT_TRUE(shares.ok()) << shares.status();
    return shares.ok() ? *std::move(shares) : std::vector<ShamirShare>();
  }

  FakePrng prng_{20240611};
  std::mt19937_64 gen_{99};
};

TEST_F(ShamirTest, FieldArithmeticMatchesReference) {
  std::vector<uint64_t> values = {0, 1, 2, p - 1, p - 2, uint64_t{1} << 60, (uint64_t{1} << 32) + 7};
  for (int i = 0; i < 1000; ++i) values.push_back(gen_() % p);
  for (uint64_t a : values) {
    for (uint64_t b : {values[0], values[3], values[5], values[10 + (a % 900)]}) {
      ASSERT_EQ(FieldMul(a, b), ReferenceMul(a, b)) << a << " * " << b;
      ASSERT_EQ(FieldAdd(a, b), static_cast<uint64_t>((static_cast<unsigned __int128>(a) + b) % p));
      ASSERT_EQ(FieldSub(a, b), static_cast<uint64_t>((static_cast<unsigned __int128>(a) + p - b) % p));
    }
    if (a != 0) {
      ASSERT_EQ(FieldMul(a, FieldInverse(a)), 1u) << a;
    }
  }
  EXPECT_EQ(FieldMul(p - 1, p - 1), 1u);  // (-1)^2
}

TEST_F(ShamirTest, RejectsBadSplitParameters) {
  const SecretData secret = RandomSecret(16);
  for (auto [t, n] : std::vector<std::pair<int, int>>{{0, 3}, {4, 3}, {-1, 3}, {1, 0}, {0, 0}}) {
    EXPECT_EQ(ShamirSplit(secret, t, n, prng_).status().code(), absl::StatusCode::kInvalidArgument)
        << "t=" << t << " n=" << n;
  }
  EXPECT_EQ(ShamirSplit(SecretData(), 2, 3, prng_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ShamirTest, SharesHaveExpectedShape) {
  const SecretData secret = RandomSecret(33);  // 5 limbs: 7+7+7+7+5 bytes
  const auto shares = Split(secret, 3, 5);
  ASSERT_EQ(shares.size(), 5u);
  for (size_t i = 0; i < shares.size(); ++i) {
    EXPECT_EQ(shares[i].x, i + 1);
    ASSERT_EQ(shares[i].values.size(), 5u);
    for (uint64_t v : shares[i].values) EXPECT_LT(v, p);
  }
}

// With t = 1 the polynomial is the constant secret: every share is the limb.
TEST_F(ShamirTest, ThresholdOneSharesAreTheLimbs) {
  const SecretData secret = SecretData::FromBytes("\x01\x02\x03\x04\x05\x06\x07\x08\x09");
  const auto shares = Split(secret, 1, 3);
  for (const ShamirShare& share : shares) {
    EXPECT_EQ(share.values, (std::vector<uint64_t>{0x07060504030201, 0x0908}));
  }
}

TEST_F(ShamirTest, EveryThresholdSubsetReconstructs) {
  for (int n = 1; n <= 6; ++n) {
    for (int t = 1; t <= n; ++t) {
      for (size_t size : {1, 7, 8, 16, 32}) {
        const SecretData secret = RandomSecret(size);
        const auto shares = Split(secret, t, n);
        for (const auto& subset : AllSubsets(n, t)) {
          auto got = ShamirReconstruct(Pick(shares, subset), t, size);
          ASSERT_TRUE(got.ok()) << got.status() << " t=" << t << " n=" << n;
          ASSERT_TRUE(*got == secret) << "t=" << t << " n=" << n << " size=" << size;
        }
      }
    }
  }
}

TEST_F(ShamirTest, RandomSubsetsOfLargeCohortReconstruct) {
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 20 + static_cast<int>(gen_() % 80);
    const int t = 1 + static_cast<int>(gen_() % n);
    const size_t size = 1 + gen_() % 64;
    const SecretData secret = RandomSecret(size);
    auto shares = Split(secret, t, n);
    for (int draw = 0; draw < 5; ++draw) {
      std::shuffle(shares.begin(), shares.end(), gen_);
      // Extra shares beyond the first t are ignored.
      const size_t count = t + gen_() % (n - t + 1);
      auto got = ShamirReconstruct(absl::MakeConstSpan(shares).subspan(0, count), t, size);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_TRUE(*got == secret) << "t=" << t << " n=" << n;
    }
  }
}

TEST_F(ShamirTest, FewerThanThresholdSharesFail) {
  const SecretData secret = RandomSecret(32);
  const auto shares = Split(secret, 4, 6);
  for (size_t count = 0; count < 4; ++count) {
    EXPECT_EQ(ShamirReconstruct(absl::MakeConstSpan(shares).subspan(0, count), 4, 32)
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// Perfect secrecy, constructively: for any t-1 shares and ANY candidate secret
// s', the t points (0, s'), (x_1, y_1) .. (x_{t-1}, y_{t-1}) have distinct x
// and so determine a polynomial of degree <= t-1. That polynomial gives the
// holders their observed shares and a t-th share that makes reconstruction
// yield s'. So the t-1 shares rule out no secret.
TEST_F(ShamirTest, ThresholdMinusOneSharesFitEverySecret) {
  constexpr int kT = 4;
  constexpr int kN = 7;
  const SecretData secret = RandomSecret(7);  // one limb
  const auto shares = Split(secret, kT, kN);
  const std::vector<int> seen = {1, 4, 6};  // t - 1 holders

  for (uint64_t candidate : {uint64_t{0}, uint64_t{1}, uint64_t{0x00ffffffffffffff},
                             gen_() % (uint64_t{1} << 56), gen_() % (uint64_t{1} << 56)}) {
    std::vector<std::pair<uint64_t, uint64_t>> points = {{0, candidate}};
    for (int i : seen) points.push_back({shares[i].x, shares[i].values[0]});

    // The interpolant passes through the candidate and every observed share.
    EXPECT_EQ(Interpolate(points, 0), candidate);
    for (int i : seen) EXPECT_EQ(Interpolate(points, shares[i].x), shares[i].values[0]);

    // Completing the observed shares with that polynomial's value at an
    // unseen x reconstructs the candidate.
    std::vector<ShamirShare> completed = Pick(shares, seen);
    const uint32_t other_x = shares[0].x;
    completed.push_back({.x = other_x, .values = {Interpolate(points, other_x)}});
    auto got = ShamirReconstruct(completed, kT, 7);
    ASSERT_TRUE(got.ok()) << got.status();
    std::vector<uint8_t> expected(7);
    for (int b = 0; b < 7; ++b) expected[b] = static_cast<uint8_t>(candidate >> (8 * b));
    EXPECT_EQ(std::vector<uint8_t>(got->span().begin(), got->span().end()), expected);
  }
  // And the true secret is among the consistent ones: the genuine t-th share
  // is the interpolant through (0, secret) evaluated at its x.
  uint64_t limb = 0;
  for (int b = 6; b >= 0; --b) limb = (limb << 8) | secret.data()[b];
  std::vector<std::pair<uint64_t, uint64_t>> points = {{0, limb}};
  for (int i : seen) points.push_back({shares[i].x, shares[i].values[0]});
  EXPECT_EQ(Interpolate(points, shares[0].x), shares[0].values[0]);
}

TEST_F(ShamirTest, TamperedShareGivesWrongSecretOrError) {
  int errors = 0;
  for (int trial = 0; trial < 50; ++trial) {
    const SecretData secret = RandomSecret(24);
    auto shares = Split(secret, 3, 5);
    const size_t who = gen_() % 3;
    const size_t limb = gen_() % shares[who].values.size();
    shares[who].values[limb] = FieldAdd(shares[who].values[limb], 1 + gen_() % (p - 1));
    auto got = ShamirReconstruct(shares, 3, 24);
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
      ++errors;
    } else {
      EXPECT_FALSE(*got == secret);
    }
  }
  // A random field error lands a limb below 2^56 only with probability 2^-5,
  // so most tampering is detected outright.
  EXPECT_GT(errors, 35);
}

TEST_F(ShamirTest, OutOfRangeLimbIsRejected) {
  // Shares of the constant polynomial 2^56 (t = 1): interpolation yields a
  // value that cannot be a 7-byte limb.
  std::vector<ShamirShare> shares = {{.x = 1, .values = {uint64_t{1} << 56}}};
  EXPECT_EQ(ShamirReconstruct(shares, 1, 7).status().code(), absl::StatusCode::kInvalidArgument);
  // A 1-byte secret's limb must fit in one byte.
  shares = {{.x = 1, .values = {0x100}}};
  EXPECT_EQ(ShamirReconstruct(shares, 1, 1).status().code(), absl::StatusCode::kInvalidArgument);
  shares = {{.x = 1, .values = {0xff}}};
  auto got = ShamirReconstruct(shares, 1, 1);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->data()[0], 0xff);
}

TEST_F(ShamirTest, RejectsMalformedShares) {
  const SecretData secret = RandomSecret(14);  // 2 limbs
  const auto shares = Split(secret, 3, 5);
  {
    std::vector<ShamirShare> dup = {shares[0], shares[1], shares[1]};
    const absl::Status status = ShamirReconstruct(dup, 3, 14).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("repeat x = 2"));
  }
  {
    std::vector<ShamirShare> zero_x = {shares[0], shares[1], shares[2]};
    zero_x[2].x = 0;
    const absl::Status status = ShamirReconstruct(zero_x, 3, 14).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("x = 0"));
  }
  {
    std::vector<ShamirShare> short_share = {shares[0], shares[1], shares[2]};
    short_share[1].values.pop_back();
    EXPECT_EQ(ShamirReconstruct(short_share, 3, 14).status().code(),
              absl::StatusCode::kInvalidArgument);
    // Wrong secret size for the limb count.
    EXPECT_EQ(ShamirReconstruct(shares, 3, 15).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  {
    std::vector<ShamirShare> outside = {shares[0], shares[1], shares[2]};
    outside[0].values[1] = p;
    EXPECT_EQ(ShamirReconstruct(outside, 3, 14).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(ShamirReconstruct(shares, 0, 14).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ShamirReconstruct(shares, 3, 0).status().code(), absl::StatusCode::kInvalidArgument);
  // The untouched shares still work.
  auto got = ShamirReconstruct(shares, 3, 14);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == secret);
}

TEST_F(ShamirTest, SharesDependOnTheRandomness) {
  const SecretData secret = SecretData::FromBytes("same secret");
  FakePrng a(1), b(2);
  auto from_a = ShamirSplit(secret, 2, 3, a);
  auto from_b = ShamirSplit(secret, 2, 3, b);
  ASSERT_TRUE(from_a.ok() && from_b.ok());
  EXPECT_NE((*from_a)[0].values, (*from_b)[0].values);
}

}  // namespace
}  // namespace cohort::crypto
