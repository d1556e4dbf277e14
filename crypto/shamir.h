// Shamir t-of-n secret sharing (Shamir 1979) of byte strings over the prime
// field GF(2^61 - 1).
//
// A secret of L bytes is cut into 7-byte limbs; each limb is shared with its
// own random polynomial of degree t-1, so a share is one field element per
// limb, evaluated at the holder's x-coordinate (1..n, never 0).
//
// Security: any t shares determine the secret; any t-1 shares are consistent
// with every possible secret (information-theoretic), because the polynomial
// coefficients come from the injected SecurePrng uniformly over the field.
//
// Thread-safety: the functions are stateless; ShamirSplit uses `prng` as that
// generator's own thread-safety allows.
#ifndef COHORT_CRYPTO_SHAMIR_H_
#define COHORT_CRYPTO_SHAMIR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/random.h"
#include "crypto/secret_data.h"

namespace cohort::crypto {

inline constexpr uint64_t kShamirPrime = (uint64_t{1} << 61) - 1;

struct ShamirShare {
  uint32_t x = 0;                // holder's evaluation point, >= 1
  std::vector<uint64_t> values;  // one field element per 7-byte limb
};

// Shares `secret` among holders x = 1..n with threshold t.
// InvalidArgument unless 1 <= t <= n and the secret is non-empty.
absl::StatusOr<std::vector<ShamirShare>> ShamirSplit(const SecretData& secret, int t, int n,
                                                     SecurePrng& prng);

// Reconstructs a secret of `secret_size` bytes from at least t shares with
// distinct x (extra shares are ignored; the first t are used).
// InvalidArgument on fewer than t shares, duplicate or zero x, inconsistent
// lengths or values outside the field, and when a reconstructed limb does not
// fit its bytes (>= 2^56, or beyond secret_size in the last limb): the shares
// were tampered with or come from different sharings.
absl::StatusOr<SecretData> ShamirReconstruct(absl::Span<const ShamirShare> shares, int t,
                                             size_t secret_size);

// Field arithmetic, exposed for tests (e.g. to show t-1 shares fit any secret).
uint64_t FieldAdd(uint64_t a, uint64_t b);
uint64_t FieldSub(uint64_t a, uint64_t b);
uint64_t FieldMul(uint64_t a, uint64_t b);
uint64_t FieldInverse(uint64_t a);  // a != 0 (returns 0 for 0)

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_SHAMIR_H_
