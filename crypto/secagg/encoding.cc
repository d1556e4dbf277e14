#include "crypto/secagg/encoding.h"

#include <algorithm>
#include <cmath>

#include "absl/random/distributions.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace cohort::secagg {
namespace {

constexpr int kMinBits = 2;
constexpr int kMaxBits = 62;
// Relative error budget for double arithmetic per value (see encoding.h).
constexpr double kDoubleSlack = 0x1p-50;

absl::Status CheckCommon(const char* what, int bits, int max_summands) {
  if (bits < kMinBits || bits > kMaxBits) {
    return absl::InvalidArgumentError(absl::StrCat(what, ".bits must be in [", kMinBits, ", ",
                                                   kMaxBits, "], got ", bits));
  }
  if (max_summands < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ".max_summands must be >= 1, got ", max_summands));
  }
  return absl::OkStatus();
}

// B = 2^(bits-1) - 1: the largest magnitude a sum may reach.
int64_t MaxSignedMagnitude(int bits) { return (int64_t{1} << (bits - 1)) - 1; }

uint64_t ToRing(int64_t value, int bits) {
  return static_cast<uint64_t>(value) & ((uint64_t{1} << bits) - 1);
}

// Reads a ring element as a signed integer in [-2^(bits-1), 2^(bits-1)),
// checking it is a valid word and that |value| <= bound.
absl::StatusOr<std::vector<int64_t>> ToSigned(absl::Span<const uint64_t> words, int bits,
                                              int num_summands, int max_summands,
                                              int64_t per_summand_bound) {
  if (num_summands < 1 || num_summands > max_summands) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_summands must be in [1, ", max_summands, "], got ", num_summands));
  }
  const int64_t bound = per_summand_bound * num_summands;  // <= 2^(bits-1) - 1
  const uint64_t half = uint64_t{1} << (bits - 1);
  std::vector<int64_t> out(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    const uint64_t w = words[i];
    if ((w >> bits) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("aggregate word ", i, " = ", w, " is not below 2^", bits));
    }
    const int64_t v =
        w >= half ? static_cast<int64_t>(w) - (int64_t{1} << bits) : static_cast<int64_t>(w);
    if (v > bound || v < -bound) {
      return absl::InvalidArgumentError(absl::StrCat(
          "aggregate word ", i, " decodes to ", v, ", beyond the +-", bound, " that ",
          num_summands, " summands can reach (wrong masks or corrupted sum)"));
    }
    out[i] = v;
  }
  return out;
}

}  // namespace

absl::StatusOr<VectorEncoder> VectorEncoder::Create(const EncodingParams& params) {
  RETURN_IF_ERROR(CheckCommon("EncodingParams", params.bits, params.max_summands));
  if (!std::isfinite(params.clip) || params.clip <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("EncodingParams.clip must be positive and finite, got ", params.clip));
  }
  const int64_t q = MaxSignedMagnitude(params.bits) / params.max_summands;
  const double scale = static_cast<double>(q - 1) / params.clip;
  if (!(scale >= 1) || !std::isfinite(scale)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EncodingParams: scale (floor((2^", params.bits - 1, " - 1) / ", params.max_summands,
        ") - 1) / clip = ", scale, " must be a finite number >= 1; use more bits, fewer "
        "summands or a smaller clip"));
  }
  return VectorEncoder(params, q, scale);
}

absl::StatusOr<EncodedVector> VectorEncoder::Encode(absl::Span<const double> x,
                                                    absl::BitGenRef gen) const {
  EncodedVector out;
  out.values.resize(x.size());
  const double clip = params_.clip;
  for (size_t i = 0; i < x.size(); ++i) {
    double v = x[i];
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat("value ", i, " is not finite: ", v));
    }
    if (v > clip || v < -clip) {
      ++out.num_clipped;
      v = std::clamp(v, -clip, clip);
    }
    const double y = v * scale_;
    const double floor_y = std::floor(y);
    const double frac = y - floor_y;  // exact, in [0, 1)
    // Round up with probability frac, so E[q] = y (unbiased).
    const bool up = absl::Uniform<double>(gen, 0.0, 1.0) < frac;
    int64_t q = static_cast<int64_t>(floor_y) + (up ? 1 : 0);
    // Only reachable through double rounding when Q > 2^52; keeps the
    // no-wrap guarantee unconditional.
    q = std::clamp(q, -max_magnitude_, max_magnitude_);
    out.values[i] = ToRing(q, params_.bits);
  }
  return out;
}

absl::StatusOr<std::vector<double>> VectorEncoder::Decode(absl::Span<const uint64_t> sum,
                                                          int num_summands) const {
  ASSIGN_OR_RETURN(const std::vector<int64_t> ints,
                   ToSigned(sum, params_.bits, num_summands, params_.max_summands,
                            max_magnitude_));
  std::vector<double> out(ints.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(ints[i]) / scale_;
  return out;
}

double VectorEncoder::SumErrorBound(int num_summands) const {
  return num_summands * (1.0 / scale_ + params_.clip * kDoubleSlack);
}

absl::StatusOr<IntegerEncoder> IntegerEncoder::Create(const IntegerEncodingParams& params) {
  RETURN_IF_ERROR(CheckCommon("IntegerEncodingParams", params.bits, params.max_summands));
  if (params.max_value < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("IntegerEncodingParams.max_value must be >= 1, got ", params.max_value));
  }
  const int64_t limit = MaxSignedMagnitude(params.bits);
  if (params.max_value > limit / params.max_summands) {
    return absl::InvalidArgumentError(absl::StrCat(
        "IntegerEncodingParams: max_summands * max_value = ", params.max_summands, " * ",
        params.max_value, " exceeds 2^", params.bits - 1, " - 1 = ", limit,
        ", so the sum could wrap; use more bits"));
  }
  return IntegerEncoder(params);
}

absl::StatusOr<uint64_t> IntegerEncoder::EncodeCount(int64_t value) const {
  if (value > params_.max_value || value < -params_.max_value) {
    return absl::InvalidArgumentError(absl::StrCat("count ", value, " is outside [-",
                                                   params_.max_value, ", ", params_.max_value,
                                                   "]"));
  }
  return ToRing(value, params_.bits);
}

absl::StatusOr<std::vector<uint64_t>> IntegerEncoder::Encode(
    absl::Span<const int64_t> values) const {
  std::vector<uint64_t> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    auto word = EncodeCount(values[i]);
    if (!word.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("value ", i, ": ", word.status().message()));
    }
    out[i] = *word;
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> IntegerEncoder::Decode(absl::Span<const uint64_t> sum,
                                                            int num_summands) const {
  return ToSigned(sum, params_.bits, num_summands, params_.max_summands, params_.max_value);
}

}  // namespace cohort::secagg
