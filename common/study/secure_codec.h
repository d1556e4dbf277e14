// The layout of what a site contributes to a securely aggregated round, as
// one vector of integers mod 2^bits (docs/secure-aggregation.md#encoding).
//
// Everything the coordinator needs from a round travels inside the vector,
// so it learns only totals:
//   training:   [ n_k * delta_k (dim, fixed point) | train loss sum | test
//                 loss sum (fixed point) | n_k, test n, correct, tp, fp, tn,
//                 fn (integers) | positive histogram | negative histogram ]
//   statistics: [ sum (F) | sum of squares (F) (fixed point) | count (F),
//                 train rows, test rows (integers) ]
// Real values use secagg::VectorEncoder (clipped, stochastically rounded,
// unbiased); counts use secagg::IntegerEncoder (exact). Both are sized for
// `max_summands` sites so the sum never wraps.
//
// Immutable after Create; thread-safe.
#ifndef COHORT_COMMON_STUDY_SECURE_CODEC_H_
#define COHORT_COMMON_STUDY_SECURE_CODEC_H_

#include <cstdint>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/v1/tasks.pb.h"
#include "crypto/secagg/encoding.h"

namespace cohort::study {

// Statistics always use this many bits: sums of squares of raw clinical
// values need the room.
inline constexpr int kStatisticsBits = 62;
// Bound on |sum| and |sum of squares| of one site's feature values.
inline constexpr double kStatisticsClip = 1e12;

struct Encoded {
  std::vector<uint64_t> values;
  int64_t num_clipped = 0;
};

class TrainingCodec {
 public:
  // InvalidArgument for parameters the encoders cannot honour.
  static absl::StatusOr<TrainingCodec> Create(int model_size, int histogram_bins, int bits,
                                              double clip, int max_summands);
  int64_t length() const;
  int bits() const { return bits_; }

  absl::StatusOr<Encoded> Encode(const v1::RoundContribution& c, absl::BitGenRef gen) const;
  // The sum of `num_summands` contributions.
  absl::StatusOr<v1::RoundContribution> Decode(absl::Span<const uint64_t> sum,
                                               int num_summands) const;

 private:
  TrainingCodec(int model_size, int bins, int bits, secagg::VectorEncoder real,
                secagg::IntegerEncoder integer)
      : model_size_(model_size), bins_(bins), bits_(bits), real_(real), integer_(integer) {}
  int model_size_;
  int bins_;
  int bits_;
  secagg::VectorEncoder real_;
  secagg::IntegerEncoder integer_;
};

class StatisticsCodec {
 public:
  static absl::StatusOr<StatisticsCodec> Create(int features, int max_summands);
  int64_t length() const { return 3 * int64_t{features_} + 2; }
  int bits() const { return kStatisticsBits; }

  absl::StatusOr<Encoded> Encode(const v1::StatisticsResult& s, absl::BitGenRef gen) const;
  absl::StatusOr<v1::StatisticsResult> Decode(absl::Span<const uint64_t> sum,
                                              int num_summands) const;

 private:
  StatisticsCodec(int features, secagg::VectorEncoder real, secagg::IntegerEncoder integer)
      : features_(features), real_(real), integer_(integer) {}
  int features_;
  secagg::VectorEncoder real_;
  secagg::IntegerEncoder integer_;
};

}  // namespace cohort::study

#endif  // COHORT_COMMON_STUDY_SECURE_CODEC_H_
