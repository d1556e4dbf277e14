#include "crypto/x25519.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "crypto/openssl_ptr.h"

namespace cohort::crypto {
namespace {

using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpenSslDeleter<EVP_PKEY_CTX_free>>;

}  // namespace

class X25519PrivateKey::Impl {
 public:
  explicit Impl(EvpPkeyPtr key) : key_(std::move(key)) {}
  EVP_PKEY* key() const { return key_.get(); }

 private:
  EvpPkeyPtr key_;
};

X25519PrivateKey::X25519PrivateKey(std::unique_ptr<Impl> impl, SecretData private_bytes,
                                   std::string public_key)
    : impl_(std::move(impl)),
      private_bytes_(std::move(private_bytes)),
      public_key_(std::move(public_key)) {}

X25519PrivateKey::~X25519PrivateKey() = default;

absl::StatusOr<std::unique_ptr<X25519PrivateKey>> X25519PrivateKey::Generate(SecurePrng& prng) {
  ASSIGN_OR_RETURN(SecretData key, prng.RandomSecret(kX25519KeySize));
  return FromBytes(key);
}

absl::StatusOr<std::unique_ptr<X25519PrivateKey>> X25519PrivateKey::FromBytes(
    const SecretData& key) {
  if (key.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("X25519 private key must be ", kX25519KeySize, " bytes, got ", key.size()));
  }
  EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, key.data(), key.size()));
  if (pkey == nullptr) {
    return absl::InternalError(
        absl::StrCat("X25519 private key import failed: ", ConsumeOpenSslErrors()));
  }
  std::string public_key(kX25519KeySize, '\0');
  size_t public_len = public_key.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), reinterpret_cast<uint8_t*>(public_key.data()),
                                  &public_len) != 1 ||
      public_len != kX25519KeySize) {
    return absl::InternalError(
        absl::StrCat("X25519 public key derivation failed: ", ConsumeOpenSslErrors()));
  }
  return std::unique_ptr<X25519PrivateKey>(new X25519PrivateKey(
      std::make_unique<Impl>(std::move(pkey)), key.Copy(), std::move(public_key)));
}

absl::StatusOr<SecretData> X25519PrivateKey::ComputeSharedSecret(
    absl::string_view peer_public_key) const {
  if (peer_public_key.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "X25519 peer public key must be ", kX25519KeySize, " bytes, got ", peer_public_key.size()));
  }
  EvpPkeyPtr peer(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_X25519, nullptr, reinterpret_cast<const uint8_t*>(peer_public_key.data()),
      peer_public_key.size()));
  if (peer == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("X25519 peer public key rejected: ", ConsumeOpenSslErrors()));
  }
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(impl_->key(), nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1) {
    return absl::InternalError(
        absl::StrCat("X25519 derive setup failed: ", ConsumeOpenSslErrors()));
  }
  if (EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("X25519 peer public key rejected: ", ConsumeOpenSslErrors()));
  }
  SecretData shared(kX25519KeySize);
  size_t shared_len = shared.size();
  // OpenSSL itself fails the derivation when the result is all zeros, so a
  // failure here is (for a well-formed 32-byte key) a low-order peer point.
  if (EVP_PKEY_derive(ctx.get(), shared.data(), &shared_len) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "X25519 shared secret rejected (low-order peer public key?): ", ConsumeOpenSslErrors()));
  }
  if (shared_len != kX25519KeySize) {
    return absl::InternalError("X25519 derive returned a wrong-sized secret");
  }
  // RFC 7748 section 6.1: check for the all-zero value ourselves too, in
  // constant time, rather than rely on the library version's behaviour.
  static constexpr std::array<uint8_t, kX25519KeySize> kZeros{};
  if (CRYPTO_memcmp(shared.data(), kZeros.data(), kZeros.size()) == 0) {
    return absl::InvalidArgumentError(
        "X25519 shared secret is all zeros (low-order peer public key)");
  }
  return shared;
}

}  // namespace cohort::crypto
