#include "crypto/x25519.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::crypto {
namespace {

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

SecretData SecretFromHex(absl::string_view hex) {
  return SecretData::FromBytes(absl::HexStringToBytes(hex));
}

std::unique_ptr<X25519PrivateKey> KeyFromHex(absl::string_view hex) {
  absl::StatusOr<std::unique_ptr<X25519PrivateKey>> key =
      X25519PrivateKey::FromBytes(SecretFromHex(hex));
  EXPECT_TRUE(key.ok()) << key.status();
  return key.ok() ? std::move(*key) : nullptr;
}

// --- RFC 7748 section 5.2: X25519(scalar, u) for two (scalar, u) pairs.

struct ScalarMultVector {
  std::string name;
  std::string scalar_hex;
  std::string u_hex;
  std::string output_hex;
};

void PrintTo(const ScalarMultVector& v, std::ostream* os) { *os << v.name; }

std::vector<ScalarMultVector> Rfc7748ScalarMultVectors() {
  return {
      {.name = "Rfc7748Sec5_2Vector1",
       .scalar_hex = "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
       .u_hex = "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
       .output_hex = "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
      // The u-coordinate has its top bit set, which X25519 must ignore.
      {.name = "Rfc7748Sec5_2Vector2",
       .scalar_hex = "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
       .u_hex = "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
       .output_hex = "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
  };
}

class X25519ScalarMultTest : public ::testing::TestWithParam<ScalarMultVector> {};

TEST_P(X25519ScalarMultTest, MatchesRfc7748) {
  std::unique_ptr<X25519PrivateKey> key = KeyFromHex(GetParam().scalar_hex);
  ASSERT_NE(key, nullptr);
  absl::StatusOr<SecretData> out =
      key->ComputeSharedSecret(absl::HexStringToBytes(GetParam().u_hex));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Hex(out->view()), GetParam().output_hex);
}

INSTANTIATE_TEST_SUITE_P(Rfc7748, X25519ScalarMultTest,
                         ::testing::ValuesIn(Rfc7748ScalarMultVectors()),
                         [](const auto& info) { return info.param.name; });

// --- RFC 7748 section 6.1: Alice and Bob.

constexpr char kAlicePrivate[] = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr char kAlicePublic[] = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
constexpr char kBobPrivate[] = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
constexpr char kBobPublic[] = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
constexpr char kSharedSecret[] = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

TEST(X25519Rfc7748KeyAgreementTest, PublicKeysMatch) {
  std::unique_ptr<X25519PrivateKey> alice = KeyFromHex(kAlicePrivate);
  std::unique_ptr<X25519PrivateKey> bob = KeyFromHex(kBobPrivate);
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(bob, nullptr);
  EXPECT_EQ(Hex(alice->public_key()), kAlicePublic);
  EXPECT_EQ(Hex(bob->public_key()), kBobPublic);
}

TEST(X25519Rfc7748KeyAgreementTest, BothSidesDeriveTheSharedSecret) {
  std::unique_ptr<X25519PrivateKey> alice = KeyFromHex(kAlicePrivate);
  std::unique_ptr<X25519PrivateKey> bob = KeyFromHex(kBobPrivate);
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(bob, nullptr);
  absl::StatusOr<SecretData> alice_view =
      alice->ComputeSharedSecret(absl::HexStringToBytes(kBobPublic));
  absl::StatusOr<SecretData> bob_view =
      bob->ComputeSharedSecret(absl::HexStringToBytes(kAlicePublic));
  ASSERT_TRUE(alice_view.ok()) << alice_view.status();
  ASSERT_TRUE(bob_view.ok()) << bob_view.status();
  EXPECT_EQ(Hex(alice_view->view()), kSharedSecret);
  EXPECT_EQ(Hex(bob_view->view()), kSharedSecret);
}

TEST(X25519Rfc7748KeyAgreementTest, PrivateBytesAreKept) {
  std::unique_ptr<X25519PrivateKey> alice = KeyFromHex(kAlicePrivate);
  ASSERT_NE(alice, nullptr);
  EXPECT_TRUE(alice->private_bytes() == SecretFromHex(kAlicePrivate));
}

// --- Low-order peer points give an all-zero secret (RFC 7748 section 6.1).

struct LowOrderPoint {
  std::string name;
  std::string u_hex;
};

void PrintTo(const LowOrderPoint& p, std::ostream* os) { *os << p.name; }

std::vector<LowOrderPoint> LowOrderPoints() {
  return {
      {.name = "Zero", .u_hex = "0000000000000000000000000000000000000000000000000000000000000000"},
      {.name = "One", .u_hex = "0100000000000000000000000000000000000000000000000000000000000000"},
      // p - 1 = 2^255 - 20.
      {.name = "PMinusOne",
       .u_hex = "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
      // p itself, a non-canonical encoding of zero.
      {.name = "P", .u_hex = "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
  };
}

class X25519LowOrderTest : public ::testing::TestWithParam<LowOrderPoint> {};

TEST_P(X25519LowOrderTest, SharedSecretIsRejected) {
  std::unique_ptr<X25519PrivateKey> alice = KeyFromHex(kAlicePrivate);
  ASSERT_NE(alice, nullptr);
  absl::StatusOr<SecretData> out =
      alice->ComputeSharedSecret(absl::HexStringToBytes(GetParam().u_hex));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
}

INSTANTIATE_TEST_SUITE_P(Rfc7748, X25519LowOrderTest, ::testing::ValuesIn(LowOrderPoints()),
                         [](const auto& info) { return info.param.name; });

// --- Sizes, generation.

TEST(X25519PrivateKeyTest, WrongSizedPrivateKeyIsRejected) {
  for (size_t size : {0, 31, 33, 64}) {
    absl::StatusOr<std::unique_ptr<X25519PrivateKey>> key =
        X25519PrivateKey::FromBytes(SecretData(size));
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument) << size;
  }
}

TEST(X25519PrivateKeyTest, WrongSizedPeerKeyIsRejected) {
  std::unique_ptr<X25519PrivateKey> alice = KeyFromHex(kAlicePrivate);
  ASSERT_NE(alice, nullptr);
  const std::string bob = absl::HexStringToBytes(kBobPublic);
  EXPECT_EQ(alice->ComputeSharedSecret(bob.substr(0, 31)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(alice->ComputeSharedSecret(bob + "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(alice->ComputeSharedSecret("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(X25519PrivateKeyTest, GenerateDrawsThePrivateKeyFromThePrng) {
  FakePrng prng(3);
  absl::StatusOr<std::unique_ptr<X25519PrivateKey>> key = X25519PrivateKey::Generate(prng);
  ASSERT_TRUE(key.ok()) << key.status();
  FakePrng replay(3);
  absl::StatusOr<SecretData> expected = replay.RandomSecret(kX25519KeySize);
  ASSERT_TRUE(expected.ok());
  EXPECT_TRUE((*key)->private_bytes() == *expected);
  // And the public key is the one that scalar gives.
  std::unique_ptr<X25519PrivateKey> again = KeyFromHex(Hex((*expected).view()));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ((*key)->public_key(), again->public_key());
}

TEST(X25519PrivateKeyTest, GeneratedKeysAgree) {
  OpenSslPrng prng;
  absl::StatusOr<std::unique_ptr<X25519PrivateKey>> a = X25519PrivateKey::Generate(prng);
  absl::StatusOr<std::unique_ptr<X25519PrivateKey>> b = X25519PrivateKey::Generate(prng);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE((*a)->public_key(), (*b)->public_key());
  EXPECT_EQ((*a)->public_key().size(), kX25519KeySize);
  absl::StatusOr<SecretData> ab = (*a)->ComputeSharedSecret((*b)->public_key());
  absl::StatusOr<SecretData> ba = (*b)->ComputeSharedSecret((*a)->public_key());
  ASSERT_TRUE(ab.ok()) << ab.status();
  ASSERT_TRUE(ba.ok()) << ba.status();
  EXPECT_TRUE(*ab == *ba);
  EXPECT_FALSE(*ab == SecretData(kX25519KeySize));
}

}  // namespace
}  // namespace cohort::crypto
