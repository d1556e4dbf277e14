// A seeded pseudorandom generator for mask expansion: AES-128 in CTR mode
// keyed by a 16-byte seed, producing uniform integers mod 2^k.
//
// Security: the output is AES-CTR keystream, indistinguishable from random
// under the PRF assumption on AES. Because the modulus is a power of two,
// keeping the low k bits of a uniform word is exactly uniform: there is no
// modulo bias to correct. Each seed must be used for one vector only (a seed
// is derived per pair of sites and round).
//
// Throughput matters (the coordinator expands one mask per pair of sites):
// Expand fills the output with keystream directly (no intermediate copies),
// 4 bytes per element when k <= 32 and 8 when k > 32. Keystream words are
// read little-endian; consecutive calls continue the same stream.
//
// Thread-safety: not thread-safe (an instance is a position in one stream);
// use one instance per thread.
#ifndef COHORT_CRYPTO_PRG_H_
#define COHORT_CRYPTO_PRG_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/secret_data.h"

namespace cohort::crypto {

inline constexpr size_t kPrgSeedSize = 16;

class AesCtrPrg {
 public:
  // InvalidArgument unless `seed` is 16 bytes.
  static absl::StatusOr<std::unique_ptr<AesCtrPrg>> New(const SecretData& seed);
  ~AesCtrPrg();

  // Overwrites `out` with the next out.size() uniform integers mod 2^bits
  // (1 <= bits <= 64). InvalidArgument for bits outside [1, 64]; Internal if
  // OpenSSL fails.
  absl::Status Expand(absl::Span<uint64_t> out, int bits);
  // Adds (or subtracts) the next out.size() mask values to `out`, mod 2^bits:
  // the hot path of masking and unmasking, without a temporary vector.
  // Consumes the stream exactly as Expand does. Errors as Expand.
  absl::Status AddMask(absl::Span<uint64_t> out, int bits, bool subtract);

 private:
  class Impl;
  explicit AesCtrPrg(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_PRG_H_
