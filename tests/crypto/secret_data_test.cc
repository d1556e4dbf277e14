#include "crypto/secret_data.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::crypto {
namespace {

using ::testing::ElementsAre;

TEST(SecretDataTest, DefaultIsEmpty) {
  SecretData s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
}

TEST(SecretDataTest, SizedConstructorZeroFills) {
  SecretData s(5);
  EXPECT_EQ(s.size(), 5u);
  EXPECT_THAT(s.span(), ElementsAre(0, 0, 0, 0, 0));
}

TEST(SecretDataTest, FromBytesAndFromSpanHoldTheBytes) {
  const std::string bytes("k\0e\xffy", 5);
  SecretData a = SecretData::FromBytes(bytes);
  EXPECT_EQ(a.view(), bytes);

  const std::vector<uint8_t> v = {1, 2, 0, 255};
  SecretData b = SecretData::FromSpan(v);
  EXPECT_THAT(b.span(), ElementsAre(1, 2, 0, 255));
}

TEST(SecretDataTest, EqualContentsCompareEqual) {
  EXPECT_TRUE(SecretData::FromBytes("secret") == SecretData::FromBytes("secret"));
  EXPECT_FALSE(SecretData::FromBytes("secret") != SecretData::FromBytes("secret"));
  EXPECT_TRUE(SecretData() == SecretData());
}

TEST(SecretDataTest, DifferentContentsCompareUnequal) {
  // Differ only in the last byte, so a comparison that stops early or checks
  // a prefix would be caught.
  EXPECT_FALSE(SecretData::FromBytes("secreT") == SecretData::FromBytes("secret"));
  EXPECT_TRUE(SecretData::FromBytes("secreT") != SecretData::FromBytes("secret"));
  EXPECT_FALSE(SecretData::FromBytes("Secret") == SecretData::FromBytes("secret"));
}

TEST(SecretDataTest, DifferentSizesCompareUnequal) {
  EXPECT_FALSE(SecretData::FromBytes("secret") == SecretData::FromBytes("secret!"));
  EXPECT_FALSE(SecretData::FromBytes("secret!") == SecretData::FromBytes("secret"));
  EXPECT_FALSE(SecretData() == SecretData(1));
  EXPECT_FALSE(SecretData(1) == SecretData());
}

TEST(SecretDataTest, CopyIsEqualAndIndependent) {
  SecretData original = SecretData::FromBytes("abc");
  SecretData copy = original.Copy();
  EXPECT_TRUE(copy == original);
  EXPECT_NE(copy.data(), original.data());
  copy.data()[0] = 'X';
  EXPECT_EQ(original.view(), "abc");
  EXPECT_EQ(copy.view(), "Xbc");
  original.mutable_span()[2] = 'Z';
  EXPECT_EQ(copy.view(), "Xbc");
}

TEST(SecretDataTest, MoveConstructionTransfersAndEmptiesSource) {
  SecretData source = SecretData::FromBytes("key material");
  SecretData target(std::move(source));
  EXPECT_EQ(target.view(), "key material");
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): that is the test.
  EXPECT_EQ(source.size(), 0u);
}

TEST(SecretDataTest, MoveAssignmentReplacesAndEmptiesSource) {
  SecretData source = SecretData::FromBytes("new key");
  SecretData target = SecretData::FromBytes("old key, longer");
  target = std::move(source);
  EXPECT_EQ(target.view(), "new key");
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): that is the test.
}

TEST(SecretDataTest, SelfMoveAssignmentKeepsContents) {
  SecretData s = SecretData::FromBytes("stay");
  SecretData& alias = s;
  s = std::move(alias);
  EXPECT_EQ(s.view(), "stay");
}

}  // namespace
}  // namespace cohort::crypto
