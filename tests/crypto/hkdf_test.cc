#include "crypto/hkdf.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::crypto {
namespace {

using ::testing::StartsWith;

struct HkdfVector {
  std::string name;
  std::string ikm_hex;
  std::string salt_hex;
  std::string info_hex;
  size_t length;
  std::string okm_hex;
};

void PrintTo(const HkdfVector& v, std::ostream* os) { *os << v.name; }

// RFC 5869 Appendix A, test cases 1-3 (the SHA-256 ones).
std::vector<HkdfVector> Rfc5869Vectors() {
  return {
      {.name = "Rfc5869A1Basic",
       .ikm_hex = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
       .salt_hex = "000102030405060708090a0b0c",
       .info_hex = "f0f1f2f3f4f5f6f7f8f9",
       .length = 42,
       .okm_hex = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                  "34007208d5b887185865"},
      {.name = "Rfc5869A2LongInputs",
       .ikm_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
                  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
                  "404142434445464748494a4b4c4d4e4f",
       .salt_hex = "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
                   "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
                   "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
       .info_hex = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
                   "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
                   "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
       .length = 82,
       .okm_hex = "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
                  "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
                  "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
      {.name = "Rfc5869A3EmptySaltAndInfo",
       .ikm_hex = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
       .salt_hex = "",
       .info_hex = "",
       .length = 42,
       .okm_hex = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                  "9d201395faa4b61a96c8"},
  };
}

class HkdfSha256VectorTest : public ::testing::TestWithParam<HkdfVector> {};

TEST_P(HkdfSha256VectorTest, MatchesRfc5869) {
  const HkdfVector& v = GetParam();
  absl::StatusOr<SecretData> okm =
      HkdfSha256(SecretData::FromBytes(absl::HexStringToBytes(v.ikm_hex)),
                 absl::HexStringToBytes(v.salt_hex), absl::HexStringToBytes(v.info_hex), v.length);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(absl::BytesToHexString(okm->view()), v.okm_hex);
}

// HKDF-Expand is a stream: a shorter output is a prefix of a longer one.
TEST_P(HkdfSha256VectorTest, ShorterOutputIsPrefix) {
  const HkdfVector& v = GetParam();
  absl::StatusOr<SecretData> okm =
      HkdfSha256(SecretData::FromBytes(absl::HexStringToBytes(v.ikm_hex)),
                 absl::HexStringToBytes(v.salt_hex), absl::HexStringToBytes(v.info_hex), 7);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(okm->size(), 7u);
  EXPECT_THAT(v.okm_hex, StartsWith(absl::BytesToHexString(okm->view())));
}

INSTANTIATE_TEST_SUITE_P(Rfc5869, HkdfSha256VectorTest, ::testing::ValuesIn(Rfc5869Vectors()),
                         [](const auto& info) { return info.param.name; });

TEST(HkdfSha256Test, ZeroLengthIsInvalid) {
  EXPECT_EQ(HkdfSha256(SecretData::FromBytes("ikm"), "salt", "info", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HkdfSha256Test, LengthLimitIs255Blocks) {
  absl::StatusOr<SecretData> max =
      HkdfSha256(SecretData::FromBytes("ikm"), "salt", "info", 255 * 32);
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ(max->size(), 255u * 32u);
  EXPECT_EQ(HkdfSha256(SecretData::FromBytes("ikm"), "salt", "info", 255 * 32 + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HkdfSha256Test, EveryInputChangesTheOutput) {
  auto derive = [](absl::string_view ikm, absl::string_view salt, absl::string_view info) {
    absl::StatusOr<SecretData> out = HkdfSha256(SecretData::FromBytes(ikm), salt, info, 32);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? std::string(out->view()) : std::string();
  };
  const std::string base = derive("ikm", "salt", "info");
  EXPECT_NE(base, derive("ikM", "salt", "info"));
  EXPECT_NE(base, derive("ikm", "salT", "info"));
  EXPECT_NE(base, derive("ikm", "salt", "infO"));
  EXPECT_EQ(base, derive("ikm", "salt", "info"));
}

TEST(HkdfSha256Test, EmptyIkmIsAccepted) {
  absl::StatusOr<SecretData> out = HkdfSha256(SecretData(), "salt", "info", 32);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->size(), 32u);
}

}  // namespace
}  // namespace cohort::crypto
