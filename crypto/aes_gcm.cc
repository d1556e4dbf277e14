#include "crypto/aes_gcm.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "crypto/openssl_ptr.h"

namespace cohort::crypto {
namespace {

using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, OpenSslDeleter<EVP_CIPHER_CTX_free>>;

constexpr size_t kKeySize = 32;
// EVP lengths are ints; longer inputs are fed in chunks (GCM is a stream).
constexpr size_t kMaxChunk = size_t{1} << 30;

const uint8_t* Bytes(absl::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

absl::Status OpenSslFailure(absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("AES-256-GCM ", what, " failed: ", ConsumeOpenSslErrors()));
}

// A context keyed with `key` and `nonce` for encryption or decryption.
absl::StatusOr<EvpCipherCtxPtr> NewContext(const SecretData& key, const uint8_t* nonce,
                                           bool encrypt) {
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return OpenSslFailure("context allocation");
  // The default GCM IV length is 12 bytes, which is kAesGcmNonceSize.
  if (EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce,
                        encrypt ? 1 : 0) != 1) {
    return OpenSslFailure("init");
  }
  return ctx;
}

// Feeds `in` through the context: as associated data when `out` is null,
// else as plaintext/ciphertext written to `out`.
absl::Status Update(EVP_CIPHER_CTX* ctx, absl::string_view in, uint8_t* out) {
  while (!in.empty()) {
    const size_t n = std::min(in.size(), kMaxChunk);
    int written = 0;
    if (EVP_CipherUpdate(ctx, out, &written, Bytes(in), static_cast<int>(n)) != 1 ||
        (out != nullptr && written != static_cast<int>(n))) {
      return OpenSslFailure("update");
    }
    in.remove_prefix(n);
    if (out != nullptr) out += n;
  }
  return absl::OkStatus();
}

}  // namespace

AesGcm::AesGcm(SecretData key) : key_(std::move(key)) {}

AesGcm::~AesGcm() = default;

absl::StatusOr<std::unique_ptr<AesGcm>> AesGcm::New(const SecretData& key) {
  if (key.size() != kKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM key must be ", kKeySize, " bytes, got ", key.size()));
  }
  return std::unique_ptr<AesGcm>(new AesGcm(key.Copy()));
}

absl::StatusOr<std::string> AesGcm::Encrypt(absl::string_view plaintext,
                                            absl::string_view associated_data,
                                            SecurePrng& prng) const {
  std::array<uint8_t, kAesGcmNonceSize> nonce;
  RETURN_IF_ERROR(prng.Fill(absl::MakeSpan(nonce)));
  return EncryptWithNonce(
      plaintext, associated_data,
      absl::string_view(reinterpret_cast<const char*>(nonce.data()), nonce.size()));
}

absl::StatusOr<std::string> AesGcm::EncryptWithNonce(absl::string_view plaintext,
                                                     absl::string_view associated_data,
                                                     absl::string_view nonce) const {
  if (nonce.size() != kAesGcmNonceSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM nonce must be ", kAesGcmNonceSize, " bytes, got ", nonce.size()));
  }
  ASSIGN_OR_RETURN(EvpCipherCtxPtr ctx, NewContext(key_, Bytes(nonce), /*encrypt=*/true));
  std::string out(kAesGcmNonceSize + plaintext.size() + kAesGcmTagSize, '\0');
  auto* out_bytes = reinterpret_cast<uint8_t*>(out.data());
  std::copy(nonce.begin(), nonce.end(), out.begin());
  RETURN_IF_ERROR(Update(ctx.get(), associated_data, nullptr));
  RETURN_IF_ERROR(Update(ctx.get(), plaintext, out_bytes + kAesGcmNonceSize));
  int final_len = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), out_bytes + kAesGcmNonceSize + plaintext.size(), &final_len) !=
          1 ||
      final_len != 0) {
    return OpenSslFailure("final");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAesGcmTagSize,
                          out_bytes + kAesGcmNonceSize + plaintext.size()) != 1) {
    return OpenSslFailure("tag");
  }
  return out;
}

absl::StatusOr<std::string> AesGcm::Decrypt(absl::string_view ciphertext,
                                            absl::string_view associated_data) const {
  if (ciphertext.size() < kAesGcmNonceSize + kAesGcmTagSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM ciphertext too short: ", ciphertext.size(),
                     " bytes, need at least ", kAesGcmNonceSize + kAesGcmTagSize));
  }
  const absl::string_view nonce = ciphertext.substr(0, kAesGcmNonceSize);
  const absl::string_view body =
      ciphertext.substr(kAesGcmNonceSize, ciphertext.size() - kAesGcmNonceSize - kAesGcmTagSize);
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer; hand it a copy.
  std::array<uint8_t, kAesGcmTagSize> tag;
  const absl::string_view tag_view = ciphertext.substr(ciphertext.size() - kAesGcmTagSize);
  std::copy(tag_view.begin(), tag_view.end(), tag.begin());

  ASSIGN_OR_RETURN(EvpCipherCtxPtr ctx, NewContext(key_, Bytes(nonce), /*encrypt=*/false));
  std::string plaintext(body.size(), '\0');
  auto* plaintext_bytes = reinterpret_cast<uint8_t*>(plaintext.data());
  RETURN_IF_ERROR(Update(ctx.get(), associated_data, nullptr));
  RETURN_IF_ERROR(Update(ctx.get(), body, plaintext_bytes));
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAesGcmTagSize, tag.data()) != 1) {
    return OpenSslFailure("set tag");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), plaintext_bytes + body.size(), &final_len) != 1) {
    // Never release unauthenticated plaintext, not even in freed memory.
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    ERR_clear_error();
    return absl::PermissionDeniedError("authentication failed");
  }
  return plaintext;
}

}  // namespace cohort::crypto
