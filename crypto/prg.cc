#include "crypto/prg.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "crypto/openssl_ptr.h"

namespace cohort::crypto {
namespace {

// The keystream is read as little-endian words; every site must agree on the
// byte order for pairwise masks to cancel, so refuse to build elsewhere
// rather than silently disagree.
static_assert(std::endian::native == std::endian::little,
              "AesCtrPrg reads keystream words in little-endian order");

using EvpCipherCtxPtr =
    std::unique_ptr<EVP_CIPHER_CTX, OpenSslDeleter<EVP_CIPHER_CTX_free>>;

// Keystream is produced by encrypting zeros; one block of this many bytes per
// EVP_EncryptUpdate call (large enough to amortise the call, small enough to
// stay in L1/L2 alongside the output).
constexpr size_t kChunkBytes = 16 * 1024;
constexpr uint8_t kZeros[kChunkBytes] = {};

uint64_t LowBitsMask(int bits) {
  return bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
}

absl::Status CheckBits(int bits) {
  if (bits < 1 || bits > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("PRG modulus bits must be in [1, 64], got ", bits));
  }
  return absl::OkStatus();
}

// AES-128-CTR keyed by `seed`, counter block starting at zero.
absl::StatusOr<EvpCipherCtxPtr> NewCtrContext(const SecretData& seed) {
  if (seed.size() != kPrgSeedSize) {
    return absl::InvalidArgumentError(absl::StrCat("PRG seed must be ", kPrgSeedSize,
                                                   " bytes, got ", seed.size()));
  }
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) {
    return absl::InternalError(
        absl::StrCat("EVP_CIPHER_CTX_new failed: ", ConsumeOpenSslErrors()));
  }
  const std::array<uint8_t, 16> zero_iv{};
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_ctr(), nullptr, seed.data(), zero_iv.data()) !=
      1) {
    return absl::InternalError(
        absl::StrCat("AES-128-CTR init failed: ", ConsumeOpenSslErrors()));
  }
  return ctx;
}

// Writes the next `len` (<= kChunkBytes) keystream bytes of `ctx` to `dst`.
absl::Status CtrKeystream(EVP_CIPHER_CTX* ctx, uint8_t* dst, size_t len) {
  int out_len = 0;
  if (EVP_EncryptUpdate(ctx, dst, &out_len, kZeros, static_cast<int>(len)) != 1 ||
      static_cast<size_t>(out_len) != len) {
    return absl::InternalError(
        absl::StrCat("AES-128-CTR keystream failed: ", ConsumeOpenSslErrors()));
  }
  return absl::OkStatus();
}

}  // namespace

class AesCtrPrg::Impl {
 public:
  explicit Impl(EvpCipherCtxPtr ctx) : ctx_(std::move(ctx)) {}
  ~Impl() { OPENSSL_cleanse(buffer_.data(), buffer_.size()); }

  // Writes the next `len` (<= kChunkBytes) keystream bytes to `dst`.
  absl::Status Keystream(uint8_t* dst, size_t len) {
    return CtrKeystream(ctx_.get(), dst, len);
  }

  absl::Status Expand(absl::Span<uint64_t> out, int bits) {
    const uint64_t mask = LowBitsMask(bits);
    if (bits > 32) {
      // 8 keystream bytes per element: encrypt straight into the output.
      constexpr size_t kWords = kChunkBytes / sizeof(uint64_t);
      for (size_t i = 0; i < out.size(); i += kWords) {
        const size_t n = std::min(kWords, out.size() - i);
        uint64_t* words = out.data() + i;
        RETURN_IF_ERROR(Keystream(reinterpret_cast<uint8_t*>(words), n * sizeof(uint64_t)));
        if (bits < 64) MaskInPlace(words, n, mask);
      }
      return absl::OkStatus();
    }
    // 4 keystream bytes per element: keystream goes to an L1-resident buffer
    // and is widened into the output.
    constexpr size_t kWords = kChunkBytes / sizeof(uint32_t);
    for (size_t i = 0; i < out.size(); i += kWords) {
      const size_t n = std::min(kWords, out.size() - i);
      RETURN_IF_ERROR(Keystream(buffer_.data(), n * sizeof(uint32_t)));
      CombineWords<uint32_t>(buffer_.data(), out.data() + i, n,
                             [mask](uint64_t, uint64_t w) { return w & mask; });
    }
    return absl::OkStatus();
  }

  absl::Status AddMask(absl::Span<uint64_t> out, int bits, bool subtract) {
    return bits > 32 ? AddMaskWith<uint64_t>(out, bits, subtract)
                     : AddMaskWith<uint32_t>(out, bits, subtract);
  }

 private:
  // Element loops run in blocks of kLanes with a compile-time trip count,
  // which GCC vectorises at -O2 (its "very cheap" cost model refuses loops
  // that need a runtime trip count); without this the per-element pass costs
  // a third of the AES time.
  static constexpr size_t kLanes = 8;

  static void MaskInPlace(uint64_t* words, size_t n, uint64_t mask) {
    size_t j = 0;
    for (; j + kLanes <= n; j += kLanes) {
      for (size_t k = 0; k < kLanes; ++k) words[j + k] &= mask;
    }
    for (; j < n; ++j) words[j] &= mask;
  }

  // dst[j] = op(dst[j], keystream word j), keystream words of type Word read
  // little-endian from `src` (which does not overlap `dst`).
  template <typename Word, typename Op>
  static void CombineWords(const uint8_t* __restrict src, uint64_t* __restrict dst, size_t n,
                           Op op) {
    auto word = [src](size_t j) {
      Word w;
      std::memcpy(&w, src + j * sizeof(Word), sizeof(Word));
      return uint64_t{w};
    };
    size_t j = 0;
    for (; j + kLanes <= n; j += kLanes) {
      for (size_t k = 0; k < kLanes; ++k) dst[j + k] = op(dst[j + k], word(j + k));
    }
    for (; j < n; ++j) dst[j] = op(dst[j], word(j));
  }

  template <typename Word>
  absl::Status AddMaskWith(absl::Span<uint64_t> out, int bits, bool subtract) {
    const uint64_t mask = LowBitsMask(bits);
    constexpr size_t kWords = kChunkBytes / sizeof(Word);
    for (size_t i = 0; i < out.size(); i += kWords) {
      const size_t n = std::min(kWords, out.size() - i);
      RETURN_IF_ERROR(Keystream(buffer_.data(), n * sizeof(Word)));
      if (subtract) {
        CombineWords<Word>(buffer_.data(), out.data() + i, n,
                           [mask](uint64_t x, uint64_t w) { return (x - (w & mask)) & mask; });
      } else {
        CombineWords<Word>(buffer_.data(), out.data() + i, n,
                           [mask](uint64_t x, uint64_t w) { return (x + (w & mask)) & mask; });
      }
    }
    return absl::OkStatus();
  }

  EvpCipherCtxPtr ctx_;
  // Keystream staging for 4-byte elements and for AddMask, which cannot
  // write keystream into the caller's vector.
  alignas(64) std::array<uint8_t, kChunkBytes> buffer_{};
};

absl::StatusOr<std::unique_ptr<AesCtrPrg>> AesCtrPrg::New(const SecretData& seed) {
  ASSIGN_OR_RETURN(EvpCipherCtxPtr ctx, NewCtrContext(seed));
  return std::unique_ptr<AesCtrPrg>(new AesCtrPrg(std::make_unique<Impl>(std::move(ctx))));
}

AesCtrPrg::AesCtrPrg(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AesCtrPrg::~AesCtrPrg() = default;

absl::Status AesCtrPrg::Expand(absl::Span<uint64_t> out, int bits) {
  RETURN_IF_ERROR(CheckBits(bits));
  return impl_->Expand(out, bits);
}

absl::Status AesCtrPrg::AddMask(absl::Span<uint64_t> out, int bits, bool subtract) {
  RETURN_IF_ERROR(CheckBits(bits));
  return impl_->AddMask(out, bits, subtract);
}

// ------------------------------------------------------------ MaskAccumulator

class MaskAccumulator::Impl {
 public:
  Impl(size_t length, int bits)
      : length_(length),
        bits_(bits),
        width_((static_cast<size_t>(bits) + 7) / 8),
        mask_(LowBitsMask(bits)) {}
  size_t length() const { return length_; }
  int bits() const { return bits_; }

  absl::Status AddPacked(absl::string_view packed) {
    RETURN_IF_ERROR(CheckOpen());
    if (packed.size() / width_ != length_ || packed.size() % width_ != 0) {
      return absl::InvalidArgumentError(absl::StrCat("packed vector holds ", packed.size(),
                                                     " bytes, expected ", length_ * width_));
    }
    packed_.push_back(packed);
    return absl::OkStatus();
  }

  absl::Status AddMask(const SecretData& seed, bool subtract) {
    RETURN_IF_ERROR(CheckOpen());
    ASSIGN_OR_RETURN(EvpCipherCtxPtr ctx, NewCtrContext(seed));
    masks_.push_back(Mask{std::move(ctx), subtract});
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<uint64_t>> Sum() {
    RETURN_IF_ERROR(CheckOpen());
    done_ = true;
    absl::StatusOr<std::vector<uint64_t>> sum =
        bits_ > 32 ? Run<uint64_t>() : Run<uint32_t>();
    masks_.clear();  // frees (and cleanses) the expanded keys now
    packed_.clear();
    return sum;
  }

 private:
  struct Mask {
    EvpCipherCtxPtr ctx;
    bool subtract;
  };

  // Values per block: one keystream chunk (16 KiB) of Word-sized elements,
  // the element size AesCtrPrg uses. The block sum and the keystream
  // together take 32 KiB and stay in L1/L2 while every input and mask passes
  // over them.
  template <typename Word>
  static constexpr size_t kBlockValues = kChunkBytes / sizeof(Word);

  absl::Status CheckOpen() const {
    if (done_) return absl::FailedPreconditionError("MaskAccumulator: Sum() was already called");
    return absl::OkStatus();
  }

  // acc[k] += value k of packed words of `Width` bytes at `src`.
  template <typename Word, size_t Width>
  static void AddPackedBlock(const char* __restrict src, Word* __restrict acc, size_t n) {
    static_assert(Width <= sizeof(Word));
    for (size_t k = 0; k < n; ++k) {
      Word v = 0;
      std::memcpy(&v, src + k * Width, Width);  // little-endian host (static_assert above)
      acc[k] += v;
    }
  }

  template <typename Word>
  void AddPacked(const char* src, Word* acc, size_t n) const {
    if constexpr (sizeof(Word) == 4) {
      switch (width_) {
        case 1: return AddPackedBlock<Word, 1>(src, acc, n);
        case 2: return AddPackedBlock<Word, 2>(src, acc, n);
        case 3: return AddPackedBlock<Word, 3>(src, acc, n);
        default: return AddPackedBlock<Word, 4>(src, acc, n);
      }
    } else {
      switch (width_) {
        case 5: return AddPackedBlock<Word, 5>(src, acc, n);
        case 6: return AddPackedBlock<Word, 6>(src, acc, n);
        case 7: return AddPackedBlock<Word, 7>(src, acc, n);
        default: return AddPackedBlock<Word, 8>(src, acc, n);
      }
    }
  }

  // acc[k] +=/-= keystream word k. Unmasked words: the sum is reduced mod
  // 2^bits once, at the end, which gives the same result.
  template <typename Word>
  static void CombineKeystream(const Word* __restrict keystream, Word* __restrict acc, size_t n,
                               bool subtract) {
    if (subtract) {
      for (size_t k = 0; k < n; ++k) acc[k] -= keystream[k];
    } else {
      for (size_t k = 0; k < n; ++k) acc[k] += keystream[k];
    }
  }

  template <typename Word>
  absl::StatusOr<std::vector<uint64_t>> Run() {
    constexpr size_t kBlock = kBlockValues<Word>;
    // The block's running sum, and one mask's keystream for the block.
    std::vector<Word> acc(kBlock), keystream(kBlock);
    absl::Cleanup wipe = [&] {
      OPENSSL_cleanse(acc.data(), acc.size() * sizeof(Word));
      OPENSSL_cleanse(keystream.data(), keystream.size() * sizeof(Word));
    };
    std::vector<uint64_t> out(length_);
    for (size_t start = 0; start < length_; start += kBlock) {
      const size_t n = std::min(kBlock, length_ - start);
      std::fill_n(acc.data(), n, Word{0});
      for (absl::string_view packed : packed_) {
        AddPacked<Word>(packed.data() + start * width_, acc.data(), n);
      }
      for (Mask& mask : masks_) {
        RETURN_IF_ERROR(CtrKeystream(mask.ctx.get(), reinterpret_cast<uint8_t*>(keystream.data()),
                                     n * sizeof(Word)));
        CombineKeystream<Word>(keystream.data(), acc.data(), n, mask.subtract);
      }
      uint64_t* dst = out.data() + start;
      for (size_t k = 0; k < n; ++k) dst[k] = uint64_t{acc[k]} & mask_;
    }
    return out;
  }

  const size_t length_;
  const int bits_;
  const size_t width_;  // bytes per packed value
  const uint64_t mask_;
  std::vector<absl::string_view> packed_;
  std::vector<Mask> masks_;
  bool done_ = false;
};

absl::StatusOr<std::unique_ptr<MaskAccumulator>> MaskAccumulator::New(size_t length, int bits) {
  RETURN_IF_ERROR(CheckBits(bits));
  return std::unique_ptr<MaskAccumulator>(
      new MaskAccumulator(std::make_unique<Impl>(length, bits)));
}

MaskAccumulator::MaskAccumulator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MaskAccumulator::~MaskAccumulator() = default;

absl::Status MaskAccumulator::AddPacked(absl::string_view packed) {
  return impl_->AddPacked(packed);
}

absl::Status MaskAccumulator::AddMask(const SecretData& seed, bool subtract) {
  return impl_->AddMask(seed, subtract);
}

absl::StatusOr<std::vector<uint64_t>> MaskAccumulator::Sum() { return impl_->Sum(); }

size_t MaskAccumulator::length() const { return impl_->length(); }
int MaskAccumulator::bits() const { return impl_->bits(); }

}  // namespace cohort::crypto
