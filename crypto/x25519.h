// X25519 Diffie-Hellman (RFC 7748) on OpenSSL 3's EVP_PKEY API.
//
// Security: a shared secret that is all zeros (the peer sent a low-order
// point) is rejected, as RFC 7748 section 6.1 recommends. Private keys live
// in SecretData. Use HKDF on the shared secret before using it as a key.
#ifndef COHORT_CRYPTO_X25519_H_
#define COHORT_CRYPTO_X25519_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/random.h"
#include "crypto/secret_data.h"

namespace cohort::crypto {

inline constexpr size_t kX25519KeySize = 32;

class X25519PrivateKey {
 public:
  // A fresh key from `prng` (32 random bytes, clamped by X25519 itself).
  static absl::StatusOr<std::unique_ptr<X25519PrivateKey>> Generate(SecurePrng& prng);
  // From the 32-byte private scalar. InvalidArgument on a wrong size.
  static absl::StatusOr<std::unique_ptr<X25519PrivateKey>> FromBytes(const SecretData& key);
  ~X25519PrivateKey();

  // The 32-byte public key (u-coordinate).
  const std::string& public_key() const { return public_key_; }
  const SecretData& private_bytes() const { return private_bytes_; }

  // X25519(private, peer_public). InvalidArgument if the peer key is not 32
  // bytes or the result is all zeros.
  absl::StatusOr<SecretData> ComputeSharedSecret(absl::string_view peer_public_key) const;

 private:
  class Impl;
  X25519PrivateKey(std::unique_ptr<Impl> impl, SecretData private_bytes, std::string public_key);
  std::unique_ptr<Impl> impl_;
  SecretData private_bytes_;
  std::string public_key_;
};

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_X25519_H_
