#include "crypto/prg.h"

#include <openssl/evp.h>

#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::crypto {
namespace {

using ::testing::Each;
using ::testing::Lt;

using Block = std::array<uint8_t, 16>;

SecretData SeedFromHex(absl::string_view hex) {
  return SecretData::FromBytes(absl::HexStringToBytes(hex));
}

SecretData SeedFromInt(uint64_t n) {
  std::string bytes(kPrgSeedSize, '\0');
  std::memcpy(bytes.data(), &n, sizeof(n));
  bytes[15] = 0x5a;
  return SecretData::FromBytes(bytes);
}

std::unique_ptr<AesCtrPrg> MakePrg(const SecretData& seed) {
  auto prg = AesCtrPrg::New(seed);
  EXPECT_TRUE(prg.ok()) << prg.status();
  return prg.ok() ? *std::move(prg) : nullptr;
}

uint64_t LowBitsMask(int bits) { return bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1; }

// Independent reference: AES-128 of one block with ECB (no chaining, no
// padding), i.e. the raw block cipher.
Block AesBlock(const SecretData& key, const Block& in) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                     &EVP_CIPHER_CTX_free);
  Block out{};
  int len = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_ecb(), nullptr, key.data(), nullptr), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_set_padding(ctx.get(), 0), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx.get(), out.data(), &len, in.data(), in.size()), 1);
  EXPECT_EQ(len, 16);
  return out;
}

// Big-endian increment of a 128-bit counter block (SP 800-38A, B.1).
void Increment(Block& counter) {
  for (int i = 15; i >= 0; --i) {
    if (++counter[i] != 0) break;
  }
}

// CTR keystream from the raw block cipher: E_K(c), E_K(c+1), ...
std::vector<uint8_t> ReferenceKeystream(const SecretData& key, Block counter, size_t bytes) {
  std::vector<uint8_t> stream;
  while (stream.size() < bytes) {
    const Block block = AesBlock(key, counter);
    stream.insert(stream.end(), block.begin(), block.end());
    Increment(counter);
  }
  stream.resize(bytes);
  return stream;
}

// The element layout AesCtrPrg promises: little-endian 4-byte words when
// bits <= 32, 8-byte words otherwise, masked to the low `bits` bits.
std::vector<uint64_t> ReferenceElements(const SecretData& seed, size_t n, int bits) {
  const size_t width = bits <= 32 ? 4 : 8;
  const std::vector<uint8_t> stream = ReferenceKeystream(seed, Block{}, n * width);
  std::vector<uint64_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t v = 0;
    for (size_t b = 0; b < width; ++b) v |= uint64_t{stream[i * width + b]} << (8 * b);
    out[i] = v & LowBitsMask(bits);
  }
  return out;
}

TEST(AesCtrPrgTest, RejectsSeedOfWrongSize) {
  for (size_t size : {0, 15, 17, 32}) {
    auto prg = AesCtrPrg::New(SecretData(size));
    EXPECT_EQ(prg.status().code(), absl::StatusCode::kInvalidArgument) << "size " << size;
  }
}

TEST(AesCtrPrgTest, RejectsBitsOutOfRange) {
  auto prg = MakePrg(SeedFromInt(1));
  std::vector<uint64_t> out(4);
  for (int bits : {-1, 0, 65}) {
    EXPECT_EQ(prg->Expand(absl::MakeSpan(out), bits).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(prg->AddMask(absl::MakeSpan(out), bits, false).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// SP 800-38A F.5.1 (CTR-AES128.Encrypt) checks the reference construction
// (raw AES + big-endian counter) that the PRG is compared with below.
TEST(AesCtrPrgTest, ReferenceKeystreamMatchesNistSp80038aF51) {
  const SecretData key = SeedFromHex("2b7e151628aed2a6abf7158809cf4f3c");
  Block counter;
  const std::string iv = absl::HexStringToBytes("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  std::memcpy(counter.data(), iv.data(), 16);
  const std::string plaintext = absl::HexStringToBytes(
      "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
      "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
  const std::vector<uint8_t> stream = ReferenceKeystream(key, counter, plaintext.size());
  std::string ciphertext(plaintext.size(), '\0');
  for (size_t i = 0; i < plaintext.size(); ++i) {
    ciphertext[i] = static_cast<char>(plaintext[i] ^ stream[i]);
  }
  EXPECT_EQ(absl::BytesToHexString(ciphertext),
            "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
            "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee");
}

// Known answer: with a zero IV the first keystream block is AES_K(0^128).
TEST(AesCtrPrgTest, FirstKeystreamBlockIsAesOfZeroBlock) {
  const SecretData seed = SeedFromHex("2b7e151628aed2a6abf7158809cf4f3c");
  const Block expected = AesBlock(seed, Block{});
  auto prg = MakePrg(seed);
  std::vector<uint64_t> out(2);
  ASSERT_TRUE(prg->Expand(absl::MakeSpan(out), 64).ok());
  Block actual;
  std::memcpy(actual.data(), out.data(), 16);  // little-endian host, as the PRG requires
  EXPECT_EQ(actual, expected);
}

// The whole stream, across several internal chunks and for both element
// widths, equals the reference CTR keystream cut into words.
TEST(AesCtrPrgTest, ExpandMatchesReferenceCtrKeystream) {
  const SecretData seed = SeedFromHex("000102030405060708090a0b0c0d0e0f");
  for (int bits : {1, 8, 31, 32, 33, 63, 64}) {
    auto prg = MakePrg(seed);
    std::vector<uint64_t> out(20011);
    ASSERT_TRUE(prg->Expand(absl::MakeSpan(out), bits).ok());
    EXPECT_EQ(out, ReferenceElements(seed, out.size(), bits)) << "bits " << bits;
  }
}

TEST(AesCtrPrgTest, SameSeedGivesSameStreamRegardlessOfCallSizes) {
  const SecretData seed = SeedFromInt(42);
  for (int bits : {32, 64}) {
    auto whole = MakePrg(seed);
    std::vector<uint64_t> expected(30000);
    ASSERT_TRUE(whole->Expand(absl::MakeSpan(expected), bits).ok());

    auto pieces = MakePrg(seed);
    std::vector<uint64_t> actual(expected.size());
    size_t offset = 0;
    for (size_t piece : {1, 3, 4095, 4097, 8192, 13612}) {
      ASSERT_TRUE(pieces->Expand(absl::MakeSpan(actual).subspan(offset, piece), bits).ok());
      offset += piece;
    }
    ASSERT_EQ(offset, actual.size());
    EXPECT_EQ(actual, expected) << "bits " << bits;
  }
}

TEST(AesCtrPrgTest, DifferentSeedsGiveDifferentStreams) {
  std::vector<uint64_t> a(1000), b(1000);
  ASSERT_TRUE(MakePrg(SeedFromInt(1))->Expand(absl::MakeSpan(a), 64).ok());
  ASSERT_TRUE(MakePrg(SeedFromInt(2))->Expand(absl::MakeSpan(b), 64).ok());
  size_t equal = 0;
  for (size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i];
  EXPECT_EQ(equal, 0u);
}

TEST(AesCtrPrgTest, EmptyOutputIsFine) {
  auto prg = MakePrg(SeedFromInt(3));
  EXPECT_TRUE(prg->Expand({}, 32).ok());
  EXPECT_TRUE(prg->AddMask({}, 32, false).ok());
}

class AesCtrPrgBitsTest : public ::testing::TestWithParam<int> {};

TEST_P(AesCtrPrgBitsTest, ValuesAreBelowModulusAndUseTheTopBit) {
  const int bits = GetParam();
  auto prg = MakePrg(SeedFromInt(7));
  std::vector<uint64_t> out(10000);
  ASSERT_TRUE(prg->Expand(absl::MakeSpan(out), bits).ok());
  if (bits < 64) {
    EXPECT_THAT(out, Each(Lt(uint64_t{1} << bits)));
  }
  // The top bit (and hence the full width) must be in use: about half the
  // values have it set.
  const uint64_t top = uint64_t{1} << (bits - 1);
  size_t with_top = 0;
  for (uint64_t v : out) with_top += (v & top) != 0;
  EXPECT_GT(with_top, 4500u);
  EXPECT_LT(with_top, 5500u);
}

TEST_P(AesCtrPrgBitsTest, AddMaskOnZerosEqualsExpand) {
  const int bits = GetParam();
  const SecretData seed = SeedFromInt(11);
  std::vector<uint64_t> expanded(9000), added(9000, 0);
  ASSERT_TRUE(MakePrg(seed)->Expand(absl::MakeSpan(expanded), bits).ok());
  ASSERT_TRUE(MakePrg(seed)->AddMask(absl::MakeSpan(added), bits, false).ok());
  EXPECT_EQ(added, expanded);
}

TEST_P(AesCtrPrgBitsTest, AddMaskIsAdditionModTwoToTheBits) {
  const int bits = GetParam();
  const uint64_t mask = LowBitsMask(bits);
  const SecretData seed = SeedFromInt(13);
  std::mt19937_64 gen(bits);
  std::vector<uint64_t> x(9000);
  for (uint64_t& v : x) v = gen() & mask;
  std::vector<uint64_t> m(x.size());
  ASSERT_TRUE(MakePrg(seed)->Expand(absl::MakeSpan(m), bits).ok());

  std::vector<uint64_t> plus = x, minus = x;
  ASSERT_TRUE(MakePrg(seed)->AddMask(absl::MakeSpan(plus), bits, false).ok());
  ASSERT_TRUE(MakePrg(seed)->AddMask(absl::MakeSpan(minus), bits, true).ok());
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(plus[i], (x[i] + m[i]) & mask) << i;
    ASSERT_EQ(minus[i], (x[i] - m[i]) & mask) << i;
  }
}

TEST_P(AesCtrPrgBitsTest, MaskThenUnmaskRestoresInput) {
  const int bits = GetParam();
  const uint64_t mask = LowBitsMask(bits);
  const SecretData seed = SeedFromInt(17);
  std::mt19937_64 gen(bits + 100);
  std::vector<uint64_t> x(12345);
  for (uint64_t& v : x) v = gen() & mask;

  std::vector<uint64_t> y = x;
  ASSERT_TRUE(MakePrg(seed)->AddMask(absl::MakeSpan(y), bits, false).ok());
  EXPECT_NE(y, x);
  ASSERT_TRUE(MakePrg(seed)->AddMask(absl::MakeSpan(y), bits, true).ok());
  EXPECT_EQ(y, x);
}

INSTANTIATE_TEST_SUITE_P(Bits, AesCtrPrgBitsTest, ::testing::Values(1, 8, 31, 32, 33, 63, 64));

// --- MaskAccumulator: the blocked unmasking pass.

// Packs values (each < 2^bits, or not, as given) little-endian in
// ceil(bits/8) bytes each, as secagg::PackValues does.
std::string Pack(const std::vector<uint64_t>& values, int bits) {
  const size_t width = (static_cast<size_t>(bits) + 7) / 8;
  std::string out;
  for (uint64_t v : values) {
    for (size_t b = 0; b < width; ++b) out.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
  }
  return out;
}

std::unique_ptr<MaskAccumulator> MakeAccumulator(size_t length, int bits) {
  auto acc = MaskAccumulator::New(length, bits);
  EXPECT_TRUE(acc.ok()) << acc.status();
  return acc.ok() ? *std::move(acc) : nullptr;
}

struct AccumulatorCase {
  int bits;
  size_t length;  // spans several blocks and ends in a partial one
  int inputs;
  int masks;
};

class MaskAccumulatorShapeTest : public ::testing::TestWithParam<AccumulatorCase> {};

// The blocked pass gives exactly what the sequential one does: the inputs
// summed, then one AesCtrPrg::AddMask pass per seed over the whole vector.
TEST_P(MaskAccumulatorShapeTest, EqualsSequentialAddMask) {
  const AccumulatorCase& c = GetParam();
  const uint64_t mask = LowBitsMask(c.bits);
  std::mt19937_64 gen(c.bits * 1000 + c.length);
  std::vector<std::string> packed;
  std::vector<uint64_t> expected(c.length, 0);
  for (int i = 0; i < c.inputs; ++i) {
    std::vector<uint64_t> x(c.length);
    for (uint64_t& v : x) v = gen() & mask;
    for (size_t k = 0; k < c.length; ++k) expected[k] = (expected[k] + x[k]) & mask;
    packed.push_back(Pack(x, c.bits));
  }
  auto acc = MakeAccumulator(c.length, c.bits);
  ASSERT_NE(acc, nullptr);
  for (const std::string& p : packed) ASSERT_TRUE(acc->AddPacked(p).ok());
  for (int j = 0; j < c.masks; ++j) {
    const SecretData seed = SeedFromInt(1000 + j);
    const bool subtract = gen() % 2 == 0;
    ASSERT_TRUE(MakePrg(seed)->AddMask(absl::MakeSpan(expected), c.bits, subtract).ok());
    ASSERT_TRUE(acc->AddMask(seed, subtract).ok());
  }
  absl::StatusOr<std::vector<uint64_t>> sum = acc->Sum();
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MaskAccumulatorShapeTest,
    ::testing::Values(AccumulatorCase{1, 5000, 3, 2}, AccumulatorCase{8, 9000, 2, 3},
                      AccumulatorCase{16, 4096, 2, 2}, AccumulatorCase{20, 4097, 3, 1},
                      AccumulatorCase{31, 12289, 4, 5}, AccumulatorCase{32, 10007, 5, 7},
                      AccumulatorCase{32, 1, 2, 2}, AccumulatorCase{33, 6000, 3, 3},
                      AccumulatorCase{40, 2048, 2, 2}, AccumulatorCase{48, 2049, 2, 2},
                      AccumulatorCase{56, 3000, 2, 2}, AccumulatorCase{63, 7001, 3, 4},
                      AccumulatorCase{64, 5003, 4, 4}, AccumulatorCase{32, 3000, 0, 3},
                      AccumulatorCase{64, 3000, 3, 0}),
    [](const ::testing::TestParamInfo<AccumulatorCase>& info) {
      return absl::StrCat("bits", info.param.bits, "_len", info.param.length, "_in",
                          info.param.inputs, "_masks", info.param.masks);
    });

// Independently of AddMask: one mask over no input is the reference CTR
// keystream cut into words (and its negation mod 2^bits when subtracted).
TEST(MaskAccumulatorTest, SingleMaskIsTheReferenceKeystream) {
  const SecretData seed = SeedFromHex("000102030405060708090a0b0c0d0e0f");
  for (int bits : {8, 32, 33, 64}) {
    const std::vector<uint64_t> reference = ReferenceElements(seed, 9001, bits);
    auto plus = MakeAccumulator(reference.size(), bits);
    auto minus = MakeAccumulator(reference.size(), bits);
    ASSERT_TRUE(plus->AddMask(seed, false).ok());
    ASSERT_TRUE(minus->AddMask(seed, true).ok());
    EXPECT_EQ(plus->Sum().value(), reference) << "bits " << bits;
    std::vector<uint64_t> negated = reference;
    for (uint64_t& v : negated) v = (0 - v) & LowBitsMask(bits);
    EXPECT_EQ(minus->Sum().value(), negated) << "bits " << bits;
  }
}

TEST(MaskAccumulatorTest, OppositeMasksCancelToThePlainSum) {
  std::vector<uint64_t> a(7000), b(7000), expected(7000);
  std::mt19937_64 gen(5);
  for (size_t k = 0; k < a.size(); ++k) {
    a[k] = gen() & 0xffffffff;
    b[k] = gen() & 0xffffffff;
    expected[k] = (a[k] + b[k]) & 0xffffffff;
  }
  const std::string pa = Pack(a, 32), pb = Pack(b, 32);
  auto acc = MakeAccumulator(a.size(), 32);
  ASSERT_TRUE(acc->AddPacked(pa).ok());
  ASSERT_TRUE(acc->AddMask(SeedFromInt(9), false).ok());
  ASSERT_TRUE(acc->AddPacked(pb).ok());
  ASSERT_TRUE(acc->AddMask(SeedFromInt(9), true).ok());
  EXPECT_EQ(acc->Sum().value(), expected);
}

TEST(MaskAccumulatorTest, BitsAboveTheModulusInPackedValuesAreReducedAway) {
  // bits = 12 packs into 2 bytes; the top 4 bits of each word are ignored.
  auto acc = MakeAccumulator(3, 12);
  const std::string packed = Pack({0xffff, 0x1001, 0xf000}, 12);
  ASSERT_TRUE(acc->AddPacked(packed).ok());
  ASSERT_TRUE(acc->AddPacked(packed).ok());
  EXPECT_EQ(acc->Sum().value(), (std::vector<uint64_t>{0xffe, 0x002, 0x000}));
}

TEST(MaskAccumulatorTest, NothingAddedIsZeroAndEmptyIsFine) {
  EXPECT_EQ(MakeAccumulator(5, 32)->Sum().value(), std::vector<uint64_t>(5, 0));
  auto empty = MakeAccumulator(0, 64);
  ASSERT_TRUE(empty->AddPacked("").ok());
  ASSERT_TRUE(empty->AddMask(SeedFromInt(1), false).ok());
  EXPECT_THAT(empty->Sum().value(), ::testing::IsEmpty());
}

TEST(MaskAccumulatorTest, RejectsBadArguments) {
  for (int bits : {-1, 0, 65}) {
    EXPECT_EQ(MaskAccumulator::New(4, bits).status().code(), absl::StatusCode::kInvalidArgument);
  }
  auto acc = MakeAccumulator(4, 32);
  EXPECT_EQ(acc->AddPacked(std::string(15, 'x')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(acc->AddPacked(std::string(17, 'x')).code(), absl::StatusCode::kInvalidArgument);
  auto wide = MakeAccumulator(4, 33);  // 5 bytes per value
  EXPECT_EQ(wide->AddPacked(std::string(16, 'x')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(wide->AddPacked(std::string(20, 'x')).ok());
  for (size_t size : {0, 15, 17, 32}) {
    EXPECT_EQ(acc->AddMask(SecretData(size), false).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(MaskAccumulatorTest, SumOnlyOnce) {
  auto acc = MakeAccumulator(4, 32);
  ASSERT_TRUE(acc->AddMask(SeedFromInt(1), false).ok());
  ASSERT_TRUE(acc->Sum().ok());
  EXPECT_EQ(acc->Sum().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(acc->AddMask(SeedFromInt(2), false).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(acc->AddPacked(std::string(16, 'x')).code(), absl::StatusCode::kFailedPrecondition);
}

// Chi-square goodness of fit of 10^6 byte values to the uniform distribution
// on 256 bins. The statistic has 255 degrees of freedom; the acceptance band
// is the two-sided 1e-6 tail by the Wilson-Hilferty approximation, so a
// biased generator (too large) or an over-regular one (too small) fails. The
// seed is fixed, so the test is deterministic.
TEST(AesCtrPrgTest, ByteValuesPassChiSquareUniformity) {
  constexpr int kBins = 256;
  constexpr size_t kSamples = 1000000;
  auto prg = MakePrg(SeedFromInt(2024));
  std::vector<uint64_t> out(kSamples);
  ASSERT_TRUE(prg->Expand(absl::MakeSpan(out), 8).ok());
  std::vector<double> counts(kBins, 0);
  for (uint64_t v : out) {
    ASSERT_LT(v, uint64_t{kBins});
    counts[v] += 1;
  }
  const double expected = static_cast<double>(kSamples) / kBins;
  double chi2 = 0;
  for (double c : counts) chi2 += (c - expected) * (c - expected) / expected;

  const double k = kBins - 1;
  const double z = 4.75;  // two-sided 1e-6 quantile of N(0,1), to two digits
  auto quantile = [k](double z_score) {
    const double a = 2.0 / (9.0 * k);
    return k * std::pow(1.0 - a + z_score * std::sqrt(a), 3);
  };
  EXPECT_GT(chi2, quantile(-z));
  EXPECT_LT(chi2, quantile(z));
}

}  // namespace
}  // namespace cohort::crypto
