#include "crypto/aes_gcm.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::crypto {
namespace {

using ::testing::HasSubstr;

struct GcmVector {
  std::string name;
  std::string key_hex;
  std::string nonce_hex;
  std::string aad_hex;
  std::string plaintext_hex;
  std::string ciphertext_hex;
  std::string tag_hex;
};

void PrintTo(const GcmVector& v, std::ostream* os) { *os << v.name; }

// 256-bit-key, 96-bit-IV, 128-bit-tag vectors:
//  - McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases
//    13-16 (the AES-256 ones; also NIST's GCM spec examples);
//  - NIST CAVP gcmEncryptExtIV256.rsp, [PTlen = 0][AADlen = 0] Count = 0 and
//    [PTlen = 0][AADlen = 128] Count = 0.
std::vector<GcmVector> PublishedVectors() {
  const std::string kKey15 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
  const std::string kPlain15 =
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
  const std::string kCipher15 =
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
  return {
      {.name = "McGrewViegaTestCase13EmptyEverything",
       .key_hex = std::string(64, '0'),
       .nonce_hex = std::string(24, '0'),
       .aad_hex = "",
       .plaintext_hex = "",
       .ciphertext_hex = "",
       .tag_hex = "530f8afbc74536b9a963b4f1c4cb738b"},
      {.name = "McGrewViegaTestCase14OneBlock",
       .key_hex = std::string(64, '0'),
       .nonce_hex = std::string(24, '0'),
       .aad_hex = "",
       .plaintext_hex = std::string(32, '0'),
       .ciphertext_hex = "cea7403d4d606b6e074ec5d3baf39d18",
       .tag_hex = "d0d1c8a799996bf0265b98b5d48ab919"},
      {.name = "McGrewViegaTestCase15FourBlocksNoAad",
       .key_hex = kKey15,
       .nonce_hex = "cafebabefacedbaddecaf888",
       .aad_hex = "",
       .plaintext_hex = kPlain15,
       .ciphertext_hex = kCipher15,
       .tag_hex = "b094dac5d93471bdec1a502270e3cc6c"},
      {.name = "McGrewViegaTestCase16PartialBlockWithAad",
       .key_hex = kKey15,
       .nonce_hex = "cafebabefacedbaddecaf888",
       .aad_hex = "feedfacedeadbeeffeedfacedeadbeefabaddad2",
       .plaintext_hex = kPlain15.substr(0, 120),
       .ciphertext_hex = kCipher15.substr(0, 120),
       .tag_hex = "76fc6ece0f4e1768cddf8853bb2d551b"},
      {.name = "CavpExtIv256Pt0Aad0Count0",
       .key_hex = "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
       .nonce_hex = "516c33929df5a3284ff463d7",
       .aad_hex = "",
       .plaintext_hex = "",
       .ciphertext_hex = "",
       .tag_hex = "bdc1ac884d332457a1d2664f168c76f0"},
      {.name = "CavpExtIv256Pt0Aad128Count0",
       .key_hex = "78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223",
       .nonce_hex = "d79cf22d504cc793c3fb6c8a",
       .aad_hex = "b96baa8c1c75a671bfb2d08d06be5f36",
       .plaintext_hex = "",
       .ciphertext_hex = "",
       .tag_hex = "3e5d486aa2e30b22e040b85723a06e76"},
  };
}

std::unique_ptr<AesGcm> NewAead(absl::string_view key_hex) {
  absl::StatusOr<std::unique_ptr<AesGcm>> aead =
      AesGcm::New(SecretData::FromBytes(absl::HexStringToBytes(key_hex)));
  EXPECT_TRUE(aead.ok()) << aead.status();
  return aead.ok() ? std::move(*aead) : nullptr;
}

class AesGcmVectorTest : public ::testing::TestWithParam<GcmVector> {
 protected:
  void SetUp() override {
    aead_ = NewAead(GetParam().key_hex);
    ASSERT_NE(aead_, nullptr);
    aad_ = absl::HexStringToBytes(GetParam().aad_hex);
    plaintext_ = absl::HexStringToBytes(GetParam().plaintext_hex);
    wire_ = absl::HexStringToBytes(
        absl::StrCat(GetParam().nonce_hex, GetParam().ciphertext_hex, GetParam().tag_hex));
  }

  std::unique_ptr<AesGcm> aead_;
  std::string aad_;
  std::string plaintext_;
  std::string wire_;  // nonce || ciphertext || tag
};

TEST_P(AesGcmVectorTest, EncryptWithNonceMatches) {
  absl::StatusOr<std::string> out =
      aead_->EncryptWithNonce(plaintext_, aad_, absl::HexStringToBytes(GetParam().nonce_hex));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(absl::BytesToHexString(*out), absl::BytesToHexString(wire_));
}

TEST_P(AesGcmVectorTest, DecryptMatches) {
  absl::StatusOr<std::string> out = aead_->Decrypt(wire_, aad_);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(absl::BytesToHexString(*out), GetParam().plaintext_hex);
}

TEST_P(AesGcmVectorTest, EveryBitFlipIsRejected) {
  for (size_t bit = 0; bit < wire_.size() * 8; ++bit) {
    std::string tampered = wire_;
    tampered[bit / 8] = static_cast<char>(tampered[bit / 8] ^ (1 << (bit % 8)));
    absl::StatusOr<std::string> out = aead_->Decrypt(tampered, aad_);
    ASSERT_EQ(out.status().code(), absl::StatusCode::kPermissionDenied) << "bit " << bit;
    EXPECT_THAT(out.status().message(), HasSubstr("authentication failed"));
  }
}

TEST_P(AesGcmVectorTest, EveryTruncationIsRejected) {
  for (size_t len = 0; len < wire_.size(); ++len) {
    absl::StatusOr<std::string> out = aead_->Decrypt(wire_.substr(0, len), aad_);
    ASSERT_FALSE(out.ok()) << "length " << len;
    EXPECT_EQ(out.status().code(), len < kAesGcmNonceSize + kAesGcmTagSize
                                       ? absl::StatusCode::kInvalidArgument
                                       : absl::StatusCode::kPermissionDenied)
        << "length " << len;
  }
}

TEST_P(AesGcmVectorTest, ExtensionIsRejected) {
  EXPECT_EQ(aead_->Decrypt(wire_ + '\0', aad_).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_P(AesGcmVectorTest, WrongAssociatedDataIsRejected) {
  EXPECT_EQ(aead_->Decrypt(wire_, aad_ + "x").status().code(), absl::StatusCode::kPermissionDenied);
  if (!aad_.empty()) {
    EXPECT_EQ(aead_->Decrypt(wire_, "").status().code(), absl::StatusCode::kPermissionDenied);
    std::string flipped = aad_;
    flipped.back() = static_cast<char>(flipped.back() ^ 0x01);
    EXPECT_EQ(aead_->Decrypt(wire_, flipped).status().code(), absl::StatusCode::kPermissionDenied);
  }
}

TEST_P(AesGcmVectorTest, WrongKeyIsRejected) {
  std::string key = absl::HexStringToBytes(GetParam().key_hex);
  key[0] = static_cast<char>(key[0] ^ 0x80);
  absl::StatusOr<std::unique_ptr<AesGcm>> other = AesGcm::New(SecretData::FromBytes(key));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ((*other)->Decrypt(wire_, aad_).status().code(), absl::StatusCode::kPermissionDenied);
}

INSTANTIATE_TEST_SUITE_P(Published, AesGcmVectorTest, ::testing::ValuesIn(PublishedVectors()),
                         [](const auto& info) { return info.param.name; });

// --- Random nonces.

constexpr char kKeyHex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST(AesGcmTest, RoundTripWithFakePrngUsesThePrngNonce) {
  std::unique_ptr<AesGcm> aead = NewAead(kKeyHex);
  ASSERT_NE(aead, nullptr);
  FakePrng prng(11);
  absl::StatusOr<std::string> ct = aead->Encrypt("site hungary, round 3", "aad", prng);
  ASSERT_TRUE(ct.ok()) << ct.status();
  EXPECT_EQ(ct->size(), kAesGcmNonceSize + 21 + kAesGcmTagSize);

  FakePrng replay(11);
  std::string nonce(kAesGcmNonceSize, '\0');
  ASSERT_TRUE(
      replay.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(nonce.data()), nonce.size())).ok());
  EXPECT_EQ(ct->substr(0, kAesGcmNonceSize), nonce);
  absl::StatusOr<std::string> same = aead->EncryptWithNonce("site hungary, round 3", "aad", nonce);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(*ct, *same);

  absl::StatusOr<std::string> pt = aead->Decrypt(*ct, "aad");
  ASSERT_TRUE(pt.ok()) << pt.status();
  EXPECT_EQ(*pt, "site hungary, round 3");
}

TEST(AesGcmTest, FreshNonceEachEncryption) {
  std::unique_ptr<AesGcm> aead = NewAead(kKeyHex);
  ASSERT_NE(aead, nullptr);
  OpenSslPrng prng;
  absl::StatusOr<std::string> a = aead->Encrypt("same", "", prng);
  absl::StatusOr<std::string> b = aead->Encrypt("same", "", prng);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(a->substr(0, kAesGcmNonceSize), b->substr(0, kAesGcmNonceSize));
  EXPECT_NE(*a, *b);
  for (const std::string* ct : {&*a, &*b}) {
    absl::StatusOr<std::string> pt = aead->Decrypt(*ct, "");
    ASSERT_TRUE(pt.ok()) << pt.status();
    EXPECT_EQ(*pt, "same");
  }
}

TEST(AesGcmTest, LargeMessageRoundTrips) {
  std::unique_ptr<AesGcm> aead = NewAead(kKeyHex);
  ASSERT_NE(aead, nullptr);
  FakePrng prng(5);
  std::string message(1 << 20, '\0');
  ASSERT_TRUE(
      prng.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(message.data()), message.size())).ok());
  absl::StatusOr<std::string> ct = aead->Encrypt(message, "ctx", prng);
  ASSERT_TRUE(ct.ok()) << ct.status();
  absl::StatusOr<std::string> pt = aead->Decrypt(*ct, "ctx");
  ASSERT_TRUE(pt.ok()) << pt.status();
  EXPECT_TRUE(*pt == message);
}

TEST(AesGcmTest, WrongKeySizeIsRejected) {
  for (size_t size : {0, 16, 24, 31, 33}) {
    absl::StatusOr<std::unique_ptr<AesGcm>> aead = AesGcm::New(SecretData(size));
    EXPECT_EQ(aead.status().code(), absl::StatusCode::kInvalidArgument) << size;
  }
}

TEST(AesGcmTest, WrongNonceSizeIsRejected) {
  std::unique_ptr<AesGcm> aead = NewAead(kKeyHex);
  ASSERT_NE(aead, nullptr);
  for (size_t size : {0, 8, 11, 13, 16}) {
    EXPECT_EQ(aead->EncryptWithNonce("m", "", std::string(size, 'n')).status().code(),
              absl::StatusCode::kInvalidArgument)
        << size;
  }
}

}  // namespace
}  // namespace cohort::crypto
