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
//
// MaskAccumulator (below) is the coordinator's unmasking loop: the sum of many
// packed vectors plus and minus many masks, in one pass over the output.
#ifndef COHORT_CRYPTO_PRG_H_
#define COHORT_CRYPTO_PRG_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

// Computes  sum_i v_i + sum_j (+-) mask_j  mod 2^bits  over `length` values,
// where each v_i is a vector in fixed-width packed form and each mask_j is the
// AesCtrPrg stream of a seed, exactly as AesCtrPrg::AddMask adds it. This is
// what the secure-aggregation server does when it unmasks (crypto/secagg/
// server.cc, UnmaskState::Finish; docs/secure-aggregation-benchmarks.md).
//
// Why a class rather than repeated AddMask calls: a mask per call means one
// pass over the whole output per mask, and an output of 10^6 uint64 (8 MB)
// does not fit in L2, so every pass runs at DRAM speed. Sum() instead walks
// the output in blocks of a few thousand values that stay in L1: per block it
// adds every packed vector, then every mask, keeping one AES-CTR context per
// seed open across blocks, and writes the block out once. For bits <= 32 the
// block is summed in uint32 (wrapping mod 2^32, which 2^bits divides), so the
// additions run eight lanes wide.
//
// Packed form: value k occupies bytes [k*w, (k+1)*w) of the string, w =
// ceil(bits/8), little-endian (secagg::PackValues). Bits above `bits` are
// ignored (reduced away with the sum); callers that must reject them check
// before (secagg::CheckPackedValues).
//
// Security: holds one expanded AES key per mask until destroyed (EVP contexts
// are cleansed when freed) and wipes its keystream and sum buffers after Sum().
// The seeds themselves are not kept.
//
// Ownership and thread-safety: borrows the packed vectors (they must stay
// alive and unchanged until Sum() returns). Not thread-safe.
class MaskAccumulator {
 public:
  // An accumulator of `length` values mod 2^bits. InvalidArgument for bits
  // outside [1, 64].
  static absl::StatusOr<std::unique_ptr<MaskAccumulator>> New(size_t length, int bits);
  ~MaskAccumulator();
  MaskAccumulator(const MaskAccumulator&) = delete;
  MaskAccumulator& operator=(const MaskAccumulator&) = delete;

  // Adds a packed vector of `length` values (borrowed, see above).
  // InvalidArgument unless packed.size() == length * ceil(bits/8);
  // FailedPrecondition after Sum().
  absl::Status AddPacked(absl::string_view packed);
  // Adds (or, with `subtract`, subtracts) the first `length` values of the
  // AesCtrPrg stream of `seed`: the same values AesCtrPrg::New(seed) then
  // AddMask(out, bits, subtract) would add. InvalidArgument unless `seed` is
  // kPrgSeedSize bytes; Internal if OpenSSL fails; FailedPrecondition after
  // Sum().
  absl::Status AddMask(const SecretData& seed, bool subtract);

  // Runs the pass and returns the sum mod 2^bits (0 where nothing was
  // added). Once only: FailedPrecondition on a second call. Internal if
  // OpenSSL fails.
  absl::StatusOr<std::vector<uint64_t>> Sum();

  size_t length() const;
  int bits() const;

 private:
  class Impl;
  explicit MaskAccumulator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_PRG_H_
