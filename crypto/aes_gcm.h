// AES-256-GCM authenticated encryption with associated data, on OpenSSL 3's
// EVP API (the Tink Aead shape).
//
// Wire format of a ciphertext: 12-byte random nonce || ciphertext || 16-byte
// tag. Security: nonces are random (from the injected SecurePrng), so one key
// must not encrypt more than 2^32 messages; Cohort derives a fresh key per
// pair of sites and round, far below that. Decrypt authenticates the
// associated data too, which binds a ciphertext to its context (study, round,
// phase, sender, recipient).
#ifndef COHORT_CRYPTO_AES_GCM_H_
#define COHORT_CRYPTO_AES_GCM_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/random.h"
#include "crypto/secret_data.h"

namespace cohort::crypto {

inline constexpr size_t kAesGcmNonceSize = 12;
inline constexpr size_t kAesGcmTagSize = 16;

class AesGcm {
 public:
  // InvalidArgument unless `key` is 32 bytes.
  static absl::StatusOr<std::unique_ptr<AesGcm>> New(const SecretData& key);
  ~AesGcm();

  absl::StatusOr<std::string> Encrypt(absl::string_view plaintext,
                                      absl::string_view associated_data,
                                      SecurePrng& prng) const;
  // For known-answer tests: encrypt with an explicit nonce (never reuse one).
  absl::StatusOr<std::string> EncryptWithNonce(absl::string_view plaintext,
                                               absl::string_view associated_data,
                                               absl::string_view nonce) const;
  // InvalidArgument if too short; PermissionDenied("authentication failed")
  // if the tag does not verify (tampered ciphertext, nonce, tag or AD).
  absl::StatusOr<std::string> Decrypt(absl::string_view ciphertext,
                                      absl::string_view associated_data) const;

 private:
  explicit AesGcm(SecretData key);
  SecretData key_;
};

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_AES_GCM_H_
