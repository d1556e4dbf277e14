// Fixed-point encoding of model updates (and exact encoding of counts) into
// the ring Z_{2^bits} in which secure aggregation sums masked vectors.
//
// A site encodes its vector, masks it (crypto/prg.h), and the coordinator
// learns only the sum mod 2^bits of all encodings. Decoding that sum is
// correct only if the true sum never wrapped around the modulus, so each
// encoder is created for a fixed number of summands and sizes its scale to
// leave enough headroom.
//
// VectorEncoder (real values). With B = 2^(bits-1) - 1, m = max_summands and
// c = clip, let
//     Q = floor(B / m)          (largest |encoded value| allowed per summand)
//     s = (Q - 1) / c           (the scale; Create fails unless s >= 1).
// A value x is clipped to [-c, c], scaled to y = x * s (so |y| <= Q - 1), and
// stochastically rounded to q = floor(y) + Bernoulli(y - floor(y)), hence
// |q| <= Q - 1 in exact arithmetic; the one spare unit absorbs double
// rounding of x * s, and Encode enforces |q| <= Q. A sum of m encodings
// therefore has magnitude <= m * Q <= B and never leaves (-2^(bits-1),
// 2^(bits-1)): it decodes without wrapping.
//
// Error bound: E[q] = y (unbiased) and |q - y| < 1, so each decoded value is
// within 1/s of its clipped value, and the decoded sum of k values is within
// k/s of the true clipped sum, with zero mean error. Doubles add a relative
// error of about 2^-52 (only visible when bits > ~50); SumErrorBound() includes
// a term for it.
//
// IntegerEncoder (counts, histogram bins): values in [-max_value, max_value]
// are encoded exactly (scale 1) in two's complement; Create fails unless
// max_summands * max_value <= 2^(bits-1) - 1, so their sum decodes exactly.
//
// Thread-safety: both encoders are immutable after Create and may be shared
// across threads; the bit generator passed to Encode is not synchronised.
// Where this sits in the round: docs/protocol.md (ContributionEncoder).
#ifndef COHORT_CRYPTO_SECAGG_ENCODING_H_
#define COHORT_CRYPTO_SECAGG_ENCODING_H_

#include <cstdint>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace cohort::secagg {

struct EncodingParams {
  int bits = 32;          // ring Z_{2^bits}, 2 <= bits <= 62
  double clip = 0;        // values are clipped to [-clip, clip]; > 0, finite
  int max_summands = 0;   // most encodings ever summed together; >= 1
};

struct EncodedVector {
  std::vector<uint64_t> values;  // each < 2^bits
  int64_t num_clipped = 0;       // inputs with |x| > clip
};

class VectorEncoder {
 public:
  // InvalidArgument if bits is outside [2, 62], clip is not a positive finite
  // number, max_summands < 1, or the resulting scale s would be < 1.
  static absl::StatusOr<VectorEncoder> Create(const EncodingParams& params);

  // Clips, scales and stochastically rounds each value (randomness from
  // `gen`), and returns them mod 2^bits. InvalidArgument if a value is NaN or
  // infinite (names its index).
  absl::StatusOr<EncodedVector> Encode(absl::Span<const double> x, absl::BitGenRef gen) const;

  // Decodes a sum of `num_summands` encodings (1 <= num_summands <=
  // max_summands). InvalidArgument if num_summands is out of range, a word is
  // >= 2^bits, or a word's magnitude exceeds num_summands * Q (the sum cannot
  // have come from that many encodings: wrong masks or corruption).
  absl::StatusOr<std::vector<double>> Decode(absl::Span<const uint64_t> sum,
                                             int num_summands) const;

  // Largest |decoded sum - true clipped sum| for a sum of `num_summands`.
  double SumErrorBound(int num_summands) const;

  const EncodingParams& params() const { return params_; }
  double scale() const { return scale_; }
  // Q: the largest |encoded value| of one summand, as a signed integer.
  int64_t max_encoded_magnitude() const { return max_magnitude_; }

 private:
  VectorEncoder(const EncodingParams& params, int64_t max_magnitude, double scale)
      : params_(params), max_magnitude_(max_magnitude), scale_(scale) {}

  EncodingParams params_;
  int64_t max_magnitude_;
  double scale_;
};

struct IntegerEncodingParams {
  int bits = 32;           // 2 <= bits <= 62
  int64_t max_value = 0;   // values lie in [-max_value, max_value]; >= 1
  int max_summands = 0;    // >= 1
};

class IntegerEncoder {
 public:
  // InvalidArgument if bits is outside [2, 62], max_value < 1,
  // max_summands < 1, or max_summands * max_value > 2^(bits-1) - 1 (the sum
  // could wrap).
  static absl::StatusOr<IntegerEncoder> Create(const IntegerEncodingParams& params);

  // InvalidArgument if |value| > max_value.
  absl::StatusOr<uint64_t> EncodeCount(int64_t value) const;
  // InvalidArgument naming the first index with |value| > max_value.
  absl::StatusOr<std::vector<uint64_t>> Encode(absl::Span<const int64_t> values) const;

  // Exact inverse for a sum of `num_summands` encodings; InvalidArgument as
  // VectorEncoder::Decode (bound num_summands * max_value).
  absl::StatusOr<std::vector<int64_t>> Decode(absl::Span<const uint64_t> sum,
                                              int num_summands) const;

  const IntegerEncodingParams& params() const { return params_; }

 private:
  explicit IntegerEncoder(const IntegerEncodingParams& params) : params_(params) {}

  IntegerEncodingParams params_;
};

}  // namespace cohort::secagg

#endif  // COHORT_CRYPTO_SECAGG_ENCODING_H_
