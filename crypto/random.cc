#include "crypto/random.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "crypto/openssl_ptr.h"
#include "crypto/sha256.h"

namespace cohort::crypto {
namespace {

using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, OpenSslDeleter<EVP_CIPHER_CTX_free>>;

// OpenSSL's length parameters are ints; larger requests are served in chunks.
constexpr size_t kMaxChunk = size_t{1} << 30;

}  // namespace

absl::StatusOr<SecretData> SecurePrng::RandomSecret(size_t size) {
  SecretData out(size);
  RETURN_IF_ERROR(Fill(out.mutable_span()));
  return out;
}

absl::StatusOr<uint64_t> SecurePrng::RandomUint64() {
  std::array<uint8_t, 8> bytes;
  RETURN_IF_ERROR(Fill(absl::MakeSpan(bytes)));
  uint64_t value = 0;
  for (size_t i = 0; i < bytes.size(); ++i) value |= uint64_t{bytes[i]} << (8 * i);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return value;
}

absl::Status OpenSslPrng::Fill(absl::Span<uint8_t> out) {
  while (!out.empty()) {
    const size_t n = std::min(out.size(), kMaxChunk);
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
      return absl::InternalError(absl::StrCat("RAND_bytes failed: ", ConsumeOpenSslErrors()));
    }
    out.remove_prefix(n);
  }
  return absl::OkStatus();
}

// The keystream of AES-256-CTR under key SHA-256(seed as 8 little-endian
// bytes) and an all-zero initial counter block. A construction failure is
// remembered and reported by every Fill, since the constructor cannot fail.
class FakePrng::Impl {
 public:
  explicit Impl(uint64_t seed) {
    std::array<uint8_t, 8> seed_bytes;
    for (size_t i = 0; i < seed_bytes.size(); ++i) {
      seed_bytes[i] = static_cast<uint8_t>(seed >> (8 * i));
    }
    std::array<uint8_t, kSha256DigestSize> key = Sha256(
        absl::string_view(reinterpret_cast<const char*>(seed_bytes.data()), seed_bytes.size()));
    const std::array<uint8_t, 16> iv{};
    ctx_.reset(EVP_CIPHER_CTX_new());
    if (ctx_ == nullptr ||
        EVP_EncryptInit_ex(ctx_.get(), EVP_aes_256_ctr(), nullptr, key.data(), iv.data()) != 1) {
      status_ = absl::InternalError(
          absl::StrCat("FakePrng: AES-256-CTR setup failed: ", ConsumeOpenSslErrors()));
      ctx_.reset();
    }
    OPENSSL_cleanse(key.data(), key.size());
  }

  absl::Status Fill(absl::Span<uint8_t> out) {
    if (!status_.ok()) return status_;
    std::fill(out.begin(), out.end(), 0);
    while (!out.empty()) {
      const size_t n = std::min(out.size(), kMaxChunk);
      int written = 0;
      if (EVP_EncryptUpdate(ctx_.get(), out.data(), &written, out.data(), static_cast<int>(n)) !=
              1 ||
          written != static_cast<int>(n)) {
        return absl::InternalError(
            absl::StrCat("FakePrng: AES-256-CTR failed: ", ConsumeOpenSslErrors()));
      }
      out.remove_prefix(n);
    }
    return absl::OkStatus();
  }

 private:
  EvpCipherCtxPtr ctx_;
  absl::Status status_;
};

FakePrng::FakePrng(uint64_t seed) : impl_(std::make_unique<Impl>(seed)) {}

FakePrng::~FakePrng() = default;

absl::Status FakePrng::Fill(absl::Span<uint8_t> out) { return impl_->Fill(out); }

}  // namespace cohort::crypto
