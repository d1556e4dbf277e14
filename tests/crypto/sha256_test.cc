#include "crypto/sha256.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::crypto {
namespace {

using ::testing::HasSubstr;

struct Sha256Vector {
  std::string name;
  std::string message;
  std::string digest_hex;
};

// FIPS 180-2 Appendix B (SHA-256 examples) and the NIST CAVS short-message
// vector for the empty string.
std::vector<Sha256Vector> NistVectors() {
  return {
      {.name = "Empty",
       .message = "",
       .digest_hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {.name = "Abc",
       .message = "abc",
       .digest_hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {.name = "TwoBlock448Bit",
       .message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       .digest_hex = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {.name = "MillionA",
       .message = std::string(1000000, 'a'),
       .digest_hex = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
}

void PrintTo(const Sha256Vector& v, std::ostream* os) { *os << v.name; }

class Sha256VectorTest : public ::testing::TestWithParam<Sha256Vector> {};

TEST_P(Sha256VectorTest, OneShotHexMatches) {
  EXPECT_EQ(Sha256Hex(GetParam().message), GetParam().digest_hex);
}

TEST_P(Sha256VectorTest, OneShotBytesMatch) {
  const auto digest = Sha256(GetParam().message);
  EXPECT_EQ(absl::BytesToHexString(absl::string_view(
                reinterpret_cast<const char*>(digest.data()), digest.size())),
            GetParam().digest_hex);
}

TEST_P(Sha256VectorTest, IncrementalInOddChunksMatches) {
  Sha256Hasher hasher;
  absl::string_view rest = GetParam().message;
  // 7-byte chunks cross every 64-byte block boundary at a different offset.
  while (!rest.empty()) {
    const size_t n = std::min<size_t>(7, rest.size());
    hasher.Update(rest.substr(0, n));
    rest.remove_prefix(n);
  }
  EXPECT_EQ(hasher.FinalHex(), GetParam().digest_hex);
}

TEST_P(Sha256VectorTest, FileMatches) {
  const std::string path = ::testing::TempDir() + "/sha256_vector_" + GetParam().name;
  {
    std::ofstream out(path, std::ios::binary);
    out << GetParam().message;
  }
  absl::StatusOr<std::string> hex = Sha256HexOfFile(path);
  ASSERT_TRUE(hex.ok()) << hex.status();
  EXPECT_EQ(*hex, GetParam().digest_hex);
  ::unlink(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Nist, Sha256VectorTest, ::testing::ValuesIn(NistVectors()),
                         [](const auto& info) { return info.param.name; });

TEST(Sha256HasherTest, FinalResetsForReuse) {
  Sha256Hasher hasher;
  hasher.Update("garbage that must not leak into the next digest");
  (void)hasher.FinalHex();
  hasher.Update("abc");
  EXPECT_EQ(hasher.FinalHex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, SingleBitFlipChangesDigest) {
  std::string message = "abc";
  message[1] ^= 0x01;
  EXPECT_NE(Sha256Hex(message),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256HexOfFileTest, MissingFileIsNotFoundAndNamesPath) {
  const std::string path = ::testing::TempDir() + "/definitely/not/here.yaml";
  absl::StatusOr<std::string> hex = Sha256HexOfFile(path);
  EXPECT_EQ(hex.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(hex.status().message(), HasSubstr(path));
}

}  // namespace
}  // namespace cohort::crypto
