// The validated parameters of one secure-aggregation session (a
// cohort.v1.SecAggContext), the neighbour graph derived from them, and every
// derivation that binds a key, signature or ciphertext to the session:
// study, round, attempt, phase and the digest of the whole context.
//
// Security: the context digest (SHA-256 of a Transcript of every context
// field) goes into every signature, associated data and HKDF salt, so a
// message or key from another study, round, attempt or parameter set, or
// from another phase, never verifies. See docs/secure-aggregation.md.
//
// Thread-safety: immutable after Create; shared (std::shared_ptr<const>)
// between a party's protocol states.
#ifndef COHORT_CRYPTO_SECAGG_ROUND_PARAMS_H_
#define COHORT_CRYPTO_SECAGG_ROUND_PARAMS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "cohort/v1/secagg.pb.h"
#include "common/util/logging.h"
#include "crypto/secagg/graph.h"
#include "crypto/secret_data.h"
#include "crypto/shamir.h"
#include "crypto/x25519.h"

namespace cohort::secagg {

inline constexpr size_t kMaskKeySize = 32;      // X25519 private scalar s_sk
inline constexpr size_t kSelfMaskSeedSize = 16;  // b, an AES-128-CTR PRG seed
inline constexpr int64_t kMaxVectorLength = int64_t{1} << 28;

// Field elements per Shamir share of a secret of `secret_size` bytes.
constexpr size_t ShareLimbs(size_t secret_size) { return (secret_size + 6) / 7; }

// SHA-256 (32 raw bytes) of the Transcript encoding of every context field.
std::string ContextDigest(const v1::SecAggContext& context);

// Fixed-width little-endian packing of values mod 2^bits (ceil(bits/8)
// bytes each), the wire form of a masked input.
std::string PackValues(absl::Span<const uint64_t> values, int bits);
// InvalidArgument unless `packed` holds exactly `count` values.
absl::StatusOr<std::vector<uint64_t>> UnpackValues(absl::string_view packed, int bits,
                                                   size_t count);

// OK if `packed` holds exactly `count` values of `bits` bits (no bit above
// them set); InvalidArgument otherwise.
absl::Status CheckPackedValues(absl::string_view packed, int bits, size_t count);
// sum[k] += value k of `packed` (already checked), without unpacking into a
// temporary vector. (The server's Finish sums packed inputs and masks in one
// blocked pass instead: crypto::MaskAccumulator.)
void AddPackedValues(absl::string_view packed, int bits, absl::Span<uint64_t> sum);

class RoundParams {
 public:
  // Validates `context`; InvalidArgument naming the field otherwise:
  // non-empty study_id; round, attempt >= 0; >= 2 participants, sorted,
  // unique, valid entity names; 1 <= bits <= 64; 1 <= vector_length <=
  // kMaxVectorLength; degree >= 1; 2 <= threshold <= neighbourhood size
  // (graph degree + 1, the site itself holding one share of its own
  // secrets); graph_seed of 16 to 64 bytes.
  static absl::StatusOr<std::shared_ptr<const RoundParams>> Create(
      const v1::SecAggContext& context);

  const v1::SecAggContext& context() const { return context_; }
  // SHA-256 (32 raw bytes) of the context's Transcript encoding.
  const std::string& digest() const { return digest_; }
  int size() const { return static_cast<int>(context_.participants_size()); }
  int threshold() const { return context_.threshold(); }
  int bits() const { return context_.bits(); }
  size_t vector_length() const { return static_cast<size_t>(context_.vector_length()); }
  // All ones in the low `bits` bits.
  uint64_t value_mask() const;
  const NeighbourGraph& graph() const { return graph_; }

  std::optional<int> IndexOf(absl::string_view site) const;
  const std::string& Name(int index) const { return context_.participants(index); }
  // Shamir evaluation point of a holder: its index plus one.
  static uint32_t ShareX(int index) { return static_cast<uint32_t>(index) + 1; }

  util::LogContext LogContextFor(absl::string_view site) const;

  // --- Bindings (docs/secure-aggregation.md, "Binding").
  // What a site signs in phase 0.
  std::string AdvertisementBytes(absl::string_view site, absl::string_view enc_public_key,
                                 absl::string_view mask_public_key) const;
  // AES-GCM associated data of the phase-1 ciphertext from sender to recipient.
  std::string ShareAssociatedData(absl::string_view sender, absl::string_view recipient) const;
  // AES-256 key for the shares exchanged between `a` and `b` (either order):
  // HKDF(X25519(own, peer), salt = digest, info = label || digest || names).
  absl::StatusOr<crypto::SecretData> DeriveShareKey(const crypto::X25519PrivateKey& own,
                                                    absl::string_view peer_public_key,
                                                    absl::string_view a,
                                                    absl::string_view b) const;
  // 16-byte PRG seed of the pairwise mask between `a` and `b` (either order).
  absl::StatusOr<crypto::SecretData> DerivePairwiseSeed(const crypto::X25519PrivateKey& own,
                                                        absl::string_view peer_public_key,
                                                        absl::string_view a,
                                                        absl::string_view b) const;

 private:
  RoundParams(v1::SecAggContext context, std::string digest, NeighbourGraph graph);

  v1::SecAggContext context_;
  std::string digest_;
  NeighbourGraph graph_;
  absl::flat_hash_map<std::string, int> index_;
};

// values += PRG(seed) (or -=), element-wise mod 2^bits.
absl::Status ApplyMask(const crypto::SecretData& seed, absl::Span<uint64_t> values, int bits,
                       bool subtract);

// Conversions between crypto::ShamirShare and its wire form.
v1::SecretShare ToProto(const crypto::ShamirShare& share);
crypto::ShamirShare FromProto(const v1::SecretShare& share);

// Checks a share received from the network: evaluation point `expected_x`,
// ShareLimbs(secret_size) values, each below the field prime. MALFORMED
// fault otherwise.
absl::Status CheckShare(const v1::SecretShare& share, uint32_t expected_x, size_t secret_size);

// Overwrites a std::string holding secret bytes (e.g. a serialized payload).
void WipeString(std::string& s);
// Overwrites the values of a Shamir share.
void WipeShare(crypto::ShamirShare& share);

}  // namespace cohort::secagg

#endif  // COHORT_CRYPTO_SECAGG_ROUND_PARAMS_H_
