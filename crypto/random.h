// Randomness, injected. Protocol code draws secrets from a SecurePrng it is
// given, never from RAND_bytes directly, so tests can replay a protocol run
// with a deterministic FakePrng.
//
// Thread-safety: OpenSslPrng is thread-safe (OpenSSL's DRBG is); FakePrng is
// not.
#ifndef COHORT_CRYPTO_RANDOM_H_
#define COHORT_CRYPTO_RANDOM_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/secret_data.h"

namespace cohort::crypto {

class SecurePrng {
 public:
  virtual ~SecurePrng() = default;
  // Fills `out` with random bytes. Internal if the generator fails.
  virtual absl::Status Fill(absl::Span<uint8_t> out) = 0;

  absl::StatusOr<SecretData> RandomSecret(size_t size);
  absl::StatusOr<uint64_t> RandomUint64();
};

// OpenSSL's CSPRNG (RAND_bytes).
class OpenSslPrng final : public SecurePrng {
 public:
  absl::Status Fill(absl::Span<uint8_t> out) override;
};

// Deterministic bytes from a seed, for tests only: AES-256-CTR keyed by the
// seed. NOT for production.
class FakePrng final : public SecurePrng {
 public:
  explicit FakePrng(uint64_t seed);
  ~FakePrng() override;
  absl::Status Fill(absl::Span<uint8_t> out) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_RANDOM_H_
